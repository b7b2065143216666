/* SPDX-License-Identifier: MIT */
/*
 * artifs fsck: the store checked against itself, and this host's index against the store
 * (docs/lifecycle.md, "Checking"). Every manifest must decode and name its own version;
 * every pack a manifest names must have an index that decodes, has the digest the manifest
 * gives and fits its pack, and every run must lie inside it; every format-1 chunk must
 * exist; with deep, every chunk is read back and verified. The index must hold no version
 * whose manifest the store lacks. Reads only: a live mount may use the store meanwhile.
 */
#include <errno.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_int.h"

/* The packs checked so far: whether each is bad, and its frames. */
struct seen {
	uint8_t (*name)[PACK_NAME_LEN];
	struct seen_pack {
		int bad;
		size_t frames;
	} *v;
	size_t n, cap, capv;
};

struct ck {
	struct fs *fs;
	struct fs_fsck *out;
	struct seen packs;
	uint8_t *buf; /* deep: one chunk */
	struct fs_keys keys;
	uint64_t drift; /* problems of the index against the store (a rebuild repairs them) */
	uint8_t last_unref[PACK_NAME_LEN];
	int last_unref_set;
};

static void problem(struct ck *c, const char *object, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct ck *c, const char *object, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	c->out->problems++;
	c->out->report(c->out->arg, object, why);
}

/* What checking pack name found before, or NULL when it was not checked yet. */
static const struct seen_pack *seen_get(const struct seen *s, const uint8_t *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!memcmp(s->name[i], name, PACK_NAME_LEN))
			return &s->v[i];
	return NULL;
}

static int seen_put(struct seen *s, const uint8_t *name, int bad, size_t frames)
{
	void *nn = be_grow(s->name, s->n, &s->cap, sizeof(*s->name));
	void *nv;

	if (!nn)
		return ENOMEM;
	s->name = nn;
	nv = be_grow(s->v, s->n, &s->capv, sizeof(*s->v));
	if (!nv)
		return ENOMEM;
	s->v = nv;
	memcpy(s->name[s->n], name, PACK_NAME_LEN);
	s->v[s->n++] = (struct seen_pack){ bad, frames };
	return 0;
}

/* A pack of the listing that no version named (its .pack, or an .idx without one). */
static int unref_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct ck *c = arg;
	uint8_t name[PACK_NAME_LEN];
	int index;

	if (!pack_key_parse(key, name, &index) && !seen_get(&c->packs, name) &&
	    (!index || !c->last_unref_set || memcmp(c->last_unref, name, PACK_NAME_LEN))) {
		c->out->unreferenced++;
		memcpy(c->last_unref, name, PACK_NAME_LEN);
		c->last_unref_set = 1;
	}
	return 0;
}

/* Every frame of ix read back and verified. */
static void frames_verify(struct ck *c, const struct pack_index *ix, const char *key)
{
	for (size_t f = 0; f < ix->n; f++) {
		struct chunk_ref ref = { .len = ix->v[f].len };
		struct pack_loc loc = { .off = ix->v[f].off, .flen = ix->v[f].flen,
					.frame = (uint32_t)f };
		int err;

		memcpy(ref.id, ix->v[f].id, CHUNK_ID_LEN);
		memcpy(loc.pack, ix->name, PACK_NAME_LEN);
		err = chunk_fetch_at(c->fs->be, &ref, &loc, c->buf);
		c->out->chunks++;
		if (err)
			problem(c, key, "frame %zu: %s", f,
				err == EIO ? "damaged, or not the chunk its index names" : strerror(err));
	}
}

/* One pack of a manifest, once per run of fsck: its index against the manifest's digest
 * and against its pack. */
static int pack_check(struct ck *c, const struct manifest *m, size_t p, const char *mkey)
{
	const struct manifest_pack *mp = &m->packs[p];
	struct pack_index ix = { 0 };
	char key[BE_KEY_MAX];
	uint64_t size;
	int err, bad;

	if (!seen_get(&c->packs, mp->name)) {
		bad = 1;
		pack_key(mp->name, 0, key, sizeof(key));
		err = fs_pack_index_fetch(c->fs, mp->name, mp->digest, &ix);
		if (err == ENOENT)
			problem(c, key, "its index is missing (named by %s)", mkey);
		else if (err == EINVAL)
			problem(c, key, "its index is not valid, or not the one %s names", mkey);
		else if (err)
			return err;
		else if ((err = be_head(c->fs->be, key, &size)) == ENOENT)
			problem(c, key, "missing (named by %s)", mkey);
		else if (err)
			return err;
		else if (size != ix.size)
			problem(c, key, "%" PRIu64 " bytes, its index says %" PRIu64, size, ix.size);
		else
			bad = 0;
		if (!bad) {
			c->out->packs++;
			if (c->out->deep)
				frames_verify(c, &ix, key);
		}
		err = seen_put(&c->packs, mp->name, bad, ix.n);
		pack_index_release(&ix);
		if (err)
			return err;
	}
	return 0;
}

