// SPDX-License-Identifier: GPL-2.0 OR MIT
/* One transfer, waited for (see single_xfer.h). */
#include "single_xfer.h"

#include <errno.h>

int single_xfer(struct mcx_engine *eng, struct mcx_peer *peer, enum mcx_op op, void *local,
		uint64_t remote, size_t len)
{
	struct mcx_batch *b;
	struct mcx_status st;
	int ret;

	ret = mcx_batch_create(eng, 1, &b);
	if (ret)
		return ret;
	ret = mcx_batch_add(b, op, peer, local, remote, len, 0);
	if (!ret)
		ret = mcx_batch_submit(b);
	if (!ret)
		ret = mcx_batch_wait(b, -1);
	if (ret && mcx_batch_status(b, &st, 1) == 1 && st.status && st.status != -EINPROGRESS)
		ret = st.status;
	mcx_batch_free(b);
	return ret;
}
