/* SPDX-License-Identifier: MIT */
/*
 * Labels, metrics and kinds shared through the store (docs/store-format.md, "Attributes").
 * Every write of one attribute is one new object, named by its time and the hash of its
 * content, under a folder of its own name:
 *
 *   meta/<p>/@attrs/<name>/<stamp>                  a project's
 *   meta/<p>/<a>/@attrs/<name>/<stamp>              an artifact's
 *   meta/<p>/<a>/@vattrs/<N, 20 digits>/<name>/<stamp>  version N's
 *
 * so hosts never overwrite each other's attributes, and one LIST of an artifact's meta/
 * folder tells, by the stamps alone, which attributes changed. The largest stamp of a name
 * is its value (last writer wins, per name); the older whole-object files project.json,
 * artifact.json and versions/<N>.json are a base layer under them. Refresh and rebuild read
 * them with the same code: a plan (LIST and GETs, no transaction open), then one write
 * transaction that applies it.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <linux/limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

#define STAMP_LEN 37                      /* <time, 20 digits>-<hash, 16 hex> */
#define STAMP_TIME_MAX 9999999999999999999ULL /* 10^19 - 1: the first digit is 0 */
#define KEY_MAX 1024                      /* S3's limit on key length */
#define PART_MAX 240                      /* bytes of one key component (NAME_MAX locally) */
#define BASE_OBJECT_MAX (1u << 20)        /* project.json, artifact.json, versions/<N>.json */

/* ---- names and keys: each key is built by one function and parsed by one ---- */

static int safe_byte(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* "meta/<p>/@attrs/", "meta/<p>/<a>/@attrs/" or "meta/<p>/<a>/@vattrs/<N>/". */
static int owner_dir(const struct fs_attr_owner *o, char *out, size_t len)
{
	switch (o->where) {
	case FA_PROJECT:
		return be_key_meta(out, len, o->project, NULL, "@attrs/");
	case FA_ARTIFACT:
		return be_key_meta(out, len, o->project, o->artifact, "@attrs/");
	case FA_VERSION:
		return be_key_meta_version(out, len, o->project, o->artifact, o->n, 0);
	default:
		return EINVAL;
	}
}

/* The folder of attribute name: owner_dir, the name percent-encoded (bytes outside
 * [A-Za-z0-9._-] as %XX) in components of at most PART_MAX bytes, and '/'. ENAMETOOLONG
 * when a stamp would not fit below KEY_MAX. */
static int name_dir(const struct fs_attr_owner *o, const char *name, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n, part = 0, cap = len < KEY_MAX - STAMP_LEN + 1 ? len : KEY_MAX - STAMP_LEN + 1;
	int err = owner_dir(o, out, cap);

	if (err)
		return err;
	n = strlen(out);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		size_t tok = safe_byte(*p) ? 1 : 3;

		if (part + tok > PART_MAX) {
			if (n + 1 >= cap)
				return ENAMETOOLONG;
			out[n++] = '/';
			part = 0;
		}
		/* A component never starts with '.' (no "..", no local ".tmp." name). */
		if (part == 0 && *p == '.')
			tok = 3;
		if (n + tok >= cap)
			return ENAMETOOLONG;
		if (tok == 1) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
		part += tok;
	}
	if (n + 1 >= cap)
		return ENAMETOOLONG;
	out[n++] = '/';
	out[n] = '\0';
	return 0;
}

/* Whether name may be kept on the owner, as the store's objects say it (the FUSE op's
 * rules, fs/xattr.c classify(), for the names that are shared). */
static int name_allowed(enum fs_attr_where where, const char *name)
{
	int label = strncmp(name, "user.label.", 11) == 0 && name[11];
	int metric = strncmp(name, "user.metric.", 12) == 0 && name[12];

	if (strlen(name) > XATTR_NAME_MAX || !manifest_text_ok(name, strlen(name)))
		return 0;
	switch (where) {
	case FA_PROJECT:
		return label || strcmp(name, "user.artifs.retain") == 0;
	case FA_ARTIFACT:
		return label || strcmp(name, "user.artifs.kind") == 0 ||
		       strcmp(name, "user.artifs.retain") == 0;
	case FA_VERSION:
		return label || metric;
	}
	return 0;
}

/* "<20 digits>-<16 lowercase hex>", the time at most STAMP_TIME_MAX. */
static int stamp_parse(const char *s, uint64_t *t)
{
	uint64_t v = 0;

	if (strlen(s) != STAMP_LEN || s[20] != '-' || s[0] != '0')
		return EINVAL;
	for (int i = 0; i < 20; i++) {
		if (s[i] < '0' || s[i] > '9')
			return EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	for (int i = 21; i < STAMP_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return EINVAL;
	if (t)
		*t = v;
	return 0;
}

/* The first 16 hex digits of SHA-256 over the object content: the tag byte ('v' with the
 * value, or 'x' for a removal) and the value. */
static void content_hash(int removed, const void *val, size_t len, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dn = 0;
	char tag = removed ? 'x' : 'v';
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	memset(d, 0, sizeof(d));
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, &tag, 1) &&
	    (removed || !len || EVP_DigestUpdate(c, val, len)))
		EVP_DigestFinal_ex(c, d, &dn);
	EVP_MD_CTX_free(c);
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[16] = '\0';
}

