/* Dirty tracking in every mode KVM offers, behind one interface: after
 * dirty_log_harvest(), dirty_log_bitmap() gives, per memslot, the pages dirtied since the
 * previous harvest (since dirty_log_start for the first), by the guest and by the VMM's own
 * writes through guest_mem_ptr(GUEST_WRITE). Migration, diff snapshots and the dirty-rate
 * measurement all consume this.
 *   bitmap  KVM_MEM_LOG_DIRTY_PAGES + KVM_GET_DIRTY_LOG
 *   clear   manual protect with INITIALLY_SET: KVM_GET_DIRTY_LOG, then KVM_CLEAR_DIRTY_LOG
 *           per chunk (re-protecting each chunk before the consumer reads it)
 *   ring    per-vCPU dirty rings (acquire/release), KVM_RESET_DIRTY_RINGS, ring-full exits */
#ifndef PAGODA_MEM_DIRTY_H
#define PAGODA_MEM_DIRTY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

enum dirty_mode {
	DIRTY_AUTO,    /* resolved by dirty_log_choose */
	DIRTY_BITMAP,
	DIRTY_CLEAR,
	DIRTY_RING,
};

struct dirty_ring {
	struct kvm_dirty_gfn *gfns;
	uint32_t entries;        /* a power of two */
	uint32_t fetch;          /* next entry to collect */
	uint64_t collected;      /* pages this vCPU dirtied, over all harvests */
};

struct dirty_stats {
	uint64_t harvests;
	uint64_t pages;          /* in the last harvest */
	uint64_t vmm_pages;      /* of which only the VMM wrote */
	uint64_t kvm_ns;         /* last harvest: time inside KVM's ioctls */
	uint64_t total_ns;       /* last harvest: all of it */
	uint64_t ring_full_exits;
};

struct dirty_log {
	enum dirty_mode mode;
	struct guest_mem *mem;
	int vm_fd;
	bool active;
	bool deferred;                /* the last harvest was deferred: out holds untaken bits */
	uint64_t clear_chunk_pages;   /* clear mode: pages per KVM_CLEAR_DIRTY_LOG, multiple of 64 */
	uint32_t ring_entries;
	bool ring_with_bitmap;     /* arm64: KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP is on */
	unsigned int nr_rings;
	struct dirty_ring *rings;     /* one per vCPU, index = vCPU index */
	pthread_mutex_t lock;         /* rings and pending bits: harvest vs ring-full exits */
	uint64_t **pending;           /* ring mode: collected since the last harvest, per slot */
	uint64_t **out;               /* the last harvest, per slot (memslot table order) */
	unsigned int nr_slots;
	/* Forces every vCPU out of guest mode once (ring mode: entries still in a vCPU's
	 * buffers reach its ring on exit). Set by the VMM. */
	void (*sync_vcpus)(void *ctx);
	void *sync_ctx;
	struct dirty_stats st;
};

/* What the host offers, for `auto` and for messages: a mask of 1 << DIRTY_*. */
unsigned int dirty_log_modes_offered(int kvm_fd);
enum dirty_mode dirty_log_choose(unsigned int offered);
const char *dirty_mode_name(enum dirty_mode m);

/* Before any vCPU exists (the ring must be enabled first); ring_entries: per vCPU ring
 * size in entries (power of two), clear_chunk: bytes per clear. -errno and a message. */
int dirty_log_init(struct dirty_log *d, enum dirty_mode mode, int vm_fd, uint32_t ring_entries,
		   uint64_t clear_chunk, char *err, size_t errlen);
/* After the vCPUs exist: maps each vCPU's ring (ring mode). */
int dirty_log_attach_vcpus(struct dirty_log *d, const int *vcpu_fds, unsigned int nr,
			   char *err, size_t errlen);
int dirty_log_start(struct dirty_log *d, struct guest_mem *mem);
/* In clear mode the first harvest after start reports every page (INITIALLY_SET: KVM
 * write-protects lazily, chunk by chunk, as the first harvest clears): a consumer that
 * measures a rate, or sends everything anyway, drains it with this right after start. */
int dirty_log_drain(struct dirty_log *d);
int dirty_log_harvest(struct dirty_log *d);
/* A harvest for a consumer that reads the pages a piece at a time (migration): nothing
 * is re-protected now; the consumer calls dirty_log_take for each piece right before it
 * reads it, so a write that lands before the read is not reported again, and the bitmap
 * keeps the pages not taken yet, joined by the next harvest's. In clear mode right after
 * start it reports every page (INITIALLY_SET), and taking a piece write-protects it then:
 * no up-front pass over all of RAM. */
int dirty_log_harvest_deferred(struct dirty_log *d);
/* Before reading pages [first, first + n) of the i-th memslot that are set in mask
 * (indexed from first): clear mode re-protects them in KVM, so a write from now on is in
 * the next harvest; in every mode they leave the bitmap. first is a multiple of 64, n too
 * unless the range ends the slot. -EINVAL for a range outside the slot. */
int dirty_log_take(struct dirty_log *d, unsigned int i, uint64_t first, uint64_t n, const uint64_t *mask);
/* The last harvest before logging stops (the guest paused): in clear mode the pages are
 * not write-protected again, which on a dirtying guest was most of the stop's time; after
 * deferred harvests the pages not taken stay in. The log must be stopped (or restarted)
 * before it is harvested again. */
int dirty_log_harvest_final(struct dirty_log *d);
/* The last harvest's bitmap for RAM region i (mem/ram.h), or NULL. */
const uint64_t *dirty_log_bitmap(const struct dirty_log *d, unsigned int i);
int dirty_log_stop(struct dirty_log *d);
/* Ring mode, on the vCPU thread that got KVM_EXIT_DIRTY_RING_FULL: collect, reset, go
 * on. -EIO when the ring is full yet holds nothing to collect (it would never drain). */
int dirty_log_ring_full(struct dirty_log *d, unsigned int vcpu);
void dirty_log_destroy(struct dirty_log *d);

#endif
