/* SPDX-License-Identifier: MIT */
/*
 * artifs diff OLD NEW [--format text|json]: what changed from one version to another, from
 * the index alone (no file is read): entries added, removed and changed, and for a changed
 * file the byte ranges of NEW that hold chunks OLD's file lacks. One read transaction; the
 * two trees are walked side by side in name order.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../backends/backend.h"
#include "../meta/meta.h"
#include "tools.h"

#define DIFF_RANGES_SHOWN 8 /* text: the first ranges of a file; json lists them all */

struct diff {
	struct meta_txn *txn;
	int json;
	json_t *arr;
	uint64_t added, removed, changed;
};

struct range {
	uint64_t off, len;
};

static int id_cmp(const void *a, const void *b)
{
	return memcmp(((const struct chunk_ref *)a)->id, ((const struct chunk_ref *)b)->id,
		      CHUNK_ID_LEN);
}

/*
 * The ranges of the new file's bytes whose chunks the old file does not have, neighbours
 * joined: *r (caller-frees), *nr of them, *bytes in all. Files without chunk lists (empty,
 * or inline) count as one range of their whole size.
 */
static int changed_ranges(struct meta_txn *txn, uint64_t oino, uint64_t nino, uint64_t nsize,
			  struct range **r, size_t *nr, uint64_t *bytes)
{
	struct chunk_ref *o = NULL, *n = NULL;
	size_t on = 0, nn = 0, cap = 0;
	uint64_t off = 0;
	int err;

	*r = NULL;
	*nr = 0;
	*bytes = 0;
	err = meta_chunks_get(txn, oino, &o, &on);
	if (err == ENOENT)
		err = 0;
	if (!err)
		err = meta_chunks_get(txn, nino, &n, &nn);
	if (err == ENOENT) {
		err = 0;
		if (nsize) {
			*r = malloc(sizeof(**r));
			if (!*r)
				err = ENOMEM;
			else {
				(*r)[0] = (struct range){ 0, nsize };
				*nr = 1;
				*bytes = nsize;
			}
		}
		goto out;
	}
	if (err)
		goto out;
	qsort(o, on, sizeof(*o), id_cmp);
	for (size_t i = 0; i < nn; off += n[i++].len) {
		struct range *v;

		if (bsearch(&n[i], o, on, sizeof(*o), id_cmp))
			continue;
		*bytes += n[i].len;
		if (*nr && (*r)[*nr - 1].off + (*r)[*nr - 1].len == off) {
			(*r)[*nr - 1].len += n[i].len;
			continue;
		}
		v = be_grow(*r, *nr, &cap, sizeof(**r));
		if (!v) {
			err = ENOMEM;
			goto out;
		}
		*r = v;
		(*r)[(*nr)++] = (struct range){ off, n[i].len };
	}
out:
	free(o);
	free(n);
	if (err) {
		free(*r);
		*r = NULL;
	}
	return err;
}

static const char *type_name(uint32_t mode)
{
	return S_ISDIR(mode) ? "folder" : S_ISLNK(mode) ? "symlink" : "file";
}

/* One line (text) or object (json) of the report; sizes of old and new (unused for A/D). */
static void report(struct diff *d, char what, const char *path, const struct meta_inode *o,
		   const struct meta_inode *n, const char *why, const struct range *r, size_t nr,
		   uint64_t bytes)
{
	const struct meta_inode *one = n ? n : o;
	int bytes_changed = why && !strncmp(why, "bytes", 5);
	char a[32], b[32], c[32];

	if (what == 'A')
		d->added++;
	else if (what == 'D')
		d->removed++;
	else
		d->changed++;
	if (d->json) {
		json_t *e = json_pack("{s:s, s:s, s:s}", "change",
				      what == 'A' ? "added" : what == 'D' ? "removed" : "changed",
				      "path", path, "type", type_name(one->mode));

		if (!e)
			return;
		if (o && S_ISREG(o->mode))
			json_object_set_new(e, "old_size", json_integer((json_int_t)o->size));
		if (n && S_ISREG(n->mode))
			json_object_set_new(e, "new_size", json_integer((json_int_t)n->size));
		if (why)
			json_object_set_new(e, "what", json_string(why));
		if (bytes_changed) {
			json_t *ra = json_array();

			for (size_t i = 0; i < nr; i++)
				json_array_append_new(ra, json_pack("[I, I]", (json_int_t)r[i].off,
								    (json_int_t)(r[i].off + r[i].len)));
			json_object_set_new(e, "changed_bytes", json_integer((json_int_t)bytes));
			json_object_set_new(e, "ranges", ra);
		}
		json_array_append_new(d->arr, e);
		return;
	}
	printf("%c %s%s", what, path, S_ISDIR(one->mode) ? "/" : "");
	if (what != 'M') {
		if (S_ISREG(one->mode)) {
			tool_size_human(one->size, a, sizeof(a));
			printf("  (%s)", a);
		}
		printf("\n");
		return;
	}
	printf("  (%s", why);
	if (bytes_changed) {
		tool_size_human(o->size, a, sizeof(a));
		tool_size_human(n->size, b, sizeof(b));
		tool_size_human(bytes, c, sizeof(c));
		printf(": %s -> %s, %s new in %zu range%s", a, b, c, nr, nr == 1 ? "" : "s");
		for (size_t i = 0; i < nr && i < DIFF_RANGES_SHOWN; i++)
			printf("%s%" PRIu64 "-%" PRIu64, i ? " " : ": ", r[i].off, r[i].off + r[i].len);
		if (nr > DIFF_RANGES_SHOWN)
			printf(" ...");
	}
	printf(")\n");
}

