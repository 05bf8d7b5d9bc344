/* x86 vCPU register state: entry state for each boot protocol, the PVM emulation-failure
 * fix-ups, and the register dump printed when a VM dies. */
#ifndef PAGODA_X86_VCPU_REGS_H
#define PAGODA_X86_VCPU_REGS_H

#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>

/* 64-bit long mode with pagoda's identity map: rip = entry, rsi = zero page. */
int x86_vcpu_enter_long_mode(int vcpu_fd, uint64_t entry, uint64_t rsi);
/* 32-bit protected mode, paging off: rip = entry, rbx = hvm_start_info (PVH). */
int x86_vcpu_enter_pvh(int vcpu_fd, uint64_t entry, uint64_t rbx);

/* Works around an instruction the host's emulator rejected (PVM hosts): 0 when the guest
 * can go on, -ENOTSUP when this failure has no fix-up. */
int x86_fixup_emulation_failure(int vcpu_fd, struct kvm_run *run);

void x86_vcpu_dump(int vcpu_fd, const struct kvm_run *run, FILE *out);

#endif
