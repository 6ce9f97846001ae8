/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Order statistics over a set of samples, for the benchmarks' reports. */
#ifndef MCXFER_TOOLS_STATS_H
#define MCXFER_TOOLS_STATS_H

#include <stddef.h>

/* Ascending, in place. */
void sort_doubles(double *v, size_t n);
/*
 * The median of n > 0 sorted samples: the mean of the middle two for an
 * even count (with 20 rounds neither middle one alone is the median).
 */
double median_of_sorted(const double *v, size_t n);

#endif
