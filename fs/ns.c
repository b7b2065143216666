/* SPDX-License-Identifier: MIT */
/*
 * The namespace of DESIGN.md section 1: lookups, attributes, directory listings, and every
 * change of the tree. Each operation is one LMDB transaction; changes of a HEAD take the
 * artifact's lock so that they never interleave with its commit. Tag changes also write the
 * store, between a read and a write transaction (see "Tags"). Every refusal logs why.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs_int.h"

static int refuse(int err, const char *op, const char *name, const char *why)
{
	log_msg(LOG_NOTICE, "%s %s: %s (%s)", op, name ? name : "", why, strerror(err));
	return err;
}

static int is_headish(const struct meta_inode *in)
{
	return in->kind == MK_ARTIFACT || in->kind == MK_HEAD;
}

static int is_version(const struct meta_inode *in)
{
	return in->kind == MK_VERSION || in->kind == MK_VNODE;
}

/* Folder ino, into which something is made or from which something is removed: EROFS (why
 * set) in a version. */
static int parent_get(struct meta_txn *txn, uint64_t ino, struct meta_inode *p, const char **why)
{
	int err = meta_inode_get(txn, ino, p);

	if (!err && is_version(p)) {
		*why = "versions are read-only";
		err = EROFS;
	}
	return err;
}

static void entry_fill(struct fs *fs, const struct meta_inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->ino;
	e->generation = 1;
	fs_stat_fill(fs, in, &e->attr);
	e->attr_timeout = fs_timeout(in);
	e->entry_timeout = fs_entry_timeout(in);
}

/* Other hosts' versions, tags, projects and artifacts, read from the store at most once per
 * conf.refresh_ms per artifact. */
static void refresh_for(struct fs *fs, uint64_t parent, const char *name)
{
	struct meta_inode p;

	/* Only @ names of an artifact folder (versions, tags, @latest) ask: content lookups
	 * stay one transaction. */
	if (name[0] != '@' || !fs->conf.refresh_ms || fs_inode_read(fs, parent, &p))
		return;
	if (p.kind == MK_ARTIFACT)
		fs_refresh_artifact(fs, p.ino, 0);
}

int fs_do_lookup(struct fs *fs, uint64_t parent, const char *name, struct fuse_entry_param *e)
{
	struct meta_txn *txn;
	struct meta_inode in;
	uint64_t child;
	uint32_t type;
	int err;

	refresh_for(fs, parent, name);
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_dirent_get(txn, parent, name, &child, &type);
	if (err == ENOENT && fs->conf.refresh_ms && meta_inode_get(txn, parent, &in) == 0 &&
	    (in.kind == MK_ROOT || in.kind == MK_PROJECT ||
	     (in.kind == MK_ARTIFACT && name[0] == '@'))) {
		/* Not here: maybe another host made it since the last refresh. */
		meta_txn_abort(txn);
		if (in.kind == MK_ARTIFACT)
			fs_refresh_artifact(fs, in.ino, 1);
		else if (fs_refresh_name(fs, &in, name))
			return ENOENT;
		err = meta_txn_begin(fs->meta, 1, &txn);
		if (err)
			return err;
		err = meta_dirent_get(txn, parent, name, &child, &type);
	}
	if (!err)
		err = meta_inode_get(txn, child, &in);
	else if (err == ENOENT && meta_inode_get(txn, parent, &in) == 0 && is_version(&in)) {
		/* Versions never change: the kernel may remember that a name is absent. */
		memset(e, 0, sizeof(*e));
		e->entry_timeout = 86400.0;
		err = 0;
		goto out;
	}
	if (!err)
		entry_fill(fs, &in, e);
out:
	meta_txn_abort(txn);
	return err;
}

int fs_do_getattr(struct fs *fs, uint64_t ino, struct stat *st, double *timeout)
{
	struct meta_inode in;
	int err = fs_inode_read(fs, ino, &in);

	if (err)
		return err;
	fs_stat_fill(fs, &in, st);
	*timeout = fs_timeout(&in);
	return 0;
}

static int touch_dir(struct meta_txn *txn, uint64_t ino)
{
	struct meta_inode in;
	int err = meta_inode_get(txn, ino, &in);

	if (err)
		return err;
	in.mtime_ns = in.ctime_ns = fs_now_ns();
	return meta_inode_put(txn, &in);
}

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

struct mv_arg {
	struct fs *fs;
	uint64_t parent, newparent;
	const char *name, *newname;
	unsigned flags;
	const char *why;
	uint64_t freed, art;
};

