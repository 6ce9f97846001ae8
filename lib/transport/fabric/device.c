// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libfabric devices: choosing the provider, one device per domain, and
 * for each its one endpoint with an address vector and a completion queue.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transport/fabric/fabric.h"

const char *const mcx__fab_auto_providers[MCX_FAB_NR_AUTO] = {
	"efa", "verbs;ofi_rxm", "tcp;ofi_rxm",
};

/* What the transport can honour (the provider keeps the bits it needs). */
#define MR_MODE_OFFERED	(FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | \
			 FI_MR_ENDPOINT)

int mcx__fab_errno(int fi_err)
{
	int e = fi_err < 0 ? -fi_err : fi_err;

	switch (e) {
	case 0:
		return 0;
	case FI_ECANCELED:
		return -ECANCELED;
	case FI_EACCES:
	case FI_EFAULT:
	case FI_EKEYREJECTED:
	case FI_EINVAL:
	case FI_EPERM:
		/* The request's range or key was refused: not the path's fault. */
		return -EFAULT;
	case FI_ETIMEDOUT:
		return -ETIMEDOUT;
	case FI_ECONNRESET:
	case FI_ECONNABORTED:
	case FI_ECONNREFUSED:
	case FI_ENOTCONN:
	case FI_EHOSTUNREACH:
	case FI_ESHUTDOWN:
	case FI_EADDRNOTAVAIL:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

uint32_t mcx__fab_prov_id(const char *prov)
{
	/* FNV-1a: providers are told apart, never decoded. */
	uint32_t h = 2166136261U;

	for (const char *c = prov; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619U;
	return h ? h : 1;
}

uint32_t mcx__fab_addr_pack(uint32_t prov_id, const void *name, uint32_t len, uint8_t *buf)
{
	buf[0] = 'F';
	buf[1] = 1;		/* layout version */
	buf[2] = (uint8_t)len;
	buf[3] = 0;
	memcpy(buf + 4, &prov_id, 4);
	memcpy(buf + MCX_FAB_ADDR_HDR, name, len);
	return MCX_FAB_ADDR_HDR + len;
}

int mcx__fab_addr_unpack(const void *buf, uint32_t len, uint32_t *prov_id,
			 const uint8_t **name, uint32_t *name_len)
{
	const uint8_t *b = buf;

	if (len < MCX_FAB_ADDR_HDR || b[0] != 'F' || b[1] != 1 || b[3] != 0 || b[2] == 0 ||
	    b[2] > MCX_FAB_NAME_MAX || (uint32_t)b[2] + MCX_FAB_ADDR_HDR != len)
		return -EINVAL;
	memcpy(prov_id, b + 4, 4);
	*name = b + MCX_FAB_ADDR_HDR;
	*name_len = b[2];
	return 0;
}

static struct fi_info *make_hints(const char *prov, bool hmem)
{
	struct fi_info *h = fi_allocinfo();

	if (!h)
		return NULL;
	h->ep_attr->type = FI_EP_RDM;
	h->caps = FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
	/* Every operation carries a struct fi_context2 of its own (a slot). */
	h->mode = FI_CONTEXT | FI_CONTEXT2;
	h->domain_attr->mr_mode = MR_MODE_OFFERED;
	if (hmem) {
		/* Device memory: providers that take it ask for FI_MR_HMEM. */
		h->caps |= FI_HMEM;
		h->domain_attr->mr_mode |= FI_MR_HMEM;
	}
	h->domain_attr->threading = FI_THREAD_SAFE;
	/*
	 * A write completes once its bytes are in the target's memory, as an
	 * RC write does: without this, rxm completes small writes when they
	 * are buffered (FI_INJECT_COMPLETE), and the caller would read
	 * stale memory at the target after a "done".
	 */
	h->tx_attr->op_flags = FI_COMPLETION | FI_DELIVERY_COMPLETE;
	if (prov) {
		h->fabric_attr->prov_name = strdup(prov);
		if (!h->fabric_attr->prov_name) {
			fi_freeinfo(h);
			return NULL;
		}
	}
	return h;
}

int mcx__fab_query(const struct mcx_fab_calls *calls, const char *prov, bool hmem,
		   struct fi_info **out)
{
	struct fi_info *h = make_hints(prov, hmem);
	int ret;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	ret = calls->getinfo(MCX_FAB_API_VERSION, h, out);
	fi_freeinfo(h);
	return ret;
}

int mcx__fab_pick_provider(const struct mcx_fab_calls *calls, const char *name, char *out,
			   size_t len)
{
	struct fi_info *info;
	int ret;

	if (name && *name && strcasecmp(name, "auto")) {
		ret = mcx__fab_query(calls, name, false, &info);
		if (ret) {
			mcx__err("libfabric provider %s: no domain offers reliable-datagram endpoints with RMA (%s)",
				 name, fi_strerror(-ret));
			return -ENODEV;
		}
		calls->freeinfo(info);
		snprintf(out, len, "%s", name);
		return 0;
	}
	for (size_t i = 0; i < MCX_FAB_NR_AUTO; i++) {
		if (mcx__fab_query(calls, mcx__fab_auto_providers[i], false, &info))
			continue;
		calls->freeinfo(info);
		snprintf(out, len, "%s", mcx__fab_auto_providers[i]);
		return 0;
	}
	mcx__err("libfabric: none of efa, verbs;ofi_rxm, tcp;ofi_rxm offers reliable-datagram endpoints with RMA");
	return -ENODEV;
}

bool mcx__fab_is_loopback(const struct fi_info *fi)
{
	if (fi->src_addr && fi->addr_format == FI_SOCKADDR_IN &&
	    fi->src_addrlen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = fi->src_addr;

		return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
	}
	if (fi->src_addr && fi->addr_format == FI_SOCKADDR_IN6 &&
	    fi->src_addrlen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = fi->src_addr;

		return IN6_IS_ADDR_LOOPBACK(&s->sin6_addr);
	}
	return false;
}

/* Whether the comma list devices names name ("all"/NULL: everything). */
static bool named(const char *devices, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = devices; p && *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && !strncmp(p, name, n))
			return true;
		p = e ? e + 1 : p + l;
	}
	return false;
}

static bool all_devices(const char *devices)
{
	return !devices || !*devices || !strcmp(devices, "all");
}

static void dom_close(struct mcx_fdom *d)
{
	const struct mcx_fab_calls *c = d->calls;

	mcx__fab_paths_fini(d);
	/* Before the endpoint it may be bound to. */
	if (d->probe_mr)
		mcx__fab_mr_dereg(d->probe_mr);
	free(d->probe_buf);
	while (d->avs) {
		struct mcx_fav *a = d->avs;

		d->avs = a->next;
		free(a);
	}
	if (d->ep)
		c->close(&d->ep->fid);
	if (d->av)
		c->close(&d->av->fid);
	if (d->cq)
		c->close(&d->cq->fid);
	if (d->domain)
		c->close(&d->domain->fid);
	if (d->fabric)
		c->close(&d->fabric->fid);
	if (d->info)
		c->freeinfo(d->info);
	free(d->slots);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->av_lock);
	free(d);
}

