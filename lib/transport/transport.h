/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/transport: what the data path asks of a transport (verbs RC today).
 */
#ifndef MCXFER_LIB_TRANSPORT_TRANSPORT_H
#define MCXFER_LIB_TRANSPORT_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/util.h"

struct mcx_engine;
struct mcx_nic;
struct mcx_pair;

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

#define MCX_MAX_NICS		16	/* selected device ports per engine */
#define MCX_MAX_QPS_PER_PAIR	8	/* MCX_QPS_PER_PAIR upper bound */
#define MCX_MAX_PAIRS		(MCX_MAX_NICS * MCX_MAX_NICS)
#define MCX_GID_LEN		16


/* One QP's connection parameters. */
struct mcx_qp_info {
	uint32_t qpn;			/* 24 bits */
	uint32_t psn;			/* 24 bits */
};

/*
 * One side of a pair as exchanged by the handshake: the QPs, in order
 * (qp[i] of one side connects to qp[i] of the other), and the addressing
 * of the NIC they live on.
 */
struct mcx_ep_info {
	uint8_t gid[MCX_GID_LEN];
	uint16_t lid;
	uint8_t port;
	uint8_t mtu;			/* enum ibv_mtu: the side's nic->mtu */
	uint8_t link_layer;
	uint8_t nqp;			/* 1..MCX_MAX_QPS_PER_PAIR */
	struct mcx_qp_info qp[MCX_MAX_QPS_PER_PAIR];
};

/* ------------------------------------------------------------------ */
/* Transport interface                                                 */
/* ------------------------------------------------------------------ */

struct mcx_slice;

/*
 * What a transport provides.  The verbs transport maps a pair to RC QPs;
 * a connectionless one (libfabric RDM) would map a pair to (local
 * endpoint, remote address) with pair_connect inserting the address.
 * All hooks but pair_create/pair_connect/pair_destroy run with eng->lock
 * held and must not block.
 */
struct mcx_transport_ops {
	const char *name;
	/* Make the pair's local endpoint(s); fill pair->local. */
	int (*pair_create)(struct mcx_pair *pair);
	/* Connect the local endpoint(s) to the remote side's. */
	int (*pair_connect)(struct mcx_pair *pair, const struct mcx_ep_info *remote);
	/*
	 * Whether qp of pair can take one more slice now (WR and CQ caps).
	 */
	bool (*can_post)(const struct mcx_pair *pair, uint32_t qp);
	/*
	 * Post slice s (s->pair, s->qp set) as one RDMA read/write.  0, or
	 * -errno when the endpoint refused it (the caller then fails the pair).
	 */
	int (*post)(struct mcx_slice *s);
	/*
	 * Reap up to max completions of nic and hand each to
	 * mcx__slice_done().  Returns how many were reaped, or -errno.
	 */
	int (*poll)(struct mcx_engine *eng, struct mcx_nic *nic, int max);
	/* Move the pair's endpoint(s) to an error state so posted work flushes. */
	void (*pair_error)(struct mcx_pair *pair);
	/* Free the endpoint(s); nothing is in flight. */
	void (*pair_destroy)(struct mcx_pair *pair);
};

extern const struct mcx_transport_ops mcx__verbs_ops;

#endif /* MCXFER_LIB_TRANSPORT_TRANSPORT_H */
