/* SPDX-License-Identifier: MIT */
/*
 * What the store says is removed (docs/lifecycle.md): the marks beside an artifact's
 * versions (versions/<p>/<a>/<N>.removed, versions/<p>/<a>/removed for the whole artifact up
 * to a number), read from the one listing a refresh makes, and the index made to follow them
 * (refresh, rebuild, and artifs rm and restore on this host). Store reads, then one write
 * transaction; the kernel is told of the names that went.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

/* The largest removal mark read: a small JSON object. */
#define REMOVED_OBJECT_MAX 4096

void fs_removals_release(struct fs_removals *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

int fs_removals_has(const struct fs_removals *r, uint64_t n)
{
	if (r->art && n <= r->through)
		return 1;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i] == n)
			return 1;
	return 0;
}

/* n appended to the array *v (n used, *cap allocated). */
static int add_to(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	uint64_t *nv = be_grow(*v, *n, cap, sizeof(*nv));

	if (!nv)
		return ENOMEM;
	*v = nv;
	nv[(*n)++] = x;
	return 0;
}

int fs_removals_add(struct fs_removals *r, uint64_t n)
{
	return add_to(&r->v, &r->n, &r->cap, n);
}

/* The artifact's removal mark: "through" is the newest version it removes. A mark that is
 * not one is skipped with a log line (nothing is hidden by it). */
int fs_removals_read_artifact(struct fs *fs, const char *project, const char *artifact,
			      struct fs_removals *r)
{
	char key[BE_KEY_MAX];
	json_error_t jerr;
	json_t *o, *t;
	void *buf = NULL;
	size_t len;
	int err = be_key_removed(key, sizeof(key), project, artifact, 0);

	if (!err)
		err = be_get_all(fs->be, key, REMOVED_OBJECT_MAX, &buf, &len);
	if (err == ENOENT)
		return 0;
	if (err == EFBIG || (!err && !(o = json_loadb(buf, len, 0, &jerr)))) {
		log_msg(LOG_WARNING, "store: %s is not a removal mark; skipped", key);
		free(buf);
		return 0;
	}
	free(buf);
	if (err)
		return err;
	t = json_object_get(o, "through");
	if (json_is_integer(t) && json_integer_value(t) >= 0 &&
	    (uint64_t)json_integer_value(t) <= BE_VERSION_MAX) {
		r->art = 1;
		r->through = (uint64_t)json_integer_value(t);
	} else {
		log_msg(LOG_WARNING, "store: %s names no version number (\"through\"); skipped",
			key);
	}
	json_decref(o);
	return 0;
}

struct listing {
	const char *prefix;
	struct fs_removals *r;
	uint64_t *nums;
	size_t n, cap;
	int want_nums, art_mark;
};

int fs_removal_mark(const char *rest, uint64_t *n)
{
	size_t len = strlen(rest), sl = strlen(BE_REMOVED_SUFFIX);

	if (!strcmp(rest, BE_REMOVED_ARTIFACT))
		return 2;
	return len == 20 + sl && !strcmp(rest + 20, BE_REMOVED_SUFFIX) &&
	       be_key_version_number(rest, 20, n) == 0;
}

static int list_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct listing *l = arg;
	const char *name = key + strlen(l->prefix);
	uint64_t n;

	switch (fs_removal_mark(name, &n)) {
	case 2:
		l->art_mark = 1;
		return 0;
	case 1:
		return fs_removals_add(l->r, n);
	}
	if (!l->want_nums || be_key_version_number(name, strlen(name), &n))
		return 0;
	return add_to(&l->nums, &l->n, &l->cap, n);
}

