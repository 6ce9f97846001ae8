/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * libmcxfer engine internals: the objects shared by the engine core
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
#ifndef MCXFER_LIB_ENGINE_H
#define MCXFER_LIB_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "internal.h"
#include "mcxfer.h"

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

#define MCX_MAX_NICS		16	/* selected device ports per engine */
#define MCX_MAX_QPS_PER_PAIR	8	/* MCX_QPS_PER_PAIR upper bound */
#define MCX_MAX_PAIRS		(MCX_MAX_NICS * MCX_MAX_NICS)
#define MCX_GID_LEN		16

struct mcx_rdesc;
struct mcx_slice;
struct mcx_regcache_ent;

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
/* NICs (device.c, relaxed.c)                                          */
/* ------------------------------------------------------------------ */

/* One selected port of one RDMA device. */
struct mcx_nic {
	unsigned int idx;		/* index in eng->nics[], sent on the wire */
	char name[MCX_IBDEV_NAME_MAX];	/* ibv device name, e.g. "rxe0" */
	uint8_t port;			/* 1-based port number */
	struct ibv_context *ctx;
	struct ibv_pd *pd;

	/* Addressing (resolved once at engine creation). */
	int gid_index;			/* chosen (auto or MCX_IB_GID_INDEX) */
	union ibv_gid gid;
	bool gid_roce_v2;		/* GID type of gid_index */
	uint16_t lid;			/* IB link layer only */
	enum ibv_mtu active_mtu;	/* port's active MTU */
	enum ibv_mtu mtu;		/* min(active, MCX_IB_MTU) */
	uint8_t link_layer;		/* IBV_LINK_LAYER_* */
	char netdev[32];		/* netdev of the GID, "" if none */
	uint32_t ipv4;			/* network byte order; 0 if none */
	uint8_t ipv4_prefix;		/* prefix length of ipv4 on netdev */

	/* Device limits (ibv_query_device). */
	uint64_t max_mr_size;
	uint32_t max_mr;
	uint32_t max_qp_wr;
	uint32_t max_cqe;
	uint32_t max_sge;
	uint32_t max_qp_rd_atom;	/* responder depth, for max_dest_rd_atomic */
	uint32_t max_qp_init_rd_atom;	/* initiator depth, for max_rd_atomic */

	/* Relaxed ordering: decided once by mcx__relaxed_decide(). */
	bool relaxed;			/* IBV_ACCESS_RELAXED_ORDERING in use */
	char relaxed_reason[160];	/* why, for the log and mcxfer-tool */
	int mr_access;			/* IBV_ACCESS_* flags for every MR */

	/* Completion queue shared by this NIC's QPs (verbs.c). */
	struct ibv_comp_channel *channel;	/* wakes the poller thread */
	struct ibv_cq *cq;
	uint32_t cq_size;		/* entries; never more outstanding */
	uint32_t cq_outstanding;	/* signalled WRs posted, not yet polled */

	atomic_uint_fast32_t nr_mrs;	/* live MRs, checked against max_mr */
};

/*
 * Open the devices selected by eng->opts (names or all, ports, GID index)
 * into eng->nics[] / eng->nr_nics.  -ENODEV (logged) when nothing usable is
 * found or a named device/port does not exist or is not ACTIVE.
 */
int mcx__devices_open(struct mcx_engine *eng);
void mcx__devices_close(struct mcx_engine *eng);

/*
 * Read the devices' asynchronous events (non-blocking) and act on them:
 * a port going down, a fatal device, CQ or QP error fails the pairs it
 * affects at once instead of waiting for their WRs to time out.
 * eng->lock held.
 */
void mcx__devices_events_locked(struct mcx_engine *eng);

/*
 * Pick the GID of (ctx, port): the configured index, or with gid_index < 0
 * the RoCE v2 entry with an IPv4-mapped address (index 0 on an IB link).
 * Fills nic->gid_index, gid, gid_roce_v2, netdev, ipv4, ipv4_prefix.
 * -ENOENT (logged) when auto finds none, -EINVAL for a bad fixed index.
 */
