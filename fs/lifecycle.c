/* SPDX-License-Identifier: MIT */
/*
 * Removing and restoring versions and artifacts (docs/lifecycle.md). The store holds the
 * truth: a mark beside the versions (versions/<p>/<a>/<N>.removed, or versions/<p>/<a>/removed
 * for the whole artifact up to a number), and every host's index follows it when the
 * artifact is refreshed, this host's at once. A removed version keeps its manifest, its
 * chunks and its tree in the index (open files keep reading); only its name goes, so that a
 * restore is instant, until gc purges it.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
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
static int fs_removals_add_to(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
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
	return fs_removals_add_to(&r->v, &r->n, &r->cap, n);
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

static int list_fn(void *arg, const char *key, uint64_t size)
{
	struct listing *l = arg;
	const char *name = key + strlen(l->prefix);
	size_t len = strlen(name), sl = strlen(BE_REMOVED_SUFFIX);
	uint64_t n, *nv;

	if (!strcmp(name, BE_REMOVED_ARTIFACT)) {
		l->art_mark = 1;
		return 0;
	}
	if (len == 20 + sl && !strcmp(name + 20, BE_REMOVED_SUFFIX))
		return be_key_version_number(name, 20, &n) ? 0 : fs_removals_add(l->r, n);
	if (!l->want_nums || be_key_version_number(name, len, &n))
		return 0;
	nv = be_grow(l->nums, l->n, &l->cap, sizeof(*nv));
	if (!nv)
		return ENOMEM;
	l->nums = nv;
	nv[l->n++] = n;
	return 0;
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

static int num_fn(void *arg, const struct meta_version *v)
{
	struct apply *ap = arg;
	uint64_t *nv;

	if (!fs_removals_has(ap->r, v->n))
		return 0;
	nv = be_grow(ap->nums, ap->n, &ap->cap, sizeof(*nv));
	if (!nv)
		return ENOMEM;
	ap->nums = nv;
	nv[ap->n++] = v->n;
	return 0;
}

static int back_fn(void *arg, const struct meta_removed *rec)
{
	struct apply *ap = arg;
	uint64_t *nv;

	if (fs_removals_has(ap->r, rec->v.n))
		return 0;
	nv = be_grow(ap->nums, ap->n, &ap->cap, sizeof(*nv));
	if (!nv)
		return ENOMEM;
	ap->nums = nv;
	nv[ap->n++] = rec->v.n;
	return 0;
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
	ap->n = 0;
	err = meta_version_iter(txn, a.ino, num_fn, ap);
	free(ap->gone);
	ap->gone = NULL;
	ap->ngone = ap->capgone = 0;
	for (size_t i = 0; i < ap->n && !err; i++) {
		err = meta_version_remove(txn, &a, ap->nums[i], ap->when, 1, NULL, 0);
		if (!err && fs_removals_add_to(&ap->gone, &ap->ngone, &ap->capgone, ap->nums[i]))
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
	err = meta_version_iter(txn, art, num_fn, &ap);
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

/* ---- artifs rm and artifs restore ---- */

struct what {
	struct meta_artifact a;
	uint64_t n;
	char tags[256];
	int removed; /* n (or the artifact) is removed already */
};

/* The artifact and, for a version, whether it exists, is removed or is tagged. */
static int look(struct fs *fs, struct fs_art *art, uint64_t n, struct what *w)
{
	struct meta_txn *txn;
	struct meta_version v;
	struct meta_removed r;
	uint64_t through;
	int err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return err;
	w->n = n;
	err = meta_artifact_get(txn, art->ino, &w->a);
	if (!err && n) {
		struct meta_vref vr = { .artifact = art->ino, .n = n };

		if (meta_version_get(txn, art->ino, n, &v) == 0)
			err = meta_vref_tags(txn, &vr, w->tags, sizeof(w->tags));
		else if (meta_removed_get(txn, art->ino, n, &r) == 0)
			w->removed = 1;
		else
			err = ENOENT;
	} else if (!err) {
		w->removed = meta_art_removed_get(txn, art->ino, &through, NULL) == 0;
	}
	meta_txn_abort(txn);
	return err;
}

