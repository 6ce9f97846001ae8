// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * fabric_host: the libfabric transport between engines on this host, no
 * VM, no RDMA device: every provider given (default "tcp;ofi_rxm" and
 * "shm") that offers RDM endpoints with RMA here.  Through the public API
 * and the real handshake (a listener on 127.0.0.1):
 *
 *   writes and reads of 1 B .. 64 MiB at misaligned local and remote
 *   offsets, checked with guard bytes around each range; batches of
 *   1 .. 1,024 requests; both directions; a remote range outside the
 *   peer's registrations (that request fails, the engine goes on); a peer
 *   process SIGKILLed while a batch is in flight (the batch fails within
 *   the engine's timeout, not a hang; not with shm, see suite()); warm-up;
 *   writes with notifications both ways (each notification arrives once,
 *   never before its data, naming its sender); and engines with
 *   fabric_cq_threads 0 (the application's progress calls alone) and 2
 *   (one thread per device at most: with one device here, one each).
 *
 *   fabric_host [PROVIDER...]
 *
 * Output: "ok N - ..." / "not ok N - ..." lines and a closing
 * "N passed, N failed, N skipped"; exit status 0 only when nothing failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcxfer.h"

#define MIB		(1024ULL * 1024)
#define BUF_LEN		(64 * MIB + 8192)
#define GUARD		64
#define TIMEOUT_MS	10000
#define KILL_SLACK_MS	5000

static int passed, failed, skipped, testno;
static const char *prov = "?";
static uint32_t cq_threads = 1;		/* the engines' fabric_cq_threads */

static void tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - [%s] ", ok ? "ok" : "not ok", ++testno, prov);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint8_t pbyte(uint64_t seed, uint64_t pos)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + (pos >> 3) * 0xBF58476D1CE4E5B9ULL;

	x ^= x >> 29;
	x *= 0x94D049BB133111EBULL;
	x ^= x >> 32;
	return (uint8_t)(x >> (8 * (pos & 7)));
}

static void fill(uint8_t *p, uint64_t len, uint64_t seed)
{
	for (uint64_t i = 0; i < len; i++)
		p[i] = pbyte(seed, i);
}

/* len bytes of seed at p, and guard bytes g on both sides untouched. */
static bool check(const uint8_t *p, uint64_t len, uint64_t seed, uint8_t g)
{
	for (uint64_t i = 0; i < GUARD; i++)
		if (p[-(int64_t)GUARD + (int64_t)i] != g || p[len + i] != g)
			return false;
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != pbyte(seed, i))
			return false;
	return true;
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

struct side {
	struct mcx_engine *eng;
	struct mcx_mem *mem;
	uint8_t *buf;
	char addr[128];
};

static int side_open(struct side *s, bool listen)
{
	struct mcx_engine_opts o;
	int ret;

	memset(s, 0, sizeof(*s));
	mcx_engine_opts_init(&o);
	o.transport = MCX_TRANSPORT_FABRIC;
	o.fabric_provider = prov;
	o.fabric_cq_threads = cq_threads;
	/* tcp: the loopback domain only (used only when named). */
	o.devices = strstr(prov, "tcp") ? "lo" : NULL;
	o.registry = MCX_REGISTRY_OFF;
	o.loopback_memcpy = 0;	/* same process: still through the provider */
	o.timeout_ms = TIMEOUT_MS;
	o.listen = listen ? "127.0.0.1:0" : NULL;
	ret = mcx_engine_create(&o, &s->eng);
	if (ret)
		return ret;
	s->buf = map(BUF_LEN);
	if (!s->buf)
		return -ENOMEM;
	ret = mcx_mem_register(s->eng, s->buf, BUF_LEN, MCX_MEM_EXPORT, &s->mem);
	if (ret)
		return ret;
	if (listen)
		ret = mcx_engine_listen_addr(s->eng, s->addr, sizeof(s->addr));
	return ret;
}

static void side_close(struct side *s)
{
	if (s->mem)
		mcx_mem_deregister(s->mem);
	if (s->eng)
		mcx_engine_destroy(s->eng);
	if (s->buf)
		munmap(s->buf, BUF_LEN);
	memset(s, 0, sizeof(*s));
}

/* One request: op of len bytes between a's buf+loff and b's buf+roff. */
static int one(struct side *a, struct mcx_peer *peer, struct side *b, enum mcx_op op,
	       uint64_t loff, uint64_t roff, uint64_t len)
{
	struct mcx_batch *bt;
	int ret = mcx_batch_create(a->eng, 1, &bt);

	if (ret)
		return ret;
	ret = mcx_batch_add(bt, op, peer, a->buf + loff, (uint64_t)(uintptr_t)(b->buf + roff),
			    len, 1);
	if (!ret)
		ret = mcx_batch_submit(bt);
	if (!ret)
		ret = mcx_batch_wait(bt, -1);
	mcx_batch_free(bt);
	return ret;
}

static void sizes(struct side *a, struct mcx_peer *peer, struct side *b, const char *dir)
{
	static const uint64_t lens[] = { 1, 7, 4096, 65539, MIB, 3 * MIB + 5, 64 * MIB };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint64_t len = lens[i], loff = GUARD + 3, roff = GUARD + 5;
		uint64_t seed = 100 + i;
		int ret;

		/* Write: a's pattern lands in b between guards. */
		memset(b->buf, 0xA5, len + 2 * GUARD + 8);
		fill(a->buf + loff, len, seed);
		ret = one(a, peer, b, MCX_OP_WRITE, loff, roff, len);
		tap(ret == 0 && check(b->buf + roff, len, seed, 0xA5),
		    "%s write %" PRIu64 " B at +%" PRIu64 "/+%" PRIu64 " (%d)", dir, len, loff,
		    roff, ret);
		/* Read: b's pattern comes back into a between guards. */
		fill(b->buf + roff, len, seed + 1000);
		memset(a->buf, 0x5A, len + 2 * GUARD + 8);
		ret = one(a, peer, b, MCX_OP_READ, loff, roff, len);
		tap(ret == 0 && check(a->buf + loff, len, seed + 1000, 0x5A),
		    "%s read %" PRIu64 " B at +%" PRIu64 "/+%" PRIu64 " (%d)", dir, len, loff,
		    roff, ret);
	}
}

