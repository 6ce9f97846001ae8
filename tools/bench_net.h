/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * mcxfer-bench handshake and mcxfer-bench peers: the peer-connection
 * benchmarks (a listener under attack, one engine with many peers), kept
 * apart from the other subcommands of mcxfer-bench.c.
 */
#ifndef MCXFER_TOOLS_BENCH_NET_H
#define MCXFER_TOOLS_BENCH_NET_H

/* argv[0] is the subcommand name; each returns the process exit status. */
int cmd_handshake(int argc, char **argv);
int cmd_peers(int argc, char **argv);

#endif
