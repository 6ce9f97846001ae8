/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A tiny unit-test harness.  TEST(name) { ... } registers a test; each test
 * runs in its own child process, so a crash, an exit or a changed
 * environment variable cannot leak into the next one.  A failed ASSERT_*
 * prints file:line and what differed, then ends that test.  The runner ends
 * with the line "unit: N passed, N failed, N skipped" ("unit-asan: ..." when
 * built with AddressSanitizer), and fails when a test failed or none passed.
 */
#ifndef MCX_TEST_HARNESS_H
#define MCX_TEST_HARNESS_H

#include <string.h>

typedef void (*harness_fn)(void);

void harness_register(const char *name, const char *file, harness_fn fn);
void harness_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
void harness_skip(const char *file, int line, const char *reason)
	__attribute__((noreturn));
const char *harness_errname(long long err);
/*
 * A random test's seed, by MCX_FUZZ_SEED:
 *   unset or empty     dflt, the test's fixed seed;
 *   a number           that one (decimal or 0x...), to replay a run;
 *   "fresh"            a new one from getrandom(), different every run.
 * Prints it with the command that replays it, and the runner prints that
 * command again if the test fails (or crashes, or times out).  `make check`
 * runs every test whose name contains "fuzz" twice: from its fixed seed,
 * then with MCX_FUZZ_SEED=fresh.  So a test that calls this must have
 * "fuzz" in its name; one that does not fails, rather than silently never
 * getting a fresh seed.
 */
unsigned long long harness_seed(unsigned long long dflt);

#define TEST(name)							\
	static void test_##name(void);					\
	__attribute__((constructor)) static void register_##name(void)	\
	{								\
		harness_register(#name, __FILE__, test_##name);		\
	}								\
	static void test_##name(void)

#define ASSERT_TRUE(cond)						\
	do {								\
		if (!(cond))						\
			harness_fail(__FILE__, __LINE__, "expected %s", #cond); \
	} while (0)

#define ASSERT_EQ(a, b)							\
	do {								\
		long long a_ = (long long)(a), b_ = (long long)(b);	\
		if (a_ != b_)						\
			harness_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", \
				     #a, #b, a_, b_);			\
	} while (0)

#define ASSERT_U64_EQ(a, b)						\
	do {								\
		unsigned long long a_ = (a), b_ = (b);			\
		if (a_ != b_)						\
			harness_fail(__FILE__, __LINE__, "%s == %s: %llu != %llu", \
				     #a, #b, a_, b_);			\
	} while (0)

/* An errno-style result: prints names, e.g. "-EINVAL != -ENOTTY". */
#define ASSERT_ERR(expr, expected)					\
	do {								\
		long long r_ = (long long)(expr), e_ = (long long)(expected); \
		if (r_ != e_)						\
			harness_fail(__FILE__, __LINE__, "%s: got %s, expected %s", \
				     #expr, harness_errname(r_), harness_errname(e_)); \
	} while (0)

#define ASSERT_STREQ(a, b)						\
	do {								\
		const char *a_ = (a), *b_ = (b);			\
		if (!a_ || !b_ || strcmp(a_, b_))			\
			harness_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", \
				     #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	} while (0)

#define ASSERT_CONTAINS(hay, needle)					\
	do {								\
		const char *h_ = (hay), *n_ = (needle);			\
		if (!h_ || !strstr(h_, n_))				\
			harness_fail(__FILE__, __LINE__, "%s does not contain \"%s\": \"%s\"", \
				     #hay, n_, h_ ? h_ : "(null)");	\
	} while (0)

#define SKIP(reason) harness_skip(__FILE__, __LINE__, reason)

#endif
