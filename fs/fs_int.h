/* SPDX-License-Identifier: MIT */
/*
 * fs/ private interfaces shared by its files. Not for other folders.
 *
 * Lock order (take them in this order, release in reverse):
 *   fs_art.commit_lock   one artifact's commit or discard: held across the chunk uploads and
 *                        the manifest write, which take no other lock; only another commit
 *                        or discard of the same artifact waits for it
 *   fs_art.refresh_lock  one artifact's refresh from the store, across its store reads; only
 *                        ever tried by refresh (a refresh already running is enough); artifs
 *                        rm and restore wait for it, across the mark's store write
 *                        (lifecycle.c), holding commit_lock and no HEAD lock
 *   fs_art.tag_lock      one artifact's tag changes, each across its store write (git's ref
 *                        lock); refresh only tries it
 *   fs_art.lock          one artifact's HEAD tree: every change of it, a commit's snapshot
 *                        and its install; no network under it (local disk only: staging
 *                        files, copy-ups from the local store, the index's fsync)
 *   the LMDB writer      meta_write(): never across store I/O (meta.h), no lock above taken
 *                        inside it
 *   fs->lock             short bookkeeping, also inside meta_write callbacks; nothing inside
 *                        but the lineage lock
 *   the lineage lock     fs/lineage.c's runs and processes: a kill(pid, 0) per process at
 *                        most (the committer asks whether a draft's runs live, under
 *                        fs->lock); nothing inside
 * Two rules follow (STYLE.md 5a): no store I/O inside an LMDB write transaction, and no
 * network I/O under fs_art.lock. A commit snapshots the HEAD under fs_art.lock, cuts and
 * uploads with only commit_lock held, then installs under fs_art.lock again, keeping in the
 * draft whatever changed meanwhile (commit.c). Debug builds check "caller holds" with
 * FS_ASSERT_HELD().
 */
#ifndef ARTIFS_FS_INT_H
#define ARTIFS_FS_INT_H

#include "fs.h" /* first: it defines FUSE_USE_VERSION */

#include <assert.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "../backends/backend.h"
#include "../meta/meta.h"
#include "fs.h"

#define ARTIFS_VERSION "0.1.0"

/* The store's key layout (backends/keys.c) and the index agree on these bounds. */
_Static_assert(BE_NAME_MAX == META_PA_MAX, "project and artifact names");
_Static_assert(BE_VERSION_MAX == META_VERSION_MAX, "version numbers");
#define FS_XATTR_MAX (64 * 1024)

/* Reserved inodes below 16 (meta_ino_alloc starts at 16). */
#define FS_CTL_INO 2ULL
#define FS_CTL_VERSION_INO 3ULL
#define FS_CTL_STATS_INO 4ULL
#define FS_CTL_DRAFTS_INO 5ULL
#define FS_CTL_ERRORS_INO 6ULL
#define FS_CTL_MOUNT_INO 7ULL

/* A mutex that knows its holder, so that "caller holds X" is an assert (STYLE.md 3), and
 * that counts the HEAD locks (head: fs_art.lock) each thread holds, so that store I/O can
 * assert it runs under none (FS_ASSERT_NO_HEAD_LOCK()). fs_mutex_trylock() is 0 or EBUSY. */
struct fs_mutex {
	pthread_mutex_t m;
	atomic_int owner; /* gettid() of the holder, 0 when free */
	int head;
};
void fs_mutex_init(struct fs_mutex *x, int head);
void fs_mutex_destroy(struct fs_mutex *x);
void fs_mutex_lock(struct fs_mutex *x);
int fs_mutex_trylock(struct fs_mutex *x);
void fs_mutex_unlock(struct fs_mutex *x);
int fs_mutex_held(struct fs_mutex *x);
int fs_head_locks_held(void);
#define FS_ASSERT_HELD(x) assert(fs_mutex_held(x))
#define FS_ASSERT_NO_HEAD_LOCK() assert(fs_head_locks_held() == 0)

#define FS_RUN_ID_MAX 160
#define FS_ART_RUNS 64
struct run;
struct lineage;

/* A process that listed an artifact folder (opendir), and, once it took @latest away (a
 * recursive removal: rm -rf, shutil.rmtree, find -delete), removed the artifact: its further
 * removals in it succeed doing nothing (fs/lifecycle.c). */
struct fs_rmtree {
	pid_t pid;
	uint64_t art, project;
	int64_t when; /* monotonic ns of the listing */
	int removed, refused; /* refused: its removal of the artifact was */
	char name[META_PA_MAX + 1];
};
#define FS_RMTREES 16

/* In-memory state of an artifact that was touched in this session. */
struct fs_art {
	uint64_t ino;
	struct fs_mutex commit_lock;  /* serialises commits and discards (lock order above) */
	struct fs_mutex refresh_lock; /* one refresh at a time (tried, never waited for) */
	struct fs_mutex lock;         /* HEAD tree changes, a commit's snapshot and install */
	/* Serialises this artifact's tag changes, each across its store write and its index
	 * update, so that the index ends as the store does (ns.c, "Tags"). */
	struct fs_mutex tag_lock;
	unsigned writers;     /* open handles with write access (under fs->lock) */
	int scheduled;        /* changed in this session: commit when quiet (under fs->lock) */
	int failed;           /* last commit failed: retry later (under fs->lock) */
	int busy;             /* a quiet commit of it is queued or running (under fs->lock) */
	int64_t last_change;  /* monotonic ns of the last change (under fs->lock) */
	int64_t refreshed;    /* monotonic ns of the last refresh from the store (fs->lock) */
	int attrs_based;      /* artifact.json read in this session (under refresh_lock) */
	char producer[2048];  /* JSON of the last writer (under fs->lock) */
	pid_t producer_pid;   /* its process and run: the same writer again is not read again */
	char producer_run[FS_RUN_ID_MAX];
	char why[512];        /* why the last commit failed, "" after a success (fs->lock) */
	/* A manifest create whose outcome is unknown (the store did not answer): its number
	 * and the SHA-256 of its bytes, checked by the next commit (under commit_lock). */
	uint64_t uncertain_n;
	uint8_t uncertain_digest[32];
	/* The version number a commit is creating and installing now, or 0: refresh leaves it
	 * to the commit (under fs->lock). */
	uint64_t committing_n;
	/* Version numbers whose store object refresh found bad: not fetched again in this
	 * session (under refresh_lock; fs_art_skipped()). */
	uint64_t *skipped;
	size_t nskipped, capskipped;
	/* The running commit's progress (`artifs status`): bytes of the files it stores, and of
	 * those stored so far; total 0 when no commit is storing files. */
	_Atomic uint64_t commit_total, commit_done;
	struct run *runs[FS_ART_RUNS]; /* runs that wrote to the draft (under the lineage lock) */
	size_t nruns;
	struct fs_art *next;
};

