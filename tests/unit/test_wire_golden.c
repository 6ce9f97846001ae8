// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Golden vectors of wire format version 1: golden/v1/<type>.bin, one
 * message of every type, written once by golden/gen-wire-vectors.c from the
 * canonical values in golden/wire_v1_canon.h and checked into git.  They
 * freeze version 1 in bytes, so that whatever changes in wire.c later, a
 * peer still running version 1 is understood (or refused) as decided, not
 * by accident.  For every vector the tests check that:
 *   - the file is there (a missing one fails; so does an unknown one in v1/);
 *   - its header says magic "MCXW", version 1, the expected type, its own
 *     length, the canonical seq, flags 0, and a crc that matches;
 *   - its decoder accepts it and returns every canonical field, and every
 *     other decoder refuses it;
 *   - encoding the canonical struct gives the file byte for byte;
 *   - changing any one byte to any other value makes the decoder refuse it,
 *     with the errno wire.h documents for that field (the crc catches every
 *     change the field rules do not).
 *
 * WHEN MCX_WIRE_VERSION BECOMES 2 (or more), whoever changes it adapts this
 * file, by these rules:
 *   - golden/v1/ and golden/wire_v1_canon.h stay as they are.  Never
 *     regenerate or edit them; version 2 gets its own set (golden/README).
 *   - The decoders must then either keep accepting every v1 vector, decoding
 *     it to the canonical values (keep the field checks below), or refuse
 *     every one with the error that wire.h documents for an unsupported
 *     version (-EPROTO today).  Decide which, write it in wire.h, and assert
 *     exactly that here: a v1 message that decodes to other values, or is
 *     refused with another error, is a compatibility bug.
 *   - The byte-exact re-encoding holds only while an encoder can still write
 *     version 1; if none can, drop that check for v1 and keep it for v2's.
 *   - A v1 vector with a byte changed must still be refused.
 * Until it is adapted, every test here fails with a message pointing here.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "ctrl/wire.h"
#include "golden/wire_v1_canon.h"

#ifndef MCX_GOLDEN_DIR
#error "build with -DMCX_GOLDEN_DIR=\"path/to/tests/unit/golden\""
#endif

#define V1_DIR		MCX_GOLDEN_DIR "/v1"
#define NVECTORS	(sizeof(wire_v1_vectors) / sizeof(wire_v1_vectors[0]))

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static void version_is_still_1(void)
{
	if (MCX_WIRE_VERSION != WIRE_V1_VERSION)
		harness_fail(__FILE__, __LINE__,
			     "MCX_WIRE_VERSION is %d: adapt test_wire_golden.c as its header comment says (the v1 vectors stay)",
			     MCX_WIRE_VERSION);
}

/*
 * The vector's bytes in a heap buffer of exactly its size, so that ASan
 * catches a decoder reading past the end.
 */
static uint8_t *read_vector(const struct wire_v1_vector *v, size_t *len)
{
	char path[4096];
	uint8_t *buf;
	FILE *f;
	long size;

	snprintf(path, sizeof(path), "%s/%s", V1_DIR, v->file);
	f = fopen(path, "rb");
	if (!f)
		harness_fail(__FILE__, __LINE__,
			     "golden vector %s: %s (v1 vectors are checked in and never regenerated; restore it from git)",
			     path, strerror(errno));
	ASSERT_TRUE(fseek(f, 0, SEEK_END) == 0);
	size = ftell(f);
	ASSERT_TRUE(size >= 0 && size <= WIRE_V1_MAX_LEN);
	rewind(f);
	buf = malloc(size ? (size_t)size : 1);
	ASSERT_TRUE(buf != NULL);
	ASSERT_EQ(fread(buf, 1, (size_t)size, f), size);
	fclose(f);
	*len = (size_t)size;
	return buf;
}

/* Decode as `type` with that type's decoder; 0 or its errno. */
static int decode_as(uint16_t type, const uint8_t *buf, size_t len)
{
	static struct mcx_wire_hello h;
	static struct mcx_wire_connect c;
	struct mcx_wire_mem_req q;
	struct mcx_wire_mem m;
	struct mcx_wire_error e;
	int ret;

	switch (type) {
	case WIRE_V1_HELLO:
	case WIRE_V1_HELLO_REPLY:
		return mcx__wire_decode_hello(buf, len, type, &h);
	case WIRE_V1_CONNECT:
	case WIRE_V1_CONNECT_REPLY:
		return mcx__wire_decode_connect(buf, len, type, &c);
	case WIRE_V1_MEM_REQ:
		return mcx__wire_decode_mem_req(buf, len, &q);
	case WIRE_V1_MEM_REPLY:
		ret = mcx__wire_decode_mem(buf, len, &m);
		mcx__wire_mem_free(&m);
		return ret;
	case WIRE_V1_PING:
	case WIRE_V1_PONG:
		return mcx__wire_decode_empty(buf, len, type);
	case WIRE_V1_ERROR:
		return mcx__wire_decode_error(buf, len, &e);
	}
	harness_fail(__FILE__, __LINE__, "no decoder for type %u", type);
}

