// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mcxfer-bench xfer: RDMA read/write throughput, operation rate and latency
 * between two hosts through libmcxfer.
 *
 *   host B:  mcxfer-bench xfer --mode target --listen 0.0.0.0:7000
 *   host A:  mcxfer-bench xfer --mode initiator --peer B:7000 --op write \
 *                --block-size 64K --batch 16 --duration 10
 *
 * (`mcxfer-bench --mode ...` is the same as `mcxfer-bench xfer --mode ...`.)
 *
 * How the initiator finds the target's memory.  libmcxfer addresses remote
 * memory by the peer's virtual addresses, and its API has no call that
 * lists a peer's registrations, so the target maps its buffer at an address
 * both sides know (--buffer-addr on the target, --remote-addr on the
 * initiator, the same default).  The first page of that mapping is a
 * header the initiator reads with an RDMA read before anything else: a
 * magic, the size of the data area behind it and a "done" word.  At the end
 * the initiator writes the done word (unless --keep-target), and the
 * target, which polls it, exits.  The data path thus proves itself before
 * the first timed byte, and no side channel is needed.
 *
 * Measurements.  Each initiator thread owns one batch of --batch requests
 * of --block-size bytes (the queue depth) and its own slice of the local
 * and remote buffers, and submits the batch again as soon as it completes.
 * Per-batch latency is submit to the last completion.  Per-operation
 * latency (submit to each request's completion) needs the completions as
 * they happen: the thread polls the batch (mcx_batch_wait(b, 0), which is
 * also a progress pass) instead of blocking; --op-latency off blocks in
 * mcx_batch_wait() and reports per-batch latency only.  Percentiles come
 * from a log-linear histogram (1/64 relative resolution), so a long run
 * needs no sample storage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mcxfer.h"
#include "bench_xfer.h"
#include "common/bench_target.h"
#include "common/clock.h"
#include "common/exit_status.h"
#include "common/parse.h"
#include "common/single_xfer.h"
#include "common/transport_arg.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* Where the target maps its buffer unless told otherwise ("MC" in ASCII). */
#define DEFAULT_BUFFER_ADDR	0x4d4300000000ULL
#define MAX_THREADS		64
#define MAX_BATCH		16384

static const char *prog = "mcxfer-bench xfer";

/* ---- time and histograms ---- */

#define H_SUB_BITS	6
#define H_SUB		(1U << H_SUB_BITS)
#define H_BUCKETS	((64 - H_SUB_BITS + 1) * H_SUB)

/* Latencies in ns: exact below 64, then 64 buckets per power of two. */
struct hist {
	uint64_t c[H_BUCKETS];
	uint64_t n, min, max;
	double sum;
};

static unsigned int h_index(uint64_t v)
{
	unsigned int e;

	if (v < H_SUB)
		return (unsigned int)v;
	e = 63U - (unsigned int)__builtin_clzll(v);
	return (e - H_SUB_BITS + 1) * H_SUB + (unsigned int)((v >> (e - H_SUB_BITS)) & (H_SUB - 1));
}

/* The middle of bucket i. */
static double h_value(unsigned int i)
{
	unsigned int e, sub;
	uint64_t lo, width;

	if (i < H_SUB)
		return i;
	e = i / H_SUB + H_SUB_BITS - 1;
	sub = i % H_SUB;
	lo = ((uint64_t)H_SUB + sub) << (e - H_SUB_BITS);
	width = 1ULL << (e - H_SUB_BITS);
	return (double)lo + (double)(width - 1) / 2.0;
}

static void h_add(struct hist *h, uint64_t v)
{
	h->c[h_index(v)]++;
	if (!h->n || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->n++;
	h->sum += (double)v;
}

static void h_merge(struct hist *into, const struct hist *h)
{
	if (!h->n)
		return;
	for (unsigned int i = 0; i < H_BUCKETS; i++)
		into->c[i] += h->c[i];
	if (!into->n || h->min < into->min)
		into->min = h->min;
	if (h->max > into->max)
		into->max = h->max;
	into->n += h->n;
	into->sum += h->sum;
}

/* Nearest-rank percentile p (0..1), in ns; exact min/max at the ends. */
static double h_pct(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;
	double v;

	if (!h->n)
		return 0;
	rank = (uint64_t)(p * (double)h->n + 0.999999);
	if (rank < 1)
		rank = 1;
	for (unsigned int i = 0; i < H_BUCKETS; i++) {
		seen += h->c[i];
		if (seen >= rank) {
			v = h_value(i);
			if (v < (double)h->min)
				v = (double)h->min;
			if (v > (double)h->max)
				v = (double)h->max;
			return v;
		}
	}
	return (double)h->max;
}

/* ---- report units ---- */

static const struct unit {
	const char *name;
	double bytes_per_unit;	/* bytes per second in one unit */
} units[] = {
	{ "B/s", 1 }, { "KB/s", 1e3 }, { "MB/s", 1e6 }, { "GB/s", 1e9 },
	{ "KiB/s", 1024.0 }, { "MiB/s", 1048576.0 }, { "GiB/s", 1073741824.0 },
	{ "Kb/s", 1e3 / 8 }, { "Mb/s", 1e6 / 8 }, { "Gb/s", 1e9 / 8 },
};

#define NR_UNITS (sizeof(units) / sizeof(units[0]))

static const struct unit *unit_find(const char *s)
{
	for (size_t i = 0; i < NR_UNITS; i++)
		if (!strcmp(units[i].name, s))
			return &units[i];
	return NULL;
}

static void units_list(FILE *f)
{
	for (size_t i = 0; i < NR_UNITS; i++)
		fprintf(f, "%s%s", i ? ", " : "", units[i].name);
}

/* ---- options ---- */

struct xfer_opts {
	int mode;			/* 0 none, 'T' target, 'I' initiator */
	const char *listen;
	const char *peer;
	const char *devices;
	struct transport_arg ta;	/* --transport, --provider */
	enum mcx_op op;
	uint64_t block_size;
	uint64_t batch;
	uint64_t threads;
	double duration;
	uint64_t buffer_size;
	uint64_t addr;			/* --buffer-addr / --remote-addr */
	const struct unit *unit;
	int json;
	int op_latency;
	int refill_batch;		/* 1: wait for the whole batch (--refill batch) */
	int keep_target;
	uint64_t warmup;		/* untimed rounds per thread */
	double max_wait;		/* target: 0 = until done or a signal */
	/* Which options were given, to refuse those of the other mode. */
	const char *initiator_only;
	const char *target_only;
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mcxfer-bench xfer --mode target --listen HOST:PORT [OPTIONS]\n"
		"       mcxfer-bench xfer --mode initiator --peer HOST:PORT [OPTIONS]\n"
		"\n"
		"RDMA read/write bandwidth, operation rate and latency through libmcxfer.\n"
		"The target registers a buffer and waits until the initiator says it is\n"
		"done (or a signal, or --max-wait); the initiator registers its own,\n"
		"connects, warms up and runs for --duration seconds, printing a line each\n"
		"second and a summary at the end.  MCX_* environment variables configure\n"
		"the engine as usual.\n"
		"\n"
		"both modes:\n"
		"  --devices LIST         RDMA devices (\"rxe0,rxe1\", default all)\n"
		TRANSPORT_ARG_HELP
		"  --buffer-size SIZE     data buffer, K/M/G/T suffixes (default 64M);\n"
		"                         the initiator's must fit in the target's\n"
		"  --json                 one JSON object on stdout (progress on stderr)\n"
		"target:\n"
		"  --listen HOST:PORT     handshake listener (port 0: any; printed)\n"
		"  --buffer-addr ADDR     where the buffer is mapped (default 0x%llx)\n"
		"  --max-wait SEC         give up after SEC seconds (default 0: never)\n"
		"initiator:\n"
		"  --peer HOST:PORT       the target's listener\n"
		"  --remote-addr ADDR     the target's --buffer-addr (default 0x%llx)\n"
		"  --op read|write        (default write)\n"
		"  --block-size SIZE      bytes per request, 1..1G (default 64K)\n"
		"  --batch N              requests per batch = queue depth per thread,\n"
		"                         1..%d (default 16)\n"
		"  --threads N            threads, each with its own batch, 1..%d (default 1)\n"
		"  --duration SEC         timed run, 0.1..86400 (default 10)\n"
		"  --warmup N             untimed batches per thread first, 0..1000000\n"
		"                         (default 2)\n"
		"  --report-unit UNIT     throughput unit (default MB/s): ",
		DEFAULT_BUFFER_ADDR, DEFAULT_BUFFER_ADDR, MAX_BATCH, MAX_THREADS);
	units_list(f);
	fprintf(f, "\n"
		"  --op-latency on|off    per-request latency by polling (default on)\n"
		"  --refill request|batch keep --batch requests in flight, refilling each\n"
		"                         as it completes (default), or wait for the\n"
		"                         whole batch before the next\n"
		"  --keep-target          do not tell the target to exit at the end\n"
		"\n"
		"exit status: 0 done, 1 failed, 2 bad usage\n");
	return f == stdout ? 0 : EXIT_USAGE;
}

/* Returns 0 when parsed, or the exit status for main. */
static int parse_opts(int argc, char **argv, struct xfer_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val;
		int err;

		if (!strcmp(opt, "--help") || !strcmp(opt, "-h"))
			return usage(stdout) ? EXIT_USAGE : -1;
		if (!strcmp(opt, "--json")) {
			o->json = 1;
			continue;
		}
		if (!strcmp(opt, "--keep-target")) {
			o->keep_target = 1;
			o->initiator_only = opt;
			continue;
		}
		if (strcmp(opt, "--mode") && strcmp(opt, "--listen") && strcmp(opt, "--peer") &&
		    strcmp(opt, "--devices") && !transport_arg_is(opt) && strcmp(opt, "--op") &&
		    strcmp(opt, "--block-size") && strcmp(opt, "--batch") &&
		    strcmp(opt, "--threads") && strcmp(opt, "--duration") &&
		    strcmp(opt, "--buffer-size") && strcmp(opt, "--report-unit") &&
		    strcmp(opt, "--buffer-addr") && strcmp(opt, "--remote-addr") &&
		    strcmp(opt, "--op-latency") && strcmp(opt, "--warmup") &&
		    strcmp(opt, "--max-wait") && strcmp(opt, "--refill")) {
			fprintf(stderr, "%s: unknown option '%s' (--help lists them)\n", prog, opt);
			return EXIT_USAGE;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", prog, opt);
			return EXIT_USAGE;
		}
		val = argv[++i];
		if (transport_arg_is(opt)) {
			err = transport_arg_parse(prog, opt, val, &o->ta);
			if (err)
				return err;
		} else if (!strcmp(opt, "--mode")) {
			if (!strcmp(val, "target")) {
				o->mode = 'T';
			} else if (!strcmp(val, "initiator")) {
				o->mode = 'I';
			} else {
				fprintf(stderr, "%s: --mode '%s': expected target or initiator\n",
					prog, val);
				return EXIT_USAGE;
			}
		} else if (!strcmp(opt, "--listen")) {
			o->listen = val;
			o->target_only = opt;
		} else if (!strcmp(opt, "--peer")) {
			o->peer = val;
			o->initiator_only = opt;
		} else if (!strcmp(opt, "--devices")) {
			if (!*val) {
				fprintf(stderr, "%s: --devices is empty; give names or 'all'\n", prog);
				return EXIT_USAGE;
			}
			o->devices = val;
		} else if (!strcmp(opt, "--op")) {
			if (!strcmp(val, "read")) {
				o->op = MCX_OP_READ;
			} else if (!strcmp(val, "write")) {
				o->op = MCX_OP_WRITE;
			} else {
				fprintf(stderr, "%s: --op '%s': expected read or write\n", prog, val);
				return EXIT_USAGE;
			}
			o->initiator_only = opt;
		} else if (!strcmp(opt, "--block-size")) {
			err = parse_size_arg(val, 1, 1ULL << 30, &o->block_size);
			if (err)
				return bad_value(prog, opt, val, err, "1..1G bytes (K/M/G suffixes)");
			o->initiator_only = opt;
		} else if (!strcmp(opt, "--batch")) {
			err = parse_u64_arg(val, 1, MAX_BATCH, &o->batch);
			if (err)
				return bad_value(prog, opt, val, err, "1..16384");
			o->initiator_only = opt;
		} else if (!strcmp(opt, "--threads")) {
			err = parse_u64_arg(val, 1, MAX_THREADS, &o->threads);
			if (err)
				return bad_value(prog, opt, val, err, "1..64");
			o->initiator_only = opt;
		} else if (!strcmp(opt, "--duration")) {
			err = parse_double_arg(val, 0.1, 86400, &o->duration);
			if (err)
				return bad_value(prog, opt, val, err, "0.1..86400 seconds");
			o->initiator_only = opt;
		} else if (!strcmp(opt, "--warmup")) {
			err = parse_u64_arg(val, 0, 1000000, &o->warmup);
			if (err)
				return bad_value(prog, opt, val, err, "0..1000000 batches");
			o->initiator_only = opt;
		} else if (!strcmp(opt, "--buffer-size")) {
			err = parse_size_arg(val, 4096, 1ULL << 40, &o->buffer_size);
			if (err)
				return bad_value(prog, opt, val, err, "4K..1T bytes (K/M/G/T suffixes)");
		} else if (!strcmp(opt, "--buffer-addr") || !strcmp(opt, "--remote-addr")) {
			err = parse_u64_arg(val, 1ULL << 32, (1ULL << 47) - 1, &o->addr);
			if (!err && o->addr % 4096)
				err = -EINVAL;
			if (err)
				return bad_value(prog, opt, val, err,
							 "a page-aligned user address 0x100000000..0x7fffffffffff");
			if (!strcmp(opt, "--buffer-addr"))
				o->target_only = opt;
			else
				o->initiator_only = opt;
		} else if (!strcmp(opt, "--report-unit")) {
			o->unit = unit_find(val);
			if (!o->unit) {
				fprintf(stderr, "%s: --report-unit '%s': expected one of ", prog, val);
				units_list(stderr);
				fprintf(stderr, "\n");
				return EXIT_USAGE;
			}
			o->initiator_only = opt;
		} else if (!strcmp(opt, "--refill")) {
			if (!strcmp(val, "request")) {
				o->refill_batch = 0;
			} else if (!strcmp(val, "batch")) {
				o->refill_batch = 1;
			} else {
				fprintf(stderr, "%s: --refill '%s': expected request or batch\n", prog,
					val);
				return EXIT_USAGE;
			}
			o->initiator_only = opt;
		} else if (!strcmp(opt, "--op-latency")) {
			if (!strcmp(val, "on")) {
				o->op_latency = 1;
			} else if (!strcmp(val, "off")) {
				o->op_latency = 0;
			} else {
				fprintf(stderr, "%s: --op-latency '%s': expected on or off\n", prog, val);
				return EXIT_USAGE;
			}
			o->initiator_only = opt;
		} else {
			err = parse_double_arg(val, 0, 86400, &o->max_wait);
			if (err)
				return bad_value(prog, opt, val, err, "0..86400 seconds (0: no limit)");
			o->target_only = opt;
		}
	}
	if (!o->mode) {
		fprintf(stderr, "%s: --mode target|initiator is required\n", prog);
		return EXIT_USAGE;
	}
	if (transport_arg_check(prog, &o->ta))
		return EXIT_USAGE;
	if (o->mode == 'T') {
		if (o->initiator_only) {
			fprintf(stderr, "%s: %s applies to --mode initiator only\n", prog,
				o->initiator_only);
			return EXIT_USAGE;
		}
		if (!o->listen) {
			fprintf(stderr, "%s: --mode target needs --listen HOST:PORT\n", prog);
			return EXIT_USAGE;
		}
		return 0;
	}
	if (o->target_only) {
		fprintf(stderr, "%s: %s applies to --mode target only\n", prog, o->target_only);
		return EXIT_USAGE;
	}
	if (!o->peer) {
		fprintf(stderr, "%s: --mode initiator needs --peer HOST:PORT\n", prog);
		return EXIT_USAGE;
	}
	if (o->block_size * o->threads > o->buffer_size) {
		fprintf(stderr, "%s: --buffer-size %" PRIu64 " is too small for %" PRIu64
			" thread(s) with --block-size %" PRIu64 "; it needs at least %" PRIu64 "\n",
			prog, o->buffer_size, o->threads, o->block_size, o->block_size * o->threads);
		return EXIT_USAGE;
	}
	return 0;
}

