/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The canonical messages of wire format version 2: one per message type,
 * with hand-chosen values, in one place for the two programs that use them.
 * gen-wire-vectors.c encoded them once into v2/<file>.bin, and
 * ../test_wire_golden.c decodes those files and compares every field with
 * the values below.
 *
 * These values are frozen together with the files: changing one here makes
 * the golden test fail, which is the point.  Never edit them for an existing
 * version; a new version gets its own wire_v<N>_canon.h (see README).
 *
 * The values are chosen to catch mistakes, not to look realistic:
 * multi-byte fields have distinct bytes (a byte-order slip shows), keys and
 * ids use all 64 bits, and bounds are met at both ends (device index 31, an
 * address blob of 1 and of MCX_WIRE_ADDR_MAX bytes, connection blobs of 1,
 * 15 and MCX_WIRE_BLOB_MAX bytes (3, 1 and no bytes of padding), port 0,
 * prefix 32, max_msg 1, keys 0 and 2^64 - 1, an address range that ends at
 * 2^64 - 1, a chunk that does not divide its range).
 * Numbers that the format freezes (magic, version, type numbers, flag and
 * mode bits, the errno in ERROR) are spelled as literals, not taken from
 * wire.h or <errno.h>: the vectors must mean the same whatever those become
 * later or on another architecture.
 */
#ifndef MCX_TEST_WIRE_V2_CANON_H
#define MCX_TEST_WIRE_V2_CANON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctrl/wire.h"

#define WIRE_V2_MAGIC		0x5758434dU	/* "MCXW" */
#define WIRE_V2_VERSION		2
#define WIRE_V2_HDR_LEN		24

/* The type numbers of version 2 (wire.h's enum mcx_wire_type today). */
#define WIRE_V2_HELLO		1
#define WIRE_V2_HELLO_REPLY	2
#define WIRE_V2_CONNECT		3
#define WIRE_V2_CONNECT_REPLY	4
#define WIRE_V2_MEM_REQ		5
#define WIRE_V2_MEM_REPLY	6
#define WIRE_V2_PING		7
#define WIRE_V2_PONG		8
#define WIRE_V2_ERROR		9
#define WIRE_V2_AUTH		10
#define WIRE_V2_AUTH_REPLY	11
#define WIRE_V2_AUTH_PROOF	12
#define WIRE_V2_AUTH_OK		13
#define WIRE_V2_NTYPES		13

/* Ample for every vector below (the largest is under 500 bytes). */
#define WIRE_V2_MAX_LEN		4096

/* 16 consecutive byte values from b: blobs, nonces and proofs. */
#define WIRE_V2_B16(b)							\
	(b) + 0x0, (b) + 0x1, (b) + 0x2, (b) + 0x3, (b) + 0x4, (b) + 0x5,	\
	(b) + 0x6, (b) + 0x7, (b) + 0x8, (b) + 0x9, (b) + 0xa, (b) + 0xb,	\
	(b) + 0xc, (b) + 0xd, (b) + 0xe, (b) + 0xf

/* ---- AUTH / AUTH_REPLY / AUTH_PROOF ---- */

static const struct mcx_wire_auth wire_v2_auth = {
	.flags = 0x1,				/* HAS_KEY */
	.nonce = { WIRE_V2_B16(0x10), WIRE_V2_B16(0x20) },
};

static const struct mcx_wire_auth_reply wire_v2_auth_reply = {
	.mode = 1,				/* KEY */
	.nonce = { WIRE_V2_B16(0x30), WIRE_V2_B16(0x40) },
	.proof = { WIRE_V2_B16(0x50), WIRE_V2_B16(0xe0) },
};

static const struct mcx_wire_auth_proof wire_v2_auth_proof = {
	.proof = { WIRE_V2_B16(0xf0), WIRE_V2_B16(0x60) },
};

/* ---- HELLO / HELLO_REPLY ---- */

