/* SPDX-License-Identifier: MIT */
/*
 * The chunk layer: FastCDC content-defined chunking, SHA-256 names, and the frame that wraps
 * each stored chunk (a 16-byte header, then zstd or raw bytes). Fetching verifies every
 * chunk against its name, so a damaged store yields EIO and a log line, never wrong bytes.
 * See docs/store-format.md.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <openssl/evp.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "backend.h"

/* ---- names ---- */

void chunk_id_hex(const uint8_t id[CHUNK_ID_LEN], char out[CHUNK_HEX_LEN + 1])
{
	be_hex_encode(id, CHUNK_ID_LEN, out);
}

int chunk_id_parse(const char *hex, uint8_t id[CHUNK_ID_LEN])
{
	uint8_t t[CHUNK_ID_LEN];

	if (!hex || be_hex_decode(hex, strnlen(hex, CHUNK_HEX_LEN + 1), t, CHUNK_ID_LEN))
		return EINVAL;
	memcpy(id, t, sizeof(t));
	return 0;
}

void chunk_key(const uint8_t id[CHUNK_ID_LEN], char *out, size_t outlen)
{
	char hex[CHUNK_HEX_LEN + 1];

	chunk_id_hex(id, hex);
	snprintf(out, outlen, "chunks/%.2s/%s", hex, hex);
}

void chunk_hash(const void *buf, size_t len, uint8_t id[CHUNK_ID_LEN])
{
	unsigned int n = 0;

	/*
	 * EVP_Digest() only fails when OpenSSL itself is broken (no SHA-256 provider, no
	 * memory). A made-up name would silently corrupt the store, so stop instead.
	 */
	if (!EVP_Digest(buf, len, id, &n, EVP_sha256(), NULL) || n != CHUNK_ID_LEN) {
		log_msg(LOG_CRIT, "SHA-256 failed in OpenSSL; cannot name chunks");
		abort();
	}
}

/* ---- FastCDC ---- */

/*
 * The gear table: 256 pseudo-random 64-bit words from splitmix64 with a fixed seed. It must
 * never change: cut points, hence chunk names, hence dedup across stores depend on it.
 */
static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

static void gear_fill(void)
{
	uint64_t s = 0x61727469667321ull; /* "artifs!" */
	uint64_t z;
	int i;

	for (i = 0; i < 256; i++) {
		s += 0x9e3779b97f4a7c15ull;
		z = s;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		gear[i] = z ^ (z >> 31);
	}
}

static unsigned int log2_floor(uint32_t v)
{
	unsigned int b = 0;

	while (v >>= 1)
		b++;
	return b;
}

/*
 * A mask of the top n bits: with h = (h << 1) + gear[b], bit k of h depends on the last k + 1
 * bytes only, so the top bits see a 64-byte window while the low bits see almost nothing.
 */
static uint64_t top_bits(unsigned int n)
{
	if (n == 0)
		return 0;
	if (n >= 64)
		return ~0ull;
	return ~0ull << (64 - n);
}

void chunker_init(struct chunker *ck, uint32_t min, uint32_t avg, uint32_t max)
{
	unsigned int bits;

	pthread_once(&gear_once, gear_fill);
	/* store_open() validated the values; keep the chunker sane even if nobody did. */
	if (max == 0)
		max = 1;
	if (avg > max)
		avg = max;
	if (min > avg)
		min = avg;
	ck->min = min;
	ck->avg = avg;
	ck->max = max;
	/*
	 * Normalized chunking, level 2: two bits harder than 1/avg before avg, two bits easier
	 * after it, which squeezes chunk sizes toward avg.
	 */
	bits = log2_floor(avg ? avg : 1);
	ck->mask_s = top_bits(bits + 2);
	ck->mask_l = top_bits(bits > 2 ? bits - 2 : 1);
}

size_t chunker_next(const struct chunker *ck, const uint8_t *data, size_t avail, int eof)
{
	size_t n, normal, i;
	uint64_t h = 0;

	if (!avail)
		return 0;
	n = avail < ck->max ? avail : ck->max;
	if (n <= ck->min)
		return eof || avail >= ck->max ? n : 0;
	normal = n < ck->avg ? n : ck->avg;
	/*
	 * A cut depends only on the bytes before it, so a cut found in what we have is final even
	 * when more data may follow; only "no cut yet" needs more data.
	 */
	for (i = ck->min; i < normal; i++) {
		h = (h << 1) + gear[data[i]];
		if (!(h & ck->mask_s))
			return i + 1;
	}
	for (; i < n; i++) {
		h = (h << 1) + gear[data[i]];
		if (!(h & ck->mask_l))
			return i + 1;
	}
	if (eof || avail >= ck->max)
		return n;
	return 0;
}

