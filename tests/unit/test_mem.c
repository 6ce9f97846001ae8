// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registrations (lib/mem) over the fake transport of fake_tp.c: limits that
 * are decided before any device is asked (the chunk size capped by the
 * devices' max MR size, the MR count against max_mr, argument checks);
 * what the transport is asked for (remote access only with MCX_MEM_EXPORT)
 * and what peers are told (only exported registrations); and, on an engine
 * without devices, where a registration makes no MR but goes through the
 * flags, the cache and its unwind like any other: the export bit, the
 * kinds' address space and the out-of-memory unwind.
 *
 * The engine is a zeroed struct mcx_engine with its devices (fake_tp) and
 * its memspace set up, nothing else: the public registration calls reach
 * only those, and pid 0 skips the owner check (core/owner.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "core/core.h"
#include "peer/handshake.h"
#include "fake_tp.h"
#include "util.h"

static struct mcx_engine *fake_engine(struct fake_tp *tp, uint32_t nics, uint64_t chunk)
{
	struct mcx_engine *eng = calloc(1, sizeof(*eng));

	ASSERT_TRUE(eng != NULL);
	mcx__opts_defaults(&eng->opts);
	fake_tp_setup(tp, &eng->devs, nics);
	ASSERT_ERR(mcx__memspace_init(&eng->mem, &eng->devs, chunk, 2), 0);
	return eng;
}

static void free_engine(struct mcx_engine *eng, struct fake_tp *tp)
{
	mcx__memspace_fini(&eng->mem);
	fake_tp_teardown(tp, &eng->devs);
	free(eng);
}

TEST(mem_chunk_size_is_capped_by_max_mr_size)
{
	struct fake_tp tp;
	struct mcx_engine *eng = fake_engine(&tp, 2, 1ULL << 30);

	ASSERT_U64_EQ(mcx__mem_chunk_size(&eng->mem), 1ULL << 30);
	/* The smallest device limit wins, rounded down to 4 KiB. */
	eng->devs.attr[1].max_mr_size = (256ULL << 20) + 100;
	ASSERT_U64_EQ(mcx__mem_chunk_size(&eng->mem), 256ULL << 20);
	eng->devs.attr[0].max_mr_size = 64ULL << 20;
	ASSERT_U64_EQ(mcx__mem_chunk_size(&eng->mem), 64ULL << 20);
	/* A device that reports 0 (unknown) does not cap. */
	eng->devs.attr[0].max_mr_size = 0;
	ASSERT_U64_EQ(mcx__mem_chunk_size(&eng->mem), 256ULL << 20);
	free_engine(eng, &tp);
}

TEST(mem_max_mr_checked_before_registering)
{
	struct fake_tp tp;
	struct mcx_engine *eng = fake_engine(&tp, 2, 4096);
	struct mcx_mem *m = (struct mcx_mem *)1;
	void *buf = aligned_alloc(4096, 64 * 4096);

	ASSERT_TRUE(buf != NULL);
	eng->devs.attr[1].max_mr = 40;
	atomic_store(&eng->mem.nr_mrs[1], 30);
	log_capture();
	/* 11 chunks: 30 + 11 > 40 on fake1.  No device is touched. */
	ASSERT_ERR(mcx_mem_register(eng, buf, 11 * 4096, 0, &m), -ENOSPC);
	ASSERT_TRUE(m == NULL);
	ASSERT_TRUE(strstr(captured_log, "fake1") != NULL);
	ASSERT_TRUE(strstr(captured_log, "40") != NULL);
	ASSERT_TRUE(strstr(captured_log, "MCX_REG_CHUNK_SIZE") != NULL);
	ASSERT_EQ(mcx__regcache_list(&eng->mem.cache, NULL, 0), 0);	/* nothing left */
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_regs), 0);
	/* A batch counts all its buffers together. */
	{
		struct mcx_mem_req r[2] = {
			{ .addr = buf, .len = 6 * 4096, .dmabuf_fd = -1 },
			{ .addr = (char *)buf + 32 * 4096, .len = 6 * 4096, .dmabuf_fd = -1 },
		};
		struct mcx_mem *out[2] = { (struct mcx_mem *)1, (struct mcx_mem *)1 };

		ASSERT_ERR(mcx_mem_register_batch(eng, r, 2, out), -ENOSPC);
		ASSERT_TRUE(out[0] == NULL && out[1] == NULL);
	}
	ASSERT_EQ(mcx__regcache_list(&eng->mem.cache, NULL, 0), 0);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_regs), 0);
	/* Up to the limit it goes through, one MR per chunk and device. */
	ASSERT_ERR(mcx_mem_register(eng, buf, 10 * 4096, 0, &m), 0);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_regs), 20);
	ASSERT_EQ(atomic_load(&eng->mem.nr_mrs[0]), 10);
	ASSERT_EQ(atomic_load(&eng->mem.nr_mrs[1]), 40);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_deregs), 20);
	ASSERT_EQ(atomic_load(&eng->mem.nr_mrs[0]), 0);
	ASSERT_EQ(atomic_load(&eng->mem.nr_mrs[1]), 30);
	free(buf);
	free_engine(eng, &tp);
}

