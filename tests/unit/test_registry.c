// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registry client (lib/registry/registry.c) without the module: opening fails with
 * the right errno and message, and every function rejects bad arguments
 * before any ioctl.  Calls with good arguments on a /dev/null handle reach
 * the kernel and come back -ENOTTY, which proves the checks are not simply
 * rejecting everything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

static const char name63[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789a";
static const char name64[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab";

_Static_assert(sizeof(name63) == 64 && sizeof(name64) == 65, "test names");

/* ---- open ---- */

TEST(open_missing_device_is_enodev_with_message)
{
	struct mcx_registry *reg = (struct mcx_registry *)1;

	unsetenv("MCX_LOG_LEVEL");
	setenv("MCX_REGISTRY_DEV", "/nonexistent/mcxfer", 1);
	log_capture();
	ASSERT_ERR(mcx_registry_open(&reg), -ENODEV);
	ASSERT_TRUE(reg == NULL);
	ASSERT_CONTAINS(captured_log, "/nonexistent/mcxfer");
	ASSERT_CONTAINS(captured_log, "module is not loaded");
}

TEST(open_default_path_without_module)
{
	struct mcx_registry *reg = NULL;
	int ret;

	if (access("/dev/mcxfer", F_OK) == 0)
		SKIP("/dev/mcxfer exists on this machine");
	unsetenv("MCX_REGISTRY_DEV");
	log_capture();
	ret = mcx_registry_open(&reg);
	ASSERT_ERR(ret, -ENODEV);
	ASSERT_CONTAINS(captured_log, "/dev/mcxfer");
}

TEST(open_null_out)
{
	ASSERT_ERR(mcx_registry_open(NULL), -EINVAL);
}

TEST(open_bad_registry_dev_rejected_naming_variable)
{
	static const char *const bad[] = { "", "dev/mcxfer", "./mcxfer", "mcxfer", " /dev/mcxfer" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mcx_registry *reg = (struct mcx_registry *)1;

		setenv("MCX_REGISTRY_DEV", bad[i], 1);
		log_capture();
		ASSERT_ERR(mcx_registry_open(&reg), -EINVAL);
		ASSERT_TRUE(reg == NULL);
		ASSERT_CONTAINS(captured_log, "MCX_REGISTRY_DEV");
		ASSERT_CONTAINS(captured_log, "absolute path");
	}
}

TEST(open_too_long_registry_dev)
{
	static char path[5000];
	struct mcx_registry *reg;

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	setenv("MCX_REGISTRY_DEV", path, 1);
	log_capture();
	ASSERT_ERR(mcx_registry_open(&reg), -EINVAL);
	ASSERT_CONTAINS(captured_log, "MCX_REGISTRY_DEV");
}

TEST(open_bad_log_level_fails_open)
{
	struct mcx_registry *reg;

	setenv("MCX_REGISTRY_DEV", "/nonexistent/mcxfer", 1);
	setenv("MCX_LOG_LEVEL", "loud", 1);
	log_capture();
	ASSERT_ERR(mcx_registry_open(&reg), -EINVAL);
	ASSERT_CONTAINS(captured_log, "MCX_LOG_LEVEL=\"loud\"");
	setenv("MCX_LOG_LEVEL", "debug", 1);
	ASSERT_ERR(mcx_registry_open(&reg), -ENODEV);
}

TEST(open_regular_file_is_not_the_registry)
{
	char path[] = "/tmp/mcxfer-unit-XXXXXX";
	struct mcx_registry *reg;
	int fd = mkstemp(path);

	ASSERT_TRUE(fd >= 0);
	close(fd);
	setenv("MCX_REGISTRY_DEV", path, 1);
	log_capture();
	ASSERT_ERR(mcx_registry_open(&reg), -ENODEV);
	unlink(path);
	ASSERT_CONTAINS(captured_log, "not a character device");
}

TEST(open_other_char_device_is_not_the_registry)
{
	struct mcx_registry *reg;

	setenv("MCX_REGISTRY_DEV", "/dev/null", 1);
	log_capture();
	ASSERT_ERR(mcx_registry_open(&reg), -ENODEV);
	ASSERT_CONTAINS(captured_log, "not the mcxfer registry");
}

/* Open as an unprivileged user; as root, a child drops to nobody first. */
static void open_as_user(const char *path)
{
	struct mcx_registry *reg;

	setenv("MCX_REGISTRY_DEV", path, 1);
	log_capture();
	ASSERT_ERR(mcx_registry_open(&reg), -EACCES);
	ASSERT_CONTAINS(captured_log, "mcxfer group");
}

TEST(open_permission_denied)
{
	char path[] = "/tmp/mcxfer-unit-XXXXXX";
	int fd, status;
	pid_t pid;

	fd = mkstemp(path);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	ASSERT_TRUE(chmod(path, 0) == 0);
	if (geteuid() != 0) {
		open_as_user(path);
		unlink(path);
		return;
	}
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			SKIP("cannot drop to uid 65534");
		open_as_user(path);
		_exit(0);
	}
	ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
	unlink(path);
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		SKIP("cannot drop to uid 65534");
	ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST(close_null_is_harmless)
{
	mcx_registry_close(NULL);
	mcx_reg_cursor_free(NULL);
}

/* ---- names ---- */

TEST(name_rules)
{
	static const char *const good[] = {
		"a", "kv/gpu0", "A.b_c:d-e/f", "0", "x.", "a//b", name63,
	};
	static const char *const bad[] = {
		"", "/kv", ".hidden", "has space", "tab\t", "a\x01", "caf\xc3\xa9", "a*b", "a\\b",
		"new\nline", "semi;colon", "at@",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ASSERT_ERR(mcx__check_name(good[i]), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_ERR(mcx__check_name(bad[i]), -EINVAL);
	ASSERT_ERR(mcx__check_name(name64), -ENAMETOOLONG);
	ASSERT_ERR(mcx__check_name(NULL), -EINVAL);
}

TEST(ibdev_rules)
{
	ASSERT_ERR(mcx__check_ibdev("rxe0"), 0);
	ASSERT_ERR(mcx__check_ibdev("mlx5_0"), 0);
	ASSERT_ERR(mcx__check_ibdev(name63), 0);
	ASSERT_ERR(mcx__check_ibdev(name64), -ENAMETOOLONG);
	ASSERT_ERR(mcx__check_ibdev(""), -EINVAL);
	ASSERT_ERR(mcx__check_ibdev("."), -EINVAL);
	ASSERT_ERR(mcx__check_ibdev(".."), -EINVAL);
	ASSERT_ERR(mcx__check_ibdev("a/b"), -EINVAL);
	ASSERT_ERR(mcx__check_ibdev("a b"), -EINVAL);
	ASSERT_ERR(mcx__check_ibdev("a\x7f"), -EINVAL);
	ASSERT_ERR(mcx__check_ibdev(NULL), -EINVAL);
}

/* ---- pin ---- */

TEST(pin_argument_checks)
{
	struct mcx_registry *reg = null_registry();
	uint64_t id = 77;
	int hit = 5;

	ASSERT_ERR(mcx_registry_pin(NULL, 0, 0, 4096, NULL, NULL, MCX_SHARE_OWNER, 0, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, NULL, NULL, MCX_SHARE_OWNER, 0, NULL, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, -1, 0, 4096, NULL, NULL, MCX_SHARE_OWNER, 0, &id, &hit), -EBADF);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 0, NULL, NULL, MCX_SHARE_OWNER, 0, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, UINT64_MAX, 1, NULL, NULL, MCX_SHARE_OWNER, 0, &id, &hit), -EOVERFLOW);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 4096, UINT64_MAX - 4095, NULL, NULL, MCX_SHARE_OWNER, 0, &id, &hit), -EOVERFLOW);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, NULL, NULL, (enum mcx_share)3, 0, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, NULL, NULL, (enum mcx_share)-1, 0, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, NULL, NULL, MCX_SHARE_OWNER, 2, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, NULL, NULL, MCX_SHARE_OWNER, 1U << 31, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, "", NULL, MCX_SHARE_OWNER, 0, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, "/abs", NULL, MCX_SHARE_OWNER, 0, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, "bad name", NULL, MCX_SHARE_OWNER, 0, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, name64, NULL, MCX_SHARE_OWNER, 0, &id, &hit), -ENAMETOOLONG);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, NULL, "", MCX_SHARE_OWNER, 0, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, NULL, "rxe/0", MCX_SHARE_OWNER, 0, &id, &hit), -EINVAL);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, NULL, name64, MCX_SHARE_OWNER, 0, &id, &hit), -ENAMETOOLONG);
	ASSERT_U64_EQ(id, 77);
	ASSERT_EQ(hit, 5);

	/* Good arguments reach the device (/dev/null: ENOTTY), outputs untouched. */
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 4096, NULL, NULL, MCX_SHARE_OWNER, 0, &id, &hit), -ENOTTY);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 4096, UINT64_MAX - 4096, name63, "rxe0", MCX_SHARE_ALL,
				    MCX_PIN_NO_LINGER, &id, NULL), -ENOTTY);
	ASSERT_ERR(mcx_registry_pin(reg, 0, 0, 1, "kv/gpu0", NULL, MCX_SHARE_GROUP, 0, &id, &hit), -ENOTTY);
	ASSERT_U64_EQ(id, 77);
	ASSERT_EQ(hit, 5);
	mcx_registry_close(reg);
}

