/* SPDX-License-Identifier: MIT */
/*
 * Several hosts share one store, each with its own index (DESIGN.md section 7). When an
 * artifact is looked up and its listing is older than `refresh`, the versions and tags other
 * hosts made are read from the store into this host's index, and a HEAD without a draft
 * moves to the newest version; labels, metrics and kinds follow (fs/attrs.c). Projects and
 * artifacts made elsewhere are found when looked up by name.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_int.h"


int fs_manifest_fetch(struct fs *fs, const char *project, const char *artifact, uint64_t n,
		      struct manifest *m, uint8_t digest[32])
{
	char key[META_PA_MAX * 2 + 64];
	void *buf = NULL;
	size_t len;
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	be_key_version(key, sizeof(key), project, artifact, n);
	err = be_get_all(fs->be, key, MANIFEST_OBJECT_MAX, &buf, &len);
	if (err == EFBIG) {
		log_msg(LOG_WARNING, "store: %s is larger than %u MiB; skipped", key,
			MANIFEST_OBJECT_MAX >> 20);
		return EINVAL;
	}
	if (err)
		return err;
	chunk_hash(buf, len, digest);
	err = manifest_decode(buf, len, m);
	free(buf);
	if (err) {
		log_msg(LOG_WARNING, "store: %s is not a valid manifest (%s); skipped", key,
			manifest_why());
		return EINVAL;
	}
	if (strcmp(m->project, project) || strcmp(m->artifact, artifact) || m->version != n) {
		log_msg(LOG_WARNING, "store: %s holds the manifest of %s/%s@v%" PRIu64 "; skipped",
			key, m->project, m->artifact, m->version);
		manifest_release(m);
		return EINVAL;
	}
	return 0;
}

struct tagset {
	char (*name)[META_PA_MAX + 2];
	uint64_t *n;
	size_t cnt, cap_name, cap_n;
	const char *prefix;
	struct be *be;
};

static int tags_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct tagset *t = arg;
	const char *tag = key + strlen(t->prefix), *why;
	char buf[32];
	size_t got;
	void *nn, *nv;

	if (fs_name_check_tag(tag, &why) || size > 30)
		return 0;
	if (be_get(t->be, key, 0, sizeof(buf) - 1, buf, &got))
		return 0; /* dropped meanwhile */
	buf[got] = '\0';
	nn = be_grow(t->name, t->cnt, &t->cap_name, sizeof(*t->name));
	if (!nn)
		return ENOMEM;
	t->name = nn;
	nv = be_grow(t->n, t->cnt, &t->cap_n, sizeof(*t->n));
	if (!nv)
		return ENOMEM;
	t->n = nv;
	snprintf(t->name[t->cnt], sizeof(t->name[0]), "@%s", tag);
	t->n[t->cnt] = strtoull(buf, NULL, 10);
	t->cnt++;
	return 0;
}

struct install_one {
	struct fs *fs;
	uint64_t art;
	struct manifest *m;
	uint8_t digest[32];
	struct fs_packs packs;
};

static int install_one_fn(struct meta_txn *txn, void *arg)
{
	struct install_one *io = arg;
	struct meta_artifact a;
	struct meta_version v;
	struct meta_removed r;
	struct meta_inode ain;
	int err = meta_artifact_get(txn, io->art, &a);

	if (err)
		return err;
	if (meta_version_get(txn, io->art, io->m->version, &v) == 0)
		return 0; /* another lookup got here first */
	if (meta_removed_get(txn, io->art, io->m->version, &r) == 0)
		return 0; /* removed meanwhile: restored from its record, never read in again */
	err = fs_packs_install(txn, &io->packs);
	if (!err)
		err = fs_packs_resolve(txn, io->m);
	if (!err)
		err = meta_inode_get(txn, io->art, &ain);
	if (!err)
		err = meta_version_install(txn, &a, io->m, io->digest, NULL, NULL, ain.uid,
					 ain.gid, 1);
	return err;
}

int fs_version_read_in(struct fs *fs, uint64_t art_ino, const char *project,
		       const char *artifact, uint64_t n, const uint8_t *want)
{
	struct install_one io = { .fs = fs, .art = art_ino };
	struct manifest m;
	int err = fs_manifest_fetch(fs, project, artifact, n, &m, io.digest);

	if (err)
		return err;
	if (want && memcmp(want, io.digest, 32)) {
		manifest_release(&m);
		return EEXIST;
	}
	io.m = &m;
	err = fs_packs_fetch(fs, &m, &io.packs);
	if (!err)
		err = meta_write(fs->meta, install_one_fn, &io);
	fs_packs_release(&io.packs);
	manifest_release(&m);
	return err;
}

