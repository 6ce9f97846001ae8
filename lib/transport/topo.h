/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * PCI topology from sysfs (topo.c): where a GPU and each RDMA device sit,
 * and how far apart they are.  A header of its own next to transport.h
 * because it needs no transport: it reads sysfs only, so that tests point
 * it at a fake tree and mcxfer-tool runs it on hosts with neither CUDA nor
 * verbs devices.
 */
#ifndef MCXFER_LIB_TRANSPORT_TOPO_H
#define MCXFER_LIB_TRANSPORT_TOPO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "mcxfer.h"	/* enum mcx_pci_distance */

/* One PCI function: its address, its path in the device tree, its node. */
struct mcx_pci_node {
	char addr[32];			/* "0000:17:00.0" */
	char path[PATH_MAX];		/* resolved: ".../devices/pci0000:00/..." */
	int numa;			/* -1: the kernel does not say */
};

/* sysfs root to read (NULL: "/sys"); tests pass a fake tree. */
int mcx__topo_pci_by_addr(const char *sysfs, const char *addr, struct mcx_pci_node *out);
/* The PCI function of RDMA device ibdev; -ENOENT for a device without one
 * (soft-RoCE, a test's fake). */
int mcx__topo_pci_by_ibdev(const char *sysfs, const char *ibdev, struct mcx_pci_node *out);

/* How far apart a and b are (enum mcx_pci_distance). */
int mcx__topo_distance(const struct mcx_pci_node *a, const struct mcx_pci_node *b);

/*
 * The NVIDIA GPUs of the PCI bus (class 0x0300 or 0x0302, vendor 0x10de),
 * sorted by address, into a malloc'ed *out.  No CUDA needed.
 */
int mcx__topo_gpus(const char *sysfs, struct mcx_pci_node **out, size_t *n);

/*
 * Which of names[0..n) (RDMA devices) to register memory of the GPU at
 * gpu_addr on: a bit per device.  all: every one; otherwise those nearest
 * the GPU.  Every device when no distance can be known (the GPU's or every
 * device's place is unknown), said in the log.  0 only when n is 0.
 */
unsigned int mcx__topo_gpu_nics(const char *sysfs, const char *gpu_addr,
				const char *const *names, unsigned int n, bool all);

/* mcx_topology_query() of the tree at sysfs (tests: a fake one). */
int mcx__topology_query_at(const char *sysfs, struct mcx_topology **out);

#endif /* MCXFER_LIB_TRANSPORT_TOPO_H */
