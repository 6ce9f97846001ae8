// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The peer handshake's binary format: encoders and strict decoders.  The
 * layout and the rules are described in wire.h.
 *
 * The decoders read through a cursor that never moves past the end of the
 * buffer: a read beyond it yields zeros and marks the cursor as short, and
 * every count is checked against what is left before it drives a loop or an
 * allocation, so a hostile message can neither make us read out of bounds
 * nor allocate more than a small multiple of its own (bounded) size.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl/wire.h"

/* ---- little-endian access ---- */

static void put_u8(uint8_t **p, uint8_t v)
{
	*(*p)++ = v;
}

static void put_u16(uint8_t **p, uint16_t v)
{
	put_u8(p, (uint8_t)v);
	put_u8(p, (uint8_t)(v >> 8));
}

static void put_u32(uint8_t **p, uint32_t v)
{
	put_u16(p, (uint16_t)v);
	put_u16(p, (uint16_t)(v >> 16));
}

static void put_u64(uint8_t **p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p, (uint32_t)(v >> 32));
}

static void put_bytes(uint8_t **p, const void *src, size_t n)
{
	if (n)
		memcpy(*p, src, n);
	*p += n;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

struct rd {
	const uint8_t *p;
	size_t left;
	int short_read;		/* a read went past the end */
};

static const uint8_t zeros[16];

/* Next n bytes, or n zero bytes (and short_read set) past the end. */
static const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p;

	if (r->short_read || n > r->left) {
		r->short_read = 1;
		r->left = 0;
		return zeros;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t rd_u8(struct rd *r)
{
	return *take(r, 1);
}

static uint16_t rd_u16(struct rd *r)
{
	return le16(take(r, 2));
}

static uint32_t rd_u32(struct rd *r)
{
	return le32(take(r, 4));
}

static uint64_t rd_u64(struct rd *r)
{
	return le64(take(r, 8));
}

static void rd_bytes(struct rd *r, void *dst, size_t n)
{
	if (r->short_read || n > r->left) {
		r->short_read = 1;
		r->left = 0;
		memset(dst, 0, n);
		return;
	}
	memcpy(dst, take(r, n), n);
}

/* ---- CRC-32C ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78U & (0U - (c & 1)));
		crc_table[i] = c;
	}
}

uint32_t mcx__wire_crc32c(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = 0xffffffffU;

	pthread_once(&crc_once, crc_init);
	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffU;
}

/* CRC of a message with its crc field (bytes 20..23) taken as zero. */
static uint32_t msg_crc(const uint8_t *buf, size_t len)
{
	static const uint8_t zero4[4];
	uint32_t c = 0xffffffffU;
	const uint8_t *p;

	pthread_once(&crc_once, crc_init);
	for (size_t i = 0; i < len; i++) {
		p = (i >= 20 && i < 24) ? &zero4[i - 20] : &buf[i];
		c = crc_table[(c ^ *p) & 0xff] ^ (c >> 8);
	}
	return c ^ 0xffffffffU;
}

void mcx__wire_seal(void *buf, size_t len)
{
	uint8_t *p = buf;

	if (len < MCX_WIRE_HDR_LEN)
		return;
	p += 20;
	put_u32(&p, msg_crc(buf, len));
}

/* ---- header ---- */

const char *mcx__wire_type_name(uint16_t type)
{
	switch (type) {
	case MCX_WIRE_HELLO:		return "HELLO";
	case MCX_WIRE_HELLO_REPLY:	return "HELLO_REPLY";
	case MCX_WIRE_CONNECT:		return "CONNECT";
	case MCX_WIRE_CONNECT_REPLY:	return "CONNECT_REPLY";
	case MCX_WIRE_MEM_REQ:		return "MEM_REQ";
	case MCX_WIRE_MEM_REPLY:	return "MEM_REPLY";
	case MCX_WIRE_PING:		return "PING";
	case MCX_WIRE_PONG:		return "PONG";
	case MCX_WIRE_ERROR:		return "ERROR";
	case MCX_WIRE_AUTH:		return "AUTH";
	case MCX_WIRE_AUTH_REPLY:	return "AUTH_REPLY";
	case MCX_WIRE_AUTH_PROOF:	return "AUTH_PROOF";
	case MCX_WIRE_AUTH_OK:		return "AUTH_OK";
	}
	return "unknown";
}

const char *mcx__wire_transport_name(uint32_t transport, char *buf, size_t len)
{
	switch (transport) {
	case MCX_WIRE_TRANSPORT_VERBS:	return "verbs";
	case MCX_WIRE_TRANSPORT_FABRIC:	return "fabric";
	}
	snprintf(buf, len, "transport %u", transport);
	return buf;
}

static int type_known(uint16_t type)
{
	return type >= MCX_WIRE_HELLO && type <= MCX_WIRE_AUTH_OK;
}

int mcx__wire_parse_header(const void *buf, size_t len, size_t max_len,
			   struct mcx_wire_hdr *out)
{
	const uint8_t *p = buf;
	struct mcx_wire_hdr h;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!buf || len < MCX_WIRE_HDR_LEN)
		return -EBADMSG;
	if (max_len == 0 || max_len > MCX_WIRE_MAX_MSG)
		max_len = MCX_WIRE_MAX_MSG;
	if (le32(p) != MCX_WIRE_MAGIC)
		return -EBADMSG;
	/*
	 * With the magic right this is a header of some version of ours:
	 * hand it back as read even when it is refused, so that the caller
	 * can say "the peer speaks version 1" (and sent what) rather than
	 * just "protocol error".  The first 16 bytes have had this layout
	 * since version 1.
	 */
	h.version = le16(p + 4);
	h.type = le16(p + 6);
	h.len = le32(p + 8);
	h.seq = le32(p + 12);
	if (out)
		*out = h;
	if (h.version != MCX_WIRE_VERSION)
		return -EPROTO;
	if (!type_known(h.type))
		return -EPROTO;
	if (h.len < MCX_WIRE_HDR_LEN)
		return -EBADMSG;
	if (h.len > max_len)
		return -EMSGSIZE;
	if (le32(p + 16) != 0)
		return -EBADMSG;
	return 0;
}

int mcx__wire_check(const void *buf, size_t len, struct mcx_wire_hdr *out)
{
	struct mcx_wire_hdr h;
	int ret;

	ret = mcx__wire_parse_header(buf, len, 0, &h);
	if (out)
		*out = h;
	if (ret)
		return ret;
	if (len != h.len)	/* truncated, or bytes after the message */
		return -EBADMSG;
	if (le32((const uint8_t *)buf + 20) != msg_crc(buf, len))
		return -EBADMSG;
	return 0;
}

/* Check the whole message and its type; set up a cursor on the payload. */
static int open_msg(const void *buf, size_t len, uint16_t type, struct rd *r)
{
	struct mcx_wire_hdr h;
	int ret;

	ret = mcx__wire_check(buf, len, &h);
	if (ret)
		return ret;
	if (h.type != type)
		return -EPROTO;
	r->p = (const uint8_t *)buf + MCX_WIRE_HDR_LEN;
	r->left = len - MCX_WIRE_HDR_LEN;
	r->short_read = 0;
	return 0;
}

/* The payload ended exactly where its counts said it would. */
static int close_msg(const struct rd *r)
{
	return (r->short_read || r->left) ? -EBADMSG : 0;
}

static uint8_t *start_msg(void *buf, uint16_t type, uint32_t seq, size_t len)
{
	uint8_t *p = buf;

	put_u32(&p, MCX_WIRE_MAGIC);
	put_u16(&p, MCX_WIRE_VERSION);
	put_u16(&p, type);
	put_u32(&p, (uint32_t)len);
	put_u32(&p, seq);
	put_u32(&p, 0);		/* flags */
	put_u32(&p, 0);		/* crc, set by mcx__wire_seal() */
	return p;
}

/* ---- field rules shared by encoders and decoders ---- */

static int printable(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

/* A host name: 1..255 printable bytes without blanks. */
static int host_ok(const char *s, size_t n)
{
	if (n == 0 || n >= MCX_WIRE_HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!printable((unsigned char)s[i]) || s[i] == ' ')
			return 0;
	return 1;
}

/* A device name: non-empty, printable, NUL-terminated within its field. */
static int name_ok(const char name[MCX_WIRE_NAME_MAX])
{
	size_t n = strnlen(name, MCX_WIRE_NAME_MAX);

	if (n == 0 || n == MCX_WIRE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!printable((unsigned char)name[i]))
			return 0;
	return 1;
}

/* n bytes of p are all zero. */
static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* On the wire the rest of the field is zero, so that it has one encoding. */
static int name_padding_ok(const char name[MCX_WIRE_NAME_MAX])
{
	size_t n = strnlen(name, MCX_WIRE_NAME_MAX);

	return all_zero(name + n, MCX_WIRE_NAME_MAX - n);
}

/*
 * A device entry's fields (not its index's uniqueness): 0, -EMSGSIZE (an
 * address blob longer than its field) or -EBADMSG.  The port is not
 * checked: a transport without ports sends 0.  caps belong to the transport
 * named in the HELLO, which interprets them.
 */
static int dev_check(const struct mcx_wire_dev *d)
{
	int has_ip = d->ipv4[0] | d->ipv4[1] | d->ipv4[2] | d->ipv4[3];

	if (d->addr_len > MCX_WIRE_ADDR_MAX)
		return -EMSGSIZE;
	if (d->index >= MCX_WIRE_MAX_NICS || !name_ok(d->name) ||
	    d->fabric < MCX_WIRE_FABRIC_IB || d->fabric > MCX_WIRE_FABRIC_EFA ||
	    d->prefix > 32 || (!has_ip && d->prefix) || d->addr_len == 0 ||
	    d->max_msg == 0)
		return -EBADMSG;
	return 0;
}

/* Device indices of a HELLO are distinct. */
static int devs_distinct(const struct mcx_wire_dev *devs, uint32_t n)
{
	uint64_t seen = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (seen & (1ULL << devs[i].index))
			return 0;
		seen |= 1ULL << devs[i].index;
	}
	return 1;
}

/* A pair's blob and its zeros up to the next multiple of 4. */
static size_t blob_padded(uint32_t blob_len)
{
	return ((size_t)blob_len + 3) & ~(size_t)3;
}

/* A pair's fields: 0, -EMSGSIZE (blob over its bound) or -EBADMSG. */
static int pair_check(const struct mcx_wire_pair *p)
{
	if (p->blob_len > MCX_WIRE_BLOB_MAX)
		return -EMSGSIZE;
	if (p->local_nic >= MCX_WIRE_MAX_NICS ||
	    p->remote_nic >= MCX_WIRE_MAX_NICS || p->blob_len == 0)
		return -EBADMSG;
	return 0;
}

static int pairs_distinct(const struct mcx_wire_pair *pairs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < i; j++)
			if (pairs[i].local_nic == pairs[j].local_nic &&
			    pairs[i].remote_nic == pairs[j].remote_nic)
				return 0;
	return 1;
}

