/* Guest RAM filled while the guest runs (uffd_fill.h). Two ways to put a page in place:
 *   copy:     UFFDIO_COPY / UFFDIO_ZEROPAGE into the guest's own mapping, page by page
 *             (anon, thp, and 4K shared memory: memfd, anonymous shared, tmpfs files);
 *   continue: hugetlb (memfd or a hugetlbfs file). UFFDIO_COPY would need a whole huge
 *             page in one call; instead pages are written into the file through a
 *             second mapping and the guest's mapping gets the huge page with
 *             UFFDIO_CONTINUE once all of it is there. The guest's mapping is registered
 *             for both missing (a hole) and minor (in the file, not mapped) faults.
 * The maps (here, claimed, stale, asked) are shared by the fault thread and whoever puts
 * pages: every access is atomic. */
#include "uffd_fill.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prefault.h"
#include "../util/clock.h"
#include "../util/err.h"
#include "../util/sizes.h"

#define PENDING 1024 /* misses remembered for their latency */

struct pending_miss {
	uint64_t gpa, t_ns;
};

struct uffd_fill {
	struct guest_mem *mem;
	int uffd;
	bool cont;                 /* continue mode (hugetlb), else copy */
	bool shmem;                /* copy mode on shared memory: discards punch the file */
	uint32_t unit_pages;       /* 4K pages a fault waits for whole */
	uint8_t **alias;           /* continue: per slot, the file mapped a second time */
	uint64_t **here;           /* a bit per 4K page in place */
	uint64_t **claimed;        /* continue: a page some thread is writing (one writer each) */
	uint64_t **stale;          /* continue: the file holds old data there (zero it, not skip) */
	uint64_t **asked;          /* a unit's first page: handed to miss, maybe waited for */
	uint64_t missing;
	pthread_mutex_t lock;      /* stats and pending */
	struct uffd_fill_stats st;
	struct pending_miss pending[PENDING];
};

static bool bit(uint64_t *const *b, uint32_t slot, uint64_t i)
{
	return (__atomic_load_n(&b[slot][i / 64], __ATOMIC_SEQ_CST) >> (i % 64)) & 1;
}

/* Sets the bit; whether it was clear. */
static bool set_bit(uint64_t **b, uint32_t slot, uint64_t i)
{
	uint64_t m = 1ull << (i % 64);
	return !(__atomic_fetch_or(&b[slot][i / 64], m, __ATOMIC_SEQ_CST) & m);
}

static void clear_bit(uint64_t **b, uint32_t slot, uint64_t i)
{
	__atomic_fetch_and(&b[slot][i / 64], ~(1ull << (i % 64)), __ATOMIC_SEQ_CST);
}

static const struct memslot *slot_at(const struct uffd_fill *f, uint32_t i)
{
	return &f->mem->slots.slots[i];
}

/* The slot and page of [gpa, gpa + count * 4K), all in one slot; -1 when not guest RAM. */
static int locate_gpa(const struct uffd_fill *f, uint64_t gpa, uint64_t count, uint64_t *page)
{
	const struct memslot *sl = memslot_find(&f->mem->slots, gpa);
	if (!sl || gpa % SZ_4K || !count || count > sl->size / SZ_4K || (gpa - sl->gpa) / SZ_4K > sl->size / SZ_4K - count)
		return -1;
	*page = (gpa - sl->gpa) / SZ_4K;
	return (int)(sl - f->mem->slots.slots);
}

static int locate_hva(const struct uffd_fill *f, uint64_t hva, uint64_t *page)
{
	const struct memslot_table *t = &f->mem->slots;
	for (uint32_t i = 0; i < t->nr; i++) {
		uint64_t base = (uint64_t)(uintptr_t)t->slots[i].hva;
		if (hva - base < t->slots[i].size) {
			*page = (hva - base) / SZ_4K;
			return (int)i;
		}
	}
	return -1;
}

/* Word by word: a 1 GiB unit is 4096 words. */
static bool unit_complete(const struct uffd_fill *f, uint32_t i, uint64_t first)
{
	if (f->unit_pages < 64)
		return bit(f->here, i, first); /* copy mode: a unit is a page */
	for (uint64_t w = first / 64; w < (first + f->unit_pages) / 64; w++)
		if (__atomic_load_n(&f->here[i][w], __ATOMIC_SEQ_CST) != ~0ull)
			return false;
	return true;
}

/* ---- latency ---- */

