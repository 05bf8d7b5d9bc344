/* Guest RAM: host mappings laid out so that hva % 1 GiB == gpa % 1 GiB (KVM maps a huge
 * block only when both agree), backed as asked (mem/backend.h), registered with KVM
 * through the memslot table, and the one way devices and loaders reach guest memory:
 * guest_mem_ptr(). */
#ifndef PAGODA_MEM_GUEST_MEM_H
#define PAGODA_MEM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "layout.h"
#include "memslot.h"

enum guest_access {
	GUEST_READ,
	GUEST_WRITE,
};

struct guest_mem_opts {
	struct mem_backend_config backend;
	int vm_fd;              /* < 0: map only, no KVM (unit tests) */
	uint32_t max_slots;
	bool use_v2;            /* KVM_SET_USER_MEMORY_REGION2 */
	uint64_t hva_skew;      /* test only: shifts every hva off gpa's alignment */
};

struct guest_mem {
	struct mem_layout layout;
	struct mem_backend backend;
	uint8_t *reserve;      /* whole reservation, for munmap */
	size_t reserve_size;
	uint8_t *base;         /* hva of gpa 0; 1 GiB aligned unless skewed */
	struct memslot_table slots;
	bool vmm_dirty_on;     /* dirty tracking active: record VMM writes (atomic access) */
};

/* Maps RAM for layout l and registers one memslot per RAM region. Returns 0, or -errno
 * with a one-line message in err. */
int guest_mem_create(struct guest_mem *m, const struct mem_layout *l,
		     const struct guest_mem_opts *o, char *err, size_t errlen);
void guest_mem_destroy(struct guest_mem *m);

/* Host pointer to [gpa, gpa+len) when it lies inside one RAM slot, else NULL. The only
 * sanctioned way to turn a guest-supplied address into a pointer. With GUEST_WRITE, and
 * dirty tracking on, the pages are recorded as dirtied by the VMM at this call: a writer
 * finishes its writes before it next returns to its event loop or vCPU, and migration's
 * last pass runs with devices stopped. */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len,
		    enum guest_access access);
/* Where RAM at gpa sits in the backing file, and in a snapshot's memory file: the RAM
 * regions back to back, in order. */
uint64_t guest_mem_file_offset(const struct guest_mem *m, uint64_t gpa);

#endif
