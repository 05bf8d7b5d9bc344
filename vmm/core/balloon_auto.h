/* --balloon auto: the balloon follows the guest's working set (mem/working_set.h). Each
 * window it aims at RAM - working set - margin, where the working set is what the guest
 * touched within the last 4 windows: it deflates at once when the working set grows (the
 * guest needs the memory now) and inflates by at most a step per window when it shrinks
 * (a guest between two bursts keeps its memory a little longer). A manual target (ctl
 * balloon SIZE) turns it off. */
#ifndef PAGODA_VMM_BALLOON_AUTO_H
#define PAGODA_VMM_BALLOON_AUTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_loop.h"

struct machine;
struct virtio_dev;

struct balloon_auto {
	bool on;
	struct machine *m;
	struct virtio_dev *balloon;
	struct event_loop *loop;
	int timer_fd;
	double window_s;
	uint64_t margin, step;         /* bytes */
	uint64_t windows;              /* seen since start: the estimate needs 4 to settle */
	uint64_t working_set, target;  /* what the last window saw and set */
	uint64_t deflations, inflations;
};

/* The balloon size to aim at: what is left of ram beyond the working set and the margin. */
uint64_t balloon_auto_want(uint64_t ram, uint64_t working_set, uint64_t margin);
/* The next target from the current one: down to want at once, up by at most step. */
uint64_t balloon_auto_next(uint64_t current, uint64_t want, uint64_t step);

/* Needs m->wss running and a balloon; windows as long as the working set's. */
int balloon_auto_start(struct balloon_auto *a, struct machine *m, struct event_loop *loop, double window_s,
		       uint64_t margin, char *err, size_t errlen);
/* As JSON members (no braces), for ctl balloon. */
int balloon_auto_json(const struct balloon_auto *a, char *out, size_t len);
void balloon_auto_stop(struct balloon_auto *a);

#endif
