// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The libfabric transport against a stand-in for libfabric shaped like
 * AWS EFA (which cannot run here): FI_MR_LOCAL + FI_MR_PROV_KEY +
 * FI_MR_ENDPOINT registrations, -FI_EAGAIN storms, the in-flight cap, AV
 * insert failures, completion errors; and the options that pick it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "transport/fabric/fabric.h"
#include "util.h"
#include "harness.h"

/* ---- the stand-in ---- */

static struct {
	char objs[8][64];		/* fabric, domain, ep, av, cq, mrs... never read */
	int mr_mode;
	int eagain_left;		/* writemsg answers -FI_EAGAIN this many times */
	int av_insert_ret;
	int regs, binds, enables, closes, writes, av_removes;
	uint64_t requested_key;
	void *posted[64];		/* contexts posted, in order */
	int nposted, reaped;
	int err_next;			/* the next completion fails with this FI_ errno */
	bool err_no_ctx;		/* ... and names no operation (a lost connection) */
	int hold;			/* the last this many posted never complete (until 0) */
	bool hmem;			/* offers FI_HMEM when asked */
	uint64_t last_flags, last_data;	/* of the last post */
	int remote_n;			/* peers' writes with remote CQ data to report */
	uint64_t remote_data;
} F;

/* Bytes of remote CQ data the stand-in offers: EFA's 4 unless a test says. */
static size_t fake_cq_data_size = 4;

static int f_getinfo(uint32_t version, const struct fi_info *hints, struct fi_info **info)
{
	struct fi_info *fi;

	(void)version;
	if (strcmp(hints->fabric_attr->prov_name, "efa"))
		return -FI_ENODATA;
	if ((hints->caps & FI_HMEM) && !F.hmem)
		return -FI_ENODATA;
	fi = fi_allocinfo();
	fi->caps = hints->caps;
	fi->ep_attr->type = FI_EP_RDM;
	fi->ep_attr->max_msg_size = 1 << 30;
	fi->tx_attr->size = 4;
	fi->domain_attr->name = strdup("efa_0");
	fi->domain_attr->mr_mode = F.mr_mode;
	fi->domain_attr->mr_key_size = 8;
	fi->domain_attr->data_progress = FI_PROGRESS_MANUAL;
	fi->domain_attr->threading = FI_THREAD_SAFE;
	fi->domain_attr->cq_data_size = fake_cq_data_size;
	fi->fabric_attr->prov_name = strdup("efa");
	fi->fabric_attr->name = strdup("efa");
	*info = fi;
	return 0;
}

static void f_freeinfo(struct fi_info *info)
{
	fi_freeinfo(info);
}

#define OBJ(i, type) ((type *)(void *)F.objs[i])
static int f_fabric(struct fi_fabric_attr *a, struct fid_fabric **o) { (void)a; *o = OBJ(0, struct fid_fabric); return 0; }
static int f_domain(struct fid_fabric *f, struct fi_info *i, struct fid_domain **o) { (void)f; (void)i; *o = OBJ(1, struct fid_domain); return 0; }
static int f_endpoint(struct fid_domain *d, struct fi_info *i, struct fid_ep **o) { (void)d; (void)i; *o = OBJ(2, struct fid_ep); return 0; }
static int f_av_open(struct fid_domain *d, struct fi_av_attr *a, struct fid_av **o) { (void)d; (void)a; *o = OBJ(3, struct fid_av); return 0; }
static int f_cq_open(struct fid_domain *d, struct fi_cq_attr *a, struct fid_cq **o) { (void)d; (void)a; *o = OBJ(4, struct fid_cq); return 0; }
static int f_ep_bind(struct fid_ep *e, struct fid *o, uint64_t fl) { (void)e; (void)o; (void)fl; return 0; }
static int f_enable(struct fid_ep *e) { (void)e; return 0; }

static int f_getname(struct fid_ep *e, void *addr, size_t *len)
{
	(void)e;
	memset(addr, 0xEF, 32);	/* EFA addresses are 32 bytes */
	*len = 32;
	return 0;
}

static int f_av_insert(struct fid_av *av, const void *addr, fi_addr_t *out)
{
	(void)av;
	(void)addr;
	*out = 7;
	return F.av_insert_ret;
}

static int f_av_remove(struct fid_av *av, fi_addr_t a) { (void)av; (void)a; F.av_removes++; return 0; }

static int f_mr_regattr(struct fid_domain *d, const struct fi_mr_attr *a, uint64_t fl,
			struct fid_mr **mr)
{
	(void)d;
	(void)fl;
	F.regs++;
	F.requested_key = a->requested_key;
	*mr = OBJ(5, struct fid_mr);
	return 0;
}

static int f_mr_bind(struct fid_mr *m, struct fid_ep *e) { (void)m; (void)e; F.binds++; return 0; }
static int f_mr_enable(struct fid_mr *m) { (void)m; F.enables++; return 0; }
static uint64_t f_mr_key(struct fid_mr *m) { (void)m; return 0x1234567890ULL; }
static void *f_mr_desc(struct fid_mr *m) { (void)m; return F.objs[6]; }
static int f_close(struct fid *o) { (void)o; F.closes++; return 0; }

static ssize_t f_rma(struct fid_ep *e, const struct fi_msg_rma *msg, uint64_t fl)
{
	(void)e;
	F.last_flags = fl;
	F.last_data = msg->data;
	/* EFA with FI_MR_LOCAL: every post carries the registration's desc. */
	if (F.mr_mode & FI_MR_LOCAL)
		ASSERT_TRUE(msg->desc && msg->desc[0] == F.objs[6]);
	if (F.eagain_left > 0) {
		F.eagain_left--;
		return -FI_EAGAIN;
	}
	F.writes++;
	F.posted[F.nposted++] = msg->context;
	return 0;
}

