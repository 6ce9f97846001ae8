// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The engine: options, devices, and the progress that moves completions
 * along.  Progress is run by a poller thread (the default) or by the
 * caller (mcx_engine_progress, or inside mcx_batch_wait when there is no
 * poller).  The poller spins briefly while work is in flight and otherwise
 * sleeps on the devices' wait fds, waking at least every few milliseconds
 * while batches are live so that their deadlines are watched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/core.h"

#define POLLER_SLEEP_MS	5	/* while batches are live: deadlines */
#define POLLER_IDLE_MS	200	/* nothing live: completions or wake_fd */
#define POLLER_SPIN_NS	50000ULL
#define LISTEN_IDLE_MS	30000
#define FLUSH_MIN_MS	1000	/* flushed work normally comes back at once */

/* ---- progress ---- */

static void on_event(void *arg, struct mcx_tp_dev *dev, enum mcx_tp_event ev,
		     void *path_owner, int err)
{
	struct mcx_engine *eng = arg;

	switch (ev) {
	case MCX_TP_EV_DEV_DOWN:
	case MCX_TP_EV_DEV_UP:
		for (uint32_t i = 0; i < eng->devs.n; i++)
			if (eng->devs.dev[i] == dev)
				mcx__peers_dev_event(&eng->peers, i, ev == MCX_TP_EV_DEV_DOWN, err);
		break;
	case MCX_TP_EV_PATH_FAILED:
		if (path_owner)
			mcx__peers_path_event(&eng->peers, path_owner, err);
		break;
	}
}

/* The transport reports events with the xfer as arg: find the engine. */
static void on_event_xfer(void *arg, struct mcx_tp_dev *dev, enum mcx_tp_event ev,
			  void *path_owner, int err)
{
	struct mcx_xfer *x = arg;

	on_event(x->core_arg, dev, ev, path_owner, err);
}

/* Progress of the devices i with i % step == first: completions handed on. */
static int progress_devs(struct mcx_engine *eng, uint32_t first, uint32_t step, int *err)
{
	const struct mcx_transport_ops *ops = eng->devs.ops;
	int total = 0;

	for (uint32_t i = first; i < eng->devs.n; i += step) {
		int n;

		/* Someone else is on this device right now: that is progress too. */
		if (pthread_mutex_trylock(&eng->devs.progress_lock[i]))
			continue;
		n = ops->progress(eng->devs.dev[i], 256, mcx__xfer_done, mcx__xfer_notify,
				  on_event_xfer, &eng->xfer);
		pthread_mutex_unlock(&eng->devs.progress_lock[i]);
		/* A broken CQ must not stop the others nor the deadlines. */
		if (n < 0 && !*err)
			*err = n;
		else if (n > 0)
			total += n;
	}
	return total;
}

/* Everything but the devices: peers, deadlines, registry events. */
static int progress_rest(struct mcx_engine *eng)
{
	mcx__peers_reap(&eng->peers);
	mcx__xfer_tick(&eng->xfer);
	/* Registry events: memory that died stops taking requests. */
	return mcx__warm_progress(eng);
}

int mcx__engine_progress(struct mcx_engine *eng)
{
	int err = 0, total = progress_devs(eng, 0, 1, &err);

	total += progress_rest(eng);
	return total ? total : err;
}

static void core_progress(void *arg)
{
	struct mcx_engine *eng = arg;

	if (!eng->poller_on)
		mcx__engine_progress(eng);
	else
		sched_yield();
}

/* One progress thread beyond the poller: its devices, and its wake fd. */
struct mcx_cq_poller {
	struct mcx_engine *eng;
	uint32_t index;
	int wake_fd;			/* eventfd: written to stop or wake it */
	atomic_bool asleep;		/* between its last look and its wake-up */
	pthread_t thread;
	bool running;
};

void mcx__engine_wake(struct mcx_engine *eng)
{
	uint64_t one = 1;

	/* A poller that is awake sees the new work on its next pass. */
	if (eng->poller_on && atomic_load(&eng->poller_asleep) &&
	    write(eng->wake_fd, &one, sizeof(one)) < 0)
		one = 0;	/* the counter is full: it is awake anyway */
	/*
	 * So do the completion threads: new work on a manual-progress
	 * device moves only in its thread's progress, which must not wait
	 * out an idle sleep first.
	 */
	for (uint32_t i = 0; eng->cq_pollers && i + 1 < eng->nr_pollers; i++) {
		struct mcx_cq_poller *cp = &eng->cq_pollers[i];

		if (cp->running && atomic_load(&cp->asleep) &&
		    write(cp->wake_fd, &one, sizeof(one)) < 0)
			one = 1;
	}
}

