// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The trust boundary of /dev/mcxfer (ABI version 2): who may publish and
 * get MRs, export a dma-buf, use a name; that the opener's credentials and
 * network namespace decide, not the caller's; owner revoke; charging whole
 * dma-bufs and the default caps; what a uverbs file is; and that a failed
 * copy-out leaves nothing behind.  Each test proves one rule of
 * include/uapi/linux/mcxfer.h that a module of ABI version 1 broke.
 *
 * Several users act at once through agents: forked children that take an
 * identity, open /dev/mcxfer as it and run the calls the test sends them
 * over a socket, so that a test reads as one sequence of steps.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "mcx_util.h"

#include <fcntl.h>
#include <grp.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define IBDEV		"rxe0"
#define MR_LEN		(4 * MCX_PAGE)
#define MR_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define UVERBS_MAJOR	231

/* ---------------------------------------------------------------- verbs */

struct verbs {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	void *mem;
};

/* What PUBLISH_MR needs of a verbs context, also across processes. */
struct vinfo {
	int32_t cmd_fd;
	uint32_t pd_handle;
	uint32_t mr_handle;
	uint32_t lkey;
	uint32_t rkey;
	uint32_t pad;
	uint64_t iova;
};

/* 0, -ENODEV without the device, or -errno of the step that failed. */
static int verbs_try_open(struct verbs *v)
{
	struct ibv_device **list;
	int n, err = 0;

	memset(v, 0, sizeof(*v));
	list = ibv_get_device_list(&n);
	if (!list)
		return -ENODEV;
	for (int i = 0; i < n && !v->ctx; i++) {
		if (strcmp(ibv_get_device_name(list[i]), IBDEV))
			continue;
		v->ctx = ibv_open_device(list[i]);
		if (!v->ctx)
			err = errno ? -errno : -EIO;
	}
	ibv_free_device_list(list);
	if (!v->ctx)
		return err ? err : -ENODEV;
	v->pd = ibv_alloc_pd(v->ctx);
	if (!v->pd)
		return errno ? -errno : -EIO;
	v->mem = mmap(NULL, MR_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v->mem == MAP_FAILED) {
		v->mem = NULL;
		return -ENOMEM;
	}
	v->mr = ibv_reg_mr(v->pd, v->mem, MR_LEN, MR_ACCESS);
	if (!v->mr)
		return errno ? -errno : -EIO;
	return 0;
}

static void verbs_close(struct verbs *v)
{
	if (v->mr)
		ibv_dereg_mr(v->mr);
	if (v->pd)
		ibv_dealloc_pd(v->pd);
	if (v->ctx)
		ibv_close_device(v->ctx);
	if (v->mem)
		munmap(v->mem, MR_LEN);
	memset(v, 0, sizeof(*v));
}

static void verbs_info(const struct verbs *v, struct vinfo *vi)
{
	memset(vi, 0, sizeof(*vi));
	vi->cmd_fd = v->ctx->cmd_fd;
	vi->pd_handle = v->pd->handle;
	vi->mr_handle = v->mr->handle;
	vi->lkey = v->mr->lkey;
	vi->rkey = v->mr->rkey;
	vi->iova = (uintptr_t)v->mem;
}

/* The test's own verbs context; the test is skipped without the device. */
static void verbs_open(struct verbs *v)
{
	int r = verbs_try_open(v);

	if (r == -ENODEV)
		mt_skip("no RDMA device " IBDEV);
	REQUIREF(r == 0, "verbs on " IBDEV ": %s", mt_errname(-r));
}

static void publish_args(struct mcxfer_publish_mr *p, const struct vinfo *vi, uint64_t id)
{
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	p->id = id;
	p->uverbs_fd = (uint32_t)vi->cmd_fd;
	p->pd_handle = vi->pd_handle;
	p->mr_handle = vi->mr_handle;
	p->lkey = vi->lkey;
	p->rkey = vi->rkey;
	p->access = MR_ACCESS;
	p->iova = vi->iova;
	p->length = MR_LEN;
}

static void get_mr_args(struct mcxfer_get_mr *g, uint64_t id, const char *ibdev, uint32_t index)
{
	memset(g, 0, sizeof(*g));
	g->size = sizeof(*g);
	g->id = id;
	g->ibdev = (uintptr_t)ibdev;
	g->index = index;
}

/* --------------------------------------------------------------- agents */

enum ag_op {
	AG_READY = 1,
	AG_IOCTL,	/* cmd on the agent's /dev/mcxfer fd with data as its struct */
	AG_CLOSE,	/* close(arg) */
	AG_VERBS,	/* open the agent's own verbs context; data: struct vinfo */
	AG_EVENTS,	/* wait up to arg ms, then read every queued event into data */
	AG_LIST_FIND,	/* LIST record of entry arg into data, or -ENOENT */
	AG_SEND_FD,	/* send the agent's /dev/mcxfer fd back */
	AG_TAKE_FD,	/* use the fd that comes with the message as /dev/mcxfer */
	AG_QUIT,	/* exit now */
};

#define AG_DATA		1024
#define AG_STR		80

struct ag_msg {
	int32_t op;
	int32_t ret;
	uint64_t cmd;
	int64_t arg;
	uint32_t len;
	/* offsets of pointer fields in data to point at str[i] there; 0: none */
	uint32_t str_off[2];
	char str[2][AG_STR];
	unsigned char data[AG_DATA];
};

struct agent {
	pid_t pid;
	int sock;
	const char *name;
};

/*
 * The test's ends of the agents' sockets: a new agent closes them, so that
 * an agent's socket is not kept open by its siblings.
 */
#define AG_MAX 8
static int ag_socks[AG_MAX] = { -1, -1, -1, -1, -1, -1, -1, -1 };

