// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The handshake codec (lib/ctrl/wire.c), wire format version 2: round trips
 * of every message, each class of rejection with the errno that wire.h
 * documents for it, and a fuzz loop (random bytes and mutated valid
 * messages of every type) that checks that the decoders only ever accept or
 * reject with a documented errno, that what they accept re-encodes to the
 * very same bytes, and (run under ASan or valgrind) that they neither read
 * out of bounds nor leak.
 *
 * Each fuzz test prints its seed; MCX_FUZZ_SEED=N runs it with another one
 * (run-unit wire_fuzz_random_bytes, say, to replay just that test).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "ctrl/wire.h"

#define BUFSZ (1U << 20)

static uint8_t *scratch(void)
{
	static uint8_t *buf;

	if (!buf)
		buf = calloc(1, BUFSZ);
	ASSERT_TRUE(buf != NULL);
	return buf;
}

static void set16(uint8_t *m, size_t off, uint16_t v)
{
	m[off] = (uint8_t)v;
	m[off + 1] = (uint8_t)(v >> 8);
}

static void set32(uint8_t *m, size_t off, uint32_t v)
{
	set16(m, off, (uint16_t)v);
	set16(m, off + 2, (uint16_t)(v >> 16));
}

static void set64(uint8_t *m, size_t off, uint64_t v)
{
	set32(m, off, (uint32_t)v);
	set32(m, off + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *m, size_t off)
{
	return (uint16_t)(m[off] | m[off + 1] << 8);
}

static uint32_t get32(const uint8_t *m, size_t off)
{
	return (uint32_t)m[off] | (uint32_t)m[off + 1] << 8 |
	       (uint32_t)m[off + 2] << 16 | (uint32_t)m[off + 3] << 24;
}

static uint64_t get64(const uint8_t *m, size_t off)
{
	return (uint64_t)get32(m, off) | (uint64_t)get32(m, off + 4) << 32;
}

#define P(off) (MCX_WIRE_HDR_LEN + (off))	/* payload offset */

/* A blob of n bytes padded to a multiple of 4, as CONNECT carries it. */
static size_t padded(size_t n)
{
	return (n + 3) / 4 * 4;
}

/*
 * A device whose fields all depend on its index; its address blob is 16 to
 * 96 bytes of non-zero bytes, so that shortening addr_len by one leaves a
 * non-zero byte in the padding.
 */
static void fill_dev(struct mcx_wire_dev *d, uint32_t index)
{
	memset(d, 0, sizeof(*d));
	d->index = index;
	snprintf(d->name, sizeof(d->name), "dev%u", index);
	d->fabric = (uint8_t)(MCX_WIRE_FABRIC_IB + index % 3);
	d->port = (uint8_t)(index & 1);		/* 0: a transport without ports */
	d->ipv4[0] = 10;
	d->ipv4[1] = 0;
	d->ipv4[2] = (uint8_t)index;
	d->ipv4[3] = 2;
	d->prefix = 24;
	d->addr_len = (uint8_t)(16 + (index * 13) % 81);
	for (uint32_t i = 0; i < d->addr_len; i++)
		d->addr[i] = (uint8_t)(1 + (index * 7 + i) % 255);
	d->caps = 0x80000000U | index;
	d->max_msg = 0x100000000ULL << (index % 8);
}

/* A HELLO (probe set); a HELLO_REPLY needs h->probe = 0. */
static void fill_hello(struct mcx_wire_hello *h, uint32_t ndevs)
{
	memset(h, 0, sizeof(*h));
	h->probe = 0x0123456789abcdefULL;
	h->transport = MCX_WIRE_TRANSPORT_VERBS;
	snprintf(h->host, sizeof(h->host), "node-a.example");
	h->ndevs = ndevs;
	for (uint32_t i = 0; i < ndevs; i++)
		fill_dev(&h->devs[i], (i * 7) % MCX_WIRE_MAX_NICS);
}

/*
 * npairs pairs, pair i from device i % 32 to (i / 32 + i) % 32, with a
 * blob of 1 + (37 i + 4) % 192 bytes (5 for pair 0, 42 for pair 1): most
 * need padding, and the amounts differ.
 */
static void fill_connect(struct mcx_wire_connect *c, uint32_t npairs)
{
	memset(c, 0, sizeof(*c));
	c->npairs = npairs;
	for (uint32_t i = 0; i < npairs; i++) {
		struct mcx_wire_pair *p = &c->pairs[i];

		p->local_nic = i % MCX_WIRE_MAX_NICS;
		p->remote_nic = (i / MCX_WIRE_MAX_NICS + i) % MCX_WIRE_MAX_NICS;
		p->blob_len = (uint16_t)(1 + (i * 37 + 4) % MCX_WIRE_BLOB_MAX);
		for (uint32_t k = 0; k < p->blob_len; k++)
			p->blob[k] = (uint8_t)(1 + (i + k) % 255);
	}
}

static size_t connect_len(const struct mcx_wire_connect *c)
{
	size_t len = MCX_WIRE_HDR_LEN + 8;

	for (uint32_t i = 0; i < c->npairs; i++)
		len += MCX_WIRE_PAIR_FIXED + padded(c->pairs[i].blob_len);
	return len;
}

/*
 * Three descriptors over two NICs; keys points at 2 x (1 + 3 + 2) keys, all
 * above 2^32 so that a key cut to 32 bits shows.
 */
static void fill_mem(struct mcx_wire_mem *m, struct mcx_wire_desc d[3],
		     uint64_t keys[12])
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 12; i++)
		keys[i] = 0xa000000000000000ULL + (uint64_t)i * 0x100000001ULL;
	m->generation = 77;
	m->total = 10;
	m->cursor = 7;
	m->count = 3;
	m->nnics = 2;
	m->nic_index[0] = 3;
	m->nic_index[1] = 0;
	d[0] = (struct mcx_wire_desc){ .id = 1, .addr = 0x1000, .len = 4096,
				       .chunk_size = 1U << 20, .nchunks = 1,
				       .kind = MCX_WIRE_MEM_HOST, .keys = keys };
	d[1] = (struct mcx_wire_desc){ .id = 0x8000000000000002ULL,
				       .addr = 0x7f0000001001ULL,
				       .len = (2U << 20) + 1, .chunk_size = 1U << 20,
				       .nchunks = 3, .kind = MCX_WIRE_MEM_DMABUF,
				       .keys = keys + 2 };
	d[2] = (struct mcx_wire_desc){ .id = UINT64_MAX, .addr = UINT64_MAX - 9,
				       .len = 10, .chunk_size = 5, .nchunks = 2,
				       .kind = MCX_WIRE_MEM_HOST, .keys = keys + 8 };
	m->descs = d;
}

static void fill_auth(struct mcx_wire_auth *a)
{
	memset(a, 0, sizeof(*a));
	a->flags = MCX_WIRE_AUTH_HAS_KEY;
	for (int i = 0; i < MCX_WIRE_NONCE_LEN; i++)
		a->nonce[i] = (uint8_t)(0x10 + i);
}

static void fill_auth_reply(struct mcx_wire_auth_reply *a, uint32_t mode)
{
	memset(a, 0, sizeof(*a));
	a->mode = mode;
	for (int i = 0; i < MCX_WIRE_NONCE_LEN; i++)
		a->nonce[i] = (uint8_t)(0x40 + i);
	if (mode == MCX_WIRE_AUTH_KEY)
		for (int i = 0; i < MCX_WIRE_PROOF_LEN; i++)
			a->proof[i] = (uint8_t)(0x80 + i);
}

/* Change one field of a valid message, reseal it, and decode it. */
struct field_case {
	const char *what;
	size_t off;
	int width;		/* 1, 2, 4 or 8 bytes */
	uint64_t value;
	int expect;
};

static void poke(uint8_t *m, size_t off, int width, uint64_t v)
{
	switch (width) {
	case 1: m[off] = (uint8_t)v; break;
	case 2: set16(m, off, (uint16_t)v); break;
	case 4: set32(m, off, (uint32_t)v); break;
	default: set64(m, off, v); break;
	}
}

/*
 * Run cases against the message that valid() writes: each one poked into a
 * fresh copy, resealed and given to dec(), which must answer its errno.
 */
static void run_cases(const struct field_case *cases, size_t n,
		      size_t (*valid)(uint8_t *buf),
		      int (*dec)(uint8_t *buf, size_t len))
{
	uint8_t *buf = scratch();

	for (size_t i = 0; i < n; i++) {
		size_t len = valid(buf);
		int ret;

		ASSERT_TRUE(cases[i].off + (size_t)cases[i].width <= len);
		poke(buf, cases[i].off, cases[i].width, cases[i].value);
		mcx__wire_seal(buf, len);
		ret = dec(buf, len);
		if (ret != cases[i].expect)
			harness_fail(__FILE__, __LINE__, "%s: got %s, expected %s",
				     cases[i].what, harness_errname(ret),
				     harness_errname(cases[i].expect));
	}
}

#define RUN_CASES(cases, valid, dec) \
	run_cases(cases, sizeof(cases) / sizeof(cases[0]), valid, dec)

/* ---- round trips ---- */

TEST(wire_hello_round_trip)
{
	static struct mcx_wire_hello h, back;
	uint8_t *buf = scratch();
	ssize_t len;

	for (uint32_t n = 0; n <= MCX_WIRE_MAX_NICS; n += 4) {
		fill_hello(&h, n);
		len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 9, &h);
		ASSERT_EQ(len, MCX_WIRE_HDR_LEN + 20 + strlen(h.host) + n * MCX_WIRE_DEV_LEN);
		ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO, &back), 0);
		ASSERT_TRUE(memcmp(&h, &back, sizeof(h)) == 0);
	}
	/* The reply shares the layout but not the type, and has no probe. */
	fill_hello(&h, 2);
	h.probe = 0;
	len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO_REPLY, 1, &h);
	ASSERT_TRUE(len > 0);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO_REPLY, &back), 0);
	ASSERT_TRUE(memcmp(&h, &back, sizeof(h)) == 0);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO, &back), -EPROTO);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_CONNECT, &back), -EINVAL);
	/* A 255-byte host name is the longest. */
	fill_hello(&h, 1);
	memset(h.host, 'h', 255);
	h.host[255] = '\0';
	len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 1, &h);
	ASSERT_TRUE(len > 0);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO, &back), 0);
	ASSERT_EQ(strlen(back.host), 255);
}

/*
 * A device's address blob: every length from 1 to MCX_WIRE_ADDR_MAX, each
 * followed on the wire by zeros up to the fixed entry size; whatever the
 * struct holds past addr_len is not sent.
 */
TEST(wire_hello_device_addresses)
{
	static struct mcx_wire_hello h, back;
	uint8_t *buf = scratch();
	const size_t dev0 = P(20 + strlen("node-a.example"));

	for (uint32_t n = 1; n <= MCX_WIRE_ADDR_MAX; n++) {
		ssize_t len;

		fill_hello(&h, 1);
		h.devs[0].addr_len = (uint8_t)n;
		for (uint32_t i = 0; i < MCX_WIRE_ADDR_MAX; i++)
			h.devs[0].addr[i] = (uint8_t)(0xff - i);
		len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 2, &h);
		ASSERT_EQ(len, dev0 + MCX_WIRE_DEV_LEN);
		ASSERT_EQ(buf[dev0 + 71], n);
		for (uint32_t i = 0; i < MCX_WIRE_ADDR_MAX; i++)
			ASSERT_EQ(buf[dev0 + 88 + i], i < n ? 0xff - i : 0);
		ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO, &back), 0);
		ASSERT_EQ(back.devs[0].addr_len, n);
		for (uint32_t i = 0; i < MCX_WIRE_ADDR_MAX; i++)
			ASSERT_EQ(back.devs[0].addr[i], i < n ? 0xff - i : 0);
	}
	/* The other fields, where wire.h puts them. */
	fill_hello(&h, 1);
	h.devs[0].index = 31;
	h.devs[0].fabric = MCX_WIRE_FABRIC_EFA;
	h.devs[0].port = 0;
	h.devs[0].prefix = 0;
	memset(h.devs[0].ipv4, 0, 4);
	h.devs[0].caps = 0xfedcba98U;
	h.devs[0].max_msg = 0x0102030405060708ULL;
	ASSERT_TRUE(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 2, &h) > 0);
	ASSERT_EQ(get32(buf, dev0), 31);
	ASSERT_STREQ((const char *)buf + dev0 + 4, "dev0");
	ASSERT_EQ(buf[dev0 + 68], MCX_WIRE_FABRIC_EFA);
	ASSERT_EQ(buf[dev0 + 69], 0);
	ASSERT_EQ(buf[dev0 + 70], 0);
	ASSERT_EQ(get32(buf, dev0 + 72), 0);
	ASSERT_EQ(get32(buf, dev0 + 76), 0xfedcba98U);
	ASSERT_U64_EQ(get64(buf, dev0 + 80), 0x0102030405060708ULL);
	ASSERT_U64_EQ(get64(buf, P(0)), 0x0123456789abcdefULL);	/* probe */
	ASSERT_EQ(get32(buf, P(8)), MCX_WIRE_TRANSPORT_VERBS);
	ASSERT_EQ(get16(buf, P(16)), strlen("node-a.example"));
	ASSERT_EQ(get16(buf, P(18)), 1);
}

