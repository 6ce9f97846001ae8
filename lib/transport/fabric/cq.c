// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The data path of the RDM transport: posting reads and writes through the
 * device's one endpoint, reaping its completion queue, and its wait fd.
 *
 * Every operation takes a slot of its device first, so the endpoint never
 * holds more than tx_attr->size operations and the CQ (sized for all of
 * them) never overruns.  -FI_EAGAIN from the provider is "full, try again"
 * (its own queues, or a manual-progress provider that wants its CQ read):
 * the caller hears -EAGAIN and keeps the work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "transport/fabric/fabric.h"

#define CQ_BATCH	32

int mcx__fab_slots_init(struct mcx_fdom *d, uint32_t nslots)
{
	d->slots = calloc(nslots, sizeof(*d->slots));
	if (!d->slots)
		return -ENOMEM;
	d->nslots = nslots;
	for (uint32_t i = 0; i < nslots; i++)
		d->slots[i].next_free = i + 1 < nslots ? i + 1 : UINT32_MAX;
	d->free_head = 0;
	d->defer_head = d->defer_tail = UINT32_MAX;
	return 0;
}

/* A free slot, or NULL (d->lock held). */
static struct mcx_fslot *slot_get(struct mcx_fdom *d)
{
	struct mcx_fslot *s;

	if (d->free_head == UINT32_MAX)
		return NULL;
	s = &d->slots[d->free_head];
	d->free_head = s->next_free;
	s->used = true;
	return s;
}

static void slot_put(struct mcx_fdom *d, struct mcx_fslot *s)
{
	s->used = false;
	s->deferred = false;
	s->probe = false;
	s->owed = false;
	s->ctx = NULL;
	s->path = NULL;
	s->next_free = d->free_head;
	d->free_head = (uint32_t)(s - d->slots);
}

/* Post one op (d->lock held): 0, or -FI_errno from the provider, or -EINVAL. */
static int post_one(struct mcx_fpath *p, const struct mcx_tp_op *op, struct mcx_fslot *s)
{
	struct mcx_fdom *d = p->dom;
	const struct mcx_fmr *lm = op->ldesc;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)op->laddr, .iov_len = op->len };
	struct fi_rma_iov rma = { .addr = op->raddr, .len = op->len, .key = op->rkey };
	void *desc = lm ? lm->fdesc : NULL;
	struct fi_msg_rma msg = {
		.msg_iov = &iov,
		.desc = &desc,
		.iov_count = 1,
		.addr = p->av->fi_addr,
		.rma_iov = &rma,
		.rma_iov_count = 1,
		.context = &s->fctx,
	};

	switch (op->opcode) {
	case MCX_TP_READ:
		return (int)d->calls->readmsg(d->ep, &msg, FI_COMPLETION);
	case MCX_TP_WRITE:
		return (int)d->calls->writemsg(d->ep, &msg, FI_COMPLETION | FI_DELIVERY_COMPLETE);
	case MCX_TP_WRITE_IMM:
		/*
		 * The notification: the target's CQ gets the data with the
		 * path's token, so it knows whom it came from.  A bare one
		 * (the engine's, after the data completed) moves no bytes.
		 */
		if (!d->cq_data || !p->rtoken)
			return -EOPNOTSUPP;
		msg.data = mcx__fab_notify_data(p->rtoken, op->imm);
		/*
		 * No FI_DELIVERY_COMPLETE: shm (libfabric 1.17) never
		 * completes a write with remote CQ data that asks for it.
		 * The engine's notifications carry no bytes and follow data
		 * that completed (delivered) already, so nothing is lost.
		 */
		return (int)d->calls->writemsg(d->ep, &msg, FI_COMPLETION | FI_REMOTE_CQ_DATA);
	default:
		return -EOPNOTSUPP;
	}
}

static void defer_push(struct mcx_fdom *d, struct mcx_fslot *s)
{
	uint32_t i = (uint32_t)(s - d->slots);

	s->deferred = true;
	s->next_free = UINT32_MAX;
	if (d->defer_tail == UINT32_MAX)
		d->defer_head = i;
	else
		d->slots[d->defer_tail].next_free = i;
	d->defer_tail = i;
}

static int post_errno(struct mcx_fdom *d, int ret)
{
	if (ret == -EOPNOTSUPP || ret == -EINVAL)
		return ret;
	mcx__dbg("%s: posting: %s", d->name, fi_strerror(-ret));
	return mcx__fab_errno(ret) == -EFAULT ? -EINVAL : -EIO;
}

