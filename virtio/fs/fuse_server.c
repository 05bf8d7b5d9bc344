#include "fuse_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fuse_req.h"

#define MIN_MINOR 31        /* virtio-fs came with FUSE 7.31 (Linux 5.4) */
#define INIT_IN_MIN 16      /* major, minor, max_readahead, flags: every kernel sends these */

/* --- handles -------------------------------------------------------------------------- */

int64_t fuse_handle_new(struct fuse_server *s, int fd, bool hollow)
{
	if (!share_fd_charge(1)) { /* the process's descriptor budget (share_dir.h) */
		close(fd);
		return -ENFILE;
	}
	for (uint32_t i = 0; i < FUSE_SRV_MAX_HANDLES; i++) {
		if (s->handles[i].fd < 0) {
			s->handles[i] = (struct fuse_handle){ fd, hollow };
			s->nr_handles++;
			return i;
		}
	}
	close(fd);
	share_fd_refund(1);
	return -ENFILE;
}

struct fuse_handle *fuse_handle_of(struct fuse_server *s, uint64_t fh)
{
	return fh < FUSE_SRV_MAX_HANDLES && s->handles[fh].fd >= 0 ? &s->handles[fh] : NULL;
}

/* The fd of an open file or directory to work on; -1 for a handle the guest never got
 * and for a mount point's (nothing to read, write or change there). */
static int handle_fd(struct fuse_server *s, uint64_t fh)
{
	struct fuse_handle *h = fuse_handle_of(s, fh);
	return h && !h->hollow ? h->fd : -1;
}

void fuse_handle_close(struct fuse_server *s, uint64_t fh)
{
	struct fuse_handle *h = fuse_handle_of(s, fh);
	if (!h)
		return;
	close(h->fd);
	share_fd_refund(1);
	h->fd = -1;
	s->nr_handles--;
}

void fuse_fill_attr(struct fuse_attr *a, const struct stat *st)
{
	*a = (struct fuse_attr){
		.ino = st->st_ino, .size = (uint64_t)st->st_size, .blocks = (uint64_t)st->st_blocks,
		.atime = (uint64_t)st->st_atim.tv_sec, .mtime = (uint64_t)st->st_mtim.tv_sec,
		.ctime = (uint64_t)st->st_ctim.tv_sec, .atimensec = (uint32_t)st->st_atim.tv_nsec,
		.mtimensec = (uint32_t)st->st_mtim.tv_nsec, .ctimensec = (uint32_t)st->st_ctim.tv_nsec,
		.mode = st->st_mode, .nlink = (uint32_t)st->st_nlink, .uid = st->st_uid, .gid = st->st_gid,
		.rdev = (uint32_t)st->st_rdev, .blksize = (uint32_t)st->st_blksize,
	};
}

/* The node's file as it is now (*hollow: a mount point's empty directory, may be NULL):
 * ESTALE when its path names another file (it was removed and the name reused). */
static int stat_node(struct fuse_server *s, const struct fuse_node *n, struct stat *st, bool *hollow)
{
	bool h;
	int e = -share_stat(&s->share, n->rel, st, hollow ? hollow : &h);
	if (!e && (st->st_dev != n->dev || st->st_ino != n->ino))
		return ESTALE;
	return e;
}

/* --- the operations ------------------------------------------------------------------- */

static int op_init(struct req *q)
{
	struct fuse_init_in in = { 0 };
	if (!take(q, &in, INIT_IN_MIN))
		return EINVAL;
	struct fuse_init_out *out = reply(q, sizeof(*out));
	if (!out)
		return ERANGE;
	out->major = FUSE_KERNEL_VERSION;
	out->minor = MIN_MINOR;
	if (in.major != FUSE_KERNEL_VERSION)
		return in.major > FUSE_KERNEL_VERSION ? 0 : EPROTO; /* a newer kernel asks again */
	if (in.minor < MIN_MINOR)
		return EPROTO;
	out->max_readahead = in.max_readahead < FUSE_SRV_MAX_WRITE ? in.max_readahead : FUSE_SRV_MAX_WRITE;
	out->flags = in.flags & (FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_MAX_PAGES);
	out->max_background = 16;
	out->congestion_threshold = 12;
	out->max_write = FUSE_SRV_MAX_WRITE;
	out->time_gran = 1;
	out->max_pages = FUSE_SRV_MAX_WRITE / 4096;
	q->s->inited = true;
	return 0;
}

