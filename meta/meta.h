/* SPDX-License-Identifier: MIT */
/*
 * meta/: the LMDB metadata index of one host (DESIGN.md section 7) and the version manifest
 * format that lets the store alone rebuild it.
 *
 * Rules (STYLE.md section 5): meta/ alone calls mdb_*; fs/ composes the typed accessors below
 * inside one struct meta_txn per operation. Every fallible function returns 0 or a positive
 * errno: MDB_NOTFOUND becomes ENOENT, MDB_KEYEXIST EEXIST, MDB_MAP_FULL ENOSPC, anything
 * else from LMDB EIO (with a log line).
 *
 * Threads: a struct meta is shared by all threads. A struct meta_txn belongs to the thread
 * that began it and never outlives one FUSE request. Any number of read transactions run at
 * once; write transactions are serialised by LMDB.
 *
 * Keys: inode numbers are fixed-width big-endian in keys, so B-tree order is numeric order
 * and a directory's entries are one contiguous key range (parent, name).
 */
#ifndef ARTIFS_META_H
#define ARTIFS_META_H

#include <stddef.h>
#include <stdint.h>

#include "../backends/backend.h"

struct meta;
struct meta_txn;

#define META_ROOT_INO 1ULL
#define META_NAME_MAX 255 /* one path component inside a tree */
#define META_PA_MAX 128   /* project and artifact names */
/* The largest version number: a store object with a larger one is skipped, so that one
 * planted name cannot make the next number unusable (there is room above it). */
#define META_VERSION_MAX 9999999999999999ULL

/* What an inode is in the namespace of DESIGN.md section 1. */
enum meta_kind {
	MK_ROOT = 1,  /* the mount root */
	MK_CTL,       /* .artifs and the files in it */
	MK_PROJECT,   /* a project directory */
	MK_ARTIFACT,  /* an artifact directory: the root of its HEAD */
	MK_HEAD,      /* a file, folder or symlink inside a HEAD (mutable, draft) */
	MK_VERSION,   /* an @vN directory (immutable) */
	MK_VNODE,     /* a file, folder or symlink inside a version (immutable) */
	MK_LATEST,    /* the @latest symlink of an artifact */
	MK_TAG,       /* a tag symlink (@prod) of an artifact */
};

enum meta_inode_flags {
	MI_STAGED = 1 << 0, /* HEAD file whose bytes live in a staging file, not in chunks */
};

/* One inode record. Values are stored in host byte order (the index is per host). */
struct meta_inode {
	uint64_t ino;
	uint64_t parent;   /* directory holding it (for a version: the artifact) */
	uint64_t artifact; /* artifact ino it belongs to; 0 for root, control, projects */
	uint64_t version;  /* N for MK_VERSION and MK_VNODE, else 0 */
	uint32_t kind;     /* enum meta_kind */
	uint32_t mode;     /* type and permission bits */
	uint32_t uid, gid;
	uint32_t flags;    /* enum meta_inode_flags */
	uint32_t nlink;
	uint64_t size;     /* files: bytes (for MI_STAGED the staging file is the truth) */
	int64_t mtime_ns, ctime_ns;
	uint8_t digest[32]; /* MK_VNODE files: SHA-256 of the bytes; MK_VERSION: of the manifest */
};

/* An artifact record, keyed by the artifact directory's inode. */
struct meta_artifact {
	uint64_t ino;
	uint64_t project_ino;
	uint64_t latest;      /* newest version number, 0 when there is none */
	uint64_t next;        /* the next version number to try (starts at 1, never reused) */
	uint64_t latest_link; /* inode of the @latest symlink, 0 before the first version */
	uint32_t draft;       /* 0: the HEAD is the newest version; else a change generation
				 (meta_artifact_draft_mark()) */
	uint8_t tree_digest[32]; /* tree digest of version `latest` (zero when none) */
	char project[META_PA_MAX + 1];
	char name[META_PA_MAX + 1];
};

