/* SPDX-License-Identifier: MIT */
/* Helpers over the be_* interface that every store gets for free. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

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

/*
 * Chunk and cache files are written once and read back only when a reader asks, so copying
 * their bytes into fresh page-cache pages first buys nothing (and on the test VM cost as
 * much as the rest of a commit). Large page-aligned buffers at an aligned file offset go
 * to disk with O_DIRECT, all but the unaligned tail; anything else, or a filesystem that
 * refuses O_DIRECT, is written through the page cache.
 */
#define DIRECT_ALIGN 4096
#define DIRECT_MIN   ((size_t)64 << 10)

int be_write_direct(int fd, const void *buf, size_t len)
{
	size_t head = len & ~(size_t)(DIRECT_ALIGN - 1), done = 0;
	off_t at;
	int fl;

	if (len < DIRECT_MIN || (uintptr_t)buf % DIRECT_ALIGN)
		return be_write_all(fd, buf, len);
	at = lseek(fd, 0, SEEK_CUR);
	fl = fcntl(fd, F_GETFL);
	if (at < 0 || at % DIRECT_ALIGN || fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) < 0)
		return be_write_all(fd, buf, len);
	while (done < head) {
		ssize_t n = pwrite(fd, (const char *)buf + done, head - done, at + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || n % DIRECT_ALIGN)
			break; /* refused (EINVAL) or odd: the page cache does the rest */
		done += (size_t)n;
	}
	if (fcntl(fd, F_SETFL, fl) < 0)
		return errno;
	if (done && lseek(fd, at + (off_t)done, SEEK_SET) < 0)
		return errno;
	return be_write_all(fd, (const char *)buf + done, len - done);
}

/* ---- the buffer pool ---- */

#define BUF_HDR	     4096	      /* keeps the caller's bytes page-aligned (O_DIRECT) */
#define BUF_ROUND    ((size_t)2 << 20) /* mappings grow in 2 MiB steps */
#define BUF_IDLE_N   8
#define BUF_IDLE_MAX ((size_t)20 << 20) /* bytes touched by idle buffers: two 8 MiB packs */
/* Below this a buffer comes from malloc: a page of header and a 2 MiB mapping per 4 KiB
 * chunk would double the memory of a cache full of small files' chunks. */
#define BUF_SMALL    DIRECT_MIN
/* Below this (and from BUF_SMALL) a page-aligned buffer comes from malloc too: format 2's
 * chunks (at most 128 KiB) come and go by the thousand, and a mapping each would be faulted
 * in fresh every time and crowd the packs' buffers out of the idle pool. */
#define BUF_ALIGNED_MAX ((size_t)1 << 20)
/* The 8 bytes before a malloc'ed buffer's bytes (BUF_ALIGNED: page-aligned, a page after
 * the start of its allocation); before a mapped one's they are zero. */
#define BUF_HEAP     0x686561700a0a0a02ull
#define BUF_ALIGNED  0x616c69676e0a0a03ull

struct buf_hdr {
	size_t cap;  /* bytes mapped, header included */
	size_t used; /* the most any caller asked for: an estimate of the pages touched */
};

