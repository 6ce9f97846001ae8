// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The metadata blob (mcx_engine_export_md): what a peer needs to know
 * about an engine, for applications that carry it through their own
 * channel instead of asking the listener.  A container of wire messages,
 * so that the strict decoders of wire.c check everything inside:
 *
 *   0  u32 magic    MCX_MD_MAGIC ("MCXM" in memory order)
 *   4  u16 version  MCX_MD_VERSION
 *   6  u16 flags    0
 *   8  u32 length   whole blob, MCX_MD_FIXED .. MCX_MD_MAX
 *  12  u32 crc      CRC-32C of the whole blob with this field as 0
 *  16  u16 listen_len (0..255), u16 npages (1..MCX_MD_MAX_PAGES)
 *  20  listen_len bytes of "host:port" (printable), zeros to a multiple of 4
 *      one HELLO_REPLY message (its header gives its length)
 *      npages MEM_REPLY messages, cursors 0, count, ... in order
 *  nothing after the last.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl/ctrl.h"

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

ssize_t mcx__md_encode(void *buf, size_t cap, const char *listen, const void *hello,
		       size_t hello_len, const uint8_t *const *pages, const size_t *page_len,
		       uint32_t npages)
{
	size_t ll = listen ? strlen(listen) : 0, len, off;
	uint8_t *b = buf;

	if (ll > MCX_MD_LISTEN_MAX || npages == 0 || npages > MCX_MD_MAX_PAGES)
		return -EINVAL;
	len = MCX_MD_FIXED + pad4(ll) + hello_len;
	for (uint32_t i = 0; i < npages; i++)
		len += page_len[i];
	if (len > MCX_MD_MAX)
		return -EMSGSIZE;
	if (!buf || cap < len)
		return -ENOBUFS;
	memset(b, 0, MCX_MD_FIXED + pad4(ll));
	mcx__put_le32(b, MCX_MD_MAGIC);
	mcx__put_le16(b + 4, MCX_MD_VERSION);
	mcx__put_le32(b + 8, (uint32_t)len);
	mcx__put_le16(b + 16, (uint16_t)ll);
	mcx__put_le16(b + 18, (uint16_t)npages);
	if (ll)
		memcpy(b + MCX_MD_FIXED, listen, ll);
	off = MCX_MD_FIXED + pad4(ll);
	memcpy(b + off, hello, hello_len);
	off += hello_len;
	for (uint32_t i = 0; i < npages; i++) {
		memcpy(b + off, pages[i], page_len[i]);
		off += page_len[i];
	}
	mcx__put_le32(b + 12, mcx__wire_crc32c(b, len));
	return (ssize_t)len;
}

size_t mcx__md_len(const char *listen, size_t hello_len, const size_t *page_len,
		   uint32_t npages)
{
	size_t len = MCX_MD_FIXED + pad4(listen ? strlen(listen) : 0) + hello_len;

	for (uint32_t i = 0; i < npages; i++)
		len += page_len[i];
	return len;
}

int mcx__md_decode(const void *buf, size_t len, struct mcx_md *out)
{
	const uint8_t *b = buf;
	uint8_t *copy = NULL;
	struct mcx_wire_hdr h;
	size_t off, ll;
	uint32_t npages, crc;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!buf || len < MCX_MD_FIXED)
		return -EBADMSG;
	if (mcx__get_le32(b) != MCX_MD_MAGIC)
		return -EBADMSG;
	if (mcx__get_le16(b + 4) != MCX_MD_VERSION)
		return -EPROTO;
	if (mcx__get_le16(b + 6) || mcx__get_le32(b + 8) != len || len > MCX_MD_MAX)
		return -EBADMSG;
	/* The crc over a copy with its own field zeroed. */
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, b, len);
	memset(copy + 12, 0, 4);
	crc = mcx__wire_crc32c(copy, len);
	free(copy);
	if (crc != mcx__get_le32(b + 12))
		return -EBADMSG;
	ll = mcx__get_le16(b + 16);
	npages = mcx__get_le16(b + 18);
	if (ll > MCX_MD_LISTEN_MAX || npages == 0 || npages > MCX_MD_MAX_PAGES ||
	    MCX_MD_FIXED + pad4(ll) > len)
		return -EBADMSG;
	for (size_t i = 0; i < ll; i++)
		if (b[MCX_MD_FIXED + i] <= ' ' || b[MCX_MD_FIXED + i] >= 0x7f)
			return -EBADMSG;
	for (size_t i = ll; i < pad4(ll); i++)
		if (b[MCX_MD_FIXED + i])
			return -EBADMSG;
	memcpy(out->listen, b + MCX_MD_FIXED, ll);
	out->listen[ll] = '\0';
	off = MCX_MD_FIXED + pad4(ll);
	/* Each embedded message: its header bounds it, its decoder checks it. */
	ret = mcx__wire_parse_header(b + off, len - off, len - off, &h);
	if (ret)
		return ret == -EPROTO ? -EPROTO : -EBADMSG;
	if (h.type != MCX_WIRE_HELLO_REPLY || h.len > len - off)
		return -EBADMSG;
	out->hello = b + off;
	out->hello_len = h.len;
	off += h.len;
	out->pages = calloc(npages, sizeof(*out->pages));
	out->page_len = calloc(npages, sizeof(*out->page_len));
	if (!out->pages || !out->page_len) {
		mcx__md_free(out);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < npages; i++) {
		ret = mcx__wire_parse_header(b + off, len - off, len - off, &h);
		if (ret || h.type != MCX_WIRE_MEM_REPLY || h.len > len - off) {
			mcx__md_free(out);
			return ret == -EPROTO ? -EPROTO : -EBADMSG;
		}
		out->pages[i] = b + off;
		out->page_len[i] = h.len;
		off += h.len;
	}
	if (off != len) {
		mcx__md_free(out);
		return -EBADMSG;
	}
	out->npages = npages;
	return 0;
}

void mcx__md_free(struct mcx_md *md)
{
	free(md->pages);
	free(md->page_len);
	md->pages = NULL;
	md->page_len = NULL;
	md->npages = 0;
}