TEST(wire_header_fields)
{
	struct mcx_wire_hello h;
	struct mcx_wire_hdr hdr;
	uint8_t *buf = scratch();
	ssize_t len;

	fill_hello(&h, 1);
	len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0xdeadbeef, &h);
	ASSERT_TRUE(len > 0);
	ASSERT_EQ(get32(buf, 0), MCX_WIRE_MAGIC);
	ASSERT_TRUE(memcmp(buf, "MCXW", 4) == 0);
	ASSERT_EQ(get16(buf, 4), MCX_WIRE_VERSION);
	ASSERT_EQ(MCX_WIRE_VERSION, 2);
	ASSERT_EQ(get16(buf, 6), MCX_WIRE_HELLO);
	ASSERT_EQ(get32(buf, 8), len);
	ASSERT_EQ(get32(buf, 12), 0xdeadbeef);
	ASSERT_EQ(get32(buf, 16), 0);
	/* The crc is CRC-32C of the message with the crc field zeroed. */
	uint32_t crc = get32(buf, 20);

	set32(buf, 20, 0);
	ASSERT_EQ(mcx__wire_crc32c(buf, (size_t)len), crc);
	set32(buf, 20, crc);
	ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN, 0, &hdr), 0);
	ASSERT_EQ(hdr.version, MCX_WIRE_VERSION);
	ASSERT_EQ(hdr.type, MCX_WIRE_HELLO);
	ASSERT_EQ(hdr.len, len);
	ASSERT_EQ(hdr.seq, 0xdeadbeef);
	/* The caller's own limit. */
	ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN, (size_t)len - 1, &hdr), -EMSGSIZE);
	ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN, (size_t)len, &hdr), 0);
	ASSERT_ERR(mcx__wire_check(buf, (size_t)len, &hdr), 0);
	ASSERT_EQ(hdr.version, MCX_WIRE_VERSION);
	/* Known CRC-32C check value. */
	ASSERT_EQ(mcx__wire_crc32c("123456789", 9), 0xe3069283U);
	ASSERT_STREQ(mcx__wire_type_name(MCX_WIRE_MEM_REPLY), "MEM_REPLY");
	ASSERT_STREQ(mcx__wire_type_name(MCX_WIRE_AUTH), "AUTH");
	ASSERT_STREQ(mcx__wire_type_name(MCX_WIRE_AUTH_REPLY), "AUTH_REPLY");
	ASSERT_STREQ(mcx__wire_type_name(MCX_WIRE_AUTH_PROOF), "AUTH_PROOF");
	ASSERT_STREQ(mcx__wire_type_name(MCX_WIRE_AUTH_OK), "AUTH_OK");
	ASSERT_STREQ(mcx__wire_type_name(0), "unknown");
	ASSERT_STREQ(mcx__wire_type_name(MCX_WIRE_AUTH_OK + 1), "unknown");
}

/*
 * Another version is refused with -EPROTO before anything else is looked
 * at, and the header comes back as read, so that the caller can log "peer
 * speaks wire version 1" (and what it sent).
 */
TEST(wire_header_other_versions)
{
	static const uint16_t versions[] = { 0, 1, 3, 0x0200, 0xffff };
	struct mcx_wire_hello h;
	struct mcx_wire_hdr hdr;
	uint8_t *buf = scratch();
	ssize_t len;

	fill_hello(&h, 1);
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0x01020304, &h);
		ASSERT_TRUE(len > 0);
		set16(buf, 4, versions[i]);
		mcx__wire_seal(buf, (size_t)len);
		memset(&hdr, 0xa5, sizeof(hdr));
		ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN, 0, &hdr), -EPROTO);
		ASSERT_EQ(hdr.version, versions[i]);
		ASSERT_EQ(hdr.type, MCX_WIRE_HELLO);
		ASSERT_EQ(hdr.len, len);
		ASSERT_EQ(hdr.seq, 0x01020304);
		memset(&hdr, 0xa5, sizeof(hdr));
		ASSERT_ERR(mcx__wire_check(buf, (size_t)len, &hdr), -EPROTO);
		ASSERT_EQ(hdr.version, versions[i]);
		ASSERT_EQ(hdr.type, MCX_WIRE_HELLO);
		ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO, &h), -EPROTO);
		ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN, 0, NULL), -EPROTO);
		fill_hello(&h, 1);
	}
	/*
	 * The version is the first thing after the magic: a version 1 header
	 * with an unknown type, an oversized length, flags and a bad crc is
	 * still "version 1", reported as read.
	 */
	len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 7, &h);
	set16(buf, 4, 1);
	set16(buf, 6, 200);
	set32(buf, 8, UINT32_MAX);
	set32(buf, 16, 0x10);
	buf[20] ^= 1;
	ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN, 0, &hdr), -EPROTO);
	ASSERT_EQ(hdr.version, 1);
	ASSERT_EQ(hdr.type, 200);
	ASSERT_EQ(hdr.len, UINT32_MAX);
	ASSERT_EQ(hdr.seq, 7);
	ASSERT_ERR(mcx__wire_check(buf, (size_t)len, &hdr), -EPROTO);
	/* Without the magic nothing is reported. */
	buf[0] ^= 0x20;
	memset(&hdr, 0xa5, sizeof(hdr));
	ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN, 0, &hdr), -EBADMSG);
	ASSERT_EQ(hdr.version, 0);
	ASSERT_EQ(hdr.type, 0);
	ASSERT_EQ(hdr.len, 0);
	/* Nor from a buffer shorter than a header. */
	memset(&hdr, 0xa5, sizeof(hdr));
	ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN - 1, 0, &hdr), -EBADMSG);
	ASSERT_EQ(hdr.version, 0);
}

TEST(wire_connect_round_trip)
{
	static struct mcx_wire_connect c, back;
	static const uint32_t shapes[] = { 1, 2, 7, MCX_WIRE_MAX_PAIRS };
	uint8_t *buf = scratch();
	ssize_t len;

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		fill_connect(&c, shapes[s]);
		c.flags = s & 1 ? MCX_WIRE_CONNECT_REBUILD : 0;
		len = mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT_REPLY, 3, &c);
		ASSERT_EQ(len, connect_len(&c));
		ASSERT_ERR(mcx__wire_decode_connect(buf, (size_t)len,
						    MCX_WIRE_CONNECT_REPLY, &back), 0);
		ASSERT_TRUE(memcmp(&c, &back, sizeof(c)) == 0);
		ASSERT_ERR(mcx__wire_decode_connect(buf, (size_t)len,
						    MCX_WIRE_CONNECT, &back), -EPROTO);
	}
	ASSERT_ERR(mcx__wire_decode_connect(buf, (size_t)len, MCX_WIRE_HELLO, &back), -EINVAL);

	/* The REBUILD flag, where wire.h puts it. */
	fill_connect(&c, 2);
	c.flags = MCX_WIRE_CONNECT_REBUILD;
	len = mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 3, &c);
	ASSERT_TRUE(len > 0);
	ASSERT_EQ(get16(buf, P(0)), 2);
	ASSERT_EQ(get16(buf, P(2)), 0);
	ASSERT_EQ(get32(buf, P(4)), MCX_WIRE_CONNECT_REBUILD);
	ASSERT_ERR(mcx__wire_decode_connect(buf, (size_t)len, MCX_WIRE_CONNECT, &back), 0);
	ASSERT_EQ(back.flags, MCX_WIRE_CONNECT_REBUILD);
}

/*
 * Every blob length: a pair takes 12 bytes and its blob rounded up to a
 * multiple of 4, the padding is zero, and the struct's bytes past blob_len
 * are not sent.
 */
TEST(wire_connect_blob_lengths)
{
	static struct mcx_wire_connect c, back;
	uint8_t *buf = scratch();

	for (uint32_t n = 1; n <= MCX_WIRE_BLOB_MAX; n++) {
		ssize_t len;

		fill_connect(&c, 2);
		c.pairs[0].blob_len = (uint16_t)n;
		for (uint32_t k = 0; k < MCX_WIRE_BLOB_MAX; k++)
			c.pairs[0].blob[k] = (uint8_t)(0xff - k);
		len = mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 3, &c);
		ASSERT_EQ(len, MCX_WIRE_HDR_LEN + 8 + 2 * MCX_WIRE_PAIR_FIXED +
			  padded(n) + padded(c.pairs[1].blob_len));
		ASSERT_EQ(get32(buf, P(8)), 0);
		ASSERT_EQ(get16(buf, P(16)), n);
		ASSERT_EQ(get16(buf, P(18)), 0);
		for (uint32_t k = 0; k < padded(n); k++)
			ASSERT_EQ(buf[P(20) + k], k < n ? 0xff - k : 0);
		/* The second pair starts right after the padding. */
		ASSERT_EQ(get32(buf, P(20) + padded(n)), 1);
		ASSERT_EQ(get16(buf, P(20) + padded(n) + 8), c.pairs[1].blob_len);
		ASSERT_ERR(mcx__wire_decode_connect(buf, (size_t)len, MCX_WIRE_CONNECT, &back), 0);
		ASSERT_EQ(back.pairs[0].blob_len, n);
		for (uint32_t k = 0; k < MCX_WIRE_BLOB_MAX; k++)
			ASSERT_EQ(back.pairs[0].blob[k], k < n ? 0xff - k : 0);
		ASSERT_TRUE(memcmp(&back.pairs[1], &c.pairs[1], sizeof(c.pairs[1])) == 0);
	}
	/* The largest CONNECT: every pair with the longest blob. */
	fill_connect(&c, MCX_WIRE_MAX_PAIRS);
	for (uint32_t i = 0; i < MCX_WIRE_MAX_PAIRS; i++)
		c.pairs[i].blob_len = MCX_WIRE_BLOB_MAX;
	ASSERT_EQ(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 3, &c),
		  MCX_WIRE_HDR_LEN + 8 +
		  MCX_WIRE_MAX_PAIRS * (MCX_WIRE_PAIR_FIXED + MCX_WIRE_BLOB_MAX));
	ASSERT_ERR(mcx__wire_decode_connect(buf, (size_t)connect_len(&c),
					    MCX_WIRE_CONNECT, &back), 0);
	ASSERT_TRUE(memcmp(&c, &back, sizeof(c)) == 0);
}

static void check_desc(const struct mcx_wire_desc *got,
		       const struct mcx_wire_desc *want, uint32_t nnics)
{
	ASSERT_U64_EQ(got->id, want->id);
	ASSERT_U64_EQ(got->addr, want->addr);
	ASSERT_U64_EQ(got->len, want->len);
	ASSERT_U64_EQ(got->chunk_size, want->chunk_size);
	ASSERT_EQ(got->nchunks, want->nchunks);
	ASSERT_EQ(got->kind, want->kind);
	for (size_t k = 0; k < (size_t)want->nchunks * nnics; k++)
		ASSERT_U64_EQ(got->keys[k], want->keys[k]);
}

/*
 * A descriptor of memory whose MRs were registered at another address
 * carries that iova after its kind; every other descriptor is encoded
 * exactly as before (the golden vectors prove those bytes), and reads back
 * with iova == addr.
 */
TEST(wire_mem_desc_iova_round_trip)
{
	struct mcx_wire_mem m, back;
	struct mcx_wire_desc d[3];
	uint64_t keys[12];
	uint8_t *buf = scratch();
	ssize_t len, plain;

	fill_mem(&m, d, keys);
	plain = mcx__wire_encode_mem(buf, BUFSZ, 5, &m);
	ASSERT_TRUE(plain > 0);
	d[1].has_iova = true;
	d[1].iova = 0x7f0000000000ULL;
	ASSERT_EQ(mcx__wire_desc_bytes(&d[1], 2), mcx__wire_desc_len(2, d[1].nchunks) + 8);
	len = mcx__wire_encode_mem(buf, BUFSZ, 5, &m);
	ASSERT_EQ(len, plain + MCX_WIRE_DESC_IOVA_LEN);
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)len, &back), 0);
	for (int i = 0; i < 3; i++)
		check_desc(&back.descs[i], &d[i], 2);
	ASSERT_TRUE(!back.descs[0].has_iova && back.descs[0].iova == d[0].addr);
	ASSERT_TRUE(back.descs[1].has_iova);
	ASSERT_U64_EQ(back.descs[1].iova, 0x7f0000000000ULL);
	ASSERT_EQ(back.descs[1].kind, d[1].kind);	/* the flag is not the kind */
	mcx__wire_mem_free(&back);

	/* An iova range that wraps is refused both ways. */
	d[1].iova = UINT64_MAX - 10;
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 5, &m), -EINVAL);
}

