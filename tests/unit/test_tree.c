/* SPDX-License-Identifier: MIT */
/*
 * The tree layer (meta/tree.c): the namespace rules over a fresh LMDB index per test,
 * without mounting.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../meta/meta.h"

static char dir[] = "/tmp/artifs-tree-XXXXXX";
static struct meta *M;
static uint64_t art_ino;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int make_artifact_fn(struct meta_txn *txn, void *arg)
{
	struct meta_inode root = { .ino = META_ROOT_INO, .parent = META_ROOT_INO, .kind = MK_ROOT,
				   .mode = S_IFDIR | 0755, .nlink = 2 };
	uint64_t pino;
	int err = meta_inode_put(txn, &root);

	if (err)
		return err;
	err = meta_pa_ensure(txn, META_ROOT_INO, "p", MK_PROJECT, NULL, 0, 0, 0755, &pino, NULL);

	return err ? err : meta_pa_ensure(txn, pino, "a", MK_ARTIFACT, "p", 0, 0, 0755, &art_ino,
					  NULL);
}

static void setup(void)
{
	struct meta_conf c = { .dir = dir };
	const char *why = NULL;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(meta_open(&c, &M, &why), 0, "meta_open: %s", why ? why : "");
	cr_assert_eq(meta_write(M, make_artifact_fn, NULL), 0);
}

static void teardown(void)
{
	meta_close(M);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	strcpy(dir, "/tmp/artifs-tree-XXXXXX");
}

TestSuite(tree, .init = setup, .fini = teardown);

/* A manifest: the root, folder "model", file "model.pkl", file "model/w.bin", symlink
 * "latest.txt" (in manifest_path_cmp() order: "model" < "model/w.bin" < "model.pkl"). */
static void manifest_make(struct manifest *m, uint64_t n, int bad_order)
{
	static struct manifest_entry e[5];
	static char *paths[5] = { "", "latest.txt", "model", "model/w.bin", "model.pkl" };

	memset(m, 0, sizeof(*m));
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 5; i++)
		e[i].path = paths[i];
	e[0].mode = S_IFDIR | 0755;
	e[1].mode = S_IFLNK | 0777;
	e[1].target = "model.pkl";
	e[1].size = 9;
	e[2].mode = S_IFDIR | 0750;
	e[3].mode = S_IFREG | 0640;
	e[3].size = 7;
	e[4].mode = S_IFREG | 0644;
	e[4].size = 3;
	if (bad_order) { /* a child before its folder */
		struct manifest_entry t = e[2];

		e[2] = e[3];
		e[3] = t;
	}
	m->version = n;
	m->created_ns = 1000000000LL * 1700000000;
	m->entries = e;
	m->nentries = 5;
}

struct install {
	struct manifest *m;
	int lineage;
	const char *inputs;
};

static int install_fn(struct meta_txn *txn, void *arg)
{
	struct install *in = arg;
	struct meta_artifact a;
	uint8_t digest[32] = { 1 };
	int err = meta_artifact_get(txn, art_ino, &a);

	in->m->inputs = (char *)in->inputs;
	return err ? err : meta_version_install(txn, &a, in->m, digest, NULL, NULL, 0, 0,
					      in->lineage);
}

/* The inode at path below folder ino (read transaction of its own). */
static int walk(uint64_t ino, const char *path, struct meta_inode *out)
{
	struct meta_txn *txn;
	char buf[256], *save = NULL;
	int err = meta_txn_begin(M, 1, &txn);

	cr_assert_eq(err, 0);
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *c = strtok_r(buf, "/", &save); c && !err; c = strtok_r(NULL, "/", &save)) {
		uint32_t type;

		err = meta_dirent_get(txn, ino, c, &ino, &type);
	}
	if (!err)
		err = meta_inode_get(txn, ino, out);
	meta_txn_abort(txn);
	return err;
}

static struct meta_artifact artifact(void)
{
	struct meta_txn *txn;
	struct meta_artifact a;

	cr_assert_eq(meta_txn_begin(M, 1, &txn), 0);
	cr_assert_eq(meta_artifact_get(txn, art_ino, &a), 0);
	meta_txn_abort(txn);
	return a;
}