int mcx__gid_select(struct mcx_nic *nic, int gid_index);

/*
 * Relaxed ordering for nic under policy (0 off, 1 on if supported, 2 auto):
 * sets nic->relaxed, nic->relaxed_reason and nic->mr_access, and logs the
 * decision at info level (log != 0; mcxfer-tool passes 0).
 */
void mcx__relaxed_decide(struct mcx_nic *nic, int policy, int log);

/*
 * What the device itself supports: 1 yes, 0 no, with a reason in why.
 * Reads the PCIe Device Control register of the device's PCI function from
 * sysfs_dev/config (sysfs_dev: /sys/class/infiniband/<dev>/device); no PCI
 * function (software device) or an unreadable capability is 0.
 * Exposed for the unit tests, which point it at a fake config file.
 */
int mcx__relaxed_pci_enabled(const char *sysfs_dev, char *why, size_t whylen);

/* ------------------------------------------------------------------ */
/* Local registrations (mem.c, regpool.c, regcache.c)                  */
/* ------------------------------------------------------------------ */

enum mcx_mem_kind {
	MCX_MEM_HOST = 0,		/* ibv_reg_mr on process memory */
	MCX_MEM_DMABUF = 1,		/* ibv_reg_dmabuf_mr */
};

/*
 * A registration: [addr, addr + len) split into nr_chunks chunks of
 * chunk_size bytes (the last one shorter), each registered with every NIC.
 * addr is the address transfers use: the virtual address for host memory,
 * the iova for a dma-buf.
 */
struct mcx_mem {
	struct mcx_engine *eng;
	uint64_t id;			/* unique in the engine, never reused */
	enum mcx_mem_kind kind;
	uint64_t addr;
	uint64_t len;
	uint64_t chunk_size;
	uint32_t nr_chunks;
	uint32_t nr_nics;		/* eng->nr_nics when registered */
	unsigned int flags;		/* MCX_MEM_* */
	struct ibv_mr **mrs;		/* [chunk * nr_nics + nic] */
	int dmabuf_fd;			/* -1 for host memory */
	uint64_t dmabuf_offset;
	atomic_int refs;		/* under cache->lock once cached */
	bool cached;			/* in eng->cache's index */
};

/* The MR of (chunk, nic) and the chunk index of an address inside mem. */
static inline struct ibv_mr *mcx__mem_mr(const struct mcx_mem *m, uint32_t chunk,
					 unsigned int nic)
{
	return m->mrs[(size_t)chunk * m->nr_nics + nic];
}

static inline uint32_t mcx__mem_chunk_of(const struct mcx_mem *m, uint64_t addr)
{
	return (uint32_t)((addr - m->addr) / m->chunk_size);
}

/* The chunk size mem.c uses for len bytes on the engine's NICs: the
 * configured size capped by every NIC's max_mr_size. */
uint64_t mcx__mem_chunk_size(const struct mcx_engine *eng);

/* Deregister every MR of m and free it (refs must have reached 0). */
void mcx__mem_destroy(struct mcx_mem *m);

/* Drop one reference (from mcx__regcache_find/get); the last destroys m. */
void mcx__mem_put(struct mcx_mem *m);

/*
 * Snapshot of the engine's live registrations as descriptors for a peer
 * (rkey of every chunk on every local NIC, nics indexed by nic->idx).
 * *out is an array of *n references the caller drops with mcx__rdesc_put()
 * and then frees with free().  Used by the handshake to send descriptors.
 */
int mcx__mem_snapshot(struct mcx_engine *eng, struct mcx_rdesc ***out, size_t *n);

/* -- regpool.c: registration worker pool -- */

/* One chunk × NIC registration. */
struct mcx_reg_job {
	struct mcx_mem *mem;
	uint32_t chunk;
	unsigned int nic;
};

