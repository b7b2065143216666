/* SPDX-License-Identifier: MIT */
/*
 * Store format 2: the pack indexes a version's manifest names, read in before the version is
 * installed (refresh, rebuild, a commit's uncertain outcome), so that its chunks can be found;
 * a manifest's runs turned into chunk lists and back. Fetching runs with no transaction open;
 * installing is one call inside the version's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fs_int.h"

/* The largest index object a pack can have (PACK_INDEX_MAX entries). */
#define INDEX_OBJECT_MAX (64u + 48u * PACK_INDEX_MAX)

/* Position of name in the sorted packs->v: *at, and whether it is there. */
static int packs_find(const struct fs_packs *packs, const uint8_t *name, size_t *at)
{
	size_t lo = 0, hi = packs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(packs->v[mid].name, name, PACK_NAME_LEN);

		if (c == 0) {
			*at = mid;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return 0;
}

int fs_pack_index_fetch(struct fs *fs, const uint8_t *name, const uint8_t *want,
			struct pack_index *ix)
{
	char key[BE_KEY_MAX];
	const char *why = NULL;
	void *buf = NULL;
	size_t len;
	int err = pack_key(name, 1, key, sizeof(key));

	if (!err)
		err = be_get_all(fs->be, key, INDEX_OBJECT_MAX, &buf, &len);
	if (!err) {
		err = pack_index_decode(buf, len, name, fs->sc.chunk_max, ix, &why);
		free(buf);
	}
	if (!err && want && memcmp(want, ix->digest, CHUNK_ID_LEN)) {
		pack_index_release(ix);
		why = "not the index the manifest names: another digest";
		err = EINVAL;
	}
	if (err == EINVAL)
		log_msg(LOG_WARNING, "store: %s is not a valid pack index (%s); skipped", key,
			why ? why : "too large");
	else if (err)
		log_msg(LOG_WARNING, "store: cannot read %s: %s; its chunks are unreadable", key,
			strerror(err));
	return err;
}

/* One index to fetch, as a job of the fetch pool. */
struct ifetch {
	struct fs *fs;
	const uint8_t *name, *digest;
	struct pack_index ix;
	int err;
};

static void ifetch_run(void *arg)
{
	struct ifetch *f = arg;

	f->err = fs_pack_index_fetch(f->fs, f->name, f->digest, &f->ix);
}

/* The packs m names that neither packs holds nor this host read in before: *out, *n. */
static int packs_wanted(struct fs *fs, const struct manifest *m, const struct fs_packs *packs,
			struct ifetch **out, size_t *n)
{
	struct meta_txn *txn;
	size_t at;
	int err = 0;

	*n = 0;
	*out = m->npacks ? calloc(m->npacks, sizeof(**out)) : NULL;
	if (m->npacks && !*out)
		return ENOMEM;
	if (m->npacks && (err = meta_txn_begin(fs->meta, 1, &txn)))
		return err;
	for (size_t i = 0; i < m->npacks && !err; i++) {
		struct meta_pack mp;

		if (packs_find(packs, m->packs[i].name, &at))
			continue;
		err = meta_pack_get(txn, m->packs[i].name, &mp);
		if (err == ENOENT)
			(*out)[(*n)++] = (struct ifetch){
				.fs = fs,
				.name = m->packs[i].name,
				.digest = m->format >= 2 ? m->packs[i].digest : NULL,
			};
		err = err == ENOENT ? 0 : err;
	}
	if (m->npacks)
		meta_txn_abort(txn);
	return err;
}

/* Index fetches in flight at once: each is one small GET. */
#define FETCH_THREADS 8

int fs_packs_fetch(struct fs *fs, const struct manifest *m, struct fs_packs *packs)
{
	struct fs_pool *pool = NULL;
	struct ifetch *f;
	size_t n;
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	err = packs_wanted(fs, m, packs, &f, &n);
	if (!err && n > 1)
		fs_pool_create(n < FETCH_THREADS ? (unsigned)n : FETCH_THREADS, &pool);
	for (size_t i = 0; i < n && !err; i++)
		if (!pool || fs_pool_submit(pool, ifetch_run, &f[i]))
			ifetch_run(&f[i]); /* one, or no thread could start: here */
	fs_pool_destroy(pool); /* waits for every fetch */
	for (size_t i = 0; i < n; i++) {
		struct pack_index *nv;
		size_t at;

		if (f[i].err == ENOMEM && !err)
			err = ENOMEM;
		if (f[i].err || err || packs_find(packs, f[i].name, &at)) {
			pack_index_release(&f[i].ix); /* skipped (logged), or a duplicate name */
			continue;
		}
		nv = be_grow(packs->v, packs->n, &packs->cap, sizeof(*nv));
		if (!nv) {
			pack_index_release(&f[i].ix);
			err = ENOMEM;
			continue;
		}
		packs->v = nv;
		memmove(nv + at + 1, nv + at, (packs->n - at) * sizeof(*nv));
		nv[at] = f[i].ix;
		packs->n++;
	}
	free(f);
	return err;
}

int fs_packs_install(struct meta_txn *txn, const struct fs_packs *packs)
{
	int err = 0;

	for (size_t i = 0; i < packs->n && !err; i++)
		err = meta_pack_read_in(txn, &packs->v[i], 0);
	return err;
}

int fs_chunk_unplaced(const struct chunk_ref *ref)
{
	static const uint8_t zero[CHUNK_ID_LEN];

	return memcmp(ref->id, zero, CHUNK_ID_LEN) == 0;
}

/* The chunk list of a file whose chunks cannot be placed: pieces of at most 1 GiB, each an
 * unplaced chunk (read as EIO, never fetched). */
static int unplaced(struct manifest_entry *e)
{
	const uint64_t piece = 1u << 30;
	size_t n = (size_t)((e->size + piece - 1) / piece);

	free(e->chunks);
	free(e->runs); /* installed as this chunk list, not as runs */
	e->runs = NULL;
	e->nruns = 0;
	e->chunks = n ? calloc(n, sizeof(*e->chunks)) : NULL;
	e->nchunks = 0;
	if (n && !e->chunks)
		return ENOMEM;
	for (uint64_t left = e->size; left; left -= e->chunks[e->nchunks++].len)
		e->chunks[e->nchunks].len = (uint32_t)(left < piece ? left : piece);
	return 0;
}

/* e's chunk list from its runs: 0, EINVAL with *why when they cannot be placed. */
static int runs_expand(struct meta_txn *txn, const struct manifest *m, struct manifest_entry *e,
		       const char **why)
{
	uint64_t total = 0, sum = 0;
	size_t k = 0;
	int err = 0;

	for (size_t r = 0; r < e->nruns; r++)
		total += e->runs[r].n; /* bounded by manifest_decode() */
	e->chunks = total ? calloc(total, sizeof(*e->chunks)) : NULL;
	if (total && !e->chunks)
		return ENOMEM;
	for (size_t r = 0; r < e->nruns && !err; r++) {
		const struct manifest_run *run = &e->runs[r];
		const struct manifest_pack *pk = &m->packs[run->pack];

		err = meta_pack_chunks(txn, pk->name, pk->digest, run->first, run->n,
				       e->chunks + k);
		if (err == ENOENT)
			*why = "a pack index it needs is missing or was skipped (see above)";
		else if (err == ESTALE)
			*why = "a pack index it needs is not the one the manifest names";
		else if (err == ERANGE)
			*why = "it names frames its pack index lacks";
		if (*why)
			err = EINVAL;
		for (uint32_t f = 0; f < run->n && !err; f++, k++)
			sum += e->chunks[k].len;
	}
	e->nchunks = k;
	if (!err && sum != e->size) {
		*why = "its chunks do not add up to its size";
		err = EINVAL;
	}
	return err;
}

int fs_packs_resolve(struct meta_txn *txn, struct manifest *m)
{
	const char *why = NULL, *first = NULL;
	size_t bad = 0;
	int err = 0;

	for (size_t i = 0; i < m->nentries && !err; i++) {
		struct manifest_entry *e = &m->entries[i];
		const char *w = NULL;

		if (!e->nruns || e->nchunks)
			continue;
		err = runs_expand(txn, m, e, &w);
		if (err != EINVAL)
			continue;
		err = unplaced(e);
		why = why ? why : w;
		first = first ? first : e->path;
		bad++;
	}
	if (bad)
		log_msg(LOG_WARNING, "store: %s/%s@v%" PRIu64 ": %zu file%s read as EIO (the first: "
			"\"%s\"): %s", m->project, m->artifact, m->version, bad, bad == 1 ? "" : "s",
			first, why);
	return err;
}

void fs_packs_release(struct fs_packs *packs)
{
	for (size_t i = 0; i < packs->n; i++)
		pack_index_release(&packs->v[i]);
	free(packs->v);
	memset(packs, 0, sizeof(*packs));
}

/* ---- the other way: a commit's manifest names its chunks as runs ---- */

/* A chunk of one of the commit's own packs: which one, and its frame there. */
struct own_loc {
	uint8_t id[CHUNK_ID_LEN];
	uint32_t pack, frame;
};

struct runs_ctx {
	struct meta_txn *txn;
	const struct pack_index *own;
	struct own_loc *locs; /* ascending by id */
	size_t nlocs;
};

static int own_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CHUNK_ID_LEN);
}