/* An open file or directory (fi->fh). */
struct fs_handle {
	struct fs_handle *prev, *next; /* in fs->handles (under fs->lock) */
	uint64_t ino;
	uint32_t kind;
	int fd;                 /* staging file, or -1 */
	int writable;
	struct fs_art *art;     /* HEAD files: their artifact */
	struct fs_open *open;   /* HEAD files: their open record (fs_open_hold()) */
	struct chunk_ref *chunks; /* chunk-backed files */
	uint64_t *offsets;      /* start offset of each chunk */
	size_t nchunks;
	uint64_t size;
	char *buf;              /* control files: the generated content */
	size_t buflen;
	/* directories: where the last readdir stopped, to resume without rescanning */
	off_t next_off;
	char last[META_NAME_MAX + 1];
	/* files: where the last read ended, the bytes read in order, the read-ahead window
	 * (bytes), the first chunk not yet queued for prefetch and (remote stores) the first
	 * chunk whose pack was not yet warmed */
	uint64_t seq_end, seq_run, window;
	size_t pf_next, warm_next;
	/* HEAD files read from chunks: fs->copyups when last checked for a copy-up */
	uint64_t copyups;
};

struct fs_stats {
	atomic_uint_least64_t commits, commit_noops, commit_errors;
	atomic_uint_least64_t chunks_fetched, bytes_fetched, chunks_stored, bytes_stored;
	atomic_uint_least64_t rcache_hits, rcache_misses, read_errors;
};

struct rcache;

/* The keys of one listing: be_list(be, prefix, fs_keys_fn, &keys) collects them (copies, in
 * the store's order); fs_keys_free() gives them back and zeroes keys. */
struct fs_keys {
	char **v;
	size_t n, cap;
};

/* A set of pack names (fs/gcmarks.c): add, then sort (drops duplicates), then has. */
struct fs_names {
	uint8_t (*v)[PACK_NAME_LEN];
	size_t n, cap;
};

struct fs {
	struct fs_conf conf;
	struct meta *meta;
	struct be *be;
	struct store_conf sc;
	char *s3_bucket, *s3_prefix; /* s3 stores: the parsed URL (the leaf borrows them) */
	char cache_dir[4096];        /* s3 stores: the chunk cache (the layer borrows it) */
	int remote;                  /* s3 stores: sequential readers warm packs ahead */
	char staging[4096];
	struct fuse_session *se;
	struct rcache *rc;
	struct lineage *lin; /* NULL when capture is off */
	struct fs_stats st;
	atomic_uint_least64_t copyups; /* copy-ups so far (fs_handle_restage()) */
	atomic_uint_least64_t wseq;    /* staging file writes ended so far (fs_write_end()) */
	int committing;                /* commits cutting files now (under lock) */

	pthread_mutex_t lock; /* arts list and their scheduling fields, open counts */
	pthread_cond_t cond;
	struct fs_art *arts;
	/* Every open handle, so that those the kernel never released (its RELEASE is sent in
	 * the background, and an unmount can overtake it) are freed at exit. */
	struct fs_handle *handles;
	/* fs/refs.c: what keeps each HEAD inode alive (handles, lookups), a hash table */
	struct fs_open **refs;
	size_t refs_nb, refs_n; /* buckets (a power of two), records */
	pthread_t committer;          /* picks the drafts that are due */
	struct fs_pool *committers;   /* runs their quiet commits, a few at once */
	struct fs_pool *notifier;     /* tells the kernel of names gone (fs_inval_entry()) */
	struct fs_rmtree rmtrees[FS_RMTREES]; /* recursive removals (lifecycle.c; fs->lock) */
	int committer_started;
	int stopping;
	/* fs/gcmarks.c, under lock: the packs gc condemned or deleted, as the last commit's
	 * listing found them, and the records of deleted packs the index applied */
	struct fs_names gc_avoid;
	struct fs_keys gc_records;
};

/* ---- fs/util.c ---- */
int fs_keys_fn(void *arg, const char *key, uint64_t size, int64_t mtime);
void fs_keys_free(struct fs_keys *l);
int64_t fs_now_ns(void);     /* CLOCK_REALTIME */
int64_t fs_mono_ns(void);    /* CLOCK_MONOTONIC */
/* ns since the epoch (negative before 1970) as a timespec with 0 <= tv_nsec < 10^9. */
void fs_ts_set(struct timespec *ts, int64_t ns);
void fs_staging_path(struct fs *fs, uint64_t ino, char *out, size_t len);
/* Fills st from an inode (for staged files the staging file gives size and times). */
void fs_stat_fill(struct fs *fs, const struct meta_inode *in, struct stat *st);
/* Entry and attribute timeouts for the kind: long for immutable versions. */
double fs_timeout(const struct meta_inode *in);
/* How long the kernel may keep the name -> inode mapping of in. */
double fs_entry_timeout(const struct fs *fs, const struct meta_inode *in);
/* URI of an inode in a version: artifs://p/a@vN[/path]. *out caller-frees. */
int fs_uri(struct fs *fs, struct meta_txn *txn, const struct meta_inode *in, char **out);
/* Reads one inode in its own read transaction. */
int fs_inode_read(struct fs *fs, uint64_t ino, struct meta_inode *out);
/* The name under which ino stands in parent (a scan of parent: not for hot paths). */
int fs_child_name(struct meta_txn *txn, uint64_t parent, uint64_t ino,
		  char out[META_NAME_MAX + 1]);
#define FS_REF_KEY_MAX 600
/* Path of a node relative to its HEAD or version root. *out caller-frees. */
int fs_relpath(struct meta_txn *txn, const struct meta_inode *in, char **out);
/* The artifacts with a draft, or with at least one version: their inodes appended to
 * out->v (caller-frees), in inode order. */
enum fs_with { FS_WITH_DRAFT, FS_WITH_VERSIONS };
int fs_artifacts_with(struct meta_txn *txn, enum fs_with what, struct meta_inos *out);

/* ---- fs/state.c ---- */
/* The daemon's log lines also go to <state>/log (log_to_file); a failure is a warning. Not
 * for rebuild, whose state is a scratch directory. */
void fs_log_open(struct fs *fs);
/* Opens the state, store and index. */
int fs_open_backing(struct fs *fs, int create_store);
/* Opens the store alone (fs->be, fs->sc); cached: an S3 store gets the local chunk cache in
 * front of it (fsck reads the store itself). */
int fs_open_store(struct fs *fs, int create_store, int cached);
/* Closes what fs_open_store() opened (none of it may be open: a no-op). */
void fs_close_store(struct fs *fs);
void fs_close_backing(struct fs *fs);
/* For the commands that work on the store alone (fsck, gc): a struct fs of conf c with only
 * its store open (not created, not cached); fs_offline_close() closes and frees it. */
int fs_offline_open(const struct fs_conf *c, struct fs **out);
void fs_offline_close(struct fs *fs);

/* ---- fs/draft.c ---- */
struct fs_art *fs_art_get(struct fs *fs, uint64_t art_ino);
/* Reads inode ino into *in and, when it is part of a HEAD (the artifact folder or below),
 * takes its artifact's lock: *art is then that artifact, else NULL. Release with
 * fs_head_unlock(*art). */