Test(tree, install_makes_the_version_tree)
{
	struct manifest m;
	struct install in = { &m, 1, NULL };
	struct meta_inode v, x;
	struct meta_artifact a;
	struct meta_txn *txn;
	char *link = NULL;

	manifest_make(&m, 1, 0);
	cr_assert_eq(meta_write(M, install_fn, &in), 0);
	a = artifact();
	cr_expect_eq(a.latest, 1);
	cr_expect_eq(a.next, 2);
	cr_assert_eq(walk(art_ino, "@v1", &v), 0);
	cr_expect_eq(v.kind, MK_VERSION);
	cr_assert_eq(walk(art_ino, "@v1/model/w.bin", &x), 0);
	cr_expect_eq(x.kind, MK_VNODE);
	cr_expect_eq(x.size, 7);
	cr_expect_eq(x.mode, S_IFREG | 0640);
	cr_assert_eq(walk(art_ino, "@v1/model", &x), 0);
	cr_expect_eq(x.mode, S_IFDIR | 0750);
	cr_assert_eq(walk(art_ino, "@v1/model.pkl", &x), 0);
	cr_expect_eq(x.size, 3);
	cr_assert_eq(walk(art_ino, "@latest", &x), 0);
	cr_assert_eq(meta_txn_begin(M, 1, &txn), 0);
	cr_expect_eq(meta_link_get(txn, x.ino, &link), 0);
	meta_txn_abort(txn);
	cr_expect_str_eq(link, "@v1");
	free(link);
}

Test(tree, install_refuses_a_child_before_its_folder)
{
	struct manifest m;
	struct install in = { &m, 1, NULL };
	struct meta_inode v;

	manifest_make(&m, 1, 1);
	cr_expect_eq(meta_write(M, install_fn, &in), EINVAL);
	cr_expect_eq(walk(art_ino, "@v1", &v), ENOENT, "a refused install left @v1 behind");
	cr_expect_eq(artifact().latest, 0);
}

Test(tree, lineage_indexes_known_inputs_only)
{
	struct manifest m;
	struct install in = { &m, 1, NULL };
	struct meta_inode v2;
	struct meta_txn *txn;
	void *val = NULL;
	size_t len = 0;

	manifest_make(&m, 1, 0);
	cr_assert_eq(meta_write(M, install_fn, &in), 0);
	manifest_make(&m, 2, 0);
	in.inputs = "artifs://p/a@v1\nartifs://p/nope@v9";
	cr_assert_eq(meta_write(M, install_fn, &in), 0);
	cr_assert_eq(walk(art_ino, "@v2", &v2), 0);
	cr_assert_eq(meta_txn_begin(M, 1, &txn), 0);
	cr_expect_eq(meta_xattr_get(txn, v2.ino, "user.artifs.inputs", &val, &len), 0);
	meta_txn_abort(txn);
	cr_expect_eq(len, strlen("artifs://p/a@v1"));
	cr_expect(val && memcmp(val, "artifs://p/a@v1", len) == 0);
	free(val);
}

static int reset_fn(struct meta_txn *txn, void *arg)
{
	struct meta_artifact a;
	int err = meta_artifact_get(txn, art_ino, &a);

	return err ? err : meta_head_reset(txn, &a, *(uint64_t *)arg, NULL, NULL);
}

Test(tree, head_reset_copies_a_version_and_clears_the_draft)
{
	struct manifest m;
	struct install in = { &m, 1, NULL };
	struct meta_inode h;
	uint64_t n = 1;

	manifest_make(&m, 1, 0);
	cr_assert_eq(meta_write(M, install_fn, &in), 0);
	cr_assert_eq(meta_write(M, reset_fn, &n), 0);
	cr_assert_eq(walk(art_ino, "model/w.bin", &h), 0);
	cr_expect_eq(h.kind, MK_HEAD);
	cr_expect_eq(h.size, 7);
	cr_expect_eq(walk(art_ino, "latest.txt", &h), 0);
	cr_expect_eq(artifact().draft, 0);
	n = 0; /* an empty HEAD */
	cr_assert_eq(meta_write(M, reset_fn, &n), 0);
	cr_expect_eq(walk(art_ino, "model", &h), ENOENT);
	cr_expect_eq(walk(art_ino, "@v1/model", &h), 0, "the reset touched the version");
}

static int mark_fn(struct meta_txn *txn, void *arg)
{
	return meta_artifact_draft_mark(txn, art_ino);
}

static int draft_set_fn(struct meta_txn *txn, void *arg)
{
	struct meta_artifact a;
	int err = meta_artifact_get(txn, art_ino, &a);

	a.draft = *(uint32_t *)arg;
	return err ? err : meta_artifact_put(txn, &a);
}

Test(tree, draft_mark_is_a_generation_that_is_never_0)
{
	uint32_t g0, top = UINT32_MAX;

	cr_assert_eq(meta_write(M, mark_fn, NULL), 0);
	g0 = artifact().draft;
	cr_expect_neq(g0, 0);
	cr_assert_eq(meta_write(M, mark_fn, NULL), 0);
	cr_expect_neq(artifact().draft, g0, "a second change left the generation as it was");
	cr_assert_eq(meta_write(M, draft_set_fn, &top), 0);
	cr_assert_eq(meta_write(M, mark_fn, NULL), 0);
	cr_expect_eq(artifact().draft, 1, "the generation wrapped to 0 (no draft)");
}

static int tag_fn(struct meta_txn *txn, void *arg)
{
	return meta_tag_put(txn, art_ino, "@prod", 1, 0, 0);
}

