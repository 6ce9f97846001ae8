// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Named registrations: memory pinned and named through /dev/mcxfer, whose
 * MRs are published there so that the next engine of the same user (a
 * restarted process, another rank) serves it without registering it again.
 *
 *   register_named: pin (hit or miss) -> import the published MRs (hit,
 *                   every device's context shared) or register chunks x
 *                   NICs on the pool and publish each (chunk, device) MR
 *   open_named:     look the name up (reference + dma-buf fd) -> map it when
 *                   the exporter allows -> import, or register its own MRs
 *                   on the mapping or the dma-buf ("lazy" registrations)
 *
 * What an import must check, so that a name never hands out MRs of other
 * memory:
 *  - the entry is the memory: the module matches a pin by dma-buf and
 *    range (a second udmabuf of the same memfd is another dma-buf, so a
 *    name already in use for it fails with -EEXIST rather than hit), and
 *    open_named maps the entry's own dma-buf;
 *  - the MRs are MRs of the entry: only the owner may publish (the module
 *    checks), and before publishing, register_named checks that the
 *    caller's address really maps the dma-buf it pinned (/proc/self/maps:
 *    same file, same offset), since a host MR covers whatever the address
 *    maps, not the dma-buf;
 *  - the MRs cover the entry exactly, one way: on each device they tile
 *    [0, length) in order with one chunk size (the last chunk shorter),
 *    every device the same, and one iova base (iova - offset) for all of
 *    them.  A record set that does not (a device missing, a hole, overlap
 *    from a publisher with another chunk size) is not imported: the
 *    registration is made here instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/udmabuf.h>

#include "mem/mem.h"
#include "registry/registry.h"

#define PAGE_4K		4096ULL
#define UDMABUF_DEV	"/dev/udmabuf"

/* ---- the dma-buf of a request ---- */

/* udmabuf's cap on one buffer in MiB (a module parameter), 0 if unknown. */
static unsigned long udmabuf_limit_mb(void)
{
	unsigned long mb = 0;
	FILE *f = fopen("/sys/module/udmabuf/parameters/size_limit_mb", "re");

	if (f) {
		if (fscanf(f, "%lu", &mb) != 1)
			mb = 0;
		fclose(f);
	}
	return mb;
}

/*
 * A dma-buf of the memfd's [offset, offset + len): its size is sealed
 * first, as udmabuf demands (a memfd that could shrink would leave the
 * dma-buf's pages dangling).
 */
static int memfd_to_dmabuf(int memfd, uint64_t offset, uint64_t len, int *out)
{
	struct udmabuf_create c = {
		.memfd = (uint32_t)memfd,
		.flags = UDMABUF_FLAGS_CLOEXEC,
		.offset = offset,
		.size = len,
	};
	struct stat st;
	int dev, fd, ret;

	if (fstat(memfd, &st))
		return -errno;
	if ((uint64_t)st.st_size < offset + len) {
		mcx__err("named memfd: [%" PRIu64 ", +%" PRIu64 ") is past its size %lld",
			 offset, len, (long long)st.st_size);
		return -EINVAL;
	}
	if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		ret = -errno;
		mcx__err("named memfd: cannot seal its size (made without MFD_ALLOW_SEALING?): %s",
			 mcx_strerror(ret));
		return ret;
	}
	dev = open(UDMABUF_DEV, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO) {
			mcx__err("named memfd: %s is missing: this kernel has no udmabuf (CONFIG_UDMABUF), so host memory cannot become a dma-buf",
				 UDMABUF_DEV);
			return -EOPNOTSUPP;
		}
		mcx__err("named memfd: cannot open %s: %s", UDMABUF_DEV, mcx_strerror(ret));
		return ret;
	}
	fd = ioctl(dev, UDMABUF_CREATE, &c);
	ret = fd < 0 ? -errno : 0;
	close(dev);
	if (ret) {
		unsigned long limit_mb = udmabuf_limit_mb();

		if (ret == -EINVAL && limit_mb && len > (uint64_t)limit_mb << 20)
			mcx__err("named memfd: udmabuf refuses %" PRIu64 " bytes: its size_limit_mb is %lu (/sys/module/udmabuf/parameters/size_limit_mb)",
				 len, limit_mb);
		else
			mcx__err("named memfd: UDMABUF_CREATE failed: %s", mcx_strerror(ret));
		return ret;
	}
	*out = fd;
	return 0;
}

