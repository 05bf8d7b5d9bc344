#include "migration.h"

#include <errno.h>
#include <inttypes.h>
#include <assert.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "machine_state.h"
#include "mig_channel.h"
#include "mig_log.h"
#include "mig_order.h"
#include "mig_proto.h"
#include "postcopy.h"
#include "../../mem/ram.h"
#include "../../mem/working_set.h"
#include "../../util/bitmap.h"
#include "../../util/clock.h"
#include "../../util/race.h"
#include "../../util/json.h"
#include "../../util/page.h"
#include "../core/vcpu_loop.h"

/* ---- sender ---- */

struct sender {
	struct migration *mg;
	struct machine *m;
	struct mig_chan ch;
	uint64_t last_kick_ns;
	struct mig_pass cur, last;     /* the pass being sent, and the one before it */
	struct mig_order order;
	bool paused;                   /* this migration paused the VM (a failure resumes it) */
};

/* The outcome is published as the state only when the thread has cleaned up (resumed
 * the VM, stopped logging): a client that saw "failed" and paused the VM at once had its
 * pause undone by the cleanup. */
static void set_error(struct migration *mg, enum mig_state st, const char *fmt, const char *arg)
{
	pthread_mutex_lock(&mg->lock);
	mg->outcome = st;
	snprintf(mg->error, sizeof(mg->error), fmt, arg ? arg : "");
	pthread_mutex_unlock(&mg->lock);
}

/* Fails the migration unless something already said why it failed: the first reason
 * stands (the VM ending is the cause, the broken connection that follows is not). */
static void set_first_error(struct migration *mg, const char *fmt, const char *arg)
{
	pthread_mutex_lock(&mg->lock);
	if (mg->outcome == MIG_RUNNING) {
		mg->outcome = MIG_FAILED;
		snprintf(mg->error, sizeof(mg->error), fmt, arg);
	}
	pthread_mutex_unlock(&mg->lock);
}

/* Auto-converge: vCPUs sleep throttle_pct of every 10 ms; the sender kicks them out of
 * the guest that often so the sleep happens even in a guest that never exits. */
static void throttle_tick(struct sender *s)
{
	unsigned int pct = atomic_load(&s->m->vm.throttle_pct);
	uint64_t now = now_ns();
	if (!pct || now - s->last_kick_ns < 10000000)
		return;
	s->last_kick_ns = now;
	for (unsigned int i = 0; i < s->m->vm.nr_vcpus; i++)
		vcpu_loop_kick(&s->m->vm.vcpus[i]);
}

/* Whether a guest page is zero, looked at while the guest and the devices may write it:
 * by design, a page written meanwhile is dirty and goes again. */
static bool guest_page_zero(const struct sender *s, const struct ram_region *r, uint64_t page)
{
	RACY_READS_BEGIN();
	bool zero = page_is_zero(ram_pages(&s->m->vm.mem, r, page, 1));
	RACY_READS_END();
	return zero;
}

/* A run of n pages of r from page, all zero or all data: one record. */
static int send_run(struct sender *s, const struct ram_region *r, uint64_t page, uint32_t n, bool zero)
{
	struct mig_pages_hdr h = { ram_page_gpa(r, page), n, zero };
	uint32_t hdr[2] = { MIG_PAGES, (uint32_t)(sizeof(h) + (zero ? 0 : n * SZ_4K)) };
	int e = mig_send(&s->ch, hdr, sizeof(hdr));
	if (!e)
		e = mig_send(&s->ch, &h, sizeof(h));
	RACY_READS_BEGIN(); /* as guest_page_zero */
	if (!e && !zero)
		e = mig_send(&s->ch, ram_pages(&s->m->vm.mem, r, page, n), n * SZ_4K);
	RACY_READS_END();
	s->cur.pages += n;
	s->cur.zero_pages += zero ? n : 0;
	s->cur.bytes += sizeof(hdr) + sizeof(h) + (zero ? 0 : n * SZ_4K);
	throttle_tick(s);
	return e;
}

/* Whether page p is zero: from the zero map made by a scan (indexed from first), or
 * looked at now. */
static bool zero_at(const struct sender *s, const struct ram_region *r, uint64_t p, uint64_t first,
		    const uint64_t *zero)
{
	return zero ? bitmap_test(zero, p - first) : guest_page_zero(s, r, p);
}

/* Pages [p, p + n) of r, every one to send: a record per stretch of zero or of data
 * pages, MIG_BATCH pages at most. Each page is looked at once (the last pass's scan is
 * part of the downtime). */