/* ---- unpin ---- */

TEST(unpin_argument_checks)
{
	struct mcx_registry *reg = null_registry();

	ASSERT_ERR(mcx_registry_unpin(NULL, 1), -EINVAL);
	ASSERT_ERR(mcx_registry_unpin(reg, 0), -EINVAL);
	ASSERT_ERR(mcx_registry_unpin(reg, 1), -ENOTTY);
	mcx_registry_close(reg);
}

/* ---- lookup ---- */

TEST(lookup_argument_checks)
{
	struct mcx_registry *reg = null_registry();
	struct mcx_reg_lookup l;

	ASSERT_ERR(mcx_registry_lookup(NULL, "kv", 0, 0, &l), -EINVAL);
	ASSERT_ERR(mcx_registry_lookup(reg, "kv", 0, 0, NULL), -EINVAL);
	l.fd = 42;
	ASSERT_ERR(mcx_registry_lookup(reg, NULL, 0, 0, &l), -EINVAL);	/* no key */
	ASSERT_EQ(l.fd, -1);
	ASSERT_ERR(mcx_registry_lookup(reg, "kv", 5, 0, &l), -EINVAL);	/* two keys */
	ASSERT_ERR(mcx_registry_lookup(reg, "kv", 0, 4, &l), -EINVAL);
	ASSERT_ERR(mcx_registry_lookup(reg, "kv", 0, 1U << 31, &l), -EINVAL);
	ASSERT_ERR(mcx_registry_lookup(reg, "", 0, 0, &l), -EINVAL);
	ASSERT_ERR(mcx_registry_lookup(reg, ".kv", 0, 0, &l), -EINVAL);
	ASSERT_ERR(mcx_registry_lookup(reg, name64, 0, 0, &l), -ENAMETOOLONG);

	l.fd = 42;
	ASSERT_ERR(mcx_registry_lookup(reg, "kv/gpu0", 0, MCX_LOOKUP_REF | MCX_LOOKUP_EXPORT_FD, &l),
		   -ENOTTY);
	ASSERT_EQ(l.fd, -1);
	ASSERT_ERR(mcx_registry_lookup(reg, NULL, 3, 0, &l), -ENOTTY);
	mcx_registry_close(reg);
}

