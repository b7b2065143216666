/* SPDX-License-Identifier: MIT */
/* artifs rebuild [-o store=DIR,state=DIR]: a new index from the store alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fs/fs.h"
#include "tools.h"

int cmd_rebuild(int argc, char **argv)
{
	struct fs_conf c = { 0 };
	char *store = NULL, *state = NULL;
	const char *env;
	int err;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs rebuild [-o store=DIR,state=DIR]\n\n"
		       "Rebuilds the host's index from the store alone: projects, artifacts,\n"
		       "versions, tags, labels and metrics; each HEAD becomes its newest version.\n"
		       "Run it with artifs unmounted. The old index is kept in\n"
		       "STATE/index.old-<time> (its drafts are not carried over).\n");
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		char *opts, *tok, *save = NULL;

		if (strcmp(argv[i], "-o") || i + 1 >= argc) {
			fprintf(stderr, "artifs rebuild: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
		opts = argv[++i];
		for (tok = strtok_r(opts, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (!strncmp(tok, "store=", 6))
				store = tok + 6;
			else if (!strncmp(tok, "state=", 6))
				state = tok + 6;
			else {
				fprintf(stderr, "artifs rebuild: unknown option '%s'\n", tok);
				return 2;
			}
		}
	}
	if (!store && (env = getenv("ARTIFS_STORE")) && *env)
		store = (char *)env;
	if (!state && (env = getenv("ARTIFS_STATE")) && *env)
		state = (char *)env;
	c.store = store ? store : fs_default_store();
	c.state = state ? state : fs_default_state();
	err = fs_rebuild(&c);
	if (err) {
		fprintf(stderr, "artifs rebuild: %s\n", strerror(err));
		return 1;
	}
	return 0;
}
