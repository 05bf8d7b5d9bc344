/* A polling virtio-mmio driver for the tiny guests: find a device, negotiate, set up one
 * split queue, put chains on it and wait for them to come back. No interrupts: the guest
 * spins on the used index. Also the raw register access the hostile guest needs. */
#ifndef PAGODA_GUEST_VIO_H
#define PAGODA_GUEST_VIO_H

#include <stdbool.h>
#include <stdint.h>

#define VIO_QSIZE 256
#define VIO_RING_SETS 2  /* devices driven at the same time */

/* Register offsets (virtio 1.x, 4.2.2) and bits this driver uses. */
enum {
	VIO_MAGIC = 0x000, VIO_VERSION = 0x004, VIO_DEVICE_ID = 0x008, VIO_DEV_FEATURES = 0x010,
	VIO_DEV_FEATURES_SEL = 0x014, VIO_DRV_FEATURES = 0x020, VIO_DRV_FEATURES_SEL = 0x024,
	VIO_QUEUE_SEL = 0x030, VIO_QUEUE_NUM_MAX = 0x034, VIO_QUEUE_NUM = 0x038,
	VIO_QUEUE_READY = 0x044, VIO_QUEUE_NOTIFY = 0x050, VIO_INT_STATUS = 0x060,
	VIO_INT_ACK = 0x064, VIO_STATUS = 0x070, VIO_QUEUE_DESC = 0x080, VIO_QUEUE_AVAIL = 0x090,
	VIO_QUEUE_USED = 0x0a0, VIO_CONFIG = 0x100,
};
enum { VIO_S_ACK = 1, VIO_S_DRIVER = 2, VIO_S_DRIVER_OK = 4, VIO_S_FEATURES_OK = 8,
       VIO_S_NEEDS_RESET = 0x40 };
enum { VIO_DESC_NEXT = 1, VIO_DESC_WRITE = 2, VIO_DESC_INDIRECT = 4 };
#define VIO_F_VERSION_1 (1ULL << 32)

struct vio_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vio_avail { uint16_t flags, idx, ring[VIO_QSIZE], used_event; };
struct vio_used_elem { uint32_t id, len; };
struct vio_used { uint16_t flags, idx; struct vio_used_elem ring[VIO_QSIZE]; uint16_t avail_event; };

struct vio {
	uint64_t base;
	uint32_t queue;           /* the queue these rings are (0 from vio_init) */
	struct vio_desc *desc;
	struct vio_avail *avail;
	struct vio_used *used;
	uint16_t used_seen;
};

uint32_t vio_read(const struct vio *d, uint32_t reg);
void vio_write(const struct vio *d, uint32_t reg, uint32_t v);
/* The base of the nth device with this id in pagoda's windows, or 0. */
uint64_t vio_find(uint32_t device_id, unsigned int nth);
/* Resets the device, accepts VERSION_1 plus `features` (when offered), sets up queue 0
 * with VIO_QSIZE entries in ring set `set` and sets DRIVER_OK. false if the device
 * refused. */
bool vio_init(struct vio *d, uint64_t base, uint64_t features, unsigned int set);
/* Sets up one more queue of a device vio_init set up, in ring set `set`: q gets the
 * device's base and its own rings. false if the device refused. */
bool vio_add_queue(struct vio *q, const struct vio *dev, uint32_t queue, unsigned int set);
/* Publishes the chain starting at descriptor head and rings the device. */
void vio_submit(struct vio *d, uint16_t head);
/* Waits for the next used element; false (and the status) when the device broke. */
bool vio_wait(struct vio *d, struct vio_used_elem *e);

#endif
