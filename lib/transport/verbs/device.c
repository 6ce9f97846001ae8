// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * RDMA devices: selecting and opening the device ports an engine uses,
 * choosing their GID (RoCE v2 with an IPv4-mapped address unless told
 * otherwise, since that is what routes between subnets and what the rail
 * matching of the handshake compares), and describing every port for
 * mcxfer-tool devices.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "transport/verbs/verbs.h"

enum gid_type { GID_TYPE_UNKNOWN = 0, GID_TYPE_V1 = 1, GID_TYPE_V2 = 2 };

/*
 * Entries of a port's completion queues (at most the device's max_cqe).
 * Providers make a ring of the next power of two above the entries asked
 * for, one slot kept empty (rxe's rxe_queue_init(), mlx5's
 * align_queue_size(cqe + 1)): 8192 asked is 16384 slots made, twice the
 * memory and twice the time to set it up of 8191, for one entry more.
 */
#define CQ_ENTRIES	8191

struct gid_ent {
	union ibv_gid gid;
	enum gid_type type;
	uint32_t ifindex;	/* of netdev, 0: none or not known */
	char netdev[32];	/* "" until gid_netdev() (ibv_query_gid_ex) */
};

#ifndef MCX_HAVE_IBV_QUERY_GID_EX
static int read_sysfs_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	char *nl;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	return 0;
}
#endif

static bool gid_is_zero(const union ibv_gid *g)
{
	static const uint8_t zero[16];

	return !memcmp(g->raw, zero, sizeof(zero));
}

static bool gid_is_v4mapped(const union ibv_gid *g)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(g->raw, prefix, sizeof(prefix));
}

/*
 * Entry idx of the GID table of (ctx, port): 0 with *e filled in, -ENODATA
 * for an unused entry, or -errno.
 */
static int read_gid(struct ibv_context *ctx, const char *dev, uint8_t port, int idx,
		    struct gid_ent *e)
{
	memset(e, 0, sizeof(*e));
#ifdef MCX_HAVE_IBV_QUERY_GID_EX
	struct ibv_gid_entry ge;
	int ret = ibv_query_gid_ex(ctx, port, (uint32_t)idx, &ge, 0);

	(void)dev;
	if (ret)
		return ret > 0 ? -ret : -ENODATA;
	memcpy(&e->gid, &ge.gid, sizeof(e->gid));
	if (gid_is_zero(&e->gid))
		return -ENODATA;
	e->type = ge.gid_type == IBV_GID_TYPE_ROCE_V2 ? GID_TYPE_V2 : GID_TYPE_V1;
	/* Its name costs a socket and an ioctl: gid_netdev(), for the entries that need it. */
	e->ifindex = ge.ndev_ifindex;
	return 0;
#else
	char path[PATH_MAX], buf[64];

	if (ibv_query_gid(ctx, port, idx, &e->gid))
		return -EIO;
	if (gid_is_zero(&e->gid))
		return -ENODATA;
	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/%u/gid_attrs/types/%d",
		 dev, port, idx);
	if (!read_sysfs_line(path, buf, sizeof(buf)))
		e->type = !strcasecmp(buf, "RoCE v2") ? GID_TYPE_V2 : GID_TYPE_V1;
	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/%u/gid_attrs/ndevs/%d",
		 dev, port, idx);
	if (read_sysfs_line(path, e->netdev, sizeof(e->netdev)))
		e->netdev[0] = '\0';
	return 0;
#endif
}

/* Name e's netdev (read_gid() leaves it to here where it has the ifindex). */
static void gid_netdev(struct gid_ent *e)
{
	if (e->netdev[0] || !e->ifindex)
		return;
	if (!if_indextoname(e->ifindex, e->netdev))
		e->netdev[0] = '\0';
}

