/* SPDX-License-Identifier: MIT */
/* artifs tag ARTIFACT@REF TAG | artifs tag -d ARTIFACT TAG: tags are @name symlinks. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools.h"

int cmd_tag(int argc, char **argv)
{
	char path[PATH_MAX], link[PATH_MAX + 130], tmp[PATH_MAX + 130], target[160];
	int del = argc > 1 && !strcmp(argv[1], "-d");
	const char *spec, *tag, *at;

	if (tool_wants_help(argc, argv) || argc != 3 + del) {
		printf("usage: artifs tag ARTIFACT@vN|ARTIFACT@TAG TAG     set or move TAG\n"
		       "       artifs tag -d ARTIFACT TAG                    drop TAG\n\n"
		       "ARTIFACT is a folder path or artifs://project/artifact. The same as\n"
		       "'ln -sfn @vN ARTIFACT/@TAG' and 'rm ARTIFACT/@TAG'.\n");
		return argc == 3 + del ? 0 : 2;
	}
	spec = argv[1 + del];
	tag = argv[2 + del];
	if (tag[0] == '@')
		tag++;
	if (del) {
		if (tool_path(spec, path, sizeof(path)))
			return 2;
		snprintf(link, sizeof(link), "%s/@%s", path, tag);
		if (unlink(link)) {
			fprintf(stderr, "artifs tag: %s: %s\n", link, strerror(errno));
			return 1;
		}
		return 0;
	}
	at = strrchr(spec, '@');
	if (!at || strchr(at, '/')) {
		fprintf(stderr, "artifs tag: say which version: ARTIFACT@vN\n");
		return 2;
	}
	snprintf(target, sizeof(target), "%s", at);
	snprintf(tmp, sizeof(tmp), "%.*s", (int)(at - spec), spec);
	if (tool_path(tmp, path, sizeof(path)))
		return 2;
	snprintf(link, sizeof(link), "%s/@%s", path, tag);
	if (symlink(target, link) == 0)
		return 0;
	if (errno != EEXIST) {
		fprintf(stderr, "artifs tag: %s -> %s: %s\n", link, target, strerror(errno));
		return 1;
	}
	/* Move: a temporary link renamed over the tag, as ln -sfn does. */
	snprintf(tmp, sizeof(tmp), "%s/.artifs-tag.%d", path, (int)getpid());
	if (symlink(target, tmp) || rename(tmp, link)) {
		fprintf(stderr, "artifs tag: %s -> %s: %s\n", link, target, strerror(errno));
		unlink(tmp);
		return 1;
	}
	return 0;
}
