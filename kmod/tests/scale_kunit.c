// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the mcxfer registry with many entries: the key, name and
 * attachment tables must keep finding every entry while they grow and
 * shrink, and the idle sums that PIN's cap checks read instead of walking
 * the LRU must follow entries and attachments going in and out of it.
 */

#include <linux/slab.h>
#include <linux/string.h>

#include "mcx_kunit.h"

#define UID_A	1000
#define GID_A	1000
#define UID_B	2000
#define GID_B	2000

static u64 get_evictions(struct mcx_registry *reg)
{
	struct mcxfer_info info;

	mcx_reg_get_info(reg, &info);
	return info.evictions;
}

/* Enough entries for the tables to resize several times. */
#define MCX_SCALE_N	4096
/* Attachments: one per fake buffer, each shared by a few entries. */
#define MCX_SCALE_BUFS	MCX_TEST_NR_BUFS

/* Entry i: a distinct key on one of the fake buffers, and a name. */
static struct mcx_pin_args scale_args(unsigned int i, char *name, size_t len)
{
	struct mcx_pin_args args;

	args = mcx_test_args(i % MCX_SCALE_BUFS,
			     (u64)(i / MCX_SCALE_BUFS) * 4096, 4096);

	snprintf(name, len, "scale/%u", i);
	args.name = name;
	return args;
}

/* Pins entries [0, MCX_SCALE_N) with c and expects misses; false on error. */
static bool scale_pin_all(struct kunit *test, struct mcx_client *c,
			  const struct mcx_who *who, u64 *ids)
{
	char name[MCXFER_NAME_MAX];
	unsigned int i;
	bool hit;
	int ret;

	for (i = 0; i < MCX_SCALE_N; i++) {
		struct mcx_pin_args args = scale_args(i, name, sizeof(name));

		ret = mcx_reg_pin(c, &args, who, &ids[i], &hit);
		if (ret || hit) {
			KUNIT_FAIL(test, "pin %u ('%s'): %d, hit %d", i, name,
				   ret, hit);
			return false;
		}
	}
	return true;
}

/* Every entry is found by name, by id and by key (a PIN hit). */
static bool scale_find_all(struct kunit *test, struct mcx_client *c,
			   const struct mcx_who *who, const u64 *ids)
{
	struct mcxfer_entry_info info;
	char name[MCXFER_NAME_MAX];
	unsigned int i;
	bool hit;
	u64 id;
	int ret;

	for (i = 0; i < MCX_SCALE_N; i++) {
		struct mcx_pin_args args = scale_args(i, name, sizeof(name));

		ret = mcx_reg_lookup(c, name, who->uid, 0, who, false, NULL,
				     &info);
		if (ret || info.id != ids[i]) {
			KUNIT_FAIL(test, "lookup '%s': %d, id %llu not %llu",
				   name, ret, info.id, ids[i]);
			return false;
		}
		ret = mcx_reg_lookup(c, NULL, who->uid, ids[i], who, false,
				     NULL, &info);
		if (ret || strcmp((char *)info.name, name)) {
			KUNIT_FAIL(test, "lookup of id %llu: %d, name '%s'",
				   ids[i], ret, (char *)info.name);
			return false;
		}
		ret = mcx_reg_pin(c, &args, who, &id, &hit);
		if (ret || !hit || id != ids[i]) {
			KUNIT_FAIL(test, "re-pin %u: %d, hit %d, id %llu not %llu",
				   i, ret, hit, id, ids[i]);
			return false;
		}
		/* drop the reference that hit took */
		if (mcx_reg_unpin(c, id)) {
			KUNIT_FAIL(test, "unpin of id %llu", id);
			return false;
		}
	}
	return true;
}

