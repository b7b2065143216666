/* SPDX-License-Identifier: MIT */
/*
 * artifs du [--format text|json] [--state DIR] [TARGET]: where the space goes, from the
 * index: per version, artifact, project and in all, the logical bytes (the files' sizes) and
 * the stored bytes (the distinct chunks they reference, as stored: compressed, each counted
 * once), and per version what it added (chunks no earlier version of its artifact has).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../backends/backend.h"
#include "../meta/meta.h"
#include "tools.h"

/* A growable set of chunk names (their first 16 bytes: SHA-256 output is uniform, so the
 * chance that two of a store's chunks share them is nil) with each one's stored length. */
#define KEY 16
struct cset {
	uint8_t (*k)[KEY];
	uint32_t *len;
	uint8_t *used;
	size_t mask, n;
	uint64_t bytes; /* the sum of the lengths */
};

static void cset_release(struct cset *s)
{
	free(s->k);
	free(s->len);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

static size_t cset_slot(const struct cset *s, const uint8_t *id)
{
	uint64_t h;
	size_t i;

	memcpy(&h, id, sizeof(h));
	for (i = h & s->mask; s->used[i]; i = (i + 1) & s->mask)
		if (!memcmp(s->k[i], id, KEY))
			break;
	return i;
}

static int cset_grow(struct cset *s)
{
	struct cset g = { 0 };
	size_t cap = s->mask ? 2 * (s->mask + 1) : 1024;

	g.k = malloc(cap * KEY);
	g.len = malloc(cap * sizeof(*g.len));
	g.used = calloc(cap, 1);
	g.mask = cap - 1;
	if (!g.k || !g.len || !g.used) {
		cset_release(&g);
		return ENOMEM;
	}
	for (size_t i = 0; s->used && i <= s->mask; i++)
		if (s->used[i]) {
			size_t j = cset_slot(&g, s->k[i]);

			memcpy(g.k[j], s->k[i], KEY);
			g.len[j] = s->len[i];
			g.used[j] = 1;
		}
	g.n = s->n;
	g.bytes = s->bytes;
	cset_release(s);
	*s = g;
	return 0;
}

/* 1 when id was added (with len), 0 when it was there (*len, if not NULL, gets its length),
 * or -ENOMEM. */
static int cset_add(struct cset *s, const uint8_t *id, uint32_t *len)
{
	size_t i;

	if (2 * (s->n + 1) > (s->used ? s->mask + 1 : 0) && cset_grow(s))
		return -ENOMEM;
	i = cset_slot(s, id);
	if (s->used[i]) {
		*len = s->len[i];
		return 0;
	}
	memcpy(s->k[i], id, KEY);
	s->len[i] = *len;
	s->used[i] = 1;
	s->n++;
	s->bytes += *len;
	return 1;
}

static int cset_has(const struct cset *s, const uint8_t *id, uint32_t *len)
{
	size_t i;

	if (!s->used)
		return 0;
	i = cset_slot(s, id);
	if (s->used[i])
		*len = s->len[i];
	return s->used[i];
}

enum { S_VERSION, S_ARTIFACT, S_PROJECT, S_ALL, S_N };

struct du {
	struct meta_txn *txn;
	struct cset set[S_N];
	uint64_t logical[S_N], added;
	json_t *rows; /* --format json */
	int header;   /* text: the header was printed */
	char want_p[256], want_a[256], want_ref[256];
	int err;
};

/* The stored length of chunk ref: its frame in a pack, or (a chunks/ object of a format-1
 * store, whose size the index does not hold) its plain length. */
static int chunk_add(struct du *d, const struct chunk_ref *ref)
{
	uint32_t len = ref->len;
	struct pack_loc loc;
	int rc;

	if (!cset_has(&d->set[S_ALL], ref->id, &len)) {
		if (meta_chunk_loc_get(d->txn, ref->id, &loc) == 0)
			len = loc.flen;
		if (cset_add(&d->set[S_ALL], ref->id, &len) < 0)
			return ENOMEM;
	}
	rc = cset_add(&d->set[S_VERSION], ref->id, &len);
	if (rc == 1 && (rc = cset_add(&d->set[S_ARTIFACT], ref->id, &len)) == 1)
		d->added += len;
	if (rc == 1)
		rc = cset_add(&d->set[S_PROJECT], ref->id, &len);
	return rc < 0 ? ENOMEM : 0;
}

static int entry_fn(void *arg, const char *name, size_t namelen, uint64_t child, uint32_t type)
{
	struct du *d = arg;
	struct meta_inode in;
	struct chunk_ref *refs = NULL;
	size_t n = 0;
	int err = meta_inode_get(d->txn, child, &in);

	if (err)
		return err;
	if (S_ISDIR(in.mode))
		return meta_dirent_iter(d->txn, child, NULL, entry_fn, d);
	if (!S_ISREG(in.mode))
		return 0;
	err = meta_chunks_get(d->txn, child, &refs, &n);
	if (err == ENOENT)
		err = 0; /* an empty file */
	for (size_t i = 0; !err && i < n; i++)
		err = chunk_add(d, &refs[i]);
	free(refs);
	return err;
}

static void row(struct du *d, const char *uri, uint64_t logical, uint64_t stored,
		const uint64_t *added, uint64_t versions)
{
	char l[32], s[32], a[32] = "-";

	if (d->rows) {
		json_t *o = json_pack("{s:s, s:I, s:I}", "uri", uri, "logical", (json_int_t)logical,
				      "stored", (json_int_t)stored);

		if (added)
			json_object_set_new(o, "added", json_integer((json_int_t)*added));
		if (versions)
			json_object_set_new(o, "versions", json_integer((json_int_t)versions));
		json_array_append_new(d->rows, o);
		return;
	}
	if (!d->header++)
		printf("%12s %12s %12s  %s\n", "LOGICAL", "STORED", "ADDED", "WHAT");
	tool_size_human(logical, l, sizeof(l));
	tool_size_human(stored, s, sizeof(s));
	if (added)
		tool_size_human(*added, a, sizeof(a));
	printf("%12s %12s %12s  %s", l, s, a, uri);
	if (versions)
		printf(" (%" PRIu64 " version%s)", versions, versions == 1 ? "" : "s");
	printf("\n");
}

struct art {
	uint64_t ino;
	char project[META_PA_MAX + 1], name[META_PA_MAX + 1];
};

struct arts {
	struct du *d;
	struct art *v;
	size_t n, cap;
	uint64_t versions; /* of the artifact being summed */
	const struct art *cur;
	struct meta_version *vers;
	size_t nvers, vcap;
};

/* The artifact's versions, collected first: meta_version_iter() gives them newest first,
 * and what a version added is counted against the ones before it. */
static int version_fn(void *arg, const struct meta_version *v)
{
	struct arts *as = arg;

	struct meta_version *nv = be_grow(as->vers, as->nvers, &as->vcap, sizeof(*nv));

	if (!nv)
		return ENOMEM;
	as->vers = nv;
	as->vers[as->nvers++] = *v;
	return 0;
}

static int version_sum(struct arts *as, const struct meta_version *v)
{
	struct du *d = as->d;
	char uri[2 * META_PA_MAX + 40], ref[32];
	int err;

	snprintf(ref, sizeof(ref), "v%" PRIu64, v->n);
	cset_release(&d->set[S_VERSION]);
	d->added = 0;
	err = meta_dirent_iter(d->txn, v->root, NULL, entry_fn, d);
	if (err || (d->want_ref[0] && strcmp(d->want_ref, ref)))
		return err; /* an earlier version still counts for what the wanted one added */
	as->versions++;
	for (int s = S_ARTIFACT; s < S_N; s++)
		d->logical[s] += v->bytes;
	if (d->want_a[0]) {
		snprintf(uri, sizeof(uri), "artifs://%s/%s@v%" PRIu64, as->cur->project,
			 as->cur->name, v->n);
		row(d, uri, v->bytes, d->set[S_VERSION].bytes, &d->added, 0);
	}
	return 0;
}

static int art_fn(void *arg, const struct meta_artifact *a)
{
	struct arts *as = arg;
	struct du *d = as->d;
	struct art *nv;

	if ((d->want_p[0] && strcmp(a->project, d->want_p)) ||
	    (d->want_a[0] && strcmp(a->name, d->want_a)))
		return 0;
	nv = be_grow(as->v, as->n, &as->cap, sizeof(*nv));
	if (!nv)
		return ENOMEM;
	as->v = nv;
	as->v[as->n].ino = a->ino;
	snprintf(as->v[as->n].project, sizeof(as->v[as->n].project), "%s", a->project);
	snprintf(as->v[as->n].name, sizeof(as->v[as->n].name), "%s", a->name);
	as->n++;
	return 0;
}

static int art_cmp(const void *x, const void *y)
{
	const struct art *a = x, *b = y;
	int c = strcmp(a->project, b->project);

	return c ? c : strcmp(a->name, b->name);
}

/* Sums every artifact in scope, grouped by project, printing the rows the scope asks for. */
static int sum(struct du *d)
{
	struct arts as = { .d = d };
	char uri[2 * META_PA_MAX + 40];
	int err = meta_artifact_iter(d->txn, art_fn, &as);

	if (as.n)
		qsort(as.v, as.n, sizeof(*as.v), art_cmp);
	for (size_t i = 0; !err && i < as.n; i++) {
		as.cur = &as.v[i];
		as.versions = 0;
		cset_release(&d->set[S_ARTIFACT]);
		d->logical[S_ARTIFACT] = 0;
		as.nvers = 0;
		err = meta_version_iter(d->txn, as.cur->ino, version_fn, &as);
		if (err == ENOENT)
			err = 0; /* no versions yet */
		for (size_t k = as.nvers; !err && k-- > 0;)
			err = version_sum(&as, &as.vers[k]);
		snprintf(uri, sizeof(uri), "artifs://%s/%s", as.cur->project, as.cur->name);
		if (!err && !d->want_ref[0])
			row(d, uri, d->logical[S_ARTIFACT], d->set[S_ARTIFACT].bytes, NULL,
			    as.versions);
		if (!err && !d->want_a[0] &&
		    (i + 1 == as.n || strcmp(as.v[i + 1].project, as.cur->project))) {
			snprintf(uri, sizeof(uri), "artifs://%s", as.cur->project);
			row(d, uri, d->logical[S_PROJECT], d->set[S_PROJECT].bytes, NULL, 0);
			cset_release(&d->set[S_PROJECT]);
			d->logical[S_PROJECT] = 0;
		}
	}
	if (!err && !d->want_p[0])
		row(d, "total", d->logical[S_ALL], d->set[S_ALL].bytes, NULL, 0);
	free(as.v);
	free(as.vers);
	if (!err && !as.n && (d->want_p[0]))
		err = ENOENT;
	return err;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: artifs du [--format text|json] [--state DIR] [TARGET]\n\n"
		"Where the space goes, from the index: for each version of an artifact (TARGET\n"
		"an artifact or version), each artifact and project (TARGET a project, or none:\n"
		"everything), and in total, LOGICAL (the files' sizes, each version counted\n"
		"whole), STORED (the distinct chunks referenced, as stored: compressed, each\n"
		"once, however many files and versions share it) and, for a version, ADDED (the\n"
		"stored bytes of its chunks that no earlier version of its artifact has).\n"
		"TARGET is a path on an artifs mount or artifs://p[/a[@ref]]. It holds the\n"
		"distinct chunks' names in memory: up to about 6 MiB per GiB stored.\n");
}

