// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The C side of the Python overhead measurement (tests/python/overhead.py
 * does the same in Python): one engine listening on loopback, a peer opened
 * to that listener from the same process, and rounds of one batch of N
 * requests of SIZE bytes (add N, submit, wait) from one registered mmap to
 * another.  The transport is whatever the engine picks from the MCX_*
 * variables (tests/python/overhead.sh sets MCX_TRANSPORT=fabric and the
 * tcp provider on "lo" on a host without RDMA devices).  Prints one line:
 *
 *   c requests=N size=S rounds=R ns_per_round=MEDIAN ns_per_round_min=MIN
 *   ns_per_request=MEDIAN/N
 *
 * (on one line).  The median and the minimum of the rounds' times, not the
 * mean: other processes on the machine stretch single rounds, and one
 * stretched round would move a mean by far more than the API costs.
 *
 *   overhead N SIZE ROUNDS MEMCPY(0|1)
 *
 * MEMCPY 1 keeps the library's same-process short cut (memcpy), so the time
 * is mostly the API's own; 0 goes through the transport.
 */
#define _DEFAULT_SOURCE	/* MAP_ANONYMOUS */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <mcxfer.h>

#define WARM_ROUNDS 3

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what, int ret)
{
	fprintf(stderr, "overhead: %s: %s\n", what, mcx_strerror(ret));
	return 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A positive count from the command line, or 0. */
static size_t count_arg(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v == 0 || v > SIZE_MAX / 2)
		return 0;
	return (size_t)v;
}

int main(int argc, char **argv)
{
	struct mcx_engine_opts o;
	struct mcx_engine *eng;
	struct mcx_mem *ms, *md;
	struct mcx_peer *peer;
	struct mcx_batch *b;
	char addr[128];
	size_t n, size, rounds;
	uint64_t *took;
	uint8_t *src, *dst;
	int ret;

	if (argc != 5 || (strcmp(argv[4], "0") && strcmp(argv[4], "1"))) {
		fprintf(stderr, "usage: overhead N SIZE ROUNDS MEMCPY(0|1)\n");
		return 2;
	}
	n = count_arg(argv[1]);
	size = count_arg(argv[2]);
	rounds = count_arg(argv[3]);
	if (!n || !size || !rounds || n > SIZE_MAX / size) {
		fprintf(stderr, "overhead: N, SIZE and ROUNDS must be positive counts\n");
		return 2;
	}
	mcx_engine_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.registry = MCX_REGISTRY_OFF;
	o.loopback_memcpy = argv[4][0] == '1';
	ret = mcx_engine_create(&o, &eng);
	if (ret)
		return fail("engine", ret);
	/* mmap: page-aligned, as the Python side's mmap.mmap(). */
	src = mmap(NULL, n * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, n * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	took = calloc(rounds, sizeof(*took));
	if (src == MAP_FAILED || dst == MAP_FAILED || !took)
		return fail("memory", -ENOMEM);
	for (size_t i = 0; i < n * size; i++)
		src[i] = (uint8_t)i;
	ret = mcx_mem_register(eng, src, n * size, 0, &ms);
	if (!ret)
		ret = mcx_mem_register(eng, dst, n * size, MCX_MEM_EXPORT, &md);
	if (ret)
		return fail("register", ret);
	ret = mcx_engine_listen_addr(eng, addr, sizeof(addr));
	if (!ret)
		ret = mcx_peer_open(eng, addr, &peer);
	if (!ret)
		ret = mcx_peer_warmup(peer);
	if (!ret)
		ret = mcx_batch_create(eng, n, &b);
	if (ret)
		return fail("peer or batch", ret);
	for (size_t r = 0; r < rounds + WARM_ROUNDS; r++) {
		uint64_t t0 = now_ns();

		for (size_t i = 0; i < n; i++) {
			ret = mcx_batch_add(b, MCX_OP_WRITE, peer, src + i * size,
					    (uint64_t)(uintptr_t)(dst + i * size), size, i);
			if (ret)
				return fail("add", ret);
		}
		ret = mcx_batch_submit(b);
		if (!ret)
			ret = mcx_batch_wait(b, -1);
		if (ret)
			return fail("round", ret);
		if (r >= WARM_ROUNDS)
			took[r - WARM_ROUNDS] = now_ns() - t0;
	}
	if (memcmp(src, dst, n * size)) {
		fprintf(stderr, "overhead: data differs\n");
		return 1;
	}
	qsort(took, rounds, sizeof(*took), cmp_u64);
	/* The lower median: a time one round really took. */
	uint64_t median = took[(rounds - 1) / 2];

	printf("c requests=%zu size=%zu rounds=%zu ns_per_round=%llu ns_per_round_min=%llu "
	       "ns_per_request=%.1f\n", n, size, rounds, (unsigned long long)median,
	       (unsigned long long)took[0], (double)median / (double)n);
	mcx_batch_free(b);
	mcx_peer_close(peer);
	mcx_mem_deregister(ms);
	mcx_mem_deregister(md);
	mcx_engine_destroy(eng);
	munmap(src, n * size);
	munmap(dst, n * size);
	free(took);
	return 0;
}
