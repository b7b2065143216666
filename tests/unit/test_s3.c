/* SPDX-License-Identifier: MIT */
/*
 * The s3 leaf (backends/s3.c) in three rings:
 * - pure functions: s3:// URLs, the encoders a signature depends on, the credentials file
 *   reader and the expat parsers fed good, paged, broken, huge and hostile XML;
 * - a scripted fake HTTP server on loopback, for what a real server will not do on demand:
 *   the exact requests we send, 5xx and dropped connections (retries), each error status,
 *   stores without conditional writes, hostile listings;
 * - a real S3 server (Ceph RGW from tests/s3/server.sh) when $ARTIFS_S3_ENDPOINT and the
 *   AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables are set: the backend contract of
 *   tests/unit/test_backend.c, paging over more than one page, bad secrets and missing
 *   buckets. Without them those tests are skipped.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "../../backends/backend.h"
#include "../../backends/s3_int.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ==== s3:// URLs ==== */

Test(s3_url, parse)
{
	static const struct {
		const char *url, *bucket, *prefix;
	} ok[] = {
		{ "s3://bucket", "bucket", "" },
		{ "s3://bucket/", "bucket", "" },
		{ "s3://bucket/some/prefix", "bucket", "some/prefix/" },
		{ "s3://bucket/some/prefix/", "bucket", "some/prefix/" },
		{ "s3://my.bucket-01/p", "my.bucket-01", "p/" },
		{ "s3://abc/a b+c", "abc", "a b+c/" },
	};
	char *b, *p;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		cr_assert_eq(be_s3_parse_url(ok[i].url, &b, &p), 0, "%s", ok[i].url);
		cr_assert_str_eq(b, ok[i].bucket, "%s", ok[i].url);
		cr_assert_str_eq(p, ok[i].prefix, "%s", ok[i].url);
		free(b);
		free(p);
	}
}

Test(s3_url, malformed)
{
	static const char *const bad[] = {
		"",	       "bucket",	 "s3:/bucket",	 "http://bucket/x", "s3://",
		"s3:///p",     "s3://ab",	 "s3://b/",	 "s3://bu/ket",	    "s3://bucket//",
		"s3://bucket//p", "s3://bucket/a//b", "s3://bucket/./a", "s3://bucket/a/..",
		"s3://bucket/a?x=1", "s3://bucket/a#f", "s3://buc ket/a", "s3://bucket/a\nb",
		"s3://bucket:80/a", "s3://user@bucket/a",
		"s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/p",
	};
	char *b = (char *)1, *p = (char *)1;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		cr_assert_eq(be_s3_parse_url(bad[i], &b, &p), EINVAL, "'%s'", bad[i]);
		cr_assert_null(b);
		cr_assert_null(p);
	}
	cr_assert_eq(be_s3_parse_url(NULL, &b, &p), EINVAL);
}

/* ==== encoders ==== */

static void expect_enc(const char *in, int keep_slash, const char *want)
{
	char *out;

	cr_assert_eq(s3_encode(in, keep_slash, &out), 0);
	cr_assert_str_eq(out, want, "encode '%s' (keep_slash %d)", in, keep_slash);
	free(out);
}

Test(s3_encode, keys_and_values)
{
	expect_enc("", 1, "");
	expect_enc("chunks/ab/abcdef", 1, "chunks/ab/abcdef");
	expect_enc("chunks/ab/abcdef", 0, "chunks%2Fab%2Fabcdef");
	expect_enc("AZaz09-_.~", 0, "AZaz09-_.~");
	expect_enc("a b+c=d&e?f#g%h", 1, "a%20b%2Bc%3Dd%26e%3Ff%23g%25h");
	expect_enc("x:y@z,;'!*()[]", 1, "x%3Ay%40z%2C%3B%27%21%2A%28%29%5B%5D");
	/* UTF-8 bytes, each encoded, uppercase hex. */
	expect_enc("\xc3\xa9/\xff", 1, "%C3%A9/%FF");
	expect_enc("\x01\x7f", 0, "%01%7F");
}

Test(s3_encode, query_sorted)
{
	struct s3_param p[] = {
		{ "prefix", "a/b c" },
		{ "list-type", "2" },
		{ "continuation-token", "1/x+y=" },
		{ "max-keys", "1000" },
	};
	struct s3_param same[] = { { "a", "2" }, { "a-b", "" }, { "a", "1" } };
	char *q;

	cr_assert_eq(s3_query_build(p, ARRAY_SIZE(p), &q), 0);
	cr_assert_str_eq(q, "continuation-token=1%2Fx%2By%3D&list-type=2&max-keys=1000"
			    "&prefix=a%2Fb%20c");
	free(q);
	/* Sorted by name, then value: "a" before "a-b", though '-' < '=' bytewise. */
	cr_assert_eq(s3_query_build(same, ARRAY_SIZE(same), &q), 0);
	cr_assert_str_eq(q, "a=1&a=2&a-b=");
	free(q);
	cr_assert_eq(s3_query_build(NULL, 0, &q), 0);
	cr_assert_str_eq(q, "");
	free(q);
}

/* ==== credentials file ==== */

Test(s3_creds, ini)
{
	static const char text[] =
		"# comment\n"
		"; another\n"
		"[default]\n"
		"aws_access_key_id = AKIADEFAULT\n"
		"aws_secret_access_key=secret/with=equals#and;hash \r\n"
		"\n"
		"  [ other ]  \n"
		"AWS_ACCESS_KEY_ID\t=\tAK:with:colons\n"
		"aws_secret_access_key = s2\n"
		"aws_session_token = tok==\n"
		"[profile third]\n"
		"aws_access_key_id = AK3\n"
		"aws_secret_access_key = S3\n"
		"[broken\n"
		"aws_access_key_id = NOPE\n"
		"[onlykey]\n"
		"aws_access_key_id = AK4\n";
	static const char tail[] = "[default]\naws_access_key_id=a\naws_secret_access_key=b";
	struct s3_creds c;

	cr_assert_eq(s3_creds_parse_ini(text, sizeof(text) - 1, "default", &c), 0);
	cr_assert_str_eq(c.access, "AKIADEFAULT");
	cr_assert_str_eq(c.secret, "secret/with=equals#and;hash");
	cr_assert_null(c.token);
	s3_creds_release(&c);

	cr_assert_eq(s3_creds_parse_ini(text, sizeof(text) - 1, "other", &c), 0);
	cr_assert_str_eq(c.access, "AK:with:colons");
	cr_assert_str_eq(c.secret, "s2");
	cr_assert_str_eq(c.token, "tok==");
	s3_creds_release(&c);

	cr_assert_eq(s3_creds_parse_ini(text, sizeof(text) - 1, "third", &c), 0);
	cr_assert_str_eq(c.access, "AK3");
	s3_creds_release(&c);

	cr_assert_eq(s3_creds_parse_ini(text, sizeof(text) - 1, "missing", &c), ENOENT);
	cr_assert_eq(s3_creds_parse_ini(text, sizeof(text) - 1, "onlykey", &c), ENOENT);
	cr_assert_eq(s3_creds_parse_ini("", 0, "default", &c), ENOENT);
	/* No newline at the end of the file is fine. */
	cr_assert_eq(s3_creds_parse_ini(tail, strlen(tail), "default", &c), 0);
	cr_assert_str_eq(c.secret, "b");
	s3_creds_release(&c);
}

Test(s3_creds, hostile_ini)
{
	struct s3_creds c;
	char *big;

	cr_assert_eq(s3_creds_parse_ini("[default]\naws_access_key_id=a\0b\n", 31, "default", &c),
		     EINVAL);
	big = malloc(10000);
	cr_assert_not_null(big);
	memset(big, 'x', 10000);
	memcpy(big, "[default]\naws_access_key_id=", 28);
	cr_assert_eq(s3_creds_parse_ini(big, 10000, "default", &c), EINVAL);
	free(big);
}

/* ==== listing and error parsers ==== */

#define LHEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" \
	      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" \
	      "<Name>b</Name><Prefix>p/</Prefix><MaxKeys>1000</MaxKeys>"
#define LTAIL "</ListBucketResult>"
#define ENTRY(k, n) "<Contents><Key>" k "</Key><LastModified>2024-01-01T00:00:00.000Z" \
		    "</LastModified><ETag>&quot;x&quot;</ETag><Size>" n "</Size>" \
		    "<Owner><ID>o</ID><DisplayName>o</DisplayName></Owner>" \
		    "<StorageClass>STANDARD</StorageClass></Contents>"

static int parse(const char *xml, const char *prefix, const char *after,
		 struct s3_list_page *pg)
{
	const char *why = NULL;
	int err = s3_list_parse(xml, strlen(xml), prefix, after, pg, &why);

	if (err)
		cr_assert_not_null(why, "an error names its reason");
	return err;
}

