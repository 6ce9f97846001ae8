// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The registration cache: an interval index of the engine's live
 * registrations.  Registrations may overlap (a range that only overlaps or
 * touches a live one gets a registration of its own), so a sorted array is
 * kept together with the running maximum of the ends: scanning back from
 * the last start <= addr can stop as soon as that maximum falls short of
 * the range's end, which keeps lookups short in the usual, mostly disjoint,
 * case.  Insertions and removals move the tail of the array; registrations
 * are far rarer than lookups.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

struct mcx_regcache_ent {
	uint64_t start;
	uint64_t end;		/* exclusive */
	struct mcx_mem *mem;
};

int mcx__regcache_init(struct mcx_regcache *c)
{
	memset(c, 0, sizeof(*c));
	return -pthread_mutex_init(&c->lock, NULL);
}

void mcx__regcache_destroy(struct mcx_regcache *c)
{
	free(c->v);
	free(c->maxend);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

static void fix_maxend(struct mcx_regcache *c, size_t from)
{
	for (size_t i = from; i < c->n; i++) {
		uint64_t prev = i ? c->maxend[i - 1] : 0;

		c->maxend[i] = c->v[i].end > prev ? c->v[i].end : prev;
	}
}

/* Index of the first entry with start > addr. */
static size_t upper_bound(const struct mcx_regcache *c, uint64_t addr)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The live entry containing [addr, end) of kind (any kind with any_kind),
 * skipping MCX_MEM_NO_CACHE ones when shareable is set; the one with the
 * latest start wins, which is the tightest fit.
 */
static struct mcx_mem *lookup(struct mcx_regcache *c, uint64_t addr, uint64_t end,
			      bool any_kind, enum mcx_mem_kind kind, bool shareable)
{
	size_t i = upper_bound(c, addr);

	while (i-- > 0) {
		struct mcx_regcache_ent *e = &c->v[i];

		if (c->maxend[i] < end)
			break;
		if (e->end < end)
			continue;
		if (!any_kind && e->mem->kind != kind)
			continue;
		if (shareable && (e->mem->flags & MCX_MEM_NO_CACHE))
			continue;
		if (atomic_load(&e->mem->refs) <= 0)
			continue;
		return e->mem;
	}
	return NULL;
}

struct mcx_mem *mcx__regcache_get(struct mcx_regcache *c, enum mcx_mem_kind kind,
				  uint64_t addr, uint64_t len)
{
	struct mcx_mem *m;

	if (len == 0 || addr + len < addr)
		return NULL;
	pthread_mutex_lock(&c->lock);
	m = lookup(c, addr, addr + len, false, kind, true);
	if (m) {
		atomic_fetch_add(&m->refs, 1);
		c->hits++;
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->lock);
	return m;
}

struct mcx_mem *mcx__regcache_find(struct mcx_regcache *c, uint64_t addr, uint64_t len)
{
	struct mcx_mem *m;

	if (len == 0 || addr + len < addr)
		return NULL;
	pthread_mutex_lock(&c->lock);
	m = lookup(c, addr, addr + len, true, MCX_MEM_HOST, false);
	if (m)
		atomic_fetch_add(&m->refs, 1);
	pthread_mutex_unlock(&c->lock);
	return m;
}

static int grow(struct mcx_regcache *c)
{
	size_t cap = c->cap ? c->cap * 2 : 16;
	struct mcx_regcache_ent *v;
	uint64_t *me;

	v = realloc(c->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->v = v;
	me = realloc(c->maxend, cap * sizeof(*me));
	if (!me)
		return -ENOMEM;
	c->maxend = me;
	c->cap = cap;
	return 0;
}

int mcx__regcache_insert(struct mcx_regcache *c, struct mcx_mem *m)
{
	size_t i;
	int ret = 0;

	if (!m || m->len == 0 || m->addr + m->len < m->addr || atomic_load(&m->refs) < 1)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	if (c->n == c->cap)
		ret = grow(c);
	if (!ret) {
		/* After every entry with the same start: later ones win lookups. */
		i = upper_bound(c, m->addr);
		memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(c->v[0]));
		c->v[i].start = m->addr;
		c->v[i].end = m->addr + m->len;
		c->v[i].mem = m;
		c->n++;
		fix_maxend(c, i);
		m->cached = true;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int mcx__regcache_put(struct mcx_regcache *c, struct mcx_mem *m)
{
	int left;

	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	left = atomic_load(&m->refs);
	if (left <= 0) {
		pthread_mutex_unlock(&c->lock);
		return -EINVAL;
	}
	left--;
	atomic_store(&m->refs, left);
	if (left == 0 && m->cached) {
		for (size_t i = 0; i < c->n; i++) {
			if (c->v[i].mem != m)
				continue;
			memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(c->v[0]));
			c->n--;
			fix_maxend(c, i);
			break;
		}
		m->cached = false;
	}
	pthread_mutex_unlock(&c->lock);
	return left;
}

size_t mcx__regcache_list(struct mcx_regcache *c, struct mcx_mem **out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	if (!out) {
		n = c->n;
	} else {
		for (size_t i = 0; i < c->n && n < max; i++) {
			atomic_fetch_add(&c->v[i].mem->refs, 1);
			out[n++] = c->v[i].mem;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}
