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
 * Providers without import (rxe, siw, EFA) cannot make a provider context
 * on the shared file.  One of them, allowlisted by kernel driver
 * (mcx__verbs_can_join), still *joins* it for serving
 * (MCX_TP_SHARE_TARGET): a second context of the device is opened
 * normally, its cmd_fd pointed at the shared file and its async_fd at none
 * (rdma-core names the context's async fd as the event file of each new CQ
 * and QP, and uverbs refuses a fd of another file with EBADF), and an
 * ibv_pd is built for the shared PD's handle.  The target QPs made there
 * live in the shared PD, so peers reach every MR published in it with its
 * rkey; nothing needs registering.  What such a context can never do is
 * send: rxe rings its send doorbell with a plain write() of
 * IB_USER_VERBS_CMD_POST_SEND on cmd_fd (providers/rxe/rxe.c,
 * post_send_db), and uverbs refuses write() from any task whose
 * credentials are not the opener's (ib_uverbs_write(),
 * ib_safe_file_access(): f_cred == current_cred(), which another process
 * never has, even of the same uid).  So everything that posts (initiator
 * paths, their CQ, the MRs local posts name) stays in a private context
 * next to it.  tests/integration/adopt_spike.c shows both on soft-RoCE.
 *
 * Asynchronous events: port and device events reach every async event
 * file of a device, so an imported context still reports them on its own
 * async fd (ibv_import_device() allocates one).  Events about single
 * objects (a QP or CQ error) go to the async file the shared context was
 * created with, the publisher's, and are lost to an importer: its paths
 * learn of such failures from completions in error instead.  A joined
 * context has no async fd at all: errors of its target QPs show only as
 * receives completing in error (or not at all: the peer's side fails and
 * reconnects), and port and device events arrive on the private context's
 * async fd, which progress() reads as before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ibv_reg_mr_iova() is a function; ibv_reg_mr() is a macro around it. */
static struct ibv_mr *real_reg_mr(struct ibv_pd *pd, void *addr, size_t len, uint64_t iova,
				  int access)
{
	return ibv_reg_mr_iova(pd, addr, len, iova, access);
}

/*
 * A device's kernel driver: the driver of its parent device (mlx5_core,
 * efa, ...).  Software devices have no parent device; of those, rdma_rxe
 * is the one that gives its ib_device a "parent" attribute (the netdev it
 * runs on; drivers/infiniband/sw/rxe/rxe_verbs.c), which siw does not.
 */
static void real_driver_name(struct ibv_device *dev, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *base = dev && dev->ibdev_path[0] ? dev->ibdev_path : NULL;
	ssize_t n;

	buf[0] = '\0';
	if (base)
		snprintf(path, sizeof(path), "%s/device/driver", base);
	else
		snprintf(path, sizeof(path), "/sys/class/infiniband/%s/device/driver", name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		snprintf(buf, len, "%s", strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
		return;
	}
	if (base)
		snprintf(path, sizeof(path), "%s/parent", base);
	else
		snprintf(path, sizeof(path), "/sys/class/infiniband/%s/parent", name);
	if (!access(path, F_OK))
		snprintf(buf, len, "rxe");
}

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
	.reg_mr = real_reg_mr,
	.driver_name = real_driver_name,
	.create_comp_channel = ibv_create_comp_channel,
	.destroy_comp_channel = ibv_destroy_comp_channel,
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
 * Import the shared context cmd_fd with its PD.  0, or -errno; *fd_kept
 * says whether cmd_fd is still the caller's (libibverbs refused it before
 * the provider took it) or closed.
 */
static int import_shared(const struct mcx_verbs_calls *calls, int cmd_fd, uint32_t pd_handle,
			 struct mcx_vctx *out, bool *fd_kept)
{
	int ret;

