// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The registry's positive flows through /dev/mcxfer: hits across fds and
 * processes, names, exported fds, access by uid/gid and share mode,
 * references dropped at exit (also SIGKILL), linger and its expiry, caps,
 * LIST paging and EVICT permissions.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "mcx_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Memory shared with forked children, for what they find out. */
struct shared {
	uint64_t id;
	uint64_t id2;
	uint32_t out_flags;
	int ready;
};

static struct shared *shared_new(void)
{
	struct shared *s = mmap(NULL, MCX_PAGE, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	REQUIRE(s != MAP_FAILED);
	memset(s, 0, sizeof(*s));
	return s;
}

static int open_dev(void)
{
	int fd = mcx_open();

	REQUIREF(fd >= 0, "open %s: %s", MCX_DEV, mt_errname(-fd));
	return fd;
}

static void info_now(struct mcxfer_info *info)
{
	REQUIRE_OK(mcx_info_global(info));
}

static int same_file(int fd1, int fd2)
{
	pid_t me = getpid();

	return (int)syscall(SYS_kcmp, me, me, KCMP_FILE, fd1, fd2);
}

/* exp_name of a dma-buf fd, from /proc/self/fdinfo. 0 or -errno. */
static int exp_name_of(int fd, char *out, size_t len)
{
	char path[64], line[256];
	int ret = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "exp_name:", 9)) {
			char *v = line + 9;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, len, "%s", v);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* Entry refs/holders/state as LIST reports them; REQUIREs that it exists. */
static struct mcxfer_entry_info entry_of(int fd, uint64_t id)
{
	const struct mcxfer_entry_info *e = mcx_list_find(fd, id);

	REQUIREF(e, "entry %llu not listed", (unsigned long long)id);
	return *e;
}

/* ------------------------------------------------------------------ hits */

static void t_pin_hit_same_fd(void)
{
	struct mcxfer_info before, after;
	struct mcxfer_entry_info e;
	struct host_dmabuf buf;
	uint64_t id, id2;
	uint32_t of = 99;
	int fd;

	mcx_dmabuf(4 * MCX_PAGE, &buf);
	fd = open_dev();
	info_now(&before);
	REQUIRE_OK(mcx_pin(fd, buf.fd, MCX_PAGE, 2 * MCX_PAGE, NULL, 0, 0, &id, &of));
	CHECK(id != 0);
	CHECK_EQ(of, 0);
	REQUIRE_OK(mcx_pin(fd, buf.fd, MCX_PAGE, 2 * MCX_PAGE, NULL, 0, 0, &id2, &of));
	CHECK_EQ(id2, id);
	CHECK_EQ(of, MCXFER_PIN_OUT_HIT);
	info_now(&after);
	CHECK_EQ(after.pins - before.pins, 2);
	CHECK_EQ(after.misses - before.misses, 1);
	CHECK_EQ(after.hits - before.hits, 1);
	CHECK_EQ(after.entries, 1);
	CHECK_EQ(after.entries_active, 1);
	/* The exporter pins the whole buffer, whatever range the entry names. */
	CHECK_EQ(after.bytes_pinned, 4 * MCX_PAGE);
	CHECK_EQ(after.attachments, 1);
	e = entry_of(fd, id);
	CHECK_EQ(e.refs, 2);
	CHECK_EQ(e.holders, 1);
	CHECK_EQ(e.hits, 1);
	CHECK_EQ(e.offset, MCX_PAGE);
	CHECK_EQ(e.length, 2 * MCX_PAGE);
	CHECK_EQ(e.dmabuf_size, 4 * MCX_PAGE);
	CHECK_EQ(e.state, MCXFER_STATE_ACTIVE);
	{
		/* The dma-buf's own exporter name (vgem buffers say "drm"). */
		char exp[MCXFER_EXPORTER_MAX];

		REQUIRE_OK(exp_name_of(buf.fd, exp, sizeof(exp)));
		CHECKF(!strcmp((char *)e.exporter, exp), "exporter \"%.32s\", fdinfo says \"%s\"",
		       (char *)e.exporter, exp);
	}
	CHECK_EQ(e.idle_ms, 0);
	CHECK_EQ(e.pinned_bytes, 4 * MCX_PAGE);
	CHECK_EQ(e.charged_uid, getuid());

	/* Another range of the same buffer is another entry, on the same attachment. */
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id2, &of));
	CHECK(id2 != id);
	CHECK_EQ(of, 0);
	info_now(&after);
	CHECK_EQ(after.bytes_pinned, 4 * MCX_PAGE);
	CHECK_EQ(after.attachments, 1);
	CHECK_OK(mcx_unpin(fd, id2));
	CHECK_OK(mcx_unpin(fd, id));
	CHECK_OK(mcx_unpin(fd, id));
	info_now(&after);
	CHECK_EQ(after.unpins - before.unpins, 3);
	CHECK_EQ(after.entries_active, 0);
	CHECK_EQ(after.entries_linger, 2);
	close(fd);
	host_dmabuf_destroy(&buf);
}

static void t_pin_hit_other_fd(void)
{
	struct host_dmabuf buf;
	uint64_t id, id2;
	uint32_t of;
	int fd, fd2, dup_buf;

	mcx_dmabuf(2 * MCX_PAGE, &buf);
	fd = open_dev();
	fd2 = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, 2 * MCX_PAGE, NULL, 0, 0, &id, &of));
	CHECK_EQ(of, 0);
	/* Another fd, and another fd number of the same dma-buf. */
	dup_buf = dup(buf.fd);
	REQUIRE(dup_buf >= 0);
	REQUIRE_OK(mcx_pin(fd2, dup_buf, 0, 2 * MCX_PAGE, NULL, 0, 0, &id2, &of));
	CHECK_EQ(id2, id);
	CHECK_EQ(of, MCXFER_PIN_OUT_HIT);
	CHECK_EQ(entry_of(fd, id).holders, 2);
	CHECK_EQ(entry_of(fd, id).refs, 2);
	/* Closing one client drops exactly its reference. */
	close(fd2);
	CHECK_EQ(entry_of(fd, id).holders, 1);
	CHECK_EQ(entry_of(fd, id).refs, 1);
	CHECK_EQ(entry_of(fd, id).state, MCXFER_STATE_ACTIVE);
	CHECK_OK(mcx_unpin(fd, id));
	close(dup_buf);
	close(fd);
	host_dmabuf_destroy(&buf);
}