/*
 * A descriptor of memory registered on some NICs only carries the mask of
 * those (after its kind and iova), and its keys outside the mask are 0;
 * a key of 0 inside it is a key like any other (libfabric and EFA hand
 * out 0).  Descriptors without the flag are encoded as before and read
 * back with every listed device in their mask.  The decoder refuses a
 * mask that is 0, names an unlisted device or leaves a key outside it,
 * and a non-zero reserved word; the encoder refuses the same input.
 *
 * Checked against the library before the mask: a peer could not tell a
 * NIC without MR from one whose key is 0, and posted to it.
 */
TEST(wire_mem_desc_nic_mask)
{
	struct mcx_wire_mem m, back;
	struct mcx_wire_desc d[3];
	uint64_t keys[12];
	uint8_t *buf = scratch();
	ssize_t len, plain;
	/* header + MEM_REPLY fixed part + 2 NIC indices: d[0] starts here */
	const size_t d0 = MCX_WIRE_HDR_LEN + MCX_WIRE_MEMREP_FIXED + 2 * 4;
	const size_t mask_at = d0 + MCX_WIRE_DESC_FIXED;

	fill_mem(&m, d, keys);
	plain = mcx__wire_encode_mem(buf, BUFSZ, 5, &m);
	ASSERT_TRUE(plain > 0);
	/* d[0] on device 0 only (column 1), whose key is 0: still a key. */
	d[0].has_nics = true;
	d[0].nics = 1U << 0;
	keys[0] = 0;
	keys[1] = 0;
	/* d[1] on device 3 only (column 0), with an iova too. */
	d[1].has_iova = true;
	d[1].iova = 0x7f0000000000ULL;
	d[1].has_nics = true;
	d[1].nics = 1U << 3;
	keys[2 + 1] = keys[2 + 3] = keys[2 + 5] = 0;
	ASSERT_EQ(mcx__wire_desc_bytes(&d[0], 2), mcx__wire_desc_len(2, 1) + 8);
	len = mcx__wire_encode_mem(buf, BUFSZ, 5, &m);
	ASSERT_EQ(len, plain + MCX_WIRE_DESC_IOVA_LEN + 2 * MCX_WIRE_DESC_NICS_LEN);
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)len, &back), 0);
	for (int i = 0; i < 3; i++)
		check_desc(&back.descs[i], &d[i], 2);
	ASSERT_TRUE(back.descs[0].has_nics && back.descs[0].nics == 1U << 0);
	ASSERT_TRUE(back.descs[1].has_nics && back.descs[1].nics == 1U << 3);
	ASSERT_U64_EQ(back.descs[1].iova, 0x7f0000000000ULL);
	ASSERT_EQ(back.descs[1].kind, d[1].kind);	/* the flags are not the kind */
	ASSERT_TRUE(!back.descs[2].has_nics);
	ASSERT_EQ(back.descs[2].nics, (1U << 3) | (1U << 0));	/* every listed one */
	mcx__wire_mem_free(&back);

	/* What a peer must not send, refused by the decoder... */
	{
		static const struct { size_t off; uint64_t val; int width; } bad[] = {
			{ mask_at, 0, 4 },			/* no device */
			{ mask_at, 1U << 1, 4 },		/* device 1 is not listed */
			{ mask_at, (1U << 0) | (1U << 5), 4 },	/* nor is 5 */
			{ mask_at + 4, 1, 4 },			/* reserved */
			{ mask_at + 8, 7, 8 },			/* a key of device 3 */
		};
		uint8_t *copy = malloc((size_t)len);

		ASSERT_TRUE(copy != NULL);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			memcpy(copy, buf, (size_t)len);
			for (int b = 0; b < bad[i].width; b++)
				copy[bad[i].off + (size_t)b] = (uint8_t)(bad[i].val >> (8 * b));
			mcx__wire_seal(copy, (size_t)len);
			ASSERT_ERR(mcx__wire_decode_mem(copy, (size_t)len, &back), -EBADMSG);
		}
		free(copy);
	}
	/* ... and by the encoder. */
	keys[0] = 9;
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 5, &m), -EINVAL);
	keys[0] = 0;
	d[0].nics = 0;
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 5, &m), -EINVAL);
	d[0].nics = 1U << 1;
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 5, &m), -EINVAL);
	d[0].nics = 1U << 0;
	ASSERT_TRUE(mcx__wire_encode_mem(buf, BUFSZ, 5, &m) == len);
}

TEST(wire_mem_round_trip)
{
	struct mcx_wire_mem m, back;
	struct mcx_wire_desc d[3];
	uint64_t keys[12];
	uint8_t *buf = scratch();
	ssize_t len;

	fill_mem(&m, d, keys);
	len = mcx__wire_encode_mem(buf, BUFSZ, 5, &m);
	ASSERT_EQ(len, mcx__wire_mem_fixed_len(2) + mcx__wire_desc_len(2, 1) +
		  mcx__wire_desc_len(2, 3) + mcx__wire_desc_len(2, 2));
	ASSERT_EQ(mcx__wire_desc_len(2, 3), MCX_WIRE_DESC_FIXED + 3 * 2 * 8);
	ASSERT_EQ(mcx__wire_mem_fixed_len(2), MCX_WIRE_HDR_LEN + MCX_WIRE_MEMREP_FIXED + 2 * 4);
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)len, &back), 0);
	ASSERT_U64_EQ(back.generation, 77);
	ASSERT_EQ(back.total, 10);
	ASSERT_EQ(back.cursor, 7);
	ASSERT_EQ(back.count, 3);
	ASSERT_EQ(back.nnics, 2);
	ASSERT_EQ(back.nic_index[0], 3);
	ASSERT_EQ(back.nic_index[1], 0);
	for (int i = 0; i < 3; i++)
		check_desc(&back.descs[i], &d[i], 2);
	mcx__wire_mem_free(&back);
	ASSERT_TRUE(back.descs == NULL);
	mcx__wire_mem_free(&back);	/* idempotent */
	mcx__wire_mem_free(NULL);

	/* No descriptors (and no NICs): nothing is allocated. */
	memset(&m, 0, sizeof(m));
	m.generation = 1;
	len = mcx__wire_encode_mem(buf, BUFSZ, 5, &m);
	ASSERT_EQ(len, mcx__wire_mem_fixed_len(0));
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)len, &back), 0);
	ASSERT_EQ(back.count, 0);
	ASSERT_TRUE(back.descs == NULL);
}

/*
 * Keys and ids use all 64 bits: each is written as 8 little-endian bytes
 * where wire.h puts it, and values above 2^32 come back whole.
 */
TEST(wire_mem_64bit_keys_and_ids)
{
	static const uint64_t values[] = {
		0, 1, 0xffffffffULL, 0x100000000ULL, 0x0123456789abcdefULL,
		0x8000000000000000ULL, 0xffffffff00000000ULL, UINT64_MAX,
	};
	const size_t nv = sizeof(values) / sizeof(values[0]);
	uint64_t keys[8 * 2];
	struct mcx_wire_mem m = { 0 }, back;
	struct mcx_wire_desc d[8];
	uint8_t *buf = scratch();
	size_t off;
	ssize_t len;

	/* Descriptor i has one chunk over two NICs: keys values[i], values[nv-1-i]. */
	m.total = m.count = (uint32_t)nv;
	m.nnics = 2;
	m.nic_index[0] = 0;
	m.nic_index[1] = 31;
	for (size_t i = 0; i < nv; i++) {
		keys[2 * i] = values[i];
		keys[2 * i + 1] = values[nv - 1 - i];
		d[i] = (struct mcx_wire_desc){
			.id = values[nv - 1 - i], .addr = 0x1000 * (i + 1), .len = 4096,
			.chunk_size = 4096, .nchunks = 1,
			.kind = i & 1 ? MCX_WIRE_MEM_DMABUF : MCX_WIRE_MEM_HOST,
			.keys = keys + 2 * i,
		};
	}
	m.descs = d;
	len = mcx__wire_encode_mem(buf, BUFSZ, 5, &m);
	ASSERT_EQ(len, mcx__wire_mem_fixed_len(2) + nv * mcx__wire_desc_len(2, 1));
	off = mcx__wire_mem_fixed_len(2);
	for (size_t i = 0; i < nv; i++) {
		ASSERT_U64_EQ(get64(buf, off), values[nv - 1 - i]);		/* id */
		ASSERT_U64_EQ(get64(buf, off + 8), 0x1000 * (i + 1));		/* addr */
		ASSERT_EQ(get32(buf, off + 32), 1);				/* nchunks */
		ASSERT_EQ(get32(buf, off + 36), i & 1);				/* kind */
		ASSERT_U64_EQ(get64(buf, off + 40), values[i]);
		ASSERT_U64_EQ(get64(buf, off + 48), values[nv - 1 - i]);
		off += mcx__wire_desc_len(2, 1);
	}
	ASSERT_EQ(off, len);
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)len, &back), 0);
	for (size_t i = 0; i < nv; i++)
		check_desc(&back.descs[i], &d[i], 2);
	mcx__wire_mem_free(&back);
}

TEST(wire_mem_largest_descriptor)
{
	const size_t nkeys = MCX_WIRE_MAX_CHUNKS * 2;
	uint64_t *keys = malloc(nkeys * sizeof(*keys));
	struct mcx_wire_mem m = { 0 }, back;
	struct mcx_wire_desc d;
	size_t cap = mcx__wire_mem_fixed_len(2) + mcx__wire_desc_len(2, MCX_WIRE_MAX_CHUNKS + 1);
	uint8_t *buf = malloc(cap);
	ssize_t len;

	ASSERT_TRUE(keys && buf);
	for (size_t i = 0; i < nkeys; i++)
		keys[i] = (uint64_t)i * 0x9e3779b97f4a7c15ULL;
	/* The most chunks, on one NIC: 8 MiB of keys fit in a message. */
	m.total = m.count = 1;
	m.nnics = 1;
	m.nic_index[0] = 1;
	d = (struct mcx_wire_desc){ .id = 9, .addr = 1ULL << 40,
				    .len = (uint64_t)MCX_WIRE_MAX_CHUNKS << 30,
				    .chunk_size = 1ULL << 30, .nchunks = MCX_WIRE_MAX_CHUNKS,
				    .kind = MCX_WIRE_MEM_DMABUF, .keys = keys };
	m.descs = &d;
	len = mcx__wire_encode_mem(buf, cap, 0, &m);
	ASSERT_EQ(len, mcx__wire_mem_fixed_len(1) + mcx__wire_desc_len(1, MCX_WIRE_MAX_CHUNKS));
	ASSERT_TRUE(len <= MCX_WIRE_MAX_MSG);
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)len, &back), 0);
	ASSERT_TRUE(memcmp(back.descs[0].keys, keys, MCX_WIRE_MAX_CHUNKS * sizeof(*keys)) == 0);
	mcx__wire_mem_free(&back);
	/* One chunk more is refused as a count over its bound... */
	d.len += 1;
	d.nchunks += 1;
	ASSERT_ERR(mcx__wire_encode_mem(buf, cap, 0, &m), -EMSGSIZE);
	/* ...the same descriptor over two NICs as a message over MCX_WIRE_MAX_MSG... */
	d.len -= 1;
	d.nchunks -= 1;
	m.nnics = 2;
	m.nic_index[1] = 0;
	ASSERT_TRUE(mcx__wire_mem_fixed_len(2) + mcx__wire_desc_len(2, MCX_WIRE_MAX_CHUNKS) >
		    MCX_WIRE_MAX_MSG);
	ASSERT_ERR(mcx__wire_encode_mem(buf, cap, 0, &m), -EMSGSIZE);
	/* ...and so is one made of several that each fit... */
	struct mcx_wire_desc many[5];

	m.nnics = 1;
	many[0] = many[1] = d;
	m.descs = many;
	m.count = m.total = 2;
	ASSERT_ERR(mcx__wire_encode_mem(buf, cap, 0, &m), -EMSGSIZE);
	/* ...while many smaller ones that add up to less are taken. */
	d.len /= 4;
	d.nchunks /= 4;
	for (int i = 0; i < 5; i++)
		many[i] = d;
	m.count = m.total = 5;
	len = mcx__wire_encode_mem(buf, cap, 0, &m);
	ASSERT_EQ(len, mcx__wire_mem_fixed_len(1) +
		  5 * mcx__wire_desc_len(1, MCX_WIRE_MAX_CHUNKS / 4));
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)len, &back), 0);
	ASSERT_EQ(back.count, 5);
	mcx__wire_mem_free(&back);
	free(keys);
	free(buf);
}