/* ---- common set-up ---- */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int engine_open(const struct xfer_opts *o, struct mcx_engine **eng)
{
	struct mcx_engine_opts eo;
	int ret;

	mcx_engine_opts_init(&eo);
	eo.devices = o->devices;
	transport_arg_apply(&o->ta, &eo);
	eo.listen = o->mode == 'T' ? o->listen : NULL;
	ret = mcx_engine_create(&eo, eng);
	if (ret)
		fprintf(stderr, "%s: cannot create the engine: %s\n", prog, mcx_strerror(ret));
	return ret;
}

static void *map_buffer(uint64_t addr, uint64_t len)
{
	void *p;

	if (addr) {
		p = mmap((void *)(uintptr_t)addr, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != MAP_FAILED && (uintptr_t)p != addr) {
			/* A kernel without MAP_FIXED_NOREPLACE treats it as a hint. */
			munmap(p, len);
			errno = EEXIST;
			p = MAP_FAILED;
		}
	} else {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (p == MAP_FAILED) {
		fprintf(stderr, "%s: cannot map %" PRIu64 " bytes%s: %s%s\n", prog, len,
			addr ? " at the fixed address" : "", strerror(errno),
			errno == EEXIST ? " (the address is taken: pick another --buffer-addr)" : "");
		return NULL;
	}
	/* Touch every page now so the first timed transfers do not fault. */
	memset(p, 0, len);
	return p;
}

/* ---- target ---- */

static int run_target(const struct xfer_opts *o)
{
	uint64_t len = HDR_SIZE + o->buffer_size;
	struct mcx_engine *eng = NULL;
	struct mcx_mem *mem = NULL;
	volatile struct bench_hdr *hdr;
	char addr[280] = "";
	const char *ended = "done";
	uint64_t t0, limit;
	void *buf;
	int ret, status = EXIT_FAIL;

	catch_signals();
	if (engine_open(o, &eng))
		return EXIT_FAIL;
	ret = mcx_engine_listen_addr(eng, addr, sizeof(addr));
	if (ret) {
		fprintf(stderr, "%s: no listener address: %s\n", prog, mcx_strerror(ret));
		goto out;
	}
	buf = map_buffer(o->addr, len);
	if (!buf)
		goto out;
	hdr = buf;
	memcpy((void *)hdr->magic, HDR_MAGIC, sizeof(hdr->magic));
	hdr->version = HDR_VERSION;
	hdr->hdr_size = (uint32_t)HDR_SIZE;
	hdr->data_len = o->buffer_size;
	hdr->done = 0;
	ret = mcx_mem_register(eng, buf, len, MCX_MEM_EXPORT, &mem);
	if (ret) {
		fprintf(stderr, "%s: cannot register %" PRIu64 " bytes: %s\n", prog, len,
			mcx_strerror(ret));
		munmap(buf, len);
		goto out;
	}
	/* Scripts wait for this line: it says the target can be used. */
	fprintf(o->json ? stderr : stdout,
		"mcxfer-bench target: listening on %s, buffer 0x%" PRIx64 " (%" PRIu64
		" bytes) on %u NIC(s)\n", addr, (uint64_t)(uintptr_t)buf, o->buffer_size,
		mcx_engine_nics(eng));
	fflush(NULL);

	t0 = now_ns();
	limit = (uint64_t)(o->max_wait * 1e9);
	for (;;) {
		if (atomic_load_explicit((_Atomic uint32_t *)&hdr->done, memory_order_acquire) ==
		    DONE_MAGIC)
			break;
		if (got_signal) {
			ended = "signal";
			break;
		}
		if (limit && now_ns() - t0 >= limit) {
			ended = "max-wait";
			break;
		}
		usleep(20000);
	}
	if (o->json)
		printf("{\"bench\": \"xfer\", \"mode\": \"target\", \"listen\": \"%s\", "
		       "\"buffer_addr\": \"0x%" PRIx64 "\", \"buffer_size\": %" PRIu64
		       ", \"nics\": %u, \"ended_by\": \"%s\", \"waited_s\": %.3f}\n", addr,
		       (uint64_t)(uintptr_t)buf, o->buffer_size, mcx_engine_nics(eng), ended,
		       (double)(now_ns() - t0) / 1e9);
	else
		printf("mcxfer-bench target: ended by %s after %.1f s\n", ended,
		       (double)(now_ns() - t0) / 1e9);
	/* A max-wait expiry means the initiator never finished: a failure. */
	status = strcmp(ended, "max-wait") ? 0 : EXIT_FAIL;
	mcx_mem_deregister(mem);
	/* The engine goes first: no peer may write into an unmapped buffer. */
	mcx_engine_destroy(eng);
	munmap(buf, len);
	return status;
out:
	mcx_engine_destroy(eng);
	return status;
}

/* ---- initiator ---- */

struct run_state {
	const struct xfer_opts *o;
	struct mcx_engine *eng;
	struct mcx_peer *peer;
	atomic_int ready;		/* threads done with warm-up */
	atomic_int go;			/* 1: timed run, 2: stop */
	atomic_int failed;
	atomic_uint_fast64_t bytes, ops, batches;
	pthread_mutex_t err_lock;
	int err;			/* first failure */
	char err_msg[256];
};

struct worker {
	struct run_state *rs;
	pthread_t tid;
	char *local;
	uint64_t remote;
	uint64_t slots;			/* blocks in this thread's region */
	uint64_t next;
	struct hist batch_h, op_h;
};

static void fail(struct run_state *rs, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct run_state *rs, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&rs->err_lock);
	if (!rs->err) {
		rs->err = err ? err : -EIO;
		va_start(ap, fmt);
		vsnprintf(rs->err_msg, sizeof(rs->err_msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&rs->err_lock);
	atomic_store(&rs->failed, 1);
}

/* One round: fill the batch, submit, wait; 0 or -errno (reported). */
static int round_once(struct worker *w, struct mcx_batch *b, struct mcx_status *st,
		      uint64_t *t_done, bool timed)
{
	struct run_state *rs = w->rs;
	const struct xfer_opts *o = rs->o;
	size_t n = (size_t)o->batch, left;
	uint64_t t0;
	int ret;

	for (size_t i = 0; i < n; i++) {
		uint64_t off = w->next * o->block_size;

		w->next = (w->next + 1) % w->slots;
		ret = mcx_batch_add(b, o->op, rs->peer, w->local + off, w->remote + off,
				    o->block_size, i);
		if (ret) {
			fail(rs, ret, "adding request %zu: %s", i, mcx_strerror(ret));
			return ret;
		}
	}
	t0 = now_ns();
	ret = mcx_batch_submit(b);
	if (ret) {
		fail(rs, ret, "submit: %s", mcx_strerror(ret));
		return ret;
	}
	if (o->op_latency) {
		memset(t_done, 0, n * sizeof(*t_done));
		left = n;
		while (left) {
			uint64_t t;
			int k;

			ret = mcx_batch_wait(b, 0);
			k = mcx_batch_status(b, st, n);
			t = now_ns();
			for (int i = 0; i < k; i++) {
				if (t_done[i] || st[i].status == -EINPROGRESS)
					continue;
				t_done[i] = t;
				left--;
				if (timed && !st[i].status)
					h_add(&w->op_h, t - t0);
			}
			if (left)
				sched_yield();
		}
		ret = mcx_batch_wait(b, 0);
	} else {
		ret = mcx_batch_wait(b, -1);
	}
	if (timed)
		h_add(&w->batch_h, now_ns() - t0);
	if (ret) {
		int k = mcx_batch_status(b, st, n);

		for (int i = 0; i < k; i++)
			if (st[i].status) {
				fail(rs, st[i].status, "request %d of %zu (%s %" PRIu64 " bytes): %s", i,
				     n, o->op == MCX_OP_READ ? "read" : "write", st[i].len,
				     mcx_strerror(st[i].status));
				return st[i].status;
			}
		fail(rs, ret, "batch wait: %s", mcx_strerror(ret));
		return ret;
	}
	return 0;
}

/*
 * Refill per request: --batch one-request batches in flight; whenever one
 * completes (mcx_batch_wait_any), its time is taken and it goes out again
 * at once, so the queue depth never drains the way it does while a thread
 * waits for a whole batch.  This is what a serving loop does with the
 * library, and how perftest keeps its queue full.
 */
static void add_next(struct worker *w, struct mcx_batch *b, uint64_t *t0, int *err)
{
	struct run_state *rs = w->rs;
	const struct xfer_opts *o = rs->o;
	uint64_t off = w->next * o->block_size;
	int ret;

	w->next = (w->next + 1) % w->slots;
	ret = mcx_batch_add(b, o->op, rs->peer, w->local + off, w->remote + off,
			    o->block_size, 0);
	if (!ret) {
		*t0 = now_ns();
		ret = mcx_batch_submit(b);
	}
	if (ret) {
		fail(rs, ret, "refilling: %s", mcx_strerror(ret));
		*err = ret;
	}
}

static void pipeline_main(struct worker *w)
{
	struct run_state *rs = w->rs;
	const struct xfer_opts *o = rs->o;
	size_t n = (size_t)o->batch;
	struct mcx_batch **bs = calloc(n, sizeof(*bs));
	uint64_t *t0 = calloc(n, sizeof(*t0));
	uint64_t warm = o->warmup * n, done = 0;
	bool counted = false;
	int err = 0;

	if (!bs || !t0) {
		fail(rs, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n && !err; i++) {
		err = mcx_batch_create(rs->eng, 1, &bs[i]);
		if (err)
			fail(rs, err, "batch_create: %s", mcx_strerror(err));
	}
	for (size_t i = 0; i < n && !err; i++)
		add_next(w, bs[i], &t0[i], &err);
	while (!err && !atomic_load(&rs->failed)) {
		bool timed = counted && atomic_load(&rs->go) == 1;
		int i = mcx_batch_wait_any(bs, n, 1000);
		int ret;

		if (i == -ETIMEDOUT)
			continue;
		if (i < 0) {
			fail(rs, i, "wait_any: %s", mcx_strerror(i));
			break;
		}
		ret = mcx_batch_wait(bs[i], 0);
		if (ret) {
			fail(rs, ret, "a %s of %" PRIu64 " bytes: %s",
			     o->op == MCX_OP_READ ? "read" : "write", o->block_size,
			     mcx_strerror(ret));
			break;
		}
		if (timed) {
			uint64_t lat = now_ns() - t0[i];

			h_add(&w->op_h, lat);
			h_add(&w->batch_h, lat);
			atomic_fetch_add(&rs->bytes, o->block_size);
			atomic_fetch_add(&rs->ops, 1);
			atomic_fetch_add(&rs->batches, 1);
		}
		if (!counted && ++done >= warm) {
			atomic_fetch_add(&rs->ready, 1);
			counted = true;
			while (!atomic_load(&rs->go) && !atomic_load(&rs->failed))
				usleep(1000);
		}
		if (counted && atomic_load(&rs->go) != 1)
			break;
		add_next(w, bs[i], &t0[i], &err);
	}
out:
	if (!counted)
		atomic_fetch_add(&rs->ready, 1);	/* never leave main waiting */
	for (size_t i = 0; bs && i < n; i++)
		mcx_batch_free(bs[i]);	/* waits for what is still in flight */
	free(bs);
	free(t0);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run_state *rs = w->rs;
	const struct xfer_opts *o = rs->o;
	struct mcx_status *st = calloc((size_t)o->batch, sizeof(*st));
	uint64_t *t_done = calloc((size_t)o->batch, sizeof(*t_done));
	struct mcx_batch *b = NULL;
	bool counted = false;
	int ret;

	if (!o->refill_batch) {
		free(st);
		free(t_done);
		pipeline_main(w);
		return NULL;
	}
	if (!st || !t_done) {
		fail(rs, -ENOMEM, "out of memory");
		goto out;
	}
	ret = mcx_batch_create(rs->eng, (size_t)o->batch, &b);
	if (ret) {
		fail(rs, ret, "batch_create: %s", mcx_strerror(ret));
		goto out;
	}
	for (uint64_t i = 0; i < o->warmup && !atomic_load(&rs->failed); i++)
		if (round_once(w, b, st, t_done, false))
			goto out;
	atomic_fetch_add(&rs->ready, 1);
	counted = true;
	while (!atomic_load(&rs->go) && !atomic_load(&rs->failed))
		usleep(1000);
	while (atomic_load(&rs->go) == 1 && !atomic_load(&rs->failed)) {
		if (round_once(w, b, st, t_done, true))
			break;
		atomic_fetch_add(&rs->bytes, o->block_size * o->batch);
		atomic_fetch_add(&rs->ops, o->batch);
		atomic_fetch_add(&rs->batches, 1);
	}
out:
	if (!counted)
		atomic_fetch_add(&rs->ready, 1);	/* never leave main waiting */
	mcx_batch_free(b);
	free(st);
	free(t_done);
	return NULL;
}

static void print_lat_json(const char *key, const struct hist *h, int comma)
{
	printf("\"%s\": {\"n\": %" PRIu64 ", \"p50\": %.3f, \"p99\": %.3f, \"mean\": %.3f, "
	       "\"min\": %.3f, \"max\": %.3f}%s", key, h->n, h_pct(h, 0.5) / 1e3,
	       h_pct(h, 0.99) / 1e3, h->n ? h->sum / (double)h->n / 1e3 : 0,
	       (double)h->min / 1e3, (double)h->max / 1e3, comma ? ", " : "");
}

static void print_lat_row(const char *what, const struct hist *h)
{
	if (!h->n) {
		printf("  %-22s (not measured)\n", what);
		return;
	}
	printf("  %-22s p50 %10.1f  p99 %10.1f  mean %10.1f  max %10.1f us  (%" PRIu64 ")\n",
	       what, h_pct(h, 0.5) / 1e3, h_pct(h, 0.99) / 1e3, h->sum / (double)h->n / 1e3,
	       (double)h->max / 1e3, h->n);
}

static int run_initiator(const struct xfer_opts *o)
{
	struct run_state rs = { .o = o };
	struct worker *w = NULL;
	struct mcx_engine *eng = NULL;
	struct mcx_mem *mem = NULL;
	struct mcx_peer *peer = NULL;
	struct mcx_pair_stats pairs[64];
	struct hist *batch_h = NULL, *op_h = NULL;
	struct bench_hdr *hdr;
	uint64_t len = HDR_SIZE + o->buffer_size, region, t_start, t_end, last_bytes = 0;
	uint64_t last_ops = 0, last_t;
	FILE *prog_out = o->json ? stderr : stdout;
	char *buf = NULL;
	int ret, npairs, status = EXIT_FAIL;
	bool connected = false;
	double secs;

	pthread_mutex_init(&rs.err_lock, NULL);
	catch_signals();
	if (engine_open(o, &eng))
		return EXIT_FAIL;
	rs.eng = eng;
	buf = map_buffer(0, len);
	if (!buf)
		goto out;
	/* A recognisable pattern, so a target dump shows what arrived. */
	for (uint64_t i = HDR_SIZE; i < len; i += 8)
		*(uint64_t *)(buf + i) = i ^ 0x6d63786665720000ULL;
	ret = mcx_mem_register(eng, buf, len, 0, &mem);
	if (ret) {
		fprintf(stderr, "%s: cannot register %" PRIu64 " bytes: %s\n", prog, len,
			mcx_strerror(ret));
		goto out;
	}
	ret = mcx_peer_open(eng, o->peer, &peer);
	if (ret) {
		fprintf(stderr, "%s: peer '%s': %s\n", prog, o->peer, mcx_strerror(ret));
		goto out;
	}
	rs.peer = peer;
	ret = mcx_peer_warmup(peer);
	if (ret) {
		fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, o->peer, mcx_strerror(ret));
		goto out;
	}
	connected = true;
	hdr = (struct bench_hdr *)buf;
	memset(hdr, 0, sizeof(*hdr));
	ret = single_xfer(eng, peer, MCX_OP_READ, hdr, o->addr, sizeof(*hdr));
	if (ret) {
		fprintf(stderr, "%s: reading the target's header at 0x%" PRIx64 ": %s%s\n", prog,
			o->addr, mcx_strerror(ret),
			ret == -EFAULT ? " (is --remote-addr the target's --buffer-addr?)" : "");
		goto out;
	}
	if (!bench_hdr_ok(hdr)) {
		fprintf(stderr, "%s: 0x%" PRIx64 " on %s is not a mcxfer-bench target buffer (version %u)\n",
			prog, o->addr, o->peer, hdr->version);
		goto out;
	}
	if (hdr->data_len < o->buffer_size) {
		fprintf(stderr, "%s: the target's buffer is %" PRIu64 " bytes, smaller than --buffer-size %"
			PRIu64 "\n", prog, (uint64_t)hdr->data_len, o->buffer_size);
		goto out;
	}

	w = calloc((size_t)o->threads, sizeof(*w));
	batch_h = calloc(1, sizeof(*batch_h));
	op_h = calloc(1, sizeof(*op_h));
	if (!w || !batch_h || !op_h) {
		fprintf(stderr, "%s: out of memory\n", prog);
		goto out;
	}
	region = o->buffer_size / o->threads;
	for (uint64_t t = 0; t < o->threads; t++) {
		w[t].rs = &rs;
		w[t].local = buf + HDR_SIZE + t * region;
		w[t].remote = o->addr + HDR_SIZE + t * region;
		w[t].slots = region / o->block_size;
		ret = -pthread_create(&w[t].tid, NULL, worker_main, &w[t]);
		if (ret) {
			fprintf(stderr, "%s: cannot start thread: %s\n", prog, strerror(-ret));
			atomic_store(&rs.failed, 1);
			for (uint64_t k = 0; k < t; k++)
				pthread_join(w[k].tid, NULL);
			goto out;
		}
	}
	while (atomic_load(&rs.ready) < (int)o->threads)
		usleep(1000);
	t_start = now_ns();
	last_t = t_start;
	atomic_store(&rs.go, 1);
	if (!atomic_load(&rs.failed))
		fprintf(prog_out, "%s: %s of %" PRIu64 "-byte blocks, %" PRIu64 " per batch, %"
			PRIu64 " thread(s), %.1f s, %u local NIC(s)\n", prog,
			o->op == MCX_OP_READ ? "reads" : "writes", o->block_size, o->batch,
			o->threads, o->duration, mcx_engine_nics(eng));
	while (!atomic_load(&rs.failed) && !got_signal) {
		uint64_t now = now_ns(), until = t_start + (uint64_t)(o->duration * 1e9);
		uint64_t next = last_t + 1000000000ULL, bytes, ops;
		double dt;

		if (now >= until)
			break;
		if (next > until)
			next = until;
		if (next > now)
			usleep((useconds_t)((next - now) / 1000));
		now = now_ns();
		if (now < last_t + 999000000ULL)
			continue;
		bytes = atomic_load(&rs.bytes);
		ops = atomic_load(&rs.ops);
		dt = (double)(now - last_t) / 1e9;
		fprintf(prog_out, "[%6.1f s] %10.2f %s %10.0f ops/s\n",
			(double)(now - t_start) / 1e9,
			(double)(bytes - last_bytes) / dt / o->unit->bytes_per_unit, o->unit->name,
			(double)(ops - last_ops) / dt);
		fflush(prog_out);
		last_t = now;
		last_bytes = bytes;
		last_ops = ops;
	}
	atomic_store(&rs.go, 2);
	for (uint64_t t = 0; t < o->threads; t++)
		pthread_join(w[t].tid, NULL);
	t_end = now_ns();
	if (atomic_load(&rs.failed)) {
		fprintf(stderr, "%s: failed: %s\n", prog, rs.err_msg);
		goto out;
	}
	if (got_signal) {
		fprintf(stderr, "%s: interrupted\n", prog);
		goto out;
	}
	for (uint64_t t = 0; t < o->threads; t++) {
		h_merge(batch_h, &w[t].batch_h);
		h_merge(op_h, &w[t].op_h);
	}
	npairs = mcx_peer_stats(peer, pairs, sizeof(pairs) / sizeof(pairs[0]));
	if (npairs > (int)(sizeof(pairs) / sizeof(pairs[0])))
		npairs = (int)(sizeof(pairs) / sizeof(pairs[0]));

	secs = (double)(t_end - t_start) / 1e9;
	{
		uint64_t bytes = atomic_load(&rs.bytes), ops = atomic_load(&rs.ops);
		double bps = (double)bytes / secs;

		if (o->json) {
			printf("{\"bench\": \"xfer\", \"mode\": \"initiator\", \"peer\": \"%s\", "
			       "\"refill\": \"%s\", "
			       "\"op\": \"%s\", \"block_size\": %" PRIu64 ", \"batch\": %" PRIu64
			       ", \"threads\": %" PRIu64 ", \"buffer_size\": %" PRIu64
			       ", \"nics\": %u, \"seconds\": %.3f, \"bytes\": %" PRIu64
			       ", \"ops\": %" PRIu64 ", \"batches\": %" PRIu64 ", ",
			       o->peer, o->refill_batch ? "batch" : "request",
			       o->op == MCX_OP_READ ? "read" : "write", o->block_size,
			       o->batch, o->threads, o->buffer_size, mcx_engine_nics(eng), secs,
			       bytes, ops, (uint64_t)atomic_load(&rs.batches));
			printf("\"throughput\": %.3f, \"unit\": \"%s\", \"bytes_per_s\": %.1f, "
			       "\"MBps\": %.3f, \"ops_per_s\": %.1f, \"latency_us\": {",
			       bps / o->unit->bytes_per_unit, o->unit->name, bps, bps / 1e6,
			       (double)ops / secs);
			print_lat_json("batch", batch_h, 1);
			print_lat_json("op", op_h, 0);
			printf("}, \"pairs\": [");
			for (int i = 0; i < npairs; i++)
				printf("%s{\"local_dev\": \"%s\", \"local_port\": %u, \"remote_nic\": %u, "
				       "\"rail\": %d, \"up\": %d, \"bytes\": %" PRIu64 ", \"slices\": %"
				       PRIu64 ", \"retried\": %" PRIu64 "}", i ? ", " : "",
				       pairs[i].local_dev, pairs[i].local_port, pairs[i].remote_nic,
				       pairs[i].rail, pairs[i].up, pairs[i].bytes, pairs[i].slices,
				       pairs[i].retried);
			printf("]}\n");
		} else {
			printf("mcxfer-bench xfer: %s %" PRIu64 " B x %" PRIu64 " per batch x %" PRIu64
			       " thread(s) to %s, %.2f s\n", o->op == MCX_OP_READ ? "read" : "write",
			       o->block_size, o->batch, o->threads, o->peer, secs);
			printf("  throughput %.2f %s, %.0f ops/s, %" PRIu64 " bytes in %" PRIu64
			       " ops\n", bps / o->unit->bytes_per_unit, o->unit->name,
			       (double)ops / secs, bytes, ops);
			print_lat_row("latency per batch", batch_h);
			print_lat_row("latency per op", op_h);
			for (int i = 0; i < npairs; i++)
				printf("  pair %s:%u -> remote NIC %u%s: %s, %" PRIu64 " bytes, %" PRIu64
				       " slices, %" PRIu64 " retried\n", pairs[i].local_dev,
				       pairs[i].local_port, pairs[i].remote_nic,
				       pairs[i].rail ? " (rail)" : "", pairs[i].up ? "up" : "down",
				       pairs[i].bytes, pairs[i].slices, pairs[i].retried);
		}
	}
	status = 0;
out:
	if (connected && !o->keep_target) {
		/*
		 * The header page is ours to reuse: send the done word from it,
		 * after a failure too, so that a scripted target does not wait
		 * forever (that write may fail as well when the peer is gone).
		 */
		ret = bench_target_stop(eng, peer, buf, o->addr);
		if (ret && status == 0) {
			fprintf(stderr, "%s: telling the target to stop: %s\n", prog, mcx_strerror(ret));
			status = EXIT_FAIL;
		}
	}
	free(w);
	free(batch_h);
	free(op_h);
	if (peer)
		mcx_peer_close(peer);
	if (mem)
		mcx_mem_deregister(mem);
	mcx_engine_destroy(eng);
	if (buf)
		munmap(buf, len);
	pthread_mutex_destroy(&rs.err_lock);
	return status;
}

int cmd_xfer(int argc, char **argv)
{
	struct xfer_opts o = {
		.op = MCX_OP_WRITE, .block_size = 64 << 10, .batch = 16, .threads = 1,
		.duration = 10, .buffer_size = 64 << 20, .addr = DEFAULT_BUFFER_ADDR,
		.op_latency = 1, .warmup = 2,
	};
	int ret;

	o.unit = unit_find("MB/s");
	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? 0 : ret;
	return o.mode == 'T' ? run_target(&o) : run_initiator(&o);
}
