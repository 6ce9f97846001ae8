// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of how mcxfer reads ioctl argument structs from user memory
 * (copy_struct_from_user() rules: short, exact, older and smaller, longer
 * with a zero or non-zero tail, unknown flags, reserved fields, faults), of
 * how it writes them back, and of the same rules through mcx_ioctl().
 *
 * The case's kthread gets an address space (see mcx_test_user_mem()), so
 * these are real user pointers.
 *
 * Every command acts on the registry of the file's client, the case's own.
 */

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "mcx_kunit.h"
#include "../internal.h"
#include "../uarg.h"

/* struct mcxfer_unpin as first published, without its reserved words */
#define UNPIN_MIN_SIZE	offsetofend(struct mcxfer_unpin, id)

/* Two pages of user memory; the struct under test goes at the start. */
static void __user *user_pages(struct kunit *test)
{
	return mcx_test_user_mem(test, 2 * PAGE_SIZE);
}

static void put_bytes(struct kunit *test, void __user *dst, const void *src,
		      size_t len)
{
	KUNIT_ASSERT_EQ(test, copy_to_user(dst, src, len), 0UL);
}

static void put_unpin(struct kunit *test, void __user *u, u32 size, u32 flags,
		      u64 id)
{
	struct mcxfer_unpin a = { .size = size, .flags = flags, .id = id };

	put_bytes(test, u, &a, sizeof(a));
}

static void mcx_uarg_short_is_einval(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcxfer_unpin k;
	u32 usize = 0;

	put_unpin(test, u, UNPIN_MIN_SIZE - 1, 0, 1);
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), UNPIN_MIN_SIZE, u, 0,
					  &usize), -EINVAL);
	put_unpin(test, u, 0, 0, 1);
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), UNPIN_MIN_SIZE, u, 0,
					  &usize), -EINVAL);
	KUNIT_EXPECT_EQ(test, usize, 0U);
}

static void mcx_uarg_exact(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcxfer_unpin k;
	u32 usize = 0;

	put_unpin(test, u, sizeof(k), 0, 0x1234567890ULL);
	memset(&k, 0xa5, sizeof(k));
	KUNIT_ASSERT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k), u, 0,
					  &usize), 0);
	KUNIT_EXPECT_EQ(test, usize, (u32)sizeof(k));
	KUNIT_EXPECT_EQ(test, k.size, (u32)sizeof(k));
	KUNIT_EXPECT_EQ(test, k.flags, 0U);
	KUNIT_EXPECT_EQ(test, k.id, 0x1234567890ULL);
	KUNIT_EXPECT_TRUE(test, mcx_mem_is_zero(k.reserved,
						sizeof(k.reserved)));
}

static void mcx_uarg_older_smaller(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcxfer_unpin k;
	u32 usize = 0;

	/* older userspace: what it does not know of is read as zero */
	put_unpin(test, u, UNPIN_MIN_SIZE, 0, 77);
	put_bytes(test, u + UNPIN_MIN_SIZE, "\xff\xff\xff\xff", 4);
	memset(&k, 0xa5, sizeof(k));
	KUNIT_ASSERT_EQ(test, mcx_uarg_in(&k, sizeof(k), UNPIN_MIN_SIZE, u, 0,
					  &usize), 0);
	KUNIT_EXPECT_EQ(test, usize, (u32)UNPIN_MIN_SIZE);
	KUNIT_EXPECT_EQ(test, k.id, 77ULL);
	KUNIT_EXPECT_TRUE(test, mcx_mem_is_zero(k.reserved,
						sizeof(k.reserved)));
}

static void mcx_uarg_longer_zero_tail(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcxfer_unpin k;
	u32 usize = 0;

	/* newer userspace with fields this kernel does not know, all zero */
	put_unpin(test, u, sizeof(k) + 24, 0, 5);
	KUNIT_ASSERT_EQ(test, clear_user(u + sizeof(k), 24), 0UL);
	KUNIT_ASSERT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k), u, 0,
					  &usize), 0);
	KUNIT_EXPECT_EQ(test, usize, (u32)sizeof(k) + 24);
	KUNIT_EXPECT_EQ(test, k.id, 5ULL);

	/* up to a whole page */
	put_unpin(test, u, PAGE_SIZE, 0, 6);
	KUNIT_ASSERT_EQ(test, clear_user(u + sizeof(k), PAGE_SIZE - sizeof(k)),
			0UL);
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k), u, 0,
					  &usize), 0);
	KUNIT_EXPECT_EQ(test, k.id, 6ULL);
}

