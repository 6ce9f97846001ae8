// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The library's own declarations of the CUDA driver API (mem/cuda.h) held
 * against the toolkit's cuda.h at build time: every constant and type
 * width must be the driver's, or the build stops here.  The
 * CUDA path is only built where this file compiles (lib/Makefile's probe);
 * it has no code of its own.
 *
 * Why keep our own declarations at all: the function table in mem/cuda.h
 * pairs each entry point with the exact symbol to dlsym (the _v2 ABI), and
 * the rest of the library sees mcx_cu_* names only, never cuda.h's.
 */
#include <cuda.h>
#include <stddef.h>

#include "mem/cuda.h"

#define SAME(ours, theirs) _Static_assert((ours) == (theirs), #ours " differs from cuda.h")

SAME(MCX_CU_SUCCESS, CUDA_SUCCESS);
SAME(MCX_CU_ERROR_INVALID_VALUE, CUDA_ERROR_INVALID_VALUE);
SAME(MCX_CU_ERROR_OUT_OF_MEMORY, CUDA_ERROR_OUT_OF_MEMORY);
SAME(MCX_CU_ERROR_NOT_INITIALIZED, CUDA_ERROR_NOT_INITIALIZED);
SAME(MCX_CU_ERROR_NO_DEVICE, CUDA_ERROR_NO_DEVICE);
SAME(MCX_CU_ERROR_INVALID_DEVICE, CUDA_ERROR_INVALID_DEVICE);
SAME(MCX_CU_ERROR_INVALID_CONTEXT, CUDA_ERROR_INVALID_CONTEXT);
SAME(MCX_CU_ERROR_NOT_FOUND, CUDA_ERROR_NOT_FOUND);
SAME(MCX_CU_ERROR_NOT_SUPPORTED, CUDA_ERROR_NOT_SUPPORTED);
SAME(MCX_CU_POINTER_ATTRIBUTE_CONTEXT, CU_POINTER_ATTRIBUTE_CONTEXT);
SAME(MCX_CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_MEMORY_TYPE);
SAME(MCX_CU_POINTER_ATTRIBUTE_BUFFER_ID, CU_POINTER_ATTRIBUTE_BUFFER_ID);
SAME(MCX_CU_POINTER_ATTRIBUTE_IS_MANAGED, CU_POINTER_ATTRIBUTE_IS_MANAGED);
SAME(MCX_CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL);
SAME(MCX_CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR);
SAME(MCX_CU_POINTER_ATTRIBUTE_RANGE_SIZE, CU_POINTER_ATTRIBUTE_RANGE_SIZE);
SAME(MCX_CU_MEMORYTYPE_HOST, CU_MEMORYTYPE_HOST);
SAME(MCX_CU_MEMORYTYPE_DEVICE, CU_MEMORYTYPE_DEVICE);
SAME(MCX_CU_MEMORYTYPE_ARRAY, CU_MEMORYTYPE_ARRAY);
SAME(MCX_CU_MEMORYTYPE_UNIFIED, CU_MEMORYTYPE_UNIFIED);
SAME(MCX_CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID);
SAME(MCX_CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID);
SAME(MCX_CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID);
SAME(MCX_CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED, CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED);
SAME(MCX_CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD);
_Static_assert(sizeof(mcx_cu_deviceptr) == sizeof(CUdeviceptr), "CUdeviceptr width");
_Static_assert(sizeof(mcx_cu_device) == sizeof(CUdevice), "CUdevice width");
_Static_assert(sizeof(mcx_cu_result) == sizeof(CUresult), "CUresult width");


/*
 * The entry points are called through the table in mem/cuda.h with these
 * widths: cuda.h's enums (CUresult and the attribute kinds) travel as int,
 * its handles as pointers.
 */
_Static_assert(sizeof(int) == sizeof(CUpointer_attribute), "CUpointer_attribute width");
_Static_assert(sizeof(int) == sizeof(CUdevice_attribute), "CUdevice_attribute width");
_Static_assert(sizeof(int) == sizeof(CUmemRangeHandleType), "CUmemRangeHandleType width");
_Static_assert(sizeof(mcx_cu_context) == sizeof(CUcontext), "CUcontext width");
