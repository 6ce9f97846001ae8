// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * ABI tests of /dev/mcxfer: argument sizes, the copy_struct_from_user() rule
 * for larger structs, flags, reserved words, unknown commands, bad pointers,
 * and the error returns of every command.  The MR commands' positive paths
 * need a verbs device and live in mr_test.c.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "mcx_util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* Word offsets in an argument struct that must be zero on the way in. */
struct cmd_desc {
	const char *name;
	unsigned long cmd;
	size_t size;
	uint32_t known_flags;
	size_t reserved[4];		/* offsets of reserved __u32/__u64 words */
	size_t reserved_width[4];
	unsigned int nr_reserved;
};

#define RSV(type, field) offsetof(type, field)

static const struct cmd_desc cmds[] = {
	{ "GET_INFO", MCXFER_IOC_GET_INFO, sizeof(struct mcxfer_info), 0,
	  { RSV(struct mcxfer_info, reserved[0]), RSV(struct mcxfer_info, reserved[1]) },
	  { 8, 8 }, 2 },
	{ "PIN", MCXFER_IOC_PIN, sizeof(struct mcxfer_pin), MCXFER_PIN_FLAGS,
	  { RSV(struct mcxfer_pin, reserved0), RSV(struct mcxfer_pin, reserved[0]),
	    RSV(struct mcxfer_pin, reserved[1]) }, { 4, 8, 8 }, 3 },
	{ "UNPIN", MCXFER_IOC_UNPIN, sizeof(struct mcxfer_unpin), 0,
	  { RSV(struct mcxfer_unpin, reserved[0]), RSV(struct mcxfer_unpin, reserved[1]) },
	  { 8, 8 }, 2 },
	{ "LOOKUP", MCXFER_IOC_LOOKUP, sizeof(struct mcxfer_lookup), MCXFER_LOOKUP_FLAGS,
	  { RSV(struct mcxfer_lookup, reserved[0]), RSV(struct mcxfer_lookup, reserved[1]) },
	  { 8, 8 }, 2 },
	{ "PUBLISH_MR", MCXFER_IOC_PUBLISH_MR, sizeof(struct mcxfer_publish_mr), 0,
	  { RSV(struct mcxfer_publish_mr, reserved[0]) }, { 8 }, 1 },
	{ "GET_MR", MCXFER_IOC_GET_MR, sizeof(struct mcxfer_get_mr), 0,
	  { RSV(struct mcxfer_get_mr, reserved0), RSV(struct mcxfer_get_mr, reserved[0]) },
	  { 4, 8 }, 2 },
	{ "LIST", MCXFER_IOC_LIST, sizeof(struct mcxfer_list), 0,
	  { RSV(struct mcxfer_list, reserved[0]), RSV(struct mcxfer_list, reserved[1]) },
	  { 8, 8 }, 2 },
	{ "EVICT", MCXFER_IOC_EVICT, sizeof(struct mcxfer_evict), MCXFER_EVICT_FLAGS,
	  { RSV(struct mcxfer_evict, reserved[0]), RSV(struct mcxfer_evict, reserved[1]) },
	  { 8, 8 }, 2 },
	{ "QUERY_DEVICE", MCXFER_IOC_QUERY_DEVICE, sizeof(struct mcxfer_device_info), 0,
	  { RSV(struct mcxfer_device_info, reserved[0]),
	    RSV(struct mcxfer_device_info, reserved[1]) }, { 8, 8 }, 2 },
	{ "PUBLISH_CTX", MCXFER_IOC_PUBLISH_CTX, sizeof(struct mcxfer_ctx), 0,
	  { RSV(struct mcxfer_ctx, reserved[0]), RSV(struct mcxfer_ctx, reserved[1]) },
	  { 8, 8 }, 2 },
	{ "GET_CTX", MCXFER_IOC_GET_CTX, sizeof(struct mcxfer_ctx), 0,
	  { RSV(struct mcxfer_ctx, reserved[0]), RSV(struct mcxfer_ctx, reserved[1]) },
	  { 8, 8 }, 2 },
	{ "LIST_HOLDERS", MCXFER_IOC_LIST_HOLDERS, sizeof(struct mcxfer_holders), 0,
	  { RSV(struct mcxfer_holders, reserved0), RSV(struct mcxfer_holders, reserved[0]),
	    RSV(struct mcxfer_holders, reserved[1]) }, { 4, 8, 8 }, 3 },
};

/*
 * A fixture with a pinned entry, so that each command's struct can be made
 * valid apart from the one thing a test breaks.
 */
struct fixture {
	int fd;
	struct host_dmabuf buf;
	uint64_t id;
	struct mcxfer_entry_info list_buf[4];
	struct mcxfer_holder_info holders[4];
};

static void fixture_setup(struct fixture *fx)
{
	mcx_dmabuf(4 * MCX_PAGE, &fx->buf);
	fx->fd = mcx_open();
	REQUIREF(fx->fd >= 0, "open %s: %s", MCX_DEV, mt_errname(-fx->fd));
	REQUIRE_OK(mcx_pin(fx->fd, fx->buf.fd, 0, MCX_PAGE, "abi/fixture",
			   MCXFER_SHARE_OWNER, 0, &fx->id, NULL));
}

static void fixture_teardown(struct fixture *fx)
{
	CHECK_OK(mcx_unpin(fx->fd, fx->id));
	close(fx->fd);
	host_dmabuf_destroy(&fx->buf);
}

static unsigned int entry_of_refs(int fd, uint64_t id)
{
	const struct mcxfer_entry_info *e = mcx_list_find(fd, id);

	REQUIREF(e, "entry %llu not listed", (unsigned long long)id);
	return e->refs;
}

