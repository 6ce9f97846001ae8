// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Stress of /dev/mcxfer: P processes x T threads pin, look up, export and
 * release ranges of a few shared dma-bufs and of private ones, list and
 * evict, for a bounded time, while the parent SIGKILLs children at random
 * and starts new ones.  Linger is short, so expiry races with the rest.
 *
 * Passes when no call failed in a way the ABI does not allow, every
 * GET_INFO showed entries == entries_active + entries_linger + entries_dead,
 * and at the end, with every worker gone and everything idle evicted
 * (EVICT with MCXFER_EVICT_IDLE), nothing is left: no entry, no pinned
 * byte, no attachment, no MR, no client but ours.  The rig checks the
 * kernel log for warnings.  The seed is printed at the start and the end;
 * -s SEED with the same -p/-t replays the workers' choices (the timing,
 * and so the interleaving, differs from run to run).
 *
 *   mcxfer_stress [-d SECONDS] [-p PROCS] [-t THREADS] [-s SEED] [-l LINGER_MS]
 *                 [-e MAX_ENTRIES]
 *
 * With -e the global entry cap is set too, so that pins race with the
 * evictions that make room; then ENOSPC is an allowed answer to a pin.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "mcx_util.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NR_SHARED	4
#define SHARED_PAGES	16
#define NR_RANGES	5
#define MAX_HELD	32
#define MAX_PROCS	64

enum op {
	OP_PIN, OP_UNPIN, OP_LOOKUP, OP_PRIVATE, OP_SECOND_FD, OP_LIST, OP_INFO,
	OP_EVICT, NR_OPS,
};

static const char *const op_names[NR_OPS] = {
	"pin", "unpin", "lookup", "private", "second_fd", "list", "info", "evict",
};

/* Shared between the parent and all children. */
struct stress_shared {
	atomic_ullong ops[NR_OPS];
	atomic_ullong unexpected;
	atomic_ullong broken;		/* GET_INFO snapshots that broke an invariant */
	atomic_int stop;
};

static struct stress_shared *sh;
static int shared_fds[NR_SHARED];
static unsigned long long seed;
static unsigned int nr_threads = 4;
static bool capped;		/* -e: ENOSPC is a legal answer to PIN */

struct thread_ctx {
	int fd;			/* the process's /dev/mcxfer, or a private one */
	bool own_fd;
	uint64_t rng;
	uint64_t held[MAX_HELD];
	unsigned int nr_held;
};

static uint64_t rnd(struct thread_ctx *t)
{
	/* xorshift64*: cheap, and reproducible from the printed seed. */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 2685821657736338717ULL;
}

static void unexpected(const char *what, int err)
{
	if (capped && err == -ENOSPC && !strncmp(what, "pin", 3))
		return;
	atomic_fetch_add(&sh->unexpected, 1);
	mt_log("[pid %d] unexpected: %s -> %s", (int)getpid(), what, mt_errname(-err));
}

static void range_of(unsigned int r, uint64_t *off, uint64_t *len)
{
	/* Four single pages and the whole buffer. */
	if (r < NR_RANGES - 1) {
		*off = (uint64_t)r * 2 * MCX_PAGE;
		*len = MCX_PAGE;
	} else {
		*off = 0;
		*len = SHARED_PAGES * MCX_PAGE;
	}
}

static void hold(struct thread_ctx *t, uint64_t id)
{
	if (t->nr_held == MAX_HELD) {
		int r = mcx_unpin(t->fd, t->held[0]);

		if (r)
			unexpected("unpin (full)", r);
		t->held[0] = t->held[--t->nr_held];
	}
	t->held[t->nr_held++] = id;
}

static void do_pin(struct thread_ctx *t)
{
	unsigned int b = rnd(t) % NR_SHARED, r = rnd(t) % NR_RANGES;
	bool named = rnd(t) & 1;
	uint64_t off, len, id;
	char name[32];
	int ret;

	range_of(r, &off, &len);
	snprintf(name, sizeof(name), "stress/b%ur%u", b, r);
	ret = mcx_pin(t->fd, shared_fds[b], off, len, named ? name : NULL,
		      MCXFER_SHARE_OWNER, 0, &id, NULL);
	if (ret)
		unexpected("pin", ret);
	else
		hold(t, id);
}

