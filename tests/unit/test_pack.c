/* SPDX-License-Identifier: MIT */
/* Pack keys and the pack index codec (backends/pack.c): round trips and every refusal. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/backend.h"

#define CMAX (64u << 10)

static struct pack_entry E[3];
static struct pack_index IX;

static void make_index(void)
{
	memset(&IX, 0, sizeof(IX));
	for (int i = 0; i < 16; i++)
		IX.name[i] = (uint8_t)(0xa0 + i);
	for (int i = 0; i < 3; i++) {
		memset(E[i].id, 'a' + i, CHUNK_ID_LEN);
		E[i].off = (uint64_t)i * 1000;
		E[i].flen = 900;
		E[i].len = 4096;
	}
	IX.v = E;
	IX.n = 3;
	IX.size = 3000;
}

/* Encodes IX, lets damage() change the bytes, and decodes: the errno; *why the reason. */
static int round_trip(void (*damage)(uint8_t *b, size_t len), struct pack_index *out,
		      const char **why)
{
	void *buf;
	size_t len;
	int err;

	cr_assert_eq(pack_index_encode(&IX, CMAX, &buf, &len), 0);
	if (damage)
		damage(buf, len);
	err = pack_index_decode(buf, len, IX.name, CMAX, out, why);
	free(buf);
	return err;
}

Test(pack, index_round_trip)
{
	struct pack_index got;
	const char *why = NULL;

	make_index();
	cr_assert_eq(round_trip(NULL, &got, &why), 0, "%s", why);
	cr_expect_eq(got.n, 3);
	cr_expect_eq(got.size, 3000);
	cr_expect_eq(memcmp(got.name, IX.name, PACK_NAME_LEN), 0);
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(memcmp(got.v[i].id, E[i].id, CHUNK_ID_LEN), 0);
		cr_expect_eq(got.v[i].off, E[i].off);
		cr_expect_eq(got.v[i].flen, E[i].flen);
		cr_expect_eq(got.v[i].len, E[i].len);
	}
	pack_index_release(&got);
	IX.n = 0; /* an empty pack index is valid */
	cr_expect_eq(round_trip(NULL, &got, &why), 0);
	cr_expect_eq(got.n, 0);
	pack_index_release(&got);
}

static void flip_entry(uint8_t *b, size_t len) { b[60] ^= 1; }
static void bad_magic(uint8_t *b, size_t len) { b[0] = 'X'; }
static void bad_version(uint8_t *b, size_t len) { b[11] = 9; }
static void bad_count(uint8_t *b, size_t len) { b[15] = 7; }
static void other_name(uint8_t *b, size_t len) { b[16] ^= 0xff; }

Test(pack, damaged_indexes_are_refused)
{
	struct { void (*fn)(uint8_t *, size_t); const char *why; } cases[] = {
		{ flip_entry, "checksum" }, { bad_magic, "not a pack index" },
		{ bad_version, "version" }, { bad_count, "entry count" },
		{ other_name, "another pack" },
	};
	struct pack_index got;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;

		make_index();
		cr_expect_eq(round_trip(cases[i].fn, &got, &why), EINVAL, "case %zu", i);
		cr_expect(why && strstr(why, cases[i].why), "case %zu: %s", i, why);
		cr_expect_null(got.v);
	}
	cr_expect_eq(pack_index_decode("ARTIFSPK", 8, IX.name, CMAX, &got, NULL), EINVAL);
	cr_expect_eq(pack_index_decode("", 0, IX.name, CMAX, &got, NULL), EINVAL);
}

Test(pack, bad_entries_are_never_written)
{
	void *buf = NULL;
	size_t len;

	make_index();
	E[1].off = 500; /* overlaps entry 0 */
	cr_expect_eq(pack_index_encode(&IX, CMAX, &buf, &len), EINVAL);
	make_index();
	E[2].flen = 1001; /* past the pack's end */
	cr_expect_eq(pack_index_encode(&IX, CMAX, &buf, &len), EINVAL);
	make_index();
	E[0].len = 0;
	cr_expect_eq(pack_index_encode(&IX, CMAX, &buf, &len), EINVAL);
	make_index();
	E[0].len = CMAX + 1;
	cr_expect_eq(pack_index_encode(&IX, CMAX, &buf, &len), EINVAL);
	make_index();
	E[0].len = 100; /* a frame larger than the raw bytes */
	cr_expect_eq(pack_index_encode(&IX, CMAX, &buf, &len), EINVAL);
	make_index();
	E[0].flen = CHUNK_FRAME_HDR - 1;
	cr_expect_eq(pack_index_encode(&IX, CMAX, &buf, &len), EINVAL);
	make_index();
	E[2].off = UINT64_MAX - 10; /* offset + length wraps */
	cr_expect_eq(pack_index_encode(&IX, CMAX, &buf, &len), EINVAL);
	cr_expect_null(buf);
}

