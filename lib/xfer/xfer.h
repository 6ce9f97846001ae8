/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/xfer: requests, batches, slicing and posting over a peer's paths,
 * completions, deadlines, notifications.
 *
 *   batch.c   the public batch calls, deadlines, waiting
 *   post.c    per-peer queues: cutting requests into slices, posting them
 *             on the peer's paths, completions and retries
 *   notify.c  notifications that arrived for this engine
 *   slice.c   slicing and striping arithmetic (pure, unit tested)
 *
 * Each peer has its own queue (struct mcx_xq, under the peer's dlock): a
 * saturated or wedged peer never stops posting for another, and two peers
 * never contend for a lock on the data path.  Batches span peers: a
 * request's final status is published with an atomic count per batch, and
 * waiters sleep on one condition variable that only finishing requests
 * touch.
 *
 * Status semantics (mcxfer.h): a request's status becomes final only when
 * no NIC holds any of its work any more.  A request past its deadline is
 * failed with -ETIMEDOUT: its queued work is dropped at once and the paths
 * that carry its posted work are stopped, so that work flushes; a path
 * whose flush does not come within the flush deadline is destroyed, which
 * also ends the NIC's access.  So when mcx_batch_wait() reports a status,
 * the buffer is the caller's again.
 */
#ifndef MCXFER_LIB_XFER_XFER_H
#define MCXFER_LIB_XFER_XFER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mem/mem.h"
#include "peer/peer.h"
#include "transport/transport.h"

/* ---- slice.c: pure arithmetic ---- */

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

/* Number of slices mcx__slice_len() cuts a transfer of len bytes into. */
uint64_t mcx__slice_count(uint64_t laddr, uint64_t lbase, uint64_t lchunk,
			  uint64_t raddr, uint64_t rbase, uint64_t rchunk,
			  uint64_t len, uint64_t slice_size);

/*
 * Round-robin striping: the next index i in [0, n) with usable[i], starting
 * at *cursor; *cursor moves past it.  -1 when none is usable.
 */
int mcx__stripe_next(const bool *usable, uint32_t n, uint32_t *cursor);

/* ---- requests and batches ---- */

struct mcx_batch;
struct mcx_slice;

struct mcx_req {
	struct mcx_batch *batch;
	struct mcx_req *qnext;		/* its peer's pending queue */
	enum mcx_op op;
	struct mcx_peer *peer;
	uint64_t laddr;
	uint64_t raddr;
	uint64_t len;
	uint64_t cookie;
	uint32_t tag;			/* notification, with has_tag */
	bool has_tag;
	bool tag_sent;
	bool queued;			/* on its peer's pending queue */
	bool expired;			/* its deadline passed and was acted on */
	bool refetched;			/* a refused key made us ask the peer once */
	int status;			/* -EINPROGRESS until final (under dlock) */
	int failing;			/* the error it ends with once nothing is in flight */
	struct mcx_mem *lmem;		/* reference held while active */
	struct mcx_rdesc *rdesc;	/* reference held while active */
	uint64_t sliced;		/* bytes already cut into slices */
	uint64_t completed;		/* bytes completed */
	uint32_t inflight;		/* slices posted or waiting to be re-posted */
};

/* One operation on one path; the context of its transport op. */
struct mcx_slice {
	struct mcx_req *req;
	struct mcx_slice *next;		/* retry queue / free list */
	struct mcx_path *path;		/* NULL while waiting for a re-post */
	uint64_t off;			/* offset inside the request */
	uint64_t len;			/* 0: the notification after the data */
	uint32_t tries;			/* paths it has been posted on */
	const struct mcx_rdesc *rdesc;	/* the descriptor its key came from */
	uint32_t skip;			/* paths (bit per index < 32) it failed on */
};

typedef void (*mcx__batch_cb)(struct mcx_batch *b, int result, void *arg);

struct mcx_batch {
	struct mcx_xfer *x;
	struct mcx_batch *anext, *aprev;	/* x->active, under active_lock */
	struct mcx_batch *cbnext;		/* x->cb queue */
	size_t cap, n;
	struct mcx_req *reqs;
	bool submitted;
	bool active;
	uint64_t deadline_ns;		/* submit time + timeout_ms */
	atomic_size_t done;		/* requests with a final status */
	atomic_bool cb_queued;
	void (*cb)(struct mcx_batch *b, int result, void *arg);
	void *cb_arg;
};

/* A notification that arrived (notify.c). */
struct mcx_xnotify {
	uint32_t tag;
	char from[64];
};

/* The engine's transfer state. */
struct mcx_xfer {
	struct mcx_peer_env *peers;
	const struct mcx_devs *devs;
	struct mcx_memspace *mem;
	uint64_t slice_size;
	uint32_t timeout_ms;
	pid_t owner_pid;		/* the process the engine works in */

	pthread_mutex_t active_lock;	/* before any dlock */
	struct mcx_batch *active;	/* submitted, not retired */

	pthread_mutex_t done_lock;	/* a leaf: request completions */
	pthread_cond_t done_cond;
	uint64_t done_gen;

	pthread_mutex_t cb_lock;	/* a leaf: batches whose callback is due */
	struct mcx_batch *cb_head, *cb_tail;

	pthread_mutex_t notify_lock;	/* a leaf */
	struct mcx_xnotify *notes;	/* ring of notify_cap */
	uint32_t notify_cap, notify_head, notify_n;
	uint64_t notify_dropped;
	int notify_fd;			/* eventfd: readable while notes wait */

	/* refetch.c: peers whose descriptors are to be fetched again. */
	pthread_mutex_t refetch_lock;
	pthread_cond_t refetch_cond;
	struct mcx_xq *refetch_q;
	struct mcx_xq *refetch_busy;	/* the one being fetched now */
	bool refetch_on, refetch_stop;
	pthread_t refetch_thread;

	/* core/'s: drive progress once (no poller) and wake the poller. */
	void (*progress)(void *arg);
	void (*wake)(void *arg);
	void *core_arg;
	bool poller_on;
};

int mcx__xfer_init(struct mcx_xfer *x);
void mcx__xfer_fini(struct mcx_xfer *x);

/* What peer/ calls back (struct mcx_peer_hooks), arg being the xfer. */
extern const struct mcx_peer_hooks mcx__xfer_peer_hooks;

/* The transport's completion and notification callbacks (arg: the xfer). */
void mcx__xfer_done(void *arg, void *op_ctx, int status);
void mcx__xfer_notify(void *arg, void *path_owner, uint32_t imm);

/*
 * Housekeeping from the progress loop (no lock held): fail requests past
 * their deadline, run due batch callbacks.  Returns whether batches are
 * active (deadlines to watch).
 */
bool mcx__xfer_tick(struct mcx_xfer *x);

/* ---- post.c internals shared with batch.c ---- */

/* Queue r on its peer and post what can be (dlock NOT held). */
void mcx__xq_submit(struct mcx_req *r);
/* Make r's status final if nothing of it is left to do (dlock held). */
void mcx__req_settle_locked(struct mcx_req *r);
/* Fail r with err (its peer's dlock held). */
void mcx__req_fail_locked(struct mcx_req *r, int err);
/* Wake waiters of request completions. */
void mcx__xfer_signal(struct mcx_xfer *x);

/* The engine-facing part of mcx_batch_create(). */
int mcx__batch_create(struct mcx_xfer *x, size_t capacity, struct mcx_batch **out);

/* The queue xfer/ keeps for one peer (peer->xq, under peer->dlock). */
struct mcx_xq {
	struct mcx_xfer *x;
	struct mcx_peer *peer;
	struct mcx_req *pending_head, *pending_tail;
	struct mcx_slice *retry_head, *retry_tail;
	struct mcx_slice *free_slices;
	uint64_t inflight;		/* slices posted on its paths */
	/* Slices refused by the peer's key, waiting for fresh descriptors. */
	struct mcx_slice *refetch;
	bool refetch_queued;		/* on x->refetch_q */
	struct mcx_xq *refetch_next;
};

/* refetch.c: a thread that fetches descriptors after a refused key. */
void mcx__refetch_init(struct mcx_xfer *x);
void mcx__refetch_fini(struct mcx_xfer *x);
/* Queue q's peer (its dlock held). */
void mcx__refetch_queue(struct mcx_xfer *x, struct mcx_xq *q);
/* q is going: take it off the queue, wait while it is being fetched. */
void mcx__refetch_forget(struct mcx_xfer *x, struct mcx_xq *q);
/* post.c: the peer of q, and what to do once its fetch is over. */
struct mcx_peer *mcx__xq_peer(struct mcx_xq *q);
void mcx__xq_refetched(struct mcx_xq *q, int err);

/* notify.c */
int mcx__notify_init(struct mcx_xfer *x, uint32_t cap);
/* Take up to max notifications, oldest first; how many. */
int mcx__notify_poll(struct mcx_xfer *x, struct mcx_notify *out, size_t max);
void mcx__notify_fini(struct mcx_xfer *x);

#endif /* MCXFER_LIB_XFER_XFER_H */
