/* Unit tests that need 2 MiB huge pages: the host's pool grown for a while and put back
 * as it was (meson runs these tests alone, tests/unit/meson.build). */
#ifndef PAGODA_TEST_POOL_H
#define PAGODA_TEST_POOL_H

#include <stdio.h>

struct test_pool {
	FILE *f;
	long before;
	long grown;       /* pages added, 0 when the pool had enough */
};

/* A pool of fewer than `pages` pages gets `pages` more. */
static inline struct test_pool test_pool_grow(long pages)
{
	struct test_pool p = { .f = fopen("/proc/sys/vm/nr_hugepages", "r+") };
	if (p.f && fscanf(p.f, "%ld", &p.before) == 1 && p.before < pages) {
		rewind(p.f);
		fprintf(p.f, "%ld\n", p.before + pages);
		fflush(p.f);
		p.grown = pages;
	}
	return p;
}

static inline void test_pool_restore(struct test_pool *p)
{
	if (p->f && p->grown) {
		rewind(p->f);
		fprintf(p->f, "%ld\n", p->before);
	}
	if (p->f)
		fclose(p->f);
}

#endif
