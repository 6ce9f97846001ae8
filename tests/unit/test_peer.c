// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Peers without RDMA devices (lib/peer/peer.c): the choice of NIC pairs by rail;
 * two engines doing the TCP handshake on 127.0.0.1 (HELLO, descriptors,
 * refetch, a lost connection marking the peer dead, an unanswered ping);
 * and the listener under abuse (garbage, oversized and wrong-version
 * headers, requests out of order, slow partial messages, more connections
 * than it serves, mutated messages): it must answer or hang up, keep
 * serving others, and free every connection.
 *
 * The engines here are built by hand around fake NICs (no verbs context),
 * which is enough for everything but QPs: CONNECT is only exercised up to
 * its refusals.  The VM tests cover real pairs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "core/core.h"
#include "peer/peer.h"
#include "ctrl/wire.h"

/* ---- rail choice ---- */

static struct mcx_nic_info lnic(uint32_t idx, const char *ip, uint8_t prefix, uint8_t ll)
{
	struct mcx_nic_info n = { .idx = idx, .port = 1, .link_layer = ll, .mtu = IBV_MTU_4096 };

	if (ip) {
		inet_pton(AF_INET, ip, &n.ipv4);
		n.ipv4_prefix = prefix;
	}
	return n;
}

static struct mcx_wire_nic rnic(uint32_t idx, const char *ip, uint8_t prefix, uint8_t ll)
{
	struct mcx_wire_nic n = { .index = idx, .port = 1, .link_layer = ll, .mtu = 4096 };

	snprintf(n.name, sizeof(n.name), "r%u", idx);
	if (ip) {
		inet_pton(AF_INET, ip, n.ipv4);
		n.prefix = prefix;
	}
	return n;
}

#define ETH MCX_WIRE_LL_ETH
#define IB MCX_WIRE_LL_IB
#define LETH IBV_LINK_LAYER_ETHERNET
#define LIB IBV_LINK_LAYER_INFINIBAND

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
	struct mcx_nic_info l[2] = { lnic(0, "10.0.1.2", 24, LETH), lnic(1, "10.0.2.2", 24, LETH) };
	struct mcx_wire_nic r[2] = { rnic(0, "10.0.1.3", 24, ETH), rnic(1, "10.0.2.3", 24, ETH) };
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
	/* The remote host numbered its NICs the other way round. */
	struct mcx_nic_info l[2] = { lnic(0, "10.0.1.2", 24, LETH), lnic(1, "10.0.2.2", 24, LETH) };
	struct mcx_wire_nic r[2] = { rnic(0, "10.0.2.3", 24, ETH), rnic(1, "10.0.1.3", 24, ETH) };
	struct mcx_rail_choice ch[2];

	ASSERT_EQ(mcx__rail_choose(l, 2, r, 2, ch), 2);
	ASSERT_EQ(ch[0].rnic, 1);
	ASSERT_TRUE(ch[0].rail);
	ASSERT_EQ(ch[1].rnic, 0);
	ASSERT_TRUE(ch[1].rail);
}