static int nic_index_list_ok(const uint32_t *idx, uint32_t n)
{
	uint64_t seen = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (idx[i] >= MCX_WIRE_MAX_NICS || (seen & (1ULL << idx[i])))
			return 0;
		seen |= 1ULL << idx[i];
	}
	return 1;
}

static int mem_kind_ok(uint32_t kind)
{
	return kind == MCX_WIRE_MEM_HOST || kind == MCX_WIRE_MEM_DMABUF;
}

/* 0, -EMSGSIZE (too many chunks) or -EBADMSG. */
static int desc_check(const struct mcx_wire_desc *d)
{
	if (d->len == 0 || d->chunk_size == 0 || d->len - 1 > UINT64_MAX - d->addr ||
	    !mem_kind_ok(d->kind))
		return -EBADMSG;
	if (d->nchunks > MCX_WIRE_MAX_CHUNKS)
		return -EMSGSIZE;
	if ((d->len - 1) / d->chunk_size + 1 != d->nchunks)
		return -EBADMSG;
	return 0;
}

static int err_ok(int32_t err)
{
	return err >= 1 && err <= 4095;
}

/* An encoder's answer to what a decoder would refuse with ret. */
static int enc_err(int ret)
{
	return ret == -EMSGSIZE ? ret : -EINVAL;
}

