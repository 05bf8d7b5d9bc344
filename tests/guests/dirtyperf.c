/* The guest side of tools/dirty-perf: touches all of its RAM once (so KVM maps it), syncs,
 * then writes "pages=N" pages (spread over all of RAM) per pass for "passes=P" passes,
 * timing each pass with the stopwatch and syncing after each, so the host can
 * enable logging, harvest and time between passes. On arm64 "vcpus=N" has N CPUs write
 * each pass together, page i by CPU i % N (they fault on the same memslot at once, which
 * is where eager splitting was meant to help). "rate=R" holds the writing to R pages a
 * second (a pass waits out its share of the second before it syncs): migrate-bench's
 * guests that dirty at a known part of the link's rate. */
#include "rt.h" /* the architecture's runtime (rt/ or arm64/) */

#define PERF_SYNC_MAGIC 0x46524550u /* "PERF" */

struct perf_sync {
	uint32_t magic;
	uint32_t pass;      /* 0: after the first touch of all RAM */
	uint64_t pass_us;
	uint64_t pages;
};

static struct perf_sync rec __attribute__((aligned(4096)));

/* One word in every `stride`-th page of the guest's free RAM, the share of CPU `cpu` of
 * `cpus`; returns the pages written. */
static uint64_t write_share(uint64_t stride, uint64_t value, unsigned int cpu, unsigned int cpus)
{
	unsigned int idx = 0;
	uint64_t lo, hi, pages = 0;
	while (rt_ram_range(&idx, &lo, &hi))
		for (uint64_t a = lo + 4096 * stride * cpu; a + 4096 <= hi; a += 4096 * stride * cpus, pages++)
			*(volatile uint64_t *)(uintptr_t)a = value;
	return pages;
}

#if defined(__aarch64__)
static unsigned int nr_writers = 1;
static uint64_t pass_stride;
static volatile uint32_t go_pass, done_writers;
static volatile uint64_t share_pages;

void rt_secondary_main(unsigned int index)
{
	uint32_t seen = 0;
	for (;;) {
		while (__atomic_load_n(&go_pass, __ATOMIC_ACQUIRE) == seen)
			cpu_relax();
		seen = go_pass;
		__atomic_add_fetch(&share_pages, write_share(pass_stride, seen, index, nr_writers), __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&done_writers, 1, __ATOMIC_RELEASE);
	}
}

/* Starts CPUs 1..n-1 from the device tree; returns how many write (1 without others). */
static unsigned int start_writers(unsigned int want)
{
	uint64_t mpidr[RT_MAX_CPUS];
	unsigned int n = rt_cpus(mpidr, RT_MAX_CPUS);
	if (want > n)
		want = n;
	for (unsigned int i = 1; i < want; i++)
		if (rt_psci_cpu_on(mpidr[i], i))
			return i;
	return want ? want : 1;
}

static uint64_t write_pages(uint64_t stride, uint64_t value)
{
	if (nr_writers == 1)
		return write_share(stride, value, 0, 1);
	pass_stride = stride;
	share_pages = 0;
	done_writers = 0;
	__atomic_store_n(&go_pass, (uint32_t)value, __ATOMIC_RELEASE);
	uint64_t mine = write_share(stride, value, 0, nr_writers);
	while (__atomic_load_n(&done_writers, __ATOMIC_ACQUIRE) < nr_writers - 1)
		cpu_relax();
	return mine + share_pages;
}
#else
static uint64_t write_pages(uint64_t stride, uint64_t value)
{
	return write_share(stride, value, 0, 1);
}
#endif

static void sync_point(uint32_t pass, uint64_t us, uint64_t pages)
{
	rec = (struct perf_sync){ PERF_SYNC_MAGIC, pass, us, pages };
	rt_test_sync(&rec);
}

/* Until the stopwatch (started with the pass) reads the pass's share of a second at the
 * rate; the clock is read seldom: each read may be an exit. */
static void hold_to_rate(uint64_t pages, uint64_t rate)
{
	uint64_t due_us = rate ? pages * 1000000 / rate : 0;
	while (rt_stopwatch_us() < due_us)
		for (int i = 0; i < 1000; i++)
			cpu_relax();
}

int main(void)
{
	uint64_t passes = rt_param_u64("passes", 3), want = rt_param_u64("pages", 0), rate = rt_param_u64("rate", 0);
#if defined(__aarch64__)
	nr_writers = start_writers((unsigned int)rt_param_u64("vcpus", 1));
	rt_printf("dirtyperf: %u vCPUs write each pass\n", nr_writers);
#endif
	rt_stopwatch_start();
	uint64_t all = write_share(1, 1, 0, 1);
	sync_point(0, rt_stopwatch_us(), all);
	uint64_t stride = want && want < all ? all / want : 1;
	for (uint32_t p = 1; p <= passes; p++) {
		rt_stopwatch_start();
		uint64_t n = write_pages(stride, p);
		hold_to_rate(n, rate);
		sync_point(p, rt_stopwatch_us(), n);
	}
	return 0;
}
