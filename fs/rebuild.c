/* SPDX-License-Identifier: MIT */
/*
 * artifs rebuild: a new index from the store alone. Projects and artifacts come from the
 * meta/ objects and the version manifests, versions from their manifests (installed with the
 * same code as a commit), tags from refs/, labels, kinds and metrics from meta/.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

#define MANIFEST_MAX (256u << 20)

struct keys {
	char **v;
	size_t n;
};

static int keys_fn(void *arg, const char *key, uint64_t size)
{
	struct keys *k = arg;
	char **nv = realloc(k->v, (k->n + 1) * sizeof(*nv));

	if (!nv)
		return ENOMEM;
	k->v = nv;
	nv[k->n] = strdup(key);
	if (!nv[k->n])
		return ENOMEM;
	k->n++;
	return 0;
}

static void keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
}

/* Splits "<prefix>/p/a/rest" into p, a and rest (rest may be NULL). */
static int split3(const char *key, size_t skip, char *p, char *a, const char **rest)
{
	const char *s = key + skip, *sl = strchr(s, '/'), *sl2;

	if (!sl || (size_t)(sl - s) > META_PA_MAX)
		return EINVAL;
	memcpy(p, s, sl - s);
	p[sl - s] = '\0';
	s = sl + 1;
	sl2 = strchr(s, '/');
	if (!sl2) {
		if (rest)
			return EINVAL;
		if (strlen(s) > META_PA_MAX)
			return EINVAL;
		strcpy(a, s);
		return 0;
	}
	if ((size_t)(sl2 - s) > META_PA_MAX)
		return EINVAL;
	memcpy(a, s, sl2 - s);
	a[sl2 - s] = '\0';
	if (rest)
		*rest = sl2 + 1;
	return 0;
}

static int ensure_dir(struct meta_txn *txn, uint64_t parent, const char *name, uint32_t kind,
		      uint64_t *ino, const char *project)
{
	const char *why;
	int err = fs_name_check_pa(name, &why);

	if (err) {
		log_msg(LOG_WARNING, "rebuild: skipping '%s': %s", name, why);
		return err;
	}
	return fs_pa_ensure(txn, parent, name, kind, project, getuid(), getgid(), ino, NULL);
}

/* Applies a meta/ JSON object (labels, metrics, kind) as xattrs of ino; for a version
 * (v not NULL) the label and metric indexes follow. */
static int apply_meta(struct fs *fs, struct meta_txn *txn, const char *key, uint64_t ino,
		      const struct meta_vref *v)
{
	void *buf = NULL;
	size_t len;
	json_t *doc, *obj, *jv;
	const char *k;
	char name[300];
	int err = be_get_all(fs->be, key, 1 << 20, &buf, &len);

	if (err)
		return err == ENOENT ? 0 : err;
	doc = json_loadb(buf, len, 0, NULL);
	free(buf);
	if (!json_is_object(doc)) {
		json_decref(doc);
		log_msg(LOG_WARNING, "rebuild: %s is not a JSON object; skipped", key);
		return 0;
	}
	static const char *const groups[][2] = { { "labels", "user.label." },
						 { "metrics", "user.metric." } };
	for (size_t g = 0; g < 2 && !err; g++) {
		obj = json_object_get(doc, groups[g][0]);
		if (!json_is_object(obj))
			continue;
		json_object_foreach(obj, k, jv) {
			if (!json_is_string(jv))
				continue;
			snprintf(name, sizeof(name), "%s%s", groups[g][1], k);
			if (v)
				err = fs_vattr_set(txn, ino, v, name, json_string_value(jv),
						   json_string_length(jv), 0);
			else
				err = meta_xattr_put(txn, ino, name, json_string_value(jv),
						     json_string_length(jv));
			if (err)
				break;
		}
	}
	jv = json_object_get(doc, "kind");
	if (!err && json_is_string(jv))
		err = meta_xattr_put(txn, ino, "user.artifs.kind", json_string_value(jv),
				     json_string_length(jv));
	json_decref(doc);
	return err;
}

