/* SPDX-License-Identifier: MIT */
/*
 * Commits (DESIGN.md sections 2 and 5): snapshot the HEAD tree, cut staged files into
 * chunks and upload the missing ones, write the manifest with an exclusive create of the
 * next version number, then update the index in one transaction. A failure before that
 * transaction leaves the draft as it was; a crash leaves at worst unreferenced chunks.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs_int.h"

struct snap {
	struct manifest m;
	size_t cap;
	uint64_t *inos;   /* HEAD inode of each entry (the artifact for the root) */
	uint32_t *uids, *gids;
	uint8_t *staged;  /* entry's bytes come from its staging file */
	uint64_t *cut_seq; /* staged: fs_write_seq() when its last cut began */
	uint32_t gen;     /* the artifact's draft generation the snapshot saw */
	/* The pending version-level values the snapshot saw (the message before a commit's
	 * own): only these are cleared when the version is installed. */
	char *seen_message, *seen_inputs;
};

static void snap_release(struct snap *s)
{
	manifest_release(&s->m);
	free(s->inos);
	free(s->uids);
	free(s->gids);
	free(s->staged);
	free(s->cut_seq);
	free(s->seen_message);
	free(s->seen_inputs);
	memset(s, 0, sizeof(*s));
}

static int snap_grow(struct snap *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	void *p;

	if (s->m.nentries < s->cap)
		return 0;
#define GROW(field, n)                                            \
	do {                                                      \
		p = realloc(s->field, (n) * sizeof(*s->field));    \
		if (!p)                                           \
			return ENOMEM;                            \
		s->field = p;                                     \
	} while (0)
	GROW(m.entries, cap);
	GROW(inos, cap);
	GROW(uids, cap);
	GROW(gids, cap);
	GROW(staged, cap);
	GROW(cut_seq, cap);
#undef GROW
	s->cap = cap;
	return 0;
}

static int xattr_skip_root(const char *name)
{
	return strncmp(name, "user.artifs.", 12) == 0 || strncmp(name, "user.label.", 11) == 0 ||
	       strncmp(name, "user.metric.", 12) == 0;
}

struct xa_collect {
	struct manifest_xattr *v;
	size_t n;
	int root;    /* skip the artifact's own names */
	int pending; /* collect only the pending version-level names */
	int err;
};

static int xa_collect_fn(void *arg, const char *name, const void *val, size_t len)
{
	struct xa_collect *c = arg;
	struct manifest_xattr *nv;

	if (c->root && xattr_skip_root(name))
		return 0;
	if (c->pending && strncmp(name, "user.metric.", 12) != 0)
		return 0;
	nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
	if (!nv) {
		c->err = ENOMEM;
		return 1;
	}
	c->v = nv;
	nv[c->n].name = strdup(name);
	nv[c->n].val = malloc(len ? len : 1);
	nv[c->n].len = len;
	if (!nv[c->n].name || !nv[c->n].val) {
		free(nv[c->n].name);
		free(nv[c->n].val);
		c->err = ENOMEM;
		return 1;
	}
	memcpy(nv[c->n].val, val, len);
	c->n++;
	return 0;
}

struct child {
	char name[META_NAME_MAX + 1];
	uint64_t ino;
};

struct children {
	struct child *v;
	size_t n;
	int top;
};

static int children_fn(void *arg, const char *name, size_t namelen, uint64_t child,
		       uint32_t type)
{
	struct children *c = arg;
	struct child *nv;

	if (c->top && name[0] == '@')
		return 0; /* versions, tags and @latest are not content */
	nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
	if (!nv)
		return ENOMEM;
	c->v = nv;
	memcpy(nv[c->n].name, name, namelen);
	nv[c->n].name[namelen] = '\0';
	nv[c->n].ino = child;
	c->n++;
	return 0;
}

/* Lists a directory's children into memory (callers then recurse or change the tree,
 * which must not happen under an open cursor). */
static int children_get(struct meta_txn *txn, uint64_t dir, int top, struct children *c)
{
	int err;

	c->v = NULL;
	c->n = 0;
	c->top = top;
	err = meta_dirent_iter(txn, dir, NULL, children_fn, c);
	if (err) {
		free(c->v);
		c->v = NULL;
	}
	return err;
}

/* Appends the subtree at ino (path rel) to the snapshot, preorder, siblings by name. */
static int snap_walk(struct meta_txn *txn, struct snap *s, uint64_t ino, const char *rel)
{
	struct meta_inode in;
	struct manifest_entry *e;
	struct xa_collect xc = { .root = rel[0] == '\0' };
	struct children ch;
	size_t i;
	int err;

	err = meta_inode_get(txn, ino, &in);
	if (err)
		return err;
	err = snap_grow(s);
	if (err)
		return err;
	i = s->m.nentries;
	e = &s->m.entries[i];
	memset(e, 0, sizeof(*e));
	s->inos[i] = ino;
	s->uids[i] = in.uid;
	s->gids[i] = in.gid;
	s->staged[i] = !!(in.flags & MI_STAGED);
	s->cut_seq[i] = 0;
	e->path = strdup(rel);
	if (!e->path)
		return ENOMEM;
	s->m.nentries++;
	e->mode = in.mode;
	e->mtime_ns = in.mtime_ns;
	err = meta_xattr_iter(txn, ino, xa_collect_fn, &xc);
	if (!err)
		err = xc.err;
	e->xattrs = xc.v;
	e->nxattrs = xc.n;
	if (err)
		return err;
	if (S_ISLNK(in.mode)) {
		err = meta_link_get(txn, ino, &e->target);
		e->size = e->target ? strlen(e->target) : 0;
		return err;
	}
	if (S_ISREG(in.mode)) {
		e->size = in.size;
		memcpy(e->digest, in.digest, 32);
		if (s->staged[i])
			return 0; /* filled in by cutting the staging file */
		err = meta_chunks_get(txn, ino, &e->chunks, &e->nchunks);
		return err == ENOENT ? 0 : err;
	}
	err = children_get(txn, ino, rel[0] == '\0', &ch);
	if (err)
		return err;
	for (size_t k = 0; k < ch.n && !err; k++) {
		char *sub;

		if (asprintf(&sub, "%s%s%s", rel, rel[0] ? "/" : "", ch.v[k].name) < 0) {
			err = ENOMEM;
			break;
		}
		err = snap_walk(txn, s, ch.v[k].ino, sub);
		free(sub);
	}
	free(ch.v);
	return err;
}

