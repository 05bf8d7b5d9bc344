#include "discard.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <sys/mman.h>

int mem_discard_init(struct mem_discard *d, const struct guest_mem *m)
{
	*d = (struct mem_discard){ .mem = m, .granule = m->backend.page_size };
	if (d->granule <= SZ_4K)
		return 0;
	d->nr_pages = layout_ram_end(&m->layout) / SZ_4K;
	d->given = calloc((d->nr_pages + 63) / 64, sizeof(uint64_t));
	return d->given ? 0 : -ENOMEM;
}

void mem_discard_destroy(struct mem_discard *d)
{
	free(d->given);
	d->given = NULL;
}

/* Offset of gpa in the backing file: RAM regions sit back to back there. */
static uint64_t file_offset(const struct guest_mem *m, uint64_t gpa)
{
	uint64_t off = 0;
	for (unsigned int i = 0; i < m->layout.nr_ram; i++) {
		const struct mem_range *r = &m->layout.ram[i];
		if (gpa >= r->gpa && gpa < r->gpa + r->size)
			return off + (gpa - r->gpa);
		off += r->size;
	}
	return off;
}

/* Frees whole granules [gpa, gpa+len), already checked to be RAM and aligned. */
static int release(struct mem_discard *d, uint64_t gpa, uint64_t len)
{
	const struct guest_mem *m = d->mem;
	void *hva = guest_mem_ptr(m, gpa, len, GUEST_READ);
	if (!hva)
		return -EFAULT;
	int r;
	if (mem_backend_is_shared(&m->backend))
		r = fallocate(m->backend.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)file_offset(m, gpa), (off_t)len);
	else
		r = madvise(hva, len, MADV_DONTNEED);
	if (r < 0)
		return -errno;
	d->freed_bytes += len;
	return 0;
}

int mem_discard_range(struct mem_discard *d, uint64_t gpa, uint64_t len)
{
	if (!guest_mem_ptr(d->mem, gpa, len, GUEST_READ))
		return -EFAULT;
	uint64_t lo = (gpa + d->granule - 1) & ~(d->granule - 1);
	uint64_t hi = (gpa + len) & ~(d->granule - 1);
	return hi > lo ? release(d, lo, hi - lo) : 0;
}

static bool granule_all_given(const struct mem_discard *d, uint64_t first_page)
{
	uint64_t n = d->granule / SZ_4K;
	for (uint64_t p = first_page; p < first_page + n; p += 64) {
		uint64_t want = n - (p - first_page) >= 64 ? ~0ULL : (1ULL << (n - (p - first_page))) - 1;
		if ((d->given[p / 64] & want) != want) /* granules are 64-page aligned */
			return false;
	}
	return true;
}

int mem_discard_give(struct mem_discard *d, uint64_t gpa, uint64_t len)
{
	if ((gpa | len) & (SZ_4K - 1) || !guest_mem_ptr(d->mem, gpa, len, GUEST_READ))
		return -EFAULT;
	if (!d->given)
		return release(d, gpa, len);
	uint64_t first = gpa / SZ_4K, last = (gpa + len) / SZ_4K;
	for (uint64_t p = first; p < last; p++)
		d->given[p / 64] |= 1ULL << (p % 64);
	uint64_t g0 = gpa & ~(d->granule - 1), g1 = (gpa + len + d->granule - 1) & ~(d->granule - 1);
	for (uint64_t g = g0; g < g1; g += d->granule) {
		if (!granule_all_given(d, g / SZ_4K))
			continue;
		int r = release(d, g, d->granule);
		if (r)
			return r;
	}
	return 0;
}

void mem_discard_take_back(struct mem_discard *d, uint64_t gpa, uint64_t len)
{
	if (!d->given || !guest_mem_ptr(d->mem, gpa, len, GUEST_READ))
		return;
	for (uint64_t p = gpa / SZ_4K; p < (gpa + len) / SZ_4K; p++)
		d->given[p / 64] &= ~(1ULL << (p % 64));
}
