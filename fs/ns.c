/* SPDX-License-Identifier: MIT */
/*
 * The namespace of DESIGN.md section 1: lookups, attributes, directory listings, and every
 * change of the tree. Each operation is one LMDB transaction; changes of a HEAD take the
 * artifact's lock so that they never interleave with its commit's snapshot or install. Tag
 * changes are tags.c's. Every refusal logs why.
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




/* Folder ino, into which something is made or from which something is removed: EROFS (why
 * set) in a version. */
static int parent_get(struct meta_txn *txn, uint64_t ino, struct meta_inode *p, const char **why)
{
	int err = meta_inode_get(txn, ino, p);

	if (!err && fs_is_version(p)) {
		*why = "versions are read-only";
		err = EROFS;
	} else if (!err && fs_is_removed(p)) {
		*why = "the folder was removed"; /* a removed working directory, say */
		err = ENOENT;
	}
	return err;
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
	int err, artifact_asked = 0;

	refresh_for(fs, parent, name);
again:
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
	else if (err == ENOENT && meta_inode_get(txn, parent, &in) == 0 && fs_is_version(&in)) {
		/* Versions never change: the kernel may remember that a name is absent. */
		memset(e, 0, sizeof(*e));
		e->entry_timeout = 86400.0;
		err = 0;
		goto out;
	}
	if (!err && (in.kind == MK_ARTIFACT || in.kind == MK_PROJECT) && fs->conf.refresh_ms &&
	    !artifact_asked) {
		/* An artifact or project looked up again (its name is cached for `refresh`):
		 * refreshed when due, so that its removal on another host is seen
		 * (docs/lifecycle.md). */
		artifact_asked = 1;
		meta_txn_abort(txn);
		if (in.kind == MK_ARTIFACT)
			fs_refresh_artifact(fs, in.ino, 0);
		else
			fs_project_follow(fs, &in, name);
		goto again;
	}
	if (!err) {
		fs_entry_fill(fs, &in, e);
		fs_lookup_add(fs, &in);
	}
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
	int project_removed; /* a project of this name is removed in the store */
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
	struct meta_artifact gone;
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
	if (!err && kind == MK_ARTIFACT && fs_hidden_find(txn, p->ino, m->name, &gone) == 0) {
		m->why = "an artifact of this name was removed: artifs restore brings it back";
		return EEXIST;
	}
	if (!err && kind == MK_PROJECT && (m->project_removed ||
					   fs_hidden_project(txn, m->name, &ino) == 0)) {
		m->why = "a project of this name was removed: artifs restore brings it back";
		return EEXIST;
	}
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
		/* A symlink named so is a tag, made by fs_tag_link() before this. */
		m->why = "names starting with '@' are reserved at the top of an artifact";
		return EINVAL;
	}
	if (strlen(m->name) > META_NAME_MAX)
		return ENAMETOOLONG;
	if (meta_dirent_get(txn, p.ino, m->name, &child, &type) == 0)
		return EEXIST;
	if (p.kind == MK_ROOT || p.kind == MK_PROJECT)
		return mk_pa(txn, m, &p);
	if (!fs_is_headish(&p))
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
			return fs_tag_link(fs, ctx, parent, name, link, e);
	}
	/* A project removed on another host, before this one saw it: its name stays taken
	 * (one store read, on the rare mkdir of a project). */
	if (parent == META_ROOT_INO && S_ISDIR(mode) && fs->conf.refresh_ms)
		m.project_removed = fs_project_removed(fs, name);
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
			fs_refuse(err, op, name, m.why);
		return err;
	}
	if (m.out.kind == MK_ARTIFACT || m.out.kind == MK_PROJECT)
		fs_mirror_meta(fs, m.out.ino);
	if (art && m.art && touch)
		fs_art_changed(fs, art);
	fs_entry_fill(fs, &m.out, e);
	fs_lookup_add(fs, &m.out);
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
	uint64_t project;           /* a project holding removed artifacts only */
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
	default: /* tags are dropped by fs_tag_drop() */
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

	r->freed = r->art = r->project = 0;
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
		if (fs_hidden_find(txn, c.ino, NULL, &a) == 0) {
			r->project = c.ino; /* removed as by artifs rm (fs_do_unlink) */
			return ENOTEMPTY;
		}
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

	if (fs_rmtree_absorbs(fs, parent, name))
		return 0; /* its artifact is removed already (docs/lifecycle.md) */
	if (!dir && name[0] == '@') {
		err = fs_inode_read(fs, parent, &p);
		if (err)
			return err;
		if (p.kind == MK_ARTIFACT && !strcmp(name, "@latest")) {
			char why[512];

			err = fs_rmtree_latest(fs, parent, why, sizeof(why));
			return err ? fs_refuse(err, "unlink", name, why) : 0;
		}
		if (p.kind == MK_ARTIFACT && fs_rmtree_refused(fs, parent))
			return fs_refuse(EBUSY, "unlink", name, "a tag stays when the removal of its "
					 "artifact folder was refused (see the refusal for @latest)");
		if (p.kind == MK_ARTIFACT)
			return fs_tag_drop(fs, parent, name);
	}
	err = fs_head_lock(fs, parent, &p, &art);
	if (err)
		return err;
	err = meta_write(fs->meta, rm_fn, &r);
	fs_head_unlock(art);
	if (err == ENOTEMPTY && r.project) {
		/* The last step of rm -rf of a project folder: its artifacts are removed (and
		 * restorable), so the project is too (docs/lifecycle.md). */
		char why[512] = "";

		err = fs_project_remove(fs, r.project, name, 1, why, sizeof(why));
		return err ? fs_refuse(err, "rmdir", name, why) : 0;
	}
	if (err) {
		if (r.why)
			fs_refuse(err, dir ? "rmdir" : "unlink", name, r.why);
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
		fs_art_changed(fs, art);
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
	struct fs_mv *r = arg;
	struct meta_inode p, np, c, d;
	uint64_t dchild;
	uint32_t dtype;
	int err, below, empty, have_d;

	r->freed = r->art = 0;
	err = fs_mv_check(txn, r, &p, &np, &c);
	if (err)
		return err;
	if (c.kind == MK_TAG || (np.kind == MK_ARTIFACT && r->newname[0] == '@')) {
		/* Renames onto an @name at the top of an artifact are fs_tag_rename()'s. */
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
	struct fs_mv r = { .fs = fs, .parent = parent, .newparent = newparent, .name = name,
			    .newname = newname, .flags = flags };
	struct fs_art *art = NULL;
	struct meta_inode p;
	int err;

	if (newname[0] == '@') {
		err = fs_inode_read(fs, newparent, &p);
		if (err)
			return err;
		if (p.kind == MK_ARTIFACT)
			return fs_tag_rename(fs, &r);
	}
	err = fs_head_lock(fs, parent, &p, &art);
	if (err)
		return err;
	err = meta_write(fs->meta, mv_fn, &r);
	fs_head_unlock(art);
	if (err) {
		if (r.why)
			fs_refuse(err, "rename", name, r.why);
		return err;
	}
	if (r.freed)
		fs_staging_drop(fs, r.freed);
	if (art && r.art)
		fs_art_changed(fs, art);
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
	if (fs_is_version(&in)) {
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
		fs_refuse(err, "setattr", what, s.why);
	}
	if (!err && art && in.kind != MK_PROJECT)
		fs_art_changed(fs, art);
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
	pthread_mutex_lock(&fs->lock);
	if (h->prev)
		h->prev->next = h->next;
	else if (fs->handles == h)
		fs->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs->lock);
	if (h->fd >= 0)
		close(h->fd);
	free(h->chunks);
	free(h->offsets);
	free(h->buf);
	free(h);
}

