// SPDX-License-Identifier: GPL-2.0
/* ioctl argument structs in and out of user memory; see uarg.h. */

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "uarg.h"

bool mcx_mem_is_zero(const void *p, size_t len)
{
	return !len || !memchr_inv(p, 0, len);
}

int mcx_uarg_check(const void *karg, u32 known_flags, const void *reserved,
		   size_t rsize)
{
	const u32 *words = karg;

	/* words[0] is the size, words[1] the flags */
	if (words[1] & ~known_flags)
		return -EINVAL;
	if (reserved && !mcx_mem_is_zero(reserved, rsize))
		return -EINVAL;
	return 0;
}

int mcx_uarg_in(void *karg, size_t ksize, size_t min_size,
		const void __user *uarg, u32 known_flags, u32 *usize)
{
	u32 size;
	int ret;

	if (get_user(size, (const u32 __user *)uarg))
		return -EFAULT;
	if (size < min_size)
		return -EINVAL;
	/* a struct that grew beyond a page is not one we will ever know */
	if (size > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(karg, ksize, uarg, size);
	if (ret)
		return ret;
	/* the size word was read twice; a racing writer gets the first */
	*(u32 *)karg = size;
	ret = mcx_uarg_check(karg, known_flags, NULL, 0);
	if (ret)
		return ret;
	*usize = size;
	return 0;
}

int mcx_uarg_out(void __user *uarg, const void *karg, size_t ksize,
		 u32 usize)
{
	if (copy_to_user(uarg, karg, min_t(size_t, ksize, usize)))
		return -EFAULT;
	return 0;
}

long mcx_uname(char *buf, size_t size, u64 uptr)
{
	long len;

	len = strncpy_from_user(buf, u64_to_user_ptr(uptr), size);
	if (len < 0)
		return len;
	if (len == size)
		return -ENAMETOOLONG;
	return len;
}
