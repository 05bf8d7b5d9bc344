#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../../mem/kvm_compat.h"
#include "vcpu_loop.h"
#include "../../util/err.h"

static int open_kvm(char *err, size_t errlen)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return err_set(err, errlen, -e, "/dev/kvm does not exist: load KVM (modprobe kvm_intel or kvm_amd) or run on a host with virtualization");
		if (e == EACCES || e == EPERM)
			return err_set(err, errlen, -e, "/dev/kvm: permission denied: run as root or add your user to the kvm group");
		return err_set(err, errlen, -e, "/dev/kvm: %s", strerror(e));
	}
	/* The only test of the host: kvmtool also demands vmx/svm in CPUID, which a PVM
	 * host lacks although its KVM works. */
	int ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		close(fd);
		return err_set(err, errlen, -ENOTSUP, "/dev/kvm answers API version %d, pagoda needs %d", ver, KVM_API_VERSION);
	}
	return fd;
}

int vm_create(struct vm *vm, vm_type_fn type, void *type_ctx, char *err, size_t errlen)
{
	*vm = (struct vm){ .kvm_fd = -1, .vm_fd = -1, .exit_efd = -1 };
	atomic_init(&vm->exit_code, -1);
	bus_init(&vm->pio);
	bus_init(&vm->mmio);

	vm->kvm_fd = open_kvm(err, errlen);
	if (vm->kvm_fd < 0)
		return vm->kvm_fd;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	int t = type ? type(vm->kvm_fd, type_ctx, err, errlen) : 0;
	if (t < 0)
		return t;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, (unsigned long)t);
	if (vm->vm_fd < 0)
		return err_set(err, errlen, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	int sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0)
		return err_set(err, errlen, -errno, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	vm->run_mmap_size = (size_t)sz;
	vm->exit_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_efd < 0)
		return err_set(err, errlen, -errno, "eventfd: %s", strerror(errno));
	return 0;
}

int vm_create_vcpus(struct vm *vm, unsigned int nr, char *err, size_t errlen)
{
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && nr > (unsigned int)max)
		return err_set(err, errlen, -EINVAL, "--cpus %u is more than this host's KVM allows (%d): use -c %d or fewer", nr, max, max);
	vm->vcpus = calloc(nr, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return err_set(err, errlen, -ENOMEM, "out of memory for %u vCPUs", nr);
	for (unsigned int i = 0; i < nr; i++) {
		struct vcpu *v = &vm->vcpus[i];
		*v = (struct vcpu){ .vm = vm, .index = i, .fd = -1 };
		vm->nr_vcpus = i + 1;
		v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, i);
		if (v->fd < 0)
			return err_set(err, errlen, -errno, "KVM_CREATE_VCPU %u: %s", i, strerror(errno));
		v->run = mmap(NULL, vm->run_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			return err_set(err, errlen, -errno, "mmap of vCPU %u run area: %s", i, strerror(errno));
		}
	}
	return 0;
}

int vm_start(struct vm *vm, char *err, size_t errlen)
{
	int r = vcpu_loop_install_kick_signal();
	if (r)
		return err_set(err, errlen, r, "sigaction: %s", strerror(-r));
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		r = pthread_create(&v->thread, NULL, vcpu_loop_thread, v);
		if (r)
			return err_set(err, errlen, -r, "starting vCPU %u thread: %s", i, strerror(r));
		v->thread_started = true;
	}
	return 0;
}

const char *vm_exit_reason(struct vm *vm)
{
	return atomic_load_explicit(&vm->exit_reason_set, memory_order_acquire) ? vm->exit_reason : "";
}

void vm_request_exit(struct vm *vm, int code, const char *fmt, ...)
{
	int expected = -1;
	if (!atomic_compare_exchange_strong(&vm->exit_code, &expected, code))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
	va_end(ap);
	atomic_store_explicit(&vm->exit_reason_set, true, memory_order_release);
	atomic_store(&vm->stopping, true);
	uint64_t one = 1;
	if (write(vm->exit_efd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow from one write; nothing else can fail here. */
	}
}

void vm_stop(struct vm *vm)
{
	atomic_store(&vm->stopping, true);
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond); /* parked vCPUs leave too */
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vcpu_loop_kick(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (v->thread_started) {
			pthread_join(v->thread, NULL);
			v->thread_started = false;
		}
	}
}

