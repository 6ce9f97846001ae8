// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Registry client: the /dev/mcxfer ioctls behind the mcx_registry_* API.
 *
 * Every argument is checked here before any ioctl, so a bad call fails the
 * same way whether or not the module is loaded, and the kernel only ever
 * sees well-formed requests (its own checks remain the authority).  The
 * ioctl structs stay inside this file; the public structs are copied field
 * by field so that either side can grow without the other noticing.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uapi/linux/mcxfer.h"
#include "util/util.h"
#include "registry/registry.h"

#define DEFAULT_DEV	"/dev/mcxfer"
#define DEV_VAR		"MCX_REGISTRY_DEV"
#define LIST_PAGE	64	/* entries fetched per LIST ioctl */
/* The oldest module this library speaks to: ABI 3 calls then say EOPNOTSUPP. */
#define ABI_MIN		2
#define ABI_CTX		3	/* MR offsets, QUERY_DEVICE, contexts, holders */

_Static_assert(MCX_NAME_MAX == MCXFER_NAME_MAX, "name size differs from the ABI");
_Static_assert(MCX_IBDEV_NAME_MAX == MCXFER_IBDEV_NAME_MAX, "ibdev size differs from the ABI");
_Static_assert(MCX_EXPORTER_MAX == MCXFER_EXPORTER_MAX, "exporter size differs from the ABI");
_Static_assert(MCX_SHARE_OWNER == MCXFER_SHARE_OWNER && MCX_SHARE_GROUP == MCXFER_SHARE_GROUP &&
	       MCX_SHARE_ALL == MCXFER_SHARE_ALL, "share modes differ from the ABI");
_Static_assert(MCX_REG_RO_NO_PCI == MCXFER_RO_NO_PCI && MCX_REG_RO_ENABLED == MCXFER_RO_ENABLED &&
	       MCX_REG_RO_DISABLED == MCXFER_RO_DISABLED, "relaxed ordering differs from the ABI");
_Static_assert(MCX_REG_EVENT_CTX_MR_DROPPED == MCXFER_EVENT_CTX_MR_DROPPED,
	       "event types differ from the ABI");
_Static_assert(sizeof(((struct mcx_reg_holder *)0)->comm) >= MCXFER_COMM_MAX,
	       "comm size differs from the ABI");
_Static_assert(sizeof(((struct mcx_reg_device *)0)->pci_name) >= MCXFER_PCI_NAME_MAX,
	       "PCI name size differs from the ABI");
_Static_assert(MCX_REG_ACTIVE == MCXFER_STATE_ACTIVE && MCX_REG_LINGER == MCXFER_STATE_LINGER &&
	       MCX_REG_DEAD == MCXFER_STATE_DEAD, "states differ from the ABI");

struct mcx_registry {
	int fd;
	uint32_t abi_version;
	mcx__ioctl_fn ioctl_fn;		/* NULL: the real ioctl(2) */
};

struct mcx_reg_cursor {
	struct mcx_registry *reg;
	uint64_t next;		/* id to ask for in the next LIST */
	uint32_t count;		/* records in page */
	uint32_t pos;		/* next record to hand out */
	int done;		/* the kernel said there is nothing after page */
	struct mcxfer_entry_info page[LIST_PAGE];
};

static int xioctl(const struct mcx_registry *reg, unsigned long cmd, void *arg)
{
	if (reg->ioctl_fn)
		return reg->ioctl_fn(reg->fd, cmd, arg);
	if (ioctl(reg->fd, cmd, arg) < 0)
		return -errno;
	return 0;
}

/*
 * The checks a call that needs ABI 3 makes before its ioctl, in this
 * order: reg, then the call's own arguments (arg_err, the errno the
 * caller found for them or 0), and only then the module's ABI.  Arguments
 * first so that a wrong call fails the same way on every module and
 * -EOPNOTSUPP means only "right, but the module is too old".  The ABI is
 * checked here, not left to the module: an ABI 2 module answers ENOTTY to
 * a command it does not know and EINVAL to the fields ABI 3 added to its
 * older commands (an MR's offset, an index: reserved words to it),
 * neither of which tells the caller what is missing.
 */
