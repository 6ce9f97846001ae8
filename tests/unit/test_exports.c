// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The shared library exports the public API and nothing else: every
 * dynamic symbol it defines is an mcx_* function of version MCXFER_0.1.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifndef MCX_LIBSO
#error "build with -DMCX_LIBSO=\"path/to/libmcxfer.so.0\""
#endif

/* Every function declared in include/mcxfer.h. */
static const char *const public_api[] = {
	"mcx_strerror", "mcx_log_set_handler", "mcx_log_set_level",
	"mcx_registry_open", "mcx_registry_close", "mcx_registry_pin",
	"mcx_registry_unpin", "mcx_registry_lookup", "mcx_registry_publish_mr",
	"mcx_registry_get_mr", "mcx_registry_list", "mcx_reg_cursor_free",
	"mcx_registry_info", "mcx_registry_evict", "mcx_registry_event_fd",
	"mcx_registry_read_event",
};

#define NR_API (sizeof(public_api) / sizeof(public_api[0]))

TEST(shared_library_exports_only_mcx_symbols)
{
	int seen[NR_API] = { 0 };
	char cmd[512], line[512];
	int nsyms = 0, version_node = 0;
	FILE *nm;

	if (access(MCX_LIBSO, R_OK))
		harness_fail(__FILE__, __LINE__, "%s not built", MCX_LIBSO);
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s' 2>&1", MCX_LIBSO);
	nm = popen(cmd, "r");
	ASSERT_TRUE(nm != NULL);
	while (fgets(line, sizeof(line), nm)) {
		char addr[64], type[8], sym[256], *at;

		if (sscanf(line, "%63s %7s %255s", addr, type, sym) != 3)
			harness_fail(__FILE__, __LINE__, "unexpected nm output: %s", line);
		if (!strcmp(type, "A") && !strcmp(sym, "MCXFER_0.1")) {
			version_node = 1;
			continue;
		}
		at = strchr(sym, '@');
		if (!at || strcmp(at, "@@MCXFER_0.1"))
			harness_fail(__FILE__, __LINE__, "symbol without version MCXFER_0.1: %s", sym);
		*at = '\0';
		if (strncmp(sym, "mcx_", 4) || !strncmp(sym, "mcx__", 5))
			harness_fail(__FILE__, __LINE__, "exported symbol outside the API: %s", sym);
		nsyms++;
		for (size_t i = 0; i < NR_API; i++)
			if (!strcmp(sym, public_api[i]))
				seen[i] = 1;
	}
	ASSERT_EQ(pclose(nm), 0);
	ASSERT_TRUE(version_node);
	for (size_t i = 0; i < NR_API; i++)
		if (!seen[i])
			harness_fail(__FILE__, __LINE__, "public function not exported: %s",
				     public_api[i]);
	/* Nothing exported that the header does not declare. */
	ASSERT_EQ(nsyms, NR_API);
}