/*
 * Whether [addr, addr + len) is a shared mapping of fd at offset: every
 * byte of it, in /proc/self/maps, from fd's file at the matching offset.
 * The MRs registered on addr are published as MRs of fd's memory; if addr
 * mapped anything else, the next process would import MRs of other memory.
 */
static int check_mapping(int fd, uint64_t offset, uint64_t addr, uint64_t len)
{
	uint64_t next = addr, end = addr + len;
	struct stat st;
	char line[512];
	FILE *f;

	if (fstat(fd, &st))
		return -errno;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	while (next < end && fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, off, ino;
		unsigned int maj, min;
		char perms[8];

		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &lo, &hi, perms, &off, &maj,
			   &min, &ino) != 7)
			continue;
		if (hi <= next || lo > next)
			continue;
		if (perms[3] != 's' || ino != (unsigned long long)st.st_ino ||
		    makedev(maj, min) != st.st_dev || off + (next - lo) != offset + (next - addr))
			break;
		next = hi;
	}
	fclose(f);
	if (next < end) {
		mcx__err("named registration: 0x%" PRIx64 "+%" PRIu64
			 " is not a shared mapping of the fd it names at offset %" PRIu64,
			 addr, len, offset);
		return -EINVAL;
	}
	return 0;
}

/* ---- importing published MRs ---- */

/* Every published MR of entry on every device, checked to tile it. */
struct published {
	uint64_t chunk;			/* chunk size */
	uint32_t nchunks;
	uint64_t base;			/* iova - offset, the same for all */
	uint32_t nics;			/* the devices with records */
	struct mcx_reg_mr *mr;		/* [chunk * ndevs + dev] */
};

static int fetch_published(struct mcx_memspace *ms, uint64_t entry, uint64_t len,
			   uint32_t need, struct published *p)
{
	const struct mcx_devs *devs = ms->devs;
	uint32_t cap = 0;
	int ret = 0;

	memset(p, 0, sizeof(*p));
	for (uint32_t k = 0; k < devs->n && !ret; k++) {
		for (uint32_t i = 0;; i++) {
			struct mcx_reg_mr r;
			uint64_t want_len;

			ret = mcx_registry_get_mr(ms->reg, entry, devs->attr[k].name, i, &r);
			if (ret == -ENOENT && i > 0) {
				ret = i == p->nchunks ? 0 : -ESTALE;
				break;
			}
			/* A device with no record at all: fine unless needed. */
			if (ret == -ENOENT && !(need & (1U << k))) {
				ret = 0;
				break;
			}
			if (ret)
				break;
			/* The transport uses its own fd of the shared context. */
			if (r.uverbs_fd >= 0)
				close(r.uverbs_fd);
			r.uverbs_fd = -1;
			if (!p->mr) {
				if (!r.length || r.offset || r.iova < r.offset)
					return -ESTALE;
				p->chunk = r.length >= len ? len : r.length;
				p->nchunks = (uint32_t)((len + p->chunk - 1) / p->chunk);
				p->base = r.iova;
				if ((len + p->chunk - 1) / p->chunk > UINT32_MAX)
					return -E2BIG;
				cap = p->nchunks;
				p->mr = calloc((size_t)cap * devs->n, sizeof(*p->mr));
				if (!p->mr)
					return -ENOMEM;
			}
			if (i >= p->nchunks) {
				ret = -ESTALE;
				break;
			}
			want_len = i + 1 == p->nchunks ? len - (uint64_t)i * p->chunk : p->chunk;
			if (r.offset != (uint64_t)i * p->chunk || r.length != want_len ||
			    r.iova - r.offset != p->base ||
			    strcmp(r.ibdev, devs->attr[k].name)) {
				ret = -ESTALE;
				break;
			}
			p->mr[(size_t)i * devs->n + k] = r;
			p->nics |= 1U << k;
		}
	}
	if (!ret && !p->nics)
		ret = -ENOENT;
	if (ret) {
		free(p->mr);
		p->mr = NULL;
	}
	return ret;
}

static bool every_context_shared(const struct mcx_memspace *ms)
{
	if (!ms->devs->ops->mr_import || !ms->devs->n)
		return false;
	for (uint32_t k = 0; k < ms->devs->n; k++)
		if (ms->devs->attr[k].share == MCX_TP_SHARE_PRIVATE)
			return false;
	return true;
}

