// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The MR broker through /dev/mcxfer on a soft-RoCE device: PUBLISH_MR of an
 * MR registered with libibverbs, GET_MR from another process (a new fd for
 * the same uverbs file), the MR outliving its publisher, and the errors.
 *
 * Soft-RoCE has no dma-buf MRs, so the MR is registered on host memory with
 * ibv_reg_mr() and published on a dma-buf entry of the same length: the
 * module records handles, it does not check what memory they cover.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "mcx_util.h"

#include <fcntl.h>
#include <infiniband/verbs.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MR_DEV_DEFAULT	"rxe0"
#define MR_LEN		(4 * MCX_PAGE)
#define MR_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

struct verbs {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	void *mem;
};

/* What a publisher tells the test through shared memory. */
struct published {
	pid_t pid;
	int cmd_fd;
	uint64_t entry;
	uint64_t mr_id;
	uint32_t pd_handle, mr_handle, lkey, rkey;
	uint64_t iova;
	dev_t rdev;
	ino_t ino;
	int ready;
};

static const char *mr_dev(void)
{
	const char *d = getenv("MCXFER_TEST_IBDEV");

	return d && *d ? d : MR_DEV_DEFAULT;
}

static void verbs_open(struct verbs *v)
{
	struct ibv_device **list;
	int n;

	memset(v, 0, sizeof(*v));
	list = ibv_get_device_list(&n);
	if (!list)
		mt_skip("no RDMA devices (ibv_get_device_list: %s)", mt_errname(errno));
	for (int i = 0; i < n; i++) {
		if (!strcmp(ibv_get_device_name(list[i]), mr_dev())) {
			v->ctx = ibv_open_device(list[i]);
			REQUIREF(v->ctx, "ibv_open_device(%s): %s", mr_dev(), mt_errname(errno));
		}
	}
	ibv_free_device_list(list);
	if (!v->ctx)
		mt_skip("no RDMA device %s", mr_dev());
	v->pd = ibv_alloc_pd(v->ctx);
	REQUIREF(v->pd, "ibv_alloc_pd: %s", mt_errname(errno));
	v->mem = mmap(NULL, MR_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(v->mem != MAP_FAILED);
	v->mr = ibv_reg_mr(v->pd, v->mem, MR_LEN, MR_ACCESS);
	REQUIREF(v->mr, "ibv_reg_mr: %s", mt_errname(errno));
}

static void verbs_close(struct verbs *v)
{
	if (v->mr)
		CHECK_EQ(ibv_dereg_mr(v->mr), 0);
	if (v->pd)
		CHECK_EQ(ibv_dealloc_pd(v->pd), 0);
	if (v->ctx)
		CHECK_EQ(ibv_close_device(v->ctx), 0);
	if (v->mem)
		munmap(v->mem, MR_LEN);
	memset(v, 0, sizeof(*v));
}

static void publish_args(struct mcxfer_publish_mr *p, const struct verbs *v, uint64_t id)
{
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	p->id = id;
	p->uverbs_fd = (uint32_t)v->ctx->cmd_fd;
	p->pd_handle = v->pd->handle;
	p->mr_handle = v->mr->handle;
	p->lkey = v->mr->lkey;
	p->rkey = v->mr->rkey;
	p->access = MR_ACCESS;
	p->iova = (uintptr_t)v->mem;
	p->length = MR_LEN;
}

static int open_dev(void)
{
	int fd = mcx_open();

	REQUIREF(fd >= 0, "open %s: %s", MCX_DEV, mt_errname(-fd));
	return fd;
}

static struct published *shared_new(void)
{
	struct published *s = mmap(NULL, MCX_PAGE, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	REQUIRE(s != MAP_FAILED);
	memset(s, 0, sizeof(*s));
	return s;
}

static void get_mr_args(struct mcxfer_get_mr *g, uint64_t id, const char *ibdev, uint32_t index)
{
	memset(g, 0, sizeof(*g));
	g->size = sizeof(g[0]);
	g->id = id;
	g->ibdev = (uintptr_t)ibdev;
	g->index = index;
}

/* The fields GET_MR returns must be the ones that were published. */
static void check_got(const struct mcxfer_get_mr *g, const struct published *pub)
{
	CHECK_EQ(g->pd_handle, pub->pd_handle);
	CHECK_EQ(g->mr_handle, pub->mr_handle);
	CHECK_EQ(g->lkey, pub->lkey);
	CHECK_EQ(g->rkey, pub->rkey);
	CHECK_EQ(g->access, MR_ACCESS);
	CHECK_EQ(g->iova, pub->iova);
	CHECK_EQ(g->length, MR_LEN);
	CHECK_EQ(g->mr_id, pub->mr_id);
	CHECKF(!strcmp((const char *)g->ibdev_name, mr_dev()), "ibdev_name \"%.64s\"",
	       (const char *)g->ibdev_name);
	CHECK(g->uverbs_fd > 2);
}

/* The fd GET_MR installed is the publisher's uverbs file: same struct file. */
static void check_same_file(const struct published *pub, int fd, bool publisher_alive)
{
	int flags = fcntl(fd, F_GETFD);
	struct stat st;

	if (publisher_alive) {
		long r = syscall(SYS_kcmp, pub->pid, getpid(), KCMP_FILE, pub->cmd_fd, fd);

		CHECKF(r == 0, "kcmp(KCMP_FILE) = %ld (%s)", r,
		       r < 0 ? mt_errname(errno) : "differ");
	}
	REQUIRE(fstat(fd, &st) == 0);
	CHECK(S_ISCHR(st.st_mode));
	CHECK_EQ(st.st_rdev, pub->rdev);
	CHECK_EQ(st.st_ino, pub->ino);
	CHECK(flags >= 0 && (flags & FD_CLOEXEC));
}

struct getter_arg {
	struct published *pub;
	bool publisher_alive;
};

static void getter(void *p)
{
	struct getter_arg *a = p;
	struct mcxfer_get_mr g;
	int fd = open_dev();

	/* By device name. */
	get_mr_args(&g, a->pub->entry, mr_dev(), 0);
	REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g));
	check_got(&g, a->pub);
	check_same_file(a->pub, (int)g.uverbs_fd, a->publisher_alive);
	close((int)g.uverbs_fd);
	/* By index. */
	get_mr_args(&g, a->pub->entry, NULL, 0);
	REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g));
	check_got(&g, a->pub);
	check_same_file(a->pub, (int)g.uverbs_fd, a->publisher_alive);
	close((int)g.uverbs_fd);
	/* No second MR, no other device. */
	get_mr_args(&g, a->pub->entry, NULL, 1);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), ENOENT);
	get_mr_args(&g, a->pub->entry, "nosuchdev0", 0);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), ENOENT);
	{
		struct mcxfer_lookup l;

		CHECK_OK(mcx_lookup_id(fd, a->pub->entry, 0, &l));
		CHECK_EQ(l.nr_mrs, 1);
	}
	close(fd);
}

