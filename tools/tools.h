/* SPDX-License-Identifier: MIT */
/* tools/: the artifs command. One cmd_<name>() per subcommand, each in its own file. */
#ifndef ARTIFS_TOOLS_H
#define ARTIFS_TOOLS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Each returns the process exit status: 0 success; 1 failure, including a refused argument
 * (an unknown option, a malformed value, a path that is not on an artifs mount), which is
 * also mount(8)'s status for an incorrect invocation; 2 when the command line lacks what the
 * command needs (no artifact named, a missing operand).
 */
int cmd_mount(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_discard(int argc, char **argv);
int cmd_revert(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_label(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_rebuild(int argc, char **argv);
int cmd_find(int argc, char **argv);
int cmd_lineage(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_du(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_retain(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_prefetch(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/*
 * The tree copier of get and import (tools/copy.c). tool_copy_tree makes dst hold what src
 * holds: src a folder (dst an existing folder) or a file (dst a new name). Folders and links
 * are made while src is walked; files are copied by c->jobs threads at once (each runs
 * c->thread_start(c->arg) first when set; nonzero with errno stops the copy); folders get
 * their modes and times last. Without c->preserve, folders and files also get their owner's
 * write bit and artifs' and other attributes stay behind; with it, modes are kept exactly
 * and the user.* attributes other than user.artifs.* are copied. With c->sync, dst may hold
 * entries already: those src lacks are removed (at dst's top, @ names stay), others are
 * replaced, folders kept. c->top_attrs: dst itself gets src's mode and times (and
 * attributes). Special files are left out with a line on stderr. A progress line goes to
 * stderr with c->progress. Returns 0, or the errno of the first failure, which is printed
 * as "artifs CMD: cannot WHAT PATH: why" (what was copied stays). c->files and c->bytes
 * get what was copied; c->dst is set to dst.
 */
#define TOOL_COPY_JOBS_DEFAULT 8
#define TOOL_COPY_JOBS_MAX 64
struct tool_copy {
	const char *cmd;
	unsigned jobs;
	int preserve, sync, top_attrs, progress;
	int (*thread_start)(void *arg);
	void *arg;
	const char *dst;
	uint64_t files, bytes;
};
int tool_copy_tree(struct tool_copy *c, const char *src, const char *dst);

/*
 * Runs on a mount (tools/cmd_run.c, also for import; docs/jobs.md). tool_run_id: a fresh
 * run id "PREFIX-<16 hex>" into id: 0, or -1. tool_run_end: ends named run id on the mount
 * whose root is root, committing its drafts with msg (may be NULL): 0, or -1 with errno.
 * tool_run_report: sets the labels ("KEY=VALUE" each) on every version run id made and
 * prints each with its inputs; *made gets how many: 0, or 1 after a message on stderr
 * ("artifs CMD: ..."). tool_label_arg: takes a --label value into labels (n used, room for
 * TOOL_RUN_LABELS): 0, or 2 with a message for one that is not KEY=VALUE or one too many.
 */
#define TOOL_RUN_LABELS 64
int tool_run_id(const char *prefix, char *id, size_t len);
int tool_run_end(const char *root, const char *id, const char *msg);
int tool_run_report(const char *cmd, const char *root, const char *id, char **labels,
		    int nlabels, int *made);
int tool_label_arg(const char *cmd, char *arg, char **labels, int *n);

struct meta;
struct meta_txn;
struct meta_vref;
struct fs_conf;

/* Opens the host's index for reading beside a running daemon: state is --state, else
 * $ARTIFS_STATE, else the state directory that the artifs mount holding where (a path or
 * artifs:// URI the command was given; NULL: $ARTIFS_MOUNT when it is a mount, else the only
 * artifs mount) publishes in .artifs/mount, else the default. 1 with a message on stderr
 * when it cannot. */
int tool_meta_open(const char *state, const char *where, struct meta **m);
/* Takes "--state DIR" out of argv (argc adjusted) into *state (NULL when absent). 0, or 1
 * with a message on stderr when --state has no value. */
int tool_state_arg(int *argc, char **argv, const char **state);
/*
 * An artifact or version named by an artifs:// URI (taken as it is) or by a path on an
 * artifs mount (its components below the mount root), as "artifs://p/a[@ref]" into out.
 * 0, or 1 with one line on stderr naming cmd and arg: a path not on an artifs mount, or
 * one that names no artifact.
 */
int tool_uri(const char *cmd, const char *arg, char *out, size_t len);
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
 * is resolved): root gets the mount's real path, the mount point of type fuse.artifs in
 * /proc/self/mountinfo nearest above it, with .artifs/version in it; rel (may be NULL) the
 * rest of the path below root, "" for root itself. 0, ENOENT when no artifs mount holds it,
 * EINVAL for a "." or ".." among the components that do not exist yet, ENAMETOOLONG, or
 * realpath's errno (ENOTCONN on the mount of a daemon that died).
 */
int tool_mount_root(const char *path, char *root, size_t rlen, char *rel, size_t rellen);

/*
 * A command's path or URI argument, which must be on an artifs mount: out gets the path
 * (tool_path), root (may be NULL) the mount root and rel (may be NULL) the rest, as
 * tool_mount_root. 0, or 1 with one line on stderr, "artifs CMD: PATH: why".
 */
int tool_on_mount(const char *cmd, const char *arg, char *out, size_t len, char *root,
		  size_t rlen, char *rel, size_t rellen);

/* The mount that status and stats report on: argv's one optional PATH, else
 * tool_mountpoint(); its root into root. 0, or 1 with a message on stderr. */
int tool_mount_arg(const char *cmd, int argc, char **argv, char *root, size_t rlen);

/* True when argv holds -h or --help. */
int tool_wants_help(int argc, char **argv);
/* Refuses opt, an option cmd does not know: a message with a usage hint; returns 1. */
int tool_bad_option(const char *cmd, const char *opt);
/* The one operand (a `what`: "artifact", "version") of a command that takes no other
 * options: refuses options ("--" ends them) and a second operand (returns 1), or none
 * (returns 2), with a message; 0 with *arg set. */
int tool_one_operand(const char *cmd, const char *what, int argc, char **argv,
		     const char **arg);
/* Refuses opt given last, without the value it takes; returns 1. */
int tool_needs_value(const char *cmd, const char *opt);

/*
 * Option values. tool_parse_uint: decimal digits only, at most max. tool_parse_size: bytes,
 * or digits followed by K, M, G or T (any case, powers of 1024), optionally followed by
 * "iB" ("32M", "32MiB"). Both 0, EINVAL for anything else (a sign, spaces, "32MB", ""), or
 * ERANGE when it does not fit.
 */
int tool_parse_uint(const char *s, uint64_t max, uint64_t *out);
int tool_parse_size(const char *s, uint64_t *out);
/* Prints j (a jansson json_t) indented by 2, with a newline; nothing when out of memory. */
void tool_print_json(const void *j);
/* n bytes for people: "512 bytes", "4.0 KiB", "1.2 GiB" (powers of 1024). */
void tool_size_human(uint64_t n, char *out, size_t len);
/* The message for tool_parse_size's err on "WHATVAL" (what: e.g. "rcache=" or "--big-size
 * "); returns 1. */
int tool_size_error(const char *cmd, const char *what, const char *val, int err);

/*
 * The -o options of the commands that open a store, one parser for all: TOOL_OPT_STORE
 * (store=, state=, endpoint=, retries=, cache=, cache_size=, map_size=) for every such
 * command, TOOL_OPT_DAEMON (commit_delay=, commit_idle=, rcache=, capture=, refresh=) for
 * mount. tool_conf_init zeroes c, sets the defaults, then takes the config files' values
 * (docs/guide.md, "Configuration": /etc/artifs/config, then the user's, or $ARTIFS_CONFIG
 * alone) and those of $ARTIFS_<NAME> for each option, so that -o items taken after it win;
 * tool_conf_opt takes one NAME=VALUE item: 0 taken, -1 not one of these options (mount
 * passes it to FUSE), 1 refused (a message on stderr naming the option); tool_conf_finish
 * fills store and state with the defaults when no source gave them. tool_conf_show prints
 * each option of which as NAME=VALUE, a tab and where the value came from ("default", a
 * file and line, "$ARTIFS_NAME" or "-o"). The strings in c are the caller's, freed by
 * tool_conf_release(). init and finish return 0 or 1 (a message on stderr).
 */
enum tool_opt_which { TOOL_OPT_STORE = 1 << 0, TOOL_OPT_DAEMON = 1 << 1 };
int tool_conf_init(const char *cmd, unsigned which, struct fs_conf *c);
int tool_conf_opt(const char *cmd, const char *item, unsigned which, struct fs_conf *c);
int tool_conf_finish(const char *cmd, struct fs_conf *c);
/* Each item of one -o list (as mount splits them: a ',' inside a value is "\,") by
 * tool_conf_opt(): 0, or 1 with a message on stderr (an unknown option is refused). */
int tool_conf_list(const char *cmd, char *opts, unsigned which, struct fs_conf *c);
void tool_conf_release(struct fs_conf *c);
void tool_conf_show(const struct fs_conf *c, unsigned which, FILE *f);

#endif
