// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The handshake codec (lib/ctrl/wire.c): round trips of every message, each
 * class of rejection with the errno that wire.h documents for it, and a
 * fuzz loop (random bytes and mutated valid messages) that checks that the
 * decoders only ever accept or reject with a documented errno, that what
 * they accept re-encodes to the very same bytes, and (run under ASan or
 * valgrind) that they neither read out of bounds nor leak.
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

static uint32_t get32(const uint8_t *m, size_t off)
{
	return (uint32_t)m[off] | (uint32_t)m[off + 1] << 8 |
	       (uint32_t)m[off + 2] << 16 | (uint32_t)m[off + 3] << 24;
}

#define P(off) (MCX_WIRE_HDR_LEN + (off))	/* payload offset */

static void fill_nic(struct mcx_wire_nic *n, uint32_t index)
{
	memset(n, 0, sizeof(*n));
	n->index = index;
	snprintf(n->name, sizeof(n->name), "rxe%u", index);
	for (int i = 0; i < 16; i++)
		n->gid[i] = (uint8_t)(index * 16 + i + 1);
	n->lid = (uint16_t)(index + 100);
	n->port = 1;
	n->link_layer = index & 1 ? MCX_WIRE_LL_IB : MCX_WIRE_LL_ETH;
	n->mtu = 256U << (index % 5);
	n->ipv4[0] = 10;
	n->ipv4[1] = 0;
	n->ipv4[2] = (uint8_t)index;
	n->ipv4[3] = 2;
	n->prefix = 24;
}

static void fill_hello(struct mcx_wire_hello *h, uint32_t nnics)
{
	memset(h, 0, sizeof(*h));
	h->engine_id = 0x0123456789abcdefULL;
	h->pid = 4242;
	h->transport = MCX_WIRE_TRANSPORT_VERBS;
	snprintf(h->host, sizeof(h->host), "node-a.example");
	h->nnics = nnics;
	for (uint32_t i = 0; i < nnics; i++)
		fill_nic(&h->nics[i], (i * 7) % MCX_WIRE_MAX_NICS);
}

static void fill_connect(struct mcx_wire_connect *c, uint32_t npairs,
			 uint32_t qps)
{
	memset(c, 0, sizeof(*c));
	c->npairs = npairs;
	c->qps_per_pair = qps;
	for (uint32_t i = 0; i < npairs; i++) {
		struct mcx_wire_pair *p = &c->pairs[i];

		p->local_nic = i % MCX_WIRE_MAX_NICS;
		p->remote_nic = (i / MCX_WIRE_MAX_NICS + i) % MCX_WIRE_MAX_NICS;
		p->mtu = 4096;
		for (int g = 0; g < 16; g++)
			p->gid[g] = (uint8_t)(i + g);
		p->lid = (uint16_t)i;
		p->rd_atomic = (uint8_t)(1 + i % MCX_WIRE_MAX_RD_ATOMIC);
		for (uint32_t q = 0; q < qps; q++) {
			p->qps[q].qpn = 17 + i * 100 + q;
			p->qps[q].psn = (i * 0x10001U + q) & MCX_WIRE_PSN_MAX;
		}
	}
}

/* Three descriptors over two NICs; keys points at 2 x (1 + 3 + 2) rkeys. */
static void fill_mem(struct mcx_wire_mem *m, struct mcx_wire_desc d[3],
		     uint32_t keys[12])
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 12; i++)
		keys[i] = 0xa0000000U + (uint32_t)i;
	m->generation = 77;
	m->total = 10;
	m->cursor = 7;
	m->count = 3;
	m->nnics = 2;
	m->nic_index[0] = 3;
	m->nic_index[1] = 0;
	d[0] = (struct mcx_wire_desc){ 0x1000, 4096, 1U << 20, 1, keys };
	d[1] = (struct mcx_wire_desc){ 0x7f0000001001ULL, (2U << 20) + 1,
				       1U << 20, 3, keys + 2 };
	d[2] = (struct mcx_wire_desc){ UINT64_MAX - 9, 10, 5, 2, keys + 8 };
	m->descs = d;
}

