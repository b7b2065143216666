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
	int objects;   /* 1: the pack, 2: the index */
};

/* A condemnation mark: the pack, and when it was written. */
struct cmark {
	uint8_t name[PACK_NAME_LEN];
	int64_t at_ns;
};

struct gc {
	struct fs *fs;
	struct fs_gc *g;
	char run[BE_KEY_MAX]; /* our gc/runs/ entry ("" without one: dry run) */
	int64_t started_ns, beat_ns;
	int64_t scan_ns; /* when the listing of versions/ began: what is live was live then */
	long steps, kill_at; /* $ARTIFS_TEST_GC_KILL_AT: the tests' kill -9 at a given step */
	struct fs_names live;
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

/* The keys of one listing. */
struct keys {
	char **v;
	size_t n, cap;
};

static void keys_free(struct keys *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int keys_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct keys *l = arg;
	char **nv = be_grow(l->v, l->n, &l->cap, sizeof(*nv));

	if (!nv || !(nv[l->n] = strdup(key)))
		return ENOMEM;
	l->v = nv;
	l->n++;
	return 0;
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
	struct keys l = { 0 };
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
	err = be_list(c->fs->be, GC_RUNS, keys_fn, &l);
	for (size_t i = 0; i < l.n && !err; i++)
		if (strcmp(l.v[i], c->run))
			err = turn_other(c, l.v[i]);
	keys_free(&l);
	return err;
}

static int del_prefix(struct gc *c, const char *prefix)
{
	struct keys l = { 0 };
	int err = be_list(c->fs->be, prefix, keys_fn, &l);

	for (size_t i = 0; i < l.n && !err && !(err = going(c)); i++)
		err = be_del(c->fs->be, l.v[i]);
	keys_free(&l);
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

/* A live version: the packs its manifest names join the live set. */
static int live_add(struct gc *c, const struct be_key *k, uint64_t n)
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
	for (size_t p = 0; p < m.npacks && !err; p++)
		err = fs_names_add(&c->live, m.packs[p].name);
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

/* One artifact's listing keys[from, to): each version purged, or its packs live. */
static int scan_artifact(struct gc *c, char **keys, size_t from, size_t to)
{
	struct removed r = { 0 };
	struct be_key k = { 0 };
	int64_t keep = c->g->removed_grace_s * NS;
	int err = removed_read(c, keys, from, to, &r), under_art = 0;

	for (size_t i = from; i < to && !err && !(err = going(c)); i++) {
		char mark[BE_KEY_MAX];
		int64_t ns;

		if (be_key_split(keys[i], BE_KEY_VERSIONS, &k) || !k.n)
			continue; /* marks, and names that are no version (refresh logs them) */
		ns = removed_when(&r, &k, mark, sizeof(mark));
		if (ns < 0 || ns + keep >= fs_now_ns()) {
			err = live_add(c, &k, k.n);
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
	struct keys l = { 0 };
	size_t from = 0;
	int err;

	c->scan_ns = fs_now_ns();
	err = be_list(c->fs->be, BE_KEY_VERSIONS, keys_fn, &l);

	for (size_t i = 1; i <= l.n && !err; i++)
		if (i == l.n || !same_artifact(l.v[from], l.v[i])) {
			err = scan_artifact(c, l.v, from, i);
			from = i;
		}
	keys_free(&l);
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
	last->objects |= index ? 2 : 1;
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
	for (size_t i = 0; i < c->npacks && !err && !(err = going(c)); i++)
		err = pack_judge(c, &c->packs[i], &sweep);
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
	struct keys l = { 0 };
	int err = be_list(c->fs->be, GC_SWEPT, keys_fn, &l);

	for (size_t i = 0; i < l.n && !err; i++) {
		const char *t = l.v[i] + strlen(GC_SWEPT);
		uint64_t ns = 0;

		for (size_t d = 0; d < 20 && t[d] >= '0' && t[d] <= '9'; d++)
			ns = ns * 10 + (uint64_t)(t[d] - '0');
		if ((int64_t)ns + SWEPT_KEEP_S * NS < fs_now_ns() && !c->g->dry_run)
			err = be_del(c->fs->be, l.v[i]);
	}
	keys_free(&l);
	return err;
}

static void gc_free(struct gc *c)
{
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
	struct fs *fs = calloc(1, sizeof(*fs));
	int err;

	if (!fs)
		return ENOMEM;
	fs->conf = *c;
	pthread_mutex_init(&fs->lock, NULL);
	err = fs_open_store(fs, 0, 0);
	if (!err)
		err = fs_gc(fs, g);
	fs_close_store(fs);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
	return err;
}
