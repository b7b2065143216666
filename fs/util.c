/* SPDX-License-Identifier: MIT */
/* Small helpers of fs/: clocks, paths, stat filling, timeouts, names and URIs, and the
 * mutex that knows its holder. Calls no other file of fs/. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

int64_t fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t fs_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *data_home(void)
{
	static char buf[PATH_MAX];
	const char *x = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");

	if (x && *x)
		snprintf(buf, sizeof(buf), "%s/artifs", x);
	else
		snprintf(buf, sizeof(buf), "%s/.local/share/artifs", home && *home ? home : "/root");
	return buf;
}

const char *fs_default_store(void)
{
	static char buf[PATH_MAX + 8];

	snprintf(buf, sizeof(buf), "%s/store", data_home());
	return buf;
}

const char *fs_default_state(void)
{
	static char buf[PATH_MAX + 8];

	snprintf(buf, sizeof(buf), "%s/state", data_home());
	return buf;
}

void fs_staging_path(struct fs *fs, uint64_t ino, char *out, size_t len)
{
	snprintf(out, len, "%s/%" PRIu64, fs->staging, ino);
}

void fs_ts_set(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000;
	}
}

void fs_stat_fill(struct fs *fs, const struct meta_inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->ino;
	st->st_mode = in->mode;
	if (in->kind == MK_VERSION)
		st->st_mode &= ~(mode_t)0022; /* see meta_version_install() */
	if (in->kind == MK_HEAD && in->nlink == 0)
		st->st_nlink = 0; /* unlinked, still open or known to the kernel (fs/refs.c) */
	else
		st->st_nlink = S_ISDIR(in->mode) ? 1 : (in->nlink ? in->nlink : 1);
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_size = in->size;
	st->st_blksize = 1024 * 1024; /* cp and friends size their buffers by it */
	fs_ts_set(&st->st_mtim, in->mtime_ns);
	fs_ts_set(&st->st_atim, in->mtime_ns);
	fs_ts_set(&st->st_ctim, in->ctime_ns);
	if (in->flags & MI_STAGED) {
		char path[4200];
		struct stat sst;

		/* The staging file is the truth for a draft file's size and mtime (write()
		 * moves it, the commit records it). */
		fs_staging_path(fs, in->ino, path, sizeof(path));
		if (stat(path, &sst) == 0) {
			st->st_size = sst.st_size;
			st->st_mtim = sst.st_mtim;
			st->st_atim = sst.st_mtim;
			if (sst.st_ctim.tv_sec > st->st_ctim.tv_sec ||
			    (sst.st_ctim.tv_sec == st->st_ctim.tv_sec &&
			     sst.st_ctim.tv_nsec > st->st_ctim.tv_nsec))
				st->st_ctim = sst.st_ctim;
		}
	}
	st->st_blocks = (st->st_size + 511) / 512;
}

double fs_entry_timeout(const struct fs *fs, const struct meta_inode *in)
{
	/* Projects, artifacts and versions keep their inodes for life, but another host may
	 * remove them (docs/lifecycle.md): with refresh on, the kernel asks again after
	 * `refresh`, and that lookup looks at the store when due. */
	if (in->kind == MK_CTL)
		return 86400.0;
	if (in->kind == MK_PROJECT || in->kind == MK_ARTIFACT || in->kind == MK_VERSION)
		return fs->conf.refresh_ms ? fs->conf.refresh_ms / 1000.0 : 86400.0;
	return fs_timeout(in);
}

double fs_timeout(const struct meta_inode *in)
{
	switch (in->kind) {
	case MK_VERSION:
	case MK_VNODE:
		return 86400.0;
	case MK_LATEST:
	case MK_TAG:
	case MK_HEAD:
	case MK_ARTIFACT:
		/* Drafts change under the kernel's feet (commit, discard, other writers): no
		 * caching, so what a HEAD shows is always what the index says. */
		return 0.0;
	default:
		return 1.0;
	}
}

struct find_child {
	uint64_t ino;
	char name[META_NAME_MAX + 1];
	int found;
};