TEST(peer_rail_fallbacks)
{
	struct mcx_nic_info l[2] = { lnic(0, "10.0.1.2", 24, LETH), lnic(1, "10.0.9.2", 24, LETH) };
	struct mcx_wire_nic r[1] = { rnic(0, "10.0.1.3", 24, ETH) };
	struct mcx_wire_nic r2[2] = { rnic(4, "192.168.0.1", 24, ETH), rnic(1, "192.168.1.1", 24, ETH) };
	struct mcx_rail_choice ch[2];

	/* NIC 1's subnet has nobody: it falls back to the only remote NIC. */
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

TEST(peer_rail_spreads_and_respects_link_layer)
{
	struct mcx_nic_info l[3] = {
		lnic(0, "10.0.0.2", 16, LETH), lnic(1, "10.0.0.3", 16, LETH), lnic(2, NULL, 0, LIB),
	};
	struct mcx_wire_nic r[2] = { rnic(5, "10.0.7.1", 16, ETH), rnic(6, "10.0.8.1", 16, ETH) };
	struct mcx_wire_nic rib[2] = { rnic(2, NULL, 0, IB), rnic(3, NULL, 0, IB) };
	struct mcx_rail_choice ch[3];

	/* Same subnet everywhere, no same index: one remote NIC each. */
	ASSERT_EQ(mcx__rail_choose(l, 3, r, 2, ch), 2);	/* the IB NIC reaches none */
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

/* ---- engines around fake NICs ---- */

struct fake_mem {
	struct mcx_mem *m;
	struct ibv_mr *mr;
	struct ibv_mr **mrs;
};

#define FAKE_MEMS 2048

struct fake_engine {
	struct mcx_engine *eng;
	struct fake_mem *mems;
	int nmems;
};

/* The rkey fake_register() gives chunk c of registration id. */
static uint32_t fake_rkey(uint64_t id, uint64_t c)
{
	return (uint32_t)(id * 100000 + c % 1024);
}

static void fake_start(struct fake_engine *f, uint32_t nics, uint32_t timeout_ms, bool listen)
{
	struct mcx_engine *eng = calloc(1, sizeof(*eng));

	ASSERT_TRUE(eng != NULL);
	memset(f, 0, sizeof(*f));
	f->eng = eng;
	f->mems = calloc(FAKE_MEMS, sizeof(*f->mems));
	ASSERT_TRUE(f->mems != NULL);
	mcx__opts_defaults(&eng->opts);
	eng->opts.poller = 0;
	eng->opts.timeout_ms = timeout_ms;
	eng->opts.listen = listen ? "127.0.0.1:0" : NULL;
	eng->token = mcx__process_token();
	eng->tp = &mcx__verbs_ops;
	pthread_mutex_init(&eng->lock, NULL);
	pthread_cond_init(&eng->cond, NULL);
	ASSERT_ERR(mcx__regcache_init(&eng->cache), 0);
	eng->nr_nics = nics;
	for (uint32_t i = 0; i < nics; i++) {
		struct mcx_nic *n = &eng->nics[i];

		n->idx = i;
		snprintf(n->name, sizeof(n->name), "fake%u", i);
		n->port = 1;
		n->link_layer = IBV_LINK_LAYER_ETHERNET;
		n->mtu = n->active_mtu = IBV_MTU_1024;
		n->gid.raw[10] = n->gid.raw[11] = 0xff;
		n->gid.raw[12] = 10;
		n->gid.raw[15] = (uint8_t)(i + 1);
		inet_pton(AF_INET, "10.0.0.1", &n->ipv4);
		n->ipv4_prefix = 24;
		n->max_qp_rd_atom = 16;
	}
	if (listen) {
		ASSERT_ERR(mcx__listener_start(eng), 0);
		ASSERT_TRUE(strncmp(eng->listen_addr, "127.0.0.1:", 10) == 0);
	}
}

/*
 * A registration of [addr, addr + len) in chunks on one NIC, with the rkeys
 * of fake_rkey() (1024 distinct MRs at most, shared round robin).
 */
static void fake_register(struct fake_engine *f, uint64_t addr, uint64_t len, uint64_t chunk)
{
	struct fake_mem *fm = &f->mems[f->nmems++];
	struct mcx_mem *m = calloc(1, sizeof(*m));
	uint32_t nch = (uint32_t)((len - 1) / chunk + 1);

	ASSERT_TRUE(f->nmems <= FAKE_MEMS);
	ASSERT_TRUE(m != NULL);
	fm->m = m;
	fm->mr = calloc(nch < 1024 ? nch : 1024, sizeof(*fm->mr));
	fm->mrs = calloc(nch, sizeof(*fm->mrs));
	ASSERT_TRUE(fm->mr && fm->mrs);
	m->eng = f->eng;
	m->id = (uint64_t)f->nmems;
	m->addr = addr;
	m->len = len;
	m->chunk_size = chunk;
	m->nr_chunks = nch;
	m->nr_nics = 1;
	m->dmabuf_fd = -1;
	m->flags = MCX_MEM_EXPORT;	/* peers are told only of exported memory */
	m->mrs = fm->mrs;
	for (uint32_t c = 0; c < nch; c++) {
		fm->mr[c % 1024].rkey = fake_rkey(m->id, c);
		fm->mrs[c] = &fm->mr[c % 1024];
	}
	atomic_store(&m->refs, 1);
	ASSERT_ERR(mcx__regcache_insert(&f->eng->cache, m), 0);
}

static void fake_stop(struct fake_engine *f)
{
	struct mcx_engine *eng = f->eng;

	mcx__listener_stop(eng);
	for (;;) {
		struct mcx_peer *p;

		pthread_mutex_lock(&eng->lock);
		p = eng->peers;
		pthread_mutex_unlock(&eng->lock);
		if (!p)
			break;
		mcx_peer_close(p);
	}
	for (int i = 0; i < f->nmems; i++) {
		ASSERT_EQ(mcx__regcache_put(&eng->cache, f->mems[i].m), 0);
		free(f->mems[i].m);
		free(f->mems[i].mr);
		free(f->mems[i].mrs);
	}
	free(f->mems);
	mcx__regcache_destroy(&eng->cache);
	pthread_cond_destroy(&eng->cond);
	pthread_mutex_destroy(&eng->lock);
	free(eng);
}

static int peer_state(struct mcx_peer *p, int *err)
{
	int st;

	pthread_mutex_lock(&p->eng->lock);
	st = p->state;
	if (err)
		*err = p->err;
	pthread_mutex_unlock(&p->eng->lock);
	return st;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait up to ms for p to be DEAD; the time it took, or -1. */
static long wait_dead(struct mcx_peer *p, long ms)
{
	uint64_t t0 = ms_now();

	while ((long)(ms_now() - t0) < ms) {
		if (peer_state(p, NULL) == MCX_PEER_DEAD)
			return (long)(ms_now() - t0);
		usleep(10000);
	}
	return -1;
}

static struct mcx_listener_stats lstats(struct fake_engine *f)
{
	struct mcx_listener_stats st;

	ASSERT_ERR(mcx__listener_stats(f->eng, &st), 0);
	return st;
}

/* Wait until the listener serves exactly n connections. */
static void wait_conns(struct fake_engine *f, uint32_t n)
{
	for (int i = 0; i < 500; i++) {
		if (lstats(f).conns == n)
			return;
		usleep(10000);
	}
	harness_fail(__FILE__, __LINE__, "listener still has %u connection(s), expected %u",
		     lstats(f).conns, n);
}

TEST(peer_handshake_same_process_and_descriptors)
{
	struct fake_engine a, b;
	struct mcx_peer *p = NULL;
	struct mcx_rdesc *d;

	log_capture();
	fake_start(&b, 1, 20000, true);
	fake_start(&a, 0, 20000, false);
	fake_register(&b, 0x100000, 3 << 20, 1 << 20);	/* 3 chunks */
	fake_register(&b, 0x900000, 4096, 1 << 20);

	ASSERT_ERR(mcx_peer_open(a.eng, b.eng->listen_addr, &p), 0);
	ASSERT_TRUE(p != NULL);
	ASSERT_TRUE(p->same_process);		/* both engines live in this process */
	ASSERT_EQ(p->remote_nr_nics, 1);
	ASSERT_EQ(peer_state(p, NULL), MCX_PEER_NEW);	/* lazy: no pairs, no descriptors */
	ASSERT_EQ(p->nr_descs, 0);
	ASSERT_EQ(lstats(&b).accepted, 1);
	wait_conns(&b, 1);

	ASSERT_ERR(mcx_peer_warmup(p), 0);
	ASSERT_EQ(peer_state(p, NULL), MCX_PEER_READY);
	ASSERT_EQ(p->nr_pairs, 0);		/* memcpy will do */
	ASSERT_EQ(p->nr_descs, 2);
	d = mcx__peer_find_desc(p, 0x100000 + (2 << 20) + 5, 100);
	ASSERT_TRUE(d != NULL);
	ASSERT_U64_EQ(d->addr, 0x100000);
	ASSERT_EQ(d->nr_chunks, 3);
	ASSERT_EQ(mcx__rdesc_rkey(d, 0, 0), fake_rkey(1, 0));
	ASSERT_EQ(mcx__rdesc_rkey(d, 2, 0), fake_rkey(1, 2));
	mcx__rdesc_put(d);
	d = mcx__peer_find_desc(p, 0x900000, 4096);
	ASSERT_TRUE(d != NULL);
	ASSERT_EQ(mcx__rdesc_rkey(d, 0, 0), fake_rkey(2, 0));
	mcx__rdesc_put(d);
	ASSERT_TRUE(mcx__peer_find_desc(p, 0x900000, 4097) == NULL);
	ASSERT_TRUE(mcx__peer_find_desc(p, 0x50000, 1) == NULL);
	ASSERT_ERR(mcx_peer_warmup(p), 0);	/* already READY: nothing to do */

	/* A registration made later is found by a refetch... */
	fake_register(&b, 0x50000, 8192, 4096);
	ASSERT_ERR(mcx__peer_resolve(p, 0x50000, 8192, &d), 0);
	ASSERT_EQ(mcx__rdesc_rkey(d, 1, 0), fake_rkey(3, 1));
	mcx__rdesc_put(d);
	ASSERT_EQ(p->nr_descs, 3);
	/* ...and an address nobody registered fails after one. */
	ASSERT_ERR(mcx__peer_resolve(p, 0x7000000, 1, &d), -EFAULT);
	ASSERT_EQ(lstats(&b).requests, 1 + 1 + 1 + 1);	/* HELLO and 3 MEM_REQs */

	mcx_peer_close(p);
	wait_conns(&b, 0);
	ASSERT_EQ(lstats(&b).dropped, 0);
	fake_stop(&a);
	fake_stop(&b);
}

TEST(peer_descriptors_page_over_many_messages)
{
	const uint64_t big = 1ULL << 40, nbig = MCX_WIRE_MAX_CHUNKS + 4321;
	struct fake_engine a, b;
	struct mcx_peer *p = NULL;
	struct mcx_rdesc *d;

	log_capture();
	fake_start(&b, 1, 20000, true);
	fake_start(&a, 0, 20000, false);
	/*
	 * More registrations than one MEM_REPLY carries (MCX_WIRE_MAX_DESCS),
	 * and one with more chunks than one descriptor may have: two pages,
	 * the big registration split in two descriptors.
	 */
	fake_register(&b, big, nbig * 4096, 4096);
	for (int i = 0; i < 1100; i++)
		fake_register(&b, 0x10000000ULL + (uint64_t)i * 8192, 4096, 4096);
	ASSERT_ERR(mcx_peer_open(a.eng, b.eng->listen_addr, &p), 0);
	ASSERT_ERR(mcx_peer_warmup(p), 0);
	ASSERT_EQ(p->nr_descs, 1100 + 2);
	ASSERT_EQ(lstats(&b).requests, 1 + 2);		/* HELLO and two pages */
	d = mcx__peer_find_desc(p, 0x10000000ULL + 1099 * 8192, 4096);
	ASSERT_TRUE(d != NULL);
	ASSERT_EQ(mcx__rdesc_rkey(d, 0, 0), fake_rkey(1101, 0));
	mcx__rdesc_put(d);
	for (uint64_t c = 0; c < nbig; c += 99991) {
		uint64_t addr = big + c * 4096;

		d = mcx__peer_find_desc(p, addr, 4096);
		ASSERT_TRUE(d != NULL);
		ASSERT_EQ(mcx__rdesc_rkey(d, mcx__rdesc_chunk_of(d, addr), 0), fake_rkey(1, c));
		mcx__rdesc_put(d);
	}
	/* The split shows: a range across it is in neither descriptor. */
	d = mcx__peer_find_desc(p, big + MCX_WIRE_MAX_CHUNKS * 4096ULL - 1, 2);
	ASSERT_TRUE(d == NULL);
	mcx_peer_close(p);
	fake_stop(&a);
	fake_stop(&b);
}

TEST(peer_connect_without_devices_fails_cleanly)
{
	struct fake_engine a, b;
	struct mcx_peer *p = NULL;
	int err = 0;

	log_capture();
	fake_start(&b, 1, 2000, true);
	fake_start(&a, 0, 2000, false);
	a.eng->opts.loopback_memcpy = 0;	/* same process, but RDMA asked for */
	ASSERT_ERR(mcx_peer_open(a.eng, b.eng->listen_addr, &p), 0);
	ASSERT_ERR(mcx_peer_warmup(p), -ENODEV);
	ASSERT_EQ(peer_state(p, &err), MCX_PEER_DEAD);
	ASSERT_ERR(err, -ENODEV);
	ASSERT_ERR(mcx_peer_warmup(p), -ENODEV);	/* stays dead */
	ASSERT_CONTAINS(captured_log, "no RDMA device");
	mcx_peer_close(p);
	fake_stop(&a);
	fake_stop(&b);
}

TEST(peer_open_rejects_bad_addresses)
{
	static const char *const bad[] = {
		"", "host", "1.2.3.4", "1.2.3.4:", ":7000", "1.2.3.4:65536", "1.2.3.4:-1",
		"1.2.3.4:0", "a b:1", "1.2.3.4:12x", "::1:80",
	};
	struct fake_engine a;
	struct mcx_peer *p = (struct mcx_peer *)&a;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	char addr[64];
	int fd;

	log_capture();
	fake_start(&a, 0, 1000, false);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_ERR(mcx_peer_open(a.eng, bad[i], &p), -EINVAL);
		ASSERT_TRUE(p == NULL);
	}
	ASSERT_ERR(mcx_peer_open(NULL, "127.0.0.1:1", &p), -EINVAL);
	ASSERT_ERR(mcx_peer_open(a.eng, NULL, &p), -EINVAL);
	ASSERT_ERR(mcx_peer_open(a.eng, "127.0.0.1:1", NULL), -EINVAL);
	ASSERT_ERR(mcx_peer_warmup(NULL), -EINVAL);
	mcx_peer_close(NULL);

	/* A port nobody listens on (bound, then closed). */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ASSERT_EQ(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	ASSERT_ERR(mcx_peer_open(a.eng, addr, &p), -ECONNREFUSED);
	ASSERT_TRUE(p == NULL);
	ASSERT_CONTAINS(captured_log, "cannot connect");
	ASSERT_TRUE(a.eng->peers == NULL);
	fake_stop(&a);
}

TEST(peer_lost_connection_marks_peer_dead)
{
	struct fake_engine a, b;
	struct mcx_peer *p = NULL;
	struct mcx_rdesc *d;
	long took;
	int err = 0;

	log_capture();
	fake_start(&b, 1, 5000, true);
	fake_start(&a, 0, 5000, false);
	ASSERT_ERR(mcx_peer_open(a.eng, b.eng->listen_addr, &p), 0);
	ASSERT_ERR(mcx_peer_warmup(p), 0);
	/* The listener goes away (as when its process dies): found at once. */
	mcx__listener_stop(b.eng);
	took = wait_dead(p, 3000);
	ASSERT_TRUE(took >= 0);
	ASSERT_TRUE(took < 1000);
	ASSERT_EQ(peer_state(p, &err), MCX_PEER_DEAD);
	ASSERT_ERR(err, -ECONNRESET);
	ASSERT_TRUE(mcx__peer_refetch(p) < 0);
	ASSERT_ERR(mcx__peer_resolve(p, 0x1234, 1, &d), -EFAULT);
	ASSERT_ERR(mcx_peer_warmup(p), -ECONNRESET);
	ASSERT_CONTAINS(captured_log, "connection lost");
	mcx_peer_close(p);
	fake_stop(&a);
	fake_stop(&b);
}

TEST(peer_pings_keep_a_quiet_peer_alive)
{
	struct fake_engine a, b;
	struct mcx_peer *p = NULL;

	log_capture();
	fake_start(&b, 1, 400, true);
	fake_start(&a, 0, 400, false);		/* pings every 100 ms */
	ASSERT_ERR(mcx_peer_open(a.eng, b.eng->listen_addr, &p), 0);
	usleep(1500 * 1000);
	ASSERT_EQ(peer_state(p, NULL), MCX_PEER_NEW);
	ASSERT_TRUE(lstats(&b).requests >= 5);	/* HELLO and PINGs */
	ASSERT_EQ(lstats(&b).dropped, 0);
	mcx_peer_close(p);
	fake_stop(&a);
	fake_stop(&b);
}

/* ---- raw clients and servers ---- */

static int raw_connect(const char *addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	const char *colon = strrchr(addr, ':');
	char host[64];
	int fd;

	ASSERT_TRUE(colon && (size_t)(colon - addr) < sizeof(host));
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	inet_pton(AF_INET, host, &sin.sin_addr);
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

/* The next message is an ERROR with err; then the server hangs up. */
static void expect_error_then_eof(int fd, int err)
{
	uint8_t buf[512];
	struct mcx_wire_error e;
	ssize_t n = raw_recv(fd, buf, sizeof(buf));

	ASSERT_TRUE(n > 0);
	ASSERT_ERR(mcx__wire_decode_error(buf, (size_t)n, &e), 0);
	ASSERT_ERR(-e.err, err);
	ASSERT_EQ(raw_recv(fd, buf, sizeof(buf)), 0);
}

static size_t hello_msg(uint8_t *buf, size_t cap, uint16_t type)
{
	struct mcx_wire_hello h = { .engine_id = 42, .pid = 1, .transport = 1 };
	ssize_t len;

	snprintf(h.host, sizeof(h.host), "raw-client");
	h.nnics = 1;
	h.nics[0] = rnic(0, "10.9.9.9", 24, ETH);
	len = mcx__wire_encode_hello(buf, cap, type, 7, &h);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static void raw_hello(int fd)
{
	uint8_t buf[4096];
	struct mcx_wire_hello back;
	size_t len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	ssize_t n;

	raw_send(fd, buf, len);
	n = raw_recv(fd, buf, sizeof(buf));
	ASSERT_TRUE(n > 0);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)n, MCX_WIRE_HELLO_REPLY, &back), 0);
	ASSERT_EQ(mcx__wire_parse_header(buf, (size_t)n, 0, NULL), 0);
	ASSERT_EQ(buf[12], 7);		/* our sequence number back */
}

TEST(listener_rejects_bad_headers)
{
	struct fake_engine b;
	uint8_t buf[4096];
	size_t len;
	int fd;

	log_capture();
	fake_start(&b, 1, 2000, true);

	/* Garbage: not our magic. */
	fd = raw_connect(b.eng->listen_addr);
	memset(buf, 0xa5, 64);
	raw_send(fd, buf, 64);
	expect_error_then_eof(fd, -EBADMSG);
	close(fd);

	/* A length field far over what a request may be. */
	static const uint32_t sizes[] = { MCX_LISTEN_MAX_REQ + 1, MCX_WIRE_MAX_MSG,
					  0x7fffffff, 0xffffffff };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fd = raw_connect(b.eng->listen_addr);
		len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
		buf[8] = (uint8_t)sizes[i];
		buf[9] = (uint8_t)(sizes[i] >> 8);
		buf[10] = (uint8_t)(sizes[i] >> 16);
		buf[11] = (uint8_t)(sizes[i] >> 24);
		raw_send(fd, buf, len);
		expect_error_then_eof(fd, -EMSGSIZE);
		close(fd);
	}

	/* Another version of the protocol. */
	fd = raw_connect(b.eng->listen_addr);
	len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	buf[4] = 2;
	mcx__wire_seal(buf, len);
	raw_send(fd, buf, len);
	expect_error_then_eof(fd, -EPROTO);
	close(fd);

	/* A bad checksum: the header is fine, the message is not. */
	fd = raw_connect(b.eng->listen_addr);
	len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	buf[len - 1] ^= 1;
	raw_send(fd, buf, len);
	expect_error_then_eof(fd, -EBADMSG);
	close(fd);

	wait_conns(&b, 0);
	ASSERT_TRUE(lstats(&b).dropped >= 7);
	fake_stop(&b);
}

TEST(listener_enforces_the_conversation)
{
	struct fake_engine b;
	uint8_t buf[4096];
	struct mcx_wire_mem_req q = { 0 };
	struct mcx_wire_connect c = { .npairs = 1, .qps_per_pair = 1 };
	struct mcx_wire_mem m;
	ssize_t len, n;
	int fd;

	log_capture();
	fake_start(&b, 1, 2000, true);
	fake_register(&b, 0x10000, 4096, 4096);

	/* Anything before HELLO. */
	fd = raw_connect(b.eng->listen_addr);
	len = mcx__wire_encode_mem_req(buf, sizeof(buf), 1, &q);
	raw_send(fd, buf, (size_t)len);
	expect_error_then_eof(fd, -EPROTO);
	close(fd);

	/* A reply type sent as a request. */
	fd = raw_connect(b.eng->listen_addr);
	raw_hello(fd);
	len = (ssize_t)hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO_REPLY);
	raw_send(fd, buf, (size_t)len);
	expect_error_then_eof(fd, -EPROTO);
	close(fd);

	/* HELLO twice. */
	fd = raw_connect(b.eng->listen_addr);
	raw_hello(fd);
	len = (ssize_t)hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	raw_send(fd, buf, (size_t)len);
	expect_error_then_eof(fd, -EPROTO);
	close(fd);

	/* CONNECT refusals keep the connection; MEM_REQ and PING work. */
	fd = raw_connect(b.eng->listen_addr);
	raw_hello(fd);
	c.pairs[0] = (struct mcx_wire_pair){ .local_nic = 0, .remote_nic = 3, .mtu = 1024,
					     .rd_atomic = 1, .qps = { { 100, 1 } } };
	len = mcx__wire_encode_connect(buf, sizeof(buf), MCX_WIRE_CONNECT, 2, &c);
	raw_send(fd, buf, (size_t)len);
	n = raw_recv(fd, buf, sizeof(buf));
	{
		struct mcx_wire_error e;

		ASSERT_ERR(mcx__wire_decode_error(buf, (size_t)n, &e), 0);
		ASSERT_EQ(e.err, ENODEV);		/* we have no NIC 3 */
		ASSERT_EQ(e.req_type, MCX_WIRE_CONNECT);
		ASSERT_CONTAINS(e.msg, "index 3");
	}
	c.pairs[0].remote_nic = 0;
	c.pairs[0].local_nic = 9;			/* not in our HELLO */
	len = mcx__wire_encode_connect(buf, sizeof(buf), MCX_WIRE_CONNECT, 3, &c);
	raw_send(fd, buf, (size_t)len);
	n = raw_recv(fd, buf, sizeof(buf));
	{
		struct mcx_wire_error e;

		ASSERT_ERR(mcx__wire_decode_error(buf, (size_t)n, &e), 0);
		ASSERT_EQ(e.err, EINVAL);
	}
	len = mcx__wire_encode_mem_req(buf, sizeof(buf), 4, &q);
	raw_send(fd, buf, (size_t)len);
	n = raw_recv(fd, buf, sizeof(buf));
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)n, &m), 0);
	ASSERT_EQ(m.total, 1);
	ASSERT_EQ(m.count, 1);
	ASSERT_U64_EQ(m.descs[0].addr, 0x10000);
	ASSERT_EQ(m.descs[0].rkeys[0], fake_rkey(1, 0));
	mcx__wire_mem_free(&m);
	q.cursor = 5;					/* past the end */
	len = mcx__wire_encode_mem_req(buf, sizeof(buf), 5, &q);
	raw_send(fd, buf, (size_t)len);
	n = raw_recv(fd, buf, sizeof(buf));
	{
		struct mcx_wire_error e;

		ASSERT_ERR(mcx__wire_decode_error(buf, (size_t)n, &e), 0);
		ASSERT_EQ(e.err, ERANGE);
	}
	len = mcx__wire_encode_empty(buf, sizeof(buf), MCX_WIRE_PING, 6);
	raw_send(fd, buf, (size_t)len);
	n = raw_recv(fd, buf, sizeof(buf));
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)n, MCX_WIRE_PONG), 0);
	ASSERT_EQ(buf[12], 6);
	close(fd);

	wait_conns(&b, 0);
	fake_stop(&b);
}

