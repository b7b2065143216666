/* SPDX-License-Identifier: MIT */
/*
 * The cache layer (backends/cache.c) over a temp-dir local leaf, with a counting and
 * failing wrapper ("probe") in between so that tests can see and break inner's traffic:
 *
 *     cache -> probe -> local
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../backends/backend.h"

/* ---- probe: counts inner calls, injects faults ---- */

struct probe {
	struct be be;
	unsigned gets, heads, puts, dels, lists;
	int fail_all;	   /* every call answers EIO */
	unsigned fail_get; /* the get numbered fail_get (1-based) answers EIO; 0: none */
	unsigned delay_us; /* sleep in every get, to make concurrent misses overlap */
};

static struct probe *to_probe(struct be *be)
{
	return (struct probe *)be;
}

static unsigned bump(unsigned *n)
{
	return __atomic_add_fetch(n, 1, __ATOMIC_SEQ_CST);
}

static unsigned peek(const unsigned *n)
{
	return __atomic_load_n(n, __ATOMIC_SEQ_CST);
}

static int probe_get(struct be *be, const char *key, uint64_t off, size_t len, void *buf,
		     size_t *got)
{
	struct probe *p = to_probe(be);
	unsigned n = bump(&p->gets);

	if (p->delay_us)
		usleep(p->delay_us);
	if (p->fail_all || n == p->fail_get)
		return EIO;
	return be_get(be->inner, key, off, len, buf, got);
}

static int probe_put(struct be *be, const char *key, const void *buf, size_t len)
{
	struct probe *p = to_probe(be);

	bump(&p->puts);
	return p->fail_all ? EIO : be_put(be->inner, key, buf, len);
}

static int probe_put_new(struct be *be, const char *key, const void *buf, size_t len)
{
	struct probe *p = to_probe(be);

	bump(&p->puts);
	return p->fail_all ? EIO : be_put_new(be->inner, key, buf, len);
}

static int probe_head(struct be *be, const char *key, uint64_t *size)
{
	struct probe *p = to_probe(be);

	bump(&p->heads);
	return p->fail_all ? EIO : be_head(be->inner, key, size);
}

static int probe_del(struct be *be, const char *key)
{
	struct probe *p = to_probe(be);

	bump(&p->dels);
	return p->fail_all ? EIO : be_del(be->inner, key);
}

static int probe_list(struct be *be, const char *prefix, be_list_fn *fn, void *arg)
{
	struct probe *p = to_probe(be);

	bump(&p->lists);
	return p->fail_all ? EIO : be_list(be->inner, prefix, fn, arg);
}

static void probe_destroy(struct be *be)
{
	be_destroy(be->inner);
	free(be);
}

static const struct be_ops probe_ops = {
	.name = "probe",
	.get = probe_get,
	.put = probe_put,
	.put_new = probe_put_new,
	.head = probe_head,
	.del = probe_del,
	.list = probe_list,
	.destroy = probe_destroy,
};

/* ---- fixture ---- */

