/* SPDX-License-Identifier: MIT */
/*
 * Store keys (DESIGN.md section 5, docs/store-format.md): every key of the layout is built
 * here, and split back into its parts here, so that the layout lives in one file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

static int fit(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? ENAMETOOLONG : 0;
}

int be_key_version(char *out, size_t len, const char *project, const char *artifact,
		   uint64_t n)
{
	if (!n)
		return fit(out, len, BE_KEY_VERSIONS "%s/%s/", project, artifact);
	return fit(out, len, BE_KEY_VERSIONS "%s/%s/%020" PRIu64, project, artifact, n);
}

int be_key_removed(char *out, size_t len, const char *project, const char *artifact,
		   uint64_t n)
{
	if (!n)
		return fit(out, len, BE_KEY_VERSIONS "%s/%s/" BE_REMOVED_ARTIFACT, project,
			   artifact);
	return fit(out, len, BE_KEY_VERSIONS "%s/%s/%020" PRIu64 BE_REMOVED_SUFFIX, project,
		   artifact, n);
}

int be_key_ref(char *out, size_t len, const char *project, const char *artifact,
	       const char *tag)
{
	return fit(out, len, BE_KEY_REFS "%s/%s/%s", project, artifact, tag ? tag : "");
}

int be_key_meta(char *out, size_t len, const char *project, const char *artifact,
		const char *leaf)
{
	if (artifact)
		return fit(out, len, BE_KEY_META "%s/%s/%s", project, artifact, leaf ? leaf : "");
	return fit(out, len, BE_KEY_META "%s/%s", project, leaf ? leaf : "");
}

int be_key_meta_version(char *out, size_t len, const char *project, const char *artifact,
			uint64_t n, int base)
{
	if (base)
		return fit(out, len, BE_KEY_META "%s/%s/versions/%020" PRIu64 ".json", project,
			   artifact, n);
	return fit(out, len, BE_KEY_META "%s/%s/@vattrs/%020" PRIu64 "/", project, artifact, n);
}

int be_key_version_number(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n != 20)
		return EINVAL;
	for (size_t i = 0; i < 20; i++) {
		if (s[i] < '0' || s[i] > '9')
			return EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > BE_VERSION_MAX)
			return EINVAL; /* a number no version can have: could never be followed */
	}
	if (v == 0)
		return EINVAL;
	*out = v;
	return 0;
}

/* One '/'-ended component of at most BE_NAME_MAX bytes from *s into out. */
static int component(const char **s, char out[BE_NAME_MAX + 1])
{
	const char *sl = strchr(*s, '/');

	if (!sl || sl == *s || (size_t)(sl - *s) > BE_NAME_MAX)
		return EINVAL;
	memcpy(out, *s, sl - *s);
	out[sl - *s] = '\0';
	*s = sl + 1;
	return 0;
}

int be_key_split(const char *key, const char *top, struct be_key *k)
{
	size_t tl = strlen(top);
	const char *s = key + tl;

	memset(k, 0, sizeof(*k));
	if (strncmp(key, top, tl) || component(&s, k->project) || component(&s, k->artifact))
		return EINVAL;
	k->rest = s;
	if (strcmp(top, BE_KEY_VERSIONS) == 0)
		return be_key_version_number(s, strlen(s), &k->n);
	return 0;
}
