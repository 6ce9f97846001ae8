/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * mcxfer: a registry of pinned dma-buf ranges and the RDMA MRs made on them,
 * shared across processes through /dev/mcxfer.
 *
 * ABI rules:
 *  - every argument struct starts with __u32 size and __u32 flags; the kernel
 *    reads it with copy_struct_from_user(), so older and newer userspace keep
 *    working as structs grow at their end;
 *  - only __u32 and __u64 fields; user pointers travel as __u64; fixed-size
 *    strings in output records are NUL-padded bytes carried in __u64 words;
 *  - unknown flags and non-zero reserved fields are rejected with EINVAL;
 *  - the kernel writes back at most the size the caller passed in, and zeroes
 *    everything it does not fill in;
 *  - a size smaller than the first version of a struct is EINVAL; a size over
 *    one page is E2BIG even when the extra bytes are zero.
 */
#ifndef _UAPI_LINUX_MCXFER_H
#define _UAPI_LINUX_MCXFER_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * 2: names are scoped per owner uid (MCXFER_LOOKUP_OWNER), GET_MR and
 *    PUBLISH_MR are the owner's, EVICT can revoke, whole dma-bufs are
 *    charged, operations on dead entries fail with EIDRM.
 */
/*
 * 3: several MRs of one device on an entry, each on its own sub-range
 *    (offset); QUERY_DEVICE; a shared uverbs context per (uid, device)
 *    (PUBLISH_CTX, GET_CTX); LIST_HOLDERS.  Every v2 call keeps its
 *    meaning: the fields v3 gives a meaning to were reserved (zero) in v2.
 */
#define MCXFER_ABI_VERSION	3

/* Names: 1..63 bytes of [A-Za-z0-9._/:-], not starting with '/' or '.'. */
#define MCXFER_NAME_MAX		64	/* including the terminating NUL */
#define MCXFER_IBDEV_NAME_MAX	64	/* IB_DEVICE_NAME_MAX */
#define MCXFER_EXPORTER_MAX	32

/*
 * Who may see, look up (and so pin through LOOKUP_REF) and export the
 * dma-buf of an entry.  Share modes govern pins and dma-buf access only:
 * MR handles (GET_MR) are a whole uverbs context, every PD, QP and MR in it,
 * and go to the owner uid alone, whatever the share mode.  Other users who
 * need the memory register their own MR on the shared dma-buf.
 *
 * Every permission check uses the credentials of the file's opener
 * (file->f_cred: fsuid, fsgid, supplementary groups, CAP_SYS_ADMIN in the
 * initial user namespace), never those of the task calling ioctl(), as for
 * any character device: an fd handed to another process keeps the rights
 * of the process that opened it, no more.  RDMA devices are resolved in the
 * opener's network namespace.
 */
#define MCXFER_SHARE_OWNER	0	/* owner uid only (default) */
#define MCXFER_SHARE_GROUP	1	/* owner uid or owner gid */
#define MCXFER_SHARE_ALL	2	/* everybody who can open /dev/mcxfer */

/* Entry states reported by LIST. */
#define MCXFER_STATE_ACTIVE	0	/* at least one reference held */
#define MCXFER_STATE_LINGER	1	/* no reference; kept warm in the LRU */
#define MCXFER_STATE_DEAD	2	/* invalidated or its device is gone */

/*
 * MCXFER_IOC_GET_INFO: module limits and global statistics.
 * Input: size, flags (must be 0) and reserved[] (must be 0, so that later
 * versions can give them a meaning on input). Everything else is output;
 * size comes back as the kernel's sizeof(struct mcxfer_info), so that
 * userspace learns which fields this kernel fills in.
 *
 * Pinned bytes: an exporter pins and maps the whole dma-buf whatever range
 * an entry names, so what is charged is the whole dma-buf, once per
 * (dma-buf, device) attachment however many entries share it, to the uid
 * whose PIN made the attachment.  bytes_pinned and the caps count that.
 */
