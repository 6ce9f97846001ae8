// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * GPU memory on a real GPU (tests/gpu/run.sh builds and runs it): what the
 * library's CUDA layer says of device, host, managed and VMM memory; dma-buf
 * export of cuMemAlloc and VMM allocations, sub-ranges and misaligned or
 * outside ranges; buffer ids after free and allocation at the same
 * address; the PCI topology of the real sysfs; registration on an engine
 * with no NIC; a same-process copy through cuMemcpy.  `gpu_test bench`
 * times dma-buf export instead.
 *
 * No CUDA headers: the driver is reached through the library's own loader
 * and declarations, plus the few allocation calls below.  Without a driver
 * or a GPU it prints one skip line and exits 0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mcxfer.h"
#include "mem/cuda.h"
#include "mem/mem.h"
#include "transport/topo.h"

/* Allocation calls the library never makes (values from the driver API
 * reference; lib/mem/cuda_abi.c does not cover these). */
struct vmm_location { int type; int id; };		/* CUmemLocation: DEVICE = 1 */
struct vmm_prop {					/* CUmemAllocationProp */
	int type;					/* PINNED = 1 */
	int requested_handle_types;			/* NONE = 0 */
	struct vmm_location location;
	void *win32_metadata;
	struct {
		unsigned char compression_type;
		unsigned char gpu_direct_rdma_capable;
		unsigned short usage;
		unsigned char reserved[4];
	} alloc_flags;
};
struct vmm_access { struct vmm_location location; int flags; };	/* PROT_READWRITE = 3 */

static struct {
	mcx_cu_result (*mem_alloc)(mcx_cu_deviceptr *p, size_t n);
	mcx_cu_result (*mem_free)(mcx_cu_deviceptr p);
	mcx_cu_result (*mem_alloc_host)(void **p, size_t n);
	mcx_cu_result (*mem_free_host)(void *p);
	mcx_cu_result (*mem_alloc_managed)(mcx_cu_deviceptr *p, size_t n, unsigned int flags);
	mcx_cu_result (*ctx_set_current)(mcx_cu_context c);
	mcx_cu_result (*mem_create)(unsigned long long *h, size_t n, const struct vmm_prop *p,
				    unsigned long long flags);
	mcx_cu_result (*mem_release)(unsigned long long h);
	mcx_cu_result (*addr_reserve)(mcx_cu_deviceptr *p, size_t n, size_t align,
				      mcx_cu_deviceptr addr, unsigned long long flags);
	mcx_cu_result (*addr_free)(mcx_cu_deviceptr p, size_t n);
	mcx_cu_result (*mem_map)(mcx_cu_deviceptr p, size_t n, size_t off, unsigned long long h,
				 unsigned long long flags);
	mcx_cu_result (*mem_unmap)(mcx_cu_deviceptr p, size_t n);
	mcx_cu_result (*set_access)(mcx_cu_deviceptr p, size_t n, const struct vmm_access *d,
				    size_t count);
	mcx_cu_result (*granularity)(size_t *g, const struct vmm_prop *p, int option);
} cu;

static const struct mcx_cuda_api *api;
static int passed, failed, skipped;

#define CHECK(cond, ...)							\
	do {									\
		if (cond) {							\
			passed++;						\
		} else {							\
			failed++;						\
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);	\
			printf(__VA_ARGS__);					\
			printf("\n");						\
		}								\
	} while (0)

