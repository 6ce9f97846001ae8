// SPDX-License-Identifier: GPL-2.0 OR MIT
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl/ctrl.h"
#include "mini_tp.h"

struct mini_mr {
	uint64_t key;
};

static int dev_tag;			/* the one device's handle */
static atomic_uint_fast64_t next_key = 0x7000;

static int mini_open(const struct mcx_tp_config *cfg, struct mcx_tp_dev **devs,
		     struct mcx_tp_dev_attr *attrs, uint32_t max, uint32_t *n)
{
	struct mcx_tp_dev_attr *a = &attrs[0];

	(void)cfg;
	if (max < 1)
		return -ENODEV;
	memset(a, 0, sizeof(*a));
	devs[0] = (struct mcx_tp_dev *)&dev_tag;
	snprintf(a->name, sizeof(a->name), "mini0");
	a->port = 1;
	a->caps = MCX_TP_CAP_RC | MCX_TP_CAP_VIRT_ADDR;
	a->fabric = MCX_TP_FABRIC_ETH;
	a->max_msg = 1U << 30;
	a->max_outstanding = 128;
	a->max_mr_size = UINT64_MAX;
	a->max_mr = 1000000;
	inet_pton(AF_INET, "10.9.0.1", &a->ipv4);
	a->ipv4_prefix = 24;
	a->addr_len = (uint32_t)snprintf((char *)a->addr, sizeof(a->addr), "mini-dev");
	*n = 1;
	return 0;
}

static void mini_close(struct mcx_tp_dev *dev)
{
	(void)dev;
}

static int mini_mr_reg(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		       struct mcx_tp_mr **out, struct mcx_tp_mr_info *info)
{
	struct mini_mr *mr = calloc(1, sizeof(*mr));

	(void)dev;
	if (!mr)
		return -ENOMEM;
	mr->key = atomic_fetch_add(&next_key, 1);
	info->rkey = req->remote ? mr->key : 0;
	info->desc = mr;
	*out = (struct mcx_tp_mr *)mr;
	return 0;
}

static void mini_mr_dereg(struct mcx_tp_mr *mr)
{
	free(mr);
}

static int mini_path_open(struct mcx_tp_dev *dev, const void *raddr, uint32_t raddr_len,
			  uint32_t flags, const void *rblob, uint32_t rblob_len, void *owner,
			  struct mcx_tp_path **out, void *blob, uint32_t *blob_len)
{
	(void)dev, (void)raddr, (void)raddr_len, (void)flags, (void)rblob;
	(void)rblob_len, (void)owner, (void)out, (void)blob, (void)blob_len;
	return -EOPNOTSUPP;	/* same-process peers only */
}

static int mini_progress(struct mcx_tp_dev *dev, int max, mcx_tp_done_fn done,
			 mcx_tp_notify_fn notify, mcx_tp_event_fn event, void *arg)
{
	(void)dev, (void)max, (void)done, (void)notify, (void)event, (void)arg;
	return 0;
}

static uint32_t mini_dev_inflight(const struct mcx_tp_dev *dev)
{
	(void)dev;
	return 0;
}

static int mini_wait_fd(const struct mcx_tp_dev *dev)
{
	(void)dev;
	return -1;
}

/* No wait fd: progress must always run (transport.h). */
static int mini_arm(struct mcx_tp_dev *dev)
{
	(void)dev;
	return -EAGAIN;
}

const struct mcx_transport_ops mini_tp_ops = {
	.name = "mini",
	.wire_id = MCX_WIRE_TRANSPORT_VERBS,
	.open = mini_open,
	.close = mini_close,
	.mr_reg = mini_mr_reg,
	.mr_dereg = mini_mr_dereg,
	.mr_destroy = mini_mr_dereg,
	.path_open = mini_path_open,
	.progress = mini_progress,
	.dev_inflight = mini_dev_inflight,
	.wait_fd = mini_wait_fd,
	.arm = mini_arm,
};