struct mcxfer_info {
	__u32 size;
	__u32 flags;
	__u32 abi_version;
	__u32 linger_ms;		/* linger time of idle entries */
	__u64 max_pinned_bytes;		/* global cap, 0 = unlimited */
	__u64 max_entries;
	__u64 user_max_pinned_bytes;	/* per-uid caps, 0 = unlimited */
	__u64 user_max_entries;
	__u64 pins;			/* successful PIN calls */
	__u64 hits;			/* PINs that found an existing entry */
	__u64 misses;			/* PINs that created an entry */
	__u64 unpins;
	__u64 lookups;
	__u64 evictions;		/* entries dropped by EVICT, caps or linger expiry */
	__u64 invalidations;		/* entries killed by the exporter or a device removal */
	__u64 bytes_pinned;		/* bytes in all live entries */
	__u64 entries;			/* all entries */
	__u64 entries_active;
	__u64 entries_linger;
	__u64 entries_dead;
	__u64 mrs;			/* published MRs */
	__u64 clients;			/* open /dev/mcxfer files */
	__u64 attachments;		/* (dma-buf, device) attachments pinned */
	__u64 contexts;			/* shared uverbs contexts (PUBLISH_CTX), v3 */
	__u64 reserved[2];
};

/*
 * MCXFER_IOC_PIN: pin [offset, offset + length) of a dma-buf and take one
 * reference on the entry for the calling file.  If the same range of the same
 * dma-buf is already pinned for the same device, this is a hit: no new
 * attachment, one more reference.  Another range of a dma-buf already
 * attached for the device shares the attachment (and its charge).  A range
 * that is empty, wraps around or ends past the dma-buf is EINVAL.
 *
 * Names are scoped per owner uid: a name is unique among the entries of one
 * owner, and EEXIST means the caller's own entry has it.  A named PIN that
 * hits another user's entry is EPERM (naming is the owner's decision).
 *
 * Without ibdev the dma-buf is mapped for no real device, which only host
 * memory exporters (udmabuf, vgem, ...) accept; the dma-buf of a device
 * memory exporter needs ibdev naming an RDMA device with a PCI DMA device
 * (EOPNOTSUPP otherwise).  ibdev is resolved in the opener's network
 * namespace (ENODEV for a device it cannot see).
 */
#define MCXFER_PIN_NO_LINGER	(1U << 0)	/* drop at the last unpin */
#define MCXFER_PIN_FLAGS	(MCXFER_PIN_NO_LINGER)

#define MCXFER_PIN_OUT_HIT	(1U << 0)

struct mcxfer_pin {
	__u32 size;
	__u32 flags;			/* MCXFER_PIN_* */
	__u32 dmabuf_fd;
	__u32 share;			/* MCXFER_SHARE_*, applied when created */
	__u64 offset;			/* bytes into the dma-buf */
	__u64 length;			/* bytes, > 0 */
	__u64 name;			/* user pointer to a NUL-terminated name, or 0 */
	__u64 ibdev;			/* user pointer to an RDMA device name to map for, or 0 */
	__u64 id;			/* out: entry id */
	__u32 out_flags;		/* out: MCXFER_PIN_OUT_* */
	__u32 reserved0;
	__u64 reserved[2];
};

/* MCXFER_IOC_UNPIN: drop one of the calling file's references on entry id. */
struct mcxfer_unpin {
	__u32 size;
	__u32 flags;			/* must be 0 */
	__u64 id;
	__u64 reserved[2];
};

/*
 * MCXFER_IOC_LOOKUP: find an entry by name (name != 0) or by id (id != 0);
 * both or neither is EINVAL.  A name is looked up among the caller's own
 * entries, or with MCXFER_LOOKUP_OWNER among those of owner_uid (as seen
 * in the opener's user namespace), where only entries whose share mode
 * lets the caller see them are found.  Entries the caller may not see are
 * ENOENT, exactly like missing ones, so names do not leak.
 * With MCXFER_LOOKUP_REF the caller takes a reference (drop it with UNPIN);
 * with MCXFER_LOOKUP_EXPORT_FD a new O_CLOEXEC fd of the same dma-buf is
 * installed in the caller.  That fd reaches the whole dma-buf, not only the
 * entry's range, so for anybody but the owner (and CAP_SYS_ADMIN) it is
 * given only when the entry covers the whole dma-buf (EACCES otherwise).
 * REF or EXPORT_FD on a dead entry is EIDRM.
 */
