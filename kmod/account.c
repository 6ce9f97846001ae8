// SPDX-License-Identifier: GPL-2.0
/*
 * Accounting: per-uid records, the caps and the linger LRU.
 *
 * Entries count against their owner's entry caps; attachments count
 * against the bytes caps of the uid they are charged to (attach.c).  A
 * lingering entry is on reg->lru, oldest first, and counted in its
 * owner's idle_entries; an attachment all of whose entries linger is
 * counted in idle_bytes.  So PIN can tell without a walk whether evicting
 * every lingering entry would make enough room, and refuses before it
 * evicts anything when it would not.
 */

#include <linux/jiffies.h>
#include <linux/slab.h>

#include "reg_internal.h"

static struct mcx_user *mcx_user_find(struct mcx_registry *reg, kuid_t uid)
{
	struct mcx_user *u;

	list_for_each_entry(u, &reg->users, node) {
		if (uid_eq(u->uid, uid))
			return u;
	}
	return NULL;
}

struct mcx_user *mcx_user_get(struct mcx_registry *reg, kuid_t uid)
{
	struct mcx_user *u = mcx_user_find(reg, uid);

	if (u)
		return u;
	/* per-user state: charged to the caller's memory cgroup */
	u = kzalloc(sizeof(*u), GFP_KERNEL_ACCOUNT);
	if (!u)
		return NULL;
	u->uid = uid;
	list_add(&u->node, &reg->users);
	return u;
}

void mcx_user_maybe_free(struct mcx_user *u)
{
	if (u->entries || u->bytes || u->pinning)
		return;
	list_del(&u->node);
	kfree(u);
}

/* ---- caps -------------------------------------------------------------- */

struct mcx_room {
	u64 max_n, max_b, umax_n, umax_b;
	u64 new_bytes;
};

/* Which caps one more entry (and new_bytes) would exceed. */
struct mcx_over {
	bool user_n, user_b, global_n, global_b;
};

static bool mcx_cap_over(u64 max, u64 have, u64 more)
{
	return max && (more > max || have > max - more);
}

static struct mcx_over mcx_over(const struct mcx_room *r, u64 user_n,
				u64 user_b, u64 global_n, u64 global_b)
{
	return (struct mcx_over) {
		.user_n = mcx_cap_over(r->umax_n, user_n, 1),
		.user_b = r->new_bytes &&
			  mcx_cap_over(r->umax_b, user_b, r->new_bytes),
		.global_n = mcx_cap_over(r->max_n, global_n, 1),
		.global_b = r->new_bytes &&
			    mcx_cap_over(r->max_b, global_b, r->new_bytes),
	};
}

static bool mcx_over_user(const struct mcx_over *o)
{
	return o->user_n || o->user_b;
}

static bool mcx_over_any(const struct mcx_over *o)
{
	return mcx_over_user(o) || o->global_n || o->global_b;
}

static u64 mcx_live_entries(struct mcx_registry *reg)
{
	return reg->stats.entries - reg->stats.entries_dead;
}

static struct mcx_over mcx_over_now(struct mcx_registry *reg,
				    const struct mcx_room *r,
				    const struct mcx_user *u)
{
	return mcx_over(r, u->entries, u->bytes, mcx_live_entries(reg),
			reg->stats.bytes_pinned);
}

/*
 * Would evicting the lingering entry e bring u or the registry closer?
 * Any entry frees an entry slot.  Bytes are freed only with the last entry
 * of an attachment: evicting lingering entries frees the ones nobody uses
 * (all their entries linger, so all go in turn), never keep (the
 * attachment the new entry will use, held by the caller) nor one another
 * entry still uses, whose charge would only move to that entry's owner.
 */
static bool mcx_evict_helps(const struct mcx_over *o, struct mcx_entry *e,
			    struct mcx_user *u, struct mcx_attach *keep)
{
	bool frees_bytes = e->att != keep && !e->att->nr_active;

