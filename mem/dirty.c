#include "dirty.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kvm_compat.h"
#include "../util/clock.h"

const char *dirty_mode_name(enum dirty_mode m)
{
	static const char *const n[] = { "auto", "bitmap", "clear", "ring" };
	return m <= DIRTY_RING ? n[m] : "?";
}

unsigned int dirty_log_modes_offered(int kvm_fd)
{
	unsigned int m = 1u << DIRTY_BITMAP; /* every KVM with memslots */
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0)
		m |= 1u << DIRTY_CLEAR;
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL) > 0 ||
	    ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING) > 0)
		m |= 1u << DIRTY_RING;
	return m;
}

/* The ring scales with vCPUs and costs nothing per idle page; manual protect splits the
 * work in chunks; the plain bitmap is what every KVM has. */
enum dirty_mode dirty_log_choose(unsigned int offered)
{
	if (offered & (1u << DIRTY_RING))
		return DIRTY_RING;
	if (offered & (1u << DIRTY_CLEAR))
		return DIRTY_CLEAR;
	return DIRTY_BITMAP;
}

static int enable_cap(int vm_fd, uint32_t cap, uint64_t arg)
{
	struct kvm_enable_cap c = { .cap = cap, .args = { arg } };
	return ioctl(vm_fd, KVM_ENABLE_CAP, &c) < 0 ? -errno : 0;
}

int dirty_log_init(struct dirty_log *d, enum dirty_mode mode, int vm_fd, uint32_t ring_entries,
		   uint64_t clear_chunk, char *err, size_t errlen)
{
	*d = (struct dirty_log){ .mode = mode, .vm_fd = vm_fd, .ring_entries = ring_entries };
	pthread_mutex_init(&d->lock, NULL);
	d->clear_chunk_pages = clear_chunk / SZ_4K / 64 * 64;
	if (!d->clear_chunk_pages)
		d->clear_chunk_pages = 64;
	int r = 0;
	if (mode == DIRTY_CLEAR) {
		r = enable_cap(vm_fd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			       KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
		if (r)
			snprintf(err, errlen, "--dirty-log clear: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: %s", strerror(-r));
	} else if (mode == DIRTY_RING) {
		uint64_t bytes = (uint64_t)ring_entries * sizeof(struct kvm_dirty_gfn);
		r = enable_cap(vm_fd, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, bytes);
		if (r == -EINVAL || r == -ENOTTY || r == -ENXIO)
			r = enable_cap(vm_fd, KVM_CAP_DIRTY_LOG_RING, bytes);
		if (r)
			snprintf(err, errlen, "--dirty-log ring with %u entries: KVM refused (%s): the size must be a power of two of at least 256 entries and at most what KVM_CAP_DIRTY_LOG_RING reports",
				 ring_entries, strerror(-r));
		/* arm64 KVM logs a memslot (4K mappings, write protection) only when the slot
		 * has a bitmap: without this, writes inside a huge block after its first go
		 * unrecorded. The bitmap then also holds pages dirtied outside any vCPU. */
		if (!r && ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP) > 0) {
			r = enable_cap(vm_fd, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0);
			d->ring_with_bitmap = r == 0;
			if (r)
				snprintf(err, errlen, "--dirty-log ring: KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP: %s", strerror(-r));
		}
	}
	return r;
}

int dirty_log_attach_vcpus(struct dirty_log *d, const int *vcpu_fds, unsigned int nr, char *err,
			   size_t errlen)
{
	if (d->mode != DIRTY_RING)
		return 0;
	d->rings = calloc(nr, sizeof(*d->rings));
	if (!d->rings)
		return -ENOMEM;
	size_t bytes = (size_t)d->ring_entries * sizeof(struct kvm_dirty_gfn);
	long page = sysconf(_SC_PAGESIZE);
	for (unsigned int i = 0; i < nr; i++) {
		void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fds[i],
			       (off_t)DIRTY_RING_PAGE_OFFSET * page);
		if (p == MAP_FAILED) {
			int e = errno;
			snprintf(err, errlen, "mapping vCPU %u's dirty ring: %s", i, strerror(e));
			return -e;
		}
		d->rings[i] = (struct dirty_ring){ .gfns = p, .entries = d->ring_entries };
		d->nr_rings = i + 1;
	}
	return 0;
}

