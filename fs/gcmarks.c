/* SPDX-License-Identifier: MIT */
/*
 * What gc's objects tell a commit (docs/gc.md, "Why a chunk another host is about to use
 * survives"): the packs condemned (gc/condemned/<pack>) and those deleted (the records
 * gc/swept/<run>), which no manifest may name. A commit lists both right before it writes its
 * manifest (fs_gc_check()); the index forgets the packs of every record it had not applied
 * yet, and what is to be avoided is kept in fs->gc_avoid for the next commits' deduplication
 * (upload.c) and for the copies of chunks out of such packs (commit.c). Also the sets of pack
 * names and the mark bodies gc.c uses.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

static int name_cmp(const void *a, const void *b)
{
	return memcmp(a, b, PACK_NAME_LEN);
}

int fs_names_add(struct fs_names *s, const uint8_t *name)
{
	void *nv = be_grow(s->v, s->n, &s->cap, sizeof(*s->v));

	if (!nv)
		return ENOMEM;
	s->v = nv;
	memcpy(s->v[s->n++], name, PACK_NAME_LEN);
	return 0;
}

void fs_names_sort(struct fs_names *s)
{
	size_t n = 0;

	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(*s->v), name_cmp);
	for (size_t i = 1; i < s->n; i++)
		if (memcmp(s->v[n], s->v[i], PACK_NAME_LEN))
			memcpy(s->v[++n], s->v[i], PACK_NAME_LEN);
	s->n = n + 1;
}

int fs_names_has(const struct fs_names *s, const uint8_t *name)
{
	return s->n && bsearch(name, s->v, s->n, sizeof(*s->v), name_cmp) != NULL;
}

void fs_names_release(struct fs_names *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int fs_gc_name_parse(const char *hex, uint8_t name[PACK_NAME_LEN])
{
	return strlen(hex) == 2 * PACK_NAME_LEN ? be_hex_decode(hex, 2 * PACK_NAME_LEN, name,
								   PACK_NAME_LEN)
						 : EINVAL;
}

/* The packs of a record gc/swept/<run> added to packs: 0, ENOENT, EINVAL (logged). */
static int record_read(struct be *be, const char *key, struct fs_names *packs)
{
	json_error_t jerr;
	json_t *o, *a, *x;
	void *buf = NULL;
	size_t len, i;
	int err = be_get_all(be, key, GC_RECORD_MAX, &buf, &len);

	if (err)
		return err;
	o = json_loadb(buf, len, 0, &jerr);
	free(buf);
	a = o ? json_object_get(o, "packs") : NULL;
	if (!json_is_array(a)) {
		json_decref(o);
		log_msg(LOG_WARNING, "store: %s is not a record of packs gc deleted; skipped", key);
		return EINVAL;
	}
	json_array_foreach(a, i, x) {
		uint8_t name[PACK_NAME_LEN];

		if (json_is_string(x) && !fs_gc_name_parse(json_string_value(x), name) &&
		    (err = fs_names_add(packs, name)))
			break;
	}
	json_decref(o);
	return err;
}

/* A key of gc/condemned/: its pack joins the set. */
static int condemned_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	uint8_t name[PACK_NAME_LEN];

	return fs_gc_name_parse(key + strlen(GC_CONDEMNED), name) ? 0 : fs_names_add(arg, name);
}

static int applied(const struct fs *fs, const char *key)
{
	for (size_t i = 0; i < fs->gc_records.n; i++)
		if (!strcmp(fs->gc_records.v[i], key))
			return 1;
	return 0;
}

static int forget_fn(struct meta_txn *txn, void *arg)
{
	const struct fs_names *packs = arg;
	int err = 0;

	for (size_t i = 0; i < packs->n && !err; i++)
		err = meta_pack_forget(txn, packs->v[i]);
	return err;
}