/* The mark's body: when, and for an artifact the newest version it removes. */
static int mark_put(struct fs *fs, const struct what *w)
{
	char key[BE_KEY_MAX], body[128];
	int err = be_key_removed(key, sizeof(key), w->a.project, w->a.name, w->n);
	int len;

	if (err)
		return err;
	if (w->n)
		len = snprintf(body, sizeof(body), "{\"removed_ns\":%" PRId64 "}\n", fs_now_ns());
	else
		len = snprintf(body, sizeof(body),
			       "{\"removed_ns\":%" PRId64 ",\"through\":%" PRIu64 "}\n",
			       fs_now_ns(), w->a.next > w->a.latest + 1 ? w->a.next - 1 : w->a.latest);
	return be_put(fs->be, key, body, (size_t)len);
}

/* The store's removals of the artifact (one listing of its versions/ folder), applied. */
static int follow(struct fs *fs, struct fs_art *art, const struct meta_artifact *a)
{
	struct fs_removals r = { 0 };
	int err = fs_removals_read(fs, a->project, a->name, &r, NULL, NULL);

	if (!err)
		err = fs_removals_apply(fs, art, &r);
	fs_removals_release(&r);
	return err;
}

int fs_remove(struct fs *fs, struct fs_art *art, uint64_t n, int defer, char *why,
	      size_t whylen)
{
	struct what w = { 0 };
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	fs_mutex_lock(&art->commit_lock);
	fs_mutex_lock(&art->refresh_lock);
	err = look(fs, art, n, &w);
	if (err == ENOENT) {
		snprintf(why, whylen, "the artifact has no version %" PRIu64, n);
	} else if (!err && w.removed) {
		err = ENOENT;
		snprintf(why, whylen, "%s is removed already (artifs restore brings it back)",
			 n ? "the version" : "the artifact");
	} else if (!err && w.tags[0]) {
		err = EBUSY;
		snprintf(why, whylen, "tag(s) %s point at v%" PRIu64 ": move them (ln -sfn) or drop "
			 "them (rm) first", w.tags, n);
	} else if (!err && !n && w.a.draft) {
		err = EBUSY;
		snprintf(why, whylen, "the artifact has changes not committed yet: commit or "
			 "discard them first");
	} else if (!err && !n && !w.a.latest && w.a.next <= 1) {
		err = ENOENT;
		snprintf(why, whylen, "the artifact has no version (rmdir removes an empty one)");
	} else if (!err && (err = mark_put(fs, &w))) {
		snprintf(why, whylen, "cannot write the removal mark to the store: %s",
			 strerror(err));
	} else if (!err && !defer && (err = follow(fs, art, &w.a))) {
		snprintf(why, whylen, "the index did not follow the store: %s", strerror(err));
	}
	fs_mutex_unlock(&art->refresh_lock);
	fs_mutex_unlock(&art->commit_lock);
	if (!err)
		log_msg(LOG_INFO, "removed %s/%s%s%.0" PRIu64, w.a.project, w.a.name, n ? "@v" : "",
			n);
	return err;
}

int fs_restore(struct fs *fs, struct fs_art *art, uint64_t n, char *why, size_t whylen)
{
	struct what w = { 0 };
	char key[BE_KEY_MAX];
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	fs_mutex_lock(&art->commit_lock);
	fs_mutex_lock(&art->refresh_lock);
	err = look(fs, art, n, &w);
	if (err == ENOENT) {
		snprintf(why, whylen, "the artifact has no version %" PRIu64 " (removed or not)", n);
	} else if (!err && !w.removed) {
		err = EEXIST;
		snprintf(why, whylen, "%s is not removed", n ? "the version" : "the artifact");
	} else if (!err) {
		err = be_key_removed(key, sizeof(key), w.a.project, w.a.name, n);
		if (!err && (err = be_del(fs->be, key)) == ENOENT)
			err = 0; /* restored meanwhile by another host */
		if (err)
			snprintf(why, whylen, "cannot remove the removal mark from the store: %s",
				 strerror(err));
		else if ((err = follow(fs, art, &w.a)))
			snprintf(why, whylen, "the index did not follow the store: %s",
				 strerror(err));
	}
	fs_mutex_unlock(&art->refresh_lock);
	fs_mutex_unlock(&art->commit_lock);
	if (!err)
		log_msg(LOG_INFO, "restored %s/%s%s%.0" PRIu64, w.a.project, w.a.name,
			n ? "@v" : "", n);
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
	 * a walk of them all, on the rare paths that need it (mkdir, rmdir, restore). */
	err = meta_artifact_iter(txn, hidden_fn, &h);

	if (err)
		return err;
	if (!h.found || meta_art_removed_get(txn, out->ino, &through, NULL))
		return ENOENT;
	return 0;
}

