/* Guest RAM filled while the guest runs, through userfaultfd: a page not yet in place
 * stops whoever touches it (a vCPU, a device, KVM) until the filler puts it there. Used
 * by post-copy migration (pages from the source) and lazy snapshot restore (pages from
 * the snapshot file).
 *
 * Private backings (anon, thp) are filled with UFFDIO_COPY/ZEROPAGE, 4K at a time.
 * Shared backings (memfd, hugetlb, a shared file on tmpfs or hugetlbfs) are written
 * through a second mapping of the same file, invisible to the guest, and mapped into the
 * guest's with UFFDIO_CONTINUE once a whole page of the backing is complete: the guest
 * never sees half of a 2 MiB or 1 GiB page, and a hugetlb page is never copied twice.
 *
 * Every page in place has its bit set only after it is; a fault on a page whose unit is
 * complete is resolved here, any other is handed to the caller (miss) to fetch. */
#ifndef PAGODA_MEM_UFFD_FILL_H
#define PAGODA_MEM_UFFD_FILL_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"

#define UFFD_FILL_HIST 32 /* latency bucket k: [2^k, 2^(k+1)) microseconds */

struct uffd_fill;

struct uffd_fill_stats {
	uint64_t faults;               /* page faults that reached us */
	uint64_t misses;               /* of those, units handed to miss */
	uint64_t pages_in;             /* pages put in place */
	uint64_t hist[UFFD_FILL_HIST]; /* miss to in-place latency */
};

/* Registers all of guest RAM. all_missing: every page is still to come (whatever the
 * backing holds now is dropped first: a page mapped already would never fault); else
 * none is until uffd_fill_discard says so. Anything but a backing userfaultfd can fill
 * is refused with a message naming the ones that work. */
int uffd_fill_open(struct uffd_fill **out, struct guest_mem *mem, bool all_missing, char *err, size_t errlen);
/* 4K pages per unit: what one fault waits for whole (1, or 512 for 2 MiB hugetlb). */
uint32_t uffd_fill_unit_pages(const struct uffd_fill *f);
/* Reads faults until stop_efd becomes readable or miss fails (its error is returned).
 * miss(ctx, gpa, pages): the unit [gpa, gpa + pages * 4K) holds a faulting address and
 * is not all here: fetch it (pages that arrive twice are dropped). */
int uffd_fill_serve(struct uffd_fill *f, int stop_efd, int (*miss)(void *ctx, uint64_t gpa, uint32_t pages),
		    void *ctx);
/* Puts count pages at gpa in place (data NULL: zero pages); those here already are left
 * as they are. Safe from several threads. -EINVAL if the range is not guest RAM. */
int uffd_fill_put(struct uffd_fill *f, uint64_t gpa, uint64_t count, const uint8_t *data);
/* Those pages are stale: dropped from the guest's view and counted as missing again. */
int uffd_fill_discard(struct uffd_fill *f, uint64_t gpa, uint64_t count);
/* Whether every page of [gpa, gpa + count * 4K) is in place. */
bool uffd_fill_here(const struct uffd_fill *f, uint64_t gpa, uint64_t count);
uint64_t uffd_fill_missing(const struct uffd_fill *f);
void uffd_fill_stats(struct uffd_fill *f, struct uffd_fill_stats *s);
/* The latency under which a fraction q of misses fell (a bucket's upper bound), us. */
uint64_t uffd_fill_percentile_us(const struct uffd_fill_stats *s, double q);
/* Unregisters guest RAM (a fault from here on is an ordinary one): call once nothing is
 * missing, or when the VM ends (anyone still waiting gets an empty page). */
void uffd_fill_release(struct uffd_fill *f);
/* Releases and frees. Safe with NULL. */
void uffd_fill_free(struct uffd_fill *f);

#endif
