// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The library's threads and fork() (lib/util/thread.c, lib/core/owner.c):
 * threads start with asynchronous signals blocked and a name, so that a
 * signal sent to the process reaches the application's thread; an engine
 * refuses work in a fork child of the process that created it, while the
 * child's own engines work.  Engines here are zeroed fakes with pid set:
 * a real one needs an RDMA device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "transport/verbs/verbs.h"
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

/* ---- fork ---- */

/*
 * Runs fn(eng) in a fork child and returns what it returned there (0 or a
 * -errno), carried by the child's exit status.
 */
static int in_child(int (*fn)(struct mcx_engine *), struct mcx_engine *eng)
{
	int st, ret;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		ret = fn(eng);
		_exit(ret <= 0 && ret > -256 ? -ret : 255);
	}
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st))
		harness_fail(__FILE__, __LINE__, "child killed by signal %s",
			     sigabbrev_np(WTERMSIG(st)));
	return -WEXITSTATUS(st);
}

static struct mcx_engine *fake_engine(void)
{
	struct mcx_engine *eng = calloc(1, sizeof(*eng));

	ASSERT_TRUE(eng != NULL);
	eng->pid = mcx__pid();
	/* mcx_batch_submit() checks the xfer's copy of the owner. */
	eng->xfer.owner_pid = eng->pid;
	return eng;
}

static int child_check_owner(struct mcx_engine *eng)
{
	return mcx__engine_check_owner(eng);
}

static int child_forked(struct mcx_engine *eng)
{
	(void)eng;
	if (mcx__pid() != getpid())
		return -ESRCH;
	return mcx__forked_child() ? 0 : -EPROTO;
}

/* An engine the child makes itself is its own. */
static int child_new_engine(struct mcx_engine *eng)
{
	struct mcx_engine *mine = fake_engine();
	int ret = mcx__engine_check_owner(mine);

	(void)eng;
	free(mine);
	return ret;
}

/*
 * The entry points, with arguments they would accept: refused by the owner
 * check before anything of the engine is touched (the fake has no cache,
 * locks or NICs, so getting further would crash or fail otherwise).
 */
static int child_mem_register(struct mcx_engine *eng)
{
	static char buf[4096];
	struct mcx_mem_req r = { .addr = buf, .len = sizeof(buf), .dmabuf_fd = -1 };
	struct mcx_mem *m;

	return mcx_mem_register_batch(eng, &r, 1, &m);
}

static int child_peer_open(struct mcx_engine *eng)
{
	struct mcx_peer *p;

	return mcx_peer_open(eng, "127.0.0.1:1", &p);
}

static int child_batch_submit(struct mcx_engine *eng)
{
	struct mcx_batch b = { .x = &eng->xfer, .n = 1 };

	return mcx_batch_submit(&b);
}

TEST(thread_fork_child_refuses_inherited_engine)
{
	struct mcx_engine *eng = fake_engine();

	ASSERT_ERR(mcx__engine_check_owner(eng), 0);
	ASSERT_TRUE(!mcx__forked_child());
	log_capture();

	ASSERT_ERR(in_child(child_check_owner, eng), -EOWNERDEAD);
	ASSERT_ERR(in_child(child_forked, eng), 0);
	ASSERT_ERR(in_child(child_new_engine, eng), 0);
	ASSERT_ERR(in_child(child_mem_register, eng), -EOWNERDEAD);
	ASSERT_ERR(in_child(child_peer_open, eng), -EOWNERDEAD);
	ASSERT_ERR(in_child(child_batch_submit, eng), -EOWNERDEAD);

	/* The parent is untouched by its children. */
	ASSERT_ERR(mcx__engine_check_owner(eng), 0);
	ASSERT_TRUE(!mcx__forked_child());
	ASSERT_EQ(mcx__pid(), getpid());
	/* NULL keeps its -EINVAL; pid 0 (an engine built by hand) is unchecked. */
	ASSERT_ERR(mcx_mem_register_batch(NULL, NULL, 0, NULL), -EINVAL);
	ASSERT_ERR(mcx__engine_check_owner(NULL), 0);
	eng->pid = 0;
	ASSERT_ERR(in_child(child_check_owner, eng), 0);
	free(eng);
}

