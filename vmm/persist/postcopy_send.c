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
#include "mig_stream.h"
#include "postcopy.h"
#include "../../mem/ram.h"
#include "../../util/bitmap.h"
#include "../../util/clock.h"

#define PUSH_PAGES 64          /* pages per background record: requests wait at most one */

int postcopy_src_init(struct postcopy_src *p, struct mig_chan *ch, struct machine *m, bool all)
{
	*p = (struct postcopy_src){ .ch = ch, .m = m, .mem = &m->vm.mem };
	p->stream = (struct mig_stream){ .ch = ch, .mem = p->mem, .count = &p->sent };
	p->to_send = ram_bitmaps_alloc(p->mem);
	if (!p->to_send)
		return -ENOMEM;
	for (uint32_t i = 0; all && i < ram_nr_regions(p->mem); i++) {
		uint64_t pages = ram_region(p->mem, i).pages;
		bitmap_set_range(p->to_send[i], 0, pages);
		p->left += pages;
	}
	return 0;
}

void postcopy_src_free(struct postcopy_src *p)
{
	ram_bitmaps_free(p->mem, p->to_send);
	ram_bitmaps_free(p->mem, p->hot);
	p->to_send = p->hot = NULL;
}

int postcopy_src_hot_first(struct postcopy_src *p, struct working_set *w, unsigned int windows)
{
	if (!(p->hot = ram_bitmaps_alloc(p->mem)))
		return -ENOMEM;
	int e = 0;
	for (uint32_t i = 0; i < ram_nr_regions(p->mem) && !e; i++) {
		uint64_t pages = ram_region(p->mem, i).pages;
		e = working_set_recent(w, i, p->hot[i], pages, windows);
		p->hot_pages += e ? 0 : bitmap_count(p->hot[i], 0, pages);
	}
	if (e) {
		ram_bitmaps_free(p->mem, p->hot);
		p->hot = NULL;
		p->hot_pages = 0;
	}
	return e;
}

int postcopy_src_switch(struct postcopy_src *p)
{
	return mig_send_u32(p->ch, MIG_POSTCOPY, p->left != 0);
}

/* The run of dirty pages from pg, bridging gaps of up to DISCARD_GAP clean pages (which
 * are then sent again): each run costs the destination an madvise before its guest
 * starts, and a guest that dirties every other page made 20,000 of them (40 ms). */
#define DISCARD_GAP 8

/* Joins the runs of bits that follow *run across gaps of up to DISCARD_GAP; *pos is
 * moved past what was joined. */
static void join_gaps(const uint64_t *bits, uint64_t *pos, uint64_t pages, struct bit_run *run)
{
	struct bit_run next;
	uint64_t at = *pos;
	while (bitmap_next_run(bits, &at, pages, 0, &next) && next.first - (run->first + run->n) <= DISCARD_GAP) {
		run->n = next.first + next.n - run->first;
		*pos = at;
	}
}

/* Discarded runs go in batches: one record per run made a dirtying guest's switch take
 * 120 ms for 20,000 scattered pages. */
static int flush_discards(struct postcopy_src *p, struct mig_discard *batch, uint32_t *n)
{
	int e = *n ? mig_send_discards(p->ch, batch, *n) : 0;
	*n = 0;
	return e;
}

int postcopy_src_discard(struct postcopy_src *p, const struct dirty_log *d)
{
	struct mig_discard batch[MIG_DISCARD_BATCH];
	uint32_t nb = 0;
	int e = 0;
	for (unsigned int i = 0; i < ram_nr_regions(p->mem) && !e; i++) {
		const uint64_t *bits = dirty_log_bitmap(d, i);
		struct ram_region r = ram_region(p->mem, i);
		uint64_t pos = 0;
		struct bit_run run;
		while (bits && !e && bitmap_next_run(bits, &pos, r.pages, 0, &run)) {
			join_gaps(bits, &pos, r.pages, &run);
			p->left += run.n - bitmap_count(p->to_send[i], run.first, run.n);
			bitmap_set_range(p->to_send[i], run.first, run.n);
			batch[nb++] = (struct mig_discard){ ram_page_gpa(&r, run.first), run.n };
			if (nb == MIG_DISCARD_BATCH)
				e = flush_discards(p, batch, &nb);
		}
	}
	return e ? e : flush_discards(p, batch, &nb);
}