/* Open the endpoint of fi (the caller's entry, taken over on success). */
static int dom_open(const struct mcx_fab_calls *calls, struct fi_info *fi, const char *prov,
		    struct mcx_fdom **out)
{
	struct mcx_fdom *d = calloc(1, sizeof(*d));
	struct fi_av_attr av_attr = { .type = FI_AV_UNSPEC };
	struct fi_cq_attr cq_attr = { .format = FI_CQ_FORMAT_DATA };
	size_t tx = fi->tx_attr->size, alen;
	const char *step;
	int ret;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->calls = calls;
	d->wait_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->av_lock, NULL);
	snprintf(d->name, sizeof(d->name), "%s", fi->domain_attr->name);
	snprintf(d->prov, sizeof(d->prov), "%s", prov);
	d->prov_id = mcx__fab_prov_id(prov);
	d->mr_mode = (uint64_t)fi->domain_attr->mr_mode;
	d->mr_key_size = fi->domain_attr->mr_key_size;
	d->manual_progress = fi->domain_attr->data_progress == FI_PROGRESS_MANUAL;
	d->thread_safe = fi->domain_attr->threading == FI_THREAD_SAFE;
	d->cq_data = fi->domain_attr->cq_data_size >= sizeof(uint64_t);
	atomic_init(&d->next_key, 1);
	if (tx == 0 || tx > MCX_FAB_TX_MAX)
		tx = tx ? MCX_FAB_TX_MAX : 64;

	step = "the slots";
	ret = mcx__fab_slots_init(d, (uint32_t)tx);
	if (ret)
		goto fail;
	step = "fi_fabric";
	ret = calls->fabric(fi->fabric_attr, &d->fabric);
	if (ret)
		goto fail;
	step = "fi_domain";
	ret = calls->domain(d->fabric, fi, &d->domain);
	if (ret)
		goto fail;
	step = "fi_endpoint";
	ret = calls->endpoint(d->domain, fi, &d->ep);
	if (ret)
		goto fail;
	step = "fi_av_open";
	av_attr.count = 256;
	ret = calls->av_open(d->domain, &av_attr, &d->av);
	if (ret)
		goto fail;
	step = "fi_cq_open";
	/* Room for every slot's completion: the CQ never overruns. */
	cq_attr.size = tx + 16;
	cq_attr.wait_obj = FI_WAIT_FD;
	ret = calls->cq_open(d->domain, &cq_attr, &d->cq);
	if (ret == -FI_ENOSYS || ret == -FI_EINVAL || ret == -FI_EOPNOTSUPP) {
		/* No fd to sleep on: the engine polls this device. */
		cq_attr.wait_obj = FI_WAIT_NONE;
		ret = calls->cq_open(d->domain, &cq_attr, &d->cq);
	} else if (!ret && calls->cq_wait_fd(d->cq, &d->wait_fd)) {
		d->wait_fd = -1;
	}
	if (ret)
		goto fail;
	step = "fi_ep_bind (CQ)";
	ret = calls->ep_bind(d->ep, &d->cq->fid, FI_TRANSMIT | FI_RECV);
	if (ret)
		goto fail;
	step = "fi_ep_bind (AV)";
	ret = calls->ep_bind(d->ep, &d->av->fid, 0);
	if (ret)
		goto fail;
	step = "fi_enable";
	ret = calls->enable(d->ep);
	if (ret)
		goto fail;
	step = "fi_getname";
	alen = sizeof(d->addr);
	ret = calls->getname(d->ep, d->addr, &alen);
	if (!ret && (alen == 0 || alen > sizeof(d->addr)))
		ret = -FI_ETOOSMALL;
	if (ret)
		goto fail;
	d->addr_len = (uint32_t)alen;
	d->info = fi;
	*out = d;
	return 0;
