// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Slicing and striping arithmetic (lib/xfer/slice.c). */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/core.h"
#include "util.h"

#define KIB (1024ULL)
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define TIB (1024ULL * GIB)

/* Cut a transfer and check every slice; returns the number of slices. */
static uint64_t cut(uint64_t laddr, uint64_t lbase, uint64_t lchunk, uint64_t raddr,
		    uint64_t rbase, uint64_t rchunk, uint64_t len, uint64_t slice,
		    uint64_t *first, uint64_t *last)
{
	uint64_t n = 0, left = len;

	while (left) {
		uint64_t s = mcx__slice_len(laddr, lbase, lchunk, raddr, rbase, rchunk, left, slice);
		uint64_t lend = lchunk - (laddr - lbase) % lchunk;
		uint64_t rend = rchunk - (raddr - rbase) % rchunk;

		ASSERT_TRUE(s > 0);
		ASSERT_TRUE(s <= slice && s <= left);
		/* Never across a chunk boundary on either side... */
		ASSERT_TRUE(s <= lend && s <= rend);
		/* ...and as long as allowed: it stops only where it must. */
		ASSERT_TRUE(s == left || s == slice || s == lend || s == rend);
		if (n == 0 && first)
			*first = s;
		if (last)
			*last = s;
		laddr += s;
		raddr += s;
		left -= s;
		n++;
	}
	ASSERT_U64_EQ(mcx__slice_count(laddr - len, lbase, lchunk, raddr - len, rbase, rchunk,
				       len, slice), n);
	return n;
}

TEST(slice_tail_slice_is_short)
{
	uint64_t first = 0, last = 0;

	ASSERT_U64_EQ(cut(0x10000, 0x10000, GIB, 0x20000, 0x20000, GIB, 2 * MIB + MIB / 2, MIB,
			  &first, &last), 3);
	ASSERT_U64_EQ(first, MIB);
	ASSERT_U64_EQ(last, MIB / 2);
	/* Exact multiple: no empty tail. */
	ASSERT_U64_EQ(cut(0, 0, GIB, 0, 0, GIB, 4 * MIB, MIB, NULL, &last), 4);
	ASSERT_U64_EQ(last, MIB);
}

TEST(slice_one_byte_and_zero)
{
	uint64_t first = 0;

	ASSERT_U64_EQ(cut(12345, 0, GIB, 999, 0, GIB, 1, MIB, &first, NULL), 1);
	ASSERT_U64_EQ(first, 1);
	ASSERT_U64_EQ(mcx__slice_len(0, 0, GIB, 0, 0, GIB, 0, MIB), 0);
	ASSERT_U64_EQ(mcx__slice_count(0, 0, GIB, 0, 0, GIB, 0, MIB), 0);
	/* One byte right before a chunk boundary on both sides. */
	ASSERT_U64_EQ(mcx__slice_len(GIB - 1, 0, GIB, 2 * GIB - 1, 0, GIB, 100, MIB), 1);
}

TEST(slice_huge_request)
{
	/* 1 TiB in 1 GiB slices over 1 GiB chunks, aligned: 1024 slices. */
	ASSERT_U64_EQ(mcx__slice_count(0, 0, GIB, 0, 0, GIB, TIB, GIB), 1024);
	/* Misaligned by one byte on both sides alike: one extra tail slice. */
	ASSERT_U64_EQ(mcx__slice_count(1, 0, GIB, 1, 0, GIB, TIB, GIB), 1025);
	/* Misaligned on the local side only: both sides' boundaries cut. */
	ASSERT_U64_EQ(mcx__slice_count(1, 0, GIB, 0, 0, GIB, TIB, GIB), 2048);
	/* Near the top of the address space: no overflow. */
	ASSERT_U64_EQ(mcx__slice_len(UINT64_MAX - MIB, UINT64_MAX - GIB, GIB,
				     0, 0, GIB, MIB, 4 * MIB), MIB);
	ASSERT_U64_EQ(mcx__slice_count(UINT64_MAX - 8 * MIB, UINT64_MAX - 8 * MIB, 16 * MIB,
				       UINT64_MAX - 8 * MIB, UINT64_MAX - 8 * MIB, 16 * MIB,
				       8 * MIB, MIB), 8);
}

