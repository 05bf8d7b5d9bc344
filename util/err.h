/* The error convention of every floor: a function returns -errno (or another code) and
 * leaves a one-line message for the user in a buffer its caller gave it. */
#ifndef PAGODA_UTIL_ERR_H
#define PAGODA_UTIL_ERR_H

#include <stddef.h>

/* Formats the message into err and returns ret. */
int err_set(char *err, size_t errlen, int ret, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