static ssize_t msg_send(int sock, const struct ag_msg *m, int fd)
{
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

static ssize_t msg_recv(int sock, struct ag_msg *m, int *fd)
{
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

static void agent_events(int fd, struct ag_msg *m)
{
	const size_t sz = sizeof(struct mcxfer_event);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;

	if (poll(&p, 1, (int)m->arg) > 0) {
		while ((n + 1) * sz <= AG_DATA) {
			ssize_t got = read(fd, m->data + n * sz, AG_DATA - n * sz);

			if (got <= 0)
				break;
			n += (size_t)got / sz;
		}
	}
	m->len = (uint32_t)(n * sz);
}

/* The agent's side: serve requests until the socket closes. */
static void __attribute__((noreturn)) agent_main(int sock, uid_t uid, gid_t gid)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	struct verbs v = { 0 };
	struct ag_msg m;
	int fd = -1, rfd, r;

	/* Unprivileged MRs count against RLIMIT_MEMLOCK. */
	setrlimit(RLIMIT_MEMLOCK, &rl);
	r = mcx_become(uid, gid);
	if (!r) {
		fd = open(MCX_DEV, O_RDWR | O_CLOEXEC | O_NONBLOCK);
		r = fd < 0 ? -errno : 0;
	}
	memset(&m, 0, sizeof(m));
	m.op = AG_READY;
	m.ret = r;
	msg_send(sock, &m, -1);
	if (r)
		_exit(1);
	for (;;) {
		if (msg_recv(sock, &m, &rfd) <= 0)
			_exit(0);
		m.ret = 0;
		switch (m.op) {
		case AG_IOCTL:
			for (int i = 0; i < 2; i++) {
				uint64_t p = (uintptr_t)m.str[i];

				if (m.str_off[i])
					memcpy(m.data + m.str_off[i], &p, sizeof(p));
			}
			m.ret = mcx_ioctl(fd, (unsigned long)m.cmd, m.data);
			break;
		case AG_CLOSE:
			m.ret = close((int)m.arg) ? -errno : 0;
			break;
		case AG_VERBS:
			if (!v.ctx)
				m.ret = verbs_try_open(&v);
			if (!m.ret)
				verbs_info(&v, (struct vinfo *)m.data);
			break;
		case AG_EVENTS:
			agent_events(fd, &m);
			break;
		case AG_LIST_FIND: {
			const struct mcxfer_entry_info *e = mcx_list_find(fd, (uint64_t)m.arg);

			if (e)
				memcpy(m.data, e, sizeof(*e));
			else
				m.ret = -ENOENT;
			break;
		}
		case AG_SEND_FD:
			msg_send(sock, &m, fd);
			continue;
		case AG_TAKE_FD:
			if (rfd < 0) {
				m.ret = -EBADF;
				break;
			}
			close(fd);
			fd = rfd;
			rfd = -1;
			break;
		case AG_QUIT:
			_exit(0);
		default:
			m.ret = -EINVAL;
		}
		if (rfd >= 0)
			close(rfd);
		msg_send(sock, &m, -1);
	}
}

/*
 * Start an agent acting as uid/gid (gid its only group).  It inherits the
 * test's fds, dma-bufs included, as they are at this call.
 */
static void agent_start(struct agent *ag, const char *name, uid_t uid, gid_t gid)
{
	struct ag_msg m;
	int sv[2], rfd;

	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	fflush(NULL);
	ag->pid = fork();
	REQUIRE(ag->pid >= 0);
	if (ag->pid == 0) {
		close(sv[0]);
		for (int i = 0; i < AG_MAX; i++)
			if (ag_socks[i] >= 0)
				close(ag_socks[i]);
		agent_main(sv[1], uid, gid);
	}
	close(sv[1]);
	ag->sock = sv[0];
	for (int i = 0; i < AG_MAX; i++) {
		if (ag_socks[i] < 0) {
			ag_socks[i] = ag->sock;
			break;
		}
	}
	ag->name = name;
	REQUIREF(msg_recv(ag->sock, &m, &rfd) == sizeof(m) && m.op == AG_READY,
		 "agent %s did not start", name);
	REQUIREF(m.ret == 0, "agent %s (uid %u): %s", name, (unsigned int)uid,
		 mt_errname(-m.ret));
}

static void agent_stop(struct agent *ag)
{
	struct ag_msg m = { .op = AG_QUIT };
	int st;

	if (ag->sock < 0)
		return;
	msg_send(ag->sock, &m, -1);
	for (int i = 0; i < AG_MAX; i++)
		if (ag_socks[i] == ag->sock)
			ag_socks[i] = -1;
	close(ag->sock);
	ag->sock = -1;
	while (waitpid(ag->pid, &st, 0) < 0 && errno == EINTR)
		;
}

/* One round trip; send_fd (or -1) travels with the request. */
static int ag_call(struct agent *ag, struct ag_msg *m, int send_fd, int *recv_fd)
{
	int op = m->op, rfd;

	REQUIREF(msg_send(ag->sock, m, send_fd) == sizeof(*m), "agent %s: send: %s", ag->name,
		 mt_errname(errno));
	REQUIREF(msg_recv(ag->sock, m, &rfd) == sizeof(*m) && m->op == op,
		 "agent %s: no answer to op %d", ag->name, op);
	if (recv_fd)
		*recv_fd = rfd;
	else if (rfd >= 0)
		close(rfd);
	return m->ret;
}

/* ioctl through the agent; the strings arg points at travel with it. */
static int ag_ioctl(struct agent *ag, unsigned long cmd, void *arg, size_t len)
{
	struct ag_msg m = { .op = AG_IOCTL, .cmd = cmd, .len = (uint32_t)len };
	size_t offs[2] = { 0, 0 };
	uint64_t ptr[2] = { 0, 0 };

	REQUIRE(len <= AG_DATA);
	memcpy(m.data, arg, len);
	switch (cmd) {
	case MCXFER_IOC_PIN:
		offs[0] = offsetof(struct mcxfer_pin, name);
		offs[1] = offsetof(struct mcxfer_pin, ibdev);
		break;
	case MCXFER_IOC_LOOKUP:
		offs[0] = offsetof(struct mcxfer_lookup, name);
		break;
	case MCXFER_IOC_GET_MR:
		offs[0] = offsetof(struct mcxfer_get_mr, ibdev);
		break;
	}
	for (int i = 0; i < 2; i++) {
		if (!offs[i])
			continue;
		memcpy(&ptr[i], m.data + offs[i], sizeof(ptr[i]));
		if (!ptr[i])
			continue;
		snprintf(m.str[i], AG_STR, "%s", (const char *)(uintptr_t)ptr[i]);
		m.str_off[i] = (uint32_t)offs[i];
	}
	ag_call(ag, &m, -1, NULL);
	for (int i = 0; i < 2; i++)
		if (offs[i])
			memcpy(m.data + offs[i], &ptr[i], sizeof(ptr[i]));
	memcpy(arg, m.data, len);
	return m.ret;
}

static int ag_pin(struct agent *ag, int buf, uint64_t off, uint64_t len, const char *name,
		  uint32_t share, uint64_t *id)
{
	struct mcxfer_pin p = {
		.size = sizeof(p), .dmabuf_fd = (uint32_t)buf, .share = share,
		.offset = off, .length = len, .name = (uintptr_t)name,
	};
	int r = ag_ioctl(ag, MCXFER_IOC_PIN, &p, sizeof(p));

	if (!r && id)
		*id = p.id;
	return r;
}

static int ag_unpin(struct agent *ag, uint64_t id)
{
	struct mcxfer_unpin u = { .size = sizeof(u), .id = id };

	return ag_ioctl(ag, MCXFER_IOC_UNPIN, &u, sizeof(u));
}

/* LOOKUP by name or id (or both); an exported fd is closed in the agent. */
static int ag_lookup(struct agent *ag, const char *name, uint64_t id, uint32_t flags,
		     uint32_t owner_uid, struct mcxfer_lookup *l)
{
	int r;

	memset(l, 0, sizeof(*l));
	l->size = sizeof(*l);
	l->flags = flags;
	l->name = (uintptr_t)name;
	l->id = id;
	l->owner_uid = owner_uid;
	r = ag_ioctl(ag, MCXFER_IOC_LOOKUP, l, sizeof(*l));
	if (!r && (flags & MCXFER_LOOKUP_EXPORT_FD)) {
		struct ag_msg m = { .op = AG_CLOSE, .arg = l->fd };

		CHECKF(l->fd > 2, "agent %s: exported fd %u", ag->name, l->fd);
		CHECK_OK(ag_call(ag, &m, -1, NULL));
	}
	return r;
}

static int ag_evict(struct agent *ag, uint64_t id, uint32_t flags)
{
	struct mcxfer_evict e = { .size = sizeof(e), .flags = flags, .id = id };

	return ag_ioctl(ag, MCXFER_IOC_EVICT, &e, sizeof(e));
}

/* GET_MR; the uverbs fd it installs is closed in the agent. */
static int ag_get_mr(struct agent *ag, uint64_t id, const char *ibdev, uint32_t index)
{
	struct mcxfer_get_mr g;
	int r;

	get_mr_args(&g, id, ibdev, index);
	r = ag_ioctl(ag, MCXFER_IOC_GET_MR, &g, sizeof(g));
	if (!r) {
		struct ag_msg m = { .op = AG_CLOSE, .arg = g.uverbs_fd };

		CHECKF(g.uverbs_fd > 2, "agent %s: uverbs fd %u", ag->name, g.uverbs_fd);
		CHECK_OK(ag_call(ag, &m, -1, NULL));
	}
	return r;
}

/* The agent's own verbs context, opened as its uid. */
static void ag_verbs(struct agent *ag, struct vinfo *vi)
{
	struct ag_msg m = { .op = AG_VERBS };
	int r = ag_call(ag, &m, -1, NULL);

	REQUIREF(r == 0, "agent %s: verbs on " IBDEV ": %s", ag->name, mt_errname(-r));
	memcpy(vi, m.data, sizeof(*vi));
}

static int ag_publish(struct agent *ag, uint64_t id, const struct vinfo *vi, uint64_t *mr_id)
{
	struct mcxfer_publish_mr p;
	int r;

	publish_args(&p, vi, id);
	r = ag_ioctl(ag, MCXFER_IOC_PUBLISH_MR, &p, sizeof(p));
	if (!r && mr_id)
		*mr_id = p.mr_id;
	return r;
}

static size_t ag_events(struct agent *ag, struct mcxfer_event *ev, size_t max, int timeout_ms)
{
	struct ag_msg m = { .op = AG_EVENTS, .arg = timeout_ms };
	size_t n;

	CHECK_OK(ag_call(ag, &m, -1, NULL));
	n = m.len / sizeof(*ev);
	if (n > max)
		n = max;
	memcpy(ev, m.data, n * sizeof(*ev));
	return n;
}

static int ag_list_find(struct agent *ag, uint64_t id, struct mcxfer_entry_info *e)
{
	struct ag_msg m = { .op = AG_LIST_FIND, .arg = (int64_t)id };
	int r = ag_call(ag, &m, -1, NULL);

	if (!r)
		memcpy(e, m.data, sizeof(*e));
	return r;
}

/* The agent's /dev/mcxfer file, as a new fd of the test. */
static int ag_send_fd(struct agent *ag)
{
	struct ag_msg m = { .op = AG_SEND_FD };
	int fd;

	ag_call(ag, &m, -1, &fd);
	REQUIREF(fd >= 0, "agent %s sent no fd", ag->name);
	return fd;
}

/* From now on the agent acts through fd (a /dev/mcxfer file it is sent). */
static int ag_take_fd(struct agent *ag, int fd)
{
	struct ag_msg m = { .op = AG_TAKE_FD };

	return ag_call(ag, &m, fd, NULL);
}

/* ------------------------------------------------------------- helpers */

static int open_dev(void)
{
	int fd = mcx_open();

	REQUIREF(fd >= 0, "open %s: %s", MCX_DEV, mt_errname(-fd));
	return fd;
}

/* The entry as root (CAP_SYS_ADMIN sees everything) lists it; REQUIREs it. */
static struct mcxfer_entry_info root_entry(uint64_t id)
{
	const struct mcxfer_entry_info *e;
	int fd = open_dev();

	e = mcx_list_find(fd, id);
	close(fd);
	REQUIREF(e, "entry %llu not listed", (unsigned long long)id);
	return *e;
}

static bool root_listed(uint64_t id)
{
	int fd = open_dev();
	bool found = mcx_list_find(fd, id) != NULL;

	close(fd);
	return found;
}

static void info_now(struct mcxfer_info *info)
{
	REQUIRE_OK(mcx_info_global(info));
}

static const struct mcxfer_event *find_event(const struct mcxfer_event *ev, size_t n,
					     uint32_t type, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ev[i].type == type && ev[i].id == id)
			return &ev[i];
	return NULL;
}

static int pin_ibdev(int fd, int buf, uint64_t off, uint64_t len, const char *ibdev,
		     uint64_t *id)
{
	struct mcxfer_pin p = {
		.size = sizeof(p), .dmabuf_fd = (uint32_t)buf, .offset = off,
		.length = len, .ibdev = (uintptr_t)ibdev,
	};
	int r = mcx_ioctl(fd, MCXFER_IOC_PIN, &p);

	if (!r && id)
		*id = p.id;
	return r;
}

/*
 * Unprivileged agents open /dev/infiniband/uverbs*: make sure they may
 * (ib_uverbs creates them 0666; a udev rule may not have).  The modes are
 * put back by the suite's after_each hook.
 */
