// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The data path (lib/xfer, lib/peer/path.c) on a fake transport.
 *
 * Engines are built exactly as mcx_engine_create() builds them
 * (mcx__engine_create_with), over a transport whose "NIC" is this file.
 * Each test has two of them: a listener that exports rbuf (the remote
 * side) and the engine under test, which registers lbuf and opens one or
 * two peers to the listener.  The peers are real: they connect over the
 * TCP handshake on 127.0.0.1, so the library's own code opens, connects,
 * stops, closes and rebuilds their paths.  (A hand-made struct mcx_peer
 * cannot carry a request: mcx_batch_submit() calls mcx__peer_connect(),
 * which refuses a peer without a connection.)
 *
 * The fake NIC (fk_*) behaves as RC hardware does where the data path
 * can tell:
 *  - every op is checked: the local range must lie inside the MR whose
 *    descriptor was passed (on the path's device), the remote range inside
 *    a remote-access MR of the device at the other end, named by rkey; a
 *    miss completes with -EFAULT and is counted, so a slice that crosses a
 *    chunk (a registration's MR) or a key from the wrong column shows up;
 *  - a path takes at most depth ops not yet reaped, and post says -EAGAIN
 *    when it has no room;
 *  - in FK_RUN mode an op moves its bytes (memcpy) when posted and its
 *    completion waits on the device's queue for progress; in FK_HOLD mode
 *    the "NIC" holds it until the test releases it (fk_release) or it is
 *    flushed;
 *  - path_stop flushes what the path holds (-ECANCELED), unless the path
 *    is FK_FLUSH_NEVER, a wedged device: then only path_close lets go,
 *    handing back every context not reaped;
 *  - a write with immediate queues a notification on the remote device,
 *    delivered by that device's progress;
 *  - wait_fd is -1: the engines run progress themselves.
 * It logs what it was asked and did (posts, reaps, stops, closes, what it
 * handed back), so tests can check the order of events, not only results.
 *
 * Timing: tests wait on counters and events, driving progress themselves
 * (the engine under test runs without a poller unless a test says so);
 * wall-clock bounds are only there to turn a hang into a failure, at three
 * times the deadline under test or more.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dlfcn.h>

#include "core/core.h"
#include "ctrl/ctrl.h"
#include "mem/cuda.h"
#include "sysfs_tree.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* The fake NIC                                                        */
/* ------------------------------------------------------------------ */

#define FK_MAX_DEVS	16
#define FK_MAX_PATHS	256
#define FK_LOG_MAX	(1U << 16)
#define FK_MAX_MSG	(1ULL << 30)
#define FK_WIRE_ID	0x66616b65U	/* "fake": what both engines speak */

enum fk_mode {
	FK_RUN = 0,		/* ops run when posted; completions wait for progress */
	FK_HOLD = 1,		/* ops wait for fk_release() or a flush */
};

enum fk_flush {
	FK_FLUSH_ON_STOP = 0,	/* path_stop flushes what is held, as a NIC does */
	FK_FLUSH_NEVER = 1,	/* a wedged device: only path_close lets go */
};

enum fk_ev_type {
	FK_EV_POST = 1,		/* an op was posted */
	FK_EV_REAP = 2,		/* its completion went to the done callback */
	FK_EV_UNREAPED = 3,	/* path_close handed its context back */
	FK_EV_STOP = 4,
	FK_EV_CLOSE = 5,
};

struct fk_ev {
	uint8_t type;
	uint8_t opcode;
	uint16_t path;
	int status;
	uint32_t imm;
	uint64_t raddr, len;
};

struct fk_dev;
struct fk_path;

struct fk_op {
	struct fk_op *next;		/* its path's held list, or its device's queue */
	struct fk_path *path;
	struct mcx_tp_op op;
	int status;
};

struct fk_note {
	struct fk_note *next;
	void *owner;
	uint32_t imm;
};

struct fk_mr {
	struct fk_mr *next;
	struct fk_dev *dev;
	uint64_t addr, len, rkey;
	bool remote;
};

struct fk_dev {
	uint32_t id;			/* its address blob; FK.dev[id - 1] */
	bool open;
	struct fk_op *cq_head, *cq_tail;	/* completions not reaped */
	struct fk_note *nq_head, *nq_tail;	/* notifications not delivered */
	struct fk_mr *mrs;
	uint32_t inflight;
};

struct fk_path {
	uint32_t id;			/* its connection blob; FK.path[id - 1] */
	struct fk_dev *dev;
	uint32_t rdev_id;		/* the device at the other end */
	struct fk_path *remote;		/* the path at the other end */
	void *owner;
	bool target, connected, stopped, closed;
	/* Behaviour: FK's defaults when made, changed by the tests. */
	uint32_t depth;
	enum fk_mode mode;
	enum fk_flush flush;
	int post_err;			/* post fails with it */
	int fail_status;		/* the next fail_count ops complete with it */
	uint32_t fail_count;
	/* State. */
	struct fk_op *held_head, *held_tail;
	uint32_t inflight;		/* posted, not reaped */
	uint32_t max_inflight;
	uint32_t delivering;		/* completions being handed to done() */
	/* What happened. */
	uint64_t posted, eagain, failed, unreaped, post_after_stop;
	bool warm;			/* a warm-up probe came back */
	uint32_t probes;		/* path_warm calls */
	uint64_t stop_ns, close_ns;
};

static struct {
	pthread_mutex_t mu;		/* everything of the fake */
	pthread_cond_t cv;
	/* What new devices and paths get. */
	uint32_t ndevs, depth;
	enum fk_mode mode;
	enum fk_flush flush;
	int open_err;			/* path_open fails with it */
	/*
	 * What path_warm answers for a path not warm yet: 0 (the probe came
	 * back at once, the default), -EINPROGRESS (it never comes back: a
	 * rebuilt path whose link is still dead), or an error.
	 */
	int warm_answer;
	uint64_t efault_lo, efault_hi;	/* ops touching this remote range: -EFAULT */
	bool efault_once;		/* only the first such op (a stale key) */
	bool offsets;			/* devices name remote memory by offset */
	bool no_notify;			/* devices without MCX_TP_CAP_WRITE_IMM */
	bool rdm;			/* devices say MCX_TP_CAP_RDM (libfabric's), not RC */
	uint32_t apart_id;		/* this device is alone on its fabric (0: none) */
	uint32_t dmabuf_ids;		/* bit (id - 1): the device takes dma-buf MRs */
	uint32_t mr_regs_asked[FK_MAX_DEVS];	/* mr_reg asked, by device id - 1 */
	uint32_t efaults;		/* -EFAULTs given for that range */
	void (*on_close)(struct fk_path *p);	/* before anything is handed back */
	/* Everything made; nothing is reused before the test ends. */
	struct fk_dev dev[FK_MAX_DEVS];
	uint32_t ndev;
	struct fk_path path[FK_MAX_PATHS];
	uint32_t npath;
	uint64_t next_key;
	struct fk_ev log[FK_LOG_MAX];
	uint32_t nlog;
	/* What the library got wrong. */
	uint32_t bad_ops, local_faults, remote_faults, leftovers;
	uint64_t max_len;
} FK = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static struct fk_dev *fk_dev(const struct mcx_tp_dev *d)
{
	return (struct fk_dev *)d;
}

static struct fk_path *fk_path(const struct mcx_tp_path *p)
{
	return (struct fk_path *)p;
}

/* FK.mu held. */
static void fk_log(uint8_t type, const struct fk_path *p, const struct mcx_tp_op *op,
		   int status)
{
	struct fk_ev *e;

	if (FK.nlog == FK_LOG_MAX)
		return;		/* tests that read the log check it is not full */
	e = &FK.log[FK.nlog++];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->path = (uint16_t)p->id;
	e->status = status;
	if (op) {
		e->opcode = (uint8_t)op->opcode;
		e->imm = op->imm;
		e->raddr = op->raddr;
		e->len = op->len;
	}
}

static void cq_push(struct fk_dev *d, struct fk_op *o)
{
	o->next = NULL;
	if (d->cq_tail)
		d->cq_tail->next = o;
	else
		d->cq_head = o;
	d->cq_tail = o;
}

static void held_push(struct fk_path *p, struct fk_op *o)
{
	o->next = NULL;
	if (p->held_tail)
		p->held_tail->next = o;
	else
		p->held_head = o;
	p->held_tail = o;
}

static struct fk_op *held_pop(struct fk_path *p)
{
	struct fk_op *o = p->held_head;

	if (o) {
		p->held_head = o->next;
		if (!p->held_head)
			p->held_tail = NULL;
	}
	return o;
}

static bool mr_has(const struct fk_mr *m, uint64_t addr, uint64_t len)
{
	return addr >= m->addr && len <= m->len && addr - m->addr <= m->len - len;
}

/* Run op o of path p as the NIC would; its completion status (FK.mu held). */
static int fk_exec_locked(struct fk_path *p, struct fk_op *o)
{
	const struct mcx_tp_op *op = &o->op;
	/* A write with immediate and no data still names a byte of its MRs. */
	uint64_t len = op->len ? op->len : 1;
	struct fk_path *rp = p->remote;
	struct fk_mr *lm, *rm;

	if (p->fail_count) {
		p->fail_count--;
		p->failed++;
		return p->fail_status;
	}
	/* As for a stale key: the range is refused, the path goes to error. */
	if (op->len && op->raddr < FK.efault_hi && op->raddr + op->len > FK.efault_lo) {
		FK.efaults++;
		if (FK.efault_once)
			FK.efault_lo = FK.efault_hi = 0;
		return -EFAULT;
	}
	for (lm = p->dev->mrs; lm && lm != op->ldesc; lm = lm->next)
		;
	if (!lm || !mr_has(lm, op->laddr, len)) {
		FK.local_faults++;
		return -EFAULT;
	}
	if (!rp || rp->closed)
		return -ECONNRESET;
	for (rm = rp->dev->mrs; rm; rm = rm->next)
		if (rm->remote && rm->rkey == op->rkey)
			break;
	{
		/* Without MCX_TP_CAP_VIRT_ADDR a remote address is an offset. */
		uint64_t ra = FK.offsets && rm ? rm->addr + op->raddr : op->raddr;

		if (!rm || (FK.offsets && op->raddr > rm->len) || !mr_has(rm, ra, len)) {
			FK.remote_faults++;
			return -EFAULT;
		}
		if (op->opcode == MCX_TP_READ)
			memcpy((void *)(uintptr_t)op->laddr, (const void *)(uintptr_t)ra, op->len);
		else
			memcpy((void *)(uintptr_t)ra, (const void *)(uintptr_t)op->laddr, op->len);
	}
	if (op->opcode == MCX_TP_WRITE_IMM) {
		struct fk_note *n = calloc(1, sizeof(*n));
		struct fk_dev *rd = rp->dev;

		if (!n)
			return -ENOMEM;
		n->owner = rp->owner;
		n->imm = op->imm;
		if (rd->nq_tail)
			rd->nq_tail->next = n;
		else
			rd->nq_head = n;
		rd->nq_tail = n;
	}
	return 0;
}

/* Flush what p holds: every held op completes with -ECANCELED (FK.mu held). */
static void fk_flush_locked(struct fk_path *p)
{
	struct fk_op *o;

	while ((o = held_pop(p))) {
		o->status = -ECANCELED;
		cq_push(p->dev, o);
	}
	pthread_cond_broadcast(&FK.cv);
}

static int fk_open(const struct mcx_tp_config *cfg, struct mcx_tp_dev **devs,
		   struct mcx_tp_dev_attr *attrs, uint32_t max, uint32_t *n)
{
	int ret = 0;

	(void)cfg;
	*n = 0;
	pthread_mutex_lock(&FK.mu);
	if (FK.ndevs == 0 || FK.ndevs > max || FK.ndev + FK.ndevs > FK_MAX_DEVS) {
		ret = -ENODEV;
		goto out;
	}
	for (uint32_t i = 0; i < FK.ndevs; i++) {
		struct fk_dev *d = &FK.dev[FK.ndev];
		struct mcx_tp_dev_attr *a = &attrs[i];

		memset(d, 0, sizeof(*d));
		d->id = ++FK.ndev;
		d->open = true;
		memset(a, 0, sizeof(*a));
		snprintf(a->name, sizeof(a->name), "fk%u", d->id);
		a->port = 1;
		a->caps = (FK.rdm ? MCX_TP_CAP_RDM : MCX_TP_CAP_RC) |
			  (FK.no_notify ? 0 : MCX_TP_CAP_WRITE_IMM) |
			  (FK.offsets ? 0 : MCX_TP_CAP_VIRT_ADDR);
		a->fabric = d->id == FK.apart_id ? MCX_TP_FABRIC_ETH : MCX_TP_FABRIC_IB;
		a->max_msg = FK_MAX_MSG;
		a->max_outstanding = FK.depth;
		a->max_mr_size = 1ULL << 40;
		a->max_mr = 1U << 20;
		memcpy(a->addr, &d->id, sizeof(d->id));
		a->addr_len = sizeof(d->id);
		devs[i] = (struct mcx_tp_dev *)d;
	}
	*n = FK.ndevs;
out:
	pthread_mutex_unlock(&FK.mu);
	return ret;
}

static void fk_close(struct mcx_tp_dev *dev)
{
	struct fk_dev *d = fk_dev(dev);

	pthread_mutex_lock(&FK.mu);
	d->open = false;
	/* The engine closes every path and deregisters everything first. */
	if (d->mrs || d->cq_head || d->inflight)
		FK.leftovers++;
	for (uint32_t i = 0; i < FK.npath; i++)
		if (FK.path[i].dev == d && !FK.path[i].closed)
			FK.leftovers++;
	while (d->mrs) {
		struct fk_mr *m = d->mrs;

		d->mrs = m->next;
		free(m);
	}
	while (d->nq_head) {
		struct fk_note *n = d->nq_head;

		d->nq_head = n->next;
		free(n);
	}
	d->nq_tail = NULL;
	pthread_mutex_unlock(&FK.mu);
}

static int fk_mr_reg(struct mcx_tp_dev *dev, const struct mcx_tp_mr_req *req,
		     struct mcx_tp_mr **out, struct mcx_tp_mr_info *info)
{
	struct fk_dev *d = fk_dev(dev);
	struct fk_mr *m;

	bool dmabuf_ok;

	pthread_mutex_lock(&FK.mu);
	FK.mr_regs_asked[d->id - 1]++;
	dmabuf_ok = FK.dmabuf_ids & (1U << (d->id - 1));
	pthread_mutex_unlock(&FK.mu);
	/* One that takes dma-bufs registers the range at req->addr: the tests'
	 * "GPU memory" is host memory the fake CUDA driver calls device memory. */
	if (req->dmabuf_fd >= 0 && !dmabuf_ok)
		return -EOPNOTSUPP;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_lock(&FK.mu);
	m->dev = d;
	m->addr = req->addr;
	m->len = req->len;
	m->remote = req->remote;
	/* Keys differ per device, so a key of the wrong column is refused. */
	m->rkey = req->remote ? (++FK.next_key << 8) | d->id : 0;
	m->next = d->mrs;
	d->mrs = m;
	pthread_mutex_unlock(&FK.mu);
	info->rkey = m->rkey;
	info->desc = m;
	*out = (struct mcx_tp_mr *)m;
	return 0;
}

static void fk_mr_dereg(struct mcx_tp_mr *mr)
{
	struct fk_mr *m = (struct fk_mr *)mr, **pp;

	pthread_mutex_lock(&FK.mu);
	for (pp = &m->dev->mrs; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	pthread_mutex_unlock(&FK.mu);
	free(m);
}

static int fk_path_open(struct mcx_tp_dev *dev, const void *raddr, uint32_t raddr_len,
			uint32_t flags, const void *rblob, uint32_t rblob_len, void *owner,
			struct mcx_tp_path **out, void *blob, uint32_t *blob_len)
{
	struct fk_dev *d = fk_dev(dev);
	struct fk_path *p;
	uint32_t rid;
	int ret = 0;

	*out = NULL;
	if (raddr_len != sizeof(rid) || (rblob && rblob_len != sizeof(uint32_t)))
		return -EINVAL;
	memcpy(&rid, raddr, sizeof(rid));
	pthread_mutex_lock(&FK.mu);
	if (FK.open_err) {
		ret = FK.open_err;
		goto out;
	}
	if (rid == 0 || rid > FK.ndev || FK.npath == FK_MAX_PATHS) {
		ret = -EINVAL;
		goto out;
	}
	p = &FK.path[FK.npath];
	memset(p, 0, sizeof(*p));
	p->id = ++FK.npath;
	p->dev = d;
	p->rdev_id = rid;
	p->owner = owner;
	p->target = flags & MCX_TP_PATH_TARGET;
	p->depth = FK.depth;
	p->mode = FK.mode;
	p->flush = FK.flush;
	if (rblob) {
		/* The answering side: connected to the starter's path at once. */
		struct fk_path *q;
		uint32_t qid;

		memcpy(&qid, rblob, sizeof(qid));
		q = qid && qid <= FK.npath ? &FK.path[qid - 1] : NULL;
		if (!q || q->closed || q->connected || q->dev->id != rid ||
		    q->rdev_id != d->id) {
			p->closed = true;	/* never handed out */
			ret = -EINVAL;
			goto out;
		}
		p->remote = q;
		p->connected = true;
		q->remote = p;
	}
	memcpy(blob, &p->id, sizeof(p->id));
	*blob_len = sizeof(p->id);
	*out = (struct mcx_tp_path *)p;
out:
	pthread_mutex_unlock(&FK.mu);
	return ret;
}

static int fk_path_connect(struct mcx_tp_path *path, const void *rblob, uint32_t rblob_len)
{
	struct fk_path *p = fk_path(path);
	uint32_t qid;
	int ret = 0;

	if (rblob_len != sizeof(qid))
		return -EINVAL;
	memcpy(&qid, rblob, sizeof(qid));
	pthread_mutex_lock(&FK.mu);
	if (!qid || qid > FK.npath || FK.path[qid - 1].remote != p || p->remote != &FK.path[qid - 1])
		ret = -EINVAL;
	else
		p->connected = true;
	pthread_mutex_unlock(&FK.mu);
	return ret;
}

static void fk_path_stop(struct mcx_tp_path *path)
{
	struct fk_path *p = fk_path(path);

	pthread_mutex_lock(&FK.mu);
	if (!p->stopped) {
		p->stopped = true;
		p->stop_ns = mcx__now_ns();
		fk_log(FK_EV_STOP, p, NULL, 0);
	}
	if (p->flush == FK_FLUSH_ON_STOP)
		fk_flush_locked(p);
	pthread_cond_broadcast(&FK.cv);
	pthread_mutex_unlock(&FK.mu);
}

static uint32_t fk_path_inflight(const struct mcx_tp_path *path)
{
	uint32_t n;

	pthread_mutex_lock(&FK.mu);
	n = fk_path(path)->inflight;
	pthread_mutex_unlock(&FK.mu);
	return n;
}

static int fk_path_warm(struct mcx_tp_path *path)
{
	struct fk_path *p = fk_path(path);
	int ret;

	pthread_mutex_lock(&FK.mu);
	p->probes++;
	ret = p->warm ? 0 : FK.warm_answer;
	p->warm = ret == 0;
	pthread_mutex_unlock(&FK.mu);
	return ret;
}

static bool fk_path_is_warm(const struct mcx_tp_path *path)
{
	bool warm;

	pthread_mutex_lock(&FK.mu);
	warm = fk_path(path)->warm;
	pthread_mutex_unlock(&FK.mu);
	return warm;
}

static void fk_path_close(struct mcx_tp_path *path, void (*unreaped)(void *arg, void *ctx),
			  void *arg)
{
	struct fk_path *p = fk_path(path);
	struct fk_op *back = NULL, **tail = &back, *o, **pp;
	void (*on_close)(struct fk_path *p);

	pthread_mutex_lock(&FK.mu);
	/* Nothing of it is reported after close returns: wait for deliveries. */
	while (p->delivering)
		pthread_cond_wait(&FK.cv, &FK.mu);
	while ((o = held_pop(p))) {
		*tail = o;
		tail = &o->next;
	}
	for (pp = &p->dev->cq_head; (o = *pp);) {
		if (o->path != p) {
			pp = &o->next;
			continue;
		}
		*pp = o->next;
		*tail = o;
		tail = &o->next;
	}
	*tail = NULL;
	p->dev->cq_tail = NULL;
	for (o = p->dev->cq_head; o; o = o->next)
		p->dev->cq_tail = o;
	for (o = back; o; o = o->next) {
		fk_log(FK_EV_UNREAPED, p, &o->op, 0);
		p->unreaped++;
	}
	p->dev->inflight -= p->inflight;
	p->inflight = 0;
	p->closed = true;
	p->close_ns = mcx__now_ns();
	fk_log(FK_EV_CLOSE, p, NULL, 0);
	on_close = FK.on_close;
	pthread_cond_broadcast(&FK.cv);
	pthread_mutex_unlock(&FK.mu);
	if (on_close)
		on_close(p);
	while ((o = back)) {
		back = o->next;
		if (unreaped)
			unreaped(arg, o->op.ctx);
		free(o);
	}
}

static int fk_post(struct mcx_tp_path *path, const struct mcx_tp_op *ops, uint32_t n)
{
	struct fk_path *p = fk_path(path);
	uint32_t room, k;
	int ret;

	pthread_mutex_lock(&FK.mu);
	if (p->closed || !p->connected || n == 0) {
		FK.bad_ops++;
		ret = -EINVAL;
		goto out;
	}
	if (p->post_err) {
		ret = p->post_err;
		goto out;
	}
	room = p->inflight < p->depth ? p->depth - p->inflight : 0;
	if (!room) {
		p->eagain++;
		ret = -EAGAIN;
		goto out;
	}
	for (k = 0; k < n && k < room; k++) {
		const struct mcx_tp_op *op = &ops[k];
		struct fk_op *o = calloc(1, sizeof(*o));

		if (!o)
			break;
		if (op->opcode > MCX_TP_WRITE_IMM || op->len > FK_MAX_MSG || !op->ctx ||
		    (op->len == 0 && op->opcode != MCX_TP_WRITE_IMM))
			FK.bad_ops++;
		if (op->len > FK.max_len)
			FK.max_len = op->len;
		o->path = p;
		o->op = *op;
		p->inflight++;
		p->dev->inflight++;
		p->posted++;
		if (p->inflight > p->max_inflight)
			p->max_inflight = p->inflight;
		fk_log(FK_EV_POST, p, op, 0);
		if (p->stopped) {
			/* Posting to a stopped (error-state) path: flushed at once. */
			p->post_after_stop++;
			o->status = -ECANCELED;
			cq_push(p->dev, o);
		} else if (p->mode == FK_HOLD) {
			held_push(p, o);
		} else {
			o->status = fk_exec_locked(p, o);
			cq_push(p->dev, o);
		}
	}
	ret = k ? (int)k : -ENOMEM;
	pthread_cond_broadcast(&FK.cv);
out:
	pthread_mutex_unlock(&FK.mu);
	return ret;
}

static int fk_progress(struct mcx_tp_dev *dev, int max, mcx_tp_done_fn done,
		       mcx_tp_notify_fn notify, mcx_tp_event_fn event, void *arg)
{
	struct fk_dev *d = fk_dev(dev);
	int got = 0, queued = 0;

	(void)event;
	/*
	 * One poll of the queue: what is there now.  Ops that the callbacks
	 * post complete at once in FK_RUN mode; reaping them in this same
	 * call would let one device run a whole batch while the others'
	 * completions wait, which no NIC does.
	 */
	pthread_mutex_lock(&FK.mu);
	for (const struct fk_op *o = d->cq_head; o; o = o->next)
		queued++;
	pthread_mutex_unlock(&FK.mu);
	if (max > queued)
		max = queued;
	for (;;) {
		struct fk_note *n = NULL;
		struct fk_path *p = NULL;
		struct fk_op *o;

		pthread_mutex_lock(&FK.mu);
		o = got < max ? d->cq_head : NULL;
		if (o) {
			d->cq_head = o->next;
			if (!d->cq_head)
				d->cq_tail = NULL;
			p = o->path;
			p->inflight--;
			d->inflight--;
			p->delivering++;
			fk_log(FK_EV_REAP, p, &o->op, o->status);
		} else if ((n = d->nq_head)) {
			d->nq_head = n->next;
			if (!d->nq_head)
				d->nq_tail = NULL;
		}
		pthread_mutex_unlock(&FK.mu);
		if (n) {
			if (notify)
				notify(arg, n->owner, n->imm);
			free(n);
			continue;
		}
		if (!o)
			break;
		/* No fake lock across the callback: it posts. */
		done(arg, o->op.ctx, o->status);
		pthread_mutex_lock(&FK.mu);
		p->delivering--;
		pthread_cond_broadcast(&FK.cv);
		pthread_mutex_unlock(&FK.mu);
		free(o);
		got++;
	}
	return got;
}

static uint32_t fk_dev_inflight(const struct mcx_tp_dev *dev)
{
	uint32_t n;

	pthread_mutex_lock(&FK.mu);
	n = fk_dev(dev)->inflight;
	pthread_mutex_unlock(&FK.mu);
	return n;
}

static int fk_wait_fd(const struct mcx_tp_dev *dev)
{
	(void)dev;
	return -1;
}

static int fk_arm(struct mcx_tp_dev *dev)
{
	(void)dev;
	return -EAGAIN;
}

static const struct mcx_transport_ops fk_ops = {
	.name = "fake",
	.wire_id = FK_WIRE_ID,
	.open = fk_open,
	.close = fk_close,
	.mr_reg = fk_mr_reg,
	.mr_dereg = fk_mr_dereg,
	.path_open = fk_path_open,
	.path_connect = fk_path_connect,
	.path_stop = fk_path_stop,
	.path_inflight = fk_path_inflight,
	.path_warm = fk_path_warm,
	.path_is_warm = fk_path_is_warm,
	.path_close = fk_path_close,
	.post = fk_post,
	.progress = fk_progress,
	.dev_inflight = fk_dev_inflight,
	.wait_fd = fk_wait_fd,
	.arm = fk_arm,
};

/* ---- what the tests ask of the fake ---- */

#define NDEVS		2

static void fk_defaults(uint32_t depth)
{
	pthread_mutex_lock(&FK.mu);
	FK.ndevs = NDEVS;
	FK.depth = depth;
	FK.mode = FK_RUN;
	FK.flush = FK_FLUSH_ON_STOP;
	FK.open_err = 0;
	FK.efault_lo = FK.efault_hi = 0;
	FK.efault_once = false;
	FK.efaults = 0;
	FK.offsets = false;
	FK.no_notify = false;
	FK.rdm = false;
	FK.apart_id = 0;
	FK.dmabuf_ids = 0;
	FK.on_close = NULL;
	pthread_mutex_unlock(&FK.mu);
}

/* A consistent copy of p (read its fields from that). */
static struct fk_path fk_snap(const struct fk_path *p)
{
	struct fk_path s;

	pthread_mutex_lock(&FK.mu);
	s = *p;
	pthread_mutex_unlock(&FK.mu);
	return s;
}

static void fk_set_mode(struct fk_path *p, enum fk_mode mode, enum fk_flush flush)
{
	pthread_mutex_lock(&FK.mu);
	p->mode = mode;
	p->flush = flush;
	pthread_mutex_unlock(&FK.mu);
}

static void fk_set_fail(struct fk_path *p, int status, uint32_t count, int post_err)
{
	pthread_mutex_lock(&FK.mu);
	p->fail_status = status;
	p->fail_count = count;
	p->post_err = post_err;
	pthread_mutex_unlock(&FK.mu);
}

/* Let up to n held ops of p run (or complete flushed, if p is stopped). */
static uint32_t fk_release(struct fk_path *p, uint32_t n)
{
	uint32_t k = 0;
	struct fk_op *o;

	pthread_mutex_lock(&FK.mu);
	while (k < n && (o = held_pop(p))) {
		o->status = p->stopped ? -ECANCELED : fk_exec_locked(p, o);
		cq_push(p->dev, o);
		k++;
	}
	pthread_cond_broadcast(&FK.cv);
	pthread_mutex_unlock(&FK.mu);
	return k;
}

static uint32_t fk_held(const struct fk_path *p)
{
	uint32_t n = 0;

	pthread_mutex_lock(&FK.mu);
	for (const struct fk_op *o = p->held_head; o; o = o->next)
		n++;
	pthread_mutex_unlock(&FK.mu);
	return n;
}

static void fk_flush(struct fk_path *p)
{
	pthread_mutex_lock(&FK.mu);
	fk_flush_locked(p);
	pthread_mutex_unlock(&FK.mu);
}

/* How many ops the FK.efault_lo..hi range refused so far. */
static uint32_t fk_efaults(void)
{
	uint32_t n;

	pthread_mutex_lock(&FK.mu);
	n = FK.efaults;
	pthread_mutex_unlock(&FK.mu);
	return n;
}

/* Log events of type (and opcode, unless -1) in [lo, hi) of the remote space. */
static uint32_t fk_count(uint8_t type, int opcode, uint64_t lo, uint64_t hi)
{
	uint32_t n = 0;

	pthread_mutex_lock(&FK.mu);
	for (uint32_t i = 0; i < FK.nlog; i++) {
		const struct fk_ev *e = &FK.log[i];

		if (e->type == type && (opcode < 0 || e->opcode == opcode) &&
		    e->raddr >= lo && e->raddr < hi)
			n++;
	}
	pthread_mutex_unlock(&FK.mu);
	return n;
}

/* ------------------------------------------------------------------ */
/* The two engines and their peers                                     */
/* ------------------------------------------------------------------ */

#define SLICE		4096
#define LCHUNK		(16 * 1024)	/* the engine under test's MRs */
#define RCHUNK		(12 * 1024)	/* the listener's: boundaries fall elsewhere */
#define BUF		(256 * 1024)	/* each peer's share of lbuf and rbuf */
#define MAXPEERS	2

struct fx_opts {
	uint32_t timeout_ms;		/* 0: 10000 */
	int poller;			/* of the engine under test */
	int npeers;			/* 0: 1 */
	uint32_t depth;			/* 0: 8 */
	bool offsets;			/* devices without MCX_TP_CAP_VIRT_ADDR */
	bool no_notify;			/* devices without MCX_TP_CAP_WRITE_IMM */
	bool rdm;			/* devices of an RDM transport (libfabric's) */
	uint32_t cq_threads;		/* fabric_cq_threads of the engine under test */
	bool dev0_apart;		/* the tested engine's device 0 reaches no peer device */
};

static struct {
	struct mcx_engine *c;		/* under test */
	struct mcx_engine *s;		/* the listener: the remote side */
	struct mcx_peer *peer[MAXPEERS];
	unsigned char *lbuf, *rbuf;	/* MAXPEERS * BUF each */
	struct mcx_mem *lmem, *rmem;
	uint32_t timeout_ms, flush_ms;
	char addr[64];
} F;

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

static void fx_setup(const struct fx_opts *o)
{
	static const char *const vars[] = {
		"MCX_LISTEN", "MCX_POLLER", "MCX_TIMEOUT_MS", "MCX_SLICE_SIZE",
		"MCX_REG_CHUNK_SIZE", "MCX_REG_THREADS", "MCX_LOOPBACK_MEMCPY",
		"MCX_AUTH_KEY_FILE", "MCX_MAX_WR", "MCX_QPS_PER_PAIR", "MCX_IB_DEVICES",
	};
	struct mcx_engine_opts eo;
	int npeers = o->npeers ? o->npeers : 1;

	/* The options below are the test: the caller's environment is not. */
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	memset(&F, 0, sizeof(F));
	fk_defaults(o->depth ? o->depth : 8);
	FK.offsets = o->offsets;
	FK.no_notify = o->no_notify;
	FK.rdm = o->rdm;
	log_capture();
	F.lbuf = calloc(MAXPEERS, BUF);
	F.rbuf = calloc(MAXPEERS, BUF);
	ASSERT_TRUE(F.lbuf && F.rbuf);
	fill(F.lbuf, MAXPEERS * BUF, 1);
	fill(F.rbuf, MAXPEERS * BUF, 2);

	mcx_engine_opts_init(&eo);
	eo.listen = "127.0.0.1:0";
	eo.loopback_memcpy = 0;		/* same process, but over the "NIC" */
	eo.reg_chunk_size = RCHUNK;
	eo.reg_threads = 2;
	ASSERT_ERR(mcx__engine_create_with(&eo, &fk_ops, &F.s), 0);
	ASSERT_ERR(mcx_mem_register(F.s, F.rbuf, MAXPEERS * BUF, MCX_MEM_EXPORT, &F.rmem), 0);
	ASSERT_ERR(mcx_engine_listen_addr(F.s, F.addr, sizeof(F.addr)), 0);

	if (o->dev0_apart) {
		pthread_mutex_lock(&FK.mu);
		FK.apart_id = FK.ndev + 1;	/* the next device opened */
		pthread_mutex_unlock(&FK.mu);
	}
	mcx_engine_opts_init(&eo);
	eo.poller = o->poller;
	eo.fabric_cq_threads = o->cq_threads;
	eo.loopback_memcpy = 0;
	eo.slice_size = SLICE;
	eo.reg_chunk_size = LCHUNK;
	eo.reg_threads = 2;
	eo.timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
	ASSERT_ERR(mcx__engine_create_with(&eo, &fk_ops, &F.c), 0);
	ASSERT_EQ(mcx_engine_nics(F.c), NDEVS);
	F.timeout_ms = F.c->xfer.timeout_ms;
	F.flush_ms = F.c->peers.flush_ms;
	ASSERT_ERR(mcx_mem_register(F.c, F.lbuf, MAXPEERS * BUF, 0, &F.lmem), 0);
	for (int i = 0; i < npeers; i++) {
		ASSERT_ERR(mcx_peer_open(F.c, F.addr, &F.peer[i]), 0);
		ASSERT_ERR(mcx_peer_warmup(F.peer[i]), 0);
		ASSERT_EQ(F.peer[i]->nr_paths, NDEVS - (o->dev0_apart ? 1 : 0));
	}
}

/* Close everything; the fake must have seen nothing wrong. */
static void fx_teardown(void)
{
	uint64_t stopped_posts = 0;

	for (int i = 0; i < MAXPEERS; i++)
		if (F.peer[i])
			mcx_peer_close(F.peer[i]);
	ASSERT_ERR(mcx_mem_deregister(F.lmem), 0);
	ASSERT_ERR(mcx_mem_deregister(F.rmem), 0);
	mcx_engine_destroy(F.c);
	mcx_engine_destroy(F.s);
	pthread_mutex_lock(&FK.mu);
	for (uint32_t i = 0; i < FK.npath; i++)
		stopped_posts += FK.path[i].post_after_stop;
	pthread_mutex_unlock(&FK.mu);
	ASSERT_EQ(FK.bad_ops, 0);
	ASSERT_EQ(FK.local_faults, 0);
	ASSERT_EQ(FK.remote_faults, 0);
	ASSERT_EQ(FK.leftovers, 0);
	ASSERT_U64_EQ(stopped_posts, 0);	/* only UP paths take work */
	ASSERT_TRUE(FK.max_len <= SLICE);
	free(F.lbuf);
	free(F.rbuf);
}

/* The fake path behind path k of peer i (it changes when rebuilt). */
static struct fk_path *fx_path(int i, uint32_t k)
{
	struct mcx_peer *peer = F.peer[i];
	struct mcx_tp_path *tp;

	pthread_mutex_lock(&peer->dlock);
	tp = peer->paths[k].tp;
	pthread_mutex_unlock(&peer->dlock);
	ASSERT_TRUE(tp != NULL);
	return fk_path(tp);
}

static enum mcx_path_state path_state(int i, uint32_t k)
{
	struct mcx_peer *peer = F.peer[i];
	enum mcx_path_state st;

	pthread_mutex_lock(&peer->dlock);
	st = peer->paths[k].state;
	pthread_mutex_unlock(&peer->dlock);
	return st;
}

static bool paths_up(int i)
{
	for (uint32_t k = 0; k < NDEVS; k++)
		if (path_state(i, k) != MCX_PATH_UP)
			return false;
	return true;
}

/*
 * Drive progress of eng until cond holds.  The bound only turns a hang
 * into a failure; callers pass three times the deadline under test or more.
 */
#define PROGRESS_UNTIL(eng, cond, bound_ms)					\
	do {									\
		uint64_t until_ = mcx__now_ns() + (uint64_t)(bound_ms) * 1000000ULL; \
		while (!(cond)) {						\
			if (mcx__now_ns() > until_)				\
				harness_fail(__FILE__, __LINE__, "still not %s after %u ms", \
					     #cond, (unsigned int)(bound_ms));	\
			mcx_engine_progress(eng);				\
			sched_yield();						\
		}								\
	} while (0)

static int req_status(struct mcx_batch *b, size_t i)
{
	struct mcx_status st[64];

	ASSERT_TRUE(i < 64);
	ASSERT_EQ(mcx_batch_status(b, st, i + 1), (int)(i + 1));
	return st[i].status;
}

/* The error request i of b fails with once its posted work is back, or 0. */
static int req_failing(struct mcx_batch *b, size_t i)
{
	struct mcx_peer *peer = b->reqs[i].peer;
	int err;

	pthread_mutex_lock(&peer->dlock);
	err = b->reqs[i].failing;
	pthread_mutex_unlock(&peer->dlock);
	return err;
}

/*
 * n requests to peer pi in disjoint stripes of [base, base + span) of lbuf
 * and rbuf, random lengths and offsets.
 */
static void add_range(struct mcx_batch *b, int pi, size_t base0, size_t span, int n,
		      bool both_ops, uint64_t cookie0)
{
	size_t stripe = span / (size_t)n;

	for (int i = 0; i < n; i++) {
		size_t base = base0 + (size_t)i * stripe;
		size_t lo = base + (size_t)(rand() % 7), ro = base + (size_t)(rand() % 5);
		size_t len = 1 + (size_t)rand() % (stripe - 8);
		enum mcx_op op = both_ops && (i & 1) ? MCX_OP_READ : MCX_OP_WRITE;

		ASSERT_ERR(mcx_batch_add(b, op, F.peer[pi], F.lbuf + lo,
					 (uintptr_t)(F.rbuf + ro), len, cookie0 + (uint64_t)i), 0);
	}
}

/* n requests to peer pi in its share of the buffers. */
static void add_many(struct mcx_batch *b, int pi, int n, bool both_ops, uint64_t cookie0)
{
	add_range(b, pi, (size_t)pi * BUF, BUF, n, both_ops, cookie0);
}

/* Requests [from, to) of b all succeeded. */
static bool reqs_done(struct mcx_batch *b, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (req_status(b, i) != 0)
			return false;
	return true;
}

/* Every request of b that succeeded moved its bytes. */
static void check_data(struct mcx_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct mcx_req *r = &b->reqs[i];

		if (r->status)
			continue;
		if (memcmp((void *)(uintptr_t)r->laddr, (void *)(uintptr_t)r->raddr, r->len))
			harness_fail(__FILE__, __LINE__, "request %zu: data differs", i);
	}
}

/* How many ops the requests of b must be cut into (maximal slices). */
static uint64_t expected_slices(struct mcx_batch *b)
{
	uint64_t n = 0;

	for (size_t i = 0; i < b->n; i++) {
		const struct mcx_req *r = &b->reqs[i];

		n += mcx__slice_count(r->laddr, (uintptr_t)F.lbuf, LCHUNK, r->raddr,
				      (uintptr_t)F.rbuf, RCHUNK, r->len, SLICE);
	}
	return n;
}

/* Run fn(arg) on a thread; fail the test unless it returns within bound_ms. */
struct bounded {
	void (*fn)(void *arg);
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	uint64_t end_ns;
};

static void *bounded_main(void *arg)
{
	struct bounded *bd = arg;

	bd->fn(bd->arg);
	pthread_mutex_lock(&bd->mu);
	bd->done = true;
	bd->end_ns = mcx__now_ns();
	pthread_cond_broadcast(&bd->cv);
	pthread_mutex_unlock(&bd->mu);
	return NULL;
}

static void deadline_ts(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

static uint64_t run_bounded(void (*fn)(void *), void *arg, uint32_t bound_ms, const char *what)
{
	struct bounded bd = { .fn = fn, .arg = arg };
	uint64_t t0 = mcx__now_ns();
	struct timespec ts;
	pthread_t t;
	bool done;

	pthread_mutex_init(&bd.mu, NULL);
	cond_init_mono(&bd.cv);
	deadline_ts(&ts, bound_ms);
	ASSERT_EQ(pthread_create(&t, NULL, bounded_main, &bd), 0);
	pthread_mutex_lock(&bd.mu);
	while (!bd.done && pthread_cond_timedwait(&bd.cv, &bd.mu, &ts) != ETIMEDOUT)
		;
	done = bd.done;
	pthread_mutex_unlock(&bd.mu);
	if (!done)
		harness_fail(__FILE__, __LINE__, "%s did not return within %u ms", what, bound_ms);
	pthread_join(t, NULL);
	pthread_cond_destroy(&bd.cv);
	pthread_mutex_destroy(&bd.mu);
	return bd.end_ns - t0;
}

/* ------------------------------------------------------------------ */
/* The data path, ported from the old layout's tests                   */
/* ------------------------------------------------------------------ */

/*
 * Slices stay inside one MR on both sides and within slice_size (the fake
 * refuses anything else, fx_teardown checks), are maximal (their number is
 * what slice.c's arithmetic says), go round-robin over both paths, wait
 * when both are full (depth 3) and all arrive.
 */
TEST(datapath_slices_striping_and_backpressure)
{
	struct fx_opts o = { .depth = 3 };
	struct mcx_pair_stats ps[NDEVS];
	struct mcx_status st[48];
	struct fk_path *p0, *p1, s0, s1;
	struct mcx_batch *b;
	uint64_t want, bytes = 0;

	fx_setup(&o);
	srand(3);
	p0 = fx_path(0, 0);
	p1 = fx_path(0, 1);
	ASSERT_ERR(mcx_batch_create(F.c, 48, &b), 0);
	add_many(b, 0, 48, true, 100);
	want = expected_slices(b);
	for (size_t i = 0; i < b->n; i++)
		bytes += b->reqs[i].len;
	ASSERT_ERR(mcx_batch_submit(b), 0);
	/* Without a poller nothing was reaped yet: both paths are full. */
	s0 = fk_snap(p0);
	s1 = fk_snap(p1);
	ASSERT_EQ(s0.inflight, 3);
	ASSERT_EQ(s1.inflight, 3);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	ASSERT_EQ(mcx_batch_status(b, st, 48), 48);
	for (int i = 0; i < 48; i++) {
		ASSERT_EQ(st[i].status, 0);
		ASSERT_U64_EQ(st[i].cookie, 100 + (uint64_t)i);
		ASSERT_EQ(st[i].op, (i & 1) ? MCX_OP_READ : MCX_OP_WRITE);
		ASSERT_U64_EQ(st[i].len, b->reqs[i].len);
	}
	check_data(b);
	s0 = fk_snap(p0);
	s1 = fk_snap(p1);
	/* Every slice posted once, none lost, none more than needed. */
	ASSERT_U64_EQ(s0.posted + s1.posted, want);
	ASSERT_TRUE(want > 48);
	/* Back-pressure: the depth was reached, never passed, and said so. */
	ASSERT_EQ(s0.max_inflight, 3);
	ASSERT_EQ(s1.max_inflight, 3);
	ASSERT_TRUE(s0.eagain + s1.eagain > 0);
	/* Round-robin: each path carried a fair share. */
	ASSERT_TRUE(s0.posted * 3 >= want && s1.posted * 3 >= want);
	ASSERT_EQ(mcx_peer_stats(F.peer[0], ps, NDEVS), NDEVS);
	ASSERT_TRUE(ps[0].up && ps[1].up);
	ASSERT_U64_EQ(ps[0].slices, s0.posted);
	ASSERT_U64_EQ(ps[1].slices, s1.posted);
	ASSERT_U64_EQ(ps[0].bytes + ps[1].bytes, bytes);
	ASSERT_U64_EQ(ps[0].retried + ps[1].retried, 0);

	/* The batch is reused: a new round drops the old statuses. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 1, 99), 0);
	ASSERT_EQ(mcx_batch_status(b, st, 48), 1);
	ASSERT_EQ(st[0].status, -EINPROGRESS);		/* not submitted yet */
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	ASSERT_EQ(mcx_batch_status(b, st, 48), 1);
	ASSERT_U64_EQ(st[0].cookie, 99);
	mcx_batch_free(b);
	/* Every request's reference on the local registration was dropped. */
	ASSERT_EQ(atomic_load(&F.lmem->refs), 1);
	fx_teardown();
}

/*
 * A path whose ops fail (retries exhausted, or flushed because the device
 * stopped it by itself): its slices are posted again on the other path,
 * each once, and every request succeeds.
 */
static void failed_path_moves_work(int status)
{
	struct fx_opts o = { 0 };
	struct mcx_pair_stats ps[NDEVS];
	struct fk_path *bad, sb;
	struct mcx_batch *b;

	fx_setup(&o);
	srand(4);
	bad = fx_path(0, 1);
	fk_set_fail(bad, status, 1000, 0);
	ASSERT_ERR(mcx_batch_create(F.c, 32, &b), 0);
	add_many(b, 0, 32, true, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	sb = fk_snap(bad);
	ASSERT_TRUE(sb.failed > 0);
	ASSERT_TRUE(sb.stopped);
	ASSERT_EQ(mcx_peer_stats(F.peer[0], ps, NDEVS), NDEVS);
	ASSERT_TRUE(ps[1].retried > 0);
	/* Moved once each, not back and forth. */
	ASSERT_TRUE(ps[1].retried <= sb.posted);
	ASSERT_CONTAINS(captured_log, "failed");
	ASSERT_CONTAINS(captured_log, F.c->devs.attr[1].name);
	mcx_batch_free(b);
	fx_teardown();
}

TEST(datapath_failed_path_moves_its_work_to_another)
{
	failed_path_moves_work(-ETIMEDOUT);
}

TEST(datapath_flush_first_fails_the_path_too)
{
	failed_path_moves_work(-ECANCELED);
}

/* post refusing (a broken path) fails the path; the other carries all. */
TEST(datapath_post_refused_moves_work_to_another)
{
	struct fx_opts o = { 0 };
	struct fk_path *bad, sb;
	struct mcx_batch *b;

	fx_setup(&o);
	srand(5);
	bad = fx_path(0, 0);
	fk_set_fail(bad, 0, 0, -EIO);
	ASSERT_ERR(mcx_batch_create(F.c, 16, &b), 0);
	add_many(b, 0, 16, false, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	sb = fk_snap(bad);
	ASSERT_U64_EQ(sb.posted, 0);
	ASSERT_TRUE(sb.stopped);
	mcx_batch_free(b);
	fx_teardown();
}

/*
 * Every path fails: while the peer's connection is fine the requests wait
 * for rebuilt paths and complete on them.  When rebuilding is refused too,
 * they wait until their deadline and fail with -ETIMEDOUT.
 */
TEST(datapath_all_paths_failed_requests_wait_for_rebuilt_ones)
{
	struct fx_opts o = { .timeout_ms = 1000 };
	struct fk_path *old[NDEVS];
	struct mcx_status st[8];
	struct mcx_batch *b;

	fx_setup(&o);
	srand(6);
	for (uint32_t k = 0; k < NDEVS; k++) {
		old[k] = fx_path(0, k);
		fk_set_fail(old[k], -EIO, 1000, 0);
	}
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 0, 8, false, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	/* Every byte went over rebuilt paths: the old ones failed every op. */
	PROGRESS_UNTIL(F.c, fk_snap(old[0]).closed && fk_snap(old[1]).closed, 3 * F.flush_ms);
	for (uint32_t k = 0; k < NDEVS; k++)
		ASSERT_U64_EQ(fk_snap(old[k]).failed, fk_snap(old[k]).posted);
	pthread_mutex_lock(&F.peer[0]->dlock);
	ASSERT_TRUE(F.peer[0]->paths[0].rebuilds + F.peer[0]->paths[1].rebuilds >= 1);
	pthread_mutex_unlock(&F.peer[0]->dlock);

	/* Now rebuilding is refused as well: the deadline decides. */
	PROGRESS_UNTIL(F.c, paths_up(0), 3 * 5000);
	pthread_mutex_lock(&FK.mu);
	FK.open_err = -ECONNREFUSED;
	pthread_mutex_unlock(&FK.mu);
	for (uint32_t k = 0; k < NDEVS; k++)
		fk_set_fail(fx_path(0, k), -EIO, 1000, 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 8192, 7), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -ETIMEDOUT);
	ASSERT_EQ(mcx_batch_status(b, st, 8), 1);
	ASSERT_EQ(st[0].status, -ETIMEDOUT);
	mcx_batch_free(b);
	fx_teardown();
}

/*
 * A rebuilt path of a transport that connects on first use (RDM) takes no
 * work until a warm-up probe came back through it: its handshake passes
 * over the control connection while the link under it may still be dead.
 * Until then the work goes to the other path; once the probe answers,
 * the rebuilt path carries its share again.  A probe that fails fails it.
 */
TEST(datapath_rebuilt_path_carries_work_only_once_warm)
{
	struct fx_opts o = { .timeout_ms = 5000 };
	struct fk_path *old, *fresh;
	struct mcx_batch *b;

	fx_setup(&o);
	srand(11);
	old = fx_path(0, 1);
	fk_set_fail(old, -ETIMEDOUT, 1, 0);
	pthread_mutex_lock(&FK.mu);
	FK.warm_answer = -EINPROGRESS;	/* the rebuilt path's probe never returns */
	pthread_mutex_unlock(&FK.mu);
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 0, 8, false, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	mcx_batch_free(b);
	PROGRESS_UNTIL(F.c, paths_up(0), 3 * 5000);
	fresh = fx_path(0, 1);
	ASSERT_TRUE(fresh != old);
	/* Work while the rebuilt path is not warm: none of it goes there. */
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 0, 8, false, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	mcx_batch_free(b);
	ASSERT_U64_EQ(fk_snap(fresh).posted, 0);
	ASSERT_TRUE(fk_snap(fresh).probes > 0);
	pthread_mutex_lock(&FK.mu);
	FK.warm_answer = 0;		/* the link is back: the probe answers */
	pthread_mutex_unlock(&FK.mu);
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 0, 8, false, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	mcx_batch_free(b);
	ASSERT_TRUE(fk_snap(fresh).posted > 0);
	fx_teardown();
}

/* -EFAULT from the NIC fails that request alone; the others complete. */
TEST(datapath_efault_fails_only_its_request)
{
	struct fx_opts o = { 0 };
	struct mcx_status st[8];
	struct fk_path *p[NDEVS];
	struct mcx_batch *b;

	fx_setup(&o);
	srand(7);
	p[0] = fx_path(0, 0);
	p[1] = fx_path(0, 1);
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 0, 8, true, 0);
	pthread_mutex_lock(&FK.mu);
	FK.efault_lo = b->reqs[3].raddr;
	FK.efault_hi = b->reqs[3].raddr + b->reqs[3].len;
	pthread_mutex_unlock(&FK.mu);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -EFAULT);
	/* The path that saw it is in error (its QP would be). */
	ASSERT_TRUE(fk_snap(p[0]).stopped || fk_snap(p[1]).stopped);
	ASSERT_EQ(mcx_batch_status(b, st, 8), 8);
	for (int i = 0; i < 8; i++)
		ASSERT_ERR(st[i].status, i == 3 ? -EFAULT : 0);
	check_data(b);
	mcx_batch_free(b);
	fx_teardown();
}

/*
 * A key the peer refuses once (it registered the memory again since we
 * fetched its descriptors) does not fail the request: the descriptors are
 * fetched again, once, and the slice goes out again with what the peer
 * says now.  (A second refusal fails it: datapath_efault_fails_only_its_
 * request, where the range is refused for good.)
 *
 * Checked against the library before the refetch: the request failed with
 * -EFAULT at the first refusal.
 */
TEST(datapath_refused_key_refetches_once)
{
	struct fx_opts o = { 0 };
	struct mcx_status st[8];
	struct mcx_batch *b;

	fx_setup(&o);
	srand(11);
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 0, 8, true, 0);
	pthread_mutex_lock(&FK.mu);
	FK.efault_lo = b->reqs[5].raddr;
	FK.efault_hi = b->reqs[5].raddr + b->reqs[5].len;
	FK.efault_once = true;
	pthread_mutex_unlock(&FK.mu);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	ASSERT_EQ(mcx_batch_status(b, st, 8), 8);
	for (int i = 0; i < 8; i++)
		ASSERT_ERR(st[i].status, 0);
	pthread_mutex_lock(&FK.mu);
	ASSERT_EQ(FK.efaults, 1u);
	pthread_mutex_unlock(&FK.mu);
	check_data(b);
	mcx_batch_free(b);
	fx_teardown();
}

/*
 * A peer whose devices name remote memory by offset into a registration
 * (libfabric without FI_MR_VIRT_ADDR) gets offsets into the MR of each
 * slice's chunk, across chunk boundaries, and the data lands right.
 * Checked against make_op() passing virtual addresses: every op is
 * refused (remote_faults) and the batch fails with -EFAULT.
 */
TEST(datapath_offset_addressed_peer)
{
	struct fx_opts o = { .offsets = true };
	struct mcx_batch *b;

	fx_setup(&o);
	srand(13);
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 0, 8, true, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	pthread_mutex_lock(&FK.mu);
	ASSERT_EQ(FK.remote_faults, 0u);
	pthread_mutex_unlock(&FK.mu);
	mcx_batch_free(b);
	fx_teardown();
}

/*
 * Metadata through the application's own channel: the listener's engine
 * exports a blob, the engine under test opens a peer from it (the same
 * listener, already known devices and descriptors: no descriptor fetch at
 * connect), and transfers work.  A blob changed in one byte, or cut
 * short, opens nothing.
 */
TEST(datapath_peer_from_metadata)
{
	struct fx_opts o = { 0 };
	struct mcx_peer *peer = NULL;
	struct mcx_batch *b;
	size_t need = 0;
	unsigned char *md;
	int len;

	fx_setup(&o);
	ASSERT_ERR(mcx_engine_export_md(F.s, NULL, 0, &need), -ENOBUFS);
	ASSERT_TRUE(need > MCX_MD_FIXED);
	md = malloc(need);
	ASSERT_TRUE(md != NULL);
	len = mcx_engine_export_md(F.s, md, need, NULL);
	ASSERT_EQ((size_t)len, need);
	md[len / 2] ^= 1;
	ASSERT_ERR(mcx_peer_open_md(F.c, md, (size_t)len, &peer), -EBADMSG);
	ASSERT_TRUE(peer == NULL);
	md[len / 2] ^= 1;
	ASSERT_ERR(mcx_peer_open_md(F.c, md, (size_t)len - 1, &peer), -EBADMSG);
	ASSERT_ERR(mcx_peer_open_md(F.c, md, (size_t)len, &peer), 0);
	ASSERT_TRUE(peer->descs_preloaded && peer->nr_descs > 0);
	/* The peer is used like any other: F.peer[0]'s requests go to it. */
	F.peer[1] = F.peer[0];
	F.peer[0] = peer;
	srand(17);
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 0, 8, true, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	mcx_batch_free(b);
	free(md);
	fx_teardown();
}

/*
 * Ranges that are not registered fail at submit: the local one with
 * -ENOKEY, a remote one with -EFAULT after asking the peer again (which is
 * also how a registration exported after the connection is found).
 */
TEST(datapath_unregistered_ranges_fail_at_submit)
{
	static unsigned char other[64];
	struct fx_opts o = { 0 };
	struct mcx_status st[5];
	unsigned char *late;
	struct mcx_mem *late_mem;
	struct mcx_batch *b;

	fx_setup(&o);
	late = calloc(1, 2 * SLICE);
	ASSERT_TRUE(late != NULL);
	ASSERT_ERR(mcx_mem_register(F.s, late, 2 * SLICE, MCX_MEM_EXPORT, &late_mem), 0);
	ASSERT_ERR(mcx_batch_create(F.c, 5, &b), 0);
	/* Remote past the peer's registration. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], F.lbuf,
				 (uintptr_t)F.rbuf + MAXPEERS * BUF - 4, 8, 0), 0);
	/* Local memory not registered. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], other, (uintptr_t)F.rbuf, 8, 1), 0);
	/* Local range running past its registration. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf + MAXPEERS * BUF - 4,
				 (uintptr_t)F.rbuf, 8, 2), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 8, 3), 0);
	/* Exported after the peer fetched the listener's registrations. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf + 64, (uintptr_t)late,
				 2 * SLICE, 4), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -EFAULT);
	ASSERT_EQ(mcx_batch_status(b, st, 5), 5);
	ASSERT_ERR(st[0].status, -EFAULT);
	ASSERT_ERR(st[1].status, -ENOKEY);
	ASSERT_ERR(st[2].status, -ENOKEY);
	ASSERT_ERR(st[3].status, 0);
	ASSERT_ERR(st[4].status, 0);
	ASSERT_TRUE(!memcmp(late, F.lbuf + 64, 2 * SLICE));
	ASSERT_CONTAINS(captured_log, "not inside memory it registered");
	ASSERT_CONTAINS(captured_log, "not inside a registration");
	mcx_batch_free(b);
	ASSERT_ERR(mcx_mem_deregister(late_mem), 0);
	free(late);
	fx_teardown();
}

/*
 * Make m a registration on device dev only, as GPU memory is on the NIC
 * nearest its GPU: its MRs on the other devices go (the fake NIC then
 * refuses any op naming them).
 */
static void fx_only_on(struct mcx_mem *m, unsigned int dev)
{
	for (uint32_t c = 0; c < m->nr_chunks; c++)
		for (uint32_t k = 0; k < m->nr_nics; k++)
			if (k != dev)
				mcx__mem_release_slot(m, c, k, false);
	m->nics = 1U << dev;
}

/* Path of peer 0 whose remote device is rdev. */
static uint32_t fx_path_to(uint32_t rdev)
{
	for (uint32_t k = 0; k < F.peer[0]->nr_paths; k++)
		if (F.peer[0]->paths[k].rdev == rdev)
			return k;
	harness_fail(__FILE__, __LINE__, "no path to remote device %u", rdev);
	return 0;
}

/*
 * The peer's memory is registered on its device 1 only (GPU memory on the
 * NIC nearest its GPU): its descriptor says so (a NIC mask, since a key
 * of 0 may be a real key), and every slice goes over the path to device
 * 1; the path to device 0, which holds no MR of it, carries nothing, and
 * no op is refused.
 *
 * Checked against the library before the mask: slices went to device 0
 * with key 0, were refused, the descriptors were fetched again, refused
 * again, and the requests failed with -EFAULT.
 */
TEST(datapath_remote_memory_on_some_nics_uses_only_their_paths)
{
	struct fx_opts o = { 0 };
	struct mcx_rdesc *d;
	struct mcx_batch *b;
	struct fk_path *to0, *to1;
	uint32_t p0, p1;

	fx_setup(&o);
	srand(17);
	fx_only_on(F.rmem, 1);
	ASSERT_ERR(mcx__peer_refetch(F.peer[0]), 0);
	d = mcx__peer_find_desc(F.peer[0], (uintptr_t)F.rbuf, 1);
	ASSERT_TRUE(d != NULL);
	ASSERT_EQ(d->nics, 1U << 1);
	ASSERT_TRUE(!mcx__rdesc_on(d, 0) && mcx__rdesc_on(d, 1));
	mcx__rdesc_put(d);
	p0 = fx_path_to(0);
	p1 = fx_path_to(1);
	to0 = fx_path(0, p0);
	to1 = fx_path(0, p1);
	ASSERT_ERR(mcx_batch_create(F.c, 16, &b), 0);
	add_many(b, 0, 16, true, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	ASSERT_U64_EQ(fk_snap(to0).posted, 0);
	ASSERT_U64_EQ(fk_snap(to1).posted, expected_slices(b));
	ASSERT_EQ(fk_efaults(), 0u);
	mcx_batch_free(b);
	fx_teardown();
}

/*
 * No path joins a NIC holding the local memory to one holding the remote
 * memory: the request fails at once with -EHOSTUNREACH (the peer's memory
 * is on none of the NICs our memory's paths reach), and with -ENETUNREACH
 * when no path leaves from a NIC holding the local memory at all; nothing
 * is posted either way, and the log says which.
 */
TEST(datapath_no_path_between_nics_holding_both_sides)
{
	struct fx_opts o = { 0 };
	struct mcx_status st[2];
	struct mcx_batch *b;
	uint32_t lnics;

	fx_setup(&o);
	fx_only_on(F.rmem, 1);
	fx_only_on(F.lmem, 0);
	ASSERT_ERR(mcx__peer_refetch(F.peer[0]), 0);
	ASSERT_ERR(mcx_batch_create(F.c, 2, &b), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 100, 0), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], F.lbuf + 8192,
				 (uintptr_t)F.rbuf + 8192, 5000, 1), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -EHOSTUNREACH);
	ASSERT_EQ(mcx_batch_status(b, st, 2), 2);
	ASSERT_ERR(st[0].status, -EHOSTUNREACH);
	ASSERT_ERR(st[1].status, -EHOSTUNREACH);
	ASSERT_CONTAINS(captured_log, "registered on none of its NICs");
	mcx_batch_free(b);

	/* Local memory on no NIC this peer's paths leave from. */
	lnics = F.lmem->nics;
	F.lmem->nics = 0;
	ASSERT_ERR(mcx_batch_create(F.c, 1, &b), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 100, 0), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -ENETUNREACH);
	ASSERT_CONTAINS(captured_log, "no path leaves from a NIC its local memory");
	mcx_batch_free(b);
	F.lmem->nics = lnics;
	for (uint32_t k = 0; k < F.peer[0]->nr_paths; k++)
		ASSERT_U64_EQ(fk_snap(fx_path(0, k)).posted, 0);
	fx_teardown();
}

