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

void mcx__steps_begin(struct mcx_steps *s, const char *what)
{
	s->what = what;
	s->t = mcx__log_level() >= MCX_LOG_DEBUG ? mcx__now_ns() : 0;
}

void mcx__steps_mark(struct mcx_steps *s, const char *step)
{
	uint64_t now;

	if (mcx__log_level() < MCX_LOG_DEBUG)
		return;
	now = mcx__now_ns();
	if (s->t)
		mcx__dbg("%s: %s %.2f ms", s->what, step, (double)(now - s->t) / 1e6);
	s->t = now;
}
