// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The verbs transport: one or more RC QPs per (local NIC, remote NIC) pair,
 * every slice one signalled RDMA READ or WRITE with a single SGE.  The QPs
 * of a NIC share its CQ.  Posting is capped by the data path (can_post):
 * never more than max_wr WRs outstanding on a QP, nor more than the CQ
 * holds, so neither the send queue nor the CQ can overflow.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/core.h"

/*
 * RC retransmission: 4.096 us << 16 = 268 ms per try, 6 retries, so a dead
 * path errors out after about 2 s and its slices move to another pair.
 * Not 7: soft-RoCE (and the spec, for RNR) read 7 as "retry forever",
 * which would leave only the request deadline to notice.  Not shorter: an
 * emulated or congested link may stall for a while without being dead.
 */
#define QP_TIMEOUT	16
#define QP_RETRY_CNT	6
#define QP_RD_ATOM_MAX	16

static uint32_t random_psn(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint32_t)mcx__now_ns();
	return v & 0xffffff;
}

static uint32_t qp_depth(const struct mcx_pair *pair)
{
	uint32_t d = pair->peer->eng->opts.max_wr;

	return d < pair->lnic->max_qp_wr ? d : pair->lnic->max_qp_wr;
}

static uint32_t rd_atom(uint32_t dev)
{
	if (dev == 0)
		return 1;
	return dev < QP_RD_ATOM_MAX ? dev : QP_RD_ATOM_MAX;
}

static void destroy_qps(struct mcx_pair *pair)
{
	for (uint32_t i = 0; i < MCX_MAX_QPS_PER_PAIR; i++) {
		if (pair->qp[i].qp)
			ibv_destroy_qp(pair->qp[i].qp);
		pair->qp[i].qp = NULL;
		pair->qp[i].outstanding = 0;
	}
}

static int verbs_pair_create(struct mcx_pair *pair)
{
	struct mcx_engine *eng = pair->peer->eng;
	struct mcx_nic *nic = pair->lnic;
	uint32_t nqp = pair->nqp ? pair->nqp : eng->opts.qps_per_pair;
	int ret;

	memset(&pair->local, 0, sizeof(pair->local));
	memcpy(pair->local.gid, nic->gid.raw, MCX_GID_LEN);
	pair->local.lid = nic->lid;
	pair->local.port = nic->port;
	pair->local.mtu = (uint8_t)nic->mtu;
	pair->local.link_layer = nic->link_layer;
	pair->local.nqp = (uint8_t)nqp;
	for (uint32_t i = 0; i < nqp; i++) {
		struct ibv_qp_init_attr ia = {
			.send_cq = nic->cq,
			.recv_cq = nic->cq,
			.qp_type = IBV_QPT_RC,
			.sq_sig_all = 0,
			.cap = {
				.max_send_wr = qp_depth(pair),
				.max_recv_wr = 1,
				.max_send_sge = 1,
				.max_recv_sge = 1,
			},
		};
		struct ibv_qp_attr a = {
			.qp_state = IBV_QPS_INIT,
			.pkey_index = 0,
			.port_num = nic->port,
			.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
					   IBV_ACCESS_REMOTE_WRITE,
		};
		struct ibv_qp *qp = ibv_create_qp(nic->pd, &ia);

		if (!qp) {
			ret = errno ? -errno : -ENOMEM;
			mcx__err("%s: ibv_create_qp (RC, %u WRs): %s", nic->name,
				 qp_depth(pair), mcx_strerror(ret));
			goto fail;
		}
		pair->qp[i].qp = qp;
		pair->qp[i].outstanding = 0;
		ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				    IBV_QP_ACCESS_FLAGS);
		if (ret) {
			ret = -ret;
			mcx__err("%s: QP %u to INIT: %s", nic->name, qp->qp_num, mcx_strerror(ret));
			goto fail;
		}
		pair->local.qp[i].qpn = qp->qp_num;
		pair->local.qp[i].psn = random_psn();
	}
	pair->nqp = nqp;
	pair->next_qp = 0;
	return 0;
fail:
	destroy_qps(pair);
	return ret;
}

