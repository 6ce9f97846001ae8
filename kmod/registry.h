/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mcxfer registry: entries (pinned dma-buf ranges), per-client references,
 * names, the linger LRU, caps and access checks.
 *
 * This header is the seam between the registry logic and the rest of the
 * module.  Nothing in registry.c touches a dma-buf, an RDMA device or a file
 * directly: everything that does goes through struct mcx_backend_ops, and
 * every caller identity comes in a struct mcx_who.  That is what lets the
 * KUnit tests in kmod/tests/ drive the registry without real buffers:
 *
 *   static int fake_pin(struct mcx_registry *reg, struct mcx_entry *e,
 *                       void *arg) { e->priv = arg; return 0; }
 *   static void fake_unpin(struct mcx_registry *reg, struct mcx_entry *e) {}
 *   static const struct mcx_backend_ops fake_ops = {
 *           .pin = fake_pin, .unpin = fake_unpin,
 *   };
 *
 *   mcx_reg_init(&reg, &fake_ops);     (0 or -ENOMEM)
 *   reg.clock = fake_clock;            (optional: milliseconds, monotonic)
 *   reg.limits.linger_ms = 1000;       (set the limits directly)
 *   mcx_client_init(&reg, &client);
 *   args.key.buf = (void *)0x1000;     (any distinct non-NULL pointer)
 *   mcx_reg_pin(&client, &args, &who, &id, &hit);
 *   ...
 *   mcx_client_release(&client);
 *   mcx_reg_expire(&reg);              (runs linger expiry synchronously)
 *   mcx_reg_destroy(&reg);
 *
 * Every mcx_reg_* function takes reg->lock itself; callers must not hold
 * it.  The backend ops are called with reg->lock held.  Functions return 0
 * or a negative errno; the errnos are the ones the ioctls return.
 *
 * API stability: the functions and fields documented here are used by the
 * KUnit tests.  Changes are announced in this comment:
 *  - mcx_reg_publish_mr() returns the new MR id in *mr_id (mr may be freed
 *    by a concurrent device removal once the call returns).
 *  - struct mcx_mr has a backend field priv; the registry never touches it.
 *  - mcx_reg_init() returns int (it allocates the key and name tables),
 *    and mcx_reg_destroy() may only follow a successful mcx_reg_init().
 */
#ifndef MCXFER_REGISTRY_H
#define MCXFER_REGISTRY_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rhashtable-types.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <uapi/linux/mcxfer.h>

struct mcx_registry;
struct mcx_entry;
struct mcx_mr;

/*
 * Limits, written by the module parameters (any time, READ_ONCE on use).
 * 0 means unlimited for the caps; linger_ms == 0 drops entries at their
 * last unpin.
 */
struct mcx_limits {
	unsigned int linger_ms;
	u64 max_pinned_bytes;
	u64 max_entries;
	u64 user_max_pinned_bytes;
	u64 user_max_entries;
};

/* Who is asking.  mcx_who_current() fills it from the calling task. */
struct mcx_who {
	kuid_t uid;			/* fsuid */
	kgid_t gid;			/* fsgid */
	bool admin;			/* CAP_SYS_ADMIN */
	/* supplementary groups; NULL: only gid counts (tests) */
	int (*in_group)(kgid_t gid);	/* in_group_p() */
};

/*
 * What makes two pins the same entry: the same dma-buf, the same byte range
 * and the same target device.  buf is the struct dma_buf (only compared);
 * target is the struct ib_device the range is mapped for, or NULL for the
 * misc device (only compared, never dereferenced by the registry).
 */
struct mcx_key {
	const void *buf;
	u64 offset;
	u64 length;
	const void *target;
};

struct mcx_pin_args {
	struct mcx_key key;
	u32 flags;			/* MCXFER_PIN_* */
	u32 share;			/* MCXFER_SHARE_*, used on a miss */
	const char *name;		/* validated name or NULL */
	u64 buf_size;			/* size of the whole dma-buf */
	const char *exporter;		/* exporter name, may be NULL */
	const char *target_name;	/* RDMA device name, or NULL */
	void *backend_arg;		/* handed to ops->pin */
};

