/* Guest RAM as the code that copies it sees it (snapshots, pre- and post-copy migration,
 * lazy restore): regions in memslot order, which is the index dirty logs, the working
 * set and per-region bitmaps use; each with the backing's real page size and its place
 * in a snapshot's memory file; and the host bytes of its pages. Callers walk regions and
 * runs of pages (util/bitmap.h) and never index the memslot table themselves. */
#ifndef PAGODA_MEM_RAM_H
#define PAGODA_MEM_RAM_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "../util/page.h"

struct ram_region {
	uint32_t index;          /* memslot order: dirty_log_bitmap's and the working set's */
	uint64_t gpa;
	uint64_t pages;          /* 4K pages */
	uint64_t page_size;      /* the backing's: 4K, 2M (THP, hugetlb), 1G */
	uint64_t file_offset;    /* where it starts in a snapshot's memory file */
};

uint32_t ram_nr_regions(const struct guest_mem *m);
/* Region i < ram_nr_regions(m). */
struct ram_region ram_region(const struct guest_mem *m, uint32_t i);
/* The region holding gpa, and gpa's page in it; false when gpa is not RAM. */
bool ram_region_at(const struct guest_mem *m, uint64_t gpa, struct ram_region *r, uint64_t *page);

/* What a fault at gpa for `asked` pages brings in (lazy restore, post-copy): the pages
 * asked for, or when fewer than `ahead`, up to `ahead` pages from gpa within its region,
 * so the next faults find theirs in place. 0 when gpa is not RAM; else r and *page are
 * gpa's region and page. */
uint64_t ram_fault_span(const struct guest_mem *m, uint64_t gpa, uint64_t asked, uint64_t ahead, struct ram_region *r,
			uint64_t *page);

static inline uint64_t ram_page_gpa(const struct ram_region *r, uint64_t page)
{
	return r->gpa + page * SZ_4K;
}

/* Host bytes of pages [page, page + n) of r, which must lie in it. For reading while the
 * guest runs (a page written meanwhile is dirty and is copied again), or for writing
 * where no dirty log needs to see it (a restore, a migration's destination); a device's
 * write goes through guest_mem_ptr(GUEST_WRITE). No lookup: a pass over every page calls
 * it per page. */
uint8_t *ram_pages(const struct guest_mem *m, const struct ram_region *r, uint64_t page, uint64_t n);

/* One zeroed bitmap of pages per region; NULL when memory ran out. */
uint64_t **ram_bitmaps_alloc(const struct guest_mem *m);
void ram_bitmaps_free(const struct guest_mem *m, uint64_t **bits);

#endif