#define UVERBS_NODES 4
static mode_t uverbs_saved[UVERBS_NODES];
static bool uverbs_have[UVERBS_NODES];

static void uverbs_node(unsigned int i, char *path, size_t len)
{
	snprintf(path, len, "/dev/infiniband/uverbs%u", i);
}

static void uverbs_open_to_all(void)
{
	for (unsigned int i = 0; i < UVERBS_NODES; i++) {
		char path[64];
		struct stat st;

		uverbs_node(i, path, sizeof(path));
		if (stat(path, &st) || (st.st_mode & 0666) == 0666)
			continue;
		CHECKF(chmod(path, st.st_mode | 0666) == 0, "chmod %s: %s", path,
		       mt_errname(errno));
	}
}

static void uverbs_modes_save(void)
{
	for (unsigned int i = 0; i < UVERBS_NODES; i++) {
		char path[64];
		struct stat st;

		uverbs_node(i, path, sizeof(path));
		uverbs_have[i] = stat(path, &st) == 0;
		if (uverbs_have[i])
			uverbs_saved[i] = st.st_mode & 07777;
	}
}

static void uverbs_modes_restore(void)
{
	for (unsigned int i = 0; i < UVERBS_NODES; i++) {
		char path[64];
		struct stat st;

		uverbs_node(i, path, sizeof(path));
		if (uverbs_have[i] && !stat(path, &st) && (st.st_mode & 07777) != uverbs_saved[i])
			chmod(path, uverbs_saved[i]);
	}
}

/* Run a shell command; its output (trimmed) in out; the exit status or -1. */
static int run_cmd(const char *cmd, char *out, size_t len)
{
	char buf[512];
	size_t used = 0;
	FILE *f;
	int st;

	if (out && len)
		out[0] = '\0';
	f = popen(cmd, "re");
	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f)) {
		size_t n = strlen(buf);

		if (out && used + n < len) {
			memcpy(out + used, buf, n + 1);
			used += n;
		}
	}
	st = pclose(f);
	while (out && used && (out[used - 1] == '\n' || out[used - 1] == ' '))
		out[--used] = '\0';
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* --------------------------------------------------- 1: PUBLISH_MR owner */

/*
 * Only the entry's owner publishes, and only with a uverbs file opened as
 * the same fsuid as its /dev/mcxfer file: a reference taken through
 * LOOKUP_REF or a PIN hit is not enough, nor is another user's context.
 */
static void t_publish_mr_owner_only(void)
{
	struct agent a, b, c;
	struct verbs rootv;
	struct vinfo root_vi, vi;
	struct host_dmabuf buf;
	struct mcxfer_lookup l;
	uint64_t id = 0, hit = 0, mr_id = 0;

	mcx_dmabuf(MR_LEN, &buf);
	verbs_open(&rootv);
	verbs_info(&rootv, &root_vi);
	REQUIRE_OK(mcx_dev_open_to_all());
	uverbs_open_to_all();
	/* The agents inherit the root context's uverbs fd. */
	agent_start(&a, "A", MCX_UID_A, MCX_GID_AB);
	agent_start(&b, "B", MCX_UID_B, MCX_GID_AB);
	agent_start(&c, "C", MCX_UID_C, MCX_GID_C);

	REQUIRE_OK(ag_pin(&a, buf.fd, 0, MR_LEN, "trust/pub", MCXFER_SHARE_GROUP, &id));
	/* B, in A's group, holds a reference through LOOKUP_REF; C through a PIN hit. */
	REQUIRE_OK(ag_lookup(&b, NULL, id, MCXFER_LOOKUP_REF, 0, &l));
	REQUIRE_OK(ag_pin(&c, buf.fd, 0, MR_LEN, NULL, 0, &hit));
	REQUIRE_EQ(hit, id);
	CHECK_EQ(root_entry(id).holders, 3);

	ag_verbs(&b, &vi);
	CHECK_ERR(ag_publish(&b, id, &vi, NULL), EPERM);
	ag_verbs(&c, &vi);
	CHECK_ERR(ag_publish(&c, id, &vi, NULL), EPERM);
	CHECK_EQ(root_entry(id).nr_mrs, 0);

	/* The owner, but with root's uverbs file (fsuid 0): refused too. */
	CHECK_ERR(ag_publish(&a, id, &root_vi, NULL), EPERM);
	CHECK_EQ(root_entry(id).nr_mrs, 0);

	/* The owner with its own context. */
	ag_verbs(&a, &vi);
	CHECK_OK(ag_publish(&a, id, &vi, &mr_id));
	CHECK(mr_id != 0);
	CHECK_EQ(root_entry(id).nr_mrs, 1);

	CHECK_OK(ag_unpin(&c, id));
	CHECK_OK(ag_unpin(&b, id));
	CHECK_OK(ag_unpin(&a, id));
	agent_stop(&c);
	agent_stop(&b);
	agent_stop(&a);
	verbs_close(&rootv);
	host_dmabuf_destroy(&buf);
}

/* ------------------------------------------------------- 2: GET_MR owner */

/*
 * GET_MR hands out the publisher's whole uverbs context: only to the owner
 * uid (or CAP_SYS_ADMIN), whatever the share mode.  EPERM for users who
 * may see the entry, ENOENT for those who may not.
 */
static void t_get_mr_owner_only(void)
{
	struct host_dmabuf gbuf, abuf;
	struct agent a, b, c;
	struct mcxfer_lookup l;
	struct vinfo vi;
	uint64_t g = 0, all = 0;

	mcx_dmabuf(MR_LEN, &gbuf);
	mcx_dmabuf(MR_LEN, &abuf);
	REQUIRE_OK(mcx_dev_open_to_all());
	uverbs_open_to_all();
	agent_start(&a, "A", MCX_UID_A, MCX_GID_AB);
	agent_start(&b, "B", MCX_UID_B, MCX_GID_AB);
	agent_start(&c, "C", MCX_UID_C, MCX_GID_C);

	REQUIRE_OK(ag_pin(&a, gbuf.fd, 0, MR_LEN, "trust/mr-group", MCXFER_SHARE_GROUP, &g));
	REQUIRE_OK(ag_pin(&a, abuf.fd, 0, MR_LEN, "trust/mr-all", MCXFER_SHARE_ALL, &all));
	{
		struct ag_msg m = { .op = AG_VERBS };

		if (ag_call(&a, &m, -1, NULL) == -ENODEV)
			mt_skip("no RDMA device " IBDEV);
		memcpy(&vi, m.data, sizeof(vi));
		REQUIREF(m.ret == 0, "agent A: verbs: %s", mt_errname(-m.ret));
	}
	REQUIRE_OK(ag_publish(&a, g, &vi, NULL));
	REQUIRE_OK(ag_publish(&a, all, &vi, NULL));

	/* A group member sees the entry, but gets no MR: by index or by device. */
	CHECK_OK(ag_lookup(&b, NULL, g, 0, 0, &l));
	CHECK_EQ(l.nr_mrs, 1);
	CHECK_ERR(ag_get_mr(&b, g, NULL, 0), EPERM);
	CHECK_ERR(ag_get_mr(&b, g, IBDEV, 0), EPERM);
	/* Holding a reference changes nothing. */
	CHECK_OK(ag_lookup(&b, NULL, g, MCXFER_LOOKUP_REF, 0, &l));
	CHECK_ERR(ag_get_mr(&b, g, NULL, 0), EPERM);
	CHECK_OK(ag_unpin(&b, g));
	/* Share ALL: everybody sees it, nobody but the owner gets the MR. */
	CHECK_ERR(ag_get_mr(&b, all, NULL, 0), EPERM);
	CHECK_ERR(ag_get_mr(&c, all, IBDEV, 0), EPERM);
	/* Not in the group: the entry does not exist for C. */
	CHECK_ERR(ag_get_mr(&c, g, NULL, 0), ENOENT);
	CHECK_ERR(ag_get_mr(&c, g, IBDEV, 0), ENOENT);

	/* The owner does, from any of its processes; so does CAP_SYS_ADMIN. */
	CHECK_OK(ag_get_mr(&a, g, NULL, 0));
	CHECK_OK(ag_get_mr(&a, all, IBDEV, 0));
	agent_stop(&a);
	agent_start(&a, "A2", MCX_UID_A, MCX_GID_AB);
	CHECK_OK(ag_get_mr(&a, g, IBDEV, 0));
	{
		struct mcxfer_get_mr gm;
		int fd = open_dev();

		get_mr_args(&gm, g, NULL, 0);
		if (CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &gm)))
			close((int)gm.uverbs_fd);
		close(fd);
	}
	agent_stop(&c);
	agent_stop(&b);
	agent_stop(&a);
	host_dmabuf_destroy(&abuf);
	host_dmabuf_destroy(&gbuf);
}

/* --------------------------------------------- 3: EXPORT_FD whole buffer */

/*
 * An exported fd reaches the whole dma-buf, so another user gets it only
 * for an entry that covers the whole dma-buf: EACCES for a part, even one
 * it may see and pin.  The owner and CAP_SYS_ADMIN always may.
 */
