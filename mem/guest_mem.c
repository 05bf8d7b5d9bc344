#include "guest_mem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

uint64_t guest_mem_file_offset(const struct guest_mem *m, uint64_t gpa)
{
	uint64_t offset = 0;
	for (unsigned int i = 0; i < m->layout.nr_ram; i++) {
		const struct mem_range *rr = &m->layout.ram[i];
		if (gpa - rr->gpa < rr->size)
			return offset + (gpa - rr->gpa);
		offset += rr->size;
	}
	return offset;
}

/* Each region stays one mapping (one VMA): userfaultfd's UFFDIO_COPY and CONTINUE
 * refuse a range that spans two with ENOENT, and post-copy and lazy restore fill runs
 * that cross any 2 MiB line. A madvise that differs inside a region splits it (keeping
 * THP's first 2 MiB in 4K pages broke a keyed post-copy, 2 runs in 3). */
static int map_regions(struct guest_mem *m, char *err, size_t errlen)
{
	for (unsigned int i = 0; i < m->layout.nr_ram; i++) {
		const struct mem_range *rr = &m->layout.ram[i];
		int r = mem_backend_map(&m->backend, m->base + rr->gpa, rr->size, guest_mem_file_offset(m, rr->gpa));
		if (r == 0)
			r = memslot_add(&m->slots, rr->gpa, rr->size, m->base + rr->gpa, 0, NULL);
		if (r) {
			snprintf(err, errlen, "mapping guest RAM [0x%llx, 0x%llx) (%s): %s",
				 (unsigned long long)rr->gpa, (unsigned long long)(rr->gpa + rr->size),
				 m->backend.desc, strerror(-r));
			return r;
		}
	}
	return 0;
}

int guest_mem_create(struct guest_mem *m, const struct mem_layout *l,
		     const struct guest_mem_opts *o, char *err, size_t errlen)
{
	*m = (struct guest_mem){ .layout = *l, .backend = { .fd = -1 } };
	int r = mem_backend_open(&m->backend, &o->backend, l->ram_size, err, errlen);
	if (r)
		return r;
	if (o->hva_skew % m->backend.page_size) {
		snprintf(err, errlen, "hva skew %llu is not a multiple of the backing's page size",
			 (unsigned long long)o->hva_skew);
		guest_mem_destroy(m);
		return -EINVAL;
	}
	/* One reservation covering [0, ram_end) plus slack to align its start to 1 GiB:
	 * then every region sits at base + gpa and inherits gpa's alignment for every block
	 * size up to 1 GiB. The hole stays PROT_NONE and costs only address space. */
	m->reserve_size = layout_ram_end(l) + SZ_1G + o->hva_skew;
	m->reserve = mmap(NULL, m->reserve_size, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->reserve == MAP_FAILED) {
		m->reserve = NULL;
		r = -errno;
		snprintf(err, errlen, "reserving %llu MiB of address space: %s",
			 (unsigned long long)(m->reserve_size >> 20), strerror(-r));
		guest_mem_destroy(m);
		return r;
	}
	m->base = (uint8_t *)(((uintptr_t)m->reserve + SZ_1G - 1) & ~(uintptr_t)(SZ_1G - 1));
	m->base += o->hva_skew;
	r = memslot_table_init(&m->slots, o->vm_fd, o->max_slots, o->use_v2);
	if (!r)
		r = map_regions(m, err, errlen);
	else
		snprintf(err, errlen, "memslot table: %s", strerror(-r));
	if (r)
		guest_mem_destroy(m);
	return r;
}

void guest_mem_destroy(struct guest_mem *m)
{
	memslot_table_destroy(&m->slots);
	if (m->reserve)
		munmap(m->reserve, m->reserve_size);
	m->reserve = NULL;
	mem_backend_close(&m->backend);
}

static void mark_vmm_dirty(const struct memslot *s, uint64_t off, uint64_t len)
{
	uint64_t first = off / 4096, last = (off + (len ? len : 1) - 1) / 4096;
	for (uint64_t p = first; p <= last; p++)
		__atomic_fetch_or(&s->vmm_dirty[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
}

void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len,
		    enum guest_access access)
{
	const struct memslot *s = memslot_find(&m->slots, gpa);
	if (!s)
		return NULL;
	uint64_t off = gpa - s->gpa;
	if (len > s->size - off)
		return NULL;
	if (access == GUEST_WRITE && __atomic_load_n(&m->vmm_dirty_on, __ATOMIC_ACQUIRE))
		mark_vmm_dirty(s, off, len);
	return s->hva + off;
}