/* Fill arg (at least d->size bytes, zeroed) with a valid call of d. */
static void fill_valid(const struct cmd_desc *d, void *arg, struct fixture *fx)
{
	switch (d->cmd) {
	case MCXFER_IOC_PIN: {
		struct mcxfer_pin *p = arg;

		p->dmabuf_fd = (uint32_t)fx->buf.fd;
		p->offset = MCX_PAGE;
		p->length = MCX_PAGE;
		break;
	}
	case MCXFER_IOC_UNPIN:
		((struct mcxfer_unpin *)arg)->id = fx->id;
		break;
	case MCXFER_IOC_LOOKUP:
		((struct mcxfer_lookup *)arg)->id = fx->id;
		break;
	case MCXFER_IOC_PUBLISH_MR: {
		/* Not publishable without a verbs device: only argument checks. */
		struct mcxfer_publish_mr *p = arg;

		p->id = fx->id;
		p->uverbs_fd = (uint32_t)-1;
		p->length = MCX_PAGE;
		break;
	}
	case MCXFER_IOC_GET_MR:
		((struct mcxfer_get_mr *)arg)->id = fx->id;
		break;
	case MCXFER_IOC_LIST: {
		struct mcxfer_list *l = arg;

		l->entries = (uintptr_t)fx->list_buf;
		l->entry_size = sizeof(fx->list_buf[0]);
		l->count = MT_ARRAY_SIZE(fx->list_buf);
		break;
	}
	case MCXFER_IOC_EVICT:
		((struct mcxfer_evict *)arg)->flags = MCXFER_EVICT_IDLE;
		break;
	case MCXFER_IOC_QUERY_DEVICE:
		/* ENODEV where the rig has no such device: still past the checks */
		((struct mcxfer_device_info *)arg)->ibdev = (uintptr_t)"rxe0";
		break;
	case MCXFER_IOC_PUBLISH_CTX:
		/* as PUBLISH_MR: a closed fd, only argument checks */
		((struct mcxfer_ctx *)arg)->uverbs_fd = (uint32_t)-1;
		break;
	case MCXFER_IOC_GET_CTX:
		((struct mcxfer_ctx *)arg)->ibdev = (uintptr_t)"rxe0";
		break;
	case MCXFER_IOC_LIST_HOLDERS: {
		struct mcxfer_holders *h = arg;

		h->id = fx->id;
		h->holders = (uintptr_t)fx->holders;
		h->holder_size = sizeof(fx->holders[0]);
		h->count = MT_ARRAY_SIZE(fx->holders);
		break;
	}
	}
	((uint32_t *)arg)[0] = (uint32_t)d->size;
}

static int call(int fd, const struct cmd_desc *d, void *arg)
{
	return mcx_ioctl(fd, d->cmd, arg);
}

/* Sizes below the first published size: EINVAL, before anything else. */
static void t_size_too_small(void)
{
	struct fixture fx;
	unsigned char arg[512];

	fixture_setup(&fx);
	for (size_t i = 0; i < MT_ARRAY_SIZE(cmds); i++) {
		const struct cmd_desc *d = &cmds[i];
		uint32_t sizes[] = { 0, 4, 8, (uint32_t)d->size - 8, (uint32_t)d->size - 1 };

		for (size_t j = 0; j < MT_ARRAY_SIZE(sizes); j++) {
			memset(arg, 0, sizeof(arg));
			fill_valid(d, arg, &fx);
			((uint32_t *)arg)[0] = sizes[j];
			CHECKF(call(fx.fd, d, arg) == -EINVAL, "%s size %u: got %s, want EINVAL",
			       d->name, sizes[j], mt_errname(-call(fx.fd, d, arg)));
		}
	}
	fixture_teardown(&fx);
}

/*
 * A larger struct whose tail is not zero is from newer userspace asking for
 * something this module does not know: E2BIG, whether the non-zero byte is
 * just past the struct, far out, or the size is huge.
 */
