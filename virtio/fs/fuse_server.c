#include "fuse_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "share_dir.h"

#define MIN_MINOR 31        /* virtio-fs came with FUSE 7.31 (Linux 5.4) */
#define VALID_S 1           /* how long the guest may trust names and attributes */
#define BUCKETS (1u << 16)
#define INIT_IN_MIN 16      /* major, minor, max_readahead, flags: every kernel sends these */

struct node {
	char *rel;          /* the path below the root; NULL: a free slot */
	uint64_t nlookup;   /* lookups the guest has not forgotten */
	uint64_t dev, ino;
	uint32_t next;      /* live: the hash chain; free: the free list (index + 1, 0 ends) */
};

struct fuse_server {
	struct share_dir share;
	bool inited;
	struct node *nodes; /* nodeid N is nodes[N - 1]; nodeid 1 is the root */
	uint32_t nr_slots, cap, free_head, nr_live;
	uint32_t *buckets;  /* (dev, ino) -> index + 1 */
	struct handle {
		int fd;         /* the host fd; -1: free */
		bool hollow;    /* a mount point's directory: lists nothing */
	} *handles;
	uint32_t nr_handles;
	char *dirbuf;       /* getdents64's output */
};

/* --- nodes ---------------------------------------------------------------------------- */

static struct node *node_of(struct fuse_server *s, uint64_t nodeid)
{
	if (!nodeid || nodeid > s->nr_slots)
		return NULL;
	struct node *n = &s->nodes[nodeid - 1];
	return n->rel ? n : NULL;
}

static uint32_t bucket_of(uint64_t dev, uint64_t ino)
{
	return (uint32_t)(((ino ^ (dev << 32)) * 0x9e3779b97f4a7c15ull) >> 48) % BUCKETS;
}

/* A free slot's index + 1, or 0 when the table is full. */
static uint32_t node_alloc(struct fuse_server *s)
{
	if (s->free_head) {
		uint32_t i = s->free_head;
		s->free_head = s->nodes[i - 1].next;
		return i;
	}
	if (s->nr_slots == s->cap) {
		uint32_t cap = s->cap * 2 < FUSE_SRV_MAX_NODES ? s->cap * 2 : FUSE_SRV_MAX_NODES;
		struct node *n = cap > s->cap ? realloc(s->nodes, cap * sizeof(*n)) : NULL;
		if (!n)
			return 0;
		s->nodes = n;
		s->cap = cap;
	}
	return ++s->nr_slots;
}

/* One more lookup of the file at rel (taken), which st describes: its nodeid, or 0 when
 * the table is full. A file seen again by another name (a hard link, a rename the server
 * did not make) is the same node, found again by that name from now on. */
static uint64_t node_lookup(struct fuse_server *s, char *rel, const struct stat *st)
{
	uint32_t b = bucket_of(st->st_dev, st->st_ino);
	for (uint32_t i = s->buckets[b]; i; i = s->nodes[i - 1].next) {
		struct node *n = &s->nodes[i - 1];
		if (n->dev != st->st_dev || n->ino != st->st_ino)
			continue;
		if (i != FUSE_ROOT_ID && strcmp(n->rel, rel)) {
			free(n->rel);
			n->rel = rel;
		} else {
			free(rel);
		}
		n->nlookup++;
		return i;
	}
	uint32_t i = node_alloc(s);
	if (!i) {
		free(rel);
		return 0;
	}
	s->nodes[i - 1] = (struct node){ .rel = rel, .nlookup = 1, .dev = st->st_dev, .ino = st->st_ino,
					 .next = s->buckets[b] };
	s->buckets[b] = i;
	s->nr_live++;
	return i;
}

