// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The registry client against a fake kernel: the tests answer the ioctls
 * themselves to check what the library puts in each request (sizes, flag
 * translation, pointers) and how it reads the answers (hit flag, exported
 * fd, list paging and cursors, NUL-padded strings, broken answers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "uapi/linux/mcxfer.h"
#include "util.h"

/* What the fake kernel saw last and how it answers. */
static struct {
	unsigned long cmd;
	int calls;
	/* LIST: entries with ids ids[0..nr_ids-1], ascending */
	uint64_t ids[300];
	int nr_ids;
	int list_calls;
	int list_stuck;		/* answer with a cursor that does not move */
	int list_overfill;	/* claim more records than asked for */
	struct mcxfer_pin pin;
	struct mcxfer_lookup lookup;
	struct mcxfer_evict evict;
	struct mcxfer_get_mr get_mr;
	struct mcxfer_publish_mr publish;
	struct mcxfer_device_info query;
	char query_name[80];
	struct mcxfer_ctx ctx;
	char ctx_name[80];
	struct mcxfer_holders holders;
	uint32_t nr_holders;	/* holders the fake entry has */
	int holders_overfill;	/* claim more records than asked for */
} fk;

static int fake_holders(struct mcxfer_holders *l)
{
	struct mcxfer_holder_info *out = (void *)(uintptr_t)l->holders;
	uint32_t n = l->count < fk.nr_holders ? l->count : fk.nr_holders;

	fk.holders = *l;
	if (l->holder_size != sizeof(*out))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].pid = 100 + i;
		out[i].refs = i + 1;
		out[i].uid = 1000 + i;
		out[i].flags = i % 2 ? MCXFER_HOLDER_GOT_MR : 0;
		/* a full-width comm without a NUL comes out terminated */
		memset(out[i].comm, 'a' + (int)i, sizeof(out[i].comm));
	}
	l->count = fk.holders_overfill ? l->count + 1 : n;
	l->total = fk.nr_holders;
	return 0;
}

static void fill_abi_str(__u64 *dst, size_t size, const char *s)
{
	memset(dst, 0, size);
	memcpy(dst, s, strlen(s) < size ? strlen(s) : size);
}

static int fake_list(struct mcxfer_list *l)
{
	struct mcxfer_entry_info *out = (void *)(uintptr_t)l->entries;
	uint32_t n = 0;
	int i = 0;

	fk.list_calls++;
	if (l->size != sizeof(*l) || l->entry_size != sizeof(*out) || !l->count)
		return -EINVAL;
	while (i < fk.nr_ids && fk.ids[i] < l->cursor)
		i++;
	for (; i < fk.nr_ids && n < l->count; i++, n++) {
		struct mcxfer_entry_info *e = &out[n];
		char name[80];

		memset(e, 0, sizeof(*e));
		e->id = fk.ids[i];
		e->length = 4096 * fk.ids[i];
		e->state = MCXFER_STATE_LINGER;
		e->refs = 3;
		e->holders = 2;
		e->flags = MCXFER_PIN_NO_LINGER;
		snprintf(name, sizeof(name), "entry/%llu", (unsigned long long)fk.ids[i]);
		fill_abi_str(e->name, sizeof(e->name), name);
		fill_abi_str(e->exporter, sizeof(e->exporter), "udmabuf");
	}
	l->count = fk.list_overfill ? l->count + 1 : n;
	if (fk.list_stuck)
		l->cursor = l->cursor ? l->cursor : 1;
	else
		l->cursor = i < fk.nr_ids ? fk.ids[i] : 0;
	return 0;
}