/* A version record, keyed by (artifact ino, N). */
struct meta_version {
	uint64_t artifact;
	uint64_t n;
	uint64_t root;        /* inode of the @vN directory */
	int64_t created_ns;   /* commit time, UTC */
	uint64_t bytes;       /* sum of file sizes */
	uint64_t files;       /* number of regular files */
	uint8_t digest[32];   /* SHA-256 of the manifest object */
	uint8_t tree_digest[32];
};

/* ---- environment ---- */

struct meta_conf {
	const char *dir;   /* state directory (borrowed); created if missing */
	uint64_t map_size; /* initial map size in bytes, 0 for the default (256 MiB) */
	int readonly;      /* 1: a reader beside the daemon (no lock, no writes) */
};

/*
 * Opens (creating when needed) the LMDB environment in c->dir, opens every DBI once, and
 * takes an exclusive lock on c->dir/lock so that one daemon owns a state directory: a second
 * open answers EBUSY and *why says so (with the owner's pid when known). With c->readonly
 * the environment is opened for reading only, without the lock, beside a running daemon
 * (ENOENT when no index exists there yet). *why is a
 * static or thread-local string, may be NULL on success.
 */
int meta_open(const struct meta_conf *c, struct meta **out, const char **why);
void meta_close(struct meta *m);
/* Flushes the environment to disk (fsync). */
int meta_sync(struct meta *m);

int meta_txn_begin(struct meta *m, int rdonly, struct meta_txn **out);
/* Commits and frees txn (also when it fails). */
int meta_txn_commit(struct meta_txn *txn);
void meta_txn_abort(struct meta_txn *txn);

/*
 * Runs fn inside one write transaction and commits it. When the map is full (ENOSPC from fn
 * or from the commit) the transaction is aborted, the map doubled and fn run again; fn must
 * therefore have no effect outside the transaction before it returns 0. Any other error
 * from fn aborts and is returned.
 */
typedef int meta_write_fn(struct meta_txn *txn, void *arg);
int meta_write(struct meta *m, meta_write_fn *fn, void *arg);

/* Table i (from 0; ENOENT past the last) of the index: its name, entries and the bytes of
 * its pages (branch, leaf and overflow), for `.artifs/stats`. */
struct meta_table_use {
	const char *name;
	uint64_t entries, bytes;
};
int meta_table_use(struct meta_txn *txn, unsigned i, struct meta_table_use *out);

/* ---- inodes ---- */

/* Allocates a fresh inode number (never reused, stable across remounts). */
int meta_ino_alloc(struct meta_txn *txn, uint64_t *ino);
/* A number the index keeps under name (names of fs/: "gc_checked_ns"): ENOENT when unset. */
int meta_conf_u64_get(struct meta_txn *txn, const char *name, uint64_t *out);
int meta_conf_u64_put(struct meta_txn *txn, const char *name, uint64_t val);
int meta_inode_get(struct meta_txn *txn, uint64_t ino, struct meta_inode *out);
int meta_inode_put(struct meta_txn *txn, const struct meta_inode *in);
/* Deletes the inode with its chunk list, symlink target and xattrs (not its dirents). */
int meta_inode_del(struct meta_txn *txn, uint64_t ino);

/* Symlink targets. *target is caller-frees, NUL-terminated. */
int meta_link_get(struct meta_txn *txn, uint64_t ino, char **target);
int meta_link_put(struct meta_txn *txn, uint64_t ino, const char *target);

/* Chunk lists of files, in file order. *refs is caller-frees (NULL when n is 0). A file is
 * held as its chunk list, or (store format 2) as runs of frames of packs read in
 * (meta_runs_put(): 24 bytes per run instead of 36 per chunk, which versions of a large file
 * would otherwise each hold again); meta_chunks_get() gives either as a chunk list. Each put
 * replaces the other form; meta_chunks_copy() copies whichever there is (ENOENT: none). */