static ssize_t f_cq_read(struct fid_cq *cq, struct fi_cq_data_entry *buf, size_t count)
{
	(void)cq;
	if (F.remote_n > 0) {
		/* A peer's write with remote CQ data: no context of ours. */
		F.remote_n--;
		memset(buf, 0, sizeof(*buf));
		buf->flags = FI_RMA | FI_REMOTE_WRITE | FI_REMOTE_CQ_DATA;
		buf->data = F.remote_data;
		return 1;
	}
	if (F.err_next && (F.err_no_ctx || F.reaped < F.nposted))
		return -FI_EAVAIL;
	if (F.reaped >= F.nposted - F.hold)
		return -FI_EAGAIN;
	memset(buf, 0, sizeof(*buf));
	buf->op_context = F.posted[F.reaped++];
	(void)count;
	return 1;
}

static ssize_t f_cq_readerr(struct fid_cq *cq, struct fi_cq_err_entry *e)
{
	(void)cq;
	e->op_context = F.err_no_ctx ? NULL : F.posted[F.reaped++];
	e->err = F.err_next;
	F.err_next = 0;
	return 1;
}

static int f_cq_wait_fd(struct fid_cq *cq, int *fd) { (void)cq; *fd = -1; return -FI_ENOSYS; }
static int f_trywait(struct fid_fabric *f, struct fid_cq *cq) { (void)f; (void)cq; return 0; }

static const struct mcx_fab_calls fake_calls = {
	.getinfo = f_getinfo, .freeinfo = f_freeinfo, .fabric = f_fabric, .domain = f_domain,
	.endpoint = f_endpoint, .av_open = f_av_open, .cq_open = f_cq_open, .ep_bind = f_ep_bind,
	.enable = f_enable, .getname = f_getname, .av_insert = f_av_insert,
	.av_remove = f_av_remove, .mr_regattr = f_mr_regattr, .mr_bind = f_mr_bind,
	.mr_enable = f_mr_enable, .mr_key = f_mr_key, .mr_desc = f_mr_desc, .close = f_close,
	.readmsg = f_rma, .writemsg = f_rma, .cq_read = f_cq_read, .cq_readerr = f_cq_readerr,
	.cq_wait_fd = f_cq_wait_fd, .trywait = f_trywait,
};

static struct mcx_tp_dev *open_efa(int mr_mode, struct mcx_tp_dev_attr *attr)
{
	struct mcx_tp_config cfg = { .fabric_provider = "efa", .stripe_min = 2 << 20 };
	struct mcx_tp_dev *dev = NULL;
	uint32_t n = 0;

	memset(&F, 0, sizeof(F));
	F.mr_mode = mr_mode;
	F.av_insert_ret = 1;
	mcx__fab_calls_override = &fake_calls;
	ASSERT_ERR(mcx__fabric_transport.open(&cfg, &dev, attr, 1, &n), 0);
	mcx__fab_calls_override = NULL;
	ASSERT_EQ(n, 1u);
	return dev;
}

static int done_count, last_status;
static void *last_ctx;

static void on_done(void *arg, void *ctx, int status)
{
	(void)arg;
	done_count++;
	last_ctx = ctx;
	last_status = status;
}

/* A path to a peer whose address blob is the stand-in's own. */
static struct mcx_tp_path *open_path(struct mcx_tp_dev *dev, const struct mcx_tp_dev_attr *a)
{
	struct mcx_tp_path *p = NULL;
	uint8_t blob[MCX_TP_PATH_BLOB_MAX];
	uint32_t blen = 0;

	ASSERT_ERR(mcx__fabric_transport.path_open(dev, a->addr, a->addr_len, 0, NULL, 0, NULL,
						   &p, blob, &blen), 0);
	ASSERT_ERR(mcx__fabric_transport.path_connect(p, blob, blen), 0);
	return p;
}

TEST(fabric_efa_device_attributes)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY | FI_MR_ENDPOINT |
					  FI_MR_VIRT_ADDR, &a);

	ASSERT_STREQ(a.name, "efa_0");
	ASSERT_EQ(a.fabric, (uint32_t)MCX_TP_FABRIC_EFA);
	ASSERT_TRUE(a.caps & MCX_TP_CAP_RDM);
	ASSERT_TRUE(a.caps & MCX_TP_CAP_MANUAL_PROGRESS);
	ASSERT_TRUE(a.caps & MCX_TP_CAP_VIRT_ADDR);
	ASSERT_EQ(a.max_outstanding, 4u);	/* tx_attr->size */
	ASSERT_U64_EQ(a.stripe_min, 2 << 20);
	/* No wait fd: polled; arm says so. */
	ASSERT_EQ(mcx__fabric_transport.wait_fd(dev), -1);
	ASSERT_ERR(mcx__fabric_transport.arm(dev), -EAGAIN);
	mcx__fabric_transport.close(dev);
	ASSERT_EQ(F.closes, 5);		/* ep, av, cq, domain, fabric */
}

TEST(fabric_mr_local_prov_key_endpoint)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY | FI_MR_ENDPOINT, &a);
	struct mcx_tp_mr_req req = { .addr = 0x10000, .len = 4096, .dmabuf_fd = -1, .remote = true };
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;

	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &mr, &info), 0);
	ASSERT_EQ(F.regs, 1);
	ASSERT_U64_EQ(F.requested_key, 0);	/* the provider's key */
	ASSERT_EQ(F.binds, 1);			/* bound to the endpoint, then enabled */
	ASSERT_EQ(F.enables, 1);
	ASSERT_U64_EQ(info.rkey, 0x1234567890ULL);	/* all 64 bits travel */
	ASSERT_TRUE(info.desc != NULL);
	ASSERT_TRUE(!(a.caps & MCX_TP_CAP_VIRT_ADDR));	/* offsets */
	mcx__fabric_transport.mr_dereg(mr);
	/* dma-buf needs libfabric 1.20's FI_MR_DMABUF. */
	req.dmabuf_fd = 3;
	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &mr, &info), -EOPNOTSUPP);
	mcx__fabric_transport.close(dev);
}