static int fake_ioctl(int fd, unsigned long cmd, void *arg)
{
	(void)fd;
	fk.cmd = cmd;
	fk.calls++;
	switch (cmd) {
	case MCXFER_IOC_PIN: {
		struct mcxfer_pin *p = arg;

		fk.pin = *p;
		p->id = 42;
		p->out_flags = MCXFER_PIN_OUT_HIT;
		return 0;
	}
	case MCXFER_IOC_LOOKUP: {
		struct mcxfer_lookup *l = arg;

		fk.lookup = *l;
		l->id = 9;
		l->offset = 4096;
		l->length = 8192;
		l->dmabuf_size = 65536;
		l->fd = (l->flags & MCXFER_LOOKUP_EXPORT_FD) ? 77 : 0;
		l->state = MCXFER_STATE_ACTIVE;
		l->owner_uid = 1000;
		l->owner_gid = 100;
		l->share = MCXFER_SHARE_GROUP;
		l->nr_mrs = 2;
		return 0;
	}
	case MCXFER_IOC_EVICT: {
		struct mcxfer_evict *e = arg;

		fk.evict = *e;
		e->evicted = 5;
		return 0;
	}
	case MCXFER_IOC_GET_MR: {
		struct mcxfer_get_mr *g = arg;

		fk.get_mr = *g;
		g->uverbs_fd = 12;
		g->lkey = 0x1111;
		g->rkey = 0x2222;
		g->iova = 0x10000;
		g->length = 4096;
		g->mr_id = 3;
		g->offset = 0x3000;
		/* A full-width name without a NUL must still come out terminated. */
		memset(g->ibdev_name, 'x', sizeof(g->ibdev_name));
		return 0;
	}
	case MCXFER_IOC_PUBLISH_MR: {
		struct mcxfer_publish_mr *p = arg;

		fk.publish = *p;
		p->mr_id = 8;
		return 0;
	}
	case MCXFER_IOC_GET_INFO: {
		struct mcxfer_info *in = arg;
		__u64 *w = &in->max_pinned_bytes;

		if (in->size != sizeof(*in))
			return -EINVAL;
		in->abi_version = MCXFER_ABI_VERSION;
		in->linger_ms = 300000;
		/* Every counter a different value, to catch swapped fields. */
		for (int i = 0; w + i < in->reserved; i++)
			w[i] = 1000 + (__u64)i;
		return 0;
	}
	case MCXFER_IOC_LIST:
		return fake_list(arg);
	case MCXFER_IOC_QUERY_DEVICE: {
		struct mcxfer_device_info *q = arg;

		fk.query = *q;
		snprintf(fk.query_name, sizeof(fk.query_name), "%s",
			 (const char *)(uintptr_t)q->ibdev);
		q->relaxed_ordering = MCXFER_RO_ENABLED;
		q->numa_node = 2;
		fill_abi_str(q->pci_name, sizeof(q->pci_name), "0000:3b:00.0");
		return 0;
	}
	case MCXFER_IOC_PUBLISH_CTX: {
		struct mcxfer_ctx *c = arg;

		fk.ctx = *c;
		c->ctx_id = 77;
		return 0;
	}
	case MCXFER_IOC_GET_CTX: {
		struct mcxfer_ctx *c = arg;

		fk.ctx = *c;
		snprintf(fk.ctx_name, sizeof(fk.ctx_name), "%s",
			 (const char *)(uintptr_t)c->ibdev);
		c->uverbs_fd = 13;
		c->pd_handle = 5;
		c->ctx_id = 78;
		return 0;
	}
	case MCXFER_IOC_LIST_HOLDERS:
		return fake_holders(arg);
	}
	return -ENOTTY;
}

static struct mcx_registry *fake_registry(void)
{
	struct mcx_registry *reg = null_registry();

	memset(&fk, 0, sizeof(fk));
	mcx__registry_set_ioctl(reg, fake_ioctl);
	return reg;
}

