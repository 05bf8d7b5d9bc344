/* Whole 4 KiB pages of memory. */
#ifndef PAGODA_UTIL_PAGE_H
#define PAGODA_UTIL_PAGE_H

#include <stdbool.h>

#include "sizes.h"

/* Whether a page holds only zeros (snapshots leave holes, migration sends markers). */
bool page_is_zero(const void *p);

#endif