static int cmp_keys(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

struct rb_arg {
	struct fs *fs;
	struct keys vers, metas, refs;
};

static int rebuild_fn(struct meta_txn *txn, void *arg)
{
	struct rb_arg *r = arg;
	struct fs *fs = r->fs;
	char p[META_PA_MAX + 1], a[META_PA_MAX + 1], key[700];
	const char *rest;
	uint64_t pino, aino;
	int err = 0;

	/* Every artifact first, so that inputs naming another artifact resolve. */
	for (size_t i = 0; i < r->vers.n; i++) {
		if (split3(r->vers.v[i], 9, p, a, &rest))
			continue;
		if (ensure_dir(txn, META_ROOT_INO, p, MK_PROJECT, &pino, NULL) == 0)
			ensure_dir(txn, pino, a, MK_ARTIFACT, &aino, p);
	}
	/* Versions, in key order: per artifact, numbers ascend (20 digits). */
	for (size_t i = 0; i < r->vers.n; i++) {
		struct meta_artifact art;
		struct manifest m;
		uint8_t digest[32];
		void *buf = NULL;
		size_t len;
		char *end;
		uint64_t n;

		if (split3(r->vers.v[i], 9, p, a, &rest))
			continue;
		n = strtoull(rest, &end, 10);
		if (*end || strlen(rest) != 20 || n == 0) {
			log_msg(LOG_WARNING, "rebuild: skipping %s: not a version object", r->vers.v[i]);
			continue;
		}
		if (ensure_dir(txn, META_ROOT_INO, p, MK_PROJECT, &pino, NULL) ||
		    ensure_dir(txn, pino, a, MK_ARTIFACT, &aino, p))
			continue;
		err = be_get_all(fs->be, r->vers.v[i], MANIFEST_MAX, &buf, &len);
		if (err)
			return err;
		chunk_hash(buf, len, digest);
		err = manifest_decode(buf, len, &m);
		free(buf);
		if (err) {
			log_msg(LOG_WARNING, "rebuild: skipping %s: malformed manifest", r->vers.v[i]);
			err = 0;
			continue;
		}
		m.version = n; /* the object's name is authoritative */
		err = meta_artifact_get(txn, aino, &art);
		if (!err)
			err = fs_version_install(fs, txn, &art, &m, digest, NULL, NULL, getuid(),
						 getgid());
		manifest_release(&m);
		if (err)
			return err;
		snprintf(key, sizeof(key), "meta/%s/%s/versions/%020" PRIu64 ".json", p, a, n);
		{
			struct meta_version v;
			struct meta_vref vr = { aino, n };

			err = meta_version_get(txn, aino, n, &v);
			if (!err)
				err = apply_meta(fs, txn, key, v.root, &vr);
		}
		if (err)
			return err;
	}
	for (size_t i = 0; i < r->metas.n; i++) {
		const char *k = r->metas.v[i] + 5;
		const char *sl = strchr(k, '/');

		if (!sl)
			continue;
		if (strcmp(sl, "/project.json") == 0) {
			snprintf(p, sizeof(p), "%.*s", (int)(sl - k), k);
			if (ensure_dir(txn, META_ROOT_INO, p, MK_PROJECT, &pino, NULL) == 0)
				err = apply_meta(fs, txn, r->metas.v[i], pino, NULL);
		} else if (split3(r->metas.v[i], 5, p, a, &rest) == 0 &&
			   strcmp(rest, "artifact.json") == 0) {
			if (ensure_dir(txn, META_ROOT_INO, p, MK_PROJECT, &pino, NULL) == 0 &&
			    ensure_dir(txn, pino, a, MK_ARTIFACT, &aino, p) == 0)
				err = apply_meta(fs, txn, r->metas.v[i], aino, NULL);
		}
		if (err)
			return err;
	}
	for (size_t i = 0; i < r->refs.n; i++) {
		struct meta_version v;
		char tag[META_PA_MAX + 2], target[32];
		void *buf = NULL;
		size_t len;
		uint64_t n;
		uint32_t type;
		const char *why;

		if (split3(r->refs.v[i], 5, p, a, &rest) || fs_name_check_tag(rest, &why))
			continue;
		if (meta_dirent_get(txn, META_ROOT_INO, p, &pino, &type) ||
		    meta_dirent_get(txn, pino, a, &aino, &type))
			continue;
		if (be_get_all(fs->be, r->refs.v[i], 64, &buf, &len))
			continue;
		snprintf(target, sizeof(target), "%.*s", (int)len, (char *)buf);
		free(buf);
		n = strtoull(target, NULL, 10);
		if (meta_version_get(txn, aino, n, &v)) {
			log_msg(LOG_WARNING, "rebuild: tag %s names a missing version", r->refs.v[i]);
			continue;
		}
		snprintf(tag, sizeof(tag), "@%s", rest);
		err = fs_tag_put(txn, aino, tag, n, getuid(), getgid());
		if (err)
			return err;
	}
	return 0;
}

struct heads_arg {
	uint64_t *v;
	size_t n;
};

static int heads_fn(void *arg, const struct meta_artifact *a)
{
	struct heads_arg *h = arg;
	uint64_t *nv;

	if (!a->latest)
		return 0;
	nv = realloc(h->v, (h->n + 1) * sizeof(*nv));
	if (!nv)
		return ENOMEM;
	h->v = nv;
	nv[h->n++] = a->ino;
	return 0;
}

struct head_one {
	struct fs *fs;
	uint64_t ino;
};

static int head_one_fn(struct meta_txn *txn, void *arg)
{
	struct head_one *h = arg;
	struct meta_artifact a;
	int err = meta_artifact_get(txn, h->ino, &a);

	return err ? err : fs_head_reset(h->fs, txn, &a, a.latest);
}

int fs_rebuild(const struct fs_conf *c)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	struct rb_arg r = { .fs = fs };
	struct heads_arg heads = { 0 };
	struct meta_txn *txn;
	char old[PATH_MAX], src[PATH_MAX + 16], dst[PATH_MAX + 16];
	int err;

	if (!fs)
		return ENOMEM;
	fs->conf = *c;
	pthread_mutex_init(&fs->lock, NULL);
	/* Keep the old index (it may hold drafts) beside the new one. */
	snprintf(old, sizeof(old), "%s/index.old-%ld", c->state, (long)time(NULL));
	snprintf(src, sizeof(src), "%s/data.mdb", c->state);
	if (access(src, F_OK) == 0) {
		struct fs probe = { .conf = *c };

		/* Opening the index takes its lock: refuses while a daemon owns it. */
		err = fs_open_backing(&probe, 0);
		fs_close_backing(&probe);
		if (err)
			goto out;
		if (mkdir(old, 0700)) {
			err = errno;
			goto out;
		}
		for (int i = 0; i < 2; i++) {
			const char *f = i ? "lock.mdb" : "data.mdb";

			snprintf(src, sizeof(src), "%s/%s", c->state, f);
			snprintf(dst, sizeof(dst), "%s/%s", old, f);
			if (rename(src, dst) && errno != ENOENT) {
				err = errno;
				goto out;
			}
		}
		log_msg(LOG_INFO, "rebuild: the old index is kept in %s", old);
	}
	err = fs_open_backing(fs, 0);
	if (err)
		goto out;
	err = fs_ctl_init(fs);
	if (!err)
		err = be_list(fs->be, "versions/", keys_fn, &r.vers);
	if (!err)
		err = be_list(fs->be, "meta/", keys_fn, &r.metas);
	if (!err)
		err = be_list(fs->be, "refs/", keys_fn, &r.refs);
	if (err)
		goto out_close;
	qsort(r.vers.v, r.vers.n, sizeof(char *), cmp_keys);
	err = meta_write(fs->meta, rebuild_fn, &r);
	if (err)
		goto out_close;
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (!err) {
		err = meta_artifact_iter(txn, heads_fn, &heads);
		meta_txn_abort(txn);
	}
	for (size_t i = 0; i < heads.n && !err; i++) {
		struct head_one h = { fs, heads.v[i] };

		err = meta_write(fs->meta, head_one_fn, &h);
	}
	if (!err)
		err = meta_sync(fs->meta);
	if (!err)
		log_msg(LOG_INFO, "rebuild: %zu versions, %zu artifacts with versions", r.vers.n,
			heads.n);
out_close:
	fs_close_backing(fs);
out:
	free(heads.v);
	keys_free(&r.vers);
	keys_free(&r.metas);
	keys_free(&r.refs);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
	return err;
}