static void put_zeros(uint8_t **p, size_t n)
{
	memset(*p, 0, n);
	*p += n;
}

/* ---- AUTH / AUTH_REPLY / AUTH_PROOF ---- */

#define AUTH_LEN	(8 + MCX_WIRE_NONCE_LEN)
#define AUTH_REPLY_LEN	(8 + MCX_WIRE_NONCE_LEN + MCX_WIRE_PROOF_LEN)
#define AUTH_PROOF_LEN	MCX_WIRE_PROOF_LEN

static int auth_flags_ok(uint32_t flags)
{
	return !(flags & ~MCX_WIRE_AUTH_HAS_KEY);
}

/* An open listener proves nothing: its proof is all zero (one encoding). */
static int auth_reply_ok(const struct mcx_wire_auth_reply *a)
{
	if (a->mode == MCX_WIRE_AUTH_OPEN)
		return all_zero(a->proof, MCX_WIRE_PROOF_LEN);
	return a->mode == MCX_WIRE_AUTH_KEY;
}

ssize_t mcx__wire_encode_auth(void *buf, size_t cap, uint32_t seq,
			      const struct mcx_wire_auth *a)
{
	size_t len = MCX_WIRE_HDR_LEN + AUTH_LEN;
	uint8_t *p;

	if (!a || !auth_flags_ok(a->flags))
		return -EINVAL;
	if (!buf || cap < len)
		return -ENOBUFS;
	p = start_msg(buf, MCX_WIRE_AUTH, seq, len);
	put_u32(&p, a->flags);
	put_u32(&p, 0);
	put_bytes(&p, a->nonce, MCX_WIRE_NONCE_LEN);
	mcx__wire_seal(buf, len);
	return (ssize_t)len;
}

int mcx__wire_decode_auth(const void *buf, size_t len, struct mcx_wire_auth *out)
{
	uint32_t reserved;
	struct rd r;
	int ret;

	if (!out)
		return -EINVAL;
	ret = open_msg(buf, len, MCX_WIRE_AUTH, &r);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->flags = rd_u32(&r);
	reserved = rd_u32(&r);
	rd_bytes(&r, out->nonce, MCX_WIRE_NONCE_LEN);
	if (r.short_read || reserved || !auth_flags_ok(out->flags))
		return -EBADMSG;
	return close_msg(&r);
}

ssize_t mcx__wire_encode_auth_reply(void *buf, size_t cap, uint32_t seq,
				    const struct mcx_wire_auth_reply *a)
{
	size_t len = MCX_WIRE_HDR_LEN + AUTH_REPLY_LEN;
	uint8_t *p;

	if (!a || !auth_reply_ok(a))
		return -EINVAL;
	if (!buf || cap < len)
		return -ENOBUFS;
	p = start_msg(buf, MCX_WIRE_AUTH_REPLY, seq, len);
	put_u32(&p, a->mode);
	put_u32(&p, 0);
	put_bytes(&p, a->nonce, MCX_WIRE_NONCE_LEN);
	put_bytes(&p, a->proof, MCX_WIRE_PROOF_LEN);
	mcx__wire_seal(buf, len);
	return (ssize_t)len;
}

