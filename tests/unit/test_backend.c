/* SPDX-License-Identifier: MIT */
/*
 * The backend contract (backends/backend.h), run over every leaf listed in leaves[] (only
 * "local" for now; a later s3 leaf joins by adding a row and a case in leaf_open()), plus
 * local-only details and the store "format" object.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
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
#include <criterion/parameterized.h>
#include <criterion/redirect.h>

#include "../../backends/backend.h"

/* Criterion may run each test in a fresh process: parameters hold no pointers. */
struct leaf {
	char name[16];
};

static struct leaf leaves[] = {
	{ "local" },
};

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

	strcpy(g_dir, "/tmp/artifs-test-be.XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
	c.root = g_dir;
	cr_assert_eq(be_local_create(&c, &g_be), 0);
	return g_be;
}

static struct be *leaf_open(const struct leaf *lf)
{
	if (!strcmp(lf->name, "local"))
		return local_open();
	cr_assert_fail("unknown leaf %s", lf->name);
	return NULL;
}

static void put_str(struct be *be, const char *key, const char *s)
{
	cr_assert_eq(be_put(be, key, s, strlen(s)), 0, "put %s", key);
}

/* Reads key whole into a NUL-terminated static buffer. */
static const char *get_str(struct be *be, const char *key)
{
	static char buf[4096];
	size_t got;

	cr_assert_eq(be_get(be, key, 0, sizeof(buf) - 1, buf, &got), 0, "get %s", key);
	buf[got] = '\0';
	return buf;
}

#define CONTRACT_TEST(name)                                                        \
	ParameterizedTestParameters(contract, name)                                \
	{                                                                          \
		return cr_make_param_array(struct leaf, leaves,                    \
					   sizeof(leaves) / sizeof(leaves[0]));    \
	}                                                                          \
	ParameterizedTest(struct leaf *lf, contract, name, .fini = teardown)

CONTRACT_TEST(get_whole)
{
	struct be *be = leaf_open(lf);

	put_str(be, "a/b/c", "hello, world");
	cr_assert_str_eq(get_str(be, "a/b/c"), "hello, world");
}

/* A lazy put reads back at once, replaces like a put, and a flush after it succeeds. */
CONTRACT_TEST(put_lazy_then_flush)
{
	struct be *be = leaf_open(lf);

	cr_assert_eq(be_put_lazy(be, "l/x", "one", 3), 0);
	cr_assert_str_eq(get_str(be, "l/x"), "one");
	cr_assert_eq(be_put_lazy(be, "l/x", "two", 3), 0);
	cr_assert_eq(be_flush(be), 0);
	cr_assert_str_eq(get_str(be, "l/x"), "two");
}

CONTRACT_TEST(get_range)
{
	struct be *be = leaf_open(lf);
	char buf[16];
	size_t got;

	put_str(be, "obj", "0123456789");
	cr_assert_eq(be_get(be, "obj", 3, 4, buf, &got), 0);
	cr_assert_eq(got, 4);
	cr_assert_eq(memcmp(buf, "3456", 4), 0);
	/* A range that runs past the end gives what is there. */
	cr_assert_eq(be_get(be, "obj", 7, 10, buf, &got), 0);
	cr_assert_eq(got, 3);
	cr_assert_eq(memcmp(buf, "789", 3), 0);
}

CONTRACT_TEST(get_past_end)
{
	struct be *be = leaf_open(lf);
	char buf[16];
	size_t got = 99;

	put_str(be, "obj", "0123456789");
	cr_assert_eq(be_get(be, "obj", 10, 4, buf, &got), 0);
	cr_assert_eq(got, 0);
	got = 99;
	cr_assert_eq(be_get(be, "obj", 1000000, 4, buf, &got), 0);
	cr_assert_eq(got, 0);
}

CONTRACT_TEST(get_empty_object)
{
	struct be *be = leaf_open(lf);
	uint64_t size = 99;
	char buf[4];
	size_t got = 99;

	cr_assert_eq(be_put(be, "empty", "", 0), 0);
	cr_assert_eq(be_head(be, "empty", &size), 0);
	cr_assert_eq(size, 0);
	cr_assert_eq(be_get(be, "empty", 0, sizeof(buf), buf, &got), 0);
	cr_assert_eq(got, 0);
}

