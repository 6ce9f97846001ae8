/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/mem: CUDA device memory through the driver API, loaded with dlopen at
 * first use and never linked (cuda.c), and the kind of a pointer (kind.c).
 *
 * The library carries its own declarations of the few driver entry points
 * and constants it calls, written from NVIDIA's driver API reference, and
 * builds them only against the toolkit's cuda.h, which mem/cuda_abi.c holds
 * every one of them to (lib/Makefile's probe, WITH_CUDA).  Built without
 * cuda.h, cuda.c and kind.c are compiled out and mem/nocuda.c answers the
 * same calls: no CUDA memory, saying so.
 */
#ifndef MCXFER_LIB_MEM_CUDA_H
#define MCXFER_LIB_MEM_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the driver API subset (names prefixed mcx_cu to keep off cuda.h's) ---- */

typedef int mcx_cu_result;			/* CUresult */
typedef int mcx_cu_device;			/* CUdevice */
typedef struct mcx_cu_ctx_st *mcx_cu_context;	/* CUcontext */
typedef unsigned long long mcx_cu_deviceptr;	/* CUdeviceptr (the _v2 ABI: 64 bits) */

#define MCX_CU_SUCCESS				0
#define MCX_CU_ERROR_INVALID_VALUE		1
#define MCX_CU_ERROR_OUT_OF_MEMORY		2
#define MCX_CU_ERROR_NOT_INITIALIZED		3
#define MCX_CU_ERROR_NO_DEVICE			100
#define MCX_CU_ERROR_INVALID_DEVICE		101
#define MCX_CU_ERROR_INVALID_CONTEXT		201
#define MCX_CU_ERROR_NOT_FOUND			500
#define MCX_CU_ERROR_NOT_SUPPORTED		801

/* CUpointer_attribute */
#define MCX_CU_POINTER_ATTRIBUTE_CONTEXT		1
#define MCX_CU_POINTER_ATTRIBUTE_MEMORY_TYPE		2
#define MCX_CU_POINTER_ATTRIBUTE_BUFFER_ID		7
#define MCX_CU_POINTER_ATTRIBUTE_IS_MANAGED		8
#define MCX_CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL		9
#define MCX_CU_POINTER_ATTRIBUTE_RANGE_START_ADDR	11
#define MCX_CU_POINTER_ATTRIBUTE_RANGE_SIZE		12

/* CUmemorytype */
#define MCX_CU_MEMORYTYPE_HOST		1
#define MCX_CU_MEMORYTYPE_DEVICE	2
#define MCX_CU_MEMORYTYPE_ARRAY		3
#define MCX_CU_MEMORYTYPE_UNIFIED	4

/* CUdevice_attribute */
#define MCX_CU_DEVICE_ATTRIBUTE_PCI_BUS_ID		33
#define MCX_CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID		34
#define MCX_CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID		50
#define MCX_CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED	124

/* CUmemRangeHandleType */
#define MCX_CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD	1

/*
 * The entry points, each with the symbol the driver exports for the ABI
 * these prototypes describe (several calls were revised with a _v2 suffix
 * when CUdeviceptr grew to 64 bits; the unsuffixed names are the old ABI).
 */
#define MCX_CU_SYMBOLS(X)								\
	X(init, "cuInit", mcx_cu_result, (unsigned int flags))				\
	X(driver_get_version, "cuDriverGetVersion", mcx_cu_result, (int *version))	\
	X(device_get, "cuDeviceGet", mcx_cu_result, (mcx_cu_device *dev, int ordinal))	\
	X(device_get_attribute, "cuDeviceGetAttribute", mcx_cu_result,			\
	  (int *value, int attrib, mcx_cu_device dev))					\
	X(pointer_get_attributes, "cuPointerGetAttributes", mcx_cu_result,		\
	  (unsigned int n, int *attribs, void **data, mcx_cu_deviceptr ptr))		\
	X(ctx_get_current, "cuCtxGetCurrent", mcx_cu_result, (mcx_cu_context *ctx))	\
	X(ctx_push_current, "cuCtxPushCurrent_v2", mcx_cu_result, (mcx_cu_context ctx))	\
	X(ctx_pop_current, "cuCtxPopCurrent_v2", mcx_cu_result, (mcx_cu_context *ctx))	\
	X(primary_ctx_retain, "cuDevicePrimaryCtxRetain", mcx_cu_result,		\
	  (mcx_cu_context *ctx, mcx_cu_device dev))					\
	X(primary_ctx_release, "cuDevicePrimaryCtxRelease_v2", mcx_cu_result,		\
	  (mcx_cu_device dev))								\
	X(mem_get_handle_for_address_range, "cuMemGetHandleForAddressRange",		\
	  mcx_cu_result, (void *handle, mcx_cu_deviceptr dptr, size_t size,		\
			  int handle_type, unsigned long long flags))			\
	X(memcpy, "cuMemcpy", mcx_cu_result,						\
	  (mcx_cu_deviceptr dst, mcx_cu_deviceptr src, size_t bytes))			\
	X(stream_synchronize, "cuStreamSynchronize", mcx_cu_result, (void *stream))

struct mcx_cuda_api {
#define MCX_CU_MEMBER(field, sym, ret, args) ret (*field) args;
	MCX_CU_SYMBOLS(MCX_CU_MEMBER)
#undef MCX_CU_MEMBER
	int driver_version;
};

/* ---- loading (cuda.c) ---- */

/*
 * The driver API, loaded and cuInit'ed once, or NULL with *err: -ENOENT
 * (no libcuda.so.1 here, or, with only_if_loaded, none in this process
 * yet), -ENOSYS (an entry point is missing: too old a driver), or the
 * translated cuInit error.  only_if_loaded asks with RTLD_NOLOAD: a process
 * that never loaded CUDA has no CUDA pointers, and looking must not pull a
 * driver (and its threads and memory) into it.  Thread-safe.
 */
const struct mcx_cuda_api *mcx__cuda_api(bool only_if_loaded, int *err);

/*
 * Tests only: the library file to load instead of libcuda.so.1, and
 * forgetting what was loaded (the next mcx__cuda_api() loads again).
 */
void mcx__cuda_set_library(const char *path);
void mcx__cuda_reset(void);

/* A CUresult as -errno (the driver's error names go to the log). */
int mcx__cuda_errno(mcx_cu_result r);

/* ---- pointers (kind.c) ---- */

enum mcx_cuda_ptr_kind {
	MCX_CUDA_PTR_UNKNOWN = 0,	/* not known to CUDA: plain host memory */
	MCX_CUDA_PTR_HOST = 1,		/* cuMemAllocHost / cuMemHostRegister: host pages */
	MCX_CUDA_PTR_DEVICE = 2,	/* cuMemAlloc or a VMM mapping */
	MCX_CUDA_PTR_MANAGED = 3,	/* cuMemAllocManaged: migrates, not exportable */
};

/* What the driver says about a pointer. */
struct mcx_cuda_ptr {
	enum mcx_cuda_ptr_kind kind;
	int ordinal;			/* device ordinal (DEVICE and MANAGED) */
	uint64_t base, size;		/* the allocation (range) around it */
	uint64_t buffer_id;		/* never reused within the process */
	mcx_cu_context ctx;		/* its context; NULL for VMM mappings */
};

/*
 * Ask the driver about ptr.  0 with out filled (kind UNKNOWN for memory
 * CUDA does not know), or the loading error of mcx__cuda_api() (-ENOENT
 * with only_if_loaded means: no CUDA in this process, so host memory).
 */
int mcx__cuda_ptr_query(uint64_t ptr, bool only_if_loaded, struct mcx_cuda_ptr *out);

/*
 * Export [start, start + len) of device memory p describes as a dma-buf
 * fd, with p's context (or its device's primary context for a VMM mapping)
 * current on the calling thread for the call.  start and len must be 4 KiB
 * aligned (-EINVAL, logged) and inside p's allocation (-ERANGE).
 * -EOPNOTSUPP when the device or driver cannot export dma-bufs.
 */
int mcx__cuda_export_dmabuf(const struct mcx_cuda_ptr *p, uint64_t start, uint64_t len,
			    int *fd);

/* Whether device ordinal supports dma-buf export (0/1), or -errno. */
int mcx__cuda_dmabuf_supported(int ordinal);

/* The PCI address "dddd:bb:dd.0" of device ordinal into buf.  0 or -errno. */
int mcx__cuda_pci_address(int ordinal, char *buf, size_t len);

/*
 * Copy len bytes between any two addresses CUDA can reach (unified
 * addressing: device, managed or host), with ctx current (NULL: the
 * primary context of device ordinal, or none needed if ordinal < 0).
 */
int mcx__cuda_copy(uint64_t dst, uint64_t src, uint64_t len, mcx_cu_context ctx, int ordinal);

#endif /* MCXFER_LIB_MEM_CUDA_H */
