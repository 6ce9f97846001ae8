// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Strict parsing of configuration values (lib/util/env.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "util.h"

TEST(env_u64_accepts_decimal_hex_and_bounds)
{
	uint64_t v = 7;

	ASSERT_ERR(mcx__parse_u64("X", "0", 0, 10, &v), 0);
	ASSERT_U64_EQ(v, 0);
	ASSERT_ERR(mcx__parse_u64("X", "42", 0, 100, &v), 0);
	ASSERT_U64_EQ(v, 42);
	ASSERT_ERR(mcx__parse_u64("X", "0x1F", 0, 100, &v), 0);
	ASSERT_U64_EQ(v, 31);
	ASSERT_ERR(mcx__parse_u64("X", "18446744073709551615", 0, UINT64_MAX, &v), 0);
	ASSERT_U64_EQ(v, UINT64_MAX);
	ASSERT_ERR(mcx__parse_u64("X", "5", 5, 5, &v), 0);
	ASSERT_U64_EQ(v, 5);
}

TEST(env_u64_rejects_junk_empty_signs_blanks)
{
	static const char *const bad[] = {
		"", " 1", "1 ", "-1", "+1", "12abc", "abc", "0x", "0xg", "1.5", "1e3", "١",
	};
	uint64_t v = 99;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_ERR(mcx__parse_u64(NULL, bad[i], 0, UINT64_MAX, &v), -EINVAL);
		ASSERT_U64_EQ(v, 99);	/* untouched: never silently 0 */
	}
	ASSERT_ERR(mcx__parse_u64(NULL, NULL, 0, 1, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_u64(NULL, "1", 0, 1, NULL), -EINVAL);
}

