/* SPDX-License-Identifier: MIT */
/* artifs log ARTIFACT: its versions, newest first, from the index. */
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
	const char *uri;
};

static int attr_fn(void *arg, const char *name, const void *val, size_t len)
{
	if (strncmp(name, "user.label.", 11) == 0)
		printf("    label  %s=%.*s\n", name + 11, (int)len, (const char *)val);
	else if (strncmp(name, "user.metric.", 12) == 0)
		printf("    metric %s=%.*s\n", name + 12, (int)len, (const char *)val);
	return 0;
}

static int version_fn(void *arg, const struct meta_version *v)
{
	struct log *l = arg;
	struct meta_vref vr = { v->artifact, v->n };
	char created[64], tags[256], *prod = NULL, *msg = NULL, *inputs = NULL;

	tool_time(v->created_ns, created, sizeof(created));
	meta_vref_tags(l->txn, &vr, tags, sizeof(tags));
	printf("@v%" PRIu64 "  %s  %" PRIu64 " bytes in %" PRIu64 " files%s%s\n", v->n, created,
	       v->bytes, v->files, tags[0] ? "  @" : "", tags);
	if (meta_vref_xattr(l->txn, &vr, "user.artifs.message", &msg) == 0)
		printf("    message %s\n", msg);
	if (meta_vref_xattr(l->txn, &vr, "user.artifs.producer", &prod) == 0) {
		json_t *j = json_loads(prod, 0, NULL);
		json_t *cmd = json_object_get(j, "command"), *user = json_object_get(j, "user");

		if (json_is_string(cmd))
			printf("    by %s: %s\n", json_is_string(user) ? json_string_value(user) : "?",
			       json_string_value(cmd));
		json_decref(j);
	}
	if (meta_vref_xattr(l->txn, &vr, "user.artifs.inputs", &inputs) == 0) {
		char *save = NULL;

		for (char *s = strtok_r(inputs, "\n", &save); s; s = strtok_r(NULL, "\n", &save))
			printf("    input  %s\n", s);
	}
	meta_xattr_iter(l->txn, v->root, attr_fn, l);
	free(prod);
	free(msg);
	free(inputs);
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
		printf("usage: artifs log [--state DIR] [--] ARTIFACT\n\n"
		       "Lists the artifact's versions, newest first: time, size, tags, message,\n"
		       "the producing command, inputs, labels and metrics. ARTIFACT is\n"
		       "artifs://project/artifact or its folder on an artifs mount. Reads the index\n"
		       "of the state directory (--state, $ARTIFS_STATE or the default).\n");
		return 0;
	}
	if (tool_state_arg(&argc, argv, &state))
		return 1;
	ret = tool_one_operand("log", "artifact", argc, argv, &arg);
	if (ret)
		return ret;
	if (tool_uri("log", arg, uri, sizeof(uri)))
		return 1;
	if (!strchr(uri + 9, '@'))
		strncat(uri, "@latest", sizeof(uri) - strlen(uri) - 1);
	if (tool_meta_open(state, &m))
		return 1;
	err = meta_txn_begin(m, 1, &l.txn);
	if (!err) {
		err = meta_uri_resolve(l.txn, uri, &v);
		if (!err)
			err = meta_version_iter(l.txn, v.artifact, version_fn, &l);
		meta_txn_abort(l.txn);
	}
	meta_close(m);
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
