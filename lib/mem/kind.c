// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * What a pointer is (host, CUDA device, managed), and what the driver can
 * do with device memory: export a range of it as a dma-buf, name its PCI
 * function, copy it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mem/cuda.h"
#include "util/util.h"

#define PAGE_4K 4096ULL

int mcx__cuda_ptr_query(uint64_t ptr, bool only_if_loaded, struct mcx_cuda_ptr *out)
{
	int attrs[] = {
		MCX_CU_POINTER_ATTRIBUTE_MEMORY_TYPE, MCX_CU_POINTER_ATTRIBUTE_IS_MANAGED,
		MCX_CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, MCX_CU_POINTER_ATTRIBUTE_RANGE_START_ADDR,
		MCX_CU_POINTER_ATTRIBUTE_RANGE_SIZE, MCX_CU_POINTER_ATTRIBUTE_BUFFER_ID,
		MCX_CU_POINTER_ATTRIBUTE_CONTEXT,
	};
	/*
	 * The attributes are 4- or 8-byte values (and one pointer); each lands
	 * in a zeroed 8-byte slot, so a narrower one reads right whatever its
	 * width (x86-64 and arm64 are little-endian).
	 */
	uint64_t type = 0, managed = 0, ordinal = 0, start = 0, size = 0, id = 0;
	mcx_cu_context ctx = NULL;
	void *data[] = { &type, &managed, &ordinal, &start, &size, &id, &ctx };
	const struct mcx_cuda_api *api;
	mcx_cu_result r;
	int ret;

	memset(out, 0, sizeof(*out));
	api = mcx__cuda_api(only_if_loaded, &ret);
	if (!api)
		return ret;
	/* Unlike the singular call, this one answers "nothing" (zeros) for
	 * memory CUDA does not know instead of failing. */
	r = api->pointer_get_attributes(sizeof(attrs) / sizeof(attrs[0]), attrs, data, ptr);
	if (r != MCX_CU_SUCCESS) {
		mcx__err("CUDA: cuPointerGetAttributes(0x%llx) failed (CUresult %d)",
			 (unsigned long long)ptr, r);
		return mcx__cuda_errno(r);
	}
	out->ordinal = (int)(uint32_t)ordinal;
	out->base = start;
	out->size = size;
	out->buffer_id = id;
	out->ctx = ctx;
	if ((uint32_t)managed)
		out->kind = MCX_CUDA_PTR_MANAGED;
	else if ((uint32_t)type == MCX_CU_MEMORYTYPE_DEVICE)
		out->kind = MCX_CUDA_PTR_DEVICE;
	else if ((uint32_t)type == MCX_CU_MEMORYTYPE_HOST)
		out->kind = MCX_CUDA_PTR_HOST;
	else
		out->kind = MCX_CUDA_PTR_UNKNOWN;
	if (out->kind == MCX_CUDA_PTR_DEVICE && !out->size) {
		/* No range known (a driver that answers nothing for it):
		 * the export itself is then what checks the bounds. */
		out->base = ptr & ~(PAGE_4K - 1);
		out->size = UINT64_MAX - out->base;
	}
	return 0;
}

/* Make ctx (or device ordinal's primary context) current; undo with ctx_leave. */
static int ctx_enter(const struct mcx_cuda_api *api, mcx_cu_context ctx, int ordinal,
		     mcx_cu_device *primary_dev, bool *primary)
{
	mcx_cu_result r;

	*primary = false;
	if (!ctx) {
		r = api->device_get(primary_dev, ordinal);
		if (r == MCX_CU_SUCCESS)
			r = api->primary_ctx_retain(&ctx, *primary_dev);
		if (r != MCX_CU_SUCCESS) {
			mcx__err("CUDA: no context for device %d (CUresult %d)", ordinal, r);
			return mcx__cuda_errno(r);
		}
		*primary = true;
	}
	r = api->ctx_push_current(ctx);
	if (r != MCX_CU_SUCCESS) {
		if (*primary)
			api->primary_ctx_release(*primary_dev);
		mcx__err("CUDA: cannot make the allocation's context current (CUresult %d)", r);
		return mcx__cuda_errno(r);
	}
	return 0;
}

static void ctx_leave(const struct mcx_cuda_api *api, mcx_cu_device primary_dev, bool primary)
{
	mcx_cu_context popped;

	api->ctx_pop_current(&popped);
	if (primary)
		api->primary_ctx_release(primary_dev);
}