/* ---- MRs ---- */

TEST(publish_mr_argument_checks)
{
	struct mcx_registry *reg = null_registry();
	struct mcx_reg_mr mr = { .uverbs_fd = 0, .length = 4096, .iova = 0x1000, .mr_id = 9 };

	ASSERT_ERR(mcx_registry_publish_mr(NULL, 1, &mr), -EINVAL);
	ASSERT_ERR(mcx_registry_publish_mr(reg, 1, NULL), -EINVAL);
	ASSERT_ERR(mcx_registry_publish_mr(reg, 0, &mr), -EINVAL);
	mr.uverbs_fd = -1;
	ASSERT_ERR(mcx_registry_publish_mr(reg, 1, &mr), -EBADF);
	mr.uverbs_fd = 0;
	mr.length = 0;
	ASSERT_ERR(mcx_registry_publish_mr(reg, 1, &mr), -EINVAL);
	mr.length = 4096;
	mr.iova = UINT64_MAX - 4095;
	ASSERT_ERR(mcx_registry_publish_mr(reg, 1, &mr), -EOVERFLOW);
	mr.iova = UINT64_MAX - 4096;
	ASSERT_ERR(mcx_registry_publish_mr(reg, 1, &mr), -ENOTTY);
	ASSERT_U64_EQ(mr.mr_id, 9);
	mcx_registry_close(reg);
}