TEST(listener_drops_slow_clients_and_keeps_serving)
{
	struct fake_engine a, b;
	struct mcx_peer *p = NULL;
	uint8_t buf[4096];
	uint64_t t0;
	size_t len;
	int slow, idle;

	log_capture();
	fake_start(&b, 1, 600, true);
	fake_start(&a, 0, 600, false);

	/* Half a header, then nothing; and a client that never says HELLO. */
	slow = raw_connect(b.eng->listen_addr);
	idle = raw_connect(b.eng->listen_addr);
	len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
	raw_send(slow, buf, 10);
	wait_conns(&b, 2);
	t0 = ms_now();

	/* Meanwhile a real peer is served at once. */
	ASSERT_ERR(mcx_peer_open(a.eng, b.eng->listen_addr, &p), 0);
	ASSERT_ERR(mcx_peer_warmup(p), 0);
	ASSERT_TRUE(ms_now() - t0 < 500);

	/* Both are dropped after the timeout (600 ms), not before. */
	ASSERT_EQ(raw_recv(slow, buf, sizeof(buf)), 0);
	ASSERT_EQ(raw_recv(idle, buf, sizeof(buf)), 0);
	ASSERT_TRUE(ms_now() - t0 >= 400);
	ASSERT_TRUE(ms_now() - t0 < 3000);
	close(slow);
	close(idle);
	wait_conns(&b, 1);
	ASSERT_TRUE(lstats(&b).dropped >= 2);

	/* A message trickling in byte by byte must still be whole in time. */
	slow = raw_connect(b.eng->listen_addr);
	t0 = ms_now();
	for (size_t i = 0; i < len; i++) {
		if (send(slow, buf + i, 1, MSG_NOSIGNAL) != 1)
			break;
		usleep(20000);
		if (ms_now() - t0 > 3000)
			break;
	}
	ASSERT_EQ(raw_recv(slow, buf, sizeof(buf)), 0);
	ASSERT_TRUE(ms_now() - t0 < 3000);
	close(slow);

	ASSERT_EQ(peer_state(p, NULL), MCX_PEER_READY);
	mcx_peer_close(p);
	wait_conns(&b, 0);
	fake_stop(&a);
	fake_stop(&b);
}