static int op_getattr(struct req *q)
{
	struct fuse_getattr_in in;
	struct fuse_node *n = fuse_node_of(&q->s->nodes, q->h.nodeid);
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	if (!n)
		return ENOENT;
	struct fuse_attr_out *out = reply(q, sizeof(*out));
	if (!out)
		return ERANGE;
	struct stat st;
	int fd = in.getattr_flags & FUSE_GETATTR_FH ? handle_fd(q->s, in.fh) : -1;
	int e = fd >= 0 ? (fstat(fd, &st) ? errno : 0) : stat_node(q->s, n, &st, NULL);
	if (e)
		return e;
	out->attr_valid = VALID_S;
	fuse_fill_attr(&out->attr, &st);
	return 0;
}

/* Mode, size and times of a regular file or directory through fd (a handle the guest
 * named, or the file opened by its path). */
static int set_file_attrs(int fd, const struct fuse_setattr_in *in)
{
	if ((in->valid & FATTR_MODE) && fchmod(fd, share_safe_mode(in->mode)))
		return errno;
	if ((in->valid & FATTR_SIZE) && ftruncate(fd, (off_t)in->size))
		return errno;
	if (in->valid & (FATTR_ATIME | FATTR_MTIME)) {
		uint32_t v = in->valid;
		struct timespec ts[2] = { share_time(v & FATTR_ATIME, v & FATTR_ATIME_NOW, in->atime, in->atimensec),
					  share_time(v & FATTR_MTIME, v & FATTR_MTIME_NOW, in->mtime, in->mtimensec) };
		if (futimens(fd, ts))
			return errno;
	}
	return 0;
}

/* The file a SETATTR changes: the handle the guest names (a file it removed has no
 * path any more), else the node's file resolved once (O_PATH) and, when the change needs
 * it and it is a regular file or directory, re-opened as checked. The fd,
 * *own set when the caller closes it, or -errno. */
static int setattr_fd(struct req *q, const struct fuse_node *n, const struct fuse_setattr_in *in, bool *own)
{
	int fd = in->valid & FATTR_FH ? handle_fd(q->s, in->fh) : -1;
	*own = fd < 0;
	if (fd >= 0)
		return fd;
	struct stat st;
	int pfd = share_open(&q->s->share, n->rel, O_PATH, 0);
	if (pfd == -EXDEV) { /* a mount point (read-only here), or a name below one */
		bool hollow;
		int e = stat_node(q->s, n, &st, &hollow);
		return e ? -e : -EROFS;
	}
	if (pfd < 0 || fstat(pfd, &st) || st.st_dev != n->dev || st.st_ino != n->ino) {
		if (pfd >= 0)
			close(pfd);
		return pfd < 0 ? pfd : -ESTALE;
	}
	bool plain = S_ISREG(st.st_mode) || S_ISDIR(st.st_mode);
	if (!plain || !(in->valid & (FATTR_MODE | FATTR_SIZE | FATTR_ATIME | FATTR_MTIME)))
		return pfd;
	/* the inode checked above, never the name again */
	fd = share_reopen(pfd, in->valid & FATTR_SIZE ? O_WRONLY : O_RDONLY, &st);
	close(pfd);
	return fd;
}