static char g_store[64], g_top[64], g_cdir[80];
static struct be *g_be;	      /* the cache layer */
static struct probe *g_probe; /* owned by g_be */
static uint64_t g_max;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void teardown(void)
{
	be_destroy(g_be);
	g_be = NULL;
	g_probe = NULL;
	if (g_store[0])
		nftw(g_store, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (g_top[0])
		nftw(g_top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	g_store[0] = g_top[0] = '\0';
}

/* (Re)builds cache -> probe -> local on the current directories. */
static struct be *stack_open(void)
{
	struct be_local_conf lc = { .root = g_store };
	struct be_cache_conf cc = { .dir = g_cdir, .max_bytes = g_max };
	struct be *local;

	cr_assert_eq(be_local_create(&lc, &local), 0);
	g_probe = calloc(1, sizeof(*g_probe));
	cr_assert_not_null(g_probe);
	g_probe->be.ops = &probe_ops;
	g_probe->be.inner = local;
	cr_assert_eq(be_cache_create(&cc, &g_probe->be, &g_be), 0);
	return g_be;
}

static struct be *setup(uint64_t max_bytes)
{
	strcpy(g_store, "/tmp/artifs-test-cstore.XXXXXX");
	cr_assert_not_null(mkdtemp(g_store));
	strcpy(g_top, "/tmp/artifs-test-cache.XXXXXX");
	cr_assert_not_null(mkdtemp(g_top));
	/* A directory that does not exist yet: create makes it. */
	snprintf(g_cdir, sizeof(g_cdir), "%s/a/cache", g_top);
	g_max = max_bytes;
	return stack_open();
}

static void reopen(void)
{
	be_destroy(g_be);
	g_be = NULL;
	stack_open();
}

static struct be_cache_stats stats(void)
{
	struct be_cache_stats st;

	cr_assert_eq(be_cache_stats(g_be, &st), 0);
	return st;
}

static void chunk_name(int i, char key[80])
{
	snprintf(key, 80, "chunks/%02x/%02x%062d", i & 0xff, i & 0xff, i);
}

static void fill(int i, uint8_t *buf, size_t len)
{
	size_t j;

	for (j = 0; j < len; j++)
		buf[j] = (uint8_t)(i * 31 + j * 7 + (j >> 9));
}

/* Stores object i (size bytes) under its chunk key, straight into the local leaf. */
static void put_chunk(int i, size_t size)
{
	char key[80];
	uint8_t *buf = malloc(size + 1);

	cr_assert_not_null(buf);
	fill(i, buf, size);
	chunk_name(i, key);
	cr_assert_eq(be_put(g_probe->be.inner, key, buf, size), 0);
	free(buf);
}

/* Reads object i (of size bytes) from offset off to its end through the cache and checks
 * the bytes; returns the error. */
static int check_tail(int i, size_t size, size_t off)
{
	char key[80];
	uint8_t *buf = malloc(size + 16), *want = malloc(size + 1);
	size_t got = 0;
	int err;

	cr_assert(buf && want);
	chunk_name(i, key);
	err = be_get(g_be, key, off, size + 16, buf, &got);
	if (!err) {
		fill(i, want, size);
		cr_assert_eq(got, size - off, "chunk %d: got %zu of %zu", i, got, size - off);
		cr_assert_eq(memcmp(buf, want + off, size - off), 0, "chunk %d: wrong bytes", i);
	}
	free(buf);
	free(want);
	return err;
}

/* The same for the whole object. */
static int check_chunk(int i, size_t size)
{
	return check_tail(i, size, 0);
}

static int g_nfiles;

static int count_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_F)
		g_nfiles++;
	return 0;
}

/* Regular files below the cache directory (temp files included). */
static int cache_files(void)
{
	g_nfiles = 0;
	nftw(g_cdir, count_file, 16, FTW_PHYS);
	return g_nfiles;
}

/* ---- (1) the generic contract, through the layer ---- */

static const char *get_str(const char *key)
{
	static char buf[4096];
	size_t got;

	cr_assert_eq(be_get(g_be, key, 0, sizeof(buf) - 1, buf, &got), 0, "get %s", key);
	buf[got] = '\0';
	return buf;
}

#define CK "chunks/ab/abcdef"

Test(contract, get_whole, .fini = teardown)
{
	struct be *be = setup(0);

	cr_assert_eq(be_put(be, "a/b/c", "hello, world", 12), 0);
	cr_assert_eq(be_put(be, CK, "chunk bytes", 11), 0);
	cr_assert_str_eq(get_str("a/b/c"), "hello, world");
	cr_assert_str_eq(get_str(CK), "chunk bytes"); /* miss */
	cr_assert_str_eq(get_str(CK), "chunk bytes"); /* hit */
	cr_assert_eq(stats().hits, 1);
	cr_assert_eq(stats().objects, 1);
}

Test(contract, get_range_and_past_end, .fini = teardown)
{
	struct be *be = setup(0);
	const char *keys[] = { "obj", CK };
	char buf[16];
	size_t got;
	int k, pass;

	for (k = 0; k < 2; k++) {
		cr_assert_eq(be_put(be, keys[k], "0123456789", 10), 0);
		/* Pass 0 on a chunk is the miss, pass 1 the hit. */
		for (pass = 0; pass < 2; pass++) {
			cr_assert_eq(be_get(be, keys[k], 3, 4, buf, &got), 0);
			cr_assert_eq(got, 4);
			cr_assert_eq(memcmp(buf, "3456", 4), 0);
			cr_assert_eq(be_get(be, keys[k], 7, 10, buf, &got), 0);
			cr_assert_eq(got, 3);
			cr_assert_eq(memcmp(buf, "789", 3), 0);
			got = 99;
			cr_assert_eq(be_get(be, keys[k], 10, 4, buf, &got), 0);
			cr_assert_eq(got, 0);
			got = 99;
			cr_assert_eq(be_get(be, keys[k], 1000000, 4, buf, &got), 0);
			cr_assert_eq(got, 0);
		}
	}
	cr_assert_eq(stats().misses, 1);
}