/*
 * Use the entry's published MRs as m's: m takes their chunk layout, iova
 * and devices.  Every device in need must have records; others are taken
 * when they do.  All or none: on failure m has no MR and its layout is
 * unchanged.
 */
static int import_all(struct mcx_memspace *ms, struct mcx_mem *m, uint64_t entry, uint32_t need)
{
	const struct mcx_devs *devs = ms->devs;
	struct mcx_mem_mr *slots;
	struct published p;
	size_t n;
	int ret;

	ret = fetch_published(ms, entry, m->len, need, &p);
	if (ret)
		return ret;
	n = (size_t)p.nchunks * devs->n;
	slots = calloc(n, sizeof(*slots));
	if (!slots) {
		free(p.mr);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		const struct mcx_reg_mr *r = &p.mr[i];
		struct mcx_tp_mr_handle h = {
			.cmd_fd = -1,
			.pd_handle = r->pd_handle,
			.mr_handle = r->mr_handle,
			.lkey = r->lkey,
			.rkey = r->rkey,
			.access = r->access,
			.iova = r->iova,
			.len = r->length,
		};
		struct mcx_tp_mr_info info;

		if (!(p.nics & (1U << (i % devs->n))))
			continue;	/* that device holds none of it */
		ret = devs->ops->mr_import(devs->dev[i % devs->n], &h, mcx__mem_remote(m),
					   &slots[i].mr, &info);
		if (ret) {
			mcx__warn("%s: importing MR %u of entry %" PRIu64 " failed: %s",
				  devs->attr[i % devs->n].name, r->mr_handle, entry,
				  mcx_strerror(ret));
			slots[i].mr = NULL;
			while (i--)
				if (slots[i].mr)
					devs->ops->mr_dereg(slots[i].mr);
			break;
		}
		slots[i].rkey = info.rkey;
		slots[i].desc = info.desc;
		if (!info.desc)
			m->named->need_local = true;
		slots[i].origin = MCX_MR_IMPORTED;
		slots[i].handle = r->mr_handle;
		slots[i].record = r->mr_id;
	}
	free(p.mr);
	if (ret) {
		free(slots);
		return ret;
	}
	free(m->mrs);
	m->mrs = slots;
	m->chunk_size = p.chunk;
	m->nr_chunks = p.nchunks;
	m->iova = p.base;
	m->nics = p.nics;
	atomic_fetch_add(&ms->mr_imports, (uint64_t)p.nchunks * (uint32_t)__builtin_popcount(p.nics));
	return 0;
}

/*
 * A warm start: m's MRs imported from the entry's records (has_records:
 * the registry holds some) when every device context is shared.  Counted
 * as a named hit; otherwise as a miss, and the caller registers MRs of
 * its own.
 */
static bool start_warm(struct mcx_memspace *ms, struct mcx_mem *m, bool has_records,
		       uint64_t entry, uint32_t need)
{
	if (has_records && every_context_shared(ms) && import_all(ms, m, entry, need) == 0) {
		m->named->warm = true;
		atomic_fetch_add(&ms->named_hits, 1);
		return true;
	}
	atomic_fetch_add(&ms->named_misses, 1);
	return false;
}

/*
 * Offer every MR of m to the next engines.  A failure costs only the
 * warm start of the next engine: m keeps working with its MRs.
 */
