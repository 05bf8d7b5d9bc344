/* The source's side of post-copy (postcopy.h): which pages the destination lacks, and
 * the loop that answers its requests first and pushes the rest: the hot pages, then by
 * address. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mig_channels.h"
#include "mig_proto.h"
#include "mig_stream.h"
#include "postcopy.h"
#include "../../mem/ram.h"
#include "../../util/bitmap.h"
#include "../../util/clock.h"

#define PUSH_PAGES 64          /* pages per background record: requests wait at most one */

int postcopy_src_init(struct postcopy_src *p, struct mig_chan *ch, struct mig_channels *chans, struct machine *m,
		      bool all)
{
	*p = (struct postcopy_src){ .ch = ch, .chans = chans, .m = m, .mem = &m->vm.mem };
	pthread_mutex_init(&p->lock, NULL);
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
	pthread_mutex_destroy(&p->lock);
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

/* A run of pages taken out of to_send, to be sent by whoever took it. */
struct claim {
	uint32_t slot;
	uint64_t pg;
	uint32_t n;
};

static struct claim take(struct postcopy_src *p, uint32_t i, uint64_t pg, uint64_t n)
{
	bitmap_clear_range(p->to_send[i], pg, n);
	p->left -= n;
	return (struct claim){ i, pg, (uint32_t)n };
}

/* Sends a claimed run on st's channel, zero pages as a marker, each record followed by
 * the MAC with a key (the destination's guest runs). */
static int send_claim(struct postcopy_src *p, struct mig_stream *st, const struct claim *c)
{
	struct ram_region r = ram_region(p->mem, c->slot);
	int e = mig_stream_run(st, &r, c->pg, c->n, mig_pages_zero(p->mem, &r, c->pg, c->n));
	return e ? e : mig_send_mac(st->ch);
}

/* The next run of pages both hot and missing, from the hot cursor; once none is left
 * the hot maps go and the push goes by address. */
static bool next_hot(struct postcopy_src *p, struct claim *c)
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
			*c = take(p, p->hot_slot, run.first, run.n);
			return true;
		}
	}
	ram_bitmaps_free(p->mem, p->hot);
	p->hot = NULL;
	return false;
}

/* Under p->lock: the push's next run, hot pages first; false when nothing is left. */
static bool next_push(struct postcopy_src *p, struct claim *c)
{
	if (!p->left)
		return false;
	if (p->hot && next_hot(p, c))
		return true;
	for (; p->cursor_slot < ram_nr_regions(p->mem); p->cursor_slot++, p->cursor = 0) {
		struct bit_run run;
		if (bitmap_next_run(p->to_send[p->cursor_slot], &p->cursor, ram_region(p->mem, p->cursor_slot).pages,
				    PUSH_PAGES, &run)) {
			p->pushed += run.n;
			*c = take(p, p->cursor_slot, run.first, run.n);
			return true;
		}
	}
	return false;
}

static bool claim_push(struct postcopy_src *p, struct claim *c)
{
	pthread_mutex_lock(&p->lock);
	bool got = next_push(p, c);
	pthread_mutex_unlock(&p->lock);
	return got;
}

static int push_next(struct postcopy_src *p)
{
	struct claim c;
	return claim_push(p, &c) ? send_claim(p, &p->stream, &c) : -EIO; /* pages left nowhere: cannot be */
}

/* Pages the destination waits for: those of them still owed go now, on the first
 * channel, in runs. A request for pages already taken (they crossed the push, or another
 * channel sends them) needs nothing. */