Test(contract, empty_chunk, .fini = teardown)
{
	struct be *be = setup(0);
	uint64_t size = 99;
	char buf[4];
	size_t got = 99;

	cr_assert_eq(be_put(be, CK, "", 0), 0);
	cr_assert_eq(be_get(be, CK, 0, sizeof(buf), buf, &got), 0);
	cr_assert_eq(got, 0);
	cr_assert_eq(be_head(be, CK, &size), 0);
	cr_assert_eq(size, 0);
	cr_assert_eq(stats().objects, 1);
}

Test(contract, missing, .fini = teardown)
{
	struct be *be = setup(0);
	uint64_t size;
	char buf[4];
	size_t got;

	cr_assert_eq(be_get(be, "nope", 0, sizeof(buf), buf, &got), ENOENT);
	cr_assert_eq(be_get(be, CK, 0, sizeof(buf), buf, &got), ENOENT);
	cr_assert_eq(be_get(be, "chunks/no/such/dir", 0, sizeof(buf), buf, &got), ENOENT);
	cr_assert_eq(be_head(be, "missing", &size), ENOENT);
	cr_assert_eq(be_head(be, CK, &size), ENOENT);
	cr_assert_eq(stats().objects, 0);
	cr_assert_eq(cache_files(), 0);
}

Test(contract, put_replace_and_put_new, .fini = teardown)
{
	struct be *be = setup(0);
	uint64_t size;
	const char *v = "versions/p/a/00000000000000000001";

	cr_assert_eq(be_put(be, "k", "a long first value", 18), 0);
	cr_assert_eq(be_put(be, "k", "short", 5), 0);
	cr_assert_str_eq(get_str("k"), "short");
	cr_assert_eq(be_head(be, "k", &size), 0);
	cr_assert_eq(size, 5);

	cr_assert_eq(be_put_new(be, v, "one", 3), 0);
	cr_assert_eq(be_put_new(be, v, "two", 3), EEXIST);
	cr_assert_str_eq(get_str(v), "one");

	/* A put of a cached chunk key replaces the cached copy too. */
	cr_assert_eq(be_put(be, CK, "old", 3), 0);
	cr_assert_str_eq(get_str(CK), "old");
	cr_assert_eq(be_put(be, CK, "newer", 5), 0);
	cr_assert_str_eq(get_str(CK), "newer");
	cr_assert_eq(be_put_new(be, CK, "x", 1), EEXIST);
	cr_assert_eq(be_head(be, CK, &size), 0);
	cr_assert_eq(size, 5);
}

Test(contract, head_and_del, .fini = teardown)
{
	struct be *be = setup(0);
	uint64_t size = 0;
	unsigned heads;

	cr_assert_eq(be_del(be, "missing"), 0);
	cr_assert_eq(be_del(be, CK), 0);
	cr_assert_eq(be_put(be, "dir/k", "1234567", 7), 0);
	cr_assert_eq(be_head(be, "dir/k", &size), 0);
	cr_assert_eq(size, 7);
	cr_assert_eq(be_head(be, "dir", &size), ENOENT);
	cr_assert_eq(be_del(be, "dir/k"), 0);
	cr_assert_eq(be_head(be, "dir/k", &size), ENOENT);

	/* head of a cached chunk is answered without inner; del drops the copy. */
	cr_assert_eq(be_put(be, CK, "12345", 5), 0);
	cr_assert_str_eq(get_str(CK), "12345");
	heads = peek(&g_probe->heads);
	cr_assert_eq(be_head(be, CK, &size), 0);
	cr_assert_eq(size, 5);
	cr_assert_eq(peek(&g_probe->heads), heads);
	cr_assert_eq(cache_files(), 1);
	cr_assert_eq(be_del(be, CK), 0);
	cr_assert_eq(stats().objects, 0);
	cr_assert_eq(stats().bytes, 0);
	cr_assert_eq(cache_files(), 0);
	cr_assert_eq(be_head(be, CK, &size), ENOENT);
	cr_assert_eq(be_get(be, CK, 0, 4, (char[4]){ 0 }, &(size_t){ 0 }), ENOENT);
	cr_assert_eq(be_del(be, CK), 0);
}

struct collect {
	char keys[16][80];
	int n;
};

static int collect_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct collect *c = arg;

	cr_assert_lt(c->n, 16);
	snprintf(c->keys[c->n++], sizeof(c->keys[0]), "%s", key);
	return 0;
}

