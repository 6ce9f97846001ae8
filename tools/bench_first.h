/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * mcxfer-bench first: first-request latency to a new peer, cold against
 * after mcx_peer_warmup().
 */
#ifndef MCXFER_TOOLS_BENCH_FIRST_H
#define MCXFER_TOOLS_BENCH_FIRST_H

/* argv[0] is the subcommand name; returns the process exit status. */
int cmd_first(int argc, char **argv);

#endif
