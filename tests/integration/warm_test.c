// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * warm_test: the processes of the warm-start integration test
 * (tests/integration/warm-guest.sh), each one step that checks what it
 * should see and says so on one line.
 *
 *   warm_test make NAME SIZE [--kill] [--share owner|group|all]
 *                  [--src memfd|vgem] [--expect-err ERRNO]
 *       process A: SIZE bytes (a memfd, or a vgem dma-buf) filled with
 *       pattern seed 0, registered as NAME with every NIC, exported; prints
 *       "make: entry ID"; exits (--kill: SIGKILLs itself).  --expect-err:
 *       the engine or the registration must fail with exactly that errno.
 *   warm_test serve NAME LISTEN [--expect-warm] [--expect-revoke] [--fallback]
 *       process B: opens NAME, serves it on LISTEN until a peer stamps its
 *       end, checks every byte.  --expect-warm: no reg_mr and imported MRs,
 *       or exit 77 (skip) when the devices' contexts are not shared.
 *       --expect-revoke: afterwards wait until the registration is dead.
 *       --fallback: the name must be gone (-ENOENT); register SIZE of its
 *       own cold instead (mcx_mem_register_named, a miss) and exit.
 *   warm_test write PEER [--seed N] [--expect-fail-after]
 *       the other host: writes a seeded pattern through the peer's one
 *       exported registration, reads it back, stamps the end.
 *       --expect-fail-after: then keeps reading until a request fails,
 *       which must happen with an error, not a timeout.
 *   warm_test other NAME OWNER_UID [--expect-own fail|ok]
 *       a process of another uid: looks NAME of OWNER_UID up, maps its
 *       dma-buf and checks pattern seed 0, gets -EPERM for its MR handles,
 *       then opens it through an engine of its own (which must register
 *       its own MRs: ok, or fail with a clear error where the NICs cannot
 *       register that memory: soft-RoCE).
 *   warm_test zero
 *       the registry's entries, MRs, bytes pinned and shared contexts are
 *       all 0.
 *
 * Exit status: 0 as expected, 1 not, 2 bad usage, 77 skipped (why on a
 * "SKIP:" line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mcxfer.h"
#include "common/clock.h"
#include "common/host_dmabuf.h"
#include "common/parse.h"
#include "pattern.h"

#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define EXIT_SKIP	77

#define STAMP_MAGIC	0x6d6378666572ULL	/* "mcxfer" */
#define STAMP_BYTES	16
#define OWNER_SEED	0			/* process A's fill */

static const char *devices;
static unsigned int timeout_s = 300;

static const struct {
	const char *name;
	int err;
} errnos[] = {
	{ "ENODEV", ENODEV }, { "ENOENT", ENOENT }, { "EOPNOTSUPP", EOPNOTSUPP },
	{ "EDQUOT", EDQUOT }, { "ENOSPC", ENOSPC }, { "EPERM", EPERM },
	{ "EACCES", EACCES }, { "EIDRM", EIDRM }, { "EFAULT", EFAULT },
	{ "EEXIST", EEXIST },
};

static int errno_by_name(const char *s)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(s, errnos[i].name))
			return errnos[i].err;
	return 0;
}

static int engine(const char *listen, int registry, struct mcx_engine **eng)
{
	struct mcx_engine_opts o;

	mcx_engine_opts_init(&o);
	o.devices = devices;
	o.listen = listen;
	o.registry = registry;
	return mcx_engine_create(&o, eng);
}

static void print_stats(const char *who, struct mcx_engine *eng)
{
	struct mcx_engine_stats st;

	if (mcx_engine_stats(eng, &st))
		return;
	printf("%s: reg_mr_calls %" PRIu64 ", mr_imports %" PRIu64 ", lazy_regs %" PRIu64
	       ", named hits %" PRIu64 " misses %" PRIu64 ", %u of %u device contexts shared\n",
	       who, st.reg_mr_calls, st.mr_imports, st.lazy_regs, st.named_hits,
	       st.named_misses, st.shared_ctx, mcx_engine_nics(eng));
}

