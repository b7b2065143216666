/* SPDX-License-Identifier: MIT */
/*
 * Commits (DESIGN.md sections 2 and 5): snapshot the HEAD tree, cut staged files into
 * chunks and upload the missing ones, write the manifest with an exclusive create of the
 * next version number, then update the index in one transaction. A failure before that
 * transaction leaves the draft as it was; a crash leaves at worst unreferenced chunks.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs_int.h"

struct snap {
	struct manifest m;
	size_t cap;
	uint64_t *inos;   /* HEAD inode of each entry (the artifact for the root) */
	uint32_t *uids, *gids;
	uint8_t *staged;  /* entry's bytes come from its staging file */
	uint64_t *cut_seq; /* staged: fs_write_seq() when its last cut began */
	uint32_t gen;     /* the artifact's draft generation the snapshot saw */
	/* The pending version-level values the snapshot saw (the message before a commit's
	 * own): only these are cleared when the version is installed. */
	char *seen_message, *seen_inputs;
	/* Store format 2: the commit's pack writer, and the indexes of the packs it stored */
	struct pack_writer *pw;
	const struct pack_index *packs;
	size_t npacks;
};

static void snap_release(struct snap *s)
{
	manifest_release(&s->m);
	free(s->inos);
	free(s->uids);
	free(s->gids);
	free(s->staged);
	free(s->cut_seq);
	free(s->seen_message);
	free(s->seen_inputs);
	pack_writer_destroy(s->pw);
	memset(s, 0, sizeof(*s));
}

static int snap_grow(struct snap *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	void *p;

	if (s->m.nentries < s->cap)
		return 0;
#define GROW(field, n)                                            \
	do {                                                      \
		p = realloc(s->field, (n) * sizeof(*s->field));    \
		if (!p)                                           \
			return ENOMEM;                            \
		s->field = p;                                     \
	} while (0)
	GROW(m.entries, cap);
	GROW(inos, cap);
	GROW(uids, cap);
	GROW(gids, cap);
	GROW(staged, cap);
	GROW(cut_seq, cap);
#undef GROW
	s->cap = cap;
	return 0;
}

/* Appends the subtree at ino (path rel) to the snapshot, preorder, siblings by name. */
static int snap_walk(struct meta_txn *txn, struct snap *s, uint64_t ino, const char *rel)
{
	struct meta_inode in;
	struct manifest_entry *e;
	struct meta_xa_collect xc = { .root = rel[0] == '\0' };
	struct meta_children ch;
	size_t i;
	int err;

	err = meta_inode_get(txn, ino, &in);
	if (err)
		return err;
	err = snap_grow(s);
	if (err)
		return err;
	i = s->m.nentries;
	e = &s->m.entries[i];
	memset(e, 0, sizeof(*e));
	s->inos[i] = ino;
	s->uids[i] = in.uid;
	s->gids[i] = in.gid;
	s->staged[i] = !!(in.flags & MI_STAGED);
	s->cut_seq[i] = 0;
	e->path = strdup(rel);
	if (!e->path)
		return ENOMEM;
	s->m.nentries++;
	e->mode = in.mode;
	e->mtime_ns = in.mtime_ns;
	err = meta_xattr_iter(txn, ino, meta_xa_collect_fn, &xc);
	if (!err)
		err = xc.err;
	e->xattrs = xc.v;
	e->nxattrs = xc.n;
	if (err)
		return err;
	if (S_ISLNK(in.mode)) {
		err = meta_link_get(txn, ino, &e->target);
		e->size = e->target ? strlen(e->target) : 0;
		return err;
	}
	if (S_ISREG(in.mode)) {
		e->size = in.size;
		memcpy(e->digest, in.digest, 32);
		if (s->staged[i])
			return 0; /* filled in by cutting the staging file */
		err = meta_chunks_get(txn, ino, &e->chunks, &e->nchunks);
		return err == ENOENT ? 0 : err;
	}
	err = meta_children_get(txn, ino, rel[0] == '\0', &ch);
	if (err)
		return err;
	for (size_t k = 0; k < ch.n && !err; k++) {
		char *sub;

		if (asprintf(&sub, "%s%s%s", rel, rel[0] ? "/" : "", ch.v[k].name) < 0) {
			err = ENOMEM;
			break;
		}
		err = snap_walk(txn, s, ch.v[k].ino, sub);
		free(sub);
	}
	free(ch.v);
	return err;
}

static int pending_collect(struct meta_txn *txn, uint64_t art, struct manifest *m)
{
	struct meta_xa_collect xc = { .pending = 1 };
	void *v;
	size_t len;
	int err;

	if (meta_xattr_get(txn, art, "user.artifs.message", &v, &len) == 0) {
		m->message = strndup(v, len);
		free(v);
		if (!m->message)
			return ENOMEM;
	}
	if (meta_xattr_get(txn, art, "user.artifs.inputs", &v, &len) == 0) {
		m->inputs = strndup(v, len);
		free(v);
		if (!m->inputs)
			return ENOMEM;
	}
	err = meta_xattr_iter(txn, art, meta_xa_collect_fn, &xc);
	m->attrs = xc.v;
	m->nattrs = xc.n;
	return err ? err : xc.err;
}

