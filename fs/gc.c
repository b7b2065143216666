/* SPDX-License-Identifier: MIT */
/*
 * artifs gc (docs/gc.md): one run over the store, phase by phase: take the turn
 * (gc/runs/), purge the versions removed longer than removed_grace ago, find the packs the
 * other versions name, condemn the packs none names, delete those condemned long enough ago
 * (recording them in gc/swept/ first), and give the turn back. Works on the store alone (no
 * index): a mount may go on meanwhile, on this host or any other.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "fs_int.h"

#define NS 1000000000LL
#define LEASE_S 600     /* a run's entry is stale this long after its last heartbeat */
#define BEAT_S 60       /* how often a run rewrites its entry */
#define SMALL_MAX 4096  /* a run entry, a removal mark, a condemnation mark */
#define SWEEP_MAX 65536 /* packs deleted by one run (the rest by the next) */
#define SWEPT_KEEP_S (FS_GC_RECORD_KEEP_DAYS * 86400LL)

/* A pack of the listing of packs/: its two objects. */
struct spack {
	uint8_t name[PACK_NAME_LEN];
	uint64_t bytes;
	int64_t mtime; /* the newer of the two, -1 when unknown */
};

/* A condemnation mark: the pack, and when it was written. */
struct cmark {
	uint8_t name[PACK_NAME_LEN];
	int64_t at_ns;
};

/* An artifact of the store, as the scan found it, and its retention policy. */
struct gart {
	char project[BE_NAME_MAX + 1], artifact[BE_NAME_MAX + 1];
	struct fs_retain pol;
	int has_pol;
	size_t v0, nv; /* its versions: vers[v0, v0 + nv), ascending */
};

/* A version the scan kept (not purged). */
struct gver {
	uint64_t n;
	int64_t created_ns;
	uint32_t art;
	uint8_t removed, keep, tagged;
	char *inputs;        /* declared and captured input URIs, one per line */
	size_t pack0, npack; /* its packs: vpacks[pack0, pack0 + npack) */
};

struct gc {
	struct fs *fs;
	struct fs_gc *g;
	char run[BE_KEY_MAX]; /* our gc/runs/ entry ("" without one: dry run) */
	int64_t started_ns, beat_ns;
	int64_t scan_ns; /* when the listing of versions/ began: what is live was live then */
	long steps, kill_at; /* $ARTIFS_TEST_GC_KILL_AT: the tests' kill -9 at a given step */
	struct fs_names live;
	struct gart *arts;
	size_t narts, caparts;
	struct gver *vers;
	size_t nvers, capvers;
	uint8_t (*vpacks)[PACK_NAME_LEN];
	size_t nvpacks, capvpacks;
	struct fs_names keep;          /* packs of the versions that stay (not removed) */
	char pol_project[BE_NAME_MAX + 1]; /* the project whose policy pol_p is */
	struct fs_retain pol_p;
	int pol_p_set;
	struct spack *packs;
	size_t npacks, cappacks;
	struct cmark *marks;
	size_t nmarks, capmarks;
};

static void say(struct gc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct gc *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (c->g->line)
		c->g->line(c->g->arg, line);
}