/* Prefix length of ipv4 (network order) on netdev (any netdev if ""). */
static uint8_t ipv4_prefix(const char *netdev, uint32_t ipv4)
{
	struct ifaddrs *ifa, *i;
	uint8_t prefix = 32;

	if (getifaddrs(&ifa))
		return prefix;
	for (i = ifa; i; i = i->ifa_next) {
		const struct sockaddr_in *a = (const void *)i->ifa_addr;
		const struct sockaddr_in *m = (const void *)i->ifa_netmask;

		if (!a || !m || a->sin_family != AF_INET)
			continue;
		if (a->sin_addr.s_addr != ipv4)
			continue;
		if (netdev[0] && strcmp(netdev, i->ifa_name))
			continue;
		prefix = (uint8_t)__builtin_popcount(ntohl(m->sin_addr.s_addr));
		break;
	}
	freeifaddrs(ifa);
	return prefix;
}

/* The GID auto-selection picks on (ctx, port), or -1 (and -ENOENT). */
static int gid_auto(struct ibv_context *ctx, const char *dev, uint8_t port,
		    const struct ibv_port_attr *pa, struct gid_ent *out)
{
	struct gid_ent e;

	if (pa->link_layer == IBV_LINK_LAYER_INFINIBAND) {
		if (read_gid(ctx, dev, port, 0, &e))
			return -1;
		*out = e;
		return 0;
	}
	for (int i = 0; i < pa->gid_tbl_len; i++) {
		if (read_gid(ctx, dev, port, i, &e))
			continue;
		if (e.type == GID_TYPE_V2 && gid_is_v4mapped(&e.gid)) {
			*out = e;
			return i;
		}
	}
	return -1;
}

int mcx__gid_select(struct mcx_nic *nic, int gid_index)
{
	struct ibv_port_attr pa;
	struct gid_ent e;
	int idx, ret;

	if (ibv_query_port(nic->ctx, nic->port, &pa))
		return -errno ? -errno : -EIO;
	if (gid_index < 0) {
		idx = gid_auto(nic->ctx, nic->name, nic->port, &pa, &e);
		if (idx < 0) {
			mcx__err("%s port %u: no RoCE v2 GID with an IPv4-mapped address (does its netdev have an IPv4 address?); set MCX_IB_GID_INDEX",
				 nic->name, nic->port);
			return -ENOENT;
		}
	} else {
		idx = gid_index;
		ret = idx < pa.gid_tbl_len ? read_gid(nic->ctx, nic->name, nic->port, idx, &e)
					   : -EINVAL;
		if (ret) {
			mcx__err("%s port %u: GID index %d (MCX_IB_GID_INDEX) is %s (table has %d entries)",
				 nic->name, nic->port, idx,
				 ret == -EINVAL ? "out of range" : "unused", pa.gid_tbl_len);
			return -EINVAL;
		}
	}
	gid_netdev(&e);
	nic->gid_index = idx;
	nic->gid = e.gid;
	nic->gid_roce_v2 = e.type == GID_TYPE_V2;
	snprintf(nic->netdev, sizeof(nic->netdev), "%s", e.netdev);
	nic->ipv4 = 0;
	nic->ipv4_prefix = 0;
	if (gid_is_v4mapped(&e.gid)) {
		memcpy(&nic->ipv4, &e.gid.raw[12], 4);
		nic->ipv4_prefix = ipv4_prefix(nic->netdev, nic->ipv4);
	}
	return 0;
}

static enum ibv_mtu mtu_enum(int bytes)
{
	switch (bytes) {
	case 256: return IBV_MTU_256;
	case 512: return IBV_MTU_512;
	case 1024: return IBV_MTU_1024;
	case 2048: return IBV_MTU_2048;
	default: return IBV_MTU_4096;
	}
}

