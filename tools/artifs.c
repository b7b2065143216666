/* SPDX-License-Identifier: MIT */
/* The artifs command: one dispatch table of subcommands (and mount.artifs by its name). */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
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
	{ "revert", cmd_revert, "make an artifact's HEAD equal one of its versions" },
	{ "run", cmd_run, "run a command as one job: one version per artifact it writes" },
	{ "status", cmd_status, "list artifacts with uncommitted drafts" },
	{ "log", cmd_log, "list the versions of an artifact, newest first" },
	{ "tag", cmd_tag, "set, move or drop a tag" },
	{ "label", cmd_label, "set, remove and list labels and metrics" },
	{ "cat", cmd_cat, "print a file of a version" },
	{ "get", cmd_get, "copy a version to a plain folder" },
	{ "import", cmd_import, "make a plain folder the next version of an artifact" },
	{ "rebuild", cmd_rebuild, "rebuild the index from the store alone" },
	{ "find", cmd_find, "find versions by project, label, metric, time or input" },
	{ "lineage", cmd_lineage, "what went into a version, or what was built from it" },
	{ "diff", cmd_diff, "what changed from one version to another" },
	{ "du", cmd_du, "where the space goes: logical and stored bytes per version" },
	{ "rm", cmd_rm, "remove a version or an artifact (restorable until gc)" },
	{ "restore", cmd_restore, "bring back a removed version or artifact" },
	{ "fsck", cmd_fsck, "check the store (and this host's index against it)" },
	{ "retain", cmd_retain, "show or set the retention policy of a project or artifact" },
	{ "gc", cmd_gc, "purge removed versions and delete packs no version names" },
	{ "prefetch", cmd_prefetch, "read a version into the local cache" },
	{ "config", cmd_config, "the mount options in effect, and where each came from" },
	{ "stats", cmd_stats, "the daemon's counters (requests, bytes, cache) as JSON" },
	{ "bench", cmd_bench,
	  "measure a mount (and optionally a baseline folder) with ordinary file operations" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: artifs <command> [options] [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n'artifs <command> --help' describes each. Paths on an artifs mount or\n"
		   "artifs:// URIs name artifacts; URIs resolve under $ARTIFS_MOUNT (default\n"
		   "/artifacts). Exit status: 0 done, 1 failed or refused, 2 something missing.\n");
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
	fprintf(stderr, "artifs: unknown command '%s' (see artifs --help)\n", argv[1]);
	ret = 1;
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
	if (!slash && *s && !strchr(s, '@')) { /* artifs://project */
		n = snprintf(out, len, "%s/%s", tool_mountpoint(), s);
		return n < 0 || (size_t)n >= len ? 2 : 0;
	}
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

int tool_state_arg(int *argc, char **argv, const char **state)
{
	*state = NULL;
	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (strcmp(argv[i], "--state"))
			continue;
		if (i + 1 >= *argc) {
			fprintf(stderr, "artifs %s: --state needs a folder (see artifs %s --help)\n",
				argv[0], argv[0]);
			return 1;
		}
		*state = argv[i + 1];
		memmove(argv + i, argv + i + 2, (*argc - i - 2 + 1) * sizeof(*argv));
		*argc -= 2;
		i--;
	}
	return 0;
}

int tool_bad_option(const char *cmd, const char *opt)
{
	fprintf(stderr, "artifs %s: unknown option '%s' (see artifs %s --help)\n", cmd, opt, cmd);
	return 1;
}

int tool_one_operand(const char *cmd, const char *what, int argc, char **argv,
		     const char **arg)
{
	int opts = 1;

	*arg = NULL;
	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
		} else if (opts && argv[i][0] == '-') {
			return tool_bad_option(cmd, argv[i]);
		} else if (*arg) {
			fprintf(stderr, "artifs %s: unexpected argument '%s' (one %s at a time)\n",
				cmd, argv[i], what);
			return 1;
		} else {
			*arg = argv[i];
		}
	}
	if (!*arg) {
		fprintf(stderr, "artifs %s: which %s? (see artifs %s --help)\n", cmd, what, cmd);
		return 2;
	}
	return 0;
}

int tool_needs_value(const char *cmd, const char *opt)
{
	fprintf(stderr, "artifs %s: %s needs a value (see artifs %s --help)\n", cmd, opt, cmd);
	return 1;
}

