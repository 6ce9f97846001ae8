// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the mcxfer registry: hits and misses, references across
 * clients, linger, LRU eviction, expiry, caps, statistics, invalidation,
 * device removal, published MRs, LIST paging and the event queue; and of
 * attachments: one per (dma-buf, device), charging the whole dma-buf
 * once, the charge moving when its uid leaves, names per owner, REVOKE,
 * the owner-only MR records, and the backend running outside the
 * registry lock (two PINs of one key racing, a slow attach that must not
 * hold up anybody else).
 *
 * Each case gets a registry of its own with the fake backend and clock of
 * fixture.c; mcx_test_exit() checks that every attachment was detached
 * exactly once, never under the registry lock, and that no MR file
 * reference leaked.
 */

#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/workqueue.h>

#include "mcx_kunit.h"

#define UID_A	1000
#define GID_A	1000
#define UID_B	2000
#define GID_B	2000
#define UID_C	3000
#define GID_C	3000

static void expect_state(struct kunit *test, u64 id, u32 state, u32 refs,
			 u32 holders)
{
	struct mcxfer_entry_info info;

	KUNIT_ASSERT_EQ_MSG(test, mcx_test_entry(test, id, &info), 0,
			    "entry %llu is gone", id);
	KUNIT_EXPECT_EQ_MSG(test, info.state, state, "entry %llu", id);
	KUNIT_EXPECT_EQ_MSG(test, info.refs, refs, "entry %llu", id);
	KUNIT_EXPECT_EQ_MSG(test, info.holders, holders, "entry %llu", id);
}

static void expect_gone(struct kunit *test, u64 id)
{
	struct mcxfer_entry_info info;

	KUNIT_EXPECT_EQ_MSG(test, mcx_test_entry(test, id, &info), -ENOENT,
			    "entry %llu still there", id);
}

static struct mcxfer_info get_info(struct kunit *test)
{
	struct mcxfer_info info;

	mcx_reg_get_info(&mcx_t(test)->reg, &info);
	return info;
}

/* Attachments the backend made and has not been asked to drop yet. */
static unsigned int live_attachments(struct kunit *test)
{
	return mcx_t(test)->attaches - mcx_t(test)->detaches;
}

/* Leaves entry id lingering: pinned by a client that is then closed. */
static u64 pin_idle(struct kunit *test, const struct mcx_pin_args *args,
		    const struct mcx_who *who)
{
	struct mcx_client *c = mcx_test_client(test);
	u64 id = mcx_test_pin_ok(test, c, args, who, false);

	mcx_test_close(test, c);
	expect_state(test, id, MCXFER_STATE_LINGER, 0, 0);
	return id;
}

static void mcx_pin_same_key_hits(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 4096, 8192);
	struct mcxfer_entry_info info;
	u64 id1, id2;

	id1 = mcx_test_pin_ok(test, c, &args, &who, false);
	id2 = mcx_test_pin_ok(test, c, &args, &who, true);
	KUNIT_EXPECT_EQ(test, id1, id2);
	/* a hit makes no new attachment */
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 1U);
	KUNIT_EXPECT_EQ(test, get_info(test).attachments, 1ULL);
	expect_state(test, id1, MCXFER_STATE_ACTIVE, 2, 1);
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id1, &info), 0);
	KUNIT_EXPECT_EQ(test, info.hits, 1ULL);
	KUNIT_EXPECT_EQ(test, info.offset, 4096ULL);
	KUNIT_EXPECT_EQ(test, info.length, 8192ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, 1ULL);
}

static void mcx_pin_other_key_misses(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args base = mcx_test_args(0, 4096, 8192);
	struct mcx_pin_args args;
	u64 ids[5];
	unsigned int i, j;

	ids[0] = mcx_test_pin_ok(test, c, &base, &who, false);
	args = base;
	args.key.offset = 0;
	ids[1] = mcx_test_pin_ok(test, c, &args, &who, false);
	args = base;
	args.key.length = 4096;
	ids[2] = mcx_test_pin_ok(test, c, &args, &who, false);
	args = base;
	args.key.target = mcx_test_target(0);
	ids[3] = mcx_test_pin_ok(test, c, &args, &who, false);
	args = base;
	args.key.buf = mcx_test_buf(1);
	ids[4] = mcx_test_pin_ok(test, c, &args, &who, false);

	for (i = 0; i < ARRAY_SIZE(ids); i++)
		for (j = i + 1; j < ARRAY_SIZE(ids); j++)
			KUNIT_EXPECT_NE(test, ids[i], ids[j]);
	/* other ranges of buffer 0 share its attachment; not another device */
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 3U);
	KUNIT_EXPECT_EQ(test, get_info(test).attachments, 3ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 3ULL << 30);
	KUNIT_EXPECT_EQ(test, get_info(test).misses, 5ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).hits, 0ULL);
	for (i = 0; i < ARRAY_SIZE(ids); i++)
		expect_state(test, ids[i], MCXFER_STATE_ACTIVE, 1, 1);
}

static void mcx_pin_rejects_bad_args(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 0);
	bool hit;
	u64 id;

	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args, &who, &id, &hit),
			-EINVAL);
	args = mcx_test_args(0, 0, 4096);
	args.key.buf = NULL;
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args, &who, &id, &hit),
			-EINVAL);
	/* a dma-buf of no size charges nothing: refused */
	args = mcx_test_args(0, 0, 4096);
	args.buf_size = 0;
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args, &who, &id, &hit),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 0U);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, 0ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).pins, 0ULL);
}

static void mcx_refs_across_clients(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcxfer_entry_info info;
	u64 id;

	id = mcx_test_pin_ok(test, c1, &args, &a, false);
	/* another user holding the same dma-buf hits the same entry */
	KUNIT_EXPECT_EQ(test, mcx_test_pin_ok(test, c2, &args, &b, true), id);
	KUNIT_EXPECT_EQ(test, mcx_test_pin_ok(test, c2, &args, &b, true), id);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 3, 2);

	/* dropping one client keeps the entry active for the other */
	mcx_test_close(test, c1);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 2, 1);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 0U);

	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c2, id), 0);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 1, 1);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c2, id), 0);
	/* all dropped: the entry lingers, still pinned */
	expect_state(test, id, MCXFER_STATE_LINGER, 0, 0);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 0U);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_linger, 1ULL);
	/* hits by others do not change the owner */
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id, &info), 0);
	KUNIT_EXPECT_EQ(test, info.owner_uid, (u32)UID_A);
	KUNIT_EXPECT_EQ(test, info.owner_gid, (u32)GID_A);
}

static void mcx_unpin_needs_own_ref(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	u64 id;

	id = mcx_test_pin_ok(test, c1, &args, &who, false);
	/* c2 holds nothing on id, even though the same user made it */
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c2, id), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, 0), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, id + 1), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, 1ULL << 40), -ENOENT);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 1, 1);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, id), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, id), -ENOENT);
	KUNIT_EXPECT_EQ(test, get_info(test).unpins, 1ULL);
}

static void mcx_close_drops_every_ref(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args a1 = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args a2 = mcx_test_args(1, 0, 4096);
	u64 id1, id2;

	id1 = mcx_test_pin_ok(test, c, &a1, &who, false);
	mcx_test_pin_ok(test, c, &a1, &who, true);
	mcx_test_pin_ok(test, c, &a1, &who, true);
	id2 = mcx_test_pin_ok(test, c, &a2, &who, false);
	expect_state(test, id1, MCXFER_STATE_ACTIVE, 3, 1);

	mcx_test_close(test, c);
	expect_state(test, id1, MCXFER_STATE_LINGER, 0, 0);
	expect_state(test, id2, MCXFER_STATE_LINGER, 0, 0);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_active, 0ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_linger, 2ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).clients, 0ULL);
}

static void mcx_linger_rehit_is_warm(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcx_client *c;
	u64 id;

	id = pin_idle(test, &args, &who);
	mcx_test_advance(test, MCX_TEST_LINGER_MS - 1);
	c = mcx_test_client(test);
	/* a restarted process finds its entry warm: same id, no new pin */
	KUNIT_EXPECT_EQ(test, mcx_test_pin_ok(test, c, &args, &who, true), id);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 1U);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 1, 1);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_linger, 0ULL);

	/* active entries never expire */
	mcx_test_advance(test, 10 * MCX_TEST_LINGER_MS);
	mcx_reg_expire(&mcx_t(test)->reg);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 1, 1);
}

static void mcx_no_linger_drops_at_last_unpin(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args other = mcx_test_args(1, 0, 4096);
	u64 id, id2;

	args.flags = MCXFER_PIN_NO_LINGER;
	id = mcx_test_pin_ok(test, c, &args, &who, false);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c, id), 0);
	expect_gone(test, id);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);

	/* linger_ms == 0 drops every entry at its last unpin */
	mcx_t(test)->reg.limits.linger_ms = 0;
	id2 = mcx_test_pin_ok(test, c, &other, &who, false);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c, id2), 0);
	expect_gone(test, id2);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 2U);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, 0ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 0ULL);
}

static void mcx_linger_expires(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args a1 = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args a2 = mcx_test_args(1, 0, 4096);
	struct mcxfer_entry_info info;
	u64 id1, id2;

	id1 = pin_idle(test, &a1, &who);
	mcx_test_advance(test, 400);
	id2 = pin_idle(test, &a2, &who);

	mcx_test_advance(test, MCX_TEST_LINGER_MS - 400 - 1);
	mcx_reg_expire(&mcx_t(test)->reg);
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id1, &info), 0);
	KUNIT_EXPECT_EQ(test, info.idle_ms, (u64)MCX_TEST_LINGER_MS - 1);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 0U);

	/* the first one is due, the second 400 ms later */
	mcx_test_advance(test, 1);
	mcx_reg_expire(&mcx_t(test)->reg);
	expect_gone(test, id1);
	expect_state(test, id2, MCXFER_STATE_LINGER, 0, 0);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 1ULL);

	mcx_test_advance(test, 399);
	mcx_reg_expire(&mcx_t(test)->reg);
	expect_state(test, id2, MCXFER_STATE_LINGER, 0, 0);
	mcx_test_advance(test, 1);
	mcx_reg_expire(&mcx_t(test)->reg);
	expect_gone(test, id2);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 2ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, 0ULL);
}

static void mcx_lru_evicts_oldest_first(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args args[5];
	struct mcx_client *c;
	u64 ids[3];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(args); i++)
		args[i] = mcx_test_args(i, 0, 4096);
	/* idle in the order 1, 0, 2: the age of the idle time counts */
	ids[1] = pin_idle(test, &args[1], &who);
	mcx_test_advance(test, 10);
	ids[0] = pin_idle(test, &args[0], &who);
	mcx_test_advance(test, 10);
	ids[2] = pin_idle(test, &args[2], &who);

	mcx_t(test)->reg.limits.max_entries = 3;
	c = mcx_test_client(test);
	mcx_test_pin_ok(test, c, &args[3], &who, false);
	expect_gone(test, ids[1]);
	expect_state(test, ids[0], MCXFER_STATE_LINGER, 0, 0);
	expect_state(test, ids[2], MCXFER_STATE_LINGER, 0, 0);

	mcx_test_pin_ok(test, c, &args[4], &who, false);
	expect_gone(test, ids[0]);
	expect_state(test, ids[2], MCXFER_STATE_LINGER, 0, 0);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 2ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, 3ULL);
}

static void mcx_lru_rereferenced_entry_leaves(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args args[5];
	struct mcx_client *c;
	u64 ids[3];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(args); i++)
		args[i] = mcx_test_args(i, 0, 4096);
	for (i = 0; i < 3; i++) {
		ids[i] = pin_idle(test, &args[i], &who);
		mcx_test_advance(test, 10);
	}
	/* the oldest idle entry is taken again: it is no longer idle */
	c = mcx_test_client(test);
	KUNIT_EXPECT_EQ(test, mcx_test_pin_ok(test, c, &args[0], &who, true),
			ids[0]);

	mcx_t(test)->reg.limits.max_entries = 3;
	mcx_test_pin_ok(test, c, &args[3], &who, false);
	expect_state(test, ids[0], MCXFER_STATE_ACTIVE, 1, 1);
	expect_gone(test, ids[1]);
	expect_state(test, ids[2], MCXFER_STATE_LINGER, 0, 0);

	/* dropped again, it goes to the young end of the LRU */
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c, ids[0]), 0);
	mcx_test_pin_ok(test, c, &args[4], &who, false);
	expect_gone(test, ids[2]);
	expect_state(test, ids[0], MCXFER_STATE_LINGER, 0, 0);
}