/* Whether xattr name of ino holds exactly val (len bytes). */
static int xattr_is(struct meta_txn *txn, uint64_t ino, const char *name, const void *val,
		    size_t len)
{
	void *v;
	size_t vlen;
	int same;

	if (meta_xattr_get(txn, ino, name, &v, &vlen))
		return 0;
	same = vlen == len && memcmp(v, val, len) == 0;
	free(v);
	return same;
}

/* Clears the pending version-level values the snapshot saw; one set again since (during the
 * upload) differs and stays for the next version. */
static int pending_clear(struct meta_txn *txn, uint64_t art, const struct snap *s)
{
	int err = 0;

	for (size_t i = 0; i < s->m.nattrs && !err; i++) {
		const struct manifest_xattr *x = &s->m.attrs[i];

		if (xattr_is(txn, art, x->name, x->val, x->len))
			err = meta_xattr_del(txn, art, x->name);
	}
	if (!err && s->seen_message &&
	    xattr_is(txn, art, "user.artifs.message", s->seen_message, strlen(s->seen_message)))
		err = meta_xattr_del(txn, art, "user.artifs.message");
	if (!err && s->seen_inputs &&
	    xattr_is(txn, art, "user.artifs.inputs", s->seen_inputs, strlen(s->seen_inputs)))
		err = meta_xattr_del(txn, art, "user.artifs.inputs");
	return err;
}

/* Drops every pending version-level value (a discard). */
static int pending_drop(struct meta_txn *txn, uint64_t art)
{
	struct meta_xa_collect xc = { .pending = 1 };
	int err = meta_xattr_iter(txn, art, meta_xa_collect_fn, &xc);

	for (size_t i = 0; i < xc.n; i++) {
		if (!err)
			err = meta_xattr_del(txn, art, xc.v[i].name);
		free(xc.v[i].name);
		free(xc.v[i].val);
	}
	free(xc.v);
	meta_xattr_del(txn, art, "user.artifs.message");
	meta_xattr_del(txn, art, "user.artifs.inputs");
	return err ? err : xc.err;
}

struct install_arg {
	struct fs *fs;
	struct snap *s;
	const uint8_t *digest;
	int changed;   /* 0: only fold staged files into chunks, no version */
	int kept;      /* the draft stays: open, or changed since the snapshot */
	uint8_t *fold; /* per entry: folded into chunks, its staging file to go */
};

/* Whether staged entry i can become chunk-backed: its inode is still the staged file the
 * snapshot cut, no handle has it open (so no write can come), and no write ran since its
 * cut began. Caller holds art->lock, so no open can come either. */
static int foldable(struct fs *fs, struct meta_txn *txn, const struct snap *s, size_t i,
		    struct meta_inode *in)
{
	if (meta_inode_get(txn, s->inos[i], in) || !(in->flags & MI_STAGED) ||
	    in->kind != MK_HEAD || in->nlink == 0)
		return 0;
	return fs_open_count(fs, s->inos[i]) == 0 && !fs_written_since(fs, s->inos[i], s->cut_seq[i]);
}

static int install_fn(struct meta_txn *txn, void *arg)
{
	struct install_arg *ia = arg;
	struct snap *s = ia->s;
	struct meta_artifact a;
	struct meta_version v;
	int err = meta_artifact_get(txn, s->inos[0], &a);

	if (err)
		return err;
	ia->kept = 0;
	/* Where this commit's new chunks lie: before the version that names their packs. */
	for (size_t i = 0; i < s->npacks && !err; i++)
		err = meta_pack_read_in(txn, &s->packs[i], 1);
	if (err)
		return err;
	if (ia->changed) {
		/* Refresh leaves the number being committed alone (fs_art.committing_n). */
		if (meta_version_get(txn, a.ino, s->m.version, &v) == 0)
			return EEXIST;
		err = meta_version_install(txn, &a, &s->m, ia->digest, s->uids, s->gids,
					 s->uids[0], s->gids[0], 1);
		if (!err)
			err = pending_clear(txn, a.ino, s);
		if (err)
			return err;
	}
	for (size_t i = 0; i < s->m.nentries; i++) {
		struct manifest_entry *e = &s->m.entries[i];
		struct meta_inode in;

		ia->fold[i] = 0;
		if (!s->staged[i])
			continue;
		/* Stored or verified by this commit: known good from now on (format 2: as
		 * chunks of the own packs read in above). */
		for (size_t c = 0; c < e->nchunks && !err && ia->fs->sc.format < 2; c++)
			err = meta_chunk_mark(txn, e->chunks[c].id);
		if (err)
			return err;
		if (!foldable(ia->fs, txn, s, i, &in)) {
			ia->kept = 1;
			continue;
		}
		in.flags &= ~MI_STAGED;
		in.size = e->size;
		in.mtime_ns = e->mtime_ns;
		memcpy(in.digest, e->digest, 32);
		err = meta_inode_put(txn, &in);
		if (!err && e->nruns)
			err = meta_runs_put(txn, in.ino, &s->m, e);
		else if (!err)
			err = e->nchunks ? meta_chunks_put(txn, in.ino, e->chunks, e->nchunks)
					 : meta_chunks_del(txn, in.ino);
		if (err && err != ENOENT)
			return err;
		err = 0;
		ia->fold[i] = 1;
	}
	err = meta_artifact_get(txn, s->inos[0], &a);
	if (err)
		return err;
	if (a.draft != s->gen)
		ia->kept = 1; /* changed during the upload: those changes are the next draft */
	else if (!ia->kept)
		a.draft = 0;
	return meta_artifact_put(txn, &a);
}

