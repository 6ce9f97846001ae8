// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registration limits (lib/mem/mem.c) that are decided before any device is
 * asked: the chunk size capped by the devices' max MR size, the MR count
 * checked against max_mr, and argument checks.
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
