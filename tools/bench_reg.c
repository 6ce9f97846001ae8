// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mcxfer-bench reg: how long registering a large buffer with every selected
 * NIC takes
 *   (a) cold, with a registration pool of one thread,
 *   (b) cold, with the pool (default: one thread per online CPU),
 *   (c) as a cache hit (the range is inside a live registration).
 * The buffer is written before timing so that page faults are not counted:
 * what is measured is pinning and the NICs' translation tables.  Each cold
 * figure is the median of --repeat runs; the best run is shown too, since on
 * a shared (or emulated) host the others include time the CPUs were taken
 * away, which hurts the pool (it needs several CPUs at once) the most.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mcxfer.h"
#include "bench_reg.h"
#include "common/clock.h"
#include "common/exit_status.h"
#include "common/parse.h"
#include "common/stats.h"
#include "common/transport_arg.h"

struct reg_bench_opts {
	uint64_t size;
	uint64_t chunk;
	uint64_t threads;
	uint64_t repeat;
	uint64_t hits;
	const char *devices;
	struct transport_arg ta;	/* --transport, --provider */
	int json;
};

static double now_s(void)
{
	return (double)now_ns() / 1e9;
}

static double median(double *v, size_t n)
{
	sort_doubles(v, n);
	return median_of_sorted(v, n);
}

static double minimum(const double *v, size_t n)
{
	double m = v[0];

	for (size_t i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mcxfer-bench reg [OPTIONS]\n"
		"\n"
		"Time registering a buffer with every selected RDMA NIC: cold with one\n"
		"registration thread, cold with the pool, and a registration-cache hit.\n"
		"\n"
		"  --size SIZE       buffer size (default 1G; K/M/G/T suffixes)\n"
		"  --devices LIST    RDMA devices (default: MCX_IB_DEVICES, else all)\n"
		"  --transport KIND  verbs, fabric or auto (default; as MCX_TRANSPORT)\n"
		"  --provider NAME   libfabric provider (as MCX_FABRIC_PROVIDER)\n"
		"  --threads N       pool size (default: online CPUs)\n"
		"  --chunk SIZE      registration chunk size (default 64M; multiple of 4K)\n"
		"  --repeat N        cold runs of each kind: median and best (default 5)\n"
		"  --hits N          timed cache-hit registrations (default 1000)\n"
		"  --json            one JSON object on stdout\n");
	return f == stdout ? 0 : EXIT_USAGE;
}

static int bad(const char *opt, const char *val, int err, const char *range)
{
	return bad_value("mcxfer-bench reg", opt, val, err, range);
}

static int make_engine(const struct reg_bench_opts *o, unsigned int threads,
		       struct mcx_engine **eng)
{
	struct mcx_engine_opts eo;
	int ret;

	mcx_engine_opts_init(&eo);
	eo.devices = o->devices;
	transport_arg_apply(&o->ta, &eo);
	eo.reg_threads = threads;
	eo.reg_chunk_size = o->chunk;
	eo.poller = 0;
	ret = mcx_engine_create(&eo, eng);
	if (ret)
		fprintf(stderr, "mcxfer-bench reg: creating the engine: %s\n", mcx_strerror(ret));
	return ret;
}

/*
 * Median and best seconds of o->repeat cold registrations of buf with
 * threads workers.
 */
static int time_cold(const struct reg_bench_opts *o, void *buf, unsigned int threads,
		     double *secs, double *best, unsigned int *nics, unsigned int *pool)
{
	struct mcx_engine *eng;
	struct mcx_engine_stats st;
	double v[64];
	int ret;

	ret = make_engine(o, threads, &eng);
	if (ret)
		return ret;
	*nics = mcx_engine_nics(eng);
	mcx_engine_stats(eng, &st);
	*pool = st.reg_threads;
	for (uint64_t r = 0; r < o->repeat; r++) {
		struct mcx_mem *mem;
		double t0 = now_s();

		ret = mcx_mem_register(eng, buf, o->size, 0, &mem);
		v[r] = now_s() - t0;
		if (ret) {
			fprintf(stderr, "mcxfer-bench reg: registering %" PRIu64 " bytes: %s\n",
				o->size, mcx_strerror(ret));
			break;
		}
		mcx_mem_deregister(mem);
	}
	mcx_engine_destroy(eng);
	if (!ret) {
		*best = minimum(v, o->repeat);
		*secs = median(v, o->repeat);
	}
	return ret;
}