struct hit_child_arg {
	struct shared *sh;
	int buf_fd;
};

static void hit_child(void *p)
{
	struct hit_child_arg *a = p;
	int fd = open_dev();

	CHECK_OK(mcx_pin(fd, a->buf_fd, 0, MCX_PAGE, NULL, 0, 0, &a->sh->id2,
			 &a->sh->out_flags));
	CHECK_EQ(entry_of(fd, a->sh->id2).holders, 2);
	CHECK_OK(mcx_unpin(fd, a->sh->id2));
	close(fd);
}

static void t_pin_hit_fork(void)
{
	struct shared *sh = shared_new();
	struct hit_child_arg a = { .sh = sh };
	struct mcxfer_info before, after;
	struct host_dmabuf buf;
	int fd;

	mcx_dmabuf(MCX_PAGE, &buf);
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &sh->id, NULL));
	info_now(&before);
	a.buf_fd = buf.fd;
	mt_wait(mt_fork(hit_child, &a), "hit_child");
	CHECK_EQ(sh->id2, sh->id);
	CHECK_EQ(sh->out_flags, MCXFER_PIN_OUT_HIT);
	info_now(&after);
	CHECK_EQ(after.hits - before.hits, 1);
	CHECK_EQ(after.misses - before.misses, 0);
	CHECK_EQ(entry_of(fd, sh->id).refs, 1);
	CHECK_OK(mcx_unpin(fd, sh->id));
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* ----------------------------------------------------- names and exports */

struct lookup_child_arg {
	struct shared *sh;
	int parent_buf_fd;	/* inherited: the same file as the parent's */
	size_t size;
};

static void lookup_child(void *p)
{
	struct lookup_child_arg *a = p;
	struct mcxfer_lookup l;
	struct stat st1, st2;
	uint64_t id;
	uint32_t of;
	int fd = open_dev(), flags;

	/* Plain lookup by name: the entry, no reference, no fd. */
	REQUIRE_OK(mcx_lookup_name(fd, "flows/kv0", 0, &l));
	CHECK_EQ(l.id, a->sh->id);
	CHECK_EQ(l.offset, 0);
	CHECK_EQ(l.length, a->size);
	CHECK_EQ(l.dmabuf_size, a->size);
	CHECK_EQ(l.state, MCXFER_STATE_ACTIVE);
	CHECK_EQ(l.fd, 0);
	CHECK_EQ(entry_of(fd, l.id).refs, 1);

	/* EXPORT_FD: a new fd of the very same dma-buf file. */
	REQUIRE_OK(mcx_lookup_name(fd, "flows/kv0", MCXFER_LOOKUP_EXPORT_FD | MCXFER_LOOKUP_REF,
				   &l));
	CHECK(l.fd > 2 && l.fd != (uint32_t)a->parent_buf_fd);
	CHECK(fstat((int)l.fd, &st1) == 0 && fstat(a->parent_buf_fd, &st2) == 0);
	CHECK_EQ(st1.st_ino, st2.st_ino);
	CHECK_EQ(st1.st_dev, st2.st_dev);
	CHECK_EQ(same_file((int)l.fd, a->parent_buf_fd), 0);
	flags = fcntl((int)l.fd, F_GETFD);
	CHECK(flags >= 0 && (flags & FD_CLOEXEC));
	CHECK_EQ(entry_of(fd, l.id).refs, 2);
	CHECK_EQ(entry_of(fd, l.id).holders, 2);

	/* Pinning the exported fd is a hit on the same entry. */
	REQUIRE_OK(mcx_pin(fd, (int)l.fd, 0, a->size, "flows/kv0", 0, 0, &id, &of));
	CHECK_EQ(id, a->sh->id);
	CHECK_EQ(of, MCXFER_PIN_OUT_HIT);
	/* ...but not under another name: it has one already. */
	CHECK_ERR(mcx_pin(fd, (int)l.fd, 0, a->size, "flows/other", 0, 0, &id, &of), EEXIST);
	CHECK_OK(mcx_unpin(fd, a->sh->id));
	CHECK_OK(mcx_unpin(fd, a->sh->id));
	CHECK_ERR(mcx_unpin(fd, a->sh->id), ENOENT);
	close((int)l.fd);

	/* By id works as well. */
	CHECK_OK(mcx_lookup_id(fd, a->sh->id, 0, &l));
	CHECK_EQ(l.length, a->size);
	close(fd);
}

static void t_lookup_other_process(void)
{
	struct shared *sh = shared_new();
	struct lookup_child_arg a = { .sh = sh, .size = 2 * MCX_PAGE };
	struct mcxfer_info before, after;
	struct host_dmabuf buf, buf2;
	uint64_t id;
	int fd;

	mcx_dmabuf(2 * MCX_PAGE, &buf);
	mcx_dmabuf(MCX_PAGE, &buf2);
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, 2 * MCX_PAGE, "flows/kv0", 0, 0, &sh->id, NULL));
	/* The name is taken: another buffer cannot have it. */
	CHECK_ERR(mcx_pin(fd, buf2.fd, 0, MCX_PAGE, "flows/kv0", 0, 0, &id, NULL), EEXIST);
	info_now(&before);
	a.parent_buf_fd = buf.fd;
	mt_wait(mt_fork(lookup_child, &a), "lookup_child");
	info_now(&after);
	CHECK(after.lookups - before.lookups >= 3);
	CHECK_EQ(entry_of(fd, sh->id).refs, 1);
	CHECK_OK(mcx_unpin(fd, sh->id));
	/* A lingering entry is still found by name, and a REF makes it active. */
	{
		struct mcxfer_lookup l;

		REQUIRE_OK(mcx_lookup_name(fd, "flows/kv0", 0, &l));
		CHECK_EQ(l.state, MCXFER_STATE_LINGER);
		REQUIRE_OK(mcx_lookup_name(fd, "flows/kv0", MCXFER_LOOKUP_REF, &l));
		CHECK_EQ(entry_of(fd, sh->id).state, MCXFER_STATE_ACTIVE);
		CHECK_OK(mcx_unpin(fd, sh->id));
	}
	close(fd);
	host_dmabuf_destroy(&buf2);
	host_dmabuf_destroy(&buf);
}

