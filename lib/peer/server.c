// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The listener: what an engine answers to the peers that connect to it.
 *
 * One thread serves every connection with non-blocking sockets and poll():
 * a request is at most MCX_LISTEN_MAX_REQ bytes (the header is checked
 * before anything is allocated) and must arrive whole within timeout_ms of
 * its first byte; a reply must drain within timeout_ms of its last
 * progress; a connection must finish authenticating within timeout_ms of
 * the accept, and an authenticated one that says nothing for the idle time
 * is closed (clients ping).  A caller that breaks a rule is dropped, so a
 * slow or hostile caller costs one slot and a bounded buffer, never the
 * thread.
 *
 * Authentication comes first (ctrl/auth.h).  Until a connection has
 * passed it the listener answers AUTH and nothing else: no host name, no
 * device address, no key leaves before that.  Without a key configured
 * the exchange still runs (mode OPEN) and proves nothing; the engine said
 * so in its log when it started.
 *
 * Slots: unauthenticated connections may take at most half of the
 * connection slots; when they are all taken, a new caller evicts the
 * oldest unauthenticated one, so callers that never authenticate cannot
 * keep the slots of peers that do.  Each connection may make at most
 * max_paths_per_conn paths.
 *
 * CONNECT makes QPs, which can sleep in the kernel: it runs on a worker
 * thread, and its connection is not read until the reply is queued, so a
 * slow CONNECT never stops pings and handshakes of other connections.
 *
 * Each authenticated caller is an incoming peer in env->peers; its paths
 * are targets (they grant remote access) and live as long as its
 * connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer/peer.h"
#include "peer/handshake.h"

#define IDLE_MIN_MS	30000
/* An unauthenticated caller keeps its slot at least this long. */
#define EVICT_GRACE_MS	1000
/* Failed authentications are logged at most once a second (then counted). */
#define AUTH_LOG_EVERY_MS 1000
#define SETUP_WORKERS	2

enum srv_phase {
	SRV_AUTH = 0,		/* waiting for AUTH */
	SRV_PROOF = 1,		/* waiting for AUTH_PROOF */
	SRV_HELLO = 2,		/* authenticated, waiting for HELLO */
	SRV_READY = 3,
};

struct srv_conn {
	struct srv_conn *next;
	struct srv_conn *job_next;	/* setup queue */
	int fd;
	char addr[INET6_ADDRSTRLEN + 8];
	struct mcx_msg_reader rd;
	uint8_t *out;			/* reply being sent */
	size_t out_len, out_pos;
	uint64_t out_progress;		/* ms of the last bytes sent */
	bool close_after;		/* once out has drained */
	bool dead;			/* drop it now */
	bool busy;			/* a worker has its CONNECT */
	bool auth_failed;		/* counted in the stats already */
	enum srv_phase phase;
	uint64_t accepted_ms;
	uint64_t last_rx;
	uint8_t nonce_c[MCX_AUTH_NONCE_LEN];
	uint8_t nonce_s[MCX_AUTH_NONCE_LEN];
	struct mcx_wire_hello *remote;
	struct mcx_peer *peer;		/* incoming peer, in env->peers */
	uint32_t rebuilds;		/* paths replaced (bounded by the cap too) */
	/* The CONNECT a worker serves, and its answer. */
	uint8_t *job_msg;
	struct mcx_wire_hdr job_hdr;
	uint8_t *job_out;
	size_t job_out_len;
	bool job_close;
};

struct mcx_listener {
	struct mcx_peer_env *env;
	int fd;
	int wake[2];
	pthread_t thread;
	struct srv_conn *conns;
	uint32_t nconns, nunauth;
	uint32_t timeout_ms;
	pthread_mutex_t stats_mu;
	struct mcx_listener_stats st;
	uint64_t auth_log_ms;		/* the last "failed authentication" line */
	uint64_t auth_log_quiet;	/* failures not logged since */
	uint64_t transport_log_ms;	/* the last "speaks another transport" line */
	uint64_t transport_log_quiet;	/* refusals not logged since */

	pthread_mutex_t job_mu;
	pthread_cond_t job_cv;
	struct srv_conn *jobs, *jobs_tail;
	struct srv_conn *done;		/* answered, for the listener to pick up */
	bool stopping;
	pthread_t workers[SETUP_WORKERS];
	unsigned int nworkers;
};

#define STAT_ADD(l, field, n)					\
	do {							\
		pthread_mutex_lock(&(l)->stats_mu);		\
		(l)->st.field += (n);				\
		pthread_mutex_unlock(&(l)->stats_mu);		\
	} while (0)

static void srv_conn_free(struct mcx_listener *l, struct srv_conn *sc)
{
	if (sc->peer)
		mcx__peer_close(sc->peer);
	free(sc->remote);
	mcx__reader_reset(&sc->rd);
	free(sc->out);
	free(sc->job_msg);
	free(sc->job_out);
	if (sc->fd >= 0)
		close(sc->fd);
	if (sc->phase < SRV_HELLO)
		l->nunauth--;
	free(sc);
}

