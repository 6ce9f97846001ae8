// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mcxfer-bench handshake and mcxfer-bench peers: what the peer connections
 * cost, and whether the listener and the engine hold up.
 *
 * handshake: the time of a real mcx_peer_open() + mcx_peer_warmup() +
 * mcx_peer_close() against a listener with a pre-shared key, R rounds idle,
 * then R rounds again while N hostile connections from this same process
 * attack that listener.  The hostile ones speak raw TCP, never through the
 * library, and never authenticate:
 *   - garbage: 64 random bytes that are not a header (the listener drops
 *     the connection at once, and it reconnects);
 *   - slowloris: a valid AUTH header and payload, one byte every
 *     --slowloris-ms, stopping one byte short (it holds a slot until the
 *     listener's timeout or an eviction);
 *   - auth_no_proof: a valid AUTH, then silence where the proof belongs;
 *   - auth_wrong_proof: a valid AUTH, then a random AUTH_PROOF once the
 *     AUTH_REPLY came (the listener refuses it and drops the connection).
 * A third of them are garbage, a third slowloris, a third AUTH (half
 * silent, half wrong).  Each reconnects as soon as the listener drops it
 * (after --reconnect-ms; 50 ms after a refused connect, since a port that
 * refuses is not attacked by spinning on it).  The listener's rules (the
 * unauthenticated may hold half the slots, the oldest is evicted, a caller
 * must authenticate within the timeout) are what keep the real peer's
 * handshake going; the ratio of the medians says whether they do.
 *
 * The hostile messages are written by hand after lib/ctrl/wire.h: the tools
 * link the shared library, which does not export its codec.  Header (24
 * bytes, little-endian): magic "MCXW", version 2, type, length of the whole
 * message, seq, flags 0, CRC-32C of the whole message with this field 0.
 *
 * peers: one engine opens every target of --peers (each its own process
 * and engine, typically `mcxfer-bench xfer --mode target` on another host),
 * reports the process's threads and RSS before and after opening and
 * warming them up, then measures write bandwidth with --depth one-request
 * batches in flight (refilled as each completes, mcx_batch_wait_any(), as
 * xfer's --refill request does): to the first peer alone, then spread
 * round-robin over all of them.  The ratio all / one says whether the
 * engine's per-peer structures cost bandwidth.  The two kinds of run
 * alternate --repeat times, and the ratio reported is the median of the
 * ratios of runs next to each other: on a shared machine (or an emulated
 * one) the bandwidth drifts with the load from one run to the next.
 *
 * How peers finds a target's memory: mcx_peer_list_mem(), then an RDMA read
 * of the first page of each exported registration, looking for the header
 * that `xfer --mode target` writes there (common/bench_target.h); data goes
 * behind it, and at the end its done word is written so that the target
 * exits.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mcxfer.h"
#include "bench_net.h"
#include "common/bench_target.h"
#include "common/clock.h"
#include "common/exit_status.h"
#include "common/parse.h"
#include "common/single_xfer.h"
#include "common/stats.h"
#include "common/transport_arg.h"

/* ------------------------------------------------------------------ */
/* Shared helpers                                                      */
/* ------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
	return now_ns() / 1000000ULL;
}

/* CPU seconds of the whole process (every thread, user and system). */
static double process_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A short name for an errno ("ECONNRESET"), for tables and JSON keys. */
static const char *err_name(int err)
{
	static _Thread_local char buf[16];
	const char *s;

	if (err < 0)
		err = -err;
	s = strerrorname_np(err);
	if (s)
		return s;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

/* A growable set of samples (milliseconds or microseconds). */
struct samples {
	double *v;
	size_t n, cap;
};

static int samples_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		double *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

static void samples_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct summary {
	size_t n;
	double median, p90, mean, min, max;
};

/* Median and nearest-rank p90.  Sorts the samples in place. */
static struct summary summarize(struct samples *s)
{
	struct summary r = { .n = s->n };
	double sum = 0;
	size_t k;

	if (!s->n)
		return r;
	sort_doubles(s->v, s->n);
	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	r.mean = sum / (double)s->n;
	r.min = s->v[0];
	r.max = s->v[s->n - 1];
	r.median = median_of_sorted(s->v, s->n);
	k = (s->n * 9 + 9) / 10;	/* ceil(0.9 n), 1-based */
	r.p90 = s->v[k ? k - 1 : 0];
	return r;
}

static void print_summary_json(const char *key, const struct summary *s, bool comma)
{
	printf("\"%s\": {\"n\": %zu, \"median\": %.3f, \"p90\": %.3f, \"mean\": %.3f, "
	       "\"min\": %.3f, \"max\": %.3f}%s", key, s->n, s->median, s->p90, s->mean,
	       s->min, s->max, comma ? ", " : "");
}

/* ---- the process: threads and memory ---- */

#define MAX_NAMES 32

struct proc_snap {
	unsigned int threads;
	uint64_t rss_kb;
	unsigned int nnames;
	struct {
		char name[20];
		unsigned int count;
	} names[MAX_NAMES];
};

/* Threads (/proc/self/task, grouped by comm) and VmRSS. */
static int proc_snapshot(struct proc_snap *p)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	char line[256];
	FILE *f;

	memset(p, 0, sizeof(*p));
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char path[300], comm[20] = "?";
		unsigned int k;

		if (e->d_name[0] == '.')
			continue;
		p->threads++;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (f) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		for (k = 0; k < p->nnames; k++)
			if (!strcmp(p->names[k].name, comm))
				break;
		if (k == p->nnames) {
			if (k == MAX_NAMES)
				continue;
			snprintf(p->names[k].name, sizeof(p->names[k].name), "%s", comm);
			p->nnames++;
		}
		p->names[k].count++;
	}
	closedir(d);
	f = fopen("/proc/self/status", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %" SCNu64, &p->rss_kb) == 1)
			break;
	fclose(f);
	return 0;
}

static unsigned int snap_count(const struct proc_snap *p, const char *name)
{
	for (unsigned int k = 0; k < p->nnames; k++)
		if (!strcmp(p->names[k].name, name))
			return p->names[k].count;
	return 0;
}

static void print_names_json(const char *key, const struct proc_snap *p)
{
	printf("\"%s\": {", key);
	for (unsigned int k = 0; k < p->nnames; k++)
		printf("%s\"%s\": %u", k ? ", " : "", p->names[k].name, p->names[k].count);
	printf("}");
}

/* ---- the bench target's header ---- */

/*
 * Find the mcxfer-bench target buffer among the peer's exported
 * registrations: *addr is its header's address, *data_len the bytes behind
 * it.  scratch (registered here, at least HDR_SIZE bytes) receives the
 * header.  -ENOENT when no registration starts with one.
 */
static int target_find(struct mcx_engine *eng, struct mcx_peer *peer, void *scratch,
		       uint64_t *addr, uint64_t *data_len)
{
	struct mcx_remote_mem mem[16];
	struct bench_hdr *h = scratch;
	int n, ret;

	n = mcx_peer_list_mem(peer, mem, sizeof(mem) / sizeof(mem[0]));
	if (n < 0)
		return n;
	if (n > (int)(sizeof(mem) / sizeof(mem[0])))
		n = (int)(sizeof(mem) / sizeof(mem[0]));
	for (int i = 0; i < n; i++) {
		if (mem[i].kind != 0 || mem[i].len < HDR_SIZE)
			continue;
		memset(h, 0, sizeof(*h));
		ret = single_xfer(eng, peer, MCX_OP_READ, h, mem[i].addr, sizeof(*h));
		if (ret)
			return ret;
		if (!bench_hdr_ok(h) || h->data_len > mem[i].len - HDR_SIZE)
			continue;
		*addr = mem[i].addr;
		*data_len = h->data_len;
		return 0;
	}
	return -ENOENT;
}

/* ------------------------------------------------------------------ */
/* handshake                                                           */
/* ------------------------------------------------------------------ */

static const char *hs_prog = "mcxfer-bench handshake";

#define MAX_HOSTILE	20000
#define WIRE_MAGIC	0x5758434dU	/* "MCXW" read as a little-endian u32 */
#define WIRE_VERSION	2
#define WIRE_HDR_LEN	24
#define WIRE_ERROR	9
#define WIRE_AUTH	10
#define WIRE_AUTH_REPLY	11
#define WIRE_AUTH_PROOF	12
#define AUTH_LEN	(WIRE_HDR_LEN + 8 + 32)	/* flags, reserved, nonce */
#define PROOF_LEN	(WIRE_HDR_LEN + 32)
#define GARBAGE_LEN	64
#define REFUSED_MS	50	/* back-off after a connect that failed */

struct hs_opts {
	const char *peer;
	const char *devices;
	const char *key_file;
	struct transport_arg ta;	/* --transport, --provider */
	uint64_t hostile;
	uint64_t rounds;
	uint64_t slow_ms;
	uint64_t reconnect_ms;
	double settle;
	int stop_target;
	int json;
};

static int hs_usage(FILE *f)
{
	fprintf(f,
		"usage: mcxfer-bench handshake --peer HOST:PORT [OPTIONS]\n"
		"\n"
		"Time of a real mcx_peer_open + mcx_peer_warmup + mcx_peer_close against a\n"
		"listener that requires a pre-shared key: --rounds rounds idle, then as many\n"
		"while --hostile raw connections from this process attack it (a third send\n"
		"garbage, a third are slowloris, a third send AUTH and then no proof or a\n"
		"wrong one; each reconnects when dropped).  Prints the medians, p90s and the\n"
		"ratio under attack / idle (target: within 2x).  Needs the listener's key:\n"
		"MCX_AUTH_KEY_FILE or --auth-key-file (the variable wins when both are set).\n"
		"\n"
		"  --peer HOST:PORT       the listener (e.g. an `xfer --mode target`)\n"
		"  --hostile N            hostile connections, 0..%d (default 100; 0: idle\n"
		"                         rounds only)\n"
		"  --rounds R             timed rounds per phase, 1..100000 (default 20),\n"
		"                         after one untimed round\n"
		"  --auth-key-file FILE   the pre-shared key (absolute path, mode 0600)\n"
		"  --devices LIST         RDMA devices (default all)\n"
		TRANSPORT_ARG_HELP
		"  --slowloris-ms MS      a slowloris sends a byte every MS, 10..10000\n"
		"                         (default 300)\n"
		"  --reconnect-ms MS      a dropped hostile connection comes back after MS,\n"
		"                         0..60000 (default 0)\n"
		"  --settle SEC           attack before the timed rounds start, once every\n"
		"                         hostile connection has connected, 0..600 (default 1)\n"
		"  --stop-target          write the done word of an `xfer --mode target`\n"
		"                         listener at the end, so that it exits\n"
		"  --json                 one JSON object on stdout (progress on stderr)\n"
		"\n"
		"exit status: 0 figures printed (whether or not the target was met, and\n"
		"with failed rounds counted), 1 failed, 2 bad usage\n", MAX_HOSTILE);
	return f == stdout ? 0 : EXIT_USAGE;
}

static int hs_parse(int argc, char **argv, struct hs_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val;
		int err;

		if (!strcmp(opt, "--help") || !strcmp(opt, "-h"))
			return hs_usage(stdout) ? EXIT_USAGE : -1;
		if (!strcmp(opt, "--json")) {
			o->json = 1;
			continue;
		}
		if (!strcmp(opt, "--stop-target")) {
			o->stop_target = 1;
			continue;
		}
		if (strcmp(opt, "--peer") && strcmp(opt, "--hostile") && strcmp(opt, "--rounds") &&
		    strcmp(opt, "--auth-key-file") && strcmp(opt, "--devices") &&
		    !transport_arg_is(opt) &&
		    strcmp(opt, "--slowloris-ms") && strcmp(opt, "--reconnect-ms") &&
		    strcmp(opt, "--settle")) {
			fprintf(stderr, "%s: unknown option '%s' (--help lists them)\n", hs_prog, opt);
			return EXIT_USAGE;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", hs_prog, opt);
			return EXIT_USAGE;
		}
		val = argv[++i];
		if (transport_arg_is(opt)) {
			err = transport_arg_parse(hs_prog, opt, val, &o->ta);
			if (err)
				return err;
		} else if (!strcmp(opt, "--peer")) {
			err = peer_arg(hs_prog, opt, val, &o->peer);
			if (err)
				return err;
		} else if (!strcmp(opt, "--hostile")) {
			err = parse_u64_arg(val, 0, MAX_HOSTILE, &o->hostile);
			if (err)
				return bad_value(hs_prog, opt, val, err, "0..20000");
		} else if (!strcmp(opt, "--rounds")) {
			err = parse_u64_arg(val, 1, 100000, &o->rounds);
			if (err)
				return bad_value(hs_prog, opt, val, err, "1..100000");
		} else if (!strcmp(opt, "--auth-key-file")) {
			if (val[0] != '/') {
				fprintf(stderr, "%s: --auth-key-file '%s': expected an absolute path\n",
					hs_prog, val);
				return EXIT_USAGE;
			}
			o->key_file = val;
		} else if (!strcmp(opt, "--devices")) {
			if (!*val) {
				fprintf(stderr, "%s: --devices is empty; give names or 'all'\n", hs_prog);
				return EXIT_USAGE;
			}
			o->devices = val;
		} else if (!strcmp(opt, "--slowloris-ms")) {
			err = parse_u64_arg(val, 10, 10000, &o->slow_ms);
			if (err)
				return bad_value(hs_prog, opt, val, err, "10..10000 ms");
		} else if (!strcmp(opt, "--reconnect-ms")) {
			err = parse_u64_arg(val, 0, 60000, &o->reconnect_ms);
			if (err)
				return bad_value(hs_prog, opt, val, err, "0..60000 ms");
		} else {
			err = parse_double_arg(val, 0, 600, &o->settle);
			if (err)
				return bad_value(hs_prog, opt, val, err, "0..600 seconds");
		}
	}
	if (transport_arg_check(hs_prog, &o->ta))
		return EXIT_USAGE;
	if (!o->peer) {
		fprintf(stderr, "%s: --peer HOST:PORT is required\n", hs_prog);
		return EXIT_USAGE;
	}
	/*
	 * Without a key the listener runs the AUTH exchange in the open, so
	 * the "hostile" AUTH connections would pass it: the benchmark would
	 * not measure what it says.
	 */
	if (!o->key_file && !getenv("MCX_AUTH_KEY_FILE")) {
		fprintf(stderr, "%s: needs the listener's pre-shared key (MCX_AUTH_KEY_FILE or --auth-key-file): without one the hostile AUTH connections would not be refused\n",
			hs_prog);
		return EXIT_USAGE;
	}
	return 0;
}

