// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Helpers shared by the mcxfer selftests (see mcx_util.h). */
#define _GNU_SOURCE
#include "mcx_util.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int mcx_open(void)
{
	int fd = open(MCX_DEV, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int mcx_ioctl(int fd, unsigned long cmd, void *arg)
{
	int r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

int mcx_info(int fd, struct mcxfer_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return mcx_ioctl(fd, MCXFER_IOC_GET_INFO, info);
}

int mcx_info_global(struct mcxfer_info *info)
{
	int fd = mcx_open(), r;

	if (fd < 0)
		return fd;
	r = mcx_info(fd, info);
	close(fd);
	return r;
}

int mcx_pin(int fd, int dmabuf, uint64_t off, uint64_t len, const char *name,
	    uint32_t share, uint32_t flags, uint64_t *id, uint32_t *out_flags)
{
	struct mcxfer_pin p = {
		.size = sizeof(p),
		.flags = flags,
		.dmabuf_fd = (uint32_t)dmabuf,
		.share = share,
		.offset = off,
		.length = len,
		.name = (uintptr_t)name,
	};
	int r = mcx_ioctl(fd, MCXFER_IOC_PIN, &p);

	if (r == 0 && id)
		*id = p.id;
	if (r == 0 && out_flags)
		*out_flags = p.out_flags;
	return r;
}

int mcx_unpin(int fd, uint64_t id)
{
	struct mcxfer_unpin u = { .size = sizeof(u), .id = id };

	return mcx_ioctl(fd, MCXFER_IOC_UNPIN, &u);
}

int mcx_lookup_name(int fd, const char *name, uint32_t flags, struct mcxfer_lookup *out)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->flags = flags;
	out->name = (uintptr_t)name;
	return mcx_ioctl(fd, MCXFER_IOC_LOOKUP, out);
}

int mcx_lookup_id(int fd, uint64_t id, uint32_t flags, struct mcxfer_lookup *out)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->flags = flags;
	out->id = id;
	return mcx_ioctl(fd, MCXFER_IOC_LOOKUP, out);
}

int mcx_lookup_owner(int fd, const char *name, uint32_t owner_uid, uint32_t flags,
		     struct mcxfer_lookup *out)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->flags = flags | MCXFER_LOOKUP_OWNER;
	out->name = (uintptr_t)name;
	out->owner_uid = owner_uid;
	return mcx_ioctl(fd, MCXFER_IOC_LOOKUP, out);
}

int mcx_evict(int fd, uint64_t id, uint32_t flags, uint64_t *evicted)
{
	struct mcxfer_evict e = { .size = sizeof(e), .flags = flags, .id = id };
	int r = mcx_ioctl(fd, MCXFER_IOC_EVICT, &e);

	if (r == 0 && evicted)
		*evicted = e.evicted;
	return r;
}

int mcx_list_all(int fd, uint32_t page, struct mcxfer_entry_info **out, size_t *nr)
{
	struct mcxfer_entry_info *all = NULL, *buf;
	size_t n = 0, cap = 0;
	uint64_t cursor = 0;
	int r = 0;

	buf = calloc(page, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct mcxfer_list l = {
			.size = sizeof(l),
			.cursor = cursor,
			.entries = (uintptr_t)buf,
			.entry_size = sizeof(*buf),
			.count = page,
		};

		r = mcx_ioctl(fd, MCXFER_IOC_LIST, &l);
		if (r < 0)
			break;
		if (l.count > page) {
			r = -EOVERFLOW;
			break;
		}
		if (n + l.count > cap) {
			struct mcxfer_entry_info *na;

			cap = (n + l.count) * 2 + 16;
			na = realloc(all, cap * sizeof(*all));
			if (!na) {
				r = -ENOMEM;
				break;
			}
			all = na;
		}
		memcpy(all + n, buf, l.count * sizeof(*buf));
		n += l.count;
		if (!l.cursor)
			break;
		/* A cursor that does not move would loop forever. */
		if (l.cursor <= cursor) {
			r = -ELOOP;
			break;
		}
		cursor = l.cursor;
	}
	free(buf);
	if (r < 0) {
		free(all);
		return r;
	}
	*out = all;
	*nr = n;
	return 0;
}

const struct mcxfer_entry_info *mcx_list_find(int fd, uint64_t id)
{
	static struct mcxfer_entry_info found;
	struct mcxfer_entry_info *all;
	size_t n;
	bool hit = false;

	if (mcx_list_all(fd, 64, &all, &n))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (all[i].id == id) {
			found = all[i];
			hit = true;
		}
	}
	free(all);
	return hit ? &found : NULL;
}