/* ---- make ---- */

/* A memfd or vgem dma-buf of size bytes, mapped and filled. */
struct backing {
	int src;
	int fd;
	void *map;
	struct host_dmabuf vgem;
};

static int backing_make(const char *src, uint64_t size, struct backing *b)
{
	memset(b, 0, sizeof(*b));
	b->fd = -1;
	b->vgem.fd = b->vgem.backing_fd = -1;
	if (!strcmp(src, "vgem")) {
		/* Not mapped here: vgem's mapping is nothing reg_mr takes. */
		b->src = MCX_NAMED_DMABUF;
		if (host_dmabuf_create(size, &b->vgem))
			return -ENODEV;
		b->fd = b->vgem.fd;
		return 0;
	}
	b->src = MCX_NAMED_MEMFD;
	b->fd = memfd_create("warm_test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (b->fd < 0 || ftruncate(b->fd, (off_t)size))
		return -errno;
	b->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return -errno;
	}
	pattern_fill(b->map, size / 8, OWNER_SEED);
	return 0;
}

static int cmd_make(const char *name, uint64_t size, bool kill_self, int share, const char *src,
		    int expect_err)
{
	struct mcx_mem_named_req req = { 0 };
	struct mcx_engine *eng = NULL;
	struct mcx_mem_info mi;
	struct mcx_mem *mem = NULL;
	struct backing b;
	const char *step = "mcx_engine_create";
	uint64_t t0 = now_ns();
	int ret;

	ret = backing_make(src, size, &b);
	if (ret) {
		printf("make: cannot make %s memory of %" PRIu64 " bytes: %s\n", src, size,
		       strerror(-ret));
		return EXIT_FAIL;
	}
	ret = engine(NULL, MCX_REGISTRY_REQUIRED, &eng);
	if (!ret) {
		step = "mcx_mem_register_named";
		req.name = name;
		req.src = b.src;
		req.fd = b.fd;
		req.len = size;
		req.addr = b.map;
		req.flags = MCX_MEM_EXPORT;
		req.share = share;
		ret = mcx_mem_register_named(eng, &req, &mem);
	}
	if (expect_err) {
		if (ret == -expect_err) {
			printf("make: %s failed as expected: %s\n", step, mcx_strerror(ret));
			ret = 0;
		} else {
			printf("make: %s: %s, expected %s\n", step,
			       ret ? mcx_strerror(ret) : "succeeded", mcx_strerror(-expect_err));
			ret = -EPROTO;
		}
		if (mem)
			mcx_mem_deregister(mem);
		if (eng)
			mcx_engine_destroy(eng);
		return ret ? EXIT_FAIL : 0;
	}
	if (ret) {
		printf("make: %s(%s): %s\n", step, name, mcx_strerror(ret));
		if (eng)
			mcx_engine_destroy(eng);
		return EXIT_FAIL;
	}
	mcx_mem_query(mem, &mi);
	printf("make: entry %" PRIu64 " ('%s', %" PRIu64 " bytes) registered cold in %.1f ms\n",
	       mi.registry_id, name, size, (double)(now_ns() - t0) / 1e6);
	print_stats("make", eng);
	if (kill_self) {
		printf("make: SIGKILL to itself\n");
		fflush(stdout);
		raise(SIGKILL);
	}
	mcx_mem_deregister(mem);
	mcx_engine_destroy(eng);
	return 0;
}

/* ---- serve ---- */

