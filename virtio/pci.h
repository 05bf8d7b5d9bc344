/* The virtio-pci transport, modern only (virtio 1.x, section 4.1): a PCI function whose
 * BAR 0 holds the common configuration, the ISR byte, the device's config space, one
 * notification address per queue and the MSI-X table with its pending bits, announced by
 * vendor capabilities (plus the PCI-config access window the spec requires) and an MSI-X
 * capability. Each MSI-X vector is a GSI of its own in KVM's routing with an irqfd, so an
 * interrupt is one eventfd write; notifications arrive on ioeventfds that follow the BAR
 * wherever the driver puts it. No INTx: a driver that does not enable MSI-X polls.
 *
 * Everything here is under the device's lock, taken inside the bus's. */
#ifndef PAGODA_VIRTIO_PCI_H
#define PAGODA_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "../devices/pci.h"
#include "virtio_dev.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + device id: modern devices */
#define VIRTIO_PCI_BAR_SIZE 0x8000
#define VIRTIO_PCI_VECTORS (VIRTIO_MAX_QUEUES + 1)
#define VIRTIO_PCI_NO_VECTOR 0xffff

/* BAR 0's layout. */
enum {
	VIRTIO_PCI_COMMON_OFF = 0x0000, VIRTIO_PCI_COMMON_LEN = 0x38,
	VIRTIO_PCI_ISR_OFF = 0x1000,
	VIRTIO_PCI_DEVCFG_OFF = 0x2000,
	VIRTIO_PCI_NOTIFY_OFF = 0x3000, VIRTIO_PCI_NOTIFY_MULT = 4,
	VIRTIO_PCI_MSIX_OFF = 0x4000,
	VIRTIO_PCI_PBA_OFF = 0x5000,
};

struct virtio_pci_vector {
	uint32_t addr_lo, addr_hi, data, ctrl; /* the MSI-X table entry, as the driver wrote it */
};

struct virtio_pci {
	struct virtio_dev *dev;
	struct pci_func func;
	uint32_t device_features_sel, driver_features_sel;
	uint16_t queue_sel;
	uint16_t config_vector, queue_vector[VIRTIO_MAX_QUEUES];
	struct virtio_pci_vector msix[VIRTIO_PCI_VECTORS];
	uint32_t pending;                       /* the PBA */
	bool msix_enabled, msix_masked;         /* mirror of the capability's control */
	uint8_t msix_cap, cfg_cap;              /* where those capabilities sit */
	/* KVM's side of each vector: its GSI, irqfd and the message it routes now. */
	uint32_t gsi[VIRTIO_PCI_VECTORS];
	int irq_fd[VIRTIO_PCI_VECTORS];
	uint64_t routed_addr[VIRTIO_PCI_VECTORS];
	uint32_t routed_data[VIRTIO_PCI_VECTORS];
	bool routed[VIRTIO_PCI_VECTORS];
	uint64_t notify_addr;                   /* where the ioeventfds are, 0: none */
	struct virtio_notifier notify[VIRTIO_MAX_QUEUES];
	uint64_t nr_masked;                     /* interrupts held back by a mask */
};

/* Makes dev a PCI function (put it on a bus with pci_bus_add). -errno: KVM refused a GSI,
 * an irqfd or an eventfd. */
int virtio_pci_init(struct virtio_pci *t, struct virtio_dev *dev);
void virtio_pci_destroy(struct virtio_pci *t);

/* Transport state for snapshots: the function's config header plus what BAR 0 holds. */
struct virtio_pci_state {
	struct pci_func_state func;
	uint32_t device_features_sel, driver_features_sel;
	uint16_t queue_sel, config_vector, queue_vector[VIRTIO_MAX_QUEUES];
	struct virtio_pci_vector msix[VIRTIO_PCI_VECTORS];
	uint32_t pending;
	uint32_t pad;
};
void virtio_pci_save(struct virtio_pci *t, struct pci_bus *b, struct virtio_pci_state *st);
/* Checks every value as the driver's own writes would be (-EINVAL with why). */
int virtio_pci_restore(struct virtio_pci *t, struct pci_bus *b, const struct virtio_pci_state *st,
		       const char **why);

#endif
