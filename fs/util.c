/* SPDX-License-Identifier: MIT */
/* Small helpers of fs/: clocks, paths, stat filling, URIs, opening the backing stores and
 * the marker objects of projects and artifacts. */
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
		st->st_mode &= ~(mode_t)0022; /* see fs_version_install() */
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

double fs_entry_timeout(const struct meta_inode *in)
{
	/* Projects and artifacts keep their inode for life: every path into a version goes
	 * through them, so their names are cached (their attributes are not, below). */
	if (in->kind == MK_ARTIFACT || in->kind == MK_PROJECT || in->kind == MK_CTL)
		return 86400.0;
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

int fs_head_lock(struct fs *fs, uint64_t ino, struct meta_inode *in, struct fs_art **art)
{
	int err = fs_inode_read(fs, ino, in);

	*art = NULL;
	if (err)
		return err;
	if (in->kind != MK_HEAD && in->kind != MK_ARTIFACT)
		return 0;
	*art = fs_art_get(fs, in->artifact);
	if (!*art)
		return ENOMEM;
	fs_mutex_lock(&(*art)->lock);
	return 0;
}

void fs_head_unlock(struct fs_art *art)
{
	if (art)
		fs_mutex_unlock(&art->lock);
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

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return EINVAL;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return errno;
	return 0;
}

int fs_open_backing(struct fs *fs, int create_store)
{
	struct be_local_conf lc = { .root = fs->conf.store };
	struct meta_conf mc = { .dir = fs->conf.state, .map_size = fs->conf.map_size };
	const char *why = NULL;
	int err;

	if (create_store && strncmp(fs->conf.store, "s3://", 5) != 0) {
		err = mkdir_p(fs->conf.store);
		if (err) {
			log_msg(LOG_ERR, "cannot create store directory %s: %s", fs->conf.store,
				strerror(err));
			return err;
		}
	}
	err = mkdir_p(fs->conf.state);
	if (err) {
		log_msg(LOG_ERR, "cannot create state directory %s: %s", fs->conf.state,
			strerror(err));
		return err;
	}
	snprintf(fs->staging, sizeof(fs->staging), "%s/staging", fs->conf.state);
	err = mkdir_p(fs->staging);
	if (err) {
		log_msg(LOG_ERR, "cannot create %s: %s", fs->staging, strerror(err));
		return err;
	}
	if (strncmp(fs->conf.store, "s3://", 5) == 0) {
		struct be_s3_conf sc = { .endpoint = fs->conf.endpoint,
					 .max_retries = fs->conf.retries };

		err = be_s3_parse_url(fs->conf.store, &fs->s3_bucket, &fs->s3_prefix);
		if (err) {
			log_msg(LOG_ERR, "store %s: not an s3://bucket[/prefix] URL", fs->conf.store);
			return err;
		}
		sc.bucket = fs->s3_bucket;
		sc.prefix = fs->s3_prefix;
		err = be_s3_create(&sc, &fs->be, &why);
		if (err) {
			log_msg(LOG_ERR, "store %s: %s", fs->conf.store, why ? why : strerror(err));
			return err;
		}
		if (!be_s3_conditional_writes(fs->be))
			log_msg(LOG_WARNING, "store %s does not honour If-None-Match: commit to "
					     "each artifact from one host at a time", fs->conf.store);
		{
			/* Chunks are immutable: a local disk cache in front of the bucket. */
			struct be_cache_conf cc = { .dir = fs->cache_dir,
						    .max_bytes = fs->conf.cache_size };
			struct be *cached;

			if (fs->conf.cache_dir)
				snprintf(fs->cache_dir, sizeof(fs->cache_dir), "%s",
					 fs->conf.cache_dir);
			else
				snprintf(fs->cache_dir, sizeof(fs->cache_dir), "%s/cache",
					 fs->conf.state);
			err = be_cache_create(&cc, fs->be, &cached);
			if (err) {
				log_msg(LOG_ERR, "cache %s: %s", fs->cache_dir, strerror(err));
				goto fail_be;
			}
			fs->be = cached;
		}
	} else {
		err = be_local_create(&lc, &fs->be);
		if (err) {
			log_msg(LOG_ERR, "cannot open store %s: %s", fs->conf.store, strerror(err));
			return err;
		}
	}
	store_conf_init(&fs->sc);
	err = store_open(fs->be, create_store, &fs->sc, &why);
	if (err) {
		log_msg(LOG_ERR, "store %s: %s", fs->conf.store, why ? why : strerror(err));
		goto fail_be;
	}
	err = meta_open(&mc, &fs->meta, &why);
	if (err) {
		log_msg(LOG_ERR, "state %s: %s", fs->conf.state, why ? why : strerror(err));
		goto fail_be;
	}
	err = rcache_create(fs->conf.rcache_bytes, &fs->rc);
	if (err)
		goto fail_meta;
	rcache_prefetch_start(fs);
	return 0;
fail_meta:
	meta_close(fs->meta);
	fs->meta = NULL;
fail_be:
	be_destroy(fs->be);
	fs->be = NULL;
	free(fs->s3_bucket);
	free(fs->s3_prefix);
	fs->s3_bucket = fs->s3_prefix = NULL;
	return err;
}

void fs_close_backing(struct fs *fs)
{
	if (fs->rc)
		rcache_destroy(fs->rc);
	if (fs->meta)
		meta_close(fs->meta);
	be_destroy(fs->be);
	free(fs->s3_bucket);
	free(fs->s3_prefix);
	fs->s3_bucket = fs->s3_prefix = NULL;
	fs->rc = NULL;
	fs->meta = NULL;
	fs->be = NULL;
}

int fs_mirror_meta(struct fs *fs, uint64_t ino)
{
	struct fs_attr_owner o;
	struct meta_txn *txn = NULL;
	struct meta_inode in;
	char key[600];
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_inode_get(txn, ino, &in);
	if (!err)
		err = in.kind == MK_PROJECT || in.kind == MK_ARTIFACT ? fs_attr_owner_of(txn, &in, &o)
								       : EINVAL;
	meta_txn_abort(txn);
	if (!err)
		err = fs_attr_marker_key(&o, key, sizeof(key));
	if (err)
		return err;
	/* An existing marker may be an older writer's whole object, with labels that are the
	 * base layer of its attributes: it is kept. */
	err = be_create(fs->be, key, "{}", 2);
	if (err == EEXIST)
		err = 0;
	if (err)
		log_msg(LOG_ERR, "cannot write %s to the store: %s", key, strerror(err));
	return err;
}

int fs_pa_ensure(struct meta_txn *txn, uint64_t parent, const char *name, uint32_t kind,
		 const char *project, uint32_t uid, uint32_t gid, uint32_t perm, uint64_t *ino,
		 int *made)
{
	struct meta_inode in;
	uint32_t type;
	int err;

	if (made)
		*made = 0;
	if (meta_dirent_get(txn, parent, name, ino, &type) == 0)
		return 0;
	memset(&in, 0, sizeof(in));
	err = meta_ino_alloc(txn, &in.ino);
	if (err)
		return err;
	in.parent = parent;
	in.kind = kind;
	in.mode = S_IFDIR | (perm & 07777);
	in.uid = uid;
	in.gid = gid;
	in.nlink = 1;
	in.mtime_ns = in.ctime_ns = fs_now_ns();
	if (kind == MK_ARTIFACT) {
		struct meta_artifact a = { .ino = in.ino, .project_ino = parent, .next = 1 };

		in.artifact = in.ino;
		snprintf(a.project, sizeof(a.project), "%s", project);
		snprintf(a.name, sizeof(a.name), "%s", name);
		err = meta_artifact_put(txn, &a);
		if (err)
			return err;
	}
	err = meta_inode_put(txn, &in);
	if (!err)
		err = meta_dirent_put(txn, parent, name, in.ino, S_IFDIR);
	if (!err) {
		*ino = in.ino;
		if (made)
			*made = 1;
	}
	return err;
}

int fs_tag_point(struct meta_txn *txn, uint64_t art, const char *name, uint64_t n,
		 const struct meta_inode *src, uint32_t uid, uint32_t gid, struct meta_inode *out)
{
	struct meta_inode in;
	char target[32], *cur = NULL;
	uint64_t child;
	uint32_t type;
	int err, same;

	snprintf(target, sizeof(target), "@v%" PRIu64, n);
	if (meta_dirent_get(txn, art, name, &child, &type) == 0) {
		err = meta_inode_get(txn, child, &in);
		if (err)
			return err;
		if (in.kind != MK_TAG)
			return src ? EEXIST : 0; /* a version or @latest keeps its name */
		if (src && child != src->ino) {
			/* The renamed inode takes the name: the kernel's dentry follows it. */
			err = meta_inode_del(txn, child);
			if (err)
				return err;
			in = *src;
		} else if (!src) {
			same = meta_link_get(txn, child, &cur) == 0 && strcmp(cur, target) == 0;
			free(cur);
			if (same) {
				if (out)
					*out = in;
				return 0;
			}
		}
	} else if (src) {
		in = *src;
	} else {
		memset(&in, 0, sizeof(in));
		err = meta_ino_alloc(txn, &in.ino);
		if (err)
			return err;
		in.kind = MK_TAG;
		in.nlink = 1;
		in.uid = uid;
		in.gid = gid;
	}
	in.parent = in.artifact = art;
	in.kind = MK_TAG;
	in.mode = S_IFLNK | 0777;
	in.flags = 0;
	in.size = strlen(target);
	in.ctime_ns = fs_now_ns();
	if (!src)
		in.mtime_ns = in.ctime_ns;
	err = meta_inode_put(txn, &in);
	if (!err)
		err = meta_link_put(txn, in.ino, target);
	if (!err)
		err = meta_dirent_put(txn, art, name, in.ino, S_IFLNK);
	if (!err && out)
		*out = in;
	return err;
}

int fs_tag_put(struct meta_txn *txn, uint64_t art, const char *name, uint64_t n, uint32_t uid,
	       uint32_t gid)
{
	return fs_tag_point(txn, art, name, n, NULL, uid, gid, NULL);
}

struct with_arg {
	enum fs_with what;
	struct fs_inos *out;
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

int fs_artifacts_with(struct meta_txn *txn, enum fs_with what, struct fs_inos *out)
{
	struct with_arg w = { what, out };

	return meta_artifact_iter(txn, with_fn, &w);
}