static void node_forget(struct fuse_server *s, uint64_t nodeid, uint64_t count)
{
	struct node *n = node_of(s, nodeid);
	if (!n || nodeid == FUSE_ROOT_ID)
		return;
	n->nlookup -= count < n->nlookup ? count : n->nlookup;
	if (n->nlookup)
		return;
	for (uint32_t *link = &s->buckets[bucket_of(n->dev, n->ino)]; *link; link = &s->nodes[*link - 1].next) {
		if (*link == nodeid) {
			*link = n->next;
			break;
		}
	}
	free(n->rel);
	*n = (struct node){ .next = s->free_head };
	s->free_head = (uint32_t)nodeid;
	s->nr_live--;
}

/* After a rename the server made, every node below the old path follows it. */
static void nodes_follow_rename(struct fuse_server *s, const char *from, const char *to)
{
	for (uint32_t i = 1; i < s->nr_slots; i++) {
		struct node *n = &s->nodes[i];
		char *moved = n->rel ? share_moved(n->rel, from, to) : NULL;
		if (moved) {
			free(n->rel);
			n->rel = moved;
		}
	}
}

/* --- handles -------------------------------------------------------------------------- */

/* A handle for fd (taken): the fh, or -ENFILE when every handle is in use. */
static int64_t handle_new(struct fuse_server *s, int fd, bool hollow)
{
	if (!share_fd_charge(1)) { /* the process's descriptor budget (share_dir.h) */
		close(fd);
		return -ENFILE;
	}
	for (uint32_t i = 0; i < FUSE_SRV_MAX_HANDLES; i++) {
		if (s->handles[i].fd < 0) {
			s->handles[i] = (struct handle){ fd, hollow };
			s->nr_handles++;
			return i;
		}
	}
	close(fd);
	share_fd_refund(1);
	return -ENFILE;
}

static struct handle *handle_of(struct fuse_server *s, uint64_t fh)
{
	return fh < FUSE_SRV_MAX_HANDLES && s->handles[fh].fd >= 0 ? &s->handles[fh] : NULL;
}

/* The fd of an open file or directory to work on; -1 for a handle the guest never got
 * and for a mount point's (nothing to read, write or change there). */
static int handle_fd(struct fuse_server *s, uint64_t fh)
{
	struct handle *h = handle_of(s, fh);
	return h && !h->hollow ? h->fd : -1;
}

static void handle_close(struct fuse_server *s, uint64_t fh)
{
	struct handle *h = handle_of(s, fh);
	if (!h)
		return;
	close(h->fd);
	share_fd_refund(1);
	h->fd = -1;
	s->nr_handles--;
}

/* --- requests and replies ------------------------------------------------------------- */

struct req {
	struct fuse_server *s;
	struct fuse_in_header h;
	const uint8_t *arg;       /* the arguments after the header */
	size_t arg_len, arg_off;
	uint8_t *body;            /* the reply after its header */
	size_t room, len;
};

/* Copies the next n bytes of the arguments; false when the request is shorter. */
static bool take(struct req *q, void *dst, size_t n)
{
	if (n > q->arg_len - q->arg_off)
		return false;
	memcpy(dst, q->arg + q->arg_off, n);
	q->arg_off += n;
	return true;
}

/* The next NUL-terminated string of the arguments, at most max bytes before the NUL;
 * NULL when there is none. */
static const char *take_str(struct req *q, size_t max)
{
	const char *p = (const char *)q->arg + q->arg_off;
	const char *nul = memchr(p, 0, q->arg_len - q->arg_off);
	if (!nul || (size_t)(nul - p) > max)
		return NULL;
	q->arg_off += (size_t)(nul - p) + 1;
	return p;
}

/* The next argument as a name in a directory; NULL when it is none. */
static const char *take_name(struct req *q)
{
	const char *n = take_str(q, NAME_MAX);
	return n && share_valid_name(n) ? n : NULL;
}

/* n more bytes of reply body, zeroed; NULL when the reply has no room for them. */
static void *reply(struct req *q, size_t n)
{
	if (n > q->room - q->len)
		return NULL;
	void *p = q->body + q->len;
	memset(p, 0, n);
	q->len += n;
	return p;
}

