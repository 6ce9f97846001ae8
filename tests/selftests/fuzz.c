// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fuzz of /dev/mcxfer's ioctls: for every command, N calls (default
 * 100,000) with random sizes, flags, fields and bytes, the argument placed
 * so that it sometimes runs into an unmapped page, and pointers drawn from
 * a pool of unmapped pages, kernel and non-canonical addresses and small
 * scratch buffers (never memory the program cares about); plus N calls of
 * random command numbers in and around the mcxfer ioctl range.
 *
 * Checks: known commands fail only with errnos the ABI allows, unknown ones
 * with ENOTTY; afterwards a normal pin/unpin works and, once our fds are
 * closed and idle entries evicted, nothing is left.  The seed is printed;
 * -s SEED replays a run.
 *
 *   mcxfer_fuzz [-n CALLS_PER_COMMAND] [-s SEED]
 */
#define _GNU_SOURCE
#include "harness.h"
#include "mcx_util.h"

#include <fcntl.h>
#include <infiniband/verbs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define NR_CMDS		8
#define ARENA_PAGES	2		/* second page is PROT_NONE */
#define MAX_ERRNO	134

static const unsigned long cmds[NR_CMDS] = {
	MCXFER_IOC_GET_INFO, MCXFER_IOC_PIN, MCXFER_IOC_UNPIN, MCXFER_IOC_LOOKUP,
	MCXFER_IOC_PUBLISH_MR, MCXFER_IOC_GET_MR, MCXFER_IOC_LIST, MCXFER_IOC_EVICT,
};
static const char *const cmd_names[NR_CMDS] = {
	"GET_INFO", "PIN", "UNPIN", "LOOKUP", "PUBLISH_MR", "GET_MR", "LIST", "EVICT",
};
static const size_t cmd_sizes[NR_CMDS] = {
	sizeof(struct mcxfer_info), sizeof(struct mcxfer_pin), sizeof(struct mcxfer_unpin),
	sizeof(struct mcxfer_lookup), sizeof(struct mcxfer_publish_mr),
	sizeof(struct mcxfer_get_mr), sizeof(struct mcxfer_list), sizeof(struct mcxfer_evict),
};

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static bool chance(unsigned int pct)
{
	return rnd() % 100 < pct;
}

/* Where arguments and pointed-to data live. */
static unsigned char *arena;		/* ARENA_PAGES, the last one faults */
static unsigned char *scratch;		/* small buffers the module may write */
static size_t scratch_len;

static int pool_fds[16];
static unsigned int nr_pool_fds;
static int mcx_fd;
static uint64_t known_ids[64];
static unsigned int nr_known_ids;

static unsigned long long counts[NR_CMDS + 1][MAX_ERRNO + 1];
static unsigned long long successes[NR_CMDS + 1];
static unsigned long long bad;

/* A user pointer the module may see: never into memory we care about. */
static uint64_t rnd_ptr(void)
{
	switch (rnd() % 9) {
	case 0: return 0;
	case 1: return (uintptr_t)mcx_fault_page();
	case 2: return (uintptr_t)mcx_fault_page() + rnd() % MCX_PAGE;
	case 3: return 0xffff888000000000ULL + (rnd() & 0xfffff000);	/* kernel */
	case 4: return 0x0000800000000000ULL + (rnd() & 0xfff);		/* non-canonical */
	case 5: return rnd();
	case 6: /* scratch near its end, so reads may run into the fault page */
		return (uintptr_t)(scratch + scratch_len - 1 - rnd() % 128);
	default: return (uintptr_t)(scratch + rnd() % (scratch_len / 2));
	}
}

/* A name pointer: sometimes a valid name, sometimes junk. */
static uint64_t rnd_name(void)
{
	unsigned char *p = scratch + (rnd() % 8) * 128;
	size_t len;

	switch (rnd() % 4) {
	case 0:
		len = 1 + rnd() % 20;
		for (size_t i = 0; i < len; i++)
			p[i] = "abcxyz019/._:-"[rnd() % 14];
		p[0] = 'f';
		p[len] = '\0';
		return (uintptr_t)p;
	case 1:
		for (size_t i = 0; i < 128; i++)
			p[i] = (unsigned char)rnd();
		return (uintptr_t)p;
	case 2:
		return (uintptr_t)"fuzz/a";
	default:
		return rnd_ptr();
	}
}

static uint32_t rnd_fd(void)
{
	if (chance(10))
		return (uint32_t)rnd();
	return (uint32_t)pool_fds[rnd() % nr_pool_fds];
}

static uint64_t rnd_id(void)
{
	if (nr_known_ids && chance(60))
		return known_ids[rnd() % nr_known_ids];
	switch (rnd() % 4) {
	case 0: return 0;
	case 1: return rnd() % 64;
	case 2: return UINT64_MAX - rnd() % 4;
	default: return rnd();
	}
}

