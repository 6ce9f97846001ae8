// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fuzz of /dev/mcxfer: -j processes of -t threads each (the workers), every
 * worker with a client (fd) of its own, make random calls of every ioctl,
 * of random command numbers in and around the mcxfer range, and random
 * reads of the event queue, all at once.  Arguments get random sizes,
 * flags, fields and bytes, and the struct sometimes runs into an unmapped
 * page; pointers come from a pool of unmapped pages, kernel and
 * non-canonical addresses and small scratch buffers (never memory the
 * program cares about).  All workers draw entry ids from one shared pool,
 * so that they unpin, look up, evict and revoke each other's entries while
 * those are in use.
 *
 * Checks:
 *  - known commands fail only with errnos the ABI allows, unknown ones
 *    with ENOTTY;
 *  - an oracle on the results: no call writes past the struct size the
 *    caller passed (canary bytes follow the struct); on success, reserved
 *    fields and the tail of a struct larger than the kernel's come back
 *    zero (no kernel bytes), no field holds a value the ABI cannot produce,
 *    LIST returns at most the capacity it was given and writes nothing in
 *    its buffer beyond count * entry_size (the rest is canary), the fds
 *    handed out are what they should be, and event records are whole with
 *    zero reserved fields;
 *  - afterwards a plain pin/unpin works and, once every fd is closed and
 *    the idle entries evicted, nothing is left.
 *
 * The run's seed is printed, and each worker's seed, derived from it.
 * -s SEED replays a run with the same -n, -j and -t (each worker makes the
 * same choices; how the workers interleave differs).  -w SEED runs one
 * worker alone with a seed printed for it (give -n its share of the calls).
 *
 *   mcxfer_fuzz [-n CALLS_PER_COMMAND] [-j PROCS] [-t THREADS] [-s SEED]
 *               [-w WORKER_SEED]
 *
 * CALLS_PER_COMMAND (default 100000) is shared among the workers.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "mcx_util.h"

#include <fcntl.h>
#include <infiniband/verbs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NR_CMDS		12
#define SLOT_RANDOM	NR_CMDS		/* random command numbers */
#define SLOT_READ	(NR_CMDS + 1)	/* read() of the event queue */
#define NR_SLOTS	(NR_CMDS + 2)
#define MAX_ERRNO	134
#define MAX_PROCS	16
#define MAX_THREADS	16
#define ROOM_EXTRA	64		/* bytes after the struct: larger sizes, canary */
#define ROOM_MAX	512
#define NR_SHARED_IDS	128
#define LOG_LIMIT	20		/* messages per worker */
#define EV_RECORDS	8
#define RECYCLE_EVERY	2000		/* rounds between fresh clients */

static const unsigned long cmds[NR_CMDS] = {
	MCXFER_IOC_GET_INFO, MCXFER_IOC_PIN, MCXFER_IOC_UNPIN, MCXFER_IOC_LOOKUP,
	MCXFER_IOC_PUBLISH_MR, MCXFER_IOC_GET_MR, MCXFER_IOC_LIST, MCXFER_IOC_EVICT,
	MCXFER_IOC_QUERY_DEVICE, MCXFER_IOC_PUBLISH_CTX, MCXFER_IOC_GET_CTX,
	MCXFER_IOC_LIST_HOLDERS,
};
static const char *const slot_names[NR_SLOTS] = {
	"GET_INFO", "PIN", "UNPIN", "LOOKUP", "PUBLISH_MR", "GET_MR", "LIST", "EVICT",
	"QUERY_DEVICE", "PUBLISH_CTX", "GET_CTX", "LIST_HOLDERS", "random", "read",
};
static const size_t cmd_sizes[NR_CMDS] = {
	sizeof(struct mcxfer_info), sizeof(struct mcxfer_pin), sizeof(struct mcxfer_unpin),
	sizeof(struct mcxfer_lookup), sizeof(struct mcxfer_publish_mr),
	sizeof(struct mcxfer_get_mr), sizeof(struct mcxfer_list), sizeof(struct mcxfer_evict),
	sizeof(struct mcxfer_device_info), sizeof(struct mcxfer_ctx), sizeof(struct mcxfer_ctx),
	sizeof(struct mcxfer_holders),
};

_Static_assert(sizeof(struct mcxfer_info) + ROOM_EXTRA <= ROOM_MAX, "ROOM_MAX");
_Static_assert(sizeof(struct mcxfer_get_mr) + ROOM_EXTRA <= ROOM_MAX, "ROOM_MAX");

/* Names that workers pin and look up, so that they meet. */
static const char *const fixed_names[] = { "fuzz/a", "fuzz/b", "fuzz:c", "fuzz.d-1" };

struct worker_stats {
	unsigned long long counts[NR_SLOTS][MAX_ERRNO + 1];
	unsigned long long ok[NR_SLOTS];
	unsigned long long bad_errno;	/* errnos the ABI does not allow */
	unsigned long long oracle;	/* results the ABI does not allow */
	unsigned long long calls;
	unsigned int logged;
};

/* Shared by all processes. */
struct fuzz_shared {
	_Atomic uint64_t ids[NR_SHARED_IDS];
	atomic_uint next_id;
	struct worker_stats stats[MAX_PROCS * MAX_THREADS];
};

/* What the threads of one process share. */
struct proc_res {
	struct host_dmabuf bufs[2];
	int pipe_fds[2];
	int devnull;
	struct ibv_context *ctx;
};

struct worker {
	unsigned int proc, thread;
	uint64_t seed, rng;
	unsigned long long rounds;	/* calls of each command */
	int mcx_fd;			/* O_NONBLOCK, so that reads never wait */
	unsigned char *arena;		/* two pages, the second one faults */
	unsigned char *scratch;		/* ends where a faulting page starts */
	size_t scratch_len;
	unsigned char *evbuf;
	size_t evbuf_len;
	int pool_fds[16];
	unsigned int nr_pool_fds;
	int dmabuf_fds[2];		/* the process's dma-bufs, and their sizes */
	uint64_t dmabuf_sizes[2];
	struct worker_stats *st;
	bool broken;			/* setup or recycling failed: stop */
};

static struct fuzz_shared *sh;
static uid_t my_uid;

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Worker p.t's seed: printed, and what -w takes. */
static uint64_t worker_seed(uint64_t seed, unsigned int p, unsigned int t)
{
	return splitmix64(seed ^ splitmix64(((uint64_t)p << 32) | t));
}

static uint64_t rnd(struct worker *w)
{
	/* xorshift64*: cheap, and reproducible from the printed seed. */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 2685821657736338717ULL;
}

static bool chance(struct worker *w, unsigned int pct)
{
	return rnd(w) % 100 < pct;
}

/* The byte a canary area holds at position i: never zero. */
static unsigned char canary(size_t i)
{
	return (unsigned char)(0x80 | ((i * 29) & 0x7f));
}