int mcx__wire_decode_auth_reply(const void *buf, size_t len,
				struct mcx_wire_auth_reply *out)
{
	uint32_t reserved;
	struct rd r;
	int ret;

	if (!out)
		return -EINVAL;
	ret = open_msg(buf, len, MCX_WIRE_AUTH_REPLY, &r);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->mode = rd_u32(&r);
	reserved = rd_u32(&r);
	rd_bytes(&r, out->nonce, MCX_WIRE_NONCE_LEN);
	rd_bytes(&r, out->proof, MCX_WIRE_PROOF_LEN);
	if (r.short_read || reserved || !auth_reply_ok(out))
		return -EBADMSG;
	return close_msg(&r);
}

ssize_t mcx__wire_encode_auth_proof(void *buf, size_t cap, uint32_t seq,
				    const struct mcx_wire_auth_proof *a)
{
	size_t len = MCX_WIRE_HDR_LEN + AUTH_PROOF_LEN;
	uint8_t *p;

	if (!a)
		return -EINVAL;
	if (!buf || cap < len)
		return -ENOBUFS;
	p = start_msg(buf, MCX_WIRE_AUTH_PROOF, seq, len);
	put_bytes(&p, a->proof, MCX_WIRE_PROOF_LEN);
	mcx__wire_seal(buf, len);
	return (ssize_t)len;
}

int mcx__wire_decode_auth_proof(const void *buf, size_t len,
				struct mcx_wire_auth_proof *out)
{
	struct rd r;
	int ret;

	if (!out)
		return -EINVAL;
	ret = open_msg(buf, len, MCX_WIRE_AUTH_PROOF, &r);
	if (ret)
		return ret;
	rd_bytes(&r, out->proof, MCX_WIRE_PROOF_LEN);
	return close_msg(&r);
}

/* ---- HELLO ---- */

#define HELLO_FIXED	20	/* probe, transport, flags, host_len, ndevs */

/*
 * HELLO carries a probe, HELLO_REPLY does not: a zero probe in a HELLO
 * could never be told apart from "none", and a reply's would mean nothing.
 */
static int probe_ok(uint16_t type, uint64_t probe)
{
	return type == MCX_WIRE_HELLO ? probe != 0 : probe == 0;
}

static void put_dev(uint8_t **p, const struct mcx_wire_dev *d)
{
	size_t name_len = strnlen(d->name, MCX_WIRE_NAME_MAX);

	put_u32(p, d->index);
	put_bytes(p, d->name, name_len);
	put_zeros(p, MCX_WIRE_NAME_MAX - name_len);
	put_u8(p, d->fabric);
	put_u8(p, d->port);
	put_u8(p, d->prefix);
	put_u8(p, d->addr_len);
	put_bytes(p, d->ipv4, 4);
	put_u32(p, d->caps);
	put_u64(p, d->max_msg);
	/* What the struct holds past addr_len is not part of the value. */
	put_bytes(p, d->addr, d->addr_len);
	put_zeros(p, MCX_WIRE_ADDR_MAX - d->addr_len);
}

/* One device entry; the caller has checked that MCX_WIRE_DEV_LEN are left. */
static int rd_dev(struct rd *r, struct mcx_wire_dev *d)
{
	int ret;

	d->index = rd_u32(r);
	rd_bytes(r, d->name, MCX_WIRE_NAME_MAX);
	d->fabric = rd_u8(r);
	d->port = rd_u8(r);
	d->prefix = rd_u8(r);
	d->addr_len = rd_u8(r);
	rd_bytes(r, d->ipv4, 4);
	d->caps = rd_u32(r);
	d->max_msg = rd_u64(r);
	rd_bytes(r, d->addr, MCX_WIRE_ADDR_MAX);
	if (r->short_read)
		return -EBADMSG;
	ret = dev_check(d);
	if (ret)
		return ret;
	if (!name_padding_ok(d->name) ||
	    !all_zero(d->addr + d->addr_len, MCX_WIRE_ADDR_MAX - d->addr_len))
		return -EBADMSG;
	return 0;
}