CONTRACT_TEST(get_missing)
{
	struct be *be = leaf_open(lf);
	char buf[4];
	size_t got;

	cr_assert_eq(be_get(be, "nope", 0, sizeof(buf), buf, &got), ENOENT);
	cr_assert_eq(be_get(be, "no/such/dir/key", 0, sizeof(buf), buf, &got), ENOENT);
}

CONTRACT_TEST(put_replace)
{
	struct be *be = leaf_open(lf);
	uint64_t size;

	put_str(be, "k", "a long first value");
	put_str(be, "k", "short");
	cr_assert_str_eq(get_str(be, "k"), "short");
	cr_assert_eq(be_head(be, "k", &size), 0);
	cr_assert_eq(size, 5);
}

CONTRACT_TEST(put_new_exclusive)
{
	struct be *be = leaf_open(lf);

	cr_assert_eq(be_put_new(be, "versions/p/a/00000000000000000001", "one", 3), 0);
	cr_assert_eq(be_put_new(be, "versions/p/a/00000000000000000001", "two", 3), EEXIST);
	cr_assert_str_eq(get_str(be, "versions/p/a/00000000000000000001"), "one");
}

CONTRACT_TEST(head)
{
	struct be *be = leaf_open(lf);
	uint64_t size = 0;

	cr_assert_eq(be_head(be, "missing", &size), ENOENT);
	cr_assert_eq(be_head(be, "dir/missing", &size), ENOENT);
	put_str(be, "dir/k", "1234567");
	cr_assert_eq(be_head(be, "dir/k", &size), 0);
	cr_assert_eq(size, 7);
	/* A "directory" is not an object. */
	cr_assert_eq(be_head(be, "dir", &size), ENOENT);
}

CONTRACT_TEST(del)
{
	struct be *be = leaf_open(lf);
	uint64_t size;

	cr_assert_eq(be_del(be, "missing"), 0);
	cr_assert_eq(be_del(be, "no/such/dir"), 0);
	put_str(be, "x/y", "v");
	cr_assert_eq(be_del(be, "x/y"), 0);
	cr_assert_eq(be_head(be, "x/y", &size), ENOENT);
	cr_assert_eq(be_del(be, "x/y"), 0);
	/* put_new works again once the key is gone. */
	cr_assert_eq(be_put_new(be, "x/y", "w", 1), 0);
}

struct collect {
	char keys[32][64];
	uint64_t sizes[32];
	int n;
	int stop_after; /* 0: never */
};

static int collect_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct collect *c = arg;

	cr_assert_lt(c->n, 32);
	snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", key);
	c->sizes[c->n] = size;
	c->n++;
	if (c->stop_after && c->n == c->stop_after)
		return 42;
	return 0;
}

static void expect_list(struct be *be, const char *prefix, const char *const *want, int n)
{
	struct collect c = { .n = 0 };
	int i;

	cr_assert_eq(be_list(be, prefix, collect_fn, &c), 0, "list '%s'", prefix);
	cr_assert_eq(c.n, n, "list '%s': %d keys, expected %d", prefix, c.n, n);
	for (i = 0; i < n; i++)
		cr_assert_str_eq(c.keys[i], want[i], "list '%s' [%d]", prefix, i);
}

CONTRACT_TEST(list_prefix_order)
{
	static const char *const all[] = {
		"a-b", "a/x", "a/y/z", "a0", "ab", "b", "chunks/00/k", "chunks/0a/k", "chunks/a0/k",
		"format",
	};
	static const char *const a[] = { "a-b", "a/x", "a/y/z", "a0", "ab" };
	static const char *const a_slash[] = { "a/x", "a/y/z" };
	static const char *const chunks0[] = { "chunks/00/k", "chunks/0a/k" };
	static const char *const exact[] = { "a/y/z" };
	struct be *be = leaf_open(lf);
	struct collect c = { .n = 0, .stop_after = 2 };
	size_t i;

	/* Insert in an order unrelated to the expected one. */
	for (i = sizeof(all) / sizeof(all[0]); i-- > 0;)
		put_str(be, all[(i * 7) % 10], all[(i * 7) % 10]);

	expect_list(be, "", all, 10);
	expect_list(be, "a", a, 5);
	expect_list(be, "a/", a_slash, 2);
	expect_list(be, "chunks/0", chunks0, 2);
	expect_list(be, "a/y/z", exact, 1);
	expect_list(be, "zzz", NULL, 0);
	expect_list(be, "nodir/", NULL, 0);

	/* Sizes come along, and a non-zero return stops the listing and comes back. */
	cr_assert_eq(be_list(be, "", collect_fn, &c), 42);
	cr_assert_eq(c.n, 2);
	cr_assert_eq(c.sizes[0], 3);
	cr_assert_eq(c.sizes[1], 3);
}