struct mcx_regpool;

/* Start nthreads workers (0 is not allowed). */
int mcx__regpool_create(unsigned int nthreads, struct mcx_regpool **out);
void mcx__regpool_destroy(struct mcx_regpool *pool);
unsigned int mcx__regpool_threads(const struct mcx_regpool *pool);

/*
 * Run jobs[0..n) on the pool and wait for all of them.  Each job registers
 * its chunk into mem->mrs.  On any failure the remaining jobs are skipped,
 * every MR already made by this call is deregistered (mrs[] back to NULL)
 * and the first error is returned.
 */
int mcx__regpool_run(struct mcx_regpool *pool, struct mcx_reg_job *jobs, size_t n);

/* Register one job in the calling thread (what the workers call). */
int mcx__reg_job_do(struct mcx_reg_job *job);

/* -- regcache.c: interval index of live registrations -- */

struct mcx_regcache {
	pthread_mutex_t lock;
	struct mcx_regcache_ent *v;	/* sorted by addr, then len */
	uint64_t *maxend;		/* maxend[i] = max end of v[0..i] */
	size_t n, cap;
	uint64_t hits, misses;
};

int mcx__regcache_init(struct mcx_regcache *c);
/* Entries still inside are not freed (the engine deregisters them first). */
void mcx__regcache_destroy(struct mcx_regcache *c);

/*
 * A live registration of kind that contains [addr, addr + len), with one
 * more reference (the most recent such one); NULL if none.  Counts a hit or
 * a miss.
 */
struct mcx_mem *mcx__regcache_get(struct mcx_regcache *c, enum mcx_mem_kind kind,
				  uint64_t addr, uint64_t len);

/* Like get, for the data path: any kind, and no hit/miss counting. */
struct mcx_mem *mcx__regcache_find(struct mcx_regcache *c, uint64_t addr, uint64_t len);

/* Add m (refs >= 1) to the index.  -ENOMEM. */
int mcx__regcache_insert(struct mcx_regcache *c, struct mcx_mem *m);

/*
 * Drop one reference.  Returns the references left; at 0 m has been removed
 * from the index and the caller destroys it.  -EINVAL if m had none.
 */
int mcx__regcache_put(struct mcx_regcache *c, struct mcx_mem *m);

/* Copy up to max live entries (each with one more reference) to out; the
 * number copied, or the number live when out is NULL. */
size_t mcx__regcache_list(struct mcx_regcache *c, struct mcx_mem **out, size_t max);

/* ------------------------------------------------------------------ */
/* Remote memory descriptors (rdesc.c)                                 */
/* ------------------------------------------------------------------ */

/*
 * One registration of a peer: [addr, addr + len) in the peer's address
 * space, chunk_size bytes per chunk (the last shorter), and the rkey of
 * every chunk on every NIC of the peer: rkeys[chunk * nr_nics + remote nic
 * index].  Reference counted: the data path keeps the descriptor a request
 * was resolved against even if a refetch replaces the peer's list.
 */
struct mcx_rdesc {
	atomic_int refs;
	uint64_t id;			/* the peer's mcx_mem id */
	uint64_t addr;
	uint64_t len;
	uint64_t chunk_size;
	uint32_t nr_chunks;
	uint32_t nr_nics;
	uint32_t rkeys[];		/* nr_chunks * nr_nics */
};

/*
 * Allocate a descriptor with one reference, rkeys zeroed.  -EINVAL when
 * the geometry is inconsistent (len 0, chunk_size 0, nr_chunks not
 * ceil(len / chunk_size), nr_nics 0 or > MCX_MAX_NICS, addr + len wraps).
 */
int mcx__rdesc_alloc(uint64_t addr, uint64_t len, uint64_t chunk_size,
		     uint32_t nr_chunks, uint32_t nr_nics, struct mcx_rdesc **out);
struct mcx_rdesc *mcx__rdesc_get(struct mcx_rdesc *d);
void mcx__rdesc_put(struct mcx_rdesc *d);

