// SPDX-License-Identifier: GPL-2.0
/*
 * Names of live entries, scoped per owner uid: (owner, name) is unique, so
 * one user can neither squat another's name nor learn that it exists.
 * The table is an rhashtable, searched and changed under reg->lock only.
 */

#include <linux/jhash.h>
#include <linux/rhashtable.h>
#include <linux/string.h>

#include "reg_internal.h"

static u32 mcx_nkey_hash(const void *data, u32 len, u32 seed)
{
	const struct mcx_name_key *k = data;

	seed = jhash_1word(__kuid_val(k->owner), seed);
	return jhash(k->name, strnlen(k->name, MCXFER_NAME_MAX), seed);
}

static u32 mcx_nkey_obj_hash(const void *data, u32 len, u32 seed)
{
	const struct mcx_entry *e = data;

	return mcx_nkey_hash(&e->nkey, len, seed);
}

static int mcx_nkey_cmp(struct rhashtable_compare_arg *arg, const void *obj)
{
	const struct mcx_name_key *k = arg->key;
	const struct mcx_entry *e = obj;

	return !uid_eq(e->nkey.owner, k->owner) ||
	       strncmp(e->nkey.name, k->name, MCXFER_NAME_MAX);
}

static const struct rhashtable_params mcx_name_params = {
	.head_offset = offsetof(struct mcx_entry, name_node),
	.key_offset = offsetof(struct mcx_entry, nkey),
	.hashfn = mcx_nkey_hash,
	.obj_hashfn = mcx_nkey_obj_hash,
	.obj_cmpfn = mcx_nkey_cmp,
	.automatic_shrinking = true,
};

int mcx_names_init(struct mcx_registry *reg)
{
	return rhashtable_init(&reg->by_name, &mcx_name_params);
}

void mcx_names_destroy(struct mcx_registry *reg)
{
	rhashtable_destroy(&reg->by_name);
}

struct mcx_entry *mcx_name_find(struct mcx_registry *reg, kuid_t owner,
				const char *name)
{
	struct mcx_name_key k = { .owner = owner };

	lockdep_assert_held(&reg->lock);
	strscpy(k.name, name, sizeof(k.name));
	return rhashtable_lookup_fast(&reg->by_name, &k, mcx_name_params);
}

/*
 * Inserts can fail (a table that must grow but cannot allocate); the
 * ioctls report that as -ENOMEM.
 */
int mcx_name_insert(struct mcx_registry *reg, struct mcx_entry *e)
{
	lockdep_assert_held(&reg->lock);
	return rhashtable_insert_fast(&reg->by_name, &e->name_node,
				      mcx_name_params) ? -ENOMEM : 0;
}

void mcx_name_remove(struct mcx_registry *reg, struct mcx_entry *e)
{
	lockdep_assert_held(&reg->lock);
	WARN_ON(rhashtable_remove_fast(&reg->by_name, &e->name_node,
				       mcx_name_params));
}
