/* SPDX-License-Identifier: MIT */
/*
 * Lineage capture (DESIGN.md section 4). Every open of a file of a version is remembered
 * against the caller's run: $ARTIFS_RUN of the process when set, else its process group.
 * The runs that open files of a HEAD for writing become that draft's writers; when it is
 * committed, the versions they read are the new version's captured inputs.
 *
 * Memory is bounded: at most LIN_RUNS runs (the oldest unreferenced one makes room), at most
 * LIN_READS versions per run, at most LIN_PROCS cached processes. A run is forgotten once
 * none of its processes is alive and no pending draft refers to it; the committer thread
 * sweeps every few seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_int.h"

#define LIN_RUNS 4096
#define LIN_READS 1024
#define LIN_PROCS 16384
#define LIN_RUN_PIDS 64

struct run {
	char id[FS_RUN_ID_MAX];
	pid_t pgid;                 /* process-group runs; 0 for $ARTIFS_RUN runs */
	pid_t pids[LIN_RUN_PIDS];   /* processes seen in the run (liveness of $ARTIFS_RUN runs) */
	size_t npids;
	struct meta_vref *reads;
	size_t nreads, capreads;
	int refs;                   /* pending drafts this run wrote to */
	int ended;                  /* named runs: ended by fs_lineage_end(), processes or not */
	int held;                   /* its drafts wait for fs_lineage_end() (FS_JOB_HELD) */
	int64_t last_seen;
	struct run *next;
};

struct proc {
	pid_t pid;
	struct run *run;
	struct proc *next;
};

#define PROC_BUCKETS 1024

/* The versions an ended run made (fs_lineage_made()), for the `artifs run` that ended it. */
#define LIN_MADE 64
struct made {
	char id[FS_RUN_ID_MAX];
	char uris[2048]; /* one per line */
};

struct lineage {
	pthread_mutex_t lock;
	struct made made[LIN_MADE];
	uint64_t nmade, self_runs;
	struct run *runs;
	size_t nruns;
	struct proc *procs[PROC_BUCKETS];
	size_t nprocs;
	int warned_runs, warned_reads;
};

int fs_lineage_create(struct fs *fs)
{
	struct lineage *l = calloc(1, sizeof(*l));

	if (!l)
		return ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	fs->lin = l;
	return 0;
}

static void run_free(struct run *r)
{
	free(r->reads);
	free(r);
}

void fs_lineage_destroy(struct fs *fs)
{
	struct lineage *l = fs->lin;

	if (!l)
		return;
	for (size_t i = 0; i < PROC_BUCKETS; i++) {
		struct proc *p = l->procs[i], *n;

		for (; p; p = n) {
			n = p->next;
			free(p);
		}
	}
	while (l->runs) {
		struct run *r = l->runs;

		l->runs = r->next;
		run_free(r);
	}
	pthread_mutex_destroy(&l->lock);
	free(l);
	fs->lin = NULL;
}

/* $ARTIFS_RUN of a process, read once from /proc/PID/environ. 0 when set. */
static int env_run(pid_t pid, char *out, size_t len)
{
	static const char key[] = "ARTIFS_RUN=";
	char path[64], buf[65536];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ENOENT; /* exited, or another user's: fall back to the process group */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return ENOENT;
	buf[n] = '\0';
	for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
		if (strncmp(p, key, sizeof(key) - 1) == 0 && p[sizeof(key) - 1]) {
			snprintf(out, len, "%s", p + sizeof(key) - 1);
			return 0;
		}
	}
	return ENOENT;
}

static int alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

static int run_alive(const struct run *r)
{
	if (r->ended)
		return 0;
	if (r->pgid)
		return kill(-r->pgid, 0) == 0 || errno == EPERM;
	for (size_t i = 0; i < r->npids; i++)
		if (alive(r->pids[i]))
			return 1;
	return 0;
}

static void drop_procs_of(struct lineage *l, const struct run *r)
{
	for (size_t i = 0; i < PROC_BUCKETS; i++) {
		struct proc **qq = &l->procs[i];

		while (*qq) {
			if ((*qq)->run == r) {
				struct proc *q = *qq;

				*qq = q->next;
				free(q);
				l->nprocs--;
			} else {
				qq = &(*qq)->next;
			}
		}
	}
}