TEST(get_mr_argument_checks)
{
	struct mcx_registry *reg = null_registry();
	struct mcx_reg_mr mr;

	ASSERT_ERR(mcx_registry_get_mr(NULL, 1, NULL, 0, &mr), -EINVAL);
	ASSERT_ERR(mcx_registry_get_mr(reg, 1, NULL, 0, NULL), -EINVAL);
	mr.uverbs_fd = 42;
	ASSERT_ERR(mcx_registry_get_mr(reg, 0, NULL, 0, &mr), -EINVAL);
	ASSERT_EQ(mr.uverbs_fd, -1);
	/* the index-th MR of a device is ABI 3: an ABI 2 module is not asked */
	ASSERT_ERR(mcx_registry_get_mr(reg, 1, "rxe0", 1, &mr), -ENOTTY);
	mcx__registry_set_abi(reg, 2);
	ASSERT_ERR(mcx_registry_get_mr(reg, 1, "rxe0", 1, &mr), -EOPNOTSUPP);
	mcx__registry_set_abi(reg, 3);
	ASSERT_ERR(mcx_registry_get_mr(reg, 1, "", 0, &mr), -EINVAL);
	ASSERT_ERR(mcx_registry_get_mr(reg, 1, "a/b", 0, &mr), -EINVAL);
	ASSERT_ERR(mcx_registry_get_mr(reg, 1, name64, 0, &mr), -ENAMETOOLONG);
	ASSERT_ERR(mcx_registry_get_mr(reg, 1, "rxe0", 0, &mr), -ENOTTY);
	ASSERT_ERR(mcx_registry_get_mr(reg, 1, NULL, 3, &mr), -ENOTTY);
	ASSERT_EQ(mr.uverbs_fd, -1);
	mcx_registry_close(reg);
}

/* ---- list ---- */

TEST(list_argument_checks_free_the_cursor)
{
	struct mcx_registry *reg = null_registry();
	struct mcx_reg_cursor *cur = NULL;
	struct mcx_reg_entry e;

	ASSERT_ERR(mcx_registry_list(NULL, &cur, &e), -EINVAL);
	ASSERT_ERR(mcx_registry_list(reg, NULL, &e), -EINVAL);
	ASSERT_ERR(mcx_registry_list(reg, &cur, NULL), -EINVAL);
	ASSERT_TRUE(cur == NULL);
	/* The first page is fetched from the device: ENOTTY, cursor gone. */
	ASSERT_ERR(mcx_registry_list(reg, &cur, &e), -ENOTTY);
	ASSERT_TRUE(cur == NULL);
	mcx_registry_close(reg);
}

/* ---- info, evict ---- */

TEST(info_argument_checks)
{
	struct mcx_registry *reg = null_registry();
	struct mcx_reg_info info;

	ASSERT_ERR(mcx_registry_info(NULL, &info), -EINVAL);
	ASSERT_ERR(mcx_registry_info(reg, NULL), -EINVAL);
	ASSERT_ERR(mcx_registry_info(reg, &info), -ENOTTY);
	mcx_registry_close(reg);
}

TEST(evict_argument_checks)
{
	struct mcx_registry *reg = null_registry();
	uint64_t n = 123;

	ASSERT_ERR(mcx_registry_evict(NULL, 1, 0, &n), -EINVAL);
	ASSERT_ERR(mcx_registry_evict(reg, 0, 0, &n), -EINVAL);		/* no id */
	ASSERT_ERR(mcx_registry_evict(reg, 5, MCX_EVICT_IDLE, &n), -EINVAL);	/* both */
	ASSERT_ERR(mcx_registry_evict(reg, 5, 4, &n), -EINVAL);		/* unknown */
	ASSERT_ERR(mcx_registry_evict(reg, 0, MCX_EVICT_IDLE | 4, &n), -EINVAL);
	ASSERT_ERR(mcx_registry_evict(reg, 0, MCX_EVICT_REVOKE, &n), -EINVAL);	/* no id */
	ASSERT_ERR(mcx_registry_evict(reg, 0, MCX_EVICT_IDLE | MCX_EVICT_REVOKE, &n), -EINVAL);
	ASSERT_ERR(mcx_registry_evict(reg, 5, MCX_EVICT_REVOKE, &n), -ENOTTY);	/* reaches the ioctl */
	ASSERT_ERR(mcx_registry_evict(reg, 5, 0, &n), -ENOTTY);
	ASSERT_ERR(mcx_registry_evict(reg, 0, MCX_EVICT_IDLE, NULL), -ENOTTY);
	ASSERT_U64_EQ(n, 123);
	mcx_registry_close(reg);
}

