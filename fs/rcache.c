/* SPDX-License-Identifier: MIT */
/*
 * Decoded chunks in memory. The kernel reads 128 KiB at a time and a chunk is megabytes, so
 * each chunk is fetched, unframed and verified once and then served from here until evicted.
 * Readers that miss the same chunk at once wait for one fetch. The bound counts only chunks
 * nobody holds; chunks in use are never freed under a reader.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

#define RC_BUCKETS 4096
#define RC_DEFAULT_BOUND (32ULL << 20)

struct rchunk {
	struct chunk_ref ref;
	uint8_t *data;
	int refs;
	int loading;
	int err;
	struct rchunk *hnext;           /* hash chain */
	struct rchunk *lprev, *lnext;   /* LRU list of unheld chunks */
};

struct rcache {
	pthread_mutex_t lock;
	pthread_cond_t loaded;
	uint64_t bound, bytes;
	struct rchunk *buckets[RC_BUCKETS];
	struct rchunk *lru_head, *lru_tail; /* head = most recent */
};

int rcache_create(uint64_t bound, struct rcache **out)
{
	struct rcache *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return ENOMEM;
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->loaded, NULL);
	rc->bound = bound ? bound : RC_DEFAULT_BOUND;
	*out = rc;
	return 0;
}

void rcache_destroy(struct rcache *rc)
{
	for (size_t i = 0; i < RC_BUCKETS; i++) {
		struct rchunk *c = rc->buckets[i], *n;

		for (; c; c = n) {
			n = c->hnext;
			free(c->data);
			free(c);
		}
	}
	pthread_mutex_destroy(&rc->lock);
	pthread_cond_destroy(&rc->loaded);
	free(rc);
}

static size_t bucket(const uint8_t id[CHUNK_ID_LEN])
{
	size_t h;

	memcpy(&h, id, sizeof(h)); /* a SHA-256 is already uniform */
	return h % RC_BUCKETS;
}

static void lru_unlink(struct rcache *rc, struct rchunk *c)
{
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else if (rc->lru_head == c)
		rc->lru_head = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else if (rc->lru_tail == c)
		rc->lru_tail = c->lprev;
	c->lprev = c->lnext = NULL;
}

static void hash_unlink(struct rcache *rc, struct rchunk *c)
{
	struct rchunk **pp = &rc->buckets[bucket(c->ref.id)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
}

/* Frees unheld chunks, oldest first, until the bound holds. Caller holds rc->lock. */
static void evict(struct rcache *rc)
{
	while (rc->bytes > rc->bound && rc->lru_tail) {
		struct rchunk *c = rc->lru_tail;

		lru_unlink(rc, c);
		hash_unlink(rc, c);
		rc->bytes -= c->ref.len;
		free(c->data);
		free(c);
	}
}

int rcache_get(struct fs *fs, const struct chunk_ref *ref, struct rchunk **out,
	       const uint8_t **data)
{
	struct rcache *rc = fs->rc;
	size_t b = bucket(ref->id);
	struct rchunk *c;
	int err;

	pthread_mutex_lock(&rc->lock);
	for (c = rc->buckets[b]; c; c = c->hnext)
		if (memcmp(c->ref.id, ref->id, CHUNK_ID_LEN) == 0 && c->ref.len == ref->len)
			break;
	if (c) {
		if (c->refs++ == 0)
			lru_unlink(rc, c);
		while (c->loading)
			pthread_cond_wait(&rc->loaded, &rc->lock);
		err = c->err;
		pthread_mutex_unlock(&rc->lock);
		if (err) {
			rcache_put(rc, c);
			return err;
		}
		atomic_fetch_add(&fs->st.rcache_hits, 1);
		*out = c;
		*data = c->data;
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&rc->lock);
		return ENOMEM;
	}
	c->ref = *ref;
	c->refs = 1;
	c->loading = 1;
	c->hnext = rc->buckets[b];
	rc->buckets[b] = c;
	pthread_mutex_unlock(&rc->lock);

	atomic_fetch_add(&fs->st.rcache_misses, 1);
	c->data = malloc(ref->len ? ref->len : 1);
	err = c->data ? chunk_fetch(fs->be, ref, c->data) : ENOMEM;
	if (err == ENOENT) {
		char hex[CHUNK_HEX_LEN + 1];

		chunk_id_hex(ref->id, hex);
		log_msg(LOG_ERR, "chunk %s is missing from the store", hex);
		err = EIO;
	}
	if (!err) {
		atomic_fetch_add(&fs->st.chunks_fetched, 1);
		atomic_fetch_add(&fs->st.bytes_fetched, ref->len);
	}

	pthread_mutex_lock(&rc->lock);
	c->loading = 0;
	c->err = err;
	if (!err)
		rc->bytes += ref->len;
	else
		hash_unlink(rc, c); /* a failed fetch is retried by the next reader */
	pthread_cond_broadcast(&rc->loaded);
	pthread_mutex_unlock(&rc->lock);
	if (err) {
		rcache_put(rc, c);
		return err;
	}
	*out = c;
	*data = c->data;
	return 0;
}

void rcache_put(struct rcache *rc, struct rchunk *c)
{
	pthread_mutex_lock(&rc->lock);
	if (--c->refs == 0) {
		if (c->err) {
			/* Already out of the hash table; the last holder frees it. */
			free(c->data);
			free(c);
		} else {
			c->lnext = rc->lru_head;
			if (rc->lru_head)
				rc->lru_head->lprev = c;
			rc->lru_head = c;
			if (!rc->lru_tail)
				rc->lru_tail = c;
			evict(rc);
		}
	}
	pthread_mutex_unlock(&rc->lock);
}

int fs_read_chunks(struct fs *fs, struct fs_handle *h, uint64_t off, size_t len, char *buf,
		   size_t *got)
{
	size_t lo = 0, hi = h->nchunks, done = 0;

	*got = 0;
	if (off >= h->size)
		return 0;
	if (len > h->size - off)
		len = h->size - off;
	/* The last chunk whose start is <= off. */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (h->offsets[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	for (size_t i = lo; done < len && i < h->nchunks; i++) {
		struct rchunk *c;
		const uint8_t *data;
		uint64_t in = off + done - h->offsets[i];
		size_t n = h->chunks[i].len - in;
		int err = rcache_get(fs, &h->chunks[i], &c, &data);

		if (err) {
			atomic_fetch_add(&fs->st.read_errors, 1);
			return err;
		}
		if (n > len - done)
			n = len - done;
		memcpy(buf + done, data + in, n);
		rcache_put(fs->rc, c);
		done += n;
	}
	*got = done;
	return 0;
}
