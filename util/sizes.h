/* Sizes every floor speaks of: the x86 and arm64 page and block sizes, and sizes as
 * people write them. */
#ifndef PAGODA_UTIL_SIZES_H
#define PAGODA_UTIL_SIZES_H

#define SZ_4K  0x1000ULL
#define SZ_2M  0x200000ULL
#define SZ_1G  0x40000000ULL

#include <stdint.h>

/* "512M", "2G", "2GiB", "4096" (bytes), "1T": 0, or -1 on anything else or on overflow. */
int size_parse(const char *s, uint64_t *out);

#endif
