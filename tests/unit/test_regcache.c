// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The registration cache (lib/mem/regcache.c) on registrations without MRs:
 * containment, overlap, adjacency, references and removal order, the export
 * bit, kinds that must not overlap, and all-or-nothing insertion.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "mem/mem.h"
#include "util.h"

static struct mcx_mem *fake(uint64_t addr, uint64_t len)
{
	struct mcx_mem *m = calloc(1, sizeof(*m));

	ASSERT_TRUE(m != NULL);
	m->addr = addr;
	m->len = len;
	m->kind = MCX_MEM_HOST;
	atomic_store(&m->refs, 1);
	return m;
}

static struct mcx_regcache *cache(void)
{
	static struct mcx_regcache c;

	ASSERT_ERR(mcx__regcache_init(&c), 0);
	return &c;
}

TEST(regcache_contained_range_returns_same_with_a_reference)
{
	struct mcx_regcache *c = cache();
	struct mcx_mem *a = fake(1000, 1000);

	ASSERT_ERR(mcx__regcache_insert(c, a), 0);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 1200, 100) == a);
	ASSERT_EQ(atomic_load(&a->refs), 2);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 1000, 1000) == a);	/* exact */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 1999, 1) == a);	/* last byte */
	ASSERT_EQ(atomic_load(&a->refs), 4);
	ASSERT_U64_EQ(c->hits, 3);
	ASSERT_U64_EQ(c->misses, 0);
}

TEST(regcache_overlapping_and_adjacent_ranges_miss)
{
	struct mcx_regcache *c = cache();
	struct mcx_mem *a = fake(1000, 1000);

	ASSERT_ERR(mcx__regcache_insert(c, a), 0);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 1500, 1000) == NULL);	/* overlaps end */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 500, 1000) == NULL);	/* overlaps start */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 900, 1200) == NULL);	/* covers it */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 2000, 100) == NULL);	/* adjacent after */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 900, 100) == NULL);	/* adjacent before */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 1000, 0) == NULL);	/* empty */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, UINT64_MAX, 2) == NULL);	/* wraps */
	ASSERT_EQ(atomic_load(&a->refs), 1);
	ASSERT_U64_EQ(c->misses, 5);

	/* The overlapping range gets its own registration; both stay findable. */
	{
		struct mcx_mem *b = fake(1500, 1000);

		ASSERT_ERR(mcx__regcache_insert(c, b), 0);
		ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 1100, 100) == a);
		ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 2100, 100) == b);
		/* In both: the tightest (latest start) wins. */
		ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 1600, 100) == b);
		/* Across both but inside neither. */
		ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 1400, 700) == NULL);
	}
}

TEST(regcache_references_and_removal)
{
	struct mcx_regcache *c = cache();
	struct mcx_mem *a = fake(4096, 8192);

	ASSERT_ERR(mcx__regcache_insert(c, a), 0);
	ASSERT_TRUE(a->cached);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 4096, 10) == a);
	ASSERT_EQ(mcx__regcache_put(c, a), 1);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 5000, 10) == a);	/* still live */
	ASSERT_EQ(mcx__regcache_put(c, a), 1);
	ASSERT_EQ(mcx__regcache_put(c, a), 0);	/* last one: out of the index */
	ASSERT_TRUE(!a->cached);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 5000, 10) == NULL);
	ASSERT_EQ(mcx__regcache_list(c, NULL, 0), 0);
	ASSERT_ERR(mcx__regcache_put(c, a), -EINVAL);	/* no reference left */
	ASSERT_ERR(mcx__regcache_put(c, NULL), -EINVAL);
	free(a);
}

TEST(regcache_dereg_order_keeps_the_index_right)
{
	/* A big registration, a small one inside it, one after both. */
	static const int orders[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
	};

	for (int o = 0; o < 6; o++) {
		struct mcx_regcache *c = cache();
		struct mcx_mem *m[3] = { fake(0, 100000), fake(5000, 1000), fake(200000, 1000) };
		bool live[3] = { true, true, true };

		for (int i = 0; i < 3; i++)
			ASSERT_ERR(mcx__regcache_insert(c, m[i]), 0);
		for (int k = 0; k < 3; k++) {
			struct mcx_mem *got;

			ASSERT_EQ(mcx__regcache_put(c, m[orders[o][k]]), 0);
			live[orders[o][k]] = false;
			/* Inside the small one: small if live, else big if live. */
			got = mcx__regcache_find(c, 5100, 10);
			ASSERT_TRUE(got == (live[1] ? m[1] : live[0] ? m[0] : NULL));
			if (got)
				mcx__regcache_put(c, got);
			/* The tail of the big one, past the small one. */
			got = mcx__regcache_find(c, 90000, 10);
			ASSERT_TRUE(got == (live[0] ? m[0] : NULL));
			if (got)
				mcx__regcache_put(c, got);
			got = mcx__regcache_find(c, 200500, 500);
			ASSERT_TRUE(got == (live[2] ? m[2] : NULL));
			if (got)
				mcx__regcache_put(c, got);
			ASSERT_EQ(mcx__regcache_list(c, NULL, 0), 3 - k - 1);
		}
		for (int i = 0; i < 3; i++)
			free(m[i]);
		mcx__regcache_destroy(c);
	}
}