static void note_miss(struct uffd_fill *f, uint64_t gpa)
{
	pthread_mutex_lock(&f->lock);
	f->pending[f->st.misses % PENDING] = (struct pending_miss){ gpa, now_ns() };
	f->st.misses++;
	pthread_mutex_unlock(&f->lock);
}

static void note_arrival(struct uffd_fill *f, uint64_t gpa)
{
	pthread_mutex_lock(&f->lock);
	uint64_t first = f->st.misses > PENDING ? f->st.misses - PENDING : 0;
	for (uint64_t k = first; k < f->st.misses; k++) {
		struct pending_miss *r = &f->pending[k % PENDING];
		if (r->gpa != gpa || !r->t_ns)
			continue;
		uint64_t us = (now_ns() - r->t_ns) / 1000;
		unsigned int b = 0;
		while (b + 1 < UFFD_FILL_HIST && us >= (2ull << b))
			b++;
		f->st.hist[b]++;
		r->t_ns = 0;
		break;
	}
	pthread_mutex_unlock(&f->lock);
}

uint64_t uffd_fill_percentile_us(const struct uffd_fill_stats *s, double q)
{
	uint64_t total = 0, seen = 0;
	for (unsigned int b = 0; b < UFFD_FILL_HIST; b++)
		total += s->hist[b];
	for (unsigned int b = 0; b < UFFD_FILL_HIST && total; b++) {
		seen += s->hist[b];
		if ((double)seen >= q * (double)total)
			return 2ull << b;
	}
	return 0;
}

/* ---- mapping a unit that is all here ---- */

static void wake(const struct uffd_fill *f, uint64_t hva, uint64_t len)
{
	struct uffdio_range r = { hva, len };
	ioctl(f->uffd, UFFDIO_WAKE, &r);
}

/* Continue mode: the guest's mapping gets the unit's huge page. A unit of zero pages
 * only is a hole in the file: it gets a page first when someone waits for it (else the
 * hole stays, costing nothing until the guest touches it). */
static void map_unit(struct uffd_fill *f, uint32_t i, uint64_t first, bool waited)
{
	uint64_t off = first * SZ_4K, len = (uint64_t)f->unit_pages * SZ_4K;
	uint64_t hva = (uint64_t)(uintptr_t)slot_at(f, i)->hva + off;
	struct uffdio_continue c = { .range = { hva, len } };
	if (!ioctl(f->uffd, UFFDIO_CONTINUE, &c))
		return;
	if (errno == EFAULT && waited && !mem_populate(f->alias[i] + off, len, len) &&
	    !ioctl(f->uffd, UFFDIO_CONTINUE, &c))
		return;
	if (errno == EEXIST || waited)
		wake(f, hva, len);
}

/* Copy mode: a page here that faults is a zero page never mapped (a hole of shared
 * memory, or a fault message that crossed its copy: EEXIST, then wake). */
static void map_zero(struct uffd_fill *f, uint64_t hva)
{
	struct uffdio_zeropage z = { .range = { hva, SZ_4K } };
	if (ioctl(f->uffd, UFFDIO_ZEROPAGE, &z) && errno == EEXIST)
		wake(f, hva, SZ_4K);
}

/* A unit became whole: waiters go (copy mode's UFFDIO_COPY woke them already). */
static void unit_done(struct uffd_fill *f, uint32_t i, uint64_t first)
{
	bool waited = bit(f->asked, i, first);
	if (waited)
		note_arrival(f, slot_at(f, i)->gpa + first * SZ_4K);
	if (f->cont)
		map_unit(f, i, first, waited);
}

/* ---- faults ---- */

static int on_fault(struct uffd_fill *f, uint64_t addr, int (*miss)(void *, uint64_t, uint32_t), void *ctx)
{
	uint64_t page;
	int i = locate_hva(f, addr, &page);
	if (i < 0)
		return 0; /* only guest RAM is registered */
	uint64_t first = page / f->unit_pages * f->unit_pages;
	uint64_t hva = (uint64_t)(uintptr_t)slot_at(f, (uint32_t)i)->hva + first * SZ_4K;
	__atomic_fetch_add(&f->st.faults, 1, __ATOMIC_RELAXED);
	/* Asked before looked: a putter completing the unit meanwhile sees the ask. */
	bool new_ask = set_bit(f->asked, (uint32_t)i, first);
	if (unit_complete(f, (uint32_t)i, first)) {
		if (f->cont)
			map_unit(f, (uint32_t)i, first, true);
		else
			map_zero(f, hva);
		return 0;
	}
	if (!new_ask)
		return 0; /* on its way: its arrival wakes every waiter */
	uint64_t gpa = slot_at(f, (uint32_t)i)->gpa + first * SZ_4K;
	note_miss(f, gpa);
	return miss(ctx, gpa, f->unit_pages);
}