/* Whether device name is selected by the comma list sel (NULL/"all": yes). */
static bool selected(const char *sel, const char *name)
{
	size_t nl = strlen(name);
	const char *p = sel;

	if (!sel || !strcasecmp(sel, "all"))
		return true;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == nl && !memcmp(p, name, nl))
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int mcx__verbs_wait_set_init(struct mcx_nic *nic)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fds[2] = { nic->channel ? nic->channel->fd : -1,
		       nic->tcq.channel ? nic->tcq.channel->fd : -1 };
	int set;

	nic->wait_set = -1;
	if (fds[1] < 0)
		return 0;
	set = epoll_create1(EPOLL_CLOEXEC);
	if (set < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(set, EPOLL_CTL_ADD, fds[i], &ev)) {
			int ret = -errno;

			close(set);
			return ret;
		}
	}
	nic->wait_set = set;
	return 0;
}

int mcx__verbs_wait_set_add_private(struct mcx_nic *nic)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };

	if (nic->wait_set < 0 || !nic->channel)
		return 0;
	if (epoll_ctl(nic->wait_set, EPOLL_CTL_ADD, nic->channel->fd, &ev))
		return -errno;
	return 0;
}

static void private_cq_destroy(struct mcx_nic *nic)
{
	if (nic->cq)
		ibv_destroy_cq(nic->cq);
	if (nic->channel)
		ibv_destroy_comp_channel(nic->channel);
	nic->cq = NULL;
	nic->channel = NULL;
}

/* The private CQ and its channel; the caller holds cq_lock or is alone. */
static int private_cq_create(struct mcx_nic *nic)
{
	int ret;

	nic->channel = ibv_create_comp_channel(nic->ctx);
	if (nic->channel)
		nic->cq = ibv_create_cq(nic->ctx, (int)nic->cq_size, NULL, nic->channel, 0);
	if (!nic->cq) {
		ret = errno ? -errno : -ENOMEM;
		mcx__err("%s: ibv_create_cq(%u): %s", nic->name, nic->cq_size, mcx_strerror(ret));
		private_cq_destroy(nic);
		return ret;
	}
	/* The poller sleeps on the channel: its fd must not block either. */
	set_nonblock(nic->channel->fd);
	ret = mcx__verbs_wait_set_add_private(nic);
	if (ret) {
		mcx__err("%s: adding the completion channel to the wait set: %s", nic->name,
			 mcx_strerror(ret));
		private_cq_destroy(nic);
		return ret;
	}
	ibv_req_notify_cq(nic->cq, 0);
	atomic_store(&nic->cq_made, true);
	return 0;
}

int mcx__verbs_private_cq(struct mcx_nic *nic, struct ibv_cq **cq)
{
	int ret = 0;

	if (!atomic_load(&nic->cq_made)) {
		pthread_mutex_lock(&nic->cq_lock);
		if (!atomic_load(&nic->cq_made)) {
			ret = private_cq_create(nic);
			if (!ret)
				mcx__info("%s port %u: completion queue for initiating made on first use",
					  nic->name, nic->port);
		}
		pthread_mutex_unlock(&nic->cq_lock);
	}
	*cq = ret ? NULL : nic->cq;
	return ret;
}

static void target_cq_destroy(struct mcx_nic *nic)
{
	if (nic->wait_set >= 0)
		close(nic->wait_set);
	nic->wait_set = -1;
	if (nic->tcq.cq)
		ibv_destroy_cq(nic->tcq.cq);
	if (nic->tcq.channel)
		ibv_destroy_comp_channel(nic->tcq.channel);
	nic->tcq.cq = NULL;
	nic->tcq.channel = NULL;
}

/*
 * A TARGET device's target QPs complete their receives (notifications)
 * on a CQ in the joined context: a QP's CQ must belong to its file, and
 * so must the CQ's channel.  Both channels sleep in one epoll set.
 */
