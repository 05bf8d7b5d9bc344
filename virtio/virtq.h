/* Split virtqueues (virtio 1.x, section 2.7): the descriptor table, the available and used
 * rings, indirect descriptors and EVENT_IDX, as seen from the device. Everything in the
 * rings is written by the guest and so untrusted: addresses and lengths are resolved only
 * through guest_mem_ptr, and a chain that loops, is too long, leaves RAM or breaks the
 * rules makes virtq_pop fail; the transport then marks the device NEEDS_RESET. */
#ifndef PAGODA_VIRTIO_VIRTQ_H
#define PAGODA_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../mem/guest_mem.h"

#define VIRTQ_MAX_SIZE 256     /* QueueNumMax of every pagoda device */
#define VIRTQ_MAX_SEGS 128     /* buffers in one chain, direct and indirect together */

struct virtq {
	const struct guest_mem *mem;
	uint16_t num;              /* set by the driver: a power of two, <= VIRTQ_MAX_SIZE */
	bool ready;
	bool event_idx;            /* VIRTIO_RING_F_EVENT_IDX negotiated */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Resolved by virtq_enable, checked to lie in RAM with their whole size. */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;       /* the next available entry this device consumes */
	uint16_t used_idx;         /* the device's copy of used->idx */
	uint16_t signalled_used;   /* used_idx at the last notification (EVENT_IDX) */
	bool signalled_valid;
	/* Bumped whenever the driver resets, disables or re-enables the queue: a chain popped
	 * before belongs to rings that may have moved, so it can never be pushed. */
	uint32_t epoch;
};

/* One descriptor chain: the buffers the device reads (out) and those it writes (in), in
 * order, with their guest addresses (for dirty tracking of late writes). */
struct virtq_chain {
	uint16_t head;
	unsigned int nr_out, nr_in;
	struct iovec out[VIRTQ_MAX_SEGS];
	struct iovec in[VIRTQ_MAX_SEGS];
	uint64_t in_gpa[VIRTQ_MAX_SEGS];
	uint64_t out_len, in_len;  /* total bytes of each direction */
	uint32_t epoch;            /* the queue's epoch when it was popped */
};

/* Resets everything the driver set; the queue is then disabled. Chains popped before are
 * dead (virtq_push drops them). */
void virtq_reset(struct virtq *vq, const struct guest_mem *mem);
/* The driver wrote 0 to QueueReady: the queue stops, its chains in flight are dead, and
 * the driver may now move its rings. */
void virtq_disable(struct virtq *vq);
/* Whether c was popped from the queue as it is now (enabled, same rings). */
bool virtq_chain_live(const struct virtq *vq, const struct virtq_chain *c);
/* Checks and maps the rings at the addresses and size the driver gave. 0, or -EINVAL with
 * why in *why (a static string). */
int virtq_enable(struct virtq *vq, const char **why);

/* 1 with a chain in *c, 0 when the driver has made nothing available, -EINVAL when the
 * ring or the chain is malformed (*why says how). */
int virtq_pop(struct virtq *vq, struct virtq_chain *c, const char **why);
/* Gives back the last chain popped (a device that found no room for it yet). */
void virtq_unpop(struct virtq *vq);
/* Returns a chain to the driver with len bytes written into its in buffers (len is
 * capped at what those buffers hold); re-marks them dirty (a device may have written them
 * long after virtq_pop). A dead chain (the queue was reset or disabled since its pop) is
 * dropped: false. */
bool virtq_push(struct virtq *vq, const struct virtq_chain *c, uint32_t len);
/* Whether the driver wants an interrupt for what was pushed since the last time this
 * said yes (EVENT_IDX's used_event, or VRING_AVAIL_F_NO_INTERRUPT). */
bool virtq_should_notify(struct virtq *vq);

/* Copies up to len bytes at offset off of an iovec array; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t off, const void *buf, size_t len);
/* [skip, skip+len) of src as iovecs in dst (at most n entries); returns how many. */
unsigned int iov_slice(const struct iovec *src, unsigned int n, size_t skip, size_t len, struct iovec *dst);

#endif
