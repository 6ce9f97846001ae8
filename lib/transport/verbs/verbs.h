/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/transport/verbs: RDMA devices through libibverbs: discovery, GID and
 * MTU choice, relaxed ordering, RC QPs, posting and polling.
 */
#ifndef MCXFER_LIB_TRANSPORT_VERBS_VERBS_H
#define MCXFER_LIB_TRANSPORT_VERBS_VERBS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "transport/transport.h"

/* ------------------------------------------------------------------ */
/* NICs (device.c, relaxed.c)                                          */
/* ------------------------------------------------------------------ */

/* One selected port of one RDMA device. */
struct mcx_nic {
	unsigned int idx;		/* index in eng->nics[], sent on the wire */
	char name[MCX_IBDEV_NAME_MAX];	/* ibv device name, e.g. "rxe0" */
	uint8_t port;			/* 1-based port number */
	struct ibv_context *ctx;
	struct ibv_pd *pd;

	/* Addressing (resolved once at engine creation). */
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
	uint32_t max_sge;
	uint32_t max_qp_rd_atom;	/* responder depth, for max_dest_rd_atomic */
	uint32_t max_qp_init_rd_atom;	/* initiator depth, for max_rd_atomic */

	/* Relaxed ordering: decided once by mcx__relaxed_decide(). */
	bool relaxed;			/* IBV_ACCESS_RELAXED_ORDERING in use */
	char relaxed_reason[160];	/* why, for the log and mcxfer-tool */
	int mr_access;			/* IBV_ACCESS_* flags for every MR */

	/* Completion queue shared by this NIC's QPs (verbs.c). */
	struct ibv_comp_channel *channel;	/* wakes the poller thread */
	struct ibv_cq *cq;
	uint32_t cq_size;		/* entries; never more outstanding */
	uint32_t cq_outstanding;	/* signalled WRs posted, not yet polled */

	atomic_uint_fast32_t nr_mrs;	/* live MRs, checked against max_mr */
};

/*
 * Open the devices selected by eng->opts (names or all, ports, GID index)
 * into eng->nics[] / eng->nr_nics.  -ENODEV (logged) when nothing usable is
 * found or a named device/port does not exist or is not ACTIVE.
 */
int mcx__devices_open(struct mcx_engine *eng);
void mcx__devices_close(struct mcx_engine *eng);

/*
 * Read the devices' asynchronous events (non-blocking) and act on them:
 * a port going down, a fatal device, CQ or QP error fails the pairs it
 * affects at once instead of waiting for their WRs to time out.
 * eng->lock held.
 */
void mcx__devices_events_locked(struct mcx_engine *eng);

/*
 * Pick the GID of (ctx, port): the configured index, or with gid_index < 0
 * the RoCE v2 entry with an IPv4-mapped address (index 0 on an IB link).
 * Fills nic->gid_index, gid, gid_roce_v2, netdev, ipv4, ipv4_prefix.
 * -ENOENT (logged) when auto finds none, -EINVAL for a bad fixed index.
 */
int mcx__gid_select(struct mcx_nic *nic, int gid_index);

/*
 * Relaxed ordering for nic under policy (0 off, 1 on if supported, 2 auto):
 * sets nic->relaxed, nic->relaxed_reason and nic->mr_access, and logs the
 * decision at info level (log != 0; mcxfer-tool passes 0).
 */
void mcx__relaxed_decide(struct mcx_nic *nic, int policy, int log);

/*
 * What the device itself supports: 1 yes, 0 no, with a reason in why.
 * Reads the PCIe Device Control register of the device's PCI function from
 * sysfs_dev/config (sysfs_dev: /sys/class/infiniband/<dev>/device); no PCI
 * function (software device) or an unreadable capability is 0.
 * Exposed for the unit tests, which point it at a fake config file.
 */
int mcx__relaxed_pci_enabled(const char *sysfs_dev, char *why, size_t whylen);


/* What a NIC tells a peer about itself (for rail choice and addressing). */
struct mcx_nic_info {
	uint32_t idx;
	char name[MCX_IBDEV_NAME_MAX];
	uint8_t port;
	uint8_t link_layer;		/* IBV_LINK_LAYER_* */
	uint8_t mtu;			/* enum ibv_mtu */
	uint8_t ipv4_prefix;
	uint32_t ipv4;			/* network byte order, 0 if none */
	uint16_t lid;
	uint8_t gid[MCX_GID_LEN];
};

void mcx__nic_describe(const struct mcx_nic *nic, struct mcx_nic_info *out);


#endif /* MCXFER_LIB_TRANSPORT_VERBS_VERBS_H */
