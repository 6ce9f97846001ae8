// SPDX-License-Identifier: GPL-2.0
/*
 * mcxfer registry: the bookkeeping behind the ioctls (see registry.h).
 *
 * Everything here runs under reg->lock, a mutex: the registry is touched a
 * few times per registration, never on a data path, so one lock keeps the
 * state transitions easy to follow.  Entry lifetime:
 *
 *   miss -> ACTIVE (refs > 0) <-> LINGER (refs == 0, on reg->lru)
 *   LINGER -> freed (linger expiry, EVICT, cap pressure, linger_ms == 0)
 *   ACTIVE -> DEAD (exporter invalidation, device removal): the backend pin
 *             is dropped at once, the entry stays as a tombstone that only
 *             LOOKUP by id, LIST and UNPIN see, and is freed at its last
 *             unpin.
 *
 * A dead entry leaves the key and name tables, so a new PIN of the same
 * range or name creates a fresh entry.
 *
 * The key and name tables are rhashtables, so that their chains stay short
 * however many entries there are.  They are only searched and changed
 * under reg->lock, which is why an entry may be freed as soon as it is
 * removed from them: the only other walker is the table's own resize work,
 * and it reaches entries through the bucket locks that removal also takes.
 */

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/errno.h>
#include <linux/jhash.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/rhashtable.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/user_namespace.h>

#include "registry.h"

static u64 mcx_clock_default(void)
{
	return ktime_to_ms(ktime_get());
}

/* ---- key and name tables --------------------------------------------- */

/*
 * Keys are hashed and compared field by field: struct mcx_key may have
 * padding (32-bit), which callers do not clear.
 */
static u32 mcx_key_hash(const void *data, u32 len, u32 seed)
{
	const struct mcx_key *k = data;
	u32 words[8];

	words[0] = lower_32_bits((u64)(uintptr_t)k->buf);
	words[1] = upper_32_bits((u64)(uintptr_t)k->buf);
	words[2] = lower_32_bits(k->offset);
	words[3] = upper_32_bits(k->offset);
	words[4] = lower_32_bits(k->length);
	words[5] = upper_32_bits(k->length);
	words[6] = lower_32_bits((u64)(uintptr_t)k->target);
	words[7] = upper_32_bits((u64)(uintptr_t)k->target);
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

/* Names are NUL-terminated strings in e->name; the key is the string. */
static u32 mcx_name_hash(const void *data, u32 len, u32 seed)
{
	const char *name = data;

	return jhash(name, strnlen(name, MCXFER_NAME_MAX), seed);
}

static u32 mcx_name_obj_hash(const void *data, u32 len, u32 seed)
{
	const struct mcx_entry *e = data;

	return mcx_name_hash(e->name, len, seed);
}

static int mcx_name_cmp(struct rhashtable_compare_arg *arg, const void *obj)
{
	const struct mcx_entry *e = obj;

	return strncmp(e->name, arg->key, MCXFER_NAME_MAX);
}

static const struct rhashtable_params mcx_name_params = {
	.head_offset = offsetof(struct mcx_entry, name_node),
	.key_offset = offsetof(struct mcx_entry, name),
	.hashfn = mcx_name_hash,
	.obj_hashfn = mcx_name_obj_hash,
	.obj_cmpfn = mcx_name_cmp,
	.automatic_shrinking = true,
};

/*
 * Inserts can fail (a table that must grow but cannot allocate, or that is
 * already being resized); the ioctls report that as -ENOMEM.
 */
static int mcx_key_insert(struct mcx_registry *reg, struct mcx_entry *e)
{
	return rhashtable_insert_fast(&reg->by_key, &e->key_node,
				      mcx_key_params) ? -ENOMEM : 0;
}

static int mcx_name_insert(struct mcx_registry *reg, struct mcx_entry *e)
{
	return rhashtable_insert_fast(&reg->by_name, &e->name_node,
				      mcx_name_params) ? -ENOMEM : 0;
}

static void mcx_key_remove(struct mcx_registry *reg, struct mcx_entry *e)
{
	WARN_ON(rhashtable_remove_fast(&reg->by_key, &e->key_node,
				       mcx_key_params));
}

static void mcx_name_remove(struct mcx_registry *reg, struct mcx_entry *e)
{
	WARN_ON(rhashtable_remove_fast(&reg->by_name, &e->name_node,
				       mcx_name_params));
}

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

static void mcx_set_state(struct mcx_registry *reg, struct mcx_entry *e,
			  u32 state)
{
	(*mcx_state_counter(reg, e->state))--;
	(*mcx_state_counter(reg, state))++;
	e->state = state;
}

int mcx_name_check(const char *name)
{
	size_t len = strnlen(name, MCXFER_NAME_MAX);
	size_t i;

	if (len == MCXFER_NAME_MAX)
		return -ENAMETOOLONG;
	if (!len || name[0] == '/' || name[0] == '.')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char ch = name[i];

		/* ASCII only: the kernel's ctype also classifies Latin-1 */
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9'))
			continue;
		if (ch == '.' || ch == '_' || ch == '/' || ch == ':' ||
		    ch == '-')
			continue;
		return -EINVAL;
	}
	return 0;
}

