/* FUSE operations on names (fuse_req.h): looked up and forgotten, made, linked, renamed,
 * removed and listed. Every name is one path component (take_name), and every path stays
 * below the share (share_dir.h). */
#include "fuse_req.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

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
	out->nodeid = fuse_node_lookup(&q->s->nodes, rel, &st);
	if (!out->nodeid)
		return ENFILE;
	out->entry_valid = out->attr_valid = VALID_S;
	fuse_fill_attr(&out->attr, &st);
	return 0;
}

/* The request's node as a directory and a name in it: the directory's fd (O_PATH) and
 * the new file's path (malloc'd; NULL on failure), or -errno. */
static int dir_and_name(struct req *q, uint64_t dir, const char *name, char **rel)
{
	*rel = NULL;
	struct fuse_node *d = fuse_node_of(&q->s->nodes, dir);
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

int fuse_op_lookup(struct req *q)
{
	char *rel;
	int fd = dir_and_name(q, q->h.nodeid, take_name(q), &rel);
	if (fd < 0)
		return -fd;
	close(fd);
	return reply_entry(q, rel);
}

int fuse_op_forget(struct req *q)
{
	struct fuse_forget_in in;
	if (take(q, &in, sizeof(in)))
		fuse_node_forget(&q->s->nodes, q->h.nodeid, in.nlookup);
	return 0;
}

int fuse_op_batch_forget(struct req *q)
{
	struct fuse_batch_forget_in in;
	struct fuse_forget_one one;
	if (!take(q, &in, sizeof(in)))
		return 0;
	for (uint32_t i = 0; i < in.count && take(q, &one, sizeof(one)); i++)
		fuse_node_forget(&q->s->nodes, one.nodeid, one.nlookup);
	return 0;
}

int fuse_op_readlink(struct req *q)
{
	struct fuse_node *n = fuse_node_of(&q->s->nodes, q->h.nodeid);
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

int fuse_op_mkdir(struct req *q)
{
	struct fuse_mkdir_in in;
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	return make_node(q, take_name(q), make_dir, &in);
}

int fuse_op_mknod(struct req *q)
{
	struct fuse_mknod_in in;
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	return make_node(q, take_name(q), make_special, &in);
}

int fuse_op_symlink(struct req *q)
{
	const char *name = take_name(q);
	const char *target = take_str(q, PATH_MAX - 1);
	if (!target || !*target)
		return EINVAL;
	return make_node(q, name, make_symlink, target);
}

int fuse_op_remove(struct req *q, int flags)
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

int fuse_op_rename(struct req *q, bool v2)
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
		fuse_nodes_follow_rename(&q->s->nodes, from, to);
	close(odfd);
	if (ndfd >= 0)
		close(ndfd);
	free(from);
	free(to);
	return e;
}

int fuse_op_link(struct req *q)
{
	struct fuse_link_in in;
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	const char *nname = take_name(q);
	struct fuse_node *old = fuse_node_of(&q->s->nodes, in.oldnodeid);
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

int fuse_op_create(struct req *q)
{
	struct fuse_create_in in;
	if (!take(q, &in, sizeof(in)))
		return EINVAL;
	int e = may_make(q, sizeof(struct fuse_open_out));
	if (e)
		return e;
	int of = fuse_open_flags(q->s, in.flags);
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
	int64_t fh = e ? -e : fuse_handle_new(q->s, fd, false);
	if (fh < 0) {
		if (fd >= 0 && e)
			close(fd);
		free(rel);
		return (int)-fh;
	}
	e = reply_entry(q, rel);
	struct fuse_open_out *out = e ? NULL : reply(q, sizeof(*out));
	if (!out) {
		fuse_handle_close(q->s, (uint64_t)fh);
		return e ? e : ERANGE;
	}
	out->fh = (uint64_t)fh;
	return 0;
}

int fuse_op_readdir(struct req *q)
{
	struct fuse_read_in in;
	if (!take(q, &in, sizeof(in)) || in.offset > INT64_MAX)
		return EINVAL;
	struct fuse_handle *h = fuse_handle_of(q->s, in.fh);
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
