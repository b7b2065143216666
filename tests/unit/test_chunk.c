/* SPDX-License-Identifier: MIT */
/*
 * The chunk layer (backends/chunk.c): names, the FastCDC chunker (determinism, bounds, shift
 * resistance), the frame codec, and store/fetch through a local store with damage and dedup.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../backends/backend.h"

#define KiB (1u << 10)
#define MiB (1u << 20)

/* ---- helpers ---- */

static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i & 7)) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
		}
		buf[i] = (uint8_t)((x * 0x2545f4914f6cdd1dull) >> (8 * (i & 7)));
	}
}

/* Text-like bytes that compress well but are not trivial. */
static void fill_text(uint8_t *buf, size_t len)
{
	static const char words[] = "weights bias layer epoch loss accuracy tensor gradient ";
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)words[(i * 7 + i / 61) % (sizeof(words) - 1)];
}

struct cut {
	size_t off, len;
	uint8_t id[CHUNK_ID_LEN];
};

/* Cuts data[0..len) with all of it available at once; *n receives the chunk count. */
static struct cut *cut_all(const struct chunker *ck, const uint8_t *data, size_t len, size_t *n)
{
	size_t cap = 64, pos = 0, c;
	struct cut *cuts = malloc(cap * sizeof(*cuts));

	cr_assert_not_null(cuts);
	*n = 0;
	while (pos < len) {
		c = chunker_next(ck, data + pos, len - pos, 1);
		cr_assert_gt(c, 0);
		cr_assert_leq(c, len - pos);
		if (*n == cap) {
			cap *= 2;
			cuts = realloc(cuts, cap * sizeof(*cuts));
			cr_assert_not_null(cuts);
		}
		cuts[*n].off = pos;
		cuts[*n].len = c;
		chunk_hash(data + pos, c, cuts[*n].id);
		(*n)++;
		pos += c;
	}
	return cuts;
}

static char g_dir[64];
static struct be *g_be;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void teardown(void)
{
	be_destroy(g_be);
	g_be = NULL;
	if (g_dir[0])
		nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	g_dir[0] = '\0';
}

static struct be *local_open(void)
{
	struct be_local_conf c;