TEST(fake_pin_request_and_hit)
{
	struct mcx_registry *reg = fake_registry();
	uint64_t id = 0;
	int hit = 0;

	ASSERT_ERR(mcx_registry_pin(reg, 7, 4096, 8192, "kv/gpu0", "rxe0", MCX_SHARE_GROUP,
				    MCX_PIN_NO_LINGER, &id, &hit), 0);
	ASSERT_U64_EQ(fk.cmd, MCXFER_IOC_PIN);
	ASSERT_EQ(fk.pin.size, sizeof(struct mcxfer_pin));
	ASSERT_EQ(fk.pin.flags, MCXFER_PIN_NO_LINGER);
	ASSERT_EQ(fk.pin.dmabuf_fd, 7);
	ASSERT_EQ(fk.pin.share, MCXFER_SHARE_GROUP);
	ASSERT_U64_EQ(fk.pin.offset, 4096);
	ASSERT_U64_EQ(fk.pin.length, 8192);
	ASSERT_STREQ((const char *)(uintptr_t)fk.pin.name, "kv/gpu0");
	ASSERT_STREQ((const char *)(uintptr_t)fk.pin.ibdev, "rxe0");
	ASSERT_TRUE(!fk.pin.reserved0 && !fk.pin.reserved[0] && !fk.pin.reserved[1]);
	ASSERT_U64_EQ(id, 42);
	ASSERT_EQ(hit, 1);
	/* No name, no device: null pointers, flags 0. */
	ASSERT_ERR(mcx_registry_pin(reg, 7, 0, 1, NULL, NULL, MCX_SHARE_OWNER, 0, &id, NULL), 0);
	ASSERT_U64_EQ(fk.pin.name, 0);
	ASSERT_U64_EQ(fk.pin.ibdev, 0);
	ASSERT_EQ(fk.pin.flags, 0);
	mcx_registry_close(reg);
}

TEST(fake_lookup_flags_and_fd)
{
	struct mcx_registry *reg = fake_registry();
	struct mcx_reg_lookup l;

	ASSERT_ERR(mcx_registry_lookup(reg, "kv/gpu0", 0, MCX_LOOKUP_REF | MCX_LOOKUP_EXPORT_FD,
				       &l), 0);
	ASSERT_EQ(fk.lookup.flags, MCXFER_LOOKUP_REF | MCXFER_LOOKUP_EXPORT_FD);
	ASSERT_STREQ((const char *)(uintptr_t)fk.lookup.name, "kv/gpu0");
	ASSERT_EQ(l.fd, 77);
	ASSERT_U64_EQ(l.id, 9);
	ASSERT_U64_EQ(l.offset, 4096);
	ASSERT_U64_EQ(l.length, 8192);
	ASSERT_U64_EQ(l.dmabuf_size, 65536);
	ASSERT_EQ(l.state, MCX_REG_ACTIVE);
	ASSERT_EQ(l.owner_uid, 1000);
	ASSERT_EQ(l.owner_gid, 100);
	ASSERT_EQ(l.share, MCX_SHARE_GROUP);
	ASSERT_EQ(l.nr_mrs, 2);
	/* Without EXPORT_FD the kernel's fd field (0) must not look like an fd. */
	ASSERT_ERR(mcx_registry_lookup(reg, NULL, 9, MCX_LOOKUP_REF, &l), 0);
	ASSERT_EQ(fk.lookup.flags, MCXFER_LOOKUP_REF);
	ASSERT_U64_EQ(fk.lookup.name, 0);
	ASSERT_U64_EQ(fk.lookup.id, 9);
	ASSERT_EQ(l.fd, -1);
	mcx_registry_close(reg);
}

TEST(fake_evict_flags_and_count)
{
	struct mcx_registry *reg = fake_registry();
	uint64_t n = 0;

	ASSERT_ERR(mcx_registry_evict(reg, 0, MCX_EVICT_IDLE, &n), 0);
	ASSERT_EQ(fk.evict.flags, MCXFER_EVICT_IDLE);
	ASSERT_U64_EQ(fk.evict.id, 0);
	ASSERT_U64_EQ(n, 5);
	ASSERT_ERR(mcx_registry_evict(reg, 11, 0, NULL), 0);
	ASSERT_EQ(fk.evict.flags, 0);
	ASSERT_U64_EQ(fk.evict.id, 11);
	mcx_registry_close(reg);
}

