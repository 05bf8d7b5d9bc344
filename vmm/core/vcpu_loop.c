#include "vcpu_loop.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "machine_arch.h"
#include "sandbox.h"
#include "../../util/clock.h"

#define KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig; /* its only job is to make KVM_RUN return EINTR */
}

int vcpu_loop_install_kick_signal(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	return sigaction(KICK_SIGNAL, &sa, NULL) ? -errno : 0;
}

void vcpu_loop_kick(struct vcpu *v)
{
	/* immediate_exit covers a kick that lands before the thread enters KVM_RUN. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, KICK_SIGNAL);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	for (uint32_t i = 0; i < run->io.count; i++)
		bus_access(&v->vm->pio, run->io.port, data + (size_t)i * run->io.size,
			   run->io.size, is_write);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : sizeof(run->mmio.data);
	/* KVM hands an access to RAM out as MMIO when it could not get the page from the
	 * backing (measured: a full tmpfs behind file=). Dropping it would lose the guest's
	 * write silently; end the VM instead. */
	if (guest_mem_ptr(&v->vm->mem, run->mmio.phys_addr, 1, GUEST_READ)) {
		vm_request_exit(v->vm, EXIT_VMM_ERROR, "vCPU %u: guest RAM at 0x%llx could not be backed (%s): a full tmpfs, a truncated file or an exhausted hugetlb pool",
				v->index, (unsigned long long)run->mmio.phys_addr, v->vm->mem.backend.desc);
		return;
	}
	bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write);
}

static void end_with_dump(struct vcpu *v, int code, const char *what)
{
	fprintf(stderr, "pagoda: vCPU %u registers at exit:\n", v->index);
	machine_arch_vcpu_dump(v->fd, v->run, stderr);
	vm_request_exit(v->vm, code, "vCPU %u: %s", v->index, what);
}

static void handle_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	if (v->vm->pvm_fixups && machine_arch_fixup_internal_error(v->fd, run) == 0)
		return;
	char what[96];
	snprintf(what, sizeof(what), "KVM internal error, suberror %u", run->internal.suberror);
	end_with_dump(v, EXIT_INTERNAL_ERROR, what);
}

static void handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_exit(v->vm, EXIT_GUEST_OFF, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_exit(v->vm, EXIT_GUEST_OFF, "guest reset");
		break;
	default:
		end_with_dump(v, EXIT_TRIPLE_FAULT, "guest crashed (system event)");
	}
}

/* Collect this vCPU's ring, reset, and go on: nothing is lost. */
static void handle_ring_full(struct vcpu *v)
{
	int r = dirty_log_ring_full(v->vm->dirty, v->index);
	if (r == -EIO)
		vm_request_exit(v->vm, EXIT_VMM_ERROR, "vCPU %u: dirty ring full but nothing to collect: this KVM's ring cannot drain, use --dirty-log clear or bitmap", v->index);
	else if (r)
		vm_request_exit(v->vm, EXIT_VMM_ERROR, "vCPU %u: dirty ring full and could not be reset: %s", v->index, strerror(-r));
}

static void dispatch_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[96];
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return;
	case KVM_EXIT_INTR:
		return;
	case KVM_EXIT_SHUTDOWN:
		end_with_dump(v, EXIT_TRIPLE_FAULT, "guest triple fault (shutdown)");
		return;
	case KVM_EXIT_INTERNAL_ERROR:
		handle_internal_error(v);
		return;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(v);
		return;
	case KVM_EXIT_DIRTY_RING_FULL:
		handle_ring_full(v);
		return;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "KVM could not enter the guest, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		end_with_dump(v, EXIT_UNHANDLED, what);
		return;
	default:
		snprintf(what, sizeof(what), "unhandled VM exit reason %u", run->exit_reason);
		end_with_dump(v, EXIT_UNHANDLED, what);
	}
}

/* Auto-converge during a migration: the sender kicks every 10 ms; each kick costs the
 * vCPU throttle_pct of that period. */
static void throttle(struct vm *vm)
{
	unsigned int pct = atomic_load(&vm->throttle_pct);
	if (!pct)
		return;
	struct timespec ts = { 0, (long)pct * 100000L };
	nanosleep(&ts, NULL);
}

void *vcpu_loop_thread(void *arg)
{
	struct vcpu *v = arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	int e = sandbox_enter(SANDBOX_VCPU);
	if (e) {
		vm_request_exit(v->vm, EXIT_VMM_ERROR, "vCPU %u: installing its seccomp filter: %s", v->index, strerror(-e));
		return NULL;
	}
	if (v->index == 0)
		atomic_store(&v->vm->first_run_ns, now_ns());
	while (!atomic_load(&v->vm->stopping)) {
		atomic_store(&v->in_guest, true);
		int r = ioctl(v->fd, KVM_RUN, 0);
		atomic_store(&v->in_guest, false);
		atomic_fetch_add(&v->run_returns, 1);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* Throttled first, then the kick flag re-armed, then the checks: a pause
				 * asked during the throttle's sleep (whose kick the sleep swallowed) is
				 * seen here; one asked later finds the flag set and KVM_RUN returns at
				 * once. Checking before the sleep lost such kicks: the pause waited for
				 * the guest's next exit (63 ms seen at 90% throttle). */
				throttle(v->vm);
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				/* Any I/O of the last exit is complete now: a safe point to park. */
				if (atomic_load(&v->vm->pause_requested))
					vm_park_vcpu(v->vm);
				if (atomic_load(&v->vm->wake_check))
					vm_report_wake_state(v);
				continue;
			}
			if (errno == ENOSYS) { /* arm64 without KVM_CAP_ARM_NISV_TO_USER */
				end_with_dump(v, EXIT_UNHANDLED, "the guest accessed MMIO with an instruction KVM cannot decode (arm64: a load/store pair, or one with writeback, on device memory)");
				break;
			}
			if (errno == EFAULT)
				vm_request_exit(v->vm, EXIT_VMM_ERROR, "vCPU %u: KVM_RUN: Bad address: KVM could not get a page of guest RAM from its backing (a full tmpfs, a truncated file, an exhausted hugetlb pool?)", v->index);
			else
				vm_request_exit(v->vm, EXIT_VMM_ERROR, "vCPU %u: KVM_RUN: %s", v->index, strerror(errno));
			break;
		}
		/* Only this thread writes it; ctl stats reads it while the vCPU runs. */
		__atomic_store_n(&v->nr_exits, v->nr_exits + 1, __ATOMIC_RELAXED);
		dispatch_exit(v);
		/* A pause asked while this exit was handled: finish its I/O in KVM and stop. */
		if (atomic_load(&v->vm->pause_requested))
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}
