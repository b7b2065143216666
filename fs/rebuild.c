/* SPDX-License-Identifier: MIT */
/*
 * artifs rebuild: a new index from the store alone. Projects and artifacts come from the
 * meta/ objects and the version manifests, versions from their manifests (installed with the
 * same code as a commit), tags from refs/, labels, kinds and metrics from meta/ (merged by
 * fs/attrs.c as a refresh merges them).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

static int ensure_dir(struct meta_txn *txn, uint64_t parent, const char *name, uint32_t kind,
		      uint64_t *ino, const char *project)
{
	const char *why;
	int err = fs_name_check_pa(name, &why);

	if (err) {
		log_msg(LOG_WARNING, "rebuild: skipping '%s': %s", name, why);
		return err;
	}
	return meta_pa_ensure(txn, parent, name, kind, project, getuid(), getgid(), 0755, ino,
			    NULL);
}

static int cmp_keys(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A version's inputs, indexed after every version is installed. */
struct lineage_pending {
	uint64_t art, n, root;
	char *inputs, *captured;
};

struct rb_arg {
	struct fs *fs;
	struct fs_keys vers, metas, refs;
	struct fs_attr_plan *attrs; /* read from meta/ before the transaction */
	struct lineage_pending *pend;
	size_t npend, cap;
	uint64_t *tagn; /* per refs/ key: the version it names, 0 to skip */
};

static void pending_free(struct rb_arg *r)
{
	for (size_t i = 0; i < r->npend; i++) {
		free(r->pend[i].inputs);
		free(r->pend[i].captured);
	}
	free(r->pend);
	r->pend = NULL;
	r->npend = r->cap = 0;
}

static int pending_add(struct rb_arg *r, uint64_t art, uint64_t n, uint64_t root,
		       struct manifest *m)
{
	struct lineage_pending *np;

	if (!m->inputs && !m->captured)
		return 0;
	np = be_grow(r->pend, r->npend, &r->cap, sizeof(*np));
	if (!np)
		return ENOMEM;
	r->pend = np;
	np[r->npend] = (struct lineage_pending){ art, n, root, m->inputs, m->captured };
	m->inputs = m->captured = NULL; /* now ours */
	r->npend++;
	return 0;
}

/* The artifact folder p/a the first phase made: 0 and *aino, else ENOENT. */
static int artifact_find(struct meta_txn *txn, const char *p, const char *a, uint64_t *aino)
{
	uint64_t pino;
	uint32_t type;
	int err = meta_dirent_get(txn, META_ROOT_INO, p, &pino, &type);

	return err ? err : meta_dirent_get(txn, pino, a, aino, &type);
}

/* First phase, one transaction and no store I/O: every project and artifact that a version
 * key or a marker names (a bad name is logged and skipped). */
static int dirs_fn(struct meta_txn *txn, void *arg)
{
	struct rb_arg *r = arg;
	struct fs_attr_owner o;
	struct be_key k;
	uint64_t pino, aino;
	int err = 0;

	for (size_t i = 0; i < r->vers.n && !err; i++) {
		if (be_key_split(r->vers.v[i], BE_KEY_VERSIONS, &k) && !k.rest)
			continue; /* a bad number is logged with the versions */
		if (ensure_dir(txn, META_ROOT_INO, k.project, MK_PROJECT, &pino, NULL) == 0)
			ensure_dir(txn, pino, k.artifact, MK_ARTIFACT, &aino, k.project);
	}
	for (size_t i = 0; i < r->metas.n && !err; i++) {
		if (fs_attr_marker_parse(r->metas.v[i], &o))
			continue;
		err = ensure_dir(txn, META_ROOT_INO, o.project, MK_PROJECT, &pino, NULL);
		if (!err && o.where == FA_ARTIFACT)
			err = ensure_dir(txn, pino, o.artifact, MK_ARTIFACT, &aino, o.project);
		if (err == EINVAL)
			err = 0; /* a bad name, logged */
	}
	return err;
}