static void fill_pub(struct published *pub, const struct verbs *v,
		     const struct mcxfer_publish_mr *p)
{
	struct stat st;

	REQUIRE(fstat(v->ctx->cmd_fd, &st) == 0);
	pub->pid = getpid();
	pub->cmd_fd = v->ctx->cmd_fd;
	pub->pd_handle = p->pd_handle;
	pub->mr_handle = p->mr_handle;
	pub->lkey = p->lkey;
	pub->rkey = p->rkey;
	pub->iova = p->iova;
	pub->mr_id = p->mr_id;
	pub->rdev = st.st_rdev;
	pub->ino = st.st_ino;
}

static void t_publish_get(void)
{
	struct published *pub = shared_new();
	struct getter_arg ga = { .pub = pub, .publisher_alive = true };
	struct mcxfer_publish_mr p;
	struct mcxfer_info before, after;
	struct host_dmabuf buf;
	struct verbs v;
	int fd;

	mcx_dmabuf(MR_LEN, &buf);
	verbs_open(&v);
	fd = open_dev();
	REQUIRE_OK(mcx_info(fd, &before));
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MR_LEN, "mr/kv", 0, 0, &pub->entry, NULL));
	publish_args(&p, &v, pub->entry);
	REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p));
	CHECK(p.mr_id != 0);
	fill_pub(pub, &v, &p);
	REQUIRE_OK(mcx_info(fd, &after));
	CHECK_EQ(after.mrs - before.mrs, 1);
	CHECK_EQ(mcx_list_find(fd, pub->entry)->nr_mrs, 1);

	/* One MR per (entry, device). */
	publish_args(&p, &v, pub->entry);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EEXIST);

	mt_wait(mt_fork(getter, &ga), "getter");
	/* A GET_MR that cannot write its answer back installs no fd. */
	{
		struct mcxfer_get_mr g;
		int lowest = dup(0);
		void *ro;

		close(lowest);
		get_mr_args(&g, pub->entry, NULL, 0);
		ro = mmap(NULL, MCX_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		REQUIRE(ro != MAP_FAILED);
		memcpy(ro, &g, sizeof(g));
		REQUIRE(mprotect(ro, MCX_PAGE, PROT_READ) == 0);
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, ro), EFAULT);
		CHECK_EQ(dup(0), lowest);
		close(lowest);
	}
	/* In this process too, a new fd, not the old number. */
	{
		struct mcxfer_get_mr g;

		get_mr_args(&g, pub->entry, mr_dev(), 0);
		REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g));
		CHECK((int)g.uverbs_fd != v.ctx->cmd_fd);
		check_same_file(pub, (int)g.uverbs_fd, true);
		close((int)g.uverbs_fd);
	}
	CHECK_OK(mcx_unpin(fd, pub->entry));
	close(fd);
	/* The MR goes with its entry: evicting it drops the MR count. */
	CHECK_EQ(mcx_evict_all_idle(), 1);
	REQUIRE_OK(mcx_info_global(&after));
	CHECK_EQ(after.mrs, before.mrs);
	verbs_close(&v);
	host_dmabuf_destroy(&buf);
}

