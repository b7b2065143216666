/* SPDX-License-Identifier: MIT */
/*
 * Extended attributes of DESIGN.md section 3. Computed names (uri, version, digest,
 * created) are made on read; everything else is stored in the index. Which names may be
 * written depends on where: see docs/xattrs.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <time.h>

#include "fs_int.h"

static int prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static void hex32(const uint8_t d[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int zero32(const uint8_t d[32])
{
	for (int i = 0; i < 32; i++)
		if (d[i])
			return 0;
	return 1;
}

static void rfc3339(int64_t ns, char *out, size_t len)
{
	time_t s = ns / 1000000000;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Names whose values artifs computes; they are read-only everywhere. */
static const char *const computed[] = { "user.artifs.uri", "user.artifs.version",
					"user.artifs.digest", "user.artifs.created",
					"user.artifs.producer" };

static int is_computed(const char *name)
{
	for (size_t i = 0; i < sizeof(computed) / sizeof(computed[0]); i++)
		if (strcmp(name, computed[i]) == 0)
			return 1;
	return 0;
}

/* The computed value of name for in, or ENODATA. *val caller-frees. */
static int computed_get(struct fs *fs, struct meta_txn *txn, const struct meta_inode *in,
			const char *name, char **val)
{
	struct meta_version v;
	struct meta_artifact a;
	char buf[80];
	int err;

	if (strcmp(name, "user.artifs.uri") == 0)
		return fs_uri(fs, txn, in, val);
	if (strcmp(name, "user.artifs.version") == 0) {
		if (in->kind == MK_VERSION)
			snprintf(buf, sizeof(buf), "%" PRIu64, in->version);
		else if (in->kind == MK_ARTIFACT) {
			err = meta_artifact_get(txn, in->ino, &a);
			if (err)
				return err;
			if (!a.latest)
				return ENODATA;
			snprintf(buf, sizeof(buf), "%" PRIu64, a.latest);
		} else
			return ENODATA;
		return (*val = strdup(buf)) ? 0 : ENOMEM;
	}
	if (strcmp(name, "user.artifs.digest") == 0) {
		if (!(in->kind == MK_VERSION || (in->kind == MK_VNODE && S_ISREG(in->mode))) ||
		    zero32(in->digest))
			return ENODATA;
		memcpy(buf, "sha256:", 7);
		hex32(in->digest, buf + 7);
		return (*val = strdup(buf)) ? 0 : ENOMEM;
	}
	if (strcmp(name, "user.artifs.created") == 0) {
		if (in->kind != MK_VERSION)
			return ENODATA;
		err = meta_version_get(txn, in->artifact, in->version, &v);
		if (err)
			return err;
		rfc3339(v.created_ns, buf, sizeof(buf));
		return (*val = strdup(buf)) ? 0 : ENOMEM;
	}
	return ENODATA; /* producer is stored on the version */
}

/* Names other hosts may change (labels, metrics, kinds): reading one refreshes first. */
static int shared_name(const char *name)
{
	return prefix(name, "user.label.") || prefix(name, "user.metric.") ||
	       strcmp(name, "user.artifs.kind") == 0 || strcmp(name, "user.artifs.retain") == 0;
}


int fs_do_getxattr(struct fs *fs, uint64_t ino, const char *name, char **val, size_t *len)
{
	struct meta_txn *txn;
	struct meta_inode in;
	void *v = NULL;
	int err;

	/* Only user.* exists here (DESIGN.md section 3). ENOTSUP, not ENODATA: ls -l asks
	 * for security.selinux and the ACL names of every entry and, told the filesystem does
	 * not support them, stops asking for the rest of the listing (ENODATA cost two round
	 * trips per entry). Answered before any lookup. */
	if (!prefix(name, "user."))
		return ENOTSUP;
	if (ino == META_ROOT_INO && prefix(name, "user.artifs.run.")) {
		err = fs_lineage_made_get(fs, name + strlen("user.artifs.run."), val);
		if (!err)
			*len = strlen(*val);
		return err;
	}
	if (shared_name(name))
		fs_attrs_refresh_for(fs, ino);
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_inode_get(txn, ino, &in);
	if (err)
		goto out;
	if (is_computed(name) && strcmp(name, "user.artifs.producer") != 0) {
		err = computed_get(fs, txn, &in, name, val);
		if (!err)
			*len = strlen(*val);
		goto out;
	}
	err = meta_xattr_get(txn, ino, name, &v, len);
	if (err == ENOENT)
		err = ENODATA;
	if (!err)
		*val = v;
out:
	meta_txn_abort(txn);
	return err;
}