int fs_head_lock(struct fs *fs, uint64_t ino, struct meta_inode *in, struct fs_art **art);
void fs_head_unlock(struct fs_art *art);
/* Records a change of the artifact's HEAD: schedules a quiet commit. fs_art_changed: the
 * same for a change a request makes to the HEAD's tree (not its bytes: writes count at
 * their open), which also makes the requesting process's run one of the draft's writers,
 * so that a job's mkdir, rm or mv waits for its end like its writes (docs/jobs.md). */
void fs_art_touch(struct fs *fs, struct fs_art *art);
void fs_art_changed(struct fs *fs, struct fs_art *art);
void fs_art_writers(struct fs *fs, struct fs_art *art, int delta);
/* Whether version n of art was found bad in the store (add: remember that it was). Caller
 * holds art->refresh_lock. */
int fs_art_skipped(struct fs_art *art, uint64_t n, int add);
/* Why the last commit of artifact art_ino in this session failed, or "" (into out); the
 * running commit's progress: bytes stored so far of total (0 when none is storing files);
 * and *held = 1 when its draft waits for a held run's end (FS_JOB_HELD). Takes fs->lock. */
void fs_art_why(struct fs *fs, uint64_t art_ino, char *out, size_t len, uint64_t *done,
		uint64_t *total, int *held);
/* Remembers who writes to art (the producer of its next version). */
void fs_art_producer(struct fs *fs, struct fs_art *art, const struct fuse_ctx *ctx,
		     const char *run);
/* Makes HEAD file ino's bytes live in a staging file (copy-up), fetching its chunks unless
 * trunc. Caller holds art->lock, which is dropped while the chunks are fetched (no network
 * under it) and held again on return, also on error: the caller reads the inode again.
 * EBUSY when the file changed under each of 3 copy-ups. Blocks on the store. */
int fs_stage(struct fs *fs, struct fs_art *art, uint64_t ino, int trunc);
/* fsync of the staging directory, so that new staging files survive a machine crash. */
int fs_staging_sync(struct fs *fs);
/* At mount, before serving: frees the inodes that were unlinked while referenced when the
 * daemon died (the orphans), and removes staging files that no staged inode needs. */
int fs_sweep(struct fs *fs);
/* Frees the in-memory draft bookkeeping (at exit). */
void fs_drafts_free(struct fs *fs);
/* ---- fs/refs.c ---- */
/* Open HEAD inodes: an unlinked inode is freed at its last release, and a commit that cuts
 * staging files with no lock held asks whether their bytes moved meanwhile. Any thread;
 * each takes fs->lock briefly. fs_open_hold() returns NULL only on ENOMEM; the record stays
 * valid until the fs_open_release() that matches it. */
struct fs_open;
struct fs_open *fs_open_hold(struct fs *fs, uint64_t ino);
/* Returns the handles left open; at 0 the caller calls fs_free_deferred(). */
int fs_open_release(struct fs *fs, struct fs_open *o);
int fs_open_count(struct fs *fs, uint64_t ino);
/* Every change of a staging file's bytes or times runs between fs_write_begin() and
 * fs_write_end() of its open record (no lock: two atomics), or, for a change without a
 * handle (truncate, utimes), between fs_write_hold() (NULL: ENOMEM, and the change must
 * not happen) and fs_write_drop(). */
void fs_write_begin(struct fs *fs, struct fs_open *o);
void fs_write_end(struct fs *fs, struct fs_open *o);
struct fs_open *fs_write_hold(struct fs *fs, uint64_t ino);
void fs_write_drop(struct fs *fs, struct fs_open *o);
/* The write sequence now, and whether ino's staging file was written after seq (or is being
 * written): a cut that started at seq may then hold bytes that never were the file's. Exact
 * while a commit runs (fs_commits_running()), as records of closed files are kept till then. */
uint64_t fs_write_seq(struct fs *fs);
int fs_written_since(struct fs *fs, uint64_t ino, uint64_t seq);
void fs_commits_running(struct fs *fs, int delta);
/* The kernel's lookup count (fuse_lowlevel.h, forget): every entry reply of a HEAD inode
 * that reaches the kernel is one fs_lookup_add() (other kinds are never freed while mounted
 * and are not counted); fs_do_forget() takes them back. An unlinked inode (fs_head_free())
 * is freed, staging file and record, when its last handle and its last lookup are gone, in
 * one write transaction per forget batch. */
void fs_lookup_add(struct fs *fs, const struct meta_inode *in);
void fs_do_forget(struct fs *fs, size_t count, const struct fuse_forget_data *fd);
/* Frees a HEAD inode's record, or sets nlink 0, records it as an orphan and defers the rest
 * until its last handle and lookup are gone. fs_head_free_fn() is it as a meta_free_fn (arg:
 * the struct fs), for meta_head_reset(). */
int fs_head_free(struct fs *fs, struct meta_txn *txn, uint64_t ino);
int fs_head_free_fn(void *fs, struct meta_txn *txn, uint64_t ino);
/* Removes the staging file of a freed inode unless its freeing was deferred. */
void fs_staging_drop(struct fs *fs, uint64_t ino);
/* After a handle's release: frees ino if it is unlinked and nothing references it now. */
void fs_free_deferred(struct fs *fs, uint64_t ino);
/* At unmount every lookup count drops to zero (fuse_lowlevel.h): frees the unlinked inodes
 * no handle holds, for which no forget came. */
void fs_refs_unmount(struct fs *fs);
/* Frees the records (at exit). */
void fs_refs_free(struct fs *fs);

/* ---- fs/lineage.c: capture of what runs read ---- */
int fs_lineage_create(struct fs *fs);
void fs_lineage_destroy(struct fs *fs);
/* Process pid opened a file of version v. */
void fs_lineage_read(struct fs *fs, pid_t pid, const struct meta_vref *v);
/* Process pid writes to art's draft; id (may be NULL) receives its run id. */
void fs_lineage_writer(struct fs *fs, struct fs_art *art, pid_t pid, char *id, size_t idlen);
/* The versions read by the runs that wrote to art's draft. *out caller-frees. */
int fs_lineage_captured(struct fs *fs, struct fs_art *art, struct meta_vref **out, size_t *n);
/* The draft was committed: its writer runs are released. */
void fs_lineage_committed(struct fs *fs, struct fs_art *art);
/* Forgets runs whose processes are all gone (called by the committer thread). */
void fs_lineage_sweep(struct fs *fs);
/*
 * Jobs (docs/jobs.md). fs_lineage_job(): what the runs that wrote art's draft are doing:
 * FS_JOB_NAMED when a named run ($ARTIFS_RUN, `artifs run`, a run of its own) among them
 * lives, else FS_JOB_PLAIN when a process-group run lives, else FS_JOB_ENDED when every one
 * has ended, FS_JOB_NONE when none is known (capture off, or written before this mount);
 * FS_JOB_HELD before all of these when a held run among them has not been ended by
 * fs_lineage_end(), living or not (`artifs import`: its drafts commit only at its end).
 */