struct tags_apply {
	struct fs *fs;
	uint64_t art;
	struct tagset *t;
};

/* Makes the artifact's tags what the store says. */
static int tags_apply_fn(struct meta_txn *txn, void *arg)
{
	struct tags_apply *ta = arg;
	struct meta_inode ain;
	int err = meta_inode_get(txn, ta->art, &ain);

	for (size_t i = 0; i < ta->t->cnt && !err; i++) {
		struct meta_version v;

		if (meta_version_get(txn, ta->art, ta->t->n[i], &v))
			continue; /* names a version this host has not got */
		err = meta_tag_put(txn, ta->art, ta->t->name[i], ta->t->n[i], ain.uid, ain.gid);
	}
	return err;
}

struct local_tags {
	struct meta_txn *txn;
	struct tagset *t;
	char (*gone)[META_PA_MAX + 2];
	size_t ngone, cap;
};

static int local_tags_fn(void *arg, const char *name, size_t namelen, uint64_t child,
			 uint32_t type)
{
	struct local_tags *l = arg;
	struct meta_inode in;
	void *ng;

	if (name[0] != '@')
		return 0;
	if (type != S_IFLNK || namelen > META_PA_MAX + 1 ||
	    meta_inode_get(l->txn, child, &in) || in.kind != MK_TAG)
		return 0;
	for (size_t i = 0; i < l->t->cnt; i++)
		if (strlen(l->t->name[i]) == namelen && !memcmp(l->t->name[i], name, namelen))
			return 0;
	ng = be_grow(l->gone, l->ngone, &l->cap, sizeof(*l->gone));
	if (!ng)
		return ENOMEM;
	l->gone = ng;
	memcpy(l->gone[l->ngone], name, namelen);
	l->gone[l->ngone][namelen] = '\0';
	l->ngone++;
	return 0;
}

static int tags_drop_fn(struct meta_txn *txn, void *arg)
{
	struct tags_apply *ta = arg;
	struct local_tags l = { .txn = txn, .t = ta->t };
	int err = meta_dirent_iter(txn, ta->art, NULL, local_tags_fn, &l);

	for (size_t i = 0; i < l.ngone && !err; i++) {
		err = meta_tag_drop(txn, ta->art, l.gone[i]); /* dropped on another host */
		if (err == ENOENT)
			err = 0;
	}
	free(l.gone);
	return err;
}

struct head_arg {
	struct fs *fs;
	uint64_t art, old_latest;
	uint64_t newest; /* the newest version this refresh read in */
};

static int head_follow_fn(struct meta_txn *txn, void *arg)
{
	struct head_arg *h = arg;
	struct meta_free fr = { fs_head_free_fn, h->fs };
	struct meta_artifact a;
	int err = meta_artifact_get(txn, h->art, &a);

	/* A draft stays on its base: its commit comes after. A newest version this host made
	 * meanwhile is the HEAD's already. */
	if (err || a.draft || a.latest <= h->old_latest || a.latest != h->newest)
		return err;
	return meta_head_reset(txn, &a, a.latest, &fr, NULL);
}

/* Whether this host's commit is creating or installing version n of art now. */
static int committing(struct fs *fs, struct fs_art *art, uint64_t n)
{
	int yes;

	pthread_mutex_lock(&fs->lock);
	yes = art->committing_n == n;
	pthread_mutex_unlock(&fs->lock);
	return yes;
}

/* Whether art is due for a refresh (and from now on, not again for conf.refresh_ms). */
static int refresh_due(struct fs *fs, struct fs_art *art, int force)
{
	int64_t now = fs_mono_ns();
	int due;

	pthread_mutex_lock(&fs->lock);
	due = force || now - art->refreshed >= (int64_t)fs->conf.refresh_ms * 1000000;
	if (due)
		art->refreshed = now;
	pthread_mutex_unlock(&fs->lock);
	return due;
}

/* The versions of a that the store has and the index lacks, read in, except removed ones
 * (*r gets the store's removals); fresh (caller-frees) gets their numbers, head->newest the
 * newest. Under art->refresh_lock. */
