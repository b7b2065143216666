/* SPDX-License-Identifier: MIT */
/*
 * The local leaf: a store in a directory. Key "a/b/c" is the file <root>/a/b/c. Writes go
 * to a temp file ".tmp.<random>" next to the target, are fsync'ed, then renamed (put) or
 * hard-linked (put_new, which fails with EEXIST when the key exists) into place, so readers
 * see an object whole or not at all. Every call works relative to one directory fd opened at
 * creation; nothing else is shared, so the ops are thread-safe without locks.
 *
 * The daemon runs as root and the store directory may be writable by others: a key is
 * resolved beneath the root without following any symbolic link (be_open_beneath(), the
 * parent directory first, then *at() calls relative to it), so a link planted at, say,
 * refs/p/a cannot make a write or delete land outside the store. Such a key answers ELOOP
 * with a log line; list() skips links and never descends through one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <syslog.h>
#include <unistd.h>

#include "backend.h"
#include "backend_int.h"

#define TMP_PREFIX ".tmp."

struct be_local {
	struct be be;
	int rootfd;
	char *root; /* our copy, for log lines */
};

static struct be_local *to_local(struct be *be)
{
	return (struct be_local *)be;
}

/*
 * Keys come from our own code, but a bad one must not escape the root: refuse empty keys,
 * absolute keys, empty, "." and ".." components, and components that look like our temp
 * files (list() hides those).
 */
static int key_check(const char *key)
{
	const char *p = key, *end;
	size_t n;

	if (!key || !*key || *key == '/')
		return EINVAL;
	for (;;) {
		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if (n == 0 || n > NAME_MAX)
			return EINVAL;
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return EINVAL;
		if (n >= sizeof(TMP_PREFIX) - 1 && !memcmp(p, TMP_PREFIX, sizeof(TMP_PREFIX) - 1))
			return EINVAL;
		if (!*end)
			return 0;
		p = end + 1;
	}
}

/* A missing parent (ENOTDIR: a component is a file) also means "no such object". */
static int missing(int err)
{
	return err == ENOENT || err == ENOTDIR;
}

/*
 * What a resolution error of key means to the caller: a symbolic link on the key's path
 * (ELOOP from be_open_beneath()) is refused with a log line naming the key, since it could
 * lead a write or delete outside the store.
 */
static int resolve_err(struct be_local *l, const char *what, const char *key, int err)
{
	if (err == ELOOP || err == EXDEV)
		log_msg(LOG_ERR, "local store %s: cannot %s %s: a symbolic link on its path "
				 "(not followed)", l->root, what, key);
	return err;
}

/*
 * The last component of a key, base in directory dirfd, before it is replaced or removed:
 * renameat() and unlinkat() would act on a symbolic link there rather than follow it, but a
 * link is still not an object of ours, so the op is refused the same way (ELOOP). 0 when
 * absent or anything else.
 */
static int check_final(struct be_local *l, int dirfd, const char *base, const char *what,
		       const char *key)
{
	struct stat st;

	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return resolve_err(l, what, key, ELOOP);
	return 0;
}

/* Creates and fills "<dirfd>/.tmp.<random>" (synced unless lazy); its name goes to tmp. */
static int write_temp(int dirfd, const void *buf, size_t len, int lazy, char tmp[32])
{
	uint64_t r;
	int fd = -1, err, tries;

	for (tries = 0;; tries++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return errno ? errno : EIO;
		snprintf(tmp, 32, TMP_PREFIX "%016llx", (unsigned long long)r);
		err = be_open_beneath(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666,
				      &fd);
		if (!err)
			break;
		if (err != EEXIST || tries > 8)
			return err;
	}
	err = be_write_direct(fd, buf, len);
	if (!err && !lazy && fsync(fd) < 0)
		err = errno;
	if (close(fd) < 0 && !err)
		err = errno;
	if (err)
		unlinkat(dirfd, tmp, 0);
	return err;
}

