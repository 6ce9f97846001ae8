/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/transport/fabric: the reliable-datagram transport on libfabric
 * (FI_EP_RDM with FI_RMA), shaped for AWS EFA and usable with any provider
 * that offers RMA on RDM endpoints (verbs;ofi_rxm, tcp;ofi_rxm, shm).
 * Nothing outside this folder includes this header nor rdma/fabric.h.
 *
 *   calls.c    the libfabric calls, through a table the unit tests replace
 *   device.c   provider choice, one domain per device, its one endpoint,
 *              address vector and completion queue; the address blob
 *   query.c    the public mcx_fabric_query(): what device.c would choose,
 *              for mcxfer-tool devices
 *   mr.c       registrations, honouring the domain's mr_mode
 *   path.c     paths: address-vector entries shared by the paths that
 *              reach one remote endpoint; the blob (notification token,
 *              probe region); warm-up
 *   cq.c       posting under the endpoint's lock, the in-flight cap,
 *              completions, notifications (remote CQ data), warm-up
 *              probes, the wait fd
 *
 * A device owns one endpoint that every path posts through (an RDM
 * endpoint reaches any peer whose address is in its AV).  Every posted
 * operation holds a slot of the device (the slot's fi_context2 is the
 * operation's context), so the device never has more in flight than its
 * tx_attr->size, and a completion finds its path through the slot.  A
 * closed path lives on, with its contexts given back, until the last of
 * its slots completes, so that a late completion touches nothing freed.
 */
#ifndef MCXFER_LIB_TRANSPORT_FABRIC_FABRIC_H
#define MCXFER_LIB_TRANSPORT_FABRIC_FABRIC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "transport/transport.h"

#define MCX_FAB_API_VERSION	FI_VERSION(1, 9)
#define MCX_FAB_ADDR_HDR	8	/* bytes of our header in the address blob */
#define MCX_FAB_NAME_MAX	(MCX_TP_ADDR_MAX - MCX_FAB_ADDR_HDR)
#define MCX_FAB_PROV_MAX	32
#define MCX_FAB_TX_MAX		16384	/* slots of one device, whatever tx_attr says */
#define MCX_FAB_PATH_BLOB_LEN	24	/* magic, token, probe address and key */
#define MCX_FAB_PATH_BLOB_OLD	8	/* magic and token: no probe to warm up with */

/*
 * The libfabric calls the transport makes.  Most of libfabric's API is
 * inline functions dispatching through the objects' ops; going through
 * this table instead lets the unit tests drive the paths that only EFA
 * takes (FI_MR_LOCAL + FI_MR_PROV_KEY + FI_MR_ENDPOINT, -FI_EAGAIN storms,
 * AV insert failures).  Every call returns what its libfabric counterpart
 * returns (0 or a negative FI_ errno, a count for the ssize_t ones).
 */
struct mcx_fab_calls {
	int (*getinfo)(uint32_t version, const struct fi_info *hints, struct fi_info **info);
	void (*freeinfo)(struct fi_info *info);
	int (*fabric)(struct fi_fabric_attr *attr, struct fid_fabric **fabric);
	int (*domain)(struct fid_fabric *fabric, struct fi_info *info, struct fid_domain **dom);
	int (*endpoint)(struct fid_domain *dom, struct fi_info *info, struct fid_ep **ep);
	int (*av_open)(struct fid_domain *dom, struct fi_av_attr *attr, struct fid_av **av);
	int (*cq_open)(struct fid_domain *dom, struct fi_cq_attr *attr, struct fid_cq **cq);
	int (*ep_bind)(struct fid_ep *ep, struct fid *obj, uint64_t flags);
	int (*enable)(struct fid_ep *ep);
	int (*getname)(struct fid_ep *ep, void *addr, size_t *len);
	/* fi_av_insert of one address: how many were inserted (1), or -FI_errno. */
	int (*av_insert)(struct fid_av *av, const void *addr, fi_addr_t *out);
	int (*av_remove)(struct fid_av *av, fi_addr_t addr);
	int (*mr_regattr)(struct fid_domain *dom, const struct fi_mr_attr *attr, uint64_t flags,
			  struct fid_mr **mr);
	int (*mr_bind)(struct fid_mr *mr, struct fid_ep *ep);
	int (*mr_enable)(struct fid_mr *mr);
	uint64_t (*mr_key)(struct fid_mr *mr);
	void *(*mr_desc)(struct fid_mr *mr);
	int (*close)(struct fid *obj);
	ssize_t (*readmsg)(struct fid_ep *ep, const struct fi_msg_rma *msg, uint64_t flags);
	ssize_t (*writemsg)(struct fid_ep *ep, const struct fi_msg_rma *msg, uint64_t flags);
	ssize_t (*cq_read)(struct fid_cq *cq, struct fi_cq_data_entry *buf, size_t count);
	ssize_t (*cq_readerr)(struct fid_cq *cq, struct fi_cq_err_entry *err);
	/* fi_control(FI_GETWAIT) of a CQ opened with FI_WAIT_FD. */
	int (*cq_wait_fd)(struct fid_cq *cq, int *fd);
	/* fi_trywait on the CQ: 0 when it is safe to sleep on its fd. */
	int (*trywait)(struct fid_fabric *fabric, struct fid_cq *cq);
};

/* libfabric itself (calls.c). */
extern const struct mcx_fab_calls mcx__fab_real_calls;

/*
 * The calls the next mcx__fab_open uses (NULL: libfabric's).  The unit
 * tests set it; the engine never does.
 */
extern const struct mcx_fab_calls *mcx__fab_calls_override;

/* One operation in flight: its context is this slot's fctx. */
struct mcx_fslot {
	struct fi_context2 fctx;	/* first: the op_context libfabric hands back */
	struct mcx_fpath *path;
	void *ctx;			/* the caller's; NULL once given back */
	uint32_t next_free;		/* also the next deferred one */
	bool used;
	bool deferred;			/* waiting in the device's deferred FIFO */
	bool probe;			/* a warm-up probe: its path hears the status */
	bool owed;			/* ctx not yet handed back (path_inflight counts it) */
	struct mcx_tp_op op;		/* kept while deferred */
};

/* One entry of the AV, shared by every path to the same remote endpoint. */
struct mcx_fav {
	struct mcx_fav *next;
	uint8_t addr[MCX_FAB_NAME_MAX];
	uint32_t len;
	fi_addr_t fi_addr;
	uint32_t refs;
};

/* One domain with its endpoint (struct mcx_tp_dev to others). */
struct mcx_fdom {
	const struct mcx_fab_calls *calls;
	char name[MCX_IBDEV_NAME_MAX];	/* the domain's name: "efa_0", "lo", "shm" */
	char prov[MCX_FAB_PROV_MAX];	/* "efa", "tcp;ofi_rxm" ... */
	uint32_t prov_id;		/* in the address blob: same provider only */
	struct fi_info *info;		/* the chosen entry (own copy) */
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_ep *ep;
	struct fid_av *av;
	struct fid_cq *cq;
	int wait_fd;			/* -1: the provider gave none */
	uint64_t mr_mode;		/* FI_MR_* the domain asked for */
	size_t mr_key_size;
	bool manual_progress;
	/*
	 * FI_REMOTE_CQ_DATA of 8 bytes or more: notifications carry the
	 * target's token of the path (high half) and the tag (low half).
	 * Four bytes (EFA) would leave no room for the source, which would
	 * then have to come from FI_SOURCE: not done, so no notifications.
	 */
	bool cq_data;
	bool thread_safe;		/* FI_THREAD_SAFE granted */
	uint64_t stripe_min;		/* cfg's, for the attributes */

	/*
	 * The endpoint's lock: posts, CQ reads and the slots.  EFA's RDM
	 * endpoint does not take concurrent posts safely even when it claims
	 * FI_THREAD_SAFE, so the transport never lets two threads into it.
	 */
	pthread_mutex_t lock;
	struct mcx_fslot *slots;
	uint32_t nslots;		/* the in-flight cap (tx_attr->size) */
	uint32_t free_head;		/* UINT32_MAX: none */
	atomic_uint inflight;
	uint64_t eagain;		/* -FI_EAGAIN answers (for tests and logs) */
	/*
	 * A path failed (path_stop, or an error completion for its peer's
	 * address): the next progress hands back every context its slots
	 * still owe, with -ECANCELED.  An RDM provider need not complete
	 * the rest of a failed connection's work (ofi_rxm reports the
	 * failure once and drops the others), and the endpoint is shared,
	 * so nothing else would flush them.  The slots stay held until the
	 * provider lets go of them (or the device closes): their late
	 * completions find no context and are dropped.
	 */
	atomic_bool flush_due;
	uint64_t flushed;		/* contexts handed back so (tests and logs) */
	/*
	 * Operations the provider answered -FI_EAGAIN, in post order, tried
	 * again by progress.  An RDM provider says "again" with nothing in
	 * flight (rxm while it connects to a new peer, EFA while its
	 * handshake with a new peer runs): the caller would wait for a
	 * completion that never comes, so the transport keeps the work
	 * (each holds its slot, so the in-flight cap still holds).
	 */
	uint32_t defer_head, defer_tail;	/* UINT32_MAX: empty */

	/*
	 * Notifications that arrived with a token naming no live path of
	 * this device, or none at all: dropped and counted (d->lock).
	 */
	uint64_t notify_dropped;
	uint64_t notify_delivered;

	pthread_mutex_t av_lock;	/* avs, next_path_id, zombies, live */
	struct mcx_fav *avs;
	struct mcx_fpath *live;		/* open paths: a notification's token finds its path */
	uint32_t next_path_id;
	struct mcx_fpath *zombies;	/* closed, slots still in flight */

	_Atomic uint64_t next_key;	/* requested keys (no FI_MR_PROV_KEY) */
	atomic_uint nr_mrs;

	uint8_t addr[MCX_FAB_NAME_MAX];	/* fi_getname */
	uint32_t addr_len;

	/*
	 * Warm-up's probe region: 16 bytes registered for peers to read (the
	 * first 8, zeros) and for our probes to read into (the last 8).  Made
	 * with the first path (under av_lock); NULL when that failed, and
	 * then paths only get their AV entry at warm-up.
	 */
	uint64_t *probe_buf;
	struct mcx_tp_mr *probe_mr;
	uint64_t probe_key;
	bool probe_tried;
};

struct mcx_fpath {
	struct mcx_fdom *dom;
	struct mcx_fav *av;
	uint32_t id;			/* random: the token peers put in our notifications */
	uint32_t rtoken;		/* the other side's id of this path (0: none given) */
	uint32_t flags;			/* MCX_TP_PATH_* */
	void *owner;
	atomic_uint inflight;		/* slots held */
	atomic_uint owed;		/* contexts of them not handed back yet */
	atomic_bool stopped;
	bool closed;			/* given back: a zombie until inflight is 0 */
	struct mcx_fpath *next_zombie;
	struct mcx_fpath *next_live;
	/* The other side's probe region (warm-up reads it); !rprobe: none. */
	bool rprobe;
	uint64_t rprobe_addr, rprobe_key;
	/* Warm-up: MCX_FAB_WARM_*, or a negative errno the probe failed with. */
	atomic_int warm;
};

enum {
	MCX_FAB_WARM_COLD = 0,		/* never probed */
	MCX_FAB_WARM_PROBING = 1,	/* a probe is in flight */
	MCX_FAB_WARM_DONE = 2,		/* a probe came back: the provider reached the peer */
};

struct mcx_fmr {
	struct mcx_fdom *dom;
	struct fid_mr *mr;
	void *fdesc;			/* fi_mr_desc: NULL where FI_MR_LOCAL is not asked */
	uint64_t key;
	uint64_t base;			/* what raddr 0 of the MR is (offset mode) */
};

/* ---- device.c ---- */
int mcx__fab_open(const struct mcx_tp_config *cfg, struct mcx_tp_dev **devs,
		  struct mcx_tp_dev_attr *attrs, uint32_t max, uint32_t *n);
void mcx__fab_close(struct mcx_tp_dev *dev);

/*
 * The provider an engine uses: name (the option, or MCX_FABRIC_PROVIDER;
 * NULL or "auto": efa when present, else verbs;ofi_rxm, else tcp;ofi_rxm)
 * into out.  -ENODEV (logged) when none of them offers RDM with RMA.
 */
int mcx__fab_pick_provider(const struct mcx_fab_calls *calls, const char *name, char *out,
			   size_t len);

/* The providers "auto" tries, in order of preference. */
#define MCX_FAB_NR_AUTO		3
extern const char *const mcx__fab_auto_providers[MCX_FAB_NR_AUTO];

/*
 * The domains prov offers with RDM endpoints and RMA, under the hints the
 * engine gives (and FI_HMEM with FI_MR_HMEM when hmem): 0 with *out (freed
 * with calls->freeinfo), -FI_ENODATA when none, -ENOMEM, or libfabric's
 * error.
 */
int mcx__fab_query(const struct mcx_fab_calls *calls, const char *prov, bool hmem,
		   struct fi_info **out);

/* fi's source address is on the loopback: an engine uses it only when named. */
bool mcx__fab_is_loopback(const struct fi_info *fi);

/* The address blob: header (provider id, name length) and the name. */
uint32_t mcx__fab_addr_pack(uint32_t prov_id, const void *name, uint32_t len, uint8_t *buf);
int mcx__fab_addr_unpack(const void *buf, uint32_t len, uint32_t *prov_id,
			 const uint8_t **name, uint32_t *name_len);
uint32_t mcx__fab_prov_id(const char *prov);

/* libfabric's -FI_* as the errno values transport.h lists. */
int mcx__fab_errno(int fi_err);

/* ---- mr.c ---- */
int mcx__fab_mr_reg(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		    struct mcx_tp_mr **out, struct mcx_tp_mr_info *info);
void mcx__fab_mr_dereg(struct mcx_tp_mr *mr);

/* ---- path.c ---- */
int mcx__fab_path_open(struct mcx_tp_dev *dev, const void *raddr, uint32_t raddr_len,
		       uint32_t flags, const void *rblob, uint32_t rblob_len, void *owner,
		       struct mcx_tp_path **out, void *blob, uint32_t *blob_len);
int mcx__fab_path_connect(struct mcx_tp_path *path, const void *rblob, uint32_t len);
void mcx__fab_path_stop(struct mcx_tp_path *path);
uint32_t mcx__fab_path_inflight(const struct mcx_tp_path *path);
/*
 * Warm-up of one path: 0 once a probe (an 8-byte read of the peer's probe
 * region) came back, -EINPROGRESS while one is out (the first call posts
 * it), -EOPNOTSUPP when either side has no probe region, or the error the
 * last probe failed with (once; the next call probes again).
 */
int mcx__fab_path_warm(struct mcx_tp_path *path);
bool mcx__fab_path_is_warm(const struct mcx_tp_path *path);
/* Post p's probe (d->lock held): 0, -EAGAIN (no slot now) or -errno. */
int mcx__fab_probe_post(struct mcx_fpath *p);
void mcx__fab_path_close(struct mcx_tp_path *path, void (*unreaped)(void *arg, void *ctx),
			 void *arg);
/* A slot of path p completed (dom->lock held): frees p if it was its zombie's last. */
void mcx__fab_path_slot_done(struct mcx_fpath *p);
/* Free every zombie (device close). */
void mcx__fab_paths_fini(struct mcx_fdom *d);
/* The open path of d whose id is token, or NULL (d->lock held; takes av_lock). */
struct mcx_fpath *mcx__fab_path_by_token(struct mcx_fdom *d, uint32_t token);

/* The remote CQ data of a notification, and what a target reads from it. */
static inline uint64_t mcx__fab_notify_data(uint32_t rtoken, uint32_t tag)
{
	return ((uint64_t)rtoken << 32) | tag;
}

/* ---- cq.c ---- */
int mcx__fab_post(struct mcx_tp_path *path, const struct mcx_tp_op *ops, uint32_t n);
int mcx__fab_progress(struct mcx_tp_dev *dev, int max, mcx_tp_done_fn done,
		      mcx_tp_notify_fn notify, mcx_tp_event_fn event, void *arg);
uint32_t mcx__fab_dev_inflight(const struct mcx_tp_dev *dev);
int mcx__fab_wait_fd(const struct mcx_tp_dev *dev);
int mcx__fab_arm(struct mcx_tp_dev *dev);
/* The slots of d: nslots of them, all free.  -ENOMEM. */
int mcx__fab_slots_init(struct mcx_fdom *d, uint32_t nslots);
uint64_t mcx__fab_eagain_count(const struct mcx_tp_dev *dev);
/* Notifications dropped for want of a known source (tests and logs). */
uint64_t mcx__fab_notify_dropped(const struct mcx_tp_dev *dev);
/* Contexts handed back because their path failed (tests and logs). */
uint64_t mcx__fab_flushed_count(const struct mcx_tp_dev *dev);
/*
 * Stop every open path of d whose AV entry is av (NULL: every open path)
 * and have the next progress hand back what they owe.  Takes av_lock.
 */
void mcx__fab_paths_fail(struct mcx_fdom *d, const struct mcx_fav *av);

#endif /* MCXFER_LIB_TRANSPORT_FABRIC_FABRIC_H */
