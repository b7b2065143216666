/* SPDX-License-Identifier: MIT */
/* The artifs command: one dispatch table of subcommands (and mount.artifs by its name). */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../fs/fs.h"
#include "../meta/meta.h"
#include "tools.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "mount", cmd_mount, "mount the artifact filesystem" },
	{ "commit", cmd_commit, "commit an artifact's draft as a new version now" },
	{ "discard", cmd_discard, "throw an artifact's draft away" },
	{ "status", cmd_status, "list artifacts with uncommitted drafts" },
	{ "log", cmd_log, "list the versions of an artifact, newest first" },
	{ "tag", cmd_tag, "set, move or drop a tag" },
	{ "cat", cmd_cat, "print a file of a version" },
	{ "rebuild", cmd_rebuild, "rebuild the index from the store alone" },
	{ "find", cmd_find, "find versions by project, label, metric, time or input" },
	{ "lineage", cmd_lineage, "what went into a version, or what was built from it" },
	{ "prefetch", cmd_prefetch, "read a version into the local cache" },
	{ "stats", cmd_stats, "the daemon's counters (requests, bytes, cache) as JSON" },
	{ "bench", cmd_bench,
	  "measure a mount (and optionally a baseline folder) with ordinary file operations" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: artifs <command> [options] [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n'artifs <command> --help' describes each. Paths or artifs:// URIs name "
		   "artifacts;\nURIs resolve under $ARTIFS_MOUNT (default /artifacts).\n");
}

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/');
	int ret;

	self = self ? self + 1 : argv[0];
	/* Chunk buffers are megabytes: a fixed threshold keeps them mmap'ed and returned to
	 * the system when freed, instead of glibc's adaptive threshold growing the heap. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_ARENA_MAX, 4);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(self, "mount.artifs") == 0) {
		ret = cmd_mount(argc, argv);
		goto out;
	}
	if (argc < 2) {
		usage(stderr);
		ret = 2;
		goto out;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		ret = 0;
		goto out;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("artifs 0.1.0\n");
		ret = 0;
		goto out;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			ret = cmds[i].fn(argc - 1, argv + 1);
			goto out;
		}
	}
	fprintf(stderr, "artifs: unknown command '%s'\n", argv[1]);
	usage(stderr);
	ret = 2;
out:
	curl_global_cleanup();
	return ret;
}

const char *tool_mountpoint(void)
{
	const char *m = getenv("ARTIFS_MOUNT");

	return m && *m ? m : "/artifacts";
}

int tool_path(const char *arg, char *out, size_t len)
{
	const char *s, *at, *slash;
	int n;

	if (strncmp(arg, "artifs://", 9) != 0) {
		n = snprintf(out, len, "%s", arg);
		return n < 0 || (size_t)n >= len ? 2 : 0;
	}
	s = arg + 9;
	slash = strchr(s, '/');
	if (!slash || slash == s) {
		fprintf(stderr, "artifs: malformed URI '%s' (artifs://project/artifact[@ref][/path])\n",
			arg);
		return 2;
	}
	at = strchr(slash + 1, '@');
	if (!at) {
		n = snprintf(out, len, "%s/%s", tool_mountpoint(), s);
	} else {
		if (at == slash + 1 || at[1] == '\0' || at[1] == '/') {
			fprintf(stderr, "artifs: malformed URI '%s'\n", arg);
			return 2;
		}
		n = snprintf(out, len, "%s/%.*s/@%s", tool_mountpoint(), (int)(at - s), s, at + 1);
	}
	return n < 0 || (size_t)n >= len ? 2 : 0;
}

int tool_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	return 0;
}

const char *tool_state_arg(int *argc, char **argv)
{
	const char *state = NULL;

	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--state") == 0 && i + 1 < *argc) {
			state = argv[i + 1];
			memmove(argv + i, argv + i + 2, (*argc - i - 2 + 1) * sizeof(*argv));
			*argc -= 2;
			i--;
		}
	}
	return state;
}

int tool_meta_open(const char *state, struct meta **m)
{
	struct meta_conf c = { .readonly = 1 };
	const char *why = NULL, *env = getenv("ARTIFS_STATE");
	int err;

	c.dir = state ? state : env && *env ? env : fs_default_state();
	err = meta_open(&c, m, &why);
	if (err) {
		fprintf(stderr, "artifs: cannot read the index in %s: %s\n", c.dir,
			why ? why : strerror(err));
		return 1;
	}
	return 0;
}

/* The part of path below the artifs mount that holds it: the mount root is the folder
 * above it with .artifs/version, so any mount point works, not only $ARTIFS_MOUNT. */