static void batches(struct side *a, struct mcx_peer *peer, struct side *b)
{
	static const size_t counts[] = { 1, 2, 64, 1024 };

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		size_t n = counts[c], bad = 0;
		uint64_t len = 4093;	/* odd: every request misaligned */
		struct mcx_batch *bt;
		int ret = mcx_batch_create(a->eng, n, &bt);

		memset(b->buf, 0, n * 4096 + 64);
		for (size_t i = 0; !ret && i < n; i++) {
			fill(a->buf + i * 4096 + 1, len, 7000 + i);
			ret = mcx_batch_add(bt, MCX_OP_WRITE, peer, a->buf + i * 4096 + 1,
					    (uint64_t)(uintptr_t)(b->buf + i * 4096 + 2), len, i);
		}
		if (!ret)
			ret = mcx_batch_submit(bt);
		if (!ret)
			ret = mcx_batch_wait(bt, -1);
		for (size_t i = 0; !ret && i < n; i++)
			for (uint64_t k = 0; k < len; k++)
				if (b->buf[i * 4096 + 2 + k] != pbyte(7000 + i, k)) {
					bad++;
					break;
				}
		mcx_batch_free(bt);
		tap(ret == 0 && bad == 0, "batch of %zu writes of %" PRIu64 " B (%d, %zu bad)", n,
		    len, ret, bad);
	}
}

/*
 * Notifications a -> b: a batch of writes of different sizes, each with
 * its tag, submitted without waiting; b takes the notifications as they
 * come and checks, at that moment, that the write each one follows has
 * landed whole (a notification never comes before its data), and that
 * each tag comes once and names a sender.
 */
#define NOTES		16
#define NOTE_STRIDE	(2 * MIB)