static void mcx_cap_entries_refuses_when_nothing_idle(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args[3];
	struct mcxfer_info before;
	bool hit;
	u64 id;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(args); i++)
		args[i] = mcx_test_args(i, 0, 4096);
	mcx_t(test)->reg.limits.max_entries = 2;
	mcx_test_pin_ok(test, c, &args[0], &who, false);
	mcx_test_pin_ok(test, c, &args[1], &who, false);
	before = get_info(test);

	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args[2], &who, &id, &hit),
			-ENOSPC);
	/* nothing stays attached (see mcx_cap_refusal_attaches_nothing) */
	KUNIT_EXPECT_EQ(test, live_attachments(test), 2U);
	KUNIT_EXPECT_EQ(test, get_info(test).attachments, 2ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, before.entries);
	KUNIT_EXPECT_EQ(test, get_info(test).pins, before.pins);
	KUNIT_EXPECT_EQ(test, get_info(test).misses, before.misses);
	/* a hit needs no room */
	mcx_test_pin_ok(test, c, &args[1], &who, true);
}

static void mcx_cap_bytes_evicts_idle(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args big = mcx_test_whole(0, 600);
	struct mcx_pin_args idle = mcx_test_whole(1, 300);
	struct mcx_pin_args fits = mcx_test_whole(2, 400);
	struct mcx_client *c;
	u64 idle_id;

	mcx_t(test)->reg.limits.max_pinned_bytes = 1000;
	idle_id = pin_idle(test, &idle, &who);
	c = mcx_test_client(test);
	mcx_test_pin_ok(test, c, &big, &who, false);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 900ULL);

	/* 900 + 400 > 1000: the idle 300 go, and exactly 1000 are pinned */
	mcx_test_pin_ok(test, c, &fits, &who, false);
	expect_gone(test, idle_id);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 1000ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 1ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);
}

static void mcx_cap_bytes_refusal_keeps_idle(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args big = mcx_test_whole(0, 600);
	struct mcx_pin_args idle = mcx_test_whole(1, 300);
	struct mcx_pin_args toobig = mcx_test_whole(2, 500);
	struct mcx_pin_args huge = mcx_test_whole(3, 1001);
	struct mcx_client *c;
	u64 idle_id, id;
	bool hit;

	mcx_t(test)->reg.limits.max_pinned_bytes = 1000;
	idle_id = pin_idle(test, &idle, &who);
	c = mcx_test_client(test);
	mcx_test_pin_ok(test, c, &big, &who, false);

	/* 600 active + 500 > 1000 even with the idle entry gone */
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &toobig, &who, &id, &hit),
			-ENOSPC);
	/* nothing was evicted for a refused pin */
	expect_state(test, idle_id, MCXFER_STATE_LINGER, 0, 0);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 0ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 900ULL);

	/* larger than the cap itself */
	mcx_test_close(test, c);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(mcx_test_client(test), &huge, &who,
					  &id, &hit), -ENOSPC);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_linger, 2ULL);
}

static void mcx_cap_user_entries_evicts_own_idle(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_pin_args args[4];
	struct mcx_client *c;
	u64 b_idle, a_idle;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(args); i++)
		args[i] = mcx_test_args(i, 0, 4096);
	/* B's idle entry is the oldest in the LRU */
	b_idle = pin_idle(test, &args[0], &b);
	mcx_test_advance(test, 10);
	a_idle = pin_idle(test, &args[1], &a);

	mcx_t(test)->reg.limits.user_max_entries = 2;
	c = mcx_test_client(test);
	mcx_test_pin_ok(test, c, &args[2], &a, false);
	/* A is at its cap: A's own idle entry goes, not B's older one */
	mcx_test_pin_ok(test, c, &args[3], &a, false);
	expect_gone(test, a_idle);
	expect_state(test, b_idle, MCXFER_STATE_LINGER, 0, 0);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 1ULL);
}

static void mcx_cap_user_entries_refuses_edquot(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_pin_args args[4];
	struct mcx_client *c;
	u64 b_idle, id;
	bool hit;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(args); i++)
		args[i] = mcx_test_args(i, 0, 4096);
	b_idle = pin_idle(test, &args[0], &b);
	mcx_t(test)->reg.limits.user_max_entries = 2;
	c = mcx_test_client(test);
	mcx_test_pin_ok(test, c, &args[1], &a, false);
	mcx_test_pin_ok(test, c, &args[2], &a, false);

	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args[3], &a, &id, &hit),
			-EDQUOT);
	/* other users' idle entries do not make room under A's cap */
	expect_state(test, b_idle, MCXFER_STATE_LINGER, 0, 0);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 0ULL);
	/* B is under its own cap */
	mcx_test_pin_ok(test, c, &args[3], &b, false);
}

static void mcx_cap_user_bytes(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args a800 = mcx_test_whole(0, 800);
	struct mcx_pin_args a300 = mcx_test_whole(1, 300);
	struct mcx_pin_args a200 = mcx_test_whole(2, 200);
	struct mcx_pin_args huge = mcx_test_whole(3, 1001);
	struct mcx_pin_args b700 = mcx_test_whole(4, 700);
	u64 id;
	bool hit;

	mcx_t(test)->reg.limits.user_max_pinned_bytes = 1000;
	mcx_test_pin_ok(test, c, &a800, &a, false);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &a300, &a, &id, &hit), -EDQUOT);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &huge, &b, &id, &hit), -EDQUOT);
	/* B has its own quota; A may fill its quota exactly */
	mcx_test_pin_ok(test, c, &a300, &b, false);
	mcx_test_pin_ok(test, c, &a200, &a, false);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 1300ULL);

	/* a hit on A's entry does not charge B: B can still add 700 */
	mcx_test_pin_ok(test, c, &a800, &b, true);
	mcx_test_pin_ok(test, c, &b700, &b, false);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 2000ULL);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &a200, &a, &id, &hit), 0);
	KUNIT_EXPECT_TRUE(test, hit);
}

static void mcx_cap_global_evicts_any_owner(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_pin_args args[3];
	struct mcx_client *c;
	u64 b_idle, a_idle;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(args); i++)
		args[i] = mcx_test_args(i, 0, 4096);
	b_idle = pin_idle(test, &args[0], &b);
	mcx_test_advance(test, 10);
	a_idle = pin_idle(test, &args[1], &a);
	mcx_t(test)->reg.limits.max_entries = 2;
	c = mcx_test_client(test);
	/* the global cap takes the oldest idle entry, whoever owns it */
	mcx_test_pin_ok(test, c, &args[2], &a, false);
	expect_gone(test, b_idle);
	expect_state(test, a_idle, MCXFER_STATE_LINGER, 0, 0);
}

static void mcx_pin_backend_failure_leaves_nothing(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcxfer_entry_info ei;
	struct mcxfer_info info;
	u64 id;
	bool hit;

	args.name = "kv/fail";
	mcx_t(test)->reg.limits.user_max_entries = 1;
	mcx_t(test)->fail_attach = -ENOMEM;
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args, &who, &id, &hit),
			-ENOMEM);
	info = get_info(test);
	KUNIT_EXPECT_EQ(test, info.entries, 0ULL);
	KUNIT_EXPECT_EQ(test, info.pins, 0ULL);
	KUNIT_EXPECT_EQ(test, info.misses, 0ULL);
	KUNIT_EXPECT_EQ(test, info.bytes_pinned, 0ULL);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c, 1), -ENOENT);

	/* neither the name nor the user's quota was taken */
	id = mcx_test_pin_ok(test, c, &args, &who, false);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c, "kv/fail", who.uid, 0, &who,
					     false, NULL, &ei), 0);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 1, 1);
}

static void mcx_stats_accounting(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args a1 = mcx_test_whole(0, 4096);
	struct mcx_pin_args a2 = mcx_test_whole(1, 100);
	struct mcx_pin_args a3 = mcx_test_whole(2, 10);
	struct mcxfer_entry_info ei;
	struct mcxfer_info info;
	u64 id1, id2, id3, n;

	mcx_t(test)->reg.limits.max_entries = 77;
	id1 = mcx_test_pin_ok(test, c1, &a1, &who, false);
	mcx_test_pin_ok(test, c2, &a1, &who, true);
	id2 = mcx_test_pin_ok(test, c1, &a2, &who, false);
	id3 = mcx_test_pin_ok(test, c2, &a3, &who, false);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, id2), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c2, id1), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c1, NULL, who.uid, id1, &who,
					     false, NULL, &ei), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c1, NULL, who.uid, 999, &who,
					     false, NULL, &ei), -ENOENT);

	info = get_info(test);
	KUNIT_EXPECT_EQ(test, info.abi_version, (u32)MCXFER_ABI_VERSION);
	KUNIT_EXPECT_EQ(test, info.linger_ms, (u32)MCX_TEST_LINGER_MS);
	KUNIT_EXPECT_EQ(test, info.max_entries, 77ULL);
	KUNIT_EXPECT_EQ(test, info.pins, 4ULL);
	KUNIT_EXPECT_EQ(test, info.hits, 1ULL);
	KUNIT_EXPECT_EQ(test, info.misses, 3ULL);
	KUNIT_EXPECT_EQ(test, info.unpins, 2ULL);
	KUNIT_EXPECT_EQ(test, info.lookups, 1ULL);
	KUNIT_EXPECT_EQ(test, info.bytes_pinned, 4096ULL + 100 + 10);
	KUNIT_EXPECT_EQ(test, info.entries, 3ULL);
	KUNIT_EXPECT_EQ(test, info.entries_active, 2ULL);
	KUNIT_EXPECT_EQ(test, info.entries_linger, 1ULL);
	KUNIT_EXPECT_EQ(test, info.entries_dead, 0ULL);
	KUNIT_EXPECT_EQ(test, info.clients, 2ULL);
	KUNIT_EXPECT_EQ(test, info.evictions, 0ULL);
	KUNIT_EXPECT_EQ(test, info.attachments, 3ULL);

	KUNIT_EXPECT_EQ(test, mcx_reg_evict(&mcx_t(test)->reg, &who, id2,
					    false, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 1ULL);
	mcx_test_close(test, c2);
	info = get_info(test);
	KUNIT_EXPECT_EQ(test, info.evictions, 1ULL);
	KUNIT_EXPECT_EQ(test, info.bytes_pinned, 4096ULL + 10);
	KUNIT_EXPECT_EQ(test, info.entries, 2ULL);
	KUNIT_EXPECT_EQ(test, info.entries_active, 1ULL);
	KUNIT_EXPECT_EQ(test, info.entries_linger, 1ULL);
	KUNIT_EXPECT_EQ(test, info.clients, 1ULL);
	KUNIT_EXPECT_EQ(test, info.attachments, 2ULL);
	/* closing is not counted as UNPIN calls */
	KUNIT_EXPECT_EQ(test, info.unpins, 2ULL);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, id3, &ei), 0);
	KUNIT_EXPECT_EQ(test, ei.state, (u32)MCXFER_STATE_LINGER);
}

static bool pop_event(struct mcx_client *c, u32 *type, u64 *id, u64 *mr_id)
{
	struct mcxfer_event ev;

	if (!mcx_client_pop_event(c, &ev))
		return false;
	*type = ev.type;
	*id = ev.id;
	*mr_id = ev.mr_id;
	return ev.size == sizeof(ev);
}