Test(contract, list, .fini = teardown)
{
	struct be *be = setup(0);
	struct collect c = { .n = 0 };

	cr_assert_eq(be_put(be, "format", "f", 1), 0);
	cr_assert_eq(be_put(be, "chunks/01/01x", "b", 1), 0);
	cr_assert_eq(be_put(be, "chunks/00/00x", "a", 1), 0);
	cr_assert_str_eq(get_str("chunks/00/00x"), "a"); /* cached: still listed once */
	cr_assert_eq(be_list(be, "chunks/", collect_fn, &c), 0);
	cr_assert_eq(c.n, 2);
	cr_assert_str_eq(c.keys[0], "chunks/00/00x");
	cr_assert_str_eq(c.keys[1], "chunks/01/01x");
	c.n = 0;
	cr_assert_eq(be_list(be, "", collect_fn, &c), 0);
	cr_assert_eq(c.n, 3);
	cr_assert_str_eq(c.keys[2], "format");
}

Test(contract, get_all, .fini = teardown)
{
	struct be *be = setup(0);
	void *buf = NULL;
	size_t len = 0;

	cr_assert_eq(be_put(be, CK, "0123456789", 10), 0);
	cr_assert_eq(be_get_all(be, CK, 10, &buf, &len), 0);
	cr_assert_eq(len, 10);
	cr_assert_eq(memcmp(buf, "0123456789", 10), 0);
	free(buf);
	cr_assert_eq(be_get_all(be, CK, 10, &buf, &len), 0); /* from the cache */
	cr_assert_eq(len, 10);
	free(buf);
}

Test(cache, stats_rejects_other_stores, .fini = teardown)
{
	struct be_cache_stats st;

	setup(0);
	cr_assert_eq(be_cache_stats(&g_probe->be, &st), EINVAL);
}

/* ---- (2) a miss, then hits ---- */

Test(cache, miss_then_hit, .fini = teardown)
{
	struct be_cache_stats st;
	char buf[8];
	size_t got;
	char key[80];

	setup(0);
	put_chunk(1, 100000);
	cr_assert_eq(check_chunk(1, 100000), 0);
	cr_assert_eq(peek(&g_probe->gets), 1);
	cr_assert_eq(check_chunk(1, 100000), 0);
	chunk_name(1, key);
	cr_assert_eq(be_get(g_be, key, 99996, sizeof(buf), buf, &got), 0);
	cr_assert_eq(got, 4);
	cr_assert_eq(peek(&g_probe->gets), 1);
	st = stats();
	cr_assert_eq(st.misses, 1);
	cr_assert_eq(st.hits, 2);
	cr_assert_eq(st.objects, 1);
	cr_assert_eq(st.bytes, 100000);
	cr_assert_eq(st.evictions, 0);
	cr_assert_eq(cache_files(), 1);
}

/* Objects bigger than one fetch piece (4 MiB) come in several ranged gets. */
Test(cache, multi_piece_object, .fini = teardown)
{
	size_t size = (9u << 20) + 12345;

	setup(0);
	put_chunk(2, size);
	/* A read from the middle fetches the object in 4 MiB pieces... */
	cr_assert_eq(check_tail(2, size, 1000), 0);
	cr_assert_eq(peek(&g_probe->gets), 3);
	cr_assert_eq(check_chunk(2, size), 0);
	cr_assert_eq(peek(&g_probe->gets), 3);
	cr_assert_eq(stats().bytes, size);
}

Test(cache, whole_object_in_one_get, .fini = teardown)
{
	size_t size = (9u << 20) + 12345;

	setup(0);
	put_chunk(2, size);
	/* ...one from offset 0 lands in the reader's buffer with one request. */
	cr_assert_eq(check_chunk(2, size), 0);
	cr_assert_eq(peek(&g_probe->gets), 1);
	cr_assert_eq(check_tail(2, size, 5000), 0);
	cr_assert_eq(check_chunk(2, size), 0);
	cr_assert_eq(peek(&g_probe->gets), 1);
	cr_assert_eq(stats().bytes, size);
	cr_assert_eq(cache_files(), 1);
}

/* ---- (2b) packs: frames alone for random reads, the whole pack for readers in order ---- */

#define PACK_KEY "packs/ab/ab000000000000000000000000000000.pack"
#define PACK_SIZE (3u << 20)

