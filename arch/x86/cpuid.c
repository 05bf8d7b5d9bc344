#include "cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

struct kvm_cpuid2 *x86_cpuid_supported(int kvm_fd)
{
	for (unsigned int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		int e = errno;
		free(c);
		if (e != E2BIG) {
			errno = e;
			return NULL;
		}
	}
	errno = E2BIG;
	return NULL;
}

struct kvm_cpuid_entry2 *x86_cpuid_find(struct kvm_cpuid2 *c, unsigned int fn, unsigned int idx)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == fn &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == idx))
			return e;
	}
	return NULL;
}

static unsigned int bits_for(unsigned int n)
{
	unsigned int b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

/* One package, one thread per core, nr cores: leaves 1, 4, 0x80000008 (0xb is rebuilt
 * whole by put_extended_topology). */
static void set_topology(struct kvm_cpuid2 *c, unsigned int nr, unsigned int apic_id)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffff) | (nr << 16) | (apic_id << 24);
			if (nr > 1)
				e->edx |= 1u << 28; /* HTT: the count in ebx[23:16] is valid */
			break;
		case 4:
			e->eax = (e->eax & 0x3fff) | ((nr - 1) << 26);
			if (((e->eax >> 5) & 7) == 3) /* L3 is shared by the package */
				e->eax |= (nr - 1) << 14;
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xffu) | (nr - 1);
			break;
		}
	}
}

/* Leaf 0xb (and 0x1f, its successor, when the basic range reaches it): KVM may list only
 * subleaf 0, so every subleaf is written here: SMT level, core level, terminator. */
static void put_extended_topology(struct kvm_cpuid2 *c, unsigned int nr, unsigned int apic_id,
				  unsigned int max_basic)
{
	unsigned int out = 0;
	for (unsigned int i = 0; i < c->nent; i++)
		if (c->entries[i].function != 0xb && c->entries[i].function != 0x1f)
			c->entries[out++] = c->entries[i];
	c->nent = out;
	for (unsigned int fn = 0xb; fn <= 0x1f && fn <= max_basic; fn += 0x1f - 0xb) {
		const struct kvm_cpuid_entry2 levels[3] = {
			{ .function = fn, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			  .eax = 0, .ebx = 1, .ecx = 1u << 8, .edx = apic_id },
			{ .function = fn, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			  .eax = bits_for(nr), .ebx = nr, .ecx = 1 | (2u << 8), .edx = apic_id },
			{ .function = fn, .index = 2, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			  .ecx = 2, .edx = apic_id },
		};
		for (unsigned int l = 0; l < 3; l++)
			c->entries[c->nent++] = levels[l];
	}
}

/* Features the PVM emulator rejects (docs/HOSTS.md), plus everything that needs XSAVE state. */
static void apply_baseline(struct kvm_cpuid2 *c)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ecx &= ~((1u << 3) |  /* monitor/mwait */
				    (1u << 12) | /* FMA */
				    (1u << 13) | /* cmpxchg16b */
				    (1u << 23) | /* popcnt */
				    (1u << 25) | /* AES */
				    (1u << 26) | /* XSAVE */
				    (1u << 27) | /* OSXSAVE */
				    (1u << 28) | /* AVX */
				    (1u << 29) | /* F16C */
				    (1u << 30)); /* RDRAND */
			break;
		case 7:
			e->ebx = e->ecx = e->edx = 0;
			if (e->index == 0)
				e->eax = 0;
			break;
		case 0xd:
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0x80000001:
			e->ecx &= ~((1u << 5) |  /* ABM: lzcnt, popcnt */
				    (1u << 6) |  /* SSE4A */
				    (1u << 11) | /* XOP */
				    (1u << 16) | /* FMA4 */
				    (1u << 21)); /* TBM */
			break;
		}
	}
}

struct kvm_cpuid2 *x86_cpuid_for_vcpu(const struct kvm_cpuid2 *base,
				      const struct x86_cpuid_model *model, unsigned int apic_id)
{
	size_t sz = sizeof(*base) + base->nent * sizeof(base->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz + 6 * sizeof(base->entries[0])); /* room for 0xb, 0x1f */
	if (!c)
		return NULL;
	memcpy(c, base, sz);
	struct kvm_cpuid_entry2 *leaf0 = x86_cpuid_find(c, 0, 0);
	struct kvm_cpuid_entry2 *leaf1 = x86_cpuid_find(c, 1, 0);
	if (leaf1)
		leaf1->ecx |= 1u << 31; /* hypervisor present */
	set_topology(c, model->nr_vcpus, apic_id);
	put_extended_topology(c, model->nr_vcpus, apic_id, leaf0 ? leaf0->eax : 0);
	if (model->baseline)
		apply_baseline(c);
	return c;
}