/* A small JSON object of the store (hostile input): NULL when missing or not one. */
static json_t *small_get(struct gc *c, const char *key, int *err)
{
	json_error_t jerr;
	void *buf = NULL;
	size_t len;
	json_t *o = NULL;

	*err = be_get_all(c->fs->be, key, SMALL_MAX, &buf, &len);
	if (*err == EFBIG)
		*err = 0;
	else if (!*err && !(o = json_loadb(buf, len, 0, &jerr)))
		log_msg(LOG_WARNING, "store: %s is not a JSON object; taken as none", key);
	free(buf);
	if (o && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int64_t json_ns(const json_t *o, const char *name)
{
	const json_t *v = json_object_get(o, name);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* Stops at the next object once asked to (Ctrl-C), and keeps the turn alive. */
static int going(struct gc *c)
{
	int64_t now = fs_now_ns();
	char body[600], host[256] = "";
	int len;

	if (c->g->stop && *c->g->stop)
		return EINTR;
	if (++c->steps == c->kill_at)
		raise(SIGKILL);
	if (!c->run[0] || now - c->beat_ns < BEAT_S * NS)
		return 0;
	gethostname(host, sizeof(host) - 1);
	len = snprintf(body, sizeof(body),
		       "{\"host\":\"%s\",\"pid\":%d,\"started_ns\":%" PRId64 ",\"beat_ns\":%" PRId64
		       "}\n", host, (int)getpid(), c->started_ns, now);
	c->beat_ns = now;
	return be_put(c->fs->be, c->run, body, (size_t)len);
}

/* Whether the entry o is of a run on this host whose process is gone (killed): then it is
 * stale without waiting for its lease. */
static int dead_here(const json_t *o)
{
	const json_t *h = json_object_get(o, "host"), *p = json_object_get(o, "pid");
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	return json_is_string(h) && !strcmp(json_string_value(h), host) && json_is_integer(p) &&
	       json_integer_value(p) > 0 && json_integer_value(p) < INT32_MAX &&
	       kill((pid_t)json_integer_value(p), 0) == -1 && errno == ESRCH;
}

/* Another run's entry: stale ones are deleted; an older live one holds the turn (EBUSY). */
static int turn_other(struct gc *c, const char *key)
{
	int err;
	json_t *o = small_get(c, key, &err);
	int64_t beat = o ? json_ns(o, "beat_ns") : -1;
	const json_t *h = o ? json_object_get(o, "host") : NULL;

	if (err == ENOENT)
		return 0;
	if (!err && (beat + LEASE_S * NS < fs_now_ns() || dead_here(o))) {
		log_msg(LOG_NOTICE, "gc: %s is stale (%s); deleted", key,
			beat + LEASE_S * NS < fs_now_ns() ? "no heartbeat for 10 minutes"
							  : "its process on this host is gone");
		err = be_del(c->fs->be, key);
	} else if (!err && strcmp(key, c->run) < 0) {
		snprintf(c->g->other, sizeof(c->g->other), "since %s, on host %s",
			 key + strlen(GC_RUNS), json_is_string(h) ? json_string_value(h) : "?");
		err = EBUSY;
	}
	json_decref(o);
	return err;
}

static int turn_take(struct gc *c)
{
	struct fs_keys l = { 0 };
	uint8_t rnd[4];
	char hex[9];
	int err;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return EIO;
	be_hex_encode(rnd, sizeof(rnd), hex);
	c->started_ns = fs_now_ns();
	snprintf(c->run, sizeof(c->run), GC_RUNS "%020" PRId64 "-%s", c->started_ns, hex);
	c->beat_ns = 0;
	err = going(c);
	if (err) {
		c->run[0] = '\0';
		return err;
	}
	err = be_list(c->fs->be, GC_RUNS, fs_keys_fn, &l);
	for (size_t i = 0; i < l.n && !err; i++)
		if (strcmp(l.v[i], c->run))
			err = turn_other(c, l.v[i]);
	fs_keys_free(&l);
	return err;
}

static int del_prefix(struct gc *c, const char *prefix)
{
	struct fs_keys l = { 0 };
	int err = be_list(c->fs->be, prefix, fs_keys_fn, &l);

	for (size_t i = 0; i < l.n && !err && !(err = going(c)); i++)
		err = be_del(c->fs->be, l.v[i]);
	fs_keys_free(&l);
	return err;
}

/* Version n of p/a, removed at removed_ns: its labels, then its manifest, go; its mark
 * (mark: the version's own, or NULL under the artifact's) says purged and stays. */
static int purge(struct gc *c, const struct be_key *k, uint64_t n, const char *mark,
		 int64_t removed_ns)
{
	char key[BE_KEY_MAX], body[128];
	int err, len;

	if (c->g->dry_run)
		return 0;
	len = snprintf(body, sizeof(body), "{\"removed_ns\":%" PRId64 ",\"purged_ns\":%" PRId64
		       "}\n", removed_ns, fs_now_ns());
	err = mark ? be_put(c->fs->be, mark, body, (size_t)len) : 0;
	if (!err && !(err = be_key_meta_version(key, sizeof(key), k->project, k->artifact, n, 0)))
		err = del_prefix(c, key);
	if (!err && !(err = be_key_meta_version(key, sizeof(key), k->project, k->artifact, n, 1)))
		err = be_del(c->fs->be, key);
	if (!err && !(err = be_key_version(key, sizeof(key), k->project, k->artifact, n)))
		err = be_del(c->fs->be, key);
	return err;
}

/* The version's record: its inputs, and its packs (which join the live set). */
static int ver_add(struct gc *c, const struct manifest *m, int removed)
{
	struct gver *v = be_grow(c->vers, c->nvers, &c->capvers, sizeof(*v));
	struct be_str in = { 0 };
	int err = 0;

	if (!v)
		return ENOMEM;
	c->vers = v;
	v = &c->vers[c->nvers];
	*v = (struct gver){ .n = m->version, .created_ns = m->created_ns,
			    .art = (uint32_t)(c->narts - 1), .removed = (uint8_t)removed,
			    .pack0 = c->nvpacks, .npack = m->npacks };
	for (int i = 0; i < 2 && !err; i++) {
		const char *t = i ? m->captured : m->inputs;

		if (t && *t && !(err = be_str_add(&in, t, strlen(t))))
			err = be_str_add(&in, "\n", 1);
	}
	for (size_t p = 0; p < m->npacks && !err; p++) {
		void *nv = be_grow(c->vpacks, c->nvpacks, &c->capvpacks, sizeof(*c->vpacks));

		if (!nv) {
			err = ENOMEM;
			break;
		}
		c->vpacks = nv;
		memcpy(c->vpacks[c->nvpacks++], m->packs[p].name, PACK_NAME_LEN);
		err = fs_names_add(&c->live, m->packs[p].name);
	}
	if (err) {
		be_str_release(&in);
		return err;
	}
	v->inputs = in.s;
	c->arts[c->narts - 1].nv++;
	c->nvers++;
	return 0;
}

/* A live version: the packs its manifest names join the live set. */
static int live_add(struct gc *c, const struct be_key *k, uint64_t n, int removed)
{
	struct manifest m;
	uint8_t digest[32];
	int err = fs_manifest_fetch(c->fs, k->project, k->artifact, n, &m, digest);

	if (err == ENOENT)
		return 0; /* purged meanwhile by another run: not possible with the turn; harmless */
	if (err == EINVAL) {
		c->g->unreadable++;
		return 0;
	}
	if (err)
		return err;
	c->g->versions++;
	err = ver_add(c, &m, removed);
	manifest_release(&m);
	return err;
}

/* The removal marks of one artifact's listing [from, to): when each was removed. */
struct removed {
	uint64_t through; /* the artifact's mark: every version up to it (0: none) */
	int64_t art_ns;
	uint64_t *n;
	int64_t *ns;
	size_t cnt, capn, capns;
};

static int removed_add(struct removed *r, uint64_t n, int64_t ns)
{
	uint64_t *nn = be_grow(r->n, r->cnt, &r->capn, sizeof(*nn));
	int64_t *nns;

	if (!nn)
		return ENOMEM;
	r->n = nn;
	nns = be_grow(r->ns, r->cnt, &r->capns, sizeof(*nns));
	if (!nns)
		return ENOMEM;
	r->ns = nns;
	r->n[r->cnt] = n;
	r->ns[r->cnt++] = ns;
	return 0;
}

/* The marks of the artifact's listing keys[from, to) into r. A mark gc cannot read is taken
 * as made now (nothing it removes is purged by this run). */
static int removed_read(struct gc *c, char **keys, size_t from, size_t to, struct removed *r)
{
	int err = 0;

	for (size_t i = from; i < to && !err; i++) {
		struct be_key k;
		uint64_t n = 0;
		int kind;
		json_t *o;
		int64_t ns;

		be_key_split(keys[i], BE_KEY_VERSIONS, &k);
		kind = k.rest ? fs_removal_mark(k.rest, &n) : 0;
		if (!kind)
			continue;
		o = small_get(c, keys[i], &err);
		if (err == ENOENT)
			err = 0; /* restored meanwhile */
		ns = o ? json_ns(o, "removed_ns") : -1;
		if (ns < 0)
			ns = fs_now_ns();
		if (kind == 2 && o) {
			const json_t *t = json_object_get(o, "through");

			r->through = json_is_integer(t) && json_integer_value(t) > 0
					     ? (uint64_t)json_integer_value(t) : 0;
			r->art_ns = ns;
		} else if (kind == 1 && !err) {
			err = removed_add(r, n, ns);
		}
		json_decref(o);
	}
	return err;
}

/* After a purge under the artifact's mark: the mark says so (restore refuses), and its tags
 * go (they name versions no longer there). */
static int art_purged(struct gc *c, const struct be_key *k, const struct removed *r)
{
	char key[BE_KEY_MAX], body[160];
	int len = snprintf(body, sizeof(body), "{\"removed_ns\":%" PRId64 ",\"through\":%" PRIu64
			   ",\"purged_ns\":%" PRId64 "}\n", r->art_ns, r->through, fs_now_ns());
	int err = be_key_removed(key, sizeof(key), k->project, k->artifact, 0);

	if (!err)
		err = be_put(c->fs->be, key, body, (size_t)len);
	if (!err && !(err = be_key_ref(key, sizeof(key), k->project, k->artifact, NULL)))
		err = del_prefix(c, key);
	return err;
}

/* When version k->n was removed (-1: it is not), and the key of its own mark. */
static int64_t removed_when(const struct removed *r, const struct be_key *k, char *mark,
			    size_t len)
{
	for (size_t j = 0; j < r->cnt; j++)
		if (r->n[j] == k->n) {
			be_key_removed(mark, len, k->project, k->artifact, k->n);
			return r->ns[j];
		}
	mark[0] = '\0';
	return r->through && k->n <= r->through ? r->art_ns : -1;
}

/* The policy (user.artifs.retain) of an owner, as the store holds it: 0 and *r, ENOENT. */
static int policy_read(struct gc *c, const struct fs_attr_owner *o, struct fs_retain *r)
{
	char val[256];
	const char *why;
	size_t len;
	int err = fs_attr_fetch(c->fs, o, "user.artifs.retain", val, sizeof(val), &len);

	if (err == E2BIG || (!err && fs_retain_parse(val, len, r, &why))) {
		log_msg(LOG_WARNING, "gc: the retention policy of %s%s%s is not one; ignored",
			o->project, o->where == FA_ARTIFACT ? "/" : "", o->artifact);
		return ENOENT;
	}
	return err;
}

/* A new artifact record for the listing key's artifact, with its policy (its own, else its
 * project's). */
static int art_add(struct gc *c, const char *key)
{
	struct fs_attr_owner o = { .where = FA_ARTIFACT };
	struct be_key k;
	struct gart *a = be_grow(c->arts, c->narts, &c->caparts, sizeof(*a));
	int err;

	if (!a)
		return ENOMEM;
	c->arts = a;
	a = &c->arts[c->narts++];
	memset(a, 0, sizeof(*a));
	a->v0 = c->nvers;
	if (be_key_split(key, BE_KEY_VERSIONS, &k) && !k.rest)
		return 0; /* not an artifact's key: no version is recorded under it */
	snprintf(a->project, sizeof(a->project), "%s", k.project);
	snprintf(a->artifact, sizeof(a->artifact), "%s", k.artifact);
	snprintf(o.project, sizeof(o.project), "%s", k.project);
	snprintf(o.artifact, sizeof(o.artifact), "%s", k.artifact);
	err = policy_read(c, &o, &a->pol);
	a->has_pol = !err;
	if (err != ENOENT)
		return err;
	if (strcmp(c->pol_project, k.project)) {
		o.where = FA_PROJECT;
		o.artifact[0] = '\0';
		snprintf(c->pol_project, sizeof(c->pol_project), "%s", k.project);
		err = policy_read(c, &o, &c->pol_p);
		c->pol_p_set = !err;
		if (err && err != ENOENT)
			return err;
	}
	a->has_pol = c->pol_p_set;
	a->pol = c->pol_p;
	return 0;
}

/* One artifact's listing keys[from, to): each version purged, or its packs live. */
static int scan_artifact(struct gc *c, char **keys, size_t from, size_t to)
{
	struct removed r = { 0 };
	struct be_key k = { 0 };
	int64_t keep = c->g->removed_grace_s * NS;
	int err = art_add(c, keys[from]), under_art = 0;

	if (!err)
		err = removed_read(c, keys, from, to, &r);

	for (size_t i = from; i < to && !err && !(err = going(c)); i++) {
		char mark[BE_KEY_MAX];
		int64_t ns;

		if (be_key_split(keys[i], BE_KEY_VERSIONS, &k) || !k.n)
			continue; /* marks, and names that are no version (refresh logs them) */
		ns = removed_when(&r, &k, mark, sizeof(mark));
		if (ns < 0 || ns + keep >= fs_now_ns()) {
			err = live_add(c, &k, k.n, ns >= 0);
			continue;
		}
		err = purge(c, &k, k.n, mark[0] ? mark : NULL, ns);
		if (!err) {
			c->g->purged++;
			under_art |= !mark[0];
		}
	}
	if (!err && under_art && !c->g->dry_run)
		err = art_purged(c, &k, &r);
	free(r.n);
	free(r.ns);
	return err;
}

/* ---- retention (docs/gc.md, "Retention") ---- */

static int art_cmp(const struct gart *a, const char *project, const char *artifact)
{
	char x[2 * BE_NAME_MAX + 4], y[2 * BE_NAME_MAX + 4];

	/* the order of the listing: by "<p>/<a>/" */
	snprintf(x, sizeof(x), "%s/%s/", a->project, a->artifact);
	snprintf(y, sizeof(y), "%s/%s/", project, artifact);
	return strcmp(x, y);
}

/* The record of version n of project/artifact, or NULL. */
static struct gver *ver_find(struct gc *c, const char *project, const char *artifact,
			     uint64_t n)
{
	size_t lo = 0, hi = c->narts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, vlo, vhi;
		int cmp = art_cmp(&c->arts[mid], project, artifact);

		if (cmp < 0) {
			lo = mid + 1;
		} else if (cmp > 0) {
			hi = mid;
		} else {
			vlo = c->arts[mid].v0;
			vhi = vlo + c->arts[mid].nv;
			while (vlo < vhi) {
				size_t vm = vlo + (vhi - vlo) / 2;

				if (c->vers[vm].n == n)
					return &c->vers[vm];
				if (c->vers[vm].n < n)
					vlo = vm + 1;
				else
					vhi = vm;
			}
			return NULL;
		}
	}
	return NULL;
}

/* Every version a tag of artifact a points at is marked tagged. */
static int tags_read(struct gc *c, struct gart *a)
{
	struct fs_keys l = { 0 };
	char prefix[BE_KEY_MAX];
	int err = be_key_ref(prefix, sizeof(prefix), a->project, a->artifact, NULL);

	if (!err)
		err = be_list(c->fs->be, prefix, fs_keys_fn, &l);
	for (size_t i = 0; i < l.n && !err; i++) {
		char buf[32];
		size_t got;
		struct gver *v;

		if (be_get(c->fs->be, l.v[i], 0, sizeof(buf) - 1, buf, &got))
			continue; /* dropped meanwhile */
		buf[got] = '\0';
		v = ver_find(c, a->project, a->artifact, strtoull(buf, NULL, 10));
		if (v)
			v->tagged = 1;
	}
	fs_keys_free(&l);
	return err;
}

/* The versions each policy keeps, and all versions of artifacts without one: the newest,
 * the last N, the younger ones, the tagged ones. Removed versions are not kept. */
static int retain_roots(struct gc *c)
{
	int64_t now = fs_now_ns();
	int err = 0;

	for (size_t i = 0; i < c->narts && !err; i++) {
		struct gart *a = &c->arts[i];
		uint64_t rank = 0;

		if (a->has_pol)
			err = tags_read(c, a);
		for (size_t k = a->nv; k-- > 0 && !err;) {
			struct gver *v = &c->vers[a->v0 + k];

			if (v->removed)
				continue;
			v->keep = !a->has_pol || rank == 0 || v->tagged ||
				  (a->pol.last && rank < a->pol.last) ||
				  (a->pol.younger_s && v->created_ns + a->pol.younger_s * NS > now);
			rank++;
		}
	}
	return err;
}

/* "artifs://<p>/<a>@v<N>" into its parts: 0, or EINVAL. */
static int uri_parse(const char *s, size_t len, char *project, char *artifact, uint64_t *n)
{
	const char *at, *slash, *p = s + 9;
	char num[24];

	if (len < 12 || strncmp(s, "artifs://", 9))
		return EINVAL;
	slash = memchr(p, '/', len - 9);
	at = slash ? memchr(slash, '@', len - (size_t)(slash - s)) : NULL;
	if (!at || (size_t)(slash - p) > BE_NAME_MAX || (size_t)(at - slash - 1) > BE_NAME_MAX ||
	    at[1] != 'v' || len - (size_t)(at + 2 - s) >= sizeof(num))
		return EINVAL;
	memcpy(project, p, (size_t)(slash - p));
	project[slash - p] = '\0';
	memcpy(artifact, slash + 1, (size_t)(at - slash - 1));
	artifact[at - slash - 1] = '\0';
	memcpy(num, at + 2, len - (size_t)(at + 2 - s));
	num[len - (size_t)(at + 2 - s)] = '\0';
	*n = strtoull(num, NULL, 10);
	return *n ? 0 : EINVAL;
}

/* Every version a kept version was built from is kept too, transitively (lineage). */
static int retain_lineage(struct gc *c)
{
	size_t *stack = malloc((c->nvers + 1) * sizeof(*stack)), top = 0;

	if (!stack)
		return ENOMEM;
	for (size_t i = 0; i < c->nvers; i++)
		if (c->vers[i].keep)
			stack[top++] = i;
	while (top) {
		const char *t = c->vers[stack[--top]].inputs;

		for (; t && *t; t += strcspn(t, "\n"), t += *t == '\n') {
			char project[BE_NAME_MAX + 1], artifact[BE_NAME_MAX + 1];
			uint64_t n;
			struct gver *v;

			if (uri_parse(t, strcspn(t, "\n"), project, artifact, &n))
				continue;
			v = ver_find(c, project, artifact, n);
			if (v && !v->keep && !v->removed) {
				v->keep = 1;
				stack[top++] = (size_t)(v - c->vers);
			}
		}
	}
	free(stack);
	return 0;
}

/* A removal mark for a version no policy keeps, as artifs rm writes one. */
static int retain_remove(struct gc *c, const struct gart *a, const struct gver *v)
{
	char key[BE_KEY_MAX], body[128];
	int len = snprintf(body, sizeof(body), "{\"removed_ns\":%" PRId64 ",\"by\":\"gc\"}\n",
			   fs_now_ns());
	int err = be_key_removed(key, sizeof(key), a->project, a->artifact, v->n);

	if (c->g->dry_run) {
		say(c, "would remove %s/%s@v%" PRIu64, a->project, a->artifact, v->n);
		return err;
	}
	return err ? err : be_put(c->fs->be, key, body, (size_t)len);
}

static int retain(struct gc *c)
{
	int err = retain_roots(c);

	if (!err)
		err = retain_lineage(c);
	for (size_t i = 0; i < c->nvers && !err && !(err = going(c)); i++) {
		struct gver *v = &c->vers[i];

		if (!v->removed && !v->keep) {
			err = retain_remove(c, &c->arts[v->art], v);
			c->g->retained += !err;
			continue;
		}
		for (size_t p = 0; p < v->npack && !err && !v->removed; p++)
			err = fs_names_add(&c->keep, c->vpacks[v->pack0 + p]);
	}
	fs_names_sort(&c->keep);
	return err;
}

static int same_artifact(const char *x, const char *y)
{
	struct be_key a, b;

	be_key_split(x, BE_KEY_VERSIONS, &a);
	be_key_split(y, BE_KEY_VERSIONS, &b);
	return a.rest && b.rest && !strcmp(a.project, b.project) &&
	       !strcmp(a.artifact, b.artifact);
}

/* Every artifact of the store, from one listing of versions/ (the keys of one artifact are
 * adjacent: they share a prefix). */
static int scan(struct gc *c)
{
	struct fs_keys l = { 0 };
	size_t from = 0;
	int err;

	c->scan_ns = fs_now_ns();
	err = be_list(c->fs->be, BE_KEY_VERSIONS, fs_keys_fn, &l);

	for (size_t i = 1; i <= l.n && !err; i++)
		if (i == l.n || !same_artifact(l.v[from], l.v[i])) {
			err = scan_artifact(c, l.v, from, i);
			from = i;
			if (c->g->progress)
				c->g->progress(c->g->arg, "versions", i, l.n);
		}
	fs_keys_free(&l);
	return err;
}

static int packs_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct gc *c = arg;
	uint8_t name[PACK_NAME_LEN];
	struct spack *last = c->npacks ? &c->packs[c->npacks - 1] : NULL, *nv;
	int index;

	if (pack_key_parse(key, name, &index))
		return 0;
	if (!last || memcmp(last->name, name, PACK_NAME_LEN)) {
		nv = be_grow(c->packs, c->npacks, &c->cappacks, sizeof(*nv));
		if (!nv)
			return ENOMEM;
		c->packs = nv;
		last = &c->packs[c->npacks++];
		*last = (struct spack){ .mtime = mtime };
		memcpy(last->name, name, PACK_NAME_LEN);
	}
	last->bytes += size;
	if (mtime < 0 || (last->mtime >= 0 && mtime > last->mtime))
		last->mtime = mtime;
	return 0;
}

static int marks_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct gc *c = arg;
	uint8_t name[PACK_NAME_LEN];
	struct cmark *nv;
	json_t *o;
	int err;

	if (fs_gc_name_parse(key + strlen(GC_CONDEMNED), name))
		return 0;
	nv = be_grow(c->marks, c->nmarks, &c->capmarks, sizeof(*nv));
	if (!nv)
		return ENOMEM;
	c->marks = nv;
	o = small_get(c, key, &err);
	if (err == ENOENT)
		return 0;
	nv = &c->marks[c->nmarks++];
	memcpy(nv->name, name, PACK_NAME_LEN);
	/* A mark gc cannot read counts from now: it is written again below. */
	nv->at_ns = o ? json_ns(o, "at_ns") : -1;
	json_decref(o);
	return err;
}