static void mcx_invalidation_kills_entry(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcxfer_entry_info info;
	struct mcx_registry *reg = &mcx_t(test)->reg;
	u64 id, id2, mr_id, n;
	void *buf = NULL;
	u32 type;

	args.name = "kv/inv";
	id = mcx_test_pin_ok(test, c1, &args, &who, false);
	mcx_test_pin_ok(test, c2, &args, &who, true);
	KUNIT_ASSERT_NOT_NULL(test, mcx_t(test)->last_att);

	/* noting only marks: the entry dies when the work runs */
	mcx_reg_note_invalid(reg, mcx_t(test)->last_att);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 2, 2);
	mcx_reg_process_invalid(reg);
	expect_state(test, id, MCXFER_STATE_DEAD, 2, 2);
	/* the backend pin is dropped at once, not at the last unpin */
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);
	KUNIT_EXPECT_EQ(test, get_info(test).invalidations, 1ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_dead, 1ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 0ULL);

	/* both holders are told */
	KUNIT_ASSERT_TRUE(test, pop_event(c1, &type, &id2, &mr_id));
	KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_INVALIDATED);
	KUNIT_EXPECT_EQ(test, id2, id);
	KUNIT_EXPECT_FALSE(test, pop_event(c1, &type, &id2, &mr_id));
	KUNIT_ASSERT_TRUE(test, pop_event(c2, &type, &id2, &mr_id));
	KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_INVALIDATED);

	/* dead: found by id only, no new references or buffers */
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c1, NULL, who.uid, id, &who,
					     false, NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.state, (u32)MCXFER_STATE_DEAD);
	KUNIT_EXPECT_EQ(test, info.pinned_bytes, 0ULL);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c1, NULL, who.uid, id, &who,
					     true, NULL, &info), -EIDRM);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c1, NULL, who.uid, id, &who,
					     false, &buf, &info), -EIDRM);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c1, "kv/inv", who.uid, 0, &who,
					     false, NULL, &info), -ENOENT);
	/* a tombstone is not evicted: it goes with its holders */
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &who, id, false, &n), -EBUSY);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &who, 0, true, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 0ULL);
	expect_state(test, id, MCXFER_STATE_DEAD, 2, 2);

	/* the same range and name make a fresh entry */
	id2 = mcx_test_pin_ok(test, c1, &args, &who, false);
	KUNIT_EXPECT_NE(test, id2, id);

	/* the tombstone goes with its last reference, without linger */
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, id), 0);
	mcx_test_close(test, c2);
	expect_gone(test, id);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_dead, 0ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);
}

static void mcx_invalidation_of_idle_entry_frees(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	u64 id;

	id = pin_idle(test, &args, &who);
	mcx_reg_note_invalid(reg, mcx_t(test)->last_att);
	mcx_reg_process_invalid(reg);
	expect_gone(test, id);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, 0ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_linger, 0ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).invalidations, 1ULL);
}

static struct mcx_mr *new_mr(struct kunit *test, unsigned int dev,
			     u64 length)
{
	struct mcx_mr *mr = kzalloc(sizeof(*mr), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, mr);
	mr->dev = mcx_test_target(dev);
	snprintf(mr->dev_name, sizeof(mr->dev_name), "rxe%u", dev);
	/* the fake mr_get/mr_put count references in the case's state */
	mr->file = (struct file *)mcx_t(test);
	mr->lkey = 0x100 + dev;
	mr->rkey = 0x200 + dev;
	mr->length = length;
	return mr;
}

/* Publishes mr; on success the registry owns it and its file reference. */
static int publish(struct kunit *test, struct mcx_client *c,
		   const struct mcx_who *who, u64 id, struct mcx_mr *mr,
		   u64 *mr_id)
{
	int ret;

	mcx_t(test)->mr_file_refs++;
	ret = mcx_reg_publish_mr(c, who, id, mr, mr_id);
	if (ret) {
		mcx_t(test)->mr_file_refs--;
		kfree(mr);
	}
	return ret;
}

static void mcx_mr_publish_and_get(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_who admin = mcx_test_admin(UID_C, GID_C);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcxfer_entry_info info;
	struct mcx_mr out;
	u64 id, mr0, mr1, unused;
	struct file *file = NULL;

	id = mcx_test_pin_ok(test, c1, &args, &a, false);
	KUNIT_ASSERT_EQ(test, publish(test, c1, &a, id, new_mr(test, 0, 4096),
				      &mr0), 0);
	KUNIT_ASSERT_EQ(test, publish(test, c1, &a, id, new_mr(test, 1, 1024),
				      &mr1), 0);
	KUNIT_EXPECT_NE(test, mr0, mr1);
	/* one MR per device */
	KUNIT_EXPECT_EQ(test, publish(test, c1, &a, id, new_mr(test, 0, 4096),
				      &unused), -EEXIST);
	/* length 0 or beyond the entry */
	KUNIT_EXPECT_EQ(test, publish(test, c1, &a, id, new_mr(test, 2, 4097),
				      &unused), -EINVAL);
	KUNIT_EXPECT_EQ(test, publish(test, c1, &a, id, new_mr(test, 2, 0),
				      &unused), -EINVAL);
	/* only a holder may publish, even the owner */
	KUNIT_EXPECT_EQ(test, publish(test, c2, &a, id, new_mr(test, 2, 4096),
				      &unused), -ENOENT);
	/* not for a device being removed */
	mcx_t(test)->dead_target = mcx_test_target(3);
	KUNIT_EXPECT_EQ(test, publish(test, c1, &a, id, new_mr(test, 3, 4096),
				      &unused), -ENODEV);
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id, &info), 0);
	KUNIT_EXPECT_EQ(test, info.nr_mrs, 2U);
	KUNIT_EXPECT_EQ(test, get_info(test).mrs, 2ULL);

	/* by device name, and by index, from a client holding nothing */
	KUNIT_ASSERT_EQ(test, mcx_reg_get_mr(c2, &a, id, "rxe1", 0, &out,
					     NULL), 0);
	KUNIT_EXPECT_EQ(test, out.id, mr1);
	KUNIT_EXPECT_EQ(test, out.rkey, 0x201U);
	KUNIT_EXPECT_EQ(test, out.length, 1024ULL);
	KUNIT_ASSERT_EQ(test, mcx_reg_get_mr(c2, &a, id, NULL, 0, &out, &file),
			0);
	KUNIT_EXPECT_EQ(test, out.id, mr0);
	KUNIT_EXPECT_PTR_EQ(test, (void *)file, (void *)mcx_t(test));
	/* the caller now holds a file reference of its own: give it back */
	KUNIT_EXPECT_EQ(test, mcx_t(test)->mr_file_refs, 3);
	mcx_t(test)->mr_file_refs--;
	KUNIT_EXPECT_EQ(test, mcx_reg_get_mr(c2, &a, id, NULL, 2, &out, NULL),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_get_mr(c2, &a, id, "rxe9", 0, &out,
					     NULL), -ENOENT);

	/*
	 * A record is a whole uverbs context: the owner's alone.  B sees
	 * the entry and holds it (a PIN hit), and may do neither.
	 */
	KUNIT_EXPECT_EQ(test, mcx_test_pin_ok(test, c2, &args, &b, true), id);
	KUNIT_EXPECT_EQ(test, publish(test, c2, &b, id, new_mr(test, 2, 4096),
				      &unused), -EPERM);
	KUNIT_EXPECT_EQ(test, mcx_reg_get_mr(c2, &b, id, "rxe1", 0, &out,
					     NULL), -EPERM);
	file = NULL;
	KUNIT_EXPECT_EQ(test, mcx_reg_get_mr(c2, &b, id, NULL, 0, &out, &file),
			-EPERM);
	KUNIT_EXPECT_NULL(test, file);
	/* CAP_SYS_ADMIN may */
	KUNIT_EXPECT_EQ(test, mcx_reg_get_mr(c2, &admin, id, "rxe0", 0, &out,
					     NULL), 0);
	KUNIT_EXPECT_EQ(test, out.id, mr0);
	KUNIT_EXPECT_EQ(test, publish(test, c2, &admin, id,
				      new_mr(test, 2, 4096), &unused), 0);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->mr_file_refs, 3);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c2, id), 0);

	/* the entry's end drops its MRs and their file references */
	mcx_test_close(test, c1);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(&mcx_t(test)->reg, &a, id, false,
					    &unused), 0);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->mr_file_refs, 0);
	KUNIT_EXPECT_EQ(test, get_info(test).mrs, 0ULL);
}

static struct mcx_mr *new_mr_at(struct kunit *test, unsigned int dev, u64 offset,
				u64 length)
{
	struct mcx_mr *mr = new_mr(test, dev, length);

	mr->offset = offset;
	mr->mr_handle = (u32)(offset >> 12) | dev << 16;
	return mr;
}

static u64 get_mr_off(struct kunit *test, struct mcx_client *c,
		      const struct mcx_who *who, u64 id, const char *dev,
		      u32 index)
{
	struct mcx_mr out;

	KUNIT_ASSERT_EQ(test, mcx_reg_get_mr(c, who, id, dev, index, &out,
					     NULL), 0);
	return out.offset;
}

/* Chunks of one registration: one MR per chunk, per device. */
static void mcx_mr_sub_ranges(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 16384);
	struct mcx_mr out;
	u64 id, unused;

	id = mcx_test_pin_ok(test, c, &args, &a, false);
	/* out of order on purpose: GET_MR walks in offset order */
	KUNIT_ASSERT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 0, 8192, 8192),
				      &unused), 0);
	KUNIT_ASSERT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 1, 0, 16384),
				      &unused), 0);
	KUNIT_ASSERT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 0, 0, 4096), &unused), 0);
	KUNIT_ASSERT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 0, 4096, 4096),
				      &unused), 0);
	/* overlaps on the same device, at either end or inside */
	KUNIT_EXPECT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 0, 4095, 2), &unused),
			-EEXIST);
	KUNIT_EXPECT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 0, 12288, 1), &unused),
			-EEXIST);
	KUNIT_EXPECT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 1, 16383, 1), &unused),
			-EEXIST);
	/* outside the entry: past its end, or an offset beyond it */
	KUNIT_EXPECT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 2, 12288, 4097),
				      &unused), -EINVAL);
	KUNIT_EXPECT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 2, 16385, 1), &unused),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 2, U64_MAX, 2), &unused),
			-EINVAL);
	/* the range touching the end exactly is inside */
	KUNIT_EXPECT_EQ(test, publish(test, c, &a, id,
				      new_mr_at(test, 2, 16383, 1), &unused),
			0);

	/* per device in offset order */
	KUNIT_EXPECT_EQ(test, get_mr_off(test, c, &a, id, "rxe0", 0), 0ULL);
	KUNIT_EXPECT_EQ(test, get_mr_off(test, c, &a, id, "rxe0", 1), 4096ULL);
	KUNIT_EXPECT_EQ(test, get_mr_off(test, c, &a, id, "rxe0", 2), 8192ULL);
	KUNIT_EXPECT_EQ(test, mcx_reg_get_mr(c, &a, id, "rxe0", 3, &out, NULL),
			-ENOENT);
	/* the whole entry: by device (first publication), then offset */
	KUNIT_EXPECT_EQ(test, get_mr_off(test, c, &a, id, NULL, 0), 0ULL);
	KUNIT_ASSERT_EQ(test, mcx_reg_get_mr(c, &a, id, NULL, 2, &out, NULL),
			0);
	KUNIT_EXPECT_STREQ(test, out.dev_name, "rxe0");
	KUNIT_EXPECT_EQ(test, out.offset, 8192ULL);
	KUNIT_EXPECT_EQ(test, out.length, 8192ULL);
	KUNIT_ASSERT_EQ(test, mcx_reg_get_mr(c, &a, id, NULL, 3, &out, NULL),
			0);
	KUNIT_EXPECT_STREQ(test, out.dev_name, "rxe1");
	KUNIT_ASSERT_EQ(test, mcx_reg_get_mr(c, &a, id, NULL, 4, &out, NULL),
			0);
	KUNIT_EXPECT_STREQ(test, out.dev_name, "rxe2");
	KUNIT_EXPECT_EQ(test, out.offset, 16383ULL);
	KUNIT_EXPECT_EQ(test, mcx_reg_get_mr(c, &a, id, NULL, 5, &out, NULL),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, get_info(test).mrs, 5ULL);
	/* freeing the entry drops all of them */
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c, id), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(&mcx_t(test)->reg, &a, id, false,
					    &unused), 0);
	KUNIT_EXPECT_EQ(test, get_info(test).mrs, 0ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->mr_file_refs, 0);
}