/*
 * The peer dies with work on the NIC: its paths are stopped, what they
 * held is flushed, and every request fails with the peer's error; a new
 * request to it fails at once with the same error.
 */
TEST(datapath_peer_death_fails_its_requests)
{
	struct fx_opts o = { 0 };
	struct fk_path *p[NDEVS];
	struct mcx_status st[8];
	struct mcx_batch *b;

	fx_setup(&o);
	srand(9);
	for (uint32_t k = 0; k < NDEVS; k++) {
		p[k] = fx_path(0, k);
		fk_set_mode(p[k], FK_HOLD, FK_FLUSH_ON_STOP);
	}
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 0, 8, false, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_TRUE(fk_held(p[0]) > 0 && fk_held(p[1]) > 0);
	mcx__peer_fail(F.peer[0], -ECONNRESET);
	ASSERT_ERR(mcx_batch_wait(b, -1), -ECONNRESET);
	ASSERT_EQ(mcx_batch_status(b, st, 8), 8);
	for (int i = 0; i < 8; i++)
		ASSERT_ERR(st[i].status, -ECONNRESET);
	for (uint32_t k = 0; k < NDEVS; k++) {
		struct fk_path s = fk_snap(p[k]);

		ASSERT_TRUE(s.stopped);
		ASSERT_EQ(fk_held(p[k]), 0);
	}
	/* Flushed back, none of it ran. */
	ASSERT_EQ(fk_count(FK_EV_REAP, -1, 0, UINT64_MAX),
		  fk_count(FK_EV_POST, -1, 0, UINT64_MAX) - fk_count(FK_EV_UNREAPED, -1, 0, UINT64_MAX));
	mcx_batch_free(b);
	ASSERT_ERR(mcx_batch_create(F.c, 1, &b), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 8, 0), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -ECONNRESET);
	mcx_batch_free(b);
	fx_teardown();
}