static void t_export_fd_whole_only(void)
{
	uint64_t part = 0, tail = 0, head = 0, whole = 0;
	struct mcxfer_lookup l;
	struct host_dmabuf buf;
	struct agent a, b, c;
	int fd;

	mcx_dmabuf(4 * MCX_PAGE, &buf);
	REQUIRE_OK(mcx_dev_open_to_all());
	agent_start(&a, "A", MCX_UID_A, MCX_GID_AB);
	agent_start(&b, "B", MCX_UID_B, MCX_GID_AB);
	agent_start(&c, "C", MCX_UID_C, MCX_GID_C);
	REQUIRE_OK(ag_pin(&a, buf.fd, 0, MCX_PAGE, "trust/part", MCXFER_SHARE_ALL, &part));
	REQUIRE_OK(ag_pin(&a, buf.fd, MCX_PAGE, 3 * MCX_PAGE, NULL, MCXFER_SHARE_ALL, &tail));
	REQUIRE_OK(ag_pin(&a, buf.fd, 0, 3 * MCX_PAGE, NULL, MCXFER_SHARE_GROUP, &head));
	REQUIRE_OK(ag_pin(&a, buf.fd, 0, 4 * MCX_PAGE, "trust/whole", MCXFER_SHARE_ALL, &whole));

	CHECK_ERR(ag_lookup(&b, NULL, part, MCXFER_LOOKUP_EXPORT_FD, 0, &l), EACCES);
	CHECK_ERR(ag_lookup(&b, NULL, part, MCXFER_LOOKUP_EXPORT_FD | MCXFER_LOOKUP_REF, 0, &l),
		  EACCES);
	CHECK_EQ(root_entry(part).refs, 1);
	CHECK_ERR(ag_lookup(&b, "trust/part", 0, MCXFER_LOOKUP_EXPORT_FD | MCXFER_LOOKUP_OWNER,
			    MCX_UID_A, &l), EACCES);
	CHECK_ERR(ag_lookup(&b, NULL, tail, MCXFER_LOOKUP_EXPORT_FD, 0, &l), EACCES);
	CHECK_ERR(ag_lookup(&b, NULL, head, MCXFER_LOOKUP_EXPORT_FD, 0, &l), EACCES);
	CHECK_ERR(ag_lookup(&c, NULL, part, MCXFER_LOOKUP_EXPORT_FD, 0, &l), EACCES);
	/* The share mode still lets them see and pin the part. */
	CHECK_OK(ag_lookup(&b, NULL, part, MCXFER_LOOKUP_REF, 0, &l));
	CHECK_EQ(l.length, MCX_PAGE);
	CHECK_OK(ag_unpin(&b, part));
	/* The whole buffer they may export. */
	CHECK_OK(ag_lookup(&b, NULL, whole, MCXFER_LOOKUP_EXPORT_FD, 0, &l));
	CHECK_OK(ag_lookup(&c, "trust/whole", 0, MCXFER_LOOKUP_EXPORT_FD | MCXFER_LOOKUP_OWNER,
			   MCX_UID_A, &l));
	CHECK_EQ(l.id, whole);
	/* The owner may export any of its entries. */
	CHECK_OK(ag_lookup(&a, NULL, part, MCXFER_LOOKUP_EXPORT_FD, 0, &l));
	CHECK_OK(ag_lookup(&a, "trust/part", 0, MCXFER_LOOKUP_EXPORT_FD, 0, &l));
	CHECK_OK(ag_lookup(&a, NULL, tail, MCXFER_LOOKUP_EXPORT_FD, 0, &l));
	/* And CAP_SYS_ADMIN. */
	fd = open_dev();
	if (CHECK_OK(mcx_lookup_id(fd, part, MCXFER_LOOKUP_EXPORT_FD, &l)))
		close((int)l.fd);
	close(fd);
	CHECK_EQ(root_entry(part).refs, 1);
	CHECK_EQ(root_entry(whole).refs, 1);

	agent_stop(&c);
	agent_stop(&b);
	agent_stop(&a);
	host_dmabuf_destroy(&buf);
}

/* ------------------------------------------------------ 4: names per owner */

/*
 * A name is unique among one owner's entries: another user may use it too,
 * a plain LOOKUP finds the caller's own, MCXFER_LOOKUP_OWNER another
 * owner's where its share mode lets the caller see it.  Naming another
 * user's entry on a hit is EPERM, whatever the name.
 */
static void t_names_per_owner(void)
{
	struct host_dmabuf buf1, buf2, buf3;
	uint64_t a1 = 0, a2 = 0, b1 = 0, id = 0;
	struct mcxfer_lookup l;
	struct agent a, b, c;
	int fd;

	mcx_dmabuf(2 * MCX_PAGE, &buf1);
	mcx_dmabuf(2 * MCX_PAGE, &buf2);
	mcx_dmabuf(2 * MCX_PAGE, &buf3);
	REQUIRE_OK(mcx_dev_open_to_all());
	agent_start(&a, "A", MCX_UID_A, MCX_GID_AB);
	agent_start(&b, "B", MCX_UID_B, MCX_GID_AB);
	agent_start(&c, "C", MCX_UID_C, MCX_GID_C);

	REQUIRE_OK(ag_pin(&a, buf1.fd, 0, MCX_PAGE, "trust/kv", MCXFER_SHARE_GROUP, &a1));
	REQUIRE_OK(ag_pin(&a, buf1.fd, MCX_PAGE, MCX_PAGE, "trust/own", MCXFER_SHARE_OWNER, &a2));
	/* B uses A's name for its own buffer. */
	CHECK_OK(ag_pin(&b, buf2.fd, 0, MCX_PAGE, "trust/kv", MCXFER_SHARE_GROUP, &b1));
	CHECK(b1 != a1);

	/* Each finds its own. */
	if (CHECK_OK(ag_lookup(&b, "trust/kv", 0, 0, 0, &l))) {
		CHECK_EQ(l.id, b1);
		CHECK_EQ(l.owner_uid, MCX_UID_B);
	}
	if (CHECK_OK(ag_lookup(&a, "trust/kv", 0, 0, 0, &l)))
		CHECK_EQ(l.id, a1);
	if (CHECK_OK(ag_lookup(&b, "trust/kv", 0, MCXFER_LOOKUP_OWNER, MCX_UID_B, &l)))
		CHECK_EQ(l.id, b1);
	/* Another owner's, where its share mode lets the caller see it. */
	if (CHECK_OK(ag_lookup(&b, "trust/kv", 0, MCXFER_LOOKUP_OWNER, MCX_UID_A, &l))) {
		CHECK_EQ(l.id, a1);
		CHECK_EQ(l.owner_uid, MCX_UID_A);
	}
	if (CHECK_OK(ag_lookup(&a, "trust/kv", 0, MCXFER_LOOKUP_OWNER, MCX_UID_B, &l)))
		CHECK_EQ(l.id, b1);
	CHECK_ERR(ag_lookup(&b, "trust/own", 0, MCXFER_LOOKUP_OWNER, MCX_UID_A, &l), ENOENT);
	CHECK_ERR(ag_lookup(&b, "trust/own", 0, 0, 0, &l), ENOENT);
	CHECK_ERR(ag_lookup(&c, "trust/kv", 0, MCXFER_LOOKUP_OWNER, MCX_UID_A, &l), ENOENT);
	CHECK_ERR(ag_lookup(&c, "trust/kv", 0, 0, 0, &l), ENOENT);
	/* Root owns no "trust/kv" either: a plain lookup is among its own. */
	fd = open_dev();
	CHECK_ERR(mcx_lookup_name(fd, "trust/kv", 0, &l), ENOENT);

	/* EEXIST only for the caller's own name. */
	CHECK_ERR(ag_pin(&a, buf3.fd, 0, MCX_PAGE, "trust/kv", 0, &id), EEXIST);
	CHECK_ERR(ag_pin(&b, buf3.fd, 0, MCX_PAGE, "trust/kv", 0, &id), EEXIST);

	/* A named PIN that hits A's entry: naming is A's decision. */
	CHECK_ERR(ag_pin(&b, buf1.fd, 0, MCX_PAGE, "trust/kv", 0, &id), EPERM);
	CHECK_ERR(ag_pin(&b, buf1.fd, 0, MCX_PAGE, "trust/mine", 0, &id), EPERM);
	CHECK_ERR(ag_pin(&c, buf1.fd, MCX_PAGE, MCX_PAGE, "trust/own", 0, &id), EPERM);
	CHECK_EQ(root_entry(a1).refs, 1);
	CHECK_EQ(root_entry(a2).refs, 1);
	/* Unnamed, the hit is fine. */
	CHECK_OK(ag_pin(&b, buf1.fd, 0, MCX_PAGE, NULL, 0, &id));
	CHECK_EQ(id, a1);
	CHECK_OK(ag_unpin(&b, id));

	/* Name and id together: which one? EINVAL. */
	CHECK_ERR(ag_lookup(&a, "trust/kv", a1, 0, 0, &l), EINVAL);
	{
		struct mcxfer_lookup lk = {
			.size = sizeof(lk), .name = (uintptr_t)"trust/kv", .id = 424242,
		};

		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LOOKUP, &lk), EINVAL);
	}
	close(fd);

	agent_stop(&c);
	agent_stop(&b);
	agent_stop(&a);
	host_dmabuf_destroy(&buf3);
	host_dmabuf_destroy(&buf2);
	host_dmabuf_destroy(&buf1);
}

/* -------------------------------------------------- 5: opener's credentials */

/* Act as uid/gid but keep root as the saved uid, so that we can come back. */
static void act_as(uid_t uid, gid_t gid)
{
	REQUIRE(setgroups(1, &gid) == 0);
	REQUIRE(setresgid(gid, gid, 0) == 0);
	REQUIRE(setresuid(uid, uid, 0) == 0);
}

static void act_as_root(void)
{
	REQUIRE(setresuid(0, 0, 0) == 0);
	REQUIRE(setresgid(0, 0, 0) == 0);
	REQUIRE(setgroups(0, NULL) == 0);
}

static int open_as(uid_t uid, gid_t gid)
{
	int fd;

	act_as(uid, gid);
	fd = mcx_open();
	act_as_root();
	REQUIREF(fd >= 0, "open %s as %u: %s", MCX_DEV, (unsigned int)uid, mt_errname(-fd));
	return fd;
}

