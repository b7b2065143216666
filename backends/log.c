/* SPDX-License-Identifier: MIT */
/*
 * One-line logging to stderr (foreground) or syslog (daemon), control characters as '?', and
 * to a file in the state directory when one is set (log_to_file), for hosts without syslog.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"

#define LOG_FILE_MAX ((off_t)8 << 20) /* then it becomes <path>.1, replacing the older one */

static int use_syslog;
static int debug;
static struct {
	pthread_mutex_t lock;
	int fd; /* -1: none */
	off_t size;
	char path[4096];
} file = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

/* Under file.lock: path opened for appending, moved to path.1 first when it is full (or
 * would be with the next line: full). */
static int file_open(int full)
{
	struct stat st;
	char old[sizeof(file.path) + 2];
	int fd;

	if (full || (stat(file.path, &st) == 0 && st.st_size >= LOG_FILE_MAX)) {
		snprintf(old, sizeof(old), "%s.1", file.path);
		rename(file.path, old);
	}
	fd = open(file.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno;
	file.size = fstat(fd, &st) == 0 ? st.st_size : 0;
	if (file.fd >= 0)
		close(file.fd);
	__atomic_store_n(&file.fd, fd, __ATOMIC_RELAXED);
	return 0;
}

int log_to_file(const char *path)
{
	int err;

	pthread_mutex_lock(&file.lock);
	snprintf(file.path, sizeof(file.path), "%s", path);
	err = file_open(0);
	pthread_mutex_unlock(&file.lock);
	return err;
}

static void file_write(const char *level, const char *line)
{
	char buf[1200], when[32];
	struct timespec ts;
	struct tm tm;
	int n;

	if (__atomic_load_n(&file.fd, __ATOMIC_RELAXED) < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(buf, sizeof(buf), "%s artifs[%d]: %s: %s\n", when, (int)getpid(), level, line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	pthread_mutex_lock(&file.lock);
	if (file.size + n > LOG_FILE_MAX)
		file_open(1); /* on failure the old file goes on growing: better than no log */
	if (write(file.fd, buf, (size_t)n) == n)
		file.size += n;
	pthread_mutex_unlock(&file.lock);
}

void log_to_syslog(const char *ident)
{
	openlog(ident, LOG_PID, LOG_DAEMON);
	use_syslog = 1;
}

void log_set_debug(int on)
{
	debug = on;
}

void log_msg(int prio, const char *fmt, ...)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
					     "warning", "notice", "info", "debug" };
	char line[1024];
	va_list ap;

	if (prio == LOG_DEBUG && !debug)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Names from the store or from users may hold control characters: one line stays one
	 * line, and no escape sequence reaches a terminal. */
	for (char *c = line; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	file_write(names[prio & 7], line);
	if (use_syslog) {
		syslog(prio, "%s", line);
		return;
	}
	/* One fprintf per line so that lines from many threads do not interleave. */
	fprintf(stderr, "artifs: %s: %s\n", names[prio & 7], line);
}