static const struct mcx_wire_hello wire_v2_hello = {
	.probe = 0x8899aabbccddeeffULL,
	.transport = 1,				/* VERBS */
	.host = "node-a.example",
	.ndevs = 2,
	.devs = {
		{	/* InfiniBand, no IPv4 address, a 20-byte address */
			.index = 0,
			.name = "mlx5_0",
			.fabric = 1,			/* IB */
			.port = 1,
			.prefix = 0,
			.addr_len = 20,
			.ipv4 = { 0, 0, 0, 0 },
			.caps = 0x00000019,		/* RC, WRITE_IMM, VIRT_ADDR */
			.max_msg = 0x0000000080000000ULL,
			.addr = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0,
				  0x02, 0x02, 0xc9, 0xff, 0xfe, 0x01, 0x02, 0x03,
				  0x34, 0x12, 0x01, 0x00 },
		},
		{	/* the highest index, no ports, the longest address */
			.index = 31,
			.name = "efa_0",
			.fabric = 3,			/* EFA */
			.port = 0,
			.prefix = 24,
			.addr_len = 96,
			.ipv4 = { 192, 0, 2, 10 },
			/* RDM, MANUAL_PROGRESS, WRITE_IMM, DMABUF */
			.caps = 0x0000002e,
			.max_msg = 0x00000001fedcba98ULL,
			.addr = { WIRE_V2_B16(0x70), WIRE_V2_B16(0x80),
				  WIRE_V2_B16(0x90), WIRE_V2_B16(0xa0),
				  WIRE_V2_B16(0xb0), WIRE_V2_B16(0xc0) },
		},
	},
};

static const struct mcx_wire_hello wire_v2_hello_reply = {
	.probe = 0,				/* a reply carries none */
	.transport = 1,
	.host = "node-b",
	.ndevs = 1,
	.devs = {
		{	/* a one-byte address, a /32 */
			.index = 5,
			.name = "rxe0",
			.fabric = 2,			/* Ethernet */
			.port = 2,
			.prefix = 32,
			.addr_len = 1,
			.ipv4 = { 198, 51, 100, 7 },
			.caps = 0x80000001,		/* RC and a bit not defined today */
			.max_msg = 1,
			.addr = { 0xd5 },
		},
	},
};

/* ---- CONNECT / CONNECT_REPLY ---- */

static const struct mcx_wire_connect wire_v2_connect = {
	.flags = 0x1,				/* REBUILD */
	.npairs = 2,
	.pairs = {
		{	/* 15 bytes and 1 of padding */
			.local_nic = 0,
			.remote_nic = 5,
			.blob_len = 15,
			.blob = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
				  0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff },
		},
		{	/* the longest blob, no padding */
			.local_nic = 31,
			.remote_nic = 5,
			.blob_len = 192,
			.blob = { WIRE_V2_B16(0x00), WIRE_V2_B16(0x10),
				  WIRE_V2_B16(0x20), WIRE_V2_B16(0x30),
				  WIRE_V2_B16(0x40), WIRE_V2_B16(0x50),
				  WIRE_V2_B16(0x60), WIRE_V2_B16(0x70),
				  WIRE_V2_B16(0x80), WIRE_V2_B16(0x90),
				  WIRE_V2_B16(0xa0), WIRE_V2_B16(0xb0) },
		},
	},
};

static const struct mcx_wire_connect wire_v2_connect_reply = {
	.flags = 0,
	.npairs = 1,
	.pairs = {
		{	/* the shortest blob: 1 byte and 3 of padding */
			.local_nic = 5,
			.remote_nic = 31,
			.blob_len = 1,
			.blob = { 0xee },
		},
	},
};

/* ---- MEM_REQ / MEM_REPLY ---- */

static const struct mcx_wire_mem_req wire_v2_mem_req = {
	.cursor = 7,
	.max_descs = 3,
};

/* Keys are chunk-major: chunk 0 on NIC 31, chunk 0 on NIC 0, chunk 1 ... */
static const uint64_t wire_v2_keys0[3 * 2] = {
	0x123456789abcdef0ULL, 0x0000000100000001ULL,
	0x123456789abcdef1ULL, 0x0000000100000002ULL,
	0x123456789abcdef2ULL, 0x0000000100000003ULL,
};
static const uint64_t wire_v2_keys1[1 * 2] = {
	0xffffffffffffffffULL, 0x0000000000000000ULL,
};
static const uint64_t wire_v2_keys2[2 * 2] = {
	0xdeadbeefcafef00dULL, 0x00000000ffffffffULL,
	0x0000000100000000ULL, 0x89abcdef01234567ULL,
};

static const struct mcx_wire_desc wire_v2_descs[3] = {
	{	/* three whole chunks of host memory */
		.id = 0x0102030405060708ULL,
		.addr = 0x00007f0000001000ULL, .len = 0x3000, .chunk_size = 0x1000,
		.nchunks = 3, .kind = 0,	/* HOST */
		.keys = wire_v2_keys0,
	},
	{	/* one byte of a dma-buf in one chunk larger than the range */
		.id = 1,
		.addr = 0x0000000000010000ULL, .len = 1, .chunk_size = 0x200000,
		.nchunks = 1, .kind = 1,	/* DMABUF */
		.keys = wire_v2_keys1,
	},
	{	/* ends at 2^64 - 1; 0x9000-byte chunks: the last one is short */
		.id = 0xfffffffffffffffeULL,
		.addr = 0xffffffffffff0000ULL, .len = 0x10000, .chunk_size = 0x9000,
		.nchunks = 2, .kind = 0,
		.keys = wire_v2_keys2,
	},
};