static int cmark_cmp(const void *a, const void *b)
{
	return memcmp(a, b, PACK_NAME_LEN);
}

static int mark_key(const uint8_t *name, char *key, size_t len)
{
	char hex[2 * PACK_NAME_LEN + 1];

	be_hex_encode(name, PACK_NAME_LEN, hex);
	return snprintf(key, len, GC_CONDEMNED "%s", hex) < (int)len ? 0 : ENAMETOOLONG;
}

static int mark_put(struct gc *c, const uint8_t *name)
{
	char key[BE_KEY_MAX], body[BE_KEY_MAX + 64];
	int len, err = mark_key(name, key, sizeof(key));

	if (err || c->g->dry_run)
		return err;
	len = snprintf(body, sizeof(body), "{\"at_ns\":%" PRId64 ",\"run\":\"%s\"}\n", fs_now_ns(),
		       c->run + strlen(GC_RUNS));
	return be_put(c->fs->be, key, body, (size_t)len);
}

static int mark_del(struct gc *c, const uint8_t *name)
{
	char key[BE_KEY_MAX];
	int err = mark_key(name, key, sizeof(key));

	return err || c->g->dry_run ? err : be_del(c->fs->be, key);
}

/* One pack of the listing: lifted, left, condemned, or (added to sweep) due to go. */
static int pack_judge(struct gc *c, const struct spack *p, struct fs_names *sweep)
{
	const struct cmark *m = c->nmarks ? bsearch(p->name, c->marks, c->nmarks, sizeof(*m),
						    cmark_cmp) : NULL;
	int64_t now = fs_now_ns(), wait = (c->g->grace_s + c->g->skew_s) * NS;
	/* A manifest a commit wrote after it last saw no mark for this pack is in the scan when
	 * the mark is older than the grace at the time the scan began (docs/gc.md). */

	c->g->packs++;
	c->g->pack_bytes += p->bytes;
	if (!fs_names_has(&c->keep, p->name))
		c->g->removed_bytes += p->bytes;
	if (fs_names_has(&c->live, p->name)) {
		c->g->live_packs++;
		c->g->live_bytes += p->bytes;
		c->g->lifted += m != NULL;
		return m ? mark_del(c, p->name) : 0;
	}
	if (c->g->unreadable)
		return 0; /* what is live is not known */
	if (m && m->at_ns >= 0 && m->at_ns + wait < c->scan_ns && sweep->n < SWEEP_MAX) {
		c->g->swept++;
		c->g->swept_bytes += p->bytes;
		return fs_names_add(sweep, p->name);
	}
	if (m && m->at_ns >= 0) {
		c->g->condemned++;
		c->g->condemned_bytes += p->bytes;
		return 0;
	}
	if (p->mtime < 0 || p->mtime + c->g->grace_s >= now / NS)
		return 0; /* young: maybe a commit's on its way */
	c->g->condemned++;
	c->g->condemned_bytes += p->bytes;
	return mark_put(c, p->name);
}

