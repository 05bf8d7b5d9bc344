/* The one clock pagoda measures with: CLOCK_MONOTONIC in nanoseconds. */
#ifndef PAGODA_UTIL_CLOCK_H
#define PAGODA_UTIL_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

uint64_t now_ns(void);
/* A timerfd on that clock (close-on-exec, non-blocking) firing after `seconds`, and every
 * `seconds` after that when periodic (seconds below 0: not armed); the fd or -errno. */
int timer_open(double seconds, bool periodic);
/* Re-arms such a timer the same way; `seconds` not above 0 fires it at once. 0 or -errno. */
int timer_set(int fd, double seconds, bool periodic);

#endif
