/* The floor under any VMM's start: open /dev/kvm, create a VM, one memslot, one vCPU,
 * run a real-mode guest until its first port write, exit. What a VMM costs beyond this
 * is its own; --irqchip and --pit add what x86 VMMs create by default, to show what
 * KVM's own parts cost (mostly waiting: their teardown at exit).
 *
 *   kvm-floor [--irqchip] [--pit] [-m MiB]      exit status 0 when the guest's write came */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_CODE 0x1000

static int fail(const char *what)
{
	perror(what);
	return 1;
}

/* cs:ip = 0:0x1000 in real mode, where the guest's bytes are. */
static int enter_real_mode(int vcpu)
{
	struct kvm_sregs s;
	struct kvm_regs r = { .rip = GUEST_CODE, .rflags = 2 };
	if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0)
		return -1;
	s.cs.base = 0;
	s.cs.selector = 0;
	return ioctl(vcpu, KVM_SET_SREGS, &s) < 0 || ioctl(vcpu, KVM_SET_REGS, &r) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	int irqchip = 0, pit = 0;
	unsigned long mib = 256;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--irqchip"))
			irqchip = 1;
		else if (!strcmp(argv[i], "--pit"))
			pit = irqchip = 1; /* KVM's PIT needs its irqchip */
		else if (!strcmp(argv[i], "-m") && i + 1 < argc)
			mib = strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: kvm-floor [--irqchip] [--pit] [-m MiB]\n");
			return 2;
		}
	}
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (irqchip && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail("KVM_CREATE_IRQCHIP");
	struct kvm_pit_config pc = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (pit && ioctl(vm, KVM_CREATE_PIT2, &pc) < 0)
		return fail("KVM_CREATE_PIT2");
	size_t size = mib << 20;
	unsigned char *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		return fail("mmap");
	static const unsigned char code[] = { 0xb0, 0x01, 0xe6, 0x10, 0xf4 }; /* mov al,1; out 0x10,al; hlt */
	memcpy(ram + GUEST_CODE, code, sizeof(code));
	struct kvm_userspace_memory_region slot = { .slot = 0, .memory_size = size, .userspace_addr = (unsigned long)ram };
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || run_size < 0)
		return fail("KVM_CREATE_VCPU");
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED || enter_real_mode(vcpu))
		return fail("vCPU setup");
	while (ioctl(vcpu, KVM_RUN, 0) == 0 || run->exit_reason == KVM_EXIT_INTR) {
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x10)
			return 0; /* the kernel tears the VM down in the exit */
		if (run->exit_reason != KVM_EXIT_INTR) {
			fprintf(stderr, "kvm-floor: unexpected exit %u\n", run->exit_reason);
			return 1;
		}
	}
	return fail("KVM_RUN");
}
