#include "mig_stream.h"

#include <assert.h>
#include <string.h>

#include "mig_order.h"
#include "mig_proto.h"
#include "../../util/bitmap.h"
#include "../../util/page.h"
#include "../../util/race.h"

bool mig_pages_zero(const struct guest_mem *mem, const struct ram_region *r, uint64_t page, uint64_t n)
{
	const uint8_t *p = ram_pages(mem, r, page, n);
	bool zero = true;
	RACY_READS_BEGIN();
	for (uint64_t k = 0; k < n && zero; k++)
		zero = page_is_zero(p + k * SZ_4K);
	RACY_READS_END();
	return zero;
}

int mig_stream_run(struct mig_stream *st, const struct ram_region *r, uint64_t page, uint32_t n, bool zero)
{
	struct mig_pages_hdr h = { ram_page_gpa(r, page), n, zero };
	uint64_t data = zero ? 0 : (uint64_t)n * SZ_4K;
	int e = mig_send_pages_hdr(st->ch, &h, data);
	RACY_READS_BEGIN(); /* as mig_pages_zero */
	if (!e && !zero)
		e = mig_send(st->ch, ram_pages(st->mem, r, page, n), data);
	RACY_READS_END();
	st->count->pages += n;
	st->count->zero_pages += zero ? n : 0;
	st->count->bytes += MIG_REC_SIZE + MIG_PAGES_HDR_SIZE + data;
	if (st->after_record)
		st->after_record(st->ctx);
	return e;
}

/* Whether page p is zero: from the zero map made by a scan (indexed from first), or
 * looked at now. */
static bool zero_at(const struct mig_stream *st, const struct ram_region *r, uint64_t p, uint64_t first,
		    const uint64_t *zero)
{
	return zero ? bitmap_test(zero, p - first) : mig_pages_zero(st->mem, r, p, 1);
}

/* Pages [p, p + n) of r, every one to send: a record per stretch of zero or of data
 * pages, MIG_BATCH pages at most. Each page is looked at once (the last pass's scan is
 * part of the downtime). */
static int send_wanted(struct mig_stream *st, const struct ram_region *r, uint64_t p, uint64_t n, uint64_t first,
		       const uint64_t *zero)
{
	bool z = n && zero_at(st, r, p, first, zero);
	while (n) {
		uint32_t k = 1;
		bool next = z;
		while (k < n && k < MIG_BATCH && (next = zero_at(st, r, p + k, first, zero)) == z)
			k++;
		int e = mig_stream_run(st, r, p, k, z);
		if (e)
			return e;
		p += k;
		n -= k;
		/* Cut by the batch: page p was not looked at yet; else next is its answer. */
		z = k == MIG_BATCH && n ? zero_at(st, r, p, first, zero) : next;
	}
	return 0;
}

/* Pages [first, end) of r, those set in want (all when NULL). zero, when given, says
 * which are zero; else each page is looked at here. Both are indexed from first, a
 * multiple of 64. */
static int send_pages(struct mig_stream *st, const struct ram_region *r, uint64_t first, uint64_t end,
		      const uint64_t *want, const uint64_t *zero)
{
	if (!want)
		return send_wanted(st, r, first, end - first, first, zero);
	struct bit_run run;
	for_each_bit_run(run, want, 0, end - first, 0) {
		int e = send_wanted(st, r, first + run.first, run.n, first, zero);
		if (e)
			return e;
	}
	return 0;
}

/* Passes go a chunk at a time: its pages are taken from the dirty log, then read, so a
 * page is rarely written between the two. A 1G page is many chunks (the receiver faults
 * it in whole at the first hint: populate_ahead.h). */
#define CHUNK_PAGES MIG_CHUNK_PAGES
#define CHUNK_WORDS (CHUNK_PAGES / 64)
static_assert(CHUNK_PAGES % 64 == 0, "masks and zero maps are whole words");

enum sweep { SWEEP_COLD, SWEEP_HOT };

/* The pages of chunk [first, end) that this sweep sends, indexed from first: want's (all
 * when NULL) that are not hot (the cold sweep) or are (the hot sweep; none when nothing
 * is hot). False when there are none. */
static bool chunk_mask(uint64_t *mask, const uint64_t *want, const uint64_t *hot, uint64_t first, uint64_t end,
		       enum sweep sw)
{
	uint64_t n = end - first;
	bool any = false;
	for (uint64_t w = 0; w < bitmap_words(n); w++) {
		uint64_t m = want ? want[first / 64 + w] : ~0ull;
		if (hot)
			m &= sw == SWEEP_HOT ? hot[first / 64 + w] : ~hot[first / 64 + w];
		else if (sw == SWEEP_HOT)
			m = 0;
		if (w == n / 64)
			m &= (1ull << (n % 64)) - 1;
		mask[w] = m;
		any |= m != 0;
	}
	return any;
}

/* The pages a sweep sent since the pass had sent `before`: the hot sweep's are counted. */
static void count_sweep(struct mig_stream *st, enum sweep sw, uint64_t before)
{
	if (sw == SWEEP_HOT)
		st->count->hot_pages += st->count->pages - before;
}

/* Takes the chunk's pages from r's dirty log, then sends them. take is false once the VM
 * is paused for good (nothing can dirty them again). */
static int send_chunk(struct mig_stream *st, const struct ram_region *r, uint64_t first, uint64_t end,
		      const uint64_t *mask, bool take, enum sweep sw)
{
	int e = take ? dirty_log_take(st->dirty, r->index, first, end - first, mask) : 0;
	uint64_t before = st->count->pages;
	if (!e)
		e = send_pages(st, r, first, end, mask, NULL);
	count_sweep(st, sw, before);
	return e;
}

