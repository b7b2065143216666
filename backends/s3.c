/* SPDX-License-Identifier: MIT */
/*
 * The s3 leaf: a store in an S3 bucket (AWS, Ceph RGW, MinIO, ...) under a key prefix.
 * libcurl signs every request itself (CURLOPT_AWS_SIGV4); what curl 7.88 leaves to us is
 * the part a signature depends on byte for byte: the canonical query (sorted and encoded,
 * since curl signs it as written), the encoded key path, and the x-amz-content-sha256
 * header it does not add on its own (we send UNSIGNED-PAYLOAD; curl signs the header).
 *
 * Every op borrows one CURL easy handle from a small pool for one request, so many FUSE
 * threads run requests in parallel and each handle keeps its connection alive for the next
 * one. Transient failures (5xx, 429, SlowDown, resets, timeouts) are retried here with
 * exponential backoff and jitter, bounded in count and in time; everything else is mapped
 * to an errno once, in http_errno() and curl_errno(), with one log line per failure.
 *
 * put_new is a PUT with If-None-Match: *, which is atomic on stores that honour it; at
 * create we probe whether this one does, since a store that ignores the header would make
 * put_new silently overwrite. A 412 after the body went out more than once (we retried, or
 * curl resent it on a fresh connection), or no answer at all once it went out, may hide our
 * own earlier attempt, stored with its answer lost: put_new then reads the object back and
 * answers 0 when it holds exactly our bytes (put_new_recheck()).
 *
 * Secrets (the secret key and session token) live in this instance only, go to curl through
 * CURLOPT_PASSWORD and one header, and never into a log line or a *why message.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "backend.h"
#include "s3_int.h"

#define S3_DEFAULT_RETRIES 6
#define S3_DEFAULT_CONNS 16
#define S3_MAX_CONNS 1024
#define S3_RETRY_BUDGET_MS 30000 /* no retry starts after this long since the first try */
#define S3_BACKOFF_BASE_MS 100
#define S3_BACKOFF_MAX_MS 5000
#define S3_CREATE_RETRIES 2	  /* be_s3_create: a typo'd endpoint should fail fast */
#define S3_ERRBODY_MAX 65536	  /* of an error body, we keep this much to find <Code> */
#define S3_LISTBODY_MAX (16 << 20) /* one listing page; 1000 keys need ~1.5 MiB */
#define S3_CREDS_FILE_MAX (1 << 20)
#define S3_INI_LINE_MAX 4096
#define S3_EMPTY_PAGES_MAX 16 /* truncated pages without keys in a row */

struct s3 {
	struct be be;
	char *bucket;
	char *prefix; /* "" or ending in '/' */
	size_t prefix_len;
	char *endpoint; /* scheme://authority[/path], no trailing '/': for messages */
	char *base;	/* URL of the bucket: endpoint/bucket or scheme://bucket.authority */
	int vhost;
	char *region;
	char *sigv4; /* "aws:amz:<region>:s3" */
	char *cainfo;
	struct s3_creds creds;
	char *token_hdr; /* "x-amz-security-token: <token>", a secret too */
	unsigned max_retries;
	unsigned max_conns;
	int cond;	/* conditional writes: 1 yes, 0 no, -1 unknown */
	int cond_warned;

	pthread_mutex_t mu; /* guards the pool below */
	pthread_cond_t cv;
	CURL **idle;
	unsigned nidle, nhandles;

	struct be_s3_stats stats; /* updated with atomics */
};

static const struct be_ops s3_ops;

static struct s3 *to_s3(struct be *be)
{
	return (struct s3 *)be;
}

