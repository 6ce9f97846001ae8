// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * mcx_fabric_query(): the libfabric provider an engine on the fabric
 * transport would choose and the domains it would open, with what the
 * transport takes from each (mr_mode, max_msg_size, tx_attr->size, FI_HMEM),
 * for mcxfer-tool devices.  The same hints, the same order of providers
 * and the same choice of entry per domain as device.c, without opening
 * anything: what it lists is what an engine would use.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mcxfer.h"
#include "transport/fabric/fabric.h"
#include "util/util.h"

#define PROVIDER_VAR	"MCX_FABRIC_PROVIDER"

static const struct {
	uint64_t bit;
	const char *name;
} mr_mode_bits[] = {
	{ FI_MR_BASIC, "FI_MR_BASIC" },
	{ FI_MR_SCALABLE, "FI_MR_SCALABLE" },
	{ FI_MR_LOCAL, "FI_MR_LOCAL" },
	{ FI_MR_RAW, "FI_MR_RAW" },
	{ FI_MR_VIRT_ADDR, "FI_MR_VIRT_ADDR" },
	{ FI_MR_ALLOCATED, "FI_MR_ALLOCATED" },
	{ FI_MR_PROV_KEY, "FI_MR_PROV_KEY" },
	{ FI_MR_MMU_NOTIFY, "FI_MR_MMU_NOTIFY" },
	{ FI_MR_RMA_EVENT, "FI_MR_RMA_EVENT" },
	{ FI_MR_ENDPOINT, "FI_MR_ENDPOINT" },
	{ FI_MR_HMEM, "FI_MR_HMEM" },
	{ FI_MR_COLLECTIVE, "FI_MR_COLLECTIVE" },
};

/*
 * mode by name, "|" between them; bits this build has no name for in hex.
 * len holds every name and a 64-bit remainder; past it, names are cut.
 */
static void mr_mode_names(uint64_t mode, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(mr_mode_bits) / sizeof(mr_mode_bits[0]); i++) {
		if (!(mode & mr_mode_bits[i].bit) || used + 1 >= len)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "|" : "",
					 mr_mode_bits[i].name);
		mode &= ~mr_mode_bits[i].bit;
	}
	if (mode && used + 1 < len)
		snprintf(buf + used, len - used, "%s0x%llx", used ? "|" : "",
			 (unsigned long long)mode);
}

static void address_text(const struct fi_info *fi, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!fi->src_addr)
		return;
	if (fi->addr_format == FI_SOCKADDR_IN && fi->src_addrlen >= sizeof(struct sockaddr_in))
		inet_ntop(AF_INET, &((const struct sockaddr_in *)fi->src_addr)->sin_addr, buf,
			  (socklen_t)len);
	else if (fi->addr_format == FI_SOCKADDR_IN6 &&
		 fi->src_addrlen >= sizeof(struct sockaddr_in6))
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)fi->src_addr)->sin6_addr, buf,
			  (socklen_t)len);
}

/* What mcx__fab_open() would do with fi when no device is named. */
static bool would_open(const struct fi_info *fi)
{
	return !mcx__fab_is_loopback(fi) && fi->domain_attr->mr_key_size <= sizeof(uint64_t);
}

static struct mcx_fabric_domain *find(struct mcx_fabric_info *in, const char *name)
{
	for (size_t i = 0; i < in->nr_domains; i++)
		if (!strcmp(in->domains[i].domain, name))
			return &in->domains[i];
	return NULL;
}

static void describe(const struct fi_info *fi, struct mcx_fabric_domain *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->domain, sizeof(d->domain), "%s", fi->domain_attr->name);
	snprintf(d->fabric, sizeof(d->fabric), "%s",
		 fi->fabric_attr->name ? fi->fabric_attr->name : "");
	address_text(fi, d->address, sizeof(d->address));
	d->mr_mode = (uint64_t)(unsigned int)fi->domain_attr->mr_mode;
	mr_mode_names(d->mr_mode, d->mr_mode_names, sizeof(d->mr_mode_names));
	d->max_msg_size = fi->ep_attr->max_msg_size;
	d->tx_size = fi->tx_attr->size;
	/* libfabric's domain attributes have no such limit (1.17 to 2.x). */
	d->max_mr_size = 0;
	d->mr_key_size = (uint32_t)fi->domain_attr->mr_key_size;
	d->used = would_open(fi);
}