/*
 * A file opened as uid A keeps acting as A when its task becomes another
 * uid: it sees A's entries, its names are A's, what it pins is A's, and it
 * has none of the rights of the task now calling (root's included).
 */
static void t_opener_creds_setresuid(void)
{
	uint64_t root_id = 0, aid = 0, id = 0;
	struct mcxfer_lookup l;
	struct host_dmabuf buf;
	int root_fd, fda, fdc;

	mcx_dmabuf(4 * MCX_PAGE, &buf);
	REQUIRE_OK(mcx_dev_open_to_all());
	root_fd = open_dev();
	REQUIRE_OK(mcx_pin(root_fd, buf.fd, 3 * MCX_PAGE, MCX_PAGE, "trust/root", MCXFER_SHARE_OWNER,
			   0, &root_id, NULL));
	REQUIRE_OK(mcx_unpin(root_fd, root_id));
	fda = open_as(MCX_UID_A, MCX_GID_AB);
	fdc = open_as(MCX_UID_C, MCX_GID_C);

	/* Root calls through A's file: what it pins is A's. */
	REQUIRE_OK(mcx_pin(fda, buf.fd, 0, MCX_PAGE, "trust/cred", MCXFER_SHARE_OWNER, 0, &aid,
			   NULL));
	if (CHECK_OK(mcx_lookup_id(root_fd, aid, 0, &l))) {
		CHECK_EQ(l.owner_uid, MCX_UID_A);
		CHECK_EQ(l.owner_gid, MCX_GID_AB);
	}
	CHECK_OK(mcx_unpin(fda, aid));
	/* Root's own entry is not visible through A's file, nor evictable. */
	CHECK_ERR(mcx_lookup_id(fda, root_id, 0, &l), ENOENT);
	CHECK_ERR(mcx_lookup_name(fda, "trust/root", 0, &l), ENOENT);
	CHECK_ERR(mcx_evict(fda, root_id, 0, NULL), ENOENT);
	CHECK(mcx_list_find(fda, root_id) == NULL);
	CHECK(mcx_list_find(root_fd, root_id) != NULL);

	/* Acting as A, C's file still sees only what C may. */
	act_as(MCX_UID_A, MCX_GID_AB);
	CHECK_ERR(mcx_lookup_id(fdc, aid, 0, &l), ENOENT);
	CHECK_ERR(mcx_lookup_owner(fdc, "trust/cred", MCX_UID_A, 0, &l), ENOENT);
	CHECK(mcx_list_find(fdc, aid) == NULL);
	act_as_root();

	/* For good now: the task is C; A's file still acts as A. */
	close(root_fd);
	REQUIRE_OK(mcx_become(MCX_UID_C, MCX_GID_C));
	if (CHECK_OK(mcx_lookup_name(fda, "trust/cred", 0, &l)))
		CHECK_EQ(l.id, aid);
	CHECK_OK(mcx_lookup_id(fda, aid, 0, &l));
	CHECK(mcx_list_find(fda, aid) != NULL);
	CHECK_OK(mcx_pin(fda, buf.fd, MCX_PAGE, MCX_PAGE, NULL, MCXFER_SHARE_OWNER, 0, &id, NULL));
	if (CHECK_OK(mcx_lookup_id(fda, id, 0, &l)))
		CHECK_EQ(l.owner_uid, MCX_UID_A);
	CHECK_OK(mcx_unpin(fda, id));
	/* ...and C's own file does not see A's. */
	CHECK_ERR(mcx_lookup_id(fdc, aid, 0, &l), ENOENT);
	close(fdc);
	close(fda);
	host_dmabuf_destroy(&buf);
}

/*
 * An fd passed over a unix socket to a process of uid B acts as its opener
 * A there; and handed to root, it gives root's task no more than A has.
 */
static void t_opener_creds_passed_fd(void)
{
	struct mcxfer_entry_info e;
	uint64_t aid = 0, root_id = 0, bid = 0;
	struct mcxfer_lookup l;
	struct host_dmabuf buf;
	struct agent a, b, b2;
	int fda, root_fd;

	mcx_dmabuf(4 * MCX_PAGE, &buf);
	REQUIRE_OK(mcx_dev_open_to_all());
	agent_start(&a, "A", MCX_UID_A, MCX_GID_AB);
	agent_start(&b, "B", MCX_UID_B, MCX_GID_AB);
	agent_start(&b2, "B2", MCX_UID_B, MCX_GID_AB);
	root_fd = open_dev();
	REQUIRE_OK(mcx_pin(root_fd, buf.fd, 3 * MCX_PAGE, MCX_PAGE, NULL, MCXFER_SHARE_OWNER, 0,
			   &root_id, NULL));

	REQUIRE_OK(ag_pin(&a, buf.fd, 0, MCX_PAGE, "trust/passed", MCXFER_SHARE_OWNER, &aid));
	REQUIRE_OK(ag_unpin(&a, aid));
	fda = ag_send_fd(&a);
	REQUIRE_OK(ag_take_fd(&b, fda));

	/* B's task, A's file: A's names, A's entries, A's ownership. */
	if (CHECK_OK(ag_lookup(&b, "trust/passed", 0, 0, 0, &l))) {
		CHECK_EQ(l.id, aid);
		CHECK_EQ(l.owner_uid, MCX_UID_A);
	}
	CHECK_OK(ag_list_find(&b, aid, &e));
	if (CHECK_OK(ag_pin(&b, buf.fd, MCX_PAGE, MCX_PAGE, NULL, MCXFER_SHARE_OWNER, &bid))) {
		e = root_entry(bid);
		CHECK_EQ(e.owner_uid, MCX_UID_A);
		CHECK_OK(ag_unpin(&b, bid));
	}
	/* B's own file sees none of it. */
	CHECK_ERR(ag_lookup(&b2, NULL, aid, 0, 0, &l), ENOENT);
	CHECK_ERR(ag_lookup(&b2, "trust/passed", 0, MCXFER_LOOKUP_OWNER, MCX_UID_A, &l), ENOENT);

	/* In root's hands, A's file is still A's: root's entry stays hidden. */
	CHECK_ERR(mcx_lookup_id(fda, root_id, 0, &l), ENOENT);
	CHECK(mcx_list_find(fda, root_id) == NULL);
	if (CHECK_OK(mcx_lookup_name(fda, "trust/passed", 0, &l)))
		CHECK_EQ(l.id, aid);

	CHECK_OK(mcx_unpin(root_fd, root_id));
	close(fda);
	close(root_fd);
	agent_stop(&b2);
	agent_stop(&b);
	agent_stop(&a);
	host_dmabuf_destroy(&buf);
}

/* ------------------------------------------------------------- 6: revoke */

/*
 * The owner revokes its entry while others hold it: it dies at once (pin
 * and MRs dropped), holders are told and get EIDRM for every use but
 * UNPIN, and the last UNPIN frees it.
 */