static void t_size_nonzero_tail(void)
{
	size_t region = 80 * 1024;
	unsigned char *arg;
	struct fixture fx;

	fixture_setup(&fx);
	arg = mmap(NULL, region, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(arg != MAP_FAILED);
	for (size_t i = 0; i < MT_ARRAY_SIZE(cmds); i++) {
		const struct cmd_desc *d = &cmds[i];
		struct {
			uint32_t size;
			size_t nonzero_at;
		} cases[] = {
			{ (uint32_t)d->size + 8, d->size },
			{ (uint32_t)d->size + 8, d->size + 7 },
			{ 64 * 1024, 64 * 1024 - 1 },
			/* Huge: the non-zero byte comes before anything could fault. */
			{ UINT32_MAX, d->size },
		};

		for (size_t j = 0; j < MT_ARRAY_SIZE(cases); j++) {
			int r;

			memset(arg, 0, region);
			fill_valid(d, arg, &fx);
			((uint32_t *)arg)[0] = cases[j].size;
			arg[cases[j].nonzero_at] = 0x5a;
			r = call(fx.fd, d, arg);
			CHECKF(r == -E2BIG, "%s size %u non-zero at %zu: got %s, want E2BIG",
			       d->name, cases[j].size, cases[j].nonzero_at,
			       r >= 0 ? "success" : mt_errname(-r));
		}
	}
	munmap(arg, region);
	fixture_teardown(&fx);
}

/* A tail that runs into a faulting page: EFAULT, nothing done. */
static void t_size_tail_faults(void)
{
	struct fixture fx;

	fixture_setup(&fx);
	for (size_t i = 0; i < MT_ARRAY_SIZE(cmds); i++) {
		const struct cmd_desc *d = &cmds[i];
		unsigned char *arg = mcx_edge_bytes(d->size + 16);
		int r;

		memset(arg, 0, d->size + 16);
		fill_valid(d, arg, &fx);
		((uint32_t *)arg)[0] = (uint32_t)d->size + 64;
		r = call(fx.fd, d, arg);
		CHECKF(r == -EFAULT, "%s: got %s, want EFAULT", d->name,
		       r >= 0 ? "success" : mt_errname(-r));
	}
	fixture_teardown(&fx);
}

/* Unknown flag bits: EINVAL. */
static void t_unknown_flags(void)
{
	unsigned char arg[512];
	struct fixture fx;

	fixture_setup(&fx);
	for (size_t i = 0; i < MT_ARRAY_SIZE(cmds); i++) {
		const struct cmd_desc *d = &cmds[i];

		for (unsigned int bit = 0; bit < 32; bit++) {
			uint32_t flag = 1U << bit;
			int r;

			if (d->known_flags & flag)
				continue;
			memset(arg, 0, sizeof(arg));
			fill_valid(d, arg, &fx);
			((uint32_t *)arg)[1] |= flag;
			r = call(fx.fd, d, arg);
			CHECKF(r == -EINVAL, "%s flag 0x%x: got %s, want EINVAL", d->name,
			       flag, r >= 0 ? "success" : mt_errname(-r));
		}
	}
	fixture_teardown(&fx);
}

/* Any non-zero reserved word: EINVAL. */
static void t_reserved_nonzero(void)
{
	unsigned char arg[512];
	struct fixture fx;

	fixture_setup(&fx);
	for (size_t i = 0; i < MT_ARRAY_SIZE(cmds); i++) {
		const struct cmd_desc *d = &cmds[i];

		for (unsigned int k = 0; k < d->nr_reserved; k++) {
			for (size_t byte = 0; byte < d->reserved_width[k]; byte++) {
				int r;

				memset(arg, 0, sizeof(arg));
				fill_valid(d, arg, &fx);
				arg[d->reserved[k] + byte] = 1;
				r = call(fx.fd, d, arg);
				CHECKF(r == -EINVAL, "%s reserved at %zu+%zu: got %s, want EINVAL",
				       d->name, d->reserved[k], byte,
				       r >= 0 ? "success" : mt_errname(-r));
			}
		}
	}
	/* The fixture's reference must not have been dropped by a bad UNPIN. */
	CHECK(mcx_list_find(fx.fd, fx.id) && mcx_list_find(fx.fd, fx.id)->refs == 1);
	fixture_teardown(&fx);
}

/* Unknown commands: ENOTTY, also for known numbers with another encoding. */
static void t_unknown_command(void)
{
	struct mcxfer_info info = { .size = sizeof(info) };
	unsigned long bad[] = {
		_IO(MCXFER_IOC_TYPE, MCXFER_CMD_LIST_HOLDERS + 1),
		_IO(MCXFER_IOC_TYPE, 0x40),
		_IO(MCXFER_IOC_TYPE, 0xff),
		_IOWR(MCXFER_IOC_TYPE, MCXFER_CMD_GET_INFO, struct mcxfer_info),
		_IOR(MCXFER_IOC_TYPE, MCXFER_CMD_PIN, struct mcxfer_pin),
		_IOW(MCXFER_IOC_TYPE, MCXFER_CMD_LIST, __u64),
		_IO(MCXFER_IOC_TYPE - 1, MCXFER_CMD_GET_INFO),
		_IO(MCXFER_IOC_TYPE + 1, MCXFER_CMD_GET_INFO),
		_IO('V', 0),
		0,
	};
	int fd = mcx_open();

	REQUIRE(fd >= 0);
	for (size_t i = 0; i < MT_ARRAY_SIZE(bad); i++) {
		int r = mcx_ioctl(fd, bad[i], &info);

		CHECKF(r == -ENOTTY, "cmd 0x%lx: got %s, want ENOTTY", bad[i],
		       r >= 0 ? "success" : mt_errname(-r));
	}
	close(fd);
}

/* Argument pointers that cannot be read: EFAULT. */
static void t_arg_fault(void)
{
	struct fixture fx;
	void *ptrs[] = {
		NULL,
		mcx_fault_page(),
		mcx_edge_bytes(2),		/* size word itself faults half-way */
		(void *)(uintptr_t)0xffff888000000000ULL,	/* kernel address */
		(void *)(uintptr_t)0x0000800000000000ULL,	/* non-canonical */
	};

	fixture_setup(&fx);
	for (size_t i = 0; i < MT_ARRAY_SIZE(cmds); i++) {
		for (size_t j = 0; j < MT_ARRAY_SIZE(ptrs); j++) {
			int r = call(fx.fd, &cmds[i], ptrs[j]);

			CHECKF(r == -EFAULT, "%s arg %p: got %s, want EFAULT", cmds[i].name,
			       ptrs[j], r >= 0 ? "success" : mt_errname(-r));
		}
		/* Size readable, the rest of the struct faults. */
		{
			uint32_t *edge = mcx_edge_bytes(8);
			int r;

			edge[0] = (uint32_t)cmds[i].size;
			edge[1] = 0;
			r = call(fx.fd, &cmds[i], edge);
			CHECKF(r == -EFAULT, "%s truncated arg: got %s, want EFAULT",
			       cmds[i].name, r >= 0 ? "success" : mt_errname(-r));
		}
	}
	fixture_teardown(&fx);
}

/* GET_INFO: the ABI version and sane statistics; larger zero-tail accepted. */
static void t_get_info(void)
{
	size_t big = sizeof(struct mcxfer_info) + 64;
	struct mcxfer_info info;
	unsigned char *arg;
	int fd = mcx_open();

	REQUIRE(fd >= 0);
	REQUIRE_OK(mcx_info(fd, &info));
	CHECK_EQ(info.abi_version, MCXFER_ABI_VERSION);
	CHECK_EQ(info.size, sizeof(info));
	CHECK(info.clients >= 1);
	CHECK_EQ(info.entries, info.entries_active + info.entries_linger + info.entries_dead);
	for (size_t i = 0; i < MT_ARRAY_SIZE(info.reserved); i++)
		CHECK_EQ(info.reserved[i], 0);

	arg = calloc(1, big);
	REQUIRE(arg);
	((struct mcxfer_info *)arg)->size = (uint32_t)big;
	CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_GET_INFO, arg));
	CHECK_EQ(((struct mcxfer_info *)arg)->abi_version, MCXFER_ABI_VERSION);
	/* The size says what this kernel filled in, not what we passed. */
	CHECK_EQ(((struct mcxfer_info *)arg)->size, sizeof(struct mcxfer_info));
	for (size_t i = sizeof(struct mcxfer_info); i < big; i++)
		CHECKF(arg[i] == 0, "byte %zu past the struct written", i);
	free(arg);
	close(fd);
}

