/* SPDX-License-Identifier: MIT */
/*
 * The cache layer: a size-bounded local copy of the immutable objects of a store (keys under
 * "chunks/", and packs "packs/<hh>/<name>.pack" of format 2, cached whole). Layout and policy are described in docs/cache.md; in short:
 *
 * - Key "chunks/ab/abcd..." is the file <dir>/chunks/ab/abcd...; fetches are written to
 *   "<dir>/.tmp.<pid>.<seq>" and renamed into place, so a cached file is always whole.
 * - The index (hash table + LRU list) lives in memory under one mutex; it is rebuilt from
 *   dir at create, with file mtimes as the initial recency order.
 * - A miss registers a struct fetch for its key; later misses on that key wait on it and
 *   read the fetched temp file through the same fd, so one download serves them all.
 * - Up to MAX_OPEN_FDS cached files stay open, so a hit is a pread and nothing else.
 * - Cached files are opened, installed and unlinked without following symbolic links
 *   (be_open_beneath()), so a link planted in dir cannot make the daemon, often root,
 *   write or unlink outside it; a key whose path holds one is simply not cached.
 *
 * Lifetime of a struct cobj: the index holds it while !gone; readers and evictors hold refs.
 * It is freed (and its fd closed) once it is out of the index and the last ref is dropped,
 * so eviction never pulls a file out from under a pread: unlinking keeps the inode alive.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <syslog.h>
#include <unistd.h>

#include "backend.h"
#include "backend_int.h"

#define CACHED_PREFIX	   "chunks/"
#define TMP_PREFIX	   ".tmp."
#define FETCH_PIECE	   ((size_t)4 << 20)	/* bytes per inner get during a fetch */
#define DEFAULT_MAX_BYTES  ((uint64_t)10 << 30) /* 10 GiB */
#define DEFAULT_FREE_SHARE 10			/* ... but at most 1/10 of the free space */
#define MAX_OPEN_FDS	   64
#define MAX_KEY_LEN	   1024
#define MAX_SCAN_DEPTH	   16
#define PACK_SEQ_SLOTS	   64
#define PACK_SEQ_GAP	   ((uint64_t)256 << 10) /* "in order": at most this past the end */
#define RANGE_SUFFIX	   ".f/"			/* <pack key>.f/<off>-<len>: frames */

struct cobj {
	char *key;
	uint64_t size;
	struct cobj *hnext;    /* hash chain; the victim chain once evicted */
	TAILQ_ENTRY(cobj) lru; /* recency, most recent first */
	TAILQ_ENTRY(cobj) fdl; /* objects holding an open fd, most recent first */
	int fd;		       /* -1 when closed */
	int in_fds;	       /* on the fdl list */
	int gone;	       /* out of the index: freed at the last unref */
	unsigned refs;
};

TAILQ_HEAD(cobj_list, cobj);

/* One download in flight. Fields below done are written once, before done is set. */
struct fetch {
	char *key;
	/* What to copy from inner: [base, base + limit) of src (a pack's frames), or, with
	 * src NULL, all of key. */
	char *src;
	uint64_t base, limit;
	struct fetch *next;
	pthread_cond_t cv;
	unsigned refs;
	int dropped; /* the key was deleted or replaced meanwhile: do not keep the result */
	int done;
	int err;
	int local; /* err is ours (temp file, disk), not inner's: callers bypass the cache */
	int fd;	   /* the fetched bytes, readable even when the file was not kept */
	uint64_t size;
};

struct cache {
	struct be be;
	char *dir;
	int dirfd;
	uint64_t max_bytes;
	pthread_mutex_t lock;
	struct cobj **buckets;
	size_t nbuckets;
	struct cobj_list lru;
	struct cobj_list fds;
	unsigned nfds;
	struct fetch *fetches;
	/* Bytes of indexed objects plus bytes reserved by fetches about to be stored. */
	uint64_t bytes;
	uint64_t count, hits, misses, evictions;
	unsigned tmp_seq;
	int warned;
	/* Where the last ranged miss of recent packs ended: a miss that starts there (a reader
	 * going through the pack's frames in order) fetches the whole pack. */
	struct {
		size_t hash;
		uint64_t end;
	} seq[PACK_SEQ_SLOTS];
	unsigned seq_next;
};

static const struct be_ops cache_ops;

static int is_pack(const char *key)
{
	size_t n = strlen(key);

	return !strncmp(key, BE_KEY_PACKS, strlen(BE_KEY_PACKS)) && n > 5 &&
	       !strcmp(key + n - 5, ".pack");
}

