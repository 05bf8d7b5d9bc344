/* Sizes every floor speaks of: the x86 and arm64 page and block sizes. */
#ifndef PAGODA_UTIL_SIZES_H
#define PAGODA_UTIL_SIZES_H

#define SZ_4K  0x1000ULL
#define SZ_2M  0x200000ULL
#define SZ_1G  0x40000000ULL

#endif