enum { FS_JOB_NONE, FS_JOB_ENDED, FS_JOB_PLAIN, FS_JOB_NAMED, FS_JOB_HELD };
int fs_lineage_job(struct fs *fs, struct fs_art *art);
/* Named run id ($ARTIFS_RUN's value) has ended, whatever processes of it remain: 0, ENOENT
 * when no such run is known, ENOTSUP with capture off. */
int fs_lineage_end(struct fs *fs, const char *id);
/* 1 when named run id wrote to art's draft. */
int fs_lineage_wrote(struct fs *fs, struct fs_art *art, const char *id);
/* Process pid joins named run id, which lives at least as long as pid does (`artifs run`
 * begins its job so; held: the run becomes held, see FS_JOB_HELD); with id NULL it starts
 * a named run of its own: what it reads from now on is credited to what it writes from now
 * on only (a notebook kernel's next experiment). */
int fs_lineage_new_run(struct fs *fs, pid_t pid, const char *id, int held);
/* Records that the named runs that wrote art's draft (art may be NULL), and run id (unless
 * NULL), made uri (NULL: nothing, the run is still recorded); fs_lineage_made_get() gives
 * what run id made, one URI per line (*out caller-frees; ENODATA when not recorded). The
 * last 64 runs that made something are kept. */
void fs_lineage_made(struct fs *fs, struct fs_art *art, const char *id, const char *uri);
int fs_lineage_made_get(struct fs *fs, const char *id, char **out);

/* ---- fs/lifecycle.c: removed versions and artifacts (docs/lifecycle.md) ---- */
/* What the store says is removed of one artifact: version numbers with a mark, and, when the
 * artifact itself is removed (art), every version up to through. */
struct fs_removals {
	uint64_t *v;
	size_t n, cap;
	int art;
	uint64_t through;
};
/* One listing of the artifact's versions/ folder: its removals into *r (the caller
 * releases), and with nums the version numbers found (caller-frees). Store I/O. */
int fs_removals_read(struct fs *fs, const char *project, const char *artifact,
		     struct fs_removals *r, uint64_t **nums, size_t *nnums);
/* Reads the artifact's removal mark into r (no mark, or a bad one: r unchanged). */
int fs_removals_read_artifact(struct fs *fs, const char *project, const char *artifact,
			      struct fs_removals *r);
int fs_removals_add(struct fs_removals *r, uint64_t n);
/* What the rest of a versions/<p>/<a>/ key is: 1 a version's removal mark (*n its number), 2
 * the artifact's, 0 neither. */
int fs_removal_mark(const char *rest, uint64_t *n);
int fs_removals_has(const struct fs_removals *r, uint64_t n);
void fs_removals_release(struct fs_removals *r);
/* Makes the index of art follow r (one write transaction, none when nothing differs):
 * versions it names are removed, removed ones it no longer names restored, the folder is
 * hidden while the artifact is removed with nothing left, and a HEAD without a draft follows
 * the newest version. Caller holds art->refresh_lock, no HEAD lock. */
int fs_removals_apply(struct fs *fs, struct fs_art *art, const struct fs_removals *r);
/* Also tells the kernel of the names that went (fs_inval_entry()). */
/* artifs rm and artifs restore of version n of art, or with n 0 of the artifact: the mark
 * written to (or removed from) the store, then this host's index follows. Errors with a
 * reason in why: ENOENT (no such version, or removed already), EEXIST (restore: not removed),
 * EBUSY (a tag points at the version; the artifact has a draft), or the store's. defer:
 * the index follows later (a recursive removal through the mount, fs_rmtree_latest()). */
int fs_remove(struct fs *fs, struct fs_art *art, uint64_t n, int defer, char *why,
	      size_t whylen);
int fs_restore(struct fs *fs, struct fs_art *art, uint64_t n, char *why, size_t whylen);
/* Names the kernel caches for a day (versions, artifacts) that went: the kernel is told to
 * forget name in folder parent, on a thread of its own, after the request that made it has
 * been answered (a lookup holds the folder's lock that the kernel's forgetting takes). */
void fs_inval_entry(struct fs *fs, uint64_t parent, const char *name);
/* The same at once, for a request during which the kernel holds no folder lock (an ioctl),
 * so that the caller sees the name gone when its request returns. */
void fs_inval_entry_now(struct fs *fs, uint64_t parent, const char *name);
/* The requesting process lists artifact folder art (opendir). */
void fs_rmtree_listed(struct fs *fs, uint64_t art);
/* unlink of @latest in artifact folder art by the requesting process: when it listed the
 * folder just before (a recursive removal of it), the artifact is removed as by artifs rm
 * and 0 returned; else EPERM (or the removal's refusal), with the reason in why. */
int fs_rmtree_latest(struct fs *fs, uint64_t art, char *why, size_t whylen);
/* Whether the requesting process's recursive removal of art was refused (a draft): its
 * tags then stay (tag drops refused). */
int fs_rmtree_refused(struct fs *fs, uint64_t art);
/* Whether removing name in folder parent is part of the requesting process's recursive
 * removal of an artifact it removed already: then it succeeds doing nothing. Its last step,
 * the rmdir of the artifact folder, makes the index follow the removal (until then, or
 * until the process ends, every name it listed stays, so that its walk finds them). */
int fs_rmtree_absorbs(struct fs *fs, uint64_t parent, const char *name);
/* ARTIFS_IOC_LIFECYCLE on project folder ino (fs.h): artifact name of it, or its version
 * n, removed or restored (restore 1). ENOTTY when ino is no project folder. */
int fs_do_lifecycle(struct fs *fs, const struct fuse_ctx *ctx, uint64_t ino, const char *name,
		    uint64_t n, int restore, char *why, size_t whylen);
/* Whether the caller may remove and restore what folder p holds: root, or a writer by its
 * mode bits. */
int fs_may_write(const struct fuse_ctx *ctx, const struct meta_inode *p);
/* The artifact of project folder project_ino named name (NULL: any) whose folder is hidden
 * (removed), into *out: 0, or ENOENT. */
int fs_hidden_find(struct meta_txn *txn, uint64_t project_ino, const char *name,
		   struct meta_artifact *out);
/* The hidden (removed) project named name: 0 and *pino, or ENOENT. */
int fs_hidden_project(struct meta_txn *txn, const char *name, uint64_t *pino);
/* "meta/<project>/@removed", the project's removal mark. */
int fs_project_mark_key(char *key, size_t len, const char *project);
/* Whether the store holds project's removal mark (1; 0 also when it cannot tell). */
int fs_project_removed(struct fs *fs, const char *project);
/* The removal mark of artifact project/name deleted from the store for an artifact this
 * index does not hold: 0, ENOENT with why when none is removed or gc purged it. */
int fs_restore_unseen(struct fs *fs, const char *project, const char *name, char *why,
		      size_t whylen);

