// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * RC paths: one or more RC QPs from one local port to one remote port.
 *
 * The two blobs the handshake carries for verbs:
 *
 *   device address (MCX_VERBS_ADDR_LEN = 24 bytes, in HELLO):
 *     u8 version (1), u8 link_layer (IBV_LINK_LAYER_*), u8 port,
 *     u8 mtu (enum ibv_mtu), u8 rd_atom, u8 init_rd_atom, u16 lid (LE),
 *     u8 gid[16]
 *   connection (8 + 8 * nqp bytes, in CONNECT and its reply):
 *     u8 version (1), u8 nqp (1..MCX_VERBS_MAX_QPS), u8 init_depth,
 *     u8 resp_res, u8 mtu, u8 pad[3] (0),
 *     nqp x { u32 qpn (1..2^24-1), u32 psn (< 2^24) } (LE)
 *
 * RDMA read depth is negotiated from both sides' limits: the reads a QP
 * keeps in flight (max_rd_atomic) never exceed what the other side's QP
 * accepts (its max_dest_rd_atomic), so neither side can be made to
 * overrun the other, and a peer cannot make us reserve more responder
 * resources than our device has.
 *
 * QPs get remote access rights only on a path the peer may target
 * (MCX_TP_PATH_TARGET): a path made only to initiate cannot be used by the
 * other side to reach our memory even if it learned a key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "transport/verbs/verbs.h"

/*
 * RC retransmission: 4.096 us << 16 = 268 ms per try, 6 retries, so a dead
 * path errors out after about 2 s and its work moves to another path.
 * Not 7: soft-RoCE (and the spec, for RNR) read 7 as "retry forever",
 * which would leave only the request deadline to notice.  Not shorter: an
 * emulated or congested link may stall for a while without being dead.
 */
#define QP_TIMEOUT	16
#define QP_RETRY_CNT	6
#define BLOB_VERSION	1

uint32_t mcx__verbs_addr_pack(const struct mcx_verbs_addr *a, uint8_t *buf)
{
	memset(buf, 0, MCX_VERBS_ADDR_LEN);
	buf[0] = BLOB_VERSION;
	buf[1] = a->link_layer;
	buf[2] = a->port;
	buf[3] = a->mtu;
	buf[4] = a->rd_atom;
	buf[5] = a->init_rd_atom;
	mcx__put_le16(buf + 6, a->lid);
	memcpy(buf + 8, a->gid, MCX_GID_LEN);
	return MCX_VERBS_ADDR_LEN;
}

int mcx__verbs_addr_unpack(const void *buf, uint32_t len, struct mcx_verbs_addr *out)
{
	const uint8_t *b = buf;

	if (len != MCX_VERBS_ADDR_LEN || b[0] != BLOB_VERSION)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->link_layer = b[1];
	out->port = b[2];
	out->mtu = b[3];
	out->rd_atom = b[4];
	out->init_rd_atom = b[5];
	out->lid = mcx__get_le16(b + 6);
	memcpy(out->gid, b + 8, MCX_GID_LEN);
	if ((out->link_layer != IBV_LINK_LAYER_INFINIBAND &&
	     out->link_layer != IBV_LINK_LAYER_ETHERNET) || out->port == 0 ||
	    out->mtu < IBV_MTU_256 || out->mtu > IBV_MTU_4096 || out->rd_atom == 0 ||
	    out->rd_atom > MCX_VERBS_RD_ATOM_MAX || out->init_rd_atom == 0 ||
	    out->init_rd_atom > MCX_VERBS_RD_ATOM_MAX)
		return -EINVAL;
	return 0;
}

uint32_t mcx__verbs_conn_pack(const struct mcx_verbs_conn *c, uint8_t *buf)
{
	uint32_t len = 8 + 8 * (uint32_t)c->nqp;

	memset(buf, 0, len);
	buf[0] = BLOB_VERSION;
	buf[1] = c->nqp;
	buf[2] = c->init_depth;
	buf[3] = c->resp_res;
	buf[4] = c->mtu;
	for (uint32_t i = 0; i < c->nqp; i++) {
		mcx__put_le32(buf + 8 + 8 * i, c->qpn[i]);
		mcx__put_le32(buf + 12 + 8 * i, c->psn[i]);
	}
	return len;
}

