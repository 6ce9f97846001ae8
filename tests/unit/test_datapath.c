// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The batch data path (lib/xfer/batch.c) on a fake transport: an engine with two
 * NICs and a peer with two pairs of two QPs each, whose "RDMA" copies the
 * bytes when a completion is reaped.  It checks what devices cannot show
 * deterministically: slices within chunks and slice_size, WR and CQ caps
 * never exceeded, striping over pairs, re-posting when a pair fails, errors
 * that belong to one request, deadlines, and peer death.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "core/core.h"
#include "util.h"

#define NPAIRS		2
#define NQP		2
#define MAX_WR		4
#define CQ_SIZE		6	/* less than NQP * MAX_WR: the CQ cap binds too */
#define SLICE		4096
#define LCHUNK		(16 * 1024)
#define RCHUNK		(12 * 1024)
#define BUF		(256 * 1024)
#define MAXQ		4096

static struct {
	struct mcx_slice *q[MAXQ];	/* posted, not completed */
	int nq;
	bool flushed[NPAIRS];		/* pair_error called */
	int fail_pair;			/* its next completion is an error */
	int fail_err;
	uint64_t efault_cookie;		/* the first slice of it gets -EFAULT */
	bool hang;			/* complete nothing (but flushes) */
	int post_fail_pair;		/* post on this pair returns -EIO */
	uint32_t max_qp_out, max_cq_out;
	uint64_t posts[NPAIRS];
	int bad_slices;			/* crossing a chunk or over slice_size */
} F;

static struct mcx_engine *eng;
static struct mcx_peer *peer;
static unsigned char *lbuf, *rbuf;
static struct mcx_mem *lmem;

static int pair_index(const struct mcx_pair *p)
{
	return (int)(p - peer->pairs);
}

static bool fake_can_post(const struct mcx_pair *pair, uint32_t qp)
{
	return pair->qp[qp].outstanding < eng->opts.max_wr &&
	       pair->lnic->cq_outstanding < pair->lnic->cq_size;
}

static int fake_post(struct mcx_slice *s)
{
	struct mcx_req *r = s->req;
	uint64_t la = r->laddr + s->off, ra = r->raddr + s->off;
	struct mcx_pair *p = s->pair;

	if (pair_index(p) == F.post_fail_pair)
		return -EIO;
	if (s->len > eng->opts.slice_size ||
	    (la - r->lmem->addr) / LCHUNK != (la + s->len - 1 - r->lmem->addr) / LCHUNK ||
	    (ra - r->rdesc->addr) / RCHUNK != (ra + s->len - 1 - r->rdesc->addr) / RCHUNK)
		F.bad_slices++;
	p->qp[s->qp].outstanding++;
	p->lnic->cq_outstanding++;
	if (p->qp[s->qp].outstanding > F.max_qp_out)
		F.max_qp_out = p->qp[s->qp].outstanding;
	if (p->lnic->cq_outstanding > F.max_cq_out)
		F.max_cq_out = p->lnic->cq_outstanding;
	F.posts[pair_index(p)]++;
	ASSERT_TRUE(F.nq < MAXQ);
	F.q[F.nq++] = s;
	return 0;
}

static int fake_poll(struct mcx_engine *e, struct mcx_nic *nic, int max)
{
	int done = 0;

	(void)e;
	for (int i = 0; i < F.nq && done < max;) {
		struct mcx_slice *s = F.q[i];
		struct mcx_pair *p = s->pair;
		int pi = pair_index(p), st = 0;

		if (p->lnic != nic || (F.hang && !F.flushed[pi])) {
			i++;
			continue;
		}
		if (F.flushed[pi])
			st = -ECANCELED;
		else if (pi == F.fail_pair)
			st = F.fail_err;
		else if (s->req->cookie == F.efault_cookie) {
			/* As for a stale rkey: the pair's QP goes to error too. */
			st = -EFAULT;
			F.efault_cookie = UINT64_MAX;
		}
		if (!st) {
			struct mcx_req *r = s->req;
			void *l = (void *)(uintptr_t)(r->laddr + s->off);
			void *rm = (void *)(uintptr_t)(r->raddr + s->off);

			if (r->op == MCX_OP_READ)
				memcpy(l, rm, s->len);
			else
				memcpy(rm, l, s->len);
		}
		memmove(&F.q[i], &F.q[i + 1], (size_t)(F.nq - i - 1) * sizeof(F.q[0]));
		F.nq--;
		p->qp[s->qp].outstanding--;
		nic->cq_outstanding--;
		mcx__slice_done(s, st);
		done++;
	}
	return done;
}

