/* SPDX-License-Identifier: MIT */
/*
 * backends/: the object-store interface, its leaves (local; s3 later), and the chunk layer
 * above it (content-defined chunking, SHA-256 names, zstd frames, verification).
 *
 * Error convention (STYLE.md section 3): every fallible function returns 0 or a positive
 * errno. Results leave through out-pointers.
 *
 * Threads: every be_* operation and every chunk_* function that takes a struct be is safe to
 * call from many threads at once on the same instance. A struct chunker is used by one
 * thread at a time.
 */
#ifndef ARTIFS_BACKEND_H
#define ARTIFS_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <syslog.h> /* LOG_* priorities for log_msg() */

struct be;

/* ---- large buffers (backends/util.c) ----
 * Chunk-sized buffers come from a small pool of idle ones, so that handling chunk after chunk
 * reuses memory already mapped instead of faulting fresh pages in and unmapping them each
 * time (on the 2-core test VM that was half of the CPU of a cold read). be_buf_alloc()
 * returns len bytes, page-aligned from 64 KiB on (below 1 MiB they come from malloc, and
 * below 64 KiB unaligned), or NULL when out of memory; be_buf_free() takes them back (NULL
 * is a no-op) and keeps at most 8 mapped buffers, 20 MiB, idle. Any thread. */
void *be_buf_alloc(size_t len);
void be_buf_free(void *p);

/* ---- growable arrays and strings (backends/util.c): the one way every folder grows them ----
 * be_grow(): room for element n (0-based) of an array v of elem-byte elements whose capacity
 * is *cap: returns v, or a larger copy (capacity doubled, *cap updated), or NULL when out of
 * memory (v is then unchanged and still the caller's). As git's ALLOC_GROW:
 *     nv = be_grow(a->v, a->n, &a->cap, sizeof(*a->v)); if (!nv) return ENOMEM; a->v = nv;
 * be_str_add(): appends n bytes of p to b, keeping b->s NUL-terminated; 0 or ENOMEM (b
 * unchanged). b starts zeroed; be_str_release() frees it. */
void *be_grow(void *v, size_t n, size_t *cap, size_t elem);
/* Lowercase hex (backends/util.c): encode n bytes into 2n digits and a NUL; decode exactly
 * slen == 2n lowercase digits into n bytes (EINVAL otherwise, out then partly written). */
void be_hex_encode(const uint8_t *p, size_t n, char *out);
int be_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);
struct be_str {
	char *s;
	size_t len, cap;
};
int be_str_add(struct be_str *b, const void *p, size_t n);
void be_str_release(struct be_str *b);

/* ---- logging (backends/log.c), shared by every layer ----
 * One line per event, to stderr in the foreground and to syslog once log_to_syslog() was
 * called. prio is a syslog priority (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG); LOG_DEBUG
 * lines are dropped unless log_set_debug(1). Never pass credentials in a message. */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_to_syslog(const char *ident);
/* Also appends every line, with its UTC time and pid, to path (made 0600 if missing); at 8 MiB
 * it becomes path.1 (replacing the older one) and a new path is begun. 0 or errno. */
int log_to_file(const char *path);
void log_set_debug(int on);

/* Called once per object by list(); return 0 to go on, anything else stops the listing and
 * is returned by list(). key is borrowed, valid only during the call. mtime: the object's
 * modification time in seconds since the epoch as the store reports it, or -1 when the store
 * did not say (gc then takes the object as new: docs/gc.md). */
typedef int be_list_fn(void *arg, const char *key, uint64_t size, int64_t mtime);

/*
 * The ops table of one store implementation. Contract for every implementation:
 * - get: copies at most len bytes of object key, starting at byte off, into buf (owned by
 *   the caller); *got receives the count. *got < len only at the end of the object. An off
 *   past the end gives *got = 0 and 0. Missing object: ENOENT.
 * - put: stores the whole object, replacing any previous one; readers see the old or the new
 *   object whole, never a part.
 * - put_new: as put, but only when key does not exist yet: EEXIST otherwise (atomic).
 * - put_lazy (may be NULL: put serves): as put, but durable across a machine crash only
 *   once a later flush() returned; until then a crash may leave the object absent or
 *   damaged, which chunk_put() finds and replaces. For chunks, which a commit flushes once
 *   before its manifest names them, instead of syncing each.
 * - flush (may be NULL: nothing to do): makes every put_lazy before it durable.
 * - head: *size receives the object's size; ENOENT when missing.
 * - del: removes the object; a missing key is not an error.
 * - list: calls fn for every key that starts with prefix, in byte order of keys.
 * - destroy: frees the instance and any inner instance it wraps.
 * Keys are relative slash-separated paths such as "chunks/ab/abcd..." and never start with
 * '/' nor contain "." or ".." components.
 */
