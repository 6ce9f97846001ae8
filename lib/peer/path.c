// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The path state machine (peer.h has the picture): failing a path, picking
 * one for the next operation, closing stopped paths once their work is
 * back (or their flush deadline passed), and reacting to device events.
 */
#define _GNU_SOURCE	/* pthread_rwlock_t (mem/mem.h) */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "peer/peer.h"

/* Back-off before a path is rebuilt: doubles up to the cap. */
#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	5000

void mcx__path_fail_locked(struct mcx_path *path, int err)
{
	struct mcx_peer *peer = path->peer;
	const struct mcx_devs *devs = peer->env->devs;

	if (path->state != MCX_PATH_UP)
		return;
	if (peer->state == MCX_PEER_READY)
		mcx__warn("peer %s: path %s port %u -> remote device %u failed (%s); its work moves to other paths",
			  peer->addr, devs->attr[path->ldev].name, devs->attr[path->ldev].port,
			  path->rdev, mcx_strerror(err));
	path->state = MCX_PATH_STOPPING;
	path->err = err;
	path->stop_ns = mcx__now_ns();
	if (path->tp)
		devs->ops->path_stop(path->tp);
}

/*
 * Whether a rebuilt path may carry data yet (dlock held).  On a transport
 * whose paths connect on first use (libfabric RDM) the rebuild's
 * handshake succeeds over the control connection even while the link
 * under the path is still dead, and work posted to it would wait for a
 * connection that never comes: such a path takes work only once a
 * warm-up probe came back through it (the first call sends one).  A
 * probe that fails fails the path, which is rebuilt again later.
 */
bool mcx__path_warm_locked(const struct mcx_path *p)
{
	const struct mcx_transport_ops *ops = p->peer->env->devs->ops;

	return p->state == MCX_PATH_UP &&
	       (!ops->path_is_warm || (p->tp && ops->path_is_warm(p->tp)));
}

static bool path_usable_locked(struct mcx_path *p)
{
	const struct mcx_transport_ops *ops = p->peer->env->devs->ops;
	int r;

	if (!p->rebuilds || !ops->path_warm || !ops->path_is_warm || !p->tp ||
	    ops->path_is_warm(p->tp))
		return true;
	r = ops->path_warm(p->tp);
	if (r == 0 || r == -EOPNOTSUPP)
		return true;	/* answered, or cannot be probed: as before */
	if (r != -EINPROGRESS)
		mcx__path_fail_locked(p, r);
	return false;
}

struct mcx_path *mcx__peer_pick_locked(struct mcx_peer *peer, uint32_t skip_mask, int *why)
{
	uint32_t n = peer->nr_paths;
	bool waiting = false;

	*why = 0;
	if (peer->state == MCX_PEER_DEAD || peer->state == MCX_PEER_CLOSING) {
		*why = peer->err ? peer->err : -ECONNRESET;
		return NULL;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (peer->next_path + k) % n;
		struct mcx_path *p = &peer->paths[i];

		if (p->state != MCX_PATH_UP) {
			/* A stopping path comes back after its rebuild (client side). */
			waiting |= p->state != MCX_PATH_DOWN || peer->conn;
			continue;
		}
		if (i < 32 && (skip_mask & (1U << i))) {
			waiting = true;
			continue;
		}
		if (!path_usable_locked(p)) {
			waiting = true;
			continue;
		}
		peer->next_path = (i + 1) % n;
		return p;
	}
	if (!waiting) {
		*why = -ENETUNREACH;
		for (uint32_t k = 0; k < n; k++)
			if (peer->paths[k].err)
				*why = peer->paths[k].err;
	}
	return NULL;
}

/* Close p (state STOPPING, dlock NOT held; the caller marked it). */
static void path_close(struct mcx_peer *peer, struct mcx_path *p, struct mcx_tp_path *tp)
{
	const struct mcx_peer_env *env = peer->env;

	env->devs->ops->path_close(tp, env->hooks->unreaped, env->hooks_arg);
	pthread_mutex_lock(&peer->dlock);
	p->state = MCX_PATH_DOWN;
	if (p->backoff_ms < BACKOFF_MIN_MS)
		p->backoff_ms = BACKOFF_MIN_MS;
	p->retry_ns = mcx__now_ns() + (uint64_t)p->backoff_ms * 1000000ULL;
	p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
	pthread_mutex_unlock(&peer->dlock);
}

/* Stopped paths of peer whose work is back or whose deadline passed. */
static int reap_peer(struct mcx_peer *peer, uint64_t now)
{
	const struct mcx_peer_env *env = peer->env;
	struct mcx_tp_path *tps[MCX_MAX_PATHS];
	struct mcx_path *ps[MCX_MAX_PATHS];
	int n = 0;

	/*
	 * Reaping runs from the progress loop, which serves every peer: a
	 * thread holding this peer's dlock must not stall the completions of
	 * the others.  A busy peer is reaped on a later pass.
	 */
	if (pthread_mutex_trylock(&peer->dlock))
		return 0;
	for (uint32_t k = 0; k < peer->nr_paths; k++) {
		struct mcx_path *p = &peer->paths[k];
		bool late;

		if (p->state != MCX_PATH_STOPPING || !p->tp)
			continue;
		late = now - p->stop_ns > (uint64_t)env->flush_ms * 1000000ULL;
		if (env->devs->ops->path_inflight(p->tp) && !late)
			continue;
		if (late && env->devs->ops->path_inflight(p->tp))
			mcx__warn("peer %s: path on %s: %u operation(s) not flushed after %u ms; destroying it",
				  peer->addr, env->devs->attr[p->ldev].name,
				  env->devs->ops->path_inflight(p->tp), env->flush_ms);
		ps[n] = p;
		tps[n] = p->tp;
		p->tp = NULL;	/* nobody posts to it any more: it is STOPPING */
		n++;
	}
	pthread_mutex_unlock(&peer->dlock);
	for (int i = 0; i < n; i++)
		path_close(peer, ps[i], tps[i]);
	return n;
}