static void mcx_uarg_longer_nonzero_tail(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcxfer_unpin k;
	u32 usize = 0;
	size_t at;

	for (at = sizeof(k); at < sizeof(k) + 24; at += 23) {
		put_unpin(test, u, sizeof(k) + 24, 0, 5);
		KUNIT_ASSERT_EQ(test, clear_user(u + sizeof(k), 24), 0UL);
		put_bytes(test, u + at, "\x01", 1);
		KUNIT_EXPECT_EQ_MSG(test, mcx_uarg_in(&k, sizeof(k), sizeof(k),
						      u, 0, &usize), -E2BIG,
				    "non-zero byte at %zu", at);
	}
	/* more than a page is never a struct this ABI will grow into */
	put_unpin(test, u, PAGE_SIZE + 8, 0, 5);
	KUNIT_ASSERT_EQ(test, clear_user(u + sizeof(k), PAGE_SIZE + 8 - sizeof(k)),
			0UL);
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k), u, 0,
					  &usize), -E2BIG);
	put_unpin(test, u, U32_MAX, 0, 5);
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k), u, 0,
					  &usize), -E2BIG);
	KUNIT_EXPECT_EQ(test, usize, 0U);
}

static void mcx_uarg_unknown_flags(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcxfer_unpin k;
	u32 usize = 0;

	put_unpin(test, u, sizeof(k), BIT(1), 1);
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k), u, BIT(0),
					  &usize), -EINVAL);
	put_unpin(test, u, sizeof(k), BIT(31), 1);
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k), u, 0,
					  &usize), -EINVAL);
	put_unpin(test, u, sizeof(k), BIT(0), 1);
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k), u, BIT(0),
					  &usize), 0);
	KUNIT_EXPECT_EQ(test, k.flags, (u32)BIT(0));
}

static void mcx_uarg_faults(struct kunit *test)
{
	void __user *u = user_pages(test);
	void __user *edge = u + PAGE_SIZE - 8;
	struct mcxfer_unpin k;
	u32 ksize = sizeof(k);
	u32 usize = 0;

	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k), NULL, 0,
					  &usize), -EFAULT);
	/* the size word is readable, the rest of the struct is not */
	KUNIT_ASSERT_EQ(test, vm_munmap((unsigned long)u + PAGE_SIZE,
					PAGE_SIZE), 0);
	put_bytes(test, edge, &ksize, sizeof(ksize));
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k), edge, 0,
					  &usize), -EFAULT);
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k),
					  u + PAGE_SIZE, 0, &usize), -EFAULT);
	/* a kernel address is not user memory */
	KUNIT_EXPECT_EQ(test, mcx_uarg_in(&k, sizeof(k), sizeof(k),
					  (void __user *)&k, 0, &usize),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, usize, 0U);
}

static void mcx_uarg_check_reserved(struct kunit *test)
{
	struct mcxfer_pin a = { .size = sizeof(a) };

	KUNIT_EXPECT_EQ(test, mcx_uarg_check(&a, MCXFER_PIN_FLAGS, a.reserved,
					     sizeof(a.reserved)), 0);
	a.reserved[1] = 1ULL << 63;
	KUNIT_EXPECT_EQ(test, mcx_uarg_check(&a, MCXFER_PIN_FLAGS, a.reserved,
					     sizeof(a.reserved)), -EINVAL);
	a.reserved[1] = 0;
	a.flags = MCXFER_PIN_NO_LINGER;
	KUNIT_EXPECT_EQ(test, mcx_uarg_check(&a, MCXFER_PIN_FLAGS, NULL, 0), 0);
	a.flags = ~MCXFER_PIN_FLAGS;
	KUNIT_EXPECT_EQ(test, mcx_uarg_check(&a, MCXFER_PIN_FLAGS, NULL, 0),
			-EINVAL);
	KUNIT_EXPECT_TRUE(test, mcx_mem_is_zero(NULL, 0));
	KUNIT_EXPECT_FALSE(test, mcx_mem_is_zero("\0\0\x01", 3));
}

