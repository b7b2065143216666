/* SPDX-License-Identifier: MIT */
/*
 * artifs lineage URI --up|--down [--depth N] [--format text|json|dot]: the ancestry or the
 * descendants of a version, walked breadth-first over the index, bounded by depth and by
 * LIN_MAX_NODES (inputs must exist before a version is made, so there are no cycles; the
 * bound holds anyway).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../meta/meta.h"
#include "tools.h"

#define LIN_MAX_NODES 100000

struct node {
	struct meta_vref v;
	int depth;
	char uri[400];
	char tags[256];
	char run[200];
	char cmd[128]; /* the run's command, shortened: what a picture calls the run */
};

struct edge {
	size_t from, to; /* node indexes: from is the input, to the version made from it */
	uint32_t how;
};

struct graph {
	struct meta_txn *txn;
	struct node *nodes;
	size_t n, cap;
	struct edge *edges;
	size_t ne, ecap;
	size_t cur;
	int down, err;
};

static const char *how_name(uint32_t how)
{
	if ((how & MI_DECLARED) && (how & MI_CAPTURED))
		return "declared,captured";
	return how & MI_DECLARED ? "declared" : "captured";
}

static void run_of(struct meta_txn *txn, struct node *nd)
{
	char *prod = NULL;
	json_t *j, *r;

	nd->run[0] = '\0';
	nd->cmd[0] = '\0';
	if (meta_vref_xattr(txn, &nd->v, "user.artifs.producer", &prod))
		return;
	j = json_loads(prod, 0, NULL);
	r = json_object_get(j, "run");
	if (json_is_string(r) && json_string_length(r)) {
		json_t *h = json_object_get(j, "host");

		json_t *c = json_object_get(j, "command");
		const char *cmd = json_is_string(c) && json_string_length(c) ? json_string_value(c)
									     : json_string_value(r);
		size_t k = 0;

		snprintf(nd->run, sizeof(nd->run), "%s@%s", json_string_value(r),
			 json_is_string(h) ? json_string_value(h) : "?");
		/* For a DOT label: quotes and backslashes dropped, at most 60 bytes. */
		for (; *cmd && k < 60; cmd++)
			if (*cmd != '"' && *cmd != '\\' && (unsigned char)*cmd >= 0x20)
				nd->cmd[k++] = *cmd;
		if (*cmd)
			memcpy(nd->cmd + k, "...", 4);
		else
			nd->cmd[k] = '\0';
	}
	json_decref(j);
	free(prod);
}

static size_t node_add(struct graph *g, const struct meta_vref *v, int depth, int *fresh)
{
	*fresh = 0;
	for (size_t i = 0; i < g->n; i++)
		if (g->nodes[i].v.artifact == v->artifact && g->nodes[i].v.n == v->n)
			return i;
	if (g->n >= LIN_MAX_NODES) {
		g->err = E2BIG;
		return SIZE_MAX;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 32;
		struct node *nn = realloc(g->nodes, cap * sizeof(*nn));

		if (!nn) {
			g->err = ENOMEM;
			return SIZE_MAX;
		}
		g->nodes = nn;
		g->cap = cap;
	}
	memset(&g->nodes[g->n], 0, sizeof(g->nodes[0]));
	g->nodes[g->n].v = *v;
	g->nodes[g->n].depth = depth;
	if (meta_vref_uri(g->txn, v, g->nodes[g->n].uri, sizeof(g->nodes[0].uri)))
		snprintf(g->nodes[g->n].uri, sizeof(g->nodes[0].uri), "artifact-%" PRIu64 "@v%" PRIu64,
			 v->artifact, v->n);
	meta_vref_tags(g->txn, v, g->nodes[g->n].tags, sizeof(g->nodes[0].tags));
	run_of(g->txn, &g->nodes[g->n]);
	*fresh = 1;
	return g->n++;
}