static void notifications(struct side *a, struct mcx_peer *peer, struct side *b, const char *dir)
{
	static const uint64_t lens[] = { 1, 4093, 65536, MIB + 3 };
	struct mcx_batch *bt = NULL;
	bool seen[NOTES] = { false }, early = false, dup = false, nofrom = false;
	uint32_t got = 0, badtag = 0;
	uint64_t deadline;
	int ret = mcx_batch_create(a->eng, NOTES, &bt);

	memset(b->buf, 0, NOTES * NOTE_STRIDE);
	for (uint32_t i = 0; !ret && i < NOTES; i++) {
		uint64_t len = lens[i % 4];

		fill(a->buf + i * NOTE_STRIDE, len, 9000 + i);
		ret = mcx_batch_add_notify(bt, peer, a->buf + i * NOTE_STRIDE,
					   (uint64_t)(uintptr_t)(b->buf + i * NOTE_STRIDE), len, i,
					   0xC0DE0000U + i);
	}
	if (!ret)
		ret = mcx_batch_submit(bt);
	deadline = now_ms() + 3 * TIMEOUT_MS;
	while (!ret && got < NOTES && now_ms() < deadline) {
		struct mcx_notify n[8];
		int k;

		mcx_engine_progress(b->eng);	/* the only progress with CQ threads 0 */
		mcx_engine_progress(a->eng);
		k = mcx_notify_poll(b->eng, n, 8);
		for (int j = 0; j < k; j++) {
			uint32_t i = n[j].tag - 0xC0DE0000U;
			uint64_t len = lens[i % 4];

			if (i >= NOTES) {
				badtag++;
				continue;
			}
			dup |= seen[i];
			seen[i] = true;
			nofrom |= !n[j].from[0];
			for (uint64_t x = 0; x < len; x++)
				if (b->buf[i * NOTE_STRIDE + x] != pbyte(9000 + i, x)) {
					early = true;
					break;
				}
			got++;
		}
		if (k == 0)
			usleep(200);
	}
	if (!ret)
		ret = mcx_batch_wait(bt, -1);
	tap(ret == 0 && got == NOTES && !early && !dup && !nofrom && !badtag,
	    "%s %d writes with notifications: %u arrived, %s, %s, %u foreign tags, sender %s (%d)",
	    dir, NOTES, got, early ? "one came BEFORE its data" : "each after its data",
	    dup ? "some twice" : "each once", badtag, nofrom ? "missing" : "named", ret);
	mcx_batch_free(bt);
}

static void bad_remote(struct side *a, struct mcx_peer *peer, struct side *b)
{
	struct mcx_batch *bt;
	struct mcx_status st[2];
	int ret = mcx_batch_create(a->eng, 2, &bt), got;

	fill(a->buf, 4096, 42);
	if (!ret)
		ret = mcx_batch_add(bt, MCX_OP_WRITE, peer, a->buf, (uint64_t)(uintptr_t)(b->buf + BUF_LEN + 4 * MIB),
				    4096, 1);
	if (!ret)
		ret = mcx_batch_add(bt, MCX_OP_WRITE, peer, a->buf, (uint64_t)(uintptr_t)b->buf,
				    4096, 2);
	if (!ret)
		ret = mcx_batch_submit(bt);
	if (!ret)
		ret = mcx_batch_wait(bt, -1);
	got = mcx_batch_status(bt, st, 2);
	tap(ret < 0 && got == 2 && st[0].status < 0 && st[1].status == 0,
	    "remote range outside the peer's registrations fails (%d: %s), its neighbour succeeds (%d)",
	    got == 2 ? st[0].status : got, mcx_strerror(got == 2 ? st[0].status : got),
	    got == 2 ? st[1].status : got);
	mcx_batch_free(bt);
	ret = one(a, peer, b, MCX_OP_WRITE, 0, 0, 4096);
	tap(ret == 0, "the next request after it succeeds (%d)", ret);
}

/* Pairs of peer: how many, and how many are up and warm. */
static int pairs_warm(struct mcx_peer *peer, int *warm)
{
	struct mcx_pair_stats st[16];
	int n = mcx_peer_stats(peer, st, 16);

	*warm = mcx_peer_warm_pairs(peer);
	return n;
}

/*
 * Warm-up touches every path: a peer whose paths a request made (not
 * warm: no probe yet) has all of them warm after mcx_peer_warmup().
 */