static void mcx_holders(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_who admin = mcx_test_admin(UID_C, GID_C);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_holder_info h[3];
	struct file *file = NULL;
	struct mcx_mr out;
	u32 n = 99, total = 99;
	u64 id, unused;

	/* identities are set at open, before the client is known */
	c1->uid = KUIDT_INIT(UID_A);
	strscpy(c1->comm, "engine-a", sizeof(c1->comm));
	c2->uid = KUIDT_INIT(UID_B);
	strscpy(c2->comm, "other", sizeof(c2->comm));

	id = mcx_test_pin_ok(test, c1, &args, &a, false);
	mcx_test_pin_ok(test, c1, &args, &a, true);
	mcx_test_pin_ok(test, c2, &args, &b, true);
	KUNIT_ASSERT_EQ(test, publish(test, c1, &a, id, new_mr(test, 0, 4096),
				      &unused), 0);
	KUNIT_ASSERT_EQ(test, mcx_reg_get_mr(c1, &a, id, NULL, 0, &out, &file),
			0);
	mcx_t(test)->mr_file_refs--;

	KUNIT_ASSERT_EQ(test, mcx_reg_holders(reg, &a, id, NULL, h, 3, &n,
					      &total), 0);
	KUNIT_EXPECT_EQ(test, n, 2U);
	KUNIT_EXPECT_EQ(test, total, 2U);
	KUNIT_EXPECT_EQ(test, h[0].refs, 2U);
	KUNIT_EXPECT_EQ(test, h[0].uid, (u32)UID_A);
	KUNIT_EXPECT_EQ(test, h[0].flags, MCXFER_HOLDER_GOT_MR);
	KUNIT_EXPECT_STREQ(test, (char *)h[0].comm, "engine-a");
	/* no pid namespace given: nobody is visible */
	KUNIT_EXPECT_EQ(test, h[0].pid, 0U);
	KUNIT_EXPECT_EQ(test, h[1].refs, 1U);
	KUNIT_EXPECT_EQ(test, h[1].uid, (u32)UID_B);
	KUNIT_EXPECT_EQ(test, h[1].flags, 0U);
	/* a short array gets the first ones, and the total */
	KUNIT_ASSERT_EQ(test, mcx_reg_holders(reg, &admin, id, NULL, h, 1, &n,
					      &total), 0);
	KUNIT_EXPECT_EQ(test, n, 1U);
	KUNIT_EXPECT_EQ(test, total, 2U);
	/* B sees the entry (share ALL) but does not own it */
	KUNIT_EXPECT_EQ(test, mcx_reg_holders(reg, &b, id, NULL, h, 3, &n,
					      &total), -EPERM);
	KUNIT_EXPECT_EQ(test, mcx_reg_holders(reg, &a, id + 1, NULL, h, 3, &n,
					      &total), -ENOENT);
	/* a closed client is no holder any more */
	mcx_test_close(test, c2);
	KUNIT_ASSERT_EQ(test, mcx_reg_holders(reg, &a, id, NULL, h, 3, &n,
					      &total), 0);
	KUNIT_EXPECT_EQ(test, total, 1U);
}

/* Owner-only entries: others get ENOENT, as for every other lookup. */
static void mcx_holders_hidden(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcxfer_holder_info h;
	u32 n, total;
	u64 id;

	args.share = MCXFER_SHARE_OWNER;
	id = mcx_test_pin_ok(test, c, &args, &a, false);
	KUNIT_EXPECT_EQ(test, mcx_reg_holders(&mcx_t(test)->reg, &b, id, NULL,
					      &h, 1, &n, &total), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_holders(&mcx_t(test)->reg, &a, id, NULL,
					      &h, 1, &n, &total), 0);
	KUNIT_EXPECT_EQ(test, total, 1U);
}

static void mcx_device_removal(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args on_dev = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args other = mcx_test_args(1, 0, 4096);
	struct mcx_pin_args idle = mcx_test_args(2, 0, 4096);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_entry_info info;
	u64 id_dev, id_other, id_idle, mr_id, ev_id, ev_mr, unused;
	u32 type;
	bool hit;

	on_dev.key.target = mcx_test_target(0);
	idle.key.target = mcx_test_target(0);
	id_idle = pin_idle(test, &idle, &who);
	id_dev = mcx_test_pin_ok(test, c, &on_dev, &who, false);
	id_other = mcx_test_pin_ok(test, c, &other, &who, false);
	/* an MR for the removed device on an entry that is not mapped for it */
	KUNIT_ASSERT_EQ(test, publish(test, c, &who, id_other,
				      new_mr(test, 0, 4096), &mr_id), 0);
	KUNIT_ASSERT_EQ(test, publish(test, c, &who, id_other,
				      new_mr(test, 1, 4096), &unused), 0);

	mcx_t(test)->dead_target = mcx_test_target(0);
	mcx_reg_target_removed(reg, mcx_test_target(0));

	expect_state(test, id_dev, MCXFER_STATE_DEAD, 1, 1);
	expect_gone(test, id_idle);
	expect_state(test, id_other, MCXFER_STATE_ACTIVE, 1, 1);
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id_other, &info), 0);
	KUNIT_EXPECT_EQ(test, info.nr_mrs, 1U);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->mr_file_refs, 1);

	/* the holder learns about both, each once */
	KUNIT_ASSERT_TRUE(test, pop_event(c, &type, &ev_id, &ev_mr));
	if (type == MCXFER_EVENT_MR_REMOVED) {
		KUNIT_EXPECT_EQ(test, ev_id, id_other);
		KUNIT_EXPECT_EQ(test, ev_mr, mr_id);
		KUNIT_ASSERT_TRUE(test, pop_event(c, &type, &ev_id, &ev_mr));
		KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_DEVICE_REMOVED);
		KUNIT_EXPECT_EQ(test, ev_id, id_dev);
	} else {
		KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_DEVICE_REMOVED);
		KUNIT_EXPECT_EQ(test, ev_id, id_dev);
		KUNIT_ASSERT_TRUE(test, pop_event(c, &type, &ev_id, &ev_mr));
		KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_MR_REMOVED);
		KUNIT_EXPECT_EQ(test, ev_mr, mr_id);
	}
	KUNIT_EXPECT_FALSE(test, pop_event(c, &type, &ev_id, &ev_mr));

	/* nothing new is made for a device on its way out */
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &on_dev, &who, &unused, &hit),
			-ENODEV);
	KUNIT_EXPECT_EQ(test, get_info(test).invalidations, 2ULL);
}

static void mcx_list_pages_in_id_order(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_entry_info out[2];
	struct mcx_pin_args args;
	u64 ids[5], seen[5], cursor = 0;
	unsigned int nseen = 0, i, pages = 0;
	u32 n;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		args = mcx_test_args(i, 0, 4096);
		/* entry 2 is B's and private: A must not see it */
		args.share = i == 2 ? MCXFER_SHARE_OWNER : MCXFER_SHARE_ALL;
		ids[i] = mcx_test_pin_ok(test, c, &args, i == 2 ? &b : &a,
					 false);
	}
	do {
		KUNIT_ASSERT_EQ(test, mcx_reg_list(reg, &a, &cursor, out,
						   ARRAY_SIZE(out), &n), 0);
		KUNIT_ASSERT_LE(test, n, (u32)ARRAY_SIZE(out));
		for (i = 0; i < n && nseen < ARRAY_SIZE(seen); i++)
			seen[nseen++] = out[i].id;
		KUNIT_ASSERT_LT(test, ++pages, 10U);
	} while (cursor);

	KUNIT_ASSERT_EQ(test, nseen, 4U);
	KUNIT_EXPECT_EQ(test, seen[0], ids[0]);
	KUNIT_EXPECT_EQ(test, seen[1], ids[1]);
	KUNIT_EXPECT_EQ(test, seen[2], ids[3]);
	KUNIT_EXPECT_EQ(test, seen[3], ids[4]);
	KUNIT_EXPECT_EQ(test, pages, 2U);

	/* a cursor past the end, and a capacity of 0 */
	cursor = ids[4] + 1;
	KUNIT_EXPECT_EQ(test, mcx_reg_list(reg, &a, &cursor, out, 2, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 0U);
	KUNIT_EXPECT_EQ(test, cursor, 0ULL);
	cursor = ids[0];
	KUNIT_EXPECT_EQ(test, mcx_reg_list(reg, &a, &cursor, out, 0, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 0U);
	KUNIT_EXPECT_EQ(test, cursor, ids[0]);
}

static void mcx_event_queue_overflow(struct kunit *test)
{
	struct mcx_client *c = mcx_test_client(test);
	u64 id, mr_id, i;
	u32 type;

	KUNIT_EXPECT_FALSE(test, mcx_client_has_events(c));
	for (i = 1; i <= MCX_EVENT_QUEUE_LEN + 1; i++)
		mcx_client_event(c, MCXFER_EVENT_INVALIDATED, i, 0);
	KUNIT_EXPECT_TRUE(test, mcx_client_has_events(c));

	/* the loss is reported first, then the newest records survive */
	KUNIT_ASSERT_TRUE(test, pop_event(c, &type, &id, &mr_id));
	KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_OVERFLOW);
	for (i = 2; i <= MCX_EVENT_QUEUE_LEN + 1; i++) {
		KUNIT_ASSERT_TRUE(test, pop_event(c, &type, &id, &mr_id));
		KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_INVALIDATED);
		KUNIT_EXPECT_EQ(test, id, i);
	}
	KUNIT_EXPECT_FALSE(test, pop_event(c, &type, &id, &mr_id));
	KUNIT_EXPECT_FALSE(test, mcx_client_has_events(c));
}

static void mcx_lookup_by_name(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 8192, 4096);
	struct mcxfer_entry_info info;
	void *buf = NULL;
	u64 id;

	args.name = "kv/gpu0";
	args.buf_size = 65536;
	id = pin_idle(test, &args, &who);

	/* a process that never pinned finds it by name, warm */
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(c1, "kv/gpu0", who.uid, 0, &who,
					     true, &buf, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, id);
	KUNIT_EXPECT_EQ(test, info.offset, 8192ULL);
	KUNIT_EXPECT_EQ(test, info.length, 4096ULL);
	KUNIT_EXPECT_EQ(test, info.dmabuf_size, 65536ULL);
	KUNIT_EXPECT_STREQ(test, (char *)info.name, "kv/gpu0");
	KUNIT_EXPECT_STREQ(test, (char *)info.exporter, "fake");
	KUNIT_EXPECT_PTR_EQ(test, buf, mcx_test_buf(0));
	KUNIT_EXPECT_EQ(test, mcx_t(test)->get_bufs, 1U);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 1, 1);

	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c2, "kv/gpu1", who.uid, 0, &who,
					     false, NULL, &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c2, NULL, who.uid, 0, &who,
					     false, NULL, &info), -ENOENT);
	/* the reference taken by LOOKUP is dropped by UNPIN */
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, id), 0);
	expect_state(test, id, MCXFER_STATE_LINGER, 0, 0);
}

static void mcx_name_conflicts(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args named = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args other = mcx_test_args(1, 0, 4096);
	struct mcx_pin_args unnamed = mcx_test_args(2, 0, 4096);
	struct mcxfer_entry_info info;
	u64 id, id2, before;
	bool hit;

	named.name = "kv/a";
	id = mcx_test_pin_ok(test, c, &named, &a, false);
	before = get_info(test).entries;

	/* another range cannot take a name in use */
	other.name = "kv/a";
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &other, &a, &id2, &hit), -EEXIST);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, before);
	/* a hit must carry the entry's own name, or none */
	named.name = "kv/b";
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &named, &a, &id2, &hit), -EEXIST);
	named.name = NULL;
	KUNIT_EXPECT_EQ(test, mcx_test_pin_ok(test, c, &named, &a, true), id);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 2, 1);

	/* naming an unnamed entry on a hit is for its owner only */
	id2 = mcx_test_pin_ok(test, c, &unnamed, &a, false);
	unnamed.name = "kv/c";
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &unnamed, &b, &id, &hit), -EPERM);
	expect_state(test, id2, MCXFER_STATE_ACTIVE, 1, 1);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c, "kv/c", a.uid, 0, &a, false,
					     NULL, &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_test_pin_ok(test, c, &unnamed, &a, true),
			id2);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c, "kv/c", a.uid, 0, &a, false,
					     NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, id2);
}

