// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Named registrations (lib/mem/named.c) over the fake transport and a fake
 * /dev/mcxfer whose ioctls this file answers: a miss registers chunks x
 * NICs and publishes each MR at its offset; a hit imports and registers
 * nothing; a private context registers its own; every failure leaves no
 * pin, MR or fd behind; registry events kill what used the entry, and the
 * engine's registry option fails clearly when required.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "registry/registry.h"
#include "uapi/linux/mcxfer.h"
#include "fake_tp.h"
#include "mem/cuda.h"
#include "sysfs_tree.h"
#include "util.h"

#define PG	4096ULL
#define ENTRY	77
#define NREC	64

/* The fake kernel: one entry, the MR records published on it. */
static struct {
	int hit;			/* PIN answers hit */
	char pin_ibdev[MCX_IBDEV_NAME_MAX];	/* the last PIN's device, "" for none */
	int pin_err, publish_err;
	int pins, unpins, lookups, publishes;
	uint64_t length;		/* LOOKUP: the entry's length */
	int lookup_fd;			/* LOOKUP: dup'd into the answer */
	struct mcxfer_publish_mr rec[NREC];
	char rec_dev[NREC][MCX_IBDEV_NAME_MAX];
	int nrec;
} fk;

static int fake_ioctl(int fd, unsigned long cmd, void *arg)
{
	(void)fd;
	switch (cmd) {
	case MCXFER_IOC_PIN: {
		struct mcxfer_pin *p = arg;

		if (fk.pin_err)
			return fk.pin_err;
		fk.pins++;
		snprintf(fk.pin_ibdev, sizeof(fk.pin_ibdev), "%s",
			 p->ibdev ? (const char *)(uintptr_t)p->ibdev : "");
		p->id = ENTRY;
		p->out_flags = fk.hit ? MCXFER_PIN_OUT_HIT : 0;
		return 0;
	}
	case MCXFER_IOC_UNPIN:
		fk.unpins++;
		return 0;
	case MCXFER_IOC_LOOKUP: {
		struct mcxfer_lookup *l = arg;

		fk.lookups++;
		l->id = ENTRY;
		l->offset = 0;
		l->length = fk.length;
		l->dmabuf_size = fk.length;
		l->fd = (__u32)dup(fk.lookup_fd);
		l->nr_mrs = (__u32)fk.nrec;
		return 0;
	}
	case MCXFER_IOC_PUBLISH_MR: {
		struct mcxfer_publish_mr *p = arg;

		if (fk.publish_err)
			return fk.publish_err;
		if (fk.nrec == NREC)
			return -ENOSPC;
		p->mr_id = 1000 + (uint64_t)fk.nrec;
		fk.rec[fk.nrec] = *p;
		/* The fake transport's devices: handles are unique per MR, the
		 * test knows which device made which from the order. */
		fk.nrec++;
		fk.publishes++;
		return 0;
	}
	case MCXFER_IOC_GET_MR: {
		struct mcxfer_get_mr *g = arg;
		const char *want = (const char *)(uintptr_t)g->ibdev;
		uint32_t seen = 0;

		for (int i = 0; i < fk.nrec; i++) {
			if (strcmp(fk.rec_dev[i], want))
				continue;
			if (seen++ != g->index)
				continue;
			g->uverbs_fd = (__u32)dup(0);
			g->pd_handle = fk.rec[i].pd_handle;
			g->mr_handle = fk.rec[i].mr_handle;
			g->lkey = fk.rec[i].lkey;
			g->rkey = fk.rec[i].rkey;
			g->access = fk.rec[i].access;
			g->iova = fk.rec[i].iova;
			g->length = fk.rec[i].length;
			g->mr_id = fk.rec[i].mr_id;
			g->offset = fk.rec[i].offset;
			memset(g->ibdev_name, 0, sizeof(g->ibdev_name));
			memcpy(g->ibdev_name, want, strlen(want));
			return 0;
		}
		return -ENOENT;
	}
	default:
		return -ENOTTY;
	}
}

struct fix {
	struct fake_tp tp;
	struct mcx_engine *eng;
	struct mcx_registry *reg;
	int evfd;		/* the kernel's end of the event channel */
	int memfd;
	void *buf;
	uint64_t len;
};

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ASSERT_TRUE(d != NULL);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

