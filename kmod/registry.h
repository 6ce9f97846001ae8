/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mcxfer registry: entries (pinned dma-buf ranges) on attachments (one
 * pinned mapping of a dma-buf for one device), per-client references,
 * per-owner names, the linger LRU, caps, MR records and access checks.
 *
 * This header is the seam between the registry logic and the rest of the
 * module.  Nothing in the registry touches a dma-buf, an RDMA device or a
 * file directly: everything that does goes through struct
 * mcx_backend_ops, and every caller identity comes in a struct mcx_who.
 * That is what lets the KUnit tests in kmod/tests/ drive the registry
 * without real buffers:
 *
 *   static void *fake_attach(struct mcx_registry *reg,
 *                            struct mcx_attach *att, void *arg)
 *           { return arg; }                 (ERR_PTR(-errno) on failure)
 *   static void fake_detach(struct mcx_registry *reg, void *priv) {}
 *   static const struct mcx_backend_ops fake_ops = {
 *           .attach = fake_attach, .detach = fake_detach,
 *   };
 *
 *   mcx_reg_init(&reg, &fake_ops);     (0 or -ENOMEM)
 *   reg.clock = fake_clock;            (optional: milliseconds, monotonic)
 *   reg.limits.linger_ms = 1000;       (set the limits directly)
 *   mcx_client_init(&reg, &client);
 *   args.key.buf = (void *)0x1000;     (any distinct non-NULL pointer)
 *   args.buf_size = 4096;              (what the attachment charges)
 *   mcx_reg_pin(&client, &args, &who, &id, &hit);
 *   ...
 *   mcx_client_release(&client);
 *   mcx_reg_expire(&reg);              (runs linger expiry synchronously)
 *   mcx_reg_destroy(&reg);
 *
 * Locking.  Every mcx_reg_* function takes reg->lock itself; callers must
 * not hold it.  The backend is never called with reg->lock held: attach
 * runs between two critical sections of PIN (a race of two identical pins
 * is settled when the second one re-checks under the lock and drops its
 * own attachment), and detach runs from mcx_reg_release(), which every
 * mcx_reg_* function that may drop an attachment calls after unlocking.
 * So a slow exporter or a device removal stalls only its own caller.
 * Functions return 0 or a negative errno; the errnos are the ioctls'.
 */
#ifndef MCXFER_REGISTRY_H
#define MCXFER_REGISTRY_H

#include <linux/cred.h>
#include <linux/list.h>
#include <linux/llist.h>
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
struct mcx_ctx;
struct pid;
struct pid_namespace;

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

/*
 * Who is asking: the credentials of the file's opener (mcx_who_from_cred),
 * never those of the task calling ioctl().
 */
struct mcx_who {
	kuid_t uid;			/* fsuid */
	kgid_t gid;			/* fsgid */
	bool admin;			/* CAP_SYS_ADMIN in the initial user ns */
	/* supplementary groups; NULL: only gid counts (tests) */
	const struct group_info *groups;
	/* uids and gids in and out of the ABI; NULL: &init_user_ns */
	struct user_namespace *user_ns;
};

/*
 * What makes two pins the same entry: the same dma-buf, the same byte range
 * and the same target device.  buf is the struct dma_buf (only compared);
 * target is the struct ib_device the range is mapped for, or NULL for no
 * device (only compared, never dereferenced by the registry).
 */
struct mcx_key {
	const void *buf;
	u64 offset;
	u64 length;
	const void *target;
};

/* Names are scoped per owner: the same name may exist once per uid. */
struct mcx_name_key {
	kuid_t owner;
	char name[MCXFER_NAME_MAX];
};

struct mcx_pin_args {
	struct mcx_key key;
	u32 flags;			/* MCXFER_PIN_* */
	u32 share;			/* MCXFER_SHARE_*, used on a miss */
	const char *name;		/* validated name or NULL */
	u64 buf_size;			/* size of the whole dma-buf: the charge */
	const char *exporter;		/* exporter name, may be NULL */
	const char *target_name;	/* RDMA device name, or NULL */
	void *backend_arg;		/* handed to ops->attach */
};

struct mcx_user;