static inline uint32_t mcx__rdesc_rkey(const struct mcx_rdesc *d, uint32_t chunk,
				       unsigned int rnic)
{
	return d->rkeys[(size_t)chunk * d->nr_nics + rnic];
}

static inline uint32_t mcx__rdesc_chunk_of(const struct mcx_rdesc *d, uint64_t addr)
{
	return (uint32_t)((addr - d->addr) / d->chunk_size);
}

/*
 * Replace the peer's descriptor list by v[0..n) (takes over the references
 * and the array, which must come from malloc; v may be NULL when n is 0).
 * Takes peer->lock.
 */
void mcx__peer_set_descs(struct mcx_peer *peer, struct mcx_rdesc **v, size_t n);

/*
 * The peer descriptor containing [addr, addr + len), with one more
 * reference, or NULL.  Takes peer->lock.
 */
struct mcx_rdesc *mcx__peer_find_desc(struct mcx_peer *peer, uint64_t addr, uint64_t len);

/*
 * find_desc, and on a miss ask the peer for its descriptors once
 * (mcx__peer_refetch) and look again.  -EFAULT (logged) when the range is
 * still not covered.  Blocking: never call with eng->lock held.
 */
int mcx__peer_resolve(struct mcx_peer *peer, uint64_t addr, uint64_t len,
		      struct mcx_rdesc **out);

/* ------------------------------------------------------------------ */
/* Peers and NIC pairs                                                 */
/* ------------------------------------------------------------------ */

/* What a NIC tells a peer about itself (for rail choice and addressing). */
struct mcx_nic_info {
	uint32_t idx;
	char name[MCX_IBDEV_NAME_MAX];
	uint8_t port;
	uint8_t link_layer;		/* IBV_LINK_LAYER_* */
	uint8_t mtu;			/* enum ibv_mtu */
	uint8_t ipv4_prefix;
	uint32_t ipv4;			/* network byte order, 0 if none */
	uint16_t lid;
	uint8_t gid[MCX_GID_LEN];
};

void mcx__nic_describe(const struct mcx_nic *nic, struct mcx_nic_info *out);

/* One QP's connection parameters. */
struct mcx_qp_info {
	uint32_t qpn;			/* 24 bits */
	uint32_t psn;			/* 24 bits */
};

/*
 * One side of a pair as exchanged by the handshake: the QPs, in order
 * (qp[i] of one side connects to qp[i] of the other), and the addressing
 * of the NIC they live on.
 */
struct mcx_ep_info {
	uint8_t gid[MCX_GID_LEN];
	uint16_t lid;
	uint8_t port;
	uint8_t mtu;			/* enum ibv_mtu: the side's nic->mtu */
	uint8_t link_layer;
	uint8_t nqp;			/* 1..MCX_MAX_QPS_PER_PAIR */
	struct mcx_qp_info qp[MCX_MAX_QPS_PER_PAIR];
};

enum mcx_pair_state {
	MCX_PAIR_NEW = 0,		/* QPs not made yet */
	MCX_PAIR_CREATED = 1,		/* QPs in INIT, local info known */
	MCX_PAIR_UP = 2,		/* RTS: slices may be posted */
	MCX_PAIR_FAILED = 3,		/* error: never posted to again */
};

/* One QP of a pair. */
struct mcx_qp {
	struct ibv_qp *qp;
	uint32_t outstanding;		/* WRs posted, completion not yet seen */
};

/*
 * A (local NIC, remote NIC) pair of a peer.  The handshake (peer.c) fills in
 * peer, lnic, rnic and rail, then calls mcx__pair_create(),
 * mcx__pair_connect(); the data path does the rest.
 */
