// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Peers without RDMA devices (lib/peer): the choice of device pairs by
 * rail; two sides doing the handshake on 127.0.0.1 (authentication, HELLO,
 * paths over the fake transport, descriptors, refetch, a lost connection
 * marking the peer dead, an unanswered ping); the same-process short-cut,
 * which only this process can grant; and the listener under abuse
 * (garbage, oversized and wrong-version headers, requests before
 * authentication or out of order, a CONNECT that sleeps, slow or silent
 * callers, more callers than slots, more paths than allowed, mutated
 * messages): it must answer or hang up, keep serving others, and free
 * every connection.
 *
 * A "side" is what an engine hands peer/: devices (fake_tp.c: no
 * hardware), a memspace and a struct mcx_peer_env with no-op hooks.  An
 * engine cannot be created without RDMA devices, so the listener is
 * started with mcx__listener_start() on the side's env and peers are
 * opened with mcx__peer_open(); raw clients and servers speak the wire
 * format through lib/ctrl/wire.h.
 *
 * Several tests guard fixes of the hostile-network work; each says how it
 * was checked to fail without its fix.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "ctrl/auth.h"
#include "ctrl/wire.h"
#include "peer/peer.h"
#include "peer/handshake.h"
#include "fake_tp.h"

/* ---- rail choice ---- */

static struct mcx_rail_dev rdev(uint32_t idx, const char *ip, uint8_t prefix, uint32_t fabric)
{
	struct mcx_rail_dev d = { .index = idx, .fabric = fabric };

	if (ip) {
		inet_pton(AF_INET, ip, &d.ipv4);
		d.prefix = prefix;
	}
	return d;
}

#define ETH MCX_TP_FABRIC_ETH
#define IB MCX_TP_FABRIC_IB

TEST(peer_same_subnet)
{
	uint32_t a, b, c;

	inet_pton(AF_INET, "10.1.2.3", &a);
	inet_pton(AF_INET, "10.1.2.200", &b);
	inet_pton(AF_INET, "10.1.3.3", &c);
	ASSERT_TRUE(mcx__same_subnet(a, 24, b, 24));
	ASSERT_TRUE(!mcx__same_subnet(a, 24, c, 24));
	ASSERT_TRUE(mcx__same_subnet(a, 24, c, 16));	/* the shorter prefix */
	ASSERT_TRUE(!mcx__same_subnet(a, 32, b, 32));
	ASSERT_TRUE(mcx__same_subnet(a, 32, a, 32));
	ASSERT_TRUE(!mcx__same_subnet(a, 0, a, 24));	/* unknown prefix */
	ASSERT_TRUE(!mcx__same_subnet(0, 24, 0, 24));	/* no address */
	ASSERT_TRUE(!mcx__same_subnet(a, 33, a, 33));
}

TEST(peer_rail_same_index_same_subnet)
{
	struct mcx_rail_dev l[2] = { rdev(0, "10.0.1.2", 24, ETH), rdev(1, "10.0.2.2", 24, ETH) };
	struct mcx_rail_dev r[2] = { rdev(0, "10.0.1.3", 24, ETH), rdev(1, "10.0.2.3", 24, ETH) };
	struct mcx_rail_choice ch[2];

	ASSERT_EQ(mcx__rail_choose(l, 2, r, 2, ch), 2);
	ASSERT_EQ(ch[0].lnic, 0);
	ASSERT_EQ(ch[0].rnic, 0);
	ASSERT_TRUE(ch[0].rail);
	ASSERT_EQ(ch[1].lnic, 1);
	ASSERT_EQ(ch[1].rnic, 1);
	ASSERT_TRUE(ch[1].rail);
}

TEST(peer_rail_subnet_beats_index)
{
	/* The remote host numbered its devices the other way round. */
	struct mcx_rail_dev l[2] = { rdev(0, "10.0.1.2", 24, ETH), rdev(1, "10.0.2.2", 24, ETH) };
	struct mcx_rail_dev r[2] = { rdev(0, "10.0.2.3", 24, ETH), rdev(1, "10.0.1.3", 24, ETH) };
	struct mcx_rail_choice ch[2];

	ASSERT_EQ(mcx__rail_choose(l, 2, r, 2, ch), 2);
	ASSERT_EQ(ch[0].rnic, 1);
	ASSERT_TRUE(ch[0].rail);
	ASSERT_EQ(ch[1].rnic, 0);
	ASSERT_TRUE(ch[1].rail);
}

TEST(peer_rail_fallbacks)
{
	struct mcx_rail_dev l[2] = { rdev(0, "10.0.1.2", 24, ETH), rdev(1, "10.0.9.2", 24, ETH) };
	struct mcx_rail_dev r[1] = { rdev(0, "10.0.1.3", 24, ETH) };
	struct mcx_rail_dev r2[2] = { rdev(4, "192.168.0.1", 24, ETH),
				      rdev(1, "192.168.1.1", 24, ETH) };
	struct mcx_rail_choice ch[2];

	/* Device 1's subnet has nobody: it falls back to the only remote one. */
	ASSERT_EQ(mcx__rail_choose(l, 2, r, 1, ch), 2);
	ASSERT_EQ(ch[0].rnic, 0);
	ASSERT_TRUE(ch[0].rail);
	ASSERT_EQ(ch[1].rnic, 0);
	ASSERT_TRUE(!ch[1].rail);

	/* No subnet in common: same index first, then the least used. */
	ASSERT_EQ(mcx__rail_choose(l, 2, r2, 2, ch), 2);
	ASSERT_EQ(ch[0].rnic, 4);	/* no index 0 there; 4 and 1 unused, 4 first */
	ASSERT_TRUE(!ch[0].rail);
	ASSERT_EQ(ch[1].rnic, 1);	/* same index */
	ASSERT_TRUE(!ch[1].rail);
}

TEST(peer_rail_spreads_and_respects_fabric)
{
	struct mcx_rail_dev l[3] = {
		rdev(0, "10.0.0.2", 16, ETH), rdev(1, "10.0.0.3", 16, ETH), rdev(2, NULL, 0, IB),
	};
	struct mcx_rail_dev r[2] = { rdev(5, "10.0.7.1", 16, ETH), rdev(6, "10.0.8.1", 16, ETH) };
	struct mcx_rail_dev rib[2] = { rdev(2, NULL, 0, IB), rdev(3, NULL, 0, IB) };
	struct mcx_rail_choice ch[3];

	/* Same subnet everywhere, no same index: one remote device each. */
	ASSERT_EQ(mcx__rail_choose(l, 3, r, 2, ch), 2);	/* the IB device reaches none */
	ASSERT_EQ(ch[0].lnic, 0);
	ASSERT_EQ(ch[1].lnic, 1);
	ASSERT_TRUE(ch[0].rnic != ch[1].rnic);
	ASSERT_TRUE(ch[0].rail && ch[1].rail);

	/* InfiniBand, no addresses: the same index is the rail. */
	ASSERT_EQ(mcx__rail_choose(l, 3, rib, 2, ch), 1);
	ASSERT_EQ(ch[0].lnic, 2);
	ASSERT_EQ(ch[0].rnic, 2);
	ASSERT_TRUE(ch[0].rail);

	ASSERT_EQ(mcx__rail_choose(l, 3, r, 0, ch), 0);
	ASSERT_EQ(mcx__rail_choose(l, 0, r, 2, ch), 0);
}

/* ---- sides: what an engine hands peer/, around fake devices ---- */

#define MAX_FAKE_MEMS 2048

struct side {
	struct fake_tp tp;
	struct mcx_devs devs;
	struct mcx_memspace mem;
	struct mcx_peer_env env;
	struct mcx_auth_key key;
	struct mcx_mem **mems;		/* fake_register()'s */
	int nmems;
	atomic_int dead_calls, up_calls, gone_calls, closing_calls;
	bool conn_at_closing;		/* the connection still there at conn_closing */
	atomic_int last_dead_err;
};

static void hook_peer_dead(void *arg, struct mcx_peer *peer, int err)
{
	struct side *s = arg;

	(void)peer;
	atomic_fetch_add(&s->dead_calls, 1);
	atomic_store(&s->last_dead_err, err);
}

static void hook_paths_up(void *arg, struct mcx_peer *peer)
{
	struct side *s = arg;

	(void)peer;
	atomic_fetch_add(&s->up_calls, 1);
}

static void hook_unreaped(void *arg, void *ctx)
{
	(void)arg;
	(void)ctx;
}

static void hook_conn_closing(void *arg, struct mcx_peer *peer)
{
	struct side *s = arg;

	s->conn_at_closing = peer->conn != NULL;
	atomic_fetch_add(&s->closing_calls, 1);
}

static void hook_peer_gone(void *arg, struct mcx_peer *peer)
{
	struct side *s = arg;

	(void)peer;
	atomic_fetch_add(&s->gone_calls, 1);
}

static void hook_progress(void *arg)
{
	(void)arg;
}

static const struct mcx_peer_hooks side_hooks = {
	.peer_dead = hook_peer_dead,
	.paths_up = hook_paths_up,
	.unreaped = hook_unreaped,
	.conn_closing = hook_conn_closing,
	.peer_gone = hook_peer_gone,
	.progress = hook_progress,
};

static const char key_one[] = "key number one, 32 bytes long..";
static const char key_two[] = "key number two, 32 bytes long..";

/* A side with ndevs fake devices, not listening yet. */
static void side_init(struct side *s, uint32_t ndevs, uint32_t timeout_ms)
{
	memset(s, 0, sizeof(*s));
	fake_tp_setup(&s->tp, &s->devs, ndevs);
	ASSERT_ERR(mcx__memspace_init(&s->mem, &s->devs, 1ULL << 20, 1), 0);
	s->mems = calloc(MAX_FAKE_MEMS, sizeof(*s->mems));
	ASSERT_TRUE(s->mems != NULL);
	s->env.devs = &s->devs;
	s->env.mem = &s->mem;
	s->env.timeout_ms = timeout_ms;
	s->env.qps_per_path = 1;
	s->env.max_paths_per_conn = 64;
	s->env.max_conns = 16;
	s->env.idle_ms = 30000;
	s->env.flush_ms = 1000;
	s->env.loopback_memcpy = true;
	s->env.hooks = &side_hooks;
	s->env.hooks_arg = s;
	pthread_mutex_init(&s->env.lock, NULL);
}

/* Require the pre-shared key k (key_one or key_two) of this side. */
static void side_key(struct side *s, const char *k)
{
	ASSERT_ERR(mcx__auth_key_set(&s->key, k, strlen(k)), 0);
	s->env.key = &s->key;
}

/* Register the side for the same-process short-cut, as an engine with a listener does. */
static void side_local(struct side *s)
{
	ASSERT_ERR(mcx__local_add(&s->mem, NULL, NULL, &s->env.local), 0);
}

static void side_listen(struct side *s)
{
	ASSERT_ERR(mcx__listener_start(&s->env, "127.0.0.1:0"), 0);
	ASSERT_TRUE(strncmp(s->env.listen_addr, "127.0.0.1:", 10) == 0);
}

static void side_start(struct side *s, uint32_t ndevs, uint32_t timeout_ms, bool listen)
{
	side_init(s, ndevs, timeout_ms);
	if (listen) {
		side_local(s);
		side_listen(s);
	}
}

static void side_stop(struct side *s)
{
	mcx__listener_stop(&s->env);
	mcx__local_del(s->env.local);
	s->env.local = NULL;
	mcx__peers_close_all(&s->env);
	/* Nobody kept a reference to a registration. */
	for (int i = 0; i < s->nmems; i++) {
		ASSERT_EQ(mcx__regcache_put(&s->mem.cache, s->mems[i]), 0);
		mcx__mem_destroy(s->mems[i]);
	}
	free(s->mems);
	ASSERT_EQ(mcx__regcache_list(&s->mem.cache, NULL, 0), 0);
	mcx__memspace_fini(&s->mem);
	/* Every path either side made is closed. */
	ASSERT_EQ(fake_tp_get(&s->tp, &s->tp.paths_live), 0);
	fake_tp_teardown(&s->tp, &s->devs);
	pthread_mutex_destroy(&s->env.lock);
	mcx__auth_key_wipe(&s->key);
}

/* The key fake_register() gives chunk c of registration id on device d. */
static uint64_t fake_rkey(uint64_t id, uint64_t c, uint32_t d)
{
	return id * 100000000ULL + c * 4 + d + 1;
}

/*
 * An exported registration of [addr, addr + len) in chunks of chunk bytes
 * on every device of s, with the keys of fake_rkey() and no MR behind them
 * (mcx__mem_destroy() skips empty slots): what peers are told is all that
 * matters here, and the addresses need not be memory of this process.
 */
