/* A FUSE request being served, and what virtio/fs/fuse_server.c (the server, files,
 * handles) and virtio/fs/fuse_names.c (names: looked up, made, linked, renamed,
 * removed, listed) share. Each operation reads its arguments with take*, writes its
 * reply's body with reply, and returns 0 or the errno the guest gets. */
#ifndef PAGODA_VIRTIO_FS_FUSE_REQ_H
#define PAGODA_VIRTIO_FS_FUSE_REQ_H

#include <limits.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse_nodes.h"
#include "fuse_server.h"
#include "share_dir.h"

#define VALID_S 1           /* how long the guest may trust names and attributes */

struct fuse_server {
	struct share_dir share;
	bool inited;
	struct fuse_nodes nodes;
	struct fuse_handle {
		int fd;         /* the host fd; -1: free */
		bool hollow;    /* a mount point's directory: lists nothing */
	} *handles;
	uint32_t nr_handles;
	char *dirbuf;       /* getdents64's output */
};

struct req {
	struct fuse_server *s;
	struct fuse_in_header h;
	const uint8_t *arg;       /* the arguments after the header */
	size_t arg_len, arg_off;
	uint8_t *body;            /* the reply after its header */
	size_t room, len;
};

/* Copies the next n bytes of the arguments; false when the request is shorter. */
static inline bool take(struct req *q, void *dst, size_t n)
{
	if (n > q->arg_len - q->arg_off)
		return false;
	memcpy(dst, q->arg + q->arg_off, n);
	q->arg_off += n;
	return true;
}

/* The next NUL-terminated string of the arguments, at most max bytes before the NUL;
 * NULL when there is none. */
static inline const char *take_str(struct req *q, size_t max)
{
	const char *p = (const char *)q->arg + q->arg_off;
	const char *nul = memchr(p, 0, q->arg_len - q->arg_off);
	if (!nul || (size_t)(nul - p) > max)
		return NULL;
	q->arg_off += (size_t)(nul - p) + 1;
	return p;
}

/* The next argument as a name in a directory; NULL when it is none. */
static inline const char *take_name(struct req *q)
{
	const char *n = take_str(q, NAME_MAX);
	return n && share_valid_name(n) ? n : NULL;
}

/* n more bytes of reply body, zeroed; NULL when the reply has no room for them. */
static inline void *reply(struct req *q, size_t n)
{
	if (n > q->room - q->len)
		return NULL;
	void *p = q->body + q->len;
	memset(p, 0, n);
	q->len += n;
	return p;
}

/* virtio/fs/fuse_server.c */
/* A handle for fd (taken): the fh, or -ENFILE when every handle is in use. */
int64_t fuse_handle_new(struct fuse_server *s, int fd, bool hollow);
struct fuse_handle *fuse_handle_of(struct fuse_server *s, uint64_t fh);
void fuse_handle_close(struct fuse_server *s, uint64_t fh);
void fuse_fill_attr(struct fuse_attr *a, const struct stat *st);
/* The open flags a guest may ask for: access mode, truncate, append; or -errno. */
int fuse_open_flags(const struct fuse_server *s, uint32_t flags);

/* virtio/fs/fuse_names.c */
int fuse_op_lookup(struct req *q);
int fuse_op_forget(struct req *q);
int fuse_op_batch_forget(struct req *q);
int fuse_op_readlink(struct req *q);
int fuse_op_mkdir(struct req *q);
int fuse_op_mknod(struct req *q);
int fuse_op_symlink(struct req *q);
int fuse_op_remove(struct req *q, int flags);
int fuse_op_rename(struct req *q, bool v2);
int fuse_op_link(struct req *q);
int fuse_op_create(struct req *q);
int fuse_op_readdir(struct req *q);

#endif