fail:
	mcx__err("%s (%s): %s: %s", d->name, prov, step, fi_strerror(ret < 0 ? -ret : ret));
	dom_close(d);
	return ret == -ENOMEM ? -ENOMEM : ret < -FI_ERRNO_OFFSET ? -EIO : ret;
}

static void describe(const struct mcx_fdom *d, struct mcx_tp_dev_attr *a)
{
	const struct fi_info *fi = d->info;

	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", d->name);
	a->caps = MCX_TP_CAP_RDM;
	if (d->manual_progress)
		a->caps |= MCX_TP_CAP_MANUAL_PROGRESS;
	if (d->mr_mode & FI_MR_VIRT_ADDR)
		a->caps |= MCX_TP_CAP_VIRT_ADDR;
	/* Notifications: peers learn from this whether to send us any. */
	if (d->cq_data)
		a->caps |= MCX_TP_CAP_WRITE_IMM;
	if (!strcmp(d->prov, "efa"))
		a->fabric = MCX_TP_FABRIC_EFA;
	else
		a->fabric = MCX_TP_FABRIC_ETH;
	a->max_msg = fi->ep_attr->max_msg_size;
	a->max_outstanding = d->nslots;
	/* libfabric 1.17 does not say: registration chunks bound it. */
	a->max_mr_size = 0;
	a->max_mr = fi->domain_attr->mr_cnt > UINT32_MAX ? UINT32_MAX :
							  (uint32_t)fi->domain_attr->mr_cnt;
	if (fi->src_addr && fi->addr_format == FI_SOCKADDR_IN &&
	    fi->src_addrlen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = fi->src_addr;

		a->ipv4 = s->sin_addr.s_addr;
		a->ipv4_prefix = 32;
	}
	a->stripe_min = d->stripe_min;
	a->addr_len = mcx__fab_addr_pack(d->prov_id, d->addr, d->addr_len, a->addr);
}