Test(pack, keys)
{
	uint8_t name[PACK_NAME_LEN], got[PACK_NAME_LEN];
	char key[BE_KEY_MAX];
	int index = -1;

	cr_assert_eq(pack_name_new(name), 0);
	cr_assert_eq(pack_key(name, 1, key, sizeof(key)), 0);
	cr_expect_eq(strlen(key), strlen("packs/hh/") + 32 + strlen(".idx"), "%s", key);
	cr_expect_eq(pack_key_parse(key, got, &index), 0, "%s", key);
	cr_expect_eq(index, 1);
	cr_expect_eq(memcmp(name, got, PACK_NAME_LEN), 0);
	cr_assert_eq(pack_key(name, 0, key, sizeof(key)), 0);
	cr_expect_eq(pack_key_parse(key, got, &index), 0);
	cr_expect_eq(index, 0);
	cr_expect_eq(pack_key(name, 0, key, 20), ENAMETOOLONG);
	const char *bad[] = {
		"packs/", "packs/a0", "chunks/a0/a0a1a2a3a4a5a6a7a8a9aaabacadaeaf.idx",
		"packs/a1/a0a1a2a3a4a5a6a7a8a9aaabacadaeaf.idx", /* wrong folder */
		"packs/a0/a0a1a2a3a4a5a6a7a8a9aaabacadaeaf.txt",
		"packs/a0/a0a1a2a3a4a5a6a7a8a9aaabacadaeaf.idx2",
		"packs/a0/a0a1a2a3a4a5a6a7a8a9aaabacadaeAF.idx", /* upper case */
		"packs/a0/a0a1a2a3a4a5a6a7a8a9aaabacadae.idx",   /* short */
		"packs/a0xa0a1a2a3a4a5a6a7a8a9aaabacadaeaf.idx",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(pack_key_parse(bad[i], got, &index), EINVAL, "%s", bad[i]);
	cr_expect_eq(pack_key_parse("packs/a0/a0a1a2a3a4a5a6a7a8a9aaabacadaeaf.idx", got, &index), 0);
}

/* ---- the writer, over a local store ---- */

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static char wdir[] = "/tmp/artifs-pack-XXXXXX";
static struct be *BE;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static void wsetup(void)
{
	struct be_local_conf c = { .root = wdir };

	cr_assert_not_null(mkdtemp(wdir));
	cr_assert_eq(be_local_create(&c, &BE), 0);
}

static void wteardown(void)
{
	be_destroy(BE);
	nftw(wdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	strcpy(wdir, "/tmp/artifs-pack-XXXXXX");
}

/* Chunk i: 1000 + 11 * (i % 256) bytes (at most 3,805) derived from i (compressible for even i). */
static size_t chunk_make(unsigned i, uint8_t *buf, struct chunk_ref *ref)
{
	size_t len = 1000 + 11 * (size_t)(i % 256);

	for (size_t k = 0; k < len; k++) {
		uint32_t x = i * 0x9E3779B9u + (uint32_t)k;

		x ^= x >> 15;
		x *= 0x2c1b3c6du;
		x ^= x >> 12;
		buf[k] = (uint8_t)(i % 2 ? x : 'a' + (k + i) % 3);
	}
	ref->len = (uint32_t)len;
	chunk_hash(buf, len, ref->id);
	return len;
}

/* Turns handed out as a FIFO pool would: in the order the jobs start. */
static atomic_uint next_seq;
static struct pack_loc by_seq[256];

struct wjob {
	struct pack_writer *w;
	unsigned first, n;
	struct pack_loc loc[64];
	struct chunk_ref ref[64];
	int err;
};

static void *wthread(void *arg)
{
	struct wjob *j = arg;
	uint8_t buf[4000];

	for (unsigned i = 0; i < j->n && !j->err; i++) {
		unsigned seq = atomic_fetch_add(&next_seq, 1);

		chunk_make(j->first + i, buf, &j->ref[i]);
		if (seq % 5 == 4) { /* every fifth turn a chunk that needs no storing */
			pack_writer_skip(j->w, seq);
			i--;
			continue;
		}
		j->err = pack_writer_add(j->w, seq, 1, (const void *[]){ buf }, &j->ref[i], 3,
					 &j->loc[i], NULL);
		if (seq < 256)
			by_seq[seq] = j->loc[i];
	}
	return NULL;
}

TestSuite(writer, .init = wsetup, .fini = wteardown);

Test(writer, chunks_from_many_threads_read_back_from_their_packs)
{
	struct pack_writer *w;
	struct wjob jobs[4];
	pthread_t t[4];
	const struct pack_index *packs;
	size_t n, entries = 0;

	cr_assert_eq(pack_writer_create(BE, 20000, 4000, &w), 0);
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct wjob){ .w = w, .first = 64 * i, .n = 64 };
		cr_assert_eq(pthread_create(&t[i], NULL, wthread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(jobs[i].err, 0);
	}
	cr_assert_eq(pack_writer_finish(w, &packs, &n), 0);
	cr_expect_gt(n, 8, "128 incompressible chunks of 1-3.8 KB fit in %zu packs of 20 KB", n);
	for (size_t p = 0; p < n; p++) {
		char key[BE_KEY_MAX];
		struct pack_index got;
		void *buf;
		size_t len;

		entries += packs[p].n;
		/* A frame that does not fit begins the next pack: none passes its target. */
		cr_expect_leq(packs[p].size, 20000, "pack %zu holds %llu bytes", p,
			      (unsigned long long)packs[p].size);
		cr_assert_eq(pack_key(packs[p].name, 1, key, sizeof(key)), 0);
		cr_assert_eq(be_get_all(BE, key, 1 << 20, &buf, &len), 0, "%s", key);
		cr_expect_eq(pack_index_decode(buf, len, packs[p].name, 4000, &got, NULL), 0);
		cr_expect_eq(got.n, packs[p].n);
		cr_expect_eq(memcmp(got.digest, packs[p].digest, CHUNK_ID_LEN), 0,
			     "the writer gives the digest that decoding finds");
		pack_index_release(&got);
		free(buf);
	}
	cr_expect_eq(entries, 256);
	/* Frames lie in the order of the turns: each pack's next, or the first of the next. */
	for (unsigned q = 0, prev = 0, have = 0; q < 256; q++) {
		if (q % 5 == 4)
			continue;
		if (have && !memcmp(by_seq[q].pack, by_seq[prev].pack, PACK_NAME_LEN))
			cr_expect_eq(by_seq[q].frame, by_seq[prev].frame + 1, "turn %u", q);
		else
			cr_expect_eq(by_seq[q].frame, 0, "turn %u begins a pack", q);
		prev = q;
		have = 1;
	}
	for (int i = 0; i < 4; i++)
		for (unsigned k = 0; k < 64; k++) {
			uint8_t *fb = malloc(CHUNK_FETCH_CAP(jobs[i].ref[k].len)), want[4000];

			chunk_make(jobs[i].first + k, want, &jobs[i].ref[k]);
			cr_assert_eq(chunk_fetch_at(BE, &jobs[i].ref[k], &jobs[i].loc[k], fb), 0);
			cr_expect_eq(memcmp(fb + CHUNK_FETCH_OFF, want, jobs[i].ref[k].len), 0);
			free(fb);
		}
	pack_writer_destroy(w);
}

Test(writer, a_damaged_frame_or_a_wrong_location_is_eio)
{
	struct pack_writer *w;
	const struct pack_index *packs;
	struct chunk_ref ref, other;
	struct pack_loc loc, oloc;
	uint8_t buf[4000], fb[CHUNK_FETCH_CAP(4000)];
	char key[BE_KEY_MAX], path[600];
	size_t n;
	FILE *f;

	cr_assert_eq(pack_writer_create(BE, 1 << 20, 4000, &w), 0);
	chunk_make(1, buf, &ref);
	cr_assert_eq(pack_writer_add(w, 0, 1, (const void *[]){ buf }, &ref, 3, &loc, NULL), 0);
	chunk_make(3, buf, &other);
	cr_assert_eq(pack_writer_add(w, 1, 1, (const void *[]){ buf }, &other, 3, &oloc, NULL), 0);
	cr_assert_eq(pack_writer_finish(w, &packs, &n), 0);
	cr_assert_eq(n, 1);
	/* The other chunk's location for this chunk: its hash does not match. */
	cr_expect_eq(chunk_fetch_at(BE, &ref, &oloc, fb), EIO);
	/* A location past the pack's end. */
	struct pack_loc far = loc;

	far.off = 1 << 20;
	cr_expect_eq(chunk_fetch_at(BE, &ref, &far, fb), EIO);
	/* One byte of the frame flipped. */
	cr_assert_eq(pack_key(loc.pack, 0, key, sizeof(key)), 0);
	snprintf(path, sizeof(path), "%s/%s", wdir, key);
	cr_assert_not_null(f = fopen(path, "r+b"));
	fseek(f, (long)(loc.off + loc.flen / 2), SEEK_SET);
	fputc(0x5a ^ fgetc(f), f);
	fclose(f);
	cr_expect_eq(chunk_fetch_at(BE, &ref, &loc, fb), EIO);
	cr_expect_eq(chunk_fetch_at(BE, &other, &oloc, fb), 0, "an intact frame of the pack");
	/* A missing pack. */
	loc.pack[0] ^= 1;
	cr_expect_eq(chunk_fetch_at(BE, &ref, &loc, fb), ENOENT);
	pack_writer_destroy(w);
}
