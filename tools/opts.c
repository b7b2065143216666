/* SPDX-License-Identifier: MIT */
/*
 * Option values, parsed once for every command: sizes, counts, and the NAME=VALUE items of
 * the -o lists of the commands that open a store (mount, rebuild), into a struct fs_conf.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../fs/fs.h"
#include "tools.h"

int tool_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull alone takes " 5", "+5" and "-1" (as 2^64-1): digits only. */
	if (*s < '0' || *s > '9')
		return EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return EINVAL;
	if (errno == ERANGE || v > max)
		return ERANGE;
	*out = v;
	return 0;
}

int tool_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *u;
	char *end;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end) {
		u = strchr(units, end[0] & ~0x20);
		if (!u || !end[0])
			return EINVAL;
		shift = 10 * (int)(u - units + 1);
		end++;
		/* KiB, MiB...: the same powers of 1024. KB, MB are refused, not guessed at
		 * (1000 or 1024?). */
		if (*end && strcasecmp(end, "iB"))
			return EINVAL;
	}
	if (errno == ERANGE || v > (UINT64_MAX >> shift))
		return ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

void tool_print_json(const void *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));

	if (s)
		printf("%s\n", s);
	free(s);
}

void tool_size_human(uint64_t n, char *out, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(out, len, "%llu byte%s", (unsigned long long)n, n == 1 ? "" : "s");
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, "%.1f %s", v, units[u]);
}

int tool_size_error(const char *cmd, const char *what, const char *val, int err)
{
	if (err == ERANGE)
		fprintf(stderr, "artifs %s: %s%s: too big\n", cmd, what, val);
	else
		fprintf(stderr, "artifs %s: %s%s: not a size (bytes, or a number with K, M, G or "
				"T, powers of 1024, e.g. 32M or 32MiB)\n", cmd, what, val);
	return 1;
}

enum kind { K_STR, K_SIZE, K_UINT, K_CAPTURE };

static const struct conf_opt {
	const char *name; /* with its '=' */
	enum kind kind;
	unsigned which;
	size_t off;
} conf_opts[] = {
	{ "store=", K_STR, TOOL_OPT_STORE, offsetof(struct fs_conf, store) },
	{ "state=", K_STR, TOOL_OPT_STORE, offsetof(struct fs_conf, state) },
	{ "endpoint=", K_STR, TOOL_OPT_STORE, offsetof(struct fs_conf, endpoint) },
	{ "retries=", K_UINT, TOOL_OPT_STORE, offsetof(struct fs_conf, retries) },
	{ "cache=", K_STR, TOOL_OPT_STORE, offsetof(struct fs_conf, cache_dir) },
	{ "cache_size=", K_SIZE, TOOL_OPT_STORE, offsetof(struct fs_conf, cache_size) },
	{ "map_size=", K_SIZE, TOOL_OPT_STORE, offsetof(struct fs_conf, map_size) },
	{ "commit_delay=", K_UINT, TOOL_OPT_DAEMON, offsetof(struct fs_conf, commit_delay_ms) },
	{ "commit_idle=", K_UINT, TOOL_OPT_DAEMON, offsetof(struct fs_conf, commit_idle_ms) },
	{ "rcache=", K_SIZE, TOOL_OPT_DAEMON, offsetof(struct fs_conf, rcache_bytes) },
	{ "capture=", K_CAPTURE, TOOL_OPT_DAEMON, offsetof(struct fs_conf, no_capture) },
	{ "refresh=", K_UINT, TOOL_OPT_DAEMON, offsetof(struct fs_conf, refresh_ms) },
};

/* Values of the options a mount reads from the environment, refused as the option would be. */
static int conf_env(const char *cmd, const char *var, const char *opt, unsigned which,
		    struct fs_conf *c)
{
	const char *env = getenv(var);
	char item[64];