/* A publisher process that exits (or is killed) after publishing. */
struct publisher_arg {
	struct published *pub;
	int buf_fd;
	int ready_fd;
	bool hang;
};

static void publisher(void *p)
{
	struct publisher_arg *a = p;
	struct mcxfer_publish_mr pm;
	struct verbs v;
	int fd = open_dev();

	verbs_open(&v);
	REQUIRE_OK(mcx_pin(fd, a->buf_fd, 0, MR_LEN, "mr/survivor", MCXFER_SHARE_ALL, 0,
			   &a->pub->entry, NULL));
	publish_args(&pm, &v, a->pub->entry);
	REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &pm));
	fill_pub(a->pub, &v, &pm);
	CHECK_EQ(write(a->ready_fd, "x", 1), 1);
	if (a->hang)
		for (;;)
			pause();
	/* Exit holding everything: the module must keep the uverbs file. */
}

static void survive_case(bool kill_it)
{
	struct published *pub = shared_new();
	struct publisher_arg pa = { .pub = pub, .hang = kill_it };
	struct getter_arg ga = { .pub = pub, .publisher_alive = false };
	struct mcxfer_info info;
	struct host_dmabuf buf;
	int pfd[2], st;
	pid_t pid;
	char c;

	mcx_dmabuf(MR_LEN, &buf);
	REQUIRE(pipe(pfd) == 0);
	pa.buf_fd = buf.fd;
	pa.ready_fd = pfd[1];
	pid = mt_fork(publisher, &pa);
	close(pfd[1]);
	REQUIRE(read(pfd[0], &c, 1) == 1);
	if (kill_it) {
		CHECK(kill(pid, SIGKILL) == 0);
		REQUIRE(waitpid(pid, &st, 0) == pid);
	} else {
		REQUIRE(mt_wait(pid, "publisher"));
	}
	REQUIRE_OK(mcx_info_global(&info));
	CHECK_EQ(info.mrs, 1);
	CHECK_EQ(info.entries_linger, 1);
	/* The publisher is gone; the MR and its uverbs file are not. */
	mt_wait(mt_fork(getter, &ga), "getter after publisher exit");
	{
		struct mcxfer_lookup l;
		int fd = open_dev();

		REQUIRE_OK(mcx_lookup_name(fd, "mr/survivor", 0, &l));
		CHECK_EQ(l.nr_mrs, 1);
		CHECK_EQ(l.state, MCXFER_STATE_LINGER);
		close(fd);
	}
	CHECK_EQ(mcx_evict_all_idle(), 1);
	REQUIRE_OK(mcx_info_global(&info));
	CHECK_EQ(info.mrs, 0);
	close(pfd[0]);
	host_dmabuf_destroy(&buf);
}

