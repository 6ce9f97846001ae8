// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The client side of a peer: the TCP connection to its listener, the
 * paths we make to it, and its descriptors.
 *
 * mcx_peer_open() connects, authenticates (ctrl/auth.h) and exchanges
 * HELLOs, nothing else.  A watcher thread per peer is the only reader of
 * its socket: it hands each reply to the request waiting for it, pings
 * the listener when the line has been quiet, rebuilds paths that went down
 * (one at a time, after a back-off, with a CONNECT that replaces the
 * listener's side of that path), and declares the peer dead
 * (mcx__peer_fail) when the connection closes, errs, carries something
 * unexpected or a ping goes unanswered for timeout_ms.  The TCP connection
 * is thus the liveness channel of the peer: while it is fine a failed path
 * comes back; when it is gone the peer is.  Paths and descriptors come on
 * first use (mcx__peer_connect from the batch path) or mcx_peer_warmup().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "peer/handshake.h"

#define PING_MIN_MS		100
#define PING_MAX_MS		5000
#define MEM_PAGE_RETRIES	8

static int rebuild_start(struct mcx_peer *peer);
static void rebuild_finish(struct mcx_peer *peer, const uint8_t *msg,
			   const struct mcx_wire_hdr *h);

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

	/* A path rebuild in flight (the watcher sends and finishes it). */
	bool rebuilding;
	uint32_t rebuild_seq;
	uint32_t rebuild_path;
	struct mcx_tp_path *rebuild_tp;
	uint64_t rebuild_sent;
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
	ret = mcx__send_all(c->fd, buf, len, mcx__now_ms() + c->timeout_ms);
	pthread_mutex_unlock(&c->wr_mu);
	return ret;
}

