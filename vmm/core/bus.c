#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b)
{
	*b = (struct bus){ 0 };
}

void bus_destroy(struct bus *b)
{
	free(b->ranges);
	*b = (struct bus){ 0 };
}

/* Index of the first range whose base is > addr. */
static size_t upper_bound(const struct bus *b, uint64_t addr)
{
	size_t lo = 0, hi = b->nr;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn io, void *opaque,
		 const char *name)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	size_t pos = upper_bound(b, base);
	if (pos > 0) {
		const struct bus_range *prev = &b->ranges[pos - 1];
		if (base - prev->base < prev->len)
			return -EEXIST;
	}
	if (pos < b->nr && b->ranges[pos].base - base < len)
		return -EEXIST;
	if (b->nr == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *n = realloc(b->ranges, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		b->ranges = n;
		b->cap = cap;
	}
	memmove(&b->ranges[pos + 1], &b->ranges[pos], (b->nr - pos) * sizeof(*b->ranges));
	b->ranges[pos] = (struct bus_range){ base, len, io, opaque, name };
	b->nr++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *b, uint64_t addr)
{
	size_t pos = upper_bound(b, addr);
	if (pos == 0)
		return NULL;
	const struct bus_range *r = &b->ranges[pos - 1];
	return addr - r->base < r->len ? r : NULL;
}

bool bus_access(const struct bus *b, uint64_t addr, void *data, uint32_t len, bool is_write)
{
	const struct bus_range *r = bus_find(b, addr);
	if (!r || len > r->len - (addr - r->base)) {
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	r->io(r->opaque, addr - r->base, data, len, is_write);
	return true;
}
