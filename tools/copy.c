/* SPDX-License-Identifier: MIT */
/*
 * The tree copier of get and import (tools.h, tool_copy_tree): folders and links are made by
 * the calling thread while it walks, the files are queued and copied by c->jobs threads at
 * once, and folders get their modes and times last (their files go in first, and a read-only
 * folder would refuse them).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

#define COPY_BUF (1u << 20)
#define COPY_XATTR_MAX (64u << 10)
#define COPY_NAMES (64u << 10)

struct file {
	char *src, *dst;
	struct stat st;
	int fresh; /* dst was not there before (nothing of it to take away) */
};

struct copy {
	struct tool_copy *c;
	struct file *files, *dirs; /* dirs: made, their modes and times set last */
	size_t nfiles, cap, next, ndirs, dcap;
	uint64_t bytes, done_bytes, done_files;
	pthread_mutex_t lock;
	int err; /* the first failure (reported), then everyone stops */
	time_t shown;
};

static int fail_path(struct copy *g, const char *what, const char *path, int err)
{
	pthread_mutex_lock(&g->lock);
	if (!g->err) {
		fprintf(stderr, "%sartifs %s: cannot %s %s: %s\n", g->c->progress ? "\n" : "",
			g->c->cmd, what, path, strerror(err));
		g->err = err;
	}
	pthread_mutex_unlock(&g->lock);
	return err;
}

static int is_ours(const char *name)
{
	return strncmp(name, "user.", 5) || !strncmp(name, "user.artifs.", 12);
}

/* The user.* attributes of src other than artifs' own onto dst; with c->sync, also takes
 * away those dst has and src lacks (a folder that stayed: !fresh). */
static int copy_xattrs(struct copy *g, const char *src, const char *dst, int fresh)
{
	char *names = malloc(COPY_NAMES), *val = malloc(COPY_XATTR_MAX);
	ssize_t n = names ? llistxattr(src, names, COPY_NAMES) : -1;
	int err = names && val ? 0 : fail_path(g, "copy the attributes of", src, ENOMEM);

	for (char *p = names; !err && n > 0 && p < names + n; p += strlen(p) + 1) {
		ssize_t len = is_ours(p) ? -1 : lgetxattr(src, p, val, COPY_XATTR_MAX);

		if (len >= 0 && lsetxattr(dst, p, val, (size_t)len, 0) && errno != ENOTSUP)
			err = fail_path(g, "set an attribute of", dst, errno);
	}
	n = !err && g->c->sync && !fresh ? llistxattr(dst, names, COPY_NAMES) : -1;
	for (char *p = names; !err && n > 0 && p < names + n; p += strlen(p) + 1)
		if (!is_ours(p) && lgetxattr(src, p, NULL, 0) < 0 && errno == ENODATA &&
		    lremovexattr(dst, p) && errno != ENODATA)
			err = fail_path(g, "remove an attribute of", dst, errno);
	free(names);
	free(val);
	return err;
}

/* The mode a copy of f gets. */
static mode_t mode_of(const struct copy *g, const struct file *f)
{
	return g->c->preserve ? f->st.st_mode & 07777 : (f->st.st_mode & 07777) | S_IWUSR;
}

/* Mode (unless moded: the file was made with it), attributes and times of a copied entry
 * (symlinks: times only). */
static int finish(struct copy *g, const struct file *f, int moded)
{
	const char *src = f->src, *dst = f->dst;
	const struct stat *st = &f->st;
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	int preserve = g->c->preserve;

	if (!S_ISLNK(st->st_mode) && !moded && chmod(dst, mode_of(g, f)))
		return fail_path(g, "set the mode of", dst, errno);
	if (preserve && !S_ISLNK(st->st_mode) && copy_xattrs(g, src, dst, f->fresh))
		return g->err;
	if (utimensat(AT_FDCWD, dst, ts, AT_SYMLINK_NOFOLLOW))
		return fail_path(g, "set the times of", dst, errno);
	return 0;
}

static void show(struct copy *g, int last)
{
	time_t now = time(NULL);

	if (!g->c->progress || (!last && now == g->shown))
		return;
	g->shown = now;
	fprintf(stderr, "\r%llu/%zu files, %llu/%llu MiB%s",
		(unsigned long long)g->done_files, g->nfiles,
		(unsigned long long)(g->done_bytes >> 20), (unsigned long long)(g->bytes >> 20),
		last ? "\n" : "");
}

