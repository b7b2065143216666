/* SPDX-License-Identifier: MIT */
/* The artifs command: one dispatch table of subcommands (and mount.artifs by its name). */
#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "mount", cmd_mount, "mount the artifact filesystem" },
	{ "commit", cmd_commit, "commit an artifact's draft as a new version now" },
	{ "discard", cmd_discard, "throw an artifact's draft away" },
	{ "status", cmd_status, "list artifacts with uncommitted drafts" },
	{ "log", cmd_log, "list the versions of an artifact, newest first" },
	{ "tag", cmd_tag, "set, move or drop a tag" },
	{ "cat", cmd_cat, "print a file of a version" },
	{ "rebuild", cmd_rebuild, "rebuild the index from the store alone" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: artifs <command> [options] [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n'artifs <command> --help' describes each. Paths or artifs:// URIs name "
		   "artifacts;\nURIs resolve under $ARTIFS_MOUNT (default /artifacts).\n");
}

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/');
	int ret;

	self = self ? self + 1 : argv[0];
	/* Chunk buffers are megabytes: a fixed threshold keeps them mmap'ed and returned to
	 * the system when freed, instead of glibc's adaptive threshold growing the heap. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_ARENA_MAX, 4);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(self, "mount.artifs") == 0) {
		ret = cmd_mount(argc, argv);
		goto out;
	}
	if (argc < 2) {
		usage(stderr);
		ret = 2;
		goto out;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		ret = 0;
		goto out;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("artifs 0.1.0\n");
		ret = 0;
		goto out;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			ret = cmds[i].fn(argc - 1, argv + 1);
			goto out;
		}
	}
	fprintf(stderr, "artifs: unknown command '%s'\n", argv[1]);
	usage(stderr);
	ret = 2;
out:
	curl_global_cleanup();
	return ret;
}

const char *tool_mountpoint(void)
{
	const char *m = getenv("ARTIFS_MOUNT");

	return m && *m ? m : "/artifacts";
}

int tool_path(const char *arg, char *out, size_t len)
{
	const char *s, *at, *slash;
	int n;

	if (strncmp(arg, "artifs://", 9) != 0) {
		n = snprintf(out, len, "%s", arg);
		return n < 0 || (size_t)n >= len ? 2 : 0;
	}
	s = arg + 9;
	slash = strchr(s, '/');
	if (!slash || slash == s) {
		fprintf(stderr, "artifs: malformed URI '%s' (artifs://project/artifact[@ref][/path])\n",
			arg);
		return 2;
	}
	at = strchr(slash + 1, '@');
	if (!at) {
		n = snprintf(out, len, "%s/%s", tool_mountpoint(), s);
	} else {
		if (at == slash + 1 || at[1] == '\0' || at[1] == '/') {
			fprintf(stderr, "artifs: malformed URI '%s'\n", arg);
			return 2;
		}
		n = snprintf(out, len, "%s/%.*s/@%s", tool_mountpoint(), (int)(at - s), s, at + 1);
	}
	return n < 0 || (size_t)n >= len ? 2 : 0;
}

int tool_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	return 0;
}