/* The header, read byte by byte rather than through the library. */
static void check_header(const struct wire_v1_vector *v, const uint8_t *buf,
			 size_t len)
{
	uint8_t copy[WIRE_V1_MAX_LEN];
	struct mcx_wire_hdr hdr;

	ASSERT_TRUE(len >= WIRE_V1_HDR_LEN);
	ASSERT_TRUE(memcmp(buf, "MCXW", 4) == 0);
	ASSERT_EQ(rd32(buf), WIRE_V1_MAGIC);
	ASSERT_EQ(rd16(buf + 4), WIRE_V1_VERSION);
	ASSERT_EQ(rd16(buf + 6), v->type);
	ASSERT_EQ(rd32(buf + 8), len);
	ASSERT_EQ(rd32(buf + 12), v->seq);
	ASSERT_EQ(rd32(buf + 16), 0);
	/* crc: CRC-32C of the message with the crc field as zero. */
	memcpy(copy, buf, len);
	memset(copy + 20, 0, 4);
	ASSERT_EQ(rd32(buf + 20), mcx__wire_crc32c(copy, len));

	/* And the library reads the same header. */
	ASSERT_ERR(mcx__wire_check(buf, len, &hdr), 0);
	ASSERT_EQ(hdr.type, v->type);
	ASSERT_EQ(hdr.len, len);
	ASSERT_EQ(hdr.seq, v->seq);
}

/* ---- decoded fields against the canonical ones ---- */

static void compare_nic(const struct mcx_wire_nic *got,
			const struct mcx_wire_nic *want)
{
	ASSERT_EQ(got->index, want->index);
	ASSERT_STREQ(got->name, want->name);
	ASSERT_TRUE(memcmp(got->gid, want->gid, sizeof(want->gid)) == 0);
	ASSERT_EQ(got->lid, want->lid);
	ASSERT_EQ(got->port, want->port);
	ASSERT_EQ(got->link_layer, want->link_layer);
	ASSERT_EQ(got->mtu, want->mtu);
	ASSERT_TRUE(memcmp(got->ipv4, want->ipv4, sizeof(want->ipv4)) == 0);
	ASSERT_EQ(got->prefix, want->prefix);
}

static void check_hello(const struct wire_v1_vector *v, const uint8_t *buf,
			size_t len)
{
	static struct mcx_wire_hello got;
	const struct mcx_wire_hello *want = v->canon;

	ASSERT_ERR(mcx__wire_decode_hello(buf, len, v->type, &got), 0);
	ASSERT_U64_EQ(got.engine_id, want->engine_id);
	ASSERT_EQ(got.pid, want->pid);
	ASSERT_EQ(got.transport, want->transport);
	ASSERT_STREQ(got.host, want->host);
	ASSERT_EQ(got.nnics, want->nnics);
	for (uint32_t i = 0; i < want->nnics; i++)
		compare_nic(&got.nics[i], &want->nics[i]);
}

static void check_connect(const struct wire_v1_vector *v, const uint8_t *buf,
			  size_t len)
{
	static struct mcx_wire_connect got;
	const struct mcx_wire_connect *want = v->canon;

	ASSERT_ERR(mcx__wire_decode_connect(buf, len, v->type, &got), 0);
	ASSERT_EQ(got.npairs, want->npairs);
	ASSERT_EQ(got.qps_per_pair, want->qps_per_pair);
	for (uint32_t i = 0; i < want->npairs; i++) {
		const struct mcx_wire_pair *g = &got.pairs[i], *w = &want->pairs[i];

		ASSERT_EQ(g->local_nic, w->local_nic);
		ASSERT_EQ(g->remote_nic, w->remote_nic);
		ASSERT_EQ(g->mtu, w->mtu);
		ASSERT_TRUE(memcmp(g->gid, w->gid, sizeof(w->gid)) == 0);
		ASSERT_EQ(g->lid, w->lid);
		ASSERT_EQ(g->rd_atomic, w->rd_atomic);
		for (uint32_t q = 0; q < want->qps_per_pair; q++) {
			ASSERT_EQ(g->qps[q].qpn, w->qps[q].qpn);
			ASSERT_EQ(g->qps[q].psn, w->qps[q].psn);
		}
	}
}

static void check_mem_req(const struct wire_v1_vector *v, const uint8_t *buf,
			  size_t len)
{
	const struct mcx_wire_mem_req *want = v->canon;
	struct mcx_wire_mem_req got;

	ASSERT_ERR(mcx__wire_decode_mem_req(buf, len, &got), 0);
	ASSERT_EQ(got.cursor, want->cursor);
	ASSERT_EQ(got.max_descs, want->max_descs);
}

