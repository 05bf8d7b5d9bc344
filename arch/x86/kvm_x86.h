/* x86-specific VM setup in KVM: the in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT,
 * and the per-vCPU CPUID. */
#ifndef PAGODA_X86_KVM_X86_H
#define PAGODA_X86_KVM_X86_H

#include <linux/kvm.h>
#include <stddef.h>

#include "cpuid.h"

/* The in-kernel irqchip and PIT; the caller then commits the GSI routing table. */
int x86_vm_init(int vm_fd, char *err, size_t errlen);
#define X86_IRQCHIP_ROUTES 38
/* KVM's default routing puts GSI 0 (where the in-kernel PIT injects) on IOAPIC pin 0;
 * pagoda's MP table and MADT, like every PC, say ISA IRQ 0 arrives on pin 2. So: ISA IRQs
 * 0-15 on the 8259s, and GSI n on IOAPIC pin n except GSI 0 -> pin 2 (as QEMU does).
 * Fills e (X86_IRQCHIP_ROUTES entries) and returns how many. */
unsigned int x86_irqchip_routes(struct kvm_irq_routing_entry *e);
/* Sets each vCPU's CPUID (before any sregs: newer KVMs refuse long mode until CPUID
 * says the vCPU has it). */
int x86_vcpus_set_cpuid(int kvm_fd, const int *vcpu_fds, unsigned int nr, bool baseline,
			char *err, size_t errlen);
/* True on a PVM host (KVM emulating guest code, docs/HOSTS.md). */
bool x86_host_is_pvm(void);

#endif