/* ---- round trips ---- */

TEST(wire_hello_round_trip)
{
	static struct mcx_wire_hello h, back;
	uint8_t *buf = scratch();

	for (uint32_t n = 0; n <= MCX_WIRE_MAX_NICS; n += 4) {
		ssize_t len;

		fill_hello(&h, n);
		len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 9, &h);
		ASSERT_EQ(len, MCX_WIRE_HDR_LEN + 24 + strlen(h.host) + n * MCX_WIRE_NIC_LEN);
		ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO, &back), 0);
		ASSERT_TRUE(memcmp(&h, &back, sizeof(h)) == 0);
	}
	/* The reply shares the layout but not the type. */
	fill_hello(&h, 2);
	ssize_t len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO_REPLY, 1, &h);

	ASSERT_TRUE(len > 0);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO_REPLY, &back), 0);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO, &back), -EPROTO);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_CONNECT, &back), -EINVAL);
	/* A 255-byte host name is the longest. */
	memset(h.host, 'h', 255);
	h.host[255] = '\0';
	len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 1, &h);
	ASSERT_TRUE(len > 0);
	ASSERT_ERR(mcx__wire_decode_hello(buf, (size_t)len, MCX_WIRE_HELLO, &back), 0);
	ASSERT_EQ(strlen(back.host), 255);
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
	ASSERT_EQ(buf[4] | buf[5] << 8, MCX_WIRE_VERSION);
	ASSERT_EQ(get32(buf, 8), len);
	ASSERT_EQ(get32(buf, 12), 0xdeadbeef);
	/* The crc is CRC-32C of the message with the crc field zeroed. */
	uint32_t crc = get32(buf, 20);

	set32(buf, 20, 0);
	ASSERT_EQ(mcx__wire_crc32c(buf, (size_t)len), crc);
	set32(buf, 20, crc);
	ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN, 0, &hdr), 0);
	ASSERT_EQ(hdr.type, MCX_WIRE_HELLO);
	ASSERT_EQ(hdr.len, len);
	ASSERT_EQ(hdr.seq, 0xdeadbeef);
	/* The caller's own limit. */
	ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN, (size_t)len - 1, &hdr), -EMSGSIZE);
	ASSERT_ERR(mcx__wire_parse_header(buf, MCX_WIRE_HDR_LEN, (size_t)len, &hdr), 0);
	ASSERT_ERR(mcx__wire_check(buf, (size_t)len, &hdr), 0);
	/* Known CRC-32C check value. */
	ASSERT_EQ(mcx__wire_crc32c("123456789", 9), 0xe3069283U);
	ASSERT_STREQ(mcx__wire_type_name(MCX_WIRE_MEM_REPLY), "MEM_REPLY");
	ASSERT_STREQ(mcx__wire_type_name(0), "unknown");
}

TEST(wire_connect_round_trip)
{
	static struct mcx_wire_connect c, back;
	static const uint32_t shapes[][2] = {
		{ 1, 1 }, { 2, 4 }, { 7, 3 }, { MCX_WIRE_MAX_PAIRS, MCX_WIRE_MAX_QPS },
	};
	uint8_t *buf = scratch();

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		ssize_t len;

		fill_connect(&c, shapes[s][0], shapes[s][1]);
		len = mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT_REPLY, 3, &c);
		ASSERT_EQ(len, MCX_WIRE_HDR_LEN + 8 + shapes[s][0] *
			  (MCX_WIRE_PAIR_LEN + shapes[s][1] * MCX_WIRE_QP_LEN));
		ASSERT_ERR(mcx__wire_decode_connect(buf, (size_t)len,
						    MCX_WIRE_CONNECT_REPLY, &back), 0);
		ASSERT_TRUE(memcmp(&c, &back, sizeof(c)) == 0);
		ASSERT_ERR(mcx__wire_decode_connect(buf, (size_t)len,
						    MCX_WIRE_CONNECT, &back), -EPROTO);
	}
}