/* ---- frames ---- */

#define FRAME_MAGIC "AFC1"
#define FRAME_HDR CHUNK_FRAME_HDR

enum frame_codec {
	CODEC_RAW = 0,
	CODEC_ZSTD = 1,
};

static void put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void frame_header(uint8_t *hdr, enum frame_codec codec, uint64_t plain_len)
{
	memcpy(hdr, FRAME_MAGIC, 4);
	hdr[4] = (uint8_t)codec;
	hdr[5] = hdr[6] = hdr[7] = 0;
	put_be64(hdr + 8, plain_len);
}

/*
 * One zstd context per thread, kept for the thread's life: ZSTD_compress() and
 * ZSTD_decompress() make and zero a fresh one per call, which for 32 KiB chunks cost more in
 * page faults and memset than the compression itself. Freed when the thread exits.
 */
static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;

struct zctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};

static void zctx_free(void *p)
{
	struct zctx *z = p;

	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	free(z);
}

static void zkey_make(void)
{
	if (pthread_key_create(&zkey, zctx_free))
		abort(); /* only when the process is out of keys: at start-up, never later */
}

/* This thread's contexts (NULL members when they cannot be made: callers fall back). */
static struct zctx *zctx(void)
{
	struct zctx *z;

	pthread_once(&zonce, zkey_make);
	z = pthread_getspecific(zkey);
	if (!z && (z = calloc(1, sizeof(*z)))) {
		z->c = ZSTD_createCCtx();
		z->d = ZSTD_createDCtx();
		if (pthread_setspecific(zkey, z)) {
			zctx_free(z);
			return NULL;
		}
	}
	return z;
}

static size_t zcompress(void *dst, size_t room, const void *src, size_t len, int level)
{
	struct zctx *z = zctx();

	if (z && z->c)
		return ZSTD_compressCCtx(z->c, dst, room, src, len, level);
	return ZSTD_compress(dst, room, src, len, level);
}

static size_t zdecompress(void *dst, size_t cap, const void *src, size_t len)
{
	struct zctx *z = zctx();

	if (z && z->d)
		return ZSTD_decompressDCtx(z->d, dst, cap, src, len);
	return ZSTD_decompress(dst, cap, src, len);
}

/*
 * A zstd frame of plain into *out (be_buf_alloc'ed), or *out = NULL when compression does
 * not save at least 1/16 of the bytes (or level is 0): then the chunk is stored raw.
 */
#define SAMPLE_PART (16u << 10)
#define SAMPLE_PARTS 4

/*
 * Whether zstd may pay on plain: a 64 KiB sample from four places in it must compress by at
 * least 1/16. Weights, images and archives fail this at once, so their chunks cost neither a
 * full compression attempt nor a chunk-sized output buffer (on a commit of incompressible
 * data those were 6% of the CPU and 18 MiB of the daemon's memory).
 */
static int sample_pays(const uint8_t *plain, size_t len, int level)
{
	uint8_t sample[SAMPLE_PART * SAMPLE_PARTS], z[SAMPLE_PART * SAMPLE_PARTS];
	size_t csize;

	if (len <= sizeof(sample))
		return 1; /* small: the real attempt costs no more than a sample */
	for (int i = 0; i < SAMPLE_PARTS; i++)
		memcpy(sample + i * SAMPLE_PART, plain + (len - SAMPLE_PART) / (SAMPLE_PARTS - 1) * i,
		       SAMPLE_PART);
	csize = zcompress(z, sizeof(z) - sizeof(z) / 16, sample, sizeof(sample), level);
	return !ZSTD_isError(csize);
}

int chunk_frame_zstd(const void *plain, size_t len, int level, void **out, size_t *outlen)
{
	/* Compression pays only when it saves at least 1/16 of the bytes: no more room than
	 * that is needed, and zstd stops as soon as it overflows (incompressible data). */
	size_t room = len - len / 16, csize;
	uint8_t *buf;

	*out = NULL;
	*outlen = 0;
	if (level <= 0 || !len || !sample_pays(plain, len, level))
		return 0;
	buf = be_buf_alloc(FRAME_HDR + room);
	if (!buf)
		return ENOMEM;
	csize = zcompress(buf + FRAME_HDR, room, plain, len, level);
	if (!ZSTD_isError(csize)) {
		frame_header(buf, CODEC_ZSTD, len);
		*out = buf;
		*outlen = FRAME_HDR + csize;
		return 0;
	}
	if (ZSTD_getErrorCode(csize) != ZSTD_error_dstSize_tooSmall)
		log_msg(LOG_WARNING, "zstd: %s; storing a chunk raw", ZSTD_getErrorName(csize));
	be_buf_free(buf);
	return 0;
}