static void do_unpin(struct thread_ctx *t)
{
	unsigned int i;
	int ret;

	if (!t->nr_held)
		return;
	i = rnd(t) % t->nr_held;
	ret = mcx_unpin(t->fd, t->held[i]);
	if (ret)
		unexpected("unpin", ret);
	t->held[i] = t->held[--t->nr_held];
}

static void do_lookup(struct thread_ctx *t)
{
	unsigned int b = rnd(t) % NR_SHARED, r = rnd(t) % NR_RANGES;
	uint32_t flags = rnd(t) % 4;
	struct mcxfer_lookup l;
	char name[32];
	int ret;

	snprintf(name, sizeof(name), "stress/b%ur%u", b, r);
	ret = mcx_lookup_name(t->fd, name, flags, &l);
	if (ret == -ENOENT)
		return;		/* never named, or expired */
	if (ret) {
		unexpected("lookup", ret);
		return;
	}
	if (flags & MCXFER_LOOKUP_REF)
		hold(t, l.id);
	if (flags & MCXFER_LOOKUP_EXPORT_FD) {
		uint64_t id;

		/* The exported fd is the same buffer: pinning it is a hit. */
		if (rnd(t) & 1) {
			ret = mcx_pin(t->fd, (int)l.fd, l.offset, l.length, NULL, 0, 0, &id, NULL);
			if (ret)
				unexpected("pin exported", ret);
			else
				hold(t, id);
		}
		close((int)l.fd);
	}
}

static void do_private(struct thread_ctx *t)
{
	struct host_dmabuf buf;
	uint64_t id;
	int ret;

	ret = host_dmabuf_create((1 + rnd(t) % 2) * MCX_PAGE, &buf);
	if (ret) {
		unexpected("host_dmabuf_create", ret);
		return;
	}
	ret = mcx_pin(t->fd, buf.fd, 0, MCX_PAGE, NULL, 0,
		      rnd(t) % 4 ? 0 : MCXFER_PIN_NO_LINGER, &id, NULL);
	if (ret)
		unexpected("pin private", ret);
	else if (rnd(t) & 1)
		hold(t, id);
	else if ((ret = mcx_unpin(t->fd, id)))
		unexpected("unpin private", ret);
	/* The entry keeps the buffer; our fds go. */
	host_dmabuf_destroy(&buf);
}

static void do_second_fd(struct thread_ctx *t, bool own_fd)
{
	int fd = mcx_open(), ret;
	unsigned int b = rnd(t) % NR_SHARED;
	bool held = false;
	uint64_t id;

	if (fd < 0) {
		unexpected("open", fd);
		return;
	}
	ret = mcx_pin(fd, shared_fds[b], MCX_PAGE, MCX_PAGE, NULL, 0, 0, &id, NULL);
	if (ret)
		unexpected("pin second fd", ret);
	/*
	 * References belong to the fd: on a client of its own that holds
	 * nothing on id, this thread cannot drop the other fd's reference.
	 */
	for (unsigned int i = 0; i < t->nr_held; i++)
		held |= t->held[i] == id;
	if (!ret && own_fd && !held) {
		ret = mcx_unpin(t->fd, id);
		if (ret != -ENOENT)
			unexpected("unpin of another fd's reference", ret ? ret : -EEXIST);
	}
	close(fd);
}

static void do_list(struct thread_ctx *t)
{
	struct mcxfer_entry_info page[3];
	uint64_t cursor = 0, last = 0;
	unsigned int calls = 0;

	do {
		struct mcxfer_list l = {
			.size = sizeof(l), .cursor = cursor, .entries = (uintptr_t)page,
			.entry_size = sizeof(page[0]), .count = 3,
		};
		int ret = mcx_ioctl(t->fd, MCXFER_IOC_LIST, &l);

		if (ret) {
			unexpected("list", ret);
			return;
		}
		for (uint32_t i = 0; i < l.count && i < 3; i++) {
			if (page[i].id <= last)
				unexpected("list order", -EILSEQ);
			last = page[i].id;
		}
		cursor = l.cursor;
	} while (cursor && ++calls < 200);
}