static int target_cq_init(struct mcx_nic *nic)
{
	struct ibv_context *tctx = nic->vctx.tctx;
	int ret;

	/* Enough for every target QP's receives in the usual case. */
	nic->tcq.size = nic->cq_size;
	atomic_store(&nic->tcq.outstanding, 0);
	nic->tcq.channel = ibv_create_comp_channel(tctx);
	if (nic->tcq.channel)
		nic->tcq.cq = ibv_create_cq(tctx, (int)nic->tcq.size, NULL, nic->tcq.channel, 0);
	if (!nic->tcq.cq) {
		ret = errno ? -errno : -ENOMEM;
		mcx__err("%s: ibv_create_cq(%u) in the shared context: %s", nic->name,
			 nic->tcq.size, mcx_strerror(ret));
		target_cq_destroy(nic);
		return ret;
	}
	set_nonblock(nic->tcq.channel->fd);
	ret = mcx__verbs_wait_set_init(nic);
	if (ret) {
		mcx__err("%s: epoll set of the completion channels: %s", nic->name,
			 mcx_strerror(ret));
		target_cq_destroy(nic);
		return ret;
	}
	ibv_req_notify_cq(nic->tcq.cq, 0);
	return 0;
}

/* Set up nic on (vctx, port); the ports of a device share its context and PD. */
static int nic_init(const struct mcx_tp_config *cfg, struct mcx_nic *nic,
		    const struct mcx_vctx *vctx, const struct ibv_device_attr *da, uint8_t port,
		    const struct ibv_port_attr *pa, struct mcx_steps *steps)
{
	struct ibv_context *ctx = vctx->ctx;
	int ret;

	nic->vctx = *vctx;
	nic->wait_set = -1;
	nic->ctx = ctx;
	nic->pd = vctx->pd;
	nic->port = port;
	nic->cfg = *cfg;
	nic->cfg.devices = NULL;	/* the caller's string: not needed later */
	/* Device events are read by progress: it must not block. */
	ret = fcntl(ctx->async_fd, F_GETFL);
	if (ret < 0 || fcntl(ctx->async_fd, F_SETFL, ret | O_NONBLOCK) < 0)
		mcx__warn("%s: cannot make the async event fd non-blocking; device events are ignored",
			  nic->name);
	nic->lid = pa->lid;
	nic->link_layer = pa->link_layer;
	nic->active_mtu = pa->active_mtu;
	nic->mtu = pa->active_mtu;
	if (cfg->mtu != MCX_MTU_AUTO && mtu_enum(cfg->mtu) < nic->mtu)
		nic->mtu = mtu_enum(cfg->mtu);
	nic->max_mr_size = da->max_mr_size;
	nic->max_mr = (uint32_t)da->max_mr;
	nic->max_qp_wr = (uint32_t)da->max_qp_wr;
	nic->max_cqe = (uint32_t)da->max_cqe;
	nic->max_qp_rd_atom = (uint32_t)da->max_qp_rd_atom;
	nic->max_qp_init_rd_atom = (uint32_t)da->max_qp_init_rd_atom;
	ret = mcx__gid_select(nic, cfg->gid_index);
	if (ret)
		return ret;
	mcx__steps_mark(steps, "GID selection");
	mcx__relaxed_decide(nic, cfg->relaxed_ordering, 1);
	mcx__steps_mark(steps, "relaxed ordering decision");
	/* Enough for every QP's WRs in the usual case; posting never exceeds it. */
	nic->cq_size = nic->max_cqe < CQ_ENTRIES ? nic->max_cqe : CQ_ENTRIES;
	atomic_store(&nic->cq_outstanding, 0);
	atomic_store(&nic->cq_made, false);
	pthread_mutex_init(&nic->cq_lock, NULL);
	/*
	 * Serving from a joined shared context needs only the target CQ
	 * there; the private one is for initiating paths and comes with
	 * the first of them.  Everywhere else target paths use it too.
	 */
	if (vctx->state == MCX_TP_SHARE_TARGET) {
		ret = target_cq_init(nic);
		if (ret) {
			pthread_mutex_destroy(&nic->cq_lock);
			return ret;
		}
		mcx__steps_mark(steps, "target CQ in the shared context");
	} else {
		ret = private_cq_create(nic);
		if (ret) {
			pthread_mutex_destroy(&nic->cq_lock);
			return ret;
		}
		mcx__steps_mark(steps, "completion channel and CQ");
	}
	atomic_store(&nic->nr_mrs, 0);
	pthread_mutex_init(&nic->paths_lock, NULL);
	nic->next_path_id = 1;
	mcx__info("%s port %u: GID %d (%s%s%s), MTU %d, max MR %llu bytes, %u MRs",
		  nic->name, nic->port, nic->gid_index,
		  nic->gid_roce_v2 ? "RoCE v2" : "v1/IB", nic->netdev[0] ? " on " : "",
		  nic->netdev, 128 << nic->mtu, (unsigned long long)nic->max_mr_size,
		  nic->max_mr);
	return 0;
}

