// SPDX-License-Identifier: GPL-2.0
/*
 * Registry entries: the key table, states, references, and the operations
 * of the ioctls on them (see registry.h).
 *
 * Entry lifetime:
 *
 *   miss -> ACTIVE (refs > 0) <-> LINGER (refs == 0, on reg->lru)
 *   LINGER -> freed (linger expiry, EVICT, cap pressure, linger_ms == 0)
 *   ACTIVE -> DEAD (exporter invalidation, device removal, owner revoke):
 *             the entry leaves its attachment at once (the last entry to
 *             leave drops the pin), stays as a tombstone that only LOOKUP
 *             by id, LIST and UNPIN see, and is freed at its last unpin.
 *
 * A dead entry leaves the key and name tables, so a new PIN of the same
 * range or name creates a fresh entry.  The tables are rhashtables, only
 * searched and changed under reg->lock, which is why an entry may be freed
 * as soon as it is removed from them: the only other walker is the
 * table's own resize work, and it reaches entries through the bucket
 * locks that removal also takes.
 */

#include <linux/err.h>
#include <linux/jhash.h>
#include <linux/ktime.h>
#include <linux/pid.h>
#include <linux/rhashtable.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/user_namespace.h>

#include "reg_internal.h"

static u64 mcx_clock_default(void)
{
	return ktime_to_ms(ktime_get());
}

/* ---- key table ---------------------------------------------------------- */

/*
 * Keys are hashed and compared field by field: struct mcx_key may have
 * padding (32-bit), which callers do not clear.
 */
static u32 mcx_key_hash(const void *data, u32 len, u32 seed)
{
	const struct mcx_key *k = data;
	u64 buf = (uintptr_t)k->buf, target = (uintptr_t)k->target;
	u32 words[8] = {
		lower_32_bits(buf), upper_32_bits(buf),
		lower_32_bits(k->offset), upper_32_bits(k->offset),
		lower_32_bits(k->length), upper_32_bits(k->length),
		lower_32_bits(target), upper_32_bits(target),
	};

	return jhash2(words, ARRAY_SIZE(words), seed);
}

static u32 mcx_key_obj_hash(const void *data, u32 len, u32 seed)
{
	const struct mcx_entry *e = data;

	return mcx_key_hash(&e->key, len, seed);
}

static int mcx_key_cmp(struct rhashtable_compare_arg *arg, const void *obj)
{
	const struct mcx_key *k = arg->key;
	const struct mcx_entry *e = obj;

	return !(e->key.buf == k->buf && e->key.offset == k->offset &&
		 e->key.length == k->length && e->key.target == k->target);
}

static const struct rhashtable_params mcx_key_params = {
	.head_offset = offsetof(struct mcx_entry, key_node),
	.key_offset = offsetof(struct mcx_entry, key),
	.key_len = sizeof(struct mcx_key),
	.hashfn = mcx_key_hash,
	.obj_hashfn = mcx_key_obj_hash,
	.obj_cmpfn = mcx_key_cmp,
	.automatic_shrinking = true,
};

static struct mcx_entry *mcx_find_key(struct mcx_registry *reg,
				      const struct mcx_key *k)
{
	lockdep_assert_held(&reg->lock);
	return rhashtable_lookup_fast(&reg->by_key, k, mcx_key_params);
}

struct mcx_entry *mcx_entry_by_id(struct mcx_registry *reg, u64 id)
{
	lockdep_assert_held(&reg->lock);
	if (!id || id > U32_MAX)
		return NULL;
	return xa_load(&reg->entries, id);
}

/* ---- states and events ---------------------------------------------------- */

static u64 *mcx_state_counter(struct mcx_registry *reg, u32 state)
{
	switch (state) {
	case MCXFER_STATE_ACTIVE:
		return &reg->stats.entries_active;
	case MCXFER_STATE_LINGER:
		return &reg->stats.entries_linger;
	default:
		return &reg->stats.entries_dead;
	}
}

void mcx_set_state(struct mcx_registry *reg, struct mcx_entry *e, u32 state)
{
	(*mcx_state_counter(reg, e->state))--;
	(*mcx_state_counter(reg, state))++;
	e->state = state;
}

void mcx_notify(struct mcx_entry *e, u32 type, u64 mr_id)
{
	struct mcx_ref *ref;

	list_for_each_entry(ref, &e->holders, e_node)
		mcx_client_event(ref->c, type, e->id, mr_id);
}

/* ---- teardown ------------------------------------------------------------ */