struct be_ops {
	const char *name;
	int (*get)(struct be *be, const char *key, uint64_t off, size_t len, void *buf,
		   size_t *got);
	int (*put)(struct be *be, const char *key, const void *buf, size_t len);
	int (*put_new)(struct be *be, const char *key, const void *buf, size_t len);
	int (*put_lazy)(struct be *be, const char *key, const void *buf, size_t len);
	int (*flush)(struct be *be);
	int (*head)(struct be *be, const char *key, uint64_t *size);
	int (*del)(struct be *be, const char *key);
	int (*list)(struct be *be, const char *prefix, be_list_fn *fn, void *arg);
	int (*warm)(struct be *be, const char *key);
	void (*destroy)(struct be *be);
};

/* Every implementation embeds this as its first member. inner is the wrapped store of a
 * layer (NULL for a leaf). */
struct be {
	const struct be_ops *ops;
	struct be *inner;
};

static inline int be_get(struct be *be, const char *key, uint64_t off, size_t len, void *buf,
			 size_t *got)
{
	return be->ops->get(be, key, off, len, buf, got);
}
static inline int be_put(struct be *be, const char *key, const void *buf, size_t len)
{
	return be->ops->put(be, key, buf, len);
}
static inline int be_put_lazy(struct be *be, const char *key, const void *buf, size_t len)
{
	return be->ops->put_lazy ? be->ops->put_lazy(be, key, buf, len)
				 : be->ops->put(be, key, buf, len);
}
static inline int be_flush(struct be *be)
{
	return be->ops->flush ? be->ops->flush(be) : 0;
}
static inline int be_put_new(struct be *be, const char *key, const void *buf, size_t len)
{
	return be->ops->put_new(be, key, buf, len);
}
static inline int be_head(struct be *be, const char *key, uint64_t *size)
{
	return be->ops->head(be, key, size);
}
static inline int be_del(struct be *be, const char *key)
{
	return be->ops->del(be, key);
}
static inline int be_list(struct be *be, const char *prefix, be_list_fn *fn, void *arg)
{
	return be->ops->list(be, prefix, fn, arg);
}
/* A hint that key will be read soon: a layer with a local copy (the cache) fetches it whole
 * now, in the calling thread, unless it holds it or is fetching it already. Stores without
 * one do nothing. 0, or an errno nobody needs to act on: the read itself reports trouble. */
static inline int be_warm(struct be *be, const char *key)
{
	return be->ops->warm ? be->ops->warm(be, key) : 0;
}
static inline void be_destroy(struct be *be)
{
	if (be)
		be->ops->destroy(be);
}

/*
 * Reads a whole object into a fresh buffer. *buf is caller-frees (free()); *len its size.
 * max bounds the object size accepted (EFBIG past it), so hostile stores cannot make us
 * allocate without limit.
 */
int be_get_all(struct be *be, const char *key, size_t max, void **buf, size_t *len);

/*
 * Creates key only if absent: put_new, or, on a store that cannot do that atomically
 * (put_new answers ENOTSUP), a head then a put. The fallback is not atomic across hosts:
 * on such stores one host at a time may commit to an artifact (docs/s3.md).
 */
int be_create(struct be *be, const char *key, const void *buf, size_t len);

/* ---- local leaf (backends/local.c) ---- */

struct be_local_conf {
	const char *root; /* borrowed; must outlive the instance */
};

/*
 * Opens the store directory root (it must exist). *out is destroyed with be_destroy().
 * Keys are resolved below root without following symbolic links: any op on a key with a
 * link on its path answers ELOOP with a log line, and list() skips links
 * (docs/store-format.md). Needs openat2() (Linux 5.6): ENOSYS otherwise.
 */
