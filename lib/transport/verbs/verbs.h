/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/transport/verbs: the RC transport on libibverbs.  Nothing outside
 * this folder includes this header: the rest of the library sees the
 * transport only through transport/transport.h.
 *
 *   device.c   selecting and opening ports, GID and MTU choice, the
 *              public mcx_devices_query()
 *   share.c    a device's context and PD: private, or the user's shared
 *              one (published here or imported)
 *   relaxed.c  relaxed-ordering policy
 *   mr.c       registrations, and MRs of a shared context
 *   path.c     RC QPs: creation, the connection blob, connect, stop, close
 *   cq.c       posting, completions, notifications, async events
 *
 * One struct mcx_nic per selected port.  A path is one or more RC QPs to
 * one remote port.  Every posted WR has a slot in its path; its wr_id is
 * (path id << 32 | slot), and completions are matched through the NIC's
 * table of live paths, so a completion that arrives for a path already
 * closed (a flushed WR a provider still reports after ibv_destroy_qp) is
 * recognised and dropped instead of touching freed memory.
 */
#ifndef MCXFER_LIB_TRANSPORT_VERBS_VERBS_H
#define MCXFER_LIB_TRANSPORT_VERBS_VERBS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "transport/transport.h"

#define MCX_GID_LEN		16
#define MCX_VERBS_MAX_QPS	8	/* QPs per path (MCX_QPS_PER_PAIR bound) */
#define MCX_VERBS_RD_ATOM_MAX	16
#define MCX_VERBS_RECVS		64	/* receives kept posted on a target QP */

/*
 * The verbs calls that make, import and release contexts, PDs and MRs.
 * Opening and registering go through a table so that the unit tests can
 * drive the import paths without a device that imports (mlx5).
 */
struct mcx_verbs_calls {
	struct ibv_context *(*open_device)(struct ibv_device *dev);
	int (*close_device)(struct ibv_context *ctx);
	struct ibv_pd *(*alloc_pd)(struct ibv_context *ctx);
	int (*dealloc_pd)(struct ibv_pd *pd);
	struct ibv_context *(*import_device)(int cmd_fd);
	struct ibv_pd *(*import_pd)(struct ibv_context *ctx, uint32_t pd_handle);
	void (*unimport_pd)(struct ibv_pd *pd);
	struct ibv_mr *(*import_mr)(struct ibv_pd *pd, uint32_t mr_handle);
	void (*unimport_mr)(struct ibv_mr *mr);
	int (*dereg_mr)(struct ibv_mr *mr);
	/* ibv_reg_mr_iova(): host memory answering to iova. */
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t len, uint64_t iova,
				 int access);
	struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *ctx);
	int (*destroy_comp_channel)(struct ibv_comp_channel *ch);
	/* The kernel driver of dev (named name) into buf, "" when unknown. */
	void (*driver_name)(struct ibv_device *dev, const char *name, char *buf, size_t len);
};

/* libibverbs itself (share.c). */
extern const struct mcx_verbs_calls mcx__verbs_real_calls;

/* One device's context and PD, shared by its ports. */
struct mcx_vctx {
	const struct mcx_verbs_calls *calls;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	enum mcx_tp_share_state state;
	/*
	 * MCX_TP_SHARE_TARGET only: the user's shared context, joined for
	 * serving (share.c): a context of this device whose commands go to
	 * the shared command file, and an ibv_pd for the shared PD.  ctx and
	 * pd above are then this engine's private ones.
	 */
	struct ibv_context *tctx;
	struct ibv_pd *tpd;
	int own_cmd_fd, own_async_fd;	/* tctx's own files, back before closing it */
};

/* A completion queue with its channel and its count of what will complete. */
struct mcx_vcq {
	struct ibv_comp_channel *channel;
	struct ibv_cq *cq;
	uint32_t size;			/* entries */
	atomic_uint outstanding;	/* WRs (send and receive) that will complete */
};

/* One selected port of one RDMA device (struct mcx_tp_dev to others). */
struct mcx_nic {
	char name[MCX_IBDEV_NAME_MAX];	/* ibv device name, e.g. "rxe0" */
	uint8_t port;			/* 1-based port number */
	struct ibv_context *ctx;
	bool ctx_owner;			/* closes vctx (first port of a device) */
	struct ibv_pd *pd;		/* the device's, shared by its ports */
	struct mcx_vctx vctx;		/* where ctx and pd came from */
	struct mcx_tp_config cfg;