/* ---- CRC-32C and the hostile messages ---- */

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as the header's. */
static uint32_t crc32c(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffffU;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78U & (0U - (c & 1)));
	}
	return c ^ 0xffffffffU;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void rng_fill(uint64_t *s, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng_next(s) >> 32);
}

/* A sealed message of len bytes whose payload is already in buf[24..]. */
static void wire_seal(uint8_t *buf, uint16_t type, uint32_t len)
{
	put_le32(buf, WIRE_MAGIC);
	put_le16(buf + 4, WIRE_VERSION);
	put_le16(buf + 6, type);
	put_le32(buf + 8, len);
	put_le32(buf + 12, 1);		/* seq */
	put_le32(buf + 16, 0);		/* flags */
	put_le32(buf + 20, 0);		/* crc, counted as zero */
	put_le32(buf + 20, crc32c(buf, len));
}

/* AUTH: flags HAS_KEY (we claim one), reserved 0, a random nonce. */
static void make_auth(uint64_t *rng, uint8_t buf[AUTH_LEN])
{
	put_le32(buf + WIRE_HDR_LEN, 1);
	put_le32(buf + WIRE_HDR_LEN + 4, 0);
	rng_fill(rng, buf + WIRE_HDR_LEN + 8, 32);
	buf[WIRE_HDR_LEN + 8] |= 1;	/* an all-zero nonce is refused as malformed */
	wire_seal(buf, WIRE_AUTH, AUTH_LEN);
}

/* ---- the hostile connections ---- */

enum hkind { H_GARBAGE, H_SLOW, H_AUTH_SILENT, H_AUTH_WRONG, H_KINDS };

static const char *const hkind_name[H_KINDS] = {
	"garbage", "slowloris", "auth_no_proof", "auth_wrong_proof",
};

enum hstate { HC_IDLE, HC_CONNECTING, HC_OPEN };

struct hconn {
	int fd;
	enum hkind kind;
	enum hstate state;
	uint64_t next_ms;	/* IDLE: connect then; OPEN slowloris: next byte */
	uint64_t opened_ms;
	size_t sent;		/* slowloris: bytes of msg sent */
	size_t got;		/* bytes received on this connection */
	uint8_t first[8];	/* the reply's magic, version and type */
	bool classified;	/* first[] was counted */
	bool ever;		/* connected at least once */
	uint8_t msg[AUTH_LEN];	/* slowloris: the AUTH it dribbles */
};

struct hstats {
	uint64_t connects;		/* attempts */
	uint64_t connected;
	uint64_t connect_failed;	/* refused, reset or timed out before open */
	uint64_t dropped;		/* closed or reset by the listener once open */
	uint64_t auth_replies;		/* AUTH_REPLY as the first answer */
	uint64_t errors_rx;		/* ERROR as the first answer */
	uint64_t silent_drops;		/* dropped without a byte of answer */
	uint64_t proofs;		/* wrong proofs sent */
	uint64_t bytes_sent;
	double life_sum_ms, life_max_ms;	/* of the connections dropped */
};