TEST(fabric_requested_keys_without_prov_key)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev = open_efa(FI_MR_VIRT_ADDR, &a);
	struct mcx_tp_mr_req req = { .addr = 0x10000, .len = 4096, .dmabuf_fd = -1, .remote = true };
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *m1, *m2;
	uint64_t k1;

	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &m1, &info), 0);
	k1 = F.requested_key;
	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &m2, &info), 0);
	ASSERT_TRUE(k1 != 0 && F.requested_key != k1);	/* unique per domain */
	ASSERT_EQ(F.binds, 0);
	mcx__fabric_transport.mr_dereg(m1);
	mcx__fabric_transport.mr_dereg(m2);
	mcx__fabric_transport.close(dev);
}

TEST(fabric_eagain_storm_is_kept_and_reposted_in_order)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY | FI_MR_ENDPOINT, &a);
	struct mcx_tp_mr_req req = { .addr = 0x10000, .len = 4096, .dmabuf_fd = -1, .remote = true };
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;
	struct mcx_tp_path *p;
	struct mcx_tp_op op;
	int tags[5];

	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &mr, &info), 0);
	p = open_path(dev, &a);
	memset(&op, 0, sizeof(op));
	op.opcode = MCX_TP_WRITE;
	op.laddr = 0x10000;
	op.ldesc = info.desc;
	op.len = 64;
	op.rkey = info.rkey;
	F.eagain_left = 1000;		/* the provider says "again" for a long while */
	for (int i = 0; i < 4; i++) {
		op.ctx = &tags[i];
		ASSERT_EQ(mcx__fabric_transport.post(p, &op, 1), 1);	/* kept */
	}
	/* The in-flight cap (tx_attr->size) holds the kept ones too. */
	op.ctx = &tags[4];
	ASSERT_ERR(mcx__fabric_transport.post(p, &op, 1), -EAGAIN);
	ASSERT_EQ(mcx__fabric_transport.path_inflight(p), 4u);
	ASSERT_EQ(F.writes, 0);
	/* Progress tries again; nothing is lost or reordered once it passes. */
	while (F.eagain_left > 0)
		mcx__fabric_transport.progress(dev, 16, on_done, NULL, NULL, NULL);
	done_count = 0;
	for (int k = 0; k < 8 && done_count < 4; k++)
		mcx__fabric_transport.progress(dev, 16, on_done, NULL, NULL, NULL);
	ASSERT_EQ(F.writes, 4);
	ASSERT_EQ(done_count, 4);
	ASSERT_TRUE(last_ctx == &tags[3] && last_status == 0);
	ASSERT_EQ(mcx__fabric_transport.dev_inflight(dev), 0u);
	mcx__fabric_transport.path_close(p, NULL, NULL);
	ASSERT_EQ(F.av_removes, 1);
	mcx__fabric_transport.mr_dereg(mr);
	mcx__fabric_transport.close(dev);
}

static int unreaped_count;
static void on_unreaped(void *arg, void *ctx) { (void)arg; (void)ctx; unreaped_count++; }

TEST(fabric_completion_errors_and_closed_paths)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY | FI_MR_ENDPOINT, &a);
	struct mcx_tp_mr_req req = { .addr = 0x10000, .len = 4096, .dmabuf_fd = -1, .remote = true };
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;
	struct mcx_tp_path *p;
	struct mcx_tp_op op;
	int tag;

	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &mr, &info), 0);
	p = open_path(dev, &a);
	memset(&op, 0, sizeof(op));
	op.opcode = MCX_TP_READ;
	op.ldesc = info.desc;
	op.len = 8;
	op.ctx = &tag;
	/* A refused key is the request's fault (-EFAULT), a lost peer -ETIMEDOUT. */
	ASSERT_EQ(mcx__fabric_transport.post(p, &op, 1), 1);
	F.err_next = FI_EACCES;
	done_count = 0;
	mcx__fabric_transport.progress(dev, 16, on_done, NULL, NULL, NULL);
	ASSERT_EQ(done_count, 1);
	ASSERT_EQ(last_status, -EFAULT);
	ASSERT_EQ(mcx__fabric_transport.post(p, &op, 1), 1);
	F.err_next = FI_ETIMEDOUT;
	mcx__fabric_transport.progress(dev, 16, on_done, NULL, NULL, NULL);
	ASSERT_EQ(last_status, -ETIMEDOUT);
	/* A lost connection stops the path: it takes nothing more. */
	ASSERT_ERR(mcx__fabric_transport.post(p, &op, 1), -ENOTCONN);
	mcx__fabric_transport.path_close(p, NULL, NULL);
	ASSERT_EQ(F.av_removes, 1);
	/* Closed with work in flight: the context comes back once, never as a completion. */
	p = open_path(dev, &a);
	ASSERT_EQ(mcx__fabric_transport.post(p, &op, 1), 1);
	mcx__fabric_transport.path_stop(p);
	ASSERT_ERR(mcx__fabric_transport.post(p, &op, 1), -ENOTCONN);
	unreaped_count = 0;
	mcx__fabric_transport.path_close(p, on_unreaped, NULL);
	ASSERT_EQ(unreaped_count, 1);
	ASSERT_EQ(F.av_removes, 1);	/* the zombie still holds the AV entry */
	done_count = 0;
	mcx__fabric_transport.progress(dev, 16, on_done, NULL, NULL, NULL);
	ASSERT_EQ(done_count, 0);
	ASSERT_EQ(F.av_removes, 2);
	ASSERT_EQ(mcx__fabric_transport.dev_inflight(dev), 0u);
	mcx__fabric_transport.mr_dereg(mr);
	mcx__fabric_transport.close(dev);
}

/*
 * What a failed connection leaves behind on an RDM provider (ofi_rxm):
 * one error completion, and the rest of the operations on it never
 * complete.  Every context comes back exactly once (the failed one with
 * its error, the others flushed), so the engine retries them elsewhere;
 * whatever the provider reports for them later is dropped.
 */