enum key_kind {
	KEY_OTHER, /* not below meta/ */
	KEY_BASE,  /* project.json, artifact.json or versions/<N>.json */
	KEY_ATTR,  /* one attribute object */
};

struct key_info {
	enum key_kind kind;
	struct fs_attr_owner o;
	char name[XATTR_NAME_MAX + 1];
	char stamp[STAMP_LEN + 1];
};

/* One component of s into out (at most max bytes); *s moves past it and its '/'. */
static int component(const char **s, char *out, size_t max)
{
	const char *sl = strchr(*s, '/');
	size_t n = sl ? (size_t)(sl - *s) : strlen(*s);

	if (!sl || n == 0 || n > max)
		return EINVAL;
	memcpy(out, *s, n);
	out[n] = '\0';
	*s = sl + 1;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "<encoded name parts>/<stamp>" after an owner's folder: the name must be encoded the one
 * way name_dir() encodes it, and allowed on its owner. */
static int attr_parse(const char *key, const char *rest, struct key_info *k)
{
	const char *last = strrchr(rest, '/');
	char want[KEY_MAX + 1];
	size_t n = 0;

	if (!last || stamp_parse(last + 1, NULL))
		return EINVAL;
	for (const char *p = rest; p < last; p++) {
		int hi, lo;

		if (*p == '/')
			continue;
		if (n >= XATTR_NAME_MAX)
			return EINVAL;
		if (*p != '%') {
			k->name[n++] = *p;
			continue;
		}
		if (p + 2 >= last || (hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0)
			return EINVAL;
		k->name[n++] = (char)(hi << 4 | lo);
		p += 2;
	}
	k->name[n] = '\0';
	if (n == 0 || memchr(k->name, '\0', n) || !name_allowed(k->o.where, k->name))
		return EINVAL;
	/* One name, one folder: other spellings are not ours. */
	if (name_dir(&k->o, k->name, want, sizeof(want)) ||
	    strncmp(want, key, strlen(want)) || key + strlen(want) != last + 1)
		return EINVAL;
	memcpy(k->stamp, last + 1, STAMP_LEN + 1);
	k->kind = KEY_ATTR;
	return 0;
}

/* Classifies a store key. EINVAL for a key below meta/ that is none of ours (the caller
 * logs and skips it). */
static int key_parse(const char *key, struct key_info *k)
{
	const char *s = key, *why;
	char comp[META_PA_MAX + 1];
	uint64_t n;

	memset(k, 0, sizeof(*k));
	k->kind = KEY_OTHER;
	if (strncmp(s, "meta/", 5))
		return 0;
	s += 5;
	if (component(&s, k->o.project, META_PA_MAX) || fs_name_check_pa(k->o.project, &why))
		return EINVAL;
	k->o.where = FA_PROJECT;
	if (strcmp(s, "project.json") == 0) {
		k->kind = KEY_BASE;
		return 0;
	}
	if (strncmp(s, "@attrs/", 7) == 0)
		return attr_parse(key, s + 7, k);
	if (component(&s, k->o.artifact, META_PA_MAX) || fs_name_check_pa(k->o.artifact, &why))
		return EINVAL;
	k->o.where = FA_ARTIFACT;
	if (strcmp(s, "artifact.json") == 0) {
		k->kind = KEY_BASE;
		return 0;
	}
	if (strncmp(s, "@attrs/", 7) == 0)
		return attr_parse(key, s + 7, k);
	k->o.where = FA_VERSION;
	if (strncmp(s, "versions/", 9) == 0) {
		s += 9;
		if (strlen(s) != 25 || strcmp(s + 20, ".json") || be_key_version_number(s, 20, &n))
			return EINVAL;
		k->o.n = n;
		k->kind = KEY_BASE;
		return 0;
	}
	if (strncmp(s, "@vattrs/", 8) == 0) {
		s += 8;
		if (component(&s, comp, sizeof(comp) - 1) ||
		    be_key_version_number(comp, strlen(comp), &k->o.n))
			return EINVAL;
		return attr_parse(key, s, k);
	}
	return EINVAL;
}

int fs_attr_marker_key(const struct fs_attr_owner *o, char *out, size_t len)
{
	if (o->where == FA_PROJECT)
		return be_key_meta(out, len, o->project, NULL, "project.json");
	if (o->where == FA_ARTIFACT)
		return be_key_meta(out, len, o->project, o->artifact, "artifact.json");
	return EINVAL;
}

int fs_attr_marker_parse(const char *key, struct fs_attr_owner *o)
{
	struct key_info k;

	if (key_parse(key, &k) || k.kind != KEY_BASE || k.o.where == FA_VERSION)
		return ENOENT;
	*o = k.o;
	return 0;
}

/* Bad objects are logged once per process, not at every refresh, and not fetched again. */
static pthread_mutex_t bad_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t bad_keys[1024];
static size_t nbad;

static uint64_t key_fnv(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ULL;
	return h;
}

static int bad_known(const char *key)
{
	uint64_t h = key_fnv(key);
	int found = 0;

	pthread_mutex_lock(&bad_lock);
	for (size_t i = 0; i < nbad && !found; i++)
		found = bad_keys[i] == h;
	pthread_mutex_unlock(&bad_lock);
	return found;
}

/* Logs why key is skipped, the first time only. */
static void bad_key(const char *key, const char *why)
{
	uint64_t h = key_fnv(key);
	int found = 0;

	pthread_mutex_lock(&bad_lock);
	for (size_t i = 0; i < nbad && !found; i++)
		found = bad_keys[i] == h;
	if (!found && nbad < sizeof(bad_keys) / sizeof(bad_keys[0]))
		bad_keys[nbad++] = h;
	pthread_mutex_unlock(&bad_lock);
	if (!found)
		log_msg(LOG_WARNING, "store: %s %s; skipped", key, why);
}

/* ---- the owner of an attribute, and the one rule that changes one ---- */

int fs_attr_owner_of(struct meta_txn *txn, const struct meta_inode *in, struct fs_attr_owner *o)
{
	struct meta_artifact a;
	char name[META_NAME_MAX + 1];
	int err;

	memset(o, 0, sizeof(*o));
	if (in->kind == MK_PROJECT) {
		err = fs_child_name(txn, META_ROOT_INO, in->ino, name);
		if (err)
			return err;
		if (strlen(name) > META_PA_MAX)
			return EINVAL;
		o->where = FA_PROJECT;
		strcpy(o->project, name);
		return 0;
	}
	if (in->kind != MK_ARTIFACT && in->kind != MK_VERSION)
		return EINVAL;
	err = meta_artifact_get(txn, in->artifact, &a);
	if (err)
		return err;
	memcpy(o->project, a.project, sizeof(o->project));
	memcpy(o->artifact, a.name, sizeof(o->artifact));
	o->where = in->kind == MK_VERSION ? FA_VERSION : FA_ARTIFACT;
	o->n = in->kind == MK_VERSION ? in->version : 0;
	return 0;
}

int fs_attr_key_check(const struct fs_attr_owner *o, const char *name)
{
	char dir[KEY_MAX + 1];

	return name_dir(o, name, dir, sizeof(dir));
}

int fs_attr_apply(struct meta_txn *txn, const struct meta_inode *in, const char *name,
		  const void *val, size_t len, int remove)
{
	int err;

	if (in->kind == MK_VERSION) {
		struct meta_vref v = { in->artifact, in->version };

		err = meta_vattr_set(txn, in->ino, &v, name, val, len, remove);
	} else if (remove) {
		err = meta_xattr_del(txn, in->ino, name);
	} else {
		err = meta_xattr_put(txn, in->ino, name, val, len);
	}
	return remove && err == ENOENT ? 0 : err;
}

/* The inode of an owner in this index: ENOENT when this host has not got it. */
static int owner_inode(struct meta_txn *txn, const struct fs_attr_owner *o,
		       struct meta_inode *in)
{
	struct meta_version v;
	uint64_t pino, aino;
	uint32_t type;
	int err = meta_dirent_get(txn, META_ROOT_INO, o->project, &pino, &type);

	if (!err && o->where == FA_PROJECT)
		err = meta_inode_get(txn, pino, in);
	else if (!err) {
		err = meta_dirent_get(txn, pino, o->artifact, &aino, &type);
		if (!err && o->where == FA_ARTIFACT)
			err = meta_inode_get(txn, aino, in);
		else if (!err) {
			err = meta_version_get(txn, aino, o->n, &v);
			if (!err)
				err = meta_inode_get(txn, v.root, in);
		}
	}
	if (err)
		return err;
	if (in->kind != (o->where == FA_PROJECT    ? MK_PROJECT
			 : o->where == FA_ARTIFACT ? MK_ARTIFACT
						   : MK_VERSION))
		return ENOENT;
	return 0;
}

/* ---- writing ---- */

struct seen {
	size_t dirlen;
	uint64_t max;  /* the largest valid time seen under the name's folder */
	char **keys;   /* every object there: all older than the one we write */
	size_t n, cap;
};

static int seen_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct seen *s = arg;
	const char *rest = key + s->dirlen;
	char **nk;
	uint64_t t;

	if (strlen(key) <= s->dirlen || strchr(rest, '/'))
		return 0; /* a longer name that shares this folder's first parts */
	if (stamp_parse(rest, &t) == 0 && t > s->max)
		s->max = t;
	nk = be_grow(s->keys, s->n, &s->cap, sizeof(*nk));
	if (!nk)
		return ENOMEM;
	s->keys = nk;
	nk[s->n] = strdup(key);
	if (!nk[s->n])
		return ENOMEM;
	s->n++;
	return 0;
}

/*
 * The new object's time is this host's clock, or just past the newest object of the name
 * when that is later: a write made after another was seen always wins over it, whatever
 * the clocks say. Only two writes that do not see each other are ordered by the clocks.
 */
int fs_attr_publish(struct fs *fs, const struct fs_attr_owner *o, const char *name,
		    const void *val, size_t len, int remove)
{
	struct seen s = { 0 };
	char dir[KEY_MAX + 1], key[KEY_MAX + 64], hash[17];
	uint64_t t = (uint64_t)fs_now_ns();
	char *buf = NULL;
	int err = name_dir(o, name, dir, sizeof(dir));

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	if (err)
		return err;
	s.dirlen = strlen(dir);
	err = be_list(fs->be, dir, seen_fn, &s);
	if (err) {
		log_msg(LOG_ERR, "cannot list %s in the store: %s", dir, strerror(err));
		goto out;
	}
	if (s.max >= t)
		t = s.max < STAMP_TIME_MAX ? s.max + 1 : STAMP_TIME_MAX;
	buf = malloc(len + 1);
	if (!buf) {
		err = ENOMEM;
		goto out;
	}
	buf[0] = remove ? 'x' : 'v';
	if (!remove && len)
		memcpy(buf + 1, val, len);
	content_hash(remove, val, len, hash);
	snprintf(key, sizeof(key), "%s%020" PRIu64 "-%s", dir, t, hash);
	err = be_put(fs->be, key, buf, remove ? 1 : len + 1);
	if (err) {
		log_msg(LOG_ERR, "cannot write %s to the store: %s", key, strerror(err));
		goto out;
	}
	/* The older objects of the name: readers take the newest anyway, this keeps one. */
	for (size_t i = 0; i < s.n; i++) {
		int derr;

		if (strcmp(s.keys[i] + s.dirlen, key + s.dirlen) >= 0)
			continue;
		derr = be_del(fs->be, s.keys[i]);
		if (derr)
			log_msg(LOG_NOTICE, "cannot delete %s from the store: %s", s.keys[i],
				strerror(derr));
	}
out:
	for (size_t i = 0; i < s.n; i++)
		free(s.keys[i]);
	free(s.keys);
	free(buf);
	return err;
}

/* ---- reading: listed objects, a plan, and its application ---- */

/* One listed object. */
struct cand {
	struct fs_attr_owner o;
	char *name; /* NULL: the owner's base object */
	char stamp[STAMP_LEN + 1];
	char *key;
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static void cands_free(struct cands *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].key);
	}
	free(c->v);
	c->v = NULL;
	c->n = c->cap = 0;
}