static void t_mr_survives_exit(void)
{
	survive_case(false);
}

static void t_mr_survives_sigkill(void)
{
	survive_case(true);
}

/* PUBLISH_MR errors with a real verbs context at hand. */
static void t_publish_errors(void)
{
	struct mcxfer_publish_mr p;
	struct host_dmabuf buf;
	struct verbs v;
	uint64_t id, other;
	int fd, fd2, closed, pfd[2];

	mcx_dmabuf(2 * MR_LEN, &buf);
	verbs_open(&v);
	fd = open_dev();
	fd2 = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MR_LEN, NULL, 0, 0, &id, NULL));
	REQUIRE_OK(mcx_pin(fd2, buf.fd, MR_LEN, MR_LEN, NULL, 0, 0, &other, NULL));

	/* Not a uverbs file, or no file. */
	REQUIRE(pipe(pfd) == 0);
	publish_args(&p, &v, id);
	p.uverbs_fd = (uint32_t)pfd[0];
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
	p.uverbs_fd = (uint32_t)buf.fd;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
	closed = dup(pfd[0]);
	close(closed);
	p.uverbs_fd = (uint32_t)closed;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EBADF);
	/* Length 0 or beyond the entry. */
	publish_args(&p, &v, id);
	p.length = 0;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
	p.length = MR_LEN + 1;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
	/* An entry this fd holds no reference on, and one that does not exist. */
	publish_args(&p, &v, other);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), ENOENT);
	publish_args(&p, &v, other + 1000);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), ENOENT);
	CHECK_EQ(mcx_list_find(fd, id)->nr_mrs, 0);
	CHECK_EQ(mcx_list_find(fd, other)->nr_mrs, 0);
	/* Unknown flags and reserved words, with everything else valid. */
	publish_args(&p, &v, id);
	p.flags = 1;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
	publish_args(&p, &v, id);
	p.reserved[0] = 1;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
	CHECK_EQ(mcx_list_find(fd, id)->nr_mrs, 0);

	close(pfd[0]);
	close(pfd[1]);
	CHECK_OK(mcx_unpin(fd, id));
	CHECK_OK(mcx_unpin(fd2, other));
	close(fd2);
	close(fd);
	verbs_close(&v);
	host_dmabuf_destroy(&buf);
}

/* A larger struct with a zero tail works for PUBLISH_MR and GET_MR. */
static void t_mr_zero_tail(void)
{
	const size_t extra = 256;
	unsigned char *raw;
	struct host_dmabuf buf;
	struct verbs v;
	uint64_t id;
	int fd;

	mcx_dmabuf(MR_LEN, &buf);
	verbs_open(&v);
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MR_LEN, NULL, 0, 0, &id, NULL));
	raw = calloc(1, sizeof(struct mcxfer_get_mr) + extra);
	REQUIRE(raw);
	{
		struct mcxfer_publish_mr *p = (void *)raw;

		publish_args(p, &v, id);
		p->size = (uint32_t)(sizeof(*p) + extra);
		REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, p));
		CHECK(p->mr_id != 0);
		for (size_t i = sizeof(*p); i < sizeof(*p) + extra; i++)
			CHECKF(raw[i] == 0, "PUBLISH_MR wrote byte %zu", i);
	}
	memset(raw, 0, sizeof(struct mcxfer_get_mr) + extra);
	{
		struct mcxfer_get_mr *g = (void *)raw;

		get_mr_args(g, id, NULL, 0);
		g->size = (uint32_t)(sizeof(*g) + extra);
		REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_GET_MR, g));
		CHECK_EQ(g->lkey, v.mr->lkey);
		close((int)g->uverbs_fd);
		for (size_t i = sizeof(*g); i < sizeof(*g) + extra; i++)
			CHECKF(raw[i] == 0, "GET_MR wrote byte %zu", i);
	}
	free(raw);
	CHECK_OK(mcx_unpin(fd, id));
	close(fd);
	verbs_close(&v);
	host_dmabuf_destroy(&buf);
}

/*
 * GET_MR is the owner's whatever the share mode: another uid gets ENOENT
 * for an entry it may not see, EPERM for one it may.
 */
struct denied_arg {
	uint64_t hidden;	/* share OWNER */
	uint64_t shared;	/* share ALL */
};

