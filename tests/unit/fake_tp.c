// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The transport without hardware of fake_tp.h.  Only what registrations
 * and the handshake use does anything; posting and progress report that
 * nothing is there.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_tp.h"
#include "ctrl/wire.h"
#include "harness.h"

struct fake_mr {
	struct fake_dev *dev;
	bool remote;
	bool shared;		/* imported, or its handles were taken */
	uint32_t handle;
	uint64_t rkey;
};

struct fake_path {
	struct fake_dev *dev;
	uint32_t flags;
	bool connected;
};

#define FAKE_BLOB	"fake-path-blob"

static struct fake_dev *fdev(struct mcx_tp_dev *dev)
{
	return (struct fake_dev *)dev;
}

static int fake_open(const struct mcx_tp_config *cfg, struct mcx_tp_dev **devs,
		     struct mcx_tp_dev_attr *attrs, uint32_t max, uint32_t *n)
{
	/* fake_tp_setup() fills the devices; opening through ops finds none. */
	(void)cfg;
	(void)devs;
	(void)attrs;
	(void)max;
	*n = 0;
	return -ENODEV;
}

static void fake_close(struct mcx_tp_dev *dev)
{
	(void)dev;
}

static int fake_mr_reg(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		       struct mcx_tp_mr **out, struct mcx_tp_mr_info *info)
{
	struct fake_tp *t = fdev(dev)->tp;
	struct fake_mr *mr = calloc(1, sizeof(*mr));

	if (!mr)
		return -ENOMEM;
	mr->dev = fdev(dev);
	mr->remote = req->remote;
	pthread_mutex_lock(&t->lock);
	/* A refused kind fails before the nth-call injection counts it. */
	if (req->dmabuf_fd < 0 ? t->host_reg_err : t->dmabuf_reg_err) {
		int err = req->dmabuf_fd < 0 ? t->host_reg_err : t->dmabuf_reg_err;

		pthread_mutex_unlock(&t->lock);
		free(mr);
		return err;
	}
	if (t->mr_reg_fail_at > 0 && --t->mr_reg_fail_at == 0) {
		pthread_mutex_unlock(&t->lock);
		free(mr);
		return -EIO;
	}
	mr->handle = ++t->next_handle;
	t->mr_regs++;
	if (req->dmabuf_fd >= 0)
		t->mr_dmabuf++;
	t->last_iova = req->iova;
	if (req->remote)
		t->mr_remote++;
	else
		t->mr_local++;
	/* As the interface says: a key only where peers may use it. */
	info->rkey = req->remote ? ++t->next_key : 0;
	mr->rkey = info->rkey;
	pthread_mutex_unlock(&t->lock);
	info->desc = mr;
	*out = (struct mcx_tp_mr *)mr;
	return 0;
}

static void fake_mr_dereg(struct mcx_tp_mr *m)
{
	struct fake_mr *mr = (struct fake_mr *)m;
	struct fake_tp *t = mr->dev->tp;

	pthread_mutex_lock(&t->lock);
	if (mr->shared)
		t->mr_letgo++;
	else
		t->mr_deregs++;
	pthread_mutex_unlock(&t->lock);
	free(mr);
}

static void fake_mr_destroy(struct mcx_tp_mr *m)
{
	struct fake_mr *mr = (struct fake_mr *)m;
	struct fake_tp *t = mr->dev->tp;

	pthread_mutex_lock(&t->lock);
	t->mr_destroys++;
	pthread_mutex_unlock(&t->lock);
	free(mr);
}

static int fake_mr_handle(struct mcx_tp_mr *m, struct mcx_tp_mr_handle *out)
{
	struct fake_mr *mr = (struct fake_mr *)m;
	struct fake_tp *t = mr->dev->tp;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&t->lock);
	t->mr_handles++;
	pthread_mutex_unlock(&t->lock);
	mr->shared = true;
	out->cmd_fd = t->ctx_fd;
	out->pd_handle = 1;
	out->mr_handle = mr->handle;
	out->lkey = mr->handle;
	out->rkey = (uint32_t)mr->rkey;
	out->access = mr->remote ? 7 : 1;
	/* The caller fills iova and len from what it registered: the fake
	 * does not keep them. */
	return 0;
}

