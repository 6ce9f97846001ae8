/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A small TAP 13 harness for the mcxfer selftests.
 *
 * Every test runs in its own forked process, so that a crash, a hang (an
 * alarm kills it) or a leaked fd in one test cannot spill into the next.
 * Checks print a "# file:line: ..." diagnostic and mark the test failed but
 * keep going; REQUIRE-style checks end the test at once.  After each test the
 * optional after_each hook runs in the parent (the leak check of the mcxfer
 * suites) and can fail a test that passed.
 */
#ifndef MCXFER_SELFTEST_HARNESS_H
#define MCXFER_SELFTEST_HARNESS_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

struct mt_test {
	const char *name;
	void (*fn)(void);
	unsigned int timeout_s;		/* 0: the default (120 s) */
};

struct mt_suite {
	const char *name;
	const struct mt_test *tests;
	size_t nr_tests;
	/* In the parent, around every test; a non-zero return fails the test. */
	int (*before_each)(void);
	int (*after_each)(void);
};

#define MT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Run the suite; argv may name tests to run (default: all). Exit status. */
int mt_main(const struct mt_suite *suite, int argc, char **argv);

/* Diagnostics, printed as TAP comments. */
void mt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Record a failure; returns cond so that callers can branch on it. */
bool mt_check(bool cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* End the current test (or child of a test) now: failed, or skipped. */
void mt_abort(void) __attribute__((noreturn));
void mt_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Failures recorded in this process so far. */
unsigned int mt_failures(void);

/*
 * Run fn(arg) in a forked child that uses the same checks; returns the pid.
 * mt_wait() reaps it and returns true when it exited 0 (no failed check).
 */
pid_t mt_fork(void (*fn)(void *arg), void *arg);
bool mt_wait(pid_t pid, const char *what);

const char *mt_errname(int err);

#define CHECK(cond) mt_check(!!(cond), __FILE__, __LINE__, "%s", #cond)
#define CHECKF(cond, ...) mt_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define REQUIRE(cond) do { if (!CHECK(cond)) mt_abort(); } while (0)
#define REQUIREF(cond, ...) do { if (!CHECKF(cond, __VA_ARGS__)) mt_abort(); } while (0)

bool mt_check_ok(int r, const char *file, int line, const char *expr);
bool mt_check_err(int r, int err, const char *file, int line, const char *expr);
bool mt_check_eq(unsigned long long a, unsigned long long b, const char *file,
		 int line, const char *as, const char *bs);

/* expr returns 0 (or a non-negative value) or a negative errno. */
#define CHECK_OK(expr) mt_check_ok((expr), __FILE__, __LINE__, #expr)
#define REQUIRE_OK(expr) do { if (!CHECK_OK(expr)) mt_abort(); } while (0)
/* expr must fail with exactly -err. */
#define CHECK_ERR(expr, err) mt_check_err((expr), (err), __FILE__, __LINE__, #expr)
#define CHECK_EQ(a, b) mt_check_eq((unsigned long long)(a), (unsigned long long)(b), \
				   __FILE__, __LINE__, #a, #b)
#define REQUIRE_EQ(a, b) do { if (!CHECK_EQ(a, b)) mt_abort(); } while (0)

#endif