static uint64_t rnd_u64_small(uint64_t page_mult)
{
	switch (rnd() % 5) {
	case 0: return 0;
	case 1: return rnd();
	case 2: return rnd() % 8192;
	default: return (rnd() % 6) * page_mult;
	}
}

static uint32_t rnd_flags(uint32_t known)
{
	if (chance(60))
		return (uint32_t)rnd() & known;
	return (uint32_t)rnd();
}

static uint32_t rnd_size(size_t size)
{
	switch (rnd() % 10) {
	case 0: return 0;
	case 1: return (uint32_t)rnd();
	case 2: return (uint32_t)(rnd() % (size + 64));
	case 3: return (uint32_t)(size + 8 * (1 + rnd() % 8));
	default: return (uint32_t)size;
	}
}

/* Make the struct for command c at arg; bytes past it are random or zero. */
static void fill(unsigned int c, unsigned char *arg, size_t room)
{
	size_t size = cmd_sizes[c];

	for (size_t i = 0; i < room; i++)
		arg[i] = chance(50) ? 0 : (unsigned char)rnd();
	if (chance(10))
		return;		/* all random */
	/* A zero tail most of the time, so that larger sizes get past E2BIG. */
	if (room > size && chance(70))
		memset(arg + size, 0, room - size);
	if (chance(70))
		memset(arg, 0, size < room ? size : room);
	if (room < size)
		return;
	switch (cmds[c]) {
	case MCXFER_IOC_PIN: {
		struct mcxfer_pin *p = (void *)arg;

		p->flags = rnd_flags(MCXFER_PIN_FLAGS);
		p->dmabuf_fd = rnd_fd();
		p->share = (uint32_t)(chance(80) ? rnd() % 3 : rnd());
		p->offset = rnd_u64_small(MCX_PAGE);
		p->length = rnd_u64_small(MCX_PAGE);
		p->name = chance(50) ? 0 : rnd_name();
		p->ibdev = chance(80) ? 0 : (chance(50) ? (uintptr_t)"rxe0" : rnd_name());
		break;
	}
	case MCXFER_IOC_UNPIN:
		((struct mcxfer_unpin *)arg)->id = rnd_id();
		break;
	case MCXFER_IOC_LOOKUP: {
		struct mcxfer_lookup *l = (void *)arg;

		l->flags = rnd_flags(MCXFER_LOOKUP_FLAGS);
		l->name = chance(50) ? 0 : rnd_name();
		l->id = rnd_id();
		break;
	}
	case MCXFER_IOC_PUBLISH_MR: {
		struct mcxfer_publish_mr *p = (void *)arg;

		p->id = rnd_id();
		p->uverbs_fd = rnd_fd();
		p->pd_handle = (uint32_t)(rnd() % 4);
		p->mr_handle = (uint32_t)(rnd() % 4);
		p->length = rnd_u64_small(MCX_PAGE);
		break;
	}
	case MCXFER_IOC_GET_MR: {
		struct mcxfer_get_mr *g = (void *)arg;

		g->id = rnd_id();
		g->ibdev = chance(50) ? 0 : (chance(50) ? (uintptr_t)"rxe0" : rnd_name());
		g->index = (uint32_t)(rnd() % 3);
		break;
	}
	case MCXFER_IOC_LIST: {
		struct mcxfer_list *l = (void *)arg;

		l->cursor = chance(50) ? 0 : rnd_id();
		l->entries = chance(50) ? (uintptr_t)scratch : rnd_ptr();
		l->entry_size = (uint32_t)(chance(50) ? sizeof(struct mcxfer_entry_info)
						      : rnd() % 512);
		l->count = (uint32_t)(chance(80) ? rnd() % 4 : rnd());
		/* The scratch area holds 4 full records; more would be ours to lose. */
		if (l->entries == (uintptr_t)scratch &&
		    (uint64_t)l->entry_size * l->count > scratch_len)
			l->count = (uint32_t)(scratch_len / (l->entry_size ? l->entry_size : 1));
		break;
	}
	case MCXFER_IOC_EVICT: {
		struct mcxfer_evict *e = (void *)arg;

		e->flags = rnd_flags(MCXFER_EVICT_FLAGS);
		e->id = chance(50) ? 0 : rnd_id();
		break;
	}
	default:
		break;
	}
	((uint32_t *)arg)[0] = rnd_size(size);
}

static bool errno_allowed(int err)
{
	switch (err) {
	case EINVAL: case E2BIG: case EFAULT: case EBADF: case ENOENT:
	case ENAMETOOLONG: case EEXIST: case EBUSY: case EPERM: case ERANGE:
	case EOVERFLOW: case ENODEV: case ENOSPC: case EDQUOT: case ENOMEM:
	case EOPNOTSUPP: case EACCES:
		return true;
	default:
		return false;
	}
}