TEST(wire_auth_round_trip)
{
	struct mcx_wire_auth a, ab;
	struct mcx_wire_auth_reply r, rb;
	struct mcx_wire_auth_proof pf, pb;
	uint8_t *buf = scratch();
	ssize_t len;

	fill_auth(&a);
	len = mcx__wire_encode_auth(buf, BUFSZ, 1, &a);
	ASSERT_EQ(len, MCX_WIRE_HDR_LEN + 8 + MCX_WIRE_NONCE_LEN);
	ASSERT_EQ(get32(buf, P(0)), MCX_WIRE_AUTH_HAS_KEY);
	ASSERT_EQ(get32(buf, P(4)), 0);
	ASSERT_EQ(buf[P(8)], 0x10);
	ASSERT_EQ(buf[P(8 + 31)], 0x10 + 31);
	ASSERT_ERR(mcx__wire_decode_auth(buf, (size_t)len, &ab), 0);
	ASSERT_TRUE(memcmp(&a, &ab, sizeof(a)) == 0);
	/* A client without a key says so. */
	a.flags = 0;
	len = mcx__wire_encode_auth(buf, BUFSZ, 1, &a);
	ASSERT_ERR(mcx__wire_decode_auth(buf, (size_t)len, &ab), 0);
	ASSERT_EQ(ab.flags, 0);

	for (uint32_t mode = MCX_WIRE_AUTH_OPEN; mode <= MCX_WIRE_AUTH_KEY; mode++) {
		fill_auth_reply(&r, mode);
		len = mcx__wire_encode_auth_reply(buf, BUFSZ, 1, &r);
		ASSERT_EQ(len, MCX_WIRE_HDR_LEN + 8 + MCX_WIRE_NONCE_LEN + MCX_WIRE_PROOF_LEN);
		ASSERT_EQ(get32(buf, P(0)), mode);
		ASSERT_EQ(get32(buf, P(4)), 0);
		ASSERT_EQ(buf[P(8)], 0x40);
		ASSERT_EQ(buf[P(40)], mode == MCX_WIRE_AUTH_KEY ? 0x80 : 0);
		ASSERT_ERR(mcx__wire_decode_auth_reply(buf, (size_t)len, &rb), 0);
		ASSERT_TRUE(memcmp(&r, &rb, sizeof(r)) == 0);
	}
	/* A keyed listener's proof may be anything, zeros included. */
	memset(r.proof, 0, sizeof(r.proof));
	len = mcx__wire_encode_auth_reply(buf, BUFSZ, 1, &r);
	ASSERT_ERR(mcx__wire_decode_auth_reply(buf, (size_t)len, &rb), 0);

	for (int i = 0; i < MCX_WIRE_PROOF_LEN; i++)
		pf.proof[i] = (uint8_t)(0xc0 + i);
	len = mcx__wire_encode_auth_proof(buf, BUFSZ, 2, &pf);
	ASSERT_EQ(len, MCX_WIRE_HDR_LEN + MCX_WIRE_PROOF_LEN);
	ASSERT_EQ(buf[P(0)], 0xc0);
	ASSERT_ERR(mcx__wire_decode_auth_proof(buf, (size_t)len, &pb), 0);
	ASSERT_TRUE(memcmp(&pf, &pb, sizeof(pf)) == 0);
	/* Each decoder wants its own type. */
	ASSERT_ERR(mcx__wire_decode_auth(buf, (size_t)len, &ab), -EPROTO);
	ASSERT_ERR(mcx__wire_decode_auth_reply(buf, (size_t)len, &rb), -EPROTO);

	len = mcx__wire_encode_empty(buf, BUFSZ, MCX_WIRE_AUTH_OK, 2);
	ASSERT_EQ(len, MCX_WIRE_HDR_LEN);
	ASSERT_EQ(get16(buf, 6), MCX_WIRE_AUTH_OK);
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)len, MCX_WIRE_AUTH_OK), 0);
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)len, MCX_WIRE_PONG), -EPROTO);
	ASSERT_ERR(mcx__wire_decode_auth_proof(buf, (size_t)len, &pb), -EPROTO);

	ASSERT_ERR(mcx__wire_decode_auth(buf, (size_t)len, NULL), -EINVAL);
	ASSERT_ERR(mcx__wire_decode_auth_reply(buf, (size_t)len, NULL), -EINVAL);
	ASSERT_ERR(mcx__wire_decode_auth_proof(buf, (size_t)len, NULL), -EINVAL);
}

TEST(wire_small_messages_round_trip)
{
	struct mcx_wire_mem_req q = { 12, MCX_WIRE_MAX_DESCS }, qb;
	struct mcx_wire_error e = { 0 }, eb;
	uint8_t *buf = scratch();
	ssize_t len;

	len = mcx__wire_encode_mem_req(buf, BUFSZ, 1, &q);
	ASSERT_EQ(len, MCX_WIRE_HDR_LEN + 16);
	ASSERT_ERR(mcx__wire_decode_mem_req(buf, (size_t)len, &qb), 0);
	ASSERT_EQ(qb.cursor, 12);
	ASSERT_EQ(qb.max_descs, MCX_WIRE_MAX_DESCS);

	len = mcx__wire_encode_empty(buf, BUFSZ, MCX_WIRE_PING, 8);
	ASSERT_EQ(len, MCX_WIRE_HDR_LEN);
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)len, MCX_WIRE_PING), 0);
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)len, MCX_WIRE_PONG), -EPROTO);
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)len, MCX_WIRE_AUTH_OK), -EPROTO);
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)len, MCX_WIRE_HELLO), -EINVAL);
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)len, MCX_WIRE_AUTH), -EINVAL);
	ASSERT_ERR(mcx__wire_encode_empty(buf, BUFSZ, MCX_WIRE_ERROR, 8), -EINVAL);
	ASSERT_ERR(mcx__wire_encode_empty(buf, BUFSZ, MCX_WIRE_AUTH_PROOF, 8), -EINVAL);
	ASSERT_ERR(mcx__wire_encode_empty(buf, MCX_WIRE_HDR_LEN - 1, MCX_WIRE_PONG, 8), -ENOBUFS);

	e.err = ENOENT;
	e.req_type = MCX_WIRE_CONNECT;
	snprintf(e.msg, sizeof(e.msg), "no NIC with index 7");
	len = mcx__wire_encode_error(buf, BUFSZ, 4, &e);
	ASSERT_EQ(len, MCX_WIRE_HDR_LEN + 8 + strlen(e.msg));
	ASSERT_ERR(mcx__wire_decode_error(buf, (size_t)len, &eb), 0);
	ASSERT_EQ(eb.err, ENOENT);
	ASSERT_EQ(eb.req_type, MCX_WIRE_CONNECT);
	ASSERT_STREQ(eb.msg, e.msg);
	/* Without a message, and with the longest one. */
	e.msg[0] = '\0';
	len = mcx__wire_encode_error(buf, BUFSZ, 4, &e);
	ASSERT_ERR(mcx__wire_decode_error(buf, (size_t)len, &eb), 0);
	ASSERT_STREQ(eb.msg, "");
	memset(e.msg, 'x', MCX_WIRE_MAX_ERRMSG);
	e.msg[MCX_WIRE_MAX_ERRMSG] = '\0';
	len = mcx__wire_encode_error(buf, BUFSZ, 4, &e);
	ASSERT_ERR(mcx__wire_decode_error(buf, (size_t)len, &eb), 0);
	ASSERT_EQ(strlen(eb.msg), MCX_WIRE_MAX_ERRMSG);
}

/* ---- encoders refuse what the decoders would ---- */

static int enc_hello(const struct mcx_wire_hello *h)
{
	return (int)mcx__wire_encode_hello(scratch(), BUFSZ, MCX_WIRE_HELLO, 0, h);
}

TEST(wire_encoders_check_their_input)
{
	static struct mcx_wire_hello h;
	static struct mcx_wire_connect c;
	struct mcx_wire_mem m;
	struct mcx_wire_desc d[3];
	struct mcx_wire_error e = { 0 };
	uint64_t keys[12];
	uint8_t *buf = scratch();

	fill_hello(&h, 2);
	h.ndevs = MCX_WIRE_MAX_NICS + 1;
	ASSERT_ERR(enc_hello(&h), -EMSGSIZE);
	fill_hello(&h, 2);
	h.host[0] = '\0';
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	h.host[2] = '\n';
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	memset(h.host, 'a', sizeof(h.host));	/* no NUL: 256 bytes */
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	h.devs[1].index = h.devs[0].index;
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	h.devs[1].index = MCX_WIRE_MAX_NICS;
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	h.devs[1].name[0] = '\0';
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	memset(h.devs[1].name, 'n', MCX_WIRE_NAME_MAX);	/* unterminated */
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	h.devs[1].fabric = 0;
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	h.devs[1].fabric = MCX_WIRE_FABRIC_EFA + 1;
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	h.devs[0].prefix = 33;
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	memset(h.devs[0].ipv4, 0, 4);		/* a prefix without an address */
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	h.devs[0].addr_len = 0;
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	h.devs[0].addr_len = MCX_WIRE_ADDR_MAX + 1;
	ASSERT_ERR(enc_hello(&h), -EMSGSIZE);
	h.devs[0].addr_len = UINT8_MAX;
	ASSERT_ERR(enc_hello(&h), -EMSGSIZE);
	fill_hello(&h, 2);
	h.devs[1].max_msg = 0;
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	fill_hello(&h, 2);
	h.transport = 0;
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	/* The probe: never 0 in a HELLO, always 0 in a HELLO_REPLY. */
	fill_hello(&h, 2);
	h.probe = 0;
	ASSERT_ERR(enc_hello(&h), -EINVAL);
	ASSERT_TRUE(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO_REPLY, 0, &h) > 0);
	h.probe = 1;
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO_REPLY, 0, &h), -EINVAL);
	ASSERT_TRUE(enc_hello(&h) > 0);
	fill_hello(&h, 2);
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_PING, 0, &h), -EINVAL);
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, NULL), -EINVAL);
	/* Accepted: port 0, any caps, an unknown transport number. */
	fill_hello(&h, 2);
	h.devs[0].port = 0;
	h.devs[1].caps = UINT32_MAX;
	h.transport = 77;
	ASSERT_TRUE(enc_hello(&h) > 0);
	/* Every buffer shorter than the message is too small. */
	ssize_t need = enc_hello(&h);

	ASSERT_TRUE(need > 0);
	for (size_t cap = 0; cap < (size_t)need; cap++)
		ASSERT_ERR(mcx__wire_encode_hello(buf, cap, MCX_WIRE_HELLO, 0, &h), -ENOBUFS);
	ASSERT_ERR(mcx__wire_encode_hello(NULL, 0, MCX_WIRE_HELLO, 0, &h), -ENOBUFS);
	ASSERT_EQ(mcx__wire_encode_hello(buf, (size_t)need, MCX_WIRE_HELLO, 0, &h), need);

	fill_connect(&c, 2);
	c.npairs = 0;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EINVAL);
	c.npairs = MCX_WIRE_MAX_PAIRS + 1;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EMSGSIZE);
	fill_connect(&c, 2);
	c.pairs[1].blob_len = 0;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EINVAL);
	c.pairs[1].blob_len = MCX_WIRE_BLOB_MAX + 1;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EMSGSIZE);
	c.pairs[1].blob_len = UINT16_MAX;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EMSGSIZE);
	fill_connect(&c, 2);
	c.flags = MCX_WIRE_CONNECT_REBUILD << 1;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EINVAL);
	c.flags = 0x80000000U | MCX_WIRE_CONNECT_REBUILD;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EINVAL);
	fill_connect(&c, 2);
	c.pairs[0].local_nic = MCX_WIRE_MAX_NICS;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EINVAL);
	fill_connect(&c, 2);
	c.pairs[1].remote_nic = UINT32_MAX;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EINVAL);
	fill_connect(&c, 2);
	c.pairs[1].local_nic = c.pairs[0].local_nic;
	c.pairs[1].remote_nic = c.pairs[0].remote_nic;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EINVAL);
	/* Same local device to another remote one is a different pair. */
	c.pairs[1].remote_nic = 9;
	ASSERT_TRUE(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c) > 0);
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_HELLO, 0, &c), -EINVAL);
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, NULL), -EINVAL);
	fill_connect(&c, 2);
	need = mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c);
	ASSERT_EQ(need, connect_len(&c));
	for (size_t cap = 0; cap < (size_t)need; cap++)
		ASSERT_ERR(mcx__wire_encode_connect(buf, cap, MCX_WIRE_CONNECT, 0, &c), -ENOBUFS);

	fill_mem(&m, d, keys);
	m.cursor = 8;	/* 8 + 3 > 10 */
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 0, &m), -EINVAL);
	fill_mem(&m, d, keys);
	d[1].nchunks = 2;	/* 2 MiB + 1 in 1 MiB chunks is 3 */
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 0, &m), -EINVAL);
	fill_mem(&m, d, keys);
	d[2].len = 11;		/* wraps */
	d[2].nchunks = 3;
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 0, &m), -EINVAL);
	fill_mem(&m, d, keys);
	m.nic_index[1] = 3;
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 0, &m), -EINVAL);
	fill_mem(&m, d, keys);
	m.count = MCX_WIRE_MAX_DESCS + 1;
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 0, &m), -EMSGSIZE);
	fill_mem(&m, d, keys);
	d[0].keys = NULL;
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 0, &m), -EINVAL);
	fill_mem(&m, d, keys);
	d[2].kind = MCX_WIRE_MEM_DMABUF + 1;
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 0, &m), -EINVAL);
	fill_mem(&m, d, keys);
	ASSERT_ERR(mcx__wire_encode_mem(buf, 100, 0, &m), -ENOBUFS);

	struct mcx_wire_mem_req q = { 0, MCX_WIRE_MAX_DESCS + 1 };

	ASSERT_ERR(mcx__wire_encode_mem_req(buf, BUFSZ, 0, &q), -EMSGSIZE);
	q.max_descs = 0;
	ASSERT_ERR(mcx__wire_encode_mem_req(buf, MCX_WIRE_HDR_LEN + 15, 0, &q), -ENOBUFS);

	e.err = 0;
	ASSERT_ERR(mcx__wire_encode_error(buf, BUFSZ, 0, &e), -EINVAL);
	e.err = 4096;
	ASSERT_ERR(mcx__wire_encode_error(buf, BUFSZ, 0, &e), -EINVAL);
	e.err = EIO;
	memset(e.msg, 'x', sizeof(e.msg));
	ASSERT_ERR(mcx__wire_encode_error(buf, BUFSZ, 0, &e), -EMSGSIZE);
	snprintf(e.msg, sizeof(e.msg), "bad\tbyte");
	ASSERT_ERR(mcx__wire_encode_error(buf, BUFSZ, 0, &e), -EINVAL);
}