/* Adds a store key if it is an attribute or base object (bad ones are logged, skipped). */
static int cands_add(struct cands *c, const char *key)
{
	struct key_info k;
	struct cand *nv, *e;

	if (key_parse(key, &k)) {
		bad_key(key, "is not a meta/ object artifs knows (marker, base or attribute)");
		return 0;
	}
	if (k.kind == KEY_OTHER)
		return 0;
	nv = be_grow(c->v, c->n, &c->cap, sizeof(*nv));
	if (!nv)
		return ENOMEM;
	c->v = nv;
	e = &nv[c->n];
	memset(e, 0, sizeof(*e));
	e->o = k.o;
	memcpy(e->stamp, k.stamp, sizeof(e->stamp));
	e->key = strdup(key);
	if (k.kind == KEY_ATTR)
		e->name = strdup(k.name);
	if (!e->key || (k.kind == KEY_ATTR && !e->name)) {
		free(e->key);
		free(e->name);
		return ENOMEM;
	}
	c->n++;
	return 0;
}

static int cands_list_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	return cands_add(arg, key);
}

static int owner_cmp(const struct fs_attr_owner *x, const struct fs_attr_owner *y)
{
	int r = strcmp(x->project, y->project);

	if (!r)
		r = strcmp(x->artifact, y->artifact);
	if (!r)
		r = (int)x->where - (int)y->where;
	if (!r)
		r = x->n < y->n ? -1 : x->n > y->n;
	return r;
}

