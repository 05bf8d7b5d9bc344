/* Dirties a known set of pages per round and stops at a sync point after each, where the
 * host harvests and checks (tests/dirty_test.c). Parameters: pages=N per round, stride=S
 * pages apart, rounds=R. "live=P": instead, write the same N pages in at least P passes
 * with no sync between them, and on until the host is done turning logging on and off
 * meanwhile (a fixed count ran out first once, under a slow toggle), then sync once. */
#include "rt.h" /* the architecture's runtime (rt/ or arm64/) */
#include "dirty_sync.h"

#define PAGE 4096UL
#define BASE (RT_RAM_BASE + (64UL << 20)) /* above this guest's image, below 256 MiB of RAM */

extern char _data_start[];
static struct dirty_sync sync_rec __attribute__((aligned(4096)));

static void sync_point(uint32_t round)
{
	sync_rec.round = round;
	rt_test_sync(&sync_rec);
}

static void write_round(uint64_t r)
{
	for (uint64_t i = 0; i < sync_rec.count; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(BASE + (r * sync_rec.count + i) * sync_rec.stride * PAGE);
		*p = r * 1000003 + i;
	}
}

/* Live mode checks only that nothing was lost: in clear mode the first harvest after
 * logging (re)starts holds every page (KVM's INITIALLY_SET), more than was written. */
static int check(uint32_t round, bool live)
{
	rt_printf("round %u: harvested %lu pages, missing %lu, extra %lu, vmm page seen %lu\n", round,
		  sync_rec.harvested, sync_rec.missing, sync_rec.extra, sync_rec.vmm_seen);
	if (live)
		return sync_rec.missing != 0;
	return sync_rec.missing || sync_rec.extra || (round > 0 && sync_rec.vmm_seen != 1);
}

int main(void)
{
	uint64_t rounds = rt_param_u64("rounds", 4), live = rt_param_u64("live", 0);
	sync_rec = (struct dirty_sync){
		.magic = DIRTY_SYNC_MAGIC, .base = BASE, .count = rt_param_u64("pages", 1000),
		.stride = rt_param_u64("stride", 1), .rw_lo = (uint64_t)(uintptr_t)_data_start,
		.rw_hi = (uint64_t)(uintptr_t)_end, .vmm_page = BASE - PAGE,
	};
	if (!sync_rec.count || !sync_rec.stride ||
	    BASE + (live ? 1 : rounds) * sync_rec.count * sync_rec.stride * PAGE > RT_RAM_BASE + (256UL << 20))
		return 2;
	sync_point(DIRTY_ROUND_BASELINE);
	if (live) {
		for (uint64_t p = 0; p < live || !__atomic_load_n(&sync_rec.live_done, __ATOMIC_ACQUIRE); p++) {
			write_round(0);
			__atomic_store_n(&sync_rec.passes, p + 1, __ATOMIC_RELEASE);
		}
		sync_point(0);
		return check(0, true) ? 1 : 0;
	}
	int bad = 0;
	for (uint32_t r = 0; r < rounds; r++) {
		write_round(r);
		sync_point(r);
		bad |= check(r, false);
	}
	if (!bad)
		rt_printf("dirty tracking ok\n");
	return bad;
}