struct mcx_pair {
	struct mcx_peer *peer;
	struct mcx_nic *lnic;
	uint32_t rnic;			/* the peer's NIC index (rkey column) */
	bool rail;			/* chosen by rail (same index/subnet) */
	enum mcx_pair_state state;	/* under eng->lock */
	int err;			/* why it failed (-errno), 0 otherwise */
	uint32_t nqp;
	uint32_t next_qp;		/* round-robin cursor inside the pair */
	struct mcx_qp qp[MCX_MAX_QPS_PER_PAIR];
	struct mcx_ep_info local;	/* what pair_create produced */
	/* Counters (under eng->lock), reported by mcx_peer_stats(). */
	uint64_t bytes;
	uint64_t slices;
	uint64_t retried;		/* slices moved away from this pair */
};

enum mcx_peer_state {
	MCX_PEER_NEW = 0,		/* opened, not connected yet (lazy) */
	MCX_PEER_CONNECTING = 1,
	MCX_PEER_READY = 2,		/* pairs up, descriptors known */
	MCX_PEER_DEAD = 3,		/* failed: peer->err says why */
	MCX_PEER_CLOSING = 4,
};

struct mcx_peer_conn;	/* the handshake's private state (peer.c) */

struct mcx_peer {
	struct mcx_engine *eng;
	struct mcx_peer *prev, *next;	/* eng->peers, under eng->lock */
	char addr[272];			/* "host:port" as given, or of the remote end */
	bool incoming;			/* accepted by our listener */
	bool same_process;		/* the remote engine lives in this process */

	enum mcx_peer_state state;	/* under eng->lock */
	int err;			/* -errno once DEAD */

	pthread_mutex_t lock;		/* descs, connection set-up */
	struct mcx_rdesc **descs;	/* sorted by addr */
	size_t nr_descs;

	uint32_t nr_pairs;		/* set by the handshake */
	struct mcx_pair *pairs;
	uint32_t next_pair;		/* striping cursor (under eng->lock) */
	uint32_t remote_nr_nics;

	uint64_t inflight;		/* slices posted on its pairs (eng->lock) */
	struct mcx_peer_conn *conn;	/* the handshake's; NULL before connect */
};

/* -- implemented by the data path (verbs.c, batch.c, engine.c) -- */

/*
 * Make pair's QPs on pair->lnic and move them to INIT: pair->nqp of them
 * when the caller set it (the listener does: a peer's CONNECT says how many
 * QPs it made, and its own qps_per_pair may differ from ours), else
 * eng->opts.qps_per_pair; fills pair->local (and *local when not NULL) with what the
 * peer needs; state CREATED.
 */
int mcx__pair_create(struct mcx_pair *pair, struct mcx_ep_info *local);

/*
 * Move pair's QPs to RTR then RTS against remote (same nqp, qp[i] to
 * qp[i]), using path MTU min(local, remote, MCX_IB_MTU), TC, SL and the
 * remote GID; state UP.  -EINVAL when remote does not match (nqp, link
 * layer), or the verbs error.
 */
int mcx__pair_connect(struct mcx_pair *pair, const struct mcx_ep_info *remote);

/* Destroy the pair's QPs (call only once no slice is in flight on it). */
void mcx__pair_destroy(struct mcx_pair *pair);

/*
 * Mark pair failed with err (takes eng->lock): its QPs go to the error
 * state so outstanding WRs flush, and their slices are re-posted on the
 * peer's other healthy pairs, or their requests fail when there is none.
 */
void mcx__pair_fail(struct mcx_pair *pair, int err);

/*
 * The peer is dead (TCP lost, process gone): state DEAD with err, every
 * pair failed, every request to it not yet done fails with err.  Takes
 * eng->lock; safe from any thread, idempotent (the first err stays).
 */
void mcx__peer_fail(struct mcx_peer *peer, int err);

/*
 * Add peer to / remove it from eng->peers (takes eng->lock).  Detach first
 * fails what is still queued for it with -ECONNABORTED, moves its pairs to
 * error and waits (progressing the engine itself when there is no poller)
 * until no slice of it is in flight, so the caller may then destroy the
 * pairs and free the peer.
 */
