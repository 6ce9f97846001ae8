// SPDX-License-Identifier: GPL-2.0
/*
 * Fixtures of the mcxfer KUnit suites (see mcx_kunit.h).
 *
 * The fake backend records what the registry asks of it, so the tests can
 * check that every attachment is detached exactly once, that the backend
 * is never called with the registry lock held, and that no MR file
 * reference leaks.  The fake clock lets linger and expiry run without
 * sleeping.
 */

#include <kunit/resource.h>
#include <linux/kthread.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>
#include <linux/workqueue.h>

#include "mcx_kunit.h"
#include "../internal.h"

/* KUnit runs one case at a time; the registry's clock has no argument. */
static struct mcx_test *mcx_test_running;

static u64 mcx_test_clock(void)
{
	return mcx_test_running ? mcx_test_running->now_ms : 0;
}

static struct mcx_test *mcx_test_of(struct mcx_registry *reg)
{
	return container_of(reg, struct mcx_test, reg);
}

bool mcx_test_reg_locked(struct mcx_test *t)
{
	int held = -1;

	/* lockdep knows who holds it, unless an earlier report turned it off */
	if (IS_ENABLED(CONFIG_LOCKDEP))
		held = lockdep_is_held(&t->reg.lock);
	if (held >= 0)
		return held;
	return !READ_ONCE(t->threads) && mutex_is_locked(&t->reg.lock);
}

/* What the fake attach returns: the attachment's backend state. */
struct mcx_fake_att {
	struct mcx_test *t;
	struct mcx_attach *att;
	unsigned long magic;
};

#define MCX_FAKE_ATT_MAGIC	0x6d63786174746163UL

static void *mcx_fake_attach(struct mcx_registry *reg, struct mcx_attach *att,
			     void *arg)
{
	struct mcx_test *t = mcx_test_of(reg);
	struct mcx_fake_att *fa;
	int ret;

	spin_lock(&t->calls_lock);
	/* the exporter may sleep: never under the registry lock */
	if (mcx_test_reg_locked(t))
		t->locked_calls++;
	ret = t->fail_attach;
	t->fail_attach = 0;
	spin_unlock(&t->calls_lock);
	if (ret)
		return ERR_PTR(ret);
	if (t->attach_hook)
		t->attach_hook(t, att, arg);

	fa = kzalloc(sizeof(*fa), GFP_KERNEL);
	if (!fa)
		return ERR_PTR(-ENOMEM);
	fa->t = t;
	fa->att = att;
	fa->magic = MCX_FAKE_ATT_MAGIC;
	spin_lock(&t->calls_lock);
	t->attaches++;
	t->last_att = att;
	spin_unlock(&t->calls_lock);
	return fa;
}

static void mcx_fake_detach(struct mcx_registry *reg, void *priv)
{
	struct mcx_test *t = mcx_test_of(reg);
	struct mcx_fake_att *fa = priv;

	spin_lock(&t->calls_lock);
	if (mcx_test_reg_locked(t))
		t->locked_calls++;
	/* only what attach made is detached, and only once */
	if (IS_ERR_OR_NULL(fa) || fa->t != t || fa->magic != MCX_FAKE_ATT_MAGIC) {
		t->bad_detaches++;
		spin_unlock(&t->calls_lock);
		return;
	}
	fa->magic = 0;
	t->detaches++;
	spin_unlock(&t->calls_lock);
	kfree(fa);
}

static void *mcx_fake_get_buf(struct mcx_entry *e)
{
	struct mcx_fake_att *fa = e->att->priv;

	fa->t->get_bufs++;
	return (void *)e->key.buf;
}

/* Test MRs carry their struct mcx_test in ->file. */
static void mcx_fake_mr_get(struct mcx_mr *mr)
{
	struct mcx_test *t = (struct mcx_test *)mr->file;

	t->mr_file_refs++;
}

static void mcx_fake_mr_put(struct mcx_mr *mr)
{
	struct mcx_test *t = (struct mcx_test *)mr->file;

	t->mr_file_refs--;
}

/* Test contexts' files are not looked at: the running case counts. */
static void mcx_fake_ctx_get(struct mcx_ctx *ctx)
{
	mcx_test_running->ctx_file_refs++;
}

static void mcx_fake_ctx_put(struct mcx_ctx *ctx)
{
	mcx_test_running->ctx_file_refs--;
}

static bool mcx_fake_target_alive(struct mcx_registry *reg,
				  const void *target)
{
	return target != mcx_test_of(reg)->dead_target;
}

static const struct mcx_backend_ops mcx_fake_ops = {
	.attach = mcx_fake_attach,
	.detach = mcx_fake_detach,
	.get_buf = mcx_fake_get_buf,
	.mr_get = mcx_fake_mr_get,
	.mr_put = mcx_fake_mr_put,
	.target_alive = mcx_fake_target_alive,
	.ctx_get = mcx_fake_ctx_get,
	.ctx_put = mcx_fake_ctx_put,
};

