/* A memory pattern over all of RAM the guest owns (every usable e820 range above its own
 * image): a two-word signature per 4 KiB page, written in one pass and verified in a
 * second, so every page of every region (including above 4 GiB) is touched and must hold
 * its own data. "stride=N" writes every Nth page instead, "count=N" stops after N pages;
 * "hold=1" then waits for a byte on the serial port before powering off (so a test can
 * inspect the host side). Each pass is timed with the LAPIC timer as a stopwatch. */
#include "rt/rt.h"

#define PAGE 4096UL
#define SEED 0x9e3779b97f4a7c15ULL

static uint64_t sig(uint64_t a)
{
	return (a * SEED) ^ (a >> 29);
}

/* The LAPIC timer counting down from its maximum: KVM's APIC bus runs at 1 GHz, so with
 * divide-by-16 one tick is 16 ns and the range about 68 s. */
static void stopwatch_start(void)
{
	lapic_enable();
	lapic_write(0x3e0, 0x3);          /* divide by 16 */
	lapic_write(0x320, 1u << 16);     /* masked, one-shot */
	lapic_write(0x380, 0xffffffff);
}

static uint64_t stopwatch_us(void)
{
	return (uint64_t)(0xffffffffu - lapic_read(0x390)) * 16 / 1000;
}

static uint64_t walk(bool write, uint64_t stride, uint64_t count, uint64_t *bad_addr)
{
	const struct rt_e820 *e;
	unsigned int n = rt_e820(&e);
	uint64_t lowest = ((uint64_t)(uintptr_t)_end + PAGE - 1) & ~(PAGE - 1), pages = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (e[i].type != 1)
			continue;
		uint64_t a = e[i].addr < lowest ? lowest : e[i].addr, end = e[i].addr + e[i].size;
		for (; a + PAGE <= end && pages < count; a += PAGE * stride) {
			volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)a;
			if (write) {
				p[0] = sig(a);
				p[511] = ~sig(a);
			} else if (p[0] != sig(a) || p[511] != ~sig(a)) {
				*bad_addr = a;
				return pages;
			}
			pages++;
		}
	}
	return pages;
}

int main(void)
{
	uint64_t stride = rt_param_u64("stride", 1), count = rt_param_u64("count", UINT64_MAX), bad = 0;
	if (stride == 0)
		stride = 1;
	stopwatch_start();
	uint64_t w = walk(true, stride, count, &bad);
	uint64_t t_write = stopwatch_us();
	stopwatch_start();
	uint64_t v = walk(false, stride, count, &bad);
	uint64_t t_verify = stopwatch_us();
	if (bad || v != w) {
		rt_printf("FAIL: page at %lx lost its pattern (%lu of %lu verified)\n", bad, v, w);
		return 1;
	}
	rt_printf("pattern ok: %lu pages (%lu MiB) written and verified\n", w, (w * PAGE * stride) >> 20);
	rt_printf("write pass: %lu us, verify pass: %lu us\n", t_write, t_verify);
	if (rt_param_u64("hold", 0)) {
		rt_printf("holding\n");
		while (!(inb(0x3f8 + 5) & 1))
			cpu_relax();
	}
	return 0;
}
