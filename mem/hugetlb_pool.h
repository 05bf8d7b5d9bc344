/* The host's hugetlb pools (/sys/kernel/mm/hugepages): checked before guest RAM is mapped,
 * so a short pool is a clear error at start, never a SIGBUS in the middle of a run. */
#ifndef PAGODA_MEM_HUGETLB_POOL_H
#define PAGODA_MEM_HUGETLB_POOL_H

#include <stddef.h>
#include <stdint.h>

struct hugetlb_pool {
	uint64_t page_size;
	uint64_t total, free, reserved, surplus_max;
};

int hugetlb_pool_read(uint64_t page_size, struct hugetlb_pool *p);
/* 0 when `need` pages can be had; otherwise -ENOMEM and a message with the numbers and the
 * command that grows the pool. Pure: unit-tested on made-up pools. */
int hugetlb_pool_check(const struct hugetlb_pool *p, uint64_t need, char *err, size_t errlen);

#endif
