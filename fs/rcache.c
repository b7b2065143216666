/* SPDX-License-Identifier: MIT */
/*
 * Decoded chunks in memory. The kernel reads 128 KiB at a time and a chunk is up to 128 KiB
 * (format 2) or megabytes (format 1), so each chunk is fetched, unframed and verified once
 * and then served from here until evicted.
 * Readers that miss the same chunk at once wait for one fetch. The bound counts cached chunks
 * and chunks being loaded, but only chunks nobody holds are evicted: chunks in use are never
 * freed under a reader.
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
	uint8_t *buf;  /* be_buf_alloc'ed, CHUNK_FETCH_CAP(ref.len) bytes */
	uint8_t *data; /* the plain bytes, inside buf */
	int refs;
	int loading;
	int err;
	struct rchunk *hnext;           /* hash chain */
	struct rchunk *lprev, *lnext;   /* LRU list of unheld chunks */
};

#define PF_THREADS 4
#define PF_QUEUE 1024
#define PF_WINDOW_MIN (512u << 10)
#define PF_WINDOW_MAX (16u << 20)
#define PF_AFTER (4u << 20)
#define PF_SLACK (2u << 20)
/* Remote stores, format 2: a sequential reader at full window has the packs of the next
 * WARM_AHEAD bytes fetched whole into the store's cache, WARM_THREADS at once, so that several
 * packs are on their way while the chunk read-ahead works through the nearest one. Looked up
 * WARM_STEP bytes of chunks at a time. */
#define WARM_THREADS 2
#define WARM_QUEUE 64
#define WARM_AHEAD (64u << 20)
#define WARM_STEP (8u << 20)
/* Chunks being fetched at once: each holds a chunk-sized buffer outside the bound. */
#define RC_LOADS_MAX (PF_THREADS + 2)

struct rcache {
	pthread_mutex_t lock;
	pthread_cond_t loaded;
	pthread_cond_t slot; /* a load finished: loads < RC_LOADS_MAX again */
	unsigned loads;
	uint64_t bound, bytes;
	struct rchunk *buckets[RC_BUCKETS];
	struct rchunk *lru_head, *lru_tail; /* head = most recent */

	/* Read-ahead: chunks that sequential readers will want next, fetched in parallel. */
	struct fs *fs;
	pthread_mutex_t pf_lock;
	struct chunk_ref pf_queue[PF_QUEUE]; /* each queued chunk has one job on pf_pool */
	size_t pf_head, pf_len;
	struct fs_pool *pf_pool;
	int pf_stop;
	/* Packs to warm (names), each with one job on warm_pool; under pf_lock. */
	uint8_t warm_queue[WARM_QUEUE][PACK_NAME_LEN];
	size_t warm_head, warm_len;
	struct fs_pool *warm_pool;
};

int rcache_create(uint64_t bound, struct rcache **out)
{
	struct rcache *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return ENOMEM;
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->loaded, NULL);
	pthread_cond_init(&rc->slot, NULL);
	pthread_mutex_init(&rc->pf_lock, NULL);
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

