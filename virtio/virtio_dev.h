/* What every virtio device shares, whatever its transport: feature negotiation state, the
 * status byte, the virtqueues, a config space, the interrupt status, and one lock that
 * serialises the driver's register accesses (vCPU threads) with the device's work (the
 * I/O thread). A device embeds struct virtio_dev first and fills in its ops.
 *
 * Devices reach the VMM only through struct virtio_host, handed over at creation: guest
 * memory, the I/O thread's event loop, and the VM fd for ioeventfd/irqfd. */
#ifndef PAGODA_VIRTIO_DEV_H
#define PAGODA_VIRTIO_DEV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "virtq.h"

#define VIRTIO_MAX_QUEUES 4
#define VIRTIO_ISR_USED   1u   /* interrupt status: a queue has used buffers */
#define VIRTIO_ISR_CONFIG 2u   /* interrupt status: the config space changed */

typedef void (*virtio_watch_fn)(void *opaque, uint32_t events);

struct virtio_host {
	const struct guest_mem *mem;
	int vm_fd;                 /* for KVM_IOEVENTFD / KVM_IRQFD; < 0: none (unit tests) */
	/* Runs fn on the I/O thread whenever fd has one of events (EPOLLIN...). */
	int (*watch)(void *ctx, int fd, uint32_t events, virtio_watch_fn fn, void *opaque);
	/* Changes the events fd is watched for (0: none for now). */
	int (*rewatch)(void *ctx, int fd, uint32_t events);
	/* Without an irqfd: an edge on interrupt line gsi. */
	int (*irq_pulse)(void *ctx, uint32_t gsi);
	/* MSI through KVM's GSI routing (virtio-pci; NULL where the VM has none): a GSI of
	 * its own, and pointing it at a message (-errno). */
	int (*msi_alloc)(void *ctx, uint32_t *gsi);
	int (*msi_route)(void *ctx, uint32_t gsi, uint64_t addr, uint32_t data, uint32_t devid);
	void *ctx;
};

struct virtio_dev;

struct virtio_dev_ops {
	uint32_t device_id;        /* VIRTIO_ID_* */
	unsigned int nr_queues;
	/* The driver rang queue q (lock held). */
	void (*queue_notify)(struct virtio_dev *d, unsigned int q);
	/* The driver reset the device: drop in-flight work (lock held). */
	void (*reset)(struct virtio_dev *d);
	/* The driver set DRIVER_OK (lock held); optional. */
	void (*driver_ok)(struct virtio_dev *d);
	/* The driver wrote config bytes [off, off+len) (already copied, lock held); optional:
	 * without it the config space is read-only. */
	void (*config_written)(struct virtio_dev *d, uint32_t off, uint32_t len);
	/* Finish what is in flight and hold nothing of the guest's (lock held; the I/O
	 * thread is stopped): before the device's state is saved. Optional. */
	void (*quiesce)(struct virtio_dev *d);
	/* The state was restored into this device (lock held): pick up from it. Optional. */
	void (*restored)(struct virtio_dev *d);
	/* Its own `--stats` lines, "stats: NAME key=value..." (lock not held: it takes it).
	 * Optional: every device also gets the transport's line. */
	void (*print_stats)(struct virtio_dev *d, FILE *out);
	void (*destroy)(struct virtio_dev *d);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	const struct virtio_host *host;
	char name[32];             /* "virtio-blk vda", for messages */
	pthread_mutex_t lock;
	uint64_t features;         /* offered */
	uint64_t driver_features;  /* accepted by the driver */
	uint8_t status;
	atomic_uint isr;           /* interrupt status: 1 used buffer, 2 config change */
	uint32_t config_generation;
	uint8_t *config;           /* the device's config space, config_len bytes */
	uint32_t config_len;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	uint32_t irq;              /* the GSI */
	int irq_fd;                /* irqfd eventfd, or -1 */
	/* A transport with interrupts of its own (virtio-pci's MSI-X) takes them here: q is
	 * the queue, or -1 for a config change (lock held). NULL: irq_fd or irq. */
	void (*interrupt)(struct virtio_dev *d, int q);
	void *transport;
	unsigned int nr_broken;    /* times the driver broke it */
	uint64_t nr_notifies, nr_interrupts;
};