static int ctx_call_check(const struct mcx_registry *reg, int arg_err)
{
	if (!reg)
		return -EINVAL;
	if (arg_err)
		return arg_err;
	if (reg->abi_version < ABI_CTX)
		return -EOPNOTSUPP;
	return 0;
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '/' ||
	       c == ':' || c == '-';
}

int mcx__check_name(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, MCX_NAME_MAX);
	if (len == 0)
		return -EINVAL;
	if (len >= MCX_NAME_MAX)
		return -ENAMETOOLONG;
	if (name[0] == '/' || name[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!is_name_char(name[i]))
			return -EINVAL;
	return 0;
}

/* The kernel's rule for device names: no '/', no blanks, not "." or "..". */
int mcx__check_ibdev(const char *ibdev)
{
	size_t len;

	if (!ibdev)
		return -EINVAL;
	len = strnlen(ibdev, MCX_IBDEV_NAME_MAX);
	if (len == 0)
		return -EINVAL;
	if (len >= MCX_IBDEV_NAME_MAX)
		return -ENAMETOOLONG;
	if (!strcmp(ibdev, ".") || !strcmp(ibdev, ".."))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)ibdev[i];

		if (c <= ' ' || c >= 0x7f || c == '/')
			return -EINVAL;
	}
	return 0;
}

/* Fixed-size NUL-padded ABI string to a C string, terminated whatever came. */
static void copy_abi_str(char *dst, size_t dst_size, const void *src, size_t src_size)
{
	size_t n = src_size < dst_size - 1 ? src_size : dst_size - 1;

	memcpy(dst, src, n);
	dst[n] = '\0';
}

int mcx__registry_from_fd(int fd, struct mcx_registry **out)
{
	struct mcx_registry *reg;

	if (fd < 0 || !out)
		return -EINVAL;
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	reg->fd = fd;
	reg->abi_version = MCXFER_ABI_VERSION;
	*out = reg;
	return 0;
}

void mcx__registry_set_ioctl(struct mcx_registry *reg, mcx__ioctl_fn fn)
{
	reg->ioctl_fn = fn;
}

void mcx__registry_set_abi(struct mcx_registry *reg, uint32_t abi_version)
{
	reg->abi_version = abi_version;
}

/* MCX_REGISTRY_DEV, checked: an absolute path that fits in PATH_MAX. */
static int registry_path(const char **path)
{
	const char *s = getenv(DEV_VAR);

	if (!s) {
		*path = DEFAULT_DEV;
		return 0;
	}
	if (s[0] != '/' || strnlen(s, PATH_MAX) >= PATH_MAX) {
		mcx__err("%s=\"%s\": expected the absolute path of the mcxfer device (default %s)",
			 DEV_VAR, s, DEFAULT_DEV);
		return -EINVAL;
	}
	*path = s;
	return 0;
}

