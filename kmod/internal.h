/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mcxfer module internals shared between the files of the module (the
 * registry logic itself is in registry.h).
 */
#ifndef MCXFER_INTERNAL_H
#define MCXFER_INTERNAL_H

#include <linux/fs.h>
#include <linux/llist.h>
#include <linux/miscdevice.h>
#include <linux/poll.h>
#include <linux/sysfs.h>

#include "registry.h"

struct dma_buf;
struct ib_device;
struct net;

/*
 * One open /dev/mcxfer: the registry's client, and who opened it.  The
 * opener's credentials and network namespace are taken at open() and used
 * for every check, as for any character device.
 */
struct mcx_file {
	struct mcx_client c;
	const struct cred *cred;	/* referenced */
	struct net *net;		/* referenced */
	struct mcx_who who;		/* from cred */
};

/* main.c: the one registry and the misc device */
extern struct mcx_registry mcx_reg;
extern struct miscdevice mcx_misc;

/* pin.c: the dma-buf backend; MR files are released through mcx_fput */
struct mcx_fput {
	struct llist_node node;
	struct file *file;
};

extern const struct mcx_backend_ops mcx_backend_ops;
/* What mcx_pin() hands to the backend's attach through the registry. */
struct mcx_pin_ctx {
	struct dma_buf *dmabuf;
	struct device *dev;		/* the device to map for */
};

int mcx_pin(struct mcx_file *f, struct mcxfer_pin *arg, const char *name,
	    const char *ibdev);
void mcx_pin_exit(void);
/* Is the exporter (module name, or exp_name when built in) host memory? */
bool mcx_host_exporter(const char *module, const char *exp_name);

/* mr.c: the MR broker */
int mcx_uverbs_get(struct mcx_file *f, u32 fd, struct file **file,
		   const void **dev, char *name, size_t size);
int mcx_mr_publish(struct mcx_file *f, struct mcxfer_publish_mr *arg);

/* ctx.c: shared uverbs contexts */
int mcx_ctx_publish(struct mcx_file *f, struct mcxfer_ctx *arg);
int mcx_ctx_get(struct mcx_file *f, const char *ibdev, struct file **file,
		struct mcxfer_ctx *arg, bool *new_hold);

/* ibdev.c: RDMA devices */
int mcx_ibdev_init(void);
void mcx_ibdev_exit(void);
int mcx_ibdev_resolve(const char *name, const struct net *net,
		      struct ib_device **target, struct device **dma_dev);
bool mcx_ibdev_alive(struct mcx_registry *reg, const void *target);
int mcx_ibdev_query(const char *name, const struct net *net,
		    struct mcxfer_device_info *out);

/* ioctl.c */
long mcx_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* events.c */
ssize_t mcx_read(struct file *file, char __user *buf, size_t count,
		 loff_t *ppos);
__poll_t mcx_poll(struct file *file, struct poll_table_struct *wait);

/* debugfs.c */
void mcx_debugfs_init(void);
void mcx_debugfs_exit(void);

/* sysfs.c: attribute groups of the misc device */
extern const struct attribute_group *mcx_attr_groups[];

#endif /* MCXFER_INTERNAL_H */