/* An engine of nics fake NICs, chunk bytes per chunk, a fake registry. */
static void setup(struct fix *f, uint32_t nics, uint64_t chunk, uint64_t len, uint32_t share)
{
	int sv[2];

	memset(&fk, 0, sizeof(fk));
	memset(f, 0, sizeof(*f));
	f->eng = calloc(1, sizeof(*f->eng));
	ASSERT_TRUE(f->eng != NULL);
	mcx__opts_defaults(&f->eng->opts);
	fake_tp_setup(&f->tp, &f->eng->devs, nics);
	fake_tp_share(&f->tp, &f->eng->devs, share);
	ASSERT_ERR(mcx__memspace_init(&f->eng->mem, &f->eng->devs, chunk, 2), 0);
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	ASSERT_ERR(mcx__registry_from_fd(sv[0], &f->reg), 0);
	mcx__registry_set_ioctl(f->reg, fake_ioctl);
	f->evfd = sv[1];
	f->eng->mem.reg = f->reg;
	f->len = len;
	f->memfd = memfd_create("named-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ASSERT_TRUE(f->memfd >= 0);
	ASSERT_EQ(ftruncate(f->memfd, (off_t)len), 0);
	fk.length = len;
	fk.lookup_fd = f->memfd;
}

static void teardown(struct fix *f)
{
	mcx__memspace_fini(&f->eng->mem);
	fake_tp_teardown(&f->tp, &f->eng->devs);
	mcx_registry_close(f->reg);
	close(f->evfd);
	close(f->memfd);
	free(f->eng);
}

/* The fake transport names its devices fake0..: record which made what. */
static void tag_records(uint32_t nics)
{
	/* publish_all walks chunk-major, device-minor. */
	for (int i = 0; i < fk.nrec; i++)
		snprintf(fk.rec_dev[i], sizeof(fk.rec_dev[i]), "fake%u", (unsigned)(i % nics));
}

static struct mcx_mem_named_req dmabuf_req(struct fix *f)
{
	return (struct mcx_mem_named_req){
		.name = "kv/gpu0", .src = MCX_NAMED_DMABUF, .fd = f->memfd,
		.len = f->len, .iova = 0x7000000, .flags = MCX_MEM_EXPORT,
	};
}

TEST(named_miss_registers_chunks_and_publishes_each_at_its_offset)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL;
	struct mcx_mem_info mi;

	setup(&f, 2, 4 * PG, 10 * PG, MCX_TP_SHARE_PUBLISHED);
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	ASSERT_EQ(fk.pins, 1);
	/* 3 chunks (4, 4, 2 pages) x 2 NICs, each registered and published. */
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), 6);
	ASSERT_EQ(fk.publishes, 6);
	for (int i = 0; i < 6; i++) {
		uint64_t off = (uint64_t)(i / 2) * 4 * PG;

		ASSERT_U64_EQ(fk.rec[i].offset, off);
		ASSERT_U64_EQ(fk.rec[i].iova, 0x7000000 + off);
		ASSERT_U64_EQ(fk.rec[i].length, i / 2 == 2 ? 2 * PG : 4 * PG);
		ASSERT_EQ(fk.rec[i].id, ENTRY);
	}
	ASSERT_ERR(mcx_mem_query(m, &mi), 0);
	ASSERT_EQ(mi.named, 1);
	ASSERT_EQ(mi.warm, 0);
	ASSERT_U64_EQ(mi.registry_id, ENTRY);
	ASSERT_U64_EQ(mi.iova, 0x7000000);
	ASSERT_U64_EQ(atomic_load(&f.eng->mem.named_misses), 1);
	ASSERT_U64_EQ(atomic_load(&f.eng->mem.reg_mr_calls), 6);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	/* Published MRs outlive us: let go of, never deregistered. */
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_deregs), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_letgo), 6);
	ASSERT_EQ(fk.unpins, 1);
	teardown(&f);
}

