#include "p9_server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "p9_req.h"

/* --- what p9_names.c shares -------------------------------------------------------- */

int p9_fstat_fid(struct p9_server *s, struct p9_fid *f, struct stat *st)
{
	bool hollow;
	if (f->hollow)
		return -share_stat(&s->share, f->rel, st, &hollow);
	return fstat(f->open_fd >= 0 ? f->open_fd : f->path_fd, st) ? errno : 0;
}

/* --- the session and files ------------------------------------------------------- */

static int r_version(struct req *q)
{
	uint32_t msize = get32(&q->in);
	char version[32];
	get_str(&q->in, version, sizeof(version));
	if (q->in.bad || msize < 4096)
		return EINVAL;
	p9_server_reset(q->s);
	q->s->msize = msize < P9_MSIZE_MAX ? msize : P9_MSIZE_MAX;
	put32(&q->out, q->s->msize);
	put_str(&q->out, strcmp(version, "9P2000.L") ? "unknown" : "9P2000.L");
	return 0;
}

static int r_attach(struct req *q)
{
	uint32_t id = get32(&q->in);
	get32(&q->in); /* afid: no authentication */
	char uname[256], aname[256];
	get_str(&q->in, uname, sizeof(uname));
	get_str(&q->in, aname, sizeof(aname));
	uint32_t uid = get32(&q->in);
	if (q->in.bad)
		return EINVAL;
	if (p9_fid_get(&q->s->fids, id))
		return EEXIST;
	int fd = share_open(&q->s->share, "", O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return -fd;
	struct stat st;
	if (fstat(fd, &st)) {
		close(fd);
		return errno;
	}
	char *rel = strdup("");
	int e = rel ? p9_fid_new(&q->s->fids, id, rel, fd, uid == NOFID ? 0 : uid) : (close(fd), ENOMEM);
	if (!e)
		put_qid(&q->out, &st);
	return e;
}

int p9_open_flags(struct p9_server *s, uint32_t flags, bool *write)
{
	int f = (int)(flags & O_ACCMODE) | (flags & P9_TRUNC ? O_TRUNC : 0) | (flags & P9_APPEND ? O_APPEND : 0) |
		(flags & P9_DIRECTORY ? O_DIRECTORY : 0);
	*write = (f & O_ACCMODE) != O_RDONLY || (f & O_TRUNC);
	if ((f & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	return *write && s->share.ro ? -EROFS : f;
}

static int r_lopen(struct req *q)
{
	uint32_t id = get32(&q->in), flags = get32(&q->in);
	struct p9_fid *f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad)
		return EINVAL;
	if (!f)
		return EBADF;
	if (f->open_fd >= 0)
		return EBUSY;
	bool write;
	int of = p9_open_flags(q->s, flags, &write);
	if (of < 0)
		return -of;
	struct stat st;
	int fd;
	if (f->hollow) {
		int e = p9_fstat_fid(q->s, f, &st);
		if (e || write)
			return e ? e : EROFS;
		/* a mount point's directory: a handle on the root that is never read (Treaddir) */
		fd = share_open(&q->s->share, "", O_PATH, 0);
	} else {
		/* the file the fid walked to, whatever its name holds now: never a host
		 * device, FIFO or socket */
		fd = share_reopen(f->path_fd, of, &st);
	}
	if (fd < 0)
		return -fd;
	int e = p9_keep_fd(&f->open_fd, fd);
	if (e)
		return e;
	put_qid(&q->out, &st);
	put32(&q->out, q->s->msize - RREAD_OVERHEAD);
	return 0;
}

int p9_io_args(struct req *q, struct p9_fid **f, uint64_t *off, uint32_t *count)
{
	uint32_t id = get32(&q->in);
	*off = get64(&q->in);
	*count = get32(&q->in);
	*f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad || *off > INT64_MAX)
		return EINVAL;
	if (!*f || (*f)->open_fd < 0)
		return EBADF;
	size_t room = q->out.room - q->out.off - 4;
	if (*count > room)
		*count = (uint32_t)room;
	return 0;
}

static int r_read(struct req *q)
{
	struct p9_fid *f;
	uint64_t off;
	uint32_t count;
	int e = p9_io_args(q, &f, &off, &count);
	if (e)
		return e;
	ssize_t n = pread(f->open_fd, q->out.p + q->out.off + 4, count, (off_t)off);
	if (n < 0)
		return errno;
	put32(&q->out, (uint32_t)n);
	q->out.off += (size_t)n;
	return 0;
}

static int r_write(struct req *q)
{
	uint32_t id = get32(&q->in);
	uint64_t off = get64(&q->in);
	uint32_t count = get32(&q->in);
	const uint8_t *data = take(&q->in, count);
	struct p9_fid *f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad || off > INT64_MAX)
		return EINVAL;
	if (!f || f->open_fd < 0)
		return EBADF;
	ssize_t n = pwrite(f->open_fd, data, count, (off_t)off);
	if (n < 0)
		return errno;
	put32(&q->out, (uint32_t)n);
	return 0;
}

