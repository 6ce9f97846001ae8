// SPDX-License-Identifier: GPL-2.0
/*
 * Shared uverbs contexts: one per (owner uid, RDMA device), so that every
 * engine of a user makes its objects in one context and imports the MRs
 * the others published (see MCXFER_IOC_PUBLISH_CTX).
 *
 * A context is a whole uverbs context, like an MR record, so only its
 * owner uid ever finds it.  It lives while a client holds it (published
 * or got it) or an MR record made through its file exists: those MRs
 * live in the context, and the next engine that gets it must be able to
 * import them.  When such a record goes while clients hold the context,
 * they are told (CTX_MR_DROPPED) so that one of them destroys the MR,
 * which nothing else would: the context keeps it, and its memory pinned,
 * for as long as the context lives.
 */

#include <linux/slab.h>

#include "reg_internal.h"

static struct mcx_ctx *mcx_ctx_find(struct mcx_registry *reg, kuid_t owner,
				    const void *dev)
{
	struct mcx_ctx *ctx;

	list_for_each_entry(ctx, &reg->ctxs, node) {
		if (uid_eq(ctx->owner, owner) && ctx->dev == dev)
			return ctx;
	}
	return NULL;
}

static struct mcx_ctx *mcx_ctx_by_id(struct mcx_registry *reg, u64 id)
{
	struct mcx_ctx *ctx;

	list_for_each_entry(ctx, &reg->ctxs, node) {
		if (ctx->id == id)
			return ctx;
	}
	return NULL;
}

static void mcx_ctx_free(struct mcx_registry *reg, struct mcx_ctx *ctx)
{
	list_del(&ctx->node);
	reg->stats.contexts--;
	if (reg->ops->ctx_put)
		reg->ops->ctx_put(ctx);
	kfree(ctx);
}

static void mcx_ctx_maybe_free(struct mcx_registry *reg, struct mcx_ctx *ctx)
{
	if (!ctx->nr_holders && !ctx->nr_mrs)
		mcx_ctx_free(reg, ctx);
}

static struct mcx_ctx_hold *mcx_ctx_hold_of(struct mcx_ctx *ctx,
					    struct mcx_client *c)
{
	struct mcx_ctx_hold *h;

	list_for_each_entry(h, &ctx->holders, ctx_node) {
		if (h->c == c)
			return h;
	}
	return NULL;
}

/*
 * c holds ctx (once, however often it asks): 1 when it did not before, 0
 * when it did, or -ENOMEM.
 */
static int mcx_ctx_hold(struct mcx_ctx *ctx, struct mcx_client *c)
{
	struct mcx_ctx_hold *h;

	if (mcx_ctx_hold_of(ctx, c))
		return 0;
	h = kzalloc(sizeof(*h), GFP_KERNEL_ACCOUNT);
	if (!h)
		return -ENOMEM;
	h->ctx = ctx;
	h->c = c;
	list_add_tail(&h->ctx_node, &ctx->holders);
	list_add_tail(&h->c_node, &c->ctxs);
	ctx->nr_holders++;
	return 1;
}

static void mcx_ctx_unhold(struct mcx_ctx_hold *h)
{
	list_del(&h->ctx_node);
	list_del(&h->c_node);
	h->ctx->nr_holders--;
	kfree(h);
}

void mcx_ctx_link_mr(struct mcx_registry *reg, struct mcx_mr *mr)
{
	struct mcx_ctx *ctx;

	list_for_each_entry(ctx, &reg->ctxs, node) {
		if (ctx->file == mr->file) {
			mr->ctx = ctx;
			ctx->nr_mrs++;
			return;
		}
	}
}

void mcx_ctx_unlink_mr(struct mcx_registry *reg, struct mcx_mr *mr,
		       bool notify)
{
	struct mcx_ctx *ctx = mr->ctx;
	struct mcx_ctx_hold *h;

	mr->ctx = NULL;
	ctx->nr_mrs--;
	if (notify && !ctx->dying) {
		list_for_each_entry(h, &ctx->holders, ctx_node)
			mcx_client_event(h->c, MCXFER_EVENT_CTX_MR_DROPPED,
					 ctx->id, mr->mr_handle);
	}
	mcx_ctx_maybe_free(reg, ctx);
}