/* Pass 0 sends all of RAM. It looks AHEAD_CHUNKS chunks ahead of what it sends and tells
 * the receiver which of them hold data, so that the receiver's helpers fault that memory
 * in while the stream flows (mem/populate_ahead.h); the zero maps made then serve the
 * sending, nothing is read twice. A chunk is taken from the dirty log before it is
 * scanned: a write after the scan must make its page dirty again. */
#define AHEAD_CHUNKS 16

struct ahead {
	uint64_t mask[CHUNK_WORDS];    /* what this sweep sends of the chunk; all zero: none */
	uint64_t zero[CHUNK_WORDS];
};

static int scan_chunk(struct mig_stream *st, const struct ram_region *r, uint64_t first, uint64_t end,
		      const uint64_t *hot, enum sweep sw, struct ahead *a)
{
	memset(a->zero, 0, sizeof(a->zero));
	if (!chunk_mask(a->mask, NULL, hot, first, end, sw))
		return 0;
	int e = dirty_log_take(st->dirty, r->index, first, end - first, a->mask);
	if (e)
		return e;
	bool data = false;
	struct bit_run run;
	for_each_bit_run(run, a->mask, 0, end - first, 0)
		for (uint64_t p = run.first; p < run.first + run.n; p++) {
			if (mig_pages_zero(st->mem, r, first + p, 1))
				bitmap_set(a->zero, p);
			else
				data = true;
		}
	if (!data)
		return 0;
	struct mig_hint h = { ram_page_gpa(r, first), (end - first) * SZ_4K };
	st->count->bytes += MIG_REC_SIZE + MIG_HINT_SIZE;
	return mig_send_hint(st->ch, &h);
}

static uint64_t chunk_end(uint64_t first, uint64_t npages)
{
	return first + CHUNK_PAGES < npages ? first + CHUNK_PAGES : npages;
}

/* The chunks of r that are this channel's share (mig_proto.h: chunk c goes on channel
 * c % n), in order; i counts them. */
static uint64_t share_chunks(const struct ram_region *r, const struct mig_share *sh)
{
	uint64_t nchunks = (r->pages + CHUNK_PAGES - 1) / CHUNK_PAGES;
	return nchunks > sh->index ? (nchunks - sh->index + sh->count - 1) / sh->count : 0;
}

static uint64_t share_chunk_first(uint64_t i, const struct mig_share *sh)
{
	return (i * sh->count + sh->index) * CHUNK_PAGES;
}

static int send_region_ahead(struct mig_stream *st, const struct ram_region *r, const uint64_t *hot, enum sweep sw,
			     const struct mig_share *sh)
{
	struct ahead ring[AHEAD_CHUNKS + 1];
	uint64_t nchunks = share_chunks(r, sh);
	int e = 0;
	for (uint64_t c = 0; c < nchunks + AHEAD_CHUNKS && !e; c++) {
		uint64_t cf = share_chunk_first(c, sh);
		if (c < nchunks)
			e = scan_chunk(st, r, cf, chunk_end(cf, r->pages), hot, sw, &ring[c % (AHEAD_CHUNKS + 1)]);
		if (!e && c >= AHEAD_CHUNKS) {
			uint64_t k = c - AHEAD_CHUNKS, first = share_chunk_first(k, sh);
			const struct ahead *a = &ring[k % (AHEAD_CHUNKS + 1)];
			uint64_t before = st->count->pages;
			e = send_pages(st, r, first, chunk_end(first, r->pages), a->mask, a->zero);
			count_sweep(st, sw, before);
		}
	}
	return e;
}

/* What region r's dirty log holds, cold pages first (mig_order.h), a chunk at a time.
 * With the VM paused for good (take false) the order gains nothing and asking the
 * working set (DAMON: a walk of its sysfs regions) would lengthen the downtime: by
 * address. */
static int send_dirty_region(struct mig_stream *st, const struct ram_region *r, bool take)
{
	const uint64_t *bits = dirty_log_bitmap(st->dirty, r->index);
	if (!bits)
		return 0;
	uint64_t nhot = 0, mask[CHUNK_WORDS];
	const uint64_t *hot = take ? mig_order_hot(st->order, r->index, bits, &nhot) : NULL;
	if (take)
		mig_order_sent(st->order, r->index, bits);
	int e = 0;
	for (enum sweep sw = SWEEP_COLD; sw <= (hot ? SWEEP_HOT : SWEEP_COLD) && !e; sw++)
		for (uint64_t first = 0; first < r->pages && !e; first += CHUNK_PAGES)
			if (chunk_mask(mask, bits, hot, first, chunk_end(first, r->pages), sw))
				e = send_chunk(st, r, first, chunk_end(first, r->pages), mask, take, sw);
	return e;
}

int mig_stream_dirty(struct mig_stream *st, bool take)
{
	int e = 0;
	for (uint32_t i = 0; i < ram_nr_regions(st->mem) && !e; i++) {
		struct ram_region r = ram_region(st->mem, i);
		e = send_dirty_region(st, &r, take);
	}
	return e;
}

int mig_stream_all_ram(struct mig_stream *st, const struct mig_share *share)
{
	static const struct mig_share whole = { 0, 1 };
	const struct mig_share *sh = share ? share : &whole;
	int e = 0;
	for (uint32_t i = 0; i < ram_nr_regions(st->mem) && !e; i++) {
		struct ram_region r = ram_region(st->mem, i);
		const uint64_t *hot = mig_order_pass0_hot(st->order, i);
		e = send_region_ahead(st, &r, hot, SWEEP_COLD, sh);
		if (!e && hot)
			e = send_region_ahead(st, &r, hot, SWEEP_HOT, sh);
	}
	return e;
}

