/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/mem: local registrations, the registration worker pool and the
 * interval cache of live registrations.
 */
#ifndef MCXFER_LIB_MEM_MEM_H
#define MCXFER_LIB_MEM_MEM_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "transport/transport.h"

struct mcx_regcache_ent;
struct mcx_registry;
struct mcx_reg_event;

/* ------------------------------------------------------------------ */
/* Local registrations (mem.c, regpool.c, regcache.c)                  */
/* ------------------------------------------------------------------ */

enum mcx_mem_kind {
	MCX_MEM_HOST = 0,		/* process memory, by virtual address */
	MCX_MEM_DMABUF = 1,		/* a dma-buf range, by the iova its owner chose */
	/* CUDA device memory by its device address: a dma-buf the library
	 * exported (dmabuf_fd, owned) or, without one, the address itself
	 * registered through nvidia-peermem (dmabuf_fd -1).  cuda.c, kind.c. */
	MCX_MEM_CUDA_DEV = 2,
};

struct mcx_memspace;

/* How a slot's MR came to be, which decides how it is let go of. */
enum mcx_mem_mr_origin {
	MCX_MR_OWN = 0,			/* mr_reg here, never shared: mr_dereg */
	MCX_MR_HANDLED = 1,		/* mr_reg here, handles taken, not published: mr_destroy */
	MCX_MR_PUBLISHED = 2,		/* mr_reg here and published: it outlives us */
	MCX_MR_IMPORTED = 3,		/* another engine's, imported: mr_dereg lets go */
};

/* One chunk's registration on one device. */
struct mcx_mem_mr {
	struct mcx_tp_mr *mr;		/* NULL until registered */
	uint64_t rkey;			/* what peers name it by (exported only) */
	void *desc;			/* what a local post passes */
	uint32_t origin;		/* enum mcx_mem_mr_origin */
	uint32_t handle;		/* its handle in the shared context (not OWN) */
	uint64_t record;		/* the registry's mr_id (PUBLISHED, IMPORTED) */
};

/* What a named registration holds besides its MRs (named.c). */
struct mcx_mem_named {
	uint64_t entry;			/* /dev/mcxfer entry id, one reference held */
	int fd;				/* our dma-buf fd of the entry (owned) */
	void *map;			/* our mapping of it, or NULL */
	size_t map_len;
	bool warm;			/* every MR imported, none registered here */
	/*
	 * Imported MRs that serve peers only (desc NULL: a device that
	 * joined the shared context without import) get MRs of our own on
	 * the first local use (mcx__mem_local_ready), all at once.
	 */
	bool need_local;
	atomic_bool local_ready;
	pthread_mutex_t local_lock;
	struct mcx_mem *local;		/* the private MRs, same chunks; not indexed */
	int local_err;			/* why that failed (logged once); 0: not tried */
};

/*
 * A registration: [addr, addr + len) split into nr_chunks chunks of
 * chunk_size bytes (the last one shorter), each registered with every NIC.
 * addr is the address transfers use: the virtual address for host memory,
 * the iova for a dma-buf.
 */
struct mcx_mem {
	struct mcx_memspace *ms;
	uint64_t id;			/* unique in the engine, never reused */
	enum mcx_mem_kind kind;
	uint64_t addr;
	uint64_t len;
	uint64_t chunk_size;
	uint32_t nr_chunks;
	uint32_t nr_nics;		/* devices when registered */
	unsigned int flags;		/* MCX_MEM_*: EXPORT decides access and advertising */
	struct mcx_mem_mr *mrs;		/* [chunk * nr_nics + device] */
	int dmabuf_fd;			/* -1 for host memory */
	uint64_t dmabuf_offset;
	atomic_int refs;		/* under cache->lock once cached */
	bool cached;			/* in ms->cache's index */
	/*
	 * The address its MRs were registered at: addr for memory registered
	 * here; for memory whose MRs another process registered at its own
	 * mapping, that process's address.  Transfers name the memory by addr
	 * and post at iova + (address - addr).
	 */
	uint64_t iova;
	struct mcx_mem_named *named;	/* NULL unless named */
	/* Bit per device: the NICs its MRs exist on (all but for GPU memory,
	 * which goes to the NICs nearest its GPU).  Set before the
	 * registration is published, never changed after: what peers are
	 * told (the handshake advertises these NICs' keys). */
	uint32_t nics;
	/*
	 * GPU memory: the NICs beyond nics it was registered on lazily, for
	 * this process's own requests only (no remote access, never
	 * advertised), when a peer was reachable from none of nics
	 * (mcx__mem_cuda_widen).  A bit is set (release) only after every
	 * chunk's MR of its NIC is in mrs[]; readers load it with acquire
	 * and may then read those slots.  The rest under lazy_lock.
	 */
	atomic_uint_fast32_t lazy_nics;
	pthread_mutex_t lazy_lock;
	uint32_t lazy_failed;		/* NICs whose lazy registration failed */
	int lazy_err;			/* and why (logged once, returned again) */
	/* MCX_MEM_CUDA_DEV: what the driver said of it when registered.
	 * The buffer id is never reused by CUDA, so a registration whose id
	 * differs from the memory's now is of freed memory. */
	uint64_t cuda_buffer_id;
	int cuda_ordinal;
	void *cuda_ctx;
	/* Its registry entry is gone: not advertised, MRs destroyed, new
	 * requests fail with -EIDRM.  Set under ms->kill_lock (write). */
	atomic_bool dead;
};

