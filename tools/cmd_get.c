/* SPDX-License-Identifier: MIT */
/*
 * artifs get VERSION DIR [--preserve] [--jobs N]: a version (or a folder or file of one) to a
 * plain folder, through the mount: several files are copied at once (each read pulls its
 * chunks, which the daemon fetches ahead), folders and files get their owner's write bit so
 * that the copy can be changed and removed like any other, times are kept, and artifs
 * attributes are left behind. --preserve keeps modes exactly and copies the other user.*
 * attributes too. A progress line goes to stderr when it is a terminal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

#define GET_JOBS_DEFAULT 8
#define GET_JOBS_MAX 64
#define GET_BUF (1u << 20)
#define GET_XATTR_MAX (64u << 10)

struct file {
	char *src, *dst;
	struct stat st;
};

struct get {
	int preserve, progress;
	struct file *files, *dirs; /* dirs: made, their modes and times set last */
	size_t nfiles, cap, next, ndirs, dcap;
	uint64_t bytes, done_bytes, done_files;
	pthread_mutex_t lock;
	int err; /* the first failure (reported), then everyone stops */
	time_t shown;
};

static int fail_path(struct get *g, const char *what, const char *path, int err)
{
	pthread_mutex_lock(&g->lock);
	if (!g->err) {
		fprintf(stderr, "%sartifs get: cannot %s %s: %s\n", g->progress ? "\n" : "", what,
			path, strerror(err));
		g->err = err;
	}
	pthread_mutex_unlock(&g->lock);
	return err;
}

/* The user.* attributes of src other than artifs' own, onto dst (--preserve). */
static int copy_xattrs(struct get *g, const char *src, const char *dst)
{
	char names[GET_XATTR_MAX], *val = malloc(GET_XATTR_MAX);
	ssize_t n = llistxattr(src, names, sizeof(names));

	if (!val)
		return fail_path(g, "copy the attributes of", src, ENOMEM);
	for (char *p = names; n > 0 && p < names + n; p += strlen(p) + 1) {
		ssize_t len;

		if (strncmp(p, "user.", 5) || !strncmp(p, "user.artifs.", 12))
			continue;
		len = lgetxattr(src, p, val, GET_XATTR_MAX);
		if (len >= 0 && lsetxattr(dst, p, val, (size_t)len, 0) && errno != ENOTSUP) {
			free(val);
			return fail_path(g, "set an attribute of", dst, errno);
		}
	}
	free(val);
	return 0;
}

/* Mode, attributes and times of a copied entry (symlinks: times only). */
static int finish(struct get *g, const char *src, const char *dst, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	mode_t mode = g->preserve ? st->st_mode & 07777 : (st->st_mode & 07777) | S_IWUSR;

	if (!S_ISLNK(st->st_mode) && chmod(dst, mode))
		return fail_path(g, "set the mode of", dst, errno);
	if (g->preserve && copy_xattrs(g, src, dst))
		return g->err;
	if (utimensat(AT_FDCWD, dst, ts, AT_SYMLINK_NOFOLLOW))
		return fail_path(g, "set the times of", dst, errno);
	return 0;
}

static void show(struct get *g, int last)
{
	time_t now = time(NULL);

	if (!g->progress || (!last && now == g->shown))
		return;
	g->shown = now;
	fprintf(stderr, "\r%llu/%zu files, %llu/%llu MiB%s",
		(unsigned long long)g->done_files, g->nfiles,
		(unsigned long long)(g->done_bytes >> 20), (unsigned long long)(g->bytes >> 20),
		last ? "\n" : "");
}

static int copy_file(struct get *g, const struct file *f, char *buf)
{
	int in = open(f->src, O_RDONLY | O_CLOEXEC), out = -1, err = 0;
	ssize_t n;

	if (in < 0)
		return fail_path(g, "open", f->src, errno);
	out = open(f->dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		err = fail_path(g, "create", f->dst, errno);
		goto out;
	}
	while ((n = read(in, buf, GET_BUF)) > 0) {
		for (ssize_t w, off = 0; off < n; off += w) {
			w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				err = fail_path(g, "write", f->dst, errno);
				goto out;
			}
		}
		pthread_mutex_lock(&g->lock);
		g->done_bytes += (uint64_t)n;
		show(g, 0);
		pthread_mutex_unlock(&g->lock);
	}
	if (n < 0)
		err = fail_path(g, "read", f->src, errno);
