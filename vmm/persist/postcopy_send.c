/* The source's side of post-copy (postcopy.h): which pages the destination lacks, and
 * the loop that answers its requests first and pushes the rest: the hot pages, then by
 * address. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mig_proto.h"
#include "postcopy.h"
#include "../../util/clock.h"
#include "../../util/page.h"

#define PUSH_PAGES 64          /* pages per background record: requests wait at most one */

int postcopy_src_init(struct postcopy_src *p, struct mig_chan *ch, struct machine *m, bool all)
{
	const struct memslot_table *t = &m->vm.mem.slots;
	*p = (struct postcopy_src){ .ch = ch, .m = m };
	p->to_send = memslot_bitmaps_alloc(t);
	if (!p->to_send)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nr; i++) {
		uint64_t pages = t->slots[i].size / SZ_4K, words = memslot_bitmap_words(&t->slots[i]);
		for (uint64_t w = 0; all && w < words; w++)
			p->to_send[i][w] = w + 1 < words || pages % 64 == 0 ? ~0ull : (1ull << (pages % 64)) - 1;
		p->left += all ? pages : 0;
	}
	return 0;
}

void postcopy_src_free(struct postcopy_src *p)
{
	memslot_bitmaps_free(p->to_send, p->m->vm.mem.slots.nr);
	memslot_bitmaps_free(p->hot, p->m->vm.mem.slots.nr);
	p->to_send = p->hot = NULL;
}

int postcopy_src_hot_first(struct postcopy_src *p, struct working_set *w, unsigned int windows)
{
	const struct memslot_table *t = &p->m->vm.mem.slots;
	if (!(p->hot = memslot_bitmaps_alloc(t)))
		return -ENOMEM;
	int e = 0;
	for (uint32_t i = 0; i < t->nr && !e; i++) {
		uint64_t pages = t->slots[i].size / SZ_4K;
		e = working_set_recent(w, i, p->hot[i], pages, windows);
		for (uint64_t k = 0; !e && k < memslot_bitmap_words(&t->slots[i]); k++)
			p->hot_pages += (uint64_t)__builtin_popcountll(p->hot[i][k]);
	}
	if (e) {
		memslot_bitmaps_free(p->hot, t->nr);
		p->hot = NULL;
		p->hot_pages = 0;
	}
	return e;
}

int postcopy_src_switch(struct postcopy_src *p)
{
	uint32_t all = p->left != 0;
	return mig_send_rec(p->ch, MIG_POSTCOPY, &all, sizeof(all));
}

/* The run of dirty pages from pg, bridging gaps of up to DISCARD_GAP clean pages (which
 * are then sent again): each run costs the destination an madvise before its guest
 * starts, and a guest that dirties every other page made 20,000 of them (40 ms). */
#define DISCARD_GAP 8

static uint64_t run_with_gaps(const uint64_t *bits, uint64_t pg, uint64_t pages)
{
	uint64_t end = pg;
	while (end < pages) {
		if (memslot_bit(bits, end)) {
			end++;
			continue;
		}
		uint64_t g = 1;
		while (g <= DISCARD_GAP && end + g < pages && !memslot_bit(bits, end + g))
			g++;
		if (g > DISCARD_GAP || end + g >= pages)
			break;
		end += g;
	}
	return end - pg;
}

/* Discarded runs go in batches: one record per run made a dirtying guest's switch take
 * 120 ms for 20,000 scattered pages. */
static int flush_discards(struct postcopy_src *p, struct mig_discard *batch, uint32_t *n)
{
	int e = *n ? mig_send_rec(p->ch, MIG_DISCARD, batch, *n * sizeof(*batch)) : 0;
	*n = 0;
	return e;
}

