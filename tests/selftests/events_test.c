// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Events on /dev/mcxfer (read/poll) and what the removal of an RDMA device
 * does to the registry: entries mapped for it die (DEVICE_REMOVED to their
 * holders), MRs published on it go (MR_REMOVED), lingering ones are freed,
 * and the device's unregistration is not held up by the module.
 *
 * The removal test deletes soft-RoCE rxe0 and adds it back, so it runs only
 * inside the VM rig, and this suite runs after the others.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "mcx_util.h"

#include <fcntl.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define IBDEV		"rxe0"
#define NETDEV		"eth0"

static int open_dev(int flags)
{
	int fd = open(MCX_DEV, O_RDWR | O_CLOEXEC | flags);

	REQUIREF(fd >= 0, "open %s: %s", MCX_DEV, mt_errname(errno));
	return fd;
}

static void t_no_events(void)
{
	struct mcxfer_event ev[2];
	struct pollfd pfd;
	int fd = open_dev(O_NONBLOCK), r;

	errno = 0;
	CHECK(read(fd, ev, sizeof(ev)) < 0 && errno == EAGAIN);
	errno = 0;
	CHECK(read(fd, ev, sizeof(ev[0]) - 1) < 0 && errno == EINVAL);
	pfd.fd = fd;
	pfd.events = POLLIN;
	r = poll(&pfd, 1, 0);
	CHECK_EQ(r, 0);
	close(fd);
}

/* A blocking read waits; a signal ends it with EINTR and loses nothing. */
static void on_alarm(int sig)
{
	(void)sig;
}

static void t_blocking_read_interrupted(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct mcxfer_event ev;
	int fd = open_dev(0);
	ssize_t n;

	REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
	alarm(1);
	n = read(fd, &ev, sizeof(ev));
	CHECK(n < 0 && errno == EINTR);
	alarm(0);
	close(fd);
}

static bool have_device(void)
{
	return access("/sys/class/infiniband/" IBDEV, F_OK) == 0;
}

static int device_back(void *arg)
{
	(void)arg;
	return have_device();
}

/* Collect events from fd until want of them came or timeout_ms passed. */
static size_t read_events(int fd, struct mcxfer_event *out, size_t max, size_t want,
			  int timeout_ms)
{
	size_t n = 0;

	while (n < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;

		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		got = read(fd, out + n, (max - n) * sizeof(*out));
		if (got < 0) {
			mt_check(false, __FILE__, __LINE__, "read: %s", mt_errname(errno));
			break;
		}
		CHECKF(got % sizeof(*out) == 0, "read returned %zd bytes", got);
		n += (size_t)got / sizeof(*out);
	}
	return n;
}

static const struct mcxfer_event *find_event(const struct mcxfer_event *ev, size_t n,
					     uint32_t type, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ev[i].type == type && ev[i].id == id)
			return &ev[i];
	return NULL;
}

