// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The library's threads (lib/util/thread.c): they start with asynchronous
 * signals blocked and a name, so that a signal sent to the process reaches
 * the application's thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* ---- signal masks and names ---- */

static sigset_t thread_mask;

static void *record_mask(void *arg)
{
	(void)arg;
	pthread_sigmask(SIG_BLOCK, NULL, &thread_mask);
	return NULL;
}

TEST(thread_blocks_async_signals_caller_mask_kept)
{
	static const int sigs[] = {
		SIGINT, SIGTERM, SIGUSR1, SIGCHLD, SIGPIPE, SIGHUP, SIGALRM, SIGQUIT,
	};
	sigset_t mine, before, after;
	pthread_t t;

	/* A caller mask of its own, to see it come back exactly. */
	sigemptyset(&mine);
	sigaddset(&mine, SIGUSR2);
	ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &mine, NULL), 0);
	ASSERT_EQ(pthread_sigmask(SIG_BLOCK, NULL, &before), 0);

	ASSERT_ERR(mcx__thread_create(&t, "mcx-test", record_mask, NULL), 0);
	ASSERT_EQ(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
	ASSERT_EQ(pthread_join(t, NULL), 0);

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigismember(&thread_mask, sigs[i]) != 1)
			harness_fail(__FILE__, __LINE__, "%s not blocked in the thread",
				     sigabbrev_np(sigs[i]));
	}
	ASSERT_EQ(sigismember(&thread_mask, SIGRTMIN), 1);
	for (int s = 1; s < NSIG; s++) {
		if (sigismember(&after, s) != sigismember(&before, s))
			harness_fail(__FILE__, __LINE__, "caller's mask changed for signal %d", s);
	}
	ASSERT_EQ(sigismember(&after, SIGUSR2), 1);
	ASSERT_EQ(sigismember(&after, SIGINT), 0);
}

static int park_fd[2];

/* Waits until park_fd[1] is closed, through any signal handler. */
static void *park(void *arg)
{
	char c;

	(void)arg;
	while (read(park_fd[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

TEST(thread_is_named)
{
	char name[64];
	pthread_t t;

	ASSERT_EQ(pipe(park_fd), 0);
	ASSERT_ERR(mcx__thread_create(&t, "mcx-poller", park, NULL), 0);
	ASSERT_EQ(pthread_getname_np(t, name, sizeof(name)), 0);
	ASSERT_STREQ(name, "mcx-poller");
	close(park_fd[1]);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	close(park_fd[0]);

	/* Longer than the kernel keeps (15): cut, not refused. */
	ASSERT_EQ(pipe(park_fd), 0);
	ASSERT_ERR(mcx__thread_create(&t, "mcx-a-very-long-thread-name", park, NULL), 0);
	ASSERT_EQ(pthread_getname_np(t, name, sizeof(name)), 0);
	ASSERT_STREQ(name, "mcx-a-very-long");
	close(park_fd[1]);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	close(park_fd[0]);
}

/* ---- where a process-directed signal lands ---- */

static atomic_int usr1_hits;
static pthread_t usr1_thread;	/* written before usr1_hits, read after */

static void on_usr1(int sig)
{
	(void)sig;
	usr1_thread = pthread_self();
	atomic_fetch_add(&usr1_hits, 1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * With SIGUSR1 blocked in the main thread, kill(getpid()) must pick another
 * thread that does not block it, if there is one; so whether the signal
 * stays pending says whether the parked thread blocks it.  use_lib: start
 * it with mcx__thread_create(), else with pthread_create() (the control,
 * which shows that this way of asking can see a thread take the signal).
 * Returns 1 when the parked thread ran the handler, 0 when the main thread
 * did once it unblocked SIGUSR1.
 */
static int usr1_taken_by_parked_thread(bool use_lib)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	sigset_t usr1;
	pthread_t t;
	int taken;

	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	/* Unblocked in the creator, so that only mcx__thread_create() blocks it. */
	ASSERT_EQ(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL), 0);
	ASSERT_EQ(pipe(park_fd), 0);
	if (use_lib)
		ASSERT_ERR(mcx__thread_create(&t, "mcx-watch", park, NULL), 0);
	else
		ASSERT_EQ(pthread_create(&t, NULL, park, NULL), 0);

	ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &usr1, NULL), 0);
	ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
	/* A thread that can take it is woken at once; give it ample time. */
	for (int i = 0; i < 200 && !atomic_load(&usr1_hits); i++)
		sleep_ms(1);
	taken = atomic_load(&usr1_hits);
	if (taken)
		ASSERT_TRUE(pthread_equal(usr1_thread, t));
	/* Pending for the process: unblocking delivers it here, now. */
	ASSERT_EQ(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL), 0);
	ASSERT_EQ(atomic_load(&usr1_hits), 1);
	if (!taken)
		ASSERT_TRUE(pthread_equal(usr1_thread, pthread_self()));

	close(park_fd[1]);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	close(park_fd[0]);
	return taken;
}

TEST(thread_signal_to_process_reaches_main_thread)
{
	ASSERT_EQ(usr1_taken_by_parked_thread(true), 0);
}

TEST(thread_signal_control_plain_thread_takes_it)
{
	ASSERT_EQ(usr1_taken_by_parked_thread(false), 1);
}