/* Versions are read from the store BATCH at a time with no transaction open, then installed
 * in one transaction (which a grown map may run again: it reads only what is fetched). */
#define BATCH 64

struct batch {
	struct manifest m[BATCH];
	uint8_t digest[BATCH][32];
	uint64_t aino[BATCH], root[BATCH];
	size_t n;
	struct fs_packs packs; /* the pack indexes the batch's manifests name */
};

static int batch_fn(struct meta_txn *txn, void *arg)
{
	struct batch *b = arg;
	int err = fs_packs_install(txn, &b->packs);

	for (size_t i = 0; i < b->n && !err; i++) {
		struct meta_artifact art;
		struct meta_version v;

		err = meta_artifact_get(txn, b->aino[i], &art);
		if (!err)
			err = fs_packs_resolve(txn, &b->m[i]);
		if (!err)
			err = meta_version_install(txn, &art, &b->m[i], b->digest[i], NULL, NULL,
						   getuid(), getgid(), 0);
		if (!err)
			err = meta_version_get(txn, b->aino[i], b->m[i].version, &v);
		if (!err)
			b->root[i] = v.root;
	}
	return err;
}

/* Installs the fetched batch and keeps each version's inputs for the lineage phase. */
static int batch_install(struct rb_arg *r, struct batch *b)
{
	int err = b->n ? meta_write(r->fs->meta, batch_fn, b) : 0;

	for (size_t i = 0; i < b->n; i++) {
		if (!err)
			err = pending_add(r, b->aino[i], b->m[i].version, b->root[i], &b->m[i]);
		manifest_release(&b->m[i]);
	}
	fs_packs_release(&b->packs);
	b->n = 0;
	return err;
}

/* The artifact p/a's removals, from the keys of its versions/ folder (sorted: they are
 * together), applied to the new index. */
static int removals_apply_one(struct rb_arg *r, const char *p, const char *a, size_t from,
			      size_t to)
{
	struct fs_removals rm = { 0 };
	struct meta_txn *txn;
	struct fs_art *art;
	uint64_t aino, n;
	int err = 0;

	for (size_t i = from; i < to && !err; i++) {
		struct be_key k;

		be_key_split(r->vers.v[i], BE_KEY_VERSIONS, &k);
		switch (k.rest ? fs_removal_mark(k.rest, &n) : 0) {
		case 2:
			err = fs_removals_read_artifact(r->fs, p, a, &rm);
			break;
		case 1:
			err = fs_removals_add(&rm, n);
			break;
		}
	}
	if (!err && (rm.n || rm.art) && !(err = meta_txn_begin(r->fs->meta, 1, &txn))) {
		err = artifact_find(txn, p, a, &aino);
		meta_txn_abort(txn);
		if (!err && !(art = fs_art_get(r->fs, aino)))
			err = ENOMEM;
		if (!err) {
			fs_mutex_lock(&art->refresh_lock);
			err = fs_removals_apply(r->fs, art, &rm);
			fs_mutex_unlock(&art->refresh_lock);
		}
		if (err == ENOENT)
			err = 0; /* a bad name, logged by the first phase */
	}
	fs_removals_release(&rm);
	return err;
}

/* Last phase: the removals the store holds, artifact by artifact. */
static int removals_apply(struct rb_arg *r)
{
	size_t from = 0;
	int err = 0;

	while (from < r->vers.n && !err) {
		struct be_key k, k2;
		size_t to = from + 1;

		if (be_key_split(r->vers.v[from], BE_KEY_VERSIONS, &k) && !k.rest) {
			from++;
			continue;
		}
		while (to < r->vers.n && (be_key_split(r->vers.v[to], BE_KEY_VERSIONS, &k2) == 0 ||
					  k2.rest) &&
		       !strcmp(k.project, k2.project) && !strcmp(k.artifact, k2.artifact))
			to++;
		err = removals_apply_one(r, k.project, k.artifact, from, to);
		from = to;
	}
	return err;
}