/* What a successful call hands us that must not leak. */
static void after_success(unsigned int c, const unsigned char *arg)
{
	switch (cmds[c]) {
	case MCXFER_IOC_PIN: {
		const struct mcxfer_pin *p = (const void *)arg;

		known_ids[nr_known_ids++ % MT_ARRAY_SIZE(known_ids)] = p->id;
		if (nr_known_ids > MT_ARRAY_SIZE(known_ids))
			nr_known_ids = MT_ARRAY_SIZE(known_ids);
		break;
	}
	case MCXFER_IOC_LOOKUP: {
		const struct mcxfer_lookup *l = (const void *)arg;

		if (l->flags & MCXFER_LOOKUP_EXPORT_FD)
			close((int)l->fd);
		break;
	}
	case MCXFER_IOC_GET_MR:
		close((int)((const struct mcxfer_get_mr *)arg)->uverbs_fd);
		break;
	default:
		break;
	}
}

static void one_call(unsigned int c)
{
	size_t room = cmd_sizes[c] + 64;
	unsigned char *arg;
	int r;

	/* Mostly whole, sometimes cut off by the faulting page. */
	if (chance(90))
		arg = arena + MCX_PAGE - 1024;
	else
		arg = arena + MCX_PAGE - rnd() % (room + 1);
	if ((size_t)(arena + MCX_PAGE - arg) < room)
		room = (size_t)(arena + MCX_PAGE - arg);
	fill(c, arg, room);
	r = mcx_ioctl(mcx_fd, cmds[c], chance(2) ? (void *)(uintptr_t)rnd_ptr() : arg);
	if (r >= 0) {
		successes[c]++;
		if (r == 0 && room >= cmd_sizes[c])
			after_success(c, arg);
		return;
	}
	counts[c][-r <= MAX_ERRNO ? -r : 0]++;
	if (!errno_allowed(-r) && bad++ < 20)
		mt_log("%s: unexpected %s", cmd_names[c], mt_errname(-r));
}

/* A command number in or around the mcxfer range that is not a command. */
static void one_random_cmd(void)
{
	unsigned long cmd;
	unsigned char *arg = arena + MCX_PAGE - 1024;
	int r;

	do {
		unsigned int type = MCXFER_IOC_TYPE - 1 + (unsigned int)(rnd() % 3);
		unsigned int nr = (unsigned int)(chance(50) ? rnd() % 16 : rnd() % 256);
		unsigned int dir = (unsigned int)(rnd() % 4);
		unsigned int size = (unsigned int)(chance(50) ? 0 : rnd() % 512);

		cmd = _IOC(dir, type, nr, size);
	} while (cmd == MCXFER_IOC_GET_INFO || cmd == MCXFER_IOC_PIN ||
		 cmd == MCXFER_IOC_UNPIN || cmd == MCXFER_IOC_LOOKUP ||
		 cmd == MCXFER_IOC_PUBLISH_MR || cmd == MCXFER_IOC_GET_MR ||
		 cmd == MCXFER_IOC_LIST || cmd == MCXFER_IOC_EVICT);
	for (size_t i = 0; i < 1024; i++)
		arg[i] = (unsigned char)rnd();
	r = mcx_ioctl(mcx_fd, cmd, arg);
	if (r >= 0)
		successes[NR_CMDS]++;
	else
		counts[NR_CMDS][-r <= MAX_ERRNO ? -r : 0]++;
	if (r != -ENOTTY && bad++ < 20)
		mt_log("cmd 0x%lx: got %s, want ENOTTY", cmd, r >= 0 ? "success" : mt_errname(-r));
}

/* Drop what the fuzzing accumulated: our references and idle entries. */
static int recycle(void)
{
	close(mcx_fd);
	pool_fds[0] = mcx_fd = mcx_open();
	nr_known_ids = 0;
	if (mcx_fd < 0)
		return mcx_fd;
	return (int)(mcx_evict_all_idle() < 0 ? -EIO : 0);
}