int uffd_fill_serve(struct uffd_fill *f, int stop_efd, int (*miss)(void *, uint64_t, uint32_t), void *ctx)
{
	for (;;) {
		struct pollfd pf[2] = { { .fd = f->uffd, .events = POLLIN }, { .fd = stop_efd, .events = POLLIN } };
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			return -errno;
		if (pf[1].revents)
			return 0;
		struct uffd_msg msg[16];
		ssize_t n = read(f->uffd, msg, sizeof(msg));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return n < 0 ? -errno : 0;
		for (ssize_t k = 0; k < n / (ssize_t)sizeof(msg[0]); k++) {
			int e = msg[k].event == UFFD_EVENT_PAGEFAULT ? on_fault(f, msg[k].arg.pagefault.address, miss, ctx) : 0;
			if (e)
				return e;
		}
	}
}

/* ---- putting pages ---- */

/* Marks [page, page + n) here; the units it completed are done. */
static void arrived(struct uffd_fill *f, uint32_t i, uint64_t page, uint64_t n)
{
	uint64_t fresh = 0;
	for (uint64_t k = 0; k < n; k++)
		fresh += set_bit(f->here, i, page + k);
	__atomic_fetch_sub(&f->missing, fresh, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&f->st.pages_in, fresh, __ATOMIC_RELAXED);
	for (uint64_t u = page / f->unit_pages * f->unit_pages; u < page + n; u += f->unit_pages)
		if (unit_complete(f, i, u))
			unit_done(f, i, u);
}

/* Copy mode: one call for the run where it can. The kernel stops at a page mapped
 * meanwhile (a zero page for a fault, another putter's copy) and says how far it got
 * (EAGAIN with a partial count), or EEXIST when that page is the first: it is skipped,
 * its contents are the ones that count. */
static int copy_run(struct uffd_fill *f, uint32_t i, uint64_t page, uint64_t n, const uint8_t *data)
{
	uint64_t hva = (uint64_t)(uintptr_t)slot_at(f, i)->hva + page * SZ_4K, len = n * SZ_4K, done = 0;
	while (done < len) {
		int64_t got;
		int r;
		if (data) {
			struct uffdio_copy c = { .dst = hva + done, .src = (uint64_t)(uintptr_t)data + done, .len = len - done };
			r = ioctl(f->uffd, UFFDIO_COPY, &c);
			got = c.copy;
		} else {
			struct uffdio_zeropage z = { .range = { hva + done, len - done } };
			r = ioctl(f->uffd, UFFDIO_ZEROPAGE, &z);
			got = z.zeropage;
		}
		if (!r)
			return 0;
		if (errno == EEXIST)
			done += SZ_4K;
		else if (errno == EAGAIN)
			done += got > 0 ? (uint64_t)got : 0;
		else
			return -errno;
	}
	return 0;
}

/* Continue mode: into the file, one writer per page; a stale page that is now zero is
 * cleared, a hole left alone. Each writer marks here only the pages it wrote, once they
 * are written: a page another thread claimed may still be half copied, and marking it
 * could complete its unit and map it into the guest before its last byte (seen: lazy
 * restore to hugetlb, the fault thread and the fill thread on one unit, a guest page
 * read back as zeros). */
static void write_run(struct uffd_fill *f, uint32_t i, uint64_t page, uint64_t n, const uint8_t *data)
{
	uint64_t mine = 0; /* pages written here, ending at k */
	for (uint64_t k = 0; k < n; k++) {
		if (!set_bit(f->claimed, i, page + k)) {
			if (mine)
				arrived(f, i, page + k - mine, mine);
			mine = 0;
			continue;
		}
		uint8_t *dst = f->alias[i] + (page + k) * SZ_4K;
		if (data)
			memcpy(dst, data + k * SZ_4K, SZ_4K);
		else if (bit(f->stale, i, page + k))
			memset(dst, 0, SZ_4K);
		clear_bit(f->stale, i, page + k);
		mine++;
	}
	if (mine)
		arrived(f, i, page + n - mine, mine);
}

