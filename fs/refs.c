/* SPDX-License-Identifier: MIT */
/*
 * What keeps a HEAD inode alive after its name is gone: open handles, and the kernel's
 * lookup count (libfuse's forget contract: an inode the kernel knows must stay usable until
 * it forgets it). One record per such inode, in a hash table under fs->lock; the record also
 * carries the write stamps a commit cutting files unlocked asks about (fs_written_since()).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fs_int.h"

struct fs_open {
	uint64_t ino;
	int count;        /* open handles (under fs->lock) */
	int unlinked;     /* nlink 0: freed when count and lookups are 0 (under fs->lock) */
	uint64_t lookups; /* the kernel's lookup count (under fs->lock) */
	/* Writes to the staging file: how many run now, and the write sequence (fs->wseq) at
	 * the end of the last one; see fs_written_since(). */
	atomic_uint writing;
	atomic_uint_least64_t wrote;
	struct fs_open *next; /* in its hash bucket */
};

struct fs_freed {
	uint64_t *inos;
	size_t n;
};

static size_t bucket(const struct fs *fs, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 32) & (fs->refs_nb - 1);
}

/* Under fs->lock. */
static struct fs_open *ref_find(struct fs *fs, uint64_t ino)
{
	struct fs_open *o = NULL;

	if (fs->refs_nb)
		for (o = fs->refs[bucket(fs, ino)]; o; o = o->next)
			if (o->ino == ino)
				break;
	return o;
}

/* Under fs->lock: doubles the buckets once there are more records than buckets. */
static void ref_grow(struct fs *fs)
{
	size_t nb = fs->refs_nb ? 2 * fs->refs_nb : 64, old = fs->refs_nb;
	struct fs_open **b = calloc(nb, sizeof(*b)), **ob = fs->refs;

	if (!b)
		return; /* longer chains, still correct */
	fs->refs = b;
	fs->refs_nb = nb;
	for (size_t i = 0; i < old; i++)
		for (struct fs_open *o = ob[i], *next; o; o = next) {
			next = o->next;
			o->next = b[bucket(fs, o->ino)];
			b[bucket(fs, o->ino)] = o;
		}
	free(ob);
}

/* Under fs->lock. */
static struct fs_open *ref_find_or_add(struct fs *fs, uint64_t ino)
{
	struct fs_open *o = ref_find(fs, ino);

	if (o)
		return o;
	if (fs->refs_n >= fs->refs_nb)
		ref_grow(fs);
	if (!fs->refs_nb || !(o = calloc(1, sizeof(*o))))
		return NULL;
	o->ino = ino;
	o->next = fs->refs[bucket(fs, ino)];
	fs->refs[bucket(fs, ino)] = o;
	fs->refs_n++;
	return o;
}

/* Under fs->lock: drops o's record if nothing needs it any more. A commit cutting files
 * unlocked may still ask about the writes of a closed file: such records go when the last
 * commit ends (fs_commits_running()). */
static void ref_put(struct fs *fs, struct fs_open *o)
{
	struct fs_open **pp;

	if (o->count || o->lookups || o->unlinked || atomic_load(&o->writing) ||
	    (fs->committing && atomic_load(&o->wrote)))
		return;
	for (pp = &fs->refs[bucket(fs, o->ino)]; *pp != o; pp = &(*pp)->next)
		;
	*pp = o->next;
	fs->refs_n--;
	free(o);
}

struct fs_open *fs_open_hold(struct fs *fs, uint64_t ino)
{
	struct fs_open *o;

	pthread_mutex_lock(&fs->lock);
	o = ref_find_or_add(fs, ino);
	if (o)
		o->count++;
	pthread_mutex_unlock(&fs->lock);
	return o;
}

int fs_open_release(struct fs *fs, struct fs_open *o)
{
	int left;

	pthread_mutex_lock(&fs->lock);
	assert(o->count > 0);
	left = --o->count;
	pthread_mutex_unlock(&fs->lock);
	return left;
}

