// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * An engine in etcd (meta.h): its publication under a lease, peers opened
 * by name, and the thread that keeps the one alive and watches the others.
 *
 * Watching is a poll (a keys-only range of each watched name every poll
 * period) rather than etcd's watch stream: the gateway serves watches as
 * an endless HTTP response, which would need a connection and a parser of
 * its own per engine, while a peer's death is already seen at once by its
 * TCP connection when the host is up; what the lease adds is the case of
 * a host or process that stops answering without closing anything, which
 * a poll of the same period as the lease sees as soon as etcd does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meta/meta.h"
#include "util/util.h"

#define POLL_MAX_MS	1000

struct meta_watch {
	struct meta_watch *next;
	uint64_t id;
	struct mcx_peer *peer;
	char name[MCX_ETCD_NAME_MAX + 1];
	struct mcx_etcd_kv kv;		/* the key as the peer was opened from it */
};

struct mcx_meta {
	struct mcx_peer_env *env;
	char url[320];			/* for the log */
	struct mcx_etcd *bg;		/* the thread's client */
	struct mcx_etcd *fg;		/* the callers' (opening peers by name) */
	uint32_t ttl_s;
	uint32_t poll_ms;
	uint32_t keepalive_ms;

	/* Publication: the thread's after start. */
	bool publish;
	char name[MCX_ETCD_NAME_MAX + 1];
	int64_t lease;			/* 0: none (lost; granted again) */
	uint8_t *blob;			/* as last put */
	size_t blob_len;
	bool etcd_down;			/* said so in the log already */
	atomic_uint_fast64_t puts;

	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cv;
	bool stop;
	uint64_t next_id;
	struct meta_watch *watches;

	pthread_t thread;
	bool thread_on;
};

/* ---- publication ---- */

/* The engine's blob now, malloc'd. */
static int export_blob(struct mcx_meta *m, uint8_t **out, size_t *len)
{
	size_t need = 0;
	uint8_t *buf = NULL;
	int ret;

	/* Registrations may come between asking and writing: ask again then. */
	for (int tries = 0; tries < 8; tries++) {
		ret = mcx__peer_export_md(m->env, buf, buf ? need : 0, &need);
		if (ret >= 0 && buf) {
			*out = buf;
			*len = (size_t)ret;
			return 0;
		}
		if (ret != -ENOBUFS && ret < 0)
			break;
		free(buf);
		buf = malloc(need);
		if (!buf)
			return -ENOMEM;
	}
	free(buf);
	return ret < 0 ? ret : -EAGAIN;
}

/* Put the blob when it changed (always with force).  The thread's. */
static int publish(struct mcx_meta *m, bool force)
{
	uint8_t *blob;
	size_t len;
	int ret = export_blob(m, &blob, &len);

	if (ret) {
		mcx__err("metadata service: cannot describe this engine: %s", mcx_strerror(ret));
		return ret;
	}
	if (!force && m->blob && len == m->blob_len && !memcmp(blob, m->blob, len)) {
		free(blob);
		return 0;
	}
	ret = mcx__etcd_put(m->bg, m->name, blob, len, m->lease);
	if (ret) {
		free(blob);
		return ret;
	}
	free(m->blob);
	m->blob = blob;
	m->blob_len = len;
	atomic_fetch_add(&m->puts, 1);
	return 0;
}

/* A new lease and the blob under it (after start, or once the old one expired). */
static int publish_anew(struct mcx_meta *m)
{
	int ret = mcx__etcd_grant(m->bg, m->ttl_s, &m->lease);

	if (ret) {
		m->lease = 0;
		return ret;
	}
	ret = publish(m, true);
	if (ret) {
		mcx__etcd_revoke(m->bg, m->lease);
		m->lease = 0;
	}
	return ret;
}

static void etcd_trouble(struct mcx_meta *m, int err)
{
	if (!m->etcd_down)
		mcx__warn("metadata service %s: %s; peers keep working, trying again every %u ms",
			  m->url, mcx_strerror(err), m->poll_ms);
	m->etcd_down = true;
}

static void etcd_fine(struct mcx_meta *m)
{
	if (m->etcd_down)
		mcx__info("metadata service %s: reachable again", m->url);
	m->etcd_down = false;
}