TEST(wire_mem_round_trip)
{
	struct mcx_wire_mem m, back;
	struct mcx_wire_desc d[3];
	uint32_t keys[12];
	uint8_t *buf = scratch();
	ssize_t len;

	fill_mem(&m, d, keys);
	len = mcx__wire_encode_mem(buf, BUFSZ, 5, &m);
	ASSERT_EQ(len, mcx__wire_mem_fixed_len(2) + mcx__wire_desc_len(2, 1) +
		  mcx__wire_desc_len(2, 3) + mcx__wire_desc_len(2, 2));
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)len, &back), 0);
	ASSERT_U64_EQ(back.generation, 77);
	ASSERT_EQ(back.total, 10);
	ASSERT_EQ(back.cursor, 7);
	ASSERT_EQ(back.count, 3);
	ASSERT_EQ(back.nnics, 2);
	ASSERT_EQ(back.nic_index[0], 3);
	ASSERT_EQ(back.nic_index[1], 0);
	for (int i = 0; i < 3; i++) {
		ASSERT_U64_EQ(back.descs[i].addr, d[i].addr);
		ASSERT_U64_EQ(back.descs[i].len, d[i].len);
		ASSERT_U64_EQ(back.descs[i].chunk_size, d[i].chunk_size);
		ASSERT_EQ(back.descs[i].nchunks, d[i].nchunks);
		for (uint32_t k = 0; k < d[i].nchunks * 2; k++)
			ASSERT_EQ(back.descs[i].rkeys[k], d[i].rkeys[k]);
	}
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

TEST(wire_mem_largest_descriptor)
{
	const size_t nkeys = MCX_WIRE_MAX_CHUNKS * 2;
	uint32_t *keys = malloc(nkeys * sizeof(*keys));
	struct mcx_wire_mem m = { 0 }, back;
	struct mcx_wire_desc d;
	size_t cap = mcx__wire_mem_fixed_len(2) + mcx__wire_desc_len(2, MCX_WIRE_MAX_CHUNKS + 1);
	uint8_t *buf = malloc(cap);
	ssize_t len;

	ASSERT_TRUE(keys && buf);
	for (size_t i = 0; i < nkeys; i++)
		keys[i] = (uint32_t)(i * 2654435761U);
	m.total = m.count = 1;
	m.nnics = 2;
	m.nic_index[0] = 1;
	m.nic_index[1] = 0;
	d = (struct mcx_wire_desc){ 1ULL << 40, (uint64_t)MCX_WIRE_MAX_CHUNKS << 30,
				    1ULL << 30, MCX_WIRE_MAX_CHUNKS, keys };
	m.descs = &d;
	len = mcx__wire_encode_mem(buf, cap, 0, &m);
	ASSERT_EQ(len, mcx__wire_mem_fixed_len(2) + mcx__wire_desc_len(2, MCX_WIRE_MAX_CHUNKS));
	ASSERT_TRUE(len <= MCX_WIRE_MAX_MSG);
	ASSERT_ERR(mcx__wire_decode_mem(buf, (size_t)len, &back), 0);
	ASSERT_TRUE(memcmp(back.descs[0].rkeys, keys, nkeys * sizeof(*keys)) == 0);
	mcx__wire_mem_free(&back);
	/* One chunk more is refused as a count over its bound... */
	d.len += 1;
	d.nchunks += 1;
	ASSERT_ERR(mcx__wire_encode_mem(buf, cap, 0, &m), -EMSGSIZE);
	/* ...and so is a message over MCX_WIRE_MAX_MSG made of many. */
	struct mcx_wire_desc many[5];

	d.len -= 1;
	d.nchunks -= 1;
	for (int i = 0; i < 5; i++)
		many[i] = d;
	m.descs = many;
	m.count = m.total = 5;
	ASSERT_ERR(mcx__wire_encode_mem(buf, cap, 0, &m), -EMSGSIZE);
	free(keys);
	free(buf);
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
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)len, MCX_WIRE_HELLO), -EINVAL);
	ASSERT_ERR(mcx__wire_encode_empty(buf, BUFSZ, MCX_WIRE_ERROR, 8), -EINVAL);

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