ssize_t mcx__wire_encode_hello(void *buf, size_t cap, uint16_t type,
			       uint32_t seq, const struct mcx_wire_hello *h)
{
	size_t host_len, len;
	uint8_t *p;
	int ret;

	if (!h || (type != MCX_WIRE_HELLO && type != MCX_WIRE_HELLO_REPLY))
		return -EINVAL;
	if (h->ndevs > MCX_WIRE_MAX_NICS)
		return -EMSGSIZE;
	host_len = strnlen(h->host, MCX_WIRE_HOST_MAX);
	/*
	 * transport only needs to be non-zero: one the receiver does not run
	 * is not malformed, and its engine says which one the peer wants.
	 */
	if (!host_ok(h->host, host_len) || h->transport == 0 ||
	    !probe_ok(type, h->probe))
		return -EINVAL;
	for (uint32_t i = 0; i < h->ndevs; i++) {
		ret = dev_check(&h->devs[i]);
		if (ret)
			return enc_err(ret);
	}
	if (!devs_distinct(h->devs, h->ndevs))
		return -EINVAL;
	len = MCX_WIRE_HDR_LEN + HELLO_FIXED + host_len +
	      (size_t)h->ndevs * MCX_WIRE_DEV_LEN;
	if (!buf || cap < len)
		return -ENOBUFS;
	p = start_msg(buf, type, seq, len);
	put_u64(&p, h->probe);
	put_u32(&p, h->transport);
	put_u32(&p, 0);
	put_u16(&p, (uint16_t)host_len);
	put_u16(&p, (uint16_t)h->ndevs);
	put_bytes(&p, h->host, host_len);
	for (uint32_t i = 0; i < h->ndevs; i++)
		put_dev(&p, &h->devs[i]);
	mcx__wire_seal(buf, len);
	return (ssize_t)len;
}

int mcx__wire_decode_hello(const void *buf, size_t len, uint16_t type,
			   struct mcx_wire_hello *out)
{
	uint32_t flags, host_len, ndevs;
	struct rd r;
	int ret;

	if (!out || (type != MCX_WIRE_HELLO && type != MCX_WIRE_HELLO_REPLY))
		return -EINVAL;
	ret = open_msg(buf, len, type, &r);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->probe = rd_u64(&r);
	out->transport = rd_u32(&r);
	flags = rd_u32(&r);
	host_len = rd_u16(&r);
	ndevs = rd_u16(&r);
	if (r.short_read || flags || out->transport == 0 ||
	    !probe_ok(type, out->probe))
		return -EBADMSG;
	if (host_len >= MCX_WIRE_HOST_MAX || ndevs > MCX_WIRE_MAX_NICS)
		return -EMSGSIZE;
	/* Counts against what is there, before anything is read by them. */
	if (r.left != host_len + (size_t)ndevs * MCX_WIRE_DEV_LEN)
		return -EBADMSG;
	rd_bytes(&r, out->host, host_len);
	if (!host_ok(out->host, host_len))
		return -EBADMSG;
	out->ndevs = ndevs;
	for (uint32_t i = 0; i < ndevs; i++) {
		ret = rd_dev(&r, &out->devs[i]);
		if (ret)
			return ret;
	}
	if (!devs_distinct(out->devs, ndevs))
		return -EBADMSG;
	return close_msg(&r);
}

/* ---- CONNECT ---- */

ssize_t mcx__wire_encode_connect(void *buf, size_t cap, uint16_t type,
				 uint32_t seq, const struct mcx_wire_connect *c)
{
	size_t len;
	uint8_t *p;
	int ret;

	if (!c || (type != MCX_WIRE_CONNECT && type != MCX_WIRE_CONNECT_REPLY))
		return -EINVAL;
	if (c->npairs > MCX_WIRE_MAX_PAIRS)
		return -EMSGSIZE;
	if (c->npairs == 0 || (c->flags & ~MCX_WIRE_CONNECT_REBUILD))
		return -EINVAL;
	len = MCX_WIRE_HDR_LEN + 8;
	for (uint32_t i = 0; i < c->npairs; i++) {
		ret = pair_check(&c->pairs[i]);
		if (ret)
			return enc_err(ret);
		len += MCX_WIRE_PAIR_FIXED + blob_padded(c->pairs[i].blob_len);
	}
	if (!pairs_distinct(c->pairs, c->npairs))
		return -EINVAL;
	if (!buf || cap < len)
		return -ENOBUFS;
	p = start_msg(buf, type, seq, len);
	put_u16(&p, (uint16_t)c->npairs);
	put_u16(&p, 0);
	put_u32(&p, c->flags);
	for (uint32_t i = 0; i < c->npairs; i++) {
		const struct mcx_wire_pair *pr = &c->pairs[i];

		put_u32(&p, pr->local_nic);
		put_u32(&p, pr->remote_nic);
		put_u16(&p, pr->blob_len);
		put_u16(&p, 0);
		put_bytes(&p, pr->blob, pr->blob_len);
		put_zeros(&p, blob_padded(pr->blob_len) - pr->blob_len);
	}
	mcx__wire_seal(buf, len);
	return (ssize_t)len;
}

int mcx__wire_decode_connect(const void *buf, size_t len, uint16_t type,
			     struct mcx_wire_connect *out)
{
	uint32_t npairs, reserved;
	struct rd r;
	int ret;

