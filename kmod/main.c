// SPDX-License-Identifier: GPL-2.0
/*
 * mcxfer: a registry of pinned dma-buf ranges and the RDMA MRs made on
 * them, shared across processes through /dev/mcxfer.
 *
 * This file has the misc device, the file operations of a client, the
 * module parameters and module init/exit.
 */

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/nsproxy.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>
#include <net/net_namespace.h>
#include <linux/workqueue.h>

#include "internal.h"
#include "mcxfer_config.h"

/* Longest linger time accepted: a week, far below any jiffies overflow. */
#define MCX_LINGER_MAX_MS	(7U * 24 * 3600 * 1000)

/*
 * Per-uid caps are on by default, so that one member of the mcxfer group
 * cannot pin the host's memory away from the others: half of system RAM
 * in pinned bytes (host exporters pin RAM; a GPU's device memory is
 * charged the same way and a GPU host has more RAM than device memory),
 * and 262144 entries (a registry entry costs well under a KiB of kernel
 * memory, charged to the pinner's memory cgroup).  The global caps stay
 * off: the per-uid ones bound every user, and an administrator sets them.
 */
#define MCX_USER_BYTES_FROM_RAM	U64_MAX
#define MCX_USER_MAX_ENTRIES	262144

struct mcx_registry mcx_reg = {
	.limits = {
		.linger_ms = 300000,
		.user_max_pinned_bytes = MCX_USER_BYTES_FROM_RAM,
		.user_max_entries = MCX_USER_MAX_ENTRIES,
	},
};

/* Set once the registry can take parameter changes. */
static bool mcx_ready;

static int mcx_param_set_linger(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;
	int ret;

	ret = kstrtouint(val, 0, &ms);
	if (ret)
		return ret;
	if (ms > MCX_LINGER_MAX_MS)
		return -ERANGE;
	WRITE_ONCE(*(unsigned int *)kp->arg, ms);
	/* entries lingering already are re-timed against the new value */
	if (READ_ONCE(mcx_ready))
		mcx_reg_kick(&mcx_reg);
	return 0;
}

static const struct kernel_param_ops mcx_param_linger_ops = {
	.set = mcx_param_set_linger,
	.get = param_get_uint,
};

/* Caps apply to the next PIN; entries already pinned are not evicted. */
static int mcx_param_set_cap(const char *val, const struct kernel_param *kp)
{
	u64 v;
	int ret;

	ret = kstrtou64(val, 0, &v);
	if (ret)
		return ret;
	WRITE_ONCE(*(u64 *)kp->arg, v);
	return 0;
}

static int mcx_param_get_cap(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%llu\n", READ_ONCE(*(u64 *)kp->arg));
}

static const struct kernel_param_ops mcx_param_cap_ops = {
	.set = mcx_param_set_cap,
	.get = mcx_param_get_cap,
};

module_param_cb(linger_ms, &mcx_param_linger_ops, &mcx_reg.limits.linger_ms,
		0644);
MODULE_PARM_DESC(linger_ms,
		 "How long an unreferenced entry stays pinned, in ms (0: drop at once; default 300000)");
module_param_cb(max_pinned_bytes, &mcx_param_cap_ops,
		&mcx_reg.limits.max_pinned_bytes, 0644);
MODULE_PARM_DESC(max_pinned_bytes, "Cap on pinned bytes, all users (0: none)");
module_param_cb(max_entries, &mcx_param_cap_ops, &mcx_reg.limits.max_entries,
		0644);
MODULE_PARM_DESC(max_entries, "Cap on entries, all users (0: none)");
module_param_cb(user_max_pinned_bytes, &mcx_param_cap_ops,
		&mcx_reg.limits.user_max_pinned_bytes, 0644);
MODULE_PARM_DESC(user_max_pinned_bytes,
		 "Cap on pinned bytes per uid (0: none; default half of system RAM)");
module_param_cb(user_max_entries, &mcx_param_cap_ops,
		&mcx_reg.limits.user_max_entries, 0644);
MODULE_PARM_DESC(user_max_entries,
		 "Cap on entries per uid (0: none; default 262144)");

