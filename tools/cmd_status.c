/* SPDX-License-Identifier: MIT */
/* artifs status [PATH]: the artifacts whose drafts are not committed yet. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tools.h"

#define STATUS_REFUSALS 10

/* The newest STATUS_REFUSALS lines of .artifs/errors, each as "refused\t<line>". A daemon
 * from before that file has none to show. */
static void refusals(const char *root)
{
	char path[PATH_MAX + 32], line[STATUS_REFUSALS][1024];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/.artifs/errors", root);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line[n % STATUS_REFUSALS], sizeof(line[0]), f))
		n++;
	fclose(f);
	for (size_t i = n > STATUS_REFUSALS ? n - STATUS_REFUSALS : 0; i < n; i++)
		printf("refused\t%s", line[i % STATUS_REFUSALS]);
}

int cmd_status(int argc, char **argv)
{
	char root[PATH_MAX], path[PATH_MAX + 32], line[512];
	FILE *f;
	int n = 0;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs status [PATH]\n\n"
		       "Lists the artifacts (project/artifact) whose drafts are not committed yet,\n"
		       "including drafts recovered after a crash, on the artifs mount that holds\n"
		       "PATH (default $ARTIFS_MOUNT or /artifacts), then the newest %d of the\n"
		       "operations it refused lately (.artifs/errors): when, which process, what,\n"
		       "the errno and why.\n", STATUS_REFUSALS);
		return 0;
	}
	if (tool_mount_arg("status", argc, argv, root, sizeof(root)))
		return 1;
	snprintf(path, sizeof(path), "%s/.artifs/drafts", root);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "artifs status: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		printf("draft\t%s", line);
		n++;
	}
	fclose(f);
	if (!n)
		printf("no drafts\n");
	refusals(root);
	return 0;
}