static void publish_all(struct mcx_memspace *ms, struct mcx_mem *m, uint64_t entry)
{
	const struct mcx_devs *devs = ms->devs;
	unsigned int published = 0, failed = 0;
	int first_err = 0;

	if (!devs->ops->mr_handle)
		return;
	for (uint32_t c = 0; c < m->nr_chunks; c++) {
		for (uint32_t k = 0; k < devs->n; k++) {
			struct mcx_mem_mr *slot = &m->mrs[(size_t)c * devs->n + k];
			uint64_t off = (uint64_t)c * m->chunk_size;
			struct mcx_tp_mr_handle h;
			struct mcx_reg_mr r;
			int ret;

			if (!slot->mr || devs->attr[k].share == MCX_TP_SHARE_PRIVATE)
				continue;
			ret = devs->ops->mr_handle(slot->mr, &h);
			if (ret == 0) {
				slot->origin = MCX_MR_HANDLED;
				slot->handle = h.mr_handle;
				memset(&r, 0, sizeof(r));
				r.uverbs_fd = h.cmd_fd;
				r.pd_handle = h.pd_handle;
				r.mr_handle = h.mr_handle;
				r.lkey = h.lkey;
				r.rkey = h.rkey;
				r.access = h.access;
				/* Where this chunk was registered, as the pool asked. */
				r.iova = m->iova + off;
				r.length = m->len - off < m->chunk_size ? m->len - off :
									  m->chunk_size;
				r.offset = off;
				ret = mcx_registry_publish_mr(ms->reg, entry, &r);
			}
			if (ret == 0) {
				slot->origin = MCX_MR_PUBLISHED;
				slot->record = r.mr_id;
				published++;
			} else {
				failed++;
				if (!first_err)
					first_err = ret;
			}
		}
	}
	if (failed)
		mcx__warn("entry %" PRIu64 ": %u MR(s) published, %u not (%s): the next engine registers those again",
			  entry, published, failed, mcx_strerror(first_err));
}

/* Register m here; count them as what they stand for. */
static int register_own(struct mcx_memspace *ms, struct mcx_mem *m, bool lazy)
{
	int ret = mcx__mem_register_all(ms, &m, 1);

	if (!ret && lazy)
		atomic_fetch_add(&ms->lazy_regs,
				 (uint64_t)m->nr_chunks * (uint32_t)__builtin_popcount(m->nics));
	return ret;
}

/*
 * MRs of our own on an entry opened here.  Its mapping is what reg_mr takes
 * where the exporter maps pages, but dma-buf exporters may map by PFN
 * (udmabuf since Linux 6.11, vgem: VM_PFNMAP), which the kernel's page
 * pinning behind reg_mr refuses with EFAULT; the dma-buf itself is then
 * registered at the mapping's address, where the NICs take dma-buf MRs.
 */
static int register_own_opened(struct mcx_memspace *ms, struct mcx_mem *m, const char *name)
{
	int ret = register_own(ms, m, true);

	if (ret != -EFAULT || m->kind != MCX_MEM_HOST || m->dmabuf_fd < 0)
		return ret;
	mcx__info("mcx_mem_open_named(\"%s\"): its mapping cannot be registered (a PFN mapping): registering its dma-buf instead",
		  name);
	m->kind = MCX_MEM_DMABUF;
	ret = register_own(ms, m, true);
	if (ret == -EOPNOTSUPP)
		mcx__err("mcx_mem_open_named(\"%s\"): this process cannot register it: its mapping is a PFN mapping, which reg_mr refuses, and the devices take no dma-buf MRs; only its owner's shared device context can serve it here",
			 name);
	return ret;
}

/* ---- the public calls ---- */

#define NAMED_FLAGS	MCX_MEM_EXPORT

static int check_named_req(const struct mcx_mem_named_req *r)
{
	int ret;

	if (!r->name || r->len == 0 || (r->flags & ~NAMED_FLAGS) ||
	    (unsigned int)r->share > MCX_SHARE_ALL)
		return -EINVAL;
	ret = mcx__check_name(r->name);
	if (ret)
		return ret;
	if (r->src == MCX_NAMED_CUDA) {
		/* The library exports the dma-buf itself. */
		if (!r->addr || r->fd != -1 || r->offset || r->iova)
			return -EINVAL;
		if ((uintptr_t)r->addr + r->len < (uintptr_t)r->addr)
			return -EOVERFLOW;
		return 0;
	}
	if (r->fd < 0)
		return -EBADF;
	if (r->offset + r->len < r->offset ||
	    (r->addr && (uintptr_t)r->addr + r->len < (uintptr_t)r->addr))
		return -EOVERFLOW;
	switch (r->src) {
	case MCX_NAMED_MEMFD:
		if (!r->addr || r->offset % PAGE_4K || r->len % PAGE_4K || r->iova)
			return -EINVAL;
		return 0;
	case MCX_NAMED_DMABUF:
		if (r->addr && r->iova)
			return -EINVAL;
		if (r->iova + r->len < r->iova)
			return -EOVERFLOW;
		return 0;
	default:
		return -EINVAL;
	}
}

