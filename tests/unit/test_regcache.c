// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The registration cache (lib/mem/regcache.c) on registrations without MRs:
 * containment, overlap, adjacency, references and removal order.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "core/core.h"
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
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 1200, 100) == a);
	ASSERT_EQ(atomic_load(&a->refs), 2);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 1000, 1000) == a);	/* exact */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 1999, 1) == a);	/* last byte */
	ASSERT_EQ(atomic_load(&a->refs), 4);
	ASSERT_U64_EQ(c->hits, 3);
	ASSERT_U64_EQ(c->misses, 0);
}

TEST(regcache_overlapping_and_adjacent_ranges_miss)
{
	struct mcx_regcache *c = cache();
	struct mcx_mem *a = fake(1000, 1000);

	ASSERT_ERR(mcx__regcache_insert(c, a), 0);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 1500, 1000) == NULL);	/* overlaps end */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 500, 1000) == NULL);	/* overlaps start */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 900, 1200) == NULL);	/* covers it */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 2000, 100) == NULL);	/* adjacent after */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 900, 100) == NULL);	/* adjacent before */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 1000, 0) == NULL);	/* empty */
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, UINT64_MAX, 2) == NULL);	/* wraps */
	ASSERT_EQ(atomic_load(&a->refs), 1);
	ASSERT_U64_EQ(c->misses, 5);

	/* The overlapping range gets its own registration; both stay findable. */
	{
		struct mcx_mem *b = fake(1500, 1000);

		ASSERT_ERR(mcx__regcache_insert(c, b), 0);
		ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 1100, 100) == a);
		ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 2100, 100) == b);
		/* In both: the tightest (latest start) wins. */
		ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 1600, 100) == b);
		/* Across both but inside neither. */
		ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 1400, 700) == NULL);
	}
}

TEST(regcache_references_and_removal)
{
	struct mcx_regcache *c = cache();
	struct mcx_mem *a = fake(4096, 8192);

	ASSERT_ERR(mcx__regcache_insert(c, a), 0);
	ASSERT_TRUE(a->cached);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 4096, 10) == a);
	ASSERT_EQ(mcx__regcache_put(c, a), 1);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 5000, 10) == a);	/* still live */
	ASSERT_EQ(mcx__regcache_put(c, a), 1);
	ASSERT_EQ(mcx__regcache_put(c, a), 0);	/* last one: out of the index */
	ASSERT_TRUE(!a->cached);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 5000, 10) == NULL);
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
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 0, 10) == NULL);
	ASSERT_TRUE(mcx__regcache_get(c, MCX_MEM_HOST, 8192, 10) == NULL);
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

static struct mcx_regcache *shared;
static struct mcx_mem *shared_mem;

static void *hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		struct mcx_mem *m = mcx__regcache_get(shared, MCX_MEM_HOST, 100 + i % 50, 10);

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
