/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * peer.c's internals that the unit tests reach: the choice of NIC pairs by
 * rail and the listener's counters.  The handshake's entry points for the
 * rest of the library are in engine.h.
 */
#ifndef MCXFER_LIB_PEER_H
#define MCXFER_LIB_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "wire.h"

/* Largest request the listener reads (CONNECT with every pair is ~10 KiB). */
#define MCX_LISTEN_MAX_REQ	(64U << 10)
/* Connections the listener serves at once; more are accepted and closed. */
#define MCX_LISTEN_MAX_CONNS	128
/* Descriptors a peer may announce in all (bounds what a refetch keeps). */
#define MCX_PEER_MAX_DESCS	(1U << 20)
/* ...and the rkeys of all of them (a hostile peer cannot make us hoard). */
#define MCX_PEER_MAX_DESC_BYTES	(1ULL << 30)

struct mcx_rail_choice {
	uint32_t lnic;		/* index into the local NIC list */
	uint32_t rnic;		/* the remote NIC's index (as it announced it) */
	bool rail;		/* same index or subnet; false: fall-back */
};

/*
 * Choose one pair per local NIC that can reach some remote NIC (same link
 * layer): same index and same IPv4 subnet (or, on a link without IPv4
 * addresses, same index); else a remote NIC in the same subnet, the least
 * used one first; else any remote NIC, the same index or the least used.
 * Fills out[] (room for nl entries) and returns how many pairs were chosen.
 */
uint32_t mcx__rail_choose(const struct mcx_nic_info *local, uint32_t nl,
			  const struct mcx_wire_nic *remote, uint32_t nr,
			  struct mcx_rail_choice *out);

/* Whether two IPv4 addresses (network order) share the shorter prefix. */
bool mcx__same_subnet(uint32_t a, uint8_t alen, uint32_t b, uint8_t blen);

struct mcx_listener_stats {
	uint32_t conns;		/* open now */
	uint64_t accepted;	/* connections accepted and served */
	uint64_t refused;	/* accepted and closed at once: too many */
	uint64_t dropped;	/* closed for bad input, a timeout or an error */
	uint64_t requests;	/* requests answered (errors included) */
};

/* The listener's counters; -ENOTCONN when the engine has none. */
int mcx__listener_stats(struct mcx_engine *eng, struct mcx_listener_stats *st);

#endif /* MCXFER_LIB_PEER_H */
