/* SPDX-License-Identifier: MIT */
/* meta/manifest.c: canonical encoding, strict decoding of hostile input, tree digests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <criterion/criterion.h>

#include "../../meta/meta.h"

static const uint8_t binval[] = { 0x00, 0x01, 0xff, 0x00 };

static void quiet(void)
{
	/* The decoder logs one line per rejection; thousands of them are noise here. */
	cr_assert_not_null(freopen("/dev/null", "w", stderr));
}

static int64_t created_ns(void)
{
	struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 22, .tm_hour = 10 };

	return (int64_t)timegm(&tm) * 1000000000 + 123456789;
}

static char *dup(const char *s)
{
	char *d = strdup(s);

	cr_assert_not_null(d);
	return d;
}

static void *dupmem(const void *p, size_t n)
{
	void *d = malloc(n ? n : 1);

	cr_assert_not_null(d);
	memcpy(d, p, n);
	return d;
}

static struct manifest_xattr xattr(const char *name, const void *val, size_t len)
{
	return (struct manifest_xattr){ .name = dup(name), .val = dupmem(val, len), .len = len };
}

static void add_file(struct manifest_entry *e, const char *path, const uint32_t *lens, size_t n)
{
	e->path = dup(path);
	e->mode = 0100644;
	e->mtime_ns = 1700000000123456789LL;
	e->nchunks = n;
	e->chunks = n ? calloc(n, sizeof(*e->chunks)) : NULL;
	e->size = 0;
	for (size_t i = 0; i < n; i++) {
		memset(e->chunks[i].id, 0x11 * (int)(i + 1), CHUNK_ID_LEN);
		e->chunks[i].len = lens[i];
		e->size += lens[i];
	}
	memset(e->digest, 0xab, sizeof(e->digest));
}

static void add_dir(struct manifest_entry *e, const char *path)
{
	e->path = dup(path);
	e->mode = 040755;
	e->mtime_ns = 1700000000000000000LL;
}

/* "", "a.txt", "d", "d/e", "d/e/f.bin", "l" -> a.txt: parents first, sorted by path. */
static void sample(struct manifest *m)
{
	static const uint32_t lens[] = { 1 << 20, 12345 };
	struct manifest_entry *e;

	memset(m, 0, sizeof(*m));
	m->project = dup("proj");
	m->artifact = dup("model-1.x_y");
	m->version = 3;
	m->created_ns = created_ns();
	m->message = dup("first \"real\" model\nwith ünïcode");
	m->producer = dup("{\"cmd\":[\"python\",\"train.py\"],\"pid\":42,\"user\":\"ann\"}");
	m->inputs = dup("artifs://p/a@v1\nartifs://q/b@v2\n");
	m->nattrs = 2;
	m->attrs = calloc(2, sizeof(*m->attrs));
	m->attrs[0] = xattr("user.label.stage", "prod", 4);
	m->attrs[1] = xattr("user.metric.acc", "0.93", 4);
	m->nentries = 6;
	m->entries = e = calloc(6, sizeof(*e));
	add_dir(&e[0], "");
	e[0].nxattrs = 2;
	e[0].xattrs = calloc(2, sizeof(*e[0].xattrs));
	e[0].xattrs[0] = xattr("user.bin", binval, sizeof(binval));
	e[0].xattrs[1] = xattr("user.text", "hello", 5);
	add_file(&e[1], "a.txt", lens, 2);
	add_dir(&e[2], "d");
	add_dir(&e[3], "d/e");
	add_file(&e[4], "d/e/f.bin", NULL, 0);
	e[4].mode = 0100600;
	e[5].path = dup("l");
	e[5].mode = 0120777;
	e[5].mtime_ns = -1;
	e[5].target = dup("a.txt");
	e[5].size = 5;
}

static char *encode(const struct manifest *m, size_t *len)
{
	char *out;
	size_t l;

	cr_assert_eq(manifest_encode(m, &out, &l), 0);
	cr_assert_eq(strlen(out), l);
	if (len)
		*len = l;
	return out;
}

static void same_xattrs(const struct manifest_xattr *a, size_t na,
			const struct manifest_xattr *b, size_t nb)
{
	cr_assert_eq(na, nb);
	for (size_t i = 0; i < na; i++) {
		cr_assert_str_eq(a[i].name, b[i].name);
		cr_assert_eq(a[i].len, b[i].len);
		cr_assert_eq(memcmp(a[i].val, b[i].val, a[i].len), 0);
	}
}