/* The versions read by the runs that wrote this draft, as URIs, one per line. */
static int captured_collect(struct fs *fs, struct fs_art *art, struct meta_txn *txn,
			    struct manifest *m)
{
	struct meta_vref *v;
	struct be_str list = { 0 };
	size_t n;
	int err = fs_lineage_captured(fs, art, &v, &n);

	for (size_t i = 0; i < n && !err; i++) {
		char uri[400];

		if (meta_vref_uri(txn, &v[i], uri, sizeof(uri)))
			continue; /* the artifact went away since */
		if (list.len)
			err = be_str_add(&list, "\n", 1);
		if (!err)
			err = be_str_add(&list, uri, strlen(uri));
	}
	free(v);
	if (err)
		be_str_release(&list);
	else
		m->captured = list.s;
	return err;
}

/* Under art->lock: the HEAD tree, its pending values and captured reads, and the draft
 * generation. *empty when there is no draft. */
static int snapshot(struct fs *fs, struct fs_art *art, struct snap *s, struct meta_artifact *a,
		    int *empty)
{
	struct meta_txn *txn;
	int err;

	FS_ASSERT_HELD(&art->lock);
	*empty = 0;
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_artifact_get(txn, art->ino, a);
	if (!err && !a->draft)
		*empty = 1; /* nothing changed since the last version */
	if (!err && !*empty)
		err = snap_walk(txn, s, art->ino, "");
	if (!err && !*empty)
		err = pending_collect(txn, art->ino, &s->m);
	if (!err && !*empty)
		err = captured_collect(fs, art, txn, &s->m);
	meta_txn_abort(txn);
	if (err || *empty)
		return err;
	s->gen = a->draft;
	if (s->m.message && !(s->seen_message = strdup(s->m.message)))
		return ENOMEM;
	if (s->m.inputs && !(s->seen_inputs = strdup(s->m.inputs)))
		return ENOMEM;
	return 0;
}

/* After fs_cut_file() found no staging file: EAGAIN when the file went from the HEAD since the
 * snapshot (a new snapshot sees that), EIO when the index still has it staged (its bytes
 * were lost in a machine crash: never committed as an empty file). */
static int staging_lost(struct fs *fs, uint64_t ino, const char *path)
{
	struct meta_txn *txn;
	struct meta_inode in;
	int err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return err;
	err = meta_inode_get(txn, ino, &in);
	meta_txn_abort(txn);
	if (err == ENOENT || (!err && (!(in.flags & MI_STAGED) || in.nlink == 0)))
		return EAGAIN;
	if (err)
		return err;
	log_msg(LOG_ERR, "commit: the staging file of \"%s\" (inode %" PRIu64 ") is missing",
		path, ino);
	return EIO;
}

/* The passes a staged file gets when writes keep landing while it is cut. */
#define CUT_TRIES 3

/* The chunks of e that lie in packs gc condemned, copied into the commit's new packs (read
 * back verified), so that the version names none of those packs (docs/gc.md). */
static int rehome_entry(struct fs *fs, struct fs_uppool *pool, const struct manifest_entry *e,
			void *buf)
{
	int err = 0;

	for (size_t k = 0; k < e->nchunks && !err; k++) {
		struct meta_txn *txn;
		struct pack_loc loc;

		err = meta_txn_begin(fs->meta, 1, &txn);
		if (err)
			break;
		err = meta_chunk_loc_get(txn, e->chunks[k].id, &loc);
		meta_txn_abort(txn);
		if (err == ENOENT) {
			err = 0; /* a format-1 chunk, or a pack gone: the runs say so */
			continue;
		}
		if (!err && fs_gc_avoids(fs, loc.pack) &&
		    !(err = chunk_fetch_at(fs->be, &e->chunks[k], &loc, buf)))
			err = fs_uppool_put(pool, &e->chunks[k], (uint8_t *)buf + CHUNK_FETCH_OFF);
	}
	return err;
}

static int rehome_all(struct fs *fs, struct fs_uppool *pool, struct snap *s, char *why,
		      size_t whylen)
{
	void *buf;
	int err = 0;

	if (!fs_gc_avoiding(fs))
		return 0;
	if (!(buf = be_buf_alloc(CHUNK_FETCH_CAP(fs->sc.chunk_max))))
		return ENOMEM;
	for (size_t i = 0; i < s->m.nentries && !err; i++) {
		if (s->staged[i] || !s->m.entries[i].nchunks)
			continue;
		err = rehome_entry(fs, pool, &s->m.entries[i], buf);
		if (err)
			snprintf(why, whylen, "cannot copy the chunks of \"%s\" out of a pack gc "
				 "condemned: %s", s->m.entries[i].path, strerror(err));
	}
	be_buf_free(buf);
	return err;
}

/* Cuts and uploads every staged file of the snapshot, with no lock held. A file written
 * while it was cut is cut again, so that no version holds bytes the file never held. */
