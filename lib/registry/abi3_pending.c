// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Placeholders for the ABI 3 registry calls until their client
 * (registry.c) implements them: weak, so that the real definitions win as
 * soon as they are linked in.  Delete this file then.
 */
#include <errno.h>

#include "registry/registry.h"

__attribute__((weak)) MCX_EXPORT int mcx_registry_get_ctx(struct mcx_registry *reg,
							 const char *ibdev, int *uverbs_fd,
							 uint32_t *pd_handle, uint64_t *ctx_id)
{
	(void)reg;
	(void)ibdev;
	(void)pd_handle;
	(void)ctx_id;
	if (uverbs_fd)
		*uverbs_fd = -1;
	return -EOPNOTSUPP;
}

__attribute__((weak)) MCX_EXPORT int mcx_registry_publish_ctx(struct mcx_registry *reg,
							     int uverbs_fd, uint32_t pd_handle,
							     uint64_t *ctx_id)
{
	(void)reg;
	(void)uverbs_fd;
	(void)pd_handle;
	(void)ctx_id;
	return -EOPNOTSUPP;
}

__attribute__((weak)) MCX_EXPORT int mcx_registry_query_device(struct mcx_registry *reg,
							      const char *ibdev,
							      struct mcx_reg_device *out)
{
	(void)reg;
	(void)ibdev;
	(void)out;
	return -EOPNOTSUPP;
}