static const struct mcx_wire_mem wire_v2_mem_reply = {
	.generation = 0x1122334455667788ULL,
	.total = 10,
	.cursor = 7,			/* the last page: 7 + 3 == total */
	.count = 3,
	.nnics = 2,
	.nic_index = { 31, 0 },
	/* Not const in the struct because a decoded one owns its array. */
	.descs = (struct mcx_wire_desc *)wire_v2_descs,
};

/* ---- ERROR ---- */

static const struct mcx_wire_error wire_v2_error = {
	.err = 13,			/* EACCES in asm-generic/errno-base.h */
	.req_type = WIRE_V2_HELLO,
	.msg = "HELLO before AUTH_OK",
};

/* ---- the vectors ---- */

struct wire_v2_vector {
	const char *file;		/* under golden/v2/ */
	uint16_t type;
	uint32_t seq;			/* a reply repeats its request's */
	const void *canon;		/* the struct above; NULL: PING, PONG, AUTH_OK */
};

/* In the order of a connection: authentication first. */
static const struct wire_v2_vector wire_v2_vectors[WIRE_V2_NTYPES] = {
	{ "auth.bin",		WIRE_V2_AUTH,		0x0a0b0c01, &wire_v2_auth },
	{ "auth_reply.bin",	WIRE_V2_AUTH_REPLY,	0x0a0b0c01, &wire_v2_auth_reply },
	{ "auth_proof.bin",	WIRE_V2_AUTH_PROOF,	0x0a0b0c02, &wire_v2_auth_proof },
	{ "auth_ok.bin",	WIRE_V2_AUTH_OK,	0x0a0b0c02, NULL },
	{ "hello.bin",		WIRE_V2_HELLO,		0x0a0b0c03, &wire_v2_hello },
	{ "hello_reply.bin",	WIRE_V2_HELLO_REPLY,	0x0a0b0c03, &wire_v2_hello_reply },
	{ "connect.bin",	WIRE_V2_CONNECT,	0x0a0b0c04, &wire_v2_connect },
	{ "connect_reply.bin",	WIRE_V2_CONNECT_REPLY,	0x0a0b0c04, &wire_v2_connect_reply },
	{ "mem_req.bin",	WIRE_V2_MEM_REQ,	0x0a0b0c05, &wire_v2_mem_req },
	{ "mem_reply.bin",	WIRE_V2_MEM_REPLY,	0x0a0b0c05, &wire_v2_mem_reply },
	{ "ping.bin",		WIRE_V2_PING,		0x0a0b0c06, NULL },
	{ "pong.bin",		WIRE_V2_PONG,		0x0a0b0c06, NULL },
	{ "error.bin",		WIRE_V2_ERROR,		0x0a0b0c07, &wire_v2_error },
};

/*
 * Encode vector v with the library's encoders into buf: its length, or a
 * negative errno.  The generator wrote the files with this; the test checks
 * that it still gives the same bytes.
 */
static inline ssize_t wire_v2_encode(const struct wire_v2_vector *v,
				     void *buf, size_t cap)
{
	switch (v->type) {
	case WIRE_V2_AUTH:
		return mcx__wire_encode_auth(buf, cap, v->seq, v->canon);
	case WIRE_V2_AUTH_REPLY:
		return mcx__wire_encode_auth_reply(buf, cap, v->seq, v->canon);
	case WIRE_V2_AUTH_PROOF:
		return mcx__wire_encode_auth_proof(buf, cap, v->seq, v->canon);
	case WIRE_V2_HELLO:
	case WIRE_V2_HELLO_REPLY:
		return mcx__wire_encode_hello(buf, cap, v->type, v->seq, v->canon);
	case WIRE_V2_CONNECT:
	case WIRE_V2_CONNECT_REPLY:
		return mcx__wire_encode_connect(buf, cap, v->type, v->seq, v->canon);
	case WIRE_V2_MEM_REQ:
		return mcx__wire_encode_mem_req(buf, cap, v->seq, v->canon);
	case WIRE_V2_MEM_REPLY:
		return mcx__wire_encode_mem(buf, cap, v->seq, v->canon);
	case WIRE_V2_PING:
	case WIRE_V2_PONG:
	case WIRE_V2_AUTH_OK:
		return mcx__wire_encode_empty(buf, cap, v->type, v->seq);
	case WIRE_V2_ERROR:
		return mcx__wire_encode_error(buf, cap, v->seq, v->canon);
	}
	return -EINVAL;
}

#endif
