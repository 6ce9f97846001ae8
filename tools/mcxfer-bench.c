// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mcxfer-bench: measurements of mcxfer.  Each measurement is a subcommand;
 * this release has `registry`:
 *
 *  (a) PIN latency of a cold pin (the range is not in the registry: a new
 *      attachment and mapping) against a cache hit (the range is pinned
 *      already: one more reference);
 *  (b) LOOKUP-by-name latency with one entry in the registry against a
 *      registry of many (100,000 by default), which must stay within 2x;
 *  (c) cold PIN latency while another process pins and unpins large
 *      buffers (256 MiB by default) in a loop, against the idle figure of
 *      (a): the exporter's attach, pin and map of the large buffer must not
 *      hold up other clients of the registry (target: p99 within 2x).
 *
 * It needs /dev/mcxfer and a host dma-buf exporter (udmabuf or vgem), i.e.
 * it runs in the VM rig:  tests/vm/run.sh -- build/tools/mcxfer-bench registry
 *
 * The other subcommands live in files of their own: xfer (bench_xfer.c),
 * reg (bench_reg.c), startup (bench_startup.c), handshake and peers
 * (bench_net.c: a listener under attack by unauthenticated callers, one
 * engine with many peers) and first (bench_first.c: first-request latency
 * to a new peer, cold vs warmed up).
 *
 * Exit status: 0 done (and within the lookup ratio limit), 1 failed or over
 * the limit, 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mcxfer.h"
#include "bench_first.h"
#include "bench_net.h"
#include "bench_reg.h"
#include "bench_startup.h"
#include "bench_xfer.h"
#include "common/host_dmabuf.h"
#include "common/clock.h"
#include "common/exit_status.h"
#include "common/parse.h"
#include "common/stats.h"

static const char *prog = "mcxfer-bench";
static const char *registry_prog = "mcxfer-bench registry";

/* ---- statistics ---- */

struct stats {
	double p50, p99, mean, min, max;	/* microseconds */
	size_t n;
};

/* Nearest-rank percentiles over n samples (sorted in place). */
static struct stats summarize(double *v, size_t n)
{
	struct stats s = { .n = n };
	double sum = 0;

	if (!n)
		return s;
	sort_doubles(v, n);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	s.mean = sum / (double)n;
	s.min = v[0];
	s.max = v[n - 1];
	s.p50 = v[(size_t)((double)(n - 1) * 0.50 + 0.5)];
	s.p99 = v[(size_t)((double)(n - 1) * 0.99 + 0.5)];
	return s;
}

static double now_us(void)
{
	return (double)now_ns() / 1e3;
}

/* xorshift64*: reproducible name picks without libc's shared state. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* ---- module caps ---- */

/*
 * A cap that would stop the population is lifted for the run (written as 0,
 * unlimited) and put back afterwards; that needs root and the module's
 * writable parameters.
 */
struct cap {
	const char *param;
	uint64_t value;		/* as read through GET_INFO */
	uint64_t need;
	int raised;
};

static int write_param(const char *param, uint64_t v)
{
	char path[128], buf[32];
	int fd, len, ok;

	snprintf(path, sizeof(path), "/sys/module/mcxfer/parameters/%s", param);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
	ok = write(fd, buf, (size_t)len) == len;
	close(fd);
	return ok ? 0 : -EIO;
}

static int raise_caps(struct cap *caps, size_t n, int allowed)
{
	for (size_t i = 0; i < n; i++) {
		int ret;

		if (!caps[i].value || caps[i].value >= caps[i].need)
			continue;
		if (!allowed) {
			fprintf(stderr, "%s: the module's %s is %" PRIu64 ", below the %" PRIu64
				" this run needs; raise it (echo 0 > /sys/module/mcxfer/parameters/%s) or drop --no-raise-caps\n",
				prog, caps[i].param, caps[i].value, caps[i].need, caps[i].param);
			return -ENOSPC;
		}
		ret = write_param(caps[i].param, 0);
		if (ret) {
			fprintf(stderr, "%s: the module's %s is %" PRIu64 ", below the %" PRIu64
				" this run needs, and it cannot be raised: %s\n", prog,
				caps[i].param, caps[i].value, caps[i].need, strerror(-ret));
			return ret;
		}
		caps[i].raised = 1;
		fprintf(stderr, "%s: lifted %s (was %" PRIu64 ") for this run\n", prog,
			caps[i].param, caps[i].value);
	}
	return 0;
}