/* The counters of one GET_INFO are taken together: they must add up. */
static bool info_consistent(const struct mcxfer_info *info)
{
	return info->entries == info->entries_active + info->entries_linger + info->entries_dead;
}

static void do_info(struct thread_ctx *t)
{
	struct mcxfer_info info;
	int ret = mcx_info(t->fd, &info);

	if (ret) {
		unexpected("info", ret);
	} else if (!info_consistent(&info)) {
		if (atomic_fetch_add(&sh->broken, 1) < 20)
			mt_log("[pid %d] GET_INFO: entries %llu != active %llu + linger %llu + dead %llu",
			       (int)getpid(), (unsigned long long)info.entries,
			       (unsigned long long)info.entries_active,
			       (unsigned long long)info.entries_linger,
			       (unsigned long long)info.entries_dead);
	}
}

static void log_info(const char *when, const struct mcxfer_info *info)
{
	mt_log("%s: entries %llu (active %llu linger %llu dead %llu) bytes_pinned %llu attachments %llu mrs %llu clients %llu",
	       when, (unsigned long long)info->entries,
	       (unsigned long long)info->entries_active,
	       (unsigned long long)info->entries_linger,
	       (unsigned long long)info->entries_dead,
	       (unsigned long long)info->bytes_pinned,
	       (unsigned long long)info->attachments,
	       (unsigned long long)info->mrs, (unsigned long long)info->clients);
}

/*
 * With every worker gone no reference may be left; once everything idle is
 * evicted, nothing at all.  NULL when that holds, else what is wrong (and
 * *err the errno of a call that failed).
 */
static const char *check_no_leaks(int fd, int *err)
{
	struct mcxfer_info info;
	long long n;

	if ((*err = -mcx_info(fd, &info)))
		return "GET_INFO failed";
	log_info("workers gone", &info);
	if (!info_consistent(&info))
		return "entries != active + linger + dead with every worker gone";
	if (info.entries_active || info.clients != 1)
		return "references or clients left with every worker gone";
	n = mcx_evict_all_idle();
	if (n < 0) {
		*err = (int)-n;
		return "EVICT with MCXFER_EVICT_IDLE failed";
	}
	mt_log("evicted %lld idle entries", n);
	if ((*err = -mcx_info(fd, &info)))
		return "GET_INFO after the eviction failed";
	log_info("idle evicted", &info);
	if (!info_consistent(&info))
		return "entries != active + linger + dead after the eviction";
	if (info.entries || info.entries_linger || info.entries_dead)
		return "entries left after the eviction";
	if (info.bytes_pinned || info.attachments)
		return "bytes still pinned after the eviction";
	if (info.mrs || info.clients != 1)
		return "MRs or clients left after the eviction";
	return NULL;
}

static void do_evict(struct thread_ctx *t)
{
	uint64_t n;
	int ret;

	if (t->nr_held && (rnd(t) & 1)) {
		/* Something we hold is active: never evictable. */
		ret = mcx_evict(t->fd, t->held[rnd(t) % t->nr_held], 0, &n);
		if (ret != -EBUSY)
			unexpected("evict held", ret ? ret : -EEXIST);
		return;
	}
	ret = mcx_evict(t->fd, 0, MCXFER_EVICT_IDLE, &n);
	if (ret)
		unexpected("evict idle", ret);
}

static void *thread_main(void *arg)
{
	struct thread_ctx *t = arg;

	while (!atomic_load(&sh->stop)) {
		unsigned int x = rnd(t) % 100;
		enum op op;

		if (x < 30)
			op = OP_PIN;
		else if (x < 55)
			op = OP_UNPIN;
		else if (x < 75)
			op = OP_LOOKUP;
		else if (x < 78)
			op = OP_PRIVATE;
		else if (x < 83)
			op = OP_SECOND_FD;
		else if (x < 88)
			op = OP_LIST;
		else if (x < 95)
			op = OP_INFO;
		else
			op = OP_EVICT;
		switch (op) {
		case OP_PIN: do_pin(t); break;
		case OP_UNPIN: do_unpin(t); break;
		case OP_LOOKUP: do_lookup(t); break;
		case OP_PRIVATE: do_private(t); break;
		case OP_SECOND_FD: do_second_fd(t, t->own_fd); break;
		case OP_LIST: do_list(t); break;
		case OP_INFO: do_info(t); break;
		case OP_EVICT: do_evict(t); break;
		default: break;
		}
		atomic_fetch_add(&sh->ops[op], 1);
	}
	/* A clean exit unpins half the time and leaves the rest to close(). */
	if (t->rng & 1)
		while (t->nr_held)
			do_unpin(t);
	return NULL;
}