struct attack {
	struct sockaddr_storage sa;
	socklen_t salen;
	struct hconn *c;
	size_t n;
	unsigned int count[H_KINDS];
	uint64_t slow_ms, reconnect_ms;
	uint64_t rng;
	pthread_t tid;
	atomic_int stop;
	atomic_uint live;	/* open now */
	atomic_uint ever;	/* connections that have been open at least once */
	int err;		/* the thread's fatal error */
	struct hstats st[H_KINDS];	/* the thread's; read after the join */
	double cpu_s;			/* the thread's CPU time, at its end */
	uint64_t t_start, t_end;
};

static void h_close(struct attack *a, struct hconn *c, uint64_t now, bool dropped)
{
	struct hstats *s = &a->st[c->kind];

	if (c->state == HC_OPEN) {
		double life = (double)(now - c->opened_ms);

		atomic_fetch_sub(&a->live, 1);
		if (dropped) {
			s->dropped++;
			if (!c->got)
				s->silent_drops++;
			s->life_sum_ms += life;
			if (life > s->life_max_ms)
				s->life_max_ms = life;
		}
		c->next_ms = now + a->reconnect_ms;
	} else {
		s->connect_failed++;
		c->next_ms = now + (a->reconnect_ms > REFUSED_MS ? a->reconnect_ms : REFUSED_MS);
	}
	close(c->fd);
	c->fd = -1;
	c->state = HC_IDLE;
}

/* Send all of buf now (a few bytes on an open connection), or drop it. */
static bool h_send(struct attack *a, struct hconn *c, const void *buf, size_t len,
		   uint64_t now)
{
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n == (ssize_t)len) {
		a->st[c->kind].bytes_sent += len;
		return true;
	}
	h_close(a, c, now, true);
	return false;
}

static void h_opened(struct attack *a, struct hconn *c, uint64_t now)
{
	uint8_t buf[GARBAGE_LEN];

	c->state = HC_OPEN;
	c->opened_ms = now;
	c->got = 0;
	c->sent = 0;
	c->classified = false;
	a->st[c->kind].connected++;
	atomic_fetch_add(&a->live, 1);
	if (!c->ever) {
		c->ever = true;
		atomic_fetch_add(&a->ever, 1);
	}
	switch (c->kind) {
	case H_GARBAGE:
		rng_fill(&a->rng, buf, sizeof(buf));
		buf[0] = 'G';		/* never the magic's first byte */
		h_send(a, c, buf, sizeof(buf), now);
		break;
	case H_SLOW:
		make_auth(&a->rng, c->msg);
		if (h_send(a, c, c->msg, 1, now)) {
			c->sent = 1;
			c->next_ms = now + a->slow_ms;
		}
		break;
	case H_AUTH_SILENT:
	case H_AUTH_WRONG:
		make_auth(&a->rng, buf);
		h_send(a, c, buf, AUTH_LEN, now);
		break;
	default:
		break;
	}
}

static void h_connect(struct attack *a, struct hconn *c, uint64_t now)
{
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	a->st[c->kind].connects++;
	if (fd < 0) {
		a->st[c->kind].connect_failed++;
		c->next_ms = now + REFUSED_MS;
		return;
	}
	c->fd = fd;
	if (connect(fd, (struct sockaddr *)&a->sa, a->salen) == 0) {
		h_opened(a, c, now);
	} else if (errno == EINPROGRESS) {
		c->state = HC_CONNECTING;
	} else {
		c->state = HC_CONNECTING;	/* counted as a failed connect */
		h_close(a, c, now, false);
	}
}

/* A slowloris byte, one short of the whole message: it never finishes. */
static void h_dribble(struct attack *a, struct hconn *c, uint64_t now)
{
	if (c->sent >= AUTH_LEN - 1) {
		c->next_ms = UINT64_MAX;
		return;
	}
	if (h_send(a, c, c->msg + c->sent, 1, now)) {
		c->sent++;
		c->next_ms = now + a->slow_ms;
	}
}

static void h_readable(struct attack *a, struct hconn *c, uint64_t now)
{
	struct hstats *s = &a->st[c->kind];
	bool gone = false;
	uint16_t type = 0;
	uint8_t buf[512];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			gone = true;
			break;
		}
		for (ssize_t i = 0; i < n && c->got + (size_t)i < sizeof(c->first); i++)
			c->first[c->got + (size_t)i] = buf[i];
		c->got += (size_t)n;
	}
	/* What the listener answered first, even when its FIN came with it. */
	if (!c->classified && c->got >= sizeof(c->first)) {
		c->classified = true;
		if (c->first[0] == 'M' && c->first[1] == 'C' && c->first[2] == 'X' &&
		    c->first[3] == 'W')
			type = (uint16_t)(c->first[6] | c->first[7] << 8);
		if (type == WIRE_AUTH_REPLY)
			s->auth_replies++;
		else if (type == WIRE_ERROR)
			s->errors_rx++;
	}
	if (gone) {
		h_close(a, c, now, true);
		return;
	}
	/* The listener now waits for the proof: give it a wrong one. */
	if (c->kind == H_AUTH_WRONG && type == WIRE_AUTH_REPLY) {
		uint8_t proof[PROOF_LEN];

		rng_fill(&a->rng, proof + WIRE_HDR_LEN, 32);
		wire_seal(proof, WIRE_AUTH_PROOF, PROOF_LEN);
		if (h_send(a, c, proof, sizeof(proof), now))
			s->proofs++;
	}
}

static void *attack_main(void *arg)
{
	struct attack *a = arg;
	struct pollfd *pfd = calloc(a->n, sizeof(*pfd));
	size_t *idx = calloc(a->n, sizeof(*idx));

	if (!pfd || !idx) {
		a->err = -ENOMEM;
		goto out;
	}
	while (!atomic_load(&a->stop)) {
		uint64_t now = now_ms(), wake = now + 100;
		size_t np = 0;
		int r;

		for (size_t i = 0; i < a->n; i++) {
			struct hconn *c = &a->c[i];

			if (c->state == HC_IDLE && now >= c->next_ms)
				h_connect(a, c, now);
			if (c->state == HC_OPEN && c->kind == H_SLOW && now >= c->next_ms)
				h_dribble(a, c, now);
			if ((c->state == HC_IDLE || (c->state == HC_OPEN && c->kind == H_SLOW)) &&
			    c->next_ms < wake)
				wake = c->next_ms;
			if (c->state == HC_IDLE)
				continue;
			pfd[np] = (struct pollfd){
				.fd = c->fd,
				.events = c->state == HC_CONNECTING ? POLLOUT : POLLIN,
			};
			idx[np++] = i;
		}
		r = poll(pfd, np, wake > now ? (int)(wake - now) : 0);
		if (r < 0 && errno != EINTR) {
			a->err = -errno;
			break;
		}
		now = now_ms();
		for (size_t k = 0; r > 0 && k < np; k++) {
			struct hconn *c = &a->c[idx[k]];
			int soerr = 0;
			socklen_t sl = sizeof(soerr);

			if (!pfd[k].revents)
				continue;
			if (c->state == HC_CONNECTING) {
				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr)
					h_close(a, c, now, false);
				else
					h_opened(a, c, now);
			} else if (c->state == HC_OPEN) {
				h_readable(a, c, now);
			}
		}
	}
out:
	a->cpu_s = thread_cpu_s();
	for (size_t i = 0; i < a->n; i++)
		if (a->c[i].fd >= 0) {
			if (a->c[i].state == HC_OPEN)
				atomic_fetch_sub(&a->live, 1);
			close(a->c[i].fd);
			a->c[i].fd = -1;
		}
	free(pfd);
	free(idx);
	return NULL;
}

/* Enough descriptors for n hostile connections and the library's own. */
static int raise_nofile(uint64_t n)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)n + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr, "%s: --hostile %" PRIu64 " needs %llu file descriptors; the hard limit is %llu (ulimit -n)\n",
			hs_prog, n, (unsigned long long)need, (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	return 0;
}

