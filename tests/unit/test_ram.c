/* mem/ram.h and util/bitmap.h: what snapshots, migration, post-copy and lazy restore walk
 * guest RAM and their page maps with. The bitmap operations are checked against a plain
 * bit-by-bit reading of the same maps, over patterns that cross words and end mid-word. */
#include <stdlib.h>

#include "../../mem/guest_mem.h"
#include "../../mem/ram.h"
#include "../../util/bitmap.h"
#include "check.h"

#define NBITS 1000 /* not a multiple of 64: the last word is partial */

static void fill_random(uint64_t *b, unsigned int seed, int density)
{
	srand(seed);
	for (uint64_t i = 0; i < NBITS; i++)
		if (rand() % 100 < density)
			bitmap_set(b, i);
}

/* Every run found is all set, bounded by clear bits (or the range, or the cut), and the
 * runs together are exactly the set bits of [from, end). */
static void check_runs(const uint64_t *b, uint64_t from, uint64_t end, uint64_t max)
{
	uint64_t covered = 0, expect = 0, last_end = from;
	bool ok = true;
	struct bit_run run;
	for_each_bit_run(run, b, from, end, max) {
		ok &= run.n > 0 && run.first >= last_end && run.first + run.n <= end && (!max || run.n <= max);
		for (uint64_t i = last_end; i < run.first; i++)
			ok &= !bitmap_test(b, i);
		for (uint64_t i = run.first; i < run.first + run.n; i++)
			ok &= bitmap_test(b, i);
		/* A run stops at a clear bit, the range's end, or the cut. */
		uint64_t stop = run.first + run.n;
		ok &= stop == end || !bitmap_test(b, stop) || (max && run.n == max);
		covered += run.n;
		last_end = stop;
	}
	for (uint64_t i = last_end; i < end; i++)
		ok &= !bitmap_test(b, i);
	for (uint64_t i = from; i < end; i++)
		expect += bitmap_test(b, i);
	CHECK(ok);
	CHECK_EQ(covered, expect);
	CHECK_EQ(bitmap_count(b, from, end - from), expect);
}

static void runs(void)
{
	static const int densities[] = { 0, 3, 50, 97, 100 };
	for (unsigned int d = 0; d < 5; d++)
		for (unsigned int seed = 1; seed <= 20; seed++) {
			uint64_t b[bitmap_words(NBITS)];
			memset(b, 0, sizeof(b));
			fill_random(b, seed, densities[d]);
			check_runs(b, 0, NBITS, 0);
			check_runs(b, seed * 7, NBITS - seed * 3, 0);
			check_runs(b, 63, 129, 5);
			check_runs(b, seed, NBITS, 64);
			check_runs(b, 100, 100, 0);
		}
	/* Bits past the range's end are never reported, even in the same word. */
	uint64_t b[2] = { ~0ull, ~0ull };
	struct bit_run run;
	uint64_t pos = 10;
	CHECK(bitmap_next_run(b, &pos, 70, 0, &run));
	CHECK_EQ(run.first, 10);
	CHECK_EQ(run.n, 60);
	CHECK(!bitmap_next_run(b, &pos, 70, 0, &run));
}

static void ranges(void)
{
	for (uint64_t first = 0; first < 140; first += 7)
		for (uint64_t n = 0; n < 140; n += 11) {
			uint64_t b[5] = { 0 }, c[5];
			bitmap_set_range(b, first, n);
			bool ok = true;
			for (uint64_t i = 0; i < 320; i++)
				ok &= bitmap_test(b, i) == (i >= first && i < first + n);
			CHECK(ok);
			CHECK_EQ(bitmap_count(b, 0, 320), n);
			memset(c, 0xff, sizeof(c));
			bitmap_clear_range(c, first, n);
			ok = true;
			for (uint64_t i = 0; i < 320; i++)
				ok &= bitmap_test(c, i) == !(i >= first && i < first + n);
			CHECK(ok);
		}
}

/* An x86 guest of 3 GiB + 8 MiB: RAM below the PCI hole and 8 MiB above 4 GiB. */
static void regions(void)
{
	struct mem_layout l;
	struct guest_mem m;
	struct guest_mem_opts o = { .backend = { .kind = MEM_ANON }, .vm_fd = -1, .max_slots = 8 };
	char err[256];
	if (layout_x86(3 * SZ_1G + 4 * SZ_2M, SZ_4K, &l) || guest_mem_create(&m, &l, &o, err, sizeof(err))) {
		fprintf(stderr, "guest memory: %s\n", err);
		CHECK(false);
		return;
	}
	CHECK_EQ(ram_nr_regions(&m), 2);
	struct ram_region lo = ram_region(&m, 0), hi = ram_region(&m, 1);
	CHECK_EQ(lo.gpa, 0);
	CHECK_EQ(lo.pages, 3 * SZ_1G / SZ_4K);
	CHECK_EQ(lo.file_offset, 0);
	CHECK_EQ(hi.index, 1);
	CHECK_EQ(hi.gpa, 4 * SZ_1G);
	CHECK_EQ(hi.pages, 4 * SZ_2M / SZ_4K);
	CHECK_EQ(hi.file_offset, 3 * SZ_1G);
	CHECK_EQ(hi.page_size, SZ_4K);
	CHECK_EQ(ram_page_gpa(&hi, 3), 4 * SZ_1G + 3 * SZ_4K);
	/* The bytes are the ones guest_mem_ptr gives for the same address. */
	CHECK(ram_pages(&m, &hi, 5, 1) == guest_mem_ptr(&m, 4 * SZ_1G + 5 * SZ_4K, SZ_4K, GUEST_READ));
	struct ram_region r;
	uint64_t page;
	CHECK(ram_region_at(&m, 4 * SZ_1G + 0x3456, &r, &page) && r.index == 1 && page == 3);
	CHECK(ram_region_at(&m, 0x1000, &r, &page) && r.index == 0 && page == 1);
	CHECK(!ram_region_at(&m, 3 * SZ_1G + 0x1000, &r, &page)); /* the PCI hole */
	CHECK(!ram_region_at(&m, 4 * SZ_1G + 4 * SZ_2M, &r, &page));
	/* A fault brings what it asked for, or 16 pages ahead within its region. */
	CHECK_EQ(ram_fault_span(&m, 4 * SZ_1G, 1, 16, &r, &page), 16);
	CHECK_EQ(ram_fault_span(&m, 4 * SZ_1G, 512, 16, &r, &page), 512);
	CHECK_EQ(ram_fault_span(&m, 4 * SZ_1G + 4 * SZ_2M - 3 * SZ_4K, 1, 16, &r, &page), 3);
	CHECK(r.index == 1 && page == hi.pages - 3);
	CHECK_EQ(ram_fault_span(&m, 3 * SZ_1G + SZ_4K, 1, 16, &r, &page), 0);
	uint64_t **bits = ram_bitmaps_alloc(&m);
	CHECK(bits && bitmap_count(bits[1], 0, hi.pages) == 0);
	ram_bitmaps_free(&m, bits);
	guest_mem_destroy(&m);
}

int main(void)
{
	runs();
	ranges();
	regions();
	return check_result("ram");
}
