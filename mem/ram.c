#include "ram.h"

#include <assert.h>

uint32_t ram_nr_regions(const struct guest_mem *m)
{
	return m->slots.nr;
}

struct ram_region ram_region(const struct guest_mem *m, uint32_t i)
{
	assert(i < m->slots.nr);
	const struct memslot *s = &m->slots.slots[i];
	return (struct ram_region){
		.index = i,
		.gpa = s->gpa,
		.pages = s->size / SZ_4K,
		.page_size = m->backend.page_size,
		.file_offset = guest_mem_file_offset(m, s->gpa),
	};
}

bool ram_region_at(const struct guest_mem *m, uint64_t gpa, struct ram_region *r, uint64_t *page)
{
	const struct memslot *s = memslot_find(&m->slots, gpa);
	if (!s)
		return false;
	*r = ram_region(m, (uint32_t)(s - m->slots.slots));
	*page = (gpa - s->gpa) / SZ_4K;
	return true;
}

uint64_t ram_fault_span(const struct guest_mem *m, uint64_t gpa, uint64_t asked, uint64_t ahead, struct ram_region *r,
			uint64_t *page)
{
	if (!ram_region_at(m, gpa, r, page))
		return 0;
	uint64_t left = r->pages - *page;
	return asked >= ahead ? asked : left < ahead ? left : ahead;
}

uint8_t *ram_pages(const struct guest_mem *m, const struct ram_region *r, uint64_t page, uint64_t n)
{
	assert(r->index < m->slots.nr && page <= r->pages && n <= r->pages - page);
	(void)n;
	return m->slots.slots[r->index].hva + page * SZ_4K;
}

uint64_t **ram_bitmaps_alloc(const struct guest_mem *m)
{
	return memslot_bitmaps_alloc(&m->slots);
}

void ram_bitmaps_free(const struct guest_mem *m, uint64_t **bits)
{
	memslot_bitmaps_free(bits, m->slots.nr);
}