TEST(datapath_batch_api_misuse)
{
	struct fx_opts o = { 0 };
	struct mcx_batch *b = (struct mcx_batch *)1;
	struct mcx_status st[2];
	struct fk_path *p0;

	fx_setup(&o);
	ASSERT_ERR(mcx__engine_create_with(NULL, NULL, NULL), -EINVAL);
	ASSERT_ERR(mcx_batch_create(F.c, 0, &b), -EINVAL);
	ASSERT_TRUE(b == NULL);
	ASSERT_ERR(mcx_batch_create(NULL, 1, &b), -EINVAL);
	ASSERT_ERR(mcx_batch_create(F.c, 2, &b), 0);
	ASSERT_ERR(mcx_batch_submit(b), -EINVAL);	/* empty */
	ASSERT_ERR(mcx_batch_wait(b, 0), 0);		/* nothing to wait for */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 0, 0),
		   -EINVAL);
	ASSERT_ERR(mcx_batch_add(b, (enum mcx_op)7, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 1, 0),
		   -EINVAL);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, NULL, F.lbuf, (uintptr_t)F.rbuf, 1, 0), -EINVAL);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], NULL, (uintptr_t)F.rbuf, 1, 0),
		   -EINVAL);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], F.lbuf, UINT64_MAX, 2, 0), -EINVAL);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 1, 0), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf + 1, (uintptr_t)F.rbuf + 1, 2,
				 1), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 1, 2),
		   -ENOSPC);
	ASSERT_ERR(mcx_batch_wait(b, 0), -EINVAL);	/* not submitted */
	ASSERT_ERR(mcx_batch_wait(b, -2), -EINVAL);
	ASSERT_ERR(mcx_batch_status(b, NULL, 1), -EINVAL);
	ASSERT_ERR(mcx_batch_status(NULL, st, 1), -EINVAL);
	ASSERT_EQ(mcx_batch_status(b, NULL, 0), 0);
	ASSERT_EQ(mcx_batch_status(b, st, 2), 2);
	ASSERT_EQ(st[0].status, -EINPROGRESS);
	ASSERT_EQ(st[1].op, MCX_OP_WRITE);
	ASSERT_U64_EQ(st[1].len, 2);
	ASSERT_U64_EQ(st[1].cookie, 1);
	p0 = fx_path(0, 0);
	fk_set_mode(p0, FK_HOLD, FK_FLUSH_ON_STOP);
	fk_set_mode(fx_path(0, 1), FK_HOLD, FK_FLUSH_ON_STOP);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_submit(b), -EBUSY);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 1, 3),
		   -EBUSY);
	ASSERT_ERR(mcx_batch_wait(b, 0), -ETIMEDOUT);	/* just a look */
	ASSERT_EQ(mcx_batch_status(b, st, 2), 2);
	ASSERT_EQ(st[0].status, -EINPROGRESS);
	fk_set_mode(p0, FK_RUN, FK_FLUSH_ON_STOP);
	fk_set_mode(fx_path(0, 1), FK_RUN, FK_FLUSH_ON_STOP);
	fk_release(p0, 8);
	fk_release(fx_path(0, 1), 8);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	mcx_batch_free(b);
	mcx_batch_free(NULL);
	fx_teardown();
}

