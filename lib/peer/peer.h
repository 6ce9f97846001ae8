/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/peer: peers and their NIC pairs, the remote descriptors, the
 * handshake (client and listener) and the choice of pairs by rail.
 */
#ifndef MCXFER_LIB_PEER_PEER_H
#define MCXFER_LIB_PEER_PEER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctrl/wire.h"
#include "mem/mem.h"
#include "transport/transport.h"
#include "transport/verbs/verbs.h"

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

/* ---- the handshake's internals reached by the unit tests ---- */

/* Largest request the listener reads (CONNECT with every pair is ~10 KiB). */
#define MCX_LISTEN_MAX_REQ	(64U << 10)
/* Connections the listener serves at once; more are accepted and closed. */
#define MCX_LISTEN_MAX_CONNS	128
/* Descriptors a peer may announce in all (bounds what a refetch keeps). */
#define MCX_PEER_MAX_DESCS	(1U << 20)
/* ...and the rkeys of all of them (a hostile peer cannot make us hoard). */
#define MCX_PEER_MAX_DESC_BYTES	(1ULL << 30)

struct mcx_rail_choice {
	uint32_t lnic;		/* index into the local NIC list */
	uint32_t rnic;		/* the remote NIC's index (as it announced it) */
	bool rail;		/* same index or subnet; false: fall-back */
};

/*
 * Choose one pair per local NIC that can reach some remote NIC (same link
 * layer): same index and same IPv4 subnet (or, on a link without IPv4
 * addresses, same index); else a remote NIC in the same subnet, the least
 * used one first; else any remote NIC, the same index or the least used.
 * Fills out[] (room for nl entries) and returns how many pairs were chosen.
 */
uint32_t mcx__rail_choose(const struct mcx_nic_info *local, uint32_t nl,
			  const struct mcx_wire_nic *remote, uint32_t nr,
			  struct mcx_rail_choice *out);

/* Whether two IPv4 addresses (network order) share the shorter prefix. */
bool mcx__same_subnet(uint32_t a, uint8_t alen, uint32_t b, uint8_t blen);

struct mcx_listener_stats {
	uint32_t conns;		/* open now */
	uint64_t accepted;	/* connections accepted and served */
	uint64_t refused;	/* accepted and closed at once: too many */
	uint64_t dropped;	/* closed for bad input, a timeout or an error */
	uint64_t requests;	/* requests answered (errors included) */
};

/* The listener's counters; -ENOTCONN when the engine has none. */
int mcx__listener_stats(struct mcx_engine *eng, struct mcx_listener_stats *st);

#endif /* MCXFER_LIB_PEER_PEER_H */