int main(int argc, char **argv)
{
	unsigned long long per_cmd = 100000, seed;
	struct host_dmabuf bufs[2];
	struct ibv_context *ctx = NULL;
	struct mcxfer_info info;
	int passed = 0, failed = 0, opt, pfd[2], devnull, num = 0;
	unsigned long long total = 0;

	seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 24);
	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		switch (opt) {
		case 'n': per_cmd = strtoull(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-n CALLS_PER_COMMAND] [-s SEED]\n", argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	rng = seed | 1;
	printf("TAP version 13\n1..3\n");
	mt_log("fuzz: seed %llu, %llu calls per command", seed, per_cmd);

	arena = mmap(NULL, ARENA_PAGES * MCX_PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	scratch_len = 4 * sizeof(struct mcxfer_entry_info);
	scratch = mcx_edge_bytes(scratch_len);
	if (arena == MAP_FAILED || mprotect(arena + MCX_PAGE, MCX_PAGE, PROT_NONE)) {
		perror("mmap");
		return 1;
	}
	mcx_fd = mcx_open();
	if (mcx_fd < 0 || host_dmabuf_create(4 * MCX_PAGE, &bufs[0]) ||
	    host_dmabuf_create(MCX_PAGE, &bufs[1]) || pipe(pfd)) {
		printf("not ok 1 fuzz_errnos # setup failed (open: %s)\n", mt_errname(-mcx_fd));
		printf("0 passed, 1 failed\n");
		return 1;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pool_fds[nr_pool_fds++] = mcx_fd;	/* slot 0: follows recycle() */
	pool_fds[nr_pool_fds++] = bufs[0].fd;
	pool_fds[nr_pool_fds++] = bufs[0].fd;
	pool_fds[nr_pool_fds++] = bufs[1].fd;
	pool_fds[nr_pool_fds++] = pfd[0];
	pool_fds[nr_pool_fds++] = devnull;
	pool_fds[nr_pool_fds++] = -1;
	pool_fds[nr_pool_fds++] = 0;
	{
		/* A verbs command fd, so that PUBLISH_MR gets past its fd check. */
		struct ibv_device **list;
		int n;

		list = ibv_get_device_list(&n);
		if (list && n > 0)
			ctx = ibv_open_device(list[0]);
		if (list)
			ibv_free_device_list(list);
		if (ctx)
			pool_fds[nr_pool_fds++] = ctx->cmd_fd;
		else
			mt_log("no verbs device: PUBLISH_MR fuzzed without a uverbs fd");
	}

	for (unsigned long long i = 0; i < per_cmd; i++) {
		for (unsigned int c = 0; c < NR_CMDS; c++)
			one_call(c);
		one_random_cmd();
		total += NR_CMDS + 1;
		if (i % 5000 == 4999 && recycle()) {
			mt_log("recycle failed after %llu calls", total);
			bad++;
			break;
		}
	}
	for (unsigned int c = 0; c <= NR_CMDS; c++) {
		char line[512];
		int len = snprintf(line, sizeof(line), "%-10s ok %llu",
				   c < NR_CMDS ? cmd_names[c] : "random", successes[c]);

		for (int e = 0; e <= MAX_ERRNO && len < (int)sizeof(line) - 32; e++)
			if (counts[c][e])
				len += snprintf(line + len, sizeof(line) - (size_t)len, " %s %llu",
						e ? mt_errname(e) : "other", counts[c][e]);
		mt_log("%s", line);
	}
	mt_log("%llu calls", total);

	num++;
	if (bad) {
		printf("not ok %d fuzz_errnos # %llu calls failed with an errno the ABI does not allow\n",
		       num, bad);
		failed++;
	} else {
		printf("ok %d fuzz_errnos\n", num);
		passed++;
	}

	/* The module still works. */
	num++;
	{
		uint64_t id = 0;
		uint32_t of = 7;
		int r;

		recycle();
		r = mcx_pin(mcx_fd, bufs[1].fd, 0, MCX_PAGE, "fuzz/after", 0, 0, &id, &of);
		if (!r)
			r = mcx_unpin(mcx_fd, id);
		if (!r && of == 0) {
			printf("ok %d fuzz_module_still_works\n", num);
			passed++;
		} else {
			printf("not ok %d fuzz_module_still_works # %s\n", num, mt_errname(-r));
			failed++;
		}
	}

	/* Everything released. */
	num++;
	close(mcx_fd);
	if (ctx)
		ibv_close_device(ctx);
	host_dmabuf_destroy(&bufs[0]);
	host_dmabuf_destroy(&bufs[1]);
	if (mcx_evict_all_idle() >= 0 && mcx_info_global(&info) == 0 && info.entries == 0 &&
	    info.bytes_pinned == 0 && info.mrs == 0 && info.clients == 1) {
		printf("ok %d fuzz_all_released\n", num);
		passed++;
	} else {
		printf("not ok %d fuzz_all_released # entries %llu bytes %llu mrs %llu clients %llu\n",
		       num, (unsigned long long)info.entries,
		       (unsigned long long)info.bytes_pinned, (unsigned long long)info.mrs,
		       (unsigned long long)info.clients);
		failed++;
	}
	close(pfd[0]);
	close(pfd[1]);
	close(devnull);
	mt_log("seed %llu", seed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