TEST(named_hit_imports_the_published_mrs_and_registers_nothing)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL;
	struct mcx_mem_info mi;

	setup(&f, 2, 4 * PG, 10 * PG, MCX_TP_SHARE_PUBLISHED);
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	tag_records(2);

	/* The next engine: its own chunk size does not matter. */
	mcx__memspace_fini(&f.eng->mem);
	ASSERT_ERR(mcx__memspace_init(&f.eng->mem, &f.eng->devs, 1ULL << 30, 2), 0);
	f.eng->mem.reg = f.reg;
	fk.hit = 1;
	req.iova = 0x9000000;	/* another iova: the MRs' one is what counts */
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), 6);	/* none more */
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_imports), 6);
	ASSERT_U64_EQ(atomic_load(&f.eng->mem.reg_mr_calls), 0);
	ASSERT_U64_EQ(atomic_load(&f.eng->mem.mr_imports), 6);
	ASSERT_U64_EQ(atomic_load(&f.eng->mem.named_hits), 1);
	ASSERT_ERR(mcx_mem_query(m, &mi), 0);
	ASSERT_EQ(mi.warm, 1);
	ASSERT_U64_EQ(mi.chunk_size, 4 * PG);
	ASSERT_EQ(mi.nr_chunks, 3);
	ASSERT_U64_EQ(mi.iova, 0x7000000);
	ASSERT_U64_EQ(mi.addr, 0x9000000);
	/* Posting translates into the MRs' space. */
	ASSERT_U64_EQ(mcx__mem_iova_of(m, 0x9000000 + 5 * PG), 0x7000000 + 5 * PG);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	teardown(&f);
}

TEST(named_hit_with_records_that_do_not_tile_registers_its_own)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL;

	setup(&f, 2, 4 * PG, 10 * PG, MCX_TP_SHARE_PUBLISHED);
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	tag_records(2);
	/* A hole: chunk 1 of fake0 claims another offset. */
	fk.rec[2].offset += PG;
	fk.hit = 1;
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_imports), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), 12);
	ASSERT_EQ(fk.publishes, 6);	/* records of a hit are not doubled */
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	teardown(&f);
}

TEST(named_private_context_registers_and_publishes_nothing)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL;

	setup(&f, 2, 4 * PG, 8 * PG, MCX_TP_SHARE_PRIVATE);
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), 4);
	ASSERT_EQ(fk.publishes, 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_handles), 0);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_deregs), 4);
	teardown(&f);
}

TEST(named_open_maps_and_imports_or_registers_lazily)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL, *o = NULL;
	struct mcx_mem_info mi;

	setup(&f, 2, 4 * PG, 8 * PG, MCX_TP_SHARE_PUBLISHED);
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	tag_records(2);
	ASSERT_ERR(mcx__mem_open_named(&f.eng->mem, "kv/gpu0", MCX_UID_SELF, MCX_MEM_EXPORT, &o),
		   0);
	ASSERT_ERR(mcx_mem_query(o, &mi), 0);
	ASSERT_EQ(mi.warm, 1);
	ASSERT_EQ(mi.dmabuf, 0);	/* mapped: named by its address here */
	ASSERT_TRUE(mi.addr != 0 && mi.addr != mi.iova);
	ASSERT_U64_EQ(mi.iova, 0x7000000);
	/* The mapping is the memory: what we write there is in the memfd. */
	memcpy((void *)(uintptr_t)mi.addr, "warm", 4);
	{
		char b[4];

		ASSERT_EQ(pread(f.memfd, b, 4, 0), 4);
		ASSERT_TRUE(!memcmp(b, "warm", 4));
	}
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_imports), 4);
	ASSERT_ERR(mcx_mem_deregister(o), 0);

	/* A device that cannot share: its own MRs, counted as lazy. */
	fake_tp_share(&f.tp, &f.eng->devs, MCX_TP_SHARE_PRIVATE);
	ASSERT_ERR(mcx__mem_open_named(&f.eng->mem, "kv/gpu0", MCX_UID_SELF, 0, &o), 0);
	ASSERT_ERR(mcx_mem_query(o, &mi), 0);
	ASSERT_EQ(mi.warm, 0);
	ASSERT_U64_EQ(mi.iova, mi.addr);
	ASSERT_U64_EQ(atomic_load(&f.eng->mem.lazy_regs), 4);
	ASSERT_ERR(mcx_mem_deregister(o), 0);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	ASSERT_EQ(fk.unpins, 3);
	teardown(&f);
}

