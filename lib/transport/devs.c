// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The set of devices an engine uses, whatever the transport: opened once at
 * engine creation, read-only afterwards except for the per-device progress
 * locks.
 */
#include <errno.h>
#include <string.h>

#include "transport/transport.h"

int mcx__devs_open(struct mcx_devs *d, const struct mcx_transport_ops *ops,
		   const struct mcx_tp_config *cfg)
{
	int ret;

	memset(d, 0, sizeof(*d));
	d->ops = ops;
	ret = ops->open(cfg, d->dev, d->attr, MCX_TP_MAX_DEVS, &d->n);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < d->n; i++)
		pthread_mutex_init(&d->progress_lock[i], NULL);
	return 0;
}

void mcx__devs_close(struct mcx_devs *d)
{
	while (d->n) {
		d->n--;
		d->ops->close(d->dev[d->n]);
		pthread_mutex_destroy(&d->progress_lock[d->n]);
		d->dev[d->n] = NULL;
	}
}

uint64_t mcx__devs_max_mr_size(const struct mcx_devs *d)
{
	uint64_t m = UINT64_MAX;

	for (uint32_t i = 0; i < d->n; i++)
		if (d->attr[i].max_mr_size && d->attr[i].max_mr_size < m)
			m = d->attr[i].max_mr_size;
	return m;
}
