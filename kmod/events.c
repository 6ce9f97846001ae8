// SPDX-License-Identifier: GPL-2.0
/*
 * Per-client event queue: read() and poll() on /dev/mcxfer.
 *
 * The queue is a fixed ring of MCX_EVENT_QUEUE_LEN records per open file, so
 * a client that never reads costs nothing more.  When it is full the oldest
 * record is dropped and the client is marked; the next read() then returns
 * an MCXFER_EVENT_OVERFLOW record before the remaining ones, so the reader
 * learns that events were lost before it sees the newer ones.
 */

#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "internal.h"

void mcx_client_event(struct mcx_client *c, u32 type, u64 id, u64 mr_id)
{
	struct mcxfer_event *ev;

	spin_lock(&c->ev_lock);
	if (c->ev_count == MCX_EVENT_QUEUE_LEN) {
		c->ev_head = (c->ev_head + 1) % MCX_EVENT_QUEUE_LEN;
		c->ev_count--;
		c->ev_lost = true;
	}
	ev = &c->ev[(c->ev_head + c->ev_count) % MCX_EVENT_QUEUE_LEN];
	memset(ev, 0, sizeof(*ev));
	ev->size = sizeof(*ev);
	ev->type = type;
	ev->id = id;
	ev->mr_id = mr_id;
	c->ev_count++;
	spin_unlock(&c->ev_lock);
	wake_up_interruptible(&c->ev_wait);
}

bool mcx_client_pop_event(struct mcx_client *c, struct mcxfer_event *ev)
{
	bool ret = true;

	spin_lock(&c->ev_lock);
	if (c->ev_lost) {
		memset(ev, 0, sizeof(*ev));
		ev->size = sizeof(*ev);
		ev->type = MCXFER_EVENT_OVERFLOW;
		c->ev_lost = false;
	} else if (c->ev_count) {
		*ev = c->ev[c->ev_head];
		c->ev_head = (c->ev_head + 1) % MCX_EVENT_QUEUE_LEN;
		c->ev_count--;
	} else {
		ret = false;
	}
	spin_unlock(&c->ev_lock);
	return ret;
}

bool mcx_client_has_events(struct mcx_client *c)
{
	bool ret;

	spin_lock(&c->ev_lock);
	ret = c->ev_lost || c->ev_count;
	spin_unlock(&c->ev_lock);
	return ret;
}

/*
 * Returns as many whole records as fit in count (at least one; a buffer
 * smaller than one record is -EINVAL).  Blocks until one is queued unless
 * the file is non-blocking.
 */
ssize_t mcx_read(struct file *file, char __user *buf, size_t count,
		 loff_t *ppos)
{
	struct mcx_client *c = file->private_data;
	struct mcxfer_event ev;
	ssize_t done = 0;
	int ret;

	if (count < sizeof(ev))
		return -EINVAL;
	while (!mcx_client_has_events(c)) {
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(c->ev_wait,
					       mcx_client_has_events(c));
		if (ret)
			return ret;
	}
	while (count - done >= sizeof(ev) && mcx_client_pop_event(c, &ev)) {
		if (copy_to_user(buf + done, &ev, sizeof(ev)))
			return done ? done : -EFAULT;
		done += sizeof(ev);
	}
	return done;
}

__poll_t mcx_poll(struct file *file, struct poll_table_struct *wait)
{
	struct mcx_client *c = file->private_data;

	poll_wait(file, &c->ev_wait, wait);
	return mcx_client_has_events(c) ? EPOLLIN | EPOLLRDNORM : 0;
}
