/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Host-memory dma-bufs for tests, benchmarks and the demo: udmabuf (a memfd
 * turned into a dma-buf) where the kernel has it, else a vgem dumb buffer.
 * They stand in for GPU memory on machines without a GPU.
 */
#ifndef MCXFER_HOST_DMABUF_H
#define MCXFER_HOST_DMABUF_H

#include <stddef.h>

struct host_dmabuf {
	int fd;			/* the dma-buf */
	size_t size;		/* bytes, a multiple of the page size */
	const char *exporter;	/* "udmabuf" or "vgem" */
	int backing_fd;		/* memfd (udmabuf) or DRM device (vgem); -1 when none */
	unsigned int handle;	/* vgem GEM handle */
};

/* Round size up to whole pages and create a dma-buf of that size. 0 or -errno. */
int host_dmabuf_create(size_t size, struct host_dmabuf *out);

/* Close the dma-buf fd and what backs it. Safe on a zeroed or failed struct. */
void host_dmabuf_destroy(struct host_dmabuf *buf);

/* Which exporter host_dmabuf_create() would use: "udmabuf", "vgem" or NULL. */
const char *host_dmabuf_exporter(void);

#endif
