/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* mcxfer-bench startup: cold against warm process start (see bench_startup.c). */
#ifndef MCXFER_TOOLS_BENCH_STARTUP_H
#define MCXFER_TOOLS_BENCH_STARTUP_H

/* argv[0] is "startup"; returns the exit status (0, 1 failed, 2 bad usage). */
int bench_startup_main(int argc, char **argv);

#endif
