// SPDX-License-Identifier: GPL-2.0
/*
 * RDMA devices: the ib_client that tells the registry when a device goes
 * away, and name lookups for PIN.
 *
 * The registry never holds an ib_device reference: a held reference makes
 * the device's unregistration wait before it calls the clients' remove
 * callbacks, so it would wait forever for us.  Entries keep only the
 * device's DMA device (a struct device reference) and its pointer as an
 * identity.  To make sure no entry or MR is added for a device after its
 * removal ran, we keep the set of devices our add callback saw; the
 * registry checks it (mcx_ibdev_alive) under reg->lock before it adds
 * anything, and the remove callback takes the device out of the set before
 * it asks the registry to drop what depends on the device.
 *
 * Lock order: reg->lock, then mcx_ibdev_mutex.  The remove callback takes
 * them one after the other, never nested.
 */

#include <linux/device.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <rdma/ib_verbs.h>

#include "internal.h"

struct mcx_ibdev {
	struct list_head node;
	struct ib_device *dev;
};

static DEFINE_MUTEX(mcx_ibdev_mutex);
static LIST_HEAD(mcx_ibdevs);

static void mcx_ibdev_lock(void)
{
	mutex_lock(&mcx_ibdev_mutex);
}

static void mcx_ibdev_unlock(void)
{
	mutex_unlock(&mcx_ibdev_mutex);
}

static bool mcx_ibdev_alive_locked(const struct ib_device *dev)
{
	struct mcx_ibdev *d;

	lockdep_assert_held(&mcx_ibdev_mutex);
	list_for_each_entry(d, &mcx_ibdevs, node) {
		if (d->dev == dev)
			return true;
	}
	return false;
}

bool mcx_ibdev_alive(struct mcx_registry *reg, const void *target)
{
	bool alive;

	mcx_ibdev_lock();
	alive = mcx_ibdev_alive_locked(target);
	mcx_ibdev_unlock();
	return alive;
}

static int mcx_ib_add(struct ib_device *dev)
{
	struct mcx_ibdev *d;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->dev = dev;
	mcx_ibdev_lock();
	list_add_tail(&d->node, &mcx_ibdevs);
	mcx_ibdev_unlock();
	return 0;
}

static void mcx_ib_remove(struct ib_device *dev, void *client_data)
{
	struct mcx_ibdev *d, *tmp;

	mcx_ibdev_lock();
	list_for_each_entry_safe(d, tmp, &mcx_ibdevs, node) {
		if (d->dev == dev) {
			list_del(&d->node);
			kfree(d);
		}
	}
	mcx_ibdev_unlock();
	mcx_reg_target_removed(&mcx_reg, dev);
}

static struct ib_client mcx_ib_client = {
	.name = "mcxfer",
	.add = mcx_ib_add,
	.remove = mcx_ib_remove,
	/* we use no kernel verbs: see devices that offer only user verbs */
	.no_kverbs_req = true,
};

/*
 * Resolves an RDMA device name for PIN in the network namespace net: a
 * device that namespace cannot see is -ENODEV, as if it did not exist.
 * *target is its identity and *dma_dev (referenced, put it) its DMA
 * device, which for a software device is the ib_device's own.
 */
int mcx_ibdev_resolve(const char *name, const struct net *net,
		      struct ib_device **target, struct device **dma_dev)
{
	struct ib_device *dev;
	int ret = 0;

	dev = ib_device_get_by_name(name, RDMA_DRIVER_UNKNOWN);
	if (!dev)
		return -ENODEV;
	if (!rdma_dev_access_netns(dev, net)) {
		ret = -ENODEV;
		goto out;
	}
	*target = dev;
	*dma_dev = dev->dma_device ? get_device(dev->dma_device) : NULL;
out:
	ib_device_put(dev);
	return ret;
}

int mcx_ibdev_init(void)
{
	return ib_register_client(&mcx_ib_client);
}

void mcx_ibdev_exit(void)
{
	/* calls mcx_ib_remove() for every device still there */
	ib_unregister_client(&mcx_ib_client);
}