/* The chunks of a format-1 manifest: each object exists (deep: and reads back verified). */
static void chunks_check(struct ck *c, const struct manifest *m)
{
	for (size_t i = 0; i < m->nentries; i++)
		for (size_t k = 0; k < m->entries[i].nchunks; k++) {
			const struct chunk_ref *ref = &m->entries[i].chunks[k];
			char key[BE_KEY_MAX];
			uint64_t size;
			int err;

			chunk_key(ref->id, key, sizeof(key));
			c->out->chunks++;
			err = c->out->deep ? chunk_fetch(c->fs->be, ref, c->buf)
					   : be_head(c->fs->be, key, &size);
			if (err)
				problem(c, key, "%s (a chunk of \"%s\" in %s/%s@v%" PRIu64 ")",
					err == EIO ? "damaged" : strerror(err), m->entries[i].path,
					m->project, m->artifact, m->version);
		}
}

/* --repair of a version key whose object is no manifest of it: moved (copied, then deleted)
 * to lost+found/<key> in the store, so nothing is lost and the version number stays taken
 * by nothing. A manifest of a newer format than this artifs reads stays where it is. 0 when
 * moved, EEXIST when left, or the store's error. */
static int quarantine(struct ck *c, const char *key, char *why, size_t len)
{
	char dst[BE_KEY_MAX + 16];
	json_error_t jerr;
	json_t *o, *f;
	void *buf = NULL;
	size_t n;
	int err = be_get_all(c->fs->be, key, 1u << 30, &buf, &n), newer = 0;

	if (err)
		return err;
	o = json_loadb(buf, n, 0, &jerr);
	f = json_object_get(o, "artifs_manifest");
	newer = json_is_integer(f) && json_integer_value(f) > MANIFEST_FORMAT_MAX;
	json_decref(o);
	if (newer) {
		snprintf(why, len, "a manifest of a newer format than this artifs reads: not "
			 "moved (upgrade artifs)");
		free(buf);
		return EEXIST;
	}
	snprintf(dst, sizeof(dst), "lost+found/%s", key);
	err = be_put(c->fs->be, dst, buf, n);
	free(buf);
	if (!err)
		err = be_del(c->fs->be, key);
	if (!err)
		snprintf(why, len, "repaired: not a valid manifest of this version, moved to %s", dst);
	return err;
}

/* One manifest key: it decodes, and what it names is there. */
static int version_check(struct ck *c, const char *key)
{
	struct be_key k;
	struct manifest m;
	uint8_t digest[32];
	int err;

	if (be_key_split(key, BE_KEY_VERSIONS, &k) || !k.n)
		return 0; /* removal marks, and names refresh skips (logged there) */
	err = fs_manifest_fetch(c->fs, k.project, k.artifact, k.n, &m, digest);
	if (err == EINVAL && c->out->repair) {
		char why[BE_KEY_MAX + 128];

		err = quarantine(c, key, why, sizeof(why));
		if (!err) {
			c->out->repaired++;
			c->out->report(c->out->arg, key, why);
			return 0;
		}
		if (err != EEXIST)
			return err;
		problem(c, key, "%s", why);
		return 0;
	}
	if (err == EINVAL) {
		problem(c, key, "not a valid manifest of this version (see the log line)");
		return 0;
	}
	if (err == ENOENT)
		return 0; /* removed meanwhile (gc) */
	if (err)
		return err;
	c->out->versions++;
	for (size_t p = 0; p < m.npacks && !err && m.format >= 2; p++)
		err = pack_check(c, &m, p, key);
	for (size_t i = 0; i < m.nentries && !err && m.format >= 2; i++)
		for (size_t r = 0; r < m.entries[i].nruns; r++) {
			const struct manifest_run *run = &m.entries[i].runs[r];
			const struct seen_pack *sp = run->pack < m.npacks
							     ? seen_get(&c->packs, m.packs[run->pack].name)
							     : NULL;

			if (!sp)
				problem(c, key, "a run of \"%s\" names no pack", m.entries[i].path);
			else if (!sp->bad && (uint64_t)run->first + run->n > sp->frames)
				problem(c, key, "a run of \"%s\" lies past the end of its pack's index",
					m.entries[i].path);
		}
	if (!err && m.format < 2 && c->fs->sc.format < 2)
		chunks_check(c, &m);
	manifest_release(&m);
	return err;
}

