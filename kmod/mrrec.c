// SPDX-License-Identifier: GPL-2.0
/*
 * MR records: the MRs published on an entry, one per RDMA device.
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

int mcx_reg_publish_mr(struct mcx_client *c, const struct mcx_who *who,
		       u64 id, struct mcx_mr *mr, u64 *mr_id)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_ref *ref = NULL;
	struct mcx_entry *e;
	struct mcx_mr *other;
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
	if (!mr->length || mr->length > e->key.length)
		goto out;
	ret = -ENODEV;
	if (reg->ops->target_alive && !reg->ops->target_alive(reg, mr->dev))
		goto out;
	ret = -EEXIST;
	list_for_each_entry(other, &e->mrs, node) {
		if (other->dev == mr->dev)
			goto out;
	}
	mr->id = ++reg->next_mr_id;
	*mr_id = mr->id;
	list_add_tail(&mr->node, &e->mrs);
	e->nr_mrs++;
	reg->stats.mrs++;
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
		if (dev_name ? !strcmp(mr->dev_name, dev_name) : i == index)
			return mr;
		i++;
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
	}
	ret = 0;
out:
	mutex_unlock(&reg->lock);
	return ret;
}