int mcx__verbs_conn_unpack(const void *buf, uint32_t len, struct mcx_verbs_conn *out)
{
	const uint8_t *b = buf;

	if (len < 8 || b[0] != BLOB_VERSION)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->nqp = b[1];
	out->init_depth = b[2];
	out->resp_res = b[3];
	out->mtu = b[4];
	if (out->nqp == 0 || out->nqp > MCX_VERBS_MAX_QPS || len != 8 + 8 * (uint32_t)out->nqp ||
	    b[5] || b[6] || b[7] || out->init_depth == 0 ||
	    out->init_depth > MCX_VERBS_RD_ATOM_MAX || out->resp_res == 0 ||
	    out->resp_res > MCX_VERBS_RD_ATOM_MAX || out->mtu < IBV_MTU_256 ||
	    out->mtu > IBV_MTU_4096)
		return -EINVAL;
	for (uint32_t i = 0; i < out->nqp; i++) {
		out->qpn[i] = mcx__get_le32(b + 8 + 8 * i);
		out->psn[i] = mcx__get_le32(b + 12 + 8 * i);
		if (out->qpn[i] == 0 || out->qpn[i] > 0xffffff || out->psn[i] > 0xffffff)
			return -EINVAL;
	}
	return 0;
}

static uint32_t random_psn(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint32_t)mcx__now_ns();
	return v & 0xffffff;
}

static uint8_t clamp_rd(uint32_t dev)
{
	if (dev == 0)
		return 1;
	return (uint8_t)(dev < MCX_VERBS_RD_ATOM_MAX ? dev : MCX_VERBS_RD_ATOM_MAX);
}

void mcx__verbs_rd_negotiate(uint32_t dev_init, uint32_t dev_resp,
			     const struct mcx_verbs_addr *ra, uint8_t *init_depth,
			     uint8_t *resp_res)
{
	/* Reads we keep in flight: what our device can, what theirs accepts. */
	*init_depth = clamp_rd(dev_init);
	if (*init_depth > ra->rd_atom)
		*init_depth = ra->rd_atom;
	/* Reads we accept: what our device can and theirs may issue. */
	*resp_res = clamp_rd(dev_resp);
	if (*resp_res > ra->init_rd_atom)
		*resp_res = ra->init_rd_atom;
}

/* ---- the NIC's table of live paths (open addressing, by id) ---- */

