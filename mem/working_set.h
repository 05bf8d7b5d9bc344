/* What the guest uses, not only what it writes: its working set, estimated from the
 * accessed bits of guest RAM (which KVM clears and tests in its stage-2/NPT entries
 * through the mmu notifiers when the kernel ages the VMM's pages).
 *
 * Method: DAMON's virtual-address monitoring of this process (its sysfs interface, one
 * kdamond of our own): each window (DAMON's aggregation interval) it says, region by
 * region, how often the region was found accessed and for how many windows that has held.
 * A region is "touched" in a window if found accessed at all. DAMON samples: regions are
 * split and merged to follow the pattern, so boundaries take a few windows to settle,
 * and a page touched once between two samples can be missed. hugetlb is seen (DAMON
 * reads its PMD/PUD young bits). Page idle tracking would be the fallback where DAMON's
 * vaddr operations are missing; it is not implemented (neither this host nor the lab
 * kernel has it), so such a kernel gets a clear refusal. */
#ifndef PAGODA_MEM_WORKING_SET_H
#define PAGODA_MEM_WORKING_SET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "guest_mem.h"

/* Histogram of idle age: bucket k holds bytes last touched within 2^k windows (k = 0:
 * touched in the last window), cumulative; the rest were idle longer or never touched. */
#define WSS_BUCKETS 8

struct wss_slot {
	uint64_t gpa, size;
	uint64_t touched;                 /* bytes touched in the last window */
	uint64_t within[WSS_BUCKETS];     /* bytes touched within 1, 2, 4 ... 128 windows */
};

struct wss_report {
	const char *method;               /* "damon-vaddr" */
	double window_s;
	uint64_t regions;                 /* DAMON regions over guest RAM */
	uint32_t nr_slots;
	struct wss_slot slot[8];
};

struct working_set;

/* Starts monitoring guest RAM with windows of window_s seconds. -ENOTSUP with a message
 * naming what the kernel lacks; -EBUSY when DAMON is taken by someone else. */
int working_set_start(struct working_set **out, const struct guest_mem *mem, double window_s, char *err,
		      size_t errlen);
/* The last window's picture. Safe from several threads (the control socket, a migration). */
int working_set_sample(struct working_set *w, struct wss_report *r, char *err, size_t errlen);
/* Bytes touched in the last window, all slots. */
uint64_t wss_touched(const struct wss_report *r);
/* The report as one JSON object's members (no braces), and as a table for the exit. */
int wss_report_json(const struct wss_report *r, char *out, size_t len);
void wss_report_table(const struct wss_report *r, FILE *out);
/* Stops DAMON and frees. Safe with NULL. */
void working_set_stop(struct working_set *w);

/* One DAMON region [start, end) (host addresses) with its access count in the last
 * window and its age in windows, accounted to the slots it overlaps. Exposed for the
 * unit tests. */
void wss_account(struct wss_report *r, const struct guest_mem *mem, uint64_t start, uint64_t end,
		 uint32_t nr_accesses, uint32_t age);

#endif
