/* SPDX-License-Identifier: MIT */
/*
 * Queries over the index: URIs to versions and back, and `artifs find`, which lets the most
 * selective index (lineage, a label, a metric range) propose candidates and checks the
 * other conditions with point lookups.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta_int.h"

static int name_part(const char **s, char stop, char *out, size_t max)
{
	const char *e = strchr(*s, stop);
	size_t n = e ? (size_t)(e - *s) : strlen(*s);

	if (!e || n == 0 || n > max)
		return EINVAL;
	memcpy(out, *s, n);
	out[n] = '\0';
	*s = e + 1;
	return 0;
}

int meta_uri_resolve(struct meta_txn *txn, const char *uri, struct meta_vref *out)
{
	char p[META_PA_MAX + 1], a[META_PA_MAX + 1], ref[META_NAME_MAX + 1];
	const char *s = uri;
	uint64_t pino, aino, child;
	uint32_t type;
	struct meta_version v;
	size_t n;
	char *link = NULL;
	int err;

	if (strncmp(s, "artifs://", 9) != 0)
		return EINVAL;
	s += 9;
	if (name_part(&s, '/', p, META_PA_MAX) || name_part(&s, '@', a, META_PA_MAX))
		return EINVAL;
	n = strcspn(s, "/");
	if (n == 0 || n + 1 > sizeof(ref) - 1)
		return EINVAL;
	ref[0] = '@';
	memcpy(ref + 1, s, n);
	ref[n + 1] = '\0';
	err = meta_dirent_get(txn, META_ROOT_INO, p, &pino, &type);
	if (!err)
		err = meta_dirent_get(txn, pino, a, &aino, &type);
	if (err)
		return err;
	out->artifact = aino;
	if (ref[1] == 'v' && ref[2] >= '0' && ref[2] <= '9') {
		char *end;

		out->n = strtoull(ref + 2, &end, 10);
		if (*end)
			return EINVAL;
		return meta_version_get(txn, aino, out->n, &v);
	}
	/* A tag or @latest: a symlink to @vN in the artifact folder. */
	err = meta_dirent_get(txn, aino, ref, &child, &type);
	if (err)
		return err;
	if (type != S_IFLNK)
		return EINVAL;
	err = meta_link_get(txn, child, &link);
	if (err)
		return err;
	if (link[0] != '@' || link[1] != 'v') {
		free(link);
		return EINVAL;
	}
	{
		char *end;

		out->n = strtoull(link + 2, &end, 10);
		err = *end ? EINVAL : meta_version_get(txn, aino, out->n, &v);
	}
	free(link);
	return err;
}

int meta_vref_uri(struct meta_txn *txn, const struct meta_vref *v, char *out, size_t len)
{
	struct meta_artifact a;
	int err = meta_artifact_get(txn, v->artifact, &a);

	if (err)
		return err;
	snprintf(out, len, "artifs://%s/%s@v%" PRIu64, a.project, a.name, v->n);
	return 0;
}

struct tags_arg {
	struct meta_txn *txn;
	char want[32];
	char *out;
	size_t len, used;
};

static int tags_fn(void *arg, const char *name, size_t namelen, uint64_t child, uint32_t type)
{
	struct tags_arg *t = arg;
	char *link = NULL;

	if (type != S_IFLNK || name[0] != '@' || (namelen == 7 && !memcmp(name, "@latest", 7)))
		return 0;
	if (meta_link_get(t->txn, child, &link) == 0 && strcmp(link, t->want) == 0 &&
	    t->used + namelen + 1 < t->len) {
		if (t->used)
			t->out[t->used++] = ',';
		memcpy(t->out + t->used, name + 1, namelen - 1);
		t->used += namelen - 1;
		t->out[t->used] = '\0';
	}
	free(link);
	return 0;
}

int meta_vref_tags(struct meta_txn *txn, const struct meta_vref *v, char *out, size_t len)
{
	struct tags_arg t = { .txn = txn, .out = out, .len = len };

	if (len)
		out[0] = '\0';
	snprintf(t.want, sizeof(t.want), "@v%" PRIu64, v->n);
	/* Entries of an artifact folder starting with '@' sort before its content. */
	return meta_dirent_iter(txn, v->artifact, NULL, tags_fn, &t);
}