TEST(mem_register_argument_checks)
{
	struct fake_tp tp;
	struct mcx_engine *eng = fake_engine(&tp, 1, 1ULL << 30);
	struct mcx_mem *m = (struct mcx_mem *)1;
	char buf[64];

	ASSERT_ERR(mcx_mem_register(eng, NULL, 10, 0, &m), -EINVAL);
	ASSERT_TRUE(m == NULL);
	ASSERT_ERR(mcx_mem_register(eng, buf, 0, 0, &m), -EINVAL);
	ASSERT_ERR(mcx_mem_register(eng, buf, 10, 0x80, &m), -EINVAL);
	/* The first bit past the known ones. */
	ASSERT_ERR(mcx_mem_register(eng, buf, 10, MCX_MEM_CUDA << 1, &m), -EINVAL);
	ASSERT_TRUE(m == NULL);
	ASSERT_ERR(mcx_mem_register(eng, (void *)(uintptr_t)(UINTPTR_MAX - 4), 10, 0, &m),
		   -EINVAL);
	ASSERT_ERR(mcx_mem_register(NULL, buf, 10, 0, &m), -EINVAL);
	ASSERT_ERR(mcx_mem_register(eng, buf, 10, 0, NULL), -EINVAL);
	ASSERT_ERR(mcx_mem_register_dmabuf(eng, -1, 0, 4096, 0, 0, &m), -EBADF);
	ASSERT_ERR(mcx_mem_register_dmabuf(eng, 3, UINT64_MAX - 10, 4096, 0, 0, &m), -EOVERFLOW);
	ASSERT_ERR(mcx_mem_register_dmabuf(eng, 3, 0, 4096, UINT64_MAX - 10, 0, &m), -EOVERFLOW);
	ASSERT_ERR(mcx_mem_register_batch(eng, NULL, 1, &m), -EINVAL);
	ASSERT_ERR(mcx_mem_deregister(NULL), -EINVAL);
	ASSERT_ERR(mcx_mem_query(NULL, NULL), -EINVAL);
	/* Nothing reached a device. */
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_regs), 0);
	free_engine(eng, &tp);
}

/* Every MR of m has remote access (a key) or none has; which one. */
static bool all_keys(const struct mcx_mem *m, bool nonzero)
{
	for (uint32_t c = 0; c < m->nr_chunks; c++)
		for (uint32_t d = 0; d < m->nr_nics; d++)
			if ((mcx__mem_mr(m, c, d)->rkey != 0) != nonzero ||
			    !mcx__mem_mr(m, c, d)->mr)
				return false;
	return true;
}

/*
 * The transport decides the MRs' access from mcx_tp_mr_req.remote, which
 * only an exported registration sets: a local-only one is registered
 * without remote access on every device, whatever its other flags.
 * Checked to fail with .remote = true in mcx__reg_job_do().
 */
