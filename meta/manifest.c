/* SPDX-License-Identifier: MIT */
/*
 * Version manifests: the JSON object a version is stored as (docs/manifest.md). The store
 * alone must be able to rebuild every host's index, so the manifest holds the whole tree;
 * manifests come from a shared store, so decoding treats them as hostile input and checks
 * every field. Encoding is canonical (sorted keys, compact, entries in the given order) so
 * that one version always has one digest.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "meta.h"

#define MF_FORMAT_MAX MANIFEST_FORMAT_MAX
/* Chunks of all files of a format-2 version together (what its runs expand to): about
 * 300 GiB at the 37 KiB mean chunk of 32 KiB chunking, 300 MB of chunk lists at install. */
#define MF_CHUNKS_MAX (1u << 23)
#define MF_PATH_MAX MANIFEST_PATH_MAX
#define MF_LINK_MAX 4095
#define MF_XATTR_NAME_MAX 255
#define MF_XATTR_VAL_MAX (64 * 1024)
#define MF_CHUNK_MAX (64u << 20)
#define MF_TIME_LEN 30 /* 2026-11-22T10:00:00.123456789Z */
#define MF_TIME_BUF 64 /* what snprintf could write for any int fields */

static __thread char last_why[512];

const char *manifest_why(void)
{
	return last_why;
}

__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
	char *msg = last_why;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(last_why), fmt, ap);
	va_end(ap);
	/* Paths come from the store: keep control characters out of the log. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	log_msg(LOG_ERR, "manifest: %s", msg);
	return EINVAL;
}

/* "size of \"a/b\"" for an entry's field, "version" for a top-level one (path NULL). */
static const char *label(char *buf, size_t n, const char *what, const char *path)
{
	if (!path)
		return what;
	snprintf(buf, n, "%s of \"%s\"", what, path);
	return buf;
}

/* ---- small codecs ---- */


int manifest_text_ok(const char *s, size_t n)
{
	json_t *j;

	if (memchr(s, 0, n))
		return 0;
	j = json_stringn(s, n);
	json_decref(j);
	return j != NULL;
}

/*
 * Byte strings (paths, targets, xattr values, ...): a JSON string when the bytes are UTF-8
 * without NUL, else {"hex": "..."}.
 */
static json_t *bytes_json(const void *p, size_t len)
{
	json_t *j, *o;
	char *h;

	if (!len)
		return json_string("");
	if (!memchr(p, 0, len)) {
		j = json_stringn(p, len);
		if (j)
			return j;
	}
	h = malloc(2 * len + 1);
	if (!h)
		return NULL;
	be_hex_encode(p, len, h);
	o = json_object();
	if (o && json_object_set_new(o, "hex", json_stringn_nocheck(h, 2 * len))) {
		json_decref(o);
		o = NULL;
	}
	free(h);
	return o;
}

/*
 * The inverse of bytes_json. *out is NUL-terminated (caller-frees); text refuses NUL bytes
 * so the result is a C string. max bounds the decoded length.
 */
static int json_bytes(const json_t *j, size_t max, int text, char **out, size_t *len,
		      const char *what, const char *path)
{
	char lb[MF_PATH_MAX + 64];
	const char *s, *l = label(lb, sizeof(lb), what, path);
	size_t n;
	char *b;

	*out = NULL;
	if (json_is_string(j)) {
		s = json_string_value(j);
		n = json_string_length(j);
		if (memchr(s, 0, n))
			return bad("%s contains a NUL", l);
		if (n > max)
			return bad("%s is too long", l);
		b = malloc(n + 1);
		if (!b)
			return ENOMEM;
		memcpy(b, s, n);
	} else if (json_is_object(j) && json_object_size(j) == 1 &&
		   json_is_string(json_object_get(j, "hex"))) {
		const json_t *h = json_object_get(j, "hex");

		s = json_string_value(h);
		n = json_string_length(h);
		if (n % 2 || n / 2 > max)
			return bad("%s: bad hex length", l);
		n /= 2;
		b = malloc(n + 1);
		if (!b)
			return ENOMEM;
		if (be_hex_decode(s, 2 * n, (uint8_t *)b, n)) {
			free(b);
			return bad("%s: bad hex", l);
		}
		if (text && memchr(b, 0, n)) {
			free(b);
			return bad("%s contains a NUL", l);
		}
	} else {
		return bad("%s is neither a string nor {\"hex\":...}", l);
	}
	b[n] = '\0';
	*out = b;
	if (len)
		*len = n;
	return 0;
}

static int json_int(const json_t *j, json_int_t min, json_int_t max, json_int_t *out,
		    const char *what, const char *path)
{
	char lb[MF_PATH_MAX + 64];
	const char *l = label(lb, sizeof(lb), what, path);
	json_int_t v;

	if (!json_is_integer(j))
		return bad("%s is not an integer", l);
	v = json_integer_value(j);
	if (v < min || v > max)
		return bad("%s is out of range", l);
	*out = v;
	return 0;
}

