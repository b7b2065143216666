/* SPDX-License-Identifier: MIT */
/* meta/: the LMDB index on a fresh temporary state directory per test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <lmdb.h>

#include "../../meta/meta.h"

static char dir[] = "/tmp/artifs-meta-XXXXXX";
static char state[256];
static struct meta *m;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void open_state(uint64_t map_size)
{
	struct meta_conf c = { .dir = state, .map_size = map_size };
	const char *why = NULL;

	cr_assert_eq(meta_open(&c, &m, &why), 0, "meta_open: %s", why ? why : "");
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	/* A state directory that does not exist yet: meta_open creates it (mkdir -p). */
	snprintf(state, sizeof(state), "%s/a/state", dir);
	open_state(0);
}

static void teardown(void)
{
	meta_close(m);
	m = NULL;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void reopen(uint64_t map_size)
{
	meta_close(m);
	m = NULL;
	open_state(map_size);
}

/* A new, empty state directory whose environment starts with map_size. */
static void fresh(uint64_t map_size)
{
	meta_close(m);
	m = NULL;
	snprintf(state, sizeof(state), "%s/fresh", dir);
	open_state(map_size);
}

static struct meta_txn *rd(void)
{
	struct meta_txn *t;

	cr_assert_eq(meta_txn_begin(m, 1, &t), 0);
	return t;
}

static struct meta_txn *wr(void)
{
	struct meta_txn *t;

	cr_assert_eq(meta_txn_begin(m, 0, &t), 0);
	return t;
}

static struct meta_inode inode(uint64_t ino)
{
	struct meta_inode in = {
		.ino = ino, .parent = 1, .artifact = 7, .kind = MK_HEAD, .mode = 0100644,
		.uid = 1000, .gid = 1000, .nlink = 1, .size = ino * 3, .mtime_ns = 123456789,
		.ctime_ns = -5,
	};

	memset(in.digest, (int)ino, sizeof(in.digest));
	return in;
}

TestSuite(meta, .init = setup, .fini = teardown, .timeout = 30);

Test(meta, reopen_keeps_data)
{
	struct meta_inode in = inode(42), out;
	struct meta_txn *t = wr();

	cr_assert_eq(meta_inode_put(t, &in), 0);
	cr_assert_eq(meta_dirent_put(t, 1, "x", 42, 0100000), 0);
	cr_assert_eq(meta_txn_commit(t), 0);
	cr_assert_eq(meta_sync(m), 0);
	reopen(0);
	t = rd();
	cr_assert_eq(meta_inode_get(t, 42, &out), 0);
	cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0);
	cr_assert_eq(meta_dirent_get(t, 1, "x", NULL, NULL), 0);
	meta_txn_abort(t);
}

Test(meta, second_open_is_busy)
{
	struct meta_conf c = { .dir = state };
	struct meta *m2 = NULL;
	const char *why = NULL;
	char pid[32];

	cr_assert_eq(meta_open(&c, &m2, &why), EBUSY);
	cr_assert_null(m2);
	cr_assert_not_null(why);
	cr_assert(strstr(why, "in use"), "why: %s", why);
	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	cr_assert(strstr(why, pid), "why: %s", why);
	/* Released on close. */
	reopen(0);
}

Test(meta, ino_alloc_monotonic_across_reopen)
{
	uint64_t a, b, c;
	struct meta_txn *t = wr();

	cr_assert_eq(meta_ino_alloc(t, &a), 0);
	cr_assert_eq(meta_ino_alloc(t, &b), 0);
	cr_assert_eq(meta_txn_commit(t), 0);
	cr_assert_eq(a, 16);
	cr_assert_eq(b, 17);
	/* An aborted allocation is not remembered, which is fine: nothing used it. */
	t = wr();
	cr_assert_eq(meta_ino_alloc(t, &c), 0);
	meta_txn_abort(t);
	reopen(0);
	t = wr();
	cr_assert_eq(meta_ino_alloc(t, &c), 0);
	cr_assert_eq(meta_txn_commit(t), 0);
	cr_assert_eq(c, 18);
}

