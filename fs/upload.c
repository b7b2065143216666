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
 * requests in flight. Each chunk is copied out of the cutting buffer; the bytes waiting or
 * in flight are bounded by UP_INFLIGHT so the daemon's memory does not grow with the file.
 */
#define UP_THREADS 4
#define UP_INFLIGHT (8u << 20) /* 16 MiB: 20 MB more peak RSS, no faster (2 cores) */

struct upjob {
	struct fs_uppool *pool;
	uint64_t seq; /* store format 2: its turn in the pack writer */
	uint8_t *mem; /* be_buf_alloc'ed: CHUNK_FRAME_HDR bytes of room, then the chunk */
	size_t len;
	struct chunk_ref ref;
	int done, err;
};

/* Names the chunk (ref) and says whether this host knows it good in the store: 0 when it
 * does, ENOENT when it must be stored or verified (chunk_put). In store format 2 the known
 * chunks are those of this host's own packs (their location says so), which the manifest's
 * runs then name. */
static int chunk_known(struct fs *fs, const uint8_t *buf, size_t len, struct chunk_ref *ref)
{
	struct meta_txn *txn;
	struct pack_loc loc;
	int err;

	chunk_hash(buf, len, ref->id);
	ref->len = (uint32_t)len;
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	if (fs->sc.format < 2)
		err = meta_chunk_known(txn, ref->id);
	else if (!(err = meta_chunk_loc_get(txn, ref->id, &loc)) && !loc.own)
		err = ENOENT;
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
};

/* One chunk: verified as known, or stored (a job of p->workers). */
static void up_run(void *arg)
{
	struct upjob *j = arg;
	struct fs_uppool *p = j->pool;
	uint64_t added = 0;
	int err = chunk_known(p->fs, j->mem + CHUNK_FRAME_HDR, j->len, &j->ref);

	if (err == ENOENT && p->pw) {
		struct pack_loc loc;

		err = pack_writer_add(p->pw, j->seq, j->mem + CHUNK_FRAME_HDR, &j->ref,
				      p->fs->sc.zstd_level, &loc, &added);
	} else if (p->pw) {
		pack_writer_skip(p->pw, j->seq); /* known, or failed: no frame */
	} else if (err == ENOENT) {
		err = chunk_put(p->fs->be, j->mem + CHUNK_FRAME_HDR, j->len, p->fs->sc.zstd_level,
				CHUNK_ROOM | CHUNK_HASHED | CHUNK_LAZY, &j->ref, &added);
	}
	if (!err && added) {
		atomic_fetch_add(&p->fs->st.chunks_stored, 1);
		atomic_fetch_add(&p->fs->st.bytes_stored, added);
	}
	be_buf_free(j->mem);
	j->mem = NULL;
	if (p->done)
		atomic_fetch_add(p->done, j->len);
	pthread_mutex_lock(&p->m);
	j->done = 1;
	j->err = err;
	p->inflight -= j->len;
	pthread_cond_broadcast(&p->progress);
	pthread_mutex_unlock(&p->m);
}

/* Queues a copy of buf; waits while too many bytes are on their way. */
static int up_submit(struct fs_uppool *p, const uint8_t *buf, size_t len, struct upjob *j)
{
	int err;

	j->mem = be_buf_alloc(CHUNK_FRAME_HDR + len);
	if (!j->mem)
		return ENOMEM;
	memcpy(j->mem + CHUNK_FRAME_HDR, buf, len);
	j->len = len;
	j->pool = p;
	j->seq = p->seq++;
	pthread_mutex_lock(&p->m);
	while (p->inflight && p->inflight + len > UP_INFLIGHT)
		pthread_cond_wait(&p->progress, &p->m);
	p->inflight += len;
	pthread_mutex_unlock(&p->m);
	err = fs_pool_submit(p->workers, up_run, j);
	if (err) {
		if (p->pw)
			pack_writer_skip(p->pw, j->seq); /* its turn passes unused */
		be_buf_free(j->mem);
		j->mem = NULL;
		pthread_mutex_lock(&p->m);
		p->inflight -= len;
		j->done = 1;
		j->err = err;
		pthread_mutex_unlock(&p->m);
	}
	return 0; /* a job that could not run has its error: cut_collect() reports it */
}

static void up_wait(struct fs_uppool *p, struct upjob *j)
{
	pthread_mutex_lock(&p->m);
	while (!j->done)
		pthread_cond_wait(&p->progress, &p->m);
	pthread_mutex_unlock(&p->m);
}

/* The uploads one file queued, waited for in order. */
struct cut_jobs {
	struct upjob **v;
	size_t n, cap;
};

/* Queues a copy of buf[0, len) as the file's next chunk. */
static int cut_queue(struct fs_uppool *pool, struct cut_jobs *jobs, const uint8_t *buf,
		     size_t len)
{
	struct upjob **nj = be_grow(jobs->v, jobs->n, &jobs->cap, sizeof(*jobs->v));
	struct upjob *j;
	int err;

	if (!nj)
		return ENOMEM;
	jobs->v = nj;
	j = calloc(1, sizeof(*j));
	if (!j)
		return ENOMEM;
	err = up_submit(pool, buf, len, j);
	if (err) {
		free(j);
		return err;
	}
	jobs->v[jobs->n++] = j;
	return 0;
}

/* Waits for every queued upload, also after a failure (jobs must not outlive the file's
 * cut), and gives e the chunk list unless err or an upload failed. */
static int cut_collect(struct fs_uppool *pool, struct cut_jobs *jobs, struct manifest_entry *e,
		       const char *path, int err)
{
	if (jobs->n) {
		e->chunks = malloc(jobs->n * sizeof(*e->chunks));
		if (!e->chunks && !err)
			err = ENOMEM;
	}
	for (size_t i = 0; i < jobs->n; i++) {
		up_wait(pool, jobs->v[i]);
		if (!err && jobs->v[i]->err) {
			err = jobs->v[i]->err;
			log_msg(LOG_ERR, "commit: cannot store a chunk of %s: %s", path, strerror(err));
		}
		if (e->chunks)
			e->chunks[i] = jobs->v[i]->ref;
		free(jobs->v[i]);
	}
	e->nchunks = err ? 0 : jobs->n;
	free(jobs->v);
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
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t *buf = be_buf_alloc(cap);
	unsigned int mdlen;
	int eof = 0, err = 0;

	chunker_init(&ck, fs->sc.chunk_min, fs->sc.chunk_avg, fs->sc.chunk_max);
	if (!buf || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		err = ENOMEM;
		goto out;
	}
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
		EVP_DigestUpdate(md, buf + pos, cut);
		e->size += cut;
		pos += cut;
		avail -= cut;
	}
	EVP_DigestFinal_ex(md, e->digest, &mdlen);
out:
	EVP_MD_CTX_free(md);
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
	if (fstat(fd, &st))
		err = errno;
	else
		e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (!err)
		err = cut_stream(fs, pool, fd, path, &jobs, e);
	err = cut_collect(pool, &jobs, e, path, err);
	close(fd);
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
	pthread_mutex_destroy(&p->m);
	pthread_cond_destroy(&p->progress);
	free(p);
}