#define FAIL_OPS 4			/* the stand-in's tx_attr->size */
static int fail_tags[FAIL_OPS + 1], fail_seen[FAIL_OPS + 1], fail_status[FAIL_OPS + 1];

static void on_done_each(void *arg, void *ctx, int status)
{
	int i = (int)((int *)ctx - fail_tags);

	(void)arg;
	ASSERT_TRUE(i >= 0 && i <= FAIL_OPS);
	fail_seen[i]++;
	fail_status[i] = status;
}

/* Post ops n of them on p, contexts fail_tags[first...]. */
static void post_tagged(struct mcx_tp_path *p, void *desc, int first, int n)
{
	struct mcx_tp_op op;

	memset(&op, 0, sizeof(op));
	op.opcode = MCX_TP_WRITE;
	op.ldesc = desc;
	op.len = 8;
	for (int i = first; i < first + n; i++) {
		op.ctx = &fail_tags[i];
		ASSERT_EQ(mcx__fabric_transport.post(p, &op, 1), 1);
	}
}

/* A path to another remote endpoint than the stand-in's own address. */
static struct mcx_tp_path *open_other(struct mcx_tp_dev *dev, const struct mcx_tp_dev_attr *a)
{
	struct mcx_tp_path *p = NULL;
	uint8_t blob[MCX_TP_PATH_BLOB_MAX], addr[MCX_TP_ADDR_MAX], name[32];
	const uint8_t *own;
	uint32_t prov_id, own_len, blen = 0, alen;

	ASSERT_ERR(mcx__fab_addr_unpack(a->addr, a->addr_len, &prov_id, &own, &own_len), 0);
	memset(name, 0xAB, sizeof(name));
	alen = mcx__fab_addr_pack(prov_id, name, sizeof(name), addr);
	ASSERT_ERR(mcx__fabric_transport.path_open(dev, addr, alen, 0, NULL, 0, NULL, &p, blob,
						   &blen), 0);
	ASSERT_ERR(mcx__fabric_transport.path_connect(p, blob, blen), 0);
	return p;
}

TEST(fabric_failed_connection_hands_back_every_operation_once)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY | FI_MR_ENDPOINT, &a);
	struct mcx_tp_mr_req req = { .addr = 0x10000, .len = 4096, .dmabuf_fd = -1, .remote = true };
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;
	struct mcx_tp_path *p, *twin, *other;

	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &mr, &info), 0);
	p = open_path(dev, &a);
	twin = open_path(dev, &a);	/* the other direction: the same AV entry */
	other = open_other(dev, &a);
	memset(fail_seen, 0, sizeof(fail_seen));
	post_tagged(p, info.desc, 0, 2);
	post_tagged(twin, info.desc, 2, 1);
	post_tagged(other, info.desc, 3, 1);
	ASSERT_EQ(mcx__fabric_transport.path_inflight(p), 2u);
	/* The first fails, the connection with it; the next two never complete. */
	F.err_next = FI_ETIMEDOUT;
	F.hold = 3;
	for (int k = 0; k < 4; k++)
		mcx__fabric_transport.progress(dev, 16, on_done_each, NULL, NULL, NULL);
	ASSERT_EQ(fail_seen[0], 1);
	ASSERT_EQ(fail_status[0], -ETIMEDOUT);
	ASSERT_EQ(fail_seen[1], 1);
	ASSERT_EQ(fail_status[1], -ECANCELED);
	ASSERT_EQ(fail_seen[2], 1);		/* the twin's: the same connection */
	ASSERT_EQ(fail_status[2], -ECANCELED);
	ASSERT_EQ(fail_seen[3], 0);		/* another peer's: still in flight */
	ASSERT_EQ(mcx__fabric_transport.path_inflight(p), 0u);
	ASSERT_EQ(mcx__fabric_transport.path_inflight(twin), 0u);
	ASSERT_EQ(mcx__fabric_transport.path_inflight(other), 1u);
	ASSERT_U64_EQ(mcx__fab_flushed_count(dev), 2);
	ASSERT_ERR(mcx__fabric_transport.post(p, &(struct mcx_tp_op){ .opcode = MCX_TP_WRITE,
		   .ldesc = info.desc, .len = 8 }, 1), -ENOTCONN);
	ASSERT_ERR(mcx__fabric_transport.post(twin, &(struct mcx_tp_op){ .opcode = MCX_TP_WRITE,
		   .ldesc = info.desc, .len = 8 }, 1), -ENOTCONN);
	/* The provider may still hold the flushed ones: their slots stay taken. */
	ASSERT_EQ(mcx__fabric_transport.dev_inflight(dev), 3u);
	/* Closing hands back nothing twice. */
	unreaped_count = 0;
	mcx__fabric_transport.path_close(p, on_unreaped, NULL);
	mcx__fabric_transport.path_close(twin, on_unreaped, NULL);
	ASSERT_EQ(unreaped_count, 0);
	/* Late completions of the flushed ones (and the other's): only the other's is delivered. */
	F.hold = 0;
	for (int k = 0; k < 4; k++)
		mcx__fabric_transport.progress(dev, 16, on_done_each, NULL, NULL, NULL);
	ASSERT_EQ(fail_seen[0], 1);
	ASSERT_EQ(fail_seen[1], 1);
	ASSERT_EQ(fail_seen[2], 1);
	ASSERT_EQ(fail_seen[3], 1);
	ASSERT_EQ(fail_status[3], 0);
	ASSERT_EQ(mcx__fabric_transport.dev_inflight(dev), 0u);
	/* Every slot is free again: a full window fits. */
	post_tagged(other, info.desc, 0, FAIL_OPS);
	ASSERT_EQ(mcx__fabric_transport.path_inflight(other), (uint32_t)FAIL_OPS);
	for (int k = 0; k < 4; k++)
		mcx__fabric_transport.progress(dev, 16, on_done_each, NULL, NULL, NULL);
	ASSERT_EQ(mcx__fabric_transport.path_inflight(other), 0u);
	mcx__fabric_transport.path_close(other, NULL, NULL);
	mcx__fabric_transport.mr_dereg(mr);
	mcx__fabric_transport.close(dev);
}

