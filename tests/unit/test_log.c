// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The logger (lib/util/log.c): MCX_LOG_LEVEL parsing, filtering, handler. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "util.h"

TEST(log_level_names_and_numbers)
{
	static const struct {
		const char *text;
		enum mcx_log_level level;
	} ok[] = {
		{ "off", MCX_LOG_OFF }, { "error", MCX_LOG_ERROR }, { "WARN", MCX_LOG_WARN },
		{ "info", MCX_LOG_INFO }, { "Debug", MCX_LOG_DEBUG }, { "0", MCX_LOG_OFF },
		{ "4", MCX_LOG_DEBUG }, { "2", MCX_LOG_WARN },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		setenv("MCX_LOG_LEVEL", ok[i].text, 1);
		ASSERT_ERR(mcx__log_init(), 0);
		ASSERT_EQ(mcx__log_level(), ok[i].level);
	}
}

TEST(log_level_bad_values_rejected_naming_variable)
{
	static const char *const bad[] = { "", "verbose", "5", "-1", " info", "info ", "01", "2x" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("MCX_LOG_LEVEL", "info", 1);
		ASSERT_ERR(mcx__log_init(), 0);
		setenv("MCX_LOG_LEVEL", bad[i], 1);
		log_capture();
		ASSERT_ERR(mcx__log_init(), -EINVAL);
		ASSERT_CONTAINS(captured_log, "MCX_LOG_LEVEL");
		ASSERT_CONTAINS(captured_log, "off, error, warn, info, debug");
		/* The previous level stays in force. */
		ASSERT_EQ(mcx__log_level(), MCX_LOG_INFO);
	}
}

TEST(log_default_is_warn_and_api_level_yields_to_env)
{
	unsetenv("MCX_LOG_LEVEL");
	ASSERT_ERR(mcx__log_init(), 0);
	ASSERT_EQ(mcx__log_level(), MCX_LOG_WARN);
	ASSERT_ERR(mcx_log_set_level(MCX_LOG_DEBUG), 0);
	ASSERT_EQ(mcx__log_level(), MCX_LOG_DEBUG);
	setenv("MCX_LOG_LEVEL", "error", 1);
	ASSERT_ERR(mcx__log_init(), 0);
	ASSERT_EQ(mcx__log_level(), MCX_LOG_ERROR);
	ASSERT_ERR(mcx_log_set_level((enum mcx_log_level)5), -EINVAL);
	ASSERT_ERR(mcx_log_set_level((enum mcx_log_level)-1), -EINVAL);
}

TEST(log_filters_by_level)
{
	unsetenv("MCX_LOG_LEVEL");
	ASSERT_ERR(mcx__log_init(), 0);
	ASSERT_ERR(mcx_log_set_level(MCX_LOG_WARN), 0);
	log_capture();
	mcx__dbg("debug %d", 1);
	mcx__info("info %d", 2);
	mcx__warn("warn %d", 3);
	mcx__err("error %d", 4);
	ASSERT_STREQ(captured_log, "2:warn 3\n1:error 4\n");
	ASSERT_ERR(mcx_log_set_level(MCX_LOG_OFF), 0);
	log_capture();
	mcx__err("nothing");
	ASSERT_STREQ(captured_log, "");
}

TEST(log_default_handler_writes_stderr)
{
	int pipefd[2], saved;
	char buf[256] = "";
	ssize_t n;

	unsetenv("MCX_LOG_LEVEL");
	ASSERT_ERR(mcx__log_init(), 0);
	mcx_log_set_handler(NULL, NULL);
	ASSERT_TRUE(pipe(pipefd) == 0);
	saved = dup(2);
	ASSERT_TRUE(saved >= 0 && dup2(pipefd[1], 2) == 2);
	mcx__err("boom %s", "here");
	fflush(stderr);
	dup2(saved, 2);
	close(pipefd[1]);
	n = read(pipefd[0], buf, sizeof(buf) - 1);
	ASSERT_TRUE(n > 0);
	buf[n] = '\0';
	ASSERT_STREQ(buf, "mcxfer: error: boom here\n");
}
