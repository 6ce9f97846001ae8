// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Two engines in two processes through etcd, on a real verbs device (the
 * rig's soft-RoCE), driven by tests/etcd/rig/guest.sh:
 *
 *   etcd-peer serve NAME LISTEN
 *	an engine listening on LISTEN and published as NAME (MCX_METADATA
 *	from the environment, lease 2 s), with 1 MiB of a known pattern
 *	exported; prints "ready" and waits to be killed or stopped.
 *   etcd-peer open NAME ADDR PID
 *	an engine that opens NAME: the cost of mcx_peer_open() by name and by
 *	ADDR (the same listener), a read of the pattern over RC, then
 *	SIGSTOP to PID (the server: its TCP connection stays, its lease is
 *	no longer kept) and how long until the peer fails.
 *
 * Prints "ok - ..." / "not ok - ..." lines and "N passed, N failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mcxfer.h"

#define LEN	(1U << 20)
#define OPENS	20

static int passed, failed;

static void check(int ok, const char *what, int err)
{
	printf("%s - %s", ok ? "ok" : "not ok", what);
	if (!ok && err)
		printf(" (%s)", mcx_strerror(err));
	printf("\n");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 31 + 7);
}

static int serve(const char *name, const char *listen)
{
	struct mcx_engine_opts o;
	struct mcx_engine *eng;
	struct mcx_mem *mem;
	unsigned char *buf = malloc(LEN);
	int ret;

	for (size_t i = 0; i < LEN; i++)
		buf[i] = pattern(i);
	mcx_engine_opts_init(&o);
	o.listen = listen;
	o.metadata_name = name;
	o.metadata_ttl_s = 2;
	o.timeout_ms = 60000;	/* pings alone would take a minute to notice */
	ret = mcx_engine_create(&o, &eng);
	if (!ret)
		ret = mcx_mem_register(eng, buf, LEN, MCX_MEM_EXPORT, &mem);
	if (ret) {
		fprintf(stderr, "serve: %s\n", mcx_strerror(ret));
		return 1;
	}
	printf("ready %p\n", (void *)buf);
	fflush(stdout);
	for (;;)
		pause();
}

static double median_open(struct mcx_engine *eng, const char *addr)
{
	double t[OPENS];

	for (int i = 0; i < OPENS; i++) {
		struct mcx_peer *p;
		double t0 = now_us();
		int ret = mcx_peer_open(eng, addr, &p);

		t[i] = now_us() - t0;
		if (ret) {
			check(0, addr, ret);
			return -1;
		}
		mcx_peer_close(p);
	}
	qsort(t, OPENS, sizeof(t[0]), cmp_d);
	return t[OPENS / 2];
}

static int open_peer(const char *name, const char *addr, pid_t server)
{
	char etcd_name[160];
	struct mcx_engine_opts o;
	struct mcx_engine *eng;
	struct mcx_remote_mem rm;
	struct mcx_peer *peer;
	struct mcx_batch *b;
	struct mcx_mem *mem;
	unsigned char *buf = calloc(1, LEN);
	double by_name, by_addr, t0;
	int ret, bad = 0;

	snprintf(etcd_name, sizeof(etcd_name), "etcd:%s", name);
	mcx_engine_opts_init(&o);
	o.timeout_ms = 60000;
	ret = mcx_engine_create(&o, &eng);
	check(!ret, "engine with a metadata service", ret);
	if (ret)
		return 1;
	ret = mcx_mem_register(eng, buf, LEN, 0, &mem);
	check(!ret, "local buffer registered", ret);

	by_name = median_open(eng, etcd_name);
	by_addr = median_open(eng, addr);
	check(by_name > 0 && by_addr > 0, "opened by name and by address", 0);
	printf("# mcx_peer_open median of %d: by name %.0f us, by address %.0f us\n",
	       OPENS, by_name, by_addr);

	ret = mcx_peer_open(eng, etcd_name, &peer);
	check(!ret, "peer opened by name", ret);
	if (ret)
		return 1;
	t0 = now_us();
	ret = mcx_peer_warmup(peer);
	check(!ret, "warmed up (QPs over soft-RoCE)", ret);
	printf("# warmup %.0f us\n", now_us() - t0);
	ret = mcx_peer_list_mem(peer, &rm, 1);
	check(ret == 1 && rm.len == LEN, "its exported buffer came with the metadata", ret < 0 ? ret : 0);
	ret = mcx_batch_create(eng, 1, &b);
	if (!ret)
		ret = mcx_batch_add(b, MCX_OP_READ, peer, buf, rm.addr, LEN, 1);
	if (!ret)
		ret = mcx_batch_submit(b);
	if (!ret)
		ret = mcx_batch_wait(b, 30000);
	for (size_t i = 0; !ret && i < LEN; i++)
		bad += buf[i] != pattern(i);
	check(!ret && !bad, "1 MiB read over RC matches the pattern", ret);
	mcx_batch_free(b);

	/* Stopped, not killed: the TCP connection stays; only the lease tells. */
	kill(server, SIGSTOP);
	t0 = now_us();
	do {
		usleep(50000);
		ret = mcx_peer_warmup(peer);
	} while (ret == 0 && now_us() - t0 < 30e6);
	check(ret == -ECONNRESET, "the stopped server's peer fails when its lease expires", ret);
	printf("# failed %.0f ms after SIGSTOP (lease 2 s)\n", (now_us() - t0) / 1e3);
	kill(server, SIGKILL);
	mcx_peer_close(peer);
	mcx_mem_deregister(mem);
	mcx_engine_destroy(eng);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "open"))
		return open_peer(argv[2], argv[3], (pid_t)atoi(argv[4]));
	fprintf(stderr, "usage: etcd-peer serve NAME LISTEN | open NAME ADDR PID\n");
	return 2;
}
