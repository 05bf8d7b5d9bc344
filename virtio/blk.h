/* virtio-blk on a raw image: reads and writes through io_uring (or plain preadv/pwritev,
 * the baseline the block benchmark compares against), flush, discard (punched holes),
 * read-only images that refuse writes. */
#ifndef PAGODA_VIRTIO_BLK_H
#define PAGODA_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio_dev.h"

struct blk_options {
	const char *path;
	bool read_only;
	bool direct;       /* cache=none: O_DIRECT, no host page cache */
	bool sync_io;      /* io=sync: preadv/pwritev on the I/O thread instead of io_uring */
};

struct blk_stats {
	uint64_t reads, writes, flushes, discards, errors;
	uint64_t bytes_read, bytes_written;
};

struct virtio_blk;

/* Opens the image and builds the device (not yet on a transport). NULL with a one-line
 * message in err: missing file, size not a multiple of 512, no O_DIRECT... */
struct virtio_blk *virtio_blk_create(const struct virtio_host *h, const struct blk_options *o,
				     const char *name, char *err, size_t errlen);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);
struct blk_stats virtio_blk_stats(struct virtio_blk *b);

#endif
