// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Memory registration: every buffer is registered with every NIC of the
 * engine, in chunks (a chunk is what one MR covers: device limits cap the
 * size of one MR, and chunks are what the pool registers in parallel).  The
 * cache hands out an existing registration for a range it contains, so
 * registering the same buffer twice costs a lookup.
 *
 * A registration is local-only unless made with MCX_MEM_EXPORT: its MRs
 * allow no remote access and peers are never told of it.  Only exported
 * registrations get remote read/write MRs and go into the descriptors the
 * handshake sends (mcx__mem_list_exported).
 */
#define _GNU_SOURCE	/* pthread_rwlock_t (mem/mem.h) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/mem.h"

#define PAGE_4K 4096ULL

uint64_t mcx__mem_chunk_size(const struct mcx_memspace *ms)
{
	uint64_t chunk = ms->chunk_cfg;
	uint64_t cap = mcx__devs_max_mr_size(ms->devs);

	if (cap != UINT64_MAX) {
		cap &= ~(PAGE_4K - 1);
		if (cap && cap < chunk)
			chunk = cap;
	}
	return chunk;
}

int mcx__mem_new(struct mcx_memspace *ms, enum mcx_mem_kind kind, uint64_t addr,
		 uint64_t len, unsigned int flags, int fd, uint64_t offset,
		 struct mcx_mem **out)
{
	struct mcx_mem *m;
	uint64_t chunks;
	size_t slots;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ms = ms;
	m->id = atomic_fetch_add(&ms->next_id, 1);
	m->kind = kind;
	m->addr = addr;
	m->iova = addr;
	m->len = len;
	m->flags = flags;
	m->dmabuf_fd = fd;
	m->dmabuf_offset = offset;
	m->chunk_size = mcx__mem_chunk_size(ms);
	chunks = (len + m->chunk_size - 1) / m->chunk_size;
	if (chunks > UINT32_MAX) {
		free(m);
		return -E2BIG;
	}
	m->nr_chunks = (uint32_t)chunks;
	m->nr_nics = ms->devs->n;
	m->nics = m->nr_nics >= 32 ? ~0U : (1U << m->nr_nics) - 1;
	/* At least one slot: calloc(0) may be NULL, and an engine without NICs
	 * (the unit tests' fake ones) still registers. */
	slots = (size_t)m->nr_chunks * m->nr_nics;
	m->mrs = calloc(slots ? slots : 1, sizeof(*m->mrs));
	if (!m->mrs) {
		free(m);
		return -ENOMEM;
	}
	atomic_store(&m->refs, 1);
	pthread_mutex_init(&m->lazy_lock, NULL);
	*out = m;
	return 0;
}

static void mem_free(struct mcx_mem *m)
{
	/* The dma-buf the library exported from GPU memory is ours. */
	if (m->kind == MCX_MEM_CUDA_DEV && m->dmabuf_fd >= 0)
		close(m->dmabuf_fd);
	pthread_mutex_destroy(&m->lazy_lock);
	free(m->mrs);
	free(m);
}

void mcx__mem_release_slot(struct mcx_mem *m, uint32_t chunk, unsigned int dev, bool destroy)
{
	const struct mcx_transport_ops *ops = m->ms->devs->ops;
	struct mcx_mem_mr *slot = &m->mrs[(size_t)chunk * m->nr_nics + dev];

	if (!slot->mr)
		return;
	/*
	 * An MR whose handles went out belongs to the shared context: a
	 * published or imported one is only let go of (the next engine uses
	 * it), unless destroy says its record is gone; one whose publishing
	 * failed has no other owner and is destroyed.
	 */
	if (slot->origin == MCX_MR_HANDLED ||
	    (destroy && slot->origin != MCX_MR_OWN && ops->mr_destroy))
		ops->mr_destroy(slot->mr);
	else
		ops->mr_dereg(slot->mr);
	if (slot->origin != MCX_MR_IMPORTED)
		atomic_fetch_sub(&m->ms->nr_mrs[dev], 1);
	memset(slot, 0, sizeof(*slot));
}

