// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Shared device contexts and MR import (lib/transport/verbs/share.c, mr.c)
 * against a double of the verbs calls: no device here imports, so the
 * double plays one that does (mlx5) and one that does not (rxe), and fails
 * each step in turn.  Command fds are real files (/dev/null), so that a
 * leaked or doubly closed fd shows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "transport/verbs/verbs.h"
#include "util.h"

/* ---- the double ---- */

static int sh_got_fd(void);

static struct {
	int fail_open, fail_alloc_pd;	/* errno to fail with, 0: succeed */
	int import_err;			/* ibv_import_device's errno, 0: succeed */
	int import_pd_err;
	int bystander;			/* an fd opened after the provider closed one */
	int opens, closes, allocs, deallocs, pd_imports, pd_unimports;
	int mr_imports, mr_unimports, mr_deregs;
	/* The MRs the fake context holds, by handle. */
	struct { uint32_t handle, lkey, rkey; size_t len; bool live; } mrs[4];
	/* Joining: the driver, which open fails (1-based, 0: none), the probe. */
	const char *driver;
	int fail_open_at, probe_err;
	int probes;
	/* MRs registered (reg_mr): their PD, access and whether still live. */
	struct { struct ibv_pd *pd; int access; uint32_t handle; uint64_t iova; bool live; } regs[8];
	int nregs, reg_err;
	int regs_asked;			/* reg_mr calls, failed ones included */
	int imports_asked;		/* import_device calls */
} fk;

static int devnull(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	ASSERT_TRUE(fd >= 0);
	return fd;
}

static struct ibv_context *fake_ctx(int fd)
{
	struct ibv_context *ctx = calloc(1, sizeof(*ctx));

	ASSERT_TRUE(ctx != NULL);
	ctx->cmd_fd = fd;
	ctx->async_fd = -1;
	return ctx;
}

static int open_calls;

static struct ibv_context *f_open_device(struct ibv_device *dev)
{
	(void)dev;
	open_calls++;
	if (fk.fail_open_at && open_calls == fk.fail_open_at) {
		errno = ENOMEM;
		return NULL;
	}
	if (fk.fail_open) {
		errno = fk.fail_open;
		return NULL;
	}
	fk.opens++;
	return fake_ctx(devnull());
}

static int f_close_device(struct ibv_context *ctx)
{
	fk.closes++;
	ASSERT_EQ(close(ctx->cmd_fd), 0);
	free(ctx);
	return 0;
}

static struct ibv_pd *f_alloc_pd(struct ibv_context *ctx)
{
	struct ibv_pd *pd;

	if (fk.fail_alloc_pd) {
		errno = fk.fail_alloc_pd;
		return NULL;
	}
	pd = calloc(1, sizeof(*pd));
	ASSERT_TRUE(pd != NULL);
	pd->context = ctx;
	pd->handle = 7;
	fk.allocs++;
	return pd;
}

static int f_dealloc_pd(struct ibv_pd *pd)
{
	fk.deallocs++;
	free(pd);
	return 0;
}

static struct ibv_context *f_import_device(int fd)
{
	fk.imports_asked++;
	if (fk.import_err) {
		/* Past libibverbs' own checks the provider owns the fd. */
		if (fk.import_err != EOPNOTSUPP) {
			close(fd);
			fk.bystander = devnull();	/* most likely the same number */
		}
		errno = fk.import_err;
		return NULL;
	}
	return fake_ctx(fd);
}

static struct ibv_pd *f_import_pd(struct ibv_context *ctx, uint32_t handle)
{
	struct ibv_pd *pd;

	if (fk.import_pd_err) {
		errno = fk.import_pd_err;
		return NULL;
	}
	pd = calloc(1, sizeof(*pd));
	ASSERT_TRUE(pd != NULL);
	pd->context = ctx;
	pd->handle = handle;
	fk.pd_imports++;
	return pd;
}

static void f_unimport_pd(struct ibv_pd *pd)
{
	fk.pd_unimports++;
	free(pd);
}

static struct ibv_mr *f_import_mr(struct ibv_pd *pd, uint32_t handle)
{
	for (size_t i = 0; i < sizeof(fk.mrs) / sizeof(fk.mrs[0]); i++) {
		struct ibv_mr *mr;

		if (!fk.mrs[i].live || fk.mrs[i].handle != handle)
			continue;
		mr = calloc(1, sizeof(*mr));
		ASSERT_TRUE(mr != NULL);
		mr->context = pd->context;
		mr->pd = pd;
		mr->handle = handle;
		mr->lkey = fk.mrs[i].lkey;
		mr->rkey = fk.mrs[i].rkey;
		mr->length = fk.mrs[i].len;
		fk.mr_imports++;
		return mr;
	}
	errno = ENOENT;
	return NULL;
}

