// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Per-peer queues: requests are cut into slices lazily, when a path of
 * their peer has room for one more operation; slices whose path failed
 * wait in the peer's retry queue and go first.  Everything here runs under
 * the peer's dlock, except where a function says otherwise.
 *
 * A completion comes from the transport's progress (mcx__xfer_done): it
 * takes the dlock of the slice's peer, settles the slice and posts more
 * for that peer only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xfer/xfer.h"

static struct mcx_xq *xq_of(struct mcx_xfer *x, struct mcx_peer *peer)
{
	if (!peer->xq) {
		peer->xq = calloc(1, sizeof(*peer->xq));
		if (peer->xq) {
			peer->xq->x = x;
			peer->xq->peer = peer;
		}
	}
	return peer->xq;
}

static struct mcx_slice *slice_alloc(struct mcx_xq *q)
{
	struct mcx_slice *s = q->free_slices;

	if (s)
		q->free_slices = s->next;
	else
		s = malloc(sizeof(*s));
	if (s)
		memset(s, 0, sizeof(*s));
	return s;
}

static void slice_free(struct mcx_xq *q, struct mcx_slice *s)
{
	s->next = q->free_slices;
	q->free_slices = s;
}

static void retry_push(struct mcx_xq *q, struct mcx_slice *s)
{
	s->next = NULL;
	if (q->retry_tail)
		q->retry_tail->next = s;
	else
		q->retry_head = s;
	q->retry_tail = s;
}

void mcx__xfer_signal(struct mcx_xfer *x)
{
	pthread_mutex_lock(&x->done_lock);
	x->done_gen++;
	pthread_cond_broadcast(&x->done_cond);
	pthread_mutex_unlock(&x->done_lock);
}

/* r is final: count it, and queue its batch's callback if that was the last. */
static void req_finish(struct mcx_req *r, int status)
{
	struct mcx_batch *b = r->batch;
	struct mcx_xfer *x = b->x;

	if (r->status != -EINPROGRESS)
		return;
	r->status = status;
	if (atomic_fetch_add(&b->done, 1) + 1 == b->n && b->cb &&
	    !atomic_exchange(&b->cb_queued, true)) {
		pthread_mutex_lock(&x->cb_lock);
		b->cbnext = NULL;
		if (x->cb_tail)
			x->cb_tail->cbnext = b;
		else
			x->cb_head = b;
		x->cb_tail = b;
		pthread_mutex_unlock(&x->cb_lock);
		if (x->wake)
			x->wake(x->core_arg);
	}
	mcx__xfer_signal(x);
}

static void pending_remove(struct mcx_xq *q, struct mcx_req *r)
{
	struct mcx_req *prev = NULL;

	for (struct mcx_req *p = q->pending_head; p; prev = p, p = p->qnext) {
		if (p != r)
			continue;
		if (prev)
			prev->qnext = r->qnext;
		else
			q->pending_head = r->qnext;
		if (q->pending_tail == r)
			q->pending_tail = prev;
		break;
	}
	r->qnext = NULL;
	r->queued = false;
}

/* When r has nothing in flight any more, its failure is final. */
static void maybe_finish(struct mcx_req *r)
{
	if (r->status != -EINPROGRESS || r->inflight)
		return;
	if (r->failing)
		req_finish(r, r->failing);
	else if (r->completed == r->len && (!r->has_tag || r->tag_sent))
		req_finish(r, 0);
}

void mcx__req_settle_locked(struct mcx_req *r)
{
	maybe_finish(r);
}

void mcx__req_fail_locked(struct mcx_req *r, int err)
{
	struct mcx_xq *q = r->peer->xq;
	struct mcx_slice **pp, *s;

	if (r->status != -EINPROGRESS || r->failing)
		return;
	r->failing = err;
	if (q) {
		/* Slices waiting for fresh descriptors go too. */
		for (pp = &q->refetch; (s = *pp);) {
			if (s->req == r) {
				*pp = s->next;
				r->inflight--;
				slice_free(q, s);
				continue;
			}
			pp = &s->next;
		}
		/* Queued re-posts of it go; posted ones come back by themselves. */
		q->retry_tail = NULL;
		for (pp = &q->retry_head; (s = *pp);) {
			if (s->req == r) {
				*pp = s->next;
				r->inflight--;
				slice_free(q, s);
				continue;
			}
			q->retry_tail = s;
			pp = &s->next;
		}
		if (r->queued)
			pending_remove(q, r);
	}
	maybe_finish(r);
}