/*
 * Takes a live entry out of the tables, its attachment and its owner's
 * accounting, and drops its MRs (with MR_REMOVED to the holders when
 * notify).  The attachment, if this was its last entry, is detached by
 * the next mcx_reg_release().
 */
static void mcx_entry_unlink(struct mcx_registry *reg, struct mcx_entry *e,
			     bool notify)
{
	struct mcx_user *u = e->user;

	if (e->state == MCXFER_STATE_DEAD)
		return;
	WARN_ON(rhashtable_remove_fast(&reg->by_key, &e->key_node,
				       mcx_key_params));
	if (e->named)
		mcx_name_remove(reg, e);
	if (e->state == MCXFER_STATE_LINGER)
		mcx_lru_del(reg, e);
	else
		mcx_attach_set_active(reg, e->att, false);
	mcx_mrs_drop(reg, e, notify);
	mcx_attach_del_entry(reg, e);
	e->user = NULL;
	u->entries--;
	mcx_user_maybe_free(u);
}

/* Frees an entry nobody holds a reference on. */
void mcx_entry_free(struct mcx_registry *reg, struct mcx_entry *e)
{
	mcx_entry_unlink(reg, e, false);
	xa_erase(&reg->entries, e->id);
	(*mcx_state_counter(reg, e->state))--;
	reg->stats.entries--;
	kfree(e);
}

/* Kills an entry; one that still has holders becomes a DEAD tombstone. */
void mcx_entry_kill(struct mcx_registry *reg, struct mcx_entry *e, u32 event)
{
	if (!e->refs) {
		mcx_entry_free(reg, e);
		return;
	}
	mcx_notify(e, event, 0);
	mcx_entry_unlink(reg, e, true);
	mcx_set_state(reg, e, MCXFER_STATE_DEAD);
}

/* The last reference on e is gone. */
static void mcx_entry_idle(struct mcx_registry *reg, struct mcx_entry *e)
{
	if (e->state == MCXFER_STATE_DEAD ||
	    (e->flags & MCXFER_PIN_NO_LINGER) ||
	    !READ_ONCE(reg->limits.linger_ms)) {
		mcx_entry_free(reg, e);
		return;
	}
	e->idle_since_ms = reg->clock();
	mcx_attach_set_active(reg, e->att, false);
	mcx_set_state(reg, e, MCXFER_STATE_LINGER);
	mcx_lru_add(reg, e);
	mcx_arm_linger(reg);
}

/* ---- references ---------------------------------------------------------- */

static int mcx_ref_get(struct mcx_client *c, struct mcx_entry *e)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_ref *ref;
	int ret;

	if (e->refs == U32_MAX)
		return -EOVERFLOW;
	ref = xa_load(&c->refs, e->id);
	if (ref) {
		ref->count++;
	} else {
		ref = kzalloc(sizeof(*ref), GFP_KERNEL_ACCOUNT);
		if (!ref)
			return -ENOMEM;
		ret = xa_insert(&c->refs, e->id, ref, GFP_KERNEL_ACCOUNT);
		if (ret) {
			kfree(ref);
			return ret;
		}
		ref->e = e;
		ref->c = c;
		ref->count = 1;
		list_add_tail(&ref->e_node, &e->holders);
		e->nr_holders++;
	}
	e->refs++;
	if (e->state == MCXFER_STATE_LINGER) {
		mcx_lru_del(reg, e);
		e->idle_since_ms = 0;
		mcx_attach_set_active(reg, e->att, true);
		mcx_set_state(reg, e, MCXFER_STATE_ACTIVE);
	}
	return 0;
}

/* Drops n of ref's references (all of them frees ref). */
static void mcx_ref_put(struct mcx_registry *reg, struct mcx_ref *ref, u32 n)
{
	struct mcx_entry *e = ref->e;

	ref->count -= n;
	e->refs -= n;
	if (!ref->count) {
		xa_erase(&ref->c->refs, e->id);
		list_del(&ref->e_node);
		e->nr_holders--;
		kfree(ref);
	}
	if (!e->refs)
		mcx_entry_idle(reg, e);
}

/* ---- lifetime ------------------------------------------------------------ */

static void mcx_invalid_fn(struct work_struct *work)
{
	struct mcx_registry *reg = container_of(work, struct mcx_registry,
						invalid_work);

	mcx_reg_process_invalid(reg);
}