static void restore_caps(struct cap *caps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (caps[i].raised && write_param(caps[i].param, caps[i].value))
			fprintf(stderr, "%s: warning: could not restore %s to %" PRIu64 "\n",
				prog, caps[i].param, caps[i].value);
}

/* ---- registry benchmark ---- */

struct reg_opts {
	uint64_t iterations;
	uint64_t contend_mib;
	uint64_t lookups;
	uint64_t entries;
	uint64_t pages_per_buf;
	double max_ratio;
	int raise_caps;
	int json;
};

struct reg_result {
	const char *exporter;
	struct stats cold, hit;
	struct stats look_one, look_many, look_many_same;
	struct stats cold_busy;
	uint64_t contend_loops;
	double populate_s;
	uint64_t buffers;
};

/* The r-th page range [a, b) of a buffer of p pages, 0 <= r < p(p+1)/2. */
static void nth_range(uint64_t r, uint64_t p, uint64_t *a, uint64_t *b)
{
	uint64_t len = 1;

	/* Ranges grouped by length: p of length 1, p - 1 of length 2, ... */
	while (r >= p - len + 1) {
		r -= p - len + 1;
		len++;
	}
	*a = r;
	*b = r + len;
}

static void entry_name(char *buf, size_t len, uint64_t i)
{
	snprintf(buf, len, "bench/lookup/%" PRIu64, i);
}

static int bench_pins(struct mcx_registry *reg, const struct reg_opts *o, size_t page,
		      struct reg_result *res)
{
	uint64_t nranges = o->pages_per_buf * (o->pages_per_buf + 1) / 2;
	double *cold = NULL, *hit = NULL;
	struct host_dmabuf buf;
	uint64_t base_id = 0;
	int ret;

	ret = host_dmabuf_create(o->pages_per_buf * page, &buf);
	if (ret) {
		fprintf(stderr, "%s: cannot create a host dma-buf: %s\n", prog, strerror(-ret));
		return ret;
	}
	res->exporter = buf.exporter;
	cold = calloc(o->iterations, sizeof(*cold));
	hit = calloc(o->iterations, sizeof(*hit));
	ret = -ENOMEM;
	if (!cold || !hit)
		goto out;

	/* Cold: NO_LINGER and an unpin drop the entry, so each pin is a miss. */
	for (uint64_t i = 0; i < o->iterations; i++) {
		uint64_t a, b, id;
		double t0;
		int h;

		nth_range(i % nranges, o->pages_per_buf, &a, &b);
		t0 = now_us();
		ret = mcx_registry_pin(reg, buf.fd, a * page, (b - a) * page, NULL, NULL,
				       MCX_SHARE_OWNER, MCX_PIN_NO_LINGER, &id, &h);
		cold[i] = now_us() - t0;
		if (ret) {
			fprintf(stderr, "%s: cold pin %" PRIu64 ": %s\n", prog, i, mcx_strerror(ret));
			goto out;
		}
		if (h) {
			fprintf(stderr, "%s: cold pin %" PRIu64 " was a cache hit: is that range pinned by another process?\n",
				prog, i);
			ret = -EEXIST;
			goto out;
		}
		ret = mcx_registry_unpin(reg, id);
		if (ret) {
			fprintf(stderr, "%s: unpin: %s\n", prog, mcx_strerror(ret));
			goto out;
		}
	}