/*
 * PIN, UNPIN, LOOKUP, LIST and EVICT accept a larger struct with a zero
 * tail, up to a page (the module's documented limit: bigger is E2BIG).
 */
static void t_zero_tail_accepted(void)
{
	const size_t extra = 4096;
	struct host_dmabuf buf;
	unsigned char *arg;
	uint64_t id;
	int fd;

	mcx_dmabuf(2 * MCX_PAGE, &buf);
	fd = mcx_open();
	REQUIRE(fd >= 0);
	arg = calloc(1, 4096 + extra);
	REQUIRE(arg);

	{
		struct mcxfer_pin *p = (void *)arg;

		memset(arg, 0, 4096 + extra);
		p->size = 4096;
		p->dmabuf_fd = (uint32_t)buf.fd;
		p->length = 2 * MCX_PAGE;
		REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_PIN, p));
		CHECK(p->id != 0);
		CHECK_EQ(p->out_flags, 0);
		id = p->id;
		for (size_t i = sizeof(*p); i < 4096 + extra; i++)
			CHECKF(arg[i] == 0, "PIN wrote byte %zu past its struct", i);
		/* One byte more than a page, even zero, is refused. */
		p->size = 4097;
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PIN, p), E2BIG);
	}
	{
		struct mcxfer_lookup *l = (void *)arg;

		memset(arg, 0, 4096 + extra);
		l->size = 4096;
		l->id = id;
		CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_LOOKUP, l));
		CHECK_EQ(l->length, 2 * MCX_PAGE);
		CHECK_EQ(l->state, MCXFER_STATE_ACTIVE);
	}
	{
		struct mcxfer_list *l = (void *)arg;
		struct mcxfer_entry_info e[2];

		memset(arg, 0, 4096 + extra);
		l->size = 4096;
		l->entries = (uintptr_t)e;
		l->entry_size = sizeof(e[0]);
		l->count = 2;
		CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_LIST, l));
		CHECK_EQ(l->count, 1);
		CHECK_EQ(e[0].id, id);
	}
	{
		struct mcxfer_unpin *u = (void *)arg;

		memset(arg, 0, 4096 + extra);
		u->size = 4096;
		u->id = id;
		CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_UNPIN, u));
	}
	{
		struct mcxfer_evict *e = (void *)arg;

		memset(arg, 0, 4096 + extra);
		e->size = 4096;
		e->id = id;
		CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_EVICT, e));
		CHECK_EQ(e->evicted, 1);
	}
	free(arg);
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* PIN's own error returns. */
static void t_pin_errors(void)
{
	struct host_dmabuf buf;
	int fd, closed, pfd[2], devnull, memfd;
	uint64_t id;

	mcx_dmabuf(4 * MCX_PAGE, &buf);
	fd = mcx_open();
	REQUIRE(fd >= 0);

	/* Not an fd at all. */
	closed = dup(buf.fd);
	REQUIRE(closed >= 0);
	close(closed);
	CHECK_ERR(mcx_pin(fd, closed, 0, MCX_PAGE, NULL, 0, 0, &id, NULL), EBADF);
	CHECK_ERR(mcx_pin(fd, -1, 0, MCX_PAGE, NULL, 0, 0, &id, NULL), EBADF);
	CHECK_ERR(mcx_pin(fd, 1 << 30, 0, MCX_PAGE, NULL, 0, 0, &id, NULL), EBADF);

	/* Open files that are not dma-bufs: dma_buf_get() says EINVAL. */
	REQUIRE(pipe(pfd) == 0);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	memfd = memfd_create("mcxfer-abi", MFD_CLOEXEC);
	REQUIRE(devnull >= 0 && memfd >= 0 && ftruncate(memfd, 4 * MCX_PAGE) == 0);
	CHECK_ERR(mcx_pin(fd, pfd[0], 0, MCX_PAGE, NULL, 0, 0, &id, NULL), EINVAL);
	CHECK_ERR(mcx_pin(fd, devnull, 0, MCX_PAGE, NULL, 0, 0, &id, NULL), EINVAL);
	CHECK_ERR(mcx_pin(fd, memfd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL), EINVAL);
	CHECK_ERR(mcx_pin(fd, fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL), EINVAL);
	if (buf.backing_fd >= 0)
		CHECK_ERR(mcx_pin(fd, buf.backing_fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL),
			  EINVAL);

	/* Ranges. */
	CHECK_ERR(mcx_pin(fd, buf.fd, 0, 0, NULL, 0, 0, &id, NULL), EINVAL);
	CHECK_ERR(mcx_pin(fd, buf.fd, MCX_PAGE, 0, NULL, 0, 0, &id, NULL), EINVAL);
	/* offset + length wraps around: the module documents EINVAL for ranges. */
	CHECK_ERR(mcx_pin(fd, buf.fd, UINT64_MAX - MCX_PAGE + 1, 2 * MCX_PAGE, NULL, 0, 0,
			  &id, NULL), EINVAL);
	CHECK_ERR(mcx_pin(fd, buf.fd, MCX_PAGE, UINT64_MAX, NULL, 0, 0, &id, NULL), EINVAL);
	CHECK_ERR(mcx_pin(fd, buf.fd, 2 * MCX_PAGE, UINT64_MAX - MCX_PAGE, NULL, 0, 0, &id, NULL),
		  EINVAL);
	/* Past the end of the buffer. */
	CHECK_ERR(mcx_pin(fd, buf.fd, 0, 5 * MCX_PAGE, NULL, 0, 0, &id, NULL), EINVAL);
	CHECK_ERR(mcx_pin(fd, buf.fd, 3 * MCX_PAGE, 2 * MCX_PAGE, NULL, 0, 0, &id, NULL), EINVAL);
	CHECK_ERR(mcx_pin(fd, buf.fd, 4 * MCX_PAGE, MCX_PAGE, NULL, 0, 0, &id, NULL), EINVAL);
	CHECK_ERR(mcx_pin(fd, buf.fd, 0, 4 * MCX_PAGE + 1, NULL, 0, 0, &id, NULL), EINVAL);
	/* The last byte and the whole buffer are fine. */
	CHECK_OK(mcx_pin(fd, buf.fd, 4 * MCX_PAGE - 1, 1, NULL, 0, MCXFER_PIN_NO_LINGER, &id, NULL));
	CHECK_OK(mcx_unpin(fd, id));
	CHECK_OK(mcx_pin(fd, buf.fd, 0, 4 * MCX_PAGE, NULL, 0, MCXFER_PIN_NO_LINGER, &id, NULL));
	CHECK_OK(mcx_unpin(fd, id));

	/* RDMA device names: unknown, empty, too long, unreadable. */
	{
		struct mcxfer_pin p = {
			.size = sizeof(p), .dmabuf_fd = (uint32_t)buf.fd, .length = MCX_PAGE,
		};
		char longdev[MCXFER_IBDEV_NAME_MAX + 8];

		memset(longdev, 'd', sizeof(longdev) - 1);
		longdev[sizeof(longdev) - 1] = '\0';
		p.ibdev = (uintptr_t)"nosuchdev0";
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PIN, &p), ENODEV);
		p.ibdev = (uintptr_t)"";
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PIN, &p), ENODEV);
		p.ibdev = (uintptr_t)longdev;
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PIN, &p), ENAMETOOLONG);
		p.ibdev = (uintptr_t)mcx_fault_page();
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PIN, &p), EFAULT);
	}

	/* Share mode out of range. */
	CHECK_ERR(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, MCXFER_SHARE_ALL + 1, 0, &id, NULL),
		  EINVAL);
	CHECK_ERR(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, UINT32_MAX, 0, &id, NULL), EINVAL);

	/* Nothing of the above may have left an entry behind. */
	{
		struct mcxfer_info info;

		CHECK_OK(mcx_info(fd, &info));
		CHECK_EQ(info.entries, 0);
		CHECK_EQ(info.bytes_pinned, 0);
	}
	close(memfd);
	close(devnull);
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* Names: charset, length, placement of '/' and '.', unreadable pointers. */
static void t_pin_names(void)
{
	static const char *const bad[] = {
		"", "/kv", ".kv", "kv gpu", "kv\tgpu", "kv\xc3\xa9", "kv*", "kv\\x", "kv\n",
		"a\"b", "k;v",
	};
	char longest[MCXFER_NAME_MAX], toolong[MCXFER_NAME_MAX + 1];
	struct host_dmabuf buf;
	uint64_t id;
	char *edge;
	int fd;

	mcx_dmabuf(MCX_PAGE, &buf);
	fd = mcx_open();
	REQUIRE(fd >= 0);
	for (size_t i = 0; i < MT_ARRAY_SIZE(bad); i++) {
		int r = mcx_pin(fd, buf.fd, 0, MCX_PAGE, bad[i], 0, 0, &id, NULL);

		CHECKF(r == -EINVAL, "name \"%s\": got %s, want EINVAL", bad[i],
		       r >= 0 ? "success" : mt_errname(-r));
	}
	CHECK_ERR(mcx_lookup_name(fd, "/kv", 0, &(struct mcxfer_lookup){ 0 }), EINVAL);

	memset(toolong, 'n', sizeof(toolong) - 1);
	toolong[sizeof(toolong) - 1] = '\0';
	CHECK_ERR(mcx_pin(fd, buf.fd, 0, MCX_PAGE, toolong, 0, 0, &id, NULL), ENAMETOOLONG);
	{
		struct mcxfer_lookup l;

		CHECK_ERR(mcx_lookup_name(fd, toolong, 0, &l), ENAMETOOLONG);
	}

	/* Unreadable: the page itself, or a name that runs into it. */
	CHECK_ERR(mcx_pin(fd, buf.fd, 0, MCX_PAGE, mcx_fault_page(), 0, 0, &id, NULL), EFAULT);
	edge = mcx_edge_bytes(5);
	memcpy(edge, "kv/ab", 5);
	CHECK_ERR(mcx_pin(fd, buf.fd, 0, MCX_PAGE, edge, 0, 0, &id, NULL), EFAULT);

	/* 63 bytes of every allowed character class is fine. */
	memset(longest, 'a', sizeof(longest) - 1);
	memcpy(longest, "Az09._/:-", 9);
	longest[sizeof(longest) - 1] = '\0';
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, longest, 0, 0, &id, NULL));
	{
		struct mcxfer_lookup l;
		const struct mcxfer_entry_info *e;

		CHECK_OK(mcx_lookup_name(fd, longest, 0, &l));
		CHECK_EQ(l.id, id);
		e = mcx_list_find(fd, id);
		REQUIRE(e);
		CHECK(!memcmp(e->name, longest, sizeof(longest)));
	}
	CHECK_OK(mcx_unpin(fd, id));
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* UNPIN: only the caller's own references. */
static void t_unpin_errors(void)
{
	struct host_dmabuf buf;
	uint64_t id, id2;
	uint32_t of;
	int fd, fd2;

	mcx_dmabuf(MCX_PAGE, &buf);
	fd = mcx_open();
	fd2 = mcx_open();
	REQUIRE(fd >= 0 && fd2 >= 0);
	CHECK_ERR(mcx_unpin(fd, 0), ENOENT);
	CHECK_ERR(mcx_unpin(fd, UINT64_MAX), ENOENT);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));
	CHECK_ERR(mcx_unpin(fd, id + 1000), ENOENT);
	/* fd2 holds nothing on id, although the entry exists. */
	CHECK_ERR(mcx_unpin(fd2, id), ENOENT);
	CHECK_EQ(mcx_list_find(fd, id)->refs, 1);
	/* Two references on fd: two unpins, the third fails. */
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id2, &of));
	CHECK_EQ(id2, id);
	CHECK_EQ(of, MCXFER_PIN_OUT_HIT);
	CHECK_EQ(mcx_list_find(fd, id)->refs, 2);
	CHECK_OK(mcx_unpin(fd, id));
	CHECK_OK(mcx_unpin(fd, id));
	CHECK_ERR(mcx_unpin(fd, id), ENOENT);
	close(fd2);
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* LOOKUP: unknown names and ids; outputs zeroed where not filled in. */
static void t_lookup_errors(void)
{
	struct host_dmabuf buf;
	struct mcxfer_lookup l;
	uint64_t id;
	int fd;

	mcx_dmabuf(MCX_PAGE, &buf);
	fd = mcx_open();
	REQUIRE(fd >= 0);
	CHECK_ERR(mcx_lookup_name(fd, "abi/none", 0, &l), ENOENT);
	/* Neither a name nor an id: nothing to look up; both: which one? */
	CHECK_ERR(mcx_lookup_id(fd, 0, 0, &l), EINVAL);
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.name = (uintptr_t)"abi/none";
	l.id = 424242;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LOOKUP, &l), EINVAL);
	CHECK_ERR(mcx_lookup_id(fd, 424242, 0, &l), ENOENT);
	CHECK_ERR(mcx_lookup_id(fd, UINT64_MAX, MCXFER_LOOKUP_REF, &l), ENOENT);
	CHECK_ERR(mcx_lookup_name(fd, mcx_fault_page(), 0, &l), EFAULT);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, "abi/lookup", 0, 0, &id, NULL));
	/* Stale output fields going in are overwritten, not rejected. */
	memset(&l, 0xa5, sizeof(l));
	l.size = sizeof(l);
	l.flags = 0;
	l.name = 0;
	l.id = id;
	memset(l.reserved, 0, sizeof(l.reserved));
	CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_LOOKUP, &l));
	CHECK_EQ(l.id, id);
	CHECK_EQ(l.fd, 0);
	CHECK_EQ(l.offset, 0);
	CHECK_EQ(l.length, MCX_PAGE);
	CHECK_EQ(l.dmabuf_size, MCX_PAGE);
	CHECK_EQ(l.state, MCXFER_STATE_ACTIVE);
	CHECK_EQ(l.owner_uid, getuid());
	CHECK_EQ(l.owner_gid, getgid());
	CHECK_EQ(l.share, MCXFER_SHARE_OWNER);
	CHECK_EQ(l.nr_mrs, 0);
	CHECK_OK(mcx_unpin(fd, id));
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* EVICT: argument rules and the single-entry errors. */
static void t_evict_errors(void)
{
	struct host_dmabuf buf;
	uint64_t id, n = 99;
	int fd;

	mcx_dmabuf(MCX_PAGE, &buf);
	fd = mcx_open();
	REQUIRE(fd >= 0);
	/* A single eviction needs an id; --idle must not have one. */
	CHECK_ERR(mcx_evict(fd, 0, 0, &n), EINVAL);
	CHECK_ERR(mcx_evict(fd, 12345678, 0, &n), ENOENT);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));
	CHECK_ERR(mcx_evict(fd, id, MCXFER_EVICT_IDLE, &n), EINVAL);
	CHECK_ERR(mcx_evict(fd, id, 0, &n), EBUSY);
	CHECK_OK(mcx_evict(fd, 0, MCXFER_EVICT_IDLE, &n));
	CHECK_EQ(n, 0);
	CHECK(mcx_list_find(fd, id) != NULL);
	CHECK_OK(mcx_unpin(fd, id));
	CHECK_EQ(mcx_list_find(fd, id)->state, MCXFER_STATE_LINGER);
	CHECK_OK(mcx_evict(fd, id, 0, &n));
	CHECK_EQ(n, 1);
	CHECK_ERR(mcx_evict(fd, id, 0, &n), ENOENT);
	CHECK(mcx_list_find(fd, id) == NULL);
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* LIST: record sizes, capacity 0, unwritable arrays. */
static void t_list_args(void)
{
	struct mcxfer_entry_info *rec;
	unsigned char *raw;
	struct host_dmabuf buf;
	struct mcxfer_list l;
	uint64_t id;
	int fd;

	mcx_dmabuf(MCX_PAGE, &buf);
	fd = mcx_open();
	REQUIRE(fd >= 0);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, "abi/list", 0, 0, &id, NULL));

	/* Capacity 0: nothing written, the cursor stays usable. */
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.entries = (uintptr_t)mcx_fault_page();
	l.entry_size = sizeof(*rec);
	CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_LIST, &l));
	CHECK_EQ(l.count, 0);

	/* An array that faults. */
	l.count = 4;
	l.cursor = 0;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LIST, &l), EFAULT);
	l.entries = (uintptr_t)mcx_edge_bytes(sizeof(*rec) / 2);
	l.cursor = 0;
	l.count = 4;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LIST, &l), EFAULT);

	/* A shorter record: only its prefix is written. */
	raw = calloc(4, sizeof(*rec) * 2);
	REQUIRE(raw);
	memset(raw, 0xee, 4 * sizeof(*rec) * 2);
	l.cursor = 0;
	l.entries = (uintptr_t)raw;
	l.entry_size = 16;
	l.count = 1;
	CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_LIST, &l));
	CHECK_EQ(l.count, 1);
	CHECK_EQ(*(uint64_t *)raw, id);
	CHECK_EQ(raw[16], 0xee);

	/* A longer record: zero-filled past what the module knows. */
	memset(raw, 0xee, 4 * sizeof(*rec) * 2);
	l.cursor = 0;
	l.entry_size = sizeof(*rec) + 40;
	l.count = 1;
	CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_LIST, &l));
	CHECK_EQ(l.count, 1);
	rec = (void *)raw;
	CHECK_EQ(rec->id, id);
	CHECK_EQ(rec->length, MCX_PAGE);
	CHECK(!strcmp((char *)rec->name, "abi/list"));
	for (size_t i = sizeof(*rec); i < sizeof(*rec) + 40; i++)
		CHECKF(raw[i] == 0, "byte %zu of a long record is 0x%x", i, raw[i]);
	CHECK_EQ(raw[sizeof(*rec) + 40], 0xee);

	/* entry_size 0 cannot carry anything. */
	l.cursor = 0;
	l.entry_size = 0;
	l.count = 1;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LIST, &l), EINVAL);

	free(raw);
	CHECK_OK(mcx_unpin(fd, id));
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* GET_MR and PUBLISH_MR argument errors that need no verbs device. */
static void t_mr_errors(void)
{
	struct mcxfer_publish_mr p;
	struct mcxfer_get_mr g;
	struct host_dmabuf buf;
	uint64_t id;
	int fd, fd2;

	mcx_dmabuf(MCX_PAGE, &buf);
	fd = mcx_open();
	fd2 = mcx_open();
	REQUIRE(fd >= 0 && fd2 >= 0);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));

	memset(&g, 0, sizeof(g));
	g.size = sizeof(g);
	g.id = 987654;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), ENOENT);
	g.id = id;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), ENOENT);
	g.index = 5;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), ENOENT);
	g.index = 0;
	g.ibdev = (uintptr_t)"rxe0";
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), ENOENT);
	g.ibdev = (uintptr_t)mcx_fault_page();
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), EFAULT);

	/* A closed fd and a file that is no uverbs file. */
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.id = id;
	p.length = MCX_PAGE;
	p.uverbs_fd = (uint32_t)-1;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EBADF);
	p.uverbs_fd = (uint32_t)buf.fd;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
	p.uverbs_fd = (uint32_t)fd;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
	/* An entry the caller holds no reference on. */
	p.uverbs_fd = (uint32_t)buf.fd;
	p.id = id + 1000;
	CHECK(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p) < 0);
	CHECK_EQ(mcx_list_find(fd, id)->nr_mrs, 0);

	CHECK_OK(mcx_unpin(fd, id));
	close(fd2);
	close(fd);
	host_dmabuf_destroy(&buf);
}

