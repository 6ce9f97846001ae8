// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of who may see and evict mcxfer entries (the share modes
 * owner/group/all against callers with the owner's uid, the owner's gid, a
 * supplementary group, nothing in common, and CAP_SYS_ADMIN), of how
 * LOOKUP, LIST, GET_MR, EXPORT_FD and EVICT apply that, of identities
 * taken from credentials, of the name rules, and of which exporters count
 * as host memory.
 */

#include <linux/cred.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/user_namespace.h>

#include "mcx_kunit.h"
#include "../internal.h"

#define OWNER_UID	1000
#define OWNER_GID	100
#define OTHER_UID	2000
#define OTHER_GID	200

/* Supplementary groups of the "member" caller: one, the owner's group. */
static const struct group_info *owner_group(struct kunit *test)
{
	struct group_info *g;

	g = kunit_kzalloc(test, struct_size(g, gid, 2), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, g);
	g->ngroups = 2;
	g->gid[0] = KGIDT_INIT(OWNER_GID - 1);
	g->gid[1] = KGIDT_INIT(OWNER_GID);
	return g;
}

enum caller {
	CALLER_OWNER,		/* owner uid, another primary group */
	CALLER_SAME_GID,	/* another uid, the owner's primary gid */
	CALLER_MEMBER,		/* another uid, owner's gid as a supplementary group */
	CALLER_OTHER,		/* nothing in common */
	CALLER_ADMIN,		/* nothing in common but CAP_SYS_ADMIN */
	NR_CALLERS,
};

static const char * const caller_names[NR_CALLERS] = {
	"owner", "same gid", "group member", "other", "admin",
};

static struct mcx_who caller(struct kunit *test, enum caller who)
{
	struct mcx_who w;

	switch (who) {
	case CALLER_OWNER:
		return mcx_test_who(OWNER_UID, OTHER_GID);
	case CALLER_SAME_GID:
		return mcx_test_who(OTHER_UID, OWNER_GID);
	case CALLER_MEMBER:
		w = mcx_test_who(OTHER_UID, OTHER_GID);
		w.groups = owner_group(test);
		return w;
	case CALLER_ADMIN:
		return mcx_test_admin(OTHER_UID + 1, OTHER_GID + 1);
	default:
		return mcx_test_who(OTHER_UID + 2, OTHER_GID + 2);
	}
}

static void entry_with_share(struct mcx_entry *e, u32 share)
{
	memset(e, 0, sizeof(*e));
	e->nkey.owner = KUIDT_INIT(OWNER_UID);
	e->owner_gid = KGIDT_INIT(OWNER_GID);
	e->share = share;
}

/* expect[caller]: visible; ownership is owner or admin whatever the mode */
static void check_matrix(struct kunit *test, u32 share,
			 const bool expect[NR_CALLERS])
{
	struct mcx_entry e;
	struct mcx_who w;
	int i;

	entry_with_share(&e, share);
	for (i = 0; i < NR_CALLERS; i++) {
		w = caller(test, i);
		KUNIT_EXPECT_EQ_MSG(test, mcx_entry_visible(&e, &w), expect[i],
				    "share %u, caller %s", share,
				    caller_names[i]);
		KUNIT_EXPECT_EQ_MSG(test, mcx_entry_is_owner(&e, &w),
				    i == CALLER_OWNER || i == CALLER_ADMIN,
				    "share %u, caller %s", share,
				    caller_names[i]);
	}
}

static void mcx_access_share_owner(struct kunit *test)
{
	static const bool expect[NR_CALLERS] = {
		[CALLER_OWNER] = true,
		[CALLER_ADMIN] = true,
	};

	check_matrix(test, MCXFER_SHARE_OWNER, expect);
}

static void mcx_access_share_group(struct kunit *test)
{
	static const bool expect[NR_CALLERS] = {
		[CALLER_OWNER] = true,
		[CALLER_SAME_GID] = true,
		[CALLER_MEMBER] = true,
		[CALLER_ADMIN] = true,
	};

	check_matrix(test, MCXFER_SHARE_GROUP, expect);
}

static void mcx_access_share_all(struct kunit *test)
{
	static const bool expect[NR_CALLERS] = {
		[CALLER_OWNER] = true,
		[CALLER_SAME_GID] = true,
		[CALLER_MEMBER] = true,
		[CALLER_OTHER] = true,
		[CALLER_ADMIN] = true,
	};

	check_matrix(test, MCXFER_SHARE_ALL, expect);
}