/* A queue's notification eventfd (an ioeventfd KVM writes when the driver rings queue q,
 * whatever the transport): the I/O thread reads it and rings the queue. */
struct virtio_notifier {
	struct virtio_dev *dev;
	unsigned int q;
	int fd;                    /* -1: none */
};
/* The virtio_watch_fn of a struct virtio_notifier. */
void virtio_notifier_ready(void *opaque, uint32_t events);
/* An eventfd KVM turns into an interrupt on gsi (KVM_IRQFD): the fd, or -errno. */
int virtio_irqfd_open(int vm_fd, uint32_t gsi);

/* Everything of a device the driver can see, for snapshots and migration. */
#define VIRTIO_STATE_CONFIG_MAX 256
struct virtio_dev_state {
	uint32_t device_id;
	uint32_t status, isr, config_generation;
	uint64_t driver_features;
	struct virtq_state {
		uint64_t desc, avail, used;
		uint16_t num, last_avail, used_idx, signalled_used;
		uint8_t ready, event_idx, signalled_valid, pad[5];
	} q[VIRTIO_MAX_QUEUES];
	uint32_t config_len;
	uint8_t config[VIRTIO_STATE_CONFIG_MAX];
};

/* Lock held by the caller for both; restore checks the device kind and the rings (-EINVAL
 * with why). */
void virtio_dev_save(struct virtio_dev *d, struct virtio_dev_state *st);
int virtio_dev_restore(struct virtio_dev *d, const struct virtio_dev_state *st, const char **why);

/* Fills the shared part; features get VERSION_1, EVENT_IDX and INDIRECT_DESC added. */
void virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops,
		     const struct virtio_host *host, const char *name, uint64_t features,
		     void *config, uint32_t config_len);
void virtio_dev_destroy_common(struct virtio_dev *d);

bool virtio_dev_has(const struct virtio_dev *d, unsigned int feature);
/* Whether the driver has the device running and it is not broken. */
bool virtio_dev_live(const struct virtio_dev *d);
/* After pushing used buffers on queue q: interrupts the driver when it wants one. */
void virtio_dev_used(struct virtio_dev *d, unsigned int q);
/* The driver broke the rules (a bad chain, a bad register value): the device stops,
 * says so once, and asks the driver to reset it (NEEDS_RESET plus a config interrupt). */
void virtio_dev_broken(struct virtio_dev *d, const char *why);
/* The config space changed (balloon target...): bump the generation, interrupt. */
void virtio_dev_config_changed(struct virtio_dev *d);
/* Back to the state after creation (driver wrote 0 to status). */
void virtio_dev_reset(struct virtio_dev *d);
/* What every transport's registers do (lock held). Writing the status byte: 0 resets
 * the device (returns true: the transport clears its selectors), FEATURES_OK is refused
 * for features not offered or without VERSION_1, DRIVER_OK starts the device. */
bool virtio_dev_write_status(struct virtio_dev *d, uint32_t val);
/* Enables (checking the rings; a bad one breaks the device) or disables queue q < nr_queues. */
void virtio_dev_write_queue_ready(struct virtio_dev *d, unsigned int q, uint32_t val);
/* The driver rang queue q (any value: out of range or not ready is ignored). */
void virtio_dev_notify(struct virtio_dev *d, unsigned int q);
/* The device-specific config space: reads outside it read 0, writes outside it or to a
 * read-only space are dropped. */
void virtio_dev_config_access(struct virtio_dev *d, uint64_t off, void *data, uint32_t len, bool is_write);
/* Pops the next chain of an enabled queue of a live device; a malformed one breaks the
 * device. 1, 0 (nothing, or the device cannot take work), -EINVAL (now broken). */
int virtio_dev_pop(struct virtio_dev *d, unsigned int q, struct virtq_chain *c);

#endif
