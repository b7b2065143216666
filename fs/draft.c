/* SPDX-License-Identifier: MIT */
/*
 * Drafts: which artifacts changed in this session and when (for the quiet commit), who
 * writes to them (the producer), copy-up of HEAD files into staging files, and the sweep at
 * mount of what a crash left (what keeps an unlinked inode alive is fs/refs.c's).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fs_int.h"

struct fs_art *fs_art_get(struct fs *fs, uint64_t art_ino)
{
	struct fs_art *a;

	pthread_mutex_lock(&fs->lock);
	for (a = fs->arts; a; a = a->next)
		if (a->ino == art_ino)
			break;
	if (!a) {
		/* Artifacts touched in a session are few; they stay until unmount. */
		a = calloc(1, sizeof(*a));
		if (a) {
			a->ino = art_ino;
			fs_mutex_init(&a->commit_lock, 0);
			fs_mutex_init(&a->refresh_lock, 0);
			fs_mutex_init(&a->lock, 1);
			fs_mutex_init(&a->tag_lock, 0);
			a->next = fs->arts;
			fs->arts = a;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return a;
}

int fs_head_lock(struct fs *fs, uint64_t ino, struct meta_inode *in, struct fs_art **art)
{
	int err = fs_inode_read(fs, ino, in);

	*art = NULL;
	if (err)
		return err;
	if (in->kind != MK_HEAD && in->kind != MK_ARTIFACT)
		return 0;
	*art = fs_art_get(fs, in->artifact);
	if (!*art)
		return ENOMEM;
	fs_mutex_lock(&(*art)->lock);
	return 0;
}
void fs_head_unlock(struct fs_art *art)
{
	if (art)
		fs_mutex_unlock(&art->lock);
}

/* The committer sleeps until the earliest due draft: it is woken only when a draft may now
 * be due sooner than it planned (newly scheduled, a failure's pause cleared, the last writer
 * gone), not at every write, which only moves a deadline later. */
