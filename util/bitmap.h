/* Bitmaps of pages, the layout KVM's dirty log uses: bit i is bit i % 64 of word i / 64.
 * Dirty logs, migration's maps of what is where and what is owed, diff snapshots and the
 * working set all keep one per RAM region; these are the operations they share. */
#ifndef PAGODA_UTIL_BITMAP_H
#define PAGODA_UTIL_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

static inline uint64_t bitmap_words(uint64_t nbits)
{
	return (nbits + 63) / 64;
}

static inline bool bitmap_test(const uint64_t *b, uint64_t i)
{
	return (b[i / 64] >> (i % 64)) & 1;
}

static inline void bitmap_set(uint64_t *b, uint64_t i)
{
	b[i / 64] |= 1ull << (i % 64);
}

static inline void bitmap_clear(uint64_t *b, uint64_t i)
{
	b[i / 64] &= ~(1ull << (i % 64));
}

/* Bits [first, first + n). */
void bitmap_set_range(uint64_t *b, uint64_t first, uint64_t n);
void bitmap_clear_range(uint64_t *b, uint64_t first, uint64_t n);
/* Set bits among [first, first + n). */
uint64_t bitmap_count(const uint64_t *b, uint64_t first, uint64_t n);

/* A run of set bits: [first, first + n). */
struct bit_run {
	uint64_t first, n;
};

/* The next run of set bits at or after *pos and before end, cut at max bits (0: no
 * limit); *pos moves past it. False when there is none (clear words are skipped whole:
 * a mostly clean 4 GiB bitmap is walked a word at a time). */
bool bitmap_next_run(const uint64_t *b, uint64_t *pos, uint64_t end, uint64_t max, struct bit_run *run);

/* Every run of set bits in [from, end), each at most max long (0: no limit). */
#define for_each_bit_run(run, b, from, end, max) \
	for (uint64_t run##_pos_ = (from); bitmap_next_run((b), &run##_pos_, (end), (max), &(run));)

#endif