static struct mcx_mem *fake_register(struct side *s, uint64_t addr, uint64_t len,
				     uint64_t chunk)
{
	struct mcx_mem *m = calloc(1, sizeof(*m));
	uint32_t nch = (uint32_t)((len - 1) / chunk + 1);

	ASSERT_TRUE(s->nmems < MAX_FAKE_MEMS);
	ASSERT_TRUE(m != NULL);
	m->ms = &s->mem;
	m->id = atomic_fetch_add(&s->mem.next_id, 1);
	m->kind = MCX_MEM_HOST;
	m->addr = addr;
	m->len = len;
	m->chunk_size = chunk;
	m->nr_chunks = nch;
	m->nr_nics = s->devs.n;
	m->nics = (1U << m->nr_nics) - 1;	/* on every NIC, as mcx__mem_new() makes it */
	m->dmabuf_fd = -1;
	m->flags = MCX_MEM_EXPORT;	/* peers are told only of exported memory */
	m->mrs = calloc((size_t)nch * (m->nr_nics ? m->nr_nics : 1), sizeof(*m->mrs));
	ASSERT_TRUE(m->mrs != NULL);
	for (uint32_t c = 0; c < nch; c++)
		for (uint32_t d = 0; d < m->nr_nics; d++)
			m->mrs[(size_t)c * m->nr_nics + d].rkey = fake_rkey(m->id, c, d);
	atomic_store(&m->refs, 1);
	ASSERT_ERR(mcx__regcache_insert(&s->mem.cache, m), 0);
	s->mems[s->nmems++] = m;
	return m;
}

static int peer_state(struct mcx_peer *p, int *err)
{
	int st;

	pthread_mutex_lock(&p->dlock);
	st = p->state;
	if (err)
		*err = p->err;
	pthread_mutex_unlock(&p->dlock);
	return st;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Wait up to ms for p to be DEAD; the time it took, or -1. */
static long wait_dead(struct mcx_peer *p, long ms)
{
	uint64_t t0 = ms_now();

	while ((long)(ms_now() - t0) < ms) {
		if (peer_state(p, NULL) == MCX_PEER_DEAD)
			return (long)(ms_now() - t0);
		sleep_ms(10);
	}
	return -1;
}

static struct mcx_listener_stats lstats(struct side *s)
{
	struct mcx_listener_stats st;

	ASSERT_ERR(mcx__listener_stats(&s->env, &st), 0);
	return st;
}

/* Wait until the listener serves exactly n connections. */
static void wait_conns(struct side *s, uint32_t n)
{
	for (int i = 0; i < 500; i++) {
		if (lstats(s).conns == n)
			return;
		sleep_ms(10);
	}
	harness_fail(__FILE__, __LINE__, "listener still has %u connection(s), expected %u",
		     lstats(s).conns, n);
}

/* Wait until the listener has accepted n connections in all. */
static void wait_accepted(struct side *s, uint64_t n)
{
	for (int i = 0; i < 500; i++) {
		if (lstats(s).accepted >= n)
			return;
		sleep_ms(10);
	}
	harness_fail(__FILE__, __LINE__, "listener accepted %llu connection(s), expected %llu",
		     (unsigned long long)lstats(s).accepted, (unsigned long long)n);
}

/* Wait until the listener has seen n connections (served or refused). */
static void wait_seen(struct side *s, uint64_t n)
{
	for (int i = 0; i < 500; i++) {
		if (lstats(s).accepted + lstats(s).refused >= n)
			return;
		sleep_ms(10);
	}
	harness_fail(__FILE__, __LINE__, "listener saw %llu connection(s), expected %llu",
		     (unsigned long long)(lstats(s).accepted + lstats(s).refused),
		     (unsigned long long)n);
}

/* The peers in s's list (incoming ones are the listener's callers). */
static int count_peers(struct side *s)
{
	int n = 0;

	pthread_mutex_lock(&s->env.lock);
	for (struct mcx_peer *p = s->env.peers; p; p = p->next)
		n++;
	pthread_mutex_unlock(&s->env.lock);
	return n;
}

/* ---- two sides on 127.0.0.1 ---- */

TEST(peer_handshake_same_process_and_descriptors)
{
	struct side a, b;
	struct mcx_peer *p = NULL;
	struct mcx_rdesc *d;

	log_capture();
	side_start(&b, 1, 20000, true);
	side_start(&a, 0, 20000, false);
	fake_register(&b, 0x100000, 3 << 20, 1 << 20);	/* 3 chunks */
	fake_register(&b, 0x900000, 4096, 1 << 20);

	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_TRUE(p != NULL);
	/* Both live in this process: b's listener claimed a's probe. */
	ASSERT_TRUE(p->local == b.env.local);
	ASSERT_EQ(p->remote_ndevs, 1);
	ASSERT_EQ(peer_state(p, NULL), MCX_PEER_NEW);	/* lazy: no paths, no descriptors */
	ASSERT_EQ(p->nr_descs, 0);
	ASSERT_EQ(lstats(&b).accepted, 1);
	wait_conns(&b, 1);

	ASSERT_ERR(mcx__peer_connect(p), 0);
	ASSERT_EQ(peer_state(p, NULL), MCX_PEER_READY);
	ASSERT_EQ(p->nr_paths, 0);		/* memcpy will do */
	ASSERT_EQ(atomic_load(&a.up_calls), 1);
	ASSERT_EQ(p->nr_descs, 2);
	d = mcx__peer_find_desc(p, 0x100000 + (2 << 20) + 5, 100);
	ASSERT_TRUE(d != NULL);
	ASSERT_U64_EQ(d->addr, 0x100000);
	ASSERT_EQ(d->nr_chunks, 3);
	ASSERT_U64_EQ(mcx__rdesc_key(d, 0, 0), fake_rkey(1, 0, 0));
	ASSERT_U64_EQ(mcx__rdesc_key(d, 2, 0), fake_rkey(1, 2, 0));
	mcx__rdesc_put(d);
	d = mcx__peer_find_desc(p, 0x900000, 4096);
	ASSERT_TRUE(d != NULL);
	ASSERT_U64_EQ(mcx__rdesc_key(d, 0, 0), fake_rkey(2, 0, 0));
	mcx__rdesc_put(d);
	ASSERT_TRUE(mcx__peer_find_desc(p, 0x900000, 4097) == NULL);
	ASSERT_TRUE(mcx__peer_find_desc(p, 0x50000, 1) == NULL);
	ASSERT_ERR(mcx__peer_connect(p), 0);	/* already READY: nothing to do */

	/* A registration made later is found by a refetch... */
	fake_register(&b, 0x50000, 8192, 4096);
	ASSERT_ERR(mcx__peer_resolve(p, 0x50000, 8192, false, &d), 0);
	ASSERT_U64_EQ(mcx__rdesc_key(d, 1, 0), fake_rkey(3, 1, 0));
	mcx__rdesc_put(d);
	ASSERT_EQ(p->nr_descs, 3);
	/* ...and an address nobody registered fails after one. */
	ASSERT_ERR(mcx__peer_resolve(p, 0x7000000, 1, false, &d), -EFAULT);
	/* AUTH, HELLO and 3 MEM_REQs. */
	ASSERT_EQ(lstats(&b).requests, 1 + 1 + 3);

	mcx__peer_close(p);
	wait_conns(&b, 0);
	ASSERT_EQ(lstats(&b).dropped, 0);
	ASSERT_EQ(atomic_load(&a.gone_calls), 1);
	/* xfer/ is told while the connection it may be using still exists. */
	ASSERT_EQ(atomic_load(&a.closing_calls), 1);
	ASSERT_TRUE(a.conn_at_closing);
	side_stop(&a);
	side_stop(&b);
}

TEST(peer_descriptors_page_over_many_messages)
{
	const uint64_t big = 1ULL << 40, nbig = MCX_WIRE_MAX_CHUNKS + 4321;
	struct side a, b;
	struct mcx_peer *p = NULL;
	struct mcx_rdesc *d;

	log_capture();
	side_start(&b, 1, 20000, true);
	side_start(&a, 0, 20000, false);
	/*
	 * More registrations than one MEM_REPLY carries (MCX_WIRE_MAX_DESCS),
	 * and one with more chunks than one descriptor may have: two pages,
	 * the big registration split in two descriptors.
	 */
	fake_register(&b, big, nbig * 4096, 4096);
	for (int i = 0; i < 1100; i++)
		fake_register(&b, 0x10000000ULL + (uint64_t)i * 8192, 4096, 4096);
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_ERR(mcx__peer_connect(p), 0);
	ASSERT_EQ(p->nr_descs, 1100 + 2);
	ASSERT_EQ(lstats(&b).requests, 1 + 1 + 2);	/* AUTH, HELLO and two pages */
	d = mcx__peer_find_desc(p, 0x10000000ULL + 1099 * 8192, 4096);
	ASSERT_TRUE(d != NULL);
	ASSERT_U64_EQ(mcx__rdesc_key(d, 0, 0), fake_rkey(1101, 0, 0));
	mcx__rdesc_put(d);
	for (uint64_t c = 0; c < nbig; c += 99991) {
		uint64_t addr = big + c * 4096;

		d = mcx__peer_find_desc(p, addr, 4096);
		ASSERT_TRUE(d != NULL);
		ASSERT_U64_EQ(mcx__rdesc_key(d, mcx__rdesc_chunk_of(d, addr), 0),
			      fake_rkey(1, c, 0));
		mcx__rdesc_put(d);
	}
	/* The split shows: a range across it is in neither descriptor. */
	d = mcx__peer_find_desc(p, big + MCX_WIRE_MAX_CHUNKS * 4096ULL - 1, 2);
	ASSERT_TRUE(d == NULL);
	mcx__peer_close(p);
	side_stop(&a);
	side_stop(&b);
}

TEST(peer_connect_without_devices_fails_cleanly)
{
	struct side a, b;
	struct mcx_peer *p = NULL;
	int err = 0;

	log_capture();
	side_start(&b, 1, 2000, true);
	side_start(&a, 0, 2000, false);
	a.env.loopback_memcpy = false;	/* same process, but RDMA asked for */
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_TRUE(p->local == NULL);
	ASSERT_ERR(mcx__peer_connect(p), -ENODEV);
	ASSERT_EQ(peer_state(p, &err), MCX_PEER_DEAD);
	ASSERT_ERR(err, -ENODEV);
	ASSERT_EQ(atomic_load(&a.dead_calls), 1);
	ASSERT_ERR(mcx__peer_connect(p), -ENODEV);	/* stays dead */
	ASSERT_CONTAINS(captured_log, "no RDMA device");
	mcx__peer_close(p);
	side_stop(&a);
	side_stop(&b);
}

/* With devices on both sides the paths are made: CONNECT end to end. */
TEST(peer_connect_makes_paths_over_the_fake_transport)
{
	struct side a, b;
	struct mcx_peer *p = NULL;
	struct mcx_rdesc *d;

	log_capture();
	side_start(&b, 2, 5000, true);
	side_start(&a, 2, 5000, false);
	a.env.loopback_memcpy = false;
	fake_register(&b, 0x200000, 8192, 4096);
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_ERR(mcx__peer_connect(p), 0);
	ASSERT_EQ(p->nr_paths, 2);
	for (uint32_t k = 0; k < 2; k++) {
		ASSERT_EQ(p->paths[k].state, MCX_PATH_UP);
		ASSERT_EQ(p->paths[k].ldev, k);
		ASSERT_EQ(p->paths[k].rdev, k);	/* same index, same subnet */
		ASSERT_TRUE(p->paths[k].rail);
	}
	/* Ours initiate only; the listener's are the targets. */
	ASSERT_EQ(fake_tp_get(&a.tp, &a.tp.path_opens), 2);
	ASSERT_EQ(fake_tp_get(&a.tp, &a.tp.path_targets), 0);
	ASSERT_EQ(fake_tp_get(&a.tp, &a.tp.path_connects), 2);
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.path_opens), 2);
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.path_targets), 2);
	/* Keys of both devices, in the peer's device order. */
	d = mcx__peer_find_desc(p, 0x200000, 8192);
	ASSERT_TRUE(d != NULL);
	ASSERT_EQ(d->nr_nics, 2);
	ASSERT_U64_EQ(mcx__rdesc_key(d, 1, 1), fake_rkey(1, 1, 1));
	mcx__rdesc_put(d);
	mcx__peer_close(p);
	ASSERT_EQ(fake_tp_get(&a.tp, &a.tp.paths_live), 0);
	/* The listener's side of the paths goes with the connection. */
	wait_conns(&b, 0);
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.paths_live), 0);
	side_stop(&a);
	side_stop(&b);
}

TEST(peer_open_rejects_bad_addresses)
{
	static const char *const bad[] = {
		"", "host", "1.2.3.4", "1.2.3.4:", ":7000", "1.2.3.4:65536", "1.2.3.4:-1",
		"1.2.3.4:0", "a b:1", "1.2.3.4:12x", "::1:80",
	};
	struct side a;
	struct mcx_peer *p = (struct mcx_peer *)&a;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	char addr[64];
	int fd;

	log_capture();
	side_start(&a, 0, 1000, false);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_ERR(mcx__peer_open(&a.env, bad[i], &p), -EINVAL);
		ASSERT_TRUE(p == NULL);
	}
	/* The public calls refuse what they cannot hand on. */
	ASSERT_ERR(mcx_peer_open(NULL, "127.0.0.1:1", &p), -EINVAL);
	ASSERT_ERR(mcx_peer_warmup(NULL), -EINVAL);
	mcx_peer_close(NULL);

	/* A port nobody listens on (bound, then closed). */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ASSERT_EQ(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	ASSERT_ERR(mcx__peer_open(&a.env, addr, &p), -ECONNREFUSED);
	ASSERT_TRUE(p == NULL);
	ASSERT_CONTAINS(captured_log, "cannot connect");
	ASSERT_TRUE(a.env.peers == NULL);
	side_stop(&a);
}