int uffd_fill_put(struct uffd_fill *f, uint64_t gpa, uint64_t count, const uint8_t *data)
{
	uint64_t first;
	int i = locate_gpa(f, gpa, count, &first);
	if (i < 0)
		return -EINVAL;
	for (uint64_t k = 0; k < count;) {
		uint64_t n = 0;
		while (k + n < count && !bit(f->here, (uint32_t)i, first + k + n))
			n++;
		if (!n) {
			k++;
			continue;
		}
		const uint8_t *src = data ? data + k * SZ_4K : NULL;
		if (f->cont) {
			write_run(f, (uint32_t)i, first + k, n, src);
		} else {
			int e = copy_run(f, (uint32_t)i, first + k, n, src);
			if (e)
				return e;
			arrived(f, (uint32_t)i, first + k, n);
		}
		k += n;
	}
	return 0;
}

int uffd_fill_discard(struct uffd_fill *f, uint64_t gpa, uint64_t count)
{
	uint64_t first;
	int i = locate_gpa(f, gpa, count, &first);
	if (i < 0)
		return -EINVAL;
	uint8_t *hva = slot_at(f, (uint32_t)i)->hva;
	uint64_t u0 = first / f->unit_pages * f->unit_pages;
	uint64_t u1 = (first + count + f->unit_pages - 1) / f->unit_pages * f->unit_pages;
	/* Continue: the whole huge page leaves the guest's view, the file keeps it (the
	 * pages not discarded are still good). Shared memory in copy mode must leave the
	 * file, or the guest would see the page again without a fault. */
	int advice = f->cont ? MADV_DONTNEED : f->shmem ? MADV_REMOVE : MADV_DONTNEED;
	if (madvise(hva + u0 * SZ_4K, (u1 - u0) * SZ_4K, advice))
		return -errno;
	uint64_t lost = 0;
	for (uint64_t k = first; k < first + count; k++) {
		lost += bit(f->here, (uint32_t)i, k);
		clear_bit(f->here, (uint32_t)i, k);
		if (f->cont) {
			clear_bit(f->claimed, (uint32_t)i, k);
			set_bit(f->stale, (uint32_t)i, k);
		}
	}
	for (uint64_t u = u0; u < u1; u += f->unit_pages)
		clear_bit(f->asked, (uint32_t)i, u);
	__atomic_fetch_add(&f->missing, lost, __ATOMIC_SEQ_CST);
	return 0;
}

bool uffd_fill_here(const struct uffd_fill *f, uint64_t gpa, uint64_t count)
{
	uint64_t first;
	int i = locate_gpa(f, gpa, count, &first);
	for (uint64_t k = 0; i >= 0 && k < count; k++)
		if (!bit(f->here, (uint32_t)i, first + k))
			return false;
	return i >= 0;
}

uint64_t uffd_fill_missing(const struct uffd_fill *f)
{
	return __atomic_load_n(&f->missing, __ATOMIC_SEQ_CST);
}

uint32_t uffd_fill_unit_pages(const struct uffd_fill *f)
{
	return f->unit_pages;
}

void uffd_fill_stats(struct uffd_fill *f, struct uffd_fill_stats *s)
{
	pthread_mutex_lock(&f->lock);
	*s = f->st;
	pthread_mutex_unlock(&f->lock);
}

/* ---- setup ---- */

static int refuse(char *err, size_t errlen, const char *why)
{
	return err_set(err, errlen, -ENOTSUP, "%s: filling guest RAM on demand needs --memory-backend anon, thp, "
		       "memfd or hugetlb (or a file with --shared on tmpfs or hugetlbfs)", why);
}

/* Continue mode: a second mapping of each slot's part of the file, and which pages the
 * file holds now (a page that may hold data must be written, even with zeros). */
static int map_aliases(struct uffd_fill *f, bool all_missing)
{
	const struct memslot_table *t = &f->mem->slots;
	f->alias = calloc(t->nr, sizeof(*f->alias));
	if (!f->alias)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nr; i++) {
		uint64_t size = t->slots[i].size, pages = size / SZ_4K;
		void *a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->mem->backend.fd,
			       (off_t)guest_mem_file_offset(f->mem, t->slots[i].gpa));
		if (a == MAP_FAILED)
			return -errno;
		f->alias[i] = a;
		unsigned char *vec = all_missing ? malloc(pages) : NULL; /* a byte per 4K, even for hugetlb */
		if (all_missing && (!vec || mincore(a, size, vec))) {
			free(vec);
			return -ENOMEM;
		}
		for (uint64_t p = 0; vec && p < pages; p++)
			if (vec[p] & 1)
				set_bit(f->stale, i, p);
		free(vec);
	}
	return 0;
}