/* A named registration's own state, before it becomes m's. */
static int named_new(struct mcx_mem *m, uint64_t entry, int fd, void *map, size_t map_len)
{
	m->named = calloc(1, sizeof(*m->named));
	if (!m->named)
		return -ENOMEM;
	pthread_mutex_init(&m->named->local_lock, NULL);
	m->named->entry = entry;
	m->named->fd = fd;
	m->named->map = map;
	m->named->map_len = map_len;
	return 0;
}

void mcx__mem_named_release(struct mcx_mem *m)
{
	struct mcx_mem_named *n = m->named;

	if (!n)
		return;
	if (n->entry && m->ms->reg) {
		int ret = mcx_registry_unpin(m->ms->reg, n->entry);

		/* A dead or revoked entry has no reference left to drop. */
		if (ret && ret != -ENOENT && ret != -EIDRM)
			mcx__warn("entry %" PRIu64 ": unpin failed: %s", n->entry,
				  mcx_strerror(ret));
	}
	/* The private MRs go before the mapping they cover; the dma-buf they
	 * were registered on is n->fd, closed once, here. */
	if (n->local) {
		n->local->dmabuf_fd = -1;
		mcx__mem_destroy(n->local);
	}
	if (n->map)
		munmap(n->map, n->map_len);
	if (n->fd >= 0) {
		close(n->fd);
		if (m->dmabuf_fd == n->fd)
			m->dmabuf_fd = -1;
	}
	pthread_mutex_destroy(&n->local_lock);
	free(n);
	m->named = NULL;
}

/* Register m's memory privately, in m's chunks and iova space, into n->local. */
static int register_local(struct mcx_mem *m)
{
	struct mcx_memspace *ms = m->ms;
	struct mcx_mem *local = NULL;
	size_t slots = (size_t)m->nr_chunks * m->nr_nics;
	int ret;

	ret = mcx__mem_new(ms, m->kind, m->addr, m->len, MCX_MEM_NO_CACHE, m->dmabuf_fd,
			   m->dmabuf_offset, &local);
	if (ret)
		return ret;
	/* The layout the imported MRs have, so that one chunk index fits both. */
	free(local->mrs);
	local->mrs = calloc(slots ? slots : 1, sizeof(*local->mrs));
	if (!local->mrs) {
		free(local);
		return -ENOMEM;
	}
	local->chunk_size = m->chunk_size;
	local->nr_chunks = m->nr_chunks;
	local->iova = m->iova;
	local->nics = m->nics;
	ret = mcx__mem_register_all(ms, &local, 1);
	if (ret) {
		local->dmabuf_fd = -1;	/* m's */
		mcx__mem_destroy(local);
		return ret;
	}
	for (size_t i = 0; i < slots; i++)
		if (m->mrs[i].mr && !m->mrs[i].desc)
			m->mrs[i].desc = local->mrs[i].desc;
	atomic_fetch_add(&ms->lazy_regs,
			 (uint64_t)m->nr_chunks * (uint32_t)__builtin_popcount(m->nics));
	m->named->local = local;
	return 0;
}

int mcx__mem_local_ready(struct mcx_mem *m)
{
	struct mcx_mem_named *n = m->named;
	int ret;

	if (!n || !n->need_local || atomic_load(&n->local_ready))
		return 0;
	pthread_mutex_lock(&n->local_lock);
	ret = n->local_err;
	if (!ret && !atomic_load(&n->local_ready)) {
		/* Under kill_lock: a kill must not clear slots while we fill them. */
		pthread_rwlock_rdlock(&m->ms->kill_lock);
		ret = mcx__mem_usable(m);
		if (!ret)
			ret = register_local(m);
		pthread_rwlock_unlock(&m->ms->kill_lock);
		if (!ret) {
			atomic_store(&n->local_ready, true);
		} else if (ret != -EIDRM) {
			n->local_err = ret;
			mcx__err("entry %" PRIu64 ": its MRs here only serve peers (the device context is shared without import), and registering it for this process's own transfers failed: %s%s",
				 n->entry, mcx_strerror(ret),
				 ret == -EFAULT ? " (a mapping the NIC cannot register, e.g. a udmabuf on soft-RoCE)" : "");
		}
	}
	pthread_mutex_unlock(&n->local_lock);
	return ret;
}

