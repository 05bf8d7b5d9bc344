/* KVM's GSI routing table of a VM. KVM_SET_GSI_ROUTING replaces the whole table, so the
 * VM keeps it: the irqchip's lines the architecture set up, then one MSI route per vector
 * a device asked for (virtio-pci's MSI-X), each changed in place when the driver
 * reprograms its vector. Safe from any thread. */
#ifndef PAGODA_VMM_IRQ_ROUTES_H
#define PAGODA_VMM_IRQ_ROUTES_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define IRQ_ROUTES_MAX 256

struct irq_routes {
	pthread_mutex_t lock;
	int vm_fd;
	bool inited;
	bool msi_devid;     /* KVM wants each MSI's device ID (arm64 with an ITS) */
	unsigned int nr;
	uint32_t next_gsi;  /* the first GSI no irqchip line uses */
	struct kvm_irq_routing_entry e[IRQ_ROUTES_MAX];
};

/* Takes the irqchip's routes and commits them. -errno from KVM. On arm64, call it after the
 * ITS exists: only then does KVM say MSIs need device IDs. */
int irq_routes_init(struct irq_routes *r, int vm_fd, const struct kvm_irq_routing_entry *base,
		    unsigned int nr);
void irq_routes_destroy(struct irq_routes *r);
/* A GSI of its own for an MSI (routed nowhere until irq_routes_msi_set). -ENOSPC when full,
 * -EOPNOTSUPP when the VM has no routing table of pagoda's (arm64 for now). */
int irq_routes_msi_alloc(struct irq_routes *r, uint32_t *gsi);
/* Points gsi at the message from device devid (its PCI requester ID: an ITS tells devices
 * apart by it; x86 ignores it) and commits the table. -errno from KVM (the old route stays). */
int irq_routes_msi_set(struct irq_routes *r, uint32_t gsi, uint64_t addr, uint32_t data, uint32_t devid);

#endif
