// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl argument parsing and dispatch.
 *
 * Each handler reads its struct with mcx_uarg_in() (size, flags, tail),
 * checks the reserved fields, does the work, and writes the struct back
 * truncated to the caller's size.  Handlers that hand out an fd reserve it
 * first, do every fallible step (copy-out included), and fd_install() last;
 * on a failure after the registry took a reference for the caller, that
 * reference is dropped again, so a failed call leaves nothing behind.
 *
 * Errors common to all commands: -EFAULT (bad pointer), -EINVAL (size
 * below the struct's size, unknown flags, non-zero reserved fields), -E2BIG
 * (a larger struct whose unknown tail is not zero), -ENOTTY (unknown
 * command).
 */

#include <linux/dma-buf.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "internal.h"
#include "uarg.h"

#define MCX_RESERVED_OK(a)	mcx_mem_is_zero((a).reserved, sizeof((a).reserved))

static int mcx_ioc_get_info(struct mcx_client *c, void __user *uarg)
{
	struct mcxfer_info a;
	u32 usize;
	int ret;

	ret = mcx_uarg_in(&a, sizeof(a), sizeof(a), uarg, 0, &usize);
	if (ret)
		return ret;
	if (!MCX_RESERVED_OK(a))
		return -EINVAL;
	mcx_reg_get_info(c->reg, &a);
	a.size = usize;
	return mcx_uarg_out(uarg, &a, sizeof(a), usize);
}

/*
 * PIN.  Beyond the common errors: -EBADF/-EINVAL (dmabuf_fd is not a
 * dma-buf), -EINVAL (length 0, range outside the dma-buf, bad share mode
 * or name), -ENAMETOOLONG (name or device name of 64 bytes or more),
 * -ENODEV (no such RDMA device), -EEXIST (name used by another entry, or a
 * hit on an entry with another name), -EPERM (naming someone else's entry
 * on a hit), -ENOSPC/-EDQUOT (global/per-user cap reached with nothing idle
 * to evict), and whatever the exporter returns for attach/pin/map.
 */
static int mcx_ioc_pin(struct mcx_client *c, void __user *uarg)
{
	char name[MCXFER_NAME_MAX], ibdev[MCXFER_IBDEV_NAME_MAX];
	struct mcxfer_pin a;
	long len;
	u32 usize;
	int ret;

	ret = mcx_uarg_in(&a, sizeof(a), sizeof(a), uarg, MCXFER_PIN_FLAGS,
			  &usize);
	if (ret)
		return ret;
	if (a.reserved0 || !MCX_RESERVED_OK(a) || !a.length ||
	    a.share > MCXFER_SHARE_ALL)
		return -EINVAL;
	if (a.name) {
		len = mcx_uname(name, sizeof(name), a.name);
		if (len < 0)
			return len;
		ret = mcx_name_check(name);
		if (ret)
			return ret;
	}
	if (a.ibdev) {
		len = mcx_uname(ibdev, sizeof(ibdev), a.ibdev);
		if (len < 0)
			return len;
		if (!len)
			return -ENODEV;
	}
	a.id = 0;
	a.out_flags = 0;
	ret = mcx_pin(c, &a, a.name ? name : NULL, a.ibdev ? ibdev : NULL);
	if (ret)
		return ret;
	ret = mcx_uarg_out(uarg, &a, sizeof(a), usize);
	if (ret)
		mcx_reg_unpin(c, a.id);	/* the caller never learnt the id */
	return ret;
}

/* UNPIN: -ENOENT when the calling file holds no reference on id. */
static int mcx_ioc_unpin(struct mcx_client *c, void __user *uarg)
{
	struct mcxfer_unpin a;
	u32 usize;
	int ret;

	ret = mcx_uarg_in(&a, sizeof(a), sizeof(a), uarg, 0, &usize);
	if (ret)
		return ret;
	if (!MCX_RESERVED_OK(a))
		return -EINVAL;
	return mcx_reg_unpin(c, a.id);
}

/*
 * LOOKUP by name or id.  -ENOENT for entries that do not exist and for
 * those the caller may not see (so that names do not leak), and for REF or
 * EXPORT_FD on a dead entry.  Name errors as for PIN.  EMFILE and friends
 * from the fd reservation.
 */
static int mcx_ioc_lookup(struct mcx_client *c, void __user *uarg)
{
	struct mcxfer_entry_info info;
	char name[MCXFER_NAME_MAX];
	struct dma_buf *dmabuf = NULL;
	void *buf = NULL;
	struct mcxfer_lookup a;
	struct mcx_who who;
	bool export, ref;
	int fd = -1;
	long len;
	u32 usize;
	int ret;

	ret = mcx_uarg_in(&a, sizeof(a), sizeof(a), uarg, MCXFER_LOOKUP_FLAGS,
			  &usize);
	if (ret)
		return ret;
	if (!MCX_RESERVED_OK(a))
		return -EINVAL;
	if (a.name) {
		len = mcx_uname(name, sizeof(name), a.name);
		if (len < 0)
			return len;
		ret = mcx_name_check(name);
		if (ret)
			return ret;
	} else if (!a.id) {
		return -EINVAL;
	}
	export = a.flags & MCXFER_LOOKUP_EXPORT_FD;
	ref = a.flags & MCXFER_LOOKUP_REF;

	if (export) {
		fd = get_unused_fd_flags(O_CLOEXEC);
		if (fd < 0)
			return fd;
	}
	mcx_who_current(&who);
	ret = mcx_reg_lookup(c, a.name ? name : NULL, a.id, &who, ref,
			     export ? &buf : NULL, &info);
	if (ret)
		goto err_fd;
	dmabuf = buf;

	a.id = info.id;
	a.offset = info.offset;
	a.length = info.length;
	a.dmabuf_size = info.dmabuf_size;
	a.fd = export ? fd : 0;
	a.state = info.state;
	a.owner_uid = info.owner_uid;
	a.owner_gid = info.owner_gid;
	a.share = info.share;
	a.nr_mrs = info.nr_mrs;
	ret = mcx_uarg_out(uarg, &a, sizeof(a), usize);
	if (ret)
		goto err_ref;
	if (export)
		fd_install(fd, dmabuf->file);
	return 0;

err_ref:
	if (ref)
		mcx_reg_unpin(c, info.id);
	if (dmabuf)
		dma_buf_put(dmabuf);
err_fd:
	if (fd >= 0)
		put_unused_fd(fd);
	return ret;
}

static int mcx_ioc_publish_mr(struct mcx_client *c, void __user *uarg)
{
	struct mcxfer_publish_mr a;
	u32 usize;
	int ret;

	ret = mcx_uarg_in(&a, sizeof(a), sizeof(a), uarg, 0, &usize);
	if (ret)
		return ret;
	if (!MCX_RESERVED_OK(a))
		return -EINVAL;
	a.mr_id = 0;
	ret = mcx_mr_publish(c, &a);
	if (ret)
		return ret;
	/*
	 * The MR stays published even if the copy-out fails: the caller can
	 * find it with GET_MR, and it goes with the entry.
	 */
	return mcx_uarg_out(uarg, &a, sizeof(a), usize);
}

/*
 * GET_MR: -ENOENT when the entry is not visible to the caller or has no
 * such MR; name errors as for PIN; fd reservation errors.
 */
static int mcx_ioc_get_mr(struct mcx_client *c, void __user *uarg)
{
	char ibdev[MCXFER_IBDEV_NAME_MAX];
	struct mcxfer_get_mr a;
	struct file *file = NULL;
	void *filep = NULL;
	struct mcx_who who;
	struct mcx_mr mr;
	long len;
	u32 usize;
	int ret, fd;

	ret = mcx_uarg_in(&a, sizeof(a), sizeof(a), uarg, 0, &usize);
	if (ret)
		return ret;
	if (a.reserved0 || !MCX_RESERVED_OK(a))
		return -EINVAL;
	if (a.ibdev) {
		len = mcx_uname(ibdev, sizeof(ibdev), a.ibdev);
		if (len < 0)
			return len;
	}

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	mcx_who_current(&who);
	ret = mcx_reg_get_mr(c, &who, a.id, a.ibdev ? ibdev : NULL, a.index,
			     &mr, &filep);
	if (ret)
		goto err_fd;
	file = filep;

	a.uverbs_fd = fd;
	a.pd_handle = mr.pd_handle;
	a.mr_handle = mr.mr_handle;
	a.lkey = mr.lkey;
	a.rkey = mr.rkey;
	a.access = mr.access;
	a.iova = mr.iova;
	a.length = mr.length;
	a.mr_id = mr.id;
	memset(a.ibdev_name, 0, sizeof(a.ibdev_name));
	memcpy(a.ibdev_name, mr.dev_name,
	       min(sizeof(a.ibdev_name), sizeof(mr.dev_name)));
	ret = mcx_uarg_out(uarg, &a, sizeof(a), usize);
	if (ret)
		goto err_file;
	fd_install(fd, file);
	return 0;

err_file:
	fput(file);
err_fd:
	put_unused_fd(fd);
	return ret;
}

/* Records per registry call: bounds the kernel buffer, not the result. */
#define MCX_LIST_BATCH		32
/* Records bigger than this are not a struct we will grow into. */
#define MCX_LIST_ENTRY_MAX	4096

static int mcx_ioc_list(struct mcx_client *c, void __user *uarg)
{
	struct mcxfer_entry_info *batch;
	struct mcxfer_list a;
	char __user *dst;
	struct mcx_who who;
	u32 done = 0, n, i;
	size_t copy;
	u64 cursor;
	u32 usize;
	int ret;

	ret = mcx_uarg_in(&a, sizeof(a), sizeof(a), uarg, 0, &usize);
	if (ret)
		return ret;
	if (!MCX_RESERVED_OK(a))
		return -EINVAL;
	if (a.count && (!a.entry_size || a.entry_size > MCX_LIST_ENTRY_MAX ||
			!a.entries))
		return -EINVAL;

	batch = kmalloc_array(MCX_LIST_BATCH, sizeof(*batch), GFP_KERNEL);
	if (!batch)
		return -ENOMEM;
	mcx_who_current(&who);
	dst = u64_to_user_ptr(a.entries);
	copy = min_t(size_t, a.entry_size, sizeof(*batch));
	cursor = a.cursor;
	do {
		ret = mcx_reg_list(c->reg, &who, &cursor, batch,
				   min_t(u32, a.count - done, MCX_LIST_BATCH),
				   &n);
		if (ret)
			goto out;
		for (i = 0; i < n; i++, done++) {
			char __user *rec = dst + (size_t)done * a.entry_size;

			ret = -EFAULT;
			if (copy_to_user(rec, &batch[i], copy))
				goto out;
			if (a.entry_size > copy &&
			    clear_user(rec + copy, a.entry_size - copy))
				goto out;
		}
	} while (cursor && done < a.count);

	a.cursor = cursor;
	a.count = done;
	ret = mcx_uarg_out(uarg, &a, sizeof(a), usize);
out:
	kfree(batch);
	return ret;
}

/*
 * EVICT: -EINVAL for EVICT_IDLE with an id or a single eviction of id 0;
 * -ENOENT (not visible), -EPERM (not the owner, no CAP_SYS_ADMIN), -EBUSY
 * (referenced or dead).
 */
static int mcx_ioc_evict(struct mcx_client *c, void __user *uarg)
{
	struct mcxfer_evict a;
	struct mcx_who who;
	bool idle;
	u32 usize;
	int ret;

	ret = mcx_uarg_in(&a, sizeof(a), sizeof(a), uarg, MCXFER_EVICT_FLAGS,
			  &usize);
	if (ret)
		return ret;
	if (!MCX_RESERVED_OK(a))
		return -EINVAL;
	idle = a.flags & MCXFER_EVICT_IDLE;
	if (idle ? a.id != 0 : a.id == 0)
		return -EINVAL;
	mcx_who_current(&who);
	ret = mcx_reg_evict(c->reg, &who, a.id, idle, &a.evicted);
	if (ret)
		return ret;
	return mcx_uarg_out(uarg, &a, sizeof(a), usize);
}

long mcx_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mcx_client *c = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case MCXFER_IOC_GET_INFO:
		return mcx_ioc_get_info(c, uarg);
	case MCXFER_IOC_PIN:
		return mcx_ioc_pin(c, uarg);
	case MCXFER_IOC_UNPIN:
		return mcx_ioc_unpin(c, uarg);
	case MCXFER_IOC_LOOKUP:
		return mcx_ioc_lookup(c, uarg);
	case MCXFER_IOC_PUBLISH_MR:
		return mcx_ioc_publish_mr(c, uarg);
	case MCXFER_IOC_GET_MR:
		return mcx_ioc_get_mr(c, uarg);
	case MCXFER_IOC_LIST:
		return mcx_ioc_list(c, uarg);
	case MCXFER_IOC_EVICT:
		return mcx_ioc_evict(c, uarg);
	default:
		return -ENOTTY;
	}
}