/* Frees one run nobody refers to, the least recently seen; 0 when none can go. */
static int evict_one(struct lineage *l)
{
	struct run **pp, **victim = NULL, *r;

	for (pp = &l->runs; *pp; pp = &(*pp)->next)
		if (!(*pp)->refs && (!victim || (*pp)->last_seen < (*victim)->last_seen))
			victim = pp;
	if (!victim)
		return 0;
	r = *victim;
	drop_procs_of(l, r);
	*victim = r->next;
	run_free(r);
	l->nruns--;
	return 1;
}

/* Notes that pid is in run r, unless the cache is full (it is then looked up again). Caller
 * holds l->lock. */
static void proc_cache(struct lineage *l, pid_t pid, struct run *r)
{
	size_t b = (size_t)pid % PROC_BUCKETS;
	struct proc *p;

	if (l->nprocs >= LIN_PROCS || !(p = malloc(sizeof(*p))))
		return;
	p->pid = pid;
	p->run = r;
	p->next = l->procs[b];
	l->procs[b] = p;
	l->nprocs++;
}

/* The run of process pid, creating it when new. Caller holds l->lock. */
static struct run *run_of(struct lineage *l, pid_t pid)
{
	size_t b = (size_t)pid % PROC_BUCKETS;
	char id[FS_RUN_ID_MAX], env[FS_RUN_ID_MAX - 8];
	struct proc *p;
	struct run *r;
	pid_t pgid = 0;

	for (p = l->procs[b]; p; p = p->next)
		if (p->pid == pid)
			return p->run;
	if (env_run(pid, env, sizeof(env)) == 0) {
		snprintf(id, sizeof(id), "env:%s", env);
	} else {
		pgid = getpgid(pid);
		if (pgid < 0)
			pgid = pid; /* already gone: a run of its own */
		snprintf(id, sizeof(id), "pgid:%d", (int)pgid);
	}
	for (r = l->runs; r; r = r->next)
		if (strcmp(r->id, id) == 0)
			break;
	if (!r) {
		if (l->nruns >= LIN_RUNS && !evict_one(l)) {
			if (!l->warned_runs++)
				log_msg(LOG_WARNING, "lineage: %d runs at once; new runs are not "
						     "captured until some end", LIN_RUNS);
			return NULL;
		}
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
		snprintf(r->id, sizeof(r->id), "%s", id);
		r->pgid = pgid;
		r->next = l->runs;
		l->runs = r;
		l->nruns++;
	}
	if (!r->pgid && r->npids < LIN_RUN_PIDS)
		r->pids[r->npids++] = pid;
	proc_cache(l, pid, r);
	return r;
}

void fs_lineage_read(struct fs *fs, pid_t pid, const struct meta_vref *v)
{
	struct lineage *l = fs->lin;
	struct run *r;

	if (!l || !pid || !v->n)
		return;
	pthread_mutex_lock(&l->lock);
	r = run_of(l, pid);
	if (!r)
		goto out;
	r->last_seen = fs_mono_ns();
	for (size_t i = 0; i < r->nreads; i++)
		if (r->reads[i].artifact == v->artifact && r->reads[i].n == v->n)
			goto out;
	if (r->nreads >= LIN_READS) {
		if (!l->warned_reads++)
			log_msg(LOG_WARNING, "lineage: run %s read more than %d versions; the "
					     "rest are not captured", r->id, LIN_READS);
		goto out;
	}
	if (r->nreads == r->capreads) {
		size_t cap = r->capreads ? r->capreads * 2 : 8;
		struct meta_vref *nr = realloc(r->reads, cap * sizeof(*nr));

		if (!nr)
			goto out;
		r->reads = nr;
		r->capreads = cap;
	}
	r->reads[r->nreads++] = *v;
out:
	pthread_mutex_unlock(&l->lock);
}