static int table_add(struct mcx_nic *nic, struct mcx_vpath *p)
{
	uint32_t mask;

	if ((nic->paths_n + 1) * 2 > nic->paths_cap) {
		uint32_t cap = nic->paths_cap ? nic->paths_cap * 2 : 16;
		struct mcx_vpath **t = calloc(cap, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (uint32_t i = 0; i < nic->paths_cap; i++) {
			struct mcx_vpath *q = nic->paths[i];
			uint32_t k;

			if (!q)
				continue;
			for (k = q->id & (cap - 1); t[k]; k = (k + 1) & (cap - 1))
				;
			t[k] = q;
		}
		free(nic->paths);
		nic->paths = t;
		nic->paths_cap = cap;
	}
	/* Ids are never 0, and skip ones still in use after a wrap. */
	do {
		p->id = nic->next_path_id++;
	} while (!p->id || mcx__verbs_path_find(nic, p->id));
	mask = nic->paths_cap - 1;
	for (uint32_t k = p->id & mask;; k = (k + 1) & mask) {
		if (!nic->paths[k]) {
			nic->paths[k] = p;
			break;
		}
	}
	nic->paths_n++;
	return 0;
}

struct mcx_vpath *mcx__verbs_path_find(struct mcx_nic *nic, uint32_t id)
{
	uint32_t mask = nic->paths_cap - 1;

	if (!nic->paths_cap)
		return NULL;
	for (uint32_t k = id & mask, n = 0; n < nic->paths_cap; k = (k + 1) & mask, n++) {
		if (!nic->paths[k])
			return NULL;
		if (nic->paths[k]->id == id)
			return nic->paths[k];
	}
	return NULL;
}

static void table_del(struct mcx_nic *nic, struct mcx_vpath *p)
{
	uint32_t mask = nic->paths_cap - 1, k;

	for (k = p->id & mask; nic->paths[k] != p; k = (k + 1) & mask)
		;
	nic->paths[k] = NULL;
	nic->paths_n--;
	/* Re-seat the entries after the hole so that probing still finds them. */
	for (k = (k + 1) & mask; nic->paths[k]; k = (k + 1) & mask) {
		struct mcx_vpath *q = nic->paths[k];
		uint32_t j;

		nic->paths[k] = NULL;
		for (j = q->id & mask; nic->paths[j]; j = (j + 1) & mask)
			;
		nic->paths[j] = q;
	}
}

/* ---- paths ---- */

static void destroy_qps(struct mcx_vpath *p)
{
	for (uint32_t i = 0; i < MCX_VERBS_MAX_QPS; i++) {
		if (p->qp[i].qp)
			ibv_destroy_qp(p->qp[i].qp);
		p->qp[i].qp = NULL;
	}
}

static int make_qp(struct mcx_vpath *p, uint32_t i)
{
	struct mcx_nic *nic = p->nic;
	bool target = p->flags & MCX_TP_PATH_TARGET;
	/* A joined context's QPs are in the shared PD, on its CQ (share.c). */
	struct ibv_pd *pd = p->adopted ? nic->vctx.tpd : nic->pd;
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 0,
		.cap = {
			.max_send_wr = p->depth,
			.max_recv_wr = target ? MCX_VERBS_RECVS : 1,
			.max_send_sge = 1,
			.max_recv_sge = 1,
		},
	};
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = nic->port,
		.qp_access_flags = target ? IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
					    IBV_ACCESS_REMOTE_WRITE : 0,
	};
	struct ibv_qp *qp;
	int ret;

	if (p->adopted) {
		ia.send_cq = ia.recv_cq = nic->tcq.cq;
	} else {
		ret = mcx__verbs_private_cq(nic, &ia.send_cq);
		if (ret)
			return ret;
		ia.recv_cq = ia.send_cq;
	}
	qp = ibv_create_qp(pd, &ia);
	if (!qp) {
		ret = errno ? -errno : -ENOMEM;
		mcx__err("%s: ibv_create_qp (RC, %u WRs): %s", nic->name, p->depth,
			 mcx_strerror(ret));
		return ret;
	}
	p->qp[i].qp = qp;
	p->qp[i].outstanding = 0;
	p->qp[i].psn = random_psn();
	ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			    IBV_QP_ACCESS_FLAGS);
	if (ret) {
		mcx__err("%s: QP %u to INIT: %s", nic->name, qp->qp_num, mcx_strerror(-ret));
		return -ret;
	}
	return 0;
}

int mcx__verbs_path_open(struct mcx_tp_dev *dev, const void *raddr, uint32_t raddr_len,
			 uint32_t flags, const void *rblob, uint32_t rblob_len, void *owner,
			 struct mcx_tp_path **out, void *blob, uint32_t *blob_len)
{
	struct mcx_nic *nic = (struct mcx_nic *)dev;
	struct mcx_verbs_addr ra;
	struct mcx_verbs_conn local, rc;
	struct mcx_vpath *p;
	uint32_t nqp = 0;
	int ret;

