// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * PCI topology (lib/transport/topo.c) on a fake sysfs tree (sysfs_tree.h):
 * the distance classes, which functions are GPUs, which NICs GPU memory
 * goes to under local and all, what happens when places are unknown, and
 * the public matrix.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "transport/topo.h"
#include "sysfs_tree.h"
#include "util.h"

static struct mcx_pci_node node(const char *root, const char *addr)
{
	struct mcx_pci_node n;

	ASSERT_ERR(mcx__topo_pci_by_addr(root, addr, &n), 0);
	return n;
}

TEST(topo_distance_ranks_switch_root_port_numa_other)
{
	const char *root = tree_make();
	struct mcx_pci_node g0 = node(root, "0000:03:00.0"), g1 = node(root, "0000:05:00.0");
	struct mcx_pci_node n0 = node(root, "0000:04:00.0"), n1 = node(root, "0000:05:00.1");
	struct mcx_pci_node n2 = node(root, "0000:81:00.0"), rxe;

	ASSERT_EQ(g0.numa, 0);
	ASSERT_EQ(n2.numa, 1);
	ASSERT_EQ(mcx__topo_distance(&g0, &n0), MCX_PCI_SAME_SWITCH);
	ASSERT_EQ(mcx__topo_distance(&g0, &n1), MCX_PCI_SAME_NUMA);
	ASSERT_EQ(mcx__topo_distance(&g0, &n2), MCX_PCI_OTHER);
	ASSERT_EQ(mcx__topo_distance(&g1, &n1), MCX_PCI_SAME_ROOT_PORT);
	ASSERT_EQ(mcx__topo_distance(&g1, &n0), MCX_PCI_SAME_NUMA);
	/* Symmetric. */
	ASSERT_EQ(mcx__topo_distance(&n0, &g0), MCX_PCI_SAME_SWITCH);
	/* The NIC's own PCI function comes from its class/infiniband link. */
	ASSERT_ERR(mcx__topo_pci_by_ibdev(root, "mlx5_0", &rxe), 0);
	ASSERT_STREQ(rxe.addr, "0000:04:00.0");
	ASSERT_ERR(mcx__topo_pci_by_ibdev(root, "rxe0", &rxe), -ENOENT);
	ASSERT_ERR(mcx__topo_pci_by_ibdev(root, "nosuch", &rxe), -ENOENT);
	ASSERT_ERR(mcx__topo_pci_by_addr(root, "0000:99:00.0", &rxe), -ENOENT);
	tree_remove(root);
}

TEST(topo_gpus_are_nvidia_display_or_3d_functions_only)
{
	const char *root = tree_make();
	struct mcx_pci_node *g;
	size_t n;

	ASSERT_ERR(mcx__topo_gpus(root, &g, &n), 0);
	ASSERT_EQ(n, 2u);
	ASSERT_STREQ(g[0].addr, "0000:03:00.0");	/* sorted; audio 03:00.1 left out */
	ASSERT_STREQ(g[1].addr, "0000:05:00.0");	/* class 0x0300 counts too */
	free(g);
	tree_remove(root);
	/* No PCI bus at all: no GPU, no error. */
	ASSERT_ERR(mcx__topo_gpus("/nonexistent", &g, &n), 0);
	ASSERT_EQ(n, 0u);
}

TEST(topo_gpu_nics_local_takes_the_nearest_all_takes_every)
{
	const char *root = tree_make();
	const char *names[] = { "mlx5_2", "mlx5_0", "mlx5_1", "rxe0" };

	ASSERT_EQ(mcx__topo_gpu_nics(root, "0000:03:00.0", names, 4, false), 1u << 1);
	ASSERT_EQ(mcx__topo_gpu_nics(root, "0000:05:00.0", names, 4, false), 1u << 2);
	ASSERT_EQ(mcx__topo_gpu_nics(root, "0000:03:00.0", names, 4, true), 0xfu);
	/* Without the switch NIC, the same-node one is next; not the other node's. */
	ASSERT_EQ(mcx__topo_gpu_nics(root, "0000:03:00.0", (const char *[]){ "mlx5_2", "mlx5_1" },
				     2, false), 1u << 1);
	/* Two equally near NICs: both. */
	ASSERT_EQ(mcx__topo_gpu_nics(root, "0000:03:00.0",
				     (const char *[]){ "mlx5_0", "fake0", "mlx5_2" }, 3, false), 3u);
	ASSERT_EQ(mcx__topo_gpu_nics(root, "0000:03:00.0", names, 0, false), 0u);
	tree_remove(root);
}

TEST(topo_unknown_places_mean_every_nic)
{
	const char *root = tree_make();
	const char *names[] = { "mlx5_0", "mlx5_2" };

	log_capture();
	ASSERT_ERR(mcx_log_set_level(MCX_LOG_INFO), 0);
	ASSERT_EQ(mcx__topo_gpu_nics(root, "0000:77:00.0", names, 2, false), 3u);
	ASSERT_TRUE(strstr(captured_log, "0000:77:00.0") != NULL);
	ASSERT_EQ(mcx__topo_gpu_nics(root, NULL, names, 2, false), 3u);
	ASSERT_EQ(mcx__topo_gpu_nics(root, "0000:03:00.0", (const char *[]){ "rxe0", "x" }, 2,
				     false), 3u);
	ASSERT_TRUE(strstr(captured_log, "no NIC has a known distance") != NULL);
	mcx__log_init();
	tree_remove(root);
}

TEST(topology_query_gives_the_gpu_nic_matrix)
{
	const char *root = tree_make();
	struct mcx_topology *t;
	int want[2][7] = {
		/* fake0..2, mlx5_0..2, rxe0 (sorted by name) */
		{ 0, 2, 3, 0, 2, 3, 4 },
		{ 2, 1, 3, 2, 1, 3, 4 },
	};

	ASSERT_ERR(mcx__topology_query_at(root, &t), 0);
	ASSERT_EQ(t->nr_gpus, 2u);
	ASSERT_EQ(t->nr_nics, 7u);
	ASSERT_STREQ(t->nics[3].name, "mlx5_0");
	ASSERT_STREQ(t->nics[3].pci, "0000:04:00.0");
	ASSERT_STREQ(t->nics[6].pci, "");
	ASSERT_EQ(t->nics[5].numa, 1);
	for (int g = 0; g < 2; g++)
		for (int k = 0; k < 7; k++)
			ASSERT_EQ(t->distance[g * 7 + k], want[g][k]);
	mcx_topology_free(t);
	ASSERT_ERR(mcx__topology_query_at(root, NULL), -EINVAL);
	tree_remove(root);
}
