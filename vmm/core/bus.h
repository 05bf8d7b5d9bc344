/* An address space of device ranges (one for port I/O, one for MMIO): sorted, with a
 * binary search per access. Ranges are registered before the vCPUs start; lookups then
 * take no lock. Each device serialises its own state. */
#ifndef PAGODA_VMM_BUS_H
#define PAGODA_VMM_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* offset is relative to the range's base; data holds len bytes (1, 2, 4 or 8). */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, void *data, uint32_t len,
			  bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn io;
	void *opaque;
	const char *name;
};

struct bus {
	struct bus_range *ranges; /* sorted by base, never overlapping */
	size_t nr;
	size_t cap;
};

void bus_init(struct bus *b);
void bus_destroy(struct bus *b);
/* -EEXIST when [base, base+len) overlaps a registered range, -EINVAL for len 0. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn io, void *opaque,
		 const char *name);
const struct bus_range *bus_find(const struct bus *b, uint64_t addr);
/* Runs the access against the device at addr. Returns false when nothing is there; an
 * unclaimed read then reads as all ones, like an ISA bus with nothing on it. An access
 * that runs past the end of its range is not the device's either. */
bool bus_access(const struct bus *b, uint64_t addr, void *data, uint32_t len, bool is_write);

#endif