/* ---- fs/projects.c: a whole project removed and restored (docs/lifecycle.md) ---- */
/* artifs rm of project pino (named project): a draft in any artifact refuses it (EBUSY)
 * before anything changes; else every artifact with versions is removed (restorable) and
 * every empty one goes for good, the mark meta/<p>/@removed names the removed ones, and the
 * folder leaves the root. A project that never had a version goes for good, as by rmdir.
 * rmdir: called by an rmdir of the folder (the kernel forgets the name itself). Errors come
 * with why. */
int fs_project_remove(struct fs *fs, uint64_t pino, const char *project, int rmdir, char *why,
		      size_t whylen);
/* artifs restore of a project: the artifacts its mark names back (those gc purged are named
 * in why, with 0), the mark deleted, the folder shown. EEXIST when it is not removed. */
int fs_project_restore(struct fs *fs, const char *project, char *why, size_t whylen);
/* ARTIFS_IOC_LIFECYCLE on the root folder: project name removed or restored. */
int fs_do_project_lifecycle(struct fs *fs, const struct fuse_ctx *ctx, const char *name,
			    uint64_t n, int restore, char *why, size_t whylen);
/* Project p (named name) looked up: at most once per refresh, its mark is looked for, and
 * when another host removed it, its artifacts follow their marks and an emptied folder
 * leaves the root. */
int fs_project_follow(struct fs *fs, const struct meta_inode *p, const char *name);

/* ---- fs/fsck.c ---- */
/* The checks of artifs fsck over fs->be (opened alone), and index (may be NULL) against it. */
int fs_fsck(struct fs *fs, struct meta *index, struct fs_fsck *out);

/* ---- fs/refresh.c: what other hosts wrote to the shared store ---- */
/* The largest version object read (and written: a commit refuses a tree past it). */
#define MANIFEST_OBJECT_MAX (64u << 20)
/* Reads and checks version n of project/artifact from the store: bounded in size, decoded
 * as hostile input, and naming the version it is stored as. EINVAL (logged with the key)
 * for an object to skip, ENOENT when missing, another errno when the store failed. *m is
 * the caller's to release on success; digest gets the object's SHA-256. */
int fs_manifest_fetch(struct fs *fs, const char *project, const char *artifact, uint64_t n,
		      struct manifest *m, uint8_t digest[32]);
/* Reads the artifact's versions and tags from the store when its listing is older than
 * conf.refresh_ms (force 1: now; force 2: now, even when refresh is off). Errors are logged;
 * lookups go on with what is known. */
int fs_refresh_artifact(struct fs *fs, uint64_t art_ino, int force);
/* The refresh itself, now, whatever conf.refresh_ms says (artifs rm and restore: the index
 * follows the store at once). Caller holds art->refresh_lock, no HEAD lock. */
int fs_refresh_locked(struct fs *fs, struct fs_art *art);
/* A name missing in the root or a project: made on another host? 0 when it now exists. */
int fs_refresh_name(struct fs *fs, const struct meta_inode *parent, const char *name);

/* Before a shared attribute of ino is read: refreshes its project, or its artifact (which
 * also reads versions and tags), when older than conf.refresh_ms. Errors are logged. */
void fs_attrs_refresh_for(struct fs *fs, uint64_t ino);
/* At mount, after fs_sweep(): refreshes every artifact with a draft, so that a version whose
 * manifest a crash left out of the index is read in before the draft commits again (its tree
 * then equals that version's, and no duplicate is made). */
void fs_refresh_drafts(struct fs *fs);
/* Reads version n of the artifact from the store into the index (fs_manifest_fetch(), then
 * the installer), unless the index has it. want (may be NULL): the SHA-256 the object must
 * have, else EEXIST and nothing changes. Takes no artifact lock. */
int fs_version_read_in(struct fs *fs, uint64_t art_ino, const char *project,
		       const char *artifact, uint64_t n, const uint8_t *want);

/* ---- fs/pool.c: the one worker pool ----
 * Up to `threads` threads (started as jobs come) run submitted jobs in order. A job must not
 * wait for another job of its own pool. fs_pool_submit(): 0, ENOMEM, or EAGAIN when no
 * thread could start; the job then did not run. fs_pool_destroy() runs what is queued, joins
 * the threads and frees p (NULL: nothing). Any thread; not from a job of p itself. */
struct fs_pool;
int fs_pool_create(unsigned threads, struct fs_pool **out);
int fs_pool_submit(struct fs_pool *p, void (*fn)(void *arg), void *arg);
void fs_pool_destroy(struct fs_pool *p);

/* ---- fs/upload.c: the cutter and upload pool of commits ---- */
struct fs_uppool;
/* pw: the commit's pack writer (store format 2), whose packs get the new chunks; NULL: each
 * new chunk is a chunks/ object (format 1). */
int fs_uppool_create(struct fs *fs, struct pack_writer *pw, struct fs_uppool **out);
/* Waits for every upload still running, then frees p (NULL: nothing). */
void fs_uppool_destroy(struct fs_uppool *p);
/* Stores one chunk (plain: its ref->len bytes, ref named) into p's pack writer in the calling
 * thread, after every batch queued before it: for chunks copied out of a pack gc condemned
 * (commit.c). EINVAL without a pack writer (format 1). */
int fs_uppool_put(struct fs_uppool *p, const struct chunk_ref *ref, const void *plain);
/* From now on adds the bytes of every chunk p has stored or found known to *done. */
void fs_uppool_count(struct fs_uppool *p, _Atomic uint64_t *done);
/* Cuts ino's staging file into chunks queued on p, waits for their uploads, and fills e
 * (size, mtime, digest, chunks). ENOENT when there is no staging file. Holds no lock (asserts
 * no HEAD lock is held): blocks on the store. */
int fs_cut_file(struct fs *fs, struct fs_uppool *p, uint64_t ino, struct manifest_entry *e);

/* ---- fs/gcmarks.c: what gc's objects tell a commit (docs/gc.md) ----
 * gc/runs/<time>-<random>: one per gc run; gc/condemned/<pack hex>: a pack gc found
 * unreferenced; gc/swept/<run>: the packs a run deleted, {"at_ns": …, "packs": [hex…]}. */
#define GC_RUNS "gc/runs/"
#define GC_CONDEMNED "gc/condemned/"
#define GC_SWEPT "gc/swept/"
#define GC_RECORD_MAX (8u << 20) /* bytes of a record of deleted packs */
#define FS_GC_RECORD_KEEP_DAYS 90 /* how long gc keeps a record of deleted packs */
int fs_names_add(struct fs_names *s, const uint8_t *name);
void fs_names_sort(struct fs_names *s);
int fs_names_has(const struct fs_names *s, const uint8_t *name);
void fs_names_release(struct fs_names *s);
/* 32 lowercase hex digits: 0, else EINVAL. */
int fs_gc_name_parse(const char *hex, uint8_t name[PACK_NAME_LEN]);
/* Lists gc/condemned/ and gc/swept/ into fs->gc_avoid; the packs of each record not seen
 * before are forgotten by the index (meta_pack_forget()). Store I/O, no lock held. */