struct list_arg {
	struct be_str b; /* the names, each with its NUL */
	int err;
};

static void list_add(struct list_arg *l, const char *name)
{
	if (!l->err)
		l->err = be_str_add(&l->b, name, strlen(name) + 1);
}

static int list_fn(void *arg, const char *name, const void *val, size_t len)
{
	struct list_arg *l = arg;

	list_add(l, name);
	return l->err;
}

int fs_do_listxattr(struct fs *fs, uint64_t ino, char **list, size_t *len)
{
	struct list_arg l = { 0 };
	struct meta_txn *txn;
	struct meta_inode in;
	int err;

	fs_attrs_refresh_for(fs, ino);
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_inode_get(txn, ino, &in);
	if (err)
		goto out;
	for (size_t i = 0; i < sizeof(computed) / sizeof(computed[0]); i++) {
		char *v = NULL;

		if (strcmp(computed[i], "user.artifs.producer") == 0)
			continue; /* stored; listed by the iteration below */
		if (computed_get(fs, txn, &in, computed[i], &v) == 0)
			list_add(&l, computed[i]);
		free(v);
	}
	err = meta_xattr_iter(txn, ino, list_fn, &l);
	if (!err)
		err = l.err;
out:
	meta_txn_abort(txn);
	if (err) {
		be_str_release(&l.b);
		return err;
	}
	*list = l.b.s;
	*len = l.b.len;
	return 0;
}

/* What writing (or removing) name on in means. */
enum xa_class {
	XA_STORE,       /* shared through the store, then stored on this inode (attr_write) */
	XA_STORE_DRAFT, /* stored, and a change of the HEAD's tree */
	XA_PENDING,     /* stored on the artifact, goes with the next version */
	XA_COMMIT,
	XA_DISCARD, /* and user.artifs.revert */
};

static int classify(const struct meta_inode *in, const char *name, enum xa_class *c,
		    const char **why)
{
	int label = prefix(name, "user.label.") && name[11];
	int metric = prefix(name, "user.metric.") && name[12];

	if (is_computed(name)) {
		*why = "this attribute is computed by artifs";
		return EPERM;
	}
	if (in->kind == MK_VNODE) {
		*why = "versions are read-only";
		return EROFS;
	}
	switch (in->kind) {
	case MK_PROJECT:
		if (label || strcmp(name, "user.artifs.retain") == 0) {
			*c = XA_STORE;
			return 0;
		}
		*why = "projects carry user.label.* and user.artifs.retain attributes only";
		return EPERM;
	case MK_VERSION:
		if (label || metric) {
			*c = XA_STORE;
			return 0;
		}
		if (prefix(name, "user.artifs.")) {
			*why = "a version's artifs attributes are read-only";
			return EPERM;
		}
		*why = "versions are read-only (labels and metrics excepted)";
		return EROFS;
	case MK_ARTIFACT:
		if (strcmp(name, "user.artifs.commit") == 0) {
			*c = XA_COMMIT;
			return 0;
		}
		if (strcmp(name, "user.artifs.discard") == 0 ||
		    strcmp(name, "user.artifs.revert") == 0) {
			*c = XA_DISCARD;
			return 0;
		}
		if (label || strcmp(name, "user.artifs.kind") == 0 ||
		    strcmp(name, "user.artifs.retain") == 0) {
			*c = XA_STORE;
			return 0;
		}
		if (metric || strcmp(name, "user.artifs.inputs") == 0 ||
		    strcmp(name, "user.artifs.message") == 0) {
			*c = XA_PENDING;
			return 0;
		}
		if (prefix(name, "user.artifs.")) {
			*why = "unknown or read-only artifs attribute";
			return EPERM;
		}
		*c = XA_STORE_DRAFT; /* the HEAD root folder's own attributes */
		return 0;
	case MK_HEAD:
		if (prefix(name, "user.artifs.")) {
			*why = "artifs attributes belong on the artifact folder";
			return EPERM;
		}
		*c = XA_STORE_DRAFT;
		return 0;
	default:
		*why = "kept by artifs";
		return EPERM;
	}
}


