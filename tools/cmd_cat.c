/* SPDX-License-Identifier: MIT */
/* artifs cat URI|PATH...: copy files to standard output. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools.h"

int cmd_cat(int argc, char **argv)
{
	static char buf[1 << 17];
	char path[PATH_MAX];
	int ret = 0, first = argc, files = 0;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs cat [--] URI|PATH...\n\n"
		       "Prints files of an artifs mount, e.g.\n"
		       "artifs cat artifs://proj/model@v3/model.pkl\n");
		return 0;
	}
	/* Every operand is checked before anything is printed. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--") && first == argc) {
			first = i + 1;
			continue;
		}
		if (argv[i][0] == '-' && first == argc)
			return tool_bad_option("cat", argv[i]);
		if (tool_on_mount("cat", argv[i], path, sizeof(path), NULL, 0, NULL, 0))
			return 1;
		files++;
	}
	if (!files) {
		fprintf(stderr, "artifs cat: which files? (see artifs cat --help)\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		ssize_t n;
		int fd;

		if (i < first && !strcmp(argv[i], "--"))
			continue;
		tool_path(argv[i], path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "artifs cat: %s: %s\n", path, strerror(errno));
			ret = 1;
			continue;
		}
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			if (write(STDOUT_FILENO, buf, n) != n) {
				close(fd);
				return 1;
			}
		}
		if (n < 0) {
			fprintf(stderr, "artifs cat: %s: %s\n", path, strerror(errno));
			ret = 1;
		}
		close(fd);
	}
	return ret;
}
