/* SPDX-License-Identifier: MIT */
/*
 * The cutter and the upload pool of commits: a staging file is cut into content-defined
 * chunks, which a few threads store (or verify) while the next ones are cut. Holds no lock
 * of fs/: blocks on the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs_int.h"

/*
 * Chunk uploads run on a few threads so that a commit to an object store keeps several
 * requests in flight. The cutter copies each chunk into a batch of consecutive chunks (up to
 * UP_BATCH bytes or UP_BATCH_N chunks), and a batch is one job: one wake-up, one read
 * transaction and one turn of the pack writer for many small chunks, not one of each per
 * chunk. The bytes waiting or in flight are bounded by UP_INFLIGHT so the daemon's memory
 * does not grow with the file.
 */
#define UP_THREADS 4
#define UP_INFLIGHT (8u << 20) /* 16 MiB: 20 MB more peak RSS, no faster (2 cores) */
#define UP_BATCH (1u << 20)
#define UP_BATCH_N 64
#define UP_IDLE (UP_INFLIGHT / UP_BATCH + 2)

struct upjob {
	struct fs_uppool *pool;
	uint64_t seq; /* store format 2: its turn in the pack writer */
	uint8_t *mem; /* be_buf_alloc'ed: per chunk CHUNK_FRAME_HDR bytes of room, then it */
	size_t used;  /* bytes of mem filled */
	size_t len;   /* plain bytes of the chunks */
	size_t n;
	size_t at[UP_BATCH_N]; /* where chunk i's bytes start in mem */
	struct chunk_ref ref[UP_BATCH_N];
	struct cut_jobs *jobs; /* the file's batches */
	struct upjob *next;    /* the file's next batch */
	int stored, done, err; /* done: digested too, and mem given back */
};

/* The room a batch needs: it is sent once it holds UP_BATCH bytes, so the last chunk may
 * take it past that by one largest chunk. */
static size_t batch_cap(const struct fs *fs)
{
	return UP_BATCH + fs->sc.chunk_max + (size_t)UP_BATCH_N * CHUNK_FRAME_HDR;
}

/* Names each chunk of j (ref) and sets known[i] when this host knows chunk i good in the
 * store, so it needs no storing or verifying (chunk_put). In store format 2 the known chunks
 * are those of this host's own packs (their location says so) that gc has not condemned,
 * which the manifest's runs then name. One read transaction for the batch. */
static int chunks_known(struct fs *fs, struct upjob *j, uint8_t known[])
{
	struct meta_txn *txn;
	int err, avoiding = fs->sc.format >= 2 && fs_gc_avoiding(fs);

	for (size_t i = 0; i < j->n; i++)
		chunk_hash(j->mem + j->at[i], j->ref[i].len, j->ref[i].id);
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	for (size_t i = 0; i < j->n && !err; i++) {
		struct pack_loc loc;
		int k;

		if (fs->sc.format < 2)
			k = meta_chunk_known(txn, j->ref[i].id);
		else if (!(k = meta_chunk_loc_get(txn, j->ref[i].id, &loc)) &&
			 (!loc.own || (avoiding && fs_gc_avoids(fs, loc.pack))))
			k = ENOENT; /* another's pack, or one gc condemned (docs/gc.md) */
		if (k && k != ENOENT)
			err = k;
		known[i] = !k;
	}
	meta_txn_abort(txn);
	return err;
}

struct fs_uppool {
	struct fs *fs;
	struct pack_writer *pw; /* store format 2: new chunks go into packs; else NULL */
	uint64_t seq;           /* the next job's turn in pw (up_submit, one thread) */
	struct fs_pool *workers;
	pthread_mutex_t m;
	pthread_cond_t progress;
	size_t inflight; /* bytes queued or being stored */
	_Atomic uint64_t *done; /* bytes whose chunks are stored or known (NULL: not counted) */
	/* Batch buffers done with, for the next batches: their pages stay touched, so a commit
	 * does not fault in fresh memory for every MiB it cuts. */
	uint8_t *idle[UP_IDLE];
	size_t nidle;
};