/* A hit may name an unnamed entry; a named one keeps its name. */
static void t_name_on_hit(void)
{
	struct host_dmabuf buf;
	struct mcxfer_lookup l;
	uint64_t id, id2;
	uint32_t of;
	int fd;

	mcx_dmabuf(2 * MCX_PAGE, &buf);
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));
	CHECK_ERR(mcx_lookup_name(fd, "flows/late", 0, &l), ENOENT);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, "flows/late", 0, 0, &id2, &of));
	CHECK_EQ(id2, id);
	CHECK_EQ(of, MCXFER_PIN_OUT_HIT);
	REQUIRE_OK(mcx_lookup_name(fd, "flows/late", 0, &l));
	CHECK_EQ(l.id, id);
	CHECK(!strcmp((char *)entry_of(fd, id).name, "flows/late"));
	/* Its name is fixed now; another one on a hit is refused. */
	CHECK_ERR(mcx_pin(fd, buf.fd, 0, MCX_PAGE, "flows/other", 0, 0, &id2, &of), EEXIST);
	/* And a name in use cannot go to another entry, even on its own hit. */
	REQUIRE_OK(mcx_pin(fd, buf.fd, MCX_PAGE, MCX_PAGE, NULL, 0, 0, &id2, NULL));
	CHECK_ERR(mcx_pin(fd, buf.fd, MCX_PAGE, MCX_PAGE, "flows/late", 0, 0, &id2, &of), EEXIST);
	CHECK_EQ(entry_of(fd, id).refs, 2);
	CHECK_EQ(entry_of(fd, id2).refs, 1);
	CHECK_OK(mcx_unpin(fd, id2));
	CHECK_OK(mcx_unpin(fd, id));
	CHECK_OK(mcx_unpin(fd, id));
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* ---------------------------------------------------------------- access */

struct access_arg {
	struct shared *sh;
	uid_t uid;
	gid_t gid;
	int buf_fd;
	const char *name;
	uint32_t share;
	bool expect_visible;
};

/* As uid/gid: create a named entry that lingers after we exit. */
static void access_creator(void *p)
{
	struct access_arg *a = p;
	int fd;

	REQUIRE_OK(mcx_become(a->uid, a->gid));
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, a->buf_fd, 0, MCX_PAGE, a->name, a->share, 0, &a->sh->id, NULL));
	close(fd);
}

/*
 * As uid/gid: look the entry up by its owner's name and by id, list it,
 * export it (it covers its whole buffer).
 */
static void access_viewer(void *p)
{
	struct access_arg *a = p;
	struct mcxfer_entry_info *all;
	struct mcxfer_lookup l;
	bool listed = false;
	size_t n;
	int fd;

	REQUIRE_OK(mcx_become(a->uid, a->gid));
	fd = open_dev();
	/* Names are the owner's: a plain lookup searches only the caller's own. */
	if (a->uid == MCX_UID_A)
		CHECK_OK(mcx_lookup_name(fd, a->name, 0, &l));
	else
		CHECK_ERR(mcx_lookup_name(fd, a->name, 0, &l), ENOENT);
	if (a->expect_visible) {
		REQUIRE_OK(mcx_lookup_owner(fd, a->name, MCX_UID_A, MCXFER_LOOKUP_EXPORT_FD, &l));
		CHECK_EQ(l.id, a->sh->id);
		CHECK_EQ(l.share, a->share);
		CHECK_EQ(l.owner_uid, MCX_UID_A);
		CHECK_EQ(l.owner_gid, MCX_GID_AB);
		CHECK(l.fd > 2);
		close((int)l.fd);
		CHECK_OK(mcx_lookup_id(fd, a->sh->id, MCXFER_LOOKUP_REF, &l));
		CHECK_OK(mcx_unpin(fd, a->sh->id));
	} else {
		CHECK_ERR(mcx_lookup_owner(fd, a->name, MCX_UID_A, 0, &l), ENOENT);
		CHECK_ERR(mcx_lookup_owner(fd, a->name, MCX_UID_A, MCXFER_LOOKUP_EXPORT_FD, &l),
			  ENOENT);
		CHECK_ERR(mcx_lookup_id(fd, a->sh->id, 0, &l), ENOENT);
		CHECK_ERR(mcx_lookup_id(fd, a->sh->id, MCXFER_LOOKUP_REF, &l), ENOENT);
		/* Not its entry to evict, and it cannot even see it. */
		CHECK_ERR(mcx_evict(fd, a->sh->id, 0, NULL), ENOENT);
	}
	REQUIRE_OK(mcx_list_all(fd, 8, &all, &n));
	for (size_t i = 0; i < n; i++)
		listed |= all[i].id == a->sh->id;
	free(all);
	CHECK_EQ(listed, a->expect_visible);
	close(fd);
}

