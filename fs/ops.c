/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level operations: each unpacks its arguments, calls fs_do_*() and replies
 * exactly once. Also the session set-up of fs_mount_main().
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs_int.h"

/* Every op starts here: the daemon, and the process asking (for fs_refuse()'s record). */
static struct fs *FS(fuse_req_t req)
{
	fs_req_begin(fuse_req_ctx(req)->pid);
	return fuse_req_userdata(req);
}

static struct fs_handle *H(struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* Reads of version files are served from page cache once fetched. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void op_destroy(void *userdata)
{
	fs_committer_stop(userdata);
	fs_refs_unmount(userdata);
}

/* An entry reply that did not reach the kernel (interrupted) takes no lookup. */
static void entry_lost(fuse_req_t req, const struct fuse_entry_param *e)
{
	struct fuse_forget_data fd = { .ino = e->ino, .nlookup = 1 };

	if (e->ino)
		fs_do_forget(FS(req), 1, &fd);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = fs_do_lookup(FS(req), parent, name, &e);

	if (err)
		fuse_reply_err(req, err);
	else if (fuse_reply_entry(req, &e) == -ENOENT)
		entry_lost(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fuse_forget_data fd = { .ino = ino, .nlookup = nlookup };

	fs_do_forget(FS(req), 1, &fd);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fs_do_forget(FS(req), count, forgets);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	double timeout;
	int err = fs_do_getattr(FS(req), ino, &st, &timeout);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct stat st;
	double timeout;
	int err = fs_do_setattr(FS(req), ino, attr, to_set, fi, &st, &timeout);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, timeout);
}

static void reply_entry_or_err(fuse_req_t req, int err, struct fuse_entry_param *e)
{
	if (err)
		fuse_reply_err(req, err);
	else if (fuse_reply_entry(req, e) == -ENOENT)
		entry_lost(req, e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct fuse_entry_param e;

	reply_entry_or_err(req, fs_do_mknode(FS(req), fuse_req_ctx(req), parent, name, mode,
					     NULL, &e), &e);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fuse_entry_param e;

	reply_entry_or_err(req, fs_do_mknode(FS(req), fuse_req_ctx(req), parent, name,
					     S_IFDIR | (mode & 07777), NULL, &e), &e);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	reply_entry_or_err(req, fs_do_mknode(FS(req), fuse_req_ctx(req), parent, name,
					     S_IFLNK | 0777, link, &e), &e);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, fs_do_unlink(FS(req), parent, name, 0));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, fs_do_unlink(FS(req), parent, name, 1));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, fs_do_rename(FS(req), parent, name, newparent, newname, flags));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	log_msg(LOG_NOTICE, "link %s: hard links are not supported (%s)", newname,
		strerror(EPERM));
	fuse_reply_err(req, EPERM);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char *target = NULL;
	int err = fs_do_readlink(FS(req), ino, &target);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