TEST(fake_mr_publish_and_get)
{
	struct mcx_registry *reg = fake_registry();
	struct mcx_reg_mr mr = {
		.uverbs_fd = 5, .pd_handle = 1, .mr_handle = 2, .lkey = 3, .rkey = 4,
		.access = 0xf, .iova = 0x1000, .length = 8192,
	};
	struct mcx_reg_mr got;

	ASSERT_ERR(mcx_registry_publish_mr(reg, 6, &mr), 0);
	ASSERT_U64_EQ(fk.publish.id, 6);
	ASSERT_EQ(fk.publish.uverbs_fd, 5);
	ASSERT_EQ(fk.publish.pd_handle, 1);
	ASSERT_EQ(fk.publish.mr_handle, 2);
	ASSERT_EQ(fk.publish.lkey, 3);
	ASSERT_EQ(fk.publish.rkey, 4);
	ASSERT_EQ(fk.publish.access, 0xf);
	ASSERT_U64_EQ(fk.publish.iova, 0x1000);
	ASSERT_U64_EQ(fk.publish.length, 8192);
	ASSERT_U64_EQ(mr.mr_id, 8);

	ASSERT_ERR(mcx_registry_get_mr(reg, 6, "rxe0", 0, &got), 0);
	ASSERT_STREQ((const char *)(uintptr_t)fk.get_mr.ibdev, "rxe0");
	ASSERT_EQ(got.uverbs_fd, 12);
	ASSERT_EQ(got.lkey, 0x1111);
	ASSERT_EQ(got.rkey, 0x2222);
	ASSERT_U64_EQ(got.iova, 0x10000);
	ASSERT_U64_EQ(got.mr_id, 3);
	ASSERT_U64_EQ(got.offset, 0x3000);
	ASSERT_EQ(strlen(got.ibdev), MCX_IBDEV_NAME_MAX - 1);
	/* the index-th MR of one device (ABI 3) */
	ASSERT_ERR(mcx_registry_get_mr(reg, 6, "rxe1", 2, &got), 0);
	ASSERT_STREQ((const char *)(uintptr_t)fk.get_mr.ibdev, "rxe1");
	ASSERT_EQ(fk.get_mr.index, 2);
	ASSERT_ERR(mcx_registry_get_mr(reg, 6, NULL, 4, &got), 0);
	ASSERT_U64_EQ(fk.get_mr.ibdev, 0);
	ASSERT_EQ(fk.get_mr.index, 4);
	mcx_registry_close(reg);
}

TEST(fake_info_fields_in_order)
{
	struct mcx_registry *reg = fake_registry();
	struct mcx_reg_info in;

	ASSERT_ERR(mcx_registry_info(reg, &in), 0);
	ASSERT_EQ(in.abi_version, MCXFER_ABI_VERSION);
	ASSERT_EQ(in.linger_ms, 300000);
	ASSERT_U64_EQ(in.max_pinned_bytes, 1000);
	ASSERT_U64_EQ(in.max_entries, 1001);
	ASSERT_U64_EQ(in.user_max_pinned_bytes, 1002);
	ASSERT_U64_EQ(in.user_max_entries, 1003);
	ASSERT_U64_EQ(in.pins, 1004);
	ASSERT_U64_EQ(in.hits, 1005);
	ASSERT_U64_EQ(in.misses, 1006);
	ASSERT_U64_EQ(in.unpins, 1007);
	ASSERT_U64_EQ(in.lookups, 1008);
	ASSERT_U64_EQ(in.evictions, 1009);
	ASSERT_U64_EQ(in.invalidations, 1010);
	ASSERT_U64_EQ(in.bytes_pinned, 1011);
	ASSERT_U64_EQ(in.entries, 1012);
	ASSERT_U64_EQ(in.entries_active, 1013);
	ASSERT_U64_EQ(in.entries_linger, 1014);
	ASSERT_U64_EQ(in.entries_dead, 1015);
	ASSERT_U64_EQ(in.mrs, 1016);
	ASSERT_U64_EQ(in.clients, 1017);
	ASSERT_U64_EQ(in.contexts, 1019);
	mcx_registry_close(reg);
}

/* Walk the whole list; returns how many entries came back. */
static int walk(struct mcx_registry *reg, uint64_t *ids, int max)
{
	struct mcx_reg_cursor *cur = NULL;
	struct mcx_reg_entry e;
	int n = 0, ret;

	while ((ret = mcx_registry_list(reg, &cur, &e)) == 1) {
		char want[80];

		ASSERT_TRUE(n < max);
		ids[n++] = e.id;
		snprintf(want, sizeof(want), "entry/%llu", (unsigned long long)e.id);
		ASSERT_STREQ(e.name, want);
		ASSERT_STREQ(e.exporter, "udmabuf");
		ASSERT_EQ(e.state, MCX_REG_LINGER);
		ASSERT_EQ(e.flags, MCX_PIN_NO_LINGER);
		ASSERT_U64_EQ(e.length, 4096 * e.id);
	}
	ASSERT_ERR(ret, 0);
	ASSERT_TRUE(cur == NULL);
	return n;
}