MCX_EXPORT int mcx_registry_open(struct mcx_registry **out)
{
	struct mcxfer_info info = { .size = sizeof(info) };
	const char *path;
	struct stat st;
	int fd, ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	ret = mcx__log_init();
	if (ret)
		return ret;
	ret = registry_path(&path);
	if (ret)
		return ret;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENOTDIR || ret == -ENXIO || ret == -ENODEV) {
			mcx__err("%s: no such device: the mcxfer kernel module is not loaded (modprobe mcxfer)",
				 path);
			return -ENODEV;
		}
		if (ret == -EACCES || ret == -EPERM)
			mcx__err("%s: permission denied: add the user to the mcxfer group (udev rule 60-mcxfer.rules)",
				 path);
		else
			mcx__err("%s: cannot open: %s", path, mcx_strerror(ret));
		return ret;
	}
	if (fstat(fd, &st) || !S_ISCHR(st.st_mode)) {
		mcx__err("%s is not a character device, so not the mcxfer registry", path);
		ret = -ENODEV;
		goto fail;
	}
	ret = xioctl(&(struct mcx_registry){ .fd = fd }, MCXFER_IOC_GET_INFO, &info);
	if (ret == -ENOTTY || ret == -EINVAL) {
		mcx__err("%s does not answer mcxfer's GET_INFO: not the mcxfer registry", path);
		ret = -ENODEV;
		goto fail;
	}
	if (ret) {
		mcx__err("%s: GET_INFO failed: %s", path, mcx_strerror(ret));
		goto fail;
	}
	/* every later ABI keeps the calls of the earlier ones */
	if (info.abi_version < ABI_MIN || info.abi_version > MCXFER_ABI_VERSION) {
		mcx__err("%s speaks mcxfer ABI %u, this library ABI %u to %u: install matching versions",
			 path, info.abi_version, ABI_MIN, MCXFER_ABI_VERSION);
		ret = -EPROTO;
		goto fail;
	}
	ret = mcx__registry_from_fd(fd, out);
	if (ret)
		goto fail;
	(*out)->abi_version = info.abi_version;
	mcx__dbg("opened %s (ABI %u)", path, info.abi_version);
	return 0;
fail:
	close(fd);
	return ret;
}

MCX_EXPORT void mcx_registry_close(struct mcx_registry *reg)
{
	if (!reg)
		return;
	close(reg->fd);
	free(reg);
}

MCX_EXPORT int mcx_registry_pin(struct mcx_registry *reg, int dmabuf_fd, uint64_t offset,
				uint64_t length, const char *name, const char *ibdev,
				enum mcx_share share, uint32_t flags, uint64_t *id, int *hit)
{
	struct mcxfer_pin p = { .size = sizeof(p) };
	int ret;

	if (!reg || !id)
		return -EINVAL;
	if (dmabuf_fd < 0)
		return -EBADF;
	if (!length)
		return -EINVAL;
	if (offset > UINT64_MAX - length)
		return -EOVERFLOW;
	if ((unsigned int)share > MCX_SHARE_ALL)
		return -EINVAL;
	if (flags & ~MCX_PIN_NO_LINGER)
		return -EINVAL;
	if (name && (ret = mcx__check_name(name)))
		return ret;
	if (ibdev && (ret = mcx__check_ibdev(ibdev)))
		return ret;

	p.flags = (flags & MCX_PIN_NO_LINGER) ? MCXFER_PIN_NO_LINGER : 0;
	p.dmabuf_fd = (__u32)dmabuf_fd;
	p.share = (__u32)share;
	p.offset = offset;
	p.length = length;
	p.name = (__u64)(uintptr_t)name;
	p.ibdev = (__u64)(uintptr_t)ibdev;
	ret = xioctl(reg, MCXFER_IOC_PIN, &p);
	if (ret)
		return ret;
	*id = p.id;
	if (hit)
		*hit = !!(p.out_flags & MCXFER_PIN_OUT_HIT);
	return 0;
}

MCX_EXPORT int mcx_registry_unpin(struct mcx_registry *reg, uint64_t id)
{
	struct mcxfer_unpin u = { .size = sizeof(u), .id = id };

	if (!reg || !id)
		return -EINVAL;
	return xioctl(reg, MCXFER_IOC_UNPIN, &u);
}