static void f_unimport_mr(struct ibv_mr *mr)
{
	fk.mr_unimports++;
	free(mr);
}

static int f_dereg_mr(struct ibv_mr *mr)
{
	bool found = false;

	for (size_t i = 0; i < sizeof(fk.mrs) / sizeof(fk.mrs[0]); i++)
		if (fk.mrs[i].handle == mr->handle && fk.mrs[i].live) {
			fk.mrs[i].live = false;
			found = true;
		}
	for (int i = 0; i < fk.nregs; i++)
		if (fk.regs[i].handle == mr->handle && fk.regs[i].live) {
			fk.regs[i].live = false;
			found = true;
		}
	if (!found)
		return ENOENT;	/* the kernel has no such MR: the object stays the caller's */
	fk.mr_deregs++;
	free(mr);
	return 0;
}

static struct ibv_mr *f_reg_mr(struct ibv_pd *pd, void *addr, size_t len, uint64_t iova,
			       int access)
{
	struct ibv_mr *mr;
	int i = fk.nregs;

	fk.regs_asked++;
	if (fk.reg_err) {
		errno = fk.reg_err;
		return NULL;
	}
	ASSERT_TRUE(i < 8);
	mr = calloc(1, sizeof(*mr));
	ASSERT_TRUE(mr != NULL);
	mr->context = pd->context;
	mr->pd = pd;
	mr->addr = addr;
	mr->length = len;
	mr->handle = 100 + (uint32_t)i;
	mr->lkey = 0x3000 + (uint32_t)i;
	mr->rkey = 0x4000 + (uint32_t)i;
	fk.regs[i].pd = pd;
	fk.regs[i].access = access;
	fk.regs[i].handle = mr->handle;
	fk.regs[i].iova = iova;
	fk.regs[i].live = true;
	fk.nregs++;
	return mr;
}

static void f_driver_name(struct ibv_device *dev, const char *name, char *buf, size_t len)
{
	(void)dev;
	(void)name;
	snprintf(buf, len, "%s", fk.driver ? fk.driver : "");
}

static struct ibv_comp_channel *f_create_comp_channel(struct ibv_context *ctx)
{
	struct ibv_comp_channel *ch;

	/* Proves the command went to the shared file, not the context's own. */
	ASSERT_EQ(ctx->cmd_fd, sh_got_fd());
	ASSERT_EQ(ctx->async_fd, -1);
	if (fk.probe_err) {
		errno = fk.probe_err;
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	ASSERT_TRUE(ch != NULL);
	ch->context = ctx;
	ch->fd = devnull();
	fk.probes++;
	return ch;
}

static int f_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	close(ch->fd);
	free(ch);
	return 0;
}

static const struct mcx_verbs_calls fake = {
	.open_device = f_open_device,
	.close_device = f_close_device,
	.alloc_pd = f_alloc_pd,
	.dealloc_pd = f_dealloc_pd,
	.import_device = f_import_device,
	.import_pd = f_import_pd,
	.unimport_pd = f_unimport_pd,
	.import_mr = f_import_mr,
	.unimport_mr = f_unimport_mr,
	.dereg_mr = f_dereg_mr,
	.reg_mr = f_reg_mr,
	.driver_name = f_driver_name,
	.create_comp_channel = f_create_comp_channel,
	.destroy_comp_channel = f_destroy_comp_channel,
};

/* ---- the registry's side ---- */

#define SHARED_PD	42

static struct {
	int get_ret[2];			/* per call; 0 hands out a fresh fd */
	int publish_ret[2];
	int gets, publishes;
	int got_fd;			/* the last fd handed out */
	int published_fd;
	uint32_t published_pd;
} sh;

static int s_get(void *arg, const char *ibdev, int *cmd_fd, uint32_t *pd_handle)
{
	int ret = sh.get_ret[sh.gets < 2 ? sh.gets : 1];

	(void)arg;
	ASSERT_STREQ(ibdev, "mlx5_0");
	sh.gets++;
	if (ret)
		return ret;
	sh.got_fd = devnull();
	*cmd_fd = sh.got_fd;
	*pd_handle = SHARED_PD;
	return 0;
}

static int s_publish(void *arg, int cmd_fd, uint32_t pd_handle)
{
	(void)arg;
	/* The fd must be open while the registry takes its reference. */
	ASSERT_TRUE(fcntl(cmd_fd, F_GETFD) >= 0);
	sh.published_fd = cmd_fd;
	sh.published_pd = pd_handle;
	sh.publishes++;
	return sh.publish_ret[sh.publishes <= 2 ? sh.publishes - 1 : 1];
}

static const struct mcx_tp_share share = { .arg = NULL, .get = s_get, .publish = s_publish };

