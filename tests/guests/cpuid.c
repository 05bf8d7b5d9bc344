/* What the guest CPU model promises: the hypervisor bit and KVM's leaves, a topology that
 * agrees with the APIC id, and (with "expect=baseline") no CMPXCHG16B. Prints the features
 * it sees. On a PVM host the other leaf-1 ECX bits (XSAVE, AVX, POPCNT) reach the guest
 * from the host CPU whatever KVM_SET_CPUID2 said, so only unit tests (which read the table
 * back from KVM) check them. */
#include "rt/rt.h"

struct regs {
	uint32_t a, b, c, d;
};

static struct regs cpuid(uint32_t leaf, uint32_t sub)
{
	struct regs r;
	__asm__ volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(sub));
	return r;
}

static int fail(const char *what)
{
	rt_printf("FAIL: %s\n", what);
	return 1;
}

int main(void)
{
	struct regs l1 = cpuid(1, 0);
	if (!(l1.c & (1u << 31)))
		return fail("hypervisor bit clear");
	struct regs kvm = cpuid(0x40000000, 0);
	char sig[13];
	for (int i = 0; i < 4; i++) {
		sig[i] = (char)(kvm.b >> (8 * i));
		sig[4 + i] = (char)(kvm.c >> (8 * i));
		sig[8 + i] = (char)(kvm.d >> (8 * i));
	}
	sig[12] = 0;
	rt_printf("hypervisor signature: %s, max leaf %x\n", sig, kvm.a);
	if (sig[0] != 'K' || sig[3] != 'K' || kvm.a < 0x40000001)
		return fail("KVM signature missing");

	uint32_t apic = lapic_read(0x20) >> 24;
	uint8_t ids[64];
	unsigned int n = rt_mp_cpus(ids, 64);
	if ((l1.b >> 24) != apic)
		return fail("CPUID.1 EBX apic id differs from the LAPIC's");
	if (n > 1 && ((l1.b >> 16) & 0xff) < n)
		return fail("CPUID.1 logical processor count below the CPU count");
	struct regs b0 = cpuid(0xb, 0), b1 = cpuid(0xb, 1);
	if (cpuid(0, 0).a >= 0xb && b0.b != 0) {
		if (b0.d != apic || b1.b != n)
			return fail("CPUID.0xB topology does not match");
		rt_printf("topology: %u logical processors, x2apic id %u\n", b1.b, b0.d);
	}

	int xsave = !!(l1.c & (1u << 26)), popcnt = !!(l1.c & (1u << 23)), avx = !!(l1.c & (1u << 28));
	int cx16 = !!(l1.c & (1u << 13));
	rt_printf("features: xsave=%d avx=%d popcnt=%d cmpxchg16b=%d (leaf 1 ecx %x)\n", xsave, avx, popcnt, cx16, l1.c);
	const char *expect = rt_param("expect");
	if (expect && expect[0] == 'b' && cx16)
		return fail("baseline model shows CMPXCHG16B");
	rt_printf("cpuid ok\n");
	return 0;
}