static int cut_all(struct fs *fs, struct fs_art *art, struct snap *s, char *why, size_t whylen)
{
	struct fs_uppool *pool;
	uint64_t total = 0;
	int err = 0;

	FS_ASSERT_NO_HEAD_LOCK();
	if (fs->sc.format >= 2 && !s->pw) {
		err = pack_writer_create(fs->be, PACK_TARGET, fs->sc.chunk_max, &s->pw);
		if (err)
			return err;
	}
	err = fs_uppool_create(fs, s->pw, &pool);
	if (err)
		return err;
	/* The staging files' sizes now, for the progress `artifs status` shows (the cut sets
	 * e->size as it goes). */
	for (size_t i = 0; i < s->m.nentries; i++) {
		char path[4200];
		struct stat st;

		if (!s->staged[i])
			continue;
		fs_staging_path(fs, s->inos[i], path, sizeof(path));
		if (stat(path, &st) == 0)
			total += (uint64_t)st.st_size;
	}
	atomic_store(&art->commit_done, 0);
	atomic_store(&art->commit_total, total);
	fs_uppool_count(pool, &art->commit_done);
	for (size_t i = 0; i < s->m.nentries && !err; i++) {
		struct manifest_entry *e = &s->m.entries[i];
		int tries = 0;

		if (!s->staged[i])
			continue;
		do {
			free(e->chunks);
			e->chunks = NULL;
			e->nchunks = 0;
			s->cut_seq[i] = fs_write_seq(fs);
			err = fs_cut_file(fs, pool, s->inos[i], e);
		} while (!err && fs_written_since(fs, s->inos[i], s->cut_seq[i]) &&
			 ++tries < CUT_TRIES);
		if (!err && tries == CUT_TRIES) {
			err = EBUSY;
			snprintf(why, whylen, "\"%s\" was written to all through %d tries to cut it; it "
				 "is committed once its writers stop", e->path, CUT_TRIES);
			log_msg(LOG_WARNING, "commit: %s", why);
		} else if (err == ENOENT) {
			err = staging_lost(fs, s->inos[i], e->path);
			if (err == EIO)
				snprintf(why, whylen, "the bytes of \"%s\" are lost (its staging file is "
					 "missing): rewrite it or discard the draft", e->path);
		} else if (err) {
			snprintf(why, whylen, "cannot store the bytes of \"%s\": %s", e->path,
				 strerror(err));
		}
	}
	if (!err && s->pw)
		err = rehome_all(fs, pool, s, why, whylen);
	fs_uppool_destroy(pool);
	atomic_store(&art->commit_total, 0);
	if (s->pw) {
		int perr = pack_writer_finish(s->pw, &s->packs, &s->npacks);

		if (perr && !err) {
			err = perr;
			snprintf(why, whylen, "cannot store a pack of new chunks: %s", strerror(err));
		}
		if (!err && (err = fs_manifest_runs(fs, &s->m, s->packs, s->npacks)))
			snprintf(why, whylen, "cannot list where the version's chunks lie: %s",
				 strerror(err));
	}
	return err;
}

static void committing_set(struct fs *fs, struct fs_art *art, uint64_t n)
{
	pthread_mutex_lock(&fs->lock);
	art->committing_n = n;
	pthread_mutex_unlock(&fs->lock);
}

/* Writes the manifest as the next free version number (an exclusive create: other hosts
 * take numbers too; they never repeat). digest gets the object's SHA-256. No lock held. */
static int manifest_store(struct fs *fs, struct fs_art *art, const struct meta_artifact *a,
			  struct snap *s, uint8_t digest[32], char *why, size_t whylen)
{
	char key[600], *text = NULL;
	size_t textlen = 0;
	int err = 0;

	FS_ASSERT_NO_HEAD_LOCK();
	/* The last look at gc's marks before the manifest names its packs (docs/gc.md). */
	if (fs->sc.format >= 2 && (err = fs_gc_check(fs, &s->m, why, whylen)))
		return err;
	for (uint64_t n = a->next > a->latest ? a->next : a->latest + 1, tries = 0;;
	     n++, tries++) {
		s->m.version = n;
		free(text);
		text = NULL;
		err = manifest_encode(&s->m, &text, &textlen);
		if (err) {
			snprintf(why, whylen, "the manifest cannot be written: %s", manifest_why());
			goto out;
		}
		if (textlen > MANIFEST_OBJECT_MAX) {
			/* Other hosts would refuse to read it (refresh.c). */
			err = EFBIG;
			snprintf(why, whylen,
				 "the tree's manifest is %zu MiB; a version holds at most "
				 "%u MiB of manifest (%zu entries here)",
				 textlen >> 20, MANIFEST_OBJECT_MAX >> 20, s->m.nentries);
			log_msg(LOG_ERR, "commit %s/%s: %s", a->project, a->name, why);
			goto out;
		}
		be_key_version(key, sizeof(key), a->project, a->name, n);
		committing_set(fs, art, n);
		err = be_create(fs->be, key, text, textlen);
		if (err != EEXIST || tries > 1000)
			break;
	}
	if (err && err != EEXIST) {
		/* Maybe stored, maybe not: the next commit looks before it numbers. */
		art->uncertain_n = s->m.version;
		chunk_hash(text, textlen, art->uncertain_digest);
	}
	if (err) {
		snprintf(why, whylen, "cannot write manifest %s: %s", key, strerror(err));
		log_msg(LOG_ERR, "commit %s/%s: %s", a->project, a->name, why);
		goto out;
	}
	chunk_hash(text, textlen, digest);
out:
	free(text);
	return err;
}