static int answer_request(struct postcopy_src *p, const struct mig_page_req *r)
{
	struct ram_region reg;
	uint64_t pg = 0;
	if (!ram_region_at(p->mem, r->gpa, &reg, &pg) || r->gpa % SZ_4K || !r->pages || r->pages > MIG_REQ_MAX_PAGES ||
	    r->pages > reg.pages - pg)
		return -EPROTO;
	p->requested++;
	for (uint64_t pos = pg;;) {
		struct bit_run run;
		pthread_mutex_lock(&p->lock);
		bool more = bitmap_next_run(p->to_send[reg.index], &pos, pg + r->pages, MIG_BATCH, &run);
		struct claim c = more ? take(p, reg.index, run.first, run.n) : (struct claim){ 0 };
		pthread_mutex_unlock(&p->lock);
		int e = more ? send_claim(p, &p->stream, &c) : 0;
		if (e || !more)
			return e;
	}
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

/* ---- the push over the other channels (mig_channels.h) ---- */

/* Cuts every connection: one channel's failure ends the migration at once. */
static void cut_all(struct postcopy_src *p)
{
	shutdown(p->ch->fd, SHUT_RDWR);
	for (unsigned int k = 1; k < p->chans->n; k++)
		if (p->chans->ch[k])
			shutdown(p->chans->ch[k]->fd, SHUT_RDWR);
}

/* Channel k pushes until nothing is left, then says so (MIG_POSTCOPY_DONE). */
static void *pusher(void *arg)
{
	struct postcopy_pusher *j = arg;
	struct postcopy_src *p = j->p;
	struct claim c;
	int e = 0;
	while (!e && claim_push(p, &c))
		e = send_claim(p, &j->st, &c);
	if (!e)
		e = mig_send_rec(j->st.ch, MIG_POSTCOPY_DONE, NULL, 0);
	if (!e)
		e = mig_send_mac(j->st.ch);
	if (e)
		cut_all(p);
	j->e = e;
	atomic_fetch_add(&p->pushers_done, 1);
	return NULL;
}

static int start_pushers(struct postcopy_src *p)
{
	for (unsigned int k = 1; k < p->chans->n; k++) {
		struct postcopy_pusher *j = &p->pushers[k];
		*j = (struct postcopy_pusher){ .p = p, .st = p->stream };
		j->st.ch = p->chans->ch[k];
		j->st.count = &j->count;
		int buf = POSTCOPY_SOCK_BUF;
		(void)setsockopt(j->st.ch->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		int e = -pthread_create(&j->thread, NULL, pusher, j);
		j->started = !e;
		if (e)
			return e;
	}
	return 0;
}

/* Joins the pushers (cut: cuts the connections first); the first one's error. */
static int join_pushers(struct postcopy_src *p, bool cut)
{
	int e = 0;
	if (cut)
		cut_all(p);
	for (unsigned int k = 1; p->chans && k < p->chans->n; k++) {
		struct postcopy_pusher *j = &p->pushers[k];
		if (!j->started)
			continue;
		pthread_join(j->thread, NULL);
		j->started = false;
		e = e ? e : j->e;
		mig_pass_add(&p->sent, &j->count);
	}
	return e;
}

static bool several(const struct postcopy_src *p)
{
	return p->chans && p->chans->n > 1;
}

/* Whether every pusher ended and nothing is left to send. */
static bool pushed_all(struct postcopy_src *p)
{
	pthread_mutex_lock(&p->lock);
	bool all = !p->left;
	pthread_mutex_unlock(&p->lock);
	return all && atomic_load(&p->pushers_done) == p->chans->n - 1;
}

/* The last word from the source: MIG_POSTCOPY_DONE on the first channel. */
static int send_done(struct postcopy_src *p)
{
	int e = mig_send_rec(p->ch, MIG_POSTCOPY_DONE, NULL, 0);
	return e ? e : mig_send_mac(p->ch);
}

/* With several channels the first one only answers requests: the others push. It
 * looks up every few milliseconds for the pushers' end. */
static int serve_several(struct postcopy_src *p, char *err, size_t errlen)
{
	bool done_sent = false, pushing = false;
	for (;;) {
		int e = 0;
		if (p->started && !pushing) {
			e = start_pushers(p);
			pushing = true;
		}
		if (!e && pushing && !done_sent && pushed_all(p)) {
			e = join_pushers(p, false);
			if (!e)
				e = send_done(p);
			done_sent = true;
		}
		if (!e) /* what is buffered goes before the wait (the stream's MIG_END, the first time) */
			e = mig_flush(p->ch);
		if (e)
			return e;
		struct pollfd pf = { .fd = p->ch->fd, .events = POLLIN };
		int ready = poll(&pf, 1, pushing && !done_sent ? 5 : -1);
		if (ready < 0 && errno != EINTR)
			return -errno;
		if (ready > 0 && (e = take_record(p, err, errlen)))
			return e == 1 ? 0 : e;
	}
}

/* Until the destination's guest runs, only its requests are answered (restoring the
 * state may touch memory); a background push then could fill the socket while nobody
 * reads it. */
int postcopy_src_serve(struct postcopy_src *p, char *err, size_t errlen)
{
	bool done_sent = false;
	int buf = POSTCOPY_SOCK_BUF;
	(void)setsockopt(p->ch->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (several(p)) {
		int e = serve_several(p, err, errlen);
		int ej = join_pushers(p, e != 0);
		return e ? e : ej;
	}
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
			e = send_done(p);
			done_sent = true;
		}
		if (e)
			return e;
	}
}
