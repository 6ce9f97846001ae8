/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The canonical messages of wire format version 1: one per message type,
 * with hand-chosen values, in one place for the two programs that use them.
 * gen-wire-vectors.c encoded them once into v1/<file>.bin, and
 * ../test_wire_golden.c decodes those files and compares every field with
 * the values below.
 *
 * These values are frozen together with the files: changing one here makes
 * the golden test fail, which is the point.  Never edit them for an existing
 * version; a new version gets its own wire_v<N>_canon.h (see README).
 *
 * The values are chosen to catch mistakes, not to look realistic:
 * multi-byte fields have distinct bytes (a byte-order slip shows), and
 * bounds are met at both ends (QPN 0xffffff, PSN 0, NIC index 31, an
 * address range that ends at 2^64 - 1, a chunk that does not divide its
 * range).  Numbers that the format freezes (magic, version, type numbers,
 * the errno in ERROR) are spelled as literals, not taken from wire.h or
 * <errno.h>: the vectors must mean the same whatever those become later or
 * on another architecture.
 */
#ifndef MCX_TEST_WIRE_V1_CANON_H
#define MCX_TEST_WIRE_V1_CANON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctrl/wire.h"

#define WIRE_V1_MAGIC		0x5758434dU	/* "MCXW" */
#define WIRE_V1_VERSION		1
#define WIRE_V1_HDR_LEN		24

/* The type numbers of version 1 (wire.h's enum mcx_wire_type today). */
#define WIRE_V1_HELLO		1
#define WIRE_V1_HELLO_REPLY	2
#define WIRE_V1_CONNECT		3
#define WIRE_V1_CONNECT_REPLY	4
#define WIRE_V1_MEM_REQ		5
#define WIRE_V1_MEM_REPLY	6
#define WIRE_V1_PING		7
#define WIRE_V1_PONG		8
#define WIRE_V1_ERROR		9
#define WIRE_V1_NTYPES		9

/* Ample for every vector below (the largest is a few hundred bytes). */
#define WIRE_V1_MAX_LEN		4096

/* ---- HELLO / HELLO_REPLY ---- */

static const struct mcx_wire_hello wire_v1_hello = {
	.engine_id = 0x0123456789abcdefULL,
	.pid = 0x00012345,
	.transport = 1,				/* VERBS */
	.host = "node-a.example",
	.nnics = 2,
	.nics = {
		{	/* InfiniBand, no IPv4 address */
			.index = 0,
			.name = "mlx5_0",
			.gid = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0,
				 0x02, 0x02, 0xc9, 0xff, 0xfe, 0x01, 0x02, 0x03 },
			.lid = 0x1234,
			.port = 1,
			.link_layer = 1,		/* IB */
			.mtu = 4096,
			.ipv4 = { 0, 0, 0, 0 },
			.prefix = 0,
		},
		{	/* RoCE: an IPv4-mapped GID, 192.0.2.10/24 */
			.index = 5,
			.name = "mlx5_1",
			.gid = { 0, 0, 0, 0, 0, 0, 0, 0,
				 0, 0, 0xff, 0xff, 192, 0, 2, 10 },
			.lid = 0,
			.port = 2,
			.link_layer = 2,		/* Ethernet */
			.mtu = 1024,
			.ipv4 = { 192, 0, 2, 10 },
			.prefix = 24,
		},
	},
};

static const struct mcx_wire_hello wire_v1_hello_reply = {
	.engine_id = 0xfedcba9876543210ULL,
	.pid = 1,
	.transport = 1,
	.host = "node-b",
	.nnics = 1,
	.nics = {
		{	/* the highest index, a /32 */
			.index = 31,
			.name = "rxe0",
			.gid = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				 0, 0, 0, 0, 0, 0, 0, 0x01 },
			.lid = 0xbeef,
			.port = 1,
			.link_layer = 2,
			.mtu = 256,
			.ipv4 = { 198, 51, 100, 7 },
			.prefix = 32,
		},
	},
};

/* ---- CONNECT / CONNECT_REPLY ---- */

static const struct mcx_wire_connect wire_v1_connect = {
	.npairs = 2,
	.qps_per_pair = 2,
	.pairs = {
		{
			.local_nic = 0,
			.remote_nic = 31,
			.mtu = 4096,
			.gid = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0,
				 0x02, 0x02, 0xc9, 0xff, 0xfe, 0x01, 0x02, 0x03 },
			.lid = 0x1234,
			.rd_atomic = 16,
			.qps = { { 0x000011, 0x000000 }, { 0xffffff, 0xabcdef } },
		},
		{
			.local_nic = 5,
			.remote_nic = 0,
			.mtu = 1024,
			.gid = { 0, 0, 0, 0, 0, 0, 0, 0,
				 0, 0, 0xff, 0xff, 192, 0, 2, 10 },
			.lid = 0,
			.rd_atomic = 1,
			.qps = { { 0x123456, 0x000001 }, { 0x000002, 0xffffff } },
		},
	},
};