TEST(regcache_private_and_dmabuf_registrations_are_not_shared)
{
	struct mcx_regcache *c = cache();
	struct mcx_mem *priv = fake(0, 4096), *dma = fake(8192, 4096);

	priv->flags = MCX_MEM_NO_CACHE;
	dma->kind = MCX_MEM_DMABUF;
	ASSERT_ERR(mcx__regcache_insert(c, priv), 0);
	ASSERT_ERR(mcx__regcache_insert(c, dma), 0);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 0, 10) == NULL);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 8192, 10) == NULL);
	/* The data path still finds both. */
	ASSERT_TRUE(mcx__regcache_find(c, 0, 10) == priv);
	ASSERT_TRUE(mcx__regcache_find(c, 8192, 10) == dma);
	ASSERT_EQ(atomic_load(&priv->refs), 2);
	ASSERT_ERR(mcx__regcache_insert(c, NULL), -EINVAL);
	{
		struct mcx_mem *zero = fake(0, 0);

		ASSERT_ERR(mcx__regcache_insert(c, zero), -EINVAL);
		free(zero);
	}
}

TEST(regcache_matches_brute_force)
{
	enum { N = 300 };
	struct mcx_regcache *c = cache();
	struct mcx_mem *m[N];
	bool live[N];

	srand(7);
	for (int i = 0; i < N; i++) {
		m[i] = fake((uint64_t)(rand() % 100000), 1 + (uint64_t)(rand() % 5000));
		live[i] = true;
		ASSERT_ERR(mcx__regcache_insert(c, m[i]), 0);
	}
	for (int round = 0; round < 4000; round++) {
		uint64_t a = (uint64_t)(rand() % 106000), len = 1 + (uint64_t)(rand() % 3000);
		struct mcx_mem *got = mcx__regcache_find(c, a, len);
		bool any = false;

		for (int i = 0; i < N; i++)
			any |= live[i] && m[i]->addr <= a && m[i]->addr + m[i]->len >= a + len;
		ASSERT_EQ(got != NULL, any);
		if (got) {
			ASSERT_TRUE(got->addr <= a && got->addr + got->len >= a + len);
			ASSERT_TRUE(mcx__regcache_put(c, got) > 0);
		}
		if (round % 20 == 0) {
			int k = rand() % N;

			if (live[k]) {
				ASSERT_EQ(mcx__regcache_put(c, m[k]), 0);
				live[k] = false;
				free(m[k]);
			}
		}
	}
}

TEST(regcache_export_bit_must_match_to_share)
{
	struct mcx_regcache *c = cache();
	struct mcx_mem *local = fake(0, 8192), *exp = fake(0, 8192);

	exp->flags = MCX_MEM_EXPORT;
	ASSERT_ERR(mcx__regcache_insert(c, local), 0);
	ASSERT_ERR(mcx__regcache_insert(c, exp), 0);
	/* exp is the later one at the same start: it would win on any kind. */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 100, 10) == local);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, MCX_MEM_EXPORT, 100, 10) == exp);
	ASSERT_EQ(mcx__regcache_put(c, local), 1);
	ASSERT_EQ(mcx__regcache_put(c, exp), 1);
	/* Only a local-only one: an export request misses, and the reverse. */
	ASSERT_EQ(mcx__regcache_put(c, exp), 0);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, MCX_MEM_EXPORT, 100, 10) == NULL);
	ASSERT_EQ(mcx__regcache_put(c, local), 0);
	exp->flags = MCX_MEM_EXPORT;
	atomic_store(&exp->refs, 1);
	ASSERT_ERR(mcx__regcache_insert(c, exp), 0);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 100, 10) == NULL);
	/* The data path takes either: both allow local access. */
	ASSERT_TRUE(mcx__regcache_find(c, 100, 10) == exp);
	ASSERT_EQ(mcx__regcache_put(c, exp), 1);
	ASSERT_EQ(mcx__regcache_put(c, exp), 0);
	free(local);
	free(exp);
}

/* Insert m; expect err, and m in the index exactly when err is 0. */
static void insert_expect(struct mcx_regcache *c, struct mcx_mem *m, int err)
{
	size_t before = mcx__regcache_list(c, NULL, 0);

	ASSERT_ERR(mcx__regcache_insert(c, m), err);
	ASSERT_EQ(m->cached, err == 0);
	ASSERT_EQ(mcx__regcache_list(c, NULL, 0), before + (err == 0));
}