static void same_str(const char *a, const char *b)
{
	if (!a || !b)
		cr_assert_eq(a, b);
	else
		cr_assert_str_eq(a, b);
}

Test(manifest, round_trip)
{
	struct manifest m, d;
	char *buf, *again;
	size_t len, len2;

	sample(&m);
	buf = encode(&m, &len);
	cr_assert_eq(manifest_decode(buf, len, &d), 0, "%s", buf);
	cr_assert_str_eq(d.project, m.project);
	cr_assert_str_eq(d.artifact, m.artifact);
	cr_assert_eq(d.version, 3);
	cr_assert_eq(d.created_ns, m.created_ns);
	cr_assert_str_eq(d.message, m.message);
	cr_assert_str_eq(d.producer, m.producer);
	/* One URI per line; the trailing newline is not kept. */
	cr_assert_str_eq(d.inputs, "artifs://p/a@v1\nartifs://q/b@v2");
	same_xattrs(d.attrs, d.nattrs, m.attrs, m.nattrs);
	cr_assert_eq(d.nentries, m.nentries);
	for (size_t i = 0; i < m.nentries; i++) {
		struct manifest_entry *a = &m.entries[i], *b = &d.entries[i];

		cr_assert_str_eq(b->path, a->path);
		cr_assert_eq(b->mode, a->mode);
		cr_assert_eq(b->size, a->size, "%s", a->path);
		cr_assert_eq(b->mtime_ns, a->mtime_ns);
		same_str(b->target, a->target);
		cr_assert_eq(memcmp(b->digest, S_ISREG(a->mode) ? a->digest : b->digest, 32), 0);
		cr_assert_eq(b->nchunks, a->nchunks);
		if (a->nchunks)
			cr_assert_eq(memcmp(b->chunks, a->chunks, a->nchunks * sizeof(*a->chunks)),
				     0);
		same_xattrs(b->xattrs, b->nxattrs, a->xattrs, a->nxattrs);
	}
	/* Decoding then encoding gives back the same bytes. */
	again = encode(&d, &len2);
	cr_assert_eq(len2, len);
	cr_assert_str_eq(again, buf);
	free(again);
	free(buf);
	manifest_release(&d);
	manifest_release(&m);
}

Test(manifest, canonical_shape)
{
	struct manifest m;
	char *a, *b;

	sample(&m);
	a = encode(&m, NULL);
	b = encode(&m, NULL);
	cr_assert_str_eq(a, b);
	cr_assert(strstr(a, "\"artifs_manifest\":1"), "%s", a);
	cr_assert(strstr(a, "\"created\":\"2026-11-22T10:00:00.123456789Z\""), "%s", a);
	cr_assert(strstr(a, "\"producer\":{\"cmd\":[\"python\",\"train.py\"],\"pid\":42,"),
		  "%s", a);
	cr_assert(strstr(a, "\"inputs\":[\"artifs://p/a@v1\",\"artifs://q/b@v2\"]"),
		  "%s", a);
	cr_assert(strstr(a, "\"user.bin\":{\"hex\":\"0001ff00\"}"), "%s", a);
	cr_assert(strstr(a, "\"user.text\":\"hello\""), "%s", a);
	cr_assert(strstr(a, "{\"mode\":41471,\"mtime\":-1,\"path\":\"l\",\"target\":\"a.txt\"}"),
		  "%s", a);
	cr_assert(strstr(a, "\"mode\":16877,\"mtime\":1700000000000000000,\"path\":\"\","), "%s",
		  a);
	cr_assert(strstr(a, "\"chunks\":[[\"1111"), "%s", a);
	cr_assert(strstr(a, "\",1048576],[\"2222"), "%s", a);
	cr_assert(strstr(a, "{\"chunks\":[],\"mode\":33152,"), "%s", a);
	cr_assert_null(strchr(a, '\n'));
	cr_assert_null(strstr(a, ": "));
	free(a);
	free(b);
	manifest_release(&m);
}

