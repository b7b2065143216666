/* SPDX-License-Identifier: MIT */
/* artifs mount [-f] [-d] [-o opts] MOUNTPOINT, and mount.artifs SOURCE MOUNTPOINT -o opts. */
#include "../fs/fs.h" /* first: it defines FUSE_USE_VERSION */

#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backends/backend.h"
#include "../fs/fs.h"
#include "tools.h"

struct mopts {
	char *store, *state, *endpoint, *cache;
	unsigned retries;
	unsigned long long cache_size;
	unsigned commit_delay;
	int commit_delay_set;
	unsigned long long map_size, rcache;
	int foreground, debug, help;
	int capture; /* -1 unset */
	unsigned refresh;
	int refresh_set;
	char *source, *mountpoint;
	int is_helper;
};

enum { KEY_FG, KEY_DEBUG, KEY_HELP, KEY_DELAY, KEY_REFRESH };

static const struct fuse_opt specs[] = {
	{ "store=%s", offsetof(struct mopts, store), 0 },
	{ "state=%s", offsetof(struct mopts, state), 0 },
	{ "endpoint=%s", offsetof(struct mopts, endpoint), 0 },
	{ "retries=%u", offsetof(struct mopts, retries), 0 },
	{ "cache=%s", offsetof(struct mopts, cache), 0 },
	{ "cache_size=%llu", offsetof(struct mopts, cache_size), 0 },
	{ "commit_delay=%u", offsetof(struct mopts, commit_delay), 0 },
	FUSE_OPT_KEY("commit_delay=", KEY_DELAY),
	{ "map_size=%llu", offsetof(struct mopts, map_size), 0 },
	{ "rcache=%llu", offsetof(struct mopts, rcache), 0 },
	{ "capture=%d", offsetof(struct mopts, capture), 0 },
	{ "refresh=%u", offsetof(struct mopts, refresh), 0 },
	FUSE_OPT_KEY("refresh=", KEY_REFRESH),
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

	switch (key) {
	case KEY_FG:
		o->foreground = 1;
		return 0;
	case KEY_DEBUG:
		o->debug = 1;
		return 0;
	case KEY_HELP:
		o->help = 1;
		return 0;
	case KEY_DELAY:
		o->commit_delay_set = 1;
		return 0; /* the spec with %u stored the value */
	case KEY_REFRESH:
		o->refresh_set = 1;
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
		fprintf(stderr, "artifs mount: unexpected argument '%s'\n", arg);
		return -1;
	default:
		return 1;
	}
}

static void help(void)
{
	printf("usage: artifs mount [-f] [-d] [-o option[,option...]] MOUNTPOINT\n"
	       "       mount.artifs STORE MOUNTPOINT [-o options]   (for mount -t artifs and fstab)\n\n"
	       "Mounts the artifact filesystem. Without -f it runs in the background and logs to\n"
	       "syslog; with -f it stays in the foreground and logs to stderr.\n\n"
	       "options:\n"
	       "  store=DIR          the store (default $ARTIFS_STORE or %s)\n"
	       "                     or s3://bucket[/prefix] (credentials: AWS_* variables or\n"
	       "                     ~/.aws/credentials; never put secrets on the command line)\n"
	       "  endpoint=URL       S3 endpoint, e.g. http://127.0.0.1:7480 (default\n"
	       "                     $AWS_ENDPOINT_URL, else AWS)\n"
	       "  retries=N          S3 attempts after the first before a request fails (default 6)\n"
	       "  cache=DIR          local chunk cache of an s3 store (default STATE/cache)\n"
	       "  cache_size=BYTES   its bound (default 10 GiB, at most 10%% of that disk's free\n"
	       "                     space)\n"
	       "  state=DIR          the host's index and drafts (default $ARTIFS_STATE or %s)\n"
	       "  commit_delay=MS    quiet time before a draft becomes a version (default 1000;\n"
	       "                     0 commits as soon as the last writer has closed)\n"
	       "  map_size=BYTES     initial LMDB map size (it grows when full)\n"
	       "  rcache=BYTES       memory for decoded chunks, being fetched or cached (32 MiB)\n"
	       "  capture=0|1        capture lineage from the files runs read (default 1)\n"
	       "  refresh=MS         re-read an artifact's versions and tags from the store when\n"
	       "                     it is looked up this long after the last time (default\n"
	       "                     2000; 0: never, for a store no other host writes)\n"
	       "  allow_other, default_permissions, ro, and other FUSE mount options\n"
	       "  -d                 debug logging (and the FUSE request trace)\n",
	       fs_default_store(), fs_default_state());
}

int cmd_mount(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct mopts o = { .capture = -1 };
	struct fs_conf c = { 0 };
	const char *self = strrchr(argv[0], '/');
	const char *env;
	int err;

	o.is_helper = strcmp(self ? self + 1 : argv[0], "mount.artifs") == 0;
	if (fuse_opt_parse(&args, &o, specs, proc)) {
		fuse_opt_free_args(&args);
		return 2;
	}
	if (o.help) {
		help();
		fuse_opt_free_args(&args);
		return 0;
	}
	if (!o.mountpoint) {
		fprintf(stderr, "artifs mount: no mount point given (see --help)\n");
		fuse_opt_free_args(&args);
		return 2;
	}
	if (o.is_helper && o.source && !o.store && strcmp(o.source, "artifs") &&
	    strcmp(o.source, "none"))
		o.store = strdup(o.source);
	if (!o.store && (env = getenv("ARTIFS_STORE")) && *env)
		o.store = strdup(env);
	if (!o.state && (env = getenv("ARTIFS_STATE")) && *env)
		o.state = strdup(env);
	if (!o.commit_delay_set) {
		env = getenv("ARTIFS_COMMIT_DELAY");
		o.commit_delay = env && *env ? (unsigned)strtoul(env, NULL, 10) : 1000;
	}
	if (o.debug) {
		log_set_debug(1);
		fuse_opt_add_arg(&args, "-odebug");
	}
	/* Version files are read by everyone the kernel lets in; names are ours to check. */
	fuse_opt_add_arg(&args, "-osubtype=artifs,fsname=artifs");
	c.store = o.store ? o.store : fs_default_store();
	c.state = o.state ? o.state : fs_default_state();
	c.endpoint = o.endpoint;
	c.retries = o.retries;
	c.cache_dir = o.cache;
	c.cache_size = o.cache_size;
	c.commit_delay_ms = o.commit_delay;
	c.map_size = o.map_size;
	c.rcache_bytes = o.rcache;
	c.foreground = o.foreground;
	if (o.capture < 0) {
		env = getenv("ARTIFS_CAPTURE");
		o.capture = env && *env ? atoi(env) : 1;
	}
	c.no_capture = !o.capture;
	c.refresh_ms = o.refresh_set ? o.refresh : 2000;
	c.debug = o.debug;
	err = fs_mount_main(&c, &args, o.mountpoint);
	fuse_opt_free_args(&args);
	free(o.store);
	free(o.state);
	free(o.endpoint);
	free(o.cache);
	free(o.source);
	free(o.mountpoint);
	if (err) {
		fprintf(stderr, "artifs mount: %s\n", strerror(err));
		return 1;
	}
	return 0;
}