static struct cache *to_cache(struct be *be)
{
	return (struct cache *)be;
}

/*
 * Only keys that map to a safe relative path below dir are cached: "chunks/" or a pack (or
 * its frames, below) followed by non-empty components that do not start with '.' (which
 * also rules out ".", ".." and our temp files). Anything else simply passes through.
 */
static int cacheable(const char *key)
{
	const char *p, *end;
	size_t n;

	const char *r = strstr(key, ".pack" RANGE_SUFFIX);

	/* A pack, or frames of one (pack_get()): "<pack key>.f/<off>-<len>". */
	if (!strncmp(key, BE_KEY_PACKS, strlen(BE_KEY_PACKS)) && r &&
	    strspn(r + 8, "0123456789-") != strlen(r + 8))
		return 0;
	if (strncmp(key, CACHED_PREFIX, sizeof(CACHED_PREFIX) - 1) &&
	    (strncmp(key, BE_KEY_PACKS, strlen(BE_KEY_PACKS)) ||
	     (strcmp(key + strlen(key) - strlen(".pack"), ".pack") && !r)))
		return 0;
	if (strlen(key) >= MAX_KEY_LEN)
		return 0;
	for (p = key;; p = end + 1) {
		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if (n == 0 || n > NAME_MAX || p[0] == '.')
			return 0;
		if (!*end)
			return 1;
	}
}

/* ---- index: hash table, LRU list, open fds; all under c->lock ---- */

static size_t key_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 32));
}

static struct cobj *index_find(struct cache *c, const char *key)
{
	struct cobj *o;

	for (o = c->buckets[key_hash(key) & (c->nbuckets - 1)]; o; o = o->hnext)
		if (!strcmp(o->key, key))
			return o;
	return NULL;
}

/* Doubles the table when it gets full; on ENOMEM chains just get longer. */
static void index_grow(struct cache *c)
{
	struct cobj **nb, *o, *next;
	size_t n = c->nbuckets * 2, i, h;

	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < c->nbuckets; i++) {
		for (o = c->buckets[i]; o; o = next) {
			next = o->hnext;
			h = key_hash(o->key) & (n - 1);
			o->hnext = nb[h];
			nb[h] = o;
		}
	}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = n;
}

/* Indexes o as the most recently used object (the caller accounted its bytes). */
static void obj_add(struct cache *c, struct cobj *o)
{
	size_t h;

	if (c->count >= c->nbuckets)
		index_grow(c);
	h = key_hash(o->key) & (c->nbuckets - 1);
	o->hnext = c->buckets[h];
	c->buckets[h] = o;
	TAILQ_INSERT_HEAD(&c->lru, o, lru);
	c->count++;
}

static struct cobj *obj_new(const char *key, uint64_t size)
{
	struct cobj *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->key = strdup(key);
	if (!o->key) {
		free(o);
		return NULL;
	}
	o->size = size;
	o->fd = -1;
	return o;
}

static void obj_free(struct cobj *o)
{
	if (o->fd >= 0)
		close(o->fd);
	free(o->key);
	free(o);
}

static void obj_put(struct cache *c, struct cobj *o)
{
	if (--o->refs == 0 && o->gone)
		obj_free(o);
}

/*
 * Takes o out of the index and of the byte count. Its file is the caller's to unlink; the
 * caller holds a ref (or o is freed by whoever drops the last one).
 */
static void obj_forget(struct cache *c, struct cobj *o)
{
	struct cobj **pp = &c->buckets[key_hash(o->key) & (c->nbuckets - 1)];

	while (*pp != o)
		pp = &(*pp)->hnext;
	*pp = o->hnext;
	o->hnext = NULL;
	TAILQ_REMOVE(&c->lru, o, lru);
	if (o->in_fds) {
		TAILQ_REMOVE(&c->fds, o, fdl);
		o->in_fds = 0;
		c->nfds--;
	}
	c->bytes -= o->size;
	c->count--;
	o->gone = 1;
}

/* Closes the least recently used idle fds beyond MAX_OPEN_FDS. */
static void fds_trim(struct cache *c)
{
	struct cobj *o, *prev;

	for (o = TAILQ_LAST(&c->fds, cobj_list); o && c->nfds > MAX_OPEN_FDS; o = prev) {
		prev = TAILQ_PREV(o, cobj_list, fdl);
		if (o->refs)
			continue;
		TAILQ_REMOVE(&c->fds, o, fdl);
		o->in_fds = 0;
		c->nfds--;
		close(o->fd);
		o->fd = -1;
	}
}

