/* A FUSE file server for one host directory: the protocol Linux's virtio-fs driver speaks
 * (FUSE 7.31 and later, the first with virtio-fs), served in-process. Every byte of a
 * request is the guest's: lengths, node IDs, file handles, names and offsets are checked
 * before use, and the guest reaches nothing outside the directory (share_dir.h's rules).
 * Only regular files and directories are opened.
 *
 * Nodes are the files the guest has looked up, one per host inode (so hard links share
 * one), found by their path below the root and counted as FUSE counts lookups: a FORGET
 * frees them. File handles are host fds of files the guest opened.
 *
 * Requests are served synchronously by the caller's thread. Not thread-safe. */
#ifndef PAGODA_VIRTIO_FUSE_SERVER_H
#define PAGODA_VIRTIO_FUSE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUSE_SRV_MAX_WRITE (128u << 10)                 /* the most one WRITE or READ moves */
#define FUSE_SRV_MSG_MAX   (FUSE_SRV_MAX_WRITE + 4096u) /* the largest request or reply */
#define FUSE_SRV_MAX_NODES (1u << 20)
#define FUSE_SRV_MAX_HANDLES 8192u

struct fuse_server;

/* Shares the directory root (read-only when ro). NULL with a one-line message in err. */
struct fuse_server *fuse_server_create(const char *root, bool ro, char *err, size_t errlen);
void fuse_server_destroy(struct fuse_server *s);
/* Forgets every node and closes every handle; the next request must be FUSE_INIT (a
 * device reset). */
void fuse_server_reset(struct fuse_server *s);
/* Serves the request in req[0, len) and writes the reply to rep, of room bytes. Returns
 * the reply's length: 0 for a request that has none (FORGET) and for one too short to
 * answer. A malformed request gets an error reply. */
size_t fuse_server_handle(struct fuse_server *s, const uint8_t *req, size_t len, uint8_t *rep, size_t room);
/* Nodes the guest holds besides the root, and open handles (statistics, tests). */
unsigned int fuse_server_nodes(const struct fuse_server *s);
unsigned int fuse_server_handles(const struct fuse_server *s);

#endif
