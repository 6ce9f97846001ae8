// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Strict parsing of configuration values (environment variables and, later,
 * option strings).  strtoull() alone would accept leading blanks, a '-' that
 * wraps around, and an empty string as 0; every one of those is a mistake by
 * the user that must be reported, so the digits are checked by hand.
 *
 * When `var` is not NULL, a rejected value is logged with the variable's
 * name and what would have been accepted.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

/* Digits of base 10 or 16 only, at least one, nothing after them. */
static int parse_digits(const char *s, unsigned int base, uint64_t *out)
{
	uint64_t v = 0;
	int overflow = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			return -EINVAL;
		/* Keep scanning after an overflow: junk still wins over range. */
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

static int parse_unsigned(const char *s, uint64_t *out)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return parse_digits(s + 2, 16, out);
	return parse_digits(s, 10, out);
}

int mcx__parse_u64(const char *var, const char *s, uint64_t min, uint64_t max,
		   uint64_t *out)
{
	uint64_t v;
	int ret;

	if (!s || !out)
		return -EINVAL;
	ret = parse_unsigned(s, &v);
	if (ret == 0 && (v < min || v > max))
		ret = -ERANGE;
	if (ret) {
		if (var)
			mcx__err("%s=\"%s\": expected an integer from %llu to %llu%s",
				 var, s, (unsigned long long)min, (unsigned long long)max,
				 ret == -ERANGE ? " (out of range)" : "");
		return ret;
	}
	*out = v;
	return 0;
}

int mcx__parse_i64(const char *var, const char *s, int64_t min, int64_t max,
		   int64_t *out)
{
	uint64_t mag;
	int64_t v = 0;
	int neg, ret;

	if (!s || !out)
		return -EINVAL;
	neg = s[0] == '-';
	ret = parse_digits(s + neg, 10, &mag);
	if (ret == 0) {
		if (!neg && mag > (uint64_t)INT64_MAX)
			ret = -ERANGE;
		else if (neg && mag > (uint64_t)INT64_MAX + 1)
			ret = -ERANGE;
		else if (neg)
			v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
		else
			v = (int64_t)mag;
	}
	if (ret == 0 && (v < min || v > max))
		ret = -ERANGE;
	if (ret) {
		if (var)
			mcx__err("%s=\"%s\": expected an integer from %lld to %lld%s",
				 var, s, (long long)min, (long long)max,
				 ret == -ERANGE ? " (out of range)" : "");
		return ret;
	}
	*out = v;
	return 0;
}

int mcx__parse_size(const char *var, const char *s, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	char digits[32];
	unsigned int shift = 0;
	size_t len;
	uint64_t v;
	int ret;

	if (!s || !out)
		return -EINVAL;
	len = strlen(s);
	if (len > 0) {
		switch (s[len - 1]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		}
	}
	if (shift)
		len--;
	if (len >= sizeof(digits)) {
		/* Longer than any 64-bit number: junk or overflow, find out which. */
		ret = -ERANGE;
		for (size_t i = 0; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				ret = -EINVAL;
		goto bad;
	}
	memcpy(digits, s, len);
	digits[len] = '\0';
	ret = parse_digits(digits, 10, &v);
	if (ret)
		goto bad;
	if (shift && v > (UINT64_MAX >> shift)) {
		ret = -ERANGE;
		goto bad;
	}
	v <<= shift;
	if (v < min || v > max) {
		ret = -ERANGE;
		goto bad;
	}
	*out = v;
	return 0;
bad:
	if (var)
		mcx__err("%s=\"%s\": expected a byte count from %llu to %llu, optionally with K, M, G or T%s",
			 var, s, (unsigned long long)min, (unsigned long long)max,
			 ret == -ERANGE ? " (out of range)" : "");
	return ret;
}

int mcx__parse_bool(const char *var, const char *s, int *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	if (!s || !out)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	if (var)
		mcx__err("%s=\"%s\": expected a boolean: 1/0, true/false, yes/no or on/off",
			 var, s);
	return -EINVAL;
}

int mcx__parse_enum(const char *var, const char *s, const char *const *names,
		    size_t n, unsigned int *out)
{
	char list[256];
	size_t used = 0;

	if (!s || !names || !n || !out)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (names[i] && !strcasecmp(s, names[i])) {
			*out = (unsigned int)i;
			return 0;
		}
	}
	if (!var)
		return -EINVAL;
	list[0] = '\0';
	for (size_t i = 0; i < n && used < sizeof(list); i++) {
		int w;

		if (!names[i])
			continue;
		w = snprintf(list + used, sizeof(list) - used, "%s%s",
			     used ? ", " : "", names[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	mcx__err("%s=\"%s\": expected one of: %s", var, s, list);
	return -EINVAL;
}

/* 0 when unset, 1 when parsed, -errno otherwise. */
#define ENV_WRAP(parse_call)			\
	do {					\
		const char *s = getenv(var);	\
		int ret;			\
						\
		if (!s)				\
			return 0;		\
		ret = (parse_call);		\
		return ret ? ret : 1;		\
	} while (0)

int mcx__env_u64(const char *var, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!var)
		return -EINVAL;
	ENV_WRAP(mcx__parse_u64(var, s, min, max, out));
}

int mcx__env_i64(const char *var, int64_t min, int64_t max, int64_t *out)
{
	if (!var)
		return -EINVAL;
	ENV_WRAP(mcx__parse_i64(var, s, min, max, out));
}

int mcx__env_size(const char *var, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!var)
		return -EINVAL;
	ENV_WRAP(mcx__parse_size(var, s, min, max, out));
}

int mcx__env_bool(const char *var, int *out)
{
	if (!var)
		return -EINVAL;
	ENV_WRAP(mcx__parse_bool(var, s, out));
}

int mcx__env_enum(const char *var, const char *const *names, size_t n,
		  unsigned int *out)
{
	if (!var)
		return -EINVAL;
	ENV_WRAP(mcx__parse_enum(var, s, names, n, out));
}

int mcx__check_fabric_provider(const char *var, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	int ok = len > 0 && len < 32 && s[0] != ';' && s[len - 1] != ';';

	for (const char *c = s; ok && *c; c++)
		ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		     (*c >= '0' && *c <= '9') || *c == '_' || *c == ';';
	if (!ok) {
		mcx__err("%s=\"%s\": expected \"auto\" or a libfabric provider name such as \"efa\", \"verbs;ofi_rxm\", \"tcp;ofi_rxm\" or \"shm\" (1..31 characters of [A-Za-z0-9_;])",
			 var, s ? s : "");
		return -EINVAL;
	}
	return 0;
}

/* Parse "host:port" (util.h). */
int mcx__parse_hostport(const char *var, const char *s, char *host,
			size_t hostlen, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hl;
	uint64_t p;

	if (!s || !host || !port || hostlen == 0)
		return -EINVAL;
	if (s[0] == '[') {
		/* [v6]:port */
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			goto bad;
		h = s + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			goto bad;	/* none, or a bare IPv6 address */
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		goto bad;
	for (size_t i = 0; i < hl; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == ':' || c == '_' || c == '%'))
			goto bad;
	}
	if (mcx__parse_u64(NULL, colon + 1, 0, 65535, &p))
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
bad:
	if (var)
		mcx__err("%s=\"%s\": expected host:port (an IPv4 address, [IPv6] address or host name, and a port 0..65535)",
			 var, s);
	return -EINVAL;
}
