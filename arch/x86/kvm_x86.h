/* x86-specific VM setup in KVM: the in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT,
 * and the per-vCPU CPUID. */
#ifndef PAGODA_X86_KVM_X86_H
#define PAGODA_X86_KVM_X86_H

#include <stddef.h>

#include "cpuid.h"

int x86_vm_init(int vm_fd, char *err, size_t errlen);
/* Sets each vCPU's CPUID (before any sregs: newer KVMs refuse long mode until CPUID
 * says the vCPU has it). */
int x86_vcpus_set_cpuid(int kvm_fd, const int *vcpu_fds, unsigned int nr, bool baseline,
			char *err, size_t errlen);
/* True on a PVM host (KVM emulating guest code, HOST.md). */
bool x86_host_is_pvm(void);

#endif