struct xw_arg {
	uint64_t ino;
	const char *name;
	const char *val;
	size_t len;
	int flags;
	int remove;
	enum xa_class cls;
	uint32_t kind;
	uint64_t art;
	const char *why;
};

static int xw_fn(struct meta_txn *txn, void *arg)
{
	struct xw_arg *x = arg;
	struct meta_inode in;
	void *old = NULL;
	size_t oldlen;
	int have, err;

	err = meta_inode_get(txn, x->ino, &in);
	if (err)
		return err;
	err = classify(&in, x->name, &x->cls, &x->why);
	if (err)
		return err;
	x->kind = in.kind;
	x->art = in.artifact;
	if (x->cls == XA_COMMIT || x->cls == XA_DISCARD)
		return 0;
	if (x->cls == XA_STORE)
		return EINVAL; /* shared attributes go through attr_write() */
	have = meta_xattr_get(txn, x->ino, x->name, &old, &oldlen) == 0;
	free(old);
	if (x->remove) {
		if (!have)
			return ENODATA;
		err = meta_xattr_del(txn, x->ino, x->name);
	} else {
		if ((x->flags & XATTR_CREATE) && have)
			return EEXIST;
		if ((x->flags & XATTR_REPLACE) && !have)
			return ENODATA;
		err = meta_xattr_put(txn, x->ino, x->name, x->val, x->len);
	}
	if (err)
		return err;
	if (x->cls == XA_STORE_DRAFT) {
		in.ctime_ns = fs_now_ns();
		err = meta_inode_put(txn, &in);
		if (!err && in.artifact)
			err = meta_artifact_draft_mark(txn, in.artifact);
	}
	return err;
}

/* Checks every line of a declared-inputs value and rewrites it as version URIs. */
static int inputs_normalise(struct fs *fs, const char *val, size_t len, char **out,
			    size_t *outlen)
{
	struct meta_txn *txn;
	const char *s = val, *end = val + len;
	struct be_str list = { 0 };
	int err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return err;
	while (s < end && !err) {
		const char *nl = memchr(s, '\n', end - s);
		size_t n = (nl ? nl : end) - s;
		char uri[1024], canon[400];
		struct meta_vref v;

		while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
			n--;
		if (n == 0) {
			s = nl ? nl + 1 : end;
			continue;
		}
		if (n >= sizeof(uri)) {
			err = fs_refuse(EINVAL, "xattr", "user.artifs.inputs", "an input URI is too long");
			break;
		}
		memcpy(uri, s, n);
		uri[n] = '\0';
		s = nl ? nl + 1 : end;
		err = meta_uri_resolve(txn, uri, &v);
		if (err == EINVAL) {
			log_msg(LOG_NOTICE, "xattr user.artifs.inputs: '%s' is not an artifs:// "
					    "version URI (%s)", uri, strerror(EINVAL));
			break;
		}
		if (err == ENOENT) {
			log_msg(LOG_NOTICE, "xattr user.artifs.inputs: %s names no existing "
					    "version (%s)", uri, strerror(ENOENT));
			break;
		}
		if (!err)
			err = meta_vref_uri(txn, &v, canon, sizeof(canon));
		if (err)
			break;
		if (list.len)
			err = be_str_add(&list, "\n", 1);
		if (!err)
			err = be_str_add(&list, canon, strlen(canon));
	}
	meta_txn_abort(txn);
	if (err) {
		be_str_release(&list);
		return err;
	}
	*out = list.s;
	*outlen = list.len;
	return 0;
}

struct aw_arg {
	uint64_t ino;
	const char *name;
	const void *val;
	size_t len;
	int remove;
};

static int aw_fn(struct meta_txn *txn, void *arg)
{
	struct aw_arg *x = arg;
	struct meta_inode in;
	int err = meta_inode_get(txn, x->ino, &in);

	return err ? err : fs_attr_apply(txn, &in, x->name, x->val, x->len, x->remove);
}

/*
 * A label, metric or kind of a project, artifact or version: the store first, then this
 * index. Other hosts read the store, so a value the store refused is refused here too,
 * and a refresh that read the store before the write cannot undo it (fs/attrs.c).
 */