/* The versions the index holds whose manifest the store lacks. */
struct idx {
	struct ck *c;
	struct meta_txn *txn;
	const struct meta_artifact *a;
};

static int idx_version_fn(void *arg, const struct meta_version *v)
{
	struct idx *x = arg;
	char key[BE_KEY_MAX];

	if (be_key_version(key, sizeof(key), x->a->project, x->a->name, v->n))
		return 0;
	for (size_t i = 0; i < x->c->keys.n; i++)
		if (!strcmp(x->c->keys.v[i], key))
			return 0;
	problem(x->c, key, "missing, but this host's index has %s/%s@v%" PRIu64
		" (artifs rebuild, or fsck --repair, makes the index from the store)",
		x->a->project, x->a->name, v->n);
	x->c->drift++;
	return 0;
}

static int idx_artifact_fn(void *arg, const struct meta_artifact *a)
{
	struct idx *x = arg;

	x->a = a;
	return meta_version_iter(x->txn, a->ino, idx_version_fn, x);
}

static int index_check(struct ck *c, struct meta *index)
{
	struct idx x = { .c = c };
	int err = meta_txn_begin(index, 1, &x.txn);

	if (err)
		return err;
	err = meta_artifact_iter(x.txn, idx_artifact_fn, &x);
	meta_txn_abort(x.txn);
	return err;
}

int fs_fsck(struct fs *fs, struct meta *index, struct fs_fsck *out)
{
	struct ck c = { .fs = fs, .out = out };
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	if (out->deep && !(c.buf = be_buf_alloc(CHUNK_FETCH_CAP(fs->sc.chunk_max))))
		return ENOMEM;
	err = be_list(fs->be, BE_KEY_VERSIONS, fs_keys_fn, &c.keys);
	for (size_t i = 0; i < c.keys.n && !err; i++) {
		err = version_check(&c, c.keys.v[i]);
		if (out->progress)
			out->progress(out->arg, i + 1, c.keys.n);
	}
	if (!err)
		err = be_list(fs->be, BE_KEY_PACKS, unref_fn, &c);
	if (!err && index)
		err = index_check(&c, index);
	if (!err && c.drift && out->repair)
		out->drift = c.drift;
	fs_keys_free(&c.keys);
	free(c.packs.name);
	free(c.packs.v);
	be_buf_free(c.buf);
	return err;
}

int fs_fsck_run(const struct fs_conf *c, struct fs_fsck *out)
{
	struct meta_conf mc = { .dir = c->state, .readonly = 1 };
	struct meta *index = NULL;
	const char *why = NULL;
	struct fs *fs = NULL;
	char path[4200];
	int err = fs_offline_open(c, &fs);

	snprintf(path, sizeof(path), "%s/data.mdb", c->state);
	if (!err && access(path, F_OK) == 0 && meta_open(&mc, &index, &why))
		log_msg(LOG_WARNING, "fsck: the index in %s is not checked: %s", c->state,
			why ? why : "cannot open it");
	if (!err)
		err = fs_fsck(fs, index, out);
	meta_close(index);
	fs_offline_close(fs);
	if (!err && out->drift) {
		/* The index follows the store: made anew from it (not while a mount uses it). */
		int rerr = fs_rebuild(c);

		if (!rerr) {
			out->problems -= out->drift;
			out->repaired += out->drift;
			out->report(out->arg, c->state, "repaired: the index was made anew from the "
				    "store (artifs rebuild)");
		} else {
			out->report(out->arg, c->state, rerr == EBUSY
					? "not repaired: a mount uses this index (unmount, then "
					  "fsck --repair again)"
					: "not repaired: the index could not be made anew (see the log)");
		}
	}
	return err;
}
