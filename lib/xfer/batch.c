// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Batches of RDMA reads and writes: per-request state, slicing, striping
 * over a peer's NIC pairs, back-pressure, retries on another pair when one
 * fails, deadlines, and the same-process memcpy short cut.
 *
 * A request is cut into slices lazily, when a pair has room for one more
 * WR: requests wait in eng->pending in submission order, and slices whose
 * pair failed wait in eng->retry (they go first).  Everything here runs
 * under eng->lock except where a function says otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

/* ---- slices ---- */

static struct mcx_slice *slice_alloc(struct mcx_engine *eng)
{
	struct mcx_slice *s = eng->free_slices;

	if (s)
		eng->free_slices = s->next;
	else
		s = malloc(sizeof(*s));
	if (s)
		memset(s, 0, sizeof(*s));
	return s;
}

static void slice_free(struct mcx_engine *eng, struct mcx_slice *s)
{
	s->next = eng->free_slices;
	eng->free_slices = s;
}

static void retry_push(struct mcx_engine *eng, struct mcx_slice *s)
{
	s->next = NULL;
	if (eng->retry_tail)
		eng->retry_tail->next = s;
	else
		eng->retry_head = s;
	eng->retry_tail = s;
}

/* ---- request completion ---- */

static void req_finish(struct mcx_req *r, int status)
{
	struct mcx_batch *b = r->batch;

	if (r->status != -EINPROGRESS)
		return;
	r->status = status;
	b->done++;
	pthread_cond_broadcast(&b->eng->cond);
}

/* Fail r with err: no more slices are cut, queued re-posts are dropped. */
static void req_fail(struct mcx_req *r, int err)
{
	struct mcx_engine *eng = r->batch->eng;
	struct mcx_slice **pp = &eng->retry_head, *s;

	if (r->status != -EINPROGRESS)
		return;
	eng->retry_tail = NULL;
	while ((s = *pp)) {
		if (s->req == r) {
			*pp = s->next;
			r->inflight--;
			slice_free(eng, s);
			continue;
		}
		eng->retry_tail = s;
		pp = &s->next;
	}
	req_finish(r, err);
}

static void maybe_done(struct mcx_req *r)
{
	if (r->status == -EINPROGRESS && r->completed == r->len)
		req_finish(r, 0);
}

/* ---- pairs ---- */

void mcx__pair_fail_locked(struct mcx_pair *pair, int err)
{
	struct mcx_engine *eng = pair->peer->eng;

	if (pair->state == MCX_PAIR_FAILED)
		return;
	if (pair->state == MCX_PAIR_UP && pair->peer->state != MCX_PEER_DEAD &&
	    pair->peer->state != MCX_PEER_CLOSING)
		mcx__warn("peer %s: pair %s port %u -> remote NIC %u failed (%s); moving its work to other pairs",
			  pair->peer->addr, pair->lnic->name, pair->lnic->port, pair->rnic,
			  mcx_strerror(err));
	pair->state = MCX_PAIR_FAILED;
	pair->err = err;
	if (pair->nqp)
		eng->tp->pair_error(pair);
}

void mcx__pair_fail(struct mcx_pair *pair, int err)
{
	struct mcx_engine *eng = pair->peer->eng;

	pthread_mutex_lock(&eng->lock);
	mcx__pair_fail_locked(pair, err);
	mcx__post_pending(eng);
	pthread_mutex_unlock(&eng->lock);
}

int mcx__pair_create(struct mcx_pair *pair, struct mcx_ep_info *local)
{
	struct mcx_engine *eng = pair->peer->eng;
	int ret = eng->tp->pair_create(pair);

	if (ret)
		return ret;
	pthread_mutex_lock(&eng->lock);
	pair->state = MCX_PAIR_CREATED;
	pair->err = 0;
	pthread_mutex_unlock(&eng->lock);
	if (local)
		*local = pair->local;
	return 0;
}