/*
 * Backend: what the registry calls to make and drop the real pin.  All ops
 * are called with reg->lock held and may sleep.
 *  pin:          map the new entry e (e->key is set); store state in e->priv.
 *  unpin:        undo pin (called once, when the entry dies or is freed).
 *  get_buf:      return a new reference to e's buffer for LOOKUP's
 *                EXPORT_FD (the caller of mcx_reg_lookup puts it); optional.
 *  mr_get:       take a reference on mr->file for GET_MR; optional.
 *  mr_put:       drop the reference the registry holds on mr->file; optional.
 *  target_alive: false when target (an RDMA device) is being removed, so
 *                that no entry or MR is created for it after its removal
 *                ran; optional (NULL: always alive).
 */
struct mcx_backend_ops {
	int (*pin)(struct mcx_registry *reg, struct mcx_entry *e, void *arg);
	void (*unpin)(struct mcx_registry *reg, struct mcx_entry *e);
	void *(*get_buf)(struct mcx_entry *e);
	void (*mr_get)(struct mcx_mr *mr);
	void (*mr_put)(struct mcx_mr *mr);
	bool (*target_alive)(struct mcx_registry *reg, const void *target);
};

/* A published MR (see MCXFER_IOC_PUBLISH_MR). */
struct mcx_mr {
	u64 id;
	struct list_head node;		/* in entry->mrs */
	const void *dev;		/* struct ib_device, only compared */
	char dev_name[MCXFER_IBDEV_NAME_MAX];
	void *file;			/* uverbs command file (struct file *) */
	u32 pd_handle;
	u32 mr_handle;
	u32 lkey;
	u32 rkey;
	u32 access;
	u64 iova;
	u64 length;
	void *priv;			/* backend state */
};

/* Per-uid accounting, one per uid owning at least one live entry. */
struct mcx_user {
	struct list_head node;
	kuid_t uid;
	u64 bytes;
	u64 entries;
	/* the user's lingering entries, oldest first, and their sum */
	struct list_head lru;		/* struct mcx_entry.user_lru_node */
	u64 idle_bytes;
	u64 idle_entries;
	unsigned int pinning;		/* PINs in progress: keep it around */
};

struct mcx_entry {
	u64 id;
	struct mcx_key key;
	struct rhash_head key_node;	/* reg->by_key, while not dead */
	struct rhash_head name_node;	/* reg->by_name, while named, not dead */
	struct list_head lru_node;	/* reg->lru, while lingering */
	struct list_head user_lru_node;	/* user->lru, while lingering */
	struct list_head holders;	/* struct mcx_ref.e_node */
	struct list_head mrs;		/* struct mcx_mr.node */
	struct mcx_user *user;		/* accounting, NULL once dead */
	u32 state;			/* MCXFER_STATE_* */
	u32 refs;
	u32 nr_holders;
	u32 nr_mrs;
	u32 flags;			/* MCXFER_PIN_* */
	u32 share;
	kuid_t owner_uid;
	kgid_t owner_gid;
	u64 buf_size;
	u64 hits;
	u64 created_ms;
	u64 idle_since_ms;
	bool named;
	bool invalid;			/* set by mcx_reg_note_invalid() */
	char name[MCXFER_NAME_MAX];
	char exporter[MCXFER_EXPORTER_MAX];
	char target_name[MCXFER_IBDEV_NAME_MAX];
	void *priv;			/* backend state */
};

/* One client's references on one entry. */
struct mcx_ref {
	struct mcx_entry *e;
	struct mcx_client *c;
	struct list_head e_node;	/* in e->holders */
	u32 count;
};

#define MCX_EVENT_QUEUE_LEN	64

/* One open /dev/mcxfer file. */
struct mcx_client {
	struct mcx_registry *reg;
	struct list_head node;		/* reg->clients */
	struct xarray refs;		/* entry id -> struct mcx_ref */
	/* event queue, see events.c */
	spinlock_t ev_lock;
	wait_queue_head_t ev_wait;
	unsigned int ev_head;
	unsigned int ev_count;
	bool ev_lost;
	struct mcxfer_event ev[MCX_EVENT_QUEUE_LEN];
};