static void access_case(int buf_fd, uint32_t share, const char *name,
			bool b_sees, bool c_sees)
{
	struct access_arg a = {
		.sh = shared_new(), .uid = MCX_UID_A, .gid = MCX_GID_AB,
		.buf_fd = buf_fd, .name = name, .share = share,
	};
	struct access_arg b = a, c = a;
	int fd = open_dev();

	mt_log("share %u: group member sees it: %d, others: %d", share, b_sees, c_sees);
	REQUIRE(mt_wait(mt_fork(access_creator, &a), "creator"));
	/* Root (CAP_SYS_ADMIN) is not "everybody": only the owner and share decide. */
	b.uid = MCX_UID_B;
	b.expect_visible = b_sees;
	c.uid = MCX_UID_C;
	c.gid = MCX_GID_C;
	c.expect_visible = c_sees;
	mt_wait(mt_fork(access_viewer, &b), "group member");
	mt_wait(mt_fork(access_viewer, &c), "other");
	/* The owner sees it, of course. */
	a.expect_visible = true;
	mt_wait(mt_fork(access_viewer, &a), "owner");
	/* Whatever its share mode, CAP_SYS_ADMIN may evict it. */
	CHECK_OK(mcx_evict(fd, a.sh->id, 0, NULL));
	close(fd);
}

static void t_access_share_modes(void)
{
	struct host_dmabuf buf;

	mcx_dmabuf(MCX_PAGE, &buf);
	REQUIRE_OK(mcx_dev_open_to_all());
	access_case(buf.fd, MCXFER_SHARE_OWNER, "flows/owner", false, false);
	access_case(buf.fd, MCXFER_SHARE_GROUP, "flows/group", true, false);
	access_case(buf.fd, MCXFER_SHARE_ALL, "flows/all", true, true);
	host_dmabuf_destroy(&buf);
}

/* Holding the dma-buf is proof enough: pinning another uid's range is a hit. */
static void pin_other_uid_child(void *p)
{
	struct access_arg *a = p;
	uint32_t of = 0;
	uint64_t id;
	int fd;

	REQUIRE_OK(mcx_become(MCX_UID_C, MCX_GID_C));
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, a->buf_fd, 0, MCX_PAGE, NULL, 0, 0, &id, &of));
	CHECK_EQ(id, a->sh->id);
	CHECK_EQ(of, MCXFER_PIN_OUT_HIT);
	/* Naming publishes the entry: that is the owner's decision. */
	CHECK_ERR(mcx_pin(fd, a->buf_fd, 0, MCX_PAGE, "flows/not-mine", 0, 0, &id, &of), EPERM);
	/* A reference is no permission to evict. */
	CHECK_ERR(mcx_evict(fd, id, 0, NULL), ENOENT);
	/* Nor to list it: it is the owner's alone. */
	CHECK(mcx_list_find(fd, id) == NULL);
	/* But a holder may look up what it holds, by id, and only while it holds it. */
	{
		struct mcxfer_lookup l;

		CHECK_OK(mcx_lookup_id(fd, id, 0, &l));
		CHECK_EQ(l.owner_uid, 0);
		CHECK_OK(mcx_unpin(fd, id));
		CHECK_ERR(mcx_lookup_id(fd, id, 0, &l), ENOENT);
		CHECK_ERR(mcx_lookup_id(fd, id, MCXFER_LOOKUP_REF, &l), ENOENT);
	}
	CHECK_ERR(mcx_unpin(fd, id), ENOENT);
	close(fd);
}

static void t_access_pin_hit_other_uid(void)
{
	struct access_arg a = { .sh = shared_new() };
	struct host_dmabuf buf;
	int fd;

	mcx_dmabuf(MCX_PAGE, &buf);
	REQUIRE_OK(mcx_dev_open_to_all());
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &a.sh->id, NULL));
	a.buf_fd = buf.fd;
	mt_wait(mt_fork(pin_other_uid_child, &a), "other uid");
	CHECK_EQ(entry_of(fd, a.sh->id).refs, 1);
	CHECK_OK(mcx_unpin(fd, a.sh->id));
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* ---------------------------------------------------------- process exit */

struct exit_arg {
	struct shared *sh;
	int buf_fd;
	int ready_fd;
	int go_fd;		/* EOF on it: exit now */
	int go_wr;		/* the parent's end, closed in the child */
	bool hang;
};

static void exit_child(void *p)
{
	struct exit_arg *a = p;
	int fd = open_dev(), fd2 = open_dev();

	REQUIRE_OK(mcx_pin(fd, a->buf_fd, 0, MCX_PAGE, NULL, 0, 0, &a->sh->id, NULL));
	REQUIRE_OK(mcx_pin(fd, a->buf_fd, 0, MCX_PAGE, NULL, 0, 0, &a->sh->id, NULL));
	REQUIRE_OK(mcx_pin(fd2, a->buf_fd, MCX_PAGE, MCX_PAGE, "flows/exit", 0, 0,
			   &a->sh->id2, NULL));
	CHECK_EQ(write(a->ready_fd, "x", 1), 1);
	if (a->hang)
		for (;;)
			pause();
	/* Exit without closing or unpinning anything, once the parent looked. */
	{
		char c;

		close(a->go_wr);
		while (read(a->go_fd, &c, 1) > 0)
			;
	}
}