int meta_vref_xattr(struct meta_txn *txn, const struct meta_vref *v, const char *name,
		    char **val)
{
	struct meta_version ver;
	void *raw;
	size_t len;
	int err = meta_version_get(txn, v->artifact, v->n, &ver);

	if (!err)
		err = meta_xattr_get(txn, ver.root, name, &raw, &len);
	if (err)
		return err;
	*val = malloc(len + 1);
	if (!*val) {
		free(raw);
		return ENOMEM;
	}
	memcpy(*val, raw, len);
	(*val)[len] = '\0';
	free(raw);
	return 0;
}

/* ---- find ---- */

struct hit {
	struct meta_vref v;
	double key; /* sort metric, or -created time */
};

struct find {
	struct meta_txn *txn;
	const struct meta_query *q;
	struct hit *hits;
	size_t n, cap;
	int err;
};

static int metric_of(struct meta_txn *txn, const struct meta_vref *v, const char *name,
		     double *out)
{
	char attr[300], *val, *end;
	int err;

	snprintf(attr, sizeof(attr), "user.metric.%s", name);
	err = meta_vref_xattr(txn, v, attr, &val);
	if (err)
		return err;
	*out = strtod(val, &end);
	err = end == val ? EINVAL : 0;
	free(val);
	return err;
}

static int cmp_ok(double x, enum meta_cmp c, double y)
{
	switch (c) {
	case MC_LT:
		return x < y;
	case MC_LE:
		return x <= y;
	case MC_EQ:
		return x == y;
	case MC_GE:
		return x >= y;
	case MC_GT:
		return x > y;
	}
	return 0;
}

struct has_input {
	struct meta_vref in;
	int found;
};

static int has_input_fn(void *arg, const struct meta_vref *other, uint32_t how)
{
	struct has_input *h = arg;

	if (other->artifact == h->in.artifact && other->n == h->in.n) {
		h->found = 1;
		return META_ITER_STOP;
	}
	return 0;
}

/* Every condition of the query, checked on one candidate. */
static int matches(struct find *f, const struct meta_vref *v, int *ok, double *key)
{
	const struct meta_query *q = f->q;
	struct meta_artifact a;
	struct meta_version ver;
	int err;

	*ok = 0;
	err = meta_version_get(f->txn, v->artifact, v->n, &ver);
	if (err == ENOENT)
		return 0;
	if (!err)
		err = meta_artifact_get(f->txn, v->artifact, &a);
	if (err)
		return err == ENOENT ? 0 : err;
	if (q->project && strcmp(q->project, a.project))
		return 0;
	if (q->artifact) {
		const char *sl = strchr(q->artifact, '/');

		if (sl ? (strncmp(q->artifact, a.project, sl - q->artifact) ||
			  a.project[sl - q->artifact] || strcmp(sl + 1, a.name))
		       : strcmp(q->artifact, a.name))
			return 0;
	}
	if (q->since_ns && ver.created_ns < q->since_ns)
		return 0;
	if (q->until_ns && ver.created_ns > q->until_ns)
		return 0;
	for (size_t i = 0; i < q->nlabels; i++) {
		char attr[300], *val = NULL;
		int same;

		snprintf(attr, sizeof(attr), "user.label.%s", q->labels[i].key);
		err = meta_vref_xattr(f->txn, v, attr, &val);
		if (err == ENOENT)
			return 0;
		if (err)
			return err;
		same = strcmp(val, q->labels[i].val) == 0;
		free(val);
		if (!same)
			return 0;
	}
	for (size_t i = 0; i < q->nmetrics; i++) {
		double d;

		err = metric_of(f->txn, v, q->metrics[i].name, &d);
		if (err == ENOENT || err == EINVAL)
			return 0;
		if (err)
			return err;
		if (!cmp_ok(d, q->metrics[i].cmp, q->metrics[i].value))
			return 0;
	}
	if (q->input) {
		struct has_input h = { 0 };

		err = meta_uri_resolve(f->txn, q->input, &h.in);
		if (err)
			return err;
		err = meta_lineage_iter(f->txn, v, 0, has_input_fn, &h);
		if (err)
			return err;
		if (!h.found)
			return 0;
	}
	if (q->sort_metric) {
		err = metric_of(f->txn, v, q->sort_metric, key);
		if (err == ENOENT || err == EINVAL)
			*key = q->sort_asc ? INFINITY : -INFINITY; /* unmeasured sort last */
		else if (err)
			return err;
	} else {
		*key = (double)ver.created_ns;
	}
	*ok = 1;
	return 0;
}