static int drop_fn(struct meta_txn *txn, void *arg)
{
	return meta_tag_drop(txn, art_ino, (const char *)arg);
}

Test(tree, tags_point_and_drop)
{
	struct manifest m;
	struct install in = { &m, 1, NULL };
	struct meta_inode t;

	manifest_make(&m, 1, 0);
	cr_assert_eq(meta_write(M, install_fn, &in), 0);
	cr_assert_eq(meta_write(M, tag_fn, NULL), 0);
	cr_assert_eq(walk(art_ino, "@prod", &t), 0);
	cr_expect_eq(t.kind, MK_TAG);
	cr_expect_eq(meta_write(M, drop_fn, "@latest"), ENOENT, "dropped what is no tag");
	cr_expect_eq(walk(art_ino, "@latest", &t), 0, "@latest went with a tag drop");
	cr_expect_eq(meta_write(M, drop_fn, "@prod"), 0);
	cr_expect_eq(walk(art_ino, "@prod", &t), ENOENT);
	cr_expect_eq(meta_write(M, drop_fn, "@prod"), ENOENT);
}

static int ensure_fn(struct meta_txn *txn, void *arg)
{
	int *made = arg;
	uint64_t ino;

	return meta_pa_ensure(txn, META_ROOT_INO, "p", MK_PROJECT, NULL, 0, 0, 0700, &ino, made);
}

Test(tree, pa_ensure_makes_once)
{
	int made = -1;

	cr_assert_eq(meta_write(M, ensure_fn, &made), 0);
	cr_expect_eq(made, 0, "project p was made again");
}

struct rm_arg {
	uint64_t n;
	int restore, untag;
	char tags[64];
};

static int rm_fn(struct meta_txn *txn, void *arg)
{
	struct rm_arg *r = arg;
	struct meta_artifact a;
	int err = meta_artifact_get(txn, art_ino, &a);

	if (err)
		return err;
	if (r->restore)
		return meta_version_restore(txn, &a, r->n);
	return meta_version_remove(txn, &a, r->n, 42, r->untag, r->tags, sizeof(r->tags));
}

/* A removed version loses its name and its record moves; latest and @latest follow the
 * newest version left (none: no @latest); a tag pins its version; restore undoes it. */
Test(tree, remove_and_restore_a_version)
{
	struct manifest m;
	struct install in = { &m, 1, NULL };
	struct rm_arg r = { .n = 2 };
	struct meta_removed rec;
	struct meta_version v;
	struct meta_inode x, root2;
	struct meta_txn *txn;
	char *link = NULL;

	for (uint64_t n = 1; n <= 2; n++) {
		manifest_make(&m, n, 0);
		cr_assert_eq(meta_write(M, install_fn, &in), 0);
	}
	cr_assert_eq(walk(art_ino, "@v2", &root2), 0);
	cr_assert_eq(meta_write(M, rm_fn, &r), 0);
	cr_expect_eq(walk(art_ino, "@v2", &x), ENOENT);
	cr_expect_eq(walk(root2.ino, "model.pkl", &x), 0, "the removed version's tree went");
	cr_expect_eq(artifact().latest, 1);
	cr_expect_eq(artifact().next, 3, "the number is never used again");
	cr_assert_eq(walk(art_ino, "@latest", &x), 0);
	cr_assert_eq(meta_txn_begin(M, 1, &txn), 0);
	cr_expect_eq(meta_link_get(txn, x.ino, &link), 0);
	cr_expect_eq(meta_version_get(txn, art_ino, 2, &v), ENOENT);
	cr_expect_eq(meta_removed_get(txn, art_ino, 2, &rec), 0);
	cr_expect_eq(rec.removed_ns, 42);
	cr_expect_eq(rec.v.root, root2.ino);
	meta_txn_abort(txn);
	cr_expect_str_eq(link, "@v1");
	free(link);
	cr_expect_eq(meta_write(M, rm_fn, &r), ENOENT, "removed twice");

	cr_assert_eq(meta_write(M, tag_fn, NULL), 0); /* @prod -> @v1 */
	r.n = 1;
	cr_expect_eq(meta_write(M, rm_fn, &r), EBUSY);
	cr_expect_str_eq(r.tags, "prod");
	r.untag = 1;
	cr_assert_eq(meta_write(M, rm_fn, &r), 0);
	cr_expect_eq(artifact().latest, 0);
	cr_expect_eq(walk(art_ino, "@latest", &x), ENOENT, "@latest with no version left");

	r = (struct rm_arg){ .n = 2, .restore = 1 };
	cr_assert_eq(meta_write(M, rm_fn, &r), 0);
	cr_expect_eq(meta_write(M, rm_fn, &r), ENOENT, "restored twice");
	cr_assert_eq(walk(art_ino, "@v2", &x), 0);
	cr_expect_eq(x.ino, root2.ino);
	cr_expect_eq(artifact().latest, 2);
	cr_assert_eq(walk(art_ino, "@latest", &x), 0);
}
