/* SPDX-License-Identifier: MIT */
/*
 * artifs rm URI... and artifs restore URI...: a version (p/a@vN; @latest and tags name the
 * version they point at), a whole artifact (p/a) or a whole project (p) removed, or brought back until gc purges it (docs/lifecycle.md). The daemon
 * does it (ARTIFS_IOC_LIFECYCLE on the project folder), so every host's mount follows.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../fs/fs.h"
#include "tools.h"

static void usage(const char *cmd)
{
	if (!strcmp(cmd, "rm"))
		printf("usage: artifs rm ARTIFACT@vN|ARTIFACT@latest|ARTIFACT|PROJECT...\n\n"
		       "Removes a version, a whole artifact or a whole project from every host's\n"
		       "mount (within its refresh). A number is never used again, and `artifs\n"
		       "restore` brings it back, tags, labels and lineage included, until `artifs gc`\n"
		       "purges it. ARTIFACT is its folder on an artifs mount or\n"
		       "artifs://project/artifact; PROJECT its folder or artifs://project.\n"
		       "Refused: a version a tag points at (EBUSY: move or drop the tag first), an\n"
		       "artifact with changes not committed, or a project holding one (EBUSY),\n"
		       "something removed already (ENOENT). A removed name cannot be made again\n"
		       "(mkdir: EEXIST) until it is restored. Files of it open now keep reading.\n");
	else
		printf("usage: artifs restore ARTIFACT@vN|ARTIFACT|PROJECT...\n\n"
		       "Brings back a version, an artifact or a project that `artifs rm` removed (on\n"
		       "this host or another), as it was, until `artifs gc` purges it. A project\n"
		       "comes back with every artifact it held when it was removed.\n"
		       "ARTIFACT is its folder on an artifs mount or artifs://project/artifact.\n");
}

/* What one operand names: the project folder's path, the artifact's name, a version. */
struct target {
	char project[PATH_MAX], name[136];
	uint64_t n;
};

static int target_of(const char *cmd, const char *arg, struct target *t)
{
	char path[PATH_MAX], root[PATH_MAX], rel[PATH_MAX], *art, *ref, *end;

	if (tool_on_mount(cmd, arg, path, sizeof(path), root, sizeof(root), rel, sizeof(rel)))
		return 1;
	/* rel: "p", "p/a" or "p/a/@vN" (a URI's @ref became a path component). A project is
	 * asked of the root folder. */
	if (rel[0] && !strchr(rel, '/')) {
		t->n = 0;
		if ((size_t)snprintf(t->project, sizeof(t->project), "%s", root) >=
			    sizeof(t->project) ||
		    (size_t)snprintf(t->name, sizeof(t->name), "%s", rel) >= sizeof(t->name)) {
			fprintf(stderr, "artifs %s: %s: name too long\n", cmd, arg);
			return 1;
		}
		return 0;
	}
	art = strchr(rel, '/');
	end = art ? strchr(art + 1, '/') : NULL;
	ref = end ? end + 1 : NULL;
	if (!art || art == rel || !art[1] || (ref && (ref[0] != '@' || strchr(ref, '/')))) {
		fprintf(stderr, "artifs %s: %s: not a project, an artifact or a version of one\n",
			cmd, arg);
		return 1;
	}
	*art++ = '\0';
	if (end) {
		*end = '\0';
		ref++;
	}
	t->n = 0;
	if (ref && (ref[0] != 'v' || tool_parse_uint(ref + 1, UINT64_MAX, &t->n) || !t->n)) {
		fprintf(stderr, "artifs %s: %s: name a version by its number (@vN)\n", cmd, arg);
		return 1;
	}
	if ((size_t)snprintf(t->project, sizeof(t->project), "%s/%s", root, rel) >=
		    sizeof(t->project) ||
	    (size_t)snprintf(t->name, sizeof(t->name), "%s", art) >= sizeof(t->name)) {
		fprintf(stderr, "artifs %s: %s: name too long\n", cmd, arg);
		return 1;
	}
	return 0;
}

static int one(const char *cmd, const char *arg)
{
	struct artifs_ioc_lifecycle l;
	struct target t;
	int fd, err = 0;

	if (target_of(cmd, arg, &t))
		return 1;
	memset(&l, 0, sizeof(l));
	memcpy(l.name, t.name, strlen(t.name) + 1);
	l.version = t.n;
	l.op = strcmp(cmd, "rm") ? ARTIFS_RESTORE : ARTIFS_REMOVE;
	fd = open(t.project, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, ARTIFS_IOC_LIFECYCLE, &l))
		err = errno;
	else
		err = l.err;
	if (fd >= 0)
		close(fd);
	if (err == ENOTTY && fd >= 0 && !l.err)
		fprintf(stderr, "artifs %s: %s: the mount's daemon does not know removals (an older "
				"artifs?)\n", cmd, arg);
	else if (err)
		fprintf(stderr, "artifs %s: %s: %s%s%s\n", cmd, arg, strerror(err),
			l.why[0] ? ": " : "", l.why);
	else
		printf("%s %s%s%s\n", l.op == ARTIFS_REMOVE ? "removed" : "restored", arg,
		       l.why[0] ? ": " : "", l.why);
	return err ? 1 : 0;
}

static int run(const char *cmd, int argc, char **argv)
{
	int opts = 1, n = 0, ret = 0;

	if (tool_wants_help(argc, argv)) {
		usage(cmd);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
		} else if (opts && argv[i][0] == '-') {
			return tool_bad_option(cmd, argv[i]);
		} else {
			n++;
			ret |= one(cmd, argv[i]);
		}
	}
	if (!n) {
		fprintf(stderr, "artifs %s: what? (see artifs %s --help)\n", cmd, cmd);
		return 2;
	}
	return ret;
}

int cmd_rm(int argc, char **argv)
{
	return run("rm", argc, argv);
}

int cmd_restore(int argc, char **argv)
{
	return run("restore", argc, argv);
}
