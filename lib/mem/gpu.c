// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registering CUDA device memory.  The NIC reaches GPU memory only through
 * a dma-buf the GPU driver exports (or, on older stacks, through
 * nvidia-peermem, which lets ibv_reg_mr take a device address), and only
 * the NICs close to the GPU on the PCI tree move it at full speed, so a
 * registration of device memory exports the 4 KiB-aligned range around it
 * once and registers that on the nearest NICs.
 */
#define _GNU_SOURCE	/* pthread_rwlock_t (mem/mem.h) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mem/cuda.h"
#include "mem/mem.h"
#include "transport/topo.h"
#include "util/util.h"

#define PAGE_4K 4096ULL

/* The NICs of ms to register GPU ordinal's memory on (bit per device). */
static uint32_t gpu_nics(struct mcx_memspace *ms, int ordinal)
{
	const char *names[MCX_TP_MAX_DEVS];
	char pci[32];
	uint32_t n = ms->devs->n;

	for (uint32_t k = 0; k < n; k++)
		names[k] = ms->devs->attr[k].name;
	return mcx__topo_gpu_nics(ms->sysfs,
				  mcx__cuda_pci_address(ordinal, pci, sizeof(pci)) ? NULL : pci,
				  names, n, ms->gpu_nics_all);
}

static void nic_list(const struct mcx_memspace *ms, uint32_t mask, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t k = 0; k < ms->devs->n && used < len; k++)
		if (mask & (1U << k))
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "",
						 ms->devs->attr[k].name);
}

int mcx__mem_cuda_get(struct mcx_memspace *ms, const struct mcx_mem_req *r,
		      struct mcx_mem **out)
{
	bool asked = r->flags & MCX_MEM_CUDA;
	uint64_t a = (uintptr_t)r->addr, start, end;
	struct mcx_cuda_ptr cp;
	char names[256];
	uint32_t nics;
	int ret, fd = -1;

	*out = NULL;
	ret = mcx__cuda_ptr_query(a, !asked, &cp);
	if (ret == -ENOENT && !asked)
		return 0;	/* no CUDA in this process: host memory */
	if (ret) {
		mcx__err("mcx_mem_register: %p: cannot ask the CUDA driver about it: %s", r->addr,
			 ret == -ENOENT ? "no CUDA driver library could be loaded" :
			 mcx_strerror(ret));
		return ret;
	}
	if (cp.kind != MCX_CUDA_PTR_DEVICE) {
		if (!asked)
			return 0;
		mcx__err("mcx_mem_register: %p with MCX_MEM_CUDA is %s", r->addr,
			 cp.kind == MCX_CUDA_PTR_MANAGED ? "managed memory, which cannot be exported as a dma-buf; register it without MCX_MEM_CUDA" :
			 "not CUDA device memory");
		return cp.kind == MCX_CUDA_PTR_MANAGED ? -EOPNOTSUPP : -EINVAL;
	}
	if (a + r->len - cp.base > cp.size) {
		mcx__err("mcx_mem_register: %p+%zu runs past the end of its CUDA allocation 0x%llx+%llu",
			 r->addr, r->len, (unsigned long long)cp.base, (unsigned long long)cp.size);
		return -EINVAL;
	}
	if (!(r->flags & MCX_MEM_NO_CACHE)) {
		*out = mcx__regcache_get_cuda(&ms->cache, r->flags, a, r->len, cp.buffer_id);
		if (*out)
			return 1;
	}
	nics = ms->devs->n ? gpu_nics(ms, cp.ordinal) : 0;
	if (!nics) {
		mcx__err("mcx_mem_register: %p+%zu is memory of GPU %d, and the engine has no NIC to register it on",
			 r->addr, r->len, cp.ordinal);
		return -ENODEV;
	}
	/* The export is whole pages of the allocation; the MRs cover the
	 * bytes asked for, at their offset into it. */
	start = a & ~(PAGE_4K - 1);
	end = (a + r->len + PAGE_4K - 1) & ~(PAGE_4K - 1);
	if (end - cp.base > cp.size)
		end = cp.base + cp.size;
	ret = mcx__cuda_export_dmabuf(&cp, start, end - start, &fd);
	nic_list(ms, nics, names, sizeof(names));
	if (ret == -EOPNOTSUPP) {
		mcx__warn("GPU %d memory %p+%zu: no dma-buf export; registering the device address (nvidia-peermem) on %s",
			  cp.ordinal, r->addr, r->len, names);
	} else if (ret) {
		return ret;
	} else {
		mcx__info("GPU %d memory %p+%zu: registering as a dma-buf on %s",
			  cp.ordinal, r->addr, r->len, names);
	}
	ret = mcx__mem_new(ms, MCX_MEM_CUDA_DEV, a, r->len, r->flags, fd, a - start, out);
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	(*out)->nics = nics;
	(*out)->cuda_buffer_id = cp.buffer_id;
	(*out)->cuda_ordinal = cp.ordinal;
	(*out)->cuda_ctx = cp.ctx;
	return 2;
}

