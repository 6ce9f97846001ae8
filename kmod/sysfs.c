// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs attributes of the misc device (/sys/class/misc/mcxfer/): stats/
 * holds the counters of GET_INFO, limits/ the current limits (set them
 * through /sys/module/mcxfer/parameters/), one value per file.
 */

#include <linux/device.h>
#include <linux/stddef.h>
#include <linux/sysfs.h>

#include "internal.h"

struct mcx_info_attr {
	struct device_attribute attr;
	size_t offset;			/* of a __u32 or __u64 in mcxfer_info */
	bool is_u32;
};

static ssize_t mcx_info_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	struct mcx_info_attr *ia = container_of(attr, struct mcx_info_attr,
						attr);
	struct mcxfer_info info;
	const char *p = (const char *)&info + ia->offset;

	mcx_reg_get_info(&mcx_reg, &info);
	if (ia->is_u32)
		return sysfs_emit(buf, "%u\n", *(const u32 *)p);
	return sysfs_emit(buf, "%llu\n", *(const u64 *)p);
}

/* _name and _field are the same word; kept apart for checkpatch */
#define MCX_INFO_ATTR(_name, _field, _is_u32)				\
	static struct mcx_info_attr mcx_attr_##_name = {		\
		.attr = __ATTR(_name, 0444, mcx_info_show, NULL),	\
		.offset = offsetof(struct mcxfer_info, _field),		\
		.is_u32 = _is_u32,					\
	}

MCX_INFO_ATTR(pins, pins, false);
MCX_INFO_ATTR(hits, hits, false);
MCX_INFO_ATTR(misses, misses, false);
MCX_INFO_ATTR(unpins, unpins, false);
MCX_INFO_ATTR(lookups, lookups, false);
MCX_INFO_ATTR(evictions, evictions, false);
MCX_INFO_ATTR(invalidations, invalidations, false);
MCX_INFO_ATTR(bytes_pinned, bytes_pinned, false);
MCX_INFO_ATTR(entries, entries, false);
MCX_INFO_ATTR(entries_active, entries_active, false);
MCX_INFO_ATTR(entries_linger, entries_linger, false);
MCX_INFO_ATTR(entries_dead, entries_dead, false);
MCX_INFO_ATTR(mrs, mrs, false);
MCX_INFO_ATTR(clients, clients, false);
MCX_INFO_ATTR(attachments, attachments, false);
MCX_INFO_ATTR(linger_ms, linger_ms, true);
MCX_INFO_ATTR(max_pinned_bytes, max_pinned_bytes, false);
MCX_INFO_ATTR(max_entries, max_entries, false);
MCX_INFO_ATTR(user_max_pinned_bytes, user_max_pinned_bytes, false);
MCX_INFO_ATTR(user_max_entries, user_max_entries, false);
MCX_INFO_ATTR(abi_version, abi_version, true);

static struct attribute *mcx_stats_attrs[] = {
	&mcx_attr_pins.attr.attr,
	&mcx_attr_hits.attr.attr,
	&mcx_attr_misses.attr.attr,
	&mcx_attr_unpins.attr.attr,
	&mcx_attr_lookups.attr.attr,
	&mcx_attr_evictions.attr.attr,
	&mcx_attr_invalidations.attr.attr,
	&mcx_attr_bytes_pinned.attr.attr,
	&mcx_attr_entries.attr.attr,
	&mcx_attr_entries_active.attr.attr,
	&mcx_attr_entries_linger.attr.attr,
	&mcx_attr_entries_dead.attr.attr,
	&mcx_attr_mrs.attr.attr,
	&mcx_attr_clients.attr.attr,
	&mcx_attr_attachments.attr.attr,
	NULL
};

static struct attribute *mcx_limits_attrs[] = {
	&mcx_attr_linger_ms.attr.attr,
	&mcx_attr_max_pinned_bytes.attr.attr,
	&mcx_attr_max_entries.attr.attr,
	&mcx_attr_user_max_pinned_bytes.attr.attr,
	&mcx_attr_user_max_entries.attr.attr,
	NULL
};

static struct attribute *mcx_top_attrs[] = {
	&mcx_attr_abi_version.attr.attr,
	NULL
};

static const struct attribute_group mcx_stats_group = {
	.name = "stats",
	.attrs = mcx_stats_attrs,
};

static const struct attribute_group mcx_limits_group = {
	.name = "limits",
	.attrs = mcx_limits_attrs,
};

static const struct attribute_group mcx_top_group = {
	.attrs = mcx_top_attrs,
};

const struct attribute_group *mcx_attr_groups[] = {
	&mcx_top_group,
	&mcx_stats_group,
	&mcx_limits_group,
	NULL
};
