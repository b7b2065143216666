/* SPDX-License-Identifier: MIT */
/* artifs commit [-m MSG] [--input URI]... ARTIFACT: commit the draft now, through the mount. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "tools.h"

int cmd_commit(int argc, char **argv)
{
	const char *msg = "", *target = NULL;
	char path[PATH_MAX], ver[32];
	char *inputs = NULL;
	size_t ilen = 0;
	ssize_t n;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs commit [-m MESSAGE] [--input URI]... ARTIFACT\n\n"
		       "Commits the artifact's draft as a new version now and prints its URI.\n"
		       "ARTIFACT is its folder under the mount or artifs://project/artifact.\n"
		       "--input declares an input version (lineage); repeatable.\n"
		       "Nothing is made when the tree did not change.\n");
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-m") && i + 1 < argc) {
			msg = argv[++i];
		} else if (!strcmp(argv[i], "--input") && i + 1 < argc) {
			size_t l = strlen(argv[++i]);
			char *ni = realloc(inputs, ilen + l + 2);

			if (!ni)
				return 1;
			inputs = ni;
			memcpy(inputs + ilen, argv[i], l);
			ilen += l;
			inputs[ilen++] = '\n';
			inputs[ilen] = '\0';
		} else if (!target) {
			target = argv[i];
		} else {
			fprintf(stderr, "artifs commit: unexpected argument '%s'\n", argv[i]);
			free(inputs);
			return 2;
		}
	}
	if (!target) {
		fprintf(stderr, "artifs commit: which artifact? (see --help)\n");
		free(inputs);
		return 2;
	}
	if (tool_path(target, path, sizeof(path))) {
		free(inputs);
		return 2;
	}
	if (inputs) {
		/* --input adds to what was declared before. */
		char old[65536];
		ssize_t ol = getxattr(path, "user.artifs.inputs", old, sizeof(old));

		if (ol > 0) {
			char *ni = realloc(inputs, ilen + ol + 2);

			if (!ni)
				return 1;
			inputs = ni;
			memmove(inputs + ol + 1, inputs, ilen + 1);
			memcpy(inputs, old, ol);
			inputs[ol] = '\n';
			ilen += ol + 1;
		}
	}
	if (inputs && setxattr(path, "user.artifs.inputs", inputs, ilen, 0)) {
		fprintf(stderr, "artifs commit: %s: declaring inputs: %s\n", path, strerror(errno));
		free(inputs);
		return 1;
	}
	free(inputs);
	if (setxattr(path, "user.artifs.commit", msg, strlen(msg), 0)) {
		fprintf(stderr, "artifs commit: %s: %s\n", path, strerror(errno));
		return 1;
	}
	n = getxattr(path, "user.artifs.version", ver, sizeof(ver) - 1);
	if (n > 0) {
		ver[n] = '\0';
		printf("%s/@v%s\n", path, ver);
	}
	return 0;
}

int cmd_discard(int argc, char **argv)
{
	char path[PATH_MAX];

	if (tool_wants_help(argc, argv) || argc != 2) {
		printf("usage: artifs discard ARTIFACT\n\n"
		       "Throws the artifact's draft away: its folder shows the newest version again.\n");
		return argc == 2 ? 0 : 2;
	}
	if (tool_path(argv[1], path, sizeof(path)))
		return 2;
	if (setxattr(path, "user.artifs.discard", "", 0, 0)) {
		fprintf(stderr, "artifs discard: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}
