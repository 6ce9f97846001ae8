// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Golden vectors of the handshake's wire format: golden/v<N>/<type>.bin,
 * one message of every type of version N, written once by
 * golden/gen-wire-vectors.c from the canonical values in
 * golden/wire_v<N>_canon.h and checked into git.  They freeze each version
 * in bytes, so that whatever changes in wire.c later, a peer still running
 * that version is understood (or refused) as decided, not by accident.
 *
 * Version 2, the one spoken.  For every vector the tests check that:
 *   - the file is there (a missing one fails; so does an unknown one in v2/);
 *   - its header says magic "MCXW", version 2, the expected type, its own
 *     length, the canonical seq, flags 0, and a crc that matches;
 *   - its payload has every canonical field at the offset wire.h gives it,
 *     read byte by byte here rather than through the library;
 *   - its decoder accepts it and returns every canonical field, and every
 *     other decoder refuses it with -EPROTO;
 *   - encoding the canonical struct gives the file byte for byte;
 *   - changing any one byte to any other value makes the decoder refuse it,
 *     with the errno wire.h documents for that field (the crc catches every
 *     change the field rules do not).
 *
 * Version 1, no longer spoken.  wire.h says how it is treated: refused by
 * mcx__wire_parse_header() with -EPROTO, the header reported as read, so
 * that the caller can say "the peer speaks wire version 1".  v1/ stays as
 * it was written (its files must keep their length and crc, pinned below),
 * and for every vector the tests check that:
 *   - the header still reads as version 1 of its type, with a crc that
 *     matches;
 *   - mcx__wire_parse_header() and mcx__wire_check() refuse it with -EPROTO
 *     and report version 1, its type, its length and its seq;
 *   - every decoder refuses it with -EPROTO;
 *   - with any one byte changed it is still refused: -EBADMSG for the magic,
 *     -EBADMSG when the version byte turned it into version 2 (whose crc
 *     then fails), -EPROTO otherwise (the version is checked first).
 * wire_v1_canon.h describes v1/ but no longer builds against this wire.h
 * (its structs were version 1's); it stays as the record of how v1/ was
 * made and is not included here.  No encoder writes version 1 any more, so
 * there is no re-encoding check for it.
 *
 * WHEN MCX_WIRE_VERSION BECOMES 3 (or more), whoever changes it adapts this
 * file the same way: golden/v1/, golden/v2/ and their canon headers stay as
 * they are; version 3 gets its own set (golden/README); the decoders either
 * keep accepting v2 (keep its field checks) or refuse it with the error
 * wire.h documents, and this file asserts exactly that.  Until it is
 * adapted, every v2 test here fails with a message pointing here.
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
#include "golden/wire_v2_canon.h"

#ifndef MCX_GOLDEN_DIR
#error "build with -DMCX_GOLDEN_DIR=\"path/to/tests/unit/golden\""
#endif

#define V1_DIR		MCX_GOLDEN_DIR "/v1"
#define V2_DIR		MCX_GOLDEN_DIR "/v2"
#define NV2		(sizeof(wire_v2_vectors) / sizeof(wire_v2_vectors[0]))
#define MAX_LEN		WIRE_V2_MAX_LEN

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void version_is_still_2(void)
{
	if (MCX_WIRE_VERSION != WIRE_V2_VERSION)
		harness_fail(__FILE__, __LINE__,
			     "MCX_WIRE_VERSION is %d: adapt test_wire_golden.c as its header comment says (the v1 and v2 vectors stay)",
			     MCX_WIRE_VERSION);
}

/*
 * A vector's bytes in a heap buffer of exactly its size, so that ASan
 * catches a decoder reading past the end.
 */
static uint8_t *read_vector(const char *dir, const char *file, size_t *len)
{
	char path[4096];
	uint8_t *buf;
	FILE *f;
	long size;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "rb");
	if (!f)
		harness_fail(__FILE__, __LINE__,
			     "golden vector %s: %s (vectors are checked in and never regenerated; restore it from git)",
			     path, strerror(errno));
	ASSERT_TRUE(fseek(f, 0, SEEK_END) == 0);
	size = ftell(f);
	ASSERT_TRUE(size >= 0 && size <= MAX_LEN);
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
	struct mcx_wire_auth a;
	struct mcx_wire_auth_reply ar;
	struct mcx_wire_auth_proof ap;
	struct mcx_wire_mem_req q;
	struct mcx_wire_mem m;
	struct mcx_wire_error e;
	int ret;

	switch (type) {
	case WIRE_V2_AUTH:
		return mcx__wire_decode_auth(buf, len, &a);
	case WIRE_V2_AUTH_REPLY:
		return mcx__wire_decode_auth_reply(buf, len, &ar);
	case WIRE_V2_AUTH_PROOF:
		return mcx__wire_decode_auth_proof(buf, len, &ap);
	case WIRE_V2_HELLO:
	case WIRE_V2_HELLO_REPLY:
		return mcx__wire_decode_hello(buf, len, type, &h);
	case WIRE_V2_CONNECT:
	case WIRE_V2_CONNECT_REPLY:
		return mcx__wire_decode_connect(buf, len, type, &c);
	case WIRE_V2_MEM_REQ:
		return mcx__wire_decode_mem_req(buf, len, &q);
	case WIRE_V2_MEM_REPLY:
		ret = mcx__wire_decode_mem(buf, len, &m);
		mcx__wire_mem_free(&m);
		return ret;
	case WIRE_V2_PING:
	case WIRE_V2_PONG:
	case WIRE_V2_AUTH_OK:
		return mcx__wire_decode_empty(buf, len, type);
	case WIRE_V2_ERROR:
		return mcx__wire_decode_error(buf, len, &e);
	}
	harness_fail(__FILE__, __LINE__, "no decoder for type %u", type);
}