static int find_child_fn(void *arg, const char *name, size_t namelen, uint64_t child,
			 uint32_t type)
{
	struct find_child *f = arg;

	if (child != f->ino)
		return 0;
	memcpy(f->name, name, namelen);
	f->name[namelen] = '\0';
	f->found = 1;
	return META_ITER_STOP;
}

int fs_inode_read(struct fs *fs, uint64_t ino, struct meta_inode *out)
{
	struct meta_txn *txn;
	int err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return err;
	err = meta_inode_get(txn, ino, out);
	meta_txn_abort(txn);
	return err;
}

static __thread int my_tid, head_locks;

static int tid(void)
{
	if (!my_tid)
		my_tid = (int)gettid();
	return my_tid;
}

void fs_mutex_init(struct fs_mutex *x, int head)
{
	pthread_mutex_init(&x->m, NULL);
	atomic_init(&x->owner, 0);
	x->head = head;
}

void fs_mutex_destroy(struct fs_mutex *x)
{
	assert(atomic_load(&x->owner) == 0);
	pthread_mutex_destroy(&x->m);
}

static void took(struct fs_mutex *x)
{
	atomic_store(&x->owner, tid());
	if (x->head)
		head_locks++;
}

void fs_mutex_lock(struct fs_mutex *x)
{
	assert(atomic_load(&x->owner) != tid()); /* not recursive */
	pthread_mutex_lock(&x->m);
	took(x);
}

int fs_mutex_trylock(struct fs_mutex *x)
{
	if (pthread_mutex_trylock(&x->m))
		return EBUSY;
	took(x);
	return 0;
}

void fs_mutex_unlock(struct fs_mutex *x)
{
	assert(atomic_load(&x->owner) == tid());
	if (x->head)
		head_locks--;
	atomic_store(&x->owner, 0);
	pthread_mutex_unlock(&x->m);
}

int fs_mutex_held(struct fs_mutex *x)
{
	return atomic_load(&x->owner) == tid();
}

int fs_head_locks_held(void)
{
	return head_locks;
}

int fs_child_name(struct meta_txn *txn, uint64_t parent, uint64_t ino,
		  char out[META_NAME_MAX + 1])
{
	struct find_child f = { .ino = ino };
	int r = meta_dirent_iter(txn, parent, NULL, find_child_fn, &f);

	if (r || !f.found)
		return r ? r : ENOENT;
	memcpy(out, f.name, sizeof(f.name));
	return 0;
}

int fs_relpath(struct meta_txn *txn, const struct meta_inode *in, char **out)
{
	struct meta_inode cur = *in;
	char *path = strdup("");
	int err = 0;

	if (!path)
		return ENOMEM;
	/* Names are not kept in inode records; a child's name is found in its parent. This is
	 * for URIs only, never on a hot path. */
	while (cur.kind == MK_VNODE || cur.kind == MK_HEAD) {
		struct find_child f = { .ino = cur.ino };
		char *np;
		int r = meta_dirent_iter(txn, cur.parent, NULL, find_child_fn, &f);

		if (r || !f.found) {
			err = r ? r : ENOENT;
			goto out;
		}
		if (asprintf(&np, "%s%s%s", f.name, *path ? "/" : "", path) < 0) {
			err = ENOMEM;
			goto out;
		}
		free(path);
		path = np;
		err = meta_inode_get(txn, cur.parent, &cur);
		if (err)
			goto out;
	}
out:
	if (err) {
		free(path);
		return err;
	}
	*out = path;
	return 0;
}

int fs_uri(struct fs *fs, struct meta_txn *txn, const struct meta_inode *in, char **out)
{
	struct meta_artifact a;
	char *rel = NULL;
	int err;

	if (in->kind != MK_VERSION && in->kind != MK_VNODE)
		return ENODATA;
	err = meta_artifact_get(txn, in->artifact, &a);
	if (err)
		return err;
	err = fs_relpath(txn, in, &rel);
	if (err)
		return err;
	if (asprintf(out, "artifs://%s/%s@v%" PRIu64 "%s%s", a.project, a.name, in->version,
		     *rel ? "/" : "", rel) < 0)
		err = ENOMEM;
	free(rel);
	return err;
}

