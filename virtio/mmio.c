#include "mmio.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int setup_ioeventfd(struct virtio_mmio *t, unsigned int q)
{
	const struct virtio_host *h = t->dev->host;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct kvm_ioeventfd io = {
		.datamatch = q, .addr = t->base + VIRTIO_MMIO_QUEUE_NOTIFY, .len = 4,
		.fd = fd, .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	if (ioctl(h->vm_fd, KVM_IOEVENTFD, &io) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	t->notify[q].fd = fd; /* from here virtio_mmio_destroy undoes it */
	return h->watch(h->ctx, fd, EPOLLIN, virtio_notifier_ready, &t->notify[q]);
}

int virtio_mmio_init(struct virtio_mmio *t, struct virtio_dev *dev, uint64_t base, uint32_t irq)
{
	*t = (struct virtio_mmio){ .dev = dev, .base = base };
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->notify[q] = (struct virtio_notifier){ dev, q, -1 };
	dev->irq = irq;
	int vm_fd = dev->host->vm_fd;
	if (vm_fd < 0)
		return 0;
	/* Without these KVM features the device still works, through vCPU exits. */
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0) {
		int fd = virtio_irqfd_open(vm_fd, dev->irq);
		if (fd < 0)
			return fd;
		dev->irq_fd = fd;
	}
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0 && dev->host->watch) {
		for (unsigned int q = 0; q < dev->ops->nr_queues; q++) {
			int e = setup_ioeventfd(t, q);
			if (e)
				return e;
		}
	}
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (t->notify[q].fd < 0)
			continue;
		struct kvm_ioeventfd io = {
			.datamatch = q, .addr = t->base + VIRTIO_MMIO_QUEUE_NOTIFY, .len = 4,
			.fd = t->notify[q].fd,
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | KVM_IOEVENTFD_FLAG_DEASSIGN,
		};
		ioctl(t->dev->host->vm_fd, KVM_IOEVENTFD, &io);
		close(t->notify[q].fd);
		t->notify[q].fd = -1;
	}
}

static struct virtq *selected(struct virtio_mmio *t)
{
	return t->queue_sel < t->dev->ops->nr_queues ? &t->dev->vqs[t->queue_sel] : NULL;
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtio_dev *d = t->dev;
	struct virtq *vq = selected(t);
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE: return 0x74726976; /* "virt" */
	case VIRTIO_MMIO_VERSION: return 2;
	case VIRTIO_MMIO_DEVICE_ID: return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return t->device_features_sel < 2 ? (uint32_t)(d->features >> (32 * t->device_features_sel)) : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return vq ? VIRTQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY: return vq ? vq->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return atomic_load(&d->isr);
	case VIRTIO_MMIO_STATUS: return d->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return d->config_generation;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: return vq ? (uint32_t)vq->desc_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: return vq ? (uint32_t)(vq->desc_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: return vq ? (uint32_t)vq->avail_gpa : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: return vq ? (uint32_t)(vq->avail_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_USED_LOW: return vq ? (uint32_t)vq->used_gpa : 0;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: return vq ? (uint32_t)(vq->used_gpa >> 32) : 0;
	case VIRTIO_MMIO_SHM_LEN_LOW: case VIRTIO_MMIO_SHM_LEN_HIGH: return ~0u; /* no region */
	}
	return 0;
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	*v = high ? (*v & 0xffffffffULL) | ((uint64_t)val << 32) : (*v & ~0xffffffffULL) | val;
}

static void write_status(struct virtio_mmio *t, uint32_t val)
{
	if (virtio_dev_write_status(t->dev, val))
		t->queue_sel = t->device_features_sel = t->driver_features_sel = 0;
}

static void write_queue_reg(struct virtio_mmio *t, uint64_t off, uint32_t val)
{
	struct virtq *vq = selected(t);
	if (!vq || vq->ready) /* the driver may not move a live queue */
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM: vq->num = (uint16_t)(val > 0xffff ? 0 : val); break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: set_half(&vq->desc_gpa, false, val); break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: set_half(&vq->desc_gpa, true, val); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: set_half(&vq->avail_gpa, false, val); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: set_half(&vq->avail_gpa, true, val); break;
	case VIRTIO_MMIO_QUEUE_USED_LOW: set_half(&vq->used_gpa, false, val); break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: set_half(&vq->used_gpa, true, val); break;
	}
}

static void write_reg(struct virtio_mmio *t, uint64_t off, uint32_t val)
{
	struct virtio_dev *d = t->dev;
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: t->device_features_sel = val; return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: t->driver_features_sel = val; return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (t->driver_features_sel < 2 && !(d->status & VIRTIO_CONFIG_S_FEATURES_OK))
			set_half(&d->driver_features, t->driver_features_sel == 1, val);
		return;
	case VIRTIO_MMIO_QUEUE_SEL: t->queue_sel = val; return;
	case VIRTIO_MMIO_QUEUE_READY:
		if (selected(t))
			virtio_dev_write_queue_ready(d, t->queue_sel, val);
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY: virtio_dev_notify(d, val); return;
	case VIRTIO_MMIO_INTERRUPT_ACK: atomic_fetch_and(&d->isr, ~val); return;
	case VIRTIO_MMIO_STATUS: write_status(t, val); return;
	}
	write_queue_reg(t, off, val);
}

void virtio_mmio_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	struct virtio_mmio *t = opaque;
	struct virtio_dev *d = t->dev;
	pthread_mutex_lock(&d->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		virtio_dev_config_access(d, offset - VIRTIO_MMIO_CONFIG, data, len, is_write);
	} else if (len != 4 || offset % 4) {
		if (!is_write) /* registers are 32-bit wide and aligned; anything else reads 0 */
			memset(data, 0, len);
	} else if (is_write) {
		uint32_t v;
		memcpy(&v, data, 4);
		write_reg(t, offset, v);
	} else {
		uint32_t v = read_reg(t, offset);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&d->lock);
}