CONTRACT_TEST(get_all)
{
	struct be *be = leaf_open(lf);
	void *buf = NULL;
	size_t len = 0;

	put_str(be, "obj", "0123456789");
	cr_assert_eq(be_get_all(be, "obj", 10, &buf, &len), 0);
	cr_assert_eq(len, 10);
	cr_assert_eq(memcmp(buf, "0123456789", 10), 0);
	free(buf);
	buf = NULL;
	cr_assert_eq(be_get_all(be, "obj", 9, &buf, &len), EFBIG);
	cr_assert_null(buf);
	cr_assert_eq(be_get_all(be, "nope", 9, &buf, &len), ENOENT);
	cr_assert_eq(be_put(be, "empty", "", 0), 0);
	cr_assert_eq(be_get_all(be, "empty", 0, &buf, &len), 0);
	cr_assert_eq(len, 0);
	free(buf);
}

/* Page-aligned pool buffers of odd sizes: the local leaf writes them with O_DIRECT and the
 * tail through the page cache; every byte must come back, also after a replace. */
CONTRACT_TEST(large_aligned_puts)
{
	struct be *be = leaf_open(lf);
	size_t sizes[] = { (1u << 20) + 4095, 3u << 20, (64u << 10) + 1 }, got;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint8_t *buf = be_buf_alloc(sizes[k]), *back = malloc(sizes[k] + 1);

		cr_assert(buf && back);
		cr_assert_eq((uintptr_t)buf % 4096, 0);
		for (size_t i = 0; i < sizes[k]; i++)
			buf[i] = (uint8_t)(i * 7 + k);
		cr_assert_eq(be_put(be, "big", buf, sizes[k]), 0);
		cr_assert_eq(be_get(be, "big", 0, sizes[k] + 1, back, &got), 0);
		cr_assert_eq(got, sizes[k]);
		cr_assert_eq(memcmp(buf, back, sizes[k]), 0, "size %zu", sizes[k]);
		/* Read into aligned buffers too, from 0 and 4096, asking for more than there is
		 * and for exactly what there is. */
		for (size_t from = 0; from <= 4096; from += 4096) {
			uint8_t *al = be_buf_alloc(sizes[k] + 8192);

			cr_assert_not_null(al);
			cr_assert_eq(be_get(be, "big", from, sizes[k] + 8192, al, &got), 0);
			cr_assert_eq(got, sizes[k] - from);
			cr_assert_eq(memcmp(buf + from, al, got), 0, "size %zu from %zu", sizes[k], from);
			cr_assert_eq(be_get(be, "big", from, sizes[k] - from, al, &got), 0);
			cr_assert_eq(got, sizes[k] - from);
			cr_assert_eq(memcmp(buf + from, al, got), 0);
			be_buf_free(al);
		}
		be_buf_free(buf);
		free(back);
	}
}

struct race {
	struct be *be;
	int idx;
	int err;
};

static void *race_put_new(void *arg)
{
	struct race *r = arg;
	char val[16];

	snprintf(val, sizeof(val), "%d", r->idx);
	r->err = be_put_new(r->be, "versions/p/a/00000000000000000007", val, strlen(val));
	return NULL;
}