Test(s3_xml, good_page)
{
	static const char xml[] = LHEAD "<KeyCount>3</KeyCount><IsTruncated>false</IsTruncated>"
		ENTRY("p/a", "3") ENTRY("p/a&amp;b &lt;c&gt;", "0")
		ENTRY("p/z\xc3\xa9", "18446744073709551615")
		"<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>" LTAIL;
	struct s3_list_page pg;

	cr_assert_eq(parse(xml, "p/", NULL, &pg), 0);
	cr_assert_eq(pg.n, 3);
	cr_assert_str_eq(pg.keys[0], "p/a");
	cr_assert_eq(pg.sizes[0], 3);
	cr_assert_str_eq(pg.keys[1], "p/a&b <c>");
	cr_assert_eq(pg.sizes[1], 0);
	cr_assert_str_eq(pg.keys[2], "p/z\xc3\xa9");
	cr_assert_eq(pg.sizes[2], UINT64_MAX);
	cr_assert_eq(pg.truncated, 0);
	cr_assert_eq(pg.mtimes[0], 1704067200, "LastModified in seconds since the epoch");
	cr_assert_null(pg.next_token);
	s3_list_page_release(&pg);

	/* An empty listing (a new bucket). */
	cr_assert_eq(parse(LHEAD "<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>" LTAIL,
			   "", NULL, &pg), 0);
	cr_assert_eq(pg.n, 0);
	s3_list_page_release(&pg);
}

Test(s3_xml, last_modified)
{
	static const char xml[] = LHEAD "<IsTruncated>false</IsTruncated>"
		"<Contents><Key>p/a</Key><Size>1</Size></Contents>"
		"<Contents><Key>p/b</Key><LastModified>yesterday</LastModified><Size>1</Size>"
		"</Contents>"
		"<Contents><Key>p/c</Key><LastModified>2026-12-02T15:04:05Z</LastModified>"
		"<Size>1</Size></Contents>" LTAIL;
	struct s3_list_page pg;

	cr_assert_eq(parse(xml, "p/", NULL, &pg), 0);
	cr_assert_eq(pg.n, 3);
	cr_assert_eq(pg.mtimes[0], -1, "no LastModified: unknown");
	cr_assert_eq(pg.mtimes[1], -1, "a LastModified that is no time: unknown");
	cr_assert_eq(pg.mtimes[2], 1796223845);
	s3_list_page_release(&pg);
}

Test(s3_xml, paged)
{
	static const char p1[] = LHEAD "<IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>1/ab+c=</NextContinuationToken>"
		ENTRY("a", "1") ENTRY("b", "2") LTAIL;
	static const char p2[] = LHEAD "<ContinuationToken>1/ab+c=</ContinuationToken>"
		ENTRY("c", "3") "<IsTruncated>false</IsTruncated>" LTAIL;
	struct s3_list_page pg;

	cr_assert_eq(parse(p1, "", NULL, &pg), 0);
	cr_assert_eq(pg.n, 2);
	cr_assert(pg.truncated);
	cr_assert_str_eq(pg.next_token, "1/ab+c=");
	s3_list_page_release(&pg);
	cr_assert_eq(parse(p2, "", "b", &pg), 0);
	cr_assert_eq(pg.n, 1);
	cr_assert_not(pg.truncated);
	s3_list_page_release(&pg);
	/* The next page must continue after the previous one. */
	cr_assert_eq(parse(p2, "", "c", &pg), EIO);
	cr_assert_eq(pg.n, 0);
	cr_assert_null(pg.keys);
	cr_assert_eq(parse(p2, "", "d", &pg), EIO);
}

Test(s3_xml, truncated_and_garbage)
{
	static const char good[] = LHEAD "<IsTruncated>false</IsTruncated>"
		ENTRY("p/a", "1") ENTRY("p/b", "2") LTAIL;
	static const char *const bad[] = {
		"",
		"garbage",
		"\x00\x01\x02",
		"<html><body>hello</body></html>",
		"<?xml version=\"1.0\"?>",
		LHEAD ENTRY("p/a", "1"),
		LHEAD "<Contents><Key>p/a",
		LHEAD "<Contents><Key>p/a</Key><Size>12", 
		"<Error><Code>NoSuchBucket</Code></Error>",
		LHEAD LTAIL "<ListBucketResult></ListBucketResult>",
		LHEAD "<Contents><Key>p/a</Contents></Key>" LTAIL,
	};
	struct s3_list_page pg;
	size_t i, cut;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert_eq(parse(bad[i], "p/", NULL, &pg), EIO, "case %zu", i);
	/* Every proper cut of a good page is refused, whole. */
	for (cut = 0; cut < sizeof(good) - 1; cut++) {
		const char *why;

		cr_assert_eq(s3_list_parse(good, cut, "p/", NULL, &pg, &why), EIO, "cut %zu", cut);
		cr_assert_eq(pg.n, 0);
	}
}

Test(s3_xml, bad_fields)
{
	static const char *const bad[] = {
		/* Entries without Key or Size, empty, or with two of them. */
		LHEAD "<Contents><Size>1</Size></Contents>" LTAIL,
		LHEAD "<Contents><Key>p/a</Key></Contents>" LTAIL,
		LHEAD "<Contents><Key></Key><Size>1</Size></Contents>" LTAIL,
		LHEAD "<Contents><Key>p/a</Key><Key>p/b</Key><Size>1</Size></Contents>" LTAIL,
		LHEAD "<Contents><Key>p/a</Key><Size>1</Size><Size>2</Size></Contents>" LTAIL,
		/* Sizes that are not decimal numbers of 64 bits. */
		LHEAD ENTRY("p/a", "-1") LTAIL,
		LHEAD ENTRY("p/a", "1.5") LTAIL,
		LHEAD ENTRY("p/a", "") LTAIL,
		LHEAD ENTRY("p/a", " 1") LTAIL,
		LHEAD ENTRY("p/a", "18446744073709551616") LTAIL,
		LHEAD ENTRY("p/a", "99999999999999999999999") LTAIL,
		/* Keys out of order, repeated, or outside the prefix. */
		LHEAD ENTRY("p/b", "1") ENTRY("p/a", "1") LTAIL,
		LHEAD ENTRY("p/a", "1") ENTRY("p/a", "1") LTAIL,
		LHEAD ENTRY("q/a", "1") LTAIL,
		LHEAD ENTRY("p", "1") LTAIL,
		/* Paging fields. */
		LHEAD "<IsTruncated>true</IsTruncated>" ENTRY("p/a", "1") LTAIL,
		LHEAD "<IsTruncated>yes</IsTruncated>" LTAIL,
		LHEAD "<IsTruncated>true</IsTruncated><NextContinuationToken></NextContinuationToken>"
			LTAIL,
		LHEAD "<IsTruncated>false</IsTruncated><IsTruncated>false</IsTruncated>" LTAIL,
		LHEAD "<NextContinuationToken>a</NextContinuationToken>"
		      "<NextContinuationToken>b</NextContinuationToken>" LTAIL,
		/* Markup inside a field we read. */
		LHEAD "<Contents><Key>p/<b>a</b></Key><Size>1</Size></Contents>" LTAIL,
		/* Another root. */
		"<ListAllMyBucketsResult></ListAllMyBucketsResult>",
	};
	struct s3_list_page pg;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert_eq(parse(bad[i], "p/", NULL, &pg), EIO, "case %zu", i);
}

/* Appends to a growing string; the tests build big documents with it. */
struct sb {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		cr_assert_geq(n, 0);
		if (b->s && (size_t)n < b->cap - b->len)
			break;
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		cr_assert_not_null(b->s);
	}
	b->len += (size_t)n;
}

Test(s3_xml, huge)
{
	struct s3_list_page pg;
	struct sb b = { 0 };
	char *key;
	int i;

	/* A full page of long keys is fine ... */
	sb_add(&b, LHEAD "<IsTruncated>false</IsTruncated>");
	for (i = 0; i < S3_PAGE_KEYS; i++)
		sb_add(&b, "<Contents><Key>%0*d</Key><Size>%d</Size></Contents>", 1000, i, i);
	sb_add(&b, LTAIL);
	cr_assert_eq(parse(b.s, "", NULL, &pg), 0);
	cr_assert_eq(pg.n, S3_PAGE_KEYS);
	cr_assert_eq(pg.sizes[999], 999);
	cr_assert_eq(strlen(pg.keys[999]), 1000);
	s3_list_page_release(&pg);

	/* ... one key more is not. */
	b.len -= strlen(LTAIL);
	sb_add(&b, "<Contents><Key>%0*d</Key><Size>1</Size></Contents>" LTAIL, 1000, 1000);
	cr_assert_eq(parse(b.s, "", NULL, &pg), EIO);
	free(b.s);

	/* A key of S3_KEY_MAX bytes passes, one byte more is refused. */
	key = malloc(S3_KEY_MAX + 2);
	cr_assert_not_null(key);
	memset(key, 'k', S3_KEY_MAX + 1);
	key[S3_KEY_MAX] = '\0';
	memset(&b, 0, sizeof(b));
	sb_add(&b, LHEAD "<Contents><Key>%s</Key><Size>1</Size></Contents>" LTAIL, key);
	cr_assert_eq(parse(b.s, "", NULL, &pg), 0);
	s3_list_page_release(&pg);
	free(b.s);
	key[S3_KEY_MAX] = 'k';
	key[S3_KEY_MAX + 1] = '\0';
	memset(&b, 0, sizeof(b));
	sb_add(&b, LHEAD "<Contents><Key>%s</Key><Size>1</Size></Contents>" LTAIL, key);
	cr_assert_eq(parse(b.s, "", NULL, &pg), EIO);
	free(b.s);
	free(key);

	/* Megabytes of text in fields we do not read cost nothing and pass. */
	memset(&b, 0, sizeof(b));
	sb_add(&b, LHEAD "<Marker>");
	for (i = 0; i < 100000; i++)
		sb_add(&b, "0123456789abcdef0123456789abcdef");
	sb_add(&b, "</Marker>" ENTRY("a", "1") LTAIL);
	cr_assert_eq(parse(b.s, "", NULL, &pg), 0);
	cr_assert_eq(pg.n, 1);
	s3_list_page_release(&pg);
	free(b.s);

	/* A token longer than S3_TOKEN_MAX is refused. */
	memset(&b, 0, sizeof(b));
	sb_add(&b, LHEAD "<IsTruncated>true</IsTruncated><NextContinuationToken>");
	for (i = 0; i < S3_TOKEN_MAX + 1; i++)
		sb_add(&b, "t");
	sb_add(&b, "</NextContinuationToken>" LTAIL);
	cr_assert_eq(parse(b.s, "", NULL, &pg), EIO);
	free(b.s);
}