#define MCXFER_LOOKUP_REF	(1U << 0)
#define MCXFER_LOOKUP_EXPORT_FD	(1U << 1)
#define MCXFER_LOOKUP_OWNER	(1U << 2)	/* owner_uid is an input */
#define MCXFER_LOOKUP_FLAGS	(MCXFER_LOOKUP_REF | MCXFER_LOOKUP_EXPORT_FD | \
				 MCXFER_LOOKUP_OWNER)

struct mcxfer_lookup {
	__u32 size;
	__u32 flags;			/* MCXFER_LOOKUP_* */
	__u64 name;			/* user pointer to a name, or 0 to look up by id */
	__u64 id;			/* in when name == 0; always out */
	__u64 offset;			/* out */
	__u64 length;			/* out */
	__u64 dmabuf_size;		/* out */
	__u32 fd;			/* out with MCXFER_LOOKUP_EXPORT_FD */
	__u32 state;			/* out: MCXFER_STATE_* */
	__u32 owner_uid;		/* in with MCXFER_LOOKUP_OWNER; out */
	__u32 owner_gid;		/* out */
	__u32 share;			/* out */
	__u32 nr_mrs;			/* out */
	__u64 reserved[2];
};

/*
 * MCXFER_IOC_PUBLISH_MR: record an MR that the caller registered on entry id
 * through the uverbs command file uverbs_fd.  The module keeps a reference to
 * that file, so the MR outlives the process that made it.  The RDMA device is
 * taken from the uverbs file.  The MR covers bytes [offset, offset + length)
 * of the entry (a registration cut into chunks publishes one MR per chunk);
 * that range must lie inside the entry (EINVAL), and MRs of one device on
 * one entry must not overlap (EEXIST).  v2 callers pass offset 0 (it was
 * reserved), so their one MR per device covers the entry's start.
 * Only the entry's owner (or CAP_SYS_ADMIN) may publish (EPERM), only with
 * a uverbs file opened with the same fsuid as /dev/mcxfer (EPERM), and
 * only while holding a reference on the entry (ENOENT).  access must be
 * made of known IB access bits (EINVAL).  A dead entry is EIDRM.
 */
struct mcxfer_publish_mr {
	__u32 size;
	__u32 flags;			/* must be 0 */
	__u64 id;			/* entry */
	__u32 uverbs_fd;
	__u32 pd_handle;
	__u32 mr_handle;
	__u32 lkey;
	__u32 rkey;
	__u32 access;			/* IB_ACCESS_* / IBV_ACCESS_* the MR was made with */
	__u64 iova;
	__u64 length;			/* bytes covered, > 0 */
	__u64 mr_id;			/* out */
	__u64 offset;			/* bytes into the entry (v3; reserved in v2) */
	__u64 reserved[1];
};

/*
 * MCXFER_IOC_GET_MR: get an MR published on entry id: with ibdev != 0 the
 * index-th MR of that RDMA device in offset order, with ibdev == 0 the
 * index-th MR of the entry (by device, then offset).  ENOENT past the
 * last.  A new O_CLOEXEC fd for the same uverbs file is installed in the caller, ready
 * for ibv_import_device().  That fd is the whole uverbs context of the
 * publisher, so it goes to the entry's owner uid (or CAP_SYS_ADMIN) only:
 * EPERM for others who may see the entry, ENOENT for those who may not.
 */
struct mcxfer_get_mr {
	__u32 size;
	__u32 flags;			/* must be 0 */
	__u64 id;			/* entry */
	__u64 ibdev;			/* user pointer to a device name, or 0 */
	__u32 index;			/* used when ibdev == 0 */
	__u32 uverbs_fd;		/* out */
	__u32 pd_handle;		/* out */
	__u32 mr_handle;		/* out */
	__u32 lkey;			/* out */
	__u32 rkey;			/* out */
	__u32 access;			/* out */
	__u32 reserved0;
	__u64 iova;			/* out */
	__u64 length;			/* out */
	__u64 mr_id;			/* out */
	__u64 ibdev_name[MCXFER_IBDEV_NAME_MAX / 8];	/* out: device name */
	__u64 offset;			/* out: bytes into the entry (v3) */
	__u64 reserved[1];
};