/*
 * The header, read byte by byte rather than through the library: magic,
 * the given version and type, its own length, seq, flags 0, and a crc that
 * is CRC-32C of the message with the crc field as zero.
 */
static void check_raw_header(const char *file, const uint8_t *buf, size_t len,
			     uint16_t version, uint16_t type, uint32_t seq)
{
	uint8_t copy[MAX_LEN];

	if (len < WIRE_V2_HDR_LEN)
		harness_fail(__FILE__, __LINE__, "%s: %zu bytes, shorter than a header",
			     file, len);
	ASSERT_TRUE(memcmp(buf, "MCXW", 4) == 0);
	ASSERT_EQ(rd32(buf), WIRE_V2_MAGIC);
	ASSERT_EQ(rd16(buf + 4), version);
	ASSERT_EQ(rd16(buf + 6), type);
	ASSERT_EQ(rd32(buf + 8), len);
	ASSERT_EQ(rd32(buf + 12), seq);
	ASSERT_EQ(rd32(buf + 16), 0);
	memcpy(copy, buf, len);
	memset(copy + 20, 0, 4);
	ASSERT_EQ(rd32(buf + 20), mcx__wire_crc32c(copy, len));
}

/* ======== version 2 ======== */

/* ---- the payload at wire.h's offsets, byte by byte ---- */

static void layout_auth(const struct wire_v2_vector *v, const uint8_t *p, size_t plen)
{
	const struct mcx_wire_auth *w = v->canon;

	ASSERT_EQ(plen, 8 + 32);
	ASSERT_EQ(rd32(p), w->flags);
	ASSERT_EQ(rd32(p + 4), 0);
	ASSERT_TRUE(memcmp(p + 8, w->nonce, 32) == 0);
}

static void layout_auth_reply(const struct wire_v2_vector *v, const uint8_t *p,
			      size_t plen)
{
	const struct mcx_wire_auth_reply *w = v->canon;

	ASSERT_EQ(plen, 8 + 32 + 32);
	ASSERT_EQ(rd32(p), w->mode);
	ASSERT_EQ(rd32(p + 4), 0);
	ASSERT_TRUE(memcmp(p + 8, w->nonce, 32) == 0);
	ASSERT_TRUE(memcmp(p + 40, w->proof, 32) == 0);
}

static void layout_auth_proof(const struct wire_v2_vector *v, const uint8_t *p,
			      size_t plen)
{
	const struct mcx_wire_auth_proof *w = v->canon;

	ASSERT_EQ(plen, 32);
	ASSERT_TRUE(memcmp(p, w->proof, 32) == 0);
}