	if (!out || (type != MCX_WIRE_CONNECT && type != MCX_WIRE_CONNECT_REPLY))
		return -EINVAL;
	ret = open_msg(buf, len, type, &r);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	npairs = rd_u16(&r);
	reserved = rd_u16(&r);
	out->flags = rd_u32(&r);
	if (r.short_read || reserved || (out->flags & ~MCX_WIRE_CONNECT_REBUILD))
		return -EBADMSG;
	if (npairs > MCX_WIRE_MAX_PAIRS)
		return -EMSGSIZE;
	/* Every pair has its fixed part and at least one padded blob word. */
	if (npairs == 0 || r.left < npairs * (size_t)(MCX_WIRE_PAIR_FIXED + 4))
		return -EBADMSG;
	out->npairs = npairs;
	for (uint32_t i = 0; i < npairs; i++) {
		struct mcx_wire_pair *pr = &out->pairs[i];
		size_t padded;
		uint16_t flags;

		pr->local_nic = rd_u32(&r);
		pr->remote_nic = rd_u32(&r);
		pr->blob_len = rd_u16(&r);
		flags = rd_u16(&r);
		if (r.short_read || flags)
			return -EBADMSG;
		ret = pair_check(pr);
		if (ret)
			return ret;
		/* The blob's length against what is there, before reading it. */
		padded = blob_padded(pr->blob_len);
		if (padded > r.left)
			return -EBADMSG;
		rd_bytes(&r, pr->blob, pr->blob_len);
		if (!all_zero(take(&r, padded - pr->blob_len), padded - pr->blob_len))
			return -EBADMSG;
	}
	if (!pairs_distinct(out->pairs, npairs))
		return -EBADMSG;
	return close_msg(&r);
}

/* ---- MEM_REQ ---- */

ssize_t mcx__wire_encode_mem_req(void *buf, size_t cap, uint32_t seq,
				 const struct mcx_wire_mem_req *q)
{
	size_t len = MCX_WIRE_HDR_LEN + 16;
	uint8_t *p;

	if (!q)
		return -EINVAL;
	if (q->max_descs > MCX_WIRE_MAX_DESCS)
		return -EMSGSIZE;
	if (!buf || cap < len)
		return -ENOBUFS;
	p = start_msg(buf, MCX_WIRE_MEM_REQ, seq, len);
	put_u32(&p, q->cursor);
	put_u32(&p, q->max_descs);
	put_u64(&p, 0);
	mcx__wire_seal(buf, len);
	return (ssize_t)len;
}

int mcx__wire_decode_mem_req(const void *buf, size_t len,
			     struct mcx_wire_mem_req *out)
{
	uint64_t reserved;
	struct rd r;
	int ret;

	if (!out)
		return -EINVAL;
	ret = open_msg(buf, len, MCX_WIRE_MEM_REQ, &r);
	if (ret)
		return ret;
	out->cursor = rd_u32(&r);
	out->max_descs = rd_u32(&r);
	reserved = rd_u64(&r);
	if (r.short_read || reserved)
		return -EBADMSG;
	if (out->max_descs > MCX_WIRE_MAX_DESCS)
		return -EMSGSIZE;
	return close_msg(&r);
}

/* ---- MEM_REPLY ---- */

#define KEY_LEN		8	/* one key on the wire */

size_t mcx__wire_mem_fixed_len(uint32_t nnics)
{
	return MCX_WIRE_HDR_LEN + MCX_WIRE_MEMREP_FIXED + (size_t)nnics * 4;
}

size_t mcx__wire_desc_len(uint32_t nnics, uint32_t nchunks)
{
	return MCX_WIRE_DESC_FIXED + (size_t)nchunks * nnics * KEY_LEN;
}

size_t mcx__wire_desc_bytes(const struct mcx_wire_desc *d, uint32_t nnics)
{
	return mcx__wire_desc_len(nnics, d->nchunks) + (d->has_iova ? MCX_WIRE_DESC_IOVA_LEN : 0) +
	       (d->has_nics ? MCX_WIRE_DESC_NICS_LEN : 0);
}

/* The devices a MEM_REPLY lists, as a mask of their indices. */
static uint32_t listed_mask(const uint32_t *idx, uint32_t n)
{
	uint32_t mask = 0;

	for (uint32_t i = 0; i < n; i++)
		mask |= 1U << idx[i];
	return mask;
}

/*
 * A descriptor's NIC mask against the message's device list: non-zero,
 * listed devices only, and no key for a device outside it (one way to
 * say "none", so that nothing reads a key where the mask says there is
 * none).
 */
static int desc_nics_ok(const struct mcx_wire_desc *d, const uint32_t *idx, uint32_t nnics,
			const uint64_t *keys)
{
	if (!d->has_nics)
		return 1;
	if (!d->nics || (d->nics & ~listed_mask(idx, nnics)))
		return 0;
	for (uint32_t c = 0; keys && c < d->nchunks; c++)
		for (uint32_t j = 0; j < nnics; j++)
			if (!(d->nics & (1U << idx[j])) && keys[(size_t)c * nnics + j])
				return 0;
	return 1;
}

