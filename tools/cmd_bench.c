/* SPDX-License-Identifier: MIT */
/*
 * artifs bench DIR [--baseline DIR]: ordinary file operations on an artifact folder of a
 * mount, and the same on a plain folder, interleaved (each scenario of each round runs on
 * every system in turn), then one table of medians, min-max and ratios to the baseline in
 * the format of `make bench`. It never fails on speed: 1 only when an operation fails.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

#define BLOCK (1 << 20)
#define NSYS 2

enum row { R_WRITE, R_RCOLD, R_RWARM, R_SWRITE, R_SCOLD, R_SWARM, R_FCOLD, R_FWARM,
	   R_SETX, R_GETX, R_N };

static const struct {
	const char *id, *unit;
	int cold;
} rows[R_N] = {
	[R_WRITE] = { "1", "MiB/s", 0 },    [R_RCOLD] = { "2a", "MiB/s", 1 },
	[R_RWARM] = { "2b", "MiB/s", 0 },   [R_SWRITE] = { "3a", "files/s", 0 },
	[R_SCOLD] = { "3b", "files/s", 1 }, [R_SWARM] = { "3c", "files/s", 0 },
	[R_FCOLD] = { "3d", "files/s", 1 }, [R_FWARM] = { "3e", "files/s", 0 },
	[R_SETX] = { "4a", "ops/s", 0 },    [R_GETX] = { "4b", "ops/s", 0 },
};

struct sys {
	const char *name;
	int artifs;
	int no_xattr;		/* baseline: the filesystem refuses user xattrs */
	int hold;		/* artifs: a file open for writing while the HEAD changes */
	char hold_path[PATH_MAX + 64];
	char dir[PATH_MAX];	/* the artifact folder (HEAD), or the baseline's temp folder */
	char sub[PATH_MAX];	/* this round's folder in dir, "" before the first round */
	char ver[PATH_MAX * 2]; /* where this round's committed files are read */
};

struct bench {
	uint64_t big, small_size, seed;
	unsigned small_count, rounds;
	int cold, keep, nsys;
	char run[64];		/* the name stem of this run's folders */
	uint64_t first_ver, last_ver;
	struct sys sys[NSYS];
	double *res;		/* [row][sys][round], NAN when not measured */
	char *buf;		/* the one block buffer */
};

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double *cell(struct bench *b, int row, int sys, unsigned round)
{
	return &b->res[((size_t)row * NSYS + sys) * b->rounds + round];
}

static int fail(const char *what, const char *path, int err)
{
	if (stop_sig && err == EINTR)
		return 1; /* the caller reports the interruption */
	fprintf(stderr, "artifs bench: %s: %s: %s\n", path, what, strerror(err));
	return 1;
}

/* Fresh incompressible bytes from a seed: xorshift64* over splitmix64 of the seed, so any
 * change of the seed changes every byte (and thus every chunk). */
static void fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ULL, s, *p = buf;
	size_t i, words = len / 8;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	s = (z ^ (z >> 31)) | 1;
	for (i = 0; i < words; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		p[i] = s * 0x2545f4914f6cdd1dULL;
	}
	if (len % 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		s *= 0x2545f4914f6cdd1dULL;
		memcpy((char *)buf + words * 8, &s, len % 8);
	}
}

static uint64_t seed_of(struct bench *b, unsigned round, int sys, int kind, uint64_t idx)
{
	return b->seed + (((uint64_t)round * 4 + sys * 2 + kind) << 40) + idx;
}

static void size_str(uint64_t n, char *out, size_t len)
{
	if (n % (1ULL << 30) == 0)
		snprintf(out, len, "%llu GiB", (unsigned long long)(n >> 30));
	else if (n % (1ULL << 20) == 0)
		snprintf(out, len, "%llu MiB", (unsigned long long)(n >> 20));
	else if (n % 1024 == 0)
		snprintf(out, len, "%llu KiB", (unsigned long long)(n >> 10));
	else
		snprintf(out, len, "%llu bytes", (unsigned long long)n);
}

/* The number format of `make bench`'s table. */
static void fmt(double x, char *out, size_t len)
{
	if (isnan(x))
		snprintf(out, len, "n/a");
	else if (fabs(x) >= 100)
		snprintf(out, len, "%.0f", x);
	else if (fabs(x) < 10)
		snprintf(out, len, "%.3g", x);
	else
		snprintf(out, len, "%.1f", x);
}