enum store_how { STORE_PUT, STORE_NEW, STORE_LAZY };

static int local_store(struct be *be, const char *key, const void *buf, size_t len,
		       enum store_how how)
{
	struct be_local *l = to_local(be);
	const char *base;
	char tmp[32], eb[128];
	int dirfd = -1, err;

	err = key_check(key);
	if (err)
		return err;
	/* mkdir -p, fsync'ing each new directory's parent: a new name must survive a crash. */
	err = be_open_parent_beneath(l->rootfd, key, BE_PARENT_CREATE | BE_PARENT_DURABLE, 0777,
				     &dirfd, &base);
	if (err) {
		resolve_err(l, "write", key, err);
		goto out;
	}
	if (how != STORE_NEW) {
		err = check_final(l, dirfd, base, "write", key);
		if (err)
			goto out;
	}
	err = write_temp(dirfd, buf, len, how == STORE_LAZY, tmp);
	if (err)
		goto out;
	if (how == STORE_NEW) {
		/* link(2) fails with EEXIST when the name exists: an atomic create-if-absent. */
		if (linkat(dirfd, tmp, dirfd, base, 0) < 0)
			err = errno;
		unlinkat(dirfd, tmp, 0);
		if (err == EEXIST && check_final(l, dirfd, base, "write", key))
			err = ELOOP;
	} else if (renameat(dirfd, tmp, dirfd, base) < 0) {
		err = errno;
		unlinkat(dirfd, tmp, 0);
	}
	if (err)
		goto out;
	/* Make the new name durable too: a version allocated by put_new must survive a crash
	 * (a lazy put waits for local_flush()). */
	if (how != STORE_LAZY && fsync(dirfd) < 0)
		err = errno;
out:
	if (err && err != EEXIST && err != ELOOP && err != EXDEV)
		log_msg(LOG_ERR, "local store %s: cannot write %s: %s", l->root, key,
			strerror_r(err, eb, sizeof(eb)));
	if (dirfd >= 0)
		close(dirfd);
	return err;
}

static int local_put(struct be *be, const char *key, const void *buf, size_t len)
{
	return local_store(be, key, buf, len, STORE_PUT);
}

static int local_put_new(struct be *be, const char *key, const void *buf, size_t len)
{
	return local_store(be, key, buf, len, STORE_NEW);
}

static int local_put_lazy(struct be *be, const char *key, const void *buf, size_t len)
{
	return local_store(be, key, buf, len, STORE_LAZY);
}

/* One syncfs() of the store's filesystem makes the lazy puts before it durable: their
 * bytes, and their names in their folders. */