static void set_cache(struct fs_handle *h, struct fuse_file_info *fi)
{
	if (h->kind == MK_VNODE) {
		fi->keep_cache = 1; /* immutable: the page cache stays valid forever */
		fi->noflush = 1;
	} else if (h->kind == MK_CTL) {
		fi->direct_io = 1; /* generated content of unknown length */
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h;
	int err = fs_do_open(FS(req), fuse_req_ctx(req), ino, fi->flags, &h);

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)h;
	set_cache(h, fi);
	if (fuse_reply_open(req, fi) == -ENOENT)
		fs_do_release(FS(req), h); /* interrupted: no release will come */
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct fs_handle *h;
	int err = fs_do_create(FS(req), fuse_req_ctx(req), parent, name, mode, fi->flags, &e, &h);

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		entry_lost(req, &e); /* interrupted: no release will come */
		fs_do_release(FS(req), h);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_handle *h = H(fi);
	struct fs *fs = FS(req);
	struct fs_read r;
	char *buf;
	size_t got;
	int err;

	if (h->fd < 0 && h->kind == MK_HEAD)
		fs_handle_restage(fs, h);
	if (h->fd >= 0) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = h->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	if (h->buf) {
		if ((size_t)off >= h->buflen)
			size = 0;
		else if (size > h->buflen - off)
			size = h->buflen - off;
		/* From a copy: the reader may close (and RELEASE free h->buf) as soon as the
		 * kernel has the reply, before writev() returns here; ASan checks the iovec
		 * after the call and would report that as a use after free. */
		buf = malloc(size ? size : 1);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(buf, h->buf + (size ? off : 0), size);
		fuse_reply_buf(req, buf, size);
		free(buf);
		return;
	}
	/* Straight from the cached chunks: no buffer, no copy in the daemon. */
	err = fs_read_pin(fs, h, off, size, &r);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (r.got == size || (uint64_t)off + r.got >= h->size) {
		fuse_reply_iov(req, r.iov, r.n);
		fs_read_release(fs, &r);
		return;
	}
	fs_read_release(fs, &r);
	/* More chunks than FS_READ_IOV under one READ (a store with tiny chunks). */
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = fs_read_chunks(fs, h, off, size, buf, &got);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, got);
	free(buf);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	struct fs_handle *h = H(fi);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	if (h->fd < 0 || !h->writable) {
		fuse_reply_err(req, h->kind == MK_VNODE ? EROFS : EBADF);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = h->fd;
	out.buf[0].pos = off;
	fs_write_begin(FS(req), h->open);
	n = fuse_buf_copy(&out, in, 0);
	fs_write_end(FS(req), h->open);
	if (n < 0) {
		fuse_reply_err(req, -n);
		return;
	}
	fs_art_touch(FS(req), h->art);
	fuse_reply_write(req, n);
}

/* Space for a draft file: mode 0 and FALLOC_FL_KEEP_SIZE on its staging file (what
 * posix_fallocate() and fallocate -l ask for); other modes answer EOPNOTSUPP. */
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct fs_handle *h = H(fi);
	int err = 0;

	if (h->fd < 0 || !h->writable)
		err = h->kind == MK_VNODE ? EROFS : EBADF;
	else if (mode & ~FALLOC_FL_KEEP_SIZE)
		err = EOPNOTSUPP;
	if (!err) {
		fs_write_begin(FS(req), h->open);
		if (fallocate(h->fd, mode, off, len))
			err = errno;
		fs_write_end(FS(req), h->open);
	}
	if (!err)
		fs_art_touch(FS(req), h->art);
	fuse_reply_err(req, err);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_do_release(FS(req), H(fi));
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs_handle *h = H(fi);
	int err = 0;

	if (h->fd >= 0 && (datasync ? fdatasync(h->fd) : fsync(h->fd)))
		err = errno;
	/* The staging file's name too, or a machine crash could lose a file fsync kept. */
	if (!err && h->fd >= 0 && h->kind == MK_HEAD)
		err = fs_staging_sync(FS(req));
	if (!err)
		err = meta_sync(FS(req)->meta);
	fuse_reply_err(req, err);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h;
	int cacheable, err = fs_do_opendir(FS(req), ino, &h, &cacheable);

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)h;
	if (cacheable) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		fs_handle_free(FS(req), h);
}

static void readdir_common(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
			   int plus)
{
	char *buf = malloc(size);
	size_t len = 0;
	int err;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = fs_do_readdir(FS(req), req, H(fi), off, size, plus, buf, &len);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_handle_free(FS(req), H(fi));
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, fs_do_fsyncdir(FS(req), ino));
}

/* ARTIFS_IOC_RUN_END: the run.end attribute's value, "ID" or "ID\nMESSAGE", from in. */
static int ioctl_run_end(fuse_req_t req, fuse_ino_t ino, const void *in)
{
	struct artifs_ioc_run_end r;
	char v[sizeof(r.id) + 1 + sizeof(r.message)];
	int n;

	if (ino != FUSE_ROOT_ID)
		return ENOTTY;
	memcpy(&r, in, sizeof(r));
	r.id[sizeof(r.id) - 1] = r.message[sizeof(r.message) - 1] = '\0';
	if (strchr(r.id, '\n'))
		return EINVAL;
	n = snprintf(v, sizeof(v), "%s%s%s", r.id, r.message[0] ? "\n" : "", r.message);
	return fs_do_setxattr(FS(req), ino, "user.artifs.run.end", v, (size_t)n, 0);
}

