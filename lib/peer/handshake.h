/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What client.c and server.c share (private to lib/peer).
 */
#ifndef MCXFER_LIB_PEER_HANDSHAKE_H
#define MCXFER_LIB_PEER_HANDSHAKE_H

#include "peer/peer.h"

/* Room for any request or reply but MEM_REPLY (CONNECT with 64 pairs). */
#define MCX_HANDSHAKE_BUF	(32U << 10)
/* What both ends bind the authentication to (auth.h: ctx). */
#define MCX_HANDSHAKE_AUTH_CTX	"mcxfer wire 2"

/* Our HELLO (probe 0 for a HELLO_REPLY). */
void mcx__handshake_fill_hello(const struct mcx_peer_env *env, uint64_t probe,
			       struct mcx_wire_hello *h);

/* A MEM_REPLY answering q: the engine's exported registrations, paged. */
int mcx__handshake_mem_reply(struct mcx_peer_env *env, const struct mcx_wire_mem_req *q,
			     uint32_t seq, uint8_t **buf, size_t *len);

/* A peer in state, not yet in env->peers; NULL without memory. */
struct mcx_peer *mcx__peer_alloc(struct mcx_peer_env *env, const char *addr,
				 enum mcx_peer_state state);
/* Put peer in env->peers (where reaping and device events find it). */
void mcx__peer_link(struct mcx_peer_env *env, struct mcx_peer *peer);

/* An incoming peer for an authenticated caller at addr, in env->peers. */
int mcx__peer_incoming(struct mcx_peer_env *env, const char *addr, uint32_t ndevs,
		       struct mcx_peer **out);

/*
 * Keep the target paths made[0..n) answering req (the caller's view:
 * req->pairs[i].remote_nic is our device).  With MCX_WIRE_CONNECT_REBUILD
 * they replace the paths of the same devices.  Takes the paths on 0.
 */
int mcx__peer_incoming_paths(struct mcx_peer *peer, const struct mcx_wire_connect *req,
			     struct mcx_tp_path **made, uint32_t n);

/* The rail hints of our devices and of a HELLO's. */
void mcx__handshake_rail_local(const struct mcx_devs *devs, struct mcx_rail_dev *out);
void mcx__handshake_rail_remote(const struct mcx_wire_hello *h, struct mcx_rail_dev *out);

/* Append a MEM_REPLY's descriptors to v (n of them so far; bytes bounds them). */
int mcx__peer_take_descs(const struct mcx_wire_mem *m, struct mcx_rdesc **v, size_t *n,
			 uint64_t *bytes);

/* 0 when the peer's HELLO describes the same devices as h, else -ESTALE. */
int mcx__peer_check_hello(const struct mcx_peer *peer, const struct mcx_wire_hello *h);

/* The paths peer holds now. */
uint32_t mcx__peer_nr_paths(struct mcx_peer *peer);

/*
 * How many of req's pairs name no path peer holds: what the CONNECT would
 * add (a REBUILD of such a pair makes a new path too).
 */
uint32_t mcx__peer_new_pairs(struct mcx_peer *peer, const struct mcx_wire_connect *req);

/*
 * The path that pair i of req will be once mcx__peer_incoming_paths() has
 * kept it (its owner for the transport's events and notifications), or
 * NULL when there is no room.  One CONNECT of a connection at a time.
 */
struct mcx_path *mcx__peer_slot_for(struct mcx_peer *peer, const struct mcx_wire_connect *req,
				    uint32_t i);

#endif /* MCXFER_LIB_PEER_HANDSHAKE_H */
