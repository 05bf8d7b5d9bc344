/* virtio-fs: a host directory the guest mounts by its tag (Linux: mount -t virtiofs TAG
 * DIR), served by fuse_server on the I/O thread. One request queue beside the
 * high-priority queue (which carries FORGETs). No DAX window: file data moves through
 * the queues. */
#ifndef PAGODA_VIRTIO_VIRTIOFS_H
#define PAGODA_VIRTIO_VIRTIOFS_H

#include "p9.h"
#include "virtio_dev.h"

#define VIRTIOFS_TAG_MAX 36 /* the config space's tag field, not NUL-terminated */

struct virtiofs_stats {
	uint64_t requests, errors;
	unsigned int nodes, handles;
};

/* Opens the directory and builds the device. NULL with a one-line message in err. */
struct virtio_dev *virtio_fs_create(const struct virtio_host *h, const struct fs_options *o, char *err,
				    size_t errlen);
struct virtiofs_stats virtio_fs_stats(struct virtio_dev *d);

#endif