/*
 * The struct can be read but not written back: EFAULT, and the call loses
 * nothing: no reference taken, no fd installed.
 */
static void t_readonly_arg(void)
{
	struct fixture fx;
	int before;

	fixture_setup(&fx);
	before = mcx_next_fd();
	{
		/* A hit that cannot report its id. */
		struct mcxfer_pin p = {
			.size = sizeof(p), .dmabuf_fd = (uint32_t)fx.buf.fd, .length = MCX_PAGE,
		};

		CHECK_ERR(mcx_ioctl(fx.fd, MCXFER_IOC_PIN, mcx_readonly_copy(&p, sizeof(p))), EFAULT);
		CHECK_EQ(entry_of_refs(fx.fd, fx.id), 1);
		/*
		 * A miss that cannot report its id: no entry stays behind, not
		 * even a lingering one.
		 */
		p.offset = MCX_PAGE;
		CHECK_ERR(mcx_ioctl(fx.fd, MCXFER_IOC_PIN, mcx_readonly_copy(&p, sizeof(p))), EFAULT);
		{
			struct mcxfer_info info;

			CHECK_OK(mcx_info(fx.fd, &info));
			CHECK_EQ(info.entries_active, 1);
			CHECK_EQ(info.entries, 1);
		}
	}
	{
		struct mcxfer_lookup l = {
			.size = sizeof(l), .id = fx.id,
			.flags = MCXFER_LOOKUP_REF | MCXFER_LOOKUP_EXPORT_FD,
		};

		CHECK_ERR(mcx_ioctl(fx.fd, MCXFER_IOC_LOOKUP, mcx_readonly_copy(&l, sizeof(l))), EFAULT);
		CHECK_EQ(entry_of_refs(fx.fd, fx.id), 1);
	}
	{
		struct mcxfer_info i = { .size = sizeof(i) };
		struct mcxfer_list l = {
			.size = sizeof(l), .entries = (uintptr_t)fx.list_buf,
			.entry_size = sizeof(fx.list_buf[0]), .count = 4,
		};
		struct mcxfer_evict e = { .size = sizeof(e), .flags = MCXFER_EVICT_IDLE };

		CHECK_ERR(mcx_ioctl(fx.fd, MCXFER_IOC_GET_INFO, mcx_readonly_copy(&i, sizeof(i))), EFAULT);
		CHECK_ERR(mcx_ioctl(fx.fd, MCXFER_IOC_LIST, mcx_readonly_copy(&l, sizeof(l))), EFAULT);
		/* The records themselves into read-only memory. */
		l.entries = (uintptr_t)mcx_readonly_copy(&l, sizeof(l));
		CHECK_ERR(mcx_ioctl(fx.fd, MCXFER_IOC_LIST, &l), EFAULT);
		CHECK_ERR(mcx_ioctl(fx.fd, MCXFER_IOC_EVICT, mcx_readonly_copy(&e, sizeof(e))), EFAULT);
	}
	CHECK_EQ(mcx_next_fd(), before);
	fixture_teardown(&fx);
}