static void t_revoke(void)
{
	struct mcxfer_info before, after, info;
	struct mcxfer_event ev[32];
	struct mcxfer_entry_info e;
	struct mcxfer_lookup l;
	struct host_dmabuf buf;
	struct agent a, b, c;
	struct vinfo vi;
	uint64_t id = 0, hit = 0, mr_id = 0;
	bool have_mr;
	size_t n;

	mcx_dmabuf(MR_LEN, &buf);
	REQUIRE_OK(mcx_dev_open_to_all());
	uverbs_open_to_all();
	agent_start(&a, "A", MCX_UID_A, MCX_GID_AB);
	agent_start(&b, "B", MCX_UID_B, MCX_GID_AB);
	agent_start(&c, "C", MCX_UID_C, MCX_GID_C);
	info_now(&before);

	REQUIRE_OK(ag_pin(&a, buf.fd, 0, MR_LEN, "trust/revoke", MCXFER_SHARE_ALL, &id));
	{
		struct ag_msg m = { .op = AG_VERBS };

		have_mr = ag_call(&a, &m, -1, NULL) == 0;
		memcpy(&vi, m.data, sizeof(vi));
	}
	if (have_mr)
		REQUIRE_OK(ag_publish(&a, id, &vi, &mr_id));
	else
		mt_log("no verbs on " IBDEV ": MR removal not checked");
	REQUIRE_OK(ag_lookup(&b, NULL, id, MCXFER_LOOKUP_REF, 0, &l));
	REQUIRE_OK(ag_pin(&c, buf.fd, 0, MR_LEN, NULL, 0, &hit));
	REQUIRE_EQ(hit, id);
	REQUIRE_OK(mcx_info_global(&info));

	/* Argument rules, and nobody but the owner. */
	CHECK_ERR(ag_evict(&a, id, MCXFER_EVICT_REVOKE | MCXFER_EVICT_IDLE), EINVAL);
	CHECK_ERR(ag_evict(&a, 0, MCXFER_EVICT_REVOKE | MCXFER_EVICT_IDLE), EINVAL);
	CHECK_ERR(ag_evict(&a, 0, MCXFER_EVICT_REVOKE), EINVAL);
	CHECK_ERR(ag_evict(&b, id, MCXFER_EVICT_REVOKE), EPERM);
	CHECK_ERR(ag_evict(&c, id, MCXFER_EVICT_REVOKE), EPERM);
	CHECK_EQ(root_entry(id).state, MCXFER_STATE_ACTIVE);

	REQUIRE_OK(ag_evict(&a, id, MCXFER_EVICT_REVOKE));
	e = root_entry(id);
	CHECK_EQ(e.state, MCXFER_STATE_DEAD);
	CHECK_EQ(e.nr_mrs, 0);
	CHECK_EQ(e.pinned_bytes, 0);
	CHECK_EQ(e.refs, 3);
	REQUIRE_OK(mcx_info_global(&after));
	CHECK_EQ(info.bytes_pinned - after.bytes_pinned, MR_LEN);
	CHECK_EQ(after.entries_dead - info.entries_dead, 1);
	CHECK_EQ(after.mrs, before.mrs);

	/* Every holder is told; the MR's removal too. */
	{
		struct agent *holders[] = { &a, &b, &c };

		for (size_t i = 0; i < MT_ARRAY_SIZE(holders); i++) {
			const struct mcxfer_event *mr_ev;

			n = ag_events(holders[i], ev, MT_ARRAY_SIZE(ev), 2000);
			CHECKF(find_event(ev, n, MCXFER_EVENT_REVOKED, id),
			       "holder %s: no REVOKED event", holders[i]->name);
			if (!have_mr)
				continue;
			mr_ev = find_event(ev, n, MCXFER_EVENT_MR_REMOVED, id);
			if (CHECKF(mr_ev, "holder %s: no MR_REMOVED event", holders[i]->name))
				CHECK_EQ(mr_ev->mr_id, mr_id);
		}
	}

	/* Dead for everybody: EIDRM for every use. */
	CHECK_ERR(ag_lookup(&b, NULL, id, MCXFER_LOOKUP_REF, 0, &l), EIDRM);
	CHECK_ERR(ag_lookup(&b, NULL, id, MCXFER_LOOKUP_EXPORT_FD, 0, &l), EIDRM);
	CHECK_ERR(ag_lookup(&c, NULL, id, MCXFER_LOOKUP_REF, 0, &l), EIDRM);
	CHECK_ERR(ag_lookup(&a, NULL, id, MCXFER_LOOKUP_REF, 0, &l), EIDRM);
	CHECK_ERR(ag_lookup(&a, NULL, id, MCXFER_LOOKUP_EXPORT_FD, 0, &l), EIDRM);
	if (CHECK_OK(ag_lookup(&b, NULL, id, 0, 0, &l)))
		CHECK_EQ(l.state, MCXFER_STATE_DEAD);
	if (have_mr) {
		CHECK_ERR(ag_publish(&a, id, &vi, NULL), EIDRM);
		CHECK_ERR(ag_get_mr(&a, id, NULL, 0), EIDRM);
		CHECK_ERR(ag_get_mr(&a, id, IBDEV, 0), EIDRM);
	}
	CHECK_ERR(ag_evict(&a, id, MCXFER_EVICT_REVOKE), EIDRM);
	CHECK_EQ(root_entry(id).refs, 3);

	/* UNPIN still works; the last one frees it. */
	CHECK_OK(ag_unpin(&b, id));
	CHECK_OK(ag_unpin(&c, id));
	CHECK_ERR(ag_unpin(&c, id), ENOENT);
	CHECK_EQ(root_entry(id).state, MCXFER_STATE_DEAD);
	CHECK_OK(ag_unpin(&a, id));
	CHECK(!root_listed(id));
	REQUIRE_OK(mcx_info_global(&after));
	CHECK_EQ(after.entries, before.entries);
	CHECK_EQ(after.entries_dead, before.entries_dead);
	CHECK_EQ(after.bytes_pinned, before.bytes_pinned);

	agent_stop(&c);
	agent_stop(&b);
	agent_stop(&a);
	host_dmabuf_destroy(&buf);
}

/* ------------------------------------------------------------ 7: netns */

/* The netns mode of the RDMA subsystem ("shared" or "exclusive"). */
static int rdma_netns_mode(char *mode, size_t len)
{
	char out[256], *p;

	if (run_cmd("rdma system show 2>&1", out, sizeof(out)))
		return -EIO;
	p = strstr(out, "netns ");
	if (!p || sscanf(p + 6, "%15s", mode) != 1 || len < 16)
		return -EINVAL;
	return 0;
}

/*
 * Back to mode.  Leaving exclusive mode needs every other network
 * namespace gone, and a namespace dies some time after its last process.
 */
static int rdma_netns_restore(const char *mode)
{
	char cmd[64], out[256], now[16];

	snprintf(cmd, sizeof(cmd), "rdma system set netns %s 2>&1", mode);
	for (int i = 0; i < 100; i++) {
		if (!rdma_netns_mode(now, sizeof(now)) && !strcmp(now, mode))
			return 0;
		if (!run_cmd(cmd, out, sizeof(out)))
			return 0;
		mcx_msleep(200);
	}
	mt_log("%s: %s", cmd, out);
	return -EBUSY;
}

struct netns_arg {
	int buf_fd;
	int init_fd;		/* /dev/mcxfer opened in the initial netns */
	int want;		/* what PIN for IBDEV gives in the new netns */
};

static void netns_child(void *p)
{
	struct netns_arg *a = p;
	uint64_t id = 0;
	int fd;

	REQUIREF(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", mt_errname(errno));
	fd = open_dev();
	if (a->want)
		CHECK_ERR(pin_ibdev(fd, a->buf_fd, 0, MCX_PAGE, IBDEV, &id), a->want);
	else if (CHECK_OK(pin_ibdev(fd, a->buf_fd, 0, MCX_PAGE, IBDEV, &id)))
		CHECK_OK(mcx_unpin(fd, id));
	/* The file opened in the initial namespace resolves there. */
	if (CHECK_OK(pin_ibdev(a->init_fd, a->buf_fd, MCX_PAGE, MCX_PAGE, IBDEV, &id)))
		CHECK_OK(mcx_unpin(a->init_fd, id));
	close(fd);
}

/*
 * ibdev is resolved in the opener's network namespace: with the RDMA
 * subsystem in exclusive mode, a process in a new netns cannot name rxe0.
 */
static void t_ibdev_netns(void)
{
	struct netns_arg a = { .want = ENODEV };
	struct host_dmabuf buf;
	char out[256], mode[16];
	int r;

	if (access("/sys/class/infiniband/" IBDEV, F_OK))
		mt_skip("no RDMA device " IBDEV);
	if (rdma_netns_mode(mode, sizeof(mode)))
		mt_skip("rdma system show: no netns mode (iproute2 rdma tool missing?)");
	mcx_dmabuf(2 * MCX_PAGE, &buf);
	a.buf_fd = buf.fd;
	a.init_fd = open_dev();

	r = run_cmd("rdma system set netns exclusive 2>&1", out, sizeof(out));
	if (r)
		mt_skip("rdma system set netns exclusive failed (%d): %s", r, out);
	mt_wait(mt_fork(netns_child, &a), "child in a new netns, exclusive mode");
	CHECKF(rdma_netns_restore(mode) == 0, "could not put the RDMA netns mode back to %s",
	       mode);

	/* In shared mode every namespace sees every device. */
	if (!strcmp(mode, "shared")) {
		a.want = 0;
		mt_wait(mt_fork(netns_child, &a), "child in a new netns, shared mode");
	}
	close(a.init_fd);
	host_dmabuf_destroy(&buf);
}

/* ------------------------------------------------------------ 8: charging */

/*
 * An exporter pins and maps the whole dma-buf, so one byte of a 4-page
 * buffer charges 4 pages, once per (dma-buf, device), to the uid that made
 * the attachment, and the per-user cap counts that.
 */
static void t_charge_whole_dmabuf(void)
{
	struct mcxfer_info i0, i1, i2, i3;
	struct mcxfer_entry_info e;
	struct host_dmabuf buf, buf2;
	uint64_t e1 = 0, e2 = 0, e3 = 0, id = 0;
	struct agent b;
	int fd;

	mcx_dmabuf(4 * MCX_PAGE, &buf);
	mcx_dmabuf(4 * MCX_PAGE, &buf2);
	REQUIRE_OK(mcx_dev_open_to_all());
	agent_start(&b, "B", MCX_UID_B, MCX_GID_AB);
	fd = open_dev();
	info_now(&i0);

	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, 1, NULL, MCXFER_SHARE_ALL, 0, &e1, NULL));
	info_now(&i1);
	CHECK_EQ(i1.bytes_pinned - i0.bytes_pinned, 4 * MCX_PAGE);
	CHECK_EQ(i1.attachments - i0.attachments, 1);
	CHECK_EQ(i1.entries - i0.entries, 1);
	e = root_entry(e1);
	CHECK_EQ(e.length, 1);
	CHECK_EQ(e.pinned_bytes, 4 * MCX_PAGE);
	CHECK_EQ(e.charged_uid, getuid());

	/* Another range of the same buffer for the same (no) device: free. */
	REQUIRE_OK(mcx_pin(fd, buf.fd, MCX_PAGE, MCX_PAGE, NULL, 0, 0, &e2, NULL));
	CHECK(e2 != e1);
	info_now(&i2);
	CHECK_EQ(i2.bytes_pinned, i1.bytes_pinned);
	CHECK_EQ(i2.attachments, i1.attachments);
	CHECK_EQ(i2.entries - i1.entries, 1);
	e = root_entry(e2);
	CHECK_EQ(e.pinned_bytes, 4 * MCX_PAGE);
	CHECK_EQ(e.charged_uid, getuid());

	/* Under a per-user cap of 2 pages, 1 byte of a fresh 4-page buffer is too much... */
	REQUIRE_OK(mcx_param_set("user_max_pinned_bytes", 2 * MCX_PAGE));
	CHECK_ERR(mcx_pin(fd, buf2.fd, 0, 1, NULL, 0, 0, &id, NULL), EDQUOT);
	CHECK_ERR(ag_pin(&b, buf2.fd, 3 * MCX_PAGE, 1, NULL, 0, &id), EDQUOT);
	/* ...while B's entry on root's attachment is charged to root, not to B. */
	if (CHECK_OK(ag_pin(&b, buf.fd, 2 * MCX_PAGE, MCX_PAGE, NULL, 0, &e3))) {
		e = root_entry(e3);
		CHECK_EQ(e.owner_uid, MCX_UID_B);
		CHECK_EQ(e.charged_uid, getuid());
		CHECK_EQ(e.pinned_bytes, 4 * MCX_PAGE);
		CHECK_OK(ag_unpin(&b, e3));
	}
	info_now(&i3);
	CHECK_EQ(i3.bytes_pinned, i1.bytes_pinned);
	CHECK_EQ(i3.attachments, i1.attachments);

	/* Idle entries keep their charge until they go. */
	CHECK_OK(mcx_unpin(fd, e1));
	CHECK_OK(mcx_unpin(fd, e2));
	info_now(&i3);
	CHECK_EQ(i3.bytes_pinned, i1.bytes_pinned);
	CHECK(mcx_evict_all_idle() >= 2);
	info_now(&i3);
	CHECK_EQ(i3.bytes_pinned, i0.bytes_pinned);
	CHECK_EQ(i3.attachments, i0.attachments);
	close(fd);
	agent_stop(&b);
	host_dmabuf_destroy(&buf2);
	host_dmabuf_destroy(&buf);
}