void mcx_who_current(struct mcx_who *who)
{
	who->uid = current_fsuid();
	who->gid = current_fsgid();
	/* noaudit: this only widens what LIST and LOOKUP show */
	who->admin = ns_capable_noaudit(&init_user_ns, CAP_SYS_ADMIN);
	who->in_group = in_group_p;
}

bool mcx_entry_visible(const struct mcx_entry *e, const struct mcx_who *who)
{
	if (who->admin || uid_eq(e->owner_uid, who->uid))
		return true;
	switch (e->share) {
	case MCXFER_SHARE_ALL:
		return true;
	case MCXFER_SHARE_GROUP:
		if (gid_eq(e->owner_gid, who->gid))
			return true;
		return who->in_group && who->in_group(e->owner_gid);
	default:
		return false;
	}
}

bool mcx_entry_may_evict(const struct mcx_entry *e, const struct mcx_who *who)
{
	return who->admin || uid_eq(e->owner_uid, who->uid);
}

/* ---- lookups ---------------------------------------------------------- */

static struct mcx_entry *mcx_find_key(struct mcx_registry *reg,
				      const struct mcx_key *k)
{
	lockdep_assert_held(&reg->lock);
	return rhashtable_lookup_fast(&reg->by_key, k, mcx_key_params);
}

static struct mcx_entry *mcx_find_name(struct mcx_registry *reg,
				       const char *name)
{
	lockdep_assert_held(&reg->lock);
	return rhashtable_lookup_fast(&reg->by_name, name, mcx_name_params);
}

/* ---- per-user accounting ---------------------------------------------- */

static struct mcx_user *mcx_user_find(struct mcx_registry *reg, kuid_t uid)
{
	struct mcx_user *u;

	list_for_each_entry(u, &reg->users, node) {
		if (uid_eq(u->uid, uid))
			return u;
	}
	return NULL;
}

static struct mcx_user *mcx_user_get(struct mcx_registry *reg, kuid_t uid)
{
	struct mcx_user *u = mcx_user_find(reg, uid);

	if (u)
		return u;
	u = kzalloc(sizeof(*u), GFP_KERNEL);
	if (!u)
		return NULL;
	u->uid = uid;
	INIT_LIST_HEAD(&u->lru);
	list_add(&u->node, &reg->users);
	return u;
}

static void mcx_user_maybe_free(struct mcx_user *u)
{
	if (u->entries || u->pinning)
		return;
	list_del(&u->node);
	kfree(u);
}

static void mcx_charge(struct mcx_registry *reg, struct mcx_entry *e,
		       struct mcx_user *u)
{
	e->user = u;
	u->entries++;
	u->bytes += e->key.length;
	reg->stats.bytes_pinned += e->key.length;
}

static void mcx_uncharge(struct mcx_registry *reg, struct mcx_entry *e)
{
	struct mcx_user *u = e->user;

	if (!u)
		return;
	e->user = NULL;
	u->entries--;
	u->bytes -= e->key.length;
	reg->stats.bytes_pinned -= e->key.length;
	mcx_user_maybe_free(u);
}