static void denied_getter(void *p)
{
	struct denied_arg *a = p;
	struct mcxfer_get_mr g;
	struct mcxfer_lookup l;
	int fd;

	REQUIRE_OK(mcx_become(MCX_UID_C, MCX_GID_C));
	fd = open_dev();
	get_mr_args(&g, a->hidden, NULL, 0);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), ENOENT);
	get_mr_args(&g, a->hidden, mr_dev(), 0);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), ENOENT);
	/* It sees the shared entry and that it has an MR, but gets no MR. */
	if (CHECK_OK(mcx_lookup_id(fd, a->shared, 0, &l)))
		CHECK_EQ(l.nr_mrs, 1);
	get_mr_args(&g, a->shared, NULL, 0);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), EPERM);
	get_mr_args(&g, a->shared, mr_dev(), 0);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), EPERM);
	close(fd);
}

static void t_get_mr_access(void)
{
	struct denied_arg a;
	struct mcxfer_publish_mr p;
	struct host_dmabuf buf, buf2;
	struct verbs v;
	int fd;

	mcx_dmabuf(MR_LEN, &buf);
	mcx_dmabuf(MR_LEN, &buf2);
	verbs_open(&v);
	REQUIRE_OK(mcx_dev_open_to_all());
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MR_LEN, NULL, MCXFER_SHARE_OWNER, 0, &a.hidden, NULL));
	REQUIRE_OK(mcx_pin(fd, buf2.fd, 0, MR_LEN, NULL, MCXFER_SHARE_ALL, 0, &a.shared, NULL));
	publish_args(&p, &v, a.hidden);
	REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p));
	publish_args(&p, &v, a.shared);
	REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p));
	mt_wait(mt_fork(denied_getter, &a), "other uid");
	CHECK_OK(mcx_unpin(fd, a.shared));
	CHECK_OK(mcx_unpin(fd, a.hidden));
	close(fd);
	verbs_close(&v);
	host_dmabuf_destroy(&buf2);
	host_dmabuf_destroy(&buf);
}

/*
 * A range pinned for an RDMA device is another entry than the same range
 * pinned for no device; LIST shows the device.
 */
static void t_pin_for_ibdev(void)
{
	struct mcxfer_pin p;
	struct host_dmabuf buf;
	struct verbs v;
	uint64_t plain;
	int fd;

	mcx_dmabuf(MR_LEN, &buf);
	verbs_open(&v);		/* skips without the device */
	fd = open_dev();
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.dmabuf_fd = (uint32_t)buf.fd;
	p.length = MR_LEN;
	p.ibdev = (uintptr_t)mr_dev();
	REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_PIN, &p));
	CHECK_EQ(p.out_flags, 0);
	CHECK(!strcmp((const char *)mcx_list_find(fd, p.id)->ibdev, mr_dev()));
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MR_LEN, NULL, 0, 0, &plain, NULL));
	CHECK(plain != p.id);
	CHECK_EQ(mcx_list_find(fd, plain)->ibdev[0], 0);
	{
		uint64_t first = p.id;

		REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_PIN, &p));
		CHECK_EQ(p.id, first);
		CHECK_EQ(p.out_flags, MCXFER_PIN_OUT_HIT);
	}
	CHECK_OK(mcx_unpin(fd, p.id));
	CHECK_OK(mcx_unpin(fd, p.id));
	CHECK_OK(mcx_unpin(fd, plain));
	close(fd);
	verbs_close(&v);
	host_dmabuf_destroy(&buf);
}

/* ---- ABI 3: MRs per entry sub-range ---- */

static int publish_at(int fd, const struct verbs *v, uint64_t id, uint64_t off, uint64_t len)
{
	struct mcxfer_publish_mr p;

	publish_args(&p, v, id);
	p.offset = off;
	p.length = len;
	return mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p);
}

static uint64_t got_offset(int fd, uint64_t id, const char *dev, uint32_t index, int *err)
{
	struct mcxfer_get_mr g;

	get_mr_args(&g, id, dev, index);
	*err = mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g);
	if (*err)
		return UINT64_MAX;
	close((int)g.uverbs_fd);
	CHECK_EQ(g.length, MCX_PAGE);
	return g.offset;
}

