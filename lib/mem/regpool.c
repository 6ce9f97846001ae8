// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The registration thread pool.  Registering memory is dominated by the
 * kernel pinning pages and writing the NIC's translation tables, which runs
 * in parallel across chunks and NICs, so a large buffer is cut into chunks
 * and every chunk × NIC pair is one job.  The workers start with the first
 * group of jobs, not with the engine: an engine that only serves memory
 * another process registered (a warm start) never registers, and starting
 * threads is part of what it would wait for before it serves.  Once started
 * they live as long as the engine; a caller hands a group of jobs to the
 * pool and sleeps until all of them are done (it does no job itself, so
 * that "1 thread" means one).
 */
#define _GNU_SOURCE	/* pthread_rwlock_t (mem/mem.h) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"

struct rgroup {
	struct mcx_reg_job *jobs;
	size_t n;
	size_t claimed;		/* jobs handed to workers */
	size_t finished;	/* jobs done or skipped */
	int err;		/* first failure: later jobs are skipped */
	struct rgroup *next;
	pthread_cond_t done;
};

struct mcx_regpool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct rgroup *head, *tail;
	bool stop;
	unsigned int nthreads;		/* the pool's size */
	unsigned int started;		/* of those, running (under lock) */
	pthread_t threads[];
};

int mcx__reg_job_do(struct mcx_reg_job *job)
{
	struct mcx_mem *m = job->mem;
	const struct mcx_devs *devs = m->ms->devs;
	uint64_t off = (uint64_t)job->chunk * m->chunk_size;
	uint64_t len = m->len - off < m->chunk_size ? m->len - off : m->chunk_size;
	struct mcx_mem_mr *slot = &m->mrs[(size_t)job->chunk * m->nr_nics + job->dev];
	struct mcx_tp_mr_req req = {
		.addr = m->addr + off,
		.len = len,
		/* host memory has none; GPU memory may have fallen back to none */
		.dmabuf_fd = m->kind == MCX_MEM_HOST ? -1 : m->dmabuf_fd,
		.dmabuf_offset = m->dmabuf_offset + off,
		/* MRs of memory another process registered answer to its addresses. */
		.iova = m->kind == MCX_MEM_HOST && m->iova != m->addr ? m->iova + off : 0,
		.remote = mcx__mem_remote(m) && !job->local_only,
	};
	struct mcx_tp_mr_info info;
	int ret;

	ret = devs->ops->mr_reg(devs->dev[job->dev], &req, &slot->mr, &info);
	if (ret) {
		mcx__err("%s: registering %llu bytes at 0x%llx (chunk %u of %u%s) failed: %s",
			 devs->attr[job->dev].name, (unsigned long long)len,
			 (unsigned long long)(m->addr + off), job->chunk, m->nr_chunks,
			 m->kind == MCX_MEM_DMABUF ? ", dma-buf" : "", mcx_strerror(ret));
		slot->mr = NULL;
		return ret;
	}
	slot->rkey = info.rkey;
	slot->desc = info.desc;
	slot->origin = MCX_MR_OWN;
	atomic_fetch_add(&m->ms->nr_mrs[job->dev], 1);
	atomic_fetch_add(&m->ms->reg_mr_calls, 1);
	return 0;
}

static void *worker(void *arg)
{
	struct mcx_regpool *pool = arg;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct rgroup *g;
		size_t i;
		int ret = 0;

		while (!pool->stop && !pool->head)
			pthread_cond_wait(&pool->work, &pool->lock);
		if (!pool->head)
			break;
		g = pool->head;
		i = g->claimed++;
		if (g->claimed == g->n) {
			pool->head = g->next;
			if (!pool->head)
				pool->tail = NULL;
		}
		if (!g->err) {
			pthread_mutex_unlock(&pool->lock);
			ret = mcx__reg_job_do(&g->jobs[i]);
			pthread_mutex_lock(&pool->lock);
		}
		if (ret && !g->err)
			g->err = ret;
		if (++g->finished == g->n)
			pthread_cond_signal(&g->done);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

int mcx__regpool_create(unsigned int nthreads, struct mcx_regpool **out)
{
	struct mcx_regpool *pool;

	*out = NULL;
	if (nthreads == 0)
		return -EINVAL;
	pool = calloc(1, sizeof(*pool) + nthreads * sizeof(pool->threads[0]));
	if (!pool)
		return -ENOMEM;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pool->nthreads = nthreads;
	*out = pool;
	return 0;
}

/*
 * Start the workers not running yet; the caller holds pool->lock (they
 * wait for it before they look for work).  0 when at least one runs: a
 * pool that could not start them all works with fewer; else -errno.
 */
static int start_workers(struct mcx_regpool *pool)
{
	int ret = 0;

	while (pool->started < pool->nthreads) {
		ret = mcx__thread_create(&pool->threads[pool->started], "mcx-reg", worker, pool);
		if (ret)
			break;
		pool->started++;
	}
	if (!ret)
		return 0;
	mcx__err("registration pool: cannot start thread %u of %u: %s%s", pool->started + 1,
		 pool->nthreads, mcx_strerror(ret),
		 pool->started ? "; registering with fewer" : "");
	/* The next group tries the missing ones again. */
	return pool->started ? 0 : ret;
}

unsigned int mcx__regpool_started(struct mcx_regpool *pool)
{
	unsigned int n;

	pthread_mutex_lock(&pool->lock);
	n = pool->started;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void mcx__regpool_destroy(struct mcx_regpool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	/* Nothing starts them any more: stop is set. */
	for (unsigned int i = 0; i < pool->started; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->work);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

unsigned int mcx__regpool_threads(const struct mcx_regpool *pool)
{
	return pool->nthreads;
}

static void undo(struct mcx_reg_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct mcx_mem *m = jobs[i].mem;
		struct mcx_mem_mr *slot = &m->mrs[(size_t)jobs[i].chunk * m->nr_nics + jobs[i].dev];

		if (slot->mr) {
			m->ms->devs->ops->mr_dereg(slot->mr);
			atomic_fetch_sub(&m->ms->nr_mrs[jobs[i].dev], 1);
			memset(slot, 0, sizeof(*slot));
		}
	}
}

int mcx__regpool_run(struct mcx_regpool *pool, struct mcx_reg_job *jobs, size_t n)
{
	struct rgroup g;
	int err;

	if (n == 0)
		return 0;
	memset(&g, 0, sizeof(g));
	g.jobs = jobs;
	g.n = n;
	pthread_mutex_lock(&pool->lock);
	err = start_workers(pool);
	if (err) {
		pthread_mutex_unlock(&pool->lock);
		return err;
	}
	pthread_cond_init(&g.done, NULL);
	if (pool->tail)
		pool->tail->next = &g;
	else
		pool->head = &g;
	pool->tail = &g;
	pthread_cond_broadcast(&pool->work);
	while (g.finished < g.n)
		pthread_cond_wait(&g.done, &pool->lock);
	err = g.err;
	pthread_mutex_unlock(&pool->lock);
	pthread_cond_destroy(&g.done);
	if (err)
		undo(jobs, n);
	return err;
}