int mcx_reg_init(struct mcx_registry *reg, const struct mcx_backend_ops *ops)
{
	int ret;

	ret = rhashtable_init(&reg->by_key, &mcx_key_params);
	if (ret)
		return ret;
	ret = mcx_names_init(reg);
	if (ret)
		goto err_key;
	ret = mcx_attachments_init(reg);
	if (ret)
		goto err_names;
	mutex_init(&reg->lock);
	mutex_init(&reg->release_lock);
	reg->ops = ops;
	memset(&reg->stats, 0, sizeof(reg->stats));
	xa_init_flags(&reg->entries, XA_FLAGS_ALLOC1);
	reg->next_id = 1;
	reg->next_mr_id = 0;
	reg->next_ctx_id = 0;
	INIT_LIST_HEAD(&reg->ctxs);
	INIT_LIST_HEAD(&reg->lru);
	reg->idle_bytes = 0;
	INIT_LIST_HEAD(&reg->users);
	INIT_LIST_HEAD(&reg->clients);
	INIT_LIST_HEAD(&reg->pending);
	reg->pending_gen = 0;
	init_waitqueue_head(&reg->pending_wq);
	init_llist_head(&reg->release);
	reg->clock = mcx_clock_default;
	reg->wq = NULL;
	INIT_DELAYED_WORK(&reg->linger_work, mcx_linger_fn);
	INIT_WORK(&reg->invalid_work, mcx_invalid_fn);
	reg->dying = false;
	return 0;

err_names:
	mcx_names_destroy(reg);
err_key:
	rhashtable_destroy(&reg->by_key);
	return ret;
}

/*
 * Under release_lock, so that a caller that must know the detach is done
 * (device removal, teardown) also waits for attachments another task took
 * off the list just before: mcx_reg_release_sync().
 */
static void mcx_reg_release_sync(struct mcx_registry *reg)
{
	struct mcx_attach *att, *tmp;
	struct llist_node *list;

	mutex_lock(&reg->release_lock);
	list = llist_del_all(&reg->release);
	llist_for_each_entry_safe(att, tmp, list, release_node) {
		reg->ops->detach(reg, att->priv);
		kfree(att);
	}
	mutex_unlock(&reg->release_lock);
}

void mcx_reg_release(struct mcx_registry *reg)
{
	/* the common case of a call that dropped nothing costs no lock */
	if (!llist_empty(&reg->release))
		mcx_reg_release_sync(reg);
}

void mcx_reg_destroy(struct mcx_registry *reg)
{
	struct mcx_entry *e;
	unsigned long idx;

	mutex_lock(&reg->lock);
	reg->dying = true;
	mutex_unlock(&reg->lock);
	/* the works take reg->lock, so they are cancelled without it */
	cancel_delayed_work_sync(&reg->linger_work);
	cancel_work_sync(&reg->invalid_work);

	mutex_lock(&reg->lock);
	WARN_ON(!list_empty(&reg->clients));
	xa_for_each(&reg->entries, idx, e) {
		if (WARN_ON(e->refs))
			continue;
		mcx_entry_free(reg, e);
	}
	/* contexts live on clients and MR records, all gone now */
	WARN_ON(!list_empty(&reg->ctxs));
	mutex_unlock(&reg->lock);
	mcx_reg_release_sync(reg);
	/*
	 * An exporter may have invalidated an attachment while it was being
	 * detached; with every attachment gone nothing can queue it again.
	 */
	cancel_work_sync(&reg->invalid_work);
	xa_destroy(&reg->entries);
	mcx_attachments_destroy(reg);
	mcx_names_destroy(reg);
	rhashtable_destroy(&reg->by_key);
	mutex_destroy(&reg->release_lock);
	mutex_destroy(&reg->lock);
}

void mcx_client_init(struct mcx_registry *reg, struct mcx_client *c)
{
	c->reg = reg;
	xa_init(&c->refs);
	INIT_LIST_HEAD(&c->ctxs);
	spin_lock_init(&c->ev_lock);
	init_waitqueue_head(&c->ev_wait);
	c->ev_head = 0;
	c->ev_count = 0;
	c->ev_lost = false;
	mutex_lock(&reg->lock);
	list_add_tail(&c->node, &reg->clients);
	reg->stats.clients++;
	mutex_unlock(&reg->lock);
}

void mcx_client_release(struct mcx_client *c)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_ref *ref;
	unsigned long idx;

	mutex_lock(&reg->lock);
	xa_for_each(&c->refs, idx, ref)
		mcx_ref_put(reg, ref, ref->count);
	mcx_ctxs_client_release(reg, c);
	list_del(&c->node);
	reg->stats.clients--;
	mutex_unlock(&reg->lock);
	xa_destroy(&c->refs);
	mcx_reg_release(reg);
}

/* ---- PIN ----------------------------------------------------------------- */

