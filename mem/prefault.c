#include "prefault.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define MAX_THREADS 64
#define MAX_SEGMENTS 8

struct segment {
	uint8_t *start;
	uint64_t len;
};

/* One thread's share: an equal part of all RAM, which may span regions. */
struct share {
	struct segment seg[MAX_SEGMENTS];
	unsigned int nr;
	uint64_t page_size;
	int err;
};

int mem_populate(uint8_t *start, uint64_t len, uint64_t page_size)
{
	if (madvise(start, len, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* Kernels before 5.14: a write to each page faults it in; writing back what is
	 * there keeps the content of file-backed memory. */
	for (uint64_t off = 0; off < len; off += page_size) {
		volatile uint8_t *p = start + off;
		*p = *p;
	}
	return 0;
}

static void *populate(void *arg)
{
	struct share *s = arg;
	for (unsigned int i = 0; i < s->nr && !s->err; i++)
		s->err = mem_populate(s->seg[i].start, s->seg[i].len, s->page_size);
	return NULL;
}

/* Splits the segments into `threads` shares of whole pages, as equal as can be. */
static unsigned int split(const struct segment *segs, unsigned int nr, uint64_t page_size,
			  unsigned int threads, struct share *shares)
{
	uint64_t total = 0;
	for (unsigned int i = 0; i < nr; i++)
		total += segs[i].len;
	uint64_t pages = total / page_size;
	if (threads > pages)
		threads = pages ? (unsigned int)pages : 1;
	unsigned int seg = 0;
	uint64_t seg_off = 0;
	for (unsigned int t = 0; t < threads; t++) {
		uint64_t want = (pages / threads + (t < pages % threads)) * page_size;
		shares[t] = (struct share){ .page_size = page_size };
		while (want && seg < nr && shares[t].nr < MAX_SEGMENTS) {
			uint64_t n = segs[seg].len - seg_off < want ? segs[seg].len - seg_off : want;
			shares[t].seg[shares[t].nr++] = (struct segment){ segs[seg].start + seg_off, n };
			want -= n;
			seg_off += n;
			if (seg_off == segs[seg].len) {
				seg++;
				seg_off = 0;
			}
		}
	}
	return threads;
}

static int run_shares(struct share *shares, unsigned int threads)
{
	pthread_t t[MAX_THREADS];
	bool started[MAX_THREADS] = { false };
	for (unsigned int i = 1; i < threads; i++)
		started[i] = pthread_create(&t[i], NULL, populate, &shares[i]) == 0;
	populate(&shares[0]);
	int err = shares[0].err;
	for (unsigned int i = 1; i < threads; i++) {
		if (started[i])
			pthread_join(t[i], NULL);
		else
			populate(&shares[i]); /* no thread could take it: do it here */
		if (shares[i].err && !err)
			err = shares[i].err;
	}
	return err;
}

static int prefault_segments(const struct segment *segs, unsigned int nr, uint64_t page_size,
			     unsigned int threads)
{
	struct share shares[MAX_THREADS] = { 0 };
	if (threads == 0)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	return run_shares(shares, split(segs, nr, page_size, threads, shares));
}

int mem_prefault_range(uint8_t *start, uint64_t len, uint64_t page_size, unsigned int threads)
{
	struct segment s = { start, len };
	return prefault_segments(&s, 1, page_size, threads);
}

int mem_prefault(const struct guest_mem *m, unsigned int threads)
{
	struct segment segs[LAYOUT_MAX_REGIONS];
	for (unsigned int i = 0; i < m->layout.nr_ram; i++)
		segs[i] = (struct segment){ m->base + m->layout.ram[i].gpa, m->layout.ram[i].size };
	return prefault_segments(segs, m->layout.nr_ram, m->backend.page_size, threads);
}
