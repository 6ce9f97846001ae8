// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The data path of the verbs transport: posting RDMA reads and writes,
 * reaping completions, receiving notifications (writes with immediate) and
 * reading the device's asynchronous events.
 *
 * Every posted send is signalled and holds a slot of its path until its
 * completion is reaped (or the path is closed).  Posting never lets a QP
 * hold more than its depth nor the CQ more entries than it has, so neither
 * can overflow; when there is no room the caller hears -EAGAIN.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "transport/verbs/verbs.h"

#define EVENTS_EVERY_NS	10000000ULL	/* async events: a syscall, so not every pass */

static int wc_errno(enum ibv_wc_status st)
{
	switch (st) {
	case IBV_WC_SUCCESS:
		return 0;
	case IBV_WC_WR_FLUSH_ERR:
		return -ECANCELED;
	case IBV_WC_LOC_PROT_ERR:
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_REM_INV_REQ_ERR:
	case IBV_WC_LOC_LEN_ERR:
	case IBV_WC_MW_BIND_ERR:
		/* The request itself is bad (range or key): not the path's fault. */
		return -EFAULT;
	case IBV_WC_RETRY_EXC_ERR:
		return -ETIMEDOUT;
	case IBV_WC_RNR_RETRY_EXC_ERR:
	case IBV_WC_REM_ABORT_ERR:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

static bool room(atomic_uint *outstanding, uint32_t size, uint32_t n)
{
	uint32_t cur = atomic_load(outstanding);

	while (cur + n <= size) {
		if (atomic_compare_exchange_weak(outstanding, &cur, cur + n))
			return true;
	}
	return false;
}

static bool cq_room(struct mcx_nic *nic, uint32_t n)
{
	return room(&nic->cq_outstanding, nic->cq_size, n);
}

int mcx__verbs_post_recvs(struct mcx_vpath *p, uint32_t qp, uint32_t n)
{
	struct mcx_nic *nic = p->nic;
	atomic_uint *outstanding = p->adopted ? &nic->tcq.outstanding : &nic->cq_outstanding;
	uint32_t size = p->adopted ? nic->tcq.size : nic->cq_size;
	struct ibv_recv_wr wr, *bad = NULL;

	for (uint32_t i = 0; i < n; i++) {
		int ret;

		/* rxe_post_recv() only writes the mmapped queue: fine when adopted. */
		if (!room(outstanding, size, 1))
			return -ENOSPC;
		memset(&wr, 0, sizeof(wr));
		/* Zero-length: an immediate carries no payload into our memory. */
		wr.wr_id = MCX_VERBS_WRID(p->id, MCX_VERBS_RECV_SLOT(qp));
		ret = ibv_post_recv(p->qp[qp].qp, &wr, &bad);
		if (ret) {
			atomic_fetch_sub(outstanding, 1);
			return -ret;
		}
		atomic_fetch_add(&p->recvs, 1);
	}
	return 0;
}

/* A free slot of p on a QP with room, or -EAGAIN (p->lock held). */
static int slot_get(struct mcx_vpath *p, uint32_t *qp_out)
{
	uint32_t s;

	if (p->free_head == UINT32_MAX)
		return -EAGAIN;
	for (uint32_t k = 0; k < p->nqp; k++) {
		uint32_t q = (p->next_qp + k) % p->nqp;

		if (p->qp[q].outstanding < p->depth) {
			p->next_qp = (q + 1) % p->nqp;
			*qp_out = q;
			s = p->free_head;
			p->free_head = p->slots[s].next_free;
			p->slots[s].used = true;
			p->slots[s].qp = q;
			return (int)s;
		}
	}
	return -EAGAIN;
}

static void slot_put(struct mcx_vpath *p, uint32_t s)
{
	p->slots[s].used = false;
	p->slots[s].ctx = NULL;
	p->slots[s].next_free = p->free_head;
	p->free_head = s;
}

int mcx__verbs_post(struct mcx_tp_path *path, const struct mcx_tp_op *ops, uint32_t n)
{
	struct mcx_vpath *p = (struct mcx_vpath *)path;
	struct mcx_nic *nic = p->nic;
	uint32_t done = 0;
	int ret = 0;

	if (atomic_load(&p->stopped))
		return -ENOTCONN;
	/*
	 * A QP of a joined context cannot ring its send doorbell (uverbs
	 * refuses our write() on another process's file, share.c); nothing
	 * is ever posted there, so no WR sits unsent in its queue.
	 */
	if (p->adopted)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&p->lock);
	for (; done < n; done++) {
		const struct mcx_tp_op *op = &ops[done];
		const struct ibv_mr *mr = op->ldesc;
		struct ibv_sge sge = {
			.addr = op->laddr,
			.length = (uint32_t)op->len,
			.lkey = mr ? mr->lkey : 0,
		};
		struct ibv_send_wr wr, *bad = NULL;
		uint32_t q = 0;
		int s;

		if (op->len > (1ULL << 31) || (op->len && !mr)) {
			ret = -EINVAL;
			break;
		}
		if (!cq_room(nic, 1)) {
			ret = -EAGAIN;
			break;
		}
		s = slot_get(p, &q);
		if (s < 0) {
			atomic_fetch_sub(&nic->cq_outstanding, 1);
			ret = s;
			break;
		}
		memset(&wr, 0, sizeof(wr));
		wr.wr_id = MCX_VERBS_WRID(p->id, (uint32_t)s);
		/* A zero-length write (a bare notification) carries no SGE. */
		wr.sg_list = op->len ? &sge : NULL;
		wr.num_sge = op->len ? 1 : 0;
		switch (op->opcode) {
		case MCX_TP_READ:
			wr.opcode = IBV_WR_RDMA_READ;
			break;
		case MCX_TP_WRITE:
			wr.opcode = IBV_WR_RDMA_WRITE;
			break;
		case MCX_TP_WRITE_IMM:
			wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
			wr.imm_data = htonl(op->imm);
			break;
		default:
			slot_put(p, (uint32_t)s);
			atomic_fetch_sub(&nic->cq_outstanding, 1);
			ret = -EINVAL;
			goto out;
		}
		wr.send_flags = IBV_SEND_SIGNALED;
		wr.wr.rdma.remote_addr = op->raddr;
		/* RC keys are 32 bits; a larger one cannot be ours. */
		if (op->rkey > UINT32_MAX) {
			slot_put(p, (uint32_t)s);
			atomic_fetch_sub(&nic->cq_outstanding, 1);
			ret = -EINVAL;
			break;
		}
		wr.wr.rdma.rkey = (uint32_t)op->rkey;
		p->slots[s].ctx = op->ctx;
		ret = ibv_post_send(p->qp[q].qp, &wr, &bad);
		if (ret) {
			ret = ret == ENOMEM ? -EAGAIN : -ret;
			slot_put(p, (uint32_t)s);
			atomic_fetch_sub(&nic->cq_outstanding, 1);
			break;
		}
		p->qp[q].outstanding++;
		atomic_fetch_add(&p->inflight, 1);
	}
out:
	pthread_mutex_unlock(&p->lock);
	if (done)
		return (int)done;
	return ret ? ret : -EAGAIN;
}

/* The path that owns wr_id, or NULL when it is closed (paths_lock held). */
static struct mcx_vpath *path_of(struct mcx_nic *nic, uint64_t wr_id)
{
	return mcx__verbs_path_find(nic, (uint32_t)(wr_id >> 32));
}

static struct mcx_vpath *path_of_qp(struct mcx_nic *nic, struct ibv_qp *qp)
{
	for (uint32_t i = 0; i < nic->paths_cap; i++) {
		struct mcx_vpath *p = nic->paths[i];

		for (uint32_t k = 0; p && k < p->nqp; k++)
			if (p->qp[k].qp == qp)
				return p;
	}
	return NULL;
}

static void read_events(struct mcx_nic *nic, mcx_tp_event_fn event, void *arg)
{
	struct ibv_async_event ev;

	while (ibv_get_async_event(nic->ctx, &ev) == 0) {
		struct mcx_nic *port = nic;
		struct mcx_vpath *p;

		switch (ev.event_type) {
		case IBV_EVENT_PORT_ERR:
		case IBV_EVENT_PORT_ACTIVE:
			/* Ports of one device share the context and its events. */
			for (struct mcx_nic *q = nic; q; q = q->next_port)
				if (q->port == ev.element.port_num)
					port = q;
			if (port->port != ev.element.port_num)
				break;
			if (ev.event_type == IBV_EVENT_PORT_ERR) {
				mcx__warn("%s port %d is down: its paths fail over", port->name,
					  ev.element.port_num);
				if (event)
					event(arg, (struct mcx_tp_dev *)port, MCX_TP_EV_DEV_DOWN,
					      NULL, -ENETDOWN);
			} else {
				mcx__info("%s port %d is active again", port->name,
					  ev.element.port_num);
				if (event)
					event(arg, (struct mcx_tp_dev *)port, MCX_TP_EV_DEV_UP,
					      NULL, 0);
			}
			break;
		case IBV_EVENT_DEVICE_FATAL:
			mcx__err("%s: fatal device error: its paths fail over", nic->name);
			for (struct mcx_nic *q = nic; q && event; q = q->next_port)
				event(arg, (struct mcx_tp_dev *)q, MCX_TP_EV_DEV_DOWN, NULL,
				      -ENODEV);
			break;
		case IBV_EVENT_CQ_ERR:
			mcx__err("%s: completion queue error", nic->name);
			for (struct mcx_nic *q = nic; q && event; q = q->next_port)
				if (atomic_load(&q->cq_made) && q->cq == ev.element.cq)
					event(arg, (struct mcx_tp_dev *)q, MCX_TP_EV_DEV_DOWN,
					      NULL, -EIO);
			break;
		case IBV_EVENT_QP_FATAL:
		case IBV_EVENT_QP_REQ_ERR:
		case IBV_EVENT_QP_ACCESS_ERR:
			for (struct mcx_nic *q = nic; q; q = q->next_port) {
				void *owner = NULL;

				pthread_mutex_lock(&q->paths_lock);
				p = path_of_qp(q, ev.element.qp);
				if (p)
					owner = p->owner;
				pthread_mutex_unlock(&q->paths_lock);
				if (owner && event) {
					event(arg, (struct mcx_tp_dev *)q, MCX_TP_EV_PATH_FAILED,
					      owner, -EIO);
					break;
				}
			}
			break;
		default:
			mcx__dbg("%s: async event %s", nic->name,
				 ibv_event_type_str(ev.event_type));
			break;
		}
		ibv_ack_async_event(&ev);
	}
}

/* Reap up to max completions of one CQ of nic (whose count is outstanding). */
static int poll_one_cq(struct mcx_nic *nic, struct ibv_cq *cq, atomic_uint *outstanding,
		       int max, mcx_tp_done_fn done, mcx_tp_notify_fn notify, void *arg)
{
	struct ibv_wc wc[32];
	int total = 0;

	while (total < max && atomic_load(outstanding)) {
		int want = max - total < 32 ? max - total : 32;
		int n = ibv_poll_cq(cq, want, wc);

		if (n < 0)
			return total ? total : -EIO;
		for (int i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)wc[i].wr_id;
			int st = wc_errno(wc[i].status);
			struct mcx_vpath *p;
			void *ctx = NULL;

			/*
			 * paths_lock is held across the callbacks: path_close()
			 * takes it, so a path cannot vanish under a callback.
			 * Callbacks must therefore never close a path.
			 */
			pthread_mutex_lock(&nic->paths_lock);
			p = path_of(nic, wc[i].wr_id);
			if (!p) {
				/* Its path is closed: already given back there. */
				pthread_mutex_unlock(&nic->paths_lock);
				continue;
			}
			atomic_fetch_sub(outstanding, 1);
			if (MCX_VERBS_IS_RECV(slot)) {
				uint32_t q = slot & 0xffffU;

				atomic_fetch_sub(&p->recvs, 1);
				if (st == 0 && wc[i].opcode == IBV_WC_RECV_RDMA_WITH_IMM &&
				    notify)
					notify(arg, p->owner, ntohl(wc[i].imm_data));
				if (st == 0 && !atomic_load(&p->stopped) && q < p->nqp)
					mcx__verbs_post_recvs(p, q, 1);
				pthread_mutex_unlock(&nic->paths_lock);
				continue;
			}
			pthread_mutex_lock(&p->lock);
			if (slot < p->nslots && p->slots[slot].used) {
				ctx = p->slots[slot].ctx;
				p->qp[p->slots[slot].qp].outstanding--;
				slot_put(p, slot);
				atomic_fetch_sub(&p->inflight, 1);
			}
			pthread_mutex_unlock(&p->lock);
			if (st && st != -ECANCELED)
				mcx__dbg("%s: WR failed: %s (vendor error 0x%x)", nic->name,
					 ibv_wc_status_str(wc[i].status), wc[i].vendor_err);
			if (ctx && done)
				done(arg, ctx, st);
			pthread_mutex_unlock(&nic->paths_lock);
			total++;
		}
		if (n < want)
			break;
	}
	return total;
}