/* Restoring an artifact this index never held (removed elsewhere before it was seen): the
 * mark goes from the store, and the next lookup of the name finds the artifact as one made
 * elsewhere (refresh.c). */
static int restore_unseen(struct fs *fs, const struct meta_inode *p, const char *name,
			  char *why, size_t whylen)
{
	char project[META_NAME_MAX + 1], key[BE_KEY_MAX];
	struct meta_txn *txn;
	struct fs_removals r = { 0 };
	int err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return err;
	err = fs_child_name(txn, META_ROOT_INO, p->ino, project);
	meta_txn_abort(txn);
	if (!err)
		err = fs_removals_read_artifact(fs, project, name, &r);
	if (!err && !r.art) {
		snprintf(why, whylen, "no artifact of this name is removed");
		return ENOENT;
	}
	if (!err)
		err = be_key_removed(key, sizeof(key), project, name, 0);
	if (!err && (err = be_del(fs->be, key)) == ENOENT)
		err = 0;
	if (err)
		snprintf(why, whylen, "cannot restore it from the store: %s", strerror(err));
	return err;
}

int fs_do_lifecycle(struct fs *fs, const struct fuse_ctx *ctx, uint64_t ino, const char *name,
		    uint64_t n, int restore, char *why, size_t whylen)
{
	struct meta_inode p, c;
	struct meta_artifact a;
	struct meta_txn *txn;
	struct fs_art *art;
	uint64_t child;
	uint32_t type;
	const char *bad;
	int err = fs_inode_read(fs, ino, &p);

	if (err)
		return err;
	if (p.kind != MK_PROJECT)
		return ENOTTY;
	if (ctx->uid != 0 && !(ctx->uid == p.uid && (p.mode & S_IWUSR)) &&
	    !(ctx->gid == p.gid && (p.mode & S_IWGRP)) && !(p.mode & S_IWOTH)) {
		snprintf(why, whylen, "only root or a user who may write to the project folder "
			 "removes and restores its artifacts");
		return fs_refuse(EACCES, restore ? "restore" : "rm", name, why);
	}
	if (fs_name_check_pa(name, &bad)) {
		snprintf(why, whylen, "%s", bad);
		return fs_refuse(EINVAL, restore ? "restore" : "rm", name, why);
	}
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	if (meta_dirent_get(txn, ino, name, &child, &type) == 0 &&
	    meta_inode_get(txn, child, &c) == 0 && c.kind == MK_ARTIFACT)
		a.ino = child;
	else if ((err = fs_hidden_find(txn, ino, name, &a)) == ENOENT)
		snprintf(why, whylen, "no such artifact");
	meta_txn_abort(txn);
	if (err == ENOENT && restore && !n)
		err = restore_unseen(fs, &p, name, why, whylen);
	else if (!err && !(art = fs_art_get(fs, a.ino)))
		err = ENOMEM;
	else if (!err)
		err = restore ? fs_restore(fs, art, n, why, whylen) : fs_remove(fs, art, n, 0, why, whylen);
	if (err && why[0])
		fs_refuse(err, restore ? "restore" : "rm", name, why);
	return err;
}

/* ---- rm -rf of an artifact folder through the mount ---- */

/* A listing this old no longer makes an unlink of @latest a recursive removal. */
#define RMTREE_WINDOW_NS (60LL * 1000000000)

/* Under fs->lock: the requesting process's record for art, or NULL. */
static struct fs_rmtree *rmtree_find(struct fs *fs, pid_t pid, uint64_t art)
{
	for (int i = 0; i < FS_RMTREES; i++)
		if (fs->rmtrees[i].pid == pid && fs->rmtrees[i].art == art)
			return &fs->rmtrees[i];
	return NULL;
}

void fs_rmtree_listed(struct fs *fs, uint64_t art)
{
	pid_t pid = fs_req_pid();
	struct fs_rmtree *t;

	if (!pid)
		return;
	pthread_mutex_lock(&fs->lock);
	t = rmtree_find(fs, pid, art);
	if (!t) {
		t = &fs->rmtrees[0];
		for (int i = 1; i < FS_RMTREES; i++) /* the oldest record gives way */
			if (fs->rmtrees[i].when < t->when)
				t = &fs->rmtrees[i];
		memset(t, 0, sizeof(*t));
		t->pid = pid;
		t->art = art;
	}
	if (!t->removed)
		t->when = fs_mono_ns();
	pthread_mutex_unlock(&fs->lock);
}

