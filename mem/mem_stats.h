/* What backs guest RAM right now, per region, from the kernel's own accounting
 * (/proc/self/smaps): resident bytes, bytes in huge pages, the kernel page size, and how
 * much of it other processes map too (VMs restored copy-on-write from one snapshot share
 * its unchanged pages through the page cache): shared and private bytes, and the
 * proportional share (PSS: each shared page divided among those mapping it). */
#ifndef PAGODA_MEM_MEM_STATS_H
#define PAGODA_MEM_MEM_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "guest_mem.h"

struct region_usage {
	uint64_t rss;         /* bytes resident (Rss + hugetlb, which smaps counts apart) */
	uint64_t huge;        /* bytes in THP or hugetlb pages */
	uint64_t kernel_page; /* KernelPageSize of the mapping, bytes */
	uint64_t shared;      /* resident bytes another process maps too */
	uint64_t private_;    /* resident bytes only this one maps */
	uint64_t pss;         /* proportional set size, bytes */
};

/* Sums the smaps entries (text: the file's contents) of the mappings inside [start, end). */
void smaps_usage(const char *text, uint64_t start, uint64_t end, struct region_usage *u);
/* All of guest RAM at once (for the control socket's stats). */
struct mem_usage {
	uint64_t rss, huge, shared, private_, pss;
	uint64_t pages_4k, pages_2m, pages_1g; /* KVM's mappings; 0 without binary stats */
};
void mem_stats_collect(const struct guest_mem *m, int vm_fd, struct mem_usage *u);

/* Prints the statistics lines for m (and KVM's page counters when vm_fd >= 0). */
void mem_stats_print(const struct guest_mem *m, int vm_fd, FILE *out);

#endif
