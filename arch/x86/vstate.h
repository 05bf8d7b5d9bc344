/* x86 vCPU and VM state for snapshots and migration, through KVM's get/set ioctls, as
 * records of a state stream (util/state_buf.h). Restore sets the pieces in the order KVM
 * needs: general registers, xsave, xcrs, special registers, MSRs, MP state, LAPIC,
 * events, debug registers (the vCPU's CPUID is set before, at creation). */
#ifndef PAGODA_X86_VSTATE_H
#define PAGODA_X86_VSTATE_H

#include <stddef.h>

#include "../../util/state_buf.h"

/* Record types used here (vmm/ uses others). */
enum {
	REC_X86_VCPU = 0x100,   /* u32 index, then the pieces below as nested records */
	REC_X86_REGS, REC_X86_SREGS, REC_X86_XSAVE, REC_X86_XCRS, REC_X86_MSRS,
	REC_X86_MP_STATE, REC_X86_LAPIC, REC_X86_EVENTS, REC_X86_DEBUGREGS,
	REC_X86_VM = 0x180,     /* nested: the irqchips, the PIT, the clock */
	REC_X86_IRQCHIP, REC_X86_PIT, REC_X86_CLOCK,
};

/* Appends vCPU `index`'s state. -errno with a message naming the ioctl. */
int x86_vcpu_save(int kvm_fd, int vm_fd, int vcpu_fd, unsigned int index, struct state_buf *out,
		  char *err, size_t errlen);
/* Sets a vCPU from the payload of a REC_X86_VCPU record (its index already matched). */
int x86_vcpu_restore(int vm_fd, int vcpu_fd, const uint8_t *payload, size_t len, char *err, size_t errlen);
int x86_vm_save(int vm_fd, struct state_buf *out, char *err, size_t errlen);
int x86_vm_restore(int vm_fd, const uint8_t *payload, size_t len, char *err, size_t errlen);

#endif