/* One named entry per share mode, owned by OWNER_UID/OWNER_GID. */
static void pin_three(struct kunit *test, struct mcx_client *c, u64 ids[3])
{
	static const char * const names[3] = { "s/owner", "s/group", "s/all" };
	struct mcx_who owner = mcx_test_who(OWNER_UID, OWNER_GID);
	struct mcx_pin_args args;
	int i;

	for (i = 0; i < 3; i++) {
		args = mcx_test_args(i, 0, 4096);
		args.share = i;		/* OWNER, GROUP, ALL */
		args.name = names[i];
		ids[i] = mcx_test_pin_ok(test, c, &args, &owner, false);
	}
}

static void mcx_access_lookup_hides_invisible(struct kunit *test)
{
	static const char * const names[3] = { "s/owner", "s/group", "s/all" };
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_client *peer = mcx_test_client(test);
	kuid_t owner = KUIDT_INIT(OWNER_UID);
	struct mcxfer_entry_info info;
	struct mcx_who w;
	u64 ids[3];
	int i, ret;

	pin_three(test, c, ids);
	for (i = 0; i < 3; i++) {
		/* a stranger sees only the shared-with-all entry ... */
		w = caller(test, CALLER_OTHER);
		ret = mcx_reg_lookup(peer, names[i], owner, 0, &w, false, NULL,
				     &info);
		KUNIT_EXPECT_EQ_MSG(test, ret, i == MCXFER_SHARE_ALL ? 0 :
				    -ENOENT, "%s by name", names[i]);
		ret = mcx_reg_lookup(peer, NULL, w.uid, ids[i], &w, true, NULL,
				     &info);
		KUNIT_EXPECT_EQ_MSG(test, ret, i == MCXFER_SHARE_ALL ? 0 :
				    -ENOENT, "%s by id", names[i]);
		/* ... among its own names, none of them */
		ret = mcx_reg_lookup(peer, names[i], w.uid, 0, &w, false, NULL,
				     &info);
		KUNIT_EXPECT_EQ_MSG(test, ret, -ENOENT, "%s in its own names",
				    names[i]);
		/* ... a group member also the group entry */
		w = caller(test, CALLER_MEMBER);
		ret = mcx_reg_lookup(peer, names[i], owner, 0, &w, false, NULL,
				     &info);
		KUNIT_EXPECT_EQ_MSG(test, ret, i == MCXFER_SHARE_OWNER ?
				    -ENOENT : 0, "%s for a member", names[i]);
		/* ... and an admin all of them */
		w = caller(test, CALLER_ADMIN);
		ret = mcx_reg_lookup(peer, names[i], owner, 0, &w, false, NULL,
				     &info);
		KUNIT_EXPECT_EQ_MSG(test, ret, 0, "%s for an admin", names[i]);
	}
	/* hidden entries answer exactly like missing ones */
	w = caller(test, CALLER_OTHER);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(peer, "s/none", owner, 0, &w,
					     false, NULL, &info), -ENOENT);
	/* only the visible lookup took a reference */
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, ids[MCXFER_SHARE_ALL],
					     &info), 0);
	KUNIT_EXPECT_EQ(test, info.refs, 2U);
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, ids[MCXFER_SHARE_OWNER],
					     &info), 0);
	KUNIT_EXPECT_EQ(test, info.refs, 1U);
	KUNIT_EXPECT_EQ(test, info.owner_uid, (u32)OWNER_UID);
	KUNIT_EXPECT_EQ(test, info.owner_gid, (u32)OWNER_GID);
	KUNIT_EXPECT_EQ(test, info.share, (u32)MCXFER_SHARE_OWNER);
}

/*
 * A PIN hit needs no share mode (holding the dma-buf is proof enough), and
 * a holder may always look at what it holds; once it lets go, it is
 * hidden again.
 */