static int attr_write(struct fs *fs, const struct meta_inode *in, const char *name,
		      const char *val, size_t len, int flags, int remove)
{
	struct aw_arg x = { in->ino, name, val, len, remove };
	struct fs_attr_owner o;
	struct meta_txn *txn;
	void *old = NULL;
	size_t oldlen;
	int have, err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return err;
	have = meta_xattr_get(txn, in->ino, name, &old, &oldlen) == 0;
	free(old);
	err = fs_attr_owner_of(txn, in, &o);
	meta_txn_abort(txn);
	if (err)
		return err;
	if (remove && !have)
		return ENODATA;
	if ((flags & XATTR_CREATE) && have)
		return EEXIST;
	if ((flags & XATTR_REPLACE) && !have)
		return ENODATA;
	if (fs_attr_key_check(&o, name))
		return fs_refuse(ENAMETOOLONG, "xattr", name, "the name is too long for a store key");
	err = fs_attr_publish(fs, &o, name, val, len, remove);
	if (err)
		return fs_refuse(err, "xattr", name, "the store did not take the new value");
	return meta_write(fs->meta, aw_fn, &x);
}

/*
 * A write of a computed name (uri, version, digest, created, producer), which cp -a and
 * rsync -X copy along with everything else: in a HEAD (a file or the artifact folder) the
 * value is computed anyway and the write means nothing, so it is accepted and ignored; on a
 * version it is accepted when it is the value that is there already. 0, or EPERM.
 */
static int computed_write(struct fs *fs, const struct meta_inode *in, const char *name,
			  const char *val, size_t len)
{
	char *have = NULL;
	size_t hlen = 0;
	int same;

	if (in->kind == MK_HEAD || in->kind == MK_ARTIFACT)
		return 0;
	same = fs_do_getxattr(fs, in->ino, name, &have, &hlen) == 0 && hlen == len &&
	       memcmp(have, val, len) == 0;
	free(have);
	return same ? 0 : fs_refuse(EPERM, "xattr", name, "this attribute is computed by artifs");
}

/* The checks of a name and value that need no inode. */
static int write_check(const char *name, const char *val, size_t len, int remove)
{
	const char *why = NULL;
	int err;

	if (!prefix(name, "user."))
		return fs_refuse(ENOTSUP, "xattr", name, "only user.* attributes are supported");
	if (len > FS_XATTR_MAX)
		return fs_refuse(E2BIG, "xattr", name, "values are at most 64 KiB");
	if (!remove && !manifest_text_ok(name, strlen(name)))
		return fs_refuse(EINVAL, "xattr", "(name not shown)",
			      "attribute names must be UTF-8 to be stored in a version");
	if (!remove) {
		err = fs_xattr_value_check(name, val, len, &why);
		if (err)
			return fs_refuse(err, "xattr", name, why);
	}
	return 0;
}

/* On the mount root (docs/jobs.md): user.artifs.run.begin makes the caller a process of
 * named run ID (value "ID"; "ID\nhold" also holds the run's drafts until its end, for
 * `artifs import`); user.artifs.run.end ends it (value "ID", or "ID\nMESSAGE") and
 * commits its drafts; user.artifs.run.new starts a run of the calling process's own. */
static int run_write(struct fs *fs, const char *name, const char *val, size_t len)
{
	char id[FS_RUN_ID_MAX - 8];
	const char *nl = memchr(val, '\n', len);
	size_t idlen = nl ? (size_t)(nl - val) : len;
	char *msg = NULL;
	int err;

	if (strcmp(name, "user.artifs.run.new") && strcmp(name, "user.artifs.run.begin") &&
	    strcmp(name, "user.artifs.run.end"))
		return fs_refuse(EPERM, "xattr", name,
				 "unknown run attribute (run.begin, run.end, run.new)");
	if (!fs->lin)
		return fs_refuse(ENOTSUP, "xattr", name, "lineage capture is off (capture=0): "
				 "runs are not followed");
	if (strcmp(name, "user.artifs.run.new") == 0)
		return fs_lineage_new_run(fs, fs_req_pid(), NULL, 0);
	if (!idlen || idlen >= sizeof(id))
		return fs_refuse(EINVAL, "xattr", name, "a run id is 1 to 151 bytes");
	for (size_t i = 0; i < idlen; i++)
		if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f)
			return fs_refuse(EINVAL, "xattr", name,
					 "a run id has no control characters");
	memcpy(id, val, idlen);
	id[idlen] = '\0';
	if (strcmp(name, "user.artifs.run.begin") == 0) {
		int held = nl && (size_t)(val + len - nl) == 5 && !memcmp(nl, "\nhold", 5);

		return nl && !held ? fs_refuse(EINVAL, "xattr", name, "the value is the run id, "
					       "or the run id and a line \"hold\"")
				   : fs_lineage_new_run(fs, fs_req_pid(), id, held);
	}
	if (nl && nl + 1 < val + len && !(msg = strndup(nl + 1, (size_t)(val + len - nl - 1))))
		return ENOMEM;
	err = fs_run_end(fs, id, msg);
	free(msg);
	return err;
}