int fs_removals_read(struct fs *fs, const char *project, const char *artifact,
		     struct fs_removals *r, uint64_t **nums, size_t *nnums)
{
	char prefix[BE_KEY_MAX];
	struct listing l = { .prefix = prefix, .r = r, .want_nums = nums != NULL };
	int err = be_key_version(prefix, sizeof(prefix), project, artifact, 0);

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	memset(r, 0, sizeof(*r));
	if (!err)
		err = be_list(fs->be, prefix, list_fn, &l);
	if (!err && l.art_mark)
		err = fs_removals_read_artifact(fs, project, artifact, r);
	if (err || !nums) {
		free(l.nums);
		if (err)
			fs_removals_release(r);
		return err;
	}
	*nums = l.nums;
	*nnums = l.n;
	return 0;
}

struct inval {
	struct fs *fs;
	uint64_t parent;
	char name[META_NAME_MAX + 1];
};

static void inval_run(void *arg)
{
	struct inval *iv = arg;

	if (iv->fs->se)
		fuse_lowlevel_notify_inval_entry(iv->fs->se, iv->parent, iv->name,
						 strlen(iv->name));
	free(iv);
}

void fs_inval_entry_now(struct fs *fs, uint64_t parent, const char *name)
{
	if (fs->se)
		fuse_lowlevel_notify_inval_entry(fs->se, parent, name, strlen(name));
}

void fs_inval_entry(struct fs *fs, uint64_t parent, const char *name)
{
	struct inval *iv = calloc(1, sizeof(*iv));

	if (!iv || !fs->notifier) {
		free(iv);
		return; /* the kernel forgets the name when its cache times out */
	}
	iv->fs = fs;
	iv->parent = parent;
	snprintf(iv->name, sizeof(iv->name), "%s", name);
	if (fs_pool_submit(fs->notifier, inval_run, iv))
		free(iv);
}

struct apply {
	struct fs *fs;
	uint64_t art;
	const struct fs_removals *r;
	int64_t when;
	uint64_t *gone; /* the versions removed, for the kernel to forget */
	size_t ngone, capgone;
	int hidden;     /* the folder was hidden */
	uint64_t project;
	char name[META_PA_MAX + 1];
	struct meta_inos drop; /* staged inodes of a HEAD that followed the newest version */
	uint64_t *nums;
	size_t n, cap;
};

/* The artifact removed up to through: its versions up to it. */
static int through_fn(void *arg, const struct meta_version *v)
{
	struct apply *ap = arg;

	if (v->n > ap->r->through)
		return 0;
	return add_to(&ap->nums, &ap->n, &ap->cap, v->n);
}

/* The versions of art in the index that r removes, into ap->nums: a lookup per marked
 * number, and a walk of the versions only when the whole artifact is removed, so that a
 * refresh of an artifact with many versions and a few marks stays cheap. */
static int gone_collect(struct meta_txn *txn, uint64_t art, struct apply *ap)
{
	struct meta_version v;
	int err = 0;

	ap->n = 0;
	if (ap->r->art)
		err = meta_version_iter(txn, art, through_fn, ap);
	for (size_t i = 0; i < ap->r->n && !err; i++) {
		if (ap->r->art && ap->r->v[i] <= ap->r->through)
			continue; /* had by the walk */
		err = meta_version_get(txn, art, ap->r->v[i], &v);
		if (err == ENOENT)
			err = 0;
		else if (!err)
			err = add_to(&ap->nums, &ap->n, &ap->cap, v.n);
	}
	return err;
}

static int back_fn(void *arg, const struct meta_removed *rec)
{
	struct apply *ap = arg;

	if (fs_removals_has(ap->r, rec->v.n))
		return 0;
	return add_to(&ap->nums, &ap->n, &ap->cap, rec->v.n);
}

/* The index made to follow the removals: versions they name go, removed ones they no longer
 * name come back, the folder hides while the artifact is removed and has neither a version
 * nor a draft, and a HEAD without a draft follows the newest version. */