static int registry_lookup(struct mcx_registry *reg, const char *name, uint64_t id,
			   uint32_t owner_uid, uint32_t flags, struct mcx_reg_lookup *out)
{
	struct mcxfer_lookup l = { .size = sizeof(l) };
	int ret;

	if (!reg || !out)
		return -EINVAL;
	out->fd = -1;
	if (flags & ~(MCX_LOOKUP_REF | MCX_LOOKUP_EXPORT_FD | MCX_LOOKUP_OWNER))
		return -EINVAL;
	if ((flags & MCX_LOOKUP_OWNER) && !name)
		return -EINVAL;
	/* Exactly one key: a name, or a non-zero id. */
	if (name ? id != 0 : id == 0)
		return -EINVAL;
	if (name && (ret = mcx__check_name(name)))
		return ret;

	if (flags & MCX_LOOKUP_REF)
		l.flags |= MCXFER_LOOKUP_REF;
	if (flags & MCX_LOOKUP_EXPORT_FD)
		l.flags |= MCXFER_LOOKUP_EXPORT_FD;
	if (flags & MCX_LOOKUP_OWNER) {
		l.flags |= MCXFER_LOOKUP_OWNER;
		l.owner_uid = owner_uid;
	}
	l.name = (__u64)(uintptr_t)name;
	l.id = id;
	ret = xioctl(reg, MCXFER_IOC_LOOKUP, &l);
	if (ret)
		return ret;
	out->id = l.id;
	out->offset = l.offset;
	out->length = l.length;
	out->dmabuf_size = l.dmabuf_size;
	out->fd = (flags & MCX_LOOKUP_EXPORT_FD) ? (int32_t)l.fd : -1;
	out->state = l.state;
	out->owner_uid = l.owner_uid;
	out->owner_gid = l.owner_gid;
	out->share = l.share;
	out->nr_mrs = l.nr_mrs;
	return 0;
}

MCX_EXPORT int mcx_registry_lookup(struct mcx_registry *reg, const char *name, uint64_t id,
				   uint32_t flags, struct mcx_reg_lookup *out)
{
	if (flags & MCX_LOOKUP_OWNER) {
		if (out)
			out->fd = -1;
		return -EINVAL;	/* the owner is mcx_registry_lookup_owner()'s argument */
	}
	return registry_lookup(reg, name, id, 0, flags, out);
}

MCX_EXPORT int mcx_registry_lookup_owner(struct mcx_registry *reg, const char *name,
					 uint32_t owner_uid, uint32_t flags,
					 struct mcx_reg_lookup *out)
{
	if (!name) {
		if (out)
			out->fd = -1;
		return -EINVAL;
	}
	return registry_lookup(reg, name, 0, owner_uid, flags | MCX_LOOKUP_OWNER, out);
}

MCX_EXPORT int mcx_registry_publish_mr(struct mcx_registry *reg, uint64_t id,
				       struct mcx_reg_mr *mr)
{
	struct mcxfer_publish_mr p = { .size = sizeof(p) };
	int ret;

	if (!reg || !mr || !id)
		return -EINVAL;
	if (mr->uverbs_fd < 0)
		return -EBADF;
	if (!mr->length)
		return -EINVAL;
	if (mr->iova > UINT64_MAX - mr->length || mr->offset > UINT64_MAX - mr->length)
		return -EOVERFLOW;
	/* a sub-range of the entry: a non-zero offset needs ABI 3 */
	if (mr->offset && (ret = ctx_call_check(reg, 0)))
		return ret;

	p.id = id;
	p.uverbs_fd = (__u32)mr->uverbs_fd;
	p.pd_handle = mr->pd_handle;
	p.mr_handle = mr->mr_handle;
	p.lkey = mr->lkey;
	p.rkey = mr->rkey;
	p.access = mr->access;
	p.iova = mr->iova;
	p.length = mr->length;
	p.offset = mr->offset;
	ret = xioctl(reg, MCXFER_IOC_PUBLISH_MR, &p);
	if (ret)
		return ret;
	mr->mr_id = p.mr_id;
	return 0;
}

