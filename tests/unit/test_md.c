// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The metadata blob's container (lib/ctrl/md.c): a round trip, and every
 * way a blob can be malformed refused before anything inside is used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl/ctrl.h"
#include "harness.h"

/* A HELLO_REPLY and two MEM_REPLY pages, as an engine would export them. */
struct parts {
	uint8_t hello[4096];
	size_t hello_len;
	uint8_t page[2][4096];
	size_t page_len[2];
};

static void make_parts(struct parts *p)
{
	struct mcx_wire_hello h;
	uint64_t keys[2] = { 0x1122334455667788ULL, 7 };
	struct mcx_wire_desc d = {
		.id = 9, .addr = 0x10000, .len = 8192, .chunk_size = 4096, .nchunks = 2,
		.kind = MCX_WIRE_MEM_HOST, .keys = keys,
	};
	struct mcx_wire_mem m = { .generation = 5, .total = 2, .cursor = 0, .count = 1,
				  .nnics = 1, .descs = &d };
	ssize_t n;

	memset(&h, 0, sizeof(h));
	h.transport = MCX_WIRE_TRANSPORT_VERBS;
	strcpy(h.host, "host-a");
	h.ndevs = 1;
	h.devs[0].index = 0;
	strcpy(h.devs[0].name, "rxe0");
	h.devs[0].fabric = MCX_WIRE_FABRIC_ETH;
	h.devs[0].port = 1;
	h.devs[0].addr_len = 3;
	h.devs[0].max_msg = 1 << 20;
	memcpy(h.devs[0].addr, "abc", 3);
	n = mcx__wire_encode_hello(p->hello, sizeof(p->hello), MCX_WIRE_HELLO_REPLY, 0, &h);
	p->hello_len = (size_t)n;
	for (int i = 0; i < 2; i++) {
		m.cursor = (uint32_t)i;
		d.id = 9 + (uint64_t)i;
		n = mcx__wire_encode_mem(p->page[i], sizeof(p->page[i]), 0, &m);
		p->page_len[i] = (size_t)n;
	}
}

static ssize_t encode(const struct parts *p, const char *listen, uint8_t *buf, size_t cap)
{
	const uint8_t *pages[2] = { p->page[0], p->page[1] };

	return mcx__md_encode(buf, cap, listen, p->hello, p->hello_len, pages, p->page_len, 2);
}

/* Recompute the crc after a deliberate change, so that only the change is judged. */
static void reseal(uint8_t *b, size_t len)
{
	uint32_t crc;

	memset(b + 12, 0, 4);
	crc = mcx__wire_crc32c(b, len);
	for (int i = 0; i < 4; i++)
		b[12 + i] = (uint8_t)(crc >> (8 * i));
}

TEST(md_round_trip)
{
	struct parts p;
	uint8_t buf[16384];
	struct mcx_md md;
	ssize_t n;

	make_parts(&p);
	n = encode(&p, "10.0.0.1:7000", buf, sizeof(buf));
	ASSERT_TRUE(n > 0);
	ASSERT_EQ((size_t)n, mcx__md_len("10.0.0.1:7000", p.hello_len, p.page_len, 2));
	ASSERT_EQ(mcx__md_decode(buf, (size_t)n, &md), 0);
	ASSERT_STREQ(md.listen, "10.0.0.1:7000");
	ASSERT_EQ(md.hello_len, p.hello_len);
	ASSERT_TRUE(!memcmp(md.hello, p.hello, p.hello_len));
	ASSERT_EQ(md.npages, 2u);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(md.page_len[i], p.page_len[i]);
		ASSERT_TRUE(!memcmp(md.pages[i], p.page[i], p.page_len[i]));
	}
	mcx__md_free(&md);
	/* Without a listener too: the field is empty, not absent. */
	n = encode(&p, "", buf, sizeof(buf));
	ASSERT_EQ(mcx__md_decode(buf, (size_t)n, &md), 0);
	ASSERT_STREQ(md.listen, "");
	mcx__md_free(&md);
}

