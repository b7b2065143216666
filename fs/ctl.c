/* SPDX-License-Identifier: MIT */
/* The mount root and the reserved .artifs control folder: version, stats, drafts, errors,
 * mount (what commands need to find this daemon's index without --state). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_int.h"

static int put_node(struct meta_txn *txn, uint64_t ino, uint64_t parent, uint32_t kind,
		    uint32_t mode)
{
	struct meta_inode in;

	if (meta_inode_get(txn, ino, &in) == 0)
		return 0;
	memset(&in, 0, sizeof(in));
	in.ino = ino;
	in.parent = parent;
	in.kind = kind;
	in.mode = mode;
	in.uid = getuid();
	in.gid = getgid();
	in.nlink = 1;
	in.mtime_ns = in.ctime_ns = fs_now_ns();
	return meta_inode_put(txn, &in);
}

static int init_fn(struct meta_txn *txn, void *arg)
{
	static const struct {
		uint64_t ino;
		const char *name;
	} files[] = { { FS_CTL_VERSION_INO, "version" },
		      { FS_CTL_STATS_INO, "stats" },
		      { FS_CTL_DRAFTS_INO, "drafts" },
		      { FS_CTL_ERRORS_INO, "errors" },
		      { FS_CTL_MOUNT_INO, "mount" } };
	int err = put_node(txn, META_ROOT_INO, META_ROOT_INO, MK_ROOT, S_IFDIR | 0755);

	if (!err)
		err = put_node(txn, FS_CTL_INO, META_ROOT_INO, MK_CTL, S_IFDIR | 0555);
	if (!err)
		err = meta_dirent_put(txn, META_ROOT_INO, ".artifs", FS_CTL_INO, S_IFDIR);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && !err; i++) {
		err = put_node(txn, files[i].ino, FS_CTL_INO, MK_CTL, S_IFREG | 0444);
		if (!err)
			err = meta_dirent_put(txn, FS_CTL_INO, files[i].name, files[i].ino,
					      S_IFREG);
	}
	return err;
}

int fs_ctl_init(struct fs *fs)
{
	return meta_write(fs->meta, init_fn, NULL);
}

struct drafts_arg {
	struct fs *fs;
	char *buf;
	size_t len;
	FILE *f;
};

static int drafts_fn(void *arg, const struct meta_artifact *a)
{
	struct drafts_arg *d = arg;

	uint64_t done, total;
	char why[512];
	int held;

	if (!a->draft)
		return 0;
	fs_art_why(d->fs, a->ino, why, sizeof(why), &done, &total, &held);
	if (total)
		fprintf(d->f, "%s/%s\tcommitting: %" PRIu64 " of %" PRIu64 " bytes stored (%d%%)\n",
			a->project, a->name, done > total ? total : done, total,
			(int)((done > total ? total : done) * 100 / total));
	else if (!strncmp(why, "held: ", 6)) /* a draft not committed by itself (commit.c) */
		fprintf(d->f, "%s/%s\t%s\n", a->project, a->name, why);
	else if (why[0])
		fprintf(d->f, "%s/%s\tcommit failed: %s\n", a->project, a->name, why);
	else if (held)
		fprintf(d->f, "%s/%s\twaiting for the import writing it (one that was killed "
			"left it: artifs discard, or artifs commit)\n", a->project, a->name);
	else
		fprintf(d->f, "%s/%s\n", a->project, a->name);
	return 0;
}

/* The store's own counters first ({"s3":{…}, then the daemon's), one JSON object in all. */
static void stats_store(struct fs *fs, FILE *f)
{
	struct be_s3_stats s3;
	struct be_cache_stats cs;

	fputs("{", f);
	for (struct be *b = fs->be; b; b = b->inner) {
		if (be_cache_stats(b, &cs) == 0)
			fprintf(f,
				"\"cache\":{\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
				",\"evictions\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"objects\":%" PRIu64
				"},",
				cs.hits, cs.misses, cs.evictions, cs.bytes, cs.objects);
		if (be_s3_stats(b, &s3) == 0)
			fprintf(f,
				"\"s3\":{\"gets\":%" PRIu64 ",\"puts\":%" PRIu64 ",\"heads\":%" PRIu64
				",\"deletes\":%" PRIu64 ",\"lists\":%" PRIu64 ",\"bytes_in\":%" PRIu64
				",\"bytes_out\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"errors\":%" PRIu64
				"},",
				s3.gets, s3.puts, s3.heads, s3.deletes, s3.lists, s3.bytes_in,
				s3.bytes_out, s3.retries, s3.errors);
	}
	fprintf(f, "\"daemon\":");
}