int mcx__fab_open(const struct mcx_tp_config *cfg, struct mcx_tp_dev **devs,
		  struct mcx_tp_dev_attr *attrs, uint32_t max, uint32_t *n)
{
	const struct mcx_fab_calls *calls = mcx__fab_calls_override ?
					    mcx__fab_calls_override : &mcx__fab_real_calls;
	char prov[MCX_FAB_PROV_MAX];
	struct fi_info *list = NULL;
	int ret;

	*n = 0;
	ret = mcx__fab_pick_provider(calls, cfg->fabric_provider, prov, sizeof(prov));
	if (ret)
		return ret;
	ret = mcx__fab_query(calls, prov, false, &list);
	if (ret) {
		mcx__err("libfabric provider %s: %s", prov, fi_strerror(-ret));
		return -ENODEV;
	}
	for (struct fi_info *fi = list; fi && *n < max; fi = fi->next) {
		struct fi_info *one;
		struct mcx_fdom *d;
		bool dup = false;

		if (!fi->domain_attr->name)
			continue;
		/* One device per domain: the first entry (IPv4 before IPv6). */
		for (uint32_t i = 0; i < *n; i++)
			dup |= !strcmp(((struct mcx_fdom *)devs[i])->name, fi->domain_attr->name);
		if (dup)
			continue;
		if (all_devices(cfg->devices) ? mcx__fab_is_loopback(fi) :
						!named(cfg->devices, fi->domain_attr->name))
			continue;
		if (fi->domain_attr->mr_key_size > sizeof(uint64_t)) {
			mcx__warn("%s (%s): keys of %zu bytes do not fit the wire's 64 bits; skipped",
				  fi->domain_attr->name, prov, fi->domain_attr->mr_key_size);
			continue;
		}
		/* Keep only this entry: its next is the rest of the list. */
		one = fi_dupinfo(fi);
		if (!one) {
			ret = -ENOMEM;
			goto fail;
		}
		ret = dom_open(calls, one, prov, &d);
		if (ret) {
			fi_freeinfo(one);
			goto fail;
		}
		d->stripe_min = cfg->stripe_min;
		devs[*n] = (struct mcx_tp_dev *)d;
		describe(d, &attrs[*n]);
		mcx__info("%s: libfabric %s, mr_mode 0x%llx, max message %llu, %u in flight%s%s%s",
			  d->name, prov, (unsigned long long)d->mr_mode,
			  (unsigned long long)attrs[*n].max_msg, d->nslots,
			  d->manual_progress ? ", manual progress" : "",
			  d->cq_data ? "" : ", no notifications (remote CQ data under 8 bytes)",
			  d->wait_fd < 0 ? ", no wait fd (polled)" : "");
		(*n)++;
	}
	calls->freeinfo(list);
	list = NULL;
	if (*n == 0) {
		mcx__err("libfabric provider %s: no usable domain%s%s%s", prov,
			 all_devices(cfg->devices) ? "" : " named \"",
			 all_devices(cfg->devices) ? " (loopback domains are used only when named)" :
						     cfg->devices,
			 all_devices(cfg->devices) ? "" : "\"");
		return -ENODEV;
	}
	return 0;
fail:
	if (list)
		calls->freeinfo(list);
	while (*n) {
		(*n)--;
		dom_close((struct mcx_fdom *)devs[*n]);
		devs[*n] = NULL;
	}
	return ret;
}

void mcx__fab_close(struct mcx_tp_dev *dev)
{
	if (dev)
		dom_close((struct mcx_fdom *)dev);
}