/* ---- events to holders ------------------------------------------------- */

static void mcx_notify(struct mcx_entry *e, u32 type, u64 mr_id)
{
	struct mcx_ref *ref;

	list_for_each_entry(ref, &e->holders, e_node)
		mcx_client_event(ref->c, type, e->id, mr_id);
}

/* ---- LRU --------------------------------------------------------------- */

/*
 * A lingering entry is on reg->lru and on its user's lru, and counted in
 * both idle sums, so that PIN's cap checks need no walk of the lists.
 */
static void mcx_lru_add(struct mcx_registry *reg, struct mcx_entry *e)
{
	struct mcx_user *u = e->user;

	list_add_tail(&e->lru_node, &reg->lru);
	reg->idle_bytes += e->key.length;
	list_add_tail(&e->user_lru_node, &u->lru);
	u->idle_entries++;
	u->idle_bytes += e->key.length;
}

static void mcx_lru_del(struct mcx_registry *reg, struct mcx_entry *e)
{
	struct mcx_user *u = e->user;

	list_del_init(&e->lru_node);
	reg->idle_bytes -= e->key.length;
	list_del_init(&e->user_lru_node);
	u->idle_entries--;
	u->idle_bytes -= e->key.length;
}

/* ---- entry teardown ---------------------------------------------------- */

static void mcx_mr_free(struct mcx_registry *reg, struct mcx_entry *e,
			struct mcx_mr *mr)
{
	list_del(&mr->node);
	e->nr_mrs--;
	reg->stats.mrs--;
	if (reg->ops->mr_put)
		reg->ops->mr_put(mr);
	kfree(mr);
}

/*
 * Takes a live entry out of the tables and drops what it holds: MRs (with
 * MR_REMOVED to the holders when notify), accounting and the backend pin.
 */
static void mcx_entry_unlink(struct mcx_registry *reg, struct mcx_entry *e,
			     bool notify)
{
	struct mcx_mr *mr, *tmp;

	if (e->state == MCXFER_STATE_DEAD)
		return;
	mcx_key_remove(reg, e);
	if (e->named)
		mcx_name_remove(reg, e);
	if (e->state == MCXFER_STATE_LINGER)
		mcx_lru_del(reg, e);
	list_for_each_entry_safe(mr, tmp, &e->mrs, node) {
		if (notify)
			mcx_notify(e, MCXFER_EVENT_MR_REMOVED, mr->id);
		mcx_mr_free(reg, e, mr);
	}
	mcx_uncharge(reg, e);
	reg->ops->unpin(reg, e);
	e->priv = NULL;
}

/* Frees an entry nobody holds a reference on. */
static void mcx_entry_free(struct mcx_registry *reg, struct mcx_entry *e)
{
	mcx_entry_unlink(reg, e, false);
	xa_erase(&reg->entries, e->id);
	(*mcx_state_counter(reg, e->state))--;
	reg->stats.entries--;
	kfree(e);
}

/* Kills an entry that still has holders: it becomes a DEAD tombstone. */
static void mcx_entry_kill(struct mcx_registry *reg, struct mcx_entry *e,
			   u32 event)
{
	reg->stats.invalidations++;
	if (!e->refs) {
		mcx_entry_free(reg, e);
		return;
	}
	mcx_notify(e, event, 0);
	mcx_entry_unlink(reg, e, true);
	mcx_set_state(reg, e, MCXFER_STATE_DEAD);
}

/* ---- linger ------------------------------------------------------------ */

static void mcx_arm_linger(struct mcx_registry *reg)
{
	struct mcx_entry *e;
	u64 linger, now, due;

	if (!reg->wq || reg->dying || list_empty(&reg->lru))
		return;
	e = list_first_entry(&reg->lru, struct mcx_entry, lru_node);
	linger = READ_ONCE(reg->limits.linger_ms);
	now = reg->clock();
	due = e->idle_since_ms + linger;
	mod_delayed_work(reg->wq, &reg->linger_work,
			 due > now ? msecs_to_jiffies(due - now) : 0);
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
	mcx_set_state(reg, e, MCXFER_STATE_LINGER);
	mcx_lru_add(reg, e);
	mcx_arm_linger(reg);
}