int mcx__verbs_progress(struct mcx_tp_dev *dev, int max, mcx_tp_done_fn done,
			mcx_tp_notify_fn notify, mcx_tp_event_fn event, void *arg)
{
	struct mcx_nic *nic = (struct mcx_nic *)dev;
	int total, more;

	/* The private context's async fd: a joined context has none. */
	if (nic->ctx_owner) {
		uint64_t now = mcx__now_ns();

		if (now - nic->events_ns > EVENTS_EVERY_NS) {
			nic->events_ns = now;
			read_events(nic, event, arg);
		}
	}
	total = atomic_load(&nic->cq_made) ?
		poll_one_cq(nic, nic->cq, &nic->cq_outstanding, max, done, notify, arg) : 0;
	if (total < 0 || !nic->tcq.cq || total >= max)
		return total;
	more = poll_one_cq(nic, nic->tcq.cq, &nic->tcq.outstanding, max - total, done, notify,
			   arg);
	if (more < 0)
		return total ? total : more;
	return total + more;
}

uint32_t mcx__verbs_dev_inflight(const struct mcx_tp_dev *dev)
{
	const struct mcx_nic *nic = (const struct mcx_nic *)dev;

	return atomic_load(&nic->cq_outstanding) + atomic_load(&nic->tcq.outstanding);
}

