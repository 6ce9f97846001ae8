// SPDX-License-Identifier: GPL-2.0
/*
 * The dma-buf backend of the registry: dynamic attachment, pin and map.
 *
 * Each attachment of the registry is one dynamic attachment of a dma-buf,
 * made for the DMA device of the RDMA device named in the PIN (GPU
 * exporters map only for a real PCI peer, and NVIDIA's reads the PCI
 * device of the attachment), or, for host memory exporters only, for the
 * misc device (software RDMA devices such as soft-RoCE have no DMA device
 * of their own).  It has allow_peer2peer, is pinned so that the exporter
 * keeps the pages where they are, and is mapped once; the mapping is kept
 * for the life of the attachment.
 *
 * Locking: attach and detach run without the registry lock and take the
 * dma-buf's reservation lock.  move_notify is called by the exporter with
 * that reservation lock held: it only marks the attachment, and a work
 * item of the registry kills its entries later.
 */

#include <linux/device.h>
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/file.h>
#include <linux/llist.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <rdma/ib_verbs.h>

#include "internal.h"

struct mcx_pin {
	struct mcx_registry *reg;
	struct mcx_attach *att;
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	struct device *dev;		/* the device mapped for, referenced */
	bool pinned;			/* our own pin and map are done */
};

static void mcx_move_notify(struct dma_buf_attachment *attach)
{
	struct mcx_pin *p = attach->importer_priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	/*
	 * A dynamic exporter may move the buffer while we pin it (to make it
	 * reachable by a device that is not its P2P peer) and tell every
	 * importer, us included: that move is done before our map, so it
	 * invalidates nothing of ours.
	 */
	if (!p->pinned)
		return;
	/* reservation lock held: defer, see the top of this file */
	mcx_reg_note_invalid(p->reg, p->att);
}

static const struct dma_buf_attach_ops mcx_attach_ops = {
	.allow_peer2peer = true,
	.move_notify = mcx_move_notify,
};

static int mcx_pin_map(struct mcx_pin *p)
{
	struct sg_table *sgt;
	int ret;

	ret = dma_resv_lock_interruptible(p->dmabuf->resv, NULL);
	if (ret)
		return ret;
	ret = dma_buf_pin(p->attach);
	if (ret)
		goto out;
	sgt = dma_buf_map_attachment(p->attach, DMA_BIDIRECTIONAL);
	if (IS_ERR(sgt)) {
		ret = PTR_ERR(sgt);
		dma_buf_unpin(p->attach);
		goto out;
	}
	p->sgt = sgt;
	p->pinned = true;
out:
	dma_resv_unlock(p->dmabuf->resv);
	return ret;
}

static void *mcx_backend_attach(struct mcx_registry *reg,
				struct mcx_attach *att, void *arg)
{
	struct mcx_pin_ctx *ctx = arg;
	struct dma_buf_attachment *attach;
	struct mcx_pin *p;
	int ret;

	p = kzalloc(sizeof(*p), GFP_KERNEL_ACCOUNT);
	if (!p)
		return ERR_PTR(-ENOMEM);
	p->reg = reg;
	p->att = att;
	p->dmabuf = ctx->dmabuf;

	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev, &mcx_attach_ops,
					p);
	if (IS_ERR(attach)) {
		ret = PTR_ERR(attach);
		goto err_free;
	}
	p->attach = attach;
	ret = mcx_pin_map(p);
	if (ret)
		goto err_detach;
	get_dma_buf(ctx->dmabuf);
	p->dev = get_device(ctx->dev);
	return p;

err_detach:
	dma_buf_detach(ctx->dmabuf, attach);
err_free:
	kfree(p);
	return ERR_PTR(ret);
}

static void mcx_backend_detach(struct mcx_registry *reg, void *priv)
{
	struct mcx_pin *p = priv;

	dma_resv_lock(p->dmabuf->resv, NULL);
	dma_buf_unmap_attachment(p->attach, p->sgt, DMA_BIDIRECTIONAL);
	dma_buf_unpin(p->attach);
	p->pinned = false;
	dma_resv_unlock(p->dmabuf->resv);
	/* no move_notify can reach p once the attachment is gone */
	dma_buf_detach(p->dmabuf, p->attach);
	dma_buf_put(p->dmabuf);
	put_device(p->dev);
	kfree(p);
}

static void *mcx_backend_get_buf(struct mcx_entry *e)
{
	struct mcx_pin *p = e->att->priv;

	get_dma_buf(p->dmabuf);
	return p->dmabuf;
}

/*
 * MR files are released from a work item, never where the registry drops
 * them: dropping an MR happens under the registry lock and in the
 * ib_client remove callback, and for devices without disassociation
 * (soft-RoCE) the uverbs remove callback that runs next waits for every
 * uverbs file to be closed.  fput() from that task would only run at its
 * return to user space, after the wait; a kernel worker's fput() goes
 * through the delayed-fput queue instead.
 */
static LLIST_HEAD(mcx_fput_list);