/* The address to post for addr inside m (its registration's iova space). */
static inline uint64_t mcx__mem_iova_of(const struct mcx_mem *m, uint64_t addr)
{
	return addr - m->addr + m->iova;
}

/* The registration of (chunk, device) and the chunk index of an address. */
static inline const struct mcx_mem_mr *mcx__mem_mr(const struct mcx_mem *m, uint32_t chunk,
						   unsigned int dev)
{
	return &m->mrs[(size_t)chunk * m->nr_nics + dev];
}

static inline uint32_t mcx__mem_chunk_of(const struct mcx_mem *m, uint64_t addr)
{
	return (uint32_t)((addr - m->addr) / m->chunk_size);
}

/* The chunk size of new registrations: the configured size capped by
 * every device's max_mr_size. */
uint64_t mcx__mem_chunk_size(const struct mcx_memspace *ms);

/*
 * Whether m's registrations grant peers access: only an MCX_MEM_EXPORT
 * registration does; the others are registered for local access only, so
 * that a key a peer guesses or kept from an earlier registration reaches
 * nothing.
 */
static inline bool mcx__mem_remote(const struct mcx_mem *m)
{
	return m->flags & MCX_MEM_EXPORT;
}

/* Deregister every MR of m and free it (refs must have reached 0). */
void mcx__mem_destroy(struct mcx_mem *m);

/* Drop one reference (from mcx__regcache_find/get); the last destroys m. */
void mcx__mem_put(struct mcx_mem *m);

/*
 * The live MCX_MEM_EXPORT registrations, up to max of them into out, each
 * with a reference the caller drops with mcx__mem_put(); the number copied,
 * or the number live when out is NULL.  Local-only registrations are never
 * listed: this is what the handshake advertises to peers.
 */
size_t mcx__mem_list_exported(struct mcx_memspace *ms, struct mcx_mem **out, size_t max);

/*
 * The registration of kind containing [addr, addr + len), for a transfer's
 * local side (any export bit), with a reference; NULL if none.
 */
struct mcx_mem *mcx__mem_find(struct mcx_memspace *ms, uint64_t addr, uint64_t len);

/* Like mcx__mem_find, but only an exported registration of kind. */
struct mcx_mem *mcx__mem_find_exported(struct mcx_memspace *ms, enum mcx_mem_kind kind,
				       uint64_t addr, uint64_t len);

/*
 * Register reqs[0..n) (the public mcx_mem_register_batch() of an engine):
 * out[i] gets a reference each, or on any error nothing is left behind.
 */
int mcx__mem_register_batch(struct mcx_memspace *ms, const struct mcx_mem_req *reqs, size_t n,
			    struct mcx_mem **out);

/* Deregister every registration still live (engine destruction). */
void mcx__mem_drop_all(struct mcx_memspace *ms);

/* -- regpool.c: registration worker pool -- */

/* One chunk × NIC registration. */
struct mcx_reg_job {
	struct mcx_mem *mem;
	uint32_t chunk;
	unsigned int dev;
	bool local_only;		/* no remote access, whatever mem's flags */
};

struct mcx_regpool;

/*
 * A pool of nthreads workers (0 is not allowed), started by the first
 * mcx__regpool_run() (regpool.c says why).
 */
