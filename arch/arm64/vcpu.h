/* arm64 vCPUs: KVM_ARM_VCPU_INIT with the host's preferred target and PSCI 0.2 (secondary
 * vCPUs start powered off and come up through PSCI CPU_ON, handled inside KVM), registers
 * through KVM_SET_ONE_REG, and a register dump for fatal exits. */
#ifndef PAGODA_ARM64_VCPU_H
#define PAGODA_ARM64_VCPU_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int arm64_vcpu_init(int vm_fd, int vcpu_fd, unsigned int index, char *err, size_t errlen);
/* The Linux boot protocol's entry state: pc at the kernel, x0 the device tree, x1-x3 zero
 * (PSTATE is EL1h with DAIF masked after init). */
int arm64_vcpu_set_entry(int vcpu_fd, uint64_t pc, uint64_t dtb);
/* MPIDR_EL1 as KVM gave it: the cpu nodes' reg values. */
int arm64_vcpu_mpidr(int vcpu_fd, uint64_t *mpidr);
void arm64_vcpu_dump(int vcpu_fd, FILE *out);

#endif
