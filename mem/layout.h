/* The guest physical map: where RAM lives and where the MMIO hole is. Pure arithmetic,
 * no KVM, so it is unit-tested on its own. */
#ifndef PAGODA_MEM_LAYOUT_H
#define PAGODA_MEM_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/sizes.h"

/* x86: a 1 GiB aligned hole for MMIO (LAPIC, IOAPIC, virtio-mmio, ...) just below 4 GiB.
 * kvmtool's hole at 0xD0000000 splits a gigabyte and so forbids 1 GiB mappings. */
#define LAYOUT_X86_HOLE_START (3 * SZ_1G)
#define LAYOUT_X86_HOLE_END   (4 * SZ_1G)

/* arm64: MMIO below 1 GiB, RAM in one piece from 1 GiB (a 1 GiB block from its start). */
#define LAYOUT_ARM64_RAM_START SZ_1G
#define LAYOUT_ARM64_RAM_MAX   (1ULL << 47)

#define LAYOUT_MAX_REGIONS 4

struct mem_range {
	uint64_t gpa;
	uint64_t size;
};

struct mem_layout {
	unsigned int nr_ram;
	struct mem_range ram[LAYOUT_MAX_REGIONS];
	struct mem_range mmio_hole;
	uint64_t ram_size;  /* sum of ram[].size */
	uint64_t page_size; /* every boundary is a multiple of this */
};

/* Fills *out for ram_size bytes of RAM backed by pages of page_size.
 * -EINVAL when ram_size is 0 or not a multiple of page_size, or page_size is not a
 * power of two of at least 4 KiB. */
int layout_x86(uint64_t ram_size, uint64_t page_size, struct mem_layout *out);

/* The same for pagoda's arm64 platform. */
int layout_arm64(uint64_t ram_size, uint64_t page_size, struct mem_layout *out);

/* v as people write sizes: "1G", "2M", "4K" (the largest unit that divides it). */
const char *layout_size_str(uint64_t v, char *buf, size_t len);

/* End of the highest RAM region (exclusive). */
uint64_t layout_ram_end(const struct mem_layout *l);

/* True when [gpa, gpa+len) lies inside one RAM region. */
bool layout_is_ram(const struct mem_layout *l, uint64_t gpa, uint64_t len);

#endif
