// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * warm_demo: the headline of mcxfer in three processes (make demo).
 *
 *   warm_demo make NAME SIZE [--devices LIST] [--kill]
 *       process A: a memfd of SIZE bytes registered as NAME with every NIC
 *       (named, exported), the time that took and the MRs it registered;
 *       then it exits (with --kill it SIGKILLs itself instead).
 *   warm_demo serve NAME LISTEN [--devices LIST] [--timeout SEC]
 *       process B: opens NAME warm, prints its ready time and how many MRs
 *       it registered (none where the device context is shared), serves
 *       it to peers on LISTEN, and waits for a peer to leave a stamp at its
 *       end; then checks every byte against the stamp's seed.
 *   warm_demo write PEER [--devices LIST] [--seed N]
 *       the other host: writes a seeded pattern into the peer's exported
 *       memory, reads it back and compares, then writes the stamp.
 *
 * The pattern is a function of (seed, offset), so B checks what the writer
 * wrote without either sending the other anything but RDMA.
 *
 * Exit status: 0 done, 1 failure, 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mcxfer.h"
#include "common/parse.h"
#include "pattern.h"

#define EXIT_FAIL	1
#define EXIT_USAGE	2

/* The stamp: the last 16 bytes of the memory, written after the data. */
#define STAMP_MAGIC	0x6d6378666572ULL	/* "mcxfer" */
#define STAMP_BYTES	16

static const char *devices;
static unsigned int timeout_s = 300;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int engine(const char *listen, struct mcx_engine **eng)
{
	struct mcx_engine_opts o;
	int ret;

	mcx_engine_opts_init(&o);
	o.devices = devices;
	o.listen = listen;
	o.registry = MCX_REGISTRY_REQUIRED;
	ret = mcx_engine_create(&o, eng);
	if (ret)
		fprintf(stderr, "mcx_engine_create: %s\n", mcx_strerror(ret));
	return ret;
}

static void print_stats(const char *who, const char *how, uint64_t ns, struct mcx_engine *eng)
{
	struct mcx_engine_stats st;

	if (mcx_engine_stats(eng, &st)) {
		printf("%s: %s in %.1f ms\n", who, how, ns / 1e6);
		return;
	}
	printf("%s: %s in %.1f ms: %" PRIu64 " MRs registered with the NICs, %" PRIu64
	       " taken from the registry, %u of %u device contexts shared\n",
	       who, how, ns / 1e6, st.reg_mr_calls, st.mr_imports, st.shared_ctx,
	       mcx_engine_nics(eng));
	fflush(stdout);
}

static int cmd_make(const char *name, uint64_t size, int kill_self)
{
	struct mcx_mem_named_req req = { 0 };
	struct mcx_engine *eng;
	struct mcx_mem *mem;
	uint64_t t0;
	void *p;
	int fd, ret;

	fd = memfd_create("warm_demo", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)size)) {
		perror("make: memfd");
		return EXIT_FAIL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("make: mmap");
		return EXIT_FAIL;
	}
	memset(p, 0, size);

	t0 = now_ns();
	if (engine(NULL, &eng))
		return EXIT_FAIL;
	req.name = name;
	req.src = MCX_NAMED_MEMFD;
	req.fd = fd;
	req.len = size;
	req.addr = p;
	req.flags = MCX_MEM_EXPORT;
	req.share = MCX_SHARE_OWNER;
	ret = mcx_mem_register_named(eng, &req, &mem);
	if (ret) {
		fprintf(stderr, "make: mcx_mem_register_named(%s): %s\n", name, mcx_strerror(ret));
		mcx_engine_destroy(eng);
		return EXIT_FAIL;
	}
	print_stats("process A (cold)", "registered", now_ns() - t0, eng);
	if (kill_self) {
		printf("process A: SIGKILL to itself, nothing cleaned up\n");
		fflush(stdout);
		raise(SIGKILL);
	}
	mcx_mem_deregister(mem);
	mcx_engine_destroy(eng);
	printf("process A: exited normally\n");
	return 0;
}