/* Queue a reply (takes buf). */
static void srv_queue(struct srv_conn *sc, uint8_t *buf, size_t len)
{
	free(sc->out);
	sc->out = buf;
	sc->out_len = len;
	sc->out_pos = 0;
	sc->out_progress = mcx__now_ms();
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
		sc->out_progress = mcx__now_ms();
	}
	free(sc->out);
	sc->out = NULL;
	return sc->close_after ? -ECONNABORTED : 0;
}

/* An ERROR message (err a negative errno) in a new buffer, or NULL. */
static uint8_t *error_msg(uint32_t seq, uint16_t req_type, int err, size_t *len,
			  const char *fmt, va_list ap)
{
	struct mcx_wire_error e = { .err = err < 0 ? -err : err, .req_type = req_type };
	size_t cap = MCX_WIRE_HDR_LEN + 8 + MCX_WIRE_MAX_ERRMSG;
	uint8_t *buf = malloc(cap);
	ssize_t n;

	if (e.err < 1 || e.err > 4095)
		e.err = EPROTO;
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	for (char *p = e.msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	if (!buf)
		return NULL;
	n = mcx__wire_encode_error(buf, cap, seq, &e);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

static void srv_error(struct srv_conn *sc, uint32_t seq, uint16_t req_type, int err,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void srv_error(struct srv_conn *sc, uint32_t seq, uint16_t req_type, int err,
		      const char *fmt, ...)
{
	va_list ap;
	size_t len = 0;
	uint8_t *buf;

	va_start(ap, fmt);
	buf = error_msg(seq, req_type, err, &len, fmt, ap);
	va_end(ap);
	if (buf)
		srv_queue(sc, buf, len);
}

/* ---- authentication ---- */

/* sc failed to authenticate: counted and logged once, however it ends. */
static void srv_auth_failed(struct mcx_listener *l, struct srv_conn *sc, const char *how)
{
	if (sc->auth_failed)
		return;
	sc->auth_failed = true;
	STAT_ADD(l, auth_failed, 1);
	/* A flood must not turn the listener into a log writer. */
	{
		uint64_t now = mcx__now_ms();

		if (now - l->auth_log_ms < AUTH_LOG_EVERY_MS) {
			l->auth_log_quiet++;
			return;
		}
		if (l->auth_log_quiet)
			mcx__warn("listener: %s failed authentication%s (and %llu more since the last such line)",
				  sc->addr, how, (unsigned long long)l->auth_log_quiet);
		else
			mcx__warn("listener: %s failed authentication%s", sc->addr, how);
		l->auth_log_ms = now;
		l->auth_log_quiet = 0;
	}
}

static void srv_auth(struct mcx_listener *l, struct srv_conn *sc, const uint8_t *msg,
		     const struct mcx_wire_hdr *h)
{
	const struct mcx_auth_key *key = l->env->key;
	struct mcx_wire_auth a;
	struct mcx_wire_auth_reply r = { 0 };
	uint8_t *buf;
	ssize_t len;
	int ret;

	ret = mcx__wire_decode_auth(msg, h->len, &a);
	if (ret) {
		srv_error(sc, h->seq, h->type, ret, "malformed AUTH");
		sc->close_after = true;
		return;
	}
	if (!key && (a.flags & MCX_WIRE_AUTH_HAS_KEY))
		mcx__warn("listener: %s has a key but this engine has none; it will refuse us",
			  sc->addr);
	memcpy(sc->nonce_c, a.nonce, MCX_AUTH_NONCE_LEN);
	ret = mcx__auth_nonce(sc->nonce_s);
	if (!ret && key) {
		r.mode = MCX_WIRE_AUTH_KEY;
		ret = mcx__auth_proof(key, MCX_AUTH_SERVER, sc->nonce_c, sc->nonce_s,
				      MCX_HANDSHAKE_AUTH_CTX, sizeof(MCX_HANDSHAKE_AUTH_CTX),
				      r.proof);
	}
	buf = malloc(MCX_WIRE_HDR_LEN + 8 + 64);
	if (ret || !buf) {
		free(buf);
		srv_error(sc, h->seq, h->type, ret ? ret : -ENOMEM, "cannot answer");
		sc->close_after = true;
		return;
	}
	memcpy(r.nonce, sc->nonce_s, MCX_AUTH_NONCE_LEN);
	len = mcx__wire_encode_auth_reply(buf, MCX_WIRE_HDR_LEN + 8 + 64, h->seq, &r);
	if (len < 0) {
		free(buf);
		sc->close_after = true;
		return;
	}
	srv_queue(sc, buf, (size_t)len);
	if (key) {
		sc->phase = SRV_PROOF;
	} else {
		sc->phase = SRV_HELLO;
		l->nunauth--;
	}
}

static void srv_proof(struct mcx_listener *l, struct srv_conn *sc, const uint8_t *msg,
		      const struct mcx_wire_hdr *h)
{
	struct mcx_wire_auth_proof p;
	uint8_t *buf;
	int ret;

	ret = mcx__wire_decode_auth_proof(msg, h->len, &p);
	if (!ret)
		ret = mcx__auth_check(l->env->key, MCX_AUTH_CLIENT, sc->nonce_c, sc->nonce_s,
				      MCX_HANDSHAKE_AUTH_CTX, sizeof(MCX_HANDSHAKE_AUTH_CTX),
				      p.proof);
	if (ret) {
		/* Nothing but the refusal: no name, no address, no key. */
		srv_auth_failed(l, sc, "");
		srv_error(sc, h->seq, h->type, -EACCES, "authentication failed");
		sc->close_after = true;
		return;
	}
	buf = malloc(MCX_WIRE_HDR_LEN);
	if (!buf) {
		sc->close_after = true;
		return;
	}
	mcx__wire_encode_empty(buf, MCX_WIRE_HDR_LEN, MCX_WIRE_AUTH_OK, h->seq);
	srv_queue(sc, buf, MCX_WIRE_HDR_LEN);
	sc->phase = SRV_HELLO;
	l->nunauth--;
}

/* ---- HELLO ---- */

/*
 * The caller speaks another transport (one engine on verbs, the other on
 * libfabric): neither could reach the other's devices, so the HELLO is
 * refused at once, with both transports named on both sides.  The line
 * here is limited as the authentication failures' are: without a key,
 * anyone may send HELLOs.
 */
static void srv_transport_refused(struct mcx_listener *l, struct srv_conn *sc,
				  const struct mcx_wire_hdr *h)
{
	const struct mcx_transport_ops *ops = l->env->devs->ops;
	char b1[32], b2[32];
	const char *theirs = mcx__wire_transport_name(sc->remote->transport, b1, sizeof(b1));
	const char *mine = mcx__wire_transport_name(ops->wire_id, b2, sizeof(b2));
	uint64_t now = mcx__now_ms();

	if (now - l->transport_log_ms < AUTH_LOG_EVERY_MS) {
		l->transport_log_quiet++;
	} else {
		if (l->transport_log_quiet)
			mcx__warn("listener: %s speaks the %s transport, this engine %s: refused (both ends need the same MCX_TRANSPORT; and %llu more since the last such line)",
				  sc->addr, theirs, mine,
				  (unsigned long long)l->transport_log_quiet);
		else
			mcx__warn("listener: %s speaks the %s transport, this engine %s: refused (both ends need the same MCX_TRANSPORT)",
				  sc->addr, theirs, mine);
		l->transport_log_ms = now;
		l->transport_log_quiet = 0;
	}
	/* Logged first: the caller hears of it only after this line exists. */
	/* Read on the caller's side: "this engine" would be ambiguous there. */
	srv_error(sc, h->seq, h->type, -EPROTONOSUPPORT,
		  "the listener speaks the %s transport, the caller %s (both ends need the same MCX_TRANSPORT)",
		  mine, theirs);
}

static int srv_hello(struct mcx_listener *l, struct srv_conn *sc, const uint8_t *msg,
		     const struct mcx_wire_hdr *h)
{
	struct mcx_peer_env *env = l->env;
	struct mcx_wire_hello *mine;
	struct mcx_peer *peer = NULL;
	uint8_t *buf;
	ssize_t len;
	int ret;

	sc->remote = malloc(sizeof(*sc->remote));
	mine = malloc(sizeof(*mine));
	buf = malloc(MCX_HANDSHAKE_BUF);
	if (!sc->remote || !mine || !buf) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = mcx__wire_decode_hello(msg, h->len, MCX_WIRE_HELLO, sc->remote);
	if (ret) {
		srv_error(sc, h->seq, h->type, ret, "malformed HELLO");
		goto fail;
	}
	if (sc->remote->transport != env->devs->ops->wire_id) {
		srv_transport_refused(l, sc, h);
		ret = -EPROTONOSUPPORT;
		goto fail;
	}
	mcx__handshake_fill_hello(env, 0, mine);
	len = mcx__wire_encode_hello(buf, MCX_HANDSHAKE_BUF, MCX_WIRE_HELLO_REPLY, h->seq, mine);
	if (len < 0) {
		ret = (int)len;
		goto fail;
	}
	ret = mcx__peer_incoming(env, sc->addr, sc->remote->ndevs, &peer);
	if (ret)
		goto fail;
	/*
	 * A client of this very process: tell it so, through the table only,
	 * and only for the connection it sent the probe on.
	 */
	if (env->local) {
		struct mcx_local_conn conn;

		if (!mcx__local_conn_of(sc->fd, true, &conn))
			mcx__local_probe_claim(sc->remote->probe, &conn, env->local);
	}
	sc->peer = peer;
	sc->phase = SRV_READY;
	srv_queue(sc, buf, (size_t)len);
	free(mine);
	mcx__dbg("listener: %s is %s with %u device(s)", sc->addr, sc->remote->host,
		 sc->remote->ndevs);
	return 0;
fail:
	free(sc->remote);
	sc->remote = NULL;
	free(mine);
	free(buf);
	return ret;
}

/* ---- CONNECT (on a worker) ---- */

static void job_error(struct srv_conn *sc, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void job_error(struct srv_conn *sc, int err, const char *fmt, ...)
{
	va_list ap;

	free(sc->job_out);
	va_start(ap, fmt);
	sc->job_out = error_msg(sc->job_hdr.seq, sc->job_hdr.type, err, &sc->job_out_len,
				fmt, ap);
	va_end(ap);
}

static const struct mcx_wire_dev *hello_dev(const struct mcx_wire_hello *h, uint32_t index)
{
	for (uint32_t i = 0; i < h->ndevs; i++)
		if (h->devs[i].index == index)
			return &h->devs[i];
	return NULL;
}

static void srv_connect_job(struct mcx_listener *l, struct srv_conn *sc)
{
	struct mcx_peer_env *env = l->env;
	const struct mcx_devs *devs = env->devs;
	struct mcx_wire_connect *req = malloc(sizeof(*req));
	struct mcx_wire_connect *rep = calloc(1, sizeof(*rep));
	struct mcx_tp_path *made[MCX_WIRE_MAX_PAIRS] = { 0 };
	uint32_t nmade = 0;
	uint8_t *buf = NULL;
	ssize_t len;
	int ret;

	if (!req || !rep) {
		job_error(sc, -ENOMEM, "out of memory");
		goto out;
	}
	ret = mcx__wire_decode_connect(sc->job_msg, sc->job_hdr.len, MCX_WIRE_CONNECT, req);
	if (ret) {
		job_error(sc, ret, "malformed CONNECT");
		sc->job_close = true;
		goto out;
	}
	if (devs->n == 0) {
		job_error(sc, -ENODEV, "no RDMA device here");
		goto out;
	}
	/*
	 * The cap is on the paths the connection holds: a rebuild replaces
	 * one and adds none.  Rebuilds themselves are bounded too (a peer
	 * rebuilds after a back-off), so that no caller can churn QPs for
	 * ever: max_paths_per_conn of them per path made.  A "rebuild" of
	 * a pair it does not hold adds a path, and counts as one.
	 */
	{
		uint32_t live = mcx__peer_nr_paths(sc->peer);
		bool rebuild = req->flags & MCX_WIRE_CONNECT_REBUILD;
		uint32_t added = rebuild ? mcx__peer_new_pairs(sc->peer, req) : req->npairs;

		if (live + added > env->max_paths_per_conn ||
		    (rebuild && sc->rebuilds + req->npairs >
				(uint64_t)env->max_paths_per_conn * (live ? live : 1))) {
			job_error(sc, -ENOSPC, "at most %u paths per connection",
				  env->max_paths_per_conn);
			goto out;
		}
	}
	for (uint32_t i = 0; i < req->npairs; i++) {
		const struct mcx_wire_pair *w = &req->pairs[i];

		if (w->remote_nic >= devs->n) {
			job_error(sc, -ENODEV, "no device with index %u here", w->remote_nic);
			goto out;
		}
		if (!hello_dev(sc->remote, w->local_nic)) {
			job_error(sc, -EINVAL, "your device %u was not in your HELLO",
				  w->local_nic);
			goto out;
		}
	}
	buf = malloc(MCX_HANDSHAKE_BUF);
	if (!buf) {
		job_error(sc, -ENOMEM, "out of memory");
		goto out;
	}
	rep->npairs = req->npairs;
	rep->flags = req->flags;
	for (uint32_t i = 0; i < req->npairs; i++) {
		const struct mcx_wire_pair *w = &req->pairs[i];
		const struct mcx_wire_dev *rd = hello_dev(sc->remote, w->local_nic);
		struct mcx_wire_pair *o = &rep->pairs[i];
		uint32_t blen = 0;

		/* Its owner: the path it will be, for events and notifications. */
		ret = devs->ops->path_open(devs->dev[w->remote_nic], rd->addr, rd->addr_len,
					   MCX_TP_PATH_TARGET, w->blob, w->blob_len,
					   mcx__peer_slot_for(sc->peer, req, i), &made[i], o->blob,
					   &blen);
		if (ret) {
			job_error(sc, ret, "cannot connect %s to your device %u",
				  devs->attr[w->remote_nic].name, w->local_nic);
			goto out;
		}
		nmade++;
		o->local_nic = w->remote_nic;
		o->remote_nic = w->local_nic;
		o->blob_len = (uint16_t)blen;
	}
	len = mcx__wire_encode_connect(buf, MCX_HANDSHAKE_BUF, MCX_WIRE_CONNECT_REPLY,
				       sc->job_hdr.seq, rep);
	if (len < 0) {
		job_error(sc, (int)len, "cannot encode the reply");
		goto out;
	}
	ret = mcx__peer_incoming_paths(sc->peer, req, made, nmade);
	if (ret) {
		job_error(sc, ret, "cannot keep the paths");
		goto out;
	}
	if (req->flags & MCX_WIRE_CONNECT_REBUILD)
		sc->rebuilds += nmade;
	nmade = 0;
	free(sc->job_out);
	sc->job_out = buf;
	sc->job_out_len = (size_t)len;
	buf = NULL;
	mcx__dbg("listener: %s: %u path(s) connected%s", sc->addr, req->npairs,
		 req->flags & MCX_WIRE_CONNECT_REBUILD ? " (rebuilt)" : "");
out:
	for (uint32_t i = 0; i < nmade; i++)
		if (made[i])
			devs->ops->path_close(made[i], NULL, NULL);
	free(buf);
	free(req);
	free(rep);
}

static void *worker_main(void *arg)
{
	struct mcx_listener *l = arg;

	pthread_mutex_lock(&l->job_mu);
	for (;;) {
		struct srv_conn *sc;
		ssize_t n;

		while (!l->stopping && !l->jobs)
			pthread_cond_wait(&l->job_cv, &l->job_mu);
		if (l->stopping)
			break;
		sc = l->jobs;
		l->jobs = sc->job_next;
		if (!l->jobs)
			l->jobs_tail = NULL;
		pthread_mutex_unlock(&l->job_mu);
		srv_connect_job(l, sc);
		pthread_mutex_lock(&l->job_mu);
		sc->job_next = l->done;
		l->done = sc;
		do
			n = write(l->wake[1], "j", 1);
		while (n < 0 && errno == EINTR);
	}
	pthread_mutex_unlock(&l->job_mu);
	return NULL;
}

/* Hand sc's CONNECT (msg, which we take) to a worker. */
static void srv_connect(struct mcx_listener *l, struct srv_conn *sc, uint8_t *msg,
			const struct mcx_wire_hdr *h)
{
	sc->job_msg = msg;
	sc->job_hdr = *h;
	sc->job_out = NULL;
	sc->job_close = false;
	sc->busy = true;
	pthread_mutex_lock(&l->job_mu);
	sc->job_next = NULL;
	if (l->jobs_tail)
		l->jobs_tail->job_next = sc;
	else
		l->jobs = sc;
	l->jobs_tail = sc;
	pthread_cond_signal(&l->job_cv);
	pthread_mutex_unlock(&l->job_mu);
}

/* Answers the workers finished: queue them (listener thread). */
static void srv_collect(struct mcx_listener *l)
{
	struct srv_conn *sc;

	pthread_mutex_lock(&l->job_mu);
	sc = l->done;
	l->done = NULL;
	pthread_mutex_unlock(&l->job_mu);
	while (sc) {
		struct srv_conn *next = sc->job_next;

		sc->busy = false;
		free(sc->job_msg);
		sc->job_msg = NULL;
		if (sc->job_out) {
			srv_queue(sc, sc->job_out, sc->job_out_len);
			sc->job_out = NULL;
		}
		if (sc->job_close)
			sc->close_after = true;
		if (!sc->dead && srv_flush(sc))
			sc->dead = true;
		sc = next;
	}
}

/* ---- MEM_REQ ---- */

static void srv_mem(struct mcx_listener *l, struct srv_conn *sc, const uint8_t *msg,
		    const struct mcx_wire_hdr *h)
{
	struct mcx_wire_mem_req q;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	ret = mcx__wire_decode_mem_req(msg, h->len, &q);
	if (ret) {
		srv_error(sc, h->seq, h->type, ret, "malformed MEM_REQ");
		sc->close_after = true;
		return;
	}
	ret = mcx__handshake_mem_reply(l->env, &q, h->seq, &buf, &len);
	if (ret) {
		srv_error(sc, h->seq, h->type, ret, "cannot list registrations");
		return;
	}
	srv_queue(sc, buf, len);
}

/* ---- dispatch ---- */

/* One whole request (takes msg).  Returns -errno to drop the connection. */
static int srv_request(struct mcx_listener *l, struct srv_conn *sc, uint8_t *msg)
{
	struct mcx_wire_hdr h;
	int ret;

	STAT_ADD(l, requests, 1);
	ret = mcx__wire_check(msg, sc->rd.h.len, &h);
	if (ret) {
		srv_error(sc, sc->rd.h.seq, sc->rd.h.type, ret, "malformed message");
		sc->close_after = true;
		goto out;
	}
	/* Before authentication: AUTH (and its proof) only, nothing else. */
	if ((sc->phase == SRV_AUTH && h.type != MCX_WIRE_AUTH) ||
	    (sc->phase == SRV_PROOF && h.type != MCX_WIRE_AUTH_PROOF)) {
		if (sc->phase == SRV_PROOF)
			srv_auth_failed(l, sc, ": no proof");
		srv_error(sc, h.seq, h.type, -EACCES, "authenticate first");
		sc->close_after = true;
		goto out;
	}
	/*
	 * ...and never again after it: served, it would take the connection
	 * back to an earlier phase (counted unauthenticated a second time,
	 * and a second HELLO would make a second incoming peer).
	 */
	if (sc->phase >= SRV_HELLO &&
	    (h.type == MCX_WIRE_AUTH || h.type == MCX_WIRE_AUTH_PROOF)) {
		srv_error(sc, h.seq, h.type, -EPROTO, "already authenticated");
		sc->close_after = true;
		goto out;
	}
	if (sc->phase == SRV_HELLO && h.type != MCX_WIRE_HELLO && h.type != MCX_WIRE_PING) {
		srv_error(sc, h.seq, h.type, -EPROTO, "HELLO first");
		sc->close_after = true;
		goto out;
	}
	switch (h.type) {
	case MCX_WIRE_AUTH:
		srv_auth(l, sc, msg, &h);
		break;
	case MCX_WIRE_AUTH_PROOF:
		srv_proof(l, sc, msg, &h);
		break;
	case MCX_WIRE_HELLO:
		if (sc->phase != SRV_HELLO) {
			srv_error(sc, h.seq, h.type, -EPROTO, "HELLO again");
			sc->close_after = true;
			break;
		}
		ret = srv_hello(l, sc, msg, &h);
		if (ret) {
			if (!sc->out)
				srv_error(sc, h.seq, h.type, ret, "HELLO refused");
			sc->close_after = true;
		}
		break;
	case MCX_WIRE_CONNECT:
		srv_connect(l, sc, msg, &h);
		return 0;
	case MCX_WIRE_MEM_REQ:
		srv_mem(l, sc, msg, &h);
		break;
	case MCX_WIRE_PING: {
		uint8_t *buf = malloc(MCX_WIRE_HDR_LEN);

		ret = mcx__wire_decode_empty(msg, h.len, MCX_WIRE_PING);
		if (ret || !buf) {
			free(buf);
			srv_error(sc, h.seq, h.type, ret ? ret : -ENOMEM, "bad PING");
			sc->close_after = true;
			break;
		}
		mcx__wire_encode_empty(buf, MCX_WIRE_HDR_LEN, MCX_WIRE_PONG, h.seq);
		srv_queue(sc, buf, MCX_WIRE_HDR_LEN);
		break;
	}
	default:
		srv_error(sc, h.seq, h.type, -EPROTO, "%s is not a request",
			  mcx__wire_type_name(h.type));
		sc->close_after = true;
		break;
	}
out:
	free(msg);
	return 0;
}

/* The earliest time sc must have made progress by. */
static uint64_t srv_deadline(const struct mcx_listener *l, const struct srv_conn *sc)
{
	uint64_t idle = l->env->idle_ms;

	if (sc->busy)
		return UINT64_MAX;	/* the worker's own calls are bounded */
	if (sc->out)
		return sc->out_progress + l->timeout_ms;
	if (sc->phase < SRV_READY)
		return sc->accepted_ms + l->timeout_ms;
	if (sc->rd.got)
		return sc->rd.started + l->timeout_ms;
	return sc->last_rx + idle;
}

/* Serve what sc's socket has for us.  -errno when it is to be dropped. */
static int srv_readable(struct mcx_listener *l, struct srv_conn *sc)
{
	int ret = mcx__reader_step(sc->fd, &sc->rd);

	if (ret == 1) {
		uint8_t *msg = sc->rd.buf;

		sc->rd.buf = NULL;
		sc->last_rx = mcx__now_ms();
		ret = srv_request(l, sc, msg);
		sc->rd.buf = NULL;
		mcx__reader_reset(&sc->rd);
		if (!ret && !sc->busy)
			ret = srv_flush(sc);
		return ret;
	}
	if (ret == -EBADMSG || ret == -EPROTO || ret == -EMSGSIZE) {
		/* A bad header: say why (a v1 peer learns which version we speak). */
		if (ret == -EPROTO && sc->rd.h.version && sc->rd.h.version != MCX_WIRE_VERSION)
			srv_error(sc, 0, 0, ret, "wire version %u; this engine speaks %u",
				  sc->rd.h.version, MCX_WIRE_VERSION);
		else
			srv_error(sc, 0, 0, ret, "bad message header");
		sc->close_after = true;
		mcx__reader_reset(&sc->rd);
		return srv_flush(sc);
	}
	return ret;
}

/* The oldest connection that has not authenticated (and is not busy). */
/*
 * Which unauthenticated connection makes way for a new caller: one at
 * least EVICT_GRACE_MS old (a real peer needs a moment to prove its key,
 * and must not lose its slot to a flood of newcomers), preferring those
 * that have not even sent a well-formed AUTH, then the oldest.  NULL when
 * none is old enough: the newcomer is refused instead.
 */
static struct srv_conn *evictable_unauth(struct mcx_listener *l, uint64_t now)
{
	struct srv_conn *best = NULL;

	for (struct srv_conn *sc = l->conns; sc; sc = sc->next) {
		if (sc->phase >= SRV_HELLO || sc->dead || now - sc->accepted_ms < EVICT_GRACE_MS)
			continue;
		/* The list is newest first: on a tie the later one is older. */
		if (!best || sc->phase < best->phase ||
		    (sc->phase == best->phase && sc->accepted_ms <= best->accepted_ms))
			best = sc;
	}
	return best;
}

/* Unlink sc from the connections and free it (not busy: no worker has it). */
static void srv_remove(struct mcx_listener *l, struct srv_conn *sc)
{
	struct srv_conn **pp;

	for (pp = &l->conns; *pp && *pp != sc; pp = &(*pp)->next)
		;
	if (!*pp)
		return;
	*pp = sc->next;
	l->nconns--;
	srv_conn_free(l, sc);
	pthread_mutex_lock(&l->stats_mu);
	l->st.conns = l->nconns;
	pthread_mutex_unlock(&l->stats_mu);
}

static void srv_accept(struct mcx_listener *l)
{
	uint32_t max_unauth = l->env->max_conns / 2 ? l->env->max_conns / 2 : 1;

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
		/*
		 * Unauthenticated callers never hold more than their share.
		 * The evicted one goes now, not at the next pass: still in the
		 * list, it would count against max_conns below and a full
		 * listener would refuse the very caller it made room for.
		 * (Unauthenticated connections are never busy.)
		 */
		if (l->nunauth >= max_unauth) {
			struct srv_conn *old = evictable_unauth(l, mcx__now_ms());

			if (!old) {
				/* Every one is young: the newcomer waits its turn. */
				close(fd);
				STAT_ADD(l, refused, 1);
				continue;
			}
			srv_remove(l, old);
			STAT_ADD(l, dropped, 1);
		}
		if (l->nconns >= l->env->max_conns || !(sc = calloc(1, sizeof(*sc)))) {
			/* Better a quick end of file than a hang in the backlog. */
			close(fd);
			STAT_ADD(l, refused, 1);
			continue;
		}
		mcx__sock_tune(fd);
		sc->fd = fd;
		sc->rd.max = MCX_LISTEN_MAX_REQ;
		sc->accepted_ms = sc->last_rx = mcx__now_ms();
		if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
				sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(sc->addr, sizeof(sc->addr), "%s:%s", host, serv);
		else
			snprintf(sc->addr, sizeof(sc->addr), "?");
		sc->next = l->conns;
		l->conns = sc;
		l->nconns++;
		l->nunauth++;
		STAT_ADD(l, accepted, 1);
		pthread_mutex_lock(&l->stats_mu);
		l->st.conns = l->nconns;
		pthread_mutex_unlock(&l->stats_mu);
	}
}

static void *listener_main(void *arg)
{
	struct mcx_listener *l = arg;
	size_t max = l->env->max_conns + 2;
	struct pollfd *pfd = calloc(max, sizeof(*pfd));
	struct srv_conn **idx = calloc(max, sizeof(*idx));
	bool stop = false;

	if (!pfd || !idx) {
		mcx__err("listener: out of memory; it stops");
		free(pfd);
		free(idx);
		return NULL;
	}
	while (!stop) {
		uint64_t now = mcx__now_ms(), next = now + 1000;
		uint32_t np = 2, ni = 0;
		struct srv_conn **pp;
		int r;

		pfd[0] = (struct pollfd){ .fd = l->wake[0], .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = l->fd, .events = POLLIN };
		for (struct srv_conn *sc = l->conns; sc && np < max; sc = sc->next) {
			uint64_t d = srv_deadline(l, sc);

			if (d < next)
				next = d;
			/*
			 * A busy one is not read (its next request waits) nor
			 * written until its worker is done, which the wake pipe
			 * tells: it is not polled at all, since a connection the
			 * caller reset reports POLLHUP whatever the events, and
			 * poll() would return at once for as long as the worker
			 * takes.
			 */
			pfd[np++] = (struct pollfd){
				.fd = sc->busy ? -1 : sc->fd,
				.events = sc->out ? POLLOUT : POLLIN,
			};
			idx[ni++] = sc;
		}
		r = poll(pfd, np, next > now ? (int)(next - now) : 0);
		if (r < 0 && errno != EINTR) {
			mcx__err("listener: poll: %s; it stops", mcx_strerror(-errno));
			break;
		}
		if (r > 0 && pfd[0].revents) {
			char b[64];
			ssize_t n = read(l->wake[0], b, sizeof(b));

			for (ssize_t i = 0; i < n; i++)
				stop |= b[i] == 'x';
			srv_collect(l);
			if (stop)
				break;
		}
		/* Serve, then drop what failed or ran out of time. */
		for (uint32_t i = 0; r > 0 && i < ni; i++) {
			struct srv_conn *sc = idx[i];
			short ev = pfd[i + 2].revents;
			int ret = 0;

			if (!ev || sc->busy || sc->dead)
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
		now = mcx__now_ms();
		for (pp = &l->conns; *pp;) {
			struct srv_conn *sc = *pp;
			bool drop = sc->dead || (sc->close_after && !sc->out && !sc->busy);

			if (!drop && now >= srv_deadline(l, sc)) {
				mcx__dbg("listener: %s: timed out", sc->addr);
				STAT_ADD(l, dropped, 1);
				drop = true;
			}
			/*
			 * Challenged and gone (or timed out) without a proof: a
			 * client with another key checks our proof first and
			 * hangs up, which is the failure its operator needs to
			 * see here.
			 */
			if (drop && sc->phase == SRV_PROOF)
				srv_auth_failed(l, sc, ": it left without a proof");
			/* A worker still has it: free it once the answer is back. */
			if (drop && sc->busy) {
				sc->dead = true;
				pp = &sc->next;
				continue;
			}
			if (drop) {
				*pp = sc->next;
				l->nconns--;
				srv_conn_free(l, sc);
				pthread_mutex_lock(&l->stats_mu);
				l->st.conns = l->nconns;
				pthread_mutex_unlock(&l->stats_mu);
				continue;
			}
			pp = &sc->next;
		}
		if (r > 0 && pfd[1].revents)
			srv_accept(l);
	}
	/* Workers first: none may still hold a connection. */
	pthread_mutex_lock(&l->job_mu);
	l->stopping = true;
	pthread_cond_broadcast(&l->job_cv);
	pthread_mutex_unlock(&l->job_mu);
	for (unsigned int i = 0; i < l->nworkers; i++)
		pthread_join(l->workers[i], NULL);
	l->nworkers = 0;
	while (l->conns) {
		struct srv_conn *sc = l->conns;

		l->conns = sc->next;
		srv_conn_free(l, sc);
	}
	pthread_mutex_lock(&l->stats_mu);
	l->st.conns = 0;
	pthread_mutex_unlock(&l->stats_mu);
	free(pfd);
	free(idx);
	return NULL;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &in6addr_loopback,
			       sizeof(struct in6_addr));
	return false;
}

int mcx__listener_start(struct mcx_peer_env *env, const char *listen_on)
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

	if (!env || !listen_on)
		return -EINVAL;
	if (mcx__parse_hostport("MCX_LISTEN", listen_on, host, sizeof(host), &port))
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->env = env;
	l->fd = l->wake[0] = l->wake[1] = -1;
	l->timeout_ms = env->timeout_ms ? env->timeout_ms : 10000;
	pthread_mutex_init(&l->stats_mu, NULL);
	pthread_mutex_init(&l->job_mu, NULL);
	pthread_cond_init(&l->job_cv, NULL);

	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(host, service, &hints, &res);
	if (ret) {
		mcx__err("listen address %s: cannot resolve: %s", listen_on, gai_strerror(ret));
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
		mcx__err("listen address %s: %s", listen_on, mcx_strerror(ret));
		goto fail;
	}
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) ||
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), s, sizeof(s),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		ret = -EADDRNOTAVAIL;
		goto fail;
	}
	snprintf(env->listen_addr, sizeof(env->listen_addr),
		 ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, s);
	if (pipe2(l->wake, O_CLOEXEC | O_NONBLOCK)) {
		ret = -errno;
		goto fail;
	}
	for (unsigned int i = 0; i < SETUP_WORKERS; i++) {
		ret = mcx__thread_create(&l->workers[i], "mcx-setup", worker_main, l);
		if (ret)
			goto fail;
		l->nworkers++;
	}
	ret = mcx__thread_create(&l->thread, "mcx-listen", listener_main, l);
	if (ret)
		goto fail;
	env->listener = l;
	if (!env->key && !is_loopback((struct sockaddr *)&ss))
		mcx__warn("listening for peers on %s WITHOUT authentication: anyone who can reach this address can read and write the memory this engine exports (set MCX_AUTH_KEY_FILE)",
			  env->listen_addr);
	else
		mcx__info("listening for peers on %s%s", env->listen_addr,
			  env->key ? " (pre-shared key required)" : " (loopback, no key)");
	return 0;
