// SPDX-License-Identifier: GPL-2.0
/*
 * Shared uverbs contexts, the file side: PUBLISH_CTX takes a reference on
 * the uverbs command file offered (checked as for PUBLISH_MR), GET_CTX
 * finds the caller's context by device name and hands out a new fd of
 * that file (see ioctl.c).  The records themselves are in ctxrec.c.
 */

#include <linux/file.h>
#include <linux/slab.h>
#include <rdma/ib_verbs.h>

#include "internal.h"

/*
 * PUBLISH_CTX.  Errors: those of mcx_uverbs_get(), -EEXIST (the caller's
 * uid has a context for the device), -ENOMEM.
 */
int mcx_ctx_publish(struct mcx_file *f, struct mcxfer_ctx *arg)
{
	struct mcx_fput *rel;
	struct mcx_ctx *ctx;
	struct file *file;
	u64 ctx_id = 0;
	int ret = -ENOMEM;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return ret;
	rel = kzalloc(sizeof(*rel), GFP_KERNEL_ACCOUNT);
	if (!rel)
		goto err_ctx;
	ret = mcx_uverbs_get(f, arg->uverbs_fd, &file, &ctx->dev,
			     ctx->dev_name, sizeof(ctx->dev_name));
	if (ret)
		goto err_rel;
	ctx->file = file;
	ctx->priv = rel;
	ctx->pd_handle = arg->pd_handle;
	ret = mcx_reg_publish_ctx(&f->c, &f->who, ctx, &ctx_id);
	if (ret)
		goto err_file;
	arg->ctx_id = ctx_id;
	return 0;

err_file:
	fput(file);
err_rel:
	kfree(rel);
err_ctx:
	kfree(ctx);
	return ret;
}

/*
 * GET_CTX of the device named ibdev in the opener's network namespace
 * (-ENODEV when it sees none): *file is referenced for the caller.
 */
int mcx_ctx_get(struct mcx_file *f, const char *ibdev, struct file **file,
		struct mcxfer_ctx *arg, bool *new_hold)
{
	struct ib_device *target;
	struct device *dma_dev;
	int ret;

	ret = mcx_ibdev_resolve(ibdev, f->net, &target, &dma_dev);
	if (ret)
		return ret;
	put_device(dma_dev);
	return mcx_reg_get_ctx(&f->c, &f->who, target, file, &arg->pd_handle,
			       &arg->ctx_id, new_hold);
}
