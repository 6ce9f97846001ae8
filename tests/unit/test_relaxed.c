// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Relaxed-ordering detection (lib/transport/verbs/relaxed.c) against fake sysfs device
 * directories: the PCIe capability is found by walking the capability list
 * of the config space, and Device Control bit 4 decides.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport/verbs/verbs.h"
#include "util.h"

#define CFG 256

static char top[] = "/tmp/mcx-ro-XXXXXX";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Each test runs in a child that leaves with _exit(): clean up by hand. */
static void rm_top(void)
{
	nftw(top, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A device dir with subsystem -> .../bus/<bus> and config = cfg[0..len). */
static char *fake_dev(const char *bus, const unsigned char *cfg, size_t len)
{
	static int n;
	static char dir[256];
	char path[300], target[128];
	FILE *f;

	if (!n) {
		ASSERT_TRUE(mkdtemp(top) != NULL);
	}
	snprintf(dir, sizeof(dir), "%s/dev%d", top, n++);
	ASSERT_EQ(mkdir(dir, 0700), 0);
	if (bus) {
		snprintf(path, sizeof(path), "%s/subsystem", dir);
		snprintf(target, sizeof(target), "../../../bus/%s", bus);
		ASSERT_EQ(symlink(target, path), 0);
	}
	if (cfg) {
		snprintf(path, sizeof(path), "%s/config", dir);
		f = fopen(path, "w");
		ASSERT_TRUE(f != NULL);
		ASSERT_EQ(fwrite(cfg, 1, len, f), len);
		fclose(f);
	}
	return dir;
}

/* Status has a capability list: PM at 0x40, then PCIe at 0x60. */
static void pcie_cfg(unsigned char *cfg, int relax)
{
	memset(cfg, 0, CFG);
	cfg[0x06] = 0x10;
	cfg[0x34] = 0x40;
	cfg[0x40] = 0x01;	/* power management */
	cfg[0x41] = 0x60;
	cfg[0x60] = 0x10;	/* PCI Express */
	cfg[0x61] = 0x00;
	cfg[0x68] = relax ? 0x1f : 0x0f;	/* Device Control, low byte */
	cfg[0x69] = 0x29;
}

TEST(relaxed_pcie_devctl_bit_enabled)
{
	unsigned char cfg[CFG];
	char why[128];

	pcie_cfg(cfg, 1);
	ASSERT_EQ(mcx__relaxed_pci_enabled(fake_dev("pci", cfg, CFG), why, sizeof(why)), 1);
	ASSERT_TRUE(strstr(why, "enabled") != NULL);
	rm_top();
}

TEST(relaxed_pcie_devctl_bit_disabled)
{
	unsigned char cfg[CFG];
	char why[128];

	pcie_cfg(cfg, 0);
	ASSERT_EQ(mcx__relaxed_pci_enabled(fake_dev("pci", cfg, CFG), why, sizeof(why)), 0);
	ASSERT_TRUE(strstr(why, "disabled") != NULL);
	rm_top();
}

TEST(relaxed_software_device_and_other_buses)
{
	char why[128];

	ASSERT_EQ(mcx__relaxed_pci_enabled(fake_dev(NULL, NULL, 0), why, sizeof(why)), 0);
	ASSERT_TRUE(strstr(why, "software device") != NULL);
	ASSERT_EQ(mcx__relaxed_pci_enabled(fake_dev("platform", NULL, 0), why, sizeof(why)), 0);
	ASSERT_TRUE(strstr(why, "platform") != NULL);
	rm_top();
}

TEST(relaxed_unreadable_or_odd_config_space)
{
	unsigned char cfg[CFG];
	char why[128];

	/* Unprivileged readers see 64 bytes only: unknown, not "no". */
	pcie_cfg(cfg, 1);
	ASSERT_EQ(mcx__relaxed_pci_enabled(fake_dev("pci", cfg, 64), why, sizeof(why)), -1);
	ASSERT_TRUE(strstr(why, "needs root") != NULL);
	/* No config file at all: unknown as well. */
	ASSERT_EQ(mcx__relaxed_pci_enabled(fake_dev("pci", NULL, 0), why, sizeof(why)), -1);
	/* No capability list. */
	pcie_cfg(cfg, 1);
	cfg[0x06] = 0;
	ASSERT_EQ(mcx__relaxed_pci_enabled(fake_dev("pci", cfg, CFG), why, sizeof(why)), 0);
	ASSERT_TRUE(strstr(why, "no capability list") != NULL);
	/* A list without PCIe, and a list that loops: both end. */
	pcie_cfg(cfg, 1);
	cfg[0x41] = 0x00;
	ASSERT_EQ(mcx__relaxed_pci_enabled(fake_dev("pci", cfg, CFG), why, sizeof(why)), 0);
	ASSERT_TRUE(strstr(why, "no PCI Express") != NULL);
	pcie_cfg(cfg, 1);
	cfg[0x41] = 0x40;
	ASSERT_EQ(mcx__relaxed_pci_enabled(fake_dev("pci", cfg, CFG), why, sizeof(why)), 0);
	ASSERT_TRUE(strstr(why, "no PCI Express") != NULL);
	/* PCIe capability so near the end that Device Control is outside. */
	pcie_cfg(cfg, 1);
	cfg[0x41] = 0xfc;
	cfg[0xfc] = 0x10;
	ASSERT_EQ(mcx__relaxed_pci_enabled(fake_dev("pci", cfg, CFG), why, sizeof(why)), 0);
	rm_top();
}

TEST(relaxed_policy_decisions)
{
	struct mcx_nic nic;

	/* No such device in sysfs: supported nowhere, whatever the policy. */
	memset(&nic, 0, sizeof(nic));
	snprintf(nic.name, sizeof(nic.name), "nosuchdev9");
	mcx__relaxed_decide(&nic, MCX_RO_OFF, 0);
	ASSERT_TRUE(!nic.relaxed);
	ASSERT_TRUE(strstr(nic.relaxed_reason, "policy 0") != NULL);
	mcx__relaxed_decide(&nic, MCX_RO_ON, 0);
	ASSERT_TRUE(!nic.relaxed);
	ASSERT_TRUE(!strncmp(nic.relaxed_reason, "off:", 4));
	mcx__relaxed_decide(&nic, MCX_RO_AUTO, 0);
	ASSERT_TRUE(!nic.relaxed);
	ASSERT_EQ(nic.mr_access, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				 IBV_ACCESS_REMOTE_READ);
}

/* What /dev/mcxfer reads, as the engine lends it (cfg.pci_relaxed). */
static int module_answer, module_calls;

static int fake_module(void *arg, const char *ibdev)
{
	ASSERT_TRUE(arg == &module_answer);
	ASSERT_STREQ(ibdev, "mlx5_7");
	module_calls++;
	return module_answer;
}

static void nic_for(struct mcx_nic *nic, bool with_module)
{
	memset(nic, 0, sizeof(*nic));
	snprintf(nic->name, sizeof(nic->name), "mlx5_7");
	if (with_module) {
		nic->cfg.pci_relaxed = fake_module;
		nic->cfg.pci_relaxed_arg = &module_answer;
	}
}

#define RO_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_RELAXED_ORDERING)

TEST(relaxed_unreadable_without_module_policy1_sets_optional_flag)
{
	unsigned char cfg[CFG];
	struct mcx_nic nic;
	const char *dev;

	pcie_cfg(cfg, 0);
	dev = fake_dev("pci", cfg, 64);
	nic_for(&nic, false);
	mcx__relaxed_decide_at(&nic, MCX_RO_ON, 0, dev);
	ASSERT_TRUE(nic.relaxed);
	ASSERT_TRUE(strstr(nic.relaxed_reason, "unknown: config space not readable") != NULL);
	ASSERT_EQ(nic.mr_access, RO_ACCESS);
	/* Auto wants the bit seen set. */
	mcx__relaxed_decide_at(&nic, MCX_RO_AUTO, 0, dev);
	ASSERT_TRUE(!nic.relaxed);
	ASSERT_TRUE(strstr(nic.relaxed_reason, "unknown: config space not readable") != NULL);
	ASSERT_TRUE(!strncmp(nic.relaxed_reason, "off:", 4));
	rm_top();
}

TEST(relaxed_unreadable_asks_the_module)
{
	unsigned char cfg[CFG];
	struct mcx_nic nic;
	const char *dev;

	pcie_cfg(cfg, 0);
	dev = fake_dev("pci", cfg, 64);
	nic_for(&nic, true);
	module_answer = MCX_REG_RO_ENABLED;
	mcx__relaxed_decide_at(&nic, MCX_RO_ON, 0, dev);
	ASSERT_TRUE(nic.relaxed);
	ASSERT_TRUE(strstr(nic.relaxed_reason, "enabled (read by /dev/mcxfer)") != NULL);
	ASSERT_EQ(nic.mr_access, RO_ACCESS);
	module_answer = MCX_REG_RO_DISABLED;
	mcx__relaxed_decide_at(&nic, MCX_RO_ON, 0, dev);
	ASSERT_TRUE(!nic.relaxed);
	ASSERT_TRUE(strstr(nic.relaxed_reason, "disabled (read by /dev/mcxfer)") != NULL);
	ASSERT_EQ(nic.mr_access, RO_ACCESS & ~IBV_ACCESS_RELAXED_ORDERING);
	module_answer = MCX_REG_RO_NO_PCI;
	mcx__relaxed_decide_at(&nic, MCX_RO_ON, 0, dev);
	ASSERT_TRUE(!nic.relaxed);
	/* The module cannot tell either (-1): as without it. */
	module_answer = -1;
	mcx__relaxed_decide_at(&nic, MCX_RO_ON, 0, dev);
	ASSERT_TRUE(nic.relaxed);
	ASSERT_TRUE(strstr(nic.relaxed_reason, "unknown: config space not readable") != NULL);
	ASSERT_EQ(module_calls, 4);
	rm_top();
}

TEST(relaxed_readable_config_space_needs_no_module)
{
	unsigned char cfg[CFG];
	struct mcx_nic nic;

	pcie_cfg(cfg, 1);
	nic_for(&nic, true);
	module_answer = MCX_REG_RO_DISABLED;
	mcx__relaxed_decide_at(&nic, MCX_RO_ON, 0, fake_dev("pci", cfg, CFG));
	ASSERT_TRUE(nic.relaxed);
	ASSERT_EQ(module_calls, 0);
	/* Policy 0 never asks. */
	mcx__relaxed_decide_at(&nic, MCX_RO_OFF, 0, fake_dev("pci", cfg, 64));
	ASSERT_TRUE(!nic.relaxed);
	ASSERT_EQ(module_calls, 0);
	rm_top();
}
