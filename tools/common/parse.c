// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Strict command-line value parsing (see parse.h). */
#include "parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exit_status.h"

static int digits(const char *s, const char *end, unsigned int base, uint64_t *out)
{
	uint64_t v = 0;
	int overflow = 0;

	if (s == end)
		return -EINVAL;
	for (; s < end; s++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			overflow = 1;
		else
			v = v * base + d;
	}
	if (overflow)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_u64_arg(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v;
	int ret;

	if (!s)
		return -EINVAL;
	end = s + strlen(s);
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		ret = digits(s + 2, end, 16, &v);
	else
		ret = digits(s, end, 10, &v);
	if (ret)
		return ret;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_size_arg(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned int shift = 0;
	const char *end;
	uint64_t v;
	int ret;

	if (!s)
		return -EINVAL;
	end = s + strlen(s);
	if (end > s) {
		switch (end[-1]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		}
	}
	if (shift)
		end--;
	ret = digits(s, end, 10, &v);
	if (ret)
		return ret;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	v <<= shift;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_double_arg(const char *s, double min, double max, double *out)
{
	int seen_digit = 0, seen_dot = 0;
	double v;

	if (!s || !*s)
		return -EINVAL;
	/* strtod would take blanks, signs, exponents, hex, inf and nan. */
	for (const char *p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			seen_digit = 1;
		else if (*p == '.' && !seen_dot)
			seen_dot = 1;
		else
			return -EINVAL;
	}
	if (!seen_digit)
		return -EINVAL;
	v = strtod(s, NULL);
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int split_hostport(const char *s, char *host, size_t hlen, uint16_t *port)
{
	const char *colon = strrchr(s, ':'), *h = s;
	size_t n;
	uint64_t p;

	if (!colon || colon == s)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return -EINVAL;
		h = s + 1;
		n -= 2;
	} else if (memchr(s, ':', n)) {
		return -EINVAL;		/* an IPv6 address needs its brackets */
	}
	if (n >= hlen)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (h[i] <= ' ' || h[i] >= 0x7f || h[i] == ',')
			return -EINVAL;
	if (parse_u64_arg(colon + 1, 1, 65535, &p))
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}

int peer_arg(const char *prog, const char *opt, const char *val, const char **out)
{
	char host[256];
	uint16_t port;

	if (split_hostport(val, host, sizeof(host), &port)) {
		fprintf(stderr, "%s: %s '%s': expected HOST:PORT or [V6ADDR]:PORT with a port 1..65535\n",
			prog, opt, val);
		return EXIT_USAGE;
	}
	*out = val;
	return 0;
}

int bad_value(const char *prog, const char *opt, const char *val, int err, const char *range)
{
	fprintf(stderr, "%s: %s '%s': %s; expected %s\n", prog, opt, val ? val : "",
		err == -ERANGE ? "out of range" : "not valid", range);
	return EXIT_USAGE;
}