Test(meta, inode_put_get_del)
{
	struct meta_inode in = inode(100), out;
	struct chunk_ref refs[2] = { { .len = 10 }, { .len = 20 } };
	struct chunk_ref *got;
	struct meta_txn *t = wr();
	char *target;
	void *val;
	size_t n;

	cr_assert_eq(meta_inode_get(t, 100, &out), ENOENT);
	cr_assert_eq(meta_inode_put(t, &in), 0);
	cr_assert_eq(meta_link_put(t, 100, "somewhere"), 0);
	cr_assert_eq(meta_chunks_put(t, 100, refs, 2), 0);
	cr_assert_eq(meta_xattr_put(t, 100, "user.a", "1", 1), 0);
	cr_assert_eq(meta_xattr_put(t, 100, "user.b", "2", 1), 0);
	/* A neighbour that must survive. */
	in.ino = 101;
	cr_assert_eq(meta_inode_put(t, &in), 0);
	cr_assert_eq(meta_xattr_put(t, 101, "user.a", "3", 1), 0);
	cr_assert_eq(meta_txn_commit(t), 0);

	t = wr();
	cr_assert_eq(meta_inode_get(t, 100, &out), 0);
	cr_assert_eq(out.size, 300);
	cr_assert_eq(meta_inode_del(t, 100), 0);
	cr_assert_eq(meta_inode_get(t, 100, &out), ENOENT);
	cr_assert_eq(meta_link_get(t, 100, &target), ENOENT);
	cr_assert_eq(meta_chunks_get(t, 100, &got, &n), ENOENT);
	cr_assert_eq(meta_xattr_get(t, 100, "user.a", &val, &n), ENOENT);
	cr_assert_eq(meta_xattr_get(t, 100, "user.b", &val, &n), ENOENT);
	cr_assert_eq(meta_inode_del(t, 100), ENOENT);
	cr_assert_eq(meta_inode_get(t, 101, &out), 0);
	cr_assert_eq(meta_xattr_get(t, 101, "user.a", &val, &n), 0);
	cr_assert_eq(n, 1);
	free(val);
	cr_assert_eq(meta_txn_commit(t), 0);
}

struct names {
	char buf[16][32];
	uint64_t child[16];
	int n, stop_at;
};

static int collect(void *arg, const char *name, size_t len, uint64_t child, uint32_t type)
{
	struct names *s = arg;

	cr_assert_lt(len, sizeof(s->buf[0]));
	cr_assert_eq(type, 0040000);
	memcpy(s->buf[s->n], name, len);
	s->buf[s->n][len] = '\0';
	s->child[s->n] = child;
	s->n++;
	return s->n == s->stop_at ? 77 : 0;
}

static void expect(struct names *s, const char *const *want, int n)
{
	cr_assert_eq(s->n, n, "got %d entries, want %d", s->n, n);
	for (int i = 0; i < n; i++)
		cr_assert_str_eq(s->buf[i], want[i]);
}

Test(meta, dirents)
{
	static const char *const all[] = { "a", "aa", "b", "c" };
	static const char *const after_aa[] = { "b", "c" };
	char longname[300];
	struct names s;
	uint64_t child;
	uint32_t type;
	struct meta_txn *t = wr();
	int empty;

	/* Neighbouring directories 0x63 and 0x65 share no key range with 0x64. */
	cr_assert_eq(meta_dirent_put(t, 0x63, "zzz", 1, 0040000), 0);
	cr_assert_eq(meta_dirent_put(t, 0x65, "0", 2, 0040000), 0);
	cr_assert_eq(meta_dirent_put(t, 0x64, "c", 30, 0040000), 0);
	cr_assert_eq(meta_dirent_put(t, 0x64, "a", 10, 0040000), 0);
	cr_assert_eq(meta_dirent_put(t, 0x64, "b", 20, 0040000), 0);
	cr_assert_eq(meta_dirent_put(t, 0x64, "aa", 11, 0040000), 0);
	cr_assert_eq(meta_txn_commit(t), 0);

	t = rd();
	cr_assert_eq(meta_dirent_get(t, 0x64, "b", &child, &type), 0);
	cr_assert_eq(child, 20);
	cr_assert_eq(type, 0040000);
	cr_assert_eq(meta_dirent_get(t, 0x64, "d", &child, &type), ENOENT);

	memset(&s, 0, sizeof(s));
	cr_assert_eq(meta_dirent_iter(t, 0x64, NULL, collect, &s), 0);
	expect(&s, all, 4);
	cr_assert_eq(s.child[1], 11);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(meta_dirent_iter(t, 0x64, "", collect, &s), 0);
	expect(&s, all, 4);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(meta_dirent_iter(t, 0x64, "aa", collect, &s), 0);
	expect(&s, after_aa, 2);
	/* `after` need not exist any more (an entry removed between two readdir calls). */
	memset(&s, 0, sizeof(s));
	cr_assert_eq(meta_dirent_iter(t, 0x64, "ab", collect, &s), 0);
	expect(&s, after_aa, 2);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(meta_dirent_iter(t, 0x64, "c", collect, &s), 0);
	cr_assert_eq(s.n, 0);
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	cr_assert_eq(meta_dirent_iter(t, 0x64, NULL, collect, &s), 77);
	cr_assert_eq(s.n, 2);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(meta_dirent_iter(t, 0x66, NULL, collect, &s), 0);
	cr_assert_eq(s.n, 0);

	cr_assert_eq(meta_dir_empty(t, 0x64, &empty), 0);
	cr_assert_eq(empty, 0);
	cr_assert_eq(meta_dir_empty(t, 0x65, &empty), 0);
	cr_assert_eq(empty, 0);
	cr_assert_eq(meta_dir_empty(t, 0x66, &empty), 0);
	cr_assert_eq(empty, 1);
	cr_assert_eq(meta_dir_empty(t, 0x10, &empty), 0);
	cr_assert_eq(empty, 1);
	meta_txn_abort(t);

	memset(longname, 'x', 256);
	longname[256] = '\0';
	t = wr();
	cr_assert_eq(meta_dirent_put(t, 0x64, longname, 1, 0), ENAMETOOLONG);
	longname[255] = '\0';
	cr_assert_eq(meta_dirent_put(t, 0x64, longname, 1, 0040000), 0);
	cr_assert_eq(meta_dirent_del(t, 0x64, longname), 0);
	cr_assert_eq(meta_dirent_del(t, 0x64, "a"), 0);
	cr_assert_eq(meta_dirent_del(t, 0x64, "a"), ENOENT);
	cr_assert_eq(meta_dirent_del(t, 0x65, "0"), 0);
	cr_assert_eq(meta_dir_empty(t, 0x65, &empty), 0);
	cr_assert_eq(empty, 1);
	cr_assert_eq(meta_txn_commit(t), 0);
	t = rd();
	cr_assert_eq(meta_dirent_get(t, 0x64, "a", NULL, NULL), ENOENT);
	meta_txn_abort(t);
}

