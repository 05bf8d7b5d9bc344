/* Populating guest RAM before the guest runs: MADV_POPULATE_WRITE over all regions,
 * split among threads (touching each page where the kernel lacks the call). */
#ifndef PAGODA_MEM_PREFAULT_H
#define PAGODA_MEM_PREFAULT_H

#include <stdint.h>

#include "guest_mem.h"

/* Faults in [start, start + len), whole pages of page_size, from the calling thread. */
int mem_populate(uint8_t *start, uint64_t len, uint64_t page_size);
/* Returns 0 or -errno (-ENOMEM: the backing could not supply the memory). */
int mem_prefault(const struct guest_mem *m, unsigned int threads);
/* The same on a bare range (also used by the benchmark as the host's limit). */
int mem_prefault_range(uint8_t *start, uint64_t len, uint64_t page_size, unsigned int threads);

#endif