static void fake_pair_error(struct mcx_pair *pair)
{
	F.flushed[pair_index(pair)] = true;
}

static int fake_create(struct mcx_pair *pair)
{
	(void)pair;
	return 0;
}

static int fake_connect(struct mcx_pair *pair, const struct mcx_ep_info *remote)
{
	(void)pair;
	(void)remote;
	return 0;
}

static void fake_destroy(struct mcx_pair *pair)
{
	(void)pair;
}

static const struct mcx_transport_ops fake_ops = {
	.name = "fake",
	.pair_create = fake_create,
	.pair_connect = fake_connect,
	.can_post = fake_can_post,
	.post = fake_post,
	.poll = fake_poll,
	.pair_error = fake_pair_error,
	.pair_destroy = fake_destroy,
};

static void setup(uint32_t timeout_ms)
{
	static struct ibv_mr mr;
	struct mcx_mem *m;
	struct mcx_rdesc *d, **v;
	uint32_t rchunks = (BUF + RCHUNK - 1) / RCHUNK;

	memset(&F, 0, sizeof(F));
	F.fail_pair = -1;
	F.post_fail_pair = -1;
	F.efault_cookie = UINT64_MAX;
	lbuf = calloc(1, BUF);
	rbuf = calloc(1, BUF);
	eng = calloc(1, sizeof(*eng));
	ASSERT_TRUE(lbuf && rbuf && eng);
	mcx__opts_defaults(&eng->opts);
	eng->opts.poller = 0;
	eng->opts.max_wr = MAX_WR;
	eng->opts.slice_size = SLICE;
	eng->opts.timeout_ms = timeout_ms;
	eng->opts.loopback_memcpy = 0;
	eng->tp = &fake_ops;
	pthread_mutex_init(&eng->lock, NULL);
	pthread_cond_init(&eng->cond, NULL);
	ASSERT_ERR(mcx__regcache_init(&eng->cache), 0);
	eng->nr_nics = NPAIRS;
	for (uint32_t i = 0; i < NPAIRS; i++) {
		eng->nics[i].idx = i;
		snprintf(eng->nics[i].name, sizeof(eng->nics[i].name), "fake%u", i);
		eng->nics[i].cq_size = CQ_SIZE;
	}

	/* The local buffer, registered in 16 KiB chunks (MRs are not used). */
	m = calloc(1, sizeof(*m));
	ASSERT_TRUE(m != NULL);
	m->eng = eng;
	m->addr = (uintptr_t)lbuf;
	m->len = BUF;
	m->chunk_size = LCHUNK;
	m->nr_chunks = BUF / LCHUNK;
	m->nr_nics = NPAIRS;
	m->mrs = calloc((size_t)m->nr_chunks * NPAIRS, sizeof(*m->mrs));
	ASSERT_TRUE(m->mrs != NULL);
	for (uint32_t i = 0; i < m->nr_chunks * NPAIRS; i++)
		m->mrs[i] = &mr;
	atomic_store(&m->refs, 1);
	ASSERT_ERR(mcx__regcache_insert(&eng->cache, m), 0);
	lmem = m;

	/* The peer: two pairs of two QPs, its buffer in 12 KiB chunks. */
	peer = calloc(1, sizeof(*peer));
	ASSERT_TRUE(peer != NULL);
	pthread_mutex_init(&peer->lock, NULL);
	snprintf(peer->addr, sizeof(peer->addr), "fake:1");
	peer->state = MCX_PEER_READY;
	peer->nr_pairs = NPAIRS;
	peer->pairs = calloc(NPAIRS, sizeof(*peer->pairs));
	ASSERT_TRUE(peer->pairs != NULL);
	mcx__peer_attach(eng, peer);
	for (uint32_t i = 0; i < NPAIRS; i++) {
		peer->pairs[i].peer = peer;
		peer->pairs[i].lnic = &eng->nics[i];
		peer->pairs[i].rnic = i;
		peer->pairs[i].state = MCX_PAIR_UP;
		peer->pairs[i].nqp = NQP;
	}
	ASSERT_ERR(mcx__rdesc_alloc((uintptr_t)rbuf, BUF, RCHUNK, rchunks, NPAIRS, &d), 0);
	v = malloc(sizeof(*v));
	ASSERT_TRUE(v != NULL);
	v[0] = d;
	mcx__peer_set_descs(peer, v, 1);
}

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* Add n requests of random length/offset in disjoint stripes; op alternates. */
static void add_many(struct mcx_batch *b, int n, bool both_ops)
{
	size_t stripe = BUF / (size_t)n;

	for (int i = 0; i < n; i++) {
		size_t lo = (size_t)i * stripe + (size_t)(rand() % 7);
		size_t ro = (size_t)i * stripe + (size_t)(rand() % 5);
		size_t len = 1 + (size_t)rand() % (stripe - 8);
		enum mcx_op op = both_ops && (i & 1) ? MCX_OP_READ : MCX_OP_WRITE;

		ASSERT_ERR(mcx_batch_add(b, op, peer, lbuf + lo, (uintptr_t)(rbuf + ro), len,
					 (uint64_t)i), 0);
	}
}

