/* SPDX-License-Identifier: MIT */
/* Helpers over the be_* interface that every store gets for free. */
#include <errno.h>
#include <unistd.h>
#include <stdlib.h>
#include <syslog.h>

#include "backend.h"
#include "backend_int.h"

/*
 * head, then one get of size + 1 bytes: a got different from size means the object was
 * replaced in between, so we start over rather than return a mix of two objects' sizes.
 */
int be_get_all(struct be *be, const char *key, size_t max, void **buf, size_t *len)
{
	uint64_t size;
	size_t got;
	void *p = NULL;
	int err, tries;

	*buf = NULL;
	*len = 0;
	for (tries = 0; tries < 4; tries++) {
		err = be_head(be, key, &size);
		if (err)
			return err;
		if (size > max || size >= SIZE_MAX)
			return EFBIG;
		p = malloc((size_t)size + 1);
		if (!p)
			return ENOMEM;
		err = be_get(be, key, 0, (size_t)size + 1, p, &got);
		if (err) {
			free(p);
			return err;
		}
		if (got == size) {
			*buf = p;
			*len = got;
			return 0;
		}
		free(p);
	}
	log_msg(LOG_ERR, "%s: object keeps changing size while being read", key);
	return EIO;
}

int be_create(struct be *be, const char *key, const void *buf, size_t len)
{
	uint64_t size;
	int err = be_put_new(be, key, buf, len);

	if (err != ENOTSUP)
		return err;
	err = be_head(be, key, &size);
	if (err == 0)
		return EEXIST;
	if (err != ENOENT)
		return err;
	return be_put(be, key, buf, len);
}

int be_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