TEST(mem_mr_access_is_local_unless_exported)
{
	struct fake_tp tp;
	struct mcx_engine *eng = fake_engine(&tp, 2, 4096);
	char *buf = aligned_alloc(4096, 16 * 4096);
	struct mcx_mem *local, *priv, *exp, *both;

	ASSERT_TRUE(buf != NULL);
	/* 3 chunks on 2 devices: 6 MRs, none with remote access. */
	ASSERT_ERR(mcx_mem_register(eng, buf, 3 * 4096, 0, &local), 0);
	ASSERT_TRUE(!mcx__mem_remote(local));
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_local), 6);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_remote), 0);
	ASSERT_TRUE(all_keys(local, false));
	ASSERT_ERR(mcx_mem_register(eng, buf, 4096, MCX_MEM_NO_CACHE, &priv), 0);
	ASSERT_TRUE(!mcx__mem_remote(priv));
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_local), 8);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_remote), 0);
	ASSERT_TRUE(all_keys(priv, false));
	/* Exported: every MR asked with remote access, each with a key. */
	ASSERT_ERR(mcx_mem_register(eng, buf + 4 * 4096, 2 * 4096, MCX_MEM_EXPORT, &exp), 0);
	ASSERT_TRUE(mcx__mem_remote(exp));
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_remote), 4);
	ASSERT_TRUE(all_keys(exp, true));
	ASSERT_ERR(mcx_mem_register(eng, buf + 8 * 4096, 4096,
				    MCX_MEM_EXPORT | MCX_MEM_NO_CACHE, &both), 0);
	ASSERT_TRUE(mcx__mem_remote(both));
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_remote), 6);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_local), 8);
	ASSERT_TRUE(all_keys(both, true));
	ASSERT_ERR(mcx_mem_deregister(local), 0);
	ASSERT_ERR(mcx_mem_deregister(priv), 0);
	ASSERT_ERR(mcx_mem_deregister(exp), 0);
	ASSERT_ERR(mcx_mem_deregister(both), 0);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_deregs), 14);
	free(buf);
	free_engine(eng, &tp);
}

/*
 * The registration workers start with the first registration, not with
 * the memory space: an engine that registers nothing runs none.
 */
TEST(mem_registration_threads_start_on_first_use)
{
	struct fake_tp tp;
	struct mcx_engine *eng = fake_engine(&tp, 2, 4096);
	char *buf = aligned_alloc(4096, 4 * 4096);
	struct mcx_mem *a, *b;

	ASSERT_TRUE(buf != NULL);
	ASSERT_EQ(mcx__regpool_threads(eng->mem.pool), 2);
	ASSERT_EQ(mcx__regpool_started(eng->mem.pool), 0);
	ASSERT_ERR(mcx_mem_register(eng, buf, 2 * 4096, MCX_MEM_EXPORT, &a), 0);
	ASSERT_EQ(mcx__regpool_started(eng->mem.pool), 2);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_remote), 4);
	/* Started once: the next registration uses the same workers. */
	ASSERT_ERR(mcx_mem_register(eng, buf + 2 * 4096, 2 * 4096, 0, &b), 0);
	ASSERT_EQ(mcx__regpool_started(eng->mem.pool), 2);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_local), 4);
	ASSERT_ERR(mcx_mem_deregister(a), 0);
	ASSERT_ERR(mcx_mem_deregister(b), 0);
	free(buf);
	free_engine(eng, &tp);
}

/* A pool that never ran has no thread to stop. */
TEST(mem_registration_pool_unused_is_destroyed_cleanly)
{
	struct mcx_regpool *pool = NULL;

	ASSERT_ERR(mcx__regpool_create(0, &pool), -EINVAL);
	ASSERT_ERR(mcx__regpool_create(4, &pool), 0);
	ASSERT_EQ(mcx__regpool_started(pool), 0);
	ASSERT_ERR(mcx__regpool_run(pool, NULL, 0), 0);
	ASSERT_EQ(mcx__regpool_started(pool), 0);
	mcx__regpool_destroy(pool);
}

/*
 * What peers are told: mcx__mem_list_exported() and the MEM_REPLY the
 * handshake builds from it name exported registrations only.  A
 * local-only registration is not there under any name: not its id, its
 * address nor a key.  Checked to fail with mcx__mem_list_exported()
 * listing every registration (3 listed, not 2).
 */