static int load(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
	mcx_cu_context ctx;
	mcx_cu_device dev;
	int err;

	if (!h)
		return -ENOENT;
#define SYM(f, name) do { *(void **)&cu.f = dlsym(h, name); if (!cu.f) return -ENOSYS; } while (0)
	SYM(mem_alloc, "cuMemAlloc_v2");
	SYM(mem_free, "cuMemFree_v2");
	SYM(mem_alloc_host, "cuMemAllocHost_v2");
	SYM(mem_free_host, "cuMemFreeHost");
	SYM(mem_alloc_managed, "cuMemAllocManaged");
	SYM(ctx_set_current, "cuCtxSetCurrent");
	SYM(mem_create, "cuMemCreate");
	SYM(mem_release, "cuMemRelease");
	SYM(addr_reserve, "cuMemAddressReserve");
	SYM(addr_free, "cuMemAddressFree");
	SYM(mem_map, "cuMemMap");
	SYM(mem_unmap, "cuMemUnmap");
	SYM(set_access, "cuMemSetAccess");
	SYM(granularity, "cuMemGetAllocationGranularity");
	/* The library's loader must find the driver this process loaded. */
	api = mcx__cuda_api(true, &err);
	if (!api)
		return err;
	if (api->device_get(&dev, 0) || api->primary_ctx_retain(&ctx, dev) ||
	    cu.ctx_set_current(ctx))
		return -ENODEV;
	return 0;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* A VMM allocation of n bytes (rounded up to the granularity), mapped RW. */
static int vmm_alloc(size_t n, mcx_cu_deviceptr *p, unsigned long long *h, size_t *len)
{
	struct vmm_prop prop = { .type = 1, .location = { 1, 0 } };
	struct vmm_access acc = { { 1, 0 }, 3 };
	size_t g = 0;

	prop.alloc_flags.gpu_direct_rdma_capable = 1;
	if (cu.granularity(&g, &prop, 0) || !g)
		return -EIO;
	*len = (n + g - 1) / g * g;
	if (cu.mem_create(h, *len, &prop, 0))
		return -ENOMEM;
	if (cu.addr_reserve(p, *len, g, 0, 0) || cu.mem_map(*p, *len, 0, *h, 0) ||
	    cu.set_access(*p, *len, &acc, 1))
		return -EIO;
	return 0;
}

static void vmm_free(mcx_cu_deviceptr p, unsigned long long h, size_t len)
{
	cu.mem_unmap(p, len);
	cu.addr_free(p, len);
	cu.mem_release(h);
}

static void test_detect(void)
{
	struct mcx_cuda_ptr q;
	mcx_cu_deviceptr d, m, v;
	unsigned long long vh;
	size_t vlen;
	void *host = malloc(1 << 20), *pinned = NULL;

	CHECK(cu.mem_alloc(&d, 64 << 20) == 0, "cuMemAlloc");
	CHECK(mcx__cuda_ptr_query(d + 4096, true, &q) == 0, "query device");
	CHECK(q.kind == MCX_CUDA_PTR_DEVICE, "device kind %d", q.kind);
	CHECK(q.base == d && q.size >= (64 << 20), "device range 0x%llx+%llu vs 0x%llx",
	      (unsigned long long)q.base, (unsigned long long)q.size, d);
	CHECK(q.ordinal == 0 && q.buffer_id != 0 && q.ctx != NULL, "ordinal %d id %llu",
	      q.ordinal, (unsigned long long)q.buffer_id);
	printf("detect: device 0x%llx: kind %d ordinal %d range 0x%llx+%llu buffer id %llu\n",
	       d, q.kind, q.ordinal, (unsigned long long)q.base, (unsigned long long)q.size,
	       (unsigned long long)q.buffer_id);

	CHECK(mcx__cuda_ptr_query((uintptr_t)host, true, &q) == 0, "query malloc");
	CHECK(q.kind == MCX_CUDA_PTR_UNKNOWN, "malloc kind %d", q.kind);

	CHECK(cu.mem_alloc_host(&pinned, 1 << 20) == 0, "cuMemAllocHost");
	CHECK(mcx__cuda_ptr_query((uintptr_t)pinned, true, &q) == 0, "query pinned");
	CHECK(q.kind == MCX_CUDA_PTR_HOST, "pinned kind %d", q.kind);

	CHECK(cu.mem_alloc_managed(&m, 2 << 20, 1) == 0, "cuMemAllocManaged");
	CHECK(mcx__cuda_ptr_query(m, true, &q) == 0, "query managed");
	CHECK(q.kind == MCX_CUDA_PTR_MANAGED, "managed kind %d", q.kind);

	CHECK(vmm_alloc(32 << 20, &v, &vh, &vlen) == 0, "VMM allocation");
	CHECK(mcx__cuda_ptr_query(v + 8192, true, &q) == 0, "query VMM");
	CHECK(q.kind == MCX_CUDA_PTR_DEVICE, "VMM kind %d", q.kind);
	printf("detect: VMM 0x%llx+%zu: kind %d ordinal %d range 0x%llx+%llu buffer id %llu ctx %p\n",
	       v, vlen, q.kind, q.ordinal, (unsigned long long)q.base,
	       (unsigned long long)q.size, (unsigned long long)q.buffer_id, (void *)q.ctx);
	vmm_free(v, vh, vlen);
	cu.mem_free(m);
	cu.mem_free_host(pinned);
	cu.mem_free(d);
	free(host);
}

static void test_export(void)
{
	struct mcx_cuda_ptr q;
	mcx_cu_deviceptr d, v;
	unsigned long long vh;
	size_t vlen;
	int fd;

	CHECK(mcx__cuda_dmabuf_supported(0) == 1, "device 0 supports dma-buf export");
	CHECK(cu.mem_alloc(&d, 64 << 20) == 0, "cuMemAlloc");
	mcx__cuda_ptr_query(d, true, &q);
	CHECK(mcx__cuda_export_dmabuf(&q, d, 64 << 20, &fd) == 0 && fd >= 0, "whole");
	close(fd);
	CHECK(mcx__cuda_export_dmabuf(&q, d + (1 << 20), 4096 * 3, &fd) == 0 && fd >= 0,
	      "sub-range");
	close(fd);
	CHECK(mcx__cuda_export_dmabuf(&q, d + 100, 4096, &fd) == -EINVAL && fd == -1,
	      "misaligned start");
	CHECK(mcx__cuda_export_dmabuf(&q, d, 4095, &fd) == -EINVAL, "misaligned length");
	CHECK(mcx__cuda_export_dmabuf(&q, d + (64 << 20) - 4096, 8192, &fd) == -ERANGE,
	      "past the allocation");
	/* What the driver itself says of a misaligned range: */
	{
		int raw = -1;
		mcx_cu_result r = api->mem_get_handle_for_address_range(&raw, d + 100, 4096,
				MCX_CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0);

		CHECK(r != 0, "driver accepted a misaligned range");
		printf("export: driver on a misaligned range: CUresult %d\n", r);
		if (!r)
			close(raw);
	}
	cu.mem_free(d);

	CHECK(vmm_alloc(32 << 20, &v, &vh, &vlen) == 0, "VMM allocation");
	mcx__cuda_ptr_query(v, true, &q);
	CHECK(mcx__cuda_export_dmabuf(&q, v, vlen, &fd) == 0 && fd >= 0, "VMM whole");
	if (fd >= 0)
		close(fd);
	CHECK(mcx__cuda_export_dmabuf(&q, v + (2 << 20), 2 << 20, &fd) == 0 && fd >= 0,
	      "VMM sub-range");
	if (fd >= 0)
		close(fd);
	vmm_free(v, vh, vlen);
}

static void test_buffer_id(void)
{
	struct mcx_cuda_ptr a, b;
	mcx_cu_deviceptr d1, d2;
	int same = 0;

	for (int i = 0; i < 8 && !same; i++) {
		CHECK(cu.mem_alloc(&d1, 16 << 20) == 0, "alloc");
		mcx__cuda_ptr_query(d1, true, &a);
		cu.mem_free(d1);
		CHECK(cu.mem_alloc(&d2, 16 << 20) == 0, "realloc");
		mcx__cuda_ptr_query(d2, true, &b);
		if (d1 == d2) {
			same = 1;
			CHECK(a.buffer_id != b.buffer_id, "buffer id reused at 0x%llx: %llu", d1,
			      (unsigned long long)a.buffer_id);
			printf("buffer id: 0x%llx freed and allocated again: id %llu -> %llu\n", d1,
			       (unsigned long long)a.buffer_id, (unsigned long long)b.buffer_id);
		}
		cu.mem_free(d2);
	}
	if (!same) {
		skipped++;
		printf("SKIP buffer id: the driver never gave the same address back\n");
	}
}

static void test_topology(void)
{
	struct mcx_topology *t = NULL;
	char pci[32];
	int found = 0;

	CHECK(mcx__cuda_pci_address(0, pci, sizeof(pci)) == 0, "PCI address of GPU 0");
	CHECK(mcx_topology_query(&t) == 0 && t, "topology");
	if (!t)
		return;
	for (size_t i = 0; i < t->nr_gpus; i++) {
		printf("topology: GPU %s numa %d\n", t->gpus[i].pci, t->gpus[i].numa);
		found |= !strcasecmp(t->gpus[i].pci, pci);
	}
	for (size_t k = 0; k < t->nr_nics; k++)
		printf("topology: NIC %s pci %s numa %d\n", t->nics[k].name, t->nics[k].pci,
		       t->nics[k].numa);
	CHECK(found, "CUDA's GPU 0 (%s) is among sysfs's GPUs", pci);
	mcx_topology_free(t);
}

static void test_register_zero_nics(void)
{
	struct mcx_memspace ms;
	struct mcx_devs devs;
	struct mcx_mem *m = NULL;
	mcx_cu_deviceptr d;
	struct mcx_mem_req r = { .len = 8 << 20, .dmabuf_fd = -1 };

	memset(&devs, 0, sizeof(devs));
	CHECK(mcx__memspace_init(&ms, &devs, 1 << 30, 1) == 0, "memspace");
	CHECK(cu.mem_alloc(&d, 8 << 20) == 0, "alloc");
	r.addr = (void *)(uintptr_t)d;
	CHECK(mcx__mem_register_batch(&ms, &r, 1, &m) == -ENODEV && !m, "no NIC: -ENODEV");
	r.flags = MCX_MEM_CUDA;
	CHECK(mcx__mem_register_batch(&ms, &r, 1, &m) == -ENODEV && !m, "no NIC, explicit");
	mcx__memspace_fini(&ms);
	cu.mem_free(d);
}

static void test_copy(void)
{
	size_t n = 4 << 20;
	unsigned char *a = malloc(n), *b = malloc(n);
	mcx_cu_deviceptr d1, d2;

	for (size_t i = 0; i < n; i++)
		a[i] = (unsigned char)(i * 7 + 3);
	memset(b, 0, n);
	CHECK(cu.mem_alloc(&d1, n) == 0 && cu.mem_alloc(&d2, n) == 0, "alloc");
	CHECK(mcx__cuda_copy(d1, (uintptr_t)a, n, NULL, 0) == 0, "host to device");
	CHECK(mcx__cuda_copy(d2, d1, n, NULL, 0) == 0, "device to device");
	CHECK(mcx__cuda_copy((uintptr_t)b, d2, n, NULL, 0) == 0, "device to host");
	CHECK(!memcmp(a, b, n), "bytes survive host -> GPU -> GPU -> host");
	cu.mem_free(d1);
	cu.mem_free(d2);
	free(a);
	free(b);
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

/*
 * A NIC stand-in for the registration benchmark: it takes every range and
 * costs nothing, so that what is timed is the library's own work up to
 * the point where a kernel importer (the RDMA driver, or /dev/mcxfer)
 * would attach and pin the dma-buf -- pointer query, cache lookup, export,
 * chunking, the pool -- which is what this machine (no RDMA device, no
 * module loading) can measure.
 */
struct standin_mr {
	int dmabuf_fd;
};

static int standin_reg(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		       struct mcx_tp_mr **out, struct mcx_tp_mr_info *info)
{
	struct standin_mr *mr = calloc(1, sizeof(*mr));

	(void)dev;
	if (!mr)
		return -ENOMEM;
	mr->dmabuf_fd = req->dmabuf_fd;
	info->rkey = req->remote ? 0x1234 : 0;
	info->desc = mr;
	*out = (struct mcx_tp_mr *)mr;
	return 0;
}

static void standin_dereg(struct mcx_tp_mr *mr)
{
	free(mr);
}

static const struct mcx_transport_ops standin_ops = {
	.name = "stand-in",
	.mr_reg = standin_reg,
	.mr_dereg = standin_dereg,
	.mr_destroy = standin_dereg,
};

/* Register n bytes of fresh device memory on the stand-in NIC, cold and then cached. */
static void bench_register(void)
{
	static const unsigned int gib[] = { 1, 8, 32 };
	static int dev_token;
	struct mcx_devs devs;
	struct mcx_memspace ms;

	memset(&devs, 0, sizeof(devs));
	devs.ops = &standin_ops;
	devs.n = 1;
	devs.dev[0] = (struct mcx_tp_dev *)&dev_token;
	snprintf(devs.attr[0].name, sizeof(devs.attr[0].name), "standin0");
	devs.attr[0].caps = MCX_TP_CAP_RC | MCX_TP_CAP_VIRT_ADDR | MCX_TP_CAP_DMABUF;
	devs.attr[0].max_mr_size = UINT64_MAX;
	devs.attr[0].max_mr = 1U << 20;
	pthread_mutex_init(&devs.progress_lock[0], NULL);
	if (mcx__memspace_init(&ms, &devs, 1ULL << 30, 4)) {
		printf("bench: memspace: failed\n");
		return;
	}
	printf("bench: registration up to the pin (stand-in NIC, 1 GiB chunks): size_gib cold_ms cached_us\n");
	for (size_t i = 0; i < 3; i++) {
		size_t n = (size_t)gib[i] << 30;
		struct mcx_mem_req r = { .len = n, .dmabuf_fd = -1, .flags = MCX_MEM_CUDA };
		struct mcx_mem *m1 = NULL, *m2 = NULL;
		mcx_cu_deviceptr d;
		double t0, t1, t2;
		int e1, e2;

		if (cu.mem_alloc(&d, n)) {
			printf("bench: %u GiB: cannot allocate\n", gib[i]);
			continue;
		}
		r.addr = (void *)(uintptr_t)d;
		t0 = now_us();
		e1 = mcx__mem_register_batch(&ms, &r, 1, &m1);
		t1 = now_us();
		e2 = mcx__mem_register_batch(&ms, &r, 1, &m2);
		t2 = now_us();
		if (e1 || e2)
			printf("bench: %u GiB: registration failed: %d %d\n", gib[i], e1, e2);
		else
			printf("bench: %u %.3f %.1f%s\n", gib[i], (t1 - t0) / 1e3, t2 - t1,
			       m1 == m2 ? " (same registration)" : " (NOT the cached one)");
		if (m2)
			mcx__mem_put(m2);
		if (m1)
			mcx__mem_put(m1);
		cu.mem_free(d);
	}
	mcx__memspace_fini(&ms);
}

static void bench(void)
{
	static const unsigned int gib[] = { 1, 8, 32 };
	double lat[1000];

	printf("bench: size_gib cold_export_ms re_export_ms cache_hit_query_us\n");
	for (size_t i = 0; i < 3; i++) {
		size_t n = (size_t)gib[i] << 30;
		struct mcx_cuda_ptr q;
		mcx_cu_deviceptr d;
		double t0, t1, t2, t3;
		int fd = -1, fd2 = -1;

		if (cu.mem_alloc(&d, n)) {
			printf("bench: %u GiB: cannot allocate\n", gib[i]);
			continue;
		}
		t0 = now_us();
		mcx__cuda_ptr_query(d, true, &q);
		if (mcx__cuda_export_dmabuf(&q, d, n, &fd))
			printf("bench: export of %u GiB failed\n", gib[i]);
		t1 = now_us();
		mcx__cuda_export_dmabuf(&q, d, n, &fd2);
		t2 = now_us();
		/* What a registration cache hit asks the driver: the pointer's
		 * attributes (buffer id); the index lookup itself is in-memory. */
		for (int k = 0; k < 100; k++)
			mcx__cuda_ptr_query(d + (uint64_t)k * 4096, true, &q);
		t3 = now_us();
		printf("bench: %u %.3f %.3f %.3f\n", gib[i], (t1 - t0) / 1e3, (t2 - t1) / 1e3,
		       (t3 - t2) / 100);
		if (fd >= 0)
			close(fd);
		if (fd2 >= 0)
			close(fd2);
		cu.mem_free(d);
	}
	for (int pass = 0; pass < 2; pass++) {
		size_t n = pass ? (size_t)1 << 30 : (size_t)2 << 20;
		int iters = pass ? 100 : 1000;
		struct mcx_cuda_ptr q;
		mcx_cu_deviceptr d;

		if (cu.mem_alloc(&d, n))
			continue;
		mcx__cuda_ptr_query(d, true, &q);
		for (int k = 0; k < iters; k++) {
			int fd = -1;
			double t0 = now_us();

			mcx__cuda_export_dmabuf(&q, d, n, &fd);
			lat[k] = now_us() - t0;
			if (fd >= 0)
				close(fd);
		}
		qsort(lat, (size_t)iters, sizeof(lat[0]), cmp_double);
		printf("bench: export latency of %zu MiB (%d exports): p50 %.1f us p99 %.1f us max %.1f us\n",
		       n >> 20, iters, lat[iters / 2], lat[iters * 99 / 100], lat[iters - 1]);
		cu.mem_free(d);
	}
}

int main(int argc, char **argv)
{
	int ret = load();

	if (ret) {
		printf("SKIP gpu: no usable CUDA driver or GPU here (%s)\n", strerror(-ret));
		printf("gpu: 0 passed, 0 failed, 1 skipped\n");
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "bench")) {
		bench();
		bench_register();
		return 0;
	}
	test_detect();
	test_export();
	test_buffer_id();
	test_topology();
	test_register_zero_nics();
	test_copy();
	printf("gpu: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
