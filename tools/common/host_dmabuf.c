// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Host-memory dma-bufs through udmabuf or vgem (see host_dmabuf.h).
 *
 * vgem is driven with the generic DRM ioctls only (version, dumb create,
 * prime export), declared here so that the tools need no libdrm headers.
 */
#define _GNU_SOURCE
#include "host_dmabuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/udmabuf.h>

/* The three DRM ioctls we need, with the layouts of include/uapi/drm/drm.h. */
struct hd_drm_version {
	int version_major;
	int version_minor;
	int version_patchlevel;
	size_t name_len;
	char *name;
	size_t date_len;
	char *date;
	size_t desc_len;
	char *desc;
};

struct hd_drm_mode_create_dumb {
	uint32_t height;
	uint32_t width;
	uint32_t bpp;
	uint32_t flags;
	uint32_t handle;
	uint32_t pitch;
	uint64_t size;
};

struct hd_drm_prime_handle {
	uint32_t handle;
	uint32_t flags;
	int32_t fd;
};

struct hd_drm_gem_close {
	uint32_t handle;
	uint32_t pad;
};

#define HD_DRM_IOCTL_VERSION		_IOWR('d', 0x00, struct hd_drm_version)
#define HD_DRM_IOCTL_GEM_CLOSE		_IOW('d', 0x09, struct hd_drm_gem_close)
#define HD_DRM_IOCTL_PRIME_HANDLE_TO_FD	_IOWR('d', 0x2d, struct hd_drm_prime_handle)
#define HD_DRM_IOCTL_MODE_CREATE_DUMB	_IOWR('d', 0xB2, struct hd_drm_mode_create_dumb)
#define HD_DRM_RDWR			O_RDWR

static size_t page_round(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (size + page - 1) / page * page;
}

/* Open the DRM node whose driver is vgem, or return -ENODEV. */
static int open_vgem(void)
{
	DIR *dir = opendir("/dev/dri");
	struct dirent *de;
	int found = -ENODEV;

	if (!dir)
		return -ENODEV;
	while (found < 0 && (de = readdir(dir))) {
		char path[300], name[32] = "";
		struct hd_drm_version ver = { .name = name, .name_len = sizeof(name) - 1 };
		int fd;

		if (strncmp(de->d_name, "card", 4) && strncmp(de->d_name, "renderD", 7))
			continue;
		snprintf(path, sizeof(path), "/dev/dri/%s", de->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (ioctl(fd, HD_DRM_IOCTL_VERSION, &ver) == 0 && !strcmp(name, "vgem"))
			found = fd;
		else
			close(fd);
	}
	closedir(dir);
	return found;
}

static int create_udmabuf(size_t size, struct host_dmabuf *out)
{
	struct udmabuf_create req = { 0 };
	int dev, memfd, fd, err;

	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -errno;
	memfd = memfd_create("mcxfer-host-dmabuf", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (memfd < 0) {
		err = -errno;
		goto out_dev;
	}
	/* udmabuf insists that the memfd can no longer shrink under it. */
	if (ftruncate(memfd, (off_t)size) || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		err = -errno;
		goto out_memfd;
	}
	req.memfd = (uint32_t)memfd;
	req.flags = UDMABUF_FLAGS_CLOEXEC;
	req.offset = 0;
	req.size = size;
	fd = ioctl(dev, UDMABUF_CREATE, &req);
	if (fd < 0) {
		err = -errno;
		goto out_memfd;
	}
	close(dev);
	out->fd = fd;
	out->size = size;
	out->exporter = "udmabuf";
	out->backing_fd = memfd;
	return 0;

out_memfd:
	close(memfd);
out_dev:
	close(dev);
	return err;
}

static int create_vgem(size_t size, struct host_dmabuf *out)
{
	struct hd_drm_mode_create_dumb dumb = { 0 };
	struct hd_drm_prime_handle prime = { 0 };
	struct hd_drm_gem_close gclose = { 0 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int drm, err;

	drm = open_vgem();
	if (drm < 0)
		return drm;
	/* One page per row at 8 bits per pixel: the size is exact. */
	if (size / page > UINT32_MAX) {
		err = -EOVERFLOW;
		goto out_drm;
	}
	dumb.width = (uint32_t)page;
	dumb.height = (uint32_t)(size / page);
	dumb.bpp = 8;
	if (ioctl(drm, HD_DRM_IOCTL_MODE_CREATE_DUMB, &dumb)) {
		err = -errno;
		goto out_drm;
	}
	prime.handle = dumb.handle;
	prime.flags = O_CLOEXEC | HD_DRM_RDWR;
	if (ioctl(drm, HD_DRM_IOCTL_PRIME_HANDLE_TO_FD, &prime)) {
		err = -errno;
		gclose.handle = dumb.handle;
		ioctl(drm, HD_DRM_IOCTL_GEM_CLOSE, &gclose);
		goto out_drm;
	}
	out->fd = prime.fd;
	out->size = size;
	out->exporter = "vgem";
	out->backing_fd = drm;
	out->handle = dumb.handle;
	return 0;

out_drm:
	close(drm);
	return err;
}

const char *host_dmabuf_exporter(void)
{
	int fd;

	if (access("/dev/udmabuf", R_OK | W_OK) == 0)
		return "udmabuf";
	fd = open_vgem();
	if (fd >= 0) {
		close(fd);
		return "vgem";
	}
	return NULL;
}

int host_dmabuf_create(size_t size, struct host_dmabuf *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	out->backing_fd = -1;
	if (!size)
		return -EINVAL;
	size = page_round(size);
	err = create_udmabuf(size, out);
	if (err == -ENOENT || err == -ENODEV || err == -ENXIO)
		err = create_vgem(size, out);
	return err;
}

void host_dmabuf_destroy(struct host_dmabuf *buf)
{
	if (buf->fd >= 0)
		close(buf->fd);
	/* The GEM handle goes with the DRM file; the memfd with its last fd. */
	if (buf->backing_fd >= 0)
		close(buf->backing_fd);
	buf->fd = -1;
	buf->backing_fd = -1;
}
