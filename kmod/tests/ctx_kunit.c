// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: shared uverbs contexts (ctxrec.c): one per (uid, device), found
 * by their owner only, alive while a client holds them or an MR record
 * made through their file exists, dropped with their device, and the
 * CTX_MR_DROPPED events their holders get.
 */

#include <kunit/test.h>
#include <linux/slab.h>

#include "mcx_kunit.h"

#define UID_A	1000
#define UID_B	2000

/* A context on fake device dev whose file is the case's (as test MRs). */
static struct mcx_ctx *new_ctx(struct kunit *test, unsigned int dev)
{
	struct mcx_ctx *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, ctx);
	ctx->dev = mcx_test_target(dev);
	snprintf(ctx->dev_name, sizeof(ctx->dev_name), "rxe%u", dev);
	ctx->file = (struct file *)mcx_t(test);
	ctx->pd_handle = 7;
	return ctx;
}

/* On success the registry owns ctx and a file reference. */
static int publish_ctx(struct kunit *test, struct mcx_client *c,
		       const struct mcx_who *who, struct mcx_ctx *ctx,
		       u64 *ctx_id)
{
	int ret;

	mcx_t(test)->ctx_file_refs++;
	ret = mcx_reg_publish_ctx(c, who, ctx, ctx_id);
	if (ret) {
		mcx_t(test)->ctx_file_refs--;
		kfree(ctx);
	}
	return ret;
}

/* GET_CTX; the file reference it gives is handed back at once. */
static int get_ctx(struct kunit *test, struct mcx_client *c,
		   const struct mcx_who *who, unsigned int dev, u64 *ctx_id)
{
	struct file *file = NULL;
	bool new_hold;
	u32 pd = 0;
	int ret;

	ret = mcx_reg_get_ctx(c, who, mcx_test_target(dev), &file, &pd,
			      ctx_id, &new_hold);
	if (!ret) {
		KUNIT_EXPECT_PTR_EQ(test, (void *)file, (void *)mcx_t(test));
		KUNIT_EXPECT_EQ(test, pd, 7U);
		mcx_t(test)->ctx_file_refs--;
	}
	return ret;
}

static u64 contexts(struct kunit *test)
{
	struct mcxfer_info info;

	mcx_reg_get_info(&mcx_t(test)->reg, &info);
	return info.contexts;
}

static int publish_mr(struct kunit *test, struct mcx_client *c,
		      const struct mcx_who *who, u64 id, u64 offset,
		      u32 handle, u64 *mr_id)
{
	struct mcx_mr *mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	int ret;

	KUNIT_ASSERT_NOT_NULL(test, mr);
	mr->dev = mcx_test_target(0);
	strscpy(mr->dev_name, "rxe0", sizeof(mr->dev_name));
	mr->file = (struct file *)mcx_t(test);
	mr->mr_handle = handle;
	mr->offset = offset;
	mr->length = 4096;
	mcx_t(test)->mr_file_refs++;
	ret = mcx_reg_publish_mr(c, who, id, mr, mr_id);
	if (ret) {
		mcx_t(test)->mr_file_refs--;
		kfree(mr);
	}
	return ret;
}

static void mcx_ctx_one_per_uid_and_device(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, UID_A);
	struct mcx_who b = mcx_test_who(UID_B, UID_B);
	struct mcx_who admin = mcx_test_admin(UID_B, UID_B);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	u64 id0, id1, got;

	KUNIT_ASSERT_EQ(test, publish_ctx(test, c1, &a, new_ctx(test, 0),
					  &id0), 0);
	KUNIT_EXPECT_EQ(test, publish_ctx(test, c2, &a, new_ctx(test, 0),
					  &got), -EEXIST);
	KUNIT_ASSERT_EQ(test, publish_ctx(test, c1, &a, new_ctx(test, 1),
					  &id1), 0);
	KUNIT_EXPECT_NE(test, id0, id1);
	/* another uid has its own, and never finds A's, admin or not */
	KUNIT_EXPECT_EQ(test, get_ctx(test, c2, &b, 0, &got), -ENOENT);
	KUNIT_EXPECT_EQ(test, get_ctx(test, c2, &admin, 0, &got), -ENOENT);
	KUNIT_EXPECT_EQ(test, publish_ctx(test, c2, &b, new_ctx(test, 0),
					  &got), 0);
	KUNIT_EXPECT_EQ(test, get_ctx(test, c2, &a, 0, &got), 0);
	KUNIT_EXPECT_EQ(test, got, id0);
	KUNIT_EXPECT_EQ(test, get_ctx(test, c2, &a, 2, &got), -ENOENT);
	/* not for a device being removed */
	mcx_t(test)->dead_target = mcx_test_target(3);
	KUNIT_EXPECT_EQ(test, publish_ctx(test, c1, &a, new_ctx(test, 3),
					  &got), -ENODEV);
	KUNIT_EXPECT_EQ(test, contexts(test), 3ULL);
}

