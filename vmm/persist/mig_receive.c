/* The receiving side of a migration (`pagoda run --incoming URI`): the stream's parser.
 * Every record is hostile until checked: page records land only inside guest RAM, the
 * state is bounded before it is allocated, and with a key nothing starts without the
 * sender's MAC over all of it. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_log.h"
#include "mig_receiver.h"
#include "postcopy.h"
#include "../../mem/populate_ahead.h"
#include "../../mem/ram.h"
#include "../../util/bitmap.h"
#include "../../util/clock.h"
#include "../../util/json.h"
#include "../../util/page.h"


static int filled_map_init(struct filled_map *f, const struct guest_mem *mem)
{
	f->mem = mem;
	f->bits = ram_bitmaps_alloc(mem);
	if (!f->bits)
		return -ENOMEM;
	for (uint32_t i = 0; i < ram_nr_regions(mem); i++) {
		struct ram_region r = ram_region(mem, i);
		unsigned char *res = malloc(r.pages ? r.pages : 1);
		if (!res)
			return -ENOMEM;
		/* mincore fails only on a bad range: then every page counts as maybe filled. */
		bool known = mincore(ram_pages(mem, &r, 0, r.pages), r.pages * SZ_4K, res) == 0;
		for (uint64_t p = 0; p < r.pages; p++)
			if (!known || (res[p] & 1))
				bitmap_set(f->bits[i], p);
		free(res);
	}
	return 0;
}

static void filled_map_free(struct filled_map *f)
{
	ram_bitmaps_free(f->mem, f->bits);
}

/* The region's bits and the first page's index for [gpa, gpa + n pages), already known
 * to lie inside one region (guest_mem_ptr checked it). */
static uint64_t *filled_bits(const struct filled_map *f, uint64_t gpa, uint64_t *first)
{
	struct ram_region r;
	bool ram = ram_region_at(f->mem, gpa, &r, first);
	assert(ram);
	(void)ram;
	return f->bits[r.index];
}


int mig_rx_reply(struct mig_chan *ch, bool ok, const char *msg)
{
	int e = mig_send_reply(ch, ok, msg);
	return e ? e : mig_send_mac(ch);
}

static int recv_hello(struct receiver *r, uint32_t len)
{
	struct state_header h;
	char why[200];
	if (len != sizeof(h) || mig_recv(&r->ch, &h, sizeof(h))) {
		snprintf(r->err, r->errlen, "the sender's header is not a pagoda VM header");
		mig_rx_reply(&r->ch, false, r->err);
		return -EPROTO;
	}
	const char *bad = memcmp(h.magic, STATE_MAGIC, 8) || h.version != STATE_VERSION ? "another state version"
			  : machine_state_mismatch(r->m, &h, why, sizeof(why));
	if (bad) {
		snprintf(r->err, r->errlen, "refused before any memory: %s", bad);
		mig_rx_reply(&r->ch, false, bad);
		return -EINVAL;
	}
	return mig_rx_reply(&r->ch, true, NULL);
}

int mig_rx_pages(struct receiver *r, const struct mig_rec *rec)
{
	struct mig_pages_hdr h;
	if (mig_recv_pages_hdr(&r->ch, rec, &h))
		return -EPROTO;
	uint64_t bytes = (uint64_t)h.count * SZ_4K;
	uint8_t *dst = h.count <= MIG_BATCH ? guest_mem_ptr(&r->m->vm.mem, h.gpa, bytes, GUEST_WRITE) : NULL;
	if (!dst || h.gpa % SZ_4K || rec->len != MIG_PAGES_HDR_SIZE + (h.zero ? 0 : bytes)) {
		snprintf(r->err, r->errlen, "bad page record (gpa 0x%llx, %u pages)", (unsigned long long)h.gpa, h.count);
		return -EPROTO;
	}
	uint64_t first;
	uint64_t *bits = filled_bits(&r->filled, h.gpa, &first);
	/* Besides refusing a sender that breaks the rule, this keeps the channels' writes to
	 * guest RAM and to the filled map's words apart. */
	if (!mig_share_holds(&r->share, first, h.count)) {
		snprintf(r->err, r->errlen, "page record on the wrong channel (gpa 0x%llx, %u pages, channel %u of %u)",
			 (unsigned long long)h.gpa, h.count, r->share.index + 1, r->share.count);
		return -EPROTO;
	}
	r->pass.pages += h.count;
	r->pass.zero_pages += h.zero ? h.count : 0;
	r->pass.bytes += MIG_REC_SIZE + rec->len;
	if (!h.zero) {
		bitmap_set_range(bits, first, h.count);
		return mig_recv(&r->ch, dst, bytes);
	}
	/* Writing zeros into fresh memory would allocate all of it: only pages that may
	 * hold data are looked at. */
	for (uint64_t p = 0; p < h.count; p++) {
		if (!bitmap_test(bits, first + p))
			continue;
		if (!page_is_zero(dst + p * SZ_4K))
			memset(dst + p * SZ_4K, 0, SZ_4K);
	}
	bitmap_clear_range(bits, first, h.count);
	return 0;
}