static void time_format(int64_t ns, char out[MF_TIME_BUF])
{
	int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
	struct tm tm;
	time_t t;

	if (nsec < 0) {
		nsec += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	gmtime_r(&t, &tm);
	snprintf(out, MF_TIME_BUF, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)nsec);
}

/* Reads n decimal digits. */
static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Exactly the form time_format() writes; anything else is refused. */
static int time_parse(const char *s, size_t len, int64_t *ns)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, se, frac, leap;
	struct tm tm = { 0 };
	int64_t secs;

	if (len != MF_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != '.' || s[29] != 'Z')
		return EINVAL;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se) ||
	    digits(s + 20, 9, &frac))
		return EINVAL;
	if (mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59 || d < 1)
		return EINVAL;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] + (mo == 2 && leap))
		return EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	secs = (int64_t)timegm(&tm);
	if (__builtin_mul_overflow(secs, (int64_t)1000000000, ns) ||
	    __builtin_add_overflow(*ns, (int64_t)frac, ns))
		return EINVAL;
	return 0;
}

/* ---- semantic checks, shared by encode (our own bugs) and decode (hostile input) ---- */

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > META_PA_MAX || s[0] == '.' || s[0] == '@')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Relative, no empty, "." or ".." components, none longer than NAME_MAX; "" is the root. */
static int path_ok(const char *p)
{
	size_t n = strlen(p);
	const char *c = p, *slash;

	if (n > MF_PATH_MAX)
		return 0;
	if (!n)
		return 1;
	/* The top level of an artifact reserves names starting with '@' (DESIGN.md 1). */
	if (p[0] == '@')
		return 0;
	for (;;) {
		size_t cl;

		slash = strchr(c, '/');
		cl = slash ? (size_t)(slash - c) : strlen(c);
		if (!cl || cl > META_NAME_MAX || (cl == 1 && c[0] == '.') ||
		    (cl == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (!slash)
			return 1;
		c = slash + 1;
	}
}

/* Which names a list may hold: a version's attrs are its labels and metrics; an entry's
 * xattrs are the user's own names (the artifs names are computed or kept elsewhere, and the
 * root's labels and metrics belong to the artifact and the version). */
enum xa_where { XW_ATTRS, XW_ROOT, XW_ENTRY };

static int xattr_name_ok(const char *name, enum xa_where where)
{
	int label = strncmp(name, "user.label.", 11) == 0 && name[11];
	int metric = strncmp(name, "user.metric.", 12) == 0 && name[12];

	if (where == XW_ATTRS)
		return label || metric;
	if (strncmp(name, "user.", 5) != 0 || !name[5] || strncmp(name, "user.artifs.", 12) == 0)
		return 0;
	return where == XW_ENTRY || !(strncmp(name, "user.label.", 11) == 0 ||
				      strncmp(name, "user.metric.", 12) == 0);
}

static int xattrs_ok(const struct manifest_xattr *x, size_t n, enum xa_where where,
		     const char *what, const char *path)
{
	char lb[MF_PATH_MAX + 64];
	const char *l = label(lb, sizeof(lb), what, path);

	for (size_t i = 0; i < n; i++) {
		size_t nl = x[i].name ? strlen(x[i].name) : 0;

		if (!nl || nl > MF_XATTR_NAME_MAX)
			return bad("%s: a name is empty or too long", l);
		if (!manifest_text_ok(x[i].name, nl))
			return bad("%s: a name is not UTF-8", l);
		if (!xattr_name_ok(x[i].name, where))
			return bad("%s: %s is not allowed there", l, x[i].name);
		if (x[i].len > MF_XATTR_VAL_MAX)
			return bad("%s %s is longer than 64 KiB", l, x[i].name);
		if (x[i].len && !x[i].val)
			return bad("%s %s has no value", l, x[i].name);
	}
	return 0;
}

/*
 * The one order of entries (docs/manifest.md): paths compared component by component, each
 * component by its bytes (unsigned), a component before every longer one it begins. That is
 * byte order with '/' below every other byte, and it is the order of a depth-first walk that
 * visits siblings in byte order: "model" < "model/a" < "model.pkl".
 */
int manifest_path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++) {
		unsigned ca = (unsigned char)a[i], cb = (unsigned char)b[i];

		if (ca == cb)
			continue;
		if (ca == '/')
			return -1;
		if (cb == '/')
			return 1;
		return ca < cb ? -1 : 1;
	}
	return alen < blen ? -1 : alen > blen;
}