static void mcx_uarg_out_respects_user_size(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcxfer_unpin k = { .size = sizeof(k), .id = ~0ULL };
	u8 back[sizeof(k) + 16], pattern[sizeof(back)];
	size_t i;

	memset(pattern, 0xaa, sizeof(pattern));
	/* an older caller: only its 16 bytes are written */
	put_bytes(test, u, pattern, sizeof(pattern));
	KUNIT_ASSERT_EQ(test, mcx_uarg_out(u, &k, sizeof(k), 16), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(back, u, sizeof(back)), 0UL);
	KUNIT_EXPECT_EQ(test, memcmp(back, &k, 16), 0);
	for (i = 16; i < sizeof(back); i++)
		KUNIT_EXPECT_EQ_MSG(test, back[i], 0xaa, "byte %zu", i);

	/* a newer caller: its tail beyond our struct is left alone */
	put_bytes(test, u, pattern, sizeof(pattern));
	KUNIT_ASSERT_EQ(test, mcx_uarg_out(u, &k, sizeof(k), sizeof(back)), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(back, u, sizeof(back)), 0UL);
	KUNIT_EXPECT_EQ(test, memcmp(back, &k, sizeof(k)), 0);
	for (i = sizeof(k); i < sizeof(back); i++)
		KUNIT_EXPECT_EQ_MSG(test, back[i], 0xaa, "byte %zu", i);

	KUNIT_EXPECT_EQ(test, mcx_uarg_out(NULL, &k, sizeof(k), sizeof(k)),
			-EFAULT);
}

static void mcx_uname_rules(struct kunit *test)
{
	void __user *u = user_pages(test);
	u64 uptr = (u64)(uintptr_t)u;
	char buf[MCXFER_NAME_MAX], name[MCXFER_NAME_MAX + 1];

	put_bytes(test, u, "kv/gpu0", 8);
	KUNIT_EXPECT_EQ(test, mcx_uname(buf, sizeof(buf), uptr), 7L);
	KUNIT_EXPECT_STREQ(test, buf, "kv/gpu0");

	put_bytes(test, u, "", 1);
	KUNIT_EXPECT_EQ(test, mcx_uname(buf, sizeof(buf), uptr), 0L);

	/* 63 bytes and a NUL fit; 64 bytes do not */
	memset(name, 'x', sizeof(name));
	name[MCXFER_NAME_MAX - 1] = '\0';
	put_bytes(test, u, name, MCXFER_NAME_MAX);
	KUNIT_EXPECT_EQ(test, mcx_uname(buf, sizeof(buf), uptr),
			(long)MCXFER_NAME_MAX - 1);
	name[MCXFER_NAME_MAX - 1] = 'x';
	name[MCXFER_NAME_MAX] = '\0';
	put_bytes(test, u, name, sizeof(name));
	KUNIT_EXPECT_EQ(test, mcx_uname(buf, sizeof(buf), uptr),
			(long)-ENAMETOOLONG);

	KUNIT_EXPECT_EQ(test, mcx_uname(buf, sizeof(buf), 0), (long)-EFAULT);
}

/* ---- through mcx_ioctl() ------------------------------------------------ */

/*
 * A struct file whose private_data is the /dev/mcxfer state around a
 * client of the case's registry, opened by uid 0 without privileges.
 */
static struct file *test_file(struct kunit *test, struct mcx_client **cp)
{
	struct file *f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	struct mcx_client *c = mcx_test_client(test);

	KUNIT_ASSERT_NOT_NULL(test, f);
	f->private_data = mcx_test_file_of(test, c);
	if (cp)
		*cp = c;
	return f;
}

static long ioctl_with(struct kunit *test, struct file *f, unsigned int cmd,
		       void __user *u, const void *arg, size_t len)
{
	put_bytes(test, u, arg, len);
	return mcx_ioctl(f, cmd, (unsigned long)u);
}

