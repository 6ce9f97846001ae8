// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The engine's use of /dev/mcxfer (option registry, MCX_REGISTRY): opening
 * it, what it lends the transport (the user's shared device contexts, the
 * relaxed-ordering bit the module reads for processes that cannot), and its
 * events, which reach the registrations through mem/.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

/* ---- what the transport borrows ---- */

/* Remember which device a shared context is, for CTX_MR_DROPPED. */
static void note_ctx(struct mcx_engine *eng, const char *ibdev, uint64_t ctx_id)
{
	pthread_mutex_lock(&eng->warm.lock);
	for (uint32_t i = 0; i < MCX_TP_MAX_DEVS; i++) {
		struct mcx__warm_ctx *c = &eng->warm.ctx[i];

		if (!c->id || !strcmp(c->ibdev, ibdev)) {
			c->id = ctx_id;
			snprintf(c->ibdev, sizeof(c->ibdev), "%s", ibdev);
			break;
		}
	}
	pthread_mutex_unlock(&eng->warm.lock);
}

static int share_get(void *arg, const char *ibdev, int *cmd_fd, uint32_t *pd_handle)
{
	struct mcx_engine *eng = arg;
	uint64_t ctx_id = 0;
	int ret = mcx_registry_get_ctx(eng->reg, ibdev, cmd_fd, pd_handle, &ctx_id);

	if (!ret)
		note_ctx(eng, ibdev, ctx_id);
	return ret;
}

static int share_publish(void *arg, int cmd_fd, uint32_t pd_handle)
{
	struct mcx_engine *eng = arg;

	return mcx_registry_publish_ctx(eng->reg, cmd_fd, pd_handle, NULL);
}

static int pci_relaxed(void *arg, const char *ibdev)
{
	struct mcx_engine *eng = arg;
	struct mcx_reg_device d;

	if (mcx_registry_query_device(eng->reg, ibdev, &d))
		return -1;
	return (int)d.relaxed_ordering;
}

int mcx__warm_open(struct mcx_engine *eng, struct mcx_tp_config *cfg)
{
	int ret = 0;

	pthread_mutex_init(&eng->warm.lock, NULL);
	pthread_mutex_init(&eng->warm.event_lock, NULL);
	if (!eng->reg && eng->opts.registry == MCX_REGISTRY_OFF)
		return 0;
	if (!eng->reg)
		ret = mcx_registry_open(&eng->reg);
	if (ret) {
		if (eng->opts.registry == MCX_REGISTRY_REQUIRED) {
			mcx__err("registry=required (MCX_REGISTRY): /dev/mcxfer cannot be used: %s",
				 mcx_strerror(ret));
			pthread_mutex_destroy(&eng->warm.lock);
			pthread_mutex_destroy(&eng->warm.event_lock);
			return ret;
		}
		mcx__info("registry=auto: going on without /dev/mcxfer (%s): no named registrations, every engine registers its own memory",
			  mcx_strerror(ret));
		eng->reg = NULL;
		return 0;
	}
	eng->warm.share.arg = eng;
	eng->warm.share.get = share_get;
	eng->warm.share.publish = share_publish;
	cfg->share = &eng->warm.share;
	cfg->pci_relaxed = pci_relaxed;
	cfg->pci_relaxed_arg = eng;
	return 0;
}

void mcx__warm_attach(struct mcx_engine *eng)
{
	uint32_t shared = 0;

	eng->mem.reg = eng->reg;
	if (!eng->reg)
		return;
	/*
	 * Learn the id of every shared context the devices ended up in
	 * (made here or imported): the registry names a context by id only
	 * when it says that an MR record of it was dropped.
	 */
	for (uint32_t k = 0; k < eng->devs.n; k++) {
		uint64_t ctx_id = 0;
		uint32_t pd;
		int fd = -1;

		if (eng->devs.attr[k].share == MCX_TP_SHARE_PRIVATE)
			continue;
		shared++;
		if (mcx_registry_get_ctx(eng->reg, eng->devs.attr[k].name, &fd, &pd, &ctx_id))
			continue;
		close(fd);
		note_ctx(eng, eng->devs.attr[k].name, ctx_id);
	}
	eng->warm.shared = shared;
}

void mcx__warm_close(struct mcx_engine *eng)
{
	eng->mem.reg = NULL;
	mcx_registry_close(eng->reg);
	eng->reg = NULL;
	pthread_mutex_destroy(&eng->warm.lock);
	pthread_mutex_destroy(&eng->warm.event_lock);
}

int mcx__warm_fd(const struct mcx_engine *eng)
{
	return eng->reg ? mcx_registry_event_fd(eng->reg) : -1;
}

/* ---- events ---- */

/* The device index of shared context ctx_id, or -1. */
static int ctx_dev(struct mcx_engine *eng, uint64_t ctx_id)
{
	char name[MCX_IBDEV_NAME_MAX] = "";

	pthread_mutex_lock(&eng->warm.lock);
	for (uint32_t i = 0; i < MCX_TP_MAX_DEVS; i++)
		if (eng->warm.ctx[i].id == ctx_id)
			snprintf(name, sizeof(name), "%s", eng->warm.ctx[i].ibdev);
	pthread_mutex_unlock(&eng->warm.lock);
	for (uint32_t k = 0; name[0] && k < eng->devs.n; k++)
		if (!strcmp(eng->devs.attr[k].name, name))
			return (int)k;
	return -1;
}

static void ctx_mr_dropped(struct mcx_engine *eng, const struct mcx_reg_event *ev)
{
	const struct mcx_transport_ops *ops = eng->devs.ops;
	int dev = ctx_dev(eng, ev->id);
	int ret;

	if (dev < 0 || ev->mr_id > UINT32_MAX)
		return;	/* not a context of ours, or not a handle */
	/* A registration of ours using it dies with it (and destroys it). */
	if (mcx__mem_ctx_mr_dropped(&eng->mem, (unsigned int)dev, (uint32_t)ev->mr_id))
		return;
	if (!ops->mr_destroy_handle)
		return;
	/* Every holder of the context is told; the first one's destroy wins. */
	ret = ops->mr_destroy_handle(eng->devs.dev[dev], (uint32_t)ev->mr_id);
	if (ret && ret != -ENOENT && ret != -EOPNOTSUPP)
		mcx__warn("%s: destroying dropped MR %" PRIu64 " of the shared context: %s",
			  eng->devs.attr[dev].name, ev->mr_id, mcx_strerror(ret));
}

int mcx__warm_progress(struct mcx_engine *eng)
{
	struct mcx_reg_event ev;
	int n = 0, ret;

	if (!eng->reg)
		return 0;
	/* One reader at a time: the poller and a caller's progress may race. */
	if (pthread_mutex_trylock(&eng->warm.event_lock))
		return 0;
	while ((ret = mcx_registry_read_event(eng->reg, &ev, 0)) > 0) {
		n++;
		if (ev.type == MCX_REG_EVENT_CTX_MR_DROPPED)
			ctx_mr_dropped(eng, &ev);
		else
			mcx__mem_registry_event(&eng->mem, &ev);
	}
	pthread_mutex_unlock(&eng->warm.event_lock);
	if (ret < 0 && ret != -EAGAIN)
		mcx__dbg("reading /dev/mcxfer events: %s", mcx_strerror(ret));
	return n;
}
