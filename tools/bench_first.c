// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mcxfer-bench first: how long the first request to a new peer takes, cold
 * (right after mcx_peer_open(), so it pays for whatever the transport sets
 * up lazily: QPs, address-vector entries, connections, the peer's
 * registrations) against after mcx_peer_warmup() (which is meant to pay
 * for all of that up front).
 *
 *   host B:  mcxfer-bench xfer --mode target --listen 0.0.0.0:7000
 *   host A:  mcxfer-bench first --peer B:7000 --rounds 5
 *
 * Each round creates a fresh engine and registers a page (untimed), so
 * that nothing of an earlier round is reused, then times mcx_peer_open(),
 * mcx_peer_warmup() (warm rounds only) and one 4 KiB RDMA read of the
 * target's header page (struct bench_hdr, checked), then closes the peer
 * and destroys the engine.  Cold and warm rounds alternate, cold first, so
 * that a drift of the host's load hits both alike.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mcxfer.h"
#include "bench_first.h"
#include "common/bench_target.h"
#include "common/clock.h"
#include "common/exit_status.h"
#include "common/parse.h"
#include "common/single_xfer.h"
#include "common/stats.h"
#include "common/transport_arg.h"

/* Where `xfer --mode target` maps its buffer unless told otherwise. */
#define DEFAULT_REMOTE_ADDR	0x4d4300000000ULL
#define MAX_ROUNDS		1000

static const char *prog = "mcxfer-bench first";

struct first_opts {
	const char *peer;
	const char *devices;
	struct transport_arg ta;
	uint64_t rounds;		/* of each kind */
	uint64_t addr;
	int stop_target;
	int json;
};

/* Milliseconds of each step of one round. */
struct first_round {
	double open_ms, warmup_ms, first_ms;
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mcxfer-bench first --peer HOST:PORT [OPTIONS]\n"
		"\n"
		"First-request latency to a new peer: one 4 KiB read of an `xfer --mode\n"
		"target`'s header right after mcx_peer_open() (cold) against one after\n"
		"mcx_peer_warmup() (warm).  Each round uses a fresh engine; cold and warm\n"
		"rounds alternate.  Prints the medians and the ratio cold / warm.\n"
		"\n"
		"  --peer HOST:PORT       the target's listener\n"
		"  --rounds N             rounds of each kind, 1..%d (default 5)\n"
		"  --remote-addr ADDR     the target's --buffer-addr (default 0x%llx)\n"
		"  --devices LIST         RDMA devices (default all)\n"
		TRANSPORT_ARG_HELP
		"  --stop-target          tell the target to exit at the end\n"
		"  --json                 one JSON object on stdout (progress on stderr)\n"
		"\n"
		"exit status: 0 done, 1 failed, 2 bad usage\n", MAX_ROUNDS, DEFAULT_REMOTE_ADDR);
	return f == stdout ? 0 : EXIT_USAGE;
}

/* Returns 0 when parsed, -1 after --help, or the exit status. */
static int parse_opts(int argc, char **argv, struct first_opts *o)
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
		if (!strcmp(opt, "--stop-target")) {
			o->stop_target = 1;
			continue;
		}
		if (strcmp(opt, "--peer") && strcmp(opt, "--rounds") &&
		    strcmp(opt, "--remote-addr") && strcmp(opt, "--devices") &&
		    !transport_arg_is(opt)) {
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
		} else if (!strcmp(opt, "--peer")) {
			err = peer_arg(prog, opt, val, &o->peer);
			if (err)
				return err;
		} else if (!strcmp(opt, "--rounds")) {
			err = parse_u64_arg(val, 1, MAX_ROUNDS, &o->rounds);
			if (err)
				return bad_value(prog, opt, val, err, "1..1000");
		} else if (!strcmp(opt, "--remote-addr")) {
			err = parse_u64_arg(val, 1ULL << 32, (1ULL << 47) - 1, &o->addr);
			if (!err && o->addr % 4096)
				err = -EINVAL;
			if (err)
				return bad_value(prog, opt, val, err,
						 "a page-aligned user address 0x100000000..0x7fffffffffff");
		} else {
			if (!*val) {
				fprintf(stderr, "%s: --devices is empty; give names or 'all'\n", prog);
				return EXIT_USAGE;
			}
			o->devices = val;
		}
	}
	if (transport_arg_check(prog, &o->ta))
		return EXIT_USAGE;
	if (!o->peer) {
		fprintf(stderr, "%s: --peer HOST:PORT is required\n", prog);
		return EXIT_USAGE;
	}
	return 0;
}

