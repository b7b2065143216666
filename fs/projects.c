/* SPDX-License-Identifier: MIT */
/*
 * Removing and restoring a whole project (docs/lifecycle.md, "A whole project"): artifs rm
 * and restore of a project, rm -rf of a project folder, and every host following. A
 * project's removal is its artifacts' removals (the marks of fs/lifecycle.c, which gc,
 * refresh and rebuild know) plus one mark, meta/<p>/@removed, that hides the project folder
 * and names the artifacts a restore brings back. In the index a hidden project keeps its
 * inode; only its entry in the root goes, as a removed artifact's does from its project.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

/* The mark's largest body: every artifact name of a big project fits. */
#define MARK_MAX (1u << 20)


/* ---- what the index holds ---- */

struct arts {
	uint64_t project;
	int hidden; /* collect the removed artifacts, not those with a folder */
	struct meta_txn *txn;
	struct meta_artifact *v;
	size_t n, cap;
};

static int arts_add(struct arts *s, const struct meta_artifact *a)
{
	struct meta_artifact *nv = be_grow(s->v, s->n, &s->cap, sizeof(*nv));

	if (!nv)
		return ENOMEM;
	s->v = nv;
	s->v[s->n++] = *a;
	return 0;
}

static int hidden_fn(void *arg, const struct meta_artifact *rec)
{
	struct arts *s = arg;
	uint64_t through;

	if (rec->project_ino != s->project ||
	    meta_art_removed_get(s->txn, rec->ino, &through, NULL))
		return 0;
	return arts_add(s, rec);
}

static int shown_fn(void *arg, const char *name, size_t namelen, uint64_t child, uint32_t type)
{
	struct arts *s = arg;
	struct meta_artifact a;
	struct meta_inode in;

	(void)name;
	(void)namelen;
	(void)type;
	if (meta_inode_get(s->txn, child, &in) || in.kind != MK_ARTIFACT ||
	    meta_artifact_get(s->txn, child, &a))
		return 0;
	return arts_add(s, &a);
}

/* The artifacts of project pino: with a folder (hidden 0) or removed (hidden 1). */
static int arts_read(struct fs *fs, uint64_t pino, int hidden, struct arts *s)
{
	int err = meta_txn_begin(fs->meta, 1, &s->txn);

	s->project = pino;
	s->hidden = hidden;
	if (err)
		return err;
	if (!hidden)
		err = meta_dirent_iter(s->txn, pino, NULL, shown_fn, s);
	else if (!meta_removed_none(s->txn))
		err = meta_artifact_iter(s->txn, hidden_fn, s);
	meta_txn_abort(s->txn);
	s->txn = NULL;
	return err;
}

struct hide {
	uint64_t pino;
	const char *name;
	int show, changed;
};

/* Stops at an artifact with versions or a draft (or anything else in the folder). */
struct holds {
	struct meta_txn *txn;
	int yes;
};

static int holds_fn(void *arg, const char *name, size_t namelen, uint64_t child, uint32_t type)
{
	struct holds *h = arg;
	struct meta_artifact a;

	(void)name;
	(void)namelen;
	(void)type;
	if (meta_artifact_get(h->txn, child, &a) || a.latest || a.next > 1 || a.draft) {
		h->yes = 1;
		return META_ITER_STOP;
	}
	return 0;
}

/* Hiding needs every artifact with a folder empty (never committed, no draft): one committed
 * to after the removal (by a host that had not seen it) keeps its project shown. */
static int hide_fn(struct meta_txn *txn, void *arg)
{
	struct hide *h = arg;
	uint64_t child;
	uint32_t type;
	int err = meta_dirent_get(txn, META_ROOT_INO, h->name, &child, &type);

	h->changed = 0;
	if (h->show) {
		if (err != ENOENT)
			return err == 0 && child != h->pino ? EEXIST : err;
		err = meta_dirent_put(txn, META_ROOT_INO, h->name, h->pino, S_IFDIR);
	} else {
		if (err || child != h->pino)
			return err == ENOENT ? 0 : err;
		struct holds hs = { txn, 0 };

		err = meta_dirent_iter(txn, h->pino, NULL, holds_fn, &hs);
		if (err || hs.yes)
			return err;
		err = meta_dirent_del(txn, META_ROOT_INO, h->name);
	}
	h->changed = !err;
	return err;
}