TEST(wire_encoders_check_their_input)
{
	static struct mcx_wire_hello h;
	static struct mcx_wire_connect c;
	struct mcx_wire_mem m;
	struct mcx_wire_desc d[3];
	struct mcx_wire_error e = { 0 };
	uint32_t keys[12];
	uint8_t *buf = scratch();

	fill_hello(&h, 2);
	h.nnics = MCX_WIRE_MAX_NICS + 1;
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, &h), -EMSGSIZE);
	fill_hello(&h, 2);
	h.host[0] = '\0';
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, &h), -EINVAL);
	fill_hello(&h, 2);
	h.host[2] = '\n';
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, &h), -EINVAL);
	fill_hello(&h, 2);
	memset(h.host, 'a', sizeof(h.host));	/* no NUL: 256 bytes */
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, &h), -EINVAL);
	fill_hello(&h, 2);
	h.nics[1].index = h.nics[0].index;
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, &h), -EINVAL);
	fill_hello(&h, 2);
	h.nics[1].mtu = 1500;
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, &h), -EINVAL);
	fill_hello(&h, 2);
	h.nics[0].ipv4[0] = h.nics[0].ipv4[2] = h.nics[0].ipv4[3] = 0;
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, &h), -EINVAL);
	fill_hello(&h, 2);
	h.transport = 0;
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, &h), -EINVAL);
	fill_hello(&h, 2);
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_PING, 0, &h), -EINVAL);
	ASSERT_ERR(mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, NULL), -EINVAL);
	/* Every buffer shorter than the message is too small. */
	ssize_t need = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 0, &h);

	ASSERT_TRUE(need > 0);
	for (size_t cap = 0; cap < (size_t)need; cap++)
		ASSERT_ERR(mcx__wire_encode_hello(buf, cap, MCX_WIRE_HELLO, 0, &h), -ENOBUFS);
	ASSERT_ERR(mcx__wire_encode_hello(NULL, 0, MCX_WIRE_HELLO, 0, &h), -ENOBUFS);
	ASSERT_EQ(mcx__wire_encode_hello(buf, (size_t)need, MCX_WIRE_HELLO, 0, &h), need);

	fill_connect(&c, 2, 2);
	c.npairs = 0;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EINVAL);
	c.npairs = MCX_WIRE_MAX_PAIRS + 1;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EMSGSIZE);
	fill_connect(&c, 2, 2);
	c.qps_per_pair = MCX_WIRE_MAX_QPS + 1;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EMSGSIZE);
	fill_connect(&c, 2, 2);
	c.pairs[1].qps[1].qpn = MCX_WIRE_QPN_MAX + 1;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EINVAL);
	fill_connect(&c, 2, 2);
	c.pairs[1].local_nic = c.pairs[0].local_nic;
	c.pairs[1].remote_nic = c.pairs[0].remote_nic;
	ASSERT_ERR(mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 0, &c), -EINVAL);
	fill_connect(&c, 2, 2);
	ASSERT_ERR(mcx__wire_encode_connect(buf, 50, MCX_WIRE_CONNECT, 0, &c), -ENOBUFS);

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
	d[0].rkeys = NULL;
	ASSERT_ERR(mcx__wire_encode_mem(buf, BUFSZ, 0, &m), -EINVAL);
	fill_mem(&m, d, keys);
	ASSERT_ERR(mcx__wire_encode_mem(buf, 100, 0, &m), -ENOBUFS);

	struct mcx_wire_mem_req q = { 0, MCX_WIRE_MAX_DESCS + 1 };

	ASSERT_ERR(mcx__wire_encode_mem_req(buf, BUFSZ, 0, &q), -EMSGSIZE);

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

/* ---- decoder rejections ---- */

