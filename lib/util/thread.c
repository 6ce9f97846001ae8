// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The library's threads and fork().
 *
 * Threads: every thread of libmcxfer (the poller, the registration workers,
 * the listener, the peer watchers) is started by mcx__thread_create() with
 * all asynchronous signals blocked.  A process-directed signal (SIGINT,
 * SIGTERM, SIGCHLD, a timer's SIGALRM...) is delivered to any one thread
 * that does not block it; were that one of ours, the application's handler
 * would run in the middle of our code, and an application that waits for
 * it with sigwait() or a signalfd in its own thread would never see it.
 *
 * fork(): a child inherits the parent's verbs objects only in name.  The
 * uverbs file, the QPs and the memory registrations stay the parent's; the
 * library's threads do not exist in the child; a lock one of them held at
 * the fork stays locked there.  And without help from the kernel or from
 * ibv_fork_init(), the parent itself is at risk: after fork() its pages are
 * copy-on-write, so the first write to a registered page gives the parent a
 * new page while the NIC keeps reading and writing the old one.  Hence:
 *  - the verbs transport calls ibv_fork_init() once, before it opens any
 *    device (transport/verbs/fork.c);
 *  - every engine records the pid of the process that created it, and its
 *    entry points refuse to run in any other process (core/owner.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/util.h"

#define THREAD_NAME_MAX	16	/* with the NUL: the kernel's TASK_COMM_LEN */

/*
 * The new thread inherits the mask of the thread calling pthread_create(),
 * so blocking everything around the call gives it a full mask from its first
 * instruction: setting the mask inside the new thread would leave a window
 * in which a signal could already land there.
 *
 * sigfillset() also names what cannot usefully be blocked: SIGKILL and
 * SIGSTOP (the kernel ignores them in a mask), and the synchronous signals
 * a fault raises in the faulting thread (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGTRAP, SIGSYS): when one of those is blocked the kernel unblocks it and
 * delivers it anyway (force_sig), so a crash in our thread still crashes
 * visibly instead of looping.  glibc removes its own internal signals
 * (cancellation, setxid) from any mask it is given, so setuid() in a
 * multithreaded process keeps working.
 */
int mcx__thread_create(pthread_t *t, const char *name, void *(*fn)(void *), void *arg)
{
	char comm[THREAD_NAME_MAX];
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	ret = pthread_sigmask(SIG_SETMASK, &all, &old);
	if (ret)
		return -ret;
	ret = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return -ret;
	if (name) {
		/* Longer names are cut rather than refused (ERANGE). */
		snprintf(comm, sizeof(comm), "%s", name);
		/*
		 * Only a label for ps/top/gdb: the thread runs already, so a
		 * failure (no /proc, say) is not worth undoing it for.
		 */
		ret = pthread_setname_np(*t, comm);
		if (ret)
			mcx__dbg("cannot name thread \"%s\": %s", comm, mcx_strerror(-ret));
	}
	return 0;
}

/*
 * The pid of this process, without a system call on the data path (glibc
 * no longer caches getpid()).  It is kept in a page that the kernel zeroes
 * in the child of any fork (MADV_WIPEONFORK, Linux 4.14), so that even a
 * child made without glibc's fork handlers (_Fork(), a raw clone) sees 0
 * and asks the kernel again.  Where that page cannot be had, the value
 * lives in ordinary memory and the pthread_atfork child handler clears it.
 */
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;
static atomic_int pid_fallback;
static atomic_int *pid_cache = &pid_fallback;
static pid_t pid_first;		/* the process that initialised this */

static void pid_atfork_child(void)
{
	atomic_store_explicit(pid_cache, 0, memory_order_relaxed);
}

static void pid_init(void)
{
#ifdef MADV_WIPEONFORK
	long psz = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED) {
		if (!madvise(p, (size_t)psz, MADV_WIPEONFORK))
			pid_cache = p;	/* kept for the life of the process */
		else
			munmap(p, (size_t)psz);
	}
#endif
	pthread_atfork(NULL, NULL, pid_atfork_child);
	pid_first = getpid();
	atomic_store_explicit(pid_cache, pid_first, memory_order_relaxed);
}

pid_t mcx__pid(void)
{
	pid_t pid;

	pthread_once(&pid_once, pid_init);
	pid = atomic_load_explicit(pid_cache, memory_order_relaxed);
	if (!pid) {
		pid = getpid();
		atomic_store_explicit(pid_cache, pid, memory_order_relaxed);
	}
	return pid;
}

bool mcx__forked_child(void)
{
	return mcx__pid() != pid_first;
}


struct parallel_call {
	void (*fn)(void *arg, unsigned int i);
	void *arg;
	unsigned int i;
	pthread_t thread;
	bool started;
};

static void *parallel_main(void *p)
{
	struct parallel_call *c = p;

	c->fn(c->arg, c->i);
	return NULL;
}

void mcx__run_parallel(unsigned int n, const char *name, void (*fn)(void *arg, unsigned int i),
		       void *arg)
{
	struct parallel_call *calls = n > 1 ? calloc(n, sizeof(*calls)) : NULL;

	if (!calls) {
		for (unsigned int i = 0; i < n; i++)
			fn(arg, i);
		return;
	}
	for (unsigned int i = 1; i < n; i++) {
		calls[i].fn = fn;
		calls[i].arg = arg;
		calls[i].i = i;
		calls[i].started = !mcx__thread_create(&calls[i].thread, name, parallel_main,
							&calls[i]);
	}
	fn(arg, 0);
	for (unsigned int i = 1; i < n; i++) {
		if (calls[i].started)
			pthread_join(calls[i].thread, NULL);
		else
			fn(arg, i);
	}
	free(calls);
}
