/* SPDX-License-Identifier: MIT */
/* tools/: the artifs command. One cmd_<name>() per subcommand, each in its own file. */
#ifndef ARTIFS_TOOLS_H
#define ARTIFS_TOOLS_H

#include <stddef.h>

/* Each returns the process exit status: 0 success, 1 failure, 2 usage. */
int cmd_mount(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_discard(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_rebuild(int argc, char **argv);

/* The mount point that artifs:// URIs refer to: $ARTIFS_MOUNT or /artifacts. */
const char *tool_mountpoint(void);

/*
 * Turns a command argument into a path: an artifs://p/a@ref/path URI becomes
 * <mount>/p/a/@ref/path (artifs://p/a is the artifact folder); anything else is a path and
 * is copied. 0, or 2 with a message on stderr for a malformed URI.
 */
int tool_path(const char *arg, char *out, size_t len);

/* True when argv holds -h or --help. */
int tool_wants_help(int argc, char **argv);

#endif