/* A named PIN that hits: the owner's, and the name the entry's or new. */
static int mcx_name_on_hit(struct mcx_registry *reg, struct mcx_entry *e,
			   const char *name, const struct mcx_who *who)
{
	int ret;

	if (!name)
		return 0;
	/* naming is the owner's decision; not even admin names for others */
	if (!uid_eq(e->nkey.owner, who->uid))
		return -EPERM;
	if (e->named)
		return strcmp(e->nkey.name, name) ? -EEXIST : 0;
	if (mcx_name_find(reg, who->uid, name))
		return -EEXIST;
	strscpy(e->nkey.name, name, sizeof(e->nkey.name));
	ret = mcx_name_insert(reg, e);
	if (ret) {
		memset(e->nkey.name, 0, sizeof(e->nkey.name));
		return ret;
	}
	e->named = true;
	return 0;
}

static int mcx_pin_hit(struct mcx_client *c, struct mcx_entry *e,
		       const struct mcx_pin_args *args,
		       const struct mcx_who *who)
{
	struct mcx_registry *reg = c->reg;
	bool had_name = e->named;
	int ret;

	ret = mcx_name_on_hit(reg, e, args->name, who);
	if (ret)
		return ret;
	ret = mcx_ref_get(c, e);
	if (ret) {
		if (!had_name && e->named) {
			mcx_name_remove(reg, e);
			e->named = false;
			memset(e->nkey.name, 0, sizeof(e->nkey.name));
		}
		return ret;
	}
	e->hits++;
	reg->stats.hits++;
	reg->stats.pins++;
	return 0;
}

static void mcx_entry_setup(struct mcx_entry *e,
			    const struct mcx_pin_args *args,
			    const struct mcx_who *who, u64 now)
{
	e->key = args->key;
	INIT_LIST_HEAD(&e->lru_node);
	INIT_LIST_HEAD(&e->att_node);
	INIT_LIST_HEAD(&e->holders);
	INIT_LIST_HEAD(&e->mrs);
	e->state = MCXFER_STATE_ACTIVE;
	e->flags = args->flags;
	e->share = args->share;
	e->nkey.owner = who->uid;
	e->owner_gid = who->gid;
	e->buf_size = args->buf_size;
	e->created_ms = now;
	if (args->name) {
		strscpy(e->nkey.name, args->name, sizeof(e->nkey.name));
		e->named = true;
	}
	if (args->exporter)
		strscpy(e->exporter, args->exporter, sizeof(e->exporter));
	if (args->target_name)
		strscpy(e->target_name, args->target_name,
			sizeof(e->target_name));
}

/* Makes e live on att, referenced once by c through ref. */
static void mcx_entry_go_live(struct mcx_client *c, struct mcx_entry *e,
			      struct mcx_ref *ref, struct mcx_user *u,
			      struct mcx_attach *att)
{
	struct mcx_registry *reg = c->reg;

	ref->e = e;
	ref->c = c;
	ref->count = 1;
	list_add_tail(&ref->e_node, &e->holders);
	e->nr_holders = 1;
	e->refs = 1;
	e->user = u;
	u->entries++;
	mcx_attach_add_entry(reg, att, e);
	mcx_attach_set_active(reg, att, true);
	reg->stats.entries++;
	reg->stats.entries_active++;
	reg->stats.misses++;
	reg->stats.pins++;
}

/* A new entry on att (held by the caller), owned by u. */
static int mcx_entry_create(struct mcx_client *c,
			    const struct mcx_pin_args *args,
			    const struct mcx_who *who, struct mcx_user *u,
			    struct mcx_attach *att, u64 *id)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_entry *e;
	struct mcx_ref *ref;
	u32 xid;
	int ret = -ENOMEM;

	e = kzalloc(sizeof(*e), GFP_KERNEL_ACCOUNT);
	if (!e)
		return -ENOMEM;
	ref = kzalloc(sizeof(*ref), GFP_KERNEL_ACCOUNT);
	if (!ref)
		goto err_entry;
	mcx_entry_setup(e, args, who, reg->clock());
	ret = xa_alloc_cyclic(&reg->entries, &xid, e, XA_LIMIT(1, U32_MAX),
			      &reg->next_id, GFP_KERNEL_ACCOUNT);
	if (ret < 0)
		goto err_ref;
	e->id = xid;
	ret = xa_insert(&c->refs, e->id, ref, GFP_KERNEL_ACCOUNT);
	if (ret)
		goto err_id;
	ret = -ENOMEM;
	if (rhashtable_insert_fast(&reg->by_key, &e->key_node,
				   mcx_key_params))
		goto err_cref;
	if (e->named) {
		ret = mcx_name_insert(reg, e);
		if (ret)
			goto err_key;
	}
	mcx_entry_go_live(c, e, ref, u, att);
	*id = e->id;
	return 0;

