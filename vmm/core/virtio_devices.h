/* The VM's virtio devices, built from the run configuration, all served by one I/O
 * thread. With the mmio transport each gets a virtio-mmio window in the MMIO hole and an
 * edge-triggered interrupt line (x86: ISA, arm64: SPI), is put on the MMIO bus and named
 * to the guest (x86: on the kernel command line, arm64: in the device tree). With the pci
 * transport each is a function on PCI bus 0 (devices/pci.h) with MSI-X vectors routed
 * through KVM; the guest finds the bus in ACPI. */
#ifndef PAGODA_VMM_VIRTIO_DEVICES_H
#define PAGODA_VMM_VIRTIO_DEVICES_H

#include <stdio.h>

#include "../../devices/pci.h"
#include "../../virtio/mmio.h"
#include "../../virtio/pci.h"
#include "machine_config.h"
#include "machine_arch.h"
#include "io_thread.h"
#include "vm.h"

enum virtio_kind { VDEV_BLK, VDEV_NET, VDEV_RNG, VDEV_BALLOON, VDEV_9P, VDEV_VIRTIOFS };

struct virtio_devices {
	struct io_thread io;
	struct vm *vm;
	struct virtio_host host;   /* what the devices get of the VMM (ctx: this struct) */
	unsigned int nr;
	struct virtio_slot {
		enum virtio_kind kind;
		struct virtio_dev *dev;
		struct virtio_mmio mmio;
		struct virtio_pci pci;
		bool transport_inited;
	} slots[MACHINE_MAX_VIRTIO];
	bool pci_on;
	struct pci_bus pci;
	char cmdline[MACHINE_MAX_VIRTIO * 48]; /* virtio_mmio.device=... for each */
};

/* Creates the devices cfg asks for. 0, or -errno with a one-line message in err. */
int virtio_devices_setup(struct virtio_devices *v, struct vm *vm, const struct machine_config *cfg,
			 char *err, size_t errlen);
int virtio_devices_start(struct virtio_devices *v);
/* Stops the I/O thread (vCPUs must be stopped first). */
void virtio_devices_stop(struct virtio_devices *v);
void virtio_devices_destroy(struct virtio_devices *v);
void virtio_devices_print_stats(struct virtio_devices *v, FILE *out);
/* The first device of that kind, or NULL. */
struct virtio_dev *virtio_devices_find(struct virtio_devices *v, enum virtio_kind kind);

/* Snapshots and migration, with the vCPUs paused: quiesce stops the I/O thread and lets
 * every device finish what it has in flight (nothing reaches guest memory after it);
 * resume restarts the thread. save appends one record per device; restore takes one. */
void virtio_devices_quiesce(struct virtio_devices *v);
/* A thread that cannot restart ends the VM (EXIT_VMM_ERROR): -errno then. */
int virtio_devices_resume(struct virtio_devices *v);
void virtio_devices_save(struct virtio_devices *v, unsigned int i, struct virtio_dev_state *st);
int virtio_devices_restore(struct virtio_devices *v, unsigned int i, const struct virtio_dev_state *st,
			   char *err, size_t errlen);
/* The PCI transport's part of device i (only when v->pci_on). */
void virtio_devices_save_pci(struct virtio_devices *v, unsigned int i, struct virtio_pci_state *st);
int virtio_devices_restore_pci(struct virtio_devices *v, unsigned int i, const struct virtio_pci_state *st,
			       char *err, size_t errlen);

#endif
