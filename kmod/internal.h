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

/* main.c: the one registry and the misc device */
extern struct mcx_registry mcx_reg;
extern struct miscdevice mcx_misc;

/* pin.c: the dma-buf backend; MR files are released through mcx_fput */
struct mcx_fput {
	struct llist_node node;
	struct file *file;
};

extern const struct mcx_backend_ops mcx_backend_ops;
int mcx_pin(struct mcx_client *c, struct mcxfer_pin *arg, const char *name,
	    const char *ibdev);
void mcx_pin_exit(void);

/* mr.c: the MR broker */
int mcx_mr_publish(struct mcx_client *c, struct mcxfer_publish_mr *arg);

/* ibdev.c: RDMA devices */
int mcx_ibdev_init(void);
void mcx_ibdev_exit(void);
int mcx_ibdev_resolve(const char *name, struct ib_device **target,
		      struct device **dma_dev);
bool mcx_ibdev_alive(struct mcx_registry *reg, const void *target);

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