/* A job of the read-ahead pool: the oldest queued chunk, fetched into the cache. */
static void pf_job(void *arg)
{
	struct rcache *rc = arg;
	struct chunk_ref ref;
	struct rchunk *c;
	const uint8_t *data;
	int have;

	pthread_mutex_lock(&rc->pf_lock);
	if (rc->pf_stop || !rc->pf_len) {
		pthread_mutex_unlock(&rc->pf_lock);
		return;
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
}

/* A job of the warm pool: the oldest queued pack, fetched whole into the store's cache. */
static void warm_job(void *arg)
{
	struct rcache *rc = arg;
	uint8_t name[PACK_NAME_LEN];
	char key[BE_KEY_MAX];

	pthread_mutex_lock(&rc->pf_lock);
	if (rc->pf_stop || !rc->warm_len) {
		pthread_mutex_unlock(&rc->pf_lock);
		return;
	}
	memcpy(name, rc->warm_queue[rc->warm_head], PACK_NAME_LEN);
	rc->warm_head = (rc->warm_head + 1) % WARM_QUEUE;
	rc->warm_len--;
	pthread_mutex_unlock(&rc->pf_lock);
	if (pack_key(name, 0, key, sizeof(key)) == 0)
		be_warm(rc->fs->be, key); /* a failure shows when the reader gets there */
}

int rcache_prefetch_start(struct fs *fs)
{
	struct rcache *rc = fs->rc;
	int err;

	rc->fs = fs;
	err = fs_pool_create(PF_THREADS, &rc->pf_pool);
	if (!err && fs->remote && fs->sc.format >= 2)
		err = fs_pool_create(WARM_THREADS, &rc->warm_pool);
	return err;
}

/* Queues the packs of h's chunks [i, end) for warming, each once in a row of chunks. */
static void warm(struct fs *fs, struct fs_handle *h, size_t i, size_t end)
{
	struct rcache *rc = fs->rc;
	struct meta_txn *txn;
	struct pack_loc loc;
	uint8_t packs[WARM_QUEUE][PACK_NAME_LEN];
	size_t n = 0, added = 0;

	/* Looked up first, with no lock held; then queued. */
	if (meta_txn_begin(fs->meta, 1, &txn))
		return;
	for (; i < end && n < WARM_QUEUE; i++)
		if (meta_chunk_loc_get(txn, h->chunks[i].id, &loc) == 0 &&
		    (!n || memcmp(packs[n - 1], loc.pack, PACK_NAME_LEN)))
			memcpy(packs[n++], loc.pack, PACK_NAME_LEN);
	meta_txn_abort(txn);
	pthread_mutex_lock(&rc->pf_lock);
	for (; added < n && rc->warm_len < WARM_QUEUE; added++)
		memcpy(rc->warm_queue[(rc->warm_head + rc->warm_len++) % WARM_QUEUE], packs[added],
		       PACK_NAME_LEN);
	pthread_mutex_unlock(&rc->pf_lock);
	while (added-- && fs_pool_submit(rc->warm_pool, warm_job, rc) == 0)
		;
}

/* A sequential reader at off, its window full: warms the packs up to WARM_AHEAD further, a
 * WARM_STEP of chunks at a time. Racing readers of one handle claim disjoint ranges. */
static void warm_ahead(struct fs *fs, struct fs_handle *h, uint64_t off, size_t last)
{
	size_t seen = __atomic_load_n(&h->warm_next, __ATOMIC_RELAXED), i = seen, end;

	if (i <= last)
		i = last + 1;
	if (i >= h->nchunks || h->offsets[i] + WARM_STEP > off + WARM_AHEAD)
		return;
	for (end = i; end < h->nchunks && h->offsets[end] < off + WARM_AHEAD; end++)
		;
	if (!__atomic_compare_exchange_n(&h->warm_next, &seen, end, 0, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return;
	warm(fs, h, i, end);
}

static int rc_warms(struct fs *fs)
{
	return fs->rc->warm_pool != NULL;
}

/* Queues refs[0, n) for prefetch, as many as the queue takes: how many. Each handle queues
 * a chunk once (fs_handle.pf_next), and a job finds a chunk cached or loading by then and
 * leaves it, so readers of one file need no search of the queue. */
static size_t prefetch(struct rcache *rc, const struct chunk_ref *refs, size_t n)
{
	size_t added = 0;

	if (!rc->pf_pool)
		return 0;
	pthread_mutex_lock(&rc->pf_lock);
	for (size_t i = 0; i < n && rc->pf_len < PF_QUEUE; i++, added++)
		rc->pf_queue[(rc->pf_head + rc->pf_len++) % PF_QUEUE] = refs[i];
	pthread_mutex_unlock(&rc->pf_lock);
	n = added;
	/* One job per queued chunk; one that cannot be queued leaves its chunk to a later job. */
	while (added-- && fs_pool_submit(rc->pf_pool, pf_job, rc) == 0)
		;
	return n;
}

void rcache_destroy(struct rcache *rc)
{
	pthread_mutex_lock(&rc->pf_lock);
	rc->pf_stop = 1; /* queued jobs end at once */
	pthread_mutex_unlock(&rc->pf_lock);
	fs_pool_destroy(rc->pf_pool);
	fs_pool_destroy(rc->warm_pool);
	pthread_mutex_destroy(&rc->pf_lock);
	for (size_t i = 0; i < RC_BUCKETS; i++) {
		struct rchunk *c = rc->buckets[i], *n;

		for (; c; c = n) {
			n = c->hnext;
			be_buf_free(c->buf);
			free(c);
		}
	}
	pthread_mutex_destroy(&rc->lock);
	pthread_cond_destroy(&rc->loaded);
	pthread_cond_destroy(&rc->slot);
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
		be_buf_free(c->buf);
		free(c);
	}
}

/* Store format 2: where ref lies in a pack (0), or ENOENT: a chunks/ object. */
static int chunk_loc(struct fs *fs, const struct chunk_ref *ref, struct pack_loc *loc)
{
	struct meta_txn *txn;
	int err;

	if (fs->sc.format < 2)
		return ENOENT;
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_chunk_loc_get(txn, ref->id, loc);
	meta_txn_abort(txn);
	return err;
}

int fs_chunk_fetch(struct fs *fs, const struct chunk_ref *ref, uint8_t *buf)
{
	struct pack_loc loc;
	int err, packed;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	err = chunk_loc(fs, ref, &loc);
	packed = !err;
	if (!err || err == ENOENT)
		err = packed ? chunk_fetch_at(fs->be, ref, &loc, buf) : chunk_fetch(fs->be, ref, buf);
	if (err == ENOENT) {
		char hex[CHUNK_HEX_LEN + 1], key[BE_KEY_MAX] = "";

		chunk_id_hex(ref->id, hex);
		if (packed)
			pack_key(loc.pack, 0, key, sizeof(key));
		log_msg(LOG_ERR, "chunk %s is missing from the store%s%s", hex,
			packed ? ": no pack " : "", key);
		err = EIO;
	}
	if (!err) {
		atomic_fetch_add(&fs->st.chunks_fetched, 1);
		atomic_fetch_add(&fs->st.bytes_fetched, ref->len);
	}
	return err;
}

int rcache_get(struct fs *fs, const struct chunk_ref *ref, struct rchunk **out,
	       const uint8_t **data)
{
	struct rcache *rc = fs->rc;
	size_t b = bucket(ref->id);
	struct rchunk *c;
	int err;

	if (fs_chunk_unplaced(ref))
		return EIO; /* logged when its version was read in */
	pthread_mutex_lock(&rc->lock);
	for (;;) {
		for (c = rc->buckets[b]; c; c = c->hnext)
			if (!memcmp(c->ref.id, ref->id, CHUNK_ID_LEN) && c->ref.len == ref->len)
				break;
		/* A new load waits for a slot, so that a burst of random misses (fio at QD16,
		 * O_DIRECT) cannot hold a chunk buffer per thread; joining a load needs none. */
		if (c || rc->loads < RC_LOADS_MAX)
			break;
		pthread_cond_wait(&rc->slot, &rc->lock);
	}
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
	rc->loads++;
	/* Counted from now on, so that cached and loading chunks share the bound. */
	rc->bytes += ref->len;
	evict(rc);
	c->hnext = rc->buckets[b];
	rc->buckets[b] = c;
	pthread_mutex_unlock(&rc->lock);

	atomic_fetch_add(&fs->st.rcache_misses, 1);
	c->buf = be_buf_alloc(CHUNK_FETCH_CAP(ref->len));
	err = c->buf ? fs_chunk_fetch(fs, ref, c->buf) : ENOMEM;
	if (!err)
		c->data = c->buf + CHUNK_FETCH_OFF;

	pthread_mutex_lock(&rc->lock);
	rc->loads--;
	pthread_cond_signal(&rc->slot);
	c->loading = 0;
	c->err = err;
	if (err) {
		rc->bytes -= ref->len;
		hash_unlink(rc, c); /* a failed fetch is retried by the next reader */
	}
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
			be_buf_free(c->buf);
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

void fs_read_release(struct fs *fs, struct fs_read *r)
{
	for (int i = 0; i < r->n; i++)
		rcache_put(fs->rc, r->held[i]);
	r->n = 0;
}

/* Sequential readers get the next chunks fetched ahead, in parallel: the window (bytes
 * beyond what was read) doubles with every sequential read from PF_WINDOW_MIN up to
 * PF_WINDOW_MAX, and the decoded-chunk bound keeps what it holds in check. Only a reader
 * that has gone through PF_AFTER bytes in order is sequential: a short read in the middle of
 * a large file fetches what it touches, no more. "In order" allows PF_SLACK either way around
 * the furthest end so far, since the kernel's read-ahead READs reach our threads slightly out
 * of order. The handle's fields are hints: racing readers of one handle may queue a chunk
 * twice or late, never wrongly. */
static void read_ahead(struct fs *fs, struct fs_handle *h, uint64_t off, size_t done,
		       size_t lo)
{
	uint64_t end = __atomic_load_n(&h->seq_end, __ATOMIC_RELAXED);
	uint64_t run = __atomic_load_n(&h->seq_run, __ATOMIC_RELAXED);
	uint64_t win = __atomic_load_n(&h->window, __ATOMIC_RELAXED);
	size_t next = __atomic_load_n(&h->pf_next, __ATOMIC_RELAXED), last = lo, upto;

	while (last + 1 < h->nchunks && h->offsets[last + 1] < off + done)
		last++;
	if (off <= end + PF_SLACK && off + done + PF_SLACK >= end) {
		run += done;
		if (off + done > end)
			end = off + done;
	} else {
		run = done;
		end = off + done;
	}
	if (run < PF_AFTER)
		win = 0;
	else
		win = win ? (win * 2 > PF_WINDOW_MAX ? PF_WINDOW_MAX : win * 2) : PF_WINDOW_MIN;
	__atomic_store_n(&h->seq_run, run, __ATOMIC_RELAXED);
	__atomic_store_n(&h->window, win, __ATOMIC_RELAXED);
	__atomic_store_n(&h->seq_end, end, __ATOMIC_RELAXED);
	if (!win)
		return;
	if (win == PF_WINDOW_MAX && rc_warms(fs))
		warm_ahead(fs, h, off + done, last);
	if (next <= last || next > h->nchunks)
		next = last + 1; /* behind the reader, or a reader went back: from here */
	for (upto = next; upto < h->nchunks && h->offsets[upto] < off + done + win; upto++)
		;
	if (upto > next)
		__atomic_store_n(&h->pf_next, next + prefetch(fs->rc, &h->chunks[next], upto - next),
				 __ATOMIC_RELAXED);
}

int fs_read_pin(struct fs *fs, struct fs_handle *h, uint64_t off, size_t len,
		struct fs_read *r)
{
	size_t lo = 0, hi = h->nchunks, done = 0, i;

	r->n = 0;
	r->got = 0;
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
	for (i = lo; done < len && i < h->nchunks && r->n < FS_READ_IOV; i++) {
		struct rchunk *c;
		const uint8_t *data;
		uint64_t in = off + done - h->offsets[i];
		size_t n = h->chunks[i].len - in;
		int err = rcache_get(fs, &h->chunks[i], &c, &data);

		if (err) {
			fs_read_release(fs, r);
			atomic_fetch_add(&fs->st.read_errors, 1);
			return err;
		}
		if (n > len - done)
			n = len - done;
		r->held[r->n] = c;
		r->iov[r->n].iov_base = (void *)(data + in);
		r->iov[r->n].iov_len = n;
		r->n++;
		done += n;
	}
	r->got = done;
	read_ahead(fs, h, off, done, lo);
	return 0;
}

int fs_read_chunks(struct fs *fs, struct fs_handle *h, uint64_t off, size_t len, char *buf,
		   size_t *got)
{
	struct fs_read r;
	int err;

	*got = 0;
	do {
		err = fs_read_pin(fs, h, off + *got, len - *got, &r);
		if (err)
			return err;
		for (int i = 0; i < r.n; i++) {
			memcpy(buf + *got, r.iov[i].iov_base, r.iov[i].iov_len);
			*got += r.iov[i].iov_len;
		}
		fs_read_release(fs, &r);
	} while (r.got && *got < len);
	return 0;
}