static void stat_add(uint64_t *v, uint64_t n)
{
	__atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

/* *why of be_s3_create(): per thread, so that two mounts starting at once do not mix. */
static __thread char why_buf[512];

static void set_why(const char **why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_why(const char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
	va_end(ap);
	if (why)
		*why = why_buf;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* ---- encoding ---- */

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

int s3_encode(const char *in, int keep_slash, char **out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(in);
	const unsigned char *p;
	char *o, *q;

	*out = NULL;
	if (n > (SIZE_MAX - 1) / 3)
		return ENOMEM;
	o = malloc(3 * n + 1);
	if (!o)
		return ENOMEM;
	for (p = (const unsigned char *)in, q = o; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			*q++ = (char)*p;
		} else {
			*q++ = '%';
			*q++ = hex[*p >> 4];
			*q++ = hex[*p & 15];
		}
	}
	*q = '\0';
	*out = o;
	return 0;
}

struct enc_pair {
	char *name, *value;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct enc_pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

int s3_query_build(const struct s3_param *params, size_t n, char **out)
{
	struct enc_pair *pairs;
	size_t i, total = 1;
	char *q, *p;
	int err = 0;

	*out = NULL;
	pairs = calloc(n ? n : 1, sizeof(*pairs));
	if (!pairs)
		return ENOMEM;
	for (i = 0; i < n; i++) {
		err = s3_encode(params[i].name, 0, &pairs[i].name);
		if (!err)
			err = s3_encode(params[i].value ? params[i].value : "", 0, &pairs[i].value);
		if (err)
			goto out;
		total += strlen(pairs[i].name) + strlen(pairs[i].value) + 2;
	}
	qsort(pairs, n, sizeof(*pairs), pair_cmp);
	q = malloc(total);
	if (!q) {
		err = ENOMEM;
		goto out;
	}
	p = q;
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s%s=%s", i ? "&" : "", pairs[i].name, pairs[i].value);
	*p = '\0';
	*out = q;
out:
	for (i = 0; i < n; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
	return err;
}

/*
 * Keys are relative paths (backend.h): refuse what S3 would take literally but a path
 * would not ("", "/x", "a//b", "a/./b", "a/.." and a trailing '/'), control bytes (they
 * cannot travel in a listing's XML), and our probe directory.
 */
static int key_check(const char *key)
{
	const char *p = key, *end;
	size_t n;

	if (!key || !*key || *key == '/')
		return EINVAL;
	if (!strncmp(key, S3_PROBE_DIR, sizeof(S3_PROBE_DIR) - 1))
		return EINVAL;
	for (p = key; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return EINVAL;
	for (p = key;;) {
		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if (n == 0)
			return EINVAL;
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return EINVAL;
		if (!*end)
			return 0;
		p = end + 1;
	}
}

/* Bucket names go into URLs and host names: S3's rules, relaxed to upper case and '_'. */
static int bucket_check(const char *b, size_t len, int vhost)
{
	size_t i;

	if (len < 3 || len > 63)
		return EINVAL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)b[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')
			continue;
		if (!vhost && ((c >= 'A' && c <= 'Z') || c == '_'))
			continue;
		return EINVAL;
	}
	return 0;
}

/* ---- credentials ---- */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

void s3_creds_release(struct s3_creds *c)
{
	wipe_free(c->access);
	wipe_free(c->secret);
	wipe_free(c->token);
	memset(c, 0, sizeof(*c));
}

/* Values are taken whole, as botocore does: '#' or ';' only start a comment line. */
int s3_creds_parse_ini(const char *text, size_t len, const char *profile, struct s3_creds *c)
{
	struct s3_creds got = { 0 };
	const char *p = text, *end = text + len, *nl;
	char line[S3_INI_LINE_MAX], *s, *close, *name, *eq, *k, *v, **dst;
	size_t ll;
	int in = 0, err = 0;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (ll >= sizeof(line) || memchr(p, '\0', ll)) {
			err = EINVAL;
			goto out;
		}
		memcpy(line, p, ll);
		line[ll] = '\0';
		p = nl ? nl + 1 : end;
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			close = strrchr(s, ']');
			in = 0;
			if (!close || close[1])
				continue;
			*close = '\0';
			name = trim(s + 1);
			if (!strncmp(name, "profile ", 8))
				name = trim(name + 8);
			in = !strcmp(name, profile);
			continue;
		}
		if (!in)
			continue;
		eq = strchr(s, '=');
		if (!eq)
			continue;
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (!strcasecmp(k, "aws_access_key_id"))
			dst = &got.access;
		else if (!strcasecmp(k, "aws_secret_access_key"))
			dst = &got.secret;
		else if (!strcasecmp(k, "aws_session_token"))
			dst = &got.token;
		else
			continue;
		wipe_free(*dst);
		*dst = *v ? strdup(v) : NULL;
		if (*v && !*dst) {
			err = ENOMEM;
			goto out;
		}
	}
	if (!got.access || !got.secret)
		err = ENOENT;
out:
	explicit_bzero(line, sizeof(line));
	if (err) {
		s3_creds_release(&got);
		return err;
	}
	*c = got;
	return 0;
}

static int read_small_file(const char *path, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t done = 0;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) < 0) {
		err = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > S3_CREDS_FILE_MAX) {
		err = EINVAL;
		goto out;
	}
	if (st.st_mode & S_IROTH)
		log_msg(LOG_WARNING, "s3: credentials file %s is readable by everyone", path);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = ENOMEM;
		goto out;
	}
	while (done < (size_t)st.st_size) {
		n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			goto out;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*out = buf;
	*len = done;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

static int creds_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Environment first, then the shared credentials file, as the AWS tools do. */
static int creds_load(struct s3_creds *c, const char **why)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN"), *file, *profile, *home;
	char *path = NULL, *text = NULL, pwbuf[1024];
	size_t len = 0;
	int err;

	memset(c, 0, sizeof(*c));
	if (ak && *ak && sk && *sk) {
		c->access = strdup(ak);
		c->secret = strdup(sk);
		c->token = tok && *tok ? strdup(tok) : NULL;
		if (!c->access || !c->secret || (tok && *tok && !c->token)) {
			err = ENOMEM;
			goto out;
		}
		err = 0;
		goto out;
	}
	profile = getenv("AWS_PROFILE");
	if (!profile || !*profile)
		profile = "default";
	file = getenv("AWS_SHARED_CREDENTIALS_FILE");
	if (!file || !*file) {
		home = getenv("HOME");
		if (!home || !*home) {
			struct passwd pw, *res = NULL;

			home = "/";
			if (!getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) && res)
				home = res->pw_dir;
		}
		if (asprintf(&path, "%s/.aws/credentials", home) < 0) {
			path = NULL;
			err = ENOMEM;
			goto out;
		}
		file = path;
	}
	err = read_small_file(file, &text, &len);
	if (err) {
		set_why(why, "s3: no credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY unset "
			     "and %s: %s", file, strerror(err));
		err = EACCES;
		goto out;
	}
	err = s3_creds_parse_ini(text, len, profile, c);
	if (err == ENOENT)
		set_why(why, "s3: no credentials for profile %s in %s", profile, file);
	else if (err)
		set_why(why, "s3: cannot read credentials file %s: %s", file, strerror(err));
	if (err && err != ENOMEM)
		err = EACCES;
out:
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	free(path);
	if (!err && (!creds_ok(c->access) || !creds_ok(c->secret) ||
		     (c->token && !creds_ok(c->token)))) {
		set_why(why, "s3: credentials hold control characters");
		err = EINVAL;
	}
	if (err)
		s3_creds_release(c);
	return err;
}

/* ---- the handle pool ---- */

/* Blocks while max_conns handles are busy; NULL only when curl cannot make a handle. */
static CURL *pool_get(struct s3 *s)
{
	CURL *h;

	pthread_mutex_lock(&s->mu);
	while (!s->nidle && s->nhandles >= s->max_conns)
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->nidle) {
		h = s->idle[--s->nidle];
		pthread_mutex_unlock(&s->mu);
		return h;
	}
	s->nhandles++;
	pthread_mutex_unlock(&s->mu);
	h = curl_easy_init();
	if (!h) {
		pthread_mutex_lock(&s->mu);
		s->nhandles--;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	return h;
}

/*
 * Last in, first out: the most recently used handle has the warmest connection. The reset
 * keeps that connection and drops every pointer into the finished request.
 */