int fs_open_count(struct fs *fs, uint64_t ino)
{
	struct fs_open *o;
	int n;

	pthread_mutex_lock(&fs->lock);
	o = ref_find(fs, ino);
	n = o ? o->count : 0;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

void fs_write_begin(struct fs *fs, struct fs_open *o)
{
	atomic_fetch_add(&o->writing, 1);
}

void fs_write_end(struct fs *fs, struct fs_open *o)
{
	/* The stamp before the count drops: a commit looking in between sees one of them. */
	atomic_store(&o->wrote, atomic_fetch_add(&fs->wseq, 1) + 1);
	atomic_fetch_sub(&o->writing, 1);
}

struct fs_open *fs_write_hold(struct fs *fs, uint64_t ino)
{
	struct fs_open *o = fs_open_hold(fs, ino);

	if (o)
		fs_write_begin(fs, o);
	return o;
}

void fs_write_drop(struct fs *fs, struct fs_open *o)
{
	uint64_t ino;

	if (!o)
		return;
	ino = o->ino;
	fs_write_end(fs, o);
	if (fs_open_release(fs, o) == 0)
		fs_free_deferred(fs, ino);
}

uint64_t fs_write_seq(struct fs *fs)
{
	return atomic_load(&fs->wseq);
}

int fs_written_since(struct fs *fs, uint64_t ino, uint64_t seq)
{
	struct fs_open *o;
	int moved;

	pthread_mutex_lock(&fs->lock);
	o = ref_find(fs, ino);
	moved = o && (atomic_load(&o->writing) > 0 || atomic_load(&o->wrote) > seq);
	pthread_mutex_unlock(&fs->lock);
	return moved;
}

void fs_commits_running(struct fs *fs, int delta)
{
	pthread_mutex_lock(&fs->lock);
	fs->committing += delta;
	assert(fs->committing >= 0);
	if (fs->committing == 0) {
		/* Records kept only for their write stamps go now. */
		for (size_t i = 0; i < fs->refs_nb; i++)
			for (struct fs_open *o = fs->refs[i], *next; o; o = next) {
				next = o->next;
				ref_put(fs, o);
			}
	}
	pthread_mutex_unlock(&fs->lock);
}

void fs_lookup_add(struct fs *fs, const struct meta_inode *in)
{
	struct fs_open *o;

	/* Only HEAD inodes are ever freed while the mount runs; the rest need no count. */
	if (in->kind != MK_HEAD)
		return;
	pthread_mutex_lock(&fs->lock);
	o = ref_find_or_add(fs, in->ino);
	if (o)
		o->lookups++;
	pthread_mutex_unlock(&fs->lock);
	/* On ENOMEM the count is short: a name removed meanwhile frees the inode at once and
	 * the kernel's next use of it answers ENOENT, as before lookup counts. */
}

/* Under fs->lock: whether o, unlinked and no longer referenced, is to be freed now. */
static int ref_release_unlinked(struct fs *fs, struct fs_open *o)
{
	if (!o->unlinked || o->count || o->lookups)
		return 0;
	o->unlinked = 0;
	ref_put(fs, o);
	return 1;
}

static int free_fn(struct meta_txn *txn, void *arg)
{
	const struct fs_freed *f = arg;
	int err = 0;

	for (size_t i = 0; i < f->n && !err; i++) {
		struct meta_inode in;

		/* nlink 0 is written in the transaction that removed the last name: if that
		 * one failed, the inode still has its name and stays. */
		err = meta_inode_get(txn, f->inos[i], &in);
		if (err == ENOENT) {
			err = 0;
			continue;
		}
		if (!err && in.nlink == 0)
			err = meta_inode_del(txn, f->inos[i]);
		if (!err)
			err = meta_orphan_del(txn, f->inos[i]);
	}
	return err;
}

/* Deletes the records and staging files of inodes whose last reference went. */
static void free_now(struct fs *fs, const struct fs_freed *f)
{
	char path[4200];
	int err;

	if (!f->n)
		return;
	for (size_t i = 0; i < f->n; i++) {
		fs_staging_path(fs, f->inos[i], path, sizeof(path));
		if (unlink(path) && errno != ENOENT)
			log_msg(LOG_WARNING, "cannot remove staging file %s: %s", path,
				strerror(errno));
	}
	/* On failure the orphan records stay, and the sweep at the next mount frees them. */
	err = meta_write(fs->meta, free_fn, (void *)f);
	if (err)
		log_msg(LOG_WARNING, "cannot free %zu unlinked inode(s): %s", f->n, strerror(err));
}

void fs_do_forget(struct fs *fs, size_t count, const struct fuse_forget_data *fd)
{
	uint64_t one;
	struct fs_freed f = { .inos = count == 1 ? &one : calloc(count, sizeof(uint64_t)) };

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < count; i++) {
		struct fs_open *o = ref_find(fs, fd[i].ino);

		if (!o)
			continue; /* not a HEAD inode, or counted short (fs_lookup_add()) */
		o->lookups -= fd[i].nlookup < o->lookups ? fd[i].nlookup : o->lookups;
		if (ref_release_unlinked(fs, o)) {
			if (f.inos)
				f.inos[f.n++] = fd[i].ino;
		} else {
			ref_put(fs, o);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	/* Without memory for the list the orphans stay recorded for the next mount's sweep. */
	if (f.inos)
		free_now(fs, &f);
	if (f.inos != &one)
		free(f.inos);
}

void fs_free_deferred(struct fs *fs, uint64_t ino)
{
	struct fs_freed f = { .inos = &ino };
	struct fs_open *o;

	pthread_mutex_lock(&fs->lock);
	o = ref_find(fs, ino);
	if (o && o->count == 0) {
		if (ref_release_unlinked(fs, o))
			f.n = 1;
		else
			ref_put(fs, o);
	}
	pthread_mutex_unlock(&fs->lock);
	free_now(fs, &f);
}

/* Deletes a HEAD inode's record now, or marks it to go when the last handle and the last
 * lookup are gone. The dirent and the staging file (fs_staging_drop() once the transaction
 * committed) are the caller's. */
int fs_head_free(struct fs *fs, struct meta_txn *txn, uint64_t ino)
{
	struct meta_inode in;
	struct fs_open *o;
	int deferred = 0, err;

	pthread_mutex_lock(&fs->lock);
	o = ref_find(fs, ino);
	if (o && (o->count > 0 || o->lookups > 0)) {
		o->unlinked = 1;
		deferred = 1;
	}
	pthread_mutex_unlock(&fs->lock);
	if (!deferred)
		return meta_inode_del(txn, ino);
	err = meta_inode_get(txn, ino, &in);
	if (err)
		return err;
	in.nlink = 0;
	err = meta_inode_put(txn, &in);
	/* Recorded, so that a crash before the last reference goes cannot leak it. */
	return err ? err : meta_orphan_put(txn, ino);
}

int fs_head_free_fn(void *fs, struct meta_txn *txn, uint64_t ino)
{
	return fs_head_free(fs, txn, ino);
}

void fs_staging_drop(struct fs *fs, uint64_t ino)
{
	struct fs_open *o;
	int kept;
	char path[4200];

	pthread_mutex_lock(&fs->lock);
	o = ref_find(fs, ino);
	kept = o && o->unlinked;
	pthread_mutex_unlock(&fs->lock);
	if (kept)
		return; /* still referenced: goes with the inode */
	fs_staging_path(fs, ino, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		log_msg(LOG_WARNING, "cannot remove staging file %s: %s", path, strerror(errno));
}

void fs_refs_unmount(struct fs *fs)
{
	struct fs_freed f = { .inos = calloc(fs->refs_n ? fs->refs_n : 1, sizeof(uint64_t)) };

	if (!f.inos)
		return; /* the orphans stay recorded for the next mount's sweep */
	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < fs->refs_nb; i++)
		for (struct fs_open *o = fs->refs[i]; o; o = o->next) {
			o->lookups = 0;
			if (o->unlinked && !o->count)
				f.inos[f.n++] = o->ino;
		}
	pthread_mutex_unlock(&fs->lock);
	free_now(fs, &f);
	free(f.inos);
}

void fs_refs_free(struct fs *fs)
{
	for (size_t i = 0; i < fs->refs_nb; i++)
		for (struct fs_open *o = fs->refs[i], *next; o; o = next) {
			next = o->next;
			free(o);
		}
	free(fs->refs);
	fs->refs = NULL;
	fs->refs_nb = fs->refs_n = 0;
}