int be_local_create(const struct be_local_conf *c, struct be **out);

/* ---- s3 leaf (backends/s3.c) ---- */

struct be_s3_conf {
	const char *bucket;   /* required */
	const char *prefix;   /* key prefix inside the bucket, "" or ending in '/' */
	const char *endpoint; /* "http(s)://host[:port]"; NULL: $AWS_ENDPOINT_URL, else AWS */
	const char *region;   /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, else "us-east-1" */
	int virtual_host;     /* 1: https://bucket.host/key; 0 (default): https://host/bucket/key */
	unsigned max_retries; /* 0: default (6) */
	unsigned max_conns;   /* connections kept alive at once; 0: default (16) */
};

/* Counters of one s3 instance, monotonic. */
struct be_s3_stats {
	uint64_t gets, puts, heads, deletes, lists;
	uint64_t bytes_in, bytes_out, retries, errors;
};

/*
 * Opens a bucket. Credentials: $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY/$AWS_SESSION_TOKEN,
 * else ~/.aws/credentials ($AWS_SHARED_CREDENTIALS_FILE, profile $AWS_PROFILE or
 * "default"); $AWS_CA_BUNDLE is honoured. Checks the bucket with one request: a wrong key
 * or secret answers EACCES/EPERM, a missing bucket ENOENT, with *why naming the endpoint
 * and the S3 error code (never the secret). *why is static or thread-local.
 */
int be_s3_create(const struct be_s3_conf *c, struct be **out, const char **why);
/* Parses "s3://bucket[/prefix]" into bucket and prefix (caller-frees both); EINVAL. */
int be_s3_parse_url(const char *url, char **bucket, char **prefix);
/* 0, or EINVAL when be is not an s3 instance. */
int be_s3_stats(struct be *be, struct be_s3_stats *out);
/* Whether the store honours If-None-Match: * (probed once at create). */
int be_s3_conditional_writes(struct be *be);

/* ---- cache layer (backends/cache.c) ---- */

struct be_cache_conf {
	const char *dir;     /* cache directory (created if missing); borrowed */
	uint64_t max_bytes;  /* bound on the bytes of cached objects; 0: the default */
};

struct be_cache_stats {
	uint64_t hits, misses, evictions, bytes, objects;
};

/*
 * A local disk cache in front of inner for the immutable objects of a store (keys under
 * "chunks/", and "packs/.../<name>.pack"); every other key passes straight through. A miss
 * fetches the whole object once (a pack only for a reader going through its frames in
 * order; any other miss of a pack fetches and caches just the range asked for: docs/cache.md)
 * (concurrent misses on a key share that fetch), stores it atomically in dir and serves
 * reads, whole or ranged, from there, so cached objects stay readable with inner
 * unreachable. Least-recently-used objects are evicted so that the cached bytes never exceed
 * max_bytes; the cache survives remounts (dir is scanned at create). be_warm() of a pack
 * fetches it whole ahead of a sequential reader. On success the layer
 * owns inner (destroyed with it); on failure inner stays the caller's.
 */
int be_cache_create(const struct be_cache_conf *c, struct be *inner, struct be **out);
/* 0, or EINVAL when be is not a cache layer. */
int be_cache_stats(struct be *be, struct be_cache_stats *out);

/* ---- store format (backends/store.c) ---- */

struct store_conf {
	/* 1: every chunk one object under chunks/; 2 (new stores): chunks go in packs */
	uint32_t format;
	uint32_t chunk_min; /* bytes; defaults 8 KiB / 32 KiB / 128 KiB (format 1 stores made
			     * before format 2: 1 MiB / 4 MiB / 16 MiB, as their format says) */
	uint32_t chunk_avg;
	uint32_t chunk_max;
	int zstd_level; /* default 3; 0 stores chunks raw */
};

void store_conf_init(struct store_conf *c);

/*
 * Opens the store behind be: reads its "format" object into *c. When the store is empty
 * (no objects at all) and create is set, writes a new format object from *c first.
 * Errors: ENOTDIR-like refusal as EINVAL when objects exist but no valid format object
 * does (not an artifs store); the reason goes to *why (a static string, may be NULL).
 */
int store_open(struct be *be, int create, struct store_conf *c, const char **why);