/* Second phase: every version, in key order (per artifact, numbers ascend). A bad object is
 * skipped with a log line naming it; the others are still read. */
static int versions_install(struct rb_arg *r)
{
	struct batch *b = calloc(1, sizeof(*b));
	struct meta_txn *txn;
	int err = b ? 0 : ENOMEM;

	for (size_t i = 0; i < r->vers.n && !err; i++) {
		struct be_key k;
		uint64_t aino, n;
		int found;

		if (be_key_split(r->vers.v[i], BE_KEY_VERSIONS, &k) && !k.rest)
			continue;
		if (!k.n && fs_removal_mark(k.rest, &n))
			continue; /* removals_apply() */
		if (!k.n) {
			log_msg(LOG_WARNING, "rebuild: skipping %s: not a version number from 1 to "
				"%llu", r->vers.v[i], (unsigned long long)META_VERSION_MAX);
			continue;
		}
		err = meta_txn_begin(r->fs->meta, 1, &txn);
		if (err)
			break;
		found = artifact_find(txn, k.project, k.artifact, &aino) == 0;
		meta_txn_abort(txn);
		if (!found)
			continue; /* a bad name, logged by the first phase */
		err = fs_manifest_fetch(r->fs, k.project, k.artifact, k.n, &b->m[b->n],
					b->digest[b->n]);
		if (err == EINVAL || err == ENOENT) {
			err = 0;
			continue;
		}
		if (!err)
			err = fs_packs_fetch(r->fs, &b->m[b->n], &b->packs);
		if (err) {
			manifest_release(&b->m[b->n]);
			break;
		}
		b->aino[b->n++] = aino;
		if (b->n == BATCH)
			err = batch_install(r, b);
	}
	if (b) {
		int ierr = batch_install(r, b); /* also releases what an error left fetched */

		err = err ? err : ierr;
	}
	free(b);
	return err;
}

/* The tags' values (version numbers) from the store, before the last transaction: 0 for a
 * key to skip. */
static int tags_fetch(struct rb_arg *r, uint64_t **vals)
{
	*vals = calloc(r->refs.n ? r->refs.n : 1, sizeof(**vals));
	if (!*vals)
		return ENOMEM;
	for (size_t i = 0; i < r->refs.n; i++) {
		struct be_key k;
		char target[32];
		const char *why;
		void *buf = NULL;
		size_t len;

		if (be_key_split(r->refs.v[i], BE_KEY_REFS, &k) || fs_name_check_tag(k.rest, &why))
			continue;
		if (be_get_all(r->fs->be, r->refs.v[i], 64, &buf, &len))
			continue;
		snprintf(target, sizeof(target), "%.*s", (int)len, (char *)buf);
		free(buf);
		(*vals)[i] = strtoull(target, NULL, 10);
	}
	return 0;
}

/* Last phase, one transaction and no store I/O: lineage once every version is in (an
 * artifact may sort before its inputs), labels, metrics and kinds (the merge refresh makes
 * too), and the tags. */
static int last_fn(struct meta_txn *txn, void *arg)
{
	struct rb_arg *r = arg;
	int err = 0;

	for (size_t i = 0; i < r->npend && !err; i++) {
		struct meta_artifact art;
		struct lineage_pending *lp = &r->pend[i];

		err = meta_artifact_get(txn, lp->art, &art);
		if (!err)
			err = meta_version_lineage(txn, &art, lp->n, lp->root, lp->inputs,
						   lp->captured);
	}
	if (!err)
		err = fs_attrs_plan_apply(txn, r->attrs);
	for (size_t i = 0; i < r->refs.n && !err; i++) {
		struct meta_version v;
		struct be_key k;
		char tag[META_PA_MAX + 2];
		uint64_t aino;

		if (!r->tagn[i] || be_key_split(r->refs.v[i], BE_KEY_REFS, &k) ||
		    artifact_find(txn, k.project, k.artifact, &aino))
			continue;
		if (meta_version_get(txn, aino, r->tagn[i], &v)) {
			log_msg(LOG_WARNING, "rebuild: tag %s names a missing version", r->refs.v[i]);
			continue;
		}
		snprintf(tag, sizeof(tag), "@%s", k.rest);
		err = meta_tag_put(txn, aino, tag, r->tagn[i], getuid(), getgid());
	}
	return err;
}

