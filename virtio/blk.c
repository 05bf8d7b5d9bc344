#include "blk.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uring.h"

#define SECTOR 512ULL
#define RING_ENTRIES VIRTQ_MAX_SIZE  /* never more requests in flight than the queue holds */
#define MAX_DISCARD_SEGS 32

struct blk_req {
	struct virtq_chain chain;
	uint8_t *status;
	uint32_t type;
	uint64_t offset;
	uint64_t expect;               /* bytes the transfer must move */
	unsigned int nr_data;
	struct iovec data[VIRTQ_MAX_SEGS];
};

struct virtio_blk {
	struct virtio_dev dev;
	struct virtio_blk_config cfg;
	struct blk_options opt;
	int fd;
	uint64_t size;
	char serial[VIRTIO_BLK_ID_BYTES];
	struct io_uring ring;
	bool have_ring;
	int ring_efd;
	unsigned int inflight;
	bool dropping;                 /* resetting: completions are not handed back */
	struct blk_stats st;
};

static void finish(struct virtio_blk *b, struct blk_req *r, uint8_t status)
{
	*r->status = status;
	if (status != VIRTIO_BLK_S_OK)
		b->st.errors++;
	uint32_t written = (r->type == VIRTIO_BLK_T_IN && status == VIRTIO_BLK_S_OK) ? (uint32_t)r->expect : 0;
	if (r->type == VIRTIO_BLK_T_GET_ID)
		written = (uint32_t)r->expect;
	if (!b->dropping)
		virtq_push(&b->dev.vqs[0], &r->chain, written + 1);
	free(r);
}

static bool in_range(const struct virtio_blk *b, uint64_t offset, uint64_t len)
{
	return offset <= b->size && len <= b->size - offset;
}