TEST(slice_misaligned_offsets)
{
	uint64_t first = 0, last = 0;

	/* Local 4095 bytes into a 4 KiB chunk: the first slice is 1 byte. */
	ASSERT_U64_EQ(cut(4095, 0, 4 * KIB, 0, 0, GIB, 4 * KIB + 1, MIB, &first, &last), 2);
	ASSERT_U64_EQ(first, 1);
	ASSERT_U64_EQ(last, 4 * KIB);
	/* Odd addresses, odd length, slices not a divisor of anything. */
	ASSERT_U64_EQ(cut(7, 0, 64 * KIB, 13, 0, 64 * KIB, 100000, 12345, NULL, NULL),
		      mcx__slice_count(7, 0, 64 * KIB, 13, 0, 64 * KIB, 100000, 12345));
}

TEST(slice_chunk_boundaries_on_either_side)
{
	uint64_t first = 0;

	/* Local boundary first (3000 bytes away), then the remote one. */
	ASSERT_U64_EQ(mcx__slice_len(1000, 0, 4000, 5000, 0, 10000, 1 << 20, 1 << 20), 3000);
	/* Remote boundary first. */
	ASSERT_U64_EQ(mcx__slice_len(0, 0, 1 << 20, 9000, 0, 10000, 1 << 20, 1 << 20), 1000);
	/* Both at the same place. */
	ASSERT_U64_EQ(mcx__slice_len(1000, 0, 4000, 7000, 0, 8000, 1 << 20, 1 << 20), 1000);
	/* Registrations starting anywhere: boundaries are relative to the base. */
	ASSERT_U64_EQ(mcx__slice_len(0x1000 + 10, 0x1000, 100, 0, 0, GIB, 1000, 1000), 90);
	/* Interleaved boundaries: local every 3000, remote every 5000 bytes. */
	ASSERT_U64_EQ(cut(0, 0, 3000, 0, 0, 5000, 15000, MIB, &first, NULL), 7);
	ASSERT_U64_EQ(first, 3000);
}

TEST(slice_random_walks_hold_the_invariants)
{
	srand(42);
	for (int i = 0; i < 2000; i++) {
		uint64_t lchunk = 4096ULL << (rand() % 12), rchunk = 4096ULL << (rand() % 12);
		uint64_t lbase = (uint64_t)rand() * 4096, rbase = (uint64_t)rand() * 64;
		uint64_t laddr = lbase + (uint64_t)rand() % (4 * lchunk);
		uint64_t raddr = rbase + (uint64_t)rand() % (4 * rchunk);
		uint64_t len = 1 + (uint64_t)rand() % (8 * MIB);
		uint64_t slice = 4096 + (uint64_t)rand() % (2 * MIB);

		cut(laddr, lbase, lchunk, raddr, rbase, rchunk, len, slice, NULL, NULL);
	}
}

TEST(stripe_round_robin_over_healthy_pairs)
{
	bool all[3] = { true, true, true };
	bool one_failed[3] = { true, false, true };
	bool none[3] = { false, false, false };
	uint32_t cur = 0;
	static const int want_all[] = { 0, 1, 2, 0, 1, 2, 0 };
	static const int want_failed[] = { 0, 2, 0, 2 };

	for (size_t i = 0; i < sizeof(want_all) / sizeof(want_all[0]); i++)
		ASSERT_EQ(mcx__stripe_next(all, 3, &cur), want_all[i]);
	cur = 0;
	for (size_t i = 0; i < sizeof(want_failed) / sizeof(want_failed[0]); i++)
		ASSERT_EQ(mcx__stripe_next(one_failed, 3, &cur), want_failed[i]);
	/* Starting on the failed one skips to the next healthy one. */
	cur = 1;
	ASSERT_EQ(mcx__stripe_next(one_failed, 3, &cur), 2);
	ASSERT_EQ(cur, 0);
	cur = 2;
	ASSERT_EQ(mcx__stripe_next(none, 3, &cur), -1);
	ASSERT_EQ(cur, 2);	/* unchanged */
	ASSERT_EQ(mcx__stripe_next(all, 0, &cur), -1);
	/* A pair failing mid-stream: the rest share the load evenly. */
	{
		bool u[4] = { true, true, true, true };
		int count[4] = { 0 };

		cur = 0;
		for (int i = 0; i < 6; i++)
			count[mcx__stripe_next(u, 4, &cur)]++;
		u[1] = false;
		for (int i = 0; i < 30; i++)
			count[mcx__stripe_next(u, 4, &cur)]++;
		ASSERT_EQ(count[1], 2);
		ASSERT_EQ(count[0], 12);
		ASSERT_EQ(count[2], 11);
		ASSERT_EQ(count[3], 11);
	}
}