/* Every request of b moved its bytes the right way. */
static void check_data(struct mcx_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct mcx_req *r = &b->reqs[i];

		if (r->status)
			continue;
		if (memcmp((void *)(uintptr_t)r->laddr, (void *)(uintptr_t)r->raddr, r->len))
			harness_fail(__FILE__, __LINE__, "request %zu: data differs", i);
	}
}

TEST(datapath_slices_striping_and_caps)
{
	struct mcx_batch *b;
	struct mcx_status st[64];
	struct mcx_pair_stats ps[NPAIRS];

	setup(10000);
	srand(3);
	fill(lbuf, BUF, 1);
	fill(rbuf, BUF, 2);
	ASSERT_ERR(mcx_batch_create(eng, 64, &b), 0);
	add_many(b, 64, true);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	/* Posting stopped at the caps: nothing was reaped yet. */
	ASSERT_TRUE(F.nq > 0);
	ASSERT_TRUE(F.nq <= NPAIRS * CQ_SIZE);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	ASSERT_EQ(mcx_batch_status(b, st, 64), 64);
	for (int i = 0; i < 64; i++) {
		ASSERT_EQ(st[i].status, 0);
		ASSERT_U64_EQ(st[i].cookie, (uint64_t)i);
	}
	check_data(b);
	ASSERT_EQ(F.bad_slices, 0);
	ASSERT_TRUE(F.max_qp_out <= MAX_WR);
	ASSERT_TRUE(F.max_cq_out <= CQ_SIZE);
	ASSERT_EQ(F.max_cq_out, CQ_SIZE);	/* back-pressure was reached */
	/* Round-robin: the pairs share the slices evenly. */
	ASSERT_TRUE(F.posts[0] > 0 && F.posts[1] > 0);
	ASSERT_TRUE(F.posts[0] - F.posts[1] + 1 <= 2);
	ASSERT_EQ(mcx_peer_stats(peer, ps, NPAIRS), NPAIRS);
	ASSERT_TRUE(ps[0].up && ps[1].up);
	ASSERT_U64_EQ(ps[0].slices + ps[1].slices, F.posts[0] + F.posts[1]);

	/* The batch can be reused after it finished. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, peer, lbuf, (uintptr_t)rbuf, 1, 99), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	ASSERT_EQ(mcx_batch_status(b, st, 64), 1);
	mcx_batch_free(b);
	ASSERT_EQ(atomic_load(&lmem->refs), 1);	/* request refs dropped */
}

TEST(datapath_failed_pair_slices_move_to_the_other)
{
	struct mcx_batch *b;
	struct mcx_pair_stats ps[NPAIRS];

	setup(10000);
	srand(4);
	fill(lbuf, BUF, 5);
	ASSERT_ERR(mcx_batch_create(eng, 32, &b), 0);
	add_many(b, 32, true);
	F.fail_pair = 1;
	F.fail_err = -ETIMEDOUT;	/* retries exhausted on that path */
	log_capture();
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	ASSERT_EQ(mcx_peer_stats(peer, ps, NPAIRS), NPAIRS);
	ASSERT_TRUE(ps[0].up);
	ASSERT_TRUE(!ps[1].up);
	ASSERT_EQ(ps[1].err, -ETIMEDOUT);
	ASSERT_TRUE(ps[1].retried > 0);
	ASSERT_U64_EQ(ps[1].bytes, 0);
	ASSERT_TRUE(strstr(captured_log, "fake1") != NULL);
	ASSERT_EQ(F.bad_slices, 0);
	mcx_batch_free(b);
}