static void mcx_linger_change_applies(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args a1 = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args a2 = mcx_test_args(1, 0, 4096);
	struct mcx_pin_args a3 = mcx_test_args(2, 0, 4096);
	struct mcx_client *c;
	u64 id1, id2, busy;

	id1 = pin_idle(test, &a1, &who);
	id2 = pin_idle(test, &a2, &who);
	c = mcx_test_client(test);
	busy = mcx_test_pin_ok(test, c, &a3, &who, false);
	/* a shorter linger time applies to entries already idle */
	mcx_test_advance(test, 10);
	mcx_t(test)->reg.limits.linger_ms = 10;
	mcx_reg_expire(&mcx_t(test)->reg);
	expect_gone(test, id1);
	expect_gone(test, id2);
	expect_state(test, busy, MCXFER_STATE_ACTIVE, 1, 1);
	KUNIT_EXPECT_EQ(test, get_info(test).linger_ms, 10U);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 2ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_linger, 0ULL);
}

static void mcx_invalidation_drops_mrs(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcx_mr out;
	u64 id, mr_id, ev_id, ev_mr;
	u32 type;

	id = mcx_test_pin_ok(test, c, &args, &who, false);
	KUNIT_ASSERT_EQ(test, publish(test, c, &who, id,
				      new_mr(test, 0, 4096), &mr_id), 0);
	mcx_reg_note_invalid(reg, mcx_t(test)->last_att);
	mcx_reg_process_invalid(reg);

	/* the MR went with the mapping it was made on */
	KUNIT_EXPECT_EQ(test, mcx_t(test)->mr_file_refs, 0);
	KUNIT_EXPECT_EQ(test, get_info(test).mrs, 0ULL);
	/* a dead entry has none to give, whoever asks */
	KUNIT_EXPECT_EQ(test, mcx_reg_get_mr(c, &who, id, NULL, 0, &out, NULL),
			-EIDRM);
	KUNIT_ASSERT_TRUE(test, pop_event(c, &type, &ev_id, &ev_mr));
	KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_INVALIDATED);
	KUNIT_EXPECT_EQ(test, ev_id, id);
	KUNIT_ASSERT_TRUE(test, pop_event(c, &type, &ev_id, &ev_mr));
	KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_MR_REMOVED);
	KUNIT_EXPECT_EQ(test, ev_mr, mr_id);
	KUNIT_EXPECT_FALSE(test, pop_event(c, &type, &ev_id, &ev_mr));
	/* a dead entry takes no new MR */
	KUNIT_EXPECT_EQ(test, publish(test, c, &who, id,
				      new_mr(test, 1, 4096), &mr_id), -EIDRM);
}

static void mcx_name_freed_with_entry(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args first = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args second = mcx_test_args(1, 0, 4096);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_entry_info info;
	struct mcx_client *c;
	u64 id1, id2, n;

	first.name = "kv/reuse";
	second.name = "kv/reuse";
	id1 = pin_idle(test, &first, &who);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &who, id1, false, &n), 0);
	c = mcx_test_client(test);
	id2 = mcx_test_pin_ok(test, c, &second, &who, false);
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(c, "kv/reuse", who.uid, 0, &who,
					     false, NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, id2);
	KUNIT_EXPECT_NE(test, id1, id2);
}

#define STRESS_THREADS	3
#define STRESS_ITERS	600

struct stress {
	struct mcx_client *c;
	struct mcx_who who;
	unsigned int seed;
	unsigned int unexpected;	/* errnos no interleaving explains */
	int first_bad;
	struct completion done;
};

static void stress_note(struct stress *s, int ret)
{
	if (!s->unexpected++)
		s->first_bad = ret;
}

/* Pins, looks up, unpins, evicts and expires on a few shared keys. */
static int stress_fn(void *data)
{
	struct stress *s = data;
	struct mcx_registry *reg = s->c->reg;
	struct mcxfer_entry_info info[4];
	struct mcx_pin_args args;
	u64 id, n, cursor;
	unsigned int i, k;
	bool hit;
	u32 got;
	int ret;

	for (i = 0; i < STRESS_ITERS; i++) {
		k = (s->seed + i * 7) % 5;
		args = mcx_test_args(k, 4096 * (i % 2), 4096);
		args.share = MCXFER_SHARE_ALL;
		ret = mcx_reg_pin(s->c, &args, &s->who, &id, &hit);
		if (ret == -ENOSPC || ret == -EDQUOT)
			continue;
		if (ret) {
			stress_note(s, ret);
			continue;
		}
		if (i % 3 == 0) {
			/* visible to all, and this client holds it */
			ret = mcx_reg_lookup(s->c, NULL, s->who.uid, id,
					     &s->who, true, NULL, &info[0]);
			if (!ret)
				ret = mcx_reg_unpin(s->c, id);
			if (ret)
				stress_note(s, ret);
		}
		/* every fourth reference is kept until the client closes */
		if (i % 4 != 0) {
			ret = mcx_reg_unpin(s->c, id);
			if (ret)
				stress_note(s, ret);
		}
		if (i % 5 == 0) {
			ret = mcx_reg_evict(reg, &s->who, 0, true, &n);
			if (ret)
				stress_note(s, ret);
		}
		if (i % 11 == 0)
			mcx_reg_expire(reg);
		if (i % 13 == 0) {
			cursor = 0;
			ret = mcx_reg_list(reg, &s->who, &cursor, info,
					   ARRAY_SIZE(info), &got);
			if (ret)
				stress_note(s, ret);
		}
		cond_resched();
	}
	/* not back into this module's code once the case may end */
	kthread_complete_and_exit(&s->done, 0);
}

static void mcx_concurrent_clients(struct kunit *test)
{
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcx_who admin = mcx_test_admin(0, 0);
	struct stress *s;
	struct task_struct *task;
	struct mcxfer_info info;
	unsigned int i;
	u64 n;

	s = kunit_kcalloc(test, STRESS_THREADS, sizeof(*s), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s);
	reg->limits.max_entries = 7;
	reg->limits.user_max_entries = 4;
	/* 1 GiB attachments, two ranges on each: charges move and are capped */
	reg->limits.max_pinned_bytes = 4ULL << 30;
	reg->limits.user_max_pinned_bytes = 2ULL << 30;
	mcx_t(test)->threads = true;
	for (i = 0; i < STRESS_THREADS; i++) {
		s[i].c = mcx_test_client(test);
		s[i].who = mcx_test_who(UID_A + i, GID_A);
		s[i].seed = i;
		init_completion(&s[i].done);
	}
	for (i = 0; i < STRESS_THREADS; i++) {
		task = kthread_run(stress_fn, &s[i], "mcx-stress/%u", i);
		if (IS_ERR(task)) {
			KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(task));
			/* the ones started still run: wait for them below */
			complete(&s[i].done);
		}
	}
	for (i = 0; i < STRESS_THREADS; i++)
		wait_for_completion(&s[i].done);
	for (i = 0; i < STRESS_THREADS; i++)
		KUNIT_EXPECT_EQ_MSG(test, s[i].unexpected, 0U,
				    "thread %u, first error %d", i,
				    s[i].first_bad);

	/* whatever the interleaving, the books balance */
	mcx_reg_get_info(reg, &info);
	KUNIT_EXPECT_EQ(test, info.entries, info.entries_active +
			info.entries_linger + info.entries_dead);
	KUNIT_EXPECT_EQ(test, info.pins, info.hits + info.misses);
	KUNIT_EXPECT_LE(test, info.entries - info.entries_dead, 7ULL);
	KUNIT_EXPECT_EQ(test, info.bytes_pinned, info.attachments << 30);
	KUNIT_EXPECT_LE(test, info.bytes_pinned, 4ULL << 30);
	for (i = 0; i < STRESS_THREADS; i++)
		mcx_test_close(test, s[i].c);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &admin, 0, true, &n), 0);
	mcx_reg_get_info(reg, &info);
	KUNIT_EXPECT_EQ(test, info.entries, 0ULL);
	KUNIT_EXPECT_EQ(test, info.bytes_pinned, 0ULL);
	KUNIT_EXPECT_EQ(test, info.attachments, 0ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, mcx_t(test)->detaches);
	KUNIT_EXPECT_GT(test, info.misses, (u64)STRESS_THREADS);
}

static void mcx_works_expire_and_invalidate(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args a1 = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args a2 = mcx_test_args(1, 0, 4096);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcx_client *c;
	u64 idle, busy;

	mcx_test_use_wq(test);
	idle = pin_idle(test, &a1, &who);
	/* not due yet: a kick runs the work, which keeps the entry */
	mcx_reg_kick(reg);
	flush_workqueue(mcx_t(test)->wq);
	expect_state(test, idle, MCXFER_STATE_LINGER, 0, 0);

	mcx_test_advance(test, MCX_TEST_LINGER_MS);
	mcx_reg_kick(reg);
	flush_workqueue(mcx_t(test)->wq);
	expect_gone(test, idle);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 1ULL);

	/* an exporter's invalidation is finished by the work */
	c = mcx_test_client(test);
	busy = mcx_test_pin_ok(test, c, &a2, &who, false);
	mcx_reg_note_invalid(reg, mcx_t(test)->last_att);
	flush_workqueue(mcx_t(test)->wq);
	expect_state(test, busy, MCXFER_STATE_DEAD, 1, 1);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 2U);
}

/* ---- attachments and their charge ---------------------------------------- */

static void expect_charge(struct kunit *test, u64 id, u64 bytes, u32 uid)
{
	struct mcxfer_entry_info info;

	KUNIT_ASSERT_EQ_MSG(test, mcx_test_entry(test, id, &info), 0,
			    "entry %llu is gone", id);
	KUNIT_EXPECT_EQ_MSG(test, info.pinned_bytes, bytes, "entry %llu", id);
	KUNIT_EXPECT_EQ_MSG(test, info.charged_uid, uid, "entry %llu", id);
}

static void mcx_charge_whole_buffer(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args lo = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args hi = mcx_test_args(0, 4096, 8192);
	struct mcx_pin_args one = mcx_test_args(1, 65535, 1);
	struct mcx_pin_args dev = mcx_test_args(0, 0, 4096);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_info info;
	u64 id_lo, id_hi, id_one, id_dev, n;

	lo.buf_size = SZ_1M;
	hi.buf_size = SZ_1M;
	dev.buf_size = SZ_1M;
	dev.key.target = mcx_test_target(1);
	one.buf_size = SZ_64K;

	/* two ranges of one dma-buf: one attachment, charged once */
	id_lo = mcx_test_pin_ok(test, c, &lo, &a, false);
	id_hi = mcx_test_pin_ok(test, c, &hi, &a, false);
	info = get_info(test);
	KUNIT_EXPECT_EQ(test, info.entries, 2ULL);
	KUNIT_EXPECT_EQ(test, info.attachments, 1ULL);
	KUNIT_EXPECT_EQ(test, info.bytes_pinned, (u64)SZ_1M);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 1U);
	expect_charge(test, id_lo, SZ_1M, UID_A);
	expect_charge(test, id_hi, SZ_1M, UID_A);

	/* one byte of a dma-buf pins, and charges, all of it */
	id_one = mcx_test_pin_ok(test, c, &one, &a, false);
	expect_charge(test, id_one, SZ_64K, UID_A);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned,
			(u64)SZ_1M + SZ_64K);

	/* mapped for a device, the same dma-buf is another attachment */
	id_dev = mcx_test_pin_ok(test, c, &dev, &a, false);
	expect_charge(test, id_dev, SZ_1M, UID_A);
	info = get_info(test);
	KUNIT_EXPECT_EQ(test, info.attachments, 3ULL);
	KUNIT_EXPECT_EQ(test, info.bytes_pinned, 2ULL * SZ_1M + SZ_64K);

	/* lingering entries keep their attachment; it goes with the last */
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c, id_lo), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c, id_hi), 0);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned,
			2ULL * SZ_1M + SZ_64K);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &a, id_lo, false, &n), 0);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 0U);
	KUNIT_EXPECT_EQ(test, get_info(test).attachments, 3ULL);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &a, id_hi, false, &n), 0);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);
	info = get_info(test);
	KUNIT_EXPECT_EQ(test, info.attachments, 2ULL);
	KUNIT_EXPECT_EQ(test, info.bytes_pinned, (u64)SZ_1M + SZ_64K);
}

