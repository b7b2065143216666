/* SPDX-License-Identifier: MIT */
/* Tags: an @name at the top of an artifact, set (ln -s, ln -sfn), moved (mv) and dropped (rm)
 * through the store first (see "Tags" below). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "fs_int.h"

/* Resolves a tag target ("@v3", "@prod", "@latest") to a version number of artifact art. */
static int resolve_ref(struct meta_txn *txn, uint64_t art, const char *target, uint64_t *n)
{
	char *end, *link = NULL;
	struct meta_version v;
	uint64_t child;
	uint32_t type;
	int err;

	if (target[0] != '@' || target[1] == '\0')
		return EINVAL;
	if (target[1] == 'v' && target[2] >= '0' && target[2] <= '9') {
		*n = strtoull(target + 2, &end, 10);
		if (*end)
			return EINVAL;
		return meta_version_get(txn, art, *n, &v);
	}
	if (strchr(target, '/'))
		return EINVAL;
	err = meta_dirent_get(txn, art, target, &child, &type);
	if (err)
		return err;
	err = meta_link_get(txn, child, &link);
	if (err)
		return err;
	err = (link[0] == '@' && link[1] == 'v') ? resolve_ref(txn, art, link, n) : EINVAL;
	free(link);
	return err;
}

/*
 * ---- Tags ----
 *
 * A tag is an index entry and a store object, refs/<p>/<a>/<tag>, that refresh copies into
 * every host's index: the store is the truth. Setting, moving and dropping one follows git's
 * ref transactions (prepare, then finish): check and resolve everything in a read
 * transaction; write the store with no LMDB write transaction open and no lock but the
 * artifact's tag_lock, which only this artifact's tag changes wait for; then change the index
 * in a write transaction that checks again what it relies on. tag_lock is held from the
 * first phase to the last, so two changes of one tag on this host never cross (the index
 * ends as the store does), and refresh applies the store's tags under it too (it only tries
 * it: while a change is in flight it skips the tags once), so a listing made before a change
 * is never applied after it. The order keeps a failure from leaving the store and the index
 * disagreeing in a way refresh cannot repair, and from bringing back what the user was told
 * is gone:
 *  - set (ln -s, ln -sfn, artifs tag): put the object, then install the tag. A failed put
 *    changes nothing here and answers its errno (logged); had the store taken it after all
 *    (a lost answer), the next refresh shows the tag.
 *  - drop (rm): delete the object, then remove the tag. A failed delete leaves the tag in
 *    both (or, had it landed, refresh drops it here). Removing from the index first would
 *    let a failed delete bring back, on the next refresh, a tag that rm said was gone.
 *  - rename (mv @a @b): put b, delete a, then move the inode. When the delete fails, the
 *    index gets b and keeps a, as the store has both, and the rename answers the errno.
 * A failed index update after a store write (the index full, say) is logged; the next
 * refresh makes the index follow the store.
 */
struct tag_op {
	uint64_t art;
	const char *name;    /* the tag, with its '@' */
	const char *target;  /* a new tag: its link text ("@v3", "@prod", "@latest") */
	struct fs_mv *mv;   /* a rename onto the tag (ln -sfn, mv @a @b), else NULL */
	uint32_t uid, gid;   /* owner of a tag inode made now */
	const char *why;     /* a refusal's reason (store failures are logged where they happen) */
	/* prepared */
	struct meta_artifact a;
	uint64_t n;          /* the version the tag points at */
	uint64_t src;        /* a rename: the inode that becomes the tag */
	int src_tag;         /* ... a tag, whose old name goes (mv @a @b) */
	uint64_t old;        /* the inode under the tag's name, or 0 */
	char key[FS_REF_KEY_MAX], oldkey[FS_REF_KEY_MAX];
	/* finished */
	int keep_src;        /* the old name's object could not be deleted: src stays */
	struct meta_inode out;
};

