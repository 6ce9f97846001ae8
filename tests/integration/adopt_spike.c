// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Can a second process "adopt" another's device context on a provider
 * without ibv_import_device() (soft-RoCE)?  The answer decides whether the
 * verbs transport shares contexts there (lib/transport/verbs/share.c).
 *
 *   adopt_spike DEVICE GID_INDEX
 *
 * Process A opens DEVICE, allocates a PD, registers a memfd mapping for
 * remote access, hands its command fd, the memfd and the handles to B over
 * a socket (SCM_RIGHTS) and exits.  B opens DEVICE itself, points its
 * context's cmd_fd at A's file and builds an ibv_pd for A's PD handle
 * (rxe keeps nothing else in a context or a PD), then makes a CQ and an RC
 * QP there.  A third QP in a context of its own (C) connects to it over
 * the device's loopback and
 *   1. writes a pattern with RDMA WRITE through A's rkey: it must land in
 *      the memfd (rxe's responder accepts an rkey only for an MR of the
 *      receiving QP's PD, so this proves the QP lives in A's PD);
 *   2. reads it back with RDMA READ;
 *   3. then B posts a send on its QP: rxe rings that doorbell with write()
 *      on the command fd, which uverbs refuses to a process other than the
 *      file's opener (ib_safe_file_access()).  Expected: EACCES.
 * Prints one TAP line per step and "N passed, N failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#define LEN	(1 << 20)

struct handles {
	uint32_t pd_handle, mr_handle, lkey, rkey;
	uint64_t addr;
};

static int passed, failed, step;

static void tap(int ok, const char *what)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++step, what);
	if (ok)
		passed++;
	else
		failed++;
}

static void die(const char *what)
{
	printf("not ok %d - %s: %s\n", ++step, what, strerror(errno));
	printf("%d passed, %d failed\n", passed, failed + 1);
	exit(1);
}

static struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;

	for (int i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (!ctx)
		die("ibv_open_device");
	return ctx;
}

static void send_fds(int sock, int fd0, int fd1, const struct handles *h)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { .iov_base = (void *)h, .iov_len = sizeof(*h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	int fds[2] = { fd0, fd1 };

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	if (sendmsg(sock, &msg, 0) != (ssize_t)sizeof(*h))
		die("sendmsg");
}

static void recv_fds(int sock, int *fd0, int *fd1, struct handles *h)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { .iov_base = h, .iov_len = sizeof(*h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fds[2];

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(*h))
		die("recvmsg");
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(fds)))
		die("no fds received");
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	*fd0 = fds[0];
	*fd1 = fds[1];
}

/* Process A: everything a first engine would make, then gone. */
static void process_a(const char *dev, int sock)
{
	struct ibv_context *ctx = open_dev(dev);
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	int memfd = memfd_create("adopt-spike", MFD_CLOEXEC);
	struct ibv_mr *mr;
	struct handles h;
	void *p;

	if (!pd || memfd < 0 || ftruncate(memfd, LEN))
		die("A: pd/memfd");
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED)
		die("A: mmap");
	memset(p, 0, LEN);
	mr = ibv_reg_mr(pd, p, LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ);
	if (!mr)
		die("A: ibv_reg_mr");
	h = (struct handles){ .pd_handle = pd->handle, .mr_handle = mr->handle,
			      .lkey = mr->lkey, .rkey = mr->rkey, .addr = (uintptr_t)p };
	send_fds(sock, ctx->cmd_fd, memfd, &h);
	/* Exit without tearing down: B's fd keeps A's uverbs file alive. */
	_exit(0);
}

static struct ibv_qp *make_qp(struct ibv_pd *pd, struct ibv_cq *cq)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16, .max_send_sge = 1,
			 .max_recv_sge = 1 },
	};
	struct ibv_qp *qp = ibv_create_qp(pd, &ia);

	if (!qp)
		die("ibv_create_qp");
	return qp;
}

static void connect_qp(struct ibv_qp *qp, uint32_t rqpn, const union ibv_gid *gid, int gidx)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .pkey_index = 0, .port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		die("modify INIT");
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = rqpn;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *gid;
	a.ah_attr.grh.sgid_index = (uint8_t)gidx;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			  IBV_QP_MIN_RNR_TIMER))
		die("modify RTR");
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.sq_psn = 0;
	a.max_rd_atomic = 4;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			  IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
		die("modify RTS");
}

/* One RDMA op from qp, waited for on cq: the completion status. */
static int rdma(struct ibv_qp *qp, struct ibv_cq *cq, enum ibv_wr_opcode op, void *buf,
		uint32_t lkey, uint64_t raddr, uint32_t rkey, uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1, .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_wc wc;
	int n, ret;

	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	ret = ibv_post_send(qp, &wr, &bad);
	if (ret)
		return -ret;
	for (long spins = 0; spins < 200000000L; spins++) {
		n = ibv_poll_cq(cq, 1, &wc);
		if (n < 0)
			return -EIO;
		if (n)
			return wc.status;
		if (spins > 1000)
			usleep(100);
	}
	return -ETIMEDOUT;
}