static int edge_fn(void *arg, const struct meta_vref *other, uint32_t how)
{
	struct graph *g = arg;
	int fresh;
	size_t j = node_add(g, other, g->nodes[g->cur].depth + 1, &fresh);

	if (j == SIZE_MAX) {
		g->err = ENOMEM;
		return ENOMEM;
	}
	if (g->ne == g->ecap) {
		size_t cap = g->ecap ? g->ecap * 2 : 32;
		struct edge *ne = realloc(g->edges, cap * sizeof(*ne));

		if (!ne) {
			g->err = ENOMEM;
			return ENOMEM;
		}
		g->edges = ne;
		g->ecap = cap;
	}
	g->edges[g->ne].from = g->down ? g->cur : j;
	g->edges[g->ne].to = g->down ? j : g->cur;
	g->edges[g->ne].how = how;
	g->ne++;
	return 0;
}

static void dot_id(const struct node *nd, char *out, size_t len)
{
	snprintf(out, len, "\"%s\"", nd->uri);
}

static void print_dot(struct graph *g)
{
	printf("digraph lineage {\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n");
	for (size_t i = 0; i < g->n; i++) {
		struct node *nd = &g->nodes[i];
		char id[420];

		dot_id(nd, id, sizeof(id));
		printf("  %s [shape=box, label=\"%s%s%s%s\"];\n", id, nd->uri + 9,
		       nd->tags[0] ? "\\n@" : "", nd->tags, "");
		if (nd->run[0])
			printf("  \"run:%s\" [shape=ellipse, label=\"%s\"];\n  \"run:%s\" -> %s;\n",
			       nd->run, nd->cmd, nd->run, id);
	}
	for (size_t i = 0; i < g->ne; i++) {
		struct node *from = &g->nodes[g->edges[i].from], *to = &g->nodes[g->edges[i].to];
		char a[420], b[420];

		/* A run that read what it wrote itself draws no loop. */
		if (to->run[0] && !strcmp(from->run, to->run))
			continue;
		dot_id(from, a, sizeof(a));
		if (to->run[0])
			snprintf(b, sizeof(b), "\"run:%s\"", to->run);
		else
			dot_id(to, b, sizeof(b));
		printf("  %s -> %s [label=\"%s\"%s];\n", a, b, how_name(g->edges[i].how),
		       g->edges[i].how & MI_DECLARED ? "" : ", style=dashed");
	}
	printf("}\n");
}

static void print_json(struct graph *g)
{
	json_t *root = json_object(), *nodes = json_array(), *edges = json_array();

	json_object_set_new(root, "root", json_string(g->nodes[0].uri));
	json_object_set_new(root, "direction", json_string(g->down ? "down" : "up"));
	for (size_t i = 0; i < g->n; i++) {
		struct node *nd = &g->nodes[i];
		json_t *o = json_pack("{s:s, s:i, s:s, s:s}", "uri", nd->uri, "depth", nd->depth,
				      "run", nd->run, "command", nd->cmd);
		json_t *tags = json_array();
		char *save = NULL, buf[256];

		snprintf(buf, sizeof(buf), "%s", nd->tags);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(tags, json_string(t));
		json_object_set_new(o, "tags", tags);
		json_array_append_new(nodes, o);
	}
	for (size_t i = 0; i < g->ne; i++)
		json_array_append_new(edges,
				      json_pack("{s:s, s:s, s:s}", "input",
						g->nodes[g->edges[i].from].uri, "output",
						g->nodes[g->edges[i].to].uri, "how",
						how_name(g->edges[i].how)));
	json_object_set_new(root, "nodes", nodes);
	json_object_set_new(root, "edges", edges);
	tool_print_json(root);
	json_decref(root);
}

static void print_text(struct graph *g)
{
	printf("%s%s%s\n", g->nodes[0].uri, g->nodes[0].tags[0] ? "  @" : "", g->nodes[0].tags);
	for (size_t i = 0; i < g->ne; i++) {
		struct node *nd = &g->nodes[g->down ? g->edges[i].to : g->edges[i].from];

		printf("%*s%s %s  (%s)%s%s\n", 2 * nd->depth, "", g->down ? "->" : "<-", nd->uri,
		       how_name(g->edges[i].how), nd->tags[0] ? "  @" : "", nd->tags);
	}
}

