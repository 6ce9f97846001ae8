// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Notifications that arrived for this engine: a ring the transport's
 * progress fills and mcx_notify_poll() drains, and an eventfd that is
 * readable while the ring is not empty, for applications that sleep in
 * their own poll loop.  A full ring drops the newest and counts it: a
 * target that never reads must not grow without bound.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xfer/xfer.h"

int mcx__notify_init(struct mcx_xfer *x, uint32_t cap)
{
	pthread_mutex_init(&x->notify_lock, NULL);
	x->notes = calloc(cap, sizeof(*x->notes));
	x->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!x->notes || x->notify_fd < 0) {
		int ret = x->notes ? -errno : -ENOMEM;

		free(x->notes);
		x->notes = NULL;
		if (x->notify_fd >= 0)
			close(x->notify_fd);
		pthread_mutex_destroy(&x->notify_lock);
		return ret;
	}
	x->notify_cap = cap;
	return 0;
}

void mcx__notify_fini(struct mcx_xfer *x)
{
	free(x->notes);
	x->notes = NULL;
	if (x->notify_fd >= 0)
		close(x->notify_fd);
	x->notify_fd = -1;
	pthread_mutex_destroy(&x->notify_lock);
}

void mcx__xfer_notify(void *arg, void *path_owner, uint32_t imm)
{
	struct mcx_xfer *x = arg;
	struct mcx_path *path = path_owner;
	uint64_t one = 1;

	pthread_mutex_lock(&x->notify_lock);
	if (x->notify_n == x->notify_cap) {
		x->notify_dropped++;
		pthread_mutex_unlock(&x->notify_lock);
		return;
	}
	{
		struct mcx_xnotify *n = &x->notes[(x->notify_head + x->notify_n) % x->notify_cap];

		n->tag = imm;
		snprintf(n->from, sizeof(n->from), "%.*s", (int)sizeof(n->from) - 1,
			 path && path->peer ? path->peer->addr : "");
		x->notify_n++;
	}
	pthread_mutex_unlock(&x->notify_lock);
	if (write(x->notify_fd, &one, sizeof(one)) < 0)
		one = 0;	/* the counter is full: readable anyway */
}

int mcx__notify_poll(struct mcx_xfer *x, struct mcx_notify *out, size_t max)
{
	size_t k = 0;
	uint64_t v;

	pthread_mutex_lock(&x->notify_lock);
	while (k < max && x->notify_n) {
		const struct mcx_xnotify *n = &x->notes[x->notify_head];

		memset(&out[k], 0, sizeof(out[k]));
		out[k].tag = n->tag;
		memcpy(out[k].from, n->from, sizeof(out[k].from));
		x->notify_head = (x->notify_head + 1) % x->notify_cap;
		x->notify_n--;
		k++;
	}
	/* Empty now: the fd stops being readable until the next one. */
	if (!x->notify_n && read(x->notify_fd, &v, sizeof(v)) < 0)
		v = 0;
	pthread_mutex_unlock(&x->notify_lock);
	return (int)k;
}