int mcx_test_init(struct kunit *test)
{
	struct mcx_test *t;

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t->test = test;
	t->now_ms = 100000;
	spin_lock_init(&t->calls_lock);
	if (mcx_reg_init(&t->reg, &mcx_fake_ops))
		return -ENOMEM;
	t->reg.clock = mcx_test_clock;
	t->reg.limits.linger_ms = MCX_TEST_LINGER_MS;
	mcx_test_running = t;
	test->priv = t;
	return 0;
}

void mcx_test_exit(struct kunit *test)
{
	struct mcx_test *t = test->priv;
	struct mcxfer_info info;
	unsigned int i;

	/* init failed before the registry existed */
	if (!t)
		return;
	for (i = 0; i < t->nr_clients; i++) {
		if (!t->released[i])
			mcx_client_release(&t->files[i]->c);
		kfree(t->files[i]);
	}
	/* with every client gone, only lingering entries are left */
	mcx_reg_get_info(&t->reg, &info);
	KUNIT_EXPECT_EQ(test, info.entries, info.entries_linger);
	mcx_reg_destroy(&t->reg);
	if (t->wq)
		destroy_workqueue(t->wq);
	mcx_test_running = NULL;
	/* every attachment was detached, exactly once */
	KUNIT_EXPECT_EQ(test, t->attaches, t->detaches);
	KUNIT_EXPECT_EQ(test, t->bad_detaches, 0U);
	/* and the backend never ran under the registry lock */
	KUNIT_EXPECT_EQ(test, t->locked_calls, 0U);
	/* every MR file reference given to or taken from the registry is back */
	KUNIT_EXPECT_EQ(test, t->mr_file_refs, 0);
	KUNIT_EXPECT_EQ(test, t->ctx_file_refs, 0);
}

struct mcx_client *mcx_test_client(struct kunit *test)
{
	struct mcx_test *t = mcx_t(test);
	struct mcx_file *f;

	KUNIT_ASSERT_LT(test, t->nr_clients, MCX_TEST_MAX_CLIENTS);
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f);
	f->who = mcx_test_who(0, 0);
	f->who.user_ns = &init_user_ns;
	mcx_client_init(&t->reg, &f->c);
	t->files[t->nr_clients++] = f;
	return &f->c;
}

struct mcx_file *mcx_test_file_of(struct kunit *test, struct mcx_client *c)
{
	return container_of(c, struct mcx_file, c);
}

void mcx_test_close(struct kunit *test, struct mcx_client *c)
{
	struct mcx_test *t = mcx_t(test);
	unsigned int i;

	for (i = 0; i < t->nr_clients; i++) {
		if (&t->files[i]->c != c)
			continue;
		KUNIT_ASSERT_FALSE(test, t->released[i]);
		mcx_client_release(c);
		t->released[i] = true;
		return;
	}
	KUNIT_FAIL(test, "closing a client the fixture does not know");
}

struct mcx_who mcx_test_who(u32 uid, u32 gid)
{
	struct mcx_who who = {
		.uid = KUIDT_INIT(uid),
		.gid = KGIDT_INIT(gid),
	};

	return who;
}

struct mcx_who mcx_test_admin(u32 uid, u32 gid)
{
	struct mcx_who who = mcx_test_who(uid, gid);

	who.admin = true;
	return who;
}

static const u8 mcx_test_bufs[MCX_TEST_NR_BUFS];
static const u8 mcx_test_targets[MCX_TEST_NR_TARGETS];

const void *mcx_test_buf(unsigned int i)
{
	return &mcx_test_bufs[i % ARRAY_SIZE(mcx_test_bufs)];
}

const void *mcx_test_target(unsigned int i)
{
	return &mcx_test_targets[i % ARRAY_SIZE(mcx_test_targets)];
}

struct mcx_pin_args mcx_test_args(unsigned int buf, u64 off, u64 len)
{
	struct mcx_pin_args args = {
		.key = {
			.buf = mcx_test_buf(buf),
			.offset = off,
			.length = len,
		},
		.share = MCXFER_SHARE_ALL,
		.buf_size = 1ULL << 30,
		.exporter = "fake",
	};

	return args;
}

struct mcx_pin_args mcx_test_whole(unsigned int buf, u64 size)
{
	struct mcx_pin_args args = mcx_test_args(buf, 0, size);

	args.buf_size = size;
	return args;
}

u64 mcx_test_pin_ok(struct kunit *test, struct mcx_client *c,
		    const struct mcx_pin_args *args, const struct mcx_who *who,
		    bool expect_hit)
{
	bool hit = !expect_hit;
	u64 id = 0;

	KUNIT_ASSERT_EQ(test, mcx_reg_pin(c, args, who, &id, &hit), 0);
	KUNIT_EXPECT_NE(test, id, 0ULL);
	KUNIT_EXPECT_EQ(test, hit, expect_hit);
	return id;
}

