/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/peer: the only owner of peers and their paths.
 *
 *   client.c  a peer we opened: its TCP connection (authentication, HELLO,
 *             pings), path set-up and rebuild, descriptor fetches; the
 *             public mcx_peer_* calls
 *   server.c  the listener: authenticates callers, answers HELLO, CONNECT
 *             (on worker threads) and MEM_REQ; keeps the target paths of
 *             each caller for as long as its connection lives
 *   path.c    the path state machine shared by both sides
 *   rail.c    which local device pairs with which remote one
 *   rdesc.c   a peer's registrations as it described them
 *   local.c   recognising an engine of this very process, locally
 *
 * A path (struct mcx_path) is one local device to one remote device,
 * backed by one transport path.  States:
 *
 *   NEW ── open+connect ──> UP ── error ──> STOPPING ── flushed or
 *    ^                                      (tp stopped)  deadline ──> DOWN
 *    └──────────── rebuild after back-off (client side) ──────────────┘
 *
 * Only UP paths take new work.  A STOPPING path's transport path is
 * stopped, so what was posted on it completes (flushed) soon; when nothing
 * is left in flight, or after the flush deadline, it is closed (DOWN) and
 * whatever the hardware never reported is handed back as cancelled.
 *
 * Locking: peer->dlock ("data lock") protects the path states of the peer
 * and the transfer queue xfer/ keeps for it (peer->xq).  Two peers never
 * share a lock on the data path.  Never call a transport's path_open,
 * path_connect or path_close with a dlock held (progress holds the
 * transport's own lock while it calls back into xfer/, which takes dlocks).
 * peer->lock protects the descriptors only (never held across a call
 * out); set-up and rebuilds are serialised by the connection (client.c).
 */
#ifndef MCXFER_LIB_PEER_PEER_H
#define MCXFER_LIB_PEER_PEER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctrl/ctrl.h"
#include "mem/mem.h"
#include "transport/transport.h"

/* Largest request the listener reads (CONNECT with every pair is ~16 KiB). */
#define MCX_LISTEN_MAX_REQ	(64U << 10)
/* Descriptors a peer may announce in all (bounds what a refetch keeps). */
#define MCX_PEER_MAX_DESCS	(1U << 20)
/* ...and the keys of all of them (a hostile peer cannot make us hoard). */
#define MCX_PEER_MAX_DESC_BYTES	(1ULL << 30)
#define MCX_MAX_PATHS		64

struct mcx_peer;
struct mcx_xq;			/* xfer/'s queue of a peer */
struct mcx_listener;

/* ---- rdesc.c: remote descriptors ---- */

/*
 * One registration of a peer: [addr, addr + len) in the peer's address
 * space (kind says which: virtual addresses or iovas), chunk_size bytes per
 * chunk (the last shorter), and the key of every chunk on every device of
 * the peer: keys[chunk * nr_nics + remote device index].  Reference
 * counted: the data path keeps the descriptor a request was resolved
 * against even if a refetch replaces the peer's list.
 */
struct mcx_rdesc {
	atomic_int refs;
	uint64_t id;			/* the peer's registration id */
	uint32_t kind;			/* enum mcx_wire_mem_kind */
	uint64_t addr;
	uint64_t iova;			/* where its MRs were registered: addr + x is iova + x */
	uint64_t len;
	uint64_t chunk_size;
	uint32_t nr_chunks;
	uint32_t nr_nics;
	/*
	 * Bit per remote device index: the devices that hold MRs of it.  A
	 * key says nothing about that (0 is a valid key on some providers),
	 * and memory registered on some NICs only (GPU memory, on those
	 * nearest its GPU) has no MR on the others.
	 */
	uint32_t nics;
	uint64_t keys[];		/* nr_chunks * nr_nics */
};

/*
 * Allocate a descriptor with one reference, keys zeroed, every device
 * holding it (nics).  -EINVAL when
 * the geometry is inconsistent (len 0, chunk_size 0, nr_chunks not
 * ceil(len / chunk_size), nr_nics 0 or > MCX_WIRE_MAX_NICS, addr + len
 * wraps).
 */
int mcx__rdesc_alloc(uint64_t addr, uint64_t len, uint64_t chunk_size,
		     uint32_t nr_chunks, uint32_t nr_nics, struct mcx_rdesc **out);
struct mcx_rdesc *mcx__rdesc_get(struct mcx_rdesc *d);
void mcx__rdesc_put(struct mcx_rdesc *d);

static inline uint64_t mcx__rdesc_key(const struct mcx_rdesc *d, uint32_t chunk,
				      unsigned int rnic)
{
	return d->keys[(size_t)chunk * d->nr_nics + rnic];
}

/* Whether remote device rnic holds MRs of d (its key means something). */
static inline bool mcx__rdesc_on(const struct mcx_rdesc *d, unsigned int rnic)
{
	return rnic < d->nr_nics && rnic < 32 && (d->nics & (1U << rnic));
}

static inline uint32_t mcx__rdesc_chunk_of(const struct mcx_rdesc *d, uint64_t addr)
{
	return (uint32_t)((addr - d->addr) / d->chunk_size);
}

/* Replace the peer's descriptors by v[0..n) (takes the references and v). */
void mcx__peer_set_descs(struct mcx_peer *peer, struct mcx_rdesc **v, size_t n);

/* The descriptor containing [addr, addr + len), with a reference, or NULL. */
struct mcx_rdesc *mcx__peer_find_desc(struct mcx_peer *peer, uint64_t addr, uint64_t len);

/* ---- rail.c ---- */

struct mcx_rail_dev {
	uint32_t index;
	uint32_t fabric;		/* enum mcx_tp_fabric / mcx_wire_fabric */
	uint32_t ipv4;			/* network byte order; 0: none */
	uint8_t prefix;
};

struct mcx_rail_choice {
	uint32_t lnic;		/* index into the local device list */
	uint32_t rnic;		/* the remote device's index (as it announced it) */
	bool rail;		/* same index or subnet; false: fall-back */
};

/*
 * Choose one pair per local device that can reach some remote device (same
 * fabric): same index and same IPv4 subnet (or, without IPv4 addresses,
 * same index); else a remote device in the same subnet, the least used one
 * first; else any remote device, the same index or the least used.  Fills
 * out[] (room for nl entries) and returns how many pairs were chosen.
 */
uint32_t mcx__rail_choose(const struct mcx_rail_dev *local, uint32_t nl,
			  const struct mcx_rail_dev *remote, uint32_t nr,
			  struct mcx_rail_choice *out);

/* Whether two IPv4 addresses (network order) share the shorter prefix. */
bool mcx__same_subnet(uint32_t a, uint8_t alen, uint32_t b, uint8_t blen);

/* ---- local.c: engines of this process ---- */

/*
 * Every engine with a listener registers itself (mcx__local_add) with a
 * handle its peers can use for the same-process short-cut.  A client
 * sends a fresh random probe in its HELLO and records it with its
 * connection (mcx__local_probe_start); a listener that receives a HELLO
 * whose probe is recorded in this process for that same connection claims
 * it for its engine.  The client then reads the claim from the table: no
 * byte from the network can make a remote engine look local, because only
 * code in this process writes the table, and a probe relayed by a remote
 * server to one of our listeners arrives on another connection.
 */
struct mcx_local_engine;

/*
 * The two ends of one TCP connection, named alike by both of its ends:
 * the caller's (the side that connected) and the listener's address and
 * port, IPv4 as IPv4-mapped IPv6.
 */
struct mcx_local_conn {
	uint8_t caller[16];
	uint8_t listener[16];
	uint16_t caller_port;
	uint16_t listener_port;
};

/* The ends of connected socket fd (accepted: the listener's side).  -errno. */
int mcx__local_conn_of(int fd, bool accepted, struct mcx_local_conn *out);

int mcx__local_add(struct mcx_memspace *mem, void (*notify)(void *arg, void *owner, uint32_t tag),
		   void *notify_arg, struct mcx_local_engine **out);
/* Hand a notification to the local engine le (after a short-cut copy). */
void mcx__local_notify(struct mcx_local_engine *le, uint32_t tag);
/*
 * Remove: from now on copies and notifications through le fail or do
 * nothing.  Waits for those in progress, not for the peers that still
 * hold le (they may be closed later, by the same thread); the last
 * mcx__local_put() frees it.
 */
void mcx__local_del(struct mcx_local_engine *le);
/* A fresh probe (never 0), recorded as pending for the connection conn. */
uint64_t mcx__local_probe_start(const struct mcx_local_conn *conn);
/* The listener's side: claim probe for le if it is pending here for conn. */
void mcx__local_probe_claim(uint64_t probe, const struct mcx_local_conn *conn,
			   struct mcx_local_engine *le);
/*
 * The client's side: the engine that claimed probe, with a reference
 * (drop it with mcx__local_put), or NULL; the probe is forgotten.
 */
struct mcx_local_engine *mcx__local_probe_end(uint64_t probe);
void mcx__local_put(struct mcx_local_engine *le);
/*
 * The short-cut copy: len bytes between our buffer and the address raddr
 * of the local engine le, which must lie inside one of its exported host
 * registrations.  0, -EFAULT when it does not, -ECONNRESET when the
 * engine is gone.
 */
int mcx__local_copy(struct mcx_local_engine *le, bool read, void *local, uint64_t raddr,
		    uint64_t len);
/*
 * The same, knowing our buffer's registration lmem (NULL: host memory):
 * when either end is GPU memory the copy goes through the CUDA driver
 * (cuMemcpy), never a CPU copy of device addresses; its error then too.
 * The far end may also be an exported GPU registration.
 */
int mcx__local_copy_mem(struct mcx_local_engine *le, bool read, const struct mcx_mem *lmem,
			void *local, uint64_t raddr, uint64_t len);

/* ---- paths (path.c) ---- */

enum mcx_path_state {
	MCX_PATH_NEW = 0,		/* no transport path */
	MCX_PATH_UP = 1,		/* takes work */
	MCX_PATH_STOPPING = 2,		/* failed: waiting for its work to flush */
	MCX_PATH_DOWN = 3,		/* closed; the client may rebuild it */
};

struct mcx_path {
	struct mcx_peer *peer;
	uint32_t ldev;			/* index into the engine's devices */
	uint32_t rdev;			/* the peer's device index (key column) */
	uint32_t rcaps;			/* its MCX_TP_CAP_* (how it takes addresses) */
	bool rail;
	enum mcx_path_state state;	/* under peer->dlock */
	int err;			/* why it went down, 0 otherwise */
	struct mcx_tp_path *tp;		/* NULL in NEW and DOWN */
	uint64_t stop_ns;		/* when it started stopping */
	uint64_t retry_ns;		/* DOWN: not rebuilt before this */
	uint32_t backoff_ms;		/* the next back-off */
	uint32_t rebuilds;
	/* Counters (under dlock), reported by mcx_peer_stats(). */
	uint64_t bytes;
	uint64_t ops;
	uint64_t retried;		/* operations moved from it to another path */
};

/*
 * Fail path with err (dlock held): UP → STOPPING, the transport path is
 * stopped so its work flushes back.  Idempotent.
 */
void mcx__path_fail_locked(struct mcx_path *path, int err);

/* ---- peers ---- */

enum mcx_peer_state {
	MCX_PEER_NEW = 0,		/* opened, not connected yet (lazy) */
	MCX_PEER_CONNECTING = 1,
	MCX_PEER_READY = 2,		/* paths made, descriptors known */
	MCX_PEER_DEAD = 3,		/* failed: peer->err says why */
	MCX_PEER_CLOSING = 4,
};

/*
 * What peer/ needs from the rest of the engine (filled in by core/).
 * hooks are xfer/'s: peer/ calls them, never the other way round through
 * a header.
 */
struct mcx_peer_hooks {
	/* The peer died (dlock not held): fail its queued work with err. */
	void (*peer_dead)(void *arg, struct mcx_peer *peer, int err);
	/* Paths came up (dlock not held): post what waits for them. */
	void (*paths_up)(void *arg, struct mcx_peer *peer);
	/* A transport path is being closed: ctx was never reaped. */
	void (*unreaped)(void *arg, void *ctx);
	/*
	 * The peer's connection is about to be freed (no reap or event
	 * reaches the peer any more): when this returns, no thread of xfer/
	 * may be in a call on it (the refetch thread's descriptor fetch).
	 */
	void (*conn_closing)(void *arg, struct mcx_peer *peer);
	/* The peer is about to be freed: drop what xfer/ keeps for it. */
	void (*peer_gone)(void *arg, struct mcx_peer *peer);
	/* Move completions along once (peer close waits for flushes). */
	void (*progress)(void *arg);
};

struct mcx_peer_env {
	const struct mcx_devs *devs;
	struct mcx_memspace *mem;
	uint32_t timeout_ms;
	uint32_t qps_per_path;
	uint32_t max_paths_per_conn;	/* listener cap */
	uint32_t max_conns;		/* listener cap */
	uint32_t idle_ms;		/* listener: idle connections close */
	uint32_t flush_ms;		/* STOPPING paths close after this */
	bool loopback_memcpy;
	const struct mcx_auth_key *key;	/* NULL: no authentication */
	const struct mcx_peer_hooks *hooks;
	void *hooks_arg;

	pthread_mutex_t lock;		/* the list of peers */
	struct mcx_peer *peers;
	struct mcx_listener *listener;
	struct mcx_local_engine *local;	/* with a listener */
	char listen_addr[272];
};

struct mcx_peer_conn;	/* client.c's */

struct mcx_peer {
	struct mcx_peer_env *env;
	struct mcx_peer *prev, *next;	/* env->peers, under env->lock */
	char addr[272];			/* "host:port" as given */
	struct mcx_local_engine *local;	/* same process: the other engine */

	pthread_mutex_t lock;		/* descs (a leaf lock) */
	struct mcx_rdesc **descs;	/* sorted by addr */
	size_t nr_descs;
	bool descs_preloaded;		/* from metadata: no fetch at connect */

	pthread_mutex_t dlock;		/* state, paths[] states, xq */
	enum mcx_peer_state state;
	int err;			/* -errno once DEAD */
	uint32_t nr_paths;
	struct mcx_path paths[MCX_MAX_PATHS];
	uint32_t next_path;		/* striping cursor */
	uint32_t remote_ndevs;
	struct mcx_xq *xq;		/* xfer/'s; NULL until it makes one */

	struct mcx_peer_conn *conn;
};

/*
 * Make sure peer is connected: if it is NEW, make its paths, fetch its
 * descriptors and mark it READY; if another thread does, wait.  0 when
 * READY, else the error (the peer is then DEAD).  Blocking: no lock held.
 */
int mcx__peer_connect(struct mcx_peer *peer);

/*
 * Warm-up of a connected peer's paths (transports with path_warm): probe
 * each path that is up until every probe came back, within timeout_ms.
 * 0, or the first probe's error, the peer's or a path's error, or
 * -ETIMEDOUT.  Blocking: no lock held.
 */
int mcx__peer_warm_paths(struct mcx_peer *peer);

/*
 * find_desc, and on a miss (or with refetch) fetch the peer's descriptors
 * again and look again.  -EFAULT (logged) when the range is still not
 * covered.  Blocking: no lock held.
 */
int mcx__peer_resolve(struct mcx_peer *peer, uint64_t addr, uint64_t len, bool refetch,
		      struct mcx_rdesc **out);

/* Fetch the peer's descriptors again (blocking, no lock held). */
int mcx__peer_refetch(struct mcx_peer *peer);

/*
 * An UP path of peer for the next operation, round-robin (dlock held), or
 * NULL: *why is then the error to fail with when no path can ever take it
 * now (every path down and none to rebuild), or 0 when the caller should
 * wait (paths stopping or being rebuilt).
 */
struct mcx_path *mcx__peer_pick_locked(struct mcx_peer *peer, uint32_t skip_mask, int *why);

/*
 * The paths of peer (bit per path) that cannot carry a notification: a
 * device at either end without MCX_TP_CAP_WRITE_IMM (libfabric providers
 * without 8 bytes of remote CQ data).  dlock held or the peer READY.
 */
uint32_t mcx__peer_no_notify_mask(const struct mcx_peer *peer);
/* A bit for each path of peer (the first 32), as the masks above use. */
uint32_t mcx__peer_paths_mask(const struct mcx_peer *peer);
/* Whether path p is up and needs no setup before a first request (dlock held). */
bool mcx__path_warm_locked(const struct mcx_path *p);
/*
 * -EOPNOTSUPP when peer is connected and none of its paths can carry a
 * notification; 0 otherwise (a peer in this process, or one not connected
 * yet: asked again once it is).
 */
int mcx__peer_can_notify(struct mcx_peer *peer);

/* The peer is dead: state DEAD, paths failed, hooks->peer_dead. */
void mcx__peer_fail(struct mcx_peer *peer, int err);

/*
 * Housekeeping of every peer, from the progress loop (no lock held):
 * close STOPPING paths whose work is back or whose flush deadline passed.
 * Returns the number of paths closed.
 */
int mcx__peers_reap(struct mcx_peer_env *env);

/* A device went down or came back: fail its paths (no lock held). */
void mcx__peers_dev_event(struct mcx_peer_env *env, uint32_t dev, bool down, int err);
/* A transport event about one path (owner is the struct mcx_path). */
void mcx__peers_path_event(struct mcx_peer_env *env, void *owner, int err);

/* Start/stop the listener on listen ("host:port"); fills env->listen_addr. */
int mcx__listener_start(struct mcx_peer_env *env, const char *listen);
void mcx__listener_stop(struct mcx_peer_env *env);

struct mcx_listener_stats {
	uint32_t conns;		/* open now */
	uint64_t accepted;	/* connections accepted and served */
	uint64_t refused;	/* accepted and closed at once: too many */
	uint64_t dropped;	/* closed for bad input, a timeout or an error */
	uint64_t requests;	/* requests answered (errors included) */
	uint64_t auth_failed;	/* callers that failed authentication */
};

/* The listener's counters; -ENOTCONN when there is none. */
int mcx__listener_stats(struct mcx_peer_env *env, struct mcx_listener_stats *st);

/* Close every peer (engine destruction); hooks run as for a close. */
void mcx__peers_close_all(struct mcx_peer_env *env);

/*
 * The metadata blob of this engine (mcx_engine_export_md): its length, or
 * -ENOBUFS with *need set when cap is too small.
 */
int mcx__peer_export_md(struct mcx_peer_env *env, void *buf, size_t cap, size_t *need);
/* A peer from a blob (mcx_peer_open_md). */
int mcx__peer_open_md(struct mcx_peer_env *env, const void *md, size_t len,
		      struct mcx_peer **out);

/* Public-API helpers (core/ wraps the mcx_peer_* entry points). */
int mcx__peer_open(struct mcx_peer_env *env, const char *addr, struct mcx_peer **out);
void mcx__peer_close(struct mcx_peer *peer);

#endif /* MCXFER_LIB_PEER_PEER_H */
