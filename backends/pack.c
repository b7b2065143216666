/* SPDX-License-Identifier: MIT */
/*
 * Pack names, keys and the pack index codec of store format 2 (docs/store-format.md,
 * "Format 2: packs"). A pack holds chunk frames back to back; its index object lists them.
 * Decoding treats the index as hostile: every count, offset and length is bounded and
 * checked before it is used.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "backend.h"
#include <syslog.h>

#define PACK_MAGIC "ARTIFSPK"
#define PACK_INDEX_VERSION 1
#define PACK_INDEX_HDR (8 + 4 + 4 + PACK_NAME_LEN + 8)
#define PACK_INDEX_ENTRY (CHUNK_ID_LEN + 8 + 4 + 4)
#define PACK_INDEX_SUM CHUNK_ID_LEN

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

int pack_name_new(uint8_t name[PACK_NAME_LEN])
{
	size_t got = 0;

	while (got < PACK_NAME_LEN) {
		ssize_t r = getrandom(name + got, PACK_NAME_LEN - got, 0);

		if (r < 0 && errno != EINTR)
			return errno;
		if (r > 0)
			got += (size_t)r;
	}
	return 0;
}

int pack_key(const uint8_t name[PACK_NAME_LEN], int index, char *out, size_t len)
{
	char hex[2 * PACK_NAME_LEN + 1];
	int n;

	be_hex_encode(name, PACK_NAME_LEN, hex);
	n = snprintf(out, len, "%s%.2s/%s%s", BE_KEY_PACKS, hex, hex, index ? ".idx" : ".pack");
	return n < 0 || (size_t)n >= len ? ENAMETOOLONG : 0;
}

int pack_key_parse(const char *key, uint8_t name[PACK_NAME_LEN], int *index)
{
	const char *hex = key + strlen(BE_KEY_PACKS) + 3, *ext;

	if (strncmp(key, BE_KEY_PACKS, strlen(BE_KEY_PACKS)) || strlen(key) < (size_t)(hex - key))
		return EINVAL;
	ext = hex + 2 * PACK_NAME_LEN;
	if (strnlen(hex, 2 * PACK_NAME_LEN) < 2 * PACK_NAME_LEN || hex[-1] != '/' ||
	    strncmp(hex - 3, hex, 2))
		return EINVAL;
	if (strcmp(ext, ".idx") == 0)
		*index = 1;
	else if (strcmp(ext, ".pack") == 0)
		*index = 0;
	else
		return EINVAL;
	return be_hex_decode(hex, 2 * PACK_NAME_LEN, name, PACK_NAME_LEN);
}

/* The checks decode makes, also run by encode: artifs never writes what it would refuse. */
static const char *index_check(const struct pack_index *ix, uint32_t chunk_max)
{
	uint64_t end = 0;

	if (ix->n > PACK_INDEX_MAX)
		return "more entries than a pack may hold";
	if (ix->size > PACK_SIZE_MAX)
		return "a pack larger than the format allows";
	for (size_t i = 0; i < ix->n; i++) {
		const struct pack_entry *e = &ix->v[i];

		if (e->off < end)
			return "entries overlap or are out of order";
		if (e->flen < CHUNK_FRAME_HDR || e->off > ix->size || e->flen > ix->size - e->off)
			return "an entry lies outside the pack";
		if (e->len == 0 || e->len > chunk_max)
			return "an entry's length is outside the store's chunk sizes";
		/* A frame is raw (header + bytes) or zstd (never larger than raw: chunk.c). */
		if (e->flen > (uint64_t)CHUNK_FRAME_HDR + e->len)
			return "an entry's frame is larger than its bytes";
		end = e->off + e->flen;
	}
	return NULL;
}

int pack_index_encode(const struct pack_index *ix, uint32_t chunk_max, void **out,
		      size_t *len)
{
	size_t n = PACK_INDEX_HDR + ix->n * PACK_INDEX_ENTRY + PACK_INDEX_SUM;
	uint8_t *b, *p;

	if (index_check(ix, chunk_max))
		return EINVAL;
	b = malloc(n);
	if (!b)
		return ENOMEM;
	memcpy(b, PACK_MAGIC, 8);
	put_be32(b + 8, PACK_INDEX_VERSION);
	put_be32(b + 12, (uint32_t)ix->n);
	memcpy(b + 16, ix->name, PACK_NAME_LEN);
	put_be64(b + 16 + PACK_NAME_LEN, ix->size);
	p = b + PACK_INDEX_HDR;
	for (size_t i = 0; i < ix->n; i++, p += PACK_INDEX_ENTRY) {
		memcpy(p, ix->v[i].id, CHUNK_ID_LEN);
		put_be64(p + CHUNK_ID_LEN, ix->v[i].off);
		put_be32(p + CHUNK_ID_LEN + 8, ix->v[i].flen);
		put_be32(p + CHUNK_ID_LEN + 12, ix->v[i].len);
	}
	chunk_hash(b, n - PACK_INDEX_SUM, p);
	*out = b;
	*len = n;
	return 0;
}