int mcx__regpool_create(unsigned int nthreads, struct mcx_regpool **out);
void mcx__regpool_destroy(struct mcx_regpool *pool);
/* The pool's size. */
unsigned int mcx__regpool_threads(const struct mcx_regpool *pool);
/* Its workers running now: 0 until the first run. */
unsigned int mcx__regpool_started(struct mcx_regpool *pool);

/*
 * Run jobs[0..n) on the pool and wait for all of them.  Each job registers
 * its chunk into mem->mrs.  On any failure the remaining jobs are skipped,
 * every MR already made by this call is deregistered (mrs[] back to NULL)
 * and the first error is returned; -errno without running any when not one
 * worker could be started.
 */
int mcx__regpool_run(struct mcx_regpool *pool, struct mcx_reg_job *jobs, size_t n);

/* Register one job in the calling thread (what the workers call). */
int mcx__reg_job_do(struct mcx_reg_job *job);

/* -- regcache.c: interval index of live registrations -- */

/*
 * Host registrations are indexed by virtual address and dma-buf ones by the
 * iova their caller chose, yet a transfer names local memory by a bare
 * address (mcx__regcache_find), so the two kinds share one address space:
 * the index never holds overlapping registrations of different kinds.
 * Registrations of one kind may overlap.
 */
struct mcx_regcache {
	pthread_mutex_t lock;
	struct mcx_regcache_ent *v;	/* sorted by addr, then len */
	uint64_t *maxend;		/* maxend[i] = max end of v[0..i] */
	size_t n, cap;
	uint64_t hits, misses;
	/* Failure injection for tests only (mcx__regcache_fail_insert). */
	size_t fail_in;			/* 0: off; else entries left, this one fails */
	void (*fail_cb)(void *arg);
	void *fail_arg;
};

int mcx__regcache_init(struct mcx_regcache *c);
/* Entries still inside are not freed (the engine deregisters them first). */
void mcx__regcache_destroy(struct mcx_regcache *c);

/*
 * A live registration of kind that contains [addr, addr + len), is not
 * MCX_MEM_NO_CACHE and has the same MCX_MEM_EXPORT bit as flags, with one
 * more reference (the most recent such one); NULL if none.  Counts a hit or
 * a miss.  The export bit must match both ways: an export request must not
 * get MRs without remote access, and a local-only request must not hold an
 * exported registration (and its advertisement to peers) alive after its
 * owner deregistered it.
 */
struct mcx_mem *mcx__regcache_get(struct mcx_regcache *c, enum mcx_mem_kind kind,
				  unsigned int flags, uint64_t addr, uint64_t len);

/*
 * A live registration of kind containing [addr, addr + len), cached or
 * not, exported when flags has MCX_MEM_EXPORT; with a reference; no
 * hit/miss counting (the same-process short-cut checks with it).
 */
struct mcx_mem *mcx__regcache_get_any(struct mcx_regcache *c, enum mcx_mem_kind kind,
				      unsigned int flags, uint64_t addr, uint64_t len);

/*
 * mcx__regcache_get() of CUDA device memory: only a registration of the
 * allocation with buffer_id, so that memory freed and allocated again at
 * the same address never gets the old one's MRs.  Live registrations of
 * the range with another buffer id are marked dead on the way (unlisted,
 * unusable; their owners still deregister them).
 */
struct mcx_mem *mcx__regcache_get_cuda(struct mcx_regcache *c, unsigned int flags,
				       uint64_t addr, uint64_t len, uint64_t buffer_id);

/*
 * Like get, for the data path: any kind and any flags, and no hit/miss
 * counting.  Unambiguous across kinds, since kinds never overlap.
 */
struct mcx_mem *mcx__regcache_find(struct mcx_regcache *c, uint64_t addr, uint64_t len);

/*
 * -EEXIST (logged, naming both ranges) if a live registration of another
 * kind than m's overlaps m's range; 0 otherwise.  A check before the
 * devices are asked: insertion checks again, under the same lock hold as it
 * inserts.
 */
int mcx__regcache_check(struct mcx_regcache *c, const struct mcx_mem *m);

/*
 * Add ms[0..n) (each refs >= 1) to the index, all or none: the capacity is
 * reserved and every entry checked before the lock is dropped, so no other
 * thread sees any of them unless all went in, and a caller that gets an
 * error still owns every one of them alone.  -EINVAL (bad entry), -ENOMEM,
 * -EEXIST (logged: overlaps a registration of another kind, live or earlier
 * in ms).
 */