void mcx_reg_expire(struct mcx_registry *reg)
{
	struct mcx_entry *e, *tmp;
	u64 linger, now;

	mutex_lock(&reg->lock);
	linger = READ_ONCE(reg->limits.linger_ms);
	now = reg->clock();
	/* reg->lru is in idle order, so the first one not due ends it */
	list_for_each_entry_safe(e, tmp, &reg->lru, lru_node) {
		if (linger && now - e->idle_since_ms < linger)
			break;
		mcx_entry_free(reg, e);
		reg->stats.evictions++;
	}
	mcx_arm_linger(reg);
	mutex_unlock(&reg->lock);
}

void mcx_reg_kick(struct mcx_registry *reg)
{
	mutex_lock(&reg->lock);
	if (reg->wq && !reg->dying)
		mod_delayed_work(reg->wq, &reg->linger_work, 0);
	mutex_unlock(&reg->lock);
}

static void mcx_linger_fn(struct work_struct *work)
{
	struct mcx_registry *reg = container_of(to_delayed_work(work),
						struct mcx_registry,
						linger_work);

	mcx_reg_expire(reg);
}

/* ---- references -------------------------------------------------------- */

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
		ref = kzalloc(sizeof(*ref), GFP_KERNEL);
		if (!ref)
			return -ENOMEM;
		ret = xa_insert(&c->refs, e->id, ref, GFP_KERNEL);
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

/* ---- lifetime ---------------------------------------------------------- */

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
	ret = rhashtable_init(&reg->by_name, &mcx_name_params);
	if (ret) {
		rhashtable_destroy(&reg->by_key);
		return ret;
	}
	mutex_init(&reg->lock);
	reg->ops = ops;
	memset(&reg->stats, 0, sizeof(reg->stats));
	xa_init_flags(&reg->entries, XA_FLAGS_ALLOC1);
	reg->next_id = 1;
	reg->next_mr_id = 0;
	INIT_LIST_HEAD(&reg->lru);
	reg->idle_bytes = 0;
	INIT_LIST_HEAD(&reg->users);
	INIT_LIST_HEAD(&reg->clients);
	reg->clock = mcx_clock_default;
	reg->wq = NULL;
	INIT_DELAYED_WORK(&reg->linger_work, mcx_linger_fn);
	INIT_WORK(&reg->invalid_work, mcx_invalid_fn);
	reg->dying = false;
	return 0;
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
	mutex_unlock(&reg->lock);
	/*
	 * An exporter may have invalidated an entry while it was being freed
	 * above; with every attachment gone nothing can queue the work again.
	 */
	cancel_work_sync(&reg->invalid_work);
	xa_destroy(&reg->entries);
	/* every live entry was removed from the tables when it was freed */
	rhashtable_destroy(&reg->by_name);
	rhashtable_destroy(&reg->by_key);
	mutex_destroy(&reg->lock);
}

void mcx_client_init(struct mcx_registry *reg, struct mcx_client *c)
{
	c->reg = reg;
	xa_init(&c->refs);
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
	list_del(&c->node);
	reg->stats.clients--;
	mutex_unlock(&reg->lock);
	xa_destroy(&c->refs);
}

/* ---- caps -------------------------------------------------------------- */

/* Would one more entry of len bytes on top of n entries, bytes exceed? */
static bool mcx_over(u64 n, u64 bytes, u64 max_n, u64 max_bytes, u64 len)
{
	if (max_n && n >= max_n)
		return true;
	return max_bytes && (len > max_bytes || bytes > max_bytes - len);
}

/*
 * Makes room for a new entry of len bytes owned by u.  Checks first that
 * evicting every idle entry that may go would be enough, so that a refused
 * PIN leaves the registry as it was.
 */
