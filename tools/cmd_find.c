/* SPDX-License-Identifier: MIT */
/* artifs find: versions by project, artifact, label, metric, time and input, from the index. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../meta/meta.h"
#include "tools.h"

static void help(void)
{
	printf("usage: artifs find [--project P] [--artifact A|P/A] [--label KEY=VALUE]...\n"
	       "                   [--metric 'NAME>0.9']... [--since TIME] [--until TIME]\n"
	       "                   [--input URI|PATH] [--sort metric:NAME[:asc]] [--limit N]\n"
	       "                   [--format text|json] [--state DIR]\n\n"
	       "Prints the URIs of the versions that match every condition, newest first (or\n"
	       "by the sort metric, highest first). Comparisons: < <= = >= >. TIME is\n"
	       "YYYY-MM-DD[THH:MM[:SS]][Z] (UTC) or @SECONDS. --input lists the versions that\n"
	       "used that version. Labels, metrics and inputs are indexed: those queries are\n"
	       "seeks, not scans. Reads the index of the state directory beside a running\n"
	       "daemon: --state, $ARTIFS_STATE, the one its mount publishes ($ARTIFS_MOUNT, or\n"
	       "the only artifs mount), or the default.\n");
}

static int parse_time(const char *s, int64_t *ns)
{
	struct tm tm = { 0 };
	const char *end;

	if (s[0] == '@') {
		char *e;
		long long v = strtoll(s + 1, &e, 10);

		if (*e || e == s + 1)
			return EINVAL;
		*ns = v * 1000000000LL;
		return 0;
	}
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end)
		return EINVAL;
	if (*end == 'T' || *end == ' ') {
		const char *e2 = strptime(end + 1, "%H:%M:%S", &tm);

		if (!e2)
			e2 = strptime(end + 1, "%H:%M", &tm);
		if (!e2)
			return EINVAL;
		end = e2;
	}
	if (*end == 'Z')
		end++;
	if (*end)
		return EINVAL;
	*ns = (int64_t)timegm(&tm) * 1000000000LL;
	return 0;
}

static int parse_metric(char *s, struct meta_query *q)
{
	static const struct {
		const char *op;
		enum meta_cmp cmp;
	} ops[] = { { "<=", MC_LE }, { ">=", MC_GE }, { "==", MC_EQ }, { "<", MC_LT },
		    { ">", MC_GT },  { "=", MC_EQ } };
	size_t n = strcspn(s, "<>=");
	char *end;

	if (n == 0 || !s[n] || q->nmetrics == META_QUERY_MAX)
		return EINVAL;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t ol = strlen(ops[i].op);

		if (strncmp(s + n, ops[i].op, ol) == 0) {
			double v = strtod(s + n + ol, &end);

			if (end == s + n + ol || *end || !isfinite(v))
				return EINVAL;
			s[n] = '\0';
			q->metrics[q->nmetrics].name = s;
			q->metrics[q->nmetrics].cmp = ops[i].cmp;
			q->metrics[q->nmetrics].value = v;
			q->nmetrics++;
			return 0;
		}
	}
	return EINVAL;
}

struct out {
	struct meta_txn *txn;
	int json;
	json_t *arr;
};

static int attrs_fn(void *arg, const char *name, const void *val, size_t len)
{
	json_t *o = arg;
	json_t *labels = json_object_get(o, "labels"), *metrics = json_object_get(o, "metrics");

	if (strncmp(name, "user.label.", 11) == 0)
		json_object_set_new(labels, name + 11, json_stringn(val, len));
	else if (strncmp(name, "user.metric.", 12) == 0) {
		char buf[64];

		snprintf(buf, sizeof(buf), "%.*s", (int)(len < 63 ? len : 63), (const char *)val);
		json_object_set_new(metrics, name + 12, json_real(strtod(buf, NULL)));
	}
	return 0;
}

static int print_fn(void *arg, const struct meta_vref *v)
{
	struct out *o = arg;
	struct meta_version ver;
	char uri[512], created[64];
	json_t *obj;
	int err = meta_vref_uri(o->txn, v, uri, sizeof(uri));

	if (err)
		return err;
	if (!o->json) {
		printf("%s\n", uri);
		return 0;
	}
	err = meta_version_get(o->txn, v->artifact, v->n, &ver);
	if (err)
		return err;
	tool_time(ver.created_ns, created, sizeof(created));
	obj = json_pack("{s:s, s:I, s:s, s:I, s:I, s:{}, s:{}}", "uri", uri, "version",
			(json_int_t)v->n, "created", created, "bytes", (json_int_t)ver.bytes,
			"files", (json_int_t)ver.files, "labels", "metrics");
	if (!obj)
		return ENOMEM;
	meta_xattr_iter(o->txn, ver.root, attrs_fn, obj);
	json_array_append_new(o->arr, obj);
	return 0;
}

int cmd_find(int argc, char **argv)
{
	struct meta_query q = { 0 };
	struct out o = { 0 };
	const char *state;
	struct meta *m = NULL;
	char inuri[1024];
	int err;

	if (tool_wants_help(argc, argv)) {
		help();
		return 0;
	}
	if (tool_state_arg(&argc, argv, &state))
		return 1;
	for (int i = 1; i < argc; i++) {
		static const char *const known[] = { "--project", "--artifact", "--label",
						     "--metric",  "--since",    "--until",
						     "--input",   "--sort",     "--limit",
						     "--format" };
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		size_t k = 0;

		while (k < sizeof(known) / sizeof(known[0]) && strcmp(opt, known[k]))
			k++;
		if (k == sizeof(known) / sizeof(known[0])) {
			if (opt[0] == '-')
				return tool_bad_option("find", opt);
			fprintf(stderr, "artifs find: unexpected argument '%s' (conditions are "
					"options: see artifs find --help)\n", opt);
			return 1;
		}
		if (!val)
			return tool_needs_value("find", opt);
		i++;
		if (!strcmp(opt, "--project")) {
			q.project = val;
		} else if (!strcmp(opt, "--artifact")) {
			q.artifact = val;
		} else if (!strcmp(opt, "--label")) {
			char *eq = strchr(val, '=');

			if (!eq || eq == val || q.nlabels == META_QUERY_MAX) {
				fprintf(stderr, "artifs find: --label takes KEY=VALUE\n");
				return 1;
			}
			*eq = '\0';
			q.labels[q.nlabels].key = val;
			q.labels[q.nlabels].val = eq + 1;
			q.nlabels++;
		} else if (!strcmp(opt, "--metric")) {
			if (parse_metric(argv[i], &q)) {
				fprintf(stderr, "artifs find: --metric takes NAME<OP>NUMBER, "
						"OP one of < <= = >= >\n");
				return 1;
			}
		} else if (!strcmp(opt, "--since") || !strcmp(opt, "--until")) {
			if (parse_time(val, opt[2] == 's' ? &q.since_ns : &q.until_ns)) {
				fprintf(stderr, "artifs find: %s: cannot read time '%s'\n", opt, val);
				return 1;
			}
		} else if (!strcmp(opt, "--input")) {
			if (tool_uri("find", val, inuri, sizeof(inuri)))
				return 1;
			q.input = inuri;
		} else if (!strcmp(opt, "--sort")) {
			char *name;

			if (strncmp(val, "metric:", 7) || !val[7]) {
				fprintf(stderr, "artifs find: --sort takes metric:NAME[:asc|:desc]\n");
				return 1;
			}
			name = argv[i] + 7;
			if (strchr(name, ':')) {
				char *c = strchr(name, ':');

				q.sort_asc = !strcmp(c + 1, "asc");
				*c = '\0';
			}
			q.sort_metric = name;
		} else if (!strcmp(opt, "--limit")) {
			uint64_t lim;

			if (tool_parse_uint(val, UINT32_MAX, &lim)) {
				fprintf(stderr, "artifs find: --limit takes a count, not '%s'\n", val);
				return 1;
			}
			q.limit = lim;
		} else if (!strcmp(opt, "--format")) {
			if (strcmp(val, "json") && strcmp(val, "text")) {
				fprintf(stderr, "artifs find: --format is text or json\n");
				return 1;
			}
			o.json = !strcmp(val, "json");
		}
	}
	if (tool_meta_open(state, q.input, &m))
		return 1;
	err = meta_txn_begin(m, 1, &o.txn);
	if (!err) {
		o.arr = json_array();
		err = meta_find(o.txn, &q, print_fn, &o);
		if (!err && o.json)
			tool_print_json(o.arr);
		json_decref(o.arr);
		meta_txn_abort(o.txn);
	}
	meta_close(m);
	if (err == ENOENT && q.input) {
		fprintf(stderr, "artifs find: %s names no version\n", q.input);
		return 1;
	}
	if (err) {
		fprintf(stderr, "artifs find: %s\n", strerror(err));
		return 1;
	}
	return 0;
}