/*
 * Chunk uploads run on a few threads so that a commit to an object store keeps several
 * requests in flight. Each chunk is copied out of the cutting buffer; the bytes waiting or
 * in flight are bounded by UP_INFLIGHT so the daemon's memory does not grow with the file.
 */
#define UP_THREADS 4
#define UP_INFLIGHT (16u << 20)

struct upjob {
	struct upjob *next;
	uint8_t *mem; /* be_buf_alloc'ed: CHUNK_FRAME_HDR bytes of room, then the chunk */
	size_t len;
	struct chunk_ref ref;
	int done, err;
};

/* Names the chunk (ref) and says whether this host knows it good in the store: 0 when it
 * does, ENOENT when it must be stored or verified (chunk_put). */
static int chunk_known(struct fs *fs, const uint8_t *buf, size_t len, struct chunk_ref *ref)
{
	struct meta_txn *txn;
	int err;

	chunk_hash(buf, len, ref->id);
	ref->len = (uint32_t)len;
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_chunk_known(txn, ref->id);
	meta_txn_abort(txn);
	return err;
}

struct uppool {
	struct fs *fs;
	pthread_mutex_t m;
	pthread_cond_t work, progress;
	struct upjob *qhead, *qtail;
	size_t inflight;
	int stop, nth;
	pthread_t th[UP_THREADS];
};

static void *up_main(void *arg)
{
	struct uppool *p = arg;

	pthread_mutex_lock(&p->m);
	while (1) {
		struct upjob *j;
		uint64_t added = 0;
		int err;

		while (!p->qhead && !p->stop)
			pthread_cond_wait(&p->work, &p->m);
		if (!p->qhead)
			break;
		j = p->qhead;
		p->qhead = j->next;
		if (!p->qhead)
			p->qtail = NULL;
		pthread_mutex_unlock(&p->m);
		err = chunk_known(p->fs, j->mem + CHUNK_FRAME_HDR, j->len, &j->ref);
		if (err == ENOENT)
			err = chunk_put(p->fs->be, j->mem + CHUNK_FRAME_HDR, j->len,
					p->fs->sc.zstd_level, CHUNK_ROOM | CHUNK_HASHED, &j->ref,
					&added);
		if (!err && added) {
			atomic_fetch_add(&p->fs->st.chunks_stored, 1);
			atomic_fetch_add(&p->fs->st.bytes_stored, added);
		}
		be_buf_free(j->mem);
		j->mem = NULL;
		pthread_mutex_lock(&p->m);
		j->done = 1;
		j->err = err;
		p->inflight -= j->len;
		pthread_cond_broadcast(&p->progress);
	}
	pthread_mutex_unlock(&p->m);
	return NULL;
}

static void up_init(struct uppool *p, struct fs *fs)
{
	memset(p, 0, sizeof(*p));
	p->fs = fs;
	pthread_mutex_init(&p->m, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->progress, NULL);
}

/* Queues a copy of buf; waits while too many bytes are on their way. */
static int up_submit(struct uppool *p, const uint8_t *buf, size_t len, struct upjob *j)
{
	j->mem = be_buf_alloc(CHUNK_FRAME_HDR + len);
	if (!j->mem)
		return ENOMEM;
	memcpy(j->mem + CHUNK_FRAME_HDR, buf, len);
	j->len = len;
	pthread_mutex_lock(&p->m);
	if (p->nth < UP_THREADS && pthread_create(&p->th[p->nth], NULL, up_main, p) == 0)
		p->nth++;
	while (p->inflight && p->inflight + len > UP_INFLIGHT)
		pthread_cond_wait(&p->progress, &p->m);
	p->inflight += len;
	if (p->qtail)
		p->qtail->next = j;
	else
		p->qhead = j;
	p->qtail = j;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->m);
	return 0;
}

static void up_wait(struct uppool *p, struct upjob *j)
{
	pthread_mutex_lock(&p->m);
	while (!j->done)
		pthread_cond_wait(&p->progress, &p->m);
	pthread_mutex_unlock(&p->m);
}

static void up_release(struct uppool *p)
{
	pthread_mutex_lock(&p->m);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->m);
	for (int i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->m);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->progress);
}

/* Cuts a staging file into chunks, stores them, and fills e (size, mtime, digest). ENOENT
 * when there is no staging file. Holds no lock: blocks on the store. */
