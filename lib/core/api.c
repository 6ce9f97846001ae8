// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The public calls that take an engine and hand the work to the folder
 * that owns it (mem/, peer/, xfer/), after the checks every entry point
 * makes: arguments, and that the engine belongs to this process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

MCX_EXPORT int mcx_mem_register_batch(struct mcx_engine *eng, const struct mcx_mem_req *reqs,
				      size_t n, struct mcx_mem **out)
{
	if (!eng)
		return -EINVAL;
	if (mcx__engine_check_owner(eng))
		return -EOWNERDEAD;
	return mcx__mem_register_batch(&eng->mem, reqs, n, out);
}

MCX_EXPORT int mcx_mem_register(struct mcx_engine *eng, void *addr, size_t len,
				unsigned int flags, struct mcx_mem **out)
{
	struct mcx_mem_req r = { .addr = addr, .len = len, .flags = flags, .dmabuf_fd = -1 };

	if (!out)
		return -EINVAL;
	*out = NULL;
	return mcx_mem_register_batch(eng, &r, 1, out);
}

MCX_EXPORT int mcx_mem_register_dmabuf(struct mcx_engine *eng, int fd, uint64_t offset,
				       size_t len, uint64_t iova, unsigned int flags,
				       struct mcx_mem **out)
{
	struct mcx_mem_req r = {
		.len = len, .flags = flags, .dmabuf_fd = fd, .offset = offset, .iova = iova,
	};

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (fd < 0)
		return -EBADF;
	return mcx_mem_register_batch(eng, &r, 1, out);
}

MCX_EXPORT int mcx_mem_register_named(struct mcx_engine *eng,
				      const struct mcx_mem_named_req *req, struct mcx_mem **out)
{
	if (out)
		*out = NULL;
	if (!eng || !req || !out)
		return -EINVAL;
	if (mcx__engine_check_owner(eng))
		return -EOWNERDEAD;
	return mcx__mem_register_named(&eng->mem, req, out);
}

MCX_EXPORT int mcx_mem_open_named(struct mcx_engine *eng, const char *name, uint32_t owner_uid,
				  unsigned int flags, struct mcx_mem **out)
{
	if (out)
		*out = NULL;
	if (!eng || !name || !out)
		return -EINVAL;
	if (mcx__engine_check_owner(eng))
		return -EOWNERDEAD;
	return mcx__mem_open_named(&eng->mem, name, owner_uid, flags, out);
}

MCX_EXPORT int mcx_peer_open(struct mcx_engine *eng, const char *addr, struct mcx_peer **out)
{
	if (out)
		*out = NULL;
	if (!eng || !addr || !out)
		return -EINVAL;
	if (mcx__engine_check_owner(eng))
		return -EOWNERDEAD;
	if (!strncmp(addr, MCX_META_ADDR_PREFIX, strlen(MCX_META_ADDR_PREFIX))) {
		char host[256];
		uint16_t port;

		if (eng->meta)
			return mcx__meta_open_peer(eng->meta, addr + strlen(MCX_META_ADDR_PREFIX),
						   out);
		/* "etcd:PORT" is still a host named etcd, as it always was. */
		if (mcx__parse_hostport(NULL, addr, host, sizeof(host), &port)) {
			mcx__err("peer address \"%s\": a name in a metadata service, but this engine has none (option metadata, MCX_METADATA)",
				 addr);
			return -EINVAL;
		}
	}
	return mcx__peer_open(&eng->peers, addr, out);
}

MCX_EXPORT int mcx_engine_export_md(struct mcx_engine *eng, void *buf, size_t cap, size_t *need)
{
	size_t dummy;

	if (!eng || (!buf && cap))
		return -EINVAL;
	if (mcx__engine_check_owner(eng))
		return -EOWNERDEAD;
	return mcx__peer_export_md(&eng->peers, buf, cap, need ? need : &dummy);
}

MCX_EXPORT int mcx_peer_open_md(struct mcx_engine *eng, const void *md, size_t len,
				struct mcx_peer **out)
{
	if (out)
		*out = NULL;
	if (!eng || !md || !len || !out)
		return -EINVAL;
	if (mcx__engine_check_owner(eng))
		return -EOWNERDEAD;
	return mcx__peer_open_md(&eng->peers, md, len, out);
}

