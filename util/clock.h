/* The one clock pagoda measures with: CLOCK_MONOTONIC in nanoseconds. */
#ifndef PAGODA_UTIL_CLOCK_H
#define PAGODA_UTIL_CLOCK_H

#include <stdint.h>

uint64_t now_ns(void);

#endif
