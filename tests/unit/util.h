/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Helpers shared by the unit tests. */
#ifndef MCX_TEST_UTIL_H
#define MCX_TEST_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mcxfer.h"
#include "util/util.h"
#include "registry/registry.h"
#include "harness.h"

/* Everything the library logged since log_capture(), one message a line. */
static char captured_log[8192];

static void capture_fn(enum mcx_log_level level, const char *msg, void *ctx)
{
	size_t used = strlen(captured_log);

	(void)ctx;
	snprintf(captured_log + used, sizeof(captured_log) - used, "%d:%s\n",
		 (int)level, msg);
}

static inline void log_capture(void)
{
	captured_log[0] = '\0';
	mcx_log_set_handler(capture_fn, NULL);
}

/*
 * A registry handle on /dev/null.  Its ioctls fail with ENOTTY, so a call
 * that returns -ENOTTY got past the library's checks to the kernel, and one
 * that returns anything else was stopped before it.
 */
static inline struct mcx_registry *null_registry(void)
{
	struct mcx_registry *reg = NULL;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	ASSERT_TRUE(fd >= 0);
	ASSERT_ERR(mcx__registry_from_fd(fd, &reg), 0);
	ASSERT_TRUE(reg != NULL);
	return reg;
}

#endif