static void mcx_charge_caps(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_who c = mcx_test_who(UID_C, GID_C);
	struct mcx_client *ca = mcx_test_client(test);
	struct mcx_client *cb = mcx_test_client(test);
	struct mcx_client *cc = mcx_test_client(test);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcx_pin_args args;
	struct mcxfer_info info;
	u64 a0, a1, b1, c1, id;
	bool hit;

	reg->limits.user_max_pinned_bytes = SZ_64K + SZ_32K;
	args = mcx_test_args(0, 0, 1);
	args.buf_size = SZ_64K;
	a0 = mcx_test_pin_ok(test, ca, &args, &a, false);
	/* a one-byte range of another 64 KiB dma-buf does not fit A's quota */
	args = mcx_test_args(1, 0, 1);
	args.buf_size = SZ_64K;
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(ca, &args, &a, &id, &hit), -EDQUOT);
	/* another range of a dma-buf A has attached costs nothing more */
	args = mcx_test_args(0, 1, 1);
	args.buf_size = SZ_64K;
	a1 = mcx_test_pin_ok(test, ca, &args, &a, false);
	/* B has a quota of its own */
	args = mcx_test_args(1, 0, 1);
	args.buf_size = SZ_64K;
	b1 = mcx_test_pin_ok(test, cb, &args, &b, false);
	info = get_info(test);
	KUNIT_EXPECT_EQ(test, info.bytes_pinned, 2ULL * SZ_64K);
	KUNIT_EXPECT_EQ(test, info.attachments, 2ULL);
	KUNIT_EXPECT_EQ(test, info.entries, 3ULL);

	/* the global cap counts attachments the same way */
	reg->limits.max_pinned_bytes = 2 * SZ_64K + SZ_32K;
	args = mcx_test_args(2, 0, 1);
	args.buf_size = SZ_64K;
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(cc, &args, &c, &id, &hit), -ENOSPC);
	/* sharing B's attachment needs no room, and C pays nothing */
	args = mcx_test_args(1, 5, 1);
	args.buf_size = SZ_64K;
	c1 = mcx_test_pin_ok(test, cc, &args, &c, false);
	expect_charge(test, c1, SZ_64K, UID_B);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 2ULL * SZ_64K);

	/* A's dma-buf, idle once A is gone, makes room for C's */
	mcx_test_close(test, ca);
	args = mcx_test_args(2, 0, 1);
	args.buf_size = SZ_64K;
	mcx_test_pin_ok(test, cc, &args, &c, false);
	expect_gone(test, a0);
	expect_gone(test, a1);
	expect_state(test, b1, MCXFER_STATE_ACTIVE, 1, 1);
	info = get_info(test);
	KUNIT_EXPECT_EQ(test, info.evictions, 2ULL);
	KUNIT_EXPECT_EQ(test, info.bytes_pinned, 2ULL * SZ_64K);
	KUNIT_EXPECT_EQ(test, info.attachments, 2ULL);
	KUNIT_EXPECT_EQ(test, live_attachments(test), 2U);
}

/*
 * The uid whose PIN made an attachment pays for it while it has an entry
 * on it; then the owner of the oldest entry left does.
 */
static void mcx_charge_moves(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_who c = mcx_test_who(UID_C, GID_C);
	struct mcx_client *ca = mcx_test_client(test);
	struct mcx_client *cb = mcx_test_client(test);
	struct mcx_client *cc = mcx_test_client(test);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcx_pin_args other = mcx_test_whole(1, SZ_64K);
	struct mcx_pin_args args;
	u64 a0, a1, b0, c0, id, n;
	bool hit;

	args = mcx_test_args(0, 0, 4096);
	args.buf_size = SZ_64K;
	a0 = mcx_test_pin_ok(test, ca, &args, &a, false);
	args.key.offset = 4096;
	a1 = mcx_test_pin_ok(test, ca, &args, &a, false);
	args.key.offset = 8192;
	b0 = mcx_test_pin_ok(test, cb, &args, &b, false);
	args.key.offset = 12288;
	c0 = mcx_test_pin_ok(test, cc, &args, &c, false);
	expect_charge(test, b0, SZ_64K, UID_A);
	expect_charge(test, c0, SZ_64K, UID_A);

	/* the quota shows who pays: A is full, B is not */
	reg->limits.user_max_pinned_bytes = SZ_64K;
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(ca, &other, &a, &id, &hit), -EDQUOT);

	/* A still has an entry on it, lingering or not: A still pays */
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(ca, a0), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &a, a0, false, &n), 0);
	expect_charge(test, b0, SZ_64K, UID_A);
	mcx_test_close(test, ca);
	expect_state(test, a1, MCXFER_STATE_LINGER, 0, 0);
	expect_charge(test, a1, SZ_64K, UID_A);

	/* A's last entry goes: B, owner of the oldest entry left, pays */
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &a, a1, false, &n), 0);
	expect_charge(test, b0, SZ_64K, UID_B);
	expect_charge(test, c0, SZ_64K, UID_B);
	KUNIT_EXPECT_EQ(test, live_attachments(test), 1U);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, (u64)SZ_64K);
	/* now B is full and A's quota is free again */
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(cb, &other, &b, &id, &hit), -EDQUOT);
	ca = mcx_test_client(test);
	id = mcx_test_pin_ok(test, ca, &other, &a, false);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(ca, id), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &a, id, false, &n), 0);

	/* B's entry dies (revoked): C pays, and the dead entry shows none */
	KUNIT_EXPECT_EQ(test, mcx_reg_revoke(reg, &b, b0), 0);
	expect_charge(test, c0, SZ_64K, UID_C);
	expect_charge(test, b0, 0, 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(cc, &other, &c, &id, &hit), -EDQUOT);
	KUNIT_EXPECT_EQ(test, get_info(test).attachments, 1ULL);

	/* the last one takes the attachment and its charge with it */
	mcx_test_close(test, cc);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &c, c0, false, &n), 0);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 0ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).attachments, 0ULL);
	KUNIT_EXPECT_EQ(test, live_attachments(test), 0U);
}

/*
 * A PIN the caps refuse goes no further: the exporter is not asked to
 * attach, pin and map a whole dma-buf (migrating it, for device memory)
 * only for the registry to let go of it at once.
 */
static void mcx_cap_refusal_attaches_nothing(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	bool hit;
	u64 id;

	mcx_test_pin_ok(test, c, &args, &a, false);
	reg->limits.user_max_entries = 1;
	args = mcx_test_args(1, 0, 4096);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args, &a, &id, &hit), -EDQUOT);
	reg->limits.user_max_entries = 0;
	reg->limits.max_pinned_bytes = SZ_64K;
	args = mcx_test_whole(2, SZ_128K);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args, &a, &id, &hit), -ENOSPC);
	KUNIT_EXPECT_EQ(test, live_attachments(test), 1U);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 1U);
}

/*
 * Under an entry cap, a lingering entry on the very attachment a PIN
 * shares is as good to evict as any other: it makes the room.
 */
static void mcx_cap_entries_evicts_on_shared_attachment(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args old = mcx_test_args(0, 0, SZ_1M);
	struct mcx_pin_args new = mcx_test_args(0, 0, SZ_2M);
	struct mcx_client *c;
	u64 old_id, id;
	bool hit;

	/* a process pinned 1 MiB of its dma-buf and went away */
	old_id = pin_idle(test, &old, &a);
	mcx_t(test)->reg.limits.user_max_entries = 1;
	/* restarted, it pins 2 MiB of the same dma-buf */
	c = mcx_test_client(test);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &new, &a, &id, &hit), 0);
	KUNIT_EXPECT_FALSE(test, hit);
	expect_gone(test, old_id);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, 1ULL);
	/* the attachment stayed: the new entry uses it */
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 1U);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 0U);
}

/*
 * Under a byte cap, evicting a lingering entry whose attachment another
 * entry keeps frees nothing.  PIN must not evict it, nor take over its
 * charge on the way (C below would then fail its own quota).
 */
static void mcx_cap_bytes_evicts_only_what_frees(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_who c = mcx_test_who(UID_C, GID_C);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcx_client *cb = mcx_test_client(test);
	struct mcx_client *cc = mcx_test_client(test);
	struct mcx_pin_args idle = mcx_test_whole(0, SZ_64K);
	struct mcx_pin_args args;
	struct mcxfer_entry_info info;
	u64 b1, c1, a0, id;
	bool hit;
	int ret;

	/* B's and C's entries share B's attachment; B's lingers */
	args = mcx_test_args(1, 0, 1);
	args.buf_size = SZ_64K;
	b1 = mcx_test_pin_ok(test, cb, &args, &b, false);
	args.key.offset = 1;
	c1 = mcx_test_pin_ok(test, cc, &args, &c, false);
	mcx_test_close(test, cb);
	/* A's attachment is idle: evicting A's entry frees 64 KiB */
	a0 = pin_idle(test, &idle, &a);

	/* 128 KiB pinned; C's 64 KiB more need A's to go, and only A's */
	reg->limits.max_pinned_bytes = 2 * SZ_64K + SZ_32K;
	reg->limits.user_max_pinned_bytes = SZ_64K + SZ_32K;
	args = mcx_test_whole(2, SZ_64K);
	ret = mcx_reg_pin(cc, &args, &c, &id, &hit);
	KUNIT_EXPECT_EQ(test, ret, 0);
	expect_gone(test, a0);
	expect_state(test, b1, MCXFER_STATE_LINGER, 0, 0);
	expect_charge(test, c1, SZ_64K, UID_B);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 1ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, 2ULL * SZ_64K);
}

/* ---- names per owner, REVOKE --------------------------------------------- */

static void mcx_names_per_owner(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_who admin = mcx_test_admin(UID_C, GID_C);
	struct mcx_client *ca = mcx_test_client(test);
	struct mcx_client *cb = mcx_test_client(test);
	struct mcx_pin_args pa = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args pb = mcx_test_args(1, 0, 4096);
	struct mcx_pin_args args;
	struct mcxfer_entry_info info;
	u64 ida, idb, idp, idq, id, before;
	bool hit;

	/* the same name for two owners: no EEXIST across owners */
	pa.name = "kv/x";
	pb.name = "kv/x";
	ida = mcx_test_pin_ok(test, ca, &pa, &a, false);
	idb = mcx_test_pin_ok(test, cb, &pb, &b, false);
	KUNIT_EXPECT_NE(test, ida, idb);

	/* LOOKUP names the owner whose names it searches */
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(cb, "kv/x", a.uid, 0, &b, false,
					     NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, ida);
	KUNIT_EXPECT_EQ(test, info.owner_uid, (u32)UID_A);
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(cb, "kv/x", b.uid, 0, &b, false,
					     NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, idb);
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(ca, "kv/x", b.uid, 0, &a, false,
					     NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, idb);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(ca, "kv/x", KUIDT_INIT(UID_C), 0,
					     &a, false, NULL, &info), -ENOENT);

	/* within one owner a name is still unique */
	before = get_info(test).entries;
	args = mcx_test_args(2, 0, 4096);
	args.name = "kv/x";
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(ca, &args, &a, &id, &hit), -EEXIST);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, before);

	/* a named PIN that hits another's entry: EPERM, whatever the name */
	pa.name = "kv/x";
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(cb, &pa, &b, &id, &hit), -EPERM);
	pa.name = "kv/y";
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(cb, &pa, &b, &id, &hit), -EPERM);
	/* not even CAP_SYS_ADMIN names for others */
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(cb, &pa, &admin, &id, &hit), -EPERM);
	expect_state(test, ida, MCXFER_STATE_ACTIVE, 1, 1);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(ca, "kv/y", b.uid, 0, &a, false,
					     NULL, &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(ca, "kv/y", a.uid, 0, &a, false,
					     NULL, &info), -ENOENT);
	/* unnamed, the same PIN is an ordinary hit */
	pa.name = NULL;
	KUNIT_EXPECT_EQ(test, mcx_test_pin_ok(test, cb, &pa, &b, true), ida);

	/* a private name answers like a missing one; B may use it too */
	args = mcx_test_args(3, 0, 4096);
	args.name = "kv/p";
	args.share = MCXFER_SHARE_OWNER;
	idp = mcx_test_pin_ok(test, ca, &args, &a, false);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(cb, "kv/p", a.uid, 0, &b, false,
					     NULL, &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(cb, "kv/none", a.uid, 0, &b,
					     false, NULL, &info), -ENOENT);
	args = mcx_test_args(4, 0, 4096);
	args.name = "kv/p";
	idq = mcx_test_pin_ok(test, cb, &args, &b, false);
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(cb, "kv/p", b.uid, 0, &b, false,
					     NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, idq);
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(ca, "kv/p", a.uid, 0, &a, false,
					     NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, idp);
	/* an admin sees every owner's names */
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(cb, "kv/p", a.uid, 0, &admin,
					     false, NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, idp);
}

