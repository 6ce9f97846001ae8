/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/core: the engine, its options and its progress.  It owns nothing of
 * the data path itself: it opens the devices, hands each folder its part
 * and wires their calls together, the only place that knows them all.
 *
 *   mcx_engine ── devs   (transport/: open devices, their progress locks)
 *             ├─ mem    (mem/: registrations, cache, registration pool)
 *             ├─ peers  (peer/: peers, paths, listener, descriptors)
 *             ├─ xfer   (xfer/: batches, per-peer queues, notifications)
 *             └─ poller (a thread that runs progress, or the caller does)
 *
 * Dependencies go one way: util <- registry; util <- transport <- mem <-
 * peer (also <- ctrl) <- xfer <- core; peer <- meta <- core.  peer/ reaches xfer/ only through
 * the hooks core/ installs (struct mcx_peer_hooks).
 *
 * Lock order: xfer.active_lock, peers.lock, (transport's own), peer->dlock,
 * then the leaves (a cache, done_lock, cb_lock, notify_lock).  A device's
 * progress runs under devs.progress_lock[i] and calls back into xfer/,
 * which takes the dlock of the completed work's peer.
 *
 * Everything returns 0 or a negative errno unless it says otherwise.
 */
#ifndef MCXFER_LIB_CORE_CORE_H
#define MCXFER_LIB_CORE_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mcxfer.h"
#include "ctrl/ctrl.h"
#include "mem/mem.h"
#include "meta/meta.h"
#include "peer/peer.h"
#include "registry/registry.h"
#include "transport/transport.h"
#include "util/util.h"
#include "xfer/xfer.h"

/* ------------------------------------------------------------------ */
/* Options (config.c)                                                  */
/* ------------------------------------------------------------------ */

/*
 * Fill *o with the defaults of struct mcx_engine_opts (the public
 * mcx_engine_opts_init() is this).
 */
void mcx__opts_defaults(struct mcx_engine_opts *o);

/*
 * Check every field of *o: -EINVAL (logged, naming the field and the
 * accepted range) for the first bad one.
 */
int mcx__opts_validate(const struct mcx_engine_opts *o);

/*
 * Apply the MCX_* environment variables over *o (copied from the caller's
 * options or the defaults).  Strings set from the environment are copied
 * into the buffers of *store, which must live as long as *o is used.
 * -EINVAL/-ERANGE (logged, naming the variable and the accepted values) for
 * the first bad variable; *o may then be partly updated.
 */
/* Connections per path of the verbs transport (MCX_QPS_PER_PAIR). */
#define MCX_MAX_QPS_PER_PAIR	8

struct mcx__opts_store {
	char devices[512];
	char listen[256];
	char auth_key_file[4096];
	bool auth_key_from_env;		/* for the messages: which setting */
	char fabric_provider[32];
	char metadata[512];
	char metadata_name[MCX_ETCD_NAME_MAX + 1];
};
int mcx__opts_from_env(struct mcx_engine_opts *o, struct mcx__opts_store *store);

/* Copy the caller's strings of *o into *store and point *o at them. */
int mcx__opts_copy_strings(struct mcx_engine_opts *o, struct mcx__opts_store *store);



/* ------------------------------------------------------------------ */
/* The engine (engine.c)                                               */
/* ------------------------------------------------------------------ */

/* The engine's use of /dev/mcxfer (warm.c). */
struct mcx__warm_ctx {
	uint64_t id;
	char ibdev[MCX_IBDEV_NAME_MAX];
};

struct mcx__warm {
	struct mcx_tp_share share;	/* lent to the transport */
	pthread_mutex_t lock;		/* ctx */
	pthread_mutex_t event_lock;	/* one event reader at a time */
	struct mcx__warm_ctx ctx[MCX_TP_MAX_DEVS];	/* shared contexts by id */
	uint32_t shared;		/* devices in a shared context */
};

struct mcx_engine {
	struct mcx_engine_opts opts;	/* after env overrides, validated */
	struct mcx__opts_store store;	/* strings opts points into */
	pid_t pid;			/* its creator, the one process it works in */

	struct mcx_devs devs;		/* transport/ */
	struct mcx_memspace mem;	/* mem/ */
	struct mcx_peer_env peers;	/* peer/ */
	struct mcx_xfer xfer;		/* xfer/ */
	struct mcx_auth_key *key;	/* NULL without MCX_AUTH_KEY_FILE */
	struct mcx_registry *reg;	/* /dev/mcxfer, NULL when not used */
	struct mcx_meta *meta;		/* metadata service, NULL without one */
	struct mcx__warm warm;

	bool poller_on;
	/*
	 * Progress threads: the poller (thread 0) and, on libfabric with
	 * MCX_FABRIC_CQ_THREADS above 1, more, each the only one polling the
	 * devices i with i % nr_pollers == its index (the poller keeps the
	 * rest of progress: peers, deadlines, registry events).
	 */
	uint32_t nr_pollers;
	struct mcx_cq_poller *cq_pollers;	/* [nr_pollers - 1], threads 1.. */
	atomic_bool stopping;
	atomic_bool poller_asleep;	/* between its last look and its wake-up */
	pthread_t poller;
	int wake_fd;			/* eventfd: wakes the sleeping poller */
};

/*
 * mcx_engine_create() over the transport ops rather than the one the
 * options name (ops NULL: that one): the same options, environment, wiring
 * and threads.  The unit tests build engines on a fake transport with it.
 */
int mcx__engine_create_with(const struct mcx_engine_opts *opts,
			    const struct mcx_transport_ops *ops, struct mcx_engine **out);

/*
 * The transport opts.transport names (AUTO: fabric when the host has an
 * AWS EFA device, else verbs).
 */
const struct mcx_transport_ops *mcx__engine_pick_transport(const struct mcx_engine_opts *o);

/* Wake the poller thread (a new batch: its deadline needs watching). */
void mcx__engine_wake(struct mcx_engine *eng);

/* One progress pass over every device (any thread); completions reaped. */
int mcx__engine_progress(struct mcx_engine *eng);
int mcx__engine_check_owner(const struct mcx_engine *eng);	/* owner.c: 0, or -EOWNERDEAD */

/*
 * warm.c: open /dev/mcxfer as opts.registry says (-errno only for
 * REQUIRED) and lend cfg its hooks; attach it to mem/ once the devices are
 * open; close it.  A test may set eng->reg before create (see
 * mcx__engine_create_reg).  warm_progress reads and handles its events
 * (the count handled); warm_fd is the fd to wait on, or -1.
 */
int mcx__warm_open(struct mcx_engine *eng, struct mcx_tp_config *cfg);
void mcx__warm_attach(struct mcx_engine *eng);
void mcx__warm_close(struct mcx_engine *eng);
int mcx__warm_progress(struct mcx_engine *eng);
int mcx__warm_fd(const struct mcx_engine *eng);

/*
 * mcx__engine_create_with() with reg as its registry (taken over, closed
 * with the engine, also on failure) instead of opening /dev/mcxfer: the
 * unit tests hand in a registry whose ioctls they answer.
 */
int mcx__engine_create_reg(const struct mcx_engine_opts *opts,
			   const struct mcx_transport_ops *ops, struct mcx_registry *reg,
			   struct mcx_engine **out);


#endif /* MCXFER_LIB_CORE_CORE_H */