TEST(peer_lost_connection_marks_peer_dead)
{
	struct side a, b;
	struct mcx_peer *p = NULL;
	struct mcx_rdesc *d;
	long took;
	int err = 0;

	log_capture();
	side_start(&b, 1, 5000, true);
	side_start(&a, 0, 5000, false);
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_ERR(mcx__peer_connect(p), 0);
	/* The listener goes away (as when its process dies): found at once. */
	mcx__listener_stop(&b.env);
	took = wait_dead(p, 3000);
	ASSERT_TRUE(took >= 0);
	ASSERT_TRUE(took < 1000);
	ASSERT_EQ(peer_state(p, &err), MCX_PEER_DEAD);
	ASSERT_ERR(err, -ECONNRESET);
	ASSERT_EQ(atomic_load(&a.dead_calls), 1);
	ASSERT_ERR(atomic_load(&a.last_dead_err), -ECONNRESET);
	ASSERT_TRUE(mcx__peer_refetch(p) < 0);
	ASSERT_ERR(mcx__peer_resolve(p, 0x1234, 1, false, &d), -EFAULT);
	ASSERT_ERR(mcx__peer_connect(p), -ECONNRESET);
	ASSERT_CONTAINS(captured_log, "connection lost");
	mcx__peer_close(p);
	side_stop(&a);
	side_stop(&b);
}

TEST(peer_pings_keep_a_quiet_peer_alive)
{
	struct side a, b;
	struct mcx_peer *p = NULL;

	log_capture();
	/* Pings every 250 ms; one unanswered for 1 s would kill the peer. */
	side_start(&b, 1, 1000, true);
	side_start(&a, 0, 1000, false);
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	sleep_ms(2000);
	ASSERT_EQ(peer_state(p, NULL), MCX_PEER_NEW);
	ASSERT_TRUE(lstats(&b).requests >= 2 + 5);	/* AUTH, HELLO and PINGs */
	ASSERT_EQ(lstats(&b).dropped, 0);
	mcx__peer_close(p);
	side_stop(&a);
	side_stop(&b);
}

TEST(peer_handshake_over_ipv6)
{
	struct side a, b;
	struct mcx_peer *p = NULL;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6))) {
		if (fd >= 0)
			close(fd);
		SKIP("no IPv6 loopback here");
	}
	close(fd);
	log_capture();
	side_start(&a, 0, 5000, false);
	side_start(&b, 1, 5000, false);
	side_local(&b);
	ASSERT_ERR(mcx__listener_start(&b.env, "[::1]:0"), 0);
	ASSERT_TRUE(strncmp(b.env.listen_addr, "[::1]:", 6) == 0);
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_TRUE(p->local == b.env.local);
	ASSERT_ERR(mcx__peer_connect(p), 0);
	mcx__peer_close(p);
	side_stop(&a);
	side_stop(&b);
}

struct refetch_arg {
	struct mcx_peer *p;
	pthread_barrier_t *bar;
	int ret;
};

static void *refetch_main(void *arg)
{
	struct refetch_arg *ra = arg;

	pthread_barrier_wait(ra->bar);
	ra->ret = mcx__peer_refetch(ra->p);
	return NULL;
}

TEST(peer_concurrent_refetches_share_round_trips)
{
	enum { T = 16 };
	struct side a, b;
	struct mcx_peer *p = NULL;
	struct refetch_arg ra[T];
	pthread_t th[T];
	pthread_barrier_t bar;
	uint64_t before, after;
	struct mcx_rdesc *d;

	log_capture();
	side_start(&b, 1, 20000, true);
	side_start(&a, 0, 20000, false);
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_ERR(mcx__peer_connect(p), 0);
	ASSERT_EQ(p->nr_descs, 0);
	/* Registered before anyone asks: every caller must see it. */
	fake_register(&b, 0x40000, 4096, 4096);
	before = lstats(&b).requests;
	pthread_barrier_init(&bar, NULL, T);
	for (int i = 0; i < T; i++) {
		ra[i] = (struct refetch_arg){ .p = p, .bar = &bar, .ret = 1 };
		ASSERT_EQ(pthread_create(&th[i], NULL, refetch_main, &ra[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		ASSERT_ERR(ra[i].ret, 0);
	}
	pthread_barrier_destroy(&bar);
	after = lstats(&b).requests;
	ASSERT_TRUE(after - before >= 1);
	ASSERT_TRUE(after - before < T);
	d = mcx__peer_find_desc(p, 0x40000, 4096);
	ASSERT_TRUE(d != NULL);
	mcx__rdesc_put(d);
	/* One caller alone still asks again (a registration may be new). */
	ASSERT_ERR(mcx__peer_refetch(p), 0);
	ASSERT_EQ(lstats(&b).requests, after + 1);
	mcx__peer_close(p);
	side_stop(&a);
	side_stop(&b);
}

/* ---- raw clients ---- */

static int raw_connect(const char *addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 3 };
	const char *colon = strrchr(addr, ':');
	char host[64];
	int fd;

	ASSERT_TRUE(colon && (size_t)(colon - addr) < sizeof(host));
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	ASSERT_EQ(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void raw_send(int fd, const void *buf, size_t len)
{
	ASSERT_EQ(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * Read one message into buf: its length, 0 at end of file (or a reset), -1
 * when nothing came within the socket's timeout.
 */
static ssize_t raw_recv(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0, want = MCX_WIRE_HDR_LEN;
	struct mcx_wire_hdr h;

	while (got < want) {
		ssize_t n = recv(fd, buf + got, want - got, 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
		if (got == MCX_WIRE_HDR_LEN && want == MCX_WIRE_HDR_LEN) {
			ASSERT_ERR(mcx__wire_parse_header(buf, got, cap, &h), 0);
			want = h.len;
		}
	}
	return (ssize_t)got;
}

/* Whether the other end has closed fd (without waiting). */
static bool raw_eof_now(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t b;

	return poll(&pfd, 1, 0) == 1 && recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

/* The sequence number of a message. */
static uint32_t msg_seq(const uint8_t *buf)
{
	return (uint32_t)buf[12] | (uint32_t)buf[13] << 8 | (uint32_t)buf[14] << 16 |
	       (uint32_t)buf[15] << 24;
}

/*
 * The next message is an ERROR with err; then the server hangs up.  What
 * came is appended to seen (when set), for the checks of what leaked.
 */
static void expect_error_then_eof_seen(int fd, int err, uint8_t *seen, size_t *nseen)
{
	uint8_t buf[512];
	struct mcx_wire_error e;
	ssize_t n = raw_recv(fd, buf, sizeof(buf));

	ASSERT_TRUE(n > 0);
	if (seen) {
		memcpy(seen + *nseen, buf, (size_t)n);
		*nseen += (size_t)n;
	}
	ASSERT_ERR(mcx__wire_decode_error(buf, (size_t)n, &e), 0);
	ASSERT_ERR(-e.err, err);
	ASSERT_EQ(raw_recv(fd, buf, sizeof(buf)), 0);
}

static void expect_error_then_eof(int fd, int err)
{
	expect_error_then_eof_seen(fd, err, NULL, NULL);
}

/* The next message is an ERROR with err for req_type; the line stays up. */
#define expect_error(fd, err, req_type, msg) expect_error_at(__LINE__, fd, err, req_type, msg)

static void expect_error_at(int line, int fd, int err, uint16_t req_type, const char *msg)
{
	uint8_t buf[512];
	struct mcx_wire_error e;
	ssize_t n = raw_recv(fd, buf, sizeof(buf));

	ASSERT_TRUE(n > 0);
	if (mcx__wire_decode_error(buf, (size_t)n, &e))
		harness_fail(__FILE__, line, "expected an ERROR, got a %s (seq %u)",
			     mcx__wire_type_name((uint16_t)(buf[6] | buf[7] << 8)), msg_seq(buf));
	ASSERT_ERR(-e.err, err);
	ASSERT_EQ(e.req_type, req_type);
	if (msg)
		ASSERT_CONTAINS(e.msg, msg);
}

/* A HELLO (or HELLO_REPLY) of a client with ndevs devices. */
static size_t hello_msg_n(uint8_t *buf, size_t cap, uint16_t type, uint32_t seq,
			  uint64_t probe, uint32_t ndevs)
{
	struct mcx_wire_hello *h = calloc(1, sizeof(*h));
	ssize_t len;

	ASSERT_TRUE(h != NULL);
	h->probe = type == MCX_WIRE_HELLO ? probe : 0;
	h->transport = MCX_WIRE_TRANSPORT_VERBS;
	snprintf(h->host, sizeof(h->host), "raw-client");
	h->ndevs = ndevs;
	for (uint32_t i = 0; i < ndevs; i++) {
		struct mcx_wire_dev *d = &h->devs[i];

		d->index = i;
		snprintf(d->name, sizeof(d->name), "r%u", i);
		d->fabric = MCX_WIRE_FABRIC_ETH;
		d->port = 1;
		d->ipv4[0] = 10;
		d->ipv4[1] = 9;
		d->ipv4[2] = 9;
		d->ipv4[3] = (uint8_t)(9 + i);
		d->prefix = 24;
		d->caps = MCX_TP_CAP_RC;
		d->max_msg = 1 << 20;
		d->addr_len = 8;
		memcpy(d->addr, "rawaddr", 8);
	}
	len = mcx__wire_encode_hello(buf, cap, type, seq, h);
	free(h);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static size_t hello_msg(uint8_t *buf, size_t cap, uint16_t type)
{
	return hello_msg_n(buf, cap, type, 7, 0x1234567, 1);
}

/*
 * Authenticate on fd with key (NULL: a listener without one), as the
 * client of lib/peer would: AUTH with seq 1, AUTH_PROOF with seq 2.
 * What the listener sent is appended to seen (when set).
 */
static void raw_auth_seen(int fd, const struct mcx_auth_key *key, uint8_t *seen, size_t *nseen)
{
	struct mcx_wire_auth a = { .flags = key ? MCX_WIRE_AUTH_HAS_KEY : 0 };
	struct mcx_wire_auth_reply r;
	struct mcx_wire_auth_proof p;
	uint8_t buf[256];
	ssize_t len, n;

	ASSERT_ERR(mcx__auth_nonce(a.nonce), 0);
	len = mcx__wire_encode_auth(buf, sizeof(buf), 1, &a);
	ASSERT_TRUE(len > 0);
	raw_send(fd, buf, (size_t)len);
	n = raw_recv(fd, buf, sizeof(buf));
	ASSERT_TRUE(n > 0);
	if (seen) {
		memcpy(seen + *nseen, buf, (size_t)n);
		*nseen += (size_t)n;
	}
	ASSERT_ERR(mcx__wire_decode_auth_reply(buf, (size_t)n, &r), 0);
	ASSERT_EQ(msg_seq(buf), 1);
	if (!key) {
		ASSERT_EQ(r.mode, MCX_WIRE_AUTH_OPEN);
		return;
	}
	ASSERT_EQ(r.mode, MCX_WIRE_AUTH_KEY);
	ASSERT_ERR(mcx__auth_check(key, MCX_AUTH_SERVER, a.nonce, r.nonce, MCX_HANDSHAKE_AUTH_CTX,
				   sizeof(MCX_HANDSHAKE_AUTH_CTX), r.proof), 0);
	ASSERT_ERR(mcx__auth_proof(key, MCX_AUTH_CLIENT, a.nonce, r.nonce, MCX_HANDSHAKE_AUTH_CTX,
				   sizeof(MCX_HANDSHAKE_AUTH_CTX), p.proof), 0);
	len = mcx__wire_encode_auth_proof(buf, sizeof(buf), 2, &p);
	ASSERT_TRUE(len > 0);
	raw_send(fd, buf, (size_t)len);
	n = raw_recv(fd, buf, sizeof(buf));
	ASSERT_TRUE(n > 0);
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)n, MCX_WIRE_AUTH_OK), 0);
	ASSERT_EQ(msg_seq(buf), 2);
}

static void raw_auth(int fd, const struct mcx_auth_key *key)
{
	raw_auth_seen(fd, key, NULL, NULL);
}

/* HELLO with ndevs devices and probe; the reply must come (seq 7). */
static void raw_hello_n(int fd, uint64_t probe, uint32_t ndevs)
{
	uint8_t buf[16384];
	struct mcx_wire_hello *back = malloc(sizeof(*back));
	size_t len = hello_msg_n(buf, sizeof(buf), MCX_WIRE_HELLO, 7, probe, ndevs);
	ssize_t n;

	ASSERT_TRUE(back != NULL);
	raw_send(fd, buf, len);
	n = raw_recv(fd, buf, sizeof(buf));
	ASSERT_TRUE(n > 0);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)n, MCX_WIRE_HELLO_REPLY, back), 0);
	ASSERT_EQ(msg_seq(buf), 7);		/* our sequence number back */
	/* Nothing of our probe comes back: a reply carries none. */
	ASSERT_U64_EQ(back->probe, 0);
	free(back);
}

static void raw_hello(int fd)
{
	raw_hello_n(fd, 0x1234567, 1);
}

/* A PING with seq; the PONG must come back with it. */
static void raw_ping(int fd, uint32_t seq)
{
	uint8_t buf[64];
	ssize_t len = mcx__wire_encode_empty(buf, sizeof(buf), MCX_WIRE_PING, seq), n;

	raw_send(fd, buf, (size_t)len);
	n = raw_recv(fd, buf, sizeof(buf));
	ASSERT_TRUE(n > 0);
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)n, MCX_WIRE_PONG), 0);
	ASSERT_EQ(msg_seq(buf), seq);
}