TEST(listener_caps_connections)
{
	struct fake_engine a, b;
	struct mcx_peer *p = NULL;
	enum { N = MCX_LISTEN_MAX_CONNS + 40 };
	static int fds[N];
	uint8_t buf[64];
	int eof = 0;

	log_capture();
	fake_start(&b, 1, 3000, true);
	fake_start(&a, 0, 3000, false);
	for (int i = 0; i < N; i++)
		fds[i] = raw_connect(b.eng->listen_addr);
	wait_conns(&b, MCX_LISTEN_MAX_CONNS);
	for (int i = 0; i < 500 && lstats(&b).refused < N - MCX_LISTEN_MAX_CONNS; i++)
		usleep(10000);
	/* The ones over the cap were closed at once; the others wait. */
	for (int i = 0; i < N; i++) {
		struct pollfd pfd = { .fd = fds[i], .events = POLLIN };

		if (poll(&pfd, 1, 0) == 1 && recv(fds[i], buf, sizeof(buf), 0) == 0)
			eof++;
	}
	ASSERT_EQ(eof, N - MCX_LISTEN_MAX_CONNS);
	ASSERT_EQ(lstats(&b).refused, N - MCX_LISTEN_MAX_CONNS);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	wait_conns(&b, 0);
	/* And it serves again. */
	ASSERT_ERR(mcx_peer_open(a.eng, b.eng->listen_addr, &p), 0);
	mcx_peer_close(p);
	fake_stop(&a);
	fake_stop(&b);
}

