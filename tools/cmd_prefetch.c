/* SPDX-License-Identifier: MIT */
/*
 * artifs prefetch URI|PATH: reads every file of a version (or of a folder in one; a tag or
 * @latest is followed to its version) through the mount, so that its chunks land in the
 * local cache; a progress bar on a terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools.h"

static unsigned long long total, done;
static int files, failed, tty;
static char buf[1 << 20];

static void progress(int last)
{
	if (!tty)
		return;
	fprintf(stderr, "\rprefetch: %d files, %llu/%llu MiB (%3.0f%%)%s", files, done >> 20,
		total >> 20, total ? 100.0 * done / total : 100.0, last ? "\n" : "");
}

static int size_fn(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_F && S_ISREG(st->st_mode))
		total += st->st_size;
	return 0;
}

static int read_fn(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	ssize_t n;
	int fd;

	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%sartifs prefetch: %s: %s\n", tty ? "\n" : "", path, strerror(errno));
		failed++;
		return 0;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		done += n;
		progress(0);
	}
	if (n < 0) {
		fprintf(stderr, "%sartifs prefetch: %s: %s\n", tty ? "\n" : "", path, strerror(errno));
		failed++;
	}
	close(fd);
	files++;
	return 0;
}

int cmd_prefetch(int argc, char **argv)
{
	const char *arg = NULL;
	char path[PATH_MAX], resolved[PATH_MAX];
	int ret;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs prefetch [--] URI|PATH\n\n"
		       "Reads every file of a version (artifs://p/a@v3, a tag, or a folder on an\n"
		       "artifs mount) so that its chunks are in the local cache, e.g. before going\n"
		       "offline or before a job starts. Shows progress on a terminal.\n");
		return 0;
	}
	ret = tool_one_operand("prefetch", "version", argc, argv, &arg);
	if (ret)
		return ret;
	if (tool_on_mount("prefetch", arg, path, sizeof(path), NULL, 0, NULL, 0))
		return 1;
	/* @latest and tags are symlinks to @vN: the walk below follows no link, so follow the
	 * operand's own first (its folders' links still are not followed). */
	if (!realpath(path, resolved)) {
		fprintf(stderr, "artifs prefetch: %s: %s\n", path, strerror(errno));
		return 1;
	}
	tty = isatty(STDERR_FILENO);
	if (nftw(resolved, size_fn, 16, FTW_PHYS)) {
		fprintf(stderr, "artifs prefetch: %s: %s\n", path, strerror(errno));
		return 1;
	}
	nftw(resolved, read_fn, 16, FTW_PHYS);
	progress(1);
	if (!tty)
		printf("prefetched %d files, %llu bytes\n", files, done);
	return failed ? 1 : 0;
}