/* A CONNECT of npairs pairs (our device i to its device remote[i]). */
static size_t connect_msg(uint8_t *buf, size_t cap, uint32_t seq, uint32_t flags,
			  uint32_t npairs, const uint32_t *local, const uint32_t *remote)
{
	struct mcx_wire_connect *c = calloc(1, sizeof(*c));
	ssize_t len;

	ASSERT_TRUE(c != NULL);
	c->flags = flags;
	c->npairs = npairs;
	for (uint32_t i = 0; i < npairs; i++) {
		c->pairs[i].local_nic = local[i];
		c->pairs[i].remote_nic = remote[i];
		c->pairs[i].blob_len = 8;
		memcpy(c->pairs[i].blob, "rawblob", 8);
	}
	len = mcx__wire_encode_connect(buf, cap, MCX_WIRE_CONNECT, seq, c);
	free(c);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

/* The next message is the CONNECT_REPLY to seq, with npairs pairs. */
static void expect_connect_reply(int fd, uint32_t seq, uint32_t npairs)
{
	uint8_t buf[16384];
	struct mcx_wire_connect *c = calloc(1, sizeof(*c));
	ssize_t n = raw_recv(fd, buf, sizeof(buf));

	ASSERT_TRUE(c != NULL);
	ASSERT_TRUE(n > 0);
	ASSERT_ERR(mcx__wire_decode_connect(buf, (size_t)n, MCX_WIRE_CONNECT_REPLY, c), 0);
	ASSERT_EQ(msg_seq(buf), seq);
	ASSERT_EQ(c->npairs, npairs);
	ASSERT_TRUE(c->pairs[0].blob_len > 0);
	free(c);
}

/* A client that is authenticated and has said HELLO. */
static int raw_ready(struct side *s)
{
	int fd = raw_connect(s->env.listen_addr);

	raw_auth(fd, s->env.key);
	raw_hello(fd);
	return fd;
}

/* ---- the listener under abuse ---- */

TEST(listener_rejects_bad_headers)
{
	static const uint32_t sizes[] = { MCX_LISTEN_MAX_REQ + 1, MCX_WIRE_MAX_MSG, 0x7fffffff,
					  0xffffffff };
	struct side b;
	uint8_t buf[4096];
	size_t len;
	int fd;

	log_capture();
	side_start(&b, 1, 2000, true);

	/* Garbage: not our magic. */
	fd = raw_connect(b.env.listen_addr);
	memset(buf, 0xa5, 64);
	raw_send(fd, buf, 64);
	expect_error_then_eof(fd, -EBADMSG);
	close(fd);

	/* A length field far over what a request may be. */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fd = raw_connect(b.env.listen_addr);
		len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
		buf[8] = (uint8_t)sizes[i];
		buf[9] = (uint8_t)(sizes[i] >> 8);
		buf[10] = (uint8_t)(sizes[i] >> 16);
		buf[11] = (uint8_t)(sizes[i] >> 24);
		raw_send(fd, buf, len);
		expect_error_then_eof(fd, -EMSGSIZE);
		close(fd);
	}

	/* Another version of the protocol: told which one we speak. */
	for (uint8_t v = 1; v <= 3; v += 2) {
		struct mcx_wire_error e;
		ssize_t n;

		fd = raw_connect(b.env.listen_addr);
		len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
		buf[4] = v;
		mcx__wire_seal(buf, len);
		raw_send(fd, buf, len);
		n = raw_recv(fd, buf, sizeof(buf));
		ASSERT_TRUE(n > 0);
		ASSERT_ERR(mcx__wire_decode_error(buf, (size_t)n, &e), 0);
		ASSERT_ERR(-e.err, -EPROTO);
		ASSERT_CONTAINS(e.msg, "speaks 2");
		ASSERT_EQ(raw_recv(fd, buf, sizeof(buf)), 0);
		close(fd);
	}

	/* A bad checksum: the header is fine, the message is not. */
	fd = raw_connect(b.env.listen_addr);
	len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	buf[len - 1] ^= 1;
	raw_send(fd, buf, len);
	expect_error_then_eof(fd, -EBADMSG);
	close(fd);

	wait_conns(&b, 0);
	ASSERT_TRUE(lstats(&b).dropped >= 8);
	side_stop(&b);
}

TEST(listener_enforces_the_conversation)
{
	struct side b;
	uint8_t buf[4096];
	struct mcx_wire_mem_req q = { 0 };
	struct mcx_wire_mem m;
	uint32_t l0[1] = { 0 }, r3[1] = { 3 }, l9[1] = { 9 };
	ssize_t len, n;
	int fd;

	log_capture();
	side_start(&b, 1, 2000, true);
	fake_register(&b, 0x10000, 4096, 4096);

	/* Anything before AUTH, even without a key. */
	fd = raw_connect(b.env.listen_addr);
	len = mcx__wire_encode_mem_req(buf, sizeof(buf), 1, &q);
	raw_send(fd, buf, (size_t)len);
	expect_error_then_eof(fd, -EACCES);
	close(fd);

	/* Authenticated, but no HELLO yet. */
	fd = raw_connect(b.env.listen_addr);
	raw_auth(fd, NULL);
	len = mcx__wire_encode_mem_req(buf, sizeof(buf), 3, &q);
	raw_send(fd, buf, (size_t)len);
	expect_error_then_eof(fd, -EPROTO);
	close(fd);

	/* A reply type sent as a request. */
	fd = raw_connect(b.env.listen_addr);
	raw_auth(fd, NULL);
	raw_hello(fd);
	len = (ssize_t)hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO_REPLY);
	raw_send(fd, buf, (size_t)len);
	expect_error_then_eof(fd, -EPROTO);
	close(fd);

	/* HELLO twice. */
	fd = raw_connect(b.env.listen_addr);
	raw_auth(fd, NULL);
	raw_hello(fd);
	len = (ssize_t)hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	raw_send(fd, buf, (size_t)len);
	expect_error_then_eof(fd, -EPROTO);
	close(fd);

	/* CONNECT refusals keep the connection; MEM_REQ and PING work. */
	fd = raw_connect(b.env.listen_addr);
	raw_auth(fd, NULL);
	raw_hello(fd);
	len = (ssize_t)connect_msg(buf, sizeof(buf), 10, 0, 1, l0, r3);
	raw_send(fd, buf, (size_t)len);
	expect_error(fd, -ENODEV, MCX_WIRE_CONNECT, "index 3");	/* we have no device 3 */
	len = (ssize_t)connect_msg(buf, sizeof(buf), 11, 0, 1, l9, l0);
	raw_send(fd, buf, (size_t)len);
	expect_error(fd, -EINVAL, MCX_WIRE_CONNECT, "not in your HELLO");
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.path_opens), 0);
	len = mcx__wire_encode_mem_req(buf, sizeof(buf), 12, &q);
	raw_send(fd, buf, (size_t)len);
	n = raw_recv(fd, buf, sizeof(buf));
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)n, &m), 0);
	ASSERT_EQ(m.total, 1);
	ASSERT_EQ(m.count, 1);
	ASSERT_U64_EQ(m.descs[0].addr, 0x10000);
	ASSERT_U64_EQ(m.descs[0].keys[0], fake_rkey(1, 0, 0));
	mcx__wire_mem_free(&m);
	q.cursor = 5;					/* past the end */
	len = mcx__wire_encode_mem_req(buf, sizeof(buf), 13, &q);
	raw_send(fd, buf, (size_t)len);
	expect_error(fd, -ERANGE, MCX_WIRE_MEM_REQ, NULL);
	raw_ping(fd, 14);
	/* And a CONNECT the fake transport can make: a target path. */
	len = (ssize_t)connect_msg(buf, sizeof(buf), 15, 0, 1, l0, l0);
	raw_send(fd, buf, (size_t)len);
	expect_connect_reply(fd, 15, 1);
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.path_targets), 1);
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.paths_live), 1);
	close(fd);

	wait_conns(&b, 0);
	/* The caller's paths went with its connection. */
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.paths_live), 0);
	side_stop(&b);
}

TEST(listener_drops_slow_clients_and_keeps_serving)
{
	struct side a, b;
	struct mcx_peer *p = NULL;
	uint8_t buf[4096];
	uint64_t t0;
	size_t len;
	int slow, idle;

	/*
	 * The listener's timeout is long enough (2 s) that a real peer's
	 * handshake beats it even on a loaded machine under ASan, and every
	 * bound below is from a t0 taken before the connections existed, so
	 * the listener's clock cannot have started first.
	 */
	log_capture();
	side_start(&b, 1, 2000, true);
	side_start(&a, 0, 2000, false);

	/* Half a header, then nothing; and a client that never says anything. */
	t0 = ms_now();
	slow = raw_connect(b.env.listen_addr);
	idle = raw_connect(b.env.listen_addr);
	len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	raw_send(slow, buf, 10);
	wait_conns(&b, 2);

	/* Meanwhile a real peer is served, while the two are still held. */
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_ERR(mcx__peer_connect(p), 0);
	ASSERT_EQ(lstats(&b).dropped, 0);

	/* Both are dropped after the timeout (2 s), not before. */
	ASSERT_EQ(raw_recv(slow, buf, sizeof(buf)), 0);
	ASSERT_EQ(raw_recv(idle, buf, sizeof(buf)), 0);
	ASSERT_TRUE(ms_now() - t0 >= 1950);
	ASSERT_TRUE(ms_now() - t0 < 3 * 2000);
	close(slow);
	close(idle);
	wait_conns(&b, 1);
	ASSERT_TRUE(lstats(&b).dropped >= 2);

	/*
	 * A message trickling in byte by byte must still be whole in time:
	 * it would take twice the timeout to arrive, so it is dropped.
	 */
	slow = raw_connect(b.env.listen_addr);
	raw_auth(slow, NULL);
	t0 = ms_now();
	for (size_t i = 0; i < len; i++) {
		if (send(slow, buf + i, 1, MSG_NOSIGNAL) != 1)
			break;
		sleep_ms((unsigned int)(2 * 2000 / len) + 1);
		if (ms_now() - t0 > 3 * 2000)
			break;
	}
	ASSERT_EQ(raw_recv(slow, buf, sizeof(buf)), 0);
	ASSERT_TRUE(ms_now() - t0 < 3 * 2000);
	close(slow);

	ASSERT_EQ(peer_state(p, NULL), MCX_PEER_READY);
	mcx__peer_close(p);
	wait_conns(&b, 0);
	side_stop(&a);
	side_stop(&b);
}

TEST(listener_survives_mutated_messages)
{
	struct side a, b;
	struct mcx_peer *p = NULL;
	uint8_t buf[4096], in[4096];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int answered = 0, hung_up = 0;

	log_capture();
	side_start(&b, 1, 1000, true);
	side_start(&a, 0, 1000, false);
	for (int i = 0; i < 400; i++) {
		int fd = raw_connect(b.env.listen_addr);
		size_t len;
		ssize_t n;

		/* Half mutate the first message, half a HELLO after AUTH. */
		if (i % 4 < 2) {
			struct mcx_wire_auth au = { .flags = 0 };

			memset(au.nonce, 0x5a, sizeof(au.nonce));
			len = (size_t)mcx__wire_encode_auth(buf, sizeof(buf), 1, &au);
		} else {
			raw_auth(fd, NULL);
			len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
		}
		for (int k = 0; k < 1 + i % 4; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[x % len] ^= (uint8_t)(1U << ((x >> 32) % 8));
		}
		if (i % 2)
			mcx__wire_seal(buf, len);	/* reach the payload checks */
		raw_send(fd, buf, len);
		shutdown(fd, SHUT_WR);
		/* Whatever it was: an answer and/or an end of file, quickly. */
		n = raw_recv(fd, in, sizeof(in));
		ASSERT_TRUE(n >= 0);
		if (n > 0) {
			answered++;
			n = raw_recv(fd, in, sizeof(in));
			ASSERT_TRUE(n >= 0);
		}
		if (n == 0)
			hung_up++;
		close(fd);
	}
	ASSERT_EQ(hung_up, 400);
	ASSERT_TRUE(answered > 0);
	wait_conns(&b, 0);
	ASSERT_EQ(count_peers(&b), 0);
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_ERR(mcx__peer_connect(p), 0);
	mcx__peer_close(p);
	side_stop(&a);
	side_stop(&b);
}

/* ---- raw servers ---- */

/*
 * A listener played by the test: it accepts one connection and runs serve
 * on it, answering only what the test wants it to.
 */