	*fd_kept = false;
	errno = 0;
	out->ctx = calls->import_device(cmd_fd);
	if (!out->ctx) {
		ret = err_or(-EIO);
		/*
		 * libibverbs fails with these before the provider sees the fd
		 * (fstat, device lookup, no import_context); past that point
		 * the provider's context owned it and closed it on the way out.
		 */
		*fd_kept = ret == -EOPNOTSUPP || ret == -ENODEV || ret == -EINVAL;
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

/*
 * Providers that may join a shared context they cannot import, by kernel
 * driver.  An entry is safe when everything a target path and a remote
 * access MR need reaches the kernel by ioctl, which uverbs takes from any
 * holder of the file, and the provider keeps nothing of the context or
 * the PD in userspace that a built ibv_pd lacks.  For rxe, in rdma-core 44
 * (providers/rxe/rxe.c, libibverbs/) and the kernel (6.1, 6.12):
 *  - rxe_alloc_pd() keeps a bare struct ibv_pd (context, handle);
 *  - rxe_create_cq() and rxe_create_qp() are ibv_cmd_create_cq() and
 *    ibv_cmd_create_qp() (UVERBS_METHOD_CQ_CREATE/QP_CREATE by ioctl),
 *    then mmap() of the queues on cmd_fd; ibv_modify_qp(),
 *    ibv_destroy_qp(), ibv_destroy_cq() and ibv_reg_mr() (ibv_cmd_reg_mr())
 *    and ibv_dereg_mr() (rxe_dereg_mr() -> ibv_cmd_dereg_mr(): only the
 *    MR's handle and context, then free() of the verbs_mr) are ioctls or
 *    execute_cmd_write(), which libibverbs sends as the
 *    UVERBS_METHOD_INVOKE_WRITE ioctl when the kernel has it
 *    (use_ioctl_write), as ibv_create_comp_channel() and
 *    ibv_req_notify_cq() (ibv_cmd_req_notify_cq()) are;
 *  - rxe_post_recv() and rxe_poll_cq() only touch the mmapped queues;
 *  - the one write() is rxe_post_send()'s doorbell (post_send_db()), which
 *    uverbs refuses to us (ib_safe_file_access()): a target path of a
 *    joined context never posts a send (mcx__verbs_post refuses);
 *  - rxe's responder takes an rkey only for an MR of the receiving QP's
 *    PD (rxe_resp.c, check_rkey()): why target QPs go in the shared PD.
 * join() proves the ioctl route once (a completion channel made and
 * destroyed through the shared file) before it is relied on.
 */
static const char *const join_allowlist[] = { "rxe" };

bool mcx__verbs_can_join(const char *driver)
{
	for (size_t i = 0; i < sizeof(join_allowlist) / sizeof(join_allowlist[0]); i++)
		if (!strcmp(driver, join_allowlist[i]))
			return true;
	return false;
}

/*
 * Join the shared context (cmd_fd, ours to close either way; pd_handle)
 * next to out's private one.  0 with out->state MCX_TP_SHARE_TARGET, or
 * -errno with everything of the join undone and out unchanged.
 */
static int join_shared(const struct mcx_verbs_calls *calls, struct ibv_device *dev,
		       const char *name, int cmd_fd, uint32_t pd_handle, struct mcx_vctx *out)
{
	struct ibv_comp_channel *probe;
	struct ibv_context *tctx;
	struct ibv_pd *tpd;
	int ret;

	errno = 0;
	tctx = calls->open_device(dev);
	if (!tctx) {
		ret = err_or(-ENODEV);
		close(cmd_fd);
		return ret;
	}
	tpd = calloc(1, sizeof(*tpd));
	if (!tpd) {
		calls->close_device(tctx);
		close(cmd_fd);
		return -ENOMEM;
	}
	out->own_cmd_fd = tctx->cmd_fd;
	out->own_async_fd = tctx->async_fd;
	tctx->cmd_fd = cmd_fd;
	tctx->async_fd = -1;
	tpd->context = tctx;
	tpd->handle = pd_handle;
	errno = 0;
	probe = calls->create_comp_channel(tctx);
	if (!probe) {
		ret = err_or(-EIO);
		mcx__warn("%s: commands on the shared context's file fail here (%s)", name,
			  strerror(-ret));
		tctx->cmd_fd = out->own_cmd_fd;
		tctx->async_fd = out->own_async_fd;
		calls->close_device(tctx);
		free(tpd);
		close(cmd_fd);
		return ret;
	}
	calls->destroy_comp_channel(probe);
	out->tctx = tctx;
	out->tpd = tpd;
	out->state = MCX_TP_SHARE_TARGET;
	return 0;
}

/*
 * Kernel drivers whose provider turned out this process to have no
 * context import.  Whether ibv_import_device() works is a property of the
 * provider, which a driver always gets, and each attempt costs libibverbs
 * a fresh scan of sysfs for its device list (it looks the fd's device up
 * there): the later devices of such a driver do not ask again.  Kept per
 * table of calls, so that a test double never learns from the real ones.
 */
#define NO_IMPORT_MAX	8

static struct {
	pthread_mutex_t lock;
	unsigned int n;
	struct {
		const struct mcx_verbs_calls *calls;
		char driver[64];
	} e[NO_IMPORT_MAX];
} no_import = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool known_no_import(const struct mcx_verbs_calls *calls, const char *driver)
{
	bool known = false;

	if (!driver[0])
		return false;
	pthread_mutex_lock(&no_import.lock);
	for (unsigned int i = 0; i < no_import.n && !known; i++)
		known = no_import.e[i].calls == calls && !strcmp(no_import.e[i].driver, driver);
	pthread_mutex_unlock(&no_import.lock);
	return known;
}

static void note_no_import(const struct mcx_verbs_calls *calls, const char *driver)
{
	if (!driver[0] || known_no_import(calls, driver))
		return;
	pthread_mutex_lock(&no_import.lock);
	if (no_import.n < NO_IMPORT_MAX) {
		no_import.e[no_import.n].calls = calls;
		snprintf(no_import.e[no_import.n].driver, sizeof(no_import.e[0].driver), "%s",
			 driver);
		no_import.n++;
	}
	pthread_mutex_unlock(&no_import.lock);
}

void mcx__verbs_import_forget(void)
{
	pthread_mutex_lock(&no_import.lock);
	no_import.n = 0;
	pthread_mutex_unlock(&no_import.lock);
}

/*
 * The provider cannot import: a private context, and on an allowlisted
 * driver the shared one joined for serving.  cmd_fd is ours to close.
 */
static int open_without_import(const struct mcx_verbs_calls *calls, struct ibv_device *dev,
			       const char *name, const char *driver, int cmd_fd,
			       uint32_t pd_handle, struct mcx_vctx *out)
{
	struct mcx_steps steps;
	int ret;

	mcx__steps_begin(&steps, name);
	ret = open_private(calls, dev, name, out);
	if (ret) {
		close(cmd_fd);
		return ret;
	}
	mcx__steps_mark(&steps, "private context and PD");
	if (!mcx__verbs_can_join(driver)) {
		close(cmd_fd);
		mcx__info("%s: the provider cannot import a device context and driver \"%s\" is not one that can join it for serving; private context, memory is registered here",
			  name, driver);
		return 0;
	}
	ret = join_shared(calls, dev, name, cmd_fd, pd_handle, out);
	mcx__steps_mark(&steps, "join of the shared context");
	if (ret) {
		mcx__warn("%s: joining the shared device context failed (%s); private context, memory is registered here",
			  name, strerror(-ret));
		return 0;
	}
	mcx__info("%s: the provider cannot import; the shared device context is joined for serving (peers reach its MRs), a private one posts",
		  name);
	return 0;
}

int mcx__verbs_ctx_open(const struct mcx_verbs_calls *calls, const struct mcx_tp_share *share,
			struct ibv_device *dev, const char *name, struct mcx_vctx *out)
{
	struct mcx_steps steps;
	bool retried = false;
	uint32_t pd_handle;
	int ret, fd;

	out->calls = calls;
	out->ctx = NULL;
	out->pd = NULL;
	out->state = MCX_TP_SHARE_PRIVATE;
	out->tctx = NULL;
	out->tpd = NULL;
	out->own_cmd_fd = out->own_async_fd = -1;
	if (!share)
		return open_private(calls, dev, name, out);
again:
	mcx__steps_begin(&steps, name);
	fd = -1;
	ret = share->get(share->arg, name, &fd, &pd_handle);
	mcx__steps_mark(&steps, "shared context from the registry");
	if (!ret) {
		char driver[64] = "";
		bool fd_kept;

		if (calls->driver_name)
			calls->driver_name(dev, name, driver, sizeof(driver));
		if (known_no_import(calls, driver)) {
			mcx__dbg("%s: driver \"%s\" has no context import (learnt from an earlier device)",
				 name, driver);
			return open_without_import(calls, dev, name, driver, fd, pd_handle, out);
		}
		ret = import_shared(calls, fd, pd_handle, out, &fd_kept);
		mcx__steps_mark(&steps, "import attempt");
		if (!ret) {
			mcx__info("%s: using the shared device context (imported)", name);
			return 0;
		}
		if (ret == -EOPNOTSUPP && fd_kept) {
			note_no_import(calls, driver);
			return open_without_import(calls, dev, name, driver, fd, pd_handle, out);
		}
		if (fd_kept)
			close(fd);
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
	if (c->tctx) {
		/*
		 * The shared PD stays (built here, never allocated); the
		 * context gets its own files back so that closing it closes
		 * those, and the shared file loses only our reference.
		 */
		int shared_fd = c->tctx->cmd_fd;

		c->tctx->cmd_fd = c->own_cmd_fd;
		c->tctx->async_fd = c->own_async_fd;
		close(shared_fd);
		c->calls->close_device(c->tctx);
		free(c->tpd);
		c->tctx = NULL;
		c->tpd = NULL;
	}
	if (c->pd) {
		/*
		 * A shared PD stays: the MRs published in it and the other
		 * engines' objects live there, and the kernel frees it with
		 * the context's last file.  Unimport only frees our copy.
		 */
		if (c->state == MCX_TP_SHARE_PRIVATE || c->state == MCX_TP_SHARE_TARGET)
			c->calls->dealloc_pd(c->pd);
		else
			c->calls->unimport_pd(c->pd);
	}
	c->calls->close_device(c->ctx);
	c->ctx = NULL;
	c->pd = NULL;
}