/* The record of what this run deletes, written before it deletes anything. */
static int record_put(struct gc *c, const struct fs_names *sweep)
{
	struct be_str b = { 0 };
	char key[BE_KEY_MAX], head[64];
	int err;

	snprintf(key, sizeof(key), GC_SWEPT "%s", c->run + strlen(GC_RUNS));
	snprintf(head, sizeof(head), "{\"at_ns\":%" PRId64 ",\"packs\":[", fs_now_ns());
	err = be_str_add(&b, head, strlen(head));
	for (size_t i = 0; i < sweep->n && !err; i++) {
		char hex[2 * PACK_NAME_LEN + 4];

		hex[0] = '"';
		be_hex_encode(sweep->v[i], PACK_NAME_LEN, hex + 1);
		strcat(hex, i + 1 < sweep->n ? "\"," : "\"");
		err = be_str_add(&b, hex, strlen(hex));
	}
	if (!err)
		err = be_str_add(&b, "]}\n", 3);
	if (!err)
		err = be_put(c->fs->be, key, b.s, b.len);
	be_str_release(&b);
	return err;
}

/* Deletes the packs of sweep: recorded first, then pack, index and mark of each. */
static int sweep_all(struct gc *c, const struct fs_names *sweep)
{
	int err = c->g->dry_run || !sweep->n ? 0 : record_put(c, sweep);

	for (size_t i = 0; i < sweep->n && !err && !c->g->dry_run && !(err = going(c)); i++) {
		char key[BE_KEY_MAX];

		err = pack_key(sweep->v[i], 0, key, sizeof(key));
		if (!err)
			err = be_del(c->fs->be, key);
		if (!err && !(err = pack_key(sweep->v[i], 1, key, sizeof(key))))
			err = be_del(c->fs->be, key);
		if (!err)
			err = mark_del(c, sweep->v[i]);
	}
	return err;
}