Test(manifest, producer_text_and_optional_fields)
{
	struct manifest m, d;
	size_t len;
	char *buf;

	sample(&m);
	free(m.producer);
	m.producer = dup("not { json");
	free(m.message);
	m.message = NULL;
	free(m.inputs);
	m.inputs = NULL;
	m.created_ns = -1500000000; /* before 1970 */
	buf = encode(&m, &len);
	cr_assert(strstr(buf, "\"producer\":\"not { json\""), "%s", buf);
	cr_assert(strstr(buf, "\"created\":\"1969-12-31T23:59:58.500000000Z\""), "%s", buf);
	cr_assert_eq(manifest_decode(buf, len, &d), 0);
	cr_assert_str_eq(d.producer, "not { json");
	cr_assert_null(d.message);
	cr_assert_null(d.inputs);
	cr_assert_eq(d.created_ns, -1500000000);
	manifest_release(&d);
	free(buf);
	manifest_release(&m);
}

Test(manifest, binary_text_fields)
{
	struct manifest m, d;
	size_t len;
	char *buf;

	sample(&m);
	/* Not UTF-8: kept as {"hex": ...} and restored byte for byte. */
	free(m.entries[5].target);
	m.entries[5].target = dup("caf\xe9");
	free(m.message);
	m.message = dup("\xff\xfe");
	buf = encode(&m, &len);
	cr_assert(strstr(buf, "\"target\":{\"hex\":\"636166e9\"}"), "%s", buf);
	cr_assert_eq(manifest_decode(buf, len, &d), 0);
	cr_assert_str_eq(d.entries[5].target, "caf\xe9");
	cr_assert_str_eq(d.message, "\xff\xfe");
	manifest_release(&d);
	free(buf);
	manifest_release(&m);
}

Test(manifest, encode_refuses_bad_trees, .init = quiet)
{
	struct manifest m;
	struct manifest_entry t;
	char *out = (char *)1;
	size_t len;

	sample(&m);
	t = m.entries[1];
	m.entries[1] = m.entries[2];
	m.entries[2] = t;
	cr_assert_eq(manifest_encode(&m, &out, &len), EINVAL);
	cr_assert_null(out);
	m.entries[2] = m.entries[1];
	m.entries[1] = t;
	m.entries[1].size++;
	cr_assert_eq(manifest_encode(&m, &out, &len), EINVAL);
	m.entries[1].size--;
	free(m.project);
	m.project = dup("../etc");
	cr_assert_eq(manifest_encode(&m, &out, &len), EINVAL);
	manifest_release(&m);
}

static void digest(const struct manifest *m, uint8_t out[32])
{
	manifest_tree_digest(m, out);
}

Test(manifest, tree_digest)
{
	uint8_t a[32], b[32];
	struct manifest m, d;
	struct manifest_xattr x;
	size_t len;
	char *buf;

	sample(&m);
	digest(&m, a);
	/* Metadata of the version is not part of the tree. */
	free(m.message);
	m.message = dup("another message");
	m.created_ns += 1000;
	m.version = 4;
	free(m.producer);
	m.producer = NULL;
	digest(&m, b);
	cr_assert_eq(memcmp(a, b, 32), 0);
	/* Nor how files are chunked, nor the order of xattrs in the struct. */
	m.entries[1].chunks[0].id[0] ^= 1;
	x = m.entries[0].xattrs[0];
	m.entries[0].xattrs[0] = m.entries[0].xattrs[1];
	m.entries[0].xattrs[1] = x;
	digest(&m, b);
	cr_assert_eq(memcmp(a, b, 32), 0);
	/* The decoded manifest has the same tree. */
	buf = encode(&m, &len);
	cr_assert_eq(manifest_decode(buf, len, &d), 0);
	digest(&d, b);
	cr_assert_eq(memcmp(a, b, 32), 0);
	manifest_release(&d);
	free(buf);

	m.entries[4].mode = 0100644;
	digest(&m, b);
	cr_assert_neq(memcmp(a, b, 32), 0, "mode");
	m.entries[4].mode = 0100600;
	m.entries[3].mtime_ns++;
	digest(&m, b);
	cr_assert_neq(memcmp(a, b, 32), 0, "mtime");
	m.entries[3].mtime_ns--;
	m.entries[1].digest[31] ^= 0x80;
	digest(&m, b);
	cr_assert_neq(memcmp(a, b, 32), 0, "file bytes");
	m.entries[1].digest[31] ^= 0x80;
	((uint8_t *)m.entries[0].xattrs[0].val)[0] ^= 1;
	digest(&m, b);
	cr_assert_neq(memcmp(a, b, 32), 0, "xattr value");
	((uint8_t *)m.entries[0].xattrs[0].val)[0] ^= 1;
	m.entries[5].target[0] = 'b';
	digest(&m, b);
	cr_assert_neq(memcmp(a, b, 32), 0, "target");
	m.entries[5].target[0] = 'a';
	m.entries[2].path[0] = 'c';
	digest(&m, b);
	cr_assert_neq(memcmp(a, b, 32), 0, "path");
	m.entries[2].path[0] = 'd';
	digest(&m, b);
	cr_assert_eq(memcmp(a, b, 32), 0, "back to the first tree");
	manifest_release(&m);
}