int fs_gc_avoid_refresh(struct fs *fs);
void fs_gc_marks_free(struct fs *fs);
/* Whether fs->gc_avoid holds anything, and whether it holds pack (each takes fs->lock). */
int fs_gc_avoiding(struct fs *fs);
int fs_gc_avoids(struct fs *fs, const uint8_t *pack);
/* Right before a commit writes manifest m: fs_gc_avoid_refresh(), then EAGAIN with why when
 * m names a pack to avoid (the commit is made again, storing those chunks anew). */
int fs_gc_check(struct fs *fs, const struct manifest *m, char *why, size_t whylen);

/* ---- fs/packs.c: pack indexes of other hosts' versions (store format 2) ---- */
struct fs_packs {
	struct pack_index *v; /* ascending by name */
	size_t n, cap;
};
/* Adds to packs (zeroed at first) the index of every pack m names that this host has not
 * read in and packs lacks: one get each, up to 8 at once, no lock or transaction held. A
 * missing, damaged or hostile index, or one whose digest is not the one m gives, is skipped
 * with a log line (the chunks it would place then read as EIO); 0, or ENOMEM or an index
 * error. fs_packs_install(): inside the transaction that installs the version(s), records
 * where their chunks lie (meta_pack_read_in()). fs_packs_resolve(), in that transaction
 * after the install: gives each file of m that lists runs (manifest format 2) its chunk
 * list, from the indexes read in; a file whose runs name an index not read in, or one of
 * another digest, or frames it lacks, or that do not add up to its size, gets a chunk list
 * that reads as EIO (fs_chunk_unplaced()), with a log line: the rest of the version reads. */
int fs_packs_fetch(struct fs *fs, const struct manifest *m, struct fs_packs *packs);
/* Reads and checks the index of pack name into *ix (of digest want, unless NULL): 0, or a
 * logged reason to skip it (EINVAL: not valid or another digest; ENOENT: missing). */
int fs_pack_index_fetch(struct fs *fs, const uint8_t *name, const uint8_t *want,
			struct pack_index *ix);
int fs_packs_install(struct meta_txn *txn, const struct fs_packs *packs);
int fs_packs_resolve(struct meta_txn *txn, struct manifest *m);
/* A chunk of such a list: no store object holds it. */
int fs_chunk_unplaced(const struct chunk_ref *ref);
/* The other way, for a commit of store format 2: m's packs (with their index digests) and
 * each file's runs, from its chunk list. A chunk lies in one of own (the indexes of the packs
 * the commit stored), else where this host's index places it; EIO (logged) when it lies in no
 * pack this host read in. One read transaction; no store I/O. */
int fs_manifest_runs(struct fs *fs, struct manifest *m, const struct pack_index *own,
		     size_t nown);
void fs_packs_release(struct fs_packs *packs);

/* ---- fs/commit.c ---- */
/* Commits art's draft now. message may be NULL. *made (may be NULL) gets the new version
 * number or 0 when the tree did not change. asked: a user's explicit request (setfattr,
 * ioctl, fsync of the folder); otherwise (quiet, a run's end, unmount) a draft that removes
 * every file of an artifact with versions is held, not committed: 0, with the reason in
 * art->why, until it changes again (docs/lifecycle.md). Takes art->commit_lock for the whole commit and
 * art->lock twice, briefly (snapshot, install); blocks on the store holding only
 * commit_lock. Errors: the store's (EIO, ETIMEDOUT, EACCES, ...), EFBIG for a manifest
 * past MANIFEST_OBJECT_MAX, EBUSY for a file written through every cut, EAGAIN for staged
 * files removed under each of 3 snapshots; the reason goes to art->why (artifs status). */
int fs_commit(struct fs *fs, struct fs_art *art, const char *message, int asked, uint64_t *made);
/* Named run id has ended (`artifs run`, docs/jobs.md): the drafts it wrote are committed now,
 * with message (may be NULL); what it made is then fs_lineage_made_get(id). 0, or the first
 * commit's error (the others are still committed); ENOTSUP with capture off. */
int fs_run_end(struct fs *fs, const char *id, const char *message);
/* ARTIFS_IOC_COMMIT (fs.h): commits artifact folder ino for ctx. ENOTTY when ino is no
 * artifact folder, EACCES when ctx may not write to it (root, or its mode bits for ctx's
 * uid or primary gid), else as fs_commit(). Takes the artifact's commit_lock and, briefly,
 * its lock; blocks on the store. */
int fs_do_commit(struct fs *fs, const struct fuse_ctx *ctx, uint64_t ino, const char *message,
		 uint64_t *made);
/* Throws the draft away: the HEAD becomes the newest version's tree again. */
int fs_discard(struct fs *fs, struct fs_art *art);
/* The HEAD becomes the tree of the artifact's version ref ("v3", "@v3", a tag, "latest"),
 * the draft and pending values dropped as by fs_discard(); unless that is the newest version,
 * the HEAD is then a draft, committed by the usual rules as a new version equal to ref.
 * EINVAL (with its reason) when the artifact has no such version. Locks as fs_discard(). */
int fs_revert(struct fs *fs, struct fs_art *art, const char *ref);
int fs_committer_start(struct fs *fs);
/* Stops the committer and commits every draft changed in this session. */
void fs_committer_stop(struct fs *fs);
/* ---- fs/rcache.c: decoded chunks in memory, shared by readers ---- */
struct rchunk;
int rcache_create(uint64_t bound, struct rcache **out);
void rcache_destroy(struct rcache *rc);
/* Starts the read-ahead threads (after the store is open). */
int rcache_prefetch_start(struct fs *fs);
/* chunk_fetch() into buf (CHUNK_FETCH_CAP(ref->len) bytes) with the daemon's counters; a
 * chunk missing from the store is EIO with a log line naming it. Outside the cache. */
int fs_chunk_fetch(struct fs *fs, const struct chunk_ref *ref, uint8_t *buf);
/* Returns the plain bytes of ref, fetching and verifying once for all concurrent callers.
 * *data valid until rcache_put(). */
int rcache_get(struct fs *fs, const struct chunk_ref *ref, struct rchunk **out,
	       const uint8_t **data);
void rcache_put(struct rcache *rc, struct rchunk *c);
/* Reads [off, off+len) of a chunk-backed file into buf. *got < len only at EOF. */
int fs_read_chunks(struct fs *fs, struct fs_handle *h, uint64_t off, size_t len, char *buf,
		   size_t *got);

/* A read answered straight from the decoded-chunk cache, without a copy. */
#define FS_READ_IOV 8
struct fs_read {
	struct iovec iov[FS_READ_IOV]; /* into cached chunks, valid until fs_read_release() */
	struct rchunk *held[FS_READ_IOV];
	int n;
	size_t got; /* bytes in iov: < len at EOF, or when FS_READ_IOV chunks did not reach */
};
/* Pins the chunks holding [off, off+len) of a chunk-backed file (at most FS_READ_IOV of
 * them) and points r->iov at the bytes. On error nothing stays pinned. */
int fs_read_pin(struct fs *fs, struct fs_handle *h, uint64_t off, size_t len,
		struct fs_read *r);
void fs_read_release(struct fs *fs, struct fs_read *r);

