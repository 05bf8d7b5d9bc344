/* The guest side of tools/dirty-perf: touches all of its RAM once (so KVM maps it), syncs,
 * then writes "pages=N" pages (spread over all of RAM) per pass for "passes=P" passes,
 * timing each pass with the stopwatch and syncing after each, so the host can
 * enable logging, harvest and time between passes. */
#include "rt.h" /* the architecture's runtime (rt/ or arm64/) */

#define PERF_SYNC_MAGIC 0x46524550u /* "PERF" */

struct perf_sync {
	uint32_t magic;
	uint32_t pass;      /* 0: after the first touch of all RAM */
	uint64_t pass_us;
	uint64_t pages;
};

static struct perf_sync rec __attribute__((aligned(4096)));

/* One word in every `stride`-th page of the guest's free RAM; returns the pages written. */
static uint64_t write_pages(uint64_t stride, uint64_t value)
{
	unsigned int idx = 0;
	uint64_t lo, hi, pages = 0;
	while (rt_ram_range(&idx, &lo, &hi))
		for (uint64_t a = lo; a + 4096 <= hi; a += 4096 * stride, pages++)
			*(volatile uint64_t *)(uintptr_t)a = value;
	return pages;
}

static void sync_point(uint32_t pass, uint64_t us, uint64_t pages)
{
	rec = (struct perf_sync){ PERF_SYNC_MAGIC, pass, us, pages };
	rt_test_sync(&rec);
}

int main(void)
{
	uint64_t passes = rt_param_u64("passes", 3), want = rt_param_u64("pages", 0);
	rt_stopwatch_start();
	uint64_t all = write_pages(1, 1);
	sync_point(0, rt_stopwatch_us(), all);
	uint64_t stride = want && want < all ? all / want : 1;
	for (uint32_t p = 1; p <= passes; p++) {
		rt_stopwatch_start();
		uint64_t n = write_pages(stride, p);
		sync_point(p, rt_stopwatch_us(), n);
	}
	return 0;
}