static void mcx_scale_tables_grow_and_shrink(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_entry_info info;
	struct mcxfer_info ri;
	struct mcx_client *c;
	u64 *ids, *again, n;
	unsigned int i;

	ids = kunit_kcalloc(test, MCX_SCALE_N, sizeof(*ids), GFP_KERNEL);
	again = kunit_kcalloc(test, MCX_SCALE_N, sizeof(*again), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ids);
	KUNIT_ASSERT_NOT_NULL(test, again);

	c = mcx_test_client(test);
	KUNIT_ASSERT_TRUE(test, scale_pin_all(test, c, &who, ids));
	KUNIT_ASSERT_TRUE(test, scale_find_all(test, c, &who, ids));
	mcx_reg_get_info(reg, &ri);
	KUNIT_EXPECT_EQ(test, ri.entries, (u64)MCX_SCALE_N);
	KUNIT_EXPECT_EQ(test, ri.attachments, (u64)MCX_SCALE_BUFS);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches,
			(unsigned int)MCX_SCALE_BUFS);

	/* lingering entries stay in both tables */
	mcx_test_close(test, c);
	c = mcx_test_client(test);
	KUNIT_ASSERT_TRUE(test, scale_find_all(test, c, &who, ids));
	mcx_test_close(test, c);

	/* all gone: the tables shrink, and nothing is found any more */
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &who, 0, true, &n), 0);
	KUNIT_EXPECT_EQ(test, n, (u64)MCX_SCALE_N);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches,
			(unsigned int)MCX_SCALE_BUFS);
	mcx_reg_get_info(reg, &ri);
	KUNIT_EXPECT_EQ(test, ri.attachments, 0ULL);
	KUNIT_EXPECT_EQ(test, ri.bytes_pinned, 0ULL);
	c = mcx_test_client(test);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c, "scale/0", who.uid, 0, &who,
					     false, NULL, &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c, "scale/4095", who.uid, 0, &who,
					     false, NULL, &info), -ENOENT);

	/* the same keys and names make fresh entries */
	KUNIT_ASSERT_TRUE(test, scale_pin_all(test, c, &who, again));
	for (i = 0; i < MCX_SCALE_N; i++) {
		if (again[i] == ids[i]) {
			KUNIT_FAIL(test, "entry %u kept its old id %llu", i,
				   ids[i]);
			break;
		}
	}
	KUNIT_ASSERT_TRUE(test, scale_find_all(test, c, &who, again));
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 2U * MCX_SCALE_BUFS);
}

/* A name given on a hit is found, and leaves with the entry. */
static void mcx_scale_names_on_hit(struct kunit *test)
{
	struct mcx_who who = mcx_test_who(UID_A, GID_A);
	struct mcxfer_entry_info info;
	char name[MCXFER_NAME_MAX];
	struct mcx_client *c;
	struct mcx_pin_args args;
	unsigned int i;
	u64 *ids;

	ids = kunit_kcalloc(test, MCX_SCALE_N, sizeof(*ids), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ids);
	mcx_t(test)->reg.limits.linger_ms = 0;
	c = mcx_test_client(test);
	for (i = 0; i < MCX_SCALE_N; i++) {
		args = scale_args(i, name, sizeof(name));
		args.name = NULL;
		ids[i] = mcx_test_pin_ok(test, c, &args, &who, false);
	}
	for (i = 0; i < MCX_SCALE_N; i++) {
		args = scale_args(i, name, sizeof(name));
		KUNIT_ASSERT_EQ(test, mcx_test_pin_ok(test, c, &args, &who,
						      true), ids[i]);
	}
	for (i = 0; i < MCX_SCALE_N; i++) {
		snprintf(name, sizeof(name), "scale/%u", i);
		KUNIT_ASSERT_EQ(test, mcx_reg_lookup(c, name, who.uid, 0, &who,
						     false, NULL, &info), 0);
		KUNIT_ASSERT_EQ(test, info.id, ids[i]);
	}
	/* with linger 0, closing frees them all and their names */
	mcx_test_close(test, c);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches,
			(unsigned int)MCX_SCALE_BUFS);
	c = mcx_test_client(test);
	for (i = 0; i < MCX_SCALE_N; i += 511) {
		snprintf(name, sizeof(name), "scale/%u", i);
		KUNIT_EXPECT_EQ(test, mcx_reg_lookup(c, name, who.uid, 0, &who,
						     false, NULL, &info), -ENOENT);
	}
}

/* A page-sized dma-buf: one entry covering it, one page charged. */
static struct mcx_pin_args page_args(unsigned int buf)
{
	return mcx_test_whole(buf, 4096);
}

/*
 * Per-user caps with many lingering entries of two users, each on a
 * dma-buf of its own, some of them taken back out of the LRU: the user's
 * own oldest idle entry goes, and the refusals are decided on the idle
 * sums of entries and attachments.
 */