static int check_warm(struct mcx_engine *eng, struct mcx_mem *mem)
{
	struct mcx_engine_stats st;
	struct mcx_mem_info mi;

	if (mcx_engine_stats(eng, &st) || mcx_mem_query(mem, &mi))
		return -EIO;
	if (st.reg_mr_calls || !st.mr_imports || st.lazy_regs || !mi.warm) {
		printf("serve: not a warm open: reg_mr_calls %" PRIu64 ", mr_imports %" PRIu64
		       ", lazy_regs %" PRIu64 ", warm %d\n", st.reg_mr_calls, st.mr_imports,
		       st.lazy_regs, mi.warm);
		return -EPROTO;
	}
	printf("serve: warm: no MR registered, %" PRIu64 " imported\n", st.mr_imports);
	return 0;
}

/* No entry left: register memory of our own under the name, cold. */
static int cold_fallback(struct mcx_engine *eng, const char *name, uint64_t size)
{
	struct mcx_mem_named_req req = { 0 };
	struct mcx_engine_stats st;
	struct mcx_mem *mem;
	struct backing b;
	int ret;

	ret = backing_make("memfd", size, &b);
	if (ret) {
		printf("serve: memfd: %s\n", strerror(-ret));
		return ret;
	}
	req.name = name;
	req.src = MCX_NAMED_MEMFD;
	req.fd = b.fd;
	req.len = size;
	req.addr = b.map;
	req.flags = MCX_MEM_EXPORT;
	ret = mcx_mem_register_named(eng, &req, &mem);
	if (ret) {
		printf("serve: cold fallback: mcx_mem_register_named: %s\n", mcx_strerror(ret));
		return ret;
	}
	mcx_engine_stats(eng, &st);
	print_stats("serve", eng);
	if (st.named_misses != 1 || st.named_hits || !st.reg_mr_calls || st.mr_imports) {
		printf("serve: the fallback was not a cold miss\n");
		ret = -EPROTO;
	} else {
		printf("serve: fell back to a cold registration: %" PRIu64 " MRs registered\n",
		       st.reg_mr_calls);
	}
	mcx_mem_deregister(mem);
	return ret;
}

static int wait_dead(struct mcx_mem *mem)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_s * 1000000000ULL;
	struct mcx_mem_info mi;

	while (!mcx_mem_query(mem, &mi) && !mi.dead) {
		if (now_ns() > deadline) {
			printf("serve: the registration is not dead %u s later\n", timeout_s);
			return -ETIMEDOUT;
		}
		usleep(50000);
	}
	printf("serve: the registration reports dead\n");
	return 0;
}