static int copy_file(struct copy *g, const struct file *f, char *buf)
{
	int in = open(f->src, O_RDONLY | O_CLOEXEC), out = -1, err = 0;
	ssize_t n;

	if (in < 0)
		return fail_path(g, "open", f->src, errno);
	/* Made with its final mode (the umask is 0 while copying): no chmod after, one round
	 * trip fewer per file on a mount. The descriptor writes whatever the mode says. */
	out = open(f->dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_of(g, f));
	if (out < 0) {
		err = fail_path(g, "create", f->dst, errno);
		goto out;
	}
	while ((n = read(in, buf, COPY_BUF)) > 0) {
		for (ssize_t w, off = 0; off < n; off += w) {
			w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				err = fail_path(g, "write", f->dst, errno);
				goto out;
			}
		}
		pthread_mutex_lock(&g->lock);
		g->done_bytes += (uint64_t)n;
		show(g, 0);
		pthread_mutex_unlock(&g->lock);
	}
	if (n < 0)
		err = fail_path(g, "read", f->src, errno);
out:
	close(in);
	if (out >= 0 && close(out) && !err)
		err = fail_path(g, "write", f->dst, errno);
	return err ? err : finish(g, f, 1);
}

static void *worker(void *arg)
{
	struct copy *g = arg;
	char *buf = malloc(COPY_BUF);

	if (g->c->thread_start && buf && g->c->thread_start(g->c->arg))
		fail_path(g, "start copying to", g->c->dst, errno);
	for (;;) {
		struct file *f = NULL;

		pthread_mutex_lock(&g->lock);
		if (!g->err && buf && g->next < g->nfiles)
			f = &g->files[g->next++];
		else if (!buf && !g->err)
			g->err = ENOMEM;
		pthread_mutex_unlock(&g->lock);
		if (!f)
			break;
		if (copy_file(g, f, buf) == 0) {
			pthread_mutex_lock(&g->lock);
			g->done_files++;
			pthread_mutex_unlock(&g->lock);
		}
	}
	free(buf);
	return NULL;
}

/* Room for one more entry in *v (n used, *cap allocated), or NULL. */
static struct file *more(struct file **v, size_t n, size_t *cap)
{
	if (n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		struct file *nv = realloc(*v, c * sizeof(**v));

		if (!nv)
			return NULL;
		*v = nv;
		*cap = c;
	}
	return &(*v)[n];
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return (type == FTW_DP ? rmdir(path) : unlink(path)) ? errno : 0;
}

/* Removes dst (a tree, a file or a link) when it is there. */
static int rm_tree(struct copy *g, const char *dst)
{
	struct stat st;
	int err;

	if (lstat(dst, &st))
		return errno == ENOENT ? 0 : fail_path(g, "stat", dst, errno);
	if (!S_ISDIR(st.st_mode))
		return unlink(dst) ? fail_path(g, "remove", dst, errno) : 0;
	err = nftw(dst, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return err ? fail_path(g, "remove", dst, err < 0 ? errno : err) : 0;
}

/*
 * c->sync: what dst holds that src lacks goes (at the top, the artifact's @ names stay:
 * they are its versions and tags, not its files). *kept: how many entries stay.
 */
static int prune(struct copy *g, const char *src, const char *dst, int top, size_t *kept)
{
	DIR *d = opendir(dst);
	struct dirent *e;
	int err = 0;

	if (!d)
		return errno == ENOENT ? 0 : fail_path(g, "list", dst, errno);
	while (!err && (e = readdir(d))) {
		char *s, *t;
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (top && e->d_name[0] == '@'))
			continue;
		s = join(src, e->d_name);
		t = join(dst, e->d_name);
		if (!s || !t)
			err = fail_path(g, "copy", src, ENOMEM);
		else if (lstat(s, &st) && errno == ENOENT)
			err = rm_tree(g, t);
		else
			(*kept)++;
		free(s);
		free(t);
	}
	closedir(d);
	return err;
}

/*
 * Makes room for f at f->dst (c->sync, unless its folder is known to be empty: whatever is
 * there goes, except a folder where f is a folder, which stays and is made writable for
 * its owner until finish()), then makes f->dst a folder (*made = 1) or a link, or queues
 * it as a file. 0 or the failure.
 */