int mcx__verbs_wait_fd(const struct mcx_tp_dev *dev)
{
	const struct mcx_nic *nic = (const struct mcx_nic *)dev;

	/* Two CQs (a joined context): the epoll set of both channels. */
	if (nic->wait_set >= 0)
		return nic->wait_set;
	/* Only a TARGET nic makes its channel late, and it has the wait set. */
	return nic->channel ? nic->channel->fd : -1;
}

static void arm_one(struct ibv_comp_channel *channel, struct ibv_cq *cq_to_arm)
{
	struct ibv_cq *cq;
	void *ctx;

	/* The channel fd is non-blocking: this only consumes a pending event. */
	while (channel && !ibv_get_cq_event(channel, &cq, &ctx))
		ibv_ack_cq_events(cq, 1);
	if (cq_to_arm)
		ibv_req_notify_cq(cq_to_arm, 0);
}

int mcx__verbs_arm(struct mcx_tp_dev *dev)
{
	struct mcx_nic *nic = (struct mcx_nic *)dev;

	if (atomic_load(&nic->cq_made))
		arm_one(nic->channel, nic->cq);
	/* ibv_req_notify_cq() on a joined context goes by ioctl (share.c). */
	if (nic->tcq.cq)
		arm_one(nic->tcq.channel, nic->tcq.cq);
	return 0;
}

const struct mcx_transport_ops mcx__verbs_transport = {
	.name = "verbs",
	.wire_id = 1,
	.open = mcx__verbs_open,
	.close = mcx__verbs_close,
	.mr_reg = mcx__verbs_mr_reg,
	.mr_dereg = mcx__verbs_mr_dereg,
	.mr_destroy = mcx__verbs_mr_destroy,
	.mr_handle = mcx__verbs_mr_handle,
	.mr_import = mcx__verbs_mr_import,
	.mr_destroy_handle = mcx__verbs_mr_destroy_handle,
	.path_open = mcx__verbs_path_open,
	.path_connect = mcx__verbs_path_connect,
	.path_stop = mcx__verbs_path_stop,
	.path_inflight = mcx__verbs_path_inflight,
	.path_close = mcx__verbs_path_close,
	.post = mcx__verbs_post,
	.progress = mcx__verbs_progress,
	.dev_inflight = mcx__verbs_dev_inflight,
	.wait_fd = mcx__verbs_wait_fd,
	.arm = mcx__verbs_arm,
};