/* A message that arrived: a PONG for us, or the reply a request waits for. */
static int watcher_deliver(struct mcx_peer *peer, uint8_t *msg, const struct mcx_wire_hdr *h)
{
	struct mcx_peer_conn *c = peer->conn;

	int ret = 0;

	pthread_mutex_lock(&c->mu);
	c->last_rx = mcx__now_ms();
	if (h->type == MCX_WIRE_PONG) {
		if (!c->ping_out || h->seq != c->ping_seq ||
		    mcx__wire_decode_empty(msg, h->len, MCX_WIRE_PONG))
			ret = -EPROTO;
		c->ping_out = false;
		free(msg);
	} else if (c->rebuilding && h->seq == c->rebuild_seq) {
		c->rebuilding = false;
		pthread_mutex_unlock(&c->mu);
		rebuild_finish(peer, msg, h);
		free(msg);
		return 0;
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
	struct mcx_msg_reader rd = { .max = MCX_WIRE_MAX_MSG };
	bool report;
	int err = 0;

	while (!err) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		uint64_t now = mcx__now_ms();
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
		err = rebuild_start(peer);
		if (err)
			break;

		r = poll(&pfd, 1, (int)c->ping_ms / 2 + 1);
		if (r < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (r <= 0)
			continue;
		for (;;) {
			r = mcx__reader_step(c->fd, &rd);
			if (r <= 0)
				break;
			r = watcher_deliver(peer, rd.buf, &rd.h);
			rd.buf = NULL;
			mcx__reader_reset(&rd);
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
	mcx__reader_reset(&rd);

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
	deadline = mcx__now_ms() + c->timeout_ms;
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
	while (!c->reply && !c->dead && mcx__now_ms() < deadline)
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
	c->last_rx = mcx__now_ms();
	return c;
}


/* ---- authentication and HELLO ---- */

static int auth_exchange(struct mcx_peer *peer)
{
	const struct mcx_auth_key *key = peer->env->key;
	struct mcx_peer_conn *c = peer->conn;
	struct mcx_wire_auth a = { .flags = key ? MCX_WIRE_AUTH_HAS_KEY : 0 };
	struct mcx_wire_auth_reply r;
	struct mcx_wire_auth_proof p;
	uint8_t buf[MCX_WIRE_HDR_LEN + 128], *reply = NULL;
	uint32_t seq = conn_seq(c);
	size_t rlen;
	ssize_t len;
	int ret;

	ret = mcx__auth_nonce(a.nonce);
	if (ret)
		return ret;
	len = mcx__wire_encode_auth(buf, sizeof(buf), seq, &a);
	if (len < 0)
		return (int)len;
	ret = rpc(peer, buf, (size_t)len, seq, MCX_WIRE_AUTH_REPLY, &reply, &rlen);
	if (ret)
		return ret;
	ret = mcx__wire_decode_auth_reply(reply, rlen, &r);
	free(reply);
	if (ret)
		return ret;
	if (r.mode == MCX_WIRE_AUTH_OPEN) {
		if (key) {
			mcx__err("peer %s: its listener has no key; with MCX_AUTH_KEY_FILE set this engine talks only to listeners that prove they have it",
				 peer->addr);
			return -EACCES;
		}
		return 0;
	}
	if (!key) {
		mcx__err("peer %s: its listener requires a pre-shared key; set MCX_AUTH_KEY_FILE (or opts.auth_key_file)",
			 peer->addr);
		return -EACCES;
	}
	ret = mcx__auth_check(key, MCX_AUTH_SERVER, a.nonce, r.nonce, MCX_HANDSHAKE_AUTH_CTX,
			      sizeof(MCX_HANDSHAKE_AUTH_CTX), r.proof);
	if (ret) {
		mcx__err("peer %s: its listener could not prove it has our key (a different key?)",
			 peer->addr);
		return -EACCES;
	}
	ret = mcx__auth_proof(key, MCX_AUTH_CLIENT, a.nonce, r.nonce, MCX_HANDSHAKE_AUTH_CTX,
			      sizeof(MCX_HANDSHAKE_AUTH_CTX), p.proof);
	if (ret)
		return ret;
	seq = conn_seq(c);
	len = mcx__wire_encode_auth_proof(buf, sizeof(buf), seq, &p);
	if (len < 0)
		return (int)len;
	ret = rpc(peer, buf, (size_t)len, seq, MCX_WIRE_AUTH_OK, &reply, &rlen);
	if (ret)
		return ret;
	ret = mcx__wire_decode_empty(reply, rlen, MCX_WIRE_AUTH_OK);
	free(reply);
	return ret;
}

static int hello_exchange(struct mcx_peer *peer)
{
	struct mcx_peer_env *env = peer->env;
	struct mcx_peer_conn *c = peer->conn;
	struct mcx_wire_hello *h;
	struct mcx_local_conn conn;
	uint8_t *buf, *reply;
	uint64_t probe = 0;
	size_t rlen;
	ssize_t len;
	uint32_t seq = conn_seq(c);
	char tname[32];
	int ret;

	h = malloc(sizeof(*h));
	buf = malloc(MCX_HANDSHAKE_BUF);
	if (!h || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	/*
	 * The probe is good for this connection only: a server that relays
	 * it to a listener of this process gets nothing claimed (local.c).
	 * Without the connection's ends, a zeroed one matches no listener.
	 */
	mcx__local_conn_of(c->fd, false, &conn);
	probe = mcx__local_probe_start(&conn);
	mcx__handshake_fill_hello(env, probe, h);
	len = mcx__wire_encode_hello(buf, MCX_HANDSHAKE_BUF, MCX_WIRE_HELLO, seq, h);
	if (len < 0) {
		ret = (int)len;
		mcx__err("peer %s: cannot describe our devices in a HELLO: %s", peer->addr,
			 mcx_strerror(ret));
		goto out;
	}
	ret = rpc(peer, buf, (size_t)len, seq, MCX_WIRE_HELLO_REPLY, &reply, &rlen);
	if (ret == -EPROTONOSUPPORT) {
		/* Its reason, with both transports, is in the line rpc() wrote. */
		mcx__err("peer %s refused this engine's %s transport (both ends need the same MCX_TRANSPORT)",
			 peer->addr, mcx__wire_transport_name(env->devs->ops->wire_id, tname,
								sizeof(tname)));
		goto out;
	}
	if (ret)
		goto out;
	ret = mcx__wire_decode_hello(reply, rlen, MCX_WIRE_HELLO_REPLY, &c->remote);
	free(reply);
	if (ret) {
		mcx__err("peer %s: bad HELLO reply: %s", peer->addr, mcx_strerror(ret));
		goto out;
	}
	if (c->remote.transport != env->devs->ops->wire_id) {
		char t2[32];

		mcx__err("peer %s speaks the %s transport, this engine %s (both ends need the same MCX_TRANSPORT)",
			 peer->addr, mcx__wire_transport_name(c->remote.transport, tname,
							      sizeof(tname)),
			 mcx__wire_transport_name(env->devs->ops->wire_id, t2, sizeof(t2)));
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	pthread_mutex_lock(&c->mu);
	c->hello_done = true;
	pthread_mutex_unlock(&c->mu);
	peer->remote_ndevs = c->remote.ndevs;
out:
	/* Only a listener of this process can have claimed the probe. */
	if (probe) {
		struct mcx_local_engine *le = mcx__local_probe_end(probe);

		if (!ret && env->loopback_memcpy)
			peer->local = le;
		else
			mcx__local_put(le);
	}
	if (!ret)
		mcx__info("peer %s: %s, %u device(s)%s", peer->addr, c->remote.host,
			  c->remote.ndevs, peer->local ? ", same process" : "");
	free(h);
	free(buf);
	return ret;
}

/* ---- paths ---- */

static const struct mcx_wire_dev *remote_dev(const struct mcx_peer_conn *c, uint32_t index)
{
	for (uint32_t i = 0; i < c->remote.ndevs; i++)
		if (c->remote.devs[i].index == index)
			return &c->remote.devs[i];
	return NULL;
}

static int connect_paths(struct mcx_peer *peer)
{
	struct mcx_peer_env *env = peer->env;
	const struct mcx_devs *devs = env->devs;
	struct mcx_peer_conn *c = peer->conn;
	struct mcx_rail_dev ldev[MCX_TP_MAX_DEVS], rdev[MCX_WIRE_MAX_NICS];
	struct mcx_rail_choice ch[MCX_TP_MAX_DEVS];
	struct mcx_tp_path *tps[MCX_TP_MAX_DEVS] = { 0 };
	struct mcx_wire_connect *req = NULL, *rep = NULL;
	uint8_t *buf = NULL, *reply = NULL;
	uint32_t n, seq;
	size_t rlen;
	ssize_t len;
	int ret;

	if (devs->n == 0) {
		mcx__err("peer %s: this engine has no RDMA device to reach it with", peer->addr);
		return -ENODEV;
	}
	mcx__handshake_rail_local(devs, ldev);
	mcx__handshake_rail_remote(&c->remote, rdev);
	n = mcx__rail_choose(ldev, devs->n, rdev, c->remote.ndevs, ch);
	if (n == 0) {
		mcx__err("peer %s: none of its %u device(s) is on a fabric ours reach",
			 peer->addr, c->remote.ndevs);
		return -ENETUNREACH;
	}
	req = calloc(1, sizeof(*req));
	rep = calloc(1, sizeof(*rep));
	buf = malloc(MCX_HANDSHAKE_BUF);
	if (!req || !rep || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	req->npairs = n;
	for (uint32_t i = 0; i < n; i++) {
		const struct mcx_wire_dev *rd = remote_dev(c, ch[i].rnic);
		struct mcx_wire_pair *w = &req->pairs[i];
		uint32_t blen = 0;

		/* Paths we make only to initiate: no remote access (flags 0). */
		ret = devs->ops->path_open(devs->dev[ch[i].lnic], rd->addr, rd->addr_len, 0,
					   NULL, 0, &peer->paths[i], &tps[i], w->blob, &blen);
		if (ret)
			goto out;
		w->local_nic = ch[i].lnic;
		w->remote_nic = ch[i].rnic;
		w->blob_len = (uint16_t)blen;
		mcx__dbg("peer %s: path %s -> device %u%s", peer->addr,
			 devs->attr[ch[i].lnic].name, ch[i].rnic,
			 ch[i].rail ? " (rail)" : " (fall-back)");
	}
	seq = conn_seq(c);
	len = mcx__wire_encode_connect(buf, MCX_HANDSHAKE_BUF, MCX_WIRE_CONNECT, seq, req);
	if (len < 0) {
		ret = (int)len;
		goto out;
	}
	ret = rpc(peer, buf, (size_t)len, seq, MCX_WIRE_CONNECT_REPLY, &reply, &rlen);
	if (ret)
		goto out;
	ret = mcx__wire_decode_connect(reply, rlen, MCX_WIRE_CONNECT_REPLY, rep);
	if (!ret && rep->npairs != n)
		ret = -EPROTO;
	for (uint32_t i = 0; !ret && i < n; i++) {
		const struct mcx_wire_pair *w = &rep->pairs[i];

		/* Its answer for our path i: its device ch[i].rnic to ours. */
		if (w->local_nic != ch[i].rnic || w->remote_nic != ch[i].lnic) {
			ret = -EPROTO;
			break;
		}
		ret = devs->ops->path_connect(tps[i], w->blob, w->blob_len);
	}
	if (ret == -EPROTO)
		mcx__err("peer %s: its CONNECT reply does not answer our request", peer->addr);
	if (ret)
		goto out;

	pthread_mutex_lock(&peer->dlock);
	for (uint32_t i = 0; i < n; i++) {
		struct mcx_path *p = &peer->paths[i];

		memset(p, 0, sizeof(*p));
		p->peer = peer;
		p->ldev = ch[i].lnic;
		p->rdev = ch[i].rnic;
		p->rcaps = remote_dev(c, ch[i].rnic)->caps;
		p->rail = ch[i].rail;
		p->tp = tps[i];
		p->state = MCX_PATH_UP;
		tps[i] = NULL;
	}
	peer->nr_paths = n;
	pthread_mutex_unlock(&peer->dlock);
	mcx__info("peer %s: %u path(s) connected", peer->addr, n);
out:
	for (uint32_t i = 0; i < n; i++)
		if (tps[i])
			devs->ops->path_close(tps[i], NULL, NULL);
	free(reply);
	free(req);
	free(rep);
	free(buf);
	return ret;
}

/*
 * Start rebuilding one path that is down and past its back-off (watcher
 * thread).  0, or the connection's error.
 */
static int rebuild_start(struct mcx_peer *peer)
{
	const struct mcx_devs *devs = peer->env->devs;
	struct mcx_peer_conn *c = peer->conn;
	struct mcx_wire_connect *req;
	struct mcx_tp_path *tp = NULL;
	struct mcx_path *p = NULL;
	uint64_t now = mcx__now_ns();
	uint32_t k, blen = 0, seq;
	uint8_t *buf;
	ssize_t len;
	int ret;

	pthread_mutex_lock(&c->mu);
	if (c->rebuilding) {
		bool late = mcx__now_ms() - c->rebuild_sent > c->timeout_ms;

		pthread_mutex_unlock(&c->mu);
		/* rpc() semantics: a reply that never comes kills the line. */
		return late ? -ETIMEDOUT : 0;
	}
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&peer->dlock);
	if (peer->state == MCX_PEER_READY) {
		for (k = 0; k < peer->nr_paths; k++) {
			if (peer->paths[k].state == MCX_PATH_DOWN &&
			    peer->paths[k].retry_ns <= now) {
				p = &peer->paths[k];
				p->state = MCX_PATH_NEW;	/* ours while we rebuild it */
				break;
			}
		}
	}
	pthread_mutex_unlock(&peer->dlock);
	if (!p)
		return 0;
	req = calloc(1, sizeof(*req));
	buf = malloc(MCX_HANDSHAKE_BUF);
	ret = req && buf ? 0 : -ENOMEM;
	if (!ret) {
		const struct mcx_wire_dev *rd = remote_dev(c, p->rdev);

		ret = rd ? devs->ops->path_open(devs->dev[p->ldev], rd->addr, rd->addr_len, 0,
						NULL, 0, p, &tp, req->pairs[0].blob, &blen) :
			   -EPROTO;
	}
	if (!ret) {
		req->flags = MCX_WIRE_CONNECT_REBUILD;
		req->npairs = 1;
		req->pairs[0].local_nic = p->ldev;
		req->pairs[0].remote_nic = p->rdev;
		req->pairs[0].blob_len = (uint16_t)blen;
		seq = conn_seq(c);
		len = mcx__wire_encode_connect(buf, MCX_HANDSHAKE_BUF, MCX_WIRE_CONNECT, seq, req);
		ret = len < 0 ? (int)len : 0;
	}
	if (!ret) {
		pthread_mutex_lock(&c->mu);
		c->rebuilding = true;
		c->rebuild_seq = seq;
		c->rebuild_path = (uint32_t)(p - peer->paths);
		c->rebuild_tp = tp;
		c->rebuild_sent = mcx__now_ms();
		pthread_mutex_unlock(&c->mu);
		ret = conn_send(c, buf, (size_t)len);
		free(req);
		free(buf);
		return ret;	/* a failed send is the connection's end */
	}
	free(req);
	free(buf);
	if (tp)
		devs->ops->path_close(tp, NULL, NULL);
	pthread_mutex_lock(&peer->dlock);
	p->state = MCX_PATH_DOWN;
	p->err = ret;
	p->retry_ns = now + (uint64_t)(p->backoff_ms ? p->backoff_ms : 100) * 1000000ULL;
	p->backoff_ms = p->backoff_ms >= 2500 ? 5000 : (p->backoff_ms ? p->backoff_ms * 2 : 200);
	pthread_mutex_unlock(&peer->dlock);
	mcx__dbg("peer %s: rebuilding a path failed: %s", peer->addr, mcx_strerror(ret));
	return 0;
}

/* The listener answered a rebuild (watcher thread). */
static void rebuild_finish(struct mcx_peer *peer, const uint8_t *msg,
			   const struct mcx_wire_hdr *h)
{
	const struct mcx_peer_env *env = peer->env;
	const struct mcx_devs *devs = env->devs;
	struct mcx_peer_conn *c = peer->conn;
	struct mcx_wire_connect *rep = calloc(1, sizeof(*rep));
	struct mcx_path *p = &peer->paths[c->rebuild_path];
	struct mcx_tp_path *tp = c->rebuild_tp;
	int ret;

	c->rebuild_tp = NULL;
	if (!rep)
		ret = -ENOMEM;
	else if (h->type == MCX_WIRE_ERROR)
		ret = -EREMOTEIO;
	else
		ret = mcx__wire_decode_connect(msg, h->len, MCX_WIRE_CONNECT_REPLY, rep);
	if (!ret && (rep->npairs != 1 || rep->pairs[0].local_nic != p->rdev ||
		     rep->pairs[0].remote_nic != p->ldev))
		ret = -EPROTO;
	if (!ret)
		ret = devs->ops->path_connect(tp, rep->pairs[0].blob, rep->pairs[0].blob_len);
	free(rep);
	if (ret) {
		devs->ops->path_close(tp, NULL, NULL);
		pthread_mutex_lock(&peer->dlock);
		p->state = MCX_PATH_DOWN;
		p->err = ret;
		p->retry_ns = mcx__now_ns() + (uint64_t)(p->backoff_ms ? p->backoff_ms : 100) *
					       1000000ULL;
		p->backoff_ms = p->backoff_ms >= 2500 ? 5000 :
				(p->backoff_ms ? p->backoff_ms * 2 : 200);
		pthread_mutex_unlock(&peer->dlock);
		mcx__dbg("peer %s: rebuilding a path failed: %s", peer->addr, mcx_strerror(ret));
		return;
	}
	pthread_mutex_lock(&peer->dlock);
	p->tp = tp;
	p->state = MCX_PATH_UP;
	p->err = 0;
	p->backoff_ms = 0;
	p->rebuilds++;
	pthread_mutex_unlock(&peer->dlock);
	mcx__info("peer %s: path %s -> device %u rebuilt", peer->addr,
		  devs->attr[p->ldev].name, p->rdev);
	env->hooks->paths_up(env->hooks_arg, peer);
}

/* Turn one page of descriptors into remote descriptors appended to *v. */
int mcx__peer_take_descs(const struct mcx_wire_mem *m, struct mcx_rdesc **v, size_t *n,
			 uint64_t *bytes)
{
	uint32_t ncols = 0;

	for (uint32_t j = 0; j < m->nnics; j++)
		if (m->nic_index[j] + 1 > ncols)
			ncols = m->nic_index[j] + 1;
	if (m->count && ncols > MCX_WIRE_MAX_NICS)
		return -EPROTO;
	for (uint32_t i = 0; i < m->count; i++) {
		const struct mcx_wire_desc *w = &m->descs[i];
		struct mcx_rdesc *d;
		int ret;

		*bytes += (uint64_t)w->nchunks * ncols * sizeof(d->keys[0]);
		if (*bytes > MCX_PEER_MAX_DESC_BYTES)
			return -EMSGSIZE;
		ret = mcx__rdesc_alloc(w->addr, w->len, w->chunk_size, w->nchunks, ncols, &d);
		if (ret)
			return ret == -EINVAL ? -EPROTO : ret;
		d->id = w->id;
		d->kind = w->kind;
		d->iova = w->iova;
		/* The decoder gives every listed device when the peer sent no
		 * mask; a column no device of the message fills holds nothing. */
		d->nics = w->nics;
		for (uint32_t c = 0; c < w->nchunks; c++)
			for (uint32_t j = 0; j < m->nnics; j++)
				d->keys[(size_t)c * ncols + m->nic_index[j]] =
					w->keys[(size_t)c * m->nnics + j];
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
			ret = mcx__peer_take_descs(&m, v, &n, &bytes);
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
	struct mcx_peer_env *env = peer->env;
	struct mcx_peer_conn *c = peer->conn;
	int ret = 0;

	if (!c) {
		/* An incoming peer: ready while its caller is connected. */
		int st;

		pthread_mutex_lock(&peer->dlock);
		st = peer->state == MCX_PEER_READY ? 0 : peer->err ? peer->err : -ENOTCONN;
		pthread_mutex_unlock(&peer->dlock);
		return st;
	}
	pthread_mutex_lock(&c->setup_mu);
	pthread_mutex_lock(&peer->dlock);
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
	pthread_mutex_unlock(&peer->dlock);
	if (ret) {
		pthread_mutex_unlock(&c->setup_mu);
		return ret > 0 ? 0 : ret;
	}
	/* The same process moves data with a copy: no path needed. */
	if (!peer->local)
		ret = connect_paths(peer);
	/* Descriptors that came with metadata (mcx_peer_open_md) are current. */
	if (!ret && !peer->descs_preloaded)
		ret = fetch_descs(peer);
	if (ret) {
		mcx__err("peer %s: connecting failed: %s", peer->addr, mcx_strerror(ret));
		mcx__peer_fail(peer, ret);
	} else {
		pthread_mutex_lock(&peer->dlock);
		if (peer->state == MCX_PEER_CONNECTING)
			peer->state = MCX_PEER_READY;
		pthread_mutex_unlock(&peer->dlock);
		env->hooks->paths_up(env->hooks_arg, peer);
	}
	pthread_mutex_unlock(&c->setup_mu);
	return ret;
}

void mcx__peer_fail(struct mcx_peer *peer, int err)
{
	const struct mcx_peer_env *env = peer->env;
	bool news = false;

	if (err >= 0)
		err = -ECONNRESET;
	pthread_mutex_lock(&peer->dlock);
	if (peer->state != MCX_PEER_DEAD && peer->state != MCX_PEER_CLOSING) {
		if (peer->state == MCX_PEER_READY)
			mcx__warn("peer %s is gone: %s", peer->addr, mcx_strerror(err));
		peer->state = MCX_PEER_DEAD;
		peer->err = err;
		for (uint32_t k = 0; k < peer->nr_paths; k++)
			mcx__path_fail_locked(&peer->paths[k], err);
		news = true;
	}
	pthread_mutex_unlock(&peer->dlock);
	if (news)
		env->hooks->peer_dead(env->hooks_arg, peer, err);
}

/*
 * Whether a failed connection attempt is worth another: the listener may
 * have made way for a caller with a proof and dropped us (it refuses and
 * evicts only unauthenticated connections), or been restarting.  A wrong
 * key, a bad address or a protocol error is final.
 */
static bool attempt_again(int err)
{
	return err == -ECONNRESET || err == -ECONNREFUSED || err == -EPIPE ||
	       err == -ENOTCONN || err == -ECONNABORTED;
}

/* One connection attempt: TCP, watcher, authentication, HELLO. */
static int open_attempt(struct mcx_peer *peer, const char *host, uint16_t port,
			uint32_t timeout_ms)
{
	struct mcx_peer_conn *c = conn_new(timeout_ms);
	int ret, fd;

	if (!c)
		return -ENOMEM;
	peer->conn = c;
	fd = mcx__tcp_connect(host, port, c->timeout_ms);
	if (fd < 0) {
		ret = fd;
		goto fail;
	}
	c->fd = fd;
	ret = mcx__thread_create(&c->watcher, "mcx-watch", watcher_main, peer);
	if (ret)
		goto fail;
	c->watcher_on = true;
	ret = auth_exchange(peer);
	if (ret) {
		if (!attempt_again(ret))
			mcx__err("peer %s: authentication failed: %s", peer->addr,
				 mcx_strerror(ret));
		goto fail;
	}
	ret = hello_exchange(peer);
	if (ret)
		goto fail;
	return 0;
fail:
	conn_free(c);
	peer->conn = NULL;
	mcx__local_put(peer->local);
	peer->local = NULL;
	return ret;
}

int mcx__peer_open(struct mcx_peer_env *env, const char *addr, struct mcx_peer **out)
{
	uint64_t deadline = mcx__now_ms() + (env->timeout_ms ? env->timeout_ms : 10000);
	uint32_t pause_ms = 20;
	struct mcx_peer_conn *c;
	struct mcx_peer *peer;
	char host[256];
	uint16_t port;
	int ret;

	*out = NULL;
	if (mcx__parse_hostport("peer address", addr, host, sizeof(host), &port))
		return -EINVAL;
	if (port == 0) {
		mcx__err("peer address \"%s\": port 0 is not a listener's port", addr);
		return -EINVAL;
	}
	peer = mcx__peer_alloc(env, addr, MCX_PEER_NEW);
	if (!peer)
		return -ENOMEM;
	/*
	 * A listener under a flood of strangers refuses or drops callers
	 * that have not authenticated yet: try again, a little later each
	 * time, until timeout_ms is spent.
	 */
	for (;;) {
		uint64_t now = mcx__now_ms();

		ret = open_attempt(peer, host, port,
				   (uint32_t)(deadline > now ? deadline - now : 1));
		if (!ret || !attempt_again(ret) || mcx__now_ms() + pause_ms >= deadline)
			break;
		mcx__dbg("peer %s: connection dropped before the handshake ended (%s); again in %u ms",
			 addr, mcx_strerror(ret), pause_ms);
		usleep(pause_ms * 1000);
		pause_ms = pause_ms < 320 ? pause_ms * 2 : 640;
	}
	if (ret) {
		mcx__err("peer %s: cannot connect: %s", addr, mcx_strerror(ret));
		pthread_mutex_destroy(&peer->lock);
		pthread_mutex_destroy(&peer->dlock);
		free(peer);
		return ret;
	}
	c = peer->conn;
	mcx__peer_link(env, peer);
	pthread_mutex_lock(&c->mu);
	c->report = true;
	ret = c->dead;
	pthread_mutex_unlock(&c->mu);
	if (ret)		/* died before it could be reported */
		mcx__peer_fail(peer, ret);
	*out = peer;
	return 0;
}

void mcx__peer_close(struct mcx_peer *peer)
{
	struct mcx_peer_env *env = peer->env;
	const struct mcx_devs *devs = env->devs;
	uint64_t deadline = mcx__now_ns() + (uint64_t)env->flush_ms * 1000000ULL;

	/* From here on a lost connection is ours, not news for the data path. */
	if (peer->conn) {
		pthread_mutex_lock(&peer->conn->mu);
		peer->conn->closing = true;
		pthread_mutex_unlock(&peer->conn->mu);
	}
	pthread_mutex_lock(&peer->dlock);
	if (peer->state != MCX_PEER_DEAD)
		peer->err = -ECONNABORTED;
	peer->state = MCX_PEER_CLOSING;
	for (uint32_t k = 0; k < peer->nr_paths; k++) {
		if (peer->paths[k].state == MCX_PATH_UP) {
			peer->paths[k].state = MCX_PATH_STOPPING;
			/* Its flush deadline starts now, as for any stopped path. */
			peer->paths[k].stop_ns = mcx__now_ns();
		}
		if (peer->paths[k].tp)
			devs->ops->path_stop(peer->paths[k].tp);
	}
	pthread_mutex_unlock(&peer->dlock);
	/* What is queued fails; what is posted flushes back (bounded). */
	env->hooks->peer_dead(env->hooks_arg, peer, -ECONNABORTED);
	for (;;) {
		uint32_t left = 0;

		pthread_mutex_lock(&peer->dlock);
		for (uint32_t k = 0; k < peer->nr_paths; k++)
			if (peer->paths[k].tp)
				left += devs->ops->path_inflight(peer->paths[k].tp);
		pthread_mutex_unlock(&peer->dlock);
		if (!left || mcx__now_ns() >= deadline)
			break;
		env->hooks->progress(env->hooks_arg);
	}
	/* Out of the list: no reap or event reaches it from now on. */
	pthread_mutex_lock(&env->lock);
	if (peer->prev)
		peer->prev->next = peer->next;
	else if (env->peers == peer)
		env->peers = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	pthread_mutex_unlock(&env->lock);
	env->hooks->conn_closing(env->hooks_arg, peer);
	conn_free(peer->conn);
	peer->conn = NULL;
	for (uint32_t k = 0; k < peer->nr_paths; k++) {
		struct mcx_tp_path *tp;

		pthread_mutex_lock(&peer->dlock);
		tp = peer->paths[k].tp;
		peer->paths[k].tp = NULL;
		peer->paths[k].state = MCX_PATH_DOWN;
		pthread_mutex_unlock(&peer->dlock);
		if (tp)
			devs->ops->path_close(tp, env->hooks->unreaped, env->hooks_arg);
	}
	env->hooks->peer_gone(env->hooks_arg, peer);
	mcx__local_put(peer->local);
	mcx__peer_set_descs(peer, NULL, 0);
	pthread_mutex_destroy(&peer->lock);
	pthread_mutex_destroy(&peer->dlock);
	free(peer);
}

void mcx__peers_close_all(struct mcx_peer_env *env)
{
	for (;;) {
		struct mcx_peer *p;

		pthread_mutex_lock(&env->lock);
		/* Incoming peers belong to the listener, stopped before this. */
		p = env->peers;
		pthread_mutex_unlock(&env->lock);
		if (!p)
			break;
		mcx__peer_close(p);
	}
}

int mcx__peer_check_hello(const struct mcx_peer *peer, const struct mcx_wire_hello *h)
{
	const struct mcx_wire_hello *r = &peer->conn->remote;

	if (r->transport != h->transport || r->ndevs != h->ndevs)
		return -ESTALE;
	for (uint32_t i = 0; i < h->ndevs; i++)
		if (r->devs[i].index != h->devs[i].index ||
		    r->devs[i].addr_len != h->devs[i].addr_len ||
		    memcmp(r->devs[i].addr, h->devs[i].addr, h->devs[i].addr_len))
			return -ESTALE;
	return 0;
}
