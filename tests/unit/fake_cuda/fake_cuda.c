// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A stand-in for libcuda.so.1 in the unit tests: the driver entry points
 * the library resolves, over a table of made-up allocations the test fills
 * through the fake_cuda_* calls.  Built twice (tests/unit/Makefile): whole,
 * and with -DFAKE_CUDA_NO_EXPORT without cuMemGetHandleForAddressRange, a
 * driver too old to export dma-bufs.
 */
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>

#include "mem/cuda.h"

#define API __attribute__((visibility("default")))

struct fake_alloc {
	unsigned long long base, size, id;
	int type, managed, ordinal;
	mcx_cu_context ctx;
};

static struct fake_alloc allocs[16];
static int nallocs;
static mcx_cu_context current;			/* one thread's stack of one is enough */
static mcx_cu_context saved;
static int inits, exports, export_result, dmabuf_supported = 1, wrong_ctx, copies;
static unsigned long long last_export_start, last_export_len;

/* ---- the test's controls ---- */

API void fake_cuda_add(unsigned long long base, unsigned long long size, int type, int managed,
		       int ordinal, unsigned long long id, void *ctx)
{
	allocs[nallocs++] = (struct fake_alloc){ base, size, id, type, managed, ordinal, ctx };
}

/* A new allocation at the same address: what cuMemFree + cuMemAlloc give. */
API void fake_cuda_realloc(unsigned long long base, unsigned long long id)
{
	for (int i = 0; i < nallocs; i++)
		if (allocs[i].base == base)
			allocs[i].id = id;
}

API void fake_cuda_set(int export_res, int dmabuf_ok)
{
	export_result = export_res;
	dmabuf_supported = dmabuf_ok;
}

API int fake_cuda_count(const char *what)
{
	if (!strcmp(what, "init"))
		return inits;
	if (!strcmp(what, "export"))
		return exports;
	if (!strcmp(what, "wrong_ctx"))
		return wrong_ctx;
	if (!strcmp(what, "copy"))
		return copies;
	if (!strcmp(what, "ctx_left"))
		return current != NULL;
	return -1;
}

API unsigned long long fake_cuda_last_export(int len)
{
	return len ? last_export_len : last_export_start;
}

/* ---- the driver ---- */

API int cuInit(unsigned int flags)
{
	inits++;
	return flags ? MCX_CU_ERROR_INVALID_VALUE : MCX_CU_SUCCESS;
}

API int cuDriverGetVersion(int *v)
{
	*v = 13000;
	return 0;
}

API int cuDeviceGet(mcx_cu_device *dev, int ordinal)
{
	if (ordinal < 0 || ordinal > 1)
		return MCX_CU_ERROR_INVALID_DEVICE;
	*dev = ordinal;
	return 0;
}

API int cuDeviceGetAttribute(int *v, int attr, mcx_cu_device dev)
{
	switch (attr) {
	case MCX_CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID:
		*v = 0;
		return 0;
	case MCX_CU_DEVICE_ATTRIBUTE_PCI_BUS_ID:
		*v = dev ? 5 : 3;		/* the fake sysfs tree's GPUs */
		return 0;
	case MCX_CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID:
		*v = 0;
		return 0;
	case MCX_CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED:
		*v = dmabuf_supported;
		return 0;
	}
	return MCX_CU_ERROR_INVALID_VALUE;
}

static struct fake_alloc *find(unsigned long long p)
{
	for (int i = 0; i < nallocs; i++)
		if (p >= allocs[i].base && p - allocs[i].base < allocs[i].size)
			return &allocs[i];
	return NULL;
}

API int cuPointerGetAttributes(unsigned int n, int *attrs, void **data, mcx_cu_deviceptr p)
{
	struct fake_alloc *a = find(p);

	for (unsigned int i = 0; i < n; i++) {
		switch (attrs[i]) {
		case MCX_CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
			*(unsigned int *)data[i] = a ? (unsigned int)a->type : 0;
			break;
		case MCX_CU_POINTER_ATTRIBUTE_IS_MANAGED:
			*(unsigned int *)data[i] = a ? (unsigned int)a->managed : 0;
			break;
		case MCX_CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
			*(int *)data[i] = a ? a->ordinal : -2;
			break;
		case MCX_CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
			*(unsigned long long *)data[i] = a ? a->base : 0;
			break;
		case MCX_CU_POINTER_ATTRIBUTE_RANGE_SIZE:
			*(size_t *)data[i] = a ? a->size : 0;
			break;
		case MCX_CU_POINTER_ATTRIBUTE_BUFFER_ID:
			*(unsigned long long *)data[i] = a ? a->id : 0;
			break;
		case MCX_CU_POINTER_ATTRIBUTE_CONTEXT:
			*(mcx_cu_context *)data[i] = a ? a->ctx : NULL;
			break;
		default:
			return MCX_CU_ERROR_INVALID_VALUE;
		}
	}
	return 0;
}

API int cuCtxGetCurrent(mcx_cu_context *c)
{
	*c = current;
	return 0;
}

API int cuCtxPushCurrent_v2(mcx_cu_context c)
{
	saved = current;
	current = c;
	return 0;
}

API int cuCtxPopCurrent_v2(mcx_cu_context *c)
{
	*c = current;
	current = saved;
	saved = NULL;
	return 0;
}

static char primary[2];

API int cuDevicePrimaryCtxRetain(mcx_cu_context *c, mcx_cu_device dev)
{
	*c = (mcx_cu_context)&primary[dev];
	return 0;
}

API int cuDevicePrimaryCtxRelease_v2(mcx_cu_device dev)
{
	(void)dev;
	return 0;
}

#ifndef FAKE_CUDA_NO_EXPORT
API int cuMemGetHandleForAddressRange(void *handle, mcx_cu_deviceptr p, size_t size, int type,
				      unsigned long long flags)
{
	struct fake_alloc *a = find(p);

	exports++;
	last_export_start = p;
	last_export_len = size;
	if (export_result)
		return export_result;
	if (!a || type != MCX_CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD || flags || (p | size) & 4095)
		return MCX_CU_ERROR_INVALID_VALUE;
	/* The allocation's context (or a VMM mapping's device's primary one)
	 * must be current. */
	if (current != (a->ctx ? a->ctx : (mcx_cu_context)&primary[a->ordinal]))
		wrong_ctx++;
	*(int *)handle = eventfd(0, EFD_CLOEXEC);
	return 0;
}
#endif

API int cuMemcpy(mcx_cu_deviceptr dst, mcx_cu_deviceptr src, size_t n)
{
	/* The fake's "device memory" is host memory the test owns. */
	memmove((void *)(size_t)dst, (const void *)(size_t)src, n);
	copies++;
	return 0;
}

API int cuStreamSynchronize(void *stream)
{
	(void)stream;
	return 0;
}