static int rebuild_index(struct rb_arg *r)
{
	int err = meta_write(r->fs->meta, dirs_fn, r);

	if (!err)
		err = versions_install(r);
	if (!err)
		err = tags_fetch(r, &r->tagn);
	if (!err)
		err = meta_write(r->fs->meta, last_fn, r);
	return err;
}

struct head_one {
	struct fs *fs;
	uint64_t ino;
};

static int head_one_fn(struct meta_txn *txn, void *arg)
{
	struct head_one *h = arg;
	struct meta_artifact a;
	int err = meta_artifact_get(txn, h->ino, &a);

	return err ? err : meta_head_reset(txn, &a, a.latest, NULL, NULL);
}

/* Removes a scratch directory tree (the unfinished new index); errors are ignored. */
static void rm_tree(const char *dir)
{
	char sub[PATH_MAX + 16];
	static const char *const files[] = { "data.mdb", "lock.mdb", "lock" };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, files[i]);
		unlink(sub);
	}
	snprintf(sub, sizeof(sub), "%s/staging", dir);
	rmdir(sub);
	rmdir(dir);
}

/* Moves name from directory `from` to `to` (a missing name is fine). */
static int move(const char *from, const char *to, const char *name)
{
	char src[PATH_MAX + 16], dst[PATH_MAX + 16];

	snprintf(src, sizeof(src), "%s/%s", from, name);
	snprintf(dst, sizeof(dst), "%s/%s", to, name);
	if (rename(src, dst) && errno != ENOENT) {
		log_msg(LOG_ERR, "rebuild: cannot move %s to %s: %s", src, dst, strerror(errno));
		return errno;
	}
	return 0;
}

/*
 * The new index is built in <state>/rebuild.new while the old one stays in place and its
 * lock is held (no daemon can start meanwhile). Only when the build succeeded are the old
 * index and its staging files (the bytes of its drafts) moved to <state>/index.old-<time>
 * and the new one moved in; a failed rebuild leaves the old index as it was.
 */
/* Each HEAD with versions becomes its newest version's tree (heads: those artifacts). */
static int heads_reset(struct fs *fs, struct meta_inos *heads)
{
	struct meta_txn *txn;
	int err = meta_txn_begin(fs->meta, 1, &txn);

	if (!err) {
		err = fs_artifacts_with(txn, FS_WITH_VERSIONS, heads);
		meta_txn_abort(txn);
	}
	for (size_t i = 0; i < heads->n && !err; i++) {
		struct head_one h = { fs, heads->v[i] };

		err = meta_write(fs->meta, head_one_fn, &h);
	}
	return err;
}

/* The new index (in tmp) takes the old one's place in state; the old one and its staging
 * files go to old first (NULL: there was none). */
static int index_swap(const char *state, const char *tmp, const char *old)
{
	static const char *const names[] = { "data.mdb", "lock.mdb", "staging" };
	int err = 0;

	if (old) {
		if (mkdir(old, 0700)) {
			err = errno;
			log_msg(LOG_ERR, "rebuild: cannot create %s: %s", old, strerror(err));
		}
		for (size_t i = 0; i < 3 && !err; i++)
			err = move(state, old, names[i]);
		if (!err)
			log_msg(LOG_INFO, "rebuild: the old index and its staging files are kept in %s",
				old);
	}
	for (size_t i = 0; i < 3 && !err; i++)
		err = move(tmp, state, names[i]);
	return err;
}

