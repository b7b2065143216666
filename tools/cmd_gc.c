/* SPDX-License-Identifier: MIT */
/* artifs gc [--dry-run] [--grace D] [--removed-grace D] [--skew D] [-o store=…]: one run of
 * garbage collection over the store (docs/gc.md). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../fs/fs.h"
#include "tools.h"

static volatile int stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int tty; /* stderr is a terminal: progress goes there, on one line */

static void line(void *arg, const char *text)
{
	if (tty)
		fprintf(stderr, "\r\033[K");
	printf("%s\n", text);
	fflush(stdout);
}

static void progress(void *arg, const char *phase, size_t done, size_t total)
{
	static size_t shown;

	if (tty && (done == total || done - shown >= 64 || done < shown)) {
		fprintf(stderr, "\r\033[K%s: %zu/%zu", phase, done, total);
		shown = done;
	}
}

static void usage(void)
{
	printf("usage: artifs gc [--dry-run] [--grace D] [--removed-grace D] [--skew D]\n"
	       "                 [-o option[,option...]]\n\n"
	       "One run of garbage collection over the store (docs/gc.md): versions that no\n"
	       "retention policy keeps (artifs retain) are removed, as artifs rm removes them;\n"
	       "versions removed more than --removed-grace ago are purged (their manifest and\n"
	       "labels deleted; artifs restore then refuses them), packs no other version names\n"
	       "that are older than --grace are condemned, and packs condemned by an earlier run\n"
	       "more than --grace plus --skew ago are deleted. Two runs, --grace apart, reclaim\n"
	       "what the first finds. Mounts on this and other hosts go on meanwhile: a commit\n"
	       "never names a condemned pack. One run at a time per store: another is refused.\n"
	       "Prints one line per phase; Ctrl-C stops after the object at hand.\n\n"
	       "  --dry-run          write nothing: list the versions policies would remove, and\n"
	       "                     say what would be purged, condemned, deleted and freed\n"
	       "  --grace D          how old a pack must be to be condemned, and how long it stays\n"
	       "                     condemned before it is deleted (default 1h)\n"
	       "  --removed-grace D  how long a removed version stays restorable (default 7d)\n"
	       "  --skew D           the largest clock difference between hosts (default 5m)\n"
	       "  D is a number of seconds, or a number with s, m, h or d.\n\n"
	       "options, as artifs mount takes them (see artifs mount --help):\n"
	       "  store=DIR|s3://bucket[/prefix], endpoint=URL, retries=N\n\n"
	       "Exit status: 0 done, 1 failed, 2 a bad command line, 75 another gc runs on the\n"
	       "store, 130 interrupted.\n");
}

static int option(struct fs_gc *g, struct fs_conf *c, int argc, char **argv, int *i)
{
	static const char *const names[] = { "--grace", "--removed-grace", "--skew" };
	int64_t *dst[] = { &g->grace_s, &g->removed_grace_s, &g->skew_s };

	if (!strcmp(argv[*i], "--dry-run")) {
		g->dry_run = 1;
		return 0;
	}
	if (!strncmp(argv[*i], "-o", 2) && argv[*i][2])
		return tool_conf_list("gc", argv[*i] + 2, TOOL_OPT_STORE, c) ? 1 : 0;
	for (size_t k = 0; k < 3; k++) {
		if (strcmp(argv[*i], names[k]) && strcmp(argv[*i], "-o"))
			continue;
		if (*i + 1 >= argc)
			return tool_needs_value("gc", argv[*i]);
		if (!strcmp(argv[*i], "-o"))
			return tool_conf_list("gc", argv[++*i], TOOL_OPT_STORE, c) ? 1 : 0;
		if (fs_duration_parse(argv[*i + 1], 3650LL * 86400, dst[k])) {
			fprintf(stderr, "artifs gc: %s %s: a number of seconds, or a number with s, "
					"m, h or d\n", argv[*i], argv[*i + 1]);
			return 2;
		}
		++*i;
		return 0;
	}
	if (argv[*i][0] == '-')
		return tool_bad_option("gc", argv[*i]);
	fprintf(stderr, "artifs gc: unexpected argument '%s' (see artifs gc --help)\n", argv[*i]);
	return 2;
}

int cmd_gc(int argc, char **argv)
{
	struct fs_gc g = { .grace_s = 3600, .removed_grace_s = 7 * 86400, .skew_s = 300,
			   .stop = &stop, .line = line, .progress = progress };
	struct sigaction sa = { .sa_handler = on_signal };
	struct fs_conf c;
	int err, ret;

	if (tool_wants_help(argc, argv)) {
		usage();
		return 0;
	}
	if (tool_conf_init("gc", TOOL_OPT_STORE, &c))
		return 1;
	for (int i = 1; i < argc; i++)
		if ((ret = option(&g, &c, argc, argv, &i)))
			goto out;
	ret = 1;
	if (tool_conf_finish("gc", &c))
		goto out;
	tty = isatty(2);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = fs_gc_run(&c, &g);
	if (err == EBUSY) {
		fprintf(stderr, "artifs gc: another gc runs on this store, %s; try again once it "
				"ended\n", g.other);
		ret = 75;
	} else if (err == EINTR) {
		fprintf(stderr, "artifs gc: interrupted; what is done stays done, and the next run "
				"goes on from there\n");
		ret = 130;
	} else if (err) {
		fprintf(stderr, "artifs gc: %s: %s\n", c.store, strerror(err));
	} else {
		ret = 0;
	}
out:
	tool_conf_release(&c);
	return ret;
}