/* The transport op of slice s on path p. */
static int make_op(struct mcx_slice *s, struct mcx_path *p, struct mcx_tp_op *op)
{
	struct mcx_req *r = s->req;
	uint64_t la = r->laddr + s->off, ra = r->raddr + s->off;
	uint32_t lchunk = mcx__mem_chunk_of(r->lmem, la);
	uint32_t rchunk = mcx__rdesc_chunk_of(r->rdesc, ra);

	if (!mcx__rdesc_on(r->rdesc, p->rdev) || p->ldev >= r->lmem->nr_nics)
		return -EPROTO;
	memset(op, 0, sizeof(*op));
	if (s->len == 0) {
		/* The notification: a bare write with immediate after the data. */
		op->opcode = MCX_TP_WRITE_IMM;
		op->imm = r->tag;
	} else {
		op->opcode = r->op == MCX_OP_READ ? MCX_TP_READ : MCX_TP_WRITE;
	}
	/* Its MRs may have been registered at another address than the one
	 * this process names the memory by (another process's mapping). */
	op->laddr = mcx__mem_iova_of(r->lmem, la);
	op->ldesc = mcx__mem_mr(r->lmem, lchunk, p->ldev)->desc;
	op->len = s->len;
	op->raddr = ra - r->rdesc->addr + r->rdesc->iova;
	/* A device that names remote memory by offset: into the chunk's MR. */
	if (!(p->rcaps & MCX_TP_CAP_VIRT_ADDR))
		op->raddr = ra - (r->rdesc->addr + (uint64_t)rchunk * r->rdesc->chunk_size);
	op->rkey = mcx__rdesc_key(r->rdesc, rchunk, p->rdev);
	op->ctx = s;
	s->rdesc = r->rdesc;	/* to tell a stale key from a bad range later */
	return 0;
}

/*
 * The paths (bit per path) r cannot use: those whose local NIC holds no MR
 * of its local memory, or whose remote NIC holds none of the remote
 * memory.  Memory may be registered on some NICs only (GPU memory, on
 * those nearest its GPU, and on others added when a request needed them),
 * and its slices stripe over the paths between
 * NICs that hold both sides.  *err when no path is left: -ENETUNREACH when
 * no path leaves from a NIC holding the local memory, -EHOSTUNREACH when
 * none of those reaches a NIC of the peer that holds the remote memory.
 */
static uint32_t unusable_from(const struct mcx_peer *peer, const struct mcx_req *r,
			      uint32_t lnics, int *err)
{
	bool local = false, both = false;
	uint32_t mask = 0;

	for (uint32_t i = 0; i < peer->nr_paths && i < 32; i++) {
		const struct mcx_path *p = &peer->paths[i];
		bool l = p->ldev < 32 && (lnics & (1U << p->ldev));
		bool rm = mcx__rdesc_on(r->rdesc, p->rdev);

		local |= l;
		both |= l && rm;
		if (!l || !rm)
			mask |= 1U << i;
	}
	*err = both ? 0 : local ? -EHOSTUNREACH : -ENETUNREACH;
	return mask;
}

/*
 * GPU memory's NICs added lazily (for some other peer, or this one) only
 * carry its requests where its nearest NICs reach none of the peer's: the
 * nearest ones are the fast ones.
 */
static uint32_t unusable_paths(const struct mcx_peer *peer, const struct mcx_req *r, int *err)
{
	struct mcx_mem *m = r->lmem;
	uint32_t mask = unusable_from(peer, r, m->nics, err);
	/* Acquire: a NIC added lazily has its slots filled (make_op reads them). */
	uint32_t lazy = (uint32_t)atomic_load_explicit(&m->lazy_nics, memory_order_acquire);

	if (*err && (lazy & ~m->nics))
		mask = unusable_from(peer, r, m->nics | lazy, err);
	return mask;
}

/*
 * Post s on a path of its request's peer.  1 posted, 0 no room now (s is
 * untouched), -errno when the request has failed (s freed).
 */