Test(s3_xml, hostile)
{
	static const char *const bad[] = {
		/* Billion laughs, external entities, any DOCTYPE at all. */
		"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
		"<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
		"<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
		"<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
		"<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
		"<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
		"<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
		"<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
		"<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">]>"
		"<ListBucketResult><Contents><Key>&lol9;</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
		"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
		"<ListBucketResult><Contents><Key>&e;</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
		"<!DOCTYPE ListBucketResult><ListBucketResult></ListBucketResult>",
		/* An undefined entity. */
		LHEAD ENTRY("&nope;", "1") LTAIL,
		/* A NUL through a character reference is not XML. */
		LHEAD ENTRY("p/a&#0;b", "1") LTAIL,
		/* Bad UTF-8. */
		LHEAD ENTRY("p/\xff\xfe", "1") LTAIL,
	};
	struct s3_list_page pg;
	struct sb b = { 0 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert_eq(parse(bad[i], "", NULL, &pg), EIO, "case %zu", i);

	/* Nesting 100000 deep. */
	sb_add(&b, LHEAD);
	for (i = 0; i < 100000; i++)
		sb_add(&b, "<a>");
	for (i = 0; i < 100000; i++)
		sb_add(&b, "</a>");
	sb_add(&b, LTAIL);
	cr_assert_eq(parse(b.s, "", NULL, &pg), EIO);
	free(b.s);
}

Test(s3_xml, error_code)
{
	static const char body[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>"
				   "<Code>SignatureDoesNotMatch</Code><Message>x</Message>"
				   "<RequestId>r</RequestId></Error>";
	static const char *const none[] = {
		"",
		"garbage",
		"<Error><Message>no code</Message></Error>",
		"<NotError><Code>X</Code></NotError>",
		"<Error><Code>Bad Code</Code></Error>",
		"<Error><Code>Bad\x1b[31mCode</Code></Error>",
		("<Error><Code>ThisCodeIsMuchTooLongForOurBufferOfSixtyFourBytesAndMoreXXXXXXXX"
		 "</Code></Error>"),
		"<Error><Code><b>X</b></Code></Error>",
		"<!DOCTYPE Error [<!ENTITY e \"X\">]><Error><Code>&e;</Code></Error>",
	};
	char code[S3_CODE_MAX];
	size_t i;

	s3_error_code(body, sizeof(body) - 1, code, sizeof(code));
	cr_assert_str_eq(code, "SignatureDoesNotMatch");
	/* An error body we cut after its Code still names it. */
	s3_error_code(body, 60, code, sizeof(code));
	cr_assert_str_eq(code, "");
	s3_error_code(body, strstr(body, "<Message>") - body, code, sizeof(code));
	cr_assert_str_eq(code, "SignatureDoesNotMatch");
	for (i = 0; i < ARRAY_SIZE(none); i++) {
		s3_error_code(none[i], strlen(none[i]), code, sizeof(code));
		cr_assert_str_eq(code, "", "case %zu", i);
	}
}

/* ==== a scripted fake server ==== */

#define FAKE_MAX 32
#define FAKE_SECRET "fake/secret+KEY"

struct fake_resp {
	int status; /* 0: close the connection without an answer */
	const char *body;
};

struct fake_conn {
	int fd;
	int continued; /* "100 Continue" sent for the request being read */
	char buf[65536];
	size_t len;
};

static struct {
	int lfd, port, wake[2];
	pthread_t th;
	struct fake_resp resp[FAKE_MAX];
	int nresp, next;
	char req[FAKE_MAX][4096]; /* head of every request, in order */
	int nreq;
} fk;

static void fake_send(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Answers the complete requests in c; 0 to keep the connection, -1 to close it. */
static int fake_serve(struct fake_conn *c)
{
	char *end, *cl, head[512];
	size_t hlen, blen, total;
	struct fake_resp r;
	const char *body;

	for (;;) {
		c->buf[c->len] = '\0';
		end = strstr(c->buf, "\r\n\r\n");
		if (!end)
			return 0;
		hlen = (size_t)(end - c->buf) + 4;
		cl = strcasestr(c->buf, "\r\nContent-Length:");
		blen = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
		total = hlen + blen;
		if (c->len < total) {
			/* Like real servers: a PUT with Expect gets its go-ahead at once. */
			if (!c->continued && strcasestr(c->buf, "\r\nExpect: 100-continue")) {
				fake_send(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
				c->continued = 1;
			}
			return 0;
		}
		c->continued = 0;
		if (fk.nreq < FAKE_MAX) {
			snprintf(fk.req[fk.nreq], sizeof(fk.req[0]), "%.*s", (int)hlen, c->buf);
			fk.nreq++;
		}
		r = fk.next < fk.nresp ? fk.resp[fk.next] : (struct fake_resp){ 500, "" };
		fk.next++;
		if (!r.status)
			return -1;
		body = r.body ? r.body : "";
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d Fake\r\nContent-Length: %zu\r\nContent-Type: application/xml"
			 "\r\n%s\r\n",
			 r.status, strlen(body),
			 r.status == 206 ? "Content-Range: bytes 0-0/1\r\n" : "");
		fake_send(c->fd, head, strlen(head));
		if (strncmp(c->buf, "HEAD ", 5))
			fake_send(c->fd, body, strlen(body));
		memmove(c->buf, c->buf + total, c->len - total);
		c->len -= total;
	}
}

static void *fake_main(void *arg)
{
	struct fake_conn conns[8];
	struct pollfd pf[10];
	int nconn = 0, i, fd;
	ssize_t n;

	for (;;) {
		pf[0] = (struct pollfd){ .fd = fk.wake[0], .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = fk.lfd, .events = POLLIN };
		for (i = 0; i < nconn; i++)
			pf[2 + i] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
		if (poll(pf, (nfds_t)(2 + nconn), -1) < 0)
			continue;
		if (pf[0].revents)
			break;
		for (i = nconn - 1; i >= 0; i--) {
			if (!pf[2 + i].revents)
				continue;
			n = read(conns[i].fd, conns[i].buf + conns[i].len,
				 sizeof(conns[i].buf) - 1 - conns[i].len);
			if (n > 0)
				conns[i].len += (size_t)n;
			if (n <= 0 || fake_serve(&conns[i]) < 0) {
				close(conns[i].fd);
				conns[i] = conns[--nconn];
			}
		}
		if (pf[1].revents) {
			fd = accept(fk.lfd, NULL, NULL);
			if (fd >= 0 && nconn < 8) {
				conns[nconn].fd = fd;
				conns[nconn].len = 0;
				conns[nconn].continued = 0;
				nconn++;
			} else if (fd >= 0) {
				close(fd);
			}
		}
	}
	for (i = 0; i < nconn; i++)
		close(conns[i].fd);
	return NULL;
}

static void fake_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	fk.lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fk.lfd, 0);
	cr_assert_eq(bind(fk.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fk.lfd, 16), 0);
	cr_assert_eq(getsockname(fk.lfd, (struct sockaddr *)&a, &alen), 0);
	fk.port = ntohs(a.sin_port);
	cr_assert_eq(pipe(fk.wake), 0);
	cr_assert_eq(pthread_create(&fk.th, NULL, fake_main, NULL), 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	setenv("AWS_ACCESS_KEY_ID", "AK:with:colons", 1);
	setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET, 1);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
}

static struct be *g_be;

static void fake_stop(void)
{
	be_destroy(g_be);
	g_be = NULL;
	if (fk.th) {
		fake_send(fk.wake[1], "x", 1);
		pthread_join(fk.th, NULL);
		close(fk.lfd);
		close(fk.wake[0]);
		close(fk.wake[1]);
	}
	curl_global_cleanup();
}

static void fake_script(const struct fake_resp *r, int n)
{
	int i;

	for (i = 0; i < n && fk.nresp < FAKE_MAX; i++)
		fk.resp[fk.nresp++] = r[i];
}

