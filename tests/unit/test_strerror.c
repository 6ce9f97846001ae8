// SPDX-License-Identifier: GPL-2.0 OR MIT
/* mcx_strerror() (lib/util/strerror.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "util.h"

TEST(strerror_mcxfer_specific_wording)
{
	ASSERT_CONTAINS(mcx_strerror(-ENOSPC), "registry cap on pinned bytes/entries reached");
	ASSERT_CONTAINS(mcx_strerror(-ENOSPC), "nothing idle to evict");
	ASSERT_CONTAINS(mcx_strerror(-EDQUOT), "per-user");
	ASSERT_CONTAINS(mcx_strerror(-ENODEV), "module");
	ASSERT_CONTAINS(mcx_strerror(-EBUSY), "referenced");
	ASSERT_CONTAINS(mcx_strerror(-ENOENT), "registry entry");
	ASSERT_CONTAINS(mcx_strerror(-EPERM), "CAP_SYS_ADMIN");
	ASSERT_CONTAINS(mcx_strerror(-ENAMETOOLONG), "63");
	ASSERT_CONTAINS(mcx_strerror(-EPROTO), "mcxfer module");
	ASSERT_CONTAINS(mcx_strerror(-EOWNERDEAD), "fork()");
	ASSERT_CONTAINS(mcx_strerror(-EACCES), "authentication");
}

TEST(strerror_every_errno_has_a_message)
{
	for (int e = 1; e < 134; e++) {
		const char *m = mcx_strerror(-e);

		ASSERT_TRUE(m != NULL && m[0] != '\0');
		/* Positive values mean the same thing. */
		ASSERT_STREQ(mcx_strerror(e), m);
	}
}

TEST(strerror_generic_falls_back_to_libc)
{
	ASSERT_STREQ(mcx_strerror(-EIO), strerror(EIO));
	ASSERT_STREQ(mcx_strerror(-ETIMEDOUT), strerror(ETIMEDOUT));
	ASSERT_STREQ(mcx_strerror(0), "success");
}

TEST(strerror_unknown_values)
{
	ASSERT_STREQ(mcx_strerror(-4000), "unknown error");
	ASSERT_STREQ(mcx_strerror(INT_MIN), "unknown error");
	ASSERT_STREQ(mcx_strerror(INT_MAX), "unknown error");
}
