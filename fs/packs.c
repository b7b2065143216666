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

int fs_packs_fetch(struct fs *fs, const struct manifest *m, struct fs_packs *packs)
{
	struct meta_txn *txn;
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	for (size_t i = 0; i < m->npacks; i++) {
		struct pack_index ix, *nv;
		size_t at;

		if (packs_find(packs, m->packs[i], &at))
			continue;
		err = meta_txn_begin(fs->meta, 1, &txn);
		if (err)
			return err;
		err = meta_pack_known(txn, m->packs[i]);
		meta_txn_abort(txn);
		if (err != ENOENT) {
			if (err)
				return err;
			continue;
		}
		err = index_fetch(fs, m->packs[i], &ix);
		if (err == ENOMEM)
			return err;
		if (err)
			continue; /* logged; the rest of the version still reads */
		nv = be_grow(packs->v, packs->n, &packs->cap, sizeof(*nv));
		if (!nv) {
			pack_index_release(&ix);
			return ENOMEM;
		}
		packs->v = nv;
		memmove(nv + at + 1, nv + at, (packs->n - at) * sizeof(*nv));
		nv[at] = ix;
		packs->n++;
	}
	return 0;
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