TEST(wire_auth_encoders_check_their_input)
{
	struct mcx_wire_auth a;
	struct mcx_wire_auth_reply r;
	struct mcx_wire_auth_proof pf = { { 0 } };
	uint8_t *buf = scratch();

	fill_auth(&a);
	for (int bit = 1; bit < 32; bit++) {
		a.flags = MCX_WIRE_AUTH_HAS_KEY | 1U << bit;
		ASSERT_ERR(mcx__wire_encode_auth(buf, BUFSZ, 0, &a), -EINVAL);
	}
	a.flags = MCX_WIRE_AUTH_HAS_KEY;
	ASSERT_ERR(mcx__wire_encode_auth(buf, BUFSZ, 0, NULL), -EINVAL);
	ASSERT_ERR(mcx__wire_encode_auth(buf, MCX_WIRE_HDR_LEN + 39, 0, &a), -ENOBUFS);
	ASSERT_ERR(mcx__wire_encode_auth(NULL, 0, 0, &a), -ENOBUFS);
	ASSERT_EQ(mcx__wire_encode_auth(buf, MCX_WIRE_HDR_LEN + 40, 0, &a), MCX_WIRE_HDR_LEN + 40);

	fill_auth_reply(&r, MCX_WIRE_AUTH_KEY);
	r.mode = 2;
	ASSERT_ERR(mcx__wire_encode_auth_reply(buf, BUFSZ, 0, &r), -EINVAL);
	r.mode = UINT32_MAX;
	ASSERT_ERR(mcx__wire_encode_auth_reply(buf, BUFSZ, 0, &r), -EINVAL);
	/* An open listener has nothing to prove with. */
	r.mode = MCX_WIRE_AUTH_OPEN;
	ASSERT_ERR(mcx__wire_encode_auth_reply(buf, BUFSZ, 0, &r), -EINVAL);
	fill_auth_reply(&r, MCX_WIRE_AUTH_OPEN);
	r.proof[MCX_WIRE_PROOF_LEN - 1] = 1;
	ASSERT_ERR(mcx__wire_encode_auth_reply(buf, BUFSZ, 0, &r), -EINVAL);
	r.proof[MCX_WIRE_PROOF_LEN - 1] = 0;
	ASSERT_ERR(mcx__wire_encode_auth_reply(buf, BUFSZ, 0, NULL), -EINVAL);
	ASSERT_ERR(mcx__wire_encode_auth_reply(buf, MCX_WIRE_HDR_LEN + 71, 0, &r), -ENOBUFS);
	ASSERT_EQ(mcx__wire_encode_auth_reply(buf, MCX_WIRE_HDR_LEN + 72, 0, &r),
		  MCX_WIRE_HDR_LEN + 72);

	ASSERT_ERR(mcx__wire_encode_auth_proof(buf, BUFSZ, 0, NULL), -EINVAL);
	ASSERT_ERR(mcx__wire_encode_auth_proof(buf, MCX_WIRE_HDR_LEN + 31, 0, &pf), -ENOBUFS);
	ASSERT_EQ(mcx__wire_encode_auth_proof(buf, MCX_WIRE_HDR_LEN + 32, 0, &pf),
		  MCX_WIRE_HDR_LEN + 32);
}

/* ---- decoder rejections ---- */

static size_t valid_hello_n(uint8_t *buf, uint32_t ndevs)
{
	struct mcx_wire_hello h;
	ssize_t len;

	fill_hello(&h, ndevs);
	snprintf(h.host, sizeof(h.host), "hostname");	/* 8 bytes */
	len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 1, &h);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static size_t valid_hello(uint8_t *buf)
{
	return valid_hello_n(buf, 2);
}

static int dec_hello(uint8_t *buf, size_t len)
{
	static struct mcx_wire_hello h;

	return mcx__wire_decode_hello(buf, len, MCX_WIRE_HELLO, &h);
}

TEST(wire_header_rejections)
{
	uint8_t *buf = scratch();
	size_t len = valid_hello(buf);

	ASSERT_ERR(dec_hello(buf, len), 0);
	/* Every truncation, the header's own included. */
	for (size_t l = 0; l < len; l++)
		ASSERT_ERR(dec_hello(buf, l), -EBADMSG);
	ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN - 1, 0, NULL), -EBADMSG);
	ASSERT_ERR(dec_hello(NULL, len), -EBADMSG);
	/* Trailing garbage after a complete message. */
	buf[len] = 0;
	ASSERT_ERR(dec_hello(buf, len + 1), -EBADMSG);

	buf[0] ^= 1;
	ASSERT_ERR(dec_hello(buf, len), -EBADMSG);	/* magic */
	buf[0] ^= 1;
	set16(buf, 4, MCX_WIRE_VERSION + 1);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);	/* version */
	set16(buf, 4, MCX_WIRE_VERSION - 1);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);
	set16(buf, 4, 0);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);
	set16(buf, 4, MCX_WIRE_VERSION);
	set16(buf, 6, 0);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);	/* unknown type */
	set16(buf, 6, MCX_WIRE_AUTH_OK + 1);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);
	set16(buf, 6, UINT16_MAX);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);
	set16(buf, 6, MCX_WIRE_CONNECT);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);	/* not the type asked for */
	set16(buf, 6, MCX_WIRE_AUTH);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);
	set16(buf, 6, MCX_WIRE_HELLO);
	for (int bit = 0; bit < 32; bit++) {
		set32(buf, 16, 1U << bit);
		mcx__wire_seal(buf, len);
		ASSERT_ERR(dec_hello(buf, len), -EBADMSG);	/* header flags */
	}
	set32(buf, 16, 0);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), 0);
	buf[20] ^= 0x80;
	ASSERT_ERR(dec_hello(buf, len), -EBADMSG);	/* crc */
	buf[20] ^= 0x80;
	buf[len - 1] ^= 0x01;
	ASSERT_ERR(dec_hello(buf, len), -EBADMSG);	/* payload bit under the crc */
	buf[len - 1] ^= 0x01;

	/* Declared length: oversized, below the header, short or long. */
	set32(buf, 8, MCX_WIRE_MAX_MSG + 1);
	ASSERT_ERR(mcx__wire_parse_header(buf, len, 0, NULL), -EMSGSIZE);
	ASSERT_ERR(dec_hello(buf, len), -EMSGSIZE);
	set32(buf, 8, UINT32_MAX);
	ASSERT_ERR(dec_hello(buf, len), -EMSGSIZE);
	set32(buf, 8, MCX_WIRE_HDR_LEN - 1);
	ASSERT_ERR(dec_hello(buf, len), -EBADMSG);
	set32(buf, 8, (uint32_t)len - 1);
	mcx__wire_seal(buf, len - 1);
	ASSERT_ERR(dec_hello(buf, len), -EBADMSG);	/* bytes after it */
	ASSERT_ERR(dec_hello(buf, len - 1), -EBADMSG);	/* payload short of its counts */
	set32(buf, 8, (uint32_t)len + 1);
	buf[len] = 0;
	mcx__wire_seal(buf, len + 1);
	ASSERT_ERR(dec_hello(buf, len), -EBADMSG);	/* truncated */
	ASSERT_ERR(dec_hello(buf, len + 1), -EBADMSG);	/* payload with a byte over */
}

/* The first device of valid_hello(), after the 8-byte host name. */
#define DEV0 P(20 + 8)

TEST(wire_hello_payload_rejections)
{
	static const struct field_case cases[] = {
		{ "probe 0", P(0), 8, 0, -EBADMSG },
		{ "transport 0", P(8), 4, 0, -EBADMSG },
		{ "flags", P(12), 4, 1, -EBADMSG },
		{ "flags high", P(12), 4, 0x80000000U, -EBADMSG },
		{ "host_len 0", P(16), 2, 0, -EBADMSG },
		{ "host_len short", P(16), 2, 7, -EBADMSG },
		{ "host_len long", P(16), 2, 9, -EBADMSG },
		{ "host_len over bound", P(16), 2, 256, -EMSGSIZE },
		{ "host_len huge", P(16), 2, 0xffff, -EMSGSIZE },
		{ "ndevs inflated", P(18), 2, 3, -EBADMSG },
		{ "ndevs deflated", P(18), 2, 1, -EBADMSG },
		{ "ndevs 0", P(18), 2, 0, -EBADMSG },
		{ "ndevs over bound", P(18), 2, MCX_WIRE_MAX_NICS + 1, -EMSGSIZE },
		{ "ndevs huge", P(18), 2, 0xffff, -EMSGSIZE },
		{ "host NUL", P(20 + 3), 1, 0, -EBADMSG },
		{ "host blank", P(20 + 3), 1, ' ', -EBADMSG },
		{ "host control", P(20 + 3), 1, 0x7f, -EBADMSG },
		{ "dev index", DEV0, 4, MCX_WIRE_MAX_NICS, -EBADMSG },
		{ "dev index huge", DEV0, 4, UINT32_MAX, -EBADMSG },
		{ "dev name empty", DEV0 + 4, 1, 0, -EBADMSG },
		{ "dev name control", DEV0 + 5, 1, '\n', -EBADMSG },
		{ "dev name padding", DEV0 + 4 + 60, 1, 'x', -EBADMSG },
		{ "dev name unterminated", DEV0 + 4 + 63, 1, 'x', -EBADMSG },
		{ "fabric 0", DEV0 + 68, 1, 0, -EBADMSG },
		{ "fabric 4", DEV0 + 68, 1, MCX_WIRE_FABRIC_EFA + 1, -EBADMSG },
		{ "fabric 255", DEV0 + 68, 1, 255, -EBADMSG },
		{ "prefix 33", DEV0 + 70, 1, 33, -EBADMSG },
		{ "prefix without address", DEV0 + 72, 4, 0, -EBADMSG },
		{ "addr_len 0", DEV0 + 71, 1, 0, -EBADMSG },
		{ "addr_len over bound", DEV0 + 71, 1, MCX_WIRE_ADDR_MAX + 1, -EMSGSIZE },
		{ "addr_len 255", DEV0 + 71, 1, 255, -EMSGSIZE },
		/* fill_dev(0): 16 address bytes, none of them zero. */
		{ "addr_len one short", DEV0 + 71, 1, 15, -EBADMSG },
		{ "addr padding first", DEV0 + 88 + 16, 1, 1, -EBADMSG },
		{ "addr padding last", DEV0 + 88 + 95, 1, 0x80, -EBADMSG },
		{ "max_msg 0", DEV0 + 80, 8, 0, -EBADMSG },
		{ "second dev addr padding", DEV0 + MCX_WIRE_DEV_LEN + 88 + 95, 1, 1, -EBADMSG },
		{ "second dev addr_len 0", DEV0 + MCX_WIRE_DEV_LEN + 71, 1, 0, -EBADMSG },
		{ "duplicate index", DEV0 + MCX_WIRE_DEV_LEN, 4, 0, -EBADMSG },
	};
	uint8_t *buf = scratch();

	valid_hello(buf);
	ASSERT_EQ(get32(buf, DEV0), 0);		/* fill_hello's first index */
	ASSERT_EQ(buf[DEV0 + 71], 16);
	ASSERT_EQ(get32(buf, DEV0 + MCX_WIRE_DEV_LEN), 7);
	RUN_CASES(cases, valid_hello, dec_hello);

	/* Accepted edge values, to show the cases above hit their field. */
	size_t len = valid_hello(buf);

	poke(buf, DEV0 + 70, 1, 32);			/* prefix */
	poke(buf, DEV0 + 68, 1, MCX_WIRE_FABRIC_EFA);
	poke(buf, DEV0 + 69, 1, 0);			/* port: none */
	poke(buf, DEV0 + 76, 4, UINT32_MAX);		/* caps: the transport's */
	poke(buf, DEV0 + 80, 8, 1);			/* max_msg */
	poke(buf, DEV0 + 71, 1, MCX_WIRE_ADDR_MAX);	/* the zeros join the address */
	poke(buf, DEV0 + 88 + 95, 1, 0xff);
	memset(buf + DEV0 + 4, 'n', MCX_WIRE_NAME_MAX - 1);	/* a 63-byte name */
	poke(buf, P(0), 8, UINT64_MAX);			/* probe */
	poke(buf, P(8), 4, UINT32_MAX);			/* transport: not ours, yet valid */
	poke(buf, DEV0 + MCX_WIRE_DEV_LEN, 4, MCX_WIRE_MAX_NICS - 1);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), 0);
	/* No address and no prefix: a device without IPv4. */
	poke(buf, DEV0 + 72, 4, 0);
	poke(buf, DEV0 + 70, 1, 0);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), 0);
	/* The shortest address. */
	memset(buf + DEV0 + 88, 0, MCX_WIRE_ADDR_MAX);
	poke(buf, DEV0 + 71, 1, 1);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), 0);
	/* No devices at all. */
	len = valid_hello_n(buf, 0);
	ASSERT_EQ(len, P(20 + 8));
	ASSERT_ERR(dec_hello(buf, len), 0);
}