err_key:
	WARN_ON(rhashtable_remove_fast(&reg->by_key, &e->key_node,
				       mcx_key_params));
err_cref:
	xa_erase(&c->refs, e->id);
err_id:
	xa_erase(&reg->entries, e->id);
err_ref:
	kfree(ref);
err_entry:
	kfree(e);
	return ret;
}

/* mcx_pin_locked(): no attachment yet, make one without the lock */
#define MCX_PIN_NEED_ATTACH	1

/*
 * PIN under reg->lock.  A miss with no attachment to share needs *fresh,
 * which the caller makes without the lock and hands in on a second call;
 * *fresh is consumed (set to NULL) when it becomes the entry's.
 */
static int mcx_pin_locked(struct mcx_client *c,
			  const struct mcx_pin_args *args,
			  const struct mcx_who *who,
			  struct mcx_attach **fresh, u64 *id, bool *hit)
{
	struct mcx_registry *reg = c->reg;
	const struct mcx_key *k = &args->key;
	struct mcx_attach *att;
	struct mcx_entry *e;
	struct mcx_user *u;
	int ret;

	e = mcx_find_key(reg, k);
	if (e) {
		ret = mcx_pin_hit(c, e, args, who);
		if (!ret) {
			*id = e->id;
			*hit = true;
		}
		return ret;
	}
	*hit = false;
	if (args->name && mcx_name_find(reg, who->uid, args->name))
		return -EEXIST;
	if (k->target && reg->ops->target_alive &&
	    !reg->ops->target_alive(reg, k->target))
		return -ENODEV;
	att = mcx_attach_find(reg, k->buf, k->target);
	if (!att && !*fresh) {
		ret = mcx_room_precheck(reg, who->uid, args->buf_size);
		return ret ?: MCX_PIN_NEED_ATTACH;
	}

	u = mcx_user_get(reg, who->uid);
	if (!u)
		return -ENOMEM;
	/* evictions below may drop u's last entry: keep u */
	u->pinning++;
	if (att)
		att->holds++;
	ret = mcx_make_room(reg, u, att ? 0 : (*fresh)->size, att);
	if (ret)
		goto out;
	if (!att) {
		att = *fresh;
		ret = mcx_attach_add(reg, att, u);
		if (ret) {
			att = NULL;
			goto out;
		}
		*fresh = NULL;
		att->holds++;
	}
	ret = mcx_entry_create(c, args, who, u, att, id);
	/* invalidated while no entry was on it: the work found nothing */
	if (!ret && READ_ONCE(att->invalid) && reg->wq)
		queue_work(reg->wq, &reg->invalid_work);
out:
	if (att)
		mcx_attach_put_hold(reg, att);
	u->pinning--;
	mcx_user_maybe_free(u);
	return ret;
}

/*
 * Attachments being made outside the lock are on reg->pending, so that a
 * device removal can wait until none is left for its device: the PIN
 * re-checks under the lock that the device is alive, and drops its
 * attachment when it is not.
 */
static bool mcx_pending_for(struct mcx_registry *reg, const void *target,
			    unsigned long *gen)
{
	struct mcx_attach *att;
	bool found = false;

	mutex_lock(&reg->lock);
	*gen = reg->pending_gen;
	list_for_each_entry(att, &reg->pending, pending_node) {
		if (att->key.target == target) {
			found = true;
			break;
		}
	}
	mutex_unlock(&reg->lock);
	return found;
}

/*
 * Waits until no PIN is making an attachment for target.  The list is
 * checked under reg->lock, which cannot be taken inside wait_event()'s
 * condition; the generation read with it tells when to look again.
 */
static void mcx_pending_wait(struct mcx_registry *reg, const void *target)
{
	unsigned long gen;

	while (mcx_pending_for(reg, target, &gen))
		wait_event(reg->pending_wq, READ_ONCE(reg->pending_gen) != gen);
}

static void mcx_pending_del(struct mcx_registry *reg, struct mcx_attach *att)
{
	lockdep_assert_held(&reg->lock);
	list_del_init(&att->pending_node);
	WRITE_ONCE(reg->pending_gen, reg->pending_gen + 1);
}

static void mcx_pending_done(struct mcx_registry *reg, struct mcx_attach *att)
{
	mutex_lock(&reg->lock);
	mcx_pending_del(reg, att);
	mutex_unlock(&reg->lock);
	wake_up_all(&reg->pending_wq);
}

