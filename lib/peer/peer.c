// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Peers: the TCP handshake (client and listener), the choice of NIC pairs
 * and the exchange of memory descriptors.  The bytes on the wire are
 * wire.c's; the QPs are made by the transport (transport/transport.h).
 *
 * Client side.  mcx_peer_open() connects and exchanges HELLOs, nothing else.
 * A watcher thread per peer is the only reader of its socket: it hands each
 * reply to the request waiting for it, pings the listener when the line has
 * been quiet, and declares the peer dead (mcx__peer_fail) when the
 * connection closes, errs, carries something unexpected or a ping goes
 * unanswered for timeout_ms.  The TCP connection is thus the liveness
 * channel of the peer.  Pairs and descriptors come on first use
 * (mcx__peer_connect from the batch path) or mcx_peer_warmup().
 *
 * Listener side.  One thread serves every connection with non-blocking
 * sockets and poll(): a request is at most MCX_LISTEN_MAX_REQ bytes (the
 * header is checked before anything is allocated), must arrive whole within
 * timeout_ms of its first byte, the HELLO within timeout_ms of the accept,
 * and a reply must drain within timeout_ms of its last progress; a client
 * that breaks any rule is dropped, so a slow or hostile client costs one
 * slot of MCX_LISTEN_MAX_CONNS and a bounded buffer, never the thread.  The
 * QPs made for a client live as long as its connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

#include "ctrl/wire.h"

#define PING_MIN_MS		100
#define PING_MAX_MS		5000
#define MEM_PAGE_RETRIES	8
/* A served client that says nothing for this long (it pings) is gone. */
#define IDLE_MIN_MS		30000
/* Requests the client side encodes: HELLO and CONNECT are the largest. */
#define REQ_BUF			(16U << 10)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t mtu_bytes(unsigned int mtu)
{
	return (mtu >= IBV_MTU_256 && mtu <= IBV_MTU_4096) ? 128U << mtu : 0;
}

static uint8_t mtu_enum(uint32_t bytes)
{
	for (unsigned int m = IBV_MTU_256; m <= IBV_MTU_4096; m++)
		if (mtu_bytes(m) == bytes)
			return (uint8_t)m;
	return 0;
}

static uint8_t wire_ll(uint8_t ll)
{
	return ll == IBV_LINK_LAYER_ETHERNET ? MCX_WIRE_LL_ETH : MCX_WIRE_LL_IB;
}

static uint8_t verbs_ll(uint8_t ll)
{
	return ll == MCX_WIRE_LL_ETH ? IBV_LINK_LAYER_ETHERNET : IBV_LINK_LAYER_INFINIBAND;
}

/* ---- rail choice ---- */

bool mcx__same_subnet(uint32_t a, uint8_t alen, uint32_t b, uint8_t blen)
{
	uint8_t len = alen < blen ? alen : blen;
	uint32_t mask;

	if (!a || !b || len == 0 || len > 32)
		return false;
	mask = len == 32 ? UINT32_MAX : ~(UINT32_MAX >> len);
	return (ntohl(a) & mask) == (ntohl(b) & mask);
}

static uint32_t wire_ipv4(const struct mcx_wire_nic *n)
{
	uint32_t v;

	memcpy(&v, n->ipv4, 4);
	return v;
}

uint32_t mcx__rail_choose(const struct mcx_nic_info *local, uint32_t nl,
			  const struct mcx_wire_nic *remote, uint32_t nr,
			  struct mcx_rail_choice *out)
{
	uint32_t used[MCX_WIRE_MAX_NICS] = { 0 };
	uint32_t n = 0;

	if (nr > MCX_WIRE_MAX_NICS)
		nr = MCX_WIRE_MAX_NICS;
	for (uint32_t i = 0; i < nl; i++) {
		const struct mcx_nic_info *l = &local[i];
		int best = -1, best_rank = 0;

		for (uint32_t j = 0; j < nr; j++) {
			const struct mcx_wire_nic *r = &remote[j];
			bool subnet = mcx__same_subnet(l->ipv4, l->ipv4_prefix,
						       wire_ipv4(r), r->prefix);
			bool no_ip = !l->ipv4 && !wire_ipv4(r);
			int rank;

			if (wire_ll(l->link_layer) != r->link_layer)
				continue;
			/*
			 * Lower is better: the rail (same index, same subnet),
			 * then the same subnet, then anything; inside a rank
			 * the least used remote NIC spreads the pairs.
			 */
			if (r->index == l->idx && (subnet || no_ip))
				rank = 0;
			else if (subnet)
				rank = 1;
			else if (r->index == l->idx)
				rank = 2;
			else
				rank = 3;
			rank = rank * 1024 + (int)used[j];
			if (best < 0 || rank < best_rank) {
				best = (int)j;
				best_rank = rank;
			}
		}
		if (best < 0)
			continue;
		used[best]++;
		out[n].lnic = i;
		out[n].rnic = remote[best].index;
		out[n].rail = best_rank < 2 * 1024;
		n++;
	}
	return n;
}

/* ---- socket helpers ---- */

static void tune_socket(int fd)
{
	int one = 1;

	/* Small request/reply exchanges: do not let Nagle hold them back. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

/* Send all of buf before deadline (ms, monotonic).  0 or -errno. */
static int send_all(int fd, const void *buf, size_t len, uint64_t deadline)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE ? -ECONNRESET : -errno;
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			uint64_t now = now_ms();
			int r;

			if (now >= deadline)
				return -ETIMEDOUT;
			r = poll(&pfd, 1, (int)(deadline - now));
			if (r > 0 || (r < 0 && errno != EINTR))
				break;
		}
	}
	return 0;
}

/*
 * A message being read from a non-blocking socket: the header first (checked
 * against max before anything is allocated), then exactly the declared rest.
 */
struct msg_reader {
	uint8_t hdr[MCX_WIRE_HDR_LEN];
	struct mcx_wire_hdr h;
	uint8_t *buf;			/* whole message once the header is in */
	size_t got;
	uint32_t max;
	uint64_t started;		/* ms of its first byte */
	uint64_t last;			/* ms of the last bytes read */
};

static void reader_reset(struct msg_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->got = 0;
	r->started = 0;
}

/*
 * Read what is there.  1: a whole message is in r->buf (the caller takes
 * it and resets r); 0: more is needed; -ENOTCONN: the peer closed between
 * messages; -ECONNRESET: it closed inside one; a wire.c header error; or
 * another -errno.
 */
static int reader_step(int fd, struct msg_reader *r)
{
	for (;;) {
		uint8_t *dst;
		size_t want;
		ssize_t n;

		if (r->got < MCX_WIRE_HDR_LEN) {
			dst = r->hdr + r->got;
			want = MCX_WIRE_HDR_LEN - r->got;
		} else {
			dst = r->buf + r->got;
			want = r->h.len - r->got;
		}
		n = recv(fd, dst, want, MSG_DONTWAIT);
		if (n == 0)
			return r->got ? -ECONNRESET : -ENOTCONN;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		r->last = now_ms();
		if (!r->got)
			r->started = r->last;
		r->got += (size_t)n;
		if (r->got == MCX_WIRE_HDR_LEN && !r->buf) {
			int ret = mcx__wire_parse_header(r->hdr, MCX_WIRE_HDR_LEN,
							 r->max, &r->h);

			if (ret)
				return ret;
			r->buf = malloc(r->h.len);
			if (!r->buf)
				return -ENOMEM;
			memcpy(r->buf, r->hdr, MCX_WIRE_HDR_LEN);
		}
		if (r->buf && r->got == r->h.len)
			return 1;
	}
}

static void host_name(char *buf, size_t len)
{
	if (gethostname(buf, len - 1))
		buf[0] = '\0';
	buf[len - 1] = '\0';
	/* The wire wants printable bytes without blanks. */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			*p = '_';
	if (!buf[0])
		snprintf(buf, len, "unknown");
}