/* GET_INFO's size rules: checked before any registry is asked. */
static void mcx_ioctl_get_info_rejects(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct file *f = test_file(test, NULL);
	struct mcxfer_info in = { .size = sizeof(in) };

	/* a newer, longer struct with a non-zero tail */
	KUNIT_ASSERT_EQ(test, clear_user(u, sizeof(in) + 16), 0UL);
	in.size = sizeof(in) + 16;
	put_bytes(test, u + sizeof(in) + 3, "\x01", 1);
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_GET_INFO, u, &in,
					 sizeof(in)), (long)-E2BIG);
	/* shorter than the first published struct */
	in.size = offsetof(struct mcxfer_info, reserved);
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_GET_INFO, u, &in,
					 sizeof(in)), (long)-EINVAL);
	/* unknown flags, reserved words */
	in.size = sizeof(in);
	in.flags = 1;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_GET_INFO, u, &in,
					 sizeof(in)), (long)-EINVAL);
	in.flags = 0;
	in.reserved[ARRAY_SIZE(in.reserved) - 1] = 1;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_GET_INFO, u, &in,
					 sizeof(in)), (long)-EINVAL);
	KUNIT_EXPECT_EQ(test, mcx_ioctl(f, MCXFER_IOC_GET_INFO, 0),
			(long)-EFAULT);
}

static void mcx_ioctl_get_info_sizes(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct file *f = test_file(test, NULL);
	struct mcxfer_info in = { .size = sizeof(in) }, out, want;
	u8 tail[16];

	KUNIT_ASSERT_EQ(test, ioctl_with(test, f, MCXFER_IOC_GET_INFO, u, &in,
					 sizeof(in)), 0L);
	KUNIT_ASSERT_EQ(test, copy_from_user(&out, u, sizeof(out)), 0UL);
	mcx_reg_get_info(&mcx_t(test)->reg, &want);
	KUNIT_EXPECT_EQ(test, out.size, (u32)sizeof(out));
	KUNIT_EXPECT_EQ(test, out.abi_version, (u32)MCXFER_ABI_VERSION);
	KUNIT_EXPECT_EQ(test, out.max_entries, want.max_entries);
	KUNIT_EXPECT_EQ(test, out.user_max_entries, want.user_max_entries);
	KUNIT_EXPECT_EQ(test, out.linger_ms, want.linger_ms);

	/* a newer, longer struct with a zero tail: served, tail untouched */
	KUNIT_ASSERT_EQ(test, clear_user(u, sizeof(in) + sizeof(tail)), 0UL);
	in.size = sizeof(in) + sizeof(tail);
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_GET_INFO, u, &in,
					 sizeof(in)), 0L);
	KUNIT_ASSERT_EQ(test, copy_from_user(&out, u, sizeof(out)), 0UL);
	KUNIT_ASSERT_EQ(test, copy_from_user(tail, u + sizeof(out),
					     sizeof(tail)), 0UL);
	/* size comes back as the kernel's: what this kernel fills in */
	KUNIT_EXPECT_EQ(test, out.size, (u32)sizeof(out));
	KUNIT_EXPECT_EQ(test, out.abi_version, (u32)MCXFER_ABI_VERSION);
	KUNIT_EXPECT_TRUE(test, mcx_mem_is_zero(tail, sizeof(tail)));
}

static void mcx_ioctl_unknown_command(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct file *f = test_file(test, NULL);
	struct mcxfer_info in = { .size = sizeof(in) };

	put_bytes(test, u, &in, sizeof(in));
	KUNIT_EXPECT_EQ(test, mcx_ioctl(f, _IO(MCXFER_IOC_TYPE, 0x7f),
					(unsigned long)u), (long)-ENOTTY);
	KUNIT_EXPECT_EQ(test, mcx_ioctl(f, _IO(MCXFER_IOC_TYPE,
					       MCXFER_CMD_LIST_HOLDERS + 1),
					(unsigned long)u), (long)-ENOTTY);
	/* the size is in the struct, never in the command number */
	KUNIT_EXPECT_EQ(test, mcx_ioctl(f, _IOWR(MCXFER_IOC_TYPE,
						 MCXFER_CMD_GET_INFO,
						 struct mcxfer_info),
					(unsigned long)u), (long)-ENOTTY);
	KUNIT_EXPECT_EQ(test, mcx_ioctl(f, _IO('T', MCXFER_CMD_GET_INFO),
					(unsigned long)u), (long)-ENOTTY);
}