int postcopy_src_discard(struct postcopy_src *p, const struct dirty_log *d)
{
	struct mig_discard batch[MIG_DISCARD_BATCH];
	uint32_t nb = 0;
	int e = 0;
	for (unsigned int i = 0; i < d->nr_slots && !e; i++) {
		const struct memslot *sl;
		const uint64_t *bits = dirty_log_bitmap(d, i, &sl);
		uint64_t pages = bits ? sl->size / SZ_4K : 0;
		for (uint64_t pg = 0; pg < pages && !e;) {
			if (!memslot_bit(bits, pg)) {
				pg += pg % 64 == 0 && !bits[pg / 64] ? 64 : 1;
				continue;
			}
			uint64_t n = run_with_gaps(bits, pg, pages);
			for (uint64_t k = pg; k < pg + n; k++) {
				uint64_t *w = &p->to_send[i][k / 64], m = 1ull << (k % 64);
				p->left += !(*w & m);
				*w |= m;
			}
			batch[nb++] = (struct mig_discard){ sl->gpa + pg * SZ_4K, n };
			if (nb == MIG_DISCARD_BATCH)
				e = flush_discards(p, batch, &nb);
			pg += n;
		}
	}
	return e ? e : flush_discards(p, batch, &nb);
}

/* Sends the run of pages [pg, pg + n) of slot i (all still to send), zero pages as a
 * marker, each record followed by the MAC with a key (the destination's guest runs). */
static int send_pages(struct postcopy_src *p, uint32_t i, uint64_t pg, uint32_t n)
{
	const struct memslot *sl = &p->m->vm.mem.slots.slots[i];
	bool zero = true;
	for (uint32_t k = 0; k < n && zero; k++)
		zero = page_is_zero(sl->hva + (pg + k) * SZ_4K);
	struct mig_pages_hdr h = { sl->gpa + pg * SZ_4K, n, zero };
	uint32_t hdr[2] = { MIG_PAGES, (uint32_t)(sizeof(h) + (zero ? 0 : n * SZ_4K)) };
	int e = mig_send(p->ch, hdr, sizeof(hdr));
	if (!e)
		e = mig_send(p->ch, &h, sizeof(h));
	if (!e && !zero)
		e = mig_send(p->ch, sl->hva + pg * SZ_4K, n * SZ_4K);
	if (!e)
		e = mig_send_mac(p->ch);
	for (uint32_t k = 0; k < n; k++)
		p->to_send[i][(pg + k) / 64] &= ~(1ull << ((pg + k) % 64));
	p->left -= n;
	p->bytes += sizeof(hdr) + hdr[1];
	p->pages_sent += n;
	p->zero_pages_sent += zero ? n : 0;
	return e;
}

/* The missing run starting at page pg of slot i, at most max pages long. */
static uint32_t missing_run(const struct postcopy_src *p, uint32_t i, uint64_t pg, uint32_t max)
{
	uint64_t pages = p->m->vm.mem.slots.slots[i].size / SZ_4K;
	uint32_t n = 0;
	while (n < max && pg + n < pages && memslot_bit(p->to_send[i], pg + n))
		n++;
	return n;
}

static bool hot_and_missing(const struct postcopy_src *p, uint32_t i, uint64_t pg)
{
	return memslot_bit(p->hot[i], pg) && memslot_bit(p->to_send[i], pg);
}

/* The next run of pages both hot and missing, from the hot cursor; once none is left
 * the hot maps go and the push goes by address. *sent says whether a run went. */
static int push_hot(struct postcopy_src *p, bool *sent)
{
	const struct memslot_table *t = &p->m->vm.mem.slots;
	for (; p->hot_slot < t->nr; p->hot_slot++, p->hot_cursor = 0) {
		uint64_t pages = t->slots[p->hot_slot].size / SZ_4K, pg = p->hot_cursor;
		while (pg < pages && !hot_and_missing(p, p->hot_slot, pg))
			pg++;
		if (pg == pages)
			continue;
		uint32_t n = 0;
		while (n < PUSH_PAGES && pg + n < pages && hot_and_missing(p, p->hot_slot, pg + n))
			n++;
		p->hot_cursor = pg + n;
		p->pushed += n;
		p->pushed_hot += n;
		*sent = true;
		return send_pages(p, p->hot_slot, pg, n);
	}
	memslot_bitmaps_free(p->hot, t->nr);
	p->hot = NULL;
	return 0;
}