/* ------------------------------------------------------------------ */
/* Failure semantics of the per-peer data path                         */
/* ------------------------------------------------------------------ */

/*
 * Past its deadline a request stays -EINPROGRESS for as long as the NIC
 * holds any op of it: its paths are stopped at the deadline, and its
 * status becomes -ETIMEDOUT only once the last op came back flushed.
 *
 * Checked by breaking it: with maybe_finish() (post.c) ignoring
 * r->inflight, the status is -ETIMEDOUT right at the deadline and the
 * "still held" assertions fail.
 */
TEST(datapath_deadline_status_final_only_after_flush)
{
	struct fx_opts o = { .timeout_ms = 1000 };
	struct fk_path *p[NDEVS];
	struct mcx_batch *b;
	uint64_t t0;

	fx_setup(&o);
	for (uint32_t k = 0; k < NDEVS; k++) {
		p[k] = fx_path(0, k);
		/* Holds what it gets; a stop does not flush it, the test does. */
		fk_set_mode(p[k], FK_HOLD, FK_FLUSH_NEVER);
	}
	ASSERT_ERR(mcx_batch_create(F.c, 1, &b), 0);
	/* Two slices: one on each path. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf, (uintptr_t)F.rbuf,
				 2 * SLICE, 0), 0);
	t0 = mcx__now_ns();
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_EQ(fk_held(p[0]), 1);
	ASSERT_EQ(fk_held(p[1]), 1);
	/* The deadline stops both paths (they carry its work). */
	PROGRESS_UNTIL(F.c, fk_snap(p[0]).stopped && fk_snap(p[1]).stopped,
		       3 * F.timeout_ms);
	ASSERT_TRUE(fk_snap(p[0]).stop_ns - t0 >= (uint64_t)F.timeout_ms * 1000000ULL);
	ASSERT_ERR(req_status(b, 0), -EINPROGRESS);
	ASSERT_ERR(mcx_batch_wait(b, 0), -ETIMEDOUT);	/* the wait's own limit */
	/* Progress changes nothing while both ops are held (well within the
	 * flush deadline, after which the paths would be destroyed). */
	for (int i = 0; i < 50 && mcx__now_ns() - fk_snap(p[0]).stop_ns <
				  (uint64_t)F.flush_ms * 1000000ULL / 2; i++) {
		mcx_engine_progress(F.c);
		ASSERT_ERR(req_status(b, 0), -EINPROGRESS);
	}
	/* One op flushed, the other still held: not final yet. */
	fk_flush(p[0]);
	PROGRESS_UNTIL(F.c, fk_count(FK_EV_REAP, -1, 0, UINT64_MAX) == 1, 3 * F.flush_ms);
	ASSERT_ERR(req_status(b, 0), -EINPROGRESS);
	ASSERT_EQ(fk_held(p[1]), 1);
	fk_flush(p[1]);
	ASSERT_ERR(mcx_batch_wait(b, -1), -ETIMEDOUT);
	ASSERT_ERR(req_status(b, 0), -ETIMEDOUT);
	/* Both came back as flushes, none had to be handed back. */
	ASSERT_EQ(fk_count(FK_EV_REAP, -1, 0, UINT64_MAX), 2);
	ASSERT_EQ(fk_count(FK_EV_UNREAPED, -1, 0, UINT64_MAX), 0);
	ASSERT_CONTAINS(captured_log, "timed out");
	mcx_batch_free(b);
	fx_teardown();
}

