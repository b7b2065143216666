/* SPDX-License-Identifier: MIT */
/* artifs fsck [--deep] [--format text|json] [-o store=…,state=…]: the store checked. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../fs/fs.h"
#include "tools.h"

struct out {
	int json, tty;
	json_t *problems, *repaired;
};

static void report(void *arg, const char *object, const char *why)
{
	struct out *o = arg;
	int fixed = !strncmp(why, "repaired: ", 10);

	if (fixed)
		why += 10;
	if (o->json)
		json_array_append_new(fixed ? o->repaired : o->problems,
				      json_pack("{s:s, s:s}", "object", object, "why", why));
	else
		printf("%s%s\t%s\t%s\n", o->tty ? "\r\033[K" : "", fixed ? "repaired" : "problem",
		       object, why);
}

static void progress(void *arg, size_t done, size_t total)
{
	struct out *o = arg;

	if (o->tty && (done == total || done % 64 == 0))
		fprintf(stderr, "\r%zu/%zu versions checked%s", done, total, done == total ? "\n" : "");
}

static void usage(void)
{
	printf("usage: artifs fsck [--deep] [--repair] [--format text|json]\n"
	       "                   [-o option[,option...]]\n\n"
	       "Checks the store: every version's manifest decodes and names its version, every\n"
	       "pack it names has a valid index of the digest the manifest gives and the size\n"
	       "that index says, every run lies inside its pack, every chunk of a format-1 store\n"
	       "exists; --deep also reads every chunk back and verifies it (a whole read of the\n"
	       "store). With the state folder's index, every version the index holds must have\n"
	       "its manifest in the store. Reads only: a mount may use the store meanwhile.\n"
	       "Prints one line per problem (problem, the store key, why) and a summary, or with\n"
	       "--format json one object. --repair moves a version key's object that is no\n"
	       "manifest of it to lost+found/ in the store, and makes the index anew from the\n"
	       "store when they disagree (not while a mount uses it); each repair is a line\n"
	       "(repaired, the object, what was done); what cannot be repaired stays a problem\n"
	       "(docs/lifecycle.md). Packs no version names are counted: artifs gc reclaims\n"
	       "them.\n"
	       "Exit status: 0 clean (after the repairs), 1 problems found (or the check\n"
	       "failed), 2 a bad command line.\n\n"
	       "options, as artifs mount takes them (see artifs mount --help):\n"
	       "  store=DIR|s3://bucket[/prefix], state=DIR, endpoint=URL, retries=N\n");
}

int cmd_fsck(int argc, char **argv)
{
	struct out o = { .tty = isatty(2) };
	struct fs_fsck f = { .report = report, .progress = progress, .arg = &o };
	struct fs_conf c;
	int err, ret = 1;

	if (tool_wants_help(argc, argv)) {
		usage();
		return 0;
	}
	if (tool_conf_init("fsck", TOOL_OPT_STORE, &c))
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--deep")) {
			f.deep = 1;
		} else if (!strcmp(argv[i], "--repair")) {
			f.repair = 1;
		} else if (!strcmp(argv[i], "--format")) {
			if (i + 1 >= argc) {
				ret = tool_needs_value("fsck", argv[i]);
				goto out;
			}
			if (strcmp(argv[++i], "text") && strcmp(argv[i], "json")) {
				fprintf(stderr, "artifs fsck: --format %s: text or json\n", argv[i]);
				goto out;
			}
			o.json = !strcmp(argv[i], "json");
		} else if (!strcmp(argv[i], "-o")) {
			if (i + 1 >= argc) {
				ret = tool_needs_value("fsck", "-o");
				goto out;
			}
			if (tool_conf_list("fsck", argv[++i], TOOL_OPT_STORE, &c))
				goto out;
		} else if (!strncmp(argv[i], "-o", 2)) {
			if (tool_conf_list("fsck", argv[i] + 2, TOOL_OPT_STORE, &c))
				goto out;
		} else if (argv[i][0] == '-') {
			ret = tool_bad_option("fsck", argv[i]);
			goto out;
		} else {
			fprintf(stderr, "artifs fsck: unexpected argument '%s' (options go in -o: see "
					"artifs fsck --help)\n", argv[i]);
			goto out;
		}
	}
	if (tool_conf_finish("fsck", &c))
		goto out;
	if (o.json && (!(o.problems = json_array()) || !(o.repaired = json_array())))
		goto out;
	o.tty = o.tty && !o.json;
	err = fs_fsck_run(&c, &f);
	if (err) {
		fprintf(stderr, "artifs fsck: %s: %s\n", c.store, strerror(err));
		goto out;
	}
	if (o.json) {
		json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:b, s:O, s:O}", "versions",
				      (json_int_t)f.versions, "packs", (json_int_t)f.packs,
				      "unreferenced_packs", (json_int_t)f.unreferenced,
				      "chunks_verified", (json_int_t)(f.deep ? f.chunks : 0),
				      "deep", f.deep, "problems", o.problems, "repaired",
				      o.repaired);

		tool_print_json(j);
		json_decref(j);
	} else {
		printf("%llu versions, %llu good packs%s: %llu problem%s", (unsigned long long)f.versions,
		       (unsigned long long)f.packs, f.deep ? ", every chunk read back" : "",
		       (unsigned long long)f.problems, f.problems == 1 ? "" : "s");
		if (f.repair)
			printf(", %llu repaired", (unsigned long long)f.repaired);
		if (f.unreferenced)
			printf("; %llu pack%s no version names (artifs gc reclaims them)",
			       (unsigned long long)f.unreferenced, f.unreferenced == 1 ? "" : "s");
		printf("\n");
	}
	ret = f.problems ? 1 : 0;
out:
	json_decref(o.problems);
	json_decref(o.repaired);
	tool_conf_release(&c);
	return ret;
}
