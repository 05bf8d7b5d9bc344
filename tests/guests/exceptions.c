/* Exceptions reach the guest's own handlers: int3 (#BP, which a PVM host only delivers
 * with pagoda's fix-up), ud2 (#UD) and a page fault on an unmapped address (#PF). */
#include "rt/rt.h"

static volatile int seen_bp, seen_ud, seen_pf;
static volatile uint64_t pf_addr;
extern const uint8_t pf_insn[], pf_resume[];

static void on_bp(struct rt_frame *f)
{
	(void)f;
	seen_bp++;
}

static void on_ud(struct rt_frame *f)
{
	seen_ud++;
	f->rip += 2; /* past ud2 */
}

static void on_pf(struct rt_frame *f)
{
	seen_pf++;
	pf_addr = read_cr2();
	if (f->rip == (uint64_t)(uintptr_t)pf_insn)
		f->rip = (uint64_t)(uintptr_t)pf_resume;
	else
		rt_exit(3);
}

int main(void)
{
	rt_idt_init();
	rt_set_handler(3, on_bp);
	rt_set_handler(6, on_ud);
	rt_set_handler(14, on_pf);

	__asm__ volatile("int3");
	rt_printf("int3: handler ran %d time(s)\n", seen_bp);
	__asm__ volatile("ud2");
	rt_printf("ud2: handler ran %d time(s)\n", seen_ud);
	/* 512 GiB: PML4 entry 1 is not present in pagoda's identity map. */
	uint64_t bad = 0x8000000000ULL, v;
	__asm__ volatile("pf_insn: mov (%1), %0\n\tpf_resume:" : "=r"(v) : "r"(bad) : "memory");
	(void)v;
	rt_printf("page fault: handler ran %d time(s), cr2=%lx\n", seen_pf, pf_addr);
	if (seen_bp != 1 || seen_ud != 1 || seen_pf != 1 || pf_addr != bad)
		return 1;
	rt_printf("exceptions ok\n");
	return 0;
}