/*
 * An opened entry whose mapping reg_mr refuses (a PFN mapping: udmabuf on
 * 6.12, vgem) used to fail with the EFAULT of the mapping: its dma-buf is
 * registered instead, at the mapping's address; where the devices take no
 * dma-buf MRs either, the open fails with EOPNOTSUPP and leaves nothing.
 */
TEST(named_open_of_an_unregistrable_mapping_registers_the_dmabuf)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL, *o = NULL;
	struct mcx_mem_info mi;
	int fds;

	setup(&f, 2, 4 * PG, 8 * PG, MCX_TP_SHARE_PRIVATE);
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_dmabuf), 4);

	f.tp.host_reg_err = -EFAULT;
	ASSERT_ERR(mcx__mem_open_named(&f.eng->mem, "kv/gpu0", MCX_UID_SELF, MCX_MEM_EXPORT, &o),
		   0);
	ASSERT_ERR(mcx_mem_query(o, &mi), 0);
	ASSERT_EQ(mi.dmabuf, 1);
	ASSERT_TRUE(mi.addr != 0);
	ASSERT_U64_EQ(mi.iova, mi.addr);	/* MRs at the mapping's address */
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_dmabuf), 8);
	ASSERT_U64_EQ(atomic_load(&f.eng->mem.lazy_regs), 4);
	ASSERT_ERR(mcx_mem_deregister(o), 0);

	/* Neither way (soft-RoCE): a clear failure that leaves nothing. */
	f.tp.dmabuf_reg_err = -EOPNOTSUPP;
	fds = open_fds();
	ASSERT_ERR(mcx__mem_open_named(&f.eng->mem, "kv/gpu0", MCX_UID_SELF, MCX_MEM_EXPORT, &o),
		   -EOPNOTSUPP);
	ASSERT_TRUE(o == NULL);
	ASSERT_EQ(open_fds(), fds);
	ASSERT_EQ(fk.unpins, 2);	/* the first open's and this one's */
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), fake_tp_get(&f.tp, &f.tp.mr_deregs) + 4);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	teardown(&f);
}

TEST(named_failures_leave_no_pin_mr_or_fd)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = (struct mcx_mem *)1;
	int fds;

	setup(&f, 2, 4 * PG, 8 * PG, MCX_TP_SHARE_PUBLISHED);
	req = dmabuf_req(&f);
	fds = open_fds();

	/* The registry refuses: nothing pinned, our dup closed. */
	fk.pin_err = -EDQUOT;
	log_capture();
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EDQUOT);
	ASSERT_TRUE(m == NULL);
	ASSERT_CONTAINS(captured_log, "kv/gpu0");
	ASSERT_EQ(open_fds(), fds);
	fk.pin_err = 0;

	/* The third MR fails: the two made are deregistered, the pin dropped. */
	f.tp.mr_reg_fail_at = 3;
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EIO);
	ASSERT_EQ(fk.pins, 1);
	ASSERT_EQ(fk.unpins, 1);
	ASSERT_EQ(fk.publishes, 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), fake_tp_get(&f.tp, &f.tp.mr_deregs));
	ASSERT_EQ(open_fds(), fds);
	ASSERT_EQ(mcx__regcache_list(&f.eng->mem.cache, NULL, 0), 0);

	/* An import failing half way lets go of what it imported and
	 * registers instead. */
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	tag_records(2);
	fk.hit = 1;
	f.tp.mr_import_fail_at = 3;
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_imports), 2);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	ASSERT_EQ(fk.pins, 3);
	ASSERT_EQ(fk.unpins, 3);
	ASSERT_EQ(open_fds(), fds);

	/* Bad requests fail before the registry is asked. */
	req.name = "/bad";
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EINVAL);
	req = dmabuf_req(&f);
	req.flags = 0x100;
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EINVAL);
	req = dmabuf_req(&f);
	req.src = MCX_NAMED_MEMFD;	/* needs an address */
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EINVAL);
	ASSERT_EQ(fk.pins, 3);

	/* Without the registry: -ENODEV. */
	f.eng->mem.reg = NULL;
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -ENODEV);
	ASSERT_ERR(mcx__mem_open_named(&f.eng->mem, "kv/gpu0", MCX_UID_SELF, 0, &m), -ENODEV);
	f.eng->mem.reg = f.reg;
	teardown(&f);
}