static void mcx_access_holder_may_look(struct kunit *test)
{
	struct mcx_who owner = mcx_test_who(OWNER_UID, OWNER_GID);
	struct mcx_who other = caller(test, CALLER_OTHER);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_client *peer = mcx_test_client(test);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcxfer_entry_info info;
	u64 id, cursor;
	u32 n;

	args.share = MCXFER_SHARE_OWNER;
	args.name = "s/private";
	id = mcx_test_pin_ok(test, c, &args, &owner, false);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(peer, NULL, other.uid, id, &other,
					     false, NULL, &info), -ENOENT);
	args.name = NULL;
	KUNIT_EXPECT_EQ(test, mcx_test_pin_ok(test, peer, &args, &other, true),
			id);
	KUNIT_ASSERT_EQ(test, mcx_reg_lookup(peer, NULL, other.uid, id, &other,
					     true, NULL, &info), 0);
	KUNIT_EXPECT_EQ(test, info.refs, 3U);
	KUNIT_EXPECT_EQ(test, info.owner_uid, (u32)OWNER_UID);
	/* LIST is by share mode alone */
	cursor = 0;
	KUNIT_EXPECT_EQ(test, mcx_reg_list(&mcx_t(test)->reg, &other, &cursor,
					   &info, 1, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 0U);
	/* let go, it is hidden again, by id and by name */
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(peer, id), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_unpin(peer, id), 0);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(peer, NULL, other.uid, id, &other,
					     false, NULL, &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_lookup(peer, "s/private",
					     KUIDT_INIT(OWNER_UID), 0, &other,
					     false, NULL, &info), -ENOENT);
}

static void mcx_access_list_filters(struct kunit *test)
{
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcxfer_entry_info out[4];
	static const u32 expect_n[NR_CALLERS] = {
		[CALLER_OWNER] = 3, [CALLER_SAME_GID] = 2,
		[CALLER_MEMBER] = 2, [CALLER_OTHER] = 1, [CALLER_ADMIN] = 3,
	};
	struct mcx_who w;
	u64 ids[3], cursor;
	u32 n;
	int i;

	pin_three(test, c, ids);
	for (i = 0; i < NR_CALLERS; i++) {
		w = caller(test, i);
		cursor = 0;
		KUNIT_ASSERT_EQ(test, mcx_reg_list(reg, &w, &cursor, out,
						   ARRAY_SIZE(out), &n), 0);
		KUNIT_EXPECT_EQ_MSG(test, n, expect_n[i], "caller %s",
				    caller_names[i]);
		KUNIT_EXPECT_EQ(test, cursor, 0ULL);
		if (i == CALLER_OTHER && n == 1)
			KUNIT_EXPECT_EQ(test, out[0].id, ids[MCXFER_SHARE_ALL]);
	}
}

/* MR records are the owner's alone, whatever the share mode. */
static void mcx_access_get_mr_owner_only(struct kunit *test)
{
	struct mcx_who owner = mcx_test_who(OWNER_UID, OWNER_GID);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_mr *mr;
	struct mcx_mr out;
	struct mcx_who w;
	u64 ids[3], mr_id;
	int i, share, ret, want;

	pin_three(test, c, ids);
	for (i = 0; i < 3; i++) {
		mr = kzalloc(sizeof(*mr), GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, mr);
		mr->dev = mcx_test_target(0);
		strscpy(mr->dev_name, "rxe0", sizeof(mr->dev_name));
		/* the fake mr_get/mr_put count references in the case's state */
		mr->file = (struct file *)mcx_t(test);
		mr->length = 4096;
		mcx_t(test)->mr_file_refs++;
		/* c holds every entry; a non-owner still may not publish */
		w = caller(test, CALLER_SAME_GID);
		KUNIT_EXPECT_EQ(test, mcx_reg_publish_mr(c, &w, ids[i], mr,
							 &mr_id), -EPERM);
		ret = mcx_reg_publish_mr(c, &owner, ids[i], mr, &mr_id);
		if (ret) {
			mcx_t(test)->mr_file_refs--;
			kfree(mr);
		}
		KUNIT_ASSERT_EQ(test, ret, 0);
	}
	for (share = 0; share < 3; share++) {
		for (i = 0; i < NR_CALLERS; i++) {
			w = caller(test, i);
			/* hidden: ENOENT; seen but not owned: EPERM */
			if (i == CALLER_OWNER || i == CALLER_ADMIN)
				want = 0;
			else if (share == MCXFER_SHARE_ALL ||
				 (share == MCXFER_SHARE_GROUP &&
				  i != CALLER_OTHER))
				want = -EPERM;
			else
				want = -ENOENT;
			ret = mcx_reg_get_mr(c, &w, ids[share], "rxe0", 0, &out,
					     NULL);
			KUNIT_EXPECT_EQ_MSG(test, ret, want, "share %d, caller %s",
					    share, caller_names[i]);
			ret = mcx_reg_get_mr(c, &w, ids[share], NULL, 1, &out,
					     NULL);
			KUNIT_EXPECT_EQ_MSG(test, ret, want ?: -ENOENT,
					    "share %d, caller %s, index 1",
					    share, caller_names[i]);
		}
	}
}

