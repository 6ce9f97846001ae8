/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/xfer: requests, batches, slicing and posting over a peer's pairs.
 */
#ifndef MCXFER_LIB_XFER_XFER_H
#define MCXFER_LIB_XFER_XFER_H

#include <stdbool.h>
#include <stdint.h>

#include "peer/peer.h"

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


#endif /* MCXFER_LIB_XFER_XFER_H */