TEST(regcache_host_and_dmabuf_ranges_never_overlap)
{
	/* Host first, then dma-bufs; dma-buf first, then host. */
	for (int order = 0; order < 2; order++) {
		enum mcx_mem_kind first = order ? MCX_MEM_DMABUF : MCX_MEM_HOST;
		enum mcx_mem_kind second = order ? MCX_MEM_HOST : MCX_MEM_DMABUF;
		struct mcx_regcache *c = cache();
		struct mcx_mem *a = fake(10000, 1000);
		struct mcx_mem *m[7] = {
			fake(10500, 1000),	/* overlaps a's end */
			fake(9500, 1000),	/* overlaps a's start */
			fake(10200, 100),	/* inside a */
			fake(9000, 3000),	/* covers a */
			fake(10999, 1),		/* a's last byte */
			fake(11000, 500),	/* adjacent after: fine */
			fake(9000, 1000),	/* adjacent before: fine */
		};
		struct mcx_mem *same = fake(10100, 500);	/* inside a only */
		struct mcx_mem *got;

		a->kind = first;
		same->kind = first;
		ASSERT_ERR(mcx__regcache_insert(c, a), 0);
		for (int i = 0; i < 7; i++) {
			m[i]->kind = second;
			log_capture();
			ASSERT_ERR(mcx__regcache_check(c, m[i]), i < 5 ? -EEXIST : 0);
			insert_expect(c, m[i], i < 5 ? -EEXIST : 0);
			if (i < 5) {
				/* Both ranges named in the log. */
				char mine[64], theirs[64];

				snprintf(mine, sizeof(mine), "[0x%llx, 0x%llx)",
					 (unsigned long long)m[i]->addr,
					 (unsigned long long)(m[i]->addr + m[i]->len));
				ASSERT_CONTAINS(captured_log, mine);
				snprintf(theirs, sizeof(theirs), "[0x%x, 0x%x)", 10000, 11000);
				ASSERT_CONTAINS(captured_log, theirs);
				ASSERT_CONTAINS(captured_log, "dma-buf");
				ASSERT_CONTAINS(captured_log, "host");
			}
		}
		/* The same kind may overlap, as before. */
		insert_expect(c, same, 0);
		/* Lookups stay unambiguous: each address has one kind. */
		got = mcx__regcache_find(c, 10050, 10);
		ASSERT_TRUE(got == a);
		mcx__regcache_put(c, got);
		got = mcx__regcache_find(c, 11200, 10);
		ASSERT_TRUE(got == m[5]);
		mcx__regcache_put(c, got);
		/* Once a is gone its range is free for the other kind. */
		ASSERT_EQ(mcx__regcache_put(c, a), 0);
		ASSERT_EQ(mcx__regcache_put(c, same), 0);
		atomic_store(&m[2]->refs, 1);
		insert_expect(c, m[2], 0);
		ASSERT_EQ(mcx__regcache_put(c, m[2]), 0);
		ASSERT_EQ(mcx__regcache_put(c, m[5]), 0);
		ASSERT_EQ(mcx__regcache_put(c, m[6]), 0);
		ASSERT_EQ(mcx__regcache_list(c, NULL, 0), 0);
		free(a);
		free(same);
		for (int i = 0; i < 7; i++)
			free(m[i]);
		mcx__regcache_destroy(c);
	}
}

TEST(regcache_insert_all_is_all_or_nothing)
{
	struct mcx_regcache *c = cache();
	struct mcx_mem *host = fake(0, 4096), *other = fake(100000, 4096);
	struct mcx_mem *dma = fake(2048, 4096);
	struct mcx_mem *v[3] = { host, other, dma };

	dma->kind = MCX_MEM_DMABUF;
	/* dma overlaps host, which is earlier in the same call: none go in. */
	log_capture();
	ASSERT_ERR(mcx__regcache_insert_all(c, v, 3), -EEXIST);
	ASSERT_CONTAINS(captured_log, "[0x800, 0x1800)");
	ASSERT_CONTAINS(captured_log, "[0x0, 0x1000)");
	ASSERT_EQ(mcx__regcache_list(c, NULL, 0), 0);
	ASSERT_TRUE(!host->cached && !other->cached && !dma->cached);
	ASSERT_TRUE(mcx__regcache_find(c, 0, 10) == NULL);
	/* A bad entry anywhere: nothing either. */
	v[2] = NULL;
	ASSERT_ERR(mcx__regcache_insert_all(c, v, 3), -EINVAL);
	ASSERT_EQ(mcx__regcache_list(c, NULL, 0), 0);
	/* Without the conflict all go in, and more than the first growth. */
	ASSERT_ERR(mcx__regcache_insert_all(c, v, 2), 0);
	ASSERT_EQ(mcx__regcache_list(c, NULL, 0), 2);
	{
		struct mcx_mem *many[40];

		for (int i = 0; i < 40; i++)
			many[i] = fake(200000 + (uint64_t)i * 10, 10);
		ASSERT_ERR(mcx__regcache_insert_all(c, many, 40), 0);
		ASSERT_EQ(mcx__regcache_list(c, NULL, 0), 42);
		for (int i = 0; i < 40; i++) {
			struct mcx_mem *got = mcx__regcache_find(c, 200000 + (uint64_t)i * 10, 10);

			ASSERT_TRUE(got == many[i]);
			mcx__regcache_put(c, got);
			ASSERT_EQ(mcx__regcache_put(c, many[i]), 0);
			free(many[i]);
		}
	}
	ASSERT_EQ(mcx__regcache_put(c, host), 0);
	ASSERT_EQ(mcx__regcache_put(c, other), 0);
	free(host);
	free(other);
	free(dma);
	mcx__regcache_destroy(c);
}