/* Index of the entry at path p[0..plen) in the first n (sorted) entries, or n. */
static size_t entry_find(const struct manifest_entry *e, size_t n, const char *p, size_t plen)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = manifest_path_cmp(p, plen, e[mid].path, strlen(e[mid].path));

		if (!r)
			return mid;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return n;
}

size_t manifest_parent(const struct manifest *m, size_t i)
{
	const char *p = m->entries[i].path, *slash = strrchr(p, '/');

	if (!i)
		return m->nentries;
	return entry_find(m->entries, i, p, slash ? (size_t)(slash - p) : 0);
}

/* Is entries[0..n) (sorted) holding a directory at path p[0..plen)? */
static int parent_is_dir(const struct manifest_entry *e, size_t n, const char *p, size_t plen)
{
	size_t k = entry_find(e, n, p, plen);

	return k < n && S_ISDIR(e[k].mode);
}

static int entry_ok(const struct manifest_entry *all, size_t i)
{
	const struct manifest_entry *e = &all[i];
	const char *p = e->path, *slash;
	uint64_t sum = 0;

	if (!p)
		return bad("entry %zu has no path", i);
	if (!path_ok(p))
		return bad("bad path \"%s\"", p);
	if (e->mode & ~(uint32_t)(S_IFMT | 07777))
		return bad("bad mode %#" PRIo32 " of \"%s\"", e->mode, p);
	if (!i) {
		if (*p || !S_ISDIR(e->mode))
			return bad("the first entry must be the root directory \"\"");
	} else {
		if (!*p)
			return bad("the root \"\" appears twice");
		if (manifest_path_cmp(all[i - 1].path, strlen(all[i - 1].path), p, strlen(p)) >= 0)
			return bad("entries not in path order at \"%s\" (docs/manifest.md)", p);
		slash = strrchr(p, '/');
		if (!parent_is_dir(all, i, p, slash ? (size_t)(slash - p) : 0))
			return bad("parent of \"%s\" is not a directory listed before it", p);
	}
	switch (e->mode & S_IFMT) {
	case S_IFDIR:
		if (e->target || e->nchunks || e->nruns)
			return bad("directory \"%s\" has a target or chunks", p);
		break;
	case S_IFLNK:
		if (!e->target || !*e->target || strlen(e->target) > MF_LINK_MAX)
			return bad("symlink \"%s\" has no valid target", p);
		if (e->nchunks || e->nruns)
			return bad("symlink \"%s\" has chunks", p);
		break;
	case S_IFREG:
		if (e->target)
			return bad("file \"%s\" has a target", p);
		if ((e->nchunks && !e->chunks) || (e->nruns && !e->runs))
			return bad("file \"%s\" lacks its chunk list", p);
		if (e->size > INT64_MAX)
			return bad("file \"%s\" is too large", p);
		for (size_t c = 0; c < e->nchunks; c++) {
			if (!e->chunks[c].len || e->chunks[c].len > MF_CHUNK_MAX)
				return bad("chunk %zu of \"%s\" has a bad length", c, p);
			sum += e->chunks[c].len;
			if (sum > e->size)
				break;
		}
		if ((e->nchunks || !e->nruns) && sum != e->size)
			return bad("size of \"%s\" is not the sum of its chunks", p);
		break;
	default:
		return bad("\"%s\" is neither a file, a directory nor a symlink", p);
	}
	if (e->nxattrs && !e->xattrs)
		return bad("\"%s\" lacks its xattrs", p);
	return xattrs_ok(e->xattrs, e->nxattrs, i ? XW_ENTRY : XW_ROOT, "xattrs", p);
}

/* A format-2 file's runs: each names a listed pack and frames an index can hold, and the
 * frames (a chunk of 1 to MF_CHUNK_MAX bytes each) can add up to its size. *frames grows by
 * the file's chunk count. */
static int runs_ok(const struct manifest *m, const struct manifest_entry *e, uint64_t *frames)
{
	uint64_t n = 0;

	if (m->format < 2 && e->nruns)
		return bad("file \"%s\" lists runs in a format-1 manifest", e->path);
	if (m->format >= 2 && e->nchunks && !e->nruns)
		return bad("file \"%s\" lists chunks in a format-2 manifest", e->path);
	for (size_t r = 0; r < e->nruns; r++) {
		const struct manifest_run *run = &e->runs[r];

		if (run->pack >= m->npacks || !run->n || run->first >= PACK_INDEX_MAX ||
		    run->n > PACK_INDEX_MAX - run->first)
			return bad("run %zu of \"%s\" names no listed pack or impossible frames", r,
				   e->path);
		n += run->n;
	}
	if (e->nchunks && n && n != e->nchunks)
		return bad("runs of \"%s\" do not match its chunks", e->path);
	if (e->nruns && (n > e->size || e->size > n * (uint64_t)MF_CHUNK_MAX))
		return bad("size of \"%s\" cannot be what its runs hold", e->path);
	*frames += n;
	if (*frames > MF_CHUNKS_MAX)
		return bad("more than %u chunks in all", MF_CHUNKS_MAX);
	return 0;
}

