// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registration limits (lib/mem/mem.c) that are decided before any device is
 * asked: the chunk size capped by the devices' max MR size, the MR count
 * checked against max_mr, and argument checks.  Then what needs no device
 * at all: on an engine without NICs a registration makes no MR but goes
 * through the flags, the cache and its unwind like any other, which is how
 * the export bit, the kinds' address space and the out-of-memory unwind are
 * tested here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "core/core.h"
#include "util.h"

static struct mcx_engine *fake_engine(uint32_t nics)
{
	struct mcx_engine *eng = calloc(1, sizeof(*eng));

	ASSERT_TRUE(eng != NULL);
	mcx__opts_defaults(&eng->opts);
	ASSERT_ERR(mcx__regcache_init(&eng->cache), 0);
	eng->nr_nics = nics;
	for (uint32_t i = 0; i < nics; i++) {
		eng->nics[i].idx = i;
		snprintf(eng->nics[i].name, sizeof(eng->nics[i].name), "fake%u", i);
		eng->nics[i].max_mr_size = UINT64_MAX;
		eng->nics[i].max_mr = 1000;
	}
	return eng;
}

static void free_engine(struct mcx_engine *eng)
{
	mcx__regcache_destroy(&eng->cache);
	free(eng);
}

TEST(mem_chunk_size_is_capped_by_max_mr_size)
{
	struct mcx_engine *eng = fake_engine(2);

	eng->opts.reg_chunk_size = 1ULL << 30;
	ASSERT_U64_EQ(mcx__mem_chunk_size(eng), 1ULL << 30);
	/* The smallest device limit wins, rounded down to 4 KiB. */
	eng->nics[1].max_mr_size = (256ULL << 20) + 100;
	ASSERT_U64_EQ(mcx__mem_chunk_size(eng), 256ULL << 20);
	eng->nics[0].max_mr_size = 64ULL << 20;
	ASSERT_U64_EQ(mcx__mem_chunk_size(eng), 64ULL << 20);
	/* A device that reports 0 (unknown) does not cap. */
	eng->nics[0].max_mr_size = 0;
	ASSERT_U64_EQ(mcx__mem_chunk_size(eng), 256ULL << 20);
	free_engine(eng);
}

TEST(mem_max_mr_checked_before_registering)
{
	struct mcx_engine *eng = fake_engine(2);
	struct mcx_mem *m = (struct mcx_mem *)1;
	void *buf = aligned_alloc(4096, 64 * 4096);

	ASSERT_TRUE(buf != NULL);
	eng->opts.reg_chunk_size = 4096;
	eng->nics[1].max_mr = 40;
	atomic_store(&eng->nics[1].nr_mrs, 30);
	log_capture();
	/* 11 chunks: 30 + 11 > 40 on fake1.  No device is touched. */
	ASSERT_ERR(mcx_mem_register(eng, buf, 11 * 4096, 0, &m), -ENOSPC);
	ASSERT_TRUE(m == NULL);
	ASSERT_TRUE(strstr(captured_log, "fake1") != NULL);
	ASSERT_TRUE(strstr(captured_log, "40") != NULL);
	ASSERT_TRUE(strstr(captured_log, "MCX_REG_CHUNK_SIZE") != NULL);
	ASSERT_EQ(mcx__regcache_list(&eng->cache, NULL, 0), 0);	/* nothing left */
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
	ASSERT_EQ(mcx__regcache_list(&eng->cache, NULL, 0), 0);
	free(buf);
	free_engine(eng);
}

TEST(mem_register_argument_checks)
{
	struct mcx_engine *eng = fake_engine(1);
	struct mcx_mem *m = (struct mcx_mem *)1;
	char buf[64];

	ASSERT_ERR(mcx_mem_register(eng, NULL, 10, 0, &m), -EINVAL);
	ASSERT_TRUE(m == NULL);
	ASSERT_ERR(mcx_mem_register(eng, buf, 0, 0, &m), -EINVAL);
	ASSERT_ERR(mcx_mem_register(eng, buf, 10, 0x80, &m), -EINVAL);
	/* The first bit past the known ones. */
	ASSERT_ERR(mcx_mem_register(eng, buf, 10, MCX_MEM_EXPORT << 1, &m), -EINVAL);
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
	free_engine(eng);
}