static size_t valid_hello(uint8_t *buf, uint32_t nnics)
{
	struct mcx_wire_hello h;
	ssize_t len;

	fill_hello(&h, nnics);
	snprintf(h.host, sizeof(h.host), "hostname");	/* 8 bytes */
	len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 1, &h);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static int dec_hello(uint8_t *buf, size_t len)
{
	static struct mcx_wire_hello h;

	return mcx__wire_decode_hello(buf, len, MCX_WIRE_HELLO, &h);
}

TEST(wire_header_rejections)
{
	uint8_t *buf = scratch();
	size_t len = valid_hello(buf, 2);

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
	set16(buf, 4, 0);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);
	set16(buf, 4, MCX_WIRE_VERSION);
	set16(buf, 6, 0);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);	/* unknown type */
	set16(buf, 6, MCX_WIRE_ERROR + 1);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);
	set16(buf, 6, MCX_WIRE_CONNECT);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EPROTO);	/* not the type asked for */
	set16(buf, 6, MCX_WIRE_HELLO);
	set32(buf, 16, 1);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), -EBADMSG);	/* header flags */
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

/* Change one field of a valid message, reseal it, and decode it. */
#define HELLO_NIC0 P(24 + 8)	/* first NIC, after the 8-byte host name */

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

TEST(wire_hello_payload_rejections)
{
	static const struct field_case cases[] = {
		{ "flags", P(16), 4, 1, -EBADMSG },
		{ "transport 0", P(12), 4, 0, -EBADMSG },
		{ "host_len 0", P(20), 2, 0, -EBADMSG },
		{ "host_len short", P(20), 2, 7, -EBADMSG },
		{ "host_len long", P(20), 2, 9, -EBADMSG },
		{ "host_len over bound", P(20), 2, 256, -EMSGSIZE },
		{ "host_len huge", P(20), 2, 0xffff, -EMSGSIZE },
		{ "nnics inflated", P(22), 2, 3, -EBADMSG },
		{ "nnics deflated", P(22), 2, 1, -EBADMSG },
		{ "nnics over bound", P(22), 2, MCX_WIRE_MAX_NICS + 1, -EMSGSIZE },
		{ "nnics huge", P(22), 2, 0xffff, -EMSGSIZE },
		{ "host NUL", P(24 + 3), 1, 0, -EBADMSG },
		{ "host blank", P(24 + 3), 1, ' ', -EBADMSG },
		{ "host control", P(24 + 3), 1, 0x7f, -EBADMSG },
		{ "nic index", HELLO_NIC0, 4, MCX_WIRE_MAX_NICS, -EBADMSG },
		{ "nic name empty", HELLO_NIC0 + 4, 1, 0, -EBADMSG },
		{ "nic name control", HELLO_NIC0 + 5, 1, '\n', -EBADMSG },
		{ "nic name padding", HELLO_NIC0 + 4 + 60, 1, 'x', -EBADMSG },
		{ "nic name unterminated", HELLO_NIC0 + 4 + 63, 1, 'x', -EBADMSG },
		{ "port 0", HELLO_NIC0 + 86, 1, 0, -EBADMSG },
		{ "link layer 0", HELLO_NIC0 + 87, 1, 0, -EBADMSG },
		{ "link layer 3", HELLO_NIC0 + 87, 1, 3, -EBADMSG },
		{ "mtu 0", HELLO_NIC0 + 88, 4, 0, -EBADMSG },
		{ "mtu 1500", HELLO_NIC0 + 88, 4, 1500, -EBADMSG },
		{ "mtu 8192", HELLO_NIC0 + 88, 4, 8192, -EBADMSG },
		{ "prefix 33", HELLO_NIC0 + 96, 1, 33, -EBADMSG },
		{ "prefix without address", HELLO_NIC0 + 92, 4, 0, -EBADMSG },
		{ "pad", HELLO_NIC0 + 97, 1, 1, -EBADMSG },
		{ "pad last", HELLO_NIC0 + 99, 1, 1, -EBADMSG },
		{ "duplicate index", HELLO_NIC0 + MCX_WIRE_NIC_LEN, 4, 0, -EBADMSG },
	};
	uint8_t *buf = scratch();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = valid_hello(buf, 2);
		int ret;

		ASSERT_EQ(get32(buf, HELLO_NIC0), 0);	/* fill_hello's first index */
		poke(buf, cases[i].off, cases[i].width, cases[i].value);
		mcx__wire_seal(buf, len);
		ret = dec_hello(buf, len);
		if (ret != cases[i].expect)
			harness_fail(__FILE__, __LINE__, "%s: got %s, expected %s",
				     cases[i].what, harness_errname(ret),
				     harness_errname(cases[i].expect));
	}
	/* Accepted edge values, to show the cases above hit their field. */
	size_t len = valid_hello(buf, 2);

	poke(buf, HELLO_NIC0 + 96, 1, 32);
	poke(buf, HELLO_NIC0 + 88, 4, 256);
	poke(buf, HELLO_NIC0 + 87, 1, MCX_WIRE_LL_IB);
	poke(buf, HELLO_NIC0 + 4 + 62, 1, 0);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), 0);
	/* No address and no prefix: a NIC without IPv4. */
	poke(buf, HELLO_NIC0 + 92, 4, 0);
	poke(buf, HELLO_NIC0 + 96, 1, 0);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_hello(buf, len), 0);
}

