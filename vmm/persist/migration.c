#include "migration.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "machine_state.h"
#include "mig_channel.h"
#include "mig_channels.h"
#include "mig_log.h"
#include "mig_order.h"
#include "mig_policy.h"
#include "mig_proto.h"
#include "mig_stream.h"
#include "postcopy.h"
#include "../../util/clock.h"
#include "../core/vcpu_loop.h"

/* ---- sender ---- */

struct sender {
	struct migration *mg;
	struct machine *m;
	struct mig_chan ch;
	struct mig_channels chans;     /* the other connections, for pass 0 */
	uint64_t last_kick_ns;
	struct mig_pass cur, last;     /* the pass being sent, and the one before it */
	struct mig_order order;
	struct mig_stream stream;      /* writes the pages, counted in cur */
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
static void throttle_tick(void *ctx)
{
	struct sender *s = ctx;
	unsigned int pct = atomic_load(&s->m->vm.throttle_pct);
	uint64_t now = now_ns();
	if (!pct || now - s->last_kick_ns < 10000000)
		return;
	s->last_kick_ns = now;
	for (unsigned int i = 0; i < s->m->vm.nr_vcpus; i++)
		vcpu_loop_kick(&s->m->vm.vcpus[i]);
}

/* The receiver's word that all of the pass is in place (mig_proto.h). */
static int wait_pass_ack(struct mig_chan *ch, uint32_t pass)
{
	struct mig_rec r;
	uint32_t got = 0;
	int e = mig_recv_rec(ch, &r);
	if (!e)
		e = r.type == MIG_PASS_END ? mig_recv_u32(ch, &r, &got) : -EPROTO;
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
	int e = mig_send_u32(&s->ch, MIG_PASS_END, pass);
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
	mig_report_pass(pass, &s->cur);
	s->last = s->cur;
	s->cur = (struct mig_pass){ 0 };
	return e;
}

/* The receiver's answer; with a key, followed by the MAC of all it sent. */
static int read_reply(struct mig_chan *ch, struct mig_reply *r)
{
	struct mig_rec rec;
	int e = mig_recv_rec(ch, &rec);
	if (!e)
		e = rec.type == MIG_REPLY ? mig_recv_reply(ch, &rec, r) : -EPROTO;
	return e ? e : mig_recv_mac_after(ch);
}

/* The other connections pass 0 and post-copy's push go over, once the receiver took
 * the header. */
static int open_channels(struct sender *s)
{
	struct migration *mg = s->mg;
	unsigned int n = mg->channels;
	char err[256] = "";
	int e = mig_channels_open(&s->chans, n, &s->ch, mg->uri, mig_key_of(&s->m->cfg), mg->chan_fds, err,
				  sizeof(err));
	s->chans.keep = mg->mode != MIG_PRECOPY;
	struct mig_reply r;
	if (!e && n > 1)
		e = read_reply(&s->ch, &r);
	if (!e && n > 1 && !r.ok) {
		set_error(mg, MIG_FAILED, "the receiver refused the channels: %.200s", r.msg);
		return -EINVAL;
	}
	if (e && err[0])
		set_error(mg, MIG_FAILED, "%s", err);
	return e;
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
	return e ? e : open_channels(s);
}

/* Pages still dirty, the rate they are dirtied at, and whether to stop and copy now
 * (mig_policy.h); a throttle raised is applied at once. */
static bool converged(struct sender *s, uint64_t dirty, double pass_s)
{
	struct migration *mg = s->mg;
	pthread_mutex_lock(&mg->lock);
	struct mig_policy_in in = { .pass = mg->pass, .dirty_pages = dirty, .pass_s = pass_s, .link_bps = mg->link_bps,
				    .throttle_pct = mg->throttle_pct, .downtime_limit_ms = mg->downtime_limit_ms };
	struct mig_policy_out out = mig_policy_decide(&in);
	mg->remaining_pages = dirty;
	mg->dirty_rate_pps = out.dirty_pages_per_s;
	mg->throttle_pct = out.throttle_pct;
	pthread_mutex_unlock(&mg->lock);
	if (out.throttle_pct != in.throttle_pct)
		atomic_store(&s->m->vm.throttle_pct, out.throttle_pct);
	mig_report_policy(mg, &in, &out, &s->last);
	return out.stop;
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
	mig_order_pass0(&s->order);
	if (!e)
		e = mig_channels_pass0(&s->chans, &s->stream);
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
		e = mig_stream_dirty(&s->stream, true);
		if (!e)
			e = end_pass(s, t1);
	}
	return e;
}