struct mcx_stats {
	u64 pins;
	u64 hits;
	u64 misses;
	u64 unpins;
	u64 lookups;
	u64 evictions;
	u64 invalidations;
	u64 bytes_pinned;		/* bytes in entries not dead */
	u64 entries;			/* all entries, dead ones included */
	u64 entries_active;
	u64 entries_linger;
	u64 entries_dead;
	u64 mrs;
	u64 clients;
};

struct mcx_registry {
	struct mutex lock;		/* everything below but limits */
	const struct mcx_backend_ops *ops;
	struct mcx_limits limits;
	struct mcx_stats stats;
	struct xarray entries;		/* id -> entry, LIST order */
	u32 next_id;			/* cursor for xa_alloc_cyclic */
	u64 next_mr_id;
	/*
	 * Live entries by key and by name.  Both resize themselves, so PIN
	 * and LOOKUP by name cost the same with 1 or 100,000 entries.
	 */
	struct rhashtable by_key;
	struct rhashtable by_name;
	struct list_head lru;		/* lingering entries, oldest first */
	u64 idle_bytes;			/* sum of their lengths */
	struct list_head users;		/* struct mcx_user */
	struct list_head clients;	/* struct mcx_client */
	/* milliseconds, monotonic; tests may replace it before use */
	u64 (*clock)(void);
	/*
	 * Linger expiry and deferred invalidation run from these works when
	 * wq is set (the module sets it; tests leave it NULL and call
	 * mcx_reg_expire()/mcx_reg_process_invalid() themselves).
	 */
	struct workqueue_struct *wq;
	struct delayed_work linger_work;
	struct work_struct invalid_work;
	bool dying;
};

/* Lifetime.  mcx_reg_init() returns 0 or -ENOMEM. */
int mcx_reg_init(struct mcx_registry *reg, const struct mcx_backend_ops *ops);
/* Drops every entry; there must be no clients left. */
void mcx_reg_destroy(struct mcx_registry *reg);
void mcx_client_init(struct mcx_registry *reg, struct mcx_client *c);
/* Drops all of c's references (close of the file). */
void mcx_client_release(struct mcx_client *c);

/* Identity of the calling task. */
void mcx_who_current(struct mcx_who *who);

/*
 * Names: 1..63 bytes of [A-Za-z0-9._/:-], not starting with '/' or '.'.
 * Returns 0, -EINVAL or -ENAMETOOLONG.
 */
int mcx_name_check(const char *name);

/* Access: may who see (look up, list, get MRs of) e? */
bool mcx_entry_visible(const struct mcx_entry *e, const struct mcx_who *who);
/* May who evict e (owner or admin)? */
bool mcx_entry_may_evict(const struct mcx_entry *e, const struct mcx_who *who);

/*
 * PIN.  A hit (same key, entry not dead) takes one more reference for c,
 * whoever owns the entry: the caller holds the dma-buf, which is proof
 * enough.  On a hit, a name must be the entry's name; an unnamed entry
 * takes the name (-EEXIST when another entry has it).  share and flags
 * only apply on a miss.  A miss makes room under the caps by evicting
 * lingering entries (the user's oldest first for a per-user cap, then the
 * oldest overall) and fails with -EDQUOT (per-user) or -ENOSPC (global)
 * without evicting anything when that cannot be enough.
 * Returns 0 with *id and *hit set.
 */
int mcx_reg_pin(struct mcx_client *c, const struct mcx_pin_args *args,
		const struct mcx_who *who, u64 *id, bool *hit);

/* UNPIN: drop one of c's references; -ENOENT when c holds none on id. */
int mcx_reg_unpin(struct mcx_client *c, u64 id);

/*
 * LOOKUP by name (name != NULL) or id.  Entries who may not see, and on
 * which c holds no reference, are reported as -ENOENT, exactly like
 * missing ones, so names do not leak.
 * Lookup by name finds only entries that are not dead; by id it also finds
 * dead ones (state MCXFER_STATE_DEAD).  With take_ref, c takes a reference
 * (-ENOENT for a dead entry).  With buf != NULL, *buf gets ops->get_buf()
 * (-EOPNOTSUPP without get_buf, -ENOENT for a dead entry).  info is
 * filled in.
 */