int mcx__fab_post(struct mcx_tp_path *path, const struct mcx_tp_op *ops, uint32_t n)
{
	struct mcx_fpath *p = (struct mcx_fpath *)path;
	struct mcx_fdom *d = p->dom;
	uint32_t done = 0;
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	/*
	 * Under the lock: a stop that comes later finds these slots in the
	 * flush it asks progress for (which takes the lock too).
	 */
	if (atomic_load(&p->stopped)) {
		pthread_mutex_unlock(&d->lock);
		return -ENOTCONN;
	}
	for (; done < n; done++) {
		const struct mcx_tp_op *op = &ops[done];
		struct mcx_fslot *s;

		if (op->opcode == MCX_TP_WRITE_IMM && (!d->cq_data || !p->rtoken)) {
			/* No remote CQ data on this path: say so, never lose it. */
			ret = -EOPNOTSUPP;
			break;
		}
		if ((!op->len && op->opcode != MCX_TP_WRITE_IMM) || !op->ldesc ||
		    op->len > d->info->ep_attr->max_msg_size) {
			ret = -EINVAL;
			break;
		}
		if (op->opcode != MCX_TP_READ && op->opcode != MCX_TP_WRITE &&
		    op->opcode != MCX_TP_WRITE_IMM) {
			ret = -EOPNOTSUPP;
			break;
		}
		s = slot_get(d);
		if (!s) {
			ret = -EAGAIN;
			break;
		}
		s->path = p;
		s->ctx = op->ctx;
		s->owed = true;
		s->op = *op;
		/* Behind deferred work: posts leave the endpoint in order. */
		ret = d->defer_head == UINT32_MAX ? post_one(p, op, s) : -FI_EAGAIN;
		if (ret == -FI_EAGAIN) {
			d->eagain++;
			defer_push(d, s);
			ret = 0;
		} else if (ret) {
			slot_put(d, s);
			ret = post_errno(d, ret);
			break;
		}
		atomic_fetch_add(&p->inflight, 1);
		atomic_fetch_add(&p->owed, 1);
		atomic_fetch_add(&d->inflight, 1);
	}
	pthread_mutex_unlock(&d->lock);
	if (done)
		return (int)done;
	return ret ? ret : -EAGAIN;
}

int mcx__fab_probe_post(struct mcx_fpath *p)
{
	struct mcx_fdom *d = p->dom;
	struct mcx_fslot *s = slot_get(d);
	int ret;

	if (!s)
		return -EAGAIN;
	memset(&s->op, 0, sizeof(s->op));
	/* 8 bytes of the peer's probe region into the second half of ours. */
	s->op.opcode = MCX_TP_READ;
	s->op.laddr = (uint64_t)(uintptr_t)(d->probe_buf + 1);
	s->op.ldesc = d->probe_mr;
	s->op.len = sizeof(uint64_t);
	s->op.raddr = p->rprobe_addr;
	s->op.rkey = p->rprobe_key;
	s->path = p;
	s->ctx = NULL;
	s->probe = true;
	s->owed = true;
	atomic_store(&p->warm, MCX_FAB_WARM_PROBING);
	ret = d->defer_head == UINT32_MAX ? post_one(p, &s->op, s) : -FI_EAGAIN;
	if (ret == -FI_EAGAIN) {
		/* The provider connects first (rxm): progress posts it again. */
		d->eagain++;
		defer_push(d, s);
		ret = 0;
	} else if (ret) {
		slot_put(d, s);
		atomic_store(&p->warm, MCX_FAB_WARM_COLD);
		return post_errno(d, ret);
	}
	atomic_fetch_add(&p->inflight, 1);
	atomic_fetch_add(&p->owed, 1);
	atomic_fetch_add(&d->inflight, 1);
	return 0;
}

/* Finish slot s with status st: the caller's context, or NULL (d->lock held). */
static void *slot_finish(struct mcx_fdom *d, struct mcx_fslot *s, int st)
{
	struct mcx_fpath *p = s->path;
	void *ctx = s->ctx;

	/* A probe's status is its path's warm-up state; nobody else's. */
	if (s->probe)
		atomic_store(&p->warm, st ? st : MCX_FAB_WARM_DONE);
	if (s->owed)
		atomic_fetch_sub(&p->owed, 1);
	slot_put(d, s);
	atomic_fetch_sub(&d->inflight, 1);
	mcx__fab_path_slot_done(p);
	return ctx;
}

static struct mcx_fslot *slot_of(struct mcx_fdom *d, void *op_context)
{
	struct mcx_fslot *s = op_context;

	/* Only what we posted: anything else (a provider's own) is not ours. */
	if (!s || s < d->slots || s >= d->slots + d->nslots || !s->used)
		return NULL;
	return s;
}

/*
 * Post deferred work again, oldest first, until the provider says again
 * (d->lock held, after a CQ read drove the provider).  Work of a stopped
 * path never reached the provider: it completes here, flushed, into
 * ctxs/st (room for max).  Returns how many were completed so.
 */