	/* Hit: one reference keeps the entry; each timed pin adds another. */
	ret = mcx_registry_pin(reg, buf.fd, 0, page, NULL, NULL, MCX_SHARE_OWNER,
			       MCX_PIN_NO_LINGER, &base_id, NULL);
	if (ret) {
		fprintf(stderr, "%s: pin: %s\n", prog, mcx_strerror(ret));
		goto out;
	}
	for (uint64_t i = 0; i < o->iterations; i++) {
		uint64_t id;
		double t0;
		int h;

		t0 = now_us();
		ret = mcx_registry_pin(reg, buf.fd, 0, page, NULL, NULL, MCX_SHARE_OWNER,
				       MCX_PIN_NO_LINGER, &id, &h);
		hit[i] = now_us() - t0;
		if (ret) {
			fprintf(stderr, "%s: repeated pin %" PRIu64 ": %s\n", prog, i, mcx_strerror(ret));
			goto out;
		}
		if (!h || id != base_id) {
			fprintf(stderr, "%s: repeated pin %" PRIu64 " of a pinned range was not a hit on entry %" PRIu64
				" (hit=%d, id %" PRIu64 ")\n", prog, i, base_id, h, id);
			ret = -EPROTO;
			goto out;
		}
		ret = mcx_registry_unpin(reg, id);
		if (ret) {
			fprintf(stderr, "%s: unpin: %s\n", prog, mcx_strerror(ret));
			goto out;
		}
	}
	res->cold = summarize(cold, o->iterations);
	res->hit = summarize(hit, o->iterations);
	ret = 0;
out:
	if (base_id)
		mcx_registry_unpin(reg, base_id);
	free(cold);
	free(hit);
	host_dmabuf_destroy(&buf);
	return ret;
}

/* ---- contention ---- */

/* Big pins the timed cold pins must overlap. */
#define CONTEND_MIN_LOOPS	8

/* Shared with the contender: it counts its loops; the parent stops it. */
struct contend_state {
	volatile uint64_t loops;
	volatile int error;
};

/*
 * udmabuf refuses buffers over size_limit_mb (64 MiB by default); raise it
 * for the run when it is lower.  Returns the old value, or 0 when nothing
 * was changed.
 */
static unsigned long raise_udmabuf_limit(uint64_t mib)
{
	const char *path = "/sys/module/udmabuf/parameters/size_limit_mb";
	unsigned long old = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	if (fscanf(f, "%lu", &old) != 1)
		old = 0;
	fclose(f);
	if (!old || old >= mib)
		return 0;
	f = fopen(path, "we");
	if (!f)
		return 0;
	fprintf(f, "%" PRIu64 "\n", mib);
	if (fclose(f))
		return 0;
	return old;
}

static void restore_udmabuf_limit(unsigned long old)
{
	FILE *f;

	if (!old)
		return;
	f = fopen("/sys/module/udmabuf/parameters/size_limit_mb", "we");
	if (f) {
		fprintf(f, "%lu\n", old);
		fclose(f);
	}
}

/* The other process: pin, unpin and free a large dma-buf, again and again. */
static void contend_loop(uint64_t bytes, struct contend_state *st)
{
	struct mcx_registry *reg;
	int ret;

	ret = mcx_registry_open(&reg);
	if (ret) {
		st->error = ret;
		_exit(1);
	}
	for (;;) {
		struct host_dmabuf buf;
		uint64_t id;

		ret = host_dmabuf_create(bytes, &buf);
		if (!ret) {
			ret = mcx_registry_pin(reg, buf.fd, 0, bytes, NULL, NULL, MCX_SHARE_OWNER,
					       MCX_PIN_NO_LINGER, &id, NULL);
			if (!ret)
				ret = mcx_registry_unpin(reg, id);
			host_dmabuf_destroy(&buf);
		}
		if (ret) {
			st->error = ret;
			_exit(1);
		}
		__atomic_add_fetch(&st->loops, 1, __ATOMIC_RELAXED);
	}
}

