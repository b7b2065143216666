/* SPDX-License-Identifier: MIT */
/*
 * Typed records over the DBIs of meta.c, so that key encodings live in one file (schema in
 * docs/meta.md). Values from mdb_get() die with the transaction, hence every getter copies
 * out; iterators hand out borrowed bytes for the duration of one callback only.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "meta_int.h"

#define CONF_NEXT_INO "next_ino"
#define FIRST_INO 16 /* below: reserved (1 is the root) */
#define XATTR_NAME_MAX 255
#define XATTR_VAL_MAX (64 * 1024)
#define LINK_MAX 4095

#define DBI(txn, d) ((txn)->m->dbi[d])

/* Room for an inode number and a name of up to 255 bytes. */
struct name_key {
	uint8_t b[8 + META_NAME_MAX];
	size_t len;
};

static void ino_key(uint8_t k[8], uint64_t ino)
{
	meta_be64_put(k, ino);
}

static int name_key_make(struct name_key *k, uint64_t ino, const char *name, int toolong)
{
	size_t n = strlen(name);

	if (!n)
		return EINVAL;
	if (n > META_NAME_MAX)
		return toolong;
	meta_be64_put(k->b, ino);
	memcpy(k->b + 8, name, n);
	k->len = 8 + n;
	return 0;
}

static int get(struct meta_txn *txn, enum meta_dbi d, void *key, size_t klen, MDB_val *v)
{
	MDB_val k = { klen, key };

	return meta_err(mdb_get(txn->txn, DBI(txn, d), &k, v), "get");
}

static int put(struct meta_txn *txn, enum meta_dbi d, void *key, size_t klen, const void *val,
	       size_t vlen)
{
	MDB_val k = { klen, key }, v = { vlen, (void *)val };

	return meta_err(mdb_put(txn->txn, DBI(txn, d), &k, &v, 0), "put");
}

static int del(struct meta_txn *txn, enum meta_dbi d, void *key, size_t klen)
{
	MDB_val k = { klen, key };

	return meta_err(mdb_del(txn->txn, DBI(txn, d), &k, NULL), "del");
}

/* Copies a fixed-size record out, refusing records of another size (a damaged index). */
static int get_rec(struct meta_txn *txn, enum meta_dbi d, void *key, size_t klen, void *out,
		   size_t size, const char *what)
{
	MDB_val v;
	int rc = get(txn, d, key, klen, &v);

	if (rc)
		return rc;
	if (v.mv_size != size) {
		log_msg(LOG_ERR, "meta: %s record of %zu bytes, expected %zu", what, v.mv_size,
			size);
		return EIO;
	}
	memcpy(out, v.mv_data, size);
	return 0;
}

static int cursor_open(struct meta_txn *txn, enum meta_dbi d, MDB_cursor **c)
{
	return meta_err(mdb_cursor_open(txn->txn, DBI(txn, d), c), "cursor");
}

/* Ends a cursor walk: MDB_NOTFOUND from a seek or step just means the range ended. */
static int walk_end(int rc)
{
	return rc == MDB_NOTFOUND ? 0 : meta_err(rc, "cursor");
}

/* ---- small settings of the index ---- */

int meta_conf_u64_get(struct meta_txn *txn, const char *name, uint64_t *out)
{
	MDB_val v;
	int rc = get(txn, DBI_CONF, (void *)name, strlen(name), &v);

	if (!rc && v.mv_size != 8)
		rc = ENOENT;
	if (!rc)
		*out = meta_be64_get(v.mv_data);
	return rc;
}

int meta_conf_u64_put(struct meta_txn *txn, const char *name, uint64_t val)
{
	uint8_t b[8];

	meta_be64_put(b, val);
	return put(txn, DBI_CONF, (void *)name, strlen(name), b, 8);
}

/* ---- inodes ---- */

int meta_ino_alloc(struct meta_txn *txn, uint64_t *ino)
{
	uint8_t next[8];
	uint64_t n = FIRST_INO;
	MDB_val v;
	int rc;

	rc = get(txn, DBI_CONF, CONF_NEXT_INO, sizeof(CONF_NEXT_INO) - 1, &v);
	if (rc && rc != ENOENT)
		return rc;
	if (!rc) {
		if (v.mv_size != 8) {
			log_msg(LOG_ERR, "meta: damaged inode counter");
			return EIO;
		}
		n = meta_be64_get(v.mv_data);
	}
	if (n < FIRST_INO || n == UINT64_MAX) {
		log_msg(LOG_ERR, "meta: inode counter out of range: %" PRIu64, n);
		return EIO;
	}
	meta_be64_put(next, n + 1);
	rc = put(txn, DBI_CONF, CONF_NEXT_INO, sizeof(CONF_NEXT_INO) - 1, next, 8);
	if (!rc)
		*ino = n;
	return rc;
}

int meta_inode_get(struct meta_txn *txn, uint64_t ino, struct meta_inode *out)
{
	uint8_t k[8];

	ino_key(k, ino);
	return get_rec(txn, DBI_INODES, k, 8, out, sizeof(*out), "inode");
}

int meta_inode_put(struct meta_txn *txn, const struct meta_inode *in)
{
	uint8_t k[8];

	ino_key(k, in->ino);
	return put(txn, DBI_INODES, k, 8, in, sizeof(*in));
}

