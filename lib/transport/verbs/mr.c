// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registrations on one port: ibv_reg_mr for host memory, ibv_reg_dmabuf_mr
 * for a dma-buf range.  A registration that is not exported gets local
 * access only, so no peer can reach it even with a guessed key.
 *
 * In a shared device context (share.c) an MR lives in the context, not in
 * the engine that made it: another engine takes it by handle with
 * ibv_import_mr() and lets go of it with ibv_unimport_mr(); whoever
 * destroys it (ibv_dereg_mr()) destroys it for all of them.
 */
#include <errno.h>
#include <stdlib.h>

#include "transport/verbs/verbs.h"

struct mcx_vmr {
	struct mcx_nic *nic;
	struct ibv_mr *mr;
	bool imported;			/* from mr_import: not ours to destroy by default */
	uint32_t access;		/* IBV_ACCESS_* it was made with */
	uint64_t iova;			/* address it was registered at */
	uint64_t len;
};

#define REMOTE_ACCESS	(IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE)

int mcx__verbs_mr_reg(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		      struct mcx_tp_mr **out, struct mcx_tp_mr_info *info)
{
	struct mcx_nic *nic = (struct mcx_nic *)dev;
	int access = nic->mr_access;
	struct mcx_vmr *v;
	struct ibv_mr *mr;

	if (!req->remote)
		access &= ~REMOTE_ACCESS;
	if (nic->max_mr && atomic_load(&nic->nr_mrs) >= nic->max_mr)
		return -ENOSPC;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	errno = 0;
	atomic_fetch_add(&nic->reg_calls, 1);
	if (req->dmabuf_fd >= 0) {
#ifdef MCX_HAVE_IBV_REG_DMABUF_MR
		mr = ibv_reg_dmabuf_mr(nic->pd, req->dmabuf_offset, req->len, req->addr,
				       req->dmabuf_fd, access);
#else
		errno = EOPNOTSUPP;
		mr = NULL;
#endif
	} else {
		mr = ibv_reg_mr(nic->pd, (void *)(uintptr_t)req->addr, req->len, access);
	}
	if (!mr) {
		int ret = errno ? -errno : -ENOMEM;

		free(v);
		return ret;
	}
	v->nic = nic;
	v->mr = mr;
	v->access = (uint32_t)access;
	v->iova = req->addr;
	v->len = req->len;
	atomic_fetch_add(&nic->nr_mrs, 1);
	info->rkey = req->remote ? mr->rkey : 0;
	info->desc = mr;	/* a post reads the lkey from it */
	*out = (struct mcx_tp_mr *)v;
	return 0;
}

static void release(struct mcx_vmr *v, bool destroy)
{
	const struct mcx_verbs_calls *calls = v->nic->vctx.calls;

	if (!v->imported) {
		calls->dereg_mr(v->mr);
		atomic_fetch_sub(&v->nic->nr_mrs, 1);
	} else if (destroy) {
		calls->dereg_mr(v->mr);
	} else {
		calls->unimport_mr(v->mr);
	}
	free(v);
}

void mcx__verbs_mr_dereg(struct mcx_tp_mr *mr)
{
	if (mr)
		release((struct mcx_vmr *)mr, false);
}

void mcx__verbs_mr_destroy(struct mcx_tp_mr *mr)
{
	if (mr)
		release((struct mcx_vmr *)mr, true);
}

static bool shared(const struct mcx_nic *nic)
{
	return nic->vctx.state == MCX_TP_SHARE_PUBLISHED ||
	       nic->vctx.state == MCX_TP_SHARE_IMPORTED;
}

int mcx__verbs_mr_handle(struct mcx_tp_mr *mr, struct mcx_tp_mr_handle *out)
{
	struct mcx_vmr *v = (struct mcx_vmr *)mr;

	if (!shared(v->nic))
		return -EOPNOTSUPP;
	out->cmd_fd = v->nic->ctx->cmd_fd;
	out->pd_handle = v->nic->pd->handle;
	out->mr_handle = v->mr->handle;
	out->lkey = v->mr->lkey;
	out->rkey = v->mr->rkey;
	out->access = v->access;
	out->iova = v->iova;
	out->len = v->len;
	return 0;
}

int mcx__verbs_mr_import(struct mcx_tp_dev *dev, const struct mcx_tp_mr_handle *h, bool remote,
			 struct mcx_tp_mr **out, struct mcx_tp_mr_info *info)
{
	struct mcx_nic *nic = (struct mcx_nic *)dev;
	struct mcx_vmr *v;
	struct ibv_mr *mr;

	if (!shared(nic))
		return -EOPNOTSUPP;
	if (h->pd_handle != nic->pd->handle || !h->len ||
	    (remote && (h->access & REMOTE_ACCESS) != REMOTE_ACCESS))
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	errno = 0;
	mr = nic->vctx.calls->import_mr(nic->pd, h->mr_handle);
	if (!mr) {
		int ret = errno ? -errno : -EIO;

		free(v);
		return ret;
	}
	/*
	 * Handles are reused once an MR is destroyed: one that now names
	 * another MR must not be taken for the one published.
	 */
	if (mr->lkey != h->lkey || mr->rkey != h->rkey || mr->length != h->len) {
		nic->vctx.calls->unimport_mr(mr);
		free(v);
		return -EINVAL;
	}
	v->nic = nic;
	v->mr = mr;
	v->imported = true;
	v->access = h->access;
	v->iova = h->iova;
	v->len = h->len;
	info->rkey = remote ? mr->rkey : 0;
	info->desc = mr;
	*out = (struct mcx_tp_mr *)v;
	return 0;
}

int mcx__verbs_mr_destroy_handle(struct mcx_tp_dev *dev, uint32_t mr_handle)
{
	struct mcx_nic *nic = (struct mcx_nic *)dev;
	struct ibv_mr *mr;
	int ret;

	if (!shared(nic))
		return -EOPNOTSUPP;
	errno = 0;
	mr = nic->vctx.calls->import_mr(nic->pd, mr_handle);
	if (!mr)
		return errno ? -errno : -ENOENT;
	ret = nic->vctx.calls->dereg_mr(mr);
	if (ret) {
		/* The kernel kept it (a window is bound to it): let go of our copy. */
		nic->vctx.calls->unimport_mr(mr);
		return -ret;
	}
	return 0;
}

uint64_t mcx__verbs_mr_reg_calls(const struct mcx_tp_dev *dev)
{
	const struct mcx_nic *nic = (const struct mcx_nic *)dev;

	return atomic_load(&nic->reg_calls);
}