/*
 * One pinned, mapped attachment of a dma-buf for a device, shared by every
 * entry on the same (buf, target).  The exporter pins and maps the whole
 * dma-buf, so the whole size is charged, once, to user.
 */
struct mcx_attach_key {
	const void *buf;		/* the dma-buf */
	const void *target;		/* the ib_device, or NULL */
};

struct mcx_attach {
	struct mcx_attach_key key;
	struct rhash_head node;		/* reg->attachments */
	struct list_head entries;	/* struct mcx_entry.att_node */
	u64 size;
	struct mcx_user *user;		/* charged to */
	u32 nr_entries;			/* live entries on it */
	u32 nr_active;			/* of which referenced */
	u32 holds;			/* PINs about to add an entry */
	bool invalid;			/* set by mcx_reg_note_invalid() */
	void *priv;			/* backend state */
	struct list_head pending_node;	/* reg->pending, while being made */
	struct llist_node release_node;	/* reg->release */
};

/*
 * Backend: what the registry calls to make and drop the real pin, never
 * with reg->lock held.
 *  attach:       attach, pin and map for args->backend_arg; returns the
 *                backend's state or an ERR_PTR.  att is the registry's
 *                object the state will belong to (for move_notify).
 *  detach:       undo attach.
 *  get_buf:      return a new reference to e's buffer for LOOKUP's
 *                EXPORT_FD (the caller of mcx_reg_lookup puts it); called
 *                with reg->lock held, must not sleep; optional.
 *  mr_get:       take a reference on mr->file for GET_MR (reg->lock held,
 *                must not sleep); optional.
 *  mr_put:       drop the reference the registry holds on mr->file (reg->lock
 *                held, must defer anything that sleeps); optional.
 *  target_alive: false when target (an RDMA device) is being removed, so
 *                that no entry or MR is created for it after its removal
 *                ran; optional (NULL: always alive).
 *  ctx_get:      take a reference on ctx->file for GET_CTX (reg->lock
 *                held, must not sleep); optional.
 *  ctx_put:      drop the reference the registry holds on ctx->file
 *                (reg->lock held, must defer anything that sleeps);
 *                optional.
 */
struct mcx_backend_ops {
	void *(*attach)(struct mcx_registry *reg, struct mcx_attach *att,
			void *arg);
	void (*detach)(struct mcx_registry *reg, void *priv);
	void *(*get_buf)(struct mcx_entry *e);
	void (*mr_get)(struct mcx_mr *mr);
	void (*mr_put)(struct mcx_mr *mr);
	bool (*target_alive)(struct mcx_registry *reg, const void *target);
	void (*ctx_get)(struct mcx_ctx *ctx);
	void (*ctx_put)(struct mcx_ctx *ctx);
};

/*
 * A published MR (see MCXFER_IOC_PUBLISH_MR).  entry->mrs keeps the MRs of
 * one device together, in offset order, devices in the order their first
 * MR came: the order GET_MR's index walks.
 */
struct mcx_mr {
	u64 id;
	struct list_head node;		/* in entry->mrs */
	const void *dev;		/* struct ib_device, only compared */
	char dev_name[MCXFER_IBDEV_NAME_MAX];
	struct file *file;		/* uverbs command file */
	u32 pd_handle;
	u32 mr_handle;
	u32 lkey;
	u32 rkey;
	u32 access;
	u64 iova;
	u64 offset;			/* bytes into the entry */
	u64 length;
	void *priv;			/* backend state */
	struct mcx_ctx *ctx;		/* the shared context of file, or NULL */
};

/*
 * A shared uverbs context (MCXFER_IOC_PUBLISH_CTX), one per (owner,
 * device).  It lives while a client holds it (published or got it) or an
 * MR record made through its file exists; device removal drops it at once.
 */
struct mcx_ctx {
	u64 id;
	struct list_head node;		/* reg->ctxs */
	struct list_head holders;	/* struct mcx_ctx_hold.ctx_node */
	kuid_t owner;
	const void *dev;		/* struct ib_device, only compared */
	char dev_name[MCXFER_IBDEV_NAME_MAX];
	struct file *file;		/* uverbs command file */
	u32 pd_handle;
	u32 nr_holders;
	u32 nr_mrs;			/* MR records with mr->ctx == this */
	bool dying;			/* its device is going: no events */
	void *priv;			/* backend state */
};

