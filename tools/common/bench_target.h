/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The buffer of `mcxfer-bench xfer --mode target`, as its initiators see
 * it: a header page (a magic, the size of the data area behind it and a
 * done word), then the data.  The initiator reads the header with an RDMA
 * read before anything else, so the data path proves itself before the
 * first timed byte; at the end it writes the done word, and the target,
 * which polls it, exits.  xfer (both modes) and peers share this layout.
 */
#ifndef MCXFER_TOOLS_BENCH_TARGET_H
#define MCXFER_TOOLS_BENCH_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "mcxfer.h"

#define HDR_SIZE	4096ULL
#define HDR_MAGIC	"MCXBENCH"
#define HDR_VERSION	1U
#define DONE_MAGIC	0x454e4f44u	/* "DONE" */

struct bench_hdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_size;
	uint64_t data_len;
	uint32_t done;		/* DONE_MAGIC, written by the initiator */
	uint32_t pad;
};

/* Whether h is the header of a target buffer of this version. */
static inline bool bench_hdr_ok(const struct bench_hdr *h)
{
	return !memcmp(h->magic, HDR_MAGIC, sizeof(h->magic)) && h->version == HDR_VERSION &&
	       h->hdr_size == HDR_SIZE;
}

/*
 * Write the done word of the target's header at addr (the target exits);
 * scratch is registered memory of at least one struct bench_hdr.
 */
int bench_target_stop(struct mcx_engine *eng, struct mcx_peer *peer, void *scratch,
		      uint64_t addr);

#endif
