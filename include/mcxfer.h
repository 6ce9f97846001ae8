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

/* mcx_registry_evict() flags. */
#define MCX_EVICT_IDLE		(1U << 0)	/* every lingering entry you may evict */

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
};

/* Something happened to an entry the caller holds a reference on. */
enum mcx_reg_event_type {
	MCX_REG_EVENT_INVALIDATED = 1,		/* exporter moved or revoked it */
	MCX_REG_EVENT_DEVICE_REMOVED = 2,	/* its RDMA device is gone */
	MCX_REG_EVENT_MR_REMOVED = 3,		/* an MR published on it was dropped */
	MCX_REG_EVENT_OVERFLOW = 4,		/* events were lost */
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
 * id != 0).  MCX_LOOKUP_REF takes a reference; MCX_LOOKUP_EXPORT_FD returns a
 * new dma-buf fd in out->fd (else out->fd is -1), which the caller closes.
 */
int mcx_registry_lookup(struct mcx_registry *reg, const char *name, uint64_t id,
			uint32_t flags, struct mcx_reg_lookup *out);

/*
 * Publish the MR described by *mr (made on entry id through the uverbs
 * command file mr->uverbs_fd) so that it outlives this process; mr->mr_id is
 * set.  -EEXIST if the entry already has an MR for that device.
 */
int mcx_registry_publish_mr(struct mcx_registry *reg, uint64_t id, struct mcx_reg_mr *mr);

/*
 * Get an MR published on entry id: the one for RDMA device ibdev, or with
 * ibdev == NULL the index-th one.  On failure out->uverbs_fd is -1.
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
 * caller owns (all of them for CAP_SYS_ADMIN).  *evicted (optional) receives
 * the number of entries dropped.
 */
int mcx_registry_evict(struct mcx_registry *reg, uint64_t id, uint32_t flags,
		       uint64_t *evicted);

/* The fd to poll() for events (POLLIN); it stays owned by the handle. */
int mcx_registry_event_fd(struct mcx_registry *reg);

/*
 * Read one event, waiting up to timeout_ms (0: do not wait, -1: forever).
 * Returns 1 with *ev filled in, 0 if none arrived in time, or -errno.
 */
int mcx_registry_read_event(struct mcx_registry *reg, struct mcx_reg_event *ev,
			    int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* MCXFER_H */
