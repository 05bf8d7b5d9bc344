#include "virtq.h"

#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

/* Ring sizes with the trailing event field (used_event / avail_event). */
static uint64_t avail_size(uint16_t num) { return 6 + 2ULL * num; }
static uint64_t used_size(uint16_t num) { return 6 + 8ULL * num; }

void virtq_reset(struct virtq *vq, const struct guest_mem *mem)
{
	*vq = (struct virtq){ .mem = mem, .num = VIRTQ_MAX_SIZE, .epoch = vq->epoch + 1 };
}

void virtq_disable(struct virtq *vq)
{
	vq->ready = false;
	vq->epoch++;
}

bool virtq_chain_live(const struct virtq *vq, const struct virtq_chain *c)
{
	return vq->ready && c->epoch == vq->epoch;
}

int virtq_enable(struct virtq *vq, const char **why)
{
	uint16_t n = vq->num;
	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1))) {
		*why = "queue size is not a power of two up to QueueNumMax";
		return -EINVAL;
	}
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3)) {
		*why = "ring address is misaligned";
		return -EINVAL;
	}
	vq->desc = guest_mem_ptr(vq->mem, vq->desc_gpa, 16ULL * n, GUEST_READ);
	vq->avail = guest_mem_ptr(vq->mem, vq->avail_gpa, avail_size(n), GUEST_READ);
	vq->used = guest_mem_ptr(vq->mem, vq->used_gpa, used_size(n), GUEST_READ);
	if (!vq->desc || !vq->avail || !vq->used) {
		*why = "ring lies outside guest RAM";
		return -EINVAL;
	}
	vq->last_avail = vq->used_idx = 0; /* a fresh queue, as the spec starts it */
	vq->signalled_valid = false;
	vq->ready = true;
	vq->epoch++;
	return 0;
}

/* Adds one buffer to the chain, checking it lies in RAM and keeps the order the spec
 * demands (every device-readable buffer before every device-writable one). */
static int add_buf(struct virtq *vq, struct virtq_chain *c, const struct vring_desc *d,
		   const char **why)
{
	uint64_t gpa = d->addr;
	uint32_t len = d->len;
	bool write = d->flags & VRING_DESC_F_WRITE;
	if (c->nr_out + c->nr_in >= VIRTQ_MAX_SEGS) {
		*why = "descriptor chain is longer than the device accepts";
		return -EINVAL;
	}
	if (!write && c->nr_in) {
		*why = "device-readable descriptor after a device-writable one";
		return -EINVAL;
	}
	if (len == 0)
		return 0; /* nothing to transfer; harmless */
	void *p = guest_mem_ptr(vq->mem, gpa, len, write ? GUEST_WRITE : GUEST_READ);
	if (!p) {
		*why = "descriptor buffer lies outside guest RAM";
		return -EINVAL;
	}
	if (write) {
		c->in_gpa[c->nr_in] = gpa;
		c->in[c->nr_in++] = (struct iovec){ p, len };
		c->in_len += len;
	} else {
		c->out[c->nr_out++] = (struct iovec){ p, len };
		c->out_len += len;
	}
	return 0;
}

/* An indirect table: a chain of its own, which may not hold another indirect one. */
static int walk_indirect(struct virtq *vq, struct virtq_chain *c, const struct vring_desc *d,
			 const char **why)
{
	if (d->len == 0 || d->len % 16 || d->len / 16 > VIRTQ_MAX_SEGS || (d->flags & VRING_DESC_F_NEXT)) {
		*why = "indirect descriptor table has a bad length or flags";
		return -EINVAL;
	}
	uint32_t n = d->len / 16;
	const struct vring_desc *t = guest_mem_ptr(vq->mem, d->addr, d->len, GUEST_READ);
	if (!t) {
		*why = "indirect descriptor table lies outside guest RAM";
		return -EINVAL;
	}
	uint32_t i = 0;
	for (uint32_t steps = 0;; steps++) {
		struct vring_desc e;
		memcpy(&e, &t[i], sizeof(e)); /* once: the guest may change it under us */
		if (steps >= n) {
			*why = "indirect descriptor chain loops";
			return -EINVAL;
		}
		if (e.flags & VRING_DESC_F_INDIRECT) {
			*why = "indirect descriptor inside an indirect table";
			return -EINVAL;
		}
		int r = add_buf(vq, c, &e, why);
		if (r)
			return r;
		if (!(e.flags & VRING_DESC_F_NEXT))
			return 0;
		if (e.next >= n) {
			*why = "indirect descriptor's next is outside its table";
			return -EINVAL;
		}
		i = e.next;
	}
}