static int sh_got_fd(void)
{
	return sh.got_fd;
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static bool fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static int ctx_open(struct mcx_vctx *c)
{
	return mcx__verbs_ctx_open(&fake, &share, NULL, "mlx5_0", c);
}

/* ---- opening ---- */

TEST(share_none_is_private)
{
	struct mcx_vctx c;
	int fds = open_fds();

	ASSERT_EQ(mcx__verbs_ctx_open(&fake, NULL, NULL, "mlx5_0", &c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	ASSERT_EQ(sh.gets, 0);
	mcx__verbs_ctx_close(&c);
	ASSERT_EQ(fk.deallocs, 1);
	ASSERT_EQ(fk.pd_unimports, 0);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_import_succeeds)
{
	struct mcx_vctx c;
	int fds = open_fds();

	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_IMPORTED);
	ASSERT_EQ(c.ctx->cmd_fd, sh.got_fd);
	ASSERT_EQ(c.pd->handle, SHARED_PD);
	ASSERT_EQ(fk.opens, 0);		/* nothing private was made */
	ASSERT_EQ(sh.publishes, 0);
	mcx__verbs_ctx_close(&c);
	/* The shared PD is let go of, never deallocated. */
	ASSERT_EQ(fk.pd_unimports, 1);
	ASSERT_EQ(fk.deallocs, 0);
	ASSERT_TRUE(fd_closed(sh.got_fd));
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_import_unsupported_falls_back_to_private)
{
	struct mcx_vctx c;
	int fds = open_fds();

	log_capture();
	mcx_log_set_level(MCX_LOG_INFO);	/* an expected fallback says why at info */
	fk.import_err = EOPNOTSUPP;
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	/* libibverbs never took the shared fd: closed here; one fd is the private context's. */
	ASSERT_EQ(open_fds(), fds + 1);
	ASSERT_EQ(fk.opens, 1);
	/* The user's shared context exists: nothing to publish. */
	ASSERT_EQ(sh.publishes, 0);
	ASSERT_TRUE(strstr(captured_log, "cannot import a device context") != NULL);
	mcx__verbs_ctx_close(&c);
	ASSERT_EQ(fk.deallocs, 1);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_import_fails_in_provider_no_double_close)
{
	struct mcx_vctx c;
	int fds;

	fk.import_err = EIO;
	fds = open_fds();
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	/* The provider closed the fd; the number went to somebody else. */
	ASSERT_TRUE(fk.bystander >= 0);
	ASSERT_TRUE(fcntl(fk.bystander, F_GETFD) >= 0);
	mcx__verbs_ctx_close(&c);
	close(fk.bystander);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_import_pd_fails_unwinds)
{
	struct mcx_vctx c;
	int fds = open_fds();

	fk.import_pd_err = ENOENT;
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	/* The shared fd went with the imported context; one fd is the private one's. */
	ASSERT_EQ(fk.closes, 1);
	ASSERT_EQ(open_fds(), fds + 1);
	mcx__verbs_ctx_close(&c);
	ASSERT_EQ(fk.closes, 2);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_none_yet_publishes)
{
	struct mcx_vctx c;
	int fds = open_fds();

	sh.get_ret[0] = -ENOENT;
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PUBLISHED);
	ASSERT_EQ(sh.published_fd, c.ctx->cmd_fd);
	ASSERT_EQ(sh.published_pd, 7);
	mcx__verbs_ctx_close(&c);
	/* Published: the PD stays for the MRs in it and the other engines. */
	ASSERT_EQ(fk.deallocs, 0);
	ASSERT_EQ(fk.pd_unimports, 1);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_publish_race_gets_the_winner)
{
	struct mcx_vctx c;
	int fds = open_fds();

	sh.get_ret[0] = -ENOENT;
	sh.get_ret[1] = 0;
	sh.publish_ret[0] = -EEXIST;
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_IMPORTED);
	ASSERT_EQ(sh.gets, 2);
	ASSERT_EQ(sh.publishes, 1);
	ASSERT_TRUE(fd_closed(sh.published_fd) || sh.published_fd == sh.got_fd);
	ASSERT_EQ(fk.deallocs, 1);	/* the private one made first is gone */
	ASSERT_EQ(c.ctx->cmd_fd, sh.got_fd);
	mcx__verbs_ctx_close(&c);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_publish_race_twice_stays_private)
{
	struct mcx_vctx c;
	int fds = open_fds();

	sh.get_ret[0] = sh.get_ret[1] = -ENOENT;
	sh.publish_ret[0] = sh.publish_ret[1] = -EEXIST;
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	ASSERT_EQ(sh.gets, 2);		/* one retry, not a loop */
	ASSERT_EQ(sh.publishes, 2);
	mcx__verbs_ctx_close(&c);
	ASSERT_EQ(fk.deallocs, 2);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_publish_refused_stays_private)
{
	struct mcx_vctx c;
	int fds = open_fds();

	log_capture();
	sh.get_ret[0] = -ENOENT;
	sh.publish_ret[0] = -EOPNOTSUPP;	/* an ABI 2 module */
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	ASSERT_EQ(sh.gets, 1);
	ASSERT_TRUE(strstr(captured_log, "publishing the device context failed") != NULL);
	mcx__verbs_ctx_close(&c);
	ASSERT_EQ(fk.deallocs, 1);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_get_refused_stays_private)
{
	struct mcx_vctx c;

	sh.get_ret[0] = -EPERM;
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	ASSERT_EQ(sh.publishes, 0);
	mcx__verbs_ctx_close(&c);
}

