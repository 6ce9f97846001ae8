// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The engine: options, devices, registration pool and cache, the list of
 * peers, and the completion poller thread.  The poller spins briefly while
 * work is in flight and otherwise sleeps on the NICs' completion channels,
 * waking at least every few milliseconds to expire deadlines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

#define POLLER_SLEEP_MS	5	/* while batches are live: deadlines */
#define POLLER_IDLE_MS	200	/* nothing live: completions or wake_fd */
#define POLLER_SPIN_NS	50000ULL

/* Arm every NIC's CQ, then sleep until one has an event or timeout_ms. */
static void poller_sleep(struct mcx_engine *eng, int timeout_ms)
{
	struct pollfd fds[MCX_MAX_NICS + 1];
	nfds_t n = 0;
	uint64_t v;

	for (uint32_t i = 0; i < eng->nr_nics; i++) {
		struct mcx_nic *nic = &eng->nics[i];

		if (!nic->channel)
			continue;
		ibv_req_notify_cq(nic->cq, 0);
		fds[n].fd = nic->channel->fd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	fds[n].fd = eng->wake_fd;
	fds[n].events = POLLIN;
	fds[n].revents = 0;
	if (poll(fds, n + 1, timeout_ms) <= 0)
		return;
	if ((fds[n].revents & POLLIN) && read(eng->wake_fd, &v, sizeof(v)) < 0)
		v = 0;
	for (uint32_t i = 0, k = 0; i < eng->nr_nics; i++) {
		struct mcx_nic *nic = &eng->nics[i];
		struct ibv_cq *cq;
		void *ctx;

		if (!nic->channel)
			continue;
		if ((fds[k++].revents & POLLIN) && !ibv_get_cq_event(nic->channel, &cq, &ctx))
			ibv_ack_cq_events(cq, 1);
	}
}

void mcx__engine_wake(struct mcx_engine *eng)
{
	uint64_t one = 1;

	if (eng->poller_on && write(eng->wake_fd, &one, sizeof(one)) < 0)
		one = 0;	/* the counter is full: it is awake anyway */
}

static void *poller_main(void *arg)
{
	struct mcx_engine *eng = arg;
	uint64_t last_work = 0;
	bool live;

	pthread_mutex_lock(&eng->lock);
	while (!eng->stopping) {
		bool busy;
		int n = mcx__progress_locked(eng);
		uint64_t now = mcx__now_ns();

		if (n > 0)
			last_work = now;
		busy = false;
		for (uint32_t i = 0; i < eng->nr_nics; i++)
			busy |= eng->nics[i].cq_outstanding > 0;
		live = eng->active || busy;
		pthread_mutex_unlock(&eng->lock);
		if (busy && now - last_work < POLLER_SPIN_NS) {
			sched_yield();
		} else {
			/* Events arm before the next poll, so none is missed. */
			poller_sleep(eng, live ? POLLER_SLEEP_MS : POLLER_IDLE_MS);
		}
		pthread_mutex_lock(&eng->lock);
	}
	pthread_mutex_unlock(&eng->lock);
	return NULL;
}

static unsigned int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (unsigned int)n;
}

