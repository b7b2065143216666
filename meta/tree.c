/* SPDX-License-Identifier: MIT */
/*
 * The tree layer: every namespace rule as one function over a write transaction (meta.h,
 * "Tree"), shared by the FUSE ops, refresh and rebuild: projects and artifacts, tags, a
 * version's tree from its manifest with its lineage and attributes, and a HEAD reset to a
 * version's tree. No store I/O, no lock: the callers' business.
 */
#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "meta.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Keeps the label and metric indexes in step with a version's attribute name. */
static int vattr_index(struct meta_txn *txn, const struct meta_vref *v, const char *name,
		       const void *val, size_t len, int add)
{
	if (strncmp(name, "user.label.", 11) == 0 && name[11])
		return meta_label_index(txn, name + 11, val, len, v, add);
	if (strncmp(name, "user.metric.", 12) == 0 && name[12]) {
		char buf[64], *end;
		double d;

		if (len == 0 || len >= sizeof(buf))
			return 0;
		memcpy(buf, val, len);
		buf[len] = '\0';
		d = strtod(buf, &end);
		if (end == buf || !isfinite(d))
			return 0; /* not a number (an old or foreign value): not indexed */
		return meta_metric_index(txn, name + 12, d, v, add);
	}
	return 0;
}

int meta_vattr_set(struct meta_txn *txn, uint64_t root, const struct meta_vref *v,
		 const char *name, const void *val, size_t len, int remove)
{
	void *old = NULL;
	size_t oldlen;
	int err = meta_xattr_get(txn, root, name, &old, &oldlen);

	if (err && err != ENOENT)
		return err;
	if (!err) {
		err = vattr_index(txn, v, name, old, oldlen, 0);
		free(old);
		if (err)
			return err;
	}
	if (remove)
		return meta_xattr_del(txn, root, name);
	err = meta_xattr_put(txn, root, name, val, len);
	return err ? err : vattr_index(txn, v, name, val, len, 1);
}

static int xattr_skip_root(const char *name)
{
	return strncmp(name, "user.artifs.", 12) == 0 || strncmp(name, "user.label.", 11) == 0 ||
	       strncmp(name, "user.metric.", 12) == 0;
}

int meta_xa_collect_fn(void *arg, const char *name, const void *val, size_t len)
{
	struct meta_xa_collect *c = arg;
	struct manifest_xattr *nv;

	if (c->root && xattr_skip_root(name))
		return 0;
	if (c->pending && strncmp(name, "user.metric.", 12) != 0)
		return 0;
	nv = be_grow(c->v, c->n, &c->cap, sizeof(*c->v));
	if (!nv) {
		c->err = ENOMEM;
		return ENOMEM;
	}
	c->v = nv;
	nv[c->n].name = strdup(name);
	nv[c->n].val = malloc(len ? len : 1);
	nv[c->n].len = len;
	if (!nv[c->n].name || !nv[c->n].val) {
		free(nv[c->n].name);
		free(nv[c->n].val);
		c->err = ENOMEM;
		return ENOMEM;
	}
	memcpy(nv[c->n].val, val, len);
	c->n++;
	return 0;
}

static int children_fn(void *arg, const char *name, size_t namelen, uint64_t child,
		       uint32_t type)
{
	struct meta_children *c = arg;
	struct meta_child *nv;

	if (c->top && name[0] == '@')
		return 0; /* versions, tags and @latest are not content */
	nv = be_grow(c->v, c->n, &c->cap, sizeof(*c->v));
	if (!nv)
		return ENOMEM;
	c->v = nv;
	memcpy(nv[c->n].name, name, namelen);
	nv[c->n].name[namelen] = '\0';
	nv[c->n].ino = child;
	c->n++;
	return 0;
}

int meta_children_get(struct meta_txn *txn, uint64_t dir, int top, struct meta_children *c)
{
	int err;

	c->v = NULL;
	c->n = c->cap = 0;
	c->top = top;
	err = meta_dirent_iter(txn, dir, NULL, children_fn, c);
	if (err) {
		free(c->v);
		c->v = NULL;
	}
	return err;
}

