/* SPDX-License-Identifier: MIT */
/* artifs mount [-f] [-d] [-o opts] MOUNTPOINT, and mount.artifs SOURCE MOUNTPOINT -o opts. */
#include "../fs/fs.h" /* first: it defines FUSE_USE_VERSION */

#include <fuse_lowlevel.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../backends/backend.h"
#include "../fs/fs.h"
#include "tools.h"

struct mopts {
	struct fs_conf c;
	int foreground, debug, help, failed;
	int allow_other, default_permissions;
	int nonempty; /* -o nonempty: mount over a folder with files, or over an artifs mount */
	char *source, *mountpoint;
	int is_helper;
	int fake; /* mount.artifs -f: mount(8)'s --fake, everything but the mount */
};

enum { KEY_FG, KEY_DEBUG, KEY_HELP };

/* artifs's own -o options (tool_conf_opt) and unknown ones reach proc as FUSE_OPT_KEY_OPT. */
static const struct fuse_opt specs[] = {
	FUSE_OPT_KEY("-f", KEY_FG),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	/* mount(8) calls helpers as: mount.artifs SPEC DIR [-sfnv] [-o opts] [-t type] */
	FUSE_OPT_KEY("-t ", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-s", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-n", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-v", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END
};

static int proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct mopts *o = data;
	int err;

	switch (key) {
	case KEY_FG:
		if (o->is_helper)
			o->fake = 1; /* mount(8) passes -f for --fake, not for foreground */
		else
			o->foreground = 1;
		return 0;
	case KEY_DEBUG:
		o->debug = 1;
		return 0;
	case KEY_HELP:
		o->help = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (o->is_helper && !o->source) {
			o->source = strdup(arg);
			return 0;
		}
		if (!o->mountpoint) {
			o->mountpoint = strdup(arg);
			return 0;
		}
		fprintf(stderr, "artifs mount: unexpected argument '%s' (one mount point)\n", arg);
		o->failed = 1;
		return -1;
	case FUSE_OPT_KEY_OPT:
		if (arg[0] == '-') {
			tool_bad_option("mount", arg);
			o->failed = 1;
			return -1;
		}
		err = tool_conf_opt("mount", arg, TOOL_OPT_STORE | TOOL_OPT_DAEMON, &o->c);
		if (err > 0) {
			o->failed = 1;
			return -1;
		}
		if (err == 0)
			return 0;
		if (!strcmp(arg, "nonempty")) {
			o->nonempty = 1;
			return 0; /* ours: libfuse 3 has no such option */
		}
		if (!strcmp(arg, "allow_other"))
			o->allow_other = 1;
		else if (!strcmp(arg, "default_permissions"))
			o->default_permissions = 1;
		return 1; /* a FUSE option: fuse_opts_check() vets it */
	default:
		return 1;
	}
}

static char fuse_why[256];

static void fuse_why_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	size_t l = strlen(fuse_why);

	if (l < sizeof(fuse_why) - 1)
		vsnprintf(fuse_why + l, sizeof(fuse_why) - l, fmt, ap);
}

/*
 * libfuse refuses an option it does not know only in fuse_session_new(), which the daemon
 * calls after forking and opening the store: ask it now, on a copy of the options, so that
 * a typo is refused on the terminal before anything is made.
 */
static int fuse_opts_check(const struct fuse_args *args)
{
	static const struct fuse_lowlevel_ops none;
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se;
	char *why = fuse_why;
	size_t l;

	for (int i = 0; i < args->argc; i++) {
		if (fuse_opt_add_arg(&copy, args->argv[i])) {
			fuse_opt_free_args(&copy);
			fprintf(stderr, "artifs mount: out of memory\n");
			return 1;
		}
	}
	fuse_why[0] = '\0';
	fuse_set_log_func(fuse_why_log);
	se = fuse_session_new(&copy, &none, sizeof(none), NULL);
	fuse_set_log_func(NULL);
	fuse_opt_free_args(&copy);
	if (se) {
		fuse_session_destroy(se);
		return 0;
	}
	l = strlen(why);
	while (l && why[l - 1] == '\n')
		why[--l] = '\0';
	if (!strncmp(why, "fuse: ", 6))
		why += 6;
	fprintf(stderr, "artifs mount: %s (see artifs mount --help)\n",
		*why ? why : "FUSE refused the options");
	return 1;
}