TEST(share_private_open_failures_unwind)
{
	struct mcx_vctx c;
	int fds = open_fds();

	sh.get_ret[0] = sh.get_ret[1] = -ENOENT;
	fk.fail_open = ENODEV;
	ASSERT_ERR(ctx_open(&c), -ENODEV);
	ASSERT_TRUE(c.ctx == NULL);
	ASSERT_EQ(sh.publishes, 0);
	fk.fail_open = 0;
	fk.fail_alloc_pd = ENOMEM;
	ASSERT_ERR(ctx_open(&c), -ENOMEM);
	ASSERT_TRUE(c.ctx == NULL);
	ASSERT_EQ(fk.closes, 1);
	ASSERT_EQ(sh.publishes, 0);
	/* Closing what failed to open is harmless. */
	mcx__verbs_ctx_close(&c);
	ASSERT_EQ(open_fds(), fds);
}

/* ---- MRs of a shared context ---- */

static struct mcx_nic *shared_nic(enum mcx_tp_share_state state)
{
	struct mcx_nic *nic = calloc(1, sizeof(*nic));

	ASSERT_TRUE(nic != NULL);
	snprintf(nic->name, sizeof(nic->name), "mlx5_0");
	nic->vctx.calls = &fake;
	nic->vctx.state = state;
	nic->vctx.ctx = fake_ctx(devnull());
	nic->vctx.pd = f_import_pd(nic->vctx.ctx, SHARED_PD);
	nic->ctx = nic->vctx.ctx;
	nic->pd = nic->vctx.pd;
	fk.mrs[0].handle = 5;
	fk.mrs[0].lkey = 0x1005;
	fk.mrs[0].rkey = 0x2005;
	fk.mrs[0].len = 1 << 20;
	fk.mrs[0].live = true;
	return nic;
}

static void nic_free(struct mcx_nic *nic)
{
	mcx__verbs_ctx_close(&nic->vctx);
	free(nic);
}

static struct mcx_tp_mr_handle published(void)
{
	struct mcx_tp_mr_handle h = {
		.cmd_fd = -1, .pd_handle = SHARED_PD, .mr_handle = 5,
		.lkey = 0x1005, .rkey = 0x2005,
		.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE,
		.iova = 0x7f0000000000ULL, .len = 1 << 20,
	};

	return h;
}

TEST(share_mr_import_and_let_go)
{
	struct mcx_nic *nic = shared_nic(MCX_TP_SHARE_IMPORTED);
	struct mcx_tp_mr_handle h = published(), back;
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;

	ASSERT_EQ(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, true, &mr, &info), 0);
	ASSERT_EQ(((struct ibv_mr *)info.desc)->lkey, 0x1005);
	ASSERT_U64_EQ(info.rkey, 0x2005);
	/* What it hands on is the context's, with the publisher's address. */
	ASSERT_EQ(mcx__verbs_mr_handle(mr, &back), 0);
	ASSERT_EQ(back.cmd_fd, nic->ctx->cmd_fd);
	ASSERT_EQ(back.mr_handle, 5);
	ASSERT_U64_EQ(back.iova, h.iova);
	ASSERT_U64_EQ(back.len, h.len);
	ASSERT_EQ(back.access, h.access);
	mcx__verbs_mr_dereg(mr);
	ASSERT_EQ(fk.mr_unimports, 1);
	ASSERT_EQ(fk.mr_deregs, 0);
	ASSERT_TRUE(fk.mrs[0].live);
	/* Not exported: no rkey for peers. */
	ASSERT_EQ(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, false, &mr, &info), 0);
	ASSERT_U64_EQ(info.rkey, 0);
	mcx__verbs_mr_destroy(mr);
	ASSERT_EQ(fk.mr_deregs, 1);
	ASSERT_TRUE(!fk.mrs[0].live);
	/* Gone now: importing it again fails. */
	ASSERT_ERR(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, true, &mr, &info), -ENOENT);
	nic_free(nic);
}