/* A range the sender will fill: the helpers fault it in ahead of the stream. Advice, yet
 * checked like a page record: it must lie inside guest RAM. */
int mig_rx_hint(struct receiver *r, const struct mig_rec *rec)
{
	struct mig_hint h;
	if (mig_recv_hint(&r->ch, rec, &h))
		return -EPROTO;
	uint8_t *p = h.len && h.len <= MIG_HINT_MAX && h.gpa % SZ_4K == 0 && h.len % SZ_4K == 0
			     ? guest_mem_ptr(&r->m->vm.mem, h.gpa, h.len, GUEST_READ) : NULL;
	if (!p) {
		snprintf(r->err, r->errlen, "bad hint record (gpa 0x%llx, %llu bytes)", (unsigned long long)h.gpa,
			 (unsigned long long)h.len);
		return -EPROTO;
	}
	populate_ahead_hint(r->ahead, p, h.len);
	return 0;
}

/* Everything of the pass is in place: say so, the sender waits for it. Pass 0 over
 * several channels is in place once each of them ended whole. */
static int recv_pass_end(struct receiver *r, const struct mig_rec *rec)
{
	uint32_t pass;
	int e = mig_recv_u32(&r->ch, rec, &pass);
	if (!e && r->share.count > 1)
		e = pass ? -EPROTO : mig_rx_end_pass0(r);
	if (e)
		return e;
	const struct mig_pass *p = &r->pass;
	uint64_t ns = now_ns() - r->pass_t0_ns;
	mig_log(r->log_fd, "pass", "destination", r->t0_ns,
		"\"pass\": %u, \"ms\": %.3f, \"pages\": %" PRIu64 ", \"zero_pages\": %" PRIu64 ", \"bytes\": %" PRIu64
		", \"mib_per_s\": %.1f", pass, (double)ns / 1e6, p->pages, p->zero_pages, p->bytes,
		ns ? (double)p->bytes / (1 << 20) / ((double)ns / 1e9) : 0.0);
	r->bytes += p->bytes;
	r->passes++;
	r->pass = (struct mig_pass){ 0 };
	r->pass_t0_ns = now_ns();
	return mig_send_u32(&r->ch, MIG_PASS_END, pass);
}

static int recv_state(struct receiver *r, uint32_t len)
{
	state_buf_free(&r->st);
	if (len > machine_state_max_len(r->m->vm.nr_vcpus)) {
		snprintf(r->err, r->errlen, "the sender's VM state of %u bytes is larger than any of %u vCPUs", len,
			 r->m->vm.nr_vcpus);
		return -EPROTO;
	}
	r->st.data = malloc(len ? len : 1);
	r->st.len = r->st.cap = len;
	return r->st.data ? mig_recv(&r->ch, r->st.data, len) : -ENOMEM;
}

/* Post-copy: the source's VM is paused; the pages it names missing (all, or those
 * discarded next) are fetched on demand once the guest runs here. */
static int recv_postcopy(struct receiver *r, const struct mig_rec *rec)
{
	uint32_t all;
	int e = !r->pc ? mig_recv_u32(&r->ch, rec, &all) : -EPROTO;
	if (!e && (e = postcopy_dst_begin(&r->pc, r->m, all != 0, r->log_fd, r->t0_ns, r->err, r->errlen)))
		mig_rx_reply(&r->ch, false, r->err);
	return e;
}

static int recv_discard(struct receiver *r, const struct mig_rec *rec)
{
	struct mig_discard d[MIG_DISCARD_BATCH];
	uint32_t n = 0;
	int e = r->pc ? mig_recv_discards(&r->ch, rec, d, &n) : -EPROTO;
	for (uint32_t k = 0; !e && k < n; k++)
		if ((e = postcopy_dst_discard(r->pc, d[k].gpa, d[k].count)) == -EPROTO)
			snprintf(r->err, r->errlen, "bad discard record (gpa 0x%llx, %llu pages)",
				 (unsigned long long)d[k].gpa, (unsigned long long)d[k].count);
	return e;
}

