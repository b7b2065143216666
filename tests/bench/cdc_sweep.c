/* SPDX-License-Identifier: MIT */
/*
 * cdc_sweep: how the FastCDC average chunk size changes deduplication and chunking speed,
 * measured with the store's own chunker (chunker_init/chunker_next, backends/chunk.c).
 *
 * A base buffer of pseudo-random bytes (deterministic from the seed) is cut with
 * avg = 16, 32, 64, 128, 256 KiB, 1 MiB and 4 MiB (min = avg / 4, max = avg * 4; the store's
 * default is 1/4/16 MiB). Per setting it prints one Markdown table row: chunks per GiB of
 * the base, chunking throughput (chunker_next alone, no hashing, best of 3, CLOCK_MONOTONIC),
 * and for four edits of the base the bytes of the edited file's chunks whose SHA-256 is not
 * among the base's chunks (what a commit of the edited file would add to the store):
 *   (a) 1% of the file overwritten in size/4096/100 random 4 KiB-aligned 4 KiB blocks (%),
 *   (b) 10 MiB of random bytes inserted at the middle (MiB),
 *   (c) 1% of the size appended at the end (%),
 *   (d) 16 MiB rewritten in place, centred on the middle (MiB).
 * Percentages are of the base size. The edits are the same for every setting.
 *
 * Build and run from the repository root:
 *   cc -O2 -std=gnu11 -D_GNU_SOURCE -I. -o /tmp/cdc_sweep tests/bench/cdc_sweep.c \
 *      backends/chunk.c backends/util.c backends/log.c \
 *      $(pkg-config --libs libzstd libcrypto) -lpthread
 *   nice -n 19 taskset -c 1 /tmp/cdc_sweep [size in MiB, default 256] [seed, default 1]
 *
 * Memory: the base, one edited buffer (base size + max(10 MiB, 1%)) and two id sets.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"

#define KIB (1024ull)
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define INSERT_LEN (10 * MIB)
#define REWRITE_LEN (16 * MIB)
#define BLOCK 4096
#define MIN_MIB 32 /* room for the 16 MiB rewrite with base bytes on both sides */

enum edit_case {
	EDIT_SCATTER, /* (a) */
	EDIT_INSERT,  /* (b) */
	EDIT_APPEND,  /* (c) */
	EDIT_REWRITE, /* (d) */
	EDIT_N,
};

/* ---- deterministic bytes: splitmix64 ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_fill(uint64_t *s, uint8_t *p, size_t len)
{
	uint64_t v;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		v = rng_next(s);
		memcpy(p + i, &v, 8);
	}
	if (i < len) {
		v = rng_next(s);
		memcpy(p + i, &v, len - i);
	}
}

/* ---- a set of chunk ids: open addressing, fixed capacity ---- */

struct idset {
	uint8_t (*ids)[CHUNK_ID_LEN];
	uint8_t *used;
	size_t mask, n;
};

static void idset_release(struct idset *s)
{
	free(s->ids);
	free(s->used);
	s->ids = NULL;
	s->used = NULL;
}

/* Room for at least max ids at a load of at most 1/2. 0 or ENOMEM. */
static int idset_init(struct idset *s, size_t max)
{
	size_t cap = 16;

	while (cap < 2 * max)
		cap *= 2;
	s->ids = malloc(cap * CHUNK_ID_LEN);
	s->used = calloc(cap, 1);
	s->mask = cap - 1;
	s->n = 0;
	if (!s->ids || !s->used) {
		idset_release(s);
		return ENOMEM;
	}
	return 0;
}

static void idset_clear(struct idset *s)
{
	memset(s->used, 0, s->mask + 1);
	s->n = 0;
}

/* The slot of id: where it is, or the free slot where it would go. */
static size_t idset_slot(const struct idset *s, const uint8_t id[CHUNK_ID_LEN])
{
	uint64_t h;
	size_t i;

	/* SHA-256 bytes are uniform already: the first eight are a good hash. */
	memcpy(&h, id, sizeof(h));
	for (i = h & s->mask; s->used[i]; i = (i + 1) & s->mask)
		if (!memcmp(s->ids[i], id, CHUNK_ID_LEN))
			break;
	return i;
}

static int idset_has(const struct idset *s, const uint8_t id[CHUNK_ID_LEN])
{
	return s->used[idset_slot(s, id)];
}