static struct {
	struct fk_path *path;
	struct mcx_batch *b;
	int status;		/* the request's status when path was closed */
	bool seen;
} CL;

/*
 * From inside path_close(), which reap calls with peers.lock held: read the
 * status under the peer's dlock, as mcx_batch_status() would, but without
 * its active_lock (which comes before peers.lock).
 */
static void record_close(struct fk_path *p)
{
	if (p != CL.path)
		return;
	pthread_mutex_lock(&F.peer[0]->dlock);
	CL.status = CL.b->reqs[0].status;
	pthread_mutex_unlock(&F.peer[0]->dlock);
	CL.seen = true;
}

/*
 * A device that never flushes: after the flush deadline the path is
 * closed, the op handed back, and only then is the status final.
 *
 * Checked by breaking it: without the flush deadline in reap_peer()
 * (path.c) the path is never closed and PROGRESS_UNTIL fails; with
 * maybe_finish() (post.c) ignoring r->inflight, the status is final at
 * the deadline, before the path was closed, and the close assertions fail.
 */
TEST(datapath_deadline_unflushed_path_closed_after_flush_deadline)
{
	struct fx_opts o = { .timeout_ms = 1000 };
	struct fk_path *p, s;
	struct mcx_batch *b;
	uint64_t t0, stop_ns;

	fx_setup(&o);
	p = fx_path(0, 0);
	fk_set_mode(p, FK_HOLD, FK_FLUSH_NEVER);
	fk_set_mode(fx_path(0, 1), FK_HOLD, FK_FLUSH_NEVER);
	ASSERT_ERR(mcx_batch_create(F.c, 1, &b), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], F.lbuf, (uintptr_t)F.rbuf, 100, 0), 0);
	CL.path = p;
	CL.b = b;
	pthread_mutex_lock(&FK.mu);
	FK.on_close = record_close;
	pthread_mutex_unlock(&FK.mu);
	t0 = mcx__now_ns();
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_EQ(fk_held(p), 1);
	PROGRESS_UNTIL(F.c, req_status(b, 0) != -EINPROGRESS, 3 * (F.timeout_ms + F.flush_ms));
	ASSERT_ERR(mcx_batch_wait(b, -1), -ETIMEDOUT);
	ASSERT_ERR(req_status(b, 0), -ETIMEDOUT);
	ASSERT_TRUE(fk_snap(p).stop_ns - t0 >= (uint64_t)F.timeout_ms * 1000000ULL);
	s = fk_snap(p);
	ASSERT_TRUE(s.stopped && s.closed);
	ASSERT_U64_EQ(s.unreaped, 1);
	ASSERT_TRUE(CL.seen);
	ASSERT_ERR(CL.status, -EINPROGRESS);	/* not final before the close */
	pthread_mutex_lock(&F.peer[0]->dlock);
	stop_ns = F.peer[0]->paths[0].stop_ns;
	pthread_mutex_unlock(&F.peer[0]->dlock);
	ASSERT_TRUE(s.close_ns - stop_ns > (uint64_t)F.flush_ms * 1000000ULL);
	ASSERT_CONTAINS(captured_log, "not flushed");
	pthread_mutex_lock(&FK.mu);
	FK.on_close = NULL;
	pthread_mutex_unlock(&FK.mu);
	mcx_batch_free(b);
	fx_teardown();
}

