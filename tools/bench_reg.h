/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* mcxfer-bench reg: registration throughput (see bench_reg.c). */
#ifndef MCXFER_TOOLS_BENCH_REG_H
#define MCXFER_TOOLS_BENCH_REG_H

/* argv[0] is "reg"; returns the exit status (0, 1 failed, 2 bad usage). */
int bench_reg_main(int argc, char **argv);

#endif