TEST(env_u64_range_and_overflow)
{
	uint64_t v = 99;

	ASSERT_ERR(mcx__parse_u64(NULL, "18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	ASSERT_ERR(mcx__parse_u64(NULL, "99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
	ASSERT_ERR(mcx__parse_u64(NULL, "0x10000000000000000", 0, UINT64_MAX, &v), -ERANGE);
	ASSERT_ERR(mcx__parse_u64(NULL, "11", 0, 10, &v), -ERANGE);
	ASSERT_ERR(mcx__parse_u64(NULL, "4", 5, 10, &v), -ERANGE);
	/* Junk after an overflowing prefix is junk, not a range problem. */
	ASSERT_ERR(mcx__parse_u64(NULL, "99999999999999999999999x", 0, UINT64_MAX, &v), -EINVAL);
	ASSERT_U64_EQ(v, 99);
}

TEST(env_i64_signed_values)
{
	int64_t v = 3;

	ASSERT_ERR(mcx__parse_i64("X", "-1", -1, 100, &v), 0);
	ASSERT_EQ(v, -1);
	ASSERT_ERR(mcx__parse_i64("X", "100", -1, 100, &v), 0);
	ASSERT_EQ(v, 100);
	ASSERT_ERR(mcx__parse_i64("X", "-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
	ASSERT_TRUE(v == INT64_MIN);
	ASSERT_ERR(mcx__parse_i64("X", "9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	ASSERT_TRUE(v == INT64_MAX);
	v = 3;
	ASSERT_ERR(mcx__parse_i64(NULL, "9223372036854775808", INT64_MIN, INT64_MAX, &v), -ERANGE);
	ASSERT_ERR(mcx__parse_i64(NULL, "-9223372036854775809", INT64_MIN, INT64_MAX, &v), -ERANGE);
	ASSERT_ERR(mcx__parse_i64(NULL, "-2", -1, 100, &v), -ERANGE);
	ASSERT_ERR(mcx__parse_i64(NULL, "", -1, 100, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_i64(NULL, "-", -1, 100, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_i64(NULL, "--1", -1, 100, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_i64(NULL, "+1", -1, 100, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_i64(NULL, "0x10", -1, 100, &v), -EINVAL);
	ASSERT_EQ(v, 3);
}

TEST(env_size_suffixes)
{
	uint64_t v = 1;

	ASSERT_ERR(mcx__parse_size("X", "4096", 0, UINT64_MAX, &v), 0);
	ASSERT_U64_EQ(v, 4096);
	ASSERT_ERR(mcx__parse_size("X", "4K", 0, UINT64_MAX, &v), 0);
	ASSERT_U64_EQ(v, 4096);
	ASSERT_ERR(mcx__parse_size("X", "2m", 0, UINT64_MAX, &v), 0);
	ASSERT_U64_EQ(v, 2ULL << 20);
	ASSERT_ERR(mcx__parse_size("X", "3G", 0, UINT64_MAX, &v), 0);
	ASSERT_U64_EQ(v, 3ULL << 30);
	ASSERT_ERR(mcx__parse_size("X", "1T", 0, UINT64_MAX, &v), 0);
	ASSERT_U64_EQ(v, 1ULL << 40);
	v = 1;
	ASSERT_ERR(mcx__parse_size(NULL, "", 0, UINT64_MAX, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_size(NULL, "K", 0, UINT64_MAX, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_size(NULL, "1.5M", 0, UINT64_MAX, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_size(NULL, "1KB", 0, UINT64_MAX, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_size(NULL, "-1K", 0, UINT64_MAX, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_size(NULL, "16777216T", 0, UINT64_MAX, &v), -ERANGE);
	ASSERT_ERR(mcx__parse_size(NULL, "123456789012345678901234567890", 0, UINT64_MAX, &v), -ERANGE);
	ASSERT_ERR(mcx__parse_size(NULL, "12345678901234567890123456789x", 0, UINT64_MAX, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_size(NULL, "2K", 0, 1024, &v), -ERANGE);
	ASSERT_U64_EQ(v, 1);
}

TEST(env_bool_words)
{
	static const char *const yes[] = { "1", "true", "TRUE", "yes", "On" };
	static const char *const no[] = { "0", "false", "No", "off", "OFF" };
	int b;

	for (size_t i = 0; i < 5; i++) {
		b = 0;
		ASSERT_ERR(mcx__parse_bool("X", yes[i], &b), 0);
		ASSERT_EQ(b, 1);
		b = 1;
		ASSERT_ERR(mcx__parse_bool("X", no[i], &b), 0);
		ASSERT_EQ(b, 0);
	}
	b = 5;
	ASSERT_ERR(mcx__parse_bool(NULL, "", &b), -EINVAL);
	ASSERT_ERR(mcx__parse_bool(NULL, "2", &b), -EINVAL);
	ASSERT_ERR(mcx__parse_bool(NULL, "y", &b), -EINVAL);
	ASSERT_ERR(mcx__parse_bool(NULL, "true ", &b), -EINVAL);
	ASSERT_EQ(b, 5);
}

TEST(env_enum_names)
{
	static const char *const names[] = { "off", "on", "auto" };
	unsigned int v = 9;

	ASSERT_ERR(mcx__parse_enum("X", "auto", names, 3, &v), 0);
	ASSERT_EQ(v, 2);
	ASSERT_ERR(mcx__parse_enum("X", "OFF", names, 3, &v), 0);
	ASSERT_EQ(v, 0);
	v = 9;
	ASSERT_ERR(mcx__parse_enum(NULL, "", names, 3, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_enum(NULL, "2", names, 3, &v), -EINVAL);
	ASSERT_ERR(mcx__parse_enum(NULL, "autox", names, 3, &v), -EINVAL);
	ASSERT_EQ(v, 9);
}

TEST(env_errors_name_the_variable_and_accepted_values)
{
	static const char *const names[] = { "off", "on", "auto" };
	unsigned int e;
	uint64_t v;
	int b;

	log_capture();
	ASSERT_ERR(mcx__parse_u64("MCX_TEST_N", "junk", 1, 8, &v), -EINVAL);
	ASSERT_CONTAINS(captured_log, "MCX_TEST_N=\"junk\"");
	ASSERT_CONTAINS(captured_log, "from 1 to 8");
	log_capture();
	ASSERT_ERR(mcx__parse_enum("MCX_TEST_MODE", "sideways", names, 3, &e), -EINVAL);
	ASSERT_CONTAINS(captured_log, "MCX_TEST_MODE=\"sideways\"");
	ASSERT_CONTAINS(captured_log, "off, on, auto");
	log_capture();
	ASSERT_ERR(mcx__parse_bool("MCX_TEST_B", "maybe", &b), -EINVAL);
	ASSERT_CONTAINS(captured_log, "MCX_TEST_B");
	log_capture();
	ASSERT_ERR(mcx__parse_u64("MCX_TEST_N", "9", 1, 8, &v), -ERANGE);
	ASSERT_CONTAINS(captured_log, "out of range");
	/* Without a variable name nothing is logged. */
	log_capture();
	ASSERT_ERR(mcx__parse_u64(NULL, "junk", 1, 8, &v), -EINVAL);
	ASSERT_STREQ(captured_log, "");
}

TEST(env_getenv_wrappers)
{
	static const char *const names[] = { "a", "b" };
	unsigned int e = 7;
	uint64_t v = 7;
	int64_t s = 7;
	int b = 7;

	unsetenv("MCX_TEST_V");
	ASSERT_ERR(mcx__env_u64("MCX_TEST_V", 0, 10, &v), 0);	/* unset */
	ASSERT_U64_EQ(v, 7);
	setenv("MCX_TEST_V", "3", 1);
	ASSERT_EQ(mcx__env_u64("MCX_TEST_V", 0, 10, &v), 1);
	ASSERT_U64_EQ(v, 3);
	ASSERT_EQ(mcx__env_i64("MCX_TEST_V", -5, 5, &s), 1);
	ASSERT_EQ(s, 3);
	ASSERT_EQ(mcx__env_size("MCX_TEST_V", 0, 10, &v), 1);
	ASSERT_U64_EQ(v, 3);
	setenv("MCX_TEST_V", "", 1);		/* set but empty: an error */
	log_capture();
	ASSERT_ERR(mcx__env_u64("MCX_TEST_V", 0, 10, &v), -EINVAL);
	ASSERT_CONTAINS(captured_log, "MCX_TEST_V");
	ASSERT_ERR(mcx__env_bool("MCX_TEST_V", &b), -EINVAL);
	ASSERT_ERR(mcx__env_enum("MCX_TEST_V", names, 2, &e), -EINVAL);
	setenv("MCX_TEST_V", "99", 1);
	ASSERT_ERR(mcx__env_u64("MCX_TEST_V", 0, 10, &v), -ERANGE);
	setenv("MCX_TEST_V", "yes", 1);
	ASSERT_EQ(mcx__env_bool("MCX_TEST_V", &b), 1);
	ASSERT_EQ(b, 1);
	setenv("MCX_TEST_V", "B", 1);
	ASSERT_EQ(mcx__env_enum("MCX_TEST_V", names, 2, &e), 1);
	ASSERT_EQ(e, 1);
	ASSERT_U64_EQ(v, 3);
	ASSERT_ERR(mcx__env_u64(NULL, 0, 10, &v), -EINVAL);
}