TEST(mem_peers_are_told_only_of_exported_registrations)
{
	struct fake_tp tp;
	struct mcx_engine *eng = fake_engine(&tp, 1, 1ULL << 30);
	char *buf = aligned_alloc(4096, 16 * 4096);
	struct mcx_peer_env env = { .devs = &eng->devs, .mem = &eng->mem };
	struct mcx_wire_mem_req q = { 0 };
	struct mcx_mem *local, *exp, *priv, *v[4];
	struct mcx_wire_mem wm;
	uint8_t *reply;
	size_t n, len;

	ASSERT_TRUE(buf != NULL);
	ASSERT_ERR(mcx_mem_register(eng, buf, 4096, 0, &local), 0);
	ASSERT_ERR(mcx_mem_register(eng, buf + 4096, 4096, MCX_MEM_EXPORT, &exp), 0);
	ASSERT_ERR(mcx_mem_register(eng, buf + 2 * 4096, 4096,
				    MCX_MEM_EXPORT | MCX_MEM_NO_CACHE, &priv), 0);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_local), 1);
	n = mcx__mem_list_exported(&eng->mem, v, 4);
	ASSERT_EQ(n, 2);
	for (size_t i = 0; i < n; i++) {
		ASSERT_TRUE(v[i] != local);
		ASSERT_TRUE(v[i] == exp || v[i] == priv);
		mcx__mem_put(v[i]);
	}
	/* The list's references are back. */
	ASSERT_EQ(atomic_load(&local->refs), 1);
	ASSERT_EQ(atomic_load(&exp->refs), 1);
	ASSERT_EQ(atomic_load(&priv->refs), 1);

	/* The MEM_REPLY a peer gets. */
	ASSERT_ERR(mcx__handshake_mem_reply(&env, &q, 9, &reply, &len), 0);
	ASSERT_ERR(mcx__wire_decode_mem(reply, len, &wm), 0);
	free(reply);
	ASSERT_EQ(wm.total, 2);
	ASSERT_EQ(wm.count, 2);
	ASSERT_EQ(wm.nnics, 1);
	for (uint32_t i = 0; i < wm.count; i++) {
		const struct mcx_wire_desc *d = &wm.descs[i];
		const struct mcx_mem *m = d->id == exp->id ? exp : priv;

		ASSERT_TRUE(d->id != local->id);
		ASSERT_TRUE(d->addr != local->addr);
		ASSERT_TRUE(d->id == exp->id || d->id == priv->id);
		ASSERT_U64_EQ(d->addr, m->addr);
		ASSERT_U64_EQ(d->keys[0], mcx__mem_mr(m, 0, 0)->rkey);
		ASSERT_TRUE(d->keys[0] != 0);
	}
	mcx__wire_mem_free(&wm);

	/* Only local-only ones left: nothing at all for a peer. */
	ASSERT_ERR(mcx_mem_deregister(exp), 0);
	ASSERT_ERR(mcx_mem_deregister(priv), 0);
	ASSERT_EQ(mcx__mem_list_exported(&eng->mem, v, 4), 0);
	ASSERT_EQ(atomic_load(&local->refs), 1);
	ASSERT_ERR(mcx__handshake_mem_reply(&env, &q, 10, &reply, &len), 0);
	ASSERT_ERR(mcx__wire_decode_mem(reply, len, &wm), 0);
	free(reply);
	ASSERT_EQ(wm.total, 0);
	ASSERT_EQ(wm.count, 0);
	mcx__wire_mem_free(&wm);
	ASSERT_ERR(mcx_mem_deregister(local), 0);
	free(buf);
	free_engine(eng, &tp);
}