static int artifs_mount_of(const char *real, char *mp, size_t len);
static int mountinfo_split(char *line, char **point, char **type);

/* The one fuse.artifs mount in /proc/self/mountinfo into root; ENOENT for none or several. */
static int only_mount(char *root, size_t len)
{
	char line[3 * PATH_MAX], found[PATH_MAX] = "";
	int n = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return errno;
	while (fgets(line, sizeof(line), f)) {
		char *point, *type;

		if (mountinfo_split(line, &point, &type) || strcmp(type, "fuse.artifs") ||
		    strlen(point) >= sizeof(found))
			continue;
		snprintf(found, sizeof(found), "%s", point);
		n++;
	}
	fclose(f);
	if (n != 1)
		return ENOENT;
	return artifs_mount_of(found, root, len);
}

/* The state directory that the artifs mount named by where (a path or artifs:// URI; NULL:
 * $ARTIFS_MOUNT when it is one, else the only artifs mount) publishes in .artifs/mount. */
static int mount_state(const char *where, char *out, size_t len)
{
	char path[PATH_MAX], root[PATH_MAX], file[PATH_MAX + 32];
	json_t *o, *st;
	int err = ENOENT;

	if (where && tool_path(where, path, sizeof(path)) == 0)
		err = tool_mount_root(path, root, sizeof(root), NULL, 0);
	if (err && !where)
		err = tool_mount_root(tool_mountpoint(), root, sizeof(root), NULL, 0);
	if (err && !where)
		err = only_mount(root, sizeof(root));
	if (err)
		return err;
	snprintf(file, sizeof(file), "%s/.artifs/mount", root);
	o = json_load_file(file, 0, NULL);
	st = json_object_get(o, "state");
	err = json_is_string(st) && strlen(json_string_value(st)) < len ? 0 : ENOENT;
	if (!err)
		snprintf(out, len, "%s", json_string_value(st));
	json_decref(o);
	return err;
}

int tool_meta_open(const char *state, const char *where, struct meta **m)
{
	struct meta_conf c = { .readonly = 1 };
	const char *why = NULL, *env = getenv("ARTIFS_STATE");
	char found[PATH_MAX];
	int err;

	if (state)
		c.dir = state;
	else if (env && *env)
		c.dir = env;
	else if (mount_state(where, found, sizeof(found)) == 0)
		c.dir = found;
	else
		c.dir = fs_default_state();
	err = meta_open(&c, m, &why);
	if (err) {
		fprintf(stderr, "artifs: cannot read the index in %s: %s\n", c.dir,
			why ? why : strerror(err));
		return 1;
	}
	return 0;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++, o++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o = *s;
		}
	}
	*o = '\0';
}

/* One line of /proc/self/mountinfo, split in place: its mount point (unescaped) and its
 * filesystem type. ENOENT for a line without them. */
static int mountinfo_split(char *line, char **point, char **type)
{
	char *save = NULL, *sep = strstr(line, " - ");

	/* id parent major:minor root POINT options [optional...] - TYPE source ... */
	if (!sep)
		return ENOENT;
	*sep = '\0';
	*type = strtok_r(sep + 3, " ", &save);
	save = NULL;
	*point = strtok_r(line, " ", &save);
	for (int i = 0; *point && i < 4; i++)
		*point = strtok_r(NULL, " ", &save);
	if (!*point || !*type)
		return ENOENT;
	unescape(*point);
	return 0;
}

/*
 * The mount point nearest above real (an existing real path) into mp, and whether it is an
 * artifs mount: its type in /proc/self/mountinfo is fuse.artifs (the daemon sets
 * subtype=artifs) and its root has .artifs/version. 0, ENOENT when it is not, or errno.
 */