static size_t valid_connect(uint8_t *buf)
{
	struct mcx_wire_connect c;
	ssize_t len;

	fill_connect(&c, 2, 2);
	len = mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT, 1, &c);
	ASSERT_TRUE(len > 0);
	return (size_t)len;
}

static int dec_connect(uint8_t *buf, size_t len)
{
	static struct mcx_wire_connect c;

	return mcx__wire_decode_connect(buf, len, MCX_WIRE_CONNECT, &c);
}

TEST(wire_connect_payload_rejections)
{
	const size_t pair1 = P(8) + MCX_WIRE_PAIR_LEN + 2 * MCX_WIRE_QP_LEN;
	const struct field_case cases[] = {
		{ "npairs 0", P(0), 2, 0, -EBADMSG },
		{ "npairs inflated", P(0), 2, 3, -EBADMSG },
		{ "npairs deflated", P(0), 2, 1, -EBADMSG },
		{ "npairs over bound", P(0), 2, MCX_WIRE_MAX_PAIRS + 1, -EMSGSIZE },
		{ "qps 0", P(2), 2, 0, -EBADMSG },
		{ "qps inflated", P(2), 2, 3, -EBADMSG },
		{ "qps over bound", P(2), 2, MCX_WIRE_MAX_QPS + 1, -EMSGSIZE },
		{ "qps huge", P(2), 2, 0xffff, -EMSGSIZE },
		{ "flags", P(4), 4, 0x100, -EBADMSG },
		{ "local nic", P(8), 4, MCX_WIRE_MAX_NICS, -EBADMSG },
		{ "remote nic", P(12), 4, UINT32_MAX, -EBADMSG },
		{ "mtu", P(16), 4, 4095, -EBADMSG },
		{ "rd_atomic 0", P(8 + 30), 1, 0, -EBADMSG },
		{ "rd_atomic over", P(8 + 30), 1, MCX_WIRE_MAX_RD_ATOMIC + 1, -EBADMSG },
		{ "pad", P(8 + 31), 1, 1, -EBADMSG },
		{ "qpn 0", P(8 + 32), 4, 0, -EBADMSG },
		{ "qpn 24 bits", P(8 + 32), 4, MCX_WIRE_QPN_MAX + 1, -EBADMSG },
		{ "psn 24 bits", P(8 + 36), 4, MCX_WIRE_PSN_MAX + 1, -EBADMSG },
		{ "last qpn", pair1 + 32 + 8, 4, 0, -EBADMSG },
		{ "duplicate pair", pair1, 8, 0, -EBADMSG },
	};
	uint8_t *buf = scratch();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = valid_connect(buf);
		int ret;

		/* fill_connect: pair 0 is (0, 0), pair 1 is (1, 1). */
		ASSERT_EQ(get32(buf, pair1), 1);
		poke(buf, cases[i].off, cases[i].width, cases[i].value);
		mcx__wire_seal(buf, len);
		ret = dec_connect(buf, len);
		if (ret != cases[i].expect)
			harness_fail(__FILE__, __LINE__, "%s: got %s, expected %s",
				     cases[i].what, harness_errname(ret),
				     harness_errname(cases[i].expect));
	}
	size_t len = valid_connect(buf);

	poke(buf, P(8 + 32), 4, MCX_WIRE_QPN_MAX);
	poke(buf, P(8 + 36), 4, MCX_WIRE_PSN_MAX);
	poke(buf, P(8 + 30), 1, MCX_WIRE_MAX_RD_ATOMIC);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_connect(buf, len), 0);
}

