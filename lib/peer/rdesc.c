// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Remote memory descriptors: what a peer registered, as the handshake
 * delivered it.  The peer's list is replaced wholesale on a refetch; the
 * descriptors are reference counted so that requests resolved against the
 * old list keep their keys until they finish.
 */
#define _GNU_SOURCE	/* pthread_rwlock_t (mem/mem.h) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "peer/peer.h"

int mcx__rdesc_alloc(uint64_t addr, uint64_t len, uint64_t chunk_size,
		     uint32_t nr_chunks, uint32_t nr_nics, struct mcx_rdesc **out)
{
	struct mcx_rdesc *d;

	*out = NULL;
	if (len == 0 || chunk_size == 0 || addr + len < addr || nr_nics == 0 ||
	    nr_nics > MCX_WIRE_MAX_NICS || (len - 1) / chunk_size + 1 != nr_chunks)
		return -EINVAL;
	d = calloc(1, sizeof(*d) + (size_t)nr_chunks * nr_nics * sizeof(d->keys[0]));
	if (!d)
		return -ENOMEM;
	atomic_store(&d->refs, 1);
	d->addr = addr;
	d->iova = addr;		/* the owner registered where it maps, unless told */
	d->len = len;
	d->chunk_size = chunk_size;
	d->nr_chunks = nr_chunks;
	d->nr_nics = nr_nics;
	d->nics = nr_nics >= 32 ? ~0U : (1U << nr_nics) - 1;
	*out = d;
	return 0;
}

struct mcx_rdesc *mcx__rdesc_get(struct mcx_rdesc *d)
{
	if (d)
		atomic_fetch_add(&d->refs, 1);
	return d;
}

void mcx__rdesc_put(struct mcx_rdesc *d)
{
	if (d && atomic_fetch_sub(&d->refs, 1) == 1)
		free(d);
}

static int cmp_desc(const void *a, const void *b)
{
	const struct mcx_rdesc *x = *(const struct mcx_rdesc *const *)a;
	const struct mcx_rdesc *y = *(const struct mcx_rdesc *const *)b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

void mcx__peer_set_descs(struct mcx_peer *peer, struct mcx_rdesc **v, size_t n)
{
	struct mcx_rdesc **old;
	size_t nold;

	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_desc);
	pthread_mutex_lock(&peer->lock);
	old = peer->descs;
	nold = peer->nr_descs;
	peer->descs = v;
	peer->nr_descs = n;
	pthread_mutex_unlock(&peer->lock);
	for (size_t i = 0; i < nold; i++)
		mcx__rdesc_put(old[i]);
	free(old);
}

struct mcx_rdesc *mcx__peer_find_desc(struct mcx_peer *peer, uint64_t addr, uint64_t len)
{
	struct mcx_rdesc *found = NULL;
	uint64_t end = addr + len;

	if (len == 0 || end < addr)
		return NULL;
	pthread_mutex_lock(&peer->lock);
	/* Registrations may overlap; the list is short, scan it all. */
	for (size_t i = 0; i < peer->nr_descs; i++) {
		struct mcx_rdesc *d = peer->descs[i];

		if (d->addr > addr)
			break;
		if (d->addr + d->len >= end)
			found = d;
	}
	mcx__rdesc_get(found);
	pthread_mutex_unlock(&peer->lock);
	return found;
}

int mcx__peer_resolve(struct mcx_peer *peer, uint64_t addr, uint64_t len, bool refetch,
		      struct mcx_rdesc **out)
{
	int ret;

	*out = refetch ? NULL : mcx__peer_find_desc(peer, addr, len);
	if (*out)
		return 0;
	ret = mcx__peer_refetch(peer);
	if (ret) {
		mcx__warn("peer %s: refetching its registrations failed: %s", peer->addr,
			  mcx_strerror(ret));
	} else {
		*out = mcx__peer_find_desc(peer, addr, len);
		if (*out)
			return 0;
	}
	mcx__err("peer %s: remote range 0x%llx+%llu is not inside memory it registered",
		 peer->addr, (unsigned long long)addr, (unsigned long long)len);
	return -EFAULT;
}