/*
 * A request that is failing already when its deadline passes (one slice
 * refused for good, another held by a path that is up but never
 * completes) still has that path stopped at the deadline, so its status
 * becomes final (-EFAULT, the first error) once the held op comes back.
 *
 * The refused slice is refused twice: the first refusal only refetches
 * the peer's descriptors, and the slice waits for the refused path to be
 * rebuilt (the held path has room for one op only), where it is refused
 * again and the request starts failing.
 *
 * Checked against the library before the fix (expire_batch() in batch.c
 * passed over a request with r->failing set): the held path is never
 * stopped and the status stays -EINPROGRESS.
 */
TEST(datapath_deadline_stops_the_paths_of_a_failing_request)
{
	struct fx_opts o = { .timeout_ms = 2000 };
	struct fk_path *held;
	struct mcx_batch *b;
	uint64_t t0;

	fx_setup(&o);
	held = fx_path(0, 1);
	fk_set_mode(held, FK_HOLD, FK_FLUSH_ON_STOP);
	pthread_mutex_lock(&FK.mu);
	held->depth = 1;
	/* Refused wherever it runs: only the held path never runs it. */
	FK.efault_lo = (uintptr_t)F.rbuf;
	FK.efault_hi = (uintptr_t)F.rbuf + 2 * SLICE;
	pthread_mutex_unlock(&FK.mu);
	ASSERT_ERR(mcx_batch_create(F.c, 1, &b), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf, (uintptr_t)F.rbuf,
				 2 * SLICE, 0), 0);
	t0 = mcx__now_ns();
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_EQ(fk_held(held), 1);
	/* Refused, refetched, refused again on the rebuilt path: failing. */
	PROGRESS_UNTIL(F.c, req_failing(b, 0) != 0, 3 * F.timeout_ms);
	ASSERT_ERR(req_failing(b, 0), -EFAULT);
	ASSERT_EQ(fk_efaults(), 2u);
	/* The premise: failing before the deadline, its op still held. */
	ASSERT_TRUE(mcx__now_ns() - t0 < (uint64_t)F.timeout_ms * 1000000ULL);
	ASSERT_ERR(req_status(b, 0), -EINPROGRESS);
	ASSERT_TRUE(!fk_snap(held).stopped);
	ASSERT_EQ(fk_held(held), 1);
	/* The deadline stops the held path; the flush makes the status final. */
	PROGRESS_UNTIL(F.c, req_status(b, 0) != -EINPROGRESS, 3 * (F.timeout_ms + F.flush_ms));
	ASSERT_ERR(req_status(b, 0), -EFAULT);
	ASSERT_TRUE(fk_snap(held).stopped);
	ASSERT_TRUE(fk_snap(held).stop_ns - t0 >= (uint64_t)F.timeout_ms * 1000000ULL);
	ASSERT_EQ(fk_held(held), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -EFAULT);
	ASSERT_EQ(fk_efaults(), 2u);
	mcx_batch_free(b);
	fx_teardown();
}

static void do_batch_free(void *arg)
{
	mcx_batch_free(arg);
}

/*
 * mcx_batch_free() with work on a device that never completes anything
 * returns: the paths carrying the batch's work are stopped, so their work
 * flushes, or is handed back when they are closed after the flush
 * deadline.  It does not wait for the requests' deadline either (nothing
 * timed out: the free stopped the paths).
 *
 * Checked against the library before the fix (batch_retire() in batch.c
 * did not stop the paths, and the deadline passes over a request that is
 * failing already): the free never returns and run_bounded() fails.
 */
TEST(datapath_batch_free_returns_when_the_nic_never_completes)
{
	struct fx_opts o = { .timeout_ms = 1000 };
	struct mcx_batch *b;

	fx_setup(&o);
	for (int round = 0; round < 2; round++) {
		enum fk_flush flush = round ? FK_FLUSH_NEVER : FK_FLUSH_ON_STOP;
		struct fk_path *p[NDEVS];
		uint32_t held = 0;

		PROGRESS_UNTIL(F.c, paths_up(0), 3 * 5000);
		for (uint32_t k = 0; k < NDEVS; k++) {
			p[k] = fx_path(0, k);
			fk_set_mode(p[k], FK_HOLD, flush);
		}
		ASSERT_ERR(mcx_batch_create(F.c, 4, &b), 0);
		add_many(b, 0, 4, false, 0);
		ASSERT_ERR(mcx_batch_submit(b), 0);
		for (uint32_t k = 0; k < NDEVS; k++)
			held += fk_held(p[k]);
		ASSERT_TRUE(held > 0);
		run_bounded(do_batch_free, b, 3 * F.flush_ms, "mcx_batch_free");
		for (uint32_t k = 0; k < NDEVS; k++) {
			struct fk_path s = fk_snap(p[k]);

			ASSERT_TRUE(s.stopped);
			ASSERT_EQ(s.inflight, 0);
			ASSERT_EQ(fk_held(p[k]), 0);
			if (flush == FK_FLUSH_NEVER)
				ASSERT_TRUE(s.closed && s.unreaped > 0);
		}
		ASSERT_EQ(atomic_load(&F.lmem->refs), 1);
		if (flush == FK_FLUSH_ON_STOP)	/* flushed back, not handed back */
			ASSERT_EQ(fk_count(FK_EV_UNREAPED, -1, 0, UINT64_MAX), 0);
	}
	ASSERT_TRUE(!strstr(captured_log, "timed out"));
	fx_teardown();
}

static void do_peer_close(void *arg)
{
	mcx_peer_close(arg);
}

/*
 * mcx_peer_close() with work on a device that never completes anything
 * returns (bounded by the flush deadline); the closed peer's requests fail
 * with -ECONNABORTED, the other peer's in the same batch complete, and the
 * batch is still usable after its peer was freed.
 *
 * Checked against the library before the fix: the batch calls after the
 * close (status, a new round, free) locked the freed peer's dlock, and the
 * sanitizer build reports a heap-use-after-free in batch_retire() here
 * (the plain build may not notice).
 */
TEST(datapath_peer_close_returns_when_the_nic_never_completes)
{
	struct fx_opts o = { .timeout_ms = 1000, .npeers = 2 };
	struct fk_path *p[NDEVS];
	struct mcx_status st[8];
	struct mcx_batch *b;
	uint32_t held = 0;

	fx_setup(&o);
	srand(10);
	for (uint32_t k = 0; k < NDEVS; k++) {
		p[k] = fx_path(0, k);
		fk_set_mode(p[k], FK_HOLD, FK_FLUSH_NEVER);
	}
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 0, 4, false, 0);
	add_many(b, 1, 4, false, 4);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	for (uint32_t k = 0; k < NDEVS; k++)
		held += fk_held(p[k]);
	ASSERT_TRUE(held > 0);
	PROGRESS_UNTIL(F.c, reqs_done(b, 4, 8), 3 * F.timeout_ms);
	run_bounded(do_peer_close, F.peer[0], 3 * F.flush_ms, "mcx_peer_close");
	F.peer[0] = NULL;
	for (uint32_t k = 0; k < NDEVS; k++) {
		struct fk_path s = fk_snap(p[k]);

		ASSERT_TRUE(s.stopped && s.closed);
		ASSERT_EQ(fk_held(p[k]), 0);
	}
	ASSERT_EQ(fk_count(FK_EV_UNREAPED, -1, 0, UINT64_MAX), held);
	ASSERT_ERR(mcx_batch_wait(b, -1), -ECONNABORTED);
	ASSERT_EQ(mcx_batch_status(b, st, 8), 8);
	for (int i = 0; i < 8; i++)
		ASSERT_ERR(st[i].status, i < 4 ? -ECONNABORTED : 0);
	check_data(b);
	/* A new round on the same batch, to the peer that is left. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[1], F.lbuf + BUF, (uintptr_t)F.rbuf + BUF,
				 3 * SLICE, 9), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	mcx_batch_free(b);
	fx_teardown();
}

/*
 * No head-of-line blocking: peer 0's paths are full and never complete,
 * yet peer 1's requests, in the same batch (queued behind peer 0's) and
 * in another batch, complete.  Peer 0's work is all still there (held or
 * queued), and completes once its device moves again.
 *
 * Checked by breaking it: with one queue shared by every peer (xq_of()
 * in post.c returning the same queue, posting each request on its own
 * peer: the old layout's design), peer 1's requests stay queued behind
 * peer 0's until their deadline and the wait for batch 1 fails.
 */
TEST(datapath_wedged_peer_does_not_block_another)
{
	struct fx_opts o = { .timeout_ms = 3000, .npeers = 2, .depth = 2 };
	struct fk_path *p[NDEVS];
	struct mcx_batch *b0, *b1;

	fx_setup(&o);
	srand(11);
	for (uint32_t k = 0; k < NDEVS; k++) {
		p[k] = fx_path(0, k);
		fk_set_mode(p[k], FK_HOLD, FK_FLUSH_ON_STOP);
	}
	ASSERT_ERR(mcx_batch_create(F.c, 16, &b0), 0);
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b1), 0);
	/* Peer 0's requests first: 8 of them, more than its paths take. */
	for (int i = 0; i < 8; i++) {
		size_t off = (size_t)i * (BUF / 16);	/* 16 KiB apart, 12 KiB each */

		ASSERT_ERR(mcx_batch_add(b0, MCX_OP_WRITE, F.peer[0], F.lbuf + off,
					 (uintptr_t)F.rbuf + off, 3 * SLICE, (uint64_t)i), 0);
	}
	for (int i = 0; i < 8; i++) {
		size_t off = BUF + (size_t)i * (BUF / 16);

		ASSERT_ERR(mcx_batch_add(b0, MCX_OP_READ, F.peer[1], F.lbuf + off,
					 (uintptr_t)F.rbuf + off, 3 * SLICE, 8 + (uint64_t)i), 0);
	}
	/* Batch 1 to peer 1 only, in the half of its share batch 0 leaves. */
	add_range(b1, 1, BUF + BUF / 2, BUF / 2, 8, true, 100);
	ASSERT_ERR(mcx_batch_submit(b0), 0);
	ASSERT_ERR(mcx_batch_submit(b1), 0);
	ASSERT_ERR(mcx_batch_wait(b1, -1), 0);
	check_data(b1);
	PROGRESS_UNTIL(F.c, reqs_done(b0, 8, 16), 3 * F.timeout_ms);
	for (int i = 0; i < 8; i++)
		ASSERT_ERR(req_status(b0, (size_t)i), -EINPROGRESS);
	/* Peer 0's paths are full: the rest waits in its queue, nothing lost. */
	ASSERT_EQ(fk_held(p[0]), 2);
	ASSERT_EQ(fk_held(p[1]), 2);
	ASSERT_TRUE(fk_snap(p[0]).eagain > 0 || fk_snap(p[1]).eagain > 0);
	for (uint32_t k = 0; k < NDEVS; k++) {
		fk_set_mode(p[k], FK_RUN, FK_FLUSH_ON_STOP);
		fk_release(p[k], 2);
	}
	ASSERT_ERR(mcx_batch_wait(b0, -1), 0);
	check_data(b0);
	mcx_batch_free(b0);
	mcx_batch_free(b1);
	fx_teardown();
}

