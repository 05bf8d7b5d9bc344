/* The CPUID table pagoda gives each vCPU. Topology, the hypervisor bit and KVM's leaves
 * are read back from the real KVM. The baseline model's masks are checked on the table
 * pagoda builds: a PVM host's KVM_SET_CPUID2 ORs host bits back into leaf 1 ECX and leaf
 * 7 and 0xd (measured: leaf 1 ECX set to 0x80000000 reads back 0xf6d81203), so the
 * masks are checked on pagoda's own table, not on the read-back. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../../arch/x86/cpuid.h"
#include "../../arch/x86/kvm_x86.h"
#include "check.h"

static struct kvm_cpuid2 *read_back(int vcpu)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 512 * sizeof(c->entries[0]));
	c->nent = 512;
	CHECK_EQ(ioctl(vcpu, KVM_GET_CPUID2, c), 0);
	return c;
}

static void check_vcpu(struct kvm_cpuid2 *c, unsigned int apic, unsigned int nr)
{
	struct kvm_cpuid_entry2 *l1 = x86_cpuid_find(c, 1, 0);
	CHECK(l1 != NULL);
	if (!l1)
		return;
	CHECK_EQ(l1->ebx >> 24, apic);
	CHECK_EQ((l1->ebx >> 16) & 0xff, nr);
	CHECK(l1->ecx & (1u << 31));
	struct kvm_cpuid_entry2 *b0 = x86_cpuid_find(c, 0xb, 0), *b1 = x86_cpuid_find(c, 0xb, 1),
				*b2 = x86_cpuid_find(c, 0xb, 2);
	CHECK(b0 && b1 && b2);
	if (b0 && b1 && b2) {
		CHECK_EQ(b0->edx, apic);
		CHECK_EQ(b1->ebx, nr);
		CHECK_EQ((b1->ecx >> 8) & 0xff, 2); /* core level */
		CHECK_EQ((b2->ecx >> 8) & 0xff, 0); /* terminator */
	}
	struct kvm_cpuid_entry2 *kvm = x86_cpuid_find(c, 0x40000000, 0);
	CHECK(kvm && kvm->ebx == 0x4b4d564b); /* "KVMK" */
}

static void baseline_masks(int kvm)
{
	struct kvm_cpuid2 *base = x86_cpuid_supported(kvm);
	CHECK(base != NULL);
	if (!base)
		return;
	/* pretend the host offers everything, so the masks have something to remove */
	struct kvm_cpuid_entry2 *l1 = x86_cpuid_find(base, 1, 0), *l7 = x86_cpuid_find(base, 7, 0);
	if (l1)
		l1->ecx = 0xffffffff;
	if (l7)
		l7->ebx = l7->ecx = 0xffffffff;
	struct x86_cpuid_model m = { .baseline = true, .nr_vcpus = 2 };
	struct kvm_cpuid2 *c = x86_cpuid_for_vcpu(base, &m, 1);
	struct kvm_cpuid_entry2 *o1 = x86_cpuid_find(c, 1, 0), *o7 = x86_cpuid_find(c, 7, 0);
	uint32_t hidden = (1u << 13) | (1u << 23) | (1u << 26) | (1u << 27) | (1u << 28);
	CHECK(o1 && (o1->ecx & hidden) == 0);
	CHECK(o1 && (o1->ecx & 1)); /* SSE3 stays */
	CHECK(!o7 || (o7->ebx == 0 && o7->ecx == 0));
	m.baseline = false;
	struct kvm_cpuid2 *h = x86_cpuid_for_vcpu(base, &m, 1);
	struct kvm_cpuid_entry2 *h1 = x86_cpuid_find(h, 1, 0);
	CHECK(h1 && (h1->ecx & hidden) == hidden); /* host model passes them through */
	free(base);
	free(c);
	free(h);
}

static void model(int baseline)
{
	int kvm = open("/dev/kvm", O_RDWR);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	int fds[3];
	for (int i = 0; i < 3; i++)
		fds[i] = ioctl(vm, KVM_CREATE_VCPU, i);
	char err[200];
	CHECK_EQ(x86_vcpus_set_cpuid(kvm, fds, 3, baseline, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++) {
		struct kvm_cpuid2 *c = read_back(fds[i]);
		check_vcpu(c, (unsigned int)i, 3);
		free(c);
		close(fds[i]);
	}
	close(vm);
	close(kvm);
}

int main(void)
{
	model(0);
	model(1);
	int kvm = open("/dev/kvm", O_RDWR);
	baseline_masks(kvm);
	close(kvm);
	return check_result("cpuid");
}