static void fill_hello(const struct mcx_engine *eng, struct mcx_wire_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->engine_id = mcx__process_token();
	h->pid = (uint32_t)getpid();
	h->transport = MCX_WIRE_TRANSPORT_VERBS;
	host_name(h->host, sizeof(h->host));
	for (uint32_t i = 0; i < eng->nr_nics && i < MCX_WIRE_MAX_NICS; i++) {
		struct mcx_wire_nic *w = &h->nics[h->nnics++];
		struct mcx_nic_info ni;

		mcx__nic_describe(&eng->nics[i], &ni);
		w->index = ni.idx;
		snprintf(w->name, sizeof(w->name), "%s", ni.name);
		memcpy(w->gid, ni.gid, 16);
		w->lid = ni.lid;
		w->port = ni.port;
		w->link_layer = wire_ll(ni.link_layer);
		w->mtu = mtu_bytes(ni.mtu) ? mtu_bytes(ni.mtu) : 1024;
		memcpy(w->ipv4, &ni.ipv4, 4);
		w->prefix = ni.ipv4 ? (ni.ipv4_prefix > 32 ? 32 : ni.ipv4_prefix) : 0;
	}
}

/* The remote engine lives in this very process (memcpy will do). */
static bool hello_same_process(const struct mcx_wire_hello *r)
{
	char host[MCX_WIRE_HOST_MAX];

	host_name(host, sizeof(host));
	return r->engine_id == mcx__process_token() && r->pid == (uint32_t)getpid() &&
	       !strcmp(r->host, host);
}

static const struct mcx_wire_nic *hello_nic(const struct mcx_wire_hello *h,
					    uint32_t index)
{
	for (uint32_t i = 0; i < h->nnics; i++)
		if (h->nics[i].index == index)
			return &h->nics[i];
	return NULL;
}

/* ================================================================== */
/* Client side                                                         */
/* ================================================================== */

struct mcx_peer_conn {
	int fd;
	pthread_t watcher;
	bool watcher_on;

	pthread_mutex_t mu;		/* everything below */
	pthread_cond_t cv;
	uint32_t next_seq;
	bool waiting;			/* a request waits for wait_seq */
	uint32_t wait_seq;
	uint8_t *reply;			/* its reply, from the watcher */
	size_t reply_len;
	int dead;			/* -errno once the connection failed */
	bool closing;			/* mcx_peer_close(): no more reports */
	bool report;			/* attached: failures go to mcx__peer_fail */
	bool hello_done;		/* pings only after the HELLO exchange */
	bool ping_out;
	uint32_t ping_seq;
	uint64_t ping_sent;
	uint64_t last_rx;

	pthread_mutex_t rpc_mu;		/* one request at a time */
	pthread_mutex_t wr_mu;		/* writes to fd */
	pthread_mutex_t setup_mu;	/* mcx__peer_connect() */
	pthread_mutex_t fetch_mu;	/* one descriptor fetch at a time */
	uint64_t fetches;		/* started (written under fetch_mu and mu) */
	int fetch_ret;			/* the last one's result (under fetch_mu) */

	uint32_t timeout_ms;
	uint32_t ping_ms;
	struct mcx_wire_hello remote;
};

/*
 * The connection failed with err: remember why, wake a waiting request, and
 * make the watcher see it (shutdown wakes its poll with an end of file).
 */
static void conn_kill(struct mcx_peer_conn *c, int err)
{
	pthread_mutex_lock(&c->mu);
	if (!c->dead)
		c->dead = err;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	shutdown(c->fd, SHUT_RDWR);
}

static int conn_send(struct mcx_peer_conn *c, const void *buf, size_t len)
{
	int ret;

	pthread_mutex_lock(&c->wr_mu);
	ret = send_all(c->fd, buf, len, now_ms() + c->timeout_ms);
	pthread_mutex_unlock(&c->wr_mu);
	return ret;
}

/* A message that arrived: a PONG for us, or the reply a request waits for. */
static int watcher_deliver(struct mcx_peer_conn *c, uint8_t *msg, const struct mcx_wire_hdr *h)
{
	int ret = 0;

	pthread_mutex_lock(&c->mu);
	c->last_rx = now_ms();
	if (h->type == MCX_WIRE_PONG) {
		if (!c->ping_out || h->seq != c->ping_seq ||
		    mcx__wire_decode_empty(msg, h->len, MCX_WIRE_PONG))
			ret = -EPROTO;
		c->ping_out = false;
		free(msg);
	} else if (c->waiting && h->seq == c->wait_seq && !c->reply) {
		c->reply = msg;
		c->reply_len = h->len;
		pthread_cond_broadcast(&c->cv);
	} else {
		free(msg);
		ret = -EPROTO;		/* nobody asked for it */
	}
	pthread_mutex_unlock(&c->mu);
	return ret;
}

static void *watcher_main(void *arg)
{
	struct mcx_peer *peer = arg;
	struct mcx_peer_conn *c = peer->conn;
	struct msg_reader rd = { .max = MCX_WIRE_MAX_MSG };
	bool report;
	int err = 0;

	while (!err) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		uint64_t now = now_ms();
		uint8_t ping[MCX_WIRE_HDR_LEN];
		bool send_ping = false;
		int r;

		pthread_mutex_lock(&c->mu);
		if (c->dead || c->closing) {
			err = c->dead ? c->dead : -ECONNABORTED;
			pthread_mutex_unlock(&c->mu);
			break;
		}
		/* Bytes still arriving (a long reply) show it is alive too. */
		if (c->ping_out && now - c->ping_sent >= c->timeout_ms &&
		    now - c->last_rx >= c->timeout_ms) {
			err = -ETIMEDOUT;
			mcx__warn("peer %s: no answer to a ping for %u ms", peer->addr,
				  c->timeout_ms);
		} else if (c->hello_done && !c->ping_out && now - c->last_rx >= c->ping_ms) {
			c->ping_out = true;
			c->ping_sent = now;
			c->ping_seq = c->next_seq++;
			send_ping = true;
			mcx__wire_encode_empty(ping, sizeof(ping), MCX_WIRE_PING, c->ping_seq);
		}
		pthread_mutex_unlock(&c->mu);
		if (!err && rd.got && now - rd.last >= c->timeout_ms) {
			err = -ETIMEDOUT;
			mcx__warn("peer %s: a message stuck half way for %u ms", peer->addr,
				  c->timeout_ms);
		}
		if (err)
			break;
		if (send_ping) {
			err = conn_send(c, ping, sizeof(ping));
			if (err)
				break;
		}

		r = poll(&pfd, 1, (int)c->ping_ms / 2 + 1);
		if (r < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (r <= 0)
			continue;
		for (;;) {
			r = reader_step(c->fd, &rd);
			if (r <= 0)
				break;
			r = watcher_deliver(c, rd.buf, &rd.h);
			rd.buf = NULL;
			reader_reset(&rd);
			if (r)
				break;
		}
		if (r < 0)
			err = r == -ENOTCONN ? -ECONNRESET : r;
		pthread_mutex_lock(&c->mu);
		if (rd.last > c->last_rx)
			c->last_rx = rd.last;
		pthread_mutex_unlock(&c->mu);
	}
	reader_reset(&rd);

	pthread_mutex_lock(&c->mu);
	if (!c->dead)
		c->dead = err;
	err = c->dead;
	report = c->report && !c->closing;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (report) {
		mcx__warn("peer %s: connection lost: %s", peer->addr, mcx_strerror(err));
		mcx__peer_fail(peer, err);
	}
	return NULL;
}

/*
 * Send the request in buf (len bytes, sequence number seq) and wait for its
 * reply of type want.  *reply (malloc'd, the caller frees it) on 0; the
 * errno of an ERROR reply, or the connection's failure.  A reply that does
 * not come within timeout_ms kills the connection: requests and replies
 * would no longer pair up.
 */