/* ---------------------------------------------------------- 9: default caps */

/* Did the rig load the module with its own per-user caps? */
static bool rig_sets_user_caps(void)
{
	const char *res = getenv("MCXFER_RESULTS");
	char path[512], line[1024];
	bool set = false;
	FILE *f;

	if (!res)
		return false;
	snprintf(path, sizeof(path), "%s/.rig/config", res);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "RIG_MODULE_PARAMS=", 18) && strstr(line, "user_max_"))
			set = true;
	fclose(f);
	return set;
}

/* The default MODULE_PARM_DESC documents for param: > 0 required. */
static void check_documented_default(const char *param)
{
	const char *repo = getenv("MCXFER_REPO"), *kver = getenv("MCXFER_KVER");
	char cmd[600], out[4096], *p, *d;
	unsigned long long v;

	REQUIREF(kver, "MCXFER_KVER is not set");
	snprintf(cmd, sizeof(cmd), "modinfo -p '%s/build/kmod/%s/mcxfer.ko' 2>&1",
		 repo ? repo : ".", kver);
	REQUIREF(run_cmd(cmd, out, sizeof(out)) == 0, "%s: %s", cmd, out);
	p = strstr(out, param);
	REQUIREF(p, "modinfo -p lists no %s", param);
	p[strcspn(p, "\n")] = '\0';
	d = strstr(p, "default");
	REQUIREF(d, "%s documents no default: \"%s\"", param, p);
	d += strcspn(d, "0123456789");
	v = strtoull(d, NULL, 0);
	CHECKF(v > 0, "%s: documented default is 0: \"%s\"", param, p);
}

/* Caps are on by default: a fresh module limits what each uid can pin. */
static void t_default_caps(void)
{
	static const char *const params[] = { "user_max_pinned_bytes", "user_max_entries" };
	struct mcxfer_info info;
	unsigned long long v[2];

	info_now(&info);
	for (size_t i = 0; i < MT_ARRAY_SIZE(params); i++)
		REQUIRE_OK(mcx_param_get(params[i], &v[i]));
	CHECK_EQ(info.user_max_pinned_bytes, v[0]);
	CHECK_EQ(info.user_max_entries, v[1]);
	if (rig_sets_user_caps()) {
		mt_log("the rig sets per-user caps: checking the documented defaults");
		for (size_t i = 0; i < MT_ARRAY_SIZE(params); i++)
			check_documented_default(params[i]);
		return;
	}
	for (size_t i = 0; i < MT_ARRAY_SIZE(params); i++)
		CHECKF(v[i] > 0, "%s is %llu after loading with no parameters", params[i], v[i]);
	mt_log("defaults: user_max_pinned_bytes %llu, user_max_entries %llu", v[0], v[1]);
}

/* ------------------------------------------------------ 10: uverbs files */

/*
 * PUBLISH_MR keeps the uverbs_fd's file and hands it out as a verbs
 * context: any other file is EINVAL, also character devices of the same
 * major as uverbs (umad, issm) and files of RDMA modules.
 */
static void t_publish_mr_uverbs_only(void)
{
	struct mcxfer_publish_mr p;
	struct host_dmabuf buf;
	struct verbs v;
	struct vinfo vi;
	char out[256];
	int fd, other, r;
	uint64_t id;
	struct {
		const char *path;
		int flags;
		bool needed;
	} files[] = {
		{ "/dev/null", O_RDWR, true },
		{ "/dev/udmabuf", O_RDWR, false },
		{ "/dev/infiniband/umad0", O_RDWR, false },
		{ "/dev/infiniband/issm0", O_RDWR, false },
		{ "/dev/infiniband/rdma_cm", O_RDWR, false },
	};

	mcx_dmabuf(MR_LEN, &buf);
	verbs_open(&v);
	verbs_info(&v, &vi);
	if (run_cmd("modprobe ib_umad 2>&1", out, sizeof(out)))
		mt_log("modprobe ib_umad: %s", out);
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MR_LEN, NULL, 0, 0, &id, NULL));

	for (size_t i = 0; i < MT_ARRAY_SIZE(files); i++) {
		struct stat st;

		other = open(files[i].path, files[i].flags | O_CLOEXEC);
		if (other < 0) {
			CHECKF(!files[i].needed, "open %s: %s", files[i].path, mt_errname(errno));
			mt_log("%s: %s, not checked", files[i].path, mt_errname(errno));
			continue;
		}
		if (!fstat(other, &st) && S_ISCHR(st.st_mode))
			mt_log("%s: char %u:%u", files[i].path, major(st.st_rdev),
			       minor(st.st_rdev));
		publish_args(&p, &vi, id);
		p.uverbs_fd = (uint32_t)other;
		r = mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p);
		CHECKF(r == -EINVAL, "PUBLISH_MR with %s: got %s, want EINVAL", files[i].path,
		       r >= 0 ? "success" : mt_errname(-r));
		close(other);
	}
	/* The dma-buf itself, and /dev/mcxfer. */
	publish_args(&p, &vi, id);
	p.uverbs_fd = (uint32_t)buf.fd;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
	p.uverbs_fd = (uint32_t)fd;
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
	CHECK_EQ(mcx_list_find(fd, id)->nr_mrs, 0);
	/* The same arguments with the real uverbs file are fine. */
	publish_args(&p, &vi, id);
	CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p));
	CHECK_EQ(mcx_list_find(fd, id)->nr_mrs, 1);

	CHECK_OK(mcx_unpin(fd, id));
	close(fd);
	verbs_close(&v);
	host_dmabuf_destroy(&buf);
}

/* ------------------------------------------------- 14: failed copy-out */

/*
 * A struct that can be read but not written back: the call fails with
 * EFAULT and leaves nothing behind, not even a lingering entry, a
 * reference, a published MR or an fd.
 */
static void t_copy_out_failure(void)
{
	struct mcxfer_info base, info;
	struct host_dmabuf buf;
	struct verbs v;
	uint64_t id = 0;
	int fd, lowest, r;

	mcx_dmabuf(MR_LEN, &buf);
	REQUIRE_OK(mcx_param_set("linger_ms", 600000));
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));
	REQUIRE_OK(mcx_info(fd, &base));
	lowest = mcx_next_fd();

	/* PIN, a miss: no entry, not even a lingering one. */
	{
		struct mcxfer_pin p = {
			.size = sizeof(p), .dmabuf_fd = (uint32_t)buf.fd,
			.offset = MCX_PAGE, .length = MCX_PAGE, .name = (uintptr_t)"trust/ro",
		};
		struct mcxfer_lookup l;

		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PIN, mcx_readonly_copy(&p, sizeof(p))), EFAULT);
		REQUIRE_OK(mcx_info(fd, &info));
		CHECK_EQ(info.entries, base.entries);
		CHECK_EQ(info.entries_linger, base.entries_linger);
		CHECK_EQ(info.bytes_pinned, base.bytes_pinned);
		CHECK_ERR(mcx_lookup_name(fd, "trust/ro", 0, &l), ENOENT);
		/* The name is free: the same PIN, written back, works. */
		if (CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_PIN, &p))) {
			CHECK_EQ(p.out_flags, 0);
			CHECK_OK(mcx_unpin(fd, p.id));
			CHECK_OK(mcx_evict(fd, p.id, 0, NULL));
		}
		/* A hit: no reference taken. */
		p.offset = 0;
		p.name = 0;
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PIN, mcx_readonly_copy(&p, sizeof(p))), EFAULT);
		CHECK_EQ(mcx_list_find(fd, id)->refs, 1);
	}
	/* LOOKUP_REF: no reference, no fd. */
	{
		struct mcxfer_lookup l = {
			.size = sizeof(l), .id = id, .flags = MCXFER_LOOKUP_REF,
		};

		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LOOKUP, mcx_readonly_copy(&l, sizeof(l))), EFAULT);
		CHECK_EQ(mcx_list_find(fd, id)->refs, 1);
		l.flags |= MCXFER_LOOKUP_EXPORT_FD;
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_LOOKUP, mcx_readonly_copy(&l, sizeof(l))), EFAULT);
		CHECK_EQ(mcx_list_find(fd, id)->refs, 1);
		CHECK_EQ(mcx_next_fd(), lowest);
	}
	REQUIRE_OK(mcx_info(fd, &info));
	CHECK_EQ(info.entries, base.entries);

	r = verbs_try_open(&v);
	if (r == -ENODEV) {
		mt_log("no RDMA device " IBDEV ": PUBLISH_MR and GET_MR not checked");
	} else if (CHECKF(r == 0, "verbs: %s", mt_errname(-r))) {
		struct mcxfer_publish_mr p;
		struct mcxfer_get_mr g;
		struct vinfo vi;

		lowest = mcx_next_fd();
		verbs_info(&v, &vi);
		/* PUBLISH_MR: not published, so publishing again works. */
		publish_args(&p, &vi, id);
		p.length = MCX_PAGE;
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, mcx_readonly_copy(&p, sizeof(p))),
			  EFAULT);
		CHECK_EQ(mcx_list_find(fd, id)->nr_mrs, 0);
		CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p));
		CHECK(p.mr_id != 0);
		CHECK_EQ(mcx_list_find(fd, id)->nr_mrs, 1);
		/* GET_MR: no fd. */
		get_mr_args(&g, id, NULL, 0);
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, mcx_readonly_copy(&g, sizeof(g))), EFAULT);
		CHECK_EQ(mcx_next_fd(), lowest);
		if (CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g)))
			close((int)g.uverbs_fd);
	}
	CHECK_OK(mcx_unpin(fd, id));
	close(fd);
	verbs_close(&v);
	host_dmabuf_destroy(&buf);
}