/*
 * The probe: a HELLO carries a non-zero one, a HELLO_REPLY none; each
 * decoder refuses the other's.
 */
TEST(wire_hello_probe)
{
	static struct mcx_wire_hello h, back;
	uint8_t *buf = scratch();
	ssize_t len;

	fill_hello(&h, 1);
	h.probe = 0;
	len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO_REPLY, 1, &h);
	ASSERT_TRUE(len > 0);
	ASSERT_U64_EQ(get64(buf, P(0)), 0);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO_REPLY, &back), 0);
	for (int bit = 0; bit < 64; bit++) {
		set64(buf, P(0), 1ULL << bit);
		mcx__wire_seal(buf, (size_t)len);
		ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO_REPLY, &back),
			   -EBADMSG);
	}
	/* The same bytes as a HELLO: every one of those probes is fine... */
	set16(buf, 6, MCX_WIRE_HELLO);
	for (int bit = 0; bit < 64; bit++) {
		set64(buf, P(0), 1ULL << bit);
		mcx__wire_seal(buf, (size_t)len);
		ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO, &back), 0);
		ASSERT_U64_EQ(back.probe, 1ULL << bit);
	}
	/* ...and 0 is not. */
	set64(buf, P(0), 0);
	mcx__wire_seal(buf, (size_t)len);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO, &back), -EBADMSG);
}

static size_t valid_connect(uint8_t *buf)
{
	struct mcx_wire_connect c;
	ssize_t len;

	fill_connect(&c, 2);
	len = mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 1, &c);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static int dec_connect(uint8_t *buf, size_t len)
{
	static struct mcx_wire_connect c;

	return mcx__wire_decode_connect(buf, len, MCX_WIRE_CONNECT, &c);
}

/*
 * valid_connect(): pair 0 is (0, 0) with a 5-byte blob and 3 bytes of
 * padding, pair 1 is (1, 1) with a 42-byte blob and 2.
 */
#define PAIR0 P(8)
#define PAIR1 (PAIR0 + MCX_WIRE_PAIR_FIXED + 8)

TEST(wire_connect_payload_rejections)
{
	static const struct field_case cases[] = {
		{ "npairs 0", P(0), 2, 0, -EBADMSG },
		{ "npairs inflated", P(0), 2, 3, -EBADMSG },
		{ "npairs deflated", P(0), 2, 1, -EBADMSG },
		{ "npairs over bound", P(0), 2, MCX_WIRE_MAX_PAIRS + 1, -EMSGSIZE },
		{ "npairs huge", P(0), 2, 0xffff, -EMSGSIZE },
		{ "reserved", P(2), 2, 1, -EBADMSG },
		{ "reserved high", P(2), 2, 0x8000, -EBADMSG },
		{ "flags unknown", P(4), 4, MCX_WIRE_CONNECT_REBUILD << 1, -EBADMSG },
		{ "flags unknown with rebuild", P(4), 4,
		  0x80000000U | MCX_WIRE_CONNECT_REBUILD, -EBADMSG },
		{ "local nic", PAIR0, 4, MCX_WIRE_MAX_NICS, -EBADMSG },
		{ "remote nic", PAIR0 + 4, 4, UINT32_MAX, -EBADMSG },
		{ "blob_len 0", PAIR0 + 8, 2, 0, -EBADMSG },
		{ "blob_len over bound", PAIR0 + 8, 2, MCX_WIRE_BLOB_MAX + 1, -EMSGSIZE },
		{ "blob_len huge", PAIR0 + 8, 2, 0xffff, -EMSGSIZE },
		{ "blob_len into the next pair", PAIR0 + 8, 2, 9, -EBADMSG },
		{ "blob_len short of its padding", PAIR0 + 8, 2, 4, -EBADMSG },
		{ "last blob_len past the end", PAIR1 + 8, 2, 43 + 4, -EBADMSG },
		{ "last blob_len short", PAIR1 + 8, 2, 42 - 4, -EBADMSG },
		{ "pair flags", PAIR0 + 10, 2, 1, -EBADMSG },
		{ "pair flags high", PAIR1 + 10, 2, 0x8000, -EBADMSG },
		{ "blob padding first", PAIR0 + 12 + 5, 1, 1, -EBADMSG },
		{ "blob padding last", PAIR0 + 12 + 7, 1, 0x80, -EBADMSG },
		{ "last blob padding", PAIR1 + 12 + 42, 1, 0xff, -EBADMSG },
		{ "last blob padding last", PAIR1 + 12 + 43, 1, 1, -EBADMSG },
		{ "last local nic", PAIR1, 4, MCX_WIRE_MAX_NICS, -EBADMSG },
		{ "duplicate pair", PAIR1, 8, 0, -EBADMSG },
	};
	uint8_t *buf = scratch();
	size_t len = valid_connect(buf);

	ASSERT_EQ(len, PAIR1 + MCX_WIRE_PAIR_FIXED + 44);
	ASSERT_EQ(get16(buf, PAIR0 + 8), 5);
	ASSERT_EQ(get32(buf, PAIR1), 1);
	ASSERT_EQ(get16(buf, PAIR1 + 8), 42);
	RUN_CASES(cases, valid_connect, dec_connect);

	/* Accepted edge values. */
	len = valid_connect(buf);
	poke(buf, P(4), 4, MCX_WIRE_CONNECT_REBUILD);
	poke(buf, PAIR0, 4, MCX_WIRE_MAX_NICS - 1);
	poke(buf, PAIR0 + 4, 4, MCX_WIRE_MAX_NICS - 1);
	poke(buf, PAIR0 + 12, 1, 0);			/* blob bytes are anything */
	poke(buf, PAIR1 + 12 + 41, 1, 0xff);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_connect(buf, len), 0);
	/* A blob that grows into its zero padding is another valid blob. */
	poke(buf, PAIR0 + 8, 2, 8);
	poke(buf, PAIR1 + 8, 2, 44);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_connect(buf, len), 0);
	/* Same local device to two remote ones, and the reverse: distinct. */
	len = valid_connect(buf);
	poke(buf, PAIR1, 4, 0);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_connect(buf, len), 0);
	poke(buf, PAIR1, 4, 1);
	poke(buf, PAIR1 + 4, 4, 0);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_connect(buf, len), 0);
}

/* A duplicate anywhere among many pairs, not only next to each other. */
TEST(wire_connect_duplicate_pairs)
{
	static struct mcx_wire_connect c, back;
	uint8_t *buf = scratch();

	for (uint32_t i = 1; i < MCX_WIRE_MAX_PAIRS; i += 9) {
		for (uint32_t j = 0; j < i; j += 5) {
			fill_connect(&c, MCX_WIRE_MAX_PAIRS);
			ASSERT_TRUE(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT,
							     1, &c) > 0);
			c.pairs[i].local_nic = c.pairs[j].local_nic;
			c.pairs[i].remote_nic = c.pairs[j].remote_nic;
			ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 1, &c),
				   -EINVAL);
			/* On the wire: encode with a placeholder, then patch it in. */
			c.pairs[i].remote_nic = (c.pairs[j].remote_nic + 1) % MCX_WIRE_MAX_NICS;
			ssize_t len = mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 1, &c);
			size_t off = PAIR0;

			if (len < 0)	/* the placeholder was taken already */
				continue;
			for (uint32_t k = 0; k < i; k++)
				off += MCX_WIRE_PAIR_FIXED + padded(c.pairs[k].blob_len);
			ASSERT_EQ(get32(buf, off), c.pairs[i].local_nic);
			set32(buf, off + 4, c.pairs[j].remote_nic);
			mcx__wire_seal(buf, (size_t)len);
			ASSERT_ERR(mcx__wire_decode_connect(buf, (size_t)len,
							    MCX_WIRE_CONNECT, &back),
				   -EBADMSG);
		}
	}
}

static size_t valid_mem(uint8_t *buf)
{
	struct mcx_wire_mem m;
	struct mcx_wire_desc d[3];
	uint64_t keys[12];
	ssize_t len;

	fill_mem(&m, d, keys);
	len = mcx__wire_encode_mem(buf, BUFSZ, 1, &m);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static int dec_mem(uint8_t *buf, size_t len)
{
	struct mcx_wire_mem m;
	int ret = mcx__wire_decode_mem(buf, len, &m);

	if (ret)
		ASSERT_TRUE(m.descs == NULL && m.count == 0);
	mcx__wire_mem_free(&m);
	return ret;
}

/* valid_mem()'s descriptors, after two NIC indices; keys are 8 bytes. */
#define DESC0 P(24 + 8)
#define DESC1 (DESC0 + MCX_WIRE_DESC_FIXED + 1 * 2 * 8)	/* one chunk x two NICs */
#define DESC2 (DESC1 + MCX_WIRE_DESC_FIXED + 3 * 2 * 8)

TEST(wire_mem_payload_rejections)
{
	static const struct field_case cases[] = {
		{ "count inflated", P(16), 4, 4, -EBADMSG },
		{ "count deflated", P(16), 4, 2, -EBADMSG },
		{ "count over bound", P(16), 4, MCX_WIRE_MAX_DESCS + 1, -EMSGSIZE },
		{ "count huge", P(16), 4, UINT32_MAX, -EMSGSIZE },
		{ "total below cursor + count", P(8), 4, 9, -EBADMSG },
		{ "cursor wraps", P(12), 4, UINT32_MAX, -EBADMSG },
		{ "nnics inflated", P(20), 2, 3, -EBADMSG },
		{ "nnics 0", P(20), 2, 0, -EBADMSG },
		{ "nnics over bound", P(20), 2, MCX_WIRE_MAX_NICS + 1, -EMSGSIZE },
		{ "pad", P(22), 2, 1, -EBADMSG },
		{ "nic index", P(24), 4, MCX_WIRE_MAX_NICS, -EBADMSG },
		{ "nic index duplicate", P(28), 4, 3, -EBADMSG },
		{ "len 0", DESC0 + 16, 8, 0, -EBADMSG },
		{ "chunk 0", DESC0 + 24, 8, 0, -EBADMSG },
		{ "nchunks inflated", DESC1 + 32, 4, 4, -EBADMSG },
		{ "nchunks deflated", DESC1 + 32, 4, 2, -EBADMSG },
		{ "nchunks 0", DESC0 + 32, 4, 0, -EBADMSG },
		{ "nchunks over bound", DESC1 + 32, 4, MCX_WIRE_MAX_CHUNKS + 1, -EMSGSIZE },
		{ "nchunks huge", DESC2 + 32, 4, UINT32_MAX, -EMSGSIZE },
		{ "len against chunks", DESC1 + 16, 8, 1U << 20, -EBADMSG },
		{ "address wraps", DESC2 + 8, 8, UINT64_MAX - 8, -EBADMSG },
		{ "kind unknown", DESC2 + 36, 4, MCX_WIRE_MEM_DMABUF + 1, -EBADMSG },
		{ "kind huge", DESC0 + 36, 4, UINT32_MAX, -EBADMSG },
		{ "kind high bit", DESC1 + 36, 4, 0x80000000U | MCX_WIRE_MEM_DMABUF, -EBADMSG },
	};
	uint8_t *buf = scratch();

	valid_mem(buf);
	ASSERT_EQ(get32(buf, DESC1 + 32), 3);
	ASSERT_EQ(get32(buf, DESC2 + 32), 2);
	ASSERT_EQ(get32(buf, DESC1 + 36), MCX_WIRE_MEM_DMABUF);
	RUN_CASES(cases, valid_mem, dec_mem);

	/* The last address byte is usable: addr + len may reach 2^64. */
	size_t len = valid_mem(buf);

	poke(buf, DESC2 + 8, 8, UINT64_MAX - 9);
	/* Ids and keys are anything. */
	poke(buf, DESC0, 8, 0);
	poke(buf, DESC1, 8, UINT64_MAX);
	poke(buf, DESC2 + 40, 8, 0);
	poke(buf, DESC2 + 40 + 8, 8, UINT64_MAX);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_mem(buf, len), 0);
	/* Payload one key short, half a key short, then one key over. */
	set32(buf, 8, (uint32_t)len - 8);
	mcx__wire_seal(buf, len - 8);
	ASSERT_ERR(dec_mem(buf, len - 8), -EBADMSG);
	set32(buf, 8, (uint32_t)len - 4);
	mcx__wire_seal(buf, len - 4);
	ASSERT_ERR(dec_mem(buf, len - 4), -EBADMSG);
	set32(buf, 8, (uint32_t)len + 8);
	set64(buf, len, 0);
	mcx__wire_seal(buf, len + 8);
	ASSERT_ERR(dec_mem(buf, len + 8), -EBADMSG);
}