static int op_setattr(struct req *q)
{
	struct fuse_setattr_in in;
	struct fuse_node *n = fuse_node_of(&q->s->nodes, q->h.nodeid);
	if (!take(q, &in, sizeof(in)) || in.size > INT64_MAX)
		return EINVAL;
	if (!n)
		return ENOENT;
	if (q->s->share.ro)
		return EROFS;
	struct fuse_attr_out *out = reply(q, sizeof(*out));
	if (!out)
		return ERANGE;
	bool own;
	int fd = setattr_fd(q, n, &in, &own);
	if (fd < 0)
		return -fd;
	struct stat st;
	int e = fstat(fd, &st) ? errno : 0;
	if (!e && (in.valid & (FATTR_UID | FATTR_GID)) && !share_may_chown(st.st_mode))
		e = EPERM;
	if (!e && (in.valid & (FATTR_UID | FATTR_GID)) &&
	    fchownat(fd, "", in.valid & FATTR_UID ? in.uid : (uid_t)-1, in.valid & FATTR_GID ? in.gid : (gid_t)-1,
		     AT_EMPTY_PATH))
		e = errno;
	/* a symlink has no mode, size or times of its own to set here */
	if (!e && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
		e = set_file_attrs(fd, &in);
	if (!e && fstat(fd, &st))
		e = errno;
	if (own)
		close(fd);
	if (e)
		return e;
	out->attr_valid = VALID_S;
	fuse_fill_attr(&out->attr, &st);
	return 0;
}

int fuse_open_flags(const struct fuse_server *s, uint32_t flags)
{
	if ((flags & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	int f = (int)(flags & (O_ACCMODE | O_APPEND | O_TRUNC));
	bool write = (f & O_ACCMODE) != O_RDONLY || (f & O_TRUNC);
	return write && s->share.ro ? -EROFS : f;
}

static int reply_open(struct req *q, int fd, bool hollow)
{
	struct fuse_open_out *out = reply(q, sizeof(*out));
	int64_t fh = out ? fuse_handle_new(q->s, fd, hollow) : (close(fd), -ERANGE);
	if (fh < 0)
		return (int)-fh;
	out->fh = (uint64_t)fh;
	return 0;
}

static int op_open(struct req *q, bool dir)
{
	struct fuse_open_in in;
	struct fuse_node *n = fuse_node_of(&q->s->nodes, q->h.nodeid);
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	if (!n)
		return ENOENT;
	int of = dir ? O_RDONLY | O_DIRECTORY : fuse_open_flags(q->s, in.flags);
	if (of < 0)
		return -of;
	struct stat st;
	bool hollow;
	int e = stat_node(q->s, n, &st, &hollow);
	if (!e && !(dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
		e = dir ? ENOTDIR : EACCES; /* never a host device, FIFO or socket */
	if (e)
		return e;
	if (hollow) { /* a mount point's directory: a handle on the root that is never read */
		int root = share_open(&q->s->share, "", O_PATH, 0);
		return root < 0 ? -root : reply_open(q, root, true);
	}
	/* resolved once and re-opened as checked: a device or FIFO the host swaps in
	 * meanwhile is never opened */
	int fd = share_open_file(&q->s->share, n->rel, of, &st);
	if (fd >= 0 && (st.st_dev != n->dev || st.st_ino != n->ino || !(dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))) {
		close(fd);
		fd = -ESTALE;
	}
	return fd < 0 ? -fd : reply_open(q, fd, false);
}

static int op_read(struct req *q)
{
	struct fuse_read_in in;
	if (!take(q, &in, sizeof(in)) || in.offset > INT64_MAX)
		return EINVAL;
	int fd = handle_fd(q->s, in.fh);
	if (fd < 0)
		return EBADF;
	size_t want = in.size < q->room ? in.size : q->room;
	ssize_t n = pread(fd, q->body, want, (off_t)in.offset);
	if (n < 0)
		return errno;
	q->len = (size_t)n;
	return 0;
}

static int op_write(struct req *q)
{
	struct fuse_write_in in;
	if (!take(q, &in, sizeof(in)) || in.offset > INT64_MAX || in.size > q->arg_len - q->arg_off)
		return EINVAL;
	int fd = handle_fd(q->s, in.fh);
	if (fd < 0)
		return EBADF;
	struct fuse_write_out *out = reply(q, sizeof(*out));
	if (!out)
		return ERANGE;
	ssize_t n = pwrite(fd, q->arg + q->arg_off, in.size, (off_t)in.offset);
	if (n < 0)
		return errno;
	out->size = (uint32_t)n;
	return 0;
}

static int op_release(struct req *q)
{
	struct fuse_release_in in;
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	if (!fuse_handle_of(q->s, in.fh))
		return EBADF;
	fuse_handle_close(q->s, in.fh);
	return 0;
}

static int op_fsync(struct req *q)
{
	struct fuse_fsync_in in;
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	int fd = handle_fd(q->s, in.fh);
	if (fd < 0)
		return EBADF;
	return (in.fsync_flags & 1 ? fdatasync(fd) : fsync(fd)) ? errno : 0;
}

static int op_statfs(struct req *q)
{
	struct fuse_statfs_out *out = reply(q, sizeof(*out));
	struct statfs sf;
	if (!out)
		return ERANGE;
	if (fstatfs(q->s->share.root_fd, &sf))
		return errno;
	out->st = (struct fuse_kstatfs){
		.blocks = sf.f_blocks, .bfree = sf.f_bfree, .bavail = sf.f_bavail, .files = sf.f_files,
		.ffree = sf.f_ffree, .bsize = (uint32_t)sf.f_bsize, .namelen = (uint32_t)sf.f_namelen,
		.frsize = (uint32_t)sf.f_frsize,
	};
	return 0;
}

static int dispatch(struct req *q)
{
	if (q->h.opcode == FUSE_INIT)
		return q->s->inited ? EPROTO : op_init(q);
	if (!q->s->inited)
		return EIO;
	switch (q->h.opcode) {
	case FUSE_LOOKUP: return fuse_op_lookup(q);
	case FUSE_FORGET: return fuse_op_forget(q);
	case FUSE_BATCH_FORGET: return fuse_op_batch_forget(q);
	case FUSE_GETATTR: return op_getattr(q);
	case FUSE_SETATTR: return op_setattr(q);
	case FUSE_READLINK: return fuse_op_readlink(q);
	case FUSE_SYMLINK: return fuse_op_symlink(q);
	case FUSE_MKNOD: return fuse_op_mknod(q);
	case FUSE_MKDIR: return fuse_op_mkdir(q);
	case FUSE_UNLINK: return fuse_op_remove(q, 0);
	case FUSE_RMDIR: return fuse_op_remove(q, AT_REMOVEDIR);
	case FUSE_RENAME: return fuse_op_rename(q, false);
	case FUSE_RENAME2: return fuse_op_rename(q, true);
	case FUSE_LINK: return fuse_op_link(q);
	case FUSE_OPEN: return op_open(q, false);
	case FUSE_OPENDIR: return op_open(q, true);
	case FUSE_CREATE: return fuse_op_create(q);
	case FUSE_READ: return op_read(q);
	case FUSE_WRITE: return op_write(q);
	case FUSE_READDIR: return fuse_op_readdir(q);
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR: return op_release(q);
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR: return op_fsync(q);
	case FUSE_FLUSH: return 0;
	case FUSE_STATFS: return op_statfs(q);
	case FUSE_DESTROY: fuse_server_reset(q->s); return 0;
	default: return ENOSYS; /* xattrs, locks, access, ioctl...: the guest's kernel does without */
	}
}

size_t fuse_server_handle(struct fuse_server *s, const uint8_t *req, size_t len, uint8_t *rep, size_t room)
{
	struct fuse_out_header oh = { 0 };
	struct req q = { .s = s };
	if (len < sizeof(q.h) || room < sizeof(oh))
		return 0;
	memcpy(&q.h, req, sizeof(q.h));
	q.arg = req + sizeof(q.h);
	q.body = rep + sizeof(oh);
	q.room = room - sizeof(oh);
	int e = EINVAL;
	if (q.h.len >= sizeof(q.h) && q.h.len <= len) { /* bytes past the stated length are ignored */
		q.arg_len = q.h.len - sizeof(q.h);
		e = dispatch(&q);
	}
	if (q.h.opcode == FUSE_FORGET || q.h.opcode == FUSE_BATCH_FORGET)
		return 0; /* never answered */
	oh.unique = q.h.unique;
	oh.error = -e;
	oh.len = (uint32_t)(sizeof(oh) + (e ? 0 : q.len));
	memcpy(rep, &oh, sizeof(oh));
	return oh.len;
}

/* --- the server ----------------------------------------------------------------------- */

struct fuse_server *fuse_server_create(const char *root, bool ro, char *err, size_t errlen)
{
	struct fuse_server *s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	s->share.root_fd = -1;
	s->handles = malloc(FUSE_SRV_MAX_HANDLES * sizeof(*s->handles));
	/* all free before anything can fail: destroy closes the handles it finds */
	for (uint32_t i = 0; s->handles && i < FUSE_SRV_MAX_HANDLES; i++)
		s->handles[i].fd = -1;
	s->dirbuf = malloc(65536);
	if (!s->handles || !s->dirbuf)
		goto oom;
	if (share_dir_open(&s->share, root, ro, err, errlen))
		goto fail;
	struct stat st;
	if (fstat(s->share.root_fd, &st) || fuse_nodes_init(&s->nodes, &st))
		goto oom;
	return s;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	fuse_server_destroy(s);
	return NULL;
}

static void close_handles(struct fuse_server *s)
{
	for (uint32_t i = 0; i < FUSE_SRV_MAX_HANDLES; i++)
		fuse_handle_close(s, i);
}

void fuse_server_reset(struct fuse_server *s)
{
	fuse_nodes_clear(&s->nodes);
	close_handles(s);
	s->inited = false;
}

void fuse_server_destroy(struct fuse_server *s)
{
	if (!s)
		return;
	if (s->handles)
		close_handles(s);
	fuse_nodes_free(&s->nodes);
	share_dir_close(&s->share);
	free(s->handles);
	free(s->dirbuf);
	free(s);
}

unsigned int fuse_server_nodes(const struct fuse_server *s)
{
	return s->nodes.nr_live - 1;
}

unsigned int fuse_server_handles(const struct fuse_server *s)
{
	return s->nr_handles;
}