void mcx__peer_attach(struct mcx_engine *eng, struct mcx_peer *peer);
void mcx__peer_detach(struct mcx_peer *peer);

/* mcx__pair_fail with eng->lock already held. */
void mcx__pair_fail_locked(struct mcx_pair *pair, int err);

/* Mark peer READY (takes eng->lock) and post what was waiting for it. */
void mcx__peer_set_ready(struct mcx_peer *peer);

/* -- implemented by the handshake (peer.c) -- */

/*
 * Make sure peer is connected: if it is NEW, run the handshake (pairs,
 * QPs, descriptors) and mark it READY; if it is being connected by another
 * thread, wait for it.  Returns 0 when READY, else the error (the peer is
 * then DEAD with that error).  Blocking: never call with eng->lock held.
 * Called by mcx_batch_submit() for lazy connection.
 */
int mcx__peer_connect(struct mcx_peer *peer);

/*
 * Fetch the peer's descriptors again over the handshake connection and
 * install them with mcx__peer_set_descs().  Blocking (bounded by
 * eng->opts.timeout_ms); never with eng->lock held.
 */
int mcx__peer_refetch(struct mcx_peer *peer);

/*
 * Start/stop the engine's TCP listener on eng->opts.listen (called by
 * mcx_engine_create/destroy when listen is set).  start fills
 * eng->listen_addr with the bound "ip:port"; stop closes it and every
 * incoming peer.
 */
int mcx__listener_start(struct mcx_engine *eng);
void mcx__listener_stop(struct mcx_engine *eng);

/* ------------------------------------------------------------------ */
/* Transport interface                                                 */
/* ------------------------------------------------------------------ */

struct mcx_slice;

/*
 * What a transport provides.  The verbs transport maps a pair to RC QPs;
 * a connectionless one (libfabric RDM) would map a pair to (local
 * endpoint, remote address) with pair_connect inserting the address.
 * All hooks but pair_create/pair_connect/pair_destroy run with eng->lock
 * held and must not block.
 */
struct mcx_transport_ops {
	const char *name;
	/* Make the pair's local endpoint(s); fill pair->local. */
	int (*pair_create)(struct mcx_pair *pair);
	/* Connect the local endpoint(s) to the remote side's. */
	int (*pair_connect)(struct mcx_pair *pair, const struct mcx_ep_info *remote);
	/*
	 * Whether qp of pair can take one more slice now (WR and CQ caps).
	 */
	bool (*can_post)(const struct mcx_pair *pair, uint32_t qp);
	/*
	 * Post slice s (s->pair, s->qp set) as one RDMA read/write.  0, or
	 * -errno when the endpoint refused it (the caller then fails the pair).
	 */
	int (*post)(struct mcx_slice *s);
	/*
	 * Reap up to max completions of nic and hand each to
	 * mcx__slice_done().  Returns how many were reaped, or -errno.
	 */
	int (*poll)(struct mcx_engine *eng, struct mcx_nic *nic, int max);
	/* Move the pair's endpoint(s) to an error state so posted work flushes. */
	void (*pair_error)(struct mcx_pair *pair);
	/* Free the endpoint(s); nothing is in flight. */
	void (*pair_destroy)(struct mcx_pair *pair);
};

extern const struct mcx_transport_ops mcx__verbs_ops;

/* ------------------------------------------------------------------ */
/* Slicing (slice.c: pure arithmetic, unit tested)                     */
/* ------------------------------------------------------------------ */

/*
 * Length of the next slice of a transfer at local address laddr (inside a
 * registration starting at lbase with chunks of lchunk bytes) and remote
 * address raddr (rbase, rchunk likewise), with remaining bytes left: at
 * most slice_size, never crossing a local or a remote chunk boundary.
 * 0 only when remaining is 0.
 */
uint64_t mcx__slice_len(uint64_t laddr, uint64_t lbase, uint64_t lchunk,
			uint64_t raddr, uint64_t rbase, uint64_t rchunk,
			uint64_t remaining, uint64_t slice_size);