/* Header fields and the checksum: NULL, or why buf is no index of pack name. */
static const char *index_frame(const uint8_t *b, size_t len, const uint8_t name[PACK_NAME_LEN],
			       uint32_t *count)
{
	uint8_t sum[CHUNK_ID_LEN];

	if (len < PACK_INDEX_HDR + PACK_INDEX_SUM || memcmp(b, PACK_MAGIC, 8))
		return "not a pack index";
	if (get_be32(b + 8) != PACK_INDEX_VERSION)
		return "a pack index version this artifs does not read";
	*count = get_be32(b + 12);
	if (*count > PACK_INDEX_MAX ||
	    len != PACK_INDEX_HDR + (size_t)*count * PACK_INDEX_ENTRY + PACK_INDEX_SUM)
		return "its length does not match its entry count";
	if (memcmp(b + 16, name, PACK_NAME_LEN))
		return "it names another pack";
	chunk_hash(b, len - PACK_INDEX_SUM, sum);
	if (memcmp(sum, b + len - PACK_INDEX_SUM, CHUNK_ID_LEN))
		return "its checksum does not match (damaged)";
	return NULL;
}

int pack_index_decode(const void *buf, size_t len, const uint8_t name[PACK_NAME_LEN],
		      uint32_t chunk_max, struct pack_index *ix, const char **why)
{
	const uint8_t *b = buf, *p;
	uint32_t count = 0;
	const char *bad = index_frame(b, len, name, &count);

	memset(ix, 0, sizeof(*ix));
	if (!bad && count && !(ix->v = calloc(count, sizeof(*ix->v))))
		return ENOMEM;
	if (!bad) {
		memcpy(ix->name, name, PACK_NAME_LEN);
		memcpy(ix->digest, b + len - PACK_INDEX_SUM, CHUNK_ID_LEN);
		ix->size = get_be64(b + 16 + PACK_NAME_LEN);
		ix->n = count;
		p = b + PACK_INDEX_HDR;
		for (size_t i = 0; i < count; i++, p += PACK_INDEX_ENTRY) {
			memcpy(ix->v[i].id, p, CHUNK_ID_LEN);
			ix->v[i].off = get_be64(p + CHUNK_ID_LEN);
			ix->v[i].flen = get_be32(p + CHUNK_ID_LEN + 8);
			ix->v[i].len = get_be32(p + CHUNK_ID_LEN + 12);
		}
		bad = index_check(ix, chunk_max);
	}
	if (bad) {
		pack_index_release(ix);
		if (why)
			*why = bad;
		return EINVAL;
	}
	return 0;
}

void pack_index_release(struct pack_index *ix)
{
	free(ix->v);
	ix->v = NULL;
	ix->n = 0;
}

/* ---- the writer: one commit's new chunks into packs ---- */

#define PACKS_SEALED_MAX 2

/* A pack being filled. Its buffer is allocated at its largest size up front, so threads copy
 * their frames into their reserved ranges without the writer's lock. */
struct open_pack {
	struct pack_index ix; /* ix.size: bytes reserved so far */
	size_t cap_entries, cap_bytes;
	uint8_t *buf;
	unsigned copying; /* threads copying into buf now */
	int sealed;       /* full, or finishing: stored by the last thread out */
};

struct pack_writer {
	struct be *be;
	size_t target;
	uint32_t chunk_max;
	pthread_mutex_t m;
	pthread_cond_t turn; /* next moved on */
	uint64_t next;       /* the seq whose frame is placed next */
	pthread_cond_t stored; /* a sealed pack was stored (or failed) */
	unsigned sealed;       /* packs sealed and not yet stored */
	struct open_pack *cur;
	struct pack_index *done; /* stored packs, their entries */
	size_t ndone, cap_done;
	int err; /* the first store error: every later add and the finish return it */
};

int pack_writer_create(struct be *be, size_t target, uint32_t chunk_max,
		       struct pack_writer **out)
{
	struct pack_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return ENOMEM;
	w->be = be;
	w->target = target;
	w->chunk_max = chunk_max;
	pthread_mutex_init(&w->m, NULL);
	pthread_cond_init(&w->turn, NULL);
	pthread_cond_init(&w->stored, NULL);
	*out = w;
	return 0;
}

