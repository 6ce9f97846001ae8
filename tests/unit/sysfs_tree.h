/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A fake sysfs tree for the topology tests (test_topo.c, test_cuda.c):
 *
 *   pci0000:00/0000:00:01.0 (root port)/0000:01:00.0 (switch up)
 *       /0000:02:00.0 (down)/0000:03:00.0   GPU 0, node 0
 *       /0000:02:01.0 (down)/0000:04:00.0   NIC mlx5_0 (fake0), node 0
 *       0000:03:00.1 under GPU 0's port too: NVIDIA audio, not a GPU
 *   pci0000:00/0000:00:02.0 (root port)
 *       /0000:05:00.0   GPU 1, node 0
 *       /0000:05:00.1   NIC mlx5_1 (fake1), node 0
 *   pci0000:00/0000:00:03.0   another vendor's VGA, not a GPU here
 *   pci0000:80/0000:80:01.0/0000:81:00.0   NIC mlx5_2 (fake2), node 1
 *   rxe0: no PCI function (soft-RoCE)
 *
 * fake<i> are the names fake_tp gives its devices.
 */
#ifndef MCX_TEST_SYSFS_TREE_H
#define MCX_TEST_SYSFS_TREE_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static inline void tree_mkdirs(const char *path)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
}

static inline void tree_write(const char *dir, const char *file, const char *v)
{
	char p[2048];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	f = fopen(p, "w");
	ASSERT_TRUE(f != NULL);
	fprintf(f, "%s\n", v);
	fclose(f);
}

/* A PCI function at rel (below root/devices), linked from bus/pci/devices. */
static inline void tree_pci(const char *root, const char *rel, const char *vendor,
			    const char *cls, const char *numa)
{
	char dir[1024], link[2048];
	const char *addr = strrchr(rel, '/') + 1;

	snprintf(dir, sizeof(dir), "%s/devices/%s", root, rel);
	tree_mkdirs(dir);
	tree_write(dir, "vendor", vendor);
	tree_write(dir, "class", cls);
	tree_write(dir, "numa_node", numa);
	snprintf(link, sizeof(link), "%s/bus/pci/devices", root);
	tree_mkdirs(link);
	snprintf(link, sizeof(link), "%s/bus/pci/devices/%s", root, addr);
	ASSERT_ERR(symlink(dir, link) ? -errno : 0, 0);
}

static inline void tree_ibdev(const char *root, const char *name, const char *rel)
{
	char dir[1024], link[2048];

	snprintf(dir, sizeof(dir), "%s/class/infiniband/%s", root, name);
	tree_mkdirs(dir);
	if (!rel)
		return;
	snprintf(link, sizeof(link), "%s/device", dir);
	snprintf(dir, sizeof(dir), "%s/devices/%s", root, rel);
	ASSERT_ERR(symlink(dir, link) ? -errno : 0, 0);
}

#define SW "pci0000:00/0000:00:01.0/0000:01:00.0"
#define GPU0 SW "/0000:02:00.0/0000:03:00.0"
#define NIC0 SW "/0000:02:01.0/0000:04:00.0"
#define GPU1 "pci0000:00/0000:00:02.0/0000:05:00.0"
#define NIC1 "pci0000:00/0000:00:02.0/0000:05:00.1"
#define NIC2 "pci0000:80/0000:80:01.0/0000:81:00.0"

/* Build the tree in a new directory (removed by the test's exit: tmpfs). */
static inline const char *tree_make(void)
{
	static char root[64];

	snprintf(root, sizeof(root), "/tmp/mcx-sysfs-XXXXXX");
	ASSERT_TRUE(mkdtemp(root) != NULL);
	tree_pci(root, GPU0, "0x10de", "0x030200", "0");
	tree_pci(root, SW "/0000:02:00.0/0000:03:00.1", "0x10de", "0x040300", "0");
	tree_pci(root, NIC0, "0x15b3", "0x020700", "0");
	tree_pci(root, GPU1, "0x10de", "0x030000", "0");
	tree_pci(root, NIC1, "0x15b3", "0x020700", "0");
	tree_pci(root, "pci0000:00/0000:00:03.0", "0x1234", "0x030000", "0");
	tree_pci(root, NIC2, "0x15b3", "0x020700", "1");
	tree_ibdev(root, "mlx5_0", NIC0);
	tree_ibdev(root, "mlx5_1", NIC1);
	tree_ibdev(root, "mlx5_2", NIC2);
	tree_ibdev(root, "rxe0", NULL);
	tree_ibdev(root, "fake0", NIC0);
	tree_ibdev(root, "fake1", NIC1);
	tree_ibdev(root, "fake2", NIC2);
	return root;
}

static inline void tree_remove(const char *root)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ASSERT_EQ(system(cmd), 0);
}

#endif
