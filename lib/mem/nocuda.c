// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A library built without cuda.h (lib/Makefile: WITH_CUDA, the probe): the
 * CUDA driver-API code (cuda.c, kind.c) is compiled out, and this file
 * answers for it.  Every pointer is host memory to mcx_mem_register();
 * asking for CUDA memory explicitly (MCX_MEM_CUDA, MCX_NAMED_CUDA) fails
 * with -EOPNOTSUPP and a log line saying why, and a process that has the
 * CUDA driver loaded is told once that its device pointers will not be
 * recognised, rather than having them fail later as bad host addresses.
 */
#define _GNU_SOURCE	/* RTLD_NOLOAD */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "mem/cuda.h"
#include "util/util.h"

static pthread_once_t loaded_warning = PTHREAD_ONCE_INIT;

static void warn_if_driver_loaded(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);

	if (!h)
		return;
	dlclose(h);
	mcx__warn("CUDA: this process has the CUDA driver loaded, but libmcxfer was built without CUDA support (no cuda.h at build time): CUDA device pointers are not recognised and will fail to register as host memory");
}

const struct mcx_cuda_api *mcx__cuda_api(bool only_if_loaded, int *err)
{
	if (only_if_loaded) {
		/* "No CUDA in this process": the caller treats it as host memory. */
		pthread_once(&loaded_warning, warn_if_driver_loaded);
		if (err)
			*err = -ENOENT;
	} else {
		mcx__err("CUDA: libmcxfer was built without CUDA support (no cuda.h at build time; see WITH_CUDA in lib/Makefile): CUDA memory cannot be registered");
		if (err)
			*err = -EOPNOTSUPP;
	}
	return NULL;
}

void mcx__cuda_set_library(const char *path)
{
	(void)path;
}

void mcx__cuda_reset(void)
{
}

int mcx__cuda_errno(mcx_cu_result r)
{
	return r == MCX_CU_SUCCESS ? 0 : -EIO;
}

int mcx__cuda_ptr_query(uint64_t ptr, bool only_if_loaded, struct mcx_cuda_ptr *out)
{
	int err;

	(void)ptr;
	out->kind = MCX_CUDA_PTR_UNKNOWN;
	mcx__cuda_api(only_if_loaded, &err);
	return err;
}

int mcx__cuda_export_dmabuf(const struct mcx_cuda_ptr *p, uint64_t start, uint64_t len,
			    int *fd)
{
	(void)p;
	(void)start;
	(void)len;
	*fd = -1;
	return -EOPNOTSUPP;
}

int mcx__cuda_dmabuf_supported(int ordinal)
{
	(void)ordinal;
	return -EOPNOTSUPP;
}

int mcx__cuda_pci_address(int ordinal, char *buf, size_t len)
{
	(void)ordinal;
	if (len)
		buf[0] = '\0';
	return -EOPNOTSUPP;
}

int mcx__cuda_copy(uint64_t dst, uint64_t src, uint64_t len, mcx_cu_context ctx, int ordinal)
{
	(void)dst;
	(void)src;
	(void)len;
	(void)ctx;
	(void)ordinal;
	return -EOPNOTSUPP;
}