TEST(named_memfd_address_must_map_the_memfd)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL;
	void *other;

	setup(&f, 1, 4 * PG, 4 * PG, MCX_TP_SHARE_PUBLISHED);
	other = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(other != MAP_FAILED);
	req = (struct mcx_mem_named_req){
		.name = "cache/cpu", .src = MCX_NAMED_MEMFD, .fd = f.memfd,
		.len = 4 * PG, .addr = other,
	};
	/* MRs on this address would be published as the memfd's. */
	log_capture();
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EINVAL);
	ASSERT_CONTAINS(captured_log, "not a shared mapping");
	ASSERT_EQ(fk.pins, 0);
	munmap(other, 4 * PG);
	teardown(&f);
}

TEST(named_events_kill_the_memory_and_fail_requests_with_eidrm)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL, *o = NULL, *list[4];
	struct mcx_reg_event ev = { .type = MCX_REG_EVENT_REVOKED, .id = ENTRY };
	struct mcx_mem_info mi;

	setup(&f, 2, 4 * PG, 8 * PG, MCX_TP_SHARE_PUBLISHED);
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	tag_records(2);
	ASSERT_ERR(mcx__mem_open_named(&f.eng->mem, "kv/gpu0", MCX_UID_SELF, MCX_MEM_EXPORT, &o),
		   0);
	ASSERT_EQ(mcx__mem_list_exported(&f.eng->mem, list, 4), 2);
	mcx__mem_put(list[0]);
	mcx__mem_put(list[1]);

	/* Another entry's event changes nothing. */
	ev.id = ENTRY + 1;
	ASSERT_EQ(mcx__mem_registry_event(&f.eng->mem, &ev), 0);
	ev.id = ENTRY;
	log_capture();
	ASSERT_EQ(mcx__mem_registry_event(&f.eng->mem, &ev), 2);
	ASSERT_CONTAINS(captured_log, "revoked");
	ASSERT_ERR(mcx_mem_query(o, &mi), 0);
	ASSERT_EQ(mi.dead, 1);
	ASSERT_ERR(mcx__mem_usable(o), -EIDRM);
	ASSERT_ERR(mcx__mem_usable(m), -EIDRM);
	/* Not advertised, and every MR in the shared context destroyed. */
	ASSERT_EQ(mcx__mem_list_exported(&f.eng->mem, list, 4), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_destroys), 8);
	/* Idempotent: a second event destroys nothing twice. */
	ASSERT_EQ(mcx__mem_registry_event(&f.eng->mem, &ev), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_destroys), 8);
	ASSERT_ERR(mcx_mem_deregister(o), 0);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	ASSERT_EQ(fk.unpins, 2);
	teardown(&f);
}

TEST(named_ctx_mr_dropped_kills_only_its_user)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL;

	setup(&f, 2, 4 * PG, 8 * PG, MCX_TP_SHARE_PUBLISHED);
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	/* A handle nobody here uses: the caller destroys it by handle. */
	ASSERT_EQ(mcx__mem_ctx_mr_dropped(&f.eng->mem, 0, 9999), 0);
	ASSERT_EQ(atomic_load(&m->dead), false);
	ASSERT_EQ(mcx__mem_ctx_mr_dropped(&f.eng->mem, 1, fk.rec[1].mr_handle), 1);
	ASSERT_EQ(atomic_load(&m->dead), true);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	teardown(&f);
}

