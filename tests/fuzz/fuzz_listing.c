/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the two S3 XML parsers of backends/s3_xml.c, which read bodies from
 * an untrusted store: s3_list_parse() (ListObjectsV2 pages) and s3_error_code() (<Error>
 * bodies). The input is the whole body; both parsers take it in one XML_Parse call (there
 * is no incremental API), so the error parser is also run on a cut-short body, as s3.c
 * does with the start of a long one. Invariants checked (abort() when broken):
 *  listing, for each (prefix, after) below:
 *  - 0: at most S3_PAGE_KEYS keys, each 1..S3_KEY_MAX bytes, inside prefix, after `after`
 *    and strictly ascending; truncated is 0/1; a truncated page has a non-empty token of
 *    at most S3_TOKEN_MAX bytes, a last page none;
 *  - otherwise EIO with a reason, or ENOMEM, and the page holds nothing;
 *  - more constraints accept less: a page accepted with a prefix or an `after` is
 *    accepted, identically, without them.
 *  error code, for several buffer sizes:
 *  - NUL-terminated inside the buffer, only [A-Za-z0-9._-], nothing written when size 0;
 *  - a smaller buffer gives the same code when it fits, else "".
 * Built and run by tests/fuzz/run.sh; see docs/fuzz.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/s3_int.h"

#define PFX "artifs/chunks/"

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_listing: invariant broken: %s\n", what);
	abort();
}

/* Parses with (prefix, after), checks the result; returns the error, page filled on 0. */
static int list_one(const char *xml, size_t len, const char *prefix, const char *after,
		    struct s3_list_page *pg)
{
	const char *why = (const char *)1;
	size_t plen = prefix ? strlen(prefix) : 0;
	int err;

	err = s3_list_parse(xml, len, prefix, after, pg, &why);
	if (err) {
		if (err != EIO && err != ENOMEM)
			fail("listing error is neither EIO nor ENOMEM");
		if (err == EIO && !why)
			fail("EIO without a reason");
		if (pg->n || pg->keys || pg->sizes || pg->next_token || pg->truncated)
			fail("a refused page still holds something");
		return err;
	}
	if (pg->n > S3_PAGE_KEYS)
		fail("too many keys accepted");
	if (pg->n && (!pg->keys || !pg->sizes))
		fail("keys without arrays");
	for (size_t i = 0; i < pg->n; i++) {
		const char *k = pg->keys[i];
		size_t kl;

		if (!k)
			fail("NULL key");
		kl = strlen(k);
		if (!kl || kl > S3_KEY_MAX)
			fail("key empty or too long");
		if (plen && strncmp(k, prefix, plen))
			fail("key outside the prefix");
		if (after && strcmp(k, after) <= 0)
			fail("key not after `after`");
		if (i && strcmp(pg->keys[i - 1], k) >= 0)
			fail("keys not strictly ascending");
	}
	if (pg->truncated != 0 && pg->truncated != 1)
		fail("truncated is not 0 or 1");
	if (pg->truncated) {
		if (!pg->next_token || !*pg->next_token || strlen(pg->next_token) > S3_TOKEN_MAX)
			fail("truncated page without a valid token");
	} else if (pg->next_token) {
		fail("last page kept a token");
	}
	return 0;
}

static int page_eq(const struct s3_list_page *a, const struct s3_list_page *b)
{
	if (a->n != b->n || a->truncated != b->truncated ||
	    !a->next_token != !b->next_token ||
	    (a->next_token && strcmp(a->next_token, b->next_token)))
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->keys[i], b->keys[i]) || a->sizes[i] != b->sizes[i])
			return 0;
	return 1;
}

static void fuzz_list(const char *xml, size_t len)
{
	struct s3_list_page open, pfx, pfx_after;
	int e_open, e_pfx, e_after;

	e_open = list_one(xml, len, "", NULL, &open);
	e_pfx = list_one(xml, len, PFX, NULL, &pfx);
	e_after = list_one(xml, len, PFX, PFX "m", &pfx_after);
	if (!e_pfx && e_open != ENOMEM && (e_open || !page_eq(&open, &pfx)))
		fail("a page accepted with a prefix differs without it");
	if (!e_after && e_pfx != ENOMEM && (e_pfx || !page_eq(&pfx, &pfx_after)))
		fail("a page accepted with `after` differs without it");
	s3_list_page_release(&open);
	s3_list_page_release(&pfx);
	s3_list_page_release(&pfx_after);
	if (open.n || open.keys || open.next_token)
		fail("release left something");
}

static int code_chars_ok(const char *c)
{
	for (; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
			return 0;
	return 1;
}

/* Runs s3_error_code with a buffer of size bytes inside a canary-filled one. */
static void code_one(const char *xml, size_t len, size_t size, char *out)
{
	char buf[S3_CODE_MAX + 16];

	memset(buf, 0x5a, sizeof(buf));
	s3_error_code(xml, len, buf + 8, size);
	for (size_t i = 0; i < 8; i++)
		if (buf[i] != 0x5a || buf[8 + size + i] != 0x5a)
			fail("error code written outside its buffer");
	if (!size)
		return;
	if (!memchr(buf + 8, 0, size))
		fail("error code not NUL-terminated");
	if (!code_chars_ok(buf + 8))
		fail("error code holds a byte outside [A-Za-z0-9._-]");
	memcpy(out, buf + 8, size);
}

static void fuzz_code(const char *xml, size_t len)
{
	static const size_t sizes[] = { 1, 2, 8, 24 };
	char full[S3_CODE_MAX], small[S3_CODE_MAX];

	code_one(xml, len, 0, small);
	code_one(xml, len, S3_CODE_MAX, full);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		code_one(xml, len, sizes[i], small);
		if (strlen(full) < sizes[i] ? strcmp(small, full) : !!*small)
			fail("error code depends on the buffer size beyond truncation");
	}
	/* A body cut short (s3.c keeps only the start of a long one): no invariant beyond
	 * the per-call ones, since the tail may be what made the whole body bad. */
	code_one(xml, len / 2, S3_CODE_MAX, small);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libFuzzer hands over an exactly-sized heap copy: ASan sees any over-read. */
	fuzz_list((const char *)data, size);
	fuzz_code((const char *)data, size);
	return 0;
}