static void mcx_fput_fn(struct work_struct *work)
{
	struct llist_node *list = llist_del_all(&mcx_fput_list);
	struct mcx_fput *f, *tmp;

	llist_for_each_entry_safe(f, tmp, list, node) {
		fput(f->file);
		kfree(f);
	}
}

static DECLARE_WORK(mcx_fput_work, mcx_fput_fn);

static void mcx_backend_mr_get(struct mcx_mr *mr)
{
	get_file(mr->file);
}

static void mcx_backend_mr_put(struct mcx_mr *mr)
{
	struct mcx_fput *f = mr->priv;

	/* preallocated by mcx_mr_publish(), so this cannot fail */
	f->file = mr->file;
	mr->priv = NULL;
	llist_add(&f->node, &mcx_fput_list);
	schedule_work(&mcx_fput_work);
}

static void mcx_backend_ctx_get(struct mcx_ctx *ctx)
{
	get_file(ctx->file);
}

static void mcx_backend_ctx_put(struct mcx_ctx *ctx)
{
	struct mcx_fput *f = ctx->priv;

	/* preallocated by mcx_ctx_publish(), as for MRs */
	f->file = ctx->file;
	ctx->priv = NULL;
	llist_add(&f->node, &mcx_fput_list);
	schedule_work(&mcx_fput_work);
}

void mcx_pin_exit(void)
{
	flush_work(&mcx_fput_work);
}

const struct mcx_backend_ops mcx_backend_ops = {
	.attach = mcx_backend_attach,
	.detach = mcx_backend_detach,
	.get_buf = mcx_backend_get_buf,
	.mr_get = mcx_backend_mr_get,
	.mr_put = mcx_backend_mr_put,
	.target_alive = mcx_ibdev_alive,
	.ctx_get = mcx_backend_ctx_get,
	.ctx_put = mcx_backend_ctx_put,
};

/*
 * Exporters of host memory: their dma-bufs are system pages that any
 * device may map, the misc device included.  Anything else (a GPU's
 * device memory) is mapped only for a real PCI peer.  The exporter is
 * known by its module, or by its exp_name when built in (DRM's GEM
 * exports all carry the exp_name "drm", so a built-in DRM driver is
 * never taken for a host exporter).
 */
static const char *const mcx_host_exporters[] = {
	"udmabuf", "vgem", "system", "system-uncached",
};

bool mcx_host_exporter(const char *module, const char *exp_name)
{
	const char *who = module ?: exp_name;
	size_t i;

	if (!who)
		return false;
	for (i = 0; i < ARRAY_SIZE(mcx_host_exporters); i++) {
		if (!strcmp(who, mcx_host_exporters[i]))
			return true;
	}
	return false;
}

static bool mcx_dmabuf_is_host(const struct dma_buf *dmabuf)
{
	return mcx_host_exporter(dmabuf->owner ? module_name(dmabuf->owner) :
				 NULL, dmabuf->exp_name);
}

/*
 * The device to map for: the RDMA device's DMA device when it is a PCI
 * function; the misc device for host memory otherwise.  Device memory
 * without such a peer is -EOPNOTSUPP.
 */
static int mcx_pin_device(struct dma_buf *dmabuf, struct device *dma_dev,
			  struct device **dev)
{
	if (dma_dev && dev_is_pci(dma_dev)) {
		*dev = get_device(dma_dev);
		return 0;
	}
	if (!mcx_dmabuf_is_host(dmabuf))
		return -EOPNOTSUPP;
	*dev = get_device(mcx_misc.this_device);
	return 0;
}

int mcx_pin(struct mcx_file *f, struct mcxfer_pin *arg, const char *name,
	    const char *ibdev)
{
	struct mcx_pin_args args = { };
	struct mcx_pin_ctx ctx = { };
	struct ib_device *target = NULL;
	struct device *dma_dev = NULL;
	struct dma_buf *dmabuf;
	bool hit = false;
	u64 id = 0;
	int ret;

	dmabuf = dma_buf_get((int)arg->dmabuf_fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	ret = -EINVAL;
	if (arg->offset >= dmabuf->size ||
	    arg->length > dmabuf->size - arg->offset)
		goto out_buf;

	if (ibdev) {
		ret = mcx_ibdev_resolve(ibdev, f->net, &target, &dma_dev);
		if (ret)
			goto out_buf;
	}
	ret = mcx_pin_device(dmabuf, dma_dev, &ctx.dev);
	put_device(dma_dev);
	if (ret)
		goto out_buf;
	ctx.dmabuf = dmabuf;

	args.key.buf = dmabuf;
	args.key.offset = arg->offset;
	args.key.length = arg->length;
	args.key.target = target;
	args.flags = arg->flags;
	args.share = arg->share;
	args.name = name;
	args.buf_size = dmabuf->size;
	args.exporter = dmabuf->exp_name;
	args.target_name = ibdev;
	args.backend_arg = &ctx;
	ret = mcx_reg_pin(&f->c, &args, &f->who, &id, &hit);
	put_device(ctx.dev);
	if (ret)
		goto out_buf;
	arg->id = id;
	arg->out_flags = hit ? MCXFER_PIN_OUT_HIT : 0;
out_buf:
	dma_buf_put(dmabuf);
	return ret;
}
