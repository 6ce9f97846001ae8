// SPDX-License-Identifier: GPL-2.0
/*
 * Identities and what they may do with an entry.
 *
 * A client's identity is taken once, from the credentials of the file's
 * opener (file->f_cred), as for any character device: an fd passed to
 * another process, or kept across setuid(), acts with the rights of the
 * process that opened it, neither more nor less.
 */

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/user_namespace.h>

#include "reg_internal.h"

void mcx_who_from_cred(const struct cred *cred, bool admin,
		       struct mcx_who *who)
{
	who->uid = cred->fsuid;
	who->gid = cred->fsgid;
	who->admin = admin;
	who->groups = cred->group_info;
	who->user_ns = cred->user_ns;
}

int mcx_name_check(const char *name)
{
	size_t len = strnlen(name, MCXFER_NAME_MAX);
	size_t i;

	if (len == MCXFER_NAME_MAX)
		return -ENAMETOOLONG;
	if (!len || name[0] == '/' || name[0] == '.')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char ch = name[i];

		/* ASCII only: the kernel's ctype also classifies Latin-1 */
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9'))
			continue;
		if (ch == '.' || ch == '_' || ch == '/' || ch == ':' ||
		    ch == '-')
			continue;
		return -EINVAL;
	}
	return 0;
}

/* groups_search() is not exported; group_info is sorted but short. */
static bool mcx_in_groups(const struct group_info *groups, kgid_t gid)
{
	int i;

	if (!groups)
		return false;
	for (i = 0; i < groups->ngroups; i++) {
		if (gid_eq(groups->gid[i], gid))
			return true;
	}
	return false;
}

bool mcx_entry_is_owner(const struct mcx_entry *e, const struct mcx_who *who)
{
	return who->admin || uid_eq(e->nkey.owner, who->uid);
}

bool mcx_entry_visible(const struct mcx_entry *e, const struct mcx_who *who)
{
	if (mcx_entry_is_owner(e, who))
		return true;
	switch (e->share) {
	case MCXFER_SHARE_ALL:
		return true;
	case MCXFER_SHARE_GROUP:
		return gid_eq(e->owner_gid, who->gid) ||
		       mcx_in_groups(who->groups, e->owner_gid);
	default:
		return false;
	}
}
