/* A memory pattern over all of RAM the guest owns (every RAM range above its own image): a two-word signature per 4 KiB page, written in one pass and verified in a
 * second, so every page of every region (including above 4 GiB) is touched and must hold
 * its own data. "stride=N" writes every Nth page instead, "count=N" stops after N pages;
 * "hold=1" then waits for a byte on the serial port before powering off (so a test can
 * inspect the host side). Each pass is timed with the stopwatch. */
#include "rt.h" /* the architecture's runtime (rt/ or arm64/) */

#define PAGE 4096UL
#define SEED 0x9e3779b97f4a7c15ULL

static uint64_t sig(uint64_t a)
{
	return (a * SEED) ^ (a >> 29);
}

static uint64_t walk(bool write, uint64_t stride, uint64_t count, uint64_t *bad_addr)
{
	unsigned int idx = 0;
	uint64_t lo, hi, pages = 0;
	while (rt_ram_range(&idx, &lo, &hi)) {
		for (uint64_t a = lo; a + PAGE <= hi && pages < count; a += PAGE * stride) {
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
	rt_stopwatch_start();
	uint64_t w = walk(true, stride, count, &bad);
	uint64_t t_write = rt_stopwatch_us();
	rt_stopwatch_start();
	uint64_t v = walk(false, stride, count, &bad);
	uint64_t t_verify = rt_stopwatch_us();
	if (bad || v != w) {
		rt_printf("FAIL: page at %lx lost its pattern (%lu of %lu verified)\n", bad, v, w);
		return 1;
	}
	rt_printf("pattern ok: %lu pages (%lu MiB) written and verified\n", w, (w * PAGE * stride) >> 20);
	rt_printf("write pass: %lu us, verify pass: %lu us\n", t_write, t_verify);
	if (rt_param_u64("hold", 0)) {
		rt_printf("holding\n");
		while (!rt_input_ready())
			cpu_relax();
	}
	return 0;
}