/* Cold pins of a small buffer, timed while contend_loop() runs. */
static int bench_contended(struct mcx_registry *reg, const struct reg_opts *o, size_t page,
			   struct reg_result *res)
{
	uint64_t bytes = o->contend_mib << 20, start, n = 0, cap = o->iterations;
	struct contend_state *st;
	unsigned long udmabuf_old;
	struct host_dmabuf buf;
	double *t;
	pid_t pid;
	int ret;

	t = calloc(o->iterations, sizeof(*t));
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!t || st == MAP_FAILED) {
		free(t);
		return -ENOMEM;
	}
	memset(st, 0, sizeof(*st));
	ret = host_dmabuf_create(page, &buf);
	if (ret) {
		free(t);
		munmap(st, sizeof(*st));
		return ret;
	}
	udmabuf_old = raise_udmabuf_limit(o->contend_mib);
	pid = fork();
	if (pid == 0)
		contend_loop(bytes, st);
	ret = pid < 0 ? -errno : 0;
	/* start timing once the contender is in its loop */
	while (!ret && !__atomic_load_n(&st->loops, __ATOMIC_RELAXED) && !st->error)
		usleep(1000);
	if (!ret && st->error)
		ret = st->error;
	/*
	 * At least o->iterations pins, and for as long as the contender takes
	 * to pin CONTEND_MIN_LOOPS big buffers, so that the pins overlap its
	 * attach and map many times over.
	 */
	start = st->loops;
	for (n = 0; !ret && (n < o->iterations || st->loops - start < CONTEND_MIN_LOOPS); n++) {
		uint64_t id;
		double t0;

		if (n == cap) {
			double *bigger = realloc(t, 2 * cap * sizeof(*t));

			if (!bigger) {
				ret = -ENOMEM;
				break;
			}
			t = bigger;
			cap *= 2;
		}
		t0 = now_us();
		ret = mcx_registry_pin(reg, buf.fd, 0, page, NULL, NULL, MCX_SHARE_OWNER,
				       MCX_PIN_NO_LINGER, &id, NULL);
		t[n] = now_us() - t0;
		if (!ret)
			ret = mcx_registry_unpin(reg, id);
		if (!ret && st->error)
			ret = st->error;
	}
	if (!ret && st->error)
		ret = st->error;
	res->contend_loops = st->loops - start;
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	restore_udmabuf_limit(udmabuf_old);
	if (ret)
		fprintf(stderr, "%s: contended pins: %s\n", prog, mcx_strerror(ret));
	else
		res->cold_busy = summarize(t, n);
	host_dmabuf_destroy(&buf);
	munmap(st, sizeof(*st));
	free(t);
	return ret;
}

/* Time o->lookups lookups of the names picked by pick(). */
static int time_lookups(struct mcx_registry *reg, const struct reg_opts *o, uint64_t population,
			int same, struct stats *out)
{
	double *t = calloc(o->lookups, sizeof(*t));
	uint64_t seed = 0x9E3779B97F4A7C15ULL;
	char name[MCX_NAME_MAX];
	struct mcx_reg_lookup l;
	int ret = 0;

	if (!t)
		return -ENOMEM;
	/* Untimed warm-up: caches and branch predictors as in steady state. */
	for (uint64_t i = 0; i < 200 && !ret; i++) {
		entry_name(name, sizeof(name), same ? 0 : rng_next(&seed) % population);
		ret = mcx_registry_lookup(reg, name, 0, 0, &l);
	}
	for (uint64_t i = 0; i < o->lookups && !ret; i++) {
		uint64_t want = same ? 0 : rng_next(&seed) % population;
		double t0;

		entry_name(name, sizeof(name), want);
		t0 = now_us();
		ret = mcx_registry_lookup(reg, name, 0, 0, &l);
		t[i] = now_us() - t0;
	}
	if (ret) {
		fprintf(stderr, "%s: lookup of '%s': %s\n", prog, name, mcx_strerror(ret));
		free(t);
		return ret;
	}
	*out = summarize(t, o->lookups);
	free(t);
	return 0;
}