static int flush_deferred(struct mcx_fdom *d, void **ctxs, int *st, int max)
{
	int got = 0;

	while (d->defer_head != UINT32_MAX && got < max) {
		struct mcx_fslot *s = &d->slots[d->defer_head];
		int ret = 0;

		if (atomic_load(&s->path->stopped))
			ret = -ECANCELED;
		else
			ret = post_one(s->path, &s->op, s);
		if (ret == -FI_EAGAIN) {
			d->eagain++;
			break;
		}
		d->defer_head = s->next_free;
		if (d->defer_head == UINT32_MAX)
			d->defer_tail = UINT32_MAX;
		s->deferred = false;
		if (ret) {
			st[got] = ret == -ECANCELED ? ret : mcx__fab_errno(ret);
			ctxs[got] = slot_finish(d, s, st[got]);
			got++;
		}
	}
	return got;
}

/*
 * Hand back, with -ECANCELED, every context that slots of stopped paths
 * still owe (d->lock held; room for max in ctxs/st).  The slots stay
 * held: the provider may still own their fi_context2, and whatever it
 * reports for them later finds no context and is dropped.  Deferred
 * work is flush_deferred's (it never reached the provider).
 */
static int flush_failed(struct mcx_fdom *d, void **ctxs, int *st, int max)
{
	int got = 0;

	if (!atomic_exchange(&d->flush_due, false))
		return 0;
	for (uint32_t i = 0; i < d->nslots; i++) {
		struct mcx_fslot *s = &d->slots[i];
		struct mcx_fpath *p = s->path;

		if (!s->used || s->deferred || !p || !atomic_load(&p->stopped))
			continue;
		if (s->probe && atomic_load(&p->warm) == MCX_FAB_WARM_PROBING)
			atomic_store(&p->warm, -ENOTCONN);
		if (!s->owed)
			continue;
		if (s->ctx) {
			if (got == max) {
				/* The rest on the next pass. */
				atomic_store(&d->flush_due, true);
				break;
			}
			ctxs[got] = s->ctx;
			st[got] = -ECANCELED;
			got++;
			d->flushed++;
		}
		s->ctx = NULL;
		s->owed = false;
		atomic_fetch_sub(&p->owed, 1);
	}
	return got;
}

/*
 * Whether an error completion says the connection to the operation's
 * peer is gone (and with it whatever else is in flight to that address),
 * rather than something wrong with the one request.
 */
static bool fails_connection(int st)
{
	return st && st != -EFAULT && st != -ECANCELED;
}

/*
 * A completion the peer's write with remote CQ data made here (d->lock
 * held).  Everything in it is the network's: the token must name an open
 * path of this device, else the notification is dropped and counted.
 * notify runs under d->lock, so the path cannot be closed under it (and
 * it must not post: the engine's only queues the tag).
 */
static void remote_data(struct mcx_fdom *d, const struct fi_cq_data_entry *e,
			mcx_tp_notify_fn notify, void *arg)
{
	uint32_t token = (uint32_t)(e->data >> 32), tag = (uint32_t)e->data;
	struct mcx_fpath *p = NULL;

	if (d->cq_data && (e->flags & FI_REMOTE_WRITE))
		p = mcx__fab_path_by_token(d, token);
	if (!p || atomic_load(&p->stopped)) {
		d->notify_dropped++;
		mcx__dbg("%s: a notification (tag %u) from an unknown source (token %u) dropped",
			 d->name, tag, token);
		return;
	}
	d->notify_delivered++;
	if (notify)
		notify(arg, p->owner, tag);
}