	strcpy(g_dir, "/tmp/artifs-test-chunk.XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
	c.root = g_dir;
	cr_assert_eq(be_local_create(&c, &g_be), 0);
	return g_be;
}

/* ---- names ---- */

/* SHA-256("abc"), FIPS 180-2 appendix B.1 */
#define ABC_HEX "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC_UPPER "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"

Test(names, hash_hex_parse_key)
{
	uint8_t id[CHUNK_ID_LEN], back[CHUNK_ID_LEN];
	char hex[CHUNK_HEX_LEN + 1], key[80];

	chunk_hash("abc", 3, id);
	chunk_id_hex(id, hex);
	cr_assert_str_eq(hex, ABC_HEX);
	cr_assert_eq(chunk_id_parse(hex, back), 0);
	cr_assert_eq(memcmp(id, back, CHUNK_ID_LEN), 0);
	chunk_key(id, key, sizeof(key));
	cr_assert_str_eq(key, "chunks/ba/" ABC_HEX);

	cr_assert_eq(chunk_id_parse(ABC_UPPER, back), EINVAL);
	cr_assert_eq(chunk_id_parse("ba7816bf", back), EINVAL);
	cr_assert_eq(chunk_id_parse("", back), EINVAL);
	cr_assert_eq(chunk_id_parse(ABC_HEX "0", back), EINVAL);
	strcpy(hex, ABC_HEX);
	hex[63] = 'g';
	cr_assert_eq(chunk_id_parse(hex, back), EINVAL);
}

/* ---- chunker ---- */

Test(chunker, edges)
{
	struct chunker ck;
	uint8_t *buf = malloc(4 * MiB);

	cr_assert_not_null(buf);
	fill_random(buf, 4 * MiB, 1);
	chunker_init(&ck, 64 * KiB, 256 * KiB, 1 * MiB);
	cr_assert_eq(chunker_next(&ck, buf, 0, 1), 0);
	cr_assert_eq(chunker_next(&ck, buf, 0, 0), 0);
	/* At eof, a tail shorter than min is one chunk. */
	cr_assert_eq(chunker_next(&ck, buf, 1000, 1), 1000);
	/* Short of max and not at eof: at most min bytes is surely "need more". */
	cr_assert_eq(chunker_next(&ck, buf, 64 * KiB, 0), 0);
	/* With max bytes there is always an answer, never more than max. */
	cr_assert_gt(chunker_next(&ck, buf, 1 * MiB, 0), 0);
	cr_assert_leq(chunker_next(&ck, buf, 4 * MiB, 0), 1 * MiB);
	/* Zeros: whether or not their constant hash ever matches, the cut lies in [min, max]. */
	memset(buf, 0, 4 * MiB);
	cr_assert_leq(chunker_next(&ck, buf, 4 * MiB, 0), 1 * MiB);
	cr_assert_geq(chunker_next(&ck, buf, 4 * MiB, 0), 64 * KiB);
	free(buf);
}

Test(chunker, deterministic_and_streaming)
{
	const size_t len = 16 * MiB;
	struct chunker ck;
	struct cut *a, *b;
	size_t na, nb, i, pos, win, c, k;
	uint8_t *buf = malloc(len);

	cr_assert_not_null(buf);
	fill_random(buf, len, 7);
	chunker_init(&ck, 64 * KiB, 256 * KiB, 1 * MiB);
	a = cut_all(&ck, buf, len, &na);
	b = cut_all(&ck, buf, len, &nb);
	cr_assert_eq(na, nb);
	cr_assert_eq(memcmp(a, b, na * sizeof(*a)), 0);
	cr_assert_gt(na, 16, "only %zu chunks in 16 MiB", na);

	/* Feeding in small windows, growing them on "need more", cuts at the same places. */
	pos = 0;
	k = 0;
	win = 100 * KiB;
	while (pos < len) {
		size_t avail = len - pos < win ? len - pos : win;
		int eof = pos + avail == len;

		c = chunker_next(&ck, buf + pos, avail, eof);
		if (!c) {
			cr_assert(!eof && avail < ck.max);
			win += 100 * KiB;
			continue;
		}
		cr_assert_lt(k, na);
		cr_assert_eq(pos, a[k].off);
		cr_assert_eq(c, a[k].len, "chunk %zu: %zu vs %zu", k, c, a[k].len);
		pos += c;
		k++;
		win = 100 * KiB;
	}
	cr_assert_eq(k, na);

	/* A second chunker with the same parameters agrees. */
	{
		struct chunker ck2;

		chunker_init(&ck2, 64 * KiB, 256 * KiB, 1 * MiB);
		for (i = 0; i < na; i++)
			cr_assert_eq(chunker_next(&ck2, buf + a[i].off, len - a[i].off, 1),
				     a[i].len);
	}
	free(a);
	free(b);
	free(buf);
}

Test(chunker, sizes_within_bounds)
{
	const size_t len = 24 * MiB + 12345;
	struct chunker ck;
	struct cut *a;
	size_t n, i, total = 0;
	uint8_t *buf = malloc(len);

	cr_assert_not_null(buf);
	fill_random(buf, len, 3);
	chunker_init(&ck, 64 * KiB, 256 * KiB, 1 * MiB);
	a = cut_all(&ck, buf, len, &n);
	for (i = 0; i < n; i++) {
		if (i + 1 < n)
			cr_assert_geq(a[i].len, ck.min, "chunk %zu: %zu bytes", i, a[i].len);
		cr_assert_leq(a[i].len, ck.max, "chunk %zu: %zu bytes", i, a[i].len);
		total += a[i].len;
	}
	cr_assert_eq(total, len);
	/* Normalized chunking keeps the mean near avg. */
	cr_assert_gt(len / n, 128 * KiB, "mean %zu", len / n);
	cr_assert_lt(len / n, 512 * KiB, "mean %zu", len / n);
	free(a);

	/* Data with no cut points at all is cut at max. */
	memset(buf, 0, len);
	a = cut_all(&ck, buf, len, &n);
	for (i = 0; i + 1 < n; i++) {
		cr_assert_geq(a[i].len, ck.min);
		cr_assert_leq(a[i].len, ck.max);
	}
	free(a);
	free(buf);
}

static int has_id(const struct cut *cuts, size_t n, const uint8_t *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(cuts[i].id, id, CHUNK_ID_LEN))
			return 1;
	return 0;
}