static const struct mcx_wire_connect wire_v1_connect_reply = {
	.npairs = 1,
	.qps_per_pair = 3,
	.pairs = {
		{
			.local_nic = 31,
			.remote_nic = 0,
			.mtu = 256,
			.gid = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				 0, 0, 0, 0, 0, 0, 0, 0x01 },
			.lid = 0xbeef,
			.rd_atomic = 8,
			.qps = { { 0x654321, 0x0f0f0f }, { 0x000100, 0x100000 },
				 { 0x00abcd, 0x000000 } },
		},
	},
};

/* ---- MEM_REQ / MEM_REPLY ---- */

static const struct mcx_wire_mem_req wire_v1_mem_req = {
	.cursor = 7,
	.max_descs = 3,
};

/* rkeys are chunk-major: chunk 0 on NIC 5, chunk 0 on NIC 0, chunk 1 ... */
static const uint32_t wire_v1_rkeys0[3 * 2] = {
	0x00a1b2c3, 0x10000001, 0x00a1b2c4, 0x10000002, 0x00a1b2c5, 0x10000003,
};
static const uint32_t wire_v1_rkeys1[1 * 2] = { 0xffffffff, 0x00000000 };
static const uint32_t wire_v1_rkeys2[2 * 2] = {
	0xdeadbeef, 0xcafef00d, 0x01234567, 0x89abcdef,
};

static const struct mcx_wire_desc wire_v1_descs[3] = {
	/* three whole chunks */
	{ 0x00007f0000001000ULL, 0x3000, 0x1000, 3, wire_v1_rkeys0 },
	/* one byte in one chunk larger than the range */
	{ 0x0000000000010000ULL, 1, 0x200000, 1, wire_v1_rkeys1 },
	/* ends at 2^64 - 1; 0x9000-byte chunks: the last one is short */
	{ 0xffffffffffff0000ULL, 0x10000, 0x9000, 2, wire_v1_rkeys2 },
};

static const struct mcx_wire_mem wire_v1_mem_reply = {
	.generation = 0x1122334455667788ULL,
	.total = 10,
	.cursor = 7,			/* the last page: 7 + 3 == total */
	.count = 3,
	.nnics = 2,
	.nic_index = { 5, 0 },
	/* Not const in the struct because a decoded one owns its array. */
	.descs = (struct mcx_wire_desc *)wire_v1_descs,
};

/* ---- ERROR ---- */

static const struct mcx_wire_error wire_v1_error = {
	.err = 71,			/* EPROTO in asm-generic/errno.h */
	.req_type = WIRE_V1_CONNECT,
	.msg = "CONNECT before HELLO",
};

/* ---- the vectors ---- */

struct wire_v1_vector {
	const char *file;		/* under golden/v1/ */
	uint16_t type;
	uint32_t seq;			/* a reply repeats its request's */
	const void *canon;		/* the struct above; NULL: PING, PONG */
};

static const struct wire_v1_vector wire_v1_vectors[WIRE_V1_NTYPES] = {
	{ "hello.bin",		WIRE_V1_HELLO,		0x0a0b0c01, &wire_v1_hello },
	{ "hello_reply.bin",	WIRE_V1_HELLO_REPLY,	0x0a0b0c01, &wire_v1_hello_reply },
	{ "connect.bin",	WIRE_V1_CONNECT,	0x0a0b0c02, &wire_v1_connect },
	{ "connect_reply.bin",	WIRE_V1_CONNECT_REPLY,	0x0a0b0c02, &wire_v1_connect_reply },
	{ "mem_req.bin",	WIRE_V1_MEM_REQ,	0x0a0b0c03, &wire_v1_mem_req },
	{ "mem_reply.bin",	WIRE_V1_MEM_REPLY,	0x0a0b0c03, &wire_v1_mem_reply },
	{ "ping.bin",		WIRE_V1_PING,		0x0a0b0c04, NULL },
	{ "pong.bin",		WIRE_V1_PONG,		0x0a0b0c04, NULL },
	{ "error.bin",		WIRE_V1_ERROR,		0x0a0b0c05, &wire_v1_error },
};

/*
 * Encode vector v with the library's encoders into buf: its length, or a
 * negative errno.  The generator wrote the files with this; the test checks
 * that it still gives the same bytes.
 */
static inline ssize_t wire_v1_encode(const struct wire_v1_vector *v,
				     void *buf, size_t cap)
{
	switch (v->type) {
	case WIRE_V1_HELLO:
	case WIRE_V1_HELLO_REPLY:
		return mcx__wire_encode_hello(buf, cap, v->type, v->seq, v->canon);
	case WIRE_V1_CONNECT:
	case WIRE_V1_CONNECT_REPLY:
		return mcx__wire_encode_connect(buf, cap, v->type, v->seq, v->canon);
	case WIRE_V1_MEM_REQ:
		return mcx__wire_encode_mem_req(buf, cap, v->seq, v->canon);
	case WIRE_V1_MEM_REPLY:
		return mcx__wire_encode_mem(buf, cap, v->seq, v->canon);
	case WIRE_V1_PING:
	case WIRE_V1_PONG:
		return mcx__wire_encode_empty(buf, cap, v->type, v->seq);
	case WIRE_V1_ERROR:
		return mcx__wire_encode_error(buf, cap, v->seq, v->canon);
	}
	return -EINVAL;
}

#endif