/* A batch buffer: an idle one, else a new one. */
static uint8_t *batch_mem(struct fs_uppool *p)
{
	uint8_t *mem = NULL;

	pthread_mutex_lock(&p->m);
	if (p->nidle)
		mem = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->m);
	return mem ? mem : be_buf_alloc(batch_cap(p->fs));
}

/* Under p->m: j's buffer is done with. */
static void batch_mem_done(struct fs_uppool *p, struct upjob *j)
{
	if (p->nidle < UP_IDLE)
		p->idle[p->nidle++] = j->mem;
	else
		be_buf_free(j->mem);
	j->mem = NULL;
}

/* Stores the chunks of j this host does not know (format 2: into the pack writer, in one
 * turn; format 1: one chunk object each). */
static int up_store(struct fs_uppool *p, struct upjob *j, const uint8_t known[],
		    uint64_t *added, uint64_t *nadded)
{
	uint8_t *plain[UP_BATCH_N]; /* chunk_put() frames format-1 chunks in their room */
	struct chunk_ref ref[UP_BATCH_N];
	struct pack_loc loc[UP_BATCH_N];
	size_t n = 0;
	int err = 0;

	for (size_t i = 0; i < j->n; i++) {
		if (known[i])
			continue;
		plain[n] = j->mem + j->at[i];
		ref[n++] = j->ref[i];
	}
	if (p->pw && !n) {
		pack_writer_skip(p->pw, j->seq); /* all known: no frame */
		return 0;
	}
	if (p->pw) {
		err = pack_writer_add(p->pw, j->seq, n, (const void *const *)plain, ref,
				      p->fs->sc.zstd_level, loc, added);
		*nadded = err ? 0 : n;
		return err;
	}
	for (size_t i = 0; i < n && !err; i++) {
		uint64_t a = 0;

		err = chunk_put(p->fs->be, plain[i], ref[i].len, p->fs->sc.zstd_level,
				CHUNK_ROOM | CHUNK_HASHED | CHUNK_LAZY, &ref[i], &a);
		*added += a;
		*nadded += a != 0;
	}
	return err;
}

/* The batches one file queued, in file order (a list: workers follow it while the cutter
 * appends); cur is the one being filled. The file's digest is fed batch after batch by
 * whichever worker finds the next one stored (dig), one at a time (digesting), so the cutter
 * does not hash every byte twice. All of it but cur is under the pool's m. */
struct cut_jobs {
	struct upjob *head, *tail, *cur, *dig;
	size_t nchunks;
	EVP_MD_CTX *md;
	int digesting;
};

/* j is stored (or failed with err): the file's digest takes every stored batch it can in
 * order, and each batch it took is done. Whoever digests holds no lock while hashing. */
static void batch_finish(struct fs_uppool *p, struct upjob *j, int err)
{
	struct cut_jobs *jobs = j->jobs;

	pthread_mutex_lock(&p->m);
	j->err = err;
	j->stored = 1;
	while (!jobs->digesting && jobs->dig && jobs->dig->stored) {
		struct upjob *d = jobs->dig;

		jobs->digesting = 1;
		pthread_mutex_unlock(&p->m);
		for (size_t i = 0; i < d->n; i++)
			EVP_DigestUpdate(jobs->md, d->mem + d->at[i], d->ref[i].len);
		pthread_mutex_lock(&p->m);
		jobs->digesting = 0;
		jobs->dig = d->next;
		p->inflight -= d->len;
		batch_mem_done(p, d);
		d->done = 1;
		pthread_cond_broadcast(&p->progress);
	}
	pthread_mutex_unlock(&p->m);
}

/* One batch: its chunks named, and stored unless known (a job of p->workers). */
static void up_run(void *arg)
{
	struct upjob *j = arg;
	struct fs_uppool *p = j->pool;
	uint64_t added = 0, nadded = 0;
	uint8_t known[UP_BATCH_N];
	int err = chunks_known(p->fs, j, known);

	if (!err)
		err = up_store(p, j, known, &added, &nadded);
	else if (p->pw)
		pack_writer_skip(p->pw, j->seq); /* failed: no frame */
	if (!err && added) {
		atomic_fetch_add(&p->fs->st.chunks_stored, nadded);
		atomic_fetch_add(&p->fs->st.bytes_stored, added);
	}
	if (p->done)
		atomic_fetch_add(p->done, j->len);
	batch_finish(p, j, err);
}