/* No fd left for EXPORT_FD: EMFILE, and the reference is not taken either. */
static void t_no_fd_left(void)
{
	struct rlimit rl;
	struct fixture fx;
	struct mcxfer_lookup l;
	int lowest;

	fixture_setup(&fx);
	lowest = mcx_next_fd();
	REQUIRE(lowest > 0);
	REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_cur = (rlim_t)lowest;
	REQUIRE(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	CHECK_ERR(mcx_lookup_id(fx.fd, fx.id, MCXFER_LOOKUP_EXPORT_FD | MCXFER_LOOKUP_REF, &l),
		  EMFILE);
	CHECK_EQ(entry_of_refs(fx.fd, fx.id), 1);
	/* Without EXPORT_FD no fd is needed. */
	CHECK_OK(mcx_lookup_id(fx.fd, fx.id, MCXFER_LOOKUP_REF, &l));
	CHECK_EQ(entry_of_refs(fx.fd, fx.id), 2);
	CHECK_OK(mcx_unpin(fx.fd, fx.id));
	rl.rlim_cur = rl.rlim_max;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	fixture_teardown(&fx);
}

/* QUERY_DEVICE: what the module reads for anybody, and its errors. */
static void t_query_device(void)
{
	struct mcxfer_device_info q;
	int fd = mcx_open();

	REQUIRE(fd >= 0);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_QUERY_DEVICE, &q), EINVAL);
	q.ibdev = (uintptr_t)"";
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_QUERY_DEVICE, &q), ENODEV);
	q.ibdev = (uintptr_t)"nosuchdev9";
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_QUERY_DEVICE, &q), ENODEV);
	q.ibdev = (uintptr_t)mcx_fault_page();
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_QUERY_DEVICE, &q), EFAULT);
	q.ibdev = (uintptr_t)"rxe0";
	if (mcx_ioctl(fd, MCXFER_IOC_QUERY_DEVICE, &q) == -ENODEV) {
		close(fd);
		mt_skip("no rxe0");
	}
	/* rxe runs over virtio-net: its PCI function is the virtio one */
	CHECK_EQ(q.size, sizeof(q));
	CHECKF(q.relaxed_ordering == MCXFER_RO_ENABLED ||
	       q.relaxed_ordering == MCXFER_RO_DISABLED,
	       "relaxed_ordering %u", q.relaxed_ordering);
	CHECKF(strlen((const char *)q.pci_name) == 12 && ((const char *)q.pci_name)[4] == ':',
	       "pci_name '%.32s'", (const char *)q.pci_name);
	CHECK_EQ(q.reserved[0], 0);
	CHECK_EQ(q.reserved[1], 0);
	close(fd);
}