int meta_chunks_get(struct meta_txn *txn, uint64_t ino, struct chunk_ref **refs, size_t *n);
int meta_chunks_put(struct meta_txn *txn, uint64_t ino, const struct chunk_ref *refs, size_t n);
struct manifest;
struct manifest_entry;
int meta_runs_put(struct meta_txn *txn, uint64_t ino, const struct manifest *m,
		  const struct manifest_entry *e);
int meta_chunks_copy(struct meta_txn *txn, uint64_t from, uint64_t to);
int meta_chunks_del(struct meta_txn *txn, uint64_t ino);

/*
 * Chunks known good in the store (deduplication): a chunk counts as present only when this
 * host stored it, or found it in the store and read it back verified. An object that merely
 * exists may be damaged or planted (docs/store-format.md). meta_chunk_known: 0 when known,
 * ENOENT when not.
 */
int meta_chunk_known(struct meta_txn *txn, const uint8_t id[CHUNK_ID_LEN]);
int meta_chunk_mark(struct meta_txn *txn, const uint8_t id[CHUNK_ID_LEN]);
/*
 * Store format 2: where a chunk lies in a pack, as the pack's index said (an index this host
 * wrote, or read in with meta_pack_read_in() after pack_index_decode() accepted it). A
 * location is where to read a chunk, not a reason to trust it: reads verify every chunk,
 * and only meta_chunk_known() chunks are deduplicated against. meta_chunk_loc_get: ENOENT
 * when no pack index read in lists id (then the chunk is a chunks/ object, format 1).
 * meta_pack_read_in() records ix: its digest and frames (meta_pack_get), and a location for
 * each of its chunks. With own set (a pack this host's commit wrote) its locations replace
 * those of the same chunks and are marked own (loc->own): in store format 2 those chunks are
 * the ones known good, in place of meta_chunk_known(). Otherwise a chunk keeps the location
 * it has, so that a chunk this host stored keeps being read, and deduplicated against, in
 * its own pack.
 */
int meta_chunk_loc_get(struct meta_txn *txn, const uint8_t id[CHUNK_ID_LEN],
		       struct pack_loc *loc);
int meta_pack_read_in(struct meta_txn *txn, const struct pack_index *ix, int own);
/* A pack index read in: its digest, and its frames in index order, META_FRAME_BYTES each
 * (the chunk name, then its plain length, offset and frame length in 4 bytes big-endian
 * each), pointing into the index (valid until the transaction ends). ENOENT when the index
 * was not read in. */
#define META_FRAME_BYTES (CHUNK_ID_LEN + 12)
struct meta_pack {
	const uint8_t *digest;
	const uint8_t *frames;
	size_t n;
};
int meta_pack_get(struct meta_txn *txn, const uint8_t name[PACK_NAME_LEN], struct meta_pack *out);
/* Forgets pack name (gc deleted it from the store: docs/gc.md): its record, and the
 * location of each of its chunks that lies in it, so that no commit deduplicates against it
 * or names it again. A pack not read in: 0. */
int meta_pack_forget(struct meta_txn *txn, const uint8_t name[PACK_NAME_LEN]);
/* The chunks of frames [first, first + n) of pack name's index read in, into out[0, n): 0;
 * ENOENT when the index was not read in, ESTALE when digest (unless NULL) is not its, ERANGE
 * when it has fewer frames; or the index's error. */
int meta_pack_chunks(struct meta_txn *txn, const uint8_t name[PACK_NAME_LEN],
		     const uint8_t *digest, uint32_t first, uint32_t n, struct chunk_ref *out);

/* HEAD inodes unlinked while still open or known to the kernel: freed when the last handle
 * and lookup go (fs/refs.c), or at the next mount. meta_orphan_list: *inos caller-frees. */
int meta_orphan_put(struct meta_txn *txn, uint64_t ino);
int meta_orphan_del(struct meta_txn *txn, uint64_t ino);
int meta_orphan_list(struct meta_txn *txn, uint64_t **inos, size_t *n);

/* ---- directory entries ---- */

/* type is the S_IFMT part of the child's mode, kept so readdir needs no inode reads. */
int meta_dirent_get(struct meta_txn *txn, uint64_t parent, const char *name, uint64_t *child,
		    uint32_t *type);