static int mcx_make_room(struct mcx_registry *reg, struct mcx_user *u,
			 u64 len)
{
	u64 max_n = READ_ONCE(reg->limits.max_entries);
	u64 max_b = READ_ONCE(reg->limits.max_pinned_bytes);
	u64 umax_n = READ_ONCE(reg->limits.user_max_entries);
	u64 umax_b = READ_ONCE(reg->limits.user_max_pinned_bytes);
	u64 live_n = reg->stats.entries - reg->stats.entries_dead;
	struct mcx_entry *e, *tmp;

	if (mcx_over(u->entries - u->idle_entries, u->bytes - u->idle_bytes,
		     umax_n, umax_b, len))
		return -EDQUOT;
	if (mcx_over(live_n - reg->stats.entries_linger,
		     reg->stats.bytes_pinned - reg->idle_bytes, max_n, max_b,
		     len))
		return -ENOSPC;

	list_for_each_entry_safe(e, tmp, &u->lru, user_lru_node) {
		if (!mcx_over(u->entries, u->bytes, umax_n, umax_b, len))
			break;
		mcx_entry_free(reg, e);
		reg->stats.evictions++;
	}
	list_for_each_entry_safe(e, tmp, &reg->lru, lru_node) {
		live_n = reg->stats.entries - reg->stats.entries_dead;
		if (!mcx_over(live_n, reg->stats.bytes_pinned, max_n, max_b,
			      len))
			break;
		mcx_entry_free(reg, e);
		reg->stats.evictions++;
	}
	return 0;
}

/* ---- PIN --------------------------------------------------------------- */

/* A named PIN that hits: the name must be the entry's, or become it. */
static int mcx_name_on_hit(struct mcx_registry *reg, struct mcx_entry *e,
			   const char *name, const struct mcx_who *who)
{
	int ret;

	if (!name)
		return 0;
	if (e->named)
		return strcmp(e->name, name) ? -EEXIST : 0;
	if (mcx_find_name(reg, name))
		return -EEXIST;
	/* naming publishes the entry, which is the owner's decision */
	if (!mcx_entry_may_evict(e, who))
		return -EPERM;
	strscpy(e->name, name, sizeof(e->name));
	ret = mcx_name_insert(reg, e);
	if (ret) {
		memset(e->name, 0, sizeof(e->name));
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
			memset(e->name, 0, sizeof(e->name));
		}
		return ret;
	}
	e->hits++;
	reg->stats.hits++;
	reg->stats.pins++;
	return 0;
}

static int mcx_pin_miss(struct mcx_client *c, const struct mcx_pin_args *args,
			const struct mcx_who *who, u64 *id)
{
	struct mcx_registry *reg = c->reg;
	const struct mcx_key *k = &args->key;
	struct mcx_entry *e;
	struct mcx_user *u;
	struct mcx_ref *ref;
	u32 xid;
	int ret;

	if (args->name && mcx_find_name(reg, args->name))
		return -EEXIST;
	if (k->target && reg->ops->target_alive &&
	    !reg->ops->target_alive(reg, k->target))
		return -ENODEV;

	u = mcx_user_get(reg, who->uid);
	if (!u)
		return -ENOMEM;
	/* evictions below may drop u's last entry: keep u */
	u->pinning++;
	ret = mcx_make_room(reg, u, k->length);
	if (ret)
		goto err_user;

	ret = -ENOMEM;
	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		goto err_user;
	ref = kzalloc(sizeof(*ref), GFP_KERNEL);
	if (!ref)
		goto err_entry;

	e->key = *k;
	INIT_LIST_HEAD(&e->lru_node);
	INIT_LIST_HEAD(&e->user_lru_node);
	INIT_LIST_HEAD(&e->holders);
	INIT_LIST_HEAD(&e->mrs);
	e->state = MCXFER_STATE_ACTIVE;
	e->flags = args->flags;
	e->share = args->share;
	e->owner_uid = who->uid;
	e->owner_gid = who->gid;
	e->buf_size = args->buf_size;
	e->created_ms = reg->clock();
	if (args->name) {
		strscpy(e->name, args->name, sizeof(e->name));
		e->named = true;
	}
	if (args->exporter)
		strscpy(e->exporter, args->exporter, sizeof(e->exporter));
	if (args->target_name)
		strscpy(e->target_name, args->target_name,
			sizeof(e->target_name));

	ret = xa_alloc_cyclic(&reg->entries, &xid, e, XA_LIMIT(1, U32_MAX),
			      &reg->next_id, GFP_KERNEL);
	if (ret < 0)
		goto err_ref;
	e->id = xid;
	ret = xa_insert(&c->refs, e->id, ref, GFP_KERNEL);
	if (ret)
		goto err_id;
	/* before the pin, which is the one step that cannot be undone cheaply */
	ret = mcx_key_insert(reg, e);
	if (ret)
		goto err_cref;
	if (e->named) {
		ret = mcx_name_insert(reg, e);
		if (ret)
			goto err_key;
	}

	ret = reg->ops->pin(reg, e, args->backend_arg);
	if (ret)
		goto err_name;

	ref->e = e;
	ref->c = c;
	ref->count = 1;
	list_add_tail(&ref->e_node, &e->holders);
	e->nr_holders = 1;
	e->refs = 1;
	mcx_charge(reg, e, u);
	reg->stats.entries++;
	reg->stats.entries_active++;
	reg->stats.misses++;
	reg->stats.pins++;
	u->pinning--;
	*id = e->id;
	return 0;

err_name:
	if (e->named)
		mcx_name_remove(reg, e);
err_key:
	mcx_key_remove(reg, e);
err_cref:
	xa_erase(&c->refs, e->id);
err_id:
	xa_erase(&reg->entries, e->id);
err_ref:
	kfree(ref);
err_entry:
	kfree(e);
err_user:
	u->pinning--;
	mcx_user_maybe_free(u);
	return ret;
}