/* The exporter's attach, pin and map, outside the registry lock. */
static int mcx_attach_make(struct mcx_registry *reg,
			   const struct mcx_pin_args *args,
			   struct mcx_attach **out)
{
	struct mcx_attach *att;
	void *priv;

	att = kzalloc(sizeof(*att), GFP_KERNEL_ACCOUNT);
	if (!att)
		return -ENOMEM;
	att->key.buf = args->key.buf;
	att->key.target = args->key.target;
	att->size = args->buf_size;
	INIT_LIST_HEAD(&att->entries);
	mutex_lock(&reg->lock);
	list_add_tail(&att->pending_node, &reg->pending);
	mutex_unlock(&reg->lock);
	priv = reg->ops->attach(reg, att, args->backend_arg);
	if (IS_ERR(priv)) {
		mcx_pending_done(reg, att);
		kfree(att);
		return PTR_ERR(priv);
	}
	att->priv = priv;
	*out = att;
	return 0;
}

int mcx_reg_pin(struct mcx_client *c, const struct mcx_pin_args *args,
		const struct mcx_who *who, u64 *id, bool *hit)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_attach *fresh = NULL, *made;
	int ret;

	if (!args->key.buf || !args->key.length || !args->buf_size)
		return -EINVAL;
	mutex_lock(&reg->lock);
	ret = mcx_pin_locked(c, args, who, &fresh, id, hit);
	mutex_unlock(&reg->lock);
	if (ret != MCX_PIN_NEED_ATTACH)
		goto out;

	ret = mcx_attach_make(reg, args, &fresh);
	if (ret)
		return ret;
	made = fresh;
	mutex_lock(&reg->lock);
	/* another PIN may have made the same entry or attachment meanwhile */
	ret = mcx_pin_locked(c, args, who, &fresh, id, hit);
	if (!fresh)
		mcx_pending_del(reg, made);
	mutex_unlock(&reg->lock);
	if (fresh) {
		reg->ops->detach(reg, fresh->priv);
		mcx_pending_done(reg, fresh);
		kfree(fresh);
	} else {
		wake_up_all(&reg->pending_wq);
	}
out:
	mcx_reg_release(reg);
	return ret;
}

int mcx_reg_unpin(struct mcx_client *c, u64 id)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_ref *ref;
	int ret = -ENOENT;

	if (!id || id > U32_MAX)
		return -ENOENT;
	mutex_lock(&reg->lock);
	ref = xa_load(&c->refs, id);
	if (ref) {
		mcx_ref_put(reg, ref, 1);
		reg->stats.unpins++;
		ret = 0;
	}
	mutex_unlock(&reg->lock);
	mcx_reg_release(reg);
	return ret;
}

/* ---- LOOKUP, LIST, EVICT, REVOKE, INFO ------------------------------------ */

static void mcx_fill_info(const struct mcx_entry *e,
			  const struct mcx_who *who,
			  struct mcxfer_entry_info *info, u64 now)
{
	struct user_namespace *ns = who->user_ns ?: &init_user_ns;

	memset(info, 0, sizeof(*info));
	info->id = e->id;
	info->offset = e->key.offset;
	info->length = e->key.length;
	info->dmabuf_size = e->buf_size;
	info->owner_uid = from_kuid_munged(ns, e->nkey.owner);
	info->owner_gid = from_kgid_munged(ns, e->owner_gid);
	info->share = e->share;
	info->state = e->state;
	info->refs = e->refs;
	info->holders = e->nr_holders;
	info->nr_mrs = e->nr_mrs;
	info->flags = e->flags;
	info->hits = e->hits;
	info->age_ms = now - e->created_ms;
	if (e->state == MCXFER_STATE_LINGER)
		info->idle_ms = now - e->idle_since_ms;
	if (e->att) {
		info->pinned_bytes = e->att->size;
		info->charged_uid = from_kuid_munged(ns, e->att->user->uid);
	}
	memcpy(info->name, e->nkey.name, sizeof(e->nkey.name));
	memcpy(info->exporter, e->exporter, sizeof(e->exporter));
	memcpy(info->ibdev, e->target_name, sizeof(e->target_name));
}

/* The whole dma-buf is what an exported fd reaches. */
static bool mcx_entry_whole_buf(const struct mcx_entry *e)
{
	return !e->key.offset && e->key.length == e->buf_size;
}