TEST(md_encode_refuses_what_does_not_fit)
{
	struct parts p;
	uint8_t buf[16384];
	ssize_t n;

	make_parts(&p);
	n = encode(&p, "h:1", buf, sizeof(buf));
	ASSERT_TRUE(n > 0);
	ASSERT_ERR(encode(&p, "h:1", buf, (size_t)n - 1), -ENOBUFS);
	ASSERT_ERR(encode(&p, "h:1", NULL, 0), -ENOBUFS);
	{
		char longname[300];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		ASSERT_ERR(encode(&p, longname, buf, sizeof(buf)), -EINVAL);
	}
	ASSERT_ERR(mcx__md_encode(buf, sizeof(buf), "h:1", p.hello, p.hello_len, NULL, NULL, 0),
		   -EINVAL);
}

TEST(md_decode_refuses_malformed_blobs)
{
	struct parts p;
	uint8_t good[16384], b[16384];
	struct mcx_md md;
	size_t n;

	make_parts(&p);
	n = (size_t)encode(&p, "10.0.0.1:7000", good, sizeof(good));

	/* Any changed byte breaks the crc (or the magic/length before it). */
	for (size_t i = 0; i < n; i++) {
		memcpy(b, good, n);
		b[i] ^= 0x40;
		ASSERT_TRUE(mcx__md_decode(b, n, &md) < 0);
	}
	/* Truncated, one byte too many, wrong magic, other version. */
	ASSERT_ERR(mcx__md_decode(good, n - 1, &md), -EBADMSG);
	memcpy(b, good, n);
	b[n] = 0;
	ASSERT_ERR(mcx__md_decode(b, n + 1, &md), -EBADMSG);
	ASSERT_ERR(mcx__md_decode(good, 10, &md), -EBADMSG);
	memcpy(b, good, n);
	b[4] = 2;
	reseal(b, n);
	ASSERT_ERR(mcx__md_decode(b, n, &md), -EPROTO);
	/* Flags, a non-printable listener byte, padding not zero: resealed. */
	memcpy(b, good, n);
	b[6] = 1;
	reseal(b, n);
	ASSERT_ERR(mcx__md_decode(b, n, &md), -EBADMSG);
	memcpy(b, good, n);
	b[MCX_MD_FIXED + 2] = '\n';
	reseal(b, n);
	ASSERT_ERR(mcx__md_decode(b, n, &md), -EBADMSG);
	memcpy(b, good, n);
	b[MCX_MD_FIXED + 13] = 'x';	/* "10.0.0.1:7000" is 13: the pad byte */
	reseal(b, n);
	ASSERT_ERR(mcx__md_decode(b, n, &md), -EBADMSG);
	/* More pages announced than present, and none at all. */
	memcpy(b, good, n);
	b[18] = 3;
	reseal(b, n);
	ASSERT_ERR(mcx__md_decode(b, n, &md), -EBADMSG);
	memcpy(b, good, n);
	b[18] = 0;
	reseal(b, n);
	ASSERT_ERR(mcx__md_decode(b, n, &md), -EBADMSG);
}

TEST(md_decode_refuses_wrong_message_types)
{
	struct parts p;
	uint8_t buf[16384];
	struct mcx_md md;
	ssize_t n;

	make_parts(&p);
	/* A MEM_REPLY where the HELLO_REPLY belongs. */
	{
		const uint8_t *pages[2] = { p.page[0], p.page[1] };

		n = mcx__md_encode(buf, sizeof(buf), "h:1", p.page[0], p.page_len[0], pages,
				   p.page_len, 2);
		ASSERT_TRUE(n > 0);
		ASSERT_ERR(mcx__md_decode(buf, (size_t)n, &md), -EBADMSG);
	}
	/* A HELLO_REPLY where a page belongs. */
	{
		const uint8_t *pages[2] = { p.page[0], p.hello };
		size_t lens[2] = { p.page_len[0], p.hello_len };

		n = mcx__md_encode(buf, sizeof(buf), "h:1", p.hello, p.hello_len, pages, lens, 2);
		ASSERT_TRUE(n > 0);
		ASSERT_ERR(mcx__md_decode(buf, (size_t)n, &md), -EBADMSG);
	}
}