static void open_pack_free(struct open_pack *p)
{
	if (!p)
		return;
	be_buf_free(p->buf);
	pack_index_release(&p->ix);
	free(p);
}

static struct open_pack *open_pack_new(struct pack_writer *w)
{
	struct open_pack *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	/* A pack holds at most target bytes, or one frame alone when that is larger. */
	p->cap_bytes = w->target > CHUNK_FRAME_HDR + (size_t)w->chunk_max
			       ? w->target
			       : CHUNK_FRAME_HDR + (size_t)w->chunk_max;
	p->buf = be_buf_alloc(p->cap_bytes);
	if (!p->buf || pack_name_new(p->ix.name)) {
		open_pack_free(p);
		return NULL;
	}
	return p;
}

/* Stores p, then its index (no lock held); on success its index joins w->done. */
static int open_pack_store(struct pack_writer *w, struct open_pack *p)
{
	char key[BE_KEY_MAX];
	void *idx = NULL;
	size_t ilen;
	int err = pack_key(p->ix.name, 0, key, sizeof(key));

	if (!err)
		err = be_put_lazy(w->be, key, p->buf, p->ix.size);
	if (!err)
		err = pack_index_encode(&p->ix, w->chunk_max, &idx, &ilen);
	if (!err)
		err = pack_key(p->ix.name, 1, key, sizeof(key));
	if (!err)
		err = be_put_lazy(w->be, key, idx, ilen);
	if (!err)
		memcpy(p->ix.digest, (uint8_t *)idx + ilen - PACK_INDEX_SUM, CHUNK_ID_LEN);
	free(idx);
	pthread_mutex_lock(&w->m);
	if (!err) {
		struct pack_index *nd = be_grow(w->done, w->ndone, &w->cap_done, sizeof(*nd));

		if (nd) {
			w->done = nd;
			w->done[w->ndone++] = p->ix;
			memset(&p->ix, 0, sizeof(p->ix));
		} else {
			err = ENOMEM;
		}
	}
	if (err && !w->err)
		w->err = err;
	w->sealed--;
	pthread_cond_broadcast(&w->stored);
	pthread_mutex_unlock(&w->m);
	if (err)
		log_msg(LOG_ERR, "cannot store a pack of %zu bytes: %s", (size_t)p->ix.size,
			strerror(err));
	open_pack_free(p);
	return err;
}

/* Under w->m: reserves flen bytes and an entry in the open pack (NULL on ENOMEM). A frame
 * that would take the open pack past target goes into a new one: the old one is sealed, and
 * *full receives it when nobody copies into it any more (the caller stores it). */
static struct open_pack *reserve(struct pack_writer *w, const struct chunk_ref *ref,
				 size_t flen, uint64_t *off, uint32_t *frame,
				 struct open_pack **full)
{
	struct open_pack *p = w->cur;
	struct pack_entry *nv;

	*full = NULL;
	if (p && p->ix.n && p->ix.size + flen > w->target) {
		p->sealed = 1;
		w->sealed++;
		w->cur = NULL;
		if (!p->copying)
			*full = p;
		p = NULL;
	}
	if (!p && !(p = w->cur = open_pack_new(w)))
		return NULL;
	nv = be_grow(p->ix.v, p->ix.n, &p->cap_entries, sizeof(*nv));
	if (!nv || p->ix.n >= PACK_INDEX_MAX)
		return NULL;
	p->ix.v = nv;
	*off = p->ix.size;
	*frame = (uint32_t)p->ix.n;
	memcpy(nv[p->ix.n].id, ref->id, CHUNK_ID_LEN);
	nv[p->ix.n].off = *off;
	nv[p->ix.n].flen = (uint32_t)flen;
	nv[p->ix.n].len = ref->len;
	p->ix.n++;
	p->ix.size += flen;
	p->copying++;
	if (p->ix.size >= w->target || p->ix.n == PACK_INDEX_MAX) {
		p->sealed = 1;
		w->sealed++;
		w->cur = NULL;
	}
	return p;
}

/* Under w->m: waits for seq's turn. */
static void turn_wait(struct pack_writer *w, uint64_t seq)
{
	while (w->next != seq)
		pthread_cond_wait(&w->turn, &w->m);
}

/* Under w->m: seq placed its frame (or had none); the next one may go. */
static void turn_pass(struct pack_writer *w)
{
	w->next++;
	pthread_cond_broadcast(&w->turn);
}

void pack_writer_skip(struct pack_writer *w, uint64_t seq)
{
	pthread_mutex_lock(&w->m);
	turn_wait(w, seq);
	turn_pass(w);
	pthread_mutex_unlock(&w->m);
}

