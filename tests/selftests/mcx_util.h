/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Helpers shared by the mcxfer selftests: thin ioctl wrappers that return 0
 * or -errno, module parameters, dma-bufs, identities and pointers that must
 * fault.  They use only the uapi header, so the tests check the ABI itself
 * and not the library built on it.
 */
#ifndef MCXFER_SELFTEST_UTIL_H
#define MCXFER_SELFTEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/mcxfer.h>

#include "host_dmabuf.h"

#define MCX_DEV		"/dev/mcxfer"
#define MCX_PARAMS	"/sys/module/mcxfer/parameters"
#define MCX_PAGE	4096UL

/* Unprivileged identities used by the access tests. */
#define MCX_UID_A	60001
#define MCX_UID_B	60002
#define MCX_UID_C	60003
#define MCX_GID_AB	60010
#define MCX_GID_C	60011

/* Open /dev/mcxfer; fd or -errno. */
int mcx_open(void);
/* ioctl(); 0 (or the non-negative result) or -errno. */
int mcx_ioctl(int fd, unsigned long cmd, void *arg);

int mcx_info(int fd, struct mcxfer_info *info);
/* GET_INFO through a fresh fd (the fd itself counts as a client). */
int mcx_info_global(struct mcxfer_info *info);

/* name and ibdev may be NULL; id and out_flags may be NULL. */
int mcx_pin(int fd, int dmabuf, uint64_t off, uint64_t len, const char *name,
	    uint32_t share, uint32_t flags, uint64_t *id, uint32_t *out_flags);
int mcx_unpin(int fd, uint64_t id);
int mcx_lookup_name(int fd, const char *name, uint32_t flags, struct mcxfer_lookup *out);
int mcx_lookup_id(int fd, uint64_t id, uint32_t flags, struct mcxfer_lookup *out);
/* A name among the entries of owner_uid (MCXFER_LOOKUP_OWNER is added). */
int mcx_lookup_owner(int fd, const char *name, uint32_t owner_uid, uint32_t flags,
		     struct mcxfer_lookup *out);
int mcx_evict(int fd, uint64_t id, uint32_t flags, uint64_t *evicted);
/* Every visible entry, by paging with count records per call. malloc'd. */
int mcx_list_all(int fd, uint32_t page, struct mcxfer_entry_info **out, size_t *nr);
/* The entry id as LIST shows it, or NULL.  Uses a static buffer. */
const struct mcxfer_entry_info *mcx_list_find(int fd, uint64_t id);

/* Evict everything idle through a fresh fd; the number evicted or -errno. */
long long mcx_evict_all_idle(void);

/* Module parameters (unsigned decimal values). */
int mcx_param_get(const char *name, unsigned long long *val);
int mcx_param_set(const char *name, unsigned long long val);
/* Save and restore the writable parameters around a test. */
int mcx_params_save(void);
int mcx_params_restore(void);

/* A host dma-buf of size bytes; skips the test when no exporter exists. */
void mcx_dmabuf(size_t size, struct host_dmabuf *buf);

/* Become uid/gid with only gid as supplementary group. 0 or -errno. */
int mcx_become(uid_t uid, gid_t gid);
/* Let everybody open /dev/mcxfer; mcx_after_each() restores the mode saved before the test. */
int mcx_dev_open_to_all(void);
int mcx_dev_mode_restore(void);

/* The lowest free fd number: an fd a call leaked shows as a change. */
int mcx_next_fd(void);
/* A page holding a copy of len bytes of arg, then made read-only. */
void *mcx_readonly_copy(const void *arg, size_t len);

/* A page that faults on any access. */
void *mcx_fault_page(void);
/* n readable bytes that end exactly at a faulting page. */
void *mcx_edge_bytes(size_t n);

/*
 * The leak check run after every test: evict everything idle, then require
 * no entry, no pinned byte, no attachment, no MR and no client but our
 * own.  0 when clean.
 */
int mcx_after_each(void);
int mcx_before_each(void);

/* Wait until cond(arg) holds, polling up to timeout_ms. */
int mcx_wait_until(int (*cond)(void *arg), void *arg, unsigned int timeout_ms);

/* Sleep for ms milliseconds. */
void mcx_msleep(unsigned int ms);

#endif
