/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/ctrl: the control connection between engines: its binary format
 * (wire.h, wire.c), pre-shared-key authentication (auth.h, auth.c) and the
 * socket helpers both ends use (sock.c).  Nothing here knows peers or
 * devices: peer/ builds the handshake on top.
 */
#ifndef MCXFER_LIB_CTRL_CTRL_H
#define MCXFER_LIB_CTRL_CTRL_H

#include <stddef.h>
#include <stdint.h>

#include "ctrl/wire.h"
#include "util/util.h"

/* Monotonic clock in milliseconds. */
uint64_t mcx__now_ms(void);

/* TCP_NODELAY and keep-alives on a control socket. */
void mcx__sock_tune(int fd);

/* Connect to host:port within timeout_ms.  The socket (non-blocking), or -errno. */
int mcx__tcp_connect(const char *host, uint16_t port, uint32_t timeout_ms);

/* Send all of buf before deadline (ms, monotonic).  0 or -errno. */
int mcx__send_all(int fd, const void *buf, size_t len, uint64_t deadline);

/*
 * A message being read from a non-blocking socket: the header first (checked
 * against max before anything is allocated), then exactly the declared rest.
 */
struct mcx_msg_reader {
	uint8_t hdr[MCX_WIRE_HDR_LEN];
	struct mcx_wire_hdr h;
	uint8_t *buf;			/* whole message once the header is in */
	size_t got;
	uint32_t max;
	uint64_t started;		/* ms of its first byte */
	uint64_t last;			/* ms of the last bytes read */
};

void mcx__reader_reset(struct mcx_msg_reader *r);

/*
 * Read what is there.  1: a whole message is in r->buf (the caller takes
 * it and resets r); 0: more is needed; -ENOTCONN: the peer closed between
 * messages; -ECONNRESET: it closed inside one; a wire.c header error; or
 * another -errno.
 */
int mcx__reader_step(int fd, struct mcx_msg_reader *r);

#endif /* MCXFER_LIB_CTRL_CTRL_H */
