// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Batches: the public calls, deadlines, waiting, completion callbacks and
 * the same-process copy.  Posting and completions are post.c's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "xfer/xfer.h"

int mcx__xfer_init(struct mcx_xfer *x)
{
	pthread_condattr_t ca;
	int ret;

	pthread_mutex_init(&x->active_lock, NULL);
	pthread_mutex_init(&x->done_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->done_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&x->cb_lock, NULL);
	mcx__refetch_init(x);
	ret = mcx__notify_init(x, 4096);
	if (ret) {
		mcx__refetch_fini(x);
		pthread_mutex_destroy(&x->active_lock);
		pthread_mutex_destroy(&x->done_lock);
		pthread_cond_destroy(&x->done_cond);
		pthread_mutex_destroy(&x->cb_lock);
	}
	return ret;
}

void mcx__xfer_fini(struct mcx_xfer *x)
{
	if (x->active)
		mcx__warn("engine destroyed with batches not freed");
	mcx__refetch_fini(x);
	mcx__notify_fini(x);
	pthread_mutex_destroy(&x->active_lock);
	pthread_mutex_destroy(&x->done_lock);
	pthread_cond_destroy(&x->done_cond);
	pthread_mutex_destroy(&x->cb_lock);
}

/* ---- deadlines ---- */

/*
 * r has failed but some of its work is posted: stop the peer's paths that
 * carry work, so that it is flushed (or, if the device does not flush it,
 * handed back when the path is closed after the flush deadline) instead
 * of waited for (r's peer's dlock held).
 */
static void stop_posted_locked(struct mcx_req *r, int err)
{
	struct mcx_peer *peer = r->peer;
	const struct mcx_transport_ops *ops = r->batch->x->devs->ops;

	if (!r->inflight)
		return;
	for (uint32_t k = 0; k < peer->nr_paths; k++) {
		struct mcx_path *p = &peer->paths[k];

		if (p->state == MCX_PATH_UP && p->tp && ops->path_inflight(p->tp))
			mcx__path_fail_locked(p, err);
	}
}

/*
 * Fail the requests of b that are past their deadline.  Their queued work
 * goes at once; their posted work is on paths that are stopped here, so it
 * flushes (or the path is destroyed after the flush deadline), and only
 * then is the status final: the NIC no longer touches the buffer.
 */
static void expire_batch(struct mcx_batch *b)
{
	size_t n = 0, first = 0;

	for (size_t i = 0; i < b->n; i++) {
		struct mcx_req *r = &b->reqs[i];
		struct mcx_peer *peer = r->peer;

		if (!peer)
			continue;	/* closed: its requests are final */
		pthread_mutex_lock(&peer->dlock);
		/*
		 * Once per request: a request failing already (say -EFAULT)
		 * may still have work on a wedged path, and its status must
		 * become final by the flush deadline all the same.
		 */
		if (r->status == -EINPROGRESS && !r->expired) {
			r->expired = true;
			if (!r->failing) {
				if (!n++)
					first = i;
				mcx__req_fail_locked(r, -ETIMEDOUT);
			}
			stop_posted_locked(r, -ETIMEDOUT);
		}
		pthread_mutex_unlock(&peer->dlock);
	}
	if (n)
		mcx__warn("%zu request(s) of a batch timed out after %u ms (the first: #%zu, %s of %llu bytes, peer %s)",
			  n, b->x->timeout_ms, first,
			  b->reqs[first].op == MCX_OP_READ ? "read" : "write",
			  (unsigned long long)b->reqs[first].len, b->reqs[first].peer->addr);
}

static void run_callbacks(struct mcx_xfer *x)
{
	for (;;) {
		struct mcx_batch *b;
		int result = 0;

		pthread_mutex_lock(&x->cb_lock);
		b = x->cb_head;
		if (b) {
			x->cb_head = b->cbnext;
			if (!x->cb_head)
				x->cb_tail = NULL;
		}
		pthread_mutex_unlock(&x->cb_lock);
		if (!b)
			return;
		for (size_t i = 0; i < b->n && !result; i++)
			result = b->reqs[i].status;
		atomic_store(&b->cb_queued, false);
		/* No lock held: the callback may add to and submit b again. */
		b->cb(b, result, b->cb_arg);
	}
}

bool mcx__xfer_tick(struct mcx_xfer *x)
{
	uint64_t now = mcx__now_ns();
	bool live;

	pthread_mutex_lock(&x->active_lock);
	for (struct mcx_batch *b = x->active; b; b = b->anext)
		if (atomic_load(&b->done) < b->n && now >= b->deadline_ns)
			expire_batch(b);
	live = x->active != NULL;
	pthread_mutex_unlock(&x->active_lock);
	run_callbacks(x);
	return live;
}