static void fake_conf(struct be_s3_conf *c, char *ep, size_t eplen)
{
	snprintf(ep, eplen, "http://127.0.0.1:%d", fk.port);
	*c = (struct be_s3_conf){ .bucket = "bkt", .prefix = "pre/", .endpoint = ep };
}

#define EMPTY_LIST LHEAD "<IsTruncated>false</IsTruncated>" LTAIL

/* The answers of a good create: the bucket listing, then the probe (412 on the second try). */
static const struct fake_resp create_ok[] = {
	{ 200, EMPTY_LIST }, { 200, "" }, { 412, "<Error><Code>PreconditionFailed</Code></Error>" },
	{ 204, "" },
};

static struct be *fake_open_with(struct be_s3_conf *c)
{
	const char *why = NULL;
	int err;

	fake_script(create_ok, ARRAY_SIZE(create_ok));
	err = be_s3_create(c, &g_be, &why);
	cr_assert_eq(err, 0, "create: %d %s", err, why ? why : "");
	cr_assert_eq(fk.nreq, 4);
	return g_be;
}

static struct be *fake_open(void)
{
	struct be_s3_conf c;
	static char ep[64];

	fake_conf(&c, ep, sizeof(ep));
	return fake_open_with(&c);
}

static void no_secret_anywhere(void)
{
	int i;

	for (i = 0; i < fk.nreq; i++)
		cr_assert_null(strstr(fk.req[i], FAKE_SECRET), "secret in request %d", i);
}

Test(s3_fake, requests_on_the_wire, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp rest[] = { { 200, "" }, { 206, "3456" }, { 204, "" } };
	struct be *be = fake_open();
	char buf[8];
	size_t got;

	/* The bucket check: a signed ListObjectsV2 with a sorted, encoded query. */
	cr_assert(!strncmp(fk.req[0], "GET /bkt?list-type=2&max-keys=1&prefix=pre%2F HTTP/1.1\r\n",
			   56), "%s", fk.req[0]);
	cr_assert_not_null(strstr(fk.req[0], "\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"));
	cr_assert_not_null(strstr(fk.req[0], "\r\nAuthorization: AWS4-HMAC-SHA256 "
					     "Credential=AK:with:colons/"));
	cr_assert_not_null(strstr(fk.req[0], "/us-east-1/s3/aws4_request, "
					     "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
					     "Signature="));
	cr_assert_not_null(strstr(fk.req[0], "\r\nHost: 127.0.0.1:"));
	/* The probe: twice the same random key under the prefix, If-None-Match, then gone. */
	cr_assert(!strncmp(fk.req[1], "PUT /bkt/pre/.artifs-probe/", 27), "%s", fk.req[1]);
	cr_assert_not_null(strstr(fk.req[1], "\r\nIf-None-Match: *\r\n"));
	cr_assert_not_null(strstr(fk.req[1], "if-none-match"), "If-None-Match is signed");
	cr_assert(!strncmp(fk.req[2], fk.req[1], 44));
	cr_assert(!strncmp(fk.req[3], "DELETE /bkt/pre/.artifs-probe/", 30), "%s", fk.req[3]);
	cr_assert(be_s3_conditional_writes(be));

	fake_script(rest, ARRAY_SIZE(rest));
	/* Keys: everything but unreserved bytes and '/' is percent-encoded. */
	cr_assert_eq(be_put(be, "a b/c+d=e&f~g", "x", 1), 0);
	cr_assert(!strncmp(fk.req[4], "PUT /bkt/pre/a%20b/c%2Bd%3De%26f~g HTTP/1.1\r\n", 45), "%s",
		  fk.req[4]);
	cr_assert_null(strstr(fk.req[4], "If-None-Match"));
	cr_assert_eq(be_get(be, "k", 3, 4, buf, &got), 0);
	cr_assert_eq(got, 4);
	cr_assert_eq(memcmp(buf, "3456", 4), 0);
	cr_assert_not_null(strstr(fk.req[5], "\r\nRange: bytes=3-6\r\n"));
	cr_assert_eq(be_del(be, "k"), 0);
	cr_assert(!strncmp(fk.req[6], "DELETE /bkt/pre/k HTTP/1.1\r\n", 28));
	no_secret_anywhere();
}

Test(s3_fake, session_token_and_region, .init = fake_start, .fini = fake_stop)
{
	struct be_s3_conf c;
	char ep[64];

	setenv("AWS_SESSION_TOKEN", "the/token+=", 1);
	setenv("AWS_REGION", "eu-west-3", 1);
	fake_conf(&c, ep, sizeof(ep));
	fake_open_with(&c);
	cr_assert_not_null(strstr(fk.req[0], "\r\nx-amz-security-token: the/token+=\r\n"));
	cr_assert_not_null(strstr(fk.req[0], "/eu-west-3/s3/aws4_request, "
					     "SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
					     "x-amz-security-token, "));
}

Test(s3_fake, credentials_file, .init = fake_start, .fini = fake_stop)
{
	char path[] = "/tmp/artifs-test-creds.XXXXXX";
	static const char text[] = "[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n"
				   "[p2]\naws_access_key_id = FROMFILE\n"
				   "aws_secret_access_key = " FAKE_SECRET "\n";
	struct be_s3_conf c;
	struct be *other = NULL;
	const char *why = NULL;
	char ep[64];
	int fd;

	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_PROFILE", "p2", 1);
	fake_conf(&c, ep, sizeof(ep));
	fake_open_with(&c);
	cr_assert_not_null(strstr(fk.req[0], "Credential=FROMFILE/"));
	no_secret_anywhere();

	/* A profile the file lacks: EACCES before any request. */
	setenv("AWS_PROFILE", "nope", 1);
	cr_assert_eq(be_s3_create(&c, &other, &why), EACCES);
	cr_assert_null(other);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, "nope"), "%s", why);
	cr_assert_eq(fk.nreq, 4);
	unlink(path);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	cr_assert_eq(be_s3_create(&c, &other, &why), EACCES);
	cr_assert_eq(fk.nreq, 4);
}

Test(s3_fake, virtual_host, .init = fake_start, .fini = fake_stop)
{
	struct be_s3_conf c;
	struct be *other = (struct be *)1;
	char ep[64];

	snprintf(ep, sizeof(ep), "http://localhost:%d/", fk.port);
	c = (struct be_s3_conf){ .bucket = "bkt", .prefix = "", .endpoint = ep,
				 .virtual_host = 1 };
	fake_open_with(&c);
	/* curl resolves every *.localhost name to loopback. */
	cr_assert(!strncmp(fk.req[0], "GET /?list-type=2&max-keys=1 HTTP/1.1\r\n", 39), "%s",
		  fk.req[0]);
	cr_assert_not_null(strstr(fk.req[0], "\r\nHost: bkt.localhost:"), "%s", fk.req[0]);
	cr_assert(!strncmp(fk.req[1], "PUT /.artifs-probe/", 19), "%s", fk.req[1]);
	/* Upper case and '_' cannot be in a host name. */
	c.bucket = "Bkt_1";
	cr_assert_eq(be_s3_create(&c, &other, NULL), EINVAL);
	cr_assert_null(other);
}

static void expect_create_fails(const struct fake_resp *r, int n, int want_err,
				const char *want_why)
{
	struct be_s3_conf c;
	const char *why = NULL;
	char ep[64];

	fake_conf(&c, ep, sizeof(ep));
	fake_script(r, n);
	cr_assert_eq(be_s3_create(&c, &g_be, &why), want_err);
	cr_assert_null(g_be);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, want_why), "why: %s", why);
	cr_assert_not_null(strstr(why, ep), "why names the endpoint: %s", why);
	cr_assert_null(strstr(why, FAKE_SECRET));
	no_secret_anywhere();
}

Test(s3_fake, create_errors, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp sig[] = {
		{ 403, "<Error><Code>SignatureDoesNotMatch</Code></Error>" }
	};
	static const struct fake_resp key[] = {
		{ 403, "<Error><Code>InvalidAccessKeyId</Code></Error>" }
	};
	static const struct fake_resp denied[] = {
		{ 403, "<Error><Code>AccessDenied</Code></Error>" }
	};
	static const struct fake_resp nobucket[] = {
		{ 404, "<Error><Code>NoSuchBucket</Code></Error>" }
	};
	static const struct fake_resp html[] = { { 200, "<html>hello</html>" } };
	static const struct fake_resp unauth[] = { { 401, "" } };

	expect_create_fails(sig, 1, EPERM, "SignatureDoesNotMatch (403)");
	expect_create_fails(key, 1, EPERM, "InvalidAccessKeyId (403)");
	expect_create_fails(denied, 1, EACCES, "AccessDenied (403)");
	expect_create_fails(nobucket, 1, ENOENT, "NoSuchBucket (404)");
	expect_create_fails(html, 1, EIO, "not an S3 answer");
	expect_create_fails(unauth, 1, EACCES, "(401)");
}