TEST(datapath_flush_first_fails_the_pair_too)
{
	struct mcx_batch *b;

	setup(10000);
	srand(11);
	/* The device put pair 1's QP in error by itself: only flushes come. */
	F.flushed[1] = true;
	ASSERT_ERR(mcx_batch_create(eng, 16, &b), 0);
	add_many(b, 16, false);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	ASSERT_EQ(peer->pairs[1].state, MCX_PAIR_FAILED);
	ASSERT_EQ(peer->pairs[0].state, MCX_PAIR_UP);
	/* Each of its slices moved once, not back and forth. */
	ASSERT_TRUE(peer->pairs[1].retried <= CQ_SIZE);
	mcx_batch_free(b);
}

TEST(datapath_post_refused_fails_over_too)
{
	struct mcx_batch *b;

	setup(10000);
	srand(5);
	F.post_fail_pair = 0;
	ASSERT_ERR(mcx_batch_create(eng, 16, &b), 0);
	add_many(b, 16, false);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	check_data(b);
	ASSERT_U64_EQ(F.posts[0], 0);
	ASSERT_EQ(peer->pairs[0].state, MCX_PAIR_FAILED);
	mcx_batch_free(b);
}

TEST(datapath_no_pair_left_fails_requests_with_the_pair_error)
{
	struct mcx_batch *b;
	struct mcx_status st[8];

	setup(10000);
	srand(6);
	F.post_fail_pair = 0;
	F.fail_pair = 1;
	F.fail_err = -EIO;
	ASSERT_ERR(mcx_batch_create(eng, 8, &b), 0);
	add_many(b, 8, false);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -EIO);
	ASSERT_EQ(mcx_batch_status(b, st, 8), 8);
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(st[i].status, -EIO);
	mcx_batch_free(b);
	ASSERT_EQ(F.nq, 0);
}

TEST(datapath_bad_request_fails_alone)
{
	struct mcx_batch *b;
	struct mcx_status st[8];

	setup(10000);
	srand(7);
	F.efault_cookie = 3;
	ASSERT_ERR(mcx_batch_create(eng, 8, &b), 0);
	add_many(b, 8, true);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -EFAULT);
	ASSERT_EQ(mcx_batch_status(b, st, 8), 8);
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(st[i].status, i == 3 ? -EFAULT : 0);
	check_data(b);
	/* The QP that saw it is gone; the other pair carried the rest. */
	ASSERT_TRUE((peer->pairs[0].state == MCX_PAIR_FAILED) !=
		    (peer->pairs[1].state == MCX_PAIR_FAILED));
	mcx_batch_free(b);
}

TEST(datapath_unregistered_ranges_fail_at_submit)
{
	static unsigned char other[64];
	struct mcx_batch *b;
	struct mcx_status st[4];

	setup(10000);
	ASSERT_ERR(mcx_batch_create(eng, 4, &b), 0);
	/* Remote past the peer's registration: no handshake to refetch with. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, peer, lbuf, (uintptr_t)rbuf + BUF - 4, 8, 0), 0);
	/* Local memory not registered. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, peer, other, (uintptr_t)rbuf, 8, 1), 0);
	/* Local range running past its registration. */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, peer, lbuf + BUF - 4, (uintptr_t)rbuf, 8, 2), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, peer, lbuf, (uintptr_t)rbuf, 8, 3), 0);
	log_capture();
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -EFAULT);
	ASSERT_EQ(mcx_batch_status(b, st, 4), 4);
	ASSERT_EQ(st[0].status, -EFAULT);
	ASSERT_EQ(st[1].status, -ENOKEY);
	ASSERT_EQ(st[2].status, -ENOKEY);
	ASSERT_EQ(st[3].status, 0);
	ASSERT_TRUE(strstr(captured_log, "not inside memory it registered") != NULL);
	ASSERT_TRUE(strstr(captured_log, "not inside a registration") != NULL);
	mcx_batch_free(b);
}

