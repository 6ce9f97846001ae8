// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The C side of the Python overhead measurement (tests/python/overhead.py
 * does the same in Python): one engine listening on loopback, a peer opened
 * to that listener from the same process, and rounds of one batch of N
 * requests of SIZE bytes (add N, submit, wait) between two registered
 * buffers.  Prints one line: "c requests=N size=S rounds=R ns_per_round=X
 * ns_per_request=Y".
 *
 *   overhead N SIZE ROUNDS MEMCPY(0|1)
 *
 * MEMCPY 1 keeps the library's same-process short cut (memcpy), so the time
 * is the API's own; 0 goes through the NIC (soft-RoCE in the rig).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <mcxfer.h>

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

int main(int argc, char **argv)
{
	struct mcx_engine_opts o;
	struct mcx_engine *eng;
	struct mcx_mem *ms, *md;
	struct mcx_peer *peer;
	struct mcx_batch *b;
	char addr[64];
	size_t n, size, rounds, warm = 3;
	uint8_t *src, *dst;
	uint64_t t0 = 0;
	int ret;

	if (argc != 5) {
		fprintf(stderr, "usage: overhead N SIZE ROUNDS MEMCPY\n");
		return 2;
	}
	n = strtoul(argv[1], NULL, 0);
	size = strtoul(argv[2], NULL, 0);
	rounds = strtoul(argv[3], NULL, 0);
	mcx_engine_opts_init(&o);
	o.listen = "127.0.0.1:0";
	o.registry = MCX_REGISTRY_OFF;
	o.loopback_memcpy = atoi(argv[4]);
	ret = mcx_engine_create(&o, &eng);
	if (ret)
		return fail("engine", ret);
	src = aligned_alloc(4096, n * size);
	dst = aligned_alloc(4096, n * size);
	if (!src || !dst)
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
		ret = mcx_batch_create(eng, n, &b);
	if (ret)
		return fail("peer or batch", ret);
	for (size_t r = 0; r < rounds + warm; r++) {
		if (r == warm)
			t0 = now_ns();
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
	}
	double per = (double)(now_ns() - t0) / (double)rounds;

	printf("c requests=%zu size=%zu rounds=%zu ns_per_round=%.0f ns_per_request=%.1f\n",
	       n, size, rounds, per, per / (double)n);
	mcx_batch_free(b);
	mcx_peer_close(peer);
	mcx_mem_deregister(ms);
	mcx_mem_deregister(md);
	mcx_engine_destroy(eng);
	free(src);
	free(dst);
	return 0;
}
