// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The control connection's sockets: connecting with a deadline, sending a
 * whole message before a deadline, and reading messages from a
 * non-blocking socket without trusting the sender for sizes or time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctrl/ctrl.h"

uint64_t mcx__now_ms(void)
{
	return mcx__now_ns() / 1000000ULL;
}

void mcx__sock_tune(int fd)
{
	int one = 1;

	/* Small request/reply exchanges: do not let Nagle hold them back. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

int mcx__send_all(int fd, const void *buf, size_t len, uint64_t deadline)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE ? -ECONNRESET : -errno;
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			uint64_t now = mcx__now_ms();
			int r;

			if (now >= deadline)
				return -ETIMEDOUT;
			r = poll(&pfd, 1, (int)(deadline - now));
			if (r > 0 || (r < 0 && errno != EINTR))
				break;
		}
	}
	return 0;
}

void mcx__reader_reset(struct mcx_msg_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->got = 0;
	r->started = 0;
}

int mcx__reader_step(int fd, struct mcx_msg_reader *r)
{
	for (;;) {
		uint8_t *dst;
		size_t want;
		ssize_t n;

		if (r->got < MCX_WIRE_HDR_LEN) {
			dst = r->hdr + r->got;
			want = MCX_WIRE_HDR_LEN - r->got;
		} else {
			dst = r->buf + r->got;
			want = r->h.len - r->got;
		}
		n = recv(fd, dst, want, MSG_DONTWAIT);
		if (n == 0)
			return r->got ? -ECONNRESET : -ENOTCONN;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		r->last = mcx__now_ms();
		if (!r->got)
			r->started = r->last;
		r->got += (size_t)n;
		if (r->got == MCX_WIRE_HDR_LEN && !r->buf) {
			int ret = mcx__wire_parse_header(r->hdr, MCX_WIRE_HDR_LEN,
							 r->max, &r->h);

			if (ret)
				return ret;
			r->buf = malloc(r->h.len);
			if (!r->buf)
				return -ENOMEM;
			memcpy(r->buf, r->hdr, MCX_WIRE_HDR_LEN);
		}
		if (r->buf && r->got == r->h.len)
			return 1;
	}
}

int mcx__tcp_connect(const char *host, uint16_t port, uint32_t timeout_ms)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	uint64_t deadline = mcx__now_ms() + timeout_ms;
	struct addrinfo *res, *ai;
	char service[8];
	int ret, fd = -1;

	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(host, service, &hints, &res);
	if (ret) {
		mcx__err("peer %s:%u: cannot resolve: %s", host, port, gai_strerror(ret));
		return ret == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	}
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t sl = sizeof(int);
		int soerr = 0;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			ret = -errno;
			goto next;
		}
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		for (;;) {
			uint64_t now = mcx__now_ms();
			int r;

			if (now >= deadline) {
				ret = -ETIMEDOUT;
				goto next;
			}
			r = poll(&pfd, 1, (int)(deadline - now));
			if (r > 0)
				break;
			if (r < 0 && errno != EINTR) {
				ret = -errno;
				goto next;
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
			break;
		ret = soerr ? -soerr : -ECONNREFUSED;
next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return ret;
	mcx__sock_tune(fd);
	return fd;
}