static struct {
	pthread_mutex_t lock;
	struct buf_hdr *idle[BUF_IDLE_N];
	size_t n, bytes;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct buf_hdr *buf_map(size_t cap)
{
	void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	((struct buf_hdr *)p)->cap = cap;
	((struct buf_hdr *)p)->used = 0;
	return p;
}

void *be_buf_alloc(size_t len)
{
	struct buf_hdr *h = NULL;
	size_t need, i, best = 0;

	if (len < BUF_SMALL) {
		uint64_t *m = malloc(16 + len);

		if (!m)
			return NULL;
		m[1] = BUF_HEAP;
		return m + 2;
	}
	if (len < BUF_ALIGNED_MAX) {
		void *m;

		if (posix_memalign(&m, BUF_HDR, BUF_HDR + len))
			return NULL;
		((uint64_t *)((char *)m + BUF_HDR))[-1] = BUF_ALIGNED;
		return (char *)m + BUF_HDR;
	}
	if (len > SIZE_MAX - BUF_HDR - BUF_ROUND)
		return NULL;
	need = (len + BUF_HDR + BUF_ROUND - 1) / BUF_ROUND * BUF_ROUND;
	pthread_mutex_lock(&pool.lock);
	/* The idle buffer that touched the most memory: its pages are the ones to reuse. */
	for (i = 1; i < pool.n; i++)
		if (pool.idle[i]->used > pool.idle[best]->used)
			best = i;
	if (pool.n) {
		h = pool.idle[best];
		pool.idle[best] = pool.idle[--pool.n];
		pool.bytes -= h->used;
	}
	pthread_mutex_unlock(&pool.lock);
	if (h && h->cap < need) {
		/* Growing keeps the pages already touched; the rest is only address space. */
		void *p = mremap(h, h->cap, need, MREMAP_MAYMOVE);

		if (p == MAP_FAILED) {
			munmap(h, h->cap);
			h = NULL;
		} else {
			h = p;
			h->cap = need;
		}
	}
	if (!h)
		h = buf_map(need);
	if (!h)
		return NULL;
	if (h->used < len)
		h->used = len;
	return (char *)h + BUF_HDR;
}

void be_buf_free(void *p)
{
	struct buf_hdr *h, *drop = NULL;

	if (!p)
		return;
	if (((uint64_t *)p)[-1] == BUF_HEAP) {
		free((uint64_t *)p - 2);
		return;
	}
	if (((uint64_t *)p)[-1] == BUF_ALIGNED) {
		free((char *)p - BUF_HDR);
		return;
	}
	h = (struct buf_hdr *)((char *)p - BUF_HDR);
	pthread_mutex_lock(&pool.lock);
	if (pool.n < BUF_IDLE_N && pool.bytes + h->used <= BUF_IDLE_MAX) {
		pool.idle[pool.n++] = h;
		pool.bytes += h->used;
	} else {
		drop = h;
	}
	pthread_mutex_unlock(&pool.lock);
	if (drop)
		munmap(drop, drop->cap);
}

/* ---- paths beneath a directory ---- */

int be_open_beneath(int dirfd, const char *path, int flags, mode_t mode, int *out)
{
	struct open_how how = {
		.flags = (uint64_t)(unsigned)flags,
		/* openat2() refuses a mode without O_CREAT or O_TMPFILE, unlike openat(). */
		.mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	long fd;
	int tries = 0;

	/* EAGAIN: the kernel saw a rename race it could not rule out an escape through. */
	do
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && (errno == EINTR || errno == EAGAIN) && ++tries < 16);
	if (fd < 0)
		return errno;
	*out = (int)fd;
	return 0;
}

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)

/* mkdir -p of dir beneath dirfd, walking one component at a time from dirfd itself. */
static int mkdirs_beneath(int dirfd, char *dir, enum be_parent_flags flags, mode_t mode,
			  int *out)
{
	char *p = dir, *end, c;
	int fd = -1, nfd, err, made;

	err = be_open_beneath(dirfd, ".", DIR_FLAGS, 0, &fd);
	for (; !err; p = end + 1) {
		end = strchrnul(p, '/');
		c = *end;
		*end = '\0';
		/* mkdirat() never follows a symbolic link: one in the way is EEXIST, then ELOOP. */
		made = mkdirat(fd, p, mode) == 0;
		if (!made && errno != EEXIST)
			err = errno;
		/* The new directory's name lives in its parent: make it durable. */
		if (!err && made && (flags & BE_PARENT_DURABLE) && fsync(fd) < 0)
			err = errno;
		if (!err)
			err = be_open_beneath(fd, p, DIR_FLAGS, 0, &nfd);
		*end = c;
		if (err)
			break;
		close(fd);
		fd = nfd;
		if (!c) {
			*out = fd;
			return 0;
		}
	}
	if (fd >= 0)
		close(fd);
	return err;
}

int be_open_parent_beneath(int dirfd, const char *path, enum be_parent_flags flags, mode_t mode,
			   int *out, const char **base)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int err;

	*base = slash ? slash + 1 : path;
	if (!slash)
		return be_open_beneath(dirfd, ".", DIR_FLAGS, 0, out);
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return ENOMEM;
	err = be_open_beneath(dirfd, dir, DIR_FLAGS, 0, out);
	if (err == ENOENT && (flags & BE_PARENT_CREATE))
		err = mkdirs_beneath(dirfd, dir, flags, mode, out);
	free(dir);
	return err;
}

void *be_grow(void *v, size_t n, size_t *cap, size_t elem)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return v;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap <= n)
		ncap *= 2;
	if (ncap > SIZE_MAX / elem)
		return NULL;
	nv = realloc(v, ncap * elem);
	if (nv)
		*cap = ncap;
	return nv;
}

int be_str_add(struct be_str *b, const void *p, size_t n)
{
	char *ns = be_grow(b->s, b->len + n, &b->cap, 1);

	if (!ns)
		return ENOMEM;
	b->s = ns;
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

void be_str_release(struct be_str *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

/* ---- lowercase hex ---- */

void be_hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int be_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen != 2 * n)
		return EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
