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
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <rdma/ib_verbs.h>

#include "internal.h"
#include "mcxfer_config.h"

/* the fixed char major of /dev/infiniband/uverbs* (ib_uverbs) */
#define MCX_UVERBS_MAJOR	231

/*
 * Is file a uverbs command file?  Its char device belongs to ib_uverbs, or,
 * when ib_uverbs is built in (no owning module), has the uverbs major.  The
 * async event files of uverbs are anonymous inodes and do not qualify.
 */
static bool mcx_is_uverbs_file(struct file *file)
{
	struct inode *inode = file_inode(file);
	struct module *owner = file->f_op->owner;

	if (!S_ISCHR(inode->i_mode) || !file->private_data)
		return false;
	if (owner)
		return !strcmp(module_name(owner), "ib_uverbs");
	return imajor(inode) == MCX_UVERBS_MAJOR;
}

/*
 * Does the uverbs file have a context?  Only the pointer is tested, never
 * dereferenced: ib_uverbs_get_ucontext_file() wants the uverbs device's
 * disassociate SRCU held, and that lives in a structure private to
 * ib_uverbs, so the context may be torn down under us.
 */
#ifdef MCX_HAVE_UVERBS_UCONTEXT_FILE
static int mcx_uverbs_has_context(struct file *file)
{
	/* -EINVAL: no context yet; -EIO: the device is gone */
	return PTR_ERR_OR_ZERO(ib_uverbs_get_ucontext_file(file->private_data));
}
#else
static int mcx_uverbs_has_context(struct file *file)
{
	return -EOPNOTSUPP;
}
#endif

/*
 * The name of the RDMA device behind a uverbs file, read through the
 * "ibdev" attribute of its uverbs device (the stable sysfs ABI of
 * /sys/class/infiniband_verbs/uverbsN/ibdev).  ib_uverbs's show function
 * holds the disassociate SRCU while it looks at the device, which we could
 * not do ourselves.  The open file pins its cdev, whose parent is that
 * uverbs device.
 */
static int mcx_uverbs_ibdev_name(struct file *file, char *name, size_t size)
{
	struct cdev *cdev = file_inode(file)->i_cdev;
	const struct attribute_group **grp;
	struct device_attribute *dattr = NULL;
	struct attribute **attr;
	struct device *udev;
	char *page;
	ssize_t len;
	int ret;

	if (!cdev || !cdev->kobj.parent)
		return -EINVAL;
	udev = kobj_to_dev(cdev->kobj.parent);
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
 * Finds the RDMA device of a uverbs file with a context: *dev is its
 * identity (compared, never dereferenced later) and name its name.  The
 * device must still be in our live set, so that an MR is never added for
 * a device whose removal already ran.
 */
static int mcx_uverbs_device(struct file *file, const void **dev,
			     char *name, size_t size)
{
	struct ib_device *ibdev;
	int ret;

	ret = mcx_uverbs_has_context(file);
	if (ret)
		return ret;
	ret = mcx_uverbs_ibdev_name(file, name, size);
	if (ret)
		return ret;
	ibdev = ib_device_get_by_name(name, RDMA_DRIVER_UNKNOWN);
	if (!ibdev)
		return -ENODEV;
	if (!mcx_ibdev_alive(&mcx_reg, ibdev))
		ret = -ENODEV;
	else
		*dev = ibdev;
	ib_device_put(ibdev);
	return ret;
}

/*
 * PUBLISH_MR.  Errors: -EBADF (not an fd), -EINVAL (not a uverbs command
 * file, no context, bad length), -EIO/-ENODEV (device gone), -ENOENT (the
 * caller holds no reference on the entry), -EEXIST (one MR per device).
 */
int mcx_mr_publish(struct mcx_client *c, struct mcxfer_publish_mr *arg)
{
	struct mcx_fput *rel;
	struct mcx_mr *mr;
	struct file *file;
	u64 mr_id = 0;
	int ret;

	file = fget(arg->uverbs_fd);
	if (!file)
		return -EBADF;
	ret = -EINVAL;
	if (!mcx_is_uverbs_file(file))
		goto err_file;

	ret = -ENOMEM;
	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		goto err_file;
	rel = kzalloc(sizeof(*rel), GFP_KERNEL);
	if (!rel)
		goto err_mr;

	ret = mcx_uverbs_device(file, &mr->dev, mr->dev_name,
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
	mr->length = arg->length;
	ret = mcx_reg_publish_mr(c, arg->id, mr, &mr_id);
	if (ret)
		goto err_rel;
	arg->mr_id = mr_id;
	return 0;

err_rel:
	kfree(rel);
err_mr:
	kfree(mr);
err_file:
	fput(file);
	return ret;
}
