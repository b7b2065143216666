/* SPDX-License-Identifier: MIT */
/*
 * Removing and restoring versions and artifacts (docs/lifecycle.md): artifs rm and artifs
 * restore, and rm -rf of an artifact folder through the mount. The store holds the truth, a
 * mark beside the versions; this host's index then follows it as every host's does on
 * refresh (fs/removals.c). A removed version keeps its manifest, its chunks and its tree in
 * the index (open files keep reading); only its name goes, so that a restore is instant,
 * until gc purges it.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_int.h"

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
	int missing = 0, err = meta_txn_begin(fs->meta, 1, &txn);

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
			err = missing = ENOENT;
	} else if (!err) {
		w->removed = meta_art_removed_get(txn, art->ino, &through, NULL) == 0;
	}
	meta_txn_abort(txn);
	if (missing) {
		char key[BE_KEY_MAX];
		uint64_t size;

		/* Removed before this host read it: only the store knows it. */
		if (!be_key_removed(key, sizeof(key), w->a.project, w->a.name, n) &&
		    be_head(fs->be, key, &size) == 0) {
			w->removed = 1;
			err = 0;
		}
	}
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
	} else if (!err && !defer && (err = fs_refresh_locked(fs, art))) {
		snprintf(why, whylen, "done in the store, but this host's index did not follow "
			 "yet (its next refresh does): %s", strerror(err));
	}
	fs_mutex_unlock(&art->refresh_lock);
	fs_mutex_unlock(&art->commit_lock);
	if (!err)
		log_msg(LOG_INFO, "removed %s/%s%s%.0" PRIu64, w.a.project, w.a.name, n ? "@v" : "",
			n);
	return err;
}

/* ENOENT with why when the removal mark key says gc purged what it removes (docs/gc.md);
 * 0 when it does not, or cannot be read (the restore then goes on as before). */
static int purged_check(struct fs *fs, const char *key, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *o = NULL, *t;
	void *buf = NULL;
	size_t len;
	int err = be_get_all(fs->be, key, 4096, &buf, &len);

	if (!err)
		o = json_loadb(buf, len, 0, &jerr);
	free(buf);
	t = json_object_get(o, "purged_ns");
	if (json_is_integer(t)) {
		time_t when = (time_t)(json_integer_value(t) / 1000000000LL);
		struct tm tm;
		char date[64] = "?";

		if (gmtime_r(&when, &tm))
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
		snprintf(why, whylen, "purged by gc on %s: its manifest and labels are gone from "
			 "the store", date);
		err = ENOENT;
	} else {
		err = 0;
	}
	json_decref(o);
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
		if (!err && (err = purged_check(fs, key, why, whylen)))
			goto out;
		if (!err && (err = be_del(fs->be, key)) == ENOENT)
			err = 0; /* restored meanwhile by another host */
		if (err)
			snprintf(why, whylen, "cannot remove the removal mark from the store: %s",
				 strerror(err));
		else if ((err = fs_refresh_locked(fs, art)))
			snprintf(why, whylen, "done in the store, but this host's index did not "
				 "follow yet (its next refresh does): %s",
				 strerror(err));
	}
out:
	fs_mutex_unlock(&art->refresh_lock);
	fs_mutex_unlock(&art->commit_lock);
	if (!err)
		log_msg(LOG_INFO, "restored %s/%s%s%.0" PRIu64, w.a.project, w.a.name,
			n ? "@v" : "", n);
	return err;
}

/* Restoring an artifact this index never held (removed elsewhere before it was seen): the
 * mark goes from the store, and the next lookup of the name finds the artifact as one made
 * elsewhere (refresh.c). */
int fs_restore_unseen(struct fs *fs, const char *project, const char *name, char *why,
		      size_t whylen)
{
	char key[BE_KEY_MAX];
	struct fs_removals r = { 0 };
	int err = fs_removals_read_artifact(fs, project, name, &r);

	if (!err && !r.art) {
		snprintf(why, whylen, "no artifact of this name is removed");
		return ENOENT;
	}
	if (!err)
		err = be_key_removed(key, sizeof(key), project, name, 0);
	if (!err && (err = purged_check(fs, key, why, whylen)))
		return err;
	if (!err && (err = be_del(fs->be, key)) == ENOENT)
		err = 0;
	if (err)
		snprintf(why, whylen, "cannot restore it from the store: %s", strerror(err));
	return err;
}

static int restore_unseen(struct fs *fs, const struct meta_inode *p, const char *name,
			  char *why, size_t whylen)
{
	char project[META_NAME_MAX + 1];
	struct meta_txn *txn;
	int err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return err;
	err = fs_child_name(txn, META_ROOT_INO, p->ino, project);
	meta_txn_abort(txn);
	return err ? err : fs_restore_unseen(fs, project, name, why, whylen);
}

int fs_may_write(const struct fuse_ctx *ctx, const struct meta_inode *p)
{
	return ctx->uid == 0 || (ctx->uid == p->uid && (p->mode & S_IWUSR)) ||
	       (ctx->gid == p->gid && (p->mode & S_IWGRP)) || (p->mode & S_IWOTH);
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
	if (fs_name_check_pa(name, &bad)) {
		snprintf(why, whylen, "%s", bad);
		return fs_refuse(EINVAL, restore ? "restore" : "rm", name, why);
	}
	if (!fs_may_write(ctx, &p)) {
		snprintf(why, whylen, "only root or a user who may write to the project folder "
			 "removes and restores its artifacts");
		return fs_refuse(EACCES, restore ? "restore" : "rm", name, why);
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
	if (!err && !restore) {
		/* The kernel forgets the name before the command returns (an ioctl holds no
		 * folder lock); the notifier's later telling is then a no-op. */
		char vname[32];

		snprintf(vname, sizeof(vname), "@v%" PRIu64, n);
		fs_inval_entry_now(fs, n ? a.ino : ino, n ? vname : name);
	}
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
	err = fs_refresh_locked(fs, art);
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