static int xattr_write(struct fs *fs, uint64_t ino, const char *name, const char *val,
		       size_t len, int flags, int remove)
{
	struct xw_arg x = { .ino = ino, .name = name, .val = val, .len = len, .flags = flags,
			    .remove = remove };
	struct fs_art *art = NULL;
	struct meta_inode in;
	const char *why = NULL;
	int err;

	err = write_check(name, val, len, remove);
	if (!err)
		err = fs_inode_read(fs, ino, &in);
	if (err)
		return err;
	if (!remove && is_computed(name))
		return computed_write(fs, &in, name, val, len);
	if (in.kind == MK_PROJECT || in.kind == MK_ARTIFACT || in.kind == MK_VERSION) {
		enum xa_class c;

		err = classify(&in, name, &c, &why);
		if (err)
			return fs_refuse(err, "xattr", name, why);
		if (c == XA_STORE)
			return attr_write(fs, &in, name, val, len, flags, remove);
	}
	if (in.kind == MK_HEAD || in.kind == MK_ARTIFACT) {
		art = fs_art_get(fs, in.artifact);
		if (!art)
			return ENOMEM;
	}
	if (in.kind == MK_ARTIFACT && !remove && strcmp(name, "user.artifs.commit") == 0) {
		char *msg = strndup(val, len);

		err = msg ? fs_commit(fs, art, len ? msg : NULL, 1, NULL) : ENOMEM;
		free(msg);
		return err;
	}
	if (in.kind == MK_ARTIFACT && !remove && strcmp(name, "user.artifs.discard") == 0)
		return fs_discard(fs, art);
	if (in.kind == MK_ARTIFACT && !remove && strcmp(name, "user.artifs.revert") == 0) {
		char *ref = strndup(val, len);

		err = ref ? fs_revert(fs, art, ref) : ENOMEM;
		free(ref);
		return err;
	}
	if (in.kind == MK_ARTIFACT && !remove && strcmp(name, "user.artifs.inputs") == 0) {
		char *norm = NULL;
		size_t nlen = 0;

		/* Declared inputs are pinned now: tags and @latest become the version they name. */
		err = inputs_normalise(fs, val, len, &norm, &nlen);
		if (err)
			return err;
		x.val = norm;
		x.len = nlen;
		fs_mutex_lock(&art->lock);
		err = meta_write(fs->meta, xw_fn, &x);
		fs_mutex_unlock(&art->lock);
		free(norm);
		if (err && x.why)
			fs_refuse(err, "xattr", name, x.why);
		return err;
	}
	if (art)
		fs_mutex_lock(&art->lock);
	err = meta_write(fs->meta, xw_fn, &x);
	if (art)
		fs_mutex_unlock(&art->lock);
	if (err) {
		if (x.why)
			fs_refuse(err, "xattr", name, x.why);
		return err;
	}
	if (x.cls == XA_STORE_DRAFT && art)
		fs_art_changed(fs, art);
	return 0;
}

int fs_do_setxattr(struct fs *fs, uint64_t ino, const char *name, const char *val,
		   size_t len, int flags)
{
	if (ino == META_ROOT_INO && prefix(name, "user.artifs.run."))
		return len > FS_XATTR_MAX ? E2BIG : run_write(fs, name, val, len);
	return xattr_write(fs, ino, name, val, len, flags, 0);
}

int fs_do_removexattr(struct fs *fs, uint64_t ino, const char *name)
{
	return xattr_write(fs, ino, name, NULL, 0, 0, 1);
}