void fs_lineage_writer(struct fs *fs, struct fs_art *art, pid_t pid, char *id, size_t idlen)
{
	struct lineage *l = fs->lin;
	struct run *r;

	if (id && idlen)
		id[0] = '\0';
	if (!l || !pid)
		return;
	pthread_mutex_lock(&l->lock);
	r = run_of(l, pid);
	if (r) {
		size_t i;

		r->last_seen = fs_mono_ns();
		if (id)
			snprintf(id, idlen, "%s", r->id);
		for (i = 0; i < art->nruns; i++)
			if (art->runs[i] == r)
				break;
		if (i == art->nruns && art->nruns < FS_ART_RUNS) {
			art->runs[art->nruns++] = r;
			r->refs++;
		}
	}
	pthread_mutex_unlock(&l->lock);
}

int fs_lineage_captured(struct fs *fs, struct fs_art *art, struct meta_vref **out, size_t *n)
{
	struct lineage *l = fs->lin;
	struct meta_vref *v = NULL;
	size_t cnt = 0, cap = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < art->nruns && !err; i++) {
		struct run *r = art->runs[i];

		for (size_t k = 0; k < r->nreads; k++) {
			size_t j;

			for (j = 0; j < cnt; j++)
				if (v[j].artifact == r->reads[k].artifact && v[j].n == r->reads[k].n)
					break;
			if (j < cnt)
				continue;
			if (cnt == cap) {
				struct meta_vref *nv;

				cap = cap ? cap * 2 : 16;
				nv = realloc(v, cap * sizeof(*nv));
				if (!nv) {
					err = ENOMEM;
					break;
				}
				v = nv;
			}
			v[cnt++] = r->reads[k];
		}
	}
	pthread_mutex_unlock(&l->lock);
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	*n = cnt;
	return 0;
}

void fs_lineage_committed(struct fs *fs, struct fs_art *art)
{
	struct lineage *l = fs->lin;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < art->nruns; i++)
		art->runs[i]->refs--;
	art->nruns = 0;
	pthread_mutex_unlock(&l->lock);
}

void fs_lineage_sweep(struct fs *fs)
{
	struct lineage *l = fs->lin;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	/* Processes that are gone leave the cache (their pid may be reused). */
	for (size_t i = 0; i < PROC_BUCKETS; i++) {
		struct proc **pp = &l->procs[i];

		while (*pp) {
			if (!alive((*pp)->pid)) {
				struct proc *p = *pp;

				*pp = p->next;
				free(p);
				l->nprocs--;
			} else {
				pp = &(*pp)->next;
			}
		}
	}
	for (struct run **rr = &l->runs; *rr;) {
		struct run *r = *rr;

		if (!r->refs && !run_alive(r)) {
			*rr = r->next;
			drop_procs_of(l, r);
			run_free(r);
			l->nruns--;
		} else {
			rr = &r->next;
		}
	}
	pthread_mutex_unlock(&l->lock);
}

/* ---- jobs: when a draft's writers are done (docs/jobs.md) ---- */

int fs_lineage_job(struct fs *fs, struct fs_art *art)
{
	struct lineage *l = fs->lin;
	int job = FS_JOB_NONE;

	if (!l)
		return FS_JOB_NONE;
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < art->nruns && job != FS_JOB_HELD; i++) {
		const struct run *r = art->runs[i];

		if (r->held && !r->ended)
			job = FS_JOB_HELD;
		else if (job == FS_JOB_NAMED)
			continue;
		else if (!run_alive(r))
			job = job == FS_JOB_NONE ? FS_JOB_ENDED : job;
		else
			job = r->pgid ? FS_JOB_PLAIN : FS_JOB_NAMED;
	}
	pthread_mutex_unlock(&l->lock);
	return job;
}

static struct run *named(struct lineage *l, const char *id)
{
	char full[FS_RUN_ID_MAX];

	snprintf(full, sizeof(full), "env:%s", id);
	for (struct run *r = l->runs; r; r = r->next)
		if (!r->pgid && strcmp(r->id, full) == 0)
			return r;
	return NULL;
}

