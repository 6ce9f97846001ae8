/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading and writing ioctl argument structs (see the ABI rules at the top
 * of include/uapi/linux/mcxfer.h).
 *
 * mcx_uarg_in() reads the leading __u32 size, rejects sizes below the
 * struct's first published size (min_size), reads the struct with
 * copy_struct_from_user() (a larger struct from newer userspace is accepted
 * when its unknown tail is zero, else -E2BIG), rejects unknown flags
 * (-EINVAL) and reports the caller's size in *usize for mcx_uarg_out().
 *
 * mcx_uarg_check() is the part without user memory (flags and reserved
 * words), usable from KUnit tests.
 */
#ifndef MCXFER_UARG_H
#define MCXFER_UARG_H

#include <linux/types.h>

/*
 * Every argument struct starts with these two words.  Returns 0, -EFAULT,
 * -EINVAL (size too small, unknown flags) or -E2BIG (non-zero tail).
 */
int mcx_uarg_in(void *karg, size_t ksize, size_t min_size,
		const void __user *uarg, u32 known_flags, u32 *usize);

/*
 * Checks the flags word of karg against known_flags and that the rsize
 * bytes at reserved are zero.  Returns 0 or -EINVAL.
 */
int mcx_uarg_check(const void *karg, u32 known_flags, const void *reserved,
		   size_t rsize);

/* True when the len bytes at p are all zero. */
bool mcx_mem_is_zero(const void *p, size_t len);

/*
 * Copies karg back, at most usize bytes (the caller's struct may be older
 * and smaller; the bytes beyond ksize in a newer one were checked to be
 * zero on the way in and are left alone).  Returns 0 or -EFAULT.
 */
int mcx_uarg_out(void __user *uarg, const void *karg, size_t ksize,
		 u32 usize);

/*
 * Copies a name from user memory into buf (MCXFER_NAME_MAX or
 * MCXFER_IBDEV_NAME_MAX bytes).  Returns the length, -EFAULT or
 * -ENAMETOOLONG when no NUL fits in size bytes.
 */
long mcx_uname(char *buf, size_t size, u64 uptr);

#endif /* MCXFER_UARG_H */
