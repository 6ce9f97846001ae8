// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Relaxed ordering (PCIe RO) for MRs.  Setting IBV_ACCESS_RELAXED_ORDERING
 * lets the NIC's writes to memory pass each other, which matters for GPU
 * memory behind a PCIe switch; it is only useful when
 *  - rdma-core knows the flag (an optional access flag, routed through
 *    ibv_reg_mr_iova2, so older libraries would reject the MR), and
 *  - the device's PCI function has Relaxed Ordering enabled in its PCIe
 *    Device Control register (firmware or the platform may clear it, and
 *    then the flag does nothing), and
 *  - for the "auto" policy, the driver is known to honour the flag.
 * Only root reads past the first 64 bytes of config space in sysfs, where
 * the PCIe capability is; for everybody else /dev/mcxfer reads the bit
 * (cfg.pci_relaxed).  Without either the bit is unknown: policy 1 sets the
 * flag anyway, since it is an optional access flag (a device that cannot
 * honour it registers the MR without it), policy 2 does not.
 * The decision and its reason are kept per NIC and logged once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "transport/verbs/verbs.h"

#define PCI_STATUS		0x06
#define PCI_STATUS_CAP_LIST	0x10
#define PCI_CAP_PTR		0x34
#define PCI_CAP_ID_EXP		0x10
#define PCI_EXP_DEVCTL		0x08
#define PCI_EXP_DEVCTL_RELAX_EN	0x0010
#define PCI_CFG_STD_SIZE	256

/* Drivers that honour the flag on their MRs (for policy 2). */
static const char *const ro_drivers[] = { "mlx5_core" };

int mcx__relaxed_pci_enabled(const char *sysfs_dev, char *why, size_t whylen)
{
	unsigned char cfg[PCI_CFG_STD_SIZE];
	char path[PATH_MAX], link[PATH_MAX];
	unsigned int pos, guard = 0;
	ssize_t len, got = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/subsystem", sysfs_dev);
	len = readlink(path, link, sizeof(link) - 1);
	if (len < 0) {
		snprintf(why, whylen, "no PCI function (software device)");
		return 0;
	}
	link[len] = '\0';
	if (strcmp(basename(link), "pci")) {
		snprintf(why, whylen, "not a PCI device (bus %s)", basename(link));
		return 0;
	}
	snprintf(path, sizeof(path), "%s/config", sysfs_dev);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "cannot read PCI config space: %s", strerror(errno));
		return -1;
	}
	while (got < (ssize_t)sizeof(cfg)) {
		len = read(fd, cfg + got, sizeof(cfg) - (size_t)got);
		if (len <= 0)
			break;
		got += len;
	}
	close(fd);
	if (got < 0x40) {
		snprintf(why, whylen, "PCI config space truncated (%zd bytes)", got);
		return 0;
	}
	if (!(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST)) {
		snprintf(why, whylen, "PCI function has no capability list");
		return 0;
	}
	if (got < PCI_CFG_STD_SIZE) {
		/* Unprivileged readers get only the 64-byte header. */
		snprintf(why, whylen, "PCIe capability not readable (config space is %zd bytes; needs root)",
			 got);
		return -1;
	}
	pos = cfg[PCI_CAP_PTR] & ~3U;
	while (pos >= 0x40 && pos + 1 < PCI_CFG_STD_SIZE && guard++ < 48) {
		if (cfg[pos] == PCI_CAP_ID_EXP) {
			unsigned int devctl;

			if (pos + PCI_EXP_DEVCTL + 1 >= PCI_CFG_STD_SIZE)
				break;
			devctl = cfg[pos + PCI_EXP_DEVCTL] |
				 (unsigned int)cfg[pos + PCI_EXP_DEVCTL + 1] << 8;
			if (devctl & PCI_EXP_DEVCTL_RELAX_EN) {
				snprintf(why, whylen, "PCIe Device Control has Relaxed Ordering enabled");
				return 1;
			}
			snprintf(why, whylen, "PCIe Device Control has Relaxed Ordering disabled");
			return 0;
		}
		pos = cfg[pos + 1] & ~3U;
	}
	snprintf(why, whylen, "no PCI Express capability found");
	return 0;
}

static int rdma_core_has_ro(void)
{
#ifdef MCX_HAVE_IBV_ACCESS_RELAXED_ORDERING
	return 1;
#else
	return 0;
#endif
}