	if (!env || !*env)
		return 0;
	if (strlen(env) > 32) {
		fprintf(stderr, "artifs %s: $%s=%s: not a number\n", cmd, var, env);
		return 1;
	}
	snprintf(item, sizeof(item), "%s%s", opt, env);
	return tool_conf_opt(cmd, item, which, c) ? 1 : 0;
}

int tool_conf_init(const char *cmd, unsigned which, struct fs_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->commit_delay_ms = 1000;
	c->commit_idle_ms = 300000;
	c->refresh_ms = 2000;
	if (!(which & TOOL_OPT_DAEMON))
		return 0;
	if (conf_env(cmd, "ARTIFS_COMMIT_DELAY", "commit_delay=", which, c) ||
	    conf_env(cmd, "ARTIFS_COMMIT_IDLE", "commit_idle=", which, c) ||
	    conf_env(cmd, "ARTIFS_CAPTURE", "capture=", which, c))
		return 1;
	return 0;
}

int tool_conf_opt(const char *cmd, const char *item, unsigned which, struct fs_conf *c)
{
	const struct conf_opt *o = NULL;
	size_t nlen = strcspn(item, "=");
	const char *val = item[nlen] ? item + nlen + 1 : NULL;
	uint64_t v;
	char *s;
	int err;

	for (size_t i = 0; i < sizeof(conf_opts) / sizeof(conf_opts[0]) && !o; i++)
		if (strlen(conf_opts[i].name) == nlen + 1 && !strncmp(item, conf_opts[i].name, nlen))
			o = &conf_opts[i];
	if (!o)
		return -1;
	if (!(o->which & which)) {
		fprintf(stderr, "artifs %s: %s: an option of artifs mount only (see artifs %s "
				"--help)\n", cmd, item, cmd);
		return 1;
	}
	if (!val || !*val) {
		fprintf(stderr, "artifs %s: %.*s needs a value (%sVALUE)\n", cmd, (int)nlen, item,
			o->name);
		return 1;
	}
	switch (o->kind) {
	case K_STR:
		s = strdup(val);
		if (!s) {
			fprintf(stderr, "artifs %s: out of memory\n", cmd);
			return 1;
		}
		free(*(char **)((char *)c + o->off));
		*(char **)((char *)c + o->off) = s;
		return 0;
	case K_SIZE:
		err = tool_parse_size(val, &v);
		if (err)
			return tool_size_error(cmd, o->name, val, err);
		*(uint64_t *)((char *)c + o->off) = v;
		return 0;
	case K_UINT:
		err = tool_parse_uint(val, UINT_MAX, &v);
		if (err) {
			fprintf(stderr, "artifs %s: %s%s: %s\n", cmd, o->name, val,
				err == ERANGE ? "too big" : "not a whole number");
			return 1;
		}
		*(unsigned *)((char *)c + o->off) = (unsigned)v;
		return 0;
	case K_CAPTURE:
		if (strcmp(val, "0") && strcmp(val, "1")) {
			fprintf(stderr, "artifs %s: %s%s: 0 or 1\n", cmd, o->name, val);
			return 1;
		}
		*(int *)((char *)c + o->off) = val[0] == '0';
		return 0;
	}
	return -1;
}

int tool_conf_finish(const char *cmd, struct fs_conf *c)
{
	const char *env;
	char **store = (char **)&c->store, **state = (char **)&c->state;

	if (!*store && (env = getenv("ARTIFS_STORE")) && *env)
		*store = strdup(env);
	if (!*store)
		*store = strdup(fs_default_store());
	if (!*state && (env = getenv("ARTIFS_STATE")) && *env)
		*state = strdup(env);
	if (!*state)
		*state = strdup(fs_default_state());
	if (!*store || !*state) {
		fprintf(stderr, "artifs %s: out of memory\n", cmd);
		return 1;
	}
	return 0;
}

void tool_conf_release(struct fs_conf *c)
{
	free((char *)c->store);
	free((char *)c->state);
	free((char *)c->endpoint);
	free((char *)c->cache_dir);
	c->store = c->state = c->endpoint = c->cache_dir = NULL;
}
