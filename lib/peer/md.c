// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Metadata blobs: an engine described for a peer without asking its
 * listener (as NIXL's getLocalMD / loadRemoteMD), for applications that
 * already have a channel between their processes.  The blob carries what
 * a HELLO reply and the MEM replies would: the devices' addresses and the
 * exported registrations with their keys, and the listener's address.
 *
 * For the verbs transport a path is a pair of connected QPs, which needs
 * one exchange with the other side: mcx_peer_open_md() still connects to
 * the listener named in the blob (authenticating as usual) and checks that
 * it describes the same devices; what the blob spares is the descriptor
 * fetch and knowing addresses in advance.  A connectionless transport
 * (libfabric RDM) can open paths from the device addresses alone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer/handshake.h"

#define MAX_PAGES	MCX_MD_MAX_PAGES

/* A wildcard listener is reached at the address of the first device. */
static void reachable_listen(const struct mcx_peer_env *env, char *out, size_t len)
{
	char host[256];
	uint16_t port;

	out[0] = '\0';
	if (!env->listen_addr[0] ||
	    mcx__parse_hostport(NULL, env->listen_addr, host, sizeof(host), &port))
		return;
	if ((!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) && env->devs->n &&
	    env->devs->attr[0].ipv4) {
		struct in_addr a = { .s_addr = env->devs->attr[0].ipv4 };

		snprintf(out, len, "%s:%u", inet_ntoa(a), port);
		return;
	}
	if (strlen(env->listen_addr) < len)
		memcpy(out, env->listen_addr, strlen(env->listen_addr) + 1);
}

int mcx__peer_export_md(struct mcx_peer_env *env, void *buf, size_t cap, size_t *need)
{
	struct mcx_wire_hello *h = malloc(sizeof(*h));
	uint8_t *hello = malloc(MCX_HANDSHAKE_BUF);
	uint8_t *pages[MAX_PAGES] = { 0 };
	size_t plen[MAX_PAGES] = { 0 };
	char listen[MCX_MD_LISTEN_MAX + 1];
	uint32_t np = 0, cursor = 0;
	ssize_t hl, len;
	int ret = 0;

	*need = 0;
	if (!h || !hello) {
		ret = -ENOMEM;
		goto out;
	}
	mcx__handshake_fill_hello(env, 0, h);
	hl = mcx__wire_encode_hello(hello, MCX_HANDSHAKE_BUF, MCX_WIRE_HELLO_REPLY, 0, h);
	if (hl < 0) {
		ret = (int)hl;
		goto out;
	}
	/* Every page of descriptors, as a MEM_REQ cursor walk would get them. */
	for (;;) {
		struct mcx_wire_mem_req q = { .cursor = cursor };
		struct mcx_wire_mem m;

		if (np == MAX_PAGES) {
			ret = -EMSGSIZE;
			goto out;
		}
		ret = mcx__handshake_mem_reply(env, &q, 0, &pages[np], &plen[np]);
		if (ret)
			goto out;
		ret = mcx__wire_decode_mem(pages[np], plen[np], &m);
		if (ret)
			goto out;
		np++;
		cursor += m.count;
		ret = cursor >= m.total || m.count == 0 ? 1 : 0;
		mcx__wire_mem_free(&m);
		if (ret)
			break;
	}
	ret = 0;
	reachable_listen(env, listen, sizeof(listen));
	*need = mcx__md_len(listen, (size_t)hl, plen, np);
	len = mcx__md_encode(buf, cap, listen, hello, (size_t)hl,
			     (const uint8_t *const *)pages, plen, np);
	ret = (int)len;
out:
	for (uint32_t i = 0; i < np; i++)
		free(pages[i]);
	free(h);
	free(hello);
	return ret;
}

int mcx__peer_open_md(struct mcx_peer_env *env, const void *blob, size_t len,
		      struct mcx_peer **out)
{
	struct mcx_wire_hello *h = malloc(sizeof(*h));
	struct mcx_rdesc **v = NULL;
	struct mcx_peer *peer = NULL;
	struct mcx_md md;
	size_t n = 0, total = 0;
	uint64_t bytes = 0;
	int ret;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	ret = mcx__md_decode(blob, len, &md);
	if (ret) {
		mcx__err("peer metadata: %s", ret == -EPROTO ? "another format version" :
					      "malformed");
		free(h);
		return ret;
	}
	ret = mcx__wire_decode_hello(md.hello, md.hello_len, MCX_WIRE_HELLO_REPLY, h);
	/* Every page checked and counted before anything is kept. */
	for (uint32_t i = 0; !ret && i < md.npages; i++) {
		struct mcx_wire_mem m;

		ret = mcx__wire_decode_mem(md.pages[i], md.page_len[i], &m);
		if (!ret) {
			if (m.cursor != total)
				ret = -EBADMSG;
			total += m.count;
			mcx__wire_mem_free(&m);
		}
	}
	if (!ret && total > MCX_PEER_MAX_DESCS)
		ret = -EMSGSIZE;
	if (!ret && total) {
		v = calloc(total, sizeof(*v));
		if (!v)
			ret = -ENOMEM;
	}
	for (uint32_t i = 0; !ret && i < md.npages; i++) {
		struct mcx_wire_mem m;

		ret = mcx__wire_decode_mem(md.pages[i], md.page_len[i], &m);
		if (!ret) {
			ret = mcx__peer_take_descs(&m, v, &n, &bytes);
			mcx__wire_mem_free(&m);
		}
	}
	if (ret) {
		mcx__err("peer metadata: its content is malformed: %s", mcx_strerror(ret));
		goto fail;
	}
	/*
	 * Engines on different transports reach none of each other's
	 * devices: the blob says which one its engine speaks, so there is no
	 * need to ask its listener (which would refuse the HELLO anyway).
	 */
	if (h->transport != env->devs->ops->wire_id) {
		char t1[32], t2[32];

		mcx__err("peer metadata%s%s: its engine speaks the %s transport, this engine %s (both ends need the same MCX_TRANSPORT)",
			 md.listen[0] ? " of " : "", md.listen,
			 mcx__wire_transport_name(h->transport, t1, sizeof(t1)),
			 mcx__wire_transport_name(env->devs->ops->wire_id, t2, sizeof(t2)));
		ret = -EPROTONOSUPPORT;
		goto fail;
	}
	if (!md.listen[0]) {
		/* RC paths need one exchange with the other side (see above). */
		mcx__err("peer metadata names no listener: the %s transport connects its paths through one",
			 env->devs->ops->name);
		ret = -EOPNOTSUPP;
		goto fail;
	}
	ret = mcx__peer_open(env, md.listen, &peer);
	if (ret)
		goto fail;
	ret = mcx__peer_check_hello(peer, h);
	if (ret) {
		mcx__err("peer %s: its devices are not those of the metadata (an older engine?)",
			 md.listen);
		mcx__peer_close(peer);
		goto fail;
	}
	mcx__peer_set_descs(peer, v, n);
	peer->descs_preloaded = true;
	v = NULL;
	*out = peer;
	mcx__md_free(&md);
	free(h);
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		mcx__rdesc_put(v[i]);
	free(v);
	mcx__md_free(&md);
	free(h);
	return ret;
}
