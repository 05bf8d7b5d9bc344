#include "memslot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_compat.h"
#include "../util/sizes.h"

int memslot_table_init(struct memslot_table *t, int vm_fd, uint32_t max_slots, bool use_v2)
{
	*t = (struct memslot_table){ .vm_fd = vm_fd, .use_v2 = use_v2, .max_slots = max_slots };
	t->slots = calloc(max_slots ? max_slots : 1, sizeof(*t->slots));
	t->id_used = calloc((max_slots + 63) / 64 + 1, sizeof(uint64_t));
	if (!t->slots || !t->id_used) {
		memslot_table_destroy(t);
		return -ENOMEM;
	}
	return 0;
}

void memslot_table_destroy(struct memslot_table *t)
{
	for (uint32_t i = 0; t->slots && i < t->nr; i++)
		free(t->slots[i].vmm_dirty);
	free(t->slots);
	free(t->id_used);
	t->slots = NULL;
	t->id_used = NULL;
	t->nr = 0;
}

static int kvm_set_slot(const struct memslot_table *t, const struct memslot *s, uint64_t size)
{
	if (t->vm_fd < 0)
		return 0;
	int r;
	if (t->use_v2) {
		struct kvm_userspace_memory_region2 m = {
			.slot = s->id, .flags = s->flags, .guest_phys_addr = s->gpa,
			.memory_size = size, .userspace_addr = (uintptr_t)s->hva,
		};
		r = ioctl(t->vm_fd, KVM_SET_USER_MEMORY_REGION2, &m);
	} else {
		struct kvm_userspace_memory_region m = {
			.slot = s->id, .flags = s->flags, .guest_phys_addr = s->gpa,
			.memory_size = size, .userspace_addr = (uintptr_t)s->hva,
		};
		r = ioctl(t->vm_fd, KVM_SET_USER_MEMORY_REGION, &m);
	}
	return r < 0 ? -errno : 0;
}

static int id_alloc(struct memslot_table *t, uint32_t *id)
{
	for (uint32_t i = 0; i < t->max_slots; i++) {
		if (!(t->id_used[i / 64] & (1ULL << (i % 64)))) {
			t->id_used[i / 64] |= 1ULL << (i % 64);
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

static void id_free(struct memslot_table *t, uint32_t id)
{
	t->id_used[id / 64] &= ~(1ULL << (id % 64));
}

/* Index of the first slot whose gpa is >= gpa. */
static uint32_t lower_bound(const struct memslot_table *t, uint64_t gpa)
{
	uint32_t lo = 0, hi = t->nr;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->slots[mid].gpa < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool overlaps(const struct memslot *s, uint64_t gpa, uint64_t size)
{
	return gpa < s->gpa + s->size && s->gpa < gpa + size;
}

int memslot_add(struct memslot_table *t, uint64_t gpa, uint64_t size, void *hva,
		uint32_t flags, uint32_t *id_out)
{
	if (size == 0 || gpa + size < gpa)
		return -EINVAL;
	uint32_t pos = lower_bound(t, gpa);
	if ((pos < t->nr && overlaps(&t->slots[pos], gpa, size)) ||
	    (pos > 0 && overlaps(&t->slots[pos - 1], gpa, size)))
		return -EEXIST;

	struct memslot s = { .flags = flags, .gpa = gpa, .size = size, .hva = hva };
	s.vmm_dirty = calloc((size / 4096 + 63) / 64, sizeof(uint64_t));
	if (!s.vmm_dirty)
		return -ENOMEM;
	int r = id_alloc(t, &s.id);
	if (r) {
		free(s.vmm_dirty);
		return r;
	}
	r = kvm_set_slot(t, &s, size);
	if (r) {
		id_free(t, s.id);
		free(s.vmm_dirty);
		return r;
	}
	memmove(&t->slots[pos + 1], &t->slots[pos], (t->nr - pos) * sizeof(s));
	t->slots[pos] = s;
	t->nr++;
	if (id_out)
		*id_out = s.id;
	return 0;
}

static struct memslot *find_id(struct memslot_table *t, uint32_t id)
{
	for (uint32_t i = 0; i < t->nr; i++)
		if (t->slots[i].id == id)
			return &t->slots[i];
	return NULL;
}

int memslot_remove(struct memslot_table *t, uint32_t id)
{
	struct memslot *s = find_id(t, id);
	if (!s)
		return -ENOENT;
	int r = kvm_set_slot(t, s, 0); /* size 0 deletes the slot in KVM */
	if (r)
		return r;
	id_free(t, id);
	free(s->vmm_dirty);
	uint32_t pos = (uint32_t)(s - t->slots);
	memmove(s, s + 1, (t->nr - pos - 1) * sizeof(*s));
	t->nr--;
	return 0;
}

int memslot_set_flags(struct memslot_table *t, uint32_t id, uint32_t flags)
{
	struct memslot *s = find_id(t, id);
	if (!s)
		return -ENOENT;
	uint32_t old = s->flags;
	s->flags = flags;
	int r = kvm_set_slot(t, s, s->size);
	if (r)
		s->flags = old;
	return r;
}

const struct memslot *memslot_find(const struct memslot_table *t, uint64_t gpa)
{
	uint32_t pos = lower_bound(t, gpa + 1); /* first slot starting above gpa */
	if (pos == 0)
		return NULL;
	const struct memslot *s = &t->slots[pos - 1];
	return gpa - s->gpa < s->size ? s : NULL;
}

uint64_t memslot_bitmap_words(const struct memslot *s)
{
	return (s->size / SZ_4K + 63) / 64;
}

void memslot_bitmaps_free(uint64_t **bits, uint32_t nr)
{
	for (uint32_t i = 0; bits && i < nr; i++)
		free(bits[i]);
	free(bits);
}

uint64_t **memslot_bitmaps_alloc(const struct memslot_table *t)
{
	uint64_t **b = calloc(t->nr ? t->nr : 1, sizeof(*b));
	for (uint32_t i = 0; b && i < t->nr; i++) {
		b[i] = calloc(memslot_bitmap_words(&t->slots[i]), sizeof(uint64_t));
		if (!b[i]) {
			memslot_bitmaps_free(b, t->nr);
			return NULL;
		}
	}
	return b;
}