static void layout_hello(const struct wire_v2_vector *v, const uint8_t *p, size_t plen)
{
	const struct mcx_wire_hello *w = v->canon;
	size_t host_len = strlen(w->host);
	const uint8_t *d;

	ASSERT_EQ(plen, 20 + host_len + w->ndevs * 184);
	ASSERT_U64_EQ(rd64(p), w->probe);
	ASSERT_EQ(rd32(p + 8), w->transport);
	ASSERT_EQ(rd32(p + 12), 0);
	ASSERT_EQ(rd16(p + 16), host_len);
	ASSERT_EQ(rd16(p + 18), w->ndevs);
	ASSERT_TRUE(memcmp(p + 20, w->host, host_len) == 0);
	d = p + 20 + host_len;
	for (uint32_t i = 0; i < w->ndevs; i++, d += 184) {
		const struct mcx_wire_dev *wd = &w->devs[i];
		size_t name_len = strlen(wd->name);

		ASSERT_EQ(rd32(d), wd->index);
		ASSERT_TRUE(memcmp(d + 4, wd->name, name_len) == 0);
		for (size_t k = name_len; k < 64; k++)
			ASSERT_EQ(d[4 + k], 0);
		ASSERT_EQ(d[68], wd->fabric);
		ASSERT_EQ(d[69], wd->port);
		ASSERT_EQ(d[70], wd->prefix);
		ASSERT_EQ(d[71], wd->addr_len);
		ASSERT_TRUE(memcmp(d + 72, wd->ipv4, 4) == 0);
		ASSERT_EQ(rd32(d + 76), wd->caps);
		ASSERT_U64_EQ(rd64(d + 80), wd->max_msg);
		ASSERT_TRUE(memcmp(d + 88, wd->addr, wd->addr_len) == 0);
		for (size_t k = wd->addr_len; k < 96; k++)
			ASSERT_EQ(d[88 + k], 0);
	}
}

static void layout_connect(const struct wire_v2_vector *v, const uint8_t *p,
			   size_t plen)
{
	const struct mcx_wire_connect *w = v->canon;
	size_t off = 8;

	ASSERT_EQ(rd16(p), w->npairs);
	ASSERT_EQ(rd16(p + 2), 0);
	ASSERT_EQ(rd32(p + 4), w->flags);
	for (uint32_t i = 0; i < w->npairs; i++) {
		const struct mcx_wire_pair *wp = &w->pairs[i];
		size_t padded = (wp->blob_len + 3U) / 4 * 4;

		ASSERT_TRUE(off + 12 + padded <= plen);
		ASSERT_EQ(rd32(p + off), wp->local_nic);
		ASSERT_EQ(rd32(p + off + 4), wp->remote_nic);
		ASSERT_EQ(rd16(p + off + 8), wp->blob_len);
		ASSERT_EQ(rd16(p + off + 10), 0);
		ASSERT_TRUE(memcmp(p + off + 12, wp->blob, wp->blob_len) == 0);
		for (size_t k = wp->blob_len; k < padded; k++)
			ASSERT_EQ(p[off + 12 + k], 0);
		off += 12 + padded;
	}
	ASSERT_EQ(off, plen);
}

static void layout_mem_req(const struct wire_v2_vector *v, const uint8_t *p,
			   size_t plen)
{
	const struct mcx_wire_mem_req *w = v->canon;

	ASSERT_EQ(plen, 16);
	ASSERT_EQ(rd32(p), w->cursor);
	ASSERT_EQ(rd32(p + 4), w->max_descs);
	ASSERT_U64_EQ(rd64(p + 8), 0);
}

static void layout_mem_reply(const struct wire_v2_vector *v, const uint8_t *p,
			     size_t plen)
{
	const struct mcx_wire_mem *w = v->canon;
	size_t off;

	ASSERT_U64_EQ(rd64(p), w->generation);
	ASSERT_EQ(rd32(p + 8), w->total);
	ASSERT_EQ(rd32(p + 12), w->cursor);
	ASSERT_EQ(rd32(p + 16), w->count);
	ASSERT_EQ(rd16(p + 20), w->nnics);
	ASSERT_EQ(rd16(p + 22), 0);
	for (uint32_t i = 0; i < w->nnics; i++)
		ASSERT_EQ(rd32(p + 24 + 4 * i), w->nic_index[i]);
	off = 24 + 4 * (size_t)w->nnics;
	for (uint32_t i = 0; i < w->count; i++) {
		const struct mcx_wire_desc *wd = &w->descs[i];
		size_t nkeys = (size_t)wd->nchunks * w->nnics;

		ASSERT_TRUE(off + 40 + 8 * nkeys <= plen);
		ASSERT_U64_EQ(rd64(p + off), wd->id);
		ASSERT_U64_EQ(rd64(p + off + 8), wd->addr);
		ASSERT_U64_EQ(rd64(p + off + 16), wd->len);
		ASSERT_U64_EQ(rd64(p + off + 24), wd->chunk_size);
		ASSERT_EQ(rd32(p + off + 32), wd->nchunks);
		ASSERT_EQ(rd32(p + off + 36), wd->kind);
		for (size_t k = 0; k < nkeys; k++)
			ASSERT_U64_EQ(rd64(p + off + 40 + 8 * k), wd->keys[k]);
		off += 40 + 8 * nkeys;
	}
	ASSERT_EQ(off, plen);
}