static void put_pack(void)
{
	uint8_t *buf = malloc(PACK_SIZE);

	cr_assert_not_null(buf);
	fill(7, buf, PACK_SIZE);
	cr_assert_eq(be_put(g_probe->be.inner, PACK_KEY, buf, PACK_SIZE), 0);
	free(buf);
}

/* Reads [off, off + len) of the pack through the cache and checks the bytes. */
static int check_frames(uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len), *want = malloc(PACK_SIZE);
	size_t got = 0;
	int err;

	cr_assert(buf && want);
	err = be_get(g_be, PACK_KEY, off, len, buf, &got);
	if (!err) {
		fill(7, want, PACK_SIZE);
		cr_assert_eq(got, len);
		cr_assert_eq(memcmp(buf, want + off, len), 0, "frames at %llu: wrong bytes",
			     (unsigned long long)off);
	}
	free(buf);
	free(want);
	return err;
}

Test(cache, pack_random_reads_fetch_their_frames, .fini = teardown)
{
	setup(0);
	put_pack();
	/* Far apart: each fetches just its frames, one small request, cached on its own. */
	cr_assert_eq(check_frames(2000000, 40000), 0);
	cr_assert_eq(check_frames(100000, 33000), 0);
	cr_assert_eq(check_frames(1500000, 20000), 0);
	cr_assert_eq(peek(&g_probe->gets), 3);
	cr_assert_eq(stats().bytes, 93000, "the frames, not the 3 MiB pack");
	cr_assert_eq(cache_files(), 3);
	/* Read again, and offline: from the cache. */
	g_probe->fail_all = 1;
	cr_assert_eq(check_frames(100000, 33000), 0);
	cr_assert_eq(check_frames(2000000, 40000), 0);
	cr_assert_eq(peek(&g_probe->gets), 3);
	g_probe->fail_all = 0;
}

Test(cache, pack_read_in_order_is_fetched_whole, .fini = teardown)
{
	setup(0);
	put_pack();
	cr_assert_eq(check_frames(0, 30000), 0);
	cr_assert_eq(peek(&g_probe->gets), 1);
	/* The next frames: the whole pack comes (one piece: it is under 4 MiB)... */
	cr_assert_eq(check_frames(30000, 50000), 0);
	cr_assert_eq(peek(&g_probe->gets), 2);
	cr_assert_eq(stats().bytes, 30000 + PACK_SIZE);
	/* ...and every later frame is a hit, offline too. */
	g_probe->fail_all = 1;
	cr_assert_eq(check_frames(80000, 60000), 0);
	cr_assert_eq(check_frames(3000000, 100000), 0);
	cr_assert_eq(peek(&g_probe->gets), 2);
	g_probe->fail_all = 0;
}


Test(cache, pack_warm_fetches_it_whole_once, .fini = teardown)
{
	setup(0);
	put_pack();
	cr_assert_eq(be_warm(g_be, PACK_KEY), 0);
	cr_assert_eq(peek(&g_probe->gets), 1, "a pack under 4 MiB is one get");
	cr_assert_eq(stats().bytes, PACK_SIZE);
	/* Warm already: nothing more to fetch; any frame of it is a hit, offline too. */
	cr_assert_eq(be_warm(g_be, PACK_KEY), 0);
	g_probe->fail_all = 1;
	cr_assert_eq(check_frames(1500000, 20000), 0);
	cr_assert_eq(peek(&g_probe->gets), 1);
	/* Other keys are left to their readers; a failure is only a hint lost. */
	cr_assert_eq(be_warm(g_be, "chunks/ab/abcd"), 0);
	cr_assert_eq(be_warm(g_be, "versions/p/a/00000000000000000001"), 0);
	g_probe->fail_all = 0;
	cr_assert_eq(peek(&g_probe->gets), 1);
	cr_assert_neq(be_warm(g_be, "packs/cd/cd000000000000000000000000000000.pack"), 0,
		      "a missing pack is ENOENT, for a caller that looks");
}
/* ---- (3) offline ---- */