TEST(engine_registry_required_fails_with_a_named_error)
{
	struct mcx_engine_opts o;
	struct mcx_engine *eng = (struct mcx_engine *)1;

	mcx_engine_opts_init(&o);
	o.registry = MCX_REGISTRY_REQUIRED;
	setenv("MCX_REGISTRY_DEV", "/nonexistent/mcxfer", 1);
	log_capture();
	ASSERT_ERR(mcx__engine_create_with(&o, &fake_tp_ops, &eng), -ENODEV);
	unsetenv("MCX_REGISTRY_DEV");
	ASSERT_TRUE(eng == NULL);
	ASSERT_CONTAINS(captured_log, "registry=required");
	ASSERT_CONTAINS(captured_log, "not loaded");

	/* The environment says the same, by its name. */
	mcx_engine_opts_init(&o);
	setenv("MCX_REGISTRY", "required", 1);
	setenv("MCX_REGISTRY_DEV", "/nonexistent/mcxfer", 1);
	log_capture();
	ASSERT_ERR(mcx__engine_create_with(&o, &fake_tp_ops, &eng), -ENODEV);
	ASSERT_CONTAINS(captured_log, "registry=required");
	unsetenv("MCX_REGISTRY");
	unsetenv("MCX_REGISTRY_DEV");
}

/* Every slot's desc (what a local post passes) is set: 1, none: 0, some: -1. */
static int descs_set(const struct mcx_mem *m)
{
	size_t n = (size_t)m->nr_chunks * m->nr_nics, set = 0;

	for (size_t i = 0; i < n; i++)
		set += m->mrs[i].desc != NULL;
	return set == n ? 1 : set == 0 ? 0 : -1;
}

TEST(named_open_on_a_joined_context_serves_then_registers_on_first_local_use)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL, *o = NULL;
	uint32_t regs;

	setup(&f, 2, 4 * PG, 8 * PG, MCX_TP_SHARE_PUBLISHED);
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	tag_records(2);
	/* The next engine joined the shared context without import. */
	fake_tp_share(&f.tp, &f.eng->devs, MCX_TP_SHARE_TARGET);
	regs = fake_tp_get(&f.tp, &f.tp.mr_regs);
	ASSERT_ERR(mcx__mem_open_named(&f.eng->mem, "kv/gpu0", MCX_UID_SELF, MCX_MEM_EXPORT, &o),
		   0);
	/* Served as it is: the published rkeys, nothing registered. */
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), regs);
	ASSERT_EQ(descs_set(o), 0);
	ASSERT_TRUE(o->mrs[0].rkey != 0);
	ASSERT_U64_EQ(atomic_load(&f.eng->mem.lazy_regs), 0);
	/* The first local use registers every chunk x NIC, local access only,
	 * at the addresses the imported MRs answer to. */
	ASSERT_ERR(mcx__mem_local_ready(o), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), regs + 4);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_local), 4);
	ASSERT_U64_EQ(atomic_load(&f.eng->mem.lazy_regs), 4);
	ASSERT_EQ(descs_set(o), 1);
	ASSERT_TRUE(o->addr != o->iova);
	ASSERT_TRUE(f.tp.last_iova >= o->iova && f.tp.last_iova < o->iova + o->len);
	/* Once. */
	ASSERT_ERR(mcx__mem_local_ready(o), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), regs + 4);
	/* Deregistering lets the imported MRs go and deregisters the private ones. */
	ASSERT_ERR(mcx_mem_deregister(o), 0);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_deregs), 4);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	teardown(&f);
}

TEST(named_lazy_registration_failure_fails_requests_and_logs_once)
{
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL, *o = NULL;
	const char *why = "registering it for this process's own transfers failed";
	uint32_t regs, deregs;

	setup(&f, 2, 4 * PG, 8 * PG, MCX_TP_SHARE_PUBLISHED);
	req = dmabuf_req(&f);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	tag_records(2);
	fake_tp_share(&f.tp, &f.eng->devs, MCX_TP_SHARE_TARGET);
	ASSERT_ERR(mcx__mem_open_named(&f.eng->mem, "kv/gpu0", MCX_UID_SELF, MCX_MEM_EXPORT, &o),
		   0);
	regs = fake_tp_get(&f.tp, &f.tp.mr_regs);
	deregs = fake_tp_get(&f.tp, &f.tp.mr_deregs);
	log_capture();
	f.tp.mr_reg_fail_at = 3;	/* two made, the third refused */
	ASSERT_ERR(mcx__mem_local_ready(o), -EIO);
	ASSERT_TRUE(strstr(captured_log, why) != NULL);
	/* What was made is undone; nothing counted as lazily registered. */
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs) - regs,
		  fake_tp_get(&f.tp, &f.tp.mr_deregs) - deregs);
	ASSERT_U64_EQ(atomic_load(&f.eng->mem.lazy_regs), 0);
	ASSERT_EQ(descs_set(o), 0);
	/* The next request fails the same way, without trying or logging again. */
	regs = fake_tp_get(&f.tp, &f.tp.mr_regs);
	log_capture();
	ASSERT_ERR(mcx__mem_local_ready(o), -EIO);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), regs);
	ASSERT_TRUE(strstr(captured_log, why) == NULL);
	/* Peers are still served: the imported MRs are untouched. */
	ASSERT_TRUE(o->mrs[0].mr != NULL && o->mrs[0].rkey != 0);
	ASSERT_ERR(mcx_mem_deregister(o), 0);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	teardown(&f);
}

