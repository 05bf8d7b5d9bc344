/* The architected timer through KVM: the counter runs at CNTFRQ, and the virtual timer,
 * programmed for 10 ms, fires no earlier and reaches the GICv3 as PPI 27, pending at the
 * CPU interface (read with interrupts masked, no vector table needed), five times. */
#include "rt.h"

#define GICD_CTLR       0x0
#define GICR_WAKER      0x14
#define GICR_SGI        0x10000
#define GICR_IGROUPR0   (GICR_SGI + 0x80)
#define GICR_ISENABLER0 (GICR_SGI + 0x100)
#define GICR_IPRIORITYR (GICR_SGI + 0x400)
#define VTIMER_INTID    (16 + ARM64_TIMER_PPI_VIRT)

static void gic_init(void)
{
	mmio_write32(ARM64_GIC_DIST_GPA + GICD_CTLR, 0x12); /* ARE, group 1 */
	uint64_t rd = ARM64_GIC_REDIST_GPA; /* the boot CPU's redistributor comes first */
	mmio_write32(rd + GICR_WAKER, mmio_read32(rd + GICR_WAKER) & ~2u);
	mmio_write32(rd + GICR_IGROUPR0, mmio_read32(rd + GICR_IGROUPR0) | 1u << VTIMER_INTID);
	mmio_write32(rd + GICR_IPRIORITYR + VTIMER_INTID / 4 * 4, 0);
	mmio_write32(rd + GICR_ISENABLER0, 1u << VTIMER_INTID);
	write_sysreg(S3_0_C12_C12_5, read_sysreg(S3_0_C12_C12_5) | 1); /* ICC_SRE_EL1.SRE */
	__asm__ volatile("isb");
	write_sysreg(S3_0_C4_C6_0, 0xff); /* ICC_PMR_EL1: everything passes */
	write_sysreg(S3_0_C12_C12_7, 1);  /* ICC_IGRPEN1_EL1 */
	__asm__ volatile("isb");
}

static uint64_t counter(void)
{
	__asm__ volatile("isb");
	return read_sysreg(cntvct_el0);
}

int main(void)
{
	uint64_t hz = read_sysreg(cntfrq_el0);
	rt_printf("counter frequency: %lu Hz\n", hz);
	if (hz == 0)
		return 2;
	gic_init();
	uint64_t tick = hz / 100;
	for (int i = 1; i <= 5; i++) {
		uint64_t t0 = counter();
		write_sysreg(cntv_tval_el0, tick);
		write_sysreg(cntv_ctl_el0, 1); /* enabled, not masked */
		__asm__ volatile("isb");
		uint64_t iar = 1023;
		while (counter() - t0 < 100 * tick) { /* a second at most */
			iar = read_sysreg(S3_0_C12_C12_0); /* ICC_IAR1_EL1: acknowledge */
			if (iar != 1023)
				break;
			cpu_relax();
		}
		uint64_t took = counter() - t0;
		write_sysreg(cntv_ctl_el0, 2); /* masked: the line drops */
		__asm__ volatile("isb");
		if (iar != 1023)
			write_sysreg(S3_0_C12_C12_1, iar); /* ICC_EOIR1_EL1 */
		if (iar != VTIMER_INTID || took < tick) {
			rt_printf("FAIL: tick %d: interrupt %lu after %lu counts (want %u after at least %lu)\n", i, iar,
				  took, VTIMER_INTID, tick);
			return 3;
		}
		rt_printf("tick %d: PPI %lu after %lu us\n", i, iar - 16, took * 1000000 / hz);
	}
	rt_printf("virtual timer: 5 ticks\n");
	return 0;
}