static void mcx_scale_user_cap_idle_sums(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, GID_A);
	struct mcx_who b = mcx_test_who(UID_B, GID_B);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_entry_info info;
	struct mcx_client *ca, *cb, *c;
	struct mcx_pin_args args;
	unsigned int i, n = 64;
	u64 *ida, *idb, id;
	bool hit;

	/* off the stack, which KASAN makes dear */
	ida = kunit_kcalloc(test, n, sizeof(*ida), GFP_KERNEL);
	idb = kunit_kcalloc(test, n, sizeof(*idb), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ida);
	KUNIT_ASSERT_NOT_NULL(test, idb);
	ca = mcx_test_client(test);
	cb = mcx_test_client(test);
	/* A's on buffers [0, n), B's on [n, 2n); they alternate in the LRU */
	for (i = 0; i < n; i++) {
		args = page_args(i);
		ida[i] = mcx_test_pin_ok(test, ca, &args, &a, false);
		args = page_args(n + i);
		idb[i] = mcx_test_pin_ok(test, cb, &args, &b, false);
	}
	for (i = 0; i < n; i++) {
		KUNIT_ASSERT_EQ(test, mcx_reg_unpin(ca, ida[i]), 0);
		KUNIT_ASSERT_EQ(test, mcx_reg_unpin(cb, idb[i]), 0);
		mcx_test_advance(test, 1);
	}
	/* the LRU: ida[0], idb[0], ida[1], idb[1], ...; A takes ida[0, 1] back */
	c = mcx_test_client(test);
	for (i = 0; i < 2; i++) {
		args = page_args(i);
		KUNIT_ASSERT_EQ(test, mcx_test_pin_ok(test, c, &args, &a, true),
				ida[i]);
	}

	/* A at n entries, 2 of them busy: a cap of 2 cannot be met */
	reg->limits.user_max_entries = 2;
	args = page_args(2 * n);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args, &a, &id, &hit), -EDQUOT);
	for (i = 0; i < n; i++)
		KUNIT_EXPECT_EQ(test, mcx_test_entry(test, ida[i], &info), 0);

	/* a cap of n: one more for A evicts ida[2], not B's older idb[0] */
	reg->limits.user_max_entries = n;
	mcx_test_pin_ok(test, c, &args, &a, false);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, ida[2], &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, ida[3], &info), 0);
	for (i = 0; i < n; i++)
		KUNIT_EXPECT_EQ(test, mcx_test_entry(test, idb[i], &info), 0);

	/* a quota of n pages, 3 of them busy: n - 2 more do not fit */
	reg->limits.user_max_entries = 0;
	reg->limits.user_max_pinned_bytes = (u64)n * 4096;
	args = mcx_test_whole(2 * n + 1, (n - 3 + 1) * 4096ULL);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args, &a, &id, &hit), -EDQUOT);
	KUNIT_EXPECT_EQ(test, get_evictions(reg), 1ULL);
	reg->limits.user_max_pinned_bytes = 0;

	/*
	 * A global byte cap of 2n pages, all in use, and a PIN of 3 pages:
	 * the 3 oldest idle entries go whoever owns them.
	 */
	reg->limits.max_pinned_bytes = (2ULL * n) * 4096;
	args = mcx_test_whole(2 * n + 2, 3 * 4096);
	mcx_test_pin_ok(test, c, &args, &a, false);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, mcx_test_entry(test, idb[i], &info),
				-ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, ida[3], &info), 0);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, idb[3], &info), 0);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, ida[0], &info), 0);
	KUNIT_EXPECT_EQ(test, get_evictions(reg), 4ULL);

	/* more than everything idle could free: refused, nothing evicted */
	args = mcx_test_whole(2 * n + 3, (2ULL * n) * 4096);
	KUNIT_EXPECT_EQ(test, mcx_reg_pin(c, &args, &a, &id, &hit), -ENOSPC);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, ida[3], &info), 0);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, idb[3], &info), 0);
	KUNIT_EXPECT_EQ(test, get_evictions(reg), 4ULL);
	/* 2n + 2 made, the 4 evicted dropped, and no refused PIN's kept */
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches - mcx_t(test)->detaches,
			2 * n + 2 - 4);
}

static struct kunit_case mcx_scale_cases[] = {
	KUNIT_CASE(mcx_scale_tables_grow_and_shrink),
	KUNIT_CASE(mcx_scale_names_on_hit),
	KUNIT_CASE(mcx_scale_user_cap_idle_sums),
	{}
};

static struct kunit_suite mcx_scale_suite = {
	.name = "mcxfer_scale",
	.init = mcx_test_init,
	.exit = mcx_test_exit,
	.test_cases = mcx_scale_cases,
};

kunit_test_suite(mcx_scale_suite);