/* One LIST record. */
struct mcxfer_entry_info {
	__u64 id;
	__u64 offset;
	__u64 length;
	__u64 dmabuf_size;
	__u32 owner_uid;
	__u32 owner_gid;
	__u32 share;
	__u32 state;			/* MCXFER_STATE_* */
	__u32 refs;			/* references held by all clients */
	__u32 holders;			/* clients holding at least one reference */
	__u32 nr_mrs;
	__u32 flags;			/* MCXFER_PIN_* it was created with */
	__u64 hits;
	__u64 age_ms;			/* since creation */
	__u64 idle_ms;			/* since the last reference was dropped; 0 while active */
	__u64 name[MCXFER_NAME_MAX / 8];		/* NUL-padded */
	__u64 exporter[MCXFER_EXPORTER_MAX / 8];	/* dma-buf exporter name */
	__u64 ibdev[MCXFER_IBDEV_NAME_MAX / 8];		/* device it is mapped for, or "" */
	__u64 pinned_bytes;		/* its attachment's: the whole dma-buf; 0 when dead */
	__u32 charged_uid;		/* uid that attachment is charged to */
	__u32 reserved0;
};

/*
 * MCXFER_IOC_LIST: copy out the entries visible to the caller with
 * id >= cursor, in id order.  entries points to an array of count records of
 * entry_size bytes each (entry_size <= sizeof(struct mcxfer_entry_info) copies
 * a prefix; larger sizes are zero-filled).  On return count holds the number
 * written and cursor the id to continue from, 0 when the list is done.
 */
struct mcxfer_list {
	__u32 size;
	__u32 flags;			/* must be 0 */
	__u64 cursor;			/* in/out */
	__u64 entries;			/* user pointer */
	__u32 entry_size;
	__u32 count;			/* in: capacity; out: written */
	__u64 reserved[2];
};

/*
 * MCXFER_IOC_EVICT: drop a lingering entry (id), or with MCXFER_EVICT_IDLE
 * every lingering entry the caller may evict (id must be 0).  Entries still
 * referenced are not evicted (EBUSY for a single id).  Needs the owner uid or
 * CAP_SYS_ADMIN.  Id 0 without MCXFER_EVICT_IDLE, or an id with it, is EINVAL.
 *
 * With MCXFER_EVICT_REVOKE (an id, not with EVICT_IDLE) the owner turns the
 * entry DEAD even while others hold references: its pin and published MRs
 * are dropped at once, every holder gets MCXFER_EVENT_REVOKED, and their
 * later use of the entry fails with EIDRM (UNPIN still drops the reference).
 * Revoking a dead entry is EIDRM.
 */
#define MCXFER_EVICT_IDLE	(1U << 0)
#define MCXFER_EVICT_REVOKE	(1U << 1)
#define MCXFER_EVICT_FLAGS	(MCXFER_EVICT_IDLE | MCXFER_EVICT_REVOKE)

struct mcxfer_evict {
	__u32 size;
	__u32 flags;			/* MCXFER_EVICT_* */
	__u64 id;
	__u64 evicted;			/* out: entries dropped */
	__u64 reserved[2];
};

/*
 * MCXFER_IOC_QUERY_DEVICE: what an unprivileged process cannot read itself
 * about the RDMA device named by ibdev (resolved in the opener's network
 * namespace; ENODEV if it cannot see it): the PCI function that does its
 * DMA (the device's DMA device, or its nearest PCI ancestor for a software
 * device such as rxe over a virtio NIC), whether that function has PCIe
 * Relaxed Ordering enabled (pcie_relaxed_ordering_enabled(), which reads
 * config space a non-root process may not), and its NUMA node.
 */
#define MCXFER_RO_NO_PCI	0	/* no PCI function behind the device */
#define MCXFER_RO_ENABLED	1	/* Enable Relaxed Ordering is set */
#define MCXFER_RO_DISABLED	2	/* clear, or the function is not PCIe */

