/* The device tree pagoda hands an arm64 guest, built with libfdt from a description of
 * the machine: memory from pagoda's layout, cpus (enable-method psci), psci, the GICv3,
 * the architected timer, the 16550 console, virtio-mmio nodes or a PCI host bridge with the
 * GIC's ITS as its MSI controller, and /chosen. No KVM here:
 * the FDT unit tests build and check trees on any host. */
#ifndef PAGODA_ARM64_FDT_H
#define PAGODA_ARM64_FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../mem/layout.h"

#define ARM64_FDT_MAX_CPUS 128
#define ARM64_FDT_MAX_VIRTIO 8

struct arm64_fdt_config {
	const struct mem_layout *layout;
	unsigned int nr_cpus;
	const uint64_t *mpidr;            /* nr_cpus values of MPIDR_EL1 */
	unsigned int nr_virtio;
	struct { uint64_t gpa, size; uint32_t spi; } virtio[ARM64_FDT_MAX_VIRTIO];
	bool pci;                         /* virtio-pci: an ECAM host bridge and an ITS */
	const char *bootargs;
	uint64_t initrd_start, initrd_end; /* both 0: no initrd */
};

/* A new tree in *blob (malloc'd, *len bytes, at most ARM64_DTB_MAX). 0, or -errno with a
 * one-line message in err. */
int arm64_fdt_build(const struct arm64_fdt_config *c, void **blob, size_t *len, char *err, size_t errlen);

#endif