/* inval: how the kernel forgets a hidden name: 2 before this returns (no folder lock is
 * held), 1 soon after (the caller's request holds the root's lock), 0 not at all (an rmdir
 * of the name, which the kernel drops itself). */
static int show(struct fs *fs, uint64_t pino, const char *name, int shown, int inval)
{
	struct hide h = { pino, name, shown, 0 };
	int err = meta_write(fs->meta, hide_fn, &h);

	if (!err && h.changed && !shown && inval == 2)
		fs_inval_entry_now(fs, META_ROOT_INO, name);
	else if (!err && h.changed && !shown && inval == 1)
		fs_inval_entry(fs, META_ROOT_INO, name);
	return err;
}

/* ---- the mark ---- */

static int mark_put(struct fs *fs, const char *project, const struct arts *gone)
{
	json_t *o = json_object(), *names = json_array();
	char key[BE_KEY_MAX], *body = NULL;
	int err = fs_project_mark_key(key, sizeof(key), project);

	if (!o || !names) {
		json_decref(o);
		json_decref(names);
		return ENOMEM;
	}
	json_object_set_new(o, "removed_ns", json_integer(fs_now_ns()));
	for (size_t i = 0; i < gone->n; i++)
		json_array_append_new(names, json_string(gone->v[i].name));
	json_object_set_new(o, "artifacts", names);
	if (!err && !(body = json_dumps(o, JSON_COMPACT)))
		err = ENOMEM;
	if (!err && strlen(body) > MARK_MAX)
		err = EFBIG;
	if (!err)
		err = be_put(fs->be, key, body, strlen(body));
	free(body);
	json_decref(o);
	return err;
}

/* The artifact names the mark lists, into *out (a JSON array the caller releases): 0,
 * ENOENT when there is no mark, EINVAL (logged) for one that does not decode. */
static int mark_read(struct fs *fs, const char *project, json_t **out)
{
	char key[BE_KEY_MAX];
	json_error_t jerr;
	json_t *o = NULL, *names;
	void *buf = NULL;
	size_t len;
	int err = fs_project_mark_key(key, sizeof(key), project);

	if (!err)
		err = be_get_all(fs->be, key, MARK_MAX, &buf, &len);
	if (!err && !(o = json_loadb(buf, len, 0, &jerr)))
		err = EINVAL;
	free(buf);
	names = json_object_get(o, "artifacts");
	if (!err && !json_is_array(names))
		err = EINVAL;
	if (err == EINVAL)
		log_msg(LOG_WARNING, "%s: not a valid project removal mark (no \"artifacts\" list)",
			key);
	if (!err)
		*out = json_incref(names);
	json_decref(o);
	return err;
}

/* ---- artifs rm of a project ---- */

/* Each artifact with versions goes as by artifs rm (restorable); one never committed stays
 * with the hidden folder. First all are checked, so that a draft refuses the removal before
 * anything changes. */
static int remove_all(struct fs *fs, uint64_t pino, const char *project, char *why,
		      size_t whylen)
{
	struct arts s = { 0 };
	int err = arts_read(fs, pino, 0, &s);

	for (size_t i = 0; i < s.n && !err; i++) {
		if (s.v[i].draft) {
			err = EBUSY;
			snprintf(why, whylen, "%s/%s has changes not committed yet: commit or "
				 "discard them first", project, s.v[i].name);
		}
	}
	for (size_t i = 0; i < s.n && !err; i++) {
		struct fs_art *art = fs_art_get(fs, s.v[i].ino);
		char one[400] = "";

		if (!s.v[i].latest && s.v[i].next <= 1)
			continue; /* never committed: it stays with the hidden folder */
		err = art ? fs_remove(fs, art, 0, 0, one, sizeof(one)) : ENOMEM;
		if (err == ENOENT && one[0])
			err = 0; /* removed meanwhile */
		if (err)
			snprintf(why, whylen, "%s/%s: %s (what was removed before it stays "
				 "removed: artifs restore %s brings it back)", project, s.v[i].name,
				 one[0] ? one : strerror(err), project);
		else
			fs_inval_entry_now(fs, pino, s.v[i].name);
	}
	free(s.v);
	return err;
}