/* Owner, then name (the base object first), then the newest stamp first. */
static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int r = owner_cmp(&x->o, &y->o);

	if (r)
		return r;
	if (!x->name || !y->name)
		return !!x->name - !!y->name;
	r = strcmp(x->name, y->name);
	return r ? r : -strcmp(x->stamp, y->stamp);
}

/* A change the plan makes to one attribute. With cas, only while the local value still
 * hashes to seen (a write made on this host meanwhile is not undone). */
struct upd {
	char *name;
	int remove;
	void *val;
	size_t len;
	int cas;
	char seen[17];
};

struct plan_owner {
	struct fs_attr_owner o;
	struct upd *u;
	size_t nu, cap;
};

struct fs_attr_plan {
	struct plan_owner *v;
	size_t n, cap;
};

void fs_attrs_plan_free(struct fs_attr_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		for (size_t j = 0; j < p->v[i].nu; j++) {
			free(p->v[i].u[j].name);
			free(p->v[i].u[j].val);
		}
		free(p->v[i].u);
	}
	free(p->v);
	free(p);
}

/* The local values of an owner's shared attributes, as content hashes. */
struct local {
	char **name;
	char (*hash)[17];
	size_t n, cap_name, cap_hash;
	int present; /* the owner exists in this index */
};

static void local_free(struct local *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->name[i]);
	free(l->name);
	free(l->hash);
	memset(l, 0, sizeof(*l));
}

struct local_arg {
	struct local *l;
	enum fs_attr_where where;
};

static int local_fn(void *arg, const char *name, const void *val, size_t len)
{
	struct local_arg *la = arg;
	struct local *l = la->l;
	char **nn;
	char(*nh)[17];

	if (!name_allowed(la->where, name))
		return 0;
	nn = be_grow(l->name, l->n, &l->cap_name, sizeof(*nn));
	if (!nn)
		return ENOMEM;
	l->name = nn;
	nh = be_grow(l->hash, l->n, &l->cap_hash, sizeof(*nh));
	if (!nh)
		return ENOMEM;
	l->hash = nh;
	nn[l->n] = strdup(name);
	if (!nn[l->n])
		return ENOMEM;
	content_hash(0, val, len, nh[l->n]);
	l->n++;
	return 0;
}