/*
 * Number of slices mcx__slice_len() cuts a transfer of len bytes into
 * (0 for len 0).
 */
uint64_t mcx__slice_count(uint64_t laddr, uint64_t lbase, uint64_t lchunk,
			  uint64_t raddr, uint64_t rbase, uint64_t rchunk,
			  uint64_t len, uint64_t slice_size);

/*
 * Round-robin striping: the next index i in [0, n) with usable[i], starting
 * at *cursor; *cursor moves past it.  -1 when none is usable.
 */
int mcx__stripe_next(const bool *usable, uint32_t n, uint32_t *cursor);

/* ------------------------------------------------------------------ */
/* Batches and slices (batch.c)                                        */
/* ------------------------------------------------------------------ */

struct mcx_req {
	struct mcx_batch *batch;
	struct mcx_req *qnext;		/* eng->pending queue */
	enum mcx_op op;
	struct mcx_peer *peer;
	uint64_t laddr;
	uint64_t raddr;
	uint64_t len;
	uint64_t cookie;
	int status;			/* -EINPROGRESS until final */
	bool queued;			/* on eng->pending */
	struct mcx_mem *lmem;		/* reference held while active */
	struct mcx_rdesc *rdesc;	/* reference held while active */
	uint64_t sliced;		/* bytes already cut into slices */
	uint64_t completed;		/* bytes completed */
	uint32_t inflight;		/* slices posted or waiting to be re-posted */
};

/* One RDMA operation on one pair; wr_id of its WR. */
struct mcx_slice {
	struct mcx_req *req;
	struct mcx_slice *next;		/* retry queue / free list */
	struct mcx_pair *pair;		/* NULL while waiting for a re-post */
	uint32_t qp;
	uint64_t off;			/* offset inside the request */
	uint64_t len;
	uint32_t tries;			/* pairs it has been posted on */
};

/*
 * A completion of slice s with status (0, or -errno; -ECANCELED for a
 * flushed WR).  Called by the transport's poll with eng->lock held; the
 * slice goes back to the free list or the retry queue.
 */
void mcx__slice_done(struct mcx_slice *s, int status);

/*
 * Post what can be posted: queued re-posts, then pending requests, in
 * order, until the caps stop it.  eng->lock held.
 */
void mcx__post_pending(struct mcx_engine *eng);

/*
 * One progress pass (eng->lock held): poll every NIC's CQ, post pending
 * work, expire requests past their deadline.  Returns completions reaped
 * or -errno.
 */
int mcx__progress_locked(struct mcx_engine *eng);

struct mcx_batch {
	struct mcx_engine *eng;
	struct mcx_batch *anext, *aprev;	/* eng->active, under eng->lock */
	size_t cap, n;
	struct mcx_req *reqs;
	bool submitted;
	bool freeing;			/* mcx_batch_free() waits for inflight */
	uint64_t deadline_ns;		/* submit time + eng->opts.timeout_ms */
	size_t done;			/* requests with a final status */
	uint32_t inflight;		/* slices of its requests in flight */
};

/* Fail every unfinished request of peer with err (eng->lock held). */
void mcx__fail_peer_requests(struct mcx_peer *peer, int err);

/* ------------------------------------------------------------------ */
/* The engine (engine.c)                                               */
/* ------------------------------------------------------------------ */

struct mcx_listener;	/* peer.c */

struct mcx_engine {
	struct mcx_engine_opts opts;	/* after env overrides, validated */
	struct mcx__opts_store store;	/* strings opts points into */
	uint64_t token;			/* random; identifies this process's engines */

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

/* A process-wide random token: equal tokens mean the same process. */
uint64_t mcx__process_token(void);

/* Monotonic clock in nanoseconds. */
uint64_t mcx__now_ns(void);

#endif /* MCXFER_LIB_ENGINE_H */