/* ---- store keys (backends/keys.c): the layout of DESIGN.md section 5 ----
 * Every key artifs writes or reads is built by one of these and split by be_key_split(), so
 * the layout lives in one place (chunk keys: chunk_key() below). Names are not checked here:
 * fs/ checks project, artifact and tag names first. Builders: 0, or ENAMETOOLONG when the
 * key does not fit len bytes (with its NUL).
 *   versions/<p>/<a>/<N, 20 digits>         a version's manifest
 *   refs/<p>/<a>/<tag>                       a tag: the version number it names
 *   meta/<p>/project.json, meta/<p>/<a>/artifact.json   markers
 *   meta/<p>[/<a>]/@attrs/..., meta/<p>/<a>/@vattrs/<N>/..., meta/<p>/<a>/versions/<N>.json
 */
#define BE_KEY_VERSIONS "versions/"
#define BE_KEY_REFS "refs/"
#define BE_KEY_META "meta/"
#define BE_KEY_MAX 1024
#define BE_NAME_MAX 128                  /* a project or artifact name (META_PA_MAX) */
#define BE_VERSION_MAX 9999999999999999ULL /* the largest version number (META_VERSION_MAX) */

/* "versions/<p>/<a>/<N>", or with n 0 the prefix "versions/<p>/<a>/" of them all. */
int be_key_version(char *out, size_t len, const char *project, const char *artifact,
		   uint64_t n);
/* The removal marks beside the versions (docs/lifecycle.md): "versions/<p>/<a>/<N>.removed"
 * (version n removed), or with n 0 "versions/<p>/<a>/removed" (the artifact removed). */
#define BE_REMOVED_SUFFIX ".removed"
#define BE_REMOVED_ARTIFACT "removed"
int be_key_removed(char *out, size_t len, const char *project, const char *artifact,
		   uint64_t n);
/* "refs/<p>/<a>/<tag>" (tag without its '@'), or with tag NULL the prefix "refs/<p>/<a>/". */
int be_key_ref(char *out, size_t len, const char *project, const char *artifact,
	       const char *tag);
/* "meta/<p>/<leaf>" (artifact NULL) or "meta/<p>/<a>/<leaf>"; leaf NULL: the prefix. */
int be_key_meta(char *out, size_t len, const char *project, const char *artifact,
		const char *leaf);
/* "meta/<p>/<a>/versions/<N>.json" (base) or the folder "meta/<p>/<a>/@vattrs/<N>/". */
int be_key_meta_version(char *out, size_t len, const char *project, const char *artifact,
			uint64_t n, int base);
/* The 20 digits of a version number (n bytes at s): 0 and *out from 1 to BE_VERSION_MAX,
 * else EINVAL. */
int be_key_version_number(const char *s, size_t n, uint64_t *out);
/* Splits "<top><p>/<a>/<rest>" (top: BE_KEY_VERSIONS, BE_KEY_REFS or BE_KEY_META): EINVAL
 * when key is not below top or a name is empty or too long; below versions/, also when rest
 * is not a version number (then k->n holds it). k->rest points into key. */
struct be_key {
	char project[BE_NAME_MAX + 1];
	char artifact[BE_NAME_MAX + 1];
	const char *rest;
	uint64_t n;
};
int be_key_split(const char *key, const char *top, struct be_key *k);

/* ---- chunks (backends/chunk.c) ---- */

#define CHUNK_ID_LEN 32 /* SHA-256 */
#define CHUNK_HEX_LEN 64

struct chunk_ref {
	uint8_t id[CHUNK_ID_LEN];
	uint32_t len; /* plain (uncompressed) length */
};

void chunk_id_hex(const uint8_t id[CHUNK_ID_LEN], char out[CHUNK_HEX_LEN + 1]);
/* 0, or EINVAL if hex is not 64 lowercase hex digits. */
int chunk_id_parse(const char *hex, uint8_t id[CHUNK_ID_LEN]);
/* "chunks/<hh>/<hex>" into out (at least 80 bytes). */
void chunk_key(const uint8_t id[CHUNK_ID_LEN], char *out, size_t outlen);

/* SHA-256 of buf into id. */
void chunk_hash(const void *buf, size_t len, uint8_t id[CHUNK_ID_LEN]);