/* ---- CUDA memory under a name (MCX_NAMED_CUDA) ---- */

#define FAKE_CUDA_LIB MCX_FAKE_CUDA_DIR "/libfakecuda.so"

static void (*fc_add)(unsigned long long, unsigned long long, int, int, int, unsigned long long,
		      void *);
static void (*fc_set)(int, int);
static int (*fc_count)(const char *);
static char cuda_ctx;

/* The fake driver, loaded as an application that uses CUDA would have. */
static void load_fake_cuda(void)
{
	void *h = dlopen(FAKE_CUDA_LIB, RTLD_NOW | RTLD_GLOBAL);

	ASSERT_TRUE(h != NULL);
	mcx__cuda_set_library(FAKE_CUDA_LIB);
	*(void **)&fc_add = dlsym(h, "fake_cuda_add");
	*(void **)&fc_set = dlsym(h, "fake_cuda_set");
	*(void **)&fc_count = dlsym(h, "fake_cuda_count");
	ASSERT_TRUE(fc_add && fc_set && fc_count);
}

static struct mcx_mem_named_req cuda_req(void *dev, size_t len)
{
	return (struct mcx_mem_named_req){
		.name = "kv/gpu0", .src = MCX_NAMED_CUDA, .fd = -1, .addr = dev, .len = len,
		.flags = MCX_MEM_EXPORT,
	};
}

/*
 * GPU memory under a name: exported once as a dma-buf, pinned for the NIC
 * nearest its GPU (the exporter maps only for a PCI peer), registered as
 * dma-buf MRs on that NIC only, each published at its offset with the
 * device address as iova.  Another engine opens it without a mapping
 * (device memory) and imports exactly those MRs: the devices without
 * records are not a reason to register it again, and its transfers
 * address it by iova.
 */
TEST(named_cuda_exports_pins_for_the_nearest_nic_and_opens_without_mapping)
{
	const char *root = tree_make();
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL, *o = NULL;
	struct mcx_mem_info mi;
	void *dev = NULL;
	int fds, evfd;

	setup(&f, 3, 4 * PG, 10 * PG, MCX_TP_SHARE_PUBLISHED);
	f.eng->mem.sysfs = root;
	load_fake_cuda();
	ASSERT_EQ(posix_memalign(&dev, 1 << 21, 2 << 20), 0);
	fc_add((uintptr_t)dev, 2 << 20, MCX_CU_MEMORYTYPE_DEVICE, 0, 0, 41, &cuda_ctx);
	fds = open_fds();
	req = cuda_req(dev, 10 * PG);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), 0);
	ASSERT_EQ(fc_count("export"), 1);
	ASSERT_EQ(fk.pins, 1);
	ASSERT_TRUE(!strcmp(fk.pin_ibdev, "fake0"));	/* GPU 0's switch (sysfs_tree.h) */
	ASSERT_EQ(m->kind, MCX_MEM_CUDA_DEV);
	ASSERT_EQ(m->nics, 1u);
	/* 3 chunks on fake0 only, dma-buf MRs, each published. */
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), 3);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_dmabuf), 3);
	ASSERT_EQ(fk.publishes, 3);
	for (int i = 0; i < 3; i++) {
		ASSERT_U64_EQ(fk.rec[i].offset, (uint64_t)i * 4 * PG);
		ASSERT_U64_EQ(fk.rec[i].iova, (uintptr_t)dev + (uint64_t)i * 4 * PG);
		snprintf(fk.rec_dev[i], sizeof(fk.rec_dev[i]), "fake0");
	}
	ASSERT_ERR(mcx_mem_query(m, &mi), 0);
	ASSERT_U64_EQ(mi.addr, (uintptr_t)dev);
	ASSERT_EQ(mi.named, 1);

	/* The other engine: the entry's dma-buf does not map (an eventfd
	 * stands for the GPU's dma-buf). */
	evfd = eventfd(0, EFD_CLOEXEC);
	ASSERT_TRUE(evfd >= 0);
	fk.lookup_fd = evfd;
	ASSERT_ERR(mcx__mem_open_named(&f.eng->mem, "kv/gpu0", MCX_UID_SELF, MCX_MEM_EXPORT, &o),
		   0);
	ASSERT_ERR(mcx_mem_query(o, &mi), 0);
	ASSERT_EQ(mi.warm, 1);
	ASSERT_EQ(mi.dmabuf, 1);		/* no mapping: addressed by iova */
	ASSERT_U64_EQ(mi.iova, (uintptr_t)dev);
	ASSERT_EQ(o->nics, 1u);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_imports), 3);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), 3);	/* none more */
	ASSERT_TRUE(mcx__mem_mr(o, 0, 0)->mr && !mcx__mem_mr(o, 0, 1)->mr &&
		    !mcx__mem_mr(o, 2, 2)->mr);
	ASSERT_ERR(mcx_mem_deregister(o), 0);
	ASSERT_ERR(mcx_mem_deregister(m), 0);
	close(evfd);
	/* The exported dma-buf and every fd of the registry went, once. */
	ASSERT_EQ(open_fds(), fds);
	ASSERT_EQ(fk.unpins, 2);
	teardown(&f);
	tree_remove(root);
	free(dev);
}

