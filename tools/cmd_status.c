/* SPDX-License-Identifier: MIT */
/* artifs status [MOUNT]: the artifacts whose drafts are not committed yet. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tools.h"

int cmd_status(int argc, char **argv)
{
	const char *mnt = argc > 1 ? argv[1] : tool_mountpoint();
	char path[PATH_MAX], line[512];
	FILE *f;
	int n = 0;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs status [MOUNT]\n\n"
		       "Lists the artifacts (project/artifact) whose drafts are not committed yet,\n"
		       "including drafts recovered after a crash. MOUNT defaults to $ARTIFS_MOUNT\n"
		       "or /artifacts.\n");
		return 0;
	}
	snprintf(path, sizeof(path), "%s/.artifs/drafts", mnt);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "artifs status: %s: %s (is artifs mounted there?)\n", path,
			strerror(errno));
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
