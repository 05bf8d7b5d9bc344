#include "gic.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "platform.h"

int arm64_device_attr(int fd, unsigned long req, uint32_t group, uint64_t attr, void *val)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)val };
	return ioctl(fd, req, &a) < 0 ? -errno : 0;
}

/* The ITS goes in after the GIC's init, as QEMU's and kvmtool's do. */
static int create_its(struct arm64_gic *g, int vm_fd, char *err, size_t errlen)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_ITS };
	if (ioctl(vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
		int e = -errno;
		snprintf(err, errlen, "creating the GICv3 ITS (KVM_CREATE_DEVICE): %s: this KVM has no ITS for "
			 "virtio-pci's MSI-X: use --virtio-transport mmio", strerror(-e));
		return e;
	}
	g->its_fd = (int)cd.fd;
	uint64_t base = ARM64_GIC_ITS_GPA;
	const char *what = "address";
	int e = arm64_device_attr(g->its_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &base);
	if (!e) {
		what = "init";
		e = arm64_device_attr(g->its_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	}
	if (e)
		snprintf(err, errlen, "GICv3 ITS %s: %s", what, strerror(-e));
	return e;
}

int arm64_gic_create(struct arm64_gic *g, int vm_fd, unsigned int nr_cpus, bool its, char *err, size_t errlen)
{
	g->fd = -1;
	g->its_fd = -1;
	if (nr_cpus > ARM64_MAX_CPUS) {
		snprintf(err, errlen, "--cpus %u: pagoda's arm64 platform has room for %u redistributors: use -c %u or fewer",
			 nr_cpus, ARM64_MAX_CPUS, ARM64_MAX_CPUS);
		return -EINVAL;
	}
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	if (ioctl(vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
		int e = -errno;
		snprintf(err, errlen, "creating the GICv3 (KVM_CREATE_DEVICE): %s: this host's KVM needs a GICv3", strerror(-e));
		return e;
	}
	g->fd = (int)cd.fd;
	uint64_t dist = ARM64_GIC_DIST_GPA, redist = ARM64_GIC_REDIST_GPA;
	uint32_t nr_irqs = ARM64_GIC_NR_IRQS;
	const char *what = "distributor address";
	int e = arm64_device_attr(g->fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
	if (!e) {
		what = "redistributor address";
		e = arm64_device_attr(g->fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist);
	}
	if (!e) {
		what = "number of interrupts";
		e = arm64_device_attr(g->fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs);
	}
	if (!e) {
		what = "init";
		e = arm64_device_attr(g->fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	}
	if (e) {
		snprintf(err, errlen, "GICv3 %s: %s", what, strerror(-e));
		return e;
	}
	return its ? create_its(g, vm_fd, err, errlen) : 0;
}

void arm64_gic_destroy(struct arm64_gic *g)
{
	if (g->its_fd >= 0)
		close(g->its_fd);
	if (g->fd >= 0)
		close(g->fd);
	g->fd = g->its_fd = -1;
}
