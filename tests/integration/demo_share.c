// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * demo_share: two processes share one buffer through the mcxfer registry.
 *
 *   demo_share owner NAME SIZE   make a host dma-buf of SIZE bytes (K/M/G
 *                                suffixes allowed), fill it with a pattern,
 *                                pin it as NAME (shared with everybody), print
 *                                its id and dma-buf inode, and hold it until
 *                                stdin closes or SIGINT/SIGTERM arrives
 *   demo_share peer NAME         look NAME up, take a reference and a dma-buf
 *                                fd of it, map it, check the pattern, print
 *                                the inode (the same file as the owner's),
 *                                drop the reference and exit
 *
 * The peer never sees the owner's fd or memory: it finds the buffer by name
 * alone, which is what a process that never touched the GPU does.
 *
 * Exit status: 0 done (pattern intact), 1 failure, 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/dma-buf.h>

#include "mcxfer.h"
#include "common/host_dmabuf.h"
#include "common/parse.h"

#define EXIT_FAIL	1
#define EXIT_USAGE	2

static const char name_rule[] =
	"names are 1..63 characters of [A-Za-z0-9._/:-], not starting with '/' or '.'";

static const char *name_hint(int err)
{
	return err == -EINVAL || err == -ENAMETOOLONG ? name_rule : "";
}

/* The value of the 64-bit word at byte offset off: a function of off alone. */
static uint64_t pattern(uint64_t off)
{
	return (off / 8) * 0x9E3779B97F4A7C15ULL ^ 0x6d63786665720000ULL;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* Bracket CPU access so that the exporter keeps caches coherent. */
static int dmabuf_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };

	return ioctl(fd, DMA_BUF_IOCTL_SYNC, &s) ? -errno : 0;
}

static const char *state_name(uint32_t state)
{
	switch (state) {
	case MCX_REG_ACTIVE: return "active";
	case MCX_REG_LINGER: return "lingering";
	case MCX_REG_DEAD: return "dead";
	}
	return "unknown";
}

static int fill(int fd, size_t size)
{
	uint64_t *p;
	int ret;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "owner: mmap of the dma-buf: %s\n", strerror(errno));
		return -errno;
	}
	ret = dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
	for (size_t i = 0; !ret && i < size / 8; i++)
		p[i] = pattern(i * 8);
	if (!ret)
		ret = dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
	munmap(p, size);
	if (ret)
		fprintf(stderr, "owner: DMA_BUF_IOCTL_SYNC: %s\n", strerror(-ret));
	return ret;
}

static void print_event(const struct mcx_reg_event *ev)
{
	static const char *const what[] = {
		[MCX_REG_EVENT_INVALIDATED] = "invalidated by its exporter",
		[MCX_REG_EVENT_DEVICE_REMOVED] = "its RDMA device was removed",
		[MCX_REG_EVENT_MR_REMOVED] = "a published MR was dropped",
		[MCX_REG_EVENT_OVERFLOW] = "events were lost",
	};
	const char *w = ev->type < sizeof(what) / sizeof(what[0]) && what[ev->type] ?
			what[ev->type] : "unknown event";

	printf("owner: event on entry %" PRIu64 ": %s\n", ev->id, w);
}

/* Hold until stdin reaches end of file or a signal arrives. */
static void wait_for_release(struct mcx_registry *reg)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct pollfd pfd[2];

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	pfd[0] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = mcx_registry_event_fd(reg), .events = POLLIN };
	while (!stop_signal) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "owner: poll: %s\n", strerror(errno));
			return;
		}
		if (pfd[1].revents & POLLIN) {
			struct mcx_reg_event ev;

			if (mcx_registry_read_event(reg, &ev, 0) == 1)
				print_event(&ev);
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[256];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
				printf("owner: stdin closed\n");
				return;
			}
		}
	}
	printf("owner: got signal %d\n", (int)stop_signal);
}

