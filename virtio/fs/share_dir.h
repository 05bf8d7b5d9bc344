/* A host directory shared with the guest, and the rules every file server for it (9P,
 * FUSE) keeps: the guest reaches nothing outside it. Files are found by their path below
 * the root and opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_XDEV) from the root (symlinks are the guest's to resolve, never the
 * server's; other file systems mounted below the share are not part of it); names the
 * guest gives are single path components; the guest sets no set-user-ID bits and makes
 * no device nodes. */
#ifndef PAGODA_VIRTIO_SHARE_DIR_H
#define PAGODA_VIRTIO_SHARE_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* A share as the command line gives it (--fs). */
enum fs_proto { FS_9P, FS_VIRTIOFS };
struct fs_options {
	const char *path;
	const char *tag;   /* the mount tag: < 64 bytes for 9P, <= 36 for virtio-fs */
	bool read_only;
	enum fs_proto proto;
};

struct share_dir {
	int root_fd;  /* O_PATH */
	bool ro;
	dev_t dev;    /* the root's file system */
};

/* Descriptors the file servers keep (a fid's two, a handle's one) come from one budget
 * for the whole process, so that a guest holding files open in every share cannot take
 * the descriptors the control socket, disks, taps, snapshots and migrations need:
 * share_fd_budget sets it (the VMM: RLIMIT_NOFILE less what it keeps for itself); until
 * then there is no limit. share_fd_charge takes n (false, nothing taken, when the budget
 * is spent: the guest gets ENFILE); share_fd_refund gives them back. */
void share_fd_budget(long nr);
bool share_fd_charge(int n);
void share_fd_refund(int n);
long share_fd_left(void);

/* Opens root; -1 with a one-line message in err. */
int share_dir_open(struct share_dir *d, const char *root, bool ro, char *err, size_t errlen);
void share_dir_close(struct share_dir *d);

/* Opens the file at rel ("" is the root) beneath the root, never following a symlink:
 * the fd or -errno. */
int share_open(const struct share_dir *d, const char *rel, int flags, mode_t mode);
/* Opens for I/O the file held by path_fd (an O_PATH fd) with flags (an access mode,
 * O_TRUNC, O_APPEND, O_DIRECTORY), only when it is a regular file or a directory: the
 * inode checked is the inode opened (through /proc/self/fd, never by its name again), so
 * a device node or FIFO renamed over the name meanwhile is never opened. st gets its
 * attributes. The fd, or -errno: -EACCES for any other type of file. */
int share_reopen(int path_fd, int flags, struct stat *st);
/* The same for the file at rel, its name resolved once (share_open, O_PATH). */
int share_open_file(const struct share_dir *d, const char *rel, int flags, struct stat *st);
/* Creates the regular file name in dirfd (rel: its path below the root) or, unless excl,
 * opens the one already there: an existing name of any other type is never opened
 * (-EACCES; a directory -EISDIR). *path_fd (O_PATH) names the same inode as the fd;
 * *created says which case it was. The fd, or -errno. */
int share_create(const struct share_dir *d, int dirfd, const char *name, const char *rel, int flags, mode_t mode,
		 bool excl, struct stat *st, int *path_fd, bool *created);
/* The attributes of the file at rel. A mount point below the root (another file system,
 * which the share does not show: /proc, /tmp... when the share is /) is an empty
 * read-only directory, *hollow set, with an identity (st_dev, st_ino) drawn from what is
 * mounted there, so that each is a directory of its own. What lies below one does not
 * exist.
 * 0 or -errno. */
int share_stat(const struct share_dir *d, const char *rel, struct stat *st, bool *hollow);
/* The directory that holds rel's file, opened O_PATH, and the file's name in it (*name
 * points into rel). -EBUSY for the root, which has no directory here. */
int share_open_parent(const struct share_dir *d, const char *rel, const char **name);

/* One path component: not empty, no slash, not "." or "..". */
bool share_valid_name(const char *n);
/* rel + "/" + name, malloc'd; NULL when too long for a path or out of memory. */
char *share_join(const char *rel, const char *name);
/* rel without its last component, malloc'd ("" for a name at the root). */
char *share_parent(const char *rel);
/* After from was renamed to to: rel's new path when rel is from or below it (malloc'd),
 * else NULL. */
char *share_moved(const char *rel, const char *from, const char *to);

/* Permission bits the guest may set: no set-user-ID or set-group-ID, which would hand
 * the guest's choice of owner to whoever runs the file on the host. */
mode_t share_safe_mode(uint32_t mode);
/* Whether the guest may make a node of this type with mknod: a FIFO or a socket. A
 * device node in the share would open the host's device. */
bool share_may_mknod(uint32_t mode);
/* Whether the guest may change the owner of a file of this type: never a device node,
 * which would hand a host device to whichever user the guest names. */
bool share_may_chown(mode_t mode);
/* A time for futimens as the guest asks it: unchanged (UTIME_OMIT) unless change, then
 * now (UTIME_NOW) or sec.nsec (nanoseconds past a second folded back). */
struct timespec share_time(bool change, bool now, uint64_t sec, uint64_t nsec);
/* Hands what the guest just made in dirfd to uid:gid; best effort (an unprivileged
 * pagoda keeps its own ids). */
void share_own(int dirfd, const char *name, uint32_t uid, uint32_t gid);
/* The same through an fd of what was made (no name to be swapped meanwhile). */
void share_own_fd(int fd, uint32_t uid, uint32_t gid);

#endif