int mcx__peers_reap(struct mcx_peer_env *env)
{
	uint64_t now = mcx__now_ns();
	int total = 0;

	pthread_mutex_lock(&env->lock);
	for (struct mcx_peer *p = env->peers; p; p = p->next)
		total += reap_peer(p, now);
	pthread_mutex_unlock(&env->lock);
	return total;
}

void mcx__peers_dev_event(struct mcx_peer_env *env, uint32_t dev, bool down, int err)
{
	if (!down)
		return;	/* a port back up: rebuilds happen on demand */
	pthread_mutex_lock(&env->lock);
	for (struct mcx_peer *peer = env->peers; peer; peer = peer->next) {
		pthread_mutex_lock(&peer->dlock);
		for (uint32_t k = 0; k < peer->nr_paths; k++)
			if (peer->paths[k].ldev == dev)
				mcx__path_fail_locked(&peer->paths[k], err);
		pthread_mutex_unlock(&peer->dlock);
	}
	pthread_mutex_unlock(&env->lock);
}

void mcx__peers_path_event(struct mcx_peer_env *env, void *owner, int err)
{
	struct mcx_path *path = owner;

	/* owner stays valid: paths live in their peer until it is freed,
	 * and a peer is unlinked (under env->lock) before its paths close. */
	pthread_mutex_lock(&env->lock);
	for (struct mcx_peer *peer = env->peers; peer; peer = peer->next) {
		if (path < peer->paths || path >= peer->paths + MCX_MAX_PATHS)
			continue;
		pthread_mutex_lock(&peer->dlock);
		mcx__path_fail_locked(path, err);
		pthread_mutex_unlock(&peer->dlock);
	}
	pthread_mutex_unlock(&env->lock);
}

uint32_t mcx__peer_paths_mask(const struct mcx_peer *peer)
{
	return peer->nr_paths >= 32 ? UINT32_MAX : (1U << peer->nr_paths) - 1;
}

uint32_t mcx__peer_no_notify_mask(const struct mcx_peer *peer)
{
	const struct mcx_devs *devs = peer->env->devs;
	uint32_t mask = 0;

	for (uint32_t i = 0; i < peer->nr_paths && i < 32; i++) {
		const struct mcx_path *p = &peer->paths[i];
		uint32_t lcaps = p->ldev < devs->n ? devs->attr[p->ldev].caps : 0;

		if (!(lcaps & p->rcaps & MCX_TP_CAP_WRITE_IMM))
			mask |= 1U << i;
	}
	return mask;
}

int mcx__peer_can_notify(struct mcx_peer *peer)
{
	uint32_t all, mask;
	bool ready;

	if (peer->local)
		return 0;
	pthread_mutex_lock(&peer->dlock);
	ready = peer->state == MCX_PEER_READY && peer->nr_paths;
	all = mcx__peer_paths_mask(peer);
	mask = ready ? mcx__peer_no_notify_mask(peer) : 0;
	pthread_mutex_unlock(&peer->dlock);
	if (ready && mask == all) {
		mcx__err("peer %s: no path to it carries notifications (its or our libfabric provider has no 8-byte remote CQ data)",
			 peer->addr);
		return -EOPNOTSUPP;
	}
	return 0;
}

int mcx__peer_warm_paths(struct mcx_peer *peer)
{
	struct mcx_peer_env *env = peer->env;
	const struct mcx_transport_ops *ops = env->devs->ops;
	uint64_t deadline = mcx__now_ns() + (uint64_t)env->timeout_ms * 1000000ULL;

	/* Connected paths (verbs RC) and a peer in this process: nothing to touch. */
	if (!ops->path_warm || peer->local)
		return 0;
	for (;;) {
		uint32_t pending = 0, probed = 0;
		int err = 0;

		pthread_mutex_lock(&peer->dlock);
		if (peer->state == MCX_PEER_DEAD || peer->state == MCX_PEER_CLOSING)
			err = peer->err ? peer->err : -ECONNRESET;
		for (uint32_t i = 0; !err && i < peer->nr_paths; i++) {
			struct mcx_path *p = &peer->paths[i];
			int r;

			if (p->state != MCX_PATH_UP || !p->tp) {
				/* One that failed meanwhile says why; a new one comes up later. */
				if (p->err)
					err = p->err;
				continue;
			}
			r = ops->path_warm(p->tp);
			if (r == -EINPROGRESS)
				pending++;
			else if (r == 0)
				probed++;
			else if (r != -EOPNOTSUPP)
				err = r;
		}
		pthread_mutex_unlock(&peer->dlock);
		if (err) {
			mcx__err("peer %s: warm-up: %s", peer->addr, mcx_strerror(err));
			return err;
		}
		if (!pending) {
			mcx__dbg("peer %s: warm-up: %u path(s) probed", peer->addr, probed);
			return 0;
		}
		if (mcx__now_ns() >= deadline) {
			mcx__err("peer %s: warm-up: %u path(s) did not answer within %u ms",
				 peer->addr, pending, env->timeout_ms);
			return -ETIMEDOUT;
		}
		/* Without progress threads the probes come back only through us. */
		if (env->hooks && env->hooks->progress)
			env->hooks->progress(env->hooks_arg);
		usleep(100);
	}
}