TEST(listener_survives_mutated_messages)
{
	struct fake_engine a, b;
	struct mcx_peer *p = NULL;
	uint8_t buf[4096], in[4096];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int answered = 0, hung_up = 0;

	log_capture();
	fake_start(&b, 1, 1000, true);
	fake_start(&a, 0, 1000, false);
	for (int i = 0; i < 400; i++) {
		size_t len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO);
		int fd = raw_connect(b.eng->listen_addr);
		ssize_t n;

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
	ASSERT_ERR(mcx_peer_open(a.eng, b.eng->listen_addr, &p), 0);
	ASSERT_ERR(mcx_peer_warmup(p), 0);
	mcx_peer_close(p);
	fake_stop(&a);
	fake_stop(&b);
}

/* A server that answers HELLO and then nothing at all (a hung process). */
struct mute_server {
	int lfd;
	char addr[64];
	pthread_t th;
	bool half;		/* answer the first PING with half a PONG */
};

static void *mute_main(void *arg)
{
	struct mute_server *s = arg;
	uint8_t buf[4096];
	int fd = accept(s->lfd, NULL, NULL);
	ssize_t n;
	size_t len;

	if (fd < 0)
		return NULL;
	n = raw_recv(fd, buf, sizeof(buf));
	if (n > 0) {
		len = hello_msg(buf, sizeof(buf), MCX_WIRE_HELLO_REPLY);
		buf[12] = 1;			/* the client's first sequence number */
		mcx__wire_seal(buf, len);
		send(fd, buf, len, MSG_NOSIGNAL);
	}
	if (s->half && raw_recv(fd, buf, sizeof(buf)) > 0) {
		len = (size_t)mcx__wire_encode_empty(buf, sizeof(buf), MCX_WIRE_PONG,
						     buf[12] | buf[13] << 8);
		send(fd, buf, 10, MSG_NOSIGNAL);
	}
	/* Read (so nothing backs up) and never answer, until the client goes. */
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	return NULL;
}