static void pool_put(struct s3 *s, CURL *h)
{
	curl_easy_reset(h);
	pthread_mutex_lock(&s->mu);
	s->idle[s->nidle++] = h;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- one request, with retries ---- */

struct s3_req {
	/* set by the op */
	const char *method; /* "GET", "HEAD", "PUT", "DELETE" */
	const char *key;    /* the full key (prefix included); NULL: the bucket */
	const char *list_prefix; /* for log lines: a listing of this full prefix */
	char *url;
	struct curl_slist *hdrs;
	const void *body; /* PUT */
	size_t body_len;
	void *buf; /* GET: into the caller's buffer ... */
	size_t cap;
	uint64_t skip;	/* ... skipping this much of a 200 that ignored our Range */
	int want_body;	/* a 2xx body goes to data (listings) */
	unsigned max_retries;

	/* results of the last attempt */
	CURL *h;
	CURLcode cc;
	long status;
	int status_known;
	size_t got;
	uint64_t skipped;
	size_t pos; /* upload position */
	unsigned sends;	 /* times the body started out, over all attempts and curl's resends */
	int body_fresh;	 /* the next read starts the body (again) */
	char *data; /* error body, or a listing */
	size_t dlen, dcap;
	int werr; /* why our write callback stopped the transfer */
	curl_off_t clen;
	char code[S3_CODE_MAX];
	char errbuf[CURL_ERROR_SIZE];
	unsigned attempts;
};

static void req_release(struct s3_req *r)
{
	struct curl_slist *l;

	/* curl's copy of the session token header is a secret too. */
	for (l = r->hdrs; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	free(r->url);
	curl_slist_free_all(r->hdrs);
	free(r->data);
	r->url = NULL;
	r->hdrs = NULL;
	r->data = NULL;
}

static int data_append(struct s3_req *r, const char *p, size_t n)
{
	size_t cap;
	char *d;

	if (n > r->dcap - r->dlen) {
		cap = r->dcap ? r->dcap : 4096;
		while (cap - r->dlen < n)
			cap *= 2;
		d = realloc(r->data, cap + 1);
		if (!d)
			return ENOMEM;
		r->data = d;
		r->dcap = cap;
	}
	memcpy(r->data + r->dlen, p, n);
	r->dlen += n;
	r->data[r->dlen] = '\0';
	return 0;
}

static size_t req_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct s3_req *r = arg;
	size_t n = size * nmemb, rest = n, take;
	int ok;

	if (!r->status_known) {
		curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
		r->status_known = 1;
	}
	ok = r->status >= 200 && r->status < 300;
	if (ok && r->buf) {
		if (r->status == 200 && r->skipped < r->skip) {
			take = r->skip - r->skipped < rest ? (size_t)(r->skip - r->skipped) : rest;
			r->skipped += take;
			ptr += take;
			rest -= take;
		}
		/* Bytes past what we asked for (a server ignoring Range) are dropped. */
		take = rest < r->cap - r->got ? rest : r->cap - r->got;
		memcpy((char *)r->buf + r->got, ptr, take);
		r->got += take;
		return n;
	}
	if (ok && !r->want_body)
		return n;
	if (ok && n > S3_LISTBODY_MAX - r->dlen) {
		r->werr = EIO;
		return 0;
	}
	if (!ok && n > S3_ERRBODY_MAX - r->dlen)
		n = S3_ERRBODY_MAX - r->dlen; /* the head of an error body is enough */
	if (data_append(r, ptr, n)) {
		r->werr = ENOMEM;
		return 0;
	}
	return size * nmemb;
}

static size_t req_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_req *r = arg;
	size_t n = size * nitems;

	if (r->body_fresh) {
		r->sends++;
		r->body_fresh = 0;
	}
	if (n > r->body_len - r->pos)
		n = r->body_len - r->pos;
	if (!n)
		return 0; /* an empty body may come as NULL */
	memcpy(buf, (const char *)r->body + r->pos, n);
	r->pos += n;
	return n;
}