static void mcx_revoke(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_who stranger = mcx_test_who(UID_C, GID_C);
	struct mcx_who admin = mcx_test_admin(UID_C + 1, GID_C + 1);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args priv = mcx_test_whole(1, SZ_64K);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_entry_info info;
	struct mcx_mr out;
	u64 id, idp, fresh, mr_id, ev_id, ev_mr, n;
	void *buf = NULL;
	unsigned int i;
	u32 type;

	args.name = "kv/rev";
	id = mcx_test_pin_ok(test, c1, &args, &a, false);
	args.name = NULL;
	KUNIT_EXPECT_EQ(test, mcx_test_pin_ok(test, c2, &args, &b, true), id);
	KUNIT_ASSERT_EQ(test, publish(test, c1, &a, id, new_mr(test, 0, 4096),
				      &mr_id), 0);
	priv.share = MCXFER_SHARE_OWNER;
	idp = mcx_test_pin_ok(test, c1, &priv, &a, false);

	/* only the owner: EPERM for a holder, ENOENT where it is hidden */
	KUNIT_EXPECT_EQ(test, mcx_reg_revoke(reg, &b, id), -EPERM);
	KUNIT_EXPECT_EQ(test, mcx_reg_revoke(reg, &stranger, idp), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_revoke(reg, &a, idp + 100), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_revoke(reg, &a, 0), -ENOENT);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 2, 2);
	KUNIT_EXPECT_FALSE(test, mcx_client_has_events(c2));

	/* held by both, revoked all the same: pin and MR dropped at once */
	KUNIT_EXPECT_EQ(test, mcx_reg_revoke(reg, &a, id), 0);
	expect_state(test, id, MCXFER_STATE_DEAD, 2, 2);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->mr_file_refs, 0);
	KUNIT_EXPECT_EQ(test, get_info(test).mrs, 0ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).bytes_pinned, (u64)SZ_64K);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_dead, 1ULL);

	/* every holder is told: REVOKED, then the MR that went with it */
	for (i = 0; i < 2; i++) {
		struct mcx_client *c = i ? c2 : c1;

		KUNIT_ASSERT_TRUE(test, pop_event(c, &type, &ev_id, &ev_mr));
		KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_REVOKED);
		KUNIT_EXPECT_EQ(test, ev_id, id);
		KUNIT_ASSERT_TRUE(test, pop_event(c, &type, &ev_id, &ev_mr));
		KUNIT_EXPECT_EQ(test, type, (u32)MCXFER_EVENT_MR_REMOVED);
		KUNIT_EXPECT_EQ(test, ev_mr, mr_id);
		KUNIT_EXPECT_FALSE(test, pop_event(c, &type, &ev_id, &ev_mr));
	}

	/* whatever uses the dead entry is EIDRM, for its owner too */
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c2, NULL, b.uid, id, &b, true,
					     NULL, &info), -EIDRM);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c1, NULL, a.uid, id, &a, false,
					     &buf, &info), -EIDRM);
	KUNIT_EXPECT_NULL(test, buf);
	KUNIT_EXPECT_EQ(test, publish(test, c1, &a, id, new_mr(test, 1, 4096),
				      &mr_id), -EIDRM);
	KUNIT_EXPECT_EQ(test, mcx_reg_get_mr(c1, &a, id, NULL, 0, &out, NULL),
			-EIDRM);
	KUNIT_EXPECT_EQ(test, mcx_reg_revoke(reg, &a, id), -EIDRM);
	KUNIT_EXPECT_EQ(test, mcx_reg_revoke(reg, &admin, id), -EIDRM);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &a, id, false, &n), -EBUSY);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c1, "kv/rev", a.uid, 0, &a, false,
					     NULL, &info), -ENOENT);
	/* it is still seen, by id, as dead */
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(c2, NULL, b.uid, id, &b, false,
					     NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.state, (u32)MCXFER_STATE_DEAD);
	expect_state(test, id, MCXFER_STATE_DEAD, 2, 2);

	/* the range and the name are free for a fresh entry */
	args.name = "kv/rev";
	fresh = mcx_test_pin_ok(test, c1, &args, &a, false);
	KUNIT_EXPECT_NE(test, fresh, id);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, fresh), 0);

	/* UNPIN still drops the references; the last frees the tombstone */
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, id), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c2, id), 0);
	expect_gone(test, id);
	KUNIT_EXPECT_EQ(test, get_info(test).entries_dead, 0ULL);

	/* an admin may revoke; a lingering entry is simply freed */
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c1, idp), 0);
	expect_state(test, idp, MCXFER_STATE_LINGER, 0, 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_revoke(reg, &admin, idp), 0);
	expect_gone(test, idp);
	KUNIT_EXPECT_EQ(test, get_info(test).evictions, 2ULL);
	KUNIT_EXPECT_FALSE(test, mcx_client_has_events(c1));
}

/* ---- the backend outside the registry lock ------------------------------- */

/*
 * Every way an attachment is made or dropped, each checked to have reached
 * the backend; the fake backend counts calls made under reg->lock and
 * mcx_test_exit() wants none.
 */
static void mcx_backend_outside_lock(struct kunit *test)
{
	struct mcx_test *t = mcx_t(test);
	struct mcx_registry *reg = &t->reg;
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args;
	unsigned int detached = 0;
	u64 id, n;
	bool hit;

	/* the check is not blind: it sees the lock held by its caller */
	mutex_lock(&reg->lock);
	KUNIT_EXPECT_TRUE(test, mcx_test_reg_locked(t));
	mutex_unlock(&reg->lock);
	KUNIT_EXPECT_FALSE(test, mcx_test_reg_locked(t));

	/* PIN that misses, and one whose attach fails */
	args = mcx_test_args(0, 0, 4096);
	id = mcx_test_pin_ok(test, c, &args, &a, false);
	t->fail_attach = -EIO;
	args = mcx_test_args(1, 0, 4096);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args, &a, &n, &hit), -EIO);

	/* UNPIN with linger 0 */
	reg->limits.linger_ms = 0;
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c, id), 0);
	KUNIT_EXPECT_EQ(test, t->detaches, ++detached);
	reg->limits.linger_ms = MCX_TEST_LINGER_MS;

	/* EVICT, and the EVICT_IDLE sweep */
	id = pin_idle(test, &args, &a);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &a, id, false, &n), 0);
	KUNIT_EXPECT_EQ(test, t->detaches, ++detached);
	pin_idle(test, &args, &a);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &a, 0, true, &n), 0);
	KUNIT_EXPECT_EQ(test, t->detaches, ++detached);

	/* linger expiry */
	pin_idle(test, &args, &a);
	mcx_test_advance(test, MCX_TEST_LINGER_MS);
	mcx_reg_expire(reg);
	KUNIT_EXPECT_EQ(test, t->detaches, ++detached);

	/* a PIN that evicts to make room */
	pin_idle(test, &args, &a);
	reg->limits.max_entries = 1;
	args = mcx_test_args(2, 0, 4096);
	id = mcx_test_pin_ok(test, c, &args, &a, false);
	KUNIT_EXPECT_EQ(test, t->detaches, ++detached);
	reg->limits.max_entries = 0;

	/* REVOKE, invalidation, device removal */
	KUNIT_EXPECT_EQ(test, mcx_reg_revoke(reg, &a, id), 0);
	KUNIT_EXPECT_EQ(test, t->detaches, ++detached);
	args = mcx_test_args(3, 0, 4096);
	mcx_test_pin_ok(test, c, &args, &a, false);
	mcx_reg_note_invalid(reg, t->last_att);
	mcx_reg_process_invalid(reg);
	KUNIT_EXPECT_EQ(test, t->detaches, ++detached);
	args = mcx_test_args(4, 0, 4096);
	args.key.target = mcx_test_target(2);
	mcx_test_pin_ok(test, c, &args, &a, false);
	t->dead_target = mcx_test_target(2);
	mcx_reg_target_removed(reg, mcx_test_target(2));
	KUNIT_EXPECT_EQ(test, t->detaches, ++detached);

	/* closing the file (and the registry's end, in mcx_test_exit()) */
	args = mcx_test_args(5, 0, 4096);
	args.flags = MCXFER_PIN_NO_LINGER;
	mcx_test_pin_ok(test, c, &args, &a, false);
	mcx_test_close(test, c);
	KUNIT_EXPECT_EQ(test, t->detaches, ++detached);
	args.flags = 0;
	pin_idle(test, &args, &a);
	KUNIT_EXPECT_EQ(test, t->locked_calls, 0U);
	KUNIT_EXPECT_EQ(test, t->attaches, detached + 1);
}

/*
 * Two PINs of one key: the fake attach of the first runs the second, for
 * another client and uid, while the first is outside the lock.
 */
struct race {
	struct mcx_client *c;
	struct mcx_pin_args args;
	struct mcx_who who;
	unsigned int calls;
	int ret;
	u64 id;
	bool hit;
};

static void race_hook(struct mcx_test *t, struct mcx_attach *att, void *arg)
{
	struct race *r = t->hook_data;

	/* once: the second PIN attaches too, and must not come back here */
	t->attach_hook = NULL;
	r->calls++;
	r->ret = mcx_reg_pin(r->c, &r->args, &r->who, &r->id, &r->hit);
}

static struct race *race_setup(struct kunit *test, struct mcx_client *c,
			       const struct mcx_pin_args *args,
			       const struct mcx_who *who)
{
	struct race *r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, r);
	r->c = c;
	r->args = *args;
	r->who = *who;
	r->ret = -EINPROGRESS;
	mcx_t(test)->hook_data = r;
	mcx_t(test)->attach_hook = race_hook;
	return r;
}

static void mcx_pin_race_same_key(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcxfer_entry_info info;
	struct mcxfer_info ri;
	struct race *r;
	bool hit = false;
	u64 id = 0;

	r = race_setup(test, c2, &args, &b);
	KUNIT_ASSERT_EQ(test, mcx_reg_pin(c1, &args, &a, &id, &hit), 0);
	KUNIT_ASSERT_EQ(test, r->calls, 1U);

	/* the second PIN won: its entry; the first one hit it */
	KUNIT_EXPECT_EQ(test, r->ret, 0);
	KUNIT_EXPECT_FALSE(test, r->hit);
	KUNIT_EXPECT_TRUE(test, hit);
	KUNIT_EXPECT_EQ(test, id, r->id);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 2, 2);
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id, &info), 0);
	KUNIT_EXPECT_EQ(test, info.owner_uid, (u32)UID_B);
	KUNIT_EXPECT_EQ(test, info.charged_uid, (u32)UID_B);
	KUNIT_EXPECT_EQ(test, info.hits, 1ULL);

	/* one entry, one attachment: the first PIN's own was detached */
	ri = get_info(test);
	KUNIT_EXPECT_EQ(test, ri.entries, 1ULL);
	KUNIT_EXPECT_EQ(test, ri.attachments, 1ULL);
	KUNIT_EXPECT_EQ(test, ri.bytes_pinned, 1ULL << 30);
	KUNIT_EXPECT_EQ(test, ri.misses, 1ULL);
	KUNIT_EXPECT_EQ(test, ri.hits, 1ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 2U);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);

	/* and the survivor is the one in use */
	mcx_test_close(test, c1);
	mcx_test_close(test, c2);
	expect_state(test, id, MCXFER_STATE_LINGER, 0, 0);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);
}