out:
	close(in);
	if (out >= 0 && close(out) && !err)
		err = fail_path(g, "write", f->dst, errno);
	return err ? err : finish(g, f->src, f->dst, &f->st);
}

static void *worker(void *arg)
{
	struct get *g = arg;
	char *buf = malloc(GET_BUF);

	for (;;) {
		struct file *f = NULL;

		pthread_mutex_lock(&g->lock);
		if (!g->err && buf && g->next < g->nfiles)
			f = &g->files[g->next++];
		else if (!buf && !g->err)
			g->err = ENOMEM;
		pthread_mutex_unlock(&g->lock);
		if (!f)
			break;
		if (copy_file(g, f, buf) == 0) {
			pthread_mutex_lock(&g->lock);
			g->done_files++;
			pthread_mutex_unlock(&g->lock);
		}
	}
	free(buf);
	return NULL;
}

/* Room for one more entry in *v (n used, *cap allocated), or NULL. */
static struct file *more(struct file **v, size_t n, size_t *cap)
{
	if (n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		struct file *nv = realloc(*v, c * sizeof(**v));

		if (!nv)
			return NULL;
		*v = nv;
		*cap = c;
	}
	return &(*v)[n];
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

/*
 * Makes the folders and symlinks under src (a folder) in dst now and lists its files for
 * the workers; folders get their modes and times afterwards (finish_dirs), since their files
 * go in first.
 */
static int walk(struct get *g, const char *src, const char *dst)
{
	DIR *d = opendir(src);
	struct dirent *e;
	int err = 0;

	if (!d)
		return fail_path(g, "list", src, errno);
	while (!err && (e = readdir(d))) {
		struct file f = { 0 };

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		f.src = join(src, e->d_name);
		f.dst = join(dst, e->d_name);
		if (!f.src || !f.dst)
			err = fail_path(g, "copy", src, ENOMEM);
		else if (lstat(f.src, &f.st))
			err = fail_path(g, "stat", f.src, errno);
		else if (S_ISDIR(f.st.st_mode)) {
			struct file *v = more(&g->dirs, g->ndirs, &g->dcap);

			if (!v) {
				err = fail_path(g, "copy", src, ENOMEM);
			} else if (mkdir(f.dst, 0700)) {
				err = fail_path(g, "make", f.dst, errno);
			} else {
				*v = f;
				g->ndirs++;
				err = walk(g, v->src, v->dst);
				continue; /* g->dirs owns the names now */
			}
		} else if (S_ISLNK(f.st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlink(f.src, target, sizeof(target) - 1);

			if (n < 0)
				err = fail_path(g, "read the link", f.src, errno);
			else if ((target[n] = '\0', symlink(target, f.dst)))
				err = fail_path(g, "make the link", f.dst, errno);
			else
				err = finish(g, f.src, f.dst, &f.st);
		} else if (S_ISREG(f.st.st_mode)) {
			struct file *v = more(&g->files, g->nfiles, &g->cap);

			if (!v) {
				err = fail_path(g, "copy", src, ENOMEM);
			} else {
				*v = f;
				g->nfiles++;
				g->bytes += (uint64_t)f.st.st_size;
				continue; /* g->files owns the names now */
			}
		}
		free(f.src);
		free(f.dst);
	}
	closedir(d);
	return err;
}

static int usage_help(void)
{
	printf("usage: artifs get [--preserve] [--jobs N] VERSION DIR\n\n"
	       "Copies VERSION (p/a/@v3, p/a/@prod, artifs://p/a@v3, or a folder or file in one)\n"
	       "to DIR, a plain folder that must not exist yet or be empty, N files at a time\n"
	       "(default %d). The copy is yours to change: folders and files get their owner's\n"
	       "write bit, times are kept, and artifs' own attributes stay behind. --preserve\n"
	       "keeps the modes exactly and copies the other user.* attributes as well (cp -a,\n"
	       "by contrast, gives read-only folders that rm -rf then cannot remove). A\n"
	       "progress line goes to stderr when it is a terminal. On a failure the first\n"
	       "error is printed, what was copied stays, and the exit status is 1.\n",
	       GET_JOBS_DEFAULT);
	return 0;
}

/* DIR: made when missing; an empty folder is taken; anything else is refused. */
static int target_dir(const char *dir)
{
	DIR *d;
	struct dirent *e;
	int empty = 1;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		fprintf(stderr, "artifs get: cannot make %s: %s\n", dir, strerror(errno));
		return 1;
	}
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "artifs get: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	if (!empty)
		fprintf(stderr, "artifs get: %s is not empty (give a new folder)\n", dir);
	return !empty;
}

int cmd_get(int argc, char **argv)
{
	char src[PATH_MAX], rel[PATH_MAX];
	const char *args[2] = { NULL, NULL };
	struct get g = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct file top = { 0 };
	pthread_t th[GET_JOBS_MAX];
	uint64_t jobs = GET_JOBS_DEFAULT;
	int opts = 1, n = 0, started = 0;

	if (tool_wants_help(argc, argv))
		return usage_help();
	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
		} else if (opts && !strcmp(argv[i], "--preserve")) {
			g.preserve = 1;
		} else if (opts && !strcmp(argv[i], "--jobs")) {
			if (i + 1 >= argc)
				return tool_needs_value("get", argv[i]);
			if (tool_parse_uint(argv[++i], GET_JOBS_MAX, &jobs) || !jobs) {
				fprintf(stderr, "artifs get: --jobs takes 1 to %d, not '%s'\n",
					GET_JOBS_MAX, argv[i]);
				return 1;
			}
		} else if (opts && argv[i][0] == '-') {
			return tool_bad_option("get", argv[i]);
		} else if (n == 2) {
			fprintf(stderr, "artifs get: unexpected argument '%s' (a version and a "
					"folder)\n", argv[i]);
			return 1;
		} else {
			args[n++] = argv[i];
		}
	}
	if (n < 2) {
		fprintf(stderr, "artifs get: give a version and a folder to copy it to (see artifs "
				"get --help)\n");
		return 2;
	}
	if (tool_on_mount("get", args[0], src, sizeof(src), NULL, 0, rel, sizeof(rel)))
		return 1;
	{
		char p[256], a[256], ref[256];

		/* p/a/@ref[/path]: the @ name is the third component */
		if (sscanf(rel, "%255[^/]/%255[^/]/@%255[^/]", p, a, ref) != 3) {
			fprintf(stderr, "artifs get: %s is not in a version (give p/a/@vN, a tag, "
					"or artifs://p/a@ref)\n", args[0]);
			return 1;
		}
	}
	top.src = src;
	top.dst = (char *)args[1];
	if (stat(src, &top.st)) {
		fprintf(stderr, "artifs get: %s: %s\n", args[0], strerror(errno));
		return 1;
	}
	g.progress = isatty(2);
	if (S_ISREG(top.st.st_mode)) {
		struct stat dst;

		if (lstat(args[1], &dst) == 0) {
			fprintf(stderr, "artifs get: %s exists (give a new name)\n", args[1]);
			return 1;
		}
		g.files = &top;
		g.nfiles = 1;
		g.bytes = (uint64_t)top.st.st_size;
	} else if (target_dir(args[1]) || walk(&g, src, args[1])) {
		g.err = g.err ? g.err : 1;
	}
	for (uint64_t i = 0; !g.err && i < jobs && i < (g.nfiles ? g.nfiles : 1); i++, started++)
		if (pthread_create(&th[i], NULL, worker, &g)) {
			g.err = fail_path(&g, "start a copy thread for", src, EAGAIN);
			break;
		}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	/* Folders last, deepest first: their modes (maybe read-only) and times. */
	for (size_t i = g.ndirs; !g.err && i-- > 0;)
		finish(&g, g.dirs[i].src, g.dirs[i].dst, &g.dirs[i].st);
	if (!g.err && S_ISDIR(top.st.st_mode))
		finish(&g, src, args[1], &top.st);
	show(&g, 1);
	if (g.files != &top) {
		for (size_t i = 0; i < g.nfiles; i++) {
			free(g.files[i].src);
			free(g.files[i].dst);
		}
		free(g.files);
	}
	for (size_t i = 0; i < g.ndirs; i++) {
		free(g.dirs[i].src);
		free(g.dirs[i].dst);
	}
	free(g.dirs);
	return g.err ? 1 : 0;
}