ssize_t mcx__wire_encode_mem(void *buf, size_t cap, uint32_t seq,
			     const struct mcx_wire_mem *m)
{
	size_t len;
	uint8_t *p;

	if (!m)
		return -EINVAL;
	if (m->count > MCX_WIRE_MAX_DESCS || m->nnics > MCX_WIRE_MAX_NICS)
		return -EMSGSIZE;
	if ((uint64_t)m->cursor + m->count > m->total ||
	    (m->count && (!m->descs || m->nnics == 0)) ||
	    !nic_index_list_ok(m->nic_index, m->nnics))
		return -EINVAL;
	len = mcx__wire_mem_fixed_len(m->nnics);
	for (uint32_t i = 0; i < m->count; i++) {
		const struct mcx_wire_desc *d = &m->descs[i];
		int ret = desc_check(d);

		if (ret)
			return enc_err(ret);
		if (!d->keys || (d->has_iova && d->iova + (d->len - 1) < d->iova) ||
		    !desc_nics_ok(d, m->nic_index, m->nnics, d->keys))
			return -EINVAL;
		len += mcx__wire_desc_bytes(d, m->nnics);
		if (len > MCX_WIRE_MAX_MSG)
			return -EMSGSIZE;
	}
	if (!buf || cap < len)
		return -ENOBUFS;
	p = start_msg(buf, MCX_WIRE_MEM_REPLY, seq, len);
	put_u64(&p, m->generation);
	put_u32(&p, m->total);
	put_u32(&p, m->cursor);
	put_u32(&p, m->count);
	put_u16(&p, (uint16_t)m->nnics);
	put_u16(&p, 0);
	for (uint32_t i = 0; i < m->nnics; i++)
		put_u32(&p, m->nic_index[i]);
	for (uint32_t i = 0; i < m->count; i++) {
		const struct mcx_wire_desc *d = &m->descs[i];
		size_t nkeys = (size_t)d->nchunks * m->nnics;

		put_u64(&p, d->id);
		put_u64(&p, d->addr);
		put_u64(&p, d->len);
		put_u64(&p, d->chunk_size);
		put_u32(&p, d->nchunks);
		put_u32(&p, d->kind | (d->has_iova ? MCX_WIRE_DESC_IOVA : 0) |
			    (d->has_nics ? MCX_WIRE_DESC_NICS : 0));
		if (d->has_iova)
			put_u64(&p, d->iova);
		if (d->has_nics) {
			put_u32(&p, d->nics);
			put_u32(&p, 0);
		}
		for (size_t k = 0; k < nkeys; k++)
			put_u64(&p, d->keys[k]);
	}
	mcx__wire_seal(buf, len);
	return (ssize_t)len;
}

/*
 * Read one descriptor's fixed part and check it; the keys are left for the
 * caller.  0 or -errno.
 */
static int rd_desc(struct rd *r, const uint32_t *idx, uint32_t nnics, struct mcx_wire_desc *d)
{
	uint32_t reserved = 0;
	int ret;

	d->id = rd_u64(r);
	d->addr = rd_u64(r);
	d->len = rd_u64(r);
	d->chunk_size = rd_u64(r);
	d->nchunks = rd_u32(r);
	d->kind = rd_u32(r);
	d->keys = NULL;
	d->iova = d->addr;
	d->has_iova = d->kind & MCX_WIRE_DESC_IOVA;
	if (d->has_iova) {
		d->kind &= ~MCX_WIRE_DESC_IOVA;
		d->iova = rd_u64(r);
	}
	d->has_nics = d->kind & MCX_WIRE_DESC_NICS;
	d->nics = listed_mask(idx, nnics);
	if (d->has_nics) {
		d->kind &= ~MCX_WIRE_DESC_NICS;
		d->nics = rd_u32(r);
		reserved = rd_u32(r);
	}
	if (r->short_read || reserved || !desc_nics_ok(d, idx, nnics, NULL))
		return -EBADMSG;
	if (d->len && d->iova + (d->len - 1) < d->iova)
		return -EBADMSG;
	ret = desc_check(d);
	if (ret)
		return ret;
	if ((size_t)d->nchunks * nnics * KEY_LEN > r->left)
		return -EBADMSG;
	return 0;
}