static int local_flush(struct be *be)
{
	struct be_local *l = to_local(be);
	char eb[128];
	int err, fd = openat(l->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* not O_PATH */

	if (fd >= 0 && syncfs(fd) == 0) {
		close(fd);
		return 0;
	}
	err = errno;
	if (fd >= 0)
		close(fd);
	log_msg(LOG_ERR, "local store %s: cannot sync: %s", l->root,
		strerror_r(err, eb, sizeof(eb)));
	return err;
}

static int local_get(struct be *be, const char *key, uint64_t off, size_t len, void *buf,
		     size_t *got)
{
	struct be_local *l = to_local(be);
	struct stat st;
	size_t done = 0;
	ssize_t n;
	int fd, err = 0;

	*got = 0;
	err = key_check(key);
	if (err)
		return err;
	/* O_NONBLOCK: a FIFO planted at a key must not hang the reader; it is no object. */
	err = be_open_beneath(l->rootfd, key, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0, &fd);
	if (err)
		return missing(err) ? ENOENT : resolve_err(l, "read", key, err);
	if (fstat(fd, &st) < 0) {
		err = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = ENOENT;
		goto out;
	}
	if (off >= (uint64_t)st.st_size)
		goto out;
	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			goto out;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
out:
	close(fd);
	return err;
}

static int local_head(struct be *be, const char *key, uint64_t *size)
{
	struct be_local *l = to_local(be);
	struct stat st;
	int fd, err;

	err = key_check(key);
	if (err)
		return err;
	err = be_open_beneath(l->rootfd, key, O_PATH | O_CLOEXEC, 0, &fd);
	if (err)
		return missing(err) ? ENOENT : resolve_err(l, "stat", key, err);
	if (fstat(fd, &st) < 0)
		err = errno;
	close(fd);
	if (err)
		return err;
	if (!S_ISREG(st.st_mode))
		return ENOENT;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int local_del(struct be *be, const char *key)
{
	struct be_local *l = to_local(be);
	const char *base;
	int dirfd, err;

	err = key_check(key);
	if (err)
		return err;
	err = be_open_parent_beneath(l->rootfd, key, 0, 0, &dirfd, &base);
	if (err)
		return missing(err) ? 0 : resolve_err(l, "delete", key, err);
	err = check_final(l, dirfd, base, "delete", key);
	/* Empty parent directories stay; they cost nothing and avoid racing with a put. */
	if (!err && unlinkat(dirfd, base, 0) < 0 && !missing(errno) && errno != EISDIR)
		err = errno;
	close(dirfd);
	return err;
}

/* ---- list ---- */

struct ent {
	char *sortkey; /* name, plus '/' for a directory */
	uint64_t size;
	int64_t mtime;
	int is_dir;
};

struct walk {
	struct be_local *l;
	be_list_fn *fn;
	void *arg;
	char *path; /* the key being built */
	size_t cap;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	return strcmp(x->sortkey, y->sortkey);
}

static int path_reserve(struct walk *w, size_t need)
{
	char *p;
	size_t cap;

	if (need <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(w->path, cap);
	if (!p)
		return ENOMEM;
	w->path = p;
	w->cap = cap;
	return 0;
}

/* Reads one directory's matching entries, so that only one fd is open at a time. */
static int read_dir(struct walk *w, const char *dir, const char *name_prefix,
		    struct ent **out, size_t *count)
{
	struct ent *ents = NULL, *t;
	size_t n = 0, cap = 0, plen = strlen(name_prefix);
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	int fd, err = 0, is_dir;

	/* Opened from the root each time, so that no symbolic link is followed on the way. */
	err = be_open_beneath(w->l->rootfd, *dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC,
			      0, &fd);
	if (err == ELOOP || err == EXDEV) {
		log_msg(LOG_WARNING, "local store %s: not listing %s: a symbolic link on its path",
			w->l->root, dir);
		err = 0;
		goto out;
	}
	if (err) {
		err = missing(err) ? 0 : err;
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		err = errno;
		close(fd);
		goto out;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			err = errno;
			break;
		}
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (!strncmp(de->d_name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1))
			continue;
		if (strncmp(de->d_name, name_prefix, plen))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) /* deleted meanwhile */
				continue;
			err = errno;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			is_dir = 1;
		} else if (S_ISREG(st.st_mode)) {
			is_dir = 0;
		} else {
			/* Never an object, and a link is never followed into another tree. */
			log_msg(LOG_WARNING, "local store %s: skipping %s%s%s: %s, not an object",
				w->l->root, dir, *dir ? "/" : "", de->d_name,
				S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file");
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			t = realloc(ents, cap * sizeof(*ents));
			if (!t) {
				err = ENOMEM;
				break;
			}
			ents = t;
		}
		if (asprintf(&ents[n].sortkey, "%s%s", de->d_name, is_dir ? "/" : "") < 0) {
			err = ENOMEM;
			break;
		}
		ents[n].size = (uint64_t)st.st_size;
		ents[n].mtime = (int64_t)st.st_mtime;
		ents[n].is_dir = is_dir;
		n++;
	}
	/*
	 * Sorting "name/" for directories yields the byte order of whole keys: every key below
	 * directory "a" starts with "a/", so it sorts after file "a-b" and before file "a0".
	 */
	if (!err && n)
		qsort(ents, n, sizeof(*ents), ent_cmp);
out:
	if (d)
		closedir(d);
	if (err) {
		while (n)
			free(ents[--n].sortkey);
		free(ents);
		ents = NULL;
	}
	*out = ents;
	*count = n;
	return err;
}

/* Lists directory w->path[0..dlen) ("" is the root), entries whose name starts with np. */
static int walk_dir(struct walk *w, size_t dlen, const char *np)
{
	struct ent *ents = NULL;
	size_t n = 0, i, klen;
	int err;

	w->path[dlen] = '\0';
	err = read_dir(w, w->path, np, &ents, &n);
	if (err)
		return err;
	for (i = 0; i < n && !err; i++) {
		klen = strlen(ents[i].sortkey);
		err = path_reserve(w, dlen + klen + 2);
		if (err)
			break;
		if (dlen)
			w->path[dlen] = '/';
		memcpy(w->path + dlen + !!dlen, ents[i].sortkey, klen + 1);
		if (ents[i].is_dir) {
			w->path[dlen + !!dlen + klen - 1] = '\0'; /* drop the sort '/' */
			err = walk_dir(w, dlen + !!dlen + klen - 1, "");
		} else {
			err = w->fn(w->arg, w->path, ents[i].size, ents[i].mtime);
		}
	}
	for (i = 0; i < n; i++)
		free(ents[i].sortkey);
	free(ents);
	return err;
}

static int local_list(struct be *be, const char *prefix, be_list_fn *fn, void *arg)
{
	struct walk w = { .l = to_local(be), .fn = fn, .arg = arg };
	const char *slash = strrchr(prefix, '/');
	size_t dlen = slash ? (size_t)(slash - prefix) : 0;
	int err;

	if (*prefix == '/')
		return EINVAL;
	w.path = strndup(prefix, dlen);
	if (!w.path)
		return ENOMEM;
	w.cap = dlen + 1;
	/* The directory part must be a valid key itself, so that ".." cannot escape root. */
	if (dlen) {
		err = key_check(w.path);
		if (err)
			goto out;
	}
	err = walk_dir(&w, dlen, slash ? slash + 1 : prefix);
out:
	free(w.path);
	return err;
}

static void local_destroy(struct be *be)
{
	struct be_local *l = to_local(be);

	close(l->rootfd);
	free(l->root);
	free(l);
}

static const struct be_ops local_ops = {
	.name = "local",
	.get = local_get,
	.put = local_put,
	.put_new = local_put_new,
	.put_lazy = local_put_lazy,
	.flush = local_flush,
	.head = local_head,
	.del = local_del,
	.list = local_list,
	.destroy = local_destroy,
};

int be_local_create(const struct be_local_conf *c, struct be **out)
{
	struct be_local *l;
	int fd, err;

	if (!c || !c->root || !*c->root)
		return EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return ENOMEM;
	l->rootfd = -1;
	l->root = strdup(c->root);
	if (!l->root) {
		err = ENOMEM;
		goto fail;
	}
	/* The root itself may be a link (a store moved to another disk); nothing below it. */
	l->rootfd = open(c->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (l->rootfd < 0) {
		err = errno;
		log_msg(LOG_ERR, "local store %s: %s", c->root, strerror(err));
		goto fail;
	}
	err = be_open_beneath(l->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &fd);
	if (err) {
		log_msg(LOG_ERR, "local store %s: %s%s", c->root, strerror(err),
			err == ENOSYS ? " (openat2() needs Linux 5.6 or later)" : "");
		goto fail;
	}
	close(fd);
	l->be.ops = &local_ops;
	l->be.inner = NULL;
	*out = &l->be;
	return 0;
fail:
	if (l->rootfd >= 0)
		close(l->rootfd);
	free(l->root);
	free(l);
	return err;
}