void vm_destroy(struct vm *vm)
{
	vm_stop(vm);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (v->run)
			munmap(v->run, vm->run_mmap_size);
		if (v->fd >= 0)
			close(v->fd);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
	guest_mem_destroy(&vm->mem);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	irq_routes_destroy(&vm->routes);
	if (vm->exit_efd >= 0)
		close(vm->exit_efd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->exit_efd = vm->vm_fd = vm->kvm_fd = -1;
}

void vm_vcpu_fds(const struct vm *vm, int *fds)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		fds[i] = vm->vcpus[i].fd;
}

void vm_sync_vcpus(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (!v->thread_started || pthread_equal(v->thread, pthread_self()))
			continue;
		unsigned long long seen = atomic_load(&v->run_returns);
		if (!atomic_load(&v->in_guest))
			continue;
		vcpu_loop_kick(v);
		while (atomic_load(&v->in_guest) && atomic_load(&v->run_returns) == seen &&
		       !atomic_load(&vm->stopping)) {
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		}
	}
}

int vm_irq_line(struct vm *vm, uint32_t gsi, int level)
{
#if defined(__aarch64__)
	gsi = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (gsi + 32);
#endif
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

static unsigned int started_vcpus(const struct vm *vm)
{
	unsigned int n = 0;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		n += vm->vcpus[i].thread_started;
	return n;
}

bool vm_pause(struct vm *vm)
{
	atomic_store(&vm->pause_requested, true);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vcpu_loop_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < started_vcpus(vm) && !atomic_load(&vm->stopping)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000; /* re-check stopping now and then */
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &ts);
	}
	vm->paused = !atomic_load(&vm->stopping);
	pthread_mutex_unlock(&vm->pause_lock);
	return vm->paused;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, false);
	vm->paused = false;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_park_vcpu(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_requested) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_report_wake_state(struct vcpu *v)
{
	unsigned int st = WAKE_RUNNABLE;
#if defined(__x86_64__)
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) == 0) {
		if (mp.mp_state == KVM_MP_STATE_INIT_RECEIVED || mp.mp_state == KVM_MP_STATE_UNINITIALIZED)
			st = WAKE_WAITING_SIPI;
		else if (mp.mp_state == KVM_MP_STATE_HALTED && ioctl(v->fd, KVM_GET_REGS, &regs) == 0 &&
			 !(regs.rflags & (1u << 9)))
			st = WAKE_HALTED_IF_OFF;
	}
#endif
	/* arm64: WFI wakes on a pending interrupt whatever PSTATE masks, so no state is stuck. */
	atomic_store(&v->wake_state, st);
}

void vm_check_wakeable(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock); /* a migration may be pausing the VM meanwhile */
	bool paused = vm->paused;
	pthread_mutex_unlock(&vm->pause_lock);
	if (paused || atomic_load(&vm->stopping))
		return;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		atomic_store(&vm->vcpus[i].wake_state, WAKE_UNKNOWN);
	atomic_store(&vm->wake_check, true);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vcpu_loop_kick(&vm->vcpus[i]);
	bool halted = false;
	for (int tries = 0; tries < 50; tries++) { /* up to 50 ms for every answer */
		unsigned int answered = 0, stuck = 0;
		halted = false;
		for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
			unsigned int st = atomic_load(&vm->vcpus[i].wake_state);
			answered += st != WAKE_UNKNOWN;
			stuck += st == WAKE_HALTED_IF_OFF || st == WAKE_WAITING_SIPI;
			halted |= st == WAKE_HALTED_IF_OFF;
		}
		if (answered == vm->nr_vcpus) {
			atomic_store(&vm->wake_check, false);
			if (stuck == vm->nr_vcpus && halted)
				vm_request_exit(vm, EXIT_GUEST_HUNG, "every vCPU is halted with interrupts off (cli; hlt): nothing can wake the guest");
			return;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	atomic_store(&vm->wake_check, false); /* someone was busy: it runs, all is well */
}