static void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	struct artifs_ioc_commit c;
	int err;

	if (cmd == (unsigned int)ARTIFS_IOC_RUN_END && !(flags & FUSE_IOCTL_COMPAT) &&
	    in_bufsz >= sizeof(struct artifs_ioc_run_end)) {
		err = ioctl_run_end(req, ino, in_buf);
		if (err)
			fuse_reply_err(req, err);
		else
			fuse_reply_ioctl(req, 0, NULL, 0);
		return;
	}
	if (cmd == (unsigned int)ARTIFS_IOC_LIFECYCLE && !(flags & FUSE_IOCTL_COMPAT) &&
	    in_bufsz >= sizeof(struct artifs_ioc_lifecycle) &&
	    out_bufsz >= sizeof(struct artifs_ioc_lifecycle)) {
		struct artifs_ioc_lifecycle l;

		memcpy(&l, in_buf, sizeof(l));
		l.name[sizeof(l.name) - 1] = '\0';
		l.why[0] = '\0';
		l.err = ino == FUSE_ROOT_ID
				? fs_do_project_lifecycle(FS(req), fuse_req_ctx(req), l.name,
							  l.version, l.op == ARTIFS_RESTORE, l.why,
							  sizeof(l.why))
				: fs_do_lifecycle(FS(req), fuse_req_ctx(req), ino, l.name, l.version,
						  l.op == ARTIFS_RESTORE, l.why, sizeof(l.why));
		if (l.err == ENOTTY || (l.op != ARTIFS_REMOVE && l.op != ARTIFS_RESTORE))
			fuse_reply_err(req, ENOTTY);
		else
			fuse_reply_ioctl(req, 0, &l, sizeof(l));
		return;
	}
	if (cmd != (unsigned int)ARTIFS_IOC_COMMIT || (flags & FUSE_IOCTL_COMPAT) ||
	    in_bufsz < sizeof(c) || out_bufsz < sizeof(c)) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	memcpy(&c, in_buf, sizeof(c));
	c.message[sizeof(c.message) - 1] = '\0';
	err = fs_do_commit(FS(req), fuse_req_ctx(req), ino, c.message, &c.made);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_ioctl(req, 0, &c, sizeof(c));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	/* An object store has no capacity to speak of: the state disk (drafts) is the limit. */
	if (statvfs(FS(req)->conf.store, &sv) && statvfs(FS(req)->conf.state, &sv)) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = META_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void reply_xattr(fuse_req_t req, int err, char *val, size_t len, size_t size)
{
	if (err)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
	free(val);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *val = NULL;
	size_t len = 0;
	int err = fs_do_getxattr(FS(req), ino, name, &val, &len);

	reply_xattr(req, err, val, len, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *val = NULL;
	size_t len = 0;
	int err = fs_do_listxattr(FS(req), ino, &val, &len);

	reply_xattr(req, err, val, len, size);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	fuse_reply_err(req, fs_do_setxattr(FS(req), ino, name, value, size, flags));
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, fs_do_removexattr(FS(req), ino, name));
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write_buf = op_write_buf,
	.fallocate = op_fallocate,
	/* No .flush: close() had nothing to do here (a commit at flush could catch a file
	 * before its first write, as bash's `>` flushes a dup), and libfuse answering ENOSYS
	 * makes the kernel stop sending FLUSH, a round trip saved on every close(). */
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.ioctl = op_ioctl,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
};

/* Background mode: the parent waits until the child has mounted (or failed, with its
 * message on the terminal) and exits with that status. LMDB and the state lock belong to the
 * process that opens them, so the fork comes before anything is opened. */
static int daemon_fork(int *notify)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return errno;
	pid = fork();
	if (pid < 0)
		return errno;
	if (pid > 0) {
		char st = 1;

		close(p[1]);
		if (read(p[0], &st, 1) != 1)
			st = 1;
		_exit(st);
	}
	close(p[0]);
	setsid();
	*notify = p[1];
	return 0;
}

