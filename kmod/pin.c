// SPDX-License-Identifier: GPL-2.0
/*
 * The dma-buf backend of the registry: dynamic attachment, pin and map.
 *
 * Each entry owns one attachment to its dma-buf, made for the DMA device of
 * the RDMA device named in the PIN (so that GPU exporters, which map only
 * for a real PCI peer, agree to it), or for the misc device when no device
 * is named or the device has no DMA device of its own (software devices
 * such as soft-RoCE).  The attachment is dynamic with allow_peer2peer, is
 * pinned so that the exporter keeps the pages where they are, and is mapped
 * once; the mapping is kept for the life of the entry.
 *
 * Locking: the registry calls pin/unpin with reg->lock held, and they take
 * the dma-buf's reservation lock inside it.  move_notify is called by the
 * exporter with that reservation lock held, so it must not take reg->lock:
 * it only marks the entry, and a work item kills it later.
 */

#include <linux/device.h>
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/file.h>
#include <linux/llist.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <rdma/ib_verbs.h>

#include "internal.h"

struct mcx_pin {
	struct mcx_registry *reg;
	struct mcx_entry *e;
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	struct device *dev;		/* the device mapped for, referenced */
};

/* What mcx_pin() hands to the backend's pin through the registry. */
struct mcx_pin_ctx {
	struct dma_buf *dmabuf;
	struct device *dev;
};

static void mcx_move_notify(struct dma_buf_attachment *attach)
{
	struct mcx_pin *p = attach->importer_priv;

	/* reservation lock held: defer, see the top of this file */
	mcx_reg_note_invalid(p->reg, p->e);
}

static const struct dma_buf_attach_ops mcx_attach_ops = {
	.allow_peer2peer = true,
	.move_notify = mcx_move_notify,
};

static int mcx_backend_pin(struct mcx_registry *reg, struct mcx_entry *e,
			   void *arg)
{
	struct mcx_pin_ctx *ctx = arg;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	struct mcx_pin *p;
	int ret;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->reg = reg;
	p->e = e;
	p->dmabuf = ctx->dmabuf;

	attach = dma_buf_dynamic_attach(ctx->dmabuf, ctx->dev, &mcx_attach_ops,
					p);
	if (IS_ERR(attach)) {
		ret = PTR_ERR(attach);
		goto err_free;
	}

	ret = dma_resv_lock_interruptible(ctx->dmabuf->resv, NULL);
	if (ret)
		goto err_detach;
	ret = dma_buf_pin(attach);
	if (ret)
		goto err_unlock;
	sgt = dma_buf_map_attachment(attach, DMA_BIDIRECTIONAL);
	if (IS_ERR(sgt)) {
		ret = PTR_ERR(sgt);
		goto err_unpin;
	}
	dma_resv_unlock(ctx->dmabuf->resv);

	get_dma_buf(ctx->dmabuf);
	p->attach = attach;
	p->sgt = sgt;
	p->dev = get_device(ctx->dev);
	e->priv = p;
	return 0;

err_unpin:
	dma_buf_unpin(attach);
err_unlock:
	dma_resv_unlock(ctx->dmabuf->resv);
err_detach:
	dma_buf_detach(ctx->dmabuf, attach);
err_free:
	kfree(p);
	return ret;
}

static void mcx_backend_unpin(struct mcx_registry *reg, struct mcx_entry *e)
{
	struct mcx_pin *p = e->priv;

	if (!p)
		return;
	dma_resv_lock(p->dmabuf->resv, NULL);
	dma_buf_unmap_attachment(p->attach, p->sgt, DMA_BIDIRECTIONAL);
	dma_buf_unpin(p->attach);
	dma_resv_unlock(p->dmabuf->resv);
	/* no move_notify can reach p once the attachment is gone */
	dma_buf_detach(p->dmabuf, p->attach);
	dma_buf_put(p->dmabuf);
	put_device(p->dev);
	kfree(p);
}

static void *mcx_backend_get_buf(struct mcx_entry *e)
{
	struct mcx_pin *p = e->priv;

	get_dma_buf(p->dmabuf);
	return p->dmabuf;
}

/*
 * MR files are released from a work item, never where the registry drops
 * them: dropping an MR happens in the ib_client remove callback too, and
 * for devices without disassociation (soft-RoCE) the uverbs remove callback
 * that runs next waits for every uverbs file to be closed.  fput() from
 * that task would only run at its return to user space, after the wait; a
 * kernel worker's fput() goes through the delayed-fput queue instead.
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

void mcx_pin_exit(void)
{
	flush_work(&mcx_fput_work);
}

const struct mcx_backend_ops mcx_backend_ops = {
	.pin = mcx_backend_pin,
	.unpin = mcx_backend_unpin,
	.get_buf = mcx_backend_get_buf,
	.mr_get = mcx_backend_mr_get,
	.mr_put = mcx_backend_mr_put,
	.target_alive = mcx_ibdev_alive,
};

/*
 * PIN: the dma-buf fd is proof of access, so a hit on an entry of another
 * user is allowed.  Range errors are -EINVAL; an unknown device -ENODEV.
 */
int mcx_pin(struct mcx_client *c, struct mcxfer_pin *arg, const char *name,
	    const char *ibdev)
{
	struct mcx_pin_args args = { };
	struct mcx_pin_ctx ctx = { };
	struct ib_device *target = NULL;
	struct dma_buf *dmabuf;
	struct mcx_who who;
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
		ret = mcx_ibdev_resolve(ibdev, &target, &ctx.dev);
		if (ret)
			goto out_buf;
	} else {
		ctx.dev = get_device(mcx_misc.this_device);
	}
	ctx.dmabuf = dmabuf;

	mcx_who_current(&who);
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
	ret = mcx_reg_pin(c, &args, &who, &id, &hit);
	put_device(ctx.dev);
	if (ret)
		goto out_buf;
	arg->id = id;
	arg->out_flags = hit ? MCXFER_PIN_OUT_HIT : 0;
out_buf:
	dma_buf_put(dmabuf);
	return ret;
}
