/* A 9P2000.L file server for one host directory (the protocol Linux's v9fs speaks over
 * virtio-9p). Every byte of a request is the guest's: lengths, counts, fids, names and
 * offsets are checked before use, and the guest can reach nothing outside the shared
 * directory (share_dir.h's rules); only regular files and directories can be opened (no
 * host device nodes or FIFOs).
 *
 * Requests are served synchronously by the caller's thread. Not thread-safe. */
#ifndef PAGODA_VIRTIO_P9_SERVER_H
#define PAGODA_VIRTIO_P9_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define P9_MSIZE_MAX (256u << 10) /* the largest message pagoda negotiates */
#define P9_MAX_FIDS 8192
#define P9_HEADER 7               /* size[4] type[1] tag[2] */

struct p9_server;

/* Shares the directory root (read-only when ro). NULL with a one-line message in err. */
struct p9_server *p9_server_create(const char *root, bool ro, char *err, size_t errlen);
void p9_server_destroy(struct p9_server *s);
/* Forgets every fid (a device reset). */
void p9_server_reset(struct p9_server *s);
/* Serves the request in req[0, len) and writes the reply to rep, of room bytes (at
 * least P9_HEADER + 4 for an error reply). Returns the reply's length, 0 when no reply
 * fits (the request's tag is then unanswered). A malformed request gets an Rlerror. */
size_t p9_server_handle(struct p9_server *s, const uint8_t *req, size_t len, uint8_t *rep, size_t room);
/* Open fids now (statistics, tests). */
unsigned int p9_server_fids(const struct p9_server *s);

#endif