static void layout_error(const struct wire_v2_vector *v, const uint8_t *p, size_t plen)
{
	const struct mcx_wire_error *w = v->canon;
	size_t msg_len = strlen(w->msg);

	ASSERT_EQ(plen, 8 + msg_len);
	ASSERT_EQ(rd32(p), (uint32_t)w->err);
	ASSERT_EQ(rd16(p + 4), w->req_type);
	ASSERT_EQ(rd16(p + 6), msg_len);
	ASSERT_TRUE(memcmp(p + 8, w->msg, msg_len) == 0);
}

static void check_layout(const struct wire_v2_vector *v, const uint8_t *buf,
			 size_t len)
{
	const uint8_t *p = buf + WIRE_V2_HDR_LEN;
	size_t plen = len - WIRE_V2_HDR_LEN;

	switch (v->type) {
	case WIRE_V2_AUTH:
		layout_auth(v, p, plen);
		break;
	case WIRE_V2_AUTH_REPLY:
		layout_auth_reply(v, p, plen);
		break;
	case WIRE_V2_AUTH_PROOF:
		layout_auth_proof(v, p, plen);
		break;
	case WIRE_V2_HELLO:
	case WIRE_V2_HELLO_REPLY:
		layout_hello(v, p, plen);
		break;
	case WIRE_V2_CONNECT:
	case WIRE_V2_CONNECT_REPLY:
		layout_connect(v, p, plen);
		break;
	case WIRE_V2_MEM_REQ:
		layout_mem_req(v, p, plen);
		break;
	case WIRE_V2_MEM_REPLY:
		layout_mem_reply(v, p, plen);
		break;
	case WIRE_V2_PING:
	case WIRE_V2_PONG:
	case WIRE_V2_AUTH_OK:
		ASSERT_EQ(plen, 0);
		break;
	case WIRE_V2_ERROR:
		layout_error(v, p, plen);
		break;
	default:
		harness_fail(__FILE__, __LINE__, "%s: type %u is not a v2 type",
			     v->file, v->type);
	}
}

/* ---- decoded fields against the canonical ones ---- */

static void check_auth(const struct wire_v2_vector *v, const uint8_t *buf, size_t len)
{
	const struct mcx_wire_auth *want = v->canon;
	struct mcx_wire_auth got;

	ASSERT_ERR(mcx__wire_decode_auth(buf, len, &got), 0);
	ASSERT_EQ(got.flags, want->flags);
	ASSERT_TRUE(memcmp(got.nonce, want->nonce, sizeof(want->nonce)) == 0);
}

static void check_auth_reply(const struct wire_v2_vector *v, const uint8_t *buf,
			     size_t len)
{
	const struct mcx_wire_auth_reply *want = v->canon;
	struct mcx_wire_auth_reply got;

	ASSERT_ERR(mcx__wire_decode_auth_reply(buf, len, &got), 0);
	ASSERT_EQ(got.mode, want->mode);
	ASSERT_TRUE(memcmp(got.nonce, want->nonce, sizeof(want->nonce)) == 0);
	ASSERT_TRUE(memcmp(got.proof, want->proof, sizeof(want->proof)) == 0);
}

static void check_auth_proof(const struct wire_v2_vector *v, const uint8_t *buf,
			     size_t len)
{
	const struct mcx_wire_auth_proof *want = v->canon;
	struct mcx_wire_auth_proof got;

	ASSERT_ERR(mcx__wire_decode_auth_proof(buf, len, &got), 0);
	ASSERT_TRUE(memcmp(got.proof, want->proof, sizeof(want->proof)) == 0);
}

static void compare_dev(const struct mcx_wire_dev *got,
			const struct mcx_wire_dev *want)
{
	ASSERT_EQ(got->index, want->index);
	ASSERT_STREQ(got->name, want->name);
	ASSERT_EQ(got->fabric, want->fabric);
	ASSERT_EQ(got->port, want->port);
	ASSERT_EQ(got->prefix, want->prefix);
	ASSERT_EQ(got->addr_len, want->addr_len);
	ASSERT_TRUE(memcmp(got->ipv4, want->ipv4, sizeof(want->ipv4)) == 0);
	ASSERT_EQ(got->caps, want->caps);
	ASSERT_U64_EQ(got->max_msg, want->max_msg);
	/* The whole field: addr_len bytes, then zeros. */
	ASSERT_TRUE(memcmp(got->addr, want->addr, sizeof(want->addr)) == 0);
}