MCX_EXPORT int mcx_registry_get_mr(struct mcx_registry *reg, uint64_t id, const char *ibdev,
				   uint32_t index, struct mcx_reg_mr *out)
{
	struct mcxfer_get_mr g = { .size = sizeof(g) };
	int ret;

	if (!reg || !out)
		return -EINVAL;
	out->uverbs_fd = -1;
	if (!id)
		return -EINVAL;
	/* ABI 2 knew one MR per device: a device name took no index */
	if (ibdev && index && (ret = ctx_call_check(reg, 0)))
		return ret;
	if (ibdev && (ret = mcx__check_ibdev(ibdev)))
		return ret;

	g.id = id;
	g.ibdev = (__u64)(uintptr_t)ibdev;
	g.index = index;
	ret = xioctl(reg, MCXFER_IOC_GET_MR, &g);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->mr_id = g.mr_id;
	out->uverbs_fd = (int32_t)g.uverbs_fd;
	out->pd_handle = g.pd_handle;
	out->mr_handle = g.mr_handle;
	out->lkey = g.lkey;
	out->rkey = g.rkey;
	out->access = g.access;
	out->iova = g.iova;
	out->length = g.length;
	out->offset = g.offset;
	copy_abi_str(out->ibdev, sizeof(out->ibdev), g.ibdev_name, sizeof(g.ibdev_name));
	return 0;
}

static void entry_from_abi(struct mcx_reg_entry *e, const struct mcxfer_entry_info *k)
{
	memset(e, 0, sizeof(*e));
	e->id = k->id;
	e->offset = k->offset;
	e->length = k->length;
	e->dmabuf_size = k->dmabuf_size;
	e->owner_uid = k->owner_uid;
	e->owner_gid = k->owner_gid;
	e->share = k->share;
	e->state = k->state;
	e->refs = k->refs;
	e->holders = k->holders;
	e->nr_mrs = k->nr_mrs;
	e->flags = (k->flags & MCXFER_PIN_NO_LINGER) ? MCX_PIN_NO_LINGER : 0;
	e->hits = k->hits;
	e->age_ms = k->age_ms;
	e->idle_ms = k->idle_ms;
	copy_abi_str(e->name, sizeof(e->name), k->name, sizeof(k->name));
	copy_abi_str(e->exporter, sizeof(e->exporter), k->exporter, sizeof(k->exporter));
	copy_abi_str(e->ibdev, sizeof(e->ibdev), k->ibdev, sizeof(k->ibdev));
}

/* Fetch the next page into the cursor. */
static int cursor_fill(struct mcx_reg_cursor *c)
{
	struct mcxfer_list l = { .size = sizeof(l) };
	int ret;

	l.cursor = c->next;
	l.entries = (__u64)(uintptr_t)c->page;
	l.entry_size = sizeof(c->page[0]);
	l.count = LIST_PAGE;
	ret = xioctl(c->reg, MCXFER_IOC_LIST, &l);
	if (ret)
		return ret;
	if (l.count > LIST_PAGE)
		return -EPROTO;
	/* A cursor that does not move forward would make us loop forever. */
	if (l.cursor && l.cursor <= c->next)
		return -EPROTO;
	c->count = l.count;
	c->pos = 0;
	c->next = l.cursor;
	c->done = l.cursor == 0;
	return 0;
}

MCX_EXPORT void mcx_reg_cursor_free(struct mcx_reg_cursor *cursor)
{
	free(cursor);
}

MCX_EXPORT int mcx_registry_list(struct mcx_registry *reg, struct mcx_reg_cursor **cursor,
				 struct mcx_reg_entry *out)
{
	struct mcx_reg_cursor *c;
	int ret;

	if (!reg || !cursor || !out) {
		if (cursor) {
			mcx_reg_cursor_free(*cursor);
			*cursor = NULL;
		}
		return -EINVAL;
	}
	c = *cursor;
	if (c && c->reg != reg) {
		ret = -EINVAL;
		goto end;
	}
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->reg = reg;
		*cursor = c;
		ret = cursor_fill(c);
		if (ret)
			goto end;
	}
	while (c->pos == c->count) {
		if (c->done) {
			ret = 0;
			goto end;
		}
		ret = cursor_fill(c);
		if (ret)
			goto end;
	}
	entry_from_abi(out, &c->page[c->pos++]);
	return 1;