static size_t valid_auth(uint8_t *buf)
{
	struct mcx_wire_auth a;
	ssize_t len;

	fill_auth(&a);
	len = mcx__wire_encode_auth(buf, BUFSZ, 1, &a);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static int dec_auth(uint8_t *buf, size_t len)
{
	struct mcx_wire_auth a;

	return mcx__wire_decode_auth(buf, len, &a);
}

static size_t valid_auth_reply_open(uint8_t *buf)
{
	struct mcx_wire_auth_reply a;
	ssize_t len;

	fill_auth_reply(&a, MCX_WIRE_AUTH_OPEN);
	len = mcx__wire_encode_auth_reply(buf, BUFSZ, 1, &a);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static size_t valid_auth_reply_key(uint8_t *buf)
{
	struct mcx_wire_auth_reply a;
	ssize_t len;

	fill_auth_reply(&a, MCX_WIRE_AUTH_KEY);
	len = mcx__wire_encode_auth_reply(buf, BUFSZ, 1, &a);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static int dec_auth_reply(uint8_t *buf, size_t len)
{
	struct mcx_wire_auth_reply a;

	return mcx__wire_decode_auth_reply(buf, len, &a);
}

TEST(wire_auth_payload_rejections)
{
	static const struct field_case auth_cases[] = {
		{ "flags bit 1", P(0), 4, MCX_WIRE_AUTH_HAS_KEY << 1, -EBADMSG },
		{ "flags high bit", P(0), 4, 0x80000000U, -EBADMSG },
		{ "flags all", P(0), 4, UINT32_MAX, -EBADMSG },
		{ "reserved", P(4), 4, 1, -EBADMSG },
		{ "reserved high", P(4), 4, 0x01000000U, -EBADMSG },
	};
	static const struct field_case open_cases[] = {
		{ "mode 2", P(0), 4, 2, -EBADMSG },
		{ "mode huge", P(0), 4, UINT32_MAX, -EBADMSG },
		{ "mode high bit", P(0), 4, 0x80000000U | MCX_WIRE_AUTH_KEY, -EBADMSG },
		{ "reserved", P(4), 4, 1, -EBADMSG },
		{ "open proof first", P(40), 1, 1, -EBADMSG },
		{ "open proof last", P(40 + 31), 1, 0x80, -EBADMSG },
	};
	static const struct field_case key_cases[] = {
		{ "mode 2", P(0), 4, 2, -EBADMSG },
		{ "reserved", P(4), 4, 0x100, -EBADMSG },
		/* The proof is there: OPEN would say it is not. */
		{ "mode open", P(0), 4, MCX_WIRE_AUTH_OPEN, -EBADMSG },
	};
	struct mcx_wire_auth a;
	struct mcx_wire_auth_reply r;
	uint8_t *buf = scratch();
	size_t len;

	RUN_CASES(auth_cases, valid_auth, dec_auth);
	RUN_CASES(open_cases, valid_auth_reply_open, dec_auth_reply);
	RUN_CASES(key_cases, valid_auth_reply_key, dec_auth_reply);

	/* Every unknown AUTH flag bit, alone and next to HAS_KEY. */
	for (int bit = 1; bit < 32; bit++) {
		len = valid_auth(buf);
		set32(buf, P(0), 1U << bit);
		mcx__wire_seal(buf, len);
		ASSERT_ERR(dec_auth(buf, len), -EBADMSG);
		set32(buf, P(0), 1U << bit | MCX_WIRE_AUTH_HAS_KEY);
		mcx__wire_seal(buf, len);
		ASSERT_ERR(dec_auth(buf, len), -EBADMSG);
	}
	/* Nonces are anything. */
	len = valid_auth(buf);
	set32(buf, P(0), 0);
	memset(buf + P(8), 0, MCX_WIRE_NONCE_LEN);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(mcx__wire_decode_auth(buf, len, &a), 0);
	ASSERT_EQ(a.flags, 0);
	/* Any byte of an OPEN reply's proof refuses it. */
	for (int i = 0; i < MCX_WIRE_PROOF_LEN; i++) {
		len = valid_auth_reply_open(buf);
		buf[P(40 + i)] = (uint8_t)(1 + i);
		mcx__wire_seal(buf, len);
		ASSERT_ERR(dec_auth_reply(buf, len), -EBADMSG);
		/* The same bytes with mode KEY are a proof. */
		set32(buf, P(0), MCX_WIRE_AUTH_KEY);
		mcx__wire_seal(buf, len);
		ASSERT_ERR(mcx__wire_decode_auth_reply(buf, len, &r), 0);
		ASSERT_EQ(r.proof[i], 1 + i);
	}
}

/*
 * Every message type with its payload cut short by any amount, or with a
 * byte more, and a header that agrees: the counts (or fixed sizes) do not.
 */
static size_t valid_auth_proof(uint8_t *buf)
{
	struct mcx_wire_auth_proof a;
	ssize_t len;

	memset(&a, 0x5a, sizeof(a));
	len = mcx__wire_encode_auth_proof(buf, BUFSZ, 1, &a);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static int dec_auth_proof(uint8_t *buf, size_t len)
{
	struct mcx_wire_auth_proof a;

	return mcx__wire_decode_auth_proof(buf, len, &a);
}

static size_t valid_mem_req(uint8_t *buf)
{
	struct mcx_wire_mem_req q = { 1, 2 };
	ssize_t len = mcx__wire_encode_mem_req(buf, BUFSZ, 1, &q);

	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static int dec_mem_req(uint8_t *buf, size_t len)
{
	struct mcx_wire_mem_req q;

	return mcx__wire_decode_mem_req(buf, len, &q);
}

static size_t valid_error(uint8_t *buf)
{
	struct mcx_wire_error e = { .err = EIO, .req_type = 3, .msg = "abc" };
	ssize_t len = mcx__wire_encode_error(buf, BUFSZ, 1, &e);

	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static int dec_error(uint8_t *buf, size_t len)
{
	struct mcx_wire_error e;

	return mcx__wire_decode_error(buf, len, &e);
}

static size_t valid_auth_ok(uint8_t *buf)
{
	return (size_t)mcx__wire_encode_empty(buf, BUFSZ, MCX_WIRE_AUTH_OK, 1);
}

static int dec_auth_ok(uint8_t *buf, size_t len)
{
	return mcx__wire_decode_empty(buf, len, MCX_WIRE_AUTH_OK);
}

TEST(wire_every_type_refuses_short_and_long_payloads)
{
	static const struct {
		const char *what;
		size_t (*valid)(uint8_t *buf);
		int (*dec)(uint8_t *buf, size_t len);
	} types[] = {
		{ "AUTH", valid_auth, dec_auth },
		{ "AUTH_REPLY", valid_auth_reply_key, dec_auth_reply },
		{ "AUTH_PROOF", valid_auth_proof, dec_auth_proof },
		{ "AUTH_OK", valid_auth_ok, dec_auth_ok },
		{ "HELLO", valid_hello, dec_hello },
		{ "CONNECT", valid_connect, dec_connect },
		{ "MEM_REQ", valid_mem_req, dec_mem_req },
		{ "MEM_REPLY", valid_mem, dec_mem },
		{ "ERROR", valid_error, dec_error },
	};
	uint8_t *buf = scratch();

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		size_t len = types[t].valid(buf);

		ASSERT_ERR(types[t].dec(buf, len), 0);
		for (size_t l = MCX_WIRE_HDR_LEN; l <= len + 1; l++) {
			int ret;

			if (l == len)
				continue;
			len = types[t].valid(buf);
			buf[len] = 0;
			set32(buf, 8, (uint32_t)l);
			mcx__wire_seal(buf, l);
			ret = types[t].dec(buf, l);
			if (ret != -EBADMSG)
				harness_fail(__FILE__, __LINE__, "%s with %zu of %zu bytes: got %s",
					     types[t].what, l, len, harness_errname(ret));
		}
	}
}

TEST(wire_small_payload_rejections)
{
	struct mcx_wire_mem_req q = { 1, 2 }, qb;
	uint8_t *buf = scratch();
	ssize_t len;

	len = mcx__wire_encode_mem_req(buf, BUFSZ, 1, &q);
	poke(buf, P(8), 8, 1ULL << 63);
	mcx__wire_seal(buf, (size_t)len);
	ASSERT_ERR(mcx__wire_decode_mem_req(buf, (size_t)len, &qb), -EBADMSG);
	poke(buf, P(8), 8, 0);
	poke(buf, P(4), 4, MCX_WIRE_MAX_DESCS + 1);
	mcx__wire_seal(buf, (size_t)len);
	ASSERT_ERR(mcx__wire_decode_mem_req(buf, (size_t)len, &qb), -EMSGSIZE);
	/* Shortened payload with a matching header. */
	len = mcx__wire_encode_mem_req(buf, BUFSZ, 1, &q);
	set32(buf, 8, (uint32_t)len - 8);
	mcx__wire_seal(buf, (size_t)len - 8);
	ASSERT_ERR(mcx__wire_decode_mem_req(buf, (size_t)len - 8, &qb), -EBADMSG);

	static const uint16_t empty[] = { MCX_WIRE_PING, MCX_WIRE_PONG, MCX_WIRE_AUTH_OK };

	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		uint16_t t = empty[i];

		len = mcx__wire_encode_empty(buf, BUFSZ, t, 1);
		set32(buf, 8, (uint32_t)len + 1);
		buf[len] = 0;
		mcx__wire_seal(buf, (size_t)len + 1);
		ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)len + 1, t), -EBADMSG);
	}

	static const struct field_case cases[] = {
		{ "err 0", P(0), 4, 0, -EBADMSG },
		{ "err over 4095", P(0), 4, 4096, -EBADMSG },
		{ "err negative", P(0), 4, (uint32_t)-5, -EBADMSG },
		{ "msg_len inflated", P(6), 2, 4, -EBADMSG },
		{ "msg_len deflated", P(6), 2, 2, -EBADMSG },
		{ "msg_len over bound", P(6), 2, MCX_WIRE_MAX_ERRMSG + 1, -EMSGSIZE },
		{ "msg NUL", P(9), 1, 0, -EBADMSG },
		{ "msg control", P(9), 1, 0x1b, -EBADMSG },
		{ "msg high byte", P(9), 1, 0xc3, -EBADMSG },
	};

	ASSERT_EQ(valid_error(buf), P(8 + 3));
	RUN_CASES(cases, valid_error, dec_error);
}

/* ---- fuzzing ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure can be replayed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static void rng_seed(uint64_t dflt)
{
	rng_state = harness_seed(dflt);
	if (!rng_state)
		rng_state = 1;
}

static int documented(int ret)
{
	return ret == 0 || ret == -EBADMSG || ret == -EPROTO || ret == -EMSGSIZE;
}

static unsigned long fuzz_accepted;
static unsigned long fuzz_accepted_type[MCX_WIRE_AUTH_OK + 1];

/*
 * Feed one input to every decoder from an exactly sized heap copy (so that
 * ASan or valgrind see any read past its end).  Whatever a decoder accepts
 * must re-encode to the same bytes: the format has one encoding per value,
 * so an accepted mutation is a different valid message, not a misread one.
 */
static void fuzz_one(const uint8_t *in, size_t len)
{
	static const uint16_t empty[] = { MCX_WIRE_PING, MCX_WIRE_PONG, MCX_WIRE_AUTH_OK };
	static struct mcx_wire_hello h;
	static struct mcx_wire_connect c;
	static uint8_t out[BUFSZ + 64];
	struct mcx_wire_auth a;
	struct mcx_wire_auth_reply ar;
	struct mcx_wire_auth_proof ap;
	struct mcx_wire_mem m;
	struct mcx_wire_mem_req q;
	struct mcx_wire_error e;
	struct mcx_wire_hdr hdr;
	uint8_t *copy = calloc(1, len ? len : 1);
	uint32_t seq = 0;
	ssize_t elen = 0;
	int ret, ok = 0;

	ASSERT_TRUE(copy != NULL);
	if (len)
		memcpy(copy, in, len);
	if (len >= 16)
		seq = get32(in, 12);

	ret = mcx__wire_parse_header(copy, len, 0, &hdr);
	ASSERT_TRUE(documented(ret));
	/* Another version is reported as read (wire.h). */
	if (len >= MCX_WIRE_HDR_LEN && get32(in, 0) == MCX_WIRE_MAGIC) {
		ASSERT_EQ(hdr.version, get16(in, 4));
		if (hdr.version != MCX_WIRE_VERSION)
			ASSERT_ERR(ret, -EPROTO);
	}

	ret = mcx__wire_decode_auth(copy, len, &a);
	ASSERT_TRUE(documented(ret));
	if (!ret) {
		elen = mcx__wire_encode_auth(out, sizeof(out), seq, &a);
		ok++;
	}
	ret = mcx__wire_decode_auth_reply(copy, len, &ar);
	ASSERT_TRUE(documented(ret));
	if (!ret) {
		elen = mcx__wire_encode_auth_reply(out, sizeof(out), seq, &ar);
		ok++;
	}
	ret = mcx__wire_decode_auth_proof(copy, len, &ap);
	ASSERT_TRUE(documented(ret));
	if (!ret) {
		elen = mcx__wire_encode_auth_proof(out, sizeof(out), seq, &ap);
		ok++;
	}

	for (uint16_t t = MCX_WIRE_HELLO; t <= MCX_WIRE_HELLO_REPLY; t++) {
		ret = mcx__wire_decode_hello(copy, len, t, &h);
		ASSERT_TRUE(documented(ret));
		if (!ret) {
			elen = mcx__wire_encode_hello(out, sizeof(out), t, seq, &h);
			ok++;
		}
	}
	for (uint16_t t = MCX_WIRE_CONNECT; t <= MCX_WIRE_CONNECT_REPLY; t++) {
		ret = mcx__wire_decode_connect(copy, len, t, &c);
		ASSERT_TRUE(documented(ret));
		if (!ret) {
			elen = mcx__wire_encode_connect(out, sizeof(out), t, seq, &c);
			ok++;
		}
	}
	ret = mcx__wire_decode_mem_req(copy, len, &q);
	ASSERT_TRUE(documented(ret));
	if (!ret) {
		elen = mcx__wire_encode_mem_req(out, sizeof(out), seq, &q);
		ok++;
	}
	ret = mcx__wire_decode_mem(copy, len, &m);
	ASSERT_TRUE(documented(ret) || ret == -ENOMEM);
	if (!ret) {
		elen = mcx__wire_encode_mem(out, sizeof(out), seq, &m);
		mcx__wire_mem_free(&m);
		ok++;
	} else {
		ASSERT_TRUE(m.descs == NULL);
	}
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		ret = mcx__wire_decode_empty(copy, len, empty[i]);
		ASSERT_TRUE(documented(ret));
		if (!ret) {
			elen = mcx__wire_encode_empty(out, sizeof(out), empty[i], seq);
			ok++;
		}
	}
	ret = mcx__wire_decode_error(copy, len, &e);
	ASSERT_TRUE(documented(ret));
	if (!ret) {
		elen = mcx__wire_encode_error(out, sizeof(out), seq, &e);
		ok++;
	}

	/* At most one decoder can accept: each wants its own type. */
	ASSERT_TRUE(ok <= 1);
	if (ok) {
		ASSERT_EQ(elen, len);
		ASSERT_TRUE(memcmp(out, in, len) == 0);
		fuzz_accepted++;
		fuzz_accepted_type[get16(in, 6)]++;
	}
	free(copy);
}

