/* What the guest uses, not only what it writes: its working set, estimated from the
 * accessed bits of guest RAM's stage-2/NPT entries.
 *
 * Methods, the first available taken unless one is asked for:
 * - access-log: KVM_GET_ACCESS_LOG of pagoda's patched KVM (kvm/patches, the x86 lab's
 *   --patched-kvm): each window, every page's accessed bit is tested and cleared, so the
 *   report is exact per page (huge mappings count all of their pages). Blind to a page
 *   used only through a TLB entry cached since the last clear, and to bits the host's
 *   own reclaim cleared meanwhile (it ages the same entries).
 * - damon-fvaddr / damon-vaddr: DAMON's virtual-address monitoring (stock kernels) of
 *   guest RAM's ranges (fvaddr) or, where that is missing, of the whole process:
 *   sampled regions, see wss_damon.c.
 * - page-idle: the kernel's page idle tracking (CONFIG_IDLE_PAGE_TRACKING, which no
 *   Debian kernel has; the arm64 lab's patched kernel does), where neither of the
 *   others exists: exact per page like access-log, slower (the kernel walks each
 *   page's reverse map), blind to hugetlb and the zero page, see wss_page_idle.c.
 * A kernel with none of them gets a refusal naming what each lacks. */
#ifndef PAGODA_MEM_WORKING_SET_H
#define PAGODA_MEM_WORKING_SET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../guest_mem.h"

/* Histogram of idle age: bucket k holds bytes last touched within 2^k windows (k = 0:
 * touched in the last window), cumulative; the rest were idle longer or never touched. */
#define WSS_BUCKETS 8
#define WSS_MAX_SLOTS 8

enum wss_method { WSS_AUTO, WSS_ACCESS_LOG, WSS_DAMON, WSS_PAGE_IDLE };

struct wss_slot {
	uint64_t gpa, size;
	uint64_t touched;                 /* bytes touched in the last window */
	uint64_t within[WSS_BUCKETS];     /* bytes touched within 1, 2, 4 ... 128 windows */
};

struct wss_report {
	const char *method;               /* "access-log", "damon-fvaddr", "damon-vaddr", "page-idle" */
	const char *blind;                /* what the method cannot see */
	double window_s;
	uint64_t regions;                 /* DAMON regions over guest RAM (damon-*) */
	uint64_t windows;                 /* windows scanned so far (access-log, page-idle) */
	double scan_ms;                   /* the last window's scan (access-log, page-idle) */
	uint32_t nr_slots;
	struct wss_slot slot[WSS_MAX_SLOTS];
};

struct working_set;

/* Starts estimating with windows of window_s seconds. -ENOTSUP with a message naming
 * what the kernel lacks; -EBUSY when DAMON is taken by someone else. */
int working_set_start(struct working_set **out, const struct guest_mem *mem, double window_s,
		      enum wss_method method, char *err, size_t errlen);
/* "auto", "access-log", "damon" or "page-idle": 0, or -EINVAL for anything else. */
int wss_method_parse(const char *s, enum wss_method *m);
/* A descriptor the owner's event loop watches: readable once per window, then call
 * working_set_tick (on one thread). -1 when the method needs no ticks. */
int working_set_fd(const struct working_set *w);
int working_set_tick(struct working_set *w);
/* The last window's picture. Safe from several threads (the control socket, a migration). */
int working_set_sample(struct working_set *w, struct wss_report *r, char *err, size_t errlen);
/* Sets a bit in bits (one per 4K page of memslot index slot, pages long) for each page
 * touched within the last `windows` windows (access-log, page-idle: page by page; damon: each page
 * of a region touched in the last window). -EINVAL for a slot it does not cover. Any
 * thread. */
int working_set_recent(struct working_set *w, uint32_t slot, uint64_t *bits, uint64_t pages, unsigned int windows);
/* Bytes touched in the last window, all slots. */
uint64_t wss_touched(const struct wss_report *r);
/* The report as one JSON object's members (no braces), and as a table for the exit. */
int wss_report_json(const struct wss_report *r, char *out, size_t len);
void wss_report_table(const struct wss_report *r, FILE *out);
/* Stops and frees. Safe with NULL. */
void working_set_stop(struct working_set *w);

/* One DAMON region [start, end) (host addresses) with its access count in the last
 * window and its age in windows, accounted to the slots it overlaps. Exposed for the
 * unit tests. */
void wss_account(struct wss_report *r, const struct guest_mem *mem, uint64_t start, uint64_t end,
		 uint32_t nr_accesses, uint32_t age);
/* The pages of slot sl a DAMON region [start, end) (host addresses) covers, set in bits
 * when it was touched in the last window. Exposed for the unit tests. */
void wss_mark_recent(const struct memslot *sl, uint64_t *bits, uint64_t start, uint64_t end, uint32_t nr_accesses);
/* One window of the access log for a slot: ages[i] (windows since page i was last seen
 * accessed, 255 = never) advanced by the bitmap, and the slot's report filled from them.
 * Exposed for the unit tests. */
void wss_age_pages(struct wss_slot *s, uint8_t *ages, const uint64_t *bitmap, uint64_t pages);

#endif
