// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * CUDA device memory (lib/mem/cuda.c, kind.c, gpu.c) against a fake driver
 * library (fake_cuda/fake_cuda.c) and the fake transport: loading only
 * once the process has CUDA, missing entry points, pointer kinds, dma-buf
 * export checks and failures, registration on the NICs nearest the GPU
 * (fake sysfs tree), the cache keyed by buffer id, the fallbacks to the
 * device address, and the errors when nothing can register it.
 *
 * "Device memory" here is host memory the fake driver calls device
 * memory: the library never touches it itself.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "mem/cuda.h"
#include "fake_tp.h"
#include "sysfs_tree.h"
#include "util.h"

#define FAKE_LIB MCX_FAKE_CUDA_DIR "/libfakecuda.so"
#define FAKE_LIB_NOEXPORT MCX_FAKE_CUDA_DIR "/libfakecuda-noexport.so"

static void (*fc_add)(unsigned long long, unsigned long long, int, int, int, unsigned long long,
		      void *);
static void (*fc_realloc)(unsigned long long, unsigned long long);
static void (*fc_set)(int, int);
static int (*fc_count)(const char *);
static unsigned long long (*fc_last_export)(int);

static char ctx0;	/* the context the fake's cuMemAlloc'ed memory belongs to */

/* Load the fake as if the application had: the library then finds it. */
static void fake_cuda(const char *lib)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_GLOBAL);

	ASSERT_TRUE(h != NULL);
	mcx__cuda_set_library(lib);
	*(void **)&fc_add = dlsym(h, "fake_cuda_add");
	*(void **)&fc_realloc = dlsym(h, "fake_cuda_realloc");
	*(void **)&fc_set = dlsym(h, "fake_cuda_set");
	*(void **)&fc_count = dlsym(h, "fake_cuda_count");
	*(void **)&fc_last_export = dlsym(h, "fake_cuda_last_export");
	ASSERT_TRUE(fc_add && fc_realloc && fc_set && fc_count && fc_last_export);
}

/* size bytes of "GPU ordinal" memory (4 KiB aligned), buffer id id. */
static void *gpu_mem(size_t size, int ordinal, unsigned long long id, void *ctx)
{
	void *p = NULL;

	ASSERT_EQ(posix_memalign(&p, 1 << 21, size), 0);
	fc_add((uintptr_t)p, size, MCX_CU_MEMORYTYPE_DEVICE, 0, ordinal, id, ctx);
	return p;
}

static struct mcx_engine *engine(struct fake_tp *tp, uint32_t nics, const char *sysfs)
{
	struct mcx_engine *eng = calloc(1, sizeof(*eng));

	ASSERT_TRUE(eng != NULL);
	mcx__opts_defaults(&eng->opts);
	fake_tp_setup(tp, &eng->devs, nics);
	ASSERT_ERR(mcx__memspace_init(&eng->mem, &eng->devs, 1 << 20, 2), 0);
	eng->mem.sysfs = sysfs;
	return eng;
}

static void engine_free(struct mcx_engine *eng, struct fake_tp *tp)
{
	mcx__memspace_fini(&eng->mem);
	fake_tp_teardown(tp, &eng->devs);
	free(eng);
}

static int reg(struct mcx_engine *eng, void *p, size_t len, unsigned int flags,
	       struct mcx_mem **out)
{
	struct mcx_mem_req r = { .addr = p, .len = len, .flags = flags, .dmabuf_fd = -1 };

	return mcx__mem_register_batch(&eng->mem, &r, 1, out);
}

TEST(cuda_never_loaded_by_a_process_without_it)
{
	struct mcx_cuda_ptr q;
	struct fake_tp tp;
	struct mcx_engine *eng = engine(&tp, 1, NULL);
	struct mcx_mem *m;
	void *buf = malloc(8192);

	mcx__cuda_set_library(FAKE_LIB);	/* there, but nobody loaded it */
	ASSERT_ERR(mcx__cuda_ptr_query((uintptr_t)buf, true, &q), -ENOENT);
	ASSERT_ERR(reg(eng, buf, 8192, 0, &m), 0);
	ASSERT_EQ(m->kind, MCX_MEM_HOST);
	/* Still not loaded: a plain registration never pulls it in. */
	ASSERT_TRUE(dlopen(FAKE_LIB, RTLD_NOW | RTLD_NOLOAD) == NULL);
	mcx_mem_deregister(m);
	/* No driver at all and CUDA asked for: a clear error. */
	mcx__cuda_set_library("/nonexistent/libcuda.so.1");
	log_capture();
	ASSERT_ERR(reg(eng, buf, 8192, MCX_MEM_CUDA, &m), -ENOENT);
	ASSERT_TRUE(m == NULL);
	ASSERT_TRUE(strstr(captured_log, "no CUDA driver library could be loaded") != NULL);
	mcx__log_init();
	engine_free(eng, &tp);
	free(buf);
}