static void fill_attr(struct fuse_attr *a, const struct stat *st)
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
static int stat_node(struct fuse_server *s, const struct node *n, struct stat *st, bool *hollow)
{
	bool h;
	int e = -share_stat(&s->share, n->rel, st, hollow ? hollow : &h);
	if (!e && (st->st_dev != n->dev || st->st_ino != n->ino))
		return ESTALE;
	return e;
}

/* Answers with the file at rel (taken), looked up once more. */
static int reply_entry(struct req *q, char *rel)
{
	struct stat st;
	bool hollow;
	int e = -share_stat(&q->s->share, rel, &st, &hollow);
	struct fuse_entry_out *out = e ? NULL : reply(q, sizeof(*out));
	if (!out) {
		free(rel);
		return e ? e : ERANGE;
	}
	out->nodeid = node_lookup(q->s, rel, &st);
	if (!out->nodeid)
		return ENFILE;
	out->entry_valid = out->attr_valid = VALID_S;
	fill_attr(&out->attr, &st);
	return 0;
}

/* The request's node as a directory and a name in it: the directory's fd (O_PATH) and
 * the new file's path (malloc'd; NULL on failure), or -errno. */
static int dir_and_name(struct req *q, uint64_t dir, const char *name, char **rel)
{
	*rel = NULL;
	struct node *d = node_of(q->s, dir);
	if (!d)
		return -ENOENT;
	if (!name)
		return -EINVAL;
	*rel = share_join(d->rel, name);
	if (!*rel)
		return -ENAMETOOLONG;
	int fd = share_open(&q->s->share, d->rel, O_PATH | O_DIRECTORY, 0);
	if (fd < 0) {
		free(*rel);
		*rel = NULL;
	}
	return fd == -EXDEV ? -ENOENT : fd; /* a mount point's directory holds nothing */
}

/* Checks shared by every request that makes something: a writable share, room for the
 * entry it answers with. */