/* PUBLISH_CTX / GET_CTX / LIST_HOLDERS argument errors. */
static void t_ctx_holders_errors(void)
{
	struct mcxfer_holder_info h[2];
	struct mcxfer_holders l;
	struct mcxfer_ctx c;
	struct host_dmabuf buf;
	uint64_t id;
	int fd;

	mcx_dmabuf(MCX_PAGE, &buf);
	fd = mcx_open();
	REQUIRE(fd >= 0);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.uverbs_fd = (uint32_t)-1;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_CTX, &c), EBADF);
	c.uverbs_fd = (uint32_t)buf.fd;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_CTX, &c), EINVAL);
	/* the device is the file's, never the caller's word */
	c.ibdev = (uintptr_t)"rxe0";
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_CTX, &c), EINVAL);

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_CTX, &c), EINVAL);
	c.ibdev = (uintptr_t)"nosuchdev9";
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_CTX, &c), ENODEV);
	c.ibdev = (uintptr_t)mcx_fault_page();
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_CTX, &c), EFAULT);
	/* uverbs_fd and pd_handle are outputs */
	c.ibdev = (uintptr_t)"rxe0";
	c.pd_handle = 1;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_CTX, &c), EINVAL);

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.id = id;
	l.count = 2;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LIST_HOLDERS, &l), EINVAL);
	l.holders = (uintptr_t)h;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LIST_HOLDERS, &l), EINVAL);
	l.holder_size = 4097;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LIST_HOLDERS, &l), EINVAL);
	l.holder_size = sizeof(h[0]);
	l.id = id + 100000;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LIST_HOLDERS, &l), ENOENT);
	l.id = id;
	l.holders = (uintptr_t)mcx_fault_page();
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LIST_HOLDERS, &l), EFAULT);
	/* count 0 asks only for the total */
	l.holders = 0;
	l.count = 0;
	CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_LIST_HOLDERS, &l));
	CHECK_EQ(l.total, 1);
	CHECK_EQ(l.count, 0);
	/* a record prefix, and a larger record zero-filled */
	memset(h, 0xff, sizeof(h));
	l.holders = (uintptr_t)h;
	l.holder_size = 8;
	l.count = 2;
	CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_LIST_HOLDERS, &l));
	CHECK_EQ(l.count, 1);
	CHECK_EQ(h[0].pid, (uint32_t)getpid());
	CHECK_EQ(h[0].refs, 1);
	CHECK_EQ(h[0].flags, 0xffffffffu);
	memset(h, 0xff, sizeof(h));
	l.holder_size = sizeof(h);
	l.count = 1;
	CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_LIST_HOLDERS, &l));
	CHECK_EQ(h[0].uid, (uint32_t)geteuid());
	CHECK_EQ(h[0].flags, 0);
	CHECK_EQ(h[1].pid, 0);
	CHECK_EQ(h[1].comm[1], 0);

	CHECK_OK(mcx_unpin(fd, id));
	close(fd);
	host_dmabuf_destroy(&buf);
}