/* The index's tables: entries and bytes of each. */
static void stats_index(struct fs *fs, FILE *f)
{
	struct meta_table_use u;
	struct meta_txn *txn;

	fputs("},\"index\":{", f);
	if (meta_txn_begin(fs->meta, 1, &txn))
		return;
	for (unsigned i = 0; meta_table_use(txn, i, &u) == 0; i++)
		fprintf(f, "%s\"%s\":{\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", i ? "," : "",
			u.name, u.entries, u.bytes);
	meta_txn_abort(txn);
}

/* {"store", "state" (absolute), "cache" (s3 stores), "endpoint", "pid", "version"}. */
static void mount_info(struct fs *fs, FILE *f)
{
	char state[PATH_MAX];
	json_t *o;
	char *text;

	if (!realpath(fs->conf.state, state))
		snprintf(state, sizeof(state), "%s", fs->conf.state);
	o = json_pack("{s:s, s:s, s:s?, s:s?, s:I, s:s}", "store", fs->conf.store, "state", state,
		      "cache", fs->remote ? fs->cache_dir : NULL, "endpoint", fs->conf.endpoint,
		      "pid", (json_int_t)getpid(), "version", ARTIFS_VERSION);
	text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	if (text)
		fprintf(f, "%s\n", text);
	free(text);
	json_decref(o);
}

static void stats_close(FILE *f)
{
	fputs("}}\n", f);
}

int fs_ctl_content(struct fs *fs, uint64_t ino, char **buf, size_t *len)
{
	struct drafts_arg d = { .fs = fs };
	struct meta_txn *txn;
	int err = 0;

	d.f = open_memstream(&d.buf, &d.len);
	if (!d.f)
		return ENOMEM;
	switch (ino) {
	case FS_CTL_VERSION_INO:
		fprintf(d.f, "artifs %s\n", ARTIFS_VERSION);
		break;
	case FS_CTL_STATS_INO:
		stats_store(fs, d.f);
		fprintf(d.f,
			"{\"commits\":%" PRIu64 ",\"commit_noops\":%" PRIu64
			",\"commit_errors\":%" PRIu64 ",\"chunks_fetched\":%" PRIu64
			",\"bytes_fetched\":%" PRIu64 ",\"chunks_stored\":%" PRIu64
			",\"bytes_stored\":%" PRIu64 ",\"rcache_hits\":%" PRIu64
			",\"rcache_misses\":%" PRIu64 ",\"read_errors\":%" PRIu64,
			(uint64_t)fs->st.commits, (uint64_t)fs->st.commit_noops,
			(uint64_t)fs->st.commit_errors, (uint64_t)fs->st.chunks_fetched,
			(uint64_t)fs->st.bytes_fetched, (uint64_t)fs->st.chunks_stored,
			(uint64_t)fs->st.bytes_stored, (uint64_t)fs->st.rcache_hits,
			(uint64_t)fs->st.rcache_misses, (uint64_t)fs->st.read_errors);
		stats_index(fs, d.f);
		stats_close(d.f);
		break;
	case FS_CTL_ERRORS_INO:
		fs_errors_print(d.f);
		break;
	case FS_CTL_MOUNT_INO:
		mount_info(fs, d.f);
		break;
	case FS_CTL_DRAFTS_INO:
		err = meta_txn_begin(fs->meta, 1, &txn);
		if (!err) {
			err = meta_artifact_iter(txn, drafts_fn, &d);
			meta_txn_abort(txn);
		}
		break;
	default:
		err = ENOENT;
	}
	fclose(d.f);
	if (err) {
		free(d.buf);
		return err;
	}
	*buf = d.buf;
	*len = d.len;
	return 0;
}