TEST(mem_mr_access_is_local_unless_exported)
{
	struct mcx_nic nic = { 0 };
	struct mcx_mem m = { 0 };
	const int remote = IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
	const int ro = 1 << 20;	/* IBV_ACCESS_RELAXED_ORDERING where rdma-core has it */
	int acc;

	/* What relaxed.c gives every NIC. */
	nic.mr_access = IBV_ACCESS_LOCAL_WRITE | remote;
	acc = mcx__mem_access(&m, &nic);
	ASSERT_EQ(acc, IBV_ACCESS_LOCAL_WRITE);
	m.flags = MCX_MEM_NO_CACHE;
	ASSERT_EQ(mcx__mem_access(&m, &nic), IBV_ACCESS_LOCAL_WRITE);
	m.flags = MCX_MEM_EXPORT;
	acc = mcx__mem_access(&m, &nic);
	ASSERT_EQ(acc & (remote | IBV_ACCESS_LOCAL_WRITE), remote | IBV_ACCESS_LOCAL_WRITE);
	/* Relaxed ordering: kept for export; local-only gets nothing else. */
	nic.mr_access |= ro;
	ASSERT_TRUE(mcx__mem_access(&m, &nic) & ro);
	m.flags = 0;
	acc = mcx__mem_access(&m, &nic);
	ASSERT_EQ(acc & remote, 0);
	ASSERT_TRUE(acc & IBV_ACCESS_LOCAL_WRITE);
	ASSERT_EQ(acc & ~(IBV_ACCESS_LOCAL_WRITE | ro), 0);
}

/* A registration of [addr, addr + len) on eng's one NIC with made-up MRs. */
static struct mcx_mem *fake_mem(struct mcx_engine *eng, uint64_t addr, uint64_t len,
				unsigned int flags, struct ibv_mr *mr)
{
	struct mcx_mem *m = calloc(1, sizeof(*m));

	ASSERT_TRUE(m != NULL);
	m->eng = eng;
	m->id = atomic_fetch_add(&eng->next_mem_id, 1);
	m->addr = addr;
	m->len = len;
	m->chunk_size = len;
	m->nr_chunks = 1;
	m->nr_nics = 1;
	m->flags = flags;
	m->dmabuf_fd = -1;
	m->mrs = calloc(1, sizeof(*m->mrs));
	ASSERT_TRUE(m->mrs != NULL);
	m->mrs[0] = mr;
	atomic_store(&m->refs, 1);
	ASSERT_ERR(mcx__regcache_insert(&eng->cache, m), 0);
	return m;
}

static void fake_mem_free(struct mcx_mem *m)
{
	ASSERT_EQ(mcx__regcache_put(&m->eng->cache, m), 0);
	free(m->mrs);
	free(m);
}

TEST(mem_snapshot_lists_only_exported_registrations)
{
	struct mcx_engine *eng = fake_engine(1);
	struct ibv_mr mr_local = { .rkey = 0x1111 }, mr_exp = { .rkey = 0x2222 };
	struct ibv_mr mr_priv = { .rkey = 0x3333 };
	struct mcx_mem *local, *exp, *priv;
	struct mcx_rdesc **v;
	size_t n;

	eng->next_mem_id = 1;
	local = fake_mem(eng, 0x10000, 4096, 0, &mr_local);
	exp = fake_mem(eng, 0x20000, 4096, MCX_MEM_EXPORT, &mr_exp);
	priv = fake_mem(eng, 0x30000, 4096, MCX_MEM_EXPORT | MCX_MEM_NO_CACHE, &mr_priv);
	ASSERT_ERR(mcx__mem_snapshot(eng, &v, &n), 0);
	ASSERT_EQ(n, 2);
	for (size_t i = 0; i < n; i++) {
		/* The local-only one is not there, under any name. */
		ASSERT_TRUE(v[i]->id != local->id);
		ASSERT_TRUE(v[i]->addr != local->addr);
		ASSERT_TRUE(v[i]->rkeys[0] != mr_local.rkey);
		ASSERT_TRUE(v[i]->id == exp->id || v[i]->id == priv->id);
		ASSERT_EQ(v[i]->rkeys[0], v[i]->id == exp->id ? mr_exp.rkey : mr_priv.rkey);
		mcx__rdesc_put(v[i]);
	}
	free(v);
	/* The snapshot's references are back. */
	ASSERT_EQ(atomic_load(&local->refs), 1);
	ASSERT_EQ(atomic_load(&exp->refs), 1);
	fake_mem_free(exp);
	fake_mem_free(priv);
	/* Only local-only ones left: nothing at all for a peer. */
	v = (struct mcx_rdesc **)1;
	ASSERT_ERR(mcx__mem_snapshot(eng, &v, &n), 0);
	ASSERT_EQ(n, 0);
	free(v);
	fake_mem_free(local);
	free_engine(eng);
}

