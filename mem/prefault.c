#include "prefault.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define MAX_THREADS 64

struct chunk {
	uint8_t *start;
	uint64_t len, page_size;
	int err;
};

static void *populate(void *arg)
{
	struct chunk *c = arg;
	if (madvise(c->start, c->len, MADV_POPULATE_WRITE) == 0)
		return NULL;
	if (errno != EINVAL) {
		c->err = -errno;
		return NULL;
	}
	/* Kernels before 5.14: a write to each page faults it in; writing back what is
	 * there keeps the content of file-backed memory. */
	for (uint64_t off = 0; off < c->len; off += c->page_size) {
		volatile uint8_t *p = c->start + off;
		*p = *p;
	}
	return NULL;
}

int mem_prefault_range(uint8_t *start, uint64_t len, uint64_t page_size, unsigned int threads)
{
	if (threads == 0)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	uint64_t pages = len / page_size;
	if (threads > pages)
		threads = pages ? (unsigned int)pages : 1;
	struct chunk c[MAX_THREADS];
	pthread_t t[MAX_THREADS];
	uint64_t per = (pages / threads) * page_size, off = 0;
	uint64_t started = 0;
	int err = 0;
	for (unsigned int i = 0; i < threads; i++) {
		uint64_t n = i == threads - 1 ? len - off : per;
		c[i] = (struct chunk){ start + off, n, page_size, 0 };
		off += n;
		if (i == threads - 1 || pthread_create(&t[i], NULL, populate, &c[i])) {
			populate(&c[i]); /* the last share, or one no thread could take: do it here */
			continue;
		}
		started |= 1ULL << i;
	}
	for (unsigned int i = 0; i < threads; i++) {
		if (started & (1ULL << i))
			pthread_join(t[i], NULL);
		if (c[i].err && !err)
			err = c[i].err;
	}
	return err;
}

int mem_prefault(const struct guest_mem *m, unsigned int threads)
{
	for (unsigned int i = 0; i < m->layout.nr_ram; i++) {
		const struct mem_range *r = &m->layout.ram[i];
		int e = mem_prefault_range(m->base + r->gpa, r->size, m->backend.page_size, threads);
		if (e)
			return e;
	}
	return 0;
}
