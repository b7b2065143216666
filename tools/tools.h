/* SPDX-License-Identifier: MIT */
/* tools/: the artifs command. One cmd_<name>() per subcommand, each in its own file. */
#ifndef ARTIFS_TOOLS_H
#define ARTIFS_TOOLS_H

#include <stddef.h>
#include <stdint.h>

/* Each returns the process exit status: 0 success, 1 failure, 2 usage. */
int cmd_mount(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_discard(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_rebuild(int argc, char **argv);
int cmd_find(int argc, char **argv);
int cmd_lineage(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_prefetch(int argc, char **argv);
int cmd_bench(int argc, char **argv);

struct meta;
struct meta_txn;
struct meta_vref;

/* Opens the host's index for reading beside a running daemon: state is --state, else
 * $ARTIFS_STATE, else the default. 1 with a message on stderr when it cannot. */
int tool_meta_open(const char *state, struct meta **m);
/* Takes "--state DIR" out of argv (argc adjusted); returns DIR or NULL. */
const char *tool_state_arg(int *argc, char **argv);
/* An artifact or version named by a URI, "project/artifact[@ref]", or a path under the
 * mount (its last components), as "artifs://p/a[@ref]" into out. */
int tool_uri(const char *arg, char *out, size_t len);
/* Prints nanoseconds since the epoch as RFC 3339 UTC into out. */
void tool_time(int64_t ns, char *out, size_t len);

/* The mount point that artifs:// URIs refer to: $ARTIFS_MOUNT or /artifacts. */
const char *tool_mountpoint(void);

/*
 * Turns a command argument into a path: an artifs://p/a@ref/path URI becomes
 * <mount>/p/a/@ref/path (artifs://p/a is the artifact folder); anything else is a path and
 * is copied. 0, or 2 with a message on stderr for a malformed URI.
 */
int tool_path(const char *arg, char *out, size_t len);

/*
 * The artifs mount that holds path (which need not exist yet: its nearest existing ancestor
 * is resolved): root gets the mount's real path, the nearest folder at or above it with
 * .artifs/version; rel (may be NULL) the rest of the path below root, "" for root itself.
 * 0, ENOENT when no artifs mount holds it, EINVAL for a "." or ".." among the components
 * that do not exist yet, ENAMETOOLONG, or realpath's errno.
 */
int tool_mount_root(const char *path, char *root, size_t rlen, char *rel, size_t rellen);

/* True when argv holds -h or --help. */
int tool_wants_help(int argc, char **argv);

#endif