/* Deletes every key of d that starts with the 8 bytes of ino (xattrs). */
static int del_prefix(struct meta_txn *txn, enum meta_dbi d, uint64_t ino)
{
	uint8_t k[8];
	MDB_val key = { 8, k }, v;
	MDB_cursor *c;
	int rc;

	ino_key(k, ino);
	rc = cursor_open(txn, d, &c);
	if (rc)
		return rc;
	for (;;) {
		/* Seek again after each delete rather than rely on where it left the cursor. */
		key.mv_size = 8;
		key.mv_data = k;
		rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
		if (rc || key.mv_size < 8 || memcmp(key.mv_data, k, 8))
			break;
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return walk_end(rc);
}

int meta_inode_del(struct meta_txn *txn, uint64_t ino)
{
	uint8_t k[8];
	int rc;

	ino_key(k, ino);
	rc = del(txn, DBI_INODES, k, 8);
	if (rc)
		return rc;
	rc = del(txn, DBI_LINKS, k, 8);
	if (rc && rc != ENOENT)
		return rc;
	rc = meta_chunks_del(txn, ino);
	if (rc)
		return rc;
	return del_prefix(txn, DBI_XATTRS, ino);
}

/* ---- symlinks ---- */

int meta_link_get(struct meta_txn *txn, uint64_t ino, char **target)
{
	uint8_t k[8];
	MDB_val v;
	char *s;
	int rc;

	*target = NULL;
	ino_key(k, ino);
	rc = get(txn, DBI_LINKS, k, 8, &v);
	if (rc)
		return rc;
	s = malloc(v.mv_size + 1);
	if (!s)
		return ENOMEM;
	memcpy(s, v.mv_data, v.mv_size);
	s[v.mv_size] = '\0';
	*target = s;
	return 0;
}

int meta_link_put(struct meta_txn *txn, uint64_t ino, const char *target)
{
	size_t n = strlen(target);
	uint8_t k[8];

	if (n > LINK_MAX)
		return ENAMETOOLONG;
	ino_key(k, ino);
	return put(txn, DBI_LINKS, k, 8, target, n);
}

/* ---- chunk lists ---- */

#define RUN_BYTES (PACK_NAME_LEN + 4 + 4)

/* A runs record as a chunk list, from the frames of the packs it names. */
static int runs_expand(struct meta_txn *txn, uint64_t ino, const MDB_val *v,
		       struct chunk_ref **refs, size_t *n)
{
	const uint8_t *p = v->mv_data;
	size_t nruns = v->mv_size / RUN_BYTES, total = 0, k = 0;

	if (v->mv_size % RUN_BYTES)
		goto bad;
	for (size_t r = 0; r < nruns; r++) {
		total += meta_be32_get(p + r * RUN_BYTES + PACK_NAME_LEN + 4);
		if (total > SIZE_MAX / sizeof(**refs) / 2)
			goto bad;
	}
	*refs = total ? malloc(total * sizeof(**refs)) : NULL;
	if (total && !*refs)
		return ENOMEM;
	for (size_t r = 0; r < nruns; r++, p += RUN_BYTES) {
		uint32_t count = meta_be32_get(p + PACK_NAME_LEN + 4);
		int rc = meta_pack_chunks(txn, p, NULL, meta_be32_get(p + PACK_NAME_LEN), count,
					  *refs + k);

		if (rc) {
			free(*refs);
			*refs = NULL;
			if (rc != ENOENT && rc != ERANGE)
				return rc;
			goto bad;
		}
		k += count;
	}
	*n = k;
	return 0;
bad:
	log_msg(LOG_ERR, "meta: the runs of inode %" PRIu64 " are damaged or name a pack not read in",
		ino);
	return EIO;
}

int meta_chunks_get(struct meta_txn *txn, uint64_t ino, struct chunk_ref **refs, size_t *n)
{
	uint8_t k[8];
	MDB_val v;
	int rc;

	*refs = NULL;
	*n = 0;
	ino_key(k, ino);
	rc = get(txn, DBI_RUNS, k, 8, &v);
	if (rc != ENOENT)
		return rc ? rc : runs_expand(txn, ino, &v, refs, n);
	rc = get(txn, DBI_CHUNKS, k, 8, &v);
	if (rc)
		return rc;
	if (v.mv_size % sizeof(struct chunk_ref)) {
		log_msg(LOG_ERR, "meta: chunk list of inode %" PRIu64 " has %zu bytes", ino,
			v.mv_size);
		return EIO;
	}
	if (!v.mv_size)
		return 0;
	*refs = malloc(v.mv_size);
	if (!*refs)
		return ENOMEM;
	memcpy(*refs, v.mv_data, v.mv_size);
	*n = v.mv_size / sizeof(struct chunk_ref);
	return 0;
}

/* Deletes the record of ino in table d, if any. */
static int del_if(struct meta_txn *txn, enum meta_dbi d, uint64_t ino)
{
	uint8_t k[8];
	int rc;

	ino_key(k, ino);
	rc = del(txn, d, k, 8);
	return rc == ENOENT ? 0 : rc;
}

int meta_chunks_put(struct meta_txn *txn, uint64_t ino, const struct chunk_ref *refs, size_t n)
{
	uint8_t k[8];
	int rc;

	if (n > SIZE_MAX / sizeof(*refs) / 2)
		return EFBIG;
	ino_key(k, ino);
	rc = put(txn, DBI_CHUNKS, k, 8, n ? (const void *)refs : "", n * sizeof(*refs));
	return rc ? rc : del_if(txn, DBI_RUNS, ino);
}

int meta_runs_put(struct meta_txn *txn, uint64_t ino, const struct manifest *m,
		  const struct manifest_entry *e)
{
	uint8_t k[8], *v = malloc(e->nruns * RUN_BYTES + 1), *p = v;
	int rc;

	if (!v)
		return ENOMEM;
	for (size_t r = 0; r < e->nruns; r++, p += RUN_BYTES) {
		if (e->runs[r].pack >= m->npacks) {
			free(v);
			return EINVAL;
		}
		memcpy(p, m->packs[e->runs[r].pack].name, PACK_NAME_LEN);
		meta_be32_put(p + PACK_NAME_LEN, e->runs[r].first);
		meta_be32_put(p + PACK_NAME_LEN + 4, e->runs[r].n);
	}
	ino_key(k, ino);
	rc = put(txn, DBI_RUNS, k, 8, v, e->nruns * RUN_BYTES);
	free(v);
	return rc ? rc : del_if(txn, DBI_CHUNKS, ino);
}

int meta_chunks_copy(struct meta_txn *txn, uint64_t from, uint64_t to)
{
	static const enum meta_dbi d[] = { DBI_RUNS, DBI_CHUNKS };
	uint8_t kf[8], kt[8];
	MDB_val v;
	int rc = ENOENT;

	ino_key(kf, from);
	ino_key(kt, to);
	for (int i = 0; i < 2 && rc == ENOENT; i++) {
		rc = get(txn, d[i], kf, 8, &v);
		if (!rc)
			rc = put(txn, d[i], kt, 8, v.mv_data, v.mv_size);
		if (!rc)
			rc = del_if(txn, d[1 - i], to);
	}
	return rc;
}

int meta_chunks_del(struct meta_txn *txn, uint64_t ino)
{
	int rc = del_if(txn, DBI_CHUNKS, ino);

	return rc ? rc : del_if(txn, DBI_RUNS, ino);
}

/* ---- directory entries ---- */

/* Value: child ino and type, host order, packed into 12 bytes. */
#define DIRENT_VAL 12

static int dirent_decode(const MDB_val *v, uint64_t *child, uint32_t *type)
{
	if (v->mv_size != DIRENT_VAL) {
		log_msg(LOG_ERR, "meta: dirent value of %zu bytes", v->mv_size);
		return EIO;
	}
	memcpy(child, v->mv_data, 8);
	memcpy(type, (const uint8_t *)v->mv_data + 8, 4);
	return 0;
}

int meta_dirent_get(struct meta_txn *txn, uint64_t parent, const char *name, uint64_t *child,
		    uint32_t *type)
{
	struct name_key k;
	uint64_t c;
	uint32_t t;
	MDB_val v;
	int rc;

	rc = name_key_make(&k, parent, name, ENAMETOOLONG);
	if (!rc)
		rc = get(txn, DBI_DIRENTS, k.b, k.len, &v);
	if (!rc)
		rc = dirent_decode(&v, &c, &t);
	if (rc)
		return rc;
	if (child)
		*child = c;
	if (type)
		*type = t;
	return 0;
}

int meta_dirent_put(struct meta_txn *txn, uint64_t parent, const char *name, uint64_t child,
		    uint32_t type)
{
	uint8_t val[DIRENT_VAL];
	struct name_key k;
	int rc;

	rc = name_key_make(&k, parent, name, ENAMETOOLONG);
	if (rc)
		return rc;
	memcpy(val, &child, 8);
	memcpy(val + 8, &type, 4);
	return put(txn, DBI_DIRENTS, k.b, k.len, val, sizeof(val));
}

int meta_dirent_del(struct meta_txn *txn, uint64_t parent, const char *name)
{
	struct name_key k;
	int rc;

	rc = name_key_make(&k, parent, name, ENAMETOOLONG);
	if (rc)
		return rc;
	return del(txn, DBI_DIRENTS, k.b, k.len);
}

int meta_dirent_iter(struct meta_txn *txn, uint64_t parent, const char *after,
		     meta_dirent_fn *fn, void *arg)
{
	struct name_key k = { .len = 8 };
	MDB_val key, v;
	MDB_cursor *c;
	uint64_t child;
	uint32_t type;
	int rc;

	meta_be64_put(k.b, parent);
	if (after && *after) {
		rc = name_key_make(&k, parent, after, ENAMETOOLONG);
		if (rc)
			return rc;
	}
	rc = cursor_open(txn, DBI_DIRENTS, &c);
	if (rc)
		return rc;
	key.mv_size = k.len;
	key.mv_data = k.b;
	rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
	if (!rc && k.len > 8 && key.mv_size == k.len && !memcmp(key.mv_data, k.b, k.len))
		rc = mdb_cursor_get(c, &key, &v, MDB_NEXT);
	for (; !rc; rc = mdb_cursor_get(c, &key, &v, MDB_NEXT)) {
		if (key.mv_size <= 8 || memcmp(key.mv_data, k.b, 8))
			break;
		rc = dirent_decode(&v, &child, &type);
		if (rc)
			goto out;
		rc = fn(arg, (const char *)key.mv_data + 8, key.mv_size - 8, child, type);
		if (rc) {
			if (rc == META_ITER_STOP)
				rc = 0;
			goto out;
		}
	}
	rc = walk_end(rc);
out:
	mdb_cursor_close(c);
	return rc;
}

int meta_dir_empty(struct meta_txn *txn, uint64_t parent, int *empty)
{
	uint8_t k[8];
	MDB_val key = { 8, k }, v;
	MDB_cursor *c;
	int rc;

	ino_key(k, parent);
	rc = cursor_open(txn, DBI_DIRENTS, &c);
	if (rc)
		return rc;
	rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND) {
		*empty = 1;
		return 0;
	}
	if (rc)
		return meta_err(rc, "cursor");
	*empty = !(key.mv_size > 8 && !memcmp(key.mv_data, k, 8));
	return 0;
}

