/* The rate at which the guest dirties memory, window by window: logging starts (and the
 * first harvest of clear mode, which reports every page, is drained) when the
 * measurement starts; each window ends with one harvest, giving pages per second over
 * the window and, in ring mode, each vCPU's share. --dirty-rate prints a line per window,
 * the control socket's dirty-rate answers with one window. */
#ifndef PAGODA_MEM_DIRTY_RATE_H
#define PAGODA_MEM_DIRTY_RATE_H

#include <stdint.h>

#include "dirty.h"

struct dirty_rate {
	struct dirty_log *log;
	uint64_t t0_ns;                /* the window's start */
	uint64_t *vcpu_collected;      /* ring mode: each ring's count at the window's start */
};

struct dirty_rate_window {
	double seconds;
	uint64_t pages;
	double pages_per_s, mib_per_s;
};

/* Starts logging; 0 or -errno (logging is then off). */
int dirty_rate_start(struct dirty_rate *r, struct dirty_log *d, struct guest_mem *mem);
/* Ends the window (one harvest) and begins the next. */
int dirty_rate_window(struct dirty_rate *r, struct dirty_rate_window *w);
/* Ring mode, after dirty_rate_window: pages per second vCPU v dirtied in that window
 * (the ring's count then becomes the next window's start). */
double dirty_rate_vcpu(struct dirty_rate *r, unsigned int v, const struct dirty_rate_window *w);
/* Frees what the measurement holds (logging itself is stopped by its owner). */
void dirty_rate_free(struct dirty_rate *r);

#endif
