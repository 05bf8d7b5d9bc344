#include "virtio_dev.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

void virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops,
		     const struct virtio_host *host, const char *name, uint64_t features,
		     void *config, uint32_t config_len)
{
	d->ops = ops;
	d->host = host;
	snprintf(d->name, sizeof(d->name), "%s", name);
	pthread_mutex_init(&d->lock, NULL);
	d->features = features | (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
		      (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	d->config = config;
	d->config_len = config_len;
	d->irq_fd = -1;
	virtio_dev_reset(d);
}

void virtio_dev_destroy_common(struct virtio_dev *d)
{
	if (d->irq_fd >= 0)
		close(d->irq_fd);
	d->irq_fd = -1;
	pthread_mutex_destroy(&d->lock);
}

bool virtio_dev_has(const struct virtio_dev *d, unsigned int feature)
{
	return feature < 64 && (d->driver_features >> feature) & 1;
}

bool virtio_dev_live(const struct virtio_dev *d)
{
	return (d->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(d->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void raise_irq(struct virtio_dev *d, unsigned int bits, int q)
{
	atomic_fetch_or(&d->isr, bits);
	d->nr_interrupts++;
	if (d->interrupt) {
		d->interrupt(d, q);
		return;
	}
	if (d->irq_fd >= 0) {
		uint64_t one = 1;
		if (write(d->irq_fd, &one, sizeof(one)) == sizeof(one))
			return;
	}
	if (d->host->irq_pulse)
		d->host->irq_pulse(d->host->ctx, d->irq);
}

void virtio_dev_used(struct virtio_dev *d, unsigned int q)
{
	if (virtq_should_notify(&d->vqs[q]))
		raise_irq(d, VIRTIO_ISR_USED, (int)q);
}

void virtio_dev_broken(struct virtio_dev *d, const char *why)
{
	if (d->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	/* A guest that breaks and resets its device in a loop must not flood the log. */
	if (d->nr_broken++ < 5)
		fprintf(stderr, "pagoda: %s: %s: device needs reset (the rest of the VM runs on)%s\n", d->name,
			why, d->nr_broken == 5 ? "; further errors of this device not shown" : "");
	d->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	virtio_dev_config_changed(d);
}

void virtio_dev_config_changed(struct virtio_dev *d)
{
	d->config_generation++;
	if (d->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_irq(d, VIRTIO_ISR_CONFIG, -1);
}

void virtio_dev_reset(struct virtio_dev *d)
{
	d->driver_features = 0;
	d->status = 0;
	atomic_store(&d->isr, 0);
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		virtq_reset(&d->vqs[q], d->host->mem);
}

/* Only the bits offered, and VERSION_1 (pagoda has no legacy interface). */
static bool features_acceptable(const struct virtio_dev *d)
{
	return !(d->driver_features & ~d->features) && virtio_dev_has(d, VIRTIO_F_VERSION_1);
}

bool virtio_dev_write_status(struct virtio_dev *d, uint32_t val)
{
	if (val == 0) {
		if (d->ops->reset)
			d->ops->reset(d);
		virtio_dev_reset(d);
		return true;
	}
	uint8_t was = d->status;
	uint8_t v = (uint8_t)val & ~VIRTIO_CONFIG_S_NEEDS_RESET; /* the device's bit, not the driver's */
	if ((v & VIRTIO_CONFIG_S_FEATURES_OK) && !(was & VIRTIO_CONFIG_S_FEATURES_OK) && !features_acceptable(d))
		v &= ~VIRTIO_CONFIG_S_FEATURES_OK; /* the driver reads it back and gives up */
	d->status = v | (was & VIRTIO_CONFIG_S_NEEDS_RESET);
	if (!(v & VIRTIO_CONFIG_S_DRIVER_OK) || (was & VIRTIO_CONFIG_S_DRIVER_OK))
		return false;
	/* The spec's order: features are agreed (FEATURES_OK) before the device goes live;
	 * a device live on features it never accepted could not be saved and restored. */
	if (!(v & VIRTIO_CONFIG_S_FEATURES_OK))
		virtio_dev_broken(d, "the driver set DRIVER_OK without FEATURES_OK");
	else if (d->ops->driver_ok)
		d->ops->driver_ok(d);
	return false;
}

void virtio_dev_write_queue_ready(struct virtio_dev *d, unsigned int q, uint32_t val)
{
	struct virtq *vq = &d->vqs[q];
	if (!val) {
		virtq_disable(vq); /* what the device still holds of it is never pushed */
		return;
	}
	if (vq->ready)
		return;
	vq->event_idx = virtio_dev_has(d, VIRTIO_RING_F_EVENT_IDX);
	const char *why = "";
	if (virtq_enable(vq, &why)) {
		char msg[128];
		snprintf(msg, sizeof(msg), "queue %u: %s", q, why);
		virtio_dev_broken(d, msg);
	}
}

void virtio_dev_notify(struct virtio_dev *d, unsigned int q)
{
	d->nr_notifies++;
	if (q < d->ops->nr_queues && virtio_dev_live(d) && d->vqs[q].ready)
		d->ops->queue_notify(d, q);
}

void virtio_notifier_ready(void *opaque, uint32_t events)
{
	struct virtio_notifier *n = opaque;
	uint64_t count;
	(void)events;
	if (read(n->fd, &count, sizeof(count)) != sizeof(count))
		return;
	pthread_mutex_lock(&n->dev->lock);
	virtio_dev_notify(n->dev, n->q);
	pthread_mutex_unlock(&n->dev->lock);
}

int virtio_irqfd_open(int vm_fd, uint32_t gsi)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };
	if (ioctl(vm_fd, KVM_IRQFD, &irqfd) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

void virtio_dev_config_access(struct virtio_dev *d, uint64_t off, void *data, uint32_t len, bool is_write)
{
	if (off >= d->config_len || len > d->config_len - off) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (!is_write) {
		memcpy(data, d->config + off, len);
	} else if (d->ops->config_written) {
		memcpy(d->config + off, data, len);
		d->ops->config_written(d, (uint32_t)off, len);
	}
}

int virtio_dev_pop(struct virtio_dev *d, unsigned int q, struct virtq_chain *c)
{
	if (!virtio_dev_live(d) || q >= d->ops->nr_queues || !d->vqs[q].ready)
		return 0;
	const char *why = "";
	int r = virtq_pop(&d->vqs[q], c, &why);
	if (r < 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "queue %u: %s", q, why);
		virtio_dev_broken(d, msg);
	}
	return r;
}

void virtio_dev_save(struct virtio_dev *d, struct virtio_dev_state *st)
{
	*st = (struct virtio_dev_state){ .device_id = d->ops->device_id, .status = d->status,
					 .isr = atomic_load(&d->isr), .config_generation = d->config_generation,
					 /* what the driver wrote beyond the offer was never agreed
					  * (FEATURES_OK refused it) and is not state */
					 .driver_features = d->driver_features & d->features,
					 .config_len = d->config_len };
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		const struct virtq *q = &d->vqs[i];
		st->q[i] = (struct virtq_state){ q->desc_gpa, q->avail_gpa, q->used_gpa, q->num, q->last_avail,
						 q->used_idx, q->signalled_used, q->ready, q->event_idx,
						 q->signalled_valid, { 0 } };
	}
	if (d->config_len && d->config_len <= VIRTIO_STATE_CONFIG_MAX) /* rng has none */
		memcpy(st->config, d->config, d->config_len);
}

int virtio_dev_restore(struct virtio_dev *d, const struct virtio_dev_state *st, const char **why)
{
	if (st->device_id != d->ops->device_id || st->config_len != d->config_len ||
	    d->config_len > VIRTIO_STATE_CONFIG_MAX) {
		*why = "the device is of another kind than the saved one";
		return -EINVAL;
	}
	if (st->driver_features & ~d->features) {
		*why = "the saved driver accepted features this device does not offer";
		return -EINVAL;
	}
	d->status = (uint8_t)st->status;
	atomic_store(&d->isr, st->isr);
	d->config_generation = st->config_generation;
	d->driver_features = st->driver_features;
	if (d->config_len)
		memcpy(d->config, st->config, d->config_len);
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		const struct virtq_state *qs = &st->q[i];
		struct virtq *q = &d->vqs[i];
		virtq_reset(q, d->host->mem);
		q->num = qs->num;
		q->desc_gpa = qs->desc;
		q->avail_gpa = qs->avail;
		q->used_gpa = qs->used;
		q->event_idx = qs->event_idx;
		if (qs->ready && virtq_enable(q, why))
			return -EINVAL;
		q->last_avail = qs->last_avail;
		q->used_idx = qs->used_idx;
		q->signalled_used = qs->signalled_used;
		q->signalled_valid = qs->signalled_valid;
	}
	if (d->ops->restored)
		d->ops->restored(d);
	return 0;
}
