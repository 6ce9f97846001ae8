/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/meta: an engine in a metadata service (etcd, through ctrl/etcd.h).
 *
 * With a name, the engine's metadata blob (mcx_engine_export_md) is put
 * under /PREFIX/NAME, attached to a lease of ttl_s seconds that a thread
 * keeps alive; the same thread puts the blob again when it changed (a
 * registration exported or dropped), so the published blob follows the
 * engine within one keepalive period.  A peer opened by name
 * (mcx_peer_open(eng, "etcd:NAME")) is opened from the blob it fetches
 * (mcx__peer_open_md) and then watched: the thread asks for its key every
 * poll period, and when the key is gone (its lease expired or was
 * revoked: that engine stopped) or was made anew (another engine took the
 * name), the peer fails as it does when its TCP connection is lost
 * (-ECONNRESET).  etcd being unreachable fails nothing that already
 * works: it is logged, and the thread tries again.
 *
 * It owns its lease, its clients and its list of watched peers; it uses
 * peer/ (blobs, opening, failing) and ctrl/etcd.h, and core/ starts and
 * stops it.  Lock order: meta's lock comes before every lock of peer/ and
 * xfer/ (it is held while a watched peer is failed, so that a peer is
 * never failed after mcx__meta_forget_peer() returned).
 */
#ifndef MCXFER_LIB_META_META_H
#define MCXFER_LIB_META_META_H

#include <stdint.h>

#include "ctrl/etcd.h"
#include "peer/peer.h"

/* The prefix of a peer address that names an engine in the service. */
#define MCX_META_ADDR_PREFIX	"etcd:"
#define MCX_META_TTL_MIN	2	/* etcd's own minimum lease */
#define MCX_META_TTL_MAX	3600
#define MCX_META_TTL_DEFAULT	10

struct mcx_meta;

/*
 * Connect env's engine to the service at url (etcd://HOST:PORT/PREFIX,
 * already checked); with name (NULL: none) publish it there, which needs
 * a listener.  Requests end within timeout_ms.  -ELIBACC without libcurl
 * or json-c, etcd's errors (-ECONNREFUSED, -ETIMEDOUT... logged with the
 * URL), -EINVAL (no listener to publish).
 */
int mcx__meta_start(struct mcx_peer_env *env, const char *url, const char *name,
		    uint32_t ttl_s, uint32_t timeout_ms, struct mcx_meta **out);

/* Stop the thread, revoke the lease (the name goes at once), free. */
void mcx__meta_stop(struct mcx_meta *m);

/*
 * Open the engine published as name: -EINVAL for a bad name, -ENOENT
 * when none is published under it, -EBADMSG when its value is no blob,
 * etcd's errors, or mcx__peer_open_md()'s.  The peer is then watched.
 */
int mcx__meta_open_peer(struct mcx_meta *m, const char *name, struct mcx_peer **out);

/* Stop watching peer (before it is closed).  Harmless for others. */
void mcx__meta_forget_peer(struct mcx_meta *m, struct mcx_peer *peer);

/* The blob puts made so far (tests: a change is published again). */
uint64_t mcx__meta_puts(struct mcx_meta *m);

#endif /* MCXFER_LIB_META_META_H */