static int may_make(struct req *q, size_t extra)
{
	if (q->s->share.ro)
		return EROFS;
	return sizeof(struct fuse_entry_out) + extra > q->room ? ERANGE : 0;
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

static int op_lookup(struct req *q)
{
	char *rel;
	int fd = dir_and_name(q, q->h.nodeid, take_name(q), &rel);
	if (fd < 0)
		return -fd;
	close(fd);
	return reply_entry(q, rel);
}

static int op_forget(struct req *q)
{
	struct fuse_forget_in in;
	if (take(q, &in, sizeof(in)))
		node_forget(q->s, q->h.nodeid, in.nlookup);
	return 0;
}

static int op_batch_forget(struct req *q)
{
	struct fuse_batch_forget_in in;
	struct fuse_forget_one one;
	if (!take(q, &in, sizeof(in)))
		return 0;
	for (uint32_t i = 0; i < in.count && take(q, &one, sizeof(one)); i++)
		node_forget(q->s, one.nodeid, one.nlookup);
	return 0;
}

static int op_getattr(struct req *q)
{
	struct fuse_getattr_in in;
	struct node *n = node_of(q->s, q->h.nodeid);
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
	fill_attr(&out->attr, &st);
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
static int setattr_fd(struct req *q, const struct node *n, const struct fuse_setattr_in *in, bool *own)
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
	struct node *n = node_of(q->s, q->h.nodeid);
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
	fill_attr(&out->attr, &st);
	return 0;
}

static int op_readlink(struct req *q)
{
	struct node *n = node_of(q->s, q->h.nodeid);
	if (!n)
		return ENOENT;
	const char *name;
	int dfd = share_open_parent(&q->s->share, n->rel, &name);
	if (dfd < 0)
		return dfd == -EBUSY ? EINVAL : -dfd;
	ssize_t len = readlinkat(dfd, name, (char *)q->body, q->room);
	int e = len < 0 ? errno : 0;
	close(dfd);
	if (!e && (size_t)len == q->room)
		return ERANGE; /* maybe cut short */
	q->len = e ? 0 : (size_t)len;
	return e;
}

/* Makes name in the request's directory with make(), hands it to the caller and answers
 * with its entry. */
static int make_node(struct req *q, const char *name, int (*make)(int dfd, const char *name, const void *how),
		     const void *how)
{
	int e = may_make(q, 0);
	if (e)
		return e;
	char *rel;
	int dfd = dir_and_name(q, q->h.nodeid, name, &rel);
	if (dfd < 0)
		return -dfd;
	e = make(dfd, name, how);
	if (!e)
		share_own(dfd, name, q->h.uid, q->h.gid);
	close(dfd);
	if (e) {
		free(rel);
		return e;
	}
	return reply_entry(q, rel);
}

static int make_dir(int dfd, const char *name, const void *how)
{
	const struct fuse_mkdir_in *in = how;
	return mkdirat(dfd, name, share_safe_mode(in->mode)) ? errno : 0;
}

static int make_special(int dfd, const char *name, const void *how)
{
	const struct fuse_mknod_in *in = how;
	if (!S_ISREG(in->mode) && !share_may_mknod(in->mode))
		return EPERM;
	return mknodat(dfd, name, (in->mode & S_IFMT) | share_safe_mode(in->mode), 0) ? errno : 0;
}

static int make_symlink(int dfd, const char *name, const void *target)
{
	return symlinkat(target, dfd, name) ? errno : 0; /* only the guest ever follows it */
}

static int op_mkdir(struct req *q)
{
	struct fuse_mkdir_in in;
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	return make_node(q, take_name(q), make_dir, &in);
}

static int op_mknod(struct req *q)
{
	struct fuse_mknod_in in;
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	return make_node(q, take_name(q), make_special, &in);
}

static int op_symlink(struct req *q)
{
	const char *name = take_name(q);
	const char *target = take_str(q, PATH_MAX - 1);
	if (!target || !*target)
		return EINVAL;
	return make_node(q, name, make_symlink, target);
}

static int op_remove(struct req *q, int flags)
{
	if (q->s->share.ro)
		return EROFS;
	char *rel;
	const char *name = take_name(q);
	int dfd = dir_and_name(q, q->h.nodeid, name, &rel);
	if (dfd < 0)
		return -dfd;
	int e = unlinkat(dfd, name, flags) ? errno : 0;
	close(dfd);
	free(rel);
	return e;
}

static int op_rename(struct req *q, bool v2)
{
	struct fuse_rename2_in in = { 0 };
	if (!take(q, &in, v2 ? sizeof(in) : sizeof(struct fuse_rename_in)))
		return EINVAL;
	if (in.flags & ~(uint32_t)RENAME_NOREPLACE)
		return EINVAL; /* no exchange, no whiteout (a device node) */
	if (q->s->share.ro)
		return EROFS;
	const char *oname = take_name(q), *nname = take_name(q);
	char *from, *to;
	int odfd = dir_and_name(q, q->h.nodeid, oname, &from);
	if (odfd < 0)
		return -odfd;
	int ndfd = dir_and_name(q, in.newdir, nname, &to);
	int e = ndfd < 0 ? -ndfd : 0;
	if (!e && renameat2(odfd, oname, ndfd, nname, in.flags))
		e = errno;
	if (!e)
		nodes_follow_rename(q->s, from, to);
	close(odfd);
	if (ndfd >= 0)
		close(ndfd);
	free(from);
	free(to);
	return e;
}

static int op_link(struct req *q)
{
	struct fuse_link_in in;
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	const char *nname = take_name(q);
	struct node *old = node_of(q->s, in.oldnodeid);
	if (!old)
		return ENOENT;
	int e = may_make(q, 0);
	if (e)
		return e;
	const char *oname;
	int odfd = share_open_parent(&q->s->share, old->rel, &oname);
	if (odfd < 0)
		return odfd == -EBUSY ? EPERM : -odfd;
	char *rel;
	int ndfd = dir_and_name(q, q->h.nodeid, nname, &rel);
	e = ndfd < 0 ? -ndfd : 0;
	if (!e && linkat(odfd, oname, ndfd, nname, 0))
		e = errno;
	close(odfd);
	if (ndfd >= 0)
		close(ndfd);
	if (e) {
		free(rel);
		return e;
	}
	return reply_entry(q, rel);
}

/* The open flags a guest may ask for: access mode, truncate, append. */
static int open_flags(const struct fuse_server *s, uint32_t flags)
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
	int64_t fh = out ? handle_new(q->s, fd, hollow) : (close(fd), -ERANGE);
	if (fh < 0)
		return (int)-fh;
	out->fh = (uint64_t)fh;
	return 0;
}