static int post_one(struct mcx_xq *q, struct mcx_peer *peer, struct mcx_slice *s,
		    uint32_t *full)
{
	const struct mcx_transport_ops *ops = q->x->devs->ops;
	struct mcx_req *r = s->req;
	uint32_t no_mr;
	int unreach;

	no_mr = unusable_paths(peer, r, &unreach);
	/* The notification goes only where both ends take remote CQ data. */
	if (!unreach && s->len == 0) {
		uint32_t all = mcx__peer_paths_mask(peer);

		no_mr |= mcx__peer_no_notify_mask(peer);
		if ((no_mr & all) == all)
			unreach = -EOPNOTSUPP;
	}
	if (unreach == -EOPNOTSUPP) {
		mcx__err("peer %s: no path to it carries notifications", peer->addr);
		r->inflight--;
		slice_free(q, s);
		mcx__req_fail_locked(r, unreach);
		return unreach;
	}
	if (unreach) {
		if (unreach == -ENETUNREACH)
			mcx__err("peer %s: no path leaves from a NIC its local memory 0x%llx is registered on (GPU memory: MCX_GPU_NICS=all registers it on every NIC)",
				 peer->addr, (unsigned long long)r->laddr);
		else
			mcx__err("peer %s: its memory 0x%llx is registered on none of its NICs that a path from this memory's NICs reaches (GPU memory: MCX_GPU_NICS=all there registers it on every NIC)",
				 peer->addr, (unsigned long long)r->raddr);
		r->inflight--;
		slice_free(q, s);
		mcx__req_fail_locked(r, unreach);
		return unreach;
	}
	for (;;) {
		struct mcx_tp_op op;
		struct mcx_path *p;
		int why = 0, ret;

		p = mcx__peer_pick_locked(peer, s->skip | *full | no_mr, &why);
		if (!p && !why)
			return 0;
		if (!p || s->tries > peer->nr_paths + 1) {
			ret = why ? why : -EIO;
			r->inflight--;
			slice_free(q, s);
			mcx__req_fail_locked(r, ret);
			return ret;
		}
		/*
		 * A named registration's MRs are destroyed when its entry dies
		 * (mcx__mem_kill, under kill_lock for writing): hold it from
		 * reading the MR until the transport has taken it.
		 */
		if (r->lmem->named)
			pthread_rwlock_rdlock(&r->lmem->ms->kill_lock);
		ret = mcx__mem_usable(r->lmem);
		if (ret) {
			if (r->lmem->named)
				pthread_rwlock_unlock(&r->lmem->ms->kill_lock);
			r->inflight--;
			slice_free(q, s);
			mcx__req_fail_locked(r, ret);
			return ret;
		}
		ret = make_op(s, p, &op);
		if (ret) {
			if (r->lmem->named)
				pthread_rwlock_unlock(&r->lmem->ms->kill_lock);
			mcx__err("peer %s: its registration has no key for its device %u",
				 peer->addr, p->rdev);
			r->inflight--;
			slice_free(q, s);
			mcx__req_fail_locked(r, ret);
			return ret;
		}
		s->path = p;
		ret = ops->post(p->tp, &op, 1);
		if (r->lmem->named)
			pthread_rwlock_unlock(&r->lmem->ms->kill_lock);
		if (ret == 1) {
			q->inflight++;
			return 1;
		}
		s->path = NULL;
		if (ret == -EAGAIN) {
			/* This path is full for now: try the others. */
			uint32_t i = (uint32_t)(p - peer->paths);

			if (i >= 32)
				return 0;
			*full |= 1U << i;
			continue;
		}
		mcx__path_fail_locked(p, ret);
	}
}

/* Post what can be posted for peer: re-posts first, then pending requests. */
static void post_peer_locked(struct mcx_xq *q, struct mcx_peer *peer)
{
	struct mcx_req *r;
	uint32_t full = 0;

	while (q->retry_head) {
		struct mcx_slice *s = q->retry_head;

		q->retry_head = s->next;
		if (!q->retry_head)
			q->retry_tail = NULL;
		if (post_one(q, peer, s, &full) == 0) {
			/* No room: put it back in front and stop. */
			s->next = q->retry_head;
			q->retry_head = s;
			if (!q->retry_tail)
				q->retry_tail = s;
			return;
		}
	}
	r = q->pending_head;
	while (r) {
		struct mcx_req *next = r->qnext;
		bool stop = false;

		while (r->status == -EINPROGRESS && !r->failing && r->sliced < r->len) {
			uint64_t la = r->laddr + r->sliced, ra = r->raddr + r->sliced;
			struct mcx_slice *s = slice_alloc(q);
			int ret;

			if (!s) {
				mcx__req_fail_locked(r, -ENOMEM);
				break;
			}
			s->req = r;
			s->off = r->sliced;
			s->len = mcx__slice_len(la, r->lmem->addr, r->lmem->chunk_size,
						ra, r->rdesc->addr, r->rdesc->chunk_size,
						r->len - r->sliced, q->x->slice_size);
			r->inflight++;
			ret = post_one(q, peer, s, &full);
			if (ret == 0) {
				r->inflight--;
				slice_free(q, s);
				stop = true;
				break;
			}
			if (ret < 0)
				break;
			r->sliced += s->len;
		}
		if (r->status != -EINPROGRESS || r->failing || r->sliced == r->len)
			pending_remove(q, r);
		if (stop)
			return;
		r = next;
	}
}