static int send_wanted(struct sender *s, const struct ram_region *r, uint64_t p, uint64_t n, uint64_t first,
		       const uint64_t *zero)
{
	bool z = n && zero_at(s, r, p, first, zero);
	while (n) {
		uint32_t k = 1;
		bool next = z;
		while (k < n && k < MIG_BATCH && (next = zero_at(s, r, p + k, first, zero)) == z)
			k++;
		int e = send_run(s, r, p, k, z);
		if (e)
			return e;
		p += k;
		n -= k;
		/* Cut by the batch: page p was not looked at yet; else next is its answer. */
		z = k == MIG_BATCH && n ? zero_at(s, r, p, first, zero) : next;
	}
	return 0;
}

/* Pages [first, end) of r, those set in want (all when NULL). zero, when given, says
 * which are zero; else each page is looked at here. Both are indexed from first, a
 * multiple of 64. */
static int send_pages(struct sender *s, const struct ram_region *r, uint64_t first, uint64_t end,
		      const uint64_t *want, const uint64_t *zero)
{
	if (!want)
		return send_wanted(s, r, first, end - first, first, zero);
	struct bit_run run;
	for_each_bit_run(run, want, 0, end - first, 0) {
		int e = send_wanted(s, r, first + run.first, run.n, first, zero);
		if (e)
			return e;
	}
	return 0;
}

/* Passes go a chunk at a time: its pages are taken from the dirty log, then read, so a
 * page is rarely written between the two. 2 MiB: a THP or a 2M page whole; a 1G page is
 * many chunks (the receiver faults it in whole at the first hint: populate_ahead.h). */
#define CHUNK_PAGES 512
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
static void count_sweep(struct sender *s, enum sweep sw, uint64_t before)
{
	if (sw == SWEEP_HOT)
		s->cur.hot_pages += s->cur.pages - before;
}

/* Takes the chunk's pages from r's dirty log, then sends them. take is false once the VM
 * is paused for good (nothing can dirty them again). */