static int r_clunk(struct req *q, bool remove)
{
	uint32_t id = get32(&q->in);
	struct p9_fid *f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad)
		return EINVAL;
	if (!f)
		return EBADF;
	int e = 0;
	if (remove && q->s->share.ro) {
		e = EROFS;
	} else if (remove) {
		struct stat st;
		const char *name;
		int dfd = share_open_parent(&q->s->share, f->rel, &name);
		if (dfd < 0)
			e = -dfd;
		else if (fstat(f->path_fd, &st) || unlinkat(dfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0))
			e = errno;
		if (dfd >= 0)
			close(dfd);
	}
	p9_fid_drop(&q->s->fids, f); /* a remove clunks the fid even when it fails */
	return e;
}

#define GETATTR_BASIC 0x7ffull

static int r_getattr(struct req *q)
{
	uint32_t id = get32(&q->in);
	get64(&q->in); /* request_mask: everything basic is always there */
	struct p9_fid *f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad)
		return EINVAL;
	if (!f)
		return EBADF;
	struct stat st;
	int e = p9_fstat_fid(q->s, f, &st);
	if (e)
		return e;
	struct wr *w = &q->out;
	put64(w, GETATTR_BASIC);
	put_qid(w, &st);
	put32(w, st.st_mode);
	put32(w, st.st_uid);
	put32(w, st.st_gid);
	put64(w, st.st_nlink);
	put64(w, st.st_rdev);
	put64(w, (uint64_t)st.st_size);
	put64(w, (uint64_t)st.st_blksize);
	put64(w, (uint64_t)st.st_blocks);
	put64(w, (uint64_t)st.st_atim.tv_sec);
	put64(w, (uint64_t)st.st_atim.tv_nsec);
	put64(w, (uint64_t)st.st_mtim.tv_sec);
	put64(w, (uint64_t)st.st_mtim.tv_nsec);
	put64(w, (uint64_t)st.st_ctim.tv_sec);
	put64(w, (uint64_t)st.st_ctim.tv_nsec);
	for (int i = 0; i < 4; i++)
		put64(w, 0); /* btime, gen, data_version: not kept */
	return 0;
}

enum { SET_MODE = 1, SET_UID = 2, SET_GID = 4, SET_SIZE = 8, SET_ATIME = 0x10, SET_MTIME = 0x20,
       SET_ATIME_SET = 0x80, SET_MTIME_SET = 0x100 };

static int set_times(int fd, uint32_t valid, uint64_t as, uint64_t an, uint64_t ms, uint64_t mn)
{
	struct timespec ts[2] = { share_time(valid & SET_ATIME, !(valid & SET_ATIME_SET), as, an),
				  share_time(valid & SET_MTIME, !(valid & SET_MTIME_SET), ms, mn) };
	return futimens(fd, ts) ? errno : 0;
}

static int r_setattr(struct req *q)
{
	uint32_t id = get32(&q->in), valid = get32(&q->in), mode = get32(&q->in);
	uint32_t uid = get32(&q->in), gid = get32(&q->in);
	uint64_t size = get64(&q->in), as = get64(&q->in), an = get64(&q->in);
	uint64_t ms = get64(&q->in), mn = get64(&q->in);
	struct p9_fid *f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad || size > INT64_MAX)
		return EINVAL;
	if (!f)
		return EBADF;
	if (q->s->share.ro)
		return EROFS;
	struct stat st;
	if (fstat(f->path_fd, &st))
		return errno;
	if ((valid & (SET_UID | SET_GID)) && !share_may_chown(st.st_mode))
		return EPERM;
	if ((valid & (SET_UID | SET_GID)) &&
	    fchownat(f->path_fd, "", valid & SET_UID ? uid : (uid_t)-1, valid & SET_GID ? gid : (gid_t)-1, AT_EMPTY_PATH))
		return errno;
	if (!(valid & (SET_MODE | SET_SIZE | SET_ATIME | SET_MTIME)))
		return 0;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return 0; /* a symlink has no mode, size or times of its own to set here */
	int e = 0;
	int fd = share_reopen(f->path_fd, (valid & SET_SIZE) ? O_WRONLY : O_RDONLY, &st);
	if (fd < 0)
		return -fd;
	if ((valid & SET_MODE) && fchmod(fd, share_safe_mode(mode)))
		e = errno;
	if (!e && (valid & SET_SIZE) && ftruncate(fd, (off_t)size))
		e = errno;
	if (!e && (valid & (SET_ATIME | SET_MTIME)))
		e = set_times(fd, valid, as, an, ms, mn);
	close(fd);
	return e;
}

static int r_statfs(struct req *q)
{
	uint32_t id = get32(&q->in);
	struct p9_fid *f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad)
		return EINVAL;
	if (!f)
		return EBADF;
	struct statfs sf;
	if (fstatfs(f->path_fd, &sf))
		return errno;
	uint64_t fsid;
	memcpy(&fsid, &sf.f_fsid, sizeof(fsid));
	put32(&q->out, (uint32_t)sf.f_type);
	put32(&q->out, (uint32_t)sf.f_bsize);
	put64(&q->out, sf.f_blocks);
	put64(&q->out, sf.f_bfree);
	put64(&q->out, sf.f_bavail);
	put64(&q->out, sf.f_files);
	put64(&q->out, sf.f_ffree);
	put64(&q->out, fsid);
	put32(&q->out, (uint32_t)sf.f_namelen);
	return 0;
}