void chunk_frame_raw_header(void *hdr, size_t len)
{
	frame_header(hdr, CODEC_RAW, len);
}

int chunk_frame(const void *plain, size_t len, int level, void **out, size_t *outlen)
{
	uint8_t *buf;
	int err = chunk_frame_zstd(plain, len, level, out, outlen);

	if (err || *out)
		return err;
	if (len > SIZE_MAX - FRAME_HDR)
		return EFBIG;
	buf = be_buf_alloc(FRAME_HDR + len);
	if (!buf)
		return ENOMEM;
	frame_header(buf, CODEC_RAW, len);
	if (len)
		memcpy(buf + FRAME_HDR, plain, len);
	*out = buf;
	*outlen = FRAME_HDR + len;
	return 0;
}

/* Checks a frame's header against the expected plain length; raw frames also by size. */
static int frame_check(const uint8_t *f, size_t flen, size_t plain_len, const char **why)
{
	if (flen < FRAME_HDR) {
		*why = "shorter than a frame header";
		return EIO;
	}
	if (memcmp(f, FRAME_MAGIC, 4)) {
		*why = "bad frame magic";
		return EIO;
	}
	if (f[5] || f[6] || f[7]) {
		*why = "reserved header bytes are not zero";
		return EIO;
	}
	if (get_be64(f + 8) != plain_len) {
		*why = "frame length differs from the expected length";
		return EIO;
	}
	if (f[4] == CODEC_RAW && flen - FRAME_HDR != plain_len) {
		*why = "raw payload has the wrong size";
		return EIO;
	}
	if (f[4] != CODEC_RAW && f[4] != CODEC_ZSTD) {
		*why = "unknown codec";
		return EIO;
	}
	return 0;
}

static int unzstd(const uint8_t *z, size_t zlen, void *plain, size_t plain_len,
		  const char **why)
{
	size_t n = zdecompress(plain, plain_len, z, zlen);

	if (ZSTD_isError(n)) {
		*why = ZSTD_getErrorName(n);
		return EIO;
	}
	if (n != plain_len) {
		*why = "zstd payload decompresses to the wrong size";
		return EIO;
	}
	return 0;
}

static int unframe(const void *framed, size_t flen, void *plain, size_t plain_len,
		   const char **why)
{
	const uint8_t *f = framed;
	int err = frame_check(f, flen, plain_len, why);

	if (err)
		return err;
	if (f[4] == CODEC_ZSTD)
		return unzstd(f + FRAME_HDR, flen - FRAME_HDR, plain, plain_len, why);
	if (plain_len)
		memcpy(plain, f + FRAME_HDR, plain_len);
	return 0;
}

int chunk_unframe(const void *framed, size_t flen, void *plain, size_t plain_len)
{
	const char *why;

	return unframe(framed, flen, plain, plain_len, &why);
}

/* ---- store and fetch ---- */

/* The store itself, below any cache layer: existence and verification are its answers. */
static struct be *leaf(struct be *be)
{
	while (be->inner)
		be = be->inner;
	return be;
}

/* Whether the object of ref in the store holds exactly ref's bytes (one get, verified). */
static int stored_ok(struct be *be, const struct chunk_ref *ref)
{
	uint8_t *buf = be_buf_alloc(CHUNK_FETCH_CAP(ref->len));
	int err;

	if (!buf)
		return ENOMEM;
	err = chunk_fetch(be, ref, buf);
	be_buf_free(buf);
	return err;
}

int chunk_put(struct be *be, void *vbuf, size_t len, int level, unsigned flags,
	      struct chunk_ref *ref, uint64_t *added)
{
	uint8_t *buf = vbuf;
	char key[80];
	void *framed = NULL;
	size_t flen;
	uint64_t size;
	int err;

	if (added)
		*added = 0;
	if (len > UINT32_MAX)
		return EFBIG;
	if (!(flags & CHUNK_HASHED))
		chunk_hash(buf, len, ref->id);
	ref->len = (uint32_t)len;
	chunk_key(ref->id, key, sizeof(key));