/* Version allocation relies on this: of many racing creators exactly one wins. */
CONTRACT_TEST(put_new_race)
{
	struct be *be = leaf_open(lf);
	struct race r[8];
	pthread_t t[8];
	int i, won = -1;

	for (i = 0; i < 8; i++) {
		r[i] = (struct race){ .be = be, .idx = i };
		cr_assert_eq(pthread_create(&t[i], NULL, race_put_new, &r[i]), 0);
	}
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 8; i++) {
		if (r[i].err == 0) {
			cr_assert_eq(won, -1, "two winners");
			won = i;
		} else {
			cr_assert_eq(r[i].err, EEXIST);
		}
	}
	cr_assert_neq(won, -1);
	cr_assert_eq(atoi(get_str(be, "versions/p/a/00000000000000000007")), won);
}

/* ---- local leaf specifics ---- */

Test(local, missing_root)
{
	struct be_local_conf c = { .root = "/nonexistent/artifs-store" };
	struct be *be = NULL;

	cr_assert_eq(be_local_create(&c, &be), ENOENT);
	cr_assert_null(be);
}

Test(local, layout_and_temp_files, .fini = teardown)
{
	struct be *be = local_open();
	struct collect c = { .n = 0 };
	char path[256];
	struct stat st;
	int fd;

	put_str(be, "chunks/ab/abcd", "data");
	snprintf(path, sizeof(path), "%s/chunks/ab/abcd", g_dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_size, 4);

	/* A temp file left by a crash is invisible. */
	snprintf(path, sizeof(path), "%s/chunks/ab/.tmp.0123456789abcdef", g_dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(be_list(be, "", collect_fn, &c), 0);
	cr_assert_eq(c.n, 1);
	cr_assert_str_eq(c.keys[0], "chunks/ab/abcd");
}

Test(local, bad_keys, .fini = teardown)
{
	struct be *be = local_open();
	static const char *const bad[] = { "", "/etc/passwd", "../x", "a/../../x", "a//b",
					   "a/./b", "a/", ".tmp.x" };
	uint64_t size;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(be_put(be, bad[i], "x", 1), EINVAL, "key '%s'", bad[i]);
		cr_assert_eq(be_head(be, bad[i], &size), EINVAL, "key '%s'", bad[i]);
	}
	cr_assert_eq(be_list(be, "../", collect_fn, NULL), EINVAL);
}

/*
 * Symbolic links planted inside the store must never lead an op outside it (the daemon runs
 * as root): every op on a key through a link answers ELOOP and leaves the outside alone.
 */
static char g_out[64];

static void outside_teardown(void)
{
	teardown();
	if (g_out[0])
		nftw(g_out, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	g_out[0] = '\0';
}

/* An outside directory holding "victim" = "precious", and nothing else. */
static void outside_make(void)
{
	char path[128];
	FILE *f;

	strcpy(g_out, "/tmp/artifs-test-out.XXXXXX");
	cr_assert_not_null(mkdtemp(g_out));
	snprintf(path, sizeof(path), "%s/victim", g_out);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("precious", f);
	fclose(f);
}

static void outside_untouched(void)
{
	char path[128], buf[32] = "";
	struct dirent *de;
	DIR *d;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/victim", g_out);
	f = fopen(path, "r");
	cr_assert_not_null(f, "the victim is gone");
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	cr_assert_str_eq(buf, "precious");
	d = opendir(g_out);
	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			cr_assert_str_eq(de->d_name, "victim", "%s appeared outside", de->d_name);
			n++;
		}
	closedir(d);
	cr_assert_eq(n, 1);
}

static void plant(const char *key, const char *target)
{
	char path[256], cmd[320];

	snprintf(path, sizeof(path), "%s/%s", g_dir, key);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(symlink(target, path), 0, "symlink %s", path);
}

static void expect_refused(struct be *be, const char *key)
{
	char buf[64];
	uint64_t size;
	size_t got = 99;

	cr_assert_eq(be_put(be, key, "evil", 4), ELOOP, "put %s", key);
	cr_assert_eq(be_put_new(be, key, "evil", 4), ELOOP, "put_new %s", key);
	cr_assert_eq(be_get(be, key, 0, sizeof(buf), buf, &got), ELOOP, "get %s", key);
	cr_assert_eq(got, 0);
	cr_assert_eq(be_head(be, key, &size), ELOOP, "head %s", key);
	cr_assert_eq(be_del(be, key), ELOOP, "del %s", key);
}