/* Pin entries [first, last) with names, on buffers of pages_per_buf pages. */
static int populate(struct mcx_registry *reg, const struct reg_opts *o, size_t page,
		    uint64_t first, uint64_t last, struct reg_result *res)
{
	uint64_t nranges = o->pages_per_buf * (o->pages_per_buf + 1) / 2;
	struct host_dmabuf buf = { .fd = -1, .backing_fd = -1 };
	char name[MCX_NAME_MAX];
	uint64_t r = nranges;
	int ret = 0;

	for (uint64_t i = first; i < last; i++) {
		uint64_t a, b, id;

		/*
		 * A buffer's fd is closed once all its ranges are pinned: the
		 * entries keep the dma-buf alive, and 100,000 entries must not
		 * need thousands of open files.
		 */
		if (r == nranges) {
			host_dmabuf_destroy(&buf);
			ret = host_dmabuf_create(o->pages_per_buf * page, &buf);
			if (ret) {
				fprintf(stderr, "%s: cannot create host dma-buf %" PRIu64 ": %s\n",
					prog, res->buffers, strerror(-ret));
				return ret;
			}
			res->buffers++;
			r = 0;
		}
		nth_range(r++, o->pages_per_buf, &a, &b);
		entry_name(name, sizeof(name), i);
		ret = mcx_registry_pin(reg, buf.fd, a * page, (b - a) * page, name, NULL,
				       MCX_SHARE_OWNER, MCX_PIN_NO_LINGER, &id, NULL);
		if (ret) {
			fprintf(stderr, "%s: pin of entry %" PRIu64 " ('%s'): %s\n", prog, i, name,
				mcx_strerror(ret));
			break;
		}
	}
	host_dmabuf_destroy(&buf);
	return ret;
}

static void print_stats_json(const char *key, const struct stats *s, int comma)
{
	printf("\"%s\": {\"n\": %zu, \"p50_us\": %.3f, \"p99_us\": %.3f, \"mean_us\": %.3f, "
	       "\"min_us\": %.3f, \"max_us\": %.3f}%s", key, s->n, s->p50, s->p99, s->mean,
	       s->min, s->max, comma ? ", " : "");
}

static void print_stats_row(const char *what, const struct stats *s)
{
	printf("  %-34s %10.2f %10.2f %10.2f\n", what, s->p50, s->p99, s->mean);
}

static int registry_usage(FILE *f)
{
	fprintf(f,
		"usage: %s registry [OPTIONS]\n"
		"\n"
		"Pin latency (cold vs cache hit) and lookup-by-name latency (1 entry vs\n"
		"many) of the mcxfer registry.  Needs /dev/mcxfer and udmabuf or vgem.\n"
		"\n"
		"  --iterations N         timed pins of each kind (default 2000)\n"
		"  --lookups N            timed lookups per population (default 20000)\n"
		"  --entries N            entries in the large population (default 100000)\n"
		"  --pages-per-buf N      dma-buf size, in pages, for the population; each\n"
		"                         buffer gives N*(N+1)/2 distinct ranges (default 16)\n"
		"  --max-lookup-ratio R   fail if the p50 lookup with N entries exceeds R times\n"
		"                         the p50 with one (default 2; 0 = report only)\n"
		"  --contend-mib N        size of the buffers another process pins in a loop\n"
		"                         while cold pins are timed again (default 256; 0: skip)\n"
		"  --no-raise-caps        fail rather than lift module caps for the run\n"
		"  --json                 one JSON object on stdout\n",
		prog);
	return f == stdout ? 0 : EXIT_USAGE;
}