static void rejects(const char *json)
{
	struct manifest d;

	memset(&d, 0x5a, sizeof(d));
	cr_assert_eq(manifest_decode(json, strlen(json), &d), EINVAL, "accepted: %s", json);
	/* Nothing to release, and releasing the zeroed struct is harmless. */
	cr_assert_null(d.entries);
	cr_assert_null(d.project);
	manifest_release(&d);
}

#define HEAD "{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":1," \
	     "\"created\":\"2026-01-02T03:04:05.000000006Z\","
#define ROOT "{\"path\":\"\",\"mode\":16877,\"mtime\":0}"
#define SHA "\"sha256\":\"" \
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\""
#define CID "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\""
#define FILE_(path, size, chunks) \
	"{\"path\":\"" path "\",\"mode\":33188,\"mtime\":0,\"size\":" size "," SHA \
	",\"chunks\":" chunks "}"

Test(manifest, decode_minimal)
{
	static const char ok[] = HEAD "\"entries\":[" ROOT "," FILE_("x", "3", "[[" CID ",3]]")
				      "]}";
	struct manifest d;

	cr_assert_eq(manifest_decode(ok, strlen(ok), &d), 0);
	cr_assert_eq(d.nentries, 2);
	cr_assert_eq(d.entries[1].size, 3);
	cr_assert_eq(d.created_ns % 1000000000, 6);
	cr_assert_null(d.attrs);
	manifest_release(&d);
}