TEST(share_mr_import_refuses_what_does_not_fit)
{
	struct mcx_nic *nic = shared_nic(MCX_TP_SHARE_PUBLISHED);
	struct mcx_tp_mr_handle h;
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;

	/* Another PD: not this context's. */
	h = published();
	h.pd_handle = SHARED_PD + 1;
	ASSERT_ERR(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, true, &mr, &info), -EINVAL);
	/* Local access only, asked for peers. */
	h = published();
	h.access = IBV_ACCESS_LOCAL_WRITE;
	ASSERT_ERR(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, true, &mr, &info), -EINVAL);
	ASSERT_EQ(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, false, &mr, &info), 0);
	mcx__verbs_mr_dereg(mr);
	/* The handle now names another MR (reused): let go, refuse. */
	h = published();
	h.rkey ^= 1;
	ASSERT_ERR(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, true, &mr, &info), -EINVAL);
	h = published();
	h.len /= 2;
	ASSERT_ERR(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, true, &mr, &info), -EINVAL);
	ASSERT_EQ(fk.mr_imports, fk.mr_unimports);
	ASSERT_EQ(fk.mr_deregs, 0);
	nic_free(nic);
}

TEST(share_mr_destroy_by_handle)
{
	struct mcx_nic *nic = shared_nic(MCX_TP_SHARE_IMPORTED);

	ASSERT_EQ(mcx__verbs_mr_destroy_handle((struct mcx_tp_dev *)nic, 5), 0);
	ASSERT_TRUE(!fk.mrs[0].live);
	ASSERT_ERR(mcx__verbs_mr_destroy_handle((struct mcx_tp_dev *)nic, 5), -ENOENT);
	ASSERT_EQ(fk.mr_deregs, 1);
	nic_free(nic);
}

TEST(share_private_context_has_no_handles)
{
	struct mcx_nic *nic = shared_nic(MCX_TP_SHARE_PRIVATE);
	struct mcx_tp_mr_handle h = published();
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr = NULL;

	ASSERT_ERR(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, true, &mr, &info),
		   -EOPNOTSUPP);
	ASSERT_ERR(mcx__verbs_mr_destroy_handle((struct mcx_tp_dev *)nic, 5), -EOPNOTSUPP);
	ASSERT_EQ(fk.mr_imports, 0);
	ASSERT_TRUE(fk.mrs[0].live);
	ASSERT_EQ(fk.regs_asked, 0);
	/* A private context's PD is deallocated at close. */
	nic_free(nic);
	ASSERT_EQ(fk.deallocs, 1);
}

/* ---- joining the shared context without import (MCX_TP_SHARE_TARGET) ---- */

static void join_setup(const char *driver)
{
	fk.import_err = EOPNOTSUPP;
	fk.driver = driver;
}

TEST(share_join_rxe_serves_from_the_shared_context)
{
	struct mcx_vctx c;
	int fds = open_fds();

	join_setup("rxe");
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_TARGET);
	/* The private context posts; the joined one issues on the shared file. */
	ASSERT_EQ(c.pd->handle, 7);
	ASSERT_TRUE(c.tctx != NULL && c.tctx != c.ctx);
	ASSERT_EQ(c.tctx->cmd_fd, sh.got_fd);
	ASSERT_EQ(c.tctx->async_fd, -1);
	ASSERT_EQ(c.tpd->handle, SHARED_PD);
	ASSERT_TRUE(c.tpd->context == c.tctx);
	ASSERT_EQ(fk.opens, 2);
	ASSERT_EQ(fk.probes, 1);
	ASSERT_EQ(sh.publishes, 0);
	/* private ctx + joined ctx's own fd + the shared fd */
	ASSERT_EQ(open_fds(), fds + 3);
	mcx__verbs_ctx_close(&c);
	/* The private PD is ours; the shared one is never deallocated. */
	ASSERT_EQ(fk.deallocs, 1);
	ASSERT_EQ(fk.closes, 2);
	ASSERT_TRUE(fd_closed(sh.got_fd));
	ASSERT_EQ(open_fds(), fds);
}

/* A second device of a driver without import is not asked again. */
TEST(share_join_asks_each_driver_once_for_import)
{
	struct mcx_vctx a, b, c;
	int fds = open_fds();

	join_setup("rxe");
	ASSERT_EQ(ctx_open(&a), 0);
	ASSERT_EQ(fk.imports_asked, 1);
	ASSERT_EQ(ctx_open(&b), 0);
	ASSERT_EQ(fk.imports_asked, 1);
	/* Learnt or asked, the outcome is the same join. */
	ASSERT_EQ(a.state, MCX_TP_SHARE_TARGET);
	ASSERT_EQ(b.state, MCX_TP_SHARE_TARGET);
	ASSERT_EQ(b.tctx->cmd_fd, sh.got_fd);
	ASSERT_EQ(fk.probes, 2);
	/* Another driver is asked for itself. */
	fk.driver = "siw";
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(fk.imports_asked, 2);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	mcx__verbs_ctx_close(&a);
	mcx__verbs_ctx_close(&b);
	mcx__verbs_ctx_close(&c);
	/* Forgotten: asked again. */
	mcx__verbs_import_forget();
	fk.driver = "rxe";
	ASSERT_EQ(ctx_open(&a), 0);
	ASSERT_EQ(fk.imports_asked, 3);
	mcx__verbs_ctx_close(&a);
	ASSERT_EQ(open_fds(), fds);
}