/* ---- extended attributes ---- */

int meta_xattr_get(struct meta_txn *txn, uint64_t ino, const char *name, void **val,
		   size_t *len)
{
	struct name_key k;
	MDB_val v;
	int rc;

	*val = NULL;
	*len = 0;
	rc = name_key_make(&k, ino, name, ERANGE);
	if (!rc)
		rc = get(txn, DBI_XATTRS, k.b, k.len, &v);
	if (rc)
		return rc;
	if (v.mv_size) {
		*val = malloc(v.mv_size);
		if (!*val)
			return ENOMEM;
		memcpy(*val, v.mv_data, v.mv_size);
	}
	*len = v.mv_size;
	return 0;
}

int meta_xattr_put(struct meta_txn *txn, uint64_t ino, const char *name, const void *val,
		   size_t len)
{
	struct name_key k;
	int rc;

	if (len > XATTR_VAL_MAX)
		return E2BIG;
	rc = name_key_make(&k, ino, name, ERANGE);
	if (rc)
		return rc;
	return put(txn, DBI_XATTRS, k.b, k.len, len ? val : "", len);
}

int meta_xattr_del(struct meta_txn *txn, uint64_t ino, const char *name)
{
	struct name_key k;
	int rc;

	rc = name_key_make(&k, ino, name, ERANGE);
	if (rc)
		return rc;
	return del(txn, DBI_XATTRS, k.b, k.len);
}

int meta_xattr_iter(struct meta_txn *txn, uint64_t ino, meta_xattr_fn *fn, void *arg)
{
	char name[XATTR_NAME_MAX + 1];
	uint8_t k[8];
	MDB_val key = { 8, k }, v;
	MDB_cursor *c;
	size_t n;
	int rc;

	ino_key(k, ino);
	rc = cursor_open(txn, DBI_XATTRS, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(c, &key, &v, MDB_NEXT)) {
		if (key.mv_size <= 8 || memcmp(key.mv_data, k, 8))
			break;
		n = key.mv_size - 8;
		if (n > XATTR_NAME_MAX) {
			log_msg(LOG_ERR, "meta: xattr name of %zu bytes on inode %" PRIu64, n, ino);
			rc = EIO;
			goto out;
		}
		memcpy(name, (const char *)key.mv_data + 8, n);
		name[n] = '\0';
		rc = fn(arg, name, v.mv_data, v.mv_size);
		if (rc) {
			if (rc == META_ITER_STOP)
				rc = 0;
			goto out;
		}
	}
	rc = walk_end(rc);
out:
	mdb_cursor_close(c);
	return rc;
}