/*
 * Stores one chunk of plain bytes: names it by SHA-256 (unless CHUNK_HASHED: ref->id holds
 * it already), frames it (zstd at level, or raw when compression saves less than 1/16, or
 * level 0) and puts it. An object of that name that exists already in the store (asked of
 * the leaf below any cache layer) counts only when it reads back verified: a damaged or
 * planted one is replaced, with a log line naming it. With CHUNK_ROOM, CHUNK_FRAME_HDR
 * writable bytes precede buf, which a raw frame's header overwrites, so that the bytes are
 * stored without a copy. ref receives the name and length; *added (may be NULL) the stored
 * bytes added to the store (0 when deduplicated). On success the store holds ref's bytes.
 */
enum chunk_put_flags {
	CHUNK_ROOM = 1 << 0,
	CHUNK_HASHED = 1 << 1,
	CHUNK_LAZY = 1 << 2, /* be_put_lazy(): the caller be_flush()es before it names the chunk */
};
int chunk_put(struct be *be, void *buf, size_t len, int level, unsigned flags,
	      struct chunk_ref *ref, uint64_t *added);
/* chunk_put() with no flags. */
int chunk_store(struct be *be, const void *buf, size_t len, int level, struct chunk_ref *ref,
		uint64_t *added);

/*
 * Fetches one chunk (one get), unframes it and checks its SHA-256 against ref->id. buf must
 * hold CHUNK_FETCH_CAP(ref->len) bytes; on success the chunk's plain bytes are at
 * buf + CHUNK_FETCH_OFF (raw frames are read in place, without a copy). A missing object:
 * ENOENT; a damaged frame, wrong length or hash mismatch: EIO, with a log line naming the
 * chunk, and buf zeroed.
 */
#define CHUNK_FRAME_HDR 16
#define CHUNK_FETCH_OFF CHUNK_FRAME_HDR
#define CHUNK_FETCH_CAP(len) (CHUNK_FRAME_HDR + (size_t)(len) + 1)
int chunk_fetch(struct be *be, const struct chunk_ref *ref, void *buf);

/* Frame codec, exposed for tests: frame plain bytes into *out (free with be_buf_free()) /
 * unframe. */
int chunk_frame(const void *plain, size_t len, int level, void **out, size_t *outlen);
/* The two halves of chunk_frame(), for writers that place frames themselves (packs): the
 * zstd frame when compression pays (*out NULL and 0 when the chunk is to be stored raw), and
 * the 16-byte header of a raw frame of len plain bytes. */
int chunk_frame_zstd(const void *plain, size_t len, int level, void **out, size_t *outlen);
void chunk_frame_raw_header(void *hdr, size_t len);
int chunk_unframe(const void *framed, size_t flen, void *plain, size_t plain_len);

/* ---- packs (backends/pack.c): store format 2's unit of transfer ----
 * A pack object "packs/<hh>/<32 hex>.pack" holds chunk frames (as chunk_frame() makes them)
 * back to back; its index object "packs/<hh>/<32 hex>.idx", written once the pack is
 * stored, lists each frame: the chunk's name, the frame's offset and length in the pack,
 * the chunk's plain length. <hh> is the name's first two hex digits. Names are 16 random
 * bytes, so hosts write packs at once without coordination. Layout: docs/store-format.md,
 * "Format 2: packs". */
#define BE_KEY_PACKS "packs/"
#define PACK_NAME_LEN 16
#define PACK_INDEX_MAX (1u << 20)      /* entries of one index */
#define PACK_SIZE_MAX (1ull << 32)     /* bytes of one pack */
struct pack_entry {
	uint8_t id[CHUNK_ID_LEN];
	uint64_t off;  /* of the frame in the pack */
	uint32_t flen; /* frame bytes */
	uint32_t len;  /* the chunk's plain bytes */
};
struct pack_index {
	uint8_t name[PACK_NAME_LEN];
	uint8_t digest[CHUNK_ID_LEN]; /* the index object's checksum: SHA-256 of all before it */
	uint64_t size; /* of the pack object */
	struct pack_entry *v;
	size_t n;
};
/* A fresh random pack name (getrandom): 0 or errno. */
int pack_name_new(uint8_t name[PACK_NAME_LEN]);
/* The key of the pack (index 0) or of its index (index 1): 0 or ENAMETOOLONG. */
int pack_key(const uint8_t name[PACK_NAME_LEN], int index, char *out, size_t len);
/* Parses a pack or index key: 0, or EINVAL for any other key. */
int pack_key_parse(const char *key, uint8_t name[PACK_NAME_LEN], int *index);
/* Encodes ix (*out caller-frees): EINVAL when ix breaks a rule decode checks. */
int pack_index_encode(const struct pack_index *ix, uint32_t chunk_max, void **out,
		      size_t *len);
