// SPDX-License-Identifier: GPL-2.0
/*
 * MR broker: PUBLISH_MR keeps a reference to the uverbs command file the
 * MR was made through, so the PD and MR (objects of that file's context)
 * outlive the process that made them.  GET_MR hands out a new fd of the
 * same file (see ioctl.c); with it, ibv_import_device() and friends give
 * another process the same PD and MR.
 */

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/slab.h>
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

#ifdef MCX_HAVE_UVERBS_UCONTEXT_FILE
static struct ib_ucontext *mcx_ucontext(struct file *file)
{
	return ib_uverbs_get_ucontext_file(file->private_data);
}
#else
/* a kernel without it gives no safe way to read a uverbs file's context */
static struct ib_ucontext *mcx_ucontext(struct file *file)
{
	return ERR_PTR(-EOPNOTSUPP);
}
#endif

/*
 * Finds the RDMA device of a uverbs file with a context.  The ucontext is
 * read with mcx_ibdev_mutex held and the device checked against our live
 * set: our ib_client was registered after the uverbs one (we depend on
 * ib_uverbs), and remove callbacks run in reverse registration order, so
 * while the device is in our set the uverbs remove callback, which is what
 * tears the context down on disassociation, has not run for it.
 *
 * ib_uverbs_get_ucontext_file() wants the uverbs device's disassociate SRCU
 * held, which lives in a structure private to ib_uverbs.  We cannot take
 * it; the order above is what keeps the context alive instead, and only
 * the returned pointer and its device are read.  A kernel with
 * CONFIG_PROVE_RCU may report the unprotected dereference.
 */
static int mcx_uverbs_device(struct file *file, const void **dev,
			     char *name, size_t size)
{
	struct ib_ucontext *uctx;
	int ret = 0;

	mcx_ibdev_lock();
	uctx = mcx_ucontext(file);
	if (IS_ERR(uctx)) {
		/* -EINVAL: no context yet; -EIO: the device is gone */
		ret = PTR_ERR(uctx);
		goto out;
	}
	if (!mcx_ibdev_alive_locked(uctx->device)) {
		ret = -ENODEV;
		goto out;
	}
	*dev = uctx->device;
	strscpy(name, dev_name(&uctx->device->dev), size);
out:
	mcx_ibdev_unlock();
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