static void check_hello(const struct wire_v2_vector *v, const uint8_t *buf,
			size_t len)
{
	static struct mcx_wire_hello got;
	const struct mcx_wire_hello *want = v->canon;

	ASSERT_ERR(mcx__wire_decode_hello(buf, len, v->type, &got), 0);
	ASSERT_U64_EQ(got.probe, want->probe);
	ASSERT_EQ(got.transport, want->transport);
	ASSERT_STREQ(got.host, want->host);
	ASSERT_EQ(got.ndevs, want->ndevs);
	for (uint32_t i = 0; i < want->ndevs; i++)
		compare_dev(&got.devs[i], &want->devs[i]);
}

static void check_connect(const struct wire_v2_vector *v, const uint8_t *buf,
			  size_t len)
{
	static struct mcx_wire_connect got;
	const struct mcx_wire_connect *want = v->canon;

	ASSERT_ERR(mcx__wire_decode_connect(buf, len, v->type, &got), 0);
	ASSERT_EQ(got.flags, want->flags);
	ASSERT_EQ(got.npairs, want->npairs);
	for (uint32_t i = 0; i < want->npairs; i++) {
		const struct mcx_wire_pair *g = &got.pairs[i], *w = &want->pairs[i];

		ASSERT_EQ(g->local_nic, w->local_nic);
		ASSERT_EQ(g->remote_nic, w->remote_nic);
		ASSERT_EQ(g->blob_len, w->blob_len);
		ASSERT_TRUE(memcmp(g->blob, w->blob, sizeof(w->blob)) == 0);
	}
}

static void check_mem_req(const struct wire_v2_vector *v, const uint8_t *buf,
			  size_t len)
{
	const struct mcx_wire_mem_req *want = v->canon;
	struct mcx_wire_mem_req got;

	ASSERT_ERR(mcx__wire_decode_mem_req(buf, len, &got), 0);
	ASSERT_EQ(got.cursor, want->cursor);
	ASSERT_EQ(got.max_descs, want->max_descs);
}

static void check_mem_reply(const struct wire_v2_vector *v, const uint8_t *buf,
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

		ASSERT_U64_EQ(g->id, w->id);
		ASSERT_U64_EQ(g->addr, w->addr);
		ASSERT_U64_EQ(g->len, w->len);
		ASSERT_U64_EQ(g->chunk_size, w->chunk_size);
		ASSERT_EQ(g->nchunks, w->nchunks);
		ASSERT_EQ(g->kind, w->kind);
		for (size_t k = 0; k < (size_t)w->nchunks * want->nnics; k++)
			ASSERT_U64_EQ(g->keys[k], w->keys[k]);
	}
	mcx__wire_mem_free(&got);
}

static void check_error(const struct wire_v2_vector *v, const uint8_t *buf,
			size_t len)
{
	const struct mcx_wire_error *want = v->canon;
	struct mcx_wire_error got;

	ASSERT_ERR(mcx__wire_decode_error(buf, len, &got), 0);
	ASSERT_EQ(got.err, want->err);
	ASSERT_EQ(got.req_type, want->req_type);
	ASSERT_STREQ(got.msg, want->msg);
}

static void check_fields(const struct wire_v2_vector *v, const uint8_t *buf,
			 size_t len)
{
	switch (v->type) {
	case WIRE_V2_AUTH:
		check_auth(v, buf, len);
		break;
	case WIRE_V2_AUTH_REPLY:
		check_auth_reply(v, buf, len);
		break;
	case WIRE_V2_AUTH_PROOF:
		check_auth_proof(v, buf, len);
		break;
	case WIRE_V2_HELLO:
	case WIRE_V2_HELLO_REPLY:
		check_hello(v, buf, len);
		break;
	case WIRE_V2_CONNECT:
	case WIRE_V2_CONNECT_REPLY:
		check_connect(v, buf, len);
		break;
	case WIRE_V2_MEM_REQ:
		check_mem_req(v, buf, len);
		break;
	case WIRE_V2_MEM_REPLY:
		check_mem_reply(v, buf, len);
		break;
	case WIRE_V2_PING:
	case WIRE_V2_PONG:
	case WIRE_V2_AUTH_OK:
		/* No payload: the header's seq (check_raw_header) is all there is. */
		ASSERT_ERR(mcx__wire_decode_empty(buf, len, v->type), 0);
		break;
	case WIRE_V2_ERROR:
		check_error(v, buf, len);
		break;
	default:
		harness_fail(__FILE__, __LINE__, "%s: type %u is not a v2 type",
			     v->file, v->type);
	}
}

