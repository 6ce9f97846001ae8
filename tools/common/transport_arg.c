// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * --transport and --provider for the benchmarks (see transport_arg.h).
 * The values are checked here as the library checks the options, so that
 * a typo is a usage error (exit status 2) before any engine is created.
 */
#include <stdio.h>
#include <string.h>

#include "common/exit_status.h"
#include "common/transport_arg.h"

/* include/mcxfer.h: 1..31 characters of [A-Za-z0-9_;]. */
#define PROVIDER_MAX	31

bool transport_arg_is(const char *opt)
{
	return !strcmp(opt, "--transport") || !strcmp(opt, "--provider");
}

static bool provider_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > PROVIDER_MAX)
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == ';'))
			return false;
	return true;
}

int transport_arg_parse(const char *prog, const char *opt, const char *val,
			struct transport_arg *t)
{
	if (!strcmp(opt, "--transport")) {
		if (!strcmp(val, "auto")) {
			t->transport = MCX_TRANSPORT_AUTO;
		} else if (!strcmp(val, "verbs")) {
			t->transport = MCX_TRANSPORT_VERBS;
		} else if (!strcmp(val, "fabric")) {
			t->transport = MCX_TRANSPORT_FABRIC;
		} else {
			fprintf(stderr, "%s: --transport '%s': expected verbs, fabric or auto\n",
				prog, val);
			return EXIT_USAGE;
		}
		t->transport_set = true;
		return 0;
	}
	if (!provider_ok(val)) {
		fprintf(stderr, "%s: --provider '%s': not valid; expected 1..%d characters of A-Z a-z 0-9 _ ; such as \"verbs;ofi_rxm\"\n",
			prog, val, PROVIDER_MAX);
		return EXIT_USAGE;
	}
	t->provider = val;
	return 0;
}

int transport_arg_check(const char *prog, const struct transport_arg *t)
{
	if (t->provider && t->transport_set && t->transport == MCX_TRANSPORT_VERBS) {
		fprintf(stderr, "%s: --provider applies to --transport fabric (or auto), not verbs\n",
			prog);
		return EXIT_USAGE;
	}
	return 0;
}

void transport_arg_apply(const struct transport_arg *t, struct mcx_engine_opts *eo)
{
	if (t->transport_set)
		eo->transport = t->transport;
	if (t->provider)
		eo->fabric_provider = t->provider;
}