static size_t valid_mem(uint8_t *buf)
{
	struct mcx_wire_mem m;
	struct mcx_wire_desc d[3];
	uint32_t keys[12];
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

TEST(wire_mem_payload_rejections)
{
	const size_t d0 = P(24 + 8);			/* after two NIC indices */
	const size_t d1 = d0 + 32 + 1 * 2 * 4;		/* one chunk x two NICs */
	const size_t d2 = d1 + 32 + 3 * 2 * 4;
	const struct field_case cases[] = {
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
		{ "len 0", d0 + 8, 8, 0, -EBADMSG },
		{ "chunk 0", d0 + 16, 8, 0, -EBADMSG },
		{ "nchunks inflated", d1 + 24, 4, 4, -EBADMSG },
		{ "nchunks deflated", d1 + 24, 4, 2, -EBADMSG },
		{ "nchunks 0", d0 + 24, 4, 0, -EBADMSG },
		{ "nchunks over bound", d1 + 24, 4, MCX_WIRE_MAX_CHUNKS + 1, -EMSGSIZE },
		{ "nchunks huge", d2 + 24, 4, UINT32_MAX, -EMSGSIZE },
		{ "len against chunks", d1 + 8, 8, 1U << 20, -EBADMSG },
		{ "address wraps", d2, 8, UINT64_MAX - 8, -EBADMSG },
		{ "flags", d2 + 28, 4, 2, -EBADMSG },
	};
	uint8_t *buf = scratch();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = valid_mem(buf);
		int ret;

		ASSERT_EQ(get32(buf, d1 + 24), 3);
		ASSERT_EQ(get32(buf, d2 + 24), 2);
		poke(buf, cases[i].off, cases[i].width, cases[i].value);
		mcx__wire_seal(buf, len);
		ret = dec_mem(buf, len);
		if (ret != cases[i].expect)
			harness_fail(__FILE__, __LINE__, "%s: got %s, expected %s",
				     cases[i].what, harness_errname(ret),
				     harness_errname(cases[i].expect));
	}
	/* The last address byte is usable: addr + len may reach 2^64. */
	size_t len = valid_mem(buf);

	poke(buf, d2, 8, UINT64_MAX - 9);
	mcx__wire_seal(buf, len);
	ASSERT_ERR(dec_mem(buf, len), 0);
	/* Payload one rkey short, then one rkey over. */
	set32(buf, 8, (uint32_t)len - 4);
	mcx__wire_seal(buf, len - 4);
	ASSERT_ERR(dec_mem(buf, len - 4), -EBADMSG);
	set32(buf, 8, (uint32_t)len + 4);
	set32(buf, len, 0);
	mcx__wire_seal(buf, len + 4);
	ASSERT_ERR(dec_mem(buf, len + 4), -EBADMSG);
}