static int apply_fn(struct meta_txn *txn, void *arg)
{
	struct apply *ap = arg;
	struct meta_free fr = { fs_head_free_fn, ap->fs };
	struct meta_artifact a;
	uint64_t old_latest, through;
	int err = meta_artifact_get(txn, ap->art, &a);

	if (err)
		return err;
	old_latest = a.latest;
	err = gone_collect(txn, a.ino, ap);
	free(ap->gone);
	ap->gone = NULL;
	ap->ngone = ap->capgone = 0;
	for (size_t i = 0; i < ap->n && !err; i++) {
		err = meta_version_remove(txn, &a, ap->nums[i], ap->when, 1, NULL, 0);
		if (!err && add_to(&ap->gone, &ap->ngone, &ap->capgone, ap->nums[i]))
			err = ENOMEM;
	}
	ap->n = 0;
	if (!err)
		err = meta_removed_iter(txn, a.ino, back_fn, ap);
	for (size_t i = 0; i < ap->n && !err; i++)
		err = meta_version_restore(txn, &a, ap->nums[i]);
	if (err)
		return err;
	/* A removed number stays taken, also once gc purged its manifest (docs/gc.md). */
	for (size_t i = 0; i < ap->r->n; i++)
		if (ap->r->v[i] >= a.next)
			a.next = ap->r->v[i] + 1;
	if (ap->r->art && ap->r->through >= a.next)
		a.next = ap->r->through + 1;
	err = meta_artifact_put(txn, &a);
	if (!err && ap->r->art)
		err = meta_art_removed_put(txn, a.ino, ap->r->through, ap->when);
	else if (meta_art_removed_get(txn, a.ino, &through, NULL) == 0)
		err = meta_art_removed_del(txn, a.ino);
	ap->hidden = ap->r->art && !a.latest && !a.draft;
	ap->project = a.project_ino;
	snprintf(ap->name, sizeof(ap->name), "%s", a.name);
	if (!err)
		err = meta_artifact_show(txn, &a, !ap->hidden);
	if (!err && !a.draft && a.latest != old_latest)
		err = meta_head_reset(txn, &a, a.latest, &fr, &ap->drop);
	return err;
}

/* Whether the index differs from the removals (a read transaction), so that a refresh
 * with nothing to change writes nothing. */
static int differs(struct fs *fs, uint64_t art, const struct fs_removals *r)
{
	struct apply ap = { .fs = fs, .art = art, .r = r };
	struct meta_artifact a;
	struct meta_txn *txn;
	uint64_t through;
	int d, err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return 1;
	err = gone_collect(txn, art, &ap);
	d = err || ap.n;
	ap.n = 0;
	if (!d)
		d = meta_removed_iter(txn, art, back_fn, &ap) || ap.n;
	if (!d)
		d = r->art != (meta_art_removed_get(txn, art, &through, NULL) == 0) ||
		    (r->art && through != r->through);
	if (!d && !meta_artifact_get(txn, art, &a)) {
		for (size_t i = 0; i < r->n && !d; i++)
			d = r->v[i] >= a.next;
		d = d || (r->art && r->through >= a.next);
	}
	meta_txn_abort(txn);
	free(ap.nums);
	return d;
}

/* Whether a recursive removal of art's folder (fs_rmtree_latest()) is still running: the
 * index follows once it ends, so that its walk finds every name it listed. */
static int rmtree_pending(struct fs *fs, uint64_t art)
{
	int pending = 0;

	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FS_RMTREES; i++) {
		struct fs_rmtree *t = &fs->rmtrees[i];

		if (!t->removed || t->art != art)
			continue;
		if (kill(t->pid, 0) == 0 || errno == EPERM)
			pending = 1;
		else
			memset(t, 0, sizeof(*t)); /* it ended without its last rmdir */
	}
	pthread_mutex_unlock(&fs->lock);
	return pending;
}