static int choose_mode(struct uffd_fill *f, char *err, size_t errlen)
{
	const struct mem_backend *b = &f->mem->backend;
	bool shared = mem_backend_is_shared(b);
	if (b->cfg.kind == MEM_FILE && !shared)
		return refuse(err, errlen, "a private file mapping");
	f->cont = shared && b->page_size > SZ_4K;
	if (f->cont && b->fd < 0)
		return refuse(err, errlen, "huge pages without a file");
	f->shmem = shared && !f->cont;
	f->unit_pages = f->cont ? (uint32_t)(b->page_size / SZ_4K) : 1;
	return 0;
}

static int register_ram(struct uffd_fill *f, bool all_missing, char *err, size_t errlen)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = f->cont ? UFFD_FEATURE_MISSING_HUGETLBFS | UFFD_FEATURE_MINOR_HUGETLBFS
					    : f->shmem ? UFFD_FEATURE_MISSING_SHMEM : 0 };
	f->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (f->uffd < 0 || ioctl(f->uffd, UFFDIO_API, &api))
		return err_set(err, errlen, -errno, "userfaultfd: %s", strerror(errno));
	const struct memslot_table *t = &f->mem->slots;
	for (uint32_t i = 0; i < t->nr; i++) {
		const struct memslot *sl = &t->slots[i];
		/* A page mapped now would never fault: drop them all (their contents are to come). */
		int advice = f->cont ? MADV_DONTNEED : f->shmem ? MADV_REMOVE : MADV_DONTNEED;
		if (all_missing && madvise(sl->hva, sl->size, advice))
			return err_set(err, errlen, -errno, "dropping guest RAM before filling it: %s", strerror(errno));
		struct uffdio_register reg = { .range = { (uint64_t)(uintptr_t)sl->hva, sl->size },
					       .mode = UFFDIO_REGISTER_MODE_MISSING |
						       (f->cont ? UFFDIO_REGISTER_MODE_MINOR : 0) };
		if (ioctl(f->uffd, UFFDIO_REGISTER, &reg))
			return err_set(err, errlen, -errno, "registering guest RAM (%s) with userfaultfd: %s",
				       f->mem->backend.desc, strerror(errno));
	}
	return 0;
}

static uint64_t **bitmaps(const struct memslot_table *t, bool ones)
{
	uint64_t **b = memslot_bitmaps_alloc(t);
	for (uint32_t i = 0; b && ones && i < t->nr; i++)
		memset(b[i], 0xff, memslot_bitmap_words(&t->slots[i]) * sizeof(uint64_t));
	return b;
}

int uffd_fill_open(struct uffd_fill **out, struct guest_mem *mem, bool all_missing, char *err, size_t errlen)
{
	struct uffd_fill *f = calloc(1, sizeof(*f));
	*out = f;
	if (!f)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	f->mem = mem;
	f->uffd = -1;
	pthread_mutex_init(&f->lock, NULL);
	int e = choose_mode(f, err, errlen);
	if (e)
		return e;
	const struct memslot_table *t = &mem->slots;
	f->here = bitmaps(t, !all_missing);
	f->claimed = bitmaps(t, !all_missing);
	f->stale = bitmaps(t, false);
	f->asked = bitmaps(t, false);
	if (!f->here || !f->claimed || !f->stale || !f->asked)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	for (uint32_t i = 0; all_missing && i < t->nr; i++)
		f->missing += t->slots[i].size / SZ_4K;
	if (f->cont && (e = map_aliases(f, all_missing)))
		return err_set(err, errlen, e, "mapping guest RAM's file a second time: %s", strerror(-e));
	return register_ram(f, all_missing, err, errlen);
}

void uffd_fill_release(struct uffd_fill *f)
{
	if (f && f->uffd >= 0) {
		close(f->uffd);
		f->uffd = -1;
	}
}

void uffd_fill_free(struct uffd_fill *f)
{
	if (!f)
		return;
	uffd_fill_release(f);
	const struct memslot_table *t = &f->mem->slots;
	for (uint32_t i = 0; f->alias && i < t->nr; i++)
		if (f->alias[i])
			munmap(f->alias[i], t->slots[i].size);
	free(f->alias);
	memslot_bitmaps_free(f->here, t->nr);
	memslot_bitmaps_free(f->claimed, t->nr);
	memslot_bitmaps_free(f->stale, t->nr);
	memslot_bitmaps_free(f->asked, t->nr);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