int meta_dirent_put(struct meta_txn *txn, uint64_t parent, const char *name, uint64_t child,
		    uint32_t type);
/* ENOENT when absent. */
int meta_dirent_del(struct meta_txn *txn, uint64_t parent, const char *name);

/*
 * Iterator callbacks (the *_fn types below) return 0 to go on, META_ITER_STOP to end the
 * walk early (the iterator then returns 0), or a positive errno, which ends it and is what
 * the iterator returns. META_ITER_STOP is no errno, so the two never mix (git's ITER_STOP).
 */
#define META_ITER_STOP (-1)

/* name is borrowed and NOT NUL-terminated; valid during the call only. */
typedef int meta_dirent_fn(void *arg, const char *name, size_t namelen, uint64_t child,
			   uint32_t type);
/* Calls fn for the entries of parent in name order, starting after name `after` (NULL or ""
 * for the first). */
int meta_dirent_iter(struct meta_txn *txn, uint64_t parent, const char *after,
		     meta_dirent_fn *fn, void *arg);
/* *empty = 1 when parent has no entries. */
int meta_dir_empty(struct meta_txn *txn, uint64_t parent, int *empty);

/* ---- extended attributes (stored user.* values) ---- */

/* *val caller-frees (may be NULL when len is 0). ENOENT when absent. */
int meta_xattr_get(struct meta_txn *txn, uint64_t ino, const char *name, void **val,
		   size_t *len);
int meta_xattr_put(struct meta_txn *txn, uint64_t ino, const char *name, const void *val,
		   size_t len);
/* ENOENT when absent. */
int meta_xattr_del(struct meta_txn *txn, uint64_t ino, const char *name);
/* name NUL-terminated and val borrowed for the call only. (META_ITER_STOP above). */
typedef int meta_xattr_fn(void *arg, const char *name, const void *val, size_t len);
int meta_xattr_iter(struct meta_txn *txn, uint64_t ino, meta_xattr_fn *fn, void *arg);

/* ---- artifacts and versions ---- */

int meta_artifact_get(struct meta_txn *txn, uint64_t ino, struct meta_artifact *out);
int meta_artifact_put(struct meta_txn *txn, const struct meta_artifact *a);
int meta_artifact_del(struct meta_txn *txn, uint64_t ino);
/* The one rule that records a change of artifact ino's HEAD: draft moves to a new nonzero
 * generation, so that a commit that read generation g before uploading can tell, when it
 * installs, whether the HEAD changed meanwhile. Part of the caller's write transaction. */
int meta_artifact_draft_mark(struct meta_txn *txn, uint64_t ino);
/* rec borrowed for the call. In inode order. (META_ITER_STOP above). */
typedef int meta_artifact_fn(void *arg, const struct meta_artifact *rec);
int meta_artifact_iter(struct meta_txn *txn, meta_artifact_fn *fn, void *arg);

int meta_version_get(struct meta_txn *txn, uint64_t artifact, uint64_t n,
		     struct meta_version *out);
int meta_version_put(struct meta_txn *txn, const struct meta_version *v);
int meta_version_del(struct meta_txn *txn, uint64_t artifact, uint64_t n);
/* Versions of one artifact, newest first. (META_ITER_STOP above). */
typedef int meta_version_fn(void *arg, const struct meta_version *rec);
int meta_version_iter(struct meta_txn *txn, uint64_t artifact, meta_version_fn *fn, void *arg);

/* ---- removed versions and artifacts (docs/lifecycle.md) ---- */

/* A removed version's record moves out of the versions table into this one, with the time it
 * was removed: meta_version_get() and meta_version_iter() no longer see it, while its @vN
 * tree stays in the index (open files keep reading; a restore moves the record back). */
struct meta_removed {
	struct meta_version v;
	int64_t removed_ns;
};
int meta_removed_get(struct meta_txn *txn, uint64_t artifact, uint64_t n,
		     struct meta_removed *out);
