/* The one clock pagoda measures with: CLOCK_MONOTONIC in nanoseconds. */
#ifndef PAGODA_UTIL_CLOCK_H
#define PAGODA_UTIL_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

uint64_t now_ns(void);
/* A timerfd on that clock (close-on-exec, non-blocking) firing after `seconds`, and every
 * `seconds` after that when periodic; the fd or -errno. */
int timer_open(double seconds, bool periodic);

#endif
