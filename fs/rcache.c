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

#define PF_THREADS 4
#define PF_QUEUE 64
#define PF_WINDOW_MAX 4
#define PF_AFTER (4u << 20)

struct rcache {
	pthread_mutex_t lock;
	pthread_cond_t loaded;
	uint64_t bound, bytes;
	struct rchunk *buckets[RC_BUCKETS];
	struct rchunk *lru_head, *lru_tail; /* head = most recent */

	/* Read-ahead: chunks that sequential readers will want next, fetched in parallel. */
	struct fs *fs;
	pthread_mutex_t pf_lock;
	pthread_cond_t pf_cond;
	struct chunk_ref pf_queue[PF_QUEUE];
	size_t pf_head, pf_len;
	pthread_t pf_threads[PF_THREADS];
	int pf_started, pf_stop;
};

int rcache_create(uint64_t bound, struct rcache **out)
{
	struct rcache *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return ENOMEM;
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->loaded, NULL);
	pthread_mutex_init(&rc->pf_lock, NULL);
	pthread_cond_init(&rc->pf_cond, NULL);
	rc->bound = bound ? bound : RC_DEFAULT_BOUND;
	*out = rc;
	return 0;
}

static size_t bucket(const uint8_t id[CHUNK_ID_LEN]);

static int cached(struct rcache *rc, const struct chunk_ref *ref)
{
	struct rchunk *c;

	for (c = rc->buckets[bucket(ref->id)]; c; c = c->hnext)
		if (memcmp(c->ref.id, ref->id, CHUNK_ID_LEN) == 0)
			return 1;
	return 0;
}

static void *pf_main(void *arg)
{
	struct rcache *rc = arg;

	pthread_mutex_lock(&rc->pf_lock);
	while (!rc->pf_stop) {
		struct chunk_ref ref;
		struct rchunk *c;
		const uint8_t *data;
		int have;

		if (!rc->pf_len) {
			pthread_cond_wait(&rc->pf_cond, &rc->pf_lock);
			continue;
		}
		ref = rc->pf_queue[rc->pf_head];
		rc->pf_head = (rc->pf_head + 1) % PF_QUEUE;
		rc->pf_len--;
		pthread_mutex_unlock(&rc->pf_lock);
		pthread_mutex_lock(&rc->lock);
		have = cached(rc, &ref);
		pthread_mutex_unlock(&rc->lock);
		/* Fetched into the cache and let go: the reader finds it there (or joins it). */
		if (!have && rcache_get(rc->fs, &ref, &c, &data) == 0)
			rcache_put(rc, c);
		pthread_mutex_lock(&rc->pf_lock);
	}
	pthread_mutex_unlock(&rc->pf_lock);
	return NULL;
}

int rcache_prefetch_start(struct fs *fs)
{
	struct rcache *rc = fs->rc;

	rc->fs = fs;
	for (int i = 0; i < PF_THREADS; i++) {
		if (pthread_create(&rc->pf_threads[i], NULL, pf_main, rc))
			break;
		rc->pf_started++;
	}
	return 0;
}

static void prefetch(struct rcache *rc, const struct chunk_ref *refs, size_t n)
{
	if (!rc->pf_started)
		return;
	pthread_mutex_lock(&rc->pf_lock);
	for (size_t i = 0; i < n && rc->pf_len < PF_QUEUE; i++) {
		int queued = 0;

		for (size_t k = 0; k < rc->pf_len && !queued; k++)
			queued = !memcmp(rc->pf_queue[(rc->pf_head + k) % PF_QUEUE].id, refs[i].id,
					 CHUNK_ID_LEN);
		if (!queued)
			rc->pf_queue[(rc->pf_head + rc->pf_len++) % PF_QUEUE] = refs[i];
	}
	pthread_cond_broadcast(&rc->pf_cond);
	pthread_mutex_unlock(&rc->pf_lock);
}

void rcache_destroy(struct rcache *rc)
{
	pthread_mutex_lock(&rc->pf_lock);
	rc->pf_stop = 1;
	pthread_cond_broadcast(&rc->pf_cond);
	pthread_mutex_unlock(&rc->pf_lock);
	for (int i = 0; i < rc->pf_started; i++)
		pthread_join(rc->pf_threads[i], NULL);
	pthread_mutex_destroy(&rc->pf_lock);
	pthread_cond_destroy(&rc->pf_cond);
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
	/* Sequential readers get the next chunks fetched ahead, in parallel; the window
	 * doubles with every sequential read up to PF_WINDOW_MAX chunks, and the decoded-chunk
	 * bound keeps what it holds in check. */
	{
		uint64_t end = __atomic_load_n(&h->seq_end, __ATOMIC_RELAXED);
		unsigned win = __atomic_load_n(&h->window, __ATOMIC_RELAXED);
		size_t last = lo;

		while (last + 1 < h->nchunks && h->offsets[last + 1] < off + done)
			last++;
		uint64_t run = __atomic_load_n(&h->seq_run, __ATOMIC_RELAXED);

		/* Only a reader that has gone through PF_AFTER bytes in order is sequential: a
		 * short read in the middle of a large file fetches what it touches, no more. */
		run = off == end ? run + done : done;
		if (run < PF_AFTER)
			win = 0;
		else
			win = win ? (win * 2 > PF_WINDOW_MAX ? PF_WINDOW_MAX : win * 2) : 1;
		__atomic_store_n(&h->seq_run, run, __ATOMIC_RELAXED);
		__atomic_store_n(&h->window, win, __ATOMIC_RELAXED);
		__atomic_store_n(&h->seq_end, off + done, __ATOMIC_RELAXED);
		if (win && last + 1 < h->nchunks) {
			size_t n = h->nchunks - (last + 1);

			prefetch(fs->rc, &h->chunks[last + 1], n < win ? n : win);
		}
	}
	return 0;
}