/*
 * EXPORT_FD reaches the whole dma-buf: for anybody but the owner (and
 * admin), only from an entry that covers all of it.
 */
static void mcx_access_export_whole_buffer(struct kunit *test)
{
	struct mcx_who owner = mcx_test_who(OWNER_UID, OWNER_GID);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_client *peer = mcx_test_client(test);
	struct mcx_pin_args whole = mcx_test_whole(0, SZ_64K);
	struct mcx_pin_args part = mcx_test_args(1, 0, 4096);
	struct mcx_pin_args tail = mcx_test_args(2, 4096, SZ_64K - 4096);
	struct mcxfer_entry_info info;
	struct mcx_who w;
	u64 id_whole, id_part, id_tail;
	void *buf;
	int i, ret;

	part.buf_size = SZ_64K;
	tail.buf_size = SZ_64K;
	id_whole = mcx_test_pin_ok(test, c, &whole, &owner, false);
	id_part = mcx_test_pin_ok(test, c, &part, &owner, false);
	id_tail = mcx_test_pin_ok(test, c, &tail, &owner, false);
	for (i = 0; i < NR_CALLERS; i++) {
		bool owns = i == CALLER_OWNER || i == CALLER_ADMIN;

		w = caller(test, i);
		buf = NULL;
		ret = mcx_reg_lookup(peer, NULL, w.uid, id_whole, &w, false,
				     &buf, &info);
		KUNIT_EXPECT_EQ_MSG(test, ret, 0, "caller %s", caller_names[i]);
		KUNIT_EXPECT_PTR_EQ(test, buf, mcx_test_buf(0));
		buf = NULL;
		ret = mcx_reg_lookup(peer, NULL, w.uid, id_part, &w, false,
				     &buf, &info);
		KUNIT_EXPECT_EQ_MSG(test, ret, owns ? 0 : -EACCES, "caller %s",
				    caller_names[i]);
		KUNIT_EXPECT_PTR_EQ(test, buf, owns ? mcx_test_buf(1) : NULL);
		ret = mcx_reg_lookup(peer, NULL, w.uid, id_tail, &w, false,
				     &buf, &info);
		KUNIT_EXPECT_EQ_MSG(test, ret, owns ? 0 : -EACCES, "caller %s",
				    caller_names[i]);
	}
	/* one buffer reference handed out per successful export */
	KUNIT_EXPECT_EQ(test, mcx_t(test)->get_bufs, NR_CALLERS + 2U * 2);
}

static void mcx_access_evict_rights(struct kunit *test)
{
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcx_who owner = caller(test, CALLER_OWNER);
	struct mcx_who member = caller(test, CALLER_MEMBER);
	struct mcx_who other = caller(test, CALLER_OTHER);
	struct mcx_who admin = caller(test, CALLER_ADMIN);
	struct mcxfer_entry_info info;
	u64 ids[3], n;

	pin_three(test, c, ids);
	/* referenced entries are never evicted, even by their owner */
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &owner, ids[0], false, &n),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, n, 0ULL);
	mcx_test_close(test, c);

	/* invisible: as if missing; visible but not owned: refused */
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &other, ids[0], false, &n),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &member, ids[1], false, &n),
			-EPERM);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &other, ids[2], false, &n),
			-EPERM);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &other, 0, false, &n),
			-ENOENT);
	/* the EVICT_IDLE sweep of a stranger touches nothing */
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &other, 0, true, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 0ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 0U);

	/* the owner evicts one, the admin sweeps the rest */
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &owner, ids[1], false, &n),
			0);
	KUNIT_EXPECT_EQ(test, n, 1ULL);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, ids[1], &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &owner, ids[1], false, &n),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &admin, 0, true, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 2ULL);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->detaches, 3U);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, ids[0], &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, ids[2], &info), -ENOENT);
}

