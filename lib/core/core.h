/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/core: the engine and its options.  The engine internals: the objects shared by the engine core
 * (engine.c, config.c, device.c, relaxed.c), registration (mem.c, regpool.c,
 * regcache.c), the data path (slice.c, batch.c, verbs.c, rdesc.c) and the
 * peers (wire.c, peer.c: TCP handshake, descriptor exchange, pair choice).
 *
 * Ownership in one picture:
 *
 *   mcx_engine ── nics[]  (one per selected device port: context, PD, CQ)
 *             ├─ cache    (live local registrations, struct mcx_mem)
 *             ├─ pool     (registration worker threads)
 *             ├─ peers    (list; each peer owns pairs[] and remote descs)
 *             └─ lock     (the data-path lock, see below)
 *
 *   mcx_peer ── pairs[]   (local NIC, remote NIC) → QPs made by the transport
 *            └─ descs[]   the peer's registrations (struct mcx_rdesc)
 *
 * Locking:
 *  - eng->lock ("data-path lock") protects pair state and outstanding
 *    counts, the request and retry queues, batch progress and peer->state.
 *    It is never held across a blocking call (TCP, registration).
 *  - peer->lock protects peer->descs and serialises connection set-up
 *    (mcx__peer_connect) and descriptor refetch.  Order: peer->lock before
 *    eng->lock, never the reverse.
 *  - eng->cache has its own lock (leaf).
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
#include "util/util.h"
#include "registry/registry.h"
#include "transport/transport.h"
#include "transport/verbs/verbs.h"
#include "mem/mem.h"
#include "ctrl/wire.h"
#include "peer/peer.h"
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
struct mcx__opts_store {
	char devices[512];
	char listen[256];
};
int mcx__opts_from_env(struct mcx_engine_opts *o, struct mcx__opts_store *store);

/*
 * Parse "host:port" (host: IPv4 literal, [IPv6] literal, or a name; port
 * 0..65535).  host is copied into host (hostlen bytes with the NUL).
 * -EINVAL naming var for anything else.
 */
int mcx__parse_hostport(const char *var, const char *s, char *host,
			size_t hostlen, uint16_t *port);


/* ------------------------------------------------------------------ */
/* The engine (engine.c)                                               */
/* ------------------------------------------------------------------ */

struct mcx_listener;	/* peer.c */

struct mcx_engine {
	struct mcx_engine_opts opts;	/* after env overrides, validated */
	struct mcx__opts_store store;	/* strings opts points into */
	uint64_t token;			/* random; identifies this process's engines */
	pid_t pid;			/* its creator, the one process it works in */

	uint32_t nr_nics;
	struct mcx_nic nics[MCX_MAX_NICS];
	const struct mcx_transport_ops *tp;

	struct mcx_regcache cache;
	struct mcx_regpool *pool;
	atomic_uint_fast64_t next_mem_id;

	pthread_mutex_t lock;		/* the data-path lock */
	pthread_cond_t cond;		/* broadcast on any request completion */
	struct mcx_peer *peers;		/* list head */
	struct mcx_req *pending_head, *pending_tail;
	struct mcx_slice *retry_head, *retry_tail;
	struct mcx_slice *free_slices;
	struct mcx_batch *active;	/* submitted batches with live requests */

	uint64_t events_ns;		/* when device events were last read */
	bool poller_on;
	bool stopping;
	pthread_t poller;
	int wake_fd;			/* eventfd: wakes the sleeping poller */

	struct mcx_listener *listener;	/* peer.c's; NULL without one */
	char listen_addr[272];		/* bound "ip:port", "" without one */
};

/* Wake the poller thread (a new batch: its deadline needs watching). */
void mcx__engine_wake(struct mcx_engine *eng);
int mcx__engine_check_owner(const struct mcx_engine *eng);	/* owner.c: 0, or -EOWNERDEAD */


#endif /* MCXFER_LIB_CORE_CORE_H */