MCX_EXPORT int mcx_engine_create(const struct mcx_engine_opts *opts, struct mcx_engine **out)
{
	struct mcx_engine *eng;
	int ret;

	mcx__fork_policy_init();	/* before any verbs call; failure is only logged */
	if (!out)
		return -EINVAL;
	*out = NULL;
	eng = calloc(1, sizeof(*eng));
	if (!eng)
		return -ENOMEM;
	if (opts) {
		eng->opts = *opts;
		ret = mcx__opts_validate(&eng->opts);
		if (ret)
			goto free_eng;
		if (opts->log_level >= 0)
			mcx_log_set_level((enum mcx_log_level)opts->log_level);
	} else {
		mcx__opts_defaults(&eng->opts);
	}
	/* Keep our own copies of the caller's strings. */
	if (eng->opts.devices) {
		snprintf(eng->store.devices, sizeof(eng->store.devices), "%s", eng->opts.devices);
		eng->opts.devices = eng->store.devices;
	}
	if (eng->opts.listen) {
		snprintf(eng->store.listen, sizeof(eng->store.listen), "%s", eng->opts.listen);
		eng->opts.listen = eng->store.listen;
	}
	ret = mcx__opts_from_env(&eng->opts, &eng->store);
	if (ret)
		goto free_eng;
	if (eng->opts.reg_threads == 0)
		eng->opts.reg_threads = online_cpus();
	eng->token = mcx__process_token();
	eng->pid = mcx__pid();
	eng->tp = &mcx__verbs_ops;
	atomic_store(&eng->next_mem_id, 1);
	pthread_mutex_init(&eng->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_cond_init(&eng->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	ret = mcx__regcache_init(&eng->cache);
	if (ret)
		goto free_sync;
	ret = mcx__devices_open(eng);
	if (ret)
		goto free_cache;
	ret = mcx__regpool_create(eng->opts.reg_threads, &eng->pool);
	if (ret)
		goto close_devs;
	if (eng->opts.listen) {
		ret = mcx__listener_start(eng);
		if (ret)
			goto free_pool;
	}
	if (eng->opts.poller) {
		eng->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (eng->wake_fd < 0) {
			ret = -errno;
			mcx__err("eventfd for the poller thread: %s", mcx_strerror(ret));
			goto stop_listener;
		}
		eng->poller_on = true;
		ret = mcx__thread_create(&eng->poller, "mcx-poller", poller_main, eng);
		if (ret) {
			eng->poller_on = false;
			close(eng->wake_fd);
			mcx__err("cannot start the poller thread: %s", mcx_strerror(ret));
			goto stop_listener;
		}
	}
	mcx__info("engine: %u NIC port(s), slice %llu bytes, %u WRs per QP, %u QP(s) per pair, %u registration thread(s), chunk %llu bytes",
		  eng->nr_nics, (unsigned long long)eng->opts.slice_size, eng->opts.max_wr,
		  eng->opts.qps_per_pair, eng->opts.reg_threads,
		  (unsigned long long)mcx__mem_chunk_size(eng));
	*out = eng;
	return 0;

stop_listener:
	if (eng->opts.listen)
		mcx__listener_stop(eng);
free_pool:
	mcx__regpool_destroy(eng->pool);
close_devs:
	mcx__devices_close(eng);
free_cache:
	mcx__regcache_destroy(&eng->cache);
free_sync:
	pthread_cond_destroy(&eng->cond);
	pthread_mutex_destroy(&eng->lock);
free_eng:
	free(eng);
	return ret;
}

MCX_EXPORT void mcx_engine_destroy(struct mcx_engine *eng)
{
	struct mcx_mem *left[64];
	size_t n;

	if (!eng)
		return;
	if (eng->listener)
		mcx__listener_stop(eng);
	/* Peers the caller did not close. */
	for (;;) {
		struct mcx_peer *p;

		pthread_mutex_lock(&eng->lock);
		p = eng->peers;
		pthread_mutex_unlock(&eng->lock);
		if (!p)
			break;
		mcx_peer_close(p);
	}
	if (eng->poller_on) {
		pthread_mutex_lock(&eng->lock);
		eng->stopping = true;
		pthread_mutex_unlock(&eng->lock);
		mcx__engine_wake(eng);
		pthread_join(eng->poller, NULL);
		eng->poller_on = false;
		close(eng->wake_fd);
	}
	if (eng->active)
		mcx__warn("engine destroyed with batches not freed");
	/* Registrations the caller did not drop: deregister them now. */
	while ((n = mcx__regcache_list(&eng->cache, left, 64)) > 0) {
		mcx__warn("engine destroyed with %zu+ registration(s) still live; deregistering", n);
		for (size_t i = 0; i < n; i++) {
			struct mcx_mem *m = left[i];

			/* Our list reference, then every reference left. */
			while (mcx__regcache_put(&eng->cache, m) > 0)
				;
			mcx__mem_destroy(m);
		}
	}
	mcx__regpool_destroy(eng->pool);
	mcx__devices_close(eng);
	mcx__regcache_destroy(&eng->cache);
	while (eng->free_slices) {
		struct mcx_slice *s = eng->free_slices;

		eng->free_slices = s->next;
		free(s);
	}
	pthread_cond_destroy(&eng->cond);
	pthread_mutex_destroy(&eng->lock);
	free(eng);
}

MCX_EXPORT int mcx_engine_progress(struct mcx_engine *eng)
{
	int ret;

	if (!eng)
		return -EINVAL;
	pthread_mutex_lock(&eng->lock);
	ret = mcx__progress_locked(eng);
	pthread_mutex_unlock(&eng->lock);
	return ret;
}

MCX_EXPORT int mcx_engine_listen_addr(struct mcx_engine *eng, char *buf, size_t len)
{
	if (!eng || !buf || len == 0)
		return -EINVAL;
	if (!eng->listen_addr[0])
		return -ENOTCONN;
	if (strlen(eng->listen_addr) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, eng->listen_addr);
	return 0;
}

MCX_EXPORT unsigned int mcx_engine_nics(const struct mcx_engine *eng)
{
	return eng ? eng->nr_nics : 0;
}

MCX_EXPORT int mcx_engine_stats(struct mcx_engine *eng, struct mcx_engine_stats *out)
{
	if (!eng || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&eng->cache.lock);
	out->reg_hits = eng->cache.hits;
	out->reg_misses = eng->cache.misses;
	out->regs_live = eng->cache.n;
	pthread_mutex_unlock(&eng->cache.lock);
	out->reg_threads = mcx__regpool_threads(eng->pool);
	return 0;
}

MCX_EXPORT int mcx_peer_stats(struct mcx_peer *peer, struct mcx_pair_stats *st, size_t n)
{
	struct mcx_engine *eng;
	uint32_t k;

	if (!peer || (!st && n))
		return -EINVAL;
	eng = peer->eng;
	pthread_mutex_lock(&eng->lock);
	for (k = 0; k < peer->nr_pairs && k < n; k++) {
		const struct mcx_pair *p = &peer->pairs[k];

		memset(&st[k], 0, sizeof(st[k]));
		snprintf(st[k].local_dev, sizeof(st[k].local_dev), "%s", p->lnic->name);
		st[k].local_port = p->lnic->port;
		st[k].remote_nic = p->rnic;
		st[k].rail = p->rail;
		st[k].up = p->state == MCX_PAIR_UP;
		st[k].err = p->err;
		st[k].bytes = p->bytes;
		st[k].slices = p->slices;
		st[k].retried = p->retried;
	}
	k = peer->nr_pairs;
	pthread_mutex_unlock(&eng->lock);
	return (int)k;
}

void mcx__peer_attach(struct mcx_engine *eng, struct mcx_peer *peer)
{
	pthread_mutex_lock(&eng->lock);
	peer->eng = eng;
	peer->prev = NULL;
	peer->next = eng->peers;
	if (eng->peers)
		eng->peers->prev = peer;
	eng->peers = peer;
	pthread_mutex_unlock(&eng->lock);
}

void mcx__peer_detach(struct mcx_peer *peer)
{
	struct mcx_engine *eng = peer->eng;

	pthread_mutex_lock(&eng->lock);
	if (peer->state != MCX_PEER_DEAD)
		peer->state = MCX_PEER_CLOSING;
	mcx__fail_peer_requests(peer, -ECONNABORTED);
	for (uint32_t k = 0; k < peer->nr_pairs; k++) {
		struct mcx_pair *p = &peer->pairs[k];

		if (p->state == MCX_PAIR_UP || p->state == MCX_PAIR_CREATED) {
			p->state = MCX_PAIR_FAILED;
			if (!p->err)
				p->err = -ECONNABORTED;
			if (p->nqp)
				eng->tp->pair_error(p);
		}
	}
	/* Flushes come back promptly once the QPs are in the error state. */
	while (peer->inflight) {
		if (!eng->poller_on) {
			mcx__progress_locked(eng);
		} else {
			pthread_mutex_unlock(&eng->lock);
			usleep(200);
			pthread_mutex_lock(&eng->lock);
		}
	}
	if (peer->prev)
		peer->prev->next = peer->next;
	else if (eng->peers == peer)
		eng->peers = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	peer->prev = peer->next = NULL;
	pthread_mutex_unlock(&eng->lock);
}
