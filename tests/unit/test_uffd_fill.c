/* Filling guest RAM through userfaultfd (mem/uffd_fill.h) with two putters at once, as
 * lazy restore and post-copy run them: a fault thread that brings what a reader waits
 * for and a fill thread that brings everything in order, on the same units. The reader
 * (the guest) touches the units just ahead of the fill thread, so both put the same 2 MiB
 * hugetlb units over and over; every page it sees must be whole, never half written.
 * Each round discards all of RAM and writes a new pattern, so a page mapped before its
 * copy ended shows the last round's words. Also 4K memfd (copy mode) the same way. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../mem/uffd_fill.h"
#include "check.h"
#include "test_pool.h"

#define RAM (64ULL << 20)
#define ROUNDS 40
#define WORDS_PER_PAGE (SZ_4K / 8)


struct world {
	struct guest_mem mem;
	struct uffd_fill *fill;
	uint64_t base, pages;      /* the RAM slot: gpa of its first page, its pages */
	uint32_t unit;
	uint32_t round;            /* atomic: the pattern being put */
	int stop_efd;
};

static uint64_t pattern(uint32_t round, uint64_t page, uint64_t word)
{
	return ((uint64_t)round << 48) ^ (page << 9) ^ word ^ 0x5a5aULL;
}

/* A putter's buffer of n pages from page on, this round's words in every one. */
static void make(const struct world *w, uint8_t *buf, uint64_t page, uint64_t n)
{
	uint32_t round = __atomic_load_n(&w->round, __ATOMIC_ACQUIRE);
	uint64_t *words = (uint64_t *)buf;
	for (uint64_t p = 0; p < n; p++)
		for (uint64_t k = 0; k < WORDS_PER_PAGE; k++)
			words[p * WORDS_PER_PAGE + k] = pattern(round, page + p, k);
}

static int put(struct world *w, uint8_t *buf, uint64_t page, uint64_t n)
{
	make(w, buf, page, n);
	return uffd_fill_put(w->fill, w->base + page * SZ_4K, n, buf);
}

static uint8_t fault_buf[2 << 20], fill_buf[2 << 20];

static int on_miss(void *ctx, uint64_t gpa, uint32_t pages)
{
	struct world *w = ctx;
	uint64_t page = (gpa - w->base) / SZ_4K, n = pages < 512 ? 512 : pages;
	if (page + n > w->pages)
		n = w->pages - page;
	return put(w, fault_buf, page, n);
}

static void *fault_thread(void *arg)
{
	struct world *w = arg;
	CHECK_EQ(uffd_fill_serve(w->fill, w->stop_efd, on_miss, w), 0);
	return NULL;
}

static void *fill_thread(void *arg)
{
	struct world *w = arg;
	for (uint64_t p = 0; p < w->pages; p += 512)
		CHECK_EQ(put(w, fill_buf, p, w->pages - p < 512 ? w->pages - p : 512), 0);
	return NULL;
}

/* The guest: every page's last word (a copy writes it last), from a unit ahead of the
 * fill thread's start down to the first; a fault waits for its unit. */
static uint64_t read_round(struct world *w, uint32_t round)
{
	uint64_t bad = 0;
	const uint64_t *ram = guest_mem_ptr(&w->mem, w->base, w->pages * SZ_4K, GUEST_READ);
	for (uint64_t p = 0; p < w->pages; p++) {
		uint64_t v = __atomic_load_n(&ram[p * WORDS_PER_PAGE + WORDS_PER_PAGE - 1], __ATOMIC_ACQUIRE);
		if (v != pattern(round, p, WORDS_PER_PAGE - 1) && bad++ < 3)
			fprintf(stderr, "round %u: page %" PRIu64 " half written (last word from round %" PRIu64 ")\n",
				round, p, v >> 48);
	}
	return bad;
}

static void two_putters(enum mem_backend_kind kind, uint64_t page_size)
{
	struct world *w = calloc(1, sizeof(*w));
	struct mem_layout l;
	struct guest_mem_opts o = { .backend = { .kind = kind, .hugepage_size = page_size }, .vm_fd = -1,
				    .max_slots = 8 };
	char err[256];
	if (layout_x86(RAM, page_size, &l) || guest_mem_create(&w->mem, &l, &o, err, sizeof(err)) ||
	    uffd_fill_open(&w->fill, &w->mem, true, err, sizeof(err))) {
		fprintf(stderr, "skipping %s: %s\n", mem_backend_name(kind), err);
		skipped_cases++; /* a backing this host could not give */
		if (w->mem.slots.nr)
			guest_mem_destroy(&w->mem);
		free(w);
		return;
	}
	const struct memslot *sl = &w->mem.slots.slots[0];
	w->base = sl->gpa;
	w->pages = sl->size / SZ_4K;
	w->stop_efd = eventfd(0, EFD_CLOEXEC);
	uint64_t bad = 0, one = 1, got;
	for (uint32_t round = 1; round <= ROUNDS; round++) {
		__atomic_store_n(&w->round, round, __ATOMIC_RELEASE);
		pthread_t faults, filler;
		pthread_create(&faults, NULL, fault_thread, w);
		pthread_create(&filler, NULL, fill_thread, w);
		bad += read_round(w, round);
		pthread_join(filler, NULL);
		CHECK_EQ(uffd_fill_missing(w->fill), 0);
		/* The fault thread may still map a unit its late fault asked for: it stops
		 * before the next round drops everything (the VMM discards with no fault in
		 * flight too: post-copy, before the guest runs). */
		CHECK_EQ(write(w->stop_efd, &one, sizeof(one)), sizeof(one));
		pthread_join(faults, NULL);
		CHECK_EQ(read(w->stop_efd, &got, sizeof(got)), sizeof(got));
		CHECK_EQ(uffd_fill_discard(w->fill, w->base, w->pages), 0); /* the next round starts over */
	}
	CHECK_EQ(bad, 0);
	struct uffd_fill_stats st;
	uffd_fill_stats(w->fill, &st);
	printf("%s: %u rounds of %llu MiB, %" PRIu64 " faults, %" PRIu64 " misses, %" PRIu64 " half-written pages seen\n",
	       mem_backend_name(kind), ROUNDS, RAM >> 20, st.faults, st.misses, bad);
	uffd_fill_free(w->fill);
	close(w->stop_efd);
	guest_mem_destroy(&w->mem);
	free(w);
}

int main(void)
{
	two_putters(MEM_MEMFD, SZ_4K);
	struct test_pool pool = test_pool_grow(40);
	two_putters(MEM_HUGETLB, SZ_2M);
	test_pool_restore(&pool);
	return check_result_or_skip("uffd_fill");
}