/* Only "no import at all" is learnt: a failed import is tried again. */
TEST(share_import_failure_is_not_remembered)
{
	struct mcx_vctx a, b;
	int fds = open_fds();

	fk.driver = "mlx5_core";
	fk.import_err = EIO;
	ASSERT_EQ(ctx_open(&a), 0);
	ASSERT_EQ(a.state, MCX_TP_SHARE_PRIVATE);
	fk.import_err = 0;
	ASSERT_EQ(ctx_open(&b), 0);
	ASSERT_EQ(fk.imports_asked, 2);
	ASSERT_EQ(b.state, MCX_TP_SHARE_IMPORTED);
	mcx__verbs_ctx_close(&a);
	mcx__verbs_ctx_close(&b);
	if (fk.bystander > 0)
		close(fk.bystander);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_join_only_allowlisted_drivers)
{
	struct mcx_vctx c;
	int fds = open_fds();

	ASSERT_TRUE(mcx__verbs_can_join("rxe"));
	ASSERT_TRUE(!mcx__verbs_can_join("siw"));
	ASSERT_TRUE(!mcx__verbs_can_join("efa"));
	ASSERT_TRUE(!mcx__verbs_can_join(""));
	log_capture();
	mcx_log_set_level(MCX_LOG_INFO);
	join_setup("siw");
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	ASSERT_TRUE(c.tctx == NULL);
	ASSERT_EQ(fk.opens, 1);
	ASSERT_TRUE(fd_closed(sh.got_fd));
	ASSERT_TRUE(strstr(captured_log, "\"siw\" is not one that can join") != NULL);
	mcx__verbs_ctx_close(&c);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_join_open_fails_unwinds)
{
	struct mcx_vctx c;
	int fds = open_fds();

	log_capture();
	join_setup("rxe");
	fk.fail_open_at = 2;		/* the joined context's */
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	ASSERT_TRUE(c.tctx == NULL && c.tpd == NULL);
	ASSERT_TRUE(fd_closed(sh.got_fd));
	ASSERT_EQ(open_fds(), fds + 1);
	ASSERT_TRUE(strstr(captured_log, "joining the shared device context failed") != NULL);
	mcx__verbs_ctx_close(&c);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_join_private_open_fails_unwinds)
{
	struct mcx_vctx c;
	int fds = open_fds();

	join_setup("rxe");
	fk.fail_open_at = 1;		/* the private context's */
	ASSERT_ERR(ctx_open(&c), -ENOMEM);
	ASSERT_TRUE(c.ctx == NULL);
	ASSERT_EQ(open_fds(), fds);
}

TEST(share_join_commands_refused_unwinds)
{
	struct mcx_vctx c;
	int fds = open_fds();

	log_capture();
	join_setup("rxe");
	fk.probe_err = EACCES;		/* a kernel without the ioctl route */
	ASSERT_EQ(ctx_open(&c), 0);
	ASSERT_EQ(c.state, MCX_TP_SHARE_PRIVATE);
	ASSERT_TRUE(c.tctx == NULL);
	/* The joined context was closed with its own files, the shared one too. */
	ASSERT_EQ(fk.closes, 1);
	ASSERT_TRUE(fd_closed(sh.got_fd));
	ASSERT_EQ(open_fds(), fds + 1);
	ASSERT_TRUE(strstr(captured_log, "commands on the shared context's file fail") != NULL);
	mcx__verbs_ctx_close(&c);
	ASSERT_EQ(open_fds(), fds);
}

static struct mcx_nic *target_nic(struct mcx_vctx *c)
{
	struct mcx_nic *nic = calloc(1, sizeof(*nic));

	ASSERT_TRUE(nic != NULL);
	join_setup("rxe");
	ASSERT_EQ(ctx_open(c), 0);
	ASSERT_EQ(c->state, MCX_TP_SHARE_TARGET);
	snprintf(nic->name, sizeof(nic->name), "rxe0");
	nic->vctx = *c;
	nic->ctx = c->ctx;
	nic->pd = c->pd;
	nic->wait_set = -1;
	nic->mr_access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
	return nic;
}

#define REMOTE_BITS	(IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE)

