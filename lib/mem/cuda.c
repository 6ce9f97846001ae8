// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Loading the CUDA driver API with dlopen: the library never links
 * libcuda, so it and its tools run on hosts without a GPU, and a process
 * that never touched CUDA never loads it (see mcx__cuda_api()).
 */
#define _GNU_SOURCE	/* RTLD_NOLOAD */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/cuda.h"
#include "util/util.h"

#define DEFAULT_LIBRARY "libcuda.so.1"

static pthread_mutex_t cuda_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mcx_cuda_api cuda_api;
static void *cuda_handle;
static bool cuda_ready;
static int cuda_failed;			/* a load that failed for good (not -ENOENT) */
static char cuda_library[256] = DEFAULT_LIBRARY;

void mcx__cuda_set_library(const char *path)
{
	pthread_mutex_lock(&cuda_lock);
	snprintf(cuda_library, sizeof(cuda_library), "%s", path ? path : DEFAULT_LIBRARY);
	pthread_mutex_unlock(&cuda_lock);
}

void mcx__cuda_reset(void)
{
	pthread_mutex_lock(&cuda_lock);
	if (cuda_handle)
		dlclose(cuda_handle);
	cuda_handle = NULL;
	memset(&cuda_api, 0, sizeof(cuda_api));
	cuda_ready = false;
	cuda_failed = 0;
	pthread_mutex_unlock(&cuda_lock);
}

int mcx__cuda_errno(mcx_cu_result r)
{
	switch (r) {
	case MCX_CU_SUCCESS:
		return 0;
	case MCX_CU_ERROR_INVALID_VALUE:
		return -EINVAL;
	case MCX_CU_ERROR_OUT_OF_MEMORY:
		return -ENOMEM;
	case MCX_CU_ERROR_NO_DEVICE:
	case MCX_CU_ERROR_INVALID_DEVICE:
		return -ENODEV;
	case MCX_CU_ERROR_NOT_FOUND:
		return -ENOENT;
	case MCX_CU_ERROR_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}

/* Resolve every entry point; -ENOSYS naming the first one missing. */
static int resolve(void *h, struct mcx_cuda_api *api)
{
#define MCX_CU_RESOLVE(field, sym, ret, args)						\
	do {										\
		*(void **)&api->field = dlsym(h, sym);					\
		if (!api->field) {							\
			mcx__err("CUDA: %s has no %s (driver too old?); CUDA memory cannot be registered", \
				 cuda_library, sym);					\
			return -ENOSYS;							\
		}									\
	} while (0);
	MCX_CU_SYMBOLS(MCX_CU_RESOLVE)
#undef MCX_CU_RESOLVE
	return 0;
}

static int load_locked(bool only_if_loaded)
{
	struct mcx_cuda_api api;
	mcx_cu_result r;
	void *h;
	int ret;

	h = dlopen(cuda_library, RTLD_NOW | RTLD_LOCAL | (only_if_loaded ? RTLD_NOLOAD : 0));
	if (!h) {
		if (!only_if_loaded)
			mcx__info("CUDA: cannot load %s: %s", cuda_library, dlerror());
		return -ENOENT;
	}
	memset(&api, 0, sizeof(api));
	ret = resolve(h, &api);
	if (ret)
		goto fail;
	r = api.init(0);
	if (r != MCX_CU_SUCCESS) {
		ret = mcx__cuda_errno(r);
		mcx__err("CUDA: cuInit failed (CUresult %d)", r);
		goto fail;
	}
	if (api.driver_get_version(&api.driver_version) != MCX_CU_SUCCESS)
		api.driver_version = 0;
	mcx__info("CUDA: driver API %d.%d loaded from %s", api.driver_version / 1000,
		  api.driver_version % 1000 / 10, cuda_library);
	cuda_api = api;
	cuda_handle = h;
	cuda_ready = true;
	return 0;
fail:
	dlclose(h);
	return ret;
}

const struct mcx_cuda_api *mcx__cuda_api(bool only_if_loaded, int *err)
{
	int ret = 0;

	pthread_mutex_lock(&cuda_lock);
	if (!cuda_ready) {
		/* A broken driver stays broken: say so once, not per pointer. */
		ret = cuda_failed ? cuda_failed : load_locked(only_if_loaded);
		if (ret && ret != -ENOENT)
			cuda_failed = ret;
	}
	pthread_mutex_unlock(&cuda_lock);
	if (err)
		*err = ret;
	return ret ? NULL : &cuda_api;
}