/* The last try may have stored its manifest after all: then that is a version (other hosts
 * see it), and this commit goes on from it instead of adding a copy. */
static int uncertain_resolve(struct fs *fs, struct fs_art *art)
{
	struct meta_artifact a;
	struct meta_txn *txn;
	int err;

	if (!art->uncertain_n)
		return 0;
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_artifact_get(txn, art->ino, &a);
	meta_txn_abort(txn);
	if (!err)
		err = fs_version_read_in(fs, art->ino, a.project, a.name, art->uncertain_n,
					 art->uncertain_digest);
	if (err && err != ENOENT && err != EEXIST)
		return err; /* still unknown: try again later */
	if (!err)
		log_msg(LOG_INFO, "commit %s/%s: @v%" PRIu64 " was stored by the last try", a.project,
			a.name, art->uncertain_n);
	art->uncertain_n = 0;
	return 0;
}

/* Under art->lock: the version and the folded files into the index, synced, then the
 * staging files of folded files removed (still under the lock: a copy-up after the unlock
 * makes a new staging file of the same name). */
static int install(struct fs *fs, struct fs_art *art, const struct meta_artifact *a,
		   struct install_arg *ia, char *why, size_t whylen)
{
	struct snap *s = ia->s;
	int err, synced;

	ia->fold = calloc(s->m.nentries, 1);
	if (!ia->fold)
		return ENOMEM;
	fs_mutex_lock(&art->lock);
	err = meta_write(fs->meta, install_fn, ia);
	if (err) {
		fs_mutex_unlock(&art->lock);
		snprintf(why, whylen, "index update failed: %s", strerror(err));
		log_msg(LOG_ERR, "commit %s/%s: %s", a->project, a->name, why);
		return err;
	}
	/* The staging copies go only once the index that no longer needs them is on disk: a
	 * machine crash before that brings the staged index back (meta.c on durability). */
	synced = meta_sync(fs->meta);
	if (synced)
		log_msg(LOG_ERR, "commit %s/%s: cannot sync the index (%s): staging files kept",
			a->project, a->name, strerror(synced));
	for (size_t i = 0; i < s->m.nentries && !synced; i++)
		if (ia->fold[i])
			fs_staging_drop(fs, s->inos[i]);
	fs_mutex_unlock(&art->lock);
	return 0;
}

/*
 * One try: snapshot under art->lock, cut, upload and write the manifest with no lock, then
 * install under art->lock. Whatever changed in between stays in the draft (install_fn).
 * EAGAIN when a staged file went away meanwhile: the caller tries again from a new snapshot.
 */
/* After a commit made version n (0: none) of a: the named runs that wrote it are told (what
 * `artifs run` prints). The runs that wrote the draft are let go only when no draft is left
 * (!kept): a run that wrote during the upload has its reads in the next version too. */
static void runs_done(struct fs *fs, struct fs_art *art, const struct meta_artifact *a,
		      uint64_t n, int kept)
{
	if (n) {
		char uri[2 * META_PA_MAX + 64];

		snprintf(uri, sizeof(uri), "artifs://%s/%s@v%" PRIu64, a->project, a->name, n);
		fs_lineage_made(fs, art, NULL, uri);
	}
	if (!kept) {
		fs_lineage_committed(fs, art);
		pthread_mutex_lock(&fs->lock);
		art->producer_pid = 0; /* the next draft's writer is read anew */
		pthread_mutex_unlock(&fs->lock);
	}
}

/* Whether the snapshot removes every file of an artifact with versions (`rm -r` of all it
 * holds, say): an empty version would break every reader of @latest and the tags, so only
 * an explicit commit publishes one. */
static int emptied(const struct snap *s, const struct meta_artifact *a, char *why,
		   size_t whylen)
{
	if (!a->latest || s->m.nentries != 1 || s->m.entries[0].nxattrs)
		return 0;
	snprintf(why, whylen, "held: the draft removes every file of the artifact; it is not "
		 "committed by itself: artifs commit publishes an empty version, artifs discard "
		 "brings the files back, artifs rm removes the artifact (after a discard; "
		 "restorable)");
	return 1;
}