static int local_read(struct meta *m, const struct fs_attr_owner *o, struct local *l)
{
	struct local_arg la = { l, o->where };
	struct meta_txn *txn;
	struct meta_inode in;
	int err = meta_txn_begin(m, 1, &txn);

	if (err)
		return err;
	err = owner_inode(txn, o, &in);
	if (err == ENOENT) {
		err = 0;
	} else if (!err) {
		l->present = 1;
		err = meta_xattr_iter(txn, in.ino, local_fn, &la);
	}
	meta_txn_abort(txn);
	return err;
}

/* The local content hash of name (a removal's when absent) into out. */
static void local_hash(const struct local *l, const char *name, char out[17])
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->name[i], name) == 0) {
			memcpy(out, l->hash[i], 17);
			return;
		}
	content_hash(1, NULL, 0, out);
}

/* Values from a base object. */
struct pairs {
	char **name;
	char **val;
	size_t *len;
	size_t n, cap_name, cap_val, cap_len;
};

static void pairs_free(struct pairs *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->name[i]);
		free(p->val[i]);
	}
	free(p->name);
	free(p->val);
	free(p->len);
	memset(p, 0, sizeof(*p));
}

static int pairs_add(struct pairs *p, const char *name, const char *val, size_t len)
{
	char **nn, **nv;
	size_t *nl;

	nn = be_grow(p->name, p->n, &p->cap_name, sizeof(*nn));
	if (!nn)
		return ENOMEM;
	p->name = nn;
	nv = be_grow(p->val, p->n, &p->cap_val, sizeof(*nv));
	if (!nv)
		return ENOMEM;
	p->val = nv;
	nl = be_grow(p->len, p->n, &p->cap_len, sizeof(*nl));
	if (!nl)
		return ENOMEM;
	p->len = nl;
	nn[p->n] = strdup(name);
	nv[p->n] = malloc(len + 1);
	if (!nn[p->n] || !nv[p->n]) {
		free(nn[p->n]);
		free(nv[p->n]);
		return ENOMEM;
	}
	memcpy(nv[p->n], val, len);
	nl[p->n] = len;
	p->n++;
	return 0;
}

/* Reads a base object: {"labels": {k: v}, "metrics": {k: v}, "kind": v}, the groups its
 * owner may carry. Missing is empty; bad entries and bad objects are logged and skipped. */
static int base_read(struct fs *fs, const char *key, enum fs_attr_where where,
		     struct pairs *out)
{
	static const char *const groups[][2] = { { "labels", "user.label." },
						 { "metrics", "user.metric." } };
	void *buf = NULL;
	size_t len;
	json_t *doc, *obj, *jv;
	const char *k, *why;
	char name[XATTR_NAME_MAX + 2];
	int err = be_get_all(fs->be, key, BASE_OBJECT_MAX, &buf, &len);

	if (err == EFBIG) {
		bad_key(key, "is larger than 1 MiB");
		return 0;
	}
	if (err)
		return err == ENOENT ? 0 : err;
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	free(buf);
	if (!json_is_object(doc)) {
		json_decref(doc);
		bad_key(key, "is not a JSON object");
		return 0;
	}
	for (size_t g = 0; g < 2 && !err; g++) {
		obj = json_object_get(doc, groups[g][0]);
		/* Only the groups the owner carries (old writers put empty ones elsewhere). */
		if (!json_is_object(obj) ||
		    !name_allowed(where, g == 0 ? "user.label.x" : "user.metric.x"))
			continue;
		json_object_foreach(obj, k, jv) {
			if (json_is_string(jv) && k[0] && strlen(k) < sizeof(name) - 12) {
				snprintf(name, sizeof(name), "%s%s", groups[g][1], k);
				if (name_allowed(where, name) &&
				    json_string_length(jv) <= FS_XATTR_MAX &&
				    fs_xattr_value_check(name, json_string_value(jv),
							 json_string_length(jv), &why) == 0) {
					err = pairs_add(out, name, json_string_value(jv),
							json_string_length(jv));
					if (err)
						break;
					continue;
				}
			}
			log_msg(LOG_WARNING, "store: %s: a %s entry is not a name and a valid "
				"value of at most 64 KiB; skipped", key, groups[g][0]);
		}
	}
	jv = json_object_get(doc, "kind");
	if (!err && jv && name_allowed(where, "user.artifs.kind")) {
		if (json_is_string(jv) &&
		    fs_xattr_value_check("user.artifs.kind", json_string_value(jv),
					 json_string_length(jv), &why) == 0)
			err = pairs_add(out, "user.artifs.kind", json_string_value(jv),
					json_string_length(jv));
		else
			log_msg(LOG_WARNING, "store: %s: kind is not one word; skipped", key);
	}
	json_decref(doc);
	return err;
}

/* Reads and checks one attribute object: EINVAL (logged) when it is bad, ENOENT when it
 * went meanwhile (a newer write deleted it). *val caller-frees. */