Test(manifest, decode_rejects, .init = quiet)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"null",
		"{}",
		HEAD "\"entries\":[" ROOT "]",
		/* wrong types */
		"{\"artifs_manifest\":\"1\",\"project\":\"p\",\"artifact\":\"a\",\"version\":1,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":3,\"project\":\"p\",\"artifact\":\"a\",\"version\":1,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":7,\"artifact\":\"a\",\"version\":1,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":\"1\","
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":1.0,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":0,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		HEAD "\"entries\":{}}",
		HEAD "\"entries\":[]}",
		HEAD "\"entries\":[1]}",
		HEAD "\"entries\":[" ROOT ",null]}",
		HEAD "\"message\":5,\"entries\":[" ROOT "]}",
		HEAD "\"producer\":[1],\"entries\":[" ROOT "]}",
		HEAD "\"inputs\":\"a\",\"entries\":[" ROOT "]}",
		HEAD "\"inputs\":[\"a\\nb\"],\"entries\":[" ROOT "]}",
		HEAD "\"inputs\":[\"\"],\"entries\":[" ROOT "]}",
		HEAD "\"attrs\":[],\"entries\":[" ROOT "]}",
		HEAD "\"attrs\":{\"user.x\":1},\"entries\":[" ROOT "]}",
		HEAD "\"attrs\":{\"\":\"v\"},\"entries\":[" ROOT "]}",
		HEAD "\"attrs\":{\"user.x\":{\"hex\":\"0g\"}},\"entries\":[" ROOT "]}",
		HEAD "\"attrs\":{\"user.x\":{\"hex\":\"abc\"}},\"entries\":[" ROOT "]}",
		HEAD "\"attrs\":{\"user.x\":{\"hex\":\"AB\"}},\"entries\":[" ROOT "]}",
		HEAD "\"attrs\":{\"user.x\":{\"hex\":\"ab\",\"y\":1}},\"entries\":[" ROOT "]}",
		HEAD "\"unknown\":1,\"entries\":[" ROOT "]}",
		HEAD "\"message\":\"a\",\"message\":\"b\",\"entries\":[" ROOT "]}",
		/* names */
		"{\"artifs_manifest\":1,\"project\":\"../p\",\"artifact\":\"a\",\"version\":1,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\".a\",\"version\":1,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"\",\"version\":1,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		/* times */
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":1,"
		"\"created\":\"2026-02-30T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":1,"
		"\"created\":\"2026-01-02T03:04:05.000000006\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":1,"
		"\"created\":\"2026-01-02T03:04:05Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":1,"
		"\"created\":\"2026-01-02T24:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":1,"
		"\"created\":\"9999-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":1,"
		"\"created\":1,\"entries\":[" ROOT "]}",
		/* huge numbers */
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":1e400,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\","
		"\"version\":99999999999999999999999999,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		"{\"artifs_manifest\":1,\"project\":\"p\",\"artifact\":\"a\",\"version\":-1,"
		"\"created\":\"2026-01-02T03:04:05.000000006Z\",\"entries\":[" ROOT "]}",
		HEAD "\"entries\":[{\"path\":\"\",\"mode\":4294967296,\"mtime\":0}]}",
		HEAD "\"entries\":[{\"path\":\"\",\"mode\":16877,\"mtime\":1e30}]}",
		HEAD "\"entries\":[" ROOT "," FILE_("x", "-1", "[]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("x", "99999999999999999999", "[]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("x", "67108865", "[[" CID ",67108865]]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("x", "0", "[[" CID ",0]]") "]}",
		/* sizes against chunks */
		HEAD "\"entries\":[" ROOT "," FILE_("x", "4", "[[" CID ",3]]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("x", "3", "[]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("x", "0", "[[" CID ",3]]") "]}",
		/* bad hex */
		HEAD "\"entries\":[" ROOT "," FILE_("x", "3", "[[\"00\",3]]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("x", "3", "[[" CID "]]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("x", "3", "[[3," CID "]]") "]}",
		HEAD "\"entries\":[" ROOT ",{\"path\":\"x\",\"mode\":33188,\"mtime\":0,\"size\":0,"
		"\"sha256\":\"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\","
		"\"chunks\":[]}]}",
		HEAD "\"entries\":[" ROOT ",{\"path\":\"x\",\"mode\":33188,\"mtime\":0,\"size\":0,"
		"\"sha256\":\"0011\",\"chunks\":[]}]}",
		HEAD "\"entries\":[" ROOT ",{\"path\":\"x\",\"mode\":33188,\"mtime\":0,\"size\":0,"
		"\"chunks\":[]}]}",
		/* paths */
		HEAD "\"entries\":[" ROOT "," FILE_("../x", "0", "[]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("/x", "0", "[]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_(".", "0", "[]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("x/", "0", "[]") "]}",
		HEAD "\"entries\":[" ROOT ",{\"path\":\"d\",\"mode\":16877,\"mtime\":0},"
		FILE_("d//x", "0", "[]") "]}",
		HEAD "\"entries\":[" ROOT ",{\"path\":\"d\",\"mode\":16877,\"mtime\":0},"
		FILE_("d/../x", "0", "[]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("x\\u0000y", "0", "[]") "]}",
		HEAD "\"entries\":[" ROOT
		     ",{\"path\":{\"hex\":\"7800\"},\"mode\":16877,\"mtime\":0}]}",
		HEAD "\"entries\":[" ROOT "," FILE_("@v1", "0", "[]") "]}",
		HEAD "\"entries\":[" FILE_("x", "0", "[]") "]}",
		HEAD "\"entries\":[" ROOT "," ROOT "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("b", "0", "[]") "," FILE_("a", "0", "[]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("a", "0", "[]") "," FILE_("a", "0", "[]") "]}",
		/* child without its parent, parent that is a file */
		HEAD "\"entries\":[" ROOT "," FILE_("d/x", "0", "[]") "]}",
		HEAD "\"entries\":[" ROOT "," FILE_("d", "0", "[]") "," FILE_("d/x", "0", "[]")
		"]}",
		/* types and misplaced fields */
		HEAD "\"entries\":[" ROOT ",{\"path\":\"f\",\"mode\":4516,\"mtime\":0}]}",
		HEAD "\"entries\":[" ROOT ",{\"path\":\"l\",\"mode\":41471,\"mtime\":0}]}",
		HEAD "\"entries\":[" ROOT ",{\"path\":\"l\",\"mode\":41471,\"mtime\":0,"
		"\"target\":\"\"}]}",
		HEAD "\"entries\":[" ROOT ",{\"path\":\"l\",\"mode\":41471,\"mtime\":0,"
		"\"target\":\"x\",\"size\":1}]}",
		HEAD "\"entries\":[" ROOT ",{\"path\":\"d\",\"mode\":16877,\"mtime\":0,"
		"\"chunks\":[]}]}",
		HEAD "\"entries\":[" ROOT ",{\"path\":\"d\",\"mode\":16877,\"mtime\":0,"
		"\"xattrs\":{\"user.a\":[]}}]}",
		HEAD "\"entries\":[{\"path\":\"\",\"mode\":16877}]}",
		HEAD "\"entries\":[{\"path\":\"\",\"mode\":16877,\"mtime\":\"0\"}]}",
		HEAD "\"entries\":[{\"path\":\"\",\"mode\":147949,\"mtime\":0}]}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		rejects(bad[i]);
}

Test(manifest, decode_rejects_deep_nesting, .init = quiet)
{
	size_t n = 100000;
	char *s = malloc(2 * n + 200);
	size_t len;

	len = (size_t)sprintf(s, HEAD "\"producer\":");
	memset(s + len, '[', n);
	len += n;
	memset(s + len, ']', n);
	len += n;
	len += (size_t)sprintf(s + len, ",\"entries\":[" ROOT "]}");
	s[len] = '\0';
	rejects(s);
	free(s);
}

/* Every prefix of a good manifest and many one-byte mutations: EINVAL or a clean parse. */
Test(manifest, decode_survives_truncation_and_mutation, .init = quiet)
{
	static const char subst[] = "\"{}[]:,0-9/.\\ex\xff";
	struct manifest m, d;
	size_t len, ok = 0;
	char *buf, *copy;

	sample(&m);
	buf = encode(&m, &len);
	copy = malloc(len);
	for (size_t cut = 0; cut < len; cut++) {
		memcpy(copy, buf, cut);
		cr_assert_eq(manifest_decode(copy, cut, &d), EINVAL, "prefix of %zu accepted", cut);
	}
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof(subst) - 1; k++) {
			int rc;

			memcpy(copy, buf, len);
			copy[i] = subst[k];
			rc = manifest_decode(copy, len, &d);
			cr_assert(rc == 0 || rc == EINVAL, "rc %d", rc);
			if (!rc) {
				ok++;
				manifest_release(&d);
			}
		}
	}
	cr_assert_gt(ok, 0);
	free(copy);
	free(buf);
	manifest_release(&m);
}