TEST(mem_export_request_never_shares_a_local_only_registration)
{
	struct fake_tp tp;
	struct mcx_engine *eng = fake_engine(&tp, 0, 1ULL << 30);
	char *buf = aligned_alloc(4096, 16 * 4096);
	struct mcx_mem *local, *exp, *again;
	struct mcx_mem_info info;

	ASSERT_TRUE(buf != NULL);
	ASSERT_ERR(mcx_mem_register(eng, buf, 16 * 4096, 0, &local), 0);
	ASSERT_EQ(local->flags & MCX_MEM_EXPORT, 0);
	/* Inside the local-only one: a miss, a registration of its own. */
	ASSERT_ERR(mcx_mem_register(eng, buf + 4096, 4096, MCX_MEM_EXPORT, &exp), 0);
	ASSERT_TRUE(exp != local);
	ASSERT_TRUE(exp->flags & MCX_MEM_EXPORT);
	ASSERT_U64_EQ(exp->addr, (uintptr_t)buf + 4096);
	ASSERT_U64_EQ(eng->mem.cache.misses, 2);
	/* Each kind of request shares its own kind of registration. */
	ASSERT_ERR(mcx_mem_register(eng, buf + 4096, 100, MCX_MEM_EXPORT, &again), 0);
	ASSERT_TRUE(again == exp);
	ASSERT_ERR(mcx_mem_deregister(again), 0);
	ASSERT_ERR(mcx_mem_register(eng, buf + 4096, 100, 0, &again), 0);
	ASSERT_TRUE(again == local);
	ASSERT_ERR(mcx_mem_deregister(again), 0);
	/* A local-only request inside only an exported one misses too. */
	ASSERT_ERR(mcx_mem_deregister(local), 0);
	ASSERT_ERR(mcx_mem_register(eng, buf + 4096, 100, 0, &again), 0);
	ASSERT_TRUE(again != exp);
	ASSERT_EQ(again->flags & MCX_MEM_EXPORT, 0);
	ASSERT_ERR(mcx_mem_query(exp, &info), 0);
	ASSERT_EQ(info.refs, 1);
	ASSERT_ERR(mcx_mem_deregister(again), 0);
	ASSERT_ERR(mcx_mem_deregister(exp), 0);
	ASSERT_EQ(mcx__regcache_list(&eng->mem.cache, NULL, 0), 0);
	free(buf);
	free_engine(eng, &tp);
}

TEST(mem_host_and_dmabuf_registrations_must_not_overlap)
{
	struct fake_tp tp;
	struct mcx_engine *eng = fake_engine(&tp, 0, 1ULL << 30);
	char *buf = aligned_alloc(4096, 16 * 4096);
	uint64_t a = (uintptr_t)buf, len = 16 * 4096;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct mcx_mem *host, *dma, *m = (struct mcx_mem *)1;
	char want[96];

	ASSERT_TRUE(buf != NULL && fd >= 0);
	/* Host first: a dma-buf whose iovas overlap it is refused ... */
	ASSERT_ERR(mcx_mem_register(eng, buf, len, 0, &host), 0);
	log_capture();
	ASSERT_ERR(mcx_mem_register_dmabuf(eng, fd, 0, 8192, a + len - 4096, 0, &m), -EEXIST);
	ASSERT_TRUE(m == NULL);
	snprintf(want, sizeof(want), "[0x%llx, 0x%llx)", (unsigned long long)(a + len - 4096),
		 (unsigned long long)(a + len + 4096));
	ASSERT_CONTAINS(captured_log, want);
	snprintf(want, sizeof(want), "[0x%llx, 0x%llx)", (unsigned long long)a,
		 (unsigned long long)(a + len));
	ASSERT_CONTAINS(captured_log, want);
	ASSERT_EQ(mcx__regcache_list(&eng->mem.cache, NULL, 0), 1);
	/* ... one right after it is not, and lookups tell them apart. */
	ASSERT_ERR(mcx_mem_register_dmabuf(eng, fd, 0, 8192, a + len, 0, &dma), 0);
	ASSERT_TRUE(mcx__regcache_find(&eng->mem.cache, a + len - 1, 1) == host);
	mcx__mem_put(host);
	ASSERT_TRUE(mcx__regcache_find(&eng->mem.cache, a + len, 1) == dma);
	mcx__mem_put(dma);
	/* The reverse: a host range over the dma-buf's iovas is refused. */
	ASSERT_ERR(mcx_mem_deregister(host), 0);
	log_capture();
	ASSERT_ERR(mcx_mem_register(eng, buf, len + 1, 0, &m), -EEXIST);
	ASSERT_TRUE(m == NULL);
	ASSERT_CONTAINS(captured_log, "dma-buf");
	ASSERT_ERR(mcx_mem_register(eng, buf, len, 0, &host), 0);
	ASSERT_ERR(mcx_mem_deregister(host), 0);
	/* In one batch, too; nothing of the batch stays. */
	{
		struct mcx_mem_req r[2] = {
			{ .iova = a, .len = 4096, .dmabuf_fd = fd },
			{ .addr = buf + 4095, .len = 2, .dmabuf_fd = -1 },
		};
		struct mcx_mem *out[2];

		ASSERT_ERR(mcx_mem_register_batch(eng, r, 2, out), -EEXIST);
		ASSERT_TRUE(out[0] == NULL && out[1] == NULL);
		ASSERT_EQ(mcx__regcache_list(&eng->mem.cache, NULL, 0), 1);	/* dma */
		r[1].addr = buf + 4096;
		ASSERT_ERR(mcx_mem_register_batch(eng, r, 2, out), 0);
		ASSERT_ERR(mcx_mem_deregister(out[0]), 0);
		ASSERT_ERR(mcx_mem_deregister(out[1]), 0);
	}
	ASSERT_ERR(mcx_mem_deregister(dma), 0);
	ASSERT_EQ(mcx__regcache_list(&eng->mem.cache, NULL, 0), 0);
	close(fd);
	free(buf);
	free_engine(eng, &tp);
}