/* ---- the v2 tests ---- */

static const struct wire_v2_vector *v2_vector(size_t idx, const char *file)
{
	ASSERT_TRUE(idx < NV2);
	ASSERT_STREQ(wire_v2_vectors[idx].file, file);
	return &wire_v2_vectors[idx];
}

static void check_v2_vector(size_t idx, const char *file)
{
	const struct wire_v2_vector *v = v2_vector(idx, file);
	uint8_t out[MAX_LEN];
	struct mcx_wire_hdr hdr;
	uint8_t *buf;
	ssize_t elen;
	size_t len;

	version_is_still_2();
	buf = read_vector(V2_DIR, v->file, &len);
	check_raw_header(v->file, buf, len, WIRE_V2_VERSION, v->type, v->seq);
	/* And the library reads the same header. */
	ASSERT_ERR(mcx__wire_check(buf, len, &hdr), 0);
	ASSERT_EQ(hdr.version, WIRE_V2_VERSION);
	ASSERT_EQ(hdr.type, v->type);
	ASSERT_EQ(hdr.len, len);
	ASSERT_EQ(hdr.seq, v->seq);
	check_layout(v, buf, len);
	check_fields(v, buf, len);

	/* Only its own decoder takes it: each wants exactly its type. */
	for (uint16_t t = 1; t <= WIRE_V2_NTYPES; t++)
		if (t != v->type)
			ASSERT_ERR(decode_as(t, buf, len), -EPROTO);

	/*
	 * Today's encoder, from the canonical struct: the same bytes.  The crc
	 * (bytes 20..23) is compared last, so that a difference is reported
	 * where it is rather than as the crc it changed.
	 */
	elen = wire_v2_encode(v, out, sizeof(out));
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
 * What the decoder must answer for buf, a v2 vector whose byte `off` was
 * changed: the errno wire.h documents for the field that byte is in.
 */
static int v2_flip_expected(const uint8_t *buf, size_t len, size_t off)
{
	uint32_t mlen;
	uint16_t type;

	if (off < 4)				/* magic */
		return -EBADMSG;
	if (off < 6)				/* version: any other is refused */
		return -EPROTO;
	if (off < 8) {				/* type */
		type = rd16(buf + 6);
		/* An unknown type, or a known one that fails the crc. */
		return type >= 1 && type <= WIRE_V2_NTYPES ? -EBADMSG : -EPROTO;
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

static void check_v2_flips(size_t idx, const char *file)
{
	const struct wire_v2_vector *v = v2_vector(idx, file);
	uint8_t zeroed[MAX_LEN];
	unsigned long tried = 0;
	uint8_t *buf;
	size_t len;

	version_is_still_2();
	buf = read_vector(V2_DIR, v->file, &len);
	/* Unchanged, it is accepted: the refusals below are the flips' doing. */
	ASSERT_ERR(decode_as(v->type, buf, len), 0);
	for (size_t off = 0; off < len; off++) {
		const uint8_t orig = buf[off];

		for (unsigned int x = 1; x < 256; x++) {
			int ret, want;

			buf[off] = (uint8_t)(orig ^ x);
			ret = decode_as(v->type, buf, len);
			want = v2_flip_expected(buf, len, off);
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

/* The directory holds exactly the files named, nothing else. */
static void check_dir(const char *dir, const char *const *files, size_t n,
		      const char *what)
{
	unsigned int found = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (!d)
		harness_fail(__FILE__, __LINE__, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t i;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		for (i = 0; i < n; i++)
			if (!strcmp(de->d_name, files[i]))
				break;
		if (i == n)
			harness_fail(__FILE__, __LINE__,
				     "%s/%s is no %s vector: a version's set is frozen, a new version gets its own directory",
				     dir, de->d_name, what);
		found++;
	}
	closedir(d);
	/* Missing ones: each one's own test names it. */
	ASSERT_EQ(found, n);
}

/* Every v2 type has exactly one vector, and v2/ holds nothing else. */
TEST(wire_golden_v2_set_complete)
{
	unsigned int seen[WIRE_V2_NTYPES + 1] = { 0 };
	const char *files[NV2];

	version_is_still_2();
	ASSERT_EQ(NV2, WIRE_V2_NTYPES);
	for (size_t i = 0; i < NV2; i++) {
		ASSERT_TRUE(wire_v2_vectors[i].type >= 1 &&
			    wire_v2_vectors[i].type <= WIRE_V2_NTYPES);
		seen[wire_v2_vectors[i].type]++;
		files[i] = wire_v2_vectors[i].file;
	}
	for (unsigned int t = 1; t <= WIRE_V2_NTYPES; t++)
		ASSERT_EQ(seen[t], 1);
	/* The type numbers wire.h gives are the ones the vectors froze. */
	ASSERT_EQ(MCX_WIRE_HELLO, WIRE_V2_HELLO);
	ASSERT_EQ(MCX_WIRE_ERROR, WIRE_V2_ERROR);
	ASSERT_EQ(MCX_WIRE_AUTH, WIRE_V2_AUTH);
	ASSERT_EQ(MCX_WIRE_AUTH_OK, WIRE_V2_AUTH_OK);
	check_dir(V2_DIR, files, NV2, "v2");
}

#define GOLDEN_V2(idx, name)						\
	TEST(wire_golden_v2_##name)					\
	{								\
		check_v2_vector(idx, #name ".bin");			\
	}								\
	TEST(wire_golden_v2_##name##_byte_flips)			\
	{								\
		check_v2_flips(idx, #name ".bin");			\
	}

GOLDEN_V2(0, auth)
GOLDEN_V2(1, auth_reply)
GOLDEN_V2(2, auth_proof)
GOLDEN_V2(3, auth_ok)
GOLDEN_V2(4, hello)
GOLDEN_V2(5, hello_reply)
GOLDEN_V2(6, connect)
GOLDEN_V2(7, connect_reply)
GOLDEN_V2(8, mem_req)
GOLDEN_V2(9, mem_reply)
GOLDEN_V2(10, ping)
GOLDEN_V2(11, pong)
GOLDEN_V2(12, error)

/* ======== version 1: recognised, and refused ======== */

#define WIRE_V1_VERSION		1
#define WIRE_V1_NTYPES		9	/* HELLO .. ERROR, numbered as in v2 */

/*
 * The v1 set as gen-wire-vectors.c wrote it from wire_v1_canon.h (file,
 * type, seq there), with each file's length and header crc as committed:
 * the crc covers every byte, so a changed file fails here even where the
 * refusal below would not notice.
 */
static const struct wire_v1_file {
	const char *file;
	uint16_t type;
	uint32_t seq;
	uint32_t len;
	uint32_t crc;
} wire_v1_files[WIRE_V1_NTYPES] = {
	{ "hello.bin",		1, 0x0a0b0c01, 262, 0xcd0e0271 },
	{ "hello_reply.bin",	2, 0x0a0b0c01, 154, 0x1b95ba00 },
	{ "connect.bin",	3, 0x0a0b0c02, 128, 0x79abaea6 },
	{ "connect_reply.bin",	4, 0x0a0b0c02,  88, 0xbf615d8a },
	{ "mem_req.bin",	5, 0x0a0b0c03,  40, 0x68c632bb },
	{ "mem_reply.bin",	6, 0x0a0b0c03, 200, 0xf0999e7c },
	{ "ping.bin",		7, 0x0a0b0c04,  24, 0xbd54341c },
	{ "pong.bin",		8, 0x0a0b0c04,  24, 0xea032b95 },
	{ "error.bin",		9, 0x0a0b0c05,  52, 0x9f92a9f8 },
};

static const struct wire_v1_file *v1_file(size_t idx, const char *file)
{
	ASSERT_TRUE(idx < WIRE_V1_NTYPES);
	ASSERT_STREQ(wire_v1_files[idx].file, file);
	return &wire_v1_files[idx];
}

/* parse_header() or check() on a v1 message: -EPROTO, the header as read. */
static void check_v1_refused_header(const struct wire_v1_file *v, const uint8_t *buf,
				    size_t len)
{
	struct mcx_wire_hdr hdr;

	memset(&hdr, 0xa5, sizeof(hdr));
	ASSERT_ERR(mcx__wire_parse_header(buf, WIRE_V2_HDR_LEN, 0, &hdr), -EPROTO);
	ASSERT_EQ(hdr.version, WIRE_V1_VERSION);
	ASSERT_EQ(hdr.type, v->type);
	ASSERT_EQ(hdr.len, len);
	ASSERT_EQ(hdr.seq, v->seq);
	memset(&hdr, 0xa5, sizeof(hdr));
	ASSERT_ERR(mcx__wire_parse_header(buf, len, len, &hdr), -EPROTO);
	ASSERT_EQ(hdr.version, WIRE_V1_VERSION);
	ASSERT_EQ(hdr.type, v->type);
	memset(&hdr, 0xa5, sizeof(hdr));
	ASSERT_ERR(mcx__wire_check(buf, len, &hdr), -EPROTO);
	ASSERT_EQ(hdr.version, WIRE_V1_VERSION);
	ASSERT_EQ(hdr.type, v->type);
	ASSERT_EQ(hdr.len, len);
	ASSERT_EQ(hdr.seq, v->seq);
	ASSERT_ERR(mcx__wire_check(buf, len, NULL), -EPROTO);
}

static void check_v1_vector(size_t idx, const char *file)
{
	const struct wire_v1_file *v = v1_file(idx, file);
	uint8_t *buf;
	size_t len;

	buf = read_vector(V1_DIR, v->file, &len);
	/* Still the file that was committed: version 1, its length and crc. */
	check_raw_header(v->file, buf, len, WIRE_V1_VERSION, v->type, v->seq);
	ASSERT_EQ(len, v->len);
	ASSERT_EQ(rd32(buf + 20), v->crc);

	check_v1_refused_header(v, buf, len);
	/* Its type is one this version still has, so the caller can name it. */
	ASSERT_TRUE(strcmp(mcx__wire_type_name(v->type), "unknown") != 0);
	/* Every decoder, its own type's included, refuses it the same way. */
	for (uint16_t t = 1; t <= WIRE_V2_NTYPES; t++)
		ASSERT_ERR(decode_as(t, buf, len), -EPROTO);
	free(buf);
}

/*
 * A v1 vector with byte `off` changed, decoded as its type: a broken magic
 * is no message of ours; a version byte that now says MCX_WIRE_VERSION
 * makes a v2 header whose crc fails; anything else is still version 1 (or
 * another version that is not ours), refused before any other field.
 */
static int v1_flip_expected(const uint8_t *buf, size_t off)
{
	if (off < 4)
		return -EBADMSG;
	if (off < 6 && rd16(buf + 4) == MCX_WIRE_VERSION)
		return -EBADMSG;
	return -EPROTO;
}

static void check_v1_flips(size_t idx, const char *file)
{
	const struct wire_v1_file *v = v1_file(idx, file);
	unsigned long tried = 0;
	struct mcx_wire_hdr hdr;
	uint8_t *buf;
	size_t len;

	buf = read_vector(V1_DIR, v->file, &len);
	ASSERT_ERR(decode_as(v->type, buf, len), -EPROTO);
	for (size_t off = 0; off < len; off++) {
		const uint8_t orig = buf[off];

		for (unsigned int x = 1; x < 256; x++) {
			int ret, want;

			buf[off] = (uint8_t)(orig ^ x);
			ret = decode_as(v->type, buf, len);
			want = v1_flip_expected(buf, off);
			if (ret != want)
				harness_fail(__FILE__, __LINE__,
					     "v1/%s: byte %zu changed 0x%02x -> 0x%02x: decoder says %s, expected %s",
					     v->file, off, orig, buf[off],
					     harness_errname(ret), harness_errname(want));
			/* Whatever the header now says, it is reported as read. */
			if (off >= 4) {
				mcx__wire_check(buf, len, &hdr);
				ASSERT_EQ(hdr.version, rd16(buf + 4));
				ASSERT_EQ(hdr.type, rd16(buf + 6));
			}
			tried++;
		}
		buf[off] = orig;
	}
	ASSERT_EQ(tried, len * 255);
	check_v1_refused_header(v, buf, len);
	free(buf);
}

/* Every v1 type has exactly one vector, and v1/ holds nothing else. */
TEST(wire_golden_v1_set_complete)
{
	const char *files[WIRE_V1_NTYPES];

	for (size_t i = 0; i < WIRE_V1_NTYPES; i++) {
		ASSERT_EQ(wire_v1_files[i].type, i + 1);
		files[i] = wire_v1_files[i].file;
	}
	check_dir(V1_DIR, files, WIRE_V1_NTYPES, "v1");
}

#define GOLDEN_V1(idx, name)						\
	TEST(wire_golden_v1_##name##_refused)				\
	{								\
		check_v1_vector(idx, #name ".bin");			\
	}								\
	TEST(wire_golden_v1_##name##_byte_flips)			\
	{								\
		check_v1_flips(idx, #name ".bin");			\
	}

GOLDEN_V1(0, hello)
GOLDEN_V1(1, hello_reply)
GOLDEN_V1(2, connect)
GOLDEN_V1(3, connect_reply)
GOLDEN_V1(4, mem_req)
GOLDEN_V1(5, mem_reply)
GOLDEN_V1(6, ping)
GOLDEN_V1(7, pong)
GOLDEN_V1(8, error)
