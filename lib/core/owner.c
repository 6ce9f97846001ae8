// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Which process an engine belongs to.  An engine is usable only in the
 * process that created it: in a fork child its QPs and registrations are
 * still the parent's (the uverbs file is shared), its threads do not exist
 * and a lock one of them held at the fork stays locked forever.  The entry
 * points that start work (mcx_mem_register_batch, mcx_peer_open,
 * mcx_batch_submit) call mcx__engine_check_owner() before they touch
 * anything of the engine, so a child gets -EOWNERDEAD instead of a hang or
 * a request on the parent's queues.  A child may create engines of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>

#include "core/core.h"

/* Once per process: a child looping on a refused call logs one line. */
static atomic_int logged_pid;

int mcx__engine_check_owner(const struct mcx_engine *eng)
{
	pid_t self;

	/*
	 * NULL is the caller's to refuse, with its usual -EINVAL.  pid 0 is
	 * never a process: mcx_engine_create() always sets it, so 0 marks an
	 * engine the unit tests assembled by hand, which has no owner to check.
	 */
	if (!eng || !eng->pid)
		return 0;
	self = mcx__pid();
	if (eng->pid == self)
		return 0;
	if (atomic_exchange(&logged_pid, self) != self)
		mcx__err("engine of process %d used in process %d, a fork child: create a new engine in the child",
			 (int)eng->pid, (int)self);
	return -EOWNERDEAD;
}
