/* SPDX-License-Identifier: MIT */
/*
 * artifs run [--label K=V]... [--message M] [--mount DIR] -- CMD...: begins a fresh named
 * run on the mount (user.artifs.run.begin on its root), runs CMD in it ($ARTIFS_RUN), then
 * ends it (ARTIFS_IOC_RUN_END, as user.artifs.run.end), which commits what it wrote at once; prints the versions it made with their inputs, and
 * exits with CMD's status (docs/jobs.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../fs/fs.h"
#include "tools.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: artifs run [--label KEY=VALUE]... [--message MESSAGE] [--mount DIR] -- "
		"CMD [ARG]...\n\n"
		"Runs CMD as one job: what it and its children write under the mount becomes one\n"
		"version per artifact, committed when CMD ends (not when its files go quiet), with\n"
		"MESSAGE and the labels. Prints each version made and the inputs it was built\n"
		"from, then exits with CMD's status (1 when CMD succeeded but a commit failed).\n"
		"CMD gets a new $ARTIFS_RUN. The mount is --mount, else $ARTIFS_MOUNT, else\n"
		"/artifacts.\n");
}

/* Runs argv with ARTIFS_RUN=id: its wait status, or -1 with a message. */
static int run_child(char **argv, const char *id)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, oint, oquit;
	int status = -1;
	pid_t pid;

	/* Like system(): Ctrl-C reaches CMD (the terminal's foreground group), not us. */
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &oint);
	sigaction(SIGQUIT, &ign, &oquit);
	pid = fork();
	if (pid == 0) {
		sigaction(SIGINT, &oint, NULL);
		sigaction(SIGQUIT, &oquit, NULL);
		setenv("ARTIFS_RUN", id, 1);
		execvp(argv[0], argv);
		fprintf(stderr, "artifs run: %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (pid < 0)
		fprintf(stderr, "artifs run: cannot start %s: %s\n", argv[0], strerror(errno));
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	return status;
}

int tool_run_id(const char *prefix, char *id, size_t len)
{
	unsigned char rnd[8];

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -1;
	snprintf(id, len, "%s-%02x%02x%02x%02x%02x%02x%02x%02x", prefix, rnd[0], rnd[1], rnd[2],
		 rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	return 0;
}

/* By ioctl, which holds no kernel lock on the root while the run's drafts are committed. */
int tool_run_end(const char *root, const char *id, const char *msg)
{
	struct artifs_ioc_run_end r = { .id = "" };
	int fd, rc;

	if (strlen(id) >= sizeof(r.id) || (msg && strlen(msg) >= sizeof(r.message))) {
		errno = E2BIG;
		return -1;
	}
	memcpy(r.id, id, strlen(id) + 1);
	if (msg)
		memcpy(r.message, msg, strlen(msg) + 1);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = ioctl(fd, ARTIFS_IOC_RUN_END, &r);
	if (rc) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

/* Sets the labels on uri (artifs://p/a@vN, on the mount at root) and prints it with its
 * inputs: 0, or 1 with a message. */
static int report(const char *cmd, const char *root, const char *uri, char **labels,
		  int nlabels)
{
	char path[PATH_MAX], in[65536];
	const char *at = strrchr(uri, '@');
	ssize_t n;
	int ret = 0;

	if (strncmp(uri, "artifs://", 9) || !at)
		return 1;
	snprintf(path, sizeof(path), "%s/%.*s/%s", root, (int)(at - uri - 9), uri + 9, at);
	for (int i = 0; i < nlabels; i++) {
		const char *eq = strchr(labels[i], '=');
		char name[300];

		snprintf(name, sizeof(name), "user.label.%.*s", (int)(eq - labels[i]), labels[i]);
		if (setxattr(path, name, eq + 1, strlen(eq + 1), 0)) {
			fprintf(stderr, "artifs %s: %s: label %s: %s\n", cmd, uri, labels[i],
				strerror(errno));
			ret = 1;
		}
	}
	n = getxattr(path, "user.artifs.inputs", in, sizeof(in) - 1);
	in[n > 0 ? n : 0] = '\0';
	printf("%s\n", uri);
	for (char *l = strtok(in, "\n"); l; l = strtok(NULL, "\n"))
		printf("  input %s\n", l);
	return ret;
}

int tool_run_report(const char *cmd, const char *root, const char *id, char **labels,
		    int nlabels, int *made)
{
	char name[80], list[4096], *end;
	ssize_t n;
	int ret = 0;

	*made = 0;
	snprintf(name, sizeof(name), "user.artifs.run.%s", id);
	n = getxattr(root, name, list, sizeof(list) - 1);
	list[n > 0 ? n : 0] = '\0';
	for (char *l = list; *l; l = end + 1) {
		end = strchr(l, '\n');
		if (!end)
			break;
		*end = '\0';
		(*made)++;
		if (report(cmd, root, l, labels, nlabels))
			ret = 1;
	}
	return ret;
}

int tool_label_arg(const char *cmd, char *arg, char **labels, int *n)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg || *n == TOOL_RUN_LABELS) {
		fprintf(stderr, "artifs %s: --label %s: want KEY=VALUE (at most %d)\n", cmd, arg,
			TOOL_RUN_LABELS);
		return 2;
	}
	labels[(*n)++] = arg;
	return 0;
}

int cmd_run(int argc, char **argv)
{
	const char *msg = NULL, *mnt = NULL;
	char *labels[TOOL_RUN_LABELS], root[PATH_MAX], path[PATH_MAX], id[40];
	int nlabels = 0, i, status, ret, made;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout); /* before CMD only: CMD's own --help is CMD's */
			return 0;
		}

		if ((!strcmp(a, "--label") || !strcmp(a, "--message") || !strcmp(a, "--mount")) &&
		    i + 1 >= argc)
			return tool_needs_value("run", a);
		if (!strcmp(a, "--label")) {
			if (tool_label_arg("run", argv[++i], labels, &nlabels))
				return 2;
		} else if (!strcmp(a, "--message")) {
			msg = argv[++i];
		} else if (!strcmp(a, "--mount")) {
			mnt = argv[++i];
		} else if (a[0] == '-') {
			return tool_bad_option("run", a);
		} else {
			break; /* CMD without "--" */
		}
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc) {
		fprintf(stderr, "artifs run: no command to run\n");
		usage(stderr);
		return 2;
	}
	if (tool_on_mount("run", mnt ? mnt : tool_mountpoint(), path, sizeof(path), root,
			  sizeof(root), NULL, 0))
		return 1;
	if (tool_run_id("run", id, sizeof(id)))
		return 1;
	/* This process belongs to the run until it ends it: a CMD whose processes all exit
	 * does not end it before its message and labels are given. */
	if (setxattr(root, "user.artifs.run.begin", id, strlen(id), 0)) {
		fprintf(stderr, "artifs run: cannot begin a run on %s: %s%s\n", root,
			strerror(errno), errno == ENOTSUP ? " (the mount has capture=0)" : "");
		return 1;
	}
	status = run_child(argv + i, id);
	ret = status < 0 ? 1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	/* The run's end commits what it wrote, also when CMD failed: its files are kept. */
	if (tool_run_end(root, id, msg)) {
		fprintf(stderr, "artifs run: committing what %s wrote failed: %s (artifs status "
			"says why)\n", argv[i], strerror(errno));
		return ret ? ret : 1;
	}
	if (tool_run_report("run", root, id, labels, nlabels, &made) && !ret)
		ret = 1;
	if (!made)
		fprintf(stderr, "artifs run: %s made no version\n", argv[i]);
	return ret;
}