static void warm_state(struct side *a, struct side *b)
{
	struct mcx_peer *peer = NULL;
	int ret = mcx_peer_open(a->eng, b->addr, &peer), n = 0, warm = -1;

	if (!ret)
		ret = one(a, peer, b, MCX_OP_WRITE, 0, 0, 4096);
	if (!ret)
		n = pairs_warm(peer, &warm);
	tap(ret == 0 && n > 0 && warm == 0,
	    "paths made by a request: %d pair(s), %d warm before warm-up (%d)", n, warm, ret);
	if (!ret)
		ret = mcx_peer_warmup(peer);
	if (!ret)
		n = pairs_warm(peer, &warm);
	tap(ret == 0 && n > 0 && warm == n, "after warm-up: %d of %d pair(s) warm (%d)", warm, n,
	    ret);
	if (peer)
		mcx_peer_close(peer);
}

/* A child process with a target engine; its address and buffer come back. */
static pid_t child_target(char *addr, uint64_t *buf)
{
	struct { char addr[128]; uint64_t buf; } info;
	int pfd[2];
	pid_t pid;

	if (pipe(pfd))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct side c;

		close(pfd[0]);
		memset(&info, 0, sizeof(info));
		if (side_open(&c, true) == 0) {
			memcpy(info.addr, c.addr, sizeof(info.addr));
			info.buf = (uint64_t)(uintptr_t)c.buf;
		}
		if (write(pfd[1], &info, sizeof(info)) != (ssize_t)sizeof(info))
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], &info, sizeof(info)) != (ssize_t)sizeof(info) || !info.buf) {
		close(pfd[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return -1;
	}
	close(pfd[0]);
	memcpy(addr, info.addr, sizeof(info.addr));
	*buf = info.buf;
	return pid;
}

/*
 * Warm-up of a dead peer fails within the timeout: a peer whose paths
 * are made (a request went through) and whose process then stops answering
 * (SIGSTOP: its TCP connection and the provider's stay open, nothing
 * comes back), and then the same peer SIGKILLed.
 */
static void dead_warmup(struct side *a)
{
	char addr[128];
	uint64_t rbuf = 0, t0, took;
	struct mcx_peer *peer = NULL;
	struct mcx_batch *bt = NULL;
	pid_t pid = child_target(addr, &rbuf);
	int ret = pid > 0 ? 0 : -ECHILD, status;

	if (!ret)
		ret = mcx_peer_open(a->eng, addr, &peer);
	if (!ret)
		ret = mcx_batch_create(a->eng, 1, &bt);
	if (!ret)
		ret = mcx_batch_add(bt, MCX_OP_WRITE, peer, a->buf, rbuf, 4096, 1);
	if (!ret)
		ret = mcx_batch_submit(bt);
	if (!ret)
		ret = mcx_batch_wait(bt, -1);
	mcx_batch_free(bt);
	tap(ret == 0, "warm-up of a dead peer: a request made its paths first (%d)", ret);
	if (ret)
		goto out;
	/*
	 * SIGSTOP is only queued: a thread of the child running on another
	 * CPU goes on (and answers the probe) until the whole group has
	 * stopped, which waitpid(WUNTRACED) reports.
	 */
	kill(pid, SIGSTOP);
	if (waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status)) {
		tap(false, "warm-up of a dead peer: the target stopped");
		goto out;
	}
	t0 = now_ms();
	ret = mcx_peer_warmup(peer);
	took = now_ms() - t0;
	tap((ret == -ETIMEDOUT || ret == -ECONNRESET) && took < TIMEOUT_MS + KILL_SLACK_MS,
	    "warm-up of a stopped peer fails within the timeout: %d (%s) after %" PRIu64 " ms",
	    ret, mcx_strerror(ret), took);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	pid = 0;
	t0 = now_ms();
	ret = mcx_peer_warmup(peer);
	took = now_ms() - t0;
	tap(ret < 0 && ret != -EINPROGRESS && took < TIMEOUT_MS + KILL_SLACK_MS,
	    "warm-up of a killed peer fails within the timeout: %d (%s) after %" PRIu64 " ms",
	    ret, mcx_strerror(ret), took);
out:
	if (peer)
		mcx_peer_close(peer);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
}