static int attack_init(struct attack *a, const char *peer, uint64_t n, const struct hs_opts *o)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256], service[8];
	uint16_t port;
	int ret;

	memset(a, 0, sizeof(*a));
	if (split_hostport(peer, host, sizeof(host), &port))
		return -EINVAL;
	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(host, service, &hints, &res);
	if (ret) {
		fprintf(stderr, "%s: %s: %s\n", hs_prog, peer, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
	a->salen = res->ai_addrlen;
	freeaddrinfo(res);
	a->c = calloc(n, sizeof(*a->c));
	if (!a->c)
		return -ENOMEM;
	a->n = n;
	a->slow_ms = o->slow_ms;
	a->reconnect_ms = o->reconnect_ms;
	if (getrandom(&a->rng, sizeof(a->rng), 0) != sizeof(a->rng) || !a->rng)
		a->rng = now_ns() | 1;
	for (size_t i = 0; i < n; i++) {
		/* Thirds; the AUTH third alternates no proof / a wrong one. */
		static const enum hkind by6[6] = { H_GARBAGE, H_SLOW, H_AUTH_SILENT,
						   H_GARBAGE, H_SLOW, H_AUTH_WRONG };
		struct hconn *c = &a->c[i];

		c->fd = -1;
		c->kind = by6[i % 6];
		/* Spread the first connects and slowloris bytes over one interval. */
		c->next_ms = now_ms() + rng_next(&a->rng) % (o->slow_ms ? o->slow_ms : 1);
		a->count[c->kind]++;
	}
	return 0;
}

/* ---- the real peer ---- */

#define MAX_ERRS 8

struct round_set {
	double secs, cpu_s;		/* the phase's wall time and the process's CPU */
	struct samples total, open, warm, close;	/* ms */
	struct samples hostile_live;	/* open hostile connections as each round began */
	struct samples fail_ms;		/* how long each failed round took to fail */
	uint64_t failed;
	unsigned int nerrs;
	struct {
		int err;
		const char *stage;
		uint64_t count;
	} errs[MAX_ERRS];
};

static void round_set_free(struct round_set *r)
{
	samples_free(&r->total);
	samples_free(&r->open);
	samples_free(&r->warm);
	samples_free(&r->close);
	samples_free(&r->hostile_live);
	samples_free(&r->fail_ms);
}

static void note_error(struct round_set *r, const char *stage, int err)
{
	unsigned int k;

	r->failed++;
	for (k = 0; k < r->nerrs; k++)
		if (r->errs[k].err == err && !strcmp(r->errs[k].stage, stage))
			break;
	if (k == r->nerrs) {
		if (k == MAX_ERRS)
			return;
		r->errs[k].err = err;
		r->errs[k].stage = stage;
		r->nerrs++;
	}
	r->errs[k].count++;
}

/* One open + warm-up + close; the times go to r unless r is NULL. */
static int hs_round(struct mcx_engine *eng, const char *addr, struct round_set *r,
		    const char **stage, double *fail_ms)
{
	struct mcx_peer *peer = NULL;
	uint64_t t0, t1, t2, t3;
	int ret;

	t0 = now_ns();
	ret = mcx_peer_open(eng, addr, &peer);
	t1 = now_ns();
	if (ret) {
		*stage = "open";
		*fail_ms = (double)(t1 - t0) / 1e6;
		return ret;
	}
	ret = mcx_peer_warmup(peer);
	t2 = now_ns();
	mcx_peer_close(peer);
	t3 = now_ns();
	if (ret) {
		*stage = "warmup";
		*fail_ms = (double)(t2 - t0) / 1e6;
		return ret;
	}
	if (r && (samples_add(&r->open, (double)(t1 - t0) / 1e6) ||
		  samples_add(&r->warm, (double)(t2 - t1) / 1e6) ||
		  samples_add(&r->close, (double)(t3 - t2) / 1e6) ||
		  samples_add(&r->total, (double)(t3 - t0) / 1e6))) {
		*stage = "bench";
		return -ENOMEM;
	}
	return 0;
}

static int hs_phase(struct mcx_engine *eng, const struct hs_opts *o, struct round_set *r,
		    struct attack *a, FILE *log)
{
	uint64_t t0 = now_ns();
	double c0 = process_cpu_s();

	for (uint64_t i = 0; i < o->rounds; i++) {
		const char *stage = "";
		double fail_ms = 0;
		int ret;

		if (a && samples_add(&r->hostile_live, atomic_load(&a->live)))
			return -ENOMEM;
		ret = hs_round(eng, o->peer, r, &stage, &fail_ms);
		if (ret == -ENOMEM && !strcmp(stage, "bench"))
			return ret;
		if (ret) {
			/*
			 * When it failed tells a refused connection (at once) from
			 * one dropped while it authenticated.
			 */
			fprintf(log, "%s: round %" PRIu64 "%s: %s failed after %.1f ms: %s\n",
				hs_prog, i + 1, a ? " under attack" : "", stage, fail_ms,
				mcx_strerror(ret));
			note_error(r, stage, ret);
			if (samples_add(&r->fail_ms, fail_ms))
				return -ENOMEM;
		}
	}
	/*
	 * CPU used by this process (the attacker included) over the phase:
	 * in an emulated guest of two vCPUs, what the attack takes from the
	 * real peer's threads is part of what it costs.
	 */
	r->secs = (double)(now_ns() - t0) / 1e9;
	r->cpu_s = process_cpu_s() - c0;
	return 0;
}

/* ---- the report ---- */

static void print_round_set_json(const char *key, const struct round_set *r,
				 struct summary *s, bool comma)
{
	printf("\"%s\": {\"ok\": %zu, \"failed\": %" PRIu64 ", \"seconds\": %.3f, "
	       "\"process_cpu_s\": %.3f, \"errors\": [", key, s[0].n, r->failed, r->secs, r->cpu_s);
	for (unsigned int k = 0; k < r->nerrs; k++)
		printf("%s{\"stage\": \"%s\", \"error\": \"%s\", \"count\": %" PRIu64 "}",
		       k ? ", " : "", r->errs[k].stage, err_name(r->errs[k].err),
		       r->errs[k].count);
	printf("], \"failed_after_ms\": [");
	for (size_t k = 0; k < r->fail_ms.n; k++)
		printf("%s%.1f", k ? ", " : "", r->fail_ms.v[k]);
	printf("], ");
	print_summary_json("total_ms", &s[0], true);
	print_summary_json("open_ms", &s[1], true);
	print_summary_json("warmup_ms", &s[2], true);
	print_summary_json("close_ms", &s[3], s[4].n > 0);
	if (s[4].n)
		print_summary_json("hostile_open_at_round_start", &s[4], false);
	printf("}%s", comma ? ", " : "");
}

static void print_round_set_rows(const char *what, const struct round_set *r,
				 const struct summary *s)
{
	printf("  %-13s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f   %zu ok, %" PRIu64 " failed\n",
	       what, s[0].median, s[0].p90, s[0].max, s[1].median, s[2].median, s[3].median,
	       s[0].n, r->failed);
	for (unsigned int k = 0; k < r->nerrs; k++)
		printf("  %-13s   %" PRIu64 " x %s: %s\n", "", r->errs[k].count, r->errs[k].stage,
		       mcx_strerror(r->errs[k].err));
	if (r->fail_ms.n) {
		printf("  %-13s   failed after (ms):", "");
		for (size_t k = 0; k < r->fail_ms.n; k++)
			printf(" %.0f", r->fail_ms.v[k]);
		printf("\n");
	}
}

static void summarize_set(struct round_set *r, struct summary s[5])
{
	s[0] = summarize(&r->total);
	s[1] = summarize(&r->open);
	s[2] = summarize(&r->warm);
	s[3] = summarize(&r->close);
	s[4] = summarize(&r->hostile_live);
}

static double ratio_of(double a, double b)
{
	return b > 0 && a > 0 ? a / b : -1;
}

/* A ratio, or null when one side had no figure. */
static void print_ratio_json(double r)
{
	if (r < 0)
		printf("null");
	else
		printf("%.4f", r);
}

static void hs_report(const struct hs_opts *o, struct round_set *idle, struct round_set *busy,
		      const struct attack *a)
{
	struct summary si[5], sb[5];
	double r50, r90, secs = a ? (double)(a->t_end - a->t_start) / 1e3 : 0;

	summarize_set(idle, si);
	summarize_set(busy, sb);
	r50 = ratio_of(sb[0].median, si[0].median);
	r90 = ratio_of(sb[0].p90, si[0].p90);
	if (o->json) {
		printf("{\"bench\": \"handshake\", \"peer\": \"%s\", \"hostile\": %" PRIu64
		       ", \"rounds\": %" PRIu64 ", \"slowloris_ms\": %" PRIu64
		       ", \"reconnect_ms\": %" PRIu64 ", \"settle_s\": %.3f, ", o->peer,
		       o->hostile, o->rounds, o->slow_ms, o->reconnect_ms, o->settle);
		print_round_set_json("idle", idle, si, o->hostile > 0);
		if (o->hostile) {
			print_round_set_json("attack", busy, sb, true);
			printf("\"attack_s\": %.3f, \"attacker_cpu_s\": %.3f, \"hostile_kinds\": {",
			       secs, a->cpu_s);
			for (int k = 0; k < H_KINDS; k++) {
				const struct hstats *s = &a->st[k];

				printf("%s\"%s\": {\"connections\": %u, \"connects\": %" PRIu64
				       ", \"connected\": %" PRIu64 ", \"connect_failed\": %" PRIu64
				       ", \"dropped\": %" PRIu64 ", \"dropped_silently\": %" PRIu64
				       ", \"auth_replies\": %" PRIu64 ", \"error_replies\": %" PRIu64
				       ", \"wrong_proofs\": %" PRIu64 ", \"bytes_sent\": %" PRIu64
				       ", \"life_mean_ms\": %.1f, \"life_max_ms\": %.1f}",
				       k ? ", " : "", hkind_name[k], a->count[k], s->connects,
				       s->connected, s->connect_failed, s->dropped, s->silent_drops,
				       s->auth_replies, s->errors_rx, s->proofs, s->bytes_sent,
				       s->dropped ? s->life_sum_ms / (double)s->dropped : 0,
				       s->life_max_ms);
			}
			printf("}, \"ratio_median\": ");
			print_ratio_json(r50);
			printf(", \"ratio_p90\": ");
			print_ratio_json(r90);
			printf(", \"target_ratio\": 2.0");
		}
		printf("}\n");
		return;
	}
	printf("mcxfer-bench handshake: %s, open + warm-up + close, %" PRIu64 " rounds per phase\n",
	       o->peer, o->rounds);
	printf("  %-13s %9s %9s %9s %9s %9s %9s   (ms)\n", "phase", "median", "p90", "max",
	       "open", "warm-up", "close");
	print_round_set_rows("idle", idle, si);
	if (!o->hostile)
		return;
	print_round_set_rows("under attack", busy, sb);
	printf("  attack: %" PRIu64 " hostile connections for %.1f s, %.0f open on average as rounds began (min %.0f)\n",
	       o->hostile, secs, sb[4].mean, sb[4].min);
	printf("  CPU of this process: %.0f%% of one CPU idle, %.0f%% under attack (the attacker thread alone %.0f%%)\n",
	       idle->secs > 0 ? 100 * idle->cpu_s / idle->secs : 0,
	       busy->secs > 0 ? 100 * busy->cpu_s / busy->secs : 0,
	       secs > 0 ? 100 * a->cpu_s / secs : 0);
	printf("  %-17s %5s %9s %9s %8s %8s %8s %9s %9s\n", "hostile kind", "conns", "connects",
	       "failed", "dropped", "AUTH_REP", "ERROR", "life ms", "max ms");
	for (int k = 0; k < H_KINDS; k++) {
		const struct hstats *s = &a->st[k];

		printf("  %-17s %5u %9" PRIu64 " %9" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
		       " %9.0f %9.0f\n", hkind_name[k], a->count[k], s->connects,
		       s->connect_failed, s->dropped, s->auth_replies, s->errors_rx,
		       s->dropped ? s->life_sum_ms / (double)s->dropped : 0, s->life_max_ms);
	}
	if (r50 > 0)
		printf("  under attack / idle: %.2fx (median), %.2fx (p90); target: median within 2x\n",
		       r50, r90);
	else
		printf("  under attack / idle: n/a (no round succeeded in a phase); target: median within 2x\n");
}

int cmd_handshake(int argc, char **argv)
{
	struct hs_opts o = { .hostile = 100, .rounds = 20, .slow_ms = 300, .settle = 1 };
	struct round_set idle = { 0 }, busy = { 0 };
	struct attack a;
	struct mcx_engine_opts eo;
	struct mcx_engine *eng = NULL;
	FILE *log;
	const char *stage = "";
	double fail_ms = 0;
	bool attack_on = false;
	int ret, status = EXIT_FAIL;

	ret = hs_parse(argc, argv, &o);
	if (ret)
		return ret < 0 ? 0 : ret;
	log = o.json ? stderr : stdout;
	memset(&a, 0, sizeof(a));
	if (o.hostile) {
		ret = raise_nofile(o.hostile);
		if (!ret)
			ret = attack_init(&a, o.peer, o.hostile, &o);
		if (ret) {
			fprintf(stderr, "%s: cannot prepare the hostile connections: %s\n", hs_prog,
				mcx_strerror(ret));
			goto out;
		}
	}
	mcx_engine_opts_init(&eo);
	eo.devices = o.devices;
	transport_arg_apply(&o.ta, &eo);
	eo.auth_key_file = o.key_file;
	ret = mcx_engine_create(&eo, &eng);
	if (ret) {
		fprintf(stderr, "%s: cannot create the engine: %s\n", hs_prog, mcx_strerror(ret));
		goto out;
	}
	/* Untimed: the first connection also pays for first-use set-up. */
	ret = hs_round(eng, o.peer, NULL, &stage, &fail_ms);
	if (ret) {
		fprintf(stderr, "%s: %s: %s failed: %s%s\n", hs_prog, o.peer, stage,
			mcx_strerror(ret), ret == -EACCES ?
			" (does the listener have the same key?)" : "");
		goto out;
	}
	fprintf(log, "%s: %" PRIu64 " idle rounds against %s...\n", hs_prog, o.rounds, o.peer);
	fflush(log);
	ret = hs_phase(eng, &o, &idle, NULL, log);
	if (ret)
		goto out;
	if (!idle.total.n) {
		fprintf(stderr, "%s: no idle round succeeded\n", hs_prog);
		goto out;
	}
	if (o.hostile) {
		uint64_t until;

		a.t_start = now_ms();
		ret = -pthread_create(&a.tid, NULL, attack_main, &a);
		if (ret) {
			fprintf(stderr, "%s: cannot start the attack: %s\n", hs_prog, strerror(-ret));
			goto out;
		}
		attack_on = true;
		/* Every hostile connection in place (10 s at most), then settle. */
		until = now_ms() + 10000;
		while (atomic_load(&a.ever) < o.hostile && now_ms() < until && !a.err)
			usleep(10000);
		fprintf(log, "%s: %u of %" PRIu64 " hostile connections made, %u open; %" PRIu64
			" rounds under attack in %.1f s...\n", hs_prog, atomic_load(&a.ever),
			o.hostile, atomic_load(&a.live), o.rounds, o.settle);
		fflush(log);
		usleep((useconds_t)(o.settle * 1e6));
		ret = hs_phase(eng, &o, &busy, &a, log);
		atomic_store(&a.stop, 1);
		pthread_join(a.tid, NULL);
		a.t_end = now_ms();
		attack_on = false;
		if (ret)
			goto out;
		if (a.err) {
			fprintf(stderr, "%s: the attack stopped: %s\n", hs_prog, mcx_strerror(a.err));
			goto out;
		}
	}
	if (o.stop_target) {
		struct mcx_peer *peer = NULL;
		struct mcx_mem *mem = NULL;
		uint64_t addr = 0, dlen;
		void *scratch = aligned_alloc(4096, HDR_SIZE);

		ret = scratch ? 0 : -ENOMEM;
		if (!ret)
			ret = mcx_mem_register(eng, scratch, HDR_SIZE, 0, &mem);
		if (!ret)
			ret = mcx_peer_open(eng, o.peer, &peer);
		if (!ret)
			ret = target_find(eng, peer, scratch, &addr, &dlen);
		if (!ret)
			ret = bench_target_stop(eng, peer, scratch, addr);
		if (ret)
			fprintf(stderr, "%s: telling the target to stop: %s%s\n", hs_prog,
				mcx_strerror(ret), ret == -ENOENT ?
				" (no mcxfer-bench target buffer there)" : "");
		if (peer)
			mcx_peer_close(peer);
		if (mem)
			mcx_mem_deregister(mem);
		free(scratch);
		if (ret)
			goto out;
	}
	hs_report(&o, &idle, &busy, o.hostile ? &a : NULL);
	status = 0;
out:
	if (attack_on) {
		atomic_store(&a.stop, 1);
		pthread_join(a.tid, NULL);
	}
	free(a.c);
	round_set_free(&idle);
	round_set_free(&busy);
	mcx_engine_destroy(eng);
	return status;
}

/* ------------------------------------------------------------------ */
/* peers                                                               */
/* ------------------------------------------------------------------ */

static const char *pr_prog = "mcxfer-bench peers";

#define MAX_PEERS	256
#define MAX_DEPTH	4096
#define MAX_REPEAT	99

struct pr_opts {
	char **addrs;		/* split from --peers */
	size_t npeers;
	const char *devices;
	struct transport_arg ta;	/* --transport, --provider */
	uint64_t block_size;
	uint64_t depth;
	uint64_t warmup;	/* untimed completions per phase */
	int warmup_set;		/* else 2 x depth */
	uint64_t repeat;	/* one/all pairs of phases */
	double duration;
	int keep_targets;
	int json;
};

struct pr_peer {
	struct mcx_peer *peer;
	uint64_t addr;		/* the target's header */
	uint64_t data_len;
	uint64_t slots;		/* blocks in its data area */
	uint64_t next_slot;
	double setup_ms;	/* open + warm-up + finding its buffer */
};

/* One kind of phase (one peer, or all), summed over its --repeat runs. */
struct pr_phase {
	size_t npeers;
	unsigned int runs;
	double secs;
	uint64_t bytes, ops;
	double run_mbps[MAX_REPEAT];
	struct samples lat;	/* us, every timed write */
	struct summary lat_s;
	struct {
		uint64_t bytes, ops;
		struct samples lat;
		struct summary lat_s;
	} *per;			/* npeers entries */
};

static int pr_usage(FILE *f)
{
	fprintf(f,
		"usage: mcxfer-bench peers --peers HOST:PORT,HOST:PORT,... [OPTIONS]\n"
		"\n"
		"One engine opens every peer (each an `mcxfer-bench xfer --mode target`,\n"
		"its own process), reports this process's threads and RSS before and after\n"
		"opening and warming them up, then measures write bandwidth with --depth\n"
		"one-request batches in flight, refilled as each completes: to the first\n"
		"peer alone, then spread round-robin over all of them, --repeat times,\n"
		"alternating which goes first.  Prints the ratio all / one (the median of\n"
		"the runs' ratios, each pair of runs next to each other in time; target\n"
		">= 0.9x) and per-peer figures.  Each target's buffer is found with\n"
		"mcx_peer_list_mem(); at the end each target is told to exit.\n"
		"\n"
		"  --peers LIST           comma-separated HOST:PORT, 1..%d distinct peers\n"
		"  --block-size SIZE      bytes per write, 4K..1G (default 64K); each\n"
		"                         target's buffer must hold at least one\n"
		"  --depth N              writes in flight in all, 1..%d (default 16)\n"
		"  --duration SEC         timed seconds per phase, 0.1..3600 (default 5)\n"
		"  --repeat N             pairs of phases (one peer, all), 1..%d (default 3)\n"
		"  --warmup N             untimed writes per phase first, 0..1000000\n"
		"                         (default 2 x depth)\n"
		"  --devices LIST         RDMA devices (default all)\n"
		TRANSPORT_ARG_HELP
		"  --keep-targets         do not tell the targets to exit\n"
		"  --json                 one JSON object on stdout (progress on stderr)\n"
		"\n"
		"exit status: 0 figures printed (whether or not the target was met),\n"
		"1 failed, 2 bad usage\n", MAX_PEERS, MAX_DEPTH, MAX_REPEAT);
	return f == stdout ? 0 : EXIT_USAGE;
}

/* Split --peers into o->addrs (one allocation), refusing bad or repeated ones. */
static int pr_split(const char *val, struct pr_opts *o)
{
	size_t n = 1, len = strlen(val);
	char *copy, *s, *save = NULL;

	for (const char *p = val; *p; p++)
		n += *p == ',';
	if (n > MAX_PEERS) {
		fprintf(stderr, "%s: --peers lists %zu peers; at most %d\n", pr_prog, n, MAX_PEERS);
		return EXIT_USAGE;
	}
	o->addrs = malloc(n * sizeof(*o->addrs) + len + 1);
	if (!o->addrs) {
		fprintf(stderr, "%s: out of memory\n", pr_prog);
		return EXIT_FAIL;
	}
	copy = (char *)(o->addrs + n);
	memcpy(copy, val, len + 1);
	o->npeers = 0;
	if (!len || val[0] == ',' || val[len - 1] == ',' || strstr(val, ",,")) {
		fprintf(stderr, "%s: --peers '%s': an empty entry\n", pr_prog, val);
		return EXIT_USAGE;
	}
	for (s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		char host[256];
		uint16_t port;

		if (split_hostport(s, host, sizeof(host), &port)) {
			fprintf(stderr, "%s: --peers: '%s' is not HOST:PORT or [V6ADDR]:PORT with a port 1..65535\n",
				pr_prog, s);
			return EXIT_USAGE;
		}
		for (size_t k = 0; k < o->npeers; k++)
			if (!strcmp(o->addrs[k], s)) {
				fprintf(stderr, "%s: --peers names %s twice; each peer is a separate target\n",
					pr_prog, s);
				return EXIT_USAGE;
			}
		o->addrs[o->npeers++] = s;
	}
	return 0;
}

static int pr_parse(int argc, char **argv, struct pr_opts *o)
{
	int ret;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val;
		int err;

		if (!strcmp(opt, "--help") || !strcmp(opt, "-h"))
			return pr_usage(stdout) ? EXIT_USAGE : -1;
		if (!strcmp(opt, "--json")) {
			o->json = 1;
			continue;
		}
		if (!strcmp(opt, "--keep-targets")) {
			o->keep_targets = 1;
			continue;
		}
		if (strcmp(opt, "--peers") && strcmp(opt, "--block-size") && strcmp(opt, "--depth") &&
		    strcmp(opt, "--duration") && strcmp(opt, "--warmup") &&
		    strcmp(opt, "--repeat") && strcmp(opt, "--devices") && !transport_arg_is(opt)) {
			fprintf(stderr, "%s: unknown option '%s' (--help lists them)\n", pr_prog, opt);
			return EXIT_USAGE;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", pr_prog, opt);
			return EXIT_USAGE;
		}
		val = argv[++i];
		if (transport_arg_is(opt)) {
			err = transport_arg_parse(pr_prog, opt, val, &o->ta);
			if (err)
				return err;
		} else if (!strcmp(opt, "--peers")) {
			if (o->addrs) {
				fprintf(stderr, "%s: --peers given twice; list every peer in one\n",
					pr_prog);
				return EXIT_USAGE;
			}
			ret = pr_split(val, o);
			if (ret)
				return ret;
		} else if (!strcmp(opt, "--block-size")) {
			err = parse_size_arg(val, 4096, 1ULL << 30, &o->block_size);
			if (err)
				return bad_value(pr_prog, opt, val, err, "4K..1G bytes (K/M/G suffixes)");
		} else if (!strcmp(opt, "--depth")) {
			err = parse_u64_arg(val, 1, MAX_DEPTH, &o->depth);
			if (err)
				return bad_value(pr_prog, opt, val, err, "1..4096");
		} else if (!strcmp(opt, "--duration")) {
			err = parse_double_arg(val, 0.1, 3600, &o->duration);
			if (err)
				return bad_value(pr_prog, opt, val, err, "0.1..3600 seconds");
		} else if (!strcmp(opt, "--warmup")) {
			err = parse_u64_arg(val, 0, 1000000, &o->warmup);
			if (err)
				return bad_value(pr_prog, opt, val, err, "0..1000000 writes");
			o->warmup_set = 1;
		} else if (!strcmp(opt, "--repeat")) {
			err = parse_u64_arg(val, 1, MAX_REPEAT, &o->repeat);
			if (err)
				return bad_value(pr_prog, opt, val, err, "1..99");
		} else {
			if (!*val) {
				fprintf(stderr, "%s: --devices is empty; give names or 'all'\n", pr_prog);
				return EXIT_USAGE;
			}
			o->devices = val;
		}
	}
	if (transport_arg_check(pr_prog, &o->ta))
		return EXIT_USAGE;
	if (!o->addrs) {
		fprintf(stderr, "%s: --peers HOST:PORT,... is required\n", pr_prog);
		return EXIT_USAGE;
	}
	if (o->block_size * o->depth > (1ULL << 32)) {
		fprintf(stderr, "%s: --block-size x --depth is %" PRIu64 " bytes of local buffer; at most 4 GiB\n",
			pr_prog, o->block_size * o->depth);
		return EXIT_USAGE;
	}
	if (!o->warmup_set)
		o->warmup = 2 * o->depth;
	return 0;
}

