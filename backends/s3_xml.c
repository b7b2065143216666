/* SPDX-License-Identifier: MIT */
/*
 * The two XML bodies the s3 leaf reads, parsed with expat: ListObjectsV2 pages and <Error>
 * documents. The store at the other end is not trusted: a listing feeds keys straight to our
 * callers and its paging decides how long we loop, so every field is bounded, keys must stay
 * inside the listed prefix and strictly ascend, and anything S3 never sends (DOCTYPEs,
 * entities, deep nesting, unknown roots) rejects the whole page with EIO instead of being
 * interpreted. Text of elements we do not need is never stored.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <expat.h>

#include "s3_int.h"

#define XML_DEPTH_MAX 8

enum field {
	F_NONE,
	F_KEY,
	F_SIZE,
	F_MTIME,
	F_TRUNCATED,
	F_TOKEN,
	F_CODE,
};

struct list_state {
	XML_Parser p;
	int depth;
	int err; /* first error; parsing stops at once */
	const char *why;
	int root_seen;
	int in_contents; /* depth-2 <Contents> open */
	int seen_truncated;
	enum field field; /* the element whose text we collect, or F_NONE */
	size_t field_max;
	char text[S3_TOKEN_MAX + 1];
	size_t tlen;
	char *key; /* the current <Contents> */
	int have_size;
	uint64_t size;
	int64_t mtime;
	const char *prefix;
	size_t prefix_len;
	const char *after;
	size_t cap;
	struct s3_list_page *page;
};

static void list_fail(struct list_state *st, int err, const char *why)
{
	if (st->err)
		return;
	st->err = err;
	st->why = why;
	XML_StopParser(st->p, XML_FALSE);
}

/* S3 never sends a DOCTYPE; refusing it also refuses every entity trick. */
static void XMLCALL list_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
				 const XML_Char *pubid, int has_internal_subset)
{
	list_fail(ud, EIO, "DOCTYPE in listing");
}

static void XMLCALL list_entity(void *ud, const XML_Char *name, int is_param,
				const XML_Char *value, int value_len, const XML_Char *base,
				const XML_Char *sysid, const XML_Char *pubid,
				const XML_Char *notation)
{
	list_fail(ud, EIO, "entity declaration in listing");
}

static void collect(struct list_state *st, enum field f, size_t max)
{
	st->field = f;
	st->field_max = max;
	st->tlen = 0;
}

static void XMLCALL list_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct list_state *st = ud;

	if (st->err)
		return;
	st->depth++;
	if (st->depth > XML_DEPTH_MAX) {
		list_fail(st, EIO, "listing nested too deep");
		return;
	}
	if (st->field != F_NONE) {
		/* Our leaf fields hold text only. */
		list_fail(st, EIO, "element inside a text field of the listing");
		return;
	}
	if (st->depth == 1) {
		if (strcmp(name, "ListBucketResult"))
			list_fail(st, EIO, "listing root is not ListBucketResult");
		st->root_seen = 1;
		return;
	}
	if (st->depth == 2) {
		if (!strcmp(name, "Contents")) {
			if (st->page->n >= S3_PAGE_KEYS) {
				list_fail(st, EIO, "too many keys in one listing page");
				return;
			}
			st->in_contents = 1;
			st->have_size = 0;
			st->mtime = -1;
		} else if (!strcmp(name, "IsTruncated")) {
			if (st->seen_truncated++)
				list_fail(st, EIO, "IsTruncated twice in listing");
			collect(st, F_TRUNCATED, 5);
		} else if (!strcmp(name, "NextContinuationToken")) {
			if (st->page->next_token)
				list_fail(st, EIO, "NextContinuationToken twice in listing");
			collect(st, F_TOKEN, S3_TOKEN_MAX);
		}
		return;
	}
	if (st->depth == 3 && st->in_contents) {
		if (!strcmp(name, "Key")) {
			if (st->key)
				list_fail(st, EIO, "two Keys in one listing entry");
			collect(st, F_KEY, S3_KEY_MAX);
		} else if (!strcmp(name, "Size")) {
			if (st->have_size)
				list_fail(st, EIO, "two Sizes in one listing entry");
			collect(st, F_SIZE, 20);
		} else if (!strcmp(name, "LastModified")) {
			collect(st, F_MTIME, 40);
		}
	}
}