/*
 * A registration cut into chunks publishes one MR per chunk: ranges inside
 * the entry that do not overlap on a device; GET_MR walks them by offset.
 */
static void t_mr_offsets(void)
{
	struct host_dmabuf buf;
	struct verbs v;
	uint64_t id;
	int fd, err;

	mcx_dmabuf(MR_LEN, &buf);
	verbs_open(&v);
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MR_LEN, NULL, 0, 0, &id, NULL));
	REQUIRE_OK(publish_at(fd, &v, id, 2 * MCX_PAGE, MCX_PAGE));
	REQUIRE_OK(publish_at(fd, &v, id, 0, MCX_PAGE));
	REQUIRE_OK(publish_at(fd, &v, id, MCX_PAGE, MCX_PAGE));
	CHECK_ERR(publish_at(fd, &v, id, MCX_PAGE / 2, MCX_PAGE), EEXIST);
	CHECK_ERR(publish_at(fd, &v, id, 2 * MCX_PAGE + 1, 1), EEXIST);
	CHECK_ERR(publish_at(fd, &v, id, 3 * MCX_PAGE, MCX_PAGE + 1), EINVAL);
	CHECK_ERR(publish_at(fd, &v, id, MR_LEN, 1), EINVAL);
	CHECK_ERR(publish_at(fd, &v, id, UINT64_MAX - 1, 4), EINVAL);
	CHECK_ERR(publish_at(fd, &v, id, 3 * MCX_PAGE, 0), EINVAL);
	CHECK_EQ(mcx_list_find(fd, id)->nr_mrs, 3);

	for (uint32_t i = 0; i < 3; i++) {
		CHECK_EQ(got_offset(fd, id, mr_dev(), i, &err), i * MCX_PAGE);
		CHECK_OK(err);
		CHECK_EQ(got_offset(fd, id, NULL, i, &err), i * MCX_PAGE);
		CHECK_OK(err);
	}
	got_offset(fd, id, mr_dev(), 3, &err);
	CHECK_EQ(err, -ENOENT);
	got_offset(fd, id, NULL, 3, &err);
	CHECK_EQ(err, -ENOENT);

	CHECK_OK(mcx_unpin(fd, id));
	close(fd);
	CHECK_EQ(mcx_evict_all_idle(), 1);
	verbs_close(&v);
	host_dmabuf_destroy(&buf);
}

/* ---- ABI 3: the shared context of a (uid, device) ---- */

static int ctx_publish(int fd, const struct verbs *v, uint64_t *ctx_id)
{
	struct mcxfer_ctx c = { .size = sizeof(c) };
	int r;

	c.uverbs_fd = (uint32_t)v->ctx->cmd_fd;
	c.pd_handle = v->pd->handle;
	r = mcx_ioctl(fd, MCXFER_IOC_PUBLISH_CTX, &c);
	if (!r && ctx_id)
		*ctx_id = c.ctx_id;
	if (!r)
		CHECK_EQ(c.ibdev, 0);
	return r;
}

static int ctx_get(int fd, struct mcxfer_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->ibdev = (uintptr_t)mr_dev();
	return mcx_ioctl(fd, MCXFER_IOC_GET_CTX, c);
}

static uint64_t contexts_now(void)
{
	struct mcxfer_info info;

	REQUIRE_OK(mcx_info_global(&info));
	return info.contexts;
}

/* A publisher of the context and of an MR made in it, that then exits. */
static void ctx_publisher(void *p)
{
	struct publisher_arg *a = p;
	struct mcxfer_publish_mr pm;
	struct mcxfer_ctx c;
	uint64_t ctx_id;
	struct verbs v;
	int fd = open_dev();

	verbs_open(&v);
	REQUIRE_OK(ctx_publish(fd, &v, &ctx_id));
	CHECK_ERR(ctx_publish(fd, &v, NULL), EEXIST);
	/* getting it back here gives the same file and PD */
	if (CHECK_OK(ctx_get(fd, &c))) {
		CHECK_EQ(c.ctx_id, ctx_id);
		CHECK_EQ(c.pd_handle, v.pd->handle);
		CHECK_EQ(syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, v.ctx->cmd_fd,
				 (int)c.uverbs_fd), 0);
		close((int)c.uverbs_fd);
	}
	REQUIRE_OK(mcx_pin(fd, a->buf_fd, 0, MR_LEN, "mr/ctx", 0, 0, &a->pub->entry, NULL));
	publish_args(&pm, &v, a->pub->entry);
	REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &pm));
	fill_pub(a->pub, &v, &pm);
	a->pub->mr_id = ctx_id;
	/* exits holding everything: the module keeps context and MR */
}