static int commit_once(struct fs *fs, struct fs_art *art, const char *message, int asked,
		       uint64_t *made, char *why, size_t whylen)
{
	struct snap s = { 0 };
	struct install_arg ia = { .fs = fs, .s = &s };
	struct meta_artifact a;
	uint8_t digest[32], tree[32];
	int err, empty;

	*made = 0;
	err = uncertain_resolve(fs, art);
	if (err)
		return err;
	fs_mutex_lock(&art->lock);
	err = snapshot(fs, art, &s, &a, &empty);
	fs_mutex_unlock(&art->lock);
	if (err || empty)
		goto out;
	if (!asked && emptied(&s, &a, why, whylen)) {
		err = ECANCELED;
		goto out;
	}
	if (message) {
		free(s.m.message);
		s.m.message = strdup(message);
		if (!s.m.message) {
			err = ENOMEM;
			goto out;
		}
	}
	err = cut_all(fs, art, &s, why, whylen);
	/* The chunks were put lazily: durable before a manifest names them or the index marks
	 * them known good. */
	if (!err && (err = be_flush(fs->be)))
		snprintf(why, whylen, "cannot make the stored chunks durable: %s", strerror(err));
	if (err)
		goto out;
	meta_tree_digest(&s.m, tree);
	/* No change: the newest version's tree, or, before the first version, a HEAD that
	 * holds nothing (a file made and removed again publishes no empty @v1). */
	if (a.latest)
		ia.changed = memcmp(tree, a.tree_digest, 32) != 0;
	else
		ia.changed = s.m.nentries > 1 || s.m.entries[0].nxattrs > 0;
	if (ia.changed) {
		s.m.project = strdup(a.project);
		s.m.artifact = strdup(a.name);
		s.m.created_ns = fs_now_ns();
		pthread_mutex_lock(&fs->lock);
		if (art->producer[0])
			s.m.producer = strdup(art->producer);
		pthread_mutex_unlock(&fs->lock);
		err = manifest_store(fs, art, &a, &s, digest, why, whylen);
		if (err)
			goto out;
		ia.digest = digest;
	}
	err = install(fs, art, &a, &ia, why, whylen);
	if (err)
		goto out;
	/* What changed meanwhile was touched (fs_art_touch()) and is committed when quiet. */
	runs_done(fs, art, &a, ia.changed ? s.m.version : 0, ia.kept);
	if (ia.changed) {
		*made = s.m.version;
		atomic_fetch_add(&fs->st.commits, 1);
		log_msg(LOG_INFO, "committed %s/%s@v%" PRIu64 " (%zu entries)", a.project, a.name,
			s.m.version, s.m.nentries);
	} else {
		atomic_fetch_add(&fs->st.commit_noops, 1);
	}
out:
	committing_set(fs, art, 0);
	free(ia.fold);
	snap_release(&s);
	return err;
}

/* New snapshots a commit takes when staged files go away under it. */
#define COMMIT_TRIES 3

int fs_commit(struct fs *fs, struct fs_art *art, const char *message, int asked, uint64_t *made)
{
	char why[512] = "";
	uint64_t n = 0;
	int err;

	fs_mutex_lock(&art->commit_lock);
	fs_commits_running(fs, 1);
	for (int tries = 1;; tries++) {
		why[0] = '\0';
		err = commit_once(fs, art, message, asked, &n, why, sizeof(why));
		if (err != EAGAIN || tries == COMMIT_TRIES)
			break;
	}
	fs_commits_running(fs, -1);
	fs_mutex_unlock(&art->commit_lock);
	if (err == EAGAIN && !why[0]) {
		snprintf(why, sizeof(why), "files of the draft were removed while it was committed, "
			 "%d times; it is committed again when quiet", COMMIT_TRIES);
		log_msg(LOG_WARNING, "commit of artifact inode %" PRIu64 ": %s", art->ino, why);
	}
	if (err && !why[0])
		snprintf(why, sizeof(why), "%s", strerror(err));
	if (err && err != ECANCELED)
		atomic_fetch_add(&fs->st.commit_errors, 1);
	pthread_mutex_lock(&fs->lock);
	snprintf(art->why, sizeof(art->why), "%s", err ? why : "");
	pthread_mutex_unlock(&fs->lock);
	if (err == ECANCELED) {
		log_msg(LOG_NOTICE, "commit of artifact inode %" PRIu64 ": %s", art->ino, why);
		err = 0; /* held, not failed: no retry until the draft changes again */
	}
	if (made)
		*made = n;
	return err;
}

int fs_run_end(struct fs *fs, const char *id, const char *message)
{
	struct fs_art **v = NULL, **nv;
	size_t n = 0, cap = 0;
	int err = fs_lineage_end(fs, id), first = 0;

	if (err == ENOTSUP)
		return err; /* capture off: refused with its reason by the caller (xattr.c) */
	fs_lineage_made(fs, NULL, id, NULL); /* recorded, also when it makes nothing */
	if (err)
		return 0; /* it wrote nothing here */
	/* Its drafts, also those a quiet commit is storing now (fs_commit() waits for it). The
	 * list only grows at its head while the daemon runs. */
	pthread_mutex_lock(&fs->lock);
	for (struct fs_art *a = fs->arts; a && !first; a = a->next) {
		if (!(a->scheduled || a->busy) || !fs_lineage_wrote(fs, a, id))
			continue;
		nv = n == cap ? realloc(v, (cap = cap ? 2 * cap : 8) * sizeof(*v)) : v;
		if (!nv)
			first = ENOMEM;
		else
			(v = nv)[n++] = a;
	}
	pthread_mutex_unlock(&fs->lock);
	for (size_t i = 0; i < n; i++) {
		uint64_t made;

		err = fs_commit(fs, v[i], message, 0, &made);
		if (err && !first)
			first = err;
	}
	free(v);
	return first;
}

