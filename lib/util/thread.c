// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The library's threads.  Every thread of libmcxfer (the poller, the
 * registration workers, the listener, the peer watchers) is started by
 * mcx__thread_create() with all asynchronous signals blocked.  A
 * process-directed signal (SIGINT, SIGTERM, SIGCHLD, a timer's SIGALRM...)
 * is delivered to any one thread that does not block it; were that one of
 * ours, the application's handler would run in the middle of our code, and
 * an application that waits for it with sigwait() or a signalfd in its own
 * thread would never see it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

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