	/* Addressing (resolved once at open). */
	int gid_index;			/* chosen (auto or MCX_IB_GID_INDEX) */
	union ibv_gid gid;
	bool gid_roce_v2;		/* GID type of gid_index */
	uint16_t lid;			/* IB link layer only */
	enum ibv_mtu active_mtu;	/* port's active MTU */
	enum ibv_mtu mtu;		/* min(active, MCX_IB_MTU) */
	uint8_t link_layer;		/* IBV_LINK_LAYER_* */
	char netdev[32];		/* netdev of the GID, "" if none */
	uint32_t ipv4;			/* network byte order; 0 if none */
	uint8_t ipv4_prefix;		/* prefix length of ipv4 on netdev */

	/* Device limits (ibv_query_device). */
	uint64_t max_mr_size;
	uint32_t max_mr;
	uint32_t max_qp_wr;
	uint32_t max_cqe;
	uint32_t max_qp_rd_atom;	/* responder resources we can offer */
	uint32_t max_qp_init_rd_atom;	/* initiator depth we can use */

	/* Relaxed ordering: decided once by mcx__relaxed_decide(). */
	bool relaxed;			/* IBV_ACCESS_RELAXED_ORDERING in use */
	char relaxed_reason[160];	/* why, for the log and mcxfer-tool */
	int mr_access;			/* IBV_ACCESS_* of an exported MR */

	/*
	 * Completion queue of this port's QPs in the private context.  On a
	 * device that joined the shared context (MCX_TP_SHARE_TARGET) only
	 * initiating paths use it, so it is made by the first of them
	 * (mcx__verbs_private_cq()), not at open: serving never waits for
	 * it.  channel and cq are set once, under cq_lock, before cq_made
	 * turns true; readers outside cq_lock look at cq_made first.
	 */
	struct ibv_comp_channel *channel;
	struct ibv_cq *cq;
	pthread_mutex_t cq_lock;
	atomic_bool cq_made;
	uint32_t cq_size;		/* entries */
	atomic_uint cq_outstanding;	/* WRs (send and receive) that will complete */
	/*
	 * MCX_TP_SHARE_TARGET: the CQ of the target QPs, in the shared
	 * context (its QPs must name a CQ of their own file), and an epoll
	 * set of both channels: the device's wait fd.
	 */
	struct mcx_vcq tcq;
	int wait_set;			/* -1: none (the wait fd is channel's) */

	/* Live paths by id (under paths_lock; progress looks them up). */
	pthread_mutex_t paths_lock;
	struct mcx_vpath **paths;	/* open hash by id, cap a power of two */
	uint32_t paths_cap, paths_n;
	uint32_t next_path_id;

	atomic_uint nr_mrs;		/* live MRs, checked against max_mr */

	/* Ports of one device share ctx; the first reads its async events. */
	struct mcx_nic *next_port;
	uint64_t events_ns;		/* when they were last read */
};

/* One QP of a path. */
struct mcx_vqp {
	struct ibv_qp *qp;
	uint32_t psn;
	uint32_t outstanding;		/* send WRs posted, completion not reaped */
};

/* A slot: the context of one posted send WR. */
struct mcx_vslot {
	void *ctx;
	uint32_t qp;			/* which QP it went to */
	uint32_t next_free;
	bool used;
};

struct mcx_vpath {
	struct mcx_nic *nic;
	pthread_mutex_t lock;		/* slots and QP counts: post vs progress */
	uint32_t id;			/* never 0; unique on the NIC while open */
	void *owner;
	uint32_t flags;			/* MCX_TP_PATH_* */
	/* Its QPs live in the joined shared context: they never send. */
	bool adopted;
	uint32_t nqp;
	uint32_t depth;			/* send WRs per QP */
	uint32_t next_qp;		/* round-robin cursor */
	struct mcx_vqp qp[MCX_VERBS_MAX_QPS];
	enum ibv_mtu remote_mtu;
	uint8_t init_depth;		/* max_rd_atomic after negotiation */
	uint8_t resp_res;		/* max_dest_rd_atomic we offer */
	/* Slots: nqp * depth of them; slot i free when on the free list. */
	struct mcx_vslot *slots;
	uint32_t nslots;
	uint32_t free_head;		/* UINT32_MAX: none */
	atomic_uint inflight;		/* sends posted, not reaped */
	atomic_uint recvs;		/* receives posted, not reaped */
	atomic_bool stopped;
	/* The peer's device, from its address blob. */
	uint8_t rgid[MCX_GID_LEN];
	uint16_t rlid;
	uint8_t rport;
	uint8_t rmtu;
	uint8_t rresp;			/* the peer's responder resources */
	uint8_t rinit;			/* the peer's initiator depth */
};

/* ---- fork.c ---- */