static void XMLCALL list_text(void *ud, const XML_Char *s, int len)
{
	struct list_state *st = ud;

	if (st->err || st->field == F_NONE || len <= 0)
		return;
	if ((size_t)len > st->field_max - st->tlen) {
		list_fail(st, EIO, "field too long in listing");
		return;
	}
	memcpy(st->text + st->tlen, s, (size_t)len);
	st->tlen += (size_t)len;
}

static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return EIO;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return EIO;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return EIO;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* An ISO 8601 UTC time as S3 writes it ("2026-12-02T15:04:05.000Z") in seconds since the
 * epoch; -1 for anything else (the object is then taken as new). */
static int64_t parse_time(const char *s)
{
	struct tm tm = { 0 };
	char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

	if (!end || (*end && *end != '.' && *end != 'Z'))
		return -1;
	return (int64_t)timegm(&tm);
}

static int page_grow(struct list_state *st)
{
	struct s3_list_page *pg = st->page;
	size_t cap = st->cap ? st->cap * 2 : 64;
	char **k;
	uint64_t *sz;
	int64_t *mt;

	if (cap > S3_PAGE_KEYS)
		cap = S3_PAGE_KEYS;
	k = realloc(pg->keys, cap * sizeof(*k));
	if (!k)
		return ENOMEM;
	pg->keys = k;
	sz = realloc(pg->sizes, cap * sizeof(*sz));
	if (!sz)
		return ENOMEM;
	pg->sizes = sz;
	mt = realloc(pg->mtimes, cap * sizeof(*mt));
	if (!mt)
		return ENOMEM;
	pg->mtimes = mt;
	st->cap = cap;
	return 0;
}

/* The end of one <Contents>: the entry must be whole, inside prefix and in order. */
static void contents_end(struct list_state *st)
{
	struct s3_list_page *pg = st->page;
	const char *prev = pg->n ? pg->keys[pg->n - 1] : st->after;
	int err;

	st->in_contents = 0;
	if (!st->key || !st->have_size) {
		list_fail(st, EIO, "listing entry without Key or Size");
		return;
	}
	if (strncmp(st->key, st->prefix, st->prefix_len)) {
		list_fail(st, EIO, "listing key outside the listed prefix");
		return;
	}
	if (prev && strcmp(st->key, prev) <= 0) {
		list_fail(st, EIO, "listing keys not in ascending order");
		return;
	}
	if (pg->n == st->cap) {
		err = page_grow(st);
		if (err) {
			list_fail(st, err, "out of memory");
			return;
		}
	}
	pg->keys[pg->n] = st->key;
	pg->sizes[pg->n] = st->size;
	pg->mtimes[pg->n] = st->mtime;
	pg->n++;
	st->key = NULL;
}

static void field_end(struct list_state *st)
{
	enum field f = st->field;

	st->field = F_NONE;
	st->text[st->tlen] = '\0';
	switch (f) {
	case F_KEY:
		/* expat hands us no NULs, but an empty key is as bad as a missing one. */
		if (!st->tlen) {
			list_fail(st, EIO, "empty key in listing");
			return;
		}
		st->key = strdup(st->text);
		if (!st->key)
			list_fail(st, ENOMEM, "out of memory");
		break;
	case F_SIZE:
		if (parse_u64(st->text, &st->size)) {
			list_fail(st, EIO, "bad Size in listing");
			return;
		}
		st->have_size = 1;
		break;
	case F_MTIME:
		st->mtime = parse_time(st->text);
		break;
	case F_TRUNCATED:
		if (!strcmp(st->text, "true"))
			st->page->truncated = 1;
		else if (!strcmp(st->text, "false"))
			st->page->truncated = 0;
		else
			list_fail(st, EIO, "bad IsTruncated in listing");
		break;
	case F_TOKEN:
		if (!st->tlen) {
			list_fail(st, EIO, "empty NextContinuationToken in listing");
			return;
		}
		st->page->next_token = strdup(st->text);
		if (!st->page->next_token)
			list_fail(st, ENOMEM, "out of memory");
		break;
	default:
		break;
	}
}

static void XMLCALL list_end(void *ud, const XML_Char *name)
{
	struct list_state *st = ud;

	if (st->err)
		return;
	if (st->field != F_NONE)
		field_end(st);
	else if (st->depth == 2 && st->in_contents)
		contents_end(st);
	st->depth--;
}