Test(cache, offline_reads, .fini = teardown)
{
	char key[80], buf[16];
	uint64_t size;
	size_t got;
	int i;

	setup(0);
	for (i = 0; i < 4; i++)
		put_chunk(i, 5000 + i);
	for (i = 0; i < 2; i++)
		cr_assert_eq(check_chunk(i, 5000 + i), 0);

	g_probe->fail_all = 1;
	for (i = 0; i < 2; i++) {
		cr_assert_eq(check_chunk(i, 5000 + i), 0);
		chunk_name(i, key);
		cr_assert_eq(be_get(g_be, key, 10, sizeof(buf), buf, &got), 0);
		cr_assert_eq(got, sizeof(buf));
		cr_assert_eq(be_head(g_be, key, &size), 0);
		cr_assert_eq(size, 5000 + i);
	}
	for (i = 2; i < 4; i++) {
		cr_assert_eq(check_chunk(i, 5000 + i), EIO);
		chunk_name(i, key);
		cr_assert_eq(be_head(g_be, key, &size), EIO);
	}
	cr_assert_eq(be_head(g_be, "format", &size), EIO);
	cr_assert_eq(cache_files(), 2);

	/* Back online, the failed ones get cached normally. */
	g_probe->fail_all = 0;
	cr_assert_eq(check_chunk(3, 5003), 0);
	cr_assert_eq(stats().objects, 3);
}

/* ---- (4) the bound and LRU order ---- */

#define OSZ 10000

Test(cache, bound_and_lru, .fini = teardown)
{
	struct be_cache_stats st;
	unsigned gets;
	int i;

	setup(3 * OSZ);
	for (i = 0; i < 10; i++)
		put_chunk(i, OSZ);
	for (i = 0; i < 10; i++) {
		cr_assert_eq(check_chunk(i, OSZ), 0);
		st = stats();
		cr_assert_leq(st.bytes, 3 * OSZ, "after chunk %d: %llu bytes", i,
			      (unsigned long long)st.bytes);
		cr_assert_eq(st.objects, i < 3 ? i + 1 : 3);
		cr_assert_leq(cache_files(), 3);
	}
	st = stats();
	cr_assert_eq(st.evictions, 7);
	cr_assert_eq(st.misses, 10);

	/* Cached now: 7, 8, 9 (7 least recent). Touch 7, then load 0: 8 goes, 7 stays. */
	gets = peek(&g_probe->gets);
	cr_assert_eq(check_chunk(7, OSZ), 0);
	cr_assert_eq(peek(&g_probe->gets), gets);
	cr_assert_eq(check_chunk(0, OSZ), 0);
	cr_assert_eq(peek(&g_probe->gets), gets + 1);
	cr_assert_eq(check_chunk(7, OSZ), 0);
	cr_assert_eq(check_chunk(9, OSZ), 0);
	cr_assert_eq(check_chunk(0, OSZ), 0);
	cr_assert_eq(peek(&g_probe->gets), gets + 1);
	cr_assert_eq(check_chunk(8, OSZ), 0);
	cr_assert_eq(peek(&g_probe->gets), gets + 2);
	cr_assert_eq(stats().evictions, 9);
	cr_assert_leq(stats().bytes, 3 * OSZ);
}

/* An object larger than the whole bound is served but not kept. */
Test(cache, too_big_is_not_kept, .fini = teardown)
{
	setup(OSZ);
	put_chunk(1, OSZ / 2);
	put_chunk(2, 2 * OSZ);
	cr_assert_eq(check_chunk(1, OSZ / 2), 0);
	cr_assert_eq(check_chunk(2, 2 * OSZ), 0);
	cr_assert_eq(check_chunk(2, 2 * OSZ), 0);
	cr_assert_eq(peek(&g_probe->gets), 3);
	cr_assert_eq(stats().objects, 1); /* the small one stays */
	cr_assert_eq(stats().bytes, OSZ / 2);
	cr_assert_eq(stats().evictions, 0);
	cr_assert_eq(cache_files(), 1);
}

/* ---- (5) restart ---- */

Test(cache, survives_recreate, .fini = teardown)
{
	struct be_cache_stats st;
	char path[256];
	int fd, i;

	setup(3 * OSZ);
	for (i = 0; i < 4; i++)
		put_chunk(i, OSZ);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(check_chunk(i, OSZ), 0);
		usleep(20000); /* distinct mtimes: recency after restart */
	}
	cr_assert_eq(check_chunk(0, OSZ), 0); /* in-memory touch only */

	/* A temp file left by a crash goes at create. */
	snprintf(path, sizeof(path), "%s/.tmp.1.1", g_cdir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "junk", 4), 4);
	close(fd);

	reopen();
	cr_assert_eq(access(path, F_OK), -1);
	st = stats();
	cr_assert_eq(st.objects, 3);
	cr_assert_eq(st.bytes, 3 * OSZ);
	cr_assert_eq(st.hits + st.misses, 0);
	g_probe->fail_all = 1;
	for (i = 0; i < 3; i++)
		cr_assert_eq(check_chunk(i, OSZ), 0);
	cr_assert_eq(peek(&g_probe->gets), 0);
	cr_assert_eq(stats().hits, 3);

	/* mtime order: 0 is the oldest file, so it goes first; then 1. */
	g_probe->fail_all = 0;
	g_probe->gets = 0;
	cr_assert_eq(check_chunk(3, OSZ), 0);
	cr_assert_eq(stats().evictions, 1);
	g_probe->fail_all = 1;
	cr_assert_eq(check_chunk(0, OSZ), EIO);
	cr_assert_eq(check_chunk(1, OSZ), 0);
	cr_assert_eq(check_chunk(2, OSZ), 0);
}

