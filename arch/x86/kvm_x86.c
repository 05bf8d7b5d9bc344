#include "kvm_x86.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Three pages just below the BIOS ROM in the MMIO hole, where Intel VMX needs them for
 * real-mode emulation; harmless elsewhere. */
#define TSS_GPA          0xfffbd000UL
#define IDENTITY_MAP_GPA 0xfffbc000ULL

static int kvm_err(char *err, size_t errlen, const char *what)
{
	int e = errno;
	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -e;
}

/* KVM's default routing puts GSI 0 (where the in-kernel PIT injects) on IOAPIC pin 0;
 * pagoda's MP table and MADT, like every PC, say ISA IRQ 0 arrives on pin 2. So: ISA IRQs
 * 0-15 on the 8259s, and GSI n on IOAPIC pin n except GSI 0 -> pin 2 (as QEMU does). */
unsigned int x86_irqchip_routes(struct kvm_irq_routing_entry *e)
{
	unsigned int n = 0;
	for (uint32_t irq = 0; irq < 16; irq++) {
		if (irq == 2)
			continue; /* the cascade */
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = irq, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, irq % 8 } };
	}
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		if (gsi == 2)
			continue;
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi } };
	}
	return n;
}

int x86_vm_init(int vm_fd, char *err, size_t errlen)
{
	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, TSS_GPA) < 0)
		return kvm_err(err, errlen, "KVM_SET_TSS_ADDR");
	uint64_t idmap = IDENTITY_MAP_GPA;
	if (ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		return kvm_err(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return kvm_err(err, errlen, "KVM_CREATE_IRQCHIP");
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return kvm_err(err, errlen, "KVM_CREATE_PIT2");
	return 0;
}

int x86_vcpus_set_cpuid(int kvm_fd, const int *vcpu_fds, unsigned int nr, bool baseline,
			char *err, size_t errlen)
{
	struct kvm_cpuid2 *base = x86_cpuid_supported(kvm_fd);
	if (!base)
		return kvm_err(err, errlen, "KVM_GET_SUPPORTED_CPUID");
	struct x86_cpuid_model model = { .baseline = baseline, .nr_vcpus = nr };
	int r = 0;
	for (unsigned int i = 0; i < nr && !r; i++) {
		struct kvm_cpuid2 *c = x86_cpuid_for_vcpu(base, &model, i);
		if (!c)
			r = kvm_err(err, errlen, "CPUID for a vCPU");
		else if (ioctl(vcpu_fds[i], KVM_SET_CPUID2, c) < 0)
			r = kvm_err(err, errlen, "KVM_SET_CPUID2");
		free(c);
	}
	free(base);
	return r;
}

bool x86_host_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}