static double ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

/*
 * One round on a fresh engine; warm: mcx_peer_warmup() before the first
 * request.  stop: write the target's done word at the end.
 */
static int one_round(const struct first_opts *o, int warm, int stop, struct first_round *r)
{
	struct mcx_engine_opts eo;
	struct mcx_engine *eng = NULL;
	struct mcx_peer *peer = NULL;
	struct mcx_mem *mem = NULL;
	struct bench_hdr *hdr;
	const char *step = "mcx_engine_create";
	uint64_t t0;
	void *page;
	int ret;

	memset(r, 0, sizeof(*r));
	page = mmap(NULL, HDR_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return -ENOMEM;
	mcx_engine_opts_init(&eo);
	eo.devices = o->devices;
	transport_arg_apply(&o->ta, &eo);
	ret = mcx_engine_create(&eo, &eng);
	if (!ret) {
		step = "mcx_mem_register";
		ret = mcx_mem_register(eng, page, HDR_SIZE, 0, &mem);
	}
	if (!ret) {
		step = "mcx_peer_open";
		t0 = now_ns();
		ret = mcx_peer_open(eng, o->peer, &peer);
		r->open_ms = ms_since(t0);
	}
	if (!ret && warm) {
		step = "mcx_peer_warmup";
		t0 = now_ns();
		ret = mcx_peer_warmup(peer);
		r->warmup_ms = ms_since(t0);
	}
	if (!ret) {
		step = "the first read of the target's header";
		hdr = page;
		memset(hdr, 0, sizeof(*hdr));
		t0 = now_ns();
		ret = single_xfer(eng, peer, MCX_OP_READ, page, o->addr, HDR_SIZE);
		r->first_ms = ms_since(t0);
		if (!ret && !bench_hdr_ok(hdr)) {
			fprintf(stderr, "%s: 0x%" PRIx64 " at %s holds no `xfer --mode target` header (is --remote-addr its --buffer-addr?)\n",
				prog, o->addr, o->peer);
			ret = -EPROTO;
		}
	}
	if (!ret && stop) {
		step = "telling the target to exit";
		ret = bench_target_stop(eng, peer, page, o->addr);
	}
	if (ret)
		fprintf(stderr, "%s: %s round: %s: %s\n", prog, warm ? "warm" : "cold", step,
			mcx_strerror(ret));
	if (peer)
		mcx_peer_close(peer);
	if (mem)
		mcx_mem_deregister(mem);
	if (eng)
		mcx_engine_destroy(eng);
	munmap(page, HDR_SIZE);
	return ret;
}

static double median(double *v, size_t n)
{
	sort_doubles(v, n);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void json_list(const char *key, const double *v, size_t n, const char *tail)
{
	printf("\"%s\": [", key);
	for (size_t i = 0; i < n; i++)
		printf("%s%.3f", i ? ", " : "", v[i]);
	printf("]%s", tail);
}

int cmd_first(int argc, char **argv)
{
	struct first_opts o = { .rounds = 5, .addr = DEFAULT_REMOTE_ADDR };
	double *v, *c_open, *c_first, *w_open, *w_warm, *w_first, *c_total, *w_total;
	double m_cf, m_wf, m_ct, m_wt;
	FILE *log;
	int ret, status = EXIT_FAIL;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? 0 : ret;
	log = o.json ? stderr : stdout;
	v = calloc(8 * o.rounds, sizeof(*v));
	if (!v) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return EXIT_FAIL;
	}
	c_open = v;
	c_first = v + o.rounds;
	c_total = v + 2 * o.rounds;
	w_open = v + 3 * o.rounds;
	w_warm = v + 4 * o.rounds;
	w_first = v + 5 * o.rounds;
	w_total = v + 6 * o.rounds;
	for (uint64_t i = 0; i < o.rounds; i++) {
		struct first_round r;
		int last = i + 1 == o.rounds;

		ret = one_round(&o, 0, 0, &r);
		if (ret)
			goto out;
		c_open[i] = r.open_ms;
		c_first[i] = r.first_ms;
		c_total[i] = r.open_ms + r.first_ms;
		fprintf(log, "  round %" PRIu64 " cold: open %.2f ms, first read %.2f ms\n", i + 1,
			r.open_ms, r.first_ms);
		ret = one_round(&o, 1, last && o.stop_target, &r);
		if (ret)
			goto out;
		w_open[i] = r.open_ms;
		w_warm[i] = r.warmup_ms;
		w_first[i] = r.first_ms;
		w_total[i] = r.open_ms + r.warmup_ms + r.first_ms;
		fprintf(log, "  round %" PRIu64 " warm: open %.2f ms, warm-up %.2f ms, first read %.2f ms\n",
			i + 1, r.open_ms, r.warmup_ms, r.first_ms);
	}
	if (o.json) {
		printf("{\"bench\": \"first\", \"peer\": \"%s\", \"rounds\": %" PRIu64 ", \"cold\": {",
		       o.peer, o.rounds);
		json_list("open_ms", c_open, o.rounds, ", ");
		json_list("first_ms", c_first, o.rounds, "}, \"warm\": {");
		json_list("open_ms", w_open, o.rounds, ", ");
		json_list("warmup_ms", w_warm, o.rounds, ", ");
		json_list("first_ms", w_first, o.rounds, "}, ");
	}
	/* The lists are printed first: median() sorts them. */
	m_cf = median(c_first, o.rounds);
	m_wf = median(w_first, o.rounds);
	m_ct = median(c_total, o.rounds);
	m_wt = median(w_total, o.rounds);
	if (o.json) {
		printf("\"median_ms\": {\"cold_open\": %.3f, \"cold_first\": %.3f, \"cold_open_first\": %.3f, "
		       "\"warm_open\": %.3f, \"warm_warmup\": %.3f, \"warm_first\": %.3f, \"warm_open_warmup_first\": %.3f}, "
		       "\"cold_over_warm_first\": %.3f, \"cold_over_warm_total\": %.3f}\n",
		       median(c_open, o.rounds), m_cf, m_ct, median(w_open, o.rounds),
		       median(w_warm, o.rounds), m_wf, m_wt, m_wf > 0 ? m_cf / m_wf : 0,
		       m_wt > 0 ? m_ct / m_wt : 0);
	} else {
		printf("mcxfer-bench first: %s, medians of %" PRIu64 " rounds of each kind\n", o.peer,
		       o.rounds);
		printf("  cold: open %.2f ms, first 4 KiB read %.2f ms (open + first %.2f ms)\n",
		       median(c_open, o.rounds), m_cf, m_ct);
		printf("  warm: open %.2f ms, warm-up %.2f ms, first 4 KiB read %.2f ms (all %.2f ms)\n",
		       median(w_open, o.rounds), median(w_warm, o.rounds), m_wf, m_wt);
		printf("  first read cold / after warm-up: %.2fx; open to first byte cold / warm: %.2fx\n",
		       m_wf > 0 ? m_cf / m_wf : 0, m_wt > 0 ? m_ct / m_wt : 0);
	}
	status = 0;
out:
	free(v);
	return status;
}