static int grandchild(struct mcx_engine *eng)
{
	struct mcx_engine *mine = fake_engine();
	int ret;

	/* The child's own engine is refused in its own child, the parent's too. */
	ret = in_child(child_check_owner, mine);
	if (!ret)
		ret = -EPROTO;
	else if (ret == -EOWNERDEAD)
		ret = in_child(child_check_owner, eng) == -EOWNERDEAD ? 0 : -ENOTRECOVERABLE;
	free(mine);
	return ret;
}

TEST(thread_fork_grandchild_refuses_both_generations)
{
	struct mcx_engine *eng = fake_engine();

	log_capture();
	ASSERT_ERR(in_child(grandchild, eng), 0);
	free(eng);
}

/*
 * A child made without glibc's fork handlers (a raw clone, as _Fork() or
 * another runtime would make it) is caught too: the cached pid lives in a
 * page the kernel wipes in every child.
 */
TEST(thread_fork_raw_clone_child_refused)
{
	struct mcx_engine *eng = fake_engine();
	long psz = sysconf(_SC_PAGESIZE);
	void *probe;
	int st;
	long pid;

	probe = mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(probe != MAP_FAILED);
	st = madvise(probe, (size_t)psz, MADV_WIPEONFORK);
	munmap(probe, (size_t)psz);
	if (st)
		SKIP("no MADV_WIPEONFORK (Linux < 4.14)");

	log_capture();
	fflush(NULL);
	/* fork() without glibc: no atfork handlers run in the child. */
	pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	ASSERT_TRUE(pid >= 0);
	if (pid == 0)
		syscall(SYS_exit_group, -mcx__engine_check_owner(eng));
	ASSERT_EQ(waitpid((pid_t)pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_ERR(-WEXITSTATUS(st), -EOWNERDEAD);
	free(eng);
}

/* The fork policy runs once and is not fatal when it cannot apply. */
TEST(thread_fork_policy_init_idempotent)
{
	int ret = mcx__verbs_fork_init();

	/* 0 normally; EINVAL only after verbs were used, never here. */
	ASSERT_ERR(ret, 0);
	ASSERT_ERR(mcx__verbs_fork_init(), ret);
}

/* ---- mcx__run_parallel ---- */

#define PAR_N	5

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int ran[PAR_N];
	pthread_t who[PAR_N];
	unsigned int arrived;
	bool all_met;
} par = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/*
 * Each call waits until all PAR_N are inside at once: calls made one after
 * another never meet, and the 10 s bound turns that into a failure (not a
 * hang).
 */
static void par_call(void *arg, unsigned int i)
{
	struct timespec until;

	ASSERT_TRUE(arg == &par);
	ASSERT_TRUE(i < PAR_N);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&par.lock);
	par.ran[i]++;
	par.who[i] = pthread_self();
	if (++par.arrived == PAR_N) {
		par.all_met = true;
		pthread_cond_broadcast(&par.cond);
	}
	while (!par.all_met)
		if (pthread_cond_timedwait(&par.cond, &par.lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&par.lock);
}

TEST(thread_run_parallel_runs_every_call_once_at_the_same_time)
{
	mcx__run_parallel(PAR_N, "mcx-test", par_call, &par);
	ASSERT_TRUE(par.all_met);
	for (unsigned int i = 0; i < PAR_N; i++)
		ASSERT_EQ(par.ran[i], 1);
	/* The first on the caller, the others each on its own thread. */
	ASSERT_TRUE(pthread_equal(par.who[0], pthread_self()));
	for (unsigned int i = 1; i < PAR_N; i++) {
		ASSERT_TRUE(!pthread_equal(par.who[i], pthread_self()));
		for (unsigned int j = i + 1; j < PAR_N; j++)
			ASSERT_TRUE(!pthread_equal(par.who[i], par.who[j]));
	}
}

static unsigned int one_ran;
static pthread_t one_who;

static void one_call(void *arg, unsigned int i)
{
	(void)arg;
	ASSERT_EQ(i, 0);
	one_ran++;
	one_who = pthread_self();
}

TEST(thread_run_parallel_one_or_none_stays_on_the_caller)
{
	mcx__run_parallel(0, "mcx-test", one_call, NULL);
	ASSERT_EQ(one_ran, 0);
	mcx__run_parallel(1, "mcx-test", one_call, NULL);
	ASSERT_EQ(one_ran, 1);
	ASSERT_TRUE(pthread_equal(one_who, pthread_self()));
}