static int mount_relative(const char *path, char *out, size_t len)
{
	char real[4096], root[4096], probe[4200];
	char *cut;

	if (!realpath(path, real))
		return ENOENT;
	snprintf(root, sizeof(root), "%s", real);
	while ((cut = strrchr(root, '/')) && cut > root) {
		*cut = '\0';
		snprintf(probe, sizeof(probe), "%s/.artifs/version", root);
		if (access(probe, F_OK) == 0) {
			snprintf(out, len, "%s", real + strlen(root) + 1);
			return 0;
		}
	}
	return ENOENT;
}

int tool_mount_root(const char *path, char *root, size_t rlen, char *rel, size_t rellen)
{
	char abs[PATH_MAX], real[PATH_MAX], tail[PATH_MAX] = "", tmp[PATH_MAX];
	char full[2 * PATH_MAX + 2], probe[PATH_MAX + 32];
	const char *below;
	char *cut, *c, *save;
	size_t rl;
	int n;

	if (path[0] == '/') {
		n = snprintf(abs, sizeof(abs), "%s", path);
	} else {
		if (!getcwd(tmp, sizeof(tmp)))
			return errno;
		n = snprintf(abs, sizeof(abs), "%s/%s", tmp, path);
	}
	if (n < 0 || (size_t)n >= sizeof(abs))
		return ENAMETOOLONG;
	/* Resolve the nearest existing ancestor; the components below it are kept as given,
	 * so a folder that is yet to be made can be placed. */
	while (!realpath(abs, real)) {
		if (errno != ENOENT)
			return errno;
		cut = strrchr(abs, '/');
		if (!cut)
			return ENOENT;
		n = snprintf(tmp, sizeof(tmp), "%s%s%s", cut + 1, cut[1] && tail[0] ? "/" : "",
			     tail);
		if (n < 0 || (size_t)n >= sizeof(tmp))
			return ENAMETOOLONG;
		memcpy(tail, tmp, (size_t)n + 1);
		if (cut == abs)
			cut[1] = '\0';
		else
			*cut = '\0';
	}
	snprintf(full, sizeof(full), "%s", real);
	for (c = strtok_r(tail, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, ".") || !strcmp(c, ".."))
			return EINVAL;
		rl = strlen(full);
		n = snprintf(full + rl, sizeof(full) - rl, "%s%s", full[rl - 1] == '/' ? "" : "/", c);
		if (n < 0 || (size_t)n >= sizeof(full) - rl)
			return ENAMETOOLONG;
	}
	/* Only an existing folder can hold .artifs/version: probe from real upwards. */
	for (;;) {
		snprintf(probe, sizeof(probe), "%s%s.artifs/version", real,
			 strcmp(real, "/") ? "/" : "");
		if (access(probe, F_OK) == 0)
			break;
		if (!strcmp(real, "/"))
			return ENOENT;
		cut = strrchr(real, '/');
		if (cut == real)
			cut[1] = '\0';
		else
			*cut = '\0';
	}
	rl = strlen(real);
	below = full + rl;
	while (*below == '/')
		below++;
	if (strlen(real) >= rlen || strlen(below) >= rellen)
		return ENAMETOOLONG;
	memcpy(root, real, rl + 1);
	if (rel)
		snprintf(rel, rellen, "%s", below);
	return 0;
}

int tool_uri(const char *arg, char *out, size_t len)
{
	const char *mnt = tool_mountpoint();
	size_t ml = strlen(mnt);
	const char *rel = arg;
	int n;

	if (strncmp(arg, "artifs://", 9) == 0) {
		n = snprintf(out, len, "%s", arg);
		return n < 0 || (size_t)n >= len ? 2 : 0;
	}
	char relbuf[4096];

	if (mount_relative(arg, relbuf, sizeof(relbuf)) == 0)
		rel = relbuf;
	if (rel == arg && strncmp(arg, mnt, ml) == 0 && arg[ml] == '/')
		rel = arg + ml + 1;
	{
		char p[256], a[256], ref[256] = "";

		if (sscanf(rel, "%255[^/]/%255[^/@]", p, a) != 2) {
			fprintf(stderr, "artifs: cannot tell which artifact '%s' names "
					"(artifs://project/artifact[@ref], or a path under %s)\n",
				arg, mnt);
			return 2;
		}
		rel = strchr(rel, '/') + 1 + strlen(a);
		if (*rel == '@' || (*rel == '/' && rel[1] == '@'))
			sscanf(rel + (*rel == '/'), "@%255[^/]", ref);
		n = snprintf(out, len, "artifs://%s/%s%s%s", p, a, ref[0] ? "@" : "", ref);
	}
	return n < 0 || (size_t)n >= len ? 2 : 0;
}

void tool_time(int64_t ns, char *out, size_t len)
{
	time_t s = ns / 1000000000;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