static void exit_case(bool kill_it)
{
	struct exit_arg a = { .sh = shared_new(), .hang = kill_it };
	struct mcxfer_entry_info e;
	struct mcxfer_info info;
	struct host_dmabuf buf;
	int pfd[2], gofd[2], fd, st;
	pid_t pid;
	char c;

	mcx_dmabuf(2 * MCX_PAGE, &buf);
	REQUIRE(pipe(pfd) == 0 && pipe(gofd) == 0);
	a.buf_fd = buf.fd;
	a.ready_fd = pfd[1];
	a.go_fd = gofd[0];
	a.go_wr = gofd[1];
	pid = mt_fork(exit_child, &a);
	close(gofd[0]);
	REQUIRE(read(pfd[0], &c, 1) == 1);
	info_now(&info);
	CHECK_EQ(info.entries_active, 2);
	CHECK(info.clients >= 3);
	if (kill_it) {
		CHECK(kill(pid, SIGKILL) == 0);
		REQUIRE(waitpid(pid, &st, 0) == pid);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	} else {
		close(gofd[1]);
		mt_wait(pid, "exit_child");
	}
	info_now(&info);
	CHECK_EQ(info.entries, 2);
	CHECK_EQ(info.entries_active, 0);
	CHECK_EQ(info.entries_linger, 2);
	/* Two ranges of one 2-page buffer: one attachment, the buffer charged once. */
	CHECK_EQ(info.bytes_pinned, 2 * MCX_PAGE);
	CHECK_EQ(info.attachments, 1);
	CHECK_EQ(info.clients, 1);
	fd = open_dev();
	e = entry_of(fd, a.sh->id);
	CHECK_EQ(e.state, MCXFER_STATE_LINGER);
	CHECK_EQ(e.refs, 0);
	CHECK_EQ(e.holders, 0);
	e = entry_of(fd, a.sh->id2);
	CHECK_EQ(e.state, MCXFER_STATE_LINGER);
	CHECK(!strcmp((char *)e.name, "flows/exit"));
	/* idle_ms starts counting at the last drop. */
	mcx_msleep(50);
	CHECK(entry_of(fd, a.sh->id).idle_ms >= 40);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
	if (kill_it)
		close(gofd[1]);
	host_dmabuf_destroy(&buf);
}

static void t_exit_drops_refs(void)
{
	exit_case(false);
}

static void t_sigkill_drops_refs(void)
{
	exit_case(true);
}

/* ---------------------------------------------------------------- linger */

static int no_entries(void *arg)
{
	struct mcxfer_info info;

	(void)arg;
	return mcx_info_global(&info) == 0 && info.entries == 0;
}

static void t_linger_expiry(void)
{
	struct mcxfer_info before, after;
	struct host_dmabuf buf;
	uint64_t id, id2;
	uint32_t of;
	int fd;

	mcx_dmabuf(MCX_PAGE, &buf);
	REQUIRE_OK(mcx_param_set("linger_ms", 1500));
	fd = open_dev();
	REQUIRE_OK(mcx_info(fd, &before));
	CHECK_EQ(before.linger_ms, 1500);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, "flows/linger", 0, 0, &id, NULL));
	CHECK_OK(mcx_unpin(fd, id));
	/* Warm: a re-pin within linger_ms is a hit on the same entry. */
	CHECK_EQ(entry_of(fd, id).state, MCXFER_STATE_LINGER);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id2, &of));
	CHECK_EQ(id2, id);
	CHECK_EQ(of, MCXFER_PIN_OUT_HIT);
	CHECK_EQ(entry_of(fd, id).idle_ms, 0);
	CHECK_OK(mcx_unpin(fd, id));
	/* Then it expires on its own and counts as an eviction. */
	CHECK_OK(mcx_wait_until(no_entries, NULL, 15000));
	REQUIRE_OK(mcx_info(fd, &after));
	CHECK_EQ(after.evictions - before.evictions, 1);
	CHECK(mcx_list_find(fd, id) == NULL);
	{
		struct mcxfer_lookup l;

		CHECK_ERR(mcx_lookup_name(fd, "flows/linger", 0, &l), ENOENT);
	}
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* A shorter linger_ms applies to entries already lingering. */
static void t_linger_param_change(void)
{
	struct host_dmabuf buf;
	uint64_t id;
	int fd;

	mcx_dmabuf(MCX_PAGE, &buf);
	REQUIRE_OK(mcx_param_set("linger_ms", 600000));
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));
	CHECK_OK(mcx_unpin(fd, id));
	mcx_msleep(300);
	CHECK_EQ(entry_of(fd, id).state, MCXFER_STATE_LINGER);
	REQUIRE_OK(mcx_param_set("linger_ms", 100));
	CHECK_OK(mcx_wait_until(no_entries, NULL, 15000));
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* NO_LINGER and linger_ms = 0: gone at the last unpin. */
static void t_no_linger(void)
{
	struct mcxfer_info info;
	struct host_dmabuf buf;
	uint64_t id;
	int fd;

	mcx_dmabuf(MCX_PAGE, &buf);
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, MCXFER_PIN_NO_LINGER, &id, NULL));
	CHECK_EQ(entry_of(fd, id).flags, MCXFER_PIN_NO_LINGER);
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));
	CHECK_OK(mcx_unpin(fd, id));
	CHECK_EQ(entry_of(fd, id).state, MCXFER_STATE_ACTIVE);
	CHECK_OK(mcx_unpin(fd, id));
	REQUIRE_OK(mcx_info(fd, &info));
	CHECK_EQ(info.entries, 0);
	CHECK_EQ(info.bytes_pinned, 0);

	REQUIRE_OK(mcx_param_set("linger_ms", 0));
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));
	CHECK_OK(mcx_unpin(fd, id));
	REQUIRE_OK(mcx_info(fd, &info));
	CHECK_EQ(info.entries, 0);
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* ------------------------------------------------------------------ caps */

/*
 * Fill a cap with active entries, check the errno, then let one entry go
 * idle and check that the next pin evicts it and succeeds.  Each entry is
 * a one-page buffer of its own: a byte cap counts whole dma-bufs.
 */
