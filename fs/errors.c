/* SPDX-License-Identifier: MIT */
/*
 * Recent refusals, for users who cannot read the daemon's log (containers have no syslog):
 * every fs_refuse() made while serving a FUSE request is kept, with the time, the process
 * and its command, in a ring of the last FS_ERRORS_MAX, and shown by .artifs/errors and
 * `artifs status`. The request's process is noted per thread by fs_req_begin().
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

#define FS_ERRORS_MAX 64

struct refusal {
	int64_t ns;
	pid_t pid;
	int err;
	char comm[32];
	char op[32];
	char name[256];
	char why[256];
};

static struct {
	pthread_mutex_t lock;
	struct refusal v[FS_ERRORS_MAX];
	uint64_t n; /* refusals so far; the newest is v[(n - 1) % FS_ERRORS_MAX] */
} ring = { .lock = PTHREAD_MUTEX_INITIALIZER };

static __thread pid_t req_pid; /* 0: not serving a request (workers, the committer) */

pid_t fs_req_pid(void)
{
	return req_pid;
}

void fs_req_begin(pid_t pid)
{
	req_pid = pid;
}

/* The command name of pid (its /proc comm), "?" when it is gone. */
static void comm_of(pid_t pid, char *out, size_t len)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, out, len - 1);
		close(fd);
	}
	if (n <= 0) {
		snprintf(out, len, "?");
		return;
	}
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

void fs_errors_note(int err, const char *op, const char *name, const char *why)
{
	struct refusal r = { .pid = req_pid, .err = err };
	struct timespec ts;

	if (!req_pid)
		return;
	clock_gettime(CLOCK_REALTIME, &ts); /* not fs_now_ns(): util.c calls us */
	r.ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	comm_of(req_pid, r.comm, sizeof(r.comm));
	snprintf(r.op, sizeof(r.op), "%s", op ? op : "");
	snprintf(r.name, sizeof(r.name), "%s", name ? name : "");
	snprintf(r.why, sizeof(r.why), "%s", why ? why : "");
	pthread_mutex_lock(&ring.lock);
	ring.v[ring.n++ % FS_ERRORS_MAX] = r;
	pthread_mutex_unlock(&ring.lock);
}

/* Control characters in what users typed become '?': one refusal, one line. */
static void put_clean(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

void fs_errors_print(FILE *f)
{
	uint64_t first;

	pthread_mutex_lock(&ring.lock);
	first = ring.n > FS_ERRORS_MAX ? ring.n - FS_ERRORS_MAX : 0;
	for (uint64_t i = first; i < ring.n; i++) {
		const struct refusal *r = &ring.v[i % FS_ERRORS_MAX];
		time_t s = (time_t)(r->ns / 1000000000);
		char when[32], eb[64];
		struct tm tm;

		gmtime_r(&s, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(f, "%s\tpid %d (", when, (int)r->pid);
		put_clean(f, r->comm);
		fprintf(f, ")\t%s ", r->op);
		put_clean(f, r->name);
		fprintf(f, "\t%s (%s)\t", strerrorname_np(r->err) ? strerrorname_np(r->err) : "?",
			strerror_r(r->err, eb, sizeof(eb))); /* GNU: returns the message */
		put_clean(f, r->why);
		fputc('\n', f);
	}
	pthread_mutex_unlock(&ring.lock);
}