static void mcx_access_evict_idle_sweeps_own(struct kunit *test)
{
	struct mcx_registry *reg = &mcx_t(test)->reg;
	struct mcx_who owner = mcx_test_who(OWNER_UID, OWNER_GID);
	struct mcx_who other = mcx_test_who(OTHER_UID, OTHER_GID);
	struct mcx_client *c = mcx_test_client(test);
	struct mcx_client *keep = mcx_test_client(test);
	struct mcx_pin_args args;
	struct mcxfer_entry_info info;
	u64 mine[2], theirs, busy, n;

	args = mcx_test_args(0, 0, 4096);
	mine[0] = mcx_test_pin_ok(test, c, &args, &owner, false);
	args = mcx_test_args(1, 0, 4096);
	mine[1] = mcx_test_pin_ok(test, c, &args, &owner, false);
	args = mcx_test_args(2, 0, 4096);
	theirs = mcx_test_pin_ok(test, c, &args, &other, false);
	args = mcx_test_args(3, 0, 4096);
	busy = mcx_test_pin_ok(test, keep, &args, &owner, false);
	mcx_test_close(test, c);

	KUNIT_EXPECT_EQ(test, mcx_reg_evict(reg, &owner, 0, true, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 2ULL);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, mine[0], &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, mine[1], &info), -ENOENT);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, theirs, &info), 0);
	KUNIT_EXPECT_EQ(test, info.state, (u32)MCXFER_STATE_LINGER);
	KUNIT_EXPECT_EQ(test, mcx_test_entry(test, busy, &info), 0);
	KUNIT_EXPECT_EQ(test, info.state, (u32)MCXFER_STATE_ACTIVE);
}

static void mcx_name_valid(struct kunit *test)
{
	static const char * const good[] = {
		"a", "kv/gpu0", "A-Z_a.z:0-9", "x/", "node-3:kv/layer.12",
		"0", "a..b", "a//b",
	};
	char longest[MCXFER_NAME_MAX];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(good); i++)
		KUNIT_EXPECT_EQ_MSG(test, mcx_name_check(good[i]), 0, "'%s'",
				    good[i]);
	memset(longest, 'n', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	KUNIT_EXPECT_EQ(test, strlen(longest), (size_t)MCXFER_NAME_MAX - 1);
	KUNIT_EXPECT_EQ(test, mcx_name_check(longest), 0);
}

static void mcx_name_invalid(struct kunit *test)
{
	static const char * const bad[] = {
		"", "/abs", ".hidden", "./x", "..", "a b", "a\tb", "a\nb",
		"tab\t", "a*b", "a?b", "a\\b", "a@b", "a%b", "\xc3\xa9t\xc3\xa9",
		"a\x7f", "a~", "a,b",
	};
	char toolong[MCXFER_NAME_MAX + 8];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		KUNIT_EXPECT_EQ_MSG(test, mcx_name_check(bad[i]), -EINVAL,
				    "'%s'", bad[i]);
	/* 64 bytes leave no room for the NUL */
	memset(toolong, 'n', MCXFER_NAME_MAX);
	toolong[MCXFER_NAME_MAX] = '\0';
	KUNIT_EXPECT_EQ(test, mcx_name_check(toolong), -ENAMETOOLONG);
	memset(toolong, 'n', sizeof(toolong) - 1);
	toolong[sizeof(toolong) - 1] = '\0';
	KUNIT_EXPECT_EQ(test, mcx_name_check(toolong), -ENAMETOOLONG);
}