/* ---- fs/util.c: helpers of the namespace operations (ns.c, tags.c) ---- */
/* Logs a refusal of op on name with its reason (users read it) and returns err. */
int fs_refuse(int err, const char *op, const char *name, const char *why);
/* A HEAD inode or an artifact folder (the writable tree), or an inode of a version. */
int fs_is_headish(const struct meta_inode *in);
int fs_is_version(const struct meta_inode *in);
/* A HEAD inode whose last name is gone but that is still in use (fs/refs.c): nothing new
 * goes into it (ENOENT). */
int fs_is_removed(const struct meta_inode *in);
/* The entry of in as lookup answers it (attributes and both timeouts). */
void fs_entry_fill(struct fs *fs, const struct meta_inode *in, struct fuse_entry_param *e);
/* A rename: its arguments, its refusal's reason and what the index change freed. */
struct fs_mv {
	struct fs *fs;
	uint64_t parent, newparent;
	const char *name, *newname;
	unsigned flags;
	const char *why;
	uint64_t freed, art;
};
/* The checks every rename passes, onto a tag or not; fills p, np and c (the renamed inode). */
int fs_mv_check(struct meta_txn *txn, struct fs_mv *r, struct meta_inode *p,
		struct meta_inode *np, struct meta_inode *c);

/* ---- fs/tags.c: an @name at the top of an artifact (its store object first) ---- */
/* ln -s TARGET @name in artifact art (e gets the new entry). */
int fs_tag_link(struct fs *fs, const struct fuse_ctx *ctx, uint64_t art, const char *name,
		const char *link, struct fuse_entry_param *e);
/* A rename onto a tag, or of a tag (mv @a @b, ln -sfn's last step). */
int fs_tag_rename(struct fs *fs, struct fs_mv *r);
/* rm @name. */
int fs_tag_drop(struct fs *fs, uint64_t art_ino, const char *name);

/* ---- fs/ns.c: the namespace operations ----
 * Each returns 0 or the errno its FUSE op replies with (docs/errors.md lists every refusal,
 * each also logged with its reason) and changes the index in at most one LMDB write
 * transaction, or none when it refuses. mknode, unlink, rename and setattr of a HEAD take
 * its artifact's lock and do no store I/O (project and artifact markers are written after,
 * with no lock). Those of a tag (an @name at the top of an artifact: ln -s, ln -sfn, mv, rm)
 * take the artifact's tag_lock and block on the store with no write transaction open; a move
 * of a HEAD symlink onto a tag also takes fs_art.lock, for its last transaction only.
 * Lookups and opendir of an artifact may refresh it from the store first (refresh.c: no
 * lock of this caller's held, at most once per refresh interval). Any FUSE thread. */
/* e gets the child's entry (inode, attributes, timeouts). ENOENT also after a refresh from
 * the store did not find name; ENAMETOOLONG for a name over 255 bytes. */
int fs_do_lookup(struct fs *fs, uint64_t parent, const char *name, struct fuse_entry_param *e);
/* st and *timeout (seconds the kernel may cache it) for ino. ENOENT for a freed inode. No
 * lock, one read transaction. */
int fs_do_getattr(struct fs *fs, uint64_t ino, struct stat *st, double *timeout);
/* chmod, chown, truncate, utimens (to_set: FUSE_SET_ATTR_* bits of attr). EROFS in a
 * version, EPERM for what artifs keeps (the root, @latest, tags, .artifs), EISDIR/EINVAL for
 * a size on a folder or symlink.
 * A size change of a HEAD file copies it up first (fs_stage()). */
int fs_do_setattr(struct fs *fs, uint64_t ino, struct stat *attr, int to_set,
		  struct fuse_file_info *fi, struct stat *out, double *timeout);
/* mkdir, mknod (regular files only: EPERM for devices, FIFOs, sockets) and symlink (link
 * not NULL; an @name link at the top of an artifact is a tag: EINVAL unless it names a
 * version, tag or @latest). A folder at the root or in a project is a project or an
 * artifact (EINVAL for a bad name). EEXIST, EROFS in a version, ENAMETOOLONG past
 * MANIFEST_PATH_MAX. e gets the new entry. */
int fs_do_mknode(struct fs *fs, const struct fuse_ctx *ctx, uint64_t parent, const char *name,
		 mode_t mode, const char *link, struct fuse_entry_param *e);
/* unlink (dir 0) or rmdir (dir 1). ENOENT, ENOTEMPTY (also an artifact with versions),
 * EROFS in a version, EPERM for @latest; an open file is freed at its last release. */
int fs_do_unlink(struct fs *fs, uint64_t parent, const char *name, int dir);
/* rename within one artifact (EXDEV across artifacts, EPERM for projects and artifacts,
 * EINVAL for RENAME_EXCHANGE or a folder into itself, ENAMETOOLONG past MANIFEST_PATH_MAX);
 * onto or from an @name at the top of an artifact, a tag move (see above). */
int fs_do_rename(struct fs *fs, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, unsigned flags);
/* *target caller-frees. EINVAL for a non-symlink. No lock. */
int fs_do_readlink(struct fs *fs, uint64_t ino, char **target);
/* Opens ino for flags (O_ACCMODE, O_TRUNC). A HEAD file opened for writing is copied up
 * first (fs_stage(): blocks on the store with no lock held); a version file answers EROFS
 * for writing. *out is given back with fs_do_release(). Takes the artifact's lock for HEAD
 * files. */
int fs_do_open(struct fs *fs, const struct fuse_ctx *ctx, uint64_t ino, int flags,
	       struct fs_handle **out);
/* Gives back what fs_do_open() or fs_do_create() took (writer count, open record) and frees
 * h: at RELEASE, or when the open's reply could not be delivered. Frees an inode unlinked
 * while open at its last release. */
void fs_do_release(struct fs *fs, struct fs_handle *h);
/* fs_do_mknode() of a regular file, then fs_do_open() of it for reading and writing. */
int fs_do_create(struct fs *fs, const struct fuse_ctx *ctx, uint64_t parent, const char *name,
		 mode_t mode, int flags, struct fuse_entry_param *e, struct fs_handle **out);
/* Frees a handle that holds no references (fs_do_release() gives them back first). */
void fs_handle_free(struct fs *fs, struct fs_handle *h);
/* At exit: frees the handles whose RELEASE never came (the kernel sends it in the
 * background, and an unmount can overtake it). */
void fs_handles_free(struct fs *fs);
/* A chunk-backed HEAD handle whose file was copied up by another descriptor since it was
 * opened switches to the staging file (h->fd, set once, atomically). Looks at the index only
 * when some copy-up happened since the handle last looked (one atomic load otherwise). Any
 * thread. */
void fs_handle_restage(struct fs *fs, struct fs_handle *h);
/* fsync of a folder: of an artifact folder, commits its draft (fs_commit(): blocks on the
 * store); of any other, syncs the index. */
int fs_do_fsyncdir(struct fs *fs, uint64_t ino);
/* ENOTDIR for a non-folder. *cacheable: the listing never changes (a version folder), so
 * the kernel may keep it. An artifact folder may be refreshed from the store first. */
