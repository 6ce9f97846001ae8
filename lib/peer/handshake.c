// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The parts of the handshake both ends build: our HELLO, the MEM_REPLY
 * that lists what this engine exports, the rail hints, and the incoming
 * peers the listener keeps for its callers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peer/handshake.h"

static void host_name(char *buf, size_t len)
{
	if (gethostname(buf, len - 1))
		buf[0] = '\0';
	buf[len - 1] = '\0';
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			*p = '_';
	if (!buf[0])
		snprintf(buf, len, "unknown");
}

void mcx__handshake_fill_hello(const struct mcx_peer_env *env, uint64_t probe,
			       struct mcx_wire_hello *h)
{
	const struct mcx_devs *devs = env->devs;

	memset(h, 0, sizeof(*h));
	h->probe = probe;
	h->transport = devs->ops->wire_id;
	host_name(h->host, sizeof(h->host));
	for (uint32_t i = 0; i < devs->n && i < MCX_WIRE_MAX_NICS; i++) {
		const struct mcx_tp_dev_attr *a = &devs->attr[i];
		struct mcx_wire_dev *w = &h->devs[h->ndevs++];

		w->index = i;
		snprintf(w->name, sizeof(w->name), "%s", a->name);
		w->fabric = (uint8_t)a->fabric;
		w->port = a->port;
		memcpy(w->ipv4, &a->ipv4, 4);
		w->prefix = a->ipv4 ? a->ipv4_prefix : 0;
		w->caps = a->caps;
		w->max_msg = a->max_msg;
		w->addr_len = (uint8_t)a->addr_len;
		memcpy(w->addr, a->addr, a->addr_len);
	}
}

void mcx__handshake_rail_local(const struct mcx_devs *devs, struct mcx_rail_dev *out)
{
	for (uint32_t i = 0; i < devs->n; i++) {
		out[i].index = i;
		out[i].fabric = devs->attr[i].fabric;
		out[i].ipv4 = devs->attr[i].ipv4;
		out[i].prefix = devs->attr[i].ipv4_prefix;
	}
}

void mcx__handshake_rail_remote(const struct mcx_wire_hello *h, struct mcx_rail_dev *out)
{
	for (uint32_t i = 0; i < h->ndevs; i++) {
		out[i].index = h->devs[i].index;
		out[i].fabric = h->devs[i].fabric;
		memcpy(&out[i].ipv4, h->devs[i].ipv4, 4);
		out[i].prefix = h->devs[i].prefix;
	}
}