struct fake_server {
	int lfd;
	char addr[64];
	pthread_t th;
	void (*serve)(struct fake_server *s, int fd);
	bool half;			/* mute: half a PONG to the first PING */
	bool echo_probe;		/* echo: the client's probe in the reply */
	const char *relay_to;		/* relay: a listener to pass the probe to */
	const struct mcx_auth_key *relay_key;
	uint64_t probe;			/* the client's, as it came */
};

static void *server_main(void *arg)
{
	struct fake_server *s = arg;
	struct timeval tv = { .tv_sec = 3 };
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	s->serve(s, fd);
	close(fd);
	return NULL;
}

static void server_start(struct fake_server *s, void (*serve)(struct fake_server *, int))
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);

	s->serve = serve;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_TRUE(s->lfd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	ASSERT_EQ(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ASSERT_EQ(listen(s->lfd, 4), 0);
	ASSERT_EQ(getsockname(s->lfd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	ASSERT_EQ(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void server_stop(struct fake_server *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
}

/* Read until the client goes (so nothing backs up), answering nothing. */
static void serve_drain(int fd)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
			continue;
		break;
	}
}

/* Answer the client's AUTH as a listener without a key does. */
static void serve_auth_open(int fd)
{
	uint8_t buf[256];
	struct mcx_wire_auth a;
	struct mcx_wire_auth_reply r = { .mode = MCX_WIRE_AUTH_OPEN };
	ssize_t n = raw_recv(fd, buf, sizeof(buf)), len;

	ASSERT_TRUE(n > 0);
	ASSERT_ERR(mcx__wire_decode_auth(buf, (size_t)n, &a), 0);
	ASSERT_ERR(mcx__auth_nonce(r.nonce), 0);
	len = mcx__wire_encode_auth_reply(buf, sizeof(buf), msg_seq(buf), &r);
	ASSERT_TRUE(len > 0);
	raw_send(fd, buf, (size_t)len);
}

/* Read the client's HELLO into *h; its sequence number. */
static uint32_t serve_read_hello(int fd, struct mcx_wire_hello *h)
{
	uint8_t buf[16384];
	ssize_t n = raw_recv(fd, buf, sizeof(buf));

	ASSERT_TRUE(n > 0);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)n, MCX_WIRE_HELLO, h), 0);
	return msg_seq(buf);
}

/* A HELLO_REPLY of one device to seq. */
static void serve_hello_reply(int fd, uint32_t seq)
{
	uint8_t buf[4096];
	size_t len = hello_msg_n(buf, sizeof(buf), MCX_WIRE_HELLO_REPLY, seq, 0, 1);

	raw_send(fd, buf, len);
}

/* Answers AUTH and HELLO, then nothing at all (a hung process). */
static void serve_mute(struct fake_server *s, int fd)
{
	struct mcx_wire_hello *h = malloc(sizeof(*h));
	uint8_t buf[256];
	size_t len;

	ASSERT_TRUE(h != NULL);
	serve_auth_open(fd);
	serve_hello_reply(fd, serve_read_hello(fd, h));
	free(h);
	if (s->half && raw_recv(fd, buf, sizeof(buf)) > 0) {
		len = (size_t)mcx__wire_encode_empty(buf, sizeof(buf), MCX_WIRE_PONG,
						     msg_seq(buf));
		ASSERT_EQ(len, MCX_WIRE_HDR_LEN);
		raw_send(fd, buf, 10);
	}
	serve_drain(fd);
}

/* ---- engines on different transports ---- */

/*
 * The fake stands for a libfabric engine when it speaks that transport's
 * wire id (fake_tp_ops speaks verbs').  One table for every side of the
 * test: sides only read it.
 */
static struct mcx_transport_ops fabric_like_ops;

static void side_speak_fabric(struct side *s)
{
	fabric_like_ops = fake_tp_ops;
	fabric_like_ops.name = "fabric";
	fabric_like_ops.wire_id = MCX_WIRE_TRANSPORT_FABRIC;
	s->devs.ops = &fabric_like_ops;
}

/*
 * An engine on the libfabric transport and one on verbs refuse each other
 * at the HELLO, in both directions, with -EPROTONOSUPPORT and a line on
 * each side naming both transports; neither keeps a peer, and the
 * listener hangs up.  The client's error comes from the listener's ERROR
 * reply, not from a timeout (it would be -ETIMEDOUT after 20 s).  Checked
 * to fail before the listener logged the refusal (the client got the
 * errno, but the listener said nothing and the reason named the
 * transports by number only).
 */
TEST(peer_fabric_and_verbs_engines_refuse_each_other)
{
	for (int fabric_calls = 0; fabric_calls < 2; fabric_calls++) {
		const char *mine = fabric_calls ? "fabric" : "verbs";
		const char *theirs = fabric_calls ? "verbs" : "fabric";
		struct side a, b;
		struct mcx_peer *p = (struct mcx_peer *)&a;
		char want[160];

		log_capture();
		side_start(&b, 1, 20000, true);
		side_start(&a, 1, 20000, false);
		side_speak_fabric(fabric_calls ? &a : &b);
		ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), -EPROTONOSUPPORT);
		ASSERT_TRUE(p == NULL);
		ASSERT_TRUE(a.env.peers == NULL);
		/* The listener's line: the caller's transport, then its own. */
		snprintf(want, sizeof(want), "speaks the %s transport, this engine %s",
			 mine, theirs);
		ASSERT_CONTAINS(captured_log, "listener: 127.0.0.1:");
		ASSERT_CONTAINS(captured_log, want);
		/* The caller's: the reason it was given, and its own line. */
		snprintf(want, sizeof(want),
			 "refused HELLO: %s: the listener speaks the %s transport, the caller %s",
			 mcx_strerror(-EPROTONOSUPPORT), theirs, mine);
		ASSERT_CONTAINS(captured_log, want);
		snprintf(want, sizeof(want), "refused this engine's %s transport", mine);
		ASSERT_CONTAINS(captured_log, want);
		ASSERT_CONTAINS(captured_log, "MCX_TRANSPORT");
		wait_conns(&b, 0);
		ASSERT_EQ(count_peers(&b), 0);
		ASSERT_EQ(fake_tp_get(&a.tp, &a.tp.path_opens), 0);
		ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.path_opens), 0);
		side_stop(&a);
		side_stop(&b);
	}
}

/*
 * A listener that does not check (an older engine, here a raw server that
 * answers as verbs) is refused by a fabric caller from its HELLO reply.
 */
TEST(peer_fabric_caller_refuses_a_verbs_reply)
{
	struct side a;
	struct fake_server s = { 0 };
	struct mcx_peer *p = (struct mcx_peer *)&a;

	log_capture();
	side_start(&a, 1, 20000, false);
	side_speak_fabric(&a);
	server_start(&s, serve_mute);
	ASSERT_ERR(mcx__peer_open(&a.env, s.addr, &p), -EPROTONOSUPPORT);
	ASSERT_TRUE(p == NULL);
	ASSERT_CONTAINS(captured_log, "speaks the verbs transport, this engine fabric");
	ASSERT_CONTAINS(captured_log, "MCX_TRANSPORT");
	server_stop(&s);	/* the client hung up: serve_drain returned */
	ASSERT_TRUE(a.env.peers == NULL);
	side_stop(&a);
}

/*
 * The metadata blob says which transport its engine speaks: a blob of a
 * fabric engine is refused by a verbs engine (and the other way round)
 * before anything is sent to its listener.  Checked to fail before
 * mcx__peer_open_md() looked at the blob's transport: it connected, and
 * only the listener's refusal stopped it.
 */
TEST(peer_metadata_of_another_transport_is_refused_unopened)
{
	for (int fabric_blob = 0; fabric_blob < 2; fabric_blob++) {
		struct side a, b;
		struct mcx_peer *p = (struct mcx_peer *)&a;
		size_t need = 0;
		uint8_t *md;
		int len;
		char want[160];

		log_capture();
		side_start(&b, 1, 20000, true);
		side_start(&a, 1, 20000, false);
		side_speak_fabric(fabric_blob ? &b : &a);
		fake_register(&b, 0x200000, 8192, 4096);
		ASSERT_ERR(mcx__peer_export_md(&b.env, NULL, 0, &need), -ENOBUFS);
		md = malloc(need);
		ASSERT_TRUE(md != NULL);
		len = mcx__peer_export_md(&b.env, md, need, &need);
		ASSERT_TRUE(len > 0);
		ASSERT_ERR(mcx__peer_open_md(&a.env, md, (size_t)len, &p), -EPROTONOSUPPORT);
		ASSERT_TRUE(p == NULL);
		snprintf(want, sizeof(want), "speaks the %s transport, this engine %s",
			 fabric_blob ? "fabric" : "verbs", fabric_blob ? "verbs" : "fabric");
		ASSERT_CONTAINS(captured_log, want);
		ASSERT_CONTAINS(captured_log, "peer metadata");
		/* Its listener never heard of us. */
		ASSERT_EQ(lstats(&b).accepted, 0);
		ASSERT_TRUE(a.env.peers == NULL);

		/* The control: an engine of the blob's transport opens it. */
		a.devs.ops = b.devs.ops;
		ASSERT_ERR(mcx__peer_open_md(&a.env, md, (size_t)len, &p), 0);
		ASSERT_EQ(lstats(&b).accepted, 1);
		mcx__peer_close(p);
		wait_conns(&b, 0);
		free(md);
		side_stop(&a);
		side_stop(&b);
	}
}

TEST(peer_unanswered_pings_mark_peer_dead)
{
	struct side a;
	struct fake_server s = { 0 };
	struct mcx_peer *p = NULL;
	long took;
	int err = 0;

	log_capture();
	side_start(&a, 0, 500, false);
	server_start(&s, serve_mute);
	ASSERT_ERR(mcx__peer_open(&a.env, s.addr, &p), 0);
	ASSERT_TRUE(p->local == NULL);
	/* Pings every 125 ms; the first unanswered for 500 ms kills it. */
	took = wait_dead(p, 3000);
	ASSERT_TRUE(took >= 400);
	ASSERT_TRUE(took < 1500);
	ASSERT_EQ(peer_state(p, &err), MCX_PEER_DEAD);
	ASSERT_ERR(err, -ETIMEDOUT);
	ASSERT_CONTAINS(captured_log, "no answer to a ping");
	mcx__peer_close(p);
	server_stop(&s);
	side_stop(&a);
}

TEST(peer_half_a_reply_marks_peer_dead)
{
	struct side a;
	struct fake_server s = { .half = true };
	struct mcx_peer *p = NULL;
	long took;
	int err = 0;

	log_capture();
	side_start(&a, 0, 500, false);
	server_start(&s, serve_mute);
	ASSERT_ERR(mcx__peer_open(&a.env, s.addr, &p), 0);
	took = wait_dead(p, 3000);
	ASSERT_TRUE(took >= 400);
	ASSERT_TRUE(took < 1500);
	ASSERT_EQ(peer_state(p, &err), MCX_PEER_DEAD);
	ASSERT_ERR(err, -ETIMEDOUT);
	/* The half message and the unanswered ping expire together. */
	ASSERT_TRUE(strstr(captured_log, "stuck half way") ||
		    strstr(captured_log, "no answer to a ping"));
	ASSERT_CONTAINS(captured_log, "connection lost");
	mcx__peer_close(p);
	server_stop(&s);
	side_stop(&a);
}

/* ---- the same-process short-cut is decided in this process ---- */

/*
 * The probe table alone.  Checked to fail by letting
 * mcx__local_probe_claim() record a probe it does not find pending (a
 * claim decided by what the network sends): the probe this process never
 * started came back claimed.
 */
TEST(local_probe_claim_and_end)
{
	struct side b;
	struct mcx_local_engine *le, *got;
	struct mcx_local_conn c1 = { .caller_port = 40000, .listener_port = 7000 };
	struct mcx_local_conn c2 = { .caller_port = 40001, .listener_port = 7000 };
	uint64_t p1, p2, p3;

	side_start(&b, 0, 1000, false);
	side_local(&b);
	le = b.env.local;
	p1 = mcx__local_probe_start(&c1);
	p2 = mcx__local_probe_start(&c2);
	ASSERT_TRUE(p1 != 0 && p2 != 0 && p1 != p2);

	/* Claimed by an engine: the client gets it, with a reference. */
	mcx__local_probe_claim(p1, &c1, le);
	got = mcx__local_probe_end(p1);
	ASSERT_TRUE(got == le);
	mcx__local_put(got);
	/* Forgotten once read: a later claim or end finds nothing. */
	ASSERT_TRUE(mcx__local_probe_end(p1) == NULL);
	mcx__local_probe_claim(p1, &c1, le);
	ASSERT_TRUE(mcx__local_probe_end(p1) == NULL);

	/* Claimed on another connection than it was sent on: not local. */
	mcx__local_probe_claim(p2, &c1, le);
	ASSERT_TRUE(mcx__local_probe_end(p2) == NULL);

	/* A probe this process never started cannot be claimed. */
	p3 = p1 ^ p2 ^ 0x5a5a5a5a5a5a5a5aULL;
	mcx__local_probe_claim(p3, &c1, le);
	ASSERT_TRUE(mcx__local_probe_end(p3) == NULL);
	mcx__local_probe_claim(0, &c1, le);
	ASSERT_TRUE(mcx__local_probe_end(0) == NULL);

	/* An engine that goes away takes its claims with it. */
	p3 = mcx__local_probe_start(&c2);
	mcx__local_probe_claim(p3, &c2, le);
	mcx__local_del(le);
	b.env.local = NULL;
	ASSERT_TRUE(mcx__local_probe_end(p3) == NULL);
	side_stop(&b);
}

