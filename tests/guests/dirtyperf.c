/* The guest side of tools/dirty-perf: touches all of its RAM once (so KVM maps it), syncs,
 * then writes "pages=N" pages (spread over all of RAM) per pass for "passes=P" passes,
 * timing each pass with the LAPIC stopwatch and syncing after each, so the host can
 * enable logging, harvest and time between passes. */
#include "rt/rt.h"

#define PAGE 4096UL
#define PERF_SYNC_MAGIC 0x46524550u /* "PERF" */

struct perf_sync {
	uint32_t magic;
	uint32_t pass;      /* 0: after the first touch of all RAM */
	uint64_t pass_us;
	uint64_t pages;
};

static struct perf_sync rec __attribute__((aligned(4096)));

static void stopwatch_start(void)
{
	lapic_write(0x3e0, 0x3);      /* divide by 16: 16 ns ticks at KVM's 1 GHz APIC bus */
	lapic_write(0x320, 1u << 16);
	lapic_write(0x380, 0xffffffff);
}

static uint64_t stopwatch_us(void)
{
	return (uint64_t)(0xffffffffu - lapic_read(0x390)) * 16 / 1000;
}

/* Writes one word in every page of [lo, hi) at the given page stride. */
static uint64_t write_pages(uint64_t stride, uint64_t value)
{
	const struct rt_e820 *e;
	unsigned int n = rt_e820(&e);
	uint64_t lowest = ((uint64_t)(uintptr_t)_end + PAGE - 1) & ~(PAGE - 1), pages = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (e[i].type != 1)
			continue;
		uint64_t a = e[i].addr < lowest ? lowest : e[i].addr, end = e[i].addr + e[i].size;
		for (; a + PAGE <= end; a += PAGE * stride, pages++)
			*(volatile uint64_t *)(uintptr_t)a = value;
	}
	return pages;
}

static void sync_point(uint32_t pass, uint64_t us, uint64_t pages)
{
	rec = (struct perf_sync){ PERF_SYNC_MAGIC, pass, us, pages };
	outl(PORT_TEST_SYNC, (uint32_t)(uintptr_t)&rec);
}

int main(void)
{
	lapic_enable();
	uint64_t passes = rt_param_u64("passes", 3), want = rt_param_u64("pages", 0);
	stopwatch_start();
	uint64_t all = write_pages(1, 1);
	sync_point(0, stopwatch_us(), all);
	uint64_t stride = want && want < all ? all / want : 1;
	for (uint32_t p = 1; p <= passes; p++) {
		stopwatch_start();
		uint64_t n = write_pages(stride, p);
		sync_point(p, stopwatch_us(), n);
	}
	return 0;
}