int mcx__pair_connect(struct mcx_pair *pair, const struct mcx_ep_info *remote)
{
	struct mcx_engine *eng = pair->peer->eng;
	int ret;

	if (!remote || pair->state != MCX_PAIR_CREATED)
		return -EINVAL;
	ret = eng->tp->pair_connect(pair, remote);
	pthread_mutex_lock(&eng->lock);
	if (ret) {
		pair->state = MCX_PAIR_FAILED;
		pair->err = ret;
	} else {
		pair->state = MCX_PAIR_UP;
	}
	pthread_mutex_unlock(&eng->lock);
	return ret;
}

void mcx__pair_destroy(struct mcx_pair *pair)
{
	struct mcx_engine *eng = pair->peer->eng;

	if (pair->nqp)
		eng->tp->pair_destroy(pair);
	pair->state = MCX_PAIR_NEW;
}

/* ---- completions ---- */

void mcx__slice_done(struct mcx_slice *s, int status)
{
	struct mcx_req *r = s->req;
	struct mcx_pair *pair = s->pair;
	struct mcx_peer *peer = pair->peer;
	struct mcx_engine *eng = peer->eng;

	r->batch->inflight--;
	peer->inflight--;
	if (status == 0) {
		pair->bytes += s->len;
		pair->slices++;
		r->completed += s->len;
		r->inflight--;
		slice_free(eng, s);
		maybe_done(r);
		return;
	}
	/*
	 * Any error, a flush included, means the QP is in the error state:
	 * the pair can take nothing more.  (A flush may come first when the
	 * device moved the QP to error by itself, e.g. its link went down.)
	 */
	mcx__pair_fail_locked(pair, status == -ECANCELED ? -EIO : status);
	if (r->status != -EINPROGRESS) {
		/* Failed already (timeout, cancel, peer death): just let go. */
		r->inflight--;
		slice_free(eng, s);
		return;
	}
	if (status == -EFAULT) {
		/* The range or key is bad: every pair would refuse it. */
		r->inflight--;
		slice_free(eng, s);
		req_fail(r, -EFAULT);
		return;
	}
	/* The path failed: try the slice again elsewhere. */
	pair->retried++;
	s->pair = NULL;
	s->tries++;
	retry_push(eng, s);
}

/* ---- posting ---- */

/*
 * Pick a pair and QP of peer with room for one more slice.  Returns the pair
 * (and *qp), or NULL with *none_healthy set when no pair is UP at all.
 */
static struct mcx_pair *pick(struct mcx_peer *peer, uint32_t *qp, bool *none_healthy)
{
	const struct mcx_transport_ops *tp = peer->eng->tp;
	bool usable[MCX_MAX_PAIRS];
	uint32_t n = peer->nr_pairs < MCX_MAX_PAIRS ? peer->nr_pairs : MCX_MAX_PAIRS;
	bool healthy = false;
	int i;

	for (uint32_t k = 0; k < n; k++) {
		struct mcx_pair *p = &peer->pairs[k];

		usable[k] = false;
		if (p->state != MCX_PAIR_UP)
			continue;
		healthy = true;
		for (uint32_t q = 0; q < p->nqp; q++)
			usable[k] |= tp->can_post(p, q);
	}
	*none_healthy = !healthy || peer->state == MCX_PEER_DEAD;
	if (*none_healthy)
		return NULL;
	i = mcx__stripe_next(usable, n, &peer->next_pair);
	if (i < 0)
		return NULL;
	{
		struct mcx_pair *p = &peer->pairs[i];

		for (uint32_t k = 0; k < p->nqp; k++) {
			uint32_t q = (p->next_qp + k) % p->nqp;

			if (tp->can_post(p, q)) {
				p->next_qp = (q + 1) % p->nqp;
				*qp = q;
				return p;
			}
		}
	}
	return NULL;
}

/* Why nothing can be posted to peer: its death, else its pairs' failures. */
static int peer_error(const struct mcx_peer *peer)
{
	if (peer->err)
		return peer->err;
	if (peer->state == MCX_PEER_DEAD)
		return -ECONNRESET;
	for (uint32_t k = 0; k < peer->nr_pairs; k++)
		if (peer->pairs[k].err)
			return peer->pairs[k].err;
	return -ENETUNREACH;
}

/*
 * Post s on a pair of its request's peer.  1 posted, 0 no room now (s is
 * untouched), -errno when the request has failed (s freed).
 */