TEST(fabric_stopped_path_hands_back_its_work_in_progress)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY | FI_MR_ENDPOINT, &a);
	struct mcx_tp_mr_req req = { .addr = 0x10000, .len = 4096, .dmabuf_fd = -1, .remote = true };
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;
	struct mcx_tp_path *p;

	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &mr, &info), 0);
	p = open_path(dev, &a);
	memset(fail_seen, 0, sizeof(fail_seen));
	post_tagged(p, info.desc, 0, 3);
	F.hold = 3;		/* none of them ever completes by itself */
	mcx__fabric_transport.path_stop(p);
	/* Progress owes the caller the flush: arm says so rather than sleep. */
	ASSERT_ERR(mcx__fabric_transport.arm(dev), -EAGAIN);
	ASSERT_EQ(mcx__fabric_transport.progress(dev, 16, on_done_each, NULL, NULL, NULL), 3);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(fail_seen[i], 1);
		ASSERT_EQ(fail_status[i], -ECANCELED);
	}
	ASSERT_EQ(mcx__fabric_transport.path_inflight(p), 0u);
	unreaped_count = 0;
	mcx__fabric_transport.path_close(p, on_unreaped, NULL);
	ASSERT_EQ(unreaped_count, 0);
	ASSERT_EQ(F.av_removes, 0);	/* a zombie until the provider lets go */
	F.hold = 0;
	for (int k = 0; k < 4; k++)
		mcx__fabric_transport.progress(dev, 16, on_done_each, NULL, NULL, NULL);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(fail_seen[i], 1);
	ASSERT_EQ(F.av_removes, 1);
	ASSERT_EQ(mcx__fabric_transport.dev_inflight(dev), 0u);
	mcx__fabric_transport.mr_dereg(mr);
	mcx__fabric_transport.close(dev);
}

TEST(fabric_failure_naming_no_operation_fails_every_path)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY | FI_MR_ENDPOINT, &a);
	struct mcx_tp_mr_req req = { .addr = 0x10000, .len = 4096, .dmabuf_fd = -1, .remote = true };
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;
	struct mcx_tp_path *p, *other;

	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &mr, &info), 0);
	p = open_path(dev, &a);
	other = open_other(dev, &a);
	memset(fail_seen, 0, sizeof(fail_seen));
	post_tagged(p, info.desc, 0, 2);
	post_tagged(other, info.desc, 2, 1);
	/* ofi_rxm's way: one error without a context, then silence. */
	F.hold = 3;
	F.err_next = FI_ECONNRESET;
	F.err_no_ctx = true;
	log_capture();
	for (int k = 0; k < 4; k++)
		mcx__fabric_transport.progress(dev, 16, on_done_each, NULL, NULL, NULL);
	mcx__log_init();
	ASSERT_CONTAINS(captured_log, "every path of this device fails");
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(fail_seen[i], 1);
		ASSERT_EQ(fail_status[i], -ECANCELED);
	}
	ASSERT_EQ(mcx__fabric_transport.path_inflight(p), 0u);
	ASSERT_EQ(mcx__fabric_transport.path_inflight(other), 0u);
	F.err_no_ctx = false;
	F.hold = 0;
	for (int k = 0; k < 4; k++)
		mcx__fabric_transport.progress(dev, 16, on_done_each, NULL, NULL, NULL);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(fail_seen[i], 1);
	ASSERT_EQ(mcx__fabric_transport.dev_inflight(dev), 0u);
	mcx__fabric_transport.path_close(p, NULL, NULL);
	mcx__fabric_transport.path_close(other, NULL, NULL);
	mcx__fabric_transport.mr_dereg(mr);
	mcx__fabric_transport.close(dev);
}

TEST(fabric_av_insert_failure_and_foreign_addresses)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY | FI_MR_ENDPOINT, &a);
	struct mcx_tp_path *p = NULL;
	uint8_t blob[MCX_TP_PATH_BLOB_MAX], other[MCX_TP_ADDR_MAX];
	uint32_t blen = 0, olen;

	F.av_insert_ret = -FI_EINVAL;
	log_capture();
	ASSERT_ERR(mcx__fabric_transport.path_open(dev, a.addr, a.addr_len, 0, NULL, 0, NULL, &p,
						   blob, &blen), -EHOSTUNREACH);
	mcx__log_init();
	ASSERT_TRUE(p == NULL);
	ASSERT_CONTAINS(captured_log, "fi_av_insert");
	F.av_insert_ret = 1;
	/* Another provider's address, and a blob that is not one. */
	olen = mcx__fab_addr_pack(mcx__fab_prov_id("tcp;ofi_rxm"), "x", 1, other);
	log_capture();
	ASSERT_ERR(mcx__fabric_transport.path_open(dev, other, olen, 0, NULL, 0, NULL, &p, blob,
						   &blen), -EPROTONOSUPPORT);
	mcx__log_init();
	ASSERT_ERR(mcx__fabric_transport.path_open(dev, other, 3, 0, NULL, 0, NULL, &p, blob,
						   &blen), -EINVAL);
	/* A path answering a blob that is not ours. */
	memset(blob, 0, sizeof(blob));
	ASSERT_ERR(mcx__fabric_transport.path_open(dev, a.addr, a.addr_len, MCX_TP_PATH_TARGET,
						   blob, 8, NULL, &p, blob, &blen), -EINVAL);
	mcx__fabric_transport.close(dev);
}

static int notes;
static void *note_owner;
static uint32_t note_tag;

static void on_notify(void *arg, void *owner, uint32_t tag)
{
	(void)arg;
	notes++;
	note_owner = owner;
	note_tag = tag;
}

