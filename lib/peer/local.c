// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Engines of this process.  Two engines of one process (a test, or an
 * inference server whose prefill and decode halves share a host) reach
 * each other through their listeners like any two hosts, but the data can
 * move with a memory copy instead of a NIC.  Deciding that from what the
 * other side *says* (an id it echoes back) would let any peer make us copy
 * at addresses it chose; so the decision is made from local facts only:
 *
 *  - the client draws a fresh random probe, records it here as pending,
 *    together with the two ends of its TCP connection, and sends it in
 *    its HELLO;
 *  - a listener that gets a HELLO looks the probe up here and, if it is
 *    pending for the very connection the HELLO came on, claims it for its
 *    own engine;
 *  - the client reads the claim back after the reply.  Only code of this
 *    process writes the table, so a remote peer can never be taken for a
 *    local one, whatever it sends.  Binding the probe to the connection
 *    keeps a server that relays our probe to a listener of ours (any
 *    peer can reach one) from having it claimed on its own connection.
 *
 * A short-cut copy then checks that the remote range lies inside an
 * exported host registration of the claimed engine, exactly what a NIC
 * would enforce with its keys.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "peer/peer.h"

#define MAX_PROBES	64	/* handshakes in progress at once, process-wide */

struct mcx_local_engine {
	struct mcx_memspace *mem;
	void (*notify)(void *arg, void *owner, uint32_t tag);
	void *notify_arg;
	int refs;			/* holders: the table and each peer (table_lock) */
	int users;			/* copies and notifications running (table_lock) */
	bool gone;
	struct mcx_local_engine *next;
};

struct probe {
	uint64_t value;			/* 0: free */
	struct mcx_local_conn conn;	/* the connection it was sent on */
	struct mcx_local_engine *claimed;
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t table_cond = PTHREAD_COND_INITIALIZER;
static struct mcx_local_engine *engines;
static struct probe probes[MAX_PROBES];

int mcx__local_add(struct mcx_memspace *mem, void (*notify)(void *arg, void *owner, uint32_t tag),
		   void *notify_arg, struct mcx_local_engine **out)
{
	struct mcx_local_engine *le = calloc(1, sizeof(*le));

	*out = NULL;
	if (!le)
		return -ENOMEM;
	le->mem = mem;
	le->notify = notify;
	le->notify_arg = notify_arg;
	le->refs = 1;
	pthread_mutex_lock(&table_lock);
	le->next = engines;
	engines = le;
	pthread_mutex_unlock(&table_lock);
	*out = le;
	return 0;
}

void mcx__local_del(struct mcx_local_engine *le)
{
	struct mcx_local_engine **pp;
	bool free_it;

	if (!le)
		return;
	pthread_mutex_lock(&table_lock);
	for (pp = &engines; *pp; pp = &(*pp)->next) {
		if (*pp == le) {
			*pp = le->next;
			break;
		}
	}
	for (int i = 0; i < MAX_PROBES; i++)
		if (probes[i].claimed == le)
			probes[i].claimed = NULL;
	le->gone = true;
	/*
	 * Copies in progress use the engine's memory: wait for them.  Not
	 * for the peers that hold le, which may belong to an engine closed
	 * later (by this very thread); they find it gone.
	 */
	while (le->users)
		pthread_cond_wait(&table_cond, &table_lock);
	free_it = --le->refs == 0;
	pthread_mutex_unlock(&table_lock);
	if (free_it)
		free(le);
}

/* Start using le's engine (a copy, a notification): false once it is gone. */
static bool local_enter(struct mcx_local_engine *le)
{
	bool ok;

	pthread_mutex_lock(&table_lock);
	ok = !le->gone;
	if (ok)
		le->users++;
	pthread_mutex_unlock(&table_lock);
	return ok;
}

static void local_leave(struct mcx_local_engine *le)
{
	pthread_mutex_lock(&table_lock);
	if (--le->users == 0)
		pthread_cond_broadcast(&table_cond);
	pthread_mutex_unlock(&table_lock);
}

/* An address as 16 bytes (IPv4 mapped into IPv6) and a port. */
static int conn_end(const struct sockaddr_storage *ss, uint8_t ip[16], uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		memset(ip, 0, 10);
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, &in->sin_addr, 4);
		*port = ntohs(in->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		memcpy(ip, &in6->sin6_addr, 16);
		*port = ntohs(in6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int mcx__local_conn_of(int fd, bool accepted, struct mcx_local_conn *out)
{
	struct sockaddr_storage self, other;
	socklen_t ls = sizeof(self), lo = sizeof(other);
	int ret;

	memset(out, 0, sizeof(*out));
	if (getsockname(fd, (struct sockaddr *)&self, &ls) ||
	    getpeername(fd, (struct sockaddr *)&other, &lo))
		return -errno;
	/* Both ends of one connection name the caller and the listener alike. */
	ret = conn_end(accepted ? &other : &self, out->caller, &out->caller_port);
	if (!ret)
		ret = conn_end(accepted ? &self : &other, out->listener, &out->listener_port);
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}

uint64_t mcx__local_probe_start(const struct mcx_local_conn *conn)
{
	uint64_t v = 0;

	while (!v) {
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = mcx__now_ns() ^ ((uint64_t)(uintptr_t)&v << 16);
	}
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < MAX_PROBES; i++) {
		if (!probes[i].value) {
			probes[i].value = v;
			probes[i].conn = *conn;
			probes[i].claimed = NULL;
			pthread_mutex_unlock(&table_lock);
			return v;
		}
	}
	pthread_mutex_unlock(&table_lock);
	/* Table full: the probe cannot be claimed, the peer is just remote. */
	return v;
}

void mcx__local_probe_claim(uint64_t probe, const struct mcx_local_conn *conn,
			   struct mcx_local_engine *le)
{
	if (!probe || !le)
		return;
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < MAX_PROBES; i++)
		if (probes[i].value == probe && !le->gone &&
		    !memcmp(&probes[i].conn, conn, sizeof(*conn)))
			probes[i].claimed = le;
	pthread_mutex_unlock(&table_lock);
}

struct mcx_local_engine *mcx__local_probe_end(uint64_t probe)
{
	struct mcx_local_engine *le = NULL;

	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < MAX_PROBES; i++) {
		if (probes[i].value != probe)
			continue;
		le = probes[i].claimed;
		if (le)
			le->refs++;
		probes[i].value = 0;
		probes[i].claimed = NULL;
		break;
	}
	pthread_mutex_unlock(&table_lock);
	return le;
}