void mcx__mem_destroy(struct mcx_mem *m)
{
	if (!m)
		return;
	for (uint32_t c = 0; c < m->nr_chunks; c++)
		for (uint32_t n = 0; n < m->nr_nics; n++)
			mcx__mem_release_slot(m, c, n, false);
	if (m->named)
		mcx__mem_named_release(m);
	mem_free(m);
}

/* Drop a reference taken through the cache; the last one deregisters. */
void mcx__mem_put(struct mcx_mem *m)
{
	if (mcx__regcache_put(&m->ms->cache, m) == 0)
		mcx__mem_destroy(m);
}

/*
 * Register all chunks of mems[0..n) on the NICs nics[i] (NULL: each one's
 * own nics) in one pool run, after checking the devices' MR count limits.
 */
static int register_on(struct mcx_memspace *ms, struct mcx_mem **mems, const uint32_t *nics,
		       size_t n, bool local_only)
{
	uint64_t need = 0, slots = 0;
	struct mcx_reg_job *jobs;
	size_t j = 0;
	int ret;

#define NICS_OF(i) (nics ? nics[i] : mems[i]->nics)
	for (size_t i = 0; i < n; i++)
		slots += (uint64_t)mems[i]->nr_chunks * (uint32_t)__builtin_popcount(NICS_OF(i));
	if (slots == 0)
		return 0;	/* nothing to register, no pool needed */
	for (uint32_t k = 0; k < ms->devs->n; k++) {
		const struct mcx_tp_dev_attr *a = &ms->devs->attr[k];
		uint64_t live = atomic_load(&ms->nr_mrs[k]);

		need = 0;
		for (size_t i = 0; i < n; i++)
			if (NICS_OF(i) & (1U << k))
				need += mems[i]->nr_chunks;
		if (a->max_mr && live + need > a->max_mr) {
			mcx__err("%s: registering needs %llu more MRs but the device allows %u and %llu are in use; raise MCX_REG_CHUNK_SIZE or register less",
				 a->name, (unsigned long long)need, a->max_mr,
				 (unsigned long long)live);
			return -ENOSPC;
		}
	}
	jobs = calloc((size_t)slots, sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	/*
	 * Every NIC starts at a different place in the buffer (NIC k at chunk
	 * k * chunks / NICs), so that the workers running at the same time pin
	 * different pages rather than contending for the same ones.
	 */
	for (size_t i = 0; i < n; i++) {
		uint32_t c = mems[i]->nr_chunks, nn = ms->devs->n;

		for (uint64_t x = 0; x < (uint64_t)c * nn; x++) {
			uint32_t k = (uint32_t)(x % nn);
			uint32_t chunk = (uint32_t)((x / nn + (uint64_t)k * c / nn) % c);

			if (!(NICS_OF(i) & (1U << k)))
				continue;
			jobs[j++] = (struct mcx_reg_job){ mems[i], chunk, k, local_only };
		}
	}
#undef NICS_OF
	ret = mcx__regpool_run(ms->pool, jobs, j);
	free(jobs);
	return ret;
}

int mcx__mem_register_all(struct mcx_memspace *ms, struct mcx_mem **mems, size_t n)
{
	return register_on(ms, mems, NULL, n, false);
}

int mcx__mem_register_local_on(struct mcx_memspace *ms, struct mcx_mem *m, uint32_t nics)
{
	return register_on(ms, &m, &nics, 1, true);
}

#define KNOWN_FLAGS (MCX_MEM_NO_CACHE | MCX_MEM_EXPORT | MCX_MEM_CUDA)

static int check_req(const struct mcx_mem_req *r)
{
	if (r->len == 0 || (r->flags & ~KNOWN_FLAGS))
		return -EINVAL;
	if (r->dmabuf_fd < 0) {
		if (!r->addr || (uintptr_t)r->addr + r->len < (uintptr_t)r->addr)
			return -EINVAL;
	} else if (r->iova + r->len < r->iova || r->offset + r->len < r->offset) {
		return -EOVERFLOW;
	}
	return 0;
}

int mcx__mem_register_batch(struct mcx_memspace *ms, const struct mcx_mem_req *reqs, size_t n,
			    struct mcx_mem **out)
{
	struct mcx_mem **fresh = NULL;
	size_t nfresh = 0, i;
	int ret = 0;

	if (!ms || !reqs || !out || n == 0)
		return -EINVAL;
	for (i = 0; i < n; i++)
		out[i] = NULL;
	for (i = 0; i < n; i++) {
		ret = check_req(&reqs[i]);
		if (ret) {
			mcx__err("mcx_mem_register: request %zu: %s", i,
				 ret == -EOVERFLOW ? "range wraps around" :
				 "NULL address, zero length or unknown flags");
			return ret;
		}
	}
	fresh = calloc(n, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	for (i = 0; i < n && !ret; i++) {
		const struct mcx_mem_req *r = &reqs[i];

		if (r->dmabuf_fd < 0) {
			uint64_t a = (uintptr_t)r->addr;
			int cuda = mcx__mem_cuda_get(ms, r, &out[i]);

			if (cuda < 0) {
				ret = cuda;
				break;
			}
			if (cuda == 1)
				continue;	/* a cache hit */
			if (cuda == 2) {
				fresh[nfresh++] = out[i];
				continue;
			}
			/* Only a registration with the same export bit is shared:
			 * see mcx__regcache_get(). */
			if (!(r->flags & MCX_MEM_NO_CACHE))
				out[i] = mcx__regcache_get(&ms->cache, MCX_MEM_HOST, r->flags,
							   a, r->len);
			if (out[i])
				continue;
			ret = mcx__mem_new(ms, MCX_MEM_HOST, a, r->len, r->flags, -1, 0, &out[i]);
		} else {
			/* dma-bufs are not shared: the same iova may name other memory. */
			ret = mcx__mem_new(ms, MCX_MEM_DMABUF, r->iova, r->len,
				      r->flags | MCX_MEM_NO_CACHE, r->dmabuf_fd, r->offset,
				      &out[i]);
		}
		if (!ret)
			fresh[nfresh++] = out[i];
	}
	/* A host range over a dma-buf's iovas (or the reverse) fails before
	 * the devices are asked; insertion checks again under its lock. */
	for (i = 0; i < nfresh && !ret; i++)
		ret = mcx__regcache_check(&ms->cache, fresh[i]);
	if (!ret)
		ret = mcx__mem_register_all(ms, fresh, nfresh);
	/* A NIC without dma-buf MRs: GPU memory goes by its address instead. */
	if (mcx__mem_cuda_fallback(fresh, nfresh, ret)) {
		ret = mcx__mem_register_all(ms, fresh, nfresh);
		if (ret)
			mcx__err("GPU memory: neither a dma-buf nor the device address (nvidia-peermem) can be registered on these NICs: %s",
				 mcx_strerror(ret));
	}
	/*
	 * All or none: inserted one by one, a registration could be found and
	 * referenced by another thread before a later insertion failed, and
	 * the unwind would then free it under that thread.
	 */
	if (!ret)
		ret = mcx__regcache_insert_all(&ms->cache, fresh, nfresh);
	if (ret) {
		/* Unwind: cache hits lose our reference; the fresh ones were
		 * never visible to anyone else, so they go at once. */
		for (i = 0; i < n; i++) {
			bool is_fresh = false;

			for (size_t k = 0; k < nfresh; k++)
				is_fresh |= fresh[k] == out[i];
			if (out[i] && !is_fresh)
				mcx__mem_put(out[i]);
			out[i] = NULL;
		}
		for (size_t k = 0; k < nfresh; k++)
			mcx__mem_destroy(fresh[k]);
	}
	free(fresh);
	return ret;
}

MCX_EXPORT int mcx_mem_deregister(struct mcx_mem *mem)
{
	int left;

	if (!mem)
		return -EINVAL;
	left = mcx__regcache_put(&mem->ms->cache, mem);
	if (left < 0)
		return left;
	if (left == 0)
		mcx__mem_destroy(mem);
	return 0;
}

MCX_EXPORT int mcx_mem_query(const struct mcx_mem *mem, struct mcx_mem_info *out)
{
	if (!mem || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->addr = mem->addr;
	out->len = mem->len;
	out->chunk_size = mem->chunk_size;
	out->nr_chunks = mem->nr_chunks;
	out->nr_nics = mem->nr_nics;
	out->refs = atomic_load(&mem->refs);
	out->dmabuf = mem->kind == MCX_MEM_DMABUF;
	out->iova = mem->iova;
	out->registry_id = mem->named ? mem->named->entry : 0;
	out->named = mem->named != NULL;
	out->warm = mem->named && mem->named->warm;
	out->dead = atomic_load(&mem->dead);
	return 0;
}

size_t mcx__mem_list_exported(struct mcx_memspace *ms, struct mcx_mem **out, size_t max)
{
	struct mcx_mem **all;
	size_t cnt, got, k = 0;

	cnt = mcx__regcache_list(&ms->cache, NULL, 0);
	if (!out)
		return cnt;	/* an upper bound: the caller sizes out with it */
	if (cnt == 0)
		return 0;
	all = calloc(cnt, sizeof(*all));
	if (!all)
		return 0;
	got = mcx__regcache_list(&ms->cache, all, cnt);
	for (size_t i = 0; i < got; i++) {
		/* A dead one's MRs are gone: advertising it would hand out
		 * keys that are refused, or worse, reused. */
		if ((all[i]->flags & MCX_MEM_EXPORT) && !atomic_load(&all[i]->dead) && k < max)
			out[k++] = all[i];
		else
			mcx__mem_put(all[i]);
	}
	free(all);
	return k;
}

struct mcx_mem *mcx__mem_find(struct mcx_memspace *ms, uint64_t addr, uint64_t len)
{
	return mcx__regcache_find(&ms->cache, addr, len);
}

struct mcx_mem *mcx__mem_find_exported(struct mcx_memspace *ms, enum mcx_mem_kind kind,
				       uint64_t addr, uint64_t len)
{
	struct mcx_mem *m = mcx__regcache_get_any(&ms->cache, kind, MCX_MEM_EXPORT, addr, len);

	if (m && atomic_load(&m->dead)) {
		mcx__mem_put(m);
		m = NULL;
	}
	return m;
}

void mcx__mem_drop_all(struct mcx_memspace *ms)
{
	struct mcx_mem *left[64];
	size_t n;

	while ((n = mcx__regcache_list(&ms->cache, left, 64)) > 0) {
		mcx__warn("engine destroyed with %zu+ registration(s) still live; deregistering", n);
		for (size_t i = 0; i < n; i++) {
			struct mcx_mem *m = left[i];

			/* Our list reference, then every reference left. */
			while (mcx__regcache_put(&ms->cache, m) > 0)
				;
			mcx__mem_destroy(m);
		}
	}
}

int mcx__memspace_init(struct mcx_memspace *ms, const struct mcx_devs *devs,
		       uint64_t chunk_size, unsigned int threads)
{
	int ret;

	memset(ms, 0, sizeof(*ms));
	ms->devs = devs;
	ms->chunk_cfg = chunk_size;
	atomic_store(&ms->next_id, 1);
	ret = -pthread_rwlock_init(&ms->kill_lock, NULL);
	if (ret)
		return ret;
	ret = mcx__regcache_init(&ms->cache);
	if (ret)
		goto fail_lock;
	ret = mcx__regpool_create(threads, &ms->pool);
	if (ret)
		goto fail_cache;
	return 0;
fail_cache:
	mcx__regcache_destroy(&ms->cache);
fail_lock:
	pthread_rwlock_destroy(&ms->kill_lock);
	return ret;
}

void mcx__memspace_fini(struct mcx_memspace *ms)
{
	mcx__mem_drop_all(ms);
	mcx__regpool_destroy(ms->pool);
	mcx__regcache_destroy(&ms->cache);
	pthread_rwlock_destroy(&ms->kill_lock);
}
