// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Writes the golden vectors of wire format version 2: each canonical message
 * of wire_v2_canon.h, encoded by the library, into OUTDIR/<type>.bin.
 *
 * It is not part of the test runner, and it is not meant to be run again:
 * the checked-in v2/ files are the reference, and test_wire_golden.c checks
 * that today's encoders still produce them byte for byte.  (The v1/ files
 * were written by this program as it was at commit 42592cf, from
 * wire_v1_canon.h, against the version 1 codec; see README.)  It refuses to
 * overwrite an existing file, so it cannot quietly replace a vector; to see
 * that it still agrees with them, write into an empty directory and compare.
 * It needs only the codec, not the whole library.  From the top of the tree:
 *
 *   cc -std=c11 -Wall -Wextra -Werror -Iinclude -Ilib -o build/gen-wire-vectors \
 *      tests/unit/golden/gen-wire-vectors.c lib/ctrl/wire.c -lpthread
 *   d=$(mktemp -d) && build/gen-wire-vectors "$d" && diff -r "$d" tests/unit/golden/v2
 *
 * Usage: gen-wire-vectors OUTDIR.  Exits 0 when every vector was written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wire_v2_canon.h"

/*
 * The encoders write MCX_WIRE_VERSION into every header; once that is no
 * longer 2 this program would write another version's bytes under v2/.
 */
#if MCX_WIRE_VERSION != 2
#error "wire format is no longer version 2: the v2 vectors are frozen; see tests/unit/golden/README for making the next version's set"
#endif

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char buf[WIRE_V2_MAX_LEN];
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(wire_v2_vectors) / sizeof(wire_v2_vectors[0]); i++) {
		const struct wire_v2_vector *v = &wire_v2_vectors[i];
		ssize_t len = wire_v2_encode(v, buf, sizeof(buf));
		int fd, ret;

		if (len < 0) {
			fprintf(stderr, "%s: encoding failed: %s\n", v->file,
				strerror((int)-len));
			return 1;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", argv[1], v->file) >= sizeof(path)) {
			fprintf(stderr, "%s/%s: path too long\n", argv[1], v->file);
			return 1;
		}
		/* O_EXCL: an existing vector is never replaced. */
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "%s: %s%s\n", path, strerror(errno),
				errno == EEXIST ? " (golden vectors are never regenerated)" : "");
			return 1;
		}
		ret = write_all(fd, buf, (size_t)len);
		if (close(fd) && !ret)
			ret = -errno;
		if (ret) {
			fprintf(stderr, "%s: %s\n", path, strerror(-ret));
			unlink(path);
			return 1;
		}
		printf("%s: %s, %zd bytes\n", path, mcx__wire_type_name(v->type), len);
	}
	return 0;
}