/*
 * A ref on key's cached object with its file open, marked most recently used. ENOENT when
 * not cached (an indexed file that vanished is forgotten); another errno when the file
 * cannot be opened.
 */
static int obj_lookup(struct cache *c, const char *key, struct cobj **out)
{
	struct cobj *o = index_find(c, key);
	int fd, err;

	if (!o)
		return ENOENT;
	if (o->fd < 0) {
		/* Under the lock, so that an eviction cannot slip between lookup and open. */
		err = be_open_beneath(c->dirfd, key, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0, &fd);
		if (err) {
			/* A file that turned into a link is no copy of ours either. */
			if (err == ENOENT || err == ENOTDIR || err == ELOOP) {
				log_msg(LOG_DEBUG, "cache %s: %s vanished, refetching", c->dir,
					key);
				o->refs++;
				obj_forget(c, o);
				obj_put(c, o);
				err = ENOENT;
			}
			return err;
		}
		o->fd = fd;
	} else if (o->in_fds) {
		TAILQ_REMOVE(&c->fds, o, fdl);
		o->in_fds = 0;
		c->nfds--;
	}
	TAILQ_INSERT_HEAD(&c->fds, o, fdl);
	o->in_fds = 1;
	c->nfds++;
	o->refs++;
	fds_trim(c);
	TAILQ_REMOVE(&c->lru, o, lru);
	TAILQ_INSERT_HEAD(&c->lru, o, lru);
	*out = o;
	return 0;
}

/* Unlinks key's cached file, through no symbolic link on its path (a link itself goes). */
static void cache_unlink(struct cache *c, const char *key)
{
	const char *base;
	int fd;

	if (be_open_parent_beneath(c->dirfd, key, 0, 0, &fd, &base))
		return;
	unlinkat(fd, base, 0);
	close(fd);
}

/*
 * Evicts least recently used objects until need more bytes fit under the bound. Victims
 * leave the index with a ref held and are chained on *victims for unlink_victims(), which
 * the caller runs without the lock. ENOSPC when even an empty index leaves no room (other
 * fetches hold reservations).
 */
static int make_room(struct cache *c, uint64_t need, struct cobj **victims)
{
	struct cobj *o;

	if (need > c->max_bytes)
		return ENOSPC;
	while (c->bytes > c->max_bytes - need) {
		o = TAILQ_LAST(&c->lru, cobj_list);
		if (!o)
			return ENOSPC;
		o->refs++;
		obj_forget(c, o);
		o->hnext = *victims;
		*victims = o;
		c->evictions++;
		log_msg(LOG_DEBUG, "cache %s: evicting %s (%" PRIu64 " bytes)", c->dir, o->key,
			o->size);
	}
	return 0;
}

/*
 * Called without the lock. Should a new copy of a victim's key be stored between its
 * eviction and this unlink, the new file goes too; obj_lookup() then finds it missing and
 * the next read fetches it again.
 */