Test(chunker, shift_resistance)
{
	const size_t len = 64 * MiB, edit = len / 2;
	struct chunker ck;
	struct cut *a, *b;
	size_t na, nb, i, before = 0, after = 0, lost = 0;
	uint8_t *x = malloc(len), *y = malloc(len + 1);

	cr_assert(x && y);
	fill_random(x, len, 42);
	memcpy(y, x, edit);
	y[edit] = 0x5a;
	memcpy(y + edit + 1, x + edit, len - edit);

	chunker_init(&ck, 64 * KiB, 256 * KiB, 1 * MiB);
	a = cut_all(&ck, x, len, &na);
	b = cut_all(&ck, y, len + 1, &nb);

	/* Every chunk that ends before the edit is the same chunk at the same place. */
	for (i = 0; i < na && a[i].off + a[i].len <= edit; i++) {
		cr_assert_lt(i, nb);
		cr_assert_eq(a[i].off, b[i].off);
		cr_assert_eq(a[i].len, b[i].len);
		cr_assert_eq(memcmp(a[i].id, b[i].id, CHUNK_ID_LEN), 0);
		before++;
	}
	/* After the edit the cuts resynchronize: all but a few chunks are known ones. */
	for (i = 0; i < nb; i++) {
		if (b[i].off <= edit)
			continue;
		after++;
		if (!has_id(a, na, b[i].id))
			lost++;
	}
	cr_assert_gt(before, 50, "%zu chunks before the edit", before);
	cr_assert_gt(after, 50, "%zu chunks after the edit", after);
	cr_assert_leq(lost, 2, "%zu of %zu chunks after the edit are new", lost, after);
	free(a);
	free(b);
	free(x);
	free(y);
}

/* ---- frames ---- */

static void roundtrip(const uint8_t *plain, size_t len, int level, int want_codec)
{
	void *f = NULL;
	size_t flen, i;
	uint8_t *back = malloc(len + 1), *h;
	uint64_t l = 0;

	cr_assert_not_null(back);
	cr_assert_eq(chunk_frame(plain, len, level, &f, &flen), 0);
	h = f;
	cr_assert_eq(memcmp(h, "AFC1", 4), 0);
	cr_assert_eq(h[4], want_codec, "codec %d, expected %d", h[4], want_codec);
	cr_assert(!h[5] && !h[6] && !h[7]);
	for (i = 8; i < 16; i++)
		l = l << 8 | h[i];
	cr_assert_eq(l, len);
	if (want_codec == 0)
		cr_assert_eq(flen, 16 + len);
	else
		cr_assert_leq(flen, 16 + len - len / 16);
	cr_assert_eq(chunk_unframe(f, flen, back, len), 0);
	cr_assert_eq(memcmp(back, plain, len), 0);
	be_buf_free(f);
	free(back);
}