/* ---- waiting ---- */

/* Wait a little for a completion: the poller's signal, or progress here. */
static void wait_a_bit(struct mcx_xfer *x, uint64_t gen, uint64_t until_ns)
{
	if (x->poller_on) {
		struct timespec ts;
		uint64_t now = mcx__now_ns(), t = until_ns;

		/* Never sleep long: deadlines are the poller's, but be safe. */
		if (t > now + 2000000)
			t = now + 2000000;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)((t - now) / 1000000000ULL);
		ts.tv_nsec += (long)((t - now) % 1000000000ULL);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&x->done_lock);
		if (x->done_gen == gen)
			pthread_cond_timedwait(&x->done_cond, &x->done_lock, &ts);
		pthread_mutex_unlock(&x->done_lock);
		return;
	}
	if (x->progress)
		x->progress(x->core_arg);
	sched_yield();
}

static uint64_t done_gen(struct mcx_xfer *x)
{
	uint64_t g;

	pthread_mutex_lock(&x->done_lock);
	g = x->done_gen;
	pthread_mutex_unlock(&x->done_lock);
	return g;
}

/* ---- the public batch API ---- */

int mcx__batch_create(struct mcx_xfer *x, size_t capacity, struct mcx_batch **out)
{
	struct mcx_batch *b;

	*out = NULL;
	if (capacity == 0 || capacity > (1U << 24))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->reqs = calloc(capacity, sizeof(*b->reqs));
	if (!b->reqs) {
		free(b);
		return -ENOMEM;
	}
	b->x = x;
	b->cap = capacity;
	*out = b;
	return 0;
}

static void active_remove(struct mcx_xfer *x, struct mcx_batch *b)
{
	pthread_mutex_lock(&x->active_lock);
	if (b->active) {
		if (b->aprev)
			b->aprev->anext = b->anext;
		else
			x->active = b->anext;
		if (b->anext)
			b->anext->aprev = b->aprev;
		b->anext = b->aprev = NULL;
		b->active = false;
	}
	pthread_mutex_unlock(&x->active_lock);
}

/* Release the references of a finished round (every status final). */
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

/* Cancel what is left of b's round, wait until every status is final. */
static void batch_retire(struct mcx_batch *b)
{
	struct mcx_xfer *x = b->x;

	/* active_lock: a peer closed meanwhile is forgotten, not freed under us. */
	pthread_mutex_lock(&x->active_lock);
	for (size_t i = 0; i < b->n; i++) {
		struct mcx_req *r = &b->reqs[i];

		if (!r->peer)
			continue;	/* closed: final */
		pthread_mutex_lock(&r->peer->dlock);
		mcx__req_fail_locked(r, -ECANCELED);
		/*
		 * Its posted work must come back without the NIC's help: the
		 * deadline passes over a request that is failing already.
		 */
		stop_posted_locked(r, -ECANCELED);
		pthread_mutex_unlock(&r->peer->dlock);
	}
	pthread_mutex_unlock(&x->active_lock);
	/* Posted work comes back (flushed, or at the flush deadline). */
	while (atomic_load(&b->done) < b->n) {
		uint64_t gen = done_gen(x);

		if (atomic_load(&b->done) < b->n)
			wait_a_bit(x, gen, mcx__now_ns() + 1000000);
		if (!x->poller_on)
			mcx__xfer_tick(x);
	}
	active_remove(x, b);
	/* A callback may still be queued for it: it must not run any more. */
	pthread_mutex_lock(&x->cb_lock);
	for (struct mcx_batch **pp = &x->cb_head; *pp; pp = &(*pp)->cbnext) {
		if (*pp == b) {
			*pp = b->cbnext;
			x->cb_tail = NULL;
			for (struct mcx_batch *t = x->cb_head; t; t = t->cbnext)
				x->cb_tail = t;
			break;
		}
	}
	pthread_mutex_unlock(&x->cb_lock);
	atomic_store(&b->cb_queued, false);
	batch_release(b);
	b->n = 0;
	atomic_store(&b->done, 0);
	b->submitted = false;
}

