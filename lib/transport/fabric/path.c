// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Paths of the RDM transport.  A path is the remote endpoint's entry in
 * the device's address vector: nothing is connected, so the starter's
 * path_open does all the work and path_connect only checks the answer's
 * blob.  Entries are counted: the paths of both directions between two
 * devices (and a rebuilt one) share one, which leaves the AV with the last.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "transport/fabric/fabric.h"

#define PATH_BLOB_MAGIC	0x4d465031U	/* what an RDM path's blob says */

/*
 * The blob: the magic; the token the other side puts in the notifications
 * it sends over this path (our id of it; 0 where this device takes no
 * notifications), so that we find the path (and so the peer) a
 * notification came from without FI_SOURCE; and where warm-up probes read
 * (the address and key of our probe region; key ~0: none).  A blob of 8
 * bytes (magic and token only) is one without a probe region.
 */
static void blob_fill(const struct mcx_fpath *p, void *blob, uint32_t *blob_len)
{
	const struct mcx_fdom *d = p->dom;
	uint32_t magic = PATH_BLOB_MAGIC, token = d->cq_data ? p->id : 0;
	uint64_t addr = 0, key = UINT64_MAX;
	uint8_t *b = blob;

	if (d->probe_mr) {
		addr = (d->mr_mode & FI_MR_VIRT_ADDR) ? (uint64_t)(uintptr_t)d->probe_buf : 0;
		key = d->probe_key;
	}
	memcpy(b, &magic, 4);
	memcpy(b + 4, &token, 4);
	memcpy(b + 8, &addr, 8);
	memcpy(b + 16, &key, 8);
	*blob_len = MCX_FAB_PATH_BLOB_LEN;
}

/* Check a peer's blob and take what it says into p (when given). */
static int blob_check(const void *blob, uint32_t len, struct mcx_fpath *p)
{
	const uint8_t *b = blob;
	uint64_t addr, key;
	uint32_t magic;

	if (len != MCX_FAB_PATH_BLOB_LEN && len != MCX_FAB_PATH_BLOB_OLD)
		return -EINVAL;
	memcpy(&magic, b, 4);
	if (magic != PATH_BLOB_MAGIC)
		return -EINVAL;
	if (!p)
		return 0;
	memcpy(&p->rtoken, b + 4, 4);
	p->rprobe = false;
	if (len == MCX_FAB_PATH_BLOB_LEN) {
		memcpy(&addr, b + 8, 8);
		memcpy(&key, b + 16, 8);
		/* Anything else is the peer's to get right: a bad one fails the probe. */
		p->rprobe = key != UINT64_MAX;
		p->rprobe_addr = addr;
		p->rprobe_key = key;
	}
	return 0;
}

/*
 * The probe region, made once (av_lock held).  Without it warm-up only
 * inserts the AV entries: worth a log line, not a failed path.
 */
static void probe_region(struct mcx_fdom *d)
{
	struct mcx_tp_mr_req req = { .len = 2 * sizeof(uint64_t), .dmabuf_fd = -1,
				     .remote = true };
	struct mcx_tp_mr_info info;
	int ret;

	if (d->probe_tried)
		return;
	d->probe_tried = true;
	d->probe_buf = calloc(2, sizeof(uint64_t));
	if (!d->probe_buf)
		return;
	req.addr = (uint64_t)(uintptr_t)d->probe_buf;
	ret = mcx__fab_mr_reg((struct mcx_tp_dev *)d, &req, &d->probe_mr, &info);
	if (ret) {
		mcx__warn("%s: cannot register the warm-up probe region (%s): warm-up only inserts addresses",
			  d->name, mcx_strerror(ret));
		free(d->probe_buf);
		d->probe_buf = NULL;
		d->probe_mr = NULL;
		return;
	}
	d->probe_key = info.rkey;
}

/*
 * A path's id, the token peers put in their notifications (av_lock held):
 * unpredictable, so that a peer cannot name another peer's path by
 * counting, unique among the open paths, never 0 ("no notifications").
 */
static uint32_t new_token(struct mcx_fdom *d)
{
	for (;;) {
		uint32_t t = 0;
		bool taken = false;

		if (getrandom(&t, sizeof(t), GRND_NONBLOCK) != (ssize_t)sizeof(t))
			/* No entropy yet (early boot): still unique, only guessable. */
			t = ++d->next_path_id * 2654435761U;
		for (struct mcx_fpath *p = d->live; p && !taken; p = p->next_live)
			taken = p->id == t;
		if (t && !taken)
			return t;
	}
}