fail:
	pthread_mutex_lock(&l->job_mu);
	l->stopping = true;
	pthread_cond_broadcast(&l->job_cv);
	pthread_mutex_unlock(&l->job_mu);
	for (unsigned int i = 0; i < l->nworkers; i++)
		pthread_join(l->workers[i], NULL);
	if (l->fd >= 0)
		close(l->fd);
	if (l->wake[0] >= 0) {
		close(l->wake[0]);
		close(l->wake[1]);
	}
	pthread_mutex_destroy(&l->stats_mu);
	pthread_mutex_destroy(&l->job_mu);
	pthread_cond_destroy(&l->job_cv);
	free(l);
	env->listen_addr[0] = '\0';
	return ret;
}

void mcx__listener_stop(struct mcx_peer_env *env)
{
	struct mcx_listener *l = env ? env->listener : NULL;
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
	pthread_mutex_destroy(&l->job_mu);
	pthread_cond_destroy(&l->job_cv);
	free(l);
	env->listener = NULL;
	env->listen_addr[0] = '\0';
}

int mcx__listener_stats(struct mcx_peer_env *env, struct mcx_listener_stats *st)
{
	struct mcx_listener *l = env ? env->listener : NULL;

	if (!l || !st)
		return -ENOTCONN;
	pthread_mutex_lock(&l->stats_mu);
	*st = l->st;
	pthread_mutex_unlock(&l->stats_mu);
	return 0;
}