static int cmd_owner(const char *name, const char *size_arg)
{
	struct mcx_registry *reg = NULL;
	struct host_dmabuf buf;
	uint64_t size, id;
	struct stat st;
	int ret, hit;

	ret = parse_size_arg(size_arg, 1, 1ULL << 30, &size);
	if (ret) {
		fprintf(stderr, "demo_share: SIZE '%s': expected 1 byte to 1G, e.g. 4096, 64K or 16M\n",
			size_arg);
		return EXIT_USAGE;
	}
	ret = host_dmabuf_create((size_t)size, &buf);
	if (ret) {
		fprintf(stderr, "owner: cannot create a host dma-buf (udmabuf or vgem): %s\n",
			strerror(-ret));
		return EXIT_FAIL;
	}
	size = buf.size;	/* rounded up to whole pages */
	if (fill(buf.fd, buf.size))
		goto fail;
	if (fstat(buf.fd, &st)) {
		fprintf(stderr, "owner: fstat: %s\n", strerror(errno));
		goto fail;
	}
	ret = mcx_registry_open(&reg);
	if (ret) {
		fprintf(stderr, "owner: cannot open the registry: %s\n", mcx_strerror(ret));
		goto fail;
	}
	ret = mcx_registry_pin(reg, buf.fd, 0, size, name, NULL, MCX_SHARE_ALL, 0, &id, &hit);
	if (ret) {
		fprintf(stderr, "owner: pin '%s': %s%s%s\n", name, mcx_strerror(ret),
			*name_hint(ret) ? "; " : "", name_hint(ret));
		goto fail;
	}
	printf("owner: made a %" PRIu64 "-byte %s dma-buf and filled it with the pattern\n",
	       size, buf.exporter);
	printf("owner: pinned '%s': id=%" PRIu64 " bytes=%" PRIu64 " dmabuf_inode=%lu %s\n", name,
	       id, size, (unsigned long)st.st_ino, hit ? "(cache hit)" : "(new entry)");
	printf("owner: holding it; close stdin or send SIGINT/SIGTERM to release\n");
	fflush(stdout);
	wait_for_release(reg);
	ret = mcx_registry_unpin(reg, id);
	if (ret) {
		fprintf(stderr, "owner: unpin: %s\n", mcx_strerror(ret));
		goto fail;
	}
	printf("owner: released '%s'\n", name);
	mcx_registry_close(reg);
	host_dmabuf_destroy(&buf);
	return 0;
fail:
	mcx_registry_close(reg);
	host_dmabuf_destroy(&buf);
	return EXIT_FAIL;
}

static int verify(int fd, const struct mcx_reg_lookup *l, uint64_t *checked)
{
	uint64_t start = l->offset & ~7ULL, end = (l->offset + l->length) & ~7ULL;
	const uint64_t *p;
	int ret, bad = 0;

	p = mmap(NULL, l->dmabuf_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "peer: mmap of the exported dma-buf: %s\n", strerror(errno));
		return -1;
	}
	ret = dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	if (ret)
		fprintf(stderr, "peer: DMA_BUF_IOCTL_SYNC: %s\n", strerror(-ret));
	for (uint64_t off = start; !ret && off < end; off += 8) {
		if (p[off / 8] != pattern(off)) {
			fprintf(stderr, "peer: pattern mismatch at byte %" PRIu64 ": %#" PRIx64
				", expected %#" PRIx64 "\n", off, p[off / 8], pattern(off));
			bad = 1;
			break;
		}
	}
	if (!ret)
		dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
	munmap((void *)p, l->dmabuf_size);
	*checked = end - start;
	return ret || bad ? -1 : 0;
}

static int cmd_peer(const char *name)
{
	struct mcx_registry *reg = NULL;
	struct mcx_reg_lookup l;
	uint64_t checked = 0;
	int ret, status = EXIT_FAIL;
	struct stat st;

	ret = mcx_registry_open(&reg);
	if (ret) {
		fprintf(stderr, "peer: cannot open the registry: %s\n", mcx_strerror(ret));
		return EXIT_FAIL;
	}
	ret = mcx_registry_lookup(reg, name, 0, MCX_LOOKUP_REF | MCX_LOOKUP_EXPORT_FD, &l);
	if (ret) {
		fprintf(stderr, "peer: lookup '%s': %s%s%s\n", name, mcx_strerror(ret),
			*name_hint(ret) ? "; " : "", name_hint(ret));
		mcx_registry_close(reg);
		return EXIT_FAIL;
	}
	if (fstat(l.fd, &st)) {
		fprintf(stderr, "peer: fstat of the exported fd: %s\n", strerror(errno));
		goto out;
	}
	printf("peer: found '%s': id=%" PRIu64 " offset=%" PRIu64 " bytes=%" PRIu64
	       " owner_uid=%" PRIu32 " state=%s dmabuf_inode=%lu\n", name, l.id, l.offset,
	       l.length, l.owner_uid, state_name(l.state), (unsigned long)st.st_ino);
	if (verify(l.fd, &l, &checked))
		goto out;
	printf("peer: pattern ok (%" PRIu64 " bytes checked through the exported fd)\n", checked);
	status = 0;
out:
	close(l.fd);
	ret = mcx_registry_unpin(reg, l.id);
	if (ret) {
		fprintf(stderr, "peer: unpin: %s\n", mcx_strerror(ret));
		status = EXIT_FAIL;
	} else {
		printf("peer: dropped its reference on '%s'\n", name);
	}
	mcx_registry_close(reg);
	return status;
}

static int usage(FILE *f)
{
	fprintf(f, "usage: demo_share owner NAME SIZE\n"
		   "       demo_share peer NAME\n");
	return f == stdout ? 0 : EXIT_USAGE;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return usage(stdout);
	if (argc == 4 && !strcmp(argv[1], "owner"))
		return cmd_owner(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "peer"))
		return cmd_peer(argv[2]);
	return usage(stderr);
}