static void mcx_ioctl_unpin_and_evict_checks(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcx_who who = mcx_test_who(0, 0);
	struct mcx_pin_args args = mcx_test_args(0, 0, 4096);
	struct mcxfer_unpin un = { .size = sizeof(un) };
	struct mcxfer_evict ev = { .size = sizeof(ev) };
	struct mcxfer_entry_info info;
	struct mcx_client *c;
	struct file *f = test_file(test, &c);
	static const struct {
		u32 flags;
		bool id;
	} bad_evicts[] = {
		{ 0, false },			/* one entry, but which */
		{ MCXFER_EVICT_IDLE, true },	/* all idle, and an id */
		{ MCXFER_EVICT_REVOKE, false },
		{ MCXFER_EVICT_IDLE | MCXFER_EVICT_REVOKE, false },
		{ MCXFER_EVICT_IDLE | MCXFER_EVICT_REVOKE, true },
		{ BIT(7), true },		/* unknown flag */
	};
	unsigned int i;
	u64 id;

	id = mcx_test_pin_ok(test, c, &args, &who, false);
	un.id = id;
	un.reserved[0] = 1;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_UNPIN, u, &un,
					 sizeof(un)), (long)-EINVAL);
	un.reserved[0] = 0;
	un.flags = 1;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_UNPIN, u, &un,
					 sizeof(un)), (long)-EINVAL);
	un.flags = 0;
	un.id = id + 100;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_UNPIN, u, &un,
					 sizeof(un)), (long)-ENOENT);
	/* nothing above dropped the reference */
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id, &info), 0);
	KUNIT_EXPECT_EQ(test, info.refs, 1U);

	/* EVICT: bad flag/id combinations, refused before any registry */
	for (i = 0; i < ARRAY_SIZE(bad_evicts); i++) {
		ev.flags = bad_evicts[i].flags;
		ev.id = bad_evicts[i].id ? id : 0;
		KUNIT_EXPECT_EQ_MSG(test, ioctl_with(test, f, MCXFER_IOC_EVICT,
						     u, &ev, sizeof(ev)),
				    (long)-EINVAL, "flags %#x, id %llu",
				    ev.flags, ev.id);
	}
	ev.flags = 0;
	ev.id = id;
	ev.reserved[1] = 1;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_EVICT, u, &ev,
					 sizeof(ev)), (long)-EINVAL);

	/* then a good UNPIN: the entry lingers */
	un.id = id;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_UNPIN, u, &un,
					 sizeof(un)), 0L);
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id, &info), 0);
	KUNIT_EXPECT_EQ(test, info.state, (u32)MCXFER_STATE_LINGER);
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_UNPIN, u, &un,
					 sizeof(un)), (long)-ENOENT);
}

/* EVICT's answers, from the file's registry: the result written back. */
static void mcx_ioctl_evict_module_registry(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcxfer_evict ev = { .size = sizeof(ev) };
	struct file *f = test_file(test, NULL);

	/* ids are 32-bit: this one never exists */
	ev.id = U32_MAX;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_EVICT, u, &ev,
					 sizeof(ev)), (long)-ENOENT);
	ev.flags = MCXFER_EVICT_REVOKE;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_EVICT, u, &ev,
					 sizeof(ev)), (long)-ENOENT);
	/* nothing lingers for uid 0 before mcxfer is open: 0 written back */
	ev.flags = MCXFER_EVICT_IDLE;
	ev.id = 0;
	ev.evicted = 99;
	KUNIT_ASSERT_EQ(test, ioctl_with(test, f, MCXFER_IOC_EVICT, u, &ev,
					 sizeof(ev)), 0L);
	KUNIT_ASSERT_EQ(test, copy_from_user(&ev, u, sizeof(ev)), 0UL);
	KUNIT_EXPECT_EQ(test, ev.evicted, 0ULL);
	KUNIT_EXPECT_EQ(test, ev.flags, (u32)MCXFER_EVICT_IDLE);
}