/* The AV entry of name, inserted on first use (av_lock held). */
static int av_get(struct mcx_fdom *d, const uint8_t *name, uint32_t len, struct mcx_fav **out)
{
	struct mcx_fav *a;
	int ret;

	for (a = d->avs; a; a = a->next) {
		if (a->len == len && !memcmp(a->addr, name, len)) {
			a->refs++;
			*out = a;
			return 0;
		}
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	memcpy(a->addr, name, len);
	a->len = len;
	ret = d->calls->av_insert(d->av, name, &a->fi_addr);
	if (ret != 1) {
		mcx__err("%s: fi_av_insert of a peer's address: %s", d->name,
			 ret < 0 ? fi_strerror(-ret) : "not inserted");
		free(a);
		return ret == -FI_ENOMEM ? -ENOMEM : -EHOSTUNREACH;
	}
	a->refs = 1;
	a->next = d->avs;
	d->avs = a;
	*out = a;
	return 0;
}

static void av_put(struct mcx_fdom *d, struct mcx_fav *a)
{
	if (--a->refs)
		return;
	for (struct mcx_fav **pp = &d->avs; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	d->calls->av_remove(d->av, a->fi_addr);
	free(a);
}

int mcx__fab_path_open(struct mcx_tp_dev *dev, const void *raddr, uint32_t raddr_len,
		       uint32_t flags, const void *rblob, uint32_t rblob_len, void *owner,
		       struct mcx_tp_path **out, void *blob, uint32_t *blob_len)
{
	struct mcx_fdom *d = (struct mcx_fdom *)dev;
	const uint8_t *name;
	uint32_t prov_id, name_len;
	struct mcx_fpath *p;
	int ret;

	*out = NULL;
	*blob_len = 0;
	ret = mcx__fab_addr_unpack(raddr, raddr_len, &prov_id, &name, &name_len);
	if (ret) {
		mcx__err("%s: the peer's device address is not a libfabric one", d->name);
		return ret;
	}
	if (prov_id != d->prov_id) {
		mcx__err("%s: the peer's device runs another libfabric provider than ours (%s)",
			 d->name, d->prov);
		return -EPROTONOSUPPORT;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (rblob && (ret = blob_check(rblob, rblob_len, p)) != 0) {
		free(p);
		return ret;
	}
	p->dom = d;
	p->flags = flags;
	p->owner = owner;
	pthread_mutex_lock(&d->av_lock);
	probe_region(d);
	ret = av_get(d, name, name_len, &p->av);
	if (!ret) {
		p->id = new_token(d);
		p->next_live = d->live;
		d->live = p;
	}
	pthread_mutex_unlock(&d->av_lock);
	if (ret) {
		free(p);
		return ret;
	}
	blob_fill(p, blob, blob_len);
	*out = (struct mcx_tp_path *)p;
	return 0;
}

int mcx__fab_path_connect(struct mcx_tp_path *path, const void *rblob, uint32_t len)
{
	return blob_check(rblob, len, (struct mcx_fpath *)path);
}

int mcx__fab_path_warm(struct mcx_tp_path *path)
{
	struct mcx_fpath *p = (struct mcx_fpath *)path;
	struct mcx_fdom *d = p->dom;
	int state = atomic_load(&p->warm), ret;

	if (state == MCX_FAB_WARM_DONE)
		return 0;
	if (state == MCX_FAB_WARM_PROBING)
		return -EINPROGRESS;
	if (state < 0) {
		/* Said once; the next call probes again. */
		atomic_store(&p->warm, MCX_FAB_WARM_COLD);
		return state;
	}
	if (!d->probe_mr || !p->rprobe)
		return -EOPNOTSUPP;
	if (atomic_load(&p->stopped))
		return -ENOTCONN;
	pthread_mutex_lock(&d->lock);
	ret = mcx__fab_probe_post(p);
	pthread_mutex_unlock(&d->lock);
	if (ret == -EAGAIN)
		return -EINPROGRESS;	/* no slot now: again on the next call */
	return ret ? ret : -EINPROGRESS;
}

bool mcx__fab_path_is_warm(const struct mcx_tp_path *path)
{
	return atomic_load(&((const struct mcx_fpath *)path)->warm) == MCX_FAB_WARM_DONE;
}

struct mcx_fpath *mcx__fab_path_by_token(struct mcx_fdom *d, uint32_t token)
{
	struct mcx_fpath *p;

	if (!token)
		return NULL;
	pthread_mutex_lock(&d->av_lock);
	for (p = d->live; p && p->id != token; p = p->next_live)
		;
	pthread_mutex_unlock(&d->av_lock);
	return p;
}

/* Take p off the live list (av_lock held). */
static void live_remove(struct mcx_fdom *d, struct mcx_fpath *p)
{
	for (struct mcx_fpath **pp = &d->live; *pp; pp = &(*pp)->next_live) {
		if (*pp == p) {
			*pp = p->next_live;
			return;
		}
	}
}

void mcx__fab_path_stop(struct mcx_tp_path *path)
{
	struct mcx_fpath *p = (struct mcx_fpath *)path;

	/*
	 * The endpoint is every path's, so nothing can be flushed in the
	 * provider; and a failed connection's work need not ever complete
	 * there (ofi_rxm drops it).  The next progress hands back what the
	 * path owes instead; the provider's late answers are dropped.
	 */
	atomic_store(&p->stopped, true);
	atomic_store(&p->dom->flush_due, true);
}

void mcx__fab_paths_fail(struct mcx_fdom *d, const struct mcx_fav *av)
{
	pthread_mutex_lock(&d->av_lock);
	for (struct mcx_fpath *p = d->live; p; p = p->next_live)
		if (!av || p->av == av)
			atomic_store(&p->stopped, true);
	pthread_mutex_unlock(&d->av_lock);
	atomic_store(&d->flush_due, true);
}

uint32_t mcx__fab_path_inflight(const struct mcx_tp_path *path)
{
	/* What the caller waits for: contexts not handed back yet. */
	return atomic_load(&((const struct mcx_fpath *)path)->owed);
}

static void path_free(struct mcx_fpath *p)
{
	struct mcx_fdom *d = p->dom;

	pthread_mutex_lock(&d->av_lock);
	av_put(d, p->av);
	pthread_mutex_unlock(&d->av_lock);
	free(p);
}

void mcx__fab_path_close(struct mcx_tp_path *path, void (*unreaped)(void *arg, void *ctx),
			 void *arg)
{
	struct mcx_fpath *p = (struct mcx_fpath *)path;
	struct mcx_fdom *d;
	void **back = NULL;
	uint32_t nback = 0;
	bool zombie;

	if (!p)
		return;
	d = p->dom;
	atomic_store(&p->stopped, true);
	if (unreaped && atomic_load(&p->inflight))
		back = calloc(d->nslots, sizeof(*back));
	pthread_mutex_lock(&d->lock);
	/*
	 * What has not completed: its contexts go back now (after the lock:
	 * the callee may post to other paths), the slots stay until the
	 * provider lets go of them.  Without memory for the list a context
	 * is still never delivered, only not handed back.
	 */
	for (uint32_t i = 0; i < d->nslots; i++) {
		struct mcx_fslot *s = &d->slots[i];

		if (!s->used || s->path != p)
			continue;
		if (back && s->ctx)
			back[nback++] = s->ctx;
		s->ctx = NULL;
		if (s->owed) {
			s->owed = false;
			atomic_fetch_sub(&p->owed, 1);
		}
	}
	p->closed = true;
	zombie = atomic_load(&p->inflight) > 0;
	/* Under d->lock: no notification finds p once this returned. */
	pthread_mutex_lock(&d->av_lock);
	live_remove(d, p);
	if (zombie) {
		p->next_zombie = d->zombies;
		d->zombies = p;
	}
	pthread_mutex_unlock(&d->av_lock);
	pthread_mutex_unlock(&d->lock);
	for (uint32_t i = 0; i < nback; i++)
		unreaped(arg, back[i]);
	free(back);
	if (!zombie)
		path_free(p);
}

void mcx__fab_path_slot_done(struct mcx_fpath *p)
{
	struct mcx_fdom *d = p->dom;

	if (atomic_fetch_sub(&p->inflight, 1) != 1 || !p->closed)
		return;
	pthread_mutex_lock(&d->av_lock);
	for (struct mcx_fpath **pp = &d->zombies; *pp; pp = &(*pp)->next_zombie) {
		if (*pp == p) {
			*pp = p->next_zombie;
			break;
		}
	}
	av_put(d, p->av);
	pthread_mutex_unlock(&d->av_lock);
	free(p);
}

void mcx__fab_paths_fini(struct mcx_fdom *d)
{
	while (d->zombies) {
		struct mcx_fpath *p = d->zombies;

		d->zombies = p->next_zombie;
		free(p);
	}
}
