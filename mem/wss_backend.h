/* The working-set methods behind mem/working_set.h: each fills a wss_report its own way.
 * start's messages say what is wrong without the "working-set: " the front adds. */
#ifndef PAGODA_MEM_WSS_BACKEND_H
#define PAGODA_MEM_WSS_BACKEND_H

#include "working_set.h"

struct wss_backend {
	/* 0, or -ENOTSUP with a message naming what the kernel lacks (another method may
	 * do), or another -errno. */
	int (*start)(void **state, const struct guest_mem *mem, double window_s, char *err, size_t errlen);
	int (*sample)(void *state, struct wss_report *r, char *err, size_t errlen);
	/* A descriptor that becomes readable once per window; tick then does the window's
	 * work. Both NULL where the method needs no ticks. */
	int (*fd)(void *state);
	int (*tick)(void *state);
	/* NULL where the method does not know pages (working_set_recent). */
	int (*recent)(void *state, uint32_t slot, uint64_t *bits, uint64_t pages, unsigned int windows);
	void (*stop)(void *state);
};

extern const struct wss_backend wss_damon, wss_access_log;

#endif