int mcx__regcache_insert_all(struct mcx_regcache *c, struct mcx_mem **ms, size_t n);

/* mcx__regcache_insert_all() of one. */
int mcx__regcache_insert(struct mcx_regcache *c, struct mcx_mem *m);

/*
 * Tests only: the nth entry inserted from now on (1: the next one) fails
 * with -ENOMEM as if the index could not grow, and so does everything
 * inserted with it by the same call.  cb(arg), if set, runs when that
 * happens, without the cache lock, before the call returns: what it finds
 * in the cache is what another thread could have found at that moment.
 * nth 0 turns the injection off.
 */
void mcx__regcache_fail_insert(struct mcx_regcache *c, size_t nth,
			       void (*cb)(void *arg), void *arg);

/*
 * Drop one reference.  Returns the references left; at 0 m has been removed
 * from the index and the caller destroys it.  -EINVAL if m had none.
 */
int mcx__regcache_put(struct mcx_regcache *c, struct mcx_mem *m);

/* Copy up to max live entries (each with one more reference) to out; the
 * number copied, or the number live when out is NULL. */
size_t mcx__regcache_list(struct mcx_regcache *c, struct mcx_mem **out, size_t max);


/* ---- the registrations of one engine ---- */

struct mcx_memspace {
	const struct mcx_devs *devs;
	uint64_t chunk_cfg;		/* MCX_REG_CHUNK_SIZE */
	struct mcx_regcache cache;
	struct mcx_regpool *pool;
	atomic_uint_fast64_t next_id;
	atomic_uint_fast32_t nr_mrs[MCX_TP_MAX_DEVS];	/* live, against max_mr */

	/* /dev/mcxfer (not owned: core/ opens and closes it); NULL: none. */
	struct mcx_registry *reg;
	/*
	 * Held for reading from before a post reads a named registration's
	 * MR until the transport has taken it, and for writing while a dead
	 * one's MRs are destroyed: no post uses an MR being destroyed.
	 */
	pthread_rwlock_t kill_lock;
	/* GPU memory goes on every NIC rather than the nearest ones. */
	bool gpu_nics_all;
	const char *sysfs;		/* NULL: /sys (tests: a fake tree) */
	/* Statistics (struct mcx_engine_stats). */
	atomic_uint_fast64_t reg_mr_calls, mr_imports, named_hits, named_misses, lazy_regs;
};

/* -- named.c: named registrations through /dev/mcxfer -- */

/* mcx_mem_register_named() and mcx_mem_open_named() of an engine. */
int mcx__mem_register_named(struct mcx_memspace *ms, const struct mcx_mem_named_req *req,
			    struct mcx_mem **out);
int mcx__mem_open_named(struct mcx_memspace *ms, const char *name, uint32_t owner_uid,
			unsigned int flags, struct mcx_mem **out);

/*
 * An event of the registry about an entry: the registrations that use it
 * die (mcx__mem_kill) when it is gone or lost an MR they use.  Returns how
 * many died.
 */
int mcx__mem_registry_event(struct mcx_memspace *ms, const struct mcx_reg_event *ev);

/*
 * Events were lost: ask the registry about every named registration and
 * kill those whose entry is dead or gone.  Returns how many died.
 */
int mcx__mem_registry_recheck(struct mcx_memspace *ms);

/*
 * The shared context of device dev dropped the record of its MR handle:
 * a live registration using it dies (its MRs destroyed with it); 1 when
 * one did, 0 when none uses it (the caller destroys the MR by handle).
 */
int mcx__mem_ctx_mr_dropped(struct mcx_memspace *ms, unsigned int dev, uint32_t handle);

/* Mark m dead and destroy its MRs (idempotent). */
void mcx__mem_kill(struct mcx_mem *m);

/* Whether m may take new requests: 0 or -EIDRM. */
static inline int mcx__mem_usable(const struct mcx_mem *m)
{
	return atomic_load(&m->dead) ? -EIDRM : 0;
}

/*
 * Make m usable as a transfer's local side: 0 at once unless some of its
 * MRs serve peers only (imported on a device that joined the shared
 * context without import); then the first call registers chunks x NICs
 * of our own on the pool (counted in lazy_regs) and gives those slots
 * their desc.  -errno of that registration (logged once per registration)
 * for this and every later call.
 */
int mcx__mem_local_ready(struct mcx_mem *m);

/* Release what named.c holds for m (entry reference, mapping, fd). */
void mcx__mem_named_release(struct mcx_mem *m);