Test(local, symlinked_directory, .fini = outside_teardown)
{
	static const char *const refs[] = { "refs/p/b/t" };
	struct be *be = local_open();
	char path[256];
	struct stat st;

	outside_make();
	put_str(be, "refs/p/b/t", "1");
	plant("refs/p/a", g_out);
	expect_refused(be, "refs/p/a/victim");
	expect_refused(be, "refs/p/a/new");
	cr_assert_eq(be_put(be, "refs/p/a/sub/deep", "evil", 4), ELOOP);
	outside_untouched();
	/* Listings skip the link and never descend through it. */
	expect_list(be, "refs/", refs, 1);
	expect_list(be, "refs/p/a/", NULL, 0);
	expect_list(be, "refs/p/a/v", NULL, 0);
	/* The link itself stays for a human to look at. */
	snprintf(path, sizeof(path), "%s/refs/p/a", g_dir);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));

	/* The same at the top level, and through a relative link. */
	plant("versions", g_out);
	plant("meta/p", "../refs/p/a");
	expect_refused(be, "versions/victim");
	expect_refused(be, "meta/p/a/victim");
	cr_assert_eq(be_put_new(be, "versions/p/a/00000000000000000001", "evil", 4), ELOOP);
	expect_list(be, "", refs, 1);
	outside_untouched();
	/* Keys beside the links still work. */
	put_str(be, "refs/p/c/t", "2");
	cr_assert_str_eq(get_str(be, "refs/p/c/t"), "2");
}

Test(local, symlinked_key, .fini = outside_teardown)
{
	static const char *const refs[] = { "refs/p/a/real" };
	struct be *be = local_open();
	char path[256], target[128];
	struct stat st;

	outside_make();
	put_str(be, "refs/p/a/real", "1");
	snprintf(target, sizeof(target), "%s/victim", g_out);
	plant("refs/p/a/t", target);
	plant("refs/p/a/u", "real"); /* a link to an object inside is no object either */
	expect_refused(be, "refs/p/a/t");
	expect_refused(be, "refs/p/a/u");
	outside_untouched();
	expect_list(be, "refs/", refs, 1);
	/* Neither link was replaced or removed, nor the object one points to. */
	snprintf(path, sizeof(path), "%s/refs/p/a/t", g_dir);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	snprintf(path, sizeof(path), "%s/refs/p/a/u", g_dir);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	cr_assert_str_eq(get_str(be, "refs/p/a/real"), "1");
}

