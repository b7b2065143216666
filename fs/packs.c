/* SPDX-License-Identifier: MIT */
/*
 * Store format 2: the pack indexes a version's manifest names, read in before the version is
 * installed (refresh, rebuild, a commit's uncertain outcome), so that its chunks can be found.
 * Fetching runs with no transaction open; installing is one call inside the version's.
 */
#include <errno.h>
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

/* Reads and checks the index of pack name into *ix: 0, or a logged reason to skip it. */
static int index_fetch(struct fs *fs, const uint8_t *name, struct pack_index *ix)
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
	const uint8_t *name;
	struct pack_index ix;
	int err;
};

static void ifetch_run(void *arg)
{
	struct ifetch *f = arg;

	f->err = index_fetch(f->fs, f->name, &f->ix);
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
		if (packs_find(packs, m->packs[i], &at))
			continue;
		err = meta_pack_known(txn, m->packs[i]);
		if (err == ENOENT)
			(*out)[(*n)++] = (struct ifetch){ .fs = fs, .name = m->packs[i] };
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
		err = meta_pack_read_in(txn, &packs->v[i]);
	return err;
}

void fs_packs_release(struct fs_packs *packs)
{
	for (size_t i = 0; i < packs->n; i++)
		pack_index_release(&packs->v[i]);
	free(packs->v);
	memset(packs, 0, sizeof(*packs));
}