Test(s3_fake, create_bad_conf, .init = fake_start, .fini = fake_stop)
{
	static const char *const eps[] = { "ftp://x", "http://", "127.0.0.1:80",
					   "http://user:pw@host", "http://h/a?b", "http://h x" };
	struct be_s3_conf c = { .bucket = "bkt" };
	const char *why;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(eps); i++) {
		c.endpoint = eps[i];
		why = NULL;
		cr_assert_eq(be_s3_create(&c, &g_be, &why), EINVAL, "%s", eps[i]);
		cr_assert_not_null(why);
		cr_assert_null(strstr(why, "pw"), "%s", why);
	}
	c.endpoint = "http://127.0.0.1:1";
	c.prefix = "noslash";
	cr_assert_eq(be_s3_create(&c, &g_be, NULL), EINVAL);
	c.prefix = "/abs/";
	cr_assert_eq(be_s3_create(&c, &g_be, NULL), EINVAL);
	c.prefix = "a//";
	cr_assert_eq(be_s3_create(&c, &g_be, NULL), EINVAL);
	c.prefix = NULL;
	c.region = "us:east";
	cr_assert_eq(be_s3_create(&c, &g_be, NULL), EINVAL);
	c.region = NULL;
	c.bucket = "x";
	cr_assert_eq(be_s3_create(&c, &g_be, NULL), EINVAL);
	cr_assert_eq(be_s3_create(NULL, &g_be, NULL), EINVAL);
	cr_assert_eq(fk.nreq, 0);
}

/* Nothing listens on port 1: connect fails at once, is retried, and create says why. */
Test(s3_fake, unreachable, .init = fake_start, .fini = fake_stop)
{
	struct be_s3_conf c = { .bucket = "bkt", .endpoint = "http://127.0.0.1:1" };
	const char *why = NULL;

	cr_assert_eq(be_s3_create(&c, &g_be, &why), EIO);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, "http://127.0.0.1:1"), "%s", why);
}

Test(s3_fake, probe_not_implemented, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp r[] = {
		{ 200, EMPTY_LIST }, { 501, "<Error><Code>NotImplemented</Code></Error>" }
	};
	struct be_s3_conf c;
	char ep[64];
	int n;

	fake_conf(&c, ep, sizeof(ep));
	fake_script(r, ARRAY_SIZE(r));
	cr_assert_eq(be_s3_create(&c, &g_be, NULL), 0);
	cr_assert_not(be_s3_conditional_writes(g_be));
	n = fk.nreq;
	/* Refused without a request; plain puts still work. */
	cr_assert_eq(be_put_new(g_be, "k", "x", 1), ENOTSUP);
	cr_assert_eq(fk.nreq, n);
	fk.resp[fk.nresp++] = (struct fake_resp){ 200, "" };
	cr_assert_eq(be_put(g_be, "k", "x", 1), 0);
}

/* A store that ignores If-None-Match would let put_new overwrite: treated as unsupported. */
Test(s3_fake, probe_ignored, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp r[] = {
		{ 200, EMPTY_LIST }, { 200, "" }, { 200, "" }, { 204, "" }
	};
	struct be_s3_conf c;
	char ep[64];

	fake_conf(&c, ep, sizeof(ep));
	fake_script(r, ARRAY_SIZE(r));
	cr_assert_eq(be_s3_create(&c, &g_be, NULL), 0);
	cr_assert_not(be_s3_conditional_writes(g_be));
	cr_assert_eq(be_put_new(g_be, "k", "x", 1), ENOTSUP);
	cr_assert_eq(fk.nreq, 4);
}

/* A key we may not write does not fail the mount; put_new then learns from its answers. */
Test(s3_fake, probe_denied, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp r[] = {
		{ 200, EMPTY_LIST }, { 403, "<Error><Code>AccessDenied</Code></Error>" },
		{ 412, "" }, { 501, "" },
	};
	struct be_s3_conf c;
	char ep[64];

	fake_conf(&c, ep, sizeof(ep));
	fake_script(r, ARRAY_SIZE(r));
	cr_assert_eq(be_s3_create(&c, &g_be, NULL), 0);
	cr_assert_not(be_s3_conditional_writes(g_be));
	cr_assert_eq(be_put_new(g_be, "k", "x", 1), EEXIST);
	cr_assert_eq(be_put_new(g_be, "k", "x", 1), ENOTSUP);
	cr_assert_eq(be_put_new(g_be, "k", "x", 1), ENOTSUP);
	cr_assert_eq(fk.nreq, 4);
}

Test(s3_fake, retries, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp r[] = {
		{ 503, "<Error><Code>SlowDown</Code></Error>" },
		{ 500, "<Error><Code>InternalError</Code></Error>" },
		{ 0, NULL },
		{ 429, "" },
		{ 400, "<Error><Code>RequestTimeout</Code></Error>" },
		{ 206, "abcd" },
	};
	struct be_s3_stats st;
	struct be *be = fake_open();
	char buf[8];
	size_t got;

	fake_script(r, ARRAY_SIZE(r));
	cr_assert_eq(be_get(be, "k", 0, 4, buf, &got), 0);
	cr_assert_eq(got, 4);
	cr_assert_eq(memcmp(buf, "abcd", 4), 0);
	cr_assert_eq(be_s3_stats(be, &st), 0);
	/* curl itself may retry once on a reused connection that closed without answering. */
	cr_assert(st.retries == 5 || st.retries == 4, "%llu retries",
		  (unsigned long long)st.retries);
	cr_assert_eq(fk.nreq, 4 + (int)ARRAY_SIZE(r));
	cr_assert_eq(st.errors, 0);
	cr_assert_eq(st.gets, 1);
	cr_assert_eq(st.bytes_in, 4);
}

Test(s3_fake, retries_exhausted, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp r[] = {
		{ 503, "" }, { 502, "" }, { 504, "" }, { 200, "" },
	};
	struct be_s3_conf c;
	struct be_s3_stats st;
	char ep[64];
	int n;

	fake_conf(&c, ep, sizeof(ep));
	c.max_retries = 2;
	fake_open_with(&c);
	fake_script(r, ARRAY_SIZE(r));
	n = fk.nreq;
	cr_assert_eq(be_put(g_be, "k", "x", 1), EIO);
	cr_assert_eq(fk.nreq, n + 3, "1 try + max_retries retries");
	cr_assert_eq(be_s3_stats(g_be, &st), 0);
	cr_assert_eq(st.retries, 2);
	cr_assert_eq(st.errors, 1);
	cr_assert_eq(be_s3_stats(NULL, &st), EINVAL);
}

Test(s3_fake, status_mapping, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp r[] = {
		{ 416, "<Error><Code>InvalidRange</Code></Error>" },
		{ 404, "<Error><Code>NoSuchKey</Code></Error>" },
		{ 404, "" },
		{ 404, "<Error><Code>NoSuchKey</Code></Error>" },
		{ 404, "<Error><Code>NoSuchBucket</Code></Error>" },
		{ 412, "<Error><Code>PreconditionFailed</Code></Error>" },
		{ 403, "<Error><Code>AccessDenied</Code></Error>" },
		{ 403, "<Error><Code>QuotaExceeded</Code></Error>" },
		{ 400, "<Error><Code>EntityTooLarge</Code></Error>" },
		{ 400, "<Error><Code>InvalidArgument</Code></Error>" },
		{ 301, "<Error><Code>PermanentRedirect</Code></Error>" },
		{ 200, "" },
		{ 404, "<Error><Code>NoSuchBucket</Code></Error>" },
	};
	struct be *be = fake_open();
	struct be_s3_stats st;
	uint64_t size;
	char buf[8];
	size_t got = 99;

	fake_script(r, ARRAY_SIZE(r));
	cr_assert_eq(be_get(be, "k", 100, 4, buf, &got), 0);
	cr_assert_eq(got, 0);
	cr_assert_eq(be_get(be, "k", 0, 4, buf, &got), ENOENT);
	cr_assert_eq(be_head(be, "k", &size), ENOENT);
	cr_assert_eq(be_del(be, "k"), 0);
	cr_assert_eq(be_del(be, "k"), ENOENT, "the bucket is gone");
	cr_assert_eq(be_put_new(be, "k", "x", 1), EEXIST);
	cr_assert_eq(be_put(be, "k", "x", 1), EACCES);
	cr_assert_eq(be_put(be, "k", "x", 1), EDQUOT);
	cr_assert_eq(be_put(be, "k", "x", 1), EFBIG);
	cr_assert_eq(be_put(be, "k", "x", 1), EINVAL);
	cr_assert_eq(be_put(be, "k", "x", 1), EIO);
	cr_assert_eq(be_head(be, "k", &size), 0);
	cr_assert_eq(size, 0);
	cr_assert_eq(be_list(be, "", NULL, NULL), ENOENT);
	cr_assert_eq(be_s3_stats(be, &st), 0);
	cr_assert_eq(st.retries, 0);
	cr_assert_eq(st.errors, 7);

	/* Bad keys never reach the wire. */
	cr_assert_eq(be_put(be, "", "x", 1), EINVAL);
	cr_assert_eq(be_put(be, "/abs", "x", 1), EINVAL);
	cr_assert_eq(be_put(be, "a//b", "x", 1), EINVAL);
	cr_assert_eq(be_put(be, "a/../b", "x", 1), EINVAL);
	cr_assert_eq(be_put(be, "a/", "x", 1), EINVAL);
	cr_assert_eq(be_put(be, "a\nb", "x", 1), EINVAL);
	cr_assert_eq(be_put(be, ".artifs-probe/x", "x", 1), EINVAL);
	cr_assert_eq(be_head(be, "./a", &size), EINVAL);
	cr_assert_eq(be_list(be, "/x", NULL, NULL), EINVAL);
	cr_assert_eq(fk.nreq, 4 + (int)ARRAY_SIZE(r));
}