static const struct mt_test tests[] = {
	{ "get_info", t_get_info, 0 },
	{ "size_too_small", t_size_too_small, 0 },
	{ "size_nonzero_tail_e2big", t_size_nonzero_tail, 0 },
	{ "size_tail_faults", t_size_tail_faults, 0 },
	{ "zero_tail_accepted", t_zero_tail_accepted, 0 },
	{ "unknown_flags", t_unknown_flags, 0 },
	{ "reserved_nonzero", t_reserved_nonzero, 0 },
	{ "unknown_command", t_unknown_command, 0 },
	{ "arg_fault", t_arg_fault, 0 },
	{ "pin_errors", t_pin_errors, 0 },
	{ "pin_names", t_pin_names, 0 },
	{ "unpin_errors", t_unpin_errors, 0 },
	{ "lookup_errors", t_lookup_errors, 0 },
	{ "evict_errors", t_evict_errors, 0 },
	{ "list_args", t_list_args, 0 },
	{ "mr_errors", t_mr_errors, 0 },
	{ "readonly_arg", t_readonly_arg, 0 },
	{ "no_fd_left", t_no_fd_left, 0 },
	{ "query_device", t_query_device, 0 },
	{ "ctx_holders_errors", t_ctx_holders_errors, 0 },
};

int main(int argc, char **argv)
{
	static const struct mt_suite suite = {
		.name = "mcxfer_abi",
		.tests = tests,
		.nr_tests = MT_ARRAY_SIZE(tests),
		.before_each = mcx_before_each,
		.after_each = mcx_after_each,
	};

	return mt_main(&suite, argc, argv);
}