static int set_logging(struct dirty_log *d, bool on)
{
	struct memslot_table *t = &d->mem->slots;
	for (uint32_t i = 0; i < t->nr; i++) {
		uint32_t f = t->slots[i].flags;
		f = on ? f | KVM_MEM_LOG_DIRTY_PAGES : f & ~KVM_MEM_LOG_DIRTY_PAGES;
		int r = memslot_set_flags(t, t->slots[i].id, f);
		if (r)
			return r;
	}
	return 0;
}

int dirty_log_start(struct dirty_log *d, struct guest_mem *mem)
{
	if (d->active)
		return 0;
	/* The bitmaps outlive a stop, so logging can be switched on and off at will; they are
	 * rebuilt only when the memslots changed in between. */
	if (d->mem != mem || d->nr_slots != mem->slots.nr) {
		memslot_bitmaps_free(d->out, d->nr_slots);
		memslot_bitmaps_free(d->pending, d->nr_slots);
		d->out = d->pending = NULL;
	}
	d->mem = mem;
	d->nr_slots = mem->slots.nr;
	if (!d->out)
		d->out = memslot_bitmaps_alloc(&mem->slots);
	if (!d->pending) /* ring mode's collected bits; in the others a deferred harvest's scratch */
		d->pending = memslot_bitmaps_alloc(&mem->slots);
	if (!d->out || !d->pending)
		return -ENOMEM;
	d->deferred = false;
	/* VMM writes count from here; bits left from an earlier session are stale */
	for (uint32_t i = 0; i < mem->slots.nr; i++)
		memset(mem->slots.slots[i].vmm_dirty, 0, memslot_bitmap_words(&mem->slots.slots[i]) * 8);
	__atomic_store_n(&mem->vmm_dirty_on, true, __ATOMIC_RELEASE);
	int r = set_logging(d, true);
	d->active = r == 0;
	return r;
}

/* Ring entries of vCPU v into the pending bits; lock held. Entries are published by KVM
 * with release semantics: read flags with acquire, hand each back with a release store. */