static void driver_of(const char *sysfs_dev, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/driver", sysfs_dev) >= (int)sizeof(path)) {
		snprintf(buf, len, "?");
		return;
	}
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		snprintf(buf, len, "?");
		return;
	}
	link[n] = '\0';
	snprintf(buf, len, "%s", basename(link));
}

/* What the module read for nic's PCI function, when sysfs would not say. */
static int module_says(const struct mcx_nic *nic, char *why, size_t whylen)
{
	if (!nic->cfg.pci_relaxed)
		return -1;
	switch (nic->cfg.pci_relaxed(nic->cfg.pci_relaxed_arg, nic->name)) {
	case MCX_REG_RO_ENABLED:
		snprintf(why, whylen, "PCIe Device Control has Relaxed Ordering enabled (read by /dev/mcxfer)");
		return 1;
	case MCX_REG_RO_DISABLED:
		snprintf(why, whylen, "PCIe Device Control has Relaxed Ordering disabled (read by /dev/mcxfer)");
		return 0;
	case MCX_REG_RO_NO_PCI:
		snprintf(why, whylen, "no PCI function (read by /dev/mcxfer)");
		return 0;
	default:
		return -1;
	}
}

void mcx__relaxed_decide(struct mcx_nic *nic, int policy, int log)
{
	char sysfs_dev[128];

	snprintf(sysfs_dev, sizeof(sysfs_dev), "/sys/class/infiniband/%s/device", nic->name);
	mcx__relaxed_decide_at(nic, policy, log, sysfs_dev);
}

void mcx__relaxed_decide_at(struct mcx_nic *nic, int policy, int log, const char *sysfs_dev)
{
	char pci_why[96], drv[32];
	int pci = 0, known = 0;

	nic->relaxed = false;
	driver_of(sysfs_dev, drv, sizeof(drv));
	if (policy == MCX_RO_OFF) {
		snprintf(nic->relaxed_reason, sizeof(nic->relaxed_reason),
			 "off: policy 0 (off)");
		goto out;
	}
	if (!rdma_core_has_ro()) {
		snprintf(nic->relaxed_reason, sizeof(nic->relaxed_reason),
			 "off: rdma-core has no IBV_ACCESS_RELAXED_ORDERING");
		goto out;
	}
	pci = mcx__relaxed_pci_enabled(sysfs_dev, pci_why, sizeof(pci_why));
	if (pci < 0) {
		char sys_why[96];

		memcpy(sys_why, pci_why, sizeof(sys_why));
		pci = module_says(nic, pci_why, sizeof(pci_why));
		if (pci < 0 && policy == MCX_RO_AUTO) {
			snprintf(nic->relaxed_reason, sizeof(nic->relaxed_reason),
				 "off: policy 2 (auto) and unknown: config space not readable (%s)",
				 sys_why);
			goto out;
		}
		if (pci < 0) {
			nic->relaxed = true;
			snprintf(nic->relaxed_reason, sizeof(nic->relaxed_reason),
				 "on (optional flag): policy 1 and unknown: config space not readable (%s)",
				 sys_why);
			goto out;
		}
	}
	if (!pci) {
		snprintf(nic->relaxed_reason, sizeof(nic->relaxed_reason),
			 "off: unsupported by the device: %s", pci_why);
		goto out;
	}
	for (size_t i = 0; i < sizeof(ro_drivers) / sizeof(ro_drivers[0]); i++)
		known |= !strcmp(drv, ro_drivers[i]);
	if (policy == MCX_RO_AUTO && !known) {
		snprintf(nic->relaxed_reason, sizeof(nic->relaxed_reason),
			 "off: policy 2 (auto) and driver %s is not known to honour it", drv);
		goto out;
	}
	nic->relaxed = true;
	if (snprintf(nic->relaxed_reason, sizeof(nic->relaxed_reason),
		     "on: policy %d, %s, driver %s", policy, pci_why, drv) < 0)
		nic->relaxed_reason[0] = '\0';
out:
	nic->mr_access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_REMOTE_READ;
#ifdef MCX_HAVE_IBV_ACCESS_RELAXED_ORDERING
	if (nic->relaxed)
		nic->mr_access |= IBV_ACCESS_RELAXED_ORDERING;
#endif
	if (log)
		mcx__info("%s port %u: relaxed ordering %s", nic->name, nic->port,
			  nic->relaxed_reason);
}