static void cap_case(const char *param, unsigned long long limit, int err)
{
	struct mcxfer_info before, after;
	struct host_dmabuf buf[3], big;
	uint64_t ids[3], id;
	int fd;

	mt_log("%s = %llu, expect %s", param, limit, mt_errname(err));
	for (size_t i = 0; i < MT_ARRAY_SIZE(buf); i++)
		mcx_dmabuf(MCX_PAGE, &buf[i]);
	mcx_dmabuf(3 * MCX_PAGE, &big);
	REQUIRE_OK(mcx_param_set(param, limit));
	fd = open_dev();
	REQUIRE_OK(mcx_info(fd, &before));
	REQUIRE_OK(mcx_pin(fd, buf[0].fd, 0, MCX_PAGE, NULL, 0, 0, &ids[0], NULL));
	REQUIRE_OK(mcx_pin(fd, buf[1].fd, 0, MCX_PAGE, NULL, 0, 0, &ids[1], NULL));
	/* Only active entries: refused, and nothing evicted. */
	CHECK_ERR(mcx_pin(fd, buf[2].fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL), err);
	/* A hit needs no room. */
	CHECK_OK(mcx_pin(fd, buf[0].fd, 0, MCX_PAGE, NULL, 0, 0, &id, NULL));
	CHECK_OK(mcx_unpin(fd, id));
	REQUIRE_OK(mcx_info(fd, &after));
	CHECK_EQ(after.entries, 2);
	CHECK_EQ(after.evictions, before.evictions);
	/* One idle entry: it makes room. */
	CHECK_OK(mcx_unpin(fd, ids[0]));
	REQUIRE_OK(mcx_pin(fd, buf[2].fd, 0, MCX_PAGE, NULL, 0, 0, &ids[2], NULL));
	REQUIRE_OK(mcx_info(fd, &after));
	CHECK_EQ(after.entries, 2);
	CHECK_EQ(after.evictions - before.evictions, 1);
	CHECK(mcx_list_find(fd, ids[0]) == NULL);
	CHECK(mcx_list_find(fd, ids[1]) != NULL);
	CHECK_OK(mcx_unpin(fd, ids[1]));
	CHECK_OK(mcx_unpin(fd, ids[2]));
	/* More than the cap alone can never fit, even one byte of it. */
	if (strstr(param, "bytes"))
		CHECK_ERR(mcx_pin(fd, big.fd, 0, 1, NULL, 0, 0, &id, NULL), err);
	close(fd);
	host_dmabuf_destroy(&big);
	for (size_t i = 0; i < MT_ARRAY_SIZE(buf); i++)
		host_dmabuf_destroy(&buf[i]);
}

static void t_cap_max_entries(void)
{
	cap_case("max_entries", 2, ENOSPC);
}

static void t_cap_max_bytes(void)
{
	cap_case("max_pinned_bytes", 2 * MCX_PAGE, ENOSPC);
}

static void t_cap_user_entries(void)
{
	cap_case("user_max_entries", 2, EDQUOT);
}

static void t_cap_user_bytes(void)
{
	cap_case("user_max_pinned_bytes", 2 * MCX_PAGE, EDQUOT);
}

/* Per-user caps count per uid, and evict the user's own idle entries first. */
struct user_cap_arg {
	struct shared *sh;
	int buf_fd;
};

static void user_cap_child(void *p)
{
	struct user_cap_arg *a = p;
	int fd;

	REQUIRE_OK(mcx_become(MCX_UID_A, MCX_GID_AB));
	fd = open_dev();
	/* Root is at its cap; this uid is not. */
	REQUIRE_OK(mcx_pin(fd, a->buf_fd, 2 * MCX_PAGE, MCX_PAGE, NULL, 0, 0, &a->sh->id, NULL));
	close(fd);
}

static void t_cap_user_is_per_uid(void)
{
	struct user_cap_arg a = { .sh = shared_new() };
	struct host_dmabuf buf;
	uint64_t mine, mine2;
	int fd;

	mcx_dmabuf(4 * MCX_PAGE, &buf);
	REQUIRE_OK(mcx_dev_open_to_all());
	REQUIRE_OK(mcx_param_set("user_max_entries", 1));
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 0, MCX_PAGE, NULL, 0, 0, &mine, NULL));
	a.buf_fd = buf.fd;
	REQUIRE(mt_wait(mt_fork(user_cap_child, &a), "uid A"));
	/* uid A's entry lingers now; root's is active: root is refused... */
	CHECK_ERR(mcx_pin(fd, buf.fd, MCX_PAGE, MCX_PAGE, NULL, 0, 0, &mine2, NULL), EDQUOT);
	/* ...and uid A's idle entry was not taken to make room for root. */
	CHECK(mcx_list_find(fd, a.sh->id) != NULL);
	/* Root's own idle entry is. */
	CHECK_OK(mcx_unpin(fd, mine));
	CHECK_OK(mcx_pin(fd, buf.fd, MCX_PAGE, MCX_PAGE, NULL, 0, 0, &mine2, NULL));
	CHECK(mcx_list_find(fd, mine) == NULL);
	CHECK(mcx_list_find(fd, a.sh->id) != NULL);
	CHECK_OK(mcx_unpin(fd, mine2));
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* ------------------------------------------------------------------ LIST */

#define LIST_ENTRIES 1030