/* Lives while a client that published or got it is open. */
static void mcx_ctx_lives_with_its_holders(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, UID_A);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_client *c3 = mcx_test_client(test);
	u64 id, got;

	KUNIT_ASSERT_EQ(test, publish_ctx(test, c1, &a, new_ctx(test, 0),
					  &id), 0);
	KUNIT_ASSERT_EQ(test, get_ctx(test, c2, &a, 0, &got), 0);
	/* getting it twice holds it once */
	KUNIT_ASSERT_EQ(test, get_ctx(test, c2, &a, 0, &got), 0);
	mcx_test_close(test, c1);
	KUNIT_EXPECT_EQ(test, contexts(test), 1ULL);
	KUNIT_EXPECT_EQ(test, get_ctx(test, c3, &a, 0, &got), 0);
	KUNIT_EXPECT_EQ(test, got, id);
	mcx_test_close(test, c2);
	mcx_test_close(test, c3);
	KUNIT_EXPECT_EQ(test, contexts(test), 0ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->ctx_file_refs, 0);

	/* undoing a publish whose answer was lost leaves nothing */
	c1 = mcx_test_client(test);
	KUNIT_ASSERT_EQ(test, publish_ctx(test, c1, &a, new_ctx(test, 0),
					  &id), 0);
	mcx_reg_put_ctx(c1, id);
	KUNIT_EXPECT_EQ(test, contexts(test), 0ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->ctx_file_refs, 0);
}

/*
 * ... and while an MR record made through its file exists; that record's
 * end is told to whoever holds the context then.
 */
static void mcx_ctx_lives_with_its_mrs(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, UID_A);
	struct mcx_client *c1 = mcx_test_client(test);
	struct mcx_client *c2 = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 8192);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_event ev;
	u64 id, ctx_id, got, mr0, mr1, unused;

	id = mcx_test_pin_ok(test, c1, &args, &a, false);
	/* an MR made before the context was published is adopted */
	KUNIT_ASSERT_EQ(test, publish_mr(test, c1, &a, id, 0, 0x11, &mr0), 0);
	KUNIT_ASSERT_EQ(test, publish_ctx(test, c1, &a, new_ctx(test, 0),
					  &ctx_id), 0);
	KUNIT_ASSERT_EQ(test, publish_mr(test, c1, &a, id, 4096, 0x12, &mr1),
			0);
	/* the publisher goes; the entry lingers and keeps the context */
	mcx_test_close(test, c1);
	KUNIT_EXPECT_EQ(test, contexts(test), 1ULL);
	KUNIT_ASSERT_EQ(test, get_ctx(test, c2, &a, 0, &got), 0);
	KUNIT_EXPECT_EQ(test, got, ctx_id);

	/* the entry expires: its MRs go, c2 is told of each */
	mcx_test_advance(test, MCX_TEST_LINGER_MS);
	mcx_reg_expire(reg);
	KUNIT_ASSERT_TRUE(test, mcx_client_pop_event(c2, &ev));
	KUNIT_EXPECT_EQ(test, ev.type, (u32)MCXFER_EVENT_CTX_MR_DROPPED);
	KUNIT_EXPECT_EQ(test, ev.id, ctx_id);
	KUNIT_EXPECT_EQ(test, ev.mr_id, 0x11ULL);
	KUNIT_ASSERT_TRUE(test, mcx_client_pop_event(c2, &ev));
	KUNIT_EXPECT_EQ(test, ev.mr_id, 0x12ULL);
	KUNIT_EXPECT_FALSE(test, mcx_client_pop_event(c2, &ev));
	KUNIT_EXPECT_EQ(test, contexts(test), 1ULL);
	mcx_test_close(test, c2);
	KUNIT_EXPECT_EQ(test, contexts(test), 0ULL);

	/* with no client holding it, the last MR's end takes it along */
	c1 = mcx_test_client(test);
	id = mcx_test_pin_ok(test, c1, &args, &a, false);
	KUNIT_ASSERT_EQ(test, publish_ctx(test, c1, &a, new_ctx(test, 0),
					  &ctx_id), 0);
	KUNIT_ASSERT_EQ(test, publish_mr(test, c1, &a, id, 0, 0x13, &mr0), 0);
	mcx_test_close(test, c1);
	KUNIT_EXPECT_EQ(test, contexts(test), 1ULL);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &a, id, false, &unused), 0);
	KUNIT_EXPECT_EQ(test, contexts(test), 0ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->mr_file_refs, 0);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->ctx_file_refs, 0);
}

