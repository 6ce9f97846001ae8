/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The seeded pattern the integration programs write and check: a function
 * of (seed, word index), so that a reader checks a writer's bytes with
 * nothing but the seed.
 */
#ifndef MCXFER_TESTS_PATTERN_H
#define MCXFER_TESTS_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64: a cheap, well-mixed word per (seed, index). */
static inline uint64_t pattern_word(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void pattern_fill(uint64_t *w, size_t words, uint64_t seed)
{
	for (size_t i = 0; i < words; i++)
		w[i] = pattern_word(seed, i);
}

/* Index of the first word that differs, or words when all match. */
static inline size_t pattern_check(const volatile uint64_t *w, size_t words, uint64_t seed)
{
	for (size_t i = 0; i < words; i++)
		if (w[i] != pattern_word(seed, i))
			return i;
	return words;
}

#endif