static void daemon_ready(int notify, int ok)
{
	char st = ok ? 0 : 1;
	int fd;

	if (notify < 0)
		return;
	if (ok) {
		log_to_syslog("artifs");
		if (chdir("/"))
			log_msg(LOG_WARNING, "chdir /: %s", strerror(errno));
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	if (write(notify, &st, 1) != 1)
		log_msg(LOG_WARNING, "cannot notify the parent process");
	close(notify);
}

static char *absolute(const char *path)
{
	char cwd[PATH_MAX], *out;

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	return asprintf(&out, "%s/%s", cwd, path) < 0 ? NULL : out;
}

/* Before serving: lineage capture, the root and .artifs, and what a crash left. */
static int state_ready(struct fs *fs)
{
	int err = fs->conf.no_capture ? 0 : fs_lineage_create(fs);

	if (err)
		return err;
	err = fs_ctl_init(fs);
	if (err) {
		log_msg(LOG_ERR, "cannot initialise the index: %s", strerror(err));
		return err;
	}
	err = fs_sweep(fs);
	if (err) {
		log_msg(LOG_ERR, "cannot sweep what a crash left: %s", strerror(err));
		return err;
	}
	fs_refresh_drafts(fs);
	return 0;
}

/* Serves requests until unmounted; tells the parent (notify) that the mount is ready. */
static int serve(struct fs *fs, int *notify)
{
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	int ret;

	if (!lc)
		return ENOMEM;
	daemon_ready(*notify, 1);
	*notify = -1;
	/* Idle workers are kept (libfuse's default): at API levels below 3.12 this config
	 * object was read as the old struct, which asked for a thread per request. */
	fuse_loop_cfg_set_clone_fd(lc, 0);
	fuse_loop_cfg_set_max_threads(lc, 16);
	ret = fuse_session_loop_mt(fs->se, lc);
	fuse_loop_cfg_destroy(lc);
	return ret < 0 ? -ret : 0;
}

int fs_mount_main(const struct fs_conf *c, struct fuse_args *args, const char *mountpoint)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	char *store = strncmp(c->store, "s3://", 5) ? absolute(c->store) : strdup(c->store);
	char *state = absolute(c->state);
	int notify = -1, mounted = 0, err;

	if (!fs || !store || !state) {
		err = ENOMEM;
		goto out_free;
	}
	fs->conf = *c;
	fs->conf.store = store;
	fs->conf.state = state;
	pthread_mutex_init(&fs->lock, NULL);
	if (!c->foreground) {
		err = daemon_fork(&notify);
		if (err)
			goto out_free;
	}
	err = fs_open_backing(fs, 1);
	if (err)
		goto out_free;
	fs_log_open(fs);
	err = state_ready(fs);
	if (err)
		goto out_backing;
	fs->se = fuse_session_new(args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->se) {
		err = EINVAL;
		goto out_backing;
	}
	if (fuse_set_signal_handlers(fs->se)) {
		err = EIO;
		goto out_session;
	}
	if (fuse_session_mount(fs->se, mountpoint)) {
		log_msg(LOG_ERR, "cannot mount at %s", mountpoint);
		err = EIO;
		goto out_signals;
	}
	mounted = 1;
	err = fs_committer_start(fs);
	if (err)
		goto out_unmount;
	log_msg(LOG_INFO, "mounted at %s (store %s, state %s)", mountpoint, store, state);
	err = serve(fs, &notify);
out_unmount:
	if (mounted)
		fuse_session_unmount(fs->se);
out_signals:
	fuse_remove_signal_handlers(fs->se);
out_session:
	/* destroy (commit of this session's drafts) runs inside fuse_session_destroy. */
	fuse_session_destroy(fs->se);
	fs_committer_stop(fs);
out_backing:
	fs_close_backing(fs);
out_free:
	daemon_ready(notify, 0);
	if (fs) {
		fs_handles_free(fs); /* those the kernel never released */
		fs_drafts_free(fs);
		fs_lineage_destroy(fs);
		fs_gc_marks_free(fs);
		pthread_mutex_destroy(&fs->lock);
	}
	free(fs);
	free(store);
	free(state);
	return err;
}