static void mcx_ioctl_pin_rejects_before_pinning(struct kunit *test)
{
	void __user *u = user_pages(test);
	char __user *uname = (char __user *)u + PAGE_SIZE;
	struct file *f = test_file(test, NULL);
	struct mcxfer_pin good = {
		.size = sizeof(good),
		.dmabuf_fd = 0x7ffffff0,	/* not an open file */
		.length = 4096,
	};
	struct {
		const char *what;
		const char *name;	/* NULL: no name */
		const char *ibdev;	/* NULL: no device */
		u32 flags, share, reserved0;
		u64 length, reserved1;
		long expect;
	} cases[] = {
		{ "length 0", NULL, NULL, 0, 0, 0, 0, 0, -EINVAL },
		{ "share 3", NULL, NULL, 0, 3, 0, 4096, 0, -EINVAL },
		{ "unknown flag", NULL, NULL, BIT(5), 0, 0, 4096, 0, -EINVAL },
		{ "reserved0", NULL, NULL, 0, 0, 1, 4096, 0, -EINVAL },
		{ "reserved[1]", NULL, NULL, 0, 0, 0, 4096, 1, -EINVAL },
		{ "empty name", "", NULL, 0, 0, 0, 4096, 0, -EINVAL },
		{ "leading /", "/kv", NULL, 0, 0, 0, 4096, 0, -EINVAL },
		{ "leading .", ".kv", NULL, 0, 0, 0, 4096, 0, -EINVAL },
		{ "space", "kv 0", NULL, 0, 0, 0, 4096, 0, -EINVAL },
		{ "long name",
		  "0123456789012345678901234567890123456789012345678901234567890123",
		  NULL, 0, 0, 0, 4096, 0, -ENAMETOOLONG },
		{ "empty device", "kv/0", "", 0, 0, 0, 4096, 0, -ENODEV },
		/* all fine up to the dma-buf, which is not there */
		{ "bad fd", "kv/0", NULL, MCXFER_PIN_NO_LINGER,
		  MCXFER_SHARE_GROUP, 0, 4096, 0, -EBADF },
	};
	struct mcxfer_pin a;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		a = good;
		a.flags = cases[i].flags;
		a.share = cases[i].share;
		a.reserved0 = cases[i].reserved0;
		a.reserved[1] = cases[i].reserved1;
		a.length = cases[i].length;
		if (cases[i].name) {
			put_bytes(test, uname, cases[i].name,
				  strlen(cases[i].name) + 1);
			a.name = (u64)(uintptr_t)uname;
		}
		if (cases[i].ibdev) {
			put_bytes(test, uname + 128, cases[i].ibdev,
				  strlen(cases[i].ibdev) + 1);
			a.ibdev = (u64)(uintptr_t)(uname + 128);
		}
		KUNIT_EXPECT_EQ_MSG(test, ioctl_with(test, f, MCXFER_IOC_PIN, u,
						     &a, sizeof(a)),
				    cases[i].expect, "case '%s'",
				    cases[i].what);
	}
	KUNIT_EXPECT_EQ(test, mcx_t(test)->attaches, 0U);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->reg.stats.entries, 0ULL);
}

/* LIST's argument checks come before any registry is asked. */
static void mcx_ioctl_list_rejects(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcxfer_list l = {
		.size = sizeof(l),
		.entries = (u64)(uintptr_t)(u + 256),
		.entry_size = sizeof(struct mcxfer_entry_info),
		.count = 1,
	};
	struct file *f = test_file(test, NULL);

	/* records without a size or a buffer, or bigger than a page */
	l.entry_size = 0;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LIST, u, &l,
					 sizeof(l)), (long)-EINVAL);
	l.entry_size = PAGE_SIZE + 1;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LIST, u, &l,
					 sizeof(l)), (long)-EINVAL);
	l.entry_size = sizeof(struct mcxfer_entry_info);
	l.entries = 0;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LIST, u, &l,
					 sizeof(l)), (long)-EINVAL);
	l.entries = (u64)(uintptr_t)(u + 256);
	l.flags = 1;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LIST, u, &l,
					 sizeof(l)), (long)-EINVAL);
	l.flags = 0;
	l.reserved[0] = 1;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LIST, u, &l,
					 sizeof(l)), (long)-EINVAL);
}

/* LIST of the module's registry (nothing in it yet): the answer written back. */
static void mcx_ioctl_list_module_registry(struct kunit *test)
{
	void __user *u = user_pages(test);
	struct mcxfer_list l = {
		.size = sizeof(l),
		.cursor = 1,
		.entries = (u64)(uintptr_t)(u + 256),
		.entry_size = sizeof(struct mcxfer_entry_info),
		.count = 4,
	};
	struct file *f = test_file(test, NULL);

	KUNIT_ASSERT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LIST, u, &l,
					 sizeof(l)), 0L);
	KUNIT_ASSERT_EQ(test, copy_from_user(&l, u, sizeof(l)), 0UL);
	KUNIT_EXPECT_EQ(test, l.count, 0U);
	KUNIT_EXPECT_EQ(test, l.cursor, 0ULL);
}