struct holder {
	struct mcx_peer *peer;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool held, release, timed_out;
	uint32_t bound_ms;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;
	struct timespec ts;

	pthread_mutex_lock(&h->peer->dlock);
	pthread_mutex_lock(&h->mu);
	h->held = true;
	pthread_cond_broadcast(&h->cv);
	deadline_ts(&ts, h->bound_ms);
	while (!h->release) {
		if (pthread_cond_timedwait(&h->cv, &h->mu, &ts) == ETIMEDOUT) {
			/* Let the test go on, so that it fails rather than hangs. */
			h->timed_out = true;
			break;
		}
	}
	pthread_mutex_unlock(&h->mu);
	pthread_mutex_unlock(&h->peer->dlock);
	return NULL;
}

/*
 * Two peers share no lock: while another thread holds peer 0's dlock, a
 * transfer to peer 1 completes, progress included (completions, reaping
 * stopped paths, deadlines).
 *
 * Checked against the library before the fix: mcx__peers_reap()
 * (path.c) took every peer's dlock on each progress pass, so progress
 * blocked on peer 0 until the holder's bound ran out, and the holder
 * reports it timed out.
 */
TEST(datapath_peers_do_not_share_a_lock)
{
	struct fx_opts o = { .timeout_ms = 2000, .npeers = 2 };
	struct holder h = { .bound_ms = 3 * 2000 };
	struct mcx_batch *b;
	pthread_t t;
	int ret;

	fx_setup(&o);
	srand(12);
	h.peer = F.peer[0];
	pthread_mutex_init(&h.mu, NULL);
	cond_init_mono(&h.cv);
	ASSERT_ERR(mcx_batch_create(F.c, 8, &b), 0);
	add_many(b, 1, 8, true, 0);
	ASSERT_EQ(pthread_create(&t, NULL, holder_main, &h), 0);
	pthread_mutex_lock(&h.mu);
	while (!h.held)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);

	ASSERT_ERR(mcx_batch_submit(b), 0);
	ret = mcx_batch_wait(b, -1);

	pthread_mutex_lock(&h.mu);
	h.release = true;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(t, NULL);
	/* Peer 1's transfer finished while peer 0's dlock was held. */
	ASSERT_TRUE(!h.timed_out);
	ASSERT_ERR(ret, 0);
	check_data(b);
	mcx_batch_free(b);
	pthread_cond_destroy(&h.cv);
	pthread_mutex_destroy(&h.mu);
	fx_teardown();
}

static bool take_note(struct mcx_notify *n)
{
	return mcx_notify_poll(F.s, n, 1) == 1;
}

/*
 * A write with a tag: the WRITE_IMM goes out only after every data op of
 * the request completed (not merely posted), and the request is final
 * only once the WRITE_IMM completed; the tag arrives at the peer.
 *
 * Checked by breaking it: with after_data() (post.c) sending the tag once
 * the data is posted (r->sliced == r->len) rather than completed, the
 * WRITE_IMM appears while data ops are held and the count assertion
 * fails; with maybe_finish() not counting the WRITE_IMM in flight, the
 * status is 0 while the NIC still holds it.
 */
TEST(datapath_notify_follows_all_data)
{
	struct fx_opts o = { .timeout_ms = 3000 };
	struct fk_path *p[NDEVS];
	uint64_t lo, hi;
	uint32_t data_ops, reaped = 0;
	struct mcx_notify note;
	struct mcx_batch *b;
	size_t len = 5 * SLICE - 100;
	uint32_t imm_post = UINT32_MAX;

	fx_setup(&o);
	lo = (uintptr_t)F.rbuf + 100;
	hi = lo + len;
	for (uint32_t k = 0; k < NDEVS; k++) {
		p[k] = fx_path(0, k);
		fk_set_mode(p[k], FK_HOLD, FK_FLUSH_ON_STOP);
	}
	ASSERT_ERR(mcx_batch_create(F.c, 1, &b), 0);
	ASSERT_ERR(mcx_batch_add_notify(b, F.peer[0], F.lbuf + 50, lo, len, 1, 0xfeedU), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	data_ops = fk_held(p[0]) + fk_held(p[1]);
	ASSERT_EQ(data_ops, mcx__slice_count((uintptr_t)F.lbuf + 50, (uintptr_t)F.lbuf, LCHUNK,
					     lo, (uintptr_t)F.rbuf, RCHUNK, len, SLICE));
	ASSERT_TRUE(fk_held(p[0]) > 0 && fk_held(p[1]) > 0);
	/* Release the data one op at a time, path 0's first. */
	for (uint32_t k = 0; k < NDEVS; k++) {
		while (fk_held(p[k])) {
			ASSERT_EQ(fk_release(p[k], 1), 1);
			reaped++;
			PROGRESS_UNTIL(F.c, fk_count(FK_EV_REAP, MCX_TP_WRITE, lo, hi) == reaped,
				       3 * F.timeout_ms);
			if (reaped < data_ops)
				ASSERT_EQ(fk_count(FK_EV_POST, MCX_TP_WRITE_IMM, 0, UINT64_MAX), 0);
			ASSERT_ERR(req_status(b, 0), -EINPROGRESS);
		}
	}
	/* All data in: the tag went out, and the NIC holds it. */
	ASSERT_EQ(fk_count(FK_EV_POST, MCX_TP_WRITE_IMM, lo, hi), 1);
	ASSERT_EQ(fk_held(p[0]) + fk_held(p[1]), 1);
	for (int i = 0; i < 20; i++) {
		mcx_engine_progress(F.c);
		ASSERT_ERR(req_status(b, 0), -EINPROGRESS);
	}
	ASSERT_EQ(mcx_notify_poll(F.s, &note, 1), 0);
	/* In the log: every data completion came before the tag's post. */
	pthread_mutex_lock(&FK.mu);
	ASSERT_TRUE(FK.nlog < FK_LOG_MAX);
	for (uint32_t i = 0, seen = 0; i < FK.nlog; i++) {
		const struct fk_ev *e = &FK.log[i];

		if (e->type == FK_EV_REAP && e->opcode == MCX_TP_WRITE && e->raddr >= lo &&
		    e->raddr < hi) {
			ASSERT_EQ(e->status, 0);
			seen++;
		}
		if (e->type == FK_EV_POST && e->opcode == MCX_TP_WRITE_IMM) {
			ASSERT_EQ(seen, data_ops);
			ASSERT_EQ(e->imm, 0xfeedU);
			imm_post = i;
		}
	}
	pthread_mutex_unlock(&FK.mu);
	ASSERT_TRUE(imm_post != UINT32_MAX);
	fk_release(p[0], 1);
	fk_release(p[1], 1);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	ASSERT_EQ(fk_count(FK_EV_REAP, MCX_TP_WRITE_IMM, lo, hi), 1);
	PROGRESS_UNTIL(F.s, take_note(&note), 3 * F.timeout_ms);
	ASSERT_EQ(note.tag, 0xfeedU);
	/*
	 * It names its sender (the caller as the listener saw it).  Checked
	 * against the listener before its target paths had owners: "".
	 */
	ASSERT_CONTAINS(note.from, "127.0.0.1:");
	ASSERT_TRUE(!memcmp(F.lbuf + 50, F.rbuf + 100, len));
	/* A tag only goes with a write. */
	ASSERT_ERR(mcx_batch_add_notify(b, NULL, F.lbuf, lo, 1, 0, 1), -EINVAL);
	mcx_batch_free(b);
	fx_teardown();
}

/*
 * Devices that carry no notifications (libfabric without 8 bytes of
 * remote CQ data): mcx_batch_add_notify to a connected peer says
 * -EOPNOTSUPP and queues nothing; one added before its peer connected
 * fails at submit with it, before any of its data moved; plain writes go
 * on.  Checked against batch_add and submit without the check: the add
 * succeeds, and the data is written before the tag has nowhere to go.
 */
TEST(datapath_notify_refused_where_no_path_carries_it)
{
	struct fx_opts o = { .no_notify = true };
	uint64_t lo, lo2;
	struct mcx_batch *b;
	int ret;

	fx_setup(&o);
	lo = (uintptr_t)F.rbuf + 100;
	lo2 = (uintptr_t)F.rbuf + BUF + 100;
	ASSERT_ERR(mcx_batch_create(F.c, 2, &b), 0);
	log_capture();
	ASSERT_ERR(mcx_batch_add_notify(b, F.peer[0], F.lbuf, lo, 4096, 1, 7), -EOPNOTSUPP);
	mcx__log_init();
	ASSERT_CONTAINS(captured_log, "notifications");
	ASSERT_EQ(b->n, 0u);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf, lo, 4096, 2), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	ASSERT_TRUE(!memcmp(F.lbuf, F.rbuf + 100, 4096));

	/* A peer not connected yet: known only at submit. */
	ASSERT_ERR(mcx_peer_open(F.c, F.addr, &F.peer[1]), 0);
	ASSERT_ERR(mcx_batch_add_notify(b, F.peer[1], F.lbuf + BUF, lo2, 4096, 3, 8), 0);
	log_capture();
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ret = mcx_batch_wait(b, -1);
	mcx__log_init();
	ASSERT_TRUE(ret < 0);
	ASSERT_ERR(req_status(b, 0), -EOPNOTSUPP);
	ASSERT_EQ(fk_count(FK_EV_POST, MCX_TP_WRITE, lo2, lo2 + 4096), 0);
	ASSERT_EQ(fk_count(FK_EV_POST, MCX_TP_WRITE_IMM, 0, UINT64_MAX), 0);
	mcx_batch_free(b);
	fx_teardown();
}

/* This process's threads whose name starts with prefix. */
static int threads_named(const char *prefix)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	ASSERT_TRUE(d != NULL);
	while ((e = readdir(d))) {
		char path[64], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.16s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, prefix, strlen(prefix)))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/*
 * An RDM transport's devices (libfabric's) polled by fabric_cq_threads
 * threads, one device each: with two devices and two threads the second
 * thread alone reaps device 1's completions, and batches striped over both
 * devices complete with the data in place, also after the threads slept
 * (a submit wakes them).  Three asked for: still one per device.  The
 * listener's engine (poller, defaults) counts one thread.
 */
static void cq_threads_run(uint32_t threads, int want_threads)
{
	struct fx_opts o = { .poller = 1, .rdm = true, .cq_threads = threads };
	int base = threads_named("mcx-poller");
	struct mcx_batch *b;

	fx_setup(&o);
	/* The listener's engine: its poller; the one under test: want_threads. */
	ASSERT_EQ(threads_named("mcx-poller") - base, 1 + want_threads);
	ASSERT_EQ(F.c->nr_pollers, (uint32_t)want_threads);
	ASSERT_ERR(mcx_batch_create(F.c, 16, &b), 0);
	for (int round = 0; round < 3; round++) {
		add_many(b, 0, 16, true, (uint64_t)round * 100);
		ASSERT_ERR(mcx_batch_submit(b), 0);
		ASSERT_ERR(mcx_batch_wait(b, -1), 0);
		check_data(b);
		/* Let the threads go to sleep: the next submit must wake them. */
		usleep(300 * 1000);
	}
	/* Both devices carried work (so the second thread reaped device 1's). */
	ASSERT_TRUE(fk_count(FK_EV_REAP, MCX_TP_WRITE, 0, UINT64_MAX) > 0);
	{
		struct mcx_pair_stats st[NDEVS];

		ASSERT_EQ(mcx_peer_stats(F.peer[0], st, NDEVS), NDEVS);
		for (uint32_t k = 0; k < NDEVS; k++)
			ASSERT_TRUE(st[k].slices > 0);
	}
	mcx_batch_free(b);
	fx_teardown();
}

TEST(datapath_rdm_cq_threads_one_per_device)
{
	cq_threads_run(2, 2);
	cq_threads_run(3, 2);
	cq_threads_run(1, 1);
}

/* ------------------------------------------------------------------ */
/* One-thread pipelining                                               */
/* ------------------------------------------------------------------ */

#define ROUNDS		6

struct rearm {
	atomic_int rounds;
	atomic_int bad;		/* a callback result or call that failed */
};

static void rearm_request(struct mcx_batch *b, int round)
{
	size_t off = (size_t)round * 3 * SLICE + 7;

	fill(F.lbuf + off, 2 * SLICE + 5, 100 + (unsigned int)round);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], F.lbuf + off, (uintptr_t)F.rbuf + off,
				 2 * SLICE + 5, (uint64_t)round), 0);
}

static void rearm_cb(struct mcx_batch *b, int result, void *arg)
{
	struct rearm *ra = arg;
	int round = atomic_load(&ra->rounds);
	struct mcx_status st = { 0 };

	/* It runs with the round complete: its request is final and done. */
	if (result || mcx_batch_status(b, &st, 1) != 1 || st.status ||
	    st.cookie != (uint64_t)round)
		ra->bad++;
	/*
	 * Counted before the next round starts: with a poller, that round's
	 * callback may run on the poller while this one (on a thread calling
	 * mcx_engine_progress) is still returning.
	 */
	atomic_store(&ra->rounds, round + 1);
	if (round + 1 < ROUNDS) {
		rearm_request(b, round + 1);
		if (mcx_batch_submit(b))
			ra->bad++;
	}
}