/*
 * The listener claims a probe only when this process has it pending for
 * the connection it came on, and its reply carries no probe (raw_hello_n()
 * checks): a raw client sending a probe of its own invention, or one
 * pending for another connection, gets nothing claimed.  Checked to fail
 * without the claim in srv_hello() (the first probe was not claimed) and
 * with the claim of any probe of the test above (the invented one was).
 */
TEST(local_listener_claims_only_probes_pending_here)
{
	struct side b;
	struct mcx_local_conn c, other;
	uint64_t mine, invented, elsewhere;
	int fd, fd2;

	log_capture();
	side_start(&b, 1, 2000, true);
	fd = raw_connect(b.env.listen_addr);
	ASSERT_ERR(mcx__local_conn_of(fd, false, &c), 0);
	mine = mcx__local_probe_start(&c);
	raw_auth(fd, NULL);
	raw_hello_n(fd, mine, 1);
	ASSERT_TRUE(mcx__local_probe_end(mine) == b.env.local);
	mcx__local_put(b.env.local);
	close(fd);

	fd = raw_connect(b.env.listen_addr);
	ASSERT_ERR(mcx__local_conn_of(fd, false, &c), 0);
	invented = mcx__local_probe_start(&c) ^ 0xfeedULL;
	raw_auth(fd, NULL);
	raw_hello_n(fd, invented, 1);
	ASSERT_TRUE(mcx__local_probe_end(invented) == NULL);
	close(fd);

	fd = raw_connect(b.env.listen_addr);
	fd2 = raw_connect(b.env.listen_addr);
	ASSERT_ERR(mcx__local_conn_of(fd2, false, &other), 0);
	elsewhere = mcx__local_probe_start(&other);
	raw_auth(fd, NULL);
	raw_hello_n(fd, elsewhere, 1);
	ASSERT_TRUE(mcx__local_probe_end(elsewhere) == NULL);
	close(fd);
	close(fd2);
	wait_conns(&b, 0);
	side_stop(&b);
}

/* Echo the client's probe in a HELLO_REPLY (which the format forbids). */
static void serve_echo(struct fake_server *s, int fd)
{
	struct mcx_wire_hello *h = malloc(sizeof(*h));
	uint8_t buf[16384];
	uint32_t seq;
	size_t len;

	ASSERT_TRUE(h != NULL);
	serve_auth_open(fd);
	seq = serve_read_hello(fd, h);
	s->probe = h->probe;
	if (s->echo_probe) {
		/* Our device list, then the probe patched in: bytes 24..31. */
		len = hello_msg_n(buf, sizeof(buf), MCX_WIRE_HELLO_REPLY, seq, 0, 1);
		for (int i = 0; i < 8; i++)
			buf[MCX_WIRE_HDR_LEN + i] = (uint8_t)(h->probe >> (8 * i));
		mcx__wire_seal(buf, len);
	} else {
		/* The client's own HELLO back: its host name, its devices. */
		h->probe = 0;
		len = (size_t)mcx__wire_encode_hello(buf, sizeof(buf), MCX_WIRE_HELLO_REPLY,
						     seq, h);
	}
	free(h);
	raw_send(fd, buf, len);
	serve_drain(fd);
}

/*
 * Nothing a server puts in its HELLO reply makes us take the short-cut:
 * not our probe echoed back (the reply is refused, and the probe was
 * never claimed), not a mirror of our own HELLO, although this process
 * has a listener with a local engine of its own.  Checked to fail by
 * making hello_exchange() take the short-cut when the reply describes our
 * own host (the decision from what the other side says that local.c
 * replaced): the mirror then came out local.
 */
TEST(local_hello_reply_cannot_make_a_peer_local)
{
	struct side a, b;
	struct fake_server echo = { .echo_probe = true }, mirror = { 0 };
	struct mcx_peer *p = (struct mcx_peer *)&a;

	log_capture();
	side_start(&b, 1, 2000, true);
	side_start(&a, 0, 2000, true);	/* the client has a local engine too */
	server_start(&echo, serve_echo);
	ASSERT_ERR(mcx__peer_open(&a.env, echo.addr, &p), -EBADMSG);
	ASSERT_TRUE(p == NULL);
	ASSERT_CONTAINS(captured_log, "bad HELLO reply");
	server_stop(&echo);
	ASSERT_TRUE(echo.probe != 0);
	ASSERT_TRUE(mcx__local_probe_end(echo.probe) == NULL);

	server_start(&mirror, serve_echo);
	ASSERT_ERR(mcx__peer_open(&a.env, mirror.addr, &p), 0);
	ASSERT_TRUE(p->local == NULL);
	ASSERT_TRUE(mcx__local_probe_end(mirror.probe) == NULL);
	mcx__peer_close(p);
	server_stop(&mirror);

	/* The control: a listener of this process does make it local. */
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_TRUE(p->local == b.env.local);
	mcx__peer_close(p);
	side_stop(&a);
	side_stop(&b);
}

/*
 * The short-cut copies only inside an exported host registration of the
 * claimed engine: what a NIC would enforce with its keys.  Checked to fail
 * with mcx__mem_find() (any registration) in place of
 * mcx__mem_find_exported() in mcx__local_copy().
 */
TEST(local_copy_only_inside_exported_host_memory)
{
	struct side b;
	struct mcx_local_engine *le;
	char *exp = aligned_alloc(4096, 4 * 4096), *priv = aligned_alloc(4096, 4096);
	char mine[256];
	struct mcx_mem_req rq[3] = {
		{ .addr = exp, .len = 4 * 4096, .flags = MCX_MEM_EXPORT, .dmabuf_fd = -1 },
		{ .addr = priv, .len = 4096, .flags = 0, .dmabuf_fd = -1 },
		{ .iova = 1ULL << 44, .len = 8192, .flags = MCX_MEM_EXPORT },
	};
	struct mcx_mem *m[3];
	uint64_t e = (uintptr_t)exp;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	ASSERT_TRUE(exp && priv && fd >= 0);
	/* No devices: registrations exist without MRs. */
	side_start(&b, 0, 1000, false);
	side_local(&b);
	le = b.env.local;
	rq[2].dmabuf_fd = fd;
	ASSERT_ERR(mcx__mem_register_batch(&b.mem, rq, 3, m), 0);
	memset(exp, 'e', 4 * 4096);
	memset(priv, 'p', 4096);

	/* Inside: both ways. */
	memset(mine, 'm', sizeof(mine));
	ASSERT_ERR(mcx__local_copy(le, false, mine, e + 100, 200), 0);
	ASSERT_TRUE(exp[99] == 'e' && exp[100] == 'm' && exp[299] == 'm' && exp[300] == 'e');
	ASSERT_ERR(mcx__local_copy(le, true, mine, e + 4 * 4096 - 256, 256), 0);
	ASSERT_TRUE(mine[0] == 'e' && mine[255] == 'e');
	/* Across either end, empty, or wrapping: refused, nothing moved. */
	memset(mine, 'm', sizeof(mine));
	ASSERT_ERR(mcx__local_copy(le, false, mine, e + 4 * 4096 - 10, 20), -EFAULT);
	ASSERT_ERR(mcx__local_copy(le, false, mine, e - 10, 20), -EFAULT);
	ASSERT_ERR(mcx__local_copy(le, false, mine, e, 0), -EFAULT);
	ASSERT_ERR(mcx__local_copy(le, false, mine, UINT64_MAX - 4, 16), -EFAULT);
	ASSERT_TRUE(exp[4 * 4096 - 1] == 'e' && exp[0] == 'e');
	/* A local-only registration is not the peers' to touch. */
	ASSERT_ERR(mcx__local_copy(le, false, mine, (uintptr_t)priv, 16), -EFAULT);
	ASSERT_ERR(mcx__local_copy(le, true, mine, (uintptr_t)priv, 16), -EFAULT);
	ASSERT_TRUE(priv[0] == 'p' && mine[0] == 'm');
	/* Nor is an exported dma-buf's iova a host address. */
	ASSERT_ERR(mcx__local_copy(le, true, mine, 1ULL << 44, 16), -EFAULT);
	/* Deregistered: gone for the short-cut too. */
	ASSERT_ERR(mcx_mem_deregister(m[0]), 0);
	ASSERT_ERR(mcx__local_copy(le, true, mine, e + 100, 16), -EFAULT);
	ASSERT_ERR(mcx_mem_deregister(m[1]), 0);
	ASSERT_ERR(mcx_mem_deregister(m[2]), 0);
	side_stop(&b);
	close(fd);
	free(exp);
	free(priv);
}

/* ---- authentication ---- */

/* Whether needle (len bytes) is anywhere in hay. */
static bool has_bytes(const uint8_t *hay, size_t n, const void *needle, size_t len)
{
	return len && memmem(hay, n, needle, len) != NULL;
}

/* Send AUTH on fd and read the reply into *r (seen gets it). */
static void raw_auth_start(int fd, struct mcx_wire_auth *a, struct mcx_wire_auth_reply *r,
			   uint8_t *seen, size_t *nseen)
{
	uint8_t buf[256];
	ssize_t len, n;

	memset(a, 0, sizeof(*a));
	a->flags = MCX_WIRE_AUTH_HAS_KEY;
	ASSERT_ERR(mcx__auth_nonce(a->nonce), 0);
	len = mcx__wire_encode_auth(buf, sizeof(buf), 1, a);
	raw_send(fd, buf, (size_t)len);
	n = raw_recv(fd, buf, sizeof(buf));
	ASSERT_TRUE(n > 0);
	memcpy(seen + *nseen, buf, (size_t)n);
	*nseen += (size_t)n;
	ASSERT_ERR(mcx__wire_decode_auth_reply(buf, (size_t)n, r), 0);
}

/*
 * With a key, the listener answers AUTH and nothing else until the caller
 * proved it holds the key: HELLO, CONNECT, MEM_REQ and PING first get
 * EACCES and the end of the connection, and so does anything but a right
 * proof after AUTH.  Nothing it sends before that names the host or a
 * device.  Checked to fail by letting srv_request() dispatch before the
 * phase check: the HELLO got a HELLO_REPLY with the host and devices.
 */
TEST(listener_with_key_answers_nothing_before_authentication)
{
	struct side b;
	struct mcx_auth_key wrong;
	struct mcx_wire_auth a;
	struct mcx_wire_auth_reply r;
	struct mcx_wire_auth_proof p;
	struct mcx_wire_mem_req q = { 0 };
	uint32_t l0[1] = { 0 };
	uint8_t *seen = calloc(1, 1 << 16), buf[4096];
	const uint8_t ip[4] = { 10, 0, 0, 1 };
	char host[256] = "";
	size_t nseen = 0, len;
	int fd;

	ASSERT_TRUE(seen != NULL);
	log_capture();
	side_init(&b, 1, 2000);
	side_key(&b, key_one);
	side_local(&b);
	side_listen(&b);
	fake_register(&b, 0x10000, 4096, 4096);

	for (int i = 0; i < 4; i++) {
		fd = raw_connect(b.env.listen_addr);
		if (i == 0)
			len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
		else if (i == 1)
			len = connect_msg(buf, sizeof(buf), 1, 0, 1, l0, l0);
		else if (i == 2)
			len = (size_t)mcx__wire_encode_mem_req(buf, sizeof(buf), 1, &q);
		else
			len = (size_t)mcx__wire_encode_empty(buf, sizeof(buf), MCX_WIRE_PING, 1);
		raw_send(fd, buf, len);
		expect_error_then_eof_seen(fd, -EACCES, seen, &nseen);
		close(fd);
	}
	ASSERT_EQ(lstats(&b).auth_failed, 0);	/* they never tried */

	/* AUTH, then anything but the proof. */
	fd = raw_connect(b.env.listen_addr);
	raw_auth_start(fd, &a, &r, seen, &nseen);
	ASSERT_EQ(r.mode, MCX_WIRE_AUTH_KEY);
	len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	raw_send(fd, buf, len);
	expect_error_then_eof_seen(fd, -EACCES, seen, &nseen);
	close(fd);
	ASSERT_EQ(lstats(&b).auth_failed, 1);

	/* AUTH, then a proof made with another key, then random bytes. */
	ASSERT_ERR(mcx__auth_key_set(&wrong, key_two, strlen(key_two)), 0);
	for (int i = 0; i < 2; i++) {
		fd = raw_connect(b.env.listen_addr);
		raw_auth_start(fd, &a, &r, seen, &nseen);
		if (i == 0)
			ASSERT_ERR(mcx__auth_proof(&wrong, MCX_AUTH_CLIENT, a.nonce, r.nonce,
						   MCX_HANDSHAKE_AUTH_CTX,
						   sizeof(MCX_HANDSHAKE_AUTH_CTX), p.proof), 0);
		else
			ASSERT_ERR(mcx__auth_nonce(p.proof), 0);
		len = (size_t)mcx__wire_encode_auth_proof(buf, sizeof(buf), 2, &p);
		raw_send(fd, buf, len);
		expect_error_then_eof_seen(fd, -EACCES, seen, &nseen);
		close(fd);
	}
	ASSERT_EQ(lstats(&b).auth_failed, 3);
	wait_conns(&b, 0);
	/* No caller got as far as an incoming peer. */
	ASSERT_EQ(count_peers(&b), 0);
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.path_opens), 0);

	/* What leaked: no device name, address or IP, no host name. */
	ASSERT_TRUE(!has_bytes(seen, nseen, "fake0", 5));
	ASSERT_TRUE(!has_bytes(seen, nseen, FAKE_TP_ADDR_TAG, strlen(FAKE_TP_ADDR_TAG)));
	ASSERT_TRUE(!has_bytes(seen, nseen, ip, 4));
	gethostname(host, sizeof(host) - 1);
	if (strlen(host) >= 4)
		ASSERT_TRUE(!has_bytes(seen, nseen, host, strlen(host)));

	/* The control: authenticated, the same HELLO shows all of them. */
	nseen = 0;
	fd = raw_connect(b.env.listen_addr);
	raw_auth(fd, &b.key);
	len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	raw_send(fd, buf, len);
	nseen = (size_t)raw_recv(fd, seen, 1 << 16);
	ASSERT_TRUE(has_bytes(seen, nseen, "fake0", 5));
	ASSERT_TRUE(has_bytes(seen, nseen, FAKE_TP_ADDR_TAG, strlen(FAKE_TP_ADDR_TAG)));
	ASSERT_TRUE(has_bytes(seen, nseen, ip, 4));
	if (strlen(host) >= 4)
		ASSERT_TRUE(has_bytes(seen, nseen, host, strlen(host)));
	close(fd);
	wait_conns(&b, 0);
	mcx__auth_key_wipe(&wrong);
	free(seen);
	side_stop(&b);
}

