// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The context and PD of one RDMA device: this engine's own, or the user's
 * shared one that /dev/mcxfer keeps (struct mcx_tp_share), made here and
 * published, or another engine's and imported.
 *
 * Only providers with context import (mlx5) can share: ibv_import_device()
 * makes a provider context on the shared command file, ibv_import_pd() and
 * ibv_import_mr() give objects for handles that live in it.  Everywhere
 * else ibv_import_device() fails with EOPNOTSUPP and the engine keeps a
 * private context.
 *
 * Why a private context, and not an "adopted" one, for providers without
 * import (rxe, siw, EFA): one could open the device normally, point the
 * context's cmd_fd at the shared file (and its async_fd at none: rdma-core
 * names it as the event file of new CQs and QPs, and uverbs refuses another
 * file's fd with EBADF) and build an ibv_pd for the shared PD's handle,
 * since rxe's context and PD keep nothing else and rdma-core sends its
 * commands by ioctl.  QPs made so do live in the shared PD, so peers reach
 * the first engine's MRs through them.  But rxe rings its send doorbell
 * with a plain write() of IB_USER_VERBS_CMD_POST_SEND on cmd_fd
 * (providers/rxe/rxe.c, post_send_db), and uverbs refuses write() from any
 * task whose credentials are not the opener's (ib_uverbs_write() and
 * ib_safe_file_access(): f_cred == current_cred(), which another process
 * never has, even of the same uid): such a QP can be a target but can
 * never send (EACCES).  tests/integration/adopt_spike.c shows both on
 * soft-RoCE.
 *
 * Asynchronous events: port and device events reach every async event
 * file of a device, so an imported context still reports them on its own
 * async fd (ibv_import_device() allocates one).  Events about single
 * objects (a QP or CQ error) go to the async file the shared context was
 * created with, the publisher's, and are lost to an importer: its paths
 * learn of such failures from completions in error instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "transport/verbs/verbs.h"

#ifndef MCX_HAVE_IBV_IMPORT_MR
static struct ibv_context *no_import_device(int cmd_fd)
{
	(void)cmd_fd;
	errno = EOPNOTSUPP;
	return NULL;
}

static struct ibv_pd *no_import_pd(struct ibv_context *ctx, uint32_t handle)
{
	(void)ctx;
	(void)handle;
	errno = EOPNOTSUPP;
	return NULL;
}

static void no_unimport_pd(struct ibv_pd *pd)
{
	(void)pd;
}

static struct ibv_mr *no_import_mr(struct ibv_pd *pd, uint32_t handle)
{
	(void)pd;
	(void)handle;
	errno = EOPNOTSUPP;
	return NULL;
}

static void no_unimport_mr(struct ibv_mr *mr)
{
	(void)mr;
}
#endif

const struct mcx_verbs_calls mcx__verbs_real_calls = {
	.open_device = ibv_open_device,
	.close_device = ibv_close_device,
	.alloc_pd = ibv_alloc_pd,
	.dealloc_pd = ibv_dealloc_pd,
#ifdef MCX_HAVE_IBV_IMPORT_MR
	.import_device = ibv_import_device,
	.import_pd = ibv_import_pd,
	.unimport_pd = ibv_unimport_pd,
	.import_mr = ibv_import_mr,
	.unimport_mr = ibv_unimport_mr,
#else
	.import_device = no_import_device,
	.import_pd = no_import_pd,
	.unimport_pd = no_unimport_pd,
	.import_mr = no_import_mr,
	.unimport_mr = no_unimport_mr,
#endif
	.dereg_mr = ibv_dereg_mr,
};

static int err_or(int fallback)
{
	return errno ? -errno : fallback;
}

static int open_private(const struct mcx_verbs_calls *calls, struct ibv_device *dev,
			const char *name, struct mcx_vctx *out)
{
	int ret;

	errno = 0;
	out->ctx = calls->open_device(dev);
	if (!out->ctx) {
		ret = err_or(-ENODEV);
		mcx__err("%s: ibv_open_device: %s", name, strerror(-ret));
		return ret;
	}
	errno = 0;
	out->pd = calls->alloc_pd(out->ctx);
	if (!out->pd) {
		ret = err_or(-ENOMEM);
		mcx__err("%s: ibv_alloc_pd: %s", name, strerror(-ret));
		calls->close_device(out->ctx);
		out->ctx = NULL;
		return ret;
	}
	out->state = MCX_TP_SHARE_PRIVATE;
	return 0;
}