static int batch_add(struct mcx_batch *b, enum mcx_op op, struct mcx_peer *peer,
		     void *local, uint64_t remote, size_t len, uint64_t cookie,
		     bool has_tag, uint32_t tag)
{
	struct mcx_req *r;

	if (!b || !peer || !local || len == 0 || (op != MCX_OP_READ && op != MCX_OP_WRITE) ||
	    (has_tag && op != MCX_OP_WRITE) || peer->env != b->x->peers ||
	    (uintptr_t)local + len < (uintptr_t)local || remote + len < remote)
		return -EINVAL;
	if (b->submitted) {
		/*
		 * Every request has its status: start a new round (retiring
		 * waits for work the NICs still hold, e.g. after a timeout).
		 */
		if (atomic_load(&b->done) != b->n)
			return -EBUSY;
		batch_retire(b);
	}
	if (b->n == b->cap)
		return -ENOSPC;
	/* A notification no path can carry fails now, not after its data. */
	if (has_tag) {
		int ret = mcx__peer_can_notify(peer);

		if (ret)
			return ret;
	}
	r = &b->reqs[b->n++];
	memset(r, 0, sizeof(*r));
	r->batch = b;
	r->op = op;
	r->peer = peer;
	r->laddr = (uintptr_t)local;
	r->raddr = remote;
	r->len = len;
	r->cookie = cookie;
	r->has_tag = has_tag;
	r->tag = tag;
	r->status = -EINPROGRESS;
	return 0;
}

MCX_EXPORT int mcx_batch_add(struct mcx_batch *b, enum mcx_op op, struct mcx_peer *peer,
			     void *local, uint64_t remote, size_t len, uint64_t cookie)
{
	return batch_add(b, op, peer, local, remote, len, cookie, false, 0);
}

MCX_EXPORT int mcx_batch_add_notify(struct mcx_batch *b, struct mcx_peer *peer, void *local,
				    uint64_t remote, size_t len, uint64_t cookie, uint32_t tag)
{
	return batch_add(b, MCX_OP_WRITE, peer, local, remote, len, cookie, true, tag);
}

MCX_EXPORT int mcx_batch_set_callback(struct mcx_batch *b,
				      void (*fn)(struct mcx_batch *b, int result, void *arg),
				      void *arg)
{
	if (!b)
		return -EINVAL;
	if (b->submitted && atomic_load(&b->done) != b->n)
		return -EBUSY;
	b->cb = fn;
	b->cb_arg = arg;
	return 0;
}

/* The local end of r: a host or GPU registration of ours, never a dma-buf iova. */
static int local_copy(struct mcx_req *r)
{
	if (r->lmem->kind != MCX_MEM_HOST && r->lmem->kind != MCX_MEM_CUDA_DEV)
		return -EOPNOTSUPP;
	return mcx__local_copy_mem(r->peer->local, r->op == MCX_OP_READ, r->lmem,
			       (void *)(uintptr_t)r->laddr, r->raddr, r->len);
}

/* r failed before it was queued. */
static void early_fail(struct mcx_req *r, int err)
{
	struct mcx_peer *peer = r->peer;

	pthread_mutex_lock(&peer->dlock);
	mcx__req_fail_locked(r, err);
	pthread_mutex_unlock(&peer->dlock);
}

/* r was done before it was queued (a same-process copy). */
static void early_done(struct mcx_req *r)
{
	struct mcx_peer *peer = r->peer;

	pthread_mutex_lock(&peer->dlock);
	r->completed = r->len;
	r->tag_sent = r->has_tag;
	mcx__req_settle_locked(r);
	pthread_mutex_unlock(&peer->dlock);
}

/*
 * The local NICs (bit per device) with a path of peer to a NIC holding
 * the remote memory d.  A path's ends are set when the peer connects and
 * never change, but nr_paths is read under dlock.
 */
static uint32_t reach_of(struct mcx_peer *peer, const struct mcx_rdesc *d)
{
	uint32_t reach = 0;

	pthread_mutex_lock(&peer->dlock);
	for (uint32_t i = 0; i < peer->nr_paths; i++) {
		const struct mcx_path *p = &peer->paths[i];

		if (p->ldev < 32 && mcx__rdesc_on(d, p->rdev))
			reach |= 1U << p->ldev;
	}
	pthread_mutex_unlock(&peer->dlock);
	return reach;
}