int main(int argc, char **argv)
{
	struct ibv_context *bctx, *cctx;
	struct ibv_pd *cpd, apd = { 0 };
	struct ibv_cq *bcq, *ccq;
	struct ibv_qp *bqp, *cqp;
	struct ibv_mr *cmr;
	union ibv_gid gid;
	struct handles h;
	int sv[2], afd, memfd, own_fd, own_async, gidx, st, ret;
	unsigned char *mem, *cbuf;
	pid_t a;

	if (argc != 3) {
		fprintf(stderr, "usage: %s DEVICE GID_INDEX\n", argv[0]);
		return 2;
	}
	gidx = atoi(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		die("socketpair");
	a = fork();
	if (a < 0)
		die("fork");
	if (!a) {
		close(sv[0]);
		process_a(argv[1], sv[1]);
	}
	close(sv[1]);
	recv_fds(sv[0], &afd, &memfd, &h);
	if (waitpid(a, &st, 0) != a || !WIFEXITED(st) || WEXITSTATUS(st))
		die("A did not exit cleanly");
	tap(1, "A registered its memfd, handed over its command fd and exited");

	mem = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		die("B: mmap memfd");

	/* B adopts: its own context, issuing commands on A's file. */
	bctx = open_dev(argv[1]);
	own_fd = bctx->cmd_fd;
	own_async = bctx->async_fd;
	bctx->cmd_fd = afd;
	/*
	 * rdma-core names the context's async fd as the event file of each
	 * new CQ and QP, and uverbs refuses an fd of another file (EBADF):
	 * without one, the objects report to A's file's default.
	 */
	bctx->async_fd = -1;
	apd.context = bctx;
	apd.handle = h.pd_handle;
	bcq = ibv_create_cq(bctx, 16, NULL, NULL, 0);
	if (!bcq)
		die("B: ibv_create_cq in A's context");
	bqp = make_qp(&apd, bcq);
	tap(1, "B made a CQ and a QP in A's PD through A's command fd");

	/* C: an initiator with a context of its own. */
	cctx = open_dev(argv[1]);
	cpd = ibv_alloc_pd(cctx);
	ccq = ibv_create_cq(cctx, 16, NULL, NULL, 0);
	cbuf = aligned_alloc(4096, LEN);
	if (!cpd || !ccq || !cbuf)
		die("C: pd/cq/buffer");
	cmr = ibv_reg_mr(cpd, cbuf, LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_REMOTE_READ);
	if (!cmr)
		die("C: ibv_reg_mr");
	cqp = make_qp(cpd, ccq);
	if (ibv_query_gid(cctx, 1, gidx, &gid))
		die("ibv_query_gid");
	connect_qp(bqp, cqp->qp_num, &gid, gidx);
	connect_qp(cqp, bqp->qp_num, &gid, gidx);

	for (size_t i = 0; i < LEN; i++)
		cbuf[i] = (unsigned char)(i * 131 + 7);
	ret = rdma(cqp, ccq, IBV_WR_RDMA_WRITE, cbuf, cmr->lkey, h.addr, h.rkey, LEN);
	tap(ret == IBV_WC_SUCCESS && !memcmp(mem, cbuf, LEN),
	    "C's RDMA WRITE with A's rkey lands in the memfd through B's QP");
	if (ret != IBV_WC_SUCCESS)
		printf("# write status %d (%s)\n", ret,
		       ret > 0 ? ibv_wc_status_str((enum ibv_wc_status)ret) : strerror(-ret));

	memset(cbuf, 0, LEN);
	for (size_t i = 0; i < LEN; i++)
		mem[i] = (unsigned char)(i * 17 + 3);
	ret = rdma(cqp, ccq, IBV_WR_RDMA_READ, cbuf, cmr->lkey, h.addr, h.rkey, LEN);
	tap(ret == IBV_WC_SUCCESS && !memcmp(mem, cbuf, LEN),
	    "C's RDMA READ with A's rkey returns the memfd's bytes");

	ret = rdma(bqp, bcq, IBV_WR_RDMA_WRITE, mem, h.lkey, (uintptr_t)cbuf, cmr->rkey, 4096);
	printf("# B's own post_send: %s\n", ret < 0 ? strerror(-ret) :
	       ibv_wc_status_str((enum ibv_wc_status)ret));
	tap(ret == -EACCES, "B cannot send on a QP of A's context (doorbell write() refused: EACCES)");

	/* Tear down B's objects in A's file, then give the context its own fd back. */
	ibv_destroy_qp(bqp);
	ibv_destroy_cq(bcq);
	bctx->cmd_fd = own_fd;
	bctx->async_fd = own_async;
	close(afd);
	ibv_close_device(bctx);
	ibv_destroy_qp(cqp);
	ibv_dereg_mr(cmr);
	ibv_destroy_cq(ccq);
	ibv_dealloc_pd(cpd);
	ibv_close_device(cctx);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
