#include "share_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_long fds_left = LONG_MAX;

void share_fd_budget(long nr)
{
	atomic_store(&fds_left, nr > 0 ? nr : 0);
}

bool share_fd_charge(int n)
{
	long left = atomic_load(&fds_left);
	while (left >= n)
		if (atomic_compare_exchange_weak(&fds_left, &left, left - n))
			return true;
	return false;
}

void share_fd_refund(int n)
{
	atomic_fetch_add(&fds_left, n);
}

long share_fd_left(void)
{
	return atomic_load(&fds_left);
}

int share_dir_open(struct share_dir *d, const char *root, bool ro, char *err, size_t errlen)
{
	d->ro = ro;
	d->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (d->root_fd < 0 || fstat(d->root_fd, &st)) {
		snprintf(err, errlen, "%s: %s: give a directory to share", root, strerror(errno));
		if (d->root_fd >= 0)
			close(d->root_fd);
		d->root_fd = -1;
		return -1;
	}
	d->dev = st.st_dev;
	return 0;
}

void share_dir_close(struct share_dir *d)
{
	if (d->root_fd >= 0)
		close(d->root_fd);
	d->root_fd = -1;
}

int share_open(const struct share_dir *d, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC), .mode = mode,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
	};
	int fd = (int)syscall(SYS_openat2, d->root_fd, *rel ? rel : ".", &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

int share_reopen(int path_fd, int flags, struct stat *st)
{
	if (fstat(path_fd, st))
		return -errno;
	if (S_ISDIR(st->st_mode) && (flags & O_ACCMODE) != O_RDONLY)
		return -EISDIR;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return -EACCES;
	char self[32];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", path_fd);
	/* O_NONBLOCK as well: nothing but a regular file or directory gets here, and for
	 * those it changes nothing */
	int fd = open(self, (flags & (O_ACCMODE | O_TRUNC | O_APPEND | O_DIRECTORY)) | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat now;
	if (fstat(fd, &now) || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		close(fd); /* /proc not this process's: refuse rather than open something else */
		return -EACCES;
	}
	*st = now;
	return fd;
}

int share_open_file(const struct share_dir *d, const char *rel, int flags, struct stat *st)
{
	int pfd = share_open(d, rel, O_PATH, 0);
	if (pfd < 0)
		return pfd;
	int fd = share_reopen(pfd, flags, st);
	close(pfd);
	return fd;
}

int share_create(const struct share_dir *d, int dirfd, const char *name, const char *rel, int flags, mode_t mode,
		 bool excl, struct stat *st, int *path_fd, bool *created)
{
	int of = (flags & (O_ACCMODE | O_TRUNC | O_APPEND)) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(dirfd, name, of, mode);
	*created = fd >= 0;
	if (fd < 0 && (errno != EEXIST || excl))
		return -errno;
	/* the name of what was made, or of what is there, opened O_PATH beneath the root */
	int pfd = share_open(d, rel, O_PATH, 0);
	if (pfd < 0) {
		if (fd >= 0)
			close(fd);
		return pfd;
	}
	struct stat named;
	if (fd < 0) {
		fd = fstat(pfd, st) ? -errno : S_ISDIR(st->st_mode) ? -EISDIR
			: share_reopen(pfd, flags & (O_ACCMODE | O_TRUNC | O_APPEND), st);
	} else if (fstat(fd, st) || fstat(pfd, &named) || named.st_ino != st->st_ino || named.st_dev != st->st_dev) {
		close(fd); /* renamed away the moment it was made */
		fd = -ESTALE;
	}
	if (fd < 0) {
		close(pfd);
		return fd;
	}
	*path_fd = pfd;
	return fd;
}

int share_stat(const struct share_dir *d, const char *rel, struct stat *st, bool *hollow)
{
	*hollow = false;
	int fd = share_open(d, rel, O_PATH, 0);
	if (fd >= 0) {
		int e = fstat(fd, st) ? -errno : 0;
		close(fd);
		return e;
	}
	if (fd != -EXDEV)
		return fd;
	const char *name;
	int pfd = share_open_parent(d, rel, &name);
	if (pfd < 0)
		return pfd == -EXDEV ? -ENOENT : pfd; /* below a mount point: nothing */
	int e = fstatat(pfd, name, st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
	close(pfd);
	if (e || st->st_dev == d->dev)
		return e ? e : -ENOENT;
	*hollow = true;
	/* a 9P guest knows files by inode number alone, and the roots of /proc, /sys and a
	 * tmpfs may all be inode 1: the file system's number goes above bit 40 */
	st->st_ino ^= (ino_t)st->st_dev << 40;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_size = 0;
	st->st_blocks = 0;
	return 0;
}

int share_open_parent(const struct share_dir *d, const char *rel, const char **name)
{
	if (!*rel)
		return -EBUSY;
	const char *slash = strrchr(rel, '/');
	*name = slash ? slash + 1 : rel;
	char *parent = share_parent(rel);
	int fd = parent ? share_open(d, parent, O_PATH | O_DIRECTORY, 0) : -ENOMEM;
	free(parent);
	return fd;
}

bool share_valid_name(const char *n)
{
	return n[0] && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..");
}

char *share_join(const char *rel, const char *name)
{
	size_t a = strlen(rel), b = strlen(name);
	if (a + 1 + b >= PATH_MAX)
		return NULL;
	char *p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, rel, a);
	p[a] = '/';
	memcpy(p + (a ? a + 1 : 0), name, b + 1);
	return p;
}

char *share_parent(const char *rel)
{
	const char *slash = strrchr(rel, '/');
	return strndup(rel, slash ? (size_t)(slash - rel) : 0);
}

char *share_moved(const char *rel, const char *from, const char *to)
{
	size_t n = strlen(from);
	if (strncmp(rel, from, n) || (rel[n] && rel[n] != '/'))
		return NULL;
	size_t len = strlen(to) + strlen(rel + n) + 1;
	char *full = malloc(len);
	if (full)
		snprintf(full, len, "%s%s", to, rel + n);
	return full;
}

mode_t share_safe_mode(uint32_t mode)
{
	return mode & 01777;
}

bool share_may_mknod(uint32_t mode)
{
	return S_ISFIFO(mode) || S_ISSOCK(mode);
}

bool share_may_chown(mode_t mode)
{
	return !S_ISCHR(mode) && !S_ISBLK(mode);
}

struct timespec share_time(bool change, bool now, uint64_t sec, uint64_t nsec)
{
	if (!change)
		return (struct timespec){ 0, UTIME_OMIT };
	if (now)
		return (struct timespec){ 0, UTIME_NOW };
	return (struct timespec){ (time_t)sec, (long)(nsec % 1000000000u) };
}

void share_own(int dirfd, const char *name, uint32_t uid, uint32_t gid)
{
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW)) {
		/* best effort: an unprivileged pagoda keeps its own ids */
	}
}

void share_own_fd(int fd, uint32_t uid, uint32_t gid)
{
	if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH)) { /* the sandbox's call, as share_own's */
		/* best effort, as share_own */
	}
}