/*
 * What another thread does while a registration call is under way: look up
 * each buffer of the call and keep what it finds, as a transfer would.
 */
struct other_thread {
	struct mcx_engine *eng;
	const struct mcx_mem_req *reqs;
	size_t n, calls, nkept;
	struct mcx_mem *kept[8];
};

static void other_thread_looks(void *arg)
{
	struct other_thread *t = arg;

	t->calls++;
	for (size_t i = 0; i < t->n; i++) {
		struct mcx_mem *m = mcx__regcache_find(&t->eng->mem.cache,
						       (uintptr_t)t->reqs[i].addr, 1);

		if (m && t->nkept < 8)
			t->kept[t->nkept++] = m;
		else if (m)
			mcx__mem_put(m);
	}
}

TEST(mem_batch_enomem_unwinds_what_nobody_else_saw)
{
	struct fake_tp tp;
	struct mcx_engine *eng = fake_engine(&tp, 0, 1ULL << 30);
	char *buf = aligned_alloc(4096, 64 * 4096);
	struct mcx_mem_req r[5];
	struct mcx_mem *out[5], *before;
	struct other_thread t = { .eng = eng, .reqs = r, .n = 5 };
	int kept_ok = 0;

	ASSERT_TRUE(buf != NULL);
	/* r[0] is a cache hit on a registration made before; r[1..4] are new. */
	ASSERT_ERR(mcx_mem_register(eng, buf, 8 * 4096, 0, &before), 0);
	for (int i = 0; i < 5; i++)
		r[i] = (struct mcx_mem_req){ .addr = buf + (size_t)i * 8 * 4096 + 4096,
					     .len = 4096, .dmabuf_fd = -1 };
	/* The 3rd of the 4 new ones fails to go into the cache. */
	mcx__regcache_fail_insert(&eng->mem.cache, 3, other_thread_looks, &t);
	ASSERT_ERR(mcx_mem_register_batch(eng, r, 5, out), -ENOMEM);
	for (int i = 0; i < 5; i++)
		ASSERT_TRUE(out[i] == NULL);
	ASSERT_EQ(t.calls, 1);
	/*
	 * What the other thread took must still be valid: use it, then drop
	 * it (a use after free here is what ASan reports).  Only the earlier
	 * registration may have been seen.
	 */
	for (size_t i = 0; i < t.nkept; i++) {
		struct mcx_mem_info info;

		ASSERT_ERR(mcx_mem_query(t.kept[i], &info), 0);
		kept_ok += info.len == 8 * 4096 && t.kept[i] == before;
		mcx__mem_put(t.kept[i]);
	}
	ASSERT_EQ(t.nkept, 1);
	ASSERT_EQ(kept_ok, 1);
	/* Nothing of the call stays; the hit got its reference back. */
	ASSERT_EQ(mcx__regcache_list(&eng->mem.cache, NULL, 0), 1);
	ASSERT_EQ(atomic_load(&before->refs), 1);
	/* Without the failure the same call registers all five. */
	t.nkept = 0;
	ASSERT_ERR(mcx_mem_register_batch(eng, r, 5, out), 0);
	ASSERT_EQ(t.calls, 1);
	ASSERT_TRUE(out[0] == before);
	ASSERT_EQ(mcx__regcache_list(&eng->mem.cache, NULL, 0), 5);
	for (int i = 0; i < 5; i++)
		ASSERT_ERR(mcx_mem_deregister(out[i]), 0);
	ASSERT_ERR(mcx_mem_deregister(before), 0);
	ASSERT_EQ(mcx__regcache_list(&eng->mem.cache, NULL, 0), 0);
	free(buf);
	free_engine(eng, &tp);
}
