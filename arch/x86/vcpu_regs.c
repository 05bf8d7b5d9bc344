#include "vcpu_regs.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "boot_layout.h"

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

/* Selectors match the GDT pagoda writes at BOOT_GDT_GPA (the Linux boot protocol's
 * __BOOT_CS/__BOOT_DS), so an iretq or a segment reload in the guest finds them. */
#define SEL_CODE 0x10
#define SEL_DATA 0x18
#define SEL_TSS  0x20

static struct kvm_segment flat_seg(uint16_t sel, uint8_t type, int l, int db)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = (uint8_t)db, .s = 1, .l = (uint8_t)l, .g = 1,
	};
}

static void set_common_sregs(struct kvm_sregs *s)
{
	s->ds = s->es = s->fs = s->gs = s->ss = flat_seg(SEL_DATA, 0x3, 0, 1);
	s->tr = (struct kvm_segment){ .selector = SEL_TSS, .limit = 0x67, .type = 0xb, .present = 1 };
	s->ldt = (struct kvm_segment){ .type = 0x2, .present = 1, .limit = 0xffff };
	s->gdt.base = BOOT_GDT_GPA;
	s->gdt.limit = 5 * 8 - 1;
	s->idt.base = 0;
	s->idt.limit = 0;
}

static int set_state(int fd, struct kvm_sregs *s, struct kvm_regs *r)
{
	if (ioctl(fd, KVM_SET_SREGS, s) < 0)
		return -errno;
	if (ioctl(fd, KVM_SET_REGS, r) < 0)
		return -errno;
	return 0;
}

int x86_vcpu_enter_long_mode(int fd, uint64_t entry, uint64_t rsi)
{
	struct kvm_sregs s;
	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	set_common_sregs(&s);
	s.cs = flat_seg(SEL_CODE, 0xb, 1, 0);
	s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	s.cr3 = BOOT_PML4_GPA;
	s.cr4 = CR4_PAE;
	s.efer = EFER_LME | EFER_LMA;
	struct kvm_regs r = { .rip = entry, .rsi = rsi, .rsp = BOOT_STACK_TOP, .rflags = 0x2 };
	return set_state(fd, &s, &r);
}

int x86_vcpu_enter_pvh(int fd, uint64_t entry, uint64_t rbx)
{
	struct kvm_sregs s;
	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	set_common_sregs(&s);
	s.cs = flat_seg(SEL_CODE, 0xb, 0, 1);
	s.cr0 = CR0_PE | CR0_ET;
	s.cr3 = 0;
	s.cr4 = 0;
	s.efer = 0;
	struct kvm_regs r = { .rip = entry, .rbx = rbx, .rflags = 0x2 };
	return set_state(fd, &s, &r);
}

/* int3 (0xcc): the PVM emulator does not deliver #BP. Injecting it ourselves with RIP
 * past the instruction gives the guest exactly what hardware would (#BP is a trap). */
static int fixup_int3(int fd)
{
	struct kvm_regs r;
	struct kvm_vcpu_events ev;
	if (ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	r.rip += 1;
	ev.exception.injected = 1;
	ev.exception.nr = 3;
	ev.exception.has_error_code = 0;
	ev.flags = 0;
	if (ioctl(fd, KVM_SET_REGS, &r) < 0 || ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	return 0;
}

/* KVM reports the rejected instruction's bytes when it has them (docs/HOSTS.md: the PVM
 * emulator does for int3). */
static int insn_bytes(const struct kvm_run *run, const uint8_t **bytes)
{
	const __typeof__(run->emulation_failure) *ef = &run->emulation_failure;
	if (run->exit_reason != KVM_EXIT_INTERNAL_ERROR || ef->suberror != KVM_INTERNAL_ERROR_EMULATION || ef->ndata < 2 ||
	    !(ef->flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) ||
	    ef->insn_size > sizeof(ef->insn_bytes))
		return 0;
	*bytes = ef->insn_bytes;
	return ef->insn_size;
}

int x86_fixup_emulation_failure(int fd, struct kvm_run *run)
{
	const uint8_t *b;
	int len = insn_bytes(run, &b);
	if (len >= 1 && b[0] == 0xcc)
		return fixup_int3(fd);
	return -ENOTSUP;
}

static void dump_seg(FILE *out, const char *name, const struct kvm_segment *s)
{
	fprintf(out, "  %-3s sel=%04x base=%016llx limit=%08x type=%x l=%u db=%u\n", name,
		s->selector, (unsigned long long)s->base, s->limit, s->type, s->l, s->db);
}

void x86_vcpu_dump(int fd, const struct kvm_run *run, FILE *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(out, "  (registers unavailable: %s)\n", strerror(errno));
		return;
	}
	fprintf(out, "  rip=%016llx rsp=%016llx rflags=%016llx\n"
		"  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
		"  rsi=%016llx rdi=%016llx rbp=%016llx\n"
		"  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n",
		r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp,
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	dump_seg(out, "cs", &s.cs);
	dump_seg(out, "ss", &s.ss);
	/* SVM's shutdown intercept leaves the VMCB undefined, so KVM INITs the vCPU before
	 * returning KVM_EXIT_SHUTDOWN: on AMD a triple fault's dump is the reset state. */
	if (run->exit_reason == KVM_EXIT_SHUTDOWN && r.rip == 0xfff0 && s.cs.selector == 0xf000)
		fprintf(out, "  (the reset state: on AMD, KVM re-initialises a vCPU at a shutdown, so the registers at the fault are lost)\n");
	const uint8_t *b;
	int len = insn_bytes(run, &b);
	if (len > 0) {
		fprintf(out, "  instruction bytes:");
		for (int i = 0; i < len; i++)
			fprintf(out, " %02x", b[i]);
		fprintf(out, "\n");
	}
}