/* ---- artifacts ---- */

int meta_artifact_get(struct meta_txn *txn, uint64_t ino, struct meta_artifact *out)
{
	uint8_t k[8];

	ino_key(k, ino);
	return get_rec(txn, DBI_ARTIFACTS, k, 8, out, sizeof(*out), "artifact");
}

int meta_artifact_put(struct meta_txn *txn, const struct meta_artifact *a)
{
	uint8_t k[8];

	ino_key(k, a->ino);
	return put(txn, DBI_ARTIFACTS, k, 8, a, sizeof(*a));
}

int meta_artifact_draft_mark(struct meta_txn *txn, uint64_t ino)
{
	struct meta_artifact a;
	int err = meta_artifact_get(txn, ino, &a);

	if (err)
		return err;
	a.draft = a.draft == UINT32_MAX ? 1 : a.draft + 1;
	return meta_artifact_put(txn, &a);
}

/* Also drops the artifact's version records: meta.h has no other way to delete them. */
int meta_artifact_del(struct meta_txn *txn, uint64_t ino)
{
	uint8_t k[8];
	int rc;

	ino_key(k, ino);
	rc = del(txn, DBI_ARTIFACTS, k, 8);
	if (rc)
		return rc;
	return del_prefix(txn, DBI_VERSIONS, ino);
}

int meta_artifact_iter(struct meta_txn *txn, meta_artifact_fn *fn, void *arg)
{
	struct meta_artifact rec;
	MDB_val key, v;
	MDB_cursor *c;
	int rc;

	rc = cursor_open(txn, DBI_ARTIFACTS, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &key, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(c, &key, &v, MDB_NEXT)) {
		if (v.mv_size != sizeof(rec)) {
			log_msg(LOG_ERR, "meta: artifact record of %zu bytes", v.mv_size);
			rc = EIO;
			goto out;
		}
		memcpy(&rec, v.mv_data, sizeof(rec));
		rc = fn(arg, &rec);
		if (rc) {
			if (rc == META_ITER_STOP)
				rc = 0;
			goto out;
		}
	}
	rc = walk_end(rc);
out:
	mdb_cursor_close(c);
	return rc;
}

/* ---- versions ---- */

static void version_key(uint8_t k[16], uint64_t artifact, uint64_t n)
{
	meta_be64_put(k, artifact);
	meta_be64_put(k + 8, n);
}

int meta_version_get(struct meta_txn *txn, uint64_t artifact, uint64_t n,
		     struct meta_version *out)
{
	uint8_t k[16];

	version_key(k, artifact, n);
	return get_rec(txn, DBI_VERSIONS, k, 16, out, sizeof(*out), "version");
}

int meta_version_put(struct meta_txn *txn, const struct meta_version *v)
{
	uint8_t k[16];

	version_key(k, v->artifact, v->n);
	return put(txn, DBI_VERSIONS, k, 16, v, sizeof(*v));
}

int meta_version_del(struct meta_txn *txn, uint64_t artifact, uint64_t n)
{
	uint8_t k[16];

	version_key(k, artifact, n);
	return del(txn, DBI_VERSIONS, k, 16);
}

int meta_version_iter(struct meta_txn *txn, uint64_t artifact, meta_version_fn *fn, void *arg)
{
	struct meta_version rec;
	uint8_t k[16];
	MDB_val key = { 16, k }, v;
	MDB_cursor *c;
	int rc;

	version_key(k, artifact, UINT64_MAX);
	rc = cursor_open(txn, DBI_VERSIONS, &c);
	if (rc)
		return rc;
	/* Land on the artifact's last key: the end of its range, or the key just before it. */
	rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &key, &v, MDB_LAST);
	else if (!rc && (key.mv_size != 16 || memcmp(key.mv_data, k, 16)))
		rc = mdb_cursor_get(c, &key, &v, MDB_PREV);
	for (; !rc; rc = mdb_cursor_get(c, &key, &v, MDB_PREV)) {
		if (key.mv_size != 16 || memcmp(key.mv_data, k, 8))
			break;
		if (v.mv_size != sizeof(rec)) {
			log_msg(LOG_ERR, "meta: version record of %zu bytes", v.mv_size);
			rc = EIO;
			goto out;
		}
		memcpy(&rec, v.mv_data, sizeof(rec));
		rc = fn(arg, &rec);
		if (rc) {
			if (rc == META_ITER_STOP)
				rc = 0;
			goto out;
		}
	}
	rc = walk_end(rc);
out:
	mdb_cursor_close(c);
	return rc;
}

/* ---- removed versions and artifacts ---- */

/* What an artifact's removal record holds (key: artifact, 0). */
struct art_removed {
	uint64_t through;
	int64_t when;
};

int meta_removed_get(struct meta_txn *txn, uint64_t artifact, uint64_t n,
		     struct meta_removed *out)
{
	uint8_t k[16];

	if (!n)
		return EINVAL;
	version_key(k, artifact, n);
	return get_rec(txn, DBI_REMOVED, k, 16, out, sizeof(*out), "removed version");
}

int meta_removed_put(struct meta_txn *txn, const struct meta_removed *r)
{
	uint8_t k[16];

	if (!r->v.n)
		return EINVAL;
	version_key(k, r->v.artifact, r->v.n);
	return put(txn, DBI_REMOVED, k, 16, r, sizeof(*r));
}

int meta_removed_del(struct meta_txn *txn, uint64_t artifact, uint64_t n)
{
	uint8_t k[16];

	version_key(k, artifact, n);
	return del(txn, DBI_REMOVED, k, 16);
}

