// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The shared library exports the public API and nothing else: every
 * dynamic symbol it defines is an mcx_* function of version MCXFER_0.1 (the
 * registry client), MCXFER_0.2 (the engine), MCXFER_0.3 ... MCXFER_0.6.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifndef MCX_LIBSO
#error "build with -DMCX_LIBSO=\"path/to/libmcxfer.so.0\""
#endif

#ifndef MCX_INCLUDE_DIR
#error "build with -DMCX_INCLUDE_DIR=\"path/to/include\""
#endif

/* The registry API of this release: must be exported whatever else is. */
static const char *const registry_api[] = {
	"mcx_strerror", "mcx_log_set_handler", "mcx_log_set_level",
	"mcx_registry_open", "mcx_registry_close", "mcx_registry_pin",
	"mcx_registry_unpin", "mcx_registry_lookup", "mcx_registry_publish_mr",
	"mcx_registry_get_mr", "mcx_registry_list", "mcx_reg_cursor_free",
	"mcx_registry_info", "mcx_registry_evict", "mcx_registry_event_fd",
	"mcx_registry_read_event",
};

#define NR_REG_API (sizeof(registry_api) / sizeof(registry_api[0]))
#define MAX_SYMS 512

struct symset {
	char *name[MAX_SYMS];
	int n;
};

static void symset_add(struct symset *s, const char *name, size_t len)
{
	for (int i = 0; i < s->n; i++)
		if (strlen(s->name[i]) == len && !strncmp(s->name[i], name, len))
			return;
	ASSERT_TRUE(s->n < MAX_SYMS);
	s->name[s->n] = strndup(name, len);
	ASSERT_TRUE(s->name[s->n] != NULL);
	s->n++;
}

static int symset_has(const struct symset *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return 1;
	return 0;
}

static void symset_free(struct symset *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->name[i]);
	s->n = 0;
}

/* Dynamic symbols the library defines, checked for name and version. */
static void exported(struct symset *out)
{
	char cmd[512], line[512];
	int version_node = 0;
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
		/* The engine API; registry lookup by owner; the network rebuild's
		 * calls; warm start (ABI 3 registry calls, named registrations);
		 * the fabric query and warm pairs. */
		if (!strcmp(type, "A") && (!strcmp(sym, "MCXFER_0.2") || !strcmp(sym, "MCXFER_0.3") ||
					   !strcmp(sym, "MCXFER_0.4") || !strcmp(sym, "MCXFER_0.5") ||
					   !strcmp(sym, "MCXFER_0.6")))
			continue;
		at = strchr(sym, '@');
		if (!at || (strcmp(at, "@@MCXFER_0.1") && strcmp(at, "@@MCXFER_0.2") &&
			    strcmp(at, "@@MCXFER_0.3") && strcmp(at, "@@MCXFER_0.4") &&
			    strcmp(at, "@@MCXFER_0.5") && strcmp(at, "@@MCXFER_0.6")))
			harness_fail(__FILE__, __LINE__, "symbol without version MCXFER_0.1-0.6: %s", sym);
		*at = '\0';
		if (strncmp(sym, "mcx_", 4) || !strncmp(sym, "mcx__", 5))
			harness_fail(__FILE__, __LINE__, "exported symbol outside the API: %s", sym);
		symset_add(out, sym, strlen(sym));
	}
	ASSERT_EQ(pclose(nm), 0);
	ASSERT_TRUE(version_node);
}

/* Functions declared in include/mcxfer.h: "mcx_name(" outside comments. */
static void declared(struct symset *out)
{
	static char text[256 * 1024];
	char path[512];
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/mcxfer.h", MCX_INCLUDE_DIR);
	f = fopen(path, "r");
	ASSERT_TRUE(f != NULL);
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	for (char *p = text; *p; p++) {
		if (p[0] == '/' && p[1] == '*') {
			char *end = strstr(p + 2, "*/");

			ASSERT_TRUE(end != NULL);
			memset(p, ' ', (size_t)(end + 2 - p));
		} else if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n')
				*p++ = ' ';
		}
	}
	for (char *p = strstr(text, "mcx_"); p; p = strstr(p + 1, "mcx_")) {
		size_t n = 0;
		char *q;

		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		while (isalnum((unsigned char)p[n]) || p[n] == '_')
			n++;
		for (q = p + n; *q == ' ' || *q == '\t' || *q == '\n'; q++)
			;
		if (*q == '(')
			symset_add(out, p, n);
	}
}

TEST(shared_library_exports_only_versioned_mcx_symbols)
{
	struct symset exp = { 0 };

	exported(&exp);
	for (size_t i = 0; i < NR_REG_API; i++)
		if (!symset_has(&exp, registry_api[i]))
			harness_fail(__FILE__, __LINE__, "public function not exported: %s",
				     registry_api[i]);
	symset_free(&exp);
}

TEST(exports_are_declared_in_the_public_header)
{
	struct symset exp = { 0 }, decl = { 0 };

	exported(&exp);
	declared(&decl);
	ASSERT_TRUE(decl.n >= (int)NR_REG_API);
	for (int i = 0; i < exp.n; i++)
		if (!symset_has(&decl, exp.name[i]))
			harness_fail(__FILE__, __LINE__, "exported but not in mcxfer.h: %s",
				     exp.name[i]);
	symset_free(&exp);
	symset_free(&decl);
}

TEST(header_functions_are_all_exported)
{
	struct symset exp = { 0 }, decl = { 0 };

	char missing[4096] = "";
	size_t used = 0;

	exported(&exp);
	declared(&decl);
	/* Name them all at once: one run tells what is left to implement. */
	for (int i = 0; i < decl.n; i++)
		if (!symset_has(&exp, decl.name[i]) && used < sizeof(missing))
			used += (size_t)snprintf(missing + used, sizeof(missing) - used, " %s",
						 decl.name[i]);
	if (missing[0])
		harness_fail(__FILE__, __LINE__, "declared in mcxfer.h but not in the library:%s",
			     missing);
	symset_free(&exp);
	symset_free(&decl);
}
