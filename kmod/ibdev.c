// SPDX-License-Identifier: GPL-2.0
/*
 * RDMA devices: the ib_client that tells the registry when a device goes
 * away, name lookups for PIN and GET_CTX, and QUERY_DEVICE.
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
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <rdma/ib_cache.h>
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

/* The PCI function at or above dev, referenced; NULL when there is none. */
static struct pci_dev *mcx_pci_above(struct device *dev)
{
	for (; dev; dev = dev->parent) {
		if (dev_is_pci(dev))
			return pci_dev_get(to_pci_dev(dev));
	}
	return NULL;
}

/*
 * The PCI function doing a device's DMA.  A software device (rxe, siw)
 * DMAs through its own struct device, so its PCI function is that of the
 * network device it runs over, which the core keeps only in its GID
 * table (ib_device_get_netdev() is not exported everywhere): GID 0 of a
 * RoCE port always carries the port's netdev.
 */
static struct pci_dev *mcx_ibdev_pci(struct ib_device *dev)
{
	const struct ib_gid_attr *attr;
	struct net_device *ndev;
	struct pci_dev *pdev;
	u32 port;

	pdev = mcx_pci_above(dev->dma_device);
	if (pdev)
		return pdev;
	rdma_for_each_port(dev, port) {
		attr = rdma_get_gid_attr(dev, port, 0);
		if (IS_ERR(attr))
			continue;
		rcu_read_lock();
		ndev = rdma_read_gid_attr_ndev_rcu(attr);
		/* the netdev, while RCU keeps it, keeps its parents */
		pdev = IS_ERR_OR_NULL(ndev) ? NULL :
			mcx_pci_above(ndev->dev.parent);
		rcu_read_unlock();
		rdma_put_gid_attr(attr);
		if (pdev)
			return pdev;
	}
	return NULL;
}

/*
 * QUERY_DEVICE for name as the network namespace net sees it: -ENODEV
 * when it does not.  Relaxed Ordering is read from config space, which
 * the PCI core lets us do whatever the caller's privileges: that is the
 * point of asking the module.
 */
int mcx_ibdev_query(const char *name, const struct net *net,
		    struct mcxfer_device_info *out)
{
	struct ib_device *dev;
	struct pci_dev *pdev;
	int node;

	dev = ib_device_get_by_name(name, RDMA_DRIVER_UNKNOWN);
	if (!dev)
		return -ENODEV;
	if (!rdma_dev_access_netns(dev, net)) {
		ib_device_put(dev);
		return -ENODEV;
	}
	pdev = mcx_ibdev_pci(dev);
	node = dev_to_node(pdev ? &pdev->dev : dev->dma_device);
	ib_device_put(dev);

	out->relaxed_ordering = MCXFER_RO_NO_PCI;
	out->numa_node = node >= 0 ? node + 1 : 0;
	memset(out->pci_name, 0, sizeof(out->pci_name));
	if (!pdev)
		return 0;
	if (!pci_is_pcie(pdev))
		out->relaxed_ordering = MCXFER_RO_DISABLED;
	else if (pcie_relaxed_ordering_enabled(pdev))
		out->relaxed_ordering = MCXFER_RO_ENABLED;
	else
		out->relaxed_ordering = MCXFER_RO_DISABLED;
	strscpy((char *)out->pci_name, pci_name(pdev), sizeof(out->pci_name));
	pci_dev_put(pdev);
	return 0;
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
