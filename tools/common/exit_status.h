/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The tools' exit statuses, as their usage texts promise: 0 done, 1 failed
 * (or over a limit), 2 bad usage.
 */
#ifndef MCXFER_TOOLS_EXIT_STATUS_H
#define MCXFER_TOOLS_EXIT_STATUS_H

#define EXIT_FAIL	1
#define EXIT_USAGE	2

#endif
