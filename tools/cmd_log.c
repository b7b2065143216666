/* SPDX-License-Identifier: MIT */
/* artifs log ARTIFACT [--limit N] [--format text|json]: its versions, newest first, from
 * the index. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../meta/meta.h"
#include "tools.h"

struct log {
	struct meta_txn *txn;
	uint64_t limit, shown; /* limit 0: all */
	json_t *arr;           /* --format json: one object per version */
	json_t *cur;           /* the version's object being filled */
};

static int attr_fn(void *arg, const char *name, const void *val, size_t len)
{
	struct log *l = arg;
	int label = strncmp(name, "user.label.", 11) == 0;
	int metric = strncmp(name, "user.metric.", 12) == 0;

	if (!label && !metric)
		return 0;
	if (l->cur) {
		json_t *o = json_object_get(l->cur, label ? "labels" : "metrics");
		char buf[64];

		if (label) {
			json_object_set_new(o, name + 11, json_stringn(val, len));
		} else {
			snprintf(buf, sizeof(buf), "%.*s", (int)(len < 63 ? len : 63), (const char *)val);
			json_object_set_new(o, name + 12, json_real(strtod(buf, NULL)));
		}
	} else {
		printf("    %s %s=%.*s\n", label ? "label " : "metric", name + (label ? 11 : 12),
		       (int)len, (const char *)val);
	}
	return 0;
}

/* The tags of a version ("prod latest", space-separated) as a JSON array. */
static json_t *tags_json(const char *tags)
{
	json_t *a = json_array();
	char *dup = strdup(tags), *save = NULL;

	for (char *t = dup ? strtok_r(dup, " @", &save) : NULL; t; t = strtok_r(NULL, " @", &save))
		json_array_append_new(a, json_string(t));
	free(dup);
	return a;
}

static void version_json(struct log *l, const struct meta_version *v, const char *created,
			 const char *tags)
{
	char uri[1024];
	struct meta_vref vr = { v->artifact, v->n };

	if (meta_vref_uri(l->txn, &vr, uri, sizeof(uri)))
		uri[0] = '\0';
	l->cur = json_pack("{s:s, s:I, s:s, s:I, s:I, s:o, s:{}, s:{}, s:[]}", "uri", uri,
			   "version", (json_int_t)v->n, "created", created, "bytes",
			   (json_int_t)v->bytes, "files", (json_int_t)v->files, "tags",
			   tags_json(tags), "labels", "metrics", "inputs");
	if (l->cur)
		json_array_append_new(l->arr, l->cur);
}

/* Message, producer and inputs of version vr: printed, or set on l->cur. */
static void version_details(struct log *l, const struct meta_vref *vr)
{
	char *prod = NULL, *msg = NULL, *inputs = NULL;

	if (meta_vref_xattr(l->txn, vr, "user.artifs.message", &msg) == 0) {
		if (l->cur)
			json_object_set_new(l->cur, "message", json_string(msg));
		else
			printf("    message %s\n", msg);
	}
	if (meta_vref_xattr(l->txn, vr, "user.artifs.producer", &prod) == 0) {
		json_t *j = json_loads(prod, 0, NULL);
		json_t *cmd = json_object_get(j, "command"), *user = json_object_get(j, "user");

		if (l->cur && j)
			json_object_set(l->cur, "producer", j);
		else if (json_is_string(cmd))
			printf("    by %s: %s\n", json_is_string(user) ? json_string_value(user) : "?",
			       json_string_value(cmd));
		json_decref(j);
	}
	if (meta_vref_xattr(l->txn, vr, "user.artifs.inputs", &inputs) == 0) {
		char *save = NULL;

		for (char *s = strtok_r(inputs, "\n", &save); s; s = strtok_r(NULL, "\n", &save)) {
			if (l->cur)
				json_array_append_new(json_object_get(l->cur, "inputs"), json_string(s));
			else
				printf("    input  %s\n", s);
		}
	}
	free(prod);
	free(msg);
	free(inputs);
}