struct pr_run {
	const struct pr_opts *o;
	struct mcx_engine *eng;
	struct pr_peer *p;
	struct mcx_batch **bs;
	uint64_t *t0;		/* per batch: submitted at */
	size_t *who;		/* per batch: its peer */
	char *local;		/* depth blocks, then a page for headers */
	size_t rr;
	char err[256];
};

/* Queue batch i's next write, to the next peer of the first np. */
static int pr_submit(struct pr_run *x, size_t i, size_t np)
{
	const struct pr_opts *o = x->o;
	size_t k = x->rr++ % np;
	struct pr_peer *p = &x->p[k];
	uint64_t off = HDR_SIZE + (p->next_slot++ % p->slots) * o->block_size;
	int ret;

	x->who[i] = k;
	ret = mcx_batch_add(x->bs[i], MCX_OP_WRITE, p->peer, x->local + i * o->block_size,
			    p->addr + off, o->block_size, i);
	if (!ret) {
		x->t0[i] = now_ns();
		ret = mcx_batch_submit(x->bs[i]);
	}
	if (ret)
		snprintf(x->err, sizeof(x->err), "queueing a write to peer %zu (%s): %s", k,
			 o->addrs[k], mcx_strerror(ret));
	return ret;
}

/* Batch i (one request) failed with ret: say which write, to whom. */
static int pr_failed(struct pr_run *x, size_t i, int ret)
{
	struct mcx_status st;
	size_t k = x->who[i];

	if (mcx_batch_status(x->bs[i], &st, 1) == 1 && st.status && st.status != -EINPROGRESS)
		ret = st.status;
	snprintf(x->err, sizeof(x->err), "a write of %" PRIu64 " bytes to peer %zu (%s): %s",
		 x->o->block_size, k, x->o->addrs[k], mcx_strerror(ret));
	return ret;
}

