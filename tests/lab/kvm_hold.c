/*
 * Holds KVM's global static keys on for the life of the x86 lab, so that the lab kernel
 * never patches its own text while tests create and destroy VMs.
 *
 * Why: every VM creation and destruction flips static keys (the preempt-notifier key
 * compiled into __schedule, KVM's kvm_has_noapic_vcpu and apic_sw_disabled/apic_hw_disabled)
 * when their count moves between 0 and 1, and flipping one rewrites code on every CPU
 * through int3 breakpoints. Under QEMU's multi-threaded TCG another vCPU can still execute
 * the int3 after the kernel has finished the patch: "Oops: int3" at __schedule+0x428
 * within ~100 `pagoda run`s of a tiny guest in one lab boot. With one VM of each kind held
 * open here the counts never reach 0 again, so nothing is patched after this starts.
 *
 * Built and started by lab.sh (x86) before the command runs; blocks in pause() until the
 * lab powers off. Its own first VM still flips the keys once per lab boot (one CI lab was
 * lost to that, 6.6 s in: the retry covers it). Taking the other CPUs offline around that
 * flip was tried: Linux guests of 2 and 4 vCPUs then triple-faulted in the lab. Exits 1,
 * saying why, when KVM cannot be opened.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MSR_IA32_APICBASE 0x1b
#define APIC_DEFAULT_BASE 0xfee00000ULL

static int fail(const char *what)
{
    perror(what);
    return 1;
}

/* A VM with one vCPU that never runs; with_irqchip gives that vCPU an in-kernel LAPIC. */
static int hold_vm(int kvm, int with_irqchip, int *vcpu)
{
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        return -1;
    if (with_irqchip && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        return -1;
    *vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    return *vcpu < 0 ? -1 : vm;
}

/* Clearing the APIC's global enable bit holds apic_hw_disabled; its software enable
 * stays clear from reset, which holds apic_sw_disabled. */
static int disable_apic(int vcpu)
{
    struct {
        struct kvm_msrs head;
        struct kvm_msr_entry entry;
    } msrs = {.head.nmsrs = 1, .entry = {.index = MSR_IA32_APICBASE, .data = APIC_DEFAULT_BASE}};
    return ioctl(vcpu, KVM_SET_MSRS, &msrs) == 1 ? 0 : -1;
}

int main(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        return fail("kvm_hold: /dev/kvm");
    int vcpu_plain, vcpu_apic;
    if (hold_vm(kvm, 0, &vcpu_plain) < 0)
        return fail("kvm_hold: a VM without an in-kernel irqchip");
    if (hold_vm(kvm, 1, &vcpu_apic) < 0)
        return fail("kvm_hold: a VM with an in-kernel irqchip");
    if (disable_apic(vcpu_apic) < 0)
        return fail("kvm_hold: KVM_SET_MSRS (APIC base)");
    printf("kvm_hold: holding KVM's static keys\n");
    fflush(stdout);
    for (;;)
        pause();
}