/* Insert a finished named m into the index; on failure m is destroyed. */
static int named_publish_mem(struct mcx_memspace *ms, struct mcx_mem *m, struct mcx_mem **out)
{
	int ret = mcx__regcache_insert(&ms->cache, m);

	if (ret) {
		mcx__mem_destroy(m);
		return ret;
	}
	*out = m;
	return 0;
}

int mcx__mem_register_named(struct mcx_memspace *ms, const struct mcx_mem_named_req *req,
			    struct mcx_mem **out)
{
	uint64_t pin_off, entry = 0;
	struct mcx_mem *m = NULL;
	const char *ibdev = NULL;
	int fd = -1, hit = 0, ret;

	if (!ms || !req || !out)
		return -EINVAL;
	*out = NULL;
	ret = check_named_req(req);
	if (ret) {
		mcx__err("mcx_mem_register_named: bad request (name, fd, range, flags, share or source): %s",
			 mcx_strerror(ret));
		return ret;
	}
	if (!ms->reg) {
		mcx__err("mcx_mem_register_named(\"%s\"): the engine does not use /dev/mcxfer (option registry, MCX_REGISTRY)",
			 req->name);
		return -ENODEV;
	}
	if (req->addr && req->src != MCX_NAMED_CUDA) {
		ret = check_mapping(req->fd, req->offset, (uintptr_t)req->addr, req->len);
		if (ret)
			return ret;
	}
	if (req->src == MCX_NAMED_CUDA) {
		/* m exists before the pin: it holds the exported dma-buf. */
		ret = mcx__mem_cuda_export_named(ms, (uintptr_t)req->addr, req->len, req->name,
						 &m);
		if (ret)
			return ret;
		m->flags |= req->flags;
		fd = m->dmabuf_fd;
		pin_off = m->dmabuf_offset;
		/* GPU exporters map only for a PCI peer: the nearest NIC. */
		ibdev = ms->devs->attr[__builtin_ctz(m->nics)].name;
	} else if (req->src == MCX_NAMED_MEMFD) {
		ret = memfd_to_dmabuf(req->fd, req->offset, req->len, &fd);
		pin_off = 0;	/* the udmabuf starts at req->offset */
	} else {
		fd = fcntl(req->fd, F_DUPFD_CLOEXEC, 3);
		ret = fd < 0 ? -errno : 0;
		pin_off = req->offset;
	}
	if (ret)
		return ret;

	ret = mcx_registry_pin(ms->reg, fd, pin_off, req->len, req->name, ibdev,
			       (enum mcx_share)req->share, 0, &entry, &hit);
	if (ret) {
		mcx__err("mcx_mem_register_named(\"%s\"): pinning through /dev/mcxfer%s%s failed: %s%s",
			 req->name, ibdev ? " for " : "", ibdev ? ibdev : "", mcx_strerror(ret),
			 ret == -EEXIST ? " (the name is yours for other memory: open it with mcx_mem_open_named)" :
			 ret == -EOPNOTSUPP && ibdev ? " (the GPU's exporter maps only for a PCI peer; that device has none)" : "");
		if (m)
			mcx__mem_destroy(m);	/* closes the exported dma-buf */
		else
			close(fd);
		return ret;
	}
	if (m)
		ret = 0;	/* CUDA: made above */
	else if (req->addr)
		ret = mcx__mem_new(ms, MCX_MEM_HOST, (uintptr_t)req->addr, req->len,
				   req->flags | MCX_MEM_NO_CACHE, -1, 0, &m);
	else
		ret = mcx__mem_new(ms, MCX_MEM_DMABUF, req->iova, req->len,
				   req->flags | MCX_MEM_NO_CACHE, fd, pin_off, &m);
	if (!ret)
		ret = named_new(m, entry, fd, NULL, 0);
	if (ret) {
		bool fd_went = m && m->kind == MCX_MEM_CUDA_DEV;

		if (m)
			mcx__mem_destroy(m);
		mcx_registry_unpin(ms->reg, entry);
		if (!fd_went)
			close(fd);
		return ret;
	}
	/* From here on m owns fd and the entry reference. */
	ret = mcx__regcache_check(&ms->cache, m);
	if (ret) {
		mcx__mem_destroy(m);
		return ret;
	}