static int pr_phase_init(struct pr_phase *ph, size_t np)
{
	memset(ph, 0, sizeof(*ph));
	ph->npeers = np;
	ph->per = calloc(np, sizeof(*ph->per));
	return ph->per ? 0 : -ENOMEM;
}

static void pr_phase_free(struct pr_phase *ph)
{
	for (size_t k = 0; ph->per && k < ph->npeers; k++)
		samples_free(&ph->per[k].lat);
	samples_free(&ph->lat);
	free(ph->per);
	ph->per = NULL;
}

/* One timed run of writes to the first ph->npeers peers, added to *ph. */
static int pr_phase_run(struct pr_run *x, struct pr_phase *ph)
{
	const struct pr_opts *o = x->o;
	size_t depth = (size_t)o->depth, inflight = 0, np = ph->npeers;
	uint64_t done = 0, t_start = 0, t_end = 0, t_stop = 0, last = now_ns();
	uint64_t bytes0 = ph->bytes;
	bool timing = false;
	int ret = 0;

	x->rr = 0;
	for (size_t i = 0; i < depth && !ret; i++) {
		ret = pr_submit(x, i, np);
		if (!ret)
			inflight++;
	}
	while (!ret) {
		int i = mcx_batch_wait_any(x->bs, inflight, 1000);
		uint64_t now = now_ns();

		if (i == -ETIMEDOUT) {
			/* Requests time out in the engine; this is the last resort. */
			if (now - last > 60000000000ULL) {
				snprintf(x->err, sizeof(x->err), "no write completed for 60 s");
				ret = -ETIMEDOUT;
			}
			continue;
		}
		if (i < 0) {
			snprintf(x->err, sizeof(x->err), "wait_any: %s", mcx_strerror(i));
			ret = i;
			break;
		}
		last = now;
		ret = mcx_batch_wait(x->bs[i], 0);
		if (ret) {
			ret = pr_failed(x, (size_t)i, ret);
			break;
		}
		if (timing) {
			size_t k = x->who[i];
			double lat = (double)(now - x->t0[i]) / 1e3;

			ph->per[k].bytes += o->block_size;
			ph->per[k].ops++;
			ph->bytes += o->block_size;
			ph->ops++;
			if (samples_add(&ph->per[k].lat, lat) || samples_add(&ph->lat, lat)) {
				ret = -ENOMEM;
				break;
			}
			if (now >= t_end) {
				t_stop = now;
				break;	/* this batch is not refilled */
			}
		} else if (++done >= o->warmup) {
			timing = true;
			t_start = now;
			t_end = now + (uint64_t)(o->duration * 1e9);
		}
		ret = pr_submit(x, (size_t)i, np);
	}
	/*
	 * What is still in flight completes untimed; the batches are then all
	 * finished, ready for the next run.
	 */
	for (size_t i = 0; i < inflight; i++) {
		int r = mcx_batch_wait(x->bs[i], -1);

		if (r && !ret)
			ret = pr_failed(x, i, r);
	}
	if (!ret) {
		double secs = (double)(t_stop - t_start) / 1e9;

		ph->secs += secs;
		ph->run_mbps[ph->runs++] = secs > 0 ? (double)(ph->bytes - bytes0) / secs / 1e6 : 0;
	}
	return ret;
}