/* A valid message of a random type (MEM_REPLY, the richest, more often). */
static size_t fuzz_seed_msg(uint8_t *buf)
{
	static const uint16_t empty[] = { MCX_WIRE_PING, MCX_WIRE_PONG, MCX_WIRE_AUTH_OK };
	static struct mcx_wire_hello h;
	static struct mcx_wire_connect c;
	struct mcx_wire_auth a;
	struct mcx_wire_auth_reply ar;
	struct mcx_wire_auth_proof ap;
	struct mcx_wire_mem m;
	struct mcx_wire_desc d[3];
	struct mcx_wire_mem_req q = { 3, 9 };
	struct mcx_wire_error e = { .err = EPROTO, .req_type = 1, .msg = "no" };
	uint64_t keys[12];
	ssize_t len;

	switch (rng() % 12) {
	case 0:
		fill_hello(&h, (uint32_t)(rng() % 4));
		if (rng() & 1) {
			h.probe = 0;
			len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO_REPLY, 1, &h);
		} else {
			len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 1, &h);
		}
		break;
	case 1:
		fill_connect(&c, 1 + (uint32_t)(rng() % 3));
		c.flags = (uint32_t)(rng() & MCX_WIRE_CONNECT_REBUILD);
		len = mcx__wire_encode_connect(buf, BUFSZ, rng() & 1 ? MCX_WIRE_CONNECT :
							       MCX_WIRE_CONNECT_REPLY,
					       2, &c);
		break;
	case 2:
	case 3:
		fill_mem(&m, d, keys);
		len = mcx__wire_encode_mem(buf, BUFSZ, 3, &m);
		break;
	case 4:
		len = mcx__wire_encode_mem_req(buf, BUFSZ, 4, &q);
		break;
	case 5:
		len = mcx__wire_encode_empty(buf, BUFSZ, empty[rng() % 3], 5);
		break;
	case 6:
		len = mcx__wire_encode_error(buf, BUFSZ, 6, &e);
		break;
	case 7:
		fill_auth(&a);
		a.flags = (uint32_t)(rng() & MCX_WIRE_AUTH_HAS_KEY);
		len = mcx__wire_encode_auth(buf, BUFSZ, 7, &a);
		break;
	case 8:
	case 9:
		fill_auth_reply(&ar, rng() & 1 ? MCX_WIRE_AUTH_KEY : MCX_WIRE_AUTH_OPEN);
		len = mcx__wire_encode_auth_reply(buf, BUFSZ, 8, &ar);
		break;
	case 10:
		memset(&ap, 0x3c, sizeof(ap));
		len = mcx__wire_encode_auth_proof(buf, BUFSZ, 9, &ap);
		break;
	default:
		fill_hello(&h, 1 + (uint32_t)(rng() % 2));
		len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 1, &h);
		break;
	}
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

/* Interesting values for count and length fields. */
static uint32_t edge_value(void)
{
	static const uint32_t v[] = {
		0, 1, 2, 3, 7, 16, 17, 31, 32, 33, 64, 65, 255, 256, 1023, 1024,
		1025, 16384, 16385, 0x7fff, 0xffff, 0x10000, 0x7fffffff,
		0x80000000U, 0xfffffffeU, 0xffffffffU, MCX_WIRE_MAX_MSG,
		MCX_WIRE_MAX_MSG + 1,
	};

	return v[rng() % (sizeof(v) / sizeof(v[0]))];
}

/* One mutation of buf (len bytes, room for BUFSZ); returns the new length. */
static size_t mutate(uint8_t *buf, size_t len)
{
	size_t off = len ? rng() % len : 0;
	size_t n;

	switch (rng() % 8) {
	case 0:		/* bit flips */
		for (n = 1 + rng() % 4; n && len; n--) {
			off = rng() % len;
			buf[off] ^= (uint8_t)(1U << (rng() % 8));
		}
		break;
	case 1:		/* truncation */
		len = len ? rng() % len : 0;
		break;
	case 2:		/* count or length inflation: a 16- or 32-bit edge value */
		if (len >= 4) {
			off = rng() % (len - 3);
			if (rng() & 1)
				set16(buf, off, (uint16_t)edge_value());
			else
				set32(buf, off, edge_value());
		}
		break;
	case 3:		/* a field nudged by one */
		if (len >= 4) {
			off = (rng() % (len / 2)) * 2;
			if (off + 2 <= len)
				set16(buf, off, (uint16_t)(buf[off] + (buf[off + 1] << 8) +
							   (rng() & 1 ? 1 : -1)));
		}
		break;
	case 4:		/* random bytes appended */
		n = 1 + rng() % 64;
		if (len + n < BUFSZ) {
			for (size_t i = 0; i < n; i++)
				buf[len + i] = (uint8_t)rng();
			len += n;
		}
		break;
	case 5:		/* a range cut out of the middle */
		if (len > 1) {
			n = 1 + rng() % (len - off);
			memmove(buf + off, buf + off + n, len - off - n);
			len -= n;
		}
		break;
	case 6:		/* a random byte */
		if (len)
			buf[off] = (uint8_t)rng();
		break;
	default:	/* a range duplicated in place */
		if (len > 1 && len < BUFSZ / 2) {
			n = 1 + rng() % (len - off);
			memmove(buf + off + n, buf + off, len - off);
			len += n;
		}
		break;
	}
	return len;
}

/* Make the header agree with the mutated length, and the crc with the body. */
static void fix_up(uint8_t *buf, size_t len)
{
	if (len < MCX_WIRE_HDR_LEN)
		return;
	if (rng() % 4)
		set32(buf, 8, (uint32_t)len);
	mcx__wire_seal(buf, len);
}

#define FUZZ_RANDOM	40000
#define FUZZ_MUTATED	120000

TEST(wire_fuzz_random_bytes)
{
	uint8_t *buf = scratch();

	rng_seed(0x5eed0001);
	for (int i = 0; i < FUZZ_RANDOM; i++) {
		size_t len = rng() % 512;

		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rng();
		/*
		 * Half get a plausible header, so the payload parsers run
		 * (one in 16 of those of version 1).
		 */
		if (len >= MCX_WIRE_HDR_LEN && (rng() & 1)) {
			set32(buf, 0, MCX_WIRE_MAGIC);
			set16(buf, 4, rng() % 16 ? MCX_WIRE_VERSION : 1);
			set16(buf, 6, (uint16_t)(1 + rng() % MCX_WIRE_AUTH_OK));
			set32(buf, 16, 0);
			fix_up(buf, len);
		}
		fuzz_one(buf, len);
	}
}

TEST(wire_fuzz_mutated_messages)
{
	uint8_t *buf = scratch();

	rng_seed(0x5eed0002);
	fuzz_accepted = 0;
	memset(fuzz_accepted_type, 0, sizeof(fuzz_accepted_type));
	for (int i = 0; i < FUZZ_MUTATED; i++) {
		size_t len = fuzz_seed_msg(buf);
		int rounds = 1 + (int)(rng() % 3);

		for (int r = 0; r < rounds; r++)
			len = mutate(buf, len);
		/* Most get a consistent length and crc, to reach the payload rules. */
		if (rng() % 8)
			fix_up(buf, len);
		fuzz_one(buf, len);
	}
	/*
	 * Some mutations make another valid message (a changed key, address,
	 * nonce or sequence number); if none were accepted the fuzzer would
	 * only be exercising the checksum.
	 */
	fprintf(stderr, "    %d mutated messages, %lu accepted as valid\n",
		FUZZ_MUTATED, fuzz_accepted);
	ASSERT_TRUE(fuzz_accepted > 0);
	ASSERT_TRUE(fuzz_accepted < FUZZ_MUTATED / 2);
	/* And that holds for each type, so that every decoder got past the crc. */
	for (uint16_t t = MCX_WIRE_HELLO; t <= MCX_WIRE_AUTH_OK; t++)
		if (!fuzz_accepted_type[t])
			harness_fail(__FILE__, __LINE__, "no mutated %s was accepted",
				     mcx__wire_type_name(t));
}