static int mcx_open(struct inode *inode, struct file *file)
{
	struct mcx_file *f;

	/* misc_register() makes the node before init is done with it */
	if (!smp_load_acquire(&mcx_ready))
		return -ENODEV;
	f = kzalloc(sizeof(*f), GFP_KERNEL_ACCOUNT);
	if (!f)
		return -ENOMEM;
	f->cred = get_cred(file->f_cred);
	f->net = get_net(current->nsproxy->net_ns);
	mcx_who_from_cred(f->cred,
			  file_ns_capable(file, &init_user_ns, CAP_SYS_ADMIN),
			  &f->who);
	/* who opened it, for LIST_HOLDERS: the process, not the thread */
	f->c.pid = get_task_pid(current, PIDTYPE_TGID);
	f->c.uid = f->who.uid;
	get_task_comm(f->c.comm, current);
	mcx_client_init(&mcx_reg, &f->c);
	/* replaces the miscdevice pointer misc_open() left there */
	file->private_data = f;
	return stream_open(inode, file);
}

/* Close drops every reference the file holds (process exit included). */
static int mcx_release(struct inode *inode, struct file *file)
{
	struct mcx_file *f = file->private_data;

	mcx_client_release(&f->c);
	put_pid(f->c.pid);
	put_net(f->net);
	put_cred(f->cred);
	kfree(f);
	return 0;
}

static const struct file_operations mcx_fops = {
	.owner = THIS_MODULE,
	.open = mcx_open,
	.release = mcx_release,
	.unlocked_ioctl = mcx_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.read = mcx_read,
	.poll = mcx_poll,
};

struct miscdevice mcx_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mcxfer",
	.fops = &mcx_fops,
	.mode = 0660,
	.groups = mcx_attr_groups,
};

static int __init mcx_init(void)
{
	int ret;

	if (mcx_reg.limits.user_max_pinned_bytes == MCX_USER_BYTES_FROM_RAM)
		mcx_reg.limits.user_max_pinned_bytes =
			((u64)totalram_pages() << PAGE_SHIFT) / 2;
	ret = mcx_reg_init(&mcx_reg, &mcx_backend_ops);
	if (ret)
		return ret;
	mcx_reg.wq = alloc_workqueue("mcxfer", WQ_UNBOUND, 0);
	if (!mcx_reg.wq) {
		mcx_reg_destroy(&mcx_reg);
		return -ENOMEM;
	}

	/* before the misc device, so that the first PIN finds the devices */
	ret = mcx_ibdev_init();
	if (ret)
		goto err_wq;

	ret = misc_register(&mcx_misc);
	if (ret)
		goto err_ibdev;
	/*
	 * Host exporters map for whatever device attaches; the misc device
	 * has no DMA mask of its own, and mapping for a device without one
	 * warns and fails.  Its device only exists once registered, so
	 * open() refuses until mcx_ready says the mask is set.
	 */
	ret = dma_coerce_mask_and_coherent(mcx_misc.this_device,
					   DMA_BIT_MASK(64));
	if (ret)
		goto err_misc;

	mcx_debugfs_init();
	/* opens wait for this: the misc device is the DMA device of PINs */
	smp_store_release(&mcx_ready, true);
	return 0;

err_misc:
	misc_deregister(&mcx_misc);
err_ibdev:
	mcx_ibdev_exit();
err_wq:
	mcx_reg_destroy(&mcx_reg);
	destroy_workqueue(mcx_reg.wq);
	mcx_pin_exit();
	return ret;
}

/*
 * No file is open here (the fops hold a module reference), so every entry
 * left is lingering: it is unmapped, unpinned, detached and its dma-buf
 * and MR files put.
 */
static void __exit mcx_exit(void)
{
	WRITE_ONCE(mcx_ready, false);
	mcx_debugfs_exit();
	/* drops what depends on RDMA devices; no new device is seen after */
	mcx_ibdev_exit();
	/* entries mapped for the misc device go before the device itself */
	mcx_reg_destroy(&mcx_reg);
	misc_deregister(&mcx_misc);
	destroy_workqueue(mcx_reg.wq);
	mcx_pin_exit();
}

module_init(mcx_init);
module_exit(mcx_exit);

MODULE_DESCRIPTION("Registry of pinned dma-buf ranges and RDMA MRs shared across processes");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(MCX_NS_DMA_BUF);
