/* SPDX-License-Identifier: MIT */
/*
 * artifs retain PROJECT|ARTIFACT [POLICY|--clear]: shows, sets or clears the retention
 * policy of a project or artifact folder, the shared attribute user.artifs.retain that
 * artifs gc applies (docs/gc.md, "Retention").
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#include "../fs/fs.h"
#include "tools.h"

#define NAME "user.artifs.retain"

static void usage(void)
{
	printf("usage: artifs retain PROJECT|ARTIFACT [POLICY|--clear]\n\n"
	       "Shows, sets or clears the retention policy of a project or an artifact (its\n"
	       "folder on an artifs mount, or artifs://project[/artifact]): the attribute\n"
	       "user.artifs.retain, shared by every host of the store. artifs gc removes the\n"
	       "versions a policy does not keep (restorable until purged). An artifact's own\n"
	       "policy replaces its project's. POLICY is last=N, younger=D or both,\n"
	       "comma-separated (D: seconds, or a number with s, m, h or d): a version is kept\n"
	       "when it is one of the newest N, younger than D, the newest of all, pointed at by\n"
	       "a tag, or an input (lineage) of a kept version, of any artifact.\n"
	       "Examples: artifs retain /artifacts/team/model last=5\n"
	       "          artifs retain artifs://team last=10,younger=30d\n");
}

/* The folder arg names, which must be a project or an artifact. */
static int folder(const char *arg, char *path, size_t len)
{
	char root[PATH_MAX], rel[PATH_MAX], *slash;

	if (tool_on_mount("retain", arg, path, len, root, sizeof(root), rel, sizeof(rel)))
		return 1;
	slash = strchr(rel, '/');
	if (!rel[0] || rel[0] == '@' || strchr(rel, '@') || (slash && strchr(slash + 1, '/'))) {
		fprintf(stderr, "artifs retain: %s: not a project or an artifact\n", arg);
		return 1;
	}
	return 0;
}

static int show(const char *arg, const char *path)
{
	char val[256];
	ssize_t n = getxattr(path, NAME, val, sizeof(val) - 1);

	if (n < 0 && errno == ENODATA) {
		printf("%s: no policy (every version is kept)\n", arg);
		return 0;
	}
	if (n < 0) {
		fprintf(stderr, "artifs retain: %s: %s\n", arg, strerror(errno));
		return 1;
	}
	val[n] = '\0';
	printf("%s: %s\n", arg, val);
	return 0;
}

int cmd_retain(int argc, char **argv)
{
	char path[PATH_MAX];
	struct fs_retain r;
	const char *why;

	if (tool_wants_help(argc, argv)) {
		usage();
		return 0;
	}
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "artifs retain: %s (see artifs retain --help)\n",
			argc < 2 ? "which project or artifact?" : "one policy at a time");
		return 2;
	}
	if (folder(argv[1], path, sizeof(path)))
		return 1;
	if (argc == 2)
		return show(argv[1], path);
	if (!strcmp(argv[2], "--clear")) {
		if (removexattr(path, NAME) && errno != ENODATA) {
			fprintf(stderr, "artifs retain: %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argv[2][0] == '-')
		return tool_bad_option("retain", argv[2]);
	if (fs_retain_parse(argv[2], strlen(argv[2]), &r, &why)) {
		fprintf(stderr, "artifs retain: %s: %s\n", argv[2], why);
		return 2;
	}
	if (setxattr(path, NAME, argv[2], strlen(argv[2]), 0)) {
		fprintf(stderr, "artifs retain: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	return 0;
}