int fs_project_remove(struct fs *fs, uint64_t pino, const char *project, int rmdir, char *why,
		      size_t whylen)
{
	struct arts gone = { 0 };
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	err = remove_all(fs, pino, project, why, whylen);
	if (!err)
		err = arts_read(fs, pino, 1, &gone);
	if (!err && !gone.n) {
		err = ENOENT;
		snprintf(why, whylen, "nothing in the project was ever committed (rmdir removes "
			 "an empty one)");
	}
	if (!err && (err = mark_put(fs, project, &gone)))
		snprintf(why, whylen, "its artifacts are removed, but the project's mark could "
			 "not be written to the store: %s", strerror(err));
	if (!err && (err = show(fs, pino, project, 0, rmdir ? 0 : 2)))
		snprintf(why, whylen, "done in the store, but this host's index did not follow "
			 "yet: %s", strerror(err));
	if (!err)
		log_msg(LOG_INFO, "removed project %s (%zu artifact(s))", project, gone.n);
	free(gone.v);
	return err;
}

/* ---- artifs restore of a project ---- */

/* Artifact name of the project back: ENOENT with why when gc purged it; 0 also when it is
 * not removed (restored by itself since). */
static int restore_one(struct fs *fs, uint64_t pino, const char *project, const char *name,
		       char *why, size_t whylen)
{
	struct meta_artifact a;
	struct meta_txn *txn;
	struct fs_art *art;
	int err = pino ? meta_txn_begin(fs->meta, 1, &txn) : ENOENT;

	if (!err) {
		err = fs_hidden_find(txn, pino, name, &a);
		meta_txn_abort(txn);
	}
	if (!err) {
		art = fs_art_get(fs, a.ino);
		err = art ? fs_restore(fs, art, 0, why, whylen) : ENOMEM;
	} else if (err == ENOENT) {
		err = fs_restore_unseen(fs, project, name, why, whylen);
	}
	if (err == EEXIST || (err == ENOENT && !strstr(why, "purged")))
		err = 0; /* not removed: restored by itself, or never committed */
	return err;
}

int fs_project_restore(struct fs *fs, const char *project, char *why, size_t whylen)
{
	char key[BE_KEY_MAX], purged[400] = "";
	struct meta_txn *txn;
	uint64_t pino = 0;
	json_t *names = NULL, *v;
	size_t i, npurged = 0;
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	err = mark_read(fs, project, &names);
	if (err == ENOENT) {
		snprintf(why, whylen, "the project is not removed");
		return EEXIST;
	}
	if (err) {
		snprintf(why, whylen, "cannot read the project's removal mark: %s", strerror(err));
		return err;
	}
	if (!(err = meta_txn_begin(fs->meta, 1, &txn))) {
		if (fs_hidden_project(txn, project, &pino))
			pino = 0; /* removed before this host saw it */
		meta_txn_abort(txn);
	}
	json_array_foreach(names, i, v) {
		const char *name = json_string_value(v), *bad;
		char one[400] = "";

		if (err)
			break;
		if (!name || fs_name_check_pa(name, &bad))
			continue; /* a planted entry names nothing to restore */
		err = restore_one(fs, pino, project, name, one, sizeof(one));
		if (err == ENOENT) {
			size_t at = strlen(purged);

			snprintf(purged + at, sizeof(purged) - at, "%s%s", npurged++ ? ", " : "", name);
			err = 0;
		} else if (err) {
			snprintf(why, whylen, "%s/%s: %s (the project stays removed; artifs restore "
				 "%s tries again)", project, name, one[0] ? one : strerror(err), project);
		}
	}
	json_decref(names);
	if (!err && !(err = fs_project_mark_key(key, sizeof(key), project)) &&
	    (err = be_del(fs->be, key)) == ENOENT)
		err = 0; /* restored meanwhile by another host */
	if (err && !why[0])
		snprintf(why, whylen, "cannot remove the project's mark from the store: %s",
			 strerror(err));
	if (!err && pino && (err = show(fs, pino, project, 1, 0)))
		snprintf(why, whylen, "done in the store, but this host's index did not follow "
			 "yet (the next lookup of the name does): %s", strerror(err));
	if (!err && npurged)
		snprintf(why, whylen, "purged by gc, not restored: %s", purged);
	if (!err)
		log_msg(LOG_INFO, "restored project %s", project);
	return err;
}