static int walk(struct diff *d, uint64_t odir, uint64_t ndir, const char *prefix, int top);

/* Everything under dir (on one side only) as added or removed. */
static int one_side(struct diff *d, char what, uint64_t dir, const char *prefix)
{
	return what == 'A' ? walk(d, 0, dir, prefix, 0) : walk(d, dir, 0, prefix, 0);
}

/* Compares entry path, present in old as oino and in new as nino (0: absent). */
static int entry(struct diff *d, uint64_t oino, uint64_t nino, const char *path)
{
	struct meta_inode o, n;
	char *ot = NULL, *nt = NULL;
	int err;

	if ((oino && (err = meta_inode_get(d->txn, oino, &o))) ||
	    (nino && (err = meta_inode_get(d->txn, nino, &n))))
		return err;
	if (!oino || !nino) {
		char what = oino ? 'D' : 'A';
		const struct meta_inode *one = oino ? &o : &n;

		report(d, what, path, oino ? &o : NULL, nino ? &n : NULL, NULL, NULL, 0, 0);
		return S_ISDIR(one->mode) ? one_side(d, what, one->ino, path) : 0;
	}
	if ((o.mode & S_IFMT) != (n.mode & S_IFMT)) {
		report(d, 'M', path, &o, &n, S_ISDIR(o.mode) ? "folder replaced"
					     : S_ISDIR(n.mode) ? "replaced by a folder"
					     : S_ISLNK(n.mode) ? "replaced by a symlink"
					     : S_ISLNK(o.mode) ? "symlink replaced" : "type changed",
		       NULL, 0, 0);
		if (S_ISDIR(o.mode))
			return one_side(d, 'D', o.ino, path);
		return S_ISDIR(n.mode) ? one_side(d, 'A', n.ino, path) : 0;
	}
	if (S_ISDIR(n.mode)) {
		if ((o.mode & 07777) != (n.mode & 07777))
			report(d, 'M', path, &o, &n, "mode", NULL, 0, 0);
		return walk(d, o.ino, n.ino, path, 0);
	}
	if (S_ISLNK(n.mode)) {
		err = meta_link_get(d->txn, o.ino, &ot);
		if (!err)
			err = meta_link_get(d->txn, n.ino, &nt);
		if (!err && strcmp(ot, nt))
			report(d, 'M', path, &o, &n, "target", NULL, 0, 0);
		free(ot);
		free(nt);
		return err;
	}
	if (o.size != n.size || memcmp(o.digest, n.digest, sizeof(o.digest))) {
		struct range *r;
		size_t nr;
		uint64_t bytes;

		err = changed_ranges(d->txn, o.ino, n.ino, n.size, &r, &nr, &bytes);
		if (err)
			return err;
		report(d, 'M', path, &o, &n, (o.mode & 07777) != (n.mode & 07777) ? "bytes, mode"
										   : "bytes",
		       r, nr, bytes);
		free(r);
	} else if ((o.mode & 07777) != (n.mode & 07777)) {
		report(d, 'M', path, &o, &n, "mode", NULL, 0, 0);
	}
	return 0;
}