static int own_locs(struct runs_ctx *c, const struct pack_index *own, size_t nown)
{
	size_t n = 0;

	for (size_t p = 0; p < nown; p++)
		n += own[p].n;
	c->own = own;
	c->locs = n ? malloc(n * sizeof(*c->locs)) : NULL;
	if (n && !c->locs)
		return ENOMEM;
	for (size_t p = 0; p < nown; p++)
		for (size_t f = 0; f < own[p].n; f++) {
			struct own_loc *l = &c->locs[c->nlocs++];

			memcpy(l->id, own[p].v[f].id, CHUNK_ID_LEN);
			l->pack = (uint32_t)p;
			l->frame = (uint32_t)f;
		}
	if (n)
		qsort(c->locs, n, sizeof(*c->locs), own_cmp);
	return 0;
}

/* Where the chunk id lies: in an own pack, else where the index says (a pack it read in). */
static int loc_of(struct runs_ctx *c, const uint8_t *id, struct manifest_pack *pk,
		  uint32_t *frame)
{
	const struct own_loc *o =
		c->nlocs ? bsearch(id, c->locs, c->nlocs, sizeof(*c->locs), own_cmp) : NULL;
	struct pack_loc loc;
	struct meta_pack mp;
	int err;

	if (o) {
		memcpy(pk->name, c->own[o->pack].name, PACK_NAME_LEN);
		memcpy(pk->digest, c->own[o->pack].digest, CHUNK_ID_LEN);
		*frame = o->frame;
		return 0;
	}
	err = meta_chunk_loc_get(c->txn, id, &loc);
	if (!err)
		err = meta_pack_get(c->txn, loc.pack, &mp);
	if (!err && loc.frame >= mp.n)
		err = ENOENT;
	if (err)
		return err;
	memcpy(pk->name, loc.pack, PACK_NAME_LEN);
	memcpy(pk->digest, mp.digest, CHUNK_ID_LEN);
	*frame = loc.frame;
	return 0;
}