int mcx_reg_lookup(struct mcx_client *c, const char *name, u64 id,
		   const struct mcx_who *who, bool take_ref, void **buf,
		   struct mcxfer_entry_info *info);

/*
 * LIST: up to max records of entries visible to who with id >= *cursor,
 * in id order.  *n gets the number written; *cursor the next id to ask
 * for, or 0 when there is nothing after them.
 */
int mcx_reg_list(struct mcx_registry *reg, const struct mcx_who *who,
		 u64 *cursor, struct mcxfer_entry_info *out, u32 max, u32 *n);

/*
 * EVICT one lingering entry (idle == false) or every lingering entry who
 * may evict (idle == true, id ignored).  -ENOENT: no such visible entry;
 * -EPERM: not the owner and not admin; -EBUSY: still referenced or dead.
 */
int mcx_reg_evict(struct mcx_registry *reg, const struct mcx_who *who,
		  u64 id, bool idle, u64 *evicted);

void mcx_reg_get_info(struct mcx_registry *reg, struct mcxfer_info *info);

/*
 * PUBLISH_MR: attach mr (allocated by the caller with kzalloc, dev,
 * dev_name, file and the handles filled in) to entry id, which c must hold
 * a reference on (-ENOENT otherwise).  On success the registry owns mr and
 * the file reference in it (mr may be freed as soon as the lock is dropped,
 * so its id is returned in *mr_id); on error the caller still owns both.
 * -EEXIST: an MR for the same device is already published; -EINVAL:
 * mr->length is 0 or exceeds the entry; -ENODEV: the device is being
 * removed; -ENOENT also for a dead entry.
 */
int mcx_reg_publish_mr(struct mcx_client *c, u64 id, struct mcx_mr *mr,
		       u64 *mr_id);

/*
 * GET_MR: copy out the MR of entry id for device dev_name (non-NULL) or the
 * index-th one.  The entry must be visible to who (-ENOENT otherwise, also
 * when no such MR exists).  With file != NULL, *file gets mr->file after
 * ops->mr_get() (-EOPNOTSUPP without mr_get).
 */
int mcx_reg_get_mr(struct mcx_client *c, const struct mcx_who *who, u64 id,
		   const char *dev_name, u32 index, struct mcx_mr *out,
		   void **file);

/*
 * Device removal: entries mapped for target die (backend unpinned at
 * once, DEVICE_REMOVED sent to holders) and MRs published on it are
 * dropped (MR_REMOVED sent to the entry's holders).
 */
void mcx_reg_target_removed(struct mcx_registry *reg, const void *target);

/*
 * Invalidation by the exporter.  mcx_reg_note_invalid() only marks e and
 * queues reg->invalid_work: it is called from move_notify with the
 * dma-buf's reservation lock held, while PIN takes that lock with
 * reg->lock held, so taking reg->lock there could deadlock.
 * mcx_reg_process_invalid() kills the marked entries (backend unpinned,
 * INVALIDATED sent to holders).
 */
void mcx_reg_note_invalid(struct mcx_registry *reg, struct mcx_entry *e);
void mcx_reg_process_invalid(struct mcx_registry *reg);

/*
 * Linger expiry: frees lingering entries idle for at least linger_ms and
 * re-arms linger_work for the next one.  Also applies a changed
 * linger_ms (the module parameter calls mcx_reg_kick()).
 */
void mcx_reg_expire(struct mcx_registry *reg);
void mcx_reg_kick(struct mcx_registry *reg);

/* Events (events.c).  Called with reg->lock held or not: takes ev_lock. */
void mcx_client_event(struct mcx_client *c, u32 type, u64 id, u64 mr_id);
/* Pops one event into ev; false when the queue is empty. */
bool mcx_client_pop_event(struct mcx_client *c, struct mcxfer_event *ev);
bool mcx_client_has_events(struct mcx_client *c);

#endif /* MCXFER_REGISTRY_H */