static void t_list_paging(void)
{
	uint64_t *ids, last = 0, cursor = 0;
	struct mcxfer_entry_info page[7];
	struct host_dmabuf buf;
	unsigned char *seen;
	size_t total = 0, calls = 0;
	int fd;

	mcx_dmabuf(LIST_ENTRIES * MCX_PAGE, &buf);
	/* More entries than the default caps allow. */
	REQUIRE_OK(mcx_param_set("max_entries", 0));
	REQUIRE_OK(mcx_param_set("user_max_entries", 0));
	REQUIRE_OK(mcx_param_set("max_pinned_bytes", 0));
	REQUIRE_OK(mcx_param_set("user_max_pinned_bytes", 0));
	fd = open_dev();
	ids = calloc(LIST_ENTRIES, sizeof(*ids));
	REQUIRE(ids);
	for (size_t i = 0; i < LIST_ENTRIES; i++) {
		char name[32];

		snprintf(name, sizeof(name), "flows/list/%zu", i);
		REQUIRE_OK(mcx_pin(fd, buf.fd, i * MCX_PAGE, MCX_PAGE, i % 2 ? name : NULL, 0, 0,
				   &ids[i], NULL));
		if (i)
			REQUIRE(ids[i] > ids[i - 1]);
	}
	seen = calloc(LIST_ENTRIES, 1);
	REQUIRE(seen);
	do {
		struct mcxfer_list l = {
			.size = sizeof(l),
			.cursor = cursor,
			.entries = (uintptr_t)page,
			.entry_size = sizeof(page[0]),
			.count = MT_ARRAY_SIZE(page),
		};

		REQUIRE_OK(mcx_ioctl(fd, MCXFER_IOC_LIST, &l));
		REQUIRE(l.count <= MT_ARRAY_SIZE(page));
		calls++;
		for (uint32_t k = 0; k < l.count; k++) {
			uint64_t id = page[k].id;
			size_t idx;

			REQUIREF(id > last, "id %llu after %llu", (unsigned long long)id,
				 (unsigned long long)last);
			REQUIREF(id >= cursor, "id %llu below the cursor %llu",
				 (unsigned long long)id, (unsigned long long)cursor);
			last = id;
			/* ids were handed out in order; map back through the table. */
			for (idx = 0; idx < LIST_ENTRIES && ids[idx] != id; idx++)
				;
			REQUIREF(idx < LIST_ENTRIES, "unknown id %llu", (unsigned long long)id);
			REQUIRE(!seen[idx]);
			seen[idx] = 1;
			CHECK_EQ(page[k].offset, idx * MCX_PAGE);
			total++;
		}
		/* A full page until the end; then the cursor is 0. */
		if (l.cursor)
			CHECK(l.cursor > last);
		else
			CHECK(total == LIST_ENTRIES);
		cursor = l.cursor;
		REQUIRE(calls < 2 * LIST_ENTRIES);
	} while (cursor);
	CHECK_EQ(total, LIST_ENTRIES);
	CHECK(calls >= LIST_ENTRIES / MT_ARRAY_SIZE(page));
	free(seen);
	/* Closing drops them all to linger; evict them in one call. */
	close(fd);
	{
		struct mcxfer_info info;
		long long n;

		info_now(&info);
		CHECK_EQ(info.entries_linger, LIST_ENTRIES);
		n = mcx_evict_all_idle();
		CHECK_EQ(n, LIST_ENTRIES);
	}
	free(ids);
	host_dmabuf_destroy(&buf);
}

/* ----------------------------------------------------------------- EVICT */

struct evict_arg {
	struct shared *sh;
	int buf_fd;
	uid_t uid;
	gid_t gid;
};

static void evict_make(void *p)
{
	struct evict_arg *a = p;
	int fd;

	REQUIRE_OK(mcx_become(a->uid, a->gid));
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, a->buf_fd, 0, MCX_PAGE, NULL, MCXFER_SHARE_ALL, 0, &a->sh->id, NULL));
	REQUIRE_OK(mcx_pin(fd, a->buf_fd, MCX_PAGE, MCX_PAGE, NULL, MCXFER_SHARE_OWNER, 0,
			   &a->sh->id2, NULL));
	close(fd);
}

static void evict_other(void *p)
{
	struct evict_arg *a = p;
	uint64_t n = 77;
	int fd;

	REQUIRE_OK(mcx_become(MCX_UID_C, MCX_GID_C));
	fd = open_dev();
	/* Visible (share ALL) but not ours: EPERM; invisible: ENOENT. */
	CHECK_ERR(mcx_evict(fd, a->sh->id, 0, &n), EPERM);
	CHECK_ERR(mcx_evict(fd, a->sh->id2, 0, &n), ENOENT);
	/* --idle only takes what we may evict: nothing. */
	CHECK_OK(mcx_evict(fd, 0, MCXFER_EVICT_IDLE, &n));
	CHECK_EQ(n, 0);
	close(fd);
}

static void evict_owner(void *p)
{
	struct evict_arg *a = p;
	uint64_t n = 77;
	int fd;

	REQUIRE_OK(mcx_become(MCX_UID_A, MCX_GID_AB));
	fd = open_dev();
	CHECK_OK(mcx_evict(fd, a->sh->id, 0, &n));
	CHECK_EQ(n, 1);
	/* --idle takes the owner's remaining idle entry, not root's. */
	CHECK_OK(mcx_evict(fd, 0, MCXFER_EVICT_IDLE, &n));
	CHECK_EQ(n, 1);
	close(fd);
}

