/* The guest CPU model: KVM's supported CPUID, with topology and the KVM leaves set for
 * this VM, and on `baseline` the features a PVM host's emulator rejects hidden. */
#ifndef PAGODA_X86_CPUID_H
#define PAGODA_X86_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>

struct x86_cpuid_model {
	bool baseline;
	unsigned int nr_vcpus;
};

/* KVM_GET_SUPPORTED_CPUID into a new table (free() it), or NULL with errno. */
struct kvm_cpuid2 *x86_cpuid_supported(int kvm_fd);
/* A copy of base adjusted for vCPU apic_id under model; NULL with errno. */
struct kvm_cpuid2 *x86_cpuid_for_vcpu(const struct kvm_cpuid2 *base,
				      const struct x86_cpuid_model *model, unsigned int apic_id);
struct kvm_cpuid_entry2 *x86_cpuid_find(struct kvm_cpuid2 *c, unsigned int fn, unsigned int idx);

#endif