int mcx_reg_lookup(struct mcx_client *c, const char *name, kuid_t owner,
		   u64 id, const struct mcx_who *who, bool take_ref,
		   void **buf, struct mcxfer_entry_info *info)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_entry *e;
	int ret = -ENOENT;

	mutex_lock(&reg->lock);
	if (name)
		e = mcx_name_find(reg, owner, name);
	else
		e = mcx_entry_by_id(reg, id);
	/* a holder (a PIN hit on someone else's entry) may always look */
	if (!e || (!mcx_entry_visible(e, who) && !xa_load(&c->refs, e->id)))
		goto out;
	ret = -EIDRM;
	if ((take_ref || buf) && e->state == MCXFER_STATE_DEAD)
		goto out;
	ret = -EOPNOTSUPP;
	if (buf && !reg->ops->get_buf)
		goto out;
	ret = -EACCES;
	if (buf && !mcx_entry_is_owner(e, who) && !mcx_entry_whole_buf(e))
		goto out;
	if (take_ref) {
		ret = mcx_ref_get(c, e);
		if (ret)
			goto out;
	}
	if (buf)
		*buf = reg->ops->get_buf(e);
	reg->stats.lookups++;
	mcx_fill_info(e, who, info, reg->clock());
	ret = 0;
out:
	mutex_unlock(&reg->lock);
	return ret;
}

int mcx_reg_list(struct mcx_registry *reg, const struct mcx_who *who,
		 u64 *cursor, struct mcxfer_entry_info *out, u32 max, u32 *n)
{
	struct mcx_entry *e;
	unsigned long idx;
	u64 next = 0, now;
	u32 i = 0;

	*n = 0;
	if (*cursor > U32_MAX) {
		*cursor = 0;
		return 0;
	}
	mutex_lock(&reg->lock);
	now = reg->clock();
	xa_for_each_start(&reg->entries, idx, e, (unsigned long)*cursor) {
		if (!mcx_entry_visible(e, who))
			continue;
		if (i == max) {
			next = idx;
			break;
		}
		mcx_fill_info(e, who, &out[i++], now);
	}
	mutex_unlock(&reg->lock);
	*n = i;
	*cursor = next;
	return 0;
}

static u64 mcx_evict_idle(struct mcx_registry *reg, const struct mcx_who *who)
{
	struct mcx_entry *e, *tmp;
	u64 n = 0;

	list_for_each_entry_safe(e, tmp, &reg->lru, lru_node) {
		if (!mcx_entry_is_owner(e, who))
			continue;
		mcx_entry_free(reg, e);
		reg->stats.evictions++;
		n++;
	}
	return n;
}

int mcx_reg_evict(struct mcx_registry *reg, const struct mcx_who *who,
		  u64 id, bool idle, u64 *evicted)
{
	struct mcx_entry *e;
	int ret = 0;

	*evicted = 0;
	mutex_lock(&reg->lock);
	if (idle) {
		*evicted = mcx_evict_idle(reg, who);
		goto out;
	}
	e = mcx_entry_by_id(reg, id);
	if (!e || !mcx_entry_visible(e, who))
		ret = -ENOENT;
	else if (!mcx_entry_is_owner(e, who))
		ret = -EPERM;
	else if (e->state != MCXFER_STATE_LINGER)
		ret = -EBUSY;
	if (ret)
		goto out;
	mcx_entry_free(reg, e);
	reg->stats.evictions++;
	*evicted = 1;
out:
	mutex_unlock(&reg->lock);
	mcx_reg_release(reg);
	return ret;
}

int mcx_reg_revoke(struct mcx_registry *reg, const struct mcx_who *who,
		   u64 id)
{
	struct mcx_entry *e;
	int ret = 0;

	mutex_lock(&reg->lock);
	e = mcx_entry_by_id(reg, id);
	if (!e || !mcx_entry_visible(e, who))
		ret = -ENOENT;
	else if (!mcx_entry_is_owner(e, who))
		ret = -EPERM;
	else if (e->state == MCXFER_STATE_DEAD)
		ret = -EIDRM;
	if (!ret) {
		mcx_entry_kill(reg, e, MCXFER_EVENT_REVOKED);
		reg->stats.evictions++;
	}
	mutex_unlock(&reg->lock);
	mcx_reg_release(reg);
	return ret;
}

static void mcx_holder_fill(const struct mcx_ref *ref,
			    const struct mcx_who *who,
			    struct pid_namespace *pid_ns,
			    struct mcxfer_holder_info *h)
{
	const struct mcx_client *c = ref->c;

