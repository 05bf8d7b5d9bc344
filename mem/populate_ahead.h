/* Populating ranges of guest RAM on helper threads ahead of whoever writes them: the
 * migration receiver learns from the sender which ranges are about to arrive with data,
 * and the first touch of fresh memory (the kernel clearing each page, on a nested host
 * also the outer hypervisor backing it) then happens on other CPUs while the stream
 * flows, instead of inside the receiver's recv() one page at a time.
 *
 * Hints are advice: when the queue is full a hint is dropped and the writer faults the
 * pages itself, as it would without this. */
#ifndef PAGODA_MEM_POPULATE_AHEAD_H
#define PAGODA_MEM_POPULATE_AHEAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define POPULATE_AHEAD_QUEUE 64
#define POPULATE_AHEAD_MAX_THREADS 4

struct populate_range {
	uint8_t *start;
	uint64_t len;
};

struct populate_ahead {
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct populate_range q[POPULATE_AHEAD_QUEUE];
	unsigned int head, count;
	bool stopping;
	uint64_t page_size;
	pthread_t threads[POPULATE_AHEAD_MAX_THREADS];
	unsigned int nr_threads;
	uint64_t populated, dropped; /* bytes, for the record */
};

/* Starts up to `threads` helpers (0 when none could start: hints are then dropped). */
void populate_ahead_start(struct populate_ahead *p, unsigned int threads, uint64_t page_size);
/* Queues [start, start + len), widened to whole pages of the backing. */
void populate_ahead_hint(struct populate_ahead *p, uint8_t *start, uint64_t len);
/* Drops what is queued, waits for the helpers to finish the range at hand, joins them. */
void populate_ahead_stop(struct populate_ahead *p);

#endif
