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

#define NOPTS (sizeof(conf_opts) / sizeof(conf_opts[0]))

/* Where each option's value came from ("" for the default), for artifs config. */
static char conf_src[NOPTS][PATH_MAX + 32];
static const char *origin = "-o"; /* of the value tool_conf_opt() takes next */

/* $ARTIFS_<NAME> of option o: "ARTIFS_COMMIT_DELAY" for "commit_delay=". */
static void env_name(const struct conf_opt *o, char *out, size_t len)
{
	size_t n = snprintf(out, len, "ARTIFS_%s", o->name);

	out[n - 1] = '\0'; /* the '=' */
	for (char *p = out + 7; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
}

/* Takes item from origin where, if it is an option of which (options of other commands in a
 * shared file are left alone): 0, or 1 refused (a message on stderr). */
static int take(const char *cmd, const char *item, unsigned which, struct fs_conf *c,
		const char *where)
{
	size_t nlen = strcspn(item, "=");
	char label[PATH_MAX + 64];
	int rc;

	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(conf_opts[i].name) == nlen + 1 &&
		    !strncmp(item, conf_opts[i].name, nlen) && !(conf_opts[i].which & which))
			return 0;
	/* Refusals name the file and line, or the variable: "artifs mount: FILE:3: ...". */
	snprintf(label, sizeof(label), "%s: %s", cmd, where);
	origin = where;
	rc = tool_conf_opt(label, item, which, c);
	origin = "-o";
	if (rc < 0)
		fprintf(stderr, "artifs %s: %s: %.*s: no such option (see artifs mount --help)\n",
			cmd, where, (int)nlen, item);
	return rc ? 1 : 0;
}

/* The config file path, NAME=VALUE per line ('#' starts a comment): 0 when it is taken or
 * missing, 1 refused. */
static int conf_file(const char *cmd, const char *path, unsigned which, struct fs_conf *c)
{
	char line[PATH_MAX + 64], where[PATH_MAX + 32];
	FILE *f = fopen(path, "r");
	int n = 0, rc = 0;

	if (!f && errno == ENOENT)
		return 0;
	if (!f) {
		fprintf(stderr, "artifs %s: %s: %s\n", cmd, path, strerror(errno));
		return 1;
	}
	while (!rc && fgets(line, sizeof(line), f)) {
		char *p = line, *e;

		n++;
		p += strspn(p, " \t");
		e = p + strcspn(p, "#\n");
		while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		*e = '\0';
		snprintf(where, sizeof(where), "%s:%d", path, n);
		if (*p)
			rc = take(cmd, p, which, c, where);
	}
	fclose(f);
	return rc;
}

/* The config files, the system's first so that the user's wins: $ARTIFS_CONFIG alone when
 * set, else /etc/artifs/config, then $XDG_CONFIG_HOME/artifs/config or
 * ~/.config/artifs/config. */
static int conf_files(const char *cmd, unsigned which, struct fs_conf *c)
{
	const char *only = getenv("ARTIFS_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char user[PATH_MAX];

	if (only)
		return *only ? conf_file(cmd, only, which, c) : 0;
	if (conf_file(cmd, "/etc/artifs/config", which, c))
		return 1;
	if (xdg && *xdg)
		snprintf(user, sizeof(user), "%s/artifs/config", xdg);
	else if (home && *home)
		snprintf(user, sizeof(user), "%s/.config/artifs/config", home);
	else
		return 0;
	return conf_file(cmd, user, which, c);
}

int tool_conf_init(const char *cmd, unsigned which, struct fs_conf *c)
{
	char var[66], item[PATH_MAX + 64];

	memset(c, 0, sizeof(*c));
	memset(conf_src, 0, sizeof(conf_src));
	c->commit_delay_ms = 1000;
	c->commit_idle_ms = 300000;
	c->refresh_ms = 2000;
	/* Precedence: -o (taken after this) over the environment over the files. */
	if (conf_files(cmd, which, c))
		return 1;
	for (size_t i = 0; i < NOPTS; i++) {
		const char *env;

		env_name(&conf_opts[i], var, sizeof(var));
		env = getenv(var);
		if (!env || !*env || !(conf_opts[i].which & which))
			continue;
		snprintf(item, sizeof(item), "%s%s", conf_opts[i].name, env);
		memmove(var + 1, var, strlen(var) + 1);
		var[0] = '$';
		if (take(cmd, item, which, c, var))
			return 1;
	}
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
	snprintf(conf_src[o - conf_opts], sizeof(conf_src[0]), "%s", origin);
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
	char **store = (char **)&c->store, **state = (char **)&c->state;

	if (!*store)
		*store = strdup(fs_default_store());
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

void tool_conf_show(const struct fs_conf *c, unsigned which, FILE *f)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct conf_opt *o = &conf_opts[i];
		const char *src = conf_src[i][0] ? conf_src[i] : "default";
		const void *at = (const char *)c + o->off;

		if (!(o->which & which))
			continue;
		switch (o->kind) {
		case K_STR:
			fprintf(f, "%s%s", o->name, *(char *const *)at ? *(char *const *)at : "");
			break;
		case K_SIZE:
			fprintf(f, "%s%llu", o->name, (unsigned long long)*(const uint64_t *)at);
			break;
		case K_UINT:
			fprintf(f, "%s%u", o->name, *(const unsigned *)at);
			break;
		case K_CAPTURE:
			fprintf(f, "%s%d", o->name, !*(const int *)at);
			break;
		}
		fprintf(f, "\t%s\n", src);
	}
}

int tool_conf_list(const char *cmd, char *opts, unsigned which, struct fs_conf *c)
{
	char *item = opts, *r = opts, *w = opts;
	int err, last;

	for (;;) {
		if (*r == '\\' && r[1]) {
			*w++ = r[1];
			r += 2;
			continue;
		}
		if (*r && *r != ',') {
			*w++ = *r++;
			continue;
		}
		last = !*r;
		*w = '\0';
		if (*item) {
			err = tool_conf_opt(cmd, item, which, c);
			if (err < 0) {
				fprintf(stderr, "artifs %s: unknown option '%s' (see artifs %s --help)\n",
					cmd, item, cmd);
				return 1;
			}
			if (err)
				return 1;
		}
		if (last)
			return 0;
		item = w = ++r;
	}
}