int mcx__mem_cuda_export_named(struct mcx_memspace *ms, uint64_t addr, uint64_t len,
			       const char *name, struct mcx_mem **out)
{
	uint64_t start, end;
	struct mcx_cuda_ptr cp;
	char names[256];
	uint32_t nics;
	int ret, fd = -1;

	*out = NULL;
	ret = mcx__cuda_ptr_query(addr, false, &cp);
	if (ret) {
		mcx__err("mcx_mem_register_named(\"%s\"): cannot ask the CUDA driver about 0x%llx: %s",
			 name, (unsigned long long)addr,
			 ret == -ENOENT ? "no CUDA driver library could be loaded" : mcx_strerror(ret));
		return ret;
	}
	if (cp.kind != MCX_CUDA_PTR_DEVICE) {
		mcx__err("mcx_mem_register_named(\"%s\"): 0x%llx is %s", name,
			 (unsigned long long)addr,
			 cp.kind == MCX_CUDA_PTR_MANAGED ? "managed memory, which cannot be exported as a dma-buf" :
			 "not CUDA device memory (MCX_NAMED_CUDA)");
		return cp.kind == MCX_CUDA_PTR_MANAGED ? -EOPNOTSUPP : -EINVAL;
	}
	if (addr + len - cp.base > cp.size) {
		mcx__err("mcx_mem_register_named(\"%s\"): 0x%llx+%llu runs past the end of its CUDA allocation 0x%llx+%llu",
			 name, (unsigned long long)addr, (unsigned long long)len,
			 (unsigned long long)cp.base, (unsigned long long)cp.size);
		return -EINVAL;
	}
	nics = ms->devs->n ? gpu_nics(ms, cp.ordinal) : 0;
	if (!nics) {
		mcx__err("mcx_mem_register_named(\"%s\"): memory of GPU %d, and the engine has no NIC to register it on",
			 name, cp.ordinal);
		return -ENODEV;
	}
	start = addr & ~(PAGE_4K - 1);
	end = (addr + len + PAGE_4K - 1) & ~(PAGE_4K - 1);
	if (end - cp.base > cp.size)
		end = cp.base + cp.size;
	/*
	 * The registry pins dma-bufs: without an export there is nothing to
	 * name (an unnamed registration can still use nvidia-peermem).
	 */
	ret = mcx__cuda_export_dmabuf(&cp, start, end - start, &fd);
	if (ret) {
		mcx__err("mcx_mem_register_named(\"%s\"): GPU %d memory cannot be exported as a dma-buf: %s%s",
			 name, cp.ordinal, mcx_strerror(ret),
			 ret == -EOPNOTSUPP ? " (register it with mcx_mem_register(), which falls back to nvidia-peermem)" : "");
		return ret;
	}
	ret = mcx__mem_new(ms, MCX_MEM_CUDA_DEV, addr, len, MCX_MEM_NO_CACHE, fd, addr - start, out);
	if (ret) {
		close(fd);
		return ret;
	}
	nic_list(ms, nics, names, sizeof(names));
	mcx__info("GPU %d memory 0x%llx+%llu (\"%s\"): a dma-buf registered on %s", cp.ordinal,
		  (unsigned long long)addr, (unsigned long long)len, name, names);
	(*out)->nics = nics;
	(*out)->cuda_buffer_id = cp.buffer_id;
	(*out)->cuda_ordinal = cp.ordinal;
	(*out)->cuda_ctx = cp.ctx;
	return 0;
}