/* Under fs->lock: marks (or unmarks) the requesting process's record for art removed. */
static void rmtree_mark(struct fs *fs, pid_t pid, const struct meta_artifact *a, int removed)
{
	struct fs_rmtree *t = rmtree_find(fs, pid, a->ino);

	if (!t)
		return;
	t->removed = removed;
	t->project = a->project_ino;
	snprintf(t->name, sizeof(t->name), "%s", a->name);
}

int fs_rmtree_latest(struct fs *fs, uint64_t art_ino, char *why, size_t whylen)
{
	pid_t pid = fs_req_pid();
	struct fs_rmtree *t;
	struct fs_art *art;
	struct meta_artifact a;
	struct meta_txn *txn;
	int listed, err;

	pthread_mutex_lock(&fs->lock);
	t = rmtree_find(fs, pid, art_ino);
	listed = pid && t && !t->removed && fs_mono_ns() - t->when < RMTREE_WINDOW_NS;
	pthread_mutex_unlock(&fs->lock);
	snprintf(why, whylen, "@latest is kept by artifs and cannot be removed");
	if (!listed)
		return EPERM;
	if (!(art = fs_art_get(fs, art_ino)))
		return ENOMEM;
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_artifact_get(txn, art_ino, &a);
	meta_txn_abort(txn);
	if (err)
		return err;
	/* Marked first: no refresh hides the names this walk listed before it ends. */
	pthread_mutex_lock(&fs->lock);
	rmtree_mark(fs, pid, &a, 1);
	pthread_mutex_unlock(&fs->lock);
	err = fs_remove(fs, art, 0, 1, why, whylen);
	if (err) {
		pthread_mutex_lock(&fs->lock);
		rmtree_mark(fs, pid, &a, 0);
		if ((t = rmtree_find(fs, pid, art_ino)))
			t->refused = 1; /* its tags stay: fs_rmtree_refused() */
		pthread_mutex_unlock(&fs->lock);
		return err == ENOENT ? EPERM : err;
	}
	log_msg(LOG_INFO, "%s/%s: removed by a recursive removal of its folder (pid %d); artifs "
		"restore brings it back", a.project, a.name, (int)pid);
	return 0;
}

int fs_rmtree_refused(struct fs *fs, uint64_t art)
{
	struct fs_rmtree *t;
	int refused;

	pthread_mutex_lock(&fs->lock);
	t = rmtree_find(fs, fs_req_pid(), art);
	refused = t && t->refused;
	pthread_mutex_unlock(&fs->lock);
	return refused;
}

/* The last step of a recursive removal, the rmdir of the artifact folder itself: the
 * index follows the store now. */
static void rmtree_done(struct fs *fs, const struct fs_rmtree *done)
{
	struct fs_art *art = fs_art_get(fs, done->art);
	struct meta_artifact a;
	struct meta_txn *txn;
	int err;

	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FS_RMTREES; i++)
		if (fs->rmtrees[i].pid == done->pid && fs->rmtrees[i].art == done->art)
			memset(&fs->rmtrees[i], 0, sizeof(fs->rmtrees[i]));
	pthread_mutex_unlock(&fs->lock);
	if (!art || meta_txn_begin(fs->meta, 1, &txn))
		return;
	err = meta_artifact_get(txn, done->art, &a);
	meta_txn_abort(txn);
	if (err)
		return;
	fs_mutex_lock(&art->refresh_lock);
	err = follow(fs, art, &a);
	fs_mutex_unlock(&art->refresh_lock);
	if (err)
		log_msg(LOG_WARNING, "%s/%s: the index did not follow its removal: %s (the next "
			"refresh retries)", a.project, a.name, strerror(err));
}

int fs_rmtree_absorbs(struct fs *fs, uint64_t parent, const char *name)
{
	pid_t pid = fs_req_pid();
	struct fs_rmtree t[FS_RMTREES];
	struct meta_inode p;
	int n = 0;

	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FS_RMTREES; i++)
		if (pid && fs->rmtrees[i].pid == pid && fs->rmtrees[i].removed)
			t[n++] = fs->rmtrees[i];
	pthread_mutex_unlock(&fs->lock);
	if (!n || fs_inode_read(fs, parent, &p))
		return 0;
	for (int i = 0; i < n; i++) {
		if (parent == t[i].project && !strcmp(name, t[i].name)) {
			rmtree_done(fs, &t[i]);
			return 1;
		}
		if (parent == t[i].art || p.artifact == t[i].art)
			return 1;
	}
	return 0;
}