int meta_removed_iter(struct meta_txn *txn, uint64_t artifact, meta_removed_fn *fn, void *arg)
{
	struct meta_removed rec;
	uint8_t k[16];
	MDB_val key = { 16, k }, v;
	MDB_cursor *c;
	int rc;

	version_key(k, artifact, 1);
	rc = cursor_open(txn, DBI_REMOVED, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(c, &key, &v, MDB_NEXT)) {
		if (key.mv_size != 16 || meta_be64_get(key.mv_data) != artifact)
			break;
		if (v.mv_size != sizeof(rec)) {
			log_msg(LOG_ERR, "meta: removed version record of %zu bytes", v.mv_size);
			rc = EIO;
			goto out;
		}
		memcpy(&rec, v.mv_data, sizeof(rec));
		rc = fn(arg, &rec);
		if (rc) {
			if (rc == META_ITER_STOP)
				rc = 0;
			goto out;
		}
	}
	rc = walk_end(rc);
out:
	mdb_cursor_close(c);
	return rc;
}

int meta_removed_none(struct meta_txn *txn)
{
	MDB_stat st;

	return mdb_stat(txn->txn, DBI(txn, DBI_REMOVED), &st) == 0 && st.ms_entries == 0;
}

int meta_art_removed_get(struct meta_txn *txn, uint64_t artifact, uint64_t *through,
			 int64_t *when)
{
	struct art_removed r;
	uint8_t k[16];
	int rc;

	version_key(k, artifact, 0);
	rc = get_rec(txn, DBI_REMOVED, k, 16, &r, sizeof(r), "removed artifact");
	if (rc)
		return rc;
	*through = r.through;
	if (when)
		*when = r.when;
	return 0;
}

int meta_art_removed_put(struct meta_txn *txn, uint64_t artifact, uint64_t through,
			 int64_t when)
{
	struct art_removed r = { through, when };
	uint8_t k[16];

	version_key(k, artifact, 0);
	return put(txn, DBI_REMOVED, k, 16, &r, sizeof(r));
}

int meta_art_removed_del(struct meta_txn *txn, uint64_t artifact)
{
	uint8_t k[16];

	version_key(k, artifact, 0);
	return del(txn, DBI_REMOVED, k, 16);
}

/* ---- lineage ---- */

static void lineage_key(uint8_t k[32], const struct meta_vref *a, const struct meta_vref *b)
{
	meta_be64_put(k, a->artifact);
	meta_be64_put(k + 8, a->n);
	meta_be64_put(k + 16, b->artifact);
	meta_be64_put(k + 24, b->n);
}

int meta_lineage_put(struct meta_txn *txn, const struct meta_vref *out,
		     const struct meta_vref *in, uint32_t how)
{
	uint8_t k[32];
	uint32_t old = 0;
	MDB_val v;
	int rc;

	lineage_key(k, out, in);
	rc = get(txn, DBI_LINEAGE_UP, k, sizeof(k), &v);
	if (!rc && v.mv_size == sizeof(old))
		memcpy(&old, v.mv_data, sizeof(old));
	else if (rc && rc != ENOENT)
		return rc;
	how |= old;
	rc = put(txn, DBI_LINEAGE_UP, k, sizeof(k), &how, sizeof(how));
	if (rc)
		return rc;
	lineage_key(k, in, out);
	return put(txn, DBI_LINEAGE_DOWN, k, sizeof(k), &how, sizeof(how));
}

/* Whether version v is removed (its record moved to the removed table). */
static int removed(struct meta_txn *txn, const struct meta_vref *v)
{
	uint8_t k[16];
	MDB_val val;

	version_key(k, v->artifact, v->n);
	return get(txn, DBI_VERSIONS, k, 16, &val) == ENOENT;
}

int meta_lineage_iter(struct meta_txn *txn, const struct meta_vref *vr, int down,
		      meta_lineage_fn *fn, void *arg)
{
	uint8_t k[16];
	MDB_val key = { 16, k }, v;
	MDB_cursor *c;
	int rc;

	meta_be64_put(k, vr->artifact);
	meta_be64_put(k + 8, vr->n);
	rc = cursor_open(txn, down ? DBI_LINEAGE_DOWN : DBI_LINEAGE_UP, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(c, &key, &v, MDB_NEXT)) {
		struct meta_vref other;
		uint32_t how = 0;

		if (key.mv_size != 32 || memcmp(key.mv_data, k, 16))
			break;
		other.artifact = meta_be64_get((uint8_t *)key.mv_data + 16);
		other.n = meta_be64_get((uint8_t *)key.mv_data + 24);
		if (removed(txn, &other))
			continue; /* its edges come back with it (lifecycle.md) */
		if (v.mv_size == sizeof(how))
			memcpy(&how, v.mv_data, sizeof(how));
		rc = fn(arg, &other, how);
		if (rc) {
			if (rc == META_ITER_STOP)
				rc = 0;
			goto out;
		}
	}
	rc = walk_end(rc);
out:
	mdb_cursor_close(c);
	return rc;
}

/* ---- label and metric indexes ---- */

#define IDX_NAME_MAX 400 /* keeps every index key under LMDB's 511-byte limit */

/* name, a NUL, then fixed-width fields: one contiguous key range per name. */
static int idx_prefix(uint8_t *k, const char *name, size_t *len)
{
	size_t n = strlen(name);

	if (n == 0 || n > IDX_NAME_MAX)
		return ENAMETOOLONG;
	memcpy(k, name, n);
	k[n] = 0;
	*len = n + 1;
	return 0;
}

static void value_hash(const void *val, size_t len, uint8_t out[16])
{
	uint8_t full[32];
	unsigned int n;

	/* Label values may be up to 64 KiB; the key holds a hash so equality is one seek. */
	EVP_Digest(val, len, full, &n, EVP_sha256(), NULL);
	memcpy(out, full, 16);
}

int meta_label_index(struct meta_txn *txn, const char *key, const void *val, size_t len,
		     const struct meta_vref *v, int add)
{
	uint8_t k[IDX_NAME_MAX + 1 + 16 + 16];
	size_t n;
	int rc = idx_prefix(k, key, &n);

	if (rc)
		return rc;
	value_hash(val, len, k + n);
	meta_be64_put(k + n + 16, v->artifact);
	meta_be64_put(k + n + 24, v->n);
	if (add)
		return put(txn, DBI_LABEL_IDX, k, n + 32, "", 0);
	rc = del(txn, DBI_LABEL_IDX, k, n + 32);
	return rc == ENOENT ? 0 : rc;
}