static int packs_ok(const struct manifest *m)
{
	uint64_t units = 0, frames = 0;
	int rc;

	for (size_t i = 0; i < m->nentries; i++) {
		rc = runs_ok(m, &m->entries[i], &frames);
		if (rc)
			return rc;
		units += m->format >= 2 ? m->entries[i].nruns : m->entries[i].nchunks;
	}
	if (m->npacks && !m->packs)
		return bad("packs missing");
	if (m->npacks > units)
		return bad("more packs than %s", m->format >= 2 ? "runs" : "chunks");
	for (size_t i = 1; i < m->npacks; i++)
		if (memcmp(m->packs[i - 1].name, m->packs[i].name, PACK_NAME_LEN) >= 0)
			return bad("packs are not in ascending order without duplicates");
	return 0;
}

static int manifest_check(const struct manifest *m)
{
	int rc;

	if (!m->project || !name_ok(m->project))
		return bad("bad project name");
	if (!m->artifact || !name_ok(m->artifact))
		return bad("bad artifact name");
	if (m->version < 1 || m->version > META_VERSION_MAX)
		return bad("bad version number");
	if (m->format > MF_FORMAT_MAX)
		return bad("no manifest format %u", m->format);
	if (m->nattrs && !m->attrs)
		return bad("attrs missing");
	rc = xattrs_ok(m->attrs, m->nattrs, XW_ATTRS, "attrs", NULL);
	if (rc)
		return rc;
	if (!m->nentries || !m->entries)
		return bad("no entries (the root is required)");
	for (size_t i = 0; i < m->nentries; i++) {
		rc = entry_ok(m->entries, i);
		if (rc)
			return rc;
	}
	return packs_ok(m);
}

/* ---- encoding ---- */