TEST(lookup_owner_argument_checks)
{
	struct mcx_registry *reg = null_registry();
	struct mcx_reg_lookup out;

	out.fd = 7;
	ASSERT_ERR(mcx_registry_lookup_owner(NULL, "kv/a", 1000, 0, &out), -EINVAL);
	ASSERT_ERR(mcx_registry_lookup_owner(reg, NULL, 1000, 0, &out), -EINVAL);
	ASSERT_EQ(out.fd, -1);
	ASSERT_ERR(mcx_registry_lookup_owner(reg, "kv/a", 1000, 1U << 7, &out), -EINVAL);
	ASSERT_ERR(mcx_registry_lookup_owner(reg, "/bad", 1000, 0, &out), -EINVAL);
	/* the owner flag belongs to mcx_registry_lookup_owner() */
	ASSERT_ERR(mcx_registry_lookup(reg, "kv/a", 0, MCX_LOOKUP_OWNER, &out), -EINVAL);
	ASSERT_ERR(mcx_registry_lookup_owner(reg, "kv/a", 1000, MCX_LOOKUP_REF, &out), -ENOTTY);
	mcx_registry_close(reg);
}

/* ---- events ---- */

TEST(event_argument_checks)
{
	struct mcx_registry *reg = null_registry();
	struct mcx_reg_event ev = { .type = 99 };

	ASSERT_ERR(mcx_registry_event_fd(NULL), -EINVAL);
	ASSERT_TRUE(mcx_registry_event_fd(reg) >= 0);
	ASSERT_ERR(mcx_registry_read_event(NULL, &ev, 0), -EINVAL);
	ASSERT_ERR(mcx_registry_read_event(reg, NULL, 0), -EINVAL);
	ASSERT_ERR(mcx_registry_read_event(reg, &ev, -2), -EINVAL);
	/* /dev/null polls readable and reads 0 bytes: not an event record. */
	ASSERT_ERR(mcx_registry_read_event(reg, &ev, 0), -EPROTO);
	ASSERT_EQ(ev.type, 99);
	mcx_registry_close(reg);
}

TEST(event_timeout_without_events)
{
	struct mcx_registry *reg = NULL;
	struct mcx_reg_event ev = { .type = 99 };
	int p[2];

	/* A pipe with nothing in it: poll times out, nothing is read. */
	ASSERT_TRUE(pipe(p) == 0);
	ASSERT_ERR(mcx__registry_from_fd(p[0], &reg), 0);
	ASSERT_ERR(mcx_registry_read_event(reg, &ev, 0), 0);
	ASSERT_ERR(mcx_registry_read_event(reg, &ev, 20), 0);
	ASSERT_EQ(ev.type, 99);
	/* A short record is rejected, not half-used. */
	ASSERT_TRUE(write(p[1], "abcd", 4) == 4);
	ASSERT_ERR(mcx_registry_read_event(reg, &ev, 0), -EPROTO);
	ASSERT_EQ(ev.type, 99);
	close(p[1]);
	mcx_registry_close(reg);
}

TEST(event_record_decoded)
{
	struct mcx_registry *reg = NULL;
	struct mcx_reg_event ev;
	struct {
		uint32_t size, type;
		uint64_t id, mr_id, reserved;
	} rec = { 32, MCX_REG_EVENT_MR_REMOVED, 17, 4, 0 };
	int p[2];

	ASSERT_TRUE(pipe(p) == 0);
	ASSERT_ERR(mcx__registry_from_fd(p[0], &reg), 0);
	ASSERT_TRUE(write(p[1], &rec, sizeof(rec)) == (ssize_t)sizeof(rec));
	ASSERT_ERR(mcx_registry_read_event(reg, &ev, -1), 1);
	ASSERT_EQ(ev.type, MCX_REG_EVENT_MR_REMOVED);
	ASSERT_U64_EQ(ev.id, 17);
	ASSERT_U64_EQ(ev.mr_id, 4);
	close(p[1]);
	mcx_registry_close(reg);
}