static int place(struct copy *g, struct file *f, int empty, int *made)
{
	struct stat old;
	int there = g->c->sync && !empty && lstat(f->dst, &old) == 0;

	*made = 0;
	if (there && (!S_ISDIR(old.st_mode) || !S_ISDIR(f->st.st_mode))) {
		if (rm_tree(g, f->dst))
			return g->err;
		there = 0;
	}
	f->fresh = !there;
	if (S_ISDIR(f->st.st_mode)) {
		if (there ? chmod(f->dst, (old.st_mode & 07777) | S_IRWXU) : mkdir(f->dst, 0700))
			return fail_path(g, "make", f->dst, errno);
		*made = 1;
	} else if (S_ISLNK(f->st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(f->src, target, sizeof(target) - 1);

		if (n < 0)
			return fail_path(g, "read the link", f->src, errno);
		target[n] = '\0';
		if (symlink(target, f->dst))
			return fail_path(g, "make the link", f->dst, errno);
		return finish(g, f, 0);
	} else if (S_ISREG(f->st.st_mode)) {
		struct file *v = more(&g->files, g->nfiles, &g->cap);

		if (!v)
			return fail_path(g, "copy", f->src, ENOMEM);
		*v = *f;
		g->nfiles++;
		g->bytes += (uint64_t)f->st.st_size;
		f->src = f->dst = NULL; /* g->files owns the names now */
	} else {
		fprintf(stderr, "%sartifs %s: %s is not a file, folder or link: left out\n",
			g->c->progress ? "\n" : "", g->c->cmd, f->src);
	}
	return 0;
}

/* Makes the folders and links under src (a folder) in dst now and lists its files for the
 * workers. fresh: dst was made by this copy (nothing to prune, no name to look up). */
static int walk(struct copy *g, const char *src, const char *dst, int top, int fresh)
{
	DIR *d;
	struct dirent *e;
	size_t kept = 0;
	int err = g->c->sync && !fresh ? prune(g, src, dst, top, &kept) : 0;

	d = err ? NULL : opendir(src);
	if (!d)
		return err ? err : fail_path(g, "list", src, errno);
	while (!err && (e = readdir(d))) {
		struct file f = { 0 };
		struct file *v = NULL;
		int made = 0;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		f.src = join(src, e->d_name);
		f.dst = join(dst, e->d_name);
		if (!f.src || !f.dst)
			err = fail_path(g, "copy", src, ENOMEM);
		else if (lstat(f.src, &f.st))
			err = fail_path(g, "stat", f.src, errno);
		else
			err = place(g, &f, fresh || !kept, &made);
		if (!err && made && !(v = more(&g->dirs, g->ndirs, &g->dcap)))
			err = fail_path(g, "copy", src, ENOMEM);
		if (!err && made) {
			*v = f;
			g->ndirs++;
			err = walk(g, v->src, v->dst, 0, v->fresh);
			continue; /* g->dirs owns the names now */
		}
		free(f.src);
		free(f.dst);
	}
	closedir(d);
	return err;
}

/* The workers copy the queued files; then the folders get their modes and times, deepest
 * first. */
static void run_workers(struct copy *g)
{
	pthread_t th[TOOL_COPY_JOBS_MAX];
	unsigned started = 0;

	for (unsigned i = 0; !g->err && i < g->c->jobs && i < (g->nfiles ? g->nfiles : 1);
	     i++, started++)
		if (pthread_create(&th[i], NULL, worker, g)) {
			fail_path(g, "start a copy thread for", g->c->dst, EAGAIN);
			break;
		}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t i = g->ndirs; !g->err && i-- > 0;)
		finish(g, &g->dirs[i], 0);
}

int tool_copy_tree(struct tool_copy *c, const char *src, const char *dst)
{
	struct copy g = { .c = c, .lock = PTHREAD_MUTEX_INITIALIZER };
	struct file top = { .src = (char *)src, .dst = (char *)dst, .fresh = !c->sync };
	mode_t mask = umask(0); /* files are made with their modes (copy_file()) */

	if (c->jobs < 1 || c->jobs > TOOL_COPY_JOBS_MAX)
		c->jobs = TOOL_COPY_JOBS_DEFAULT;
	c->dst = dst;
	if (stat(src, &top.st)) { /* the top may be a link: @latest, a tag */
		fail_path(&g, "copy", src, errno);
	} else if (S_ISREG(top.st.st_mode)) {
		g.files = &top;
		g.nfiles = 1;
		g.bytes = (uint64_t)top.st.st_size;
	} else if (!S_ISDIR(top.st.st_mode)) {
		fail_path(&g, "copy", src, EINVAL);
	} else {
		walk(&g, src, dst, 1, 0);
	}
	if (!g.err)
		run_workers(&g);
	if (!g.err && S_ISDIR(top.st.st_mode) && c->top_attrs)
		finish(&g, &top, 0);
	show(&g, 1);
	c->files = g.done_files;
	c->bytes = g.done_bytes;
	for (size_t i = 0; g.files != &top && i < g.nfiles; i++) {
		free(g.files[i].src);
		free(g.files[i].dst);
	}
	if (g.files != &top)
		free(g.files);
	for (size_t i = 0; i < g.ndirs; i++) {
		free(g.dirs[i].src);
		free(g.dirs[i].dst);
	}
	free(g.dirs);
	umask(mask);
	return g.err;
}
