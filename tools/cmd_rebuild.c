/* SPDX-License-Identifier: MIT */
/* artifs rebuild [-o store=DIR,state=DIR,...]: a new index from the store alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fs/fs.h"
#include "tools.h"

int cmd_rebuild(int argc, char **argv)
{
	struct fs_conf c;
	int err, ret = 1;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs rebuild [-o option[,option...]]\n\n"
		       "Rebuilds the host's index from the store alone: projects, artifacts,\n"
		       "versions, tags, labels and metrics; each HEAD becomes its newest version.\n"
		       "Run it with artifs unmounted. The new index is built beside the old one;\n"
		       "only when that succeeded are the old index and its staging files (the\n"
		       "bytes of its drafts, which are not carried over) moved to\n"
		       "STATE/index.old-<time>. A failed rebuild leaves the old index as it was.\n"
		       "Store objects that are not valid are skipped, each with a log line.\n\n"
		       "options, as artifs mount takes them (see artifs mount --help):\n"
		       "  store=DIR|s3://bucket[/prefix], state=DIR, endpoint=URL, retries=N,\n"
		       "  cache=DIR, cache_size=SIZE, map_size=SIZE (SIZE: bytes or K, M, G, T)\n");
		return 0;
	}
	if (tool_conf_init("rebuild", TOOL_OPT_STORE, &c))
		return 1;
	for (int i = 1; i < argc; i++) {
		char *opts;

		if (!strcmp(argv[i], "-o")) {
			if (i + 1 >= argc) {
				ret = tool_needs_value("rebuild", "-o");
				goto out;
			}
			opts = argv[++i];
		} else if (!strncmp(argv[i], "-o", 2)) {
			opts = argv[i] + 2;
		} else if (argv[i][0] == '-') {
			ret = tool_bad_option("rebuild", argv[i]);
			goto out;
		} else {
			fprintf(stderr, "artifs rebuild: unexpected argument '%s' (options go in -o: "
					"see artifs rebuild --help)\n", argv[i]);
			goto out;
		}
		if (tool_conf_list("rebuild", opts, TOOL_OPT_STORE, &c))
			goto out;
	}
	if (tool_conf_finish("rebuild", &c))
		goto out;
	err = fs_rebuild(&c);
	if (err) {
		fprintf(stderr, "artifs rebuild: %s\n", strerror(err));
		goto out;
	}
	ret = 0;
out:
	tool_conf_release(&c);
	return ret;
}