static void mcx_ioctl_list_record_sizes(struct kunit *test)
{
	void __user *u = user_pages(test);
	void __user *recs = u + 256;
	struct mcx_who who = mcx_test_who(0, 0);
	struct mcxfer_list l = { .size = sizeof(l) };
	const size_t big = sizeof(struct mcxfer_entry_info) + 40;
	struct mcxfer_entry_info info;
	struct mcx_pin_args args;
	struct mcx_client *c;
	struct file *f = test_file(test, &c);
	u64 ids[3], id;
	u8 tail[40];
	unsigned int i;

	/* every command answers from the file's client's registry */
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		args = mcx_test_args(i, 4096 * i, 4096);
		ids[i] = mcx_test_pin_ok(test, c, &args, &who, false);
	}
	/* a prefix of each record: just the id */
	KUNIT_ASSERT_EQ(test, clear_user(recs, 3 * big), 0UL);
	l.entries = (u64)(uintptr_t)recs;
	l.entry_size = sizeof(u64);
	l.count = 2;
	KUNIT_ASSERT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LIST, u, &l,
					 sizeof(l)), 0L);
	KUNIT_ASSERT_EQ(test, copy_from_user(&l, u, sizeof(l)), 0UL);
	KUNIT_EXPECT_EQ(test, l.count, 2U);
	KUNIT_EXPECT_EQ(test, l.cursor, ids[2]);
	for (i = 0; i < 2; i++) {
		KUNIT_ASSERT_EQ(test, copy_from_user(&id, recs + 8 * i, 8),
				0UL);
		KUNIT_EXPECT_EQ(test, id, ids[i]);
	}

	/* larger records than ours: the extra bytes are zeroed */
	KUNIT_ASSERT_EQ(test, copy_to_user(recs, "\xff\xff\xff\xff", 4), 0UL);
	memset(tail, 0xee, sizeof(tail));
	put_bytes(test, recs + sizeof(info), tail, sizeof(tail));
	l.entry_size = big;
	l.count = 8;
	KUNIT_ASSERT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LIST, u, &l,
					 sizeof(l)), 0L);
	KUNIT_ASSERT_EQ(test, copy_from_user(&l, u, sizeof(l)), 0UL);
	KUNIT_EXPECT_EQ(test, l.count, 1U);
	KUNIT_EXPECT_EQ(test, l.cursor, 0ULL);
	KUNIT_ASSERT_EQ(test, copy_from_user(&info, recs, sizeof(info)), 0UL);
	KUNIT_EXPECT_EQ(test, info.id, ids[2]);
	KUNIT_EXPECT_EQ(test, info.offset, 8192ULL);
	KUNIT_ASSERT_EQ(test, copy_from_user(tail, recs + sizeof(info),
					     sizeof(tail)), 0UL);
	KUNIT_EXPECT_TRUE(test, mcx_mem_is_zero(tail, sizeof(tail)));
}

