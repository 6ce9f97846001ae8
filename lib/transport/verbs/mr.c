// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registrations on one port: ibv_reg_mr for host memory, ibv_reg_dmabuf_mr
 * for a dma-buf range.  A registration that is not exported gets local
 * access only, so no peer can reach it even with a guessed key.
 */
#include <errno.h>
#include <stdlib.h>

#include "transport/verbs/verbs.h"

struct mcx_vmr {
	struct mcx_nic *nic;
	struct ibv_mr *mr;
};

int mcx__verbs_mr_reg(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		      struct mcx_tp_mr **out, struct mcx_tp_mr_info *info)
{
	struct mcx_nic *nic = (struct mcx_nic *)dev;
	int access = nic->mr_access;
	struct mcx_vmr *v;
	struct ibv_mr *mr;

	if (!req->remote)
		access &= ~(IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE);
	if (nic->max_mr && atomic_load(&nic->nr_mrs) >= nic->max_mr)
		return -ENOSPC;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	errno = 0;
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
	atomic_fetch_add(&nic->nr_mrs, 1);
	info->rkey = req->remote ? mr->rkey : 0;
	info->desc = mr;	/* a post reads the lkey from it */
	*out = (struct mcx_tp_mr *)v;
	return 0;
}

void mcx__verbs_mr_dereg(struct mcx_tp_mr *mr)
{
	struct mcx_vmr *v = (struct mcx_vmr *)mr;

	if (!v)
		return;
	ibv_dereg_mr(v->mr);
	atomic_fetch_sub(&v->nic->nr_mrs, 1);
	free(v);
}
