/* 9P requests on names (p9_req.h): walks, entries made, linked, renamed, removed and
 * listed. Every name is one path component (share_valid_name), and every path stays
 * below the share (share_dir.h). */
#include "p9_req.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A walk step: ".." goes up (never above the root), anything else must be a name. */
static char *walk_step(const char *rel, const char *name)
{
	if (!strcmp(name, ".."))
		return share_parent(rel);
	return share_valid_name(name) ? share_join(rel, name) : NULL;
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

int p9_walk(struct req *q)
{
	uint32_t id = get32(&q->in), newid = get32(&q->in);
	uint16_t n = get16(&q->in);
	char names[MAX_WALK][NAME_MAX_9P + 1];
	for (unsigned int i = 0; i < n && i < MAX_WALK; i++)
		get_str(&q->in, names[i], sizeof(names[i]));
	struct p9_fid *f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad || n > MAX_WALK)
		return EINVAL;
	if (!f)
		return EBADF;
	if (newid != id && p9_fid_get(&q->s->fids, newid))
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
		p9_fid_close(f);
		f->rel = rel;
		f->hollow = hollow;
		e = p9_keep_fd(&f->path_fd, fd);
		if (e) {
			p9_fid_drop(&q->s->fids, f); /* a fid without its file is none */
			q->out.off = nq_at;
		}
		return e;
	}
	uint32_t uid = f->uid;
	e = p9_fid_new(&q->s->fids, newid, rel, fd, uid);
	if (e)
		q->out.off = nq_at;
	else
		p9_fid_get(&q->s->fids, newid)->hollow = hollow;
	return e;
}

int p9_lcreate(struct req *q)
{
	uint32_t id = get32(&q->in);
	char name[NAME_MAX_9P + 1];
	get_str(&q->in, name, sizeof(name));
	uint32_t flags = get32(&q->in), mode = get32(&q->in), gid = get32(&q->in);
	struct p9_fid *f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad || !share_valid_name(name))
		return EINVAL;
	if (!f)
		return EBADF;
	if (q->s->share.ro)
		return EROFS;
	if (f->open_fd >= 0)
		return EBUSY;
	bool write;
	int of = p9_open_flags(q->s, flags & ~P9_DIRECTORY, &write);
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
	p9_fid_close(f);
	f->rel = rel;
	f->path_fd = pfd;
	f->open_fd = fd;
	put_qid(&q->out, &st);
	put32(&q->out, q->s->msize - RREAD_OVERHEAD);
	return 0;
}

int p9_readdir(struct req *q)
{
	struct p9_fid *f;
	uint64_t off;
	uint32_t count;
	int e = p9_io_args(q, &f, &off, &count);
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
static int dir_and_name(struct req *q, struct p9_fid **dir, char *name)
{
	uint32_t id = get32(&q->in);
	get_str(&q->in, name, NAME_MAX_9P + 1);
	*dir = p9_fid_get(&q->s->fids, id);
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

int p9_mkdir(struct req *q)
{
	struct p9_fid *d;
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

int p9_symlink(struct req *q)
{
	struct p9_fid *d;
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

int p9_mknod(struct req *q)
{
	struct p9_fid *d;
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

int p9_link(struct req *q)
{
	uint32_t did = get32(&q->in), id = get32(&q->in);
	char name[NAME_MAX_9P + 1];
	get_str(&q->in, name, sizeof(name));
	struct p9_fid *d = p9_fid_get(&q->s->fids, did), *f = p9_fid_get(&q->s->fids, id);
	if (q->in.bad || !share_valid_name(name))
		return EINVAL;
	if (!d || !f)
		return EBADF;
	if (q->s->share.ro)
		return EROFS;
	return linkat(f->path_fd, "", d->path_fd, name, AT_EMPTY_PATH) ? errno : 0;
}

int p9_readlink(struct req *q)
{
	uint32_t id = get32(&q->in);
	struct p9_fid *f = p9_fid_get(&q->s->fids, id);
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
static int rename_in(struct p9_server *s, int odfd, const char *oname, const char *from, struct p9_fid *nd,
		     const char *nname)
{
	if (renameat(odfd, oname, nd->path_fd, nname))
		return errno;
	char *to = share_join(nd->rel, nname);
	if (from && to)
		p9_fids_follow_rename(&s->fids, from, to);
	free(to);
	return 0;
}

int p9_renameat(struct req *q)
{
	uint32_t oid = get32(&q->in);
	char oname[NAME_MAX_9P + 1], nname[NAME_MAX_9P + 1];
	get_str(&q->in, oname, sizeof(oname));
	uint32_t nid = get32(&q->in);
	get_str(&q->in, nname, sizeof(nname));
	struct p9_fid *od = p9_fid_get(&q->s->fids, oid), *nd = p9_fid_get(&q->s->fids, nid);
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

int p9_rename(struct req *q)
{
	uint32_t id = get32(&q->in), did = get32(&q->in);
	char nname[NAME_MAX_9P + 1];
	get_str(&q->in, nname, sizeof(nname));
	struct p9_fid *f = p9_fid_get(&q->s->fids, id), *nd = p9_fid_get(&q->s->fids, did);
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

int p9_unlinkat(struct req *q)
{
	struct p9_fid *d;
	char name[NAME_MAX_9P + 1];
	int e = dir_and_name(q, &d, name);
	uint32_t flags = get32(&q->in);
	if (!e && q->in.bad)
		e = EINVAL;
	if (e)
		return e;
	return unlinkat(d->path_fd, name, (int)(flags & AT_REMOVEDIR)) ? errno : 0;
}