void mcx__verbs_close(struct mcx_tp_dev *dev)
{
	struct mcx_nic *nic = (struct mcx_nic *)dev;

	if (!nic)
		return;
	if (nic->paths_n)
		mcx__warn("%s: closed with %u path(s) open", nic->name, nic->paths_n);
	target_cq_destroy(nic);
	private_cq_destroy(nic);
	pthread_mutex_destroy(&nic->cq_lock);
	if (nic->ctx_owner)
		mcx__verbs_ctx_close(&nic->vctx);
	if (nic->paths_cap)
		pthread_mutex_destroy(&nic->paths_lock);
	free(nic->paths);
	free(nic);
}

uint32_t mcx__verbs_addr_encode(const struct mcx_nic *nic, uint8_t *buf)
{
	struct mcx_verbs_addr a = {
		.link_layer = nic->link_layer,
		.port = nic->port,
		.mtu = (uint8_t)nic->mtu,
		.rd_atom = (uint8_t)(nic->max_qp_rd_atom > MCX_VERBS_RD_ATOM_MAX ?
				     MCX_VERBS_RD_ATOM_MAX : nic->max_qp_rd_atom),
		.init_rd_atom = (uint8_t)(nic->max_qp_init_rd_atom > MCX_VERBS_RD_ATOM_MAX ?
					  MCX_VERBS_RD_ATOM_MAX : nic->max_qp_init_rd_atom),
		.lid = nic->lid,
	};

	memcpy(a.gid, nic->gid.raw, MCX_GID_LEN);
	return mcx__verbs_addr_pack(&a, buf);
}

static void describe(const struct mcx_nic *nic, struct mcx_tp_dev_attr *at)
{
	memset(at, 0, sizeof(*at));
	snprintf(at->name, sizeof(at->name), "%s", nic->name);
	at->port = nic->port;
	at->caps = MCX_TP_CAP_RC | MCX_TP_CAP_WRITE_IMM | MCX_TP_CAP_VIRT_ADDR;
#ifdef MCX_HAVE_IBV_REG_DMABUF_MR
	at->caps |= MCX_TP_CAP_DMABUF;
#endif
	at->fabric = nic->link_layer == IBV_LINK_LAYER_INFINIBAND ? MCX_TP_FABRIC_IB :
							       MCX_TP_FABRIC_ETH;
	/* An RC message can be 2 GiB; one SGE's length is a u32. */
	at->max_msg = 1ULL << 31;
	at->max_outstanding = nic->cfg.max_wr < nic->max_qp_wr ? nic->cfg.max_wr : nic->max_qp_wr;
	at->max_outstanding *= nic->cfg.qps_per_path ? nic->cfg.qps_per_path : 1;
	at->max_mr_size = nic->max_mr_size;
	at->max_mr = nic->max_mr;
	at->share = nic->vctx.state;
	at->ipv4 = nic->ipv4;
	at->ipv4_prefix = nic->ipv4 ? (nic->ipv4_prefix > 32 ? 32 : nic->ipv4_prefix) : 0;
	at->addr_len = mcx__verbs_addr_encode(nic, at->addr);
}