void s3_list_page_release(struct s3_list_page *page)
{
	size_t i;

	for (i = 0; i < page->n; i++)
		free(page->keys[i]);
	free(page->keys);
	free(page->sizes);
	free(page->mtimes);
	free(page->next_token);
	memset(page, 0, sizeof(*page));
}

int s3_list_parse(const char *xml, size_t len, const char *prefix, const char *after,
		  struct s3_list_page *page, const char **why)
{
	struct list_state *st;
	int err = 0;

	memset(page, 0, sizeof(*page));
	*why = NULL;
	if (len > (size_t)INT32_MAX) {
		*why = "listing too large";
		return EIO;
	}
	/* The state holds a 4 KiB text buffer: keep it off the (FUSE thread's) stack. */
	st = calloc(1, sizeof(*st));
	if (!st)
		return ENOMEM;
	st->prefix = prefix ? prefix : "";
	st->prefix_len = strlen(st->prefix);
	st->after = after;
	st->page = page;
	st->p = XML_ParserCreate(NULL);
	if (!st->p) {
		free(st);
		return ENOMEM;
	}
	XML_SetUserData(st->p, st);
	XML_SetElementHandler(st->p, list_start, list_end);
	XML_SetCharacterDataHandler(st->p, list_text);
	XML_SetStartDoctypeDeclHandler(st->p, list_doctype);
	XML_SetEntityDeclHandler(st->p, list_entity);

	if (XML_Parse(st->p, xml, (int)len, XML_TRUE) != XML_STATUS_OK && !st->err)
		list_fail(st, EIO, "listing is not well-formed XML");
	if (!st->err && !st->root_seen)
		list_fail(st, EIO, "empty listing");
	if (!st->err && st->page->truncated && !st->page->next_token)
		list_fail(st, EIO, "truncated listing without NextContinuationToken");
	if (!st->err && !st->page->truncated && st->page->next_token) {
		/* A token on a last page is harmless; drop it so that nobody follows it. */
		free(st->page->next_token);
		st->page->next_token = NULL;
	}
	err = st->err;
	*why = st->why;
	free(st->key);
	XML_ParserFree(st->p);
	free(st);
	if (err)
		s3_list_page_release(page);
	return err;
}

/* ---- <Error><Code>...</Code></Error> ---- */

struct code_state {
	XML_Parser p;
	int depth;
	int bad;
	int in_code;
	int done;
	char *code;
	size_t size, len;
};

static void code_stop(struct code_state *st)
{
	st->bad = 1;
	XML_StopParser(st->p, XML_FALSE);
}

static void XMLCALL code_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
				 const XML_Char *pubid, int has_internal_subset)
{
	code_stop(ud);
}

static void XMLCALL code_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct code_state *st = ud;

	if (st->bad)
		return;
	st->depth++;
	if (st->depth > XML_DEPTH_MAX || st->in_code ||
	    (st->depth == 1 && strcmp(name, "Error"))) {
		code_stop(st);
		return;
	}
	if (st->depth == 2 && !strcmp(name, "Code") && !st->done)
		st->in_code = 1;
}

static void XMLCALL code_text(void *ud, const XML_Char *s, int len)
{
	struct code_state *st = ud;
	int i;

	if (st->bad || !st->in_code)
		return;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (st->len + 1 >= st->size ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-')) {
			code_stop(st);
			return;
		}
		st->code[st->len++] = c;
	}
}

static void XMLCALL code_end(void *ud, const XML_Char *name)
{
	struct code_state *st = ud;

	if (st->bad)
		return;
	if (st->in_code) {
		st->in_code = 0;
		st->done = 1;
	}
	st->depth--;
}

void s3_error_code(const char *xml, size_t len, char *code, size_t size)
{
	struct code_state st = { .code = code, .size = size };

	if (!size)
		return;
	code[0] = '\0';
	if (!len || len > (size_t)INT32_MAX)
		return;
	st.p = XML_ParserCreate(NULL);
	if (!st.p)
		return;
	XML_SetUserData(st.p, &st);
	XML_SetElementHandler(st.p, code_start, code_end);
	XML_SetCharacterDataHandler(st.p, code_text);
	XML_SetStartDoctypeDeclHandler(st.p, code_doctype);
	/* A body cut short after its Code (we keep only its start) still names the error. */
	XML_Parse(st.p, xml, (int)len, XML_TRUE);
	if (st.bad || !st.done)
		st.len = 0;
	code[st.len] = '\0';
	XML_ParserFree(st.p);
}
