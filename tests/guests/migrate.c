/* The snapshot and migration test guest: "mib" MiB (default 32) of pages, each holding
 * its number and version in its first and last words. Step s bumps one page's version
 * (pages in a fixed scattered order) and rewrites it; every "tick" steps (default 500) it
 * checks every page against the versions and prints "tick N verified". A VM that was
 * snapshotted or migrated in between must print the ticks in order, none lost or
 * repeated, and never a failure. After "steps" steps (default 10000) it powers off;
 * steps=0 runs until stopped. "input=1": a byte on the console ends the run after the next
 * tick (the migration tests end it once the move is over, so a fast guest or a slow move
 * cannot end it on the source first). "idle=1": fill the pages, say so, then halt with interrupts on (the
 * benchmark's idle guest with its memory full). "hot=K": each step also rewrites one of the
 * first K pages, in turn (a hot set written over and over beside the walk: the pre-copy
 * order's test and benchmark). */
#include "rt.h" /* the architecture's runtime (rt/ or arm64/) */

#define PAGE 4096UL
#define MAX_PAGES (1UL << 20)

static uint32_t version[MAX_PAGES];

static uint64_t sig(uint64_t page, uint64_t ver)
{
	return (page * 0x9e3779b97f4a7c15ULL) ^ (ver * 0xc2b2ae3d27d4eb4fULL) ^ 0x5a5a;
}

static void write_page(uint64_t base, uint64_t p)
{
	volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)(base + p * PAGE);
	uint64_t v = sig(p, version[p]);
	w[0] = v;
	w[511] = ~v;
}

static volatile uint64_t last_step;

static int64_t verify(uint64_t base, uint64_t n)
{
	for (uint64_t p = 0; p < n; p++) {
		volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)(base + p * PAGE);
		uint64_t v = sig(p, version[p]);
		if (w[0] != v || w[511] != ~v)
			return (int64_t)p;
	}
	return -1;
}

int main(void)
{
	uint64_t n = (rt_param_u64("mib", 32) << 20) / PAGE, steps = rt_param_u64("steps", 10000);
	uint64_t tick = rt_param_u64("tick", 500), hot = rt_param_u64("hot", 0);
	bool end_on_input = rt_param_u64("input", 0);
	unsigned int idx = 0;
	uint64_t lo, hi;
	rt_ram_range(&idx, &lo, &hi);
	if (n > MAX_PAGES || hi - lo < n * PAGE || !tick || hot > n) {
		rt_printf("FAIL: bad parameters\n");
		return 1;
	}
	for (uint64_t p = 0; p < n; p++)
		write_page(lo, p);
	rt_printf("migrate guest: %lu pages, tick every %lu steps\n", n, tick);
	if (rt_param_u64("idle", 0)) {
		/* Halted with interrupts on, as an idle OS is: no interrupt source is set up, so
		 * it sleeps for good without a spinning vCPU (cli; hlt would be a dead guest). */
#if defined(__aarch64__)
		for (;;)
			__asm__ volatile("msr daifclr, #2; wfi");
#else
		rt_idt_init();
		for (;;)
			__asm__ volatile("sti; hlt");
#endif
	}
	uint64_t s;
	for (s = 1; !steps || s <= steps; s++) {
		/* The step lives in a register and in memory: after a move they must agree, or
		 * memory went back in time (pages and the versions that describe them both stale
		 * would still verify each other). */
		if (last_step != s - 1) {
			rt_printf("FAIL: memory says step %lu, the CPU says %lu: memory went back in time\n", last_step, s - 1);
			return 1;
		}
		last_step = s;
		uint64_t p = (s * 7919) % n;
		version[p]++;
		write_page(lo, p);
		if (hot) {
			version[s % hot]++;
			write_page(lo, s % hot);
		}
		if (s % tick)
			continue;
		int64_t bad = verify(lo, n);
		if (bad >= 0) {
			rt_printf("FAIL: page %ld lost its contents at step %lu\n", bad, s);
			return 1;
		}
		rt_printf("tick %lu verified\n", s / tick);
		if (end_on_input && rt_input_ready()) {
			s++;
			break;
		}
	}
	rt_printf("done: %lu steps, every page verified\n", s - 1);
	return 0;
}
