/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fixtures shared by the mcxfer KUnit suites: a registry of its own per
 * test case, driven by a fake backend and a fake clock, clients that are
 * released when the case ends, callers with chosen uid/gid, and user
 * memory for the ioctl argument tests.
 */
#ifndef MCXFER_TESTS_MCX_KUNIT_H
#define MCXFER_TESTS_MCX_KUNIT_H

#include <kunit/test.h>
#include <linux/spinlock.h>

#include "../registry.h"

struct mcx_file;

#define MCX_TEST_MAX_CLIENTS	8
#define MCX_TEST_LINGER_MS	1000
/* fake dma-bufs (mcx_test_buf()) and RDMA devices (mcx_test_target()) */
#define MCX_TEST_NR_BUFS	1024
#define MCX_TEST_NR_TARGETS	4

struct mcx_test;

/*
 * Called by the fake attach, without reg->lock, before it succeeds; may
 * call into the registry (another PIN) or block until the test lets it go.
 */
typedef void (*mcx_test_attach_hook)(struct mcx_test *t,
				     struct mcx_attach *att, void *arg);

/* Per-case state; test->priv points to it. */
struct mcx_test {
	struct mcx_registry reg;
	struct kunit *test;
	struct mcx_file *files[MCX_TEST_MAX_CLIENTS];
	bool released[MCX_TEST_MAX_CLIENTS];
	unsigned int nr_clients;
	/*
	 * Backend calls seen.  attach and detach run without reg->lock,
	 * from several tasks at once in the concurrent cases: calls_lock.
	 */
	spinlock_t calls_lock;
	unsigned int attaches;
	unsigned int detaches;
	/* detach of something attach never returned, or twice */
	unsigned int bad_detaches;
	/* attach or detach called with reg->lock held by the caller */
	unsigned int locked_calls;
	unsigned int get_bufs;
	/*
	 * Other tasks use the registry (kthreads of the case): without
	 * lockdep, "held by the caller" cannot be told from "held".
	 */
	bool threads;
	/*
	 * MR file references: +1 for each MR handed to the registry and for
	 * each ops->mr_get(), -1 for each ops->mr_put() and for each one a
	 * test gives back; 0 when the case ends.
	 */
	int mr_file_refs;
	/* the same for shared contexts (ops->ctx_get/ctx_put) */
	int ctx_file_refs;
	/* the next ops->attach fails with this errno when non-zero */
	int fail_attach;
	/* a target for which ops->target_alive answers false */
	const void *dead_target;
	/* the attachment the last successful ops->attach was for */
	struct mcx_attach *last_att;
	mcx_test_attach_hook attach_hook;
	void *hook_data;
	u64 now_ms;
	/* set by mcx_test_use_wq(); destroyed after the registry */
	struct workqueue_struct *wq;
};

/* Suite init/exit: a fresh registry per case, torn down and checked. */
int mcx_test_init(struct kunit *test);
void mcx_test_exit(struct kunit *test);

static inline struct mcx_test *mcx_t(struct kunit *test)
{
	return test->priv;
}

/* A client of the case's registry, released by mcx_test_exit(). */
struct mcx_client *mcx_test_client(struct kunit *test);
/*
 * The /dev/mcxfer file state around a client of mcx_test_client(), as the
 * ioctls see it; its who is that of uid/gid 0, not privileged.
 */
struct mcx_file *mcx_test_file_of(struct kunit *test, struct mcx_client *c);
/* Releases c now (closing the file); mcx_test_exit() then skips it. */
void mcx_test_close(struct kunit *test, struct mcx_client *c);

/*
 * A caller with the given uid and gid, not privileged, no supplementary
 * groups, in the initial user namespace.
 */
struct mcx_who mcx_test_who(u32 uid, u32 gid);
/* The same with CAP_SYS_ADMIN. */
struct mcx_who mcx_test_admin(u32 uid, u32 gid);

/* A distinct fake dma-buf (only its address is used). */
const void *mcx_test_buf(unsigned int i);
/* A distinct fake RDMA device. */
const void *mcx_test_target(unsigned int i);

/*
 * PIN arguments for [off, off + len) of fake buffer buf, share ALL; the
 * buffer is 1 GiB, so its attachment charges 1 GiB.
 */
struct mcx_pin_args mcx_test_args(unsigned int buf, u64 off, u64 len);
/* PIN arguments for the whole of fake buffer buf, size bytes long. */
struct mcx_pin_args mcx_test_whole(unsigned int buf, u64 size);

/* Pins and asserts success; returns the entry id. */
u64 mcx_test_pin_ok(struct kunit *test, struct mcx_client *c,
		    const struct mcx_pin_args *args, const struct mcx_who *who,
		    bool expect_hit);

/*
 * The LIST record of entry id, as an admin sees it (does not count as a
 * lookup).  Returns 0 or -ENOENT.
 */
int mcx_test_entry(struct kunit *test, u64 id,
		   struct mcxfer_entry_info *info);

/* Does the calling task hold reg->lock (see struct mcx_test.threads)? */
bool mcx_test_reg_locked(struct mcx_test *t);

/*
 * Gives the registry a workqueue, as the module does, so that linger
 * expiry and invalidation run from its works.
 */
void mcx_test_use_wq(struct kunit *test);

/* Advances the fake clock. */
void mcx_test_advance(struct kunit *test, u64 ms);

/*
 * Maps len bytes of anonymous user memory into the case's kthread (an mm is
 * attached to it on first use; the mapping and the mm go when the case
 * ends).  Built in, the mm is the case's own; as a module, it is the one
 * of the task loading mcxfer, taken by the suite's suite_init, and the
 * case is skipped when that task has none.
 */
void __user *mcx_test_user_mem(struct kunit *test, size_t len);
/* suite_init/suite_exit of suites that use mcx_test_user_mem() */
int mcx_test_suite_init(struct kunit_suite *suite);
void mcx_test_suite_exit(struct kunit_suite *suite);

#endif /* MCXFER_TESTS_MCX_KUNIT_H */