static void pr_phase_finish(struct pr_phase *ph)
{
	ph->lat_s = summarize(&ph->lat);
	for (size_t k = 0; k < ph->npeers; k++)
		ph->per[k].lat_s = summarize(&ph->per[k].lat);
}

static double mbps(uint64_t bytes, double secs)
{
	return secs > 0 ? (double)bytes / secs / 1e6 : 0;
}

static double median_of(const double *v, size_t n)
{
	struct samples s = { 0 };
	struct summary r;

	for (size_t i = 0; i < n; i++)
		if (samples_add(&s, v[i]))
			break;
	r = summarize(&s);
	samples_free(&s);
	return r.median;
}

static void print_phase_json(const char *key, const struct pr_phase *ph, char *const *addrs,
			     bool comma)
{
	printf("\"%s\": {\"peers\": %zu, \"runs\": %u, \"seconds\": %.3f, \"bytes\": %" PRIu64
	       ", \"ops\": %" PRIu64 ", \"bytes_per_s\": %.1f, \"MBps\": %.3f, \"ops_per_s\": %.1f, "
	       "\"MBps_median_of_runs\": %.3f, \"runs_MBps\": [", key, ph->npeers, ph->runs,
	       ph->secs, ph->bytes, ph->ops, ph->secs > 0 ? (double)ph->bytes / ph->secs : 0,
	       mbps(ph->bytes, ph->secs), ph->secs > 0 ? (double)ph->ops / ph->secs : 0,
	       median_of(ph->run_mbps, ph->runs));
	for (unsigned int r = 0; r < ph->runs; r++)
		printf("%s%.3f", r ? ", " : "", ph->run_mbps[r]);
	printf("], ");
	print_summary_json("latency_us", &ph->lat_s, true);
	printf("\"per_peer\": [");
	for (size_t k = 0; k < ph->npeers; k++)
		printf("%s{\"peer\": \"%s\", \"bytes\": %" PRIu64 ", \"ops\": %" PRIu64
		       ", \"MBps\": %.3f, \"latency_us_median\": %.1f, \"latency_us_p90\": %.1f}",
		       k ? ", " : "", addrs[k], ph->per[k].bytes, ph->per[k].ops,
		       mbps(ph->per[k].bytes, ph->secs), ph->per[k].lat_s.median,
		       ph->per[k].lat_s.p90);
	printf("]}%s", comma ? ", " : "");
}

static void pr_report(const struct pr_opts *o, const struct pr_peer *p,
		      const struct proc_snap *before, const struct proc_snap *after,
		      double open_s, const struct pr_phase *one, const struct pr_phase *all)
{
	double n = (double)o->npeers;
	double dthreads = (double)after->threads - (double)before->threads;
	double drss = (double)after->rss_kb - (double)before->rss_kb;
	double m1 = mbps(one->bytes, one->secs), ma = mbps(all->bytes, all->secs);
	double pairs[MAX_REPEAT], ratio, pmin = -1, pmax = 0;
	struct samples setup = { 0 };
	unsigned int np = 0;
	struct summary ss;

	/* Run r of each kind were next to each other: their ratio is paired. */
	for (unsigned int r = 0; r < one->runs && r < all->runs; r++)
		if (one->run_mbps[r] > 0)
			pairs[np++] = all->run_mbps[r] / one->run_mbps[r];
	ratio = np ? median_of(pairs, np) : -1;
	for (size_t k = 0; k < o->npeers; k++) {
		double m = mbps(all->per[k].bytes, all->secs);

		if (samples_add(&setup, p[k].setup_ms))
			break;
		if (pmin < 0 || m < pmin)
			pmin = m;
		if (m > pmax)
			pmax = m;
	}
	ss = summarize(&setup);
	samples_free(&setup);
	if (o->json) {
		printf("{\"bench\": \"peers\", \"npeers\": %zu, \"op\": \"write\", \"block_size\": %"
		       PRIu64 ", \"depth\": %" PRIu64 ", \"duration_s\": %.3f, \"repeat\": %" PRIu64
		       ", \"warmup\": %" PRIu64 ", \"setup\": {\"threads_before\": %u, "
		       "\"threads_after\": %u, \"threads_per_peer\": %.3f, \"rss_kb_before\": %" PRIu64
		       ", \"rss_kb_after\": %" PRIu64 ", \"rss_kb_per_peer\": %.1f, \"open_s\": %.3f, ",
		       o->npeers, o->block_size, o->depth, o->duration, o->repeat, o->warmup,
		       before->threads, after->threads, dthreads / n, before->rss_kb, after->rss_kb,
		       drss / n, open_s);
		print_names_json("threads_by_name_before", before);
		printf(", ");
		print_names_json("threads_by_name_after", after);
		printf(", ");
		print_summary_json("per_peer_setup_ms", &ss, false);
		printf("}, ");
		print_phase_json("one", one, o->addrs, true);
		print_phase_json("all", all, o->addrs, true);
		printf("\"all_over_one\": ");
		print_ratio_json(ratio);
		printf(", \"all_over_one_runs\": [");
		for (unsigned int r = 0; r < np; r++)
			printf("%s%.4f", r ? ", " : "", pairs[r]);
		printf("], \"all_over_one_summed\": ");
		print_ratio_json(m1 > 0 ? ma / m1 : -1);
		printf(", \"per_peer_min_over_max\": ");
		print_ratio_json(pmax > 0 ? pmin / pmax : -1);
		printf(", \"target_ratio\": 0.9}\n");
		return;
	}
	printf("mcxfer-bench peers: %zu peers, writes of %" PRIu64 " B, %" PRIu64
	       " in flight, %" PRIu64 " x %.1f s per kind of phase\n", o->npeers, o->block_size,
	       o->depth, o->repeat, o->duration);
	printf("  threads: %u before opening, %u after (%+.0f, %.2f per peer)", before->threads,
	       after->threads, dthreads, dthreads / n);
	for (unsigned int k = 0; k < after->nnames; k++) {
		int d = (int)after->names[k].count - (int)snap_count(before, after->names[k].name);

		if (d)
			printf("%s %s %+d", k ? "," : ";", after->names[k].name, d);
	}
	printf("\n  RSS: %" PRIu64 " KiB before, %" PRIu64 " KiB after (%+.0f KiB, %.0f KiB per peer)\n",
	       before->rss_kb, after->rss_kb, drss, drss / n);
	printf("  open + warm-up + finding the buffer: %.2f s for all; per peer median %.1f ms, max %.1f ms\n",
	       open_s, ss.median, ss.max);
	printf("  %-24s %10s %10s %10s %10s   %s\n", "", "MB/s", "ops/s", "p50 us", "p90 us",
	       "MB/s of each run");
	for (int w = 0; w < 2; w++) {
		const struct pr_phase *ph = w ? all : one;
		char what[64];

		if (w)
			snprintf(what, sizeof(what), "all %zu", o->npeers);
		else
			snprintf(what, sizeof(what), "%s", o->addrs[0]);
		printf("  %-24s %10.2f %10.0f %10.0f %10.0f  ", what, w ? ma : m1,
		       ph->secs > 0 ? (double)ph->ops / ph->secs : 0, ph->lat_s.median,
		       ph->lat_s.p90);
		for (unsigned int r = 0; r < ph->runs; r++)
			printf(" %.2f", ph->run_mbps[r]);
		printf("\n");
	}
	printf("  all / one: %.2fx, median of %u paired runs (target >= 0.9x); %.2fx summed\n",
	       ratio, np, m1 > 0 ? ma / m1 : 0);
	printf("  per peer with all: %.2f..%.2f MB/s\n", pmin, pmax);
	for (size_t k = 0; k < o->npeers; k++)
		printf("    %-22s %10.2f %10" PRIu64 " %10.0f %10.0f\n", o->addrs[k],
		       mbps(all->per[k].bytes, all->secs), all->per[k].ops,
		       all->per[k].lat_s.median, all->per[k].lat_s.p90);
}

