/* The record a dirty-tracking test guest hands the host at each sync point (the port
 * write of its address): what it wrote this round, what else it may have dirtied, and
 * room for the host's verdict. Shared by tests/guests/dirty.c and tests/dirty_test.c. */
#ifndef PAGODA_TEST_DIRTY_SYNC_H
#define PAGODA_TEST_DIRTY_SYNC_H

#include <stdint.h>

#define DIRTY_SYNC_MAGIC 0x59545244u   /* "DRTY" */
#define DIRTY_ROUND_BASELINE 0xffffffffu

struct dirty_sync {
	uint32_t magic;
	uint32_t round;      /* DIRTY_ROUND_BASELINE: before the first round, nothing to check */
	uint64_t base;       /* round r wrote page base + (r * count + i) * stride * 4K, i < count */
	uint64_t count;
	uint64_t stride;
	uint64_t rw_lo, rw_hi; /* the guest's own writable image (data, bss, stack) */
	uint64_t vmm_page;   /* a page the guest never writes: the host writes it at each sync */
	uint64_t passes;     /* live mode: full passes over all pages so far */
	uint64_t live_done;  /* live mode: set by the host once its toggling is over; the
			      * guest writes until then, however fast it runs */
	/* the host's verdict on this round */
	uint64_t harvested, missing, extra, vmm_seen;
};

#endif