static json_t *packs_json(const struct manifest *m)
{
	json_t *a = json_array(), *p;
	char hex[2 * PACK_NAME_LEN + 1], dhex[CHUNK_HEX_LEN + 1];

	for (size_t i = 0; a && i < m->npacks; i++) {
		be_hex_encode(m->packs[i].name, PACK_NAME_LEN, hex);
		be_hex_encode(m->packs[i].digest, CHUNK_ID_LEN, dhex);
		p = m->format >= 2 ? json_pack("[ss]", hex, dhex) : json_string(hex);
		if (!p || json_array_append_new(a, p)) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* Steals v (json_object_set_new does, even when it fails). */
static int set(json_t *o, const char *key, json_t *v)
{
	if (!v)
		return ENOMEM;
	return json_object_set_new(o, key, v) ? ENOMEM : 0;
}

static json_t *xattrs_json(const struct manifest_xattr *x, size_t n, int *rc)
{
	json_t *o = json_object();

	*rc = ENOMEM;
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!manifest_text_ok(x[i].name, strlen(x[i].name))) {
			*rc = bad("xattr name is not UTF-8");
			goto fail;
		}
		if (json_object_get(o, x[i].name)) {
			*rc = bad("xattr %s appears twice", x[i].name);
			goto fail;
		}
		*rc = set(o, x[i].name, bytes_json(x[i].val, x[i].len));
		if (*rc)
			goto fail;
	}
	*rc = 0;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *entry_json(const struct manifest_entry *e, unsigned m_format, int *rc)
{
	char hex[CHUNK_HEX_LEN + 1];
	json_t *o = json_object(), *a, *pair;

	*rc = ENOMEM;
	if (!o)
		return NULL;
	*rc = set(o, "path", bytes_json(e->path, strlen(e->path)));
	if (!*rc)
		*rc = set(o, "mode", json_integer(e->mode));
	if (!*rc)
		*rc = set(o, "mtime", json_integer(e->mtime_ns));
	if (*rc)
		goto fail;
	if (S_ISLNK(e->mode)) {
		*rc = set(o, "target", bytes_json(e->target, strlen(e->target)));
		if (*rc)
			goto fail;
	}
	if (S_ISREG(e->mode)) {
		be_hex_encode(e->digest, 32, hex);
		a = json_array();
		*rc = set(o, m_format >= 2 ? "runs" : "chunks", a);
		if (!*rc)
			*rc = set(o, "size", json_integer((json_int_t)e->size));
		if (!*rc)
			*rc = set(o, "sha256", json_string(hex));
		if (*rc)
			goto fail;
		for (size_t i = 0; i < e->nruns && m_format >= 2; i++) {
			pair = json_pack("[III]", (json_int_t)e->runs[i].pack,
					 (json_int_t)e->runs[i].first, (json_int_t)e->runs[i].n);
			if (!pair || json_array_append_new(a, pair)) {
				*rc = ENOMEM;
				goto fail;
			}
		}
		for (size_t i = 0; i < e->nchunks && m_format < 2; i++) {
			be_hex_encode(e->chunks[i].id, CHUNK_ID_LEN, hex);
			pair = json_pack("[sI]", hex, (json_int_t)e->chunks[i].len);
			if (!pair || json_array_append_new(a, pair)) {
				*rc = ENOMEM;
				goto fail;
			}
		}
	}
	if (e->nxattrs) {
		json_t *x = xattrs_json(e->xattrs, e->nxattrs, rc);

		if (!x)
			goto fail;
		*rc = set(o, "xattrs", x);
		if (*rc)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* The producer is JSON text: embedded as an object when it is one, else kept as a string. */
static json_t *producer_json(const char *p)
{
	json_t *j = json_loads(p, JSON_REJECT_DUPLICATES, NULL);

	if (j && json_is_object(j))
		return j;
	json_decref(j);
	return bytes_json(p, strlen(p));
}

static json_t *inputs_json(const char *s)
{
	json_t *a = json_array();

	while (a && *s) {
		const char *nl = strchrnul(s, '\n');

		if (nl > s && json_array_append_new(a, bytes_json(s, nl - s))) {
			json_decref(a);
			return NULL;
		}
		s = *nl ? nl + 1 : nl;
	}
	return a;
}

int manifest_encode(const struct manifest *m, char **out, size_t *len)
{
	char created[MF_TIME_BUF];
	json_t *root, *entries, *x;
	int rc;

	*out = NULL;
	*len = 0;
	last_why[0] = '\0';
	rc = manifest_check(m);
	if (rc)
		return rc;
	root = json_object();
	if (!root)
		return ENOMEM;
	time_format(m->created_ns, created);
	rc = set(root, "artifs_manifest", json_integer(m->format >= 2 ? 2 : 1));
	if (!rc)
		rc = set(root, "project", json_string(m->project));
	if (!rc)
		rc = set(root, "artifact", json_string(m->artifact));
	if (!rc)
		rc = set(root, "version", json_integer((json_int_t)m->version));
	if (!rc)
		rc = set(root, "created", json_string(created));
	if (!rc && m->message)
		rc = set(root, "message", bytes_json(m->message, strlen(m->message)));
	if (!rc && m->producer)
		rc = set(root, "producer", producer_json(m->producer));
	if (!rc && m->inputs)
		rc = set(root, "inputs", inputs_json(m->inputs));
	if (!rc && m->captured)
		rc = set(root, "captured", inputs_json(m->captured));
	if (rc)
		goto out;
	x = xattrs_json(m->attrs, m->nattrs, &rc);
	if (!x)
		goto out;
	rc = set(root, "attrs", x);
	if (!rc && m->npacks)
		rc = set(root, "packs", packs_json(m));
	entries = json_array();
	if (!rc)
		rc = set(root, "entries", entries);
	else
		json_decref(entries);
	for (size_t i = 0; !rc && i < m->nentries; i++) {
		json_t *e = entry_json(&m->entries[i], m->format, &rc);

		if (e && json_array_append_new(entries, e))
			rc = ENOMEM;
	}
	if (rc)
		goto out;
	*out = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
	if (!*out) {
		rc = ENOMEM;
		goto out;
	}
	*len = strlen(*out);
out:
	json_decref(root);
	return rc;
}

/* ---- decoding ---- */

static int json_packs(const json_t *j, struct manifest *m)
{
	if (!json_is_array(j) || !json_array_size(j))
		return bad("packs is not a non-empty array");
	m->packs = calloc(json_array_size(j), sizeof(*m->packs));
	if (!m->packs)
		return ENOMEM;
	m->npacks = json_array_size(j);
	for (size_t i = 0; i < m->npacks; i++) {
		const json_t *h = json_array_get(j, i), *d = NULL;

		if (m->format >= 2) {
			if (!json_is_array(h) || json_array_size(h) != 2)
				return bad("packs[%zu] is not [name, index digest]", i);
			d = json_array_get(h, 1);
			h = json_array_get(h, 0);
			if (!json_is_string(d) ||
			    be_hex_decode(json_string_value(d), json_string_length(d),
					  m->packs[i].digest, CHUNK_ID_LEN))
				return bad("packs[%zu] has a bad index digest", i);
		}
		if (!json_is_string(h) || be_hex_decode(json_string_value(h), json_string_length(h),
						     m->packs[i].name, PACK_NAME_LEN))
			return bad("packs[%zu] is not %d lowercase hex digits", i, 2 * PACK_NAME_LEN);
	}
	return 0;
}

/* Format 2: [[pack, first frame, frames], ...]. */
static int json_runs(const json_t *a, struct manifest_entry *e)
{
	size_t n;

	if (!json_is_array(a))
		return bad("runs of \"%s\" are not an array", e->path);
	n = json_array_size(a);
	if (!n)
		return 0;
	e->runs = calloc(n, sizeof(*e->runs));
	if (!e->runs)
		return ENOMEM;
	e->nruns = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *r = json_array_get(a, i);
		json_int_t v[3];
		int rc = 0;

		if (!json_is_array(r) || json_array_size(r) != 3)
			return bad("run %zu of \"%s\" is not [pack, first, count]", i, e->path);
		for (int k = 0; k < 3 && !rc; k++)
			rc = json_int(json_array_get(r, k), k == 2, UINT32_MAX, &v[k], "run", e->path);
		if (rc)
			return rc;
		e->runs[i] = (struct manifest_run){ (uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2] };
	}
	return 0;
}

static int cmp_xattr(const void *a, const void *b)
{
	return strcmp(((const struct manifest_xattr *)a)->name,
		      ((const struct manifest_xattr *)b)->name);
}

static int json_xattrs(const json_t *o, struct manifest_xattr **out, size_t *nout,
		       const char *what, const char *path)
{
	char lb[MF_PATH_MAX + 64];
	const char *key, *l = label(lb, sizeof(lb), what, path);
	struct manifest_xattr *x;
	json_t *v;
	size_t n = 0;
	int rc;

	if (!json_is_object(o))
		return bad("%s are not an object", l);
	if (!json_object_size(o))
		return 0;
	x = calloc(json_object_size(o), sizeof(*x));
	if (!x)
		return ENOMEM;
	*out = x;
	json_object_foreach((json_t *)o, key, v) {
		size_t kl = json_object_iter_key_len(json_object_key_to_iter(key));

		if (!kl || kl > MF_XATTR_NAME_MAX || strlen(key) != kl)
			return bad("%s: a name is empty, too long or has a NUL", l);
		char *val;

		x[n].name = strdup(key);
		if (!x[n].name)
			return ENOMEM;
		*nout = ++n;
		rc = json_bytes(v, MF_XATTR_VAL_MAX, 0, &val, &x[n - 1].len, key, path);
		if (rc)
			return rc;
		x[n - 1].val = val;
	}
	qsort(x, n, sizeof(*x), cmp_xattr);
	return 0;
}

static int json_chunks(const json_t *a, struct manifest_entry *e)
{
	size_t n;

	if (!json_is_array(a))
		return bad("chunks of \"%s\" are not an array", e->path);
	n = json_array_size(a);
	if (!n)
		return 0;
	e->chunks = calloc(n, sizeof(*e->chunks));
	if (!e->chunks)
		return ENOMEM;
	e->nchunks = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *pair = json_array_get(a, i), *id, *len;
		json_int_t l;
		int rc;

		if (!json_is_array(pair) || json_array_size(pair) != 2)
			return bad("chunk %zu of \"%s\" is not [id, length]", i, e->path);
		id = json_array_get(pair, 0);
		len = json_array_get(pair, 1);
		if (!json_is_string(id) || be_hex_decode(json_string_value(id), json_string_length(id),
						      e->chunks[i].id, CHUNK_ID_LEN))
			return bad("chunk %zu of \"%s\" has a bad id", i, e->path);
		rc = json_int(len, 1, MF_CHUNK_MAX, &l, "chunk length", e->path);
		if (rc)
			return rc;
		e->chunks[i].len = (uint32_t)l;
	}
	return 0;
}

static int json_entry(const json_t *o, size_t i, unsigned format, struct manifest_entry *e)
{
	const json_t *j;
	size_t known = 3;
	json_int_t v;
	int rc;

	if (!json_is_object(o))
		return bad("entry %zu is not an object", i);
	j = json_object_get(o, "path");
	if (!j)
		return bad("entry %zu has no path", i);
	rc = json_bytes(j, MF_PATH_MAX, 1, &e->path, NULL, "path", NULL);
	if (rc)
		return rc;
	rc = json_int(json_object_get(o, "mode"), 0, UINT32_MAX, &v, "mode", e->path);
	if (rc)
		return rc;
	e->mode = (uint32_t)v;
	rc = json_int(json_object_get(o, "mtime"), INT64_MIN, INT64_MAX, &v, "mtime", e->path);
	if (rc)
		return rc;
	e->mtime_ns = v;
	switch (e->mode & S_IFMT) {
	case S_IFREG:
		rc = json_int(json_object_get(o, "size"), 0, INT64_MAX, &v, "size", e->path);
		if (rc)
			return rc;
		e->size = (uint64_t)v;
		j = json_object_get(o, "sha256");
		if (!json_is_string(j) ||
		    be_hex_decode(json_string_value(j), json_string_length(j), e->digest, 32))
			return bad("sha256 of \"%s\" is missing or not 64 hex digits", e->path);
		rc = format >= 2 ? json_runs(json_object_get(o, "runs"), e)
				 : json_chunks(json_object_get(o, "chunks"), e);
		if (rc)
			return rc;
		known += 3;
		break;
	case S_IFLNK:
		j = json_object_get(o, "target");
		if (!j)
			return bad("symlink \"%s\" has no target", e->path);
		rc = json_bytes(j, MF_LINK_MAX, 1, &e->target, &e->size, "target", e->path);
		if (rc)
			return rc;
		known++;
		break;
	case S_IFDIR:
		break;
	default:
		return bad("\"%s\" is neither a file, a directory nor a symlink", e->path);
	}
	j = json_object_get(o, "xattrs");
	if (j) {
		rc = json_xattrs(j, &e->xattrs, &e->nxattrs, "xattrs", e->path);
		if (rc)
			return rc;
		known++;
	}
	if (json_object_size(o) != known)
		return bad("entry \"%s\" has unknown or misplaced keys", e->path);
	return 0;
}

/* Joins the URIs with newlines; each one is a byte string like any other text field. */
static int json_inputs(const json_t *a, char **out)
{
	size_t total = 0, l, n;
	char *s = NULL, *v, *grown;
	int rc;

	if (!json_is_array(a))
		return bad("inputs are not an array");
	n = json_array_size(a);
	for (size_t i = 0; i < n; i++) {
		rc = json_bytes(json_array_get(a, i), SIZE_MAX / 4, 1, &v, &l, "input", NULL);
		if (rc)
			goto fail;
		if (!l || memchr(v, '\n', l)) {
			free(v);
			rc = bad("input %zu is empty or holds a newline", i);
			goto fail;
		}
		grown = realloc(s, total + l + 2);
		if (!grown) {
			free(v);
			rc = ENOMEM;
			goto fail;
		}
		s = grown;
		if (i)
			s[total++] = '\n';
		memcpy(s + total, v, l);
		total += l;
		free(v);
	}
	if (!s && !(s = malloc(1)))
		return ENOMEM;
	s[total] = '\0';
	*out = s;
	return 0;
fail:
	free(s);
	return rc;
}

/* A required string field (a project or artifact name: checked later). */
static int json_name(const json_t *root, const char *key, char **out)
{
	const json_t *j = json_object_get(root, key);

	if (!json_is_string(j))
		return bad("%s is missing or not a string", key);
	*out = strdup(json_string_value(j));
	return *out ? 0 : ENOMEM;
}

static int json_top(const json_t *root, struct manifest *m)
{
	const json_t *j, *entries;
	size_t known = 6;
	json_int_t v;
	int rc;

	if (!json_is_object(root))
		return bad("not a JSON object");
	j = json_object_get(root, "artifs_manifest");
	if (!json_is_integer(j) || json_integer_value(j) < 1 ||
	    json_integer_value(j) > MF_FORMAT_MAX)
		return bad("not an artifs manifest of format 1 to %d", MF_FORMAT_MAX);
	m->format = (unsigned)json_integer_value(j);
	rc = json_name(root, "project", &m->project);
	if (!rc)
		rc = json_name(root, "artifact", &m->artifact);
	if (rc)
		return rc;
	rc = json_int(json_object_get(root, "version"), 1, (json_int_t)META_VERSION_MAX, &v,
		      "version", NULL);
	if (rc)
		return rc;
	m->version = (uint64_t)v;
	j = json_object_get(root, "created");
	if (!json_is_string(j) ||
	    time_parse(json_string_value(j), json_string_length(j), &m->created_ns))
		return bad("created is not an RFC 3339 UTC time with nanoseconds");
	j = json_object_get(root, "message");
	if (j) {
		rc = json_bytes(j, SIZE_MAX / 2, 1, &m->message, NULL, "message", NULL);
		if (rc)
			return rc;
		known++;
	}
	j = json_object_get(root, "producer");
	if (j) {
		if (json_is_object(j)) {
			m->producer = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
			if (!m->producer)
				return ENOMEM;
		} else {
			rc = json_bytes(j, SIZE_MAX / 2, 1, &m->producer, NULL, "producer", NULL);
			if (rc)
				return rc;
		}
		known++;
	}
	j = json_object_get(root, "inputs");
	if (j) {
		rc = json_inputs(j, &m->inputs);
		if (rc)
			return rc;
		known++;
	}
	j = json_object_get(root, "captured");
	if (j) {
		rc = json_inputs(j, &m->captured);
		if (rc)
			return rc;
		known++;
	}
	j = json_object_get(root, "attrs");
	if (j) {
		rc = json_xattrs(j, &m->attrs, &m->nattrs, "attrs", NULL);
		if (rc)
			return rc;
		known++;
	}
	j = json_object_get(root, "packs");
	if (j) {
		rc = json_packs(j, m);
		if (rc)
			return rc;
		known++;
	}
	entries = json_object_get(root, "entries");
	if (!json_is_array(entries) || !json_array_size(entries))
		return bad("entries missing or empty");
	m->entries = calloc(json_array_size(entries), sizeof(*m->entries));
	if (!m->entries)
		return ENOMEM;
	m->nentries = json_array_size(entries);
	for (size_t i = 0; i < m->nentries; i++) {
		rc = json_entry(json_array_get(entries, i), i, m->format, &m->entries[i]);
		if (rc)
			return rc;
	}
	if (json_object_size(root) != known)
		return bad("unknown keys at the top level");
	return 0;
}

int manifest_decode(const char *buf, size_t len, struct manifest *m)
{
	json_error_t err;
	json_t *root;
	int rc;

	memset(m, 0, sizeof(*m));
	last_why[0] = '\0';
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return bad("not valid JSON: %s at line %d column %d", err.text, err.line,
			   err.column);
	rc = json_top(root, m);
	if (!rc)
		rc = manifest_check(m);
	json_decref(root);
	if (rc)
		manifest_release(m);
	return rc;
}

static void xattrs_free(struct manifest_xattr *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(x[i].name);
		free(x[i].val);
	}
	free(x);
}