/* A smaller bound at the next create evicts down to it. */
Test(cache, recreate_with_smaller_bound, .fini = teardown)
{
	int i;

	setup(4 * OSZ);
	for (i = 0; i < 4; i++) {
		put_chunk(i, OSZ);
		cr_assert_eq(check_chunk(i, OSZ), 0);
	}
	g_max = 2 * OSZ;
	reopen();
	cr_assert_eq(stats().objects, 2);
	cr_assert_eq(stats().bytes, 2 * OSZ);
	cr_assert_eq(cache_files(), 2);
}

/* max_bytes 0 picks the default; it must let a small object in. */
Test(cache, default_bound, .fini = teardown)
{
	setup(0);
	put_chunk(1, OSZ);
	cr_assert_eq(check_chunk(1, OSZ), 0);
	cr_assert_eq(stats().objects, 1);
}

/* ---- (6) concurrent misses share one fetch ---- */

struct reader {
	pthread_barrier_t *bar;
	int obj;
	size_t size;
	int err;
};

static void *read_once(void *arg)
{
	struct reader *r = arg;

	pthread_barrier_wait(r->bar);
	r->err = check_chunk(r->obj, r->size);
	return NULL;
}

Test(cache, concurrent_misses_share_fetch, .fini = teardown)
{
	pthread_barrier_t bar;
	struct reader r[8];
	pthread_t t[8];
	int i;

	setup(0);
	put_chunk(5, 300000);
	g_probe->delay_us = 200000;
	pthread_barrier_init(&bar, NULL, 8);
	for (i = 0; i < 8; i++) {
		r[i] = (struct reader){ .bar = &bar, .obj = 5, .size = 300000 };
		cr_assert_eq(pthread_create(&t[i], NULL, read_once, &r[i]), 0);
	}
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
	for (i = 0; i < 8; i++)
		cr_assert_eq(r[i].err, 0);
	cr_assert_eq(peek(&g_probe->gets), 1);
	cr_assert_eq(stats().objects, 1);
}