struct with_arg {
	enum fs_with what;
	struct meta_inos *out;
};

static int with_fn(void *arg, const struct meta_artifact *a)
{
	struct with_arg *w = arg;
	uint64_t *nv;

	if (w->what == FS_WITH_DRAFT ? !a->draft : !a->latest)
		return 0;
	nv = be_grow(w->out->v, w->out->n, &w->out->cap, sizeof(*nv));
	if (!nv)
		return ENOMEM;
	w->out->v = nv;
	nv[w->out->n++] = a->ino;
	return 0;
}

int fs_artifacts_with(struct meta_txn *txn, enum fs_with what, struct meta_inos *out)
{
	struct with_arg w = { what, out };

	return meta_artifact_iter(txn, with_fn, &w);
}

int fs_refuse(int err, const char *op, const char *name, const char *why)
{
	log_msg(LOG_NOTICE, "%s %s: %s (%s)", op, name ? name : "", why, strerror(err));
	fs_errors_note(err, op, name, why);
	return err;
}

int fs_is_headish(const struct meta_inode *in)
{
	return in->kind == MK_ARTIFACT || in->kind == MK_HEAD;
}

int fs_is_removed(const struct meta_inode *in)
{
	return in->kind == MK_HEAD && in->nlink == 0;
}

int fs_is_version(const struct meta_inode *in)
{
	return in->kind == MK_VERSION || in->kind == MK_VNODE;
}

void fs_entry_fill(struct fs *fs, const struct meta_inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->ino;
	e->generation = 1;
	fs_stat_fill(fs, in, &e->attr);
	e->attr_timeout = fs_timeout(in);
	e->entry_timeout = fs_entry_timeout(fs, in);
}

/* The checks every rename passes, onto a tag or not; fills p, np and c (the renamed inode). */
int fs_mv_check(struct meta_txn *txn, struct fs_mv *r, struct meta_inode *p,
		struct meta_inode *np, struct meta_inode *c)
{
	uint64_t child;
	uint32_t type;
	int err;

	err = meta_inode_get(txn, r->parent, p);
	if (!err)
		err = meta_inode_get(txn, r->newparent, np);
	if (err)
		return err;
	if (fs_is_version(p) || fs_is_version(np)) {
		r->why = "versions are read-only";
		return EROFS;
	}
	if (fs_is_removed(np)) {
		r->why = "the folder was removed";
		return ENOENT;
	}
	err = meta_dirent_get(txn, r->parent, r->name, &child, &type);
	if (!err)
		err = meta_inode_get(txn, child, c);
	if (err)
		return err;
	if (c->kind == MK_VERSION) {
		r->why = "versions are read-only";
		return EROFS;
	}
	if (c->kind == MK_LATEST) {
		r->why = "@latest is kept by artifs";
		return EPERM;
	}
	if (c->kind == MK_PROJECT || c->kind == MK_ARTIFACT || c->kind == MK_CTL) {
		r->why = "projects and artifacts cannot be renamed";
		return EPERM;
	}
	if (!fs_is_headish(p) || !fs_is_headish(np)) {
		r->why = "files move only within one artifact";
		return EXDEV;
	}
	if (p->artifact != np->artifact) {
		r->why = "renames across artifacts are copies (mv falls back to copy and delete)";
		return EXDEV;
	}
	if (r->flags & RENAME_EXCHANGE) {
		r->why = "RENAME_EXCHANGE is not supported";
		return EINVAL;
	}
	return 0;
}

int fs_keys_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct fs_keys *l = arg;
	char **nv = be_grow(l->v, l->n, &l->cap, sizeof(*nv));

	if (!nv || !(nv[l->n] = strdup(key)))
		return ENOMEM;
	l->v = nv;
	l->n++;
	return 0;
}

void fs_keys_free(struct fs_keys *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