int mcx_reg_pin(struct mcx_client *c, const struct mcx_pin_args *args,
		const struct mcx_who *who, u64 *id, bool *hit)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_entry *e;
	int ret;

	if (!args->key.buf || !args->key.length)
		return -EINVAL;
	mutex_lock(&reg->lock);
	e = mcx_find_key(reg, &args->key);
	if (e) {
		ret = mcx_pin_hit(c, e, args, who);
		if (!ret) {
			*id = e->id;
			*hit = true;
		}
	} else {
		ret = mcx_pin_miss(c, args, who, id);
		if (!ret)
			*hit = false;
	}
	mutex_unlock(&reg->lock);
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
	return ret;
}

/* ---- LOOKUP, LIST, EVICT, INFO ---------------------------------------- */

static void mcx_fill_info(struct mcx_registry *reg, const struct mcx_entry *e,
			  struct mcxfer_entry_info *info, u64 now)
{
	memset(info, 0, sizeof(*info));
	info->id = e->id;
	info->offset = e->key.offset;
	info->length = e->key.length;
	info->dmabuf_size = e->buf_size;
	info->owner_uid = from_kuid_munged(current_user_ns(), e->owner_uid);
	info->owner_gid = from_kgid_munged(current_user_ns(), e->owner_gid);
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
	memcpy(info->name, e->name, sizeof(e->name));
	memcpy(info->exporter, e->exporter, sizeof(e->exporter));
	memcpy(info->ibdev, e->target_name, sizeof(e->target_name));
}

int mcx_reg_lookup(struct mcx_client *c, const char *name, u64 id,
		   const struct mcx_who *who, bool take_ref, void **buf,
		   struct mcxfer_entry_info *info)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_entry *e = NULL;
	int ret = -ENOENT;

	mutex_lock(&reg->lock);
	if (name)
		e = mcx_find_name(reg, name);
	else if (id && id <= U32_MAX)
		e = xa_load(&reg->entries, id);
	/* a holder (a PIN hit on someone else's entry) may always look */
	if (!e || (!mcx_entry_visible(e, who) && !xa_load(&c->refs, e->id)))
		goto out;
	if ((take_ref || buf) && e->state == MCXFER_STATE_DEAD)
		goto out;
	ret = -EOPNOTSUPP;
	if (buf && !reg->ops->get_buf)
		goto out;
	if (take_ref) {
		ret = mcx_ref_get(c, e);
		if (ret)
			goto out;
	}
	if (buf)
		*buf = reg->ops->get_buf(e);
	reg->stats.lookups++;
	mcx_fill_info(reg, e, info, reg->clock());
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
		mcx_fill_info(reg, e, &out[i++], now);
	}
	mutex_unlock(&reg->lock);
	*n = i;
	*cursor = next;
	return 0;
}

