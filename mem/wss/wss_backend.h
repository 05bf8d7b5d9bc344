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

extern const struct wss_backend wss_damon, wss_access_log, wss_page_idle;

/* Where the per-page methods (wss_pages.c) get their accessed bits from. */
struct wss_page_reader {
	const char *method;               /* the report's name for it */
	const char *what;                 /* for messages: "KVM_GET_ACCESS_LOG" */
	const char *blind;                /* what it cannot see */
	uint64_t max_pages;               /* per read, a multiple of 64 */
	/* 0, or -ENOTSUP with a message naming what the kernel lacks, or another -errno. */
	int (*open)(void **reader, const struct guest_mem *mem, char *err, size_t errlen);
	/* Tests and clears the accessed state of pages [first, first + n) of slot into bits
	 * (bit 0: page first), writing all n bits. */
	int (*read)(void *reader, const struct memslot *slot, uint64_t first, uint64_t n, uint64_t *bits);
	void (*close)(void *reader);
};

extern const struct wss_page_reader wss_reader_access_log, wss_reader_page_idle;

/* The page-idle reader on these files instead of /proc/self/pagemap, /proc/kpageflags and
 * /sys/kernel/mm/page_idle/bitmap: for the unit tests, which fake them. */
int wss_page_idle_open_files(void **reader, const char *pagemap, const char *kpageflags, const char *bitmap,
			     char *err, size_t errlen);

#endif