TEST(datapath_deadline_fails_requests_and_free_waits_for_the_nic)
{
	struct mcx_batch *b;
	struct mcx_status st[4];
	uint64_t t0;

	setup(150);
	srand(8);
	F.hang = true;
	ASSERT_ERR(mcx_batch_create(eng, 4, &b), 0);
	add_many(b, 4, false);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, 0), -ETIMEDOUT);	/* just a look */
	t0 = mcx__now_ns();
	ASSERT_ERR(mcx_batch_wait(b, 20), -ETIMEDOUT);	/* the caller's bound */
	ASSERT_ERR(mcx_batch_wait(b, -1), -ETIMEDOUT);	/* the request deadline */
	ASSERT_TRUE(mcx__now_ns() - t0 < 2000000000ULL);
	ASSERT_EQ(mcx_batch_status(b, st, 4), 4);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(st[i].status, -ETIMEDOUT);
	/* The WRs are still posted: a new round first waits for them. */
	ASSERT_TRUE(F.nq > 0);
	F.hang = false;
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, peer, lbuf, (uintptr_t)rbuf, 1, 9), 0);
	ASSERT_EQ(F.nq, 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	F.hang = true;
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_WRITE, peer, lbuf, (uintptr_t)rbuf, 1, 9), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, 300), -ETIMEDOUT);
	F.hang = false;
	mcx_batch_free(b);
	ASSERT_EQ(F.nq, 0);
	ASSERT_EQ(atomic_load(&lmem->refs), 1);
}

TEST(datapath_peer_death_fails_the_batch)
{
	struct mcx_batch *b;
	struct mcx_status st[8];

	setup(10000);
	srand(9);
	F.hang = true;
	ASSERT_ERR(mcx_batch_create(eng, 8, &b), 0);
	add_many(b, 8, false);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	mcx__peer_fail(peer, -ECONNRESET);
	ASSERT_ERR(mcx_batch_wait(b, -1), -ECONNRESET);
	ASSERT_EQ(mcx_batch_status(b, st, 8), 8);
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(st[i].status, -ECONNRESET);
	/* Its pairs were put in error: their WRs flushed. */
	ASSERT_TRUE(F.flushed[0] && F.flushed[1]);
	mcx_batch_free(b);
	ASSERT_EQ(F.nq, 0);
	/* A new batch to a dead peer fails at once with the same error. */
	ASSERT_ERR(mcx_batch_create(eng, 1, &b), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, peer, lbuf, (uintptr_t)rbuf, 8, 0), 0);
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_wait(b, -1), -ECONNRESET);
	mcx_batch_free(b);
}

TEST(datapath_batch_api_misuse)
{
	struct mcx_batch *b = (struct mcx_batch *)1;

	setup(10000);
	ASSERT_ERR(mcx_batch_create(eng, 0, &b), -EINVAL);
	ASSERT_TRUE(b == NULL);
	ASSERT_ERR(mcx_batch_create(NULL, 1, &b), -EINVAL);
	ASSERT_ERR(mcx_batch_create(eng, 2, &b), 0);
	ASSERT_ERR(mcx_batch_submit(b), -EINVAL);	/* empty */
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, peer, lbuf, (uintptr_t)rbuf, 0, 0), -EINVAL);
	ASSERT_ERR(mcx_batch_add(b, (enum mcx_op)7, peer, lbuf, (uintptr_t)rbuf, 1, 0), -EINVAL);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, NULL, lbuf, (uintptr_t)rbuf, 1, 0), -EINVAL);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, peer, NULL, (uintptr_t)rbuf, 1, 0), -EINVAL);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, peer, lbuf, UINT64_MAX, 2, 0), -EINVAL);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, peer, lbuf, (uintptr_t)rbuf, 1, 0), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, peer, lbuf, (uintptr_t)rbuf, 1, 1), 0);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, peer, lbuf, (uintptr_t)rbuf, 1, 2), -ENOSPC);
	ASSERT_ERR(mcx_batch_wait(b, 0), -EINVAL);	/* not submitted */
	ASSERT_ERR(mcx_batch_wait(b, -2), -EINVAL);
	F.hang = true;
	ASSERT_ERR(mcx_batch_submit(b), 0);
	ASSERT_ERR(mcx_batch_submit(b), -EBUSY);
	ASSERT_ERR(mcx_batch_add(b, MCX_OP_READ, peer, lbuf, (uintptr_t)rbuf, 1, 3), -EBUSY);
	F.hang = false;
	ASSERT_ERR(mcx_batch_wait(b, -1), 0);
	ASSERT_ERR(mcx_batch_status(b, NULL, 1), -EINVAL);
	mcx_batch_free(b);
	mcx_batch_free(NULL);
}