int mcx_reg_evict(struct mcx_registry *reg, const struct mcx_who *who,
		  u64 id, bool idle, u64 *evicted)
{
	struct mcx_entry *e, *tmp;
	int ret = 0;

	*evicted = 0;
	mutex_lock(&reg->lock);
	if (idle) {
		list_for_each_entry_safe(e, tmp, &reg->lru, lru_node) {
			if (!mcx_entry_may_evict(e, who))
				continue;
			mcx_entry_free(reg, e);
			reg->stats.evictions++;
			(*evicted)++;
		}
		goto out;
	}
	e = id && id <= U32_MAX ? xa_load(&reg->entries, id) : NULL;
	if (!e || !mcx_entry_visible(e, who))
		ret = -ENOENT;
	else if (!mcx_entry_may_evict(e, who))
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
	mutex_unlock(&reg->lock);
}

/* ---- MRs --------------------------------------------------------------- */

int mcx_reg_publish_mr(struct mcx_client *c, u64 id, struct mcx_mr *mr,
		       u64 *mr_id)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_ref *ref = NULL;
	struct mcx_entry *e;
	struct mcx_mr *other;
	int ret = -ENOENT;

	mutex_lock(&reg->lock);
	if (id && id <= U32_MAX)
		ref = xa_load(&c->refs, id);
	if (!ref || ref->e->state == MCXFER_STATE_DEAD)
		goto out;
	e = ref->e;
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

int mcx_reg_get_mr(struct mcx_client *c, const struct mcx_who *who, u64 id,
		   const char *dev_name, u32 index, struct mcx_mr *out,
		   void **file)
{
	struct mcx_registry *reg = c->reg;
	struct mcx_entry *e = NULL;
	struct mcx_mr *mr, *found = NULL;
	int ret = -ENOENT;
	u32 i = 0;

	mutex_lock(&reg->lock);
	if (id && id <= U32_MAX)
		e = xa_load(&reg->entries, id);
	if (!e || !mcx_entry_visible(e, who))
		goto out;
	list_for_each_entry(mr, &e->mrs, node) {
		if (dev_name ? !strcmp(mr->dev_name, dev_name) : i == index) {
			found = mr;
			break;
		}
		i++;
	}
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

/* ---- device removal and invalidation ---------------------------------- */

void mcx_reg_target_removed(struct mcx_registry *reg, const void *target)
{
	struct mcx_mr *mr, *tmp;
	struct mcx_entry *e;
	unsigned long idx;

	mutex_lock(&reg->lock);
	xa_for_each(&reg->entries, idx, e) {
		list_for_each_entry_safe(mr, tmp, &e->mrs, node) {
			if (mr->dev != target)
				continue;
			mcx_notify(e, MCXFER_EVENT_MR_REMOVED, mr->id);
			mcx_mr_free(reg, e, mr);
		}
		if (e->state != MCXFER_STATE_DEAD && e->key.target == target)
			mcx_entry_kill(reg, e, MCXFER_EVENT_DEVICE_REMOVED);
	}
	mutex_unlock(&reg->lock);
}

void mcx_reg_note_invalid(struct mcx_registry *reg, struct mcx_entry *e)
{
	WRITE_ONCE(e->invalid, true);
	if (reg->wq)
		queue_work(reg->wq, &reg->invalid_work);
}

void mcx_reg_process_invalid(struct mcx_registry *reg)
{
	struct mcx_entry *e;
	unsigned long idx;

	mutex_lock(&reg->lock);
	xa_for_each(&reg->entries, idx, e) {
		if (e->state != MCXFER_STATE_DEAD && READ_ONCE(e->invalid))
			mcx_entry_kill(reg, e, MCXFER_EVENT_INVALIDATED);
	}
	mutex_unlock(&reg->lock);
}