/* Marks whose pack is gone (a run that died after deleting it): deleted. */
static int marks_orphan(struct gc *c)
{
	int err = 0;

	for (size_t i = 0; i < c->nmarks && !err; i++) {
		struct spack key;

		memcpy(key.name, c->marks[i].name, PACK_NAME_LEN);
		if (!c->npacks || !bsearch(&key, c->packs, c->npacks, sizeof(*c->packs), cmark_cmp))
			err = mark_del(c, c->marks[i].name);
	}
	return err;
}

static int mark_sweep(struct gc *c)
{
	struct fs_names sweep = { 0 };
	int err = be_list(c->fs->be, BE_KEY_PACKS, packs_fn, c);

	fs_names_sort(&c->live);
	if (!err)
		err = be_list(c->fs->be, GC_CONDEMNED, marks_fn, c);
	for (size_t i = 0; i < c->npacks && !err && !(err = going(c)); i++) {
		err = pack_judge(c, &c->packs[i], &sweep);
		if (c->g->progress && (i % 256 == 255 || i + 1 == c->npacks))
			c->g->progress(c->g->arg, "packs", i + 1, c->npacks);
	}
	if (!err)
		err = sweep_all(c, &sweep);
	if (!err)
		err = marks_orphan(c);
	fs_names_release(&sweep);
	return err;
}