/* Followers of a failed fetch get its error; nothing is kept. */
Test(cache, concurrent_misses_share_failure, .fini = teardown)
{
	pthread_barrier_t bar;
	struct reader r[4];
	pthread_t t[4];
	int i;

	setup(0);
	put_chunk(5, 3000);
	g_probe->delay_us = 200000;
	g_probe->fail_all = 1;
	pthread_barrier_init(&bar, NULL, 4);
	for (i = 0; i < 4; i++) {
		r[i] = (struct reader){ .bar = &bar, .obj = 5, .size = 3000 };
		cr_assert_eq(pthread_create(&t[i], NULL, read_once, &r[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
	for (i = 0; i < 4; i++)
		cr_assert_eq(r[i].err, EIO);
	cr_assert_eq(peek(&g_probe->gets), 1);
	cr_assert_eq(cache_files(), 0);
}

/* Many threads, many keys, a bound of a few objects: contents stay right. */
struct mixer {
	int seed;
	int err;
};

static void *mix_reads(void *arg)
{
	struct mixer *m = arg;
	unsigned s = (unsigned)m->seed;
	int n, obj;

	for (n = 0; n < 300 && !m->err; n++) {
		s = s * 1103515245u + 12345u;
		obj = (int)((s >> 16) % 16);
		m->err = check_chunk(obj, 4096 + obj);
	}
	return NULL;
}

Test(cache, concurrent_mixed_reads, .fini = teardown)
{
	struct mixer m[8];
	pthread_t t[8];
	int i;

	setup(4 * 4200);
	for (i = 0; i < 16; i++)
		put_chunk(i, 4096 + i);
	for (i = 0; i < 8; i++) {
		m[i] = (struct mixer){ .seed = i + 1 };
		cr_assert_eq(pthread_create(&t[i], NULL, mix_reads, &m[i]), 0);
	}
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 8; i++)
		cr_assert_eq(m[i].err, 0);
	cr_assert_leq(stats().bytes, 4 * 4200);
	cr_assert_leq(stats().objects, 4);
	cr_assert_leq(cache_files(), 4);
}

/* ---- (7) a fetch that fails halfway leaves nothing behind ---- */

Test(cache, partial_fetch_failure, .fini = teardown)
{
	size_t size = (6u << 20) + 7;

	setup(0);
	put_chunk(3, size);
	g_probe->fail_get = 2; /* the first 4 MiB arrive, the rest fails */
	cr_assert_eq(check_tail(3, size, 1), EIO);
	cr_assert_eq(peek(&g_probe->gets), 2);
	cr_assert_eq(cache_files(), 0);
	cr_assert_eq(stats().objects, 0);
	cr_assert_eq(stats().bytes, 0);

	cr_assert_eq(check_chunk(3, size), 0);
	cr_assert_eq(cache_files(), 1);
	cr_assert_eq(stats().bytes, size);
}

/* Removing a cached file behind the cache's back: the next read fetches it again. */
Test(cache, vanished_file_is_refetched, .fini = teardown)
{
	char key[80], path[256];

	setup(0);
	put_chunk(4, 1000);
	cr_assert_eq(check_chunk(4, 1000), 0);
	reopen(); /* no fd kept open on it */
	chunk_name(4, key);
	snprintf(path, sizeof(path), "%s/%s", g_cdir, key);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(check_chunk(4, 1000), 0);
	cr_assert_eq(peek(&g_probe->gets), 1);
	cr_assert_eq(access(path, F_OK), 0);
	cr_assert_eq(stats().objects, 1);
}

/* ---- (8) symbolic links in the cache directory are never followed ---- */

static char g_out[64];

static void out_teardown(void)
{
	teardown();
	if (g_out[0])
		nftw(g_out, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	g_out[0] = '\0';
}

static int out_files(void)
{
	g_nfiles = 0;
	nftw(g_out, count_file, 16, FTW_PHYS);
	return g_nfiles;
}

/* A fetch whose directory is a link to elsewhere is served, but stored nowhere. */
Test(cache, symlinked_directory_not_written, .fini = out_teardown)
{
	char key[80], path[256];

	setup(0);
	strcpy(g_out, "/tmp/artifs-test-out.XXXXXX");
	cr_assert_not_null(mkdtemp(g_out));
	put_chunk(1, 5000);
	snprintf(path, sizeof(path), "%s/chunks", g_cdir);
	cr_assert_eq(mkdir(path, 0700), 0);
	chunk_name(1, key);
	snprintf(path, sizeof(path), "%s/chunks/01", g_cdir);
	cr_assert_eq(symlink(g_out, path), 0);
	cr_assert_eq(check_chunk(1, 5000), 0);
	cr_assert_eq(out_files(), 0, "a cached copy landed outside the cache directory");
	cr_assert_eq(stats().objects, 0);
	cr_assert_eq(check_chunk(1, 5000), 0);
	cr_assert_eq(peek(&g_probe->gets), 2);
}

/* A cached object's directory swapped for a link: dropping the object unlinks nothing
 * outside, and the next read is served right. */
Test(cache, symlinked_directory_not_unlinked, .fini = out_teardown)
{
	char key[80], path[256], moved[256], victim[256];
	int fd;

	setup(0);
	strcpy(g_out, "/tmp/artifs-test-out.XXXXXX");
	cr_assert_not_null(mkdtemp(g_out));
	put_chunk(1, 5000);
	cr_assert_eq(check_chunk(1, 5000), 0);
	reopen(); /* no fd kept open on it */
	chunk_name(1, key);
	snprintf(path, sizeof(path), "%s/chunks/01", g_cdir);
	snprintf(moved, sizeof(moved), "%s/chunks/01.moved", g_cdir);
	cr_assert_eq(rename(path, moved), 0);
	cr_assert_eq(symlink(g_out, path), 0);
	snprintf(victim, sizeof(victim), "%s/%s", g_out, strrchr(key, '/') + 1);
	fd = open(victim, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "precious", 8), 8);
	close(fd);

	cr_assert_eq(check_chunk(1, 5000), 0); /* through the link: refetched, not cached */
	cr_assert_eq(be_del(g_be, key), 0);    /* drops the indexed copy, if any */
	cr_assert_eq(access(victim, F_OK), 0, "the cache unlinked a file outside its directory");
	cr_assert_eq(out_files(), 1);
}