static void check_mem_reply(const struct wire_v1_vector *v, const uint8_t *buf,
			    size_t len)
{
	const struct mcx_wire_mem *want = v->canon;
	struct mcx_wire_mem got;

	ASSERT_ERR(mcx__wire_decode_mem(buf, len, &got), 0);
	ASSERT_U64_EQ(got.generation, want->generation);
	ASSERT_EQ(got.total, want->total);
	ASSERT_EQ(got.cursor, want->cursor);
	ASSERT_EQ(got.count, want->count);
	ASSERT_EQ(got.nnics, want->nnics);
	for (uint32_t i = 0; i < want->nnics; i++)
		ASSERT_EQ(got.nic_index[i], want->nic_index[i]);
	ASSERT_TRUE(got.descs != NULL);
	for (uint32_t i = 0; i < want->count; i++) {
		const struct mcx_wire_desc *g = &got.descs[i], *w = &want->descs[i];

		ASSERT_U64_EQ(g->addr, w->addr);
		ASSERT_U64_EQ(g->len, w->len);
		ASSERT_U64_EQ(g->chunk_size, w->chunk_size);
		ASSERT_EQ(g->nchunks, w->nchunks);
		for (size_t k = 0; k < (size_t)w->nchunks * want->nnics; k++)
			ASSERT_EQ(g->rkeys[k], w->rkeys[k]);
	}
	mcx__wire_mem_free(&got);
}

static void check_error(const struct wire_v1_vector *v, const uint8_t *buf,
			size_t len)
{
	const struct mcx_wire_error *want = v->canon;
	struct mcx_wire_error got;

	ASSERT_ERR(mcx__wire_decode_error(buf, len, &got), 0);
	ASSERT_EQ(got.err, want->err);
	ASSERT_EQ(got.req_type, want->req_type);
	ASSERT_STREQ(got.msg, want->msg);
}

static void check_fields(const struct wire_v1_vector *v, const uint8_t *buf,
			 size_t len)
{
	switch (v->type) {
	case WIRE_V1_HELLO:
	case WIRE_V1_HELLO_REPLY:
		check_hello(v, buf, len);
		break;
	case WIRE_V1_CONNECT:
	case WIRE_V1_CONNECT_REPLY:
		check_connect(v, buf, len);
		break;
	case WIRE_V1_MEM_REQ:
		check_mem_req(v, buf, len);
		break;
	case WIRE_V1_MEM_REPLY:
		check_mem_reply(v, buf, len);
		break;
	case WIRE_V1_PING:
	case WIRE_V1_PONG:
		/* No payload: the header's seq (check_header) is all there is. */
		ASSERT_ERR(mcx__wire_decode_empty(buf, len, v->type), 0);
		break;
	case WIRE_V1_ERROR:
		check_error(v, buf, len);
		break;
	default:
		harness_fail(__FILE__, __LINE__, "%s: type %u is not a v1 type",
			     v->file, v->type);
	}
}

/* ---- the tests ---- */

static const struct wire_v1_vector *vector(size_t idx, const char *file)
{
	ASSERT_TRUE(idx < NVECTORS);
	ASSERT_STREQ(wire_v1_vectors[idx].file, file);
	return &wire_v1_vectors[idx];
}

static void check_vector(size_t idx, const char *file)
{
	const struct wire_v1_vector *v = vector(idx, file);
	uint8_t out[WIRE_V1_MAX_LEN];
	uint8_t *buf;
	ssize_t elen;
	size_t len;

	version_is_still_1();
	buf = read_vector(v, &len);
	check_header(v, buf, len);
	check_fields(v, buf, len);

	/* Only its own decoder takes it: each wants exactly its type. */
	for (uint16_t t = WIRE_V1_HELLO; t <= WIRE_V1_NTYPES; t++)
		if (t != v->type)
			ASSERT_ERR(decode_as(t, buf, len), -EPROTO);

	/*
	 * Today's encoder, from the canonical struct: the same bytes.  The crc
	 * (bytes 20..23) is compared last, so that a difference is reported
	 * where it is rather than as the crc it changed.
	 */
	elen = wire_v1_encode(v, out, sizeof(out));
	ASSERT_EQ(elen, len);
	for (size_t k = 0; k < len; k++) {
		size_t i = k < len - 4 ? (k < 20 ? k : k + 4) : k - (len - 4) + 20;

		if (out[i] != buf[i])
			harness_fail(__FILE__, __LINE__,
				     "%s: byte %zu encodes as 0x%02x, the vector has 0x%02x",
				     v->file, i, out[i], buf[i]);
	}
	free(buf);
}

/*
 * What the decoder must answer for buf, a v1 vector whose byte `off` was
 * changed: the errno wire.h documents for the field that byte is in.
 */
