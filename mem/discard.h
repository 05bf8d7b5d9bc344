/* Giving guest pages back to the host (the balloon, free page reporting), with the call
 * right for the backing: MADV_DONTNEED for private mappings, FALLOC_FL_PUNCH_HOLE for
 * shared ones (memfd, hugetlbfs, files). Only whole pages of the backing are freed: on
 * hugetlbfs a huge page goes back once the guest has given up every 4K page in it, which
 * the balloon's bitmap tracks across inflate and deflate requests. */
#ifndef PAGODA_MEM_DISCARD_H
#define PAGODA_MEM_DISCARD_H

#include <stdint.h>

#include "guest_mem.h"

struct mem_discard {
	const struct guest_mem *mem;
	uint64_t granule;        /* the smallest piece the backing can free */
	uint64_t *given;         /* 1 bit per 4K page the balloon holds; NULL when granule is 4K */
	uint64_t nr_pages;       /* bits in given */
	uint64_t freed_bytes;    /* host memory released so far */
};

int mem_discard_init(struct mem_discard *d, const struct guest_mem *m);
void mem_discard_destroy(struct mem_discard *d);
/* The balloon took [gpa, gpa+len) (4K aligned): free every granule it now fully holds.
 * -EFAULT when the range is not guest RAM, -errno when the host call failed. */
int mem_discard_give(struct mem_discard *d, uint64_t gpa, uint64_t len);
/* The balloon gave [gpa, gpa+len) back to the guest. */
void mem_discard_take_back(struct mem_discard *d, uint64_t gpa, uint64_t len);
/* Free now, without remembering (free page reporting: the guest may reuse the range at
 * any time without a word): only the whole granules inside the range. */
int mem_discard_range(struct mem_discard *d, uint64_t gpa, uint64_t len);

#endif