/* A path to the stand-in itself, with owner (its blob's token is its own). */
static struct mcx_tp_path *open_owned(struct mcx_tp_dev *dev, const struct mcx_tp_dev_attr *a,
				      void *owner)
{
	struct mcx_tp_path *p = NULL;
	uint8_t blob[MCX_TP_PATH_BLOB_MAX];
	uint32_t blen = 0;

	ASSERT_ERR(mcx__fabric_transport.path_open(dev, a->addr, a->addr_len, 0, NULL, 0, owner,
						   &p, blob, &blen), 0);
	ASSERT_ERR(mcx__fabric_transport.path_connect(p, blob, blen), 0);
	return p;
}

TEST(fabric_without_8_bytes_of_remote_cq_data_refuses_notifications)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev;
	struct mcx_tp_mr_req req = { .addr = 0x10000, .len = 4096, .dmabuf_fd = -1, .remote = true };
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;
	struct mcx_tp_path *p;
	struct mcx_tp_op op;
	int tag;

	fake_cq_data_size = 4;	/* EFA's: no room for the source next to the tag */
	dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY, &a);
	ASSERT_EQ(a.caps & MCX_TP_CAP_WRITE_IMM, 0u);
	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &mr, &info), 0);
	p = open_owned(dev, &a, &tag);
	memset(&op, 0, sizeof(op));
	op.opcode = MCX_TP_WRITE_IMM;
	op.imm = 5;
	op.laddr = 0x10000;
	op.ldesc = info.desc;
	op.rkey = info.rkey;
	op.ctx = &tag;
	/* Said, not lost: nothing reaches the provider, nothing is in flight. */
	ASSERT_ERR(mcx__fabric_transport.post(p, &op, 1), -EOPNOTSUPP);
	ASSERT_EQ(F.writes, 0);
	ASSERT_EQ(mcx__fabric_transport.path_inflight(p), 0u);
	/* The path still takes plain writes. */
	op.opcode = MCX_TP_WRITE;
	op.len = 8;
	ASSERT_EQ(mcx__fabric_transport.post(p, &op, 1), 1);
	ASSERT_EQ(F.writes, 1);
	ASSERT_EQ(F.last_flags & FI_REMOTE_CQ_DATA, 0u);
	/* A peer's write with CQ data arriving anyway is dropped and counted. */
	F.remote_n = 1;
	F.remote_data = 5;
	notes = 0;
	for (int k = 0; k < 4; k++)
		mcx__fabric_transport.progress(dev, 16, on_done, on_notify, NULL, NULL);
	ASSERT_EQ(notes, 0);
	ASSERT_U64_EQ(mcx__fab_notify_dropped(dev), 1);
	mcx__fabric_transport.path_close(p, NULL, NULL);
	mcx__fabric_transport.mr_dereg(mr);
	mcx__fabric_transport.close(dev);
}

TEST(fabric_notifications_name_their_path_and_unknown_sources_are_dropped)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev;
	struct mcx_tp_mr_req req = { .addr = 0x10000, .len = 4096, .dmabuf_fd = -1, .remote = true };
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;
	struct mcx_tp_path *p;
	struct mcx_tp_op op;
	uint64_t sent;
	int owner, tag;

	fake_cq_data_size = 8;
	dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY, &a);
	fake_cq_data_size = 4;
	ASSERT_TRUE(a.caps & MCX_TP_CAP_WRITE_IMM);
	ASSERT_ERR(mcx__fabric_transport.mr_reg(dev, &req, &mr, &info), 0);
	p = open_owned(dev, &a, &owner);
	memset(&op, 0, sizeof(op));
	op.opcode = MCX_TP_WRITE_IMM;	/* a bare notification: no bytes */
	op.imm = 0xABCD1234U;
	op.laddr = 0x10000;
	op.ldesc = info.desc;
	op.rkey = info.rkey;
	op.ctx = &tag;
	ASSERT_EQ(mcx__fabric_transport.post(p, &op, 1), 1);
	ASSERT_TRUE(F.last_flags & FI_REMOTE_CQ_DATA);
	sent = F.last_data;
	ASSERT_U64_EQ(sent & 0xffffffffU, 0xABCD1234U);
	ASSERT_TRUE(sent >> 32 != 0);	/* the token the other side gave */
	done_count = 0;
	for (int k = 0; k < 4 && done_count < 1; k++)
		mcx__fabric_transport.progress(dev, 16, on_done, on_notify, NULL, NULL);
	ASSERT_EQ(done_count, 1);

	/* Arriving here (the stand-in is its own peer): the path's owner. */
	notes = 0;
	F.remote_n = 1;
	F.remote_data = sent;
	mcx__fabric_transport.progress(dev, 16, on_done, on_notify, NULL, NULL);
	ASSERT_EQ(notes, 1);
	ASSERT_TRUE(note_owner == &owner);
	ASSERT_EQ(note_tag, 0xABCD1234U);
	ASSERT_U64_EQ(mcx__fab_notify_dropped(dev), 0);

	/* A token naming no path, and none at all: dropped, counted, no crash. */
	F.remote_n = 1;
	F.remote_data = (sent ^ (0x5A5AULL << 32)) | 0;
	mcx__fabric_transport.progress(dev, 16, on_done, on_notify, NULL, NULL);
	F.remote_n = 1;
	F.remote_data = 7;
	mcx__fabric_transport.progress(dev, 16, on_done, on_notify, NULL, NULL);
	ASSERT_EQ(notes, 1);
	ASSERT_U64_EQ(mcx__fab_notify_dropped(dev), 2);

	/* The path's own token once it is closed: unknown too. */
	mcx__fabric_transport.path_close(p, NULL, NULL);
	F.remote_n = 1;
	F.remote_data = sent;
	mcx__fabric_transport.progress(dev, 16, on_done, on_notify, NULL, NULL);
	ASSERT_EQ(notes, 1);
	ASSERT_U64_EQ(mcx__fab_notify_dropped(dev), 3);
	mcx__fabric_transport.mr_dereg(mr);
	mcx__fabric_transport.close(dev);
}