static void t_evict_permissions(void)
{
	struct evict_arg a = { .sh = shared_new(), .uid = MCX_UID_A, .gid = MCX_GID_AB };
	struct host_dmabuf buf;
	uint64_t root_idle, root_active, n;
	int fd;

	mcx_dmabuf(4 * MCX_PAGE, &buf);
	REQUIRE_OK(mcx_dev_open_to_all());
	fd = open_dev();
	REQUIRE_OK(mcx_pin(fd, buf.fd, 2 * MCX_PAGE, MCX_PAGE, NULL, MCXFER_SHARE_ALL, 0,
			   &root_idle, NULL));
	CHECK_OK(mcx_unpin(fd, root_idle));
	REQUIRE_OK(mcx_pin(fd, buf.fd, 3 * MCX_PAGE, MCX_PAGE, NULL, MCXFER_SHARE_ALL, 0,
			   &root_active, NULL));
	a.buf_fd = buf.fd;
	REQUIRE(mt_wait(mt_fork(evict_make, &a), "maker"));
	mt_wait(mt_fork(evict_other, &a), "other uid");
	CHECK(mcx_list_find(fd, a.sh->id) != NULL);
	CHECK(mcx_list_find(fd, a.sh->id2) != NULL);
	mt_wait(mt_fork(evict_owner, &a), "owner");
	CHECK(mcx_list_find(fd, a.sh->id) == NULL);
	CHECK(mcx_list_find(fd, a.sh->id2) == NULL);
	CHECK(mcx_list_find(fd, root_idle) != NULL);
	/* Root: an active entry is busy; --idle leaves it alone. */
	CHECK_ERR(mcx_evict(fd, root_active, 0, &n), EBUSY);
	CHECK_OK(mcx_evict(fd, 0, MCXFER_EVICT_IDLE, &n));
	CHECK_EQ(n, 1);
	CHECK(mcx_list_find(fd, root_idle) == NULL);
	CHECK_EQ(entry_of(fd, root_active).state, MCXFER_STATE_ACTIVE);
	CHECK_OK(mcx_unpin(fd, root_active));
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* Admin may evict any uid's idle entry. */
static void t_evict_admin(void)
{
	struct evict_arg a = { .sh = shared_new(), .uid = MCX_UID_B, .gid = MCX_GID_AB };
	struct host_dmabuf buf;
	uint64_t n = 0;
	int fd;

	mcx_dmabuf(2 * MCX_PAGE, &buf);
	REQUIRE_OK(mcx_dev_open_to_all());
	a.buf_fd = buf.fd;
	REQUIRE(mt_wait(mt_fork(evict_make, &a), "maker"));
	fd = open_dev();
	CHECK_OK(mcx_evict(fd, a.sh->id2, 0, &n));
	CHECK_EQ(n, 1);
	CHECK_OK(mcx_evict(fd, a.sh->id, 0, &n));
	close(fd);
	host_dmabuf_destroy(&buf);
}

/* ------------------------------------------------------------ parameters */

static int read_ull(const char *path, unsigned long long *v)
{
	FILE *f = fopen(path, "re");
	int ret;

	if (!f)
		return -errno;
	ret = fscanf(f, "%llu", v) == 1 ? 0 : -EINVAL;
	fclose(f);
	return ret;
}

/* The parameters show in GET_INFO and sysfs; junk is refused and changes nothing. */
static void t_params(void)
{
	static const char *const caps[] = {
		"max_pinned_bytes", "max_entries", "user_max_pinned_bytes", "user_max_entries",
	};
	struct mcxfer_info info;
	unsigned long long v;
	char path[128];

	for (size_t i = 0; i < MT_ARRAY_SIZE(caps); i++) {
		unsigned long long want = 1000000 + i;

		REQUIRE_OK(mcx_param_set(caps[i], want));
		CHECK_OK(mcx_param_get(caps[i], &v));
		CHECK_EQ(v, want);
		snprintf(path, sizeof(path), "/sys/class/misc/mcxfer/limits/%s", caps[i]);
		if (CHECK_OK(read_ull(path, &v)))
			CHECK_EQ(v, want);
		{
			char p2[128];
			int fd;

			snprintf(p2, sizeof(p2), MCX_PARAMS "/%s", caps[i]);
			fd = open(p2, O_WRONLY);
			REQUIRE(fd >= 0);
			CHECKF(write(fd, "lots\n", 5) < 0 && errno == EINVAL, "%s took \"lots\"",
			       caps[i]);
			CHECKF(write(fd, "-1\n", 3) < 0 && errno == EINVAL, "%s took -1", caps[i]);
			close(fd);
		}
		CHECK_OK(mcx_param_get(caps[i], &v));
		CHECK_EQ(v, want);
	}
	REQUIRE_OK(mcx_param_set("linger_ms", 4321));
	REQUIRE_OK(mcx_info_global(&info));
	CHECK_EQ(info.max_pinned_bytes, 1000000);
	CHECK_EQ(info.max_entries, 1000001);
	CHECK_EQ(info.user_max_pinned_bytes, 1000002);
	CHECK_EQ(info.user_max_entries, 1000003);
	CHECK_EQ(info.linger_ms, 4321);
	/* sysfs counters agree with GET_INFO. */
	if (CHECK_OK(read_ull("/sys/class/misc/mcxfer/stats/pins", &v)))
		CHECK_EQ(v, info.pins);
	if (CHECK_OK(read_ull("/sys/class/misc/mcxfer/stats/clients", &v)))
		CHECK_EQ(v, 0);
}

/* ----------------------------------------------------------------- stats */

static void t_stats_clients(void)
{
	struct mcxfer_info before, after;
	int fds[5];

	info_now(&before);
	for (size_t i = 0; i < MT_ARRAY_SIZE(fds); i++)
		fds[i] = open_dev();
	info_now(&after);
	CHECK_EQ(after.clients - before.clients, MT_ARRAY_SIZE(fds));
	for (size_t i = 0; i < MT_ARRAY_SIZE(fds); i++)
		close(fds[i]);
	info_now(&after);
	CHECK_EQ(after.clients, before.clients);
}

static const struct mt_test tests[] = {
	{ "pin_hit_same_fd", t_pin_hit_same_fd, 0 },
	{ "pin_hit_other_fd", t_pin_hit_other_fd, 0 },
	{ "pin_hit_fork", t_pin_hit_fork, 0 },
	{ "name_on_hit", t_name_on_hit, 0 },
	{ "lookup_other_process", t_lookup_other_process, 0 },
	{ "access_share_modes", t_access_share_modes, 0 },
	{ "access_pin_hit_other_uid", t_access_pin_hit_other_uid, 0 },
	{ "exit_drops_refs", t_exit_drops_refs, 0 },
	{ "sigkill_drops_refs", t_sigkill_drops_refs, 0 },
	{ "linger_expiry", t_linger_expiry, 0 },
	{ "linger_param_change", t_linger_param_change, 0 },
	{ "no_linger", t_no_linger, 0 },
	{ "cap_max_entries", t_cap_max_entries, 0 },
	{ "cap_max_pinned_bytes", t_cap_max_bytes, 0 },
	{ "cap_user_max_entries", t_cap_user_entries, 0 },
	{ "cap_user_max_pinned_bytes", t_cap_user_bytes, 0 },
	{ "cap_user_is_per_uid", t_cap_user_is_per_uid, 0 },
	{ "list_paging", t_list_paging, 300 },
	{ "evict_permissions", t_evict_permissions, 0 },
	{ "evict_admin", t_evict_admin, 0 },
	{ "stats_clients", t_stats_clients, 0 },
	{ "params", t_params, 0 },
};

int main(int argc, char **argv)
{
	static const struct mt_suite suite = {
		.name = "mcxfer_flows",
		.tests = tests,
		.nr_tests = MT_ARRAY_SIZE(tests),
		.before_each = mcx_before_each,
		.after_each = mcx_after_each,
	};

	return mt_main(&suite, argc, argv);
}
