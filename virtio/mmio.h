/* The virtio-mmio transport, version 2 (virtio 1.x, section 4.2): a 0x200-byte register
 * window per device, announced to Linux as virtio_mmio.device=SIZE@BASE:IRQ. Queue
 * notifications arrive on an ioeventfd and interrupts leave through an irqfd where KVM
 * has them, so neither goes through a vCPU thread's exit handling. */
#ifndef PAGODA_VIRTIO_MMIO_H
#define PAGODA_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_dev.h"

#define VIRTIO_MMIO_WINDOW 0x200
#define VIRTIO_MMIO_VENDOR 0x4f474150 /* "PAGO" */

struct virtio_mmio {
	struct virtio_dev *dev;
	uint64_t base;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	struct virtio_notifier notify[VIRTIO_MAX_QUEUES]; /* ioeventfds, fd -1 without */
};

/* Wires dev to the window at base and interrupt line irq: irqfd and ioeventfds when the
 * host's vm_fd takes them (falls back to exits and irq_pulse), watched on the I/O thread. */
int virtio_mmio_init(struct virtio_mmio *t, struct virtio_dev *dev, uint64_t base, uint32_t irq);
void virtio_mmio_destroy(struct virtio_mmio *t);
/* A register access (a struct bus_range's io callback). */
void virtio_mmio_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
