/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/util: what every other folder of libmcxfer may use and that depends on
 * nothing of the library: logging, strict parsers of configuration values,
 * the clock.  The unit tests link the static library and use these too.  Nothing here is exported: the
 * library is built with -fvisibility=hidden and only MCX_EXPORT functions of
 * include/mcxfer.h are visible, as the symbol map also enforces.
 */
#ifndef MCXFER_LIB_UTIL_UTIL_H
#define MCXFER_LIB_UTIL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "mcxfer.h"

#define MCX_EXPORT __attribute__((visibility("default")))

/* ---- log.c ---- */

/*
 * Re-read MCX_LOG_LEVEL.  0, or -EINVAL (after logging which values are
 * accepted) when it is set to something else; the previous level stays.
 */
int mcx__log_init(void);

/* Current effective level. */
enum mcx_log_level mcx__log_level(void);

void mcx__log(enum mcx_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define mcx__err(...)	mcx__log(MCX_LOG_ERROR, __VA_ARGS__)
#define mcx__warn(...)	mcx__log(MCX_LOG_WARN, __VA_ARGS__)
#define mcx__info(...)	mcx__log(MCX_LOG_INFO, __VA_ARGS__)
#define mcx__dbg(...)	mcx__log(MCX_LOG_DEBUG, __VA_ARGS__)

/* ---- env.c ----
 *
 * Strict parsers for configuration values.  `var` names the setting in error
 * messages.  The parse_* functions return 0 with *out set, -EINVAL for text
 * that is not a value of the type (empty, junk, signs where none belong,
 * whitespace), -ERANGE for a well-formed value outside [min, max] or beyond
 * the type; *out is untouched on error.  The env_* functions read the
 * variable `var`: 0 when it is unset (*out untouched), 1 when it was set and
 * parsed, or the parser's -errno (logged, naming the variable).
 */

/* Decimal or 0x-prefixed hexadecimal. */
int mcx__parse_u64(const char *var, const char *s, uint64_t min, uint64_t max,
		   uint64_t *out);
/* Decimal with an optional leading '-'. */
int mcx__parse_i64(const char *var, const char *s, int64_t min, int64_t max,
		   int64_t *out);
/* A byte count: decimal with an optional K, M, G or T (powers of 1024). */
int mcx__parse_size(const char *var, const char *s, uint64_t min, uint64_t max,
		    uint64_t *out);
/* 1/0, true/false, yes/no, on/off, any case. */
int mcx__parse_bool(const char *var, const char *s, int *out);
/* One of names[0..n-1] (any case); *out is its index. */
int mcx__parse_enum(const char *var, const char *s, const char *const *names,
		    size_t n, unsigned int *out);

int mcx__env_u64(const char *var, uint64_t min, uint64_t max, uint64_t *out);
int mcx__env_i64(const char *var, int64_t min, int64_t max, int64_t *out);
int mcx__env_size(const char *var, uint64_t min, uint64_t max, uint64_t *out);
int mcx__env_bool(const char *var, int *out);
int mcx__env_enum(const char *var, const char *const *names, size_t n,
		  unsigned int *out);

/*
 * A libfabric provider name as MCX_FABRIC_PROVIDER takes it: "auto", or
 * "name" or "core;utility" (1..31 characters of [A-Za-z0-9_;], no ';' at
 * either end).  0, or -EINVAL logged naming var.
 */
int mcx__check_fabric_provider(const char *var, const char *s);

/*
 * Parse "host:port" (host: IPv4 literal, [IPv6] literal, or a name; port
 * 0..65535).  host is copied into host (hostlen bytes with the NUL).
 * -EINVAL naming var for anything else.
 */
int mcx__parse_hostport(const char *var, const char *s, char *host,
			size_t hostlen, uint16_t *port);

/* ---- little-endian fields of the formats we define ---- */

static inline void mcx__put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void mcx__put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t mcx__get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t mcx__get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- clock.c ---- */

/* Monotonic clock in nanoseconds. */
uint64_t mcx__now_ns(void);

/*
 * Where a multi-step operation spends its time, at debug level: begin
 * notes the time, each mark logs "<what>: <step> <ms> ms" since the
 * previous mark (or begin) and restarts the clock.  Nothing is read or
 * logged below debug.
 */
struct mcx_steps {
	const char *what;
	uint64_t t;
};

void mcx__steps_begin(struct mcx_steps *s, const char *what);
void mcx__steps_mark(struct mcx_steps *s, const char *step);


/* ---- thread.c ----
 *
 * Threads of the library and fork().  <pthread.h>, <stdbool.h> and
 * <sys/types.h> are included here for this section only.
 */
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

/*
 * pthread_create() with every asynchronous signal blocked in the new thread
 * (so that signals meant for the application reach its own threads), named
 * name (cut to 15 characters; NULL: unnamed).  The caller's mask is the
 * same afterwards.  0 or -errno (-EAGAIN: no more threads).
 */
int mcx__thread_create(pthread_t *t, const char *name, void *(*fn)(void *), void *arg);

/*
 * fn(arg, i) for every i in [0, n), at the same time: i = 0 on the calling
 * thread, each other one on a thread of its own (named name), all joined
 * before it returns.  A call whose thread cannot be started runs on the
 * caller afterwards, so every i runs exactly once whatever happens.  For
 * independent steps that wait on the kernel (opening devices).
 */
void mcx__run_parallel(unsigned int n, const char *name, void (*fn)(void *arg, unsigned int i),
		       void *arg);


/* getpid(), cached; right in a fork child too (no system call when cached). */
pid_t mcx__pid(void);

/* True in a fork child of the process that first used mcx__pid(). */
bool mcx__forked_child(void);

#endif /* MCXFER_LIB_UTIL_UTIL_H */
