// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fetching a peer's descriptors again after it refused a key.  A remote
 * access error may mean the peer deregistered and registered the memory
 * again (new keys) since we fetched its descriptors; a request should not
 * fail for that while the peer is fine.  The fetch is a round trip on the
 * peer's connection, which must not run on the thread that reaps
 * completions, so one thread per engine does it, started on first need.
 */
#define _GNU_SOURCE	/* pthread_rwlock_t (mem/mem.h) */
#include <errno.h>
#include <stdlib.h>

#include "xfer/xfer.h"

static void *refetch_main(void *arg)
{
	struct mcx_xfer *x = arg;

	pthread_mutex_lock(&x->refetch_lock);
	for (;;) {
		struct mcx_xq *q;
		int ret;

		while (!x->refetch_stop && !x->refetch_q)
			pthread_cond_wait(&x->refetch_cond, &x->refetch_lock);
		if (x->refetch_stop)
			break;
		q = x->refetch_q;
		x->refetch_q = q->refetch_next;
		x->refetch_busy = q;
		pthread_mutex_unlock(&x->refetch_lock);
		ret = mcx__peer_refetch(mcx__xq_peer(q));
		if (ret)
			mcx__warn("peer %s: fetching its registrations after a refused key failed: %s",
				  mcx__xq_peer(q)->addr, mcx_strerror(ret));
		mcx__xq_refetched(q, ret);
		pthread_mutex_lock(&x->refetch_lock);
		x->refetch_busy = NULL;
		pthread_cond_broadcast(&x->refetch_cond);
	}
	pthread_mutex_unlock(&x->refetch_lock);
	return NULL;
}

void mcx__refetch_init(struct mcx_xfer *x)
{
	pthread_mutex_init(&x->refetch_lock, NULL);
	pthread_cond_init(&x->refetch_cond, NULL);
}

void mcx__refetch_fini(struct mcx_xfer *x)
{
	pthread_mutex_lock(&x->refetch_lock);
	x->refetch_stop = true;
	pthread_cond_broadcast(&x->refetch_cond);
	pthread_mutex_unlock(&x->refetch_lock);
	if (x->refetch_on)
		pthread_join(x->refetch_thread, NULL);
	x->refetch_on = false;
	pthread_mutex_destroy(&x->refetch_lock);
	pthread_cond_destroy(&x->refetch_cond);
}

void mcx__refetch_queue(struct mcx_xfer *x, struct mcx_xq *q)
{
	bool fail = false;

	pthread_mutex_lock(&x->refetch_lock);
	if (!x->refetch_on && !x->refetch_stop) {
		if (mcx__thread_create(&x->refetch_thread, "mcx-refetch", refetch_main, x))
			fail = true;
		else
			x->refetch_on = true;
	}
	if (!fail && !x->refetch_stop) {
		q->refetch_next = x->refetch_q;
		x->refetch_q = q;
		pthread_cond_broadcast(&x->refetch_cond);
	}
	pthread_mutex_unlock(&x->refetch_lock);
	/*
	 * No thread (or the engine is going): the refused slices wait on
	 * the queue's list and fail with their request's deadline, or with
	 * the peer when it goes.
	 */
}

void mcx__refetch_forget(struct mcx_xfer *x, struct mcx_xq *q)
{
	pthread_mutex_lock(&x->refetch_lock);
	for (struct mcx_xq **pp = &x->refetch_q; *pp; pp = &(*pp)->refetch_next) {
		if (*pp == q) {
			*pp = q->refetch_next;
			break;
		}
	}
	while (x->refetch_busy == q)
		pthread_cond_wait(&x->refetch_cond, &x->refetch_lock);
	pthread_mutex_unlock(&x->refetch_lock);
}