	memset(h, 0, sizeof(*h));
	h->pid = c->pid && pid_ns ? pid_nr_ns(c->pid, pid_ns) : 0;
	h->refs = ref->count;
	h->flags = ref->got_mr ? MCXFER_HOLDER_GOT_MR : 0;
	h->uid = from_kuid_munged(who->user_ns ?: &init_user_ns, c->uid);
	memcpy(h->comm, c->comm, min(sizeof(h->comm), sizeof(c->comm)));
}

int mcx_reg_holders(struct mcx_registry *reg, const struct mcx_who *who,
		    u64 id, struct pid_namespace *pid_ns,
		    struct mcxfer_holder_info *out, u32 max, u32 *n,
		    u32 *total)
{
	struct mcx_entry *e;
	struct mcx_ref *ref;
	int ret = -ENOENT;
	u32 i = 0;

	mutex_lock(&reg->lock);
	e = mcx_entry_by_id(reg, id);
	if (!e || !mcx_entry_visible(e, who))
		goto out;
	ret = -EPERM;
	if (!mcx_entry_is_owner(e, who))
		goto out;
	list_for_each_entry(ref, &e->holders, e_node) {
		if (i == max)
			break;
		mcx_holder_fill(ref, who, pid_ns, &out[i++]);
	}
	*n = i;
	*total = e->nr_holders;
	ret = 0;
out:
	mutex_unlock(&reg->lock);
	return ret;
}

void mcx_reg_get_info(struct mcx_registry *reg, struct mcxfer_info *info)
{
	memset(info, 0, sizeof(*info));
	info->abi_version = MCXFER_ABI_VERSION;
	info->linger_ms = READ_ONCE(reg->limits.linger_ms);
	info->max_pinned_bytes = READ_ONCE(reg->limits.max_pinned_bytes);
	info->max_entries = READ_ONCE(reg->limits.max_entries);
	info->user_max_pinned_bytes =
		READ_ONCE(reg->limits.user_max_pinned_bytes);
	info->user_max_entries = READ_ONCE(reg->limits.user_max_entries);
	mutex_lock(&reg->lock);
	info->pins = reg->stats.pins;
	info->hits = reg->stats.hits;
	info->misses = reg->stats.misses;
	info->unpins = reg->stats.unpins;
	info->lookups = reg->stats.lookups;
	info->evictions = reg->stats.evictions;
	info->invalidations = reg->stats.invalidations;
	info->bytes_pinned = reg->stats.bytes_pinned;
	info->entries = reg->stats.entries;
	info->entries_active = reg->stats.entries_active;
	info->entries_linger = reg->stats.entries_linger;
	info->entries_dead = reg->stats.entries_dead;
	info->mrs = reg->stats.mrs;
	info->clients = reg->stats.clients;
	info->attachments = reg->stats.attachments;
	info->contexts = reg->stats.contexts;
	mutex_unlock(&reg->lock);
}

/* ---- device removal and invalidation -------------------------------------- */

void mcx_reg_target_removed(struct mcx_registry *reg, const void *target)
{
	struct mcx_mr *mr, *tmp;
	struct mcx_entry *e;
	unsigned long idx;

	mutex_lock(&reg->lock);
	mcx_ctxs_target_dying(reg, target);
	xa_for_each(&reg->entries, idx, e) {
		list_for_each_entry_safe(mr, tmp, &e->mrs, node) {
			if (mr->dev == target)
				mcx_mr_drop(reg, e, mr, true);
		}
		if (e->state != MCXFER_STATE_DEAD && e->key.target == target) {
			reg->stats.invalidations++;
			mcx_entry_kill(reg, e, MCXFER_EVENT_DEVICE_REMOVED);
		}
	}
	mcx_ctxs_target_removed(reg, target);
	mutex_unlock(&reg->lock);
	/* the device's mappings must be gone before its removal goes on */
	mcx_reg_release_sync(reg);
	mcx_pending_wait(reg, target);
}

void mcx_reg_note_invalid(struct mcx_registry *reg, struct mcx_attach *att)
{
	WRITE_ONCE(att->invalid, true);
	if (reg->wq)
		queue_work(reg->wq, &reg->invalid_work);
}

void mcx_reg_process_invalid(struct mcx_registry *reg)
{
	struct mcx_entry *e;
	unsigned long idx;

	mutex_lock(&reg->lock);
	xa_for_each(&reg->entries, idx, e) {
		if (e->state != MCXFER_STATE_DEAD && READ_ONCE(e->att->invalid)) {
			reg->stats.invalidations++;
			mcx_entry_kill(reg, e, MCXFER_EVENT_INVALIDATED);
		}
	}
	mutex_unlock(&reg->lock);
	mcx_reg_release(reg);
}