/* Records of deleted packs older than SWEPT_KEEP_S go (their name starts with their run's
 * start time); every host applies them at its next commit long before. */
static int records_expire(struct gc *c)
{
	struct fs_keys l = { 0 };
	int err = be_list(c->fs->be, GC_SWEPT, fs_keys_fn, &l);

	for (size_t i = 0; i < l.n && !err; i++) {
		const char *t = l.v[i] + strlen(GC_SWEPT);
		uint64_t ns = 0;

		for (size_t d = 0; d < 20 && t[d] >= '0' && t[d] <= '9'; d++)
			ns = ns * 10 + (uint64_t)(t[d] - '0');
		if ((int64_t)ns + SWEPT_KEEP_S * NS < fs_now_ns() && !c->g->dry_run)
			err = be_del(c->fs->be, l.v[i]);
	}
	fs_keys_free(&l);
	return err;
}

static void gc_free(struct gc *c)
{
	for (size_t i = 0; i < c->nvers; i++)
		free(c->vers[i].inputs);
	free(c->vers);
	free(c->arts);
	free(c->vpacks);
	fs_names_release(&c->keep);
	fs_names_release(&c->live);
	free(c->packs);
	free(c->marks);
}

static const char *mib(uint64_t bytes, char *buf, size_t len)
{
	snprintf(buf, len, "%.1f MiB", (double)bytes / (1 << 20));
	return buf;
}