/* Queues the batch being filled, if any; waits while too many bytes are on their way. A
 * batch that cannot be queued is finished with its error, which cut_collect() reports. */
static void cut_flush(struct fs_uppool *p, struct cut_jobs *jobs)
{
	struct upjob *j = jobs->cur;
	int err;

	if (!j)
		return;
	jobs->cur = NULL;
	j->pool = p;
	j->seq = p->seq++;
	pthread_mutex_lock(&p->m);
	while (p->inflight && p->inflight + j->len > UP_INFLIGHT)
		pthread_cond_wait(&p->progress, &p->m);
	p->inflight += j->len;
	if (jobs->tail)
		jobs->tail->next = j;
	else
		jobs->head = j;
	jobs->tail = j;
	if (!jobs->dig)
		jobs->dig = j;
	pthread_mutex_unlock(&p->m);
	err = fs_pool_submit(p->workers, up_run, j);
	if (err) {
		if (p->pw)
			pack_writer_skip(p->pw, j->seq); /* its turn passes unused */
		batch_finish(p, j, err);
	}
}

/* Copies buf[0, len) into the file's batch as its next chunk. */
static int cut_queue(struct fs_uppool *pool, struct cut_jobs *jobs, const uint8_t *buf,
		     size_t len)
{
	struct upjob *j = jobs->cur;

	if (!j) {
		if (!(j = calloc(1, sizeof(*j))))
			return ENOMEM;
		if (!(j->mem = batch_mem(pool))) {
			free(j);
			return ENOMEM;
		}
		j->jobs = jobs;
		jobs->cur = j;
	}
	j->at[j->n] = j->used + CHUNK_FRAME_HDR;
	memcpy(j->mem + j->at[j->n], buf, len);
	j->ref[j->n++].len = (uint32_t)len;
	j->used += CHUNK_FRAME_HDR + len;
	j->len += len;
	jobs->nchunks++;
	if (j->n == UP_BATCH_N || j->len >= UP_BATCH)
		cut_flush(pool, jobs);
	return 0;
}

/* Queues the last batch (also after a failure: every batch finishes the same way), waits
 * for every one (jobs must not outlive the file's cut), and gives e the chunk list and the
 * file's digest unless err or an upload failed. */
static int cut_collect(struct fs_uppool *pool, struct cut_jobs *jobs, struct manifest_entry *e,
		       const char *path, int err)
{
	unsigned int mdlen;
	size_t k = 0;

	cut_flush(pool, jobs);
	if (jobs->nchunks && !err && !(e->chunks = malloc(jobs->nchunks * sizeof(*e->chunks))))
		err = ENOMEM;
	for (struct upjob *j = jobs->head, *next; j; j = next) {
		pthread_mutex_lock(&pool->m);
		while (!j->done)
			pthread_cond_wait(&pool->progress, &pool->m);
		pthread_mutex_unlock(&pool->m);
		if (!err && j->err) {
			err = j->err;
			log_msg(LOG_ERR, "commit: cannot store a chunk of %s: %s", path, strerror(err));
		}
		for (size_t c = 0; c < j->n && !err; c++)
			e->chunks[k++] = j->ref[c];
		next = j->next;
		free(j);
	}
	if (!err && !EVP_DigestFinal_ex(jobs->md, e->digest, &mdlen))
		err = ENOMEM;
	e->nchunks = err ? 0 : jobs->nchunks;
	return err;
}

/*
 * The window buf[pos, pos + avail) slides over the file (cap bytes: one largest chunk plus a
 * little, as the chunker needs chunk_max bytes in view). It grows only when the chunker needs
 * more bytes to decide, and is moved back to the start of buf only when it reaches the end:
 * the bytes of a file are moved about once per 16 MiB, not once per chunk.
 */
