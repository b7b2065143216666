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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools.h"

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
	       TOOL_COPY_JOBS_DEFAULT);
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
	struct tool_copy c = { .cmd = "get", .jobs = TOOL_COPY_JOBS_DEFAULT, .top_attrs = 1 };
	struct stat st;
	uint64_t jobs = TOOL_COPY_JOBS_DEFAULT;
	int opts = 1, n = 0;

	if (tool_wants_help(argc, argv))
		return usage_help();
	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
		} else if (opts && !strcmp(argv[i], "--preserve")) {
			c.preserve = 1;
		} else if (opts && !strcmp(argv[i], "--jobs")) {
			if (i + 1 >= argc)
				return tool_needs_value("get", argv[i]);
			if (tool_parse_uint(argv[++i], TOOL_COPY_JOBS_MAX, &jobs) || !jobs) {
				fprintf(stderr, "artifs get: --jobs takes 1 to %d, not '%s'\n",
					TOOL_COPY_JOBS_MAX, argv[i]);
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
	if (stat(src, &st)) {
		fprintf(stderr, "artifs get: %s: %s\n", args[0], strerror(errno));
		return 1;
	}
	if (S_ISREG(st.st_mode) && lstat(args[1], &st) == 0) {
		fprintf(stderr, "artifs get: %s exists (give a new name)\n", args[1]);
		return 1;
	}
	if (!S_ISREG(st.st_mode) && target_dir(args[1]))
		return 1;
	c.jobs = (unsigned)jobs;
	c.progress = isatty(2);
	return tool_copy_tree(&c, src, args[1]) ? 1 : 0;
}