struct xs {
	char names[8][64];
	size_t lens[8];
	int n;
};

static int xcollect(void *arg, const char *name, const void *val, size_t len)
{
	struct xs *s = arg;

	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->lens[s->n++] = len;
	return 0;
}

/* Stops at the first name (counted in *arg); xfail fails there with EIO. */
static int xstop(void *arg, const char *name, const void *val, size_t len)
{
	(*(int *)arg)++;
	return META_ITER_STOP;
}

static int xfail(void *arg, const char *name, const void *val, size_t len)
{
	return EIO;
}

Test(meta, xattrs)
{
	static const uint8_t bin[] = { 0, 1, 0xff, 0, 'x' };
	char longname[300];
	struct meta_txn *t = wr();
	struct xs s = { 0 };
	void *big, *val;
	size_t len;

	cr_assert_eq(meta_xattr_put(t, 50, "user.z", "last", 4), 0);
	cr_assert_eq(meta_xattr_put(t, 50, "user.bin", bin, sizeof(bin)), 0);
	cr_assert_eq(meta_xattr_put(t, 50, "user.empty", NULL, 0), 0);
	cr_assert_eq(meta_xattr_put(t, 51, "user.other", "o", 1), 0);
	cr_assert_eq(meta_xattr_put(t, 50, "user.z", "LAST", 4), 0); /* replaces */
	memset(longname, 'n', 256);
	longname[256] = '\0';
	cr_assert_eq(meta_xattr_put(t, 50, longname, "v", 1), ERANGE);
	big = calloc(1, 64 * 1024 + 1);
	cr_assert_eq(meta_xattr_put(t, 50, "user.big", big, 64 * 1024 + 1), E2BIG);
	cr_assert_eq(meta_xattr_put(t, 50, "user.big", big, 64 * 1024), 0);
	free(big);
	cr_assert_eq(meta_txn_commit(t), 0);

	t = rd();
	cr_assert_eq(meta_xattr_get(t, 50, "user.bin", &val, &len), 0);
	cr_assert_eq(len, sizeof(bin));
	cr_assert_eq(memcmp(val, bin, len), 0);
	free(val);
	cr_assert_eq(meta_xattr_get(t, 50, "user.z", &val, &len), 0);
	cr_assert_eq(memcmp(val, "LAST", 4), 0);
	free(val);
	cr_assert_eq(meta_xattr_get(t, 50, "user.empty", &val, &len), 0);
	cr_assert_eq(len, 0);
	free(val);
	cr_assert_eq(meta_xattr_get(t, 50, "user.nope", &val, &len), ENOENT);
	cr_assert_eq(meta_xattr_iter(t, 50, xcollect, &s), 0);
	cr_assert_eq(s.n, 4);
	cr_assert_str_eq(s.names[0], "user.big");
	cr_assert_str_eq(s.names[1], "user.bin");
	cr_assert_str_eq(s.names[2], "user.empty");
	cr_assert_str_eq(s.names[3], "user.z");
	cr_assert_eq(s.lens[0], 64 * 1024);
	{
		int calls = 0;

		cr_assert_eq(meta_xattr_iter(t, 50, xstop, &calls), 0, "a stop is no error");
		cr_assert_eq(calls, 1, "the walk went on after the callback stopped it");
		cr_assert_eq(meta_xattr_iter(t, 50, xfail, NULL), EIO);
	}
	meta_txn_abort(t);

	t = wr();
	cr_assert_eq(meta_xattr_del(t, 50, "user.bin"), 0);
	cr_assert_eq(meta_xattr_del(t, 50, "user.bin"), ENOENT);
	cr_assert_eq(meta_txn_commit(t), 0);
	t = rd();
	memset(&s, 0, sizeof(s));
	cr_assert_eq(meta_xattr_iter(t, 50, xcollect, &s), 0);
	cr_assert_eq(s.n, 3);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(meta_xattr_iter(t, 52, xcollect, &s), 0);
	cr_assert_eq(s.n, 0);
	meta_txn_abort(t);
}