/* One client's hold on a shared context. */
struct mcx_ctx_hold {
	struct mcx_ctx *ctx;
	struct mcx_client *c;
	struct list_head ctx_node;	/* ctx->holders */
	struct list_head c_node;	/* c->ctxs */
};

/* Per-uid accounting, one per uid owning or charged for anything. */
struct mcx_user {
	struct list_head node;
	kuid_t uid;
	u64 bytes;			/* sizes of the attachments charged */
	u64 entries;			/* live entries owned */
	u64 idle_bytes;			/* of bytes: attachments nobody uses */
	u64 idle_entries;		/* of entries: lingering ones */
	unsigned int pinning;		/* PINs in progress: keep it around */
};

struct mcx_entry {
	u64 id;
	struct mcx_key key;
	struct mcx_name_key nkey;	/* owner and name (empty: unnamed) */
	struct rhash_head key_node;	/* reg->by_key, while not dead */
	struct rhash_head name_node;	/* reg->by_name, while named, not dead */
	struct list_head lru_node;	/* reg->lru, while lingering */
	struct list_head att_node;	/* att->entries, while not dead */
	struct list_head holders;	/* struct mcx_ref.e_node */
	struct list_head mrs;		/* struct mcx_mr.node */
	struct mcx_attach *att;		/* NULL once dead */
	struct mcx_user *user;		/* owner's accounting, NULL once dead */
	u32 state;			/* MCXFER_STATE_* */
	u32 refs;
	u32 nr_holders;
	u32 nr_mrs;
	u32 flags;			/* MCXFER_PIN_* */
	u32 share;
	kgid_t owner_gid;
	u64 buf_size;
	u64 hits;
	u64 created_ms;
	u64 idle_since_ms;
	bool named;
	char exporter[MCXFER_EXPORTER_MAX];
	char target_name[MCXFER_IBDEV_NAME_MAX];
};

/* One client's references on one entry. */
struct mcx_ref {
	struct mcx_entry *e;
	struct mcx_client *c;
	struct list_head e_node;	/* in e->holders */
	u32 count;
	bool got_mr;			/* c took MR handles of e (GET_MR) */
};

#define MCX_EVENT_QUEUE_LEN	64

/* One open /dev/mcxfer file. */
struct mcx_client {
	struct mcx_registry *reg;
	struct list_head node;		/* reg->clients */
	struct xarray refs;		/* entry id -> struct mcx_ref */
	struct list_head ctxs;		/* struct mcx_ctx_hold.c_node */
	/*
	 * The opener, for LIST_HOLDERS: its tgid (referenced by whoever set
	 * it, or NULL), fsuid and comm at open().  Set before
	 * mcx_client_init() and left alone after.
	 */
	struct pid *pid;
	kuid_t uid;
	char comm[MCXFER_COMM_MAX];
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
	u64 bytes_pinned;		/* sizes of all attachments */
	u64 entries;			/* all entries, dead ones included */
	u64 entries_active;
	u64 entries_linger;
	u64 entries_dead;
	u64 mrs;
	u64 clients;
	u64 attachments;
	u64 contexts;
};