/* Identities come from the opener's credentials, fs ids first. */
static void mcx_access_who_from_cred(struct kunit *test)
{
	struct mcx_entry e;
	struct mcx_who who;
	struct cred *cred;
	struct group_info *groups;

	cred = prepare_creds();
	KUNIT_ASSERT_NOT_NULL(test, cred);
	groups = groups_alloc(1);
	if (!groups) {
		abort_creds(cred);
		KUNIT_ASSERT_NOT_NULL(test, groups);
	}
	groups->gid[0] = KGIDT_INIT(OWNER_GID);
	set_groups(cred, groups);
	put_group_info(groups);
	cred->uid = KUIDT_INIT(OTHER_UID + 7);
	cred->euid = KUIDT_INIT(OTHER_UID + 8);
	cred->fsuid = KUIDT_INIT(OTHER_UID);
	cred->gid = KGIDT_INIT(OTHER_GID + 7);
	cred->egid = KGIDT_INIT(OTHER_GID + 8);
	cred->fsgid = KGIDT_INIT(OTHER_GID);

	mcx_who_from_cred(cred, false, &who);
	KUNIT_EXPECT_TRUE(test, uid_eq(who.uid, KUIDT_INIT(OTHER_UID)));
	KUNIT_EXPECT_TRUE(test, gid_eq(who.gid, KGIDT_INIT(OTHER_GID)));
	KUNIT_EXPECT_FALSE(test, who.admin);
	KUNIT_EXPECT_PTR_EQ(test, who.user_ns, cred->user_ns);
	KUNIT_EXPECT_PTR_EQ(test, who.groups,
			    (const struct group_info *)cred->group_info);
	/* the supplementary group lets it see a group entry, not own it */
	entry_with_share(&e, MCXFER_SHARE_GROUP);
	KUNIT_EXPECT_TRUE(test, mcx_entry_visible(&e, &who));
	KUNIT_EXPECT_FALSE(test, mcx_entry_is_owner(&e, &who));
	entry_with_share(&e, MCXFER_SHARE_OWNER);
	KUNIT_EXPECT_FALSE(test, mcx_entry_visible(&e, &who));
	/* admin is what the opener was found to be, asked by the caller */
	mcx_who_from_cred(cred, true, &who);
	KUNIT_EXPECT_TRUE(test, who.admin);
	KUNIT_EXPECT_TRUE(test, mcx_entry_is_owner(&e, &who));
	abort_creds(cred);
}

/*
 * Which dma-bufs may be mapped for no real device: host memory, known by
 * the exporter's module, or by its exp_name when built in.  DRM's GEM
 * exports all say "drm", so a built-in GPU driver is never host memory.
 */
static void mcx_host_exporter_policy(struct kunit *test)
{
	static const struct {
		const char *module, *exp_name;
		bool host;
	} cases[] = {
		{ "udmabuf", "udmabuf", true },
		{ NULL, "udmabuf", true },
		{ "vgem", "drm", true },
		{ "vgem", NULL, true },
		{ NULL, "system", true },
		{ NULL, "drm", false },
		{ "drm", "drm", false },
		{ "amdgpu", "drm", false },
		{ "amdgpu", "udmabuf", false },
		{ "nvidia", "nvidia", false },
		{ NULL, "nvidia", false },
		{ "i915", "i915", false },
		{ NULL, NULL, false },
		{ "", "udmabuf", false },
		{ "udmabuf2", NULL, false },
		{ "udmabu", NULL, false },
		{ "UDMABUF", NULL, false },
		{ NULL, "vgem ", false },
	};
	const char *module, *exp_name;
	unsigned int i;
	bool host;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		module = cases[i].module;
		exp_name = cases[i].exp_name;
		host = mcx_host_exporter(module, exp_name);
		if (!module)
			module = "(built in)";
		if (!exp_name)
			exp_name = "(none)";
		KUNIT_EXPECT_EQ_MSG(test, host, cases[i].host,
				    "module '%s', exp_name '%s'", module,
				    exp_name);
	}
}

static struct kunit_case mcx_access_cases[] = {
	KUNIT_CASE(mcx_access_share_owner),
	KUNIT_CASE(mcx_access_share_group),
	KUNIT_CASE(mcx_access_share_all),
	KUNIT_CASE(mcx_access_lookup_hides_invisible),
	KUNIT_CASE(mcx_access_holder_may_look),
	KUNIT_CASE(mcx_access_list_filters),
	KUNIT_CASE(mcx_access_get_mr_owner_only),
	KUNIT_CASE(mcx_access_export_whole_buffer),
	KUNIT_CASE(mcx_access_evict_rights),
	KUNIT_CASE(mcx_access_evict_idle_sweeps_own),
	KUNIT_CASE(mcx_access_who_from_cred),
	KUNIT_CASE(mcx_name_valid),
	KUNIT_CASE(mcx_name_invalid),
	KUNIT_CASE(mcx_host_exporter_policy),
	{}
};

static struct kunit_suite mcx_access_suite = {
	.name = "mcxfer_access",
	.init = mcx_test_init,
	.exit = mcx_test_exit,
	.test_cases = mcx_access_cases,
};

kunit_test_suite(mcx_access_suite);