static int cut_file(struct fs *fs, struct uppool *pool, uint64_t ino, struct manifest_entry *e)
{
	struct chunker ck;
	char path[4200];
	/* One largest chunk plus a little: the chunker needs chunk_max bytes in view. */
	size_t cap = (size_t)fs->sc.chunk_max + fs->sc.chunk_min, pos = 0, avail = 0, njobs = 0;
	struct upjob **jobs = NULL;
	uint8_t *buf = NULL;
	EVP_MD_CTX *md = NULL;
	struct stat st;
	int fd, eof = 0, err = 0;
	unsigned int mdlen;

	fs_staging_path(fs, ino, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return ENOENT; /* the caller tells a crash's loss from a file removed meanwhile */
	if (fd < 0) {
		err = errno;
		log_msg(LOG_ERR, "commit: cannot open %s: %s", path, strerror(err));
		return err;
	}
	if (fstat(fd, &st)) {
		err = errno;
		goto out;
	}
	e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	chunker_init(&ck, fs->sc.chunk_min, fs->sc.chunk_avg, fs->sc.chunk_max);
	buf = be_buf_alloc(cap);
	md = EVP_MD_CTX_new();
	if (!buf || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		err = ENOMEM;
		goto out;
	}
	e->size = 0;
	while (1) {
		struct upjob **nj;
		size_t cut = avail ? chunker_next(&ck, buf + pos, avail, eof) : 0;

		/*
		 * The window buf[pos, pos + avail) slides over the file. It grows only when the
		 * chunker needs more bytes to decide, and is moved back to the start of buf only
		 * when it reaches the end: the bytes of a file are moved about once per 16 MiB,
		 * not once per chunk.
		 */
		if (cut == 0 && !eof) {
			ssize_t r;

			if (pos + avail == cap) {
				memmove(buf, buf + pos, avail);
				pos = 0;
			}
			r = read(fd, buf + pos + avail, cap - pos - avail);
			if (r < 0) {
				err = errno;
				log_msg(LOG_ERR, "commit: cannot read %s: %s", path, strerror(err));
				goto out;
			}
			if (r == 0)
				eof = 1;
			avail += r;
			continue;
		}
		if (avail == 0)
			break;
		if (cut == 0 || cut > avail) {
			err = EIO; /* our bug: the chunker must cut within what it was given */
			goto out;
		}
		nj = realloc(jobs, (njobs + 1) * sizeof(*jobs));
		if (!nj) {
			err = ENOMEM;
			goto out;
		}
		jobs = nj;
		jobs[njobs] = calloc(1, sizeof(**jobs));
		if (!jobs[njobs]) {
			err = ENOMEM;
			goto out;
		}
		err = up_submit(pool, buf + pos, cut, jobs[njobs]);
		if (err) {
			free(jobs[njobs]);
			goto out;
		}
		njobs++;
		EVP_DigestUpdate(md, buf + pos, cut);
		e->size += cut;
		pos += cut;
		avail -= cut;
	}
	EVP_DigestFinal_ex(md, e->digest, &mdlen);
out:
	/* Every queued upload is waited for, also on failure: jobs must not outlive us. */
	if (njobs) {
		e->chunks = malloc(njobs * sizeof(*e->chunks));
		if (!e->chunks && !err)
			err = ENOMEM;
	}
	for (size_t i = 0; i < njobs; i++) {
		up_wait(pool, jobs[i]);
		if (!err && jobs[i]->err) {
			err = jobs[i]->err;
			log_msg(LOG_ERR, "commit: cannot store a chunk of %s: %s", path, strerror(err));
		}
		if (e->chunks)
			e->chunks[i] = jobs[i]->ref;
		free(jobs[i]);
	}
	e->nchunks = err ? 0 : njobs;
	free(jobs);
	EVP_MD_CTX_free(md);
	be_buf_free(buf);
	close(fd);
	return err;
}

/* The tree digest that decides whether a draft changed anything. Times do not count:
 * folder mtimes move as a side effect of every create and unlink inside them, and a job
 * that writes the same bytes again should not make a version. Names, modes, bytes,
 * symlinks and attributes count. Times are still stored in the manifest. */
static void tree_digest(const struct manifest *cm, uint8_t out[32])
{
	struct manifest *m = (struct manifest *)cm;
	int64_t *saved = malloc((m->nentries + 1) * sizeof(*saved));

	for (size_t i = 0; saved && i < m->nentries; i++) {
		saved[i] = m->entries[i].mtime_ns;
		m->entries[i].mtime_ns = 0;
	}
	manifest_tree_digest(m, out);
	for (size_t i = 0; saved && i < m->nentries; i++)
		m->entries[i].mtime_ns = saved[i];
	free(saved);
}

static int pending_collect(struct meta_txn *txn, uint64_t art, struct manifest *m)
{
	struct xa_collect xc = { .pending = 1 };
	void *v;
	size_t len;
	int err;

	if (meta_xattr_get(txn, art, "user.artifs.message", &v, &len) == 0) {
		m->message = strndup(v, len);
		free(v);
		if (!m->message)
			return ENOMEM;
	}
	if (meta_xattr_get(txn, art, "user.artifs.inputs", &v, &len) == 0) {
		m->inputs = strndup(v, len);
		free(v);
		if (!m->inputs)
			return ENOMEM;
	}
	err = meta_xattr_iter(txn, art, xa_collect_fn, &xc);
	m->attrs = xc.v;
	m->nattrs = xc.n;
	return err ? err : xc.err;
}

/* Whether xattr name of ino holds exactly val (len bytes). */
static int xattr_is(struct meta_txn *txn, uint64_t ino, const char *name, const void *val,
		    size_t len)
{
	void *v;
	size_t vlen;
	int same;

	if (meta_xattr_get(txn, ino, name, &v, &vlen))
		return 0;
	same = vlen == len && memcmp(v, val, len) == 0;
	free(v);
	return same;
}

/* Clears the pending version-level values the snapshot saw; one set again since (during the
 * upload) differs and stays for the next version. */
static int pending_clear(struct meta_txn *txn, uint64_t art, const struct snap *s)
{
	int err = 0;

	for (size_t i = 0; i < s->m.nattrs && !err; i++) {
		const struct manifest_xattr *x = &s->m.attrs[i];

		if (xattr_is(txn, art, x->name, x->val, x->len))
			err = meta_xattr_del(txn, art, x->name);
	}
	if (!err && s->seen_message &&
	    xattr_is(txn, art, "user.artifs.message", s->seen_message, strlen(s->seen_message)))
		err = meta_xattr_del(txn, art, "user.artifs.message");
	if (!err && s->seen_inputs &&
	    xattr_is(txn, art, "user.artifs.inputs", s->seen_inputs, strlen(s->seen_inputs)))
		err = meta_xattr_del(txn, art, "user.artifs.inputs");
	return err;
}

/* Drops every pending version-level value (a discard). */
static int pending_drop(struct meta_txn *txn, uint64_t art)
{
	struct xa_collect xc = { .pending = 1 };
	int err = meta_xattr_iter(txn, art, xa_collect_fn, &xc);

	for (size_t i = 0; i < xc.n; i++) {
		if (!err)
			err = meta_xattr_del(txn, art, xc.v[i].name);
		free(xc.v[i].name);
		free(xc.v[i].val);
	}
	free(xc.v);
	meta_xattr_del(txn, art, "user.artifs.message");
	meta_xattr_del(txn, art, "user.artifs.inputs");
	return err ? err : xc.err;
}

/* Whether list (URIs, one per line) holds uri as a whole line. */
static int list_has(const char *list, const char *uri)
{
	size_t ul = strlen(uri);

	for (const char *s = list; s && *s;) {
		const char *nl = strchrnul(s, '\n');

		if ((size_t)(nl - s) == ul && memcmp(s, uri, ul) == 0)
			return 1;
		s = *nl ? nl + 1 : nl;
	}
	return 0;
}

int fs_version_lineage(struct meta_txn *txn, const struct meta_artifact *a, uint64_t n,
		       uint64_t root, const char *inputs, const char *captured)
{
	const char *lists[2] = { inputs, captured };
	const uint32_t how[2] = { MI_DECLARED, MI_CAPTURED };
	struct meta_vref self = { a->ino, n };
	char *all = NULL;
	size_t alllen = 0;
	int err = 0;

	for (int l = 0; l < 2 && !err; l++) {
		const char *s = lists[l];

		while (s && *s && !err) {
			const char *nl = strchrnul(s, '\n');
			char uri[1024];
			struct meta_vref in;

			snprintf(uri, sizeof(uri), "%.*s", (int)(nl - s), s);
			s = *nl ? nl + 1 : nl;
			if (!uri[0])
				continue;
			if (meta_uri_resolve(txn, uri, &in)) {
				log_msg(LOG_WARNING, "%s/%s@v%" PRIu64 ": input %s is not in the index",
					a->project, a->name, n, uri);
				continue;
			}
			if (in.artifact == self.artifact && in.n == self.n)
				continue; /* a version never lists itself */
			err = meta_lineage_put(txn, &self, &in, how[l]);
			if (!err && !list_has(all, uri)) {
				size_t ul = strlen(uri);
				char *na = realloc(all, alllen + ul + 2);

				if (!na) {
					err = ENOMEM;
					break;
				}
				all = na;
				memcpy(all + alllen, uri, ul);
				alllen += ul;
				all[alllen++] = '\n';
				all[alllen] = '\0';
			}
		}
	}
	if (!err && alllen)
		err = meta_xattr_put(txn, root, "user.artifs.inputs", all, alllen - 1);
	free(all);
	return err;
}

int fs_version_install(struct fs *fs, struct meta_txn *txn, struct meta_artifact *a,
		       const struct manifest *m, const uint8_t digest[32], const uint32_t *uids,
		       const uint32_t *gids, uint32_t uid, uint32_t gid, int lineage)
{
	struct meta_version v = { .artifact = a->ino, .n = m->version, .created_ns = m->created_ns };
	struct meta_inode root, in;
	uint64_t *inos = NULL, parent;
	char vname[32], target[32];
	int err;

	memset(&root, 0, sizeof(root));
	err = meta_ino_alloc(txn, &root.ino);
	if (err)
		return err;
	root.parent = root.artifact = a->ino;
	root.kind = MK_VERSION;
	root.version = m->version;
	root.mode = S_IFDIR | 0755;
	root.uid = uid;
	root.gid = gid;
	root.nlink = 1;
	root.mtime_ns = root.ctime_ns = m->created_ns;
	memcpy(root.digest, digest, 32);
	inos = calloc(m->nentries + 1, sizeof(*inos));
	if (!inos) {
		err = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m->nentries; i++) {
		const struct manifest_entry *e = &m->entries[i];
		const char *base = strrchr(e->path, '/');

		base = base ? base + 1 : e->path;
		if (e->path[0] == '\0') {
			/* The HEAD root: its mode, kept whole so that a HEAD reset (discard,
			 * rebuild) gets it back; fs_stat_fill() shows it without group and other
			 * write bits (the owner's stays: with default_permissions the kernel asks
			 * for it before the owner sets the version's labels; writes answer EROFS). */
			root.mode = S_IFDIR | (e->mode & 07777);
			root.mtime_ns = e->mtime_ns;
			inos[i] = root.ino;
			for (size_t k = 0; k < e->nxattrs && !err; k++)
				err = meta_xattr_put(txn, root.ino, e->xattrs[k].name,
						     e->xattrs[k].val, e->xattrs[k].len);
			continue;
		}
		/* A checked manifest lists every parent before its children (manifest.md). */
		{
			size_t pi = manifest_parent(m, i);

			if (pi >= i || !S_ISDIR(m->entries[pi].mode)) {
				err = EINVAL; /* manifest_check() let a bad order through */
				goto out;
			}
			parent = inos[pi];
		}
		memset(&in, 0, sizeof(in));
		err = meta_ino_alloc(txn, &in.ino);
		if (err)
			goto out;
		in.parent = parent;
		in.artifact = a->ino;
		in.version = m->version;
		in.kind = MK_VNODE;
		in.mode = e->mode;
		in.uid = uids ? uids[i] : uid;
		in.gid = gids ? gids[i] : gid;
		in.nlink = 1;
		in.size = e->size;
		in.mtime_ns = e->mtime_ns;
		in.ctime_ns = m->created_ns;
		if (S_ISREG(e->mode)) {
			memcpy(in.digest, e->digest, 32);
			v.files++;
			v.bytes += e->size;
		}
		inos[i] = in.ino;
		err = meta_inode_put(txn, &in);
		if (!err && e->target)
			err = meta_link_put(txn, in.ino, e->target);
		if (!err && e->nchunks)
			err = meta_chunks_put(txn, in.ino, e->chunks, e->nchunks);
		for (size_t k = 0; k < e->nxattrs && !err; k++)
			err = meta_xattr_put(txn, in.ino, e->xattrs[k].name, e->xattrs[k].val,
					     e->xattrs[k].len);
		if (!err)
			err = meta_dirent_put(txn, in.parent, base, in.ino, e->mode & S_IFMT);
		if (err)
			goto out;
	}
	if (!err && m->message)
		err = meta_xattr_put(txn, root.ino, "user.artifs.message", m->message,
				     strlen(m->message));
	if (!err && lineage)
		err = fs_version_lineage(txn, a, m->version, root.ino, m->inputs, m->captured);
	if (!err && m->producer)
		err = meta_xattr_put(txn, root.ino, "user.artifs.producer", m->producer,
				     strlen(m->producer));
	for (size_t k = 0; k < m->nattrs && !err; k++) {
		struct meta_vref vr = { a->ino, m->version };

		err = fs_vattr_set(txn, root.ino, &vr, m->attrs[k].name, m->attrs[k].val,
				   m->attrs[k].len, 0);
	}
	if (err)
		goto out;
	err = meta_inode_put(txn, &root);
	snprintf(vname, sizeof(vname), "@v%" PRIu64, m->version);
	if (!err)
		err = meta_dirent_put(txn, a->ino, vname, root.ino, S_IFDIR);
	v.root = root.ino;
	memcpy(v.digest, digest, 32);
	tree_digest(m, v.tree_digest);
	if (!err)
		err = meta_version_put(txn, &v);
	if (err)
		goto out;
	if (m->version >= a->latest) {
		a->latest = m->version;
		memcpy(a->tree_digest, v.tree_digest, 32);
	}
	if (a->next <= m->version)
		a->next = m->version + 1;
	memset(&in, 0, sizeof(in));
	if (a->latest_link)
		err = meta_inode_get(txn, a->latest_link, &in);
	else {
		err = meta_ino_alloc(txn, &in.ino);
		in.parent = in.artifact = a->ino;
		in.kind = MK_LATEST;
		in.mode = S_IFLNK | 0777;
		in.uid = uid;
		in.gid = gid;
		in.nlink = 1;
		if (!err)
			err = meta_dirent_put(txn, a->ino, "@latest", in.ino, S_IFLNK);
		a->latest_link = in.ino;
	}
	snprintf(target, sizeof(target), "@v%" PRIu64, a->latest);
	in.size = strlen(target);
	in.mtime_ns = in.ctime_ns = m->created_ns;
	if (!err)
		err = meta_inode_put(txn, &in);
	if (!err)
		err = meta_link_put(txn, in.ino, target);
	if (!err)
		err = meta_artifact_put(txn, a);
out:
	free(inos);
	return err;
}

struct install_arg {
	struct fs *fs;
	struct snap *s;
	const uint8_t *digest;
	int changed;   /* 0: only fold staged files into chunks, no version */
	int kept;      /* the draft stays: open, or changed since the snapshot */
	uint8_t *fold; /* per entry: folded into chunks, its staging file to go */
};

/* Whether staged entry i can become chunk-backed: its inode is still the staged file the
 * snapshot cut, no handle has it open (so no write can come), and no write ran since its
 * cut began. Caller holds art->lock, so no open can come either. */
static int foldable(struct fs *fs, struct meta_txn *txn, const struct snap *s, size_t i,
		    struct meta_inode *in)
{
	if (meta_inode_get(txn, s->inos[i], in) || !(in->flags & MI_STAGED) ||
	    in->kind != MK_HEAD || in->nlink == 0)
		return 0;
	return fs_open_count(fs, s->inos[i]) == 0 && !fs_written_since(fs, s->inos[i], s->cut_seq[i]);
}

static int install_fn(struct meta_txn *txn, void *arg)
{
	struct install_arg *ia = arg;
	struct snap *s = ia->s;
	struct meta_artifact a;
	struct meta_version v;
	int err = meta_artifact_get(txn, s->inos[0], &a);

	if (err)
		return err;
	ia->kept = 0;
	if (ia->changed) {
		/* Refresh leaves the number being committed alone (fs_art.committing_n). */
		if (meta_version_get(txn, a.ino, s->m.version, &v) == 0)
			return EEXIST;
		err = fs_version_install(ia->fs, txn, &a, &s->m, ia->digest, s->uids, s->gids,
					 s->uids[0], s->gids[0], 1);
		if (!err)
			err = pending_clear(txn, a.ino, s);
		if (err)
			return err;
	}
	for (size_t i = 0; i < s->m.nentries; i++) {
		struct manifest_entry *e = &s->m.entries[i];
		struct meta_inode in;

		ia->fold[i] = 0;
		if (!s->staged[i])
			continue;
		/* Stored or verified by this commit: known good from now on. */
		for (size_t c = 0; c < e->nchunks && !err; c++)
			err = meta_chunk_mark(txn, e->chunks[c].id);
		if (err)
			return err;
		if (!foldable(ia->fs, txn, s, i, &in)) {
			ia->kept = 1;
			continue;
		}
		in.flags &= ~MI_STAGED;
		in.size = e->size;
		in.mtime_ns = e->mtime_ns;
		memcpy(in.digest, e->digest, 32);
		err = meta_inode_put(txn, &in);
		if (!err)
			err = e->nchunks ? meta_chunks_put(txn, in.ino, e->chunks, e->nchunks)
					 : meta_chunks_del(txn, in.ino);
		if (err && err != ENOENT)
			return err;
		err = 0;
		ia->fold[i] = 1;
	}
	err = meta_artifact_get(txn, s->inos[0], &a);
	if (err)
		return err;
	if (a.draft != s->gen)
		ia->kept = 1; /* changed during the upload: those changes are the next draft */
	else if (!ia->kept)
		a.draft = 0;
	return meta_artifact_put(txn, &a);
}

/* The versions read by the runs that wrote this draft, as URIs, one per line. */
static int captured_collect(struct fs *fs, struct fs_art *art, struct meta_txn *txn,
			    struct manifest *m)
{
	struct meta_vref *v;
	size_t n, len = 0;
	char *list = NULL;
	int err = fs_lineage_captured(fs, art, &v, &n);

	for (size_t i = 0; i < n && !err; i++) {
		char uri[400];
		char *nl;

		if (meta_vref_uri(txn, &v[i], uri, sizeof(uri)))
			continue; /* the artifact went away since */
		nl = realloc(list, len + strlen(uri) + 2);
		if (!nl) {
			err = ENOMEM;
			break;
		}
		list = nl;
		len += sprintf(list + len, "%s%s", len ? "\n" : "", uri);
	}
	free(v);
	if (err)
		free(list);
	else
		m->captured = list;
	return err;
}

/* Under art->lock: the HEAD tree, its pending values and captured reads, and the draft
 * generation. *empty when there is no draft. */
static int snapshot(struct fs *fs, struct fs_art *art, struct snap *s, struct meta_artifact *a,
		    int *empty)
{
	struct meta_txn *txn;
	int err;

	FS_ASSERT_HELD(&art->lock);
	*empty = 0;
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_artifact_get(txn, art->ino, a);
	if (!err && !a->draft)
		*empty = 1; /* nothing changed since the last version */
	if (!err && !*empty)
		err = snap_walk(txn, s, art->ino, "");
	if (!err && !*empty)
		err = pending_collect(txn, art->ino, &s->m);
	if (!err && !*empty)
		err = captured_collect(fs, art, txn, &s->m);
	meta_txn_abort(txn);
	if (err || *empty)
		return err;
	s->gen = a->draft;
	if (s->m.message && !(s->seen_message = strdup(s->m.message)))
		return ENOMEM;
	if (s->m.inputs && !(s->seen_inputs = strdup(s->m.inputs)))
		return ENOMEM;
	return 0;
}

/* After cut_file() found no staging file: EAGAIN when the file went from the HEAD since the
 * snapshot (a new snapshot sees that), EIO when the index still has it staged (its bytes
 * were lost in a machine crash: never committed as an empty file). */
static int staging_lost(struct fs *fs, uint64_t ino, const char *path)
{
	struct meta_txn *txn;
	struct meta_inode in;
	int err = meta_txn_begin(fs->meta, 1, &txn);

	if (err)
		return err;
	err = meta_inode_get(txn, ino, &in);
	meta_txn_abort(txn);
	if (err == ENOENT || (!err && (!(in.flags & MI_STAGED) || in.nlink == 0)))
		return EAGAIN;
	if (err)
		return err;
	log_msg(LOG_ERR, "commit: the staging file of \"%s\" (inode %" PRIu64 ") is missing",
		path, ino);
	return EIO;
}

/* The passes a staged file gets when writes keep landing while it is cut. */
#define CUT_TRIES 3

/* Cuts and uploads every staged file of the snapshot, with no lock held. A file written
 * while it was cut is cut again, so that no version holds bytes the file never held. */
static int cut_all(struct fs *fs, struct snap *s, char *why, size_t whylen)
{
	struct uppool pool;
	int err = 0;

	FS_ASSERT_NO_HEAD_LOCK();
	up_init(&pool, fs);
	for (size_t i = 0; i < s->m.nentries && !err; i++) {
		struct manifest_entry *e = &s->m.entries[i];
		int tries = 0;

		if (!s->staged[i])
			continue;
		do {
			free(e->chunks);
			e->chunks = NULL;
			e->nchunks = 0;
			s->cut_seq[i] = fs_write_seq(fs);
			err = cut_file(fs, &pool, s->inos[i], e);
		} while (!err && fs_written_since(fs, s->inos[i], s->cut_seq[i]) &&
			 ++tries < CUT_TRIES);
		if (!err && tries == CUT_TRIES) {
			err = EBUSY;
			snprintf(why, whylen, "\"%s\" was written to all through %d tries to cut it; it "
				 "is committed once its writers stop", e->path, CUT_TRIES);
		} else if (err == ENOENT) {
			err = staging_lost(fs, s->inos[i], e->path);
			if (err == EIO)
				snprintf(why, whylen, "the bytes of \"%s\" are lost (its staging file is "
					 "missing): rewrite it or discard the draft", e->path);
		} else if (err) {
			snprintf(why, whylen, "cannot store the bytes of \"%s\": %s", e->path,
				 strerror(err));
		}
	}
	up_release(&pool);
	return err;
}

static void committing_set(struct fs *fs, struct fs_art *art, uint64_t n)
{
	pthread_mutex_lock(&fs->lock);
	art->committing_n = n;
	pthread_mutex_unlock(&fs->lock);
}

/* Writes the manifest as the next free version number (an exclusive create: other hosts
 * take numbers too; they never repeat). digest gets the object's SHA-256. No lock held. */
static int manifest_store(struct fs *fs, struct fs_art *art, const struct meta_artifact *a,
			  struct snap *s, uint8_t digest[32], char *why, size_t whylen)
{
	char key[600], *text = NULL;
	size_t textlen = 0;
	int err = 0;

	FS_ASSERT_NO_HEAD_LOCK();
	for (uint64_t n = a->next > a->latest ? a->next : a->latest + 1, tries = 0;;
	     n++, tries++) {
		s->m.version = n;
		free(text);
		text = NULL;
		err = manifest_encode(&s->m, &text, &textlen);
		if (err) {
			snprintf(why, whylen, "the manifest cannot be written: %s", manifest_why());
			goto out;
		}
		if (textlen > MANIFEST_OBJECT_MAX) {
			/* Other hosts would refuse to read it (refresh.c). */
			err = EFBIG;
			snprintf(why, whylen,
				 "the tree's manifest is %zu MiB; a version holds at most "
				 "%u MiB of manifest (%zu entries here)",
				 textlen >> 20, MANIFEST_OBJECT_MAX >> 20, s->m.nentries);
			log_msg(LOG_ERR, "commit %s/%s: %s", a->project, a->name, why);
			goto out;
		}
		snprintf(key, sizeof(key), "versions/%s/%s/%020" PRIu64, a->project, a->name, n);
		committing_set(fs, art, n);
		err = be_create(fs->be, key, text, textlen);
		if (err != EEXIST || tries > 1000)
			break;
	}
	if (err && err != EEXIST) {
		/* Maybe stored, maybe not: the next commit looks before it numbers. */
		art->uncertain_n = s->m.version;
		chunk_hash(text, textlen, art->uncertain_digest);
	}
	if (err) {
		snprintf(why, whylen, "cannot write manifest %s: %s", key, strerror(err));
		log_msg(LOG_ERR, "commit %s/%s: %s", a->project, a->name, why);
		goto out;
	}
	chunk_hash(text, textlen, digest);
out:
	free(text);
	return err;
}

/* The last try may have stored its manifest after all: then that is a version (other hosts
 * see it), and this commit goes on from it instead of adding a copy. */
static int uncertain_resolve(struct fs *fs, struct fs_art *art)
{
	struct meta_artifact a;
	struct meta_txn *txn;
	int err;

	if (!art->uncertain_n)
		return 0;
	err = meta_txn_begin(fs->meta, 1, &txn);
	if (err)
		return err;
	err = meta_artifact_get(txn, art->ino, &a);
	meta_txn_abort(txn);
	if (!err)
		err = fs_version_read_in(fs, art->ino, a.project, a.name, art->uncertain_n,
					 art->uncertain_digest);
	if (err && err != ENOENT && err != EEXIST)
		return err; /* still unknown: try again later */
	if (!err)
		log_msg(LOG_INFO, "commit %s/%s: @v%" PRIu64 " was stored by the last try", a.project,
			a.name, art->uncertain_n);
	art->uncertain_n = 0;
	return 0;
}

/*
 * One try: snapshot under art->lock, cut, upload and write the manifest with no lock, then
 * install under art->lock. Whatever changed in between stays in the draft (install_fn).
 * EAGAIN when a staged file went away meanwhile: the caller tries again from a new snapshot.
 */
static int commit_once(struct fs *fs, struct fs_art *art, const char *message, uint64_t *made,
		       char *why, size_t whylen)
{
	struct snap s = { 0 };
	struct install_arg ia = { .fs = fs, .s = &s };
	struct meta_artifact a;
	uint8_t digest[32], tree[32];
	int err, synced, empty;

	*made = 0;
	err = uncertain_resolve(fs, art);
	if (err)
		return err;
	fs_mutex_lock(&art->lock);
	err = snapshot(fs, art, &s, &a, &empty);
	fs_mutex_unlock(&art->lock);
	if (err || empty)
		goto out;
	if (message) {
		free(s.m.message);
		s.m.message = strdup(message);
		if (!s.m.message) {
			err = ENOMEM;
			goto out;
		}
	}
	err = cut_all(fs, &s, why, whylen);
	if (err)
		goto out;
	tree_digest(&s.m, tree);
	/* No change: the newest version's tree, or, before the first version, a HEAD that
	 * holds nothing (a file made and removed again publishes no empty @v1). */
	if (a.latest)
		ia.changed = memcmp(tree, a.tree_digest, 32) != 0;
	else
		ia.changed = s.m.nentries > 1 || s.m.entries[0].nxattrs > 0;
	if (ia.changed) {
		s.m.project = strdup(a.project);
		s.m.artifact = strdup(a.name);
		s.m.created_ns = fs_now_ns();
		pthread_mutex_lock(&fs->lock);
		if (art->producer[0])
			s.m.producer = strdup(art->producer);
		pthread_mutex_unlock(&fs->lock);
		err = manifest_store(fs, art, &a, &s, digest, why, whylen);
		if (err)
			goto out;
		ia.digest = digest;
	}
	ia.fold = calloc(s.m.nentries, 1);
	if (!ia.fold) {
		err = ENOMEM;
		goto out;
	}
	fs_mutex_lock(&art->lock);
	err = meta_write(fs->meta, install_fn, &ia);
	if (err) {
		fs_mutex_unlock(&art->lock);
		snprintf(why, whylen, "index update failed: %s", strerror(err));
		log_msg(LOG_ERR, "commit %s/%s: %s", a.project, a.name, why);
		goto out;
	}
	/* The staging copies go only once the index that no longer needs them is on disk: a
	 * machine crash before that brings the staged index back (meta.c on durability). Still
	 * under art->lock: a copy-up after the unlock makes a new staging file of the name. */
	synced = meta_sync(fs->meta);
	if (synced)
		log_msg(LOG_ERR, "commit %s/%s: cannot sync the index (%s): staging files kept",
			a.project, a.name, strerror(synced));
	for (size_t i = 0; i < s.m.nentries && !synced; i++)
		if (ia.fold[i])
			fs_staging_drop(fs, s.inos[i]);
	fs_mutex_unlock(&art->lock);
	/* What changed meanwhile was touched (fs_art_touch()) and is committed when quiet. */
	fs_lineage_committed(fs, art);
	if (ia.changed) {
		*made = s.m.version;
		atomic_fetch_add(&fs->st.commits, 1);
		log_msg(LOG_INFO, "committed %s/%s@v%" PRIu64 " (%zu entries)", a.project, a.name,
			s.m.version, s.m.nentries);
	} else {
		atomic_fetch_add(&fs->st.commit_noops, 1);
	}
out:
	committing_set(fs, art, 0);
	free(ia.fold);
	snap_release(&s);
	return err;
}

/* New snapshots a commit takes when staged files go away under it. */
#define COMMIT_TRIES 3

int fs_commit(struct fs *fs, struct fs_art *art, const char *message, uint64_t *made)
{
	char why[512] = "";
	uint64_t n = 0;
	int err;

	fs_mutex_lock(&art->commit_lock);
	fs_commits_running(fs, 1);
	for (int tries = 1;; tries++) {
		why[0] = '\0';
		err = commit_once(fs, art, message, &n, why, sizeof(why));
		if (err != EAGAIN || tries == COMMIT_TRIES)
			break;
	}
	fs_commits_running(fs, -1);
	fs_mutex_unlock(&art->commit_lock);
	if (err == EAGAIN && !why[0])
		snprintf(why, sizeof(why), "files of the draft were removed while it was committed, "
			 "%d times; it is committed again when quiet", COMMIT_TRIES);
	if (err && !why[0])
		snprintf(why, sizeof(why), "%s", strerror(err));
	if (err)
		atomic_fetch_add(&fs->st.commit_errors, 1);
	pthread_mutex_lock(&fs->lock);
	snprintf(art->why, sizeof(art->why), "%s", err ? why : "");
	pthread_mutex_unlock(&fs->lock);
	if (made)
		*made = n;
	return err;
}

int fs_do_commit(struct fs *fs, const struct fuse_ctx *ctx, uint64_t ino, const char *message,
		 uint64_t *made)
{
	struct meta_inode in;
	struct fs_art *art;
	int err = fs_inode_read(fs, ino, &in);

	*made = 0;
	if (err)
		return err;
	if (in.kind != MK_ARTIFACT)
		return ENOTTY;
	if (ctx->uid != 0 && !(ctx->uid == in.uid && (in.mode & S_IWUSR)) &&
	    !(ctx->gid == in.gid && (in.mode & S_IWGRP)) && !(in.mode & S_IWOTH))
		return EACCES;
	art = fs_art_get(fs, ino);
	if (!art)
		return ENOMEM;
	return fs_commit(fs, art, message[0] ? message : NULL, made);
}

/* Deletes the HEAD subtree below dir (not dir itself); staged inodes go to drop[]. */
static int head_clear(struct fs *fs, struct meta_txn *txn, uint64_t dir, int top,
		      uint64_t **drop, size_t *ndrop)
{
	struct children ch;
	int err = children_get(txn, dir, top, &ch);

	for (size_t i = 0; i < ch.n && !err; i++) {
		struct meta_inode in;

		err = meta_inode_get(txn, ch.v[i].ino, &in);
		if (err)
			break;
		if (S_ISDIR(in.mode))
			err = head_clear(fs, txn, in.ino, 0, drop, ndrop);
		if (!err && (in.flags & MI_STAGED)) {
			uint64_t *nd = realloc(*drop, (*ndrop + 1) * sizeof(**drop));

			if (!nd) {
				err = ENOMEM;
				break;
			}
			*drop = nd;
			nd[(*ndrop)++] = in.ino;
		}
		if (!err)
			err = fs_head_free(fs, txn, in.ino);
		if (!err)
			err = meta_dirent_del(txn, dir, ch.v[i].name);
	}
	free(ch.v);
	return err;
}

/* Copies the version subtree below vdir into the HEAD folder hdir. */
static int head_copy(struct meta_txn *txn, uint64_t vdir, uint64_t hdir, uint64_t art)
{
	struct children ch;
	int err = children_get(txn, vdir, 0, &ch);

	for (size_t i = 0; i < ch.n && !err; i++) {
		struct meta_inode v, h;
		struct xa_collect xc = { 0 };
		struct chunk_ref *refs = NULL;
		size_t n = 0;
		char *link = NULL;

		err = meta_inode_get(txn, ch.v[i].ino, &v);
		if (err)
			break;
		h = v;
		err = meta_ino_alloc(txn, &h.ino);
		if (err)
			break;
		h.parent = hdir;
		h.artifact = art;
		h.version = 0;
		h.kind = MK_HEAD;
		h.flags = 0;
		err = meta_inode_put(txn, &h);
		if (!err && S_ISLNK(v.mode) && meta_link_get(txn, v.ino, &link) == 0)
			err = meta_link_put(txn, h.ino, link);
		if (!err && S_ISREG(v.mode) && meta_chunks_get(txn, v.ino, &refs, &n) == 0 && n)
			err = meta_chunks_put(txn, h.ino, refs, n);
		if (!err)
			err = meta_xattr_iter(txn, v.ino, xa_collect_fn, &xc);
		for (size_t k = 0; k < xc.n; k++) {
			if (!err)
				err = meta_xattr_put(txn, h.ino, xc.v[k].name, xc.v[k].val,
						     xc.v[k].len);
			free(xc.v[k].name);
			free(xc.v[k].val);
		}
		free(xc.v);
		free(refs);
		free(link);
		if (!err)
			err = meta_dirent_put(txn, hdir, ch.v[i].name, h.ino, h.mode & S_IFMT);
		if (!err && S_ISDIR(v.mode))
			err = head_copy(txn, v.ino, h.ino, art);
	}
	free(ch.v);
	return err;
}

struct reset_arg {
	struct fs *fs;
	uint64_t art;
	uint64_t *drop;
	size_t ndrop;
};

static int reset_head(struct fs *fs, struct meta_txn *txn, struct meta_artifact *a,
		      uint64_t n, uint64_t **drop, size_t *ndrop)
{
	struct meta_version v;
	struct meta_inode root, ain;
	struct xa_collect xc = { .root = 1 };
	int err = head_clear(fs, txn, a->ino, 1, drop, ndrop);

	if (err || !n)
		goto done;
	err = meta_version_get(txn, a->ino, n, &v);
	if (!err)
		err = head_copy(txn, v.root, a->ino, a->ino);
	if (!err)
		err = meta_inode_get(txn, v.root, &root);
	if (!err)
		err = meta_inode_get(txn, a->ino, &ain);
	if (err)
		return err;
	/* The HEAD root folder's own attributes and mode come back too. */
	ain.mode = S_IFDIR | (root.mode & 07777) | (ain.mode & 0200);
	ain.mtime_ns = root.mtime_ns;
	err = meta_inode_put(txn, &ain);
	if (!err)
		err = meta_xattr_iter(txn, v.root, xa_collect_fn, &xc);
	for (size_t k = 0; k < xc.n; k++) {
		if (!err)
			err = meta_xattr_put(txn, a->ino, xc.v[k].name, xc.v[k].val, xc.v[k].len);
		free(xc.v[k].name);
		free(xc.v[k].val);
	}
	free(xc.v);
done:
	if (err)
		return err;
	err = meta_artifact_get(txn, a->ino, a);
	if (err)
		return err;
	a->draft = 0;
	return meta_artifact_put(txn, a);
}

int fs_head_reset(struct fs *fs, struct meta_txn *txn, struct meta_artifact *a, uint64_t n)
{
	uint64_t *drop = NULL;
	size_t ndrop = 0;
	int err = reset_head(fs, txn, a, n, &drop, &ndrop);

	free(drop);
	return err;
}

static int discard_fn(struct meta_txn *txn, void *arg)
{
	struct reset_arg *r = arg;
	struct meta_artifact a;
	struct xa_collect xc = { .root = 1 };
	int err = meta_artifact_get(txn, r->art, &a);

	free(r->drop);
	r->drop = NULL;
	r->ndrop = 0;
	if (err)
		return err;
	/* The HEAD root's own attributes are part of the draft: drop them first. */
	err = meta_xattr_iter(txn, a.ino, xa_collect_fn, &xc);
	for (size_t k = 0; k < xc.n; k++) {
		if (!err)
			err = meta_xattr_del(txn, a.ino, xc.v[k].name);
		free(xc.v[k].name);
		free(xc.v[k].val);
	}
	free(xc.v);
	if (!err)
		err = pending_drop(txn, a.ino);
	if (!err)
		err = reset_head(r->fs, txn, &a, a.latest, &r->drop, &r->ndrop);
	return err;
}

int fs_discard(struct fs *fs, struct fs_art *art)
{
	struct reset_arg r = { .fs = fs, .art = art->ino };
	int err;

	fs_mutex_lock(&art->commit_lock);
	fs_mutex_lock(&art->lock);
	err = meta_write(fs->meta, discard_fn, &r);
	fs_mutex_unlock(&art->lock);
	fs_mutex_unlock(&art->commit_lock);
	if (!err) {
		for (size_t i = 0; i < r.ndrop; i++)
			fs_staging_drop(fs, r.drop[i]);
		pthread_mutex_lock(&fs->lock);
		art->scheduled = 0;
		pthread_mutex_unlock(&fs->lock);
		log_msg(LOG_INFO, "draft of artifact inode %" PRIu64 " discarded", art->ino);
	}
	free(r.drop);
	return err;
}

static void *committer_main(void *arg)
{
	struct fs *fs = arg;
	int64_t delay = (int64_t)fs->conf.commit_delay_ms * 1000000, last_sweep = 0;

	pthread_mutex_lock(&fs->lock);
	while (!fs->stopping) {
		struct fs_art *pick = NULL;
		int64_t now = fs_mono_ns(), wait = 3600LL * 1000000000;
		struct timespec ts;

		for (struct fs_art *a = fs->arts; a; a = a->next) {
			/* A failed commit is retried after a pause, not in a tight loop. */
			int64_t due = a->last_change + delay + (a->failed ? 5000000000LL : 0);

			if (!a->scheduled || a->writers)
				continue;
			if (due <= now) {
				pick = a;
				break;
			}
			if (due - now < wait)
				wait = due - now;
		}
		if (pick) {
			int err;

			pick->scheduled = 0;
			pthread_mutex_unlock(&fs->lock);
			err = fs_commit(fs, pick, NULL, NULL);
			pthread_mutex_lock(&fs->lock);
			if (err) {
				pick->scheduled = 1;
				pick->failed = 1;
				pick->last_change = fs_mono_ns();
			}
			continue;
		}
		if (now - last_sweep > 2000000000LL) {
			pthread_mutex_unlock(&fs->lock);
			fs_lineage_sweep(fs);
			pthread_mutex_lock(&fs->lock);
			last_sweep = now;
		}
		if (wait > 2000000000LL)
			wait = 2000000000LL;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait / 1000000000;
		ts.tv_nsec += wait % 1000000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&fs->cond, &fs->lock, &ts);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

int fs_committer_start(struct fs *fs)
{
	pthread_condattr_t ca;
	int err;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->cond, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&fs->committer, NULL, committer_main, fs);
	if (!err)
		fs->committer_started = 1;
	return err;
}

void fs_committer_stop(struct fs *fs)
{
	if (fs->committer_started) {
		pthread_mutex_lock(&fs->lock);
		fs->stopping = 1;
		pthread_cond_broadcast(&fs->cond);
		pthread_mutex_unlock(&fs->lock);
		pthread_join(fs->committer, NULL);
		fs->committer_started = 0;
	}
	/* Unmount commits what this session changed (recovered drafts stay drafts). */
	for (struct fs_art *a = fs->arts; a; a = a->next) {
		if (!a->scheduled)
			continue;
		if (fs_commit(fs, a, NULL, NULL))
			log_msg(LOG_ERR, "unmount: a draft could not be committed; it is kept");
		a->scheduled = 0;
	}
}