static int walk_chain(struct virtq *vq, struct virtq_chain *c, uint16_t head, const char **why)
{
	uint16_t i = head;
	for (unsigned int steps = 0;; steps++) {
		if (steps >= vq->num) {
			*why = "descriptor chain loops or is longer than the queue";
			return -EINVAL;
		}
		struct vring_desc d;
		memcpy(&d, &vq->desc[i], sizeof(d));
		int r;
		if (d.flags & VRING_DESC_F_INDIRECT)
			r = walk_indirect(vq, c, &d, why);
		else
			r = add_buf(vq, c, &d, why);
		if (r)
			return r;
		if ((d.flags & VRING_DESC_F_INDIRECT) || !(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= vq->num) {
			*why = "descriptor's next index is outside the queue";
			return -EINVAL;
		}
		i = d.next;
	}
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c, const char **why)
{
	uint16_t avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0)
		return 0;
	if (pending > vq->num) {
		*why = "available index ran more than a queue ahead";
		return -EINVAL;
	}
	uint16_t head = __atomic_load_n(&vq->avail->ring[vq->last_avail % vq->num], __ATOMIC_RELAXED);
	if (head >= vq->num) {
		*why = "available ring names a descriptor outside the queue";
		return -EINVAL;
	}
	c->head = head;
	c->epoch = vq->epoch;
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	int r = walk_chain(vq, c, head, why);
	if (r)
		return r;
	vq->last_avail++;
	if (vq->event_idx) /* avail_event: wake me for anything after what I have taken */
		__atomic_store_n((uint16_t *)((uint8_t *)vq->used + 4 + 8ULL * vq->num), vq->last_avail, __ATOMIC_RELAXED);
	return 1;
}

void virtq_unpop(struct virtq *vq)
{
	vq->last_avail--;
}

bool virtq_push(struct virtq *vq, const struct virtq_chain *c, uint32_t len)
{
	for (unsigned int i = 0; i < c->nr_in; i++) /* written even when the queue moved on */
		guest_mem_ptr(vq->mem, c->in_gpa[i], c->in[i].iov_len, GUEST_WRITE);
	if (!virtq_chain_live(vq, c))
		return false;
	/* The used ring was checked at enable and the epoch says it has not moved since, so
	 * these lie in RAM; they are re-resolved only to mark the pages dirty. */
	uint16_t slot = vq->used_idx % vq->num;
	struct vring_used_elem *e = guest_mem_ptr(vq->mem, vq->used_gpa + 4 + 8ULL * slot, 8, GUEST_WRITE);
	uint16_t *idx = guest_mem_ptr(vq->mem, vq->used_gpa + 2, 2, GUEST_WRITE);
	if (!e || !idx)
		return false;
	e->id = c->head;
	e->len = len < c->in_len ? len : (uint32_t)c->in_len;
	vq->used_idx++;
	__atomic_store_n(idx, vq->used_idx, __ATOMIC_RELEASE);
	return true;
}

bool virtq_should_notify(struct virtq *vq)
{
	/* The used index must be visible before the driver's flags or used_event are read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->ready)
		return false; /* disabled: its rings may be gone */
	uint16_t old = vq->signalled_used, now = vq->used_idx;
	bool valid = vq->signalled_valid;
	if (valid && old == now)
		return false; /* nothing new since the last interrupt */
	vq->signalled_used = now;
	vq->signalled_valid = true;
	if (!vq->event_idx)
		return !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	uint16_t used_event = __atomic_load_n(&vq->avail->ring[vq->num], __ATOMIC_RELAXED);
	return vring_need_event(used_event, now, old);
}

/* Copies between a buffer and [off, off+len) of an iovec array; the bytes copied. */
static size_t iov_copy(const struct iovec *iov, unsigned int n, size_t off, uint8_t *buf, size_t len,
		       bool into_iov)
{
	size_t done = 0;
	for (unsigned int i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - off;
		if (k > len - done)
			k = len - done;
		uint8_t *at = (uint8_t *)iov[i].iov_base + off;
		memcpy(into_iov ? at : buf + done, into_iov ? buf + done : at, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len)
{
	return iov_copy(iov, n, off, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t off, const void *buf, size_t len)
{
	return iov_copy(iov, n, off, (uint8_t *)buf, len, true);
}

unsigned int iov_slice(const struct iovec *src, unsigned int n, size_t skip, size_t len, struct iovec *dst)
{
	unsigned int k = 0;
	for (unsigned int i = 0; i < n && len; i++) {
		if (skip >= src[i].iov_len) {
			skip -= src[i].iov_len;
			continue;
		}
		size_t take = src[i].iov_len - skip;
		if (take > len)
			take = len;
		dst[k++] = (struct iovec){ (uint8_t *)src[i].iov_base + skip, take };
		len -= take;
		skip = 0;
	}
	return k;
}