void manifest_release(struct manifest *m)
{
	if (!m)
		return;
	free(m->project);
	free(m->artifact);
	free(m->message);
	free(m->producer);
	free(m->inputs);
	free(m->captured);
	xattrs_free(m->attrs, m->nattrs);
	for (size_t i = 0; i < m->nentries; i++) {
		struct manifest_entry *e = &m->entries[i];

		free(e->path);
		free(e->target);
		free(e->chunks);
		free(e->runs);
		xattrs_free(e->xattrs, e->nxattrs);
	}
	free(m->entries);
	free(m->packs);
	memset(m, 0, sizeof(*m));
}

/* ---- tree digest ---- */

static void h_bytes(EVP_MD_CTX *c, const void *p, size_t n)
{
	EVP_DigestUpdate(c, p, n);
}

static void h_u64(EVP_MD_CTX *c, uint64_t v)
{
	uint8_t b[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
	h_bytes(c, b, 8);
}

/* Length-prefixed, so that no two field sequences hash the same bytes. */
static void h_str(EVP_MD_CTX *c, const void *p, size_t n)
{
	h_u64(c, n);
	if (n)
		h_bytes(c, p, n);
}

/* Xattrs by name whatever the order in the struct (decode sorts; callers may not). */
static void h_xattrs(EVP_MD_CTX *c, const struct manifest_xattr *x, size_t n)
{
	const char *prev = NULL;
	size_t i, sorted = 1;

	h_u64(c, n);
	for (i = 1; i < n && sorted; i++)
		sorted = strcmp(x[i - 1].name, x[i].name) < 0;
	for (size_t k = 0; k < n; k++) {
		size_t best = k;

		if (!sorted) {
			best = n;
			for (i = 0; i < n; i++)
				if ((!prev || strcmp(x[i].name, prev) > 0) &&
				    (best == n || strcmp(x[i].name, x[best].name) < 0))
					best = i;
			if (best == n)
				break; /* duplicate names: hashed once */
			prev = x[best].name;
		}
		h_str(c, x[best].name, strlen(x[best].name));
		h_str(c, x[best].val, x[best].len);
	}
}

void manifest_tree_digest(const struct manifest *m, uint8_t out[32])
{
	static const char tag[] = "artifs-tree-1";
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		/* A wrong digest could silently drop a commit; there is no error to return. */
		log_msg(LOG_CRIT, "manifest: cannot set up SHA-256");
		abort();
	}
	h_bytes(c, tag, sizeof(tag));
	h_u64(c, m->nentries);
	for (size_t i = 0; i < m->nentries; i++) {
		const struct manifest_entry *e = &m->entries[i];

		h_str(c, e->path, strlen(e->path));
		h_u64(c, e->mode);
		h_u64(c, (uint64_t)e->mtime_ns);
		if (S_ISREG(e->mode)) {
			h_u64(c, e->size);
			h_bytes(c, e->digest, 32);
		} else if (S_ISLNK(e->mode)) {
			h_str(c, e->target, e->target ? strlen(e->target) : 0);
		}
		h_xattrs(c, e->xattrs, e->nxattrs);
	}
	EVP_DigestFinal_ex(c, out, NULL);
	EVP_MD_CTX_free(c);
}