/* Issue 9 defect 1: a folder beside a file whose name extends the folder's name with a byte
 * below '/' ("model/" and "model.pkl", "a/" and "a-1"). */
#define DIR_(path) "{\"path\":\"" path "\",\"mode\":16877,\"mtime\":0}"

Test(manifest, path_order)
{
	static const char *const sorted[] = { "", "a", "a/b", "a/b/c", "a-1", "a.pkl", "a0",
					      "a~", "b", "\xc3\xa9" };
	size_t n = sizeof(sorted) / sizeof(sorted[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int r = manifest_path_cmp(sorted[i], strlen(sorted[i]), sorted[j],
						  strlen(sorted[j]));

			cr_assert_eq(r < 0, i < j, "%s vs %s", sorted[i], sorted[j]);
			cr_assert_eq(r == 0, i == j, "%s vs %s", sorted[i], sorted[j]);
		}
}

Test(manifest, folder_beside_longer_file_name)
{
	static const uint32_t lens[] = { 7 };
	struct manifest m, d;
	struct manifest_entry *e;
	char *out;
	size_t len;

	sample(&m);
	for (size_t i = 0; i < m.nentries; i++) {
		free(m.entries[i].path);
		free(m.entries[i].target);
		free(m.entries[i].chunks);
		for (size_t k = 0; k < m.entries[i].nxattrs; k++) {
			free(m.entries[i].xattrs[k].name);
			free(m.entries[i].xattrs[k].val);
		}
		free(m.entries[i].xattrs);
	}
	free(m.entries);
	m.nentries = 5;
	m.entries = e = calloc(5, sizeof(*e));
	add_dir(&e[0], "");
	add_dir(&e[1], "model");
	add_file(&e[2], "model/w.bin", lens, 1);
	add_file(&e[3], "model-2.0.egg-info", lens, 1);
	add_file(&e[4], "model.pkl", lens, 1);
	out = encode(&m, &len);
	cr_assert_eq(manifest_decode(out, len, &d), 0);
	cr_assert_eq(d.nentries, 5);
	cr_assert_str_eq(d.entries[2].path, "model/w.bin");
	cr_assert_eq(manifest_parent(&d, 2), 1);
	cr_assert_eq(manifest_parent(&d, 4), 0);
	manifest_release(&d);
	free(out);
	manifest_release(&m);
}

Test(manifest, decode_refuses_strcmp_order, .init = quiet)
{
	/* Byte order would put "a-1" before "a/x": that is not the manifest order. */
	rejects(HEAD "\"entries\":[" ROOT "," DIR_("a") "," FILE_("a-1", "3", "[[" CID ",3]]")
		     "," FILE_("a/x", "3", "[[" CID ",3]]") "]}");
}

/* Issue 9, defect 11: a manifest from the store names only the user's own attributes on
 * its entries, and only labels and metrics on the version. */
Test(manifest, decode_refuses_foreign_xattr_names, .init = quiet)
{
	rejects(HEAD "\"entries\":[" ROOT "," "{\"path\":\"x\",\"mode\":33188,\"mtime\":0,"
		     "\"size\":0," SHA ",\"chunks\":[],\"xattrs\":{\"trusted.x\":\"v\"}}]}");
	rejects(HEAD "\"entries\":[{\"path\":\"\",\"mode\":16877,\"mtime\":0,"
		     "\"xattrs\":{\"user.artifs.producer\":\"{}\"}}]}");
	rejects(HEAD "\"entries\":[{\"path\":\"\",\"mode\":16877,\"mtime\":0,"
		     "\"xattrs\":{\"user.label.stage\":\"prod\"}}]}");
	rejects(HEAD "\"attrs\":{\"user.artifs.producer\":\"x\"},\"entries\":[" ROOT "]}");
	rejects(HEAD "\"attrs\":{\"user.note\":\"x\"},\"entries\":[" ROOT "]}");
}

Test(manifest, decode_keeps_user_names)
{
	static const char ok[] = HEAD "\"attrs\":{\"user.label.stage\":\"prod\"},\"entries\":["
				      "{\"path\":\"\",\"mode\":16877,\"mtime\":0,\"xattrs\":"
				      "{\"user.note\":\"n\"}},{\"path\":\"x\",\"mode\":33188,"
				      "\"mtime\":0,\"size\":0," SHA ",\"chunks\":[],\"xattrs\":"
				      "{\"user.label.k\":\"v\"}}]}";
	struct manifest d;

	cr_assert_eq(manifest_decode(ok, strlen(ok), &d), 0, "%s", manifest_why());
	cr_assert_eq(d.nattrs, 1);
	cr_assert_eq(d.entries[1].nxattrs, 1);
	manifest_release(&d);
}

/* ---- format 2: runs of pack frames ---- */

#define HEAD2 "{\"artifs_manifest\":2,\"project\":\"p\",\"artifact\":\"a\",\"version\":1," \
	      "\"created\":\"2026-01-02T03:04:05.000000006Z\","
#define PK(n) "[\"" n "00112233445566778899aabbccddee\",\"" \
	      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"]"
#define FILE2(path, size, runs) \
	"{\"path\":\"" path "\",\"mode\":33188,\"mtime\":0,\"size\":" size "," SHA \
	",\"runs\":" runs "}"

Test(manifest, format2_round_trip)
{
	static const char ok[] = HEAD2 "\"attrs\":{},\"entries\":[" ROOT ","
		FILE2("e", "0", "[]") "," FILE2("x", "300", "[[0,5,2],[1,0,1]]") "],"
		"\"packs\":[" PK("aa") "," PK("bb") "]}";
	struct manifest d;
	size_t len;
	char *again;

	cr_assert_eq(manifest_decode(ok, strlen(ok), &d), 0);
	cr_expect_eq(d.format, 2);
	cr_assert_eq(d.npacks, 2);
	cr_expect_eq(d.packs[1].name[0], 0xbb);
	cr_expect_eq(d.packs[1].digest[31], 0xff);
	cr_assert_eq(d.entries[2].nruns, 2);
	cr_expect_eq(d.entries[2].nchunks, 0, "chunks come from the packs' indexes");
	cr_expect_eq(d.entries[2].runs[0].first, 5);
	cr_expect_eq(d.entries[2].runs[0].n, 2);
	cr_expect_eq(d.entries[2].runs[1].pack, 1);
	cr_assert_eq(manifest_encode(&d, &again, &len), 0);
	manifest_release(&d);
	/* Canonical: decoding the encoding and encoding again gives the same bytes. */
	cr_assert_eq(manifest_decode(again, len, &d), 0);
	cr_expect_eq(d.entries[2].runs[1].pack, 1);
	char *twice;
	size_t len2;

	cr_assert_eq(manifest_encode(&d, &twice, &len2), 0);
	cr_expect_eq(len2, len);
	cr_expect_eq(memcmp(again, twice, len), 0, "%s", twice);
	cr_expect_not_null(strstr(again, "\"runs\":[[0,5,2],[1,0,1]]"));
	free(twice);
	free(again);
	manifest_release(&d);
}

Test(manifest, format2_decode_rejects, .init = quiet)
{
	static const char *const bad[] = {
		/* a run naming no listed pack, no frames, or frames past an index's limit */
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[1,0,1]]") "],\"packs\":[" PK("aa") "]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,0,0]]") "],\"packs\":[" PK("aa") "]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,1048575,2]]") "],\"packs\":["
		      PK("aa") "]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,-1,1]]") "],\"packs\":[" PK("aa") "]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,0]]") "],\"packs\":[" PK("aa") "]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[0,0,1]") "],\"packs\":[" PK("aa") "]}",
		/* more frames than bytes, more bytes than frames can hold */
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "1", "[[0,0,2]]") "],\"packs\":[" PK("aa") "]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "67108865", "[[0,0,1]]") "],\"packs\":["
		      PK("aa") "]}",
		/* a file with bytes and no runs; chunks in format 2; runs in format 1 */
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[]") "],\"packs\":[" PK("aa") "]}",
		HEAD2 "\"entries\":[" ROOT "," FILE_("x", "3", "[[" CID ",3]]") "],\"packs\":["
		      PK("aa") "]}",
		HEAD "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,0,1]]") "],\"packs\":[" PK("aa") "]}",
		/* packs: not [name, digest], unsorted, duplicated, more than runs, missing */
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,0,1]]") "],\"packs\":["
		      "\"aa00112233445566778899aabbccddee\"]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,0,1]]") "],\"packs\":["
		      "[\"aa00112233445566778899aabbccddee\",\"00\"]]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,0,1],[1,0,1]]") "],\"packs\":["
		      PK("bb") "," PK("aa") "]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,0,1],[1,0,1]]") "],\"packs\":["
		      PK("aa") "," PK("aa") "]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,0,1]]") "],\"packs\":["
		      PK("aa") "," PK("bb") "]}",
		HEAD2 "\"entries\":[" ROOT "," FILE2("x", "3", "[[0,0,1]]") "]}",
		/* runs on a directory */
		HEAD2 "\"entries\":[{\"path\":\"\",\"mode\":16877,\"mtime\":0,\"runs\":[[0,0,1]]}],"
		      "\"packs\":[" PK("aa") "]}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		rejects(bad[i]);
}

Test(manifest, format2_bounds_the_chunks_of_a_version, .init = quiet)
{
	/* 9 runs of 2^20 frames: more chunks than a version may expand to (2^23). */
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), HEAD2 "\"entries\":[" ROOT);

	for (int i = 0; i < 9; i++)
		n += snprintf(buf + n, sizeof(buf) - n,
			      ",{\"path\":\"f%d\",\"mode\":33188,\"mtime\":0,\"size\":1048576," SHA
			      ",\"runs\":[[0,0,1048576]]}", i);
	snprintf(buf + n, sizeof(buf) - n, "],\"packs\":[" PK("aa") "]}");
	rejects(buf);
	/* Eight are within the bound. */
	char *cut = strstr(buf, ",{\"path\":\"f8\"");
	struct manifest d;

	cr_assert_not_null(cut);
	snprintf(cut, sizeof(buf) - (cut - buf), "],\"packs\":[" PK("aa") "]}");
	cr_assert_eq(manifest_decode(buf, strlen(buf), &d), 0, "%s", manifest_why());
	manifest_release(&d);
}