static void unlink_victims(struct cache *c, struct cobj *victims)
{
	struct cobj *o, *next;

	if (!victims)
		return;
	for (o = victims; o; o = o->hnext)
		cache_unlink(c, o->key);
	pthread_mutex_lock(&c->lock);
	for (o = victims; o; o = next) {
		next = o->hnext;
		obj_put(c, o);
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- fetches ---- */

static struct fetch *fetch_find(struct cache *c, const char *key)
{
	struct fetch *f;

	for (f = c->fetches; f; f = f->next)
		if (!strcmp(f->key, key))
			return f;
	return NULL;
}

static struct fetch *fetch_new(struct cache *c, const char *key)
{
	struct fetch *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->key = strdup(key);
	if (!f->key || pthread_cond_init(&f->cv, NULL)) {
		free(f->key);
		free(f);
		return NULL;
	}
	f->fd = -1;
	f->refs = 1;
	f->next = c->fetches;
	c->fetches = f;
	return f;
}

static void fetch_put(struct fetch *f)
{
	if (--f->refs)
		return;
	if (f->fd >= 0)
		close(f->fd);
	pthread_cond_destroy(&f->cv);
	free(f->key);
	free(f->src);
	free(f);
}

/*
 * Serves [off, off + len) of a size-byte file. A file shorter than its recorded size is
 * damaged: EIO.
 */
static int read_range(int fd, uint64_t size, uint64_t off, size_t len, void *buf, size_t *got)
{
	size_t done = 0;
	ssize_t n;

	*got = 0;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			return EIO;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

static int tmp_create(struct cache *c, char *name, size_t namelen, int *out)
{
	unsigned seq;
	int fd, tries;

	for (tries = 0; tries < 16; tries++) {
		seq = __atomic_add_fetch(&c->tmp_seq, 1, __ATOMIC_RELAXED);
		snprintf(name, namelen, TMP_PREFIX "%ld.%u", (long)getpid(), seq);
		fd = openat(c->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			*out = fd;
			return 0;
		}
		if (errno != EEXIST) /* EEXIST: a leftover of an earlier process with our pid */
			return errno;
	}
	return EEXIST;
}

/*
 * Copies key from inner into fd. The first get goes into the leader's own buffer (first,
 * flen bytes, when it asked from offset 0), so a chunk read whole costs one request and no
 * copy back out of the file; the rest comes FETCH_PIECE bytes at a time. *fgot: the bytes
 * that landed in first. *local: the error is ours.
 */
static int fetch_into(struct cache *c, const struct fetch *f, int fd, void *first, size_t flen,
		      size_t *fgot, uint64_t *size, int *local)
{
	const char *key = f->src ? f->src : f->key;
	uint64_t off = 0;
	size_t got, want;
	void *buf = NULL, *to;
	int err;

	*fgot = 0;
	for (;;) {
		if (first && off == 0) {
			to = first;
			want = flen;
		} else {
			if (!buf)
				buf = be_buf_alloc(FETCH_PIECE);
			if (!buf) {
				*local = 1;
				err = ENOMEM;
				break;
			}
			to = buf;
			want = FETCH_PIECE;
		}
		if (f->src && want > f->limit - off)
			want = (size_t)(f->limit - off);
		if (!want) {
			err = 0;
			break; /* the whole range is in */
		}
		err = be_get(c->be.inner, key, f->base + off, want, to, &got);
		if (err)
			break;
		if (got > want) {
			err = EIO;
			break;
		}
		if (to == first)
			*fgot = got;
		err = be_write_direct(fd, to, got);
		if (err) {
			*local = 1;
			break;
		}
		off += got;
		if (got < want)
			break;
	}
	be_buf_free(buf);
	*size = off;
	return err;
}

/* Renames temp file tmp (in dir) to key's file, making its directories as needed. */
static int tmp_install(struct cache *c, const char *tmp, const char *key)
{
	const char *base;
	int fd, err;

	err = be_open_parent_beneath(c->dirfd, key, BE_PARENT_CREATE, 0700, &fd, &base);
	if (err)
		return err;
	/* A link in the last component is replaced, never followed. */
	err = renameat(c->dirfd, tmp, fd, base) < 0 ? errno : 0;
	close(fd);
	return err;
}

static void warn_local(struct cache *c, const char *what, const char *key, int err)
{
	char eb[128];
	int prio = __atomic_exchange_n(&c->warned, 1, __ATOMIC_RELAXED) ? LOG_DEBUG : LOG_WARNING;

	log_msg(prio, "cache %s: cannot %s %s, reading through: %s", c->dir, what, key,
		strerror_r(err, eb, sizeof(eb)));
}

/* Under c->lock: f is done (its result fields set): off the list, followers woken. */
static void fetch_done(struct cache *c, struct fetch *f)
{
	f->done = 1;
	if (c->fetches == f) {
		c->fetches = f->next;
	} else {
		struct fetch *p = c->fetches;

		while (p->next != f)
			p = p->next;
		p->next = f->next;
	}
	pthread_cond_broadcast(&f->cv);
}

/* The read that bypasses the cache: of key itself, or of its source range. */
static int inner_get(struct be *be, const char *key, const char *src, uint64_t base,
		     uint64_t limit, uint64_t off, size_t len, void *buf, size_t *got)
{
	if (!src)
		return be_get(be->inner, key, off, len, buf, got);
	*got = 0;
	if (off >= limit)
		return 0;
	if (len > limit - off)
		len = (size_t)(limit - off);
	return be_get(be->inner, src, base + off, len, buf, got);
}

/*
 * The leader's half of a miss: downloads f->key into a temp file, keeps it when it fits the
 * bound (evicting as needed) and publishes the outcome to the waiting followers.
 */
static void fetch_run(struct cache *c, struct fetch *f, void *first, size_t flen,
		      size_t *fgot)
{
	struct cobj *victims = NULL, *o;
	char tmp[64];
	uint64_t size = 0;
	int fd = -1, err, ierr, local = 0, keep = 0, installed = 0;

	err = tmp_create(c, tmp, sizeof(tmp), &fd);
	if (err) {
		local = 1;
		warn_local(c, "create a temp file for", f->key, err);
		goto publish;
	}
	err = fetch_into(c, f, fd, first, flen, fgot, &size, &local);
	if (err) {
		if (local)
			warn_local(c, "write", f->key, err);
		unlinkat(c->dirfd, tmp, 0);
		close(fd);
		fd = -1;
		goto publish;
	}

	pthread_mutex_lock(&c->lock);
	if (!f->dropped && make_room(c, size, &victims) == 0) {
		c->bytes += size; /* reserved until published below */
		keep = 1;
	}
	pthread_mutex_unlock(&c->lock);
	unlink_victims(c, victims);
	if (keep) {
		ierr = tmp_install(c, tmp, f->key);
		if (ierr)
			warn_local(c, "store", f->key, ierr);
		else
			installed = 1;
	}
	if (!installed) /* too big, dropped or failed: serve from the unlinked temp file */
		unlinkat(c->dirfd, tmp, 0);

publish:
	pthread_mutex_lock(&c->lock);
	if (keep) {
		o = installed && !f->dropped ? obj_new(f->key, size) : NULL;
		if (o) {
			obj_add(c, o);
		} else {
			if (installed)
				cache_unlink(c, f->key);
			c->bytes -= size;
		}
	}
	f->err = err;
	f->local = local;
	f->fd = fd;
	f->size = size;
	fetch_done(c, f);
	pthread_mutex_unlock(&c->lock);
}

/* ---- ops ---- */

/* Reads [off, off + len) of the object of cache key ckey, fetching it on a miss: all of
 * ckey from inner, or with src set [base, base + limit) of inner's src. */
static int cached_get(struct cache *c, const char *key, const char *src, uint64_t base,
		      uint64_t limit, uint64_t off, size_t len, void *buf, size_t *got);

/* Under c->lock: whether key is cached whole or being fetched whole now. */
static int whole_here(struct cache *c, const char *key)
{
	struct cobj *o = NULL;
	int have = obj_lookup(c, key, &o) == 0 || fetch_find(c, key);

	if (o)
		obj_put(c, o);
	return have;
}

/* Under c->lock: whether a ranged miss of pack key at off follows the last one in order, and
 * remembers where this one ends. */
static int pack_in_order(struct cache *c, const char *key, uint64_t off, size_t len)
{
	size_t h = key_hash(key);
	int in_order = 0;
	unsigned i;

	for (i = 0; i < PACK_SEQ_SLOTS; i++)
		if (c->seq[i].hash == h)
			break;
	if (i < PACK_SEQ_SLOTS) {
		in_order = off >= c->seq[i].end && off - c->seq[i].end <= PACK_SEQ_GAP;
	} else {
		i = c->seq_next++ % PACK_SEQ_SLOTS;
		c->seq[i].hash = h;
	}
	c->seq[i].end = off + len;
	return in_order;
}

/*
 * A pack (store format 2) is 8 MiB of many chunks' frames. A reader that goes through its
 * frames in order (a sequential file, many small files written together) gets the whole pack
 * fetched and cached at its second miss; any other miss fetches and caches just the frames
 * asked for, as an object of its own (key "<pack key>.f/<off>-<len>"), so that a random 4 KiB
 * read costs one small request and, once read, its frame is in the cache (offline too).
 */
static int pack_get(struct cache *c, const char *key, uint64_t off, size_t len, void *buf,
		    size_t *got)
{
	char rkey[MAX_KEY_LEN + 64];
	int whole, n;

	pthread_mutex_lock(&c->lock);
	whole = whole_here(c, key);
	if (!whole)
		whole = pack_in_order(c, key, off, len);
	pthread_mutex_unlock(&c->lock);
	n = snprintf(rkey, sizeof(rkey), "%s" RANGE_SUFFIX "%" PRIu64 "-%zu", key, off, len);
	if (whole || !len || n < 0 || (size_t)n >= MAX_KEY_LEN)
		return cached_get(c, key, NULL, 0, 0, off, len, buf, got);
	return cached_get(c, rkey, key, off, len, 0, len, buf, got);
}

static int cache_get(struct be *be, const char *key, uint64_t off, size_t len, void *buf,
		     size_t *got)
{
	struct cache *c = to_cache(be);

	if (!cacheable(key))
		return be_get(be->inner, key, off, len, buf, got);
	if (is_pack(key))
		return pack_get(c, key, off, len, buf, got);
	return cached_get(c, key, NULL, 0, 0, off, len, buf, got);
}

/* A pack that a sequential reader will reach soon: fetched whole now, unless it is cached or
 * on its way already. Other keys are fetched whole on their first miss anyway. */
static int cache_warm(struct be *be, const char *key)
{
	struct cache *c = to_cache(be);
	size_t got;
	int have;

	if (!cacheable(key) || !is_pack(key))
		return 0;
	pthread_mutex_lock(&c->lock);
	have = whole_here(c, key);
	pthread_mutex_unlock(&c->lock);
	return have ? 0 : cached_get(c, key, NULL, 0, 0, 0, 0, NULL, &got);
}

static int cached_get(struct cache *c, const char *key, const char *src, uint64_t base,
		      uint64_t limit, uint64_t off, size_t len, void *buf, size_t *got)
{
	struct be *be = &c->be;
	struct fetch *f;
	struct cobj *o = NULL;
	size_t fgot = 0;
	int err, served = 0;

	pthread_mutex_lock(&c->lock);
	err = obj_lookup(c, key, &o);
	if (!err) {
		c->hits++;
		pthread_mutex_unlock(&c->lock);
		err = read_range(o->fd, o->size, off, len, buf, got);
		pthread_mutex_lock(&c->lock);
		if (err) {
			/* A damaged cached copy is dropped; inner still has the object. */
			if (!o->gone) {
				obj_forget(c, o);
				cache_unlink(c, key);
			}
			obj_put(c, o);
			pthread_mutex_unlock(&c->lock);
			warn_local(c, "read cached", key, err);
			return inner_get(be, key, src, base, limit, off, len, buf, got);
		}
		obj_put(c, o);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (err != ENOENT) {
		pthread_mutex_unlock(&c->lock);
		warn_local(c, "open cached", key, err);
		return inner_get(be, key, src, base, limit, off, len, buf, got);
	}

	c->misses++;
	f = fetch_find(c, key);
	if (f) {
		f->refs++;
		while (!f->done)
			pthread_cond_wait(&f->cv, &c->lock);
		pthread_mutex_unlock(&c->lock);
	} else {
		f = fetch_new(c, key);
		if (f && src) {
			f->src = strdup(src);
			f->base = base;
			f->limit = limit;
		}
		pthread_mutex_unlock(&c->lock);
		if (!f || (src && !f->src)) {
			if (f) {
				pthread_mutex_lock(&c->lock);
				f->err = ENOMEM;
				f->local = 1;
				fetch_done(c, f);
				fetch_put(f);
				pthread_mutex_unlock(&c->lock);
			}
			return inner_get(be, key, src, base, limit, off, len, buf, got);
		}
		fetch_run(c, f, off == 0 && len ? buf : NULL, len, &fgot);
		/* From offset 0, the first get already put all we asked for into buf. */
		served = off == 0 && len && !f->err;
	}

	/* f is done: its result fields no longer change. */
	if (served) {
		*got = fgot;
		err = 0;
	} else if (f->err && f->local) {
		err = inner_get(be, key, src, base, limit, off, len, buf, got);
	} else if (f->err) {
		err = f->err;
	} else {
		err = read_range(f->fd, f->size, off, len, buf, got);
		if (err) {
			warn_local(c, "read fetched", key, err);
			err = inner_get(be, key, src, base, limit, off, len, buf, got);
		}
	}
	pthread_mutex_lock(&c->lock);
	fetch_put(f);
	pthread_mutex_unlock(&c->lock);
	return err;
}

static int cache_head(struct be *be, const char *key, uint64_t *size)
{
	struct cache *c = to_cache(be);
	struct cobj *o;

	if (cacheable(key)) {
		pthread_mutex_lock(&c->lock);
		o = index_find(c, key);
		if (o)
			*size = o->size;
		pthread_mutex_unlock(&c->lock);
		if (o)
			return 0;
	}
	return be_head(be->inner, key, size);
}

/*
 * Forgets key after a write or delete went to inner. The unlink happens under the lock so
 * that it cannot hit a copy stored by a later fetch; a fetch in flight is not kept.
 */
static void cache_drop(struct cache *c, const char *key)
{
	struct fetch *f;
	struct cobj *o;

	pthread_mutex_lock(&c->lock);
	o = index_find(c, key);
	if (o) {
		o->refs++;
		obj_forget(c, o);
		cache_unlink(c, key);
		obj_put(c, o);
	}
	f = fetch_find(c, key);
	if (f)
		f->dropped = 1;
	pthread_mutex_unlock(&c->lock);
}

static int cache_put(struct be *be, const char *key, const void *buf, size_t len)
{
	int err = be_put(be->inner, key, buf, len);

	if (!err && cacheable(key))
		cache_drop(to_cache(be), key);
	return err;
}

static int cache_put_new(struct be *be, const char *key, const void *buf, size_t len)
{
	int err = be_put_new(be->inner, key, buf, len);

	if (!err && cacheable(key))
		cache_drop(to_cache(be), key);
	return err;
}

static int cache_del(struct be *be, const char *key)
{
	int err = be_del(be->inner, key);

	if (cacheable(key))
		cache_drop(to_cache(be), key);
	return err;
}

static int cache_list(struct be *be, const char *prefix, be_list_fn *fn, void *arg)
{
	return be_list(be->inner, prefix, fn, arg);
}

/* Frees the layer without touching inner. No op may be running. */
static void cache_free(struct cache *c)
{
	struct cobj *o, *next;

	for (o = TAILQ_FIRST(&c->lru); o; o = next) {
		next = TAILQ_NEXT(o, lru);
		obj_free(o);
	}
	if (c->dirfd >= 0)
		close(c->dirfd);
	pthread_mutex_destroy(&c->lock);
	free(c->buckets);
	free(c->dir);
	free(c);
}

static void cache_destroy(struct be *be)
{
	struct be *inner = be->inner;

	cache_free(to_cache(be));
	be_destroy(inner);
}

static const struct be_ops cache_ops = {
	.name = "cache",
	.get = cache_get,
	.put = cache_put,
	.put_new = cache_put_new,
	.head = cache_head,
	.del = cache_del,
	.list = cache_list,
	.warm = cache_warm,
	.destroy = cache_destroy,
};

/* ---- create: rebuild the index from dir ---- */

struct scan_ent {
	char *key;
	uint64_t size;
	struct timespec mtime;
};

struct scan {
	struct cache *c;
	struct scan_ent *v;
	size_t n, cap;
	unsigned tmps;
	char path[MAX_KEY_LEN];
};

static int scan_add(struct scan *s, const struct stat *st)
{
	struct scan_ent *t;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		t = realloc(s->v, s->cap * sizeof(*t));
		if (!t)
			return ENOMEM;
		s->v = t;
	}
	s->v[s->n].key = strdup(s->path);
	if (!s->v[s->n].key)
		return ENOMEM;
	s->v[s->n].size = (uint64_t)st->st_size;
	s->v[s->n].mtime = st->st_mtim;
	s->n++;
	return 0;
}

/*
 * Walks directory s->path[0..plen) ("." for the root): deletes temp files, recurses into
 * "chunks" and "packs" (only those, from the root) and collects the regular files that are valid keys.
 */
static int scan_dir(struct scan *s, size_t plen, int depth)
{
	struct dirent *de;
	struct stat st;
	size_t nlen;
	DIR *d;
	int fd, err = 0;

	err = be_open_beneath(s->c->dirfd, plen ? s->path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC,
			      0, &fd);
	if (err)
		return err == ENOENT || err == ENOTDIR || err == ELOOP ? 0 : err;
	d = fdopendir(fd);
	if (!d) {
		err = errno;
		close(fd);
		return err;
	}
	while (!err) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			err = errno;
			break;
		}
		if (!strncmp(de->d_name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1)) {
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				s->tmps++;
			continue;
		}
		if (de->d_name[0] == '.')
			continue;
		if (!plen && strcmp(de->d_name, "chunks") && strcmp(de->d_name, "packs"))
			continue;
		nlen = strlen(de->d_name);
		if (plen + 1 + nlen >= sizeof(s->path))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (plen)
			s->path[plen] = '/';
		memcpy(s->path + plen + !!plen, de->d_name, nlen + 1);
		if (S_ISDIR(st.st_mode) && depth < MAX_SCAN_DEPTH)
			err = scan_dir(s, plen + !!plen + nlen, depth + 1);
		else if (S_ISREG(st.st_mode) && cacheable(s->path))
			err = scan_add(s, &st);
		s->path[plen] = '\0';
	}
	closedir(d);
	return err;
}

static int scan_cmp(const void *a, const void *b)
{
	const struct scan_ent *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Indexes what an earlier run left in dir, oldest mtime least recently used. */
static int cache_scan(struct cache *c)
{
	struct scan s = { .c = c };
	struct cobj *o;
	size_t i;
	int err;

	s.path[0] = '\0';
	err = scan_dir(&s, 0, 0);
	if (err)
		goto out;
	if (s.n)
		qsort(s.v, s.n, sizeof(*s.v), scan_cmp);
	for (i = 0; i < s.n; i++) {
		o = obj_new(s.v[i].key, s.v[i].size);
		if (!o) {
			err = ENOMEM;
			goto out;
		}
		obj_add(c, o);
		c->bytes += o->size;
	}
	if (s.tmps)
		log_msg(LOG_INFO, "cache %s: removed %u leftover temp files", c->dir, s.tmps);
out:
	for (i = 0; i < s.n; i++)
		free(s.v[i].key);
	free(s.v);
	return err;
}

/* mkdir -p, for the cache directory itself. */
static int mkdir_p(const char *dir)
{
	char *copy, *p, ch;
	int err = 0;

	copy = strdup(dir);
	if (!copy)
		return ENOMEM;
	for (p = copy + 1;; p++) {
		if (*p && *p != '/')
			continue;
		if (*p == '/' && p[-1] == '/')
			continue;
		ch = *p;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			err = errno;
			break;
		}
		*p = ch;
		if (!ch)
			break;
	}
	free(copy);
	return err;
}

/*
 * The default bound: DEFAULT_MAX_BYTES, or one tenth of the space the cache may use (free
 * space plus what it holds already, so that a full cache does not shrink its own bound at
 * every restart), whichever is less.
 */
static uint64_t default_max_bytes(struct cache *c)
{
	struct statvfs sv;
	uint64_t room;

	if (fstatvfs(c->dirfd, &sv) < 0)
		return DEFAULT_MAX_BYTES;
	room = ((uint64_t)sv.f_bavail * sv.f_frsize + c->bytes) / DEFAULT_FREE_SHARE;
	return room < DEFAULT_MAX_BYTES ? room : DEFAULT_MAX_BYTES;
}

/* On failure inner stays the caller's (not destroyed), as with a failed be_*_create(). */
int be_cache_create(const struct be_cache_conf *conf, struct be *inner, struct be **out)
{
	struct cobj *victims = NULL;
	struct cache *c;
	int err;

	if (!conf || !conf->dir || !*conf->dir || !inner || !out)
		return EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return ENOMEM;
	c->dirfd = -1;
	TAILQ_INIT(&c->lru);
	TAILQ_INIT(&c->fds);
	err = pthread_mutex_init(&c->lock, NULL);
	if (err) {
		free(c);
		return err;
	}
	c->nbuckets = 1024;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	c->dir = strdup(conf->dir);
	if (!c->buckets || !c->dir) {
		err = ENOMEM;
		goto fail;
	}
	err = mkdir_p(conf->dir);
	if (err)
		goto fail_log;
	c->dirfd = open(conf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		err = errno;
		goto fail_log;
	}
	err = cache_scan(c);
	if (err)
		goto fail_log;
	c->max_bytes = conf->max_bytes ? conf->max_bytes : default_max_bytes(c);
	/* The bound may have shrunk since the last run. */
	make_room(c, 0, &victims);
	c->be.ops = &cache_ops;
	c->be.inner = inner;
	unlink_victims(c, victims);
	log_msg(LOG_DEBUG,
		"cache %s: %" PRIu64 " objects, %" PRIu64 " bytes, bound %" PRIu64 " bytes", c->dir,
		c->count, c->bytes, c->max_bytes);
	*out = &c->be;
	return 0;
fail_log:
	log_msg(LOG_ERR, "cache %s: %s", conf->dir, strerror(err));
fail:
	cache_free(c);
	return err;
}

int be_cache_stats(struct be *be, struct be_cache_stats *out)
{
	struct cache *c;

	if (!be || be->ops != &cache_ops)
		return EINVAL;
	c = to_cache(be);
	pthread_mutex_lock(&c->lock);
	out->hits = c->hits;
	out->misses = c->misses;
	out->evictions = c->evictions;
	out->bytes = c->bytes;
	out->objects = c->count;
	pthread_mutex_unlock(&c->lock);
	return 0;
}
