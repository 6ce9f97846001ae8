// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A small logger: messages at or above the current level go to a handler
 * (stderr by default).  The level comes from MCX_LOG_LEVEL when it is set,
 * else from mcx_log_set_level(), else warn, so that errors such as a missing
 * /dev/mcxfer are visible without configuration.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/util.h"

#define LOG_VAR "MCX_LOG_LEVEL"
#define LOG_UNSET (-1)

static const char *const level_names[] = {
	[MCX_LOG_OFF] = "off",
	[MCX_LOG_ERROR] = "error",
	[MCX_LOG_WARN] = "warn",
	[MCX_LOG_INFO] = "info",
	[MCX_LOG_DEBUG] = "debug",
};

#define NR_LEVELS (sizeof(level_names) / sizeof(level_names[0]))

/* Levels are read on every message, possibly from several threads. */
static atomic_int env_level = LOG_UNSET;
static atomic_int api_level = LOG_UNSET;

static mcx_log_fn log_handler;
static void *log_ctx;

MCX_EXPORT void mcx_log_set_handler(mcx_log_fn fn, void *ctx)
{
	log_handler = fn;
	log_ctx = ctx;
}

MCX_EXPORT int mcx_log_set_level(enum mcx_log_level level)
{
	if ((unsigned int)level >= NR_LEVELS)
		return -EINVAL;
	atomic_store(&api_level, (int)level);
	return 0;
}

enum mcx_log_level mcx__log_level(void)
{
	int level = atomic_load(&env_level);

	if (level == LOG_UNSET)
		level = atomic_load(&api_level);
	if (level == LOG_UNSET)
		level = MCX_LOG_WARN;
	return (enum mcx_log_level)level;
}

int mcx__log_init(void)
{
	const char *s = getenv(LOG_VAR);
	unsigned int idx;
	uint64_t num;

	if (!s) {
		atomic_store(&env_level, LOG_UNSET);
		return 0;
	}
	/* Numbers are accepted too; anything else is reported, never guessed. */
	if (s[0] >= '0' && s[0] <= '9' && s[1] == '\0') {
		if (mcx__parse_u64(LOG_VAR, s, 0, NR_LEVELS - 1, &num) == 0) {
			atomic_store(&env_level, (int)num);
			return 0;
		}
	} else if (mcx__parse_enum(NULL, s, level_names, NR_LEVELS, &idx) == 0) {
		atomic_store(&env_level, (int)idx);
		return 0;
	}
	mcx__err("%s=\"%s\" is not a log level; accepted: off, error, warn, info, debug (or 0..4)",
		 LOG_VAR, s);
	return -EINVAL;
}

void mcx__log(enum mcx_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (level == MCX_LOG_OFF || level > mcx__log_level())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_handler) {
		log_handler(level, msg, log_ctx);
		return;
	}
	fprintf(stderr, "mcxfer: %s: %s\n", level_names[level], msg);
}
