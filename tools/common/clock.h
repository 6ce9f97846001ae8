/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The clock every benchmark times with: monotonic, so that a wall-clock
 * step (NTP, a guest resuming) never shows as a latency.
 */
#ifndef MCXFER_TOOLS_CLOCK_H
#define MCXFER_TOOLS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