void mcx_ctxs_client_release(struct mcx_registry *reg, struct mcx_client *c)
{
	struct mcx_ctx_hold *h, *tmp;
	struct mcx_ctx *ctx;

	list_for_each_entry_safe(h, tmp, &c->ctxs, c_node) {
		ctx = h->ctx;
		mcx_ctx_unhold(h);
		mcx_ctx_maybe_free(reg, ctx);
	}
}

void mcx_ctxs_target_dying(struct mcx_registry *reg, const void *target)
{
	struct mcx_ctx *ctx;

	list_for_each_entry(ctx, &reg->ctxs, node) {
		if (ctx->dev == target)
			ctx->dying = true;
	}
}

/*
 * Runs after the MR records on target are gone, so nothing but holds
 * keeps these contexts: for a device without disassociation the uverbs
 * removal that follows ours waits until every file of it is closed.
 */
void mcx_ctxs_target_removed(struct mcx_registry *reg, const void *target)
{
	struct mcx_ctx_hold *h, *htmp;
	struct mcx_ctx *ctx, *tmp;

	list_for_each_entry_safe(ctx, tmp, &reg->ctxs, node) {
		if (ctx->dev != target)
			continue;
		list_for_each_entry_safe(h, htmp, &ctx->holders, ctx_node)
			mcx_ctx_unhold(h);
		if (!WARN_ON(ctx->nr_mrs))
			mcx_ctx_free(reg, ctx);
	}
}

/* MR records made through file before it became a shared context. */
static void mcx_ctx_adopt_mrs(struct mcx_registry *reg, struct mcx_ctx *ctx)
{
	struct mcx_entry *e;
	struct mcx_mr *mr;
	unsigned long idx;

	xa_for_each(&reg->entries, idx, e) {
		list_for_each_entry(mr, &e->mrs, node) {
			if (!mr->ctx && mr->file == ctx->file) {
				mr->ctx = ctx;
				ctx->nr_mrs++;
			}
		}
	}
}

int mcx_reg_publish_ctx(struct mcx_client *c, const struct mcx_who *who,
			struct mcx_ctx *ctx, u64 *ctx_id)
{
	struct mcx_registry *reg = c->reg;
	int ret;

	INIT_LIST_HEAD(&ctx->holders);
	ctx->owner = who->uid;
	mutex_lock(&reg->lock);
	ret = -ENODEV;
	if (reg->ops->target_alive && !reg->ops->target_alive(reg, ctx->dev))
		goto out;
	ret = -EEXIST;
	if (mcx_ctx_find(reg, ctx->owner, ctx->dev))
		goto out;
	ret = mcx_ctx_hold(ctx, c);
	if (ret < 0)
		goto out;
	ret = 0;
	ctx->id = ++reg->next_ctx_id;
	*ctx_id = ctx->id;
	list_add_tail(&ctx->node, &reg->ctxs);
	reg->stats.contexts++;
	mcx_ctx_adopt_mrs(reg, ctx);
out:
	mutex_unlock(&reg->lock);
	return ret;
}

int mcx_reg_get_ctx(struct mcx_client *c, const struct mcx_who *who,
		    const void *dev, struct file **file, u32 *pd_handle,
		    u64 *ctx_id, bool *new_hold)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_ctx *ctx;
	int ret;

	mutex_lock(&reg->lock);
	ret = -ENOENT;
	ctx = mcx_ctx_find(reg, who->uid, dev);
	if (!ctx)
		goto out;
	ret = -EOPNOTSUPP;
	if (!reg->ops->ctx_get)
		goto out;
	ret = mcx_ctx_hold(ctx, c);
	if (ret < 0)
		goto out;
	*new_hold = ret;
	ret = 0;
	reg->ops->ctx_get(ctx);
	*file = ctx->file;
	*pd_handle = ctx->pd_handle;
	*ctx_id = ctx->id;
out:
	mutex_unlock(&reg->lock);
	return ret;
}

void mcx_reg_put_ctx(struct mcx_client *c, u64 ctx_id)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_ctx_hold *h;
	struct mcx_ctx *ctx;

	mutex_lock(&reg->lock);
	ctx = mcx_ctx_by_id(reg, ctx_id);
	h = ctx ? mcx_ctx_hold_of(ctx, c) : NULL;
	if (h) {
		mcx_ctx_unhold(h);
		mcx_ctx_maybe_free(reg, ctx);
	}
	mutex_unlock(&reg->lock);
}