void fs_art_touch(struct fs *fs, struct fs_art *art)
{
	int sooner;

	pthread_mutex_lock(&fs->lock);
	sooner = !art->scheduled || art->failed;
	art->scheduled = 1;
	art->failed = 0;
	art->last_change = fs_mono_ns();
	if (sooner)
		pthread_cond_broadcast(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

void fs_art_changed(struct fs *fs, struct fs_art *art)
{
	fs_lineage_writer(fs, art, fs_req_pid(), NULL, 0);
	fs_art_touch(fs, art);
}

void fs_art_writers(struct fs *fs, struct fs_art *art, int delta)
{
	pthread_mutex_lock(&fs->lock);
	art->writers += delta;
	art->last_change = fs_mono_ns();
	if (art->writers == 0)
		pthread_cond_broadcast(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

int fs_art_skipped(struct fs_art *art, uint64_t n, int add)
{
	uint64_t *nv;

	for (size_t i = 0; i < art->nskipped; i++)
		if (art->skipped[i] == n)
			return 1;
	if (!add)
		return 0;
	nv = be_grow(art->skipped, art->nskipped, &art->capskipped, sizeof(*nv));
	if (nv) {
		art->skipped = nv;
		nv[art->nskipped++] = n;
	}
	return 0;
}

void fs_art_why(struct fs *fs, uint64_t art_ino, char *out, size_t len, uint64_t *done,
		uint64_t *total, int *held)
{
	out[0] = '\0';
	*done = *total = 0;
	*held = 0;
	pthread_mutex_lock(&fs->lock);
	for (struct fs_art *a = fs->arts; a; a = a->next)
		if (a->ino == art_ino) {
			snprintf(out, len, "%s", a->why);
			*total = atomic_load(&a->commit_total);
			*done = atomic_load(&a->commit_done);
			*held = fs_lineage_job(fs, a) == FS_JOB_HELD;
		}
	pthread_mutex_unlock(&fs->lock);
}

/* Whether an option or variable name says its value is a secret. */
static int secret_name(const char *s, size_t n)
{
	static const char *const words[] = { "password", "passwd", "secret", "token", "key",
					     "credential" };

	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		size_t wl = strlen(words[w]);

		for (size_t i = 0; i + wl <= n; i++)
			if (strncasecmp(s + i, words[w], wl) == 0)
				return 1;
	}
	return 0;
}

/*
 * The command line of a producer is stored in an immutable manifest that every host reads:
 * values of options and variables whose names contain password, passwd, secret, token, key
 * or credential (--password=x, --api-key x, HF_TOKEN=x) and the password of a URL's
 * user:password@ become "***" (docs/lineage.md).
 * args holds n bytes of NUL-separated arguments; out gets them space-separated, redacted.
 */
static size_t redact(char *args, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	int next_secret = 0;

	for (char *a = args; a < args + n; a += strlen(a) + 1) {
		const char *eq = strchr(a, '='), *at, *colon, *scheme;
		char tmp[1024];

		snprintf(tmp, sizeof(tmp), "%s", a);
		if (next_secret) {
			snprintf(tmp, sizeof(tmp), "***");
			next_secret = 0;
		} else if (eq && secret_name(a, eq - a)) {
			snprintf(tmp, sizeof(tmp), "%.*s=***", (int)(eq - a), a);
		} else if (a[0] == '-' && !eq && secret_name(a, strlen(a))) {
			next_secret = 1;
		} else if ((scheme = strstr(tmp, "://")) && (at = strchr(scheme + 3, '@')) &&
			   (colon = memchr(scheme + 3, ':', at - (scheme + 3)))) {
			char rest[1024];

			snprintf(rest, sizeof(rest), "%s", at);
			snprintf(tmp + (colon - tmp), sizeof(tmp) - (colon - tmp), ":***%s", rest);
		}
		o += snprintf(out + o, o < outlen ? outlen - o : 0, "%s%s", o ? " " : "", tmp);
		if (o >= outlen)
			break;
	}
	if (o >= outlen)
		o = outlen - 1;
	out[o] = '\0';
	return o;
}

static void read_proc(pid_t pid, const char *what, char *out, size_t len)
{
	char path[64], raw[4096];
	ssize_t n;
	int fd;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, raw, sizeof(raw) - 1);
	close(fd);
	if (n <= 0)
		return;
	raw[n] = '\0';
	if (raw[n - 1] == '\0')
		n--;
	redact(raw, (size_t)n, out, len);
	for (n = strlen(out); n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\n');)
		out[--n] = '\0';
}

void fs_art_producer(struct fs *fs, struct fs_art *art, const struct fuse_ctx *ctx,
		     const char *run)
{
	char cmd[1024], host[256] = "", user[64] = "", pwbuf[1024];
	struct passwd pw, *pwp = NULL;
	json_t *o;
	char *s;
	int same;

	/* A job writing many files opens them one after the other: /proc, the user database
	 * and the JSON once per writer, not once per open. */
	pthread_mutex_lock(&fs->lock);
	same = art->producer[0] && art->producer_pid == ctx->pid &&
	       strcmp(art->producer_run, run ? run : "") == 0;
	pthread_mutex_unlock(&fs->lock);
	if (same)
		return;
	read_proc(ctx->pid, "cmdline", cmd, sizeof(cmd));
	gethostname(host, sizeof(host) - 1);
	if (getpwuid_r(ctx->uid, &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 && pwp)
		snprintf(user, sizeof(user), "%s", pw.pw_name);
	o = json_pack("{s:s, s:i, s:i, s:s, s:i, s:s, s:s, s:s}", "user", user, "uid",
		      (json_int_t)ctx->uid, "gid", (json_int_t)ctx->gid, "host", host, "pid",
		      (json_int_t)ctx->pid, "command", cmd, "run", run ? run : "", "artifs",
		      ARTIFS_VERSION);
	if (!o)
		return;
	s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(o);
	if (!s)
		return;
	pthread_mutex_lock(&fs->lock);
	snprintf(art->producer, sizeof(art->producer), "%s", s);
	art->producer_pid = ctx->pid;
	snprintf(art->producer_run, sizeof(art->producer_run), "%s", run ? run : "");
	pthread_mutex_unlock(&fs->lock);
	free(s);
}

struct stage_arg {
	uint64_t ino;
};

static int stage_commit_fn(struct meta_txn *txn, void *arg)
{
	struct stage_arg *sa = arg;
	struct meta_inode in;
	int err = meta_inode_get(txn, sa->ino, &in);

	if (err)
		return err;
	in.flags |= MI_STAGED;
	err = meta_inode_put(txn, &in);
	if (!err)
		err = meta_chunks_del(txn, sa->ino);
	if (err == ENOENT)
		err = 0;
	/* Opening for writing is a change of the draft, even before the first byte. */
	if (!err)
		err = meta_artifact_draft_mark(txn, in.artifact);
	return err;
}

/* Reads ino and, unless it is staged or skip_chunks, its chunk list (*refs caller-frees). */
static int stage_read(struct fs *fs, uint64_t ino, int skip_chunks, struct meta_inode *in,
		      struct chunk_ref **refs, size_t *n)
{
	struct meta_txn *txn;
	int err = meta_txn_begin(fs->meta, 1, &txn);

	*refs = NULL;
	*n = 0;
	if (err)
		return err;
	err = meta_inode_get(txn, ino, in);
	if (!err && !(in->flags & MI_STAGED) && !skip_chunks) {
		err = meta_chunks_get(txn, ino, refs, n);
		if (err == ENOENT)
			err = 0; /* an empty file has no chunk list */
	}
	meta_txn_abort(txn);
	return err;
}

/* Writes the chunks' bytes to fd (the new staging file at path), with the file's mtime (an
 * open for writing is not a write), and syncs it. Blocks on the store. */
static int copy_chunks(struct fs *fs, int fd, const char *path, const struct chunk_ref *refs,
		       size_t n, int64_t mtime_ns)
{
	struct timespec ts[2];
	uint8_t *buf = NULL;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		const uint8_t *data;

		/* Fetched outside the decoded-chunk cache: the staging file holds these bytes
		 * from now on, and a copy-up of a large file would only push out what readers
		 * use (and hold the daemon's memory at the cache's bound during the commit). */
		be_buf_free(buf);
		if (fs_chunk_unplaced(&refs[i])) {
			err = EIO; /* logged when its version was read in */
			break;
		}
		buf = be_buf_alloc(CHUNK_FETCH_CAP(refs[i].len));
		err = buf ? fs_chunk_fetch(fs, &refs[i], buf) : ENOMEM;
		if (err)
			break;
		data = buf + CHUNK_FETCH_OFF;
		for (size_t done = 0; done < refs[i].len;) {
			ssize_t w = write(fd, data + done, refs[i].len - done);

			if (w < 0) {
				err = errno;
				log_msg(LOG_ERR, "cannot write staging file %s: %s", path,
					strerror(err));
				break;
			}
			done += w;
		}
	}
	be_buf_free(buf);
	if (err)
		return err;
	fs_ts_set(&ts[0], mtime_ns);
	ts[1] = ts[0];
	if (futimens(fd, ts))
		log_msg(LOG_WARNING, "cannot set times of %s: %s", path, strerror(errno));
	return fsync(fd) ? errno : 0;
}

/* The copy-ups of one open that may each find the file changed when they look again. */
#define STAGE_TRIES 3

int fs_stage(struct fs *fs, struct fs_art *art, uint64_t ino, int trunc)
{
	struct stage_arg sa = { ino };
	char path[4200], tmp[4300];
	int err = 0;

	FS_ASSERT_HELD(&art->lock);
	fs_staging_path(fs, ino, path, sizeof(path));
	for (int tries = 0; tries < STAGE_TRIES; tries++) {
		struct meta_inode in, now;
		struct chunk_ref *refs, *nrefs;
		size_t n, nn;
		int fd;

		err = stage_read(fs, ino, trunc, &in, &refs, &n);
		if (err)
			return err;
		if (in.flags & MI_STAGED) {
			if (trunc) {
				struct fs_open *wo = fs_write_hold(fs, ino);

				err = !wo ? ENOMEM : truncate(path, 0) ? errno : 0;
				fs_write_drop(fs, wo);
				if (err)
					return err;
			}
			return meta_write(fs->meta, stage_commit_fn, &sa);
		}
		/*
		 * Copy-up: the staging file gets the file's bytes, is synced, and only then does
		 * the index say the file is staged. The bytes come from the store with the
		 * artifact's lock dropped (no network under it), into a file of this thread's
		 * own; under the lock again it becomes the staging file if the HEAD file is still
		 * the one copied, else it goes and the copy-up starts over.
		 */
		snprintf(tmp, sizeof(tmp), "%s.up-%d", path, (int)gettid());
		fd = open(n ? tmp : path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			err = errno;
			log_msg(LOG_ERR, "cannot create staging file %s: %s", n ? tmp : path,
				strerror(err));
			free(refs);
			return err;
		}
		if (n)
			fs_mutex_unlock(&art->lock);
		err = copy_chunks(fs, fd, n ? tmp : path, refs, n, trunc ? fs_now_ns() : in.mtime_ns);
		close(fd);
		free(refs);
		if (n)
			fs_mutex_lock(&art->lock);
		if (!err && n) {
			err = stage_read(fs, ino, 1, &now, &nrefs, &nn);
			if (!err && ((now.flags & MI_STAGED) || now.size != in.size ||
				     now.mtime_ns != in.mtime_ns || memcmp(now.digest, in.digest, 32))) {
				unlink(tmp);
				continue; /* copied up, or changed, meanwhile */
			}
			if (!err && rename(tmp, path))
				err = errno;
		}
		if (err) {
			unlink(n ? tmp : path);
			return err;
		}
		err = meta_write(fs->meta, stage_commit_fn, &sa);
		if (!err)
			atomic_fetch_add(&fs->copyups, 1); /* readers of chunks look again */
		return err;
	}
	log_msg(LOG_WARNING, "copy-up of inode %" PRIu64 ": the file kept changing", ino);
	return EBUSY;
}

int fs_staging_sync(struct fs *fs)
{
	int fd = open(fs->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	if (fd < 0 || fsync(fd))
		err = errno;
	if (fd >= 0)
		close(fd);
	if (err)
		log_msg(LOG_ERR, "cannot sync %s: %s", fs->staging, strerror(err));
	return err;
}

/* ---- the sweep at mount: what a crash left behind ---- */

struct sweep_arg {
	uint64_t *orphans;
	size_t norphans;
};

static int sweep_orphans_fn(struct meta_txn *txn, void *arg)
{
	struct sweep_arg *sa = arg;
	int err;

	free(sa->orphans);
	err = meta_orphan_list(txn, &sa->orphans, &sa->norphans);
	for (size_t i = 0; i < sa->norphans && !err; i++) {
		err = meta_inode_del(txn, sa->orphans[i]);
		if (err == ENOENT)
			err = 0;
		if (!err)
			err = meta_orphan_del(txn, sa->orphans[i]);
	}
	return err;
}

/* Whether the staging file name belongs to no staged inode of the index. */
static int staging_stale(struct fs *fs, const char *name)
{
	struct meta_txn *txn;
	struct meta_inode in;
	uint64_t ino = 0;
	int err;

	for (const char *p = name; *p; p++) {
		if (p > name && strncmp(p, ".up-", 4) == 0 && strspn(p + 4, "0123456789") == strlen(p + 4))
			return 1; /* a copy-up that a crash stopped (fs_stage()) */
		if (*p < '0' || *p > '9' || ino > UINT64_MAX / 10)
			return 0; /* not ours: left alone */
		ino = ino * 10 + (uint64_t)(*p - '0');
	}
	if (!name[0] || meta_txn_begin(fs->meta, 1, &txn))
		return 0;
	err = meta_inode_get(txn, ino, &in);
	meta_txn_abort(txn);
	if (err == ENOENT)
		return 1;
	return !err && (!(in.flags & MI_STAGED) || in.nlink == 0 || in.kind != MK_HEAD);
}

int fs_sweep(struct fs *fs)
{
	struct sweep_arg sa = { 0 };
	struct dirent *d;
	size_t files = 0;
	DIR *dir;
	int err = meta_write(fs->meta, sweep_orphans_fn, &sa);

	if (err) {
		log_msg(LOG_ERR, "sweep: cannot free the inodes unlinked before a crash: %s",
			strerror(err));
		free(sa.orphans);
		return err;
	}
	dir = opendir(fs->staging);
	if (!dir)
		return errno;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.' || !staging_stale(fs, d->d_name))
			continue;
		if (unlinkat(dirfd(dir), d->d_name, 0) == 0)
			files++;
	}
	closedir(dir);
	if (sa.norphans || files)
		log_msg(LOG_INFO, "sweep: freed %zu inode(s) unlinked while still in use and %zu "
			"staging file(s) no inode needed, left by the last mount", sa.norphans, files);
	free(sa.orphans);
	return 0;
}

void fs_drafts_free(struct fs *fs)
{
	while (fs->arts) {
		struct fs_art *a = fs->arts;

		fs->arts = a->next;
		fs_mutex_destroy(&a->commit_lock);
		fs_mutex_destroy(&a->refresh_lock);
		fs_mutex_destroy(&a->lock);
		fs_mutex_destroy(&a->tag_lock);
		free(a->skipped);
		free(a);
	}
	fs_refs_free(fs);
}
