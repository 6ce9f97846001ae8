// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * PCI topology from sysfs.  Every PCI function's directory under
 * /sys/devices is nested below the bridges its traffic crosses
 * (pci0000:00/<root port>/<switch upstream>/<switch downstream>/<device>),
 * so the length of the common prefix of two resolved paths says how close
 * two devices are: peer-to-peer DMA that stays below a switch never
 * reaches the root complex, and that is what GPU memory over RDMA wants.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/topo.h"
#include "util/util.h"

static const char *root_of(const char *sysfs)
{
	return sysfs ? sysfs : "/sys";
}

static int read_hex(const char *dir, const char *file, unsigned long *out)
{
	char p[PATH_MAX + 32], buf[32];
	FILE *f;
	char *end;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	f = fopen(p, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	errno = 0;
	*out = strtoul(buf, &end, 0);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

static int read_numa(const char *dir)
{
	char p[PATH_MAX + 32];
	FILE *f;
	int v = -1;

	snprintf(p, sizeof(p), "%s/numa_node", dir);
	f = fopen(p, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* Fill out from the device directory link (resolved). */
static int node_from_link(const char *link, struct mcx_pci_node *out)
{
	char *real = realpath(link, NULL);
	const char *base;

	memset(out, 0, sizeof(*out));
	out->numa = -1;
	if (!real)
		return -errno;
	if (strlen(real) >= sizeof(out->path)) {
		free(real);
		return -ENAMETOOLONG;
	}
	strcpy(out->path, real);
	free(real);
	base = strrchr(out->path, '/');
	base = base ? base + 1 : out->path;
	if (snprintf(out->addr, sizeof(out->addr), "%s", base) >= (int)sizeof(out->addr))
		return -ENAMETOOLONG;
	out->numa = read_numa(out->path);
	return 0;
}

int mcx__topo_pci_by_addr(const char *sysfs, const char *addr, struct mcx_pci_node *out)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s/bus/pci/devices/%s", root_of(sysfs), addr) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	return node_from_link(p, out);
}

int mcx__topo_pci_by_ibdev(const char *sysfs, const char *ibdev, struct mcx_pci_node *out)
{
	char p[PATH_MAX];
	int ret;

	if (snprintf(p, sizeof(p), "%s/class/infiniband/%s/device", root_of(sysfs), ibdev) >=
	    (int)sizeof(p))
		return -ENAMETOOLONG;
	ret = node_from_link(p, out);
	/* Soft-RoCE and friends have no PCI function of their own. */
	if (!ret && !strstr(out->path, "/pci"))
		ret = -ENOENT;
	return ret;
}

/*
 * The bridges above a device: the components of its path from the
 * root-complex directory ("pci0000:00") down, without the device itself.
 */
static size_t ancestors(const char *path, const char **comp, size_t max)
{
	const char *s = strstr(path, "/pci");
	size_t n = 0;

	while (s && *s == '/' && n < max) {
		comp[n++] = s + 1;
		s = strchr(s + 1, '/');
	}
	return n ? n - 1 : 0;	/* the last component is the device */
}

static size_t comp_len(const char *c)
{
	const char *e = strchr(c, '/');

	return e ? (size_t)(e - c) : strlen(c);
}

int mcx__topo_distance(const struct mcx_pci_node *a, const struct mcx_pci_node *b)
{
	const char *ca[64], *cb[64];
	size_t na = ancestors(a->path, ca, 64), nb = ancestors(b->path, cb, 64), common = 0;

	if (!na || !nb)
		return MCX_PCI_UNKNOWN;
	while (common < na && common < nb && comp_len(ca[common]) == comp_len(cb[common]) &&
	       !strncmp(ca[common], cb[common], comp_len(ca[common])))
		common++;
	/* [0] is the root complex, [1] a root port, anything deeper a switch port. */
	if (common >= 3)
		return MCX_PCI_SAME_SWITCH;
	if (common == 2)
		return MCX_PCI_SAME_ROOT_PORT;
	/* -1 on both: a kernel without NUMA information, one node. */
	if (a->numa == b->numa)
		return MCX_PCI_SAME_NUMA;
	return MCX_PCI_OTHER;
}

static int by_addr(const void *x, const void *y)
{
	return strcmp(((const struct mcx_pci_node *)x)->addr, ((const struct mcx_pci_node *)y)->addr);
}

int mcx__topo_gpus(const char *sysfs, struct mcx_pci_node **out, size_t *n)
{
	char dir[PATH_MAX], p[PATH_MAX + 300];
	struct mcx_pci_node *v = NULL, *nv;
	size_t cnt = 0;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	*out = NULL;
	*n = 0;
	snprintf(dir, sizeof(dir), "%s/bus/pci/devices", root_of(sysfs));
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;	/* no PCI bus: no GPU */
	while ((de = readdir(d))) {
		unsigned long cls, vendor;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (read_hex(p, "vendor", &vendor) || vendor != 0x10de ||
		    read_hex(p, "class", &cls) || (cls >> 8 != 0x0300 && cls >> 8 != 0x0302))
			continue;
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv) {
			ret = -ENOMEM;
			break;
		}
		v = nv;
		if (node_from_link(p, &v[cnt]) == 0)
			cnt++;
	}
	closedir(d);
	if (ret) {
		free(v);
		return ret;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), by_addr);
	*out = v;
	*n = cnt;
	return 0;
}

unsigned int mcx__topo_gpu_nics(const char *sysfs, const char *gpu_addr,
				const char *const *names, unsigned int n, bool all)
{
	unsigned int every = n >= 32 ? ~0U : (1U << n) - 1, mask = 0;
	int dist[32], best = MCX_PCI_UNKNOWN;
	struct mcx_pci_node gpu, nic;

	if (all || n == 0)
		return every;
	if (!gpu_addr || mcx__topo_pci_by_addr(sysfs, gpu_addr, &gpu)) {
		mcx__info("GPU %s: its place on the PCI bus is unknown; registering on every NIC",
			  gpu_addr ? gpu_addr : "?");
		return every;
	}
	for (unsigned int i = 0; i < n && i < 32; i++) {
		dist[i] = mcx__topo_pci_by_ibdev(sysfs, names[i], &nic) ?
			MCX_PCI_UNKNOWN : mcx__topo_distance(&gpu, &nic);
		if (dist[i] < best)
			best = dist[i];
	}
	if (best == MCX_PCI_UNKNOWN) {
		mcx__info("GPU %s: no NIC has a known distance to it; registering on every NIC",
			  gpu_addr);
		return every;
	}
	for (unsigned int i = 0; i < n && i < 32; i++)
		if (dist[i] == best)
			mask |= 1U << i;
	return mask;
}

/* ---- the public listing ---- */

static int list_ibdevs(const char *sysfs, char (**names)[64], size_t *n)
{
	char dir[PATH_MAX];
	char (*v)[64] = NULL, (*nv)[64];
	struct dirent *de;
	size_t cnt = 0;
	DIR *d;

	*names = NULL;
	*n = 0;
	snprintf(dir, sizeof(dir), "%s/class/infiniband", root_of(sysfs));
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= 64)
			continue;
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv) {
			closedir(d);
			free(v);
			return -ENOMEM;
		}
		v = nv;
		strcpy(v[cnt++], de->d_name);
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), (int (*)(const void *, const void *))strcmp);
	*names = v;
	*n = cnt;
	return 0;
}