/* ---- other hosts ---- */

struct seen {
	uint64_t ino;
	int64_t at;
};

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct seen *seen;
static size_t nseen, capseen;

/* Whether project pino is due for a look at its mark (at most once per refresh). */
static int due(struct fs *fs, uint64_t pino)
{
	int64_t now = fs_mono_ns();
	size_t i;
	int yes = 1;

	pthread_mutex_lock(&seen_lock);
	for (i = 0; i < nseen && seen[i].ino != pino; i++)
		;
	if (i == nseen) {
		struct seen *ns = be_grow(seen, nseen, &capseen, sizeof(*ns));

		if (ns) {
			seen = ns;
			seen[nseen++] = (struct seen){ pino, now };
		}
	} else if (now - seen[i].at < (int64_t)fs->conf.refresh_ms * 1000000) {
		yes = 0;
	} else {
		seen[i].at = now;
	}
	pthread_mutex_unlock(&seen_lock);
	return yes;
}

int fs_project_follow(struct fs *fs, const struct meta_inode *p, const char *name)
{
	struct arts s = { 0 };
	int err;

	FS_ASSERT_NO_HEAD_LOCK(); /* store I/O */
	if (!fs->conf.refresh_ms || !due(fs, p->ino) || !fs_project_removed(fs, name))
		return 0;
	/* Removed elsewhere: each artifact follows its own mark (one committed to after the
	 * removal stays, and the project with it). */
	err = arts_read(fs, p->ino, 0, &s);
	for (size_t i = 0; i < s.n && !err; i++)
		fs_refresh_artifact(fs, s.v[i].ino, 1);
	free(s.v);
	return err ? err : show(fs, p->ino, name, 0, 1);
}

/* artifs rm or restore of project name (fs/projects.c): the project folder's writers, as
 * for its artifacts. */
int fs_do_project_lifecycle(struct fs *fs, const struct fuse_ctx *ctx, const char *name,
			    uint64_t n, int restore, char *why, size_t whylen)
{
	const char *op = restore ? "restore" : "rm", *bad;
	struct meta_inode p = { .uid = 0, .mode = 0755 };
	struct meta_txn *txn;
	uint64_t pino = 0;
	uint32_t type;
	int err;

	if (fs_name_check_pa(name, &bad)) {
		snprintf(why, whylen, "%s", bad);
		return fs_refuse(EINVAL, op, name, why);
	}
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	if (n) {
		err = EINVAL;
		snprintf(why, whylen, "a version belongs to an artifact: name it p/a@vN");
	} else if (meta_dirent_get(txn, META_ROOT_INO, name, &pino, &type) == 0) {
		err = meta_inode_get(txn, pino, &p);
	} else if (fs_hidden_project(txn, name, &pino) == 0) {
		err = meta_inode_get(txn, pino, &p);
		if (!err && !restore) {
			err = ENOENT;
			snprintf(why, whylen, "the project is removed already (artifs restore "
				 "brings it back)");
		}
	} else if (!restore) {
		err = ENOENT;
		snprintf(why, whylen, "no such project");
	}
	meta_txn_abort(txn);
	if (!err && !fs_may_write(ctx, &p)) {
		err = EACCES;
		snprintf(why, whylen, "only root or a user who may write to the project folder "
			 "removes and restores it");
	}
	if (!err)
		err = restore ? fs_project_restore(fs, name, why, whylen)
			      : fs_project_remove(fs, pino, name, 0, why, whylen);
	if (err && why[0])
		fs_refuse(err, op, name, why);
	return err;
}