static void mute_start(struct mute_server *s, bool half)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);

	s->half = half;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	ASSERT_EQ(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ASSERT_EQ(listen(s->lfd, 4), 0);
	ASSERT_EQ(getsockname(s->lfd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	ASSERT_EQ(pthread_create(&s->th, NULL, mute_main, s), 0);
}

TEST(peer_unanswered_pings_mark_peer_dead)
{
	struct fake_engine a;
	struct mute_server s;
	struct mcx_peer *p = NULL;
	long took;
	int err = 0;

	log_capture();
	fake_start(&a, 0, 500, false);
	mute_start(&s, false);
	ASSERT_ERR(mcx_peer_open(a.eng, s.addr, &p), 0);
	ASSERT_TRUE(!p->same_process);
	/* Pings every 125 ms; the first unanswered for 500 ms kills it. */
	took = wait_dead(p, 3000);
	ASSERT_TRUE(took >= 400);
	ASSERT_TRUE(took < 1500);
	ASSERT_EQ(peer_state(p, &err), MCX_PEER_DEAD);
	ASSERT_ERR(err, -ETIMEDOUT);
	ASSERT_CONTAINS(captured_log, "no answer to a ping");
	mcx_peer_close(p);
	pthread_join(s.th, NULL);
	close(s.lfd);
	fake_stop(&a);
}

TEST(peer_half_a_reply_marks_peer_dead)
{
	struct fake_engine a;
	struct mute_server s;
	struct mcx_peer *p = NULL;
	long took;
	int err = 0;

	log_capture();
	fake_start(&a, 0, 500, false);
	mute_start(&s, true);
	ASSERT_ERR(mcx_peer_open(a.eng, s.addr, &p), 0);
	took = wait_dead(p, 3000);
	ASSERT_TRUE(took >= 400);
	ASSERT_TRUE(took < 1500);
	ASSERT_EQ(peer_state(p, &err), MCX_PEER_DEAD);
	ASSERT_ERR(err, -ETIMEDOUT);
	/* The half message and the unanswered ping expire together. */
	ASSERT_TRUE(strstr(captured_log, "stuck half way") ||
		    strstr(captured_log, "no answer to a ping"));
	ASSERT_CONTAINS(captured_log, "connection lost");
	mcx_peer_close(p);
	pthread_join(s.th, NULL);
	close(s.lfd);
	fake_stop(&a);
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
	struct fake_engine a, b;
	struct mcx_peer *p = NULL;
	struct refetch_arg ra[T];
	pthread_t th[T];
	pthread_barrier_t bar;
	uint64_t before, after;
	struct mcx_rdesc *d;

	log_capture();
	fake_start(&b, 1, 20000, true);
	fake_start(&a, 0, 20000, false);
	ASSERT_ERR(mcx_peer_open(a.eng, b.eng->listen_addr, &p), 0);
	ASSERT_ERR(mcx_peer_warmup(p), 0);
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
	mcx_peer_close(p);
	fake_stop(&a);
	fake_stop(&b);
}

TEST(peer_handshake_over_ipv6)
{
	struct fake_engine a, b;
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
	fake_start(&a, 0, 5000, false);
	memset(&b, 0, sizeof(b));
	fake_start(&b, 1, 5000, false);
	b.eng->opts.listen = "[::1]:0";
	ASSERT_ERR(mcx__listener_start(b.eng), 0);
	ASSERT_TRUE(strncmp(b.eng->listen_addr, "[::1]:", 6) == 0);
	ASSERT_ERR(mcx_peer_open(a.eng, b.eng->listen_addr, &p), 0);
	ASSERT_ERR(mcx_peer_warmup(p), 0);
	mcx_peer_close(p);
	fake_stop(&a);
	fake_stop(&b);
}