TEST(fake_list_pages_through_everything)
{
	struct mcx_registry *reg = fake_registry();
	uint64_t got[300];
	int n;

	/* 150 entries with gaps in the ids: three LIST calls of 64. */
	for (int i = 0; i < 150; i++)
		fk.ids[i] = 3 + (uint64_t)i * 2;
	fk.nr_ids = 150;
	n = walk(reg, got, 300);
	ASSERT_EQ(n, 150);
	for (int i = 0; i < n; i++)
		ASSERT_U64_EQ(got[i], fk.ids[i]);
	ASSERT_EQ(fk.list_calls, 3);
	mcx_registry_close(reg);
}

TEST(fake_list_exact_page_and_empty)
{
	struct mcx_registry *reg = fake_registry();
	uint64_t got[300];

	ASSERT_EQ(walk(reg, got, 300), 0);
	ASSERT_EQ(fk.list_calls, 1);
	for (int i = 0; i < 64; i++)
		fk.ids[i] = (uint64_t)i + 1;
	fk.nr_ids = 64;
	fk.list_calls = 0;
	ASSERT_EQ(walk(reg, got, 300), 64);
	ASSERT_EQ(fk.list_calls, 1);
	mcx_registry_close(reg);
}

TEST(fake_list_early_stop_and_restart)
{
	struct mcx_registry *reg = fake_registry();
	struct mcx_reg_cursor *cur = NULL;
	struct mcx_reg_entry e;

	for (int i = 0; i < 100; i++)
		fk.ids[i] = (uint64_t)i + 1;
	fk.nr_ids = 100;
	ASSERT_ERR(mcx_registry_list(reg, &cur, &e), 1);
	ASSERT_U64_EQ(e.id, 1);
	ASSERT_ERR(mcx_registry_list(reg, &cur, &e), 1);
	ASSERT_U64_EQ(e.id, 2);
	ASSERT_TRUE(cur != NULL);
	mcx_reg_cursor_free(cur);
	cur = NULL;
	ASSERT_ERR(mcx_registry_list(reg, &cur, &e), 1);
	ASSERT_U64_EQ(e.id, 1);
	mcx_reg_cursor_free(cur);
	mcx_registry_close(reg);
}

TEST(fake_list_cursor_of_another_handle)
{
	struct mcx_registry *reg = fake_registry(), *other = null_registry();
	struct mcx_reg_cursor *cur = NULL;
	struct mcx_reg_entry e;

	mcx__registry_set_ioctl(other, fake_ioctl);
	for (int i = 0; i < 10; i++)
		fk.ids[i] = (uint64_t)i + 1;
	fk.nr_ids = 10;
	ASSERT_ERR(mcx_registry_list(reg, &cur, &e), 1);
	ASSERT_ERR(mcx_registry_list(other, &cur, &e), -EINVAL);
	ASSERT_TRUE(cur == NULL);
	mcx_registry_close(other);
	mcx_registry_close(reg);
}

TEST(fake_list_broken_answers_are_eproto)
{
	struct mcx_registry *reg = fake_registry();
	struct mcx_reg_cursor *cur = NULL;
	struct mcx_reg_entry e;
	int ret, n = 0;

	for (int i = 0; i < 200; i++)
		fk.ids[i] = (uint64_t)i + 1;
	fk.nr_ids = 200;
	/* A cursor that never advances must not loop forever. */
	fk.list_stuck = 1;
	while ((ret = mcx_registry_list(reg, &cur, &e)) == 1)
		ASSERT_TRUE(++n <= 64);
	ASSERT_ERR(ret, -EPROTO);
	ASSERT_TRUE(cur == NULL);
	fk.list_stuck = 0;
	fk.list_overfill = 1;
	ASSERT_ERR(mcx_registry_list(reg, &cur, &e), -EPROTO);
	ASSERT_TRUE(cur == NULL);
	mcx_registry_close(reg);
}