static int cut_stream(struct fs *fs, struct fs_uppool *pool, int fd, const char *path,
		      struct cut_jobs *jobs, struct manifest_entry *e)
{
	size_t cap = (size_t)fs->sc.chunk_max + fs->sc.chunk_min, pos = 0, avail = 0;
	struct chunker ck;
	uint8_t *buf = be_buf_alloc(cap);
	int eof = 0, err = 0;

	chunker_init(&ck, fs->sc.chunk_min, fs->sc.chunk_avg, fs->sc.chunk_max);
	if (!buf)
		return ENOMEM;
	e->size = 0;
	while (1) {
		size_t cut = avail ? chunker_next(&ck, buf + pos, avail, eof) : 0;

		if (cut == 0 && !eof) {
			ssize_t r;

			if (pos + avail == cap) {
				memmove(buf, buf + pos, avail);
				pos = 0;
			}
			r = read(fd, buf + pos + avail, cap - pos - avail);
			if (r < 0) {
				err = errno;
				log_msg(LOG_ERR, "commit: cannot read %s: %s", path, strerror(err));
				goto out;
			}
			eof = r == 0;
			avail += r;
			continue;
		}
		if (avail == 0)
			break;
		if (cut == 0 || cut > avail) {
			err = EIO; /* our bug: the chunker must cut within what it was given */
			goto out;
		}
		err = cut_queue(pool, jobs, buf + pos, cut);
		if (err)
			goto out;
		e->size += cut;
		pos += cut;
		avail -= cut;
	}
out:
	be_buf_free(buf);
	return err;
}

int fs_cut_file(struct fs *fs, struct fs_uppool *pool, uint64_t ino, struct manifest_entry *e)
{
	struct cut_jobs jobs = { 0 };
	char path[4200];
	struct stat st;
	int fd, err = 0;

	FS_ASSERT_NO_HEAD_LOCK();
	fs_staging_path(fs, ino, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return ENOENT; /* the caller tells a crash's loss from a file removed meanwhile */
	if (fd < 0) {
		err = errno;
		log_msg(LOG_ERR, "commit: cannot open %s: %s", path, strerror(err));
		return err;
	}
	jobs.md = EVP_MD_CTX_new();
	if (!jobs.md || !EVP_DigestInit_ex(jobs.md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(jobs.md);
		close(fd);
		return ENOMEM;
	}
	if (fstat(fd, &st))
		err = errno;
	else
		e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (!err)
		err = cut_stream(fs, pool, fd, path, &jobs, e);
	err = cut_collect(pool, &jobs, e, path, err);
	EVP_MD_CTX_free(jobs.md);
	close(fd);
	return err;
}

int fs_uppool_put(struct fs_uppool *p, const struct chunk_ref *ref, const void *plain)
{
	struct pack_loc loc;
	uint64_t added = 0;
	int err;

	if (!p->pw)
		return EINVAL;
	err = pack_writer_add(p->pw, p->seq++, 1, &plain, ref, p->fs->sc.zstd_level, &loc,
			      &added);
	if (!err && p->done)
		atomic_fetch_add(p->done, ref->len);
	return err;
}

void fs_uppool_count(struct fs_uppool *p, _Atomic uint64_t *done)
{
	p->done = done;
}

int fs_uppool_create(struct fs *fs, struct pack_writer *pw, struct fs_uppool **out)
{
	struct fs_uppool *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return ENOMEM;
	err = fs_pool_create(UP_THREADS, &p->workers);
	if (err) {
		free(p);
		return err;
	}
	p->fs = fs;
	p->pw = pw;
	pthread_mutex_init(&p->m, NULL);
	pthread_cond_init(&p->progress, NULL);
	*out = p;
	return 0;
}

void fs_uppool_destroy(struct fs_uppool *p)
{
	if (!p)
		return;
	fs_pool_destroy(p->workers); /* every queued upload has run */
	while (p->nidle)
		be_buf_free(p->idle[--p->nidle]);
	pthread_mutex_destroy(&p->m);
	pthread_cond_destroy(&p->progress);
	free(p);
}