static int cmd_serve(const char *name, const char *listen, bool expect_warm, bool expect_revoke,
		     uint64_t fallback_size)
{
	const volatile uint64_t *stamp;
	struct mcx_engine_stats st;
	struct mcx_engine *eng;
	struct mcx_mem_info mi;
	struct mcx_mem *mem;
	char addr[64] = "";
	uint64_t t0 = now_ns(), deadline;
	size_t bad, words;
	int ret;

	ret = engine(listen, MCX_REGISTRY_REQUIRED, &eng);
	if (ret) {
		printf("serve: mcx_engine_create: %s\n", mcx_strerror(ret));
		return EXIT_FAIL;
	}
	if (expect_warm && !mcx_engine_stats(eng, &st) && st.shared_ctx < mcx_engine_nics(eng)) {
		printf("SKIP: %u of %u device contexts are the user's shared ones: this build cannot open warm on these devices (needs the shared/adopted context of the verbs transport)\n",
		       st.shared_ctx, mcx_engine_nics(eng));
		mcx_engine_destroy(eng);
		return EXIT_SKIP;
	}
	ret = mcx_mem_open_named(eng, name, MCX_UID_SELF, MCX_MEM_EXPORT, &mem);
	if (fallback_size) {
		if (ret != -ENOENT) {
			printf("serve: open of '%s': %s, expected no such entry\n", name,
			       ret ? mcx_strerror(ret) : "found");
			if (!ret)
				mcx_mem_deregister(mem);
			mcx_engine_destroy(eng);
			return EXIT_FAIL;
		}
		printf("serve: '%s' is gone (%s)\n", name, mcx_strerror(ret));
		ret = cold_fallback(eng, name, fallback_size);
		mcx_engine_destroy(eng);
		return ret ? EXIT_FAIL : 0;
	}
	if (ret) {
		printf("serve: mcx_mem_open_named(%s): %s\n", name, mcx_strerror(ret));
		mcx_engine_destroy(eng);
		return EXIT_FAIL;
	}
	printf("serve: ready in %.1f ms\n", (double)(now_ns() - t0) / 1e6);
	print_stats("serve", eng);
	if (expect_warm && check_warm(eng, mem))
		goto fail;
	if (mcx_mem_query(mem, &mi) || !mi.addr || mi.len < 2 * STAMP_BYTES) {
		printf("serve: %s is not mapped here\n", name);
		goto fail;
	}
	words = (size_t)(mi.len - STAMP_BYTES) / 8;
	if (pattern_check((const volatile uint64_t *)(uintptr_t)mi.addr, words, OWNER_SEED) !=
	    words) {
		printf("serve: the memory does not hold process A's bytes\n");
		goto fail;
	}
	mcx_engine_listen_addr(eng, addr, sizeof(addr));
	printf("serving entry %" PRIu64 " on %s\n", mi.registry_id, addr);
	fflush(stdout);

	stamp = (const volatile uint64_t *)(uintptr_t)(mi.addr + mi.len - STAMP_BYTES);
	deadline = now_ns() + (uint64_t)timeout_s * 1000000000ULL;
	while (stamp[0] != STAMP_MAGIC) {
		if (now_ns() > deadline) {
			printf("serve: no peer wrote within %u s\n", timeout_s);
			goto fail;
		}
		usleep(10000);
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	bad = pattern_check((const volatile uint64_t *)(uintptr_t)mi.addr, words, stamp[1]);
	if (bad != words) {
		printf("serve: byte %zu is not what the peer wrote (seed %" PRIu64 ")\n", bad * 8,
		       stamp[1]);
		goto fail;
	}
	printf("serve: verified the peer's %zu bytes (seed %" PRIu64 ")\n", words * 8, stamp[1]);
	fflush(stdout);
	if (expect_revoke && wait_dead(mem))
		goto fail;
	mcx_mem_deregister(mem);
	mcx_engine_destroy(eng);
	return 0;
fail:
	mcx_mem_deregister(mem);
	mcx_engine_destroy(eng);
	return EXIT_FAIL;
}

/* ---- write ---- */

static int one(struct mcx_batch *b, enum mcx_op op, struct mcx_peer *peer, void *local,
	       uint64_t remote, size_t len, int wait_ms)
{
	int ret = mcx_batch_add(b, op, peer, local, remote, len, 0);

	if (!ret)
		ret = mcx_batch_submit(b);
	if (!ret)
		ret = mcx_batch_wait(b, wait_ms);
	return ret;
}

/* After a revoke: requests must come to fail, each with an error in time. */
static int expect_failure(struct mcx_batch *b, struct mcx_peer *peer, uint64_t *buf,
			  uint64_t remote)
{
	const int wait_ms = 60000;
	uint64_t deadline = now_ns() + (uint64_t)timeout_s * 1000000000ULL;
	int ret;

	for (;;) {
		ret = one(b, MCX_OP_READ, peer, buf, remote, 4096, wait_ms);
		if (ret)
			break;
		if (now_ns() > deadline) {
			printf("writer: the memory is still served %u s on\n", timeout_s);
			return -EPROTO;
		}
		usleep(100000);
	}
	if (ret == -ETIMEDOUT) {
		printf("writer: a read did not complete within %d ms: a hang, not a failure\n",
		       wait_ms);
		return ret;
	}
	printf("writer: read failed cleanly: %s\n", mcx_strerror(ret));
	ret = one(b, MCX_OP_WRITE, peer, buf, remote, 4096, wait_ms);
	if (!ret || ret == -ETIMEDOUT) {
		printf("writer: the next write %s\n", ret ? "hung" : "succeeded");
		return -EPROTO;
	}
	printf("writer: the next write failed cleanly too: %s\n", mcx_strerror(ret));
	return 0;
}

/*
 * Whether every device of eng joined the user's shared context without
 * importing it (soft-RoCE next to a published context): its paths that
 * initiate then live in the private context, whose CQ the first of them
 * makes (transport/verbs/device.c).
 */
static bool all_joined(struct mcx_engine *eng)
{
	struct mcx_engine_stats st;

	return !mcx_engine_stats(eng, &st) && st.shared_ctx == mcx_engine_nics(eng) &&
	       st.mr_imports == 0 && mcx_engine_nics(eng) > 0;
}

static int cmd_write(const char *peer_addr, uint64_t seed, bool fail_after, bool joined)
{
	struct mcx_engine *eng;
	struct mcx_peer *peer = NULL;
	struct mcx_batch *b = NULL;
	struct mcx_remote_mem rm = { 0 };
	struct mcx_mem *mem = NULL;
	uint64_t *buf = MAP_FAILED, len;
	int ret, status = EXIT_FAIL;

	ret = engine(NULL, MCX_REGISTRY_AUTO, &eng);
	if (ret) {
		printf("writer: mcx_engine_create: %s\n", mcx_strerror(ret));
		return EXIT_FAIL;
	}
	if (joined && !all_joined(eng)) {
		print_stats("writer", eng);
		printf("writer: expected every device in the joined shared context\n");
		mcx_engine_destroy(eng);
		return EXIT_FAIL;
	}
	ret = mcx_peer_open(eng, peer_addr, &peer);
	if (!ret)
		ret = mcx_peer_list_mem(peer, &rm, 1);
	if (ret != 1 || rm.len < 2 * STAMP_BYTES) {
		printf("writer: peer %s: %s\n", peer_addr,
		       ret < 0 ? mcx_strerror(ret) : "not exactly one exported registration");
		goto out;
	}
	len = rm.len - STAMP_BYTES;
	buf = mmap(NULL, rm.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		goto out;
	pattern_fill(buf, len / 8, seed);
	ret = mcx_mem_register(eng, buf, rm.len, 0, &mem);
	if (!ret)
		ret = mcx_batch_create(eng, 4, &b);
	if (!ret)
		ret = one(b, MCX_OP_WRITE, peer, buf, rm.addr, len, (int)timeout_s * 1000);
	if (ret) {
		printf("writer: write of %" PRIu64 " bytes: %s\n", len, mcx_strerror(ret));
		goto out;
	}
	memset(buf, 0, len);
	ret = one(b, MCX_OP_READ, peer, buf, rm.addr, len, (int)timeout_s * 1000);
	if (ret || pattern_check(buf, len / 8, seed) != len / 8) {
		printf("writer: read back: %s\n", ret ? mcx_strerror(ret) : "bytes differ");
		goto out;
	}
	printf("writer: wrote and read back %" PRIu64 " bytes (seed %" PRIu64 ")\n", len, seed);
	buf[len / 8] = STAMP_MAGIC;
	buf[len / 8 + 1] = seed;
	ret = one(b, MCX_OP_WRITE, peer, &buf[len / 8], rm.addr + len, STAMP_BYTES,
		  (int)timeout_s * 1000);
	if (ret) {
		printf("writer: stamp: %s\n", mcx_strerror(ret));
		goto out;
	}
	if (fail_after && expect_failure(b, peer, buf, rm.addr))
		goto out;
	if (joined)
		print_stats("writer (joined, initiated from the private context)", eng);
	status = 0;
out:
	if (b)
		mcx_batch_free(b);
	if (mem)
		mcx_mem_deregister(mem);
	if (peer)
		mcx_peer_close(peer);
	mcx_engine_destroy(eng);
	if (buf != MAP_FAILED)
		munmap(buf, rm.len);
	return status;
}

/* ---- another uid ---- */

static int cmd_other(const char *name, uint32_t owner, bool own_ok)
{
	const uint32_t lflags = MCX_LOOKUP_REF | MCX_LOOKUP_EXPORT_FD;
	struct mcx_registry *reg;
	struct mcx_reg_lookup l = { .fd = -1 };
	struct mcx_engine *eng;
	struct mcx_reg_mr mr;
	struct mcx_mem *mem;
	size_t words;
	void *map;
	int ret, status = EXIT_FAIL;

	printf("other: uid %u, looking up '%s' of uid %u\n", (unsigned int)getuid(), name, owner);
	ret = mcx_registry_open(&reg);
	if (ret) {
		printf("other: /dev/mcxfer: %s\n", mcx_strerror(ret));
		return EXIT_FAIL;
	}
	ret = mcx_registry_lookup_owner(reg, name, owner, lflags, &l);
	if (ret || l.fd < 0) {
		printf("other: lookup: %s\n", ret ? mcx_strerror(ret) : "no dma-buf fd");
		goto out;
	}
	map = mmap(NULL, l.length, PROT_READ, MAP_SHARED, l.fd, (off_t)l.offset);
	if (map == MAP_FAILED) {
		printf("other: mapping its dma-buf: %s\n", strerror(errno));
		goto out;
	}
	words = (size_t)(l.length / 8);
	if (pattern_check(map, words, OWNER_SEED) != words) {
		printf("other: the mapping does not show the owner's bytes\n");
		munmap(map, l.length);
		goto out;
	}
	munmap(map, l.length);
	printf("other: pinned entry %" PRIu64 " and mapped its dma-buf: the owner's %" PRIu64
	       " bytes are there\n", l.id, l.length);
	/* the rig's first device; another uid must get no handles of any */
	ret = mcx_registry_get_mr(reg, l.id, "rxe0", 0, &mr);
	if (ret != -EPERM) {
		printf("other: MR handles: %s, expected EPERM\n", ret ? mcx_strerror(ret) : "given");
		if (!ret && mr.uverbs_fd >= 0)
			close(mr.uverbs_fd);
		goto out;
	}
	printf("other: no MR handles for another uid: %s\n", mcx_strerror(ret));

	ret = engine(NULL, MCX_REGISTRY_REQUIRED, &eng);
	if (ret) {
		printf("other: mcx_engine_create: %s\n", mcx_strerror(ret));
		goto out;
	}
	ret = mcx_mem_open_named(eng, name, owner, MCX_MEM_EXPORT, &mem);
	print_stats("other", eng);
	if (!ret) {
		struct mcx_engine_stats st;

		mcx_engine_stats(eng, &st);
		printf("other: opened it with MRs of its own (%" PRIu64 " registered)\n",
		       st.reg_mr_calls);
		mcx_mem_deregister(mem);
		status = own_ok && st.reg_mr_calls && !st.mr_imports ? 0 : EXIT_FAIL;
	} else {
		printf("other: registering it itself failed: %s\n", mcx_strerror(ret));
		status = own_ok ? EXIT_FAIL : 0;
	}
	mcx_engine_destroy(eng);
out:
	if (l.fd >= 0)
		close(l.fd);
	mcx_registry_close(reg);
	return status;
}

/* ---- the registry is empty ---- */

static int cmd_zero(void)
{
	struct mcx_registry *reg;
	struct mcx_reg_info in;
	int ret = mcx_registry_open(&reg);

	if (!ret)
		ret = mcx_registry_info(reg, &in);
	if (ret) {
		printf("zero: %s\n", mcx_strerror(ret));
		return EXIT_FAIL;
	}
	mcx_registry_close(reg);
	printf("zero: entries %" PRIu64 ", mrs %" PRIu64 ", bytes pinned %" PRIu64
	       ", contexts %" PRIu64 "\n", in.entries, in.mrs, in.bytes_pinned, in.contexts);
	return in.entries || in.mrs || in.bytes_pinned || in.contexts ? EXIT_FAIL : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: warm_test make NAME SIZE [--kill] [--share owner|group|all] [--src memfd|vgem] [--expect-err ERRNO]\n"
		"       warm_test serve NAME LISTEN [--expect-warm] [--expect-revoke] [--fallback SIZE]\n"
		"       warm_test write PEER [--seed N] [--expect-fail-after] [--expect-joined]\n"
		"       warm_test other NAME OWNER_UID [--expect-own fail|ok]\n"
		"       warm_test zero\n"
		"common: [--devices LIST] [--timeout SEC]\n");
}

int main(int argc, char **argv)
{
	const char *pos[3] = { 0 }, *src = "memfd";
	uint64_t size = 0, seed = 1, fallback = 0, v;
	bool kill_self = false, warm = false, revoke = false, fail_after = false, own_ok = false;
	bool joined = false;
	int npos = 0, share = MCX_SHARE_OWNER, expect_err = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--kill")) {
			kill_self = true;
		} else if (!strcmp(a, "--expect-warm")) {
			warm = true;
		} else if (!strcmp(a, "--expect-revoke")) {
			revoke = true;
		} else if (!strcmp(a, "--expect-fail-after")) {
			fail_after = true;
		} else if (!strcmp(a, "--expect-joined")) {
			joined = true;
		} else if (a[0] == '-' && !val) {
			usage();
			return EXIT_USAGE;
		} else if (!strcmp(a, "--devices")) {
			devices = argv[++i];
		} else if (!strcmp(a, "--src")) {
			src = argv[++i];
			if (strcmp(src, "memfd") && strcmp(src, "vgem"))
				return EXIT_USAGE;
		} else if (!strcmp(a, "--share")) {
			val = argv[++i];
			share = !strcmp(val, "all") ? MCX_SHARE_ALL :
				!strcmp(val, "group") ? MCX_SHARE_GROUP : MCX_SHARE_OWNER;
		} else if (!strcmp(a, "--expect-err")) {
			expect_err = errno_by_name(argv[++i]);
			if (!expect_err)
				return EXIT_USAGE;
		} else if (!strcmp(a, "--expect-own")) {
			own_ok = !strcmp(argv[++i], "ok");
		} else if (!strcmp(a, "--fallback")) {
			if (parse_size_arg(argv[++i], 4096, 1ULL << 40, &fallback) || fallback % 4096)
				return EXIT_USAGE;
		} else if (!strcmp(a, "--timeout")) {
			if (parse_u64_arg(argv[++i], 1, 3600, &v))
				return EXIT_USAGE;
			timeout_s = (unsigned int)v;
		} else if (!strcmp(a, "--seed")) {
			if (parse_u64_arg(argv[++i], 0, UINT64_MAX, &seed))
				return EXIT_USAGE;
		} else if (a[0] == '-' || npos == 3) {
			usage();
			return EXIT_USAGE;
		} else {
			pos[npos++] = a;
		}
	}
	if (npos == 3 && !strcmp(pos[0], "make")) {
		if (parse_size_arg(pos[2], 4096, 1ULL << 40, &size) || size % 4096)
			return EXIT_USAGE;
		return cmd_make(pos[1], size, kill_self, share, src, expect_err);
	}
	if (npos == 3 && !strcmp(pos[0], "serve"))
		return cmd_serve(pos[1], pos[2], warm, revoke, fallback);
	if (npos == 2 && !strcmp(pos[0], "write"))
		return cmd_write(pos[1], seed, fail_after, joined);
	if (npos == 3 && !strcmp(pos[0], "other")) {
		if (parse_u64_arg(pos[2], 0, UINT32_MAX - 1, &v))
			return EXIT_USAGE;
		return cmd_other(pos[1], (uint32_t)v, own_ok);
	}
	if (npos == 1 && !strcmp(pos[0], "zero"))
		return cmd_zero();
	usage();
	return EXIT_USAGE;
}