TEST(fabric_warmup_probes_each_path_once_and_reports_failures)
{
	struct mcx_tp_dev_attr a;
	struct mcx_tp_dev *dev = open_efa(FI_MR_LOCAL | FI_MR_PROV_KEY | FI_MR_ENDPOINT, &a);
	struct mcx_tp_path *p, *p2;

	done_count = 0;
	p = open_path(dev, &a);
	/* The probe region: registered once, with the first path, bound as EFA wants. */
	ASSERT_EQ(F.regs, 1);
	ASSERT_EQ(F.binds, 1);
	ASSERT_TRUE(!mcx__fabric_transport.path_is_warm(p));
	/* EFA answers "again" while its handshake with a new peer runs: kept. */
	F.eagain_left = 3;
	ASSERT_ERR(mcx__fabric_transport.path_warm(p), -EINPROGRESS);
	ASSERT_EQ(F.writes, 0);
	ASSERT_ERR(mcx__fabric_transport.path_warm(p), -EINPROGRESS);	/* no second probe */
	ASSERT_EQ(mcx__fabric_transport.path_inflight(p), 1u);
	for (int k = 0; k < 16 && mcx__fabric_transport.path_warm(p) == -EINPROGRESS; k++)
		mcx__fabric_transport.progress(dev, 16, on_done, NULL, NULL, NULL);
	ASSERT_EQ(F.writes, 1);			/* one read, with the probe region's desc */
	ASSERT_EQ(done_count, 0);		/* the transport's own: nobody else hears of it */
	ASSERT_ERR(mcx__fabric_transport.path_warm(p), 0);
	ASSERT_TRUE(mcx__fabric_transport.path_is_warm(p));
	ASSERT_EQ(F.writes, 1);			/* warm: not probed again */
	ASSERT_EQ(mcx__fabric_transport.dev_inflight(dev), 0u);

	/* A probe that fails says so once; the next warm-up probes again. */
	p2 = open_path(dev, &a);
	ASSERT_EQ(F.regs, 1);
	ASSERT_ERR(mcx__fabric_transport.path_warm(p2), -EINPROGRESS);
	F.err_next = FI_ECONNREFUSED;
	for (int k = 0; k < 4; k++)
		mcx__fabric_transport.progress(dev, 16, on_done, NULL, NULL, NULL);
	ASSERT_TRUE(!mcx__fabric_transport.path_is_warm(p2));
	ASSERT_ERR(mcx__fabric_transport.path_warm(p2), -ECONNRESET);
	ASSERT_ERR(mcx__fabric_transport.path_warm(p2), -EINPROGRESS);	/* said above: again */
	ASSERT_EQ(F.writes, 3);
	for (int k = 0; k < 16 && mcx__fabric_transport.path_warm(p2) == -EINPROGRESS; k++)
		mcx__fabric_transport.progress(dev, 16, on_done, NULL, NULL, NULL);
	ASSERT_ERR(mcx__fabric_transport.path_warm(p2), 0);
	ASSERT_EQ(done_count, 0);
	mcx__fabric_transport.path_close(p, NULL, NULL);
	mcx__fabric_transport.path_close(p2, NULL, NULL);
	F.closes = 0;
	mcx__fabric_transport.close(dev);
	ASSERT_EQ(F.closes, 6);		/* the probe region, ep, av, cq, domain, fabric */
}

TEST(fabric_provider_choice)
{
	char prov[32];

	log_capture();
	ASSERT_ERR(mcx__fab_pick_provider(&fake_calls, "auto", prov, sizeof(prov)), 0);
	ASSERT_STREQ(prov, "efa");
	ASSERT_ERR(mcx__fab_pick_provider(&fake_calls, "tcp;ofi_rxm", prov, sizeof(prov)),
		   -ENODEV);
	mcx__log_init();
	ASSERT_CONTAINS(captured_log, "tcp;ofi_rxm");
}