/* Keep the lease alive; publish again what changed, or all of it anew. */
static void keep_published(struct mcx_meta *m)
{
	int ret = m->lease ? mcx__etcd_keepalive(m->bg, m->lease) : -ENOENT;

	if (ret == -ENOENT) {
		if (m->lease)
			mcx__warn("metadata service %s: the lease of %s expired (etcd unreachable for %u s or more?); publishing it again",
				  m->url, m->name, m->ttl_s);
		ret = publish_anew(m);
	} else if (!ret) {
		ret = publish(m, false);
		if (ret == -ENOENT) {		/* expired between the two */
			m->lease = 0;
			ret = publish_anew(m);
		}
	}
	if (ret)
		etcd_trouble(m, ret);
	else
		etcd_fine(m);
}

/* ---- watching ---- */

struct probe {
	uint64_t id;
	char name[MCX_ETCD_NAME_MAX + 1];
	struct mcx_etcd_kv kv;
	const char *why;		/* NULL: alive */
};

static void watch_pass(struct mcx_meta *m)
{
	struct probe *p = NULL;
	size_t n = 0, i = 0;

	pthread_mutex_lock(&m->lock);
	for (struct meta_watch *w = m->watches; w; w = w->next)
		n++;
	if (n)
		p = calloc(n, sizeof(*p));
	for (struct meta_watch *w = m->watches; p && w; w = w->next, i++) {
		p[i].id = w->id;
		memcpy(p[i].name, w->name, sizeof(p[i].name));
		p[i].kv = w->kv;
	}
	pthread_mutex_unlock(&m->lock);
	if (!p)
		return;

	for (i = 0; i < n; i++) {
		struct mcx_etcd_kv kv;
		int ret = mcx__etcd_get(m->bg, p[i].name, NULL, NULL, &kv);

		if (ret == -ENOENT)
			p[i].why = "its key is gone: its lease expired or was revoked";
		else if (!ret && (kv.create_revision != p[i].kv.create_revision ||
				  kv.lease != p[i].kv.lease))
			p[i].why = "its name was published anew, under another lease";
		else if (ret)
			etcd_trouble(m, ret);
		else
			etcd_fine(m);
	}

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < n; i++) {
		struct meta_watch **pp = &m->watches;

		if (!p[i].why)
			continue;
		while (*pp && (*pp)->id != p[i].id)
			pp = &(*pp)->next;
		if (*pp) {
			struct meta_watch *w = *pp;

			*pp = w->next;
			mcx__warn("peer %s%s (%s): %s; failing it as a lost connection",
				  MCX_META_ADDR_PREFIX, w->name, w->peer->addr, p[i].why);
			/* Under m->lock: mcx__meta_forget_peer() waits for this. */
			mcx__peer_fail(w->peer, -ECONNRESET);
			free(w);
		}
	}
	pthread_mutex_unlock(&m->lock);
	free(p);
}

/* ---- the thread ---- */

static void deadline_in(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *meta_main(void *arg)
{
	struct mcx_meta *m = arg;
	uint64_t next_keepalive = mcx__now_ns() + (uint64_t)m->keepalive_ms * 1000000ULL;

	for (;;) {
		struct timespec ts;
		bool stop;

		deadline_in(&ts, m->poll_ms);
		pthread_mutex_lock(&m->lock);
		while (!m->stop && pthread_cond_timedwait(&m->cv, &m->lock, &ts) != ETIMEDOUT)
			;
		stop = m->stop;
		pthread_mutex_unlock(&m->lock);
		if (stop)
			break;
		if (m->publish && mcx__now_ns() >= next_keepalive) {
			keep_published(m);
			next_keepalive = mcx__now_ns() + (uint64_t)m->keepalive_ms * 1000000ULL;
		}
		watch_pass(m);
	}
	return NULL;
}

/* ---- start, stop ---- */

static void meta_free(struct mcx_meta *m)
{
	while (m->watches) {
		struct meta_watch *w = m->watches;

		m->watches = w->next;
		free(w);
	}
	mcx__etcd_close(m->bg);
	mcx__etcd_close(m->fg);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->lock);
	free(m->blob);
	free(m);
}

