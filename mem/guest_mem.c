#include "guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int guest_mem_create(struct guest_mem *m, const struct mem_layout *l, int vm_fd,
		     uint32_t max_slots, bool use_v2)
{
	*m = (struct guest_mem){ .layout = *l };
	/* One reservation covering [0, ram_end) plus slack to align its start to 1 GiB:
	 * then every region sits at base + gpa and inherits gpa's alignment for every
	 * block size up to 1 GiB. The hole stays PROT_NONE and costs only address space. */
	m->reserve_size = layout_ram_end(l) + SZ_1G;
	m->reserve = mmap(NULL, m->reserve_size, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->reserve == MAP_FAILED) {
		m->reserve = NULL;
		return -errno;
	}
	m->base = (uint8_t *)(((uintptr_t)m->reserve + SZ_1G - 1) & ~(uintptr_t)(SZ_1G - 1));

	int r = memslot_table_init(&m->slots, vm_fd, max_slots, use_v2);
	if (r)
		goto fail;
	for (unsigned int i = 0; i < l->nr_ram; i++) {
		const struct mem_range *rr = &l->ram[i];
		void *p = mmap(m->base + rr->gpa, rr->size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED) {
			r = -errno;
			goto fail;
		}
		r = memslot_add(&m->slots, rr->gpa, rr->size, p, 0, NULL);
		if (r)
			goto fail;
	}
	return 0;
fail:
	guest_mem_destroy(m);
	return r;
}

void guest_mem_destroy(struct guest_mem *m)
{
	memslot_table_destroy(&m->slots);
	if (m->reserve)
		munmap(m->reserve, m->reserve_size);
	m->reserve = NULL;
}

void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len,
		    enum guest_access access)
{
	(void)access; /* dirty tracking of VMM writes hooks in here */
	const struct memslot *s = memslot_find(&m->slots, gpa);
	if (!s)
		return NULL;
	uint64_t off = gpa - s->gpa;
	if (len > s->size - off)
		return NULL;
	return s->hva + off;
}