Test(frame, round_trips)
{
	const size_t len = 2 * MiB;
	uint8_t *buf = malloc(len);

	cr_assert_not_null(buf);
	memset(buf, 0, len);
	roundtrip(buf, len, 3, 1);  /* zeros: zstd */
	roundtrip(buf, len, 0, 0);  /* level 0: always raw */
	fill_text(buf, len);
	roundtrip(buf, len, 3, 1);
	roundtrip(buf, len, 19, 1);
	fill_random(buf, len / 2, 9);
	roundtrip(buf, len, 3, 1);  /* half random, half text: still pays */
	fill_random(buf, len, 9);
	roundtrip(buf, len, 3, 0);  /* incompressible: raw */
	roundtrip(buf, 0, 3, 0);    /* empty chunk */
	roundtrip(buf, 1, 3, 0);
	free(buf);
}

static void expect_eio(const void *f, size_t flen, size_t plain_len, const char *what)
{
	uint8_t *out = malloc(plain_len + 1);

	cr_assert_not_null(out);
	cr_assert_eq(chunk_unframe(f, flen, out, plain_len), EIO, "%s", what);
	free(out);
}

static void corruptions(const uint8_t *plain, size_t len, int level)
{
	uint8_t *f = NULL, *g;
	size_t flen;

	cr_assert_eq(chunk_frame(plain, len, level, (void **)&f, &flen), 0);
	g = malloc(flen + 8);
	cr_assert_not_null(g);

	expect_eio(f, 15, len, "shorter than a header");
	expect_eio(f, flen - 1, len, "truncated");
	expect_eio(f, 16 + (flen - 16) / 2, len, "half the payload");
	expect_eio(f, flen, len - 1, "expected length too small");
	expect_eio(f, flen, len + 1, "expected length too large");

	memcpy(g, f, flen);
	memcpy(g + flen, "garbage!", 8);
	expect_eio(g, flen + 8, len, "trailing bytes");

#define FLIP(i, v, what)                                   \
	do {                                               \
		memcpy(g, f, flen);                        \
		g[i] ^= (v);                               \
		expect_eio(g, flen, len, what);            \
	} while (0)
	FLIP(0, 1, "magic");
	FLIP(3, 0x80, "magic version");
	FLIP(4, 2, "unknown codec");
	FLIP(5, 1, "reserved byte");
	FLIP(7, 1, "reserved byte");
	FLIP(8, 1, "length high byte");
	FLIP(15, 1, "length low byte");
#undef FLIP
	free(g);
	be_buf_free(f);
}

Test(frame, corrupted_gives_eio)
{
	const size_t len = 256 * KiB;
	uint8_t *buf = malloc(len);

	cr_assert_not_null(buf);
	fill_text(buf, len);
	corruptions(buf, len, 3);
	fill_random(buf, len, 5);
	corruptions(buf, len, 3);
	free(buf);
}

/* ---- store and fetch ---- */

static void chunk_path(const struct chunk_ref *ref, char *path, size_t size)
{
	char key[80];

	chunk_key(ref->id, key, sizeof(key));
	snprintf(path, size, "%s/%s", g_dir, key);
}

Test(store, round_trip_and_dedup, .fini = teardown)
{
	const size_t len = 3 * MiB;
	struct be *be = local_open();
	struct chunk_ref r1, r2, r3;
	uint64_t added = 99, size;
	uint8_t *buf = malloc(len), *back = malloc(CHUNK_FETCH_CAP(len));
	char key[80];

	cr_assert(buf && back);
	fill_text(buf, len);
	cr_assert_eq(chunk_store(be, buf, len, 3, &r1, &added), 0);
	cr_assert_eq(r1.len, len);
	cr_assert_gt(added, 0);
	cr_assert_lt(added, len / 2, "text compressed to %llu", (unsigned long long)added);
	chunk_key(r1.id, key, sizeof(key));
	cr_assert_eq(be_head(be, key, &size), 0);
	cr_assert_eq(size, added);

	/* The same bytes again add nothing. */
	cr_assert_eq(chunk_store(be, buf, len, 3, &r2, &added), 0);
	cr_assert_eq(added, 0);
	cr_assert_eq(memcmp(&r1, &r2, sizeof(r1)), 0);
	cr_assert_eq(chunk_store(be, buf, len, 3, &r2, NULL), 0);

	memset(back, 0xee, len);
	cr_assert_eq(chunk_fetch(be, &r1, back), 0);
	cr_assert_eq(memcmp(buf, back + CHUNK_FETCH_OFF, len), 0);

	/* Random bytes go raw and come back too. */
	fill_random(buf, 1 * MiB, 11);
	cr_assert_eq(chunk_store(be, buf, 1 * MiB, 3, &r3, &added), 0);
	cr_assert_eq(added, 16 + 1 * MiB);
	cr_assert_eq(chunk_fetch(be, &r3, back), 0);
	cr_assert_eq(memcmp(buf, back + CHUNK_FETCH_OFF, 1 * MiB), 0);
	free(buf);
	free(back);
}