int meta_label_find(struct meta_txn *txn, const char *key, const void *val, size_t len,
		    meta_vref_fn *fn, void *arg)
{
	uint8_t k[IDX_NAME_MAX + 1 + 16];
	MDB_val mk, v;
	MDB_cursor *c;
	size_t n;
	int rc = idx_prefix(k, key, &n);

	if (rc)
		return rc;
	value_hash(val, len, k + n);
	n += 16;
	rc = cursor_open(txn, DBI_LABEL_IDX, &c);
	if (rc)
		return rc;
	mk.mv_size = n;
	mk.mv_data = k;
	for (rc = mdb_cursor_get(c, &mk, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(c, &mk, &v, MDB_NEXT)) {
		struct meta_vref r;

		if (mk.mv_size != n + 16 || memcmp(mk.mv_data, k, n))
			break;
		r.artifact = meta_be64_get((uint8_t *)mk.mv_data + n);
		r.n = meta_be64_get((uint8_t *)mk.mv_data + n + 8);
		rc = fn(arg, &r);
		if (rc) {
			if (rc == META_ITER_STOP)
				rc = 0;
			goto out;
		}
	}
	rc = walk_end(rc);
out:
	mdb_cursor_close(c);
	return rc;
}

/* Doubles as big-endian bytes that sort like the numbers: flip the sign bit of positives,
 * every bit of negatives. */
static void ordered_double(uint8_t out[8], double d)
{
	uint64_t b;

	if (d == 0)
		d = 0; /* -0 sorts with +0 */
	memcpy(&b, &d, sizeof(b));
	b = (b >> 63) ? ~b : b ^ (1ULL << 63);
	meta_be64_put(out, b);
}

static double ordered_double_get(const uint8_t *p)
{
	uint64_t b = meta_be64_get(p);
	double d;

	b = (b >> 63) ? b ^ (1ULL << 63) : ~b;
	memcpy(&d, &b, sizeof(d));
	return d;
}

int meta_metric_index(struct meta_txn *txn, const char *name, double value,
		      const struct meta_vref *v, int add)
{
	uint8_t k[IDX_NAME_MAX + 1 + 24];
	size_t n;
	int rc = idx_prefix(k, name, &n);

	if (rc)
		return rc;
	if (isnan(value))
		return EINVAL;
	ordered_double(k + n, value);
	meta_be64_put(k + n + 8, v->artifact);
	meta_be64_put(k + n + 16, v->n);
	if (add)
		return put(txn, DBI_METRIC_IDX, k, n + 24, "", 0);
	rc = del(txn, DBI_METRIC_IDX, k, n + 24);
	return rc == ENOENT ? 0 : rc;
}

int meta_metric_range(struct meta_txn *txn, const char *name, double lo, int lo_incl,
		      double hi, int hi_incl, meta_metric_fn *fn, void *arg)
{
	uint8_t k[IDX_NAME_MAX + 1 + 8];
	MDB_val mk, v;
	MDB_cursor *c;
	size_t n;
	int rc = idx_prefix(k, name, &n);

	if (rc)
		return rc;
	ordered_double(k + n, lo);
	rc = cursor_open(txn, DBI_METRIC_IDX, &c);
	if (rc)
		return rc;
	mk.mv_size = n + 8;
	mk.mv_data = k;
	for (rc = mdb_cursor_get(c, &mk, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(c, &mk, &v, MDB_NEXT)) {
		const uint8_t *p = mk.mv_data;
		struct meta_vref r;
		double d;

		if (mk.mv_size != n + 24 || memcmp(p, k, n))
			break;
		d = ordered_double_get(p + n);
		if (d > hi || (d == hi && !hi_incl))
			break;
		if (d == lo && !lo_incl)
			continue;
		r.artifact = meta_be64_get(p + n + 8);
		r.n = meta_be64_get(p + n + 16);
		rc = fn(arg, &r, d);
		if (rc) {
			if (rc == META_ITER_STOP)
				rc = 0;
			goto out;
		}
	}
	rc = walk_end(rc);
out:
	mdb_cursor_close(c);
	return rc;
}

/* ---- chunks known good ---- */

int meta_chunk_known(struct meta_txn *txn, const uint8_t id[CHUNK_ID_LEN])
{
	MDB_val v;

	return get(txn, DBI_CHUNK_OK, (void *)id, CHUNK_ID_LEN, &v);
}

int meta_chunk_mark(struct meta_txn *txn, const uint8_t id[CHUNK_ID_LEN])
{
	return put(txn, DBI_CHUNK_OK, (void *)id, CHUNK_ID_LEN, "", 0);
}

/* ---- where chunks lie in packs (store format 2) ----
 *
 * packs:    pack name (16) -> index digest (32), pack number (4), then per frame in index
 *           order its chunk name (32), plain length, offset and frame length (4 each)
 * pack_no:  pack number (4) -> pack name (16)
 * chunk_at: the first 16 bytes of a chunk name -> pack number (4), frame (4), own (1)
 *
 * A location is found by a 16-byte prefix and checked against the whole name in the pack's
 * frame, so a chunk that shares a prefix with another is at worst not located (a duplicate
 * stored, or an EIO read), never taken for the other. */

#define AT_KEY 16
#define AT_BYTES 9
#define PACK_HDR (CHUNK_ID_LEN + 4)

static int pack_record(const MDB_val *v, struct meta_pack *out, uint32_t *no)
{
	if (v->mv_size < PACK_HDR || (v->mv_size - PACK_HDR) % META_FRAME_BYTES)
		return ENOENT;
	out->digest = v->mv_data;
	out->frames = (const uint8_t *)v->mv_data + PACK_HDR;
	out->n = (v->mv_size - PACK_HDR) / META_FRAME_BYTES;
	if (no)
		*no = meta_be32_get(out->digest + CHUNK_ID_LEN);
	return 0;
}

int meta_pack_get(struct meta_txn *txn, const uint8_t name[PACK_NAME_LEN], struct meta_pack *out)
{
	MDB_val v;
	int rc = get(txn, DBI_PACKS, (void *)name, PACK_NAME_LEN, &v);

	return rc ? rc : pack_record(&v, out, NULL);
}

int meta_chunk_loc_get(struct meta_txn *txn, const uint8_t id[CHUNK_ID_LEN],
		       struct pack_loc *loc)
{
	struct meta_pack mp;
	const uint8_t *p, *f;
	uint32_t frame;
	MDB_val v;
	int rc = get(txn, DBI_CHUNK_AT, (void *)id, AT_KEY, &v);

	if (rc)
		return rc;
	if (v.mv_size != AT_BYTES)
		return ENOENT;
	p = v.mv_data;
	frame = meta_be32_get(p + 4);
	loc->own = p[8] == 1;
	rc = get(txn, DBI_PACK_NO, (void *)p, 4, &v);
	if (rc)
		return rc;
	if (v.mv_size != PACK_NAME_LEN)
		return ENOENT;
	memcpy(loc->pack, v.mv_data, PACK_NAME_LEN);
	rc = meta_pack_get(txn, loc->pack, &mp);
	if (rc)
		return rc;
	if (frame >= mp.n)
		return ENOENT;
	f = mp.frames + (size_t)frame * META_FRAME_BYTES;
	loc->off = meta_be32_get(f + CHUNK_ID_LEN + 4);
	loc->flen = meta_be32_get(f + CHUNK_ID_LEN + 8);
	loc->frame = frame;
	/* Another chunk of the same prefix, or a frame whose place is unknown (schema 1). */
	if (memcmp(f, id, CHUNK_ID_LEN) || !loc->flen)
		return ENOENT;
	return 0;
}

/* Records that chunk id lies in frame of pack number no; unless own, a chunk that has a
 * location keeps it. */
static int chunk_at_put(struct meta_txn *txn, const uint8_t id[CHUNK_ID_LEN], uint32_t no,
			uint32_t frame, int own)
{
	uint8_t v[AT_BYTES];
	MDB_val old;

	if (!own && get(txn, DBI_CHUNK_AT, (void *)id, AT_KEY, &old) == 0 &&
	    old.mv_size == AT_BYTES)
		return 0;
	meta_be32_put(v, no);
	meta_be32_put(v + 4, frame);
	v[8] = own ? 1 : 0;
	return put(txn, DBI_CHUNK_AT, (void *)id, AT_KEY, v, AT_BYTES);
}

/* The number of pack name: the one it has, else the next free one, recorded in pack_no. */
static int pack_number(struct meta_txn *txn, const uint8_t name[PACK_NAME_LEN], uint32_t *no)
{
	struct meta_pack mp;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t key[4];
	int rc = get(txn, DBI_PACKS, (void *)name, PACK_NAME_LEN, &v);

	if (!rc && pack_record(&v, &mp, no) == 0)
		return 0;
	if (rc && rc != ENOENT)
		return rc;
	rc = cursor_open(txn, DBI_PACK_NO, &c);
	if (rc)
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	*no = 1;
	if (rc == 0 && k.mv_size == 4)
		*no = meta_be32_get(k.mv_data) + 1;
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return meta_err(rc, "cursor");
	if (*no == 0)
		return EOVERFLOW; /* 2^32 packs read in */
	meta_be32_put(key, *no);
	return put(txn, DBI_PACK_NO, key, 4, name, PACK_NAME_LEN);
}

int meta_pack_chunks(struct meta_txn *txn, const uint8_t name[PACK_NAME_LEN],
		     const uint8_t *digest, uint32_t first, uint32_t n, struct chunk_ref *out)
{
	struct meta_pack mp;
	int rc = meta_pack_get(txn, name, &mp);

	if (rc)
		return rc;
	if (digest && memcmp(mp.digest, digest, CHUNK_ID_LEN))
		return ESTALE;
	if (first > mp.n || n > mp.n - first)
		return ERANGE;
	for (const uint8_t *f = mp.frames + (size_t)first * META_FRAME_BYTES; n--;
	     f += META_FRAME_BYTES, out++) {
		memcpy(out->id, f, CHUNK_ID_LEN);
		out->len = meta_be32_get(f + CHUNK_ID_LEN);
	}
	return 0;
}

int meta_pack_read_in(struct meta_txn *txn, const struct pack_index *ix, int own)
{
	size_t vlen = PACK_HDR + ix->n * META_FRAME_BYTES;
	uint8_t *v, *f;
	uint32_t no;
	int err = pack_number(txn, ix->name, &no);

	if (err)
		return err;
	v = malloc(vlen);
	if (!v)
		return ENOMEM;
	memcpy(v, ix->digest, CHUNK_ID_LEN);
	meta_be32_put(v + CHUNK_ID_LEN, no);
	f = v + PACK_HDR;
	for (size_t i = 0; i < ix->n && !err; i++, f += META_FRAME_BYTES) {
		/* pack_index_decode() keeps every frame inside a pack of PACK_SIZE_MAX */
		if (ix->v[i].off > UINT32_MAX)
			err = EINVAL;
		memcpy(f, ix->v[i].id, CHUNK_ID_LEN);
		meta_be32_put(f + CHUNK_ID_LEN, ix->v[i].len);
		meta_be32_put(f + CHUNK_ID_LEN + 4, (uint32_t)ix->v[i].off);
		meta_be32_put(f + CHUNK_ID_LEN + 8, ix->v[i].flen);
	}
	if (!err)
		err = put(txn, DBI_PACKS, (void *)ix->name, PACK_NAME_LEN, v, vlen);
	free(v);
	for (size_t i = 0; i < ix->n && !err; i++)
		err = chunk_at_put(txn, ix->v[i].id, no, (uint32_t)i, own);
	return err;
}

int meta_pack_forget(struct meta_txn *txn, const uint8_t name[PACK_NAME_LEN])
{
	struct meta_pack mp;
	uint8_t *frames;
	uint32_t no;
	MDB_val v;
	int rc = get(txn, DBI_PACKS, (void *)name, PACK_NAME_LEN, &v);

	if (rc == ENOENT)
		return 0;
	if (!rc)
		rc = pack_record(&v, &mp, &no);
	if (rc == ENOENT) /* a damaged record: only the record goes */
		return del(txn, DBI_PACKS, (void *)name, PACK_NAME_LEN);
	if (rc)
		return rc;
	/* Values read are valid only until the transaction's next write: a copy. */
	frames = malloc(mp.n * META_FRAME_BYTES + 1);
	if (!frames)
		return ENOMEM;
	memcpy(frames, mp.frames, mp.n * META_FRAME_BYTES);
	for (size_t i = 0; i < mp.n && !rc; i++) {
		uint8_t *f = frames + i * META_FRAME_BYTES;
		MDB_val at;

		if (get(txn, DBI_CHUNK_AT, f, AT_KEY, &at) == 0 && at.mv_size == AT_BYTES &&
		    meta_be32_get(at.mv_data) == no)
			rc = del(txn, DBI_CHUNK_AT, f, AT_KEY);
	}
	free(frames);
	return rc ? rc : del(txn, DBI_PACKS, (void *)name, PACK_NAME_LEN);
}

/* ---- schema 1 to 2 ---- */

#define OLD_FRAME (CHUNK_ID_LEN + 4)
#define OLD_LOC (PACK_NAME_LEN + 8 + 4 + 4 + 1)

/* One pack record of schema 1 (digest, frames of name and length) in the shape of 2: the
 * place of each frame from the old chunk_loc where it names this frame, else unknown (0). */
static int upgrade_pack(struct meta_txn *txn, MDB_dbi old_loc, const uint8_t *name,
			const MDB_val *old, uint32_t no)
{
	size_t n = (old->mv_size - CHUNK_ID_LEN) / OLD_FRAME;
	size_t vlen = PACK_HDR + n * META_FRAME_BYTES;
	uint8_t *v = malloc(vlen), *f;
	const uint8_t *of = (const uint8_t *)old->mv_data + CHUNK_ID_LEN;
	uint8_t key[4];
	int err = 0;

	if (!v)
		return ENOMEM;
	memcpy(v, old->mv_data, CHUNK_ID_LEN);
	meta_be32_put(v + CHUNK_ID_LEN, no);
	f = v + PACK_HDR;
	for (size_t i = 0; i < n; i++, f += META_FRAME_BYTES, of += OLD_FRAME) {
		MDB_val k = { CHUNK_ID_LEN, (void *)of }, l;
		const uint8_t *p;
		uint32_t off = 0, flen = 0;

		memcpy(f, of, OLD_FRAME);
		if (mdb_get(txn->txn, old_loc, &k, &l) == 0 && l.mv_size == OLD_LOC &&
		    (p = l.mv_data, !memcmp(p, name, PACK_NAME_LEN)) &&
		    meta_be32_get(p + PACK_NAME_LEN + 12) == i &&
		    meta_be64_get(p + PACK_NAME_LEN) <= UINT32_MAX) {
			off = (uint32_t)meta_be64_get(p + PACK_NAME_LEN);
			flen = meta_be32_get(p + PACK_NAME_LEN + 8);
		}
		meta_be32_put(f + CHUNK_ID_LEN + 4, off);
		meta_be32_put(f + CHUNK_ID_LEN + 8, flen);
	}
	meta_be32_put(key, no);
	err = put(txn, DBI_PACK_NO, key, 4, name, PACK_NAME_LEN);
	if (!err)
		err = put(txn, DBI_PACKS, (void *)name, PACK_NAME_LEN, v, vlen);
	free(v);
	return err;
}

int meta_upgrade_packs(struct meta_txn *txn, MDB_dbi old_loc)
{
	uint8_t (*names)[PACK_NAME_LEN] = NULL;
	size_t n = 0, cap = 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = cursor_open(txn, DBI_PACKS, &c);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != PACK_NAME_LEN)
			continue;
		if (n == cap) {
			void *nv = realloc(names, (cap = cap ? 2 * cap : 64) * PACK_NAME_LEN);

			if (!nv) {
				rc = ENOMEM;
				break;
			}
			names = nv;
		}
		memcpy(names[n++], k.mv_data, PACK_NAME_LEN);
	}
	mdb_cursor_close(c);
	rc = rc == ENOMEM ? rc : walk_end(rc);
	/* Numbered in name order; a record of no known shape is dropped (read in again). */
	for (size_t i = 0; i < n && !rc; i++) {
		rc = get(txn, DBI_PACKS, names[i], PACK_NAME_LEN, &v);
		if (!rc && (v.mv_size < CHUNK_ID_LEN || (v.mv_size - CHUNK_ID_LEN) % OLD_FRAME))
			rc = del(txn, DBI_PACKS, names[i], PACK_NAME_LEN);
		else if (!rc)
			rc = upgrade_pack(txn, old_loc, names[i], &v, (uint32_t)(i + 1));
	}
	free(names);
	if (!rc)
		rc = meta_err(mdb_cursor_open(txn->txn, old_loc, &c), "cursor");
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *p = v.mv_data;
		struct meta_pack mp;
		MDB_val pv;
		uint32_t no;
		int err;

		if (k.mv_size != CHUNK_ID_LEN || v.mv_size != OLD_LOC)
			continue;
		err = get(txn, DBI_PACKS, (void *)p, PACK_NAME_LEN, &pv);
		if (err == ENOENT || (!err && pack_record(&pv, &mp, &no)))
			continue; /* a pack no longer read in */
		if (!err)
			err = chunk_at_put(txn, k.mv_data, no,
					   meta_be32_get(p + PACK_NAME_LEN + 12), p[OLD_LOC - 1] == 1);
		if (err) {
			mdb_cursor_close(c);
			return err;
		}
	}
	mdb_cursor_close(c);
	rc = walk_end(rc);
	return rc ? rc : meta_err(mdb_drop(txn->txn, old_loc, 1), "drop");
}

/* ---- orphans ---- */

int meta_orphan_put(struct meta_txn *txn, uint64_t ino)
{
	uint8_t k[8];

	ino_key(k, ino);
	return put(txn, DBI_ORPHANS, k, 8, "", 0);
}

int meta_orphan_del(struct meta_txn *txn, uint64_t ino)
{
	uint8_t k[8];
	int rc;

	ino_key(k, ino);
	rc = del(txn, DBI_ORPHANS, k, 8);
	return rc == ENOENT ? 0 : rc;
}

int meta_orphan_list(struct meta_txn *txn, uint64_t **inos, size_t *n)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t *out = NULL;
	size_t cnt = 0;
	int rc = cursor_open(txn, DBI_ORPHANS, &c);

	*inos = NULL;
	*n = 0;
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		uint64_t *no;

		if (k.mv_size != 8)
			continue;
		no = realloc(out, (cnt + 1) * sizeof(*out));
		if (!no) {
			mdb_cursor_close(c);
			free(out);
			return ENOMEM;
		}
		out = no;
		out[cnt++] = meta_be64_get(k.mv_data);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND) {
		free(out);
		return meta_err(rc, "orphans");
	}
	*inos = out;
	*n = cnt;
	return 0;
}