/* What another thread finds in the cache while an insertion fails. */
struct spy {
	struct mcx_regcache *c;
	struct mcx_mem **watch;
	size_t n, calls, seen;
};

static void spy_cb(void *arg)
{
	struct spy *s = arg;

	s->calls++;
	for (size_t i = 0; i < s->n; i++) {
		struct mcx_mem *got = mcx__regcache_find(s->c, s->watch[i]->addr, 1);

		if (got) {
			s->seen++;
			mcx__regcache_put(s->c, got);
		}
	}
}

TEST(regcache_injected_enomem_fails_the_whole_call)
{
	struct mcx_regcache *c = cache();
	struct mcx_mem *m[4];
	struct spy s = { .c = c, .watch = m, .n = 4 };

	for (int i = 0; i < 4; i++)
		m[i] = fake((uint64_t)i * 8192, 4096);
	/* The 3rd entry of a call of 4: the call fails, none visible. */
	mcx__regcache_fail_insert(c, 3, spy_cb, &s);
	ASSERT_ERR(mcx__regcache_insert_all(c, m, 4), -ENOMEM);
	ASSERT_EQ(s.calls, 1);
	ASSERT_EQ(s.seen, 0);
	ASSERT_EQ(mcx__regcache_list(c, NULL, 0), 0);
	for (int i = 0; i < 4; i++)
		ASSERT_TRUE(!m[i]->cached && atomic_load(&m[i]->refs) == 1);
	/* One-shot: the same call now succeeds. */
	ASSERT_ERR(mcx__regcache_insert_all(c, m, 4), 0);
	ASSERT_EQ(s.calls, 1);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(mcx__regcache_put(c, m[i]), 0);
	/* Counted across calls: the 3rd entry from now is in the second call. */
	for (int i = 0; i < 4; i++)
		atomic_store(&m[i]->refs, 1);
	mcx__regcache_fail_insert(c, 3, spy_cb, &s);
	ASSERT_ERR(mcx__regcache_insert_all(c, m, 2), 0);
	ASSERT_ERR(mcx__regcache_insert_all(c, m + 2, 2), -ENOMEM);
	ASSERT_EQ(s.calls, 2);
	ASSERT_EQ(s.seen, 2);	/* the first call's two, nothing of the second */
	ASSERT_TRUE(!m[2]->cached && !m[3]->cached);
	ASSERT_EQ(mcx__regcache_list(c, NULL, 0), 2);
	/* Off. */
	mcx__regcache_fail_insert(c, 3, NULL, NULL);
	mcx__regcache_fail_insert(c, 0, NULL, NULL);
	ASSERT_ERR(mcx__regcache_insert_all(c, m + 2, 2), 0);
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(mcx__regcache_put(c, m[i]), 0);
		free(m[i]);
	}
	mcx__regcache_destroy(c);
}

static struct mcx_regcache *shared;
static struct mcx_mem *shared_mem;

static void *hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		struct mcx_mem *m = mcx__regcache_get(shared, MCX_MEM_HOST, 0, 100 + i % 50, 10);

		if (m != shared_mem)
			return (void *)1;
		if (mcx__regcache_put(shared, m) < 1)
			return (void *)1;
	}
	return NULL;
}

TEST(regcache_is_thread_safe)
{
	pthread_t t[4];

	shared = cache();
	shared_mem = fake(0, 4096);
	ASSERT_ERR(mcx__regcache_insert(shared, shared_mem), 0);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *r;

		ASSERT_EQ(pthread_join(t[i], &r), 0);
		ASSERT_TRUE(r == NULL);
	}
	ASSERT_EQ(atomic_load(&shared_mem->refs), 1);
	ASSERT_U64_EQ(shared->hits, 80000);
}