Test(store, missing_chunk, .fini = teardown)
{
	struct be *be = local_open();
	struct chunk_ref r;
	uint8_t buf[CHUNK_FETCH_CAP(7)];

	chunk_hash("nothing", 7, r.id);
	r.len = 7;
	cr_assert_eq(chunk_fetch(be, &r, buf), ENOENT);
}

/* Runs chunk_fetch with stderr captured; returns its result, the log in log (NUL-ended). */
static int fetch_logged(struct be *be, const struct chunk_ref *ref, void *buf, char *log,
			size_t logsize)
{
	FILE *tmp = tmpfile();
	int saved, err;
	size_t n;

	cr_assert_not_null(tmp);
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	err = chunk_fetch(be, ref, buf);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(log, 1, logsize - 1, tmp);
	log[n] = '\0';
	fclose(tmp);
	return err;
}

/* Flips bit 4 of the byte at offset at (from the end when negative). */
static void flip_byte(const char *path, long at)
{
	uint8_t c;
	int fd = open(path, O_RDWR);

	cr_assert_geq(fd, 0);
	if (at < 0)
		at += (long)lseek(fd, 0, SEEK_END);
	cr_assert_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x10;
	cr_assert_eq(pwrite(fd, &c, 1, at), 1);
	close(fd);
}

static void damage_detected(const uint8_t *plain, size_t len, long at)
{
	struct be *be = g_be;
	struct chunk_ref r, wrong;
	char path[256], log[2048], hex[CHUNK_HEX_LEN + 1];
	uint8_t *back = malloc(CHUNK_FETCH_CAP(len)), *got = back + CHUNK_FETCH_OFF;

	cr_assert_not_null(back);
	cr_assert_eq(chunk_store(be, plain, len, 3, &r, NULL), 0);
	chunk_path(&r, path, sizeof(path));
	flip_byte(path, at);

	cr_assert_eq(fetch_logged(be, &r, back, log, sizeof(log)), EIO);
	chunk_id_hex(r.id, hex);
	cr_assert_not_null(strstr(log, hex), "log does not name the chunk: %s", log);

	/* Repaired, it reads fine; a reference with the wrong length is damage too. */
	flip_byte(path, at);
	cr_assert_eq(chunk_fetch(be, &r, back), 0);
	cr_assert_eq(memcmp(got, plain, len), 0);
	wrong = r;
	wrong.len = (uint32_t)len - 1;
	cr_assert_eq(fetch_logged(be, &wrong, back, log, sizeof(log)), EIO);
	free(back);
}

Test(store, flipped_byte_gives_eio, .fini = teardown)
{
	const size_t len = 1 * MiB;
	uint8_t *buf = malloc(len);

	cr_assert_not_null(buf);
	local_open();
	fill_random(buf, len, 13); /* raw frame: the hash catches it */
	damage_detected(buf, len, 16 + 1000);
	fill_text(buf, len); /* zstd frame, damage in the payload */
	damage_detected(buf, len, -5);
	fill_text(buf, len / 2); /* damage in the header */
	damage_detected(buf, len / 2, 2);
	free(buf);
}