end:
	mcx_reg_cursor_free(c);
	*cursor = NULL;
	return ret;
}

MCX_EXPORT int mcx_registry_info(struct mcx_registry *reg, struct mcx_reg_info *out)
{
	struct mcxfer_info k = { .size = sizeof(k) };
	int ret;

	if (!reg || !out)
		return -EINVAL;
	ret = xioctl(reg, MCXFER_IOC_GET_INFO, &k);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->abi_version = k.abi_version;
	out->linger_ms = k.linger_ms;
	out->max_pinned_bytes = k.max_pinned_bytes;
	out->max_entries = k.max_entries;
	out->user_max_pinned_bytes = k.user_max_pinned_bytes;
	out->user_max_entries = k.user_max_entries;
	out->pins = k.pins;
	out->hits = k.hits;
	out->misses = k.misses;
	out->unpins = k.unpins;
	out->lookups = k.lookups;
	out->evictions = k.evictions;
	out->invalidations = k.invalidations;
	out->bytes_pinned = k.bytes_pinned;
	out->entries = k.entries;
	out->entries_active = k.entries_active;
	out->entries_linger = k.entries_linger;
	out->entries_dead = k.entries_dead;
	out->mrs = k.mrs;
	out->clients = k.clients;
	out->contexts = k.contexts;
	return 0;
}

MCX_EXPORT int mcx_registry_evict(struct mcx_registry *reg, uint64_t id, uint32_t flags,
				  uint64_t *evicted)
{
	struct mcxfer_evict e = { .size = sizeof(e) };
	int ret;

	if (!reg)
		return -EINVAL;
	if (flags & ~(MCX_EVICT_IDLE | MCX_EVICT_REVOKE))
		return -EINVAL;
	/* IDLE means "all of them": an id, or a revoke, would be contradictory. */
	if ((flags & MCX_EVICT_IDLE) ? id != 0 || (flags & MCX_EVICT_REVOKE) : id == 0)
		return -EINVAL;
	e.flags = (flags & MCX_EVICT_IDLE) ? MCXFER_EVICT_IDLE : 0;
	if (flags & MCX_EVICT_REVOKE)
		e.flags |= MCXFER_EVICT_REVOKE;
	e.id = id;
	ret = xioctl(reg, MCXFER_IOC_EVICT, &e);
	if (ret)
		return ret;
	if (evicted)
		*evicted = e.evicted;
	return 0;
}

MCX_EXPORT int mcx_registry_event_fd(struct mcx_registry *reg)
{
	if (!reg)
		return -EINVAL;
	return reg->fd;
}