static void help(void)
{
	printf("usage: artifs mount [-f] [-d] [-o option[,option...]] MOUNTPOINT\n"
	       "       mount.artifs STORE MOUNTPOINT [-o options]   (for mount -t artifs and fstab)\n\n"
	       "Mounts the artifact filesystem. Without -f it runs in the background and logs to\n"
	       "syslog; with -f it stays in the foreground and logs to stderr. As mount.artifs,\n"
	       "-f is mount(8)'s --fake: the options are checked, nothing is mounted.\n\n"
	       "options:\n"
	       "  store=DIR          the store (default $ARTIFS_STORE or %s)\n"
	       "                     or s3://bucket[/prefix] (credentials: AWS_* variables or\n"
	       "                     ~/.aws/credentials; never put secrets on the command line)\n"
	       "  endpoint=URL       S3 endpoint, e.g. http://127.0.0.1:7480 (default\n"
	       "                     $AWS_ENDPOINT_URL, else AWS)\n"
	       "  retries=N          S3 attempts after the first before a request fails (default 6)\n"
	       "  cache=DIR          local chunk and pack cache of an s3 store (default STATE/cache)\n"
	       "  cache_size=SIZE    its bound (default 10 GiB, at most 10%% of that disk's free\n"
	       "                     space)\n"
	       "  state=DIR          the host's index and drafts (default $ARTIFS_STATE or %s)\n"
	       "  commit_delay=MS    quiet time before a draft becomes a version (default 1000;\n"
	       "                     0 commits as soon as the last writer has closed); a\n"
	       "                     draft whose writers' runs have all ended commits at once\n"
	       "  commit_idle=MS     a named run's drafts ($ARTIFS_RUN, artifs run) commit when\n"
	       "                     it ends, or after this much quiet while it lives (default\n"
	       "                     300000; 0: only when it ends)\n"
	       "  map_size=SIZE      initial LMDB map size (it grows when full)\n"
	       "  rcache=SIZE        memory for decoded chunks, being fetched or cached (32M)\n"
	       "  capture=0|1        capture lineage from the files runs read (default 1)\n"
	       "  refresh=MS         re-read an artifact's versions and tags from the store when\n"
	       "                     it is looked up this long after the last time (default\n"
	       "                     2000; 0: never, for a store no other host writes)\n"
	       "  allow_other        let other users in; implies default_permissions: the\n"
	       "                     kernel checks modes and owners (open, chmod, chown, ...)\n"
	       "  nonempty           mount over a folder that holds files (hidden while mounted)\n"
	       "                     or over another artifs mount; refused without it\n"
	       "  default_permissions, ro, and other FUSE mount options\n"
	       "  -d                 debug logging (and the FUSE request trace)\n\n"
	       "Each option may also come from /etc/artifs/config, ~/.config/artifs/config\n"
	       "($ARTIFS_CONFIG instead of both) or $ARTIFS_<NAME>; -o wins over the\n"
	       "environment, which wins over the files (artifs config shows them).\n"
	       "SIZE is bytes, or a number with K, M, G or T (powers of 1024), optionally\n"
	       "followed by iB: 32M, 32MiB, 1G. Unknown options are refused.\n",
	       fs_default_store(), fs_default_state());
}

/* The mount point must be a folder, and (unless -o nonempty) an empty one that is no artifs
 * mount already: files under it would be hidden, and a second daemon would shadow the first.
 * 0, or 1 with a reason on stderr. */
static int mountpoint_check(const char *mp, int nonempty)
{
	char root[PATH_MAX], real[PATH_MAX];
	struct dirent *e;
	int files = 0;
	DIR *d = opendir(mp);

	if (!d) {
		int err = errno;

		fprintf(stderr, "artifs mount: %s: %s%s\n", mp, strerror(err),
			err == ENOTCONN ? " (a dead mount: fusermount3 -uz it first)"
			: err == ENOENT ? " (create the folder first: mkdir -p)" : "");
		return 1;
	}
	while ((e = readdir(d)) && !files)
		files = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	if (!nonempty && realpath(mp, real) &&
	    tool_mount_root(mp, root, sizeof(root), NULL, 0) == 0 && !strcmp(root, real)) {
		fprintf(stderr, "artifs mount: %s is an artifs mount already (unmount it with "
			"fusermount3 -u, or -o nonempty to mount over it)\n", mp);
		return 1;
	}
	if (!nonempty && files) {
		fprintf(stderr, "artifs mount: %s is not empty: its files would be hidden while "
			"mounted (-o nonempty to mount over it anyway)\n", mp);
		return 1;
	}
	return 0;
}