static int mpack_cmp(const void *a, const void *b)
{
	return memcmp(a, b, PACK_NAME_LEN);
}

/* First pass: the packs of every chunk, into m->packs, ascending, without duplicates. */
static int runs_packs(struct runs_ctx *c, struct manifest *m)
{
	size_t cap = 0, n;
	int err = 0;

	for (size_t i = 0; i < m->nentries && !err; i++) {
		const struct manifest_entry *e = &m->entries[i];

		for (size_t k = 0; k < e->nchunks && !err; k++) {
			struct manifest_pack pk, *nv;
			uint32_t frame;

			err = loc_of(c, e->chunks[k].id, &pk, &frame);
			if (err == ENOENT) {
				char hex[CHUNK_HEX_LEN + 1];

				chunk_id_hex(e->chunks[k].id, hex);
				log_msg(LOG_ERR, "commit: chunk %s of \"%s\" lies in no pack this host "
					"read in", hex, e->path);
				err = EIO;
			}
			if (err || (m->npacks && !memcmp(m->packs[m->npacks - 1].name, pk.name,
							 PACK_NAME_LEN)))
				continue; /* the same pack as the chunk before: most chunks */
			nv = be_grow(m->packs, m->npacks, &cap, sizeof(*m->packs));
			if (!nv)
				return ENOMEM;
			m->packs = nv;
			m->packs[m->npacks++] = pk;
		}
	}
	if (err || !m->npacks)
		return err;
	qsort(m->packs, m->npacks, sizeof(*m->packs), mpack_cmp);
	n = m->npacks;
	m->npacks = 1;
	for (size_t i = 1; i < n; i++)
		if (memcmp(m->packs[m->npacks - 1].name, m->packs[i].name, PACK_NAME_LEN))
			m->packs[m->npacks++] = m->packs[i];
	return 0;
}

/* Second pass: e's chunks as runs of consecutive frames of one pack. */
static int runs_entry(struct runs_ctx *c, const struct manifest *m, struct manifest_entry *e)
{
	size_t cap = 0;

	for (size_t k = 0; k < e->nchunks; k++) {
		struct manifest_pack pk, *at;
		struct manifest_run *last = e->nruns ? &e->runs[e->nruns - 1] : NULL, *nv;
		uint32_t frame, pi;
		int err = loc_of(c, e->chunks[k].id, &pk, &frame);

		if (err)
			return err == ENOENT ? EIO : err;
		at = bsearch(&pk, m->packs, m->npacks, sizeof(*m->packs), mpack_cmp);
		if (!at)
			return EIO; /* the first pass listed every pack */
		pi = (uint32_t)(at - m->packs);
		if (last && last->pack == pi && last->first + last->n == frame) {
			last->n++;
			continue;
		}
		nv = be_grow(e->runs, e->nruns, &cap, sizeof(*e->runs));
		if (!nv)
			return ENOMEM;
		e->runs = nv;
		e->runs[e->nruns++] = (struct manifest_run){ .pack = pi, .first = frame, .n = 1 };
	}
	return 0;
}

int fs_manifest_runs(struct fs *fs, struct manifest *m, const struct pack_index *own,
		     size_t nown)
{
	struct runs_ctx c = { 0 };
	int err = own_locs(&c, own, nown);

	if (!err)
		err = meta_txn_begin(fs->meta, 1, &c.txn);
	if (!err) {
		err = runs_packs(&c, m);
		for (size_t i = 0; i < m->nentries && !err; i++)
			err = runs_entry(&c, m, &m->entries[i]);
		meta_txn_abort(c.txn);
	}
	free(c.locs);
	m->format = 2;
	return err;
}
