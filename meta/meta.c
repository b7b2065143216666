/* SPDX-License-Identifier: MIT */
/*
 * The LMDB environment of one state directory: ownership lock, DBIs, transactions and map
 * growth. The typed records live in index.c.
 *
 * Durability: the environment runs with MDB_NOSYNC, so a commit reaches the OS page cache
 * but is not fsync'ed. A crash of the daemon loses nothing (the kernel keeps the pages). A
 * crash of the machine is another matter: LMDB then gives no guarantee for the transactions
 * since the last meta_sync(), and the environment may even be damaged (its pages can reach
 * the disk in any order). fs/ therefore calls meta_sync() where a user asked for durability
 * (fsync, version commit, unmount) and before it deletes anything the index no longer
 * needs (a committed file's staging copy), and a damaged index is rebuilt from the store
 * (DESIGN.md section 5; drafts since the last sync are then lost). This avoids one fsync per
 * FUSE write operation.
 *
 * Map growth: LMDB's map has a fixed size and mdb_env_set_mapsize() may only run while this
 * process has no transaction open. Every transaction therefore holds m->resize for reading;
 * meta_write() takes it for writing to double the map when a write found it full. Because
 * of that, a thread must not call meta_write() (nor begin a write transaction) while it
 * holds another transaction of its own: growing the map would wait for itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "meta_int.h"

#define META_SCHEMA 2
#define META_DEFAULT_MAP (256ULL << 20)
#define META_MAX_DBS 32
#define META_MAX_READERS 126
#define META_MAX_GROWTHS 8

static const char *const dbi_names[DBI_COUNT] = {
	[DBI_CONF] = "conf",	       [DBI_INODES] = "inodes", [DBI_LINKS] = "links",
	[DBI_CHUNKS] = "chunks",       [DBI_DIRENTS] = "dirents", [DBI_XATTRS] = "xattrs",
	[DBI_ARTIFACTS] = "artifacts", [DBI_VERSIONS] = "versions",
	[DBI_LINEAGE_UP] = "lineage_up", [DBI_LINEAGE_DOWN] = "lineage_down",
	[DBI_LABEL_IDX] = "label_idx",   [DBI_METRIC_IDX] = "metric_idx",
	[DBI_CHUNK_OK] = "chunk_ok",   [DBI_ORPHANS] = "orphans",
	[DBI_CHUNK_AT] = "chunk_at",   [DBI_PACKS] = "packs",     [DBI_RUNS] = "runs",
	[DBI_PACK_NO] = "pack_no",     [DBI_REMOVED] = "removed",
};

/* *why of meta_open(): room for a path of PATH_MAX and a sentence. */
static __thread char why_buf[8192];

int meta_err(int rc, const char *what)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return ENOENT;
	case MDB_KEYEXIST:
		return EEXIST;
	case MDB_MAP_FULL:
		return ENOSPC;
	default:
		log_msg(LOG_ERR, "meta: %s: %s", what, mdb_strerror(rc));
		return EIO;
	}
}

