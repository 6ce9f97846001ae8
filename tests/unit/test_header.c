// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The installed header include/mcxfer.h stands alone: it compiles by itself
 * as strict C99 and as C++, and does not drag in the ioctl ABI header.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

#ifndef MCX_INCLUDE_DIR
#error "build with -DMCX_INCLUDE_DIR=\"path/to/include\""
#endif
#ifndef MCX_CC
#define MCX_CC "cc"
#endif

static const char source[] =
	"#include <mcxfer.h>\n"
	"#ifdef _UAPI_LINUX_MCXFER_H\n"
	"#error the public header pulls in the ioctl ABI\n"
	"#endif\n"
	"#ifdef MCXFER_IOC_PIN\n"
	"#error the public header exposes ioctl numbers\n"
	"#endif\n"
	"int use(struct mcx_registry *r, struct mcx_reg_entry *e, struct mcx_reg_cursor **c);\n"
	"int use(struct mcx_registry *r, struct mcx_reg_entry *e, struct mcx_reg_cursor **c)\n"
	"{\n"
	"\treturn mcx_registry_list(r, c, e) + (int)sizeof(struct mcx_reg_info)\n"
	"\t       + (int)sizeof(struct mcx_reg_mr) + (int)sizeof(struct mcx_reg_lookup)\n"
	"\t       + (int)sizeof(struct mcx_reg_event);\n"
	"}\n";

/*
 * Compile `source` with the given compiler and flags; the exit status.
 * Diagnostics go to stderr unless quiet (for the check that must fail).
 */
static int compile(const char *cc_and_flags, int quiet)
{
	char cmd[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s -fsyntax-only -Wall -Wextra -Werror -I'%s' - %s",
		 cc_and_flags, MCX_INCLUDE_DIR, quiet ? ">/dev/null 2>&1" : "1>&2");
	p = popen(cmd, "w");
	ASSERT_TRUE(p != NULL);
	ASSERT_TRUE(fputs(source, p) >= 0);
	return pclose(p);
}

TEST(public_header_alone_as_c99)
{
	ASSERT_EQ(compile(MCX_CC " -x c -std=c99 -pedantic", 0), 0);
}

TEST(public_header_alone_as_cxx)
{
	if (system("command -v c++ >/dev/null 2>&1"))
		SKIP("no C++ compiler");
	ASSERT_EQ(compile("c++ -x c++ -pedantic", 0), 0);
}

TEST(public_header_check_can_fail)
{
	/* The same check on broken flags must fail, or it proves nothing. */
	ASSERT_TRUE(compile(MCX_CC " -x c -std=c99 -DMCXFER_IOC_PIN=1 -include mcxfer.h", 1) != 0);
}
