// SPDX-License-Identifier: GPL-2.0
/*
 * MR records: the MRs published on an entry, any number per RDMA device
 * on ranges of the entry that do not overlap (a registration cut into
 * chunks publishes one MR per chunk).
 *
 * A record holds a reference to a uverbs command file, which is a whole
 * uverbs context (every PD, QP and MR in it, host memory included), so
 * records are the owner's alone: only the owner publishes them and only
 * the owner gets them back, whatever the entry's share mode.
 */

#include <linux/slab.h>
#include <linux/string.h>

#include "reg_internal.h"

void mcx_mr_drop(struct mcx_registry *reg, struct mcx_entry *e,
		 struct mcx_mr *mr, bool notify)
{
	if (notify)
		mcx_notify(e, MCXFER_EVENT_MR_REMOVED, mr->id);
	if (mr->ctx)
		mcx_ctx_unlink_mr(reg, mr, true);
	list_del(&mr->node);
	e->nr_mrs--;
	reg->stats.mrs--;
	if (reg->ops->mr_put)
		reg->ops->mr_put(mr);
	kfree(mr);
}

void mcx_mrs_drop(struct mcx_registry *reg, struct mcx_entry *e, bool notify)
{
	struct mcx_mr *mr, *tmp;

	list_for_each_entry_safe(mr, tmp, &e->mrs, node)
		mcx_mr_drop(reg, e, mr, notify);
}

/*
 * Where mr goes in e->mrs: before the first MR of its device at a higher
 * offset, else after the last MR of its device, else at the end.
 * -EEXIST when it overlaps an MR of its device.
 */
static int mcx_mr_slot(struct mcx_entry *e, const struct mcx_mr *mr,
		       struct list_head **before)
{
	u64 end = mr->offset + mr->length;
	struct mcx_mr *other;
	bool seen = false;

	*before = &e->mrs;
	list_for_each_entry(other, &e->mrs, node) {
		if (other->dev != mr->dev) {
			if (seen)
				break;
			continue;
		}
		if (mr->offset < other->offset + other->length &&
		    other->offset < end)
			return -EEXIST;
		seen = true;
		if (other->offset > mr->offset) {
			*before = &other->node;
			return 0;
		}
		*before = other->node.next;
	}
	return 0;
}

int mcx_reg_publish_mr(struct mcx_client *c, const struct mcx_who *who,
		       u64 id, struct mcx_mr *mr, u64 *mr_id)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_ref *ref = NULL;
	struct list_head *before;
	struct mcx_entry *e;
	int ret = -ENOENT;

	mutex_lock(&reg->lock);
	if (id && id <= U32_MAX)
		ref = xa_load(&c->refs, id);
	if (!ref)
		goto out;
	e = ref->e;
	ret = -EIDRM;
	if (e->state == MCXFER_STATE_DEAD)
		goto out;
	ret = -EPERM;
	if (!mcx_entry_is_owner(e, who))
		goto out;
	ret = -EINVAL;
	if (!mr->length || mr->offset > e->key.length ||
	    mr->length > e->key.length - mr->offset)
		goto out;
	ret = -ENODEV;
	if (reg->ops->target_alive && !reg->ops->target_alive(reg, mr->dev))
		goto out;
	ret = mcx_mr_slot(e, mr, &before);
	if (ret)
		goto out;
	mr->id = ++reg->next_mr_id;
	*mr_id = mr->id;
	list_add_tail(&mr->node, before);
	e->nr_mrs++;
	reg->stats.mrs++;
	mcx_ctx_link_mr(reg, mr);
	ret = 0;
out:
	mutex_unlock(&reg->lock);
	return ret;
}

void mcx_reg_unpublish_mr(struct mcx_client *c, u64 id, u64 mr_id)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_ref *ref = NULL;
	struct mcx_mr *mr;

	mutex_lock(&reg->lock);
	if (id && id <= U32_MAX)
		ref = xa_load(&c->refs, id);
	if (ref) {
		list_for_each_entry(mr, &ref->e->mrs, node) {
			if (mr->id == mr_id) {
				/* the caller still has its MR: no event */
				if (mr->ctx)
					mcx_ctx_unlink_mr(reg, mr, false);
				mcx_mr_drop(reg, ref->e, mr, false);
				break;
			}
		}
	}
	mutex_unlock(&reg->lock);
}

static struct mcx_mr *mcx_mr_find(struct mcx_entry *e, const char *dev_name,
				  u32 index)
{
	struct mcx_mr *mr;
	u32 i = 0;

	list_for_each_entry(mr, &e->mrs, node) {
		if (dev_name && strcmp(mr->dev_name, dev_name))
			continue;
		if (i++ == index)
			return mr;
	}
	return NULL;
}

int mcx_reg_get_mr(struct mcx_client *c, const struct mcx_who *who, u64 id,
		   const char *dev_name, u32 index, struct mcx_mr *out,
		   struct file **file)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_mr *found;
	struct mcx_entry *e;
	struct mcx_ref *ref;
	int ret = -ENOENT;

	mutex_lock(&reg->lock);
	e = mcx_entry_by_id(reg, id);
	if (!e || !mcx_entry_visible(e, who))
		goto out;
	ret = -EPERM;
	if (!mcx_entry_is_owner(e, who))
		goto out;
	ret = -EIDRM;
	if (e->state == MCXFER_STATE_DEAD)
		goto out;
	ret = -ENOENT;
	found = mcx_mr_find(e, dev_name, index);
	if (!found)
		goto out;
	ret = -EOPNOTSUPP;
	if (file && !reg->ops->mr_get)
		goto out;
	*out = *found;
	INIT_LIST_HEAD(&out->node);
	if (file) {
		reg->ops->mr_get(found);
		*file = found->file;
		ref = xa_load(&c->refs, e->id);
		if (ref)
			ref->got_mr = true;
	}
	ret = 0;
out:
	mutex_unlock(&reg->lock);
	return ret;
}
