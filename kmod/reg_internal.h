/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of the registry (entry.c, names.c, attach.c, account.c,
 * mrrec.c, ctxrec.c, access.c) share with each other and nobody else.  Everything
 * here is called with reg->lock held.
 */
#ifndef MCXFER_REG_INTERNAL_H
#define MCXFER_REG_INTERNAL_H

#include "registry.h"

/* names.c: live named entries by (owner, name) */
int mcx_names_init(struct mcx_registry *reg);
void mcx_names_destroy(struct mcx_registry *reg);
struct mcx_entry *mcx_name_find(struct mcx_registry *reg, kuid_t owner,
				const char *name);
int mcx_name_insert(struct mcx_registry *reg, struct mcx_entry *e);
void mcx_name_remove(struct mcx_registry *reg, struct mcx_entry *e);

/* attach.c: attachments by (buf, target), and their charge */
int mcx_attachments_init(struct mcx_registry *reg);
void mcx_attachments_destroy(struct mcx_registry *reg);
struct mcx_attach *mcx_attach_find(struct mcx_registry *reg,
				   const void *buf, const void *target);
/* Makes att (key, size, priv set) live, charged to u; 0 or -ENOMEM. */
int mcx_attach_add(struct mcx_registry *reg, struct mcx_attach *att,
		   struct mcx_user *u);
void mcx_attach_add_entry(struct mcx_registry *reg, struct mcx_attach *att,
			  struct mcx_entry *e);
/* Takes e off its attachment; the last entry queues it for release. */
void mcx_attach_del_entry(struct mcx_registry *reg, struct mcx_entry *e);
/* An entry on att became referenced (true) or unreferenced (false). */
void mcx_attach_set_active(struct mcx_registry *reg, struct mcx_attach *att,
			   bool active);
void mcx_attach_put_hold(struct mcx_registry *reg, struct mcx_attach *att);

/* account.c: users, caps and the linger LRU */
struct mcx_user *mcx_user_get(struct mcx_registry *reg, kuid_t uid);
void mcx_user_maybe_free(struct mcx_user *u);
int mcx_room_precheck(struct mcx_registry *reg, kuid_t uid, u64 new_bytes);
int mcx_make_room(struct mcx_registry *reg, struct mcx_user *u,
		  u64 new_bytes, struct mcx_attach *keep);
void mcx_lru_add(struct mcx_registry *reg, struct mcx_entry *e);
void mcx_lru_del(struct mcx_registry *reg, struct mcx_entry *e);
void mcx_arm_linger(struct mcx_registry *reg);
void mcx_linger_fn(struct work_struct *work);

/* mrrec.c: MR records of an entry */
void mcx_mr_drop(struct mcx_registry *reg, struct mcx_entry *e,
		 struct mcx_mr *mr, bool notify);
void mcx_mrs_drop(struct mcx_registry *reg, struct mcx_entry *e,
		  bool notify);

/* ctxrec.c: shared contexts and the MR records made through them */
/* mr becomes its context's when its file is that of a shared context. */
void mcx_ctx_link_mr(struct mcx_registry *reg, struct mcx_mr *mr);
/* mr leaves its context; CTX_MR_DROPPED to its holders when notify. */
void mcx_ctx_unlink_mr(struct mcx_registry *reg, struct mcx_mr *mr,
		       bool notify);
void mcx_ctxs_client_release(struct mcx_registry *reg,
			     struct mcx_client *c);
/* Before target's MRs go: its contexts send no more events. */
void mcx_ctxs_target_dying(struct mcx_registry *reg, const void *target);
/* After: its contexts are dropped, whoever holds them. */
void mcx_ctxs_target_removed(struct mcx_registry *reg, const void *target);

/* entry.c: entry lifetime, used by the others */
void mcx_set_state(struct mcx_registry *reg, struct mcx_entry *e, u32 state);
void mcx_entry_free(struct mcx_registry *reg, struct mcx_entry *e);
void mcx_entry_kill(struct mcx_registry *reg, struct mcx_entry *e,
		    u32 event);
void mcx_notify(struct mcx_entry *e, u32 type, u64 mr_id);
struct mcx_entry *mcx_entry_by_id(struct mcx_registry *reg, u64 id);

#endif /* MCXFER_REG_INTERNAL_H */