/* The entries of folders odir and ndir (0: that side has none), merged in name order. */
static int walk(struct diff *d, uint64_t odir, uint64_t ndir, const char *prefix, int top)
{
	struct meta_children oc = { 0 }, nc = { 0 };
	size_t i = 0, j = 0;
	int err = 0;

	if (odir)
		err = meta_children_get(d->txn, odir, top, &oc);
	if (!err && ndir)
		err = meta_children_get(d->txn, ndir, top, &nc);
	while (!err && (i < oc.n || j < nc.n)) {
		int c = i >= oc.n ? 1 : j >= nc.n ? -1 : strcmp(oc.v[i].name, nc.v[j].name);
		const char *name = c <= 0 ? oc.v[i].name : nc.v[j].name;
		size_t len = strlen(prefix) + strlen(name) + 2;
		char *path = malloc(len);

		if (!path) {
			err = ENOMEM;
			break;
		}
		snprintf(path, len, "%s%s%s", prefix, *prefix ? "/" : "", name);
		err = entry(d, c <= 0 ? oc.v[i].ino : 0, c >= 0 ? nc.v[j].ino : 0, path);
		free(path);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	free(oc.v);
	free(nc.v);
	return err;
}

static int usage_help(void)
{
	printf("usage: artifs diff [--state DIR] [--format text|json] OLD NEW\n\n"
	       "What changed from version OLD to version NEW (artifs://p/a@ref URIs or paths of\n"
	       "@ names on a mount; ref: vN, a tag or latest; the two may be of different\n"
	       "artifacts), from the index alone, instant for large trees. One line per entry:\n"
	       "  A path  (size)       added in NEW\n"
	       "  D path  (size)       removed (in OLD only)\n"
	       "  M path  (what ...)   changed: bytes (sizes, the bytes of NEW whose chunks OLD's\n"
	       "                       file lacks, and their ranges), mode, symlink target, type\n"
	       "Folders end in '/'; what is under an added or removed folder is listed too.\n"
	       "--format json prints one array of objects (change, path, type, old_size,\n"
	       "new_size, what, changed_bytes, ranges as [start, end) pairs).\n"
	       "Exit status: 0 done (whether or not anything changed), 1 failed, 2 a version\n"
	       "missing from the command line.\n");
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	const char *state = NULL, *format = "text", *args[2] = { NULL, NULL };
	char uri[2][4096];
	struct meta_vref v[2];
	struct meta_version rec[2];
	struct meta *m;
	struct diff d = { 0 };
	int opts = 1, nargs = 0, err;

	if (tool_wants_help(argc, argv))
		return usage_help();
	if (tool_state_arg(&argc, argv, &state))
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && !strcmp(a, "--format")) {
			if (i + 1 >= argc)
				return tool_needs_value("diff", a);
			format = argv[++i];
		} else if (opts && !strcmp(a, "--")) {
			opts = 0;
		} else if (opts && a[0] == '-') {
			return tool_bad_option("diff", a);
		} else if (nargs < 2) {
			args[nargs++] = a;
		} else {
			fprintf(stderr, "artifs diff: unexpected argument '%s' (two versions)\n", a);
			return 1;
		}
	}
	if (strcmp(format, "text") && strcmp(format, "json")) {
		fprintf(stderr, "artifs diff: --format is text or json, not '%s'\n", format);
		return 1;
	}
	if (nargs < 2) {
		fprintf(stderr, "artifs diff: give two versions, OLD and NEW (see artifs diff "
				"--help)\n");
		return 2;
	}
	for (int i = 0; i < 2; i++)
		if (tool_uri("diff", args[i], uri[i], sizeof(uri[i])))
			return 1;
	if (tool_meta_open(state, args[0], &m))
		return 1;
	err = meta_txn_begin(m, 1, &d.txn);
	if (err)
		goto out;
	for (int i = 0; i < 2 && !err; i++) {
		err = meta_uri_resolve(d.txn, uri[i], &v[i]);
		if (!err)
			err = meta_version_get(d.txn, v[i].artifact, v[i].n, &rec[i]);
		if (err) {
			fprintf(stderr, "artifs diff: %s: %s\n", uri[i],
				err == ENOENT ? "no such version"
					      : "not a version (artifs://p/a@vN, a tag or @latest)");
			err = EEXIST; /* reported */
		}
	}
	d.json = !strcmp(format, "json");
	if (!err && d.json && !(d.arr = json_array()))
		err = ENOMEM;
	if (!err)
		err = walk(&d, rec[0].root, rec[1].root, "", 0);
	if (!err && d.json)
		tool_print_json(d.arr);
	else if (!err && !(d.added + d.removed + d.changed))
		printf("no changes\n");
	meta_txn_abort(d.txn);
out:
	json_decref(d.arr);
	meta_close(m);
	if (err && err != EEXIST)
		fprintf(stderr, "artifs diff: %s\n", strerror(err));
	return err ? 1 : 0;
}