#define MCXFER_PCI_NAME_MAX	32

struct mcxfer_device_info {
	__u32 size;
	__u32 flags;			/* must be 0 */
	__u64 ibdev;			/* in: user pointer to the device name */
	__u32 relaxed_ordering;		/* out: MCXFER_RO_* */
	__u32 numa_node;		/* out: node + 1, 0 when unknown */
	__u64 pci_name[MCXFER_PCI_NAME_MAX / 8];	/* out: e.g. "0000:3b:00.0" or "" */
	__u64 reserved[2];
};

/*
 * Shared uverbs contexts: one per (owner uid, RDMA device), so that every
 * engine of a user makes its PD, CQs, QPs and MRs in one context and the
 * MRs one engine published are usable by the next (ibv_import_device()
 * and ibv_import_pd() on the fd GET_CTX returns, then ibv_import_mr()).
 *
 * MCXFER_IOC_PUBLISH_CTX offers the context of uverbs_fd, with its PD
 * pd_handle, as the caller's shared context for the file's device (same
 * checks on the uverbs file as PUBLISH_MR; EPERM otherwise).  EEXIST when
 * the caller's uid has one for that device already: GET_CTX it instead.
 * ibdev is ignored on input and 0 on output.
 *
 * MCXFER_IOC_GET_CTX installs a new O_CLOEXEC fd of the shared context of
 * the caller's uid for ibdev, with its pd_handle.  ENOENT when there is
 * none; another user's context is never found (it is a whole uverbs
 * context, as for GET_MR).
 *
 * A shared context lives while a client that published or got it keeps
 * its /dev/mcxfer file open, or an MR published through its uverbs file
 * is recorded; then the module drops its file (and with the last fd of it,
 * whatever is left in it).  Removal of its device drops it at once.
 */
struct mcxfer_ctx {
	__u32 size;
	__u32 flags;			/* must be 0 */
	__u64 ibdev;			/* GET_CTX: in, user pointer to a device name */
	__u32 uverbs_fd;		/* PUBLISH_CTX: in; GET_CTX: out */
	__u32 pd_handle;		/* PUBLISH_CTX: in; GET_CTX: out */
	__u64 ctx_id;			/* out */
	__u64 reserved[2];
};

/*
 * MCXFER_IOC_LIST_HOLDERS: the clients holding references on entry id, for
 * its owner (or CAP_SYS_ADMIN; EPERM for others who may see the entry,
 * ENOENT for those who may not).  holders points to an array of count
 * records of holder_size bytes (a prefix of struct mcxfer_holder_info; the
 * rest of a larger record is zeroed).  On return count holds the records
 * written and total the clients holding the entry.
 */
#define MCXFER_HOLDER_GOT_MR	(1U << 0)	/* took MR handles of it (GET_MR) */
#define MCXFER_COMM_MAX		16		/* TASK_COMM_LEN */

struct mcxfer_holder_info {
	/* opener's tgid in the caller's pid namespace, 0 if not visible */
	__u32 pid;
	__u32 refs;			/* references this client holds */
	__u32 flags;			/* MCXFER_HOLDER_* */
	__u32 uid;			/* opener's uid in the caller's user namespace */
	__u64 comm[MCXFER_COMM_MAX / 8];	/* opener's comm at open() */
};

struct mcxfer_holders {
	__u32 size;
	__u32 flags;			/* must be 0 */
	__u64 id;
	__u64 holders;			/* user pointer */
	__u32 holder_size;
	__u32 count;			/* in: capacity; out: written */
	__u32 total;			/* out */
	__u32 reserved0;
	__u64 reserved[2];
};

/*
 * Events: read() on /dev/mcxfer returns whole struct mcxfer_event records
 * for entries the caller holds references on; poll() reports EPOLLIN while
 * any are queued.  The queue is bounded; when it overflows the oldest
 * events are dropped and an MCXFER_EVENT_OVERFLOW record is queued.
 */