static uint8_t do_discard(struct virtio_blk *b, struct blk_req *r)
{
	struct virtio_blk_discard_write_zeroes seg[MAX_DISCARD_SEGS];
	size_t bytes = r->chain.out_len - sizeof(struct virtio_blk_outhdr);
	if (bytes == 0 || bytes % sizeof(seg[0]) || bytes > sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	iov_to_buf(r->chain.out, r->chain.nr_out, sizeof(struct virtio_blk_outhdr), seg, bytes);
	for (size_t i = 0; i < bytes / sizeof(seg[0]); i++) {
		uint64_t off = seg[i].sector * SECTOR, len = (uint64_t)seg[i].num_sectors * SECTOR;
		if (seg[i].sector > b->size / SECTOR || !in_range(b, off, len) || seg[i].flags)
			return VIRTIO_BLK_S_IOERR;
		if (len && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
			return errno == EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
	}
	b->st.discards++;
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_sync_io(struct virtio_blk *b, struct blk_req *r)
{
	struct iovec *iov = r->data;
	unsigned int n = r->nr_data;
	uint64_t off = r->offset, left = r->expect;
	while (left) {
		ssize_t k = r->type == VIRTIO_BLK_T_IN ? preadv(b->fd, iov, (int)n, (off_t)off)
						       : pwritev(b->fd, iov, (int)n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return VIRTIO_BLK_S_IOERR;
		off += (uint64_t)k;
		left -= (uint64_t)k;
		/* A short transfer: go on from where it stopped. */
		while (n && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return VIRTIO_BLK_S_OK;
}

static void count(struct virtio_blk *b, const struct blk_req *r)
{
	if (r->type == VIRTIO_BLK_T_IN) {
		b->st.reads++;
		b->st.bytes_read += r->expect;
	} else if (r->type == VIRTIO_BLK_T_OUT) {
		b->st.writes++;
		b->st.bytes_written += r->expect;
	} else if (r->type == VIRTIO_BLK_T_FLUSH) {
		b->st.flushes++;
	}
}

/* Queues a read, write or flush on the ring; false when the ring has no room. */
static bool submit_uring(struct virtio_blk *b, struct blk_req *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	if (!sqe)
		return false;
	if (r->type == VIRTIO_BLK_T_IN)
		io_uring_prep_readv(sqe, b->fd, r->data, r->nr_data, r->offset);
	else if (r->type == VIRTIO_BLK_T_OUT)
		io_uring_prep_writev(sqe, b->fd, r->data, r->nr_data, r->offset);
	else
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, r);
	b->inflight++;
	return true;
}

/* Checks the request and works out its data buffers; a status, or -1 to go on. */
static int prepare(struct virtio_blk *b, struct blk_req *r, const struct virtio_blk_outhdr *h)
{
	const struct virtq_chain *c = &r->chain;
	uint64_t in_data = c->in_len - 1; /* the status byte ends the last writable buffer */
	r->type = h->type;
	r->offset = h->sector * SECTOR;
	switch (h->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		r->expect = h->type == VIRTIO_BLK_T_IN ? in_data : c->out_len - sizeof(*h);
		if (h->type == VIRTIO_BLK_T_OUT && b->opt.read_only)
			return VIRTIO_BLK_S_IOERR;
		if (r->expect % SECTOR || h->sector > b->size / SECTOR || !in_range(b, r->offset, r->expect))
			return VIRTIO_BLK_S_IOERR;
		r->nr_data = h->type == VIRTIO_BLK_T_IN ? iov_slice(c->in, c->nr_in, 0, r->expect, r->data)
							: iov_slice(c->out, c->nr_out, sizeof(*h), r->expect, r->data);
		return r->expect ? -1 : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return -1;
	case VIRTIO_BLK_T_GET_ID:
		r->expect = iov_from_buf(c->in, c->nr_in, 0, b->serial, in_data < sizeof(b->serial) ? in_data : sizeof(b->serial));
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
		return b->opt.read_only ? VIRTIO_BLK_S_IOERR : do_discard(b, r);
	}
	return VIRTIO_BLK_S_UNSUPP;
}

/* One chain from the queue: done at once (errors, discard, sync I/O) or on the ring. */
static void handle(struct virtio_blk *b, struct blk_req *r)
{
	struct virtq_chain *c = &r->chain;
	struct virtio_blk_outhdr h;
	if (c->out_len < sizeof(h) || c->in_len < 1) {
		free(r);
		virtio_dev_broken(&b->dev, "request without a header or a status byte");
		return;
	}
	iov_to_buf(c->out, c->nr_out, 0, &h, sizeof(h));
	struct iovec *last = &c->in[c->nr_in - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	int status = prepare(b, r, &h);
	if (status >= 0) {
		finish(b, r, (uint8_t)status);
		return;
	}
	count(b, r);
	if (!b->have_ring) {
		finish(b, r, r->type == VIRTIO_BLK_T_FLUSH ? (fdatasync(b->fd) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK)
							   : do_sync_io(b, r));
		return;
	}
	if (!submit_uring(b, r)) {
		io_uring_submit(&b->ring);
		if (!submit_uring(b, r))
			finish(b, r, VIRTIO_BLK_S_IOERR);
	}
}

static void blk_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_blk *b = (struct virtio_blk *)d;
	/* A driver may post a chain again while it is in flight (or reset the queue and
	 * refill it): no more than the queue holds is on the host at once (never more than
	 * the ring takes); the rest waits for completions, which pick it up. */
	while (b->inflight < d->vqs[q].num) {
		struct blk_req *r = malloc(sizeof(*r));
		if (!r)
			break; /* the driver will ring again */
		if (virtio_dev_pop(d, q, &r->chain) <= 0) {
			free(r);
			break;
		}
		handle(b, r);
	}
	if (b->have_ring)
		io_uring_submit(&b->ring);
	virtio_dev_used(d, q);
}

static void reap(struct virtio_blk *b)
{
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		struct blk_req *r = io_uring_cqe_get_data(cqe);
		bool ok = r->type == VIRTIO_BLK_T_FLUSH ? cqe->res == 0 : (uint64_t)cqe->res == r->expect;
		io_uring_cqe_seen(&b->ring, cqe);
		b->inflight--;
		finish(b, r, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
	}
}

static void on_completion(void *opaque, uint32_t events)
{
	struct virtio_blk *b = opaque;
	uint64_t n;
	(void)events;
	if (read(b->ring_efd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&b->dev.lock);
	reap(b);
	if (virtio_dev_live(&b->dev) && b->dev.vqs[0].ready)
		blk_notify(&b->dev, 0); /* what waited for room on the ring; interrupts */
	pthread_mutex_unlock(&b->dev.lock);
}

/* The driver reset the device: wait for what is on the ring, hand nothing back. */
static void wait_inflight(struct virtio_blk *b)
{
	while (b->have_ring && b->inflight) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&b->ring, &cqe) == 0)
			reap(b);
	}
}

static void blk_reset(struct virtio_dev *d)
{
	struct virtio_blk *b = (struct virtio_blk *)d;
	b->dropping = true;
	wait_inflight(b);
	b->dropping = false;
}

/* Before a snapshot: every request on the ring completes and goes back to the guest. */
static void blk_quiesce(struct virtio_dev *d)
{
	wait_inflight((struct virtio_blk *)d);
	if (virtio_dev_live(d))
		virtio_dev_used(d, 0);
}

static void blk_destroy(struct virtio_dev *d)
{
	struct virtio_blk *b = (struct virtio_blk *)d;
	blk_reset(d);
	if (b->have_ring)
		io_uring_queue_exit(&b->ring);
	if (b->ring_efd >= 0)
		close(b->ring_efd);
	close(b->fd);
	virtio_dev_destroy_common(d);
	free(b);
}

static void blk_print_stats(struct virtio_dev *d, FILE *out)
{
	struct blk_stats b = virtio_blk_stats((struct virtio_blk *)d);
	fprintf(out, "stats: %s reads=%llu writes=%llu flushes=%llu discards=%llu errors=%llu read_bytes=%llu written_bytes=%llu\n",
		d->name, (unsigned long long)b.reads, (unsigned long long)b.writes, (unsigned long long)b.flushes,
		(unsigned long long)b.discards, (unsigned long long)b.errors, (unsigned long long)b.bytes_read,
		(unsigned long long)b.bytes_written);
}

static const struct virtio_dev_ops blk_ops = {
	.device_id = VIRTIO_ID_BLOCK, .nr_queues = 1,
	.queue_notify = blk_notify, .reset = blk_reset, .quiesce = blk_quiesce, .destroy = blk_destroy,
	.print_stats = blk_print_stats,
};

static int open_image(struct virtio_blk *b, char *err, size_t errlen)
{
	const struct blk_options *o = &b->opt;
	int flags = (o->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | (o->direct ? O_DIRECT : 0);
	struct stat st;
	if (stat(o->path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, errlen, "--disk %s: not a regular file or a block device", o->path);
		return -EINVAL;
	}
	b->fd = open(o->path, flags);
	if (b->fd < 0 && errno == EINVAL && o->direct) {
		snprintf(err, errlen, "--disk %s,cache=none: its file system does not do O_DIRECT (tmpfs?): drop cache=none or move the image", o->path);
		return -EINVAL;
	}
	if (b->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "--disk %s: %s%s", o->path, strerror(e),
			 e == EROFS || e == EACCES ? ": add ,ro to use it read-only" : "");
		return -e;
	}
	if (fstat(b->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &b->size) < 0)
			return -errno;
	} else if (S_ISREG(st.st_mode)) {
		b->size = (uint64_t)st.st_size;
	} else {
		snprintf(err, errlen, "--disk %s: not a regular file or a block device", o->path);
		return -EINVAL;
	}
	if (b->size % SECTOR) {
		snprintf(err, errlen, "--disk %s: its size (%llu bytes) is not a multiple of 512: pad it, e.g. truncate -s %%512 %s",
			 o->path, (unsigned long long)b->size, o->path);
		return -EINVAL;
	}
	return 0;
}

static int open_ring(struct virtio_blk *b, char *err, size_t errlen)
{
	static const uint8_t ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC };
	b->ring_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int e = b->ring_efd < 0 ? -errno : uring_open_restricted(&b->ring, RING_ENTRIES, b->ring_efd, ops, sizeof(ops));
	if (e) {
		snprintf(err, errlen, "--disk %s: io_uring: %s (io=sync works without it)", b->opt.path, strerror(-e));
		return e;
	}
	b->have_ring = true;
	e = b->dev.host->watch ? b->dev.host->watch(b->dev.host->ctx, b->ring_efd, EPOLLIN, on_completion, b) : 0;
	if (e)
		snprintf(err, errlen, "--disk %s: watching completions: %s", b->opt.path, strerror(-e));
	return e;
}

struct virtio_blk *virtio_blk_create(const struct virtio_host *h, const struct blk_options *o,
				     const char *name, char *err, size_t errlen)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->opt = *o;
	b->ring_efd = -1;
	b->fd = -1;
	int e = open_image(b, err, errlen);
	if (e) {
		if (b->fd >= 0)
			close(b->fd);
		free(b);
		return NULL;
	}
	uint64_t features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_FLUSH) |
			    (o->read_only ? 1ULL << VIRTIO_BLK_F_RO : 1ULL << VIRTIO_BLK_F_DISCARD);
	b->cfg = (struct virtio_blk_config){
		.capacity = b->size / SECTOR, .seg_max = VIRTQ_MAX_SEGS - 2,
		.max_discard_sectors = 1u << 22, .max_discard_seg = MAX_DISCARD_SEGS,
		.discard_sector_alignment = 4096 / SECTOR,
	};
	char devname[32];
	snprintf(devname, sizeof(devname), "virtio-blk %s", name);
	snprintf(b->serial, sizeof(b->serial), "pagoda-%s", name);
	virtio_dev_init(&b->dev, &blk_ops, h, devname, features, &b->cfg, sizeof(b->cfg));
	if (!o->sync_io && open_ring(b, err, errlen)) {
		blk_destroy(&b->dev);
		return NULL;
	}
	return b;
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *b)
{
	return &b->dev;
}

struct blk_stats virtio_blk_stats(struct virtio_blk *b)
{
	pthread_mutex_lock(&b->dev.lock);
	struct blk_stats s = b->st;
	pthread_mutex_unlock(&b->dev.lock);
	return s;
}
