/* SPDX-License-Identifier: MIT */
/* backends/ private helpers shared by its files. Not for other folders. */
#ifndef ARTIFS_BACKEND_INT_H
#define ARTIFS_BACKEND_INT_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes of buf to fd, retrying short writes and EINTR. 0 or errno. */
int be_write_all(int fd, const void *buf, size_t len);
/* The same at fd's offset, bypassing the page cache (O_DIRECT) for what it can of a large
 * page-aligned buffer (be_buf_alloc()); for files written once and seldom read back soon. */
int be_write_direct(int fd, const void *buf, size_t len);

/*
 * Paths inside a directory that a store or the cache owns. Every path is relative to dirfd
 * and resolved by openat2() with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: a symbolic link
 * anywhere on the path, the last component included, answers ELOOP, and a path that would
 * leave dirfd EXDEV, so nothing planted inside the directory leads a root daemon outside it.
 * Kernels before 5.6 have no openat2(): ENOSYS. Any thread.
 */

/* openat2(dirfd, path, flags, mode) with those rules; *out is the caller's to close. path
 * "." is dirfd itself. */
int be_open_beneath(int dirfd, const char *path, int flags, mode_t mode, int *out);

enum be_parent_flags {
	BE_PARENT_CREATE = 1 << 0,  /* mkdir -p the missing directories (with mode) */
	BE_PARENT_DURABLE = 1 << 1, /* and fsync the parent of each one made */
};

/*
 * The directory that holds the last component of path ("a/b/c": "a/b"; "c": dirfd itself):
 * *out receives an fd on it, opened O_RDONLY | O_DIRECTORY so that it can be fsync'ed
 * (caller closes), and *base the last component (points into path). Missing directories
 * are made one component at a time, each relative to the fd of its parent, when flags has
 * BE_PARENT_CREATE; otherwise ENOENT (ENOTDIR when a component is a file). A symbolic link
 * on the way: ELOOP. The caller then works with *at() calls relative to *out, which do not
 * follow a symbolic link in the last component either (see AT_SYMLINK_NOFOLLOW).
 */
int be_open_parent_beneath(int dirfd, const char *path, enum be_parent_flags flags, mode_t mode,
			   int *out, const char **base);

#endif