TEST(cuda_missing_entry_point_is_enosys_and_named)
{
	struct mcx_cuda_ptr q;

	fake_cuda(FAKE_LIB_NOEXPORT);
	log_capture();
	ASSERT_ERR(mcx__cuda_ptr_query(4096, true, &q), -ENOSYS);
	ASSERT_TRUE(strstr(captured_log, "cuMemGetHandleForAddressRange") != NULL);
	/* Said once: the next pointer gets the same answer without a retry. */
	captured_log[0] = '\0';
	ASSERT_ERR(mcx__cuda_ptr_query(8192, true, &q), -ENOSYS);
	ASSERT_STREQ(captured_log, "");
	mcx__log_init();
	ASSERT_EQ(fc_count("init"), 0);
}

TEST(cuda_pointer_kinds)
{
	static char host[8192], pinned[8192], managed[8192];
	struct mcx_cuda_ptr q;
	void *dev;

	fake_cuda(FAKE_LIB);
	dev = gpu_mem(4 << 20, 1, 77, &ctx0);
	fc_add((uintptr_t)pinned, sizeof(pinned), MCX_CU_MEMORYTYPE_HOST, 0, 0, 78, &ctx0);
	fc_add((uintptr_t)managed, sizeof(managed), MCX_CU_MEMORYTYPE_DEVICE, 1, 0, 79, &ctx0);
	ASSERT_ERR(mcx__cuda_ptr_query((uintptr_t)dev + 5000, true, &q), 0);
	ASSERT_EQ(q.kind, MCX_CUDA_PTR_DEVICE);
	ASSERT_EQ(q.ordinal, 1);
	ASSERT_U64_EQ(q.base, (uintptr_t)dev);
	ASSERT_U64_EQ(q.size, 4 << 20);
	ASSERT_U64_EQ(q.buffer_id, 77);
	ASSERT_TRUE(q.ctx == (void *)&ctx0);
	ASSERT_ERR(mcx__cuda_ptr_query((uintptr_t)pinned, true, &q), 0);
	ASSERT_EQ(q.kind, MCX_CUDA_PTR_HOST);
	ASSERT_ERR(mcx__cuda_ptr_query((uintptr_t)managed, true, &q), 0);
	ASSERT_EQ(q.kind, MCX_CUDA_PTR_MANAGED);
	ASSERT_ERR(mcx__cuda_ptr_query((uintptr_t)host, true, &q), 0);
	ASSERT_EQ(q.kind, MCX_CUDA_PTR_UNKNOWN);
	ASSERT_EQ(fc_count("init"), 1);
	free(dev);
}

TEST(cuda_export_checks_alignment_range_and_context)
{
	struct mcx_cuda_ptr q, vmm;
	void *dev, *v;
	int fd;

	fake_cuda(FAKE_LIB);
	dev = gpu_mem(4 << 20, 0, 1, &ctx0);
	v = gpu_mem(2 << 20, 1, 2, NULL);	/* a VMM mapping: no context of its own */
	mcx__cuda_ptr_query((uintptr_t)dev, true, &q);
	mcx__cuda_ptr_query((uintptr_t)v, true, &vmm);
	ASSERT_ERR(mcx__cuda_export_dmabuf(&q, (uintptr_t)dev + 4096, 8192, &fd), 0);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	ASSERT_ERR(mcx__cuda_export_dmabuf(&vmm, (uintptr_t)v, 2 << 20, &fd), 0);
	close(fd);
	ASSERT_EQ(fc_count("wrong_ctx"), 0);	/* each with its own context current */
	ASSERT_EQ(fc_count("ctx_left"), 0);	/* and nothing left current after */
	ASSERT_ERR(mcx__cuda_export_dmabuf(&q, (uintptr_t)dev + 1, 4096, &fd), -EINVAL);
	ASSERT_ERR(mcx__cuda_export_dmabuf(&q, (uintptr_t)dev, 4097, &fd), -EINVAL);
	ASSERT_ERR(mcx__cuda_export_dmabuf(&q, (uintptr_t)dev, 0, &fd), -EINVAL);
	ASSERT_ERR(mcx__cuda_export_dmabuf(&q, (uintptr_t)dev - 4096, 8192, &fd), -ERANGE);
	ASSERT_ERR(mcx__cuda_export_dmabuf(&q, (uintptr_t)dev + (4 << 20) - 4096, 8192, &fd),
		   -ERANGE);
	ASSERT_EQ(fd, -1);
	ASSERT_EQ(fc_count("export"), 2);	/* the bad ones never reached the driver */
	free(dev);
	free(v);
}