/*
 * The context outlives the client that published it while an MR made in
 * it is recorded; when that record goes, whoever holds the context is
 * told which MR to destroy; when nobody holds it any more, it goes.
 */
static void t_ctx_lifetime(void)
{
	struct published *pub = shared_new();
	struct publisher_arg pa = { .pub = pub };
	struct mcxfer_event ev;
	struct host_dmabuf buf;
	struct mcxfer_ctx c;
	int fd;

	mcx_dmabuf(MR_LEN, &buf);
	pa.buf_fd = buf.fd;
	fd = open_dev();
	CHECK_ERR(ctx_get(fd, &c), ENOENT);
	REQUIRE(mt_wait(mt_fork(ctx_publisher, &pa), "publisher"));
	CHECK_EQ(contexts_now(), 1);
	REQUIRE_OK(ctx_get(fd, &c));
	CHECK_EQ(c.ctx_id, pub->mr_id);
	CHECK_EQ(c.pd_handle, pub->pd_handle);
	check_same_file(pub, (int)c.uverbs_fd, false);
	close((int)c.uverbs_fd);

	/* the entry lingers with the MR; evicting it drops the record */
	CHECK_EQ(mcx_evict_all_idle(), 1);
	REQUIRE(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
	if (CHECK_EQ(read(fd, &ev, sizeof(ev)), (ssize_t)sizeof(ev))) {
		CHECK_EQ(ev.type, MCXFER_EVENT_CTX_MR_DROPPED);
		CHECK_EQ(ev.id, pub->mr_id);
		CHECK_EQ(ev.mr_id, pub->mr_handle);
	}
	CHECK_EQ(read(fd, &ev, sizeof(ev)), -1);
	CHECK_EQ(contexts_now(), 1);
	close(fd);
	CHECK_EQ(contexts_now(), 0);
	fd = open_dev();
	CHECK_ERR(ctx_get(fd, &c), ENOENT);
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* Without any MR, the context goes with the last client holding it. */
static void t_ctx_goes_with_holders(void)
{
	struct mcxfer_ctx c;
	struct verbs v;
	int fd1, fd2;

	verbs_open(&v);
	fd1 = open_dev();
	fd2 = open_dev();
	REQUIRE_OK(ctx_publish(fd1, &v, NULL));
	REQUIRE_OK(ctx_get(fd2, &c));
	close((int)c.uverbs_fd);
	close(fd1);
	CHECK_EQ(contexts_now(), 1);
	CHECK_OK(ctx_get(fd2, &c));
	close((int)c.uverbs_fd);
	close(fd2);
	CHECK_EQ(contexts_now(), 0);
	/* the verbs context is still ours and still works */
	fd1 = open_dev();
	CHECK_OK(ctx_publish(fd1, &v, NULL));
	close(fd1);
	verbs_close(&v);
}

static const struct mt_test tests[] = {
	{ "pin_for_ibdev", t_pin_for_ibdev, 0 },
	{ "publish_get", t_publish_get, 0 },
	{ "mr_survives_exit", t_mr_survives_exit, 0 },
	{ "mr_survives_sigkill", t_mr_survives_sigkill, 0 },
	{ "publish_errors", t_publish_errors, 0 },
	{ "mr_zero_tail", t_mr_zero_tail, 0 },
	{ "get_mr_access", t_get_mr_access, 0 },
	{ "mr_offsets", t_mr_offsets, 0 },
	{ "ctx_lifetime", t_ctx_lifetime, 0 },
	{ "ctx_goes_with_holders", t_ctx_goes_with_holders, 0 },
};

int main(int argc, char **argv)
{
	static const struct mt_suite suite = {
		.name = "mcxfer_mr",
		.tests = tests,
		.nr_tests = MT_ARRAY_SIZE(tests),
		.before_each = mcx_before_each,
		.after_each = mcx_after_each,
	};

	return mt_main(&suite, argc, argv);
}