bool mcx__mem_cuda_fallback(struct mcx_mem **mems, size_t n, int err)
{
	bool any = false;

	if (err != -EOPNOTSUPP && err != -EPROTONOSUPPORT)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct mcx_mem *m = mems[i];

		if (m->kind != MCX_MEM_CUDA_DEV || m->dmabuf_fd < 0)
			continue;
		mcx__warn("GPU %d memory 0x%llx+%llu: a NIC cannot register dma-bufs; registering the device address (nvidia-peermem) instead",
			  m->cuda_ordinal, (unsigned long long)m->addr, (unsigned long long)m->len);
		close(m->dmabuf_fd);
		m->dmabuf_fd = -1;
		m->dmabuf_offset = 0;
		any = true;
	}
	return any;
}

int mcx__mem_copy(const struct mcx_mem *dm, uint64_t dst, const struct mcx_mem *sm, uint64_t src,
		  uint64_t len)
{
	const struct mcx_mem *gpu = dm && dm->kind == MCX_MEM_CUDA_DEV ? dm :
				    sm && sm->kind == MCX_MEM_CUDA_DEV ? sm : NULL;

	/* The CPU cannot read or write device memory through its address. */
	if (gpu)
		return mcx__cuda_copy(dst, src, len, gpu->cuda_ctx, gpu->cuda_ordinal);
	memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, len);
	return 0;
}

/*
 * GPU memory goes on the NICs nearest its GPU only, which is where its
 * transfers run fastest; a peer reachable only through other NICs still
 * gets its requests, over MRs made on those NICs the first time one goes
 * there.  They serve this process's posts only: peers keep being told of
 * the nearest NICs' MRs, so that what they use does not depend on which
 * requests ran here first.
 */
int mcx__mem_cuda_widen(struct mcx_mem *m, uint32_t reach, const char *peer)
{
	struct mcx_memspace *ms = m->ms;
	uint32_t add;
	char names[256];
	int ret;

	reach &= m->nr_nics >= 32 ? ~0U : (1U << m->nr_nics) - 1;
	if (m->kind != MCX_MEM_CUDA_DEV || !reach || (mcx__mem_local_nics(m) & reach))
		return 0;
	/* One registration at a time per memory: the others wait here and
	 * then find its bits (or its error). */
	pthread_mutex_lock(&m->lazy_lock);
	if (mcx__mem_local_nics(m) & reach) {
		pthread_mutex_unlock(&m->lazy_lock);
		return 0;
	}
	add = reach & ~m->lazy_failed;
	if (!add) {
		ret = m->lazy_err;
		pthread_mutex_unlock(&m->lazy_lock);
		return ret;
	}
	/* A named registration's MRs go when its entry dies (mcx__mem_kill,
	 * kill_lock for writing): no slot is filled while that runs. */
	if (m->named)
		pthread_rwlock_rdlock(&ms->kill_lock);
	ret = mcx__mem_usable(m);
	if (!ret)
		ret = mcx__mem_register_local_on(ms, m, add);
	if (!ret) {
		/*
		 * The pool's workers wrote the slots, and regpool_run's wait
		 * on the pool lock ordered those writes before this thread;
		 * the release publishes them with the bits: a poster that
		 * loads lazy_nics with acquire (mcx__mem_local_nics) and sees
		 * a bit reads that NIC's slots complete.
		 */
		atomic_fetch_or_explicit(&m->lazy_nics, add, memory_order_release);
	}
	if (m->named)
		pthread_rwlock_unlock(&ms->kill_lock);
	nic_list(ms, add, names, sizeof(names));
	if (!ret) {
		atomic_fetch_add(&ms->lazy_regs,
				 (uint64_t)m->nr_chunks * (uint32_t)__builtin_popcount(add));
		mcx__info("GPU %d memory 0x%llx+%llu: peer %s is reachable only through %s; registered there now, for this process's requests only",
			  m->cuda_ordinal, (unsigned long long)m->addr,
			  (unsigned long long)m->len, peer, names);
	} else if (ret != -EIDRM) {
		m->lazy_failed |= add;
		m->lazy_err = ret;
		mcx__err("GPU %d memory 0x%llx+%llu: peer %s is reachable only through %s, and registering it there failed: %s (requests that need those NICs fail with it)",
			 m->cuda_ordinal, (unsigned long long)m->addr,
			 (unsigned long long)m->len, peer, names, mcx_strerror(ret));
	}
	pthread_mutex_unlock(&m->lazy_lock);
	return ret;
}