/* TARGET into d->want_*: the project, artifact and @ref it names (each may be empty). */
static int target(struct du *d, const char *arg)
{
	char rel[4096], path[4096];
	const char *r = rel;

	if (!arg)
		return 0;
	if (!strncmp(arg, "artifs://", 9))
		snprintf(rel, sizeof(rel), "%s", arg + 9);
	else if (tool_on_mount("du", arg, path, sizeof(path), NULL, 0, rel, sizeof(rel)))
		return 1;
	if (sscanf(r, "%255[^/@]", d->want_p) == 1)
		r += strlen(d->want_p);
	if (*r == '/' && sscanf(r + 1, "%255[^/@]", d->want_a) == 1)
		r += 1 + strlen(d->want_a);
	if ((*r == '@' || (*r == '/' && r[1] == '@')) && d->want_a[0])
		sscanf(r + 1 + (*r == '/'), "%255[^/]", d->want_ref);
	return 0;
}

/* A tag or latest in d->want_ref becomes the vN it names now. */
static int resolve_ref(struct du *d)
{
	char uri[1024];
	struct meta_vref v;
	int err;

	if (!d->want_ref[0])
		return 0;
	snprintf(uri, sizeof(uri), "artifs://%s/%s@%s", d->want_p, d->want_a, d->want_ref);
	err = meta_uri_resolve(d->txn, uri, &v);
	if (!err)
		snprintf(d->want_ref, sizeof(d->want_ref), "v%" PRIu64, v.n);
	return err;
}