static int attr_read(struct fs *fs, const struct cand *c, int *removed, void **val,
		     size_t *len)
{
	char hash[17];
	const char *why = NULL;
	uint8_t *buf = NULL;
	size_t n;
	int err;

	if (bad_known(c->key))
		return EINVAL;
	err = be_get_all(fs->be, c->key, FS_XATTR_MAX + 1, (void **)&buf, &n);
	if (err == EFBIG) {
		bad_key(c->key, "is larger than a 64 KiB value");
		return EINVAL;
	}
	if (err)
		return err;
	if (n == 0 || (buf[0] != 'v' && buf[0] != 'x') || (buf[0] == 'x' && n != 1)) {
		free(buf);
		bad_key(c->key, "is not an attribute value ('v' and the value, or 'x')");
		return EINVAL;
	}
	content_hash(buf[0] == 'x', buf + 1, n - 1, hash);
	if (strcmp(hash, c->stamp + 21)) {
		free(buf);
		bad_key(c->key, "does not hash to the name it is stored under");
		return EINVAL;
	}
	if (buf[0] == 'v' && fs_xattr_value_check(c->name, (char *)buf + 1, n - 1, &why)) {
		free(buf);
		bad_key(c->key, "holds a value its attribute cannot have");
		return EINVAL;
	}
	*removed = buf[0] == 'x';
	*len = n - 1;
	memmove(buf, buf + 1, n - 1);
	*val = buf;
	return 0;
}

/* What to read from the store. */
struct plan_conf {
	int all_bases;         /* every listed base object (rebuild) */
	int owner_base;        /* the project's or artifact's base object */
	const uint64_t *fresh; /* and the base objects of these versions */
	size_t nfresh;
	struct meta *local;    /* compare with this index and skip what it has (refresh) */
};

static int want_base(const struct plan_conf *pc, const struct fs_attr_owner *o)
{
	if (pc->all_bases)
		return 1;
	if (o->where != FA_VERSION)
		return pc->owner_base;
	for (size_t i = 0; i < pc->nfresh; i++)
		if (pc->fresh[i] == o->n)
			return 1;
	return 0;
}

static int upd_add(struct plan_owner *po, const struct local *l, const char *name, int remove,
		   const void *val, size_t len)
{
	struct upd *nu, *u;
	char hash[17], here[17];

	if (l) {
		content_hash(remove, val, len, hash);
		local_hash(l, name, here);
		if (strcmp(hash, here) == 0)
			return 0; /* already so here */
	}
	nu = be_grow(po->u, po->nu, &po->cap, sizeof(*nu));
	if (!nu)
		return ENOMEM;
	po->u = nu;
	u = &nu[po->nu];
	memset(u, 0, sizeof(*u));
	u->name = strdup(name);
	u->val = malloc(len + 1);
	if (!u->name || !u->val) {
		free(u->name);
		free(u->val);
		return ENOMEM;
	}
	if (len)
		memcpy(u->val, val, len);
	u->len = len;
	u->remove = remove;
	if (l) {
		u->cas = 1;
		memcpy(u->seen, here, sizeof(u->seen));
	}
	po->nu++;
	return 0;
}

/*
 * The merge rule, for the objects of one owner (c[0..n), sorted by cand_cmp): per name, the
 * newest valid attribute object; for names without one, the base object's value (when it
 * is read); other local values stay. Only what differs from the local index (when l is
 * given) is fetched and planned.
 */
static int plan_owner(struct fs *fs, const struct cand *c, size_t n, const struct plan_conf *pc,
		      const struct local *l, struct plan_owner *po)
{
	struct pairs base = { 0 };
	size_t i = 0;
	int err = 0;

	if (n && !c[0].name) {
		if (want_base(pc, &c[0].o))
			err = base_read(fs, c[0].key, c[0].o.where, &base);
		i = 1;
	}
	/* Names with attribute objects. */
	while (i < n && !err) {
		size_t j = i, k;
		int decided = 0;

		while (j < n && strcmp(c[j].name, c[i].name) == 0)
			j++;
		for (k = i; k < j && !decided && !err; k++) {
			void *val = NULL;
			size_t len = 0;
			int removed = 0;
			char here[17];

			if (l) {
				local_hash(l, c[k].name, here);
				if (strcmp(c[k].stamp + 21, here) == 0) {
					decided = 1; /* what this host has: nothing to fetch */
					break;
				}
			}
			err = attr_read(fs, &c[k], &removed, &val, &len);
			if (err == EINVAL || err == ENOENT) {
				err = 0;
				continue; /* the next older object, if any, decides */
			}
			if (!err)
				err = upd_add(po, l, c[k].name, removed, val, len);
			free(val);
			decided = 1;
		}
		/* None readable: the base value, if any, as if there were no objects. */
		for (size_t b = 0; b < base.n && !decided && !err; b++)
			if (strcmp(base.name[b], c[i].name) == 0) {
				err = upd_add(po, l, base.name[b], 0, base.val[b], base.len[b]);
				base.name[b][0] = '\0'; /* done */
			}
		for (size_t b = 0; b < base.n && decided; b++)
			if (strcmp(base.name[b], c[i].name) == 0)
				base.name[b][0] = '\0'; /* overridden */
		i = j;
	}
	/* Base names without attribute objects. */
	for (size_t b = 0; b < base.n && !err; b++)
		if (base.name[b][0])
			err = upd_add(po, l, base.name[b], 0, base.val[b], base.len[b]);
	pairs_free(&base);
	return err;
}

