// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A libmcxfer built without CUDA (WITH_CUDA=no, or no cuda.h): host memory
 * registers as always, MCX_MEM_CUDA fails with -EOPNOTSUPP and a message
 * that says the library was built without CUDA, and a process that has the
 * CUDA driver loaded is warned once.  Run by tests/build/cuda-build.sh,
 * linked with such a library; the engine is libfabric's tcp provider on
 * the loopback device, so no RDMA device is needed.
 *
 *   cuda_out plain           no CUDA driver in the process
 *   cuda_out driver-loaded   libcuda.so.1 (any library of that name on the
 *                            search path) loaded first
 *
 * Prints "ok - ..." / "not ok - ..." lines; exits 1 if one failed.
 */
#define _DEFAULT_SOURCE	/* MAP_ANONYMOUS */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <mcxfer.h>

#define LEN (64u << 10)

static char logbuf[16384];
static size_t loglen;

static void collect(enum mcx_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	loglen += (size_t)snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%s\n", msg);
	if (loglen >= sizeof(logbuf))
		loglen = sizeof(logbuf) - 1;
}

static int count(const char *needle)
{
	int n = 0;

	for (const char *p = logbuf; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static int failed;

static void check(bool ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	if (!ok) {
		failed = 1;
		printf("# log so far:\n%s", logbuf);
	}
}

int main(int argc, char **argv)
{
	const char *loaded_msg = "has the CUDA driver loaded, but libmcxfer was built without CUDA";
	bool driver = argc > 1 && !strcmp(argv[1], "driver-loaded");
	struct mcx_engine_opts o;
	struct mcx_engine *eng;
	struct mcx_mem *m1, *m2;
	void *buf;
	int ret;

	if (driver && !dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL)) {
		printf("not ok - load libcuda.so.1: %s\n", dlerror());
		return 1;
	}
	mcx_log_set_handler(collect, NULL);
	mcx_engine_opts_init(&o);
	o.transport = MCX_TRANSPORT_FABRIC;
	o.fabric_provider = "tcp";
	o.devices = "lo";
	o.registry = MCX_REGISTRY_OFF;
	ret = mcx_engine_create(&o, &eng);
	if (ret) {
		printf("not ok - engine on libfabric tcp/lo: %s\n%s", strerror(-ret), logbuf);
		return 1;
	}
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;

	ret = mcx_mem_register(eng, buf, LEN, MCX_MEM_CUDA, &m1);
	check(ret == -EOPNOTSUPP, "MCX_MEM_CUDA is -EOPNOTSUPP");
	check(count("libmcxfer was built without CUDA support") == 1,
	      "and the log says the library was built without CUDA");

	ret = mcx_mem_register(eng, buf, LEN, 0, &m1);
	check(ret == 0, "host memory still registers");
	ret = mcx_mem_register(eng, (char *)buf + LEN / 2, LEN / 2, MCX_MEM_NO_CACHE, &m2);
	check(ret == 0, "and again");
	if (driver)
		check(count(loaded_msg) == 1, "a process with the CUDA driver loaded is warned, once");
	else
		check(count(loaded_msg) == 0, "a process without the CUDA driver is not warned");

	mcx_mem_deregister(m2);
	mcx_mem_deregister(m1);
	mcx_engine_destroy(eng);
	munmap(buf, LEN);
	return failed;
}
