/* Writing files whole. */
#ifndef PAGODA_UTIL_IO_H
#define PAGODA_UTIL_IO_H

#include <stddef.h>
#include <sys/types.h>

/* pwrite until all len bytes are at off (EINTR and short writes retried): 0 or -errno. */
int write_all_at(int fd, const void *p, size_t len, off_t off);

#endif
