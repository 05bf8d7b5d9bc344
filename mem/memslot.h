/* The memslot table: owns KVM slot ids, keeps slots sorted by guest address for a fast
 * gpa->hva lookup, and registers them with KVM (KVM_SET_USER_MEMORY_REGION2, or the v1
 * ioctl on hosts without it). With vm_fd < 0 it is a plain table (unit tests). */
#ifndef PAGODA_MEM_MEMSLOT_H
#define PAGODA_MEM_MEMSLOT_H

#include <stdbool.h>
#include <stdint.h>

struct memslot {
	uint32_t id;
	uint32_t flags; /* KVM_MEM_* */
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	/* Pages the VMM itself wrote (devices through guest_mem_ptr): KVM never sees those
	 * writes. One bit per 4K page, set atomically; drained by dirty tracking. */
	uint64_t *vmm_dirty;
};

struct memslot_table {
	int vm_fd;
	bool use_v2;
	uint32_t max_slots;
	uint32_t nr;
	struct memslot *slots;   /* nr entries, sorted by gpa */
	uint64_t *id_used;       /* bitmap of max_slots bits */
};

/* max_slots: how many ids KVM offers (KVM_CAP_NR_MEMSLOTS); use_v2: KVM_CAP_USER_MEMORY2. */
int memslot_table_init(struct memslot_table *t, int vm_fd, uint32_t max_slots, bool use_v2);
void memslot_table_destroy(struct memslot_table *t);

/* Adds a slot; -EEXIST when it overlaps another, -ENOSPC when ids ran out, -errno from KVM.
 * On success *id_out (if not NULL) is the slot id. */
int memslot_add(struct memslot_table *t, uint64_t gpa, uint64_t size, void *hva,
		uint32_t flags, uint32_t *id_out);
/* Removes the slot with this id from KVM and the table; -ENOENT if there is none. */
int memslot_remove(struct memslot_table *t, uint32_t id);
/* Changes a slot's flags (dirty logging, read-only) in KVM. */
int memslot_set_flags(struct memslot_table *t, uint32_t id, uint32_t flags);

/* The slot holding gpa, or NULL. Binary search: devices call it per descriptor. */
const struct memslot *memslot_find(const struct memslot_table *t, uint64_t gpa);

/* A bit per 4K page of every slot (dirty logs, migration's maps of what is where). */
uint64_t memslot_bitmap_words(const struct memslot *s);
/* Zeroed, one array per slot of t; NULL when memory ran out. */
uint64_t **memslot_bitmaps_alloc(const struct memslot_table *t);
void memslot_bitmaps_free(uint64_t **bits, uint32_t nr);

#endif