static void core_wake(void *arg)
{
	mcx__engine_wake(arg);
}

/*
 * Arm the devices i with i % step == first, then sleep until one has an
 * event, wake_fd is written (or, with reg, the registry has an event) or
 * timeout_ms passed.
 */
static void poller_sleep(struct mcx_engine *eng, uint32_t first, uint32_t step, int wake_fd,
			 bool reg, int timeout_ms)
{
	const struct mcx_transport_ops *ops = eng->devs.ops;
	struct pollfd fds[MCX_TP_MAX_DEVS + 2];
	nfds_t n = 0;
	int reg_fd = reg ? mcx__warm_fd(eng) : -1;
	uint64_t v;

	for (uint32_t i = first; i < eng->devs.n; i += step) {
		int fd = ops->wait_fd(eng->devs.dev[i]), armed;

		/*
		 * A device whose data moves only in progress (libfabric's
		 * manual progress) serves its peers' reads and writes there
		 * too: without a fd to sleep on, or when the provider says
		 * it has work, it is polled at least every millisecond.
		 */
		if (fd < 0 && !(eng->devs.attr[i].caps & MCX_TP_CAP_MANUAL_PROGRESS))
			continue;
		pthread_mutex_lock(&eng->devs.progress_lock[i]);
		armed = ops->arm(eng->devs.dev[i]);
		pthread_mutex_unlock(&eng->devs.progress_lock[i]);
		if (armed && (eng->devs.attr[i].caps & MCX_TP_CAP_MANUAL_PROGRESS))
			timeout_ms = fd < 0 ? (timeout_ms > 1 ? 1 : timeout_ms) : 0;
		if (fd < 0)
			continue;
		fds[n].fd = fd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	if (reg_fd >= 0) {
		/* Events of /dev/mcxfer: read by the next progress pass. */
		fds[n].fd = reg_fd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	fds[n].fd = wake_fd;
	fds[n].events = POLLIN;
	fds[n].revents = 0;
	if (poll(fds, n + 1, timeout_ms) <= 0)
		return;
	if ((fds[n].revents & POLLIN) && read(wake_fd, &v, sizeof(v)) < 0)
		v = 0;
}

static bool devs_busy(struct mcx_engine *eng, uint32_t first, uint32_t step)
{
	bool busy = false;

	for (uint32_t i = first; i < eng->devs.n; i += step)
		busy |= eng->devs.ops->dev_inflight(eng->devs.dev[i]) > 0;
	return busy;
}

static void *poller_main(void *arg)
{
	struct mcx_engine *eng = arg;
	uint32_t step = eng->nr_pollers ? eng->nr_pollers : 1;
	uint64_t last_work = 0;

	while (!atomic_load(&eng->stopping)) {
		int err = 0, n = progress_devs(eng, 0, step, &err) + progress_rest(eng);
		uint64_t now = mcx__now_ns();
		bool busy = devs_busy(eng, 0, step), live;

		if (n > 0)
			last_work = now;
		/*
		 * Asleep first, then look at the batches: a submit that comes
		 * after this sees asleep and writes the wake fd; one before it
		 * is in the list we read, and the sleep is short.
		 */
		atomic_store(&eng->poller_asleep, true);
		live = eng->xfer.active != NULL || busy;
		if (busy && now - last_work < POLLER_SPIN_NS)
			sched_yield();
		else
			/* Arming comes before the next poll, so no event is missed. */
			poller_sleep(eng, 0, step, eng->wake_fd, true,
				     live ? POLLER_SLEEP_MS : POLLER_IDLE_MS);
		atomic_store(&eng->poller_asleep, false);
	}
	return NULL;
}

/*
 * A further progress thread: only its devices' completions.  Deadlines
 * are the poller's, so it sleeps on its devices' fds alone (a manual
 * progress device is polled every millisecond by poller_sleep anyway).
 */
static void *cq_poller_main(void *arg)
{
	struct mcx_cq_poller *cp = arg;
	struct mcx_engine *eng = cp->eng;
	uint32_t step = eng->nr_pollers;
	uint64_t last_work = 0;

	while (!atomic_load(&eng->stopping)) {
		int err = 0, n = progress_devs(eng, cp->index, step, &err);
		uint64_t now = mcx__now_ns();
		bool busy = devs_busy(eng, cp->index, step);

		if (n > 0)
			last_work = now;
		/* As the poller's: asleep first, so a submit after this wakes it. */
		atomic_store(&cp->asleep, true);
		if (busy && now - last_work < POLLER_SPIN_NS)
			sched_yield();
		else
			poller_sleep(eng, cp->index, step, cp->wake_fd, false,
				     busy ? POLLER_SLEEP_MS : POLLER_IDLE_MS);
		atomic_store(&cp->asleep, false);
	}
	return NULL;
}

/*
 * How many progress threads: none without the poller; on libfabric (an
 * RDM transport) MCX_FABRIC_CQ_THREADS of them (0: the application's
 * progress calls alone), at most one per device (a device is polled by
 * one thread).
 */
static uint32_t progress_threads(const struct mcx_engine *eng)
{
	uint32_t n;

	if (!eng->opts.poller)
		return 0;
	if (!eng->devs.n || !(eng->devs.attr[0].caps & MCX_TP_CAP_RDM))
		return 1;
	n = eng->opts.fabric_cq_threads;
	if (n > eng->devs.n) {
		mcx__info("fabric: %u completion thread(s) asked for, %u device(s): %u thread(s)",
			  n, eng->devs.n, eng->devs.n);
		n = eng->devs.n;
	}
	return n;
}

static void cq_pollers_stop(struct mcx_engine *eng)
{
	uint64_t one = 1;

	if (!eng->cq_pollers)
		return;
	atomic_store(&eng->stopping, true);
	for (uint32_t i = 0; i + 1 < eng->nr_pollers; i++) {
		struct mcx_cq_poller *cp = &eng->cq_pollers[i];

		if (cp->running) {
			if (write(cp->wake_fd, &one, sizeof(one)) < 0)
				one = 1;	/* full: it wakes anyway */
			pthread_join(cp->thread, NULL);
		}
		if (cp->wake_fd >= 0)
			close(cp->wake_fd);
	}
	free(eng->cq_pollers);
	eng->cq_pollers = NULL;
}

/* Threads 1.. of nr_pollers (the poller runs already). */
static int cq_pollers_start(struct mcx_engine *eng)
{
	uint32_t extra = eng->nr_pollers - 1;

	if (!extra)
		return 0;
	eng->cq_pollers = calloc(extra, sizeof(*eng->cq_pollers));
	if (!eng->cq_pollers)
		return -ENOMEM;
	for (uint32_t i = 0; i < extra; i++)
		eng->cq_pollers[i].wake_fd = -1;
	for (uint32_t i = 0; i < extra; i++) {
		struct mcx_cq_poller *cp = &eng->cq_pollers[i];
		char name[16];
		int ret;

		cp->eng = eng;
		cp->index = i + 1;
		cp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (cp->wake_fd < 0)
			return -errno;
		snprintf(name, sizeof(name), "mcx-poller%u", cp->index);
		ret = mcx__thread_create(&cp->thread, name, cq_poller_main, cp);
		if (ret) {
			mcx__err("cannot start completion thread %u: %s", cp->index,
				 mcx_strerror(ret));
			return ret;
		}
		cp->running = true;
	}
	return 0;
}

static unsigned int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (unsigned int)n;
}

static int load_key(struct mcx_engine *eng)
{
	int ret;

	if (!eng->opts.auth_key_file)
		return 0;
	eng->key = calloc(1, sizeof(*eng->key));
	if (!eng->key)
		return -ENOMEM;
	ret = mcx__auth_key_load(eng->store.auth_key_from_env ? "MCX_AUTH_KEY_FILE" :
								 "engine option auth_key_file",
				 eng->opts.auth_key_file, eng->key);
	if (ret) {
		free(eng->key);
		eng->key = NULL;
	}
	return ret;
}

static void free_key(struct mcx_engine *eng)
{
	if (eng->key) {
		mcx__auth_key_wipe(eng->key);
		free(eng->key);
		eng->key = NULL;
	}
}

int mcx__engine_create_with(const struct mcx_engine_opts *opts,
			    const struct mcx_transport_ops *ops, struct mcx_engine **out)
{
	return mcx__engine_create_reg(opts, ops, NULL, out);
}

int mcx__engine_create_reg(const struct mcx_engine_opts *opts,
			   const struct mcx_transport_ops *ops, struct mcx_registry *reg,
			   struct mcx_engine **out)
{
	struct mcx_tp_config cfg;
	struct mcx_engine *eng;
	struct mcx_steps steps;
	int ret;

	mcx__steps_begin(&steps, "engine create");
	if (!out) {
		mcx_registry_close(reg);
		return -EINVAL;
	}
	*out = NULL;
	eng = calloc(1, sizeof(*eng));
	if (!eng) {
		mcx_registry_close(reg);
		return -ENOMEM;
	}
	eng->reg = reg;
	eng->wake_fd = -1;
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
	ret = mcx__opts_copy_strings(&eng->opts, &eng->store);
	if (ret)
		goto free_eng;
	ret = mcx__opts_from_env(&eng->opts, &eng->store);
	if (ret)
		goto free_eng;
	if (eng->opts.reg_threads == 0)
		eng->opts.reg_threads = online_cpus();
	eng->pid = mcx__pid();
	if (!ops)
		ops = mcx__engine_pick_transport(&eng->opts);
	ret = load_key(eng);
	if (ret)
		goto free_eng;
	mcx__steps_mark(&steps, "options, transport choice and key");

	memset(&cfg, 0, sizeof(cfg));
	cfg.devices = eng->opts.devices;
	cfg.port = eng->opts.port;
	cfg.gid_index = eng->opts.gid_index;
	cfg.tc = eng->opts.tc;
	cfg.sl = eng->opts.sl;
	cfg.mtu = eng->opts.mtu;
	cfg.max_wr = eng->opts.max_wr;
	cfg.qps_per_path = eng->opts.qps_per_pair;
	cfg.relaxed_ordering = eng->opts.relaxed_ordering;
	cfg.fabric_provider = eng->opts.fabric_provider;
	cfg.stripe_min = eng->opts.fabric_stripe_min;
	ret = mcx__warm_open(eng, &cfg);
	if (ret)
		goto free_key;
	mcx__steps_mark(&steps, "registry open");
	ret = mcx__devs_open(&eng->devs, ops, &cfg);
	if (ret)
		goto close_reg;
	mcx__steps_mark(&steps, "devices open");
	ret = mcx__memspace_init(&eng->mem, &eng->devs, eng->opts.reg_chunk_size,
				 eng->opts.reg_threads);
	if (ret)
		goto close_devs;
	eng->mem.gpu_nics_all = eng->opts.gpu_nics == MCX_GPU_NICS_ALL;
	mcx__steps_mark(&steps, "memory space and registration threads");
	mcx__warm_attach(eng);
	mcx__steps_mark(&steps, "shared context ids");

	eng->xfer.peers = &eng->peers;
	eng->xfer.devs = &eng->devs;
	eng->xfer.mem = &eng->mem;
	eng->xfer.slice_size = eng->opts.slice_size;
	/*
	 * Below a device's striping threshold a request is one slice, so it
	 * goes to one device whole; above it, slices of that size stripe.
	 */
	for (uint32_t i = 0; i < eng->devs.n; i++)
		if (eng->devs.attr[i].stripe_min > eng->xfer.slice_size)
			eng->xfer.slice_size = eng->devs.attr[i].stripe_min;
	/* No slice larger than the smallest message a device takes. */
	for (uint32_t i = 0; i < eng->devs.n; i++)
		if (eng->devs.attr[i].max_msg && eng->devs.attr[i].max_msg < eng->xfer.slice_size)
			eng->xfer.slice_size = eng->devs.attr[i].max_msg;
	eng->xfer.timeout_ms = eng->opts.timeout_ms;
	eng->xfer.owner_pid = eng->pid;
	eng->xfer.progress = core_progress;
	eng->xfer.wake = core_wake;
	eng->xfer.core_arg = eng;
	ret = mcx__xfer_init(&eng->xfer);
	if (ret)
		goto fini_mem;
	mcx__steps_mark(&steps, "transfer state");

	pthread_mutex_init(&eng->peers.lock, NULL);
	eng->peers.devs = &eng->devs;
	eng->peers.mem = &eng->mem;
	eng->peers.timeout_ms = eng->opts.timeout_ms;
	eng->peers.qps_per_path = eng->opts.qps_per_pair;
	eng->peers.max_paths_per_conn = eng->opts.listen_max_paths;
	eng->peers.max_conns = eng->opts.listen_max_conns;
	eng->peers.idle_ms = eng->opts.timeout_ms * 2 > LISTEN_IDLE_MS ?
			     eng->opts.timeout_ms * 2 : LISTEN_IDLE_MS;
	eng->peers.flush_ms = eng->opts.timeout_ms > FLUSH_MIN_MS ? eng->opts.timeout_ms :
							     FLUSH_MIN_MS;
	eng->peers.loopback_memcpy = eng->opts.loopback_memcpy;
	eng->peers.key = eng->key;
	eng->peers.hooks = &mcx__xfer_peer_hooks;
	eng->peers.hooks_arg = &eng->xfer;

	eng->nr_pollers = progress_threads(eng);
	if (eng->nr_pollers) {
		eng->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (eng->wake_fd < 0) {
			ret = -errno;
			mcx__err("eventfd for the poller thread: %s", mcx_strerror(ret));
			goto fini_peers;
		}
		eng->poller_on = true;
		eng->xfer.poller_on = true;
		ret = mcx__thread_create(&eng->poller, "mcx-poller", poller_main, eng);
		if (ret) {
			eng->poller_on = false;
			eng->xfer.poller_on = false;
			mcx__err("cannot start the poller thread: %s", mcx_strerror(ret));
			goto fini_peers;
		}
		ret = cq_pollers_start(eng);
		if (ret)
			goto stop_poller;
	}
	mcx__steps_mark(&steps, "poller thread");
	if (eng->opts.listen) {
		if (eng->opts.loopback_memcpy) {
			ret = mcx__local_add(&eng->mem, mcx__xfer_notify, &eng->xfer,
					     &eng->peers.local);
			if (ret)
				goto stop_poller;
		}
		ret = mcx__listener_start(&eng->peers, eng->opts.listen);
		if (ret)
			goto stop_poller;
		mcx__steps_mark(&steps, "listener");
	}
	/* Last: what it publishes names the listener. */
	if (eng->opts.metadata) {
		ret = mcx__meta_start(&eng->peers, eng->opts.metadata, eng->opts.metadata_name,
				      eng->opts.metadata_ttl_s, eng->opts.timeout_ms, &eng->meta);
		if (ret)
			goto stop_listener;
		mcx__steps_mark(&steps, "metadata service");
	}
	mcx__info("engine: %u device(s) (%s), slice %llu bytes, %u WRs per QP, %u QP(s) per path, %u registration thread(s), chunk %llu bytes%s",
		  eng->devs.n, eng->devs.ops->name, (unsigned long long)eng->opts.slice_size,
		  eng->opts.max_wr, eng->opts.qps_per_pair, eng->opts.reg_threads,
		  (unsigned long long)mcx__mem_chunk_size(&eng->mem),
		  eng->key ? ", pre-shared key" : "");
	*out = eng;
	return 0;

stop_listener:
	mcx__listener_stop(&eng->peers);
stop_poller:
	mcx__local_del(eng->peers.local);
	eng->peers.local = NULL;
	cq_pollers_stop(eng);
	if (eng->poller_on) {
		atomic_store(&eng->stopping, true);
		mcx__engine_wake(eng);
		pthread_join(eng->poller, NULL);
		eng->poller_on = false;
	}
fini_peers:
	if (eng->wake_fd >= 0)
		close(eng->wake_fd);
	pthread_mutex_destroy(&eng->peers.lock);
	mcx__xfer_fini(&eng->xfer);
fini_mem:
	mcx__memspace_fini(&eng->mem);
close_devs:
	mcx__devs_close(&eng->devs);
close_reg:
	mcx__warm_close(eng);
	goto free_key_only;
free_key:
	mcx_registry_close(eng->reg);
free_key_only:
	free_key(eng);
	free(eng);
	return ret;
free_eng:
	mcx_registry_close(eng->reg);
	free(eng);
	return ret;
}

/* Whether the host has an AWS EFA device (its RDMA device's driver is efa). */
static bool host_has_efa(void)
{
	DIR *dir = opendir("/sys/class/infiniband");
	struct dirent *e;
	bool efa = false;

	if (!dir)
		return false;
	while (!efa && (e = readdir(dir))) {
		char path[512], target[256];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/infiniband/%s/device/driver", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		efa = !strcmp(strrchr(target, '/') ? strrchr(target, '/') + 1 : target, "efa");
	}
	closedir(dir);
	return efa;
}

const struct mcx_transport_ops *mcx__engine_pick_transport(const struct mcx_engine_opts *o)
{
	switch (o->transport) {
	case MCX_TRANSPORT_VERBS:
		return &mcx__verbs_transport;
	case MCX_TRANSPORT_FABRIC:
		return &mcx__fabric_transport;
	default:
		/* EFA has no RC QPs: only libfabric's RDM reaches its peers. */
		return host_has_efa() ? &mcx__fabric_transport : &mcx__verbs_transport;
	}
}

MCX_EXPORT int mcx_engine_create(const struct mcx_engine_opts *opts, struct mcx_engine **out)
{
	return mcx__engine_create_with(opts, NULL, out);
}

MCX_EXPORT void mcx_engine_destroy(struct mcx_engine *eng)
{
	if (!eng)
		return;
	/* In a fork child nothing of it is ours to tear down (owner.c). */
	if (mcx__engine_check_owner(eng))
		return;
	/* Withdrawn from the metadata service before anything stops answering. */
	mcx__meta_stop(eng->meta);
	eng->meta = NULL;
	/* The listener first: its callers' paths go with their connections. */
	mcx__listener_stop(&eng->peers);
	mcx__local_del(eng->peers.local);
	eng->peers.local = NULL;
	/* Peers the caller did not close. */
	mcx__peers_close_all(&eng->peers);
	cq_pollers_stop(eng);
	if (eng->poller_on) {
		atomic_store(&eng->stopping, true);
		mcx__engine_wake(eng);
		pthread_join(eng->poller, NULL);
		eng->poller_on = false;
		eng->xfer.poller_on = false;
		close(eng->wake_fd);
	}
	mcx__xfer_fini(&eng->xfer);
	/* Registrations the caller did not drop: deregister them now. */
	mcx__memspace_fini(&eng->mem);
	mcx__devs_close(&eng->devs);
	/* Last: the named registrations unpinned their entries through it. */
	mcx__warm_close(eng);
	pthread_mutex_destroy(&eng->peers.lock);
	free_key(eng);
	free(eng);
}

MCX_EXPORT int mcx_engine_progress(struct mcx_engine *eng)
{
	if (!eng)
		return -EINVAL;
	if (mcx__engine_check_owner(eng))
		return -EOWNERDEAD;
	return mcx__engine_progress(eng);
}

MCX_EXPORT int mcx_engine_listen_addr(struct mcx_engine *eng, char *buf, size_t len)
{
	if (!eng || !buf || len == 0)
		return -EINVAL;
	if (!eng->peers.listen_addr[0])
		return -ENOTCONN;
	if (strlen(eng->peers.listen_addr) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, eng->peers.listen_addr);
	return 0;
}

MCX_EXPORT unsigned int mcx_engine_nics(const struct mcx_engine *eng)
{
	return eng ? eng->devs.n : 0;
}

MCX_EXPORT int mcx_engine_stats(struct mcx_engine *eng, struct mcx_engine_stats *out)
{
	if (!eng || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&eng->mem.cache.lock);
	out->reg_hits = eng->mem.cache.hits;
	out->reg_misses = eng->mem.cache.misses;
	out->regs_live = eng->mem.cache.n;
	pthread_mutex_unlock(&eng->mem.cache.lock);
	out->reg_threads = mcx__regpool_threads(eng->mem.pool);
	out->registry = eng->reg != NULL;
	out->shared_ctx = eng->warm.shared;
	out->reg_mr_calls = atomic_load(&eng->mem.reg_mr_calls);
	out->mr_imports = atomic_load(&eng->mem.mr_imports);
	out->named_hits = atomic_load(&eng->mem.named_hits);
	out->named_misses = atomic_load(&eng->mem.named_misses);
	out->lazy_regs = atomic_load(&eng->mem.lazy_regs);
	return 0;
}