/* A FIFO at a key is no object, and opening it must not hang. */
Test(local, fifo_key, .fini = teardown, .timeout = 10)
{
	struct be *be = local_open();
	char path[256], buf[8];
	uint64_t size;
	size_t got;

	put_str(be, "refs/p/a/real", "1");
	snprintf(path, sizeof(path), "%s/refs/p/a/f", g_dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(be_get(be, "refs/p/a/f", 0, sizeof(buf), buf, &got), ENOENT);
	cr_assert_eq(be_head(be, "refs/p/a/f", &size), ENOENT);
	expect_list(be, "refs/", (const char *const[]){ "refs/p/a/real" }, 1);
}

/* ---- store format ---- */

Test(store, conf_defaults)
{
	struct store_conf c;

	store_conf_init(&c);
	cr_assert_eq(c.chunk_min, 8u << 10);
	cr_assert_eq(c.chunk_avg, 32u << 10);
	cr_assert_eq(c.chunk_max, 128u << 10);
	cr_assert_eq(c.zstd_level, 1);
}

Test(store, create_then_reopen, .fini = teardown)
{
	struct be *be = local_open();
	struct store_conf c, r;
	const char *why = NULL;
	uint64_t size;

	store_conf_init(&c);
	c.chunk_min = 64 << 10;
	c.chunk_avg = 256 << 10;
	c.chunk_max = 1 << 20;
	c.zstd_level = 5;
	cr_assert_eq(store_open(be, 1, &c, &why), 0, "%s", why ? why : "");
	cr_assert_eq(be_head(be, "format", &size), 0);
	cr_assert_str_eq(get_str(be, "format"), "{\"artifs_store\": 2, \"chunk_min\": 65536, "
						"\"chunk_avg\": 262144, \"chunk_max\": 1048576, "
						"\"zstd_level\": 5}");

	/* Reopening reads the stored values, whatever the caller passes in. */
	store_conf_init(&r);
	cr_assert_eq(store_open(be, 0, &r, &why), 0);
	cr_assert_eq(r.format, 2);
	cr_assert_eq(r.chunk_min, 64 << 10);
	cr_assert_eq(r.chunk_avg, 256 << 10);
	cr_assert_eq(r.chunk_max, 1 << 20);
	cr_assert_eq(r.zstd_level, 5);
	store_conf_init(&r);
	cr_assert_eq(store_open(be, 1, &r, NULL), 0);
	cr_assert_eq(r.chunk_avg, 256 << 10);
	/* A store of format 1 (written by artifs before packs) opens as format 1. */
	put_str(be, "format", "{\"artifs_store\": 1, \"chunk_min\": 65536, \"chunk_avg\": "
			      "262144, \"chunk_max\": 1048576, \"zstd_level\": 3}");
	store_conf_init(&r);
	cr_assert_eq(store_open(be, 1, &r, &why), 0, "%s", why ? why : "");
	cr_assert_eq(r.format, 1);
	cr_assert_str_eq(get_str(be, "format"), "{\"artifs_store\": 1, \"chunk_min\": 65536, "
						"\"chunk_avg\": 262144, \"chunk_max\": 1048576, "
						"\"zstd_level\": 3}", "opening rewrote a format-1 store");
}

Test(store, empty_without_create, .fini = teardown)
{
	struct be *be = local_open();
	struct store_conf c;
	const char *why = NULL;
	uint64_t size;

	store_conf_init(&c);
	cr_assert_eq(store_open(be, 0, &c, &why), ENOENT);
	cr_assert_not_null(why);
	cr_assert_eq(be_head(be, "format", &size), ENOENT);
}

Test(store, stray_file_refused, .fini = teardown)
{
	struct be *be = local_open();
	struct store_conf c;
	const char *why = NULL;
	uint64_t size;

	put_str(be, "photos/cat.jpg", "meow");
	store_conf_init(&c);
	cr_assert_eq(store_open(be, 1, &c, &why), EINVAL);
	cr_assert_str_eq(why, "not an artifs store (no valid 'format' object)");
	cr_assert_eq(be_head(be, "format", &size), ENOENT);
}

Test(store, bad_format_refused, .fini = teardown)
{
	static const char *const docs[] = {
		"not json",
		"[1, 2]",
		"{\"chunk_min\": 1}",
		"{\"artifs_store\": 3, \"chunk_min\": 65536, \"chunk_avg\": 262144, "
		"\"chunk_max\": 1048576, \"zstd_level\": 3}",
		"{\"artifs_store\": 0, \"chunk_min\": 65536, \"chunk_avg\": 262144, "
		"\"chunk_max\": 1048576, \"zstd_level\": 3}",
		"{\"artifs_store\": 1, \"chunk_min\": 65536, \"chunk_avg\": 262144}",
		"{\"artifs_store\": 1, \"chunk_min\": 65536, \"chunk_avg\": 300000, "
		"\"chunk_max\": 1048576, \"zstd_level\": 3}",
		"{\"artifs_store\": 1, \"chunk_min\": 65536, \"chunk_avg\": 262144, "
		"\"chunk_max\": 134217728, \"zstd_level\": 3}",
		"{\"artifs_store\": 1, \"chunk_min\": 524288, \"chunk_avg\": 262144, "
		"\"chunk_max\": 1048576, \"zstd_level\": 3}",
		"{\"artifs_store\": 1, \"chunk_min\": 65536, \"chunk_avg\": 262144, "
		"\"chunk_max\": 1048576, \"zstd_level\": -1}",
	};
	struct be *be = local_open();
	struct store_conf c;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		put_str(be, "format", docs[i]);
		store_conf_init(&c);
		why = NULL;
		cr_assert_eq(store_open(be, 1, &c, &why), EINVAL, "format %s", docs[i]);
		cr_assert_not_null(why, "format %s", docs[i]);
		/* The refusal leaves the caller's conf alone. */
		cr_assert_eq(c.chunk_avg, 32u << 10);
	}
}

