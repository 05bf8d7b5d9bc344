/* virtio-9p: a host directory the guest mounts by its tag (Linux: mount -t 9p -o
 * trans=virtio,version=9p2000.L TAG DIR), served by p9_server on the I/O thread. */
#ifndef PAGODA_VIRTIO_P9_H
#define PAGODA_VIRTIO_P9_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/share_dir.h"
#include "virtio_dev.h"

#define P9_TAG_MAX 64

struct p9_stats {
	uint64_t requests, errors;
	unsigned int fids;
};

/* Opens the directory and builds the device. NULL with a one-line message in err. */
struct virtio_dev *virtio_p9_create(const struct virtio_host *h, const struct fs_options *o, char *err,
				    size_t errlen);
struct p9_stats virtio_p9_stats(struct virtio_dev *d);

#endif