/* One selected device, opened on a thread of its own (mcx__verbs_open). */
struct dev_open {
	const struct mcx_tp_config *cfg;
	struct ibv_device *dev;
	const char *name;
	bool named;			/* selected by name: an inactive one is an error */
	struct mcx_nic *nic[MCX_TP_MAX_DEVS];	/* its active ports, the first owns the context */
	uint32_t n;
	int ret;
};

/* Close d's ports, the later ones first: the first owns the context. */
static void dev_open_undo(struct dev_open *d)
{
	while (d->n)
		mcx__verbs_close((struct mcx_tp_dev *)d->nic[--d->n]);
}

static void open_one(void *arg, unsigned int i)
{
	struct dev_open *d = &((struct dev_open *)arg)[i];
	const struct mcx_tp_config *cfg = d->cfg;
	const char *name = d->name;
	struct ibv_device_attr da;
	struct mcx_steps steps;
	struct mcx_vctx vctx;
	int ret = 0;

	mcx__steps_begin(&steps, name);
	if (mcx__verbs_ctx_open(&mcx__verbs_real_calls, cfg->share, d->dev, name, &vctx)) {
		d->ret = -ENODEV;
		return;
	}
	mcx__steps_mark(&steps, "device context and PD");
	if (ibv_query_device(vctx.ctx, &da)) {
		mcx__err("%s: ibv_query_device failed", name);
		mcx__verbs_ctx_close(&vctx);
		d->ret = -ENODEV;
		return;
	}
	for (uint8_t p = 1; p <= da.phys_port_cnt && !ret; p++) {
		struct ibv_port_attr pa;
		struct mcx_nic *nic;

		if (cfg->port && p != cfg->port)
			continue;
		if (ibv_query_port(vctx.ctx, p, &pa))
			continue;
		mcx__steps_mark(&steps, "device and port query");
		if (pa.state != IBV_PORT_ACTIVE) {
			mcx__info("%s port %u: %s, skipped", name, p, ibv_port_state_str(pa.state));
			continue;
		}
		if (d->n == MCX_TP_MAX_DEVS)
			break;	/* more than an engine takes: mcx__verbs_open says so */
		nic = calloc(1, sizeof(*nic));
		if (!nic) {
			ret = -ENOMEM;
			break;
		}
		snprintf(nic->name, sizeof(nic->name), "%s", name);
		ret = nic_init(cfg, nic, &vctx, &da, p, &pa, &steps);
		if (ret) {
			/* nic_init undid its own CQ; the context is closed below. */
			free(nic);
			break;
		}
		nic->ctx_owner = d->n == 0;
		if (d->n)
			d->nic[d->n - 1]->next_port = nic;
		d->nic[d->n++] = nic;
	}
	if (ret) {
		/* Ports other than the first do not close the context. */
		if (d->n)
			dev_open_undo(d);
		else
			mcx__verbs_ctx_close(&vctx);
		d->ret = ret;
		return;
	}
	if (d->n == 0) {
		mcx__verbs_ctx_close(&vctx);
		if (d->named) {
			if (cfg->port)
				mcx__err("%s: port %d is not an ACTIVE port (MCX_IB_PORT)", name,
					 cfg->port);
			else
				mcx__err("%s: no ACTIVE port", name);
			d->ret = -ENODEV;
		}
	}
}

