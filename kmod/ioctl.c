// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl dispatch: one table of commands.
 *
 * The dispatcher reads the command's struct into a kernel copy with
 * mcx_uarg_in() (size at least the first published size, known flags, a
 * newer struct's unknown tail zero) and calls the handler with it; the
 * handler checks its reserved fields, does the work and copies the result
 * out with mcx_respond().  Handlers that hand out an fd reserve it first,
 * do every fallible step (copy-out included), and fd_install() last; a
 * handler whose copy-out fails undoes what it did (a reference taken, an
 * MR published, an entry made), so a failed call leaves nothing behind.
 *
 * Errors common to all commands: -EFAULT (bad pointer), -EINVAL (size
 * below the struct's size, unknown flags, non-zero reserved fields), -E2BIG
 * (a larger struct whose unknown tail is not zero), -ENOTTY (unknown
 * command).
 */

#include <linux/dma-buf.h>
#include <linux/fcntl.h>
#include <linux/mm.h>
#include <linux/pid_namespace.h>
#include <linux/file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>
#include <rdma/ib_verbs.h>

#include "internal.h"
#include "uarg.h"

struct mcx_ucmd {
	struct mcx_file *f;
	void __user *ubuf;
	u32 user_size;
};

#define MCX_RESERVED_OK(a)	mcx_mem_is_zero((a)->reserved, sizeof((a)->reserved))

static int mcx_respond(struct mcx_ucmd *u, const void *karg, size_t ksize)
{
	return mcx_uarg_out(u->ubuf, karg, ksize, u->user_size);
}

/* The size field comes back as the kernel's size of the struct. */
static int mcx_ioc_get_info(struct mcx_ucmd *u, void *karg)
{
	struct mcxfer_info *a = karg;

	if (!MCX_RESERVED_OK(a))
		return -EINVAL;
	mcx_reg_get_info(u->f->c.reg, a);
	a->size = sizeof(*a);
	return mcx_respond(u, a, sizeof(*a));
}

static int mcx_copy_name(char *buf, size_t size, u64 uptr, bool check)
{
	long len = mcx_uname(buf, size, uptr);

	if (len < 0)
		return len;
	if (check)
		return mcx_name_check(buf);
	return len ? 0 : -ENODEV;
}

/*
 * PIN.  Beyond the common errors: -EBADF/-EINVAL (dmabuf_fd is not a
 * dma-buf), -EINVAL (length 0, range outside the dma-buf, bad share mode
 * or name), -ENAMETOOLONG (name or device name of 64 bytes or more),
 * -ENODEV (no such RDMA device in the opener's network namespace),
 * -EOPNOTSUPP (device memory without a PCI RDMA device to map for),
 * -EEXIST (name used by another entry of the caller, or a hit on an entry
 * with another name), -EPERM (a named hit on someone else's entry),
 * -ENOSPC/-EDQUOT (global/per-user cap reached with nothing idle to
 * evict), and whatever the exporter returns for attach/pin/map.
 */
static int mcx_ioc_pin(struct mcx_ucmd *u, void *karg)
{
	char name[MCXFER_NAME_MAX], ibdev[MCXFER_IBDEV_NAME_MAX];
	struct mcxfer_pin *a = karg;
	int ret;

	if (a->reserved0 || !MCX_RESERVED_OK(a) || !a->length ||
	    a->share > MCXFER_SHARE_ALL)
		return -EINVAL;
	if (a->name) {
		ret = mcx_copy_name(name, sizeof(name), a->name, true);
		if (ret)
			return ret;
	}
	if (a->ibdev) {
		ret = mcx_copy_name(ibdev, sizeof(ibdev), a->ibdev, false);
		if (ret)
			return ret;
	}
	a->id = 0;
	a->out_flags = 0;
	ret = mcx_pin(u->f, a, a->name ? name : NULL, a->ibdev ? ibdev : NULL);
	if (ret)
		return ret;
	ret = mcx_respond(u, a, sizeof(*a));
	if (ret && !(a->out_flags & MCXFER_PIN_OUT_HIT)) {
		u64 dummy;

		/*
		 * The caller never learnt the id: a new entry must not stay
		 * behind to linger.  If another PIN hit it meanwhile, it is
		 * theirs now and the eviction fails with EBUSY.
		 */
		mcx_reg_unpin(&u->f->c, a->id);
		mcx_reg_evict(u->f->c.reg, &u->f->who, a->id, false, &dummy);
	} else if (ret) {
		mcx_reg_unpin(&u->f->c, a->id);
	}
	return ret;
}

/* UNPIN: -ENOENT when the calling file holds no reference on id. */
static int mcx_ioc_unpin(struct mcx_ucmd *u, void *karg)
{
	struct mcxfer_unpin *a = karg;

	if (!MCX_RESERVED_OK(a))
		return -EINVAL;
	return mcx_reg_unpin(&u->f->c, a->id);
}

static void mcx_lookup_fill(struct mcxfer_lookup *a,
			    const struct mcxfer_entry_info *info, int fd)
{
	a->id = info->id;
	a->offset = info->offset;
	a->length = info->length;
	a->dmabuf_size = info->dmabuf_size;
	a->fd = fd >= 0 ? fd : 0;
	a->state = info->state;
	a->owner_uid = info->owner_uid;
	a->owner_gid = info->owner_gid;
	a->share = info->share;
	a->nr_mrs = info->nr_mrs;
}

/* The owner whose names a LOOKUP searches: the caller, or owner_uid. */
static int mcx_lookup_owner(struct mcx_file *f, const struct mcxfer_lookup *a,
			    kuid_t *owner)
{
	if (!(a->flags & MCXFER_LOOKUP_OWNER)) {
		*owner = f->who.uid;
		return 0;
	}
	*owner = make_kuid(f->who.user_ns, a->owner_uid);
	return uid_valid(*owner) ? 0 : -EINVAL;
}

/*
 * LOOKUP by name or id.  -EINVAL for both or neither, or OWNER without a
 * name; -ENOENT for entries that do not exist and for those the caller
 * may not see (so that names do not leak); -EIDRM for REF or EXPORT_FD on
 * a dead entry; -EACCES for EXPORT_FD of a part of a dma-buf by a
 * non-owner.  Name errors as for PIN.  EMFILE and friends from the fd
 * reservation.
 */
static int mcx_ioc_lookup(struct mcx_ucmd *u, void *karg)
{
	struct mcxfer_lookup *a = karg;
	struct mcxfer_entry_info info;
	char name[MCXFER_NAME_MAX];
	struct dma_buf *dmabuf = NULL;
	bool export, ref;
	void *buf = NULL;
	kuid_t owner;
	int fd = -1;
	int ret;

	if (!MCX_RESERVED_OK(a) || !a->name == !a->id ||
	    (!a->name && (a->flags & MCXFER_LOOKUP_OWNER)))
		return -EINVAL;
	if (a->name) {
		ret = mcx_copy_name(name, sizeof(name), a->name, true);
		if (ret)
			return ret;
	}
	ret = mcx_lookup_owner(u->f, a, &owner);
	if (ret)
		return ret;
	export = a->flags & MCXFER_LOOKUP_EXPORT_FD;
	ref = a->flags & MCXFER_LOOKUP_REF;

	if (export) {
		fd = get_unused_fd_flags(O_CLOEXEC);
		if (fd < 0)
			return fd;
	}
	ret = mcx_reg_lookup(&u->f->c, a->name ? name : NULL, owner, a->id,
			     &u->f->who, ref, export ? &buf : NULL, &info);
	if (ret)
		goto err_fd;
	dmabuf = buf;
	mcx_lookup_fill(a, &info, fd);
	ret = mcx_respond(u, a, sizeof(*a));
	if (ret)
		goto err_ref;
	if (export)
		fd_install(fd, dmabuf->file);
	return 0;

err_ref:
	if (ref)
		mcx_reg_unpin(&u->f->c, info.id);
	if (dmabuf)
		dma_buf_put(dmabuf);
err_fd:
	if (fd >= 0)
		put_unused_fd(fd);
	return ret;
}

/*
 * PUBLISH_MR: errors in mr.c; -EINVAL also for unknown access bits and an
 * offset + length that wraps.
 */
static int mcx_ioc_publish_mr(struct mcx_ucmd *u, void *karg)
{
	struct mcxfer_publish_mr *a = karg;
	int ret;

	if (!MCX_RESERVED_OK(a) || (a->access & ~IB_ACCESS_SUPPORTED) ||
	    !a->length || a->offset + a->length < a->offset)
		return -EINVAL;
	a->mr_id = 0;
	ret = mcx_mr_publish(u->f, a);
	if (ret)
		return ret;
	ret = mcx_respond(u, a, sizeof(*a));
	/* unknown to the caller, it would make a retry fail with EEXIST */
	if (ret)
		mcx_reg_unpublish_mr(&u->f->c, a->id, a->mr_id);
	return ret;
}

static void mcx_get_mr_fill(struct mcxfer_get_mr *a, const struct mcx_mr *mr,
			    int fd)
{
	a->uverbs_fd = fd;
	a->pd_handle = mr->pd_handle;
	a->mr_handle = mr->mr_handle;
	a->lkey = mr->lkey;
	a->rkey = mr->rkey;
	a->access = mr->access;
	a->iova = mr->iova;
	a->length = mr->length;
	a->mr_id = mr->id;
	a->offset = mr->offset;
	memset(a->ibdev_name, 0, sizeof(a->ibdev_name));
	memcpy(a->ibdev_name, mr->dev_name,
	       min(sizeof(a->ibdev_name), sizeof(mr->dev_name)));
}

/*
 * GET_MR: the index-th MR of device ibdev, or of the entry without ibdev.
 * -ENOENT when the entry is not visible to the caller or has no such MR; -EPERM when the caller is
 * not its owner; -EIDRM for a dead entry; name errors as for PIN; fd
 * reservation errors.
 */
static int mcx_ioc_get_mr(struct mcx_ucmd *u, void *karg)
{
	char ibdev[MCXFER_IBDEV_NAME_MAX];
	struct mcxfer_get_mr *a = karg;
	struct file *file = NULL;
	struct mcx_mr mr;
	long len;
	int ret, fd;

	if (a->reserved0 || !MCX_RESERVED_OK(a))
		return -EINVAL;
	if (a->ibdev) {
		len = mcx_uname(ibdev, sizeof(ibdev), a->ibdev);
		if (len < 0)
			return len;
	}

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	ret = mcx_reg_get_mr(&u->f->c, &u->f->who, a->id,
			     a->ibdev ? ibdev : NULL, a->index, &mr, &file);
	if (ret)
		goto err_fd;
	mcx_get_mr_fill(a, &mr, fd);
	ret = mcx_respond(u, a, sizeof(*a));
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

static int mcx_list_copy(char __user *rec, const struct mcxfer_entry_info *e,
			 u32 entry_size)
{
	size_t copy = min_t(size_t, entry_size, sizeof(*e));

	if (copy_to_user(rec, e, copy))
		return -EFAULT;
	if (entry_size > copy && clear_user(rec + copy, entry_size - copy))
		return -EFAULT;
	return 0;
}

static int mcx_ioc_list(struct mcx_ucmd *u, void *karg)
{
	struct mcxfer_list *a = karg;
	struct mcxfer_entry_info *batch;
	char __user *dst;
	u32 done = 0, n, i;
	u64 cursor;
	int ret;

	if (!MCX_RESERVED_OK(a))
		return -EINVAL;
	if (a->count && (!a->entry_size || a->entry_size > MCX_LIST_ENTRY_MAX ||
			 !a->entries))
		return -EINVAL;

	batch = kmalloc_array(MCX_LIST_BATCH, sizeof(*batch), GFP_KERNEL);
	if (!batch)
		return -ENOMEM;
	dst = u64_to_user_ptr(a->entries);
	cursor = a->cursor;
	do {
		ret = mcx_reg_list(u->f->c.reg, &u->f->who, &cursor, batch,
				   min_t(u32, a->count - done, MCX_LIST_BATCH),
				   &n);
		if (ret)
			goto out;
		for (i = 0; i < n; i++, done++) {
			ret = mcx_list_copy(dst + (size_t)done * a->entry_size,
					    &batch[i], a->entry_size);
			if (ret)
				goto out;
		}
	} while (cursor && done < a->count);

	a->cursor = cursor;
	a->count = done;
	ret = mcx_respond(u, a, sizeof(*a));
out:
	kfree(batch);
	return ret;
}

/*
 * EVICT: -EINVAL for EVICT_IDLE with an id or with REVOKE, or a single
 * eviction of id 0; -ENOENT (not visible), -EPERM (not the owner, no
 * CAP_SYS_ADMIN), -EBUSY (referenced or dead, without REVOKE), -EIDRM
 * (REVOKE of a dead entry).
 */
static int mcx_ioc_evict(struct mcx_ucmd *u, void *karg)
{
	struct mcxfer_evict *a = karg;
	bool idle = a->flags & MCXFER_EVICT_IDLE;
	bool revoke = a->flags & MCXFER_EVICT_REVOKE;
	int ret;

	if (!MCX_RESERVED_OK(a) || (idle ? a->id != 0 || revoke : !a->id))
		return -EINVAL;
	if (revoke) {
		ret = mcx_reg_revoke(u->f->c.reg, &u->f->who, a->id);
		a->evicted = !ret;
	} else {
		ret = mcx_reg_evict(u->f->c.reg, &u->f->who, a->id, idle,
				    &a->evicted);
	}
	if (ret)
		return ret;
	return mcx_respond(u, a, sizeof(*a));
}

/*
 * QUERY_DEVICE: any opener may ask.  -ENODEV (no such device in the
 * opener's network namespace, or an empty name), name errors as for PIN.
 */
static int mcx_ioc_query_device(struct mcx_ucmd *u, void *karg)
{
	char ibdev[MCXFER_IBDEV_NAME_MAX];
	struct mcxfer_device_info *a = karg;
	int ret;

	if (!MCX_RESERVED_OK(a) || !a->ibdev)
		return -EINVAL;
	ret = mcx_copy_name(ibdev, sizeof(ibdev), a->ibdev, false);
	if (ret)
		return ret;
	ret = mcx_ibdev_query(ibdev, u->f->net, a);
	if (ret)
		return ret;
	return mcx_respond(u, a, sizeof(*a));
}

/*
 * PUBLISH_CTX: errors in ctx.c; -EINVAL for an ibdev pointer (it is the
 * uverbs file's device, never the caller's word).
 */
static int mcx_ioc_publish_ctx(struct mcx_ucmd *u, void *karg)
{
	struct mcxfer_ctx *a = karg;
	int ret;

	if (!MCX_RESERVED_OK(a) || a->ibdev)
		return -EINVAL;
	a->ctx_id = 0;
	ret = mcx_ctx_publish(u->f, a);
	if (ret)
		return ret;
	ret = mcx_respond(u, a, sizeof(*a));
	/* unknown to the caller, it would make a retry fail with EEXIST */
	if (ret)
		mcx_reg_put_ctx(&u->f->c, a->ctx_id);
	return ret;
}

/*
 * GET_CTX: -EINVAL without ibdev or with uverbs_fd or pd_handle set (they
 * are outputs); -ENODEV (device not seen), -ENOENT (the caller's uid has
 * no context for it); fd reservation errors.
 */
static int mcx_ioc_get_ctx(struct mcx_ucmd *u, void *karg)
{
	char ibdev[MCXFER_IBDEV_NAME_MAX];
	struct mcxfer_ctx *a = karg;
	struct file *file = NULL;
	bool new_hold = false;
	int ret, fd;

	if (!MCX_RESERVED_OK(a) || !a->ibdev || a->uverbs_fd || a->pd_handle)
		return -EINVAL;
	ret = mcx_copy_name(ibdev, sizeof(ibdev), a->ibdev, false);
	if (ret)
		return ret;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	ret = mcx_ctx_get(u->f, ibdev, &file, a, &new_hold);
	if (ret)
		goto err_fd;
	a->uverbs_fd = fd;
	ret = mcx_respond(u, a, sizeof(*a));
	if (ret)
		goto err_file;
	fd_install(fd, file);
	return 0;

err_file:
	fput(file);
	if (new_hold)
		mcx_reg_put_ctx(&u->f->c, a->ctx_id);
err_fd:
	put_unused_fd(fd);
	return ret;
}

/* Records one LIST_HOLDERS call copies out at most (it says total). */
#define MCX_HOLDERS_MAX		4096
#define MCX_HOLDER_SIZE_MAX	4096

/*
 * LIST_HOLDERS: -EINVAL for a bad record size or a missing array;
 * -ENOENT (entry not visible), -EPERM (not its owner, no CAP_SYS_ADMIN).
 * Pids are those of the caller's pid namespace, as getpid() gives them.
 */
static int mcx_ioc_list_holders(struct mcx_ucmd *u, void *karg)
{
	struct mcx_registry *reg = u->f->c.reg;
	struct mcxfer_holder_info *recs = NULL;
	struct mcxfer_holders *a = karg;
	u32 want, n = 0, total = 0, i;
	size_t copy, rec_size;
	char __user *dst;
	int ret;

	if (a->reserved0 || !MCX_RESERVED_OK(a))
		return -EINVAL;
	if (a->count && (!a->holder_size ||
			 a->holder_size > MCX_HOLDER_SIZE_MAX || !a->holders))
		return -EINVAL;
	want = min_t(u32, a->count, MCX_HOLDERS_MAX);
	if (want) {
		recs = kvmalloc_array(want, sizeof(*recs), GFP_KERNEL);
		if (!recs)
			return -ENOMEM;
	}
	ret = mcx_reg_holders(reg, &u->f->who, a->id,
			      task_active_pid_ns(current), recs, want, &n,
			      &total);
	if (ret)
		goto out;
	dst = u64_to_user_ptr(a->holders);
	rec_size = a->holder_size;
	copy = min(rec_size, sizeof(*recs));
	for (i = 0; i < n; i++, dst += rec_size) {
		ret = -EFAULT;
		if (copy_to_user(dst, &recs[i], copy))
			goto out;
		if (rec_size > copy && clear_user(dst + copy, rec_size - copy))
			goto out;
	}
	a->count = n;
	a->total = total;
	ret = mcx_respond(u, a, sizeof(*a));
out:
	kvfree(recs);
	return ret;
}

union mcx_ucmd_buffer {
	struct mcxfer_info info;
	struct mcxfer_pin pin;
	struct mcxfer_unpin unpin;
	struct mcxfer_lookup lookup;
	struct mcxfer_publish_mr publish_mr;
	struct mcxfer_get_mr get_mr;
	struct mcxfer_list list;
	struct mcxfer_evict evict;
	struct mcxfer_device_info device_info;
	struct mcxfer_ctx ctx;
	struct mcxfer_holders holders;
};

struct mcx_ioctl_op {
	int (*execute)(struct mcx_ucmd *u, void *karg);
	u32 size;		/* the kernel's struct */
	u32 min_size;		/* the first published struct */
	u32 flags;		/* known flags */
};

/* All structs are still at their first version: min_size == size. */
#define MCX_IOCTL_OP(_nr, _fn, _struct, _flags)				\
	[_nr] = {							\
		.execute = _fn,						\
		.size = sizeof(_struct),				\
		.min_size = sizeof(_struct),				\
		.flags = _flags,					\
	}

static const struct mcx_ioctl_op mcx_ioctl_ops[] = {
	MCX_IOCTL_OP(MCXFER_CMD_GET_INFO, mcx_ioc_get_info,
		     struct mcxfer_info, 0),
	MCX_IOCTL_OP(MCXFER_CMD_PIN, mcx_ioc_pin, struct mcxfer_pin,
		     MCXFER_PIN_FLAGS),
	MCX_IOCTL_OP(MCXFER_CMD_UNPIN, mcx_ioc_unpin, struct mcxfer_unpin, 0),
	MCX_IOCTL_OP(MCXFER_CMD_LOOKUP, mcx_ioc_lookup, struct mcxfer_lookup,
		     MCXFER_LOOKUP_FLAGS),
	MCX_IOCTL_OP(MCXFER_CMD_PUBLISH_MR, mcx_ioc_publish_mr,
		     struct mcxfer_publish_mr, 0),
	MCX_IOCTL_OP(MCXFER_CMD_GET_MR, mcx_ioc_get_mr, struct mcxfer_get_mr,
		     0),
	MCX_IOCTL_OP(MCXFER_CMD_LIST, mcx_ioc_list, struct mcxfer_list, 0),
	MCX_IOCTL_OP(MCXFER_CMD_EVICT, mcx_ioc_evict, struct mcxfer_evict,
		     MCXFER_EVICT_FLAGS),
	MCX_IOCTL_OP(MCXFER_CMD_QUERY_DEVICE, mcx_ioc_query_device,
		     struct mcxfer_device_info, 0),
	MCX_IOCTL_OP(MCXFER_CMD_PUBLISH_CTX, mcx_ioc_publish_ctx,
		     struct mcxfer_ctx, 0),
	MCX_IOCTL_OP(MCXFER_CMD_GET_CTX, mcx_ioc_get_ctx, struct mcxfer_ctx, 0),
	MCX_IOCTL_OP(MCXFER_CMD_LIST_HOLDERS, mcx_ioc_list_holders,
		     struct mcxfer_holders, 0),
};

long mcx_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mcx_ucmd u = {
		.f = file->private_data,
		.ubuf = (void __user *)arg,
	};
	const struct mcx_ioctl_op *op;
	union mcx_ucmd_buffer buf;
	unsigned int nr;
	int ret;

	if (_IOC_TYPE(cmd) != MCXFER_IOC_TYPE || _IOC_DIR(cmd) != _IOC_NONE ||
	    _IOC_SIZE(cmd))
		return -ENOTTY;
	nr = _IOC_NR(cmd);
	if (nr >= ARRAY_SIZE(mcx_ioctl_ops) || !mcx_ioctl_ops[nr].execute)
		return -ENOTTY;
	op = &mcx_ioctl_ops[nr];
	ret = mcx_uarg_in(&buf, op->size, op->min_size, u.ubuf, op->flags,
			  &u.user_size);
	if (ret)
		return ret;
	return op->execute(&u, &buf);
}