void fs_handles_free(struct fs *fs)
{
	while (fs->handles)
		fs_handle_free(fs, fs->handles);
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

static struct fs_handle *handle_new(struct fs *fs, uint64_t ino, uint32_t kind)
{
	struct fs_handle *h = calloc(1, sizeof(*h));

	if (h) {
		h->ino = ino;
		h->kind = kind;
		h->fd = -1;
		pthread_mutex_lock(&fs->lock);
		h->next = fs->handles;
		if (h->next)
			h->next->prev = h;
		fs->handles = h;
		pthread_mutex_unlock(&fs->lock);
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
		h = handle_new(fs, ino, in.kind);
		err = h ? fs_ctl_content(fs, ino, &h->buf, &h->buflen) : ENOMEM;
		goto out;
	}
	if (!S_ISREG(in.mode)) {
		err = ELOOP;
		goto out;
	}
	if (fs_is_version(&in)) {
		struct meta_vref v = { in.artifact, in.version };

		if (!wr && !trunc)
			fs_lineage_read(fs, ctx->pid, &v);
		if (wr || trunc) {
			char what[32];

			snprintf(what, sizeof(what), "inode %" PRIu64, ino);
			err = fs_refuse(EROFS, "open for writing", what, "versions are read-only");
			goto out;
		}
		h = handle_new(fs, ino, in.kind);
		err = h ? handle_chunks(fs, txn, h, in.size) : ENOMEM;
		goto out;
	}
	meta_txn_abort(txn);
	txn = NULL;
	art = fs_art_get(fs, in.artifact);
	h = handle_new(fs, ino, in.kind);
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

		return art ? fs_commit(fs, art, NULL, 1, NULL) : ENOMEM;
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
	if (in.kind == MK_ARTIFACT) {
		fs_refresh_artifact(fs, ino, 0);
		fs_rmtree_listed(fs, ino);
	}
	h = handle_new(fs, ino, in.kind);
	if (!h)
		return ENOMEM;
	*cacheable = fs_is_version(&in);
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
	struct meta_inode in; /* readdirplus: the entry being added */
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

		r->err = meta_inode_get(r->txn, child, &r->in);
		if (r->err)
			return r->err;
		fs_entry_fill(r->fs, &r->in, &e);
		need = fuse_add_direntry_plus(r->req, r->buf + r->len, r->size - r->len, nm, &e,
					      r->off + 1);
	} else {
		struct stat st = { .st_ino = child, .st_mode = type };

		need = fuse_add_direntry(r->req, r->buf + r->len, r->size - r->len, nm, &st,
					 r->off + 1);
	}
	if (need > r->size - r->len)
		return META_ITER_STOP; /* the buffer is full: the next readdir goes on */
	if (r->plus)
		fs_lookup_add(r->fs, &r->in); /* the kernel counts each entry but . and .. */
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

		fs_entry_fill(fs, &self, &e);
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
