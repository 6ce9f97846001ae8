// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registrations on a libfabric domain, as its mr_mode asks:
 *   FI_MR_PROV_KEY   the provider picks the key (else we request unique ones);
 *   FI_MR_VIRT_ADDR  peers address the region by virtual address (else by
 *                    offset from its start, MCX_TP_CAP_VIRT_ADDR unset);
 *   FI_MR_ENDPOINT   the region is bound to the endpoint and enabled before use;
 *   FI_MR_LOCAL      local buffers need their descriptor on every post (we
 *                    always pass it; it is NULL where not asked for);
 *   FI_MR_ALLOCATED  only backed memory: what is registered always is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "transport/fabric/fabric.h"

int mcx__fab_mr_reg(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		    struct mcx_tp_mr **out, struct mcx_tp_mr_info *info)
{
	struct mcx_fdom *d = (struct mcx_fdom *)dev;
	const struct mcx_fab_calls *c = d->calls;
	struct iovec iov;
	struct fi_mr_attr attr;
	struct mcx_fmr *m;
	int ret;

	*out = NULL;
	memset(info, 0, sizeof(*info));
	if (!req->len)
		return -EINVAL;
	/*
	 * libfabric 1.17 has no dma-buf registration (FI_MR_DMABUF came in
	 * 1.20), nor a way to register host memory under another address.
	 */
	if (req->dmabuf_fd >= 0)
		return -EOPNOTSUPP;
	if (req->iova && req->iova != req->addr && (d->mr_mode & FI_MR_VIRT_ADDR))
		return -EOPNOTSUPP;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->dom = d;
	iov.iov_base = (void *)(uintptr_t)req->addr;
	iov.iov_len = req->len;
	memset(&attr, 0, sizeof(attr));
	attr.mr_iov = &iov;
	attr.iov_count = 1;
	attr.access = FI_READ | FI_WRITE;
	if (req->remote)
		attr.access |= FI_REMOTE_READ | FI_REMOTE_WRITE;
	attr.iface = FI_HMEM_SYSTEM;
	if (!(d->mr_mode & FI_MR_PROV_KEY))
		attr.requested_key = atomic_fetch_add(&d->next_key, 1);
	ret = c->mr_regattr(d->domain, &attr, 0, &m->mr);
	if (ret) {
		m->mr = NULL;
		goto fail;
	}
	if (d->mr_mode & FI_MR_ENDPOINT) {
		ret = c->mr_bind(m->mr, d->ep);
		if (!ret)
			ret = c->mr_enable(m->mr);
		if (ret)
			goto fail;
	}
	m->key = c->mr_key(m->mr);
	if (m->key == FI_KEY_NOTAVAIL) {
		ret = -FI_ENOKEY;
		goto fail;
	}
	m->fdesc = c->mr_desc(m->mr);
	if ((d->mr_mode & FI_MR_LOCAL) && !m->fdesc) {
		ret = -FI_EINVAL;
		goto fail;
	}
	m->base = req->addr;
	atomic_fetch_add(&d->nr_mrs, 1);
	info->rkey = req->remote ? m->key : 0;
	/* Ours, never NULL: a post finds the provider's descriptor in it. */
	info->desc = m;
	*out = (struct mcx_tp_mr *)m;
	return 0;
fail:
	mcx__dbg("%s: fi_mr_regattr of %llu bytes: %s", d->name, (unsigned long long)req->len,
		 fi_strerror(-ret));
	if (m->mr)
		c->close(&m->mr->fid);
	free(m);
	if (ret == -FI_ENOMEM)
		return -ENOMEM;
	if (ret == -FI_EACCES || ret == -FI_EPERM)
		return -EPERM;
	return ret == -FI_ENOKEY || ret == -FI_EKEYREJECTED ? -EIO :
	       ret >= -FI_ERRNO_OFFSET ? ret : -EIO;
}

void mcx__fab_mr_dereg(struct mcx_tp_mr *mr)
{
	struct mcx_fmr *m = (struct mcx_fmr *)mr;

	if (!m)
		return;
	m->dom->calls->close(&m->mr->fid);
	atomic_fetch_sub(&m->dom->nr_mrs, 1);
	free(m);
}