static int versions_read(struct fs *fs, struct fs_art *art, const struct meta_artifact *a,
			 struct head_arg *head, struct fs_removals *r, uint64_t **fresh,
			 size_t *nfresh)
{
	uint64_t *nums = NULL;
	size_t n = 0;
	int err = fs_removals_read(fs, a->project, a->name, r, &nums, &n);

	if (!err && n && !(*fresh = calloc(n, sizeof(**fresh))))
		err = ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		struct meta_txn *txn;
		struct meta_version v;
		struct meta_removed rm;
		int have;

		if (fs_removals_has(r, nums[i]))
			continue;
		err = meta_txn_begin(fs->meta, 1, &txn);
		if (err)
			break;
		have = meta_version_get(txn, a->ino, nums[i], &v) == 0 ||
		       meta_removed_get(txn, a->ino, nums[i], &rm) == 0;
		meta_txn_abort(txn);
		if (have || fs_art_skipped(art, nums[i], 0) || committing(fs, art, nums[i]))
			continue;
		/* A bad object is skipped (logged with its key, once: it is not fetched again in
		 * this session); the others are still read. */
		err = fs_version_read_in(fs, a->ino, a->project, a->name, nums[i], NULL);
		if (err == EINVAL)
			fs_art_skipped(art, nums[i], 1);
		if (err == EINVAL || err == ENOENT) {
			err = 0;
			continue;
		}
		if (err)
			break;
		(*fresh)[(*nfresh)++] = nums[i]; /* its versions/<N>.json is its base */
		if (nums[i] > head->newest)
			head->newest = nums[i];
	}
	free(nums);
	return err;
}

/* The tags of a as the store has them. A tag change of this host holds tag_lock from before
 * its store write until its index follows (ns.c, "Tags"): a listing taken meanwhile could be
 * applied after it and undo it here. Then the tags wait for the next refresh. */
static int tags_read(struct fs *fs, struct fs_art *art, const struct meta_artifact *a)
{
	char prefix[BE_KEY_MAX];
	struct tagset tags = { .be = fs->be, .prefix = prefix };
	struct tags_apply ta = { fs, a->ino, &tags };
	int err = be_key_ref(prefix, sizeof(prefix), a->project, a->name, NULL);

	if (err || fs_mutex_trylock(&art->tag_lock))
		return err;
	err = be_list(fs->be, prefix, tags_fn, &tags);
	if (!err)
		err = meta_write(fs->meta, tags_apply_fn, &ta);
	if (!err)
		err = meta_write(fs->meta, tags_drop_fn, &ta);
	fs_mutex_unlock(&art->tag_lock);
	free(tags.name);
	free(tags.n);
	return err;
}

int fs_refresh_locked(struct fs *fs, struct fs_art *art)
{
	struct head_arg head = { .fs = fs, .art = art->ino };
	struct fs_removals r = { 0 };
	struct meta_artifact a;
	struct meta_txn *txn;
	uint64_t *fresh = NULL;
	size_t nfresh = 0;
	int err;

	FS_ASSERT_HELD(&art->refresh_lock);
	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (!err) {
		err = meta_artifact_get(txn, art->ino, &a);
		meta_txn_abort(txn);
	}
	if (!err) {
		head.old_latest = a.latest;
		err = versions_read(fs, art, &a, &head, &r, &fresh, &nfresh);
	}
	if (!err)
		err = tags_read(fs, art, &a);
	if (!err)
		err = fs_removals_apply(fs, art, &r);
	if (!err && nfresh) {
		fs_mutex_lock(&art->lock); /* a HEAD change: after the store reads */
		err = meta_write(fs->meta, head_follow_fn, &head);
		fs_mutex_unlock(&art->lock);
	}
	if (!err) {
		err = fs_attrs_refresh_artifact(fs, &a, !art->attrs_based, fresh, nfresh);
		if (!err)
			art->attrs_based = 1;
	}
	if (nfresh)
		log_msg(LOG_INFO, "refresh %s/%s: %zu version(s) from the store", a.project, a.name,
			nfresh);
	if (err)
		log_msg(LOG_WARNING, "refresh of artifact inode %" PRIu64 " failed: %s", art->ino,
			strerror(err));
	fs_removals_release(&r);
	free(fresh);
	return err;
}

int fs_refresh_artifact(struct fs *fs, uint64_t art_ino, int force)
{
	struct fs_art *art = fs_art_get(fs, art_ino);
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	if (!art || (fs->conf.refresh_ms == 0 && force < 2) || !refresh_due(fs, art, force))
		return 0;
	/* A refresh running now is as good: this lookup goes on with what is known. */
	if (fs_mutex_trylock(&art->refresh_lock))
		return 0;
	err = fs_refresh_locked(fs, art);
	fs_mutex_unlock(&art->refresh_lock);
	return err;
}

struct discover {
	struct fs *fs;
	uint64_t parent;
	uint32_t kind;
	const char *name;
	char project[META_PA_MAX + 1];
	uint64_t made;
};