static int recv_end(struct receiver *r, bool mac_ok)
{
	uint64_t t0 = now_ns();
	int e = r->ch.keyed && !mac_ok ? -EPROTO : 0;
	/* Restoring may touch memory still at the source: the page threads must listen. */
	for (unsigned int k = 1; !e && r->pc && mig_rx_other(r, k); k++)
		e = postcopy_dst_add_channel(r->pc, mig_rx_other(r, k));
	if (!e && r->pc)
		e = postcopy_dst_run(r->pc, &r->ch);
	if (!e)
		e = machine_state_restore(r->m, &r->st, r->err, r->errlen);
	r->restore_ns = now_ns() - t0;
	if (e == -EPROTO && !r->err[0])
		snprintf(r->err, r->errlen, "the stream ended without its MAC");
	if (r->pc) {
		postcopy_dst_reply(r->pc, e == 0, e ? r->err : NULL);
	} else {
		mig_rx_reply(&r->ch, e == 0, e ? r->err : NULL);
	}
	return e ? e : 1;
}

/* One record of the stream; 1 at its end (the VM restored or refused). */
static int receive_record(struct receiver *r, const struct mig_rec *rec)
{
	bool was_mac_ok = r->mac_ok;
	r->mac_ok = false; /* the MAC must come right before the end */
	/* After the switch to post-copy pages come only through userfaultfd. */
	bool precopy_only = rec->type == MIG_PAGES || rec->type == MIG_PASS_END || rec->type == MIG_HINT;
	if (r->pc && precopy_only)
		return -EPROTO;
	/* While pass 0 comes over several channels the first carries only its share. */
	if (r->share.count > 1 && !precopy_only)
		return -EPROTO;
	switch (rec->type) {
	case MIG_CHANNELS:
		return mig_rx_channels(r, rec);
	case MIG_POSTCOPY:
		return recv_postcopy(r, rec);
	case MIG_DISCARD:
		return recv_discard(r, rec);
	case MIG_PAGES:
		return mig_rx_pages(r, rec);
	case MIG_PASS_END:
		return recv_pass_end(r, rec);
	case MIG_HINT:
		return mig_rx_hint(r, rec);
	case MIG_STATE:
		return recv_state(r, rec->len);
	case MIG_MAC: {
		int e = mig_check_mac(&r->ch, rec->len);
		if (e == -EBADMSG)
			snprintf(r->err, r->errlen, "the stream was altered on its way: its MAC does not match the key's");
		r->mac_ok = e == 0;
		return e;
	}
	case MIG_END:
		return recv_end(r, was_mac_ok);
	}
	return -EPROTO;
}

static void log_end(const struct receiver *r, int e)
{
	char error[512];
	json_escape(e ? r->err : "", error, sizeof(error));
	mig_log(r->log_fd, "end", "destination", r->t0_ns,
		"\"state\": \"%s\", \"error\": \"%s\", \"passes\": %" PRIu64 ", \"bytes\": %" PRIu64
		", \"total_ms\": %.3f, \"restore_ms\": %.3f, \"populated_ahead_mib\": %.1f, \"hints_dropped_mib\": %.1f"
		", \"channels\": %u",
		e ? "failed" : "done", error, r->passes, r->bytes + r->pass.bytes, (double)(now_ns() - r->t0_ns) / 1e6,
		(double)r->restore_ns / 1e6, (double)r->ahead->populated / (1 << 20), (double)r->ahead->dropped / (1 << 20),
		r->channels);
}

/* The stream after its handshake (ch: authenticated where there is a key). */
static int receive_stream(struct machine *m, const struct mig_chan *ch, int lfd, int log_fd,
			  struct postcopy_dst **pc, char *err, size_t errlen)
{
	struct populate_ahead ahead;
	struct receiver r = { .m = m, .err = err, .errlen = errlen, .log_fd = log_fd, .t0_ns = now_ns(), .lfd = lfd,
			      .ahead = &ahead, .channels = 1 };
	r.ch = *ch;
	r.pass_t0_ns = r.t0_ns;
	mig_log(log_fd, "start", "destination", r.t0_ns, "\"ram_mib\": %" PRIu64 ", \"vcpus\": %u",
		m->cfg.mem_size >> 20, m->vm.nr_vcpus);
	state_buf_init(&r.st);
	int e = filled_map_init(&r.filled, &m->vm.mem);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	populate_ahead_start(r.ahead, cpus > 0 ? (unsigned int)cpus : 1, m->vm.mem.backend.page_size);
	struct mig_rec rec;
	if (!e && !(e = mig_recv_rec(&r.ch, &rec)))
		e = rec.type == MIG_HELLO ? recv_hello(&r, rec.len) : -EPROTO;
	while (!e && !(e = mig_recv_rec(&r.ch, &rec)))
		e = receive_record(&r, &rec);
	mig_rx_close_others(&r, e != 0 && e != 1);
	populate_ahead_stop(r.ahead);
	state_buf_free(&r.st);
	filled_map_free(&r.filled);
	if (e == 1)
		e = 0;
	if (e && !err[0])
		snprintf(err, errlen, "%s", e == -ECONNRESET ? "the sender went away before the end" :
			 e == -EPROTO ? "the stream is not a pagoda migration" : strerror(-e));
	log_end(&r, e);
	if (e && r.pc) {
		postcopy_dst_abort(r.pc);
		postcopy_dst_finish(r.pc);
		r.pc = NULL;
	}
	*pc = r.pc;
	return e;
}

