/* SPDX-License-Identifier: MIT */
/* artifs config [-o OPTIONS]: the mount options in effect, and where each value came from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fs/fs.h"
#include "tools.h"

int cmd_config(int argc, char **argv)
{
	const unsigned which = TOOL_OPT_STORE | TOOL_OPT_DAEMON;
	struct fs_conf c;
	int ret = 1;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs config [-o OPTIONS]\n\n"
		       "Prints every option artifs mount takes from a config file, the environment\n"
		       "or -o, one per line: NAME=VALUE, a tab, and where the value came from\n"
		       "(default, FILE:LINE, $ARTIFS_NAME or -o). -o OPTIONS is a list as mount\n"
		       "takes it, to see what a mount with them would use. Later sources win:\n"
		       "/etc/artifs/config, then $XDG_CONFIG_HOME/artifs/config (or\n"
		       "~/.config/artifs/config), or $ARTIFS_CONFIG alone when set; then the\n"
		       "environment; then -o.\n");
		return 0;
	}
	if (tool_conf_init("config", which, &c))
		return 1;
	for (int i = 1; i < argc; i++) {
		char *list, *save = NULL;

		if (strcmp(argv[i], "-o")) {
			tool_bad_option("config", argv[i]);
			goto out;
		}
		if (i + 1 >= argc) {
			tool_needs_value("config", "-o");
			goto out;
		}
		list = strdup(argv[++i]);
		for (char *it = list ? strtok_r(list, ",", &save) : NULL; it;
		     it = strtok_r(NULL, ",", &save)) {
			int rc = tool_conf_opt("config", it, which, &c);

			if (rc < 0)
				fprintf(stderr, "artifs config: -o %s: not an artifs option (FUSE "
						"options are not shown)\n", it);
			if (rc) {
				free(list);
				goto out;
			}
		}
		free(list);
	}
	if (tool_conf_finish("config", &c))
		goto out;
	tool_conf_show(&c, which, stdout);
	ret = 0;
out:
	tool_conf_release(&c);
	return ret;
}