int cmd_lineage(int argc, char **argv)
{
	const char *state, *format = "text", *target = NULL;
	struct graph g = { 0 };
	struct meta *m = NULL;
	struct meta_vref root;
	char uri[1024];
	uint64_t depth = 64;
	int dir = -1, err, fresh, opts = 1;

	if (tool_wants_help(argc, argv)) {
		printf("usage: artifs lineage URI|PATH --up|--down [--depth N]\n"
		       "                     [--format text|json|dot] [--state DIR]\n\n"
		       "--up: what went into the version (its inputs, theirs, ...); --down: what\n"
		       "was built from it. Edges say whether an input was declared or captured.\n"
		       "--format dot draws artifacts' versions as boxes (with their tags) and the\n"
		       "runs that made them as ellipses: 'artifs lineage URI --up --format dot |\n"
		       "dot -Tsvg > lineage.svg'. Default depth 64. PATH is a version's folder on an\n"
		       "artifs mount. Reads the index of the state directory: --state, $ARTIFS_STATE,\n"
		       "the one the mount holding the version publishes, or the default.\n");
		return 0;
	}
	if (tool_state_arg(&argc, argv, &state))
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && (!strcmp(a, "--depth") || !strcmp(a, "--format")) && i + 1 >= argc)
			return tool_needs_value("lineage", a);
		if (opts && !strcmp(a, "--up")) {
			dir = 0;
		} else if (opts && !strcmp(a, "--down")) {
			dir = 1;
		} else if (opts && !strcmp(a, "--depth")) {
			if (tool_parse_uint(argv[++i], INT_MAX, &depth)) {
				fprintf(stderr, "artifs lineage: --depth takes a count, not '%s'\n",
					argv[i]);
				return 1;
			}
		} else if (opts && !strcmp(a, "--format")) {
			format = argv[++i];
		} else if (opts && !strcmp(a, "--")) {
			opts = 0;
		} else if (opts && a[0] == '-') {
			return tool_bad_option("lineage", a);
		} else if (!target) {
			target = a;
		} else {
			fprintf(stderr, "artifs lineage: unexpected argument '%s' (one version at a "
					"time)\n", a);
			return 1;
		}
	}
	if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "dot")) {
		fprintf(stderr, "artifs lineage: --format is text, json or dot, not '%s'\n", format);
		return 1;
	}
	if (!target || dir < 0) {
		fprintf(stderr, "artifs lineage: give a version and --up or --down (see artifs "
				"lineage --help)\n");
		return 2;
	}
	if (tool_uri("lineage", target, uri, sizeof(uri)))
		return 1;
	if (tool_meta_open(state, target, &m))
		return 1;
	err = meta_txn_begin(m, 1, &g.txn);
	if (err)
		goto out;
	err = meta_uri_resolve(g.txn, uri, &root);
	if (err) {
		fprintf(stderr, "artifs lineage: %s: %s\n", uri,
			err == ENOENT ? "no such version" : "not a version URI (artifs://p/a@vN)");
		meta_txn_abort(g.txn);
		err = EEXIST; /* reported */
		goto out;
	}
	g.down = dir;
	node_add(&g, &root, 0, &fresh);
	for (g.cur = 0; g.cur < g.n && !g.err; g.cur++) {
		if ((uint64_t)g.nodes[g.cur].depth >= depth)
			continue;
		err = meta_lineage_iter(g.txn, &g.nodes[g.cur].v, g.down, edge_fn, &g);
		if (err)
			break;
	}
	if (!err)
		err = g.err == E2BIG ? 0 : g.err;
	if (g.err == E2BIG)
		fprintf(stderr, "artifs lineage: stopped at %d versions\n", LIN_MAX_NODES);
	if (!err) {
		if (!strcmp(format, "dot"))
			print_dot(&g);
		else if (!strcmp(format, "json"))
			print_json(&g);
		else
			print_text(&g);
	}
	meta_txn_abort(g.txn);
out:
	meta_close(m);
	free(g.nodes);
	free(g.edges);
	if (err && err != EEXIST)
		fprintf(stderr, "artifs lineage: %s\n", strerror(err));
	return err ? 1 : 0;
}