/* An ordering that does not change while nothing is (de)registered. */
static int cmp_mem(const void *a, const void *b)
{
	const struct mcx_mem *x = *(const struct mcx_mem *const *)a;
	const struct mcx_mem *y = *(const struct mcx_mem *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int mcx__handshake_mem_reply(struct mcx_peer_env *env, const struct mcx_wire_mem_req *q,
			     uint32_t seq, uint8_t **bufp, size_t *lenp)
{
	uint32_t nnics = env->devs->n, maxc, limit;
	uint32_t all = nnics >= 32 ? ~0U : (1U << nnics) - 1;
	struct mcx_wire_mem m = { 0 };
	struct mcx_wire_desc *descs = NULL;
	struct mcx_mem **v = NULL;
	uint64_t gen = 1469598103934665603ULL, total = 0, idx = 0;
	uint64_t *keys = NULL;
	size_t n = 0, len, cap, nkeys = 0, kcap = 0;
	uint8_t *buf = NULL;
	ssize_t got;
	int ret = 0;

	*bufp = NULL;
	if (nnics) {
		n = mcx__mem_list_exported(env->mem, NULL, 0);
		v = n ? calloc(n, sizeof(*v)) : NULL;
		if (n && !v)
			return -ENOMEM;
		n = n ? mcx__mem_list_exported(env->mem, v, n) : 0;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_mem);
	/*
	 * A registration with more chunks than one descriptor may carry goes
	 * out as several descriptors, each within the message limit.
	 */
	maxc = nnics ? (uint32_t)((MCX_WIRE_MAX_MSG - mcx__wire_mem_fixed_len(nnics) -
				   MCX_WIRE_DESC_FIXED - MCX_WIRE_DESC_IOVA_LEN -
				   MCX_WIRE_DESC_NICS_LEN) /
				  (8 * (size_t)nnics)) : 1;
	if (maxc > MCX_WIRE_MAX_CHUNKS)
		maxc = MCX_WIRE_MAX_CHUNKS;
	for (size_t i = 0; i < n; i++) {
		gen = (gen ^ v[i]->id) * 1099511628211ULL;
		gen = (gen ^ v[i]->len) * 1099511628211ULL;
		gen = (gen ^ v[i]->nics) * 1099511628211ULL;
		/* Memory on no NIC is reachable by no peer: not advertised. */
		if (v[i]->nr_nics == nnics && (v[i]->nics & all))
			total += (v[i]->nr_chunks + maxc - 1) / maxc;
	}
	if (total > MCX_PEER_MAX_DESCS || total > UINT32_MAX) {
		ret = -EMSGSIZE;
		goto out;
	}
	if (q->cursor > total) {
		ret = -ERANGE;
		goto out;
	}
	limit = q->max_descs && q->max_descs < MCX_WIRE_MAX_DESCS ? q->max_descs :
								     MCX_WIRE_MAX_DESCS;
	descs = calloc(limit, sizeof(*descs));
	if (!descs) {
		ret = -ENOMEM;
		goto out;
	}
	m.generation = gen;
	m.total = (uint32_t)total;
	m.cursor = q->cursor;
	m.nnics = nnics;
	for (uint32_t j = 0; j < nnics; j++)
		m.nic_index[j] = j;
	m.descs = descs;
	len = mcx__wire_mem_fixed_len(nnics);
	/* First pass: which chunks go out; second: their keys, contiguous. */
	for (int pass = 0; pass < 2; pass++) {
		m.count = 0;
		idx = 0;
		len = mcx__wire_mem_fixed_len(nnics);
		nkeys = 0;
		for (size_t i = 0; i < n && m.count < limit; i++) {
			const struct mcx_mem *d = v[i];

			if (d->nr_nics != nnics || !(d->nics & all))
				continue;
			for (uint32_t c0 = 0; c0 < d->nr_chunks && m.count < limit;
			     c0 += maxc, idx++) {
				uint32_t nc = d->nr_chunks - c0 < maxc ? d->nr_chunks - c0 : maxc;
				uint64_t off = (uint64_t)c0 * d->chunk_size;
				struct mcx_wire_desc *w;

				/* Only memory missing on some NIC carries its mask
				 * (see MCX_WIRE_DESC_NICS). */
				bool partial = (d->nics & all) != all;
				size_t dlen = mcx__wire_desc_len(nnics, nc) +
					      (d->iova != d->addr ? MCX_WIRE_DESC_IOVA_LEN : 0) +
					      (partial ? MCX_WIRE_DESC_NICS_LEN : 0);

				if (idx < q->cursor)
					continue;
				if (len + dlen > MCX_WIRE_MAX_MSG)
					goto full;
				w = &descs[m.count++];
				w->id = d->id;
				w->kind = d->kind == MCX_MEM_DMABUF ? MCX_WIRE_MEM_DMABUF :
								    MCX_WIRE_MEM_HOST;
				w->addr = d->addr + off;
				/* Only memory registered elsewhere carries it, so
				 * that older peers read every other descriptor. */
				w->has_iova = d->iova != d->addr;
				w->iova = d->iova + off;
				w->has_nics = partial;
				w->nics = d->nics & all;
				w->len = d->len - off < (uint64_t)nc * d->chunk_size ?
					 d->len - off : (uint64_t)nc * d->chunk_size;
				w->chunk_size = d->chunk_size;
				w->nchunks = nc;
				if (pass == 1) {
					w->keys = keys + nkeys;
					for (uint32_t c = 0; c < nc; c++)
						for (uint32_t k = 0; k < nnics; k++)
							keys[nkeys++] = d->nics & (1U << k) ?
								mcx__mem_mr(d, c0 + c, k)->rkey : 0;
				} else {
					nkeys += (size_t)nc * nnics;
				}
				len += dlen;
			}
		}
full:
		if (pass == 0) {
			kcap = nkeys ? nkeys : 1;
			keys = calloc(kcap, sizeof(*keys));
			if (!keys) {
				ret = -ENOMEM;
				goto out;
			}
		}
	}
	cap = len;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	got = mcx__wire_encode_mem(buf, cap, seq, &m);
	if (got < 0) {
		ret = (int)got;
		goto out;
	}
	*bufp = buf;
	*lenp = (size_t)got;
	buf = NULL;
out:
	free(buf);
	free(keys);
	free(descs);
	for (size_t i = 0; i < n; i++)
		mcx__mem_put(v[i]);
	free(v);
	return ret;
}

struct mcx_peer *mcx__peer_alloc(struct mcx_peer_env *env, const char *addr,
				 enum mcx_peer_state state)
{
	struct mcx_peer *peer = calloc(1, sizeof(*peer));

	if (!peer)
		return NULL;
	peer->env = env;
	snprintf(peer->addr, sizeof(peer->addr), "%s", addr);
	pthread_mutex_init(&peer->lock, NULL);
	pthread_mutex_init(&peer->dlock, NULL);
	peer->state = state;
	return peer;
}

void mcx__peer_link(struct mcx_peer_env *env, struct mcx_peer *peer)
{
	pthread_mutex_lock(&env->lock);
	peer->prev = NULL;
	peer->next = env->peers;
	if (env->peers)
		env->peers->prev = peer;
	env->peers = peer;
	pthread_mutex_unlock(&env->lock);
}

int mcx__peer_incoming(struct mcx_peer_env *env, const char *addr, uint32_t ndevs,
		       struct mcx_peer **out)
{
	struct mcx_peer *peer = mcx__peer_alloc(env, addr, MCX_PEER_READY);

	*out = NULL;
	if (!peer)
		return -ENOMEM;
	peer->remote_ndevs = ndevs;
	mcx__peer_link(env, peer);
	*out = peer;
	return 0;
}

int mcx__peer_incoming_paths(struct mcx_peer *peer, const struct mcx_wire_connect *req,
			     struct mcx_tp_path **made, uint32_t n)
{
	const struct mcx_devs *devs = peer->env->devs;
	struct mcx_tp_path *old[MCX_WIRE_MAX_PAIRS];
	uint32_t nold = 0;
	int ret = 0;

	pthread_mutex_lock(&peer->dlock);
	for (uint32_t i = 0; i < n && !ret; i++) {
		const struct mcx_wire_pair *w = &req->pairs[i];
		struct mcx_path *p = NULL;

		if (req->flags & MCX_WIRE_CONNECT_REBUILD) {
			for (uint32_t k = 0; k < peer->nr_paths; k++)
				if (peer->paths[k].ldev == w->remote_nic &&
				    peer->paths[k].rdev == w->local_nic)
					p = &peer->paths[k];
		}
		if (!p) {
			if (peer->nr_paths == MCX_MAX_PATHS) {
				ret = -ENOSPC;
				break;
			}
			p = &peer->paths[peer->nr_paths++];
			memset(p, 0, sizeof(*p));
			p->peer = peer;
			p->ldev = w->remote_nic;
			p->rdev = w->local_nic;
		} else if (p->tp) {
			old[nold++] = p->tp;
		}
		p->tp = made[i];
		made[i] = NULL;
		p->state = MCX_PATH_UP;
		p->err = 0;
	}
	pthread_mutex_unlock(&peer->dlock);
	/* Replaced target paths carry none of our work: close them now. */
	for (uint32_t i = 0; i < nold; i++)
		devs->ops->path_close(old[i], NULL, NULL);
	return ret;
}

uint32_t mcx__peer_nr_paths(struct mcx_peer *peer)
{
	uint32_t n;

	pthread_mutex_lock(&peer->dlock);
	n = peer->nr_paths;
	pthread_mutex_unlock(&peer->dlock);
	return n;
}

uint32_t mcx__peer_new_pairs(struct mcx_peer *peer, const struct mcx_wire_connect *req)
{
	uint32_t n = 0;

	pthread_mutex_lock(&peer->dlock);
	for (uint32_t i = 0; i < req->npairs; i++) {
		const struct mcx_wire_pair *w = &req->pairs[i];
		bool held = false;

		/* The caller's view: its remote_nic is our device (as in incoming_paths). */
		for (uint32_t k = 0; k < peer->nr_paths && !held; k++)
			held = peer->paths[k].ldev == w->remote_nic &&
			       peer->paths[k].rdev == w->local_nic;
		n += !held;
	}
	pthread_mutex_unlock(&peer->dlock);
	return n;
}

struct mcx_path *mcx__peer_slot_for(struct mcx_peer *peer, const struct mcx_wire_connect *req,
				    uint32_t i)
{
	struct mcx_path *slot = NULL;
	uint32_t fresh = 0;

	pthread_mutex_lock(&peer->dlock);
	for (uint32_t j = 0; j <= i; j++) {
		const struct mcx_wire_pair *w = &req->pairs[j];
		struct mcx_path *held = NULL;

		if (req->flags & MCX_WIRE_CONNECT_REBUILD)
			for (uint32_t k = 0; k < peer->nr_paths && !held; k++)
				if (peer->paths[k].ldev == w->remote_nic &&
				    peer->paths[k].rdev == w->local_nic)
					held = &peer->paths[k];
		if (j == i)
			slot = held ? held : peer->nr_paths + fresh < MCX_MAX_PATHS ?
			       &peer->paths[peer->nr_paths + fresh] : NULL;
		else if (!held)
			fresh++;
	}
	pthread_mutex_unlock(&peer->dlock);
	return slot;
}