static int cmd_serve(const char *name, const char *listen)
{
	struct mcx_engine *eng;
	struct mcx_mem_info mi;
	struct mcx_mem *mem;
	const volatile uint64_t *stamp;
	char addr[64] = "";
	uint64_t t0, deadline;
	size_t bad;
	int ret;

	t0 = now_ns();
	if (engine(listen, &eng))
		return EXIT_FAIL;
	ret = mcx_mem_open_named(eng, name, MCX_UID_SELF, MCX_MEM_EXPORT, &mem);
	if (ret) {
		fprintf(stderr, "serve: mcx_mem_open_named(%s): %s\n", name, mcx_strerror(ret));
		mcx_engine_destroy(eng);
		return EXIT_FAIL;
	}
	print_stats("process B (warm)", "ready to serve", now_ns() - t0, eng);
	if (mcx_mem_query(mem, &mi) || !mi.addr || mi.len < 2 * STAMP_BYTES) {
		fprintf(stderr, "serve: %s is not mapped here\n", name);
		goto fail;
	}
	mcx_engine_listen_addr(eng, addr, sizeof(addr));
	printf("process B: serving %s (%" PRIu64 " bytes, MRs made at 0x%" PRIx64
	       ", mapped here at 0x%" PRIx64 ") on %s\n",
	       name, mi.len, mi.iova, mi.addr, addr);
	fflush(stdout);

	/* The writer stamps the end once its data has landed. */
	stamp = (const volatile uint64_t *)(uintptr_t)(mi.addr + mi.len - STAMP_BYTES);
	deadline = now_ns() + (uint64_t)timeout_s * 1000000000ULL;
	while (stamp[0] != STAMP_MAGIC) {
		if (now_ns() > deadline) {
			fprintf(stderr, "serve: no peer wrote within %u s\n", timeout_s);
			goto fail;
		}
		usleep(10000);
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	bad = pattern_check((const volatile uint64_t *)(uintptr_t)mi.addr,
		    (mi.len - STAMP_BYTES) / 8, stamp[1]);
	if (bad != (mi.len - STAMP_BYTES) / 8) {
		fprintf(stderr, "serve: byte %zu is not what the peer wrote (seed %" PRIu64 ")\n",
			bad * 8, stamp[1]);
		goto fail;
	}
	printf("process B: the peer's %" PRIu64 " bytes (seed %" PRIu64
	       ") are all here, written through process A's registration\n",
	       mi.len - STAMP_BYTES, stamp[1]);
	mcx_mem_deregister(mem);
	mcx_engine_destroy(eng);
	return 0;
fail:
	mcx_mem_deregister(mem);
	mcx_engine_destroy(eng);
	return EXIT_FAIL;
}

/* One request, waited for. */
static int one(struct mcx_batch *b, enum mcx_op op, struct mcx_peer *peer, void *local,
	       uint64_t remote, size_t len)
{
	int ret = mcx_batch_add(b, op, peer, local, remote, len, 0);

	if (!ret)
		ret = mcx_batch_submit(b);
	if (!ret)
		ret = mcx_batch_wait(b, (int)timeout_s * 1000);
	return ret;
}

static int cmd_write(const char *peer_addr, uint64_t seed)
{
	struct mcx_engine *eng;
	struct mcx_peer *peer = NULL;
	struct mcx_batch *b = NULL;
	struct mcx_remote_mem rm;
	struct mcx_mem *mem = NULL;
	uint64_t *buf = MAP_FAILED, t0, len;
	int ret, status = EXIT_FAIL;

	if (engine(NULL, &eng))
		return EXIT_FAIL;
	ret = mcx_peer_open(eng, peer_addr, &peer);
	if (!ret)
		ret = mcx_peer_list_mem(peer, &rm, 1);
	if (ret < 0) {
		fprintf(stderr, "write: peer %s: %s\n", peer_addr, mcx_strerror(ret));
		goto out;
	}
	if (ret != 1 || rm.len < 2 * STAMP_BYTES) {
		fprintf(stderr, "write: peer %s exports %d registrations, want 1\n", peer_addr, ret);
		goto out;
	}
	len = rm.len - STAMP_BYTES;
	buf = mmap(NULL, rm.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		fprintf(stderr, "write: no memory for %" PRIu64 " bytes\n", rm.len);
		goto out;
	}
	pattern_fill(buf, len / 8, seed);
	ret = mcx_mem_register(eng, buf, rm.len, 0, &mem);
	if (!ret)
		ret = mcx_batch_create(eng, 4, &b);
	if (ret) {
		fprintf(stderr, "write: %s\n", mcx_strerror(ret));
		goto out;
	}
	t0 = now_ns();
	ret = one(b, MCX_OP_WRITE, peer, buf, rm.addr, len);
	if (ret) {
		fprintf(stderr, "write: RDMA write of %" PRIu64 " bytes: %s\n", len, mcx_strerror(ret));
		goto out;
	}
	printf("writer: wrote %" PRIu64 " bytes (seed %" PRIu64 ") into %s at 0x%" PRIx64
	       " in %.1f ms\n", len, seed, peer_addr, rm.addr, (now_ns() - t0) / 1e6);
	/* Read it back over the source, so a short read cannot pass. */
	memset(buf, 0, len);
	ret = one(b, MCX_OP_READ, peer, buf, rm.addr, len);
	if (ret || pattern_check(buf, len / 8, seed) != len / 8) {
		fprintf(stderr, "write: read back: %s\n", ret ? mcx_strerror(ret) : "bytes differ");
		goto out;
	}
	printf("writer: read back and compared: equal\n");
	buf[len / 8] = STAMP_MAGIC;
	buf[len / 8 + 1] = seed;
	ret = one(b, MCX_OP_WRITE, peer, &buf[len / 8], rm.addr + len, STAMP_BYTES);
	if (ret) {
		fprintf(stderr, "write: stamp: %s\n", mcx_strerror(ret));
		goto out;
	}
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

static void usage(void)
{
	fprintf(stderr,
		"usage: warm_demo make NAME SIZE [--devices LIST] [--kill]\n"
		"       warm_demo serve NAME LISTEN [--devices LIST] [--timeout SEC]\n"
		"       warm_demo write PEER [--devices LIST] [--seed N]\n");
}

int main(int argc, char **argv)
{
	const char *pos[3] = { 0 };
	uint64_t size = 0, seed = 1, v;
	int npos = 0, kill_self = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--devices") && i + 1 < argc) {
			devices = argv[++i];
		} else if (!strcmp(argv[i], "--kill")) {
			kill_self = 1;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (parse_u64_arg(argv[++i], 1, 3600, &v))
				return EXIT_USAGE;
			timeout_s = (unsigned int)v;
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			if (parse_u64_arg(argv[++i], 0, UINT64_MAX, &seed))
				return EXIT_USAGE;
		} else if (argv[i][0] == '-' || npos == 3) {
			usage();
			return EXIT_USAGE;
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (npos == 3 && !strcmp(pos[0], "make")) {
		if (parse_size_arg(pos[2], 4096, 1ULL << 40, &size) || size % 4096) {
			fprintf(stderr, "warm_demo: SIZE must be whole pages\n");
			return EXIT_USAGE;
		}
		return cmd_make(pos[1], size, kill_self);
	}
	if (npos == 3 && !strcmp(pos[0], "serve"))
		return cmd_serve(pos[1], pos[2]);
	if (npos == 2 && !strcmp(pos[0], "write"))
		return cmd_write(pos[1], seed);
	usage();
	return EXIT_USAGE;
}
