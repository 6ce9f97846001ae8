// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Engines in etcd (lib/meta): one publishes itself by name, another opens
 * it by that name and is told when its lease goes; etcd hanging or gone
 * gives named errors and never a hang.  The engines run on a transport
 * without hardware (mini_tp.c) in this one process, so their transfers
 * are the same-process copy; what is under test is the way from a name to
 * a working peer and back, which is the same for every transport.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "fixture.h"
#include "harness.h"
#include "mini_tp.h"
#include "util.h"

#define BUF	65536

static void clean_env(void)
{
	static const char *const vars[] = {
		"MCX_METADATA", "MCX_METADATA_NAME", "MCX_METADATA_TTL", "MCX_LISTEN",
		"MCX_REGISTRY", "MCX_TIMEOUT_MS", "MCX_LOOPBACK_MEMCPY", "MCX_AUTH_KEY_FILE",
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

/* An engine of this test: name NULL opens others only. */
static int engine(const struct etcd_proc *e, const char *url, const char *name,
		  uint32_t timeout_ms, struct mcx_engine **out)
{
	struct mcx_engine_opts o;

	mcx_engine_opts_init(&o);
	o.registry = MCX_REGISTRY_OFF;
	o.reg_threads = 2;
	o.timeout_ms = timeout_ms;
	o.metadata = url ? url : e->url;
	o.metadata_name = name;
	o.metadata_ttl_s = 2;
	if (name)
		o.listen = "127.0.0.1:0";
	return mcx__engine_create_with(&o, &mini_tp_ops, out);
}

static void fill(unsigned char *p, size_t n, unsigned char seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 13);
}

/* Read len bytes of the peer's raddr into local: the batch's result. */
static int read_from(struct mcx_engine *eng, struct mcx_peer *peer, void *local,
		     const void *raddr, size_t len)
{
	struct mcx_batch *b;
	int ret;

	ASSERT_ERR(mcx_batch_create(eng, 1, &b), 0);
	ret = mcx_batch_add(b, MCX_OP_READ, peer, local, (uint64_t)(uintptr_t)raddr, len, 1);
	if (!ret)
		ret = mcx_batch_submit(b);
	if (!ret)
		ret = mcx_batch_wait(b, 10000);
	mcx_batch_free(b);
	return ret;
}

/*
 * The published value is the engine's metadata blob; a peer opened by
 * name works as one opened by address; the name goes with the engine.
 */
TEST(engine_publishes_and_peer_opens_by_name)
{
	unsigned char *rbuf = malloc(BUF), *lbuf = calloc(1, BUF);
	struct mcx_engine *s = NULL, *c = NULL;
	struct mcx_mem *rmem, *lmem;
	struct mcx_remote_mem rm[4];
	struct mcx_peer *peer = NULL;
	struct etcd_proc e;
	struct mcx_etcd *cl;
	void *val;
	size_t len, need = 0;
	unsigned char *md;

	clean_env();
	etcd_start(&e);
	fill(rbuf, BUF, 5);
	ASSERT_ERR(engine(&e, NULL, "node-s", 2000, &s), 0);
	ASSERT_ERR(mcx_mem_register(s, rbuf, BUF, MCX_MEM_EXPORT, &rmem), 0);
	ASSERT_ERR(engine(&e, NULL, NULL, 2000, &c), 0);
	ASSERT_ERR(mcx_mem_register(c, lbuf, BUF, 0, &lmem), 0);

	/* Until the registration made after start is published (keepalive period). */
	cl = etcd_client(&e, 2000);
	for (;;) {
		ASSERT_ERR(mcx__etcd_get(cl, "node-s", &val, &len, NULL), 0);
		ASSERT_EQ(mcx_engine_export_md(s, NULL, 0, &need), -ENOBUFS);
		md = malloc(need);
		ASSERT_EQ(mcx_engine_export_md(s, md, need, NULL), (int)need);
		if (len == need && !memcmp(val, md, len)) {
			free(md);
			free(val);
			break;
		}
		free(md);
		free(val);
		sleep_ms(100);
	}

	ASSERT_ERR(mcx_peer_open(c, "etcd:node-s", &peer), 0);
	ASSERT_TRUE(peer != NULL && peer->descs_preloaded);
	ASSERT_EQ(mcx_peer_list_mem(peer, rm, 4), 1);
	ASSERT_U64_EQ(rm[0].addr, (uint64_t)(uintptr_t)rbuf);
	ASSERT_ERR(read_from(c, peer, lbuf, rbuf, BUF), 0);
	ASSERT_TRUE(memcmp(lbuf, rbuf, BUF) == 0);

	mcx_peer_close(peer);
	ASSERT_ERR(mcx_mem_deregister(lmem), 0);
	mcx_engine_destroy(c);
	ASSERT_ERR(mcx_mem_deregister(rmem), 0);
	mcx_engine_destroy(s);
	/* Withdrawn at once, not one TTL later. */
	ASSERT_ERR(mcx__etcd_get(cl, "node-s", NULL, NULL, NULL), -ENOENT);
	mcx__etcd_close(cl);
	etcd_stop(&e);
	free(rbuf);
	free(lbuf);
}

/* A peer whose lease goes fails as a lost connection, its requests too. */
TEST(engine_peer_fails_when_its_lease_goes)
{
	unsigned char *rbuf = malloc(BUF), *lbuf = calloc(1, BUF);
	struct mcx_engine *s = NULL, *c = NULL;
	struct mcx_mem *rmem, *lmem;
	struct mcx_peer *peer = NULL;
	struct mcx_etcd_kv kv;
	struct etcd_proc e;
	struct mcx_etcd *cl;
	int ret;

	clean_env();
	etcd_start(&e);
	fill(rbuf, BUF, 9);
	ASSERT_ERR(engine(&e, NULL, "node-s", 2000, &s), 0);
	ASSERT_ERR(mcx_mem_register(s, rbuf, BUF, MCX_MEM_EXPORT, &rmem), 0);
	ASSERT_ERR(engine(&e, NULL, NULL, 2000, &c), 0);
	ASSERT_ERR(mcx_mem_register(c, lbuf, BUF, 0, &lmem), 0);
	ASSERT_ERR(mcx_peer_open(c, "etcd:node-s", &peer), 0);
	ASSERT_ERR(mcx_peer_warmup(peer), 0);

	/* What etcd does when the lease expires: the key goes with it. */
	cl = etcd_client(&e, 2000);
	ASSERT_ERR(mcx__etcd_get(cl, "node-s", NULL, NULL, &kv), 0);
	ASSERT_TRUE(kv.lease != 0);
	log_capture();
	ASSERT_ERR(mcx__etcd_revoke(cl, kv.lease), 0);
	/* The harness's timeout bounds a watcher that never notices. */
	do {
		sleep_ms(50);
		ret = mcx_peer_warmup(peer);
	} while (ret == 0);
	ASSERT_ERR(ret, -ECONNRESET);
	ASSERT_CONTAINS(captured_log, "etcd:node-s");
	ASSERT_CONTAINS(captured_log, "lease");
	ASSERT_ERR(read_from(c, peer, lbuf, rbuf, BUF), -ECONNRESET);

	/* The publisher noticed too and published itself anew: opens again. */
	mcx_peer_close(peer);
	do {
		sleep_ms(50);
		ret = mcx_peer_open(c, "etcd:node-s", &peer);
	} while (ret == -ENOENT);
	ASSERT_ERR(ret, 0);
	ASSERT_ERR(read_from(c, peer, lbuf, rbuf, BUF), 0);
	ASSERT_TRUE(memcmp(lbuf, rbuf, BUF) == 0);
	mcx_peer_close(peer);

	mcx__etcd_close(cl);
	ASSERT_ERR(mcx_mem_deregister(lmem), 0);
	mcx_engine_destroy(c);
	ASSERT_ERR(mcx_mem_deregister(rmem), 0);
	mcx_engine_destroy(s);
	etcd_stop(&e);
	free(rbuf);
	free(lbuf);
}

/* Each way a name can fail to open, with its own errno and message. */
TEST(engine_open_by_name_errors)
{
	struct mcx_engine *s = NULL, *c = NULL, *plain = NULL;
	struct mcx_peer *peer = (struct mcx_peer *)1;
	struct mcx_engine_opts o;
	struct etcd_proc e;
	struct mcx_etcd *cl;

	clean_env();
	etcd_start(&e);
	ASSERT_ERR(engine(&e, NULL, NULL, 2000, &c), 0);
	log_capture();
	ASSERT_ERR(mcx_peer_open(c, "etcd:nobody", &peer), -ENOENT);
	ASSERT_TRUE(peer == NULL);
	ASSERT_CONTAINS(captured_log, "nobody");
	ASSERT_ERR(mcx_peer_open(c, "etcd:a/b", &peer), -EINVAL);
	ASSERT_ERR(mcx_peer_open(c, "etcd:", &peer), -EINVAL);
	/* Something that is not an engine's blob under a name. */
	cl = etcd_client(&e, 2000);
	ASSERT_ERR(mcx__etcd_put(cl, "junk", "not a blob", 10, 0), 0);
	ASSERT_ERR(mcx_peer_open(c, "etcd:junk", &peer), -EBADMSG);
	mcx__etcd_close(cl);

	/* No metadata service: a name cannot be opened. */
	mcx_engine_opts_init(&o);
	o.registry = MCX_REGISTRY_OFF;
	ASSERT_ERR(mcx__engine_create_with(&o, &mini_tp_ops, &plain), 0);
	log_capture();
	ASSERT_ERR(mcx_peer_open(plain, "etcd:node-s", &peer), -EINVAL);
	ASSERT_CONTAINS(captured_log, "MCX_METADATA");
	mcx_engine_destroy(plain);

	/* Publishing needs a listener, and a name needs a service. */
	mcx_engine_opts_init(&o);
	o.registry = MCX_REGISTRY_OFF;
	o.metadata = e.url;
	o.metadata_name = "node-x";
	log_capture();
	ASSERT_ERR(mcx__engine_create_with(&o, &mini_tp_ops, &s), -EINVAL);
	ASSERT_CONTAINS(captured_log, "listener");
	o.metadata = NULL;
	o.listen = "127.0.0.1:0";
	log_capture();
	ASSERT_ERR(mcx__engine_create_with(&o, &mini_tp_ops, &s), -EINVAL);
	ASSERT_CONTAINS(captured_log, "metadata_name");
	ASSERT_TRUE(s == NULL);

	mcx_engine_destroy(c);
	etcd_stop(&e);
}

/* A registration exported later is published within a keepalive period. */
TEST(engine_republishes_when_exports_change)
{
	unsigned char *a = malloc(BUF), *b = malloc(BUF);
	struct mcx_engine *s = NULL, *c = NULL;
	struct mcx_mem *ma, *mb;
	struct mcx_remote_mem rm[4];
	struct mcx_peer *peer = NULL;
	struct etcd_proc e;
	uint64_t puts;

	clean_env();
	etcd_start(&e);
	ASSERT_ERR(engine(&e, NULL, "node-s", 2000, &s), 0);
	ASSERT_ERR(engine(&e, NULL, NULL, 2000, &c), 0);
	ASSERT_ERR(mcx_mem_register(s, a, BUF, MCX_MEM_EXPORT, &ma), 0);
	puts = mcx__meta_puts(s->meta);
	ASSERT_ERR(mcx_mem_register(s, b, BUF, MCX_MEM_EXPORT, &mb), 0);
	while (mcx__meta_puts(s->meta) == puts)
		sleep_ms(50);
	/* b may have come in the same put as a: wait for the blob with both. */
	for (;;) {
		ASSERT_ERR(mcx_peer_open(c, "etcd:node-s", &peer), 0);
		if (mcx_peer_list_mem(peer, rm, 4) == 2)
			break;
		mcx_peer_close(peer);
		sleep_ms(100);
	}
	mcx_peer_close(peer);
	mcx_engine_destroy(c);
	ASSERT_ERR(mcx_mem_deregister(ma), 0);
	ASSERT_ERR(mcx_mem_deregister(mb), 0);
	mcx_engine_destroy(s);
	etcd_stop(&e);
	free(a);
	free(b);
}

/* etcd absent or hanging at engine creation: a named error in time. */
TEST(engine_create_with_etcd_unreachable_fails_in_time)
{
	struct mcx_engine *s = (struct mcx_engine *)1;
	struct etcd_proc e;
	char url[80], where[64];
	uint16_t port = free_port();

	clean_env();
	snprintf(url, sizeof(url), "etcd://127.0.0.1:%u/mcxfer-test", port);
	snprintf(where, sizeof(where), "http://127.0.0.1:%u/v3/", port);
	log_capture();
	ASSERT_ERR(engine(NULL, url, "node-s", 2000, &s), -ECONNREFUSED);
	ASSERT_TRUE(s == NULL);
	ASSERT_CONTAINS(captured_log, where);
	ASSERT_CONTAINS(captured_log, "cannot publish");

	etcd_start(&e);
	etcd_pause(&e);
	ASSERT_ERR(engine(&e, NULL, "node-s", 300, &s), -ETIMEDOUT);
	ASSERT_ERR(engine(&e, NULL, NULL, 300, &s), 0);
	ASSERT_ERR(mcx_peer_open(s, "etcd:node-s", &(struct mcx_peer *){ NULL }), -ETIMEDOUT);
	mcx_engine_destroy(s);
	etcd_resume(&e);
	etcd_stop(&e);
}

/*
 * etcd going away mid-run: opening by name fails with its errors, peers
 * already open keep working (etcd's absence is not their death), and the
 * engines still close in time.
 */
TEST(engine_etcd_gone_mid_run_fails_nothing_that_works)
{
	unsigned char *rbuf = malloc(BUF), *lbuf = calloc(1, BUF);
	struct mcx_engine *s = NULL, *c = NULL;
	struct mcx_mem *rmem, *lmem;
	struct mcx_peer *peer = NULL, *other = NULL;
	struct etcd_proc e;

	clean_env();
	etcd_start(&e);
	fill(rbuf, BUF, 3);
	ASSERT_ERR(engine(&e, NULL, "node-s", 500, &s), 0);
	ASSERT_ERR(mcx_mem_register(s, rbuf, BUF, MCX_MEM_EXPORT, &rmem), 0);
	ASSERT_ERR(engine(&e, NULL, NULL, 500, &c), 0);
	ASSERT_ERR(mcx_mem_register(c, lbuf, BUF, 0, &lmem), 0);
	ASSERT_ERR(mcx_peer_open(c, "etcd:node-s", &peer), 0);

	etcd_pause(&e);
	ASSERT_ERR(mcx_peer_open(c, "etcd:node-s", &other), -ETIMEDOUT);
	sleep_ms(1500);		/* several watch polls and keepalives fail meanwhile */
	ASSERT_ERR(read_from(c, peer, lbuf, rbuf, BUF), 0);
	ASSERT_TRUE(memcmp(lbuf, rbuf, BUF) == 0);

	etcd_kill(&e);
	ASSERT_ERR(mcx_peer_open(c, "etcd:node-s", &other), -ECONNREFUSED);
	sleep_ms(1500);
	memset(lbuf, 0, BUF);
	ASSERT_ERR(read_from(c, peer, lbuf, rbuf, BUF), 0);
	ASSERT_TRUE(memcmp(lbuf, rbuf, BUF) == 0);

	mcx_peer_close(peer);
	ASSERT_ERR(mcx_mem_deregister(lmem), 0);
	mcx_engine_destroy(c);
	ASSERT_ERR(mcx_mem_deregister(rmem), 0);
	mcx_engine_destroy(s);
	etcd_stop(&e);
	free(rbuf);
	free(lbuf);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * What opening by name costs next to opening by address, measured
 * (printed, not judged): both open the same engine of this process over a
 * TCP handshake on loopback; by name fetches its blob from etcd first.
 * The numbers are for the closing note: tests/etcd/run.sh open_cost.
 */
TEST(engine_open_cost_by_name_and_by_address)
{
	enum { N = 200 };
	static uint64_t by_name[N], by_addr[N], fetch[N];
	struct mcx_engine *s = NULL, *c = NULL;
	struct mcx_peer *peer;
	struct etcd_proc e;
	struct mcx_etcd *cl;
	char addr[64];

	clean_env();
	etcd_start(&e);
	ASSERT_ERR(engine(&e, NULL, "node-s", 2000, &s), 0);
	ASSERT_ERR(engine(&e, NULL, NULL, 2000, &c), 0);
	ASSERT_ERR(mcx_engine_listen_addr(s, addr, sizeof(addr)), 0);
	cl = etcd_client(&e, 2000);
	for (int i = 0; i < N; i++) {
		uint64_t t0 = mcx__now_ns();
		void *val;
		size_t len;

		ASSERT_ERR(mcx_peer_open(c, "etcd:node-s", &peer), 0);
		by_name[i] = mcx__now_ns() - t0;
		mcx_peer_close(peer);
		t0 = mcx__now_ns();
		ASSERT_ERR(mcx_peer_open(c, addr, &peer), 0);
		by_addr[i] = mcx__now_ns() - t0;
		mcx_peer_close(peer);
		t0 = mcx__now_ns();
		ASSERT_ERR(mcx__etcd_get(cl, "node-s", &val, &len, NULL), 0);
		fetch[i] = mcx__now_ns() - t0;
		free(val);
	}
	qsort(by_name, N, sizeof(by_name[0]), cmp_u64);
	qsort(by_addr, N, sizeof(by_addr[0]), cmp_u64);
	qsort(fetch, N, sizeof(fetch[0]), cmp_u64);
	printf("open by name (etcd range + TCP handshake): median %.1f us, p90 %.1f us\n",
	       by_name[N / 2] / 1e3, by_name[N * 9 / 10] / 1e3);
	printf("open by address (TCP handshake):          median %.1f us, p90 %.1f us\n",
	       by_addr[N / 2] / 1e3, by_addr[N * 9 / 10] / 1e3);
	printf("etcd range of the blob alone (kept-alive HTTP): median %.1f us, p90 %.1f us\n",
	       fetch[N / 2] / 1e3, fetch[N * 9 / 10] / 1e3);
	mcx__etcd_close(cl);
	mcx_engine_destroy(c);
	mcx_engine_destroy(s);
	etcd_stop(&e);
}
