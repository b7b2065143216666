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
	int ret = 0;

	if (tool_wants_help(argc, argv) || argc < 2) {
		printf("usage: artifs cat URI|PATH...\n\n"
		       "Prints files, e.g. artifs cat artifs://proj/model@v3/model.pkl\n");
		return argc < 2 ? 2 : 0;
	}
	for (int i = 1; i < argc; i++) {
		ssize_t n;
		int fd;

		if (tool_path(argv[i], path, sizeof(path)))
			return 2;
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
