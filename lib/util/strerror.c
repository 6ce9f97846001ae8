// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Messages for the negative errno values the library returns.  Where the
 * registry gives an errno a meaning of its own, the message says what
 * happened in mcxfer's terms; everything else gets the C library's text.
 */
#define _GNU_SOURCE	/* strerrordesc_np(): thread-safe, static strings */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "util/util.h"

static const struct {
	int err;
	const char *msg;
} mcx_msgs[] = {
	{ ENODEV, "no such device: the mcxfer registry device is missing (is the mcxfer module loaded?), or an engine found no usable RDMA device port" },
	{ ENOSPC, "registry cap on pinned bytes/entries reached and nothing idle to evict (or: an RDMA device's MR limit, or the batch is full)" },
	{ EDQUOT, "per-user registry cap on pinned bytes/entries reached and nothing idle of yours to evict" },
	{ EBUSY, "registry entry is still referenced (or: the batch is still in progress)" },
	{ ENOENT, "no such registry entry (or it is not shared with you)" },
	{ EEXIST, "name taken by another entry, range already pinned under another name, or an MR already published for this device" },
	{ EACCES, "permission denied (registry device mode, or the entry's share mode; or a peer or listener that failed pre-shared-key authentication)" },
	{ EPERM, "not allowed: needs the entry's owner (or CAP_SYS_ADMIN)" },
	{ ENOTTY, "the registry device does not know this command (module and library versions differ?)" },
	{ E2BIG, "argument struct larger than the module supports (library newer than module)" },
	{ EPROTO, "unexpected answer from the mcxfer module (ABI mismatch?), or from a peer (another wire version?)" },
	{ ENAMETOOLONG, "name too long (at most 63 bytes)" },
	{ EOVERFLOW, "offset + length overflows" },
	{ EBADF, "bad file descriptor (not an open dma-buf or uverbs fd?)" },
	{ EIDRM, "registry entry or registration is dead (revoked by its owner, invalidated by its exporter, or its device is gone)" },
	{ ESTALE, "peer metadata older than the engine it names (the peer restarted or changed its devices)" },
	{ EOWNERDEAD, "engine created by another process: after fork() the child must create its own engine" },
};

MCX_EXPORT const char *mcx_strerror(int err)
{
	const char *msg;

	if (err == 0)
		return "success";
	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(mcx_msgs) / sizeof(mcx_msgs[0]); i++)
		if (mcx_msgs[i].err == err)
			return mcx_msgs[i].msg;
	msg = strerrordesc_np(err);
	return msg ? msg : "unknown error";
}