/* ------------------------------------------------------------ 16: nits */

/*
 * GET_MR names a device or an index, not both; PUBLISH_MR's access is made
 * of known IB access bits; GET_INFO reports the kernel's struct size.
 */
static void t_abi_nits(void)
{
	const size_t big = sizeof(struct mcxfer_info) + 64;
	struct mcxfer_get_mr g;
	struct host_dmabuf buf;
	unsigned char *arg;
	struct verbs v;
	uint64_t id = 0;
	int fd, r;

	mcx_dmabuf(MR_LEN, &buf);
	fd = open_dev();

	arg = calloc(1, big);
	REQUIRE(arg);
	((struct mcxfer_info *)arg)->size = (uint32_t)big;
	if (CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_GET_INFO, arg))) {
		CHECK_EQ(((struct mcxfer_info *)arg)->size, sizeof(struct mcxfer_info));
		CHECK_EQ(((struct mcxfer_info *)arg)->abi_version, MCXFER_ABI_VERSION);
		for (size_t i = sizeof(struct mcxfer_info); i < big; i++)
			CHECKF(arg[i] == 0, "GET_INFO wrote byte %zu past its struct", i);
	}
	free(arg);

	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MR_LEN, NULL, 0, 0, &id, NULL));
	/* ABI 3: a device and an index ask for that device's index-th MR */
	get_mr_args(&g, id, IBDEV, 1);
	CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), ENOENT);

	r = verbs_try_open(&v);
	if (r == -ENODEV) {
		mt_log("no RDMA device " IBDEV ": PUBLISH_MR access bits not checked");
	} else if (CHECKF(r == 0, "verbs: %s", mt_errname(-r))) {
		struct mcxfer_publish_mr p;
		struct vinfo vi;

		verbs_info(&v, &vi);
		publish_args(&p, &vi, id);
		p.access |= 1U << 31;
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p), EINVAL);
		CHECK_EQ(mcx_list_find(fd, id)->nr_mrs, 0);
		publish_args(&p, &vi, id);
		CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_PUBLISH_MR, &p));
		/* The device's second MR: there is none; each alone finds the first. */
		get_mr_args(&g, id, IBDEV, 1);
		CHECK_ERR(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g), ENOENT);
		get_mr_args(&g, id, IBDEV, 0);
		if (CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g)))
			close((int)g.uverbs_fd);
		get_mr_args(&g, id, NULL, 0);
		if (CHECK_OK(mcx_ioctl(fd, MCXFER_IOC_GET_MR, &g)))
			close((int)g.uverbs_fd);
	}
	CHECK_OK(mcx_unpin(fd, id));
	close(fd);
	verbs_close(&v);
	host_dmabuf_destroy(&buf);
}

/* ---------------------------------------------------------------- suite */

/* The RDMA netns mode before the test, so that a failed test cannot leave it changed. */
static char netns_mode_before[16];

static int before_each(void)
{
	uverbs_modes_save();
	if (rdma_netns_mode(netns_mode_before, sizeof(netns_mode_before)))
		netns_mode_before[0] = '\0';
	return mcx_before_each();
}

static int after_each(void)
{
	char mode[16];
	int bad = 0;

	uverbs_modes_restore();
	if (netns_mode_before[0] && !rdma_netns_mode(mode, sizeof(mode)) &&
	    strcmp(mode, netns_mode_before)) {
		mt_log("RDMA netns mode left %s; setting it back to %s", mode, netns_mode_before);
		bad = rdma_netns_restore(netns_mode_before) != 0;
	}
	return mcx_after_each() || bad;
}

/* ------------------------------------------ ABI 3: contexts and holders */

/*
 * A shared context is a whole uverbs context: another uid never finds it
 * and cannot offer somebody else's file as its own.  Holders are the
 * owner's business: EPERM for those who see the entry, ENOENT for others.
 */
static void t_ctx_holders_cross_uid(void)
{
	struct mcxfer_holder_info h[4];
	struct mcxfer_holders l;
	struct mcxfer_ctx c;
	struct host_dmabuf buf;
	uint64_t shared, own, hit;
	struct verbs rootv;
	int root_fd, fda;

	mcx_dmabuf(2 * MCX_PAGE, &buf);
	verbs_open(&rootv);
	REQUIRE_OK(mcx_dev_open_to_all());
	root_fd = open_dev();
	fda = open_as(MCX_UID_A, MCX_GID_AB);

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.uverbs_fd = (uint32_t)rootv.ctx->cmd_fd;
	c.pd_handle = rootv.pd->handle;
	REQUIRE_OK(mcx_ioctl(root_fd, MCXFER_IOC_PUBLISH_CTX, &c));
	/* root's file through A's registry handle: not A's to offer */
	c.ctx_id = 0;
	CHECK_ERR(mcx_ioctl(fda, MCXFER_IOC_PUBLISH_CTX, &c), EPERM);
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.ibdev = (uintptr_t)IBDEV;
	CHECK_ERR(mcx_ioctl(fda, MCXFER_IOC_GET_CTX, &c), ENOENT);
	CHECK_OK(mcx_ioctl(root_fd, MCXFER_IOC_GET_CTX, &c));
	close((int)c.uverbs_fd);

	REQUIRE_OK(mcx_pin(root_fd, buf.fd, 0, MCX_PAGE, NULL, MCXFER_SHARE_ALL, 0, &shared,
			   NULL));
	REQUIRE_OK(mcx_pin(root_fd, buf.fd, MCX_PAGE, MCX_PAGE, NULL, MCXFER_SHARE_OWNER, 0,
			   &own, NULL));
	REQUIRE_OK(mcx_pin(fda, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &hit, NULL));
	REQUIRE_EQ(hit, shared);

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.id = shared;
	l.holders = (uintptr_t)h;
	l.holder_size = sizeof(h[0]);
	l.count = 4;
	CHECK_ERR(mcx_ioctl(fda, MCXFER_IOC_LIST_HOLDERS, &l), EPERM);
	l.id = own;
	CHECK_ERR(mcx_ioctl(fda, MCXFER_IOC_LIST_HOLDERS, &l), ENOENT);
	l.id = shared;
	if (CHECK_OK(mcx_ioctl(root_fd, MCXFER_IOC_LIST_HOLDERS, &l))) {
		CHECK_EQ(l.count, 2);
		CHECK_EQ(l.total, 2);
		CHECK_EQ(h[0].uid, 0);
		CHECK_EQ(h[1].uid, MCX_UID_A);
		/* both opened by this process */
		CHECK_EQ(h[0].pid, (uint32_t)getpid());
		CHECK_EQ(h[1].pid, (uint32_t)getpid());
	}

	CHECK_OK(mcx_unpin(fda, shared));
	CHECK_OK(mcx_unpin(root_fd, shared));
	CHECK_OK(mcx_unpin(root_fd, own));
	close(fda);
	close(root_fd);
	verbs_close(&rootv);
	host_dmabuf_destroy(&buf);
}

static const struct mt_test tests[] = {
	{ "ctx_holders_cross_uid", t_ctx_holders_cross_uid, 0 },
	{ "publish_mr_owner_only", t_publish_mr_owner_only, 0 },
	{ "get_mr_owner_only", t_get_mr_owner_only, 0 },
	{ "export_fd_whole_only", t_export_fd_whole_only, 0 },
	{ "names_per_owner", t_names_per_owner, 0 },
	{ "opener_creds_setresuid", t_opener_creds_setresuid, 0 },
	{ "opener_creds_passed_fd", t_opener_creds_passed_fd, 0 },
	{ "revoke", t_revoke, 0 },
	{ "ibdev_netns", t_ibdev_netns, 180 },
	{ "charge_whole_dmabuf", t_charge_whole_dmabuf, 0 },
	{ "default_caps", t_default_caps, 0 },
	{ "publish_mr_uverbs_only", t_publish_mr_uverbs_only, 0 },
	{ "copy_out_failure", t_copy_out_failure, 0 },
	{ "abi_nits", t_abi_nits, 0 },
};

int main(int argc, char **argv)
{
	static const struct mt_suite suite = {
		.name = "mcxfer_trust",
		.tests = tests,
		.nr_tests = MT_ARRAY_SIZE(tests),
		.before_each = before_each,
		.after_each = after_each,
	};

	return mt_main(&suite, argc, argv);
}