void mcx__xq_submit(struct mcx_req *r)
{
	struct mcx_peer *peer = r->peer;
	struct mcx_xfer *x = r->batch->x;
	struct mcx_xq *q;

	pthread_mutex_lock(&peer->dlock);
	q = xq_of(x, peer);
	if (!q) {
		req_finish(r, -ENOMEM);
	} else if (peer->state == MCX_PEER_DEAD || peer->state == MCX_PEER_CLOSING) {
		req_finish(r, peer->err ? peer->err : -ECONNRESET);
	} else {
		r->qnext = NULL;
		r->queued = true;
		if (q->pending_tail)
			q->pending_tail->qnext = r;
		else
			q->pending_head = r;
		q->pending_tail = r;
		post_peer_locked(q, peer);
	}
	pthread_mutex_unlock(&peer->dlock);
}

/* A data slice of r completed: send the notification if it is due. */
static void after_data(struct mcx_xq *q, struct mcx_peer *peer, struct mcx_req *r)
{
	struct mcx_slice *s;
	uint32_t full = 0;

	if (!r->has_tag || r->tag_sent || r->failing || r->inflight ||
	    r->completed != r->len)
		return;
	/* Every byte landed: the tag follows it, so it is seen after it. */
	s = slice_alloc(q);
	if (!s) {
		mcx__req_fail_locked(r, -ENOMEM);
		return;
	}
	s->req = r;
	s->off = r->len - 1;	/* inside the range: any key of it will do */
	s->len = 0;
	r->inflight++;
	r->tag_sent = true;
	if (post_one(q, peer, s, &full) == 0)
		retry_push(q, s);
}

void mcx__xfer_done(void *arg, void *op_ctx, int status)
{
	struct mcx_slice *s = op_ctx;
	struct mcx_req *r = s->req;
	struct mcx_peer *peer = r->peer;
	struct mcx_path *path = s->path;
	struct mcx_xq *q;

	(void)arg;
	pthread_mutex_lock(&peer->dlock);
	q = peer->xq;
	q->inflight--;
	if (status == 0) {
		if (s->len) {
			path->bytes += s->len;
			r->completed += s->len;
		}
		path->ops++;
		r->inflight--;
		slice_free(q, s);
		after_data(q, peer, r);
		maybe_finish(r);
		post_peer_locked(q, peer);
		pthread_mutex_unlock(&peer->dlock);
		return;
	}
	/*
	 * Any error, a flush included, means the path's connection is in the
	 * error state: it takes nothing more until it is rebuilt.  (A flush
	 * may come first when the device stopped the path by itself.)
	 */
	mcx__path_fail_locked(path, status == -ECANCELED ? -EIO : status);
	if (r->status != -EINPROGRESS || r->failing) {
		/* Failed already (timeout, cancel, peer death): just let go. */
		r->inflight--;
		slice_free(q, s);
		maybe_finish(r);
	} else if (status == -EFAULT && s->rdesc != r->rdesc) {
		/* Posted with a key that has been replaced since: again. */
		s->path = NULL;
		retry_push(q, s);
	} else if (status == -EFAULT && !r->refetched && s->len) {
		/*
		 * The peer refused the key: it may have registered the
		 * memory again since we fetched its descriptors.  Ask it
		 * once (off this thread: it is a round trip) and post the
		 * slice again with what it says; a second refusal fails the
		 * request.
		 */
		r->refetched = true;
		s->path = NULL;
		s->next = q->refetch;
		q->refetch = s;
		if (!q->refetch_queued) {
			q->refetch_queued = true;
			mcx__refetch_queue(q->x, q);
		}
	} else if (status == -EFAULT) {
		/* The range or key is bad: every path would refuse it. */
		r->inflight--;
		slice_free(q, s);
		mcx__req_fail_locked(r, -EFAULT);
	} else {
		/* The path failed: try the slice again elsewhere. */
		uint32_t i = (uint32_t)(path - peer->paths);

		path->retried++;
		s->path = NULL;
		s->tries++;
		if (i < 32)
			s->skip |= 1U << i;
		/* A path rebuilt since is new again: do not hold it against it. */
		if (s->tries > peer->nr_paths)
			s->skip = 0;
		retry_push(q, s);
	}
	post_peer_locked(q, peer);
	pthread_mutex_unlock(&peer->dlock);
}