struct collect {
	char keys[16][64];
	uint64_t sizes[16];
	int n;
};

static int collect_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct collect *c = arg;

	cr_assert_lt(c->n, 16);
	snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", key);
	c->sizes[c->n] = size;
	c->n++;
	return 0;
}

Test(s3_fake, list_paging, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp r[] = {
		{ 200, LHEAD "<IsTruncated>true</IsTruncated>"
		       "<NextContinuationToken>t/+= x</NextContinuationToken>"
		       ENTRY("pre/.artifs-probe/0123", "5") ENTRY("pre/a", "1")
		       ENTRY("pre/b/", "0") LTAIL },
		{ 200, LHEAD "<IsTruncated>false</IsTruncated>" ENTRY("pre/c", "3") LTAIL },
	};
	struct be *be = fake_open();
	struct collect c = { .n = 0 };

	fake_script(r, ARRAY_SIZE(r));
	cr_assert_eq(be_list(be, "", collect_fn, &c), 0);
	cr_assert(!strncmp(fk.req[4], "GET /bkt?list-type=2&max-keys=1000&prefix=pre%2F ", 49),
		  "%s", fk.req[4]);
	cr_assert(!strncmp(fk.req[5], "GET /bkt?continuation-token=t%2F%2B%3D%20x&list-type=2"
				      "&max-keys=1000&prefix=pre%2F ", 83), "%s", fk.req[5]);
	/* Keys come relative to the prefix, probe keys and "dir/" markers hidden. */
	cr_assert_eq(c.n, 2);
	cr_assert_str_eq(c.keys[0], "a");
	cr_assert_eq(c.sizes[0], 1);
	cr_assert_str_eq(c.keys[1], "c");
	cr_assert_eq(c.sizes[1], 3);
}

Test(s3_fake, list_hostile, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp r[] = {
		/* A key outside what we asked for. */
		{ 200, LHEAD ENTRY("other/a", "1") LTAIL },
		/* A second page going backwards. */
		{ 200, LHEAD "<IsTruncated>true</IsTruncated>"
		       "<NextContinuationToken>t</NextContinuationToken>" ENTRY("pre/b", "1") LTAIL },
		{ 200, LHEAD ENTRY("pre/a", "1") LTAIL },
		/* Garbage. */
		{ 200, "<ListBucketResult><Contents>" },
	};
	struct be *be = fake_open();
	struct collect c = { .n = 0 };
	struct be_s3_stats st;
	struct fake_resp empty = { 200, LHEAD "<IsTruncated>true</IsTruncated>"
					"<NextContinuationToken>t</NextContinuationToken>" LTAIL };
	int i;

	fake_script(r, ARRAY_SIZE(r));
	cr_assert_eq(be_list(be, "", collect_fn, &c), EIO);
	cr_assert_eq(be_list(be, "", collect_fn, &c), EIO);
	cr_assert_eq(c.n, 1, "the first page was good");
	cr_assert_eq(be_list(be, "", collect_fn, &c), EIO);
	/* Truncated empty pages forever: we give up rather than loop. */
	for (i = 0; i < 20; i++)
		fake_script(&empty, 1);
	cr_assert_eq(be_list(be, "", collect_fn, &c), EIO);
	cr_assert_eq(be_s3_stats(be, &st), 0);
	cr_assert_eq(st.errors, 4);
}

/* A server that ignores Range sends the whole object: we take our slice of it. */
Test(s3_fake, range_ignored, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp r[] = { { 200, "0123456789" }, { 200, "0123456789" } };
	struct be *be = fake_open();
	char buf[8];
	size_t got;

	fake_script(r, ARRAY_SIZE(r));
	cr_assert_eq(be_get(be, "k", 3, 4, buf, &got), 0);
	cr_assert_eq(got, 4);
	cr_assert_eq(memcmp(buf, "3456", 4), 0);
	cr_assert_eq(be_get(be, "k", 8, 4, buf, &got), 0);
	cr_assert_eq(got, 2);
	cr_assert_eq(memcmp(buf, "89", 2), 0);
}

/*
 * put_new whose first answer is lost (the server stored the object, then the connection died
 * before the answer came): the retry meets 412. When the object holds exactly our bytes, it
 * is our own write and put_new succeeds; other bytes, a longer object or none are someone
 * else's (EEXIST). Answering EEXIST to our own write made one commit two versions.
 */
#define PF "<Error><Code>PreconditionFailed</Code></Error>"

static void expect_put_new(const struct fake_resp *r, int n, int want, int want_reqs)
{
	int first = fk.nreq, i;

	fake_script(r, n);
	cr_assert_eq(be_put_new(g_be, "versions/p/a/1", "manifest", 8), want, "script of %d", n);
	cr_assert_eq(fk.nreq - first, want_reqs, "%d requests", fk.nreq - first);
	for (i = first; i < fk.nreq; i++) {
		int get = i == first + want_reqs - 1 && want_reqs > 2;

		cr_assert(!strncmp(fk.req[i], get ? "GET " : "PUT ", 4), "request %d: %s", i,
			  fk.req[i]);
		cr_assert(!strncmp(fk.req[i] + 4, "/bkt/pre/versions/p/a/1 HTTP/1.1\r\n", 34),
			  "%s", fk.req[i]);
		if (get)
			cr_assert_not_null(strstr(fk.req[i], "\r\nRange: bytes=0-8\r\n"), "%s",
					   fk.req[i]);
		else
			cr_assert_not_null(strstr(fk.req[i], "\r\nIf-None-Match: *\r\n"));
	}
}

Test(s3_fake, put_new_lost_answer, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp ours[] = { { 0, NULL }, { 412, PF }, { 206, "manifest" } };
	static const struct fake_resp longer[] = { { 0, NULL }, { 412, PF }, { 206, "manifest!" } };
	static const struct fake_resp other[] = { { 0, NULL }, { 412, PF }, { 206, "Manifest" } };
	static const struct fake_resp gone[] = {
		{ 0, NULL }, { 412, PF }, { 404, "<Error><Code>NoSuchKey</Code></Error>" }
	};
	static const struct fake_resp busy[] = { { 503, "" }, { 412, PF }, { 206, "manifest" } };
	static const struct fake_resp first[] = { { 412, PF } };

	fake_open();
	expect_put_new(ours, ARRAY_SIZE(ours), 0, 3);
	expect_put_new(longer, ARRAY_SIZE(longer), EEXIST, 3);
	expect_put_new(other, ARRAY_SIZE(other), EEXIST, 3);
	expect_put_new(gone, ARRAY_SIZE(gone), EEXIST, 3);
	/* A 5xx may come after the work was done, too. */
	expect_put_new(busy, ARRAY_SIZE(busy), 0, 3);
	/* A 412 to the first and only send is someone else's: no read-back. */
	expect_put_new(first, ARRAY_SIZE(first), EEXIST, 1);
}

/*
 * put_new that never gets an answer (every attempt dropped after the body went out): the
 * object may still be ours. One read tells: our bytes -> 0, other bytes -> EEXIST, none (or
 * no answer to the read either) -> the put's own EIO. Either PUT attempt may be resent once by
 * curl on a fresh connection, so the script has a spare drop that the read then retries past.
 */
Test(s3_fake, put_new_no_answer, .init = fake_start, .fini = fake_stop)
{
	static const struct fake_resp ours[] = { { 0, NULL }, { 0, NULL }, { 0, NULL },
						 { 206, "manifest" } };
	static const struct fake_resp other[] = { { 0, NULL }, { 0, NULL }, { 0, NULL },
						  { 206, "Manifest" } };
	static const struct fake_resp none[] = {
		{ 0, NULL }, { 0, NULL }, { 0, NULL }, { 404, "<Error><Code>NoSuchKey</Code></Error>" }
	};
	struct be_s3_conf c;
	char ep[64];
	int first;

	fake_conf(&c, ep, sizeof(ep));
	c.max_retries = 1;
	fake_open_with(&c);
	fake_script(ours, ARRAY_SIZE(ours));
	cr_assert_eq(be_put_new(g_be, "versions/p/a/1", "manifest", 8), 0);
	cr_assert(!strncmp(fk.req[fk.nreq - 1], "GET /bkt/pre/versions/p/a/1 ", 28), "%s",
		  fk.req[fk.nreq - 1]);
	fake_script(other, ARRAY_SIZE(other));
	first = fk.next;
	cr_assert_eq(be_put_new(g_be, "versions/p/a/1", "manifest", 8), EEXIST);
	cr_assert_eq(fk.next, first + 4);
	fake_script(none, ARRAY_SIZE(none));
	cr_assert_eq(be_put_new(g_be, "versions/p/a/1", "manifest", 8), EIO);
	cr_assert_eq(fk.next, first + 8);
}

/* ==== against a real server ==== */