static int version_fn(void *arg, const struct meta_version *v)
{
	struct log *l = arg;
	struct meta_vref vr = { v->artifact, v->n };
	char created[64], tags[256], size[32];

	if (l->limit && l->shown == l->limit)
		return META_ITER_STOP;
	l->shown++;
	tool_time(v->created_ns, created, sizeof(created));
	meta_vref_tags(l->txn, &vr, tags, sizeof(tags));
	if (l->arr) {
		version_json(l, v, created, tags);
	} else {
		tool_size_human(v->bytes, size, sizeof(size));
		printf("@v%" PRIu64 "  %s  %s in %" PRIu64 " file%s%s%s\n", v->n, created, size,
		       v->files, v->files == 1 ? "" : "s", tags[0] ? "  @" : "", tags);
	}
	version_details(l, &vr);
	meta_xattr_iter(l->txn, v->root, attr_fn, l);
	l->cur = NULL;
	return 0;
}

/* --limit N and --format text|json, taken out of argv: 0, or 1 after a message. */
static int log_opts(int *argc, char **argv, struct log *l)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *opt = argv[i];

		if (!strcmp(opt, "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(opt, "--limit") && strcmp(opt, "--format")) {
			argv[out++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc)
			return tool_needs_value("log", opt);
		if (!strcmp(opt, "--limit") && (tool_parse_uint(argv[i + 1], UINT32_MAX, &l->limit) ||
						!l->limit)) {
			fprintf(stderr, "artifs log: --limit takes a count of at least 1, not '%s'\n",
				argv[i + 1]);
			return 1;
		}
		if (!strcmp(opt, "--format")) {
			if (strcmp(argv[i + 1], "json") && strcmp(argv[i + 1], "text")) {
				fprintf(stderr, "artifs log: --format is text or json, not '%s'\n",
					argv[i + 1]);
				return 1;
			}
			if (!strcmp(argv[i + 1], "json") && !l->arr && !(l->arr = json_array()))
				return 1;
		}
		i++;
	}
	*argc = out;
	return 0;
}

int cmd_log(int argc, char **argv)
{
	const char *state, *arg = NULL;
	struct log l = { 0 };
	struct meta *m = NULL;
	struct meta_vref v;
	char uri[1024];
	int err, ret;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs log [--limit N] [--format text|json] [--state DIR] [--]\n"
		       "                  ARTIFACT\n\n"
		       "Lists the artifact's versions, newest first: time, size, tags, message,\n"
		       "the producing command, inputs, labels and metrics; --limit N the newest\n"
		       "N only; --format json as an array of objects (uri, version, created,\n"
		       "bytes, files, tags, message, producer, inputs, labels, metrics). ARTIFACT\n"
		       "is artifs://project/artifact or its folder on an artifs mount. Reads the\n"
		       "index of the state directory: --state, $ARTIFS_STATE, the one the mount\n"
		       "holding ARTIFACT publishes, or the default.\n");
		return 0;
	}
	if (tool_state_arg(&argc, argv, &state) || log_opts(&argc, argv, &l)) {
		json_decref(l.arr);
		return 1;
	}
	ret = tool_one_operand("log", "artifact", argc, argv, &arg);
	if (ret) {
		json_decref(l.arr);
		return ret;
	}
	if (tool_uri("log", arg, uri, sizeof(uri)))
		return 1;
	if (!strchr(uri + 9, '@'))
		strncat(uri, "@latest", sizeof(uri) - strlen(uri) - 1);
	if (tool_meta_open(state, arg, &m))
		return 1;
	err = meta_txn_begin(m, 1, &l.txn);
	if (!err) {
		err = meta_uri_resolve(l.txn, uri, &v);
		if (!err)
			err = meta_version_iter(l.txn, v.artifact, version_fn, &l);
		meta_txn_abort(l.txn);
	}
	meta_close(m);
	if (!err && l.arr)
		tool_print_json(l.arr);
	json_decref(l.arr);
	if (err == ENOENT) {
		fprintf(stderr, "artifs log: %s has no versions\n", arg);
		return 1;
	}
	if (err) {
		fprintf(stderr, "artifs log: %s\n", strerror(err));
		return 1;
	}
	return 0;
}