int meta_removed_put(struct meta_txn *txn, const struct meta_removed *r);
int meta_removed_del(struct meta_txn *txn, uint64_t artifact, uint64_t n);
/* Removed versions of one artifact, oldest first (META_ITER_STOP above). */
typedef int meta_removed_fn(void *arg, const struct meta_removed *rec);
int meta_removed_iter(struct meta_txn *txn, uint64_t artifact, meta_removed_fn *fn, void *arg);
/* Whether nothing at all is removed (the table is empty): the common case, checked first by
 * the rare walks that look for removed artifacts. */
int meta_removed_none(struct meta_txn *txn);
/* An artifact removed as a whole: every version up to `through` is removed with it, and its
 * folder is hidden while it has no version left. ENOENT when it is not removed. */
int meta_art_removed_get(struct meta_txn *txn, uint64_t artifact, uint64_t *through,
			 int64_t *when);
int meta_art_removed_put(struct meta_txn *txn, uint64_t artifact, uint64_t through,
			 int64_t when);
int meta_art_removed_del(struct meta_txn *txn, uint64_t artifact);

/* ---- lineage, both directions (meta/index.c) ---- */

/* A version: the artifact's directory inode and the version number. */
struct meta_vref {
	uint64_t artifact;
	uint64_t n;
};

enum meta_input_how {
	MI_DECLARED = 1 << 0, /* named by setfattr user.artifs.inputs or artifs commit --input */
	MI_CAPTURED = 1 << 1, /* read by a run that wrote the version */
};

/* Records that version out used version in (how: enum meta_input_how bits, or-ed with any
 * earlier record of the same pair). Both directions are indexed. */
int meta_lineage_put(struct meta_txn *txn, const struct meta_vref *out,
		     const struct meta_vref *in, uint32_t how);
/* other and how borrowed for the call. (META_ITER_STOP above). */
typedef int meta_lineage_fn(void *arg, const struct meta_vref *other, uint32_t how);
/* down = 0: the inputs of v; down = 1: the versions that used v. Removed versions are
 * left out (their edges stay, for a restore). */
int meta_lineage_iter(struct meta_txn *txn, const struct meta_vref *v, int down,
		      meta_lineage_fn *fn, void *arg);

/* ---- label and metric indexes over versions (meta/index.c) ---- */

/* Adds (add = 1) or removes the index entry "version v has label key = val". key is the
 * label's name without "user.label.". */
int meta_label_index(struct meta_txn *txn, const char *key, const void *val, size_t len,
		     const struct meta_vref *v, int add);
typedef int meta_vref_fn(void *arg, const struct meta_vref *v);
/* Calls fn for every version labelled key = val, in (artifact, N) order. A seek, not a scan. */
int meta_label_find(struct meta_txn *txn, const char *key, const void *val, size_t len,
		    meta_vref_fn *fn, void *arg);
/* Adds or removes "version v has metric name = value". */
int meta_metric_index(struct meta_txn *txn, const char *name, double value,
		      const struct meta_vref *v, int add);
typedef int meta_metric_fn(void *arg, const struct meta_vref *v, double value);
/* Calls fn for the versions whose metric name lies between lo and hi (each bound inclusive
 * or not), in ascending value order. Use -INFINITY/INFINITY for open ends. */
int meta_metric_range(struct meta_txn *txn, const char *name, double lo, int lo_incl,
		      double hi, int hi_incl, meta_metric_fn *fn, void *arg);

/* ---- queries (meta/query.c) ---- */

/*
 * Resolves "artifs://p/a@ref[/path]" (ref: vN, a tag, or latest) to the version it names at
 * this moment; the path is ignored. EINVAL when malformed, ENOENT when the project,
 * artifact or version does not exist.
 */