int cmd_peers(int argc, char **argv)
{
	struct pr_opts o = { .block_size = 64 << 10, .depth = 16, .duration = 5, .repeat = 3 };
	struct pr_run x = { .o = &o };
	struct pr_phase one = { 0 }, all = { 0 };
	struct proc_snap before, after;
	struct mcx_engine_opts eo;
	struct mcx_mem *mem = NULL;
	size_t local_len = 0, opened = 0;
	FILE *log;
	double open_s;
	uint64_t t0;
	int ret, status = EXIT_FAIL;

	ret = pr_parse(argc, argv, &o);
	if (ret) {
		free(o.addrs);
		return ret < 0 ? 0 : ret;
	}
	log = o.json ? stderr : stdout;
	x.p = calloc(o.npeers, sizeof(*x.p));
	x.bs = calloc(o.depth, sizeof(*x.bs));
	x.t0 = calloc(o.depth, sizeof(*x.t0));
	x.who = calloc(o.depth, sizeof(*x.who));
	if (!x.p || !x.bs || !x.t0 || !x.who || pr_phase_init(&one, 1) ||
	    pr_phase_init(&all, o.npeers)) {
		fprintf(stderr, "%s: out of memory\n", pr_prog);
		goto out;
	}
	mcx_engine_opts_init(&eo);
	eo.devices = o.devices;
	transport_arg_apply(&o.ta, &eo);
	ret = mcx_engine_create(&eo, &x.eng);
	if (ret) {
		fprintf(stderr, "%s: cannot create the engine: %s\n", pr_prog, mcx_strerror(ret));
		goto out;
	}
	/* One block per batch, and a page for the targets' headers. */
	local_len = HDR_SIZE + o.depth * o.block_size;
	x.local = mmap(NULL, local_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x.local == MAP_FAILED) {
		x.local = NULL;
		fprintf(stderr, "%s: cannot map %zu bytes: %s\n", pr_prog, local_len, strerror(errno));
		goto out;
	}
	memset(x.local, 0x5a, local_len);
	ret = mcx_mem_register(x.eng, x.local, local_len, 0, &mem);
	if (ret) {
		fprintf(stderr, "%s: cannot register %zu bytes: %s\n", pr_prog, local_len,
			mcx_strerror(ret));
		goto out;
	}
	for (size_t i = 0; i < o.depth; i++) {
		ret = mcx_batch_create(x.eng, 1, &x.bs[i]);
		if (ret) {
			fprintf(stderr, "%s: batch_create: %s\n", pr_prog, mcx_strerror(ret));
			goto out;
		}
	}

	/* Everything but the peers exists: what they add is theirs. */
	ret = proc_snapshot(&before);
	if (ret) {
		fprintf(stderr, "%s: reading /proc/self: %s\n", pr_prog, strerror(-ret));
		goto out;
	}
	fprintf(log, "%s: opening %zu peers...\n", pr_prog, o.npeers);
	fflush(log);
	t0 = now_ns();
	for (size_t k = 0; k < o.npeers; k++) {
		struct pr_peer *p = &x.p[k];
		const char *stage = "open";
		uint64_t t = now_ns();

		ret = mcx_peer_open(x.eng, o.addrs[k], &p->peer);
		if (!ret) {
			opened++;
			stage = "warmup";
			ret = mcx_peer_warmup(p->peer);
		}
		if (!ret) {
			/*
			 * A target listens before its buffer is registered: give
			 * one that has none yet a few seconds.
			 */
			uint64_t until = now_ns() + 10000000000ULL;

			stage = "finding its buffer";
			do {
				ret = target_find(x.eng, p->peer, x.local + o.depth * o.block_size,
						  &p->addr, &p->data_len);
			} while (ret == -ENOENT && now_ns() < until && !usleep(200000));
		}
		if (!ret && p->data_len < o.block_size) {
			fprintf(stderr, "%s: peer %zu (%s): its buffer holds %" PRIu64 " bytes, less than --block-size %" PRIu64 "\n",
				pr_prog, k, o.addrs[k], p->data_len, o.block_size);
			goto out;
		}
		if (ret) {
			fprintf(stderr, "%s: peer %zu of %zu (%s): %s: %s%s\n", pr_prog, k + 1,
				o.npeers, o.addrs[k], stage, mcx_strerror(ret), ret == -ENOENT ?
				" (no mcxfer-bench target buffer there)" : "");
			goto out;
		}
		p->slots = p->data_len / o.block_size;
		p->setup_ms = (double)(now_ns() - t) / 1e6;
	}
	open_s = (double)(now_ns() - t0) / 1e9;
	ret = proc_snapshot(&after);
	if (ret) {
		fprintf(stderr, "%s: reading /proc/self: %s\n", pr_prog, strerror(-ret));
		goto out;
	}
	fprintf(log, "%s: %zu peers open in %.2f s\n", pr_prog, o.npeers, open_s);

	/*
	 * One peer and all peers alternate, and which goes first alternates
	 * too, so that a change of the machine's load between runs hits both.
	 */
	for (uint64_t r = 0; r < o.repeat && !ret; r++) {
		for (int w = 0; w < 2 && !ret; w++) {
			struct pr_phase *ph = (w ^ (int)(r & 1)) ? &all : &one;

			fprintf(log, "%s: run %" PRIu64 ": %.1f s of writes to %s...\n", pr_prog,
				r + 1, o.duration, ph == &one ? o.addrs[0] : "all peers");
			fflush(log);
			ret = pr_phase_run(&x, ph);
		}
	}
	if (ret) {
		fprintf(stderr, "%s: %s\n", pr_prog, x.err[0] ? x.err : mcx_strerror(ret));
		goto out;
	}
	pr_phase_finish(&one);
	pr_phase_finish(&all);
	pr_report(&o, x.p, &before, &after, open_s, &one, &all);
	status = 0;
out:
	for (size_t i = 0; x.bs && i < o.depth; i++)
		if (x.bs[i])
			mcx_batch_free(x.bs[i]);
	/*
	 * Tell every target we reached to exit, after a failure too, so that
	 * a scripted run does not wait for them (the write may fail as well).
	 */
	for (size_t k = 0; x.p && k < o.npeers; k++) {
		/* Closed right after: the target exits, and its peer with it. */
		if (!o.keep_targets && k < opened && x.p[k].addr) {
			ret = bench_target_stop(x.eng, x.p[k].peer, x.local + o.depth * o.block_size,
					  x.p[k].addr);
			if (ret) {
				fprintf(stderr, "%s: telling %s to stop: %s\n", pr_prog,
					o.addrs[k], mcx_strerror(ret));
				status = EXIT_FAIL;
			}
		}
		if (x.p[k].peer)
			mcx_peer_close(x.p[k].peer);
	}
	if (mem)
		mcx_mem_deregister(mem);
	mcx_engine_destroy(x.eng);
	if (x.local)
		munmap(x.local, local_len);
	pr_phase_free(&one);
	pr_phase_free(&all);
	free(x.p);
	free(x.bs);
	free(x.t0);
	free(x.who);
	free(o.addrs);
	return status;
}