#define MCXFER_EVENT_INVALIDATED	1	/* the exporter moved or revoked the buffer */
#define MCXFER_EVENT_DEVICE_REMOVED	2	/* the RDMA device it was mapped for is gone */
#define MCXFER_EVENT_MR_REMOVED		3	/* an MR published on it was dropped */
#define MCXFER_EVENT_OVERFLOW		4	/* events were lost */
#define MCXFER_EVENT_REVOKED		5	/* its owner revoked it (EVICT_REVOKE) */
/*
 * v3: an MR record made through a shared context was dropped (its entry
 * expired, was evicted or revoked, or it was unpublished) while clients
 * hold that context: the MR itself lives on in the context until somebody
 * destroys it.  Sent to every client that published or got the context;
 * id is the ctx_id and mr_id the MR's handle in that context.  One of them
 * destroys it (ibv_import_mr() then ibv_dereg_mr()), so that the memory it
 * pins is released; the others' attempts then fail harmlessly.
 */
#define MCXFER_EVENT_CTX_MR_DROPPED	6

struct mcxfer_event {
	__u32 size;			/* sizeof(struct mcxfer_event) */
	__u32 type;			/* MCXFER_EVENT_* */
	__u64 id;			/* entry */
	__u64 mr_id;			/* for MCXFER_EVENT_MR_REMOVED */
	__u64 reserved;
};

/*
 * Magic 0xC5, commands 0x00-0x1F: free in
 * Documentation/userspace-api/ioctl/ioctl-number.rst.
 */
#define MCXFER_IOC_TYPE		0xC5

enum {
	MCXFER_CMD_GET_INFO = 0x00,
	MCXFER_CMD_PIN,
	MCXFER_CMD_UNPIN,
	MCXFER_CMD_LOOKUP,
	MCXFER_CMD_PUBLISH_MR,
	MCXFER_CMD_GET_MR,
	MCXFER_CMD_LIST,
	MCXFER_CMD_EVICT,
	MCXFER_CMD_QUERY_DEVICE,	/* v3 */
	MCXFER_CMD_PUBLISH_CTX,		/* v3 */
	MCXFER_CMD_GET_CTX,		/* v3 */
	MCXFER_CMD_LIST_HOLDERS,	/* v3 */
};

/*
 * The size lives in the struct, not in the command number, so a struct can
 * grow without changing the command (the iommufd convention).
 */
#define MCXFER_IOC_GET_INFO	_IO(MCXFER_IOC_TYPE, MCXFER_CMD_GET_INFO)
#define MCXFER_IOC_PIN		_IO(MCXFER_IOC_TYPE, MCXFER_CMD_PIN)
#define MCXFER_IOC_UNPIN	_IO(MCXFER_IOC_TYPE, MCXFER_CMD_UNPIN)
#define MCXFER_IOC_LOOKUP	_IO(MCXFER_IOC_TYPE, MCXFER_CMD_LOOKUP)
#define MCXFER_IOC_PUBLISH_MR	_IO(MCXFER_IOC_TYPE, MCXFER_CMD_PUBLISH_MR)
#define MCXFER_IOC_GET_MR	_IO(MCXFER_IOC_TYPE, MCXFER_CMD_GET_MR)
#define MCXFER_IOC_LIST		_IO(MCXFER_IOC_TYPE, MCXFER_CMD_LIST)
#define MCXFER_IOC_EVICT	_IO(MCXFER_IOC_TYPE, MCXFER_CMD_EVICT)
#define MCXFER_IOC_QUERY_DEVICE	_IO(MCXFER_IOC_TYPE, MCXFER_CMD_QUERY_DEVICE)
#define MCXFER_IOC_PUBLISH_CTX	_IO(MCXFER_IOC_TYPE, MCXFER_CMD_PUBLISH_CTX)
#define MCXFER_IOC_GET_CTX	_IO(MCXFER_IOC_TYPE, MCXFER_CMD_GET_CTX)
#define MCXFER_IOC_LIST_HOLDERS	_IO(MCXFER_IOC_TYPE, MCXFER_CMD_LIST_HOLDERS)

#endif /* _UAPI_LINUX_MCXFER_H */
