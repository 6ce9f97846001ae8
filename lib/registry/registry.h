/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lib/registry: the client of /dev/mcxfer (the public mcx_registry_* calls)
 * and the helpers the unit tests reach.
 */
#ifndef MCXFER_LIB_REGISTRY_REGISTRY_H
#define MCXFER_LIB_REGISTRY_REGISTRY_H

#include "util/util.h"

/* ---- registry.c ---- */

/*
 * Check an entry name against the rule of the ABI: 0, -EINVAL (empty, bad
 * character or first character) or -ENAMETOOLONG.
 */
int mcx__check_name(const char *name);
/* Check an RDMA device name: 0, -EINVAL or -ENAMETOOLONG. */
int mcx__check_ibdev(const char *ibdev);

/*
 * Wrap an already open fd in a registry handle without checking it (the
 * handle owns the fd from then on).  For the unit tests, which point it at
 * /dev/null to prove that argument checks run before any ioctl.
 */
int mcx__registry_from_fd(int fd, struct mcx_registry **out);

/*
 * Replace ioctl(2) for this handle by fn, which returns 0 or -errno.  For
 * the unit tests, which play the kernel's part to check how requests are
 * built and answers (list pages, out flags, strings) are read.
 */
typedef int (*mcx__ioctl_fn)(int fd, unsigned long cmd, void *arg);
void mcx__registry_set_ioctl(struct mcx_registry *reg, mcx__ioctl_fn fn);
/* Make the handle act as for a module of that ABI (mcx_registry_open's GET_INFO). */
void mcx__registry_set_abi(struct mcx_registry *reg, uint32_t abi_version);

#endif /* MCXFER_LIB_REGISTRY_REGISTRY_H */