static int post_one(struct mcx_engine *eng, struct mcx_slice *s)
{
	struct mcx_req *r = s->req;
	struct mcx_peer *peer = r->peer;

	for (;;) {
		struct mcx_pair *pair;
		bool none;
		uint32_t qp = 0;
		int ret;

		pair = pick(peer, &qp, &none);
		if (!pair && !none)
			return 0;
		if (!pair || s->tries > peer->nr_pairs) {
			ret = none ? peer_error(peer) : -EIO;
			r->inflight--;
			slice_free(eng, s);
			req_fail(r, ret);
			return ret;
		}
		s->pair = pair;
		s->qp = qp;
		ret = eng->tp->post(s);
		if (ret == 0) {
			r->batch->inflight++;
			peer->inflight++;
			return 1;
		}
		if (ret == -EPROTO) {
			/* The peer's descriptor does not cover this pair's NIC. */
			s->pair = NULL;
			r->inflight--;
			slice_free(eng, s);
			mcx__err("peer %s: its registration has no key for its NIC %u",
				 peer->addr, pair->rnic);
			req_fail(r, -EPROTO);
			return -EPROTO;
		}
		s->pair = NULL;
		mcx__pair_fail_locked(pair, ret);
	}
}

static void pending_remove(struct mcx_engine *eng, struct mcx_req *prev, struct mcx_req *r)
{
	if (prev)
		prev->qnext = r->qnext;
	else
		eng->pending_head = r->qnext;
	if (eng->pending_tail == r)
		eng->pending_tail = prev;
	r->qnext = NULL;
	r->queued = false;
}

void mcx__post_pending(struct mcx_engine *eng)
{
	struct mcx_req *prev = NULL, *r;

	/* Re-posts first: they are the oldest work. */
	while (eng->retry_head) {
		struct mcx_slice *s = eng->retry_head;

		eng->retry_head = s->next;
		if (!eng->retry_head)
			eng->retry_tail = NULL;
		if (post_one(eng, s) == 0) {
			/* No room: put it back in front and stop. */
			s->next = eng->retry_head;
			eng->retry_head = s;
			if (!eng->retry_tail)
				eng->retry_tail = s;
			return;
		}
	}
	r = eng->pending_head;
	while (r) {
		struct mcx_req *next = r->qnext;

		while (r->status == -EINPROGRESS && r->sliced < r->len) {
			uint64_t la = r->laddr + r->sliced, ra = r->raddr + r->sliced;
			struct mcx_slice *s = slice_alloc(eng);
			int ret;

			if (!s) {
				req_fail(r, -ENOMEM);
				break;
			}
			s->req = r;
			s->off = r->sliced;
			s->len = mcx__slice_len(la, r->lmem->addr, r->lmem->chunk_size,
						ra, r->rdesc->addr, r->rdesc->chunk_size,
						r->len - r->sliced, eng->opts.slice_size);
			r->inflight++;
			ret = post_one(eng, s);
			if (ret == 0) {
				r->inflight--;
				slice_free(eng, s);
				break;
			}
			if (ret < 0)
				break;
			r->sliced += s->len;
		}
		if (r->status != -EINPROGRESS || r->sliced == r->len)
			pending_remove(eng, prev, r);
		else
			prev = r;
		r = next;
	}
}

/* ---- deadlines and peers ---- */

/*
 * Fail the requests of batches past their deadline.  Their slices still on
 * a pair are left to complete: an RC WR always does, successfully or once
 * its retries run out (a finite count, see verbs.c), and the batch is only
 * freed after that, since the NIC may touch the buffers until then.
 */
static void expire(struct mcx_engine *eng, uint64_t now)
{
	for (struct mcx_batch *b = eng->active; b; b = b->anext) {
		size_t n = 0, first = 0;

		if (b->done == b->n || now < b->deadline_ns)
			continue;
		for (size_t i = 0; i < b->n; i++) {
			struct mcx_req *r = &b->reqs[i];

			if (r->status != -EINPROGRESS)
				continue;
			if (!n++)
				first = i;
			req_fail(r, -ETIMEDOUT);
		}
		mcx__warn("%zu request(s) of a batch timed out after %u ms (the first: #%zu, %s of %llu bytes, peer %s)",
			  n, eng->opts.timeout_ms, first,
			  b->reqs[first].op == MCX_OP_READ ? "read" : "write",
			  (unsigned long long)b->reqs[first].len, b->reqs[first].peer->addr);
	}
}