TEST(fake_list_kernel_error_passed_on)
{
	struct mcx_registry *reg = null_registry();
	struct mcx_reg_cursor *cur = NULL;
	struct mcx_reg_entry e;

	/* /dev/null without the fake: the ioctl itself fails. */
	ASSERT_ERR(mcx_registry_list(reg, &cur, &e), -ENOTTY);
	ASSERT_TRUE(cur == NULL);
	mcx_registry_close(reg);
}

TEST(fake_publish_mr_offset)
{
	struct mcx_registry *reg = fake_registry();
	struct mcx_reg_mr mr;

	memset(&mr, 0, sizeof(mr));
	mr.uverbs_fd = 9;
	mr.length = 8192;
	mr.offset = 0x10000;
	ASSERT_ERR(mcx_registry_publish_mr(reg, 4, &mr), 0);
	ASSERT_U64_EQ(fk.publish.offset, 0x10000);
	ASSERT_U64_EQ(fk.publish.length, 8192);
	ASSERT_U64_EQ(fk.publish.reserved[0], 0);
	ASSERT_U64_EQ(mr.mr_id, 8);
	/* an offset that wraps with the length is refused here */
	mr.offset = UINT64_MAX - 100;
	fk.calls = 0;
	ASSERT_ERR(mcx_registry_publish_mr(reg, 4, &mr), -EOVERFLOW);
	ASSERT_EQ(fk.calls, 0);
	mcx_registry_close(reg);
}

/* Against an ABI 2 module: v2 calls as before, v3 ones never reach it. */
TEST(fake_abi2_module)
{
	struct mcx_registry *reg = fake_registry();
	struct mcx_reg_holder h[2];
	struct mcx_reg_device dev;
	struct mcx_reg_mr mr;
	uint32_t pd;
	int fd = 5;

	mcx__registry_set_abi(reg, 2);
	memset(&mr, 0, sizeof(mr));
	mr.uverbs_fd = 9;
	mr.length = 4096;
	ASSERT_ERR(mcx_registry_publish_mr(reg, 4, &mr), 0);
	ASSERT_U64_EQ(fk.publish.offset, 0);
	mr.offset = 4096;
	ASSERT_ERR(mcx_registry_publish_mr(reg, 4, &mr), -EOPNOTSUPP);
	ASSERT_ERR(mcx_registry_get_mr(reg, 4, "rxe0", 0, &mr), 0);
	ASSERT_ERR(mcx_registry_get_mr(reg, 4, "rxe0", 1, &mr), -EOPNOTSUPP);
	fk.calls = 0;
	ASSERT_ERR(mcx_registry_query_device(reg, "rxe0", &dev), -EOPNOTSUPP);
	ASSERT_ERR(mcx_registry_publish_ctx(reg, 3, 1, NULL), -EOPNOTSUPP);
	ASSERT_ERR(mcx_registry_get_ctx(reg, "rxe0", &fd, &pd, NULL), -EOPNOTSUPP);
	ASSERT_EQ(fd, -1);
	ASSERT_ERR(mcx_registry_holders(reg, 4, h, 2, NULL), -EOPNOTSUPP);
	ASSERT_EQ(fk.calls, 0);
	mcx_registry_close(reg);
}

TEST(fake_query_device)
{
	struct mcx_registry *reg = fake_registry();
	struct mcx_reg_device dev;

	ASSERT_ERR(mcx_registry_query_device(reg, "mlx5_0", &dev), 0);
	ASSERT_U64_EQ(fk.cmd, MCXFER_IOC_QUERY_DEVICE);
	ASSERT_EQ(fk.query.size, sizeof(struct mcxfer_device_info));
	ASSERT_EQ(fk.query.flags, 0);
	ASSERT_STREQ(fk.query_name, "mlx5_0");
	ASSERT_EQ(dev.relaxed_ordering, MCX_REG_RO_ENABLED);
	/* the ABI's node + 1 */
	ASSERT_EQ(dev.numa_node, 1);
	ASSERT_STREQ(dev.pci_name, "0000:3b:00.0");
	fk.calls = 0;
	ASSERT_ERR(mcx_registry_query_device(reg, "a/b", &dev), -EINVAL);
	ASSERT_ERR(mcx_registry_query_device(reg, NULL, &dev), -EINVAL);
	ASSERT_ERR(mcx_registry_query_device(reg, "rxe0", NULL), -EINVAL);
	ASSERT_EQ(fk.calls, 0);
	mcx_registry_close(reg);
}