/* Whether every device named in the comma list sel exists in list. */
static int named_devices_exist(const char *sel, struct ibv_device **list, int n)
{
	const char *p = sel;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		bool found = false;

		for (int d = 0; d < n; d++) {
			const char *name = ibv_get_device_name(list[d]);

			found |= strlen(name) == len && !memcmp(name, p, len);
		}
		if (!found) {
			mcx__err("RDMA device \"%.*s\" (MCX_IB_DEVICES) does not exist", (int)len, p);
			return -ENODEV;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

/*
 * The selected devices are opened at the same time, one thread each:
 * opening one is a series of kernel calls (contexts, PDs, the shared
 * context's join, GID queries, completion queues) that wait on the
 * device and not on each other, and an engine is not ready before its
 * last device is.  The result is the same as opening them in turn: the
 * ports in device order, and on any failure none.
 */
int mcx__verbs_open(const struct mcx_tp_config *cfg, struct mcx_tp_dev **devs,
		    struct mcx_tp_dev_attr *attrs, uint32_t max, uint32_t *nout)
{
	const char *sel = cfg->devices;
	bool named = sel && strcasecmp(sel, "all");
	struct dev_open *opens = NULL;
	struct ibv_device **list;
	struct mcx_steps steps;
	uint32_t nr = 0, nopen = 0;
	int n = 0, ret = 0;

	*nout = 0;
	mcx__steps_begin(&steps, "verbs open");
	mcx__verbs_fork_init();		/* before any verbs call */
	list = ibv_get_device_list(&n);
	if (!list) {
		mcx__err("no RDMA devices (ibv_get_device_list: %s)", strerror(errno));
		return -ENODEV;
	}
	mcx__steps_mark(&steps, "fork policy and device list");
	/* Every named device must exist: nothing is opened otherwise. */
	if (named)
		ret = named_devices_exist(sel, list, n);
	if (!ret && n > 0) {
		opens = calloc((size_t)n, sizeof(*opens));
		if (!opens)
			ret = -ENOMEM;
	}
	for (int d = 0; d < n && !ret; d++) {
		const char *name = ibv_get_device_name(list[d]);

		if (!selected(sel, name))
			continue;
		opens[nopen].cfg = cfg;
		opens[nopen].dev = list[d];
		opens[nopen].name = name;
		opens[nopen].named = named;
		nopen++;
	}
	if (!ret)
		mcx__run_parallel(nopen, "mcx-devopen", open_one, opens);
	mcx__steps_mark(&steps, "devices opened");
	for (uint32_t k = 0; k < nopen && !ret; k++)
		ret = opens[k].ret;
	for (uint32_t k = 0; k < nopen && !ret; k++) {
		struct dev_open *d = &opens[k];
		uint32_t keep = d->n;

		if (nr + keep > max) {
			keep = max - nr;
			mcx__warn("more than %u active ports; %s port %u and later ones unused", max,
				  d->name, d->nic[keep]->port);
		}
		/* Ports past the limit go, the later ones first. */
		while (d->n > keep && d->n > 1)
			mcx__verbs_close((struct mcx_tp_dev *)d->nic[--d->n]);
		if (keep == 0) {
			dev_open_undo(d);
			continue;
		}
		d->nic[d->n - 1]->next_port = NULL;
		for (uint32_t j = 0; j < d->n; j++) {
			describe(d->nic[j], &attrs[nr]);
			devs[nr++] = (struct mcx_tp_dev *)d->nic[j];
		}
		d->n = 0;	/* devs[] holds them now */
	}
	ibv_free_device_list(list);
	if (!ret && nr == 0) {
		mcx__err("no ACTIVE RDMA device port%s", sel ? " among MCX_IB_DEVICES" : "");
		ret = -ENODEV;
	}
	if (ret) {
		for (uint32_t k = 0; k < nopen; k++)
			dev_open_undo(&opens[k]);
		/* Close the later ports of a device first: its first owns ctx. */
		while (nr)
			mcx__verbs_close(devs[--nr]);
		free(opens);
		return ret;
	}
	free(opens);
	*nout = nr;
	return 0;
}

/* ---- mcx_devices_query ---- */

static void fill_device(struct mcx_device_info *di, struct ibv_context *ctx,
			const char *name, const struct ibv_device_attr *da, uint8_t port,
			const struct ibv_port_attr *pa, int policy)
{
	struct mcx_nic nic;
	struct gid_ent e;

	snprintf(di->name, sizeof(di->name), "%s", name);
	di->port = port;
	snprintf(di->state, sizeof(di->state), "%s", ibv_port_state_str(pa->state));
	snprintf(di->link_layer, sizeof(di->link_layer), "%s",
		 pa->link_layer == IBV_LINK_LAYER_INFINIBAND ? "InfiniBand" :
		 pa->link_layer == IBV_LINK_LAYER_ETHERNET ? "Ethernet" : "unspecified");
	di->active_mtu = 128U << pa->active_mtu;
	di->max_mr_size = da->max_mr_size;
	di->max_mr = (uint32_t)da->max_mr;
	di->max_qp_wr = (uint32_t)da->max_qp_wr;
	di->max_cqe = (uint32_t)da->max_cqe;
	di->gid_index = gid_auto(ctx, name, port, pa, &e);

	memset(&nic, 0, sizeof(nic));
	snprintf(nic.name, sizeof(nic.name), "%s", name);
	nic.port = port;
	mcx__relaxed_decide(&nic, policy, 0);
	di->relaxed = nic.relaxed;
	snprintf(di->relaxed_reason, sizeof(di->relaxed_reason), "%s", nic.relaxed_reason);

	di->gids = calloc(pa->gid_tbl_len ? (size_t)pa->gid_tbl_len : 1, sizeof(*di->gids));
	if (!di->gids)
		return;
	for (int i = 0; i < pa->gid_tbl_len; i++) {
		struct mcx_gid_info *g = &di->gids[di->nr_gids];

		if (read_gid(ctx, name, port, i, &e))
			continue;
		gid_netdev(&e);
		g->index = (uint32_t)i;
		snprintf(g->type, sizeof(g->type), "%s",
			 pa->link_layer == IBV_LINK_LAYER_INFINIBAND ? "IB" :
			 e.type == GID_TYPE_V2 ? "RoCE v2" :
			 e.type == GID_TYPE_V1 ? "IB/RoCE v1" : "");
		inet_ntop(AF_INET6, e.gid.raw, g->gid, sizeof(g->gid));
		snprintf(g->netdev, sizeof(g->netdev), "%s", e.netdev);
		di->nr_gids++;
	}
}

MCX_EXPORT int mcx_devices_query(int policy, struct mcx_device_info **out, size_t *n)
{
	struct mcx_device_info *v = NULL;
	struct ibv_device **list;
	size_t cnt = 0, cap = 0;
	int nd = 0;

	if (!out || !n || policy < MCX_RO_OFF || policy > MCX_RO_AUTO)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	mcx__verbs_fork_init();		/* before any verbs call */
	list = ibv_get_device_list(&nd);
	if (!list)
		return errno == ENOSYS || errno == 0 ? 0 : -errno;
	for (int d = 0; d < nd; d++) {
		const char *name = ibv_get_device_name(list[d]);
		struct ibv_context *ctx = ibv_open_device(list[d]);
		struct ibv_device_attr da;

		if (!ctx)
			continue;
		if (ibv_query_device(ctx, &da)) {
			ibv_close_device(ctx);
			continue;
		}
		for (uint8_t p = 1; p <= da.phys_port_cnt; p++) {
			struct ibv_port_attr pa;

			if (ibv_query_port(ctx, p, &pa))
				continue;
			if (cnt == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct mcx_device_info *nv = realloc(v, nc * sizeof(*v));

				if (!nv) {
					ibv_close_device(ctx);
					ibv_free_device_list(list);
					mcx_devices_free(v, cnt);
					return -ENOMEM;
				}
				v = nv;
				cap = nc;
			}
			memset(&v[cnt], 0, sizeof(v[cnt]));
			fill_device(&v[cnt], ctx, name, &da, p, &pa, policy);
			cnt++;
		}
		ibv_close_device(ctx);
	}
	ibv_free_device_list(list);
	*out = v;
	*n = cnt;
	return 0;
}

MCX_EXPORT void mcx_devices_free(struct mcx_device_info *devs, size_t n)
{
	if (!devs)
		return;
	for (size_t i = 0; i < n; i++)
		free(devs[i].gids);
	free(devs);
}
