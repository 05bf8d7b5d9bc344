/* The working-set test guest: a known access pattern. It writes every page of its free
 * RAM once (so all of it is populated), says so, then reads one word of each page of a
 * "mib" MiB window (default 64) over and over. With shift=S it moves the window up by
 * its size after every S passes (wrapping), saying where it is each time: an estimate
 * must follow. With every=K it prints "pass N" after every K passes (tools/wss-bench
 * times them). base=B starts the window B MiB into free RAM (rounded down to the
 * window's size): a hot window high in memory. upto=U makes the window everything from
 * free RAM's start to U MiB (from guest address 0): with the code below it, the guest
 * touches exactly its first U MiB, a whole number of 1 GiB pages when U is a multiple of
 * 1024. Never ends; the harness stops it. */
#include "rt.h" /* the architecture's runtime (rt/ or arm64/) */

#define PAGE 4096UL

int main(void)
{
	uint64_t mib = rt_param_u64("mib", 64), shift = rt_param_u64("shift", 0), every = rt_param_u64("every", 0);
	unsigned int idx = 0;
	uint64_t lo, hi;
	rt_ram_range(&idx, &lo, &hi);
	lo = (lo + (2UL << 20) - 1) & ~((2UL << 20) - 1); /* 2 MiB aligned: whole huge pages */
	uint64_t upto = rt_param_u64("upto", 0) << 20;
	uint64_t window = upto > lo ? upto - lo : mib << 20, span = (hi - lo) / window * window;
	if (!window || span < window) {
		rt_printf("FAIL: bad parameters\n");
		return 1;
	}
	for (uint64_t a = lo; a < lo + span; a += PAGE)
		*(volatile uint64_t *)(uintptr_t)a = a;
	rt_printf("wss guest: wrote %lu MiB, now reading %lu MiB\n", span >> 20, window >> 20);
	uint64_t base = (rt_param_u64("base", 0) << 20) / window * window % span, sum = 0;
	for (uint64_t pass = 1;; pass++) {
		for (uint64_t a = lo + base; a < lo + base + window; a += PAGE)
			sum += *(volatile uint64_t *)(uintptr_t)a;
		if (every && pass % every == 0)
			rt_printf("pass %lu\n", pass);
		if (shift && pass % shift == 0) {
			base = (base + window) % span;
			rt_printf("wss guest: window at +%lu MiB (%lx)\n", base >> 20, sum & 0xf);
		}
	}
}