/* -- mem.c internals named.c shares -- */
int mcx__mem_new(struct mcx_memspace *ms, enum mcx_mem_kind kind, uint64_t addr, uint64_t len,
		 unsigned int flags, int fd, uint64_t offset, struct mcx_mem **out);
/* Register every chunk x NIC of mems[0..n) on the pool (all or none). */
int mcx__mem_register_all(struct mcx_memspace *ms, struct mcx_mem **mems, size_t n);
/*
 * Register every chunk of m on the NICs in nics (none of them registered
 * yet) on the pool, all or none, for local access only.  The caller
 * publishes them.
 */
int mcx__mem_register_local_on(struct mcx_memspace *ms, struct mcx_mem *m, uint32_t nics);
/* Let go of one slot's MR the way its origin says. */
void mcx__mem_release_slot(struct mcx_mem *m, uint32_t chunk, unsigned int dev, bool destroy);

/* -- gpu.c: CUDA device memory -- */

/*
 * If host request r (dmabuf_fd < 0) is CUDA device memory: 1 with *out a
 * cache hit (a reference), 2 with *out a new registration (its dma-buf
 * exported, its MRs not yet made), or -errno (logged).  0 when r is not
 * device memory: the caller registers it as host memory.
 */
int mcx__mem_cuda_get(struct mcx_memspace *ms, const struct mcx_mem_req *r,
		      struct mcx_mem **out);

/*
 * The registration a named request of CUDA memory (MCX_NAMED_CUDA) starts
 * from: [addr, addr + len) checked to be device memory inside its
 * allocation, its 4 KiB-aligned covering range exported as a dma-buf
 * (m->dmabuf_fd, owned; no nvidia-peermem fallback: the registry pins
 * dma-bufs), on the NICs nearest its GPU (m->nics), no MR made yet,
 * flags MCX_MEM_NO_CACHE (the caller adds its own).  0 or -errno (logged,
 * naming name): -EINVAL (not device memory, past its allocation),
 * -EOPNOTSUPP (managed memory, no dma-buf export), -ENODEV (no NIC).
 */
int mcx__mem_cuda_export_named(struct mcx_memspace *ms, uint64_t addr, uint64_t len,
			       const char *name, struct mcx_mem **out);

/*
 * After mcx__mem_register_all(mems) returned err: when a NIC refused a
 * dma-buf (err -EOPNOTSUPP or -EPROTONOSUPPORT) and mems hold GPU memory
 * exported as dma-bufs, turn those into registrations of the device
 * address (nvidia-peermem) and return true: the caller registers again.
 */
bool mcx__mem_cuda_fallback(struct mcx_mem **mems, size_t n, int err);

/*
 * The local side of a request to a peer whose paths that reach the remote
 * memory leave from the NICs in reach (bit per device): when m is GPU
 * memory on none of them (registered on the NICs nearest its GPU only),
 * register it on those NICs now, once, for local use (counted in
 * lazy_regs, one info line naming them), so the request can go.  Threads
 * asking at the same time wait for that one registration.  0 when m is
 * usable on some NIC of reach (or reach is empty: the data path then says
 * why nothing goes), else -errno of the registration, which is kept and
 * returned to later requests for the same NICs without trying again
 * (logged once), or -EIDRM when m died.
 */
int mcx__mem_cuda_widen(struct mcx_mem *m, uint32_t reach, const char *peer);

/* The NICs m can post from now: nics and those added lazily. */
static inline uint32_t mcx__mem_local_nics(struct mcx_mem *m)
{
	return m->nics | (uint32_t)atomic_load_explicit(&m->lazy_nics, memory_order_acquire);
}

/*
 * Copy len bytes from src (inside registration sm, or NULL) to dst (inside
 * dm, or NULL): through the CUDA driver when either is GPU memory, a
 * memmove otherwise.  The same-process short-cut's copy.
 */
int mcx__mem_copy(const struct mcx_mem *dm, uint64_t dst, const struct mcx_mem *sm, uint64_t src,
		  uint64_t len);

/* Set up ms over devs (cache and a pool of threads workers). */
int mcx__memspace_init(struct mcx_memspace *ms, const struct mcx_devs *devs,
		       uint64_t chunk_size, unsigned int threads);
void mcx__memspace_fini(struct mcx_memspace *ms);

#endif /* MCXFER_LIB_MEM_MEM_H */