/* mkdir -p, with private permissions for the directories we create. */
static int mkdir_p(const char *dir)
{
	char *p, *path = strdup(dir);
	int rc = 0;

	if (!path)
		return ENOMEM;
	for (p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(path, 0700) && errno != EEXIST) {
			rc = errno;
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(path);
	return rc;
}

/* Names the owner of a busy state directory, by the pid it wrote into the lock file. */
static void busy_why(const char *dir, int lfd)
{
	static const char what[] = "is in use by another artifs daemon";
	char buf[32];
	long pid = 0;
	ssize_t n;

	n = pread(lfd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		pid = strtol(buf, NULL, 10);
	}
	if (pid > 0)
		snprintf(why_buf, sizeof(why_buf), "state directory %s %s (pid %ld)", dir, what,
			 pid);
	else
		snprintf(why_buf, sizeof(why_buf), "state directory %s %s", dir, what);
}

/* Takes the ownership lock <dir>/lock and writes our pid into it; *fd stays open. */
static int take_lock(const char *dir, int *fd, const char **why)
{
	char path[4096], buf[32];
	ssize_t n;
	int rc, lfd;

	if ((size_t)snprintf(path, sizeof(path), "%s/lock", dir) >= sizeof(path))
		return ENAMETOOLONG;
	lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0) {
		rc = errno;
		snprintf(why_buf, sizeof(why_buf), "cannot open %s: %s", path, strerror(rc));
		*why = why_buf;
		return rc;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB)) {
		rc = errno;
		if (rc == EWOULDBLOCK) {
			busy_why(dir, lfd);
			rc = EBUSY;
		} else {
			snprintf(why_buf, sizeof(why_buf), "cannot lock %s: %s", path,
				 strerror(rc));
		}
		*why = why_buf;
		close(lfd);
		return rc;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(lfd, 0) || pwrite(lfd, buf, n, 0) != n)
		log_msg(LOG_WARNING, "meta: cannot write pid into %s: %s", path, strerror(errno));
	*fd = lfd;
	return 0;
}

/* Schema 1 to 2 (store format 2's chunk locations keyed by a pack number): in txn, which
 * opened every DBI and then writes the new schema. */
static int upgrade_1(struct meta *m, MDB_txn *txn)
{
	static const char schema_key[] = "schema";
	struct meta_txn t = { .m = m, .txn = txn, .map_size = m->map_size };
	MDB_val k = { sizeof(schema_key) - 1, (void *)schema_key }, v;
	uint32_t schema = META_SCHEMA;
	MDB_dbi old;
	int rc = mdb_dbi_open(txn, "chunk_loc", MDB_CREATE, &old);

	if (rc)
		return meta_err(rc, "chunk_loc");
	rc = meta_upgrade_packs(&t, old);
	v.mv_size = sizeof(schema);
	v.mv_data = &schema;
	if (!rc)
		rc = meta_err(mdb_put(txn, m->dbi[DBI_CONF], &k, &v, 0), "schema");
	if (!rc)
		log_msg(LOG_NOTICE, "meta: index upgraded from schema 1 to %d", META_SCHEMA);
	return rc;
}

