/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A transport without hardware for the unit tests (fake_tp.c): devices
 * that exist only as structs, registrations that hand out made-up keys,
 * paths that connect by exchanging made-up blobs, and nothing that ever
 * moves data.  It records what it was asked (how many registrations with
 * and without remote access, paths opened and closed), and path_open can
 * be held on a condition variable until the test releases it, to stand
 * for a kernel call that sleeps.
 *
 * Everything under struct fake_tp.lock; read the counters with
 * fake_tp_get() or under the lock.
 */
#ifndef MCX_TEST_FAKE_TP_H
#define MCX_TEST_FAKE_TP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "transport/transport.h"

/* Every fake device's address blob starts with these bytes. */
#define FAKE_TP_ADDR_TAG	"fake-dev-addr:"

struct fake_tp;

struct fake_dev {
	struct fake_tp *tp;
	uint32_t index;
};

struct fake_tp {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fake_dev dev[MCX_TP_MAX_DEVS];
	uint64_t next_key;

	/* mr_reg / mr_dereg */
	uint32_t mr_regs, mr_deregs;
	uint32_t mr_remote;		/* registrations asked with remote = true */
	uint32_t mr_local;		/* ... with remote = false */

	/* shared contexts (mr_handle, mr_import, mr_destroy, mr_destroy_handle) */
	uint32_t mr_handles, mr_imports, mr_destroys, mr_destroy_handles;
	uint32_t mr_letgo;		/* mr_dereg of an imported or handed-out MR */
	uint32_t next_handle;
	int mr_reg_fail_at;		/* n > 0: the nth mr_reg from now fails (-EIO) */
	int mr_import_fail_at;		/* n > 0: the nth mr_import from now fails */
	int host_reg_err;		/* non-zero: host mr_regs fail with it (a PFN map) */
	int dmabuf_reg_err;		/* non-zero: dma-buf mr_regs fail with it */
	uint32_t mr_dmabuf;		/* registrations of a dma-buf (mr_regs counts them too) */
	int ctx_fd;			/* what mr_handle reports as the context's fd */
	uint32_t share;			/* the state fake_tp_share() set */
	uint64_t last_iova;		/* mr_req.iova of the last mr_reg */

	/* paths */
	uint32_t path_opens;		/* successful, either side */
	uint32_t path_targets;		/* of those, with MCX_TP_PATH_TARGET */
	uint32_t path_connects, path_closes;
	uint32_t paths_live;
	int path_open_err;		/* non-zero: path_open fails with it */
	bool hold;			/* path_open waits while this is set */
	uint32_t held;			/* path_open calls waiting now */
};

extern const struct mcx_transport_ops fake_tp_ops;

/* ndevs devices named fake0.. in devs, on fabric Ethernet, 10.0.0.<i+1>/24. */
void fake_tp_setup(struct fake_tp *t, struct mcx_devs *devs, uint32_t ndevs);
/* Close the devices (the progress locks). */
void fake_tp_teardown(struct fake_tp *t, struct mcx_devs *devs);

/* Put every device's context in state (enum mcx_tp_share_state). */
void fake_tp_share(struct fake_tp *t, struct mcx_devs *devs, uint32_t state);

/* Make path_open wait (hold) or let every waiting one go (!hold). */
void fake_tp_hold(struct fake_tp *t, bool hold);
/*
 * Wait until n path_open calls are held.  Woken by the fake itself; the
 * bound (10 s) only turns a broken test into a failure instead of a hang.
 */
void fake_tp_wait_held(struct fake_tp *t, uint32_t n);

/* A counter of t read under its lock: fake_tp_get(t, &t->mr_remote). */
uint32_t fake_tp_get(struct fake_tp *t, const uint32_t *field);

#endif