/* A child process with a target engine, SIGKILLed while a batch runs. */
static void killed_peer(struct side *a)
{
	struct { char addr[128]; uint64_t buf; } info;
	struct mcx_peer *peer = NULL;
	struct mcx_batch *bt = NULL;
	int pfd[2], ret, status;
	uint64_t t0, took;
	pid_t pid;

	if (pipe(pfd)) {
		tap(false, "killed peer: pipe");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct side c;

		close(pfd[0]);
		memset(&info, 0, sizeof(info));
		if (side_open(&c, true) == 0) {
			memcpy(info.addr, c.addr, sizeof(info.addr));
			info.buf = (uint64_t)(uintptr_t)c.buf;
		}
		if (write(pfd[1], &info, sizeof(info)) != (ssize_t)sizeof(info))
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	ret = read(pfd[0], &info, sizeof(info)) == (ssize_t)sizeof(info) && info.buf ? 0 : -EIO;
	close(pfd[0]);
	if (!ret)
		ret = mcx_peer_open(a->eng, info.addr, &peer);
	if (!ret)
		ret = mcx_peer_warmup(peer);
	if (!ret)
		ret = mcx_batch_create(a->eng, 64, &bt);
	for (int i = 0; !ret && i < 64; i++)
		ret = mcx_batch_add(bt, MCX_OP_WRITE, peer, a->buf, info.buf, 64 * MIB, (uint64_t)i);
	if (!ret)
		ret = mcx_batch_submit(bt);
	usleep(20000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	t0 = now_ms();
	if (!ret)
		ret = mcx_batch_wait(bt, TIMEOUT_MS + KILL_SLACK_MS);
	else
		ret = -ENOTCONN - 1000;
	took = now_ms() - t0;
	tap(ret < 0 && took < TIMEOUT_MS + KILL_SLACK_MS,
	    "a batch to a SIGKILLed peer fails within the timeout: %d (%s) after %" PRIu64 " ms",
	    ret, mcx_strerror(ret), took);
	mcx_batch_free(bt);
	if (peer)
		mcx_peer_close(peer);
}

/* This process's threads named mcx-poller* (every engine's). */
static int poller_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[64], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.16s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "mcx-poller", 10))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* The devices a's paths to the peer leave from. */
static int local_devs(struct mcx_peer *peer)
{
	struct mcx_pair_stats st[16];
	int n = mcx_peer_stats(peer, st, 16), devs = 0;

	for (int i = 0; i < n && i < 16; i++) {
		bool seen = false;

		for (int j = 0; j < i; j++)
			seen |= !strcmp(st[i].local_dev, st[j].local_dev);
		devs += !seen;
	}
	return devs;
}

/*
 * With fabric_cq_threads 0: the application's progress thread for both
 * engines (each serves the other's reads and writes, which a manual
 * progress provider moves only inside progress).
 */
struct driver {
	struct mcx_engine *eng[2];
	atomic_bool stop;
	pthread_t t;
};

static void *drive(void *arg)
{
	struct driver *dr = arg;

	while (!atomic_load(&dr->stop)) {
		int n = mcx_engine_progress(dr->eng[0]);

		if (n + mcx_engine_progress(dr->eng[1]) <= 0)
			usleep(100);
	}
	return NULL;
}

/*
 * Engines with cq_threads completion threads (0: the test's own progress
 * calls, from a thread of its own as an application would): the
 * number of threads, transfers both ways and notifications.
 */
