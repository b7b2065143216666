/* SPDX-License-Identifier: MIT */
/* Name rules of DESIGN.md section 1, kept apart so that unit tests reach them. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "../meta/meta.h"

static int allowed(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int fs_name_check_pa(const char *name, const char **why)
{
	size_t n = strlen(name);

	if (n == 0 || n > META_PA_MAX) {
		*why = "names are 1 to 128 bytes long";
		return EINVAL;
	}
	if (name[0] == '.' || name[0] == '@') {
		*why = "names may not start with '.' or '@'";
		return EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!allowed(name[i])) {
			*why = "names use only the characters A-Z a-z 0-9 . _ -";
			return EINVAL;
		}
	}
	return 0;
}

int fs_name_check_tag(const char *tag, const char **why)
{
	size_t n = strlen(tag);

	if (n == 0 || n > META_PA_MAX) {
		*why = "tag names are 1 to 128 bytes long after the '@'";
		return EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!allowed(tag[i])) {
			*why = "tag names use only the characters A-Z a-z 0-9 . _ -";
			return EINVAL;
		}
	}
	if (strcmp(tag, "latest") == 0) {
		*why = "@latest is kept by artifs and cannot be changed";
		return EPERM;
	}
	if (tag[0] == 'v' && n > 1 && strspn(tag + 1, "0123456789") == n - 1) {
		*why = "@v<number> names are reserved for versions";
		return EINVAL;
	}
	return 0;
}

int fs_duration_parse(const char *s, int64_t max_s, int64_t *out)
{
	char *end;
	unsigned long long v;
	int64_t unit = 1;

	if (*s < '0' || *s > '9')
		return EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return EINVAL;
	if (!strcmp(end, "m"))
		unit = 60;
	else if (!strcmp(end, "h"))
		unit = 3600;
	else if (!strcmp(end, "d"))
		unit = 86400;
	else if (*end && strcmp(end, "s"))
		return EINVAL;
	if (v > (unsigned long long)(max_s / unit))
		return EINVAL;
	*out = (int64_t)v * unit;
	return 0;
}

int fs_retain_parse(const char *val, size_t len, struct fs_retain *r, const char **why)
{
	char buf[128], *save = NULL, *item;

	memset(r, 0, sizeof(*r));
	*why = "a retention policy is last=N and/or younger=D (D: seconds, or a number with s, m, "
	       "h or d), comma-separated";
	while (len && (val[len - 1] == '\n' || val[len - 1] == ' '))
		len--;
	if (!len || len >= sizeof(buf))
		return EINVAL;
	memcpy(buf, val, len);
	buf[len] = '\0';
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long long v;

		if (!strncmp(item, "last=", 5) && item[5] >= '0' && item[5] <= '9') {
			v = strtoull(item + 5, &end, 10);
			if (*end || v < 1 || v > 1000000000ULL || r->last)
				return EINVAL;
			r->last = v;
		} else if (!strncmp(item, "younger=", 8)) {
			if (r->younger_s || fs_duration_parse(item + 8, 36500LL * 86400, &r->younger_s) ||
			    !r->younger_s)
				return EINVAL;
		} else {
			return EINVAL;
		}
	}
	return r->last || r->younger_s ? 0 : EINVAL;
}

int fs_xattr_value_check(const char *name, const char *val, size_t len, const char **why)
{
	struct fs_retain r;

	if (strcmp(name, "user.artifs.retain") == 0)
		return fs_retain_parse(val, len, &r, why);
	if (strncmp(name, "user.metric.", 12) == 0) {
		char buf[64], *end;
		double d;

		if (len == 0 || len >= sizeof(buf)) {
			*why = "a metric is a number";
			return EINVAL;
		}
		memcpy(buf, val, len);
		buf[len] = '\0';
		d = strtod(buf, &end);
		while (*end == ' ' || *end == '\n')
			end++;
		if (end == buf || *end || !isfinite(d)) {
			*why = "a metric is a number";
			return EINVAL;
		}
	}
	if (strcmp(name, "user.artifs.kind") == 0) {
		for (size_t i = 0; i < len; i++) {
			char ch = val[i];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')) {
				*why = "a kind is one word";
				return EINVAL;
			}
		}
		if (len == 0) {
			*why = "a kind is one word";
			return EINVAL;
		}
	}
	return 0;
}