TEST(cuda_export_failures_are_translated)
{
	struct mcx_cuda_ptr q;
	void *dev;
	int fd;

	fake_cuda(FAKE_LIB);
	dev = gpu_mem(1 << 20, 0, 1, &ctx0);
	mcx__cuda_ptr_query((uintptr_t)dev, true, &q);
	fc_set(MCX_CU_ERROR_NOT_SUPPORTED, 1);
	ASSERT_ERR(mcx__cuda_export_dmabuf(&q, (uintptr_t)dev, 1 << 20, &fd), -EOPNOTSUPP);
	fc_set(MCX_CU_ERROR_OUT_OF_MEMORY, 1);
	ASSERT_ERR(mcx__cuda_export_dmabuf(&q, (uintptr_t)dev, 1 << 20, &fd), -ENOMEM);
	ASSERT_EQ(fc_count("ctx_left"), 0);
	/* A device without dma-buf support is not even asked. */
	fc_set(0, 0);
	ASSERT_ERR(mcx__cuda_export_dmabuf(&q, (uintptr_t)dev, 1 << 20, &fd), -EOPNOTSUPP);
	ASSERT_EQ(fc_count("export"), 2);
	ASSERT_EQ(fd, -1);
	free(dev);
}

TEST(cuda_register_exports_once_onto_the_nearest_nic)
{
	const char *root = tree_make();
	struct fake_tp tp;
	struct mcx_engine *eng = engine(&tp, 3, root);
	struct mcx_mem *m, *m2;
	char *dev;

	fake_cuda(FAKE_LIB);
	dev = gpu_mem(8 << 20, 0, 5, &ctx0);
	log_capture();
	ASSERT_ERR(mcx_log_set_level(MCX_LOG_INFO), 0);	/* the path taken is said at info */
	/* Not page aligned: the export covers whole pages, the MRs the bytes. */
	ASSERT_ERR(reg(eng, dev + 100, (3 << 20) - 200, MCX_MEM_EXPORT, &m), 0);
	ASSERT_EQ(m->kind, MCX_MEM_CUDA_DEV);
	ASSERT_TRUE(m->dmabuf_fd >= 0);
	ASSERT_U64_EQ(m->dmabuf_offset, 100);
	ASSERT_U64_EQ(fc_last_export(0), (uintptr_t)dev);
	ASSERT_U64_EQ(fc_last_export(1), 3 << 20);
	ASSERT_EQ(m->nics, 1u);				/* fake0: GPU 0's switch */
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_regs), m->nr_chunks);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_dmabuf), m->nr_chunks);
	ASSERT_TRUE(mcx__mem_mr(m, 0, 0)->mr != NULL);
	ASSERT_TRUE(mcx__mem_mr(m, 0, 1)->mr == NULL);
	ASSERT_TRUE(strstr(captured_log, "as a dma-buf on fake0") != NULL);
	mcx__log_init();
	/* A range inside it: the cache, no new export. */
	ASSERT_ERR(reg(eng, dev + 4096, 4096, MCX_MEM_EXPORT, &m2), 0);
	ASSERT_TRUE(m2 == m);
	ASSERT_EQ(fc_count("export"), 1);
	mcx_mem_deregister(m2);
	/* GPU 1's memory goes to the NIC on its root port. */
	{
		char *dev1 = gpu_mem(2 << 20, 1, 6, &ctx0);
		struct mcx_mem *m1;

		ASSERT_ERR(reg(eng, dev1, 2 << 20, 0, &m1), 0);
		ASSERT_EQ(m1->nics, 2u);
		mcx_mem_deregister(m1);
		free(dev1);
	}
	mcx_mem_deregister(m);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_deregs), fake_tp_get(&tp, &tp.mr_regs));
	engine_free(eng, &tp);
	tree_remove(root);
	free(dev);
}