int fs_removals_apply(struct fs *fs, struct fs_art *art, const struct fs_removals *r)
{
	struct apply ap = { .fs = fs, .art = art->ino, .r = r, .when = fs_now_ns() };
	int err;

	FS_ASSERT_HELD(&art->refresh_lock);
	if (rmtree_pending(fs, art->ino) || !differs(fs, art->ino, r))
		return 0;
	fs_mutex_lock(&art->lock);
	err = meta_write(fs->meta, apply_fn, &ap);
	fs_mutex_unlock(&art->lock);
	for (size_t i = 0; !err && i < ap.drop.n; i++)
		fs_staging_drop(fs, ap.drop.v[i]);
	for (size_t i = 0; !err && i < ap.ngone; i++) {
		char vname[32];

		snprintf(vname, sizeof(vname), "@v%" PRIu64, ap.gone[i]);
		fs_inval_entry(fs, art->ino, vname);
	}
	if (!err && ap.hidden)
		fs_inval_entry(fs, ap.project, ap.name);
	free(ap.drop.v);
	free(ap.nums);
	free(ap.gone);
	return err;
}

struct hidden {
	uint64_t project;
	const char *name;
	struct meta_artifact *out;
	int found;
};

static int hidden_fn(void *arg, const struct meta_artifact *rec)
{
	struct hidden *h = arg;

	if (rec->project_ino != h->project || (h->name && strcmp(rec->name, h->name)))
		return 0;
	*h->out = *rec;
	h->found = 1;
	return META_ITER_STOP;
}

int fs_hidden_find(struct meta_txn *txn, uint64_t project_ino, const char *name,
		   struct meta_artifact *out)
{
	struct hidden h = { project_ino, name, out, 0 };
	uint64_t through;
	int err;

	/* Its folder is gone from the project, so the artifact records are what is searched:
	 * a walk of them all, on the paths that need it (mkdir, rmdir, a lookup of a name not
	 * there, restore), and only when anything at all is removed. */
	if (meta_removed_none(txn))
		return ENOENT;
	err = meta_artifact_iter(txn, hidden_fn, &h);

	if (err)
		return err;
	if (!h.found || meta_art_removed_get(txn, out->ino, &through, NULL))
		return ENOENT;
	return 0;
}


/* ---- hidden projects (fs/projects.c) ---- */

int fs_project_mark_key(char *key, size_t len, const char *project)
{
	return be_key_meta(key, len, project, NULL, "@removed");
}

/* Whether the store holds project's mark: 1, 0, or -errno when it cannot tell. */
static int mark_exists(struct fs *fs, const char *project)
{
	char key[BE_KEY_MAX];
	uint64_t size;
	int err = fs_project_mark_key(key, sizeof(key), project);

	if (!err)
		err = be_head(fs->be, key, &size);
	return err == 0 ? 1 : err == ENOENT ? 0 : -err;
}

int fs_project_removed(struct fs *fs, const char *project)
{
	return mark_exists(fs, project) == 1;
}

struct hidden_project {
	const char *name;
	struct meta_txn *txn;
	uint64_t pino;
};

static int hidden_project_fn(void *arg, const struct meta_artifact *rec)
{
	struct hidden_project *h = arg;
	uint64_t child;
	uint32_t type;

	if (strcmp(rec->project, h->name) ||
	    (meta_dirent_get(h->txn, META_ROOT_INO, h->name, &child, &type) == 0 &&
	     child == rec->project_ino))
		return 0;
	h->pino = rec->project_ino;
	return META_ITER_STOP;
}

int fs_hidden_project(struct meta_txn *txn, const char *name, uint64_t *pino)
{
	struct hidden_project h = { name, txn, 0 };
	struct meta_inode in;
	int err;

	/* A hidden project holds removed artifacts only, so there is none to find while
	 * nothing is removed; else the artifact records name it. */
	if (meta_removed_none(txn))
		return ENOENT;
	err = meta_artifact_iter(txn, hidden_project_fn, &h);
	if (err)
		return err;
	if (!h.pino || meta_inode_get(txn, h.pino, &in) || in.kind != MK_PROJECT)
		return ENOENT;
	*pino = h.pino;
	return 0;
}