static int op_open(struct req *q, bool dir)
{
	struct fuse_open_in in;
	struct node *n = node_of(q->s, q->h.nodeid);
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	if (!n)
		return ENOENT;
	int of = dir ? O_RDONLY | O_DIRECTORY : open_flags(q->s, in.flags);
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

static int op_create(struct req *q)
{
	struct fuse_create_in in;
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	int e = may_make(q, sizeof(struct fuse_open_out));
	if (e)
		return e;
	int of = open_flags(q->s, in.flags);
	if (of < 0)
		return -of;
	const char *name = take_name(q);
	char *rel;
	int dfd = dir_and_name(q, q->h.nodeid, name, &rel);
	if (dfd < 0)
		return -dfd;
	/* a name already there that is not a regular file is never opened */
	struct stat st;
	int pfd;
	bool created;
	int fd = share_create(&q->s->share, dfd, name, rel, of, share_safe_mode(in.mode), in.flags & O_EXCL, &st, &pfd,
			      &created);
	e = fd < 0 ? -fd : 0;
	if (fd >= 0)
		close(pfd);
	if (fd >= 0 && created)
		share_own_fd(fd, q->h.uid, q->h.gid);
	close(dfd);
	int64_t fh = e ? -e : handle_new(q->s, fd, false);
	if (fh < 0) {
		if (fd >= 0 && e)
			close(fd);
		free(rel);
		return (int)-fh;
	}
	e = reply_entry(q, rel);
	struct fuse_open_out *out = e ? NULL : reply(q, sizeof(*out));
	if (!out) {
		handle_close(q->s, (uint64_t)fh);
		return e ? e : ERANGE;
	}
	out->fh = (uint64_t)fh;
	return 0;
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
	if (!handle_of(q->s, in.fh))
		return EBADF;
	handle_close(q->s, in.fh);
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

static int op_readdir(struct req *q)
{
	struct fuse_read_in in;
	if (!take(q, &in, sizeof(in)) || in.offset > INT64_MAX)
		return EINVAL;
	struct handle *h = handle_of(q->s, in.fh);
	if (!h)
		return EBADF;
	if (h->hollow)
		return 0;
	int fd = h->fd;
	if (lseek(fd, (off_t)in.offset, SEEK_SET) < 0)
		return errno;
	size_t want = in.size < q->room ? in.size : q->room;
	long got = syscall(SYS_getdents64, fd, q->s->dirbuf, want < 65536 ? want : 65536);
	if (got < 0)
		return errno;
	for (long pos = 0; pos < got;) {
		struct dirent64 *d = (struct dirent64 *)(q->s->dirbuf + pos);
		size_t nl = strlen(d->d_name);
		if (q->len + FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl) > want)
			break;
		struct fuse_dirent *out = reply(q, FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl));
		*out = (struct fuse_dirent){ .ino = d->d_ino, .off = (uint64_t)d->d_off, .namelen = (uint32_t)nl,
					     .type = d->d_type };
		memcpy(out->name, d->d_name, nl);
		pos += d->d_reclen;
	}
	return 0;
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
	case FUSE_LOOKUP: return op_lookup(q);
	case FUSE_FORGET: return op_forget(q);
	case FUSE_BATCH_FORGET: return op_batch_forget(q);
	case FUSE_GETATTR: return op_getattr(q);
	case FUSE_SETATTR: return op_setattr(q);
	case FUSE_READLINK: return op_readlink(q);
	case FUSE_SYMLINK: return op_symlink(q);
	case FUSE_MKNOD: return op_mknod(q);
	case FUSE_MKDIR: return op_mkdir(q);
	case FUSE_UNLINK: return op_remove(q, 0);
	case FUSE_RMDIR: return op_remove(q, AT_REMOVEDIR);
	case FUSE_RENAME: return op_rename(q, false);
	case FUSE_RENAME2: return op_rename(q, true);
	case FUSE_LINK: return op_link(q);
	case FUSE_OPEN: return op_open(q, false);
	case FUSE_OPENDIR: return op_open(q, true);
	case FUSE_CREATE: return op_create(q);
	case FUSE_READ: return op_read(q);
	case FUSE_WRITE: return op_write(q);
	case FUSE_READDIR: return op_readdir(q);
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

static int add_root(struct fuse_server *s)
{
	struct stat st;
	char *rel = strdup("");
	if (!rel || fstat(s->share.root_fd, &st)) {
		free(rel);
		return -1;
	}
	s->nr_slots = 0;
	return node_lookup(s, rel, &st) == FUSE_ROOT_ID ? 0 : -1;
}

struct fuse_server *fuse_server_create(const char *root, bool ro, char *err, size_t errlen)
{
	struct fuse_server *s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	s->share.root_fd = -1;
	s->cap = 1024;
	s->nodes = calloc(s->cap, sizeof(*s->nodes));
	s->buckets = calloc(BUCKETS, sizeof(*s->buckets));
	s->handles = malloc(FUSE_SRV_MAX_HANDLES * sizeof(*s->handles));
	s->dirbuf = malloc(65536);
	if (!s->nodes || !s->buckets || !s->handles || !s->dirbuf)
		goto oom;
	for (uint32_t i = 0; i < FUSE_SRV_MAX_HANDLES; i++)
		s->handles[i].fd = -1;
	if (share_dir_open(&s->share, root, ro, err, errlen))
		goto fail;
	if (add_root(s))
		goto oom;
	return s;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	fuse_server_destroy(s);
	return NULL;
}

void fuse_server_reset(struct fuse_server *s)
{
	for (uint32_t i = 1; i < s->nr_slots; i++)
		free(s->nodes[i].rel);
	for (uint32_t i = 0; i < FUSE_SRV_MAX_HANDLES; i++)
		handle_close(s, i);
	struct node root = s->nodes[0];
	memset(s->buckets, 0, BUCKETS * sizeof(*s->buckets));
	s->nr_slots = 1;
	s->free_head = 0;
	s->nr_live = 1;
	s->nodes[0] = (struct node){ .rel = root.rel, .nlookup = 1, .dev = root.dev, .ino = root.ino };
	s->buckets[bucket_of(root.dev, root.ino)] = FUSE_ROOT_ID;
	s->inited = false;
}

void fuse_server_destroy(struct fuse_server *s)
{
	if (!s)
		return;
	if (s->nodes && s->handles && s->nr_slots) {
		fuse_server_reset(s);
		free(s->nodes[0].rel);
	}
	share_dir_close(&s->share);
	free(s->nodes);
	free(s->buckets);
	free(s->handles);
	free(s->dirbuf);
	free(s);
}

unsigned int fuse_server_nodes(const struct fuse_server *s)
{
	return s->nr_live - 1;
}

unsigned int fuse_server_handles(const struct fuse_server *s)
{
	return s->nr_handles;
}
