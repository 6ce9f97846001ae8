/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Strict parsing of command-line values for the tools: the whole string must
 * be a value (no blanks, no sign where none belongs, no trailing junk), and a
 * value outside [min, max] is an error, never clamped.
 * Each returns 0, -EINVAL (not a value) or -ERANGE (a value out of range).
 */
#ifndef MCXFER_TOOLS_PARSE_H
#define MCXFER_TOOLS_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Decimal, or hexadecimal with 0x. */
int parse_u64_arg(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Decimal byte count with an optional K, M, G or T suffix (powers of 1024). */
int parse_size_arg(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Plain decimal fraction such as 2 or 1.5 (no exponent, inf or nan). */
int parse_double_arg(const char *s, double min, double max, double *out);
/*
 * "HOST:PORT" (or "[V6]:PORT") as the library takes it, split into host (a
 * buffer of hlen bytes, brackets dropped) and port 1..65535, so that a typo
 * is an option error, not a connection error later.
 */
int split_hostport(const char *s, char *host, size_t hlen, uint16_t *port);

/*
 * An option naming a peer (--peer HOST:PORT): checked with split_hostport()
 * and kept in *out, or "PROG: OPT 'VAL': expected ..." on stderr and
 * EXIT_USAGE, for the caller to exit with.
 */
int peer_arg(const char *prog, const char *opt, const char *val, const char **out);

/*
 * "PROG: OPT 'VAL': out of range; expected RANGE" (or "not valid" for any
 * err but -ERANGE) on stderr.  Returns EXIT_USAGE, for the caller to exit
 * with.
 */
int bad_value(const char *prog, const char *opt, const char *val, int err, const char *range);

#endif
