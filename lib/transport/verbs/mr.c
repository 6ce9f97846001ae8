// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registrations on one port: ibv_reg_mr for host memory, ibv_reg_dmabuf_mr
 * for a dma-buf range.  A registration that is not exported gets local
 * access only, so no peer can reach it even with a guessed key.
 *
 * In a shared device context (share.c) an MR lives in the context, not in
 * the engine that made it: another engine takes it by handle with
 * ibv_import_mr() and lets go of it with ibv_unimport_mr(); whoever
 * destroys it (ibv_dereg_mr()) destroys it for all of them.  A device that
 * joined the shared context without import (MCX_TP_SHARE_TARGET) holds two
 * MRs per exported registration: one in the shared PD for peers (its
 * handles are what is published) and one in its private PD for its own
 * posts; an MR it takes by handle is only an rkey to serve.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport/verbs/verbs.h"

struct mcx_vmr {
	struct mcx_nic *nic;
	/*
	 * The MR local posts name (desc), in the context everything posts
	 * from; NULL for an MR a TARGET device only serves (imported).
	 */
	struct ibv_mr *mr;
	/*
	 * TARGET devices: the MR peers reach, in the joined shared context
	 * (NULL when not exported).  Elsewhere the one MR is both, in mr.
	 */
	struct ibv_mr *tmr;
	bool imported;			/* from mr_import: not ours to destroy by default */
	bool handed;			/* its handles went out (mr_handle): the context's now */
	uint32_t access;		/* IBV_ACCESS_* it was made with */
	uint64_t iova;			/* address it was registered at */
	uint64_t len;
};

#define REMOTE_ACCESS	(IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE)

static bool target(const struct mcx_nic *nic)
{
	return nic->vctx.state == MCX_TP_SHARE_TARGET;
}

/* The MR whose handles other engines use (the one in the shared PD). */
static struct ibv_mr *shared_mr(const struct mcx_vmr *v)
{
	return target(v->nic) ? v->tmr : v->mr;
}

/* One registration of req in pd with access; NULL with errno set. */
static struct ibv_mr *reg_one(struct mcx_nic *nic, struct ibv_pd *pd,
			      const struct mcx_tp_mr_req *req, int access)
{
	errno = 0;
	if (req->dmabuf_fd >= 0) {
#ifdef MCX_HAVE_IBV_REG_DMABUF_MR
		return ibv_reg_dmabuf_mr(pd, req->dmabuf_offset, req->len, req->addr,
					 req->dmabuf_fd, access);
#else
		errno = EOPNOTSUPP;
		return NULL;
#endif
	}
	return nic->vctx.calls->reg_mr(pd, (void *)(uintptr_t)req->addr, req->len,
				       req->iova ? req->iova : req->addr, access);
}

static int reg_errno(void)
{
	return errno ? -errno : -ENOMEM;
}

int mcx__verbs_mr_reg(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		      struct mcx_tp_mr **out, struct mcx_tp_mr_info *info)
{
	struct mcx_nic *nic = (struct mcx_nic *)dev;
	int access = nic->mr_access;
	/* TARGET: peers reach an MR of the shared PD, local posts one of ours. */
	unsigned int need = target(nic) && req->remote ? 2 : 1;
	struct mcx_vmr *v;
	int ret;

	if (!req->remote)
		access &= ~REMOTE_ACCESS;
	if (nic->max_mr && atomic_load(&nic->nr_mrs) + need > nic->max_mr)
		return -ENOSPC;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (need == 2) {
		v->tmr = reg_one(nic, nic->vctx.tpd, req, access);
		if (!v->tmr) {
			ret = reg_errno();
			free(v);
			return ret;
		}
		/* The private MR only serves local posts: no remote rights. */
		v->mr = reg_one(nic, nic->pd, req, access & ~REMOTE_ACCESS);
		if (!v->mr) {
			ret = reg_errno();
			nic->vctx.calls->dereg_mr(v->tmr);
			free(v);
			return ret;
		}
	} else {
		v->mr = reg_one(nic, nic->pd, req, access);
		if (!v->mr) {
			ret = reg_errno();
			free(v);
			return ret;
		}
	}
	v->nic = nic;
	v->access = (uint32_t)access;
	v->iova = req->iova && req->dmabuf_fd < 0 ? req->iova : req->addr;
	v->len = req->len;
	atomic_fetch_add(&nic->nr_mrs, need);
	info->rkey = req->remote ? shared_mr(v)->rkey : 0;
	info->desc = v->mr;	/* a post reads the lkey from it */
	*out = (struct mcx_tp_mr *)v;
	return 0;
}

/*
 * rdma-core's struct verbs_mr (libibverbs/driver.h, not installed): what
 * a provider's reg_mr allocates and its dereg_mr frees, an ibv_mr and
 * then its type and access.  rxe_dereg_mr() reads only the handle and
 * the context (ibv_cmd_dereg_mr()) before freeing it.
 */
struct built_mr {
	struct ibv_mr mr;
	int mr_type;			/* enum ibv_mr_type */
	int access;
};
#define MR_TYPE_IMPORTED	2	/* IBV_MR_TYPE_IMPORTED_MR */

/*
 * An ibv_mr for the MR mr_handle of a TARGET device's shared context, for
 * ibv_dereg_mr() to destroy it (a provider without ibv_import_mr()).  Its
 * type is "imported" so that ibv_dereg_mr() does not ibv_dofork_range()
 * an address range of another process.
 */