TEST(wire_small_payload_rejections)
{
	struct mcx_wire_mem_req q = { 1, 2 }, qb;
	struct mcx_wire_error e = { .err = EIO, .req_type = 3, .msg = "abc" }, eb;
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

	len = mcx__wire_encode_empty(buf, BUFSZ, MCX_WIRE_PONG, 1);
	set32(buf, 8, (uint32_t)len + 1);
	buf[len] = 0;
	mcx__wire_seal(buf, (size_t)len + 1);
	ASSERT_ERR(mcx__wire_decode_empty(buf, (size_t)len + 1, MCX_WIRE_PONG), -EBADMSG);

	const struct field_case cases[] = {
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

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;

		len = mcx__wire_encode_error(buf, BUFSZ, 1, &e);
		ASSERT_EQ(len, P(8 + 3));
		poke(buf, cases[i].off, cases[i].width, cases[i].value);
		mcx__wire_seal(buf, (size_t)len);
		ret = mcx__wire_decode_error(buf, (size_t)len, &eb);
		if (ret != cases[i].expect)
			harness_fail(__FILE__, __LINE__, "%s: got %s, expected %s",
				     cases[i].what, harness_errname(ret),
				     harness_errname(cases[i].expect));
	}
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

/*
 * Feed one input to every decoder from an exactly sized heap copy (so that
 * ASan or valgrind see any read past its end).  Whatever a decoder accepts
 * must re-encode to the same bytes: the format has one encoding per value,
 * so an accepted mutation is a different valid message, not a misread one.
 */
static void fuzz_one(const uint8_t *in, size_t len)
{
	static struct mcx_wire_hello h;
	static struct mcx_wire_connect c;
	static uint8_t out[BUFSZ + 64];
	struct mcx_wire_mem m;
	struct mcx_wire_mem_req q;
	struct mcx_wire_error e;
	struct mcx_wire_hdr hdr;
	uint8_t *copy = malloc(len ? len : 1);
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
	for (uint16_t t = MCX_WIRE_PING; t <= MCX_WIRE_PONG; t++) {
		ret = mcx__wire_decode_empty(copy, len, t);
		ASSERT_TRUE(documented(ret));
		if (!ret) {
			elen = mcx__wire_encode_empty(out, sizeof(out), t, seq);
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
	}
	free(copy);
}

/* A valid message of a random type. */
static size_t fuzz_seed_msg(uint8_t *buf)
{
	static struct mcx_wire_hello h;
	static struct mcx_wire_connect c;
	struct mcx_wire_mem m;
	struct mcx_wire_desc d[3];
	struct mcx_wire_mem_req q = { 3, 9 };
	struct mcx_wire_error e = { .err = EPROTO, .req_type = 1, .msg = "no" };
	uint32_t keys[12];
	ssize_t len;

	switch (rng() % 7) {
	case 0:
		fill_hello(&h, (uint32_t)(rng() % 4));
		len = mcx__wire_encode_hello(buf, BUFSZ, MCX_WIRE_HELLO, 1, &h);
		break;
	case 1:
		fill_connect(&c, 1 + (uint32_t)(rng() % 3), 1 + (uint32_t)(rng() % 3));
		len = mcx__wire_encode_connect(buf, BUFSZ, MCX_WIRE_CONNECT_REPLY, 2, &c);
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
		len = mcx__wire_encode_empty(buf, BUFSZ, MCX_WIRE_PING, 5);
		break;
	default:
		len = mcx__wire_encode_error(buf, BUFSZ, 6, &e);
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
		/* Half get a plausible header, so the payload parsers run. */
		if (len >= MCX_WIRE_HDR_LEN && (rng() & 1)) {
			set32(buf, 0, MCX_WIRE_MAGIC);
			set16(buf, 4, MCX_WIRE_VERSION);
			set16(buf, 6, (uint16_t)(1 + rng() % 9));
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
	 * Some mutations make another valid message (a changed rkey, address
	 * or sequence number); if none were accepted the fuzzer would only be
	 * exercising the checksum.
	 */
	fprintf(stderr, "    %d mutated messages, %lu accepted as valid\n",
		FUZZ_MUTATED, fuzz_accepted);
	ASSERT_TRUE(fuzz_accepted > 0);
	ASSERT_TRUE(fuzz_accepted < FUZZ_MUTATED / 2);
}