static int rpc(struct mcx_peer *peer, const uint8_t *buf, size_t len, uint32_t seq,
	       uint16_t want, uint8_t **reply, size_t *reply_len)
{
	struct mcx_peer_conn *c = peer->conn;
	struct mcx_wire_hdr h;
	struct timespec ts;
	uint64_t deadline;
	int ret;

	*reply = NULL;
	/* The time allowed starts once it is our turn on the connection. */
	pthread_mutex_lock(&c->rpc_mu);
	deadline = now_ms() + c->timeout_ms;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += c->timeout_ms / 1000;
	ts.tv_nsec += (long)(c->timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->mu);
	ret = c->dead;
	c->waiting = !ret;
	c->wait_seq = seq;
	c->reply = NULL;
	pthread_mutex_unlock(&c->mu);
	if (ret)
		goto out;

	ret = conn_send(c, buf, len);
	if (ret) {
		conn_kill(c, ret);
		goto done;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->reply && !c->dead && now_ms() < deadline)
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	if (c->reply) {
		*reply = c->reply;
		*reply_len = c->reply_len;
		c->reply = NULL;
	} else {
		ret = c->dead ? c->dead : -ETIMEDOUT;
	}
	c->waiting = false;
	pthread_mutex_unlock(&c->mu);
	if (ret == -ETIMEDOUT) {
		mcx__warn("peer %s: no reply to %s within %u ms", peer->addr,
			  mcx__wire_type_name((uint16_t)(buf[6] | buf[7] << 8)),
			  c->timeout_ms);
		conn_kill(c, ret);
	}
done:
	if (!ret) {
		ret = mcx__wire_check(*reply, *reply_len, &h);
		if (!ret && h.type == MCX_WIRE_ERROR) {
			struct mcx_wire_error e;

			ret = mcx__wire_decode_error(*reply, *reply_len, &e);
			if (!ret) {
				mcx__warn("peer %s refused %s: %s%s%s", peer->addr,
					  mcx__wire_type_name(e.req_type), mcx_strerror(-e.err),
					  e.msg[0] ? ": " : "", e.msg);
				ret = -e.err;
			}
		} else if (!ret && h.type != want) {
			ret = -EPROTO;
		}
		if (ret) {
			free(*reply);
			*reply = NULL;
		}
	}
out:
	pthread_mutex_unlock(&c->rpc_mu);
	return ret;
}

static uint32_t conn_seq(struct mcx_peer_conn *c)
{
	uint32_t s;

	pthread_mutex_lock(&c->mu);
	s = c->next_seq++;
	pthread_mutex_unlock(&c->mu);
	return s;
}

/* Connect to host:port within timeout_ms.  The socket, or -errno. */
static int tcp_connect(const char *host, uint16_t port, uint32_t timeout_ms)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	uint64_t deadline = now_ms() + timeout_ms;
	struct addrinfo *res, *ai;
	char service[8];
	int ret, fd = -1;

	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(host, service, &hints, &res);
	if (ret) {
		mcx__err("peer %s:%u: cannot resolve: %s", host, port, gai_strerror(ret));
		return ret == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	}
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t sl = sizeof(int);
		int soerr = 0;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			ret = -errno;
			goto next;
		}
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		for (;;) {
			uint64_t now = now_ms();
			int r;

			if (now >= deadline) {
				ret = -ETIMEDOUT;
				goto next;
			}
			r = poll(&pfd, 1, (int)(deadline - now));
			if (r > 0)
				break;
			if (r < 0 && errno != EINTR) {
				ret = -errno;
				goto next;
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
			break;
		ret = soerr ? -soerr : -ECONNREFUSED;
next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return ret;
	tune_socket(fd);
	return fd;
}

static void conn_free(struct mcx_peer_conn *c)
{
	if (!c)
		return;
	if (c->watcher_on) {
		pthread_mutex_lock(&c->mu);
		c->closing = true;
		pthread_mutex_unlock(&c->mu);
		shutdown(c->fd, SHUT_RDWR);
		pthread_join(c->watcher, NULL);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->reply);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->rpc_mu);
	pthread_mutex_destroy(&c->wr_mu);
	pthread_mutex_destroy(&c->setup_mu);
	pthread_mutex_destroy(&c->fetch_mu);
	free(c);
}

static struct mcx_peer_conn *conn_new(uint32_t timeout_ms)
{
	struct mcx_peer_conn *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (!c)
		return NULL;
	c->fd = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->rpc_mu, NULL);
	pthread_mutex_init(&c->wr_mu, NULL);
	pthread_mutex_init(&c->setup_mu, NULL);
	pthread_mutex_init(&c->fetch_mu, NULL);
	c->timeout_ms = timeout_ms ? timeout_ms : 10000;
	c->ping_ms = c->timeout_ms / 4;
	if (c->ping_ms < PING_MIN_MS)
		c->ping_ms = PING_MIN_MS;
	if (c->ping_ms > PING_MAX_MS)
		c->ping_ms = PING_MAX_MS;
	c->next_seq = 1;
	c->last_rx = now_ms();
	return c;
}