int mcx__fab_progress(struct mcx_tp_dev *dev, int max, mcx_tp_done_fn done,
		      mcx_tp_notify_fn notify, mcx_tp_event_fn event, void *arg)
{
	struct mcx_fdom *d = (struct mcx_fdom *)dev;
	struct fi_cq_data_entry ent[CQ_BATCH];
	void *ctxs[CQ_BATCH];
	int st[CQ_BATCH];
	int total = 0;

	(void)event;
	/* A manual-progress provider moves data only inside fi_cq_read: always read. */
	while (total < max) {
		int want = max - total < CQ_BATCH ? max - total : CQ_BATCH, got = 0;
		ssize_t n;

		pthread_mutex_lock(&d->lock);
		n = d->calls->cq_read(d->cq, ent, (size_t)want);
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++) {
				struct mcx_fslot *s;

				/* The target side of a peer's notification. */
				if (ent[i].flags & FI_REMOTE_CQ_DATA) {
					remote_data(d, &ent[i], notify, arg);
					continue;
				}
				s = slot_of(d, ent[i].op_context);
				if (!s)
					continue;
				st[got] = 0;
				ctxs[got] = slot_finish(d, s, 0);
				got++;
			}
		} else if (n == -FI_EAVAIL) {
			struct fi_cq_err_entry e;

			memset(&e, 0, sizeof(e));
			n = d->calls->cq_readerr(d->cq, &e);
			if (n > 0) {
				struct mcx_fslot *s = slot_of(d, e.op_context);
				int err = mcx__fab_errno(e.err ? -e.err : -FI_EIO);

				if (s) {
					st[got] = err;
					if (st[got] != -ECANCELED)
						mcx__dbg("%s: operation failed: %s (provider error %d)",
							 d->name, fi_strerror(e.err), e.prov_errno);
					/*
					 * The rest of the work to that address will
					 * not complete either: every path through
					 * the entry fails and hands it back.  (A
					 * warm-up probe's failure is its path's
					 * warm-up answer, nothing more.)
					 */
					if (fails_connection(err) && !s->probe)
						mcx__fab_paths_fail(d, s->path->av);
					ctxs[got] = slot_finish(d, s, st[got]);
					got++;
				} else if (fails_connection(err)) {
					/*
					 * An error naming no operation of ours: a
					 * provider's connection failed (ofi_rxm
					 * reports so without a context).  Which peer
					 * is unknown, so every path of the device
					 * fails; the engine moves the work and
					 * rebuilds them.
					 */
					mcx__warn("%s: the provider reports a failure of no operation (%s, provider error %d): every path of this device fails",
						  d->name, fi_strerror(e.err), e.prov_errno);
					mcx__fab_paths_fail(d, NULL);
				}
				n = 1;
			}
		}
		got += flush_failed(d, ctxs + got, st + got, CQ_BATCH - got);
		got += flush_deferred(d, ctxs + got, st + got, CQ_BATCH - got);
		pthread_mutex_unlock(&d->lock);
		/* Callbacks without the lock: they post the next work. */
		for (int i = 0; i < got; i++)
			if (ctxs[i] && done)
				done(arg, ctxs[i], st[i]);
		total += got;
		if ((n == -FI_EAGAIN || n == 0) && !atomic_load(&d->flush_due))
			break;
		if (n == -FI_EAGAIN || n == 0)
			continue;	/* more to hand back */
		if (n < 0) {
			mcx__err("%s: fi_cq_read: %s", d->name, fi_strerror((int)-n));
			return total ? total : -EIO;
		}
		if (n > 0 && n < want)
			break;
	}
	return total;
}

uint32_t mcx__fab_dev_inflight(const struct mcx_tp_dev *dev)
{
	return atomic_load(&((const struct mcx_fdom *)dev)->inflight);
}

int mcx__fab_wait_fd(const struct mcx_tp_dev *dev)
{
	return ((const struct mcx_fdom *)dev)->wait_fd;
}

int mcx__fab_arm(struct mcx_tp_dev *dev)
{
	struct mcx_fdom *d = (struct mcx_fdom *)dev;
	int ret;

	if (d->wait_fd < 0 || atomic_load(&d->flush_due))
		return -EAGAIN;	/* a failed path's contexts wait for progress */
	/*
	 * fi_trywait: the fd only signals what arrives after it said yes;
	 * when it says no (completions, or the provider's own work, are
	 * pending) the caller must run progress instead of sleeping.
	 */
	pthread_mutex_lock(&d->lock);
	ret = d->calls->trywait(d->fabric, d->cq);
	pthread_mutex_unlock(&d->lock);
	return ret ? -EAGAIN : 0;
}

uint64_t mcx__fab_eagain_count(const struct mcx_tp_dev *dev)
{
	return ((const struct mcx_fdom *)dev)->eagain;
}

uint64_t mcx__fab_flushed_count(const struct mcx_tp_dev *dev)
{
	return ((const struct mcx_fdom *)dev)->flushed;
}

uint64_t mcx__fab_notify_dropped(const struct mcx_tp_dev *dev)
{
	return ((const struct mcx_fdom *)dev)->notify_dropped;
}

const struct mcx_transport_ops mcx__fabric_transport = {
	.name = "fabric",
	.wire_id = 2,
	.open = mcx__fab_open,
	.close = mcx__fab_close,
	.mr_reg = mcx__fab_mr_reg,
	.mr_dereg = mcx__fab_mr_dereg,
	.mr_destroy = mcx__fab_mr_dereg,
	.path_open = mcx__fab_path_open,
	.path_connect = mcx__fab_path_connect,
	.path_stop = mcx__fab_path_stop,
	.path_inflight = mcx__fab_path_inflight,
	.path_warm = mcx__fab_path_warm,
	.path_is_warm = mcx__fab_path_is_warm,
	.path_close = mcx__fab_path_close,
	.post = mcx__fab_post,
	.progress = mcx__fab_progress,
	.dev_inflight = mcx__fab_dev_inflight,
	.wait_fd = mcx__fab_wait_fd,
	.arm = mcx__fab_arm,
};