int meta_uri_resolve(struct meta_txn *txn, const char *uri, struct meta_vref *out);
/* "artifs://p/a@vN" of v into out (len bytes). */
int meta_vref_uri(struct meta_txn *txn, const struct meta_vref *v, char *out, size_t len);
/* The tags (without '@', comma-separated) that point at v, into out; "" when none. */
int meta_vref_tags(struct meta_txn *txn, const struct meta_vref *v, char *out, size_t len);
/* A version's stored attribute (on its @vN folder). *val caller-frees, NUL-terminated. */
int meta_vref_xattr(struct meta_txn *txn, const struct meta_vref *v, const char *name,
		    char **val);

#define META_QUERY_MAX 16

enum meta_cmp { MC_LT, MC_LE, MC_EQ, MC_GE, MC_GT };

struct meta_query {
	const char *project;  /* NULL: any */
	const char *artifact; /* "a" or "p/a"; NULL: any */
	struct {
		const char *key, *val;
	} labels[META_QUERY_MAX];
	size_t nlabels;
	struct {
		const char *name;
		enum meta_cmp cmp;
		double value;
	} metrics[META_QUERY_MAX];
	size_t nmetrics;
	int64_t since_ns, until_ns; /* 0: unbounded */
	const char *input;          /* versions that used this version URI; NULL: any */
	const char *sort_metric;    /* NULL: newest first */
	int sort_asc;               /* with sort_metric: ascending (default descending) */
	size_t limit;               /* 0: all */
};

/*
 * Calls fn for each version matching every condition of q. The most selective index drives
 * (input lineage, then a label, then a metric range), so these are seeks, not scans; only a
 * query with none of them walks the versions of the chosen artifacts.
 */
int meta_find(struct meta_txn *txn, const struct meta_query *q, meta_vref_fn *fn, void *arg);

/* ---- version manifests (meta/manifest.c): the store's JSON form of one version ---- */

#define MANIFEST_PATH_MAX 4096 /* bytes of an entry's path */

struct manifest_xattr {
	char *name;
	void *val;
	size_t len;
};

/* Store format 2: consecutive frames of one pack's index hold consecutive chunks of a file. */
struct manifest_run {
	uint32_t pack;  /* its position in manifest.packs */
	uint32_t first; /* the first frame (entry of the pack's index) */
	uint32_t n;     /* frames, at least 1 */
};

struct manifest_pack {
	uint8_t name[PACK_NAME_LEN];
	uint8_t digest[CHUNK_ID_LEN]; /* of its index object (format 2; zero in format 1) */
};

struct manifest_entry {
	char *path;        /* relative to the version root, '/'-separated; "" is the root */
	uint32_t mode;     /* type and permission bits */
	uint64_t size;
	int64_t mtime_ns;
	char *target;      /* symlinks only, else NULL */
	uint8_t digest[32]; /* regular files: SHA-256 of the bytes */
	/* Format 1 stores the chunk list; format 2 the runs, which fs_packs_resolve() turns into
	 * the chunk list from the packs' indexes (encoding format 2 needs the runs only). */
	struct chunk_ref *chunks;
	size_t nchunks;
	struct manifest_run *runs;
	size_t nruns;
	struct manifest_xattr *xattrs;
	size_t nxattrs;
};

/* The newest manifest format this artifs reads ("artifs_manifest"). */
#define MANIFEST_FORMAT_MAX 2

struct manifest {
	char *project, *artifact;
	uint64_t version;
	int64_t created_ns;
	char *message;  /* may be NULL */
	char *producer; /* JSON text, may be NULL */
	char *inputs;   /* declared inputs: one version URI per line, may be NULL */
	char *captured; /* captured inputs (read by the writing runs), the same form */
	struct manifest_xattr *attrs; /* version-level user.metric.* and user.label.* */
	size_t nattrs;
	struct manifest_entry *entries; /* in manifest_path_cmp() order: parents first */
	size_t nentries;
	/* 1 (or 0): files list their chunks (format 1 stores, and format 2 stores written before runs
	 * existed, which also list packs without digests); 2: files list runs of frames. */
	unsigned format;
	/* Store format 2: the packs that hold its chunks (their indexes say where), in
	 * ascending byte order of name without duplicates; none in format 1. Each is named by a
	 * run (format 2) or a chunk (format 1) at least once per pack. */
	struct manifest_pack *packs;
	size_t npacks;
};

