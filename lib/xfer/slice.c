// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Slicing and striping arithmetic.  A slice is one RDMA work request: it
 * carries one lkey and one rkey, so it must stay inside one local and one
 * remote MR chunk, and it is at most slice_size bytes so that several NIC
 * pairs share a large request.  Pure functions, unit tested.
 */
#define _GNU_SOURCE	/* pthread_rwlock_t (mem/mem.h) */
#include <stdbool.h>
#include <stdint.h>

#include "xfer/xfer.h"

/* Bytes from a (inside a registration at base cut into chunk-byte chunks)
 * to the end of its chunk. */
static uint64_t to_chunk_end(uint64_t a, uint64_t base, uint64_t chunk)
{
	return chunk - (a - base) % chunk;
}

uint64_t mcx__slice_len(uint64_t laddr, uint64_t lbase, uint64_t lchunk,
			uint64_t raddr, uint64_t rbase, uint64_t rchunk,
			uint64_t remaining, uint64_t slice_size)
{
	uint64_t n = remaining;
	uint64_t l = to_chunk_end(laddr, lbase, lchunk);
	uint64_t r = to_chunk_end(raddr, rbase, rchunk);

	if (n > slice_size)
		n = slice_size;
	if (n > l)
		n = l;
	if (n > r)
		n = r;
	return n;
}

uint64_t mcx__slice_count(uint64_t laddr, uint64_t lbase, uint64_t lchunk,
			  uint64_t raddr, uint64_t rbase, uint64_t rchunk,
			  uint64_t len, uint64_t slice_size)
{
	uint64_t count = 0;

	while (len) {
		uint64_t n = mcx__slice_len(laddr, lbase, lchunk, raddr, rbase,
					    rchunk, len, slice_size);

		laddr += n;
		raddr += n;
		len -= n;
		count++;
	}
	return count;
}

int mcx__stripe_next(const bool *usable, uint32_t n, uint32_t *cursor)
{
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (*cursor + k) % n;

		if (usable[i]) {
			*cursor = (i + 1) % n;
			return (int)i;
		}
	}
	return -1;
}