static void mcx_ioctl_lookup_by_name(struct kunit *test)
{
	void __user *u = user_pages(test);
	char __user *uname = (char __user *)u + PAGE_SIZE;
	struct mcx_who root = mcx_test_who(0, 0);
	struct mcx_pin_args args = mcx_test_args(0, 4096, 8192);
	struct mcxfer_lookup l = { .size = sizeof(l) };
	struct mcxfer_unpin un = { .size = sizeof(un) };
	struct mcxfer_entry_info info;
	struct mcx_client *c;
	struct file *f = test_file(test, &c);
	u64 id;

	args.name = "kv/ioctl";
	args.share = MCXFER_SHARE_GROUP;
	id = mcx_test_pin_ok(test, c, &args, &root, false);
	put_bytes(test, uname, "kv/ioctl", sizeof("kv/ioctl"));

	l.name = (u64)(uintptr_t)uname;
	l.flags = MCXFER_LOOKUP_REF;
	KUNIT_ASSERT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), 0L);
	KUNIT_ASSERT_EQ(test, copy_from_user(&l, u, sizeof(l)), 0UL);
	KUNIT_EXPECT_EQ(test, l.id, id);
	KUNIT_EXPECT_EQ(test, l.offset, 4096ULL);
	KUNIT_EXPECT_EQ(test, l.length, 8192ULL);
	KUNIT_EXPECT_EQ(test, l.state, (u32)MCXFER_STATE_ACTIVE);
	KUNIT_EXPECT_EQ(test, l.share, (u32)MCXFER_SHARE_GROUP);
	KUNIT_EXPECT_EQ(test, l.owner_uid, 0U);
	KUNIT_EXPECT_EQ(test, l.fd, 0U);
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id, &info), 0);
	KUNIT_EXPECT_EQ(test, info.refs, 2U);

	/* the reference LOOKUP took goes with UNPIN */
	un.id = id;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_UNPIN, u, &un,
					 sizeof(un)), 0L);
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id, &info), 0);
	KUNIT_EXPECT_EQ(test, info.refs, 1U);

	/* a name and an id (the id came back from the call above) */
	l.flags = 0;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), (long)-EINVAL);
	/* another owner's names: by its uid; an invalid uid is refused */
	l.id = 0;
	l.flags = MCXFER_LOOKUP_OWNER;
	l.owner_uid = 0;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), 0L);
	l.owner_uid = 1234;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), (long)-ENOENT);
	l.owner_uid = (u32)-1;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), (long)-EINVAL);

	/* unknown or malformed names, neither a name nor an id, bad flags */
	put_bytes(test, uname, "kv/none", sizeof("kv/none"));
	l.flags = 0;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), (long)-ENOENT);
	put_bytes(test, uname, ".kv", sizeof(".kv"));
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), (long)-EINVAL);
	l.name = 0;
	l.id = 0;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), (long)-EINVAL);
	l.id = id;
	l.flags = BIT(3);
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), (long)-EINVAL);
	/* an owner's names need a name */
	l.flags = MCXFER_LOOKUP_OWNER;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), (long)-EINVAL);
	l.flags = 0;
	KUNIT_EXPECT_EQ(test, ioctl_with(test, f, MCXFER_IOC_LOOKUP, u, &l,
					 sizeof(l)), 0L);
	KUNIT_ASSERT_EQ(test, mcx_test_entry(test, id, &info), 0);
	KUNIT_EXPECT_EQ(test, info.refs, 1U);
	KUNIT_EXPECT_EQ(test, mcx_t(test)->reg.stats.lookups, 3ULL);
}

static struct kunit_case mcx_uarg_cases[] = {
	KUNIT_CASE(mcx_uarg_short_is_einval),
	KUNIT_CASE(mcx_uarg_exact),
	KUNIT_CASE(mcx_uarg_older_smaller),
	KUNIT_CASE(mcx_uarg_longer_zero_tail),
	KUNIT_CASE(mcx_uarg_longer_nonzero_tail),
	KUNIT_CASE(mcx_uarg_unknown_flags),
	KUNIT_CASE(mcx_uarg_faults),
	KUNIT_CASE(mcx_uarg_check_reserved),
	KUNIT_CASE(mcx_uarg_out_respects_user_size),
	KUNIT_CASE(mcx_uname_rules),
	KUNIT_CASE(mcx_ioctl_get_info_rejects),
	KUNIT_CASE(mcx_ioctl_get_info_sizes),
	KUNIT_CASE(mcx_ioctl_unknown_command),
	KUNIT_CASE(mcx_ioctl_unpin_and_evict_checks),
	KUNIT_CASE(mcx_ioctl_evict_module_registry),
	KUNIT_CASE(mcx_ioctl_pin_rejects_before_pinning),
	KUNIT_CASE(mcx_ioctl_list_rejects),
	KUNIT_CASE(mcx_ioctl_list_module_registry),
	KUNIT_CASE(mcx_ioctl_list_record_sizes),
	KUNIT_CASE(mcx_ioctl_lookup_by_name),
	{}
};

static struct kunit_suite mcx_uarg_suite = {
	.name = "mcxfer_uarg",
	.suite_init = mcx_test_suite_init,
	.suite_exit = mcx_test_suite_exit,
	.init = mcx_test_init,
	.exit = mcx_test_exit,
	.test_cases = mcx_uarg_cases,
};

kunit_test_suite(mcx_uarg_suite);