MCX_EXPORT void mcx_topology_free(struct mcx_topology *t)
{
	if (!t)
		return;
	free(t->gpus);
	free(t->nics);
	free(t->distance);
	free(t);
}

int mcx__topology_query_at(const char *sysfs, struct mcx_topology **out)
{
	struct mcx_pci_node *gpus = NULL, *nics = NULL;
	char (*names)[64] = NULL;
	struct mcx_topology *t;
	size_t ng, nn;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	ret = mcx__topo_gpus(sysfs, &gpus, &ng);
	if (ret)
		return ret;
	ret = list_ibdevs(sysfs, &names, &nn);
	if (ret)
		goto out;
	ret = -ENOMEM;
	t = calloc(1, sizeof(*t));
	nics = calloc(nn ? nn : 1, sizeof(*nics));
	if (!t || !nics || !(t->gpus = calloc(ng ? ng : 1, sizeof(*t->gpus))) ||
	    !(t->nics = calloc(nn ? nn : 1, sizeof(*t->nics))) ||
	    !(t->distance = calloc(ng * nn + 1, sizeof(int)))) {
		mcx_topology_free(t);
		goto out;
	}
	t->nr_gpus = ng;
	t->nr_nics = nn;
	for (size_t i = 0; i < ng; i++) {
		snprintf(t->gpus[i].name, sizeof(t->gpus[i].name), "%s", gpus[i].addr);
		snprintf(t->gpus[i].pci, sizeof(t->gpus[i].pci), "%s", gpus[i].addr);
		t->gpus[i].numa = gpus[i].numa;
	}
	for (size_t k = 0; k < nn; k++) {
		bool pci = mcx__topo_pci_by_ibdev(sysfs, names[k], &nics[k]) == 0;

		snprintf(t->nics[k].name, sizeof(t->nics[k].name), "%s", names[k]);
		snprintf(t->nics[k].pci, sizeof(t->nics[k].pci), "%s", pci ? nics[k].addr : "");
		t->nics[k].numa = pci ? nics[k].numa : -1;
		for (size_t i = 0; i < ng; i++)
			t->distance[i * nn + k] = pci ? mcx__topo_distance(&gpus[i], &nics[k]) :
				MCX_PCI_UNKNOWN;
	}
	*out = t;
	ret = 0;
out:
	free(gpus);
	free(nics);
	free(names);
	return ret;
}

MCX_EXPORT int mcx_topology_query(struct mcx_topology **out)
{
	return mcx__topology_query_at(NULL, out);
}