void mcx__fail_peer_requests(struct mcx_peer *peer, int err)
{
	struct mcx_engine *eng = peer->eng;

	for (struct mcx_batch *b = eng->active; b; b = b->anext)
		for (size_t i = 0; i < b->n; i++)
			if (b->reqs[i].peer == peer)
				req_fail(&b->reqs[i], err);
}

void mcx__peer_fail(struct mcx_peer *peer, int err)
{
	struct mcx_engine *eng = peer->eng;

	if (err >= 0)
		err = -ECONNRESET;
	pthread_mutex_lock(&eng->lock);
	if (peer->state != MCX_PEER_DEAD) {
		if (peer->state == MCX_PEER_READY)
			mcx__warn("peer %s is gone: %s", peer->addr, mcx_strerror(err));
		peer->state = MCX_PEER_DEAD;
		peer->err = err;
		for (uint32_t k = 0; k < peer->nr_pairs; k++)
			mcx__pair_fail_locked(&peer->pairs[k], err);
		mcx__fail_peer_requests(peer, err);
	}
	pthread_mutex_unlock(&eng->lock);
}

void mcx__peer_set_ready(struct mcx_peer *peer)
{
	struct mcx_engine *eng = peer->eng;

	pthread_mutex_lock(&eng->lock);
	if (peer->state != MCX_PEER_DEAD && peer->state != MCX_PEER_CLOSING)
		peer->state = MCX_PEER_READY;
	mcx__post_pending(eng);
	pthread_mutex_unlock(&eng->lock);
}

int mcx__progress_locked(struct mcx_engine *eng)
{
	int total = 0, err = 0;

	for (uint32_t i = 0; i < eng->nr_nics; i++) {
		struct mcx_nic *nic = &eng->nics[i];
		int n;

		if (!nic->cq_outstanding)
			continue;
		n = eng->tp->poll(eng, nic, 256);
		/* A broken CQ must not stop the others nor the deadlines. */
		if (n < 0 && !err)
			err = n;
		else if (n > 0)
			total += n;
	}
	if (eng->active) {
		uint64_t now = mcx__now_ns();

		/* A syscall per device: every 10 ms is soon enough. */
		if (now - eng->events_ns > 10000000ULL) {
			eng->events_ns = now;
			mcx__devices_events_locked(eng);
		}
		expire(eng, now);
	}
	if (eng->pending_head || eng->retry_head)
		mcx__post_pending(eng);
	return total ? total : err;
}

/* Wait for something to happen: the poller's broadcast, or progress here. */
static void wait_a_bit(struct mcx_engine *eng, uint64_t until_ns)
{
	if (eng->poller_on) {
		struct timespec ts;
		uint64_t now = mcx__now_ns(), t = until_ns;

		/* Never sleep long: the deadline check must run. */
		if (t > now + 2000000)
			t = now + 2000000;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)((t - now) / 1000000000ULL);
		ts.tv_nsec += (long)((t - now) % 1000000000ULL);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&eng->cond, &eng->lock, &ts);
		return;
	}
	pthread_mutex_unlock(&eng->lock);
	sched_yield();
	pthread_mutex_lock(&eng->lock);
}

/* ---- the public batch API ---- */

MCX_EXPORT int mcx_batch_create(struct mcx_engine *eng, size_t capacity, struct mcx_batch **out)
{
	struct mcx_batch *b;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!eng || capacity == 0 || capacity > (1U << 24))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->reqs = calloc(capacity, sizeof(*b->reqs));
	if (!b->reqs) {
		free(b);
		return -ENOMEM;
	}
	b->eng = eng;
	b->cap = capacity;
	*out = b;
	return 0;
}