	*out = NULL;
	if (mcx__verbs_addr_unpack(raddr, raddr_len, &ra)) {
		mcx__err("%s: the peer's device address is malformed", nic->name);
		return -EPROTO;
	}
	if (ra.link_layer != nic->link_layer) {
		mcx__err("%s: the peer's port has another link layer", nic->name);
		return -ENETUNREACH;
	}
	if (rblob) {
		/* Answering: as many QPs as the starter made, one for one. */
		if (mcx__verbs_conn_unpack(rblob, rblob_len, &rc)) {
			mcx__err("%s: the peer's connection blob is malformed", nic->name);
			return -EPROTO;
		}
		nqp = rc.nqp;
	}
	if (nqp == 0)
		nqp = nic->cfg.qps_per_path ? nic->cfg.qps_per_path : 1;
	if (nqp > MCX_VERBS_MAX_QPS)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->nic = nic;
	pthread_mutex_init(&p->lock, NULL);
	p->owner = owner;
	p->flags = flags;
	/*
	 * On a device that joined the shared context, a target path is made
	 * there so that peers reach the MRs published in its PD; a path that
	 * initiates stays private, since the joined context cannot send.
	 */
	p->adopted = (flags & MCX_TP_PATH_TARGET) && nic->vctx.state == MCX_TP_SHARE_TARGET;
	p->nqp = nqp;
	p->depth = nic->cfg.max_wr < nic->max_qp_wr ? nic->cfg.max_wr : nic->max_qp_wr;
	if (p->depth == 0)
		p->depth = 1;
	memcpy(p->rgid, ra.gid, MCX_GID_LEN);
	p->rlid = ra.lid;
	p->rport = ra.port;
	p->rmtu = ra.mtu;
	p->rresp = ra.rd_atom;
	p->rinit = ra.init_rd_atom;
	mcx__verbs_rd_negotiate(nic->max_qp_init_rd_atom, nic->max_qp_rd_atom, &ra,
				&p->init_depth, &p->resp_res);
	p->nslots = p->nqp * p->depth;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	if (!p->slots) {
		pthread_mutex_destroy(&p->lock);
		free(p);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < p->nslots; i++)
		p->slots[i].next_free = i + 1 < p->nslots ? i + 1 : UINT32_MAX;
	p->free_head = 0;
	for (uint32_t i = 0; i < nqp; i++) {
		ret = make_qp(p, i);
		if (ret)
			goto fail;
	}
	memset(&local, 0, sizeof(local));
	local.nqp = (uint8_t)nqp;
	local.init_depth = p->init_depth;
	local.resp_res = p->resp_res;
	local.mtu = (uint8_t)nic->mtu;
	for (uint32_t i = 0; i < nqp; i++) {
		local.qpn[i] = p->qp[i].qp->qp_num;
		local.psn[i] = p->qp[i].psn;
	}
	pthread_mutex_lock(&nic->paths_lock);
	ret = table_add(nic, p);
	pthread_mutex_unlock(&nic->paths_lock);
	if (ret)
		goto fail;
	*blob_len = mcx__verbs_conn_pack(&local, blob);
	if (rblob) {
		ret = mcx__verbs_path_connect((struct mcx_tp_path *)p, rblob, rblob_len);
		if (ret) {
			mcx__verbs_path_close((struct mcx_tp_path *)p, NULL, NULL);
			return ret;
		}
		/* Our blob carries the depth we settled on after seeing theirs. */
		local.init_depth = p->init_depth;
		*blob_len = mcx__verbs_conn_pack(&local, blob);
	}
	*out = (struct mcx_tp_path *)p;
	return 0;
fail:
	destroy_qps(p);
	pthread_mutex_destroy(&p->lock);
	free(p->slots);
	free(p);
	return ret;
}