static void child_main(unsigned int slot, unsigned int generation)
{
	struct thread_ctx *ctx = calloc(nr_threads, sizeof(*ctx));
	pthread_t *th = calloc(nr_threads, sizeof(*th));
	int fd = mcx_open();

	if (!ctx || !th || fd < 0) {
		unexpected("child setup", fd < 0 ? fd : -ENOMEM);
		_exit(1);
	}
	for (unsigned int i = 0; i < nr_threads; i++) {
		ctx[i].fd = fd;
		/* Half the threads have a client of their own. */
		if (i & 1) {
			ctx[i].fd = mcx_open();
			ctx[i].own_fd = true;
			if (ctx[i].fd < 0) {
				unexpected("open", ctx[i].fd);
				_exit(1);
			}
		}
		ctx[i].rng = (seed ^ ((uint64_t)slot << 48) ^ ((uint64_t)generation << 32) ^ i) | 1;
		if (pthread_create(&th[i], NULL, thread_main, &ctx[i])) {
			unexpected("pthread_create", -EAGAIN);
			_exit(1);
		}
	}
	for (unsigned int i = 0; i < nr_threads; i++)
		pthread_join(th[i], NULL);
	_exit(0);
}

static pid_t spawn(unsigned int slot, unsigned int generation)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		child_main(slot, generation);
	return pid;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned int duration = 30, nr_procs = 8, kills = 0, respawns = 0, bad_exits = 0;
	long long linger = 250, max_entries = -1;
	unsigned long long saved_linger = 0, saved_max = 0;
	bool linger_set = false;
	pid_t pids[MAX_PROCS];
	unsigned int gen[MAX_PROCS] = { 0 };
	struct thread_ctx prng;
	struct mcxfer_info info;
	int opt, fd, failed = 0, passed = 0, num = 0;
	double end;

	seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 20);
	while ((opt = getopt(argc, argv, "d:p:t:s:l:e:")) != -1) {
		switch (opt) {
		case 'd': duration = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'p': nr_procs = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 't': nr_threads = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'l': linger = strtoll(optarg, NULL, 0); break;
		case 'e': max_entries = strtoll(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-d SECONDS] [-p PROCS] [-t THREADS] [-s SEED] [-l LINGER_MS|-1] [-e MAX_ENTRIES]\n",
				argv[0]);
			return 2;
		}
	}
	if (!nr_procs || nr_procs > MAX_PROCS || !nr_threads || nr_threads > 64 || !duration) {
		fprintf(stderr, "stress: 1..%d processes, 1..64 threads, duration > 0\n", MAX_PROCS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..4\n");
	mt_log("stress: %u s, %u processes x %u threads, seed %llu, linger_ms %lld, max_entries %lld",
	       duration, nr_procs, nr_threads, seed, linger, max_entries);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(sh, 0, sizeof(*sh));
	fd = mcx_open();
	if (fd < 0) {
		printf("not ok 1 stress_run # open %s: %s\n", MCX_DEV, mt_errname(-fd));
		printf("0 passed, 1 failed, 0 skipped\n");
		return 1;
	}
	if (linger >= 0) {
		if (mcx_param_get("linger_ms", &saved_linger) ||
		    mcx_param_set("linger_ms", (unsigned long long)linger))
			mt_log("cannot set linger_ms; running with the current value");
		else
			linger_set = true;
	}
	if (max_entries > 0) {
		if (mcx_param_get("max_entries", &saved_max) ||
		    mcx_param_set("max_entries", (unsigned long long)max_entries)) {
			printf("not ok 1 stress_run # cannot set max_entries\n");
			printf("0 passed, 1 failed, 0 skipped\n");
			return 1;
		}
		capped = true;
	}
	for (int i = 0; i < NR_SHARED; i++) {
		struct host_dmabuf b;
		int r = host_dmabuf_create(SHARED_PAGES * MCX_PAGE, &b);

		if (r) {
			printf("not ok 1 stress_run # dma-buf: %s\n", mt_errname(-r));
			printf("0 passed, 1 failed, 0 skipped\n");
			return 1;
		}
		/* Only the fd is shared; the backing goes with the buffer. */
		shared_fds[i] = b.fd;
		if (b.backing_fd >= 0 && strcmp(b.exporter, "vgem"))
			close(b.backing_fd);
	}

	for (unsigned int i = 0; i < nr_procs; i++)
		pids[i] = spawn(i, 0);
	prng.rng = seed | 1;
	end = now_s() + duration;
	while (now_s() < end) {
		unsigned int victim;
		int st;

		mcx_msleep(200 + (unsigned int)(rnd(&prng) % 800));
		if (now_s() >= end)
			break;
		victim = (unsigned int)(rnd(&prng) % nr_procs);
		kill(pids[victim], SIGKILL);
		kills++;
		if (waitpid(pids[victim], &st, 0) == pids[victim] && WIFEXITED(st) &&
		    WEXITSTATUS(st))
			bad_exits++;
		pids[victim] = spawn(victim, ++gen[victim]);
		respawns++;
	}
	atomic_store(&sh->stop, 1);
	end = now_s();
	for (unsigned int i = 0; i < nr_procs; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st))
			bad_exits++;
	}
	mt_log("children done %.1f s after the stop", now_s() - end);
	for (int i = 0; i < NR_OPS; i++)
		mt_log("%-10s %llu", op_names[i], (unsigned long long)atomic_load(&sh->ops[i]));
	mt_log("killed %u, respawned %u", kills, respawns);

	num++;
	if (atomic_load(&sh->unexpected) || bad_exits) {
		printf("not ok %d stress_no_unexpected_errors # %llu unexpected, %u bad exits\n", num,
		       (unsigned long long)atomic_load(&sh->unexpected), bad_exits);
		failed++;
	} else {
		printf("ok %d stress_no_unexpected_errors\n", num);
		passed++;
	}

	num++;
	if (atomic_load(&sh->broken)) {
		printf("not ok %d stress_info_consistent # %llu GET_INFO calls with entries != active + linger + dead\n",
		       num, (unsigned long long)atomic_load(&sh->broken));
		failed++;
	} else {
		printf("ok %d stress_info_consistent\n", num);
		passed++;
	}

	/*
	 * Every worker is gone: no reference is left, only idle entries may
	 * remain, and once they are evicted nothing at all.
	 */
	for (int i = 0; i < NR_SHARED; i++)
		close(shared_fds[i]);
	num++;
	{
		int err = 0;
		const char *why = check_no_leaks(fd, &err);

		if (why) {
			printf("not ok %d stress_no_leaks # %s%s%s\n", num, why,
			       err ? ": " : "", err ? mt_errname(err) : "");
			failed++;
		} else {
			printf("ok %d stress_no_leaks\n", num);
			passed++;
		}
	}

	/* And the module still works. */
	num++;
	{
		struct host_dmabuf b;
		uint64_t id;
		uint32_t of = 7;
		int r = host_dmabuf_create(MCX_PAGE, &b);

		if (!r)
			r = mcx_pin(fd, b.fd, 0, MCX_PAGE, "stress/after", 0, 0, &id, &of);
		if (!r)
			r = mcx_unpin(fd, id);
		host_dmabuf_destroy(&b);
		/* A fresh buffer is a miss; once unpinned and evicted, nothing is left. */
		if (!r && of == 0 && mcx_evict_all_idle() >= 0 && mcx_info(fd, &info) == 0 &&
		    info.entries == 0) {
			printf("ok %d stress_module_still_works\n", num);
			passed++;
		} else {
			printf("not ok %d stress_module_still_works # %s\n", num, mt_errname(-r));
			failed++;
		}
	}
	if (linger_set)
		mcx_param_set("linger_ms", saved_linger);
	if (capped)
		mcx_param_set("max_entries", saved_max);
	close(fd);
	mt_log("seed %llu%s", seed, failed ? "; replay with the same options and -s SEED" : "");
	printf("%d passed, %d failed, 0 skipped\n", passed, failed);
	return failed ? 1 : 0;
}
