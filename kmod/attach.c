// SPDX-License-Identifier: GPL-2.0
/*
 * Attachments: one pinned mapping of a dma-buf for one device, shared by
 * every entry on that (dma-buf, device).  An exporter pins and maps the
 * whole dma-buf whatever range an entry names, so an attachment charges
 * the whole dma-buf, once, to the uid whose PIN made it.  When that uid
 * has no entry left on it while others still do, the charge moves to the
 * owner of the oldest remaining entry: nobody pays for memory that only
 * somebody else keeps pinned.
 *
 * An attachment nobody references (all its entries linger) counts as
 * idle in its user's and the registry's idle_bytes, which is what evicting
 * every lingering entry would give back.  The last entry to leave queues
 * the attachment on reg->release; the backend detaches it after reg->lock
 * is dropped (mcx_reg_release()).
 */

#include <linux/jhash.h>
#include <linux/rhashtable.h>
#include <linux/slab.h>

#include "reg_internal.h"

/* Hashed word by word: the key may have padding nobody clears. */
static u32 mcx_akey_hash(const void *data, u32 len, u32 seed)
{
	const struct mcx_attach_key *k = data;
	u64 buf = (uintptr_t)k->buf, target = (uintptr_t)k->target;
	u32 words[4] = {
		lower_32_bits(buf), upper_32_bits(buf),
		lower_32_bits(target), upper_32_bits(target),
	};

	return jhash2(words, ARRAY_SIZE(words), seed);
}

static u32 mcx_akey_obj_hash(const void *data, u32 len, u32 seed)
{
	const struct mcx_attach *att = data;

	return mcx_akey_hash(&att->key, len, seed);
}

static int mcx_akey_cmp(struct rhashtable_compare_arg *arg, const void *obj)
{
	const struct mcx_attach_key *k = arg->key;
	const struct mcx_attach *att = obj;

	return att->key.buf != k->buf || att->key.target != k->target;
}

static const struct rhashtable_params mcx_attach_params = {
	.head_offset = offsetof(struct mcx_attach, node),
	.key_offset = offsetof(struct mcx_attach, key),
	.key_len = sizeof(struct mcx_attach_key),
	.hashfn = mcx_akey_hash,
	.obj_hashfn = mcx_akey_obj_hash,
	.obj_cmpfn = mcx_akey_cmp,
	.automatic_shrinking = true,
};

int mcx_attachments_init(struct mcx_registry *reg)
{
	return rhashtable_init(&reg->attachments, &mcx_attach_params);
}

void mcx_attachments_destroy(struct mcx_registry *reg)
{
	rhashtable_destroy(&reg->attachments);
}

struct mcx_attach *mcx_attach_find(struct mcx_registry *reg,
				   const void *buf, const void *target)
{
	struct mcx_attach_key k = { .buf = buf, .target = target };

	lockdep_assert_held(&reg->lock);
	return rhashtable_lookup_fast(&reg->attachments, &k,
				      mcx_attach_params);
}

static void mcx_attach_charge(struct mcx_registry *reg,
			      struct mcx_attach *att, struct mcx_user *u)
{
	att->user = u;
	u->bytes += att->size;
	if (!att->nr_active)
		u->idle_bytes += att->size;
}

static void mcx_attach_uncharge(struct mcx_registry *reg,
				struct mcx_attach *att)
{
	struct mcx_user *u = att->user;

	att->user = NULL;
	u->bytes -= att->size;
	if (!att->nr_active)
		u->idle_bytes -= att->size;
	mcx_user_maybe_free(u);
}

int mcx_attach_add(struct mcx_registry *reg, struct mcx_attach *att,
		   struct mcx_user *u)
{
	INIT_LIST_HEAD(&att->entries);
	if (rhashtable_insert_fast(&reg->attachments, &att->node,
				   mcx_attach_params))
		return -ENOMEM;
	/* idle until its first entry, which comes in the same section */
	reg->idle_bytes += att->size;
	reg->stats.bytes_pinned += att->size;
	reg->stats.attachments++;
	mcx_attach_charge(reg, att, u);
	return 0;
}

void mcx_attach_add_entry(struct mcx_registry *reg, struct mcx_attach *att,
			  struct mcx_entry *e)
{
	list_add_tail(&e->att_node, &att->entries);
	att->nr_entries++;
	e->att = att;
}

void mcx_attach_set_active(struct mcx_registry *reg, struct mcx_attach *att,
			   bool active)
{
	if (active) {
		if (!att->nr_active++) {
			reg->idle_bytes -= att->size;
			att->user->idle_bytes -= att->size;
		}
	} else if (!--att->nr_active) {
		reg->idle_bytes += att->size;
		att->user->idle_bytes += att->size;
	}
}

static void mcx_attach_unlink(struct mcx_registry *reg,
			      struct mcx_attach *att)
{
	WARN_ON(rhashtable_remove_fast(&reg->attachments, &att->node,
				       mcx_attach_params));
	reg->idle_bytes -= att->size;
	reg->stats.bytes_pinned -= att->size;
	reg->stats.attachments--;
	mcx_attach_uncharge(reg, att);
	llist_add(&att->release_node, &reg->release);
}

/* Moves the charge when its user has no entry left on att. */
static void mcx_attach_recharge(struct mcx_registry *reg,
				struct mcx_attach *att)
{
	struct mcx_entry *e;

	list_for_each_entry(e, &att->entries, att_node) {
		if (uid_eq(e->nkey.owner, att->user->uid))
			return;
	}
	e = list_first_entry(&att->entries, struct mcx_entry, att_node);
	/* e's owner has a user record: it is charged for e's entry count */
	mcx_attach_uncharge(reg, att);
	mcx_attach_charge(reg, att, e->user);
}

void mcx_attach_del_entry(struct mcx_registry *reg, struct mcx_entry *e)
{
	struct mcx_attach *att = e->att;

	list_del_init(&e->att_node);
	att->nr_entries--;
	e->att = NULL;
	if (!att->nr_entries && !att->holds)
		mcx_attach_unlink(reg, att);
	else if (att->nr_entries)
		mcx_attach_recharge(reg, att);
}

/* A PIN that held att while it made room no longer needs it. */
void mcx_attach_put_hold(struct mcx_registry *reg, struct mcx_attach *att)
{
	if (!--att->holds && !att->nr_entries)
		mcx_attach_unlink(reg, att);
}
