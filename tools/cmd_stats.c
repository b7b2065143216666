/* SPDX-License-Identifier: MIT */
/* artifs stats [MOUNT]: the daemon's counters (requests, bytes, cache, commits) as JSON. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tools.h"

int cmd_stats(int argc, char **argv)
{
	const char *mnt = argc > 1 ? argv[1] : tool_mountpoint();
	char path[PATH_MAX], buf[4096];
	size_t n;
	FILE *f;

	if (tool_wants_help(argc, argv) || argc > 2) {
		printf("usage: artifs stats [MOUNT]\n\n"
		       "Prints the daemon's counters as JSON: store requests by kind, bytes fetched\n"
		       "and uploaded, retries and errors (s3), cache hits, misses and evictions,\n"
		       "chunks fetched and stored, commits. The same as MOUNT/.artifs/stats.\n");
		return argc > 2 ? 2 : 0;
	}
	snprintf(path, sizeof(path), "%s/.artifs/stats", mnt);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "artifs stats: %s: %s (is artifs mounted there?)\n", path,
			strerror(errno));
		return 1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	return 0;
}
