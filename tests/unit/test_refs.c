/* SPDX-License-Identifier: MIT */
/* What keeps an unlinked HEAD inode alive (fs/refs.c): handles and the kernel's lookups. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../fs/fs.h"
#include "../../fs/fs_int.h"

static char dir[] = "/tmp/artifs-refs-XXXXXX";
static struct fs F = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static void setup(void)
{
	char meta[sizeof(dir) + 8];
	struct meta_conf c = { .dir = meta };
	const char *why = NULL;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(meta, sizeof(meta), "%s/meta", dir);
	cr_assert_eq(mkdir(meta, 0700), 0);
	snprintf(F.staging, sizeof(F.staging), "%s/staging", dir);
	cr_assert_eq(mkdir(F.staging, 0700), 0);
	cr_assert_eq(meta_open(&c, &F.meta, &why), 0, "meta_open: %s", why ? why : "");
}

static void teardown(void)
{
	fs_refs_free(&F);
	meta_close(F.meta);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	strcpy(dir, "/tmp/artifs-refs-XXXXXX");
}

TestSuite(refs, .init = setup, .fini = teardown);

static int put_fn(struct meta_txn *txn, void *arg)
{
	const struct meta_inode *in = arg;

	return meta_inode_put(txn, in);
}

static int free_fn(struct meta_txn *txn, void *arg)
{
	return fs_head_free(&F, txn, *(uint64_t *)arg);
}

/* ino's record: 0 and *in, ENOENT once freed. */
static int inode(uint64_t ino, struct meta_inode *in)
{
	struct meta_txn *txn;
	int err = meta_txn_begin(F.meta, 1, &txn);

	cr_assert_eq(err, 0);
	err = meta_inode_get(txn, ino, in);
	meta_txn_abort(txn);
	return err;
}

static size_t orphans(void)
{
	struct meta_txn *txn;
	uint64_t *inos = NULL;
	size_t n = 0;

	cr_assert_eq(meta_txn_begin(F.meta, 1, &txn), 0);
	cr_assert_eq(meta_orphan_list(txn, &inos, &n), 0);
	meta_txn_abort(txn);
	free(inos);
	return n;
}

static struct meta_inode head_file(uint64_t ino)
{
	struct meta_inode in = { .ino = ino, .parent = 1, .kind = MK_HEAD,
				 .mode = S_IFREG | 0644, .nlink = 1 };

	cr_assert_eq(meta_write(F.meta, put_fn, &in), 0);
	return in;
}

static void forget(uint64_t ino, uint64_t n)
{
	struct fuse_forget_data fd = { .ino = ino, .nlookup = n };

	fs_do_forget(&F, 1, &fd);
}

Test(refs, unlinked_inode_lives_until_the_last_forget)
{
	struct meta_inode in = head_file(100), got;
	char staging[4200];
	FILE *f;

	fs_staging_path(&F, 100, staging, sizeof(staging));
	cr_assert_not_null(f = fopen(staging, "w"));
	fclose(f);
	fs_lookup_add(&F, &in);
	fs_lookup_add(&F, &in);
	cr_assert_eq(meta_write(F.meta, free_fn, &in.ino), 0);
	fs_staging_drop(&F, 100);
	cr_assert_eq(inode(100, &got), 0, "freed while the kernel knows it");
	cr_expect_eq(got.nlink, 0);
	cr_expect_eq(orphans(), 1, "not recorded for a crash");
	cr_expect_eq(access(staging, F_OK), 0, "its staging file went while in use");
	forget(100, 1);
	cr_expect_eq(inode(100, &got), 0, "freed at the first of two forgets");
	forget(100, 1);
	cr_expect_eq(inode(100, &got), ENOENT, "not freed at the last forget");
	cr_expect_eq(orphans(), 0);
	cr_expect_neq(access(staging, F_OK), 0, "the staging file outlived its inode");
	cr_expect_eq(F.refs_n, 0, "the record outlived its references");
}

Test(refs, handle_and_lookups_both_hold)
{
	struct meta_inode in = head_file(200), got;
	struct fs_open *o;

	fs_lookup_add(&F, &in);
	o = fs_open_hold(&F, 200);
	cr_assert_not_null(o);
	cr_assert_eq(meta_write(F.meta, free_fn, &in.ino), 0);
	forget(200, 1);
	cr_expect_eq(inode(200, &got), 0, "freed while open");
	cr_expect_eq(fs_open_release(&F, o), 0);
	fs_free_deferred(&F, 200);
	cr_expect_eq(inode(200, &got), ENOENT, "not freed at the last release");
}

Test(refs, unreferenced_and_other_kinds_free_at_once)
{
	struct meta_inode in = head_file(300), v = { .ino = 301, .kind = MK_VNODE }, got;

	cr_assert_eq(meta_write(F.meta, free_fn, &in.ino), 0);
	cr_expect_eq(inode(300, &got), ENOENT, "an inode nobody uses was kept");
	fs_lookup_add(&F, &v);
	cr_expect_eq(F.refs_n, 0, "a version inode was counted");
	forget(301, 1); /* a forget for an uncounted inode is harmless */
	forget(300, 5);
}

Test(refs, many_records_and_unmount)
{
	struct fuse_forget_data fd[2000];
	struct meta_inode got;

	for (uint64_t i = 0; i < 2000; i++) {
		struct meta_inode in = { .ino = 1000 + i, .kind = MK_HEAD };

		fs_lookup_add(&F, &in);
		fd[i] = (struct fuse_forget_data){ .ino = 1000 + i, .nlookup = 1 };
	}
	cr_expect_eq(F.refs_n, 2000);
	fs_do_forget(&F, 2000, fd);
	cr_expect_eq(F.refs_n, 0, "forget_multi left records");
	/* At unmount the kernel's counts drop to zero with no forget. */
	struct meta_inode in = head_file(500);

	fs_lookup_add(&F, &in);
	cr_assert_eq(meta_write(F.meta, free_fn, &in.ino), 0);
	cr_expect_eq(inode(500, &got), 0);
	fs_refs_unmount(&F);
	cr_expect_eq(inode(500, &got), ENOENT, "unmount kept an unlinked inode");
	cr_expect_eq(orphans(), 0);
}