/* Wait until the listener has counted n failed authentications. */
static void wait_auth_failed(struct side *s, uint64_t n)
{
	for (int i = 0; i < 300; i++) {
		if (lstats(s).auth_failed >= n)
			break;
		sleep_ms(10);
	}
	ASSERT_EQ(lstats(s).auth_failed, n);
}

/*
 * mcx__peer_open() against a listener with a key: the wrong key and no key
 * fail with EACCES, and the listener counts each as a failed
 * authentication; the right key gets through.  A listener without a key
 * is refused by a client that has one.  The listener used to count
 * neither: such a client checks the listener's proof first and hangs up
 * without sending one, and only a wrong proof was counted.
 */
TEST(peer_auth_wrong_key_fails_right_key_works)
{
	struct side a, b, c;
	struct mcx_auth_key k1, k2;
	struct mcx_peer *p = (struct mcx_peer *)&a;

	log_capture();
	side_init(&b, 1, 2000);
	side_key(&b, key_one);
	side_local(&b);
	side_listen(&b);
	side_start(&a, 0, 2000, false);
	ASSERT_ERR(mcx__auth_key_set(&k1, key_one, strlen(key_one)), 0);
	ASSERT_ERR(mcx__auth_key_set(&k2, key_two, strlen(key_two)), 0);

	a.env.key = &k2;
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), -EACCES);
	ASSERT_TRUE(p == NULL);
	ASSERT_CONTAINS(captured_log, "could not prove");
	wait_auth_failed(&b, 1);

	a.env.key = NULL;
	p = (struct mcx_peer *)&a;
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), -EACCES);
	ASSERT_TRUE(p == NULL);
	ASSERT_CONTAINS(captured_log, "requires a pre-shared key");
	wait_auth_failed(&b, 2);
	wait_conns(&b, 0);
	ASSERT_EQ(count_peers(&b), 0);

	a.env.key = &k1;
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_EQ(p->remote_ndevs, 1);
	ASSERT_TRUE(p->local == b.env.local);
	ASSERT_EQ(lstats(&b).auth_failed, 2);
	wait_conns(&b, 1);
	ASSERT_EQ(count_peers(&b), 1);		/* its incoming peer */
	mcx__peer_close(p);

	/* A listener without a key cannot prove one: we do not talk to it. */
	side_start(&c, 1, 2000, true);
	ASSERT_ERR(mcx__peer_open(&a.env, c.env.listen_addr, &p), -EACCES);
	ASSERT_CONTAINS(captured_log, "has no key");
	side_stop(&c);
	mcx__auth_key_wipe(&k1);
	mcx__auth_key_wipe(&k2);
	side_stop(&a);
	side_stop(&b);
}

/* ---- a CONNECT that sleeps stops nobody else ---- */

/*
 * CONNECT runs on worker threads: while path_open sleeps (held by the
 * fake transport until released, for both workers), other connections
 * authenticate, say HELLO and ping, and a peer opens.  Checked to fail by
 * calling srv_connect_job() inline in srv_connect(): the second
 * connection's AUTH went unanswered.
 */
TEST(listener_connect_stall_does_not_stop_others)
{
	struct side a, b;
	struct mcx_peer *p = NULL;
	uint32_t l0[1] = { 0 };
	uint8_t buf[4096];
	size_t len;
	int stuck[2], other;

	log_capture();
	side_start(&b, 1, 5000, true);
	side_start(&a, 0, 5000, false);
	fake_tp_hold(&b.tp, true);
	for (int i = 0; i < 2; i++) {
		stuck[i] = raw_connect(b.env.listen_addr);
		raw_auth(stuck[i], NULL);
		raw_hello(stuck[i]);
		len = connect_msg(buf, sizeof(buf), 20, 0, 1, l0, l0);
		raw_send(stuck[i], buf, len);
	}
	fake_tp_wait_held(&b.tp, 2);
	/* A PING behind the CONNECT waits for it: replies stay in order. */
	len = (size_t)mcx__wire_encode_empty(buf, sizeof(buf), MCX_WIRE_PING, 21);
	raw_send(stuck[0], buf, len);

	other = raw_connect(b.env.listen_addr);
	raw_auth(other, NULL);
	raw_hello(other);
	raw_ping(other, 30);
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_ERR(mcx__peer_connect(p), 0);	/* a MEM_REQ: local, no paths */
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.held), 2);

	fake_tp_hold(&b.tp, false);
	for (int i = 0; i < 2; i++)
		expect_connect_reply(stuck[i], 20, 1);
	{
		ssize_t n = raw_recv(stuck[0], buf, sizeof(buf));

		ASSERT_TRUE(n > 0);
		ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)n, MCX_WIRE_PONG), 0);
		ASSERT_EQ(msg_seq(buf), 21);
	}
	raw_ping(other, 31);
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.paths_live), 2);
	ASSERT_EQ(lstats(&b).dropped, 0);
	close(stuck[0]);
	close(stuck[1]);
	close(other);
	mcx__peer_close(p);
	wait_conns(&b, 0);
	side_stop(&a);
	side_stop(&b);
}

/* ---- exhaustion ---- */

/*
 * Callers that do not authenticate hold at most half of the slots.  A new
 * one over that takes the slot of one that has held it for a second
 * (EVICT_GRACE_MS), the oldest of those that never sent a well-formed
 * AUTH first; while every one of them is younger, the newcomer is
 * refused, so that a real peer in the middle of its handshake never loses
 * its slot to a flood of newcomers.  Checked to fail without the eviction
 * in srv_accept() (the open after the grace is refused for good), and
 * with the old policy of evicting the oldest at once (the young ones are
 * dropped instead of the newcomers refused).
 */
TEST(listener_unauthenticated_callers_take_at_most_half)
{
	enum { N = 12 };
	struct side a, b;
	struct mcx_peer *p = NULL;
	int fds[N];

	log_capture();
	side_init(&b, 1, 5000);
	side_key(&b, key_one);
	b.env.max_conns = 8;
	side_listen(&b);
	side_init(&a, 0, 5000);
	side_key(&a, key_one);
	for (int i = 0; i < N; i++) {
		fds[i] = raw_connect(b.env.listen_addr);
		wait_seen(&b, (uint64_t)i + 1);
		if (i < 4)
			sleep_ms(2);	/* distinct accept times: "oldest" is clear */
	}
	/* The first four hold the unauthenticated half; the rest were refused. */
	wait_conns(&b, 4);
	for (int i = 0; i < 4; i++)
		ASSERT_TRUE(!raw_eof_now(fds[i]));
	for (int i = 4; i < N; i++)
		ASSERT_EQ(raw_recv(fds[i], (uint8_t[64]){ 0 }, 64), 0);
	ASSERT_EQ(lstats(&b).refused, N - 4);
	ASSERT_EQ(lstats(&b).dropped, 0);
	/* Past the grace, a peer with the key takes the oldest one's slot. */
	sleep_ms(1100);
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_EQ(raw_recv(fds[0], (uint8_t[64]){ 0 }, 64), 0);
	ASSERT_TRUE(!raw_eof_now(fds[1]));
	ASSERT_EQ(lstats(&b).conns, 4);
	mcx__peer_close(p);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	wait_conns(&b, 0);
	side_stop(&a);
	side_stop(&b);
}

/*
 * Every slot taken, half by authenticated peers and half by callers that
 * never authenticate: a peer with the key still gets in.  Its first tries
 * are refused while the silent ones are young; it tries again (open
 * retries a connection the listener drops before the handshake ends) and
 * gets the slot of the older silent one once that one's grace is over.
 * It used to be refused for good: first because the evicted connection
 * still counted against max_conns, then because the client gave up at
 * the first refusal.
 */
TEST(listener_full_still_admits_a_peer_that_authenticates)
{
	struct side a, b;
	struct mcx_peer *p = NULL;
	int ready[2], silent[2];

	log_capture();
	side_init(&b, 1, 5000);
	side_key(&b, key_one);
	b.env.max_conns = 4;
	side_listen(&b);
	side_init(&a, 0, 5000);
	side_key(&a, key_one);
	ready[0] = raw_ready(&b);
	ready[1] = raw_ready(&b);
	for (int i = 0; i < 2; i++) {
		silent[i] = raw_connect(b.env.listen_addr);
		wait_accepted(&b, 3 + (uint64_t)i);
		sleep_ms(2);
	}
	wait_conns(&b, 4);

	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_EQ(raw_recv(silent[0], (uint8_t[64]){ 0 }, 64), 0);
	ASSERT_TRUE(!raw_eof_now(silent[1]));
	raw_ping(ready[0], 40);
	raw_ping(ready[1], 41);
	ASSERT_EQ(lstats(&b).conns, 4);
	mcx__peer_close(p);
	close(ready[0]);
	close(ready[1]);
	close(silent[0]);
	close(silent[1]);
	wait_conns(&b, 0);
	side_stop(&a);
	side_stop(&b);
}

/* When every slot is an authenticated peer, a new caller is refused. */
TEST(listener_refuses_when_every_slot_is_authenticated)
{
	struct side b;
	int ready[2], late;

	log_capture();
	side_init(&b, 1, 5000);
	side_key(&b, key_one);
	b.env.max_conns = 2;
	side_listen(&b);
	ready[0] = raw_ready(&b);
	ready[1] = raw_ready(&b);
	late = raw_connect(b.env.listen_addr);
	ASSERT_EQ(raw_recv(late, (uint8_t[64]){ 0 }, 64), 0);
	/* Counted just after the close: the end of file may come first. */
	for (int i = 0; i < 300 && lstats(&b).refused == 0; i++)
		sleep_ms(10);
	ASSERT_EQ(lstats(&b).refused, 1);
	raw_ping(ready[0], 50);
	raw_ping(ready[1], 51);
	close(late);
	close(ready[0]);
	close(ready[1]);
	wait_conns(&b, 0);
	side_stop(&b);
}

/*
 * A connection holds at most max_paths_per_conn paths: more is ENOSPC and
 * the connection stays.  A rebuild replaces a path it holds, within a
 * budget of its own (max_paths_per_conn rebuilds per path held); a
 * "rebuild" of a path it never made adds one, so it counts against the
 * cap like a CONNECT.  Checked to fail by removing the check from
 * srv_connect_job(): the second CONNECT was answered.
 */