struct mcx_peer *mcx__xq_peer(struct mcx_xq *q)
{
	return q->peer;
}

void mcx__xq_refetched(struct mcx_xq *q, int err)
{
	struct mcx_peer *peer = q->peer;
	struct mcx_slice *s, *next;

	pthread_mutex_lock(&peer->dlock);
	s = q->refetch;
	q->refetch = NULL;
	q->refetch_queued = false;
	for (; s; s = next) {
		struct mcx_req *r = s->req;
		struct mcx_rdesc *d;

		next = s->next;
		d = err || r->status != -EINPROGRESS || r->failing ? NULL :
		    mcx__peer_find_desc(peer, r->raddr, r->len);
		if (!d) {
			r->inflight--;
			slice_free(q, s);
			mcx__req_fail_locked(r, r->failing ? r->failing : -EFAULT);
			continue;
		}
		mcx__rdesc_put(r->rdesc);
		r->rdesc = d;
		retry_push(q, s);
	}
	post_peer_locked(q, peer);
	pthread_mutex_unlock(&peer->dlock);
}

/* A transport path closed with s never reaped: the NIC let go of it. */
static void hook_unreaped(void *arg, void *ctx)
{
	mcx__xfer_done(arg, ctx, -ECANCELED);
}

static void hook_peer_dead(void *arg, struct mcx_peer *peer, int err)
{
	struct mcx_xfer *x = arg;

	/* Every request of the peer in an active batch fails. */
	pthread_mutex_lock(&x->active_lock);
	for (struct mcx_batch *b = x->active; b; b = b->anext) {
		for (size_t i = 0; i < b->n; i++) {
			struct mcx_req *r = &b->reqs[i];

			if (r->peer != peer)
				continue;
			pthread_mutex_lock(&peer->dlock);
			mcx__req_fail_locked(r, err);
			pthread_mutex_unlock(&peer->dlock);
		}
	}
	pthread_mutex_unlock(&x->active_lock);
}

static void hook_paths_up(void *arg, struct mcx_peer *peer)
{
	(void)arg;
	pthread_mutex_lock(&peer->dlock);
	if (peer->xq)
		post_peer_locked(peer->xq, peer);
	pthread_mutex_unlock(&peer->dlock);
}

/*
 * The refetch thread fetches descriptors on the peer's connection: it must
 * be done with it before the connection is freed.  Nothing queues a new
 * refetch for the peer after this (it is out of the engine's list, so no
 * completion of it is reaped any more).
 */
static void hook_conn_closing(void *arg, struct mcx_peer *peer)
{
	if (peer->xq)
		mcx__refetch_forget(arg, peer->xq);
}

static void hook_peer_gone(void *arg, struct mcx_peer *peer)
{
	struct mcx_xfer *x = arg;
	struct mcx_xq *q = peer->xq;

	/*
	 * Every request of the peer is final by now (peer_dead failed them,
	 * its paths handed their work back), but batches not retired yet
	 * still name it: forget it there, so that no batch call locks the
	 * freed peer's dlock (batch.c skips requests without a peer).
	 */
	pthread_mutex_lock(&x->active_lock);
	for (struct mcx_batch *b = x->active; b; b = b->anext)
		for (size_t i = 0; i < b->n; i++)
			if (b->reqs[i].peer == peer)
				b->reqs[i].peer = NULL;
	pthread_mutex_unlock(&x->active_lock);
	if (!q)
		return;
	while (q->retry_head) {
		struct mcx_slice *s = q->retry_head;

		q->retry_head = s->next;
		free(s);
	}
	while (q->refetch) {
		struct mcx_slice *s = q->refetch;

		q->refetch = s->next;
		free(s);
	}
	while (q->free_slices) {
		struct mcx_slice *s = q->free_slices;

		q->free_slices = s->next;
		free(s);
	}
	free(q);
	peer->xq = NULL;
}

static void hook_progress(void *arg)
{
	struct mcx_xfer *x = arg;

	if (x->progress)
		x->progress(x->core_arg);
}

const struct mcx_peer_hooks mcx__xfer_peer_hooks = {
	.peer_dead = hook_peer_dead,
	.conn_closing = hook_conn_closing,
	.paths_up = hook_paths_up,
	.unreaped = hook_unreaped,
	.peer_gone = hook_peer_gone,
	.progress = hook_progress,
};
