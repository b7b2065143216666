/* SPDX-License-Identifier: MIT */
/*
 * fs/: the FUSE low-level daemon: namespace (DESIGN.md section 1), drafts and commits
 * (section 2), extended attributes (section 3), reads through the chunk layer, and the
 * offline rebuild of the index from the store.
 *
 * Every function returns 0 or a positive errno and logs why it refused.
 */
#ifndef ARTIFS_FS_H
#define ARTIFS_FS_H

/* The one definition of the libfuse API level (3.12: the fuse_loop_config object API). */
#define FUSE_USE_VERSION 312

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

struct fuse_args;

struct fs_conf {
	const char *store;        /* store directory, or s3://bucket[/prefix] (borrowed) */
	const char *endpoint;     /* S3 endpoint URL, NULL: $AWS_ENDPOINT_URL or AWS */
	unsigned retries;         /* S3 attempts after the first, 0: the leaf's default */
	const char *cache_dir;    /* chunk cache of an s3 store, NULL: <state>/cache */
	uint64_t cache_size;      /* its bound in bytes, 0: the layer's default */
	const char *state;        /* state directory: LMDB index and staging files */
	unsigned commit_delay_ms; /* quiet time before a draft commits; 0 = at last close */
	unsigned commit_idle_ms;  /* a living named run's drafts commit after this much quiet */
	uint64_t map_size;        /* initial LMDB map size, 0 for the default */
	uint64_t rcache_bytes;    /* decoded-chunk memory cache bound, 0 for the default */
	int foreground;
	int debug;
	int no_capture;           /* 1: do not capture lineage from opens */
	unsigned refresh_ms;      /* re-read an artifact's versions and tags from the store
				     when looked up this long after the last time; 0: never */
};

/*
 * ARTIFS_IOC_COMMIT on a descriptor of an artifact folder (open(O_RDONLY | O_DIRECTORY))
 * commits its draft now, like setxattr user.artifs.commit, but without the kernel's lock on
 * the folder: setxattr holds that lock for the whole commit, so creates, renames and
 * removals directly in the folder wait for the upload. message: NUL-terminated, "" for
 * none (a longer one goes by setxattr). made: the new version, 0 when the tree did not
 * change. Errors as for the setxattr (docs/xattrs.md); EACCES unless the caller is root or
 * may write to the folder by its mode bits; ENOTTY on anything but an artifact folder.
 */
struct artifs_ioc_commit {
	char message[4000];
	uint64_t made;
};
#define ARTIFS_IOC_COMMIT _IOWR('a', 1, struct artifs_ioc_commit)

/*
 * ARTIFS_IOC_RUN_END on a descriptor of the mount root: as setxattr user.artifs.run.end (id,
 * then message, each NUL-terminated; message "" for none) without the kernel's lock on the
 * root for the whole of the commits, which would stall lookups of uncached names in it
 * (docs/jobs.md). ENOTTY on anything but the root.
 */
struct artifs_ioc_run_end {
	char id[152];
	char message[3840];
};
#define ARTIFS_IOC_RUN_END _IOW('a', 2, struct artifs_ioc_run_end)

/*
 * ARTIFS_IOC_LIFECYCLE on a descriptor of a project folder: removes (op ARTIFS_REMOVE) or
 * restores (ARTIFS_RESTORE) its artifact `name`, or with version N > 0 version N of it
 * (artifs rm, artifs restore; docs/lifecycle.md). The ioctl itself fails only when the
 * request is not understood (ENOTTY); the outcome is err (0 or an errno) with the reason in
 * why. Root, or a user who may write to the project folder by its mode bits.
 */
enum { ARTIFS_REMOVE = 1, ARTIFS_RESTORE = 2 };
struct artifs_ioc_lifecycle {
	char name[136];
	uint64_t version;
	uint32_t op;
	int32_t err;
	char why[512];
};
#define ARTIFS_IOC_LIFECYCLE _IOWR('a', 3, struct artifs_ioc_lifecycle)

/* Default store and state directories under $HOME/.local/share/artifs (or
 * $XDG_DATA_HOME/artifs). Returns static storage. */
const char *fs_default_store(void);
const char *fs_default_state(void);

/*
 * Mounts at mountpoint and serves requests until unmounted. args holds the FUSE options
 * (allow_other, default_permissions, ro, …) and is consumed. Drafts changed in this session
 * are committed before it returns. Returns 0 after a clean unmount.
 */
int fs_mount_main(const struct fs_conf *c, struct fuse_args *args, const char *mountpoint);