int fs_do_commit(struct fs *fs, const struct fuse_ctx *ctx, uint64_t ino, const char *message,
		 uint64_t *made)
{
	struct meta_inode in;
	struct fs_art *art;
	int err = fs_inode_read(fs, ino, &in);

	*made = 0;
	if (err)
		return err;
	if (in.kind != MK_ARTIFACT)
		return ENOTTY;
	if (ctx->uid != 0 && !(ctx->uid == in.uid && (in.mode & S_IWUSR)) &&
	    !(ctx->gid == in.gid && (in.mode & S_IWGRP)) && !(in.mode & S_IWOTH)) {
		char what[64];

		snprintf(what, sizeof(what), "of artifact inode %" PRIu64 " by uid %u", ino,
			 (unsigned)ctx->uid);
		return fs_refuse(EACCES, "commit", what,
				 "only root or a user who may write to the artifact folder commits it");
	}
	art = fs_art_get(fs, ino);
	if (!art)
		return ENOMEM;
	return fs_commit(fs, art, message[0] ? message : NULL, 1, made);
}

struct reset_arg {
	struct fs *fs;
	uint64_t art;
	const char *ref; /* revert: the version to make the HEAD ("v3", a tag, "latest") */
	uint64_t n;      /* revert: its number, once resolved */
	int changed;     /* revert: the HEAD now differs from the newest version */
	struct meta_inos drop; /* staged inodes of the old HEAD: their files go */
};

static int discard_fn(struct meta_txn *txn, void *arg)
{
	struct reset_arg *r = arg;
	struct meta_free fr = { fs_head_free_fn, r->fs };
	struct meta_artifact a;
	struct meta_xa_collect xc = { .root = 1 };
	int err = meta_artifact_get(txn, r->art, &a);

	if (err)
		return err;
	/* The HEAD root's own attributes are part of the draft: drop them first. */
	err = meta_xattr_iter(txn, a.ino, meta_xa_collect_fn, &xc);
	for (size_t k = 0; k < xc.n; k++) {
		if (!err)
			err = meta_xattr_del(txn, a.ino, xc.v[k].name);
		free(xc.v[k].name);
		free(xc.v[k].val);
	}
	free(xc.v);
	if (!err)
		err = pending_drop(txn, a.ino);
	if (!err && r->ref) {
		char uri[2 * META_PA_MAX + 64];
		struct meta_vref v;

		snprintf(uri, sizeof(uri), "artifs://%s/%s@%s", a.project, a.name,
			 r->ref[0] == '@' ? r->ref + 1 : r->ref);
		err = meta_uri_resolve(txn, uri, &v);
		if (err || v.artifact != a.ino)
			return ENOENT; /* no such version of this artifact */
		r->n = v.n;
	} else {
		r->n = a.latest;
	}
	if (!err)
		err = meta_head_reset(txn, &a, r->n, &fr, &r->drop);
	if (!err && r->n != a.latest) {
		char msg[64];

		r->changed = 1;
		snprintf(msg, sizeof(msg), "revert to @v%" PRIu64, r->n);
		err = meta_xattr_put(txn, a.ino, "user.artifs.message", msg, strlen(msg));
		if (!err)
			err = meta_artifact_draft_mark(txn, a.ino);
	}
	return err;
}

/* fs_discard() and fs_revert(): the HEAD becomes the tree of the version r names. */
static int head_reset(struct fs *fs, struct fs_art *art, struct reset_arg *r)
{
	int err;

	fs_mutex_lock(&art->commit_lock);
	fs_mutex_lock(&art->lock);
	err = meta_write(fs->meta, discard_fn, r);
	fs_mutex_unlock(&art->lock);
	fs_mutex_unlock(&art->commit_lock);
	if (err)
		return err;
	for (size_t i = 0; i < r->drop.n; i++)
		fs_staging_drop(fs, r->drop.v[i]);
	fs_lineage_committed(fs, art); /* what its writers wrote is gone: they are let go */
	if (r->changed) {
		fs_art_touch(fs, art); /* a draft like any other: committed when quiet */
	} else {
		pthread_mutex_lock(&fs->lock);
		art->scheduled = 0;
		pthread_mutex_unlock(&fs->lock);
	}
	return 0;
}

int fs_revert(struct fs *fs, struct fs_art *art, const char *ref)
{
	struct reset_arg r = { .fs = fs, .art = art->ino, .ref = ref };
	int err;

	if (!ref[0] || strchr(ref, '/'))
		return fs_refuse(EINVAL, "revert", ref, "not a version name (vN, a tag or latest)");
	err = head_reset(fs, art, &r);

	free(r.drop.v);
	if (err == ENOENT)
		return fs_refuse(EINVAL, "revert", ref, "no such version of this artifact");
	if (!err)
		log_msg(LOG_INFO, "HEAD of artifact inode %" PRIu64 " reverted to @v%" PRIu64 "%s",
			art->ino, r.n, r.changed ? "" : " (its newest version: the draft is gone)");
	return err;
}

int fs_discard(struct fs *fs, struct fs_art *art)
{
	struct reset_arg r = { .fs = fs, .art = art->ino };
	int err;

	err = head_reset(fs, art, &r);
	if (!err)
		log_msg(LOG_INFO, "draft of artifact inode %" PRIu64 " discarded", art->ino);
	free(r.drop.v);
	return err;
}

/* Quiet commits of different artifacts run side by side, so that one slow upload does not
 * hold back the others' versions. */
#define FS_COMMITTERS 4

struct quiet {
	struct fs *fs;
	struct fs_art *art;
};