static int flip_expected(const uint8_t *buf, size_t len, size_t off)
{
	uint32_t mlen;
	uint16_t type;

	if (off < 4)				/* magic */
		return -EBADMSG;
	if (off < 6)				/* version */
		return -EPROTO;
	if (off < 8) {				/* type */
		type = rd16(buf + 6);
		/* An unknown type, or a known one that fails the crc. */
		return type >= WIRE_V1_HELLO && type <= WIRE_V1_NTYPES ? -EBADMSG : -EPROTO;
	}
	if (off < 12) {				/* length */
		mlen = rd32(buf + 8);
		if (mlen > MCX_WIRE_MAX_MSG)
			return -EMSGSIZE;
		/* Below the header, or not the buffer's length. */
		ASSERT_TRUE(mlen != len);
		return -EBADMSG;
	}
	/* seq, flags, crc, payload: the crc (or the flags rule) refuses it. */
	return -EBADMSG;
}

static void check_flips(size_t idx, const char *file)
{
	const struct wire_v1_vector *v = vector(idx, file);
	uint8_t zeroed[WIRE_V1_MAX_LEN];
	unsigned long tried = 0;
	uint8_t *buf;
	size_t len;

	version_is_still_1();
	buf = read_vector(v, &len);
	/* Unchanged, it is accepted: the refusals below are the flips' doing. */
	ASSERT_ERR(decode_as(v->type, buf, len), 0);
	for (size_t off = 0; off < len; off++) {
		const uint8_t orig = buf[off];

		for (unsigned int x = 1; x < 256; x++) {
			int ret, want;

			buf[off] = (uint8_t)(orig ^ x);
			ret = decode_as(v->type, buf, len);
			want = flip_expected(buf, len, off);
			if (ret != want)
				harness_fail(__FILE__, __LINE__,
					     "%s: byte %zu changed 0x%02x -> 0x%02x: decoder says %s, expected %s",
					     v->file, off, orig, buf[off],
					     harness_errname(ret), harness_errname(want));
			/*
			 * The crc no longer matches, whatever the field: every
			 * byte of the message is covered by it (a one-byte
			 * change is a burst CRC-32C always detects).
			 */
			memcpy(zeroed, buf, len);
			memset(zeroed + 20, 0, 4);
			ASSERT_TRUE(rd32(buf + 20) != mcx__wire_crc32c(zeroed, len));
			tried++;
		}
		buf[off] = orig;
	}
	ASSERT_EQ(tried, len * 255);
	/* Restored, it is accepted again: the loop changed nothing for good. */
	ASSERT_ERR(decode_as(v->type, buf, len), 0);
	free(buf);
}

/* Every v1 type has exactly one vector, and v1/ holds nothing else. */
TEST(wire_golden_v1_set_complete)
{
	unsigned int seen[WIRE_V1_NTYPES + 1] = { 0 };
	unsigned int found = 0;
	struct dirent *de;
	DIR *dir;

	ASSERT_EQ(NVECTORS, WIRE_V1_NTYPES);
	for (size_t i = 0; i < NVECTORS; i++) {
		ASSERT_TRUE(wire_v1_vectors[i].type >= 1 &&
			    wire_v1_vectors[i].type <= WIRE_V1_NTYPES);
		seen[wire_v1_vectors[i].type]++;
	}
	for (unsigned int t = 1; t <= WIRE_V1_NTYPES; t++)
		ASSERT_EQ(seen[t], 1);

	dir = opendir(V1_DIR);
	if (!dir)
		harness_fail(__FILE__, __LINE__, "%s: %s", V1_DIR, strerror(errno));
	while ((de = readdir(dir))) {
		size_t i;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		for (i = 0; i < NVECTORS; i++)
			if (!strcmp(de->d_name, wire_v1_vectors[i].file))
				break;
		if (i == NVECTORS)
			harness_fail(__FILE__, __LINE__,
				     "%s/%s is no v1 vector: v1 is frozen, a new version gets its own directory",
				     V1_DIR, de->d_name);
		found++;
	}
	closedir(dir);
	/* Missing ones: each one's own test names it. */
	ASSERT_EQ(found, NVECTORS);
}

#define GOLDEN(idx, name)						\
	TEST(wire_golden_v1_##name)					\
	{								\
		check_vector(idx, #name ".bin");			\
	}								\
	TEST(wire_golden_v1_##name##_byte_flips)			\
	{								\
		check_flips(idx, #name ".bin");				\
	}

GOLDEN(0, hello)
GOLDEN(1, hello_reply)
GOLDEN(2, connect)
GOLDEN(3, connect_reply)
GOLDEN(4, mem_req)
GOLDEN(5, mem_reply)
GOLDEN(6, ping)
GOLDEN(7, pong)
GOLDEN(8, error)