	if (start_warm(ms, m, hit, entry, m->nics))
		return named_publish_mem(ms, m, out);
	ret = register_own(ms, m, false);
	if (ret) {
		mcx__mem_destroy(m);
		return ret;
	}
	/* A hit whose records did not fit keeps them: publishing again
	 * would overlap them (-EEXIST). */
	if (!hit)
		publish_all(ms, m, entry);
	return named_publish_mem(ms, m, out);
}

int mcx__mem_open_named(struct mcx_memspace *ms, const char *name, uint32_t owner_uid,
			unsigned int flags, struct mcx_mem **out)
{
	const uint32_t lflags = MCX_LOOKUP_REF | MCX_LOOKUP_EXPORT_FD;
	struct mcx_reg_lookup l;
	struct mcx_mem *m = NULL;
	void *map = NULL;
	int ret;

	if (!ms || !name || !out)
		return -EINVAL;
	*out = NULL;
	if (flags & ~NAMED_FLAGS)
		return -EINVAL;
	ret = mcx__check_name(name);
	if (ret)
		return ret;
	if (!ms->reg) {
		mcx__err("mcx_mem_open_named(\"%s\"): the engine does not use /dev/mcxfer (option registry, MCX_REGISTRY)",
			 name);
		return -ENODEV;
	}
	if (owner_uid == MCX_UID_SELF)
		ret = mcx_registry_lookup(ms->reg, name, 0, lflags, &l);
	else
		ret = mcx_registry_lookup_owner(ms->reg, name, owner_uid, lflags, &l);
	if (ret) {
		if (ret != -ENOENT)
			mcx__err("mcx_mem_open_named(\"%s\"): lookup failed: %s", name,
				 mcx_strerror(ret));
		return ret;
	}
	if (l.fd < 0 || l.length == 0 || l.length > SIZE_MAX) {
		mcx__err("mcx_mem_open_named(\"%s\"): the registry's answer has no dma-buf fd or no length",
			 name);
		if (l.fd >= 0)
			close(l.fd);
		mcx_registry_unpin(ms->reg, l.id);
		return -EPROTO;
	}
	/* Host exporters map; device memory exporters refuse, and then
	 * transfers address it by iova. */
	if (l.offset % PAGE_4K == 0) {
		map = mmap(NULL, l.length, PROT_READ | PROT_WRITE, MAP_SHARED, l.fd,
			   (off_t)l.offset);
		if (map == MAP_FAILED) {
			mcx__dbg("entry %" PRIu64 " (\"%s\"): its exporter does not map: %s", l.id,
				 name, mcx_strerror(-errno));
			map = NULL;
		}
	}
	if (map)
		ret = mcx__mem_new(ms, MCX_MEM_HOST, (uintptr_t)map, l.length,
				   flags | MCX_MEM_NO_CACHE, l.fd, l.offset, &m);
	else
		ret = mcx__mem_new(ms, MCX_MEM_DMABUF, l.offset, l.length,
				   flags | MCX_MEM_NO_CACHE, l.fd, l.offset, &m);
	if (!ret)
		ret = named_new(m, l.id, l.fd, map, map ? l.length : 0);
	if (ret) {
		if (m)
			mcx__mem_destroy(m);
		if (map)
			munmap(map, l.length);
		close(l.fd);
		mcx_registry_unpin(ms->reg, l.id);
		return ret;
	}
	ret = mcx__regcache_check(&ms->cache, m);
	if (ret) {
		mcx__mem_destroy(m);
		return ret;
	}
	/*
	 * Memory that does not map is device memory, registered on the NICs
	 * nearest its GPU only: whichever devices hold its MRs will do.
	 */
	if (start_warm(ms, m, l.nr_mrs != 0, l.id, map ? m->nics : 0))
		return named_publish_mem(ms, m, out);
	/*
	 * Contexts that cannot be shared (no import in the provider, another
	 * user's entry): MRs of our own, on the mapping or the dma-buf.
	 */
	ret = register_own_opened(ms, m, name);
	if (ret) {
		mcx__mem_destroy(m);
		return ret;
	}
	return named_publish_mem(ms, m, out);
}

/* ---- lifetime: events of the registry ---- */