static void fill_canary(unsigned char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		p[i] = canary(i);
}

static const char *ename(int err)
{
	static __thread char buf[24];
	const char *s = err ? strerrorname_np(err) : "other";

	if (s)
		return s;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

static void wlog(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wlog(struct worker *w, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	if (w->st->logged >= LOG_LIMIT)
		return;
	if (++w->st->logged == LOG_LIMIT)
		mt_log("[worker %u.%u] (further messages of this worker left out)",
		       w->proc, w->thread);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	mt_log("[worker %u.%u] %s", w->proc, w->thread, buf);
}

/* A result the ABI does not allow. */
static void oracle_fail(struct worker *w, unsigned int slot, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void oracle_fail(struct worker *w, unsigned int slot, const char *fmt, ...)
{
	char buf[640];
	va_list ap;

	w->st->oracle++;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	wlog(w, "%s: oracle: %s", slot_names[slot], buf);
}

static void id_add(uint64_t id)
{
	unsigned int i = atomic_fetch_add(&sh->next_id, 1);

	atomic_store(&sh->ids[i % NR_SHARED_IDS], id);
}

/* A user pointer the module may see: never into memory we care about. */
static uint64_t rnd_ptr(struct worker *w)
{
	switch (rnd(w) % 9) {
	case 0: return 0;
	case 1: return (uintptr_t)mcx_fault_page();
	case 2: return (uintptr_t)mcx_fault_page() + rnd(w) % MCX_PAGE;
	case 3: return 0xffff888000000000ULL + (rnd(w) & 0xfffff000);	/* kernel */
	case 4: return 0x0000800000000000ULL + (rnd(w) & 0xfff);	/* non-canonical */
	case 5: return rnd(w);
	case 6: /* scratch near its end, so reads may run into the fault page */
		return (uintptr_t)(w->scratch + w->scratch_len - 1 - rnd(w) % 128);
	default: return (uintptr_t)(w->scratch + rnd(w) % (w->scratch_len / 2));
	}
}

/* A name pointer: a valid name, one the workers share, junk, or a bad pointer. */
static uint64_t rnd_name(struct worker *w)
{
	unsigned char *p = w->scratch + (rnd(w) % 8) * 128;
	size_t len;

	switch (rnd(w) % 4) {
	case 0:
		len = 1 + rnd(w) % 20;
		for (size_t i = 0; i < len; i++)
			p[i] = (unsigned char)"abcxyz019/._:-"[rnd(w) % 14];
		p[0] = 'f';
		p[len] = '\0';
		return (uintptr_t)p;
	case 1:
		for (size_t i = 0; i < 128; i++)
			p[i] = (unsigned char)rnd(w);
		return (uintptr_t)p;
	case 2:
		return (uintptr_t)fixed_names[rnd(w) % MT_ARRAY_SIZE(fixed_names)];
	default:
		return rnd_ptr(w);
	}
}

static uint32_t rnd_fd(struct worker *w)
{
	if (chance(w, 10))
		return (uint32_t)rnd(w);
	return (uint32_t)w->pool_fds[rnd(w) % w->nr_pool_fds];
}

static uint64_t rnd_id(struct worker *w)
{
	unsigned int n = atomic_load(&sh->next_id);

	if (n && chance(w, 60))
		return atomic_load(&sh->ids[rnd(w) % (n < NR_SHARED_IDS ? n : NR_SHARED_IDS)]);
	switch (rnd(w) % 4) {
	case 0: return 0;
	case 1: return rnd(w) % 64;
	case 2: return UINT64_MAX - rnd(w) % 4;
	default: return rnd(w);
	}
}

/* An owner for MCXFER_LOOKUP_OWNER: ourselves mostly. */
static uint32_t rnd_uid(struct worker *w)
{
	switch (rnd(w) % 5) {
	case 0: return MCX_UID_A;
	case 1: return (uint32_t)rnd(w);
	case 2: return UINT32_MAX;
	default: return (uint32_t)my_uid;
	}
}

static uint64_t rnd_u64_small(struct worker *w, uint64_t page_mult)
{
	switch (rnd(w) % 5) {
	case 0: return 0;
	case 1: return rnd(w);
	case 2: return rnd(w) % 8192;
	default: return (rnd(w) % 6) * page_mult;
	}
}

static uint32_t rnd_flags(struct worker *w, uint32_t known)
{
	if (chance(w, 60))
		return (uint32_t)rnd(w) & known;
	return (uint32_t)rnd(w);
}

static uint32_t rnd_size(struct worker *w, size_t size)
{
	switch (rnd(w) % 10) {
	case 0: return 0;
	case 1: return (uint32_t)rnd(w);
	case 2: return (uint32_t)(rnd(w) % (size + 64));
	case 3: return (uint32_t)(size + 8 * (1 + rnd(w) % 8));
	default: return (uint32_t)size;
	}
}

/* A valid name: mostly one the workers share. */
static uint64_t sane_name(struct worker *w)
{
	if (chance(w, 70))
		return (uintptr_t)fixed_names[rnd(w) % MT_ARRAY_SIZE(fixed_names)];
	return rnd_name(w);
}

/*
 * A well-formed argument of command c (the whole struct fits in room): the
 * kernel's size or a larger one with a zero tail, known flags, zero
 * reserved fields, our own dma-bufs, shared names and ids.  Such calls get
 * past the argument checks, so that the oracle sees successes.
 */
static void fill_sane(struct worker *w, unsigned int c, unsigned char *arg, size_t room)
{
	size_t size = cmd_sizes[c];
	uint32_t usize = (uint32_t)size;

	memset(arg, 0, room);
	switch (cmds[c]) {
	case MCXFER_IOC_PIN: {
		struct mcxfer_pin *p = (void *)arg;
		unsigned int b = (unsigned int)(rnd(w) % 2);
		uint64_t pages = w->dmabuf_sizes[b] / MCX_PAGE;

		p->flags = rnd_flags(w, MCXFER_PIN_FLAGS) & MCXFER_PIN_FLAGS;
		p->dmabuf_fd = (uint32_t)w->dmabuf_fds[b];
		p->share = (uint32_t)(rnd(w) % 3);
		p->offset = (rnd(w) % pages) * MCX_PAGE;
		p->length = (1 + rnd(w) % (pages - p->offset / MCX_PAGE)) * MCX_PAGE;
		p->name = chance(w, 50) ? sane_name(w) : 0;
		break;
	}
	case MCXFER_IOC_UNPIN:
		((struct mcxfer_unpin *)arg)->id = rnd_id(w);
		break;
	case MCXFER_IOC_LOOKUP: {
		struct mcxfer_lookup *l = (void *)arg;

		l->flags = (uint32_t)rnd(w) & MCXFER_LOOKUP_FLAGS;
		if (chance(w, 50))
			l->name = sane_name(w);
		else
			l->id = rnd_id(w);
		if (l->flags & MCXFER_LOOKUP_OWNER)
			l->owner_uid = rnd_uid(w);
		break;
	}
	case MCXFER_IOC_PUBLISH_MR: {
		struct mcxfer_publish_mr *p = (void *)arg;

		p->id = rnd_id(w);
		p->uverbs_fd = rnd_fd(w);
		p->length = MCX_PAGE;
		break;
	}
	case MCXFER_IOC_GET_MR:
		((struct mcxfer_get_mr *)arg)->id = rnd_id(w);
		break;
	case MCXFER_IOC_LIST: {
		struct mcxfer_list *l = (void *)arg;

		l->cursor = chance(w, 70) ? 0 : rnd_id(w);
		l->entries = (uintptr_t)w->scratch;
		l->entry_size = (uint32_t)(chance(w, 70) ? sizeof(struct mcxfer_entry_info)
							: 1 + rnd(w) % 300);
		l->count = (uint32_t)(rnd(w) % (w->scratch_len / l->entry_size + 1));
		break;
	}
	case MCXFER_IOC_EVICT: {
		struct mcxfer_evict *e = (void *)arg;

		if (chance(w, 40))
			e->flags = MCXFER_EVICT_IDLE;
		else
			e->flags = chance(w, 50) ? MCXFER_EVICT_REVOKE : 0;
		if (e->flags != MCXFER_EVICT_IDLE)
			e->id = rnd_id(w);
		break;
	}
	case MCXFER_IOC_QUERY_DEVICE:
		((struct mcxfer_device_info *)arg)->ibdev = (uintptr_t)"rxe0";
		break;
	case MCXFER_IOC_PUBLISH_CTX:
		((struct mcxfer_ctx *)arg)->uverbs_fd = rnd_fd(w);
		break;
	case MCXFER_IOC_GET_CTX:
		((struct mcxfer_ctx *)arg)->ibdev = (uintptr_t)"rxe0";
		break;
	case MCXFER_IOC_LIST_HOLDERS: {
		struct mcxfer_holders *h = (void *)arg;

		h->id = rnd_id(w);
		h->holders = (uintptr_t)w->scratch;
		h->holder_size = (uint32_t)(chance(w, 70) ? sizeof(struct mcxfer_holder_info)
							 : 1 + rnd(w) % 64);
		h->count = (uint32_t)(rnd(w) % (w->scratch_len / h->holder_size + 1));
		break;
	}
	default:
		break;
	}
	if (chance(w, 15))
		usize += (uint32_t)(8 * (1 + rnd(w) % ((room - size) / 8 - 1)));
	memcpy(arg, &usize, sizeof(usize));
}

/*
 * Make the argument of command c in arg (8-byte aligned, room bytes): the
 * struct, random or zero bytes after it.  When the whole struct fits, its
 * size word is set last.
 */
static void fill(struct worker *w, unsigned int c, unsigned char *arg, size_t room)
{
	size_t size = cmd_sizes[c];
	uint32_t usize;

	if (room >= size + ROOM_EXTRA && chance(w, 40)) {
		fill_sane(w, c, arg, room);
		return;
	}
	for (size_t i = 0; i < room; i++)
		arg[i] = chance(w, 50) ? 0 : (unsigned char)rnd(w);
	if (chance(w, 10))
		return;		/* all random */
	/* A zero tail most of the time, so that larger sizes get past E2BIG. */
	if (room > size && chance(w, 70))
		memset(arg + size, 0, room - size);
	if (chance(w, 70))
		memset(arg, 0, size < room ? size : room);
	if (room < size)
		return;
	switch (cmds[c]) {
	case MCXFER_IOC_PIN: {
		struct mcxfer_pin *p = (void *)arg;

		p->flags = rnd_flags(w, MCXFER_PIN_FLAGS);
		p->dmabuf_fd = rnd_fd(w);
		p->share = (uint32_t)(chance(w, 80) ? rnd(w) % 3 : rnd(w));
		p->offset = rnd_u64_small(w, MCX_PAGE);
		p->length = rnd_u64_small(w, MCX_PAGE);
		p->name = chance(w, 50) ? 0 : rnd_name(w);
		p->ibdev = chance(w, 80) ? 0 : (chance(w, 50) ? (uintptr_t)"rxe0" : rnd_name(w));
		break;
	}
	case MCXFER_IOC_UNPIN:
		((struct mcxfer_unpin *)arg)->id = rnd_id(w);
		break;
	case MCXFER_IOC_LOOKUP: {
		struct mcxfer_lookup *l = (void *)arg;

		l->flags = rnd_flags(w, MCXFER_LOOKUP_FLAGS);
		l->name = chance(w, 50) ? 0 : rnd_name(w);
		l->id = chance(w, 80) && l->name ? 0 : rnd_id(w);
		if (l->flags & MCXFER_LOOKUP_OWNER)
			l->owner_uid = rnd_uid(w);
		break;
	}
	case MCXFER_IOC_PUBLISH_MR: {
		struct mcxfer_publish_mr *p = (void *)arg;

		p->id = rnd_id(w);
		p->uverbs_fd = rnd_fd(w);
		p->pd_handle = (uint32_t)(rnd(w) % 4);
		p->mr_handle = (uint32_t)(rnd(w) % 4);
		p->length = rnd_u64_small(w, MCX_PAGE);
		break;
	}
	case MCXFER_IOC_GET_MR: {
		struct mcxfer_get_mr *g = (void *)arg;

		g->id = rnd_id(w);
		g->ibdev = chance(w, 50) ? 0 : (chance(w, 50) ? (uintptr_t)"rxe0" : rnd_name(w));
		g->index = (uint32_t)(rnd(w) % 3);
		break;
	}
	case MCXFER_IOC_LIST: {
		struct mcxfer_list *l = (void *)arg;

		l->cursor = chance(w, 50) ? 0 : rnd_id(w);
		l->entries = chance(w, 50) ? (uintptr_t)w->scratch : rnd_ptr(w);
		l->entry_size = (uint32_t)(chance(w, 50) ? sizeof(struct mcxfer_entry_info)
							: rnd(w) % 512);
		l->count = (uint32_t)(chance(w, 80) ? rnd(w) % 4 : rnd(w));
		/* The scratch area holds 4 full records; more would be ours to lose. */
		if (l->entries == (uintptr_t)w->scratch &&
		    (uint64_t)l->entry_size * l->count > w->scratch_len)
			l->count = (uint32_t)(w->scratch_len / (l->entry_size ? l->entry_size : 1));
		break;
	}
	case MCXFER_IOC_EVICT: {
		struct mcxfer_evict *e = (void *)arg;

		e->flags = rnd_flags(w, MCXFER_EVICT_FLAGS);
		e->id = chance(w, 50) ? 0 : rnd_id(w);
		break;
	}
	case MCXFER_IOC_QUERY_DEVICE:
		((struct mcxfer_device_info *)arg)->ibdev =
			chance(w, 50) ? (uintptr_t)"rxe0" : rnd_name(w);
		break;
	case MCXFER_IOC_PUBLISH_CTX:
	case MCXFER_IOC_GET_CTX: {
		struct mcxfer_ctx *x = (void *)arg;

		x->ibdev = chance(w, 50) ? 0 : (chance(w, 50) ? (uintptr_t)"rxe0" : rnd_name(w));
		x->uverbs_fd = chance(w, 50) ? 0 : rnd_fd(w);
		x->pd_handle = (uint32_t)(rnd(w) % 4);
		break;
	}
	case MCXFER_IOC_LIST_HOLDERS: {
		struct mcxfer_holders *h = (void *)arg;

		h->id = chance(w, 80) ? rnd_id(w) : 0;
		h->holders = chance(w, 50) ? (uintptr_t)w->scratch : rnd_ptr(w);
		h->holder_size = (uint32_t)(chance(w, 50) ? sizeof(struct mcxfer_holder_info)
							 : rnd(w) % 512);
		h->count = (uint32_t)(chance(w, 80) ? rnd(w) % 4 : rnd(w));
		/* The scratch area is ours; larger requests would overrun it. */
		if (h->holders == (uintptr_t)w->scratch &&
		    (uint64_t)h->holder_size * h->count > w->scratch_len)
			h->count = (uint32_t)(w->scratch_len / (h->holder_size ? h->holder_size : 1));
		break;
	}
	default:
		break;
	}
	usize = rnd_size(w, size);
	memcpy(arg, &usize, sizeof(usize));
}

static bool errno_allowed(int err)
{
	switch (err) {
	case EINVAL: case E2BIG: case EFAULT: case EBADF: case ENOENT:
	case ENAMETOOLONG: case EEXIST: case EBUSY: case EPERM: case ERANGE:
	case EOVERFLOW: case ENODEV: case ENOSPC: case EDQUOT: case ENOMEM:
	case EOPNOTSUPP: case EACCES: case EIDRM:
		return true;
	default:
		return false;
	}
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* A fixed-size string field: NUL-terminated, and only NULs after the first. */
static bool nul_padded(const void *p, size_t n)
{
	const char *s = p;
	size_t len = strnlen(s, n);

	return len < n && all_zero(s + len, n - len);
}

/* Is fd open, close-on-exec, and is its file what /proc names prefix? */
static bool fd_is(int fd, const char *prefix)
{
	char path[64], link[256];
	ssize_t n;
	int fl;

	if (fd < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	fl = fcntl(fd, F_GETFD);
	return fl >= 0 && (fl & FD_CLOEXEC) && !strncmp(link, prefix, strlen(prefix));
}

/* An fd we had before the call: a new one handed out must not be one of them. */
static bool fd_known(const struct worker *w, int fd)
{
	for (unsigned int k = 0; k < w->nr_pool_fds; k++)
		if (w->pool_fds[k] == fd)
			return true;
	return false;
}

#define RESERVED_ZERO(w, slot, s, field)					\
	do {									\
		if (!all_zero(&(s)->field, sizeof((s)->field)))			\
			oracle_fail(w, slot, "%s is not zero", #field);		\
	} while (0)

static void check_info(struct worker *w, const struct mcxfer_info *o, uint32_t usize)
{
	RESERVED_ZERO(w, 0, o, reserved);
	if (o->size != usize && o->size != sizeof(*o))
		oracle_fail(w, 0, "size %u back for %u passed", o->size, usize);
	if (o->entries != o->entries_active + o->entries_linger + o->entries_dead)
		oracle_fail(w, 0, "entries %llu != active %llu + linger %llu + dead %llu",
			    (unsigned long long)o->entries,
			    (unsigned long long)o->entries_active,
			    (unsigned long long)o->entries_linger,
			    (unsigned long long)o->entries_dead);
}

static void check_pin(struct worker *w, const struct mcxfer_pin *i, const struct mcxfer_pin *o)
{
	RESERVED_ZERO(w, 1, o, reserved0);
	RESERVED_ZERO(w, 1, o, reserved);
	if (!o->id)
		oracle_fail(w, 1, "id 0");
	if (o->out_flags & ~MCXFER_PIN_OUT_HIT)
		oracle_fail(w, 1, "unknown out_flags 0x%x", o->out_flags);
	if (o->dmabuf_fd != i->dmabuf_fd || o->offset != i->offset ||
	    o->length != i->length || o->name != i->name || o->ibdev != i->ibdev)
		oracle_fail(w, 1, "input fields changed");
	if (o->id)
		id_add(o->id);
}

static void check_lookup(struct worker *w, const struct mcxfer_lookup *i,
			 const struct mcxfer_lookup *o)
{
	RESERVED_ZERO(w, 3, o, reserved);
	if (!o->id || (!i->name && o->id != i->id))
		oracle_fail(w, 3, "id %llu for %llu asked", (unsigned long long)o->id,
			    (unsigned long long)i->id);
	if (o->state > MCXFER_STATE_DEAD || o->share > MCXFER_SHARE_ALL)
		oracle_fail(w, 3, "state %u share %u", o->state, o->share);
	if (!o->length || o->offset + o->length < o->offset ||
	    o->offset + o->length > o->dmabuf_size)
		oracle_fail(w, 3, "range %llu+%llu of a dma-buf of %llu",
			    (unsigned long long)o->offset, (unsigned long long)o->length,
			    (unsigned long long)o->dmabuf_size);
	/* Names are scoped per owner: a name finds our own entry, or owner_uid's. */
	if (i->name) {
		uint32_t want = i->flags & MCXFER_LOOKUP_OWNER ? i->owner_uid : (uint32_t)my_uid;

		if (o->owner_uid != want)
			oracle_fail(w, 3, "name found an entry of uid %u, not of %u",
				    o->owner_uid, want);
	}
	if (i->flags & MCXFER_LOOKUP_EXPORT_FD) {
		if (fd_is((int)o->fd, "/dmabuf:") && !fd_known(w, (int)o->fd))
			close((int)o->fd);
		else
			oracle_fail(w, 3, "EXPORT_FD gave fd %u, not a new close-on-exec dma-buf", o->fd);
	} else if (o->fd) {
		oracle_fail(w, 3, "fd %u without EXPORT_FD", o->fd);
	}
	if (i->flags & MCXFER_LOOKUP_REF)
		id_add(o->id);
}

static void check_get_mr(struct worker *w, const struct mcxfer_get_mr *o)
{
	RESERVED_ZERO(w, 5, o, reserved0);
	RESERVED_ZERO(w, 5, o, reserved);
	if (!nul_padded(o->ibdev_name, sizeof(o->ibdev_name)))
		oracle_fail(w, 5, "ibdev_name is not NUL-padded");
	if (fd_is((int)o->uverbs_fd, "/dev/infiniband/uverbs") && !fd_known(w, (int)o->uverbs_fd))
		close((int)o->uverbs_fd);
	else
		oracle_fail(w, 5, "uverbs_fd %u is not a new close-on-exec uverbs file", o->uverbs_fd);
}

/* One LIST record of entry_size bytes: a prefix of the struct, zeros after. */
static void check_record(struct worker *w, const unsigned char *rec, uint32_t es,
			 uint64_t *last)
{
	struct mcxfer_entry_info e;
	size_t n = es < sizeof(e) ? es : sizeof(e);

#define HAS(f) (offsetof(struct mcxfer_entry_info, f) + sizeof(e.f) <= n)
	memset(&e, 0, sizeof(e));
	memcpy(&e, rec, n);
	if (es > sizeof(e) && !all_zero(rec + sizeof(e), es - sizeof(e)))
		oracle_fail(w, 6, "record bytes past sizeof(struct mcxfer_entry_info) not zero");
	if (HAS(id)) {
		if (e.id <= *last)
			oracle_fail(w, 6, "id %llu after %llu", (unsigned long long)e.id,
				    (unsigned long long)*last);
		*last = e.id;
	}
	if (HAS(share) && e.share > MCXFER_SHARE_ALL)
		oracle_fail(w, 6, "share %u", e.share);
	if (HAS(state) && e.state > MCXFER_STATE_DEAD)
		oracle_fail(w, 6, "state %u", e.state);
	if (HAS(flags) && (e.flags & ~MCXFER_PIN_FLAGS))
		oracle_fail(w, 6, "flags 0x%x", e.flags);
	if (HAS(name) && !nul_padded(e.name, sizeof(e.name)))
		oracle_fail(w, 6, "name is not NUL-padded");
	if (HAS(exporter) && !nul_padded(e.exporter, sizeof(e.exporter)))
		oracle_fail(w, 6, "exporter is not NUL-padded");
	if (HAS(ibdev) && !nul_padded(e.ibdev, sizeof(e.ibdev)))
		oracle_fail(w, 6, "ibdev is not NUL-padded");
	if (HAS(pinned_bytes) && HAS(state) && e.state == MCXFER_STATE_DEAD && e.pinned_bytes)
		oracle_fail(w, 6, "dead entry %llu pins %llu bytes", (unsigned long long)e.id,
			    (unsigned long long)e.pinned_bytes);
	if (HAS(reserved0) && e.reserved0)
		oracle_fail(w, 6, "reserved0 is not zero");
#undef HAS
}

static void check_list(struct worker *w, const struct mcxfer_list *i, const struct mcxfer_list *o)
{
	uintptr_t s = (uintptr_t)w->scratch, p = (uintptr_t)i->entries;
	uint64_t last = 0;
	size_t off, end;

	RESERVED_ZERO(w, 6, o, reserved);
	if (o->count > i->count) {
		oracle_fail(w, 6, "count %u back for a capacity of %u", o->count, i->count);
		return;
	}
	if (o->entries != i->entries || o->entry_size != i->entry_size)
		oracle_fail(w, 6, "input fields changed");
	/* Only a buffer in the scratch area can be checked. */
	if (p < s || p >= s + w->scratch_len)
		return;
	off = p - s;
	end = off + (size_t)o->count * i->entry_size;
	if (end > w->scratch_len) {
		oracle_fail(w, 6, "%u records of %u bytes do not fit where they were written",
			    o->count, i->entry_size);
		return;
	}
	for (size_t k = 0; k < w->scratch_len; k++) {
		if ((k < off || k >= end) && w->scratch[k] != canary(k)) {
			oracle_fail(w, 6, "byte %zd of the buffer written; count %u x %u bytes",
				    (ssize_t)k - (ssize_t)off, o->count, i->entry_size);
			break;
		}
	}
	last = i->cursor ? i->cursor - 1 : 0;
	for (uint32_t k = 0; k < o->count; k++)
		check_record(w, w->scratch + off + (size_t)k * i->entry_size, i->entry_size, &last);
	if (o->count && o->cursor && i->entry_size >= sizeof(uint64_t) && o->cursor <= last)
		oracle_fail(w, 6, "cursor %llu does not move past id %llu",
			    (unsigned long long)o->cursor, (unsigned long long)last);
}

/*
 * The oracle of one call made with the whole struct at its place: in is
 * what went in (canary after the caller's size), out what came back.
 */
static void check_call(struct worker *w, unsigned int c, const unsigned char *in,
		       const unsigned char *out, size_t room, int r)
{
	size_t ksize = cmd_sizes[c];
	uint32_t usize;

	memcpy(&usize, in, sizeof(usize));
	for (size_t k = usize; k < room; k++) {
		if (out[k] != in[k]) {
			oracle_fail(w, c, "byte %zu written past the size %u passed (%s)", k,
				    usize, r ? ename(-r) : "success");
			break;
		}
	}
	if (r)
		return;
	if (usize > ksize && !all_zero(out + ksize, (usize < room ? usize : room) - ksize))
		oracle_fail(w, c, "bytes past the kernel's struct (%zu) but within %u not zero",
			    ksize, usize);
	switch (cmds[c]) {
	case MCXFER_IOC_GET_INFO:
		check_info(w, (const void *)out, usize);
		break;
	case MCXFER_IOC_PIN:
		check_pin(w, (const void *)in, (const void *)out);
		break;
	case MCXFER_IOC_UNPIN:
		RESERVED_ZERO(w, c, (const struct mcxfer_unpin *)out, reserved);
		break;
	case MCXFER_IOC_LOOKUP:
		check_lookup(w, (const void *)in, (const void *)out);
		break;
	case MCXFER_IOC_PUBLISH_MR: {
		const struct mcxfer_publish_mr *o = (const void *)out;

		RESERVED_ZERO(w, c, o, reserved);
		if (!o->mr_id)
			oracle_fail(w, c, "mr_id 0");
		break;
	}
	case MCXFER_IOC_GET_MR:
		check_get_mr(w, (const void *)out);
		break;
	case MCXFER_IOC_LIST:
		check_list(w, (const void *)in, (const void *)out);
		break;
	case MCXFER_IOC_EVICT: {
		const struct mcxfer_evict *i = (const void *)in, *o = (const void *)out;

		RESERVED_ZERO(w, c, o, reserved);
		if (!(i->flags & MCXFER_EVICT_IDLE) && o->evicted > 1)
			oracle_fail(w, c, "%llu evicted for one id", (unsigned long long)o->evicted);
		break;
	}
	case MCXFER_IOC_QUERY_DEVICE: {
		const struct mcxfer_device_info *o = (const void *)out;

		RESERVED_ZERO(w, c, o, reserved);
		if (o->relaxed_ordering > MCXFER_RO_DISABLED)
			oracle_fail(w, c, "relaxed_ordering %u", o->relaxed_ordering);
		if (!nul_padded(o->pci_name, sizeof(o->pci_name)))
			oracle_fail(w, c, "pci_name is not NUL-padded");
		break;
	}
	case MCXFER_IOC_PUBLISH_CTX:
	case MCXFER_IOC_GET_CTX: {
		const struct mcxfer_ctx *o = (const void *)out;

		RESERVED_ZERO(w, c, o, reserved);
		if (!o->ctx_id)
			oracle_fail(w, c, "ctx_id 0");
		if (cmds[c] != MCXFER_IOC_GET_CTX)
			break;
		if (fd_is((int)o->uverbs_fd, "/dev/infiniband/uverbs") &&
		    !fd_known(w, (int)o->uverbs_fd))
			close((int)o->uverbs_fd);
		else
			oracle_fail(w, c, "uverbs_fd %u is not a new close-on-exec uverbs file",
				    o->uverbs_fd);
		break;
	}
	case MCXFER_IOC_LIST_HOLDERS: {
		const struct mcxfer_holders *i = (const void *)in, *o = (const void *)out;

		RESERVED_ZERO(w, c, o, reserved0);
		RESERVED_ZERO(w, c, o, reserved);
		if (o->count > i->count || o->count > o->total)
			oracle_fail(w, c, "count %u for capacity %u, total %u", o->count, i->count,
				    o->total);
		break;
	}
	default:
		break;
	}
}

static void count_result(struct worker *w, unsigned int slot, int r)
{
	w->st->calls++;
	if (r >= 0)
		w->st->ok[slot]++;
	else
		w->st->counts[slot][-r <= MAX_ERRNO ? -r : 0]++;
}

static void one_call(struct worker *w, unsigned int c)
{
	unsigned char in[ROOM_MAX] __attribute__((aligned(8)));
	unsigned char out[ROOM_MAX] __attribute__((aligned(8)));
	size_t ksize = cmd_sizes[c], room = ksize + ROOM_EXTRA;
	unsigned char *arg;
	bool whole, direct;
	uint32_t usize;
	int r;

	/* Mostly whole, sometimes cut off by the faulting page. */
	if (chance(w, 90))
		arg = w->arena + MCX_PAGE - 1024;
	else
		arg = w->arena + MCX_PAGE - rnd(w) % (room + 1);
	if ((size_t)(w->arena + MCX_PAGE - arg) < room)
		room = (size_t)(w->arena + MCX_PAGE - arg);
	whole = room >= ksize;
	fill(w, c, in, room);
	if (whole) {
		/* Canary after the size the caller passes: never to be written. */
		memcpy(&usize, in, sizeof(usize));
		fill_canary(in, usize, room);
		if (cmds[c] == MCXFER_IOC_LIST)
			fill_canary(w->scratch, 0, w->scratch_len);
	}
	memcpy(arg, in, room);
	direct = !chance(w, 2);
	r = mcx_ioctl(w->mcx_fd, cmds[c], direct ? arg : (void *)(uintptr_t)rnd_ptr(w));
	count_result(w, c, r);
	if (r < 0 && !errno_allowed(-r)) {
		w->st->bad_errno++;
		wlog(w, "%s: unexpected %s", slot_names[c], ename(-r));
	}
	if (direct && whole) {
		memcpy(out, arg, room);
		check_call(w, c, in, out, room, r);
	}
}

/* A command number in or around the mcxfer range that is not a command. */
static void one_random_cmd(struct worker *w)
{
	unsigned char before[1024];
	unsigned char *arg = w->arena + MCX_PAGE - 1024;
	unsigned long cmd;
	int r;

	do {
		unsigned int type = MCXFER_IOC_TYPE - 1 + (unsigned int)(rnd(w) % 3);
		unsigned int nr = (unsigned int)(chance(w, 50) ? rnd(w) % 16 : rnd(w) % 256);
		unsigned int dir = (unsigned int)(rnd(w) % 4);
		unsigned int size = (unsigned int)(chance(w, 50) ? 0 : rnd(w) % 512);

		cmd = _IOC(dir, type, nr, size);
	} while (cmd == MCXFER_IOC_GET_INFO || cmd == MCXFER_IOC_PIN ||
		 cmd == MCXFER_IOC_UNPIN || cmd == MCXFER_IOC_LOOKUP ||
		 cmd == MCXFER_IOC_PUBLISH_MR || cmd == MCXFER_IOC_GET_MR ||
		 cmd == MCXFER_IOC_LIST || cmd == MCXFER_IOC_EVICT ||
		 cmd == MCXFER_IOC_QUERY_DEVICE || cmd == MCXFER_IOC_PUBLISH_CTX ||
		 cmd == MCXFER_IOC_GET_CTX || cmd == MCXFER_IOC_LIST_HOLDERS);
	for (size_t i = 0; i < sizeof(before); i++)
		before[i] = arg[i] = (unsigned char)rnd(w);
	r = mcx_ioctl(w->mcx_fd, cmd, arg);
	count_result(w, SLOT_RANDOM, r);
	if (r != -ENOTTY) {
		w->st->bad_errno++;
		wlog(w, "cmd 0x%lx: got %s, want ENOTTY", cmd, r >= 0 ? "success" : ename(-r));
	}
	if (memcmp(before, arg, sizeof(before)))
		oracle_fail(w, SLOT_RANDOM, "cmd 0x%lx wrote its argument", cmd);
}

/* read() of the event queue into a canary-filled buffer of a random length. */
static void one_read(struct worker *w)
{
	const size_t rec = sizeof(struct mcxfer_event);
	size_t len;
	ssize_t n;
	int err;

	if (chance(w, 10))
		len = 1 + rnd(w) % (rec - 1);	/* less than a record: EINVAL */
	else
		len = rec * (1 + rnd(w) % EV_RECORDS) + (chance(w, 20) ? rnd(w) % rec : 0);
	fill_canary(w->evbuf, 0, w->evbuf_len);
	n = read(w->mcx_fd, w->evbuf, len);
	err = n < 0 ? errno : 0;
	count_result(w, SLOT_READ, -err);
	if (n < 0) {
		if (err != EAGAIN && !(err == EINVAL && len < rec)) {
			w->st->bad_errno++;
			wlog(w, "read of %zu bytes: unexpected %s", len, ename(err));
		}
		return;
	}
	if ((size_t)n > len || n % (ssize_t)rec || !n) {
		oracle_fail(w, SLOT_READ, "read of %zu bytes returned %zd", len, n);
		return;
	}
	for (size_t k = (size_t)n; k < w->evbuf_len; k++) {
		if (w->evbuf[k] != canary(k)) {
			oracle_fail(w, SLOT_READ, "byte %zu written after the %zd returned", k, n);
			break;
		}
	}
	for (size_t k = 0; k < (size_t)n; k += rec) {
		struct mcxfer_event ev;

		memcpy(&ev, w->evbuf + k, rec);
		/* mr_id: an MR record's id, or for CTX_MR_DROPPED an MR handle. */
		if (ev.size != rec || !ev.type || ev.type > MCXFER_EVENT_CTX_MR_DROPPED ||
		    ev.reserved || (!ev.id && ev.type != MCXFER_EVENT_OVERFLOW) ||
		    (ev.mr_id && ev.type != MCXFER_EVENT_MR_REMOVED &&
		     ev.type != MCXFER_EVENT_CTX_MR_DROPPED))
			oracle_fail(w, SLOT_READ, "record size %u type %u id %llu mr_id %llu reserved %llu",
				    ev.size, ev.type, (unsigned long long)ev.id,
				    (unsigned long long)ev.mr_id, (unsigned long long)ev.reserved);
	}
}

static int open_client(struct worker *w)
{
	int fd = mcx_open();

	if (fd < 0)
		return fd;
	if (fcntl(fd, F_SETFL, O_NONBLOCK)) {
		close(fd);
		return -errno;
	}
	w->mcx_fd = w->pool_fds[0] = fd;
	return 0;
}

/* Drop what the fuzzing accumulated: our references, and idle entries. */
static void recycle(struct worker *w)
{
	long long r;

	close(w->mcx_fd);
	r = open_client(w);
	if (!r)
		r = mcx_evict_all_idle();
	if (r < 0) {
		w->st->bad_errno++;
		wlog(w, "recycling the client failed: %s", ename((int)-r));
		w->broken = true;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int r;

	w->arena = mmap(NULL, 2 * MCX_PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->arena == MAP_FAILED || mprotect(w->arena + MCX_PAGE, MCX_PAGE, PROT_NONE)) {
		wlog(w, "arena: %s", ename(errno));
		w->broken = true;
		return NULL;
	}
	w->scratch_len = 4 * sizeof(struct mcxfer_entry_info);
	w->scratch = mcx_edge_bytes(w->scratch_len);
	w->evbuf_len = (EV_RECORDS + 1) * sizeof(struct mcxfer_event);
	w->evbuf = malloc(w->evbuf_len);
	r = open_client(w);
	if (!w->evbuf || r) {
		wlog(w, "setup: %s", ename(r ? -r : ENOMEM));
		w->broken = true;
		return NULL;
	}
	for (unsigned long long i = 0; i < w->rounds && !w->broken; i++) {
		for (unsigned int c = 0; c < NR_CMDS; c++)
			one_call(w, c);
		one_random_cmd(w);
		if (chance(w, 25))
			one_read(w);
		if (i % RECYCLE_EVERY == RECYCLE_EVERY - 1)
			recycle(w);
	}
	close(w->mcx_fd);
	free(w->evbuf);
	return NULL;
}

static int proc_setup(struct proc_res *res)
{
	struct ibv_device **list;
	int n, r;

	memset(res, 0, sizeof(*res));
	res->bufs[0].fd = res->bufs[1].fd = -1;
	res->bufs[0].backing_fd = res->bufs[1].backing_fd = -1;
	r = host_dmabuf_create(4 * MCX_PAGE, &res->bufs[0]);
	if (!r)
		r = host_dmabuf_create(MCX_PAGE, &res->bufs[1]);
	if (r) {
		mt_log("dma-buf: %s", ename(-r));
		return r;
	}
	if (pipe(res->pipe_fds))
		return -errno;
	res->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	/* A verbs command fd, so that PUBLISH_MR gets past its fd check. */
	list = ibv_get_device_list(&n);
	if (list && n > 0)
		res->ctx = ibv_open_device(list[0]);
	if (list)
		ibv_free_device_list(list);
	return 0;
}

static void proc_teardown(struct proc_res *res)
{
	if (res->ctx)
		ibv_close_device(res->ctx);
	host_dmabuf_destroy(&res->bufs[0]);
	host_dmabuf_destroy(&res->bufs[1]);
	close(res->pipe_fds[0]);
	close(res->pipe_fds[1]);
	close(res->devnull);
}

/* One process: its threads share the dma-bufs and the verbs context. */
static void proc_main(unsigned int p, unsigned int nr_threads, struct worker *ws)
{
	struct proc_res res;
	pthread_t th[MAX_THREADS];
	int bad = 0;

	if (proc_setup(&res)) {
		mt_log("[process %u] setup failed", p);
		_exit(1);
	}
	if (!res.ctx && p == 0)
		mt_log("no verbs device: PUBLISH_MR fuzzed without a uverbs fd");
	for (unsigned int t = 0; t < nr_threads; t++) {
		struct worker *w = &ws[t];

		for (int b = 0; b < 2; b++) {
			w->dmabuf_fds[b] = res.bufs[b].fd;
			w->dmabuf_sizes[b] = res.bufs[b].size;
		}
		w->pool_fds[w->nr_pool_fds++] = -1;	/* slot 0: the worker's own client */
		w->pool_fds[w->nr_pool_fds++] = res.bufs[0].fd;
		w->pool_fds[w->nr_pool_fds++] = res.bufs[0].fd;
		w->pool_fds[w->nr_pool_fds++] = res.bufs[1].fd;
		w->pool_fds[w->nr_pool_fds++] = res.pipe_fds[0];
		w->pool_fds[w->nr_pool_fds++] = res.devnull;
		w->pool_fds[w->nr_pool_fds++] = -1;
		w->pool_fds[w->nr_pool_fds++] = 0;
		if (res.ctx)
			w->pool_fds[w->nr_pool_fds++] = res.ctx->cmd_fd;
		if (pthread_create(&th[t], NULL, worker_main, w)) {
			mt_log("[process %u] pthread_create failed", p);
			_exit(1);
		}
	}
	for (unsigned int t = 0; t < nr_threads; t++) {
		pthread_join(th[t], NULL);
		bad |= ws[t].broken;
	}
	proc_teardown(&res);
	fflush(NULL);
	_exit(bad ? 1 : 0);
}

static void report_counts(unsigned int nr_workers)
{
	for (unsigned int s = 0; s < NR_SLOTS; s++) {
		unsigned long long ok = 0, counts[MAX_ERRNO + 1] = { 0 };
		char line[640];
		int len;

		for (unsigned int k = 0; k < nr_workers; k++) {
			ok += sh->stats[k].ok[s];
			for (int e = 0; e <= MAX_ERRNO; e++)
				counts[e] += sh->stats[k].counts[s][e];
		}
		len = snprintf(line, sizeof(line), "%-10s ok %llu", slot_names[s], ok);
		for (int e = 0; e <= MAX_ERRNO && len < (int)sizeof(line) - 40; e++)
			if (counts[e])
				len += snprintf(line + len, sizeof(line) - (size_t)len, " %s %llu",
						ename(e), counts[e]);
		mt_log("%s", line);
	}
}

/* A plain pin and unpin of a fresh buffer: a miss, then nothing left. */
static int module_still_works(void)
{
	struct host_dmabuf b;
	uint64_t id = 0;
	uint32_t of = 7;
	int fd = mcx_open(), r;

	if (fd < 0)
		return fd;
	r = host_dmabuf_create(MCX_PAGE, &b);
	if (!r) {
		r = mcx_pin(fd, b.fd, 0, MCX_PAGE, "fuzz/after", 0, 0, &id, &of);
		if (!r)
			r = mcx_unpin(fd, id);
		if (!r && of)
			r = -EEXIST;	/* a fresh buffer must be a miss */
		host_dmabuf_destroy(&b);
	}
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	unsigned long long per_cmd = 100000, seed, one_seed = 0, total = 0, bad = 0, oracle = 0;
	unsigned int nr_procs = 2, nr_threads = 2, nr_workers, bad_exits = 0;
	bool single = false;
	struct worker *ws;
	struct mcxfer_info info;
	pid_t pids[MAX_PROCS];
	long long evicted;
	int passed = 0, failed = 0, opt, num = 0, r;

	seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 24);
	while ((opt = getopt(argc, argv, "n:j:t:s:w:")) != -1) {
		switch (opt) {
		case 'n': per_cmd = strtoull(optarg, NULL, 0); break;
		case 'j': nr_procs = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 't': nr_threads = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'w': one_seed = strtoull(optarg, NULL, 0); single = true; break;
		default:
			fprintf(stderr, "usage: %s [-n CALLS_PER_COMMAND] [-j PROCS] [-t THREADS] [-s SEED] [-w WORKER_SEED]\n",
				argv[0]);
			return 2;
		}
	}
	if (single)
		nr_procs = nr_threads = 1;
	if (!nr_procs || nr_procs > MAX_PROCS || !nr_threads || nr_threads > MAX_THREADS) {
		fprintf(stderr, "fuzz: 1..%d processes of 1..%d threads\n", MAX_PROCS, MAX_THREADS);
		return 2;
	}
	nr_workers = nr_procs * nr_threads;
	setvbuf(stdout, NULL, _IOLBF, 0);
	my_uid = geteuid();
	printf("TAP version 13\n1..5\n");
	if (single)
		mt_log("fuzz: one worker, worker seed %llu, %llu calls per command", one_seed, per_cmd);
	else
		mt_log("fuzz: seed %llu, %u processes x %u threads, %llu calls per command in all",
		       seed, nr_procs, nr_threads, per_cmd);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ws = calloc(nr_workers, sizeof(*ws));
	if (sh == MAP_FAILED || !ws) {
		perror("mmap");
		return 1;
	}
	/* The faulting page every process and thread points at: made once, inherited. */
	mcx_fault_page();
	for (unsigned int k = 0; k < nr_workers; k++) {
		struct worker *w = &ws[k];

		w->proc = k / nr_threads;
		w->thread = k % nr_threads;
		w->seed = single ? one_seed : worker_seed(seed, w->proc, w->thread);
		w->rng = w->seed | 1;
		w->rounds = per_cmd / nr_workers + (k < per_cmd % nr_workers);
		w->st = &sh->stats[k];
		if (!single)
			mt_log("worker %u.%u: seed %llu, %llu calls per command", w->proc, w->thread,
			       (unsigned long long)w->seed, w->rounds);
	}

	for (unsigned int p = 0; p < nr_procs; p++) {
		fflush(NULL);
		pids[p] = fork();
		if (pids[p] == 0)
			proc_main(p, nr_threads, ws + p * nr_threads);
		if (pids[p] < 0) {
			perror("fork");
			bad_exits++;
		}
	}
	for (unsigned int p = 0; p < nr_procs; p++) {
		int st;

		if (pids[p] < 0)
			continue;
		while (waitpid(pids[p], &st, 0) < 0) {
			if (errno != EINTR) {
				st = -1;
				break;
			}
		}
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st)) {
			bad_exits++;
			if (st != -1 && WIFSIGNALED(st))
				mt_log("process %u killed by signal %d", p, WTERMSIG(st));
			else
				mt_log("process %u failed", p);
		}
	}
	report_counts(nr_workers);
	for (unsigned int k = 0; k < nr_workers; k++) {
		total += sh->stats[k].calls;
		bad += sh->stats[k].bad_errno;
		oracle += sh->stats[k].oracle;
	}
	mt_log("%llu calls", total);

	num++;
	if (bad_exits) {
		printf("not ok %d fuzz_workers_finished # %u processes failed or crashed\n", num,
		       bad_exits);
		failed++;
	} else {
		printf("ok %d fuzz_workers_finished\n", num);
		passed++;
	}
	num++;
	if (bad) {
		printf("not ok %d fuzz_errnos # %llu calls failed with an errno the ABI does not allow\n",
		       num, bad);
		failed++;
	} else {
		printf("ok %d fuzz_errnos\n", num);
		passed++;
	}
	num++;
	if (oracle) {
		printf("not ok %d fuzz_oracle # %llu results the ABI does not allow\n", num, oracle);
		failed++;
	} else {
		printf("ok %d fuzz_oracle\n", num);
		passed++;
	}

	num++;
	evicted = mcx_evict_all_idle();
	r = evicted < 0 ? (int)evicted : module_still_works();
	if (r) {
		printf("not ok %d fuzz_module_still_works # %s\n", num, ename(-r));
		failed++;
	} else {
		printf("ok %d fuzz_module_still_works\n", num);
		passed++;
	}

	/* Every worker's fd is closed: once idle entries are evicted, nothing is left. */
	num++;
	memset(&info, 0, sizeof(info));
	evicted = mcx_evict_all_idle();
	r = evicted < 0 ? (int)evicted : mcx_info_global(&info);
	if (!r && info.entries == 0 && info.entries_active == 0 && info.entries_linger == 0 &&
	    info.entries_dead == 0 && info.bytes_pinned == 0 && info.attachments == 0 &&
	    info.mrs == 0 && info.clients == 1) {
		printf("ok %d fuzz_all_released\n", num);
		passed++;
	} else {
		printf("not ok %d fuzz_all_released # %s: entries %llu (active %llu linger %llu dead %llu) bytes %llu attachments %llu mrs %llu clients %llu\n",
		       num, r ? ename(-r) : "left", (unsigned long long)info.entries,
		       (unsigned long long)info.entries_active,
		       (unsigned long long)info.entries_linger,
		       (unsigned long long)info.entries_dead,
		       (unsigned long long)info.bytes_pinned,
		       (unsigned long long)info.attachments, (unsigned long long)info.mrs,
		       (unsigned long long)info.clients);
		failed++;
	}
	if (single)
		mt_log("worker seed %llu", one_seed);
	else if (failed)
		mt_log("seed %llu; replay: -s %llu -n %llu -j %u -t %u, or one worker: -w WORKER_SEED -n ITS_CALLS",
		       seed, seed, per_cmd, nr_procs, nr_threads);
	else
		mt_log("seed %llu", seed);
	printf("%d passed, %d failed, 0 skipped\n", passed, failed);
	return failed ? 1 : 0;
}