/*
 * Once per process, before any verbs call: ibv_fork_init() (unless
 * RDMAV_FORK_SAFE/IBV_FORK_SAFE asks libibverbs to do it).  0, or its
 * error, which is only logged: a process that never forks loses nothing.
 */
int mcx__verbs_fork_init(void);

/* ---- device.c ---- */
int mcx__verbs_open(const struct mcx_tp_config *cfg, struct mcx_tp_dev **devs,
		    struct mcx_tp_dev_attr *attrs, uint32_t max, uint32_t *n);
void mcx__verbs_close(struct mcx_tp_dev *dev);

/*
 * Pick the GID of (ctx, port): the configured index, or with gid_index < 0
 * the RoCE v2 entry with an IPv4-mapped address (index 0 on an IB link).
 * Fills nic->gid_index, gid, gid_roce_v2, netdev, ipv4, ipv4_prefix.
 * -ENOENT (logged) when auto finds none, -EINVAL for a bad fixed index.
 */
int mcx__gid_select(struct mcx_nic *nic, int gid_index);

/* The device address blob of nic (what path_open on the other side reads). */
uint32_t mcx__verbs_addr_encode(const struct mcx_nic *nic, uint8_t *buf);

/* ---- share.c ---- */

/*
 * Open the context of dev (named name) into out: private without share,
 * else the user's shared one, imported when it exists, or made here and
 * published; every way that cannot share ends in a private context (logged
 * with the reason).  0, or -errno (logged) when not even a private context
 * can be made.
 */
int mcx__verbs_ctx_open(const struct mcx_verbs_calls *calls, const struct mcx_tp_share *share,
			struct ibv_device *dev, const char *name, struct mcx_vctx *out);
/* Close it; a shared PD is let go of, never deallocated. */
void mcx__verbs_ctx_close(struct mcx_vctx *c);

/*
 * Whether the provider of a device with kernel driver driver may join a
 * shared context it cannot import (MCX_TP_SHARE_TARGET).
 */
bool mcx__verbs_can_join(const char *driver);

/*
 * Forget which drivers were found to have no context import (share.c
 * remembers it per process so as to ask once per driver); for tests.
 */
void mcx__verbs_import_forget(void);

/* ---- device.c ---- */

/*
 * The wait set of a TARGET nic: an epoll fd holding the channels' fds
 * (nic->wait_set): the target CQ's, and the private CQ's once it is made
 * (at open it is not: mcx__verbs_wait_set_add_private() adds it later).
 * 0 or -errno; without tcq.channel nothing is made.
 */
int mcx__verbs_wait_set_init(struct mcx_nic *nic);

/*
 * Put nic->channel, made after the wait set, into it (a TARGET nic's
 * private CQ comes with its first initiating path).  0 or -errno; nothing
 * to do without a wait set.
 */
int mcx__verbs_wait_set_add_private(struct mcx_nic *nic);

/*
 * The private context's CQ of nic, made now if it is not yet (with its
 * channel, armed, and in the wait set).  0 with *cq set, or -errno.
 */
int mcx__verbs_private_cq(struct mcx_nic *nic, struct ibv_cq **cq);

/* ---- relaxed.c ---- */

/*
 * Relaxed ordering for nic under policy (0 off, 1 on if supported, 2 auto):
 * sets nic->relaxed, nic->relaxed_reason and nic->mr_access, and logs the
 * decision at info level (log != 0; mcxfer-tool passes 0).
 */
void mcx__relaxed_decide(struct mcx_nic *nic, int policy, int log);
/* The same with the sysfs device directory given (for the unit tests). */
void mcx__relaxed_decide_at(struct mcx_nic *nic, int policy, int log, const char *sysfs_dev);

/*
 * What the device itself supports: 1 yes, 0 no, -1 unknown (its config
 * space, or the part with the PCIe capability, is not readable: not root),
 * with a reason in why.  Reads the PCIe Device Control register of the
 * device's PCI function from sysfs_dev/config (sysfs_dev:
 * /sys/class/infiniband/<dev>/device); no PCI function (software device)
 * or no PCIe capability is 0.
 * Exposed for the unit tests, which point it at a fake config file.
 */
int mcx__relaxed_pci_enabled(const char *sysfs_dev, char *why, size_t whylen);

/* ---- mr.c ---- */
int mcx__verbs_mr_reg(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		      struct mcx_tp_mr **out, struct mcx_tp_mr_info *info);
void mcx__verbs_mr_dereg(struct mcx_tp_mr *mr);
void mcx__verbs_mr_destroy(struct mcx_tp_mr *mr);
int mcx__verbs_mr_handle(struct mcx_tp_mr *mr, struct mcx_tp_mr_handle *out);
int mcx__verbs_mr_import(struct mcx_tp_dev *dev, const struct mcx_tp_mr_handle *h, bool remote,
			 struct mcx_tp_mr **out, struct mcx_tp_mr_info *info);
