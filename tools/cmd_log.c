/* SPDX-License-Identifier: MIT */
/* artifs log ARTIFACT: its versions, newest first, from their @vN folders' attributes. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "tools.h"

static int cmp_desc(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

static void attr(const char *path, const char *name, char *out, size_t len)
{
	ssize_t n = getxattr(path, name, out, len - 1);

	out[n > 0 ? n : 0] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

int cmd_log(int argc, char **argv)
{
	char path[PATH_MAX], vpath[PATH_MAX + 32];
	unsigned long long *v = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	if (tool_wants_help(argc, argv) || argc != 2) {
		printf("usage: artifs log ARTIFACT\n\n"
		       "Lists the artifact's versions, newest first: number, creation time, digest\n"
		       "and message.\n");
		return argc == 2 ? 0 : 2;
	}
	if (tool_path(argv[1], path, sizeof(path)))
		return 2;
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "artifs log: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((de = readdir(d))) {
		char *end;
		unsigned long long num;
		void *nv;

		if (strncmp(de->d_name, "@v", 2) != 0)
			continue;
		num = strtoull(de->d_name + 2, &end, 10);
		if (*end || !(nv = realloc(v, (n + 1) * sizeof(*v))))
			continue;
		v = nv;
		v[n++] = num;
	}
	closedir(d);
	qsort(v, n, sizeof(*v), cmp_desc);
	for (size_t i = 0; i < n; i++) {
		char created[64], digest[80], msg[512];

		snprintf(vpath, sizeof(vpath), "%s/@v%llu", path, v[i]);
		attr(vpath, "user.artifs.created", created, sizeof(created));
		attr(vpath, "user.artifs.digest", digest, sizeof(digest));
		attr(vpath, "user.artifs.message", msg, sizeof(msg));
		printf("@v%llu\t%s\t%s\t%s\n", v[i], created, digest, msg);
	}
	free(v);
	return 0;
}
