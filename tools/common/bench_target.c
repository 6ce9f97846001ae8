// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Telling a bench target to exit (see bench_target.h). */
#include "bench_target.h"

#include <stddef.h>

#include "single_xfer.h"

int bench_target_stop(struct mcx_engine *eng, struct mcx_peer *peer, void *scratch,
		      uint64_t addr)
{
	struct bench_hdr *h = scratch;

	h->done = DONE_MAGIC;
	return single_xfer(eng, peer, MCX_OP_WRITE, &h->done,
			   addr + offsetof(struct bench_hdr, done), sizeof(h->done));
}
