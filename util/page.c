#include "page.h"

#include <stddef.h>
#include <stdint.h>

bool page_is_zero(const void *p)
{
	const uint64_t *w = p;
	for (size_t i = 0; i < SZ_4K / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}