/*
 * Import the shared context cmd_fd (ours to close) with its PD.  0, or
 * -errno with cmd_fd closed.
 */
static int import_shared(const struct mcx_verbs_calls *calls, int cmd_fd, uint32_t pd_handle,
			 struct mcx_vctx *out)
{
	int ret;

	errno = 0;
	out->ctx = calls->import_device(cmd_fd);
	if (!out->ctx) {
		ret = err_or(-EIO);
		/*
		 * libibverbs fails with these before the provider sees the fd
		 * (fstat, device lookup, no import_context); past that point
		 * the provider's context owned it and closed it on the way out.
		 */
		if (ret == -EOPNOTSUPP || ret == -ENODEV || ret == -EINVAL)
			close(cmd_fd);
		return ret;
	}
	errno = 0;
	out->pd = calls->import_pd(out->ctx, pd_handle);
	if (!out->pd) {
		ret = err_or(-EIO);
		calls->close_device(out->ctx);	/* closes cmd_fd too */
		out->ctx = NULL;
		return ret;
	}
	out->state = MCX_TP_SHARE_IMPORTED;
	return 0;
}

int mcx__verbs_ctx_open(const struct mcx_verbs_calls *calls, const struct mcx_tp_share *share,
			struct ibv_device *dev, const char *name, struct mcx_vctx *out)
{
	bool retried = false;
	uint32_t pd_handle;
	int ret, fd;

	out->calls = calls;
	out->ctx = NULL;
	out->pd = NULL;
	out->state = MCX_TP_SHARE_PRIVATE;
	if (!share)
		return open_private(calls, dev, name, out);
again:
	fd = -1;
	ret = share->get(share->arg, name, &fd, &pd_handle);
	if (!ret) {
		ret = import_shared(calls, fd, pd_handle, out);
		if (!ret) {
			mcx__info("%s: using the shared device context (imported)", name);
			return 0;
		}
		if (ret == -EOPNOTSUPP)
			mcx__info("%s: the provider cannot import a device context (ibv_import_device: %s); private context, memory is registered here",
				  name, strerror(-ret));
		else
			mcx__warn("%s: importing the shared device context failed (%s); private context, memory is registered here",
				  name, strerror(-ret));
		/* The user's shared context exists: there is nothing to publish. */
		return open_private(calls, dev, name, out);
	}
	if (ret != -ENOENT) {
		mcx__warn("%s: cannot get the shared device context (%s); private context",
			  name, mcx_strerror(ret));
		return open_private(calls, dev, name, out);
	}
	ret = open_private(calls, dev, name, out);
	if (ret)
		return ret;
	ret = share->publish(share->arg, out->ctx->cmd_fd, out->pd->handle);
	if (!ret) {
		out->state = MCX_TP_SHARE_PUBLISHED;
		mcx__info("%s: device context published as this user's shared one", name);
		return 0;
	}
	if (ret == -EEXIST && !retried) {
		/* Another engine published first: use its context instead. */
		retried = true;
		mcx__verbs_ctx_close(out);
		goto again;
	}
	mcx__warn("%s: publishing the device context failed (%s); private context",
		  name, mcx_strerror(ret));
	return 0;
}

void mcx__verbs_ctx_close(struct mcx_vctx *c)
{
	if (!c->ctx)
		return;
	if (c->pd) {
		/*
		 * A shared PD stays: the MRs published in it and the other
		 * engines' objects live there, and the kernel frees it with
		 * the context's last file.  Unimport only frees our copy.
		 */
		if (c->state == MCX_TP_SHARE_PRIVATE)
			c->calls->dealloc_pd(c->pd);
		else
			c->calls->unimport_pd(c->pd);
	}
	c->calls->close_device(c->ctx);
	c->ctx = NULL;
	c->pd = NULL;
}