static void cq_threads_suite(uint32_t threads)
{
	struct side a, b;
	struct mcx_peer *ab = NULL, *ba = NULL;
	struct driver dr = { .eng = { NULL, NULL } };
	bool driving = false;
	char what[64];
	int ret, base = poller_threads(), want, have;

	cq_threads = threads;
	ret = side_open(&a, true);
	if (!ret)
		ret = side_open(&b, true);
	snprintf(what, sizeof(what), "fabric_cq_threads %u", threads);
	tap(ret == 0, "%s: engines A and B (%d)", what, ret);
	if (ret)
		goto out;
	if (threads == 0) {
		dr.eng[0] = a.eng;
		dr.eng[1] = b.eng;
		atomic_init(&dr.stop, false);
		driving = pthread_create(&dr.t, NULL, drive, &dr) == 0;
	}
	ret = mcx_peer_open(a.eng, b.addr, &ab);
	if (!ret)
		ret = mcx_peer_warmup(ab);
	if (!ret)
		ret = mcx_peer_open(b.eng, a.addr, &ba);
	if (!ret)
		ret = mcx_peer_warmup(ba);
	tap(ret == 0, "%s: peers open and warm (%d)", what, ret);
	if (ret)
		goto out;
	/* Each engine: one thread per device up to the number asked for. */
	want = 2 * (threads < (uint32_t)local_devs(ab) ? (int)threads : local_devs(ab));
	have = poller_threads() - base;
	tap(have == want, "%s: %d progress thread(s) for the two engines, expected %d", what,
	    have, want);
	fill(a.buf + GUARD, MIB, 31);
	memset(b.buf, 0xA5, MIB + 2 * GUARD);
	ret = one(&a, ab, &b, MCX_OP_WRITE, GUARD, GUARD, MIB);
	tap(ret == 0 && check(b.buf + GUARD, MIB, 31, 0xA5), "%s: write 1 MiB (%d)", what, ret);
	memset(a.buf, 0x5A, MIB + 2 * GUARD);
	ret = one(&a, ab, &b, MCX_OP_READ, GUARD, GUARD, MIB);
	tap(ret == 0 && check(a.buf + GUARD, MIB, 31, 0x5A), "%s: read 1 MiB back (%d)", what,
	    ret);
	notifications(&a, ab, &b, what);
out:
	if (driving) {
		atomic_store(&dr.stop, true);
		pthread_join(dr.t, NULL);
	}
	if (ab)
		mcx_peer_close(ab);
	if (ba)
		mcx_peer_close(ba);
	side_close(&a);
	side_close(&b);
	cq_threads = 1;
}

static void suite(void)
{
	struct side a, b;
	struct mcx_peer *ab = NULL, *ba = NULL;
	int ret, warm;

	ret = side_open(&a, true);
	if (ret == -ENODEV) {
		printf("ok %d - [%s] # SKIP provider offers no RDM endpoint with RMA here\n",
		       ++testno, prov);
		skipped++;
		side_close(&a);
		return;
	}
	tap(ret == 0, "engine A on fabric (%d)", ret);
	ret = ret ? ret : side_open(&b, true);
	tap(ret == 0, "engine B on fabric (%d)", ret);
	if (ret)
		goto out;
	ret = mcx_peer_open(a.eng, b.addr, &ab);
	if (!ret)
		ret = mcx_peer_warmup(ab);
	tap(ret == 0, "A opens and warms up B (%d)", ret);
	if (!ret) {
		int n = pairs_warm(ab, &warm);

		tap(n > 0 && warm == n, "A's pairs to B after warm-up: %d of %d warm", warm, n);
	}
	ret = ret ? ret : mcx_peer_open(b.eng, a.addr, &ba);
	if (!ret)
		ret = mcx_peer_warmup(ba);
	tap(ret == 0, "B opens and warms up A (%d)", ret);
	if (ret)
		goto out;
	sizes(&a, ab, &b, "A->B");
	sizes(&b, ba, &a, "B->A");
	batches(&a, ab, &b);
	notifications(&a, ab, &b, "A->B");
	notifications(&b, ba, &a, "B->A");
	bad_remote(&a, ab, &b);
	/*
	 * shm keeps its locks in the peers' shared memory: a peer killed
	 * while holding one leaves the survivor spinning in the provider
	 * (libfabric 1.17), which no transport above it can undo.
	 */
	warm_state(&a, &b);
	if (!strcmp(prov, "shm")) {
		printf("ok %d - [%s] # SKIP a SIGKILLed peer: the shm provider spins on the dead peer's lock\n",
		       ++testno, prov);
		skipped++;
		/* Its reads are the kernel's (CMA): a stopped process answers them. */
		printf("ok %d - [%s] # SKIP warm-up of a stopped peer: shm reads a stopped process's memory without it\n",
		       ++testno, prov);
		skipped++;
	} else {
		killed_peer(&a);
		dead_warmup(&a);
	}
	cq_threads_suite(0);
	cq_threads_suite(2);
out:
	if (ab)
		mcx_peer_close(ab);
	if (ba)
		mcx_peer_close(ba);
	side_close(&a);
	side_close(&b);
}

int main(int argc, char **argv)
{
	static const char *const defaults[] = { "tcp;ofi_rxm", "shm" };

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			prov = argv[i];
			suite();
		}
	} else {
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
			prov = defaults[i];
			suite();
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