/* 1 if id was added, 0 if it was there. Never full: idset_init() sized it for every chunk. */
static int idset_add(struct idset *s, const uint8_t id[CHUNK_ID_LEN])
{
	size_t i = idset_slot(s, id);

	if (s->used[i])
		return 0;
	memcpy(s->ids[i], id, CHUNK_ID_LEN);
	s->used[i] = 1;
	s->n++;
	return 1;
}

/* ---- cutting ---- */

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Cuts buf without hashing; the number of chunks into *chunks, seconds taken returned. */
static double cut_only(const struct chunker *ck, const uint8_t *buf, size_t len,
		       uint64_t *chunks)
{
	double t0 = now_sec();
	size_t off = 0;
	uint64_t n = 0;

	while (off < len) {
		off += chunker_next(ck, buf + off, len - off, 1);
		n++;
	}
	*chunks = n;
	return now_sec() - t0;
}

/* Best of 3 passes over buf, in MiB/s. */
static double cut_speed(const struct chunker *ck, const uint8_t *buf, size_t len,
			uint64_t *chunks)
{
	double best = 0, t;
	int i;

	for (i = 0; i < 3; i++) {
		t = cut_only(ck, buf, len, chunks);
		if (i == 0 || t < best)
			best = t;
	}
	return best > 0 ? len / (double)MIB / best : 0;
}

/* Cuts and hashes the base into base, which must be empty. */
static void cut_base(const struct chunker *ck, const uint8_t *buf, size_t len,
		     struct idset *base)
{
	uint8_t id[CHUNK_ID_LEN];
	size_t off = 0, n;

	while (off < len) {
		n = chunker_next(ck, buf + off, len - off, 1);
		chunk_hash(buf + off, n, id);
		idset_add(base, id);
		off += n;
	}
}

/*
 * Cuts an edited file and returns the bytes of its chunks not in base, each distinct chunk
 * counted once (a store keeps one copy); fresh is scratch for the new ids.
 */
static uint64_t cut_added(const struct chunker *ck, const uint8_t *buf, size_t len,
			  const struct idset *base, struct idset *fresh)
{
	uint8_t id[CHUNK_ID_LEN];
	size_t off = 0, n;
	uint64_t added = 0;

	idset_clear(fresh);
	while (off < len) {
		n = chunker_next(ck, buf + off, len - off, 1);
		chunk_hash(buf + off, n, id);
		if (!idset_has(base, id) && idset_add(fresh, id))
			added += n;
		off += n;
	}
	return added;
}

/* ---- edits ---- */

/* Writes edit e of base (len bytes) into out; returns the edited length. */
static size_t edit_build(enum edit_case e, uint64_t seed, const uint8_t *base, size_t len,
			 uint8_t *out)
{
	uint64_t s = seed * 0x100000001b3ull + 0x5eed0000u + e; /* one stream per case */
	size_t mid = len / 2, blocks = len / BLOCK, i, at;

	switch (e) {
	case EDIT_SCATTER:
		memcpy(out, base, len);
		for (i = 0; i < blocks / 100; i++) {
			at = (size_t)(rng_next(&s) % blocks) * BLOCK;
			rng_fill(&s, out + at, BLOCK);
		}
		return len;
	case EDIT_INSERT:
		memcpy(out, base, mid);
		rng_fill(&s, out + mid, INSERT_LEN);
		memcpy(out + mid + INSERT_LEN, base + mid, len - mid);
		return len + INSERT_LEN;
	case EDIT_APPEND:
		memcpy(out, base, len);
		rng_fill(&s, out + len, len / 100);
		return len + len / 100;
	case EDIT_REWRITE:
	default:
		memcpy(out, base, len);
		rng_fill(&s, out + mid - REWRITE_LEN / 2, REWRITE_LEN);
		return len;
	}
}

/* ---- the sweep ---- */

struct sweep {
	uint64_t seed;
	size_t len;       /* base size */
	uint8_t *base;    /* len bytes */
	uint8_t *edit;    /* len + the largest growth of an edit */
	struct idset ids; /* the base's chunk ids */
	struct idset fresh;
};