/*
 * Rebuilds the index in c->state from the store alone: every project, artifact, version,
 * tag, label and metric; each HEAD becomes its newest version's tree. The state directory
 * must not be in use (EBUSY). The new index is built beside the old one; only when that
 * succeeded are the old index and its staging files (the bytes of its drafts, which the new
 * index does not carry over) moved to <state>/index.old-<time>. On failure the old index
 * stays as it was. Bad store objects are skipped with a log line naming their keys.
 */
int fs_rebuild(const struct fs_conf *c);

/*
 * artifs fsck (docs/lifecycle.md, "Checking"): every manifest of the store decodes and names
 * its version, every pack it names has a valid index of the digest it gives and the size the
 * index says, every run lies in its pack, every format-1 chunk exists; deep: every chunk of
 * those packs and chunks reads back verified. With c->state holding an index, no version of
 * it may lack its manifest in the store. Reads only (a live mount may go on). Each problem
 * goes to report (object: a store key; why: a sentence); progress (may be NULL) after each
 * manifest. 0 when it could check (problems counts what it found), else the store's error.
 */
struct fs_fsck {
	int deep;
	/* repair: a version key whose object is not its manifest is moved to lost+found/ in the
	 * store (a newer format's stays); an index that disagrees with the store is made anew
	 * (fs_rebuild(), EBUSY-refused while mounted); each repair goes to report ("repaired: …")
	 * and counts in repaired, not problems. unreferenced: packs no version names (gc's). */
	int repair;
	void (*report)(void *arg, const char *object, const char *why);
	void (*progress)(void *arg, size_t done, size_t total);
	void *arg;
	uint64_t versions, packs, chunks, problems, repaired, unreferenced, drift;
};
int fs_fsck_run(const struct fs_conf *c, struct fs_fsck *out);

/*
 * artifs gc (docs/gc.md): one run over the store. Takes the turn (EBUSY when another run
 * holds it: other names it), purges the versions removed more than removed_grace_s ago,
 * condemns the packs no other version names that are older than grace_s, and deletes those
 * condemned more than grace_s + skew_s ago. dry_run: nothing is written; the counts say what
 * a run would do. When *stop becomes non-zero the run ends after the object at hand (EINTR).
 * line (may be NULL) gets one line per phase. Works on the store alone: mounts go on.
 */
struct fs_gc {
	int dry_run;
	int64_t grace_s, removed_grace_s, skew_s;
	volatile int *stop;
	void (*line)(void *arg, const char *text);
	/* may be NULL: how far a long phase ("versions", "packs") got, now and then */
	void (*progress)(void *arg, const char *phase, size_t done, size_t total);
	void *arg;
	char other[256];
	uint64_t versions;   /* live versions (removed ones in their grace included) */
	uint64_t purged;     /* versions purged (dry run: that would be) */
	uint64_t retained;   /* versions removed by a retention policy (dry run: would be) */
	uint64_t removed_bytes; /* bytes of packs only removed versions name */
	uint64_t unreadable; /* manifests that do not decode: then nothing is condemned */
	uint64_t packs, pack_bytes, live_packs, live_bytes;
	uint64_t condemned, condemned_bytes; /* marked now, or waiting since an earlier run */
	uint64_t lifted;                     /* marks of packs live again */
	uint64_t swept, swept_bytes;         /* deleted (dry run: that would be) */
};
int fs_gc_run(const struct fs_conf *c, struct fs_gc *g);

/* A retention policy, the value of user.artifs.retain on a project or artifact folder
 * (docs/gc.md, "Retention"): "last=N", "younger=D" or both, comma-separated. 0, or EINVAL
 * with *why. */
struct fs_retain {
	uint64_t last;     /* keep the newest N versions; 0: the rule is not set */
	int64_t younger_s; /* keep versions made less than this long ago; 0: not set */
};
int fs_retain_parse(const char *val, size_t len, struct fs_retain *r, const char **why);
/* A duration: digits alone (seconds) or followed by s, m, h or d, at most max_s seconds:
 * 0 and *out in seconds, else EINVAL. */
int fs_duration_parse(const char *s, int64_t max_s, int64_t *out);

/* Name rules of DESIGN.md section 1. 0 or EINVAL; *why says which rule broke. */
int fs_name_check_pa(const char *name, const char **why);
/* Checks an xattr value for a name that has rules (a metric is a number, a kind one word):
 * 0, or EINVAL with *why set. */
int fs_xattr_value_check(const char *name, const char *val, size_t len, const char **why);
/* A tag name after its '@': the same character set, not "latest", not v<digits>. */
int fs_name_check_tag(const char *tag, const char **why);

#endif
