/* SPDX-License-Identifier: MIT */
/*
 * Private to the s3 leaf (backends/s3.c, backends/s3_xml.c) and its unit test: the pieces
 * that must be exactly right for a signature or a parser to hold, exposed so that they can
 * be tested without a server. Nothing outside backends/ and tests/ includes this.
 */
#ifndef ARTIFS_S3_INT_H
#define ARTIFS_S3_INT_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#define S3_KEY_MAX 1024	    /* bytes of a full key (prefix included), as S3 allows */
#define S3_PAGE_KEYS 1000   /* max-keys we ask for, and the most we accept in one page */
#define S3_TOKEN_MAX 4096   /* NextContinuationToken */
#define S3_CODE_MAX 64	    /* an S3 error code such as "SignatureDoesNotMatch" */
#define S3_PROBE_DIR ".artifs-probe/" /* under the prefix; hidden from list() */

/*
 * RFC 3986 percent-encoding: every byte except A-Z a-z 0-9 - _ . ~ becomes %XX (uppercase
 * hex), and '/' stays as is when keep_slash (object keys in a path) or becomes %2F (query
 * values, as SigV4's canonical query wants). *out is caller-frees. 0 or ENOMEM.
 */
int s3_encode(const char *in, int keep_slash, char **out);

struct s3_param {
	const char *name;  /* borrowed */
	const char *value; /* borrowed; "" is written as "name=" */
};

/*
 * Builds the query string "n1=v1&n2=v2" with names and values encoded and the pairs sorted
 * by encoded name, then value: curl 7.88 signs the query as written, and SigV4 wants the
 * canonical (sorted, encoded) form. *out is caller-frees ("" when n is 0). 0 or ENOMEM.
 */
int s3_query_build(const struct s3_param *params, size_t n, char **out);

/* One page of a ListObjectsV2 answer. keys[i] are full keys (the conf prefix included). */
struct s3_list_page {
	char **keys; /* caller-frees through s3_list_page_release() */
	uint64_t *sizes;
	int64_t *mtimes; /* LastModified in seconds since the epoch, -1 when absent */
	size_t n;
	int truncated;
	char *next_token; /* NULL unless truncated */
};

/*
 * Parses one ListObjectsV2 body with expat. Every key must start with prefix and sort
 * strictly after after (the last key of the previous page; NULL for the first page) and
 * after the key before it, at most S3_PAGE_KEYS keys of at most S3_KEY_MAX bytes, a decimal
 * Size each; a truncated page must carry a token. Anything else - including DOCTYPEs and
 * entities, which S3 never sends - is EIO with *why (static) saying what was wrong; ENOMEM.
 * On error page holds nothing. page is released with s3_list_page_release().
 */
int s3_list_parse(const char *xml, size_t len, const char *prefix, const char *after,
		  struct s3_list_page *page, const char **why);
void s3_list_page_release(struct s3_list_page *page);

/*
 * The <Code> of an S3 <Error> body into code (size bytes, NUL-terminated). Only codes made
 * of [A-Za-z0-9._-] are kept, so that a hostile body cannot put odd bytes in our logs; any
 * other body gives "".
 */
void s3_error_code(const char *xml, size_t len, char *code, size_t size);

struct s3_creds {
	char *access; /* all caller-frees through s3_creds_release(), which wipes them */
	char *secret;
	char *token; /* NULL when none */
};

/*
 * Reads the credentials of profile from the text of an AWS credentials file (INI:
 * "[profile]" sections, "aws_access_key_id = ..." lines, '#' and ';' comment lines,
 * "[profile name]" accepted too). 0, ENOENT (no such profile or no key pair in it),
 * EINVAL (a line too long or with a NUL), ENOMEM. Fills c only on 0.
 */
int s3_creds_parse_ini(const char *text, size_t len, const char *profile, struct s3_creds *c);
void s3_creds_release(struct s3_creds *c);

/*
 * Creates bucket c->bucket (PUT /bucket), for tests and first-time setups: 0 when created
 * or already ours, EEXIST when someone else owns it, or the errors of be_s3_create() with
 * *why (may be NULL) set the same way.
 */
int s3_bucket_create(const struct be_s3_conf *c, const char **why);

#endif