	if (o->global_n || (o->global_b && frees_bytes))
		return true;
	if (o->user_n && e->user == u)
		return true;
	return o->user_b && frees_bytes && e->att->user == u;
}

static struct mcx_room mcx_room(struct mcx_registry *reg, u64 new_bytes)
{
	return (struct mcx_room) {
		.max_n = READ_ONCE(reg->limits.max_entries),
		.max_b = READ_ONCE(reg->limits.max_pinned_bytes),
		.umax_n = READ_ONCE(reg->limits.user_max_entries),
		.umax_b = READ_ONCE(reg->limits.user_max_pinned_bytes),
		.new_bytes = new_bytes,
	};
}

/* Would the caps refuse even if every lingering entry went? */
static int mcx_room_check(struct mcx_registry *reg, const struct mcx_room *r,
			  const struct mcx_user *u)
{
	u64 n = u ? u->entries - u->idle_entries : 0;
	u64 b = u ? u->bytes - u->idle_bytes : 0;
	struct mcx_over o;

	o = mcx_over(r, n, b, mcx_live_entries(reg) - reg->stats.entries_linger,
		     reg->stats.bytes_pinned - reg->idle_bytes);
	if (mcx_over_user(&o))
		return -EDQUOT;
	return mcx_over_any(&o) ? -ENOSPC : 0;
}

/*
 * Before a PIN makes a new attachment of new_bytes for uid: refuses what
 * the caps would refuse anyway, so that the exporter is not asked to pin
 * and map a buffer for nothing.
 */
int mcx_room_precheck(struct mcx_registry *reg, kuid_t uid, u64 new_bytes)
{
	struct mcx_room r = mcx_room(reg, new_bytes);

	return mcx_room_check(reg, &r, mcx_user_find(reg, uid));
}

/*
 * Makes room for a new entry owned by u that brings new_bytes of new
 * attachment (0 when it shares one); keep is the attachment it will use,
 * held by the caller, which evicting would not free.
 */
int mcx_make_room(struct mcx_registry *reg, struct mcx_user *u,
		  u64 new_bytes, struct mcx_attach *keep)
{
	struct mcx_room r = mcx_room(reg, new_bytes);
	struct mcx_entry *e, *tmp;
	struct mcx_over o;
	int ret;

	ret = mcx_room_check(reg, &r, u);
	if (ret)
		return ret;

	list_for_each_entry_safe(e, tmp, &reg->lru, lru_node) {
		o = mcx_over_now(reg, &r, u);
		if (!mcx_over_any(&o))
			return 0;
		if (!mcx_evict_helps(&o, e, u, keep))
			continue;
		mcx_entry_free(reg, e);
		reg->stats.evictions++;
	}
	/* bytes that linger on keep, or are charged elsewhere, cannot go */
	o = mcx_over_now(reg, &r, u);
	if (mcx_over_user(&o))
		return -EDQUOT;
	return mcx_over_any(&o) ? -ENOSPC : 0;
}

/* ---- linger LRU --------------------------------------------------------- */

void mcx_lru_add(struct mcx_registry *reg, struct mcx_entry *e)
{
	list_add_tail(&e->lru_node, &reg->lru);
	e->user->idle_entries++;
}

void mcx_lru_del(struct mcx_registry *reg, struct mcx_entry *e)
{
	list_del_init(&e->lru_node);
	e->user->idle_entries--;
}

void mcx_arm_linger(struct mcx_registry *reg)
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
	mcx_reg_release(reg);
}

void mcx_reg_kick(struct mcx_registry *reg)
{
	mutex_lock(&reg->lock);
	if (reg->wq && !reg->dying)
		mod_delayed_work(reg->wq, &reg->linger_work, 0);
	mutex_unlock(&reg->lock);
}

void mcx_linger_fn(struct work_struct *work)
{
	struct mcx_registry *reg = container_of(to_delayed_work(work),
						struct mcx_registry,
						linger_work);

	mcx_reg_expire(reg);
}