/* Sends the run of pages [pg, pg + n) of region i (all still to send), zero pages as a
 * marker, each record followed by the MAC with a key (the destination's guest runs). */
static int send_pages(struct postcopy_src *p, uint32_t i, uint64_t pg, uint32_t n)
{
	struct ram_region r = ram_region(p->mem, i);
	int e = mig_stream_run(&p->stream, &r, pg, n, mig_pages_zero(p->mem, &r, pg, n));
	if (!e)
		e = mig_send_mac(p->ch);
	bitmap_clear_range(p->to_send[i], pg, n);
	p->left -= n;
	return e;
}

/* The next run of pages both hot and missing, from the hot cursor; once none is left
 * the hot maps go and the push goes by address. *sent says whether a run went. */
static int push_hot(struct postcopy_src *p, bool *sent)
{
	for (; p->hot_slot < ram_nr_regions(p->mem); p->hot_slot++, p->hot_cursor = 0) {
		uint64_t pages = ram_region(p->mem, p->hot_slot).pages, pos = p->hot_cursor;
		struct bit_run hot, run;
		while (bitmap_next_run(p->hot[p->hot_slot], &pos, pages, 0, &hot)) {
			uint64_t in = hot.first;
			if (!bitmap_next_run(p->to_send[p->hot_slot], &in, hot.first + hot.n, PUSH_PAGES, &run))
				continue;
			p->hot_cursor = run.first + run.n;
			p->pushed += run.n;
			p->pushed_hot += run.n;
			*sent = true;
			return send_pages(p, p->hot_slot, run.first, (uint32_t)run.n);
		}
	}
	ram_bitmaps_free(p->mem, p->hot);
	p->hot = NULL;
	return 0;
}

static int push_next(struct postcopy_src *p)
{
	bool sent = false;
	int e = p->hot ? push_hot(p, &sent) : 0;
	if (e || sent)
		return e;
	for (; p->cursor_slot < ram_nr_regions(p->mem); p->cursor_slot++, p->cursor = 0) {
		struct bit_run run;
		if (bitmap_next_run(p->to_send[p->cursor_slot], &p->cursor, ram_region(p->mem, p->cursor_slot).pages,
				    PUSH_PAGES, &run)) {
			p->pushed += run.n;
			return send_pages(p, p->cursor_slot, run.first, (uint32_t)run.n);
		}
	}
	return -EIO; /* pages left that are nowhere: cannot be */
}

/* Pages the destination waits for: those of them still owed go now, in runs. A request
 * for pages already sent (they crossed the push) needs nothing. */
static int answer_request(struct postcopy_src *p, const struct mig_page_req *r)
{
	struct ram_region reg;
	uint64_t pg = 0;
	if (!ram_region_at(p->mem, r->gpa, &reg, &pg) || r->gpa % SZ_4K || !r->pages || r->pages > MIG_REQ_MAX_PAGES ||
	    r->pages > reg.pages - pg)
		return -EPROTO;
	p->requested++;
	struct bit_run run;
	for_each_bit_run(run, p->to_send[reg.index], pg, pg + r->pages, MIG_BATCH) {
		int e = send_pages(p, reg.index, run.first, (uint32_t)run.n);
		if (e)
			return e;
	}
	return 0;
}

/* One record from the destination, acted on only once its MAC (with a key) is checked.
 * 1 when it confirmed it has everything. */
static int take_record(struct postcopy_src *p, char *err, size_t errlen)
{
	struct mig_rec rec;
	int e = mig_recv_rec(p->ch, &rec);
	if (e)
		return e;
	switch (rec.type) {
	case MIG_PAGE_REQ: {
		struct mig_page_req r;
		e = mig_recv_page_req(p->ch, &rec, &r);
		if (!e)
			e = mig_recv_mac_after(p->ch);
		return e ? e : answer_request(p, &r);
	}
	case MIG_REPLY: {
		struct mig_reply r;
		e = mig_recv_reply(p->ch, &rec, &r);
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
		e = rec.len == 0 ? mig_recv_mac_after(p->ch) : -EPROTO;
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