static char g_prefix[64];
static struct be_s3_conf g_conf;

static int have_server(void)
{
	return getenv("ARTIFS_S3_ENDPOINT") && getenv("AWS_ACCESS_KEY_ID") &&
	       getenv("AWS_SECRET_ACCESS_KEY");
}

#define NEED_SERVER()                                                                      \
	do {                                                                               \
		if (!have_server())                                                        \
			cr_skip_test("no S3 server: set ARTIFS_S3_ENDPOINT, AWS_ACCESS_KEY_ID " \
				     "and AWS_SECRET_ACCESS_KEY (tests/s3/server.sh)");    \
	} while (0)

static void real_conf(struct be_s3_conf *c)
{
	uint32_t r = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	cr_assert_eq(getrandom(&r, sizeof(r), 0), (ssize_t)sizeof(r));
	snprintf(g_prefix, sizeof(g_prefix), "t-%d-%08x/", (int)getpid(), r);
	*c = (struct be_s3_conf){ .bucket = "artifs-unit", .prefix = g_prefix,
				  .endpoint = getenv("ARTIFS_S3_ENDPOINT") };
}

static struct be *real_open(void)
{
	const char *why = NULL;
	int err;

	NEED_SERVER();
	real_conf(&g_conf);
	err = s3_bucket_create(&g_conf, &why);
	cr_assert_eq(err, 0, "bucket: %d %s", err, why ? why : "");
	err = be_s3_create(&g_conf, &g_be, &why);
	cr_assert_eq(err, 0, "create: %d %s", err, why ? why : "");
	return g_be;
}

struct keylist {
	char **keys;
	size_t n, cap;
};

static int keylist_add(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct keylist *k = arg;

	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 64;
		k->keys = realloc(k->keys, k->cap * sizeof(*k->keys));
		cr_assert_not_null(k->keys);
	}
	k->keys[k->n] = strdup(key);
	cr_assert_not_null(k->keys[k->n]);
	k->n++;
	return 0;
}

static void keylist_free(struct keylist *k)
{
	while (k->n)
		free(k->keys[--k->n]);
	free(k->keys);
	memset(k, 0, sizeof(*k));
}

/* Empties this test's prefix, so that runs leave the bucket as they found it. */
static void real_teardown(void)
{
	struct keylist k = { 0 };
	size_t i;

	if (g_be && !be_list(g_be, "", keylist_add, &k))
		for (i = 0; i < k.n; i++)
			be_del(g_be, k.keys[i]);
	keylist_free(&k);
	be_destroy(g_be);
	g_be = NULL;
	curl_global_cleanup();
}

static void put_str(struct be *be, const char *key, const char *s)
{
	cr_assert_eq(be_put(be, key, s, strlen(s)), 0, "put %s", key);
}

static const char *get_str(struct be *be, const char *key)
{
	static char buf[4096];
	size_t got;

	cr_assert_eq(be_get(be, key, 0, sizeof(buf) - 1, buf, &got), 0, "get %s", key);
	buf[got] = '\0';
	return buf;
}

#define REAL_TEST(name) Test(s3_real, name, .fini = real_teardown, .timeout = 300)

REAL_TEST(get_whole)
{
	struct be *be = real_open();

	put_str(be, "a/b/c", "hello, world");
	cr_assert_str_eq(get_str(be, "a/b/c"), "hello, world");
}

REAL_TEST(get_range)
{
	struct be *be = real_open();
	char buf[16];
	size_t got;

	put_str(be, "obj", "0123456789");
	cr_assert_eq(be_get(be, "obj", 3, 4, buf, &got), 0);
	cr_assert_eq(got, 4);
	cr_assert_eq(memcmp(buf, "3456", 4), 0);
	cr_assert_eq(be_get(be, "obj", 7, 10, buf, &got), 0);
	cr_assert_eq(got, 3);
	cr_assert_eq(memcmp(buf, "789", 3), 0);
	cr_assert_eq(be_get(be, "obj", 0, 1, buf, &got), 0);
	cr_assert_eq(got, 1);
	cr_assert_eq(buf[0], '0');
	cr_assert_eq(be_get(be, "obj", 5, 0, buf, &got), 0);
	cr_assert_eq(got, 0);
	cr_assert_eq(be_get(be, "nope", 5, 0, buf, &got), ENOENT);
}

REAL_TEST(get_past_end)
{
	struct be *be = real_open();
	char buf[16];
	size_t got = 99;

	put_str(be, "obj", "0123456789");
	cr_assert_eq(be_get(be, "obj", 10, 4, buf, &got), 0);
	cr_assert_eq(got, 0);
	got = 99;
	cr_assert_eq(be_get(be, "obj", 1000000, 4, buf, &got), 0);
	cr_assert_eq(got, 0);
	got = 99;
	cr_assert_eq(be_get(be, "obj", UINT64_MAX - 2, 8, buf, &got), 0);
	cr_assert_eq(got, 0);
}

REAL_TEST(get_empty_object)
{
	struct be *be = real_open();
	uint64_t size = 99;
	char buf[4];
	size_t got = 99;

	cr_assert_eq(be_put(be, "empty", "", 0), 0);
	cr_assert_eq(be_head(be, "empty", &size), 0);
	cr_assert_eq(size, 0);
	cr_assert_eq(be_get(be, "empty", 0, sizeof(buf), buf, &got), 0);
	cr_assert_eq(got, 0);
}

REAL_TEST(get_missing)
{
	struct be *be = real_open();
	char buf[4];
	size_t got;

	cr_assert_eq(be_get(be, "nope", 0, sizeof(buf), buf, &got), ENOENT);
	cr_assert_eq(be_get(be, "no/such/dir/key", 0, sizeof(buf), buf, &got), ENOENT);
}

REAL_TEST(put_replace)
{
	struct be *be = real_open();
	uint64_t size;

	put_str(be, "k", "a long first value");
	put_str(be, "k", "short");
	cr_assert_str_eq(get_str(be, "k"), "short");
	cr_assert_eq(be_head(be, "k", &size), 0);
	cr_assert_eq(size, 5);
}

REAL_TEST(put_new_exclusive)
{
	struct be *be = real_open();

	cr_assert(be_s3_conditional_writes(be), "RGW honours If-None-Match: *");
	cr_assert_eq(be_put_new(be, "versions/p/a/00000000000000000001", "one", 3), 0);
	cr_assert_eq(be_put_new(be, "versions/p/a/00000000000000000001", "two", 3), EEXIST);
	cr_assert_str_eq(get_str(be, "versions/p/a/00000000000000000001"), "one");
}

REAL_TEST(head)
{
	struct be *be = real_open();
	uint64_t size = 0;

	cr_assert_eq(be_head(be, "missing", &size), ENOENT);
	cr_assert_eq(be_head(be, "dir/missing", &size), ENOENT);
	put_str(be, "dir/k", "1234567");
	cr_assert_eq(be_head(be, "dir/k", &size), 0);
	cr_assert_eq(size, 7);
	cr_assert_eq(be_head(be, "dir", &size), ENOENT);
}

REAL_TEST(del)
{
	struct be *be = real_open();
	uint64_t size;

	cr_assert_eq(be_del(be, "missing"), 0);
	cr_assert_eq(be_del(be, "no/such/dir"), 0);
	put_str(be, "x/y", "v");
	cr_assert_eq(be_del(be, "x/y"), 0);
	cr_assert_eq(be_head(be, "x/y", &size), ENOENT);
	cr_assert_eq(be_del(be, "x/y"), 0);
	cr_assert_eq(be_put_new(be, "x/y", "w", 1), 0);
}

static void expect_list(struct be *be, const char *prefix, const char *const *want, int n)
{
	struct collect c = { .n = 0 };
	int i;

	cr_assert_eq(be_list(be, prefix, collect_fn, &c), 0, "list '%s'", prefix);
	cr_assert_eq(c.n, n, "list '%s': %d keys, expected %d", prefix, c.n, n);
	for (i = 0; i < n; i++)
		cr_assert_str_eq(c.keys[i], want[i], "list '%s' [%d]", prefix, i);
}

static int stop_after_2(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	int *n = arg;

	return ++*n == 2 ? 42 : 0;
}

REAL_TEST(list_prefix_order)
{
	static const char *const all[] = {
		"a-b", "a/x", "a/y/z", "a0", "ab", "b", "chunks/00/k", "chunks/0a/k", "chunks/a0/k",
		"format",
	};
	static const char *const a[] = { "a-b", "a/x", "a/y/z", "a0", "ab" };
	static const char *const a_slash[] = { "a/x", "a/y/z" };
	static const char *const chunks0[] = { "chunks/00/k", "chunks/0a/k" };
	static const char *const exact[] = { "a/y/z" };
	struct be *be = real_open();
	size_t i;
	int n = 0;

	for (i = ARRAY_SIZE(all); i-- > 0;)
		put_str(be, all[(i * 7) % 10], all[(i * 7) % 10]);
	expect_list(be, "", all, 10);
	expect_list(be, "a", a, 5);
	expect_list(be, "a/", a_slash, 2);
	expect_list(be, "chunks/0", chunks0, 2);
	expect_list(be, "a/y/z", exact, 1);
	expect_list(be, "zzz", NULL, 0);
	expect_list(be, "nodir/", NULL, 0);
	cr_assert_eq(be_list(be, "", stop_after_2, &n), 42);
	cr_assert_eq(n, 2);
}

