#include "bitmap.h"

/* The bits of word w that [first, first + n) covers. */
static uint64_t word_mask(uint64_t w, uint64_t first, uint64_t end)
{
	uint64_t lo = w * 64 > first ? 0 : first % 64;
	uint64_t hi = (w + 1) * 64 <= end ? 64 : end % 64;
	uint64_t upto = hi == 64 ? ~0ull : (1ull << hi) - 1;
	return upto & ~((1ull << lo) - 1);
}

void bitmap_set_range(uint64_t *b, uint64_t first, uint64_t n)
{
	for (uint64_t w = first / 64; n && w <= (first + n - 1) / 64; w++)
		b[w] |= word_mask(w, first, first + n);
}

void bitmap_clear_range(uint64_t *b, uint64_t first, uint64_t n)
{
	for (uint64_t w = first / 64; n && w <= (first + n - 1) / 64; w++)
		b[w] &= ~word_mask(w, first, first + n);
}

uint64_t bitmap_count(const uint64_t *b, uint64_t first, uint64_t n)
{
	uint64_t count = 0;
	for (uint64_t w = first / 64; n && w <= (first + n - 1) / 64; w++)
		count += (uint64_t)__builtin_popcountll(b[w] & word_mask(w, first, first + n));
	return count;
}

/* The first set bit in [i, end), or end. */
static uint64_t next_set(const uint64_t *b, uint64_t i, uint64_t end)
{
	while (i < end) {
		uint64_t w = b[i / 64] >> (i % 64);
		if (w)
			return i + (uint64_t)__builtin_ctzll(w) < end ? i + (uint64_t)__builtin_ctzll(w) : end;
		i = (i / 64 + 1) * 64;
	}
	return end;
}

/* The first clear bit in [i, end), or end. */
static uint64_t next_clear(const uint64_t *b, uint64_t i, uint64_t end)
{
	while (i < end) {
		uint64_t w = ~b[i / 64] >> (i % 64);
		if (w)
			return i + (uint64_t)__builtin_ctzll(w) < end ? i + (uint64_t)__builtin_ctzll(w) : end;
		i = (i / 64 + 1) * 64;
	}
	return end;
}

bool bitmap_next_run(const uint64_t *b, uint64_t *pos, uint64_t end, uint64_t max, struct bit_run *run)
{
	uint64_t first = next_set(b, *pos, end);
	if (first >= end) {
		*pos = end;
		return false;
	}
	uint64_t stop = max && end - first > max ? first + max : end;
	uint64_t last = next_clear(b, first, stop);
	*run = (struct bit_run){ first, last - first };
	*pos = last;
	return true;
}
