// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * fork() and verbs (util/thread.c says why it matters): ibv_fork_init()
 * once per process, before the first device is opened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "transport/verbs/verbs.h"

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static int fork_ret;

static void fork_policy(void)
{
	int ret;

	/* Set the pid cache up now, before the application can fork. */
	mcx__pid();
	/* libibverbs calls ibv_fork_init() itself when it sees these. */
	if (getenv("RDMAV_FORK_SAFE") || getenv("IBV_FORK_SAFE")) {
		mcx__dbg("fork: RDMAV_FORK_SAFE/IBV_FORK_SAFE set, libibverbs enables fork support");
		return;
	}
	/*
	 * Where the kernel copies pinned pages into the child at fork time
	 * (Linux 5.13, rdma-core 35), this returns 0 and changes nothing;
	 * otherwise it makes libibverbs mark every registered range
	 * MADV_DONTFORK, so that the parent keeps its pages.  EINVAL: this
	 * process registered memory or made queues with verbs before, which is
	 * too late to start tracking them.
	 */
	ret = ibv_fork_init();
	if (ret) {
		fork_ret = -ret;
		mcx__warn("fork: ibv_fork_init() failed (%s)%s; a fork() while memory is registered may corrupt transfers",
			  mcx_strerror(fork_ret),
			  ret == EINVAL ? ": verbs were used before the first engine" : "");
	}
}

int mcx__verbs_fork_init(void)
{
	pthread_once(&fork_once, fork_policy);
	return fork_ret;
}