static struct ibv_mr *build_mr(struct mcx_nic *nic, uint32_t mr_handle, uint32_t lkey,
			       uint32_t rkey, uint64_t iova, uint64_t len)
{
	struct built_mr *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->mr.context = nic->vctx.tctx;
	b->mr.pd = nic->vctx.tpd;
	b->mr.handle = mr_handle;
	b->mr.lkey = lkey;
	b->mr.rkey = rkey;
	b->mr.addr = (void *)(uintptr_t)iova;
	b->mr.length = len;
	b->mr_type = MR_TYPE_IMPORTED;
	return &b->mr;
}

/* Destroy mr in the kernel; on failure the object is still ours to free. */
static int destroy(const struct mcx_verbs_calls *calls, struct ibv_mr *mr, bool built)
{
	int ret = calls->dereg_mr(mr);

	if (ret) {
		/* The kernel kept it (a window is bound to it): let go of our copy. */
		if (built)
			free(mr);
		else
			calls->unimport_mr(mr);
	}
	return ret;
}

static void release(struct mcx_vmr *v, bool destroy_shared)
{
	const struct mcx_verbs_calls *calls = v->nic->vctx.calls;
	struct mcx_nic *nic = v->nic;

	if (target(nic)) {
		/* The private MR is always ours alone. */
		if (v->mr) {
			calls->dereg_mr(v->mr);
			atomic_fetch_sub(&nic->nr_mrs, 1);
		}
		if (v->tmr) {
			if (destroy_shared || (!v->imported && !v->handed))
				destroy(calls, v->tmr, v->imported);
			else
				/*
				 * Only our object goes: one built here, or one
				 * rxe_reg_mr() allocated, a bare verbs_mr that
				 * rxe_dereg_mr() would free() the same way (the
				 * allowlist names the providers this holds for).
				 */
				free(v->tmr);
			if (!v->imported)
				atomic_fetch_sub(&nic->nr_mrs, 1);
		}
		free(v);
		return;
	}
	if (destroy_shared || (!v->imported && !v->handed))
		destroy(calls, v->mr, false);
	else
		calls->unimport_mr(v->mr);	/* only our copy goes */
	if (!v->imported)
		atomic_fetch_sub(&nic->nr_mrs, 1);
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
	       nic->vctx.state == MCX_TP_SHARE_IMPORTED || target(nic);
}

/* The shared PD of nic's context. */
static struct ibv_pd *shared_pd(const struct mcx_nic *nic)
{
	return target(nic) ? nic->vctx.tpd : nic->pd;
}

int mcx__verbs_mr_handle(struct mcx_tp_mr *mr, struct mcx_tp_mr_handle *out)
{
	struct mcx_vmr *v = (struct mcx_vmr *)mr;
	struct ibv_mr *smr = shared_mr(v);

	/* A TARGET device's local-only registration has nothing shared. */
	if (!shared(v->nic) || !smr)
		return -EOPNOTSUPP;
	out->cmd_fd = smr->context->cmd_fd;
	out->pd_handle = shared_pd(v->nic)->handle;
	out->mr_handle = smr->handle;
	out->lkey = smr->lkey;
	out->rkey = smr->rkey;
	out->access = v->access;
	out->iova = v->iova;
	out->len = v->len;
	v->handed = true;
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
	if (h->pd_handle != shared_pd(nic)->handle || !h->len ||
	    (remote && (h->access & REMOTE_ACCESS) != REMOTE_ACCESS))
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (target(nic)) {
		/*
		 * Nothing to ask the kernel (no ibv_import_mr()): the
		 * registry's record is what says the MR is there; one that
		 * goes is reported (CTX_MR_DROPPED) and its registrations die.
		 */
		mr = build_mr(nic, h->mr_handle, h->lkey, h->rkey, h->iova, h->len);
		if (!mr) {
			free(v);
			return -ENOMEM;
		}
		v->tmr = mr;
		info->desc = NULL;	/* local posts need an MR of our own */
	} else {
		errno = 0;
		mr = nic->vctx.calls->import_mr(nic->pd, h->mr_handle);
		if (!mr) {
			int ret = errno ? -errno : -EIO;

			free(v);
			return ret;
		}
		/*
		 * Handles are reused once an MR is destroyed: one that now
		 * names another MR must not be taken for the one published.
		 */
		if (mr->lkey != h->lkey || mr->rkey != h->rkey || mr->length != h->len) {
			nic->vctx.calls->unimport_mr(mr);
			free(v);
			return -EINVAL;
		}
		v->mr = mr;
		info->desc = mr;
	}
	v->nic = nic;
	v->imported = true;
	v->access = h->access;
	v->iova = h->iova;
	v->len = h->len;
	info->rkey = remote ? h->rkey : 0;
	*out = (struct mcx_tp_mr *)v;
	return 0;
}

int mcx__verbs_mr_destroy_handle(struct mcx_tp_dev *dev, uint32_t mr_handle)
{
	struct mcx_nic *nic = (struct mcx_nic *)dev;
	struct ibv_mr *mr;

	if (!shared(nic))
		return -EOPNOTSUPP;
	errno = 0;
	if (target(nic))
		mr = build_mr(nic, mr_handle, 0, 0, 0, 0);
	else
		mr = nic->vctx.calls->import_mr(nic->pd, mr_handle);
	if (!mr)
		return target(nic) ? -ENOMEM : errno ? -errno : -ENOENT;
	return -destroy(nic->vctx.calls, mr, target(nic));
}