TEST(config_transport_options_from_env_and_checked)
{
	struct mcx_engine_opts o;
	struct mcx__opts_store store;

	mcx_engine_opts_init(&o);
	ASSERT_EQ(o.transport, MCX_TRANSPORT_AUTO);
	ASSERT_U64_EQ(o.fabric_stripe_min, 2 << 20);
	setenv("MCX_TRANSPORT", "fabric", 1);
	setenv("MCX_FABRIC_PROVIDER", "tcp;ofi_rxm", 1);
	setenv("MCX_FABRIC_STRIPE_MIN", "4M", 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_EQ(o.transport, MCX_TRANSPORT_FABRIC);
	ASSERT_STREQ(o.fabric_provider, "tcp;ofi_rxm");
	ASSERT_U64_EQ(o.fabric_stripe_min, 4 << 20);
	ASSERT_TRUE(mcx__engine_pick_transport(&o) == &mcx__fabric_transport);
	o.transport = MCX_TRANSPORT_VERBS;
	ASSERT_TRUE(mcx__engine_pick_transport(&o) == &mcx__verbs_transport);

	setenv("MCX_TRANSPORT", "rdm", 1);
	log_capture();
	ASSERT_ERR(mcx__opts_from_env(&o, &store), -EINVAL);
	mcx__log_init();
	ASSERT_CONTAINS(captured_log, "MCX_TRANSPORT");
	unsetenv("MCX_TRANSPORT");
	setenv("MCX_FABRIC_PROVIDER", "tcp ofi", 1);
	log_capture();
	ASSERT_ERR(mcx__opts_from_env(&o, &store), -EINVAL);
	mcx__log_init();
	ASSERT_CONTAINS(captured_log, "MCX_FABRIC_PROVIDER");
	unsetenv("MCX_FABRIC_PROVIDER");
	setenv("MCX_FABRIC_STRIPE_MIN", "2G", 1);
	log_capture();
	ASSERT_ERR(mcx__opts_from_env(&o, &store), -ERANGE);
	mcx__log_init();
	ASSERT_CONTAINS(captured_log, "MCX_FABRIC_STRIPE_MIN");
	unsetenv("MCX_FABRIC_STRIPE_MIN");

	/* Completion threads: 0 (the application's progress) .. 16, strictly. */
	mcx_engine_opts_init(&o);
	ASSERT_EQ(o.fabric_cq_threads, 1u);
	setenv("MCX_FABRIC_CQ_THREADS", "0", 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_EQ(o.fabric_cq_threads, 0u);
	setenv("MCX_FABRIC_CQ_THREADS", "2", 1);
	ASSERT_ERR(mcx__opts_from_env(&o, &store), 0);
	ASSERT_EQ(o.fabric_cq_threads, 2u);
	setenv("MCX_FABRIC_CQ_THREADS", "2 threads", 1);
	log_capture();
	ASSERT_ERR(mcx__opts_from_env(&o, &store), -EINVAL);
	mcx__log_init();
	ASSERT_CONTAINS(captured_log, "MCX_FABRIC_CQ_THREADS");
	setenv("MCX_FABRIC_CQ_THREADS", "17", 1);
	log_capture();
	ASSERT_TRUE(mcx__opts_from_env(&o, &store) < 0);
	mcx__log_init();
	ASSERT_CONTAINS(captured_log, "MCX_FABRIC_CQ_THREADS");
	setenv("MCX_FABRIC_CQ_THREADS", "-1", 1);
	ASSERT_TRUE(mcx__opts_from_env(&o, &store) < 0);
	unsetenv("MCX_FABRIC_CQ_THREADS");
	mcx_engine_opts_init(&o);
	o.fabric_cq_threads = 17;
	log_capture();
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
	mcx__log_init();
	ASSERT_CONTAINS(captured_log, "fabric_cq_threads");

	mcx_engine_opts_init(&o);
	o.transport = 3;
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
	o.transport = MCX_TRANSPORT_FABRIC;
	o.fabric_provider = ";tcp";
	ASSERT_ERR(mcx__opts_validate(&o), -EINVAL);
}

/*
 * mcx_fabric_query() (what mcxfer-tool devices lists) on the EFA stand-in:
 * auto finds efa first; the domain's mr_mode by name, unknown bits in hex;
 * its limits; FI_HMEM from the second query; a provider that offers
 * nothing; and bad names, from the argument or MCX_FABRIC_PROVIDER.
 */
TEST(fabric_query_lists_what_an_engine_would_open)
{
	struct mcx_fabric_info *in = NULL;

	log_capture();
	memset(&F, 0, sizeof(F));
	F.mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ENDPOINT | (1 << 20);
	F.hmem = true;
	mcx__fab_calls_override = &fake_calls;
	unsetenv("MCX_FABRIC_PROVIDER");

	ASSERT_ERR(mcx_fabric_query(NULL, &in), 0);
	ASSERT_STREQ(in->requested, "auto");
	ASSERT_STREQ(in->provider, "efa");
	ASSERT_EQ(in->version, fi_version());
	ASSERT_EQ(in->nr_domains, 1u);
	ASSERT_STREQ(in->domains[0].domain, "efa_0");
	ASSERT_STREQ(in->domains[0].fabric, "efa");
	ASSERT_STREQ(in->domains[0].address, "");
	ASSERT_U64_EQ(in->domains[0].mr_mode, (uint64_t)F.mr_mode);
	ASSERT_STREQ(in->domains[0].mr_mode_names,
		     "FI_MR_LOCAL|FI_MR_VIRT_ADDR|FI_MR_PROV_KEY|FI_MR_ENDPOINT|0x100000");
	ASSERT_U64_EQ(in->domains[0].max_msg_size, 1ULL << 30);
	ASSERT_U64_EQ(in->domains[0].tx_size, 4);
	ASSERT_U64_EQ(in->domains[0].max_mr_size, 0);
	ASSERT_EQ(in->domains[0].mr_key_size, 8u);
	ASSERT_EQ(in->domains[0].hmem, 1);
	ASSERT_EQ(in->domains[0].used, 1);
	mcx_fabric_free(in);

	F.hmem = false;
	F.mr_mode = 0;
	ASSERT_ERR(mcx_fabric_query("efa", &in), 0);
	ASSERT_STREQ(in->requested, "efa");
	ASSERT_EQ(in->domains[0].hmem, 0);
	ASSERT_STREQ(in->domains[0].mr_mode_names, "");
	mcx_fabric_free(in);

	/* The variable when no name is given; a provider with nothing is no error. */
	setenv("MCX_FABRIC_PROVIDER", "tcp;ofi_rxm", 1);
	ASSERT_ERR(mcx_fabric_query(NULL, &in), 0);
	ASSERT_STREQ(in->requested, "tcp;ofi_rxm");
	ASSERT_STREQ(in->provider, "");
	ASSERT_EQ(in->nr_domains, 0u);
	mcx_fabric_free(in);

	in = (struct mcx_fabric_info *)&F;
	setenv("MCX_FABRIC_PROVIDER", "efa!", 1);
	ASSERT_ERR(mcx_fabric_query(NULL, &in), -EINVAL);
	ASSERT_TRUE(in == NULL);
	ASSERT_CONTAINS(captured_log, "MCX_FABRIC_PROVIDER=\"efa!\": expected");
	/* An argument wins over the variable, and is named when bad. */
	ASSERT_ERR(mcx_fabric_query("efa", &in), 0);
	mcx_fabric_free(in);
	ASSERT_ERR(mcx_fabric_query(";efa", &in), -EINVAL);
	ASSERT_CONTAINS(captured_log, "provider=\";efa\": expected");
	ASSERT_ERR(mcx_fabric_query("", &in), -EINVAL);
	ASSERT_ERR(mcx_fabric_query("efa", NULL), -EINVAL);
	mcx_fabric_free(NULL);
	unsetenv("MCX_FABRIC_PROVIDER");
	mcx__fab_calls_override = NULL;
}