static int tag_set_prepare(struct meta_txn *txn, struct tag_op *t)
{
	struct meta_inode p, np, c, d;
	char *link = NULL;
	uint64_t child;
	uint32_t type;
	int err;

	err = fs_name_check_tag(t->name + 1, &t->why);
	if (!err)
		err = meta_artifact_get(txn, t->art, &t->a);
	if (err)
		return err;
	if (t->mv) {
		err = fs_mv_check(txn, t->mv, &p, &np, &c);
		if (err) {
			t->why = t->mv->why;
			return err;
		}
		/* `ln -sfn @v3 @prod` makes a symlink under a temporary name and renames it
		 * over the tag: a tag move, and the temporary link leaves the draft. */
		if (c.kind != MK_TAG && (c.kind != MK_HEAD || !S_ISLNK(c.mode))) {
			t->why = "names starting with '@' are reserved at the top of an artifact";
			return EINVAL;
		}
		err = meta_link_get(txn, c.ino, &link);
		if (err)
			return err;
		t->src = c.ino;
		t->src_tag = c.kind == MK_TAG;
		t->uid = c.uid;
		t->gid = c.gid;
	}
	err = resolve_ref(txn, t->art, link ? link : t->target, &t->n);
	free(link);
	if (err) {
		t->why = err == ENOENT ? "the tag's target version does not exist"
				       : "a tag points at @v<N>, another tag or @latest";
		return err == ENOENT ? ENOENT : EINVAL;
	}
	if (meta_dirent_get(txn, t->art, t->name, &child, &type) == 0) {
		t->old = child;
		if (child == t->src)
			return 0; /* renamed onto itself */
		err = meta_inode_get(txn, child, &d);
		if (err)
			return err;
		if (d.kind != MK_TAG) {
			t->why = d.kind == MK_LATEST ? "@latest is kept by artifs"
						     : "versions are read-only";
			return d.kind == MK_LATEST ? EPERM : EROFS;
		}
		if (!t->mv) {
			t->why = "the tag exists (ln -sfn moves it)";
			return EEXIST;
		}
		if (t->mv->flags & RENAME_NOREPLACE)
			return EEXIST;
	}
	err = be_key_ref(t->key, sizeof(t->key), t->a.project, t->a.name, t->name + 1);
	if (!err && t->src_tag)
		err = be_key_ref(t->oldkey, sizeof(t->oldkey), t->a.project, t->a.name,
				 t->mv->name + 1);
	return err;
}

/* The last phase of a set: the store holds the new value, so the index follows it. */
static int tag_set_fn(struct meta_txn *txn, void *arg)
{
	struct tag_op *t = arg;
	struct meta_version v;
	struct meta_inode src;
	uint64_t child;
	uint32_t type;
	int err, have_src = 0;

	/* Versions are not removed today; should one go meanwhile, its tag is not made. */
	err = meta_version_get(txn, t->art, t->n, &v);
	if (err) {
		t->why = "the tag's target version went meanwhile";
		return err;
	}
	/* Whatever stands under the tag's name gives way (tag_lock kept other changes out).
	 * The renamed inode becomes the tag if it still stands where it stood; a discard, a
	 * HEAD reset by refresh or an rm may have removed it meanwhile, and then the tag gets
	 * an inode of its own. */
	if (t->src && !t->keep_src &&
	    meta_dirent_get(txn, t->mv->parent, t->mv->name, &child, &type) == 0 &&
	    child == t->src) {
		err = meta_inode_get(txn, t->src, &src);
		if (!err)
			err = meta_dirent_del(txn, t->mv->parent, t->mv->name);
		if (err)
			return err;
		have_src = 1;
	}
	return meta_tag_point(txn, t->art, t->name, t->n, have_src ? &src : NULL, t->uid, t->gid,
			    &t->out);
}

/* The one way a tag is set, moved or renamed from the mount. Takes the artifact's tag_lock,
 * and its lock for the last transaction when a HEAD symlink becomes the tag; blocks on the
 * store with neither that lock nor a write transaction held. */
static int tag_set(struct fs *fs, struct tag_op *t)
{
	struct fs_art *art = fs_art_get(fs, t->art), *head = NULL;
	struct meta_txn *txn;
	char val[32];
	int err, derr = 0;

	if (!art)
		return ENOMEM;
	fs_mutex_lock(&art->tag_lock);
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (!err) {
		err = tag_set_prepare(txn, t);
		meta_txn_abort(txn);
	}
	if (err || (t->src && t->old == t->src))
		goto out;
	snprintf(val, sizeof(val), "%" PRIu64 "\n", t->n);
	FS_ASSERT_NO_HEAD_LOCK();
	err = be_put(fs->be, t->key, val, strlen(val));
	if (err) {
		log_msg(LOG_ERR, "tag %s/%s/%s: cannot write %s to the store: %s; the tag is "
			"unchanged here (a refresh shows it should the store have taken it after all)",
			t->a.project, t->a.name, t->name, t->key, strerror(err));
		goto out;
	}
	if (t->src_tag) {
		derr = be_del(fs->be, t->oldkey);
		if (derr) {
			log_msg(LOG_ERR, "tag %s/%s/%s: cannot delete %s from the store: %s; %s "
				"stays beside %s", t->a.project, t->a.name, t->mv->name, t->oldkey,
				strerror(derr), t->mv->name, t->name);
			t->keep_src = 1;
		}
	}
	if (t->src && !t->src_tag) {
		/* A HEAD symlink leaves the HEAD: not in the middle of a commit. */
		head = art;
		fs_mutex_lock(&head->lock);
	}
	err = meta_write(fs->meta, tag_set_fn, t);
	if (head)
		fs_mutex_unlock(&head->lock);
	if (err)
		log_msg(LOG_ERR, "tag %s/%s/%s: the store says @v%" PRIu64 ", the index cannot "
			"follow: %s (the next refresh retries)", t->a.project, t->a.name, t->name,
			t->n, strerror(err));
	else
		err = derr;
out:
	fs_mutex_unlock(&art->tag_lock);
	return err;
}

