// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libcurl and json-c, loaded with dlopen the first time an engine is given
 * a metadata service: the library has no link-time dependency on either,
 * so it installs and runs without them, and only a user of MCX_METADATA
 * needs them (Debian: libcurl4 and libjson-c5).  The sonames are the ABI
 * the declarations in etcd.h were written against.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ctrl/etcd.h"
#include "util/util.h"

#define CURL_SONAME	"libcurl.so.4"
#define JSONC_SONAME	"libjson-c.so.5"
#define CURL_GLOBAL_ALL	3L	/* CURL_GLOBAL_SSL | CURL_GLOBAL_WIN32 */

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mcx_etcd_lib lib;
static void *curl_handle, *jsonc_handle;
static bool lib_ready;
static char curl_file[256] = CURL_SONAME;
static char jsonc_file[256] = JSONC_SONAME;

void mcx__etcd_lib_set(const char *curl, const char *jsonc)
{
	pthread_mutex_lock(&lib_lock);
	snprintf(curl_file, sizeof(curl_file), "%s", curl ? curl : CURL_SONAME);
	snprintf(jsonc_file, sizeof(jsonc_file), "%s", jsonc ? jsonc : JSONC_SONAME);
	/*
	 * Handles stay open: a client made before may still call through
	 * them.  Tests switch files only between clients.
	 */
	curl_handle = NULL;
	jsonc_handle = NULL;
	memset(&lib, 0, sizeof(lib));
	lib_ready = false;
	pthread_mutex_unlock(&lib_lock);
}

static void *open_one(const char *file, const char *what)
{
	void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);

	if (!h)
		mcx__err("metadata service: cannot load %s (%s; Debian package %s): %s",
			 file, what, !strcmp(what, "libcurl") ? "libcurl4" : "libjson-c5",
			 dlerror());
	return h;
}

static int resolve(void)
{
#define SYM(h, file, name)							\
	do {									\
		*(void **)&lib.name = dlsym(h, #name);				\
		if (!lib.name) {						\
			mcx__err("metadata service: %s has no %s (too old?)", file, #name); \
			return -ELIBACC;					\
		}								\
	} while (0)
	SYM(curl_handle, curl_file, curl_global_init);
	SYM(curl_handle, curl_file, curl_easy_init);
	SYM(curl_handle, curl_file, curl_easy_setopt);
	SYM(curl_handle, curl_file, curl_easy_perform);
	SYM(curl_handle, curl_file, curl_easy_getinfo);
	SYM(curl_handle, curl_file, curl_easy_cleanup);
	SYM(curl_handle, curl_file, curl_easy_strerror);
	SYM(curl_handle, curl_file, curl_slist_append);
	SYM(curl_handle, curl_file, curl_slist_free_all);
	SYM(jsonc_handle, jsonc_file, json_tokener_new_ex);
	SYM(jsonc_handle, jsonc_file, json_tokener_free);
	SYM(jsonc_handle, jsonc_file, json_tokener_parse_ex);
	SYM(jsonc_handle, jsonc_file, json_tokener_get_error);
	SYM(jsonc_handle, jsonc_file, json_tokener_get_parse_end);
	SYM(jsonc_handle, jsonc_file, json_object_put);
	SYM(jsonc_handle, jsonc_file, json_object_object_get_ex);
	SYM(jsonc_handle, jsonc_file, json_object_get_type);
	SYM(jsonc_handle, jsonc_file, json_object_get_string);
	SYM(jsonc_handle, jsonc_file, json_object_get_string_len);
	SYM(jsonc_handle, jsonc_file, json_object_get_int64);
	SYM(jsonc_handle, jsonc_file, json_object_array_length);
	SYM(jsonc_handle, jsonc_file, json_object_array_get_idx);
#undef SYM
	return 0;
}

const struct mcx_etcd_lib *mcx__etcd_lib(int *err)
{
	int ret = 0;

	pthread_mutex_lock(&lib_lock);
	if (lib_ready)
		goto out;
	if (!curl_handle)
		curl_handle = open_one(curl_file, "libcurl");
	if (!jsonc_handle)
		jsonc_handle = open_one(jsonc_file, "json-c");
	if (!curl_handle || !jsonc_handle) {
		ret = -ELIBACC;
		goto out;
	}
	ret = resolve();
	if (ret)
		goto out;
	/*
	 * Once per process, before any handle: curl_easy_init() would do it
	 * itself, but not thread-safely on libcurl older than 7.84.
	 */
	if (lib.curl_global_init(CURL_GLOBAL_ALL)) {
		mcx__err("metadata service: curl_global_init failed");
		ret = -ELIBACC;
		goto out;
	}
	lib_ready = true;
out:
	pthread_mutex_unlock(&lib_lock);
	*err = ret;
	return ret ? NULL : &lib;
}