static const char *file_of(char *out, size_t len, const char *dir, unsigned i)
{
	snprintf(out, len, "%s/small/f%06u", dir, i);
	return out;
}

static int rm_fn(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (remove(path) && errno != ENOENT)
		return errno;
	return 0;
}

/* rm -rf: 0 or an errno. */
static int rmtree(const char *path)
{
	int err;

	if (!path[0] || access(path, F_OK))
		return 0;
	err = nftw(path, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
	return err < 0 ? errno : err;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0)
			return errno;
		p += n;
		len -= n;
	}
	return 0;
}

/* sync, then drop the page cache, dentries and inodes. */
static int drop_caches(void)
{
	int fd, err = 0;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("open", "/proc/sys/vm/drop_caches", errno);
	if (write(fd, "3", 1) != 1)
		err = errno;
	close(fd);
	return err ? fail("write", "/proc/sys/vm/drop_caches", err) : 0;
}

/* The synchronous commit of the artifact's draft; the version it made (or the newest, when
 * nothing changed) into *ver. */
static int art_commit(struct bench *b, struct sys *s, const char *msg, uint64_t *ver)
{
	char v[32];
	ssize_t n;

	if (setxattr(s->dir, "user.artifs.commit", msg, strlen(msg), 0))
		return fail("commit (setxattr user.artifs.commit)", s->dir, errno);
	n = getxattr(s->dir, "user.artifs.version", v, sizeof(v) - 1);
	if (n <= 0)
		return fail("getxattr user.artifs.version after a commit", s->dir,
			    n < 0 ? errno : ENODATA);
	v[n] = '\0';
	*ver = strtoull(v, NULL, 10);
	if (!b->first_ver || *ver < b->first_ver)
		b->first_ver = *ver;
	if (*ver > b->last_ver)
		b->last_ver = *ver;
	return 0;
}

/*
 * While a HEAD changes in many steps (files written, removed, xattrs set), a file of the
 * artifact is kept open for writing, so that a mount with commit_delay=0 makes one version
 * at the bench's commit, not one per close or unlink. It is removed before that commit.
 */