static int candidate(struct find *f, const struct meta_vref *v)
{
	double key;
	int ok, err = matches(f, v, &ok, &key);

	if (err) {
		f->err = err;
		return err;
	}
	if (!ok)
		return 0;
	for (size_t i = 0; i < f->n; i++)
		if (f->hits[i].v.artifact == v->artifact && f->hits[i].v.n == v->n)
			return 0;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct hit *nh = realloc(f->hits, cap * sizeof(*nh));

		if (!nh) {
			f->err = ENOMEM;
			return ENOMEM;
		}
		f->hits = nh;
		f->cap = cap;
	}
	f->hits[f->n].v = *v;
	f->hits[f->n].key = key;
	f->n++;
	return 0;
}

static int vref_cand(void *arg, const struct meta_vref *v)
{
	return candidate(arg, v);
}

static int lineage_cand(void *arg, const struct meta_vref *v, uint32_t how)
{
	return candidate(arg, v);
}

static int metric_cand(void *arg, const struct meta_vref *v, double value)
{
	return candidate(arg, v);
}

static int version_cand(void *arg, const struct meta_version *rec)
{
	struct meta_vref v = { rec->artifact, rec->n };

	return candidate(arg, &v);
}

static int artifact_cand(void *arg, const struct meta_artifact *a)
{
	struct find *f = arg;
	const struct meta_query *q = f->q;

	if (q->project && strcmp(q->project, a->project))
		return 0;
	return meta_version_iter(f->txn, a->ino, version_cand, f);
}

static int sort_desc(const void *x, const void *y)
{
	const struct hit *a = x, *b = y;

	return a->key < b->key ? 1 : a->key > b->key ? -1 : 0;
}

static int sort_asc(const void *x, const void *y)
{
	return -sort_desc(x, y);
}

int meta_find(struct meta_txn *txn, const struct meta_query *q, meta_vref_fn *fn, void *arg)
{
	struct find f = { .txn = txn, .q = q };
	int err;

	if (q->input) {
		struct meta_vref in;

		err = meta_uri_resolve(txn, q->input, &in);
		if (err)
			return err;
		err = meta_lineage_iter(txn, &in, 1, lineage_cand, &f);
	} else if (q->nlabels) {
		err = meta_label_find(txn, q->labels[0].key, q->labels[0].val,
				      strlen(q->labels[0].val), vref_cand, &f);
	} else if (q->nmetrics) {
		double lo = -INFINITY, hi = INFINITY, x = q->metrics[0].value;
		int lo_incl = 1, hi_incl = 1;

		switch (q->metrics[0].cmp) {
		case MC_LT:
			hi = x;
			hi_incl = 0;
			break;
		case MC_LE:
			hi = x;
			break;
		case MC_EQ:
			lo = hi = x;
			break;
		case MC_GE:
			lo = x;
			break;
		case MC_GT:
			lo = x;
			lo_incl = 0;
			break;
		}
		err = meta_metric_range(txn, q->metrics[0].name, lo, lo_incl, hi, hi_incl,
					metric_cand, &f);
	} else {
		err = meta_artifact_iter(txn, artifact_cand, &f);
	}
	if (!err)
		err = f.err;
	if (err)
		goto out;
	if (f.n) /* f.hits is NULL without hits: qsort's base must not be */
		qsort(f.hits, f.n, sizeof(*f.hits), q->sort_metric && q->sort_asc ? sort_asc : sort_desc);
	for (size_t i = 0; i < f.n && (!q->limit || i < q->limit); i++) {
		err = fn(arg, &f.hits[i].v);
		if (err)
			break;
	}
out:
	free(f.hits);
	return err;
}