MCX_EXPORT int mcx_registry_read_event(struct mcx_registry *reg, struct mcx_reg_event *ev,
				       int timeout_ms)
{
	struct pollfd pfd;
	struct mcxfer_event k;
	ssize_t n;
	int ret;

	if (!reg || !ev || timeout_ms < -1)
		return -EINVAL;
	pfd.fd = reg->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	ret = poll(&pfd, 1, timeout_ms);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return 0;
	if (pfd.revents & (POLLERR | POLLNVAL))
		return -EIO;
	memset(&k, 0, sizeof(k));
	n = read(reg->fd, &k, sizeof(k));
	if (n < 0) {
		/* Another thread took the event between poll() and read(). */
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
	if ((size_t)n < offsetof(struct mcxfer_event, reserved) ||
	    k.size < offsetof(struct mcxfer_event, reserved))
		return -EPROTO;
	memset(ev, 0, sizeof(*ev));
	ev->type = k.type;
	ev->id = k.id;
	ev->mr_id = k.mr_id;
	return 1;
}

MCX_EXPORT int mcx_registry_query_device(struct mcx_registry *reg, const char *ibdev,
					 struct mcx_reg_device *out)
{
	struct mcxfer_device_info q = { .size = sizeof(q) };
	int ret;

	ret = ctx_call_check(reg, out ? mcx__check_ibdev(ibdev) : -EINVAL);
	if (ret)
		return ret;
	q.ibdev = (__u64)(uintptr_t)ibdev;
	ret = xioctl(reg, MCXFER_IOC_QUERY_DEVICE, &q);
	if (ret)
		return ret;
	if (q.relaxed_ordering > MCXFER_RO_DISABLED)
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	out->relaxed_ordering = q.relaxed_ordering;
	/* the ABI says node + 1 so that 0 can mean unknown */
	out->numa_node = q.numa_node ? (int32_t)(q.numa_node - 1) : -1;
	copy_abi_str(out->pci_name, sizeof(out->pci_name), q.pci_name, sizeof(q.pci_name));
	return 0;
}

MCX_EXPORT int mcx_registry_publish_ctx(struct mcx_registry *reg, int uverbs_fd,
					uint32_t pd_handle, uint64_t *ctx_id)
{
	struct mcxfer_ctx c = { .size = sizeof(c) };
	int ret;

	ret = ctx_call_check(reg, uverbs_fd < 0 ? -EBADF : 0);
	if (ret)
		return ret;
	c.uverbs_fd = (__u32)uverbs_fd;
	c.pd_handle = pd_handle;
	ret = xioctl(reg, MCXFER_IOC_PUBLISH_CTX, &c);
	if (ret)
		return ret;
	if (ctx_id)
		*ctx_id = c.ctx_id;
	return 0;
}

MCX_EXPORT int mcx_registry_get_ctx(struct mcx_registry *reg, const char *ibdev, int *uverbs_fd,
				    uint32_t *pd_handle, uint64_t *ctx_id)
{
	struct mcxfer_ctx c = { .size = sizeof(c) };
	int ret;

	if (uverbs_fd)
		*uverbs_fd = -1;
	ret = ctx_call_check(reg, uverbs_fd && pd_handle ? mcx__check_ibdev(ibdev) : -EINVAL);
	if (ret)
		return ret;
	c.ibdev = (__u64)(uintptr_t)ibdev;
	ret = xioctl(reg, MCXFER_IOC_GET_CTX, &c);
	if (ret)
		return ret;
	if (c.uverbs_fd > INT_MAX)
		return -EPROTO;
	*uverbs_fd = (int)c.uverbs_fd;
	*pd_handle = c.pd_handle;
	if (ctx_id)
		*ctx_id = c.ctx_id;
	return 0;
}

/* The module answers at most this many holders per call. */
#define HOLDERS_BATCH	4096

MCX_EXPORT int mcx_registry_holders(struct mcx_registry *reg, uint64_t id,
				    struct mcx_reg_holder *out, size_t max, size_t *total)
{
	struct mcxfer_holders l = { .size = sizeof(l) };
	struct mcxfer_holder_info *k = NULL;
	size_t want = max < HOLDERS_BATCH ? max : HOLDERS_BATCH;
	int ret;

	ret = ctx_call_check(reg, !id || (max && !out) ? -EINVAL : 0);
	if (ret)
		return ret;
	if (want) {
		k = calloc(want, sizeof(*k));
		if (!k)
			return -ENOMEM;
	}
	l.id = id;
	l.holders = (__u64)(uintptr_t)k;
	l.holder_size = sizeof(*k);
	l.count = (__u32)want;
	ret = xioctl(reg, MCXFER_IOC_LIST_HOLDERS, &l);
	if (ret)
		goto out;
	ret = -EPROTO;
	if (l.count > want || l.count > l.total)
		goto out;
	for (size_t i = 0; i < l.count; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].pid = k[i].pid;
		out[i].refs = k[i].refs;
		out[i].uid = k[i].uid;
		out[i].got_mr = !!(k[i].flags & MCXFER_HOLDER_GOT_MR);
		copy_abi_str(out[i].comm, sizeof(out[i].comm), k[i].comm, sizeof(k[i].comm));
	}
	if (total)
		*total = l.total;
	ret = (int)l.count;
out:
	free(k);
	return ret;
}
