/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * mcxfer-bench xfer: the transfer benchmark (target and initiator modes),
 * kept apart from the registry and registration benchmarks of
 * mcxfer-bench.c.
 */
#ifndef MCXFER_TOOLS_BENCH_XFER_H
#define MCXFER_TOOLS_BENCH_XFER_H

/* argv[0] is the subcommand name; returns the process exit status. */
int cmd_xfer(int argc, char **argv);

#endif