int mcx__wire_decode_mem(const void *buf, size_t len, struct mcx_wire_mem *out)
{
	uint32_t pad;
	size_t nkeys_total = 0;
	struct rd r, first;
	uint64_t *keys;
	void *block;
	int ret;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	ret = open_msg(buf, len, MCX_WIRE_MEM_REPLY, &r);
	if (ret)
		return ret;
	out->generation = rd_u64(&r);
	out->total = rd_u32(&r);
	out->cursor = rd_u32(&r);
	out->count = rd_u32(&r);
	out->nnics = rd_u16(&r);
	pad = rd_u16(&r);
	if (r.short_read || pad)
		goto bad;
	if (out->count > MCX_WIRE_MAX_DESCS || out->nnics > MCX_WIRE_MAX_NICS) {
		ret = -EMSGSIZE;
		goto fail;
	}
	if ((uint64_t)out->cursor + out->count > out->total ||
	    (out->count && out->nnics == 0) ||
	    r.left < (size_t)out->nnics * 4 + (size_t)out->count * MCX_WIRE_DESC_FIXED)
		goto bad;
	for (uint32_t i = 0; i < out->nnics; i++)
		out->nic_index[i] = rd_u32(&r);
	if (!nic_index_list_ok(out->nic_index, out->nnics))
		goto bad;

	/*
	 * First pass: check every descriptor and that its keys are there,
	 * allocating nothing; the total of keys is then bounded by the
	 * message's length.
	 */
	first = r;
	for (uint32_t i = 0; i < out->count; i++) {
		struct mcx_wire_desc d;

		ret = rd_desc(&r, out->nic_index, out->nnics, &d);
		if (ret)
			goto fail;
		/* A device outside the mask has no key: its slots must say 0. */
		for (uint32_t c = 0; d.has_nics && c < d.nchunks; c++)
			for (uint32_t j = 0; j < out->nnics; j++)
				if (!(d.nics & (1U << out->nic_index[j])) &&
				    le64(r.p + ((size_t)c * out->nnics + j) * KEY_LEN))
					goto bad;
		take(&r, (size_t)d.nchunks * out->nnics * KEY_LEN);
		nkeys_total += (size_t)d.nchunks * out->nnics;
	}
	ret = close_msg(&r);
	if (ret)
		goto fail;
	if (out->count == 0)
		return 0;

	block = calloc(1, (size_t)out->count * sizeof(*out->descs) +
			  nkeys_total * sizeof(uint64_t));
	if (!block) {
		ret = -ENOMEM;
		goto fail;
	}
	out->descs = block;
	keys = (uint64_t *)(out->descs + out->count);
	r = first;
	for (uint32_t i = 0; i < out->count; i++) {
		struct mcx_wire_desc *d = &out->descs[i];
		size_t nkeys;

		/* Checked above: cannot fail now. */
		rd_desc(&r, out->nic_index, out->nnics, d);
		nkeys = (size_t)d->nchunks * out->nnics;
		for (size_t k = 0; k < nkeys; k++)
			keys[k] = rd_u64(&r);
		d->keys = keys;
		keys += nkeys;
	}
	return 0;

bad:
	ret = -EBADMSG;
fail:
	memset(out, 0, sizeof(*out));
	return ret;
}

void mcx__wire_mem_free(struct mcx_wire_mem *m)
{
	if (!m)
		return;
	free(m->descs);
	m->descs = NULL;
	m->count = 0;
}

/* ---- PING / PONG / AUTH_OK ---- */

static int empty_type(uint16_t type)
{
	return type == MCX_WIRE_PING || type == MCX_WIRE_PONG ||
	       type == MCX_WIRE_AUTH_OK;
}

ssize_t mcx__wire_encode_empty(void *buf, size_t cap, uint16_t type,
			       uint32_t seq)
{
	if (!empty_type(type))
		return -EINVAL;
	if (!buf || cap < MCX_WIRE_HDR_LEN)
		return -ENOBUFS;
	start_msg(buf, type, seq, MCX_WIRE_HDR_LEN);
	mcx__wire_seal(buf, MCX_WIRE_HDR_LEN);
	return MCX_WIRE_HDR_LEN;
}

int mcx__wire_decode_empty(const void *buf, size_t len, uint16_t type)
{
	struct rd r;
	int ret;

	if (!empty_type(type))
		return -EINVAL;
	ret = open_msg(buf, len, type, &r);
	if (ret)
		return ret;
	return close_msg(&r);
}

/* ---- ERROR ---- */

ssize_t mcx__wire_encode_error(void *buf, size_t cap, uint32_t seq,
			       const struct mcx_wire_error *e)
{
	size_t msg_len, len;
	uint8_t *p;

	if (!e || !err_ok(e->err))
		return -EINVAL;
	msg_len = strnlen(e->msg, sizeof(e->msg));
	if (msg_len > MCX_WIRE_MAX_ERRMSG)
		return -EMSGSIZE;
	for (size_t i = 0; i < msg_len; i++)
		if (!printable((unsigned char)e->msg[i]))
			return -EINVAL;
	len = MCX_WIRE_HDR_LEN + 8 + msg_len;
	if (!buf || cap < len)
		return -ENOBUFS;
	p = start_msg(buf, MCX_WIRE_ERROR, seq, len);
	put_u32(&p, (uint32_t)e->err);
	put_u16(&p, e->req_type);
	put_u16(&p, (uint16_t)msg_len);
	put_bytes(&p, e->msg, msg_len);
	mcx__wire_seal(buf, len);
	return (ssize_t)len;
}

int mcx__wire_decode_error(const void *buf, size_t len,
			   struct mcx_wire_error *out)
{
	uint32_t err, msg_len;
	struct rd r;
	int ret;

	if (!out)
		return -EINVAL;
	ret = open_msg(buf, len, MCX_WIRE_ERROR, &r);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	err = rd_u32(&r);
	out->req_type = rd_u16(&r);
	msg_len = rd_u16(&r);
	if (r.short_read || err < 1 || err > 4095)
		return -EBADMSG;
	if (msg_len > MCX_WIRE_MAX_ERRMSG)
		return -EMSGSIZE;
	if (r.left != msg_len)
		return -EBADMSG;
	out->err = (int32_t)err;
	rd_bytes(&r, out->msg, msg_len);
	for (uint32_t i = 0; i < msg_len; i++)
		if (!printable((unsigned char)out->msg[i]))
			return -EBADMSG;
	return close_msg(&r);
}