void mcx__mem_kill(struct mcx_mem *m)
{
	struct mcx_memspace *ms = m->ms;

	pthread_rwlock_wrlock(&ms->kill_lock);
	if (!atomic_exchange(&m->dead, true)) {
		/*
		 * Every MR goes now, not with the last reference: a peer that
		 * kept a key must find it refused, and an MR of the shared
		 * context whose record was dropped is nobody else's to destroy.
		 */
		for (uint32_t c = 0; c < m->nr_chunks; c++)
			for (uint32_t k = 0; k < m->nr_nics; k++)
				mcx__mem_release_slot(m, c, k, true);
	}
	pthread_rwlock_unlock(&ms->kill_lock);
}

/* Kill every named registration for which match() says so. */
static int kill_matching(struct mcx_memspace *ms,
			 bool (*match)(struct mcx_mem *m, const void *arg), const void *arg)
{
	size_t cnt = mcx__regcache_list(&ms->cache, NULL, 0), got;
	struct mcx_mem **all;
	int killed = 0;

	if (!cnt)
		return 0;
	all = calloc(cnt, sizeof(*all));
	if (!all)
		return -ENOMEM;
	got = mcx__regcache_list(&ms->cache, all, cnt);
	for (size_t i = 0; i < got; i++) {
		if (all[i]->named && !atomic_load(&all[i]->dead) && match(all[i], arg)) {
			mcx__mem_kill(all[i]);
			killed++;
		}
		mcx__mem_put(all[i]);
	}
	free(all);
	return killed;
}

static bool uses_record(const struct mcx_mem *m, uint64_t record)
{
	for (size_t i = 0; i < (size_t)m->nr_chunks * m->nr_nics; i++)
		if (m->mrs[i].record == record && m->mrs[i].mr)
			return true;
	return false;
}

static bool match_event(struct mcx_mem *m, const void *arg)
{
	const struct mcx_reg_event *ev = arg;

	if (m->named->entry != ev->id)
		return false;
	/* An MR dropped from the entry matters to who used that one. */
	if (ev->type == MCX_REG_EVENT_MR_REMOVED)
		return uses_record(m, ev->mr_id);
	return true;
}

int mcx__mem_registry_event(struct mcx_memspace *ms, const struct mcx_reg_event *ev)
{
	int killed;

	switch (ev->type) {
	case MCX_REG_EVENT_INVALIDATED:
	case MCX_REG_EVENT_DEVICE_REMOVED:
	case MCX_REG_EVENT_REVOKED:
	case MCX_REG_EVENT_MR_REMOVED:
		killed = kill_matching(ms, match_event, ev);
		if (killed > 0)
			mcx__warn("entry %" PRIu64 ": %s: %d registration(s) no longer served",
				  ev->id,
				  ev->type == MCX_REG_EVENT_INVALIDATED ? "invalidated by its exporter" :
				  ev->type == MCX_REG_EVENT_DEVICE_REMOVED ? "its RDMA device was removed" :
				  ev->type == MCX_REG_EVENT_REVOKED ? "revoked by its owner" :
				  "an MR it uses was dropped", killed);
		return killed;
	case MCX_REG_EVENT_OVERFLOW:
		return mcx__mem_registry_recheck(ms);
	default:
		return 0;
	}
}

static bool entry_gone(struct mcx_mem *m, const void *arg)
{
	struct mcx_reg_lookup l;
	int ret;

	(void)arg;
	ret = mcx_registry_lookup(m->ms->reg, NULL, m->named->entry, 0, &l);
	return ret == -ENOENT || ret == -EIDRM || (ret == 0 && l.state == MCX_REG_DEAD);
}

int mcx__mem_registry_recheck(struct mcx_memspace *ms)
{
	if (!ms->reg)
		return 0;
	return kill_matching(ms, entry_gone, NULL);
}

struct ctx_mr {
	unsigned int dev;
	uint32_t handle;
};

static bool uses_handle(struct mcx_mem *m, const void *arg)
{
	const struct ctx_mr *c = arg;

	if (c->dev >= m->nr_nics)
		return false;
	for (uint32_t i = 0; i < m->nr_chunks; i++) {
		const struct mcx_mem_mr *s = mcx__mem_mr(m, i, c->dev);

		if (s->mr && s->origin != MCX_MR_OWN && s->handle == c->handle)
			return true;
	}
	return false;
}

int mcx__mem_ctx_mr_dropped(struct mcx_memspace *ms, unsigned int dev, uint32_t handle)
{
	struct ctx_mr c = { dev, handle };
	int killed = kill_matching(ms, uses_handle, &c);

	return killed > 0;
}
