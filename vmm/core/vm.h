/* The VM as a whole: KVM fds, guest memory, the two buses, the vCPUs, and how the VM
 * ends (one exit code, set once, by whoever ends it first). */
#ifndef PAGODA_VMM_VM_H
#define PAGODA_VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../mem/dirty.h"
#include "../../mem/guest_mem.h"
#include "bus.h"
#include "irq_routes.h"

/* Exit codes of `pagoda run`; the guest's own debug-exit codes are odd, ours even. */
enum {
	EXIT_GUEST_OFF = 0,        /* poweroff, reboot, i8042 reset */
	EXIT_SETUP = 2,            /* bad command line, VM could not be set up */
	EXIT_TRIPLE_FAULT = 4,
	EXIT_INTERNAL_ERROR = 6,   /* KVM_EXIT_INTERNAL_ERROR (emulation failure, ...) */
	EXIT_UNHANDLED = 8,        /* an exit reason pagoda does not handle, failed entry */
	EXIT_VMM_ERROR = 10,       /* an ioctl or syscall failed while running */
	EXIT_SANDBOX = 12,         /* a thread made a system call its seccomp filter forbids */
	EXIT_GUEST_HUNG = 14,      /* every vCPU halted with interrupts off: nothing can wake it */
	EXIT_MEMORY_LOST = 16,     /* memory still coming (post-copy, lazy restore) cannot be had */
	EXIT_TIMEOUT = 124,
	EXIT_SIGNAL_BASE = 128,
};

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	uint64_t nr_exits;              /* atomic: the control socket reads it */
	atomic_bool in_guest;          /* inside KVM_RUN (or about to enter it) */
	atomic_ullong run_returns;     /* KVM_RUN calls that returned */
	atomic_uint wake_state;        /* the last liveness check: enum vcpu_wake */
};

/* What a vCPU said at the last liveness check (vm_check_wakeable). */
enum vcpu_wake { WAKE_UNKNOWN, WAKE_RUNNABLE, WAKE_HALTED_IF_OFF, WAKE_WAITING_SIPI };

struct vm {
	int kvm_fd;
	int vm_fd;
	size_t run_mmap_size;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct irq_routes routes;  /* the irqchip's lines and MSI-X vectors (arm64: with PCI only) */
	unsigned int nr_vcpus;
	struct vcpu *vcpus;
	bool pvm_fixups;           /* emulation-failure fix-ups of a PVM host */
	struct dirty_log *dirty;   /* NULL unless dirty tracking was set up */
	const char *name;

	/* Pausing: vCPUs park between KVM_RUN calls, after KVM has completed any pending
	 * I/O, so their state can be saved and restored (snapshot, migration). */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pause_requested;
	unsigned int parked;
	bool paused;

	atomic_uint throttle_pct;  /* auto-converge: vCPUs sleep this share of each 10 ms */
	atomic_bool wake_check;    /* vCPUs report enum vcpu_wake at their next EINTR */

	atomic_ullong first_run_ns; /* CLOCK_MONOTONIC when vCPU 0 first entered KVM_RUN */
	atomic_bool stopping;
	atomic_int exit_code;      /* -1 while running */
	int exit_efd;              /* eventfd: written once when the VM should end */
	char exit_reason[160];     /* read it through vm_exit_reason */
	atomic_bool exit_reason_set; /* stored (release) once exit_reason is whole */
};

/* Opens /dev/kvm, checks the API version (the only test of the host) and creates the VM.
 * err gets a one-line message for the user on failure. */
/* KVM_CREATE_VM's machine type (arm64: the IPA size), or -errno with a message in err. */
typedef int (*vm_type_fn)(int kvm_fd, void *ctx, char *err, size_t errlen);
int vm_create(struct vm *vm, vm_type_fn type, void *type_ctx, char *err, size_t errlen);
/* Creates nr vCPUs (fds and run areas; threads start in vm_start). */
int vm_create_vcpus(struct vm *vm, unsigned int nr, char *err, size_t errlen);
/* Starts one thread per vCPU. */
int vm_start(struct vm *vm, char *err, size_t errlen);
/* Why the VM ends, as vm_request_exit's caller said it ("" until it has said it whole:
 * another thread may be writing it). */
const char *vm_exit_reason(struct vm *vm);
/* Ends the VM with code unless it already ended; safe from any thread. */
void vm_request_exit(struct vm *vm, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Stops and joins the vCPU threads. */
void vm_stop(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Fills fds[0..nr_vcpus) with the vCPU fds. */
void vm_vcpu_fds(const struct vm *vm, int *fds);

/* Returns once every vCPU other than the caller has left guest mode at least once since
 * the call (kicking those inside KVM_RUN): what a vCPU dirtied before is then in its ring. */
void vm_sync_vcpus(struct vm *vm);

/* Stops every vCPU between two KVM_RUN calls and returns once all are parked (false if
 * the VM ended meanwhile). */
bool vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
/* Called by a vCPU thread whose KVM_RUN returned EINTR: parks while a pause lasts. */
void vm_park_vcpu(struct vm *vm);

/* Asks every vCPU whether it could ever run again; ends the VM with EXIT_GUEST_HUNG
 * when none can (every one halted with interrupts off, or waiting for a SIPI nobody can
 * send). Called now and then from the main loop. */
void vm_check_wakeable(struct vm *vm);
/* A vCPU's answer, on its own thread (it may not call KVM ioctls on another's). */
void vm_report_wake_state(struct vcpu *v);

/* Raise or lower an interrupt line of the in-kernel irqchip: x86 a GSI, arm64 an SPI
 * counted from 0 (INTID 32), as an irqfd's gsi is on each. */
int vm_irq_line(struct vm *vm, uint32_t gsi, int level);

#endif