TEST(listener_caps_paths_per_connection)
{
	struct side b;
	uint32_t l01[2] = { 0, 1 }, r01[2] = { 0, 1 }, r10[2] = { 1, 0 };
	uint8_t buf[4096];
	size_t len;
	int fd;

	log_capture();
	side_init(&b, 2, 5000);
	b.env.max_paths_per_conn = 3;
	side_local(&b);
	side_listen(&b);
	fd = raw_connect(b.env.listen_addr);
	raw_auth(fd, NULL);
	raw_hello_n(fd, 0x99, 2);
	len = connect_msg(buf, sizeof(buf), 10, 0, 2, l01, r01);	/* 0-0, 1-1 */
	raw_send(fd, buf, len);
	expect_connect_reply(fd, 10, 2);
	len = connect_msg(buf, sizeof(buf), 11, 0, 2, l01, r10);	/* 0-1, 1-0 */
	raw_send(fd, buf, len);
	expect_error(fd, -ENOSPC, MCX_WIRE_CONNECT, "at most 3");
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.path_opens), 2);
	len = connect_msg(buf, sizeof(buf), 12, 0, 1, l01, r10);	/* 0-1: the third */
	raw_send(fd, buf, len);
	expect_connect_reply(fd, 12, 1);
	len = connect_msg(buf, sizeof(buf), 13, 0, 1, l01 + 1, r10 + 1);	/* 1-0 */
	raw_send(fd, buf, len);
	expect_error(fd, -ENOSPC, MCX_WIRE_CONNECT, "at most 3");
	/*
	 * The same as a "rebuild": it replaces nothing, so it is one more.
	 * It used to be answered (rebuilds were checked against their own
	 * budget only), and a caller could hold MCX_MAX_PATHS paths whatever
	 * the cap.
	 */
	len = connect_msg(buf, sizeof(buf), 14, MCX_WIRE_CONNECT_REBUILD, 1, l01 + 1, r10 + 1);
	raw_send(fd, buf, len);
	expect_error(fd, -ENOSPC, MCX_WIRE_CONNECT, "at most 3");
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.paths_live), 3);
	/* Rebuilds of a path it holds: 3 per path held, then no more. */
	for (uint32_t i = 0; i < 9; i++) {
		len = connect_msg(buf, sizeof(buf), 20 + i, MCX_WIRE_CONNECT_REBUILD, 1, l01,
				  r01);
		raw_send(fd, buf, len);
		expect_connect_reply(fd, 20 + i, 1);
	}
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.paths_live), 3);	/* each replaced one */
	len = connect_msg(buf, sizeof(buf), 30, MCX_WIRE_CONNECT_REBUILD, 1, l01, r01);
	raw_send(fd, buf, len);
	expect_error(fd, -ENOSPC, MCX_WIRE_CONNECT, NULL);
	raw_ping(fd, 31);
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.path_opens), 12);
	close(fd);
	wait_conns(&b, 0);
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.paths_live), 0);
	side_stop(&b);
}

/* ---- idle and slow callers ---- */

/*
 * A caller that does not finish authenticating within timeout_ms is
 * dropped: silent from the start, silent after AUTH, or stuck inside a
 * message.  An authenticated one is not (idle_ms applies to it).
 * Checked to fail by dropping the phase rule from srv_deadline(): the
 * silent callers stayed.
 */
TEST(listener_drops_callers_that_never_authenticate)
{
	/* Long enough that a loaded machine under ASan drops them in 5x. */
	const uint32_t tmo = 1000;
	struct side b;
	struct mcx_wire_auth a;
	struct mcx_wire_auth_reply r;
	uint8_t *seen = calloc(1, 4096), buf[4096];
	size_t nseen = 0;
	uint64_t t0, took[3];
	int ready, fds[3];

	ASSERT_TRUE(seen != NULL);
	log_capture();
	side_init(&b, 1, tmo);
	side_key(&b, key_one);
	side_listen(&b);
	ready = raw_ready(&b);
	t0 = ms_now();
	for (int i = 0; i < 3; i++)
		fds[i] = raw_connect(b.env.listen_addr);
	raw_auth_start(fds[1], &a, &r, seen, &nseen);
	/* Half a header. */
	hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	raw_send(fds[2], buf, 10);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(raw_recv(fds[i], buf, sizeof(buf)), 0);
		took[i] = ms_now() - t0;
	}
	for (int i = 0; i < 3; i++) {
		ASSERT_TRUE(took[i] >= tmo - 50);
		ASSERT_TRUE(took[i] < 5 * tmo);
	}
	ASSERT_TRUE(lstats(&b).dropped >= 3);
	/* The one that got the challenge and never answered it failed. */
	ASSERT_EQ(lstats(&b).auth_failed, 1);
	/* Three timeouts later the authenticated caller is still served. */
	while (ms_now() - t0 < 3 * tmo)
		sleep_ms(20);
	raw_ping(ready, 60);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	close(ready);
	wait_conns(&b, 0);
	free(seen);
	side_stop(&b);
}

/* ---- fixes found on the way (each test failed before its fix) ---- */

/*
 * AUTH or AUTH_PROOF once authenticated is a protocol error.  It used to
 * be served: the connection went back to the unauthenticated phase, the
 * count of unauthenticated connections was decremented a second time and
 * wrapped around (from then on every new caller evicted another), and a
 * second HELLO made a second incoming peer while the first leaked.
 */
TEST(listener_refuses_auth_once_authenticated)
{
	struct side b;
	struct mcx_wire_auth a = { .flags = 0 };
	struct mcx_wire_auth_proof pr;
	uint8_t buf[4096];
	ssize_t len;
	int fd, u[2];

	log_capture();
	side_init(&b, 1, 5000);
	b.env.max_conns = 4;		/* 2 unauthenticated at most */
	side_local(&b);
	side_listen(&b);

	/* AUTH again after HELLO (a listener without a key). */
	fd = raw_ready(&b);
	ASSERT_ERR(mcx__auth_nonce(a.nonce), 0);
	len = mcx__wire_encode_auth(buf, sizeof(buf), 8, &a);
	raw_send(fd, buf, (size_t)len);
	expect_error_then_eof(fd, -EPROTO);
	close(fd);
	wait_conns(&b, 0);
	ASSERT_EQ(count_peers(&b), 0);

	/* AUTH_PROOF after HELLO. */
	fd = raw_ready(&b);
	memset(pr.proof, 1, sizeof(pr.proof));
	len = mcx__wire_encode_auth_proof(buf, sizeof(buf), 8, &pr);
	raw_send(fd, buf, (size_t)len);
	expect_error_then_eof(fd, -EPROTO);
	close(fd);
	wait_conns(&b, 0);

	/* AUTH before HELLO, once authenticated. */
	fd = raw_connect(b.env.listen_addr);
	raw_auth(fd, NULL);
	len = mcx__wire_encode_auth(buf, sizeof(buf), 2, &a);
	raw_send(fd, buf, (size_t)len);
	expect_error_then_eof(fd, -EPROTO);
	close(fd);
	wait_conns(&b, 0);

	/* The count of unauthenticated callers is right: two fit, no eviction. */
	u[0] = raw_connect(b.env.listen_addr);
	wait_accepted(&b, 4);
	u[1] = raw_connect(b.env.listen_addr);
	wait_accepted(&b, 5);
	wait_conns(&b, 2);
	ASSERT_TRUE(!raw_eof_now(u[0]));
	ASSERT_TRUE(!raw_eof_now(u[1]));
	close(u[0]);
	close(u[1]);
	wait_conns(&b, 0);
	side_stop(&b);
}

struct del_arg {
	struct mcx_local_engine *le;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void *del_main(void *arg)
{
	struct del_arg *d = arg;

	mcx__local_del(d->le);
	pthread_mutex_lock(&d->mu);
	d->done = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/*
 * Destroying an engine (mcx__local_del) while a peer of another engine of
 * the process still holds it for the short-cut must not wait for that peer
 * to close: it waits for copies in progress only, and later copies fail.
 * It used to wait for every reference, so destroying the listener's
 * engine before closing the other engine's peer hung for ever (in one
 * thread, a deadlock).
 */
TEST(local_del_does_not_wait_for_peers_holding_it)
{
	struct side a, b;
	struct mcx_peer *p = NULL;
	struct del_arg d = { .done = false };
	struct timespec ts;
	pthread_condattr_t ca;
	pthread_t th;
	char mine[16] = "";
	bool done;

	log_capture();
	side_start(&b, 1, 5000, true);
	side_start(&a, 0, 5000, false);
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_TRUE(p->local == b.env.local);
	/* As mcx_engine_destroy() does: the listener, then the local engine. */
	mcx__listener_stop(&b.env);
	d.le = b.env.local;
	b.env.local = NULL;
	pthread_mutex_init(&d.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d.cv, &ca);
	pthread_condattr_destroy(&ca);
	ASSERT_EQ(pthread_create(&th, NULL, del_main, &d), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&d.mu);
	while (!d.done && pthread_cond_timedwait(&d.cv, &d.mu, &ts) == 0)
		;
	done = d.done;
	pthread_mutex_unlock(&d.mu);
	ASSERT_TRUE(done);
	pthread_join(th, NULL);
	/* The peer still holds it, but it is gone: no copy reaches b. */
	ASSERT_ERR(mcx__local_copy(p->local, true, mine, (uintptr_t)mine, 1), -ECONNRESET);
	mcx__local_notify(p->local, 7);
	mcx__peer_close(p);
	pthread_cond_destroy(&d.cv);
	pthread_mutex_destroy(&d.mu);
	side_stop(&a);
	side_stop(&b);
}

/*
 * Forward the client's probe to a listener of the client's own process:
 * a server that also reaches that listener tries to be taken for it.
 */
static void serve_relay(struct fake_server *s, int fd)
{
	struct mcx_wire_hello *h = malloc(sizeof(*h));
	uint32_t seq;
	int up;

	ASSERT_TRUE(h != NULL);
	serve_auth_open(fd);
	seq = serve_read_hello(fd, h);
	s->probe = h->probe;
	up = raw_connect(s->relay_to);
	raw_auth(up, s->relay_key);
	raw_hello_n(up, h->probe, 1);		/* the listener claims it here */
	free(h);
	serve_hello_reply(fd, seq);
	serve_drain(fd);
	close(up);
}

/*
 * A remote server that relays our HELLO probe to a listener of this
 * process (it can reach that listener, as any peer can) must not make us
 * take the short-cut: the claim counts only for the very connection the
 * probe was sent on.  Before, the listener claimed any pending probe, so
 * the relay's peer came out local and transfers meant for it were copied
 * into the listener's engine (p->local was b's engine here).
 */
TEST(local_relayed_probe_is_not_claimed)
{
	struct side a, b;
	struct fake_server relay = { 0 };
	struct mcx_peer *p = NULL;

	log_capture();
	side_start(&b, 1, 3000, true);
	side_start(&a, 0, 3000, false);
	relay.relay_to = b.env.listen_addr;
	server_start(&relay, serve_relay);
	ASSERT_ERR(mcx__peer_open(&a.env, relay.addr, &p), 0);
	ASSERT_TRUE(relay.probe != 0);
	ASSERT_TRUE(p->local == NULL);
	mcx__peer_close(p);
	server_stop(&relay);

	/* The control: directly, the listener still makes it local. */
	ASSERT_ERR(mcx__peer_open(&a.env, b.env.listen_addr, &p), 0);
	ASSERT_TRUE(p->local == b.env.local);
	mcx__peer_close(p);
	side_stop(&a);
	side_stop(&b);
}

/* The CPU time the listener thread ("mcx-listen") has used, in ms. */
static long listener_cpu_ms(void)
{
	char path[300], comm[64], buf[1024];
	long ms = -1, hz = sysconf(_SC_CLK_TCK);
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	ASSERT_TRUE(d != NULL && hz > 0);
	while ((e = readdir(d))) {
		unsigned long ut, st;
		const char *p;
		FILE *f;
		bool it;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		it = fgets(comm, sizeof(comm), f) && !strncmp(comm, "mcx-listen", 10);
		fclose(f);
		if (!it)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(path, "r");
		ASSERT_TRUE(f != NULL);
		ASSERT_TRUE(fgets(buf, sizeof(buf), f) != NULL);
		fclose(f);
		/* After "(comm)": state, then 10 fields, then utime and stime. */
		p = strrchr(buf, ')');
		ASSERT_TRUE(p != NULL);
		ASSERT_EQ(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				 &ut, &st), 2);
		ms = (long)((ut + st) * 1000 / (unsigned long)hz);
	}
	closedir(d);
	ASSERT_TRUE(ms >= 0);
	return ms;
}

/*
 * A caller that sends CONNECT and resets its connection while the worker
 * is in path_open costs the listener no CPU.  It used to poll the busy
 * connection with no events, and a reset socket reports POLLHUP whatever
 * the events: poll() returned at once, over and over, and the listener
 * thread spun (about 480 of 500 ms) for as long as path_open took.
 */
TEST(listener_reset_during_connect_costs_no_cpu)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct side b;
	uint32_t l0[1] = { 0 };
	uint8_t buf[4096];
	long before, used;
	size_t len;
	int fd;

	log_capture();
	side_start(&b, 1, 5000, true);
	fake_tp_hold(&b.tp, true);
	fd = raw_connect(b.env.listen_addr);
	raw_auth(fd, NULL);
	raw_hello(fd);
	len = connect_msg(buf, sizeof(buf), 20, 0, 1, l0, l0);
	raw_send(fd, buf, len);
	fake_tp_wait_held(&b.tp, 1);
	/* A reset, not an orderly close: SO_LINGER with a zero timeout. */
	ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
	sleep_ms(50);
	before = listener_cpu_ms();
	sleep_ms(500);
	used = listener_cpu_ms() - before;
	ASSERT_TRUE(used < 150);
	/* Once path_open returns, the connection and its path go. */
	fake_tp_hold(&b.tp, false);
	wait_conns(&b, 0);
	ASSERT_EQ(fake_tp_get(&b.tp, &b.tp.paths_live), 0);
	side_stop(&b);
}
