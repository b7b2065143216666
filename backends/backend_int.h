/* SPDX-License-Identifier: MIT */
/* backends/ private helpers shared by its files. Not for other folders. */
#ifndef ARTIFS_BACKEND_INT_H
#define ARTIFS_BACKEND_INT_H

#include <stddef.h>

/* Writes all len bytes of buf to fd, retrying short writes and EINTR. 0 or errno. */
int be_write_all(int fd, const void *buf, size_t len);
/* The same at fd's offset, bypassing the page cache (O_DIRECT) for what it can of a large
 * page-aligned buffer (be_buf_alloc()); for files written once and seldom read back soon. */
int be_write_direct(int fd, const void *buf, size_t len);

#endif
