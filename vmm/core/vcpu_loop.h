/* The vCPU threads: KVM_RUN, exit dispatch to the buses, and how a thread is kicked out
 * of KVM_RUN when the VM ends. */
#ifndef PAGODA_VMM_VCPU_LOOP_H
#define PAGODA_VMM_VCPU_LOOP_H

#include "vm.h"

int vcpu_loop_install_kick_signal(void);
void *vcpu_loop_thread(void *vcpu);
/* Makes the vCPU leave KVM_RUN soon; it then sees vm->stopping. */
void vcpu_loop_kick(struct vcpu *v);

#endif