void mcx__local_put(struct mcx_local_engine *le)
{
	bool free_it;

	if (!le)
		return;
	pthread_mutex_lock(&table_lock);
	free_it = --le->refs == 0;
	pthread_mutex_unlock(&table_lock);
	if (free_it)
		free(le);
}

int mcx__local_copy(struct mcx_local_engine *le, bool read, void *local, uint64_t raddr,
		    uint64_t len)
{
	return mcx__local_copy_mem(le, read, NULL, local, raddr, len);
}

int mcx__local_copy_mem(struct mcx_local_engine *le, bool read, const struct mcx_mem *lmem,
			void *local, uint64_t raddr, uint64_t len)
{
	struct mcx_mem *m;
	int ret = 0;

	if (!local_enter(le))
		return -ECONNRESET;
	/* Host or GPU memory it exported, never a dma-buf iova. */
	m = mcx__mem_find_exported(le->mem, MCX_MEM_HOST, raddr, len);
	if (!m)
		m = mcx__mem_find_exported(le->mem, MCX_MEM_CUDA_DEV, raddr, len);
	if (m) {
		ret = read ? mcx__mem_copy(lmem, (uintptr_t)local, m, raddr, len) :
			     mcx__mem_copy(m, raddr, lmem, (uintptr_t)local, len);
		mcx__mem_put(m);
	}
	local_leave(le);
	return m ? ret : -EFAULT;
}

void mcx__local_notify(struct mcx_local_engine *le, uint32_t tag)
{
	if (!le || !le->notify || !local_enter(le))
		return;
	le->notify(le->notify_arg, NULL, tag);
	local_leave(le);
}
