/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * --transport verbs|fabric|auto and --provider NAME, shared by the
 * benchmarks that create engines: they set the engine options that
 * MCX_TRANSPORT and MCX_FABRIC_PROVIDER set (the environment, read by
 * mcx_engine_create() after the options, still has the last word).
 */
#ifndef MCXFER_TOOLS_TRANSPORT_ARG_H
#define MCXFER_TOOLS_TRANSPORT_ARG_H

#include <stdbool.h>

#include "mcxfer.h"

struct transport_arg {
	bool transport_set;
	int transport;			/* enum mcx_transport_kind */
	const char *provider;		/* NULL: the engine's default */
};

/* The option lines for a usage text (two options, aligned at column 25). */
#define TRANSPORT_ARG_HELP \
	"  --transport KIND       verbs, fabric (libfabric) or auto (default; as\n" \
	"                         MCX_TRANSPORT)\n" \
	"  --provider NAME        libfabric provider for --transport fabric, e.g.\n" \
	"                         \"verbs;ofi_rxm\", \"tcp;ofi_rxm\", \"shm\" or auto\n" \
	"                         (as MCX_FABRIC_PROVIDER)\n"

/* True for "--transport" and "--provider", the options that take a value. */
bool transport_arg_is(const char *opt);

/*
 * Take OPT's value VAL into *t.  Returns 0, or EXIT_USAGE after a message
 * on stderr naming PROG, the option and the accepted values.
 */
int transport_arg_parse(const char *prog, const char *opt, const char *val,
			struct transport_arg *t);

/*
 * After parsing: EXIT_USAGE with a message when --provider was given with
 * a transport other than fabric or auto, else 0.
 */
int transport_arg_check(const char *prog, const struct transport_arg *t);

/* Copy what was given into engine options (the rest stays as it was). */
void transport_arg_apply(const struct transport_arg *t, struct mcx_engine_opts *eo);

#endif