static int r_fsync(struct req *q)
{
	uint32_t id = get32(&q->in);
	uint32_t datasync = get32(&q->in);
	struct p9_fid *f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad)
		return EINVAL;
	if (!f)
		return EBADF;
	if (f->open_fd < 0)
		return 0;
	return (datasync ? fdatasync(f->open_fd) : fsync(f->open_fd)) ? errno : 0;
}

/* Locks are advisory between the guest's own processes, which its kernel already sees:
 * grant every lock, report every range free. */
static int r_lock(struct req *q, bool get)
{
	uint32_t id = get32(&q->in);
	uint8_t type = get8(&q->in);
	if (!get)
		get32(&q->in); /* flags */
	uint64_t start = get64(&q->in), length = get64(&q->in);
	uint32_t proc = get32(&q->in);
	char client[256];
	get_str(&q->in, client, sizeof(client));
	if (q->in.bad)
		return EINVAL;
	if (!p9_fid_get(&q->s->fids, id))
		return EBADF;
	if (!get) {
		put8(&q->out, 0); /* success */
		return 0;
	}
	(void)type;
	put8(&q->out, 2); /* F_UNLCK */
	put64(&q->out, start);
	put64(&q->out, length);
	put32(&q->out, proc);
	put_str(&q->out, client);
	return 0;
}

static int dispatch(struct req *q, uint8_t type)
{
	switch (type) {
	case TVERSION: return r_version(q);
	case TATTACH: return r_attach(q);
	case TWALK: return p9_walk(q);
	case TLOPEN: return r_lopen(q);
	case TLCREATE: return p9_lcreate(q);
	case TREAD: return r_read(q);
	case TWRITE: return r_write(q);
	case TCLUNK: return r_clunk(q, false);
	case TREMOVE: return r_clunk(q, true);
	case TGETATTR: return r_getattr(q);
	case TSETATTR: return r_setattr(q);
	case TREADDIR: return p9_readdir(q);
	case TMKDIR: return p9_mkdir(q);
	case TSYMLINK: return p9_symlink(q);
	case TMKNOD: return p9_mknod(q);
	case TLINK: return p9_link(q);
	case TREADLINK: return p9_readlink(q);
	case TRENAMEAT: return p9_renameat(q);
	case TRENAME: return p9_rename(q);
	case TUNLINKAT: return p9_unlinkat(q);
	case TSTATFS: return r_statfs(q);
	case TFSYNC: return r_fsync(q);
	case TLOCK: return r_lock(q, false);
	case TGETLOCK: return r_lock(q, true);
	case TFLUSH: return 0; /* served in order: nothing is ever in flight */
	default: return EOPNOTSUPP; /* Tauth, xattrs, and what 9P2000.L does not have */
	}
}

size_t p9_server_handle(struct p9_server *s, const uint8_t *req, size_t len, uint8_t *rep, size_t room)
{
	if (len < P9_HEADER || room < P9_HEADER + 4)
		return 0;
	struct rd hdr = { .p = req, .len = len };
	uint32_t size = get32(&hdr);
	uint8_t type = get8(&hdr);
	uint16_t tag = get16(&hdr);
	if (room > s->msize)
		room = s->msize;
	struct req q = { .s = s, .in = { .p = req, .len = size < len ? size : len, .off = P9_HEADER },
			 .out = { .p = rep, .room = room, .off = P9_HEADER } };
	int e = size < P9_HEADER ? EINVAL : dispatch(&q, type);
	if (!e && q.out.full)
		e = EMSGSIZE;
	if (e) {
		q.out = (struct wr){ .p = rep, .room = room, .off = P9_HEADER };
		put32(&q.out, (uint32_t)e);
		type = TLERROR;
	}
	struct wr h = { .p = rep, .room = P9_HEADER };
	put32(&h, (uint32_t)q.out.off);
	put8(&h, type + 1);
	put16(&h, tag);
	return q.out.off;
}

/* --- the server ---------------------------------------------------------------------- */

struct p9_server *p9_server_create(const char *root, bool ro, char *err, size_t errlen)
{
	struct p9_server *s = calloc(1, sizeof(*s));
	if (!s || p9_fids_init(&s->fids)) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->msize = P9_MSIZE_MAX;
	if (share_dir_open(&s->share, root, ro, err, errlen)) {
		p9_fids_free(&s->fids);
		free(s);
		return NULL;
	}
	return s;
}

void p9_server_reset(struct p9_server *s)
{
	p9_fids_clear(&s->fids);
}

void p9_server_destroy(struct p9_server *s)
{
	if (!s)
		return;
	p9_fids_free(&s->fids);
	share_dir_close(&s->share);
	free(s);
}

unsigned int p9_server_fids(const struct p9_server *s)
{
	return s->fids.nr_used;
}