/* Under w->m: one more frame of p is copied; says whether p is now to be stored. */
static int copied(struct open_pack *p)
{
	return --p->copying == 0 && p->sealed;
}

int pack_writer_add(struct pack_writer *w, uint64_t seq, size_t n, const void *const plain[],
		    const struct chunk_ref ref[], int level, struct pack_loc loc[],
		    uint64_t *added)
{
	struct add_frame {
		struct open_pack *p, *full;
		void *z;
		size_t flen;
		uint64_t off;
		uint32_t frame;
	} *f = n ? calloc(n, sizeof(*f)) : NULL;
	uint64_t sum = 0;
	size_t placed = 0;
	int err = n && !f ? ENOMEM : 0;

	/* Compressing runs in parallel; only placing the frames goes in the order of seq. A
	 * raw frame is written straight into the pack: no chunk-sized copy per thread. */
	for (size_t i = 0; i < n && !err; i++) {
		err = ref[i].len > w->chunk_max
			      ? EINVAL
			      : chunk_frame_zstd(plain[i], ref[i].len, level, &f[i].z, &f[i].flen);
		if (!err && !f[i].z)
			f[i].flen = CHUNK_FRAME_HDR + (size_t)ref[i].len;
	}
	pthread_mutex_lock(&w->m);
	/* At most PACKS_SEALED_MAX packs wait to be stored while the next fills, so that a slow
	 * store bounds the writer's memory instead of piling up 8 MiB buffers. Whoever must
	 * store a sealed pack is past this point, never waiting here. */
	while (w->sealed >= PACKS_SEALED_MAX && !w->err)
		pthread_cond_wait(&w->stored, &w->m);
	turn_wait(w, seq);
	err = err ? err : w->err;
	for (; placed < n && !err; placed++) {
		struct add_frame *a = &f[placed];

		if (!(a->p = reserve(w, &ref[placed], a->flen, &a->off, &a->frame, &a->full)))
			err = ENOMEM;
	}
	turn_pass(w);
	pthread_mutex_unlock(&w->m);
	/* A pack sealed by one of these frames while nobody copied into it is ours to store;
	 * so is one whose last copy ends here. */
	for (size_t i = 0; i < placed; i++) {
		struct add_frame *a = &f[i];
		int serr;

		if (a->full && (serr = open_pack_store(w, a->full)) && !err)
			err = serr;
		if (!a->p)
			continue;
		if (a->z) {
			memcpy(a->p->buf + a->off, a->z, a->flen);
		} else {
			chunk_frame_raw_header(a->p->buf + a->off, ref[i].len);
			memcpy(a->p->buf + a->off + CHUNK_FRAME_HDR, plain[i], ref[i].len);
		}
		memcpy(loc[i].pack, a->p->ix.name, PACK_NAME_LEN);
		loc[i].off = a->off;
		loc[i].flen = (uint32_t)a->flen;
		loc[i].frame = a->frame;
		sum += a->flen;
	}
	for (size_t i = 0; i < placed; i++) {
		struct open_pack *p = f[i].p;
		int store, serr;

		if (!p)
			continue;
		pthread_mutex_lock(&w->m);
		store = copied(p);
		pthread_mutex_unlock(&w->m);
		if (store && (serr = open_pack_store(w, p)) && !err)
			err = serr;
	}
	for (size_t i = 0; i < n && f; i++)
		be_buf_free(f[i].z);
	free(f);
	if (!err && added)
		*added = sum;
	return err;
}

int pack_writer_finish(struct pack_writer *w, const struct pack_index **packs, size_t *n)
{
	struct open_pack *p;
	int err;

	pthread_mutex_lock(&w->m);
	p = w->cur;
	w->cur = NULL;
	pthread_mutex_unlock(&w->m);
	if (p) {
		/* Every add returned: nobody copies into p any more. */
		p->sealed = 1;
		pthread_mutex_lock(&w->m);
		w->sealed++;
		pthread_mutex_unlock(&w->m);
		open_pack_store(w, p);
	}
	pthread_mutex_lock(&w->m);
	err = w->err;
	pthread_mutex_unlock(&w->m);
	*packs = w->done;
	*n = err ? 0 : w->ndone;
	return err;
}

void pack_writer_destroy(struct pack_writer *w)
{
	if (!w)
		return;
	open_pack_free(w->cur);
	for (size_t i = 0; i < w->ndone; i++)
		pack_index_release(&w->done[i]);
	free(w->done);
	pthread_mutex_destroy(&w->m);
	pthread_cond_destroy(&w->turn);
	pthread_cond_destroy(&w->stored);
	free(w);
}