int mcx__verbs_mr_destroy_handle(struct mcx_tp_dev *dev, uint32_t mr_handle);

/* ---- path.c ---- */
int mcx__verbs_path_open(struct mcx_tp_dev *dev, const void *raddr, uint32_t raddr_len,
			 uint32_t flags, const void *rblob, uint32_t rblob_len, void *owner,
			 struct mcx_tp_path **out, void *blob, uint32_t *blob_len);
int mcx__verbs_path_connect(struct mcx_tp_path *path, const void *rblob, uint32_t len);
void mcx__verbs_path_stop(struct mcx_tp_path *path);
uint32_t mcx__verbs_path_inflight(const struct mcx_tp_path *path);
void mcx__verbs_path_close(struct mcx_tp_path *path,
			   void (*unreaped)(void *arg, void *ctx), void *arg);
/* The live path with this id, or NULL (nic->paths_lock held). */
struct mcx_vpath *mcx__verbs_path_find(struct mcx_nic *nic, uint32_t id);

/*
 * The two blobs, as pure functions for the unit tests.  Decoders return
 * -EINVAL for a blob that is malformed or does not fit the NIC.
 */
struct mcx_verbs_addr {
	uint8_t link_layer;		/* IBV_LINK_LAYER_* */
	uint8_t port;
	uint8_t mtu;			/* enum ibv_mtu */
	uint8_t rd_atom;		/* responder resources it offers */
	uint8_t init_rd_atom;		/* initiator depth it can use */
	uint16_t lid;
	uint8_t gid[MCX_GID_LEN];
};
#define MCX_VERBS_ADDR_LEN	24
uint32_t mcx__verbs_addr_pack(const struct mcx_verbs_addr *a, uint8_t *buf);
int mcx__verbs_addr_unpack(const void *buf, uint32_t len, struct mcx_verbs_addr *out);

struct mcx_verbs_conn {
	uint8_t nqp;			/* 1..MCX_VERBS_MAX_QPS */
	uint8_t init_depth;		/* RDMA reads the sender will keep in flight */
	uint8_t resp_res;		/* RDMA reads the sender accepts in flight */
	uint8_t mtu;			/* enum ibv_mtu of the sender's port */
	uint32_t qpn[MCX_VERBS_MAX_QPS];
	uint32_t psn[MCX_VERBS_MAX_QPS];
};
uint32_t mcx__verbs_conn_pack(const struct mcx_verbs_conn *c, uint8_t *buf);

/*
 * RDMA read depth of a path from our device's limits (initiator depth,
 * responder resources) and the peer's address blob: the reads we keep in
 * flight never exceed what the peer accepts, and the reads we accept never
 * exceed what the peer may issue, each clamped to 1..MCX_VERBS_RD_ATOM_MAX.
 * The connect step lowers init_depth further to the peer's resp_res.
 */
void mcx__verbs_rd_negotiate(uint32_t dev_init, uint32_t dev_resp,
			     const struct mcx_verbs_addr *ra, uint8_t *init_depth,
			     uint8_t *resp_res);
int mcx__verbs_conn_unpack(const void *buf, uint32_t len, struct mcx_verbs_conn *out);

/* ---- cq.c ---- */
int mcx__verbs_post(struct mcx_tp_path *path, const struct mcx_tp_op *ops, uint32_t n);
int mcx__verbs_progress(struct mcx_tp_dev *dev, int max, mcx_tp_done_fn done,
			mcx_tp_notify_fn notify, mcx_tp_event_fn event, void *arg);
uint32_t mcx__verbs_dev_inflight(const struct mcx_tp_dev *dev);
int mcx__verbs_wait_fd(const struct mcx_tp_dev *dev);
int mcx__verbs_arm(struct mcx_tp_dev *dev);
/* Post receives on a target path so that notifications can land (path.c). */
int mcx__verbs_post_recvs(struct mcx_vpath *p, uint32_t qp, uint32_t n);

/* wr_id layout. */
#define MCX_VERBS_WRID(id, slot)	(((uint64_t)(id) << 32) | (uint32_t)(slot))
#define MCX_VERBS_RECV_SLOT(qp)		(0xffff0000U | (qp))
#define MCX_VERBS_IS_RECV(slot)		(((slot) & 0xffff0000U) == 0xffff0000U)

#endif /* MCXFER_LIB_TRANSPORT_VERBS_VERBS_H */
