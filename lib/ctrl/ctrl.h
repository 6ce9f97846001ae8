/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/ctrl: the control connection between engines: its binary format
 * (wire.h, wire.c), pre-shared-key authentication (auth.h, auth.c), the
 * socket helpers both ends use (sock.c) and the metadata blob (md.c).
 * Nothing here knows peers or devices: peer/ builds the handshake on top.
 * Other folders include this header only; wire.h and auth.h are its
 * parts, each with the format or protocol it describes.
 */
#ifndef MCXFER_LIB_CTRL_CTRL_H
#define MCXFER_LIB_CTRL_CTRL_H

#include <stddef.h>
#include <stdint.h>

#include "ctrl/auth.h"
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

/* ---- md.c: the metadata blob (mcx_engine_export_md) ---- */

#define MCX_MD_MAGIC		0x4d58434dU	/* "MCXM" little-endian */
#define MCX_MD_VERSION		1
#define MCX_MD_FIXED		20
#define MCX_MD_LISTEN_MAX	255
#define MCX_MD_MAX_PAGES	1024
#define MCX_MD_MAX		(64U << 20)

/* A decoded blob: pointers into the caller's buffer, which must outlive it. */
struct mcx_md {
	char listen[MCX_MD_LISTEN_MAX + 1];	/* "" without a listener */
	const uint8_t *hello;			/* a HELLO_REPLY message */
	size_t hello_len;
	uint32_t npages;
	const uint8_t **pages;			/* MEM_REPLY messages */
	size_t *page_len;
};

/*
 * Write a blob into buf: the length, -ENOBUFS when cap is too small (ask
 * mcx__md_len() first), -EINVAL/-EMSGSIZE for parts out of bounds.
 */
ssize_t mcx__md_encode(void *buf, size_t cap, const char *listen, const void *hello,
		       size_t hello_len, const uint8_t *const *pages, const size_t *page_len,
		       uint32_t npages);
size_t mcx__md_len(const char *listen, size_t hello_len, const size_t *page_len,
		   uint32_t npages);

/*
 * Check a blob's container (magic, version, length, crc, bounds, padding,
 * the embedded messages' headers and types) and point *out at its parts;
 * the messages themselves go through the wire decoders.  -EBADMSG,
 * -EPROTO (another version), -ENOMEM.
 */
int mcx__md_decode(const void *buf, size_t len, struct mcx_md *out);
void mcx__md_free(struct mcx_md *md);

#endif /* MCXFER_LIB_CTRL_CTRL_H */
