// SPDX-License-Identifier: GPL-2.0
/*
 * MR broker: PUBLISH_MR keeps a reference to the uverbs command file the
 * MR was made through, so the PD and MR (objects of that file's context)
 * outlive the process that made them.  GET_MR hands out a new fd of the
 * same file (see ioctl.c); with it, ibv_import_device() and friends give
 * another process the same PD and MR.
 */

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <rdma/ib_verbs.h>

#include "internal.h"

/*
 * Is file a uverbs command file?  Only if it is a character device whose
 * cdev belongs to a device of ib_uverbs's class, "infiniband_verbs":
 * open() of such a node runs uverbs's own open, so private_data is an
 * ib_uverbs_file.  The char major tells nothing (umad and issm share 231
 * when built in, and uverbs also takes dynamic majors); the async event
 * files of uverbs are anonymous inodes and do not qualify.
 */
static struct device *mcx_uverbs_dev(struct file *file)
{
	struct inode *inode = file_inode(file);
	struct device *udev;

	if (!S_ISCHR(inode->i_mode) || !inode->i_cdev ||
	    !inode->i_cdev->kobj.parent)
		return NULL;
	udev = kobj_to_dev(inode->i_cdev->kobj.parent);
	if (!udev->class || strcmp(udev->class->name, "infiniband_verbs"))
		return NULL;
	return udev;
}

/*
 * The name of the RDMA device behind a uverbs file, read through the
 * "ibdev" attribute of its uverbs device (the stable sysfs ABI of
 * /sys/class/infiniband_verbs/uverbsN/ibdev).  ib_uverbs keeps the
 * device pointer of a uverbs file under an SRCU of its own, in structures
 * private to it; its show function is the one exported way to read the
 * device under that SRCU.  (The same SRCU is why this module does not
 * call ib_uverbs_get_ucontext_file(): its caller must hold that lock,
 * which no other module can take.  Whether the file has a context is the
 * importer's business: ibv_import_device() fails without one.)  The open
 * file pins its cdev, whose parent is that uverbs device.
 */
static int mcx_uverbs_ibdev_name(struct device *udev, char *name,
				 size_t size)
{
	const struct attribute_group **grp;
	struct device_attribute *dattr = NULL;
	struct attribute **attr;
	char *page;
	ssize_t len;
	int ret;

	for (grp = udev->groups; grp && *grp && !dattr; grp++) {
		for (attr = (*grp)->attrs; attr && *attr; attr++) {
			if (!strcmp((*attr)->name, "ibdev")) {
				dattr = container_of(*attr,
						     struct device_attribute,
						     attr);
				break;
			}
		}
	}
	if (!dattr || !dattr->show)
		return -EOPNOTSUPP;

	/* show functions write through sysfs_emit(), which wants a page */
	page = (char *)__get_free_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	len = dattr->show(udev, dattr, page);
	if (len <= 0) {
		/* the device was disassociated */
		ret = len < 0 ? (int)len : -ENODEV;
		goto out;
	}
	page[min_t(size_t, len, PAGE_SIZE - 1)] = '\0';
	strim(page);
	ret = -ENAMETOOLONG;
	if (strscpy(name, page, size) > 0)
		ret = 0;
out:
	free_page((unsigned long)page);
	return ret;
}

/*
 * Finds the RDMA device of a uverbs file: *dev is its identity (compared,
 * never dereferenced later) and name its name.  The name read from the
 * file is resolved in the opener's network namespace and must name the
 * same device before and after the lookup, with the same parent as the
 * uverbs device, so that a rename in between cannot swap devices.  The
 * device must still be in our live set, so that an MR is never added for
 * a device whose removal already ran.
 */
static int mcx_uverbs_device(struct device *udev, const struct net *net,
			     const void **dev, char *name, size_t size)
{
	char again[MCXFER_IBDEV_NAME_MAX];
	struct ib_device *ibdev;
	int ret;

	ret = mcx_uverbs_ibdev_name(udev, name, size);
	if (ret)
		return ret;
	ibdev = ib_device_get_by_name(name, RDMA_DRIVER_UNKNOWN);
	if (!ibdev)
		return -ENODEV;
	ret = -ENODEV;
	if (!rdma_dev_access_netns(ibdev, net) ||
	    ibdev->dev.parent != udev->parent)
		goto out;
	ret = mcx_uverbs_ibdev_name(udev, again, sizeof(again));
	if (ret)
		goto out;
	ret = -ENODEV;
	if (strcmp(again, name) || !mcx_ibdev_alive(&mcx_reg, ibdev))
		goto out;
	*dev = ibdev;
	ret = 0;
out:
	ib_device_put(ibdev);
	return ret;
}

/*
 * The checks every uverbs file handed to us passes (PUBLISH_MR,
 * PUBLISH_CTX): fd is a uverbs command file (-EBADF, -EINVAL), opened with
 * the fsuid of /dev/mcxfer's opener (-EPERM: no laundering of somebody
 * else's context onto our records), of a device the opener's network
 * namespace sees and still alive (-ENODEV, -EIO).  On success *file is
 * referenced, *dev and name identify its device.
 */
int mcx_uverbs_get(struct mcx_file *f, u32 fd, struct file **file,
		   const void **dev, char *name, size_t size)
{
	struct device *udev;
	struct file *filp;
	int ret;

	filp = fget(fd);
	if (!filp)
		return -EBADF;
	ret = -EINVAL;
	udev = mcx_uverbs_dev(filp);
	if (!udev)
		goto err;
	ret = -EPERM;
	if (!uid_eq(filp->f_cred->fsuid, f->who.uid))
		goto err;
	ret = mcx_uverbs_device(udev, f->net, dev, name, size);
	if (ret)
		goto err;
	*file = filp;
	return 0;
err:
	fput(filp);
	return ret;
}

/*
 * PUBLISH_MR.  Errors: those of mcx_uverbs_get(), -EPERM (the caller does
 * not own the entry), -ENOENT (the caller holds no reference on the
 * entry), -EIDRM (dead entry), -EINVAL (empty range or not inside the
 * entry), -EEXIST (overlaps an MR of the same device).
 */
int mcx_mr_publish(struct mcx_file *f, struct mcxfer_publish_mr *arg)
{
	struct mcx_fput *rel;
	struct mcx_mr *mr;
	struct file *file;
	u64 mr_id = 0;
	int ret;

	ret = -ENOMEM;
	mr = kzalloc(sizeof(*mr), GFP_KERNEL_ACCOUNT);
	if (!mr)
		return ret;
	rel = kzalloc(sizeof(*rel), GFP_KERNEL_ACCOUNT);
	if (!rel)
		goto err_mr;
	ret = mcx_uverbs_get(f, arg->uverbs_fd, &file, &mr->dev, mr->dev_name,
			     sizeof(mr->dev_name));
	if (ret)
		goto err_rel;
	mr->file = file;
	mr->priv = rel;
	mr->pd_handle = arg->pd_handle;
	mr->mr_handle = arg->mr_handle;
	mr->lkey = arg->lkey;
	mr->rkey = arg->rkey;
	mr->access = arg->access;
	mr->iova = arg->iova;
	mr->offset = arg->offset;
	mr->length = arg->length;
	ret = mcx_reg_publish_mr(&f->c, &f->who, arg->id, mr, &mr_id);
	if (ret)
		goto err_file;
	arg->mr_id = mr_id;
	return 0;

err_file:
	fput(file);
err_rel:
	kfree(rel);
err_mr:
	kfree(mr);
	return ret;
}