static int time_hits(const struct reg_bench_opts *o, void *buf, unsigned int threads,
		     double *hit_us)
{
	struct mcx_engine *eng;
	struct mcx_mem *mem, *again;
	struct mcx_mem_info info;
	double *v;
	int ret;

	v = calloc(o->hits, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ret = make_engine(o, threads, &eng);
	if (ret)
		goto out;
	ret = mcx_mem_register(eng, buf, o->size, 0, &mem);
	if (ret) {
		fprintf(stderr, "mcxfer-bench reg: registering: %s\n", mcx_strerror(ret));
		goto destroy;
	}
	for (uint64_t i = 0; i < o->hits && !ret; i++) {
		/* A different sub-range each time, always inside the buffer. */
		uint64_t off = (i * 4096) % (o->size / 2);
		double t0 = now_s();

		ret = mcx_mem_register(eng, (char *)buf + off, o->size / 2, 0, &again);
		v[i] = (now_s() - t0) * 1e6;
		if (!ret && again != mem) {
			fprintf(stderr, "mcxfer-bench reg: a contained range was registered anew\n");
			ret = -EPROTO;
		}
		if (!ret)
			mcx_mem_deregister(again);
	}
	if (!ret && (mcx_mem_query(mem, &info) || info.refs != 1)) {
		fprintf(stderr, "mcxfer-bench reg: references leaked (%d)\n", info.refs);
		ret = -EPROTO;
	}
	mcx_mem_deregister(mem);
	if (!ret)
		*hit_us = median(v, o->hits);
destroy:
	mcx_engine_destroy(eng);
out:
	free(v);
	return ret;
}

int bench_reg_main(int argc, char **argv)
{
	struct reg_bench_opts o = {
		.size = 1ULL << 30, .chunk = 64ULL << 20, .threads = 0, .repeat = 5,
		.hits = 1000, .devices = NULL, .json = 0,
	};
	double t1 = 0, tp = 0, b1 = 0, bp = 0, hit_us = 0, gib;
	unsigned int nics = 0, pool1 = 0, pool = 0;
	void *buf;
	int ret;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return usage(stdout);
		if (!strcmp(a, "--json")) {
			o.json = 1;
			continue;
		}
		if (!v)
			return bad(a, "", -EINVAL, "a value after it");
		i++;
		if (!strcmp(a, "--size")) {
			if ((ret = parse_size_arg(v, 4096, 1ULL << 40, &o.size)))
				return bad(a, v, ret, "4K..1T");
		} else if (!strcmp(a, "--chunk")) {
			if ((ret = parse_size_arg(v, 4096, 1ULL << 40, &o.chunk)) || o.chunk % 4096)
				return bad(a, v, ret ? ret : -EINVAL, "a multiple of 4K, 4K..1T");
		} else if (!strcmp(a, "--threads")) {
			if ((ret = parse_u64_arg(v, 1, 256, &o.threads)))
				return bad(a, v, ret, "1..256");
		} else if (!strcmp(a, "--repeat")) {
			if ((ret = parse_u64_arg(v, 1, 64, &o.repeat)))
				return bad(a, v, ret, "1..64");
		} else if (!strcmp(a, "--hits")) {
			if ((ret = parse_u64_arg(v, 1, 1000000, &o.hits)))
				return bad(a, v, ret, "1..1000000");
		} else if (!strcmp(a, "--devices")) {
			o.devices = v;
		} else if (transport_arg_is(a)) {
			if ((ret = transport_arg_parse("mcxfer-bench reg", a, v, &o.ta)))
				return ret;
		} else {
			fprintf(stderr, "mcxfer-bench reg: unknown option '%s'\n", a);
			return usage(stderr);
		}
	}
	if (transport_arg_check("mcxfer-bench reg", &o.ta))
		return EXIT_USAGE;
	buf = mmap(NULL, o.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		fprintf(stderr, "mcxfer-bench reg: cannot map %" PRIu64 " bytes: %s\n", o.size,
			strerror(errno));
		return EXIT_FAIL;
	}
	/* Fault every page in now: the timings are about registration only. */
	memset(buf, 0x5a, o.size);

	ret = time_cold(&o, buf, 1, &t1, &b1, &nics, &pool1);
	if (!ret)
		ret = time_cold(&o, buf, (unsigned int)o.threads, &tp, &bp, &nics, &pool);
	if (!ret)
		ret = time_hits(&o, buf, (unsigned int)o.threads, &hit_us);
	munmap(buf, o.size);
	if (ret)
		return EXIT_FAIL;

	gib = (double)o.size / (double)(1ULL << 30);
	if (o.json) {
		printf("{\"size\": %" PRIu64 ", \"nics\": %u, \"chunk\": %" PRIu64
		       ", \"repeat\": %" PRIu64 ", \"cold_1thread_s\": %.6f, \"cold_pool_s\": %.6f"
		       ", \"pool_threads\": %u, \"cold_1thread_gib_s\": %.3f"
		       ", \"cold_pool_gib_s\": %.3f, \"pool_speedup\": %.3f"
		       ", \"best_1thread_s\": %.6f, \"best_pool_s\": %.6f, \"best_pool_speedup\": %.3f"
		       ", \"hit_us\": %.3f, \"cold_over_hit\": %.1f}\n",
		       o.size, nics, o.chunk, o.repeat, t1, tp, pool, gib * nics / t1,
		       gib * nics / tp, t1 / tp, b1, bp, b1 / bp, hit_us, tp * 1e6 / hit_us);
	} else {
		printf("registering %.3f GiB on %u NIC(s), %" PRIu64 " MiB chunks, median of %" PRIu64 "\n",
		       gib, nics, o.chunk >> 20, o.repeat);
		printf("  cold, 1 thread      %10.1f ms  %8.2f GiB/s (bytes x NICs), best %.1f ms\n",
		       t1 * 1e3, gib * nics / t1, b1 * 1e3);
		printf("  cold, pool of %-3u   %10.1f ms  %8.2f GiB/s, best %.1f ms\n", pool,
		       tp * 1e3, gib * nics / tp, bp * 1e3);
		printf("  cache hit           %10.2f us\n", hit_us);
		printf("  pool vs 1 thread:   %.2fx (best runs: %.2fx)\n", t1 / tp, b1 / bp);
		printf("  cold vs cache hit:  %.0fx\n", tp * 1e6 / hit_us);
	}
	(void)pool1;
	return 0;
}