static int send_chunk(struct sender *s, const struct ram_region *r, uint64_t first, uint64_t end,
		      const uint64_t *mask, bool take, enum sweep sw)
{
	int e = take ? dirty_log_take(&s->m->dirty, r->index, first, end - first, mask) : 0;
	uint64_t before = s->cur.pages;
	if (!e)
		e = send_pages(s, r, first, end, mask, NULL);
	count_sweep(s, sw, before);
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

static int scan_chunk(struct sender *s, const struct ram_region *r, uint64_t first, uint64_t end,
		      const uint64_t *hot, enum sweep sw, struct ahead *a)
{
	memset(a->zero, 0, sizeof(a->zero));
	if (!chunk_mask(a->mask, NULL, hot, first, end, sw))
		return 0;
	int e = dirty_log_take(&s->m->dirty, r->index, first, end - first, a->mask);
	if (e)
		return e;
	bool data = false;
	struct bit_run run;
	for_each_bit_run(run, a->mask, 0, end - first, 0)
		for (uint64_t p = run.first; p < run.first + run.n; p++) {
			if (guest_page_zero(s, r, first + p))
				bitmap_set(a->zero, p);
			else
				data = true;
		}
	if (!data)
		return 0;
	struct mig_hint h = { ram_page_gpa(r, first), (end - first) * SZ_4K };
	s->cur.bytes += 8 + sizeof(h);
	return mig_send_rec(&s->ch, MIG_HINT, &h, sizeof(h));
}

static uint64_t chunk_end(uint64_t first, uint64_t npages)
{
	return first + CHUNK_PAGES < npages ? first + CHUNK_PAGES : npages;
}

static int send_region_ahead(struct sender *s, const struct ram_region *r, const uint64_t *hot, enum sweep sw)
{
	struct ahead ring[AHEAD_CHUNKS + 1];
	uint64_t nchunks = (r->pages + CHUNK_PAGES - 1) / CHUNK_PAGES;
	int e = 0;
	for (uint64_t c = 0; c < nchunks + AHEAD_CHUNKS && !e; c++) {
		if (c < nchunks)
			e = scan_chunk(s, r, c * CHUNK_PAGES, chunk_end(c * CHUNK_PAGES, r->pages), hot, sw,
				       &ring[c % (AHEAD_CHUNKS + 1)]);
		if (!e && c >= AHEAD_CHUNKS) {
			uint64_t k = c - AHEAD_CHUNKS, first = k * CHUNK_PAGES;
			const struct ahead *a = &ring[k % (AHEAD_CHUNKS + 1)];
			uint64_t before = s->cur.pages;
			e = send_pages(s, r, first, chunk_end(first, r->pages), a->mask, a->zero);
			count_sweep(s, sw, before);
		}
	}
	return e;
}

/* The receiver's word that all of the pass is in place (mig_proto.h). */
static int wait_pass_ack(struct mig_chan *ch, uint32_t pass)
{
	uint32_t hdr[2], got;
	int e = mig_recv(ch, hdr, sizeof(hdr));
	if (!e && (hdr[0] != MIG_PASS_END || hdr[1] != sizeof(got)))
		e = -EPROTO;
	if (!e)
		e = mig_recv(ch, &got, sizeof(got));
	return !e && got != pass ? -EPROTO : e;
}

/* What migration_status_json reads is written under the lock, by these. */
static void set_pass(struct migration *mg, unsigned int pass)
{
	pthread_mutex_lock(&mg->lock);
	mg->pass = pass;
	pthread_mutex_unlock(&mg->lock);
}

static void set_downtime(struct migration *mg, uint64_t ns)
{
	pthread_mutex_lock(&mg->lock);
	mg->downtime_ns = ns;
	pthread_mutex_unlock(&mg->lock);
}

/* The pass is over once the receiver has it all: its time and rate are end to end. */
static int end_pass(struct sender *s, uint64_t t0)
{
	struct migration *mg = s->mg;
	uint32_t pass = mg->pass;
	int e = mig_send_rec(&s->ch, MIG_PASS_END, &pass, sizeof(pass));
	if (!e)
		e = wait_pass_ack(&s->ch, pass);
	s->cur.ns = now_ns() - t0;
	pthread_mutex_lock(&mg->lock);
	if (mg->nr_passes < MIG_MAX_PASSES_KEPT)
		mg->passes[mg->nr_passes++] = s->cur;
	mg->passes_sent++;
	mg->bytes_total += s->cur.bytes;
	if (s->cur.ns && s->cur.bytes > (1 << 20))
		mg->link_bps = (double)s->cur.bytes * 1e9 / (double)s->cur.ns;
	pthread_mutex_unlock(&mg->lock);
	fprintf(stderr, "pagoda: migrate: pass %u: %" PRIu64 " pages (%" PRIu64 " zero, %" PRIu64 " hot sent last), "
		"%.1f MiB in %.1f ms, %.0f MiB/s\n", pass, s->cur.pages, s->cur.zero_pages, s->cur.hot_pages,
		(double)s->cur.bytes / (1 << 20), (double)s->cur.ns / 1e6,
		s->cur.ns ? (double)s->cur.bytes / (1 << 20) / ((double)s->cur.ns / 1e9) : 0.0);
	s->last = s->cur;
	s->cur = (struct mig_pass){ 0 };
	return e;
}

/* What region r's dirty log holds, cold pages first (mig_order.h), a chunk at a time.
 * With the VM paused for good (take false) the order gains nothing and asking the
 * working set (DAMON: a walk of its sysfs regions) would lengthen the downtime: by
 * address. */
static int send_dirty_region(struct sender *s, const struct ram_region *r, bool take)
{
	const uint64_t *bits = dirty_log_bitmap(&s->m->dirty, r->index);
	if (!bits)
		return 0;
	uint64_t nhot = 0, mask[CHUNK_WORDS];
	const uint64_t *hot = take ? mig_order_hot(&s->order, r->index, bits, &nhot) : NULL;
	if (take)
		mig_order_sent(&s->order, r->index, bits);
	int e = 0;
	for (enum sweep sw = SWEEP_COLD; sw <= (hot ? SWEEP_HOT : SWEEP_COLD) && !e; sw++)
		for (uint64_t first = 0; first < r->pages && !e; first += CHUNK_PAGES)
			if (chunk_mask(mask, bits, hot, first, chunk_end(first, r->pages), sw))
				e = send_chunk(s, r, first, chunk_end(first, r->pages), mask, take, sw);
	return e;
}

/* Everything dirtied since the last harvest; take: see send_chunk. */
static int send_dirty(struct sender *s, bool take)
{
	int e = 0;
	for (uint32_t i = 0; i < ram_nr_regions(&s->m->vm.mem) && !e; i++) {
		struct ram_region r = ram_region(&s->m->vm.mem, i);
		e = send_dirty_region(s, &r, take);
	}
	return e;
}

static int send_all_ram(struct sender *s)
{
	int e = 0;
	for (uint32_t i = 0; i < ram_nr_regions(&s->m->vm.mem) && !e; i++) {
		struct ram_region r = ram_region(&s->m->vm.mem, i);
		uint64_t nhot;
		const uint64_t *hot = mig_order_hot(&s->order, i, NULL, &nhot);
		e = send_region_ahead(s, &r, hot, SWEEP_COLD);
		if (!e && hot)
			e = send_region_ahead(s, &r, hot, SWEEP_HOT);
	}
	return e;
}

/* The receiver's answer; with a key, followed by the MAC of all it sent. */
static int read_reply(struct mig_chan *ch, struct mig_reply *r)
{
	uint32_t hdr[2];
	int e = mig_recv(ch, hdr, sizeof(hdr));
	if (!e && (hdr[0] != MIG_REPLY || hdr[1] != sizeof(*r)))
		e = -EPROTO;
	if (!e)
		e = mig_recv(ch, r, sizeof(*r));
	r->msg[sizeof(r->msg) - 1] = 0;
	return e ? e : mig_recv_mac_after(ch);
}

static int handshake(struct sender *s)
{
	char err[256];
	int e = mig_auth_sender(&s->ch, mig_key_of(&s->m->cfg), err, sizeof(err));
	if (e) {
		set_error(s->mg, MIG_FAILED, "%s", err);
		return e;
	}
	struct state_buf hb;
	state_buf_init(&hb);
	machine_state_put_header(s->m, &hb);
	/* the header record's payload: skip its 8-byte record header */
	e = hb.failed ? -ENOMEM : mig_send_rec(&s->ch, MIG_HELLO, hb.data + 8, hb.len - 8);
	state_buf_free(&hb);
	struct mig_reply r;
	if (!e)
		e = read_reply(&s->ch, &r);
	if (!e && !r.ok) {
		set_error(s->mg, MIG_FAILED, "the receiver refused: %.200s", r.msg);
		return -EINVAL;
	}
	return e;
}

/* The pass record; extra: the source's view of what was dirtied during it. */
static void log_pass(struct migration *mg, unsigned int pass, const struct mig_pass *p, bool stop,
		     const char *extra_fmt, ...) __attribute__((format(printf, 5, 6)));
static void log_pass(struct migration *mg, unsigned int pass, const struct mig_pass *p, bool stop,
		     const char *extra_fmt, ...)
{
	if (mg->log_fd < 0)
		return;
	char extra[512] = "";
	va_list ap;
	va_start(ap, extra_fmt);
	int n = vsnprintf(extra, sizeof(extra), extra_fmt, ap);
	va_end(ap);
	/* With the working set estimated (--working-set), what the guest used meanwhile. */
	struct wss_report w;
	char why[256];
	if (mg->m->wss && n >= 0 && (size_t)n < sizeof(extra) && !working_set_sample(mg->m->wss, &w, why, sizeof(why)))
		snprintf(extra + n, sizeof(extra) - (size_t)n, ", \"working_set\": %" PRIu64, wss_touched(&w));
	mig_log(mg->log_fd, "pass", "source", mg->t_start_ns,
		"\"pass\": %u, \"stop\": %s, \"ms\": %.3f, \"pages\": %" PRIu64 ", \"zero_pages\": %" PRIu64
		", \"hot_sent_last\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"mib_per_s\": %.1f%s",
		pass, stop ? "true" : "false", (double)p->ns / 1e6, p->pages, p->zero_pages, p->hot_pages, p->bytes,
		p->ns ? (double)p->bytes / (1 << 20) / ((double)p->ns / 1e9) : 0.0, extra);
}

/* Pages still dirty, the rate they are dirtied at, and whether to stop and copy now. */
static bool converged(struct sender *s, uint64_t dirty, double pass_s)
{
	struct migration *mg = s->mg;
	pthread_mutex_lock(&mg->lock);
	mg->remaining_pages = dirty;
	mg->dirty_rate_pps = pass_s > 0 ? (double)dirty / pass_s : 0;
	double link = mg->link_bps > 0 ? mg->link_bps : 1e9;
	double est_ms = (double)dirty * SZ_4K / link * 1e3;
	/* Dirtying faster than half the link can carry: slow the vCPUs down. */
	if (mg->pass >= 2 && mg->dirty_rate_pps * SZ_4K > link / 2 && mg->throttle_pct < 90) {
		mg->throttle_pct += 20;
		if (mg->throttle_pct > 90)
			mg->throttle_pct = 90;
		atomic_store(&s->m->vm.throttle_pct, mg->throttle_pct);
		fprintf(stderr, "pagoda: migrate: dirtying %.0f MiB/s against a %.0f MiB/s link: vCPUs throttled %u%%\n",
			mg->dirty_rate_pps * SZ_4K / (1 << 20), link / (1 << 20), mg->throttle_pct);
	}
	unsigned int throttle = mg->throttle_pct;
	double rate = mg->dirty_rate_pps;
	pthread_mutex_unlock(&mg->lock);
	fprintf(stderr, "pagoda: migrate: %" PRIu64 " pages dirty, estimated downtime %.1f ms (limit %.0f)\n",
		dirty, est_ms, mg->downtime_limit_ms);
	log_pass(mg, mg->pass - 1, &s->last, false, ", \"dirty_pages\": %" PRIu64 ", \"dirty_pages_per_s\": %.0f"
		 ", \"throttle_pct\": %u, \"est_downtime_ms\": %.3f", dirty, rate, throttle, est_ms);
	return est_ms <= mg->downtime_limit_ms;
}

/* Pre-copy passes; 1 to stop and copy, 0 when cancelled, -errno on a send error. */
static int precopy(struct sender *s)
{
	struct migration *mg = s->mg;
	uint64_t t0 = now_ns();
	if (mg->mode == MIG_HYBRID) { /* a fixed number of passes, then post-copy */
		mg->max_passes = mg->hybrid_passes;
		mg->cancel_at_max = false;
	}
	/* Pass 0 sends everything, taking each chunk from the log as it goes (in clear mode
	 * that is when the chunk is write-protected). */
	int e = dirty_log_harvest_deferred(&s->m->dirty);
	if (!e)
		e = send_all_ram(s);
	if (!e)
		e = end_pass(s, t0);
	for (unsigned int pass = 1; !e; pass++) {
		set_pass(mg, pass);
		uint64_t t1 = now_ns();
		e = dirty_log_harvest_deferred(&s->m->dirty);
		if (e)
			break;
		uint64_t dirty = s->m->dirty.st.pages; /* what the harvest holds, untaken bits too */
		if (converged(s, dirty, (double)(t1 - t0) / 1e9))
			return 1;
		if (mg->pass >= mg->max_passes) {
			if (!mg->cancel_at_max)
				return 1;
			char n[16];
			snprintf(n, sizeof(n), "%u", mg->max_passes);
			set_error(mg, MIG_CANCELLED, "cancelled: the guest dirties memory too fast to converge in %s passes (--max-passes)", n);
			return 0;
		}
		t0 = t1;
		e = send_dirty(s, true);
		if (!e)
			e = end_pass(s, t1);
	}
	return e;
}

/* The machine state, the MAC of all that went before and the end of the stream: the
 * receiver restores and starts nothing before it has all three. */
static int send_state(struct sender *s)
{
	struct migration *mg = s->mg;
	uint64_t t = now_ns();
	struct state_buf st;
	state_buf_init(&st);
	char err[256] = "";
	int e = machine_state_save(s->m, &st, err, sizeof(err));
	if (e)
		set_error(mg, MIG_FAILED, "saving the VM state: %.200s", err);
	if (!e)
		e = mig_send_rec(&s->ch, MIG_STATE, st.data, st.len);
	mg->stop.state_bytes = st.len;
	state_buf_free(&st);
	mg->stop.state_ns = now_ns() - t;
	if (!e)
		e = mig_send_mac(&s->ch);
	return e ? e : mig_send_rec(&s->ch, MIG_END, NULL, 0);
}

/* The pause and the devices' last I/O, timed for the record. */
static int pause_for_stop(struct sender *s, uint64_t t0)
{
	if (!vm_pause(&s->m->vm))
		return -ECANCELED;
	s->paused = true;
	s->mg->stop.pause_ns = now_ns() - t0;
	/* Devices finish their I/O first: nothing may reach guest memory after the last
	 * harvest. */
	virtio_devices_quiesce(&s->m->virtio);
	char err[160];
	int e = machine_arch_flush_to_ram(s->m, err, sizeof(err));
	if (e)
		set_error(s->mg, MIG_FAILED, "%s", err);
	s->mg->stop.quiesce_ns = now_ns() - t0 - s->mg->stop.pause_ns;
	return e;
}

/* The hybrid's stale pages: those of the harvest that ended pre-copy and of one more
 * taken paused. */
static int discard_dirty(struct sender *s, struct postcopy_src *pc)
{
	int e = postcopy_src_discard(pc, &s->m->dirty);
	if (!e)
		e = dirty_log_harvest_final(&s->m->dirty);
	return e ? e : postcopy_src_discard(pc, &s->m->dirty);
}

/* Post-copy: the VM paused here runs at the destination as soon as its state is there;
 * the pages follow (postcopy.h). Once the destination ran it, a failure leaves the VM
 * here paused: neither side holds all of it. */
/* Post-copy pushes first what the guest touched within this many working-set windows:
 * the destination's guest will want those pages soon, and each one it asks for stalls it
 * for a round trip. */
#define POSTCOPY_HOT_WINDOWS 4

static int stop_and_postcopy(struct sender *s)
{
	struct migration *mg = s->mg;
	struct postcopy_src pc;
	int e = postcopy_src_init(&pc, &s->ch, s->m, mg->mode == MIG_POSTCOPY_ONLY);
	/* Before the pause: asking the working set (DAMON walks its regions in sysfs) is no
	 * downtime. One that cannot answer leaves the push by address. */
	if (!e && s->m->wss)
		(void)postcopy_src_hot_first(&pc, s->m->wss, POSTCOPY_HOT_WINDOWS);
	uint64_t t0 = now_ns();
	if (!e)
		e = pause_for_stop(s, t0);
	if (e) {
		postcopy_src_free(&pc);
		return e;
	}
	uint64_t t = now_ns();
	e = postcopy_src_switch(&pc);
	if (!e && mg->mode == MIG_HYBRID)
		e = discard_dirty(s, &pc);
	mg->stop.pages_ns = now_ns() - t;
	if (!e)
		e = send_state(s);
	char err[256] = "";
	uint64_t t_serve = now_ns();
	if (!e)
		e = postcopy_src_serve(&pc, err, sizeof(err));
	/* The post-copy phase is the last pass of the record, sent with the VM paused here. */
	struct mig_pass last = { .pages = pc.pages_sent, .zero_pages = pc.zero_pages_sent, .bytes = pc.bytes,
				 .ns = now_ns() - t_serve };
	log_pass(mg, mg->passes_sent, &last, true, ", \"postcopy\": true, \"pushed_pages\": %" PRIu64
		 ", \"hot_pages\": %" PRIu64 ", \"pushed_hot_first\": %" PRIu64 ", \"requests\": %" PRIu64, pc.pushed,
		 pc.hot_pages, pc.pushed_hot, pc.requested);
	set_downtime(mg, (pc.started ? pc.t_started_ns : now_ns()) - t0);
	mg->stop.reply_ns = mg->downtime_ns - mg->stop.pause_ns - mg->stop.quiesce_ns - mg->stop.pages_ns -
			    mg->stop.state_ns;
	mg->pc_pushed = pc.pushed;
	mg->pc_requested = pc.requested;
	pthread_mutex_lock(&mg->lock);
	mg->bytes_total += pc.bytes;
	if (!e)
		mg->passes_sent++;
	pthread_mutex_unlock(&mg->lock);
	if (e && pc.started) {
		mg->keep_paused = true;
		char why[64];
		snprintf(why, sizeof(why), "%s", strerror(e < 0 ? -e : e));
		set_error(mg, MIG_FAILED, "post-copy broke after the destination started the guest (%s): neither side "
			  "holds all of it; this VM stays paused, resume it only if the destination is gone", why);
	} else if (e && err[0]) {
		set_error(mg, MIG_FAILED, "%s", err);
	}
	postcopy_src_free(&pc);
	return e;
}

static int stop_and_copy(struct sender *s)
{
	struct migration *mg = s->mg;
	struct mig_stop *st_t = &mg->stop;
	uint64_t t0 = now_ns();
	int e = pause_for_stop(s, t0);
	if (e)
		return e;
	uint64_t t = now_ns();
	/* The final harvest keeps the pages of the one that decided to stop (none of them was
	 * taken): they all go now. */
	e = dirty_log_harvest_final(&s->m->dirty);
	if (!e)
		e = send_dirty(s, false);
	if (!e)
		e = end_pass(s, t0);
	if (!e)
		log_pass(mg, mg->pass, &s->last, true, "%s", "");
	st_t->pages_ns = now_ns() - t;
	t += st_t->pages_ns;
	if (!e)
		e = send_state(s);
	t += st_t->state_ns;
	struct mig_reply r = { 0 };
	if (!e)
		e = read_reply(&s->ch, &r);
	if (!e && !r.ok) {
		set_error(mg, MIG_FAILED, "the receiver failed: %.200s", r.msg);
		e = -EIO;
	}
	st_t->reply_ns = now_ns() - t;
	set_downtime(mg, now_ns() - t0);
	return e;
}

static void report(struct migration *mg)
{
	const struct mig_stop *t = &mg->stop;
	fprintf(stderr, "pagoda: migrate: done: %u passes, %.1f MiB in %.1f ms (%.0f MiB/s), downtime %.2f ms "
		"(pause %.2f, devices %.2f, last pages %.2f, state %.2f, receiver %.2f)\n",
		mg->passes_sent, (double)mg->bytes_total / (1 << 20), (double)mg->total_ns / 1e6,
		(double)mg->bytes_total / (1 << 20) / ((double)mg->total_ns / 1e9), (double)mg->downtime_ns / 1e6,
		(double)t->pause_ns / 1e6, (double)t->quiesce_ns / 1e6, (double)t->pages_ns / 1e6,
		(double)t->state_ns / 1e6, (double)t->reply_ns / 1e6);
	if (mg->mode != MIG_PRECOPY)
		fprintf(stderr, "pagoda: migrate: post-copy: %" PRIu64 " pages pushed in order, %" PRIu64
			" requests from the destination served first\n", mg->pc_pushed, mg->pc_requested);
}

static const char *mode_name(const struct migration *mg)
{
	static const char *names[] = { "precopy", "postcopy", "precopy-then-postcopy" };
	return names[mg->mode];
}

static void log_start(struct migration *mg)
{
	char uri[sizeof(mg->uri) * 6];
	json_escape(mg->uri, uri, sizeof(uri));
	mig_log(mg->log_fd, "start", "source", mg->t_start_ns,
		"\"uri\": \"%s\", \"mode\": \"%s\", \"ram_mib\": %" PRIu64 ", \"vcpus\": %u, \"dirty_log\": \"%s\""
		", \"downtime_limit_ms\": %.3f, \"max_passes\": %u, \"precopy_order\": \"%s\"",
		uri, mode_name(mg), mg->m->cfg.mem_size >> 20, mg->m->vm.nr_vcpus, dirty_mode_name(mg->m->dirty.mode),
		mg->downtime_limit_ms, mg->max_passes, precopy_order_name(mg->order));
}

static const char *state_name(enum mig_state st)
{
	static const char *names[] = { "none", "running", "done", "failed", "cancelled" };
	return names[st];
}

static void log_end(struct migration *mg)
{
	char error[sizeof(mg->error) * 6];
	json_escape(mg->error, error, sizeof(error));
	const struct mig_stop *t = &mg->stop;
	mig_log(mg->log_fd, "end", "source", mg->t_start_ns,
		"\"state\": \"%s\", \"error\": \"%s\", \"passes\": %u, \"bytes\": %" PRIu64 ", \"total_ms\": %.3f"
		", \"downtime_ms\": %.3f, \"pause_ms\": %.3f, \"devices_ms\": %.3f, \"last_pages_ms\": %.3f"
		", \"state_ms\": %.3f, \"state_bytes\": %" PRIu64 ", \"receiver_ms\": %.3f, \"mode\": \"%s\""
		", \"postcopy_pushed_pages\": %" PRIu64 ", \"postcopy_requests\": %" PRIu64,
		state_name(mg->outcome), error, mg->passes_sent, mg->bytes_total, (double)mg->total_ns / 1e6,
		(double)mg->downtime_ns / 1e6, (double)t->pause_ns / 1e6, (double)t->quiesce_ns / 1e6,
		(double)t->pages_ns / 1e6, (double)t->state_ns / 1e6, t->state_bytes, (double)t->reply_ns / 1e6,
		mode_name(mg), mg->pc_pushed, mg->pc_requested);
}

static void *sender_thread(void *arg)
{
	struct migration *mg = arg;
	struct sender s = { .mg = mg, .m = mg->m, .ch.fd = -1 };
	char err[256] = "";
	s.ch.fd = mig_socket(mg->uri, false, err, sizeof(err));
	int e = s.ch.fd < 0 ? s.ch.fd : mig_tune_socket(s.ch.fd);
	if (e)
		set_error(mg, MIG_FAILED, "%s", err[0] ? err : "setting the connection's timeouts failed");
	log_start(mg);
	if (!e) {
		atomic_store(&mg->fd, s.ch.fd);
		e = handshake(&s);
	}
	/* Pure post-copy sends nothing before the stop: nothing to track. */
	bool track = mg->mode != MIG_POSTCOPY_ONLY;
	if (!e && track && (e = dirty_log_start(&mg->m->dirty, &mg->m->vm.mem)))
		set_error(mg, MIG_FAILED, "starting dirty logging: %s", strerror(-e));
	if (!e && track && (e = mig_order_init(&s.order, mg->order, &mg->m->vm.mem, mg->m->wss)))
		set_error(mg, MIG_FAILED, "%s", "out of memory for the pass order's bitmaps");
	bool logging = !e && track;
	int go = e ? e : track ? precopy(&s) : 1;
	if (go == 1)
		e = mg->mode == MIG_PRECOPY ? stop_and_copy(&s) : stop_and_postcopy(&s);
	else
		e = go ? go : -ECANCELED;
	atomic_store(&mg->m->vm.throttle_pct, 0);
	pthread_mutex_lock(&mg->lock);
	mg->total_ns = now_ns() - mg->t_start_ns;
	if (!e)
		mg->outcome = MIG_DONE;
	pthread_mutex_unlock(&mg->lock);
	if (!e) {
		report(mg);
		vm_request_exit(&mg->m->vm, EXIT_GUEST_OFF, "migrated to %s", mg->uri);
	} else {
		set_first_error(mg, "connection: %s", strerror(-e));
		fprintf(stderr, "pagoda: migrate: %s%s\n", mg->error,
			atomic_load(&mg->m->vm.stopping) ? "" : "; the VM runs on here");
		if (logging)
			machine_dirty_log_stop(mg->m);
		virtio_devices_resume(&mg->m->virtio);
		if (s.paused && !mg->keep_paused)
			vm_resume(&mg->m->vm);
	}
	log_end(mg);
	mig_order_free(&s.order);
	pthread_mutex_lock(&mg->lock);
	mg->state = mg->outcome;
	pthread_mutex_unlock(&mg->lock);
	if (s.ch.fd >= 0) {
		atomic_store(&mg->fd, -1);
		close(s.ch.fd);
	}
	uint64_t one = 1;
	if (mg->done_efd >= 0 && write(mg->done_efd, &one, sizeof(one)) < 0)
		fprintf(stderr, "pagoda: migrate: cannot signal the end: %s\n", strerror(errno));
	return NULL;
}

int migration_start(struct migration *mg, struct machine *m, const char *uri, char *err, size_t errlen)
{
	if (!m->dirty_inited) {
		snprintf(err, errlen, "no dirty tracking in this VM");
		return -ENOTSUP;
	}
	if (m->dirty.active) {
		snprintf(err, errlen, "dirty logging is busy (--dirty-rate or a measurement)");
		return -EBUSY;
	}
	mg->m = m;
	atomic_store(&mg->fd, -1);
	snprintf(mg->uri, sizeof(mg->uri), "%s", uri);
	pthread_mutex_init(&mg->lock, NULL);
	mg->state = mg->outcome = MIG_RUNNING;
	mg->t_start_ns = now_ns();
	int e = pthread_create(&mg->thread, NULL, sender_thread, mg);
	if (e) {
		snprintf(err, errlen, "migration thread: %s", strerror(e));
		mg->state = MIG_FAILED;
		return -e;
	}
	mg->thread_started = true;
	return 0;
}

bool migration_running(struct migration *mg)
{
	pthread_mutex_lock(&mg->lock);
	bool r = mg->state == MIG_RUNNING;
	pthread_mutex_unlock(&mg->lock);
	return r;
}

void migration_abort(struct migration *mg, const char *why)
{
	set_first_error(mg, "%s", why);
	int fd = atomic_load(&mg->fd);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

void migration_join(struct migration *mg)
{
	if (mg->thread_started)
		pthread_join(mg->thread, NULL);
	mg->thread_started = false;
}

void migration_status_json(struct migration *mg, char *out, size_t len)
{
	pthread_mutex_lock(&mg->lock);
	/* The error may quote the receiver's words: escaped, a peer cannot add members. */
	char error[sizeof(mg->error) * 6];
	json_escape(mg->error, error, sizeof(error));
	uint64_t total = mg->total_ns ? mg->total_ns : now_ns() - mg->t_start_ns;
	int n = snprintf(out, len, "{\"ok\": true, \"state\": \"%s\", \"mode\": \"%s\", \"error\": \"%s\", \"pass\": %u, \"remaining_pages\": %" PRIu64
			 ", \"dirty_pages_per_s\": %.0f, \"link_mib_per_s\": %.1f, \"throttle_pct\": %u, \"total_ms\": %.1f"
			 ", \"downtime_ms\": %.2f, \"bytes\": %" PRIu64 ", \"passes\": [",
			 state_name(mg->state), mode_name(mg), error, mg->pass, mg->remaining_pages, mg->dirty_rate_pps,
			 mg->link_bps / (1 << 20), mg->throttle_pct, (double)total / 1e6, (double)mg->downtime_ns / 1e6,
			 mg->bytes_total);
	for (unsigned int i = 0; i < mg->nr_passes && n > 0 && (size_t)n < len; i++)
		n += snprintf(out + n, len - (size_t)n, "%s{\"pages\": %" PRIu64 ", \"zero\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"ms\": %.1f}",
			      i ? ", " : "", mg->passes[i].pages, mg->passes[i].zero_pages, mg->passes[i].bytes,
			      (double)mg->passes[i].ns / 1e6);
	if (n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, "]}");
	pthread_mutex_unlock(&mg->lock);
}