/*
 * mcx_batch_set_callback(): the callback adds to its batch and submits it
 * again from the progress thread, round after round.  With and without a
 * poller thread.
 *
 * Checked by breaking it: with run_callbacks() and batch_retire()
 * (batch.c) not clearing cb_queued, the second round's callback never
 * comes and PROGRESS_UNTIL fails.
 */
static void callback_rearms(int poller)
{
	struct fx_opts o = { .timeout_ms = 3000, .poller = poller };
	struct rearm ra = { 0 };
	struct mcx_batch *b;

	fx_setup(&o);
	ASSERT_ERR(mcx_batch_create(F.c, 1, &b), 0);
	ASSERT_ERR(mcx_batch_set_callback(NULL, rearm_cb, &ra), -EINVAL);
	ASSERT_ERR(mcx_batch_set_callback(b, rearm_cb, &ra), 0);
	fk_set_mode(fx_path(0, 0), FK_HOLD, FK_FLUSH_ON_STOP);
	rearm_request(b, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	/* The round is in progress (path 0 holds a slice of it). */
	ASSERT_ERR(mcx_batch_set_callback(b, rearm_cb, &ra), -EBUSY);
	fk_set_mode(fx_path(0, 0), FK_RUN, FK_FLUSH_ON_STOP);
	fk_release(fx_path(0, 0), 8);
	PROGRESS_UNTIL(F.c, atomic_load(&ra.rounds) == ROUNDS, 3 * F.timeout_ms);
	ASSERT_EQ(ra.bad, 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	for (int r = 0; r < ROUNDS; r++) {
		size_t off = (size_t)r * 3 * SLICE + 7;

		ASSERT_TRUE(!memcmp(F.lbuf + off, F.rbuf + off, 2 * SLICE + 5));
	}
	/* Done: no callback is due any more, so it can be removed. */
	ASSERT_ERR(mcx_batch_set_callback(b, NULL, NULL), 0);
	mcx_batch_free(b);
	fx_teardown();
}

TEST(datapath_callback_rearms_its_batch)
{
	callback_rearms(0);
}

TEST(datapath_callback_rearms_its_batch_with_poller)
{
	callback_rearms(1);
}

/*
 * mcx_batch_wait_any() returns the index of a batch that finished, not
 * the first one; -ETIMEDOUT when none did in time; -EINVAL for what it
 * cannot wait on.
 *
 * Checked by breaking it: with mcx_batch_wait_any() returning 0 whenever
 * some batch finished, the first wait_any assertion fails.
 */
TEST(datapath_wait_any_returns_a_finished_batch)
{
	struct fx_opts o = { .npeers = 2 };
	struct mcx_batch *v[3], *other;
	struct fk_path *p[NDEVS];

	fx_setup(&o);
	srand(13);
	for (uint32_t k = 0; k < NDEVS; k++) {
		p[k] = fx_path(0, k);
		fk_set_mode(p[k], FK_HOLD, FK_FLUSH_ON_STOP);
	}
	ASSERT_ERR(mcx_batch_create(F.c, 4, &v[0]), 0);
	ASSERT_ERR(mcx_batch_create(F.c, 4, &v[1]), 0);
	ASSERT_ERR(mcx_batch_create(F.c, 4, &v[2]), 0);
	add_many(v[0], 0, 4, false, 0);
	add_many(v[1], 1, 4, true, 10);
	ASSERT_ERR(mcx_batch_wait_any(v, 2, 0), -EINVAL);	/* v[0] not submitted */
	ASSERT_ERR(mcx_batch_submit(v[0]), 0);
	ASSERT_ERR(mcx_batch_submit(v[1]), 0);
	ASSERT_ERR(mcx_batch_wait_any(v, 0, 0), -EINVAL);
	ASSERT_ERR(mcx_batch_wait_any(NULL, 1, 0), -EINVAL);
	ASSERT_ERR(mcx_batch_wait_any(v, 2, -2), -EINVAL);
	ASSERT_ERR(mcx_batch_wait_any(v, 3, 0), -EINVAL);	/* v[2] not submitted */
	ASSERT_ERR(mcx_batch_create(F.s, 1, &other), 0);
	{
		struct mcx_batch *mixed[2] = { v[0], other };

		ASSERT_ERR(mcx_batch_wait_any(mixed, 2, 0), -EINVAL);
	}
	mcx_batch_free(other);
	/* v[0] is held by peer 0's NIC, v[1] finishes. */
	ASSERT_EQ(mcx_batch_wait_any(v, 2, -1), 1);
	ASSERT_ERR(mcx_batch_wait(v[1], 0), 0);
	check_data(v[1]);
	ASSERT_ERR(mcx_batch_wait_any(v, 1, 0), -ETIMEDOUT);
	ASSERT_ERR(mcx_batch_wait_any(v, 1, 20), -ETIMEDOUT);
	/* Refill the finished one; then let v[0] go. */
	add_many(v[1], 1, 2, false, 20);
	ASSERT_ERR(mcx_batch_submit(v[1]), 0);
	for (uint32_t k = 0; k < NDEVS; k++) {
		fk_set_mode(p[k], FK_RUN, FK_FLUSH_ON_STOP);
		fk_release(p[k], 8);
	}
	ASSERT_ERR(mcx_batch_wait(v[1], -1), 0);
	ASSERT_EQ(mcx_batch_wait_any(v, 2, -1), 0);
	ASSERT_ERR(mcx_batch_wait(v[0], 0), 0);
	check_data(v[0]);
	for (int i = 0; i < 3; i++)
		mcx_batch_free(v[i]);
	fx_teardown();
}

/* ------------------------------------------------------------------ */
/* GPU memory on NICs other than its GPU's nearest ones                */
/* ------------------------------------------------------------------ */

static char gpu_ctx;	/* the fake CUDA context of the tests' GPU memory */

/*
 * len bytes of "GPU 0" memory (fake CUDA driver, loaded as the application
 * would have), registered by the engine under test, whose device 0 sits
 * next to GPU 0 and device 1 on the other socket (fake sysfs, *root).
 */
static struct mcx_mem *gpu_reg(size_t len, const char **root, unsigned char **buf)
{
	void (*add)(unsigned long long, unsigned long long, int, int, int, unsigned long long,
		    void *);
	const char *lib = MCX_FAKE_CUDA_DIR "/libfakecuda.so";
	void *h = dlopen(lib, RTLD_NOW | RTLD_GLOBAL), *p = NULL;
	struct mcx_mem *m;

	ASSERT_TRUE(h != NULL);
	mcx__cuda_set_library(lib);
	*(void **)&add = dlsym(h, "fake_cuda_add");
	ASSERT_TRUE(add != NULL);
	*root = tree_make();
	tree_ibdev(*root, F.c->devs.attr[0].name, NIC0);
	tree_ibdev(*root, F.c->devs.attr[1].name, NIC2);
	F.c->mem.sysfs = *root;
	ASSERT_EQ(posix_memalign(&p, 1 << 21, len), 0);
	fill(p, len, 3);
	add((uintptr_t)p, len, MCX_CU_MEMORYTYPE_DEVICE, 0, 0, 77, &gpu_ctx);
	ASSERT_ERR(mcx_mem_register(F.c, p, len, 0, &m), 0);
	ASSERT_EQ(m->kind, MCX_MEM_CUDA_DEV);
	ASSERT_TRUE(m->dmabuf_fd >= 0);
	ASSERT_EQ(m->nics, 1u);		/* device 0 only: GPU 0's switch */
	*buf = p;
	return m;
}

static uint32_t fk_reg_calls(uint32_t dev)
{
	uint32_t n;

	pthread_mutex_lock(&FK.mu);
	n = FK.mr_regs_asked[F.c->devs.attr[dev].addr[0] - 1];
	pthread_mutex_unlock(&FK.mu);
	return n;
}

/* A write from g to the peer's rbuf and a read back into g, both waited on. */
static int gpu_batch(unsigned char *g, struct mcx_status st[2])
{
	struct mcx_batch *b;
	int ret;

	ASSERT_ERR(mcx_batch_create(F.c, 2, &b), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, F.peer[0], g + 100, (uintptr_t)F.rbuf + 64,
				 3 * SLICE + 5, 0), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, F.peer[0], g + BUF / 2,
				 (uintptr_t)F.rbuf + BUF, 2 * SLICE, 1), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ret = mcx_batch_wait(b, -1);
	ASSERT_EQ(mcx_batch_status(b, st, 2), 2);
	if (!ret)
		check_data(b);
	mcx_batch_free(b);
	return ret;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/*
 * GPU memory is registered on the NIC nearest its GPU (device 0), and no
 * path to the peer leaves from that NIC.  Before lazy registration the
 * requests failed with -ENETUNREACH; now the first one registers every
 * chunk on device 1 (dma-buf MRs, local access only: no key for peers),
 * counted in lazy_regs and said once at info, and both requests move
 * their bytes over device 1's path; the next requests register nothing.
 */
TEST(datapath_gpu_memory_registers_lazily_on_the_nic_a_peer_is_reached_through)
{
	struct fx_opts o = { .dev0_apart = true };
	struct mcx_status st[2];
	unsigned char *g;
	const char *root;
	struct mcx_mem *m;
	uint64_t regs;
	uint32_t calls;

	fx_setup(&o);
	ASSERT_EQ(F.peer[0]->paths[0].ldev, 1u);
	pthread_mutex_lock(&FK.mu);
	FK.dmabuf_ids = ~0U;
	pthread_mutex_unlock(&FK.mu);
	m = gpu_reg(BUF, &root, &g);
	calls = fk_reg_calls(1);	/* the host buffer's MRs */
	regs = atomic_load(&F.c->mem.reg_mr_calls);
	ASSERT_ERR(mcx_log_set_level(MCX_LOG_INFO), 0);
	captured_log[0] = '\0';

	ASSERT_ERR(gpu_batch(g, st), 0);
	ASSERT_ERR(st[0].status, 0);
	ASSERT_ERR(st[1].status, 0);
	ASSERT_EQ(fk_reg_calls(1), calls + m->nr_chunks);
	ASSERT_U64_EQ(atomic_load(&F.c->mem.reg_mr_calls), regs + m->nr_chunks);
	ASSERT_U64_EQ(atomic_load(&F.c->mem.lazy_regs), m->nr_chunks);
	ASSERT_EQ((uint32_t)atomic_load(&m->lazy_nics), 2u);
	ASSERT_EQ(m->nics, 1u);		/* what peers are told is unchanged */
	for (uint32_t c = 0; c < m->nr_chunks; c++) {
		ASSERT_TRUE(mcx__mem_mr(m, c, 1)->desc != NULL);
		ASSERT_U64_EQ(mcx__mem_mr(m, c, 1)->rkey, 0);	/* local access only */
	}
	ASSERT_EQ(count_of(captured_log, "is reachable only through"), 1u);
	ASSERT_CONTAINS(captured_log, F.c->devs.attr[1].name);

	/* Registered once: the next requests find the MRs. */
	ASSERT_ERR(gpu_batch(g, st), 0);
	ASSERT_ERR(gpu_batch(g, st), 0);
	ASSERT_EQ(fk_reg_calls(1), calls + m->nr_chunks);
	ASSERT_U64_EQ(atomic_load(&F.c->mem.lazy_regs), m->nr_chunks);
	ASSERT_EQ(count_of(captured_log, "is reachable only through"), 1u);
	ASSERT_ERR(mcx_log_set_level(MCX_LOG_WARN), 0);

	ASSERT_ERR(mcx_mem_deregister(m), 0);
	fx_teardown();
	tree_remove(root);
	free(g);
}

/*
 * The NIC the peer is reached through refuses dma-buf MRs: the requests
 * fail with its -EOPNOTSUPP, which is logged once and kept, so the next
 * requests fail the same way without asking the NIC again; nothing is
 * left registered there.
 */
TEST(datapath_gpu_memory_lazy_registration_failure_is_kept)
{
	struct fx_opts o = { .dev0_apart = true };
	struct mcx_status st[2];
	unsigned char *g;
	const char *root;
	struct mcx_mem *m;
	uint32_t calls;

	fx_setup(&o);
	pthread_mutex_lock(&FK.mu);
	FK.dmabuf_ids = 1U << (F.c->devs.attr[0].addr[0] - 1);	/* device 0 only */
	pthread_mutex_unlock(&FK.mu);
	m = gpu_reg(BUF, &root, &g);
	calls = fk_reg_calls(1);
	captured_log[0] = '\0';

	ASSERT_ERR(gpu_batch(g, st), -EOPNOTSUPP);
	ASSERT_ERR(st[0].status, -EOPNOTSUPP);
	ASSERT_ERR(st[1].status, -EOPNOTSUPP);
	ASSERT_TRUE(fk_reg_calls(1) > calls);
	calls = fk_reg_calls(1);
	ASSERT_EQ(count_of(captured_log, "registering it there failed"), 1u);
	ASSERT_CONTAINS(captured_log, "Operation not supported");
	ASSERT_EQ((uint32_t)atomic_load(&m->lazy_nics), 0u);
	ASSERT_U64_EQ(atomic_load(&F.c->mem.lazy_regs), 0);
	for (uint32_t c = 0; c < m->nr_chunks; c++)
		ASSERT_TRUE(mcx__mem_mr(m, c, 1)->mr == NULL);

	ASSERT_ERR(gpu_batch(g, st), -EOPNOTSUPP);
	ASSERT_EQ(fk_reg_calls(1), calls);		/* not asked again */
	ASSERT_EQ(count_of(captured_log, "registering it there failed"), 1u);
	ASSERT_EQ(FK.remote_faults, 0u);

	ASSERT_ERR(mcx_mem_deregister(m), 0);
	fx_teardown();
	tree_remove(root);
	free(g);
}