Test(meta, chunks_and_links)
{
	struct chunk_ref refs[3], *got;
	struct meta_txn *t = wr();
	char *target;
	size_t n;

	for (int i = 0; i < 3; i++) {
		memset(refs[i].id, 0xa0 + i, sizeof(refs[i].id));
		refs[i].len = 1000u * (i + 1);
	}
	cr_assert_eq(meta_chunks_put(t, 60, refs, 3), 0);
	cr_assert_eq(meta_chunks_put(t, 61, NULL, 0), 0);
	cr_assert_eq(meta_link_put(t, 62, "../a/b"), 0);
	cr_assert_eq(meta_txn_commit(t), 0);

	t = rd();
	cr_assert_eq(meta_chunks_get(t, 60, &got, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(memcmp(got, refs, sizeof(refs)), 0);
	free(got);
	cr_assert_eq(meta_chunks_get(t, 61, &got, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_null(got);
	cr_assert_eq(meta_chunks_get(t, 63, &got, &n), ENOENT);
	cr_assert_eq(meta_link_get(t, 62, &target), 0);
	cr_assert_str_eq(target, "../a/b");
	free(target);
	cr_assert_eq(meta_link_get(t, 60, &target), ENOENT);
	meta_txn_abort(t);

	t = wr();
	cr_assert_eq(meta_chunks_del(t, 60), 0);
	cr_assert_eq(meta_chunks_del(t, 60), 0);
	cr_assert_eq(meta_chunks_get(t, 60, &got, &n), ENOENT);
	cr_assert_eq(meta_txn_commit(t), 0);
}

Test(meta, runs_of_packs_read_in)
{
	struct pack_entry frames[5];
	struct pack_index ix = { .size = 5000, .v = frames, .n = 5 };
	struct manifest_pack packs[1];
	struct manifest_run runs[2] = { { 0, 3, 2 }, { 0, 0, 1 } };
	struct manifest_entry e = { .runs = runs, .nruns = 2 };
	struct manifest mf = { .packs = packs, .npacks = 1 };
	struct chunk_ref *got, one = { .len = 7 };
	struct pack_loc loc;
	struct meta_txn *t = wr();
	size_t n;

	memset(ix.name, 0x42, PACK_NAME_LEN);
	memset(ix.digest, 0x17, CHUNK_ID_LEN);
	memcpy(packs[0].name, ix.name, PACK_NAME_LEN);
	for (int i = 0; i < 5; i++)
		frames[i] = (struct pack_entry){ .off = 1000u * i, .flen = 900, .len = 100u + i };
	for (int i = 0; i < 5; i++)
		memset(frames[i].id, 0xc0 + i, CHUNK_ID_LEN);
	cr_assert_eq(meta_pack_read_in(t, &ix, 0), 0);
	cr_assert_eq(meta_runs_put(t, 70, &mf, &e), 0);
	cr_assert_eq(meta_chunks_copy(t, 70, 71), 0);
	cr_assert_eq(meta_chunks_copy(t, 79, 72), ENOENT, "nothing to copy");
	cr_assert_eq(meta_txn_commit(t), 0);

	t = rd();
	for (uint64_t ino = 70; ino <= 71; ino++) {
		cr_assert_eq(meta_chunks_get(t, ino, &got, &n), 0);
		cr_assert_eq(n, 3, "frames 3, 4, then 0");
		cr_expect_eq(got[0].id[0], 0xc3);
		cr_expect_eq(got[1].len, 104);
		cr_expect_eq(got[2].id[31], 0xc0);
		free(got);
	}
	cr_assert_eq(meta_chunk_loc_get(t, frames[4].id, &loc), 0);
	cr_expect_eq(loc.frame, 4);
	cr_expect_eq(loc.off, 4000);
	meta_txn_abort(t);

	/* A chunk list replaces the runs, and runs the list; del removes either. */
	t = wr();
	cr_assert_eq(meta_chunks_put(t, 70, &one, 1), 0);
	cr_assert_eq(meta_chunks_get(t, 70, &got, &n), 0);
	cr_expect_eq(n, 1);
	free(got);
	cr_assert_eq(meta_runs_put(t, 70, &mf, &e), 0);
	cr_assert_eq(meta_chunks_get(t, 70, &got, &n), 0);
	cr_expect_eq(n, 3);
	free(got);
	cr_assert_eq(meta_chunks_del(t, 70), 0);
	cr_assert_eq(meta_chunks_get(t, 70, &got, &n), ENOENT);
	/* Runs past the frames of their pack: EIO, never a short list. */
	runs[0].n = 3;
	cr_assert_eq(meta_runs_put(t, 73, &mf, &e), 0);
	cr_assert_eq(meta_chunks_get(t, 73, &got, &n), EIO);
	cr_assert_null(got);
	meta_txn_abort(t);
}

static int acollect(void *arg, const struct meta_artifact *a)
{
	uint64_t *seen = arg;

	seen[++seen[0]] = a->ino;
	return seen[0] == 2 && seen[9] ? 5 : 0;
}

/* A pack of n frames named fill, chunk i named id0 + i (then id1 in its second half). */
static void pack_of(struct pack_index *ix, struct pack_entry *v, size_t n, int fill, int id0,
		    int id1)
{
	memset(ix, 0, sizeof(*ix));
	memset(ix->name, fill, PACK_NAME_LEN);
	memset(ix->digest, fill + 1, CHUNK_ID_LEN);
	ix->v = v;
	ix->n = n;
	ix->size = 1000u * n;
	for (size_t i = 0; i < n; i++) {
		v[i] = (struct pack_entry){ .off = 1000u * i, .flen = 900, .len = 100 };
		memset(v[i].id, id0 + (int)i, 16);
		memset(v[i].id + 16, id1 + (int)i, 16);
	}
}

Test(meta, locations_are_found_by_prefix_and_checked_whole)
{
	struct pack_entry a[3], b[3];
	struct pack_index ia, ib;
	struct pack_loc loc;
	struct meta_txn *t = wr();
	uint8_t other[CHUNK_ID_LEN];

	pack_of(&ia, a, 3, 0x10, 0x50, 0x60);
	/* b's chunk 0 shares a's chunk 1's first 16 bytes; its chunk 1 is a's chunk 2 */
	pack_of(&ib, b, 3, 0x20, 0x51, 0x70);
	memcpy(b[1].id, a[2].id, CHUNK_ID_LEN);
	cr_assert_eq(meta_pack_read_in(t, &ia, 1), 0);
	cr_assert_eq(meta_pack_read_in(t, &ib, 0), 0);

	cr_assert_eq(meta_chunk_loc_get(t, a[1].id, &loc), 0);
	cr_expect_eq(memcmp(loc.pack, ia.name, PACK_NAME_LEN), 0);
	cr_expect(loc.frame == 1 && loc.off == 1000 && loc.flen == 900 && loc.own);
	cr_expect_eq(meta_chunk_loc_get(t, b[0].id, &loc), ENOENT,
		     "same prefix, another chunk: not located, never taken for a[1]");
	cr_assert_eq(meta_chunk_loc_get(t, b[1].id, &loc), 0);
	cr_expect_eq(memcmp(loc.pack, ia.name, PACK_NAME_LEN), 0, "an own location stays");
	cr_assert_eq(meta_chunk_loc_get(t, b[2].id, &loc), 0);
	cr_expect(loc.frame == 2 && loc.off == 2000 && !loc.own);
	memcpy(other, a[0].id, CHUNK_ID_LEN);
	other[31] ^= 1;
	cr_expect_eq(meta_chunk_loc_get(t, other, &loc), ENOENT);

	/* Read in again as own: b keeps its number, and its locations replace a's. */
	cr_assert_eq(meta_pack_read_in(t, &ib, 1), 0);
	cr_assert_eq(meta_chunk_loc_get(t, b[0].id, &loc), 0);
	cr_expect(memcmp(loc.pack, ib.name, PACK_NAME_LEN) == 0 && loc.own);
	cr_expect_eq(meta_chunk_loc_get(t, a[1].id, &loc), ENOENT);
	cr_assert_eq(meta_chunk_loc_get(t, a[0].id, &loc), 0);
	cr_expect_eq(memcmp(loc.pack, ia.name, PACK_NAME_LEN), 0);
	cr_assert_eq(meta_txn_commit(t), 0);
}

static void raw_put(MDB_txn *txn, MDB_dbi d, const void *k, size_t kl, const void *v, size_t vl)
{
	MDB_val key = { kl, (void *)k }, val = { vl, (void *)v };

	cr_assert_eq(mdb_put(txn, d, &key, &val, 0), 0);
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

static const char *const v1_tables[] = { "inodes", "links", "chunks", "dirents", "xattrs",
	"artifacts", "versions", "lineage_up", "lineage_down", "label_idx", "metric_idx",
	"chunk_ok", "orphans", "runs", NULL };

/* An index of schema 1 (build 5f7ab01): a pack of three frames whose chunk_loc names frames
 * 0 and 2 in it and frame 1 in a pack since forgotten; meta_open upgrades it in place. */
Test(meta, schema_1_is_upgraded_in_place)
{
	uint8_t name[PACK_NAME_LEN], gone[PACK_NAME_LEN], rec[32 + 3 * 36], loc[33];
	uint8_t id[3][CHUNK_ID_LEN];
	uint32_t one = 1;
	struct pack_loc pl;
	struct chunk_ref refs[3];
	struct meta_txn *t;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi conf, packs, cl;
	MDB_val k = { 9, "chunk_loc" }, v;

	meta_close(m);
	m = NULL;
	snprintf(state, sizeof(state), "%s/v1", dir);
	cr_assert_eq(mkdir(state, 0700), 0);
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 32), 0);
	cr_assert_eq(mdb_env_open(env, state, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "conf", MDB_CREATE, &conf), 0);
	cr_assert_eq(mdb_dbi_open(txn, "packs", MDB_CREATE, &packs), 0);
	cr_assert_eq(mdb_dbi_open(txn, "chunk_loc", MDB_CREATE, &cl), 0);
	for (const char *const *t1 = v1_tables; *t1; t1++)
		cr_assert_eq(mdb_dbi_open(txn, *t1, MDB_CREATE, &conf), 0);
	cr_assert_eq(mdb_dbi_open(txn, "conf", MDB_CREATE, &conf), 0);
	raw_put(txn, conf, "schema", 6, &one, 4);
	memset(name, 0x33, sizeof(name));
	memset(gone, 0x44, sizeof(gone));
	memset(rec, 0x99, 32);
	for (int i = 0; i < 3; i++) {
		memset(id[i], 0xa0 + i, CHUNK_ID_LEN);
		memcpy(rec + 32 + 36 * i, id[i], CHUNK_ID_LEN);
		be32(rec + 32 + 36 * i + 32, 500u + i);
		memcpy(loc, i == 1 ? gone : name, PACK_NAME_LEN);
		memset(loc + 16, 0, 8);
		be32(loc + 20, 7000u * i); /* offset, 8 bytes big-endian */
		be32(loc + 24, 400u + i);
		be32(loc + 28, i);
		loc[32] = i == 0;
		raw_put(txn, cl, id[i], CHUNK_ID_LEN, loc, sizeof(loc));
	}
	raw_put(txn, packs, name, PACK_NAME_LEN, rec, sizeof(rec));
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	{
		struct meta_conf c = { .dir = state, .readonly = 1 };
		const char *why = NULL;
		struct meta *r;

		cr_expect_eq(meta_open(&c, &r, &why), EINVAL, "a reader does not upgrade");
		cr_expect(why && strstr(why, "schema 1"), "why: %s", why ? why : "");
	}
	open_state(0);
	t = rd();
	cr_assert_eq(meta_chunk_loc_get(t, id[0], &pl), 0);
	cr_expect(pl.off == 0 && pl.flen == 400 && pl.frame == 0 && pl.own);
	cr_expect_eq(memcmp(pl.pack, name, PACK_NAME_LEN), 0);
	cr_assert_eq(meta_chunk_loc_get(t, id[2], &pl), 0);
	cr_expect(pl.off == 14000 && pl.flen == 402 && pl.frame == 2 && !pl.own);
	cr_expect_eq(meta_chunk_loc_get(t, id[1], &pl), ENOENT, "its pack was not read in");
	cr_assert_eq(meta_pack_chunks(t, name, rec, 0, 3, refs), 0);
	cr_expect(refs[1].len == 501 && refs[2].id[0] == 0xa2);
	meta_txn_abort(t);
	reopen(0); /* schema 2 now: opens as it is */

	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 32), 0);
	cr_assert_eq(mdb_env_open(env, state, MDB_RDONLY | MDB_NOLOCK, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, NULL, 0, &conf), 0);
	cr_expect_eq(mdb_get(txn, conf, &k, &v), MDB_NOTFOUND, "chunk_loc is dropped");
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

Test(meta, artifacts)
{
	struct meta_artifact a = { .project_ino = 20, .next = 1 }, out;
	uint64_t seen[10] = { 0 };
	struct meta_txn *t = wr();

	for (uint64_t ino = 300; ino >= 100; ino -= 100) {
		a.ino = ino;
		snprintf(a.name, sizeof(a.name), "art%d", (int)ino);
		snprintf(a.project, sizeof(a.project), "proj");
		cr_assert_eq(meta_artifact_put(t, &a), 0);
	}
	cr_assert_eq(meta_txn_commit(t), 0);
	t = rd();
	cr_assert_eq(meta_artifact_get(t, 200, &out), 0);
	cr_assert_str_eq(out.name, "art200");
	cr_assert_eq(out.next, 1);
	cr_assert_eq(meta_artifact_get(t, 250, &out), ENOENT);
	cr_assert_eq(meta_artifact_iter(t, acollect, seen), 0);
	cr_assert_eq(seen[0], 3);
	cr_assert_eq(seen[1], 100);
	cr_assert_eq(seen[2], 200);
	cr_assert_eq(seen[3], 300);
	memset(seen, 0, sizeof(seen));
	seen[9] = 1; /* stop after two */
	cr_assert_eq(meta_artifact_iter(t, acollect, seen), 5);
	cr_assert_eq(seen[0], 2);
	meta_txn_abort(t);
	t = wr();
	cr_assert_eq(meta_artifact_del(t, 200), 0);
	cr_assert_eq(meta_artifact_del(t, 200), ENOENT);
	cr_assert_eq(meta_txn_commit(t), 0);
}

struct vs {
	uint64_t n[16];
	int count, stop_at;
};

static int vcollect(void *arg, const struct meta_version *v)
{
	struct vs *s = arg;

	cr_assert_eq(v->artifact, 20);
	cr_assert_eq(v->root, 1000 + v->n);
	s->n[s->count++] = v->n;
	return s->count == s->stop_at ? 9 : 0;
}

Test(meta, versions_newest_first)
{
	static const uint64_t ns[] = { 2, 10, 1, 3, 256 };
	struct meta_version v = { 0 }, out;
	struct meta_txn *t = wr();
	struct vs s = { 0 };

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		v.artifact = 20;
		v.n = ns[i];
		v.root = 1000 + ns[i];
		cr_assert_eq(meta_version_put(t, &v), 0);
	}
	/* Neighbours on both sides, including the largest possible N. */
	v.artifact = 19;
	v.n = UINT64_MAX;
	cr_assert_eq(meta_version_put(t, &v), 0);
	v.artifact = 21;
	v.n = 1;
	cr_assert_eq(meta_version_put(t, &v), 0);
	cr_assert_eq(meta_txn_commit(t), 0);

	t = rd();
	cr_assert_eq(meta_version_get(t, 20, 10, &out), 0);
	cr_assert_eq(out.root, 1010);
	cr_assert_eq(meta_version_get(t, 20, 4, &out), ENOENT);
	cr_assert_eq(meta_version_iter(t, 20, vcollect, &s), 0);
	cr_assert_eq(s.count, 5);
	cr_assert_eq(s.n[0], 256);
	cr_assert_eq(s.n[1], 10);
	cr_assert_eq(s.n[2], 3);
	cr_assert_eq(s.n[3], 2);
	cr_assert_eq(s.n[4], 1);
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	cr_assert_eq(meta_version_iter(t, 20, vcollect, &s), 9);
	cr_assert_eq(s.count, 2);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(meta_version_iter(t, 22, vcollect, &s), 0);
	cr_assert_eq(s.count, 0);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(meta_version_iter(t, 5, vcollect, &s), 0);
	cr_assert_eq(s.count, 0);
	meta_txn_abort(t);
}

static int count_19(void *arg, const struct meta_version *v)
{
	uint64_t *c = arg;

	cr_assert_eq(v->artifact, 19);
	c[c[0]++ + 1] = v->n;
	return 0;
}

Test(meta, versions_at_range_edges)
{
	struct meta_version v = { .artifact = 19 };
	struct meta_txn *t = wr();
	uint64_t c[4] = { 0 };

	v.n = UINT64_MAX;
	cr_assert_eq(meta_version_put(t, &v), 0);
	v.n = 7;
	cr_assert_eq(meta_version_put(t, &v), 0);
	cr_assert_eq(meta_txn_commit(t), 0);
	t = rd();
	cr_assert_eq(meta_version_iter(t, 19, count_19, c), 0);
	cr_assert_eq(c[0], 2);
	cr_assert_eq(c[1], UINT64_MAX);
	cr_assert_eq(c[2], 7);
	meta_txn_abort(t);
}

static int fail_eexist(struct meta_txn *txn, void *arg)
{
	cr_assert_eq(meta_xattr_put(txn, 9, "user.x", "1", 1), 0);
	return EEXIST;
}

Test(meta, write_error_aborts)
{
	struct meta_txn *t;
	void *val;
	size_t len;

	cr_assert_eq(meta_write(m, fail_eexist, NULL), EEXIST);
	t = rd();
	cr_assert_eq(meta_xattr_get(t, 9, "user.x", &val, &len), ENOENT);
	meta_txn_abort(t);
}

#define BIG_VAL (16 * 1024)
#define BIG_CALLS 320 /* two values per call: 10 MiB */

struct fill {
	uint64_t ino;
	int i;
	int runs;
};

static void pattern(char *buf, uint64_t ino, int i, int k)
{
	memset(buf, 'a' + (int)((ino + i * 2 + k) % 26), BIG_VAL);
	snprintf(buf, 32, "%llu/%d/%d", (unsigned long long)ino, i, k);
}

static int fill_fn(struct meta_txn *txn, void *arg)
{
	static __thread char buf[BIG_VAL];
	struct fill *f = arg;
	char name[64];
	int rc;

	f->runs++;
	for (int k = 0; k < 2; k++) {
		pattern(buf, f->ino, f->i, k);
		snprintf(name, sizeof(name), "user.v%05d.%d", f->i, k);
		rc = meta_xattr_put(txn, f->ino, name, buf, BIG_VAL);
		if (rc)
			return rc;
	}
	return 0;
}

static void fill(uint64_t ino, int calls, int *retries)
{
	for (int i = 0; i < calls; i++) {
		struct fill f = { .ino = ino, .i = i };

		cr_assert_eq(meta_write(m, fill_fn, &f), 0, "write %d", i);
		*retries += f.runs - 1;
	}
}

static void check_fill(uint64_t ino, int calls)
{
	static char want[BIG_VAL];
	struct meta_txn *t = rd();
	char name[64];
	void *val;
	size_t len;

	for (int i = 0; i < calls; i++) {
		for (int k = 0; k < 2; k++) {
			snprintf(name, sizeof(name), "user.v%05d.%d", i, k);
			cr_assert_eq(meta_xattr_get(t, ino, name, &val, &len), 0, "%s", name);
			pattern(want, ino, i, k);
			cr_assert_eq(len, BIG_VAL);
			cr_assert_eq(memcmp(val, want, len), 0, "%s", name);
			free(val);
		}
	}
	meta_txn_abort(t);
}

Test(meta, write_grows_map)
{
	int retries = 0;

	fresh(1 << 20);
	fill(70, BIG_CALLS, &retries);
	cr_assert_gt(retries, 0, "the map never filled up");
	check_fill(70, BIG_CALLS);
	/* The grown size is kept by the environment even when asked for 1 MiB again. */
	reopen(1 << 20);
	check_fill(70, BIG_CALLS);
	retries = 0;
	fill(71, 8, &retries);
	check_fill(71, 8);
}

struct worker {
	uint64_t ino;
	int retries;
};

static void *writer(void *arg)
{
	struct worker *w = arg;

	fill(w->ino, BIG_CALLS / 4, &w->retries);
	return NULL;
}

static int count_fn(void *arg, const char *name, const void *val, size_t len)
{
	(*(int *)arg)++;
	return 0;
}

static void *reader(void *arg)
{
	int *stop = arg;

	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		struct meta_txn *t = rd();
		int n = 0;

		cr_assert_eq(meta_xattr_iter(t, 80, count_fn, &n), 0);
		meta_txn_abort(t);
	}
	return NULL;
}

Test(meta, concurrent_writers_grow_map)
{
	struct worker w[4];
	pthread_t th[4], rt;
	int stop = 0;

	fresh(1 << 20);
	cr_assert_eq(pthread_create(&rt, NULL, reader, &stop), 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .ino = 80 + i };
		cr_assert_eq(pthread_create(&th[i], NULL, writer, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(rt, NULL);
	for (int i = 0; i < 4; i++)
		check_fill(80 + i, BIG_CALLS / 4);
}
