// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Module unload: `rmmod mcxfer` is refused while any process holds
 * /dev/mcxfer open, and succeeds once only lingering entries are left,
 * releasing their dma-bufs.  The module is loaded again afterwards with
 * mcx_module_load from tests/vm/guest-lib.sh, so that later suites find it.
 *
 * Runs only inside the VM rig (it unloads the module).
 */
#define _GNU_SOURCE
#include "harness.h"
#include "mcx_util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUFINFO "/sys/kernel/debug/dma_buf/bufinfo"

static bool module_loaded(void)
{
	return access("/sys/module/mcxfer", F_OK) == 0;
}

/* Run a shell command; its exit status, or -1 when it did not exit. */
static int shell(const char *cmd)
{
	int st = system(cmd);

	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/*
 * What rmmod does: delete_module(2), 0 or -errno.  A module with
 * references (an open file) fails with EWOULDBLOCK (EAGAIN); EBUSY would
 * mean another module depends on it.
 */
static int rmmod(void)
{
	return syscall(SYS_delete_module, "mcxfer", O_NONBLOCK) ? -errno : 0;
}

/* The rmmod command itself refuses and says why. */
static void check_rmmod_cmd_refused(void)
{
	CHECKF(shell("out=$(rmmod mcxfer 2>&1); st=$?; echo \"# rmmod: $out\"; "
		     "[ $st -ne 0 ] && echo \"$out\" | grep -q 'in use'") == 0,
	       "rmmod mcxfer did not refuse with \"in use\"");
}

static void dump_bufinfo(void)
{
	shell("sed 's/^/# bufinfo: /' " BUFINFO);
}

/* Load the module again the way the rig does it. */
static void reload(void)
{
	const char *cmd = "bash -c '. tests/vm/guest-lib.sh && mcx_module_load'";

	REQUIREF(shell(cmd) == 0, "%s failed", cmd);
	REQUIRE(module_loaded());
}

/* dma-bufs alive in the system, from debugfs; -1 when not available. */
static long dmabuf_count(void)
{
	char line[256];
	long n = -1;
	FILE *f;

	if (access(BUFINFO, R_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	f = fopen(BUFINFO, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " objects,") && sscanf(line, "Total %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void require_inside_rig(void)
{
	if (!getenv("MCXFER_KVER"))
		mt_skip("unloads the module: runs only inside the VM rig");
	REQUIREF(module_loaded(), "mcxfer is not loaded");
}

static void t_refused_while_open(void)
{
	struct mcxfer_info info;
	int fd;

	require_inside_rig();
	fd = mcx_open();
	REQUIRE(fd >= 0);
	CHECK_ERR(rmmod(), EWOULDBLOCK);
	check_rmmod_cmd_refused();
	CHECK(module_loaded());
	/* The open file keeps working. */
	CHECK_OK(mcx_info(fd, &info));
	close(fd);
}

struct holder_arg {
	int buf_fd;
	int ready_fd;
};

static void holder(void *p)
{
	struct holder_arg *a = p;
	uint64_t id;
	int fd = mcx_open();

	REQUIRE(fd >= 0);
	REQUIRE_OK(mcx_pin(fd, a->buf_fd, 0, MCX_PAGE, "rmmod/held", 0, 0, &id, NULL));
	CHECK_EQ(write(a->ready_fd, "x", 1), 1);
	for (;;)
		pause();
}

static void t_refused_while_pinned(void)
{
	struct holder_arg a;
	struct mcxfer_info info;
	struct host_dmabuf buf;
	int pfd[2], st;
	pid_t pid;
	char c;

	require_inside_rig();
	mcx_dmabuf(MCX_PAGE, &buf);
	REQUIRE(pipe(pfd) == 0);
	a.buf_fd = buf.fd;
	a.ready_fd = pfd[1];
	pid = mt_fork(holder, &a);
	REQUIRE(read(pfd[0], &c, 1) == 1);
	CHECK_ERR(rmmod(), EWOULDBLOCK);
	check_rmmod_cmd_refused();
	CHECK(module_loaded());
	REQUIRE_OK(mcx_info_global(&info));
	CHECK_EQ(info.entries_active, 1);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(pfd[0]);
	close(pfd[1]);
	host_dmabuf_destroy(&buf);
}

struct linger_arg {
	int ready_fd;
};

/* Make a dma-buf, pin three ranges of it, exit: only the module holds it. */
static void lingerer(void *p)
{
	struct host_dmabuf buf;
	int fd = mcx_open();

	(void)p;
	REQUIRE(fd >= 0);
	mcx_dmabuf(4 * MCX_PAGE, &buf);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, "rmmod/linger", 0, 0, NULL, NULL));
	REQUIRE_OK(mcx_pin(fd, buf.fd, MCX_PAGE, MCX_PAGE, NULL, 0, 0, NULL, NULL));
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, 4 * MCX_PAGE, NULL, MCXFER_SHARE_ALL, 0, NULL, NULL));
	host_dmabuf_destroy(&buf);
	close(fd);
}

static int dmabufs_back_to(void *arg)
{
	return dmabuf_count() == *(long *)arg;
}

static void t_unload_releases_lingering(void)
{
	struct mcxfer_info info;
	long before, held;

	require_inside_rig();
	REQUIRE_OK(mcx_param_set("linger_ms", 600000));
	before = dmabuf_count();
	REQUIRE(mt_wait(mt_fork(lingerer, NULL), "lingerer"));
	REQUIRE_OK(mcx_info_global(&info));
	CHECK_EQ(info.entries_linger, 3);
	CHECK_EQ(info.clients, 1);
	held = dmabuf_count();
	if (before >= 0) {
		if (!CHECK_EQ(held, before + 1))
			dump_bufinfo();
	} else
		mt_log("no %s: dma-buf release not checked", BUFINFO);

	CHECK_OK(rmmod());
	CHECK(!module_loaded());
	CHECK(access(MCX_DEV, F_OK) != 0);
	if (before >= 0)
		CHECKF(mcx_wait_until(dmabufs_back_to, &before, 5000) == 0,
		       "dma-bufs: %ld before, %ld after unload", before, dmabuf_count());
	reload();
	REQUIRE_OK(mcx_info_global(&info));
	CHECK_EQ(info.entries, 0);
	CHECK_EQ(info.pins, 0);
}

/* An idle module unloads and loads again, and works after that. */
static void t_unload_twice(void)
{
	require_inside_rig();
	CHECK_OK(rmmod());
	CHECK(!module_loaded());
	reload();
	{
		struct host_dmabuf buf;
		uint64_t id;
		int fd = mcx_open();

		REQUIRE(fd >= 0);
		mcx_dmabuf(MCX_PAGE, &buf);
		CHECK_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));
		CHECK_OK(mcx_unpin(fd, id));
		close(fd);
		host_dmabuf_destroy(&buf);
	}
}

static int before_each(void)
{
	/* After an unload the parameters are new; save them again. */
	return module_loaded() ? mcx_before_each() : 0;
}

static int after_each(void)
{
	if (!module_loaded()) {
		mt_log("module not loaded after the test; loading it");
		if (shell("bash -c '. tests/vm/guest-lib.sh && mcx_module_load'"))
			return 1;
	}
	return mcx_after_each();
}

static const struct mt_test tests[] = {
	{ "rmmod_refused_while_open", t_refused_while_open, 0 },
	{ "rmmod_refused_while_pinned", t_refused_while_pinned, 0 },
	{ "rmmod_releases_lingering", t_unload_releases_lingering, 0 },
	{ "rmmod_idle_and_reload", t_unload_twice, 0 },
};

int main(int argc, char **argv)
{
	static const struct mt_suite suite = {
		.name = "mcxfer_rmmod",
		.tests = tests,
		.nr_tests = MT_ARRAY_SIZE(tests),
		.before_each = before_each,
		.after_each = after_each,
	};

	return mt_main(&suite, argc, argv);
}
