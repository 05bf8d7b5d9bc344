/* The in-kernel GICv3 (KVM_DEV_TYPE_ARM_VGIC_V3): a distributor and one redistributor per
 * vCPU at pagoda's platform addresses. Created after the vCPUs, initialised once they are
 * all set up (KVM refuses vCPUs after the GIC's init). */
#ifndef PAGODA_ARM64_GIC_H
#define PAGODA_ARM64_GIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARM64_GIC_NR_IRQS 128 /* 32 private + 96 SPIs */

struct arm64_gic {
	int fd;     /* the KVM device, or -1 */
	int its_fd; /* its ITS (KVM_DEV_TYPE_ARM_VGIC_ITS), or -1 */
};

/* Creates, places and initialises the GIC for nr_cpus vCPUs, with an ITS when its (MSIs
 * from PCI functions, told apart by their requester IDs). 0, or -errno with a one-line
 * message in err. */
int arm64_gic_create(struct arm64_gic *g, int vm_fd, unsigned int nr_cpus, bool its, char *err, size_t errlen);
void arm64_gic_destroy(struct arm64_gic *g);
/* One attribute of a KVM device (the GIC, its ITS), read or written as req says
 * (KVM_GET_DEVICE_ATTR / KVM_SET_DEVICE_ATTR) through val. 0 or -errno. */
int arm64_device_attr(int fd, unsigned long req, uint32_t group, uint64_t attr, void *val);

#endif
