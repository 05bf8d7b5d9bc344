/* A 9P request being served, and what virtio/fs/p9_server.c (the server, files) and
 * virtio/fs/p9_names.c (names: walks, entries made, renamed, removed, listed) share.
 * Each handler reads its request from q->in and writes its reply's body to q->out;
 * it returns 0 or the errno the guest gets as Rlerror. */
#ifndef PAGODA_VIRTIO_FS_P9_REQ_H
#define PAGODA_VIRTIO_FS_P9_REQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "p9_fids.h"
#include "p9_wire.h"
#include "share_dir.h"

struct p9_server {
	struct share_dir share;
	uint32_t msize;
	struct p9_fids fids;
	/* getdents64's output: the server's own, since two shares' requests can be served
	 * at once (a virtio-pci notify runs on the vCPU thread that wrote it) */
	char dirbuf[64 << 10];
};

struct req {
	struct p9_server *s;
	struct rd in;
	struct wr out;
};

/* 9P2000.L's open flags (the generic Linux values, which arm64's O_DIRECTORY is not). */
#define P9_EXCL 00000200u
#define P9_TRUNC 00001000u
#define P9_APPEND 00002000u
#define P9_DIRECTORY 00200000u

/* The fid's attributes (a mount point's directory: the directory's own). 0 or errno. */
int p9_fstat_fid(struct p9_server *s, struct p9_fid *f, struct stat *st);
/* The open flags a guest may ask for: access mode, truncate, append, directory; *write
 * whether they change the file. The flags, or -errno. */
int p9_open_flags(struct p9_server *s, uint32_t flags, bool *write);
/* Tread's and Treaddir's fid (open), offset and count, the count cut to what the reply
 * holds after its own count field. */
int p9_io_args(struct req *q, struct p9_fid **f, uint64_t *off, uint32_t *count);

/* virtio/fs/p9_names.c */
int p9_walk(struct req *q);
int p9_lcreate(struct req *q);
int p9_readdir(struct req *q);
int p9_mkdir(struct req *q);
int p9_symlink(struct req *q);
int p9_mknod(struct req *q);
int p9_link(struct req *q);
int p9_readlink(struct req *q);
int p9_renameat(struct req *q);
int p9_rename(struct req *q);
int p9_unlinkat(struct req *q);

#endif