static int hello_exchange(struct mcx_peer *peer)
{
	struct mcx_peer_conn *c = peer->conn;
	static const size_t cap = REQ_BUF;
	struct mcx_wire_hello *h;
	uint8_t *buf, *reply;
	size_t rlen;
	ssize_t len;
	uint32_t seq = conn_seq(c);
	int ret;

	h = malloc(sizeof(*h));
	buf = malloc(cap);
	if (!h || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	fill_hello(peer->eng, h);
	len = mcx__wire_encode_hello(buf, cap, MCX_WIRE_HELLO, seq, h);
	if (len < 0) {
		ret = (int)len;
		mcx__err("peer %s: cannot describe our NICs in a HELLO: %s", peer->addr,
			 mcx_strerror(ret));
		goto out;
	}
	ret = rpc(peer, buf, (size_t)len, seq, MCX_WIRE_HELLO_REPLY, &reply, &rlen);
	if (ret)
		goto out;
	ret = mcx__wire_decode_hello(reply, rlen, MCX_WIRE_HELLO_REPLY, &c->remote);
	free(reply);
	if (ret) {
		mcx__err("peer %s: bad HELLO reply: %s", peer->addr, mcx_strerror(ret));
		goto out;
	}
	if (c->remote.transport != MCX_WIRE_TRANSPORT_VERBS) {
		mcx__err("peer %s: transport %u, we speak verbs (%u)", peer->addr,
			 c->remote.transport, MCX_WIRE_TRANSPORT_VERBS);
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	pthread_mutex_lock(&c->mu);
	c->hello_done = true;
	pthread_mutex_unlock(&c->mu);
	peer->same_process = hello_same_process(&c->remote);
	peer->remote_nr_nics = c->remote.nnics;
	mcx__info("peer %s: %s pid %u, %u NIC(s)%s", peer->addr, c->remote.host,
		  c->remote.pid, c->remote.nnics,
		  peer->same_process ? ", same process" : "");
out:
	free(h);
	free(buf);
	return ret;
}

MCX_EXPORT int mcx_peer_open(struct mcx_engine *eng, const char *addr, struct mcx_peer **out)
{
	char host[256];
	struct mcx_peer *peer;
	struct mcx_peer_conn *c;
	uint16_t port;
	int ret, fd;

	if (mcx__engine_check_owner(eng))
		return -EOWNERDEAD;
	if (out)
		*out = NULL;
	if (!eng || !addr || !out)
		return -EINVAL;
	if (mcx__parse_hostport("peer address", addr, host, sizeof(host), &port))
		return -EINVAL;
	if (port == 0) {
		mcx__err("peer address \"%s\": port 0 is not a listener's port", addr);
		return -EINVAL;
	}
	peer = calloc(1, sizeof(*peer));
	c = conn_new(eng->opts.timeout_ms);
	if (!peer || !c) {
		free(peer);
		conn_free(c);
		return -ENOMEM;
	}
	peer->eng = eng;
	snprintf(peer->addr, sizeof(peer->addr), "%s", addr);
	pthread_mutex_init(&peer->lock, NULL);
	peer->state = MCX_PEER_NEW;
	peer->conn = c;

	fd = tcp_connect(host, port, c->timeout_ms);
	if (fd < 0) {
		ret = fd;
		mcx__err("peer %s: cannot connect: %s", addr, mcx_strerror(ret));
		goto fail;
	}
	c->fd = fd;
	ret = mcx__thread_create(&c->watcher, "mcx-watch", watcher_main, peer);
	if (ret)
		goto fail;
	c->watcher_on = true;
	ret = hello_exchange(peer);
	if (ret)
		goto fail;

	mcx__peer_attach(eng, peer);
	pthread_mutex_lock(&c->mu);
	c->report = true;
	ret = c->dead;
	pthread_mutex_unlock(&c->mu);
	if (ret)		/* died before it could be reported */
		mcx__peer_fail(peer, ret);
	*out = peer;
	return 0;
fail:
	conn_free(c);
	pthread_mutex_destroy(&peer->lock);
	free(peer);
	return ret;
}

/* Destroy pairs[0..n) that got QPs, and free the array. */
static void pairs_free(struct mcx_pair *pairs, uint32_t n)
{
	for (uint32_t i = 0; pairs && i < n; i++)
		if (pairs[i].nqp)
			mcx__pair_destroy(&pairs[i]);
	free(pairs);
}

static int connect_pairs(struct mcx_peer *peer)
{
	struct mcx_engine *eng = peer->eng;
	struct mcx_peer_conn *c = peer->conn;
	struct mcx_nic_info linfo[MCX_MAX_NICS];
	struct mcx_rail_choice ch[MCX_MAX_NICS];
	struct mcx_wire_connect *req = NULL, *rep = NULL;
	struct mcx_pair *pairs = NULL;
	uint8_t *buf = NULL, *reply = NULL;
	uint32_t n, nqp = eng->opts.qps_per_pair, seq;
	size_t rlen;
	ssize_t len;
	int ret;

	if (eng->nr_nics == 0) {
		mcx__err("peer %s: this engine has no RDMA device to reach it with", peer->addr);
		return -ENODEV;
	}
	if (nqp < 1 || nqp > MCX_MAX_QPS_PER_PAIR)
		return -EINVAL;
	for (uint32_t i = 0; i < eng->nr_nics; i++)
		mcx__nic_describe(&eng->nics[i], &linfo[i]);
	n = mcx__rail_choose(linfo, eng->nr_nics, c->remote.nics, c->remote.nnics, ch);
	if (n == 0) {
		mcx__err("peer %s: none of its %u NIC(s) shares a link layer with ours",
			 peer->addr, c->remote.nnics);
		return -ENETUNREACH;
	}
	pairs = calloc(n, sizeof(*pairs));
	req = calloc(1, sizeof(*req));
	rep = calloc(1, sizeof(*rep));
	buf = malloc(REQ_BUF);
	if (!pairs || !req || !rep || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	req->npairs = n;
	req->qps_per_pair = nqp;
	for (uint32_t i = 0; i < n; i++) {
		struct mcx_pair *p = &pairs[i];
		struct mcx_wire_pair *w = &req->pairs[i];
		struct mcx_ep_info local;

		p->peer = peer;
		p->lnic = &eng->nics[ch[i].lnic];
		p->rnic = ch[i].rnic;
		p->rail = ch[i].rail;
		p->nqp = nqp;
		ret = mcx__pair_create(p, &local);
		if (ret)
			goto out;
		w->local_nic = p->lnic->idx;
		w->remote_nic = p->rnic;
		w->mtu = mtu_bytes(local.mtu) ? mtu_bytes(local.mtu) : 1024;
		memcpy(w->gid, local.gid, 16);
		w->lid = local.lid;
		w->rd_atomic = (uint8_t)(p->lnic->max_qp_rd_atom < 1 ? 1 :
					 p->lnic->max_qp_rd_atom > MCX_WIRE_MAX_RD_ATOMIC ?
					 MCX_WIRE_MAX_RD_ATOMIC : p->lnic->max_qp_rd_atom);
		for (uint32_t q = 0; q < nqp; q++) {
			w->qps[q].qpn = local.qp[q].qpn;
			w->qps[q].psn = local.qp[q].psn;
		}
		mcx__dbg("peer %s: pair %s -> NIC %u%s", peer->addr, p->lnic->name, p->rnic,
			 p->rail ? " (rail)" : " (fall-back)");
	}
	seq = conn_seq(c);
	len = mcx__wire_encode_connect(buf, REQ_BUF, MCX_WIRE_CONNECT, seq, req);
	if (len < 0) {
		ret = (int)len;
		goto out;
	}
	ret = rpc(peer, buf, (size_t)len, seq, MCX_WIRE_CONNECT_REPLY, &reply, &rlen);
	if (ret)
		goto out;
	ret = mcx__wire_decode_connect(reply, rlen, MCX_WIRE_CONNECT_REPLY, rep);
	if (!ret && (rep->npairs != n || rep->qps_per_pair != nqp))
		ret = -EPROTO;
	for (uint32_t i = 0; !ret && i < n; i++) {
		const struct mcx_wire_pair *w = &rep->pairs[i];
		const struct mcx_wire_nic *rn = hello_nic(&c->remote, w->local_nic);
		struct mcx_ep_info remote = { 0 };

		/* Its answer for our pair i: its NIC p->rnic to our NIC. */
		if (w->local_nic != pairs[i].rnic || w->remote_nic != pairs[i].lnic->idx || !rn) {
			ret = -EPROTO;
			break;
		}
		memcpy(remote.gid, w->gid, 16);
		remote.lid = w->lid;
		remote.port = rn->port;
		remote.mtu = mtu_enum(w->mtu);
		remote.link_layer = verbs_ll(rn->link_layer);
		remote.nqp = (uint8_t)nqp;
		for (uint32_t q = 0; q < nqp; q++) {
			remote.qp[q].qpn = w->qps[q].qpn;
			remote.qp[q].psn = w->qps[q].psn;
		}
		ret = mcx__pair_connect(&pairs[i], &remote);
	}
	if (ret == -EPROTO)
		mcx__err("peer %s: its CONNECT reply does not answer our request", peer->addr);
	if (ret)
		goto out;

	pthread_mutex_lock(&eng->lock);
	peer->pairs = pairs;
	peer->nr_pairs = n;
	pthread_mutex_unlock(&eng->lock);
	pairs = NULL;
	mcx__info("peer %s: %u NIC pair(s) connected, %u QP(s) each", peer->addr, n, nqp);
out:
	pairs_free(pairs, n);
	free(reply);
	free(req);
	free(rep);
	free(buf);
	return ret;
}

/* Turn one page of descriptors into remote descriptors appended to *v. */
static int take_descs(const struct mcx_wire_mem *m, struct mcx_rdesc **v, size_t *n,
		      uint64_t *bytes)
{
	uint32_t ncols = 0;

	for (uint32_t j = 0; j < m->nnics; j++)
		if (m->nic_index[j] + 1 > ncols)
			ncols = m->nic_index[j] + 1;
	if (m->count && ncols > MCX_MAX_NICS)
		return -EPROTO;
	for (uint32_t i = 0; i < m->count; i++) {
		const struct mcx_wire_desc *w = &m->descs[i];
		struct mcx_rdesc *d;
		int ret;

		*bytes += (uint64_t)w->nchunks * ncols * sizeof(d->rkeys[0]);
		if (*bytes > MCX_PEER_MAX_DESC_BYTES)
			return -EMSGSIZE;
		ret = mcx__rdesc_alloc(w->addr, w->len, w->chunk_size, w->nchunks, ncols, &d);
		if (ret)
			return ret == -EINVAL ? -EPROTO : ret;
		for (uint32_t c = 0; c < w->nchunks; c++)
			for (uint32_t j = 0; j < m->nnics; j++)
				d->rkeys[(size_t)c * ncols + m->nic_index[j]] =
					w->rkeys[(size_t)c * m->nnics + j];
		v[(*n)++] = d;
	}
	return 0;
}

/* Ask for every descriptor of the peer and install them (fetch_mu held). */
static int fetch_descs_locked(struct mcx_peer *peer)
{
	struct mcx_peer_conn *c = peer->conn;
	struct mcx_rdesc **v = NULL;
	size_t n = 0;
	uint64_t gen = 0, bytes = 0;
	uint32_t total = 0, cursor = 0;
	int ret = 0, restarts = 0;
	uint8_t req[MCX_WIRE_HDR_LEN + 16];

	for (;;) {
		struct mcx_wire_mem_req q = { .cursor = cursor };
		struct mcx_wire_mem m;
		uint32_t seq = conn_seq(c), count;
		uint8_t *reply;
		size_t rlen;
		ssize_t len;

		len = mcx__wire_encode_mem_req(req, sizeof(req), seq, &q);
		if (len < 0) {
			ret = (int)len;
			break;
		}
		ret = rpc(peer, req, (size_t)len, seq, MCX_WIRE_MEM_REPLY, &reply, &rlen);
		if (ret)
			break;
		ret = mcx__wire_decode_mem(reply, rlen, &m);
		free(reply);
		if (ret)
			break;
		if (cursor && (m.generation != gen || m.total != total)) {
			/* Its registrations changed between pages: start over. */
			mcx__wire_mem_free(&m);
			for (size_t i = 0; i < n; i++)
				mcx__rdesc_put(v[i]);
			n = 0;
			bytes = 0;
			cursor = 0;
			if (++restarts > MEM_PAGE_RETRIES) {
				ret = -EAGAIN;
				break;
			}
			continue;
		}
		if (!cursor) {
			gen = m.generation;
			total = m.total;
			if (total > MCX_PEER_MAX_DESCS) {
				mcx__wire_mem_free(&m);
				ret = -EMSGSIZE;
				break;
			}
			free(v);
			v = total ? calloc(total, sizeof(*v)) : NULL;
			if (total && !v) {
				mcx__wire_mem_free(&m);
				ret = -ENOMEM;
				break;
			}
		}
		/* Each page must start where we asked and make progress. */
		count = m.count;
		if (m.cursor != cursor || (count == 0 && cursor < total) ||
		    n + count > total)
			ret = -EPROTO;
		else
			ret = take_descs(&m, v, &n, &bytes);
		mcx__wire_mem_free(&m);
		if (ret)
			break;
		cursor += count;
		if (cursor >= total)
			break;
	}
	if (ret) {
		mcx__err("peer %s: fetching its registrations failed: %s", peer->addr,
			 mcx_strerror(ret));
		for (size_t i = 0; i < n; i++)
			mcx__rdesc_put(v[i]);
		free(v);
		return ret;
	}
	mcx__dbg("peer %s: %zu registration descriptor(s)", peer->addr, n);
	if (n == 0) {
		free(v);
		v = NULL;
	}
	mcx__peer_set_descs(peer, v, n);
	return 0;
}

/*
 * Fetch the descriptors.  Callers that queue up behind a fetch started after
 * they asked take its result instead of asking again: a batch with many
 * requests to unregistered addresses costs one round trip per wave of
 * misses, not one per request.
 */
static int fetch_descs(struct mcx_peer *peer)
{
	struct mcx_peer_conn *c = peer->conn;
	uint64_t seen;
	int ret;

	pthread_mutex_lock(&c->mu);
	seen = c->fetches;
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&c->fetch_mu);
	/*
	 * Fetches run one at a time, so with fetch_mu held every fetch started
	 * is finished; one started after we looked saw what we want to see.
	 */
	if (c->fetches > seen) {
		ret = c->fetch_ret;
	} else {
		pthread_mutex_lock(&c->mu);
		c->fetches++;
		pthread_mutex_unlock(&c->mu);
		ret = fetch_descs_locked(peer);
		c->fetch_ret = ret;
	}
	pthread_mutex_unlock(&c->fetch_mu);
	return ret;
}

int mcx__peer_refetch(struct mcx_peer *peer)
{
	if (!peer || !peer->conn)
		return -ENOTCONN;
	return fetch_descs(peer);
}

int mcx__peer_connect(struct mcx_peer *peer)
{
	struct mcx_engine *eng = peer->eng;
	struct mcx_peer_conn *c = peer->conn;
	int ret = 0;

	if (!c)
		return -ENOTCONN;
	pthread_mutex_lock(&c->setup_mu);
	pthread_mutex_lock(&eng->lock);
	switch (peer->state) {
	case MCX_PEER_READY:
		ret = 1;
		break;
	case MCX_PEER_DEAD:
		ret = peer->err ? peer->err : -ECONNRESET;
		break;
	case MCX_PEER_CLOSING:
		ret = -ECONNABORTED;
		break;
	default:
		peer->state = MCX_PEER_CONNECTING;
		break;
	}
	pthread_mutex_unlock(&eng->lock);
	if (ret) {
		pthread_mutex_unlock(&c->setup_mu);
		return ret > 0 ? 0 : ret;
	}

	if (!(peer->same_process && eng->opts.loopback_memcpy))
		ret = connect_pairs(peer);
	if (!ret)
		ret = fetch_descs(peer);
	if (ret) {
		mcx__err("peer %s: connecting failed: %s", peer->addr, mcx_strerror(ret));
		mcx__peer_fail(peer, ret);
	} else {
		mcx__peer_set_ready(peer);
	}
	pthread_mutex_unlock(&c->setup_mu);
	return ret;
}

MCX_EXPORT int mcx_peer_warmup(struct mcx_peer *peer)
{
	if (!peer)
		return -EINVAL;
	return mcx__peer_connect(peer);
}

MCX_EXPORT void mcx_peer_close(struct mcx_peer *peer)
{
	if (!peer)
		return;
	/* From here on a lost connection is ours, not news for the data path. */
	if (peer->conn) {
		pthread_mutex_lock(&peer->conn->mu);
		peer->conn->closing = true;
		pthread_mutex_unlock(&peer->conn->mu);
	}
	/* Fails what is queued, waits until nothing is in flight on its pairs. */
	mcx__peer_detach(peer);
	conn_free(peer->conn);
	peer->conn = NULL;
	pairs_free(peer->pairs, peer->nr_pairs);
	peer->pairs = NULL;
	peer->nr_pairs = 0;
	mcx__peer_set_descs(peer, NULL, 0);
	pthread_mutex_destroy(&peer->lock);
	free(peer);
}

/* ================================================================== */
/* Listener                                                            */
/* ================================================================== */

struct srv_conn {
	struct srv_conn *next;
	int fd;
	char addr[INET6_ADDRSTRLEN + 8];
	struct msg_reader rd;
	uint8_t *out;			/* reply being sent */
	size_t out_len, out_pos;
	uint64_t out_progress;		/* ms of the last bytes sent */
	bool close_after;		/* once out has drained */
	bool dead;			/* drop it now */
	bool hello_done;
	uint64_t accepted_ms;
	uint64_t last_rx;
	struct mcx_wire_hello *remote;
	struct mcx_peer *peer;		/* owner of pairs[], never attached */
	struct mcx_pair **pairs;
	uint32_t npairs;
};

struct mcx_listener {
	struct mcx_engine *eng;
	int fd;
	int wake[2];
	pthread_t thread;
	struct srv_conn *conns;
	uint32_t timeout_ms;
	pthread_mutex_t stats_mu;
	struct mcx_listener_stats st;
};

#define STAT_ADD(l, field, n)					\
	do {							\
		pthread_mutex_lock(&(l)->stats_mu);		\
		(l)->st.field += (n);				\
		pthread_mutex_unlock(&(l)->stats_mu);		\
	} while (0)

static void srv_conn_free(struct srv_conn *sc)
{
	for (uint32_t i = 0; i < sc->npairs; i++) {
		mcx__pair_destroy(sc->pairs[i]);
		free(sc->pairs[i]);
	}
	free(sc->pairs);
	if (sc->peer) {
		pthread_mutex_destroy(&sc->peer->lock);
		free(sc->peer);
	}
	free(sc->remote);
	reader_reset(&sc->rd);
	free(sc->out);
	if (sc->fd >= 0)
		close(sc->fd);
	free(sc);
}

/* Queue a reply (takes buf) and send what the socket takes now. */
static void srv_queue(struct srv_conn *sc, uint8_t *buf, size_t len)
{
	free(sc->out);
	sc->out = buf;
	sc->out_len = len;
	sc->out_pos = 0;
	sc->out_progress = now_ms();
}

/* 0, or -errno when the connection is to go. */
static int srv_flush(struct srv_conn *sc)
{
	while (sc->out && sc->out_pos < sc->out_len) {
		ssize_t n = send(sc->fd, sc->out + sc->out_pos, sc->out_len - sc->out_pos,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -errno;
		sc->out_pos += (size_t)n;
		sc->out_progress = now_ms();
	}
	free(sc->out);
	sc->out = NULL;
	return sc->close_after ? -ECONNABORTED : 0;
}

static void srv_error(struct srv_conn *sc, uint32_t seq, uint16_t req_type, int err,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Answer with an ERROR (err is a negative errno). */
static void srv_error(struct srv_conn *sc, uint32_t seq, uint16_t req_type, int err,
		      const char *fmt, ...)
{
	struct mcx_wire_error e = { .err = err < 0 ? -err : err, .req_type = req_type };
	size_t cap = MCX_WIRE_HDR_LEN + 8 + MCX_WIRE_MAX_ERRMSG;
	uint8_t *buf = malloc(cap);
	va_list ap;
	ssize_t len;

	if (e.err < 1 || e.err > 4095)
		e.err = EPROTO;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	for (char *p = e.msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	if (!buf)
		return;
	len = mcx__wire_encode_error(buf, cap, seq, &e);
	if (len < 0) {
		free(buf);
		return;
	}
	srv_queue(sc, buf, (size_t)len);
}

static int srv_hello(struct mcx_listener *l, struct srv_conn *sc, const uint8_t *msg,
		     const struct mcx_wire_hdr *h)
{
	struct mcx_engine *eng = l->eng;
	struct mcx_wire_hello *mine;
	struct mcx_peer *peer;
	uint8_t *buf;
	ssize_t len;
	int ret;

	sc->remote = malloc(sizeof(*sc->remote));
	mine = malloc(sizeof(*mine));
	buf = malloc(REQ_BUF);
	peer = calloc(1, sizeof(*peer));
	if (!sc->remote || !mine || !buf || !peer) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = mcx__wire_decode_hello(msg, h->len, MCX_WIRE_HELLO, sc->remote);
	if (ret) {
		srv_error(sc, h->seq, h->type, ret, "malformed HELLO");
		goto fail;
	}
	fill_hello(eng, mine);
	len = mcx__wire_encode_hello(buf, REQ_BUF, MCX_WIRE_HELLO_REPLY, h->seq, mine);
	if (len < 0) {
		ret = (int)len;
		goto fail;
	}
	peer->eng = eng;
	peer->incoming = true;
	peer->state = MCX_PEER_READY;
	peer->same_process = hello_same_process(sc->remote);
	peer->remote_nr_nics = sc->remote->nnics;
	snprintf(peer->addr, sizeof(peer->addr), "%s", sc->addr);
	pthread_mutex_init(&peer->lock, NULL);
	sc->peer = peer;
	sc->hello_done = true;
	srv_queue(sc, buf, (size_t)len);
	free(mine);
	mcx__dbg("listener: %s is %s pid %u with %u NIC(s)", sc->addr, sc->remote->host,
		 sc->remote->pid, sc->remote->nnics);
	return 0;
fail:
	free(sc->remote);
	sc->remote = NULL;
	free(mine);
	free(buf);
	free(peer);
	return ret;
}

static void srv_connect(struct mcx_listener *l, struct srv_conn *sc, const uint8_t *msg,
			const struct mcx_wire_hdr *h)
{
	struct mcx_engine *eng = l->eng;
	struct mcx_wire_connect *req = malloc(sizeof(*req));
	struct mcx_wire_connect *rep = malloc(sizeof(*rep));
	struct mcx_pair **made = NULL;
	uint32_t nmade = 0;
	uint8_t *buf = NULL;
	ssize_t len;
	int ret;

	if (!req || !rep) {
		srv_error(sc, h->seq, h->type, -ENOMEM, "out of memory");
		goto out;
	}
	ret = mcx__wire_decode_connect(msg, h->len, MCX_WIRE_CONNECT, req);
	if (ret) {
		srv_error(sc, h->seq, h->type, ret, "malformed CONNECT");
		sc->close_after = true;
		goto out;
	}
	if (eng->nr_nics == 0) {
		srv_error(sc, h->seq, h->type, -ENODEV, "no RDMA device here");
		goto out;
	}
	if (req->qps_per_pair > MCX_MAX_QPS_PER_PAIR) {
		srv_error(sc, h->seq, h->type, -EINVAL, "%u QPs per pair, at most %u here",
			  req->qps_per_pair, MCX_MAX_QPS_PER_PAIR);
		goto out;
	}
	if (sc->npairs + req->npairs > MCX_MAX_PAIRS) {
		srv_error(sc, h->seq, h->type, -ENOSPC, "at most %u pairs per connection",
			  MCX_MAX_PAIRS);
		goto out;
	}
	for (uint32_t i = 0; i < req->npairs; i++) {
		const struct mcx_wire_pair *w = &req->pairs[i];

		if (w->remote_nic >= eng->nr_nics) {
			srv_error(sc, h->seq, h->type, -ENODEV, "no NIC with index %u here",
				  w->remote_nic);
			goto out;
		}
		if (!hello_nic(sc->remote, w->local_nic)) {
			srv_error(sc, h->seq, h->type, -EINVAL,
				  "your NIC %u was not in your HELLO", w->local_nic);
			goto out;
		}
	}
	made = calloc(req->npairs, sizeof(*made));
	buf = malloc(REQ_BUF);
	if (!made || !buf) {
		srv_error(sc, h->seq, h->type, -ENOMEM, "out of memory");
		goto out;
	}
	memset(rep, 0, sizeof(*rep));
	rep->npairs = req->npairs;
	rep->qps_per_pair = req->qps_per_pair;
	for (uint32_t i = 0; i < req->npairs; i++) {
		const struct mcx_wire_pair *w = &req->pairs[i];
		const struct mcx_wire_nic *rn = hello_nic(sc->remote, w->local_nic);
		struct mcx_wire_pair *o = &rep->pairs[i];
		struct mcx_ep_info local, remote = { 0 };
		struct mcx_pair *p = calloc(1, sizeof(*p));

		if (!p) {
			srv_error(sc, h->seq, h->type, -ENOMEM, "out of memory");
			goto out;
		}
		made[nmade++] = p;
		p->peer = sc->peer;
		p->lnic = &eng->nics[w->remote_nic];
		p->rnic = w->local_nic;
		p->nqp = req->qps_per_pair;
		ret = mcx__pair_create(p, &local);
		if (ret) {
			p->nqp = 0;
			srv_error(sc, h->seq, h->type, ret, "cannot make QPs on %s",
				  p->lnic->name);
			goto out;
		}
		memcpy(remote.gid, w->gid, 16);
		remote.lid = w->lid;
		remote.port = rn->port;
		remote.mtu = mtu_enum(w->mtu);
		remote.link_layer = verbs_ll(rn->link_layer);
		remote.nqp = (uint8_t)req->qps_per_pair;
		for (uint32_t q = 0; q < req->qps_per_pair; q++) {
			remote.qp[q].qpn = w->qps[q].qpn;
			remote.qp[q].psn = w->qps[q].psn;
		}
		ret = mcx__pair_connect(p, &remote);
		if (ret) {
			srv_error(sc, h->seq, h->type, ret, "cannot connect %s to your NIC %u",
				  p->lnic->name, w->local_nic);
			goto out;
		}
		o->local_nic = p->lnic->idx;
		o->remote_nic = w->local_nic;
		o->mtu = mtu_bytes(local.mtu) ? mtu_bytes(local.mtu) : 1024;
		memcpy(o->gid, local.gid, 16);
		o->lid = local.lid;
		o->rd_atomic = w->rd_atomic;
		for (uint32_t q = 0; q < req->qps_per_pair; q++) {
			o->qps[q].qpn = local.qp[q].qpn;
			o->qps[q].psn = local.qp[q].psn;
		}
	}
	len = mcx__wire_encode_connect(buf, REQ_BUF, MCX_WIRE_CONNECT_REPLY, h->seq, rep);
	if (len < 0) {
		srv_error(sc, h->seq, h->type, (int)len, "cannot encode the reply");
		goto out;
	}
	{
		struct mcx_pair **v = realloc(sc->pairs, (sc->npairs + nmade) * sizeof(*v));

		if (!v) {
			srv_error(sc, h->seq, h->type, -ENOMEM, "out of memory");
			goto out;
		}
		sc->pairs = v;
	}
	memcpy(sc->pairs + sc->npairs, made, nmade * sizeof(*made));
	sc->npairs += nmade;
	nmade = 0;
	srv_queue(sc, buf, (size_t)len);
	buf = NULL;
	mcx__dbg("listener: %s: %u pair(s) connected", sc->addr, req->npairs);
out:
	for (uint32_t i = 0; i < nmade; i++) {
		if (made[i]->nqp)
			mcx__pair_destroy(made[i]);
		free(made[i]);
	}
	free(made);
	free(buf);
	free(req);
	free(rep);
}

/* An ordering that does not change while nothing is (de)registered. */
static int cmp_rdesc(const void *a, const void *b)
{
	const struct mcx_rdesc *x = *(const struct mcx_rdesc *const *)a;
	const struct mcx_rdesc *y = *(const struct mcx_rdesc *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void srv_mem(struct mcx_listener *l, struct srv_conn *sc, const uint8_t *msg,
		    const struct mcx_wire_hdr *h)
{
	struct mcx_engine *eng = l->eng;
	struct mcx_wire_mem_req q;
	struct mcx_wire_mem m = { 0 };
	struct mcx_wire_desc *descs = NULL;
	struct mcx_rdesc **v = NULL;
	uint32_t nnics = eng->nr_nics, maxc, limit;
	uint64_t gen = 1469598103934665603ULL, total = 0, idx = 0;
	size_t n = 0, len, cap;
	uint8_t *buf = NULL;
	ssize_t got;
	int ret;

	ret = mcx__wire_decode_mem_req(msg, h->len, &q);
	if (ret) {
		srv_error(sc, h->seq, h->type, ret, "malformed MEM_REQ");
		sc->close_after = true;
		return;
	}
	ret = nnics ? mcx__mem_snapshot(eng, &v, &n) : 0;
	if (ret) {
		srv_error(sc, h->seq, h->type, ret, "cannot list registrations");
		return;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_rdesc);
	/*
	 * A registration with more chunks than one descriptor may carry goes
	 * out as several descriptors, each within the message limit.
	 */
	maxc = nnics ? (uint32_t)((MCX_WIRE_MAX_MSG - mcx__wire_mem_fixed_len(nnics) -
				   MCX_WIRE_DESC_FIXED) / (4 * (size_t)nnics)) : 1;
	if (maxc > MCX_WIRE_MAX_CHUNKS)
		maxc = MCX_WIRE_MAX_CHUNKS;
	for (size_t i = 0; i < n; i++) {
		gen = (gen ^ v[i]->id) * 1099511628211ULL;
		gen = (gen ^ v[i]->len) * 1099511628211ULL;
		if (v[i]->nr_nics == nnics)
			total += (v[i]->nr_chunks + maxc - 1) / maxc;
	}
	if (total > MCX_PEER_MAX_DESCS || total > UINT32_MAX) {
		srv_error(sc, h->seq, h->type, -EMSGSIZE, "too many registrations");
		goto out;
	}
	if (q.cursor > total) {
		srv_error(sc, h->seq, h->type, -ERANGE, "cursor %u past %llu descriptors",
			  q.cursor, (unsigned long long)total);
		goto out;
	}
	limit = q.max_descs ? q.max_descs : MCX_WIRE_MAX_DESCS;
	descs = calloc(limit, sizeof(*descs));
	if (!descs) {
		srv_error(sc, h->seq, h->type, -ENOMEM, "out of memory");
		goto out;
	}
	m.generation = gen;
	m.total = (uint32_t)total;
	m.cursor = q.cursor;
	m.nnics = nnics;
	for (uint32_t j = 0; j < nnics; j++)
		m.nic_index[j] = eng->nics[j].idx;
	m.descs = descs;
	len = mcx__wire_mem_fixed_len(nnics);
	for (size_t i = 0; i < n && m.count < limit; i++) {
		const struct mcx_rdesc *d = v[i];

		if (d->nr_nics != nnics)
			continue;
		for (uint32_t c0 = 0; c0 < d->nr_chunks && m.count < limit; c0 += maxc, idx++) {
			uint32_t nc = d->nr_chunks - c0 < maxc ? d->nr_chunks - c0 : maxc;
			uint64_t off = (uint64_t)c0 * d->chunk_size;
			struct mcx_wire_desc *w;

			if (idx < q.cursor)
				continue;
			if (len + mcx__wire_desc_len(nnics, nc) > MCX_WIRE_MAX_MSG)
				goto full;
			w = &descs[m.count++];
			w->addr = d->addr + off;
			w->len = d->len - off < (uint64_t)nc * d->chunk_size ?
				 d->len - off : (uint64_t)nc * d->chunk_size;
			w->chunk_size = d->chunk_size;
			w->nchunks = nc;
			w->rkeys = d->rkeys + (size_t)c0 * nnics;
			len += mcx__wire_desc_len(nnics, nc);
		}
	}
full:
	cap = len;
	buf = malloc(cap);
	if (!buf) {
		srv_error(sc, h->seq, h->type, -ENOMEM, "out of memory");
		goto out;
	}
	got = mcx__wire_encode_mem(buf, cap, h->seq, &m);
	if (got < 0) {
		srv_error(sc, h->seq, h->type, (int)got, "cannot encode descriptors");
		goto out;
	}
	srv_queue(sc, buf, (size_t)got);
	buf = NULL;
out:
	free(buf);
	free(descs);
	for (size_t i = 0; i < n; i++)
		mcx__rdesc_put(v[i]);
	free(v);
}

/* One whole request.  Returns -errno when the connection is to be dropped. */
static int srv_request(struct mcx_listener *l, struct srv_conn *sc, uint8_t *msg)
{
	struct mcx_wire_hdr h;
	int ret;

	STAT_ADD(l, requests, 1);
	ret = mcx__wire_check(msg, sc->rd.h.len, &h);
	if (ret) {
		srv_error(sc, sc->rd.h.seq, sc->rd.h.type, ret, "malformed message");
		sc->close_after = true;
		return 0;
	}
	if (!sc->hello_done && h.type != MCX_WIRE_HELLO) {
		srv_error(sc, h.seq, h.type, -EPROTO, "HELLO first");
		sc->close_after = true;
		return 0;
	}
	switch (h.type) {
	case MCX_WIRE_HELLO:
		if (sc->hello_done) {
			srv_error(sc, h.seq, h.type, -EPROTO, "HELLO again");
			sc->close_after = true;
			return 0;
		}
		ret = srv_hello(l, sc, msg, &h);
		if (ret) {
			if (!sc->out)
				srv_error(sc, h.seq, h.type, ret, "HELLO refused");
			sc->close_after = true;
		}
		return 0;
	case MCX_WIRE_CONNECT:
		srv_connect(l, sc, msg, &h);
		return 0;
	case MCX_WIRE_MEM_REQ:
		srv_mem(l, sc, msg, &h);
		return 0;
	case MCX_WIRE_PING: {
		uint8_t *buf = malloc(MCX_WIRE_HDR_LEN);

		ret = mcx__wire_decode_empty(msg, h.len, MCX_WIRE_PING);
		if (ret || !buf) {
			free(buf);
			srv_error(sc, h.seq, h.type, ret ? ret : -ENOMEM, "bad PING");
			sc->close_after = true;
			return 0;
		}
		mcx__wire_encode_empty(buf, MCX_WIRE_HDR_LEN, MCX_WIRE_PONG, h.seq);
		srv_queue(sc, buf, MCX_WIRE_HDR_LEN);
		return 0;
	}
	default:
		srv_error(sc, h.seq, h.type, -EPROTO, "%s is not a request",
			  mcx__wire_type_name(h.type));
		sc->close_after = true;
		return 0;
	}
}

/* The earliest time sc must have made progress by, or 0. */
static uint64_t srv_deadline(const struct mcx_listener *l, const struct srv_conn *sc)
{
	uint64_t idle = l->timeout_ms * 2ULL > IDLE_MIN_MS ? l->timeout_ms * 2ULL : IDLE_MIN_MS;

	if (sc->out)
		return sc->out_progress + l->timeout_ms;
	if (!sc->hello_done)
		return sc->accepted_ms + l->timeout_ms;
	if (sc->rd.got)
		return sc->rd.started + l->timeout_ms;
	return sc->last_rx + idle;
}

/* Serve what sc's socket has for us.  -errno when it is to be dropped. */
static int srv_readable(struct mcx_listener *l, struct srv_conn *sc)
{
	int ret = reader_step(sc->fd, &sc->rd);

	if (ret == 1) {
		uint8_t *msg = sc->rd.buf;

		sc->rd.buf = NULL;
		sc->last_rx = now_ms();
		ret = srv_request(l, sc, msg);
		free(msg);
		reader_reset(&sc->rd);
		if (!ret)
			ret = srv_flush(sc);
		return ret;
	}
	if (ret == -EBADMSG || ret == -EPROTO || ret == -EMSGSIZE) {
		/* A bad header: say why, then hang up. */
		srv_error(sc, 0, 0, ret, "bad message header");
		sc->close_after = true;
		reader_reset(&sc->rd);
		return srv_flush(sc);
	}
	return ret;
}

static void srv_accept(struct mcx_listener *l, uint32_t *nconns)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[INET6_ADDRSTRLEN], serv[8];
		struct srv_conn *sc;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				mcx__dbg("listener: accept: %s", mcx_strerror(-errno));
			return;
		}
		if (*nconns >= MCX_LISTEN_MAX_CONNS || !(sc = calloc(1, sizeof(*sc)))) {
			/* Better a quick end of file than a hang in the backlog. */
			close(fd);
			STAT_ADD(l, refused, 1);
			continue;
		}
		tune_socket(fd);
		sc->fd = fd;
		sc->rd.max = MCX_LISTEN_MAX_REQ;
		sc->accepted_ms = sc->last_rx = now_ms();
		if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
				sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(sc->addr, sizeof(sc->addr), "%s:%s", host, serv);
		else
			snprintf(sc->addr, sizeof(sc->addr), "?");
		sc->next = l->conns;
		l->conns = sc;
		(*nconns)++;
		STAT_ADD(l, accepted, 1);
		pthread_mutex_lock(&l->stats_mu);
		l->st.conns = *nconns;
		pthread_mutex_unlock(&l->stats_mu);
	}
}

static void *listener_main(void *arg)
{
	struct mcx_listener *l = arg;
	struct pollfd *pfd = calloc(MCX_LISTEN_MAX_CONNS + 2, sizeof(*pfd));
	struct srv_conn **idx = calloc(MCX_LISTEN_MAX_CONNS, sizeof(*idx));
	uint32_t nconns = 0;

	if (!pfd || !idx) {
		mcx__err("listener: out of memory; it stops");
		free(pfd);
		free(idx);
		return NULL;
	}
	for (;;) {
		uint64_t now = now_ms(), next = now + 1000;
		uint32_t np = 2, ni = 0;
		struct srv_conn **pp;
		int r;

		pfd[0] = (struct pollfd){ .fd = l->wake[0], .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = l->fd, .events = POLLIN };
		for (struct srv_conn *sc = l->conns; sc; sc = sc->next) {
			uint64_t d = srv_deadline(l, sc);

			if (d < next)
				next = d;
			pfd[np++] = (struct pollfd){
				.fd = sc->fd,
				.events = sc->out ? POLLOUT : POLLIN,
			};
			idx[ni++] = sc;
		}
		r = poll(pfd, np, next > now ? (int)(next - now) : 0);
		if (r < 0 && errno != EINTR) {
			mcx__err("listener: poll: %s; it stops", mcx_strerror(-errno));
			break;
		}
		if (r > 0 && pfd[0].revents)
			break;
		/* Serve, then drop what failed or ran out of time. */
		for (uint32_t i = 0; r > 0 && i < ni; i++) {
			struct srv_conn *sc = idx[i];
			short ev = pfd[i + 2].revents;
			int ret = 0;

			if (!ev)
				continue;
			if (sc->out)
				ret = srv_flush(sc);
			else if (ev & (POLLIN | POLLHUP | POLLERR))
				ret = srv_readable(l, sc);
			if (ret) {
				if (ret != -ENOTCONN && ret != -ECONNABORTED)
					mcx__dbg("listener: %s: %s", sc->addr, mcx_strerror(ret));
				if (ret != -ENOTCONN)
					STAT_ADD(l, dropped, 1);
				sc->dead = true;
			}
		}
		now = now_ms();
		for (pp = &l->conns; *pp;) {
			struct srv_conn *sc = *pp;
			bool drop = sc->dead || (sc->close_after && !sc->out);

			if (!drop && now >= srv_deadline(l, sc)) {
				mcx__dbg("listener: %s: timed out", sc->addr);
				STAT_ADD(l, dropped, 1);
				drop = true;
			}
			if (drop) {
				*pp = sc->next;
				srv_conn_free(sc);
				nconns--;
				pthread_mutex_lock(&l->stats_mu);
				l->st.conns = nconns;
				pthread_mutex_unlock(&l->stats_mu);
				continue;
			}
			pp = &sc->next;
		}
		if (r > 0 && pfd[1].revents)
			srv_accept(l, &nconns);
	}
	while (l->conns) {
		struct srv_conn *sc = l->conns;

		l->conns = sc->next;
		srv_conn_free(sc);
	}
	pthread_mutex_lock(&l->stats_mu);
	l->st.conns = 0;
	pthread_mutex_unlock(&l->stats_mu);
	free(pfd);
	free(idx);
	return NULL;
}

int mcx__listener_start(struct mcx_engine *eng)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], service[8], h[INET6_ADDRSTRLEN], s[8];
	struct mcx_listener *l;
	uint16_t port;
	int ret, one = 1;

	if (!eng || !eng->opts.listen)
		return -EINVAL;
	if (mcx__parse_hostport("MCX_LISTEN", eng->opts.listen, host, sizeof(host), &port))
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->eng = eng;
	l->fd = l->wake[0] = l->wake[1] = -1;
	l->timeout_ms = eng->opts.timeout_ms ? eng->opts.timeout_ms : 10000;
	pthread_mutex_init(&l->stats_mu, NULL);

	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(host, service, &hints, &res);
	if (ret) {
		mcx__err("listen address %s: cannot resolve: %s", eng->opts.listen,
			 gai_strerror(ret));
		ret = -EADDRNOTAVAIL;
		goto fail;
	}
	ret = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		l->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			       ai->ai_protocol);
		if (l->fd < 0) {
			ret = -errno;
			continue;
		}
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(l->fd, 128) == 0)
			break;
		ret = -errno;
		close(l->fd);
		l->fd = -1;
	}
	freeaddrinfo(res);
	if (l->fd < 0) {
		mcx__err("listen address %s: %s", eng->opts.listen, mcx_strerror(ret));
		goto fail;
	}
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) ||
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), s, sizeof(s),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		ret = -EADDRNOTAVAIL;
		goto fail;
	}
	snprintf(eng->listen_addr, sizeof(eng->listen_addr),
		 ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, s);
	if (pipe2(l->wake, O_CLOEXEC | O_NONBLOCK)) {
		ret = -errno;
		goto fail;
	}
	ret = mcx__thread_create(&l->thread, "mcx-listen", listener_main, l);
	if (ret)
		goto fail;
	eng->listener = l;
	mcx__info("listening for peers on %s", eng->listen_addr);
	return 0;
fail:
	if (l->fd >= 0)
		close(l->fd);
	if (l->wake[0] >= 0) {
		close(l->wake[0]);
		close(l->wake[1]);
	}
	pthread_mutex_destroy(&l->stats_mu);
	free(l);
	eng->listen_addr[0] = '\0';
	return ret;
}

void mcx__listener_stop(struct mcx_engine *eng)
{
	struct mcx_listener *l = eng ? eng->listener : NULL;
	ssize_t n;

	if (!l)
		return;
	do
		n = write(l->wake[1], "x", 1);
	while (n < 0 && errno == EINTR);
	pthread_join(l->thread, NULL);
	close(l->fd);
	close(l->wake[0]);
	close(l->wake[1]);
	pthread_mutex_destroy(&l->stats_mu);
	free(l);
	eng->listener = NULL;
	eng->listen_addr[0] = '\0';
}

int mcx__listener_stats(struct mcx_engine *eng, struct mcx_listener_stats *st)
{
	struct mcx_listener *l = eng ? eng->listener : NULL;

	if (!l || !st)
		return -ENOTCONN;
	pthread_mutex_lock(&l->stats_mu);
	*st = l->st;
	pthread_mutex_unlock(&l->stats_mu);
	return 0;
}