/* The tree digest that decides whether a draft changed anything. Times do not count:
 * folder mtimes move as a side effect of every create and unlink inside them, and a job
 * that writes the same bytes again should not make a version. Names, modes, bytes,
 * symlinks and attributes count. Times are still stored in the manifest. */
void meta_tree_digest(const struct manifest *cm, uint8_t out[32])
{
	struct manifest *m = (struct manifest *)cm;
	int64_t *saved = malloc((m->nentries + 1) * sizeof(*saved));

	for (size_t i = 0; saved && i < m->nentries; i++) {
		saved[i] = m->entries[i].mtime_ns;
		m->entries[i].mtime_ns = 0;
	}
	manifest_tree_digest(m, out);
	for (size_t i = 0; saved && i < m->nentries; i++)
		m->entries[i].mtime_ns = saved[i];
	free(saved);
}

int meta_pa_ensure(struct meta_txn *txn, uint64_t parent, const char *name, uint32_t kind,
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
	in.mtime_ns = in.ctime_ns = now_ns();
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
int meta_tag_point(struct meta_txn *txn, uint64_t art, const char *name, uint64_t n,
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
	in.ctime_ns = now_ns();
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
int meta_tag_put(struct meta_txn *txn, uint64_t art, const char *name, uint64_t n, uint32_t uid,
	       uint32_t gid)
{
	return meta_tag_point(txn, art, name, n, NULL, uid, gid, NULL);
}

int meta_tag_drop(struct meta_txn *txn, uint64_t art, const char *name)
{
	struct meta_inode in;
	uint64_t child;
	uint32_t type;
	int err = meta_dirent_get(txn, art, name, &child, &type);

	if (!err)
		err = meta_inode_get(txn, child, &in);
	if (err)
		return err;
	if (in.kind != MK_TAG)
		return ENOENT;
	err = meta_dirent_del(txn, art, name);
	return err ? err : meta_inode_del(txn, child);
}

/* Whether list (URIs, one per line) holds uri as a whole line. */
static int list_has(const char *list, const char *uri)
{
	size_t ul = strlen(uri);

	for (const char *s = list; s && *s;) {
		const char *nl = strchrnul(s, '\n');

		if ((size_t)(nl - s) == ul && memcmp(s, uri, ul) == 0)
			return 1;
		s = *nl ? nl + 1 : nl;
	}
	return 0;
}

int meta_version_lineage(struct meta_txn *txn, const struct meta_artifact *a, uint64_t n,
		       uint64_t root, const char *inputs, const char *captured)
{
	const char *lists[2] = { inputs, captured };
	const uint32_t how[2] = { MI_DECLARED, MI_CAPTURED };
	struct meta_vref self = { a->ino, n };
	struct be_str all = { 0 };
	int err = 0;

	for (int l = 0; l < 2 && !err; l++) {
		const char *s = lists[l];

		while (s && *s && !err) {
			const char *nl = strchrnul(s, '\n');
			char uri[1024];
			struct meta_vref in;

			snprintf(uri, sizeof(uri), "%.*s", (int)(nl - s), s);
			s = *nl ? nl + 1 : nl;
			if (!uri[0])
				continue;
			if (meta_uri_resolve(txn, uri, &in)) {
				log_msg(LOG_WARNING, "%s/%s@v%" PRIu64 ": input %s is not in the index",
					a->project, a->name, n, uri);
				continue;
			}
			if (in.artifact == self.artifact && in.n == self.n)
				continue; /* a version never lists itself */
			err = meta_lineage_put(txn, &self, &in, how[l]);
			if (!err && !list_has(all.s, uri)) {
				err = be_str_add(&all, uri, strlen(uri));
				if (!err)
					err = be_str_add(&all, "\n", 1);
			}
		}
	}
	if (!err && all.len)
		err = meta_xattr_put(txn, root, "user.artifs.inputs", all.s, all.len - 1);
	be_str_release(&all);
	return err;
}

/* Entry i (not the root) of m as a version inode below its parent (inos[] of the entries
 * before it), counted into v. */
static int entry_install(struct meta_txn *txn, const struct meta_artifact *a,
			 const struct manifest *m, size_t i, uint64_t *inos, uint32_t uid,
			 uint32_t gid, struct meta_version *v)
{
	const struct manifest_entry *e = &m->entries[i];
	const char *base = strrchr(e->path, '/');
	size_t pi = manifest_parent(m, i);
	struct meta_inode in;
	int err;

	/* A checked manifest lists every parent before its children (manifest.md). */
	if (pi >= i || !S_ISDIR(m->entries[pi].mode))
		return EINVAL; /* manifest_check() let a bad order through */
	memset(&in, 0, sizeof(in));
	err = meta_ino_alloc(txn, &in.ino);
	if (err)
		return err;
	in.parent = inos[pi];
	in.artifact = a->ino;
	in.version = m->version;
	in.kind = MK_VNODE;
	in.mode = e->mode;
	in.uid = uid;
	in.gid = gid;
	in.nlink = 1;
	in.size = e->size;
	in.mtime_ns = e->mtime_ns;
	in.ctime_ns = m->created_ns;
	if (S_ISREG(e->mode)) {
		memcpy(in.digest, e->digest, 32);
		v->files++;
		v->bytes += e->size;
	}
	inos[i] = in.ino;
	err = meta_inode_put(txn, &in);
	if (!err && e->target)
		err = meta_link_put(txn, in.ino, e->target);
	if (!err && e->nruns)
		err = meta_runs_put(txn, in.ino, m, e);
	else if (!err && e->nchunks)
		err = meta_chunks_put(txn, in.ino, e->chunks, e->nchunks);
	for (size_t k = 0; k < e->nxattrs && !err; k++)
		err = meta_xattr_put(txn, in.ino, e->xattrs[k].name, e->xattrs[k].val,
				     e->xattrs[k].len);
	if (!err)
		err = meta_dirent_put(txn, in.parent, base ? base + 1 : e->path, in.ino,
				      e->mode & S_IFMT);
	return err;
}

/* The root's version-level values: message, lineage, producer, labels and metrics. */
static int root_values(struct meta_txn *txn, const struct meta_artifact *a,
		       const struct manifest *m, uint64_t root, int lineage)
{
	struct meta_vref vr = { a->ino, m->version };
	int err = 0;

	if (m->message)
		err = meta_xattr_put(txn, root, "user.artifs.message", m->message,
				     strlen(m->message));
	if (!err && lineage)
		err = meta_version_lineage(txn, a, m->version, root, m->inputs, m->captured);
	if (!err && m->producer)
		err = meta_xattr_put(txn, root, "user.artifs.producer", m->producer,
				     strlen(m->producer));
	for (size_t k = 0; k < m->nattrs && !err; k++)
		err = meta_vattr_set(txn, root, &vr, m->attrs[k].name, m->attrs[k].val,
				   m->attrs[k].len, 0);
	return err;
}

/* @latest names the newest version of a (made with the first version). */
static int latest_point(struct meta_txn *txn, struct meta_artifact *a, int64_t when,
			uint32_t uid, uint32_t gid)
{
	struct meta_inode in;
	char target[32];
	int err;

	memset(&in, 0, sizeof(in));
	if (a->latest_link) {
		err = meta_inode_get(txn, a->latest_link, &in);
	} else {
		err = meta_ino_alloc(txn, &in.ino);
		in.parent = in.artifact = a->ino;
		in.kind = MK_LATEST;
		in.mode = S_IFLNK | 0777;
		in.uid = uid;
		in.gid = gid;
		in.nlink = 1;
		if (!err)
			err = meta_dirent_put(txn, a->ino, "@latest", in.ino, S_IFLNK);
		a->latest_link = in.ino;
	}
	snprintf(target, sizeof(target), "@v%" PRIu64, a->latest);
	in.size = strlen(target);
	in.mtime_ns = in.ctime_ns = when;
	if (!err)
		err = meta_inode_put(txn, &in);
	if (!err)
		err = meta_link_put(txn, in.ino, target);
	return err;
}

static int newest_fn(void *arg, const struct meta_version *v)
{
	*(struct meta_version *)arg = *v;
	return META_ITER_STOP;
}

/* latest, tree_digest and @latest of a after a version went or came back; *a stored. */
static int latest_follow(struct meta_txn *txn, struct meta_artifact *a)
{
	struct meta_version v;
	struct meta_inode ain;
	int err;

	memset(&v, 0, sizeof(v));
	err = meta_version_iter(txn, a->ino, newest_fn, &v);
	if (!err)
		err = meta_inode_get(txn, a->ino, &ain);
	if (err)
		return err;
	a->latest = v.n;
	memcpy(a->tree_digest, v.tree_digest, sizeof(a->tree_digest));
	if (v.n) {
		err = latest_point(txn, a, now_ns(), ain.uid, ain.gid);
	} else if (a->latest_link) {
		err = meta_dirent_del(txn, a->ino, "@latest");
		if (!err)
			err = meta_inode_del(txn, a->latest_link);
		a->latest_link = 0;
	}
	return err ? err : meta_artifact_put(txn, a);
}

int meta_version_remove(struct meta_txn *txn, struct meta_artifact *a, uint64_t n, int64_t when,
			int untag, char *tags, size_t tagslen)
{
	struct meta_removed r = { .removed_ns = when };
	struct meta_vref vr = { .artifact = a->ino, .n = n };
	char vname[32];
	int err = meta_version_get(txn, a->ino, n, &r.v);

	if (!err && !untag)
		err = meta_vref_tags(txn, &vr, tags, tagslen);
	if (err)
		return err;
	if (!untag && tags[0])
		return EBUSY;
	snprintf(vname, sizeof(vname), "@v%" PRIu64, n);
	err = meta_dirent_del(txn, a->ino, vname);
	if (err == ENOENT)
		err = 0; /* an index that lost the entry: the record still moves */
	if (!err)
		err = meta_removed_put(txn, &r);
	if (!err)
		err = meta_version_del(txn, a->ino, n);
	if (!err && n == a->latest)
		err = latest_follow(txn, a);
	return err;
}

int meta_version_restore(struct meta_txn *txn, struct meta_artifact *a, uint64_t n)
{
	struct meta_removed r;
	char vname[32];
	int err = meta_removed_get(txn, a->ino, n, &r);

	if (err)
		return err;
	snprintf(vname, sizeof(vname), "@v%" PRIu64, n);
	err = meta_version_put(txn, &r.v);
	if (!err)
		err = meta_removed_del(txn, a->ino, n);
	if (!err)
		err = meta_dirent_put(txn, a->ino, vname, r.v.root, S_IFDIR);
	if (!err && n > a->latest)
		err = latest_follow(txn, a);
	return err;
}

int meta_artifact_show(struct meta_txn *txn, const struct meta_artifact *a, int shown)
{
	uint64_t child;
	uint32_t type;
	int err = meta_dirent_get(txn, a->project_ino, a->name, &child, &type);

	if (!shown)
		return err == 0 && child == a->ino ? meta_dirent_del(txn, a->project_ino, a->name)
						   : 0;
	if (err == 0)
		return child == a->ino ? 0 : EEXIST;
	return err == ENOENT ? meta_dirent_put(txn, a->project_ino, a->name, a->ino, S_IFDIR)
			     : err;
}

int meta_version_install(struct meta_txn *txn, struct meta_artifact *a,
		       const struct manifest *m, const uint8_t digest[32], const uint32_t *uids,
		       const uint32_t *gids, uint32_t uid, uint32_t gid, int lineage)
{
	struct meta_version v = { .artifact = a->ino, .n = m->version, .created_ns = m->created_ns };
	struct meta_inode root;
	uint64_t *inos;
	char vname[32];
	int err;

	memset(&root, 0, sizeof(root));
	err = meta_ino_alloc(txn, &root.ino);
	if (err)
		return err;
	root.parent = root.artifact = a->ino;
	root.kind = MK_VERSION;
	root.version = m->version;
	root.mode = S_IFDIR | 0755;
	root.uid = uid;
	root.gid = gid;
	root.nlink = 1;
	root.mtime_ns = root.ctime_ns = m->created_ns;
	memcpy(root.digest, digest, 32);
	inos = calloc(m->nentries + 1, sizeof(*inos));
	if (!inos)
		return ENOMEM;
	for (size_t i = 0; i < m->nentries && !err; i++) {
		const struct manifest_entry *e = &m->entries[i];

		if (e->path[0] != '\0') {
			err = entry_install(txn, a, m, i, inos, uids ? uids[i] : uid,
					    gids ? gids[i] : gid, &v);
			continue;
		}
		/* The HEAD root: its mode, kept whole so that a HEAD reset (discard, rebuild)
		 * gets it back; fs_stat_fill() shows it without group and other write bits (the
		 * owner's stays: with default_permissions the kernel asks for it before the
		 * owner sets the version's labels; writes answer EROFS). */
		root.mode = S_IFDIR | (e->mode & 07777);
		root.mtime_ns = e->mtime_ns;
		inos[i] = root.ino;
		for (size_t k = 0; k < e->nxattrs && !err; k++)
			err = meta_xattr_put(txn, root.ino, e->xattrs[k].name, e->xattrs[k].val,
					     e->xattrs[k].len);
	}
	free(inos);
	if (!err)
		err = root_values(txn, a, m, root.ino, lineage);
	if (!err)
		err = meta_inode_put(txn, &root);
	snprintf(vname, sizeof(vname), "@v%" PRIu64, m->version);
	if (!err)
		err = meta_dirent_put(txn, a->ino, vname, root.ino, S_IFDIR);
	v.root = root.ino;
	memcpy(v.digest, digest, 32);
	meta_tree_digest(m, v.tree_digest);
	if (!err)
		err = meta_version_put(txn, &v);
	if (err)
		return err;
	if (m->version >= a->latest) {
		a->latest = m->version;
		memcpy(a->tree_digest, v.tree_digest, 32);
	}
	if (a->next <= m->version)
		a->next = m->version + 1;
	err = latest_point(txn, a, m->created_ns, uid, gid);
	return err ? err : meta_artifact_put(txn, a);
}

/* Deletes the HEAD subtree below dir (not dir itself); staged inodes go to drop[]. */
static int head_clear(const struct meta_free *fr, struct meta_txn *txn, uint64_t dir, int top,
		      struct meta_inos *drop)
{
	struct meta_children ch;
	int err = meta_children_get(txn, dir, top, &ch);

	for (size_t i = 0; i < ch.n && !err; i++) {
		struct meta_inode in;

		err = meta_inode_get(txn, ch.v[i].ino, &in);
		if (err)
			break;
		if (S_ISDIR(in.mode))
			err = head_clear(fr, txn, in.ino, 0, drop);
		if (!err && (in.flags & MI_STAGED)) {
			uint64_t *nd = be_grow(drop->v, drop->n, &drop->cap, sizeof(*drop->v));

			if (!nd) {
				err = ENOMEM;
				break;
			}
			drop->v = nd;
			nd[drop->n++] = in.ino;
		}
		if (!err)
			err = fr ? fr->fn(fr->arg, txn, in.ino) : meta_inode_del(txn, in.ino);
		if (!err)
			err = meta_dirent_del(txn, dir, ch.v[i].name);
	}
	free(ch.v);
	return err;
}

/* Copies the version subtree below vdir into the HEAD folder hdir. */
static int head_copy(struct meta_txn *txn, uint64_t vdir, uint64_t hdir, uint64_t art)
{
	struct meta_children ch;
	int err = meta_children_get(txn, vdir, 0, &ch);

	for (size_t i = 0; i < ch.n && !err; i++) {
		struct meta_inode v, h;
		struct meta_xa_collect xc = { 0 };
		char *link = NULL;

		err = meta_inode_get(txn, ch.v[i].ino, &v);
		if (err)
			break;
		h = v;
		err = meta_ino_alloc(txn, &h.ino);
		if (err)
			break;
		h.parent = hdir;
		h.artifact = art;
		h.version = 0;
		h.kind = MK_HEAD;
		h.flags = 0;
		err = meta_inode_put(txn, &h);
		if (!err && S_ISLNK(v.mode) && meta_link_get(txn, v.ino, &link) == 0)
			err = meta_link_put(txn, h.ino, link);
		if (!err && S_ISREG(v.mode) && (err = meta_chunks_copy(txn, v.ino, h.ino)) == ENOENT)
			err = 0; /* an empty file */
		if (!err)
			err = meta_xattr_iter(txn, v.ino, meta_xa_collect_fn, &xc);
		for (size_t k = 0; k < xc.n; k++) {
			if (!err)
				err = meta_xattr_put(txn, h.ino, xc.v[k].name, xc.v[k].val,
						     xc.v[k].len);
			free(xc.v[k].name);
			free(xc.v[k].val);
		}
		free(xc.v);
		free(link);
		if (!err)
			err = meta_dirent_put(txn, hdir, ch.v[i].name, h.ino, h.mode & S_IFMT);
		if (!err && S_ISDIR(v.mode))
			err = head_copy(txn, v.ino, h.ino, art);
	}
	free(ch.v);
	return err;
}

static int reset_head(const struct meta_free *fr, struct meta_txn *txn, struct meta_artifact *a,
		      uint64_t n, struct meta_inos *drop)
{
	struct meta_version v;
	struct meta_inode root, ain;
	struct meta_xa_collect xc = { .root = 1 };
	int err = head_clear(fr, txn, a->ino, 1, drop);

	if (err || !n)
		goto done;
	err = meta_version_get(txn, a->ino, n, &v);
	if (!err)
		err = head_copy(txn, v.root, a->ino, a->ino);
	if (!err)
		err = meta_inode_get(txn, v.root, &root);
	if (!err)
		err = meta_inode_get(txn, a->ino, &ain);
	if (err)
		return err;
	/* The HEAD root folder's own attributes and mode come back too. */
	ain.mode = S_IFDIR | (root.mode & 07777) | (ain.mode & 0200);
	ain.mtime_ns = root.mtime_ns;
	err = meta_inode_put(txn, &ain);
	if (!err)
		err = meta_xattr_iter(txn, v.root, meta_xa_collect_fn, &xc);
	for (size_t k = 0; k < xc.n; k++) {
		if (!err)
			err = meta_xattr_put(txn, a->ino, xc.v[k].name, xc.v[k].val, xc.v[k].len);
		free(xc.v[k].name);
		free(xc.v[k].val);
	}
	free(xc.v);
done:
	if (err)
		return err;
	err = meta_artifact_get(txn, a->ino, a);
	if (err)
		return err;
	a->draft = 0;
	return meta_artifact_put(txn, a);
}

int meta_head_reset(struct meta_txn *txn, struct meta_artifact *a, uint64_t n,
		    const struct meta_free *fr, struct meta_inos *staged)
{
	struct meta_inos drop = { 0 };
	int err = reset_head(fr, txn, a, n, &drop);

	if (staged) {
		free(staged->v);
		*staged = drop;
	} else {
		free(drop.v);
	}
	return err;
}