static int verbs_pair_connect(struct mcx_pair *pair, const struct mcx_ep_info *remote)
{
	struct mcx_engine *eng = pair->peer->eng;
	struct mcx_nic *nic = pair->lnic;
	enum ibv_mtu mtu = nic->mtu;
	int ret;

	if (remote->nqp != pair->nqp || remote->link_layer != nic->link_layer ||
	    remote->mtu < IBV_MTU_256 || remote->mtu > IBV_MTU_4096) {
		mcx__err("%s: peer's endpoint does not match ours (%u QPs vs %u, link layer %u vs %u, MTU %u)",
			 nic->name, remote->nqp, pair->nqp, remote->link_layer,
			 nic->link_layer, remote->mtu);
		return -EINVAL;
	}
	if (remote->mtu < mtu)
		mtu = (enum ibv_mtu)remote->mtu;
	for (uint32_t i = 0; i < pair->nqp; i++) {
		struct ibv_qp *qp = pair->qp[i].qp;
		struct ibv_qp_attr a;

		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RTR;
		a.path_mtu = mtu;
		a.dest_qp_num = remote->qp[i].qpn & 0xffffff;
		a.rq_psn = remote->qp[i].psn & 0xffffff;
		a.max_dest_rd_atomic = (uint8_t)rd_atom(nic->max_qp_rd_atom);
		a.min_rnr_timer = 12;
		a.ah_attr.port_num = nic->port;
		a.ah_attr.sl = (uint8_t)eng->opts.sl;
		a.ah_attr.dlid = remote->lid;
		if (nic->link_layer != IBV_LINK_LAYER_INFINIBAND ||
		    memcmp(remote->gid, (uint8_t[MCX_GID_LEN]){ 0 }, MCX_GID_LEN)) {
			a.ah_attr.is_global = 1;
			memcpy(a.ah_attr.grh.dgid.raw, remote->gid, MCX_GID_LEN);
			a.ah_attr.grh.sgid_index = (uint8_t)nic->gid_index;
			a.ah_attr.grh.hop_limit = 64;
			a.ah_attr.grh.traffic_class = (uint8_t)eng->opts.tc;
		}
		ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
				    IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				    IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
		if (ret) {
			mcx__err("%s: QP %u to RTR (remote QP %u): %s", nic->name, qp->qp_num,
				 a.dest_qp_num, mcx_strerror(-ret));
			return -ret;
		}
		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RTS;
		a.timeout = QP_TIMEOUT;
		a.retry_cnt = QP_RETRY_CNT;
		a.rnr_retry = 7;
		a.sq_psn = pair->local.qp[i].psn;
		a.max_rd_atomic = (uint8_t)rd_atom(nic->max_qp_init_rd_atom);
		ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				    IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
		if (ret) {
			mcx__err("%s: QP %u to RTS: %s", nic->name, qp->qp_num, mcx_strerror(-ret));
			return -ret;
		}
	}
	return 0;
}

static bool verbs_can_post(const struct mcx_pair *pair, uint32_t qp)
{
	return pair->qp[qp].outstanding < qp_depth(pair) &&
	       pair->lnic->cq_outstanding < pair->lnic->cq_size;
}

static int verbs_post(struct mcx_slice *s)
{
	struct mcx_req *r = s->req;
	struct mcx_pair *pair = s->pair;
	struct mcx_nic *nic = pair->lnic;
	uint64_t la = r->laddr + s->off, ra = r->raddr + s->off;
	struct ibv_mr *mr = mcx__mem_mr(r->lmem, mcx__mem_chunk_of(r->lmem, la), nic->idx);
	struct ibv_sge sge = {
		.addr = la,
		.length = (uint32_t)s->len,
		.lkey = mr->lkey,
	};
	struct ibv_send_wr wr, *bad = NULL;
	int ret;

	if (pair->rnic >= r->rdesc->nr_nics)
		return -EPROTO;
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = (uintptr_t)s;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = r->op == MCX_OP_READ ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = ra;
	wr.wr.rdma.rkey = mcx__rdesc_rkey(r->rdesc, mcx__rdesc_chunk_of(r->rdesc, ra), pair->rnic);
	ret = ibv_post_send(pair->qp[s->qp].qp, &wr, &bad);
	if (ret)
		return -ret;
	pair->qp[s->qp].outstanding++;
	nic->cq_outstanding++;
	return 0;
}

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

static int verbs_poll(struct mcx_engine *eng, struct mcx_nic *nic, int max)
{
	struct ibv_wc wc[32];
	int total = 0;

	(void)eng;
	while (total < max) {
		int want = max - total < 32 ? max - total : 32;
		int n = ibv_poll_cq(nic->cq, want, wc);

		if (n < 0)
			return total ? total : -EIO;
		for (int i = 0; i < n; i++) {
			struct mcx_slice *s = (struct mcx_slice *)(uintptr_t)wc[i].wr_id;
			int st = wc_errno(wc[i].status);

			s->pair->qp[s->qp].outstanding--;
			nic->cq_outstanding--;
			if (st && st != -ECANCELED)
				mcx__dbg("%s: WR failed: %s (vendor error 0x%x)", nic->name,
					 ibv_wc_status_str(wc[i].status), wc[i].vendor_err);
			mcx__slice_done(s, st);
		}
		total += n;
		if (n < want)
			break;
	}
	return total;
}

static void verbs_pair_error(struct mcx_pair *pair)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };

	for (uint32_t i = 0; i < pair->nqp; i++)
		if (pair->qp[i].qp)
			ibv_modify_qp(pair->qp[i].qp, &a, IBV_QP_STATE);
}

static void verbs_pair_destroy(struct mcx_pair *pair)
{
	destroy_qps(pair);
	pair->nqp = 0;
}

const struct mcx_transport_ops mcx__verbs_ops = {
	.name = "verbs",
	.pair_create = verbs_pair_create,
	.pair_connect = verbs_pair_connect,
	.can_post = verbs_can_post,
	.post = verbs_post,
	.poll = verbs_poll,
	.pair_error = verbs_pair_error,
	.pair_destroy = verbs_pair_destroy,
};