TEST(cuda_register_on_every_nic_with_gpu_nics_all)
{
	const char *root = tree_make();
	struct fake_tp tp;
	struct mcx_engine *eng = engine(&tp, 3, root);
	struct mcx_mem *m;
	char *dev;

	fake_cuda(FAKE_LIB);
	dev = gpu_mem(2 << 20, 0, 5, &ctx0);
	eng->mem.gpu_nics_all = true;
	ASSERT_ERR(reg(eng, dev, 2 << 20, 0, &m), 0);
	ASSERT_EQ(m->nics, 7u);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_regs), 3 * m->nr_chunks);
	mcx_mem_deregister(m);
	engine_free(eng, &tp);
	tree_remove(root);
	free(dev);
}

TEST(cuda_cache_never_reuses_freed_memory_at_the_same_address)
{
	struct fake_tp tp;
	struct mcx_engine *eng = engine(&tp, 1, NULL);
	struct mcx_mem *old, *fresh, *again;
	char *dev;

	fake_cuda(FAKE_LIB);
	dev = gpu_mem(2 << 20, 0, 10, &ctx0);
	ASSERT_ERR(reg(eng, dev, 2 << 20, MCX_MEM_EXPORT, &old), 0);
	fc_realloc((uintptr_t)dev, 11);		/* cuMemFree, then cuMemAlloc: same address */
	ASSERT_ERR(reg(eng, dev, 2 << 20, MCX_MEM_EXPORT, &fresh), 0);
	ASSERT_TRUE(fresh != old);
	ASSERT_U64_EQ(fresh->cuda_buffer_id, 11);
	ASSERT_EQ(fc_count("export"), 2);
	/* The stale one is out of sight: not advertised, not found, not reused. */
	ASSERT_TRUE(atomic_load(&old->dead));
	ASSERT_TRUE(mcx__mem_find(&eng->mem, (uintptr_t)dev, 4096) == fresh);
	mcx__mem_put(fresh);
	ASSERT_EQ(mcx__mem_list_exported(&eng->mem, NULL, 0), 2u);
	{
		struct mcx_mem *v[2];
		size_t n = mcx__mem_list_exported(&eng->mem, v, 2);

		ASSERT_EQ(n, 1u);
		ASSERT_TRUE(v[0] == fresh);
		mcx__mem_put(v[0]);
	}
	ASSERT_ERR(reg(eng, dev, 4096, MCX_MEM_EXPORT, &again), 0);
	ASSERT_TRUE(again == fresh);
	mcx_mem_deregister(again);
	mcx_mem_deregister(old);
	mcx_mem_deregister(fresh);
	engine_free(eng, &tp);
	free(dev);
}

TEST(cuda_without_dmabuf_export_registers_the_device_address)
{
	struct fake_tp tp;
	struct mcx_engine *eng = engine(&tp, 1, NULL);
	struct mcx_mem *m;
	char *dev;

	fake_cuda(FAKE_LIB);
	dev = gpu_mem(2 << 20, 0, 10, &ctx0);
	fc_set(0, 0);
	log_capture();
	ASSERT_ERR(reg(eng, dev, 2 << 20, 0, &m), 0);
	mcx__log_init();
	ASSERT_EQ(m->kind, MCX_MEM_CUDA_DEV);
	ASSERT_EQ(m->dmabuf_fd, -1);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_dmabuf), 0);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_regs), 2);
	ASSERT_TRUE(strstr(captured_log, "nvidia-peermem") != NULL);
	mcx_mem_deregister(m);
	engine_free(eng, &tp);
	free(dev);
}

TEST(cuda_nic_without_dmabuf_mrs_falls_back_then_fails_clearly)
{
	struct fake_tp tp;
	struct mcx_engine *eng = engine(&tp, 1, NULL);
	struct mcx_mem *m;
	char *dev;

	fake_cuda(FAKE_LIB);
	dev = gpu_mem(2 << 20, 0, 10, &ctx0);
	tp.dmabuf_reg_err = -EOPNOTSUPP;
	log_capture();
	ASSERT_ERR(reg(eng, dev, 2 << 20, 0, &m), 0);
	ASSERT_EQ(m->dmabuf_fd, -1);
	ASSERT_TRUE(strstr(captured_log, "registering the device address (nvidia-peermem) instead") != NULL);
	mcx_mem_deregister(m);
	/* Neither works: the device address is refused too. */
	fc_realloc((uintptr_t)dev, 12);
	tp.mr_reg_fail_at = 1;
	captured_log[0] = '\0';
	ASSERT_ERR(reg(eng, dev, 2 << 20, 0, &m), -EIO);
	ASSERT_TRUE(m == NULL);
	ASSERT_TRUE(strstr(captured_log, "neither a dma-buf nor the device address") != NULL);
	mcx__log_init();
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_deregs), fake_tp_get(&tp, &tp.mr_regs));
	engine_free(eng, &tp);
	free(dev);
}

