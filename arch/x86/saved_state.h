/* x86 vCPU and VM state for snapshots and migration, through KVM's get/set ioctls, as
 * records of a state stream (util/state_buf.h). Restore sets the pieces in the order KVM
 * needs: general registers, xsave, xcrs, special registers, MSRs, MP state, LAPIC,
 * events, debug registers (the vCPU's CPUID is set before, at creation). */
#ifndef PAGODA_X86_SAVED_STATE_H
#define PAGODA_X86_SAVED_STATE_H

#include <stddef.h>

#include "../../util/state_buf.h"
#include "../../util/state_records.h"

/* Appends vCPU `index`'s state. -errno with a message naming the ioctl. */
int x86_vcpu_save(int kvm_fd, int vm_fd, int vcpu_fd, unsigned int index, struct state_buf *out,
		  char *err, size_t errlen);
/* Sets a vCPU from the payload of a REC_X86_VCPU record (its index already matched). */
int x86_vcpu_restore(int vm_fd, int vcpu_fd, const uint8_t *payload, size_t len, char *err, size_t errlen);
int x86_vm_save(int vm_fd, struct state_buf *out, char *err, size_t errlen);
int x86_vm_restore(int vm_fd, const uint8_t *payload, size_t len, char *err, size_t errlen);

#endif