static int plan_build(struct fs *fs, struct cands *c, const struct plan_conf *pc,
		      struct fs_attr_plan **out)
{
	struct fs_attr_plan *p = calloc(1, sizeof(*p));
	int err = 0;

	if (!p)
		return ENOMEM;
	if (c->n)
		qsort(c->v, c->n, sizeof(*c->v), cand_cmp);
	for (size_t i = 0; i < c->n && !err;) {
		struct local l = { 0 };
		struct plan_owner po = { .o = c->v[i].o };
		size_t j = i;

		while (j < c->n && owner_cmp(&c->v[j].o, &c->v[i].o) == 0)
			j++;
		if (pc->local)
			err = local_read(pc->local, &po.o, &l);
		/* An owner this host has not got (yet) is left for a later refresh. */
		if (!err && (!pc->local || l.present))
			err = plan_owner(fs, c->v + i, j - i, pc, pc->local ? &l : NULL, &po);
		local_free(&l);
		if (!err && po.nu) {
			struct plan_owner *nv = be_grow(p->v, p->n, &p->cap, sizeof(*nv));

			if (!nv)
				err = ENOMEM;
			else {
				p->v = nv;
				nv[p->n++] = po;
				po.u = NULL;
				po.nu = po.cap = 0;
			}
		}
		for (size_t k = 0; k < po.nu; k++) {
			free(po.u[k].name);
			free(po.u[k].val);
		}
		free(po.u);
		i = j;
	}
	if (err) {
		fs_attrs_plan_free(p);
		return err;
	}
	*out = p;
	return 0;
}

int fs_attrs_plan_apply(struct meta_txn *txn, const struct fs_attr_plan *p)
{
	int err = 0;

	for (size_t i = 0; p && i < p->n && !err; i++) {
		struct meta_inode in;

		if (owner_inode(txn, &p->v[i].o, &in))
			continue; /* gone meanwhile, or never made here (rebuild: a bad manifest) */
		for (size_t j = 0; j < p->v[i].nu && !err; j++) {
			const struct upd *u = &p->v[i].u[j];

			if (u->cas) {
				void *cur = NULL;
				size_t len = 0;
				char hash[17];
				int r = meta_xattr_get(txn, in.ino, u->name, &cur, &len);

				if (r && r != ENOENT) {
					err = r;
					break;
				}
				content_hash(r == ENOENT, cur, len, hash);
				free(cur);
				if (strcmp(hash, u->seen))
					continue; /* changed here meanwhile: the next refresh decides */
			}
			err = fs_attr_apply(txn, &in, u->name, u->val, u->len, u->remove);
		}
	}
	return err;
}

static int plan_apply_fn(struct meta_txn *txn, void *arg)
{
	return fs_attrs_plan_apply(txn, arg);
}

int fs_attrs_plan_store(struct fs *fs, char *const *keys, size_t n, struct fs_attr_plan **out)
{
	struct plan_conf pc = { .all_bases = 1 };
	struct cands c = { 0 };
	int err = 0;

	for (size_t i = 0; i < n && !err; i++)
		err = cands_add(&c, keys[i]);
	if (!err)
		err = plan_build(fs, &c, &pc, out);
	cands_free(&c);
	return err;
}

/* Lists prefix (and adds the extra key, may be NULL), plans against this index, applies. */
static int refresh_prefix(struct fs *fs, const char *prefix, const char *extra,
			  const struct plan_conf *pc)
{
	struct fs_attr_plan *p = NULL;
	struct cands c = { 0 };
	int err = be_list(fs->be, prefix, cands_list_fn, &c);

	if (!err && extra)
		err = cands_add(&c, extra);
	if (!err)
		err = plan_build(fs, &c, pc, &p);
	if (!err && p->n) {
		size_t n = 0;

		for (size_t i = 0; i < p->n; i++)
			n += p->v[i].nu;
		err = meta_write(fs->meta, plan_apply_fn, p);
		if (!err)
			log_msg(LOG_INFO, "refresh %s: %zu attribute(s) from the store", prefix, n);
	}
	fs_attrs_plan_free(p);
	cands_free(&c);
	return err;
}

int fs_attrs_refresh_artifact(struct fs *fs, const struct meta_artifact *a, int base,
			      const uint64_t *fresh, size_t nfresh)
{
	struct plan_conf pc = { .owner_base = base, .fresh = fresh, .nfresh = nfresh,
				.local = fs->meta };
	char prefix[BE_KEY_MAX];
	int err = be_key_meta(prefix, sizeof(prefix), a->project, a->name, NULL);

	return err ? err : refresh_prefix(fs, prefix, NULL, &pc);
}

/* When each project's attributes were last read (projects are few; kept for the session). */
static pthread_mutex_t proj_lock = PTHREAD_MUTEX_INITIALIZER;
static struct proj_seen {
	uint64_t ino;
	int64_t at;
	int based; /* project.json was read in this session */
	char name[META_PA_MAX + 1]; /* projects are never renamed */
} *projs;
static size_t nprojs, capprojs;

