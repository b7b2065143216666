/* SPDX-License-Identifier: MIT */
/*
 * artifs label TARGET [KEY=VALUE...] [--metric NAME=NUMBER...] [-d KEY...] [--format json]:
 * the labels and metrics of a project, artifact or version, through their user.label.* and
 * user.metric.* attributes on the mount (docs/xattrs.md), so every rule and refusal is the
 * filesystem's own. Changes are made in the order given, then the result is listed.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "tools.h"

#define LABEL_LIST_MAX (1 << 20)
#define LABEL_VALUE_MAX (64 << 10)

static int usage_help(void)
{
	printf("usage: artifs label TARGET [KEY=VALUE...] [--metric NAME=NUMBER...] [-d KEY...]\n"
	       "                    [-d --metric NAME...] [--format text|json]\n\n"
	       "Sets, removes and lists the labels and metrics of TARGET: a project, artifact\n"
	       "or version (a folder on an artifs mount, or artifs://project[/artifact[@ref]]).\n"
	       "KEY=VALUE sets label KEY (user.label.KEY); --metric NAME=NUMBER sets a metric\n"
	       "(on an artifact folder it goes with the next version); -d KEY removes a label,\n"
	       "-d --metric NAME a metric. The changes are made in the order given, then every\n"
	       "label and metric of TARGET is printed, one 'label KEY=VALUE' or 'metric\n"
	       "NAME=VALUE' line each (--format json: {\"labels\": {...}, \"metrics\": {...}}).\n"
	       "Labels stay writable on versions; the rules are docs/xattrs.md's.\n");
	return 0;
}

/* One change: set (val != NULL) or remove name. */
static int change(const char *path, const char *name, const char *val, const char *arg)
{
	int r = val ? setxattr(path, name, val, strlen(val), 0) : removexattr(path, name);

	if (!r)
		return 0;
	fprintf(stderr, "artifs label: %s: %s%s\n", arg,
		errno == ENODATA ? "no such label or metric" : strerror(errno),
		errno == EINVAL && !strncmp(name, "user.metric.", 12) ? " (a metric is a number)"
		: errno == EPERM ? " (labels go on projects, artifacts and versions, metrics on "
				   "artifacts and versions)"
		: "");
	return 1;
}

static int list(const char *path, int json)
{
	char *names = malloc(LABEL_LIST_MAX), *val = malloc(LABEL_VALUE_MAX + 1);
	json_t *o = json ? json_pack("{s:{}, s:{}}", "labels", "metrics") : NULL;
	ssize_t n = names ? listxattr(path, names, LABEL_LIST_MAX) : -1;
	int ret = 0;

	if (!names || !val || (json && !o)) {
		fprintf(stderr, "artifs label: out of memory\n");
		ret = 1;
		goto out;
	}
	if (n < 0) {
		fprintf(stderr, "artifs label: %s: %s\n", path, strerror(errno));
		ret = 1;
		goto out;
	}
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		int label = !strncmp(p, "user.label.", 11), metric = !strncmp(p, "user.metric.", 12);
		ssize_t len;

		if (!label && !metric)
			continue;
		len = getxattr(path, p, val, LABEL_VALUE_MAX);
		if (len < 0)
			continue; /* removed meanwhile */
		val[len] = '\0';
		if (json)
			json_object_set_new(json_object_get(o, label ? "labels" : "metrics"),
					    p + (label ? 11 : 12),
					    label ? json_string(val) : json_real(strtod(val, NULL)));
		else
			printf("%s %s=%s\n", label ? "label" : "metric", p + (label ? 11 : 12), val);
	}
	if (json)
		tool_print_json(o);
out:
	json_decref(o);
	free(names);
	free(val);
	return ret;
}

struct chg {
	const char *arg; /* KEY=VALUE, or NAME to remove */
	int metric, del;
};

int cmd_label(int argc, char **argv)
{
	char path[PATH_MAX], name[XATTR_NAME_MAX + 1];
	const char *target = NULL, *format = "text";
	struct chg *c = calloc((size_t)argc, sizeof(*c));
	int opts = 1, n = 0, ret = 1;

	if (tool_wants_help(argc, argv)) {
		free(c);
		return usage_help();
	}
	if (!c)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int del = 0, metric = 0;

		if (opts && !strcmp(a, "--")) {
			opts = 0;
			continue;
		}
		if (opts && !strcmp(a, "--format")) {
			if (i + 1 >= argc)
				goto needs;
			format = argv[++i];
			continue;
		}
		if (opts && !strcmp(a, "-d")) {
			del = 1;
			if (++i >= argc)
				goto needs;
			a = argv[i];
		}
		if (opts && !strcmp(a, "--metric")) {
			metric = 1;
			if (++i >= argc)
				goto needs;
			a = argv[i];
		} else if (opts && a[0] == '-') {
			ret = tool_bad_option("label", a);
			goto out;
		}
		if (!del && !metric && !target && !strchr(a, '=')) {
			target = a;
			continue;
		}
		if (del ? (strchr(a, '=') || !a[0]) : (!strchr(a, '=') || a[0] == '=')) {
			fprintf(stderr, "artifs label: '%s': %s\n", a,
				del ? "-d takes a name, not KEY=VALUE" : "give KEY=VALUE");
			goto out;
		}
		c[n++] = (struct chg){ a, metric, del };
	}
	if (strcmp(format, "text") && strcmp(format, "json")) {
		fprintf(stderr, "artifs label: --format is text or json, not '%s'\n", format);
		goto out;
	}
	if (!target) {
		fprintf(stderr, "artifs label: give a project, artifact or version (see artifs "
				"label --help)\n");
		ret = 2;
		goto out;
	}
	if (tool_on_mount("label", target, path, sizeof(path), NULL, 0, NULL, 0))
		goto out;
	for (int i = 0; i < n; i++) {
		const char *eq = strchr(c[i].arg, '=');
		size_t klen = c[i].del ? strlen(c[i].arg) : (size_t)(eq - c[i].arg);

		if (snprintf(name, sizeof(name), "user.%s.%.*s", c[i].metric ? "metric" : "label",
			     (int)klen, c[i].arg) >= (int)sizeof(name)) {
			fprintf(stderr, "artifs label: '%s': the name is too long\n", c[i].arg);
			goto out;
		}
		if (change(path, name, c[i].del ? NULL : eq + 1, c[i].arg))
			goto out;
	}
	ret = list(path, !strcmp(format, "json"));
out:
	free(c);
	return ret;
needs:
	free(c);
	return tool_needs_value("label", argv[argc - 1]);
}
