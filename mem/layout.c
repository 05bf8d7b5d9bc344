#include "layout.h"

#include <errno.h>
#include <stdio.h>

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int layout_x86(uint64_t ram_size, uint64_t page_size, struct mem_layout *out)
{
	if (!is_pow2(page_size) || page_size < SZ_4K)
		return -EINVAL;
	if (ram_size == 0 || ram_size % page_size)
		return -EINVAL;

	*out = (struct mem_layout){
		.mmio_hole = { LAYOUT_X86_HOLE_START, LAYOUT_X86_HOLE_END - LAYOUT_X86_HOLE_START },
		.ram_size = ram_size,
		.page_size = page_size,
	};
	uint64_t low = ram_size < LAYOUT_X86_HOLE_START ? ram_size : LAYOUT_X86_HOLE_START;
	out->ram[out->nr_ram++] = (struct mem_range){ 0, low };
	if (ram_size > low)
		out->ram[out->nr_ram++] = (struct mem_range){ LAYOUT_X86_HOLE_END, ram_size - low };
	return 0;
}

int layout_arm64(uint64_t ram_size, uint64_t page_size, struct mem_layout *out)
{
	if (!is_pow2(page_size) || page_size < SZ_4K)
		return -EINVAL;
	if (ram_size == 0 || ram_size % page_size || ram_size > LAYOUT_ARM64_RAM_MAX)
		return -EINVAL;
	*out = (struct mem_layout){
		.mmio_hole = { 0, LAYOUT_ARM64_RAM_START },
		.ram_size = ram_size,
		.page_size = page_size,
	};
	out->ram[out->nr_ram++] = (struct mem_range){ LAYOUT_ARM64_RAM_START, ram_size };
	return 0;
}

const char *layout_size_str(uint64_t v, char *buf, size_t len)
{
	if (v % SZ_1G == 0)
		snprintf(buf, len, "%lluG", (unsigned long long)(v / SZ_1G));
	else if (v % (1ULL << 20) == 0)
		snprintf(buf, len, "%lluM", (unsigned long long)(v >> 20));
	else
		snprintf(buf, len, "%lluK", (unsigned long long)(v >> 10));
	return buf;
}

uint64_t layout_ram_end(const struct mem_layout *l)
{
	const struct mem_range *last = &l->ram[l->nr_ram - 1];
	return last->gpa + last->size;
}

bool layout_is_ram(const struct mem_layout *l, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < l->nr_ram; i++) {
		const struct mem_range *r = &l->ram[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return true;
	}
	return false;
}