/* *out caller-frees (free()); canonical: the same manifest always encodes the same bytes. */
int manifest_encode(const struct manifest *m, char **out, size_t *len);
/* EINVAL (and a log line) on anything malformed; *m then holds nothing to release. */
int manifest_decode(const char *buf, size_t len, struct manifest *m);
void manifest_release(struct manifest *m);
/* The order of entries: byte order of paths with '/' below every other byte (a depth-first
 * walk with siblings in byte order). <0, 0 or >0 as memcmp. */
int manifest_path_cmp(const char *a, size_t alen, const char *b, size_t blen);
/* Index of the parent directory of entry i (> 0) of a checked manifest: always < i. */
size_t manifest_parent(const struct manifest *m, size_t i);
/* Whether n bytes at s are valid UTF-8 without NUL (what a manifest can hold as text, such
 * as an xattr name). */
int manifest_text_ok(const char *s, size_t n);
/* The reason of the last refusal by manifest_encode() or manifest_decode() in this thread
 * ("" when none): for messages users see, such as `artifs status`. */
const char *manifest_why(void);
/* SHA-256 over the tree alone (entries), the same for equal trees whatever the metadata. */
void manifest_tree_digest(const struct manifest *m, uint8_t out[32]);

/* ---- the tree layer (meta/tree.c) ----
 * Every namespace rule is one function here, over the caller's write transaction (reads
 * where it says so), used by the FUSE ops, refresh and rebuild alike: make a project or an
 * artifact, point or drop a tag, mark a draft (meta_artifact_draft_mark() above), install a
 * version's tree, reset a HEAD, set a version attribute. None does store I/O or takes a
 * lock; the caller brings both (fs/fs_int.h, "Lock order"). 0 or an errno; on an error the
 * caller aborts the transaction (STYLE.md 5). */

/* Inode numbers, grown with be_grow(); v caller-frees. */
struct meta_inos {
	uint64_t *v;
	size_t n, cap;
};

/* How meta_head_reset() frees a HEAD inode (fs/ defers one that is still open); NULL:
 * meta_inode_del(). */
typedef int meta_free_fn(void *arg, struct meta_txn *txn, uint64_t ino);
struct meta_free {
	meta_free_fn *fn;
	void *arg;
};

/* Collects the xattrs of an inode (meta_xattr_iter callback): all of them, or with root
 * not the names an artifact folder keeps for itself (artifs, label, metric), or with
 * pending only the pending version-level ones (user.metric.*). v and its names and values
 * are the caller's to free. */
struct meta_xa_collect {
	struct manifest_xattr *v;
	size_t n, cap;
	int root;    /* skip the artifact's own names */
	int pending; /* collect only the pending version-level names */
	int err;
};

int meta_xa_collect_fn(void *arg, const char *name, const void *val, size_t len);
/* The children of folder dir, in name order (top: not the @ names of an artifact folder),
 * read into memory so that the caller may recurse or change the tree. c->v caller-frees. */
struct meta_child {
	char name[META_NAME_MAX + 1];
	uint64_t ino;
};

struct meta_children {
	struct meta_child *v;
	size_t n, cap;
	int top;
};

int meta_children_get(struct meta_txn *txn, uint64_t dir, int top, struct meta_children *c);
/* The tree digest that decides whether a draft changed anything (times do not count). */
void meta_tree_digest(const struct manifest *m, uint8_t out[32]);
/* The one rule that makes a project (kind MK_PROJECT, in the root) or artifact (MK_ARTIFACT,
 * in project `project`) folder: name under parent, made when absent (owned by uid:gid, with
 * permission bits perm), for mkdir, refresh and rebuild alike. *ino gets its inode; *made
 * (may be NULL) whether it was made now. Names are not checked. */