int fs_attrs_refresh_project(struct fs *fs, uint64_t pino, int force)
{
	struct plan_conf pc = { .local = fs->meta };
	struct meta_txn *txn;
	struct meta_inode in;
	struct fs_attr_owner o = { .where = FA_PROJECT };
	char prefix[BE_KEY_MAX], base[BE_KEY_MAX];
	int64_t now = fs_mono_ns();
	size_t i;
	int err = 0;

	if (fs->conf.refresh_ms == 0)
		return 0;
	pthread_mutex_lock(&proj_lock);
	for (i = 0; i < nprojs && projs[i].ino != pino; i++)
		;
	if (i == nprojs) {
		struct proj_seen *np = be_grow(projs, nprojs, &capprojs, sizeof(*np));

		if (!np) {
			pthread_mutex_unlock(&proj_lock);
			return ENOMEM;
		}
		projs = np;
		projs[nprojs++] = (struct proj_seen){ .ino = pino };
	}
	if (!force && projs[i].at && now - projs[i].at < (int64_t)fs->conf.refresh_ms * 1000000) {
		pthread_mutex_unlock(&proj_lock);
		return 0;
	}
	projs[i].at = now;
	pc.owner_base = !projs[i].based;
	memcpy(o.project, projs[i].name, sizeof(o.project));
	pthread_mutex_unlock(&proj_lock);

	if (!o.project[0]) {
		err = meta_txn_begin(fs->meta, 1, &txn);
		if (err)
			return err;
		err = meta_inode_get(txn, pino, &in);
		if (!err)
			err = in.kind == MK_PROJECT ? fs_attr_owner_of(txn, &in, &o) : EINVAL;
		meta_txn_abort(txn);
		if (err)
			return err;
		pthread_mutex_lock(&proj_lock);
		for (i = 0; i < nprojs; i++)
			if (projs[i].ino == pino)
				memcpy(projs[i].name, o.project, sizeof(o.project));
		pthread_mutex_unlock(&proj_lock);
	}
	err = be_key_meta(prefix, sizeof(prefix), o.project, NULL, "@attrs/");
	if (!err)
		err = fs_attr_marker_key(&o, base, sizeof(base));
	if (!err)
		err = refresh_prefix(fs, prefix, pc.owner_base ? base : NULL, &pc);
	if (err) {
		log_msg(LOG_WARNING, "refresh of project %s's attributes failed: %s", o.project,
			strerror(err));
		return err;
	}
	if (pc.owner_base) {
		pthread_mutex_lock(&proj_lock);
		for (i = 0; i < nprojs; i++)
			if (projs[i].ino == pino)
				projs[i].based = 1;
		pthread_mutex_unlock(&proj_lock);
	}
	return 0;
}


static int drop_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct fs *fs = arg;

	/* Not an error to stop for: what is left would only come back as old labels. */
	if (be_del(fs->be, key))
		log_msg(LOG_WARNING, "cannot delete %s from the store", key);
	return 0;
}

int fs_attrs_drop(struct fs *fs, const struct fs_attr_owner *o)
{
	char dir[1024];
	int err = owner_dir(o, dir, sizeof(dir));

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	return err ? err : be_list(fs->be, dir, drop_fn, fs);
}

int fs_mirror_meta(struct fs *fs, uint64_t ino)
{
	struct fs_attr_owner o;
	struct meta_txn *txn = NULL;
	struct meta_inode in;
	char key[600];
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_inode_get(txn, ino, &in);
	if (!err)
		err = in.kind == MK_PROJECT || in.kind == MK_ARTIFACT ? fs_attr_owner_of(txn, &in, &o)
								       : EINVAL;
	meta_txn_abort(txn);
	if (!err)
		err = fs_attr_marker_key(&o, key, sizeof(key));
	if (err)
		return err;
	/* An existing marker may be an older writer's whole object, with labels that are the
	 * base layer of its attributes: it is kept. */
	err = be_create(fs->be, key, "{}", 2);
	if (err == EEXIST)
		err = 0;
	if (err)
		log_msg(LOG_ERR, "cannot write %s to the store: %s", key, strerror(err));
	return err;
}

/* The newest stamp below a name's folder (keys of exactly <dir><stamp>). */
struct newest {
	size_t dlen;
	char stamp[STAMP_LEN + 1];
};

static int newest_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct newest *w = arg;
	const char *s = key + w->dlen;

	if (!stamp_parse(s, NULL) && strcmp(s, w->stamp) > 0)
		memcpy(w->stamp, s, STAMP_LEN + 1);
	return 0;
}

int fs_attr_fetch(struct fs *fs, const struct fs_attr_owner *o, const char *name, char *val,
		  size_t cap, size_t *len)
{
	char dir[KEY_MAX + 1], key[KEY_MAX + STAMP_LEN + 2];
	struct newest w = { 0 };
	void *buf = NULL;
	size_t n;
	int err = name_dir(o, name, dir, sizeof(dir));

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	if (err)
		return err;
	w.dlen = strlen(dir);
	err = be_list(fs->be, dir, newest_fn, &w);
	if (!err && !w.stamp[0])
		err = ENOENT;
	if (err)
		return err;
	snprintf(key, sizeof(key), "%s%s", dir, w.stamp);
	err = be_get_all(fs->be, key, cap + 1, &buf, &n);
	if (err == EFBIG)
		err = E2BIG;
	if (!err && (n < 1 || ((char *)buf)[0] != 'v'))
		err = ENOENT; /* a removal, or not one of ours */
	if (!err) {
		memcpy(val, (char *)buf + 1, n - 1);
		*len = n - 1;
	}
	free(buf);
	return err;
}