/* A job of fs->committers: one quiet commit. A failed one is tried again after a pause. */
static void quiet_commit(void *arg)
{
	struct quiet *q = arg;
	struct fs *fs = q->fs;
	struct fs_art *a = q->art;
	int err = fs_commit(fs, a, NULL, 0, NULL);

	free(q);
	pthread_mutex_lock(&fs->lock);
	a->busy = 0;
	if (err) {
		a->scheduled = 1;
		a->failed = 1;
		a->last_change = fs_mono_ns();
	}
	pthread_cond_broadcast(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

/* Under fs->lock, which it drops while it hands pick to a committer (or, when no committer
 * thread could start, commits it here). */
static void quiet_start(struct fs *fs, struct fs_art *pick)
{
	struct quiet *q = malloc(sizeof(*q));

	pick->scheduled = 0;
	pick->busy = 1;
	if (!q) {
		/* No memory for the job: tried again after the pause a failure gets. */
		pick->busy = 0;
		pick->scheduled = 1;
		pick->failed = 1;
		pick->last_change = fs_mono_ns();
		return;
	}
	q->fs = fs;
	q->art = pick;
	pthread_mutex_unlock(&fs->lock);
	if (fs_pool_submit(fs->committers, quiet_commit, q))
		quiet_commit(q);
	pthread_mutex_lock(&fs->lock);
}

/* How often the runs of drafts waiting on them are looked at (a kill(pid, 0) each). */
#define JOB_POLL_NS 100000000LL

/* When art's draft is due (docs/jobs.md): at once when every run that wrote it has ended;
 * while a named run of them lives, when it ends or after commit_idle of quiet; else after
 * delay of quiet. Shortens *wait to poll the runs that live. Under fs->lock. */
static int64_t job_due(struct fs *fs, struct fs_art *a, int64_t delay, int64_t *wait)
{
	int64_t idle = (int64_t)fs->conf.commit_idle_ms * 1000000;

	switch (fs_lineage_job(fs, a)) {
	case FS_JOB_ENDED:
		return 0;
	case FS_JOB_HELD:
		return INT64_MAX - 5000000000LL; /* its run's end commits it (fs_run_end) */
	case FS_JOB_NAMED:
		if (*wait > JOB_POLL_NS)
			*wait = JOB_POLL_NS;
		return idle ? a->last_change + idle : INT64_MAX - 5000000000LL;
	case FS_JOB_PLAIN:
		if (*wait > JOB_POLL_NS)
			*wait = JOB_POLL_NS;
		return a->last_change + delay;
	default:
		return a->last_change + delay;
	}
}

static void *committer_main(void *arg)
{
	struct fs *fs = arg;
	int64_t delay = (int64_t)fs->conf.commit_delay_ms * 1000000, last_sweep = 0;

	pthread_mutex_lock(&fs->lock);
	while (!fs->stopping) {
		struct fs_art *pick = NULL;
		int64_t now = fs_mono_ns(), wait = 3600LL * 1000000000;
		struct timespec ts;

		for (struct fs_art *a = fs->arts; a; a = a->next) {
			int64_t due;

			if (!a->scheduled || a->writers || a->busy)
				continue;
			due = job_due(fs, a, delay, &wait);
			/* A failed commit is retried after a pause, not in a tight loop. */
			due += a->failed ? 5000000000LL : 0;
			if (due <= now) {
				pick = a;
				break;
			}
			if (due - now < wait)
				wait = due - now;
		}
		if (pick) {
			quiet_start(fs, pick);
			continue;
		}
		if (now - last_sweep > 2000000000LL) {
			pthread_mutex_unlock(&fs->lock);
			fs_lineage_sweep(fs);
			pthread_mutex_lock(&fs->lock);
			last_sweep = now;
		}
		if (wait > 2000000000LL)
			wait = 2000000000LL;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait / 1000000000;
		ts.tv_nsec += wait % 1000000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&fs->cond, &fs->lock, &ts);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

int fs_committer_start(struct fs *fs)
{
	pthread_condattr_t ca;
	int err;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->cond, &ca);
	pthread_condattr_destroy(&ca);
	err = fs_pool_create(FS_COMMITTERS, &fs->committers);
	if (!err)
		err = fs_pool_create(1, &fs->notifier);
	if (err)
		return err;
	err = pthread_create(&fs->committer, NULL, committer_main, fs);
	if (!err)
		fs->committer_started = 1;
	return err;
}

void fs_committer_stop(struct fs *fs)
{
	if (fs->committer_started) {
		pthread_mutex_lock(&fs->lock);
		fs->stopping = 1;
		pthread_cond_broadcast(&fs->cond);
		pthread_mutex_unlock(&fs->lock);
		pthread_join(fs->committer, NULL);
		fs->committer_started = 0;
	}
	fs_pool_destroy(fs->committers); /* the quiet commits running end first */
	fs->committers = NULL;
	fs_pool_destroy(fs->notifier);
	fs->notifier = NULL;
	/* Unmount commits what this session changed (recovered drafts stay drafts). */
	for (struct fs_art *a = fs->arts; a; a = a->next) {
		if (!a->scheduled)
			continue;
		if (fs_commit(fs, a, NULL, 0, NULL))
			log_msg(LOG_ERR, "unmount: a draft could not be committed; it is kept");
		a->scheduled = 0;
	}
}