MCX_EXPORT int mcx_batch_submit(struct mcx_batch *b)
{
	struct mcx_xfer *x;
	struct mcx_peer *ready = NULL;

	if (!b)
		return -EINVAL;
	x = b->x;
	/* An engine inherited by a fork child is not usable there (core/owner.c). */
	if (x->owner_pid && x->owner_pid != mcx__pid())
		return -EOWNERDEAD;
	if (b->submitted)
		return -EBUSY;
	if (b->n == 0)
		return -EINVAL;
	b->submitted = true;
	atomic_store(&b->done, 0);
	b->deadline_ns = mcx__now_ns() + (uint64_t)x->timeout_ms * 1000000ULL;
	pthread_mutex_lock(&x->active_lock);
	b->aprev = NULL;
	b->anext = x->active;
	if (x->active)
		x->active->aprev = b;
	x->active = b;
	b->active = true;
	pthread_mutex_unlock(&x->active_lock);
	if (x->wake)
		x->wake(x->core_arg);	/* its deadline needs watching */

	/* Blocking part, without any data-path lock: lookups, connection. */
	for (size_t i = 0; i < b->n; i++) {
		struct mcx_req *r = &b->reqs[i];
		int err = 0;

		r->lmem = mcx__mem_find(x->mem, r->laddr, r->len);
		if (!r->lmem) {
			mcx__err("local buffer %p+%llu is not inside a registration of this engine",
				 (void *)(uintptr_t)r->laddr, (unsigned long long)r->len);
			err = -ENOKEY;
		} else if ((err = mcx__mem_usable(r->lmem))) {
			mcx__err("local buffer %p+%llu: its named registration is dead (revoked, expired or its device went)",
				 (void *)(uintptr_t)r->laddr, (unsigned long long)r->len);
		}
		if (!err && r->peer != ready) {
			err = mcx__peer_connect(r->peer);
			if (!err)
				ready = r->peer;
		}
		/* Connected only now: whether its paths carry notifications. */
		if (!err && r->has_tag)
			err = mcx__peer_can_notify(r->peer);
		if (!err)
			err = mcx__peer_resolve(r->peer, r->raddr, r->len, false, &r->rdesc);
		if (!err && r->peer->local) {
			err = local_copy(r);
			if (!err) {
				/* The tag goes to the other engine, after the data. */
				if (r->has_tag)
					mcx__local_notify(r->peer->local, r->tag);
				early_done(r);
				continue;
			}
		}
		/* MRs that only serve peers register for our posts on first use. */
		if (!err && !r->peer->local)
			err = mcx__mem_local_ready(r->lmem);
		/* So does GPU memory on NICs other than its GPU's nearest ones. */
		if (!err && !r->peer->local && r->lmem->kind == MCX_MEM_CUDA_DEV)
			err = mcx__mem_cuda_widen(r->lmem, reach_of(r->peer, r->rdesc),
						  r->peer->addr);
		if (err) {
			early_fail(r, err);
			continue;
		}
		mcx__xq_submit(r);
	}
	return 0;
}

static int batch_result(const struct mcx_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->reqs[i].status)
			return b->reqs[i].status;
	return 0;
}

MCX_EXPORT int mcx_batch_wait_any(struct mcx_batch *const *v, size_t n, int timeout_ms)
{
	struct mcx_xfer *x;
	uint64_t until;

	if (!v || n == 0 || timeout_ms < -1 || !v[0])
		return -EINVAL;
	x = v[0]->x;
	for (size_t i = 0; i < n; i++)
		if (!v[i] || v[i]->x != x || !v[i]->submitted)
			return -EINVAL;
	until = timeout_ms < 0 ? UINT64_MAX :
		mcx__now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	for (;;) {
		uint64_t gen = done_gen(x);

		if (!x->poller_on)
			mcx__xfer_tick(x);
		for (size_t i = 0; i < n; i++)
			if (atomic_load(&v[i]->done) == v[i]->n)
				return (int)i;
		if (mcx__now_ns() >= until)
			return -ETIMEDOUT;
		wait_a_bit(x, gen, until);
	}
}

MCX_EXPORT int mcx_batch_wait(struct mcx_batch *b, int timeout_ms)
{
	int ret;

	if (!b || timeout_ms < -1)
		return -EINVAL;
	if (!b->submitted)
		return b->n ? -EINVAL : 0;
	ret = mcx_batch_wait_any(&b, 1, timeout_ms);
	return ret < 0 ? ret : batch_result(b);
}

MCX_EXPORT int mcx_batch_status(struct mcx_batch *b, struct mcx_status *st, size_t n)
{
	size_t k;

	if (!b || (!st && n))
		return -EINVAL;
	/* active_lock: a peer closed meanwhile is forgotten, not freed under us. */
	if (b->active)
		pthread_mutex_lock(&b->x->active_lock);
	for (k = 0; k < n && k < b->n; k++) {
		struct mcx_req *r = &b->reqs[k];
		struct mcx_peer *peer = r->peer;

		if (peer)
			pthread_mutex_lock(&peer->dlock);
		st[k].cookie = r->cookie;
		st[k].status = b->submitted ? r->status : -EINPROGRESS;
		st[k].op = r->op;
		st[k].len = r->len;
		if (peer)
			pthread_mutex_unlock(&peer->dlock);
	}
	if (b->active)
		pthread_mutex_unlock(&b->x->active_lock);
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
