/* SPDX-License-Identifier: MIT */
/*
 * artifs import [--message M] [--label K=V]... [--jobs N] DIR ARTIFACT: a plain folder as
 * the next version of an artifact, in one step: the artifact's HEAD is made to hold exactly
 * what DIR holds (N files copied at once through the mount, modes, times and user.*
 * attributes kept), then committed. It all happens in a held run (docs/jobs.md), so that
 * nothing is committed before the copy is whole: a failed import throws its draft away, a
 * killed one leaves it a draft that `artifs status` names.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tools.h"

struct import {
	char root[PATH_MAX], art[PATH_MAX], rel[PATH_MAX], id[40];
	const char *msg;
	char *labels[TOOL_RUN_LABELS];
	int nlabels;
	uint64_t jobs;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: artifs import [--message MESSAGE] [--label KEY=VALUE]... [--jobs N] DIR "
		"ARTIFACT\n\n"
		"Makes the folder DIR the next version of ARTIFACT (p/a under the mount, or\n"
		"artifs://p/a; made when missing): its HEAD gets exactly DIR's files, folders and\n"
		"links (N files copied at once, default %d; modes, times and user.* attributes\n"
		"kept; special files left out), and is committed with MESSAGE and the labels.\n"
		"Prints the version. Nothing is committed before the copy is whole: on a failure\n"
		"the draft is thrown away and the exit status is 1. An artifact with changes not\n"
		"committed yet is refused (commit or discard them first). A DIR equal to the\n"
		"newest version makes no new version.\n",
		TOOL_COPY_JOBS_DEFAULT);
}

static int parse(struct import *im, int argc, char **argv, const char **args)
{
	int opts = 1, n = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && !strcmp(a, "--")) {
			opts = 0;
		} else if (opts && (!strcmp(a, "--label") || !strcmp(a, "--message") ||
				    !strcmp(a, "--jobs")) && i + 1 >= argc) {
			return tool_needs_value("import", a);
		} else if (opts && !strcmp(a, "--label")) {
			if (tool_label_arg("import", argv[++i], im->labels, &im->nlabels))
				return 2;
		} else if (opts && !strcmp(a, "--message")) {
			im->msg = argv[++i];
		} else if (opts && !strcmp(a, "--jobs")) {
			if (tool_parse_uint(argv[++i], TOOL_COPY_JOBS_MAX, &im->jobs) || !im->jobs) {
				fprintf(stderr, "artifs import: --jobs takes 1 to %d, not '%s'\n",
					TOOL_COPY_JOBS_MAX, argv[i]);
				return 1;
			}
		} else if (opts && a[0] == '-' && a[1]) {
			return tool_bad_option("import", a);
		} else if (n == 2) {
			fprintf(stderr, "artifs import: unexpected argument '%s' (a folder and an "
					"artifact)\n", a);
			return 1;
		} else {
			args[n++] = a;
		}
	}
	if (n < 2) {
		fprintf(stderr, "artifs import: give a folder and the artifact to import it into "
				"(see artifs import --help)\n");
		return 2;
	}
	return 0;
}

/* The artifact folder (made when missing, with its project), and no draft in it. */
static int target(struct import *im, const char *arg)
{
	char p[256], a[256], line[1024], want[600];
	FILE *f;
	int busy = 0;

	if (tool_on_mount("import", arg, im->art, sizeof(im->art), im->root, sizeof(im->root),
			  im->rel, sizeof(im->rel)))
		return 1;
	if (sscanf(im->rel, "%255[^/]/%255[^/]", p, a) != 2 || strchr(im->rel, '@') ||
	    strlen(im->rel) != strlen(p) + 1 + strlen(a)) {
		fprintf(stderr, "artifs import: %s is not an artifact (give p/a under the mount, "
				"or artifs://p/a: not a version, nor a folder in one)\n", arg);
		return 1;
	}
	snprintf(want, sizeof(want), "%s/%s", p, a);
	snprintf(line, sizeof(line), "%s/%s", im->root, p);
	if ((mkdir(line, 0755) && errno != EEXIST) || (mkdir(im->art, 0755) && errno != EEXIST)) {
		fprintf(stderr, "artifs import: cannot make %s: %s\n", im->art, strerror(errno));
		return 1;
	}
	snprintf(line, sizeof(line), "%s/.artifs/drafts", im->root);
	f = fopen(line, "r");
	while (f && !busy && fgets(line, sizeof(line), f))
		busy = !strncmp(line, want, strlen(want)) && strchr("\t\n", line[strlen(want)]);
	if (f)
		fclose(f);
	if (busy)
		fprintf(stderr, "artifs import: %s has changes not committed yet (artifs status): "
				"commit or discard them first\n", want);
	return busy;
}

