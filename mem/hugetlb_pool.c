#include "hugetlb_pool.h"

#include "layout.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

static int read_u64(uint64_t page_size, const char *name, uint64_t *out)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/%s",
		 page_size >> 10, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	int r = fscanf(f, "%" SCNu64, out) == 1 ? 0 : -EINVAL;
	fclose(f);
	return r;
}

int hugetlb_pool_read(uint64_t page_size, struct hugetlb_pool *p)
{
	*p = (struct hugetlb_pool){ .page_size = page_size };
	int r = read_u64(page_size, "nr_hugepages", &p->total);
	if (!r)
		r = read_u64(page_size, "free_hugepages", &p->free);
	if (!r)
		r = read_u64(page_size, "resv_hugepages", &p->reserved);
	if (!r)
		r = read_u64(page_size, "nr_overcommit_hugepages", &p->surplus_max);
	return r;
}

int hugetlb_pool_check(const struct hugetlb_pool *p, uint64_t need, char *err, size_t errlen)
{
	/* Reserved pages are promised to mappings that exist already: not ours to take.
	 * Overcommit (surplus) pages come from the buddy allocator and may fail later. */
	uint64_t avail = p->free > p->reserved ? p->free - p->reserved : 0;
	if (avail >= need)
		return 0;
	char ps[16];
	snprintf(err, errlen, "hugetlbfs %s pool has %" PRIu64 " free pages, %" PRIu64
		 " needed: echo %" PRIu64 " > /sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages",
		 layout_size_str(p->page_size, ps, sizeof(ps)), avail, need, p->total + (need - avail), p->page_size >> 10);
	return -ENOMEM;
}
