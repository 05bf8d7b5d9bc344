#include "p9_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "share_dir.h"

/* Message types (9P2000.L; a reply is its request + 1). */
enum {
	TLERROR = 6, TSTATFS = 8, TLOPEN = 12, TLCREATE = 14, TSYMLINK = 16, TMKNOD = 18,
	TRENAME = 20, TREADLINK = 22, TGETATTR = 24, TSETATTR = 26, TXATTRWALK = 30,
	TXATTRCREATE = 32, TREADDIR = 40, TFSYNC = 50, TLOCK = 52, TGETLOCK = 54, TLINK = 70,
	TMKDIR = 72, TRENAMEAT = 74, TUNLINKAT = 76, TVERSION = 100, TAUTH = 102, TATTACH = 104,
	TFLUSH = 108, TWALK = 110, TREAD = 116, TWRITE = 118, TCLUNK = 120, TREMOVE = 122,
};
#define NOFID 0xffffffffu
#define MAX_WALK 16
#define NAME_MAX_9P 255
#define QID_SIZE 13
#define RREAD_OVERHEAD (P9_HEADER + 4)

struct fid {
	uint32_t id;
	enum { FREE, USED, GONE } state; /* GONE: a tombstone in the hash table */
	int path_fd;      /* O_PATH: the file itself, for stat and as a directory's dirfd;
			   * -1 for a mount point's directory (hollow), so that every call
			   * that would make or change something there fails */
	bool hollow;      /* a mount point below the share: an empty directory */
	int open_fd;      /* after Tlopen or Tlcreate, else -1 */
	uint32_t uid;     /* who attached: owner of what this fid creates */
	char *rel;        /* the path below the share's root, "" for the root */
};

struct p9_server {
	struct share_dir share;
	uint32_t msize;
	struct fid *fids; /* open addressing, 2 * P9_MAX_FIDS slots */
	unsigned int nr_used, nr_gone;
	/* getdents64's output: the server's own, since two shares' requests can be served
	 * at once (a virtio-pci notify runs on the vCPU thread that wrote it) */
	char dirbuf[64 << 10];
};

#define SLOTS (2 * P9_MAX_FIDS)

/* --- reading requests, writing replies ------------------------------------------------ */

struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t get(struct rd *r, size_t n)
{
	const uint8_t *p = take(r, n);
	uint64_t v = 0;
	for (size_t i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint8_t get8(struct rd *r) { return (uint8_t)get(r, 1); }
static uint16_t get16(struct rd *r) { return (uint16_t)get(r, 2); }
static uint32_t get32(struct rd *r) { return (uint32_t)get(r, 4); }
static uint64_t get64(struct rd *r) { return get(r, 8); }

/* A string into out (NUL-terminated); too long for out, or holding a NUL: bad. */
static void get_str(struct rd *r, char *out, size_t max)
{
	uint16_t n = get16(r);
	const uint8_t *p = take(r, n);
	if (!p || n >= max || memchr(p, 0, n)) {
		r->bad = true;
		out[0] = 0;
		return;
	}
	memcpy(out, p, n);
	out[n] = 0;
}

struct wr {
	uint8_t *p;
	size_t room, off;
	bool full;
};

static void put(struct wr *w, uint64_t v, size_t n)
{
	if (w->full || n > w->room - w->off) {
		w->full = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		w->p[w->off++] = (uint8_t)(v >> (8 * i));
}

static void put8(struct wr *w, uint8_t v) { put(w, v, 1); }
static void put16(struct wr *w, uint16_t v) { put(w, v, 2); }
static void put32(struct wr *w, uint32_t v) { put(w, v, 4); }
static void put64(struct wr *w, uint64_t v) { put(w, v, 8); }

static void put_bytes(struct wr *w, const void *p, size_t n)
{
	if (w->full || n > w->room - w->off) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->off, p, n);
	w->off += n;
}

static void put_str(struct wr *w, const char *s)
{
	size_t n = strlen(s);
	put16(w, (uint16_t)n);
	put_bytes(w, s, n);
}

static uint8_t qid_type(mode_t m)
{
	return S_ISDIR(m) ? 0x80 : S_ISLNK(m) ? 0x02 : 0;
}

static void put_qid(struct wr *w, const struct stat *st)
{
	put8(w, qid_type(st->st_mode));
	put32(w, (uint32_t)st->st_mtim.tv_sec);
	put64(w, st->st_ino);
}

/* --- fids ---------------------------------------------------------------------------- */

static struct fid *fid_slot(struct p9_server *s, uint32_t id, bool for_insert)
{
	struct fid *tomb = NULL;
	for (unsigned int i = 0, h = (id * 2654435761u) % SLOTS; i < SLOTS; i++, h = (h + 1) % SLOTS) {
		struct fid *f = &s->fids[h];
		if (f->state == USED && f->id == id)
			return f;
		if (f->state == GONE && !tomb)
			tomb = f;
		if (f->state == FREE)
			return for_insert ? (tomb ? tomb : f) : NULL;
	}
	return for_insert ? tomb : NULL;
}

static struct fid *fid_get(struct p9_server *s, uint32_t id)
{
	return fid_slot(s, id, false);
}

/* Keeps fd in *slot, charged to the process's descriptor budget (share_fd_charge); fd -1
 * (a mount point's directory) costs nothing. ENFILE, fd closed, when the budget is spent. */
static int keep_fd(int *slot, int fd)
{
	if (fd >= 0 && !share_fd_charge(1)) {
		close(fd);
		return ENFILE;
	}
	*slot = fd;
	return 0;
}

static void fid_close(struct fid *f)
{
	if (f->path_fd >= 0) {
		close(f->path_fd);
		share_fd_refund(1);
	}
	if (f->open_fd >= 0) {
		close(f->open_fd);
		share_fd_refund(1);
	}
	free(f->rel);
	f->path_fd = f->open_fd = -1;
	f->rel = NULL;
}

static void fid_drop(struct p9_server *s, struct fid *f)
{
	fid_close(f);
	f->state = GONE;
	s->nr_used--;
	s->nr_gone++;
}

/* Tombstones pile up under a guest that makes and drops fids forever: rebuild then. */
static void fid_rehash(struct p9_server *s)
{
	struct fid *old = s->fids;
	struct fid *fresh = calloc(SLOTS, sizeof(*fresh));
	if (!fresh)
		return;
	s->fids = fresh;
	for (unsigned int i = 0; i < SLOTS; i++) {
		if (old[i].state != USED)
			continue;
		*fid_slot(s, old[i].id, true) = old[i];
	}
	s->nr_gone = 0;
	free(old);
}

/* A new fid (id must be free); takes ownership of rel and path_fd. ENFILE when full. */
static int fid_new(struct p9_server *s, uint32_t id, char *rel, int path_fd, uint32_t uid)
{
	if (s->nr_used >= P9_MAX_FIDS || id == NOFID || (path_fd >= 0 && !share_fd_charge(1))) {
		free(rel);
		if (path_fd >= 0)
			close(path_fd);
		return id == NOFID ? EINVAL : ENFILE;
	}
	if (s->nr_used + s->nr_gone > SLOTS * 3 / 4)
		fid_rehash(s);
	struct fid *f = fid_slot(s, id, true);
	if (f->state == GONE)
		s->nr_gone--;
	*f = (struct fid){ .id = id, .state = USED, .path_fd = path_fd, .open_fd = -1, .uid = uid, .rel = rel };
	s->nr_used++;
	return 0;
}

/* --- the file system, never beyond the share ---------------------------------------- */

/* A walk step: ".." goes up (never above the root), anything else must be a name. */
static char *walk_step(const char *rel, const char *name)
{
	if (!strcmp(name, ".."))
		return share_parent(rel);
	return share_valid_name(name) ? share_join(rel, name) : NULL;
}

/* After a rename, every fid below the old path follows it (their next open is by path). */
static void follow_rename(struct p9_server *s, const char *from, const char *to)
{
	for (unsigned int i = 0; i < SLOTS; i++) {
		struct fid *f = &s->fids[i];
		char *moved = f->state == USED ? share_moved(f->rel, from, to) : NULL;
		if (moved) {
			free(f->rel);
			f->rel = moved;
		}
	}
}

/* --- requests ------------------------------------------------------------------------ */

struct req {
	struct p9_server *s;
	struct rd in;
	struct wr out;
};

static int fstat_fid(struct p9_server *s, struct fid *f, struct stat *st)
{
	bool hollow;
	if (f->hollow)
		return -share_stat(&s->share, f->rel, st, &hollow);
	return fstat(f->open_fd >= 0 ? f->open_fd : f->path_fd, st) ? errno : 0;
}

/* A walk step's file, opened O_PATH into *fd, and its attributes. A mount point's
 * directory gets no fd (-1, *hollow set). 0 or errno. */
static int walk_open(struct p9_server *s, const char *rel, int *fd, struct stat *st, bool *hollow)
{
	*hollow = false;
	*fd = share_open(&s->share, rel, O_PATH, 0);
	if (*fd == -EXDEV) {
		*fd = -1;
		return -share_stat(&s->share, rel, st, hollow);
	}
	if (*fd < 0)
		return -*fd;
	if (!fstat(*fd, st))
		return 0;
	int e = errno;
	close(*fd);
	*fd = -1;
	return e;
}

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
	if (fid_get(q->s, id))
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
	int e = rel ? fid_new(q->s, id, rel, fd, uid == NOFID ? 0 : uid) : (close(fd), ENOMEM);
	if (!e)
		put_qid(&q->out, &st);
	return e;
}

static int r_walk(struct req *q)
{
	uint32_t id = get32(&q->in), newid = get32(&q->in);
	uint16_t n = get16(&q->in);
	char names[MAX_WALK][NAME_MAX_9P + 1];
	for (unsigned int i = 0; i < n && i < MAX_WALK; i++)
		get_str(&q->in, names[i], sizeof(names[i]));
	struct fid *f = fid_get(q->s, id);
	if (q->in.bad || n > MAX_WALK)
		return EINVAL;
	if (!f)
		return EBADF;
	if (newid != id && fid_get(q->s, newid))
		return EEXIST;
	char *rel = strdup(f->rel);
	int fd = -1, e = rel ? 0 : ENOMEM;
	bool hollow = f->hollow;
	size_t nq_at = q->out.off;
	put16(&q->out, 0);
	unsigned int done = 0;
	for (; done < n && !e; done++) {
		char *next = walk_step(rel, names[done]);
		int nfd;
		struct stat st;
		int we = next ? walk_open(q->s, next, &nfd, &st, &hollow) : ENOENT;
		if (we) {
			free(next);
			e = we;
			break;
		}
		free(rel);
		rel = next;
		if (fd >= 0)
			close(fd);
		fd = nfd;
		put_qid(&q->out, &st);
	}
	if (e && done == 0) {
		free(rel);
		q->out.off = nq_at;
		return e; /* the first name failed: an error, not an empty walk */
	}
	q->out.p[nq_at] = (uint8_t)done;
	q->out.p[nq_at + 1] = (uint8_t)(done >> 8);
	if (done < n) { /* a partial walk makes no fid */
		free(rel);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (fd < 0 && !hollow && (fd = share_open(&q->s->share, rel, O_PATH, 0)) < 0) { /* a clone */
		free(rel);
		q->out.off = nq_at;
		return -fd;
	}
	if (newid == id) {
		fid_close(f);
		f->rel = rel;
		f->hollow = hollow;
		e = keep_fd(&f->path_fd, fd);
		if (e) {
			fid_drop(q->s, f); /* a fid without its file is none */
			q->out.off = nq_at;
		}
		return e;
	}
	uint32_t uid = f->uid;
	e = fid_new(q->s, newid, rel, fd, uid);
	if (e)
		q->out.off = nq_at;
	else
		fid_get(q->s, newid)->hollow = hollow;
	return e;
}

/* 9P2000.L's open flags (the generic Linux values, which arm64's O_DIRECTORY is not). */
#define P9_EXCL 00000200u
#define P9_TRUNC 00001000u
#define P9_APPEND 00002000u
#define P9_DIRECTORY 00200000u

/* The open flags a guest may ask for: access mode, truncate, append, directory. */
static int open_flags(struct p9_server *s, uint32_t flags, bool *write)
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
	struct fid *f = fid_get(q->s, id);
	if (q->in.bad)
		return EINVAL;
	if (!f)
		return EBADF;
	if (f->open_fd >= 0)
		return EBUSY;
	bool write;
	int of = open_flags(q->s, flags, &write);
	if (of < 0)
		return -of;
	struct stat st;
	int fd;
	if (f->hollow) {
		int e = fstat_fid(q->s, f, &st);
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
	int e = keep_fd(&f->open_fd, fd);
	if (e)
		return e;
	put_qid(&q->out, &st);
	put32(&q->out, q->s->msize - RREAD_OVERHEAD);
	return 0;
}

static int r_lcreate(struct req *q)
{
	uint32_t id = get32(&q->in);
	char name[NAME_MAX_9P + 1];
	get_str(&q->in, name, sizeof(name));
	uint32_t flags = get32(&q->in), mode = get32(&q->in), gid = get32(&q->in);
	struct fid *f = fid_get(q->s, id);
	if (q->in.bad || !share_valid_name(name))
		return EINVAL;
	if (!f)
		return EBADF;
	if (q->s->share.ro)
		return EROFS;
	if (f->open_fd >= 0)
		return EBUSY;
	bool write;
	int of = open_flags(q->s, flags & ~P9_DIRECTORY, &write);
	if (of < 0)
		return -of;
	char *rel = share_join(f->rel, name);
	if (!rel)
		return ENAMETOOLONG;
	struct stat st;
	int pfd;
	bool created;
	int fd = share_create(&q->s->share, f->path_fd, name, rel, of, share_safe_mode(mode), flags & P9_EXCL, &st,
			      &pfd, &created);
	if (fd < 0) {
		free(rel);
		return -fd;
	}
	if (created)
		share_own_fd(fd, f->uid, gid);
	if (!share_fd_charge(2)) { /* (fid_close gives the directory's back) */
		close(fd);
		close(pfd);
		free(rel);
		return ENFILE;
	}
	fid_close(f);
	f->rel = rel;
	f->path_fd = pfd;
	f->open_fd = fd;
	put_qid(&q->out, &st);
	put32(&q->out, q->s->msize - RREAD_OVERHEAD);
	return 0;
}

/* Tread's and Treaddir's fid (open), offset and count, the count cut to what the reply
 * holds after its own count field. */
static int io_args(struct req *q, struct fid **f, uint64_t *off, uint32_t *count)
{
	uint32_t id = get32(&q->in);
	*off = get64(&q->in);
	*count = get32(&q->in);
	*f = fid_get(q->s, id);
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
	struct fid *f;
	uint64_t off;
	uint32_t count;
	int e = io_args(q, &f, &off, &count);
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
	struct fid *f = fid_get(q->s, id);
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
	struct fid *f = fid_get(q->s, id);
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
	fid_drop(q->s, f); /* a remove clunks the fid even when it fails */
	return e;
}

#define GETATTR_BASIC 0x7ffull

static int r_getattr(struct req *q)
{
	uint32_t id = get32(&q->in);
	get64(&q->in); /* request_mask: everything basic is always there */
	struct fid *f = fid_get(q->s, id);
	if (q->in.bad)
		return EINVAL;
	if (!f)
		return EBADF;
	struct stat st;
	int e = fstat_fid(q->s, f, &st);
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
	struct fid *f = fid_get(q->s, id);
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

static int r_readdir(struct req *q)
{
	struct fid *f;
	uint64_t off;
	uint32_t count;
	int e = io_args(q, &f, &off, &count);
	if (e)
		return e;
	if (f->hollow) {
		put32(&q->out, 0); /* a mount point's directory lists nothing */
		return 0;
	}
	if (lseek(f->open_fd, (off_t)off, SEEK_SET) < 0)
		return errno;
	char *buf = q->s->dirbuf;
	long n = syscall(SYS_getdents64, f->open_fd, buf, count < sizeof(q->s->dirbuf) ? count : sizeof(q->s->dirbuf));
	if (n < 0)
		return errno;
	size_t count_at = q->out.off;
	put32(&q->out, 0);
	size_t start = q->out.off;
	for (long pos = 0; pos < n;) {
		struct dirent64 *d = (struct dirent64 *)(buf + pos);
		size_t nl = strlen(d->d_name);
		size_t need = QID_SIZE + 8 + 1 + 2 + nl;
		if (q->out.off - start + need > count)
			break;
		put8(&q->out, d->d_type == DT_DIR ? 0x80 : d->d_type == DT_LNK ? 0x02 : 0);
		put32(&q->out, 0);
		put64(&q->out, d->d_ino);
		put64(&q->out, (uint64_t)d->d_off);
		put8(&q->out, d->d_type);
		put_str(&q->out, d->d_name);
		pos += d->d_reclen;
	}
	uint32_t used = (uint32_t)(q->out.off - start);
	memcpy(q->out.p + count_at, &used, 4);
	return 0;
}

/* The directory fid and the new entry's name of a request that makes one. */
static int dir_and_name(struct req *q, struct fid **dir, char *name)
{
	uint32_t id = get32(&q->in);
	get_str(&q->in, name, NAME_MAX_9P + 1);
	*dir = fid_get(q->s, id);
	if (q->in.bad || !share_valid_name(name))
		return EINVAL;
	if (!*dir)
		return EBADF;
	return q->s->share.ro ? EROFS : 0;
}

static int reply_entry_qid(struct req *q, int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return errno;
	put_qid(&q->out, &st);
	return 0;
}

static int r_mkdir(struct req *q)
{
	struct fid *d;
	char name[NAME_MAX_9P + 1];
	int e = dir_and_name(q, &d, name);
	uint32_t mode = get32(&q->in), gid = get32(&q->in);
	if (!e && q->in.bad)
		e = EINVAL;
	if (e)
		return e;
	if (mkdirat(d->path_fd, name, share_safe_mode(mode)))
		return errno;
	share_own(d->path_fd, name, d->uid, gid);
	return reply_entry_qid(q, d->path_fd, name);
}

static int r_symlink(struct req *q)
{
	struct fid *d;
	char name[NAME_MAX_9P + 1], target[PATH_MAX];
	int e = dir_and_name(q, &d, name);
	get_str(&q->in, target, sizeof(target));
	uint32_t gid = get32(&q->in);
	if (!e && (q->in.bad || !target[0]))
		e = EINVAL;
	if (e)
		return e;
	if (symlinkat(target, d->path_fd, name)) /* only the guest ever follows it */
		return errno;
	share_own(d->path_fd, name, d->uid, gid);
	return reply_entry_qid(q, d->path_fd, name);
}

static int r_mknod(struct req *q)
{
	struct fid *d;
	char name[NAME_MAX_9P + 1];
	int e = dir_and_name(q, &d, name);
	uint32_t mode = get32(&q->in);
	get32(&q->in);
	get32(&q->in); /* major, minor: never a device */
	uint32_t gid = get32(&q->in);
	if (!e && q->in.bad)
		e = EINVAL;
	if (e)
		return e;
	if (!share_may_mknod(mode))
		return EPERM;
	if (mknodat(d->path_fd, name, (mode & S_IFMT) | share_safe_mode(mode), 0))
		return errno;
	share_own(d->path_fd, name, d->uid, gid);
	return reply_entry_qid(q, d->path_fd, name);
}

static int r_link(struct req *q)
{
	uint32_t did = get32(&q->in), id = get32(&q->in);
	char name[NAME_MAX_9P + 1];
	get_str(&q->in, name, sizeof(name));
	struct fid *d = fid_get(q->s, did), *f = fid_get(q->s, id);
	if (q->in.bad || !share_valid_name(name))
		return EINVAL;
	if (!d || !f)
		return EBADF;
	if (q->s->share.ro)
		return EROFS;
	return linkat(f->path_fd, "", d->path_fd, name, AT_EMPTY_PATH) ? errno : 0;
}

static int r_readlink(struct req *q)
{
	uint32_t id = get32(&q->in);
	struct fid *f = fid_get(q->s, id);
	if (q->in.bad)
		return EINVAL;
	if (!f)
		return EBADF;
	char target[PATH_MAX];
	ssize_t n = readlinkat(f->path_fd, "", target, sizeof(target) - 1);
	if (n < 0)
		return errno;
	target[n] = 0;
	put_str(&q->out, target);
	return 0;
}

/* Renames oname in directory odfd (whose path below the root is from) to nname in nd;
 * the fids below it follow. from must not be a fid's own rel: following replaces those. */
static int rename_in(struct p9_server *s, int odfd, const char *oname, const char *from, struct fid *nd,
		     const char *nname)
{
	if (renameat(odfd, oname, nd->path_fd, nname))
		return errno;
	char *to = share_join(nd->rel, nname);
	if (from && to)
		follow_rename(s, from, to);
	free(to);
	return 0;
}

static int r_renameat(struct req *q)
{
	uint32_t oid = get32(&q->in);
	char oname[NAME_MAX_9P + 1], nname[NAME_MAX_9P + 1];
	get_str(&q->in, oname, sizeof(oname));
	uint32_t nid = get32(&q->in);
	get_str(&q->in, nname, sizeof(nname));
	struct fid *od = fid_get(q->s, oid), *nd = fid_get(q->s, nid);
	if (q->in.bad || !share_valid_name(oname) || !share_valid_name(nname))
		return EINVAL;
	if (!od || !nd)
		return EBADF;
	if (q->s->share.ro)
		return EROFS;
	char *from = share_join(od->rel, oname);
	int e = rename_in(q->s, od->path_fd, oname, from, nd, nname);
	free(from);
	return e;
}

static int r_rename(struct req *q)
{
	uint32_t id = get32(&q->in), did = get32(&q->in);
	char nname[NAME_MAX_9P + 1];
	get_str(&q->in, nname, sizeof(nname));
	struct fid *f = fid_get(q->s, id), *nd = fid_get(q->s, did);
	if (q->in.bad || !share_valid_name(nname))
		return EINVAL;
	if (!f || !nd)
		return EBADF;
	if (q->s->share.ro)
		return EROFS;
	const char *oname;
	int dfd = share_open_parent(&q->s->share, f->rel, &oname); /* the root stays: EBUSY */
	if (dfd < 0)
		return -dfd;
	char *from = strdup(f->rel);
	int e = from ? rename_in(q->s, dfd, oname, from, nd, nname) : ENOMEM;
	close(dfd);
	free(from);
	return e;
}

static int r_unlinkat(struct req *q)
{
	struct fid *d;
	char name[NAME_MAX_9P + 1];
	int e = dir_and_name(q, &d, name);
	uint32_t flags = get32(&q->in);
	if (!e && q->in.bad)
		e = EINVAL;
	if (e)
		return e;
	return unlinkat(d->path_fd, name, (int)(flags & AT_REMOVEDIR)) ? errno : 0;
}

static int r_statfs(struct req *q)
{
	uint32_t id = get32(&q->in);
	struct fid *f = fid_get(q->s, id);
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
	struct fid *f = fid_get(q->s, id);
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
	if (!fid_get(q->s, id))
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
	case TWALK: return r_walk(q);
	case TLOPEN: return r_lopen(q);
	case TLCREATE: return r_lcreate(q);
	case TREAD: return r_read(q);
	case TWRITE: return r_write(q);
	case TCLUNK: return r_clunk(q, false);
	case TREMOVE: return r_clunk(q, true);
	case TGETATTR: return r_getattr(q);
	case TSETATTR: return r_setattr(q);
	case TREADDIR: return r_readdir(q);
	case TMKDIR: return r_mkdir(q);
	case TSYMLINK: return r_symlink(q);
	case TMKNOD: return r_mknod(q);
	case TLINK: return r_link(q);
	case TREADLINK: return r_readlink(q);
	case TRENAMEAT: return r_renameat(q);
	case TRENAME: return r_rename(q);
	case TUNLINKAT: return r_unlinkat(q);
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
	if (s)
		s->fids = calloc(SLOTS, sizeof(*s->fids));
	if (!s || !s->fids) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->msize = P9_MSIZE_MAX;
	if (share_dir_open(&s->share, root, ro, err, errlen)) {
		free(s->fids);
		free(s);
		return NULL;
	}
	return s;
}

void p9_server_reset(struct p9_server *s)
{
	for (unsigned int i = 0; i < SLOTS; i++) {
		if (s->fids[i].state == USED)
			fid_close(&s->fids[i]);
		s->fids[i].state = FREE;
	}
	s->nr_used = s->nr_gone = 0;
}

void p9_server_destroy(struct p9_server *s)
{
	if (!s)
		return;
	p9_server_reset(s);
	share_dir_close(&s->share);
	free(s->fids);
	free(s);
}

unsigned int p9_server_fids(const struct p9_server *s)
{
	return s->nr_used;
}