TEST(share_join_exported_registration_in_both_pds)
{
	static char buf[8192];
	struct mcx_vctx c;
	struct mcx_nic *nic = target_nic(&c);
	struct mcx_tp_mr_req req = { .addr = (uintptr_t)buf, .len = sizeof(buf),
				     .dmabuf_fd = -1, .remote = true };
	struct mcx_tp_mr_handle h;
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;

	ASSERT_EQ(mcx__verbs_mr_reg((struct mcx_tp_dev *)nic, &req, &mr, &info), 0);
	ASSERT_EQ(fk.nregs, 2);
	ASSERT_EQ(fk.regs_asked, 2);
	/* Peers: the shared PD's MR with remote rights. */
	ASSERT_TRUE(fk.regs[0].pd == c.tpd);
	ASSERT_EQ(fk.regs[0].access & REMOTE_BITS, REMOTE_BITS);
	ASSERT_U64_EQ(info.rkey, 0x4000);
	/* Local posts: the private PD's, with none. */
	ASSERT_TRUE(fk.regs[1].pd == c.pd);
	ASSERT_EQ(fk.regs[1].access & REMOTE_BITS, 0);
	ASSERT_EQ(((struct ibv_mr *)info.desc)->lkey, 0x3001);
	ASSERT_U64_EQ(fk.regs[1].iova, (uintptr_t)buf);
	/* What is published: the shared MR, in the shared file. */
	ASSERT_EQ(mcx__verbs_mr_handle(mr, &h), 0);
	ASSERT_EQ(h.cmd_fd, sh.got_fd);
	ASSERT_EQ(h.pd_handle, SHARED_PD);
	ASSERT_EQ(h.mr_handle, 100);
	ASSERT_EQ(h.rkey, 0x4000);
	ASSERT_EQ(h.access & REMOTE_BITS, REMOTE_BITS);
	/* Handed out: dereg lets the shared one live, the private one goes. */
	mcx__verbs_mr_dereg(mr);
	ASSERT_TRUE(fk.regs[0].live);
	ASSERT_TRUE(!fk.regs[1].live);
	ASSERT_EQ(atomic_load(&nic->nr_mrs), 0);
	/* Not handed out: both go, destroy or not. */
	ASSERT_EQ(mcx__verbs_mr_reg((struct mcx_tp_dev *)nic, &req, &mr, &info), 0);
	mcx__verbs_mr_dereg(mr);
	ASSERT_TRUE(!fk.regs[2].live && !fk.regs[3].live);
	mcx__verbs_ctx_close(&c);
	free(nic);
}

TEST(share_join_local_registration_is_private_only)
{
	static char buf[4096];
	struct mcx_vctx c;
	struct mcx_nic *nic = target_nic(&c);
	struct mcx_tp_mr_req req = { .addr = (uintptr_t)buf, .len = sizeof(buf),
				     .dmabuf_fd = -1, .remote = false, .iova = 0x7f0000000000ULL };
	struct mcx_tp_mr_handle h;
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;

	ASSERT_EQ(mcx__verbs_mr_reg((struct mcx_tp_dev *)nic, &req, &mr, &info), 0);
	ASSERT_EQ(fk.nregs, 1);
	ASSERT_TRUE(fk.regs[0].pd == c.pd);
	ASSERT_EQ(fk.regs[0].access & REMOTE_BITS, 0);
	/* Registered at the address another process's MRs answer to. */
	ASSERT_U64_EQ(fk.regs[0].iova, 0x7f0000000000ULL);
	ASSERT_U64_EQ(info.rkey, 0);
	ASSERT_TRUE(info.desc != NULL);
	ASSERT_ERR(mcx__verbs_mr_handle(mr, &h), -EOPNOTSUPP);
	mcx__verbs_mr_dereg(mr);
	ASSERT_TRUE(!fk.regs[0].live);
	/* A failed second registration unwinds the first. */
	req.remote = true;
	fk.reg_err = EFAULT;
	ASSERT_ERR(mcx__verbs_mr_reg((struct mcx_tp_dev *)nic, &req, &mr, &info), -EFAULT);
	ASSERT_EQ(atomic_load(&nic->nr_mrs), 0);
	mcx__verbs_ctx_close(&c);
	free(nic);
}