/* A connection's start: the greeting, both proofs of the key where there is one, and the
 * stream's first byte (a peer that connects and leaves never gets that far), each within
 * HANDSHAKE_TIMEOUT_S. 0, or -errno with the reason in err. */
static int handshake(struct machine *m, struct mig_chan *ch, char *err, size_t errlen)
{
	int e = mig_set_timeout(ch->fd, HANDSHAKE_TIMEOUT_S);
	if (!e)
		e = mig_auth_receiver(ch, mig_key_of(&m->cfg), err, errlen);
	if (e)
		return e;
	uint8_t first;
	ssize_t k = recv(ch->fd, &first, 1, MSG_PEEK);
	if (k != 1) {
		snprintf(err, errlen, "%s", k == 0 ? "it left without sending anything"
				      : "it sent nothing within " STR(HANDSHAKE_TIMEOUT_S) " s");
		return k == 0 ? -ECONNRESET : -ETIMEDOUT;
	}
	return mig_tune_socket(ch->fd);
}

int mig_rx_accept(struct machine *m, int lfd, int watch_fd, double timeout_s, struct mig_chan *ch, char *err,
		  size_t errlen)
{
	uint64_t deadline = timeout_s > 0 ? now_ns() + (uint64_t)(timeout_s * 1e9) : 0;
	for (unsigned int failed = 0;;) {
		int64_t left_ms = deadline ? ((int64_t)deadline - (int64_t)now_ns()) / 1000000 : -1;
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = watch_fd, .events = POLLIN } };
		if ((deadline && left_ms <= 0) || poll(p, watch_fd >= 0 ? 2 : 1, deadline ? (int)left_ms : -1) <= 0) {
			snprintf(err, errlen, "no migration arrived within %g s", timeout_s);
			return -ETIMEDOUT;
		}
		if (watch_fd >= 0 && p[1].revents) {
			snprintf(err, errlen, "the sender's first connection ended or spoke out of turn");
			return -ECONNRESET;
		}
		ch->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (ch->fd < 0) {
			if (errno == ECONNABORTED || errno == EINTR)
				continue;
			snprintf(err, errlen, "accept: %s", strerror(errno));
			return -errno;
		}
		char why[256] = "";
		int e = handshake(m, ch, why, sizeof(why));
		if (!e)
			return 0;
		close(ch->fd);
		*ch = (struct mig_chan){ .fd = -1 };
		if (++failed == HANDSHAKE_TRIES) {
			snprintf(err, errlen, "%u peers in a row failed the handshake, the last: %.180s", failed, why);
			return -EACCES;
		}
		fprintf(stderr, "pagoda: incoming: a peer failed the handshake (%s): dropped, still waiting (%u of %u)\n",
			why[0] ? why : strerror(-e), failed, HANDSHAKE_TRIES);
	}
}

int migration_receive(struct machine *m, const char *uri, double timeout_s, int log_fd, struct postcopy_dst **pc,
		      char *err, size_t errlen)
{
	char why[256] = "";
	int lfd = mig_socket(uri, true, why, sizeof(why));
	if (lfd < 0) {
		snprintf(err, errlen, "--incoming %s", why);
		return lfd;
	}
	fprintf(stderr, "pagoda: waiting for a migration on %s\n", uri);
	static struct mig_chan ch; /* 64 KiB of write buffer: not on the stack */
	int e = mig_rx_accept(m, lfd, -1, timeout_s, &ch, why, sizeof(why));
	*pc = NULL;
	/* Listening on: the sender may ask for more channels (mig_channels.h). */
	if (!e)
		e = receive_stream(m, &ch, lfd, log_fd, pc, why, sizeof(why));
	close(lfd);
	if (!strncmp(uri, "unix:", 5))
		unlink(uri + 5);
	if (ch.fd >= 0)
		close(ch.fd); /* in post-copy the page thread has a descriptor of its own */
	if (e)
		snprintf(err, errlen, "incoming migration failed: %s", why);
	return e;
}

int migration_receive_fd(struct machine *m, int fd, int log_fd, struct postcopy_dst **pc, char *err, size_t errlen)
{
	static struct mig_chan ch;
	ch = (struct mig_chan){ .fd = fd };
	err[0] = 0;
	*pc = NULL;
	int e = handshake(m, &ch, err, errlen);
	return e ? e : receive_stream(m, &ch, -1, log_fd, pc, err, errlen);
}