long long mcx_evict_all_idle(void)
{
	uint64_t evicted = 0;
	int fd = mcx_open(), r;

	if (fd < 0)
		return fd;
	r = mcx_evict(fd, 0, MCXFER_EVICT_IDLE, &evicted);
	close(fd);
	return r < 0 ? r : (long long)evicted;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int mcx_param_get(const char *name, unsigned long long *val)
{
	char path[256], buf[64], *end;
	int r;

	snprintf(path, sizeof(path), "%s/%s", MCX_PARAMS, name);
	r = read_file(path, buf, sizeof(buf));
	if (r)
		return r;
	errno = 0;
	*val = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

int mcx_param_set(const char *name, unsigned long long val)
{
	char path[256], buf[32];
	int fd, len;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", MCX_PARAMS, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%llu\n", val);
	n = write(fd, buf, (size_t)len);
	close(fd);
	if (n < 0)
		return -errno;
	return n == len ? 0 : -EIO;
}

static const char *const param_names[] = {
	"linger_ms", "max_pinned_bytes", "max_entries",
	"user_max_pinned_bytes", "user_max_entries",
};
static unsigned long long saved_params[MT_ARRAY_SIZE(param_names)];
static bool params_saved;

int mcx_params_save(void)
{
	for (size_t i = 0; i < MT_ARRAY_SIZE(param_names); i++) {
		int r = mcx_param_get(param_names[i], &saved_params[i]);

		if (r)
			return r;
	}
	params_saved = true;
	return 0;
}

int mcx_params_restore(void)
{
	int err = 0;

	if (!params_saved)
		return 0;
	for (size_t i = 0; i < MT_ARRAY_SIZE(param_names); i++) {
		unsigned long long cur;

		if (mcx_param_get(param_names[i], &cur) || cur == saved_params[i])
			continue;
		mt_log("restoring parameter %s: %llu -> %llu", param_names[i], cur,
		       saved_params[i]);
		if (mcx_param_set(param_names[i], saved_params[i]))
			err = -EIO;
	}
	return err;
}

void mcx_dmabuf(size_t size, struct host_dmabuf *buf)
{
	int r = host_dmabuf_create(size, buf);

	if (r == -ENOENT || r == -ENODEV || r == -ENXIO)
		mt_skip("no dma-buf exporter (udmabuf or vgem)");
	REQUIREF(r == 0, "host_dmabuf_create(%zu): %s", size, mt_errname(-r));
}

int mcx_become(uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		return -errno;
	return 0;
}

/*
 * Saved by mcx_before_each() in the harness's parent, because the tests
 * that open the device to all run in forked children.
 */
static mode_t saved_mode;
static bool mode_saved;

static void dev_mode_save(void)
{
	struct stat st;

	mode_saved = stat(MCX_DEV, &st) == 0;
	if (mode_saved)
		saved_mode = st.st_mode & 07777;
}

int mcx_dev_open_to_all(void)
{
	return chmod(MCX_DEV, 0666) ? -errno : 0;
}

int mcx_dev_mode_restore(void)
{
	struct stat st;

	if (!mode_saved || stat(MCX_DEV, &st))
		return 0;
	if ((st.st_mode & 07777) == saved_mode)
		return 0;
	return chmod(MCX_DEV, saved_mode) ? -errno : 0;
}

int mcx_next_fd(void)
{
	int fd = dup(0);

	if (fd >= 0)
		close(fd);
	return fd;
}

void *mcx_readonly_copy(const void *arg, size_t len)
{
	void *p = mmap(NULL, MCX_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || len > MCX_PAGE) {
		mt_check(false, __FILE__, __LINE__, "mmap: %s", mt_errname(errno));
		mt_abort();
	}
	memcpy(p, arg, len);
	if (mprotect(p, MCX_PAGE, PROT_READ)) {
		mt_check(false, __FILE__, __LINE__, "mprotect: %s", mt_errname(errno));
		mt_abort();
	}
	return p;
}

void *mcx_fault_page(void)
{
	static void *page;

	if (!page) {
		page = mmap(NULL, MCX_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (page == MAP_FAILED) {
			page = NULL;
			mt_check(false, __FILE__, __LINE__, "mmap: %s", mt_errname(errno));
			mt_abort();
		}
	}
	return page;
}

void *mcx_edge_bytes(size_t n)
{
	char *p = mmap(NULL, 2 * MCX_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || mprotect(p + MCX_PAGE, MCX_PAGE, PROT_NONE)) {
		mt_check(false, __FILE__, __LINE__, "mmap: %s", mt_errname(errno));
		mt_abort();
	}
	return p + MCX_PAGE - n;
}

void mcx_msleep(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int mcx_wait_until(int (*cond)(void *arg), void *arg, unsigned int timeout_ms)
{
	for (unsigned int waited = 0;; waited += 20) {
		if (cond(arg))
			return 0;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		mcx_msleep(20);
	}
}

int mcx_before_each(void)
{
	dev_mode_save();
	return mcx_params_save();
}

int mcx_after_each(void)
{
	struct mcxfer_info info;
	long long evicted;
	int bad = 0, r;

	mcx_dev_mode_restore();
	if (mcx_params_restore())
		bad = 1;
	evicted = mcx_evict_all_idle();
	if (evicted < 0) {
		mt_log("after test: EVICT idle failed: %s", mt_errname((int)-evicted));
		return 1;
	}
	r = mcx_info_global(&info);
	if (r) {
		mt_log("after test: GET_INFO failed: %s", mt_errname(-r));
		return 1;
	}
	/* Our own fd for GET_INFO is the one client allowed. */
	if (info.entries || info.bytes_pinned || info.mrs || info.entries_active ||
	    info.entries_linger || info.entries_dead || info.attachments ||
	    info.clients != 1) {
		mt_log("after test: entries %llu (active %llu linger %llu dead %llu) bytes %llu attachments %llu mrs %llu clients %llu",
		       (unsigned long long)info.entries,
		       (unsigned long long)info.entries_active,
		       (unsigned long long)info.entries_linger,
		       (unsigned long long)info.entries_dead,
		       (unsigned long long)info.bytes_pinned,
		       (unsigned long long)info.attachments,
		       (unsigned long long)info.mrs,
		       (unsigned long long)info.clients);
		bad = 1;
	}
	return bad;
}