static void collect_ring(struct dirty_log *d, struct dirty_ring *ring)
{
	const struct memslot_table *t = &d->mem->slots;
	for (;;) {
		struct kvm_dirty_gfn *g = &ring->gfns[ring->fetch & (ring->entries - 1)];
		uint32_t flags = __atomic_load_n(&g->flags, __ATOMIC_ACQUIRE);
		if (!(flags & KVM_DIRTY_GFN_F_DIRTY))
			break;
		uint32_t slot_id = g->slot & 0xffff; /* high 16 bits: address space */
		for (uint32_t i = 0; i < t->nr; i++) {
			if (t->slots[i].id == slot_id && g->offset < t->slots[i].size / SZ_4K) {
				d->pending[i][g->offset / 64] |= 1ULL << (g->offset % 64);
				break;
			}
		}
		__atomic_store_n(&g->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		ring->fetch++;
		ring->collected++;
	}
}

static int reset_rings(struct dirty_log *d, uint64_t *kvm_ns)
{
	uint64_t t0 = now_ns();
	int r = ioctl(d->vm_fd, KVM_RESET_DIRTY_RINGS, 0) < 0 ? -errno : 0;
	*kvm_ns += now_ns() - t0;
	return r;
}

int dirty_log_ring_full(struct dirty_log *d, unsigned int vcpu)
{
	/* not only while active: entries pushed just before a stop still fill the ring */
	if (!d || d->mode != DIRTY_RING || vcpu >= d->nr_rings || !d->pending)
		return -EINVAL;
	uint64_t ignored = 0, before = d->rings[vcpu].collected;
	pthread_mutex_lock(&d->lock);
	collect_ring(d, &d->rings[vcpu]);
	int r = reset_rings(d, &ignored);
	d->st.ring_full_exits++;
	/* A full ring with nothing to collect cannot drain: KVM went past the ring's soft
	 * limit and lost track (seen on a PVM host). Resuming would exit again forever. */
	if (!r && d->rings[vcpu].collected == before)
		r = -EIO;
	pthread_mutex_unlock(&d->lock);
	return r;
}

static int get_log(struct dirty_log *d, const struct memslot *s, uint64_t *bits, uint64_t *kvm_ns)
{
	struct kvm_dirty_log log = { .slot = s->id, .dirty_bitmap = bits };
	uint64_t t0 = now_ns();
	int r = ioctl(d->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
	*kvm_ns += now_ns() - t0;
	return r;
}

/* out = bits, or out |= bits when keeping what the consumer has not taken yet. */
static void put_bits(uint64_t *out, const uint64_t *bits, size_t words, bool keep)
{
	if (!keep) {
		memcpy(out, bits, words * 8);
		return;
	}
	for (size_t w = 0; w < words; w++)
		out[w] |= bits[w];
}

static int harvest_ring(struct dirty_log *d, bool keep, uint64_t *kvm_ns)
{
	if (d->sync_vcpus)
		d->sync_vcpus(d->sync_ctx);
	pthread_mutex_lock(&d->lock);
	for (unsigned int v = 0; v < d->nr_rings; v++)
		collect_ring(d, &d->rings[v]);
	int r = reset_rings(d, kvm_ns);
	for (unsigned int i = 0; i < d->nr_slots; i++) {
		const struct memslot *s = &d->mem->slots.slots[i];
		size_t words = memslot_bitmap_words(s);
		put_bits(d->out[i], d->pending[i], words, keep);
		/* After the rings, as KVM asks: the bitmap's pages (pending is scratch now). */
		if (d->ring_with_bitmap && !r && !(r = get_log(d, s, d->pending[i], kvm_ns)))
			for (size_t w = 0; w < words; w++)
				d->out[i][w] |= d->pending[i][w];
		memset(d->pending[i], 0, words * 8);
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* Re-protects every chunk that had dirty pages, before the consumer reads them: a write
 * that lands after this is in the next harvest. */
static int clear_log(struct dirty_log *d, const struct memslot *s, uint64_t *bits, uint64_t *kvm_ns)
{
	uint64_t pages = s->size / SZ_4K;
	for (uint64_t first = 0; first < pages; first += d->clear_chunk_pages) {
		uint64_t n = pages - first < d->clear_chunk_pages ? pages - first : d->clear_chunk_pages;
		bool any = false;
		for (uint64_t w = first / 64; w < (first + n + 63) / 64 && !any; w++)
			any = bits[w] != 0;
		if (!any)
			continue;
		struct kvm_clear_dirty_log c = { .slot = s->id, .num_pages = (uint32_t)n,
						 .first_page = first, .dirty_bitmap = bits + first / 64 };
		uint64_t t0 = now_ns();
		int r = ioctl(d->vm_fd, KVM_CLEAR_DIRTY_LOG, &c) < 0 ? -errno : 0;
		*kvm_ns += now_ns() - t0;
		if (r)
			return r;
	}
	return 0;
}

/* Moves the VMM's own writes into the harvest and counts its pages; counts pages only the
 * VMM wrote. On every harvest over every word of RAM, so: the VMM's bits are nearly always
 * zero (a plain load, an atomic exchange only when set), and POPCNT where the CPU has it
 * (x86-64's baseline has not, and libgcc's fallback made this loop 18% of KVM's time). */
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define POPCNT_CLONES __attribute__((target_clones("popcnt", "default")))
#else /* (ThreadSanitizer's build: an ifunc resolver runs before its runtime and crashes) */
#define POPCNT_CLONES /* arm64's baseline counts bits (CNT) */
#endif
POPCNT_CLONES
static uint64_t merge_vmm_bits(const struct memslot *s, uint64_t *out, uint64_t *vmm_only)
{
	uint64_t count = 0, words = memslot_bitmap_words(s);
	for (uint64_t w = 0; w < words; w++) {
		if (__atomic_load_n(&s->vmm_dirty[w], __ATOMIC_RELAXED)) {
			uint64_t v = __atomic_exchange_n(&s->vmm_dirty[w], 0, __ATOMIC_ACQ_REL);
			*vmm_only += (uint64_t)__builtin_popcountll(v & ~out[w]);
			out[w] |= v;
		}
		if (out[w])
			count += (uint64_t)__builtin_popcountll(out[w]);
	}
	return count;
}

static int harvest(struct dirty_log *d, bool rearm, bool keep);

int dirty_log_harvest(struct dirty_log *d)
{
	d->deferred = false;
	return harvest(d, true, false);
}

int dirty_log_harvest_deferred(struct dirty_log *d)
{
	bool keep = d->deferred;
	d->deferred = true;
	return harvest(d, false, keep);
}

int dirty_log_harvest_final(struct dirty_log *d)
{
	return harvest(d, false, d->deferred);
}

/* rearm: clear mode write-protects the harvested pages again (KVM_CLEAR_DIRTY_LOG), which
 * costs as much as the dirtying was; the last harvest before logging stops skips it, and
 * a deferred one leaves it to dirty_log_take. keep: the new bits join those the consumer
 * has not taken (a page left in clear mode's KVM bitmap is reported again anyway; the
 * VMM's own bits and the other modes' exist only in out). */
static int harvest(struct dirty_log *d, bool rearm, bool keep)
{
	if (!d->active)
		return -EINVAL;
	uint64_t t0 = now_ns(), kvm_ns = 0, pages = 0, vmm_only = 0;
	int r = 0;
	if (d->mode == DIRTY_RING)
		r = harvest_ring(d, keep, &kvm_ns);
	for (unsigned int i = 0; i < d->nr_slots && !r; i++) {
		const struct memslot *s = &d->mem->slots.slots[i];
		if (d->mode != DIRTY_RING)
			r = get_log(d, s, keep ? d->pending[i] : d->out[i], &kvm_ns);
		if (!r && d->mode != DIRTY_RING && keep)
			put_bits(d->out[i], d->pending[i], memslot_bitmap_words(s), true);
		if (!r && d->mode == DIRTY_CLEAR && rearm)
			r = clear_log(d, s, d->out[i], &kvm_ns);
		if (!r)
			pages += merge_vmm_bits(s, d->out[i], &vmm_only);
	}
	d->st.harvests++;
	d->st.pages = pages;
	d->st.vmm_pages = vmm_only;
	d->st.kvm_ns = kvm_ns;
	d->st.total_ns = now_ns() - t0;
	return r;
}

const uint64_t *dirty_log_bitmap(const struct dirty_log *d, unsigned int i)
{
	if (!d->out || i >= d->nr_slots)
		return NULL;
	return d->out[i];
}

int dirty_log_take(struct dirty_log *d, unsigned int i, uint64_t first, uint64_t n, const uint64_t *mask)
{
	if (i >= d->nr_slots || !d->out || first % 64)
		return -EINVAL;
	const struct memslot *s = &d->mem->slots.slots[i];
	uint64_t pages = s->size / SZ_4K;
	if (first >= pages || n > pages - first || (n % 64 && first + n != pages))
		return -EINVAL;
	uint64_t words = (n + 63) / 64;
	bool any = false;
	for (uint64_t w = 0; w < words && !any; w++)
		any = mask[w] != 0;
	if (!any)
		return 0;
	if (d->mode == DIRTY_CLEAR && d->active) {
		/* KVM only reads the mask. */
		struct kvm_clear_dirty_log c = { .slot = s->id, .num_pages = (uint32_t)n, .first_page = first,
						 .dirty_bitmap = (void *)(uintptr_t)mask };
		if (ioctl(d->vm_fd, KVM_CLEAR_DIRTY_LOG, &c) < 0)
			return -errno;
	}
	for (uint64_t w = 0; w < words; w++)
		d->out[i][first / 64 + w] &= ~mask[w];
	return 0;
}

int dirty_log_stop(struct dirty_log *d)
{
	if (!d->active)
		return 0;
	__atomic_store_n(&d->mem->vmm_dirty_on, false, __ATOMIC_RELEASE);
	int r = set_logging(d, false);
	d->active = false;
	return r;
}

void dirty_log_destroy(struct dirty_log *d)
{
	if (d->mem)
		dirty_log_stop(d);
	size_t bytes = (size_t)d->ring_entries * sizeof(struct kvm_dirty_gfn);
	for (unsigned int i = 0; i < d->nr_rings; i++)
		munmap(d->rings[i].gfns, bytes);
	free(d->rings);
	memslot_bitmaps_free(d->out, d->nr_slots);
	memslot_bitmaps_free(d->pending, d->nr_slots);
	pthread_mutex_destroy(&d->lock);
	*d = (struct dirty_log){ 0 };
}

int dirty_log_drain(struct dirty_log *d)
{
	return d->mode == DIRTY_CLEAR ? dirty_log_harvest(d) : 0;
}