int meta_pa_ensure(struct meta_txn *txn, uint64_t parent, const char *name, uint32_t kind,
		 const char *project, uint32_t uid, uint32_t gid, uint32_t perm, uint64_t *ino,
		 int *made);
/* The one rule that points tag `name` (with its '@') of artifact art at version n in the
 * index. src NULL: the tag's inode is kept, or made (owned by uid:gid) when absent. src (a
 * symlink or tag being renamed; the caller removed its old entry): that inode becomes the tag,
 * replacing the tag of that name. A non-tag entry of that name is left alone: 0 without src,
 * EEXIST with one. out (may be NULL) gets the tag's inode. Part of the caller's write
 * transaction; the store's refs/ object is the caller's business. */
int meta_tag_point(struct meta_txn *txn, uint64_t art, const char *name, uint64_t n,
		 const struct meta_inode *src, uint32_t uid, uint32_t gid, struct meta_inode *out);
/* meta_tag_point() without src or out (refresh, rebuild). */
int meta_tag_put(struct meta_txn *txn, uint64_t art, const char *name, uint64_t n, uint32_t uid,
	       uint32_t gid);
/* Sets (or removes) attribute name of the version root inode root, keeping the label and
 * metric indexes in step. Part of the caller's write transaction. */
int meta_vattr_set(struct meta_txn *txn, uint64_t root, const struct meta_vref *v,
		 const char *name, const void *val, size_t len, int remove);
/* Creates the @vN tree of a manifest in the index (commit, refresh and rebuild share it),
 * with its lineage unless lineage is 0 (rebuild indexes lineage once every version is in). */
int meta_version_install(struct meta_txn *txn, struct meta_artifact *a,
		       const struct manifest *m, const uint8_t digest[32], const uint32_t *uids,
		       const uint32_t *gids, uint32_t uid, uint32_t gid, int lineage);
/* Indexes version n's declared inputs and captured reads (URIs, one per line; may be NULL)
 * both ways and shows them all, each once, in user.artifs.inputs of its root inode. An
 * input naming no version here is logged and not indexed. */
int meta_version_lineage(struct meta_txn *txn, const struct meta_artifact *a, uint64_t n,
		       uint64_t root, const char *inputs, const char *captured);
/* Makes the HEAD of a the tree of version n (replacing whatever HEAD holds). staged (may be
 * NULL) gets the staged inodes it freed, whose staging files the caller drops once the
 * transaction committed (its v replaced, caller-frees). */
int meta_head_reset(struct meta_txn *txn, struct meta_artifact *a, uint64_t n,
		    const struct meta_free *fr, struct meta_inos *staged);
/* The one rule that drops tag `name` (with its '@') of artifact art from the index: its
 * entry and inode. ENOENT when art has no tag of that name (an entry of that name that is no
 * tag is left alone). The store's refs/ object is the caller's business. */
int meta_tag_drop(struct meta_txn *txn, uint64_t art, const char *name);
/* The one rule that removes version n of artifact a from the index (artifs rm, refresh,
 * rebuild; docs/lifecycle.md): its record moves to the removed table (meta_removed_get)
 * stamped when, its @vN entry leaves the artifact folder (the tree stays: open files keep
 * reading), and latest, tree_digest and @latest follow the newest version left (no @latest
 * when none; *a is updated and stored). ENOENT when a has no version n (also when it is
 * removed already). Unless untag, EBUSY when a tag points at n, with its names (comma
 * separated, no '@') in tags. The HEAD is the caller's. */
int meta_version_remove(struct meta_txn *txn, struct meta_artifact *a, uint64_t n, int64_t when,
			int untag, char *tags, size_t tagslen);
/* Its inverse: version n is back under its name, and latest follows. ENOENT when n is not a
 * removed version of a. */
int meta_version_restore(struct meta_txn *txn, struct meta_artifact *a, uint64_t n);
/* Hides an artifact's folder from its project (shown: 0), or shows it again (1). */
int meta_artifact_show(struct meta_txn *txn, const struct meta_artifact *a, int shown);

#endif
