// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/mcxfer/entries: one line per entry, every entry (the
 * file is root-only), for people debugging a host.
 */

#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "internal.h"

#define MCX_DEBUGFS_BATCH	16

static struct dentry *mcx_debugfs_dir;

static const char *const mcx_state_names[] = {
	[MCXFER_STATE_ACTIVE] = "active",
	[MCXFER_STATE_LINGER] = "linger",
	[MCXFER_STATE_DEAD] = "dead",
};

static const char *mcx_str(const __u64 *words, size_t size)
{
	const char *s = (const char *)words;

	/* the registry NUL-pads these; an empty one prints as "-" */
	return s[0] && strnlen(s, size) < size ? s : "-";
}

static int mcx_entries_show(struct seq_file *m, void *unused)
{
	struct mcx_who who = { .admin = true };
	struct mcxfer_entry_info *batch;
	u64 cursor = 0;
	u32 n, i;

	batch = kmalloc_array(MCX_DEBUGFS_BATCH, sizeof(*batch), GFP_KERNEL);
	if (!batch)
		return -ENOMEM;
	seq_puts(m, "id state refs holders mrs offset length dmabuf_size pinned_bytes charged_uid uid gid share flags hits age_ms idle_ms name exporter ibdev\n");
	do {
		mcx_reg_list(&mcx_reg, &who, &cursor, batch, MCX_DEBUGFS_BATCH,
			     &n);
		for (i = 0; i < n; i++) {
			const struct mcxfer_entry_info *e = &batch[i];

			seq_printf(m, "%llu %s %u %u %u %llu %llu %llu %llu %u %u %u %u %#x %llu %llu %llu %s %s %s\n",
				   e->id,
				   e->state < ARRAY_SIZE(mcx_state_names) ?
				   mcx_state_names[e->state] : "?",
				   e->refs, e->holders, e->nr_mrs, e->offset,
				   e->length, e->dmabuf_size, e->pinned_bytes,
				   e->charged_uid, e->owner_uid,
				   e->owner_gid, e->share, e->flags, e->hits,
				   e->age_ms, e->idle_ms,
				   mcx_str(e->name, sizeof(e->name)),
				   mcx_str(e->exporter, sizeof(e->exporter)),
				   mcx_str(e->ibdev, sizeof(e->ibdev)));
		}
	} while (cursor);
	kfree(batch);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mcx_entries);

void mcx_debugfs_init(void)
{
	/* debugfs is optional: errors are not checked, as debugfs intends */
	mcx_debugfs_dir = debugfs_create_dir("mcxfer", NULL);
	debugfs_create_file("entries", 0400, mcx_debugfs_dir, NULL,
			    &mcx_entries_fops);
}

void mcx_debugfs_exit(void)
{
	debugfs_remove_recursive(mcx_debugfs_dir);
	mcx_debugfs_dir = NULL;
}
