/* SPDX-License-Identifier: MIT */
/* One-line logging to stderr (foreground) or syslog (daemon), control characters as '?'. */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "backend.h"

static int use_syslog;
static int debug;

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
	if (use_syslog) {
		syslog(prio, "%s", line);
		return;
	}
	/* One fprintf per line so that lines from many threads do not interleave. */
	fprintf(stderr, "artifs: %s: %s\n", names[prio & 7], line);
}