TEST(cuda_register_errors_zero_nics_wrong_memory_and_bounds)
{
	static char host[8192] __attribute__((aligned(4096)));
	static char managed[8192] __attribute__((aligned(4096)));
	struct fake_tp tp;
	struct mcx_engine *eng = engine(&tp, 0, NULL), *eng1;
	struct mcx_mem *m = NULL;
	char *dev;

	fake_cuda(FAKE_LIB);
	dev = gpu_mem(2 << 20, 0, 10, &ctx0);
	fc_add((uintptr_t)managed, sizeof(managed), MCX_CU_MEMORYTYPE_DEVICE, 1, 0, 3, &ctx0);
	log_capture();
	ASSERT_ERR(reg(eng, dev, 4096, 0, &m), -ENODEV);
	ASSERT_TRUE(strstr(captured_log, "no NIC to register it on") != NULL);
	ASSERT_EQ(fc_count("export"), 0);
	engine_free(eng, &tp);

	eng1 = engine(&tp, 1, NULL);
	ASSERT_ERR(reg(eng1, host, 4096, MCX_MEM_CUDA, &m), -EINVAL);
	ASSERT_ERR(reg(eng1, managed, 4096, MCX_MEM_CUDA, &m), -EOPNOTSUPP);
	ASSERT_TRUE(strstr(captured_log, "managed memory") != NULL);
	/* Past the end of its allocation. */
	ASSERT_ERR(reg(eng1, dev + (2 << 20) - 4096, 8192, 0, &m), -EINVAL);
	mcx__log_init();
	ASSERT_TRUE(m == NULL);
	/* Host and managed memory without the flag: host registrations. */
	ASSERT_ERR(reg(eng1, managed, 4096, 0, &m), 0);
	ASSERT_EQ(m->kind, MCX_MEM_HOST);
	mcx_mem_deregister(m);
	ASSERT_EQ(fake_tp_get(&tp, &tp.mr_dmabuf), 0);
	engine_free(eng1, &tp);
	free(dev);
}

TEST(cuda_copy_goes_through_the_driver)
{
	char a[64] = "through cuMemcpy", b[64] = { 0 };

	fake_cuda(FAKE_LIB);
	ASSERT_ERR(mcx__cuda_copy((uintptr_t)b, (uintptr_t)a, sizeof(a), (mcx_cu_context)&ctx0, 0), 0);
	ASSERT_STREQ(b, "through cuMemcpy");
	ASSERT_EQ(fc_count("copy"), 1);
	ASSERT_EQ(fc_count("ctx_left"), 0);
}

TEST(cuda_same_process_copy_of_gpu_memory_uses_the_driver)
{
	char src[64] = "gpu bytes", dst[64] = { 0 }, h1[8] = "host", h2[8] = { 0 };
	struct mcx_mem gpu = { .kind = MCX_MEM_CUDA_DEV, .cuda_ctx = &ctx0 };
	struct mcx_mem host = { .kind = MCX_MEM_HOST };

	fake_cuda(FAKE_LIB);
	ASSERT_ERR(mcx__mem_copy(&host, (uintptr_t)dst, &gpu, (uintptr_t)src, sizeof(src)), 0);
	ASSERT_EQ(fc_count("copy"), 1);
	ASSERT_STREQ(dst, "gpu bytes");
	ASSERT_ERR(mcx__mem_copy(&gpu, (uintptr_t)dst, NULL, (uintptr_t)src, 8), 0);
	ASSERT_EQ(fc_count("copy"), 2);
	/* Host to host stays a CPU copy. */
	ASSERT_ERR(mcx__mem_copy(&host, (uintptr_t)h2, NULL, (uintptr_t)h1, sizeof(h1)), 0);
	ASSERT_EQ(fc_count("copy"), 2);
	ASSERT_STREQ(h2, "host");
}