/*
 * What cannot be named as GPU memory fails before anything is pinned, and
 * a failure after the export (the module refuses the pin) leaves no fd.
 */
TEST(named_cuda_errors_leave_nothing)
{
	const char *root = tree_make();
	struct fix f;
	struct mcx_mem_named_req req;
	struct mcx_mem *m = NULL;
	static char host[4 * PG] __attribute__((aligned(4096)));
	void *dev = NULL;
	int fds;

	setup(&f, 2, 4 * PG, 8 * PG, MCX_TP_SHARE_PUBLISHED);
	f.eng->mem.sysfs = root;
	load_fake_cuda();
	ASSERT_EQ(posix_memalign(&dev, 1 << 21, 2 << 20), 0);
	fc_add((uintptr_t)dev, 2 << 20, MCX_CU_MEMORYTYPE_DEVICE, 0, 0, 42, &cuda_ctx);
	fds = open_fds();
	log_capture();
	/* An fd, an offset or an iova: the library exports the dma-buf itself. */
	req = cuda_req(dev, 8 * PG);
	req.fd = f.memfd;
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EINVAL);
	req = cuda_req(dev, 8 * PG);
	req.iova = 0x1000;
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EINVAL);
	/* Host memory is not GPU memory; past the allocation is not either. */
	req = cuda_req(host, sizeof(host));
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EINVAL);
	ASSERT_CONTAINS(captured_log, "not CUDA device memory");
	req = cuda_req((char *)dev + (2 << 20) - PG, 2 * PG);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EINVAL);
	/* No dma-buf export: no peermem fallback under a name. */
	fc_set(MCX_CU_ERROR_NOT_SUPPORTED, 1);
	req = cuda_req(dev, 8 * PG);
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EOPNOTSUPP);
	ASSERT_CONTAINS(captured_log, "nvidia-peermem");
	fc_set(0, 1);
	ASSERT_EQ(fk.pins, 0);
	/* The module refuses to map it for that device. */
	fk.pin_err = -EOPNOTSUPP;
	ASSERT_ERR(mcx__mem_register_named(&f.eng->mem, &req, &m), -EOPNOTSUPP);
	ASSERT_CONTAINS(captured_log, "for fake0");
	ASSERT_TRUE(m == NULL);
	ASSERT_EQ(fake_tp_get(&f.tp, &f.tp.mr_regs), 0);
	ASSERT_EQ(open_fds(), fds);
	teardown(&f);
	tree_remove(root);
	free(dev);
}