/* 1 when a is b or lies inside it (whole components). */
static int within(const char *a, const char *b)
{
	size_t n = strlen(b);

	return !strncmp(a, b, n) && (a[n] == '/' || a[n] == '\0' || (n == 1 && b[0] == '/'));
}

/* DIR must not hold the artifact nor lie inside its HEAD: the copy would read what it
 * writes. */
static int overlap(const char *dir, const char *art)
{
	char d[PATH_MAX], a[PATH_MAX];

	if (!realpath(dir, d) || !realpath(art, a))
		return 0; /* both exist here; a race is refused by the copy itself */
	if (!within(d, a) && !within(a, d))
		return 0;
	if (within(d, a) && !strncmp(d + strlen(a), "/@", 2))
		return 0; /* one of its versions: read-only, and the @ names are never pruned */
	fprintf(stderr, "artifs import: %s and %s overlap (import a folder from outside the "
			"artifact's HEAD, or one of its versions: p/a/@v3)\n", dir, art);
	return 1;
}

/* Each copying thread joins the held run: the daemon knows writers by thread. */
static int join_run(void *arg)
{
	const struct import *im = arg;
	char v[64];
	int n = snprintf(v, sizeof(v), "%s\nhold", im->id);

	return setxattr(im->root, "user.artifs.run.begin", v, (size_t)n, 0);
}

/* After a failed copy: the draft goes, then the run ends with nothing to commit. */
static void undo(const struct import *im)
{
	if (setxattr(im->art, "user.artifs.discard", "", 0, 0) && errno != ENOENT)
		fprintf(stderr, "artifs import: cannot throw the draft of %s away: %s (artifs "
				"discard does it)\n", im->rel, strerror(errno));
	tool_run_end(im->root, im->id, NULL);
}

int cmd_import(int argc, char **argv)
{
	struct import im = { .jobs = TOOL_COPY_JOBS_DEFAULT };
	struct tool_copy c = { .cmd = "import", .preserve = 1, .sync = 1 };
	const char *args[2] = { NULL, NULL };
	struct stat st;
	int ret, made;

	if (tool_wants_help(argc, argv)) {
		usage(stdout);
		return 0;
	}
	ret = parse(&im, argc, argv, args);
	if (ret)
		return ret;
	if (stat(args[0], &st)) {
		fprintf(stderr, "artifs import: %s: %s\n", args[0], strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "artifs import: %s is not a folder\n", args[0]);
		return 1;
	}
	if (target(&im, args[1]) || overlap(args[0], im.art) ||
	    tool_run_id("import", im.id, sizeof(im.id)))
		return 1;
	if (join_run(&im)) {
		fprintf(stderr, "artifs import: cannot begin a run on %s: %s%s\n", im.root,
			strerror(errno), errno == ENOTSUP ? " (the mount has capture=0, and "
			"import needs runs: use cp and artifs commit)" : "");
		return 1;
	}
	c.jobs = (unsigned)im.jobs;
	c.progress = isatty(2);
	c.thread_start = join_run;
	c.arg = &im;
	if (tool_copy_tree(&c, args[0], im.art)) {
		undo(&im);
		fprintf(stderr, "artifs import: nothing was committed\n");
		return 1;
	}
	if (tool_run_end(im.root, im.id, im.msg)) {
		fprintf(stderr, "artifs import: committing %s failed: %s (artifs status says why; "
				"the draft stays)\n", im.rel, strerror(errno));
		return 1;
	}
	ret = tool_run_report("import", im.root, im.id, im.labels, im.nlabels, &made);
	if (!made)
		printf("no new version: %s already held what %s holds\n", im.rel, args[0]);
	return ret;
}