struct mcx_registry {
	struct mutex lock;		/* everything below but limits, release */
	const struct mcx_backend_ops *ops;
	struct mcx_limits limits;
	struct mcx_stats stats;
	struct xarray entries;		/* id -> entry, LIST order */
	u32 next_id;			/* cursor for xa_alloc_cyclic */
	u64 next_mr_id;
	u64 next_ctx_id;
	struct list_head ctxs;		/* struct mcx_ctx */
	/*
	 * Live entries by key and by (owner, name).  Both resize themselves,
	 * so PIN and LOOKUP by name cost the same with 1 or 100,000 entries.
	 */
	struct rhashtable by_key;
	struct rhashtable by_name;
	struct rhashtable attachments;	/* struct mcx_attach by key */
	struct list_head lru;		/* lingering entries, oldest first */
	u64 idle_bytes;			/* sizes of attachments nobody uses */
	struct list_head users;		/* struct mcx_user */
	struct list_head clients;	/* struct mcx_client */
	/* attachments being made by PINs outside the lock */
	struct list_head pending;
	unsigned long pending_gen;	/* bumped when one leaves pending */
	wait_queue_head_t pending_wq;
	/* attachments dropped under lock, detached by mcx_reg_release() */
	struct llist_head release;
	struct mutex release_lock;	/* one releaser at a time, see release */
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
/*
 * Detaches the attachments dropped so far (by this task or another that
 * has not got to it yet).  Device removal and teardown also wait for
 * those another task is detaching right now.
 */
void mcx_reg_release(struct mcx_registry *reg);

/*
 * access.c: identities and what they may do.  cred must outlive who (the
 * client keeps a reference on the opener's); admin is file_ns_capable()
 * of the opener, asked once at open.
 */
void mcx_who_from_cred(const struct cred *cred, bool admin,
		       struct mcx_who *who);
int mcx_name_check(const char *name);
/* May who see (look up, list, pin by LOOKUP_REF, export) e? */
bool mcx_entry_visible(const struct mcx_entry *e, const struct mcx_who *who);
/* Is who e's owner, or admin (evict, revoke, MRs, naming)? */
bool mcx_entry_is_owner(const struct mcx_entry *e, const struct mcx_who *who);

/*
 * PIN.  A hit (same key, entry not dead) takes one more reference for c,
 * whoever owns the entry: the caller holds the dma-buf, which is proof
 * enough.  A named PIN that hits must be the owner's (-EPERM otherwise);
 * the name must be the entry's, or an unnamed entry takes it (-EEXIST
 * when another entry of the owner has it).  share and flags only apply
 * on a miss.  A miss reuses the attachment of its (buf, target) or makes
 * one (charged to who); it makes room under the caps by evicting
 * lingering entries, oldest first, and fails with -EDQUOT (per-user) or
 * -ENOSPC (global) without evicting anything when that cannot be enough.
 * Returns 0 with *id and *hit set.
 */
int mcx_reg_pin(struct mcx_client *c, const struct mcx_pin_args *args,
		const struct mcx_who *who, u64 *id, bool *hit);

/* UNPIN: drop one of c's references; -ENOENT when c holds none on id. */
int mcx_reg_unpin(struct mcx_client *c, u64 id);

/*
 * LOOKUP by name (name != NULL, among the entries of owner) or id.
 * Entries who may not see, and on which c holds no reference, are
 * reported as -ENOENT, exactly like missing ones, so names do not leak.
 * Lookup by name finds only entries that are not dead; by id it also finds
 * dead ones (state MCXFER_STATE_DEAD).  With take_ref, c takes a reference
 * (-EIDRM for a dead entry).  With buf != NULL, *buf gets ops->get_buf()
 * (-EOPNOTSUPP without get_buf, -EIDRM for a dead entry, -EACCES when who
 * is not the owner and the entry does not cover the whole dma-buf).  info
 * is filled in.
 */
int mcx_reg_lookup(struct mcx_client *c, const char *name, kuid_t owner,
		   u64 id, const struct mcx_who *who, bool take_ref,
		   void **buf, struct mcxfer_entry_info *info);

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

/*
 * REVOKE: the owner (or admin) kills entry id even while it is held:
 * pin and MRs dropped, REVOKED sent to the holders.  A lingering entry is
 * simply freed.  -ENOENT: no such visible entry; -EPERM: not the owner;
 * -EIDRM: already dead.
 */
int mcx_reg_revoke(struct mcx_registry *reg, const struct mcx_who *who,
		   u64 id);

void mcx_reg_get_info(struct mcx_registry *reg, struct mcxfer_info *info);

/*
 * PUBLISH_MR: attach mr (allocated by the caller with kzalloc, dev,
 * dev_name, file, the handles, offset and length filled in) to entry id,
 * which c must hold a reference on (-ENOENT otherwise) and who must own
 * (-EPERM).  On success the registry owns mr and the file reference in it
 * (mr may be freed as soon as the lock is dropped, so its id is returned
 * in *mr_id); on error the caller still owns both.  -EEXIST: an MR of the
 * same device overlaps [offset, offset + length); -EINVAL: length is 0 or
 * the range is not inside the entry; -ENODEV: the device is being
 * removed; -EIDRM: the entry is dead.  An MR made through the file of a
 * shared context is counted as one of the context's (see mcx_ctx).
 */
int mcx_reg_publish_mr(struct mcx_client *c, const struct mcx_who *who,
		       u64 id, struct mcx_mr *mr, u64 *mr_id);

/*
 * Undo a PUBLISH_MR whose result could not be copied out: drops the MR
 * mr_id from entry id, if it is still there.
 */
void mcx_reg_unpublish_mr(struct mcx_client *c, u64 id, u64 mr_id);

/*
 * GET_MR: copy out the index-th MR of entry id of device dev_name
 * (non-NULL, in offset order) or of the entry (by device, then offset).
 * The entry must be visible to who (-ENOENT otherwise, also when no such
 * MR exists) and who its owner (-EPERM).  -EIDRM: dead.  With file !=
 * NULL, *file gets mr->file after ops->mr_get() (-EOPNOTSUPP without
 * mr_get), and c, if it holds the entry, is marked as having got it.
 */
int mcx_reg_get_mr(struct mcx_client *c, const struct mcx_who *who, u64 id,
		   const char *dev_name, u32 index, struct mcx_mr *out,
		   struct file **file);

/*
 * LIST_HOLDERS: up to max records of the clients holding entry id, in the
 * order they took their first reference; *total gets how many there are.
 * Pids are translated into pid_ns (0 when not visible there, or when ns is
 * NULL), uids into who's user namespace.  -ENOENT: not visible to who;
 * -EPERM: who is neither the owner nor admin.
 */
int mcx_reg_holders(struct mcx_registry *reg, const struct mcx_who *who,
		    u64 id, struct pid_namespace *pid_ns,
		    struct mcxfer_holder_info *out, u32 max, u32 *n,
		    u32 *total);

/*
 * ctxrec.c: shared contexts.
 *
 * PUBLISH_CTX: make ctx (kzalloc'd by the caller, dev, dev_name, file,
 * pd_handle filled in) the shared context of who->uid for ctx->dev, held
 * by c.  On success the registry owns ctx and its file reference and
 * *ctx_id gets its id; on error the caller still owns both.  -EEXIST: the
 * uid has one for that device; -ENODEV: the device is being removed.
 * MR records already made through the same file become the context's.
 */
int mcx_reg_publish_ctx(struct mcx_client *c, const struct mcx_who *who,
			struct mcx_ctx *ctx, u64 *ctx_id);

/*
 * GET_CTX: who->uid's shared context for device dev: *file gets its file
 * after ops->ctx_get() (-EOPNOTSUPP without it), *pd_handle and *ctx_id
 * its handles, and c holds it from now on (*new_hold: it did not before).
 * -ENOENT: none.  -ENOMEM.
 */
int mcx_reg_get_ctx(struct mcx_client *c, const struct mcx_who *who,
		    const void *dev, struct file **file, u32 *pd_handle,
		    u64 *ctx_id, bool *new_hold);

/*
 * Undo a PUBLISH_CTX, or a GET_CTX that made a new hold, whose result
 * could not be copied out: c lets go of context ctx_id (which goes if
 * nothing else keeps it).
 */
void mcx_reg_put_ctx(struct mcx_client *c, u64 ctx_id);

/*
 * Device removal: entries mapped for target die (DEVICE_REMOVED sent to
 * holders), MRs published on it are dropped (MR_REMOVED sent to the
 * entry's holders) and so are the shared contexts on it.  Returns once
 * the attachments for target are detached, those PINs were making outside
 * the lock included.
 */
void mcx_reg_target_removed(struct mcx_registry *reg, const void *target);

/*
 * Invalidation by the exporter.  mcx_reg_note_invalid() only marks att and
 * queues reg->invalid_work: it is called from move_notify with the
 * dma-buf's reservation lock held, and the registry must not nest its
 * lock inside that one.  mcx_reg_process_invalid() kills the entries of
 * the marked attachments (INVALIDATED sent to holders).
 */
void mcx_reg_note_invalid(struct mcx_registry *reg, struct mcx_attach *att);
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