int mcx__meta_start(struct mcx_peer_env *env, const char *url, const char *name,
		    uint32_t ttl_s, uint32_t timeout_ms, struct mcx_meta **out)
{
	struct mcx_etcd_url u;
	pthread_condattr_t ca;
	struct mcx_meta *m;
	int ret;

	*out = NULL;
	if (mcx__etcd_parse_url(NULL, url, &u) || ttl_s < MCX_META_TTL_MIN ||
	    ttl_s > MCX_META_TTL_MAX || (name && !mcx__etcd_name_ok(name)))
		return -EINVAL;
	if (name && !env->listen_addr[0]) {
		mcx__err("metadata service: publishing this engine as \"%s\" needs a listener (option listen, MCX_LISTEN): a peer connects its paths through it",
			 name);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->env = env;
	snprintf(m->url, sizeof(m->url), "%s", url);
	m->ttl_s = ttl_s;
	m->keepalive_ms = ttl_s * 1000 / 3;
	m->poll_ms = ttl_s * 250 < POLL_MAX_MS ? ttl_s * 250 : POLL_MAX_MS;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	ret = mcx__etcd_open(&u, timeout_ms, &m->bg);
	if (!ret)
		ret = mcx__etcd_open(&u, timeout_ms, &m->fg);
	if (ret)
		goto fail;
	/* The thread's failures are said once by etcd_trouble(), with the URL. */
	mcx__etcd_set_log_level(m->bg, MCX_LOG_DEBUG);
	if (name) {
		struct mcx_etcd_kv kv;

		m->publish = true;
		snprintf(m->name, sizeof(m->name), "%s", name);
		/* A name held by a lease that lives: say so, then take it over. */
		mcx__etcd_set_log_level(m->bg, MCX_LOG_ERROR);
		ret = mcx__etcd_get(m->bg, name, NULL, NULL, &kv);
		if (!ret && kv.lease)
			mcx__warn("metadata service %s: \"%s\" is published already (lease %" PRId64 "): by an engine that is gone (its lease ends within its TTL) or one that still runs under this name; this engine takes it over",
				  url, name, kv.lease);
		if (!ret || ret == -ENOENT)
			ret = publish_anew(m);
		mcx__etcd_set_log_level(m->bg, MCX_LOG_DEBUG);
		if (ret) {
			mcx__err("metadata service %s: cannot publish this engine as \"%s\": %s",
				 url, name, mcx_strerror(ret));
			goto fail;
		}
	}
	ret = mcx__thread_create(&m->thread, "mcx-meta", meta_main, m);
	if (ret) {
		if (m->lease)
			mcx__etcd_revoke(m->bg, m->lease);
		goto fail;
	}
	m->thread_on = true;
	if (name)
		mcx__info("metadata service %s: this engine is \"%s\" (lease %" PRId64 ", %u s)",
			  url, name, m->lease, ttl_s);
	*out = m;
	return 0;
fail:
	meta_free(m);
	return ret;
}

void mcx__meta_stop(struct mcx_meta *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->lock);
	if (m->thread_on)
		pthread_join(m->thread, NULL);
	/* Peers see the name go now rather than after the TTL. */
	if (m->lease && mcx__etcd_revoke(m->bg, m->lease) == 0)
		mcx__dbg("metadata service %s: \"%s\" withdrawn", m->url, m->name);
	meta_free(m);
}

uint64_t mcx__meta_puts(struct mcx_meta *m)
{
	return m ? atomic_load(&m->puts) : 0;
}

int mcx__meta_open_peer(struct mcx_meta *m, const char *name, struct mcx_peer **out)
{
	struct mcx_etcd_kv kv;
	struct meta_watch *w;
	void *blob = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if (!mcx__etcd_name_ok(name)) {
		mcx__err("peer address \"%s%s\": expected a name of 1..%d characters [A-Za-z0-9._-]",
			 MCX_META_ADDR_PREFIX, name, MCX_ETCD_NAME_MAX);
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	ret = mcx__etcd_get(m->fg, name, &blob, &len, &kv);
	if (ret == -ENOENT)
		mcx__err("peer %s%s: no engine is published under that name at %s",
			 MCX_META_ADDR_PREFIX, name, m->url);
	if (ret)
		goto fail;
	ret = mcx__peer_open_md(m->env, blob, len, out);
	free(blob);
	if (ret) {
		mcx__err("peer %s%s: cannot open it from its metadata: %s",
			 MCX_META_ADDR_PREFIX, name, mcx_strerror(ret));
		goto fail;
	}
	w->peer = *out;
	w->kv = kv;
	snprintf(w->name, sizeof(w->name), "%s", name);
	pthread_mutex_lock(&m->lock);
	w->id = ++m->next_id;
	w->next = m->watches;
	m->watches = w;
	pthread_mutex_unlock(&m->lock);
	return 0;
fail:
	free(w);
	return ret;
}

void mcx__meta_forget_peer(struct mcx_meta *m, struct mcx_peer *peer)
{
	struct meta_watch **pp;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	for (pp = &m->watches; *pp;) {
		struct meta_watch *w = *pp;

		if (w->peer == peer) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
	pthread_mutex_unlock(&m->lock);
}