/* A record not applied before: the index forgets its packs, which join swept. */
static int record_apply(struct fs *fs, const char *key, struct fs_names *swept)
{
	struct fs_names packs = { 0 };
	int err = record_read(fs->be, key, &packs);

	if (err == ENOENT || err == EINVAL)
		err = 0; /* expired meanwhile; or not one (logged) */
	if (!err && packs.n)
		err = meta_write(fs->meta, forget_fn, &packs);
	for (size_t i = 0; i < packs.n && !err; i++)
		err = fs_names_add(swept, packs.v[i]);
	fs_names_release(&packs);
	if (err)
		return err;
	pthread_mutex_lock(&fs->lock);
	fs_keys_fn(&fs->gc_records, key, 0, -1); /* out of memory: applied again next time */
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

int fs_gc_avoid_refresh(struct fs *fs)
{
	struct fs_names avoid = { 0 };
	struct fs_keys records = { 0 };
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	err = be_list(fs->be, GC_CONDEMNED, condemned_fn, &avoid);
	if (!err)
		err = be_list(fs->be, GC_SWEPT, fs_keys_fn, &records);
	for (size_t i = 0; i < records.n && !err; i++) {
		int seen;

		pthread_mutex_lock(&fs->lock);
		seen = applied(fs, records.v[i]);
		pthread_mutex_unlock(&fs->lock);
		if (!seen)
			err = record_apply(fs, records.v[i], &avoid);
	}
	fs_keys_free(&records);
	if (err) {
		fs_names_release(&avoid);
		return err;
	}
	/* The packs of records applied now are in it too: the index no longer knows them, but
	 * the manifest about to be checked was made before. */
	fs_names_sort(&avoid);
	pthread_mutex_lock(&fs->lock);
	fs_names_release(&fs->gc_avoid);
	fs->gc_avoid = avoid;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

int fs_gc_avoiding(struct fs *fs)
{
	int any;

	pthread_mutex_lock(&fs->lock);
	any = fs->gc_avoid.n > 0;
	pthread_mutex_unlock(&fs->lock);
	return any;
}

int fs_gc_avoids(struct fs *fs, const uint8_t *pack)
{
	int has;

	pthread_mutex_lock(&fs->lock);
	has = fs_names_has(&fs->gc_avoid, pack);
	pthread_mutex_unlock(&fs->lock);
	return has;
}

#define CHECKED "gc_checked_ns"
#define DAY_NS (86400LL * 1000000000LL)

static int checked_put(struct meta_txn *txn, void *arg)
{
	return meta_conf_u64_put(txn, CHECKED, *(uint64_t *)arg);
}

/* When this index last looked at gc's records (0: never), from the index. */
static int checked_get(struct fs *fs, uint64_t *ns)
{
	struct meta_txn *txn;
	int err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return err;
	err = meta_conf_u64_get(txn, CHECKED, ns);
	meta_txn_abort(txn);
	if (err == ENOENT) {
		*ns = 0;
		err = 0;
	}
	return err;
}

static int forget_one(struct meta_txn *txn, void *arg)
{
	return meta_pack_forget(txn, arg);
}

/* An index that has not looked at the records for longer than half their keep (a host away
 * that long, or a new index) may locate chunks in packs whose record expired: each pack m
 * names must then exist; a missing one is forgotten and the commit made again (EAGAIN). */
static int long_away(struct fs *fs, const struct manifest *m, char *why, size_t whylen)
{
	uint64_t last, now = (uint64_t)fs_now_ns();
	int err = checked_get(fs, &last), missing = 0;

	if (err || last + (uint64_t)FS_GC_RECORD_KEEP_DAYS / 2 * DAY_NS > now)
		return err;
	for (size_t p = 0; p < m->npacks && !err; p++) {
		char key[BE_KEY_MAX];
		uint64_t size;

		err = pack_key(m->packs[p].name, 1, key, sizeof(key));
		if (!err && (err = be_head(fs->be, key, &size)) == ENOENT) {
			missing = 1;
			err = meta_write(fs->meta, forget_one, (void *)m->packs[p].name);
		}
	}
	if (!err && !missing && last + DAY_NS < now)
		err = meta_write(fs->meta, checked_put, &now);
	if (!err && missing) {
		snprintf(why, whylen, "a pack the version would name is gone from the store (gc "
			 "deleted it while this index was not looking): its chunks are stored again");
		log_msg(LOG_NOTICE, "commit: %s", why);
		return EAGAIN;
	}
	return err;
}

int fs_gc_check(struct fs *fs, const struct manifest *m, char *why, size_t whylen)
{
	int err = fs_gc_avoid_refresh(fs);

	if (!err)
		err = long_away(fs, m, why, whylen);
	if (err == EAGAIN)
		return err;
	if (err) {
		snprintf(why, whylen, "cannot list what gc condemned in the store: %s",
			 strerror(err));
		return err;
	}
	for (size_t p = 0; p < m->npacks; p++) {
		char hex[2 * PACK_NAME_LEN + 1];

		if (!fs_gc_avoids(fs, m->packs[p].name))
			continue;
		be_hex_encode(m->packs[p].name, PACK_NAME_LEN, hex);
		snprintf(why, whylen, "pack %s, which the version would name, was condemned by gc "
			 "meanwhile: its chunks are stored again", hex);
		log_msg(LOG_NOTICE, "commit: %s", why);
		return EAGAIN;
	}
	return 0;
}

void fs_gc_marks_free(struct fs *fs)
{
	fs_names_release(&fs->gc_avoid);
	fs_keys_free(&fs->gc_records);
}