static int push_next(struct postcopy_src *p)
{
	const struct memslot_table *t = &p->m->vm.mem.slots;
	bool sent = false;
	int e = p->hot ? push_hot(p, &sent) : 0;
	if (e || sent)
		return e;
	while (p->cursor_slot < t->nr) {
		uint64_t pages = t->slots[p->cursor_slot].size / SZ_4K;
		while (p->cursor < pages && !memslot_bit(p->to_send[p->cursor_slot], p->cursor))
			p->cursor++;
		if (p->cursor < pages) {
			uint32_t n = missing_run(p, p->cursor_slot, p->cursor, PUSH_PAGES);
			p->pushed += n;
			return send_pages(p, p->cursor_slot, p->cursor, n);
		}
		p->cursor_slot++;
		p->cursor = 0;
	}
	return -EIO; /* pages left that are nowhere: cannot be */
}

/* Pages the destination waits for: those of them still owed go now, in runs. A request
 * for pages already sent (they crossed the push) needs nothing. */
static int answer_request(struct postcopy_src *p, const struct mig_page_req *r)
{
	const struct memslot *sl = memslot_find(&p->m->vm.mem.slots, r->gpa);
	uint64_t pg = sl ? (r->gpa - sl->gpa) / SZ_4K : 0, pages = sl ? sl->size / SZ_4K : 0;
	if (!sl || r->gpa % SZ_4K || !r->pages || r->pages > MIG_REQ_MAX_PAGES || r->pages > pages - pg)
		return -EPROTO;
	uint32_t i = (uint32_t)(sl - p->m->vm.mem.slots.slots);
	p->requested++;
	for (uint64_t end = pg + r->pages; pg < end;) {
		uint32_t n = missing_run(p, i, pg, (uint32_t)(end - pg < MIG_BATCH ? end - pg : MIG_BATCH));
		int e = n ? send_pages(p, i, pg, n) : 0;
		if (e)
			return e;
		pg += n ? n : 1;
	}
	return 0;
}

/* One record from the destination, acted on only once its MAC (with a key) is checked.
 * 1 when it confirmed it has everything. */
static int take_record(struct postcopy_src *p, char *err, size_t errlen)
{
	uint32_t hdr[2];
	int e = mig_recv(p->ch, hdr, sizeof(hdr));
	if (e)
		return e;
	switch (hdr[0]) {
	case MIG_PAGE_REQ: {
		struct mig_page_req r;
		e = hdr[1] == sizeof(r) ? mig_recv(p->ch, &r, sizeof(r)) : -EPROTO;
		if (!e)
			e = mig_recv_mac_after(p->ch);
		return e ? e : answer_request(p, &r);
	}
	case MIG_REPLY: {
		struct mig_reply r;
		e = hdr[1] == sizeof(r) ? mig_recv(p->ch, &r, sizeof(r)) : -EPROTO;
		r.msg[sizeof(r.msg) - 1] = 0;
		if (!e)
			e = mig_recv_mac_after(p->ch);
		if (!e && !r.ok) {
			snprintf(err, errlen, "the receiver failed: %.200s", r.msg);
			return -EIO;
		}
		p->started = !e;
		p->t_started_ns = now_ns();
		return e;
	}
	case MIG_POSTCOPY_DONE:
		e = hdr[1] == 0 ? mig_recv_mac_after(p->ch) : -EPROTO;
		return e ? e : p->started && !p->left ? 1 : -EPROTO;
	}
	return -EPROTO;
}

/* Until the destination's guest runs, only its requests are answered (restoring the
 * state may touch memory); a background push then could fill the socket while nobody
 * reads it. */
int postcopy_src_serve(struct postcopy_src *p, char *err, size_t errlen)
{
	bool done_sent = false;
	int buf = POSTCOPY_SOCK_BUF;
	(void)setsockopt(p->ch->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	for (;;) {
		struct pollfd pf = { .fd = p->ch->fd, .events = POLLIN };
		bool wait = !p->started || done_sent;
		int ready = wait ? 1 : poll(&pf, 1, 0);
		if (ready < 0)
			return -errno;
		if (ready) { /* requests first: a vCPU waits for each of them */
			int e = take_record(p, err, errlen);
			if (e)
				return e == 1 ? 0 : e;
			continue;
		}
		int e;
		if (p->left) {
			e = push_next(p);
		} else {
			e = mig_send_rec(p->ch, MIG_POSTCOPY_DONE, NULL, 0);
			if (!e)
				e = mig_send_mac(p->ch);
			done_sent = true;
		}
		if (e)
			return e;
	}
}