static void print_header(const struct sweep *w)
{
	printf("size %zu MiB, seed %llu\n\n", w->len / (size_t)MIB,
	       (unsigned long long)w->seed);
	printf("| avg | min | max | chunks/GiB | chunking MiB/s | (a) 1%% scattered 4 KiB: "
	       "added %% | (b) 10 MiB inserted: added MiB | (c) 1%% appended: added %% "
	       "| (d) 16 MiB rewritten: added MiB |\n");
	printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
}

/* "16 KiB", "1 MiB": sizes here are powers of two from 4 KiB up. */
static const char *size_name(uint64_t v, char *out, size_t outlen)
{
	if (v >= MIB)
		snprintf(out, outlen, "%llu MiB", (unsigned long long)(v / MIB));
	else
		snprintf(out, outlen, "%llu KiB", (unsigned long long)(v / KIB));
	return out;
}

static void sweep_one(struct sweep *w, uint32_t avg)
{
	uint64_t chunks, added[EDIT_N];
	char a[16], b[16], c[16];
	struct chunker ck;
	double speed, pct = 100.0 / w->len;
	size_t elen;
	int e;

	chunker_init(&ck, avg / 4, avg, avg * 4);
	speed = cut_speed(&ck, w->base, w->len, &chunks);
	idset_clear(&w->ids);
	cut_base(&ck, w->base, w->len, &w->ids);
	for (e = 0; e < EDIT_N; e++) {
		elen = edit_build(e, w->seed, w->base, w->len, w->edit);
		added[e] = cut_added(&ck, w->edit, elen, &w->ids, &w->fresh);
	}
	printf("| %s | %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f |\n",
	       size_name(avg, a, sizeof(a)), size_name(avg / 4, b, sizeof(b)),
	       size_name(avg * 4ull, c, sizeof(c)), chunks * (double)GIB / w->len, speed,
	       added[EDIT_SCATTER] * pct, added[EDIT_INSERT] / (double)MIB,
	       added[EDIT_APPEND] * pct, added[EDIT_REWRITE] / (double)MIB);
	fflush(stdout);
}

static const uint32_t avgs[] = {
	16 * KIB, 32 * KIB, 64 * KIB, 128 * KIB, 256 * KIB, 1 * MIB, 4 * MIB,
};

/* Allocates and fills w for a base of len bytes. 0 or ENOMEM; sweep_release() either way. */
static int sweep_init(struct sweep *w, size_t len, uint64_t seed)
{
	size_t grow = INSERT_LEN > len / 100 ? INSERT_LEN : len / 100;
	/* Every chunk but a file's last is longer than min (4 KiB at the smallest). */
	size_t max_chunks = (len + grow) / (avgs[0] / 4) + 1;
	uint64_t s = seed;
	int err;

	memset(w, 0, sizeof(*w));
	w->seed = seed;
	w->len = len;
	w->base = malloc(len);
	w->edit = malloc(len + grow);
	if (!w->base || !w->edit)
		return ENOMEM;
	rng_fill(&s, w->base, len);
	err = idset_init(&w->ids, max_chunks);
	if (!err)
		err = idset_init(&w->fresh, max_chunks);
	return err;
}

static void sweep_release(struct sweep *w)
{
	idset_release(&w->fresh);
	idset_release(&w->ids);
	free(w->edit);
	free(w->base);
}

/* A whole decimal number in [lo, hi] from s into *out: 0 or EINVAL. */
static int parse_num(const char *s, unsigned long long lo, unsigned long long hi,
		     unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *out < lo || *out > hi)
		return EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long mib = 256, seed = 1;
	struct sweep w;
	size_t i;
	int err;

	if (argc > 3 || (argc > 1 && parse_num(argv[1], MIN_MIB, 1ull << 20, &mib)) ||
	    (argc > 2 && parse_num(argv[2], 0, UINT64_MAX, &seed))) {
		fprintf(stderr, "usage: %s [size in MiB, %d or more; default 256] [seed]\n",
			argv[0], MIN_MIB);
		return 2;
	}
	err = sweep_init(&w, (size_t)(mib * MIB), seed);
	if (err) {
		fprintf(stderr, "cdc_sweep: %s\n", strerror(err));
		sweep_release(&w);
		return 1;
	}
	print_header(&w);
	for (i = 0; i < sizeof(avgs) / sizeof(avgs[0]); i++)
		sweep_one(&w, avgs[i]);
	sweep_release(&w);
	return 0;
}