int mcx__cuda_dmabuf_supported(int ordinal)
{
	const struct mcx_cuda_api *api;
	mcx_cu_device dev;
	mcx_cu_result r;
	int v = 0, ret;

	api = mcx__cuda_api(false, &ret);
	if (!api)
		return ret;
	r = api->device_get(&dev, ordinal);
	if (r == MCX_CU_SUCCESS)
		r = api->device_get_attribute(&v, MCX_CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED, dev);
	if (r == MCX_CU_ERROR_INVALID_VALUE)
		return 0;	/* a driver older than the attribute */
	if (r != MCX_CU_SUCCESS)
		return mcx__cuda_errno(r);
	return v != 0;
}

int mcx__cuda_export_dmabuf(const struct mcx_cuda_ptr *p, uint64_t start, uint64_t len, int *fd)
{
	const struct mcx_cuda_api *api;
	mcx_cu_device pdev = 0;
	mcx_cu_result r;
	bool primary;
	int ret, out = -1;

	*fd = -1;
	if (p->kind != MCX_CUDA_PTR_DEVICE)
		return -EINVAL;
	/* The driver maps whole host-sized pages into the dma-buf. */
	if (!len || (start | len) & (PAGE_4K - 1)) {
		mcx__err("CUDA: dma-buf export of 0x%llx+%llu: start and length must be 4 KiB aligned",
			 (unsigned long long)start, (unsigned long long)len);
		return -EINVAL;
	}
	if (start < p->base || start + len < start || start + len - p->base > p->size) {
		mcx__err("CUDA: dma-buf export of 0x%llx+%llu: outside its allocation 0x%llx+%llu",
			 (unsigned long long)start, (unsigned long long)len,
			 (unsigned long long)p->base, (unsigned long long)p->size);
		return -ERANGE;
	}
	api = mcx__cuda_api(false, &ret);
	if (!api)
		return ret;
	ret = mcx__cuda_dmabuf_supported(p->ordinal);
	if (ret <= 0) {
		if (!ret)
			mcx__info("CUDA: device %d cannot export dma-bufs", p->ordinal);
		return ret ? ret : -EOPNOTSUPP;
	}
	ret = ctx_enter(api, p->ctx, p->ordinal, &pdev, &primary);
	if (ret)
		return ret;
	r = api->mem_get_handle_for_address_range(&out, start, len,
						  MCX_CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0);
	ctx_leave(api, pdev, primary);
	if (r != MCX_CU_SUCCESS || out < 0) {
		mcx__err("CUDA: dma-buf export of 0x%llx+%llu on device %d failed (CUresult %d)",
			 (unsigned long long)start, (unsigned long long)len, p->ordinal, r);
		return r != MCX_CU_SUCCESS ? mcx__cuda_errno(r) : -EIO;
	}
	*fd = out;
	return 0;
}

int mcx__cuda_pci_address(int ordinal, char *buf, size_t len)
{
	static const int which[3] = {
		MCX_CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, MCX_CU_DEVICE_ATTRIBUTE_PCI_BUS_ID,
		MCX_CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID,
	};
	const struct mcx_cuda_api *api;
	mcx_cu_device dev;
	mcx_cu_result r;
	int v[3], ret;

	api = mcx__cuda_api(false, &ret);
	if (!api)
		return ret;
	r = api->device_get(&dev, ordinal);
	for (int i = 0; i < 3 && r == MCX_CU_SUCCESS; i++)
		r = api->device_get_attribute(&v[i], which[i], dev);
	if (r != MCX_CU_SUCCESS)
		return mcx__cuda_errno(r);
	if (snprintf(buf, len, "%04x:%02x:%02x.0", v[0], v[1], v[2]) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int mcx__cuda_copy(uint64_t dst, uint64_t src, uint64_t len, mcx_cu_context ctx, int ordinal)
{
	const struct mcx_cuda_api *api;
	mcx_cu_device pdev = 0;
	mcx_cu_result r;
	bool primary = false, entered = false;
	int ret;

	api = mcx__cuda_api(false, &ret);
	if (!api)
		return ret;
	if (ctx || ordinal >= 0) {
		ret = ctx_enter(api, ctx, ordinal, &pdev, &primary);
		if (ret)
			return ret;
		entered = true;
	}
	/*
	 * cuMemcpy may return before a device-to-device copy is done: it is
	 * queued on the default stream, so wait for that stream before the
	 * request is reported complete.
	 */
	r = api->memcpy(dst, src, len);
	if (r == MCX_CU_SUCCESS)
		r = api->stream_synchronize(NULL);
	if (entered)
		ctx_leave(api, pdev, primary);
	if (r != MCX_CU_SUCCESS) {
		mcx__err("CUDA: copy of %llu bytes 0x%llx -> 0x%llx failed (CUresult %d)",
			 (unsigned long long)len, (unsigned long long)src,
			 (unsigned long long)dst, r);
		return mcx__cuda_errno(r);
	}
	return 0;
}