static void mcx_pin_race_same_buf(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args first = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args second = mcx_test_args(0, 4096, 4096);
	struct race *r;
	bool hit = true;
	u64 id = 0;

	/* another range of the same dma-buf: the attachment is shared */
	r = race_setup(test, c2, &second, &b);
	KUNIT_ASSERT_EQ(test, mcx_reg_pin(c1, &first, &a, &id, &hit), 0);
	KUNIT_ASSERT_EQ(test, r->calls, 1U);
	KUNIT_EXPECT_EQ(test, r->ret, 0);
	KUNIT_EXPECT_FALSE(test, r->hit);
	KUNIT_EXPECT_FALSE(test, hit);
	KUNIT_EXPECT_NE(test, id, r->id);
	expect_state(test, id, MCXFER_STATE_ACTIVE, 1, 1);
	expect_state(test, r->id, MCXFER_STATE_ACTIVE, 1, 1);
	/* made by B's PIN, charged to B */
	expect_charge(test, id, 1ULL << 30, UID_B);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, 2ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).attachments, 1ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 2U);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);
}

static void mcx_pin_race_named_loser(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcx_pin_args elsewhere = mcx_test_args(1, 0, 4096);
	struct mcxfer_entry_info info;
	struct race *r;
	bool hit;
	u64 id;

	/* B wins the race; A's named PIN then hits B's entry: EPERM */
	args.name = "kv/race";
	r = race_setup(test, c2, &args, &b);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c1, &args, &a, &id, &hit), -EPERM);
	KUNIT_ASSERT_EQ(test, r->calls, 1U);
	KUNIT_EXPECT_EQ(test, r->ret, 0);
	expect_state(test, r->id, MCXFER_STATE_ACTIVE, 1, 1);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, 1ULL);
	KUNIT_EXPECT_EQ(test, get_info(test).attachments, 1ULL);
	/* A's attachment went back, and A's name is still A's to use */
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 1U);
	elsewhere.name = "kv/race";
	id = mcx_test_pin_ok(test, c1, &elsewhere, &a, false);
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(c1, "kv/race", a.uid, 0, &a, false,
					     NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, id);
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(c1, "kv/race", b.uid, 0, &a, false,
					     NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.id, r->id);
}

/*
 * A PIN stuck in a slow attach (an exporter migrating memory, a device on
 * its way out) holds up nobody else: LOOKUP, LIST and other PINs by
 * another client go through while it waits.  Kthreads and completions;
 * the timeouts only turn a regression into a failure instead of a hang.
 */
#define SLOW_WAIT	(60 * HZ)

struct slow {
	struct mcx_registry *reg;
	const void *slow_buf;
	struct completion in_attach;
	struct completion go;
	/* the slow PIN */
	struct mcx_client *c;
	struct mcx_who who;
	struct completion pin_done;
	int pin_ret;
	u64 pin_id;
	bool pin_hit;
	/* the other client */
	struct mcx_client *pc;
	struct mcx_who pwho;
	struct completion peer_done;
	int lookup_ret, list_ret, hit_ret, miss_ret, unpin_ret;
	u64 lookup_id, hit_id;
	u32 listed;
};

static void slow_hook(struct mcx_test *t, struct mcx_attach *att, void *arg)
{
	struct slow *s = t->hook_data;

	if (att->key.buf != s->slow_buf)
		return;
	complete(&s->in_attach);
	wait_for_completion(&s->go);
}

static int slow_pin_fn(void *data)
{
	struct slow *s = data;
	struct mcx_pin_args args = mcx_test_args(2, 0, 4096);

	s->pin_ret = mcx_reg_pin(s->c, &args, &s->who, &s->pin_id,
				 &s->pin_hit);
	kthread_complete_and_exit(&s->pin_done, 0);
}

static int slow_peer_fn(void *data)
{
	struct slow *s = data;
	struct mcx_pin_args args;
	struct mcxfer_entry_info info[4];
	u64 cursor = 0, id;
	bool hit;

	s->lookup_ret = mcx_reg_lookup(s->pc, "kv/warm", KUIDT_INIT(UID_A), 0,
				       &s->pwho, true, NULL, &info[0]);
	s->lookup_id = info[0].id;
	s->list_ret = mcx_reg_list(s->reg, &s->pwho, &cursor, info,
				   ARRAY_SIZE(info), &s->listed);
	args = mcx_test_args(1, 0, 4096);
	s->hit_ret = mcx_reg_pin(s->pc, &args, &s->pwho, &s->hit_id, &hit);
	if (!s->hit_ret && !hit)
		s->hit_ret = -ENOENT;
	args = mcx_test_args(3, 0, 4096);
	s->miss_ret = mcx_reg_pin(s->pc, &args, &s->pwho, &id, &hit);
	if (!s->miss_ret)
		s->unpin_ret = mcx_reg_unpin(s->pc, id);
	kthread_complete_and_exit(&s->peer_done, 0);
}

static void mcx_slow_attach_blocks_nobody(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_pin_args warm = mcx_test_args(1, 0, 4096);
	struct mcx_client *c0 = mcx_test_client(test);
	struct task_struct *task;
	struct slow *s;
	u64 warm_id;
	bool peer_done;

	s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s);
	warm.name = "kv/warm";
	warm_id = mcx_test_pin_ok(test, c0, &warm, &a, false);
	s->reg = &mcx_t(test)->reg;
	s->slow_buf = mcx_test_buf(2);
	s->c = mcx_test_client(test);
	s->who = mcx_test_who(UID_A, GID_A);
	s->pc = mcx_test_client(test);
	s->pwho = mcx_test_who(UID_B, GID_B);
	init_completion(&s->in_attach);
	init_completion(&s->go);
	init_completion(&s->pin_done);
	init_completion(&s->peer_done);
	mcx_t(test)->threads = true;
	mcx_t(test)->hook_data = s;
	mcx_t(test)->attach_hook = slow_hook;

	/* no assertion from here until the slow PIN is let go */
	task = kthread_run(slow_pin_fn, s, "mcx-slow-pin");
	if (IS_ERR(task)) {
		KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(task));
		return;
	}
	if (!wait_for_completion_timeout(&s->in_attach, SLOW_WAIT)) {
		KUNIT_FAIL(test, "the slow PIN never reached attach");
		complete(&s->go);
		wait_for_completion(&s->pin_done);
		return;
	}
	task = kthread_run(slow_peer_fn, s, "mcx-slow-peer");
	if (IS_ERR(task)) {
		KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(task));
		complete(&s->peer_done);
	}
	peer_done = wait_for_completion_timeout(&s->peer_done, SLOW_WAIT);
	KUNIT_EXPECT_TRUE_MSG(test, peer_done,
			      "LOOKUP/LIST/PIN waited for another PIN's attach");
	/* the slow PIN was inside attach all along */
	KUNIT_EXPECT_FALSE(test, completion_done(&s->pin_done));
	complete(&s->go);
	wait_for_completion(&s->pin_done);
	if (!peer_done)
		wait_for_completion(&s->peer_done);

	KUNIT_EXPECT_EQ(test, s->lookup_ret, 0);
	KUNIT_EXPECT_EQ(test, s->lookup_id, warm_id);
	KUNIT_EXPECT_EQ(test, s->list_ret, 0);
	/* nothing of the unfinished PIN is visible */
	KUNIT_EXPECT_EQ(test, s->listed, 1U);
	KUNIT_EXPECT_EQ(test, s->hit_ret, 0);
	KUNIT_EXPECT_EQ(test, s->hit_id, warm_id);
	KUNIT_EXPECT_EQ(test, s->miss_ret, 0);
	KUNIT_EXPECT_EQ(test, s->unpin_ret, 0);
	KUNIT_EXPECT_EQ(test, s->pin_ret, 0);
	KUNIT_EXPECT_FALSE(test, s->pin_hit);
	expect_state(test, warm_id, MCXFER_STATE_ACTIVE, 3, 2);
	expect_state(test, s->pin_id, MCXFER_STATE_ACTIVE, 1, 1);
	KUNIT_EXPECT_EQ(test, get_info(test).entries, 3ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 3U);
}

static struct kunit_case mcx_registry_cases[] = {
	KUNIT_CASE(mcx_pin_same_key_hits),
	KUNIT_CASE(mcx_pin_other_key_misses),
	KUNIT_CASE(mcx_pin_rejects_bad_args),
	KUNIT_CASE(mcx_refs_across_clients),
	KUNIT_CASE(mcx_unpin_needs_own_ref),
	KUNIT_CASE(mcx_close_drops_every_ref),
	KUNIT_CASE(mcx_linger_rehit_is_warm),
	KUNIT_CASE(mcx_no_linger_drops_at_last_unpin),
	KUNIT_CASE(mcx_linger_expires),
	KUNIT_CASE(mcx_lru_evicts_oldest_first),
	KUNIT_CASE(mcx_lru_rereferenced_entry_leaves),
	KUNIT_CASE(mcx_cap_entries_refuses_when_nothing_idle),
	KUNIT_CASE(mcx_cap_bytes_evicts_idle),
	KUNIT_CASE(mcx_cap_bytes_refusal_keeps_idle),
	KUNIT_CASE(mcx_cap_user_entries_evicts_own_idle),
	KUNIT_CASE(mcx_cap_user_entries_refuses_edquot),
	KUNIT_CASE(mcx_cap_user_bytes),
	KUNIT_CASE(mcx_cap_global_evicts_any_owner),
	KUNIT_CASE(mcx_pin_backend_failure_leaves_nothing),
	KUNIT_CASE(mcx_stats_accounting),
	KUNIT_CASE(mcx_invalidation_kills_entry),
	KUNIT_CASE(mcx_invalidation_of_idle_entry_frees),
	KUNIT_CASE(mcx_mr_publish_and_get),
	KUNIT_CASE(mcx_mr_sub_ranges),
	KUNIT_CASE(mcx_holders),
	KUNIT_CASE(mcx_holders_hidden),
	KUNIT_CASE(mcx_device_removal),
	KUNIT_CASE(mcx_list_pages_in_id_order),
	KUNIT_CASE(mcx_event_queue_overflow),
	KUNIT_CASE(mcx_lookup_by_name),
	KUNIT_CASE(mcx_name_conflicts),
	KUNIT_CASE(mcx_linger_change_applies),
	KUNIT_CASE(mcx_invalidation_drops_mrs),
	KUNIT_CASE(mcx_name_freed_with_entry),
	KUNIT_CASE(mcx_concurrent_clients),
	KUNIT_CASE(mcx_works_expire_and_invalidate),
	KUNIT_CASE(mcx_charge_whole_buffer),
	KUNIT_CASE(mcx_charge_caps),
	KUNIT_CASE(mcx_charge_moves),
	KUNIT_CASE(mcx_cap_refusal_attaches_nothing),
	KUNIT_CASE(mcx_cap_entries_evicts_on_shared_attachment),
	KUNIT_CASE(mcx_cap_bytes_evicts_only_what_frees),
	KUNIT_CASE(mcx_names_per_owner),
	KUNIT_CASE(mcx_revoke),
	KUNIT_CASE(mcx_backend_outside_lock),
	KUNIT_CASE(mcx_pin_race_same_key),
	KUNIT_CASE(mcx_pin_race_same_buf),
	KUNIT_CASE(mcx_pin_race_named_loser),
	KUNIT_CASE(mcx_slow_attach_blocks_nobody),
	{}
};

static struct kunit_suite mcx_registry_suite = {
	.name = "mcxfer_registry",
	.init = mcx_test_init,
	.exit = mcx_test_exit,
	.test_cases = mcx_registry_cases,
};

kunit_test_suite(mcx_registry_suite);