static void active_remove(struct mcx_engine *eng, struct mcx_batch *b)
{
	if (b->aprev)
		b->aprev->anext = b->anext;
	else if (eng->active == b)
		eng->active = b->anext;
	if (b->anext)
		b->anext->aprev = b->aprev;
	b->anext = b->aprev = NULL;
}

/* Release the references of a finished round (no lock needed: all final). */
static void batch_release(struct mcx_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct mcx_req *r = &b->reqs[i];

		if (r->lmem)
			mcx__mem_put(r->lmem);
		mcx__rdesc_put(r->rdesc);
		r->lmem = NULL;
		r->rdesc = NULL;
	}
}

/* Wait (progressing when there is no poller) until no slice of b is posted. */
static void drain_locked(struct mcx_batch *b)
{
	struct mcx_engine *eng = b->eng;

	while (b->inflight) {
		if (!eng->poller_on)
			mcx__progress_locked(eng);
		if (b->inflight)
			wait_a_bit(eng, mcx__now_ns() + 1000000);
	}
}

static void batch_retire(struct mcx_batch *b)
{
	struct mcx_engine *eng = b->eng;

	pthread_mutex_lock(&eng->lock);
	for (size_t i = 0; i < b->n; i++)
		req_fail(&b->reqs[i], -ECANCELED);
	drain_locked(b);
	/* Drop queue links: failed requests may still sit in eng->pending. */
	{
		struct mcx_req *prev = NULL, *r = eng->pending_head;

		while (r) {
			struct mcx_req *next = r->qnext;

			if (r->batch == b)
				pending_remove(eng, prev, r);
			else
				prev = r;
			r = next;
		}
	}
	active_remove(eng, b);
	pthread_mutex_unlock(&eng->lock);
	batch_release(b);
	b->n = 0;
	b->done = 0;
	b->submitted = false;
}

MCX_EXPORT int mcx_batch_add(struct mcx_batch *b, enum mcx_op op, struct mcx_peer *peer,
			     void *local, uint64_t remote, size_t len, uint64_t cookie)
{
	struct mcx_req *r;

	if (!b || !peer || !local || len == 0 || (op != MCX_OP_READ && op != MCX_OP_WRITE) ||
	    peer->eng != b->eng || (uintptr_t)local + len < (uintptr_t)local ||
	    remote + len < remote)
		return -EINVAL;
	if (b->submitted) {
		bool finished;

		/*
		 * Every request has its status: start a new round (retiring
		 * waits for WRs the NICs still hold, e.g. after a timeout).
		 */
		pthread_mutex_lock(&b->eng->lock);
		finished = b->done == b->n;
		pthread_mutex_unlock(&b->eng->lock);
		if (!finished)
			return -EBUSY;
		batch_retire(b);
	}
	if (b->n == b->cap)
		return -ENOSPC;
	r = &b->reqs[b->n++];
	memset(r, 0, sizeof(*r));
	r->batch = b;
	r->op = op;
	r->peer = peer;
	r->laddr = (uintptr_t)local;
	r->raddr = remote;
	r->len = len;
	r->cookie = cookie;
	r->status = -EINPROGRESS;
	return 0;
}

/* Same process: the remote address is ours; copy (range checked already). */
static void do_memcpy(struct mcx_req *r)
{
	void *l = (void *)(uintptr_t)r->laddr, *rem = (void *)(uintptr_t)r->raddr;

	if (r->op == MCX_OP_READ)
		memmove(l, rem, r->len);
	else
		memmove(rem, l, r->len);
	r->completed = r->len;
}

