/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * One small transfer in the calling thread, waited for: the benchmarks'
 * untimed reads and writes of a target's header page.
 */
#ifndef MCXFER_TOOLS_SINGLE_XFER_H
#define MCXFER_TOOLS_SINGLE_XFER_H

#include <stddef.h>
#include <stdint.h>

#include "mcxfer.h"

/*
 * 0, or the request's own status when it failed (more telling than the
 * batch's), else the error of the call that failed.
 */
int single_xfer(struct mcx_engine *eng, struct mcx_peer *peer, enum mcx_op op, void *local,
		uint64_t remote, size_t len);

#endif
