/* SPDX-License-Identifier: MIT */
/* artifs status [PATH]: the artifacts whose drafts are not committed yet. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tools.h"

int cmd_status(int argc, char **argv)
{
	char root[PATH_MAX], path[PATH_MAX + 32], line[512];
	FILE *f;
	int n = 0;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs status [PATH]\n\n"
		       "Lists the artifacts (project/artifact) whose drafts are not committed yet,\n"
		       "including drafts recovered after a crash, on the artifs mount that holds\n"
		       "PATH (default $ARTIFS_MOUNT or /artifacts).\n");
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
	return 0;
}
