// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Time: the monotonic clock every deadline uses.
 */
#define _GNU_SOURCE
#include <time.h>

#include "util/util.h"

uint64_t mcx__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