/* Decodes the index object of pack name (hostile input): EINVAL with *why (static) when it
 * is not one, damaged, names another pack, or has entries that overlap, are out of offset
 * order, lie outside the pack, or have lengths outside (0, chunk_max] or frames larger than
 * raw; ENOMEM. On success ix->v is caller-freed with pack_index_release(). */
int pack_index_decode(const void *buf, size_t len, const uint8_t name[PACK_NAME_LEN],
		      uint32_t chunk_max, struct pack_index *ix, const char **why);
void pack_index_release(struct pack_index *ix);
/* Where a chunk's frame lies in a pack: its entry's position in the index (frame), and bytes.
 * own: the pack is one this host stored (meta_chunk_loc_get() only). */
struct pack_loc {
	uint8_t pack[PACK_NAME_LEN];
	uint64_t off;
	uint32_t flen;
	uint32_t frame;
	int own;
};
/* chunk_fetch() of a chunk in a pack: one ranged get of its frame (through a cache layer,
 * which keeps whole packs), then the same checks; ENOENT when the pack is missing, EIO when
 * the frame is damaged, short or not ref's bytes. */
int chunk_fetch_at(struct be *be, const struct chunk_ref *ref, const struct pack_loc *loc,
		   void *buf);
/*
 * The pack writer of one commit. pack_writer_add() frames n chunks (plain[i], named and
 * sized by ref[i], already hashed; zstd at level as chunk_put() decides; a raw frame straight
 * into the pack) and appends them, in that order, to the open pack in the order of seq:
 * every number from 0 up is given once, to an add or to pack_writer_skip() (chunks that need
 * no storing), and an add or skip waits until those of every smaller number have placed
 * theirs, so that a file's chunks lie in consecutive frames (manifest runs) however many
 * threads compress them (several chunks per call: one turn, not one per chunk).
 * Numbers must be handed out in the order the callers' jobs start (a FIFO pool). The open
 * pack holds at most target bytes (or one larger frame alone) and is stored, pack then index
 * (be_put_lazy: the caller flushes before anything names them), by the call that fills it
 * or starts the next one; loc[i] receives where frame i lies and *added (may be NULL) the
 * bytes stored. pack_writer_finish(), once every add and skip returned, stores the last pack
 * and gives the indexes of every pack stored (borrowed: valid until destroy); after any
 * store failure every later add and the finish return that error, and what was stored is
 * simply not named by anything.
 */
struct pack_writer;
#define PACK_TARGET (8u << 20)
int pack_writer_create(struct be *be, size_t target, uint32_t chunk_max,
		       struct pack_writer **out);
int pack_writer_add(struct pack_writer *w, uint64_t seq, size_t n, const void *const plain[],
		    const struct chunk_ref ref[], int level, struct pack_loc loc[],
		    uint64_t *added);
void pack_writer_skip(struct pack_writer *w, uint64_t seq);
int pack_writer_finish(struct pack_writer *w, const struct pack_index **packs, size_t *n);
void pack_writer_destroy(struct pack_writer *w);

/*
 * FastCDC content-defined chunker over a stream. Feed bytes with chunker_next(): it returns
 * the length of the next chunk that starts at data[0], given avail bytes of data and whether
 * the stream ends after them (eof). A return of 0 means "need more data" (only when !eof
 * and avail < max). Deterministic: the same bytes always cut at the same places.
 */
struct chunker {
	uint32_t min, avg, max;
	uint64_t mask_s, mask_l;
};

void chunker_init(struct chunker *ck, uint32_t min, uint32_t avg, uint32_t max);
size_t chunker_next(const struct chunker *ck, const uint8_t *data, size_t avail, int eof);

#endif
