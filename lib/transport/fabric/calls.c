// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libfabric's calls behind struct mcx_fab_calls.  Most are inline in
 * libfabric's headers; each wrapper here is the one place that calls it.
 */
#include <errno.h>

#include "transport/fabric/fabric.h"

const struct mcx_fab_calls *mcx__fab_calls_override;

static int real_getinfo(uint32_t version, const struct fi_info *hints, struct fi_info **info)
{
	return fi_getinfo(version, NULL, NULL, 0, hints, info);
}

static void real_freeinfo(struct fi_info *info)
{
	fi_freeinfo(info);
}

static int real_fabric(struct fi_fabric_attr *attr, struct fid_fabric **fabric)
{
	return fi_fabric(attr, fabric, NULL);
}

static int real_domain(struct fid_fabric *fabric, struct fi_info *info, struct fid_domain **dom)
{
	return fi_domain(fabric, info, dom, NULL);
}

static int real_endpoint(struct fid_domain *dom, struct fi_info *info, struct fid_ep **ep)
{
	return fi_endpoint(dom, info, ep, NULL);
}

static int real_av_open(struct fid_domain *dom, struct fi_av_attr *attr, struct fid_av **av)
{
	return fi_av_open(dom, attr, av, NULL);
}

static int real_cq_open(struct fid_domain *dom, struct fi_cq_attr *attr, struct fid_cq **cq)
{
	return fi_cq_open(dom, attr, cq, NULL);
}

static int real_ep_bind(struct fid_ep *ep, struct fid *obj, uint64_t flags)
{
	return fi_ep_bind(ep, obj, flags);
}

static int real_enable(struct fid_ep *ep)
{
	return fi_enable(ep);
}

static int real_getname(struct fid_ep *ep, void *addr, size_t *len)
{
	return fi_getname(&ep->fid, addr, len);
}

static int real_av_insert(struct fid_av *av, const void *addr, fi_addr_t *out)
{
	return fi_av_insert(av, addr, 1, out, 0, NULL);
}

static int real_av_remove(struct fid_av *av, fi_addr_t addr)
{
	return fi_av_remove(av, &addr, 1, 0);
}

static int real_mr_regattr(struct fid_domain *dom, const struct fi_mr_attr *attr, uint64_t flags,
			   struct fid_mr **mr)
{
	return fi_mr_regattr(dom, attr, flags, mr);
}

static int real_mr_bind(struct fid_mr *mr, struct fid_ep *ep)
{
	return fi_mr_bind(mr, &ep->fid, 0);
}

static int real_mr_enable(struct fid_mr *mr)
{
	return fi_mr_enable(mr);
}

static uint64_t real_mr_key(struct fid_mr *mr)
{
	return fi_mr_key(mr);
}

static void *real_mr_desc(struct fid_mr *mr)
{
	return fi_mr_desc(mr);
}

static int real_close(struct fid *obj)
{
	return fi_close(obj);
}

static ssize_t real_readmsg(struct fid_ep *ep, const struct fi_msg_rma *msg, uint64_t flags)
{
	return fi_readmsg(ep, msg, flags);
}

static ssize_t real_writemsg(struct fid_ep *ep, const struct fi_msg_rma *msg, uint64_t flags)
{
	return fi_writemsg(ep, msg, flags);
}

static ssize_t real_cq_read(struct fid_cq *cq, struct fi_cq_data_entry *buf, size_t count)
{
	return fi_cq_read(cq, buf, count);
}

static ssize_t real_cq_readerr(struct fid_cq *cq, struct fi_cq_err_entry *err)
{
	return fi_cq_readerr(cq, err, 0);
}

static int real_cq_wait_fd(struct fid_cq *cq, int *fd)
{
	return fi_control(&cq->fid, FI_GETWAIT, fd);
}

static int real_trywait(struct fid_fabric *fabric, struct fid_cq *cq)
{
	struct fid *f = &cq->fid;

	return fi_trywait(fabric, &f, 1);
}

const struct mcx_fab_calls mcx__fab_real_calls = {
	.getinfo = real_getinfo,
	.freeinfo = real_freeinfo,
	.fabric = real_fabric,
	.domain = real_domain,
	.endpoint = real_endpoint,
	.av_open = real_av_open,
	.cq_open = real_cq_open,
	.ep_bind = real_ep_bind,
	.enable = real_enable,
	.getname = real_getname,
	.av_insert = real_av_insert,
	.av_remove = real_av_remove,
	.mr_regattr = real_mr_regattr,
	.mr_bind = real_mr_bind,
	.mr_enable = real_mr_enable,
	.mr_key = real_mr_key,
	.mr_desc = real_mr_desc,
	.close = real_close,
	.readmsg = real_readmsg,
	.writemsg = real_writemsg,
	.cq_read = real_cq_read,
	.cq_readerr = real_cq_readerr,
	.cq_wait_fd = real_cq_wait_fd,
	.trywait = real_trywait,
};