/* An MR undone because its answer was lost is no news to anybody. */
static void mcx_ctx_unpublish_is_silent(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, UID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 8192);
	struct mcxfer_event ev;
	u64 id, ctx_id, mr;

	id = mcx_test_pin_ok(test, c, &args, &a, false);
	KUNIT_ASSERT_EQ(test, publish_ctx(test, c, &a, new_ctx(test, 0),
					  &ctx_id), 0);
	KUNIT_ASSERT_EQ(test, publish_mr(test, c, &a, id, 0, 0x21, &mr), 0);
	mcx_reg_unpublish_mr(c, id, mr);
	KUNIT_EXPECT_FALSE(test, mcx_client_pop_event(c, &ev));
	/* a revoke is news: the MR lives on in the context */
	KUNIT_ASSERT_EQ(test, publish_mr(test, c, &a, id, 0, 0x22, &mr), 0);
	KUNIT_ASSERT_EQ(test, mcx_reg_revoke(&mcx_t(test)->reg, &a, id), 0);
	KUNIT_ASSERT_TRUE(test, mcx_client_pop_event(c, &ev));
	KUNIT_EXPECT_EQ(test, ev.type, (u32)MCXFER_EVENT_REVOKED);
	KUNIT_ASSERT_TRUE(test, mcx_client_pop_event(c, &ev));
	KUNIT_EXPECT_EQ(test, ev.type, (u32)MCXFER_EVENT_MR_REMOVED);
	KUNIT_ASSERT_TRUE(test, mcx_client_pop_event(c, &ev));
	KUNIT_EXPECT_EQ(test, ev.type, (u32)MCXFER_EVENT_CTX_MR_DROPPED);
	KUNIT_EXPECT_EQ(test, ev.mr_id, 0x22ULL);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(c, id), 0);
}

/* Device removal drops its contexts at once, held or not. */
static void mcx_ctx_device_removal(struct kunit *test)
{
	struct mcx_who a = mcx_test_who(UID_A, UID_A);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 8192);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_event ev;
	u64 id, ctx0, ctx1, mr, got;

	id = mcx_test_pin_ok(test, c, &args, &a, false);
	KUNIT_ASSERT_EQ(test, publish_ctx(test, c, &a, new_ctx(test, 0),
					  &ctx0), 0);
	KUNIT_ASSERT_EQ(test, publish_ctx(test, c, &a, new_ctx(test, 1),
					  &ctx1), 0);
	KUNIT_ASSERT_EQ(test, publish_mr(test, c, &a, id, 0, 0x31, &mr), 0);
	mcx_reg_target_removed(reg, mcx_test_target(0));
	KUNIT_EXPECT_EQ(test, contexts(test), 1ULL);
	KUNIT_EXPECT_EQ(test, get_ctx(test, c, &a, 0, &got), -ENOENT);
	KUNIT_EXPECT_EQ(test, get_ctx(test, c, &a, 1, &got), 0);
	/* the MR's removal is told, not as a context's MR to destroy */
	KUNIT_ASSERT_TRUE(test, mcx_client_pop_event(c, &ev));
	KUNIT_EXPECT_EQ(test, ev.type, (u32)MCXFER_EVENT_MR_REMOVED);
	KUNIT_EXPECT_FALSE(test, mcx_client_pop_event(c, &ev));
	KUNIT_EXPECT_EQ(test, mcx_t(test)->mr_file_refs, 0);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->ctx_file_refs, 1);
	mcx_test_close(test, c);
	KUNIT_EXPECT_EQ(test, contexts(test), 0ULL);
}

static struct kunit_case mcx_ctx_cases[] = {
	KUNIT_CASE(mcx_ctx_one_per_uid_and_device),
	KUNIT_CASE(mcx_ctx_lives_with_its_holders),
	KUNIT_CASE(mcx_ctx_lives_with_its_mrs),
	KUNIT_CASE(mcx_ctx_unpublish_is_silent),
	KUNIT_CASE(mcx_ctx_device_removal),
	{}
};

static struct kunit_suite mcx_ctx_suite = {
	.name = "mcxfer_ctx",
	.init = mcx_test_init,
	.exit = mcx_test_exit,
	.test_cases = mcx_ctx_cases,
};

kunit_test_suite(mcx_ctx_suite);