MCX_EXPORT int mcx_peer_warmup(struct mcx_peer *peer)
{
	int ret;

	if (!peer)
		return -EINVAL;
	ret = mcx__peer_connect(peer);
	return ret ? ret : mcx__peer_warm_paths(peer);
}

/* The engine a peer belongs to: its peer env is the engine's. */
static struct mcx_meta *container_meta(const struct mcx_peer *peer)
{
	const struct mcx_engine *eng = (const void *)((const char *)peer->env -
						      offsetof(struct mcx_engine, peers));

	return eng->meta;
}

MCX_EXPORT void mcx_peer_close(struct mcx_peer *peer)
{
	if (!peer)
		return;
	/* An engine lives longer than its peers: its meta outlives this call. */
	mcx__meta_forget_peer(container_meta(peer), peer);
	mcx__peer_close(peer);
}

MCX_EXPORT int mcx_peer_stats(struct mcx_peer *peer, struct mcx_pair_stats *st, size_t n)
{
	const struct mcx_devs *devs;
	uint32_t k;

	if (!peer || (!st && n))
		return -EINVAL;
	devs = peer->env->devs;
	pthread_mutex_lock(&peer->dlock);
	for (k = 0; k < peer->nr_paths && k < n; k++) {
		const struct mcx_path *p = &peer->paths[k];

		memset(&st[k], 0, sizeof(st[k]));
		snprintf(st[k].local_dev, sizeof(st[k].local_dev), "%s", devs->attr[p->ldev].name);
		st[k].local_port = devs->attr[p->ldev].port;
		st[k].remote_nic = p->rdev;
		st[k].rail = p->rail;
		st[k].up = p->state == MCX_PATH_UP;
		st[k].err = p->err;
		st[k].bytes = p->bytes;
		st[k].slices = p->ops;
		st[k].retried = p->retried;
	}
	k = peer->nr_paths;
	pthread_mutex_unlock(&peer->dlock);
	return (int)k;
}

MCX_EXPORT int mcx_peer_warm_pairs(struct mcx_peer *peer)
{
	int warm = 0;

	if (!peer)
		return -EINVAL;
	pthread_mutex_lock(&peer->dlock);
	for (uint32_t k = 0; k < peer->nr_paths; k++)
		warm += mcx__path_warm_locked(&peer->paths[k]);
	pthread_mutex_unlock(&peer->dlock);
	return warm;
}

MCX_EXPORT int mcx_peer_list_mem(struct mcx_peer *peer, struct mcx_remote_mem *out, size_t n)
{
	uint64_t last_id = 0;
	size_t k = 0, total = 0;
	int ret;

	if (!peer || (!out && n))
		return -EINVAL;
	ret = mcx__peer_connect(peer);
	if (ret)
		return ret;
	ret = mcx__peer_refetch(peer);
	if (ret)
		return ret;
	/* A large registration arrives as several descriptors: merge them. */
	pthread_mutex_lock(&peer->lock);
	for (size_t i = 0; i < peer->nr_descs; i++) {
		const struct mcx_rdesc *d = peer->descs[i];

		if (total && d->id == last_id) {
			if (k && k <= n && out[k - 1].id == d->id &&
			    out[k - 1].addr + out[k - 1].len == d->addr)
				out[k - 1].len += d->len;
			continue;
		}
		last_id = d->id;
		if (k < n) {
			memset(&out[k], 0, sizeof(out[k]));
			out[k].id = d->id;
			out[k].addr = d->addr;
			out[k].len = d->len;
			out[k].kind = d->kind;
		}
		k++;
		total++;
	}
	pthread_mutex_unlock(&peer->lock);
	return (int)total;
}

MCX_EXPORT int mcx_batch_create(struct mcx_engine *eng, size_t capacity, struct mcx_batch **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!eng)
		return -EINVAL;
	return mcx__batch_create(&eng->xfer, capacity, out);
}

MCX_EXPORT int mcx_notify_poll(struct mcx_engine *eng, struct mcx_notify *out, size_t n)
{
	if (!eng || (!out && n))
		return -EINVAL;
	return mcx__notify_poll(&eng->xfer, out, n);
}

MCX_EXPORT int mcx_notify_fd(struct mcx_engine *eng)
{
	if (!eng)
		return -EINVAL;
	return eng->xfer.notify_fd;
}