/*
 * One record per domain, as device.c opens them: the first entry an
 * engine would use (IPv4 before IPv6), else the first one.
 */
static int collect(struct mcx_fabric_info *in, const struct fi_info *list)
{
	size_t n = 0;

	for (const struct fi_info *fi = list; fi; fi = fi->next)
		n++;
	in->domains = calloc(n ? n : 1, sizeof(*in->domains));
	if (!in->domains)
		return -ENOMEM;
	for (const struct fi_info *fi = list; fi; fi = fi->next) {
		struct mcx_fabric_domain *d;

		if (!fi->domain_attr->name)
			continue;
		d = find(in, fi->domain_attr->name);
		if (!d)
			describe(fi, &in->domains[in->nr_domains++]);
		else if (!d->used && would_open(fi))
			describe(fi, d);
	}
	return 0;
}

/* Mark the domains that take device memory (a second query, with FI_HMEM). */
static void mark_hmem(const struct mcx_fab_calls *calls, struct mcx_fabric_info *in)
{
	struct fi_info *list = NULL;

	if (mcx__fab_query(calls, in->provider, true, &list))
		return;		/* none does (-FI_ENODATA), or it cannot say */
	for (const struct fi_info *fi = list; fi; fi = fi->next) {
		struct mcx_fabric_domain *d;

		if (fi->domain_attr->name && (fi->caps & FI_HMEM) &&
		    (d = find(in, fi->domain_attr->name)))
			d->hmem = 1;
	}
	calls->freeinfo(list);
}

/* prov's domains into *list: 0, 1 when it offers none, -ENOMEM. */
static int try_provider(const struct mcx_fab_calls *calls, const char *prov,
			struct fi_info **list)
{
	int ret = mcx__fab_query(calls, prov, false, list);

	if (ret == -ENOMEM)
		return ret;
	/* Like mcx__fab_pick_provider(): whatever the reason, not this one. */
	return ret ? 1 : 0;
}

MCX_EXPORT int mcx_fabric_query(const char *provider, struct mcx_fabric_info **out)
{
	const struct mcx_fab_calls *calls = mcx__fab_calls_override ?
					    mcx__fab_calls_override : &mcx__fab_real_calls;
	const char *name = provider;
	struct mcx_fabric_info *in;
	struct fi_info *list = NULL;
	int ret = 1;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!name)
		name = getenv(PROVIDER_VAR);
	if (name && mcx__check_fabric_provider(provider ? "provider" : PROVIDER_VAR, name))
		return -EINVAL;
	if (!name)
		name = "auto";
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	snprintf(in->requested, sizeof(in->requested), "%s", name);
	in->version = fi_version();
#ifdef FI_MR_DMABUF
	in->dmabuf = 1;
#endif
	if (strcasecmp(name, "auto")) {
		ret = try_provider(calls, name, &list);
		if (!ret)
			snprintf(in->provider, sizeof(in->provider), "%s", name);
	} else {
		for (size_t i = 0; ret == 1 && i < MCX_FAB_NR_AUTO; i++) {
			ret = try_provider(calls, mcx__fab_auto_providers[i], &list);
			if (!ret)
				snprintf(in->provider, sizeof(in->provider), "%s",
					 mcx__fab_auto_providers[i]);
		}
	}
	if (ret < 0)
		goto fail;
	if (ret == 0) {
		ret = collect(in, list);
		calls->freeinfo(list);
		if (ret)
			goto fail;
		mark_hmem(calls, in);
	}
	*out = in;
	return 0;
fail:
	mcx_fabric_free(in);
	return ret;
}

MCX_EXPORT void mcx_fabric_free(struct mcx_fabric_info *info)
{
	if (!info)
		return;
	free(info->domains);
	free(info);
}