TEST(share_join_import_serves_only_and_destroys_by_handle)
{
	struct mcx_vctx c;
	struct mcx_nic *nic = target_nic(&c);
	struct mcx_tp_mr_handle h = published();
	struct mcx_tp_mr_info info;
	struct mcx_tp_mr *mr;

	ASSERT_EQ(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, true, &mr, &info), 0);
	ASSERT_U64_EQ(info.rkey, 0x2005);
	ASSERT_TRUE(info.desc == NULL);		/* no local use without our own MR */
	ASSERT_EQ(fk.regs_asked, 0);		/* a warm import registers nothing */
	ASSERT_EQ(fk.mr_imports, 0);		/* nothing asked of the kernel */
	/* Let go: nothing destroyed. */
	mcx__verbs_mr_dereg(mr);
	ASSERT_EQ(fk.mr_deregs, 0);
	/* Another PD's MR does not fit. */
	h.pd_handle = 7;
	ASSERT_ERR(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, true, &mr, &info), -EINVAL);
	h = published();
	/* Destroyed for everybody: ibv_dereg_mr on an MR built for the handle. */
	fk.mrs[0].handle = 5;
	fk.mrs[0].lkey = 0x1005;
	fk.mrs[0].rkey = 0x2005;
	fk.mrs[0].len = 1 << 20;
	fk.mrs[0].live = true;
	ASSERT_EQ(mcx__verbs_mr_import((struct mcx_tp_dev *)nic, &h, true, &mr, &info), 0);
	mcx__verbs_mr_destroy(mr);
	ASSERT_EQ(fk.mr_deregs, 1);
	ASSERT_TRUE(!fk.mrs[0].live);
	fk.mrs[0].live = true;
	ASSERT_EQ(mcx__verbs_mr_destroy_handle((struct mcx_tp_dev *)nic, 5), 0);
	ASSERT_TRUE(!fk.mrs[0].live);
	/* Gone: the kernel refuses, and the built object is freed (ASan). */
	ASSERT_ERR(mcx__verbs_mr_destroy_handle((struct mcx_tp_dev *)nic, 5), -ENOENT);
	mcx__verbs_ctx_close(&c);
	free(nic);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TEST(share_join_wait_fd_covers_both_channels)
{
	struct ibv_comp_channel own = { 0 }, tgt = { 0 };
	struct mcx_nic nic;
	uint64_t v = 1;
	int fds = open_fds(), w;

	memset(&nic, 0, sizeof(nic));
	own.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	tgt.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_TRUE(own.fd >= 0 && tgt.fd >= 0);
	/* One CQ: the wait fd is its channel's. */
	nic.channel = &own;
	ASSERT_EQ(mcx__verbs_wait_set_init(&nic), 0);
	ASSERT_EQ(nic.wait_set, -1);
	ASSERT_EQ(mcx__verbs_wait_fd((struct mcx_tp_dev *)&nic), own.fd);
	/* Two: one fd that wakes for either. */
	nic.tcq.channel = &tgt;
	ASSERT_EQ(mcx__verbs_wait_set_init(&nic), 0);
	w = mcx__verbs_wait_fd((struct mcx_tp_dev *)&nic);
	ASSERT_TRUE(w >= 0 && w != own.fd && w != tgt.fd);
	ASSERT_TRUE(!readable(w));
	ASSERT_EQ(write(tgt.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ASSERT_TRUE(readable(w));
	ASSERT_EQ(read(tgt.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ASSERT_TRUE(!readable(w));
	ASSERT_EQ(write(own.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ASSERT_TRUE(readable(w));
	close(w);
	close(own.fd);
	close(tgt.fd);
	ASSERT_EQ(open_fds(), fds);
}

/*
 * A TARGET nic opens with the target CQ only; the private one comes with
 * the first initiating path and joins the same wait fd then.
 */
TEST(share_join_private_channel_added_to_the_wait_fd_later)
{
	struct ibv_comp_channel own = { 0 }, tgt = { 0 };
	struct mcx_nic nic;
	uint64_t v = 1;
	int fds = open_fds(), w;

	memset(&nic, 0, sizeof(nic));
	own.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	tgt.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_TRUE(own.fd >= 0 && tgt.fd >= 0);
	nic.tcq.channel = &tgt;
	ASSERT_EQ(mcx__verbs_wait_set_init(&nic), 0);
	w = mcx__verbs_wait_fd((struct mcx_tp_dev *)&nic);
	ASSERT_TRUE(w >= 0 && w != tgt.fd);
	/* Nothing to add yet. */
	ASSERT_EQ(mcx__verbs_wait_set_add_private(&nic), 0);
	ASSERT_EQ(write(tgt.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ASSERT_TRUE(readable(w));
	ASSERT_EQ(read(tgt.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	/* Before it is added the private channel does not wake the set... */
	ASSERT_EQ(write(own.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ASSERT_TRUE(!readable(w));
	/* ...after, it does (its pending event included), the wait fd unchanged. */
	nic.channel = &own;
	ASSERT_EQ(mcx__verbs_wait_set_add_private(&nic), 0);
	ASSERT_EQ(mcx__verbs_wait_fd((struct mcx_tp_dev *)&nic), w);
	ASSERT_TRUE(readable(w));
	ASSERT_EQ(read(own.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ASSERT_TRUE(!readable(w));
	/* Twice is refused by epoll, not silently doubled. */
	ASSERT_EQ(mcx__verbs_wait_set_add_private(&nic), -EEXIST);
	close(w);
	close(own.fd);
	close(tgt.fd);
	ASSERT_EQ(open_fds(), fds);
}