Test(store, bad_conf_at_create, .fini = teardown)
{
	struct be *be = local_open();
	struct store_conf c;
	const char *why = NULL;
	uint64_t size;

	store_conf_init(&c);
	c.chunk_avg = 48 << 10;
	cr_assert_eq(store_open(be, 1, &c, &why), EINVAL);
	cr_assert_str_eq(why, "chunk_avg must be a power of two");
	store_conf_init(&c);
	c.chunk_max = 128 << 20;
	cr_assert_eq(store_open(be, 1, &c, &why), EINVAL);
	store_conf_init(&c);
	c.chunk_min = 8 << 20;
	cr_assert_eq(store_open(be, 1, &c, &why), EINVAL);
	cr_assert_eq(be_head(be, "format", &size), ENOENT);
}

/* ---- be_create on a store without atomic create-if-absent ---- */

struct noatomic {
	struct be be;
};

static int na_put_new(struct be *be, const char *key, const void *buf, size_t len)
{
	return ENOTSUP;
}
static int na_get(struct be *be, const char *k, uint64_t o, size_t l, void *b, size_t *g)
{
	return be_get(be->inner, k, o, l, b, g);
}
static int na_put(struct be *be, const char *k, const void *b, size_t l)
{
	return be_put(be->inner, k, b, l);
}
static int na_head(struct be *be, const char *k, uint64_t *s)
{
	return be_head(be->inner, k, s);
}
static int na_del(struct be *be, const char *k)
{
	return be_del(be->inner, k);
}
static int na_list(struct be *be, const char *p, be_list_fn *fn, void *arg)
{
	return be_list(be->inner, p, fn, arg);
}
static void na_destroy(struct be *be)
{
	be_destroy(be->inner);
}

static const struct be_ops noatomic_ops = {
	.name = "noatomic", .get = na_get, .put = na_put, .put_new = na_put_new,
	.head = na_head, .del = na_del, .list = na_list, .destroy = na_destroy,
};