/*
 * Local folder option opt=path (store, state, cache) can be used or made: path is a folder,
 * or its nearest existing ancestor is a folder in which a probe folder can be made (and is
 * removed at once). Checked before the daemon makes any of them, so that a bad state= does
 * not leave a new empty store behind, nor a bad store= a new state. 0, or 1 with a reason.
 */
static int folder_check(const char *opt, const char *path)
{
	char dir[PATH_MAX], probe[PATH_MAX + 32];
	struct stat st;
	size_t n = strlen(path);

	if (!n || n >= sizeof(dir))
		return 0; /* the daemon says why */
	memcpy(dir, path, n + 1);
	while (stat(dir, &st)) {
		char *slash = strrchr(dir, '/');

		if (errno != ENOENT) {
			fprintf(stderr, "artifs mount: %s=%s: %s: %s\n", opt, path, dir,
				strerror(errno));
			return 1;
		}
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == dir)
			snprintf(dir, sizeof(dir), "/");
		else
			*slash = '\0';
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "artifs mount: %s=%s: %s is not a folder\n", opt, path, dir);
		return 1;
	}
	snprintf(probe, sizeof(probe), "%s/.artifs-probe-%d", dir, (int)getpid());
	if (mkdir(probe, 0700)) {
		fprintf(stderr, "artifs mount: %s=%s: cannot make folders in %s: %s\n", opt, path,
			dir, strerror(errno));
		return 1;
	}
	rmdir(probe);
	return 0;
}

int cmd_mount(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct mopts o = { 0 };
	const char *self = strrchr(argv[0], '/');
	int err, ret = 1;

	o.is_helper = strcmp(self ? self + 1 : argv[0], "mount.artifs") == 0;
	if (tool_conf_init("mount", TOOL_OPT_STORE | TOOL_OPT_DAEMON, &o.c))
		return 1;
	if (fuse_opt_parse(&args, &o, specs, proc)) {
		/* fuse_opt's own refusals (e.g. -o without a list) say why on stderr too. */
		if (!o.failed)
			fprintf(stderr, "artifs mount: see artifs mount --help\n");
		goto out;
	}
	if (o.help) {
		help();
		ret = 0;
		goto out;
	}
	if (!o.mountpoint) {
		fprintf(stderr, "artifs mount: no mount point given (see artifs mount --help)\n");
		ret = 2;
		goto out;
	}
	if (o.is_helper && o.source && !o.c.store && strcmp(o.source, "artifs") &&
	    strcmp(o.source, "none")) {
		o.c.store = o.source;
		o.source = NULL;
	}
	if (tool_conf_finish("mount", &o.c))
		goto out;
	if (o.debug) {
		log_set_debug(1);
		fuse_opt_add_arg(&args, "-odebug");
	}
	/*
	 * The daemon checks names, not callers: with allow_other every user reaches it, so the
	 * kernel must check the modes and owners it reports (open, chmod, chown, unlink...).
	 * mount and mount.artifs both pass here.
	 */
	if (o.allow_other && !o.default_permissions)
		fuse_opt_add_arg(&args, "-odefault_permissions");
	fuse_opt_add_arg(&args, "-osubtype=artifs,fsname=artifs");
	if (fuse_opts_check(&args) || mountpoint_check(o.mountpoint, o.nonempty) ||
	    (strncmp(o.c.store, "s3://", 5) && folder_check("store", o.c.store)) ||
	    folder_check("state", o.c.state) || (o.c.cache_dir && folder_check("cache", o.c.cache_dir)))
		goto out;
	if (o.fake) {
		ret = 0;
		goto out;
	}
	o.c.foreground = o.foreground;
	o.c.debug = o.debug;
	err = fs_mount_main(&o.c, &args, o.mountpoint);
	if (err) {
		fprintf(stderr, "artifs mount: %s\n", strerror(err));
		goto out;
	}
	ret = 0;
out:
	fuse_opt_free_args(&args);
	tool_conf_release(&o.c);
	free(o.source);
	free(o.mountpoint);
	return ret;
}