/* The checks every rename passes, onto a tag or not; fills p, np and c (the renamed inode). */
static int mv_check(struct meta_txn *txn, struct mv_arg *r, struct meta_inode *p,
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
	if (is_version(p) || is_version(np)) {
		r->why = "versions are read-only";
		return EROFS;
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
	if (!is_headish(p) || !is_headish(np)) {
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
	struct mv_arg *mv;   /* a rename onto the tag (ln -sfn, mv @a @b), else NULL */
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
		err = mv_check(txn, t->mv, &p, &np, &c);
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
static int tag_link(struct fs *fs, const struct fuse_ctx *ctx, uint64_t art, const char *name,
		    const char *link, struct fuse_entry_param *e)
{
	struct tag_op t = { .art = art, .name = name, .target = link, .uid = ctx->uid,
			    .gid = ctx->gid };
	int err = tag_set(fs, &t);

	if (err) {
		if (t.why)
			refuse(err, "symlink", name, t.why);
		return err;
	}
	entry_fill(fs, &t.out, e);
	return 0;
}

/* A rename onto @tag at the top of an artifact (r->newparent). */
static int tag_rename(struct fs *fs, struct mv_arg *r)
{
	struct tag_op t = { .art = r->newparent, .name = r->newname, .mv = r };
	int err = tag_set(fs, &t);

	if (err && t.why)
		refuse(err, "rename", r->name, t.why);
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
static int tag_drop(struct fs *fs, uint64_t art_ino, const char *name)
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
		refuse(err, "unlink", name, t.why);
	return err;
}

struct mk_arg {
	struct fs *fs;
	uint32_t uid, gid;
	uint64_t parent;
	const char *name;
	mode_t mode;
	const char *link;
	struct meta_inode out;
	uint64_t art; /* artifact whose HEAD changed, 0 if none */
	const char *why;
};

struct longest {
	struct meta_txn *txn;
	size_t len;
	int err;
};

static int longest_fn(void *arg, const char *name, size_t namelen, uint64_t child,
		      uint32_t type)
{
	struct longest *l = arg, sub = { .txn = l->txn };

	if (type == S_IFDIR) {
		sub.err = meta_dirent_iter(l->txn, child, NULL, longest_fn, &sub);
		if (sub.err) {
			l->err = sub.err;
			return sub.err;
		}
	}
	if (1 + namelen + sub.len > l->len)
		l->len = 1 + namelen + sub.len;
	return 0;
}

/*
 * A HEAD entry named name in dir, holding a subtree whose longest path below it is `below`
 * bytes ("/x/y"), must fit a manifest path (MANIFEST_PATH_MAX), or the draft could never be
 * committed: ENAMETOOLONG now instead.
 */
static int path_fits(struct meta_txn *txn, const struct meta_inode *dir, const char *name,
		     uint64_t subtree, const char **why)
{
	struct longest l = { .txn = txn };
	char *rel = NULL;
	size_t len = 0;
	int err;

	if (subtree) {
		err = meta_dirent_iter(txn, subtree, NULL, longest_fn, &l);
		if (!err)
			err = l.err;
		if (err)
			return err;
	}
	if (dir->kind == MK_HEAD) {
		err = fs_relpath(txn, dir, &rel);
		if (err)
			return err;
		len = strlen(rel) + 1;
		free(rel);
	}
	if (len + strlen(name) + l.len > MANIFEST_PATH_MAX) {
		*why = "a path inside an artifact is at most 4096 bytes";
		return ENAMETOOLONG;
	}
	return 0;
}

/* mkdir of a project (in the root) or an artifact (in a project), by the one rule. */
static int mk_pa(struct meta_txn *txn, struct mk_arg *m, const struct meta_inode *p)
{
	char pname[META_NAME_MAX + 1] = "";
	uint32_t kind = p->kind == MK_ROOT ? MK_PROJECT : MK_ARTIFACT;
	uint64_t ino;
	int err;

	if (!S_ISDIR(m->mode)) {
		m->why = p->kind == MK_ROOT ? "only project folders can be made at the top"
					    : "only artifact folders can be made in a project";
		return EPERM;
	}
	err = fs_name_check_pa(m->name, &m->why);
	if (!err && kind == MK_ARTIFACT)
		err = fs_child_name(txn, META_ROOT_INO, p->ino, pname);
	if (!err)
		err = meta_pa_ensure(txn, p->ino, m->name, kind, pname, m->uid, m->gid, m->mode, &ino,
				   NULL);
	if (!err)
		err = touch_dir(txn, p->ino);
	if (!err)
		err = meta_inode_get(txn, ino, &m->out);
	return err;
}

/* A file, folder or symlink in a HEAD (p its folder). */
static int mk_head(struct meta_txn *txn, struct mk_arg *m, const struct meta_inode *p)
{
	struct meta_inode in;
	int err;

	if (!S_ISDIR(m->mode) && !S_ISREG(m->mode) && !S_ISLNK(m->mode)) {
		m->why = "artifacts hold files, folders and symlinks only";
		return EPERM;
	}
	err = path_fits(txn, p, m->name, 0, &m->why);
	if (err)
		return err;
	memset(&in, 0, sizeof(in));
	in.parent = p->ino;
	in.uid = m->uid;
	in.gid = m->gid;
	in.nlink = 1;
	in.mode = m->mode;
	in.mtime_ns = in.ctime_ns = fs_now_ns();
	in.kind = MK_HEAD;
	in.artifact = p->artifact;
	if (S_ISREG(m->mode))
		in.flags = MI_STAGED;
	if (S_ISLNK(m->mode))
		in.size = strlen(m->link);
	err = meta_ino_alloc(txn, &in.ino);
	if (!err)
		err = meta_inode_put(txn, &in);
	if (!err && m->link)
		err = meta_link_put(txn, in.ino, m->link);
	if (!err)
		err = meta_dirent_put(txn, p->ino, m->name, in.ino, in.mode & S_IFMT);
	if (!err)
		err = touch_dir(txn, p->ino);
	/* A top-level link to "@…" is most likely `ln -sfn`'s temporary name on its way to
	 * become a tag: by itself it neither marks the draft nor starts the quiet timer (the
	 * next change of the artifact commits it with the rest). */
	if (!err && !(p->kind == MK_ARTIFACT && m->link && m->link[0] == '@')) {
		err = meta_artifact_draft_mark(txn, in.artifact);
		m->art = in.artifact;
	}
	if (!err)
		m->out = in;
	return err;
}

static int mk_fn(struct meta_txn *txn, void *arg)
{
	struct mk_arg *m = arg;
	struct meta_inode p;
	uint64_t child;
	uint32_t type;
	int err;

	m->art = 0;
	err = parent_get(txn, m->parent, &p, &m->why);
	if (err)
		return err;
	if (!S_ISDIR(p.mode))
		return ENOTDIR;
	if (p.kind == MK_CTL) {
		m->why = "the control folder is kept by artifs";
		return EPERM;
	}
	if (p.kind == MK_ARTIFACT && m->name[0] == '@') {
		/* A symlink named so is a tag, made by tag_link() before this. */
		m->why = "names starting with '@' are reserved at the top of an artifact";
		return EINVAL;
	}
	if (strlen(m->name) > META_NAME_MAX)
		return ENAMETOOLONG;
	if (meta_dirent_get(txn, p.ino, m->name, &child, &type) == 0)
		return EEXIST;
	if (p.kind == MK_ROOT || p.kind == MK_PROJECT)
		return mk_pa(txn, m, &p);
	if (!is_headish(&p))
		return EPERM;
	return mk_head(txn, m, &p);
}

static int mknode(struct fs *fs, const struct fuse_ctx *ctx, uint64_t parent, const char *name,
		  mode_t mode, const char *link, struct fuse_entry_param *e, int touch)
{
	struct mk_arg m = { .fs = fs, .uid = ctx->uid, .gid = ctx->gid, .parent = parent,
			    .name = name, .mode = mode, .link = link };
	struct fs_art *art = NULL;
	struct meta_inode p;
	int err;

	if (link && name[0] == '@') {
		err = fs_inode_read(fs, parent, &p);
		if (err)
			return err;
		if (p.kind == MK_ARTIFACT)
			return tag_link(fs, ctx, parent, name, link, e);
	}
	/* The artifact's lock keeps a commit from walking a half-changed HEAD. */
	err = fs_head_lock(fs, parent, &p, &art);
	if (err)
		return err;
	err = meta_write(fs->meta, mk_fn, &m);
	if (!err && S_ISREG(m.out.mode)) {
		char path[4200];
		int fd;

		fs_staging_path(fs, m.out.ino, path, sizeof(path));
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		else
			log_msg(LOG_ERR, "cannot create staging file %s: %s", path, strerror(errno));
	}
	fs_head_unlock(art);
	if (err) {
		const char *op = link ? "symlink" : S_ISDIR(mode) ? "mkdir" : "create";

		if (m.why)
			refuse(err, op, name, m.why);
		return err;
	}
	if (m.out.kind == MK_ARTIFACT || m.out.kind == MK_PROJECT)
		fs_mirror_meta(fs, m.out.ino);
	if (art && m.art && touch)
		fs_art_touch(fs, art);
	entry_fill(fs, &m.out, e);
	return 0;
}

int fs_do_mknode(struct fs *fs, const struct fuse_ctx *ctx, uint64_t parent, const char *name,
		 mode_t mode, const char *link, struct fuse_entry_param *e)
{
	return mknode(fs, ctx, parent, name, mode, link, e, 1);
}

struct rm_arg {
	struct fs *fs;
	uint64_t parent;
	const char *name;
	int dir;
	const char *why;
	uint64_t freed;  /* HEAD inode whose staging file goes after commit */
	uint64_t art;    /* artifact whose HEAD changed */
	struct fs_attr_owner owner; /* a removed project or artifact: its attribute objects */
};

/* Whether child c of the rm may go (a version, @latest, .artifs or a tag may not; a folder
 * only when empty). */
static int rm_check(struct meta_txn *txn, struct rm_arg *r, const struct meta_inode *c)
{
	struct meta_artifact a;
	int empty, err;

	switch (c->kind) {
	case MK_VERSION:
		r->why = "versions are read-only";
		return EROFS;
	case MK_LATEST:
		r->why = "@latest is kept by artifs and cannot be removed";
		return EPERM;
	case MK_CTL:
		r->why = "the control folder is kept by artifs";
		return EPERM;
	case MK_PROJECT:
	case MK_ARTIFACT:
	case MK_HEAD:
		break;
	default: /* tags are dropped by tag_drop() */
		return EPERM;
	}
	if (S_ISDIR(c->mode)) {
		err = meta_dir_empty(txn, c->ino, &empty);
		if (err)
			return err;
		if (!empty) {
			r->why = "the folder is not empty";
			if (c->kind == MK_ARTIFACT) {
				err = meta_artifact_get(txn, c->ino, &a);
				if (!err && a.latest)
					r->why = "the artifact has versions";
			}
			return ENOTEMPTY;
		}
	}
	return 0;
}

static int rm_fn(struct meta_txn *txn, void *arg)
{
	struct rm_arg *r = arg;
	struct meta_inode p, c;
	struct meta_artifact a;
	uint64_t child;
	uint32_t type;
	int err;

	r->freed = r->art = 0;
	r->owner.where = 0;
	err = parent_get(txn, r->parent, &p, &r->why);
	if (err)
		return err;
	err = meta_dirent_get(txn, r->parent, r->name, &child, &type);
	if (err)
		return err;
	err = meta_inode_get(txn, child, &c);
	if (err)
		return err;
	if (r->dir && !S_ISDIR(c.mode))
		return ENOTDIR;
	if (!r->dir && S_ISDIR(c.mode))
		return EISDIR;
	err = rm_check(txn, r, &c);
	if (err)
		return err;
	if (c.kind == MK_ARTIFACT) {
		err = meta_artifact_get(txn, c.ino, &a);
		if (err)
			return err;
		if (a.latest || a.next > 1) {
			r->why = "the artifact has versions";
			return ENOTEMPTY;
		}
		r->owner.where = FA_ARTIFACT;
		snprintf(r->owner.project, sizeof(r->owner.project), "%s", a.project);
		snprintf(r->owner.artifact, sizeof(r->owner.artifact), "%s", a.name);
		err = meta_artifact_del(txn, c.ino);
		if (!err)
			err = meta_inode_del(txn, c.ino);
	} else if (c.kind == MK_PROJECT) {
		r->owner.where = FA_PROJECT;
		snprintf(r->owner.project, sizeof(r->owner.project), "%s", r->name);
		err = meta_inode_del(txn, c.ino);
	} else {
		err = fs_head_free(r->fs, txn, c.ino);
		r->freed = S_ISREG(c.mode) ? c.ino : 0;
		r->art = c.artifact;
		if (!err)
			err = meta_artifact_draft_mark(txn, c.artifact);
	}
	if (!err)
		err = meta_dirent_del(txn, r->parent, r->name);
	if (!err)
		err = touch_dir(txn, r->parent);
	return err;
}

int fs_do_unlink(struct fs *fs, uint64_t parent, const char *name, int dir)
{
	struct rm_arg r = { .fs = fs, .parent = parent, .name = name, .dir = dir };
	struct fs_art *art = NULL;
	struct meta_inode p;
	int err;

	if (!dir && name[0] == '@') {
		err = fs_inode_read(fs, parent, &p);
		if (err)
			return err;
		if (p.kind == MK_ARTIFACT)
			return tag_drop(fs, parent, name);
	}
	err = fs_head_lock(fs, parent, &p, &art);
	if (err)
		return err;
	err = meta_write(fs->meta, rm_fn, &r);
	fs_head_unlock(art);
	if (err) {
		if (r.why)
			refuse(err, dir ? "rmdir" : "unlink", name, r.why);
		return err;
	}
	if (r.freed)
		fs_staging_drop(fs, r.freed);
	if (r.owner.where) {
		/* A project or artifact went: its marker and attributes go from the store. */
		char key[BE_KEY_MAX];

		if (fs_attr_marker_key(&r.owner, key, sizeof(key)) == 0)
			be_del(fs->be, key);
		fs_attrs_drop(fs, &r.owner);
	}
	if (art && r.art)
		fs_art_touch(fs, art);
	return 0;
}

static int is_below(struct meta_txn *txn, uint64_t dir, uint64_t ancestor, int *below)
{
	struct meta_inode in;
	int err;

	*below = 0;
	while (1) {
		if (dir == ancestor) {
			*below = 1;
			return 0;
		}
		err = meta_inode_get(txn, dir, &in);
		if (err)
			return err;
		if (in.kind != MK_HEAD)
			return 0;
		dir = in.parent;
	}
}

static int mv_fn(struct meta_txn *txn, void *arg)
{
	struct mv_arg *r = arg;
	struct meta_inode p, np, c, d;
	uint64_t dchild;
	uint32_t dtype;
	int err, below, empty, have_d;

	r->freed = r->art = 0;
	err = mv_check(txn, r, &p, &np, &c);
	if (err)
		return err;
	if (c.kind == MK_TAG || (np.kind == MK_ARTIFACT && r->newname[0] == '@')) {
		/* Renames onto an @name at the top of an artifact are tag_rename()'s. */
		r->why = "tags live at the top of their artifact, named @<tag>";
		return EINVAL;
	}
	if (strlen(r->newname) > META_NAME_MAX)
		return ENAMETOOLONG;
	if (r->newparent != r->parent || strlen(r->newname) > strlen(r->name)) {
		err = path_fits(txn, &np, r->newname, S_ISDIR(c.mode) ? c.ino : 0, &r->why);
		if (err)
			return err;
	}
	have_d = meta_dirent_get(txn, r->newparent, r->newname, &dchild, &dtype) == 0;
	if (have_d) {
		if (r->flags & RENAME_NOREPLACE)
			return EEXIST;
		if (dchild == c.ino)
			return 0;
		err = meta_inode_get(txn, dchild, &d);
		if (err)
			return err;
		if (S_ISDIR(d.mode)) {
			if (!S_ISDIR(c.mode))
				return EISDIR;
			err = meta_dir_empty(txn, d.ino, &empty);
			if (err)
				return err;
			if (!empty) {
				r->why = "the folder it would replace is not empty";
				return ENOTEMPTY;
			}
		} else if (S_ISDIR(c.mode)) {
			return ENOTDIR;
		}
	}
	if (S_ISDIR(c.mode)) {
		err = is_below(txn, np.ino, c.ino, &below);
		if (err)
			return err;
		if (below) {
			r->why = "a folder cannot move into itself";
			return EINVAL;
		}
	}
	if (have_d) {
		err = fs_head_free(r->fs, txn, d.ino);
		r->freed = S_ISREG(d.mode) ? d.ino : 0;
		if (err)
			return err;
	}
	err = meta_dirent_del(txn, r->parent, r->name);
	if (!err)
		err = meta_dirent_put(txn, r->newparent, r->newname, c.ino, c.mode & S_IFMT);
	if (err)
		return err;
	c.parent = r->newparent;
	c.ctime_ns = fs_now_ns();
	err = meta_inode_put(txn, &c);
	if (!err)
		err = touch_dir(txn, r->parent);
	if (!err && r->newparent != r->parent)
		err = touch_dir(txn, r->newparent);
	if (!err)
		err = meta_artifact_draft_mark(txn, c.artifact);
	r->art = c.artifact;
	return err;
}

int fs_do_rename(struct fs *fs, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, unsigned flags)
{
	struct mv_arg r = { .fs = fs, .parent = parent, .newparent = newparent, .name = name,
			    .newname = newname, .flags = flags };
	struct fs_art *art = NULL;
	struct meta_inode p;
	int err;

	if (newname[0] == '@') {
		err = fs_inode_read(fs, newparent, &p);
		if (err)
			return err;
		if (p.kind == MK_ARTIFACT)
			return tag_rename(fs, &r);
	}
	err = fs_head_lock(fs, parent, &p, &art);
	if (err)
		return err;
	err = meta_write(fs->meta, mv_fn, &r);
	fs_head_unlock(art);
	if (err) {
		if (r.why)
			refuse(err, "rename", name, r.why);
		return err;
	}
	if (r.freed)
		fs_staging_drop(fs, r.freed);
	if (art && r.art)
		fs_art_touch(fs, art);
	return 0;
}

int fs_do_readlink(struct fs *fs, uint64_t ino, char **target)
{
	struct meta_txn *txn;
	int err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return err;
	err = meta_link_get(txn, ino, target);
	meta_txn_abort(txn);
	return err == ENOENT ? EINVAL : err;
}

struct sa_arg {
	uint64_t ino;
	struct stat *attr;
	int to_set;
	struct meta_inode out;
	const char *why;
};

static int sa_fn(struct meta_txn *txn, void *arg)
{
	struct sa_arg *s = arg;
	struct meta_inode in;
	int64_t now = fs_now_ns();
	int err = meta_inode_get(txn, s->ino, &in);

	if (err)
		return err;
	if (is_version(&in)) {
		s->why = "versions are read-only";
		return EROFS;
	}
	if (in.kind != MK_HEAD && in.kind != MK_ARTIFACT && in.kind != MK_PROJECT) {
		s->why = "kept by artifs";
		return EPERM;
	}
	if (s->to_set & FUSE_SET_ATTR_MODE)
		in.mode = (in.mode & S_IFMT) | (s->attr->st_mode & 07777);
	if (s->to_set & FUSE_SET_ATTR_UID)
		in.uid = s->attr->st_uid;
	if (s->to_set & FUSE_SET_ATTR_GID)
		in.gid = s->attr->st_gid;
	if (s->to_set & FUSE_SET_ATTR_MTIME_NOW)
		in.mtime_ns = now;
	else if (s->to_set & FUSE_SET_ATTR_MTIME)
		in.mtime_ns = (int64_t)s->attr->st_mtim.tv_sec * 1000000000 +
			      s->attr->st_mtim.tv_nsec;
	if (s->to_set & FUSE_SET_ATTR_SIZE)
		in.mtime_ns = now;
	in.ctime_ns = now;
	err = meta_inode_put(txn, &in);
	if (!err && in.kind != MK_PROJECT)
		err = meta_artifact_draft_mark(txn, in.artifact);
	s->out = in;
	return err;
}

int fs_do_setattr(struct fs *fs, uint64_t ino, struct stat *attr, int to_set,
		  struct fuse_file_info *fi, struct stat *out, double *timeout)
{
	struct sa_arg s = { .ino = ino, .attr = attr, .to_set = to_set };
	struct fs_art *art = NULL;
	struct fs_open *wo = NULL;
	struct meta_inode in;
	char path[4200];
	int err;

	err = fs_head_lock(fs, ino, &in, &art);
	if (err)
		return err;
	if ((to_set & FUSE_SET_ATTR_SIZE) && in.kind == MK_HEAD && !S_ISREG(in.mode)) {
		err = S_ISDIR(in.mode) ? EISDIR : EINVAL;
		goto out;
	}
	/* A size or time change of a draft file is a write of its staging file. */
	if (in.kind == MK_HEAD && S_ISREG(in.mode) &&
	    (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))) {
		wo = fs_write_hold(fs, ino);
		if (!wo) {
			err = ENOMEM;
			goto out;
		}
	}
	if (in.kind == MK_HEAD && S_ISREG(in.mode) && (to_set & FUSE_SET_ATTR_SIZE)) {
		err = fs_stage(fs, art, ino, attr->st_size == 0);
		fs_staging_path(fs, ino, path, sizeof(path));
		if (!err && truncate(path, attr->st_size))
			err = errno;
		if (err)
			goto out;
	}
	err = meta_write(fs->meta, sa_fn, &s);
	if (err)
		goto out;
	if (s.out.flags & MI_STAGED) {
		/* A draft file's times live on its staging file, which write() moves too. */
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };

		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		fs_staging_path(fs, ino, path, sizeof(path));
		if ((to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) &&
		    utimensat(AT_FDCWD, path, ts, 0))
			log_msg(LOG_WARNING, "cannot set times of %s: %s", path, strerror(errno));
	}
	fs_stat_fill(fs, &s.out, out);
	*timeout = fs_timeout(&s.out);
out:
	fs_write_drop(fs, wo);
	fs_head_unlock(art);
	if (err && s.why) {
		char what[32];

		snprintf(what, sizeof(what), "inode %" PRIu64, ino);
		refuse(err, "setattr", what, s.why);
	}
	if (!err && art && in.kind != MK_PROJECT)
		fs_art_touch(fs, art);
	return err;
}

static int handle_chunks(struct fs *fs, struct meta_txn *txn, struct fs_handle *h,
			 uint64_t size)
{
	uint64_t off = 0;
	int err = meta_chunks_get(txn, h->ino, &h->chunks, &h->nchunks);

	if (err == ENOENT) {
		h->nchunks = 0;
		err = 0;
	}
	if (err)
		return err;
	h->offsets = calloc(h->nchunks + 1, sizeof(*h->offsets));
	if (!h->offsets)
		return ENOMEM;
	for (size_t i = 0; i < h->nchunks; i++) {
		h->offsets[i] = off;
		off += h->chunks[i].len;
	}
	h->offsets[h->nchunks] = off;
	if (off != size) {
		log_msg(LOG_ERR, "inode %" PRIu64 ": chunks hold %" PRIu64 " bytes, size is %" PRIu64,
			h->ino, off, size);
		return EIO;
	}
	h->size = size;
	return 0;
}

void fs_handle_free(struct fs *fs, struct fs_handle *h)
{
	if (!h)
		return;
	if (h->fd >= 0)
		close(h->fd);
	free(h->chunks);
	free(h->offsets);
	free(h->buf);
	free(h);
}

void fs_handle_restage(struct fs *fs, struct fs_handle *h)
{
	struct meta_inode in;
	char path[4200];
	int fd, none = -1;

	uint64_t now = atomic_load(&fs->copyups);

	if (__atomic_load_n(&h->copyups, __ATOMIC_RELAXED) == now)
		return;
	__atomic_store_n(&h->copyups, now, __ATOMIC_RELAXED);
	/* Another descriptor copied the file up after this one opened it: from now on its
	 * bytes are in the staging file, not in the chunks this handle knows. */
	if (fs_inode_read(fs, h->ino, &in) || !(in.flags & MI_STAGED))
		return;
	fs_staging_path(fs, h->ino, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_msg(LOG_ERR, "cannot open staging file %s: %s", path, strerror(errno));
		return;
	}
	if (!__atomic_compare_exchange_n(&h->fd, &none, fd, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		close(fd); /* a concurrent read of this handle got there first */
}

static struct fs_handle *handle_new(uint64_t ino, uint32_t kind)
{
	struct fs_handle *h = calloc(1, sizeof(*h));

	if (h) {
		h->ino = ino;
		h->kind = kind;
		h->fd = -1;
	}
	return h;
}

/* A HEAD file: its staging file, or its chunks (an unchanged file: reading it reads the
 * newest version). Under art->lock, which fs_stage() drops while it copies up. */
static int open_head(struct fs *fs, const struct fuse_ctx *ctx, struct fs_handle *h, int wr,
		     int trunc)
{
	struct fs_art *art = h->art;
	struct meta_txn *txn = NULL;
	struct meta_inode in;
	char path[4200];
	int err = 0;

	fs_mutex_lock(&art->lock);
	if (wr || trunc)
		err = fs_stage(fs, art, h->ino, trunc);
	if (!err)
		err = meta_txn_begin(fs->meta, 1, &txn);
	if (!err)
		err = meta_inode_get(txn, h->ino, &in);
	if (!err && (in.flags & MI_STAGED)) {
		fs_staging_path(fs, h->ino, path, sizeof(path));
		h->fd = open(path, (wr ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0600);
		if (h->fd < 0) {
			/* Made with the inode: missing means its bytes were lost in a crash. */
			err = errno == ENOENT ? EIO : errno;
			log_msg(LOG_ERR, "cannot open staging file %s: %s", path, strerror(err));
		}
	} else if (!err) {
		struct meta_artifact a;

		err = handle_chunks(fs, txn, h, in.size);
		if (!err && fs->lin && meta_artifact_get(txn, in.artifact, &a) == 0) {
			struct meta_vref v = { a.ino, a.latest };

			fs_lineage_read(fs, ctx->pid, &v);
		}
	}
	if (txn)
		meta_txn_abort(txn);
	if (!err && !(h->open = fs_open_hold(fs, h->ino)))
		err = ENOMEM;
	if (!err && wr) {
		char run[FS_RUN_ID_MAX];

		h->writable = 1;
		fs_art_writers(fs, art, 1);
		fs_lineage_writer(fs, art, ctx->pid, run, sizeof(run));
		fs_art_producer(fs, art, ctx, run);
	}
	fs_mutex_unlock(&art->lock);
	if (!err && trunc)
		fs_art_touch(fs, art);
	return err;
}

int fs_do_open(struct fs *fs, const struct fuse_ctx *ctx, uint64_t ino, int flags,
	       struct fs_handle **out)
{
	int wr = (flags & O_ACCMODE) != O_RDONLY, trunc = !!(flags & O_TRUNC);
	struct fs_handle *h = NULL;
	struct fs_art *art = NULL;
	struct meta_txn *txn = NULL;
	struct meta_inode in;
	int err;

	uint64_t copyups = atomic_load(&fs->copyups); /* before the inode is read */

	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_inode_get(txn, ino, &in);
	if (err)
		goto out;
	if (S_ISDIR(in.mode)) {
		err = EISDIR;
		goto out;
	}
	if (in.kind == MK_CTL) {
		meta_txn_abort(txn);
		txn = NULL;
		if (wr) {
			err = EACCES;
			goto out;
		}
		h = handle_new(ino, in.kind);
		err = h ? fs_ctl_content(fs, ino, &h->buf, &h->buflen) : ENOMEM;
		goto out;
	}
	if (!S_ISREG(in.mode)) {
		err = ELOOP;
		goto out;
	}
	if (is_version(&in)) {
		struct meta_vref v = { in.artifact, in.version };

		if (!wr && !trunc)
			fs_lineage_read(fs, ctx->pid, &v);
		if (wr || trunc) {
			char what[32];

			snprintf(what, sizeof(what), "inode %" PRIu64, ino);
			err = refuse(EROFS, "open for writing", what, "versions are read-only");
			goto out;
		}
		h = handle_new(ino, in.kind);
		err = h ? handle_chunks(fs, txn, h, in.size) : ENOMEM;
		goto out;
	}
	meta_txn_abort(txn);
	txn = NULL;
	art = fs_art_get(fs, in.artifact);
	h = handle_new(ino, in.kind);
	if (!art || !h) {
		err = ENOMEM;
		goto out;
	}
	h->copyups = copyups;
	h->art = art;
	err = open_head(fs, ctx, h, wr, trunc);
out:
	if (txn)
		meta_txn_abort(txn);
	if (err) {
		fs_handle_free(fs, h);
		return err;
	}
	*out = h;
	return 0;
}

void fs_do_release(struct fs *fs, struct fs_handle *h)
{
	if (h->kind == MK_HEAD) {
		if (h->writable) {
			fs_art_writers(fs, h->art, -1);
			fs_art_touch(fs, h->art);
		}
		if (fs_open_release(fs, h->open) == 0)
			fs_free_deferred(fs, h->ino);
	}
	fs_handle_free(fs, h);
}

int fs_do_create(struct fs *fs, const struct fuse_ctx *ctx, uint64_t parent, const char *name,
		 mode_t mode, int flags, struct fuse_entry_param *e, struct fs_handle **out)
{
	/* No quiet timer until the new file is open for writing: a commit in between would
	 * catch it empty. */
	int err = mknode(fs, ctx, parent, name, (mode & 07777) | S_IFREG, NULL, e, 0);

	if (err)
		return err;
	err = fs_do_open(fs, ctx, e->ino, (flags & ~O_TRUNC) | O_RDWR, out);
	if (!err)
		fs_art_touch(fs, (*out)->art);
	return err;
}

int fs_do_fsyncdir(struct fs *fs, uint64_t ino)
{
	struct meta_inode in;
	int err = fs_inode_read(fs, ino, &in);

	if (err)
		return err;
	if (in.kind == MK_ARTIFACT) {
		struct fs_art *art = fs_art_get(fs, ino);

		return art ? fs_commit(fs, art, NULL, NULL) : ENOMEM;
	}
	return meta_sync(fs->meta);
}

int fs_do_opendir(struct fs *fs, uint64_t ino, struct fs_handle **out, int *cacheable)
{
	struct meta_inode in;
	struct fs_handle *h;
	int err = fs_inode_read(fs, ino, &in);

	if (err)
		return err;
	if (!S_ISDIR(in.mode))
		return ENOTDIR;
	if (in.kind == MK_ARTIFACT)
		fs_refresh_artifact(fs, ino, 0);
	h = handle_new(ino, in.kind);
	if (!h)
		return ENOMEM;
	*cacheable = is_version(&in);
	*out = h;
	return 0;
}

struct rd_arg {
	struct fs *fs;
	struct meta_txn *txn;
	fuse_req_t req;
	struct fs_handle *h;
	int plus;
	char *buf;
	size_t size, len;
	off_t off;
	int err;
};

static int rd_fn(void *arg, const char *name, size_t namelen, uint64_t child, uint32_t type)
{
	struct rd_arg *r = arg;
	char nm[META_NAME_MAX + 1];
	size_t need;

	memcpy(nm, name, namelen);
	nm[namelen] = '\0';
	if (r->plus) {
		struct fuse_entry_param e;
		struct meta_inode in;

		r->err = meta_inode_get(r->txn, child, &in);
		if (r->err)
			return r->err;
		entry_fill(r->fs, &in, &e);
		need = fuse_add_direntry_plus(r->req, r->buf + r->len, r->size - r->len, nm, &e,
					      r->off + 1);
	} else {
		struct stat st = { .st_ino = child, .st_mode = type };

		need = fuse_add_direntry(r->req, r->buf + r->len, r->size - r->len, nm, &st,
					 r->off + 1);
	}
	if (need > r->size - r->len)
		return META_ITER_STOP; /* the buffer is full: the next readdir goes on */
	r->len += need;
	r->off++;
	memcpy(r->h->last, nm, namelen + 1);
	r->h->next_off = r->off;
	return 0;
}

struct skip_arg {
	off_t left;
	char last[META_NAME_MAX + 1];
};

static int skip_fn(void *arg, const char *name, size_t namelen, uint64_t child, uint32_t type)
{
	struct skip_arg *s = arg;

	memcpy(s->last, name, namelen);
	s->last[namelen] = '\0';
	return --s->left == 0;
}

int fs_do_readdir(struct fs *fs, fuse_req_t req, struct fs_handle *h, off_t off, size_t size,
		  int plus, char *buf, size_t *len)
{
	struct rd_arg r = { .fs = fs, .req = req, .h = h, .plus = plus, .buf = buf,
			    .size = size, .off = off };
	const char *after = NULL;
	struct meta_inode self;
	int err = meta_txn_begin(fs->meta, 1, &r.txn);

	if (err)
		return err;
	err = meta_inode_get(r.txn, h->ino, &self);
	if (err)
		goto out;
	/* Offsets: 1 after ".", 2 after "..", then one per entry in name order. */
	while (r.off < 2) {
		struct fuse_entry_param e;
		const char *nm = r.off == 0 ? "." : "..";
		size_t need;

		entry_fill(fs, &self, &e);
		if (plus) {
			/* "." and ".." are not looked up by the kernel: no lookup count. */
			e.attr.st_ino = r.off == 0 ? self.ino : self.parent ? self.parent : 1;
			need = fuse_add_direntry_plus(req, buf + r.len, size - r.len, nm, &e,
						      r.off + 1);
		} else {
			need = fuse_add_direntry(req, buf + r.len, size - r.len, nm, &e.attr,
						 r.off + 1);
		}
		if (need > size - r.len)
			goto out;
		r.len += need;
		r.off++;
	}
	if (off > 2 && off == h->next_off && h->last[0]) {
		/* Sequential listing: resume after the last name, no rescanning. */
		after = h->last;
	} else if (off > 2) {
		struct skip_arg s = { .left = off - 2 };

		err = meta_dirent_iter(r.txn, h->ino, NULL, skip_fn, &s);
		if (err < 0 || (err && err != 1))
			goto out;
		err = 0;
		if (s.left > 0)
			goto out; /* past the end */
		memcpy(h->last, s.last, sizeof(s.last));
		after = h->last;
	}
	err = meta_dirent_iter(r.txn, h->ino, after, rd_fn, &r);
out:
	meta_txn_abort(r.txn);
	*len = r.len;
	/* Entries already packed must reach the kernel even if a later one failed. */
	return r.len ? 0 : err;
}
