/* SPDX-License-Identifier: MIT */
/* artifs stats [PATH]: the daemon's counters (requests, bytes, cache, commits) as JSON. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tools.h"

int cmd_stats(int argc, char **argv)
{
	char root[PATH_MAX], path[PATH_MAX + 32], buf[4096];
	size_t n;
	FILE *f;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs stats [PATH]\n\n"
		       "Prints the daemon's counters as JSON: store requests by kind, bytes fetched\n"
		       "and uploaded, retries and errors (s3), cache hits, misses and evictions,\n"
		       "chunks fetched and stored, commits, for the artifs mount that holds PATH\n"
		       "(default $ARTIFS_MOUNT or /artifacts). The same as MOUNT/.artifs/stats.\n");
		return 0;
	}
	if (tool_mount_arg("stats", argc, argv, root, sizeof(root)))
		return 1;
	snprintf(path, sizeof(path), "%s/.artifs/stats", root);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "artifs stats: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	return 0;
}