static int fake_mr_import(struct mcx_tp_dev *dev, const struct mcx_tp_mr_handle *h,
			  bool remote, struct mcx_tp_mr **out, struct mcx_tp_mr_info *info)
{
	struct fake_tp *t = fdev(dev)->tp;
	struct fake_mr *mr;

	pthread_mutex_lock(&t->lock);
	if (t->mr_import_fail_at > 0 && --t->mr_import_fail_at == 0) {
		pthread_mutex_unlock(&t->lock);
		return -EINVAL;
	}
	t->mr_imports++;
	pthread_mutex_unlock(&t->lock);
	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return -ENOMEM;
	mr->dev = fdev(dev);
	mr->remote = remote;
	mr->shared = true;
	mr->handle = h->mr_handle;
	mr->rkey = remote ? h->rkey : 0;
	info->rkey = mr->rkey;
	/* A context joined without import: peers reach it, local posts do not. */
	info->desc = t->share == MCX_TP_SHARE_TARGET ? NULL : mr;
	*out = (struct mcx_tp_mr *)mr;
	return 0;
}

static int fake_mr_destroy_handle(struct mcx_tp_dev *dev, uint32_t mr_handle)
{
	struct fake_tp *t = fdev(dev)->tp;

	(void)mr_handle;
	pthread_mutex_lock(&t->lock);
	t->mr_destroy_handles++;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static int fake_path_open(struct mcx_tp_dev *dev, const void *raddr, uint32_t raddr_len,
			  uint32_t flags, const void *rblob, uint32_t rblob_len, void *owner,
			  struct mcx_tp_path **out, void *blob, uint32_t *blob_len)
{
	struct fake_tp *t = fdev(dev)->tp;
	struct fake_path *p;
	int err;

	(void)owner;
	if (!raddr || raddr_len == 0 || raddr_len > MCX_TP_ADDR_MAX)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	/* A kernel call that sleeps: the test decides when it returns. */
	if (t->hold) {
		t->held++;
		pthread_cond_broadcast(&t->cond);
		while (t->hold)
			pthread_cond_wait(&t->cond, &t->lock);
		t->held--;
	}
	err = t->path_open_err;
	pthread_mutex_unlock(&t->lock);
	if (err)
		return err;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->dev = fdev(dev);
	p->flags = flags;
	p->connected = rblob && rblob_len;
	memcpy(blob, FAKE_BLOB, sizeof(FAKE_BLOB));
	*blob_len = sizeof(FAKE_BLOB);
	pthread_mutex_lock(&t->lock);
	t->path_opens++;
	t->path_targets += !!(flags & MCX_TP_PATH_TARGET);
	t->paths_live++;
	pthread_mutex_unlock(&t->lock);
	*out = (struct mcx_tp_path *)p;
	return 0;
}

static int fake_path_connect(struct mcx_tp_path *path, const void *rblob, uint32_t rblob_len)
{
	struct fake_path *p = (struct fake_path *)path;
	struct fake_tp *t = p->dev->tp;

	if (rblob_len != sizeof(FAKE_BLOB) || memcmp(rblob, FAKE_BLOB, rblob_len))
		return -EINVAL;
	p->connected = true;
	pthread_mutex_lock(&t->lock);
	t->path_connects++;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void fake_path_stop(struct mcx_tp_path *path)
{
	(void)path;
}

static uint32_t fake_path_inflight(const struct mcx_tp_path *path)
{
	(void)path;
	return 0;
}

static void fake_path_close(struct mcx_tp_path *path, void (*unreaped)(void *arg, void *ctx),
			    void *arg)
{
	struct fake_path *p = (struct fake_path *)path;
	struct fake_tp *t = p->dev->tp;

	(void)unreaped;
	(void)arg;
	pthread_mutex_lock(&t->lock);
	t->path_closes++;
	t->paths_live--;
	pthread_mutex_unlock(&t->lock);
	free(p);
}

static int fake_post(struct mcx_tp_path *path, const struct mcx_tp_op *ops, uint32_t n)
{
	(void)path;
	(void)ops;
	(void)n;
	return -EIO;	/* nothing here moves data */
}

static int fake_progress(struct mcx_tp_dev *dev, int max, mcx_tp_done_fn done,
			 mcx_tp_notify_fn notify, mcx_tp_event_fn event, void *arg)
{
	(void)dev;
	(void)max;
	(void)done;
	(void)notify;
	(void)event;
	(void)arg;
	return 0;
}

static uint32_t fake_dev_inflight(const struct mcx_tp_dev *dev)
{
	(void)dev;
	return 0;
}

static int fake_wait_fd(const struct mcx_tp_dev *dev)
{
	(void)dev;
	return -1;
}

static int fake_arm(struct mcx_tp_dev *dev)
{
	(void)dev;
	return -EAGAIN;
}

const struct mcx_transport_ops fake_tp_ops = {
	.name = "fake",
	/* What the raw clients of the tests put in their HELLOs. */
	.wire_id = MCX_WIRE_TRANSPORT_VERBS,
	.open = fake_open,
	.close = fake_close,
	.mr_reg = fake_mr_reg,
	.mr_dereg = fake_mr_dereg,
	.mr_destroy = fake_mr_destroy,
	.mr_handle = fake_mr_handle,
	.mr_import = fake_mr_import,
	.mr_destroy_handle = fake_mr_destroy_handle,
	.path_open = fake_path_open,
	.path_connect = fake_path_connect,
	.path_stop = fake_path_stop,
	.path_inflight = fake_path_inflight,
	.path_close = fake_path_close,
	.post = fake_post,
	.progress = fake_progress,
	.dev_inflight = fake_dev_inflight,
	.wait_fd = fake_wait_fd,
	.arm = fake_arm,
};

void fake_tp_setup(struct fake_tp *t, struct mcx_devs *devs, uint32_t ndevs)
{
	pthread_condattr_t ca;

	memset(t, 0, sizeof(*t));
	memset(devs, 0, sizeof(*devs));
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	t->next_key = 0x5000;
	devs->ops = &fake_tp_ops;
	devs->n = ndevs;
	for (uint32_t i = 0; i < ndevs; i++) {
		struct mcx_tp_dev_attr *a = &devs->attr[i];
		char ip[32];

		t->dev[i].tp = t;
		t->dev[i].index = i;
		devs->dev[i] = (struct mcx_tp_dev *)&t->dev[i];
		snprintf(a->name, sizeof(a->name), "fake%u", i);
		a->port = 1;
		a->caps = MCX_TP_CAP_RC | MCX_TP_CAP_WRITE_IMM | MCX_TP_CAP_VIRT_ADDR;
		a->fabric = MCX_TP_FABRIC_ETH;
		a->max_msg = 1U << 30;
		a->max_outstanding = 128;
		a->max_mr_size = UINT64_MAX;
		a->max_mr = 1000000;
		snprintf(ip, sizeof(ip), "10.0.0.%u", i + 1);
		inet_pton(AF_INET, ip, &a->ipv4);
		a->ipv4_prefix = 24;
		a->addr_len = (uint32_t)snprintf((char *)a->addr, sizeof(a->addr), "%s%u",
						 FAKE_TP_ADDR_TAG, i);
		pthread_mutex_init(&devs->progress_lock[i], NULL);
	}
}

void fake_tp_teardown(struct fake_tp *t, struct mcx_devs *devs)
{
	for (uint32_t i = 0; i < devs->n; i++)
		pthread_mutex_destroy(&devs->progress_lock[i]);
	devs->n = 0;
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
}

void fake_tp_share(struct fake_tp *t, struct mcx_devs *devs, uint32_t state)
{
	t->share = state;
	for (uint32_t i = 0; i < devs->n; i++)
		devs->attr[i].share = state;
}

void fake_tp_hold(struct fake_tp *t, bool hold)
{
	pthread_mutex_lock(&t->lock);
	t->hold = hold;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

void fake_tp_wait_held(struct fake_tp *t, uint32_t n)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&t->lock);
	while (t->held < n && r == 0)
		r = pthread_cond_timedwait(&t->cond, &t->lock, &ts);
	r = t->held >= n;
	pthread_mutex_unlock(&t->lock);
	if (!r)
		harness_fail(__FILE__, __LINE__, "path_open was not called %u time(s)", n);
}

uint32_t fake_tp_get(struct fake_tp *t, const uint32_t *field)
{
	uint32_t v;

	pthread_mutex_lock(&t->lock);
	v = *field;
	pthread_mutex_unlock(&t->lock);
	return v;
}
