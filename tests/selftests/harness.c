// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The TAP harness of the mcxfer selftests (see harness.h). */
#define _GNU_SOURCE
#include "harness.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MT_EXIT_FAIL	1
#define MT_EXIT_SKIP	4
#define MT_DEFAULT_TIMEOUT 120

/* Shared with the forked test so that a skip reason survives its exit. */
static char *skip_reason;
static unsigned int nr_failures;

void mt_log(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One write per line keeps lines from several processes whole. */
	dprintf(STDOUT_FILENO, "# %s\n", buf);
}

bool mt_check(bool cond, const char *file, int line, const char *fmt, ...)
{
	char buf[900];
	va_list ap;

	if (cond)
		return true;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	nr_failures++;
	mt_log("%s:%d: [pid %d] check failed: %s", file, line, (int)getpid(), buf);
	return false;
}

bool mt_check_ok(int r, const char *file, int line, const char *expr)
{
	return mt_check(r >= 0, file, line, "%s: got %s, want success", expr,
			mt_errname(-r));
}

bool mt_check_err(int r, int err, const char *file, int line, const char *expr)
{
	return mt_check(r == -err, file, line, "%s: got %s, want %s", expr,
			r >= 0 ? "success" : mt_errname(-r), mt_errname(err));
}

bool mt_check_eq(unsigned long long a, unsigned long long b, const char *file,
		 int line, const char *as, const char *bs)
{
	return mt_check(a == b, file, line, "%s == %s: %llu != %llu", as, bs, a, b);
}

unsigned int mt_failures(void)
{
	return nr_failures;
}

void mt_abort(void)
{
	if (!nr_failures)
		nr_failures++;
	fflush(NULL);
	_exit(MT_EXIT_FAIL);
}

void mt_skip(const char *fmt, ...)
{
	va_list ap;

	if (skip_reason) {
		va_start(ap, fmt);
		vsnprintf(skip_reason, 256, fmt, ap);
		va_end(ap);
	}
	fflush(NULL);
	_exit(nr_failures ? MT_EXIT_FAIL : MT_EXIT_SKIP);
}

const char *mt_errname(int err)
{
	static __thread char buf[32];

	switch (err) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EINTR: return "EINTR";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case ENOTTY: return "ENOTTY";
	case ENOSPC: return "ENOSPC";
	case ERANGE: return "ERANGE";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case E2BIG: return "E2BIG";
	case EOVERFLOW: return "EOVERFLOW";
	case EDQUOT: return "EDQUOT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENXIO: return "ENXIO";
	case ESRCH: return "ESRCH";
	case EIDRM: return "EIDRM";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ELOOP: return "ELOOP";
	case EIO: return "EIO";
	case ENOTSOCK: return "ENOTSOCK";
	default:
		snprintf(buf, sizeof(buf), "errno %d", err);
		return buf;
	}
}

pid_t mt_fork(void (*fn)(void *arg), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		mt_check(false, __FILE__, __LINE__, "fork: %s", mt_errname(errno));
		mt_abort();
	}
	if (pid == 0) {
		nr_failures = 0;
		fn(arg);
		fflush(NULL);
		_exit(nr_failures ? MT_EXIT_FAIL : 0);
	}
	return pid;
}

bool mt_wait(pid_t pid, const char *what)
{
	int st;

	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return mt_check(false, __FILE__, __LINE__, "waitpid %s: %s",
					what, mt_errname(errno));
	}
	if (WIFEXITED(st))
		return mt_check(WEXITSTATUS(st) == 0, __FILE__, __LINE__,
				"child %s exited %d", what, WEXITSTATUS(st));
	return mt_check(false, __FILE__, __LINE__, "child %s killed by signal %d",
			what, WTERMSIG(st));
}

static bool selected(const char *name, int argc, char **argv)
{
	if (argc <= 1)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

static int run_one(const struct mt_test *t, unsigned int num)
{
	unsigned int timeout = t->timeout_s ? t->timeout_s : MT_DEFAULT_TIMEOUT;
	pid_t pid;
	int st;

	skip_reason[0] = '\0';
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		printf("not ok %u %s # fork failed\n", num, t->name);
		return MT_EXIT_FAIL;
	}
	if (pid == 0) {
		/* Its own process group, so that a hung test and its children go together. */
		setpgid(0, 0);
		alarm(timeout);
		nr_failures = 0;
		t->fn();
		fflush(NULL);
		_exit(nr_failures ? MT_EXIT_FAIL : 0);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* Children the test left behind would hold references: end them. */
	kill(-pid, SIGKILL);
	while (waitpid(-pid, NULL, 0) > 0 || errno == EINTR)
		;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WTERMSIG(st) == SIGALRM)
		mt_log("%s: timed out after %u s", t->name, timeout);
	else
		mt_log("%s: killed by signal %d", t->name, WTERMSIG(st));
	return MT_EXIT_FAIL;
}

int mt_main(const struct mt_suite *suite, int argc, char **argv)
{
	unsigned int passed = 0, failed = 0, skipped = 0, num = 0, total = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Grandchildren orphaned by a test come to us, so that we can reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	skip_reason = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (skip_reason == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (size_t i = 0; i < suite->nr_tests; i++)
		total += selected(suite->tests[i].name, argc, argv);
	printf("TAP version 13\n1..%u\n", total);
	mt_log("suite %s", suite->name);
	for (size_t i = 0; i < suite->nr_tests; i++) {
		const struct mt_test *t = &suite->tests[i];
		int res;

		if (!selected(t->name, argc, argv))
			continue;
		num++;
		if (suite->before_each && suite->before_each()) {
			printf("not ok %u %s # setup failed\n", num, t->name);
			failed++;
			continue;
		}
		res = run_one(t, num);
		/* The leak check runs even after a failure: its output helps. */
		if (suite->after_each && suite->after_each() && res != MT_EXIT_FAIL) {
			mt_log("%s: state left behind after the test", t->name);
			res = MT_EXIT_FAIL;
		}
		if (res == 0) {
			printf("ok %u %s\n", num, t->name);
			passed++;
		} else if (res == MT_EXIT_SKIP) {
			printf("ok %u %s # SKIP %s\n", num, t->name, skip_reason);
			skipped++;
		} else {
			printf("not ok %u %s\n", num, t->name);
			failed++;
		}
	}
	printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