static int phases(struct gc *c)
{
	struct fs_gc *g = c->g;
	const char *would = g->dry_run ? "would be " : "";
	char a[32], b[32];
	int err = scan(c);

	if (err)
		return err;
	say(c, "versions: %" PRIu64 " kept, %" PRIu64 " %spurged (removed more than %" PRId64
	    " s ago)", g->versions, g->purged, would, g->removed_grace_s);
	err = g->unreadable ? 0 : retain(c);
	if (err)
		return err;
	say(c, "retain: %" PRIu64 " versions %sremoved by policy (restorable until purged)",
	    g->retained, would);
	if (g->unreadable)
		say(c, "%" PRIu64 " manifest(s) do not decode (artifs fsck names them): no pack is "
		    "condemned while what they name is not known", g->unreadable);
	if (c->fs->sc.format < 2) {
		say(c, "store format 1: its chunk objects are not reclaimed (only format 2 packs)");
		return records_expire(c);
	}
	err = mark_sweep(c);
	if (err)
		return err;
	say(c, "packs: %" PRIu64 " (%s), %" PRIu64 " live (%s)", g->packs,
	    mib(g->pack_bytes, a, sizeof(a)), g->live_packs, mib(g->live_bytes, b, sizeof(b)));
	say(c, "condemned: %" PRIu64 " (%s; a later run deletes them after %" PRId64 " s), %"
	    PRIu64 " live again", g->condemned, mib(g->condemned_bytes, a, sizeof(a)),
	    g->grace_s + g->skew_s, g->lifted);
	say(c, "deleted: %" PRIu64 " packs %s(%s)", g->swept, would,
	    mib(g->swept_bytes, a, sizeof(a)));
	say(c, "removed versions: %s in packs no other version names (freed once purged)",
	    mib(g->removed_bytes, a, sizeof(a)));
	return records_expire(c);
}

static int fs_gc(struct fs *fs, struct fs_gc *g)
{
	struct gc c = { .fs = fs, .g = g, .kill_at = -1 };
	const char *k = getenv("ARTIFS_TEST_GC_KILL_AT");
	int err = 0, derr;

	if (k)
		c.kill_at = strtol(k, NULL, 10);
	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	if (!g->dry_run)
		err = turn_take(&c);
	if (!err)
		err = phases(&c);
	if (c.run[0] && (derr = be_del(fs->be, c.run)) && !err)
		err = derr;
	gc_free(&c);
	return err;
}

int fs_gc_run(const struct fs_conf *c, struct fs_gc *g)
{
	struct fs *fs = NULL;
	int err = fs_offline_open(c, &fs);

	if (!err)
		err = fs_gc(fs, g);
	fs_offline_close(fs);
	return err;
}