TEST(fake_ctx_publish_and_get)
{
	struct mcx_registry *reg = fake_registry();
	uint64_t ctx_id = 0;
	uint32_t pd = 0;
	int fd = 0;

	ASSERT_ERR(mcx_registry_publish_ctx(reg, 11, 4, &ctx_id), 0);
	ASSERT_U64_EQ(fk.cmd, MCXFER_IOC_PUBLISH_CTX);
	ASSERT_EQ(fk.ctx.size, sizeof(struct mcxfer_ctx));
	ASSERT_EQ(fk.ctx.uverbs_fd, 11);
	ASSERT_EQ(fk.ctx.pd_handle, 4);
	ASSERT_U64_EQ(fk.ctx.ibdev, 0);
	ASSERT_U64_EQ(ctx_id, 77);
	ASSERT_ERR(mcx_registry_get_ctx(reg, "rxe0", &fd, &pd, &ctx_id), 0);
	ASSERT_U64_EQ(fk.cmd, MCXFER_IOC_GET_CTX);
	ASSERT_STREQ(fk.ctx_name, "rxe0");
	ASSERT_EQ(fk.ctx.uverbs_fd, 0);
	ASSERT_EQ(fk.ctx.pd_handle, 0);
	ASSERT_EQ(fd, 13);
	ASSERT_EQ(pd, 5);
	ASSERT_U64_EQ(ctx_id, 78);
	fk.calls = 0;
	ASSERT_ERR(mcx_registry_publish_ctx(reg, -1, 4, NULL), -EBADF);
	ASSERT_ERR(mcx_registry_get_ctx(reg, "", &fd, &pd, NULL), -EINVAL);
	ASSERT_EQ(fd, -1);
	ASSERT_ERR(mcx_registry_get_ctx(reg, "rxe0", NULL, &pd, NULL), -EINVAL);
	ASSERT_ERR(mcx_registry_get_ctx(reg, "rxe0", &fd, NULL, NULL), -EINVAL);
	ASSERT_EQ(fk.calls, 0);
	mcx_registry_close(reg);
}

TEST(fake_holders)
{
	struct mcx_registry *reg = fake_registry();
	struct mcx_reg_holder h[3];
	size_t total = 0;

	fk.nr_holders = 5;
	ASSERT_EQ(mcx_registry_holders(reg, 9, h, 3, &total), 3);
	ASSERT_U64_EQ(fk.cmd, MCXFER_IOC_LIST_HOLDERS);
	ASSERT_EQ(fk.holders.size, sizeof(struct mcxfer_holders));
	ASSERT_U64_EQ(fk.holders.id, 9);
	ASSERT_EQ(fk.holders.count, 3);
	ASSERT_EQ(total, 5);
	ASSERT_EQ(h[0].pid, 100);
	ASSERT_EQ(h[2].refs, 3);
	ASSERT_EQ(h[1].uid, 1001);
	ASSERT_EQ(h[0].got_mr, 0);
	ASSERT_EQ(h[1].got_mr, 1);
	ASSERT_EQ(strlen(h[1].comm), sizeof(h[1].comm) - 1);
	ASSERT_EQ(h[1].comm[0], 'b');
	/* only the total */
	ASSERT_EQ(mcx_registry_holders(reg, 9, NULL, 0, &total), 0);
	ASSERT_EQ(fk.holders.count, 0);
	ASSERT_U64_EQ(fk.holders.holders, 0);
	/* more records than asked for is a broken answer */
	fk.holders_overfill = 1;
	ASSERT_ERR(mcx_registry_holders(reg, 9, h, 3, &total), -EPROTO);
	fk.calls = 0;
	ASSERT_ERR(mcx_registry_holders(reg, 0, h, 3, &total), -EINVAL);
	ASSERT_ERR(mcx_registry_holders(reg, 9, NULL, 3, &total), -EINVAL);
	ASSERT_EQ(fk.calls, 0);
	mcx_registry_close(reg);
}
