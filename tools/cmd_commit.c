/* SPDX-License-Identifier: MIT */
/* artifs commit [-m MSG] [--input URI]... ARTIFACT: commit the draft now, through the mount. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../fs/fs.h"
#include "tools.h"

/* The commit ioctl (fs.h): no kernel lock on the artifact folder while it uploads. */
static int commit_ioctl(const char *path, const char *msg, uint64_t *made)
{
	struct artifs_ioc_commit c = { .made = 0 };
	int fd, err = 0;

	if (strlen(msg) >= sizeof(c.message))
		return ENOTTY;
	memcpy(c.message, msg, strlen(msg) + 1);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (ioctl(fd, ARTIFS_IOC_COMMIT, &c))
		err = errno;
	close(fd);
	*made = c.made;
	return err;
}

int cmd_commit(int argc, char **argv)
{
	const char *msg = "", *target = NULL;
	char path[PATH_MAX], ver[32], uri[1024];
	char *inputs = NULL;
	size_t ilen = 0;
	int opts = 1, ret = 1, err;
	uint64_t made = 0;
	ssize_t n;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs commit [-m MESSAGE] [--input URI|PATH]... [--] ARTIFACT\n\n"
		       "Commits the artifact's draft as a new version now and prints its path.\n"
		       "ARTIFACT is its folder on an artifs mount or artifs://project/artifact.\n"
		       "--input declares an input version (lineage), by URI or by its folder on\n"
		       "the mount; repeatable. Nothing is made when the tree did not change.\n"
		       "It asks the daemon by ioctl: other changes, also of the artifact folder\n"
		       "itself, go on while it uploads (setfattr user.artifs.commit holds the\n"
		       "folder's lock in the kernel until the commit ends). Errors: the store's,\n"
		       "EBUSY (a file kept being written), EACCES (you may not write the folder).\n");
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && (!strcmp(a, "-m") || !strcmp(a, "--input")) && i + 1 >= argc) {
			ret = tool_needs_value("commit", a);
			goto out;
		}
		if (opts && !strcmp(a, "-m")) {
			msg = argv[++i];
		} else if (opts && !strcmp(a, "--input")) {
			size_t l;
			char *ni;

			if (tool_uri("commit", argv[++i], uri, sizeof(uri)))
				goto out;
			l = strlen(uri);
			ni = realloc(inputs, ilen + l + 2);
			if (!ni)
				goto out;
			inputs = ni;
			memcpy(inputs + ilen, uri, l);
			ilen += l;
			inputs[ilen++] = '\n';
			inputs[ilen] = '\0';
		} else if (opts && !strcmp(a, "--")) {
			opts = 0;
		} else if (opts && a[0] == '-') {
			ret = tool_bad_option("commit", a);
			goto out;
		} else if (!target) {
			target = a;
		} else {
			fprintf(stderr, "artifs commit: unexpected argument '%s' (one artifact at a "
					"time)\n", a);
			goto out;
		}
	}
	if (!target) {
		fprintf(stderr, "artifs commit: which artifact? (see artifs commit --help)\n");
		ret = 2;
		goto out;
	}
	if (tool_on_mount("commit", target, path, sizeof(path), NULL, 0, NULL, 0))
		goto out;
	if (inputs) {
		/* --input adds to what was declared before. */
		char old[65536];
		ssize_t ol = getxattr(path, "user.artifs.inputs", old, sizeof(old));

		if (ol > 0) {
			char *ni = realloc(inputs, ilen + ol + 2);

			if (!ni)
				goto out;
			inputs = ni;
			memmove(inputs + ol + 1, inputs, ilen + 1);
			memcpy(inputs, old, ol);
			inputs[ol] = '\n';
			ilen += ol + 1;
		}
	}
	if (inputs && setxattr(path, "user.artifs.inputs", inputs, ilen, 0)) {
		fprintf(stderr, "artifs commit: %s: declaring inputs: %s\n", path, strerror(errno));
		goto out;
	}
	err = commit_ioctl(path, msg, &made);
	if (err == ENOTTY || err == ENOSYS) /* an older daemon, or a message too long for it */
		err = setxattr(path, "user.artifs.commit", msg, strlen(msg), 0) ? errno : 0;
	if (err) {
		fprintf(stderr, "artifs commit: %s: %s\n", path, strerror(err));
		goto out;
	}
	if (made) {
		printf("%s/@v%" PRIu64 "\n", path, made);
		ret = 0;
		goto out;
	}
	n = getxattr(path, "user.artifs.version", ver, sizeof(ver) - 1);
	if (n > 0) {
		ver[n] = '\0';
		printf("%s/@v%s\n", path, ver);
	}
	ret = 0;
out:
	free(inputs);
	return ret;
}

int cmd_discard(int argc, char **argv)
{
	const char *target = NULL;
	char path[PATH_MAX];
	int ret;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs discard [--] ARTIFACT\n\n"
		       "Throws the artifact's draft away: its folder shows the newest version again.\n"
		       "ARTIFACT is its folder on an artifs mount or artifs://project/artifact.\n");
		return 0;
	}
	ret = tool_one_operand("discard", "artifact", argc, argv, &target);
	if (ret)
		return ret;
	if (tool_on_mount("discard", target, path, sizeof(path), NULL, 0, NULL, 0))
		return 1;
	if (setxattr(path, "user.artifs.discard", "", 0, 0)) {
		fprintf(stderr, "artifs discard: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

int cmd_revert(int argc, char **argv)
{
	const char *target = NULL;
	char path[PATH_MAX], root[PATH_MAX], rel[PATH_MAX], p[256], a[256], ref[256];
	int ret, end = 0;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs revert [--] VERSION\n\n"
		       "Makes the HEAD of VERSION's artifact equal that version: its folder shows\n"
		       "VERSION's files, modes, attributes and symlinks, and the draft it had is\n"
		       "thrown away. Unless VERSION is the newest, the HEAD is then a draft like\n"
		       "any other, committed by the usual rules (or by 'artifs commit') as a new\n"
		       "version with the message \"revert to @vN\"; no version is removed.\n"
		       "VERSION is an @ name on an artifs mount (p/a/@v2, p/a/@prod) or\n"
		       "artifs://project/artifact@ref (ref: vN, a tag or latest).\n");
		return 0;
	}
	ret = tool_one_operand("revert", "version", argc, argv, &target);
	if (ret)
		return ret;
	if (tool_on_mount("revert", target, path, sizeof(path), root, sizeof(root), rel,
			  sizeof(rel)))
		return 1;
	if (sscanf(rel, "%255[^/]/%255[^/]/@%255[^/]%n", p, a, ref, &end) != 3 || rel[end]) {
		fprintf(stderr, "artifs revert: %s names no version (give p/a/@vN, a tag, or "
				"artifs://project/artifact@ref)\n", target);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, p, a);
	if (setxattr(path, "user.artifs.revert", ref, strlen(ref), 0)) {
		fprintf(stderr, "artifs revert: %s: %s\n", target,
			errno == EINVAL ? "no such version of this artifact" : strerror(errno));
		return 1;
	}
	return 0;
}