int mcx__verbs_path_connect(struct mcx_tp_path *path, const void *rblob, uint32_t len)
{
	struct mcx_vpath *p = (struct mcx_vpath *)path;
	struct mcx_nic *nic = p->nic;
	struct mcx_verbs_conn rc;
	enum ibv_mtu mtu = nic->mtu;
	int ret;

	if (mcx__verbs_conn_unpack(rblob, len, &rc) || rc.nqp != p->nqp) {
		mcx__err("%s: the peer's connection blob does not match our path (%u QPs)",
			 nic->name, p->nqp);
		return -EINVAL;
	}
	/* Its offer may only lower what we settled on from its address. */
	if (rc.resp_res < p->init_depth)
		p->init_depth = rc.resp_res;
	if (rc.mtu < mtu)
		mtu = (enum ibv_mtu)rc.mtu;
	if (p->rmtu < mtu)
		mtu = (enum ibv_mtu)p->rmtu;
	p->remote_mtu = mtu;
	for (uint32_t i = 0; i < p->nqp; i++) {
		struct ibv_qp *qp = p->qp[i].qp;
		struct ibv_qp_attr a;

		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RTR;
		a.path_mtu = mtu;
		a.dest_qp_num = rc.qpn[i];
		a.rq_psn = rc.psn[i];
		a.max_dest_rd_atomic = p->resp_res;
		a.min_rnr_timer = 12;
		a.ah_attr.port_num = nic->port;
		a.ah_attr.sl = (uint8_t)nic->cfg.sl;
		a.ah_attr.dlid = p->rlid;
		if (nic->link_layer != IBV_LINK_LAYER_INFINIBAND ||
		    memcmp(p->rgid, (uint8_t[MCX_GID_LEN]){ 0 }, MCX_GID_LEN)) {
			a.ah_attr.is_global = 1;
			memcpy(a.ah_attr.grh.dgid.raw, p->rgid, MCX_GID_LEN);
			a.ah_attr.grh.sgid_index = (uint8_t)nic->gid_index;
			a.ah_attr.grh.hop_limit = 64;
			a.ah_attr.grh.traffic_class = (uint8_t)nic->cfg.tc;
		}
		ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
				    IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				    IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
		if (ret) {
			mcx__err("%s: QP %u to RTR (remote QP %u): %s", nic->name, qp->qp_num,
				 a.dest_qp_num, mcx_strerror(-ret));
			return -ret;
		}
		if (p->flags & MCX_TP_PATH_TARGET) {
			ret = mcx__verbs_post_recvs(p, i, MCX_VERBS_RECVS);
			if (ret)
				return ret;
		}
		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RTS;
		a.timeout = QP_TIMEOUT;
		a.retry_cnt = QP_RETRY_CNT;
		a.rnr_retry = 7;
		a.sq_psn = p->qp[i].psn;
		a.max_rd_atomic = p->init_depth;
		ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				    IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
		if (ret) {
			mcx__err("%s: QP %u to RTS: %s", nic->name, qp->qp_num, mcx_strerror(-ret));
			return -ret;
		}
	}
	return 0;
}

void mcx__verbs_path_stop(struct mcx_tp_path *path)
{
	struct mcx_vpath *p = (struct mcx_vpath *)path;
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };

	if (atomic_exchange(&p->stopped, true))
		return;
	for (uint32_t i = 0; i < p->nqp; i++)
		if (p->qp[i].qp)
			ibv_modify_qp(p->qp[i].qp, &a, IBV_QP_STATE);
}

uint32_t mcx__verbs_path_inflight(const struct mcx_tp_path *path)
{
	return atomic_load(&((const struct mcx_vpath *)path)->inflight);
}

void mcx__verbs_path_close(struct mcx_tp_path *path,
			   void (*unreaped)(void *arg, void *ctx), void *arg)
{
	struct mcx_vpath *p = (struct mcx_vpath *)path;
	struct mcx_nic *nic;
	uint32_t left;

	if (!p)
		return;
	nic = p->nic;
	/*
	 * Out of the table first: from here on a completion of this path
	 * (even one a provider reports after the QP is gone) is dropped.
	 * The progress that might be handling one right now holds the lock,
	 * so once we have it no callback of this path is running.
	 */
	pthread_mutex_lock(&nic->paths_lock);
	table_del(nic, p);
	pthread_mutex_unlock(&nic->paths_lock);
	destroy_qps(p);
	/* The QPs are gone: nothing will touch those buffers any more. */
	for (uint32_t i = 0; i < p->nslots; i++) {
		if (!p->slots[i].used)
			continue;
		p->slots[i].used = false;
		if (unreaped)
			unreaped(arg, p->slots[i].ctx);
	}
	/* What will never be reaped no longer counts against the CQ. */
	left = atomic_load(&p->inflight) + atomic_load(&p->recvs);
	if (left)
		atomic_fetch_sub(p->adopted ? &nic->tcq.outstanding : &nic->cq_outstanding, left);
	pthread_mutex_destroy(&p->lock);
	free(p->slots);
	free(p);
}