/* curl rewinds the body when it must send it again on the same request. */
static int req_seek(void *arg, curl_off_t off, int origin)
{
	struct s3_req *r = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	/* A rewind to the start: curl sends the body again, possibly on a fresh connection after
	 * the old one died without an answer (which the server may have acted on). */
	if (off == 0)
		r->body_fresh = 1;
	r->pos = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

#define SETOPT(h, opt, val)                                        \
	do {                                                       \
		if (cc == CURLE_OK)                                \
			cc = curl_easy_setopt((h), (opt), (val));  \
	} while (0)

static CURLcode req_setup(struct s3 *s, struct s3_req *r)
{
	CURL *h = r->h;
	CURLcode cc = CURLE_OK;

	SETOPT(h, CURLOPT_URL, r->url);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(h, CURLOPT_PATH_AS_IS, 1L);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	/* A stalled transfer (under 1 byte/s for 30 s) times out and is retried. */
	SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	SETOPT(h, CURLOPT_LOW_SPEED_TIME, 30L);
	SETOPT(h, CURLOPT_USERAGENT, "artifs");
	/*
	 * curl sends "Expect: 100-continue" with every PUT body (and we cannot turn it off,
	 * see req_headers()); S3 answers it at once, and a server that does not should cost
	 * us a moment, not curl's default second.
	 */
	SETOPT(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 250L);
	SETOPT(h, CURLOPT_ERRORBUFFER, r->errbuf);
	SETOPT(h, CURLOPT_AWS_SIGV4, s->sigv4);
	SETOPT(h, CURLOPT_USERNAME, s->creds.access);
	SETOPT(h, CURLOPT_PASSWORD, s->creds.secret);
	SETOPT(h, CURLOPT_HTTPHEADER, r->hdrs);
	SETOPT(h, CURLOPT_WRITEFUNCTION, req_write);
	SETOPT(h, CURLOPT_WRITEDATA, r);
	if (s->cainfo)
		SETOPT(h, CURLOPT_CAINFO, s->cainfo);
	if (!strcmp(r->method, "HEAD")) {
		SETOPT(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		SETOPT(h, CURLOPT_UPLOAD, 1L);
		SETOPT(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
		SETOPT(h, CURLOPT_READFUNCTION, req_read);
		SETOPT(h, CURLOPT_READDATA, r);
		SETOPT(h, CURLOPT_SEEKFUNCTION, req_seek);
		SETOPT(h, CURLOPT_SEEKDATA, r);
	} else if (strcmp(r->method, "GET")) {
		SETOPT(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	return cc;
}

static int retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static int retryable(const struct s3_req *r)
{
	if (r->cc != CURLE_OK)
		return !r->werr && retryable_curl(r->cc);
	if (r->status >= 500 && r->status != 501)
		return 1;
	if (r->status == 429)
		return 1;
	/* AWS's answers to "try again": a slow upload, a racing conditional write. */
	return !strcmp(r->code, "SlowDown") || !strcmp(r->code, "RequestTimeout") ||
	       !strcmp(r->code, "InternalError") || !strcmp(r->code, "ServiceUnavailable") ||
	       !strcmp(r->code, "ConditionalRequestConflict");
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Exponential, capped, with "equal jitter": a random point in [d/2, d]. */
static unsigned backoff_ms(unsigned attempt)
{
	unsigned d = S3_BACKOFF_BASE_MS;
	uint32_t rnd = 0;

	while (--attempt && d < S3_BACKOFF_MAX_MS)
		d *= 2;
	if (d > S3_BACKOFF_MAX_MS)
		d = S3_BACKOFF_MAX_MS;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)now_ms() * 2654435761u;
	return d / 2 + rnd % (d / 2 + 1);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* What a log line calls r: "endpoint/bucket/full-key", or "endpoint/bucket?prefix=p". */
struct req_name {
	char s[640];
};

static const char *req_what(const struct s3 *s, const struct s3_req *r, struct req_name *n)
{
	if (r->list_prefix)
		snprintf(n->s, sizeof(n->s), "%s/%s?prefix=%s", s->endpoint, s->bucket,
			 r->list_prefix);
	else
		snprintf(n->s, sizeof(n->s), "%s/%s/%s", s->endpoint, s->bucket,
			 r->key ? r->key : "");
	return n->s;
}

static const char *req_curl_text(const struct s3_req *r)
{
	return r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->cc);
}

static int curl_errno(const struct s3_req *r)
{
	if (r->werr)
		return r->werr;
	switch (r->cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	case CURLE_URL_MALFORMAT:
		return EINVAL;
	default:
		return EIO;
	}
}

/*
 * Runs r until it gets an answer that is not worth retrying, or the retry budget is spent.
 * Returns 0 when the server answered (any HTTP status: the op interprets it), else the
 * errno of the transport failure, logged and counted.
 */
static int req_perform(struct s3 *s, struct s3_req *r)
{
	uint64_t t0 = now_ms();
	unsigned attempt, delay, max = r->max_retries ? r->max_retries : s->max_retries;
	struct req_name name;
	int err;

	for (attempt = 1;; attempt++) {
		r->cc = CURLE_OK;
		r->status = 0;
		r->status_known = 0;
		r->got = 0;
		r->skipped = 0;
		r->pos = 0;
		r->body_fresh = 1;
		r->dlen = 0;
		r->werr = 0;
		r->clen = -1;
		r->code[0] = '\0';
		r->errbuf[0] = '\0';
		r->attempts = attempt;

		r->h = pool_get(s);
		if (!r->h)
			return ENOMEM;
		r->cc = req_setup(s, r);
		if (r->cc != CURLE_OK) {
			/* An option this libcurl refuses: not going to change by retrying. */
			pool_put(s, r->h);
			r->h = NULL;
			log_msg(LOG_ERR, "s3 %s %s: cannot set up the request: %s", r->method,
				req_what(s, r, &name), curl_easy_strerror(r->cc));
			stat_add(&s->stats.errors, 1);
			return r->cc == CURLE_OUT_OF_MEMORY ? ENOMEM : EINVAL;
		}
		r->cc = curl_easy_perform(r->h);
		if (r->cc == CURLE_OK) {
			curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
			curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->clen);
		}
		pool_put(s, r->h);
		r->h = NULL;
		if (r->cc == CURLE_OK && r->status >= 300 && r->dlen)
			s3_error_code(r->data, r->dlen, r->code, sizeof(r->code));

		if (!retryable(r) || attempt > max)
			break;
		delay = backoff_ms(attempt);
		if (now_ms() - t0 + delay > S3_RETRY_BUDGET_MS)
			break;
		stat_add(&s->stats.retries, 1);
		if (r->cc != CURLE_OK)
			log_msg(LOG_DEBUG, "s3 %s %s: %s; retry %u in %u ms", r->method, req_what(s, r, &name),
				req_curl_text(r), attempt, delay);
		else
			log_msg(LOG_DEBUG, "s3 %s %s: HTTP %ld %s; retry %u in %u ms", r->method,
				req_what(s, r, &name), r->status, r->code, attempt, delay);
		sleep_ms(delay);
	}
	if (r->cc == CURLE_OK)
		return 0;
	err = curl_errno(r);
	if (r->werr == EIO)
		log_msg(LOG_ERR, "s3 %s %s: answer larger than %u bytes, refused", r->method,
			req_what(s, r, &name), (unsigned)S3_LISTBODY_MAX);
	else
		log_msg(LOG_ERR, "s3 %s %s: %s after %u attempt(s)", r->method,
			req_what(s, r, &name), req_curl_text(r), r->attempts);
	stat_add(&s->stats.errors, 1);
	return err;
}

static int cred_code(const char *code)
{
	return !strcmp(code, "SignatureDoesNotMatch") || !strcmp(code, "InvalidAccessKeyId") ||
	       !strcmp(code, "ExpiredToken") || !strcmp(code, "InvalidToken") ||
	       !strcmp(code, "TokenRefreshRequired");
}

/*
 * The one place HTTP answers become errnos. Credentials the server does not accept are
 * EPERM (no request can succeed until they are fixed); a refusal to valid credentials is
 * EACCES.
 */
static int http_errno(const struct s3_req *r)
{
	switch (r->status) {
	case 401:
		return EACCES;
	case 403:
		if (cred_code(r->code))
			return EPERM;
		if (!strcmp(r->code, "QuotaExceeded"))
			return EDQUOT;
		return EACCES;
	case 404:
		return ENOENT;
	case 400:
		if (!strcmp(r->code, "EntityTooLarge"))
			return EFBIG;
		if (cred_code(r->code))
			return EPERM;
		return EINVAL;
	case 412:
		return EEXIST;
	case 501:
		return ENOTSUP;
	case 507:
		return ENOSPC;
	default:
		return EIO;
	}
}

/* Maps an answer the op did not expect, with its log line. */
static int req_fail(struct s3 *s, const struct s3_req *r)
{
	struct req_name name;

	log_msg(LOG_ERR, "s3 %s %s: HTTP %ld %s after %u attempt(s)", r->method,
		req_what(s, r, &name), r->status, r->code[0] ? r->code : "(no code)", r->attempts);
	stat_add(&s->stats.errors, 1);
	return http_errno(r);
}

/* A 404 is the normal "no such key", unless the bucket itself has gone. */
static int req_missing(struct s3 *s, const struct s3_req *r)
{
	if (!strcmp(r->code, "NoSuchBucket"))
		return req_fail(s, r);
	return ENOENT;
}

/* URL of full key fkey (NULL: the bucket itself) with an encoded query (may be NULL). */
static int req_url(struct s3 *s, struct s3_req *r, const char *fkey, const char *query)
{
	char *ek = NULL;
	int err, n;

	if (fkey) {
		err = s3_encode(fkey, 1, &ek);
		if (err)
			return err;
	}
	n = asprintf(&r->url, "%s%s%s%s%s", s->base, fkey || s->vhost ? "/" : "", ek ? ek : "",
		     query && *query ? "?" : "", query && *query ? query : "");
	free(ek);
	if (n < 0) {
		r->url = NULL;
		return ENOMEM;
	}
	return 0;
}

/* The headers every request carries, then extra (NULL: none). */
static int req_headers(struct s3 *s, struct s3_req *r, const char *extra)
{
	const char *list[3];
	struct curl_slist *t;
	size_t i, n = 0;

	/* curl 7.88 signs this header but does not add it; S3 refuses requests without it. */
	list[n++] = "x-amz-content-sha256: UNSIGNED-PAYLOAD";
	if (s->token_hdr)
		list[n++] = s->token_hdr;
	/*
	 * No "Expect:" to save the 100-continue round trip of a PUT: curl 7.88 signs that
	 * empty header but does not send it, and the server then refuses the signature.
	 */
	if (extra)
		list[n++] = extra;
	for (i = 0; i < n; i++) {
		t = curl_slist_append(r->hdrs, list[i]);
		if (!t)
			return ENOMEM;
		r->hdrs = t;
	}
	return 0;
}

static int full_key(struct s3 *s, const char *key, char **out)
{
	int err = key_check(key);

	*out = NULL;
	if (err)
		return err;
	if (s->prefix_len + strlen(key) > S3_KEY_MAX)
		return ENAMETOOLONG;
	if (asprintf(out, "%s%s", s->prefix, key) < 0) {
		*out = NULL;
		return ENOMEM;
	}
	return 0;
}

/* ---- ops ---- */

static int s3_head_full(struct s3 *s, const char *fkey, uint64_t *size)
{
	struct s3_req r = { .method = "HEAD", .key = fkey };
	int err;

	stat_add(&s->stats.heads, 1);
	err = req_url(s, &r, fkey, NULL);
	if (!err)
		err = req_headers(s, &r, NULL);
	if (!err)
		err = req_perform(s, &r);
	if (err)
		goto out;
	if (r.status == 200) {
		if (r.clen < 0) {
			log_msg(LOG_ERR, "s3 HEAD %s/%s/%s: no Content-Length in the answer",
				s->endpoint, s->bucket, fkey);
			stat_add(&s->stats.errors, 1);
			err = EIO;
			goto out;
		}
		*size = (uint64_t)r.clen;
	} else if (r.status == 404) {
		err = ENOENT; /* a HEAD answer has no body, so no code to tell buckets apart */
	} else {
		err = req_fail(s, &r);
	}
out:
	req_release(&r);
	return err;
}

static int s3_head(struct be *be, const char *key, uint64_t *size)
{
	struct s3 *s = to_s3(be);
	char *fkey;
	int err;

	err = full_key(s, key, &fkey);
	if (err)
		return err;
	err = s3_head_full(s, fkey, size);
	free(fkey);
	return err;
}

/* get with at most max_retries retries (0: the instance's). */
static int s3_get_retries(struct s3 *s, const char *key, uint64_t off, size_t len, void *buf,
			  size_t *got, unsigned max_retries)
{
	struct s3_req r = { .method = "GET", .buf = buf, .cap = len, .skip = off,
			    .max_retries = max_retries };
	char *fkey = NULL, range[80];
	uint64_t last, size;
	int err;

	*got = 0;
	err = full_key(s, key, &fkey);
	if (err)
		return err;
	r.key = fkey;
	if (!len) {
		/* No byte range is empty; the contract still wants ENOENT for a missing key. */
		err = s3_head_full(s, fkey, &size);
		goto out;
	}
	last = len - 1 > UINT64_MAX - off ? UINT64_MAX - 1 : off + (len - 1);
	snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)last);
	stat_add(&s->stats.gets, 1);
	err = req_url(s, &r, fkey, NULL);
	if (!err)
		err = req_headers(s, &r, range);
	if (!err)
		err = req_perform(s, &r);
	if (err)
		goto out;
	if (r.status == 200 || r.status == 206) {
		*got = r.got;
		stat_add(&s->stats.bytes_in, r.got);
	} else if (r.status == 416) {
		/* The range starts at or past the end (or the object is empty). */
	} else if (r.status == 404) {
		err = req_missing(s, &r);
	} else {
		err = req_fail(s, &r);
	}
out:
	req_release(&r);
	free(fkey);
	return err;
}

static int s3_get(struct be *be, const char *key, uint64_t off, size_t len, void *buf,
		  size_t *got)
{
	return s3_get_retries(to_s3(be), key, off, len, buf, got, 0);
}

/* *sends (may be NULL): how often the body went out; after more than one, a 412 may be our
 * own doing, and after one, a failure without an answer may hide a stored object. */
static int s3_put_full(struct s3 *s, const char *fkey, const void *buf, size_t len,
		       int exclusive, unsigned *sends)
{
	struct s3_req r = { .method = "PUT", .key = fkey, .body = buf, .body_len = len };
	int err;

	stat_add(&s->stats.puts, 1);
	err = req_url(s, &r, fkey, NULL);
	if (!err)
		err = req_headers(s, &r, exclusive ? "If-None-Match: *" : NULL);
	if (!err)
		err = req_perform(s, &r);
	if (err)
		goto out;
	if (r.status == 200 || r.status == 201 || r.status == 204) {
		stat_add(&s->stats.bytes_out, len);
	} else if (exclusive && r.status == 412) {
		err = EEXIST;
	} else if (exclusive && (r.status == 501 || !strcmp(r.code, "NotImplemented"))) {
		err = ENOTSUP;
	} else {
		err = req_fail(s, &r); /* a 404 here is NoSuchBucket: worth a log line too */
	}
out:
	if (sends)
		*sends = r.sends;
	req_release(&r);
	return err;
}

static int s3_put(struct be *be, const char *key, const void *buf, size_t len)
{
	struct s3 *s = to_s3(be);
	char *fkey;
	int err;

	err = full_key(s, key, &fkey);
	if (err)
		return err;
	err = s3_put_full(s, fkey, buf, len, 0, NULL);
	free(fkey);
	return err;
}

static void cond_unsupported(struct s3 *s)
{
	__atomic_store_n(&s->cond, 0, __ATOMIC_RELAXED);
	if (!__atomic_exchange_n(&s->cond_warned, 1, __ATOMIC_RELAXED))
		log_msg(LOG_ERR, "s3 %s: the store does not honour If-None-Match: *; "
				 "create-if-absent writes are refused (ENOTSUP)", s->endpoint);
}

/*
 * put_new got no clear answer: a 412 after its body went out more than once, or no answer
 * at all (err: EIO, ETIMEDOUT) after it went out. Our own earlier attempt may have been
 * stored with its answer lost (a reset, a timeout); answering EEXIST or an error then made
 * the commit take the next version number, or fail with its version in the bucket, and one
 * commit left two versions. The object is ours when it holds exactly our bytes: 0. Other
 * bytes, or a longer object, are someone else's: EEXIST. Otherwise err stands (EEXIST also
 * when the object has vanished since), or the read's own error after a 412.
 */
static int put_new_recheck(struct s3 *s, const char *key, const char *fkey, const void *buf,
			   size_t len, int err)
{
	size_t got = 0;
	char *back;
	int gerr;

	if (len == SIZE_MAX)
		return err;
	back = malloc(len + 1);
	if (!back)
		return err;
	/* One byte more than ours: a longer object is not ours either. After a failure, the
	 * server may be gone: ask briefly, the caller has waited for the retries already. */
	gerr = s3_get_retries(s, key, 0, len + 1, back, &got,
			      err == EEXIST ? 0 : S3_CREATE_RETRIES);
	if (!gerr && got == len && !memcmp(back, buf, len)) {
		log_msg(LOG_INFO, "s3 PUT %s/%s/%s: %s, but the object holds our bytes: an "
				  "earlier attempt stored it and its answer was lost",
			s->endpoint, s->bucket, fkey,
			err == EEXIST ? "412 to a resent create" : "no answer");
		err = 0;
	} else if (!gerr) {
		err = EEXIST;
	} else if (gerr != ENOENT && err == EEXIST) {
		err = gerr;
	}
	free(back);
	return err;
}

static int s3_put_new(struct be *be, const char *key, const void *buf, size_t len)
{
	struct s3 *s = to_s3(be);
	char *fkey;
	unsigned sends = 0;
	int err;

	if (__atomic_load_n(&s->cond, __ATOMIC_RELAXED) == 0) {
		cond_unsupported(s);
		return ENOTSUP;
	}
	err = full_key(s, key, &fkey);
	if (err)
		return err;
	err = s3_put_full(s, fkey, buf, len, 1, &sends);
	if (err == ENOTSUP)
		cond_unsupported(s);
	if ((err == EEXIST && sends > 1) || ((err == EIO || err == ETIMEDOUT) && sends > 0))
		err = put_new_recheck(s, key, fkey, buf, len, err);
	free(fkey);
	return err;
}

static int s3_del_full(struct s3 *s, const char *fkey)
{
	struct s3_req r = { .method = "DELETE", .key = fkey };
	int err;

	stat_add(&s->stats.deletes, 1);
	err = req_url(s, &r, fkey, NULL);
	if (!err)
		err = req_headers(s, &r, NULL);
	if (!err)
		err = req_perform(s, &r);
	if (err)
		goto out;
	if (r.status == 200 || r.status == 204)
		err = 0;
	else if (r.status == 404 && strcmp(r.code, "NoSuchBucket"))
		err = 0;
	else
		err = req_fail(s, &r);
out:
	req_release(&r);
	return err;
}

static int s3_del(struct be *be, const char *key)
{
	struct s3 *s = to_s3(be);
	char *fkey;
	int err;

	err = full_key(s, key, &fkey);
	if (err)
		return err;
	err = s3_del_full(s, fkey);
	free(fkey);
	return err;
}

/*
 * One ListObjectsV2 page of full prefix fprefix after token (NULL: the first page), parsed
 * into page. after is the last key of the previous page, for the order check.
 */
static int list_page(struct s3 *s, const char *fprefix, const char *token, const char *after,
		     struct s3_list_page *page)
{
	struct s3_req r = { .method = "GET", .want_body = 1, .list_prefix = fprefix };
	struct s3_param params[4];
	char mk[16], *query = NULL;
	const char *why = NULL;
	size_t n = 0;
	int err;

	memset(page, 0, sizeof(*page));
	snprintf(mk, sizeof(mk), "%u", (unsigned)S3_PAGE_KEYS);
	params[n++] = (struct s3_param){ "list-type", "2" };
	params[n++] = (struct s3_param){ "max-keys", mk };
	if (*fprefix)
		params[n++] = (struct s3_param){ "prefix", fprefix };
	if (token)
		params[n++] = (struct s3_param){ "continuation-token", token };
	stat_add(&s->stats.lists, 1);
	err = s3_query_build(params, n, &query);
	if (!err)
		err = req_url(s, &r, NULL, query);
	if (!err)
		err = req_headers(s, &r, NULL);
	if (!err)
		err = req_perform(s, &r);
	if (err)
		goto out;
	if (r.status != 200) {
		err = req_fail(s, &r);
		goto out;
	}
	err = s3_list_parse(r.data ? r.data : "", r.dlen, fprefix, after, page, &why);
	if (err) {
		struct req_name name;

		log_msg(LOG_ERR, "s3 GET %s: listing page refused: %s", req_what(s, &r, &name),
			why ? why : strerror(err));
		stat_add(&s->stats.errors, 1);
	}
out:
	req_release(&r);
	free(query);
	return err;
}

static int s3_list(struct be *be, const char *prefix, be_list_fn *fn, void *arg)
{
	struct s3 *s = to_s3(be);
	struct s3_list_page page = { 0 };
	char *fprefix = NULL, *probe = NULL, *token = NULL, *last = NULL;
	size_t i, probe_len, empty = 0;
	const char *p;
	int err = 0;

	if (*prefix == '/')
		return EINVAL;
	for (p = prefix; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return EINVAL;
	if (s->prefix_len + strlen(prefix) > S3_KEY_MAX)
		return 0; /* no key that long can exist */
	if (asprintf(&fprefix, "%s%s", s->prefix, prefix) < 0)
		return ENOMEM;
	if (asprintf(&probe, "%s%s", s->prefix, S3_PROBE_DIR) < 0) {
		probe = NULL;
		err = ENOMEM;
		goto out;
	}
	probe_len = strlen(probe);
	for (;;) {
		err = list_page(s, fprefix, token, last, &page);
		if (err)
			goto out;
		/* fn may take its time or call us back: we hold no handle and no lock here. */
		for (i = 0; i < page.n; i++) {
			const char *rel = page.keys[i] + s->prefix_len;

			if (!strncmp(page.keys[i], probe, probe_len))
				continue;
			/* "dir/" markers made by consoles are not objects of ours. */
			if (!*rel || rel[strlen(rel) - 1] == '/')
				continue;
			err = fn(arg, rel, page.sizes[i], page.mtimes[i]);
			if (err)
				goto out;
		}
		if (!page.truncated)
			break;
		if (page.n) {
			free(last);
			last = strdup(page.keys[page.n - 1]);
			if (!last) {
				err = ENOMEM;
				goto out;
			}
			empty = 0;
		} else if (++empty > S3_EMPTY_PAGES_MAX) {
			log_msg(LOG_ERR, "s3 GET %s/%s?prefix=%s: %u empty pages in a row, giving up",
				s->endpoint, s->bucket, fprefix, (unsigned)S3_EMPTY_PAGES_MAX);
			stat_add(&s->stats.errors, 1);
			err = EIO;
			goto out;
		}
		free(token);
		token = page.next_token;
		page.next_token = NULL;
		s3_list_page_release(&page);
	}
out:
	s3_list_page_release(&page);
	free(token);
	free(last);
	free(probe);
	free(fprefix);
	return err;
}

static void s3_free(struct s3 *s)
{
	unsigned i;

	if (!s)
		return;
	for (i = 0; i < s->nidle; i++)
		curl_easy_cleanup(s->idle[i]);
	free(s->idle);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	s3_creds_release(&s->creds);
	wipe_free(s->token_hdr);
	free(s->bucket);
	free(s->prefix);
	free(s->endpoint);
	free(s->base);
	free(s->region);
	free(s->sigv4);
	free(s->cainfo);
	free(s);
}

static void s3_destroy(struct be *be)
{
	s3_free(to_s3(be));
}

static const struct be_ops s3_ops = {
	.name = "s3",
	.get = s3_get,
	.put = s3_put,
	.put_new = s3_put_new,
	.head = s3_head,
	.del = s3_del,
	.list = s3_list,
	.destroy = s3_destroy,
};

/* ---- create ---- */

/*
 * "http(s)://authority[/path]" into its normalised form (no trailing '/') and the base URL
 * of bucket. Userinfo is refused: the endpoint appears in messages.
 */
static int endpoint_parse(struct s3 *s, const char *ep, const char **why)
{
	const char *auth, *path;
	size_t alen, plen, slen;
	const char *q;

	if (!strncmp(ep, "https://", 8))
		slen = 8;
	else if (!strncmp(ep, "http://", 7))
		slen = 7;
	else
		goto bad;
	auth = ep + slen;
	alen = strcspn(auth, "/");
	path = auth + alen;
	plen = strlen(path);
	while (plen && path[plen - 1] == '/')
		plen--;
	if (!alen)
		goto bad;
	for (q = ep; *q; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f || *q == '?' || *q == '#' ||
		    (q >= auth && q < auth + alen && *q == '@'))
			goto bad;
	if (asprintf(&s->endpoint, "%.*s", (int)(slen + alen + plen), ep) < 0) {
		s->endpoint = NULL;
		return ENOMEM;
	}
	if (s->vhost) {
		if (asprintf(&s->base, "%.*s%s.%.*s%.*s", (int)slen, ep, s->bucket, (int)alen,
			     auth, (int)plen, path) < 0)
			s->base = NULL;
	} else {
		if (asprintf(&s->base, "%s/%s", s->endpoint, s->bucket) < 0)
			s->base = NULL;
	}
	return s->base ? 0 : ENOMEM;
bad:
	set_why(why, "s3: endpoint must be http(s)://host[:port][/path], without user "
		     "information, query or spaces");
	return EINVAL;
}

static int region_check(const char *r)
{
	size_t n = strlen(r);

	if (!n || n > 64)
		return EINVAL;
	for (; *r; r++)
		if (!isalnum((unsigned char)*r) && *r != '-' && *r != '_')
			return EINVAL;
	return 0;
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Builds an instance without talking to the server. */
static int s3_open(const struct be_s3_conf *c, struct s3 **out, const char **why)
{
	const char *prefix, *ep, *region, *ca;
	struct s3 *s;
	char *stem = NULL;
	size_t plen;
	int err;

	*out = NULL;
	if (!c || !c->bucket || bucket_check(c->bucket, strlen(c->bucket), c->virtual_host)) {
		set_why(why, "s3: bad bucket name");
		return EINVAL;
	}
	prefix = c->prefix ? c->prefix : "";
	plen = strlen(prefix);
	if (plen) {
		stem = strndup(prefix, plen - 1);
		if (!stem)
			return ENOMEM;
		err = prefix[plen - 1] != '/' || plen >= S3_KEY_MAX || key_check(stem);
		free(stem);
		if (err) {
			set_why(why, "s3: bad key prefix (it must be a relative path ending in '/')");
			return EINVAL;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->be.ops = &s3_ops;
	s->vhost = !!c->virtual_host;
	s->cond = -1;
	s->max_retries = c->max_retries ? c->max_retries : S3_DEFAULT_RETRIES;
	s->max_conns = c->max_conns ? c->max_conns : S3_DEFAULT_CONNS;
	if (s->max_conns > S3_MAX_CONNS)
		s->max_conns = S3_MAX_CONNS;
	s->bucket = strdup(c->bucket);
	s->prefix = strdup(prefix);
	s->prefix_len = plen;
	s->idle = calloc(s->max_conns, sizeof(*s->idle));
	if (!s->bucket || !s->prefix || !s->idle) {
		err = ENOMEM;
		goto fail;
	}

	region = c->region;
	if (!region || !*region)
		region = env_nonempty("AWS_REGION");
	if (!region)
		region = env_nonempty("AWS_DEFAULT_REGION");
	if (!region)
		region = "us-east-1";
	if (region_check(region)) {
		set_why(why, "s3: bad region name");
		err = EINVAL;
		goto fail;
	}
	s->region = strdup(region);
	if (!s->region || asprintf(&s->sigv4, "aws:amz:%s:s3", region) < 0) {
		s->sigv4 = NULL;
		err = ENOMEM;
		goto fail;
	}

	ep = c->endpoint && *c->endpoint ? c->endpoint : env_nonempty("AWS_ENDPOINT_URL");
	if (ep) {
		err = endpoint_parse(s, ep, why);
	} else {
		char *aws;

		if (asprintf(&aws, "https://s3.%s.amazonaws.com", region) < 0) {
			err = ENOMEM;
			goto fail;
		}
		err = endpoint_parse(s, aws, why);
		free(aws);
	}
	if (err)
		goto fail;

	ca = env_nonempty("AWS_CA_BUNDLE");
	if (ca && !(s->cainfo = strdup(ca))) {
		err = ENOMEM;
		goto fail;
	}
	err = creds_load(&s->creds, why);
	if (err)
		goto fail;
	if (s->creds.token &&
	    asprintf(&s->token_hdr, "x-amz-security-token: %s", s->creds.token) < 0) {
		s->token_hdr = NULL;
		err = ENOMEM;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	s3_free(s);
	return err;
}

/* A message for *why from a failed request: endpoint, bucket, S3 code, status. */
static void why_from_req(const struct s3 *s, const struct s3_req *r, int err, const char **why)
{
	if (r->cc != CURLE_OK)
		set_why(why, "s3 %s bucket %s: %s", s->endpoint, s->bucket, req_curl_text(r));
	else if (r->status)
		set_why(why, "s3 %s bucket %s: %s (%ld)", s->endpoint, s->bucket,
			r->code[0] ? r->code : "HTTP error", r->status);
	else
		set_why(why, "s3 %s bucket %s: %s", s->endpoint, s->bucket, strerror(err));
}

/*
 * One listing of at most one key under our prefix: proves the endpoint speaks S3, the
 * credentials are good and the bucket exists (and may be listed, which list() needs).
 */
static int s3_check_bucket(struct s3 *s, const char **why)
{
	struct s3_req r = { .method = "GET",
			    .want_body = 1,
			    .max_retries = S3_CREATE_RETRIES,
			    .list_prefix = s->prefix };
	struct s3_list_page page;
	struct s3_param params[3];
	const char *pwhy = NULL;
	char *query = NULL;
	size_t n = 0;
	int err;

	params[n++] = (struct s3_param){ "list-type", "2" };
	params[n++] = (struct s3_param){ "max-keys", "1" };
	if (*s->prefix)
		params[n++] = (struct s3_param){ "prefix", s->prefix };
	stat_add(&s->stats.lists, 1);
	err = s3_query_build(params, n, &query);
	if (!err)
		err = req_url(s, &r, NULL, query);
	if (!err)
		err = req_headers(s, &r, NULL);
	if (!err)
		err = req_perform(s, &r);
	if (err) {
		why_from_req(s, &r, err, why);
		goto out;
	}
	if (r.status != 200) {
		err = req_fail(s, &r);
		why_from_req(s, &r, err, why);
		goto out;
	}
	err = s3_list_parse(r.data ? r.data : "", r.dlen, s->prefix, NULL, &page, &pwhy);
	if (err) {
		set_why(why, "s3 %s bucket %s: not an S3 answer (%s)", s->endpoint, s->bucket,
			pwhy ? pwhy : strerror(err));
		log_msg(LOG_ERR, "%s", why_buf);
		goto out;
	}
	s3_list_page_release(&page);
out:
	req_release(&r);
	free(query);
	return err;
}

/*
 * Whether If-None-Match: * works here: create a random probe key twice. The second must
 * answer 412; a 501 means the feature is missing, and a 200 that the store ignored the
 * header (put_new would overwrite). Any other failure (a write-only-denied key, say)
 * leaves the answer unknown: put_new then sends the header and learns from the answer.
 */
static void s3_probe(struct s3 *s)
{
	uint64_t rnd = 0;
	char *fkey = NULL;
	unsigned sends = 0;
	int err;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = now_ms() ^ (uint64_t)getpid() << 32;
	if (asprintf(&fkey, "%s%s%016llx", s->prefix, S3_PROBE_DIR, (unsigned long long)rnd) < 0)
		return;
	err = s3_put_full(s, fkey, "probe", 5, 1, &sends);
	/* A 412 to a resent first write is that write: its answer was lost. */
	if (err == EEXIST && sends > 1)
		err = 0;
	if (err == ENOTSUP) {
		s->cond = 0;
	} else if (err) {
		log_msg(LOG_WARNING, "s3 %s: cannot probe conditional writes: %s", s->endpoint,
			strerror(err));
		goto out;
	} else {
		err = s3_put_full(s, fkey, "probe", 5, 1, NULL);
		if (err == EEXIST)
			s->cond = 1;
		else if (err == 0 || err == ENOTSUP)
			s->cond = 0;
		else
			log_msg(LOG_WARNING, "s3 %s: cannot probe conditional writes: %s",
				s->endpoint, strerror(err));
		s3_del_full(s, fkey);
	}
	if (s->cond == 0) {
		s->cond_warned = 1;
		log_msg(LOG_WARNING, "s3 %s: the store does not honour If-None-Match: *; "
				     "create-if-absent writes will be refused", s->endpoint);
	} else if (s->cond == 1) {
		log_msg(LOG_DEBUG, "s3 %s: conditional writes supported", s->endpoint);
	}
out:
	free(fkey);
}

int be_s3_create(const struct be_s3_conf *c, struct be **out, const char **why)
{
	struct s3 *s;
	int err;

	*out = NULL;
	if (why)
		*why = NULL;
	err = s3_open(c, &s, why);
	if (err)
		return err;
	err = s3_check_bucket(s, why);
	if (err) {
		s3_free(s);
		return err;
	}
	s3_probe(s);
	*out = &s->be;
	return 0;
}

int s3_bucket_create(const struct be_s3_conf *c, const char **why)
{
	struct s3_req r = { .method = "PUT", .max_retries = S3_CREATE_RETRIES };
	struct s3 *s;
	char *body = NULL;
	int err;

	if (why)
		*why = NULL;
	err = s3_open(c, &s, why);
	if (err)
		return err;
	/* Outside us-east-1, AWS wants the region in the body too. */
	if (strcmp(s->region, "us-east-1") &&
	    asprintf(&body,
		     "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		     "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
		     s->region) < 0) {
		body = NULL;
		err = ENOMEM;
		goto out;
	}
	r.body = body ? body : "";
	r.body_len = body ? strlen(body) : 0;
	err = req_url(s, &r, NULL, NULL);
	if (!err)
		err = req_headers(s, &r, NULL);
	if (!err)
		err = req_perform(s, &r);
	if (err) {
		why_from_req(s, &r, err, why);
		goto out;
	}
	if (r.status == 200)
		goto out;
	if (r.status == 409 && !strcmp(r.code, "BucketAlreadyOwnedByYou"))
		goto out;
	if (r.status == 409)
		err = EEXIST;
	else
		err = req_fail(s, &r);
	why_from_req(s, &r, err, why);
out:
	req_release(&r);
	free(body);
	s3_free(s);
	return err;
}

int be_s3_parse_url(const char *url, char **bucket, char **prefix)
{
	const char *b, *slash, *p;
	char *stem = NULL;
	size_t blen, plen;
	int err;

	*bucket = NULL;
	*prefix = NULL;
	if (!url || strncmp(url, "s3://", 5))
		return EINVAL;
	b = url + 5;
	slash = strchr(b, '/');
	blen = slash ? (size_t)(slash - b) : strlen(b);
	if (bucket_check(b, blen, 0))
		return EINVAL;
	p = slash ? slash + 1 : "";
	plen = strlen(p);
	if (plen && p[plen - 1] == '/' && !--plen)
		return EINVAL; /* "s3://bucket//" */
	if (plen) {
		if (plen >= S3_KEY_MAX || strcspn(p, "?#") < plen)
			return EINVAL;
		stem = strndup(p, plen);
		if (!stem)
			return ENOMEM;
		err = key_check(stem);
		free(stem);
		if (err)
			return EINVAL;
	}
	*bucket = strndup(b, blen);
	if (!*bucket)
		return ENOMEM;
	if (asprintf(prefix, "%.*s%s", (int)plen, p, plen ? "/" : "") < 0) {
		*prefix = NULL;
		free(*bucket);
		*bucket = NULL;
		return ENOMEM;
	}
	return 0;
}

int be_s3_stats(struct be *be, struct be_s3_stats *out)
{
	struct s3 *s;

	if (!be || be->ops != &s3_ops)
		return EINVAL;
	s = to_s3(be);
	out->gets = __atomic_load_n(&s->stats.gets, __ATOMIC_RELAXED);
	out->puts = __atomic_load_n(&s->stats.puts, __ATOMIC_RELAXED);
	out->heads = __atomic_load_n(&s->stats.heads, __ATOMIC_RELAXED);
	out->deletes = __atomic_load_n(&s->stats.deletes, __ATOMIC_RELAXED);
	out->lists = __atomic_load_n(&s->stats.lists, __ATOMIC_RELAXED);
	out->bytes_in = __atomic_load_n(&s->stats.bytes_in, __ATOMIC_RELAXED);
	out->bytes_out = __atomic_load_n(&s->stats.bytes_out, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&s->stats.retries, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&s->stats.errors, __ATOMIC_RELAXED);
	return 0;
}

int be_s3_conditional_writes(struct be *be)
{
	if (!be || be->ops != &s3_ops)
		return 0;
	return __atomic_load_n(&to_s3(be)->cond, __ATOMIC_RELAXED) == 1;
}