static int discover_fn(struct meta_txn *txn, void *arg)
{
	struct discover *d = arg;
	struct meta_artifact a;
	struct meta_inode p;
	uint64_t ino;
	int made, err = meta_inode_get(txn, d->parent, &p);

	d->made = 0;
	if (!err && d->kind == MK_PROJECT && fs_hidden_project(txn, d->name, &ino) == 0) {
		/* Removed here and restored elsewhere: its folder shows again, and lookups of
		 * its artifacts show theirs. */
		return meta_dirent_put(txn, d->parent, d->name, ino, S_IFDIR);
	}
	if (!err && d->kind == MK_ARTIFACT && fs_hidden_find(txn, d->parent, d->name, &a) == 0) {
		/* Removed here and restored elsewhere: its folder shows again, and the refresh
		 * that follows brings its versions back. */
		d->made = a.ino;
		return meta_artifact_show(txn, &a, 1);
	}
	if (!err)
		err = meta_pa_ensure(txn, d->parent, d->name, d->kind, d->project, p.uid, p.gid, 0755,
				   &ino, &made);
	if (!err && made)
		d->made = ino;
	return err;
}

/* Whether the store says artifact p/a is removed with no version left. */
static int artifact_removed(struct fs *fs, const char *p, const char *a)
{
	struct fs_removals r = { 0 };
	uint64_t *nums = NULL;
	size_t n = 0;
	int removed = 0;

	if (fs_removals_read(fs, p, a, &r, &nums, &n) == 0 && r.art) {
		removed = 1;
		for (size_t i = 0; i < n && removed; i++)
			removed = fs_removals_has(&r, nums[i]);
	}
	fs_removals_release(&r);
	free(nums);
	return removed;
}

int fs_refresh_name(struct fs *fs, const struct meta_inode *parent, const char *name)
{
	struct discover d = { .fs = fs, .parent = parent->ino, .name = name };
	struct fs_attr_owner o = { .where = FA_PROJECT };
	struct meta_txn *txn;
	const char *why;
	char key[700];
	uint64_t size;
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	if (fs->conf.refresh_ms == 0 || fs_name_check_pa(name, &why))
		return ENOENT;
	if (parent->kind == MK_ROOT) {
		d.kind = MK_PROJECT;
		snprintf(o.project, sizeof(o.project), "%s", name);
	} else if (parent->kind == MK_PROJECT) {
		err = meta_txn_begin(fs->meta, 1, &txn);
		if (err)
			return err;
		err = fs_attr_owner_of(txn, parent, &o);
		meta_txn_abort(txn);
		if (err)
			return err;
		memcpy(d.project, o.project, sizeof(d.project));
		d.kind = MK_ARTIFACT;
		o.where = FA_ARTIFACT;
		snprintf(o.artifact, sizeof(o.artifact), "%s", name);
	} else {
		return ENOENT;
	}
	/* Every host writes these objects when it makes a project or an artifact. */
	err = fs_attr_marker_key(&o, key, sizeof(key));
	if (!err)
		err = be_head(fs->be, key, &size);
	if (!err && d.kind == MK_ARTIFACT && artifact_removed(fs, d.project, name))
		err = ENOENT;
	if (!err && d.kind == MK_PROJECT && fs_project_removed(fs, name))
		err = ENOENT;
	if (err)
		return err;
	err = meta_write(fs->meta, discover_fn, &d);
	if (err)
		return err;
	if (d.made && d.kind == MK_ARTIFACT)
		fs_refresh_artifact(fs, d.made, 1);
	return 0;
}

void fs_attrs_refresh_for(struct fs *fs, uint64_t ino)
{
	struct meta_inode in;

	if (fs->conf.refresh_ms == 0 || fs_inode_read(fs, ino, &in))
		return;
	if (in.kind == MK_PROJECT)
		fs_attrs_refresh_project(fs, in.ino, 0);
	else if (in.kind == MK_ARTIFACT || in.kind == MK_VERSION)
		fs_refresh_artifact(fs, in.artifact, 0);
}

void fs_refresh_drafts(struct fs *fs)
{
	struct meta_inos dr = { 0 };
	struct meta_txn *txn;

	if (meta_txn_begin(fs->meta, 1, &txn))
		return;
	fs_artifacts_with(txn, FS_WITH_DRAFT, &dr);
	meta_txn_abort(txn);
	for (size_t i = 0; i < dr.n; i++)
		fs_refresh_artifact(fs, dr.v[i], 2);
	free(dr.v);
}