/* Opens every DBI in one transaction and checks (or writes) the schema version. */
static int open_dbis(struct meta *m, int readonly, const char **why)
{
	static const char schema_key[] = "schema";
	MDB_val k = { sizeof(schema_key) - 1, (void *)schema_key }, v;
	uint32_t schema = META_SCHEMA;
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(m->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
	if (rc)
		return meta_err(rc, "begin");
	for (int i = 0; i < DBI_COUNT; i++) {
		rc = mdb_dbi_open(txn, dbi_names[i], readonly ? 0 : MDB_CREATE, &m->dbi[i]);
		if (rc == MDB_NOTFOUND && readonly && i >= DBI_CHUNK_OK) {
			/* Added later; readers beside the daemon never use it. */
			m->dbi[i] = 0;
			continue;
		}
		if (rc) {
			rc = meta_err(rc, dbi_names[i]);
			goto fail;
		}
	}
	rc = mdb_get(txn, m->dbi[DBI_CONF], &k, &v);
	if (rc == MDB_NOTFOUND && readonly) {
		*why = "the metadata index is empty (never mounted)";
		rc = ENOENT;
		goto fail;
	}
	if (rc == MDB_NOTFOUND) {
		v.mv_size = sizeof(schema);
		v.mv_data = &schema;
		rc = mdb_put(txn, m->dbi[DBI_CONF], &k, &v, 0);
	} else if (!rc) {
		if (v.mv_size != sizeof(schema))
			schema = 0;
		else
			memcpy(&schema, v.mv_data, sizeof(schema));
		if (schema == 1 && !readonly) {
			rc = upgrade_1(m, txn);
			if (rc) {
				snprintf(why_buf, sizeof(why_buf),
					 "cannot upgrade the metadata index from schema 1: %s",
					 strerror(rc));
				*why = why_buf;
				goto fail;
			}
		} else if (schema != META_SCHEMA) {
			snprintf(why_buf, sizeof(why_buf),
				 "metadata index has schema %" PRIu32 ", this artifs knows %d%s",
				 schema, META_SCHEMA,
				 schema == 1 ? " (the daemon of this artifs upgrades it at mount)"
					     : "");
			*why = why_buf;
			log_msg(LOG_ERR, "meta: %s", why_buf);
			rc = EINVAL;
			goto fail;
		}
	}
	if (rc) {
		rc = meta_err(rc, "schema");
		goto fail;
	}
	return meta_err(mdb_txn_commit(txn), "commit");
fail:
	mdb_txn_abort(txn);
	return rc;
}

int meta_open(const struct meta_conf *c, struct meta **out, const char **why)
{
	const char *dummy;
	struct meta *m;
	MDB_envinfo info;
	int rc;

	if (!why)
		why = &dummy;
	*why = NULL;
	*out = NULL;
	if (!c->dir || !*c->dir)
		return EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return ENOMEM;
	m->lock_fd = -1;
	rc = mkdir_p(c->dir);
	if (rc) {
		snprintf(why_buf, sizeof(why_buf), "cannot create state directory %s: %s", c->dir,
			 strerror(rc));
		*why = why_buf;
		goto fail_free;
	}
	/* Readers (the artifs command) share the index with the daemon; only a writer owns it. */
	rc = c->readonly ? 0 : take_lock(c->dir, &m->lock_fd, why);
	if (rc)
		goto fail_free;
	rc = pthread_rwlock_init(&m->resize, NULL);
	if (rc)
		goto fail_lock;

	rc = mdb_env_create(&m->env);
	if (rc) {
		rc = meta_err(rc, "env create");
		goto fail_rwlock;
	}
	/* Map size is left to LMDB here so that an existing environment keeps its grown size. */
	rc = mdb_env_set_maxdbs(m->env, META_MAX_DBS);
	if (!rc)
		rc = mdb_env_set_maxreaders(m->env, META_MAX_READERS);
	if (!rc)
		rc = mdb_env_open(m->env, c->dir,
				  MDB_NOTLS | (c->readonly ? MDB_RDONLY : MDB_NOSYNC), 0600);
	if (rc) {
		int err = rc > 0 ? rc : EIO;

		snprintf(why_buf, sizeof(why_buf), "cannot open metadata index in %s: %s", c->dir,
			 mdb_strerror(rc));
		*why = why_buf;
		log_msg(LOG_ERR, "meta: %s", why_buf);
		rc = err;
		goto fail_env;
	}
	rc = mdb_env_info(m->env, &info);
	if (rc) {
		rc = meta_err(rc, "env info");
		goto fail_env;
	}
	m->map_size = info.me_mapsize;
	{
		uint64_t want = c->map_size ? c->map_size : META_DEFAULT_MAP;

		if (want > m->map_size && !c->readonly) {
			rc = mdb_env_set_mapsize(m->env, want);
			if (rc) {
				rc = meta_err(rc, "set map size");
				goto fail_env;
			}
			m->map_size = want;
		}
	}
	rc = open_dbis(m, c->readonly, why);
	if (rc)
		goto fail_env;
	*out = m;
	return 0;

fail_env:
	mdb_env_close(m->env);
fail_rwlock:
	pthread_rwlock_destroy(&m->resize);
fail_lock:
	if (m->lock_fd >= 0)
		close(m->lock_fd);
fail_free:
	free(m);
	return rc;
}

void meta_close(struct meta *m)
{
	if (!m)
		return;
	mdb_env_close(m->env);
	pthread_rwlock_destroy(&m->resize);
	/* Closing the descriptor releases the flock. */
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	free(m);
}

int meta_sync(struct meta *m)
{
	return meta_err(mdb_env_sync(m->env, 1), "sync");
}

int meta_table_use(struct meta_txn *txn, unsigned i, struct meta_table_use *out)
{
	MDB_stat st;
	int rc;

	if (i >= DBI_COUNT)
		return ENOENT;
	rc = mdb_stat(txn->txn, txn->m->dbi[i], &st);
	if (rc)
		return meta_err(rc, "stat");
	out->name = dbi_names[i];
	out->entries = st.ms_entries;
	out->bytes = (uint64_t)st.ms_psize * (st.ms_branch_pages + st.ms_leaf_pages +
					     st.ms_overflow_pages);
	return 0;
}

int meta_txn_begin(struct meta *m, int rdonly, struct meta_txn **out)
{
	struct meta_txn *t;
	int rc;

	*out = NULL;
	t = malloc(sizeof(*t));
	if (!t)
		return ENOMEM;
	rc = pthread_rwlock_rdlock(&m->resize);
	if (rc) {
		free(t);
		return rc;
	}
	t->m = m;
	t->rdonly = !!rdonly;
	t->map_size = m->map_size;
	rc = mdb_txn_begin(m->env, NULL, rdonly ? MDB_RDONLY : 0, &t->txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process (the daemon) grew the map: adopt its size and retry. */
		mdb_env_set_mapsize(m->env, 0);
		rc = mdb_txn_begin(m->env, NULL, rdonly ? MDB_RDONLY : 0, &t->txn);
	}
	if (rc) {
		pthread_rwlock_unlock(&m->resize);
		free(t);
		return meta_err(rc, "begin");
	}
	*out = t;
	return 0;
}

static void txn_end(struct meta_txn *t)
{
	pthread_rwlock_unlock(&t->m->resize);
	free(t);
}

int meta_txn_commit(struct meta_txn *txn)
{
	int rc = mdb_txn_commit(txn->txn);

	txn_end(txn);
	return meta_err(rc, "commit");
}

void meta_txn_abort(struct meta_txn *txn)
{
	if (!txn)
		return;
	mdb_txn_abort(txn->txn);
	txn_end(txn);
}

/*
 * Doubles the map unless another thread already grew it since our transaction began (seen
 * is the size that transaction ran with).
 */
static int grow_map(struct meta *m, uint64_t seen)
{
	MDB_envinfo info;
	uint64_t cur, next;
	int rc;

	rc = pthread_rwlock_wrlock(&m->resize);
	if (rc)
		return rc;
	if (m->map_size != seen)
		goto out;
	rc = mdb_env_info(m->env, &info);
	if (rc) {
		rc = meta_err(rc, "env info");
		goto out;
	}
	cur = info.me_mapsize;
	if (cur > SIZE_MAX / 2) {
		rc = ENOSPC;
		goto out;
	}
	next = cur * 2;
	rc = mdb_env_set_mapsize(m->env, next);
	if (rc) {
		rc = rc == MDB_MAP_FULL ? ENOSPC : meta_err(rc, "set map size");
		goto out;
	}
	m->map_size = next;
	log_msg(LOG_INFO, "meta: map full, grew it from %" PRIu64 " to %" PRIu64 " MiB",
		cur >> 20, next >> 20);
out:
	pthread_rwlock_unlock(&m->resize);
	return rc;
}

int meta_write(struct meta *m, meta_write_fn *fn, void *arg)
{
	struct meta_txn *txn;
	uint64_t seen;
	int rc;

	for (int growths = 0;; growths++) {
		rc = meta_txn_begin(m, 0, &txn);
		if (rc)
			return rc;
		seen = txn->map_size;
		rc = fn(txn, arg);
		if (rc)
			meta_txn_abort(txn);
		else
			rc = meta_txn_commit(txn);
		if (rc != ENOSPC || growths == META_MAX_GROWTHS)
			return rc;
		rc = grow_map(m, seen);
		if (rc)
			return rc;
	}
}