static int cmd_registry(int argc, char **argv)
{
	struct reg_opts o = {
		.iterations = 2000, .lookups = 20000, .entries = 100000, .pages_per_buf = 16,
		.contend_mib = 256,
		.max_ratio = 2.0, .raise_caps = 1,
	};
	struct reg_result res = { 0 };
	struct mcx_registry *reg = NULL;
	struct mcx_reg_info info = { 0 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct cap caps[4] = { { 0 } };
	uint64_t need_bytes = 0;
	struct utsname un;
	double ratio, ratio_same, t0;
	int ret, status = EXIT_FAIL, ok;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int err;

		if (!strcmp(opt, "--help") || !strcmp(opt, "-h"))
			return registry_usage(stdout);
		if (!strcmp(opt, "--json")) {
			o.json = 1;
			continue;
		}
		if (!strcmp(opt, "--no-raise-caps")) {
			o.raise_caps = 0;
			continue;
		}
		if (strcmp(opt, "--iterations") && strcmp(opt, "--lookups") &&
		    strcmp(opt, "--entries") && strcmp(opt, "--pages-per-buf") &&
		    strcmp(opt, "--max-lookup-ratio") && strcmp(opt, "--contend-mib")) {
			fprintf(stderr, "%s registry: unknown option '%s'\n", prog, opt);
			return registry_usage(stderr);
		}
		if (!val) {
			fprintf(stderr, "%s registry: %s needs a value\n", prog, opt);
			return EXIT_USAGE;
		}
		i++;
		if (!strcmp(opt, "--iterations")) {
			err = parse_u64_arg(val, 1, 10000000, &o.iterations);
			if (err)
				return bad_value(registry_prog, opt, val, err, "1..10000000");
		} else if (!strcmp(opt, "--lookups")) {
			err = parse_u64_arg(val, 1, 10000000, &o.lookups);
			if (err)
				return bad_value(registry_prog, opt, val, err, "1..10000000");
		} else if (!strcmp(opt, "--entries")) {
			err = parse_u64_arg(val, 2, 10000000, &o.entries);
			if (err)
				return bad_value(registry_prog, opt, val, err, "2..10000000");
		} else if (!strcmp(opt, "--contend-mib")) {
			err = parse_u64_arg(val, 0, 65536, &o.contend_mib);
			if (err)
				return bad_value(registry_prog, opt, val, err, "0..65536");
		} else if (!strcmp(opt, "--pages-per-buf")) {
			err = parse_u64_arg(val, 1, 4096, &o.pages_per_buf);
			if (err)
				return bad_value(registry_prog, opt, val, err, "1..4096");
		} else {
			err = parse_double_arg(val, 0, 1000, &o.max_ratio);
			if (err || (o.max_ratio > 0 && o.max_ratio < 1))
				return bad_value(registry_prog, opt, val, err ? err : -ERANGE, "0, or 1..1000");
		}
	}

	if (!host_dmabuf_exporter()) {
		fprintf(stderr, "%s: no host dma-buf exporter: load udmabuf or vgem (the VM rig does)\n",
			prog);
		return EXIT_FAIL;
	}
	ret = mcx_registry_open(&reg);
	if (ret) {
		fprintf(stderr, "%s: cannot open the registry: %s\n", prog, mcx_strerror(ret));
		return EXIT_FAIL;
	}
	ret = mcx_registry_info(reg, &info);
	if (ret) {
		fprintf(stderr, "%s: info: %s\n", prog, mcx_strerror(ret));
		goto out;
	}
	/* Bytes the population accounts for: the lengths of all its ranges. */
	for (uint64_t i = 0, r = 0; i < o.entries; i++) {
		uint64_t a, b;

		nth_range(r, o.pages_per_buf, &a, &b);
		need_bytes += (b - a) * page;
		if (++r == o.pages_per_buf * (o.pages_per_buf + 1) / 2)
			r = 0;
	}
	need_bytes += 2 * o.pages_per_buf * page;	/* the pin benchmark's buffer */
	need_bytes += o.contend_mib << 20;		/* the contender's */
	caps[0] = (struct cap){ "max_entries", info.max_entries, info.entries + o.entries + 2, 0 };
	caps[1] = (struct cap){ "user_max_entries", info.user_max_entries, info.entries + o.entries + 2, 0 };
	caps[2] = (struct cap){ "max_pinned_bytes", info.max_pinned_bytes, info.bytes_pinned + need_bytes, 0 };
	caps[3] = (struct cap){ "user_max_pinned_bytes", info.user_max_pinned_bytes,
				info.bytes_pinned + need_bytes, 0 };
	ret = raise_caps(caps, 4, o.raise_caps);
	if (ret)
		goto out;

	if (!o.json)
		fprintf(stderr, "%s: timing %" PRIu64 " cold and %" PRIu64 " cached pins...\n",
			prog, o.iterations, o.iterations);
	ret = bench_pins(reg, &o, page, &res);
	if (ret)
		goto out;
	if (o.contend_mib) {
		if (!o.json)
			fprintf(stderr, "%s: timing %" PRIu64 " cold pins while another process pins %"
				PRIu64 " MiB buffers...\n", prog, o.iterations, o.contend_mib);
		ret = bench_contended(reg, &o, page, &res);
		if (ret)
			goto out;
	}

	if (!o.json)
		fprintf(stderr, "%s: timing %" PRIu64 " lookups with 1 named entry...\n", prog,
			o.lookups);
	ret = populate(reg, &o, page, 0, 1, &res);
	if (!ret)
		ret = time_lookups(reg, &o, 1, 1, &res.look_one);
	if (ret)
		goto out;

	if (!o.json)
		fprintf(stderr, "%s: pinning %" PRIu64 " more named entries...\n", prog,
			o.entries - 1);
	t0 = now_us();
	ret = populate(reg, &o, page, 1, o.entries, &res);
	res.populate_s = (now_us() - t0) / 1e6;
	if (ret)
		goto out;
	if (!o.json)
		fprintf(stderr, "%s: %" PRIu64 " entries on %" PRIu64 " dma-bufs in %.1f s; timing %" PRIu64
			" lookups...\n", prog, o.entries, res.buffers, res.populate_s, o.lookups);
	ret = time_lookups(reg, &o, o.entries, 0, &res.look_many);
	if (!ret)
		ret = time_lookups(reg, &o, o.entries, 1, &res.look_many_same);
	if (ret)
		goto out;

	ratio = res.look_many.p50 / res.look_one.p50;
	ratio_same = res.look_many_same.p50 / res.look_one.p50;
	ok = o.max_ratio == 0 || ratio <= o.max_ratio;
	if (uname(&un))
		snprintf(un.release, sizeof(un.release), "unknown");

	if (o.json) {
		printf("{\"bench\": \"registry\", \"kernel\": \"%s\", \"exporter\": \"%s\", ",
		       un.release, res.exporter);
		printf("\"pin\": {\"iterations\": %" PRIu64 ", ", o.iterations);
		print_stats_json("cold", &res.cold, 1);
		print_stats_json("hit", &res.hit, 1);
		printf("\"cold_over_hit_p50\": %.3f, \"cold_over_hit_mean\": %.3f}, ",
		       res.cold.p50 / res.hit.p50, res.cold.mean / res.hit.mean);
		if (o.contend_mib) {
			printf("\"contended\": {\"contend_mib\": %" PRIu64 ", \"contender_loops\": %"
			       PRIu64 ", ", o.contend_mib, res.contend_loops);
			print_stats_json("cold_busy", &res.cold_busy, 1);
			printf("\"busy_over_idle_p99\": %.3f}, ", res.cold_busy.p99 / res.cold.p99);
		}
		printf("\"lookup\": {\"entries\": %" PRIu64 ", \"dmabufs\": %" PRIu64
		       ", \"populate_s\": %.3f, ", o.entries, res.buffers, res.populate_s);
		print_stats_json("one_entry", &res.look_one, 1);
		print_stats_json("many_random", &res.look_many, 1);
		print_stats_json("many_same", &res.look_many_same, 1);
		printf("\"many_over_one_p50\": %.3f, \"many_over_one_mean\": %.3f, "
		       "\"many_same_over_one_p50\": %.3f, \"max_ratio\": %.3f, \"ok\": %s}}\n",
		       ratio, res.look_many.mean / res.look_one.mean, ratio_same, o.max_ratio,
		       ok ? "true" : "false");
	} else {
		printf("mcxfer-bench registry: kernel %s, exporter %s\n", un.release, res.exporter);
		printf("  %-34s %10s %10s %10s\n", "latency (microseconds)", "p50", "p99", "mean");
		print_stats_row("pin, cold (miss)", &res.cold);
		print_stats_row("pin, cache hit", &res.hit);
		printf("  cold / hit: %.2fx (p50), %.2fx (mean), %" PRIu64 " pins each\n",
		       res.cold.p50 / res.hit.p50, res.cold.mean / res.hit.mean, o.iterations);
		if (o.contend_mib) {
			char what[64];

			snprintf(what, sizeof(what), "pin, cold, %" PRIu64 " MiB pins alongside",
				 o.contend_mib);
			print_stats_row(what, &res.cold_busy);
			printf("  busy / idle: %.2fx (p99), %.2fx (p50); %zu pins while the other process pinned %"
			       PRIu64 " buffers\n", res.cold_busy.p99 / res.cold.p99,
			       res.cold_busy.p50 / res.cold.p50, res.cold_busy.n, res.contend_loops);
		}
		print_stats_row("lookup by name, 1 entry", &res.look_one);
		{
			char what[64];

			snprintf(what, sizeof(what), "lookup by name, %" PRIu64 " entries", o.entries);
			print_stats_row(what, &res.look_many);
			snprintf(what, sizeof(what), "  same name as with 1 entry");
			print_stats_row(what, &res.look_many_same);
		}
		printf("  %" PRIu64 " / 1 entries: %.2fx (p50, random names), %.2fx (p50, same name), %.2fx (mean)",
		       o.entries, ratio, ratio_same, res.look_many.mean / res.look_one.mean);
		if (o.max_ratio > 0)
			printf("; limit %.2fx: %s\n", o.max_ratio, ok ? "ok" : "EXCEEDED");
		else
			printf("\n");
		printf("  (%" PRIu64 " lookups each; population on %" PRIu64 " dma-bufs, pinned in %.1f s)\n",
		       o.lookups, res.buffers, res.populate_s);
	}
	status = ok ? 0 : EXIT_FAIL;
	if (!ok)
		fprintf(stderr, "%s: lookup with %" PRIu64 " entries is %.2fx slower than with one (limit %.2fx)\n",
			prog, o.entries, ratio, o.max_ratio);
out:
	/* Closing drops every reference; NO_LINGER entries go with them. */
	mcx_registry_close(reg);
	restore_caps(caps, 4);
	return status;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} subcommands[] = {
	{ "registry", cmd_registry, "pin (cold vs hit) and lookup (1 vs many entries) latency" },
	{ "xfer", cmd_xfer, "RDMA read/write bandwidth, op rate, latency (--mode target|initiator)" },
	{ "reg", bench_reg_main, "RDMA registration: cold 1 thread vs pool, cache hit" },
	{ "startup", bench_startup_main,
	  "process start to ready: cold named registration vs warm opens" },
	{ "handshake", cmd_handshake,
	  "peer open+warm-up+close, idle vs under attack by unauthenticated connections" },
	{ "peers", cmd_peers, "one engine, many peers: threads, RSS, write bandwidth all vs one" },
	{ "first", cmd_first, "first-request latency to a new peer: cold vs after mcx_peer_warmup" },
};

#define NR_SUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: %s SUBCOMMAND [OPTIONS]   (%s SUBCOMMAND --help for its options)\n\n"
		"subcommands:\n", prog, prog);
	for (size_t i = 0; i < NR_SUB; i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].help);
	fprintf(f, "\nexit status: 0 done, 1 failed (or over a limit), 2 bad usage\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	/* The transfer benchmark is the default: mcxfer-bench --mode ... */
	if (!strcmp(argv[1], "--mode"))
		return cmd_xfer(argc, argv);
	for (size_t i = 0; i < NR_SUB; i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown subcommand '%s'\n", prog, argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