MCX_EXPORT int mcx_batch_submit(struct mcx_batch *b)
{
	struct mcx_peer *ready = NULL;
	struct mcx_engine *eng;
	size_t i;

	if (!b)
		return -EINVAL;
	eng = b->eng;
	if (mcx__engine_check_owner(eng))
		return -EOWNERDEAD;
	if (b->submitted)
		return -EBUSY;
	if (b->n == 0)
		return -EINVAL;
	b->submitted = true;
	b->done = 0;
	b->inflight = 0;
	b->deadline_ns = mcx__now_ns() + (uint64_t)eng->opts.timeout_ms * 1000000ULL;
	pthread_mutex_lock(&eng->lock);
	b->aprev = NULL;
	b->anext = eng->active;
	if (eng->active)
		eng->active->aprev = b;
	else
		mcx__engine_wake(eng);	/* it may be sleeping long */
	eng->active = b;
	pthread_mutex_unlock(&eng->lock);

	/* Blocking part, without the data-path lock: lookups, connection. */
	for (i = 0; i < b->n; i++) {
		struct mcx_req *r = &b->reqs[i];
		int err = 0;

		r->lmem = mcx__regcache_find(&eng->cache, r->laddr, r->len);
		if (!r->lmem) {
			mcx__err("local buffer %p+%llu is not inside a registration of this engine",
				 (void *)(uintptr_t)r->laddr, (unsigned long long)r->len);
			err = -ENOKEY;
		}
		if (!err && r->peer != ready) {
			/* Connect lazily; a ready peer needs no handshake call. */
			pthread_mutex_lock(&eng->lock);
			if (r->peer->state == MCX_PEER_READY)
				err = 0;
			else if (r->peer->state == MCX_PEER_DEAD)
				err = r->peer->err ? r->peer->err : -ECONNRESET;
			else
				err = 1;
			pthread_mutex_unlock(&eng->lock);
			if (err == 1)
				err = mcx__peer_connect(r->peer);
			if (!err)
				ready = r->peer;
		}
		if (!err)
			err = mcx__peer_resolve(r->peer, r->raddr, r->len, &r->rdesc);
		if (!err && r->peer->same_process && eng->opts.loopback_memcpy)
			do_memcpy(r);
		pthread_mutex_lock(&eng->lock);
		if (err)
			req_finish(r, err);
		else if (r->completed == r->len)
			req_finish(r, 0);
		pthread_mutex_unlock(&eng->lock);
	}

	pthread_mutex_lock(&eng->lock);
	for (i = 0; i < b->n; i++) {
		struct mcx_req *r = &b->reqs[i];

		if (r->status != -EINPROGRESS)
			continue;
		r->qnext = NULL;
		r->queued = true;
		if (eng->pending_tail)
			eng->pending_tail->qnext = r;
		else
			eng->pending_head = r;
		eng->pending_tail = r;
	}
	mcx__post_pending(eng);
	pthread_mutex_unlock(&eng->lock);
	return 0;
}

static int batch_result(const struct mcx_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->reqs[i].status)
			return b->reqs[i].status;
	return 0;
}

MCX_EXPORT int mcx_batch_wait(struct mcx_batch *b, int timeout_ms)
{
	struct mcx_engine *eng;
	uint64_t until;
	int ret;

	if (!b || timeout_ms < -1)
		return -EINVAL;
	if (!b->submitted)
		return b->n ? -EINVAL : 0;
	eng = b->eng;
	until = timeout_ms < 0 ? UINT64_MAX :
		mcx__now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	pthread_mutex_lock(&eng->lock);
	for (;;) {
		mcx__progress_locked(eng);
		if (b->done == b->n) {
			ret = batch_result(b);
			break;
		}
		if (mcx__now_ns() >= until) {
			ret = -ETIMEDOUT;
			break;
		}
		wait_a_bit(eng, until);
	}
	pthread_mutex_unlock(&eng->lock);
	return ret;
}

MCX_EXPORT int mcx_batch_status(struct mcx_batch *b, struct mcx_status *st, size_t n)
{
	size_t k;

	if (!b || (!st && n))
		return -EINVAL;
	pthread_mutex_lock(&b->eng->lock);
	for (k = 0; k < n && k < b->n; k++) {
		st[k].cookie = b->reqs[k].cookie;
		st[k].status = b->submitted ? b->reqs[k].status : -EINPROGRESS;
		st[k].op = b->reqs[k].op;
		st[k].len = b->reqs[k].len;
	}
	pthread_mutex_unlock(&b->eng->lock);
	return (int)k;
}

MCX_EXPORT void mcx_batch_free(struct mcx_batch *b)
{
	if (!b)
		return;
	if (b->submitted)
		batch_retire(b);
	free(b->reqs);
	free(b);
}