static void t_device_removal(void)
{
	struct mcxfer_event ev1[16], ev2[16];
	struct mcxfer_publish_mr pm;
	struct mcxfer_info before, info;
	struct mcxfer_lookup l;
	struct host_dmabuf buf;
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	uint64_t a, b, c, d, mr_id;
	size_t n1, n2;
	void *mem;
	int fd1, fd2, n, st;
	pid_t pid;

	if (!getenv("MCXFER_KVER"))
		mt_skip("removes " IBDEV ": runs only inside the VM rig");
	if (!have_device())
		mt_skip("no " IBDEV);
	mcx_dmabuf(8 * MCX_PAGE, &buf);
	list = ibv_get_device_list(&n);
	for (int i = 0; list && i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), IBDEV))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	REQUIRE(ctx);
	pd = ibv_alloc_pd(ctx);
	mem = mmap(NULL, MCX_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(pd && mem != MAP_FAILED);
	mr = ibv_reg_mr(pd, mem, MCX_PAGE, IBV_ACCESS_LOCAL_WRITE);
	REQUIRE(mr);

	fd1 = open_dev(0);
	fd2 = open_dev(0);
	REQUIRE_OK(mcx_info(fd1, &before));
	/* a: mapped for rxe0, held by fd1.  b: no device, with an MR on rxe0. */
	{
		struct mcxfer_pin p = {
			.size = sizeof(p), .dmabuf_fd = (uint32_t)buf.fd, .length = MCX_PAGE,
			.ibdev = (uintptr_t)IBDEV,
		};

		REQUIRE_OK(mcx_ioctl(fd1, MCXFER_IOC_PIN, &p));
		a = p.id;
		/* c: mapped for rxe0, held by fd2 only.  d: mapped for it, idle. */
		p.offset = 2 * MCX_PAGE;
		REQUIRE_OK(mcx_ioctl(fd2, MCXFER_IOC_PIN, &p));
		c = p.id;
		p.offset = 3 * MCX_PAGE;
		REQUIRE_OK(mcx_ioctl(fd2, MCXFER_IOC_PIN, &p));
		d = p.id;
		REQUIRE_OK(mcx_unpin(fd2, d));
	}
	REQUIRE_OK(mcx_pin(fd1, buf.fd, MCX_PAGE, MCX_PAGE, "events/mr", 0, 0, &b, NULL));
	memset(&pm, 0, sizeof(pm));
	pm.size = sizeof(pm);
	pm.id = b;
	pm.uverbs_fd = (uint32_t)ctx->cmd_fd;
	pm.pd_handle = pd->handle;
	pm.mr_handle = mr->handle;
	pm.lkey = mr->lkey;
	pm.rkey = mr->rkey;
	pm.access = IBV_ACCESS_LOCAL_WRITE;
	pm.iova = (uintptr_t)mem;
	pm.length = MCX_PAGE;
	REQUIRE_OK(mcx_ioctl(fd1, MCXFER_IOC_PUBLISH_MR, &pm));
	mr_id = pm.mr_id;

	/*
	 * Remove the device in a child: soft-RoCE cannot disassociate, so the
	 * removal waits until our own verbs context is closed.  The module
	 * must have let go of its uverbs file by then.
	 */
	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		execlp("rdma", "rdma", "link", "delete", IBDEV, (char *)NULL);
		_exit(127);
	}
	n1 = read_events(fd1, ev1, MT_ARRAY_SIZE(ev1), 2, 30000);
	n2 = read_events(fd2, ev2, MT_ARRAY_SIZE(ev2), 1, 10000);
	CHECKF(find_event(ev1, n1, MCXFER_EVENT_DEVICE_REMOVED, a), "no DEVICE_REMOVED for a");
	{
		const struct mcxfer_event *e = find_event(ev1, n1, MCXFER_EVENT_MR_REMOVED, b);

		if (CHECKF(e, "no MR_REMOVED for b"))
			CHECK_EQ(e->mr_id, mr_id);
	}
	CHECKF(find_event(ev2, n2, MCXFER_EVENT_DEVICE_REMOVED, c), "no DEVICE_REMOVED for c");
	CHECK(!find_event(ev2, n2, MCXFER_EVENT_DEVICE_REMOVED, a));
	CHECK(!find_event(ev1, n1, MCXFER_EVENT_DEVICE_REMOVED, c));
	for (size_t i = 0; i < n1; i++)
		CHECK_EQ(ev1[i].size, sizeof(ev1[i]));

	/* Dead entries: visible by id, every use of them EIDRM. */
	REQUIRE_OK(mcx_lookup_id(fd1, a, 0, &l));
	CHECK_EQ(l.state, MCXFER_STATE_DEAD);
	CHECK_ERR(mcx_lookup_id(fd1, a, MCXFER_LOOKUP_REF, &l), EIDRM);
	CHECK_ERR(mcx_lookup_id(fd1, a, MCXFER_LOOKUP_EXPORT_FD, &l), EIDRM);
	CHECK_ERR(mcx_evict(fd1, a, 0, NULL), EBUSY);
	CHECK_ERR(mcx_lookup_id(fd1, d, 0, &l), ENOENT);
	CHECK_EQ(mcx_list_find(fd1, a)->pinned_bytes, 0);
	{
		struct mcxfer_get_mr g = { .size = sizeof(g), .id = b };

		/* b lives on; only its MR is gone. */
		CHECK_ERR(mcx_ioctl(fd1, MCXFER_IOC_GET_MR, &g), ENOENT);
		g.id = a;
		CHECK_ERR(mcx_ioctl(fd1, MCXFER_IOC_GET_MR, &g), EIDRM);
	}
	REQUIRE_OK(mcx_info(fd1, &info));
	CHECK_EQ(info.mrs, 0);
	CHECK_EQ(info.entries_dead, 2);
	CHECK_EQ(info.entries_active, 1);
	CHECK_EQ(info.entries, 3);
	/* b pins its whole 8-page buffer (for no device); the rxe0 attachment is gone. */
	CHECK_EQ(info.bytes_pinned, 8 * MCX_PAGE);
	CHECK_EQ(info.attachments, 1);
	CHECK_EQ(info.invalidations - before.invalidations, 3);
	/* The device is gone for new pins too. */
	{
		struct mcxfer_pin p = {
			.size = sizeof(p), .dmabuf_fd = (uint32_t)buf.fd, .length = MCX_PAGE,
			.ibdev = (uintptr_t)IBDEV,
		};

		CHECK_ERR(mcx_ioctl(fd1, MCXFER_IOC_PIN, &p), ENODEV);
	}

	/* Let the removal finish. */
	ibv_dereg_mr(mr);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "rdma link delete: status 0x%x", st);
	CHECK(!have_device());

	/* Dead entries go with their last reference. */
	CHECK_OK(mcx_unpin(fd1, a));
	CHECK_ERR(mcx_lookup_id(fd1, a, 0, &l), ENOENT);
	close(fd2);
	CHECK_ERR(mcx_lookup_id(fd1, c, 0, &l), ENOENT);
	CHECK_OK(mcx_unpin(fd1, b));
	close(fd1);
	host_dmabuf_destroy(&buf);

	/* Put the device back for whatever runs next. */
	CHECK_EQ(system("rdma link add " IBDEV " type rxe netdev " NETDEV), 0);
	CHECK_OK(mcx_wait_until(device_back, NULL, 10000));
}

static const struct mt_test tests[] = {
	{ "no_events", t_no_events, 0 },
	{ "blocking_read_interrupted", t_blocking_read_interrupted, 0 },
	{ "device_removal", t_device_removal, 180 },
};

int main(int argc, char **argv)
{
	static const struct mt_suite suite = {
		.name = "mcxfer_events",
		.tests = tests,
		.nr_tests = MT_ARRAY_SIZE(tests),
		.before_each = mcx_before_each,
		.after_each = mcx_after_each,
	};

	return mt_main(&suite, argc, argv);
}