static int artifs_mount_of(const char *real, char *mp, size_t len)
{
	char line[3 * PATH_MAX], best[PATH_MAX] = "", probe[PATH_MAX + 32];
	int is_artifs = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return errno;
	while (fgets(line, sizeof(line), f)) {
		char *point, *type;
		size_t pl;

		if (mountinfo_split(line, &point, &type))
			continue;
		pl = strlen(point);
		if (strcmp(point, "/") &&
		    (strncmp(real, point, pl) || (real[pl] != '\0' && real[pl] != '/')))
			continue;
		/* The longest wins; of equal ones the later, which is mounted over the others. */
		if (pl < strlen(best) || pl >= sizeof(best))
			continue;
		memcpy(best, point, pl + 1);
		is_artifs = !strcmp(type, "fuse.artifs");
	}
	fclose(f);
	if (!is_artifs)
		return ENOENT;
	snprintf(probe, sizeof(probe), "%s%s.artifs/version", best, strcmp(best, "/") ? "/" : "");
	if (access(probe, F_OK))
		return errno == ENOTCONN ? ENOTCONN : ENOENT;
	if (strlen(best) >= len)
		return ENAMETOOLONG;
	snprintf(mp, len, "%s", best);
	return 0;
}

int tool_mount_root(const char *path, char *root, size_t rlen, char *rel, size_t rellen)
{
	char abs[PATH_MAX], real[PATH_MAX], tail[PATH_MAX] = "", tmp[PATH_MAX];
	char full[2 * PATH_MAX + 2];
	const char *below;
	char *cut, *c, *save;
	size_t rl;
	int n, err;

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
	err = artifs_mount_of(real, real, sizeof(real));
	if (err)
		return err;
	rl = strlen(real);
	below = full + rl;
	while (*below == '/')
		below++;
	if (strlen(real) >= rlen || (rel && strlen(below) >= rellen))
		return ENAMETOOLONG;
	memcpy(root, real, rl + 1);
	if (rel)
		snprintf(rel, rellen, "%s", below);
	return 0;
}

int tool_on_mount(const char *cmd, const char *arg, char *out, size_t len, char *root,
		  size_t rlen, char *rel, size_t rellen)
{
	char rbuf[PATH_MAX];
	int err;

	if (tool_path(arg, out, len))
		return 1;
	err = tool_mount_root(out, root ? root : rbuf, root ? rlen : sizeof(rbuf), rel, rellen);
	if (!err)
		return 0;
	if (err == ENOENT && strcmp(arg, out))
		fprintf(stderr, "artifs %s: %s (%s): not on an artifs mount (URIs resolve under "
				"$ARTIFS_MOUNT, default /artifacts)\n", cmd, arg, out);
	else if (err == ENOENT)
		fprintf(stderr, "artifs %s: %s: not on an artifs mount\n", cmd, out);
	else
		fprintf(stderr, "artifs %s: %s: %s\n", cmd, out, strerror(err));
	return 1;
}

int tool_mount_arg(const char *cmd, int argc, char **argv, char *root, size_t rlen)
{
	const char *arg = NULL;
	char path[PATH_MAX];
	int opts = 1;

	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
		} else if (opts && argv[i][0] == '-') {
			return tool_bad_option(cmd, argv[i]);
		} else if (arg) {
			fprintf(stderr, "artifs %s: unexpected argument '%s' (one mount at a time)\n",
				cmd, argv[i]);
			return 1;
		} else {
			arg = argv[i];
		}
	}
	return tool_on_mount(cmd, arg ? arg : tool_mountpoint(), path, sizeof(path), root, rlen,
			     NULL, 0);
}

int tool_uri(const char *cmd, const char *arg, char *out, size_t len)
{
	char path[PATH_MAX], rel[PATH_MAX], p[256], a[256], ref[256] = "";
	const char *r;
	int n;

	if (strncmp(arg, "artifs://", 9) == 0) {
		n = snprintf(out, len, "%s", arg);
		return n < 0 || (size_t)n >= len ? 1 : 0;
	}
	if (tool_on_mount(cmd, arg, path, sizeof(path), NULL, 0, rel, sizeof(rel)))
		return 1;
	if (sscanf(rel, "%255[^/]/%255[^/@]", p, a) != 2) {
		fprintf(stderr, "artifs %s: %s names no artifact (give its folder under the mount, "
				"or artifs://project/artifact[@ref])\n", cmd, arg);
		return 1;
	}
	r = rel + strlen(p) + 1 + strlen(a);
	if (*r == '@' || (*r == '/' && r[1] == '@'))
		sscanf(r + (*r == '/'), "@%255[^/]", ref);
	n = snprintf(out, len, "artifs://%s/%s%s%s", p, a, ref[0] ? "@" : "", ref);
	return n < 0 || (size_t)n >= len ? 1 : 0;
}

void tool_time(int64_t ns, char *out, size_t len)
{
	time_t s = ns / 1000000000;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