TEST(mem_export_request_never_shares_a_local_only_registration)
{
	struct mcx_engine *eng = fake_engine(0);
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
	ASSERT_U64_EQ(eng->cache.misses, 2);
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
	ASSERT_EQ(mcx__regcache_list(&eng->cache, NULL, 0), 0);
	free(buf);
	free_engine(eng);
}

TEST(mem_host_and_dmabuf_registrations_must_not_overlap)
{
	struct mcx_engine *eng = fake_engine(0);
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
	ASSERT_EQ(mcx__regcache_list(&eng->cache, NULL, 0), 1);
	/* ... one right after it is not, and lookups tell them apart. */
	ASSERT_ERR(mcx_mem_register_dmabuf(eng, fd, 0, 8192, a + len, 0, &dma), 0);
	ASSERT_TRUE(mcx__regcache_find(&eng->cache, a + len - 1, 1) == host);
	mcx__mem_put(host);
	ASSERT_TRUE(mcx__regcache_find(&eng->cache, a + len, 1) == dma);
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
		ASSERT_EQ(mcx__regcache_list(&eng->cache, NULL, 0), 1);	/* dma */
		r[1].addr = buf + 4096;
		ASSERT_ERR(mcx_mem_register_batch(eng, r, 2, out), 0);
		ASSERT_ERR(mcx_mem_deregister(out[0]), 0);
		ASSERT_ERR(mcx_mem_deregister(out[1]), 0);
	}
	ASSERT_ERR(mcx_mem_deregister(dma), 0);
	ASSERT_EQ(mcx__regcache_list(&eng->cache, NULL, 0), 0);
	close(fd);
	free(buf);
	free_engine(eng);
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
		struct mcx_mem *m = mcx__regcache_find(&t->eng->cache,
						       (uintptr_t)t->reqs[i].addr, 1);

		if (m && t->nkept < 8)
			t->kept[t->nkept++] = m;
		else if (m)
			mcx__mem_put(m);
	}
}

TEST(mem_batch_enomem_unwinds_what_nobody_else_saw)
{
	struct mcx_engine *eng = fake_engine(0);
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
	mcx__regcache_fail_insert(&eng->cache, 3, other_thread_looks, &t);
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
	ASSERT_EQ(mcx__regcache_list(&eng->cache, NULL, 0), 1);
	ASSERT_EQ(atomic_load(&before->refs), 1);
	/* Without the failure the same call registers all five. */
	t.nkept = 0;
	ASSERT_ERR(mcx_mem_register_batch(eng, r, 5, out), 0);
	ASSERT_EQ(t.calls, 1);
	ASSERT_TRUE(out[0] == before);
	ASSERT_EQ(mcx__regcache_list(&eng->cache, NULL, 0), 5);
	for (int i = 0; i < 5; i++)
		ASSERT_ERR(mcx_mem_deregister(out[i]), 0);
	ASSERT_ERR(mcx_mem_deregister(before), 0);
	ASSERT_EQ(mcx__regcache_list(&eng->cache, NULL, 0), 0);
	free(buf);
	free_engine(eng);
}
