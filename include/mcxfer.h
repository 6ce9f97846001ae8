/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * libmcxfer: public C API.
 *
 * This release carries the registry client: a process pins dma-buf ranges in
 * the mcxfer kernel module (/dev/mcxfer), finds them again by name or id
 * (from any process allowed by the entry's share mode), publishes and fetches
 * the RDMA MRs made on them, lists, inspects and evicts entries.
 *
 * Conventions (liburing style):
 *  - every function that can fail returns 0 (or a documented positive count)
 *    on success and a negative errno value on failure; mcx_strerror() turns
 *    that value into a message;
 *  - arguments are validated before anything reaches the kernel; output
 *    arguments are left untouched or set to a documented "empty" value when a
 *    call fails;
 *  - a struct mcx_registry may be used from several threads at once; a list
 *    cursor belongs to one thread.
 *
 * Environment (read by mcx_registry_open(); a bad value makes it fail with
 * -EINVAL and a message that names the variable):
 *  MCX_REGISTRY_DEV  absolute path of the registry device (default /dev/mcxfer)
 *  MCX_LOG_LEVEL     off, error, warn, info or debug (or 0..4); default warn
 */
#ifndef MCXFER_H
#define MCXFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Limits and constants                                                */
/* ------------------------------------------------------------------ */

/*
 * Entry names: 1..63 bytes of [A-Za-z0-9._/:-], not starting with '/' or
 * '.'.  Buffers for names are MCX_NAME_MAX bytes including the NUL.
 */
#define MCX_NAME_MAX		64
#define MCX_IBDEV_NAME_MAX	64	/* RDMA device names, including the NUL */
#define MCX_EXPORTER_MAX	32	/* dma-buf exporter names, including the NUL */

/* Who may see, look up, pin by name and get the MRs of an entry. */
enum mcx_share {
	MCX_SHARE_OWNER = 0,	/* the owner's uid only (default) */
	MCX_SHARE_GROUP = 1,	/* the owner's uid or gid */
	MCX_SHARE_ALL = 2,	/* everybody who can open the device */
};

/* Life-cycle state of an entry. */
enum mcx_reg_state {
	MCX_REG_ACTIVE = 0,	/* at least one reference is held */
	MCX_REG_LINGER = 1,	/* unreferenced, kept warm for a while */
	MCX_REG_DEAD = 2,	/* invalidated, or its RDMA device went away */
};

/* mcx_registry_pin() flags. */
#define MCX_PIN_NO_LINGER	(1U << 0)	/* drop the entry at its last unpin */

/* mcx_registry_lookup() flags. */
#define MCX_LOOKUP_REF		(1U << 0)	/* take a reference (drop it with unpin) */
#define MCX_LOOKUP_EXPORT_FD	(1U << 1)	/* return a new fd of the dma-buf */
#define MCX_LOOKUP_OWNER	(1U << 2)	/* mcx_registry_lookup_owner() sets it */

/* mcx_registry_evict() flags. */
#define MCX_EVICT_IDLE		(1U << 0)	/* every lingering entry you may evict */
#define MCX_EVICT_REVOKE	(1U << 1)	/* kill your entry even while others hold it */

/* ------------------------------------------------------------------ */
/* Errors and logging                                                  */
/* ------------------------------------------------------------------ */

/*
 * Message for a negative errno value returned by this library (a positive
 * errno is accepted too).  Where mcxfer gives an errno a specific meaning
 * (-ENOSPC, -EDQUOT, -ENODEV, ...) the message says so.  The string is
 * static and must not be freed.
 */
const char *mcx_strerror(int err);

enum mcx_log_level {
	MCX_LOG_OFF = 0,
	MCX_LOG_ERROR = 1,
	MCX_LOG_WARN = 2,
	MCX_LOG_INFO = 3,
	MCX_LOG_DEBUG = 4,
};

/* Receives every message at or above the current level, without newline. */
typedef void (*mcx_log_fn)(enum mcx_log_level level, const char *msg, void *ctx);

/*
 * Route messages to fn (NULL restores the default: "mcxfer: level: msg" on
 * stderr).  Call it before other threads use the library.
 */
void mcx_log_set_handler(mcx_log_fn fn, void *ctx);

/*
 * Set the level used when MCX_LOG_LEVEL is not set (MCX_LOG_LEVEL, when set,
 * overrides it).  -EINVAL for a value outside enum mcx_log_level.
 */
int mcx_log_set_level(enum mcx_log_level level);

/* ------------------------------------------------------------------ */
/* Registry client                                                     */
/* ------------------------------------------------------------------ */

struct mcx_registry;

/* Module limits and global statistics (mcx_registry_info()). */
struct mcx_reg_info {
	uint32_t abi_version;
	uint32_t linger_ms;		/* how long idle entries stay warm */
	uint64_t max_pinned_bytes;	/* global caps; 0 = unlimited */
	uint64_t max_entries;
	uint64_t user_max_pinned_bytes;	/* per-uid caps; 0 = unlimited */
	uint64_t user_max_entries;
	uint64_t pins;			/* successful pins */
	uint64_t hits;			/* pins that found an existing entry */
	uint64_t misses;		/* pins that created an entry */
	uint64_t unpins;
	uint64_t lookups;
	uint64_t evictions;		/* by evict, caps or linger expiry */
	uint64_t invalidations;		/* by the exporter or a device removal */
	uint64_t bytes_pinned;		/* bytes in all live entries */
	uint64_t entries;
	uint64_t entries_active;
	uint64_t entries_linger;
	uint64_t entries_dead;
	uint64_t mrs;			/* published MRs */
	uint64_t clients;		/* open registry handles, all processes */
	uint64_t contexts;		/* shared device contexts (ABI 3) */
};

/* One entry as listed by mcx_registry_list(). */
struct mcx_reg_entry {
	uint64_t id;
	uint64_t offset;		/* range pinned, bytes into the dma-buf */
	uint64_t length;
	uint64_t dmabuf_size;
	uint32_t owner_uid;
	uint32_t owner_gid;
	uint32_t share;			/* enum mcx_share */
	uint32_t state;			/* enum mcx_reg_state */
	uint32_t refs;			/* references held by all clients */
	uint32_t holders;		/* clients holding at least one reference */
	uint32_t nr_mrs;		/* published MRs */
	uint32_t flags;			/* MCX_PIN_* it was created with */
	uint64_t hits;			/* pins that found this entry */
	uint64_t age_ms;		/* since creation */
	uint64_t idle_ms;		/* since the last unpin; 0 while active */
	char name[MCX_NAME_MAX];		/* "" when unnamed */
	char exporter[MCX_EXPORTER_MAX];	/* dma-buf exporter, e.g. "udmabuf" */
	char ibdev[MCX_IBDEV_NAME_MAX];		/* device mapped for, or "" */
};

/* Result of mcx_registry_lookup(). */
struct mcx_reg_lookup {
	uint64_t id;
	uint64_t offset;
	uint64_t length;
	uint64_t dmabuf_size;
	int32_t fd;			/* new dma-buf fd (O_CLOEXEC) or -1 */
	uint32_t state;			/* enum mcx_reg_state */
	uint32_t owner_uid;
	uint32_t owner_gid;
	uint32_t share;			/* enum mcx_share */
	uint32_t nr_mrs;
};

/*
 * An MR registered on an entry.  mcx_registry_publish_mr() reads every field
 * but mr_id and ibdev and fills in mr_id; mcx_registry_get_mr() fills in
 * everything, uverbs_fd being a new O_CLOEXEC fd for the same uverbs command
 * file (ready for ibv_import_device()) that the caller must close.
 */
struct mcx_reg_mr {
	uint64_t mr_id;
	int32_t uverbs_fd;
	uint32_t pd_handle;
	uint32_t mr_handle;
	uint32_t lkey;
	uint32_t rkey;
	uint32_t access;		/* IBV_ACCESS_* it was registered with */
	uint64_t iova;
	uint64_t length;
	char ibdev[MCX_IBDEV_NAME_MAX];
	uint64_t offset;		/* bytes into the entry it covers from (ABI 3) */
};

/* Something happened to an entry the caller holds a reference on. */
enum mcx_reg_event_type {
	MCX_REG_EVENT_INVALIDATED = 1,		/* exporter moved or revoked it */
	MCX_REG_EVENT_DEVICE_REMOVED = 2,	/* its RDMA device is gone */
	MCX_REG_EVENT_MR_REMOVED = 3,		/* an MR published on it was dropped */
	MCX_REG_EVENT_OVERFLOW = 4,		/* events were lost */
	MCX_REG_EVENT_REVOKED = 5,		/* its owner revoked it */
	MCX_REG_EVENT_CTX_MR_DROPPED = 6,	/* id: ctx_id, mr_id: MR handle (ABI 3) */
};

struct mcx_reg_event {
	uint32_t type;			/* enum mcx_reg_event_type */
	uint32_t reserved;
	uint64_t id;			/* entry */
	uint64_t mr_id;			/* for MCX_REG_EVENT_MR_REMOVED */
};

/*
 * Open the registry device (MCX_REGISTRY_DEV or /dev/mcxfer) and check that
 * it speaks this library's ABI.  -ENODEV when it is absent or is not an
 * mcxfer device (the module is not loaded), -EACCES without permission,
 * -EPROTO on an ABI mismatch, -EINVAL for a bad MCX_* variable.  On failure
 * *out is set to NULL.  Closing the handle drops all its references.
 */
int mcx_registry_open(struct mcx_registry **out);
void mcx_registry_close(struct mcx_registry *reg);

/*
 * Pin [offset, offset + length) of the dma-buf dmabuf_fd and take one
 * reference on its entry.  name (optional) must be free or already name the
 * same range; ibdev (optional) names the RDMA device to map it for.  share
 * applies when the entry is created.  *id receives the entry id; *hit
 * (optional) 1 if the range was already pinned, else 0.
 */
int mcx_registry_pin(struct mcx_registry *reg, int dmabuf_fd, uint64_t offset,
		     uint64_t length, const char *name, const char *ibdev,
		     enum mcx_share share, uint32_t flags, uint64_t *id, int *hit);

/* Drop one of this handle's references on entry id. */
int mcx_registry_unpin(struct mcx_registry *reg, uint64_t id);

/*
 * Find an entry by name (name != NULL, id must be 0) or by id (name == NULL,
 * id != 0).  Names are scoped per owner uid: a name finds the caller's own
 * entry.  MCX_LOOKUP_REF takes a reference; MCX_LOOKUP_EXPORT_FD returns a
 * new dma-buf fd in out->fd (else out->fd is -1), which the caller closes.
 * Errors: -ENOENT (no such entry, or one the caller may not see), -EIDRM
 * (REF or EXPORT_FD of a dead entry), -EACCES (EXPORT_FD of another user's
 * entry that covers only part of its dma-buf: the fd would reach all of it).
 */
int mcx_registry_lookup(struct mcx_registry *reg, const char *name, uint64_t id,
			uint32_t flags, struct mcx_reg_lookup *out);

/*
 * Find the entry named name among those of owner_uid, where only entries
 * whose share mode lets the caller see them are found (-ENOENT otherwise,
 * exactly as for a name that does not exist).  flags and errors as for
 * mcx_registry_lookup().
 */
int mcx_registry_lookup_owner(struct mcx_registry *reg, const char *name,
			      uint32_t owner_uid, uint32_t flags,
			      struct mcx_reg_lookup *out);

/*
 * Publish the MR described by *mr (made on entry id through the uverbs
 * command file mr->uverbs_fd) so that it outlives this process; mr->mr_id is
 * set.  -EEXIST if the entry already has an MR for that device; -EPERM
 * unless the caller owns the entry and opened the uverbs file itself;
 * -EIDRM for a dead entry.
 */
int mcx_registry_publish_mr(struct mcx_registry *reg, uint64_t id, struct mcx_reg_mr *mr);

/*
 * Get an MR published on entry id: the index-th of RDMA device ibdev in
 * offset order, or with ibdev == NULL the index-th of the entry (by device,
 * then offset); -ENOENT past the last.  An ABI 2 module knows one MR per
 * device: ibdev with a non-zero index is -EOPNOTSUPP there.  On failure
 * out->uverbs_fd is -1.  The
 * fd is the publisher's whole uverbs context, so only the entry's owner
 * gets it (-EPERM for other users, whatever the share mode: they register
 * their own MR on the shared dma-buf).
 */
int mcx_registry_get_mr(struct mcx_registry *reg, uint64_t id, const char *ibdev,
			uint32_t index, struct mcx_reg_mr *out);

/*
 * Walk the entries visible to the caller in id order; the library fetches
 * them from the kernel a page at a time.  Start with *cursor == NULL:
 *
 *	struct mcx_reg_cursor *cur = NULL;
 *	struct mcx_reg_entry e;
 *	int ret;
 *
 *	while ((ret = mcx_registry_list(reg, &cur, &e)) > 0)
 *		use(&e);
 *	if (ret < 0)
 *		fail(ret);
 *
 * Returns 1 with an entry in *out, 0 at the end, or -errno.  On 0 or -errno
 * the cursor is freed and *cursor set to NULL; a caller that stops early
 * frees it with mcx_reg_cursor_free().
 */
struct mcx_reg_cursor;
int mcx_registry_list(struct mcx_registry *reg, struct mcx_reg_cursor **cursor,
		      struct mcx_reg_entry *out);
void mcx_reg_cursor_free(struct mcx_reg_cursor *cursor);

/* Module limits and statistics. */
int mcx_registry_info(struct mcx_registry *reg, struct mcx_reg_info *out);

/*
 * Drop lingering entries: entry id (flags 0, id != 0; -EBUSY while it is
 * referenced), or with MCX_EVICT_IDLE and id 0 every lingering entry the
 * caller owns (all of them for CAP_SYS_ADMIN).  With MCX_EVICT_REVOKE and
 * an id, the owner kills the entry even while others hold it: its pin and
 * MRs go at once, holders get MCX_REG_EVENT_REVOKED and -EIDRM afterwards
 * (-EIDRM also for revoking a dead entry).  *evicted (optional) receives
 * the number of entries dropped.
 */
int mcx_registry_evict(struct mcx_registry *reg, uint64_t id, uint32_t flags,
		       uint64_t *evicted);

/* ---- ABI 3: devices, shared contexts, holders (-EOPNOTSUPP on an ABI 2 module) ---- */

enum mcx_reg_relaxed {
	MCX_REG_RO_NO_PCI = 0,		/* no PCI function behind the device */
	MCX_REG_RO_ENABLED = 1,		/* PCIe Enable Relaxed Ordering is set */
	MCX_REG_RO_DISABLED = 2,	/* clear, or the function is not PCIe */
};

/* What the module reads for anybody about an RDMA device. */
struct mcx_reg_device {
	uint32_t relaxed_ordering;	/* enum mcx_reg_relaxed */
	int32_t numa_node;		/* -1 when unknown */
	char pci_name[32];		/* PCI function doing its DMA, or "" */
};

/* -ENODEV when the caller's network namespace has no such device. */
int mcx_registry_query_device(struct mcx_registry *reg, const char *ibdev,
			      struct mcx_reg_device *out);

/*
 * Offer the device context of uverbs_fd (with its PD pd_handle) as the
 * caller's shared context for that device: the one every engine of this
 * uid makes its objects in, so that MRs published by one are usable by the
 * next.  *ctx_id (optional) receives its id.  -EEXIST when this uid has one
 * for the device already (get that one instead), -EPERM as for publish_mr.
 */
int mcx_registry_publish_ctx(struct mcx_registry *reg, int uverbs_fd, uint32_t pd_handle,
			     uint64_t *ctx_id);

/*
 * The caller's shared context for ibdev: a new O_CLOEXEC fd of its uverbs
 * command file (for ibv_import_device()), which the caller closes, and the
 * handle of its PD.  -ENOENT when there is none.
 */
int mcx_registry_get_ctx(struct mcx_registry *reg, const char *ibdev, int *uverbs_fd,
			 uint32_t *pd_handle, uint64_t *ctx_id);

/* One process holding references on an entry. */
struct mcx_reg_holder {
	uint32_t pid;			/* 0 when not visible from here */
	uint32_t refs;
	uint32_t uid;
	uint32_t got_mr;		/* 1 if it took the entry's MR handles */
	char comm[16];
};

/*
 * Up to max holders of entry id into out, at most 4096 (the module's limit
 * for one call), for its owner or CAP_SYS_ADMIN only: -EPERM for others who
 * see it, -ENOENT for those who do not.  Returns the number written; *total
 * (optional) receives how many there are.
 */
int mcx_registry_holders(struct mcx_registry *reg, uint64_t id, struct mcx_reg_holder *out,
			 size_t max, size_t *total);

/* The fd to poll() for events (POLLIN); it stays owned by the handle. */
int mcx_registry_event_fd(struct mcx_registry *reg);

/*
 * Read one event, waiting up to timeout_ms (0: do not wait, -1: forever).
 * Returns 1 with *ev filled in, 0 if none arrived in time, or -errno.
 */
int mcx_registry_read_event(struct mcx_registry *reg, struct mcx_reg_event *ev,
			    int timeout_ms);

/* ------------------------------------------------------------------ */
/* Transfer engine                                                     */
/* ------------------------------------------------------------------ */

/*
 * An engine opens RDMA devices (verbs), registers memory with all of them,
 * connects to peers over a TCP handshake and moves data with one-sided RDMA
 * reads and writes, sliced and striped over every path (local device,
 * remote device) of a peer.
 *
 *	struct mcx_engine *eng;
 *	struct mcx_mem *mem;
 *	struct mcx_peer *peer;
 *	struct mcx_batch *b;
 *
 *	mcx_engine_create(NULL, &eng);              // defaults + MCX_* env
 *	mcx_mem_register(eng, buf, len, 0, &mem);   // MCX_MEM_EXPORT: peers may use it
 *	mcx_peer_open(eng, "10.0.0.2:7000", &peer);
 *	mcx_batch_create(eng, 64, &b);
 *	mcx_batch_add(b, MCX_OP_READ, peer, buf, remote_addr, len, 1);
 *	mcx_batch_submit(b);
 *	mcx_batch_wait(b, -1);                      // 0, or the first error
 *	mcx_batch_free(b);
 *
 * Remote addresses are the peer's virtual addresses inside memory it
 * registered with MCX_MEM_EXPORT (mcx_peer_list_mem() lists them); only
 * exported registrations are described to peers and only they are
 * registered for remote access.  A miss asks the peer again once before
 * the request fails with -EFAULT.
 *
 * Trust: the listener answers nothing before a caller has proved it holds
 * the engine's pre-shared key (auth_key_file, MCX_AUTH_KEY_FILE; HMAC-SHA256
 * challenge-response both ways), and an engine with a key talks only to
 * listeners that prove they hold it.  Without a key anyone who can reach
 * the listener can read and write exported memory: the engine logs a
 * warning when it listens on anything but loopback without one.  The TCP
 * stream is not encrypted: run it on a trusted network or inside a tunnel.
 * Whether a peer lives in this very process (served by memcpy) is decided
 * from local facts only, never from what the peer sends.
 *
 * Threads: engine, registration and peer calls may be made from any thread
 * at once.  A batch belongs to one thread at a time.  Completions are
 * reaped by the engine's poller thread (option poller, default on; on
 * libfabric fabric_cq_threads of them) or, with poller 0 (or
 * fabric_cq_threads 0), by mcx_batch_wait*() and mcx_engine_progress().
 * The library's threads block asynchronous signals.  After fork(), an
 * engine works only in the process that created it (-EOWNERDEAD
 * elsewhere).
 *
 * Data path: a request is cut into slices of at most slice_size bytes that
 * never cross a registration chunk on either side; slices go round-robin
 * over the peer's paths that are up, at most max_wr in flight per QP.  Each
 * peer has its own queue and lock: a slow or wedged peer never holds up
 * another.  A path that fails is stopped; its work comes back (flushed) and
 * goes to the peer's other paths; while the peer's TCP connection is fine,
 * the path is rebuilt after a back-off (100 ms doubling to 5 s).  A request
 * fails when its peer is gone, when no path can take it, or when its
 * deadline (timeout_ms after submit) passes; see mcx_batch_submit() for
 * when its buffer is free again.  A same-process peer is served by memcpy
 * (host memory only) unless loopback_memcpy is 0.
 *
 * Environment (read by mcx_engine_create(); each variable overrides the
 * matching option; a bad value fails the call with -EINVAL or -ERANGE and a
 * message naming the variable and what it accepts):
 *  MCX_IB_DEVICES           comma list of RDMA device names, or "all"
 *  MCX_IB_PORT              0 (every ACTIVE port) or 1..255
 *  MCX_IB_GID_INDEX         "auto" (RoCE v2 IPv4-mapped GID) or 0..255
 *  MCX_IB_TC                traffic class 0..255
 *  MCX_IB_SL                service level 0..15
 *  MCX_IB_MTU               auto, 256, 512, 1024, 2048 or 4096
 *  MCX_SLICE_SIZE           4K..1G (K/M/G suffixes)
 *  MCX_MAX_WR               outstanding WRs per QP, 1..32768
 *  MCX_QPS_PER_PAIR         1..8
 *  MCX_REG_THREADS          registration threads 1..256 (default: online CPUs)
 *  MCX_REG_CHUNK_SIZE       4K..1T, registration chunk (default 1G)
 *  MCX_IB_RELAXED_ORDERING  0 off, 1 on if supported, 2 auto
 *  MCX_LISTEN               host:port of the handshake listener
 *  MCX_TIMEOUT_MS           1..3600000, request and handshake timeout
 *  MCX_POLLER               0 (call mcx_engine_progress) or 1 (thread)
 *  MCX_LOOPBACK_MEMCPY      0 or 1: same-process peers use memcpy
 *  MCX_AUTH_KEY_FILE        absolute path of the pre-shared key (mode 0600)
 *  MCX_LISTEN_MAX_CONNS     2..65536 connections the listener serves at once
 *  MCX_LISTEN_MAX_PATHS     1..64 paths one connection may hold
 *  MCX_REGISTRY             auto, off or required: use /dev/mcxfer
 *  MCX_GPU_NICS             local or all: the NICs GPU memory goes on
 *  MCX_METADATA             etcd://HOST:PORT/PREFIX: the metadata service
 *  MCX_METADATA_NAME        this engine's name there (publishes it)
 *  MCX_METADATA_TTL         2..3600 seconds of its lease (default 10)
 *  MCX_LOG_LEVEL            as above
 */
struct mcx_engine;
struct mcx_mem;
struct mcx_peer;
struct mcx_batch;

#define MCX_GID_INDEX_AUTO	(-1)
#define MCX_MTU_AUTO		0

enum mcx_relaxed_ordering {
	MCX_RO_OFF = 0,		/* never */
	MCX_RO_ON = 1,		/* whenever rdma-core and the device support it */
	MCX_RO_AUTO = 2,	/* when supported and the driver honours it (mlx5) */
};

struct mcx_engine_opts {
	const char *devices;	/* "a,b" or "all"/NULL: every device (copied) */
	int port;		/* 0: every ACTIVE port; else 1..255 */
	int gid_index;		/* MCX_GID_INDEX_AUTO or 0..255 */
	int tc;			/* traffic class 0..255 (default 0) */
	int sl;			/* service level 0..15 (default 0) */
	int mtu;		/* MCX_MTU_AUTO or 256/512/1024/2048/4096 */
	uint64_t slice_size;	/* bytes per RDMA op, 4 KiB..1 GiB (default 1 MiB) */
	uint32_t max_wr;	/* outstanding WRs per QP, 1..32768 (default 128) */
	uint32_t qps_per_pair;	/* RC QPs per NIC pair, 1..8 (default 1) */
	uint32_t reg_threads;	/* 0: online CPUs; else 1..256 */
	uint64_t reg_chunk_size; /* 4 KiB..1 TiB, multiple of 4 KiB (default 1 GiB) */
	int relaxed_ordering;	/* enum mcx_relaxed_ordering (default AUTO) */
	int log_level;		/* -1: keep; else enum mcx_log_level */
	const char *listen;	/* "host:port" (port 0: any) or NULL: no listener */
	uint32_t timeout_ms;	/* 1..3600000 (default 10000) */
	int poller;		/* 1: a completion thread (default); 0: progress calls */
	int loopback_memcpy;	/* 1: same-process peers use memcpy (default) */
	/*
	 * Pre-shared key: an absolute path to a file of 16..4096 bytes, mode
	 * 0600, owned by the caller (or root).  With a key, peers and callers
	 * must prove they hold the same key before anything else is said;
	 * without one (NULL, the default) anyone who can reach the listener
	 * can use it, and the engine says so in its log.
	 */
	const char *auth_key_file;
	/*
	 * Listener caps: connections served at once, 2..65536 (default 128;
	 * callers that have not authenticated get at most half, the oldest
	 * making way for a new one), and paths one connection may hold,
	 * 1..64 (default 32).
	 */
	uint32_t listen_max_conns;
	uint32_t listen_max_paths;
	/*
	 * /dev/mcxfer (enum mcx_registry_mode, default AUTO): named
	 * registrations are pinned and their MRs published there, and each
	 * device's context is the user's shared one, so that the next engine
	 * of this user finds them warm.  AUTO uses the module when it is
	 * there and says in the log when it is not; REQUIRED makes
	 * mcx_engine_create() fail (-ENODEV without the module, or the
	 * module's error) instead; OFF never opens it.
	 */
	int registry;
	/*
	 * NICs GPU memory is registered on (enum mcx_gpu_nics, default
	 * LOCAL): the ones nearest its GPU on the PCI tree (the same switch,
	 * else root port, else NUMA node), or ALL of them.  MCX_GPU_NICS.
	 * With LOCAL, a request to a peer reachable from none of those NICs
	 * first registers the memory on the NICs it is reachable through
	 * (once per memory, counted in lazy_regs); those MRs serve this
	 * process's requests only: an exported registration stays
	 * advertised to peers on its nearest NICs alone.
	 */
	int gpu_nics;
	/*
	 * Transport (enum mcx_transport_kind, default AUTO: libfabric on
	 * hosts with AWS EFA devices, verbs RC elsewhere).  MCX_TRANSPORT.
	 * Two engines talk only when they use the same one (the handshake
	 * fails with -EPROTONOSUPPORT otherwise).
	 */
	int transport;
	/*
	 * libfabric provider (0.5): NULL or "auto" (efa when present, else
	 * verbs;ofi_rxm, else tcp;ofi_rxm), or a provider name such as
	 * "tcp;ofi_rxm" or "shm" (copied; 1..31 characters of
	 * [A-Za-z0-9_;]).  MCX_FABRIC_PROVIDER.
	 */
	const char *fabric_provider;
	/*
	 * libfabric only: requests shorter than this go to one device whole;
	 * longer ones are sliced into pieces of this size striped over the
	 * devices.  0..1 GiB (default 2 MiB; 0: slice_size decides alone).
	 * MCX_FABRIC_STRIPE_MIN.
	 */
	uint64_t fabric_stripe_min;
	/*
	 * A metadata service (optional; the TCP handshake stays the default):
	 * "etcd://HOST:PORT/PREFIX" (MCX_METADATA), an etcd v3 server reached
	 * over its HTTP/JSON gateway with libcurl and json-c, which are loaded
	 * only then (Debian: libcurl4, libjson-c5; -ELIBACC without them).
	 * With it, mcx_peer_open(eng, "etcd:NAME", ...) opens the engine
	 * published as NAME.  With metadata_name too (MCX_METADATA_NAME,
	 * 1..128 characters of [A-Za-z0-9._-]; needs a listener) this engine
	 * publishes its metadata blob (mcx_engine_export_md) at
	 * /PREFIX/NAME under a lease of metadata_ttl_s seconds, 2..3600
	 * (MCX_METADATA_TTL, default 10), kept alive by a thread that also
	 * publishes the blob again when the exported registrations changed;
	 * the name is withdrawn by mcx_engine_destroy() and goes by itself
	 * one TTL after the process stopped.  Without a name the engine only
	 * opens others.  All strings are copied.
	 */
	const char *metadata;
	const char *metadata_name;
	uint32_t metadata_ttl_s;
	/*
	 * libfabric only: how many progress threads poll the devices'
	 * completion queues, 0..16 (default 1), each one the only poller
	 * of its share of the devices (at most one thread per device).
	 * 0: no thread at all; completions move only inside the
	 * application's mcx_engine_progress() and mcx_batch_wait*() calls,
	 * which must then also be made on an engine that only serves peers
	 * (a manual-progress provider moves their data there).  Poller 0
	 * means no threads whatever this says.  MCX_FABRIC_CQ_THREADS.
	 */
	uint32_t fabric_cq_threads;
};

enum mcx_transport_kind {
	MCX_TRANSPORT_AUTO = 0,
	MCX_TRANSPORT_VERBS = 1,
	MCX_TRANSPORT_FABRIC = 2,
};

enum mcx_gpu_nics {
	MCX_GPU_NICS_LOCAL = 0,
	MCX_GPU_NICS_ALL = 1,
};

enum mcx_registry_mode {
	MCX_REGISTRY_AUTO = 0,
	MCX_REGISTRY_OFF = 1,
	MCX_REGISTRY_REQUIRED = 2,
};

/* Fill *opts with the defaults above. */
void mcx_engine_opts_init(struct mcx_engine_opts *opts);

/*
 * Create an engine from *opts (NULL: defaults), then the MCX_* environment.
 * -EINVAL/-ERANGE for a bad option (the message names the field or the
 * variable), -ENODEV when no selected RDMA device port is usable, -EACCES
 * when the key file is another user's or readable by group or others,
 * -EISDIR when it is a directory, or what the devices, the registry or the
 * listener returned.  *out is NULL on failure.
 *
 * fork(): an engine works only in the process that created it.  The first
 * engine of a process calls ibv_fork_init() (libibverbs does when
 * RDMAV_FORK_SAFE or IBV_FORK_SAFE is set), so that a fork() cannot make
 * the NIC write to pages the parent no longer owns; where the kernel does
 * not copy pinned pages into the child (before Linux 5.13), registered
 * ranges are then not mapped at all in the child.  In a fork child,
 * mcx_mem_register_batch(), mcx_peer_open() and mcx_batch_submit() on an
 * engine inherited from the parent return -EOWNERDEAD.  Do not destroy or
 * close what the child inherited either: it shares the parent's device
 * context, and the engine's threads do not exist in the child.  The child
 * may create engines of its own and use them normally.
 */
int mcx_engine_create(const struct mcx_engine_opts *opts, struct mcx_engine **out);

/*
 * Close peers, stop the poller and listener, deregister what is left.
 * Batches must have been freed.
 */
void mcx_engine_destroy(struct mcx_engine *eng);

/*
 * Without a poller thread: reap completions, post queued work and expire
 * requests past their deadline.  Returns completions reaped (>= 0) or
 * -errno.  With a poller it is harmless.  Thread-safe.
 */
int mcx_engine_progress(struct mcx_engine *eng);

/* The listener's bound "ip:port" into buf; -ENOTCONN without a listener,
 * -ENAMETOOLONG when it does not fit in len bytes. */
int mcx_engine_listen_addr(struct mcx_engine *eng, char *buf, size_t len);

/* Number of NICs (device ports) the engine uses. */
unsigned int mcx_engine_nics(const struct mcx_engine *eng);

/* ---- devices, as mcxfer-tool devices shows them ---- */

struct mcx_gid_info {
	uint32_t index;
	char type[16];		/* "RoCE v2", "IB/RoCE v1", or "" */
	char gid[48];		/* text form */
	char netdev[32];	/* "" if none */
};

struct mcx_device_info {
	char name[MCX_IBDEV_NAME_MAX];
	uint32_t port;
	char state[16];		/* "ACTIVE", "DOWN", ... */
	char link_layer[16];	/* "Ethernet", "InfiniBand" */
	uint32_t active_mtu;	/* bytes */
	int gid_index;		/* what auto-selection picks, -1 if none */
	uint64_t max_mr_size;
	uint32_t max_mr;
	uint32_t max_qp_wr;
	uint32_t max_cqe;
	int relaxed;		/* decision under the given policy: 1 on, 0 off */
	char relaxed_reason[160];
	size_t nr_gids;
	struct mcx_gid_info *gids;	/* the valid entries of the GID table */
};

/*
 * Every port of every RDMA device (whatever its state), with the relaxed
 * ordering decision under policy (enum mcx_relaxed_ordering).  Needs no
 * engine and no /dev/mcxfer.  *out is freed with mcx_devices_free().
 * Returns 0 (and *n 0) when there is no device.
 */
int mcx_devices_query(int policy, struct mcx_device_info **out, size_t *n);
void mcx_devices_free(struct mcx_device_info *devs, size_t n);

/* ---- libfabric providers and domains, as mcxfer-tool devices shows them (0.5) ---- */

/* One domain of the chosen provider (a NIC, "lo", "shm"). */
struct mcx_fabric_domain {
	char domain[64];	/* the domain's name: "efa_0", "eth0", "lo" */
	char fabric[64];	/* its fabric's: an IP network, "efa", "shm" */
	char address[64];	/* its source address in text; "" when not IP */
	/*
	 * The FI_MR_* bits the domain asks of its users (libfabric's values,
	 * fi_domain(3)), and the same by name, "|" between them ("" for
	 * none; unknown bits in hexadecimal).
	 */
	uint64_t mr_mode;
	char mr_mode_names[224];
	uint64_t max_msg_size;	/* ep_attr->max_msg_size: longer requests are sliced */
	uint64_t tx_size;	/* tx_attr->size: the in-flight cap an engine takes */
	uint64_t max_mr_size;	/* 0: libfabric does not say (registrations are chunked) */
	uint32_t mr_key_size;	/* bytes of a remote key */
	int hmem;		/* 1: it offers FI_HMEM (device memory) too */
	/*
	 * 1: an engine opens it when no device is named; loopback domains
	 * are used only when named (engine option devices, MCX_IB_DEVICES).
	 */
	int used;
};

struct mcx_fabric_info {
	char requested[32];	/* "auto", or the provider asked for */
	char provider[32];	/* the one an engine would use; "" when none offers RDM with RMA */
	uint32_t version;	/* libfabric's, as fi_version(): major << 16 | minor */
	int dmabuf;		/* 1: built against a libfabric with FI_MR_DMABUF */
	size_t nr_domains;
	struct mcx_fabric_domain *domains;	/* one per domain, as an engine opens them */
};

/*
 * The libfabric provider an engine with MCX_TRANSPORT=fabric would use
 * and its domains (needs no engine).  provider: a name such as
 * "tcp;ofi_rxm" or "auto" (efa when present, else verbs;ofi_rxm, else
 * tcp;ofi_rxm); NULL takes MCX_FABRIC_PROVIDER, else "auto".  *out is
 * freed with mcx_fabric_free().  -EINVAL when out is NULL or the name is
 * not a provider name (logged, naming MCX_FABRIC_PROVIDER when it came
 * from there) or -ENOMEM.  A provider that offers nothing is no
 * error: provider is "" and nr_domains 0.
 */
int mcx_fabric_query(const char *provider, struct mcx_fabric_info **out);
void mcx_fabric_free(struct mcx_fabric_info *info);

/* ---- PCI topology: GPUs and RDMA devices (0.5) ---- */

/* How far apart two PCI functions are, nearest first. */
enum mcx_pci_distance {
	MCX_PCI_SAME_SWITCH = 0,	/* below one PCIe switch */
	MCX_PCI_SAME_ROOT_PORT = 1,	/* below one root port, no shared switch */
	MCX_PCI_SAME_NUMA = 2,		/* one NUMA node (or none known for either) */
	MCX_PCI_OTHER = 3,		/* across NUMA nodes */
	MCX_PCI_UNKNOWN = 4,		/* one of them has no PCI function (soft-RoCE) */
};

struct mcx_topo_node {
	char name[64];		/* RDMA device name, or the GPU's PCI address */
	char pci[32];		/* PCI address, "" when none */
	int numa;		/* -1: not known */
};

struct mcx_topology {
	size_t nr_gpus, nr_nics;
	struct mcx_topo_node *gpus;	/* NVIDIA GPUs of the PCI bus, by address */
	struct mcx_topo_node *nics;	/* RDMA devices of /sys/class/infiniband */
	int *distance;			/* [gpu * nr_nics + nic]: enum mcx_pci_distance */
};

/*
 * Read the GPUs and RDMA devices from sysfs and their distances (needs no
 * CUDA, no verbs and no engine).  By default GPU memory is registered only
 * on the NICs nearest its GPU (engine option gpu_nics, MCX_GPU_NICS).
 * -ENOMEM, or the error reading sysfs.  *out is freed with
 * mcx_topology_free().
 */
int mcx_topology_query(struct mcx_topology **out);
void mcx_topology_free(struct mcx_topology *t);

/* ---- memory registration ---- */

/* mcx_mem_register*() flags. */
#define MCX_MEM_NO_CACHE	(1U << 0)	/* never share: a private registration */
#define MCX_MEM_EXPORT		(1U << 1)	/* peers may read and write it */
/*
 * addr is CUDA device memory (0.5): without this flag the library asks the
 * CUDA driver about every pointer only once the process has loaded it;
 * with it, the driver is loaded if need be and anything but device memory
 * is refused (-EINVAL; -EOPNOTSUPP for managed memory).
 */
#define MCX_MEM_CUDA		(1U << 2)

/*
 * Register [addr, addr + len) with every NIC of the engine (in chunks of
 * reg_chunk_size, chunks × NICs by the registration thread pool).
 *
 * Without MCX_MEM_EXPORT the registration is local-only: its MRs allow
 * local access alone (enough for the local side of a transfer: a read's
 * destination, a write's source) and no peer is told of it.  With
 * MCX_MEM_EXPORT its MRs also allow remote read and write, and every peer
 * that connects (or asks again after a miss) learns of it and may read and
 * write it until it is deregistered.  Export only what peers must reach.
 *
 * A range inside a live registration returns that registration with one
 * more reference, unless MCX_MEM_NO_CACHE is on either or their
 * MCX_MEM_EXPORT bits differ: an exported request never gets a local-only
 * registration (it misses and is registered anew, with MRs of its own that
 * allow remote access), and a local-only request never gets an exported one
 * (its reference would keep the memory reachable by peers after the
 * exporter deregistered it).
 *
 * CUDA device memory (cuMemAlloc, or a cuMemCreate mapping made with
 * gpuDirectRDMACapable) is recognised when the process has loaded the CUDA
 * driver (or flags has MCX_MEM_CUDA): the 4 KiB-aligned range around it is
 * exported as a dma-buf with its context current and registered as such,
 * only on the NICs nearest its GPU unless gpu_nics says all; where the
 * device or a NIC cannot take a dma-buf, the device address itself is
 * registered (nvidia-peermem); the log says which.  A transfer to a peer
 * reachable from none of those NICs registers it on the NICs the peer is
 * reachable through on first use (local access only: peers are still told
 * of the nearest NICs' MRs alone; a failure there fails such transfers
 * with its errno, logged once).  Its cache entries are
 * keyed by CUDA's buffer id too: memory freed and allocated again at the
 * same address is registered anew.  Managed and pinned-host memory
 * register as host memory.  -ENODEV (logged) when no NIC is left to
 * register device memory on, -EOPNOTSUPP when neither dma-buf nor the
 * device address can be registered.
 *
 * -EINVAL (NULL, len 0, unknown flags), -EEXIST (logged, naming both
 * ranges) when the range overlaps a live dma-buf registration's iova range
 * (transfers name local memory by address alone, so the two must not
 * overlap), -ENOSPC when a device's MR count limit would be exceeded, or
 * the verbs error.  *out is NULL on failure.
 */
int mcx_mem_register(struct mcx_engine *eng, void *addr, size_t len, unsigned int flags,
		     struct mcx_mem **out);

/*
 * Register [offset, offset + len) of dma-buf fd, addressed as
 * [iova, iova + len) in transfers; flags as for mcx_mem_register()
 * (dma-buf registrations are never shared).  -EOPNOTSUPP when a device
 * cannot, -EEXIST (logged) when [iova, iova + len) overlaps a live host
 * registration.
 */
int mcx_mem_register_dmabuf(struct mcx_engine *eng, int fd, uint64_t offset, size_t len,
			    uint64_t iova, unsigned int flags, struct mcx_mem **out);

struct mcx_mem_req {
	void *addr;		/* host memory; or, with dmabuf_fd >= 0, ignored */
	size_t len;
	unsigned int flags;
	int dmabuf_fd;		/* -1 for host memory */
	uint64_t offset;	/* dma-buf only */
	uint64_t iova;		/* dma-buf only */
};

/*
 * Register n buffers at once, all their chunks × NICs in one pool run.  On
 * success out[i] is reqs[i]'s registration; on failure nothing stays
 * registered, out[] is all NULL and the first error is returned.  No
 * registration of the batch is visible (to lookups, to peers) before all of
 * them succeeded.  Host and dma-buf requests of one batch must not overlap
 * each other either (-EEXIST).
 */
int mcx_mem_register_batch(struct mcx_engine *eng, const struct mcx_mem_req *reqs, size_t n,
			   struct mcx_mem **out);

/* Drop one reference; the last one deregisters.  -EINVAL for NULL or a
 * registration with no reference left. */
int mcx_mem_deregister(struct mcx_mem *mem);

struct mcx_mem_info {
	uint64_t addr;
	uint64_t len;
	uint64_t chunk_size;
	uint32_t nr_chunks;
	uint32_t nr_nics;
	int refs;
	int dmabuf;		/* 1 for a dma-buf registration */
	/* 0.5 */
	uint64_t iova;		/* the address its MRs were registered at */
	uint64_t registry_id;	/* its /dev/mcxfer entry, 0 if none */
	int named;		/* 1: mcx_mem_register_named() or _open_named() */
	int warm;		/* 1: its MRs came from the registry, none registered here */
	int dead;		/* 1: revoked, expired or its device went; requests fail with -EIDRM */
};

int mcx_mem_query(const struct mcx_mem *mem, struct mcx_mem_info *out);

/* ---- named, shared registrations (warm start) ---- */

/*
 * A named registration is kept by /dev/mcxfer rather than by the process:
 * its pin and the MRs made on it outlive the engine that made it (until the
 * module's linger time after its last holder is gone), and the next engine
 * of the same user that opens it serves it with no registration on the
 * NICs, where the device context can be shared (engine option registry).
 *
 * The names are the registry's (MCX_NAME_MAX, scoped per owner uid).
 */
enum mcx_named_src {
	/* fd is a dma-buf; addr is this process's CPU mapping of
	 * [offset, offset + len), or NULL for device memory, which transfers
	 * then address by iova */
	MCX_NAMED_DMABUF = 0,
	/* fd is a memfd (made with MFD_ALLOW_SEALING; offset and len page
	 * aligned) mapped MAP_SHARED at addr: the library seals its size and
	 * turns it into a dma-buf with udmabuf (-EOPNOTSUPP without it) */
	MCX_NAMED_MEMFD = 1,
	/* addr is CUDA device memory (cuMemAlloc or a VMM mapping), fd -1,
	 * offset and iova 0: the library exports the 4 KiB-aligned range
	 * around it as a dma-buf, pins it for the RDMA device nearest its
	 * GPU and registers it on the nearest NICs only (engine option
	 * gpu_nics).  Transfers address it by addr; an engine that opens it
	 * (mcx_mem_open_named) gets no mapping (device memory) and addresses
	 * it by iova.  -EOPNOTSUPP when the driver cannot export it (unnamed
	 * mcx_mem_register() can still use nvidia-peermem). */
	MCX_NAMED_CUDA = 2,
};

struct mcx_mem_named_req {
	const char *name;
	int src;		/* enum mcx_named_src */
	int fd;			/* not kept: the library dups what it needs */
	uint64_t offset;	/* bytes into fd */
	size_t len;
	void *addr;		/* see enum mcx_named_src */
	uint64_t iova;		/* MCX_NAMED_DMABUF with addr NULL only */
	unsigned int flags;	/* MCX_MEM_EXPORT */
	int share;		/* enum mcx_share: who else may open it (pin and map
				 * it; MR handles stay the owner's) */
};

/*
 * Register memory under a name: pin it through /dev/mcxfer, register it
 * with every NIC (chunks × NICs on the pool, as mcx_mem_register()) and
 * publish the MRs.  If this user has the same range pinned under that name
 * already, that is a hit: its MRs are used as they are.
 * -ENODEV when the engine does not use the registry (registry OFF, or AUTO
 * without the module), -EEXIST when the name is this user's for other
 * memory, the registry's errors (-ENOSPC, -EDQUOT, -EPERM, ...), or what
 * mcx_mem_register() returns.
 */
int mcx_mem_register_named(struct mcx_engine *eng, const struct mcx_mem_named_req *req,
			   struct mcx_mem **out);

#define MCX_UID_SELF	UINT32_MAX

/*
 * Open the named registration name of owner_uid (MCX_UID_SELF: the
 * caller's): take a reference on the entry, map its memory when its
 * exporter allows (mcx_mem_query() gives the address), and make it usable
 * on every NIC: the owner's MRs where the device context is shared (no
 * registration at all), else MRs of its own on the dma-buf, registered in
 * parallel (the engine's stats say which).  flags: MCX_MEM_EXPORT.
 * -ENOENT when there is no such entry visible to the caller, -EIDRM when
 * it is dead, -ENODEV as for mcx_mem_register_named().
 */
int mcx_mem_open_named(struct mcx_engine *eng, const char *name, uint32_t owner_uid,
		       unsigned int flags, struct mcx_mem **out);

/* Registration-cache counters of the engine. */
struct mcx_engine_stats {
	uint64_t reg_hits;	/* registrations served by the cache */
	uint64_t reg_misses;	/* registrations made */
	uint64_t regs_live;	/* live registrations */
	uint32_t reg_threads;	/* registration pool size */
	/* 0.5 */
	uint32_t registry;	/* 1 when the engine uses /dev/mcxfer */
	uint32_t shared_ctx;	/* devices whose context is the user's shared one */
	uint64_t reg_mr_calls;	/* MRs registered with the NICs by this engine */
	uint64_t mr_imports;	/* MRs taken from the registry instead */
	uint64_t named_hits;	/* named registrations found warm */
	uint64_t named_misses;	/* named registrations pinned and registered here */
	/* MRs registered on first local use: of warm memory, and of GPU
	 * memory on NICs other than its GPU's nearest (MCX_GPU_NICS) */
	uint64_t lazy_regs;
};

int mcx_engine_stats(struct mcx_engine *eng, struct mcx_engine_stats *out);

/* ---- peers ---- */

/*
 * A peer at "host:port" (its MCX_LISTEN).  Connects over TCP and exchanges
 * HELLOs (engine identity and NICs) within timeout_ms, nothing more: QPs
 * and the peer's registrations come on first use or mcx_peer_warmup().
 * The connection stays open; when it is lost, or the peer stops answering
 * pings for timeout_ms, the peer is dead and its requests fail.  -EINVAL
 * for a bad address (port 0 included), or the connection's error
 * (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -EPROTO...).
 *
 * "etcd:NAME", on an engine with a metadata service (option metadata):
 * the engine published there as NAME, opened from the blob it published
 * (as mcx_peer_open_md() does) and then watched: once its key is gone
 * (its lease expired: that engine stopped) or published anew under
 * another lease, the peer is dead as if its connection were lost
 * (-ECONNRESET), within about a second of etcd noticing.  Errors then
 * also: -ENOENT when no engine is published as NAME, -EBADMSG when its
 * value is no metadata blob, -EINVAL for a bad name or an engine without
 * a metadata service, etcd's (-ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT:
 * never later than timeout_ms; the URL is in the log), or those of
 * mcx_peer_open_md().
 */
int mcx_peer_open(struct mcx_engine *eng, const char *addr, struct mcx_peer **out);

/*
 * Metadata without asking a listener: mcx_engine_export_md() writes a
 * versioned binary blob that describes this engine to a peer (its
 * devices' addresses, its exported registrations with their keys, and its
 * listener's address), for applications that pass such blobs through
 * their own channel.  It returns the blob's length, or -ENOBUFS with *need
 * set when cap bytes are not enough (buf may be NULL to ask).  The blob is
 * a snapshot: registrations made later are found by the usual refetch.
 *
 * mcx_peer_open_md() opens a peer from such a blob: its descriptors come
 * from the blob; the verbs transport still connects its QPs through the
 * listener the blob names (authenticating as mcx_peer_open() does) and
 * checks that it describes the same devices (-ESTALE otherwise).  -EBADMSG
 * for a malformed blob, -EPROTO for another format version, -EOPNOTSUPP
 * when it names no listener.
 */
int mcx_engine_export_md(struct mcx_engine *eng, void *buf, size_t cap, size_t *need);
int mcx_peer_open_md(struct mcx_engine *eng, const void *md, size_t len, struct mcx_peer **out);

/*
 * Connect now (handshake, QPs, descriptors) and, on libfabric, send a
 * probe through every path so that the provider sets up its connection to
 * the peer before the first request (each pair's warm says so).  0 or the
 * error; -ETIMEDOUT when the probes did not come back within timeout_ms.
 */
int mcx_peer_warmup(struct mcx_peer *peer);

/* Fail what is in flight to it (-ECONNABORTED), disconnect, free. */
void mcx_peer_close(struct mcx_peer *peer);

/* One NIC pair of a peer (mcx_peer_stats()). */
struct mcx_pair_stats {
	char local_dev[MCX_IBDEV_NAME_MAX];
	uint32_t local_port;
	uint32_t remote_nic;	/* the peer's NIC index */
	int rail;		/* 1: chosen by rail, 0: fall-back */
	int up;			/* 1 usable, 0 failed or not connected */
	int err;		/* why it failed, 0 otherwise */
	uint64_t bytes;		/* completed on it */
	uint64_t slices;
	uint64_t retried;	/* slices moved from it to another pair */
};

/*
 * Up to n pairs of peer into st; returns the number of pairs the peer has
 * (0 before it is connected).
 */
int mcx_peer_stats(struct mcx_peer *peer, struct mcx_pair_stats *st, size_t n);

/*
 * How many pairs of peer are up and ready for a first request without
 * setup: on verbs RC every pair that is up; on libfabric those a warm-up
 * probe (mcx_peer_warmup()) came back through, so that the provider's own
 * connection to the peer (rxm's, EFA's handshake) is made.  Or -EINVAL.
 * (A function of its own, not a field of struct mcx_pair_stats: that
 * struct is filled as an array, so it cannot grow.)
 */
int mcx_peer_warm_pairs(struct mcx_peer *peer);

/* ---- transfers ---- */

enum mcx_op {
	MCX_OP_READ = 0,	/* remote -> local */
	MCX_OP_WRITE = 1,	/* local -> remote */
};

/*
 * The registrations a peer exported (MCX_MEM_EXPORT), as its handshake
 * described them: fills up to n entries of out and returns how many the
 * peer has (connecting it first if need be), or -errno.
 */
struct mcx_remote_mem {
	uint64_t id;		/* the peer's registration id */
	uint64_t addr;		/* a virtual address, or an iova for dma-buf */
	uint64_t len;
	uint32_t kind;		/* 0 host memory, 1 dma-buf */
	uint32_t reserved;
};
int mcx_peer_list_mem(struct mcx_peer *peer, struct mcx_remote_mem *out, size_t n);

/* A batch holds up to capacity requests (1..2^24; -EINVAL otherwise);
 * reusable after wait (see add). */
int mcx_batch_create(struct mcx_engine *eng, size_t capacity, struct mcx_batch **out);

/*
 * Queue a request: len bytes between local (inside a registration of this
 * engine) and remote (the peer's address inside one of its registrations).
 * cookie comes back in its status.  -EINVAL (len 0, NULL, an unknown op, a
 * range that wraps around, a peer of another engine), -ENOSPC (batch
 * full), -EBUSY (batch submitted and a request still in progress).
 * Adding to a batch whose requests all have their status starts a new
 * round (the old statuses are dropped), after waiting for any WR a NIC
 * still holds on its buffers (after a timeout, at most the RC retry time).
 */
int mcx_batch_add(struct mcx_batch *b, enum mcx_op op, struct mcx_peer *peer, void *local,
		  uint64_t remote, size_t len, uint64_t cookie);

/*
 * Like mcx_batch_add() for a write that carries a 32-bit tag: once every
 * byte of it has landed at the peer, the tag is delivered there
 * (mcx_notify_poll()), never before the data it follows.  The request's
 * status is final once the tag was delivered.  Delivery is at least once:
 * if the path carrying the tag fails while the tag is in flight, the tag
 * is sent again on another path, and the target may have seen the first
 * one already (RC cannot tell the sender); a target that must not act
 * twice puts a sequence number in its tags.  Same errors as
 * mcx_batch_add(), and -EOPNOTSUPP when no path to the peer carries
 * notifications (libfabric without 8 bytes of remote CQ data at either
 * end; a peer not connected yet fails the request so at submit, before
 * its data moves).
 */
int mcx_batch_add_notify(struct mcx_batch *b, struct mcx_peer *peer, void *local,
			 uint64_t remote, size_t len, uint64_t cookie, uint32_t tag);

/*
 * Call fn(b, result, arg) each time a submitted round of b is complete
 * (result as mcx_batch_wait() would return it).  It runs on the thread
 * that runs progress (the poller, or a caller of mcx_engine_progress() or
 * mcx_batch_wait*()), with no library lock held, so it may add to b and
 * submit it again: that keeps requests in flight from one thread without
 * waiting for a whole batch.  NULL removes it.  -EBUSY while a round is
 * in progress.
 */
int mcx_batch_set_callback(struct mcx_batch *b,
			   void (*fn)(struct mcx_batch *b, int result, void *arg), void *arg);

/*
 * Start every request (connecting peers first if need be).  Requests that
 * fail at once (local buffer not registered: -ENOKEY; remote range not
 * registered: -EFAULT; peer unreachable) get their status; the others
 * complete later.  Memory registered on some NICs only (GPU memory, on
 * those nearest its GPU) moves only over paths between NICs that hold
 * both sides: a request fails with -ENETUNREACH when no path to the peer
 * leaves from a NIC holding its local memory, and with -EHOSTUNREACH when
 * none of those reaches a NIC of the peer holding its remote memory.  Each request must finish within the engine's timeout_ms
 * or it fails with -ETIMEDOUT.  Returns 0, or -EINVAL for an empty batch,
 * -EBUSY when already submitted, -EOWNERDEAD in a fork child.
 *
 * Buffers and statuses: a request's status is final only once no NIC holds
 * any of its work.  A request past its deadline has its queued work
 * dropped and the paths that carry its posted work stopped, so that work
 * is flushed (or, if a device does not flush it in time, its connection is
 * destroyed); only then does the status become -ETIMEDOUT.  So a request
 * whose status is not -EINPROGRESS never touches its buffer again, and
 * when mcx_batch_wait() returns anything but -ETIMEDOUT (its own time
 * limit), every buffer of the batch is the caller's.
 */
int mcx_batch_submit(struct mcx_batch *b);

/*
 * Wait up to timeout_ms (-1: until every request has its final status,
 * which the engine's timeout bounds; 0: just look).  Returns 0 when all
 * succeeded (an empty batch included), -ETIMEDOUT when timeout_ms passed
 * first, -EINVAL for requests added but never submitted, else the error of
 * the first failed request (in add order).
 */
int mcx_batch_wait(struct mcx_batch *b, int timeout_ms);

/*
 * Wait up to timeout_ms (-1: no limit) until one of v[0..n) (submitted
 * batches of one engine) has every status: its index, -ETIMEDOUT, or
 * -EINVAL.  With a few batches in flight, a thread refills the one that
 * finished and keeps the NICs busy (mcxfer-bench does).
 */
int mcx_batch_wait_any(struct mcx_batch *const *v, size_t n, int timeout_ms);

struct mcx_status {
	uint64_t cookie;
	int status;		/* 0 done, -EINPROGRESS, -ETIMEDOUT or -errno */
	uint32_t op;		/* enum mcx_op */
	uint64_t len;
};

/* Statuses of the first n requests; returns how many were filled. */
int mcx_batch_status(struct mcx_batch *b, struct mcx_status *st, size_t n);

/*
 * Free the batch.  If requests are still in flight (after -ETIMEDOUT) it
 * first waits until the NICs have let go of their buffers.
 */
void mcx_batch_free(struct mcx_batch *b);

/* ---- notifications ---- */

struct mcx_notify {
	uint32_t tag;
	uint32_t reserved;
	char from[64];		/* the sender's address as we saw it, or "" */
};

/* Take up to n notifications that arrived, oldest first; how many. */
int mcx_notify_poll(struct mcx_engine *eng, struct mcx_notify *out, size_t n);

/* An fd that is readable while notifications wait (owned by the engine). */
int mcx_notify_fd(struct mcx_engine *eng);

#ifdef __cplusplus
}
#endif

#endif /* MCXFER_H */