int mcx_test_entry(struct kunit *test, u64 id,
		   struct mcxfer_entry_info *info)
{
	struct mcx_who admin = mcx_test_admin(0, 0);
	u64 cursor = id;
	u32 n = 0;

	KUNIT_ASSERT_EQ(test, mcx_reg_list(&mcx_t(test)->reg, &admin, &cursor,
					   info, 1, &n), 0);
	if (n != 1 || info->id != id)
		return -ENOENT;
	return 0;
}

void mcx_test_use_wq(struct kunit *test)
{
	struct mcx_test *t = mcx_t(test);

	t->wq = alloc_workqueue("mcx-kunit", 0, 0);
	KUNIT_ASSERT_NOT_NULL(test, t->wq);
	t->reg.wq = t->wq;
}

void mcx_test_advance(struct kunit *test, u64 ms)
{
	mcx_t(test)->now_ms += ms;
}

/*
 * User memory.  Built in, mcxfer's cases get an address space of their
 * own; as a module, they borrow the one of the task loading mcxfer (KUnit
 * runs a module's suites from its insmod, see mcx_test_suite_init()), as
 * the helpers that build an mm are not exported.
 */
static struct mm_struct *mcx_test_loader_mm;

int mcx_test_suite_init(struct kunit_suite *suite)
{
	if (!IS_BUILTIN(CONFIG_MCXFER) && current->mm)
		mcx_test_loader_mm = get_task_mm(current);
	return 0;
}

void mcx_test_suite_exit(struct kunit_suite *suite)
{
	if (mcx_test_loader_mm)
		mmput(mcx_test_loader_mm);
	mcx_test_loader_mm = NULL;
}

static int mcx_test_res_init(struct kunit_resource *res, void *data)
{
	res->data = data;
	return 0;
}

static void mcx_test_mm_free(struct kunit_resource *res)
{
	struct mm_struct *mm = res->data;

	/*
	 * Normally the case's kthread cleans up and still uses mm.  After a
	 * failed assertion it has exited instead, exit_mm() dropped mm, and
	 * the cleanup runs in the task that started the case (the loader,
	 * whose own mm this may be).
	 */
	if ((current->flags & PF_KTHREAD) && current->mm == mm) {
		kthread_unuse_mm(mm);
		mmput(mm);
	}
}

struct mcx_test_mapping {
	struct mm_struct *mm;
	unsigned long addr;
	size_t len;
};

/* Resources go last in, first out: before the mm they are in. */
static void mcx_test_mapping_free(struct kunit_resource *res)
{
	struct mcx_test_mapping *m = res->data;

	if (current->mm == m->mm)
		vm_munmap(m->addr, m->len);
	kfree(m);
}

#if IS_BUILTIN(CONFIG_MCXFER)
static struct mm_struct *mcx_test_new_mm(struct kunit *test)
{
	struct mm_struct *mm = mm_alloc();

	KUNIT_ASSERT_NOT_NULL(test, mm);
	mm->task_size = TASK_SIZE;
	arch_pick_mmap_layout(mm, &current->signal->rlim[0]);
	return mm;
}
#else
static struct mm_struct *mcx_test_new_mm(struct kunit *test)
{
	if (!mcx_test_loader_mm)
		kunit_skip(test, "no address space: mcxfer was loaded by a task without one");
	mmget(mcx_test_loader_mm);
	return mcx_test_loader_mm;
}
#endif

/* Gives the case's kthread an address space (one reference on mm). */
static void mcx_test_attach_mm(struct kunit *test)
{
	struct mm_struct *mm;
	void *res;

	if (current->mm)
		return;
	mm = mcx_test_new_mm(test);
	kthread_use_mm(mm);
	res = kunit_alloc_resource(test, mcx_test_res_init, mcx_test_mm_free,
				   GFP_KERNEL, mm);
	KUNIT_ASSERT_NOT_NULL(test, res);
}

void __user *mcx_test_user_mem(struct kunit *test, size_t len)
{
	struct mcx_test_mapping *m;
	unsigned long addr;
	void *res;

	mcx_test_attach_mm(test);
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m);
	addr = vm_mmap(NULL, 0, len, PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | MAP_PRIVATE, 0);
	if (IS_ERR_VALUE(addr))
		kfree(m);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR_VALUE(addr), "vm_mmap: %ld",
			       (long)addr);
	m->mm = current->mm;
	m->addr = addr;
	m->len = len;
	res = kunit_alloc_resource(test, mcx_test_res_init,
				   mcx_test_mapping_free, GFP_KERNEL, m);
	if (!res) {
		vm_munmap(addr, len);
		kfree(m);
	}
	KUNIT_ASSERT_NOT_NULL(test, res);
	return (void __user *)addr;
}