static int hold_open(struct sys *s)
{
	if (!s->artifs || s->hold >= 0)
		return 0;
	s->hold = open(s->hold_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	return s->hold < 0 ? fail("open", s->hold_path, errno) : 0;
}

static int hold_close(struct sys *s)
{
	int err = 0;

	if (s->hold < 0)
		return 0;
	if (unlink(s->hold_path))
		err = fail("unlink", s->hold_path, errno);
	close(s->hold);
	s->hold = -1;
	return err;
}

/* Points s->ver at this round's folder: in version @vN for artifs, the folder itself else. */
static void set_ver(struct sys *s, uint64_t ver)
{
	const char *name = strrchr(s->sub, '/') + 1;

	if (s->artifs)
		snprintf(s->ver, sizeof(s->ver), "%s/@v%llu/%s", s->dir, (unsigned long long)ver,
			 name);
	else
		snprintf(s->ver, sizeof(s->ver), "%s", s->sub);
}

/* A new folder for the round; the last round's goes (in a HEAD: with the next commit). */
static int round_start(struct bench *b, struct sys *s, unsigned round)
{
	char sub[sizeof(s->sub)];
	int err = hold_open(s);

	if (err)
		return err;
	err = rmtree(s->sub);
	if (err)
		return fail("removing the last round's folder", s->sub, err);
	snprintf(sub, sizeof(sub), "%s/%s-r%u", s->dir, b->run, round + 1);
	memcpy(s->sub, sub, sizeof(sub));
	if (mkdir(s->sub, 0755))
		return fail("mkdir", s->sub, errno);
	return 0;
}

/* 1: the big file in 1 MiB write()s, fsync, close, then the commit (artifs); MiB/s to the
 * version being visible. Making the bytes is not timed. */
static int big_write(struct bench *b, struct sys *s, int si, unsigned round, double *out)
{
	char path[PATH_MAX + 8], msg[128];
	int64_t t0, gen = 0, g;
	uint64_t off, ver = 0;
	int fd, err;

	snprintf(path, sizeof(path), "%s/big", s->sub);
	t0 = now_ns();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("open", path, errno);
	for (off = 0; off < b->big; off += BLOCK) {
		size_t n = b->big - off < BLOCK ? b->big - off : BLOCK;

		if (stop_sig) {
			close(fd);
			return 1;
		}
		g = now_ns();
		fill(b->buf, n, seed_of(b, round, si, 0, off / BLOCK));
		gen += now_ns() - g;
		err = write_all(fd, b->buf, n);
		if (err) {
			close(fd);
			return fail("write", path, err);
		}
	}
	if (fsync(fd)) {
		err = errno;
		close(fd);
		return fail("fsync", path, err);
	}
	if (close(fd))
		return fail("close", path, errno);
	if (s->artifs) {
		snprintf(msg, sizeof(msg), "artifs bench: round %u, big file", round + 1);
		if (hold_close(s))
			return 1;
		if (art_commit(b, s, msg, &ver))
			return 1;
	}
	*out = (double)b->big / (1 << 20) / ((now_ns() - t0 - gen) / 1e9);
	set_ver(s, ver);
	return 0;
}

/* 2: one sequential read of the committed big file in 1 MiB read()s; MiB/s. */
static int big_read(struct bench *b, struct sys *s, double *out)
{
	char path[sizeof(s->ver) + 8];
	uint64_t total = 0;
	int64_t t0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/big", s->ver);
	t0 = now_ns();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("open", path, errno);
	while ((n = read(fd, b->buf, BLOCK)) > 0) {
		total += n;
		if (stop_sig)
			break;
	}
	if (n < 0) {
		int err = errno;

		close(fd);
		return fail("read", path, err);
	}
	close(fd);
	if (stop_sig)
		return 1;
	*out = (double)total / (1 << 20) / ((now_ns() - t0) / 1e9);
	if (total != b->big) {
		fprintf(stderr, "artifs bench: %s: read %llu bytes, wrote %llu\n", path,
			(unsigned long long)total, (unsigned long long)b->big);
		return 1;
	}
	return 0;
}

/* 3a and 4a: N small files into a new folder, then user.bench set on each, then the commit
 * (artifs) or a syncfs (baseline). */
static int small_write(struct bench *b, struct sys *s, int si, unsigned round, double *files,
		       double *setx)
{
	char path[PATH_MAX + 32], val[32], msg[128];
	int64_t t0, gen = 0, g, t_write, t_commit;
	uint64_t ver = 0;
	unsigned i;
	int fd, err;

	if (hold_open(s))
		return 1;
	snprintf(path, sizeof(path), "%s/small", s->sub);
	if (mkdir(path, 0755))
		return fail("mkdir", path, errno);
	t0 = now_ns();
	for (i = 0; i < b->small_count; i++) {
		uint64_t off = 0;

		if (stop_sig)
			return 1;
		fd = open(file_of(path, sizeof(path), s->sub, i),
			  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return fail("open", path, errno);
		do {
			size_t n = b->small_size - off < BLOCK ? b->small_size - off : BLOCK;

			g = now_ns();
			fill(b->buf, n, seed_of(b, round, si, 1, ((uint64_t)i << 20) + off / BLOCK));
			gen += now_ns() - g;
			err = write_all(fd, b->buf, n);
			off += n;
		} while (!err && off < b->small_size);
		if (err) {
			close(fd);
			return fail("write", path, err);
		}
		if (close(fd))
			return fail("close", path, errno);
	}
	t_write = now_ns() - t0 - gen;

	*setx = NAN;
	t0 = now_ns();
	for (i = 0; i < b->small_count && !s->no_xattr; i++) {
		int n = snprintf(val, sizeof(val), "value-%06u", i);

		if (stop_sig)
			return 1;
		if (setxattr(file_of(path, sizeof(path), s->sub, i), "user.bench", val, n, 0)) {
			if (!s->artifs && i == 0 && errno == ENOTSUP) {
				fprintf(stderr, "artifs bench: %s refuses user xattrs (%s): the "
						"xattr rows of %s are n/a\n",
					s->dir, strerror(errno), s->name);
				s->no_xattr = 1;
				break;
			}
			return fail("setxattr user.bench", path, errno);
		}
	}
	if (!s->no_xattr)
		*setx = b->small_count / ((now_ns() - t0) / 1e9);

	t0 = now_ns();
	if (s->artifs) {
		snprintf(msg, sizeof(msg), "artifs bench: round %u, %u small files", round + 1,
			 b->small_count);
		if (hold_close(s) || art_commit(b, s, msg, &ver))
			return 1;
	} else {
		fd = open(s->sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || syncfs(fd)) {
			err = fail("syncfs", s->sub, errno);
			if (fd >= 0)
				close(fd);
			return err;
		}
		close(fd);
	}
	t_commit = now_ns() - t0;
	*files = b->small_count / ((t_write + t_commit) / 1e9);
	set_ver(s, ver);
	return 0;
}

/* 3b-3e: a listing of the committed small folder with a stat, or an open + read to the end
 * + close, of every entry; files/s. */
static int small_pass(struct bench *b, struct sys *s, int rd, double *out)
{
	char path[sizeof(s->ver) + 8];
	uint64_t bytes = 0;
	unsigned count = 0;
	struct dirent *e = NULL;
	struct stat st;
	int64_t t0;
	int err = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/small", s->ver);
	t0 = now_ns();
	d = opendir(path);
	if (!d)
		return fail("opendir", path, errno);
	while (!err && !stop_sig && (errno = 0, e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (!rd) {
			if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
				err = errno;
		} else {
			int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
			ssize_t n;

			if (fd < 0) {
				err = errno;
				break;
			}
			while ((n = read(fd, b->buf, BLOCK)) > 0)
				bytes += n;
			if (n < 0)
				err = errno;
			close(fd);
		}
		count++;
	}
	if (!err && !e && errno)
		err = errno;
	if (err && e)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", e->d_name);
	closedir(d);
	if (stop_sig)
		return 1;
	if (err)
		return fail(rd ? "read" : "stat", path, err);
	*out = count / ((now_ns() - t0) / 1e9);
	if (count != b->small_count || (rd && bytes != b->small_size * count)) {
		fprintf(stderr, "artifs bench: %s: found %u files (%llu bytes), wrote %u\n", path,
			count, (unsigned long long)bytes, b->small_count);
		return 1;
	}
	return 0;
}

/* 4b: getxattr of user.bench on every committed small file; ops/s. */
static int small_getx(struct bench *b, struct sys *s, double *out)
{
	char path[sizeof(s->ver) + 32], want[32], got[64];
	int64_t t0 = now_ns();
	unsigned i;

	if (s->no_xattr) {
		*out = NAN;
		return 0;
	}
	for (i = 0; i < b->small_count; i++) {
		int wl = snprintf(want, sizeof(want), "value-%06u", i);
		ssize_t n;

		if (stop_sig)
			return 1;
		n = getxattr(file_of(path, sizeof(path), s->ver, i), "user.bench", got, sizeof(got));
		if (n < 0)
			return fail("getxattr user.bench", path, errno);
		if (n != wl || memcmp(got, want, wl)) {
			fprintf(stderr, "artifs bench: %s: user.bench is '%.*s', set '%s'\n", path,
				(int)n, got, want);
			return 1;
		}
	}
	*out = b->small_count / ((now_ns() - t0) / 1e9);
	return 0;
}

static void say(struct bench *b, unsigned round, int row, int si, double v)
{
	char num[32];

	fmt(v, num, sizeof(num));
	fprintf(stderr, "artifs bench: round %u/%u: %s %s %s %s\n", round + 1, b->rounds,
		rows[row].id, b->sys[si].name, num, rows[row].unit);
}

/* Runs step on every system in turn and records its value(s). */
#define EACH_SYS(stmt)                                                      \
	for (int si = 0; si < b->nsys; si++) {                              \
		struct sys *s = &b->sys[si];                                \
		(void)s;                                                    \
		if (stop_sig || (stmt))                                     \
			return 1;                                           \
	}

static int rec(struct bench *b, unsigned round, int row, int si, double v)
{
	*cell(b, row, si, round) = v;
	say(b, round, row, si, v);
	return 0;
}

static int one_round(struct bench *b, unsigned r)
{
	double v, w;

	EACH_SYS(round_start(b, s, r) || big_write(b, s, si, r, &v) ||
		 rec(b, r, R_WRITE, si, v));
	EACH_SYS((b->cold && (drop_caches() || big_read(b, s, &v) || rec(b, r, R_RCOLD, si, v))) ||
		 (!b->cold && big_read(b, s, &v)) || big_read(b, s, &v) ||
		 rec(b, r, R_RWARM, si, v));
	EACH_SYS(small_write(b, s, si, r, &v, &w) || rec(b, r, R_SWRITE, si, v) ||
		 rec(b, r, R_SETX, si, w));
	EACH_SYS((b->cold && (drop_caches() || small_pass(b, s, 0, &v) ||
			      rec(b, r, R_SCOLD, si, v))) ||
		 (!b->cold && small_pass(b, s, 0, &v)) || small_pass(b, s, 0, &v) ||
		 rec(b, r, R_SWARM, si, v));
	EACH_SYS((b->cold && (drop_caches() || small_pass(b, s, 1, &v) ||
			      rec(b, r, R_FCOLD, si, v))) ||
		 (!b->cold && small_pass(b, s, 1, &v)) || small_pass(b, s, 1, &v) ||
		 rec(b, r, R_FWARM, si, v));
	EACH_SYS(small_getx(b, s, &v) || rec(b, r, R_GETX, si, v));
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median, min and max of the rounds that measured; NAN when none did. */
static double stats(struct bench *b, int row, int si, double *tmp, double *lo, double *hi,
		    unsigned *nv)
{
	unsigned n = 0;

	for (unsigned r = 0; r < b->rounds; r++)
		if (!isnan(*cell(b, row, si, r)))
			tmp[n++] = *cell(b, row, si, r);
	*nv = n;
	if (!n)
		return *lo = *hi = NAN;
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	*lo = tmp[0];
	*hi = tmp[n - 1];
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static void title(struct bench *b, int row, char *out, size_t len)
{
	char big[32], small[32];

	size_str(b->big, big, sizeof(big));
	size_str(b->small_size, small, sizeof(small));
	switch (row) {
	case R_WRITE: snprintf(out, len, "write + commit, %s incompressible", big); break;
	case R_RCOLD: snprintf(out, len, "cold sequential read, %s", big); break;
	case R_RWARM: snprintf(out, len, "warm sequential read, %s", big); break;
	case R_SWRITE:
		snprintf(out, len, "%u files of %s: write + commit", b->small_count, small);
		break;
	case R_SCOLD: snprintf(out, len, "%u files: stat, cold", b->small_count); break;
	case R_SWARM: snprintf(out, len, "%u files: stat, warm", b->small_count); break;
	case R_FCOLD: snprintf(out, len, "%u files: read, cold", b->small_count); break;
	case R_FWARM: snprintf(out, len, "%u files: read, warm", b->small_count); break;
	case R_SETX: snprintf(out, len, "setxattr user.bench on %u files", b->small_count); break;
	default: snprintf(out, len, "getxattr user.bench on %u files", b->small_count); break;
	}
}

static void table(struct bench *b, int64_t secs)
{
	double *tmp = calloc(b->rounds, sizeof(*tmp));
	struct utsname u = { 0 };
	char stamp[32], t[160], m[32], lo[32], hi[32], rng[72], ratio[32];
	time_t now = time(NULL);
	struct tm tm;

	if (!tmp)
		return;
	uname(&u);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%MZ", &tm);
	printf("artifs bench, %s, %ld cores, %.0f GiB, %s, %u round%s, %lld s\n", stamp,
	       sysconf(_SC_NPROCESSORS_ONLN),
	       (double)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE) / (1 << 30), u.release,
	       b->rounds, b->rounds == 1 ? "" : "s", (long long)secs);
	printf("artifs: %s, versions @v%llu-@v%llu added", b->sys[0].dir,
	       (unsigned long long)b->first_ver, (unsigned long long)b->last_ver);
	if (b->nsys > 1)
		printf("; baseline: a folder in %.*s", (int)(strrchr(b->sys[1].dir, '/') -
							     b->sys[1].dir),
		       b->sys[1].dir);
	printf("\n");
	if (!b->cold)
		printf("cold rows skipped: dropping the page cache needs root\n");
	printf("median, min-max over rounds%s; higher is better\n",
	       b->nsys > 1 ? ", ratio of medians to the baseline" : "");
	for (int row = 0; row < R_N; row++) {
		double base = NAN;

		if (rows[row].cold && !b->cold)
			continue;
		title(b, row, t, sizeof(t));
		printf("%s %s [%s]%s\n", rows[row].id, t, rows[row].unit,
		       b->nsys > 1 ? " (ratio to baseline)" : "");
		if (b->nsys > 1) {
			double l, h;
			unsigned n;

			base = stats(b, row, 1, tmp, &l, &h, &n);
		}
		for (int si = 0; si < b->nsys; si++) {
			double l, h, med;
			unsigned n;

			med = stats(b, row, si, tmp, &l, &h, &n);
			fmt(med, m, sizeof(m));
			rng[0] = ratio[0] = '\0';
			if (n > 1) {
				fmt(l, lo, sizeof(lo));
				fmt(h, hi, sizeof(hi));
				snprintf(rng, sizeof(rng), "%s-%s", lo, hi);
			}
			if (!isnan(med) && !isnan(base) && base > 0)
				snprintf(ratio, sizeof(ratio), "%.2fx", med / base);
			snprintf(t, sizeof(t), "  %-18s %9s %17s %8s", b->sys[si].name, m, rng, ratio);
			for (size_t l2 = strlen(t); l2 && t[l2 - 1] == ' '; l2--)
				t[l2 - 1] = '\0';
			printf("%s\n", t);
		}
	}
	free(tmp);
}

/* The end of a run, also after a failure or a signal: the baseline's folder goes, and the
 * HEAD is emptied of this run's files (one more commit) unless --keep. */
static void clean_up(struct bench *b)
{
	uint64_t ver;
	int err;

	if (b->keep) {
		hold_close(&b->sys[0]);
		if (b->nsys > 1)
			fprintf(stderr, "artifs bench: kept %s\n", b->sys[1].dir);
		return;
	}
	if (b->sys[0].sub[0] && hold_open(&b->sys[0]) == 0) {
		err = rmtree(b->sys[0].sub);
		if (err)
			fprintf(stderr, "artifs bench: removing %s: %s\n", b->sys[0].sub,
				strerror(err));
		if (hold_close(&b->sys[0]) == 0 &&
		    art_commit(b, &b->sys[0], "artifs bench: clean up", &ver) == 0)
			b->sys[0].sub[0] = '\0';
	}
	if (b->nsys > 1) {
		err = rmtree(b->sys[1].dir);
		if (err)
			fprintf(stderr, "artifs bench: removing %s: %s\n", b->sys[1].dir,
				strerror(err));
	}
}

/* DIR must be project/artifact right below an artifs mount root: made when missing. */
static int art_dir(const char *arg, char *out, size_t len, char *root, size_t rlen)
{
	char path[PATH_MAX], rel[PATH_MAX], p[PATH_MAX];
	char *slash;

	if (tool_on_mount("bench", arg, path, sizeof(path), root, rlen, rel, sizeof(rel)))
		return 1;
	while (rel[0] && rel[strlen(rel) - 1] == '/')
		rel[strlen(rel) - 1] = '\0';
	slash = strchr(rel, '/');
	if (!rel[0] || !slash || strchr(slash + 1, '/') || !slash[1]) {
		fprintf(stderr, "artifs bench: %s is not an artifact folder: give "
				"%s/PROJECT/ARTIFACT (made when missing)\n", path, root);
		return 1;
	}
	snprintf(p, sizeof(p), "%s/%.*s", root, (int)(slash - rel), rel);
	if (mkdir(p, 0755) && errno != EEXIST) {
		fprintf(stderr, "artifs bench: mkdir %s: %s\n", p, strerror(errno));
		return 1;
	}
	if (snprintf(out, len, "%s/%s", root, rel) >= (int)len)
		return fail("path", rel, ENAMETOOLONG);
	if (mkdir(out, 0755) && errno != EEXIST) {
		fprintf(stderr, "artifs bench: mkdir %s: %s\n", out, strerror(errno));
		return 1;
	}
	return 0;
}

/* The bench commits whatever the HEAD holds: refuse to sweep someone's draft into it. */
static int no_draft(const char *root, const char *dir)
{
	char path[PATH_MAX + 32], line[600];
	const char *rel = dir + strlen(root);
	FILE *f;
	int found = 0;

	while (*rel == '/')
		rel++;
	snprintf(path, sizeof(path), "%s/.artifs/drafts", root);
	f = fopen(path, "r");
	if (!f)
		return 0; /* an older daemon without the list: nothing to check against */
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		found = !strcmp(line, rel);
	}
	fclose(f);
	if (found)
		fprintf(stderr, "artifs bench: %s has uncommitted changes (a draft), which the "
				"bench would commit with its own; commit or discard them first "
				"(artifs commit|discard %s)\n", dir, dir);
	return found;
}

static void help(void)
{
	printf("usage: artifs bench [--rounds N] [--big-size SIZE] [--small-count N]\n"
	       "                    [--small-size SIZE] [--baseline DIR] [--keep] DIR\n\n"
	       "Measures ordinary file operations on DIR, an artifact folder on an artifs mount\n"
	       "(e.g. /artifacts/scratch/bench, made when missing), and with --baseline the same\n"
	       "on a plain folder (e.g. on the local disk), interleaved: every scenario of every\n"
	       "round runs on artifs, then on the baseline. Then one table: median, min-max over\n"
	       "the rounds and the ratio of medians to the baseline. Scenarios:\n"
	       "  1      write a big file of random bytes (1 MiB write()s), fsync, commit\n"
	       "         (setxattr user.artifs.commit; the baseline: fsync only), MiB/s\n"
	       "  2a 2b  read it from the version (@vN), cold, then warm, MiB/s\n"
	       "  3a     write N small files, commit (the baseline: syncfs), files/s\n"
	       "  3b-3e  list + stat, and list + open/read/close of them, cold and warm\n"
	       "  4a 4b  setxattr user.bench on each (in the HEAD, before the commit), getxattr\n"
	       "         of it on each from the version; n/a when the baseline refuses xattrs\n\n"
	       "Cold means after sync and drop_caches, which needs root: otherwise the cold\n"
	       "rows are skipped. The daemon keeps running, so its own memory may still hold\n"
	       "some of what it read.\n\n"
	       "Versions cannot be deleted: every round adds two versions to DIR's artifact, and\n"
	       "the store keeps about the big file's and the small files' bytes of each round;\n"
	       "the end removes the files from the HEAD (one more version). The baseline's\n"
	       "temporary folder (artifs-bench.XXXXXX in it) is removed at the end, also on\n"
	       "Ctrl-C. It never fails on speed: exit 1 only when an operation fails.\n\n"
	       "  --rounds N         rounds (default 3)\n"
	       "  --big-size SIZE    the big file (default 256M; K, M, G, T: powers of 1024)\n"
	       "  --small-count N    small files (default 1000)\n"
	       "  --small-size SIZE  each small file (default 4K)\n"
	       "  --baseline DIR     an existing plain folder to compare with\n"
	       "  --keep             keep the last round's files in the HEAD and the baseline's\n"
	       "                     temporary folder\n");
}

int cmd_bench(int argc, char **argv)
{
	struct bench bb = { .big = 256 << 20, .small_size = 4096, .small_count = 1000,
			    .rounds = 3, .nsys = 1 };
	struct bench *b = &bb;
	const char *dir = NULL, *base = NULL;
	char root[PATH_MAX], baseline[PATH_MAX], stamp[32];
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND };
	int64_t t0 = now_ns();
	time_t now = time(NULL);
	struct tm tm;
	int ret;

	if (tool_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--keep")) {
			b->keep = 1;
			continue;
		}
		if (!strcmp(a, "--rounds") || !strcmp(a, "--small-count") ||
		    !strcmp(a, "--big-size") || !strcmp(a, "--small-size") ||
		    !strcmp(a, "--baseline")) {
			if (!v)
				return tool_needs_value("bench", a);
		} else if (a[0] == '-') {
			return tool_bad_option("bench", a);
		}
		if (!strcmp(a, "--rounds") || !strcmp(a, "--small-count")) {
			uint64_t max = a[2] == 'r' ? 10000 : 10000000, n;

			if (tool_parse_uint(v, max, &n) || n == 0) {
				fprintf(stderr, "artifs bench: %s wants a count from 1 to %llu, not "
						"'%s'\n", a, (unsigned long long)max, v);
				return 1;
			}
			*(a[2] == 'r' ? &b->rounds : &b->small_count) = n;
			i++;
		} else if (!strcmp(a, "--big-size") || !strcmp(a, "--small-size")) {
			uint64_t *sz = a[2] == 'b' ? &b->big : &b->small_size;
			char what[16];
			int err = tool_parse_size(v, sz);

			snprintf(what, sizeof(what), "%s ", a);
			if (err)
				return tool_size_error("bench", what, v, err);
			if (*sz == 0) {
				fprintf(stderr, "artifs bench: %s 0: give a size above 0\n", a);
				return 1;
			}
			i++;
		} else if (!strcmp(a, "--baseline")) {
			base = v;
			i++;
		} else if (dir) {
			fprintf(stderr, "artifs bench: unexpected argument '%s' (one folder; see "
					"artifs bench --help)\n", a);
			return 1;
		} else {
			dir = a;
		}
	}
	if (!dir) {
		fprintf(stderr, "artifs bench: which artifact folder? (see --help)\n");
		return 2;
	}

	/* From here a signal ends the run at the next step, with the clean-up. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	/* The baseline is checked first: nothing is made on the mount for a wrong one. */
	if (base) {
		struct stat st;

		if (stat(base, &st) || !realpath(base, baseline)) {
			fprintf(stderr, "artifs bench: --baseline %s: %s\n", base, strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "artifs bench: --baseline %s: not a folder\n", base);
			return 1;
		}
	}
	b->sys[0].name = "artifs";
	b->sys[0].artifs = 1;
	b->sys[0].hold = b->sys[1].hold = -1;
	ret = art_dir(dir, b->sys[0].dir, sizeof(b->sys[0].dir), root, sizeof(root));
	if (ret)
		return ret;
	if (no_draft(root, b->sys[0].dir))
		return 1;
	if (base) {
		int n = snprintf(b->sys[1].dir, sizeof(b->sys[1].dir), "%s/artifs-bench.XXXXXX",
				 baseline);

		b->sys[1].name = "baseline";
		if (n >= (int)sizeof(b->sys[1].dir) || !mkdtemp(b->sys[1].dir)) {
			fprintf(stderr, "artifs bench: cannot make a folder in %s: %s\n", baseline,
				strerror(n >= (int)sizeof(b->sys[1].dir) ? ENAMETOOLONG : errno));
			return 1;
		}
		b->nsys = 2;
	}

	b->res = malloc(sizeof(*b->res) * R_N * NSYS * b->rounds);
	b->buf = aligned_alloc(4096, BLOCK);
	if (!b->res || !b->buf) {
		fprintf(stderr, "artifs bench: out of memory\n");
		ret = 1;
		goto out;
	}
	for (size_t i = 0; i < (size_t)R_N * NSYS * b->rounds; i++)
		b->res[i] = NAN;
	/* Fresh bytes in every run: a run must not deduplicate against the last one. */
	b->seed = (uint64_t)now_ns() ^ ((uint64_t)time(NULL) << 20) ^ ((uint64_t)getpid() << 44);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(b->run, sizeof(b->run), "bench-%s-%d", stamp, (int)getpid());
	snprintf(b->sys[0].hold_path, sizeof(b->sys[0].hold_path), "%s/.%s.hold", b->sys[0].dir,
		 b->run);
	b->cold = geteuid() == 0 && access("/proc/sys/vm/drop_caches", W_OK) == 0;
	if (!b->cold)
		fprintf(stderr, "artifs bench: cold rows skipped: dropping the page cache needs "
				"root\n");

	ret = 0;
	for (unsigned r = 0; r < b->rounds && !ret; r++)
		ret = one_round(b, r);
	clean_up(b);
	if (stop_sig) {
		fprintf(stderr, "artifs bench: interrupted (%s)\n", strsignal(stop_sig));
		ret = 128 + stop_sig;
		goto out;
	}
	if (ret)
		goto out;
	table(b, (now_ns() - t0) / 1000000000);
out:
	if (ret && b->nsys > 1 && !b->keep)
		rmtree(b->sys[1].dir);
	free(b->res);
	free(b->buf);
	return ret;
}
