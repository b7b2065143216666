/* SPDX-License-Identifier: MIT */
/*
 * The daemon's state: the state directory, the store stack (leaf, cache layer) and the
 * index opened at mount (and by rebuild), and closed at exit.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs_int.h"

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return EINVAL;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return errno;
	return 0;
}
/* The store, state and staging directories, made when absent. */
static int dirs_make(struct fs *fs, int create_store)
{
	int err;

	if (create_store && strncmp(fs->conf.store, "s3://", 5) != 0) {
		err = mkdir_p(fs->conf.store);
		if (err) {
			log_msg(LOG_ERR, "cannot create store directory %s: %s", fs->conf.store,
				strerror(err));
			return err;
		}
	}
	err = mkdir_p(fs->conf.state);
	if (err) {
		log_msg(LOG_ERR, "cannot create state directory %s: %s", fs->conf.state,
			strerror(err));
		return err;
	}
	snprintf(fs->staging, sizeof(fs->staging), "%s/staging", fs->conf.state);
	err = mkdir_p(fs->staging);
	if (err)
		log_msg(LOG_ERR, "cannot create %s: %s", fs->staging, strerror(err));
	return err;
}

/* An s3:// store: the S3 leaf, and (cached) a local disk cache in front of it for the
 * chunks, which are immutable. */
static int s3_open(struct fs *fs, int with_cache)
{
	struct be_s3_conf sc = { .endpoint = fs->conf.endpoint, .max_retries = fs->conf.retries };
	struct be_cache_conf cc = { .dir = fs->cache_dir, .max_bytes = fs->conf.cache_size };
	const char *why = NULL;
	struct be *cached;
	int err = be_s3_parse_url(fs->conf.store, &fs->s3_bucket, &fs->s3_prefix);

	if (err) {
		log_msg(LOG_ERR, "store %s: not an s3://bucket[/prefix] URL", fs->conf.store);
		return err;
	}
	sc.bucket = fs->s3_bucket;
	sc.prefix = fs->s3_prefix;
	err = be_s3_create(&sc, &fs->be, &why);
	if (err) {
		log_msg(LOG_ERR, "store %s: %s", fs->conf.store, why ? why : strerror(err));
		return err;
	}
	if (!be_s3_conditional_writes(fs->be))
		log_msg(LOG_WARNING, "store %s does not honour If-None-Match: commit to each artifact "
				     "from one host at a time", fs->conf.store);
	if (!with_cache)
		return 0;
	if (fs->conf.cache_dir)
		snprintf(fs->cache_dir, sizeof(fs->cache_dir), "%s", fs->conf.cache_dir);
	else
		snprintf(fs->cache_dir, sizeof(fs->cache_dir), "%s/cache", fs->conf.state);
	err = be_cache_create(&cc, fs->be, &cached);
	if (err) {
		log_msg(LOG_ERR, "cache %s: %s", fs->cache_dir, strerror(err));
		return err;
	}
	fs->be = cached;
	fs->remote = 1;
	return 0;
}

void fs_log_open(struct fs *fs)
{
	char dir[PATH_MAX], path[PATH_MAX + 8];
	int err;

	/* Absolute: the daemon leaves its working directory, and the file is reopened by name. */
	if (!realpath(fs->conf.state, dir))
		snprintf(dir, sizeof(dir), "%s", fs->conf.state);
	snprintf(path, sizeof(path), "%s/log", dir);
	err = log_to_file(path);
	if (err)
		log_msg(LOG_WARNING, "cannot write the log file %s: %s", path, strerror(err));
}

int fs_open_store(struct fs *fs, int create_store, int cached)
{
	struct be_local_conf lc = { .root = fs->conf.store };
	const char *why = NULL;
	int err;

	if (strncmp(fs->conf.store, "s3://", 5) == 0) {
		err = s3_open(fs, cached);
	} else {
		err = be_local_create(&lc, &fs->be);
		if (err)
			log_msg(LOG_ERR, "cannot open store %s: %s", fs->conf.store, strerror(err));
	}
	if (err)
		goto fail;
	store_conf_init(&fs->sc);
	err = store_open(fs->be, create_store, &fs->sc, &why);
	if (!err)
		return 0;
	log_msg(LOG_ERR, "store %s: %s", fs->conf.store, why ? why : strerror(err));
fail:
	fs_close_store(fs);
	return err;
}

void fs_close_store(struct fs *fs)
{
	be_destroy(fs->be);
	fs->be = NULL;
	free(fs->s3_bucket);
	free(fs->s3_prefix);
	fs->s3_bucket = fs->s3_prefix = NULL;
}

int fs_open_backing(struct fs *fs, int create_store)
{
	struct meta_conf mc = { .dir = fs->conf.state, .map_size = fs->conf.map_size };
	const char *why = NULL;
	int err = dirs_make(fs, create_store);

	if (!err)
		err = fs_open_store(fs, create_store, 1);
	if (err)
		return err;
	err = meta_open(&mc, &fs->meta, &why);
	if (err) {
		log_msg(LOG_ERR, "state %s: %s", fs->conf.state, why ? why : strerror(err));
		goto fail_be;
	}
	err = rcache_create(fs->conf.rcache_bytes, &fs->rc);
	if (err)
		goto fail_meta;
	rcache_prefetch_start(fs);
	return 0;
fail_meta:
	meta_close(fs->meta);
	fs->meta = NULL;
fail_be:
	fs_close_store(fs);
	return err;
}

void fs_close_backing(struct fs *fs)
{
	if (fs->rc)
		rcache_destroy(fs->rc);
	if (fs->meta)
		meta_close(fs->meta);
	fs_close_store(fs);
	fs->rc = NULL;
	fs->meta = NULL;
}

int fs_offline_open(const struct fs_conf *c, struct fs **out)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	int err;

	if (!fs)
		return ENOMEM;
	fs->conf = *c;
	pthread_mutex_init(&fs->lock, NULL);
	err = fs_open_store(fs, 0, 0);
	if (err) {
		fs_offline_close(fs);
		return err;
	}
	*out = fs;
	return 0;
}

void fs_offline_close(struct fs *fs)
{
	if (!fs)
		return;
	fs_close_store(fs);
	fs_gc_marks_free(fs);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}
