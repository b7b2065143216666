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
	const char *args[2], *spec, *tag, *at;
	int del = 0, n = 0, opts = 1;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs tag ARTIFACT@vN|ARTIFACT@TAG TAG     set or move TAG\n"
		       "       artifs tag -d ARTIFACT TAG                    drop TAG\n\n"
		       "ARTIFACT is its folder on an artifs mount or artifs://project/artifact.\n"
		       "The same as 'ln -sfn @vN ARTIFACT/@TAG' and 'rm ARTIFACT/@TAG'.\n");
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
		} else if (opts && !strcmp(argv[i], "-d")) {
			del = 1;
		} else if (opts && argv[i][0] == '-') {
			return tool_bad_option("tag", argv[i]);
		} else if (n == 2) {
			fprintf(stderr, "artifs tag: unexpected argument '%s' (see artifs tag --help)\n",
				argv[i]);
			return 1;
		} else {
			args[n++] = argv[i];
		}
	}
	if (n < 2) {
		fprintf(stderr, "artifs tag: give %s and a tag name (see artifs tag --help)\n",
			del ? "the artifact" : "ARTIFACT@vN");
		return 2;
	}
	spec = args[0];
	tag = args[1];
	if (tag[0] == '@')
		tag++;
	if (!tag[0] || strchr(tag, '/')) {
		fprintf(stderr, "artifs tag: '%s' is not a tag name\n", args[1]);
		return 1;
	}
	if (del) {
		if (tool_on_mount("tag", spec, path, sizeof(path), NULL, 0, NULL, 0))
			return 1;
		snprintf(link, sizeof(link), "%s/@%s", path, tag);
		if (unlink(link)) {
			fprintf(stderr, "artifs tag: %s: %s\n", link, strerror(errno));
			return 1;
		}
		return 0;
	}
	at = strrchr(spec, '@');
	if (!at || strchr(at, '/') || !at[1]) {
		fprintf(stderr, "artifs tag: %s: say which version: ARTIFACT@vN\n", spec);
		return 1;
	}
	snprintf(target, sizeof(target), "%s", at);
	snprintf(tmp, sizeof(tmp), "%.*s", (int)(at - spec), spec);
	if (tool_on_mount("tag", tmp, path, sizeof(path), NULL, 0, NULL, 0))
		return 1;
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
