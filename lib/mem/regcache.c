// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The registration cache: an interval index of the engine's live
 * registrations.  Registrations of one kind may overlap (a range that only
 * overlaps or touches a live one gets a registration of its own; host and
 * dma-buf registrations never overlap each other), so a sorted array is
 * kept together with the running maximum of the ends: scanning back from
 * the last start <= addr can stop as soon as that maximum falls short of
 * the range's end, which keeps lookups short in the usual, mostly disjoint,
 * case.  Insertions and removals move the tail of the array; registrations
 * are far rarer than lookups.
 */
#define _GNU_SOURCE	/* pthread_rwlock_t (mem/mem.h) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"

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
 * skipping, when shareable is set, MCX_MEM_NO_CACHE ones and those whose
 * MCX_MEM_EXPORT bit differs from flags'; without shareable, with
 * MCX_MEM_EXPORT in flags, only exported ones; the one with the latest
 * start wins, which is the tightest fit.
 */
static struct mcx_mem *lookup(struct mcx_regcache *c, uint64_t addr, uint64_t end,
			      bool any_kind, enum mcx_mem_kind kind, bool shareable,
			      unsigned int flags)
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
		if (shareable && ((e->mem->flags & MCX_MEM_NO_CACHE) ||
				  ((e->mem->flags ^ flags) & MCX_MEM_EXPORT)))
			continue;
		if (!shareable && (flags & MCX_MEM_EXPORT) && !(e->mem->flags & MCX_MEM_EXPORT))
			continue;
		if (atomic_load(&e->mem->refs) <= 0)
			continue;
		/* A registration of freed GPU memory: as if gone. */
		if (e->mem->kind == MCX_MEM_CUDA_DEV && atomic_load(&e->mem->dead))
			continue;
		return e->mem;
	}
	return NULL;
}

/*
 * One more reference on m, what a lookup under c->lock found (NULL: none),
 * counted as a hit or a miss when count: the cache's statistics count the
 * lookups for a registration asked for again (get, get_cuda), not the data
 * path's (find, get_any).
 */
static struct mcx_mem *take_ref(struct mcx_regcache *c, struct mcx_mem *m, bool count)
{
	if (m)
		atomic_fetch_add(&m->refs, 1);
	if (count) {
		if (m)
			c->hits++;
		else
			c->misses++;
	}
	return m;
}

/* lookup() of [addr, addr + len) under the lock, with take_ref(). */
static struct mcx_mem *lookup_ref(struct mcx_regcache *c, uint64_t addr, uint64_t len,
				  bool any_kind, enum mcx_mem_kind kind, bool shareable,
				  unsigned int flags, bool count)
{
	struct mcx_mem *m;

	if (len == 0 || addr + len < addr)
		return NULL;
	pthread_mutex_lock(&c->lock);
	m = take_ref(c, lookup(c, addr, addr + len, any_kind, kind, shareable, flags), count);
	pthread_mutex_unlock(&c->lock);
	return m;
}

struct mcx_mem *mcx__regcache_get_cuda(struct mcx_regcache *c, unsigned int flags,
				       uint64_t addr, uint64_t len, uint64_t buffer_id)
{
	struct mcx_mem *m = NULL;
	uint64_t end = addr + len;

	if (len == 0 || end < addr)
		return NULL;
	pthread_mutex_lock(&c->lock);
	/* Every entry starting before end: those that overlap the range. */
	for (size_t i = upper_bound(c, end - 1); i-- > 0;) {
		struct mcx_regcache_ent *e = &c->v[i];

		if (c->maxend[i] <= addr)
			break;
		if (e->mem->kind != MCX_MEM_CUDA_DEV || e->end <= addr ||
		    atomic_load(&e->mem->dead))
			continue;
		if (e->mem->cuda_buffer_id != buffer_id) {
			atomic_store(&e->mem->dead, true);
			continue;
		}
		if (m || e->start > addr || e->end < end || atomic_load(&e->mem->refs) <= 0 ||
		    (e->mem->flags & MCX_MEM_NO_CACHE) || ((e->mem->flags ^ flags) & MCX_MEM_EXPORT))
			continue;
		m = e->mem;
	}
	m = take_ref(c, m, true);
	pthread_mutex_unlock(&c->lock);
	return m;
}

struct mcx_mem *mcx__regcache_get(struct mcx_regcache *c, enum mcx_mem_kind kind,
				  unsigned int flags, uint64_t addr, uint64_t len)
{
	return lookup_ref(c, addr, len, false, kind, true, flags, true);
}

struct mcx_mem *mcx__regcache_find(struct mcx_regcache *c, uint64_t addr, uint64_t len)
{
	return lookup_ref(c, addr, len, true, MCX_MEM_HOST, false, 0, false);
}

struct mcx_mem *mcx__regcache_get_any(struct mcx_regcache *c, enum mcx_mem_kind kind,
				      unsigned int flags, uint64_t addr, uint64_t len)
{
	return lookup_ref(c, addr, len, false, kind, false, flags, false);
}

/*
 * A live entry of another kind than kind that overlaps [addr, end), or NULL.
 * Entries before upper_bound(end - 1) start inside or before the range;
 * scanning back stops once no earlier entry reaches past addr.
 */