/* ln -s TARGET @tag in an artifact folder. */
int fs_tag_link(struct fs *fs, const struct fuse_ctx *ctx, uint64_t art, const char *name,
		const char *link, struct fuse_entry_param *e)
{
	struct tag_op t = { .art = art, .name = name, .target = link, .uid = ctx->uid,
			    .gid = ctx->gid };
	int err = tag_set(fs, &t);

	if (err) {
		if (t.why)
			fs_refuse(err, "symlink", name, t.why);
		return err;
	}
	fs_entry_fill(fs, &t.out, e);
	return 0;
}

/* A rename onto @tag at the top of an artifact (r->newparent). */
int fs_tag_rename(struct fs *fs, struct fs_mv *r)
{
	struct tag_op t = { .art = r->newparent, .name = r->newname, .mv = r };
	int err = tag_set(fs, &t);

	if (err && t.why)
		fs_refuse(err, "rename", r->name, t.why);
	return err;
}

static int tag_drop_prepare(struct meta_txn *txn, struct tag_op *t)
{
	struct meta_inode c;
	uint64_t child;
	uint32_t type;
	int err = meta_artifact_get(txn, t->art, &t->a);

	if (!err)
		err = meta_dirent_get(txn, t->art, t->name, &child, &type);
	if (!err)
		err = meta_inode_get(txn, child, &c);
	if (err)
		return err;
	if (S_ISDIR(c.mode))
		return EISDIR;
	if (c.kind != MK_TAG) {
		t->why = c.kind == MK_LATEST ? "@latest is kept by artifs and cannot be removed"
					     : "kept by artifs";
		return EPERM;
	}
	t->old = child;
	return be_key_ref(t->key, sizeof(t->key), t->a.project, t->a.name, t->name + 1);
}

/* The last phase of a drop: the store no longer has the tag, so the index has none either. */
static int tag_drop_fn(struct meta_txn *txn, void *arg)
{
	struct tag_op *t = arg;
	int err = meta_tag_drop(txn, t->art, t->name);

	return err == ENOENT ? 0 : err; /* gone meanwhile */
}

/* The one way a tag is dropped from the mount (rm @tag). Takes the artifact's tag_lock and
 * blocks on the store with no write transaction open. */
int fs_tag_drop(struct fs *fs, uint64_t art_ino, const char *name)
{
	struct tag_op t = { .art = art_ino, .name = name };
	struct fs_art *art = fs_art_get(fs, art_ino);
	struct meta_txn *txn;
	int err;

	if (!art)
		return ENOMEM;
	fs_mutex_lock(&art->tag_lock);
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (!err) {
		err = tag_drop_prepare(txn, &t);
		meta_txn_abort(txn);
	}
	if (err)
		goto out;
	FS_ASSERT_NO_HEAD_LOCK();
	err = be_del(fs->be, t.key);
	if (err) {
		log_msg(LOG_ERR, "tag %s/%s/%s: cannot delete %s from the store: %s; the tag stays",
			t.a.project, t.a.name, name, t.key, strerror(err));
		goto out;
	}
	err = meta_write(fs->meta, tag_drop_fn, &t);
	if (err)
		log_msg(LOG_ERR, "tag %s/%s/%s: gone from the store, the index cannot follow: %s "
			"(the next refresh retries)", t.a.project, t.a.name, name, strerror(err));
out:
	fs_mutex_unlock(&art->tag_lock);
	if (err && t.why)
		fs_refuse(err, "unlink", name, t.why);
	return err;
}