REAL_TEST(odd_keys)
{
	static const char *const keys[] = { "sp ace", "sym+b=o&l%s", "t~i_l-d.e",
					    "utf8-\xc3\xa9\xe2\x82\xac", "q?x#y", "a:b@c,d;e" };
	struct be *be = real_open();
	struct keylist k = { 0 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		put_str(be, keys[i], keys[i]);
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		cr_assert_str_eq(get_str(be, keys[i]), keys[i]);
	cr_assert_eq(be_list(be, "", keylist_add, &k), 0);
	cr_assert_eq(k.n, ARRAY_SIZE(keys));
	for (i = 1; i < k.n; i++)
		cr_assert_lt(strcmp(k.keys[i - 1], k.keys[i]), 0);
	keylist_free(&k);
	cr_assert_eq(be_list(be, "sym+b=o&", keylist_add, &k), 0);
	cr_assert_eq(k.n, 1);
	keylist_free(&k);
}

REAL_TEST(get_all)
{
	struct be *be = real_open();
	void *buf = NULL;
	size_t len = 0;

	put_str(be, "obj", "0123456789");
	cr_assert_eq(be_get_all(be, "obj", 10, &buf, &len), 0);
	cr_assert_eq(len, 10);
	cr_assert_eq(memcmp(buf, "0123456789", 10), 0);
	free(buf);
	buf = NULL;
	cr_assert_eq(be_get_all(be, "obj", 9, &buf, &len), EFBIG);
	cr_assert_null(buf);
	cr_assert_eq(be_get_all(be, "nope", 9, &buf, &len), ENOENT);
	cr_assert_eq(be_put(be, "empty", "", 0), 0);
	cr_assert_eq(be_get_all(be, "empty", 0, &buf, &len), 0);
	cr_assert_eq(len, 0);
	free(buf);
}

REAL_TEST(big_object)
{
	struct be *be = real_open();
	size_t n = 5 << 20, got, i;
	unsigned char *a = malloc(n), *b = malloc(n);
	uint64_t size;

	cr_assert(a && b);
	for (i = 0; i < n; i++)
		a[i] = (unsigned char)(i * 2654435761u >> 13);
	cr_assert_eq(be_put(be, "big", a, n), 0);
	cr_assert_eq(be_head(be, "big", &size), 0);
	cr_assert_eq(size, n);
	cr_assert_eq(be_get(be, "big", 0, n + 10, b, &got), 0);
	cr_assert_eq(got, n);
	cr_assert_eq(memcmp(a, b, n), 0);
	cr_assert_eq(be_get(be, "big", 1234567, 3000000, b, &got), 0);
	cr_assert_eq(got, 3000000);
	cr_assert_eq(memcmp(a + 1234567, b, 3000000), 0);
	free(a);
	free(b);
}

struct race {
	struct be *be;
	int idx, err;
};

static void *race_put_new(void *arg)
{
	struct race *r = arg;
	char val[16];

	snprintf(val, sizeof(val), "%d", r->idx);
	r->err = be_put_new(r->be, "versions/p/a/00000000000000000007", val, strlen(val));
	return NULL;
}

REAL_TEST(put_new_race)
{
	struct be *be = real_open();
	struct race r[8];
	pthread_t t[8];
	int i, won = -1;

	for (i = 0; i < 8; i++) {
		r[i] = (struct race){ .be = be, .idx = i };
		cr_assert_eq(pthread_create(&t[i], NULL, race_put_new, &r[i]), 0);
	}
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 8; i++) {
		if (r[i].err == 0) {
			cr_assert_eq(won, -1, "two winners");
			won = i;
		} else {
			cr_assert_eq(r[i].err, EEXIST);
		}
	}
	cr_assert_neq(won, -1);
	cr_assert_eq(atoi(get_str(be, "versions/p/a/00000000000000000007")), won);
}

#define MANY 1100 /* RGW pages at 1000 */
#define WORKERS 8

struct worker {
	struct be *be;
	int first, err;
};

static void *put_many(void *arg)
{
	struct worker *w = arg;
	char key[32], val[32];
	int i;

	for (i = w->first; i < MANY && !w->err; i += WORKERS) {
		snprintf(key, sizeof(key), "many/%05d", i);
		snprintf(val, sizeof(val), "%d", i);
		w->err = be_put(w->be, key, val, strlen(val));
	}
	return NULL;
}

struct order {
	char last[64];
	int n, bad;
	uint64_t bytes;
};

static int order_fn(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct order *o = arg;

	if (o->n && strcmp(o->last, key) >= 0)
		o->bad++;
	snprintf(o->last, sizeof(o->last), "%s", key);
	o->n++;
	o->bytes += size;
	return 0;
}

/* Also runs many threads through a pool of 2 handles. */
REAL_TEST(list_paging)
{
	struct be_s3_stats st;
	struct worker w[WORKERS];
	pthread_t t[WORKERS];
	struct order o = { .n = 0 };
	uint64_t bytes = 0;
	const char *why = NULL;
	int i;

	NEED_SERVER();
	real_conf(&g_conf);
	g_conf.max_conns = 2;
	cr_assert_eq(s3_bucket_create(&g_conf, &why), 0);
	cr_assert_eq(be_s3_create(&g_conf, &g_be, &why), 0);
	for (i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ .be = g_be, .first = i };
		cr_assert_eq(pthread_create(&t[i], NULL, put_many, &w[i]), 0);
	}
	for (i = 0; i < WORKERS; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].err, 0);
	}
	put_str(g_be, "zzz", "after");
	for (i = 0; i < MANY; i++)
		bytes += (uint64_t)snprintf(NULL, 0, "%d", i);

	cr_assert_eq(be_list(g_be, "many/", order_fn, &o), 0);
	cr_assert_eq(o.n, MANY);
	cr_assert_eq(o.bad, 0);
	cr_assert_eq(o.bytes, bytes);
	cr_assert_str_eq(o.last, "many/01099");
	memset(&o, 0, sizeof(o));
	cr_assert_eq(be_list(g_be, "", order_fn, &o), 0);
	cr_assert_eq(o.n, MANY + 1);
	cr_assert_str_eq(o.last, "zzz");
	cr_assert_eq(be_s3_stats(g_be, &st), 0);
	cr_assert_geq(st.lists, 5, "two pages per listing");
	cr_assert_geq(st.puts, MANY + 1);
	cr_assert_eq(st.errors, 0);
}

REAL_TEST(bad_secret)
{
	static const char bad[] = "not-the-secret-at-all-0123456789";
	struct be_s3_conf c;
	const char *why = NULL;

	NEED_SERVER();
	real_conf(&c);
	cr_assert_eq(s3_bucket_create(&c, &why), 0);
	setenv("AWS_SECRET_ACCESS_KEY", bad, 1);
	why = NULL;
	cr_assert_eq(be_s3_create(&c, &g_be, &why), EPERM);
	cr_assert_null(g_be);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, "SignatureDoesNotMatch (403)"), "%s", why);
	cr_assert_not_null(strstr(why, c.endpoint), "%s", why);
	cr_assert_null(strstr(why, bad), "%s", why);

	setenv("AWS_ACCESS_KEY_ID", "NOSUCHACCESSKEY00000", 1);
	why = NULL;
	cr_assert_eq(be_s3_create(&c, &g_be, &why), EPERM);
	cr_assert_not_null(strstr(why, "InvalidAccessKeyId (403)"), "%s", why);
	cr_assert_null(strstr(why, bad), "%s", why);
}

REAL_TEST(missing_bucket)
{
	struct be_s3_conf c;
	const char *why = NULL;

	NEED_SERVER();
	real_conf(&c);
	c.bucket = "artifs-no-such-bucket";
	cr_assert_eq(be_s3_create(&c, &g_be, &why), ENOENT);
	cr_assert_null(g_be);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, "NoSuchBucket"), "%s", why);
}

/* The probe leaves nothing behind; list() hides it while it exists. */
REAL_TEST(probe_clean)
{
	struct be *be = real_open(), *probes = NULL;
	struct be_s3_conf c = g_conf;
	struct be_s3_stats st;
	struct keylist k = { 0 };
	char prefix[96];

	cr_assert_eq(be_s3_stats(be, &st), 0);
	cr_assert_eq(st.puts, 2);
	cr_assert_eq(st.deletes, 1);
	cr_assert_eq(st.errors, 0);
	/* A second instance rooted at the probe directory sees what the first left there. */
	snprintf(prefix, sizeof(prefix), "%s%s", g_prefix, S3_PROBE_DIR);
	c.prefix = prefix;
	cr_assert_eq(be_s3_create(&c, &probes, NULL), 0);
	cr_assert_eq(be_list(probes, "", keylist_add, &k), 0);
	cr_assert_eq(k.n, 0);
	be_destroy(probes);
	put_str(be, "k", "v");
	cr_assert_eq(be_list(be, "", keylist_add, &k), 0);
	cr_assert_eq(k.n, 1);
	keylist_free(&k);
}