static const struct mcx_regcache_ent *other_kind(const struct mcx_regcache *c,
						 enum mcx_mem_kind kind, uint64_t addr,
						 uint64_t end)
{
	size_t i = upper_bound(c, end - 1);

	while (i-- > 0) {
		const struct mcx_regcache_ent *e = &c->v[i];

		if (c->maxend[i] <= addr)
			break;
		if (e->end > addr && e->mem->kind != kind && atomic_load(&e->mem->refs) > 0)
			return e;
	}
	return NULL;
}

/* What a conflict is logged with, copied under the lock, logged after it. */
struct conflict {
	enum mcx_mem_kind kind, other_kind;
	uint64_t start, end, other_start, other_end;
};

static const char *kind_name(enum mcx_mem_kind kind)
{
	return kind == MCX_MEM_DMABUF ? "dma-buf iova range" : "host address range";
}

static void log_conflict(const struct conflict *k)
{
	mcx__err("mcx_mem_register: %s [0x%llx, 0x%llx) overlaps the %s [0x%llx, 0x%llx) of another registration: transfers name local memory by address alone, so host and dma-buf registrations must not overlap",
		 kind_name(k->kind), (unsigned long long)k->start, (unsigned long long)k->end,
		 kind_name(k->other_kind), (unsigned long long)k->other_start,
		 (unsigned long long)k->other_end);
}

/* -EEXIST, with *k filled, if m overlaps an entry of another kind. */
static int check_locked(const struct mcx_regcache *c, const struct mcx_mem *m,
			struct conflict *k)
{
	const struct mcx_regcache_ent *e = other_kind(c, m->kind, m->addr, m->addr + m->len);

	if (!e)
		return 0;
	*k = (struct conflict){
		.kind = m->kind, .start = m->addr, .end = m->addr + m->len,
		.other_kind = e->mem->kind, .other_start = e->start, .other_end = e->end,
	};
	return -EEXIST;
}

static bool mem_ok(const struct mcx_mem *m)
{
	return m && m->len && m->addr + m->len >= m->addr && atomic_load(&m->refs) >= 1;
}

int mcx__regcache_check(struct mcx_regcache *c, const struct mcx_mem *m)
{
	struct conflict k;
	int ret;

	if (!mem_ok(m))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	ret = check_locked(c, m, &k);
	pthread_mutex_unlock(&c->lock);
	if (ret)
		log_conflict(&k);
	return ret;
}

/* Room for want entries; the arrays keep their contents on failure. */
static int reserve(struct mcx_regcache *c, size_t want)
{
	size_t cap = c->cap ? c->cap : 16;
	struct mcx_regcache_ent *v;
	uint64_t *me;

	if (want <= c->cap)
		return 0;
	while (cap < want) {
		if (cap > SIZE_MAX / 2 / sizeof(*v))
			return -ENOMEM;
		cap *= 2;
	}
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

/* Insert into reserved room: cannot fail. */
static void insert_locked(struct mcx_regcache *c, struct mcx_mem *m)
{
	/* After every entry with the same start: later ones win lookups. */
	size_t i = upper_bound(c, m->addr);

	memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(c->v[0]));
	c->v[i].start = m->addr;
	c->v[i].end = m->addr + m->len;
	c->v[i].mem = m;
	c->n++;
	fix_maxend(c, i);
	m->cached = true;
}

static void remove_locked(struct mcx_regcache *c, struct mcx_mem *m)
{
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

void mcx__regcache_fail_insert(struct mcx_regcache *c, size_t nth,
			       void (*cb)(void *arg), void *arg)
{
	pthread_mutex_lock(&c->lock);
	c->fail_in = nth;
	c->fail_cb = cb;
	c->fail_arg = arg;
	pthread_mutex_unlock(&c->lock);
}

int mcx__regcache_insert_all(struct mcx_regcache *c, struct mcx_mem **ms, size_t n)
{
	void (*cb)(void *arg) = NULL;
	void *cb_arg = NULL;
	struct conflict k;
	size_t i;
	int ret = 0;

	for (i = 0; i < n; i++)
		if (!mem_ok(ms[i]))
			return -EINVAL;
	if (n == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (c->fail_in) {
		if (c->fail_in <= n) {
			cb = c->fail_cb;
			cb_arg = c->fail_arg;
			c->fail_in = 0;
			ret = -ENOMEM;
		} else {
			c->fail_in -= n;
		}
	}
	/* Every failure is decided here, before the first entry goes in ... */
	if (!ret)
		ret = n > SIZE_MAX - c->n ? -ENOMEM : reserve(c, c->n + n);
	for (i = 0; i < n && !ret; i++) {
		/* ... or undone before the lock is dropped: nobody saw it. */
		ret = check_locked(c, ms[i], &k);
		if (ret) {
			while (i-- > 0)
				remove_locked(c, ms[i]);
			break;
		}
		insert_locked(c, ms[i]);
	}
	pthread_mutex_unlock(&c->lock);
	if (ret == -EEXIST)
		log_conflict(&k);
	if (cb)
		cb(cb_arg);
	return ret;
}

int mcx__regcache_insert(struct mcx_regcache *c, struct mcx_mem *m)
{
	return mcx__regcache_insert_all(c, &m, 1);
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
	if (left == 0 && m->cached)
		remove_locked(c, m);
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