int fs_lineage_end(struct fs *fs, const char *id)
{
	struct lineage *l = fs->lin;
	struct run *r;

	if (!l)
		return ENOTSUP;
	pthread_mutex_lock(&l->lock);
	r = named(l, id);
	if (r)
		r->ended = 1;
	pthread_mutex_unlock(&l->lock);
	return r ? 0 : ENOENT;
}

int fs_lineage_wrote(struct fs *fs, struct fs_art *art, const char *id)
{
	struct lineage *l = fs->lin;
	int yes = 0;

	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < art->nruns && !yes; i++)
		yes = !art->runs[i]->pgid && strcmp(art->runs[i]->id + 4, id) == 0;
	pthread_mutex_unlock(&l->lock);
	return yes;
}

int fs_lineage_new_run(struct fs *fs, pid_t pid, const char *id, int held)
{
	struct lineage *l = fs->lin;
	size_t b = (size_t)pid % PROC_BUCKETS;
	struct proc **pp;
	struct run *r;
	char self[FS_RUN_ID_MAX];

	if (!l)
		return ENOTSUP;
	pthread_mutex_lock(&l->lock);
	for (pp = &l->procs[b]; *pp; pp = &(*pp)->next)
		if ((*pp)->pid == pid) {
			struct proc *p = *pp;

			*pp = p->next;
			free(p);
			l->nprocs--;
			break;
		}
	if (!id) {
		snprintf(self, sizeof(self), "self:%d.%" PRIu64, (int)pid, ++l->self_runs);
		id = self;
	}
	r = named(l, id);
	if (!r && (r = calloc(1, sizeof(*r)))) {
		snprintf(r->id, sizeof(r->id), "env:%s", id);
		r->next = l->runs;
		l->runs = r;
		l->nruns++;
	}
	if (r) {
		r->last_seen = fs_mono_ns();
		r->held |= held;
		if (r->npids < LIN_RUN_PIDS)
			r->pids[r->npids++] = pid;
	}
	/* run_of() finds the process's new run through the process cache. */
	if (r)
		proc_cache(l, pid, r);
	pthread_mutex_unlock(&l->lock);
	return r ? 0 : ENOMEM;
}

/* Appends uri (unless NULL) to what run id made, recording the run when new. */
static void made_add(struct lineage *l, const char *id, const char *uri)
{
	struct made *m = NULL;

	for (uint64_t i = l->nmade > LIN_MADE ? l->nmade - LIN_MADE : 0; i < l->nmade; i++)
		if (strcmp(l->made[i % LIN_MADE].id, id) == 0)
			m = &l->made[i % LIN_MADE];
	if (!m) {
		m = &l->made[l->nmade++ % LIN_MADE];
		snprintf(m->id, sizeof(m->id), "%s", id);
		m->uris[0] = '\0';
	}
	if (uri && strlen(m->uris) + strlen(uri) + 2 <= sizeof(m->uris)) {
		strcat(m->uris, uri);
		strcat(m->uris, "\n");
	}
}

void fs_lineage_made(struct fs *fs, struct fs_art *art, const char *id, const char *uri)
{
	struct lineage *l = fs->lin;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	if (id)
		made_add(l, id, uri);
	for (size_t i = 0; art && i < art->nruns; i++)
		if (!art->runs[i]->pgid)
			made_add(l, art->runs[i]->id + 4, uri); /* past "env:" */
	pthread_mutex_unlock(&l->lock);
}

int fs_lineage_made_get(struct fs *fs, const char *id, char **out)
{
	struct lineage *l = fs->lin;
	int err = ENODATA;

	*out = NULL;
	if (!l)
		return ENODATA;
	pthread_mutex_lock(&l->lock);
	for (uint64_t i = l->nmade > LIN_MADE ? l->nmade - LIN_MADE : 0; i < l->nmade; i++)
		if (strcmp(l->made[i % LIN_MADE].id, id) == 0) {
			*out = strdup(l->made[i % LIN_MADE].uris);
			err = *out ? 0 : ENOMEM;
		}
	pthread_mutex_unlock(&l->lock);
	return err;
}