int cmd_du(int argc, char **argv)
{
	struct du d = { 0 };
	const char *state = NULL, *arg = NULL, *format = "text";
	struct meta *m;
	int err, opts = 1;

	if (tool_wants_help(argc, argv)) {
		usage(stdout);
		return 0;
	}
	if (tool_state_arg(&argc, argv, &state))
		return 1;
	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
		} else if (opts && !strcmp(argv[i], "--format")) {
			if (i + 1 >= argc)
				return tool_needs_value("du", argv[i]);
			format = argv[++i];
			if (strcmp(format, "text") && strcmp(format, "json")) {
				fprintf(stderr, "artifs du: --format takes text or json, not '%s'\n",
					format);
				return 1;
			}
		} else if (opts && argv[i][0] == '-') {
			return tool_bad_option("du", argv[i]);
		} else if (arg) {
			fprintf(stderr, "artifs du: unexpected argument '%s' (one target)\n", argv[i]);
			return 1;
		} else {
			arg = argv[i];
		}
	}
	/* an artifs:// URI names a place on the mount that URIs refer to */
	if (target(&d, arg) ||
	    tool_meta_open(state, arg && strncmp(arg, "artifs://", 9) ? arg : NULL, &m))
		return 1;
	if (!strcmp(format, "json"))
		d.rows = json_array();
	err = meta_txn_begin(m, 1, &d.txn);
	if (!err) {
		err = resolve_ref(&d);
		if (!err)
			err = sum(&d);
		meta_txn_abort(d.txn);
	}
	meta_close(m);
	for (int s = 0; s < S_N; s++)
		cset_release(&d.set[s]);
	if (!err && d.rows)
		tool_print_json(d.rows);
	json_decref(d.rows);
	if (err == ENOENT)
		fprintf(stderr, "artifs du: %s: no such project, artifact or version\n", arg);
	else if (err)
		fprintf(stderr, "artifs du: %s\n", strerror(err));
	return err ? 1 : 0;
}