/* Pure post-copy sends no pass 0, except over several channels, where the receiver
 * waits for one: then an empty one. 1 to go on to the stop. */
static int empty_pass0(struct sender *s)
{
	if (s->chans.n <= 1)
		return 1;
	uint64_t t0 = now_ns();
	int e = mig_channels_empty_pass0(&s->chans);
	if (!e)
		e = end_pass(s, t0);
	if (!e)
		mig_log_pass(s->mg, 0, &s->last, false, "%s", "");
	return e ? e : 1;
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
	int e = postcopy_src_init(&pc, &s->ch, &s->chans, s->m, mg->mode == MIG_POSTCOPY_ONLY);
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
	struct mig_pass last = pc.sent;
	last.ns = now_ns() - t_serve;
	mig_log_pass(mg, mg->passes_sent, &last, true, ", \"postcopy\": true, \"pushed_pages\": %" PRIu64
		 ", \"hot_pages\": %" PRIu64 ", \"pushed_hot_first\": %" PRIu64 ", \"requests\": %" PRIu64, pc.pushed,
		 pc.hot_pages, pc.pushed_hot, pc.requested);
	set_downtime(mg, (pc.started ? pc.t_started_ns : now_ns()) - t0);
	mg->stop.reply_ns = mg->downtime_ns - mg->stop.pause_ns - mg->stop.quiesce_ns - mg->stop.pages_ns -
			    mg->stop.state_ns;
	mg->pc_pushed = pc.pushed;
	mg->pc_requested = pc.requested;
	pthread_mutex_lock(&mg->lock);
	mg->bytes_total += pc.sent.bytes;
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
		e = mig_stream_dirty(&s->stream, false);
	if (!e)
		e = end_pass(s, t0);
	if (!e)
		mig_log_pass(mg, mg->pass, &s->last, true, "%s", "");
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

static void *sender_thread(void *arg)
{
	struct migration *mg = arg;
	struct sender s = { .mg = mg, .m = mg->m, .ch.fd = -1 };
	char err[256] = "";
	s.ch.fd = mig_socket(mg->uri, false, err, sizeof(err));
	int e = s.ch.fd < 0 ? s.ch.fd : mig_tune_socket(s.ch.fd);
	if (e)
		set_error(mg, MIG_FAILED, "%s", err[0] ? err : "setting the connection's timeouts failed");
	mig_log_start(mg);
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
	s.stream = (struct mig_stream){ .ch = &s.ch, .mem = &mg->m->vm.mem, .dirty = &mg->m->dirty, .order = &s.order,
					.count = &s.cur, .after_record = throttle_tick, .ctx = &s };
	bool logging = !e && track;
	int go = e ? e : track ? precopy(&s) : empty_pass0(&s);
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
		mig_report_done(mg);
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
	mig_log_end(mg);
	mig_channels_close(&s.chans);
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
	for (unsigned int k = 0; k < MIG_MAX_CHANNELS; k++)
		atomic_store(&mg->chan_fds[k], -1);
	if (mg->channels < 1 || mg->channels > MIG_MAX_CHANNELS)
		mg->channels = 1;
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
	for (unsigned int k = 1; k < MIG_MAX_CHANNELS; k++)
		if ((fd = atomic_load(&mg->chan_fds[k])) >= 0)
			shutdown(fd, SHUT_RDWR);
}

void migration_join(struct migration *mg)
{
	if (mg->thread_started)
		pthread_join(mg->thread, NULL);
	mg->thread_started = false;
}