	err = be_head(leaf(be), key, &size);
	if (!err) {
		/* There already: deduplicated only when it reads back right. */
		err = stored_ok(leaf(be), ref);
		if (err != EIO && err != ENOENT)
			return err;
		log_msg(LOG_WARNING, "%s: the stored object is damaged; storing it again", key);
	} else if (err != ENOENT) {
		return err;
	}
	err = (flags & CHUNK_ROOM) ? chunk_frame_zstd(buf, len, level, &framed, &flen)
				   : chunk_frame(buf, len, level, &framed, &flen);
	if (err)
		return err;
	if (!framed) {
		/* Raw, with room: the header goes just before the bytes, nothing is copied. */
		frame_header(buf - FRAME_HDR, CODEC_RAW, len);
		err = (flags & CHUNK_LAZY) ? be_put_lazy(be, key, buf - FRAME_HDR, FRAME_HDR + len)
					   : be_put(be, key, buf - FRAME_HDR, FRAME_HDR + len);
		flen = FRAME_HDR + len;
	} else {
		err = (flags & CHUNK_LAZY) ? be_put_lazy(be, key, framed, flen)
					   : be_put(be, key, framed, flen);
	}
	if (!err && added)
		*added = flen;
	be_buf_free(framed);
	return err;
}

int chunk_store(struct be *be, const void *buf, size_t len, int level, struct chunk_ref *ref,
		uint64_t *added)
{
	return chunk_put(be, (void *)buf, len, level, 0, ref, added);
}

/* Unframes the got bytes of a frame at buf in place and checks them against ref. */
static int fetched_check(const struct chunk_ref *ref, void *buf, size_t got, const char *why)
{
	char hex[CHUNK_HEX_LEN + 1];
	uint8_t id[CHUNK_ID_LEN], *f = buf, *plain = f + CHUNK_FETCH_OFF;
	size_t cap = CHUNK_FETCH_CAP(ref->len);
	void *z = NULL;
	int err;

	if (why)
		goto bad;
	err = frame_check(f, got, ref->len, &why);
	if (err)
		goto bad;
	if (f[4] == CODEC_ZSTD) {
		/* The compressed bytes overlap the output: decompress from a copy. */
		z = be_buf_alloc(got - FRAME_HDR);
		if (!z)
			return ENOMEM;
		memcpy(z, f + FRAME_HDR, got - FRAME_HDR);
		err = unzstd(z, got - FRAME_HDR, plain, ref->len, &why);
		be_buf_free(z);
		if (err)
			goto bad;
	}
	chunk_hash(plain, ref->len, id);
	if (memcmp(id, ref->id, CHUNK_ID_LEN)) {
		why = "content does not match its SHA-256 name";
		goto bad;
	}
	return 0;
bad:
	chunk_id_hex(ref->id, hex);
	log_msg(LOG_ERR, "chunk %s: %s (%zu stored bytes, %u expected plain bytes)", hex, why,
		got, ref->len);
	/* Never leave damaged bytes where a careless caller could mistake them for data. */
	memset(buf, 0, cap);
	return EIO;
}

int chunk_fetch(struct be *be, const struct chunk_ref *ref, void *buf)
{
	size_t cap = CHUNK_FETCH_CAP(ref->len), got = 0;
	char key[80];
	int err;

	/*
	 * One get of the largest frame a chunk of this length can have, plus a byte: a raw
	 * frame lands where the caller wants its bytes, and a compressed one is smaller. One
	 * request per chunk (no head first) is what makes an object store fast here.
	 */
	chunk_key(ref->id, key, sizeof(key));
	err = be_get(be, key, 0, cap, buf, &got);
	if (err)
		return err;
	return fetched_check(ref, buf, got,
			     got == cap ? "object larger than any frame of that length" : NULL);
}

int chunk_fetch_at(struct be *be, const struct chunk_ref *ref, const struct pack_loc *loc,
		   void *buf)
{
	char key[BE_KEY_MAX];
	size_t got = 0;
	int err;

	if (loc->flen < FRAME_HDR || loc->flen >= CHUNK_FETCH_CAP(ref->len))
		return fetched_check(ref, buf, 0, "its pack entry's length does not fit the chunk");
	err = pack_key(loc->pack, 0, key, sizeof(key));
	if (!err)
		err = be_get(be, key, loc->off, loc->flen, buf, &got);
	if (err)
		return err;
	return fetched_check(ref, buf, got, got < loc->flen ? "its pack ends early" : NULL);
}
