#include "vio.h"

#include "rt.h"

static struct vio_rings {
	struct vio_desc desc[VIO_QSIZE] __attribute__((aligned(4096)));
	struct vio_avail avail __attribute__((aligned(4096)));
	struct vio_used used __attribute__((aligned(4096)));
} rings[VIO_RING_SETS];

uint32_t vio_read(const struct vio *d, uint32_t reg)
{
	return *(volatile uint32_t *)(uintptr_t)(d->base + reg);
}

void vio_write(const struct vio *d, uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(d->base + reg) = v;
}

uint64_t vio_find(uint32_t device_id, unsigned int nth)
{
	for (unsigned int i = 0; i < 8; i++) {
		struct vio probe = { .base = VIRTIO_MMIO_GPA + i * VIRTIO_MMIO_STRIDE };
		if (vio_read(&probe, VIO_MAGIC) == 0x74726976 && vio_read(&probe, VIO_DEVICE_ID) == device_id &&
		    nth-- == 0)
			return probe.base;
	}
	return 0;
}

static void set_addr(struct vio *d, uint32_t reg, const void *p)
{
	uint64_t a = (uint64_t)(uintptr_t)p;
	vio_write(d, reg, (uint32_t)a);
	vio_write(d, reg + 4, (uint32_t)(a >> 32));
}

/* The rings zeroed, queue d->queue given them and enabled. */
static bool setup_queue(struct vio *d)
{
	for (unsigned int i = 0; i < sizeof(*d->avail); i++)
		((volatile uint8_t *)d->avail)[i] = 0;
	for (unsigned int i = 0; i < sizeof(*d->used); i++)
		((volatile uint8_t *)d->used)[i] = 0;
	d->used_seen = 0;
	vio_write(d, VIO_QUEUE_SEL, d->queue);
	if (vio_read(d, VIO_QUEUE_NUM_MAX) < VIO_QSIZE)
		return false;
	vio_write(d, VIO_QUEUE_NUM, VIO_QSIZE);
	set_addr(d, VIO_QUEUE_DESC, d->desc);
	set_addr(d, VIO_QUEUE_AVAIL, d->avail);
	set_addr(d, VIO_QUEUE_USED, d->used);
	vio_write(d, VIO_QUEUE_READY, 1);
	return vio_read(d, VIO_QUEUE_READY) == 1;
}

bool vio_init(struct vio *d, uint64_t base, uint64_t features, unsigned int set)
{
	struct vio_rings *r = &rings[set % VIO_RING_SETS];
	*d = (struct vio){ .base = base, .desc = r->desc, .avail = &r->avail, .used = &r->used };
	vio_write(d, VIO_STATUS, 0);
	vio_write(d, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER);
	vio_write(d, VIO_DEV_FEATURES_SEL, 0);
	uint64_t offered = vio_read(d, VIO_DEV_FEATURES);
	vio_write(d, VIO_DEV_FEATURES_SEL, 1);
	offered |= (uint64_t)vio_read(d, VIO_DEV_FEATURES) << 32;
	uint64_t want = (features | VIO_F_VERSION_1) & offered;
	vio_write(d, VIO_DRV_FEATURES_SEL, 0);
	vio_write(d, VIO_DRV_FEATURES, (uint32_t)want);
	vio_write(d, VIO_DRV_FEATURES_SEL, 1);
	vio_write(d, VIO_DRV_FEATURES, (uint32_t)(want >> 32));
	vio_write(d, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER | VIO_S_FEATURES_OK);
	if (!(vio_read(d, VIO_STATUS) & VIO_S_FEATURES_OK))
		return false;
	if (!setup_queue(d))
		return false;
	vio_write(d, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER | VIO_S_FEATURES_OK | VIO_S_DRIVER_OK);
	return !(vio_read(d, VIO_STATUS) & VIO_S_NEEDS_RESET);
}

bool vio_add_queue(struct vio *q, const struct vio *dev, uint32_t queue, unsigned int set)
{
	struct vio_rings *r = &rings[set % VIO_RING_SETS];
	*q = (struct vio){ .base = dev->base, .queue = queue, .desc = r->desc, .avail = &r->avail, .used = &r->used };
	return setup_queue(q) && !(vio_read(q, VIO_STATUS) & VIO_S_NEEDS_RESET);
}

void vio_submit(struct vio *d, uint16_t head)
{
	volatile struct vio_avail *a = d->avail;
	a->ring[a->idx % VIO_QSIZE] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	a->idx = a->idx + 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vio_write(d, VIO_QUEUE_NOTIFY, d->queue);
}

bool vio_wait(struct vio *d, struct vio_used_elem *e)
{
	volatile struct vio_used *u = d->used;
	for (unsigned int spin = 0; u->idx == d->used_seen; spin++) {
		/* A register read is a VM exit: look at the status only now and then. */
		if (spin % 256 == 255 && (vio_read(d, VIO_STATUS) & VIO_S_NEEDS_RESET))
			return false;
		cpu_relax();
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	e->id = u->ring[d->used_seen % VIO_QSIZE].id;
	e->len = u->ring[d->used_seen % VIO_QSIZE].len;
	d->used_seen++;
	return true;
}