int fs_do_opendir(struct fs *fs, uint64_t ino, struct fs_handle **out, int *cacheable);
/* Fills buf (size bytes) with entries from offset off on; *len gets the bytes used. One read
 * transaction; entries packed before an error still go to the kernel (then 0). */
int fs_do_readdir(struct fs *fs, fuse_req_t req, struct fs_handle *h, off_t off, size_t size,
		  int plus, char *buf, size_t *len);

/* ---- fs/xattr.c: extended attributes (docs/xattrs.md lists the names) ----
 * getxattr and listxattr: *val / *list caller-free; ENODATA for an absent name (security.*
 * and ACL names at once); a shared attribute may be refreshed from the store first. No lock.
 * setxattr and removexattr: ENOTSUP outside user., EPERM for read-only user.artifs.* names,
 * EROFS on version files except labels and metrics, EINVAL for a bad value (with its reason),
 * E2BIG past FS_XATTR_MAX, EEXIST/ENODATA for XATTR_CREATE/XATTR_REPLACE. HEAD attributes
 * take the artifact's lock; shared ones (labels, metrics, kinds of projects, artifacts and
 * versions) write their store object first, with no lock (fs_attr_publish()), then the index;
 * user.artifs.commit, user.artifs.discard and user.artifs.revert are fs_commit(),
 * fs_discard() and fs_revert(). */
int fs_do_getxattr(struct fs *fs, uint64_t ino, const char *name, char **val, size_t *len);
int fs_do_setxattr(struct fs *fs, uint64_t ino, const char *name, const char *val,
		   size_t len, int flags);
int fs_do_listxattr(struct fs *fs, uint64_t ino, char **list, size_t *len);
int fs_do_removexattr(struct fs *fs, uint64_t ino, const char *name);



/* ---- fs/attrs.c: labels, metrics and kinds shared through the store ----
 * One store object per write of one attribute (docs/store-format.md, "Attributes"); the
 * newest of a name wins, older whole-object files are a base layer. No function here is
 * called with an LMDB write transaction open, except fs_attr_apply and
 * fs_attrs_plan_apply, which do no store I/O. */
enum fs_attr_where { FA_PROJECT = 1, FA_ARTIFACT, FA_VERSION };

/* Whose attribute: a project, an artifact or version n of an artifact. */
struct fs_attr_owner {
	enum fs_attr_where where;
	char project[META_PA_MAX + 1];
	char artifact[META_PA_MAX + 1]; /* "" for a project */
	uint64_t n;                     /* versions only */
};

/* The owner that inode in (a project, artifact or version root) is. EINVAL otherwise. */
int fs_attr_owner_of(struct meta_txn *txn, const struct meta_inode *in, struct fs_attr_owner *o);
/* "meta/<p>/project.json" or "meta/<p>/<a>/artifact.json": the marker object that says
 * a project or artifact exists (and, from older writers, the base of its attributes). */
int fs_attr_marker_key(const struct fs_attr_owner *o, char *out, size_t len);
/* 0 and *o when key is such a marker (with valid names), else ENOENT. */
int fs_attr_marker_parse(const char *key, struct fs_attr_owner *o);
/* 0 when name of o can be stored (its key fits), else ENAMETOOLONG. */
int fs_attr_key_check(const struct fs_attr_owner *o, const char *name);
/* Writes name's new value (or its removal) as a new object, newer than every object of the
 * name it sees, then deletes those. Blocks on the store; holds no lock. Store errors are
 * logged and returned. */
int fs_attr_publish(struct fs *fs, const struct fs_attr_owner *o, const char *name,
		    const void *val, size_t len, int remove);
/* The one rule that sets or removes a shared attribute of inode in (a project, artifact
 * or version root; for versions the label and metric indexes follow). Removing an absent
 * name is 0. Part of the caller's write transaction. */
int fs_attr_apply(struct meta_txn *txn, const struct meta_inode *in, const char *name,
		  const void *val, size_t len, int remove);
/* The value of name of o as the store holds it now (the newest object of the name; the base
 * layer is not read) into val (cap bytes): 0 and *len; ENOENT when there is none or it was
 * removed; E2BIG when it is longer than cap. One LIST and one GET. */
int fs_attr_fetch(struct fs *fs, const struct fs_attr_owner *o, const char *name, char *val,
		  size_t cap, size_t *len);
/* Deletes every attribute object of o from the store (a removed project or artifact, so
 * that one made again under its name starts without them). Blocks on the store. */
int fs_attrs_drop(struct fs *fs, const struct fs_attr_owner *o);
/* Reads artifact a's and its versions' attributes from the store (one LIST of
 * meta/<p>/<a>/, GETs of only what differs from this index) and applies them in one write
 * transaction. base: also artifact.json's values; fresh (nfresh numbers): versions
 * installed just now, whose versions/<N>.json is read as their base. Bad objects are logged
 * and skipped; store and index errors are returned. Called by fs_refresh_artifact. */
int fs_attrs_refresh_artifact(struct fs *fs, const struct meta_artifact *a, int base,
			      const uint64_t *fresh, size_t nfresh);
/* The same for project pino, at most once per conf.refresh_ms unless force (project.json
 * the first time in the session). */
int fs_attrs_refresh_project(struct fs *fs, uint64_t pino, int force);
/* Rebuild: the merged attributes of every owner the store keys (below meta/) name, read
 * before the index transaction; applied inside it (owners the index lacks are skipped).
 * *out is the caller's to fs_attrs_plan_free(). */
struct fs_attr_plan;
int fs_attrs_plan_store(struct fs *fs, char *const *keys, size_t n, struct fs_attr_plan **out);
int fs_attrs_plan_apply(struct meta_txn *txn, const struct fs_attr_plan *p);
void fs_attrs_plan_free(struct fs_attr_plan *p);

/* A project or artifact was just made: writes its marker object (meta/<p>/project.json,
 * meta/<p>/<a>/artifact.json) unless one exists, so that other hosts and rebuild find it.
 * Its labels and kind travel as attribute objects (fs/attrs.c). Blocks on the store. */
int fs_mirror_meta(struct fs *fs, uint64_t ino);

/* ---- fs/errors.c: recent refusals (.artifs/errors) ---- */
/* Notes the process of the FUSE request this thread serves now (ops.c, at every op). */
void fs_req_begin(pid_t pid);
/* The process of the request this thread serves, 0 when none. */
pid_t fs_req_pid(void);
/* Keeps a refusal of the current request (fs_refuse() calls it); none outside requests. */
void fs_errors_note(int err, const char *op, const char *name, const char *why);
/* The kept refusals, oldest first, one line each: time, pid (command), op and name, errno
 * name (message), reason; tab-separated. */
void fs_errors_print(FILE *f);

/* ---- fs/ctl.c: the .artifs control folder ---- */
int fs_ctl_init(struct fs *fs);
int fs_ctl_content(struct fs *fs, uint64_t ino, char **buf, size_t *len);

#endif
