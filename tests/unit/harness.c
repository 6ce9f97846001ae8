// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The runner behind harness.h.  Usage: run-unit [-v] [SUBSTRING...]: runs
 * the tests whose name contains one of the substrings (all without any).
 *
 * Built with AddressSanitizer, each test also ends with a leak check (when
 * ASAN_OPTIONS has detect_leaks=1): memory a test or the library leaked
 * fails that test.  The closing line then reads "unit-asan: ..." rather
 * than "unit: ...", so that the two builds' results can be told apart.
 *
 * A test that draws a seed (harness_seed()) reports it to the runner
 * through a page shared with the test's child, so that the runner can print
 * the replay command under the FAIL line even when the child crashed or was
 * killed before it could say anything more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define HARNESS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARNESS_ASAN 1
#endif
#endif

/* Other suites built on this runner name themselves (tests/etcd). */
#ifndef HARNESS_SUITE
#define HARNESS_SUITE "unit"
#endif
#ifdef HARNESS_ASAN
#include <sanitizer/lsan_interface.h>
#define HARNESS_LABEL HARNESS_SUITE "-asan"
#else
#define HARNESS_LABEL HARNESS_SUITE
#endif

#define MAX_TESTS	512
#define TEST_TIMEOUT_S	20
#define EXIT_SKIP	77

static struct {
	const char *name;
	const char *file;
	harness_fn fn;
} tests[MAX_TESTS];
static int nr_tests;
static const char *current_test = "";	/* in the test's child */
static const char *runner = "run-unit";	/* argv[0] */

/* The seed the running test drew, if any; shared with its child. */
static struct {
	int drawn;
	unsigned long long seed;
} *seed_slot;

void harness_register(const char *name, const char *file, harness_fn fn)
{
	if (nr_tests == MAX_TESTS) {
		fprintf(stderr, "harness: more than %d tests; raise MAX_TESTS\n", MAX_TESTS);
		exit(2);
	}
	tests[nr_tests].name = name;
	tests[nr_tests].file = file;
	tests[nr_tests].fn = fn;
	nr_tests++;
}

void harness_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(NULL);
	_exit(1);
}

void harness_skip(const char *file, int line, const char *reason)
{
	fprintf(stderr, "    %s:%d: skipped: %s\n", file, line, reason);
	fflush(NULL);
	_exit(EXIT_SKIP);
}

/* How to run test `name` again from `seed`. */
static void print_replay(FILE *f, const char *name, unsigned long long seed)
{
	fprintf(f, "MCX_FUZZ_SEED=0x%llx %s %s", seed, runner, name);
}

unsigned long long harness_seed(unsigned long long dflt)
{
	const char *s = getenv("MCX_FUZZ_SEED");
	const char *from = "fixed";
	unsigned long long seed = dflt;
	char *end;

	/* `make check` finds the seeded tests by this substring (harness.h). */
	if (!strstr(current_test, "fuzz"))
		harness_fail(__FILE__, __LINE__,
			     "%s draws a seed but has no \"fuzz\" in its name: make check would never run it from a fresh seed",
			     current_test);
	if (s && !strcmp(s, "fresh")) {
		if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
			harness_fail(__FILE__, __LINE__, "getrandom: %s", strerror(errno));
		from = "fresh";
	} else if (s && *s) {
		errno = 0;
		seed = strtoull(s, &end, 0);
		if (errno || *end) {
			fprintf(stderr, "    MCX_FUZZ_SEED=%s is neither a number nor \"fresh\"\n", s);
			fflush(NULL);
			_exit(1);
		}
		from = "MCX_FUZZ_SEED";
	}
	if (seed_slot) {
		seed_slot->seed = seed;
		seed_slot->drawn = 1;
	}
	fprintf(stderr, "    seed 0x%llx (%s; replay: ", seed, from);
	print_replay(stderr, current_test, seed);
	fprintf(stderr, ")\n");
	return seed;
}

const char *harness_errname(long long err)
{
	/* Several buffers: one message may show two names. */
	static char bufs[4][64];
	static unsigned int next;
	char *buf = bufs[next++ % 4];
	const char *name;

	if (err >= 0 || err < -4095) {
		snprintf(buf, sizeof(bufs[0]), "%lld", err);
		return buf;
	}
	name = strerrorname_np((int)-err);
	snprintf(buf, sizeof(bufs[0]), "-%s", name ? name : "E?");
	return buf;
}

static int selected(const char *name, int argc, char **argv)
{
	if (argc == 0)
		return 1;
	for (int i = 0; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0, verbose = 0;

	runner = argv[0];
	if (argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = 1;
		argc--;
		argv++;
	}
	argc--;
	argv++;
	setvbuf(stdout, NULL, _IOLBF, 0);
	seed_slot = mmap(NULL, sizeof(*seed_slot), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (seed_slot == MAP_FAILED) {
		perror("harness: mmap");
		return 2;
	}
	for (int i = 0; i < nr_tests; i++) {
		int status;
		pid_t pid;

		if (!selected(tests[i].name, argc, argv))
			continue;
		seed_slot->drawn = 0;
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			perror("harness: fork");
			return 2;
		}
		if (pid == 0) {
			current_test = tests[i].name;
			alarm(TEST_TIMEOUT_S);
			tests[i].fn();
			fflush(NULL);
#ifdef HARNESS_ASAN
			/* _exit() skips LeakSanitizer's own check at exit. */
			if (__lsan_do_recoverable_leak_check()) {
				fprintf(stderr, "    %s leaked memory (report above)\n",
					tests[i].name);
				fflush(NULL);
				_exit(1);
			}
#endif
			_exit(0);
		}
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR) {
				perror("harness: waitpid");
				return 2;
			}
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			passed++;
			if (verbose)
				printf("PASS %s\n", tests[i].name);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIP) {
			skipped++;
			printf("SKIP %s\n", tests[i].name);
		} else {
			failed++;
			if (WIFSIGNALED(status))
				printf("FAIL %s (%s: killed by signal %s)\n", tests[i].name,
				       tests[i].file, strsignal(WTERMSIG(status)));
			else if (WEXITSTATUS(status) != 1)
				printf("FAIL %s (%s: exit status %d)\n", tests[i].name,
				       tests[i].file, WEXITSTATUS(status));
			else
				printf("FAIL %s (%s)\n", tests[i].name, tests[i].file);
			if (seed_slot->drawn) {
				printf("     seed 0x%llx; replay: ", seed_slot->seed);
				print_replay(stdout, tests[i].name, seed_slot->seed);
				printf("\n");
			}
		}
	}
	/* A run that tested nothing (all skipped, or none picked) fails. */
	if (!passed && !failed)
		printf("FAIL no test ran (%d skipped): a run that tests nothing fails\n", skipped);
	printf(HARNESS_LABEL ": %d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed || !passed ? 1 : 0;
}