Test(create, falls_back_to_head_then_put)
{
	char dir[] = "/tmp/artifs-create.XXXXXX";
	struct be_local_conf lc = { .root = dir };
	struct noatomic na = { .be = { .ops = &noatomic_ops } };
	char buf[8];
	size_t got;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(be_local_create(&lc, &na.be.inner), 0);
	cr_expect_eq(be_create(&na.be, "versions/p/a/1", "one", 3), 0);
	cr_expect_eq(be_create(&na.be, "versions/p/a/1", "two", 3), EEXIST);
	cr_expect_eq(be_get(&na.be, "versions/p/a/1", 0, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 3);
	cr_expect_eq(memcmp(buf, "one", 3), 0);
	/* and on a store that can, it is put_new */
	cr_expect_eq(be_create(na.be.inner, "versions/p/a/2", "x", 1), 0);
	cr_expect_eq(be_create(na.be.inner, "versions/p/a/2", "y", 1), EEXIST);
	be_destroy(&na.be);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/* Store keys (backends/keys.c): built and split in one place. */
Test(keys, build_and_split)
{
	char k[BE_KEY_MAX];
	struct be_key bk;

	cr_expect_eq(be_key_version(k, sizeof(k), "p", "a", 12), 0);
	cr_expect_str_eq(k, "versions/p/a/00000000000000000012");
	cr_expect_eq(be_key_split(k, BE_KEY_VERSIONS, &bk), 0);
	cr_expect_str_eq(bk.project, "p");
	cr_expect_str_eq(bk.artifact, "a");
	cr_expect_eq(bk.n, 12);
	cr_expect_eq(be_key_version(k, sizeof(k), "p", "a", 0), 0);
	cr_expect_str_eq(k, "versions/p/a/");
	cr_expect_eq(be_key_ref(k, sizeof(k), "p", "a", "prod"), 0);
	cr_expect_str_eq(k, "refs/p/a/prod");
	cr_expect_eq(be_key_split(k, BE_KEY_REFS, &bk), 0);
	cr_expect_str_eq(bk.rest, "prod");
	cr_expect_eq(be_key_meta(k, sizeof(k), "p", NULL, "project.json"), 0);
	cr_expect_str_eq(k, "meta/p/project.json");
	cr_expect_eq(be_key_meta(k, sizeof(k), "p", "a", "artifact.json"), 0);
	cr_expect_str_eq(k, "meta/p/a/artifact.json");
	cr_expect_eq(be_key_meta_version(k, sizeof(k), "p", "a", 3, 0), 0);
	cr_expect_str_eq(k, "meta/p/a/@vattrs/00000000000000000003/");
	cr_expect_eq(be_key_meta_version(k, sizeof(k), "p", "a", 3, 1), 0);
	cr_expect_str_eq(k, "meta/p/a/versions/00000000000000000003.json");
	cr_expect_eq(be_key_removed(k, sizeof(k), "p", "a", 12), 0);
	cr_expect_str_eq(k, "versions/p/a/00000000000000000012.removed");
	cr_expect_eq(be_key_split(k, BE_KEY_VERSIONS, &bk), EINVAL, "no version number");
	cr_expect_eq(be_key_removed(k, sizeof(k), "p", "a", 0), 0);
	cr_expect_str_eq(k, "versions/p/a/removed");
	cr_expect_eq(be_key_version(k, 20, "p", "a", 12), ENAMETOOLONG);
}

Test(keys, split_refuses)
{
	struct be_key bk;

	cr_expect_eq(be_key_split("versions/p/a/12", BE_KEY_VERSIONS, &bk), EINVAL);
	cr_expect_not_null(bk.rest, "a bad number should still name its artifact");
	cr_expect_eq(be_key_split("versions/p/a/00000000000000000000", BE_KEY_VERSIONS, &bk), EINVAL);
	cr_expect_eq(be_key_split("versions/p/a/10000000000000000000", BE_KEY_VERSIONS, &bk), EINVAL);
	cr_expect_eq(be_key_split("versions/p/a/0000000000000000001x", BE_KEY_VERSIONS, &bk), EINVAL);
	cr_expect_eq(be_key_split("versions/p//00000000000000000001", BE_KEY_VERSIONS, &bk), EINVAL);
	cr_expect_null(bk.rest);
	cr_expect_eq(be_key_split("refs/p/a/t", BE_KEY_VERSIONS, &bk), EINVAL);
	cr_expect_eq(be_key_split("refs/p", BE_KEY_REFS, &bk), EINVAL);
	cr_expect_eq(be_key_split("versions/p/a/09999999999999999999", BE_KEY_VERSIONS, &bk), EINVAL);
	cr_expect_eq(be_key_split("versions/p/a/00009999999999999999", BE_KEY_VERSIONS, &bk), 0);
	cr_expect_eq(bk.n, 9999999999999999ULL);
}

/* ---- the log file (backends/log.c) ---- */

Test(log, file_gets_every_line_and_rotates_at_8_mib, .init = cr_redirect_stderr)
{
	char dir[] = "/tmp/artifs-test-log.XXXXXX", path[64], old[80], line[900];
	struct stat st, st1;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/log", dir);
	snprintf(old, sizeof(old), "%s/log.1", dir);
	cr_assert_eq(log_to_file(path), 0);
	log_msg(LOG_ERR, "first line with a\ncontrol character");
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	fclose(f);
	cr_assert(strstr(line, "Z artifs["), "no time and pid: %s", line);
	cr_assert(strstr(line, "]: error: first line with a?control character\n"), "%s", line);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	/* Past 8 MiB the file becomes log.1 and a new one begins; neither passes the bound. */
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	for (int i = 0; i < 10000; i++)
		log_msg(LOG_INFO, "%d %s", i, line);
	cr_assert_eq(stat(old, &st1), 0, "no log.1 after 9 MB of lines");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_leq(st1.st_size, 8 << 20);
	cr_assert_lt(st.st_size, st1.st_size);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	fclose(f);
	cr_assert(strstr(line, "]: info: "), "the new file starts mid-line: %.60s", line);
	unlink(path);
	unlink(old);
	rmdir(dir);
}
