/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/transport: what the rest of the library asks of a way to move bytes
 * between hosts.  Verbs RC (transport/verbs) is the first user; the shape is
 * chosen so that a reliable-datagram transport (libfabric FI_EP_RDM, as on
 * AWS EFA) fits without changing its callers:
 *
 *  - a *device* is one local NIC port (RC) or one domain (RDM).  Opening the
 *    transport opens every selected device and describes each with a struct
 *    mcx_tp_dev_attr: limits, capability bits, rail hints and an opaque
 *    address blob that the handshake sends to peers;
 *  - memory is registered per device and yields a 64-bit remote key and a
 *    local descriptor; MCX_TP_CAP_VIRT_ADDR says whether a remote address is
 *    the registered virtual address (verbs) or an offset into the region;
 *  - a *path* is how one local device reaches one remote device: RC makes
 *    QPs and connects them with the blob the other side's path_open
 *    produced (two steps, hence path_open then path_connect); RDM inserts
 *    the remote address into an address vector and needs no second blob;
 *  - posting is batched and never blocks: when the send queue or the
 *    completion queue has no room the transport says -EAGAIN ("full, try
 *    again") and the caller keeps the work;
 *  - progress reaps completions of one device and hands each to a callback
 *    with the context given at post time; a wait fd tells a sleeping thread
 *    that a device has completions.
 *
 * Locking: a device's progress (and arm) must not run on two threads at once
 * (the caller holds a per-device lock); posting to one path must not run on
 * two threads at once (the caller holds the path's owner lock); posting to
 * different paths of one device, and posting while another thread runs the
 * device's progress, are allowed.  No hook blocks, except path_open,
 * path_connect and mr_reg, which may sleep in the kernel.
 *
 * A completion is delivered at most once and never for a path after
 * path_close() returned: a completion that arrives for a closed path is
 * dropped by the transport, and path_close() hands back the contexts of
 * what was never reaped, so a caller knows when each context is free.
 */
#ifndef MCXFER_LIB_TRANSPORT_TRANSPORT_H
#define MCXFER_LIB_TRANSPORT_TRANSPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mcxfer.h"
#include "util/util.h"

#define MCX_TP_MAX_DEVS		16	/* devices one engine uses */
#define MCX_TP_ADDR_MAX		96	/* bytes of a device's address blob */
#define MCX_TP_PATH_BLOB_MAX	192	/* bytes of a path's connection blob */

/* Capability bits of a device (struct mcx_tp_dev_attr.caps). */
#define MCX_TP_CAP_RC		(1U << 0)	/* paths are connections (QPs) */
#define MCX_TP_CAP_RDM		(1U << 1)	/* paths are address-vector entries */
#define MCX_TP_CAP_MANUAL_PROGRESS (1U << 2)	/* data moves only inside progress() */
#define MCX_TP_CAP_WRITE_IMM	(1U << 3)	/* writes may carry a 32-bit tag */
#define MCX_TP_CAP_VIRT_ADDR	(1U << 4)	/* remote addresses are virtual addresses */
#define MCX_TP_CAP_DMABUF	(1U << 5)	/* registers dma-buf ranges */

/* Link kinds: paths are only made between devices of the same kind. */
enum mcx_tp_fabric {
	MCX_TP_FABRIC_IB = 1,
	MCX_TP_FABRIC_ETH = 2,
	MCX_TP_FABRIC_EFA = 3,
};

struct mcx_tp_dev;	/* one open device; the transport's own */
struct mcx_tp_mr;	/* one registration on one device */
struct mcx_tp_path;	/* one local device to one remote device */

/* What the rest of the library may know about a device. */
struct mcx_tp_dev_attr {
	char name[MCX_IBDEV_NAME_MAX];	/* e.g. "rxe0", "efa_0" */
	uint8_t port;			/* 1-based; 0 where ports do not apply */
	uint32_t caps;			/* MCX_TP_CAP_* */
	uint32_t fabric;		/* enum mcx_tp_fabric */
	uint64_t max_msg;		/* bytes of one read or write */
	uint32_t max_outstanding;	/* operations in flight on one path */
	uint64_t max_mr_size;		/* bytes one registration may cover */
	uint32_t max_mr;		/* registrations the device holds */
	uint32_t share;			/* enum mcx_tp_share_state */
	/*
	 * Requests shorter than this go to one device whole (0: every
	 * request is sliced and striped).  RDM providers pay per message
	 * and per peer, so striping small requests costs more than it gains.
	 */
	uint64_t stripe_min;
	/* Rail hints: the address and prefix of the device's IP interface. */
	uint32_t ipv4;			/* network byte order; 0: none */
	uint8_t ipv4_prefix;
	/* Where peers reach it: opaque, compared only by the transport. */
	uint8_t addr[MCX_TP_ADDR_MAX];
	uint32_t addr_len;
};

/* One registration request on one device. */
struct mcx_tp_mr_req {
	uint64_t addr;			/* host address, or the iova of a dma-buf */
	uint64_t len;
	/* Host memory: the address the MR answers to when not addr (another
	 * process's mapping of the same memory); 0: addr. */
	uint64_t iova;
	int dmabuf_fd;			/* -1: host memory */
	uint64_t dmabuf_offset;
	bool remote;			/* peers may read and write it */
};

/* What a registration gives its users. */
struct mcx_tp_mr_info {
	uint64_t rkey;			/* what a peer names it by; 0 if !remote */
	void *desc;			/* what a local post passes (ldesc) */
};

/* Path options. */
#define MCX_TP_PATH_TARGET	(1U << 0)	/* the peer may read and write through it */

enum mcx_tp_opcode {
	MCX_TP_READ = 0,		/* remote -> local */
	MCX_TP_WRITE = 1,		/* local -> remote */
	MCX_TP_WRITE_IMM = 2,		/* write, then deliver imm at the target */
};

/* One operation to post. */
struct mcx_tp_op {
	uint32_t opcode;		/* enum mcx_tp_opcode */
	uint32_t imm;			/* MCX_TP_WRITE_IMM only */
	uint64_t laddr;
	void *ldesc;			/* mcx_tp_mr_info.desc of laddr's registration */
	uint64_t len;			/* 1..max_msg */
	uint64_t raddr;			/* a virtual address or an offset (caps) */
	uint64_t rkey;
	void *ctx;			/* handed back with the completion */
};

/* Completion statuses a transport reports (negative errno values). */
/*  0             done
 *  -ECANCELED    flushed: the path was stopped before it ran
 *  -EFAULT       the range or key was refused (local or remote access error)
 *  -ETIMEDOUT    the path's retries ran out (peer or link gone)
 *  -ECONNRESET   the remote side aborted or never became ready
 *  -EIO          anything else */
typedef void (*mcx_tp_done_fn)(void *arg, void *op_ctx, int status);

/* A notification that arrived on a device (a write with immediate). */
typedef void (*mcx_tp_notify_fn)(void *arg, void *path_owner, uint32_t imm);

/* Something happened to a device or a path outside any operation. */
enum mcx_tp_event {
	MCX_TP_EV_DEV_DOWN = 1,		/* port down or device fatal: every path fails */
	MCX_TP_EV_DEV_UP = 2,		/* the port is active again */
	MCX_TP_EV_PATH_FAILED = 3,	/* this path is unusable */
};
typedef void (*mcx_tp_event_fn)(void *arg, struct mcx_tp_dev *dev, enum mcx_tp_event ev,
				void *path_owner, int err);

/*
 * Shared device contexts (warm start).  Every engine of a user makes its
 * PD, CQs, QPs and MRs in one device context per device, which /dev/mcxfer
 * keeps, so that an MR one engine registered and published is usable by the
 * next one as it is.  The engine lends the transport these two calls when
 * it uses the registry; without them every engine has a private context.
 */
struct mcx_tp_share {
	void *arg;
	/* The shared context of ibdev: a new command fd (the transport owns
	 * it from then on) and its PD's handle; -ENOENT when there is none. */
	int (*get)(void *arg, const char *ibdev, int *cmd_fd, uint32_t *pd_handle);
	/* Offer (cmd_fd, pd_handle) as the shared context of its device
	 * (cmd_fd stays the transport's: the callee takes its own reference);
	 * -EEXIST when another engine's won meanwhile (get that one). */
	int (*publish)(void *arg, int cmd_fd, uint32_t pd_handle);
};

/* How a device's context came to be (struct mcx_tp_dev_attr.share). */
enum mcx_tp_share_state {
	MCX_TP_SHARE_PRIVATE = 0,	/* this engine's own; nothing shared */
	MCX_TP_SHARE_PUBLISHED = 1,	/* made here and offered to the next engines */
	MCX_TP_SHARE_IMPORTED = 2,	/* another engine's, imported */
	/*
	 * Another engine's context, joined for serving only (a provider
	 * without import, on an allowlist): this engine keeps a private
	 * context for everything that posts, and makes its target paths and
	 * the remote access MRs in the shared one.  mr_import gives no desc
	 * (no local use without a registration of its own).
	 */
	MCX_TP_SHARE_TARGET = 3,
};

/* Engine options a transport reads (a copy of the engine's). */
struct mcx_tp_config {
	const char *devices;		/* comma list, or NULL/"all" */
	int port;			/* 0: every ACTIVE port */
	int gid_index;			/* MCX_GID_INDEX_AUTO or fixed */
	int tc, sl, mtu;
	uint32_t max_wr;		/* operations in flight per QP */
	uint32_t qps_per_path;
	int relaxed_ordering;		/* enum mcx_relaxed_ordering */
	/* Relaxed-ordering bit of each device's PCI function as the module
	 * reads it (enum mcx_reg_relaxed, -1: unknown), for processes that
	 * cannot read config space; NULL without the module. */
	int (*pci_relaxed)(void *arg, const char *ibdev);
	void *pci_relaxed_arg;
	const struct mcx_tp_share *share;	/* NULL: private contexts */
	/* libfabric only: the provider (NULL or "auto": efa, verbs;ofi_rxm,
	 * tcp;ofi_rxm, the first present) and stripe_min of its devices. */
	const char *fabric_provider;
	uint64_t stripe_min;
};

/*
 * What identifies a registration inside its device context, so that
 * another engine sharing the context can use it (mr_handle/mr_import).
 */
struct mcx_tp_mr_handle {
	int cmd_fd;			/* the context's command fd (not the caller's) */
	uint32_t pd_handle;
	uint32_t mr_handle;
	uint32_t lkey;
	uint32_t rkey;
	uint32_t access;		/* IBV_ACCESS_* for verbs */
	uint64_t iova;			/* address the MR was registered at */
	uint64_t len;
};

struct mcx_transport_ops {
	const char *name;
	uint32_t wire_id;		/* the handshake's transport number */

	/*
	 * Open every device selected by cfg into devs[0..*n) (at most max)
	 * and describe each in attrs[].  -ENODEV (logged) when nothing usable
	 * was found or a named device does not exist.
	 */
	int (*open)(const struct mcx_tp_config *cfg, struct mcx_tp_dev **devs,
		    struct mcx_tp_dev_attr *attrs, uint32_t max, uint32_t *n);
	/* Close one device; every path and registration on it is gone. */
	void (*close)(struct mcx_tp_dev *dev);

	/* Register one range.  -errno (logged by the caller). */
	int (*mr_reg)(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		      struct mcx_tp_mr **out, struct mcx_tp_mr_info *info);
	/*
	 * Release one registration: an MR made by mr_reg is deregistered; one
	 * from mr_import is only let go of (it belongs to the shared context
	 * and to whoever published it), unless destroy is set, which destroys
	 * it in the shared context for everybody (its registry entry was
	 * revoked or dropped).
	 */
	void (*mr_dereg)(struct mcx_tp_mr *mr);
	void (*mr_destroy)(struct mcx_tp_mr *mr);

	/*
	 * The handles of mr for publishing; -EOPNOTSUPP when the transport
	 * has none (libfabric) or dev's context is private.  Once its
	 * handles are out, the MR belongs to the shared context like an
	 * imported one: mr_dereg only lets go of it (the registry's record
	 * keeps it for the next engine), and mr_destroy destroys it (what
	 * the caller does when publishing failed or the record is gone).
	 */
	int (*mr_handle)(struct mcx_tp_mr *mr, struct mcx_tp_mr_handle *out);
	/*
	 * Use an MR of dev's shared context without registering anything
	 * (h->cmd_fd is ignored: it is dev's).  -EOPNOTSUPP when dev's
	 * context is not the shared one; -EINVAL when h does not fit dev.
	 * On an MCX_TP_SHARE_TARGET device info->desc is NULL: peers reach
	 * the MR, local posts need a registration of their own.
	 */
	int (*mr_import)(struct mcx_tp_dev *dev, const struct mcx_tp_mr_handle *h, bool remote,
			 struct mcx_tp_mr **out, struct mcx_tp_mr_info *info);
	/*
	 * Destroy the MR whose handle is mr_handle in dev's shared context
	 * (the registry said its record was dropped): -ENOENT when it is gone
	 * already, -EOPNOTSUPP as above.
	 */
	int (*mr_destroy_handle)(struct mcx_tp_dev *dev, uint32_t mr_handle);

	/*
	 * Make a path from dev to the remote device whose address blob is
	 * raddr, with MCX_TP_PATH_* flags.  The side that starts passes no
	 * rblob and later finishes the path with path_connect(); the side
	 * that answers passes the starter's blob and gets a path that is
	 * connected already.  Either way blob (room for MCX_TP_PATH_BLOB_MAX)
	 * and *blob_len receive what the other side needs.  owner is handed
	 * back with events about this path.
	 */
	int (*path_open)(struct mcx_tp_dev *dev, const void *raddr, uint32_t raddr_len,
			 uint32_t flags, const void *rblob, uint32_t rblob_len, void *owner,
			 struct mcx_tp_path **out, void *blob, uint32_t *blob_len);
	/* Finish the path with the other side's blob; -EINVAL when it does not fit. */
	int (*path_connect)(struct mcx_tp_path *path, const void *rblob, uint32_t rblob_len);
	/* Stop the path: what is posted completes with -ECANCELED soon. */
	void (*path_stop)(struct mcx_tp_path *path);
	/* Operations posted on path whose completion has not been reaped. */
	uint32_t (*path_inflight)(const struct mcx_tp_path *path);
	/*
	 * Warm-up of a path whose provider sets up its connection to the
	 * peer on first use (libfabric RDM): the first call sends a probe
	 * through it; 0 once one came back, -EINPROGRESS while one is out
	 * (progress brings it back), -EOPNOTSUPP when the path cannot be
	 * probed, or the error the probe failed with.  Never blocks; takes
	 * the device's post lock (call it as a post).  NULL: paths are
	 * connected when made (verbs RC).
	 */
	int (*path_warm)(struct mcx_tp_path *path);
	/* Whether a probe came back through path (NULL: as path_warm). */
	bool (*path_is_warm)(const struct mcx_tp_path *path);
	/*
	 * Free the path.  Completions still due for it are dropped: the
	 * context of each operation not reaped is handed to unreaped (when
	 * set) instead, after the hardware has let go of it.
	 */
	void (*path_close)(struct mcx_tp_path *path,
			   void (*unreaped)(void *arg, void *ctx), void *arg);

	/*
	 * Post ops[0..n) in order.  Returns how many were posted (1..n), or
	 * -EAGAIN when not even the first fits now, or another -errno when
	 * the path is broken (none posted; the caller stops it).
	 */
	int (*post)(struct mcx_tp_path *path, const struct mcx_tp_op *ops, uint32_t n);

	/*
	 * Reap up to max completions of dev and hand each to done(arg, ctx,
	 * status); notifications to notify (when set).  Also reads the
	 * device's asynchronous events and reports them to event.  Returns
	 * how many completions were handed over, or -errno.
	 */
	int (*progress)(struct mcx_tp_dev *dev, int max, mcx_tp_done_fn done,
			mcx_tp_notify_fn notify, mcx_tp_event_fn event, void *arg);
	/* Operations posted on dev whose completion has not been reaped. */
	uint32_t (*dev_inflight)(const struct mcx_tp_dev *dev);
	/*
	 * The fd that becomes readable when dev has a completion after arm();
	 * -1 when the device has none (then progress must be called).
	 */
	int (*wait_fd)(const struct mcx_tp_dev *dev);
	/*
	 * Consume the fd's event and request the next one: 0 when sleeping on
	 * the fd is safe now, -EAGAIN when progress must run first (libfabric's
	 * fi_trywait: completions or provider work are pending that the fd
	 * will not signal again; always so for a device without a wait fd).
	 */
	int (*arm)(struct mcx_tp_dev *dev);
};

/* The verbs RC transport (transport/verbs). */
extern const struct mcx_transport_ops mcx__verbs_transport;
/* The libfabric RDM transport (transport/fabric). */
extern const struct mcx_transport_ops mcx__fabric_transport;

/*
 * The devices an engine opened through one transport (devs.c), shared
 * read-only by mem/, peer/ and xfer/ once open.  progress_lock[i] is held
 * by whoever runs the progress of device i (never two at once).
 */
struct mcx_devs {
	const struct mcx_transport_ops *ops;
	uint32_t n;
	struct mcx_tp_dev *dev[MCX_TP_MAX_DEVS];
	struct mcx_tp_dev_attr attr[MCX_TP_MAX_DEVS];
	pthread_mutex_t progress_lock[MCX_TP_MAX_DEVS];
};

/* Open every device cfg selects through ops.  -errno (logged). */
int mcx__devs_open(struct mcx_devs *d, const struct mcx_transport_ops *ops,
		   const struct mcx_tp_config *cfg);
/* Close them, the last opened first (ports of one device share a context). */
void mcx__devs_close(struct mcx_devs *d);
/* The smallest max_mr_size of the devices (UINT64_MAX without any). */
uint64_t mcx__devs_max_mr_size(const struct mcx_devs *d);

#endif /* MCXFER_LIB_TRANSPORT_TRANSPORT_H */