/* Every key of versions/, meta/ and refs/ (versions sorted), and the attributes' plan. */
static int store_list(struct rb_arg *r)
{
	int err = be_list(r->fs->be, BE_KEY_VERSIONS, fs_keys_fn, &r->vers);

	if (!err)
		err = be_list(r->fs->be, BE_KEY_META, fs_keys_fn, &r->metas);
	if (!err)
		err = be_list(r->fs->be, BE_KEY_REFS, fs_keys_fn, &r->refs);
	if (err)
		return err;
	if (r->vers.n)
		qsort(r->vers.v, r->vers.n, sizeof(char *), cmp_keys);
	return fs_attrs_plan_store(r->fs, r->metas.v, r->metas.n, &r->attrs);
}

int fs_rebuild(const struct fs_conf *c)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	struct rb_arg r = { .fs = fs };
	struct meta_inos heads = { 0 };
	struct meta_conf mc = { .dir = c->state };
	struct meta *old_meta = NULL;
	char old[PATH_MAX], tmp[PATH_MAX], cache[PATH_MAX + 16];
	const char *why = NULL;
	int err, have_old;

	if (!fs)
		return ENOMEM;
	fs->conf = *c;
	pthread_mutex_init(&fs->lock, NULL);
	snprintf(old, sizeof(old), "%s/index.old-%ld", c->state, (long)time(NULL));
	/* Two rebuilds within a second (fsck --repair, then artifs rebuild): the next free name */
	for (int k = 1; access(old, F_OK) == 0 && k < 1000; k++)
		snprintf(old, sizeof(old), "%s/index.old-%ld-%d", c->state, (long)time(NULL), k);
	snprintf(tmp, sizeof(tmp), "%s/rebuild.new", c->state);
	snprintf(cache, sizeof(cache), "%s/cache", c->state);
	snprintf(cache, sizeof(cache), "%s/data.mdb", c->state);
	have_old = access(cache, F_OK) == 0;
	snprintf(cache, sizeof(cache), "%s/cache", c->state);
	if (have_old) {
		/* Held to the end: refuses while a daemon owns the state, and keeps one out. */
		err = meta_open(&mc, &old_meta, &why);
		if (err) {
			log_msg(LOG_ERR, "rebuild: %s: %s", c->state, why ? why : strerror(err));
			goto out;
		}
	}
	rm_tree(tmp); /* left by a rebuild that died */
	fs->conf.state = tmp;
	if (!c->cache_dir)
		fs->conf.cache_dir = cache;
	err = fs_open_backing(fs, 0);
	if (err)
		goto out;
	err = fs_ctl_init(fs);
	if (!err)
		err = store_list(&r);
	if (err)
		goto out_close;
	err = rebuild_index(&r);
	if (!err)
		err = removals_apply(&r);
	if (err)
		goto out_close;
	err = heads_reset(fs, &heads);
	if (!err)
		err = meta_sync(fs->meta);
	if (!err)
		log_msg(LOG_INFO, "rebuild: %zu versions, %zu artifacts with versions", r.vers.n,
			heads.n);
out_close:
	fs_close_backing(fs);
	if (!err)
		err = index_swap(c->state, tmp, have_old ? old : NULL);
	if (err)
		log_msg(LOG_ERR, "rebuild failed (%s); the index in %s is unchanged", strerror(err),
			c->state);
out:
	rm_tree(tmp);
	meta_close(old_meta);
	free(heads.v);
	fs_keys_free(&r.vers);
	fs_keys_free(&r.metas);
	fs_keys_free(&r.refs);
	fs_attrs_plan_free(r.attrs);
	pending_free(&r);
	free(r.tagn);
	fs_drafts_free(fs); /* the artifacts removals_apply() touched */
	pthread_mutex_destroy(&fs->lock);
	free(fs);
	return err;
}
