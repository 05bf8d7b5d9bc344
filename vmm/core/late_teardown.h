/* Letting the exit status out before the kernel tears the VM down.
 *
 * When a VMM exits, the kernel frees the guest's memory and destroys the VM (KVM's grace
 * periods, the PIT's worker thread) before whoever waits for the VMM learns its status:
 * tens of milliseconds for a guest that ran for a few. A helper process sharing pagoda's
 * address space (CLONE_VM) but none of its descriptors keeps that address space, and with
 * it the VM (each vCPU's mapped run area holds its vCPU, each vCPU the VM), alive until
 * pagoda has exited: the teardown then happens in the helper's exit, after the status
 * has been reported. The helper closes every descriptor it inherited, blocks every
 * signal, and enters seccomp's strict mode (read, write, exit) before pagoda goes on, so
 * that nothing pagoda's sandbox forbids becomes possible through it; it leaves when the
 * pipe whose only writer is pagoda reads end-of-file, i.e. when pagoda is gone, however
 * it ended. */
#ifndef PAGODA_LATE_TEARDOWN_H
#define PAGODA_LATE_TEARDOWN_H

/* Starts the helper (before the sandbox, which forbids making processes): 0, or -errno
 * (pagoda then simply tears down itself). */
int late_teardown_start(void);

#endif
