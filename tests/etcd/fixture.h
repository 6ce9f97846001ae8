/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A real etcd for one test: /usr/bin/etcd (or $MCX_ETCD_BIN) started on
 * 127.0.0.1 with free client and peer ports and a fresh data directory,
 * killed and removed by etcd_stop() (a test that fails leaves its data
 * directory under $MCX_ETCD_TMP, which tests/etcd/run.sh removes; the etcd
 * itself dies with the test's process, whatever ends it).
 * The test can stop (SIGSTOP), continue and kill it to play an etcd that
 * hangs or goes away.
 */
#ifndef MCX_TEST_ETCD_FIXTURE_H
#define MCX_TEST_ETCD_FIXTURE_H

#include <stdint.h>
#include <sys/types.h>

#include "ctrl/etcd.h"

struct etcd_proc {
	pid_t pid;
	uint16_t port;
	char dir[256];
	char url[128];			/* etcd://127.0.0.1:PORT/mcxfer-test */
	struct mcx_etcd_url parsed;
};

/* Start one and wait until it answers (the test fails otherwise). */
void etcd_start(struct etcd_proc *e);
void etcd_stop(struct etcd_proc *e);	/* kill, remove its data */
void etcd_kill(struct etcd_proc *e);	/* SIGKILL and reap; harmless twice */
void etcd_pause(struct etcd_proc *e);	/* SIGSTOP: connects, never answers */
void etcd_resume(struct etcd_proc *e);

/* A client of e with timeout_ms per request (the test fails otherwise). */
struct mcx_etcd *etcd_client(const struct etcd_proc *e, uint32_t timeout_ms);

/* A port on 127.0.0.1 where nothing listens (it was free a moment ago). */
uint16_t free_port(void);

/* Sleep ms milliseconds. */
void sleep_ms(unsigned int ms);

#endif
