// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Time and the process token: the monotonic clock every deadline uses, and
 * a random number drawn once per process.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

uint64_t mcx__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static pthread_once_t token_once = PTHREAD_ONCE_INIT;
static uint64_t token;

static void token_init(void)
{
	if (getrandom(&token, sizeof(token), 0) != sizeof(token))
		token = mcx__now_ns() ^ ((uint64_t)getpid() << 32);
	token |= 1;	/* never 0: 0 means "unknown" on the wire */
}

uint64_t mcx__process_token(void)
{
	pthread_once(&token_once, token_init);
	return token;
}
