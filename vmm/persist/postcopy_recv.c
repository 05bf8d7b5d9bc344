/* The destination's side of post-copy (postcopy.h). Two threads: the fault thread reads
 * userfaultfd and asks the source for each missing page touched (a whole huge page on
 * hugetlb); the page thread reads the source's page records and puts them in place,
 * which wakes whoever waits for them. The memory side is mem/uffd_fill.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_log.h"
#include "mig_proto.h"
#include "postcopy.h"
#include "../../mem/ram.h"
#include "../../mem/uffd_fill.h"
#include "../../util/clock.h"
#include "../../util/err.h"
#include "../../util/json.h"

/* A vCPU waiting on one page likely touches the next ones soon: ask for a few. */
#define REQ_AHEAD 16

/* Another channel of the migration (mig_channels.h): the source pushes pages on it. */
struct pc_channel {
	struct postcopy_dst *p;
	struct mig_chan rx;              /* a descriptor of its own, the MAC's state carried on */
	pthread_t thread;
	bool started;
	int e;
	char err[200];
	uint8_t bounce[MIG_BATCH * SZ_4K];
};

struct postcopy_dst {
	struct machine *m;
	struct pc_channel *others[MIG_MAX_CHANNELS];
	unsigned int nr_others;
	struct mig_chan ch;              /* handed over at the stream's end: the sending half */
	struct mig_chan rx;              /* the same connection's receiving half, the page
					  * thread's alone (its write buffer stays empty) */
	pthread_mutex_t tx_lock;         /* the fault thread's requests and the page thread's end */
	struct uffd_fill *fill;
	int stop_efd;
	pthread_t fault_thread, page_thread;
	bool fault_started, page_started;
	int log_fd;
	uint64_t t0_ns, t_run_ns;
	uint64_t bytes;
	int result;                      /* 0 once all memory arrived, else -errno */
	char err[256];
	uint8_t bounce[MIG_BATCH * SZ_4K];
};

/* The fault thread asks while the page thread confirms: one record and its MAC at a
 * time. Between send_begin and send_end, the caller sends one record. */
static void send_begin(struct postcopy_dst *p)
{
	pthread_mutex_lock(&p->tx_lock);
}

static int send_end(struct postcopy_dst *p, int e)
{
	if (!e)
		e = mig_send_mac(&p->ch);
	pthread_mutex_unlock(&p->tx_lock);
	return e;
}

/* ---- the fault thread ---- */

static int request(void *ctx, uint64_t gpa, uint32_t pages)
{
	struct postcopy_dst *p = ctx;
	struct ram_region reg;
	uint64_t page, n = ram_fault_span(&p->m->vm.mem, gpa, pages, REQ_AHEAD, &reg, &page);
	if (!n)
		return -EFAULT; /* uffd_fill registers RAM only */
	struct mig_page_req r = { gpa, (uint32_t)n };
	send_begin(p);
	return send_end(p, mig_send_page_req(&p->ch, &r));
}

/* A failure to ask means the connection is gone: the page thread reports it. */
static void *fault_thread(void *arg)
{
	struct postcopy_dst *p = arg;
	uffd_fill_serve(p->fill, p->stop_efd, request, p);
	return NULL;
}

/* ---- the page thread ---- */

/* A page record from rx, read into bounce and put in place; why it was refused in err. */
static int take_pages(struct postcopy_dst *p, struct mig_chan *rx, uint8_t *bounce, const struct mig_rec *rec,
		      char *err, size_t errlen)
{
	struct mig_pages_hdr h;
	if (mig_recv_pages_hdr(rx, rec, &h))
		return -EPROTO;
	uint64_t bytes = (uint64_t)h.count * SZ_4K;
	bool ok = h.count && h.count <= MIG_BATCH && h.gpa % SZ_4K == 0 &&
		  rec->len == MIG_PAGES_HDR_SIZE + (h.zero ? 0 : bytes) &&
		  guest_mem_ptr(&p->m->vm.mem, h.gpa, bytes, GUEST_READ);
	if (!ok) {
		snprintf(err, errlen, "bad page record (gpa 0x%" PRIx64 ", %u pages)", h.gpa, h.count);
		return -EPROTO;
	}
	int e = h.zero ? 0 : mig_recv(rx, bounce, bytes);
	/* With a key, nothing reaches the running guest before its MAC is checked. */
	if (!e)
		e = mig_recv_mac_after(rx);
	if (e == -EBADMSG)
		snprintf(err, errlen, "a page record was altered on its way: its MAC does not match");
	__atomic_fetch_add(&p->bytes, MIG_REC_SIZE + rec->len, __ATOMIC_RELAXED);
	return e ? e : uffd_fill_put(p->fill, h.gpa, h.count, h.zero ? NULL : bounce);
}

/* ---- the other channels' page threads ---- */

/* Pushed pages until the channel's MIG_POSTCOPY_DONE. */
static void *channel_thread(void *arg)
{
	struct pc_channel *c = arg;
	struct mig_rec rec;
	int e;
	while (!(e = mig_recv_rec(&c->rx, &rec)) && rec.type == MIG_PAGES)
		if ((e = take_pages(c->p, &c->rx, c->bounce, &rec, c->err, sizeof(c->err))))
			break;
	if (!e)
		e = rec.type == MIG_POSTCOPY_DONE && !rec.len ? mig_recv_mac_after(&c->rx) : -EPROTO;
	if (e) /* the first channel's page thread ends too, and says why (join_channels) */
		shutdown(c->p->rx.fd, SHUT_RDWR);
	c->e = e;
	return NULL;
}

/* Waits for the other channels' end (cut: cuts them first). 0 when each ended with its
 * MIG_POSTCOPY_DONE; else the first one's error, in p->err unless it holds one. */
static int join_channels(struct postcopy_dst *p, bool cut)
{
	int e = 0;
	for (unsigned int k = 0; k < p->nr_others; k++)
		if (cut && p->others[k]->started)
			shutdown(p->others[k]->rx.fd, SHUT_RDWR);
	for (unsigned int k = 0; k < p->nr_others; k++) {
		struct pc_channel *c = p->others[k];
		if (!c->started)
			continue;
		pthread_join(c->thread, NULL);
		c->started = false;
		if (c->e && !e) {
			e = c->e;
			if (!p->err[0])
				snprintf(p->err, sizeof(p->err), "channel %u: %s", k + 2,
					 c->err[0] ? c->err : c->e == -EPROTO ? "not a pagoda migration" : strerror(-c->e));
		}
	}
	return e;
}

/* The source's end: everything must be here, from every channel. 1 when so. */
static int take_done(struct postcopy_dst *p, uint32_t len)
{
	int e = len ? -EPROTO : mig_recv_mac_after(&p->rx);
	if (!e)
		e = join_channels(p, false);
	uint64_t missing = uffd_fill_missing(p->fill);
	if (!e && missing) {
		snprintf(p->err, sizeof(p->err), "the source ended with %" PRIu64 " pages never sent", missing);
		e = -EPROTO;
	}
	if (e)
		return e;
	send_begin(p);
	return send_end(p, mig_send_rec(&p->ch, MIG_POSTCOPY_DONE, NULL, 0)) ?: 1;
}

static int page_loop(struct postcopy_dst *p)
{
	for (;;) {
		struct mig_rec rec;
		int e = mig_recv_rec(&p->rx, &rec);
		if (!e)
			e = rec.type == MIG_PAGES ? take_pages(p, &p->rx, p->bounce, &rec, p->err, sizeof(p->err))
			    : rec.type == MIG_POSTCOPY_DONE ? take_done(p, rec.len) : -EPROTO;
		if (e)
			return e == 1 ? 0 : e;
	}
}

static void log_end(struct postcopy_dst *p)
{
	struct uffd_fill_stats s;
	uffd_fill_stats(p->fill, &s);
	char hist[UFFD_FILL_HIST * 24] = "", error[512];
	size_t n = 0;
	for (unsigned int b = 0; b < UFFD_FILL_HIST && n < sizeof(hist); b++)
		if (s.hist[b])
			n += (size_t)snprintf(hist + n, sizeof(hist) - n, "%s\"%llu\": %" PRIu64, n ? ", " : "",
					      2ull << b, s.hist[b]);
	json_escape(p->result ? p->err : "", error, sizeof(error));
	double ms = (double)(now_ns() - p->t_run_ns) / 1e6;
	uint64_t p50 = uffd_fill_percentile_us(&s, 0.5), p99 = uffd_fill_percentile_us(&s, 0.99);
	mig_log(p->log_fd, "faults", "destination", p->t0_ns,
		"\"faults\": %" PRIu64 ", \"requests\": %" PRIu64 ", \"unit_pages\": %u, \"p50_us\": %" PRIu64
		", \"p99_us\": %" PRIu64 ", \"hist_us\": {%s}", s.faults, s.misses, uffd_fill_unit_pages(p->fill), p50,
		p99, hist);
	mig_log(p->log_fd, "postcopy_end", "destination", p->t0_ns,
		"\"state\": \"%s\", \"error\": \"%s\", \"pages\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"ms\": %.3f",
		p->result ? "failed" : "done", error, s.pages_in, p->bytes, ms);
	fprintf(stderr, "pagoda: post-copy: %s: %" PRIu64 " pages in %.1f ms after the guest started, %" PRIu64
		" remote faults (p50 %" PRIu64 " us, p99 %" PRIu64 " us)%s%s\n", p->result ? "failed" : "all memory here",
		s.pages_in, ms, s.misses, p50, p99, p->result ? ": " : "", p->result ? p->err : "");
}

static void *page_thread(void *arg)
{
	struct postcopy_dst *p = arg;
	p->result = page_loop(p);
	/* A channel that failed first cut this one: its reason is the one to give. */
	(void)join_channels(p, p->result != 0);
	if (p->result) {
		if (!p->err[0])
			snprintf(p->err, sizeof(p->err), "%s", p->result == -ECONNRESET ? "the source went away" :
				 p->result == -EPROTO ? "the stream is not a pagoda migration" : strerror(-p->result));
		/* The guest cannot go on without its memory. The vCPUs waiting for pages are
		 * let go only once the VM is stopping (closing userfaultfd maps zero pages). */
		vm_request_exit(&p->m->vm, EXIT_MEMORY_LOST, "post-copy: %s; the guest's memory is incomplete", p->err);
	}
	uint64_t one = 1;
	if (write(p->stop_efd, &one, sizeof(one)) < 0) {
		/* an eventfd's counter cannot overflow from one write */
	}
	pthread_join(p->fault_thread, NULL);
	p->fault_started = false;
	uffd_fill_release(p->fill);
	log_end(p);
	return NULL;
}

/* ---- setup ---- */

int postcopy_dst_begin(struct postcopy_dst **out, struct machine *m, bool all, int log_fd, uint64_t t0_ns,
		       char *err, size_t errlen)
{
	struct postcopy_dst *p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(err, errlen, -ENOMEM, "post-copy: out of memory");
	/* calloc zeroed it (a compound literal would put its megabyte on the stack). */
	p->m = m;
	p->ch.fd = p->rx.fd = p->stop_efd = -1;
	p->log_fd = log_fd;
	p->t0_ns = t0_ns;
	pthread_mutex_init(&p->tx_lock, NULL);
	*out = p;
	char why[200];
	int e = uffd_fill_open(&p->fill, &m->vm.mem, all, why, sizeof(why));
	if (e)
		return err_set(err, errlen, e, "post-copy: %s", why);
	p->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (p->stop_efd < 0)
		return err_set(err, errlen, -errno, "post-copy: eventfd: %s", strerror(errno));
	if ((e = -pthread_create(&p->fault_thread, NULL, fault_thread, p)))
		err_set(err, errlen, e, "post-copy: fault thread: %s", strerror(-e));
	p->fault_started = !e;
	return e;
}

int postcopy_dst_discard(struct postcopy_dst *p, uint64_t gpa, uint64_t count)
{
	int e = uffd_fill_discard(p->fill, gpa, count);
	return e == -EINVAL ? -EPROTO : e;
}

int postcopy_dst_add_channel(struct postcopy_dst *p, const struct mig_chan *ch)
{
	struct pc_channel *c = p->nr_others < MIG_MAX_CHANNELS - 1 ? calloc(1, sizeof(*c)) : NULL;
	if (!c)
		return -ENOMEM;
	c->p = p;
	c->rx = *ch;
	c->rx.fd = fcntl(ch->fd, F_DUPFD_CLOEXEC, 0);
	if (c->rx.fd < 0) {
		free(c);
		return -errno;
	}
	int buf = POSTCOPY_SOCK_BUF;
	(void)setsockopt(c->rx.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	p->others[p->nr_others++] = c;
	return 0;
}

/* The other channels' page threads, with the first one's. */
static int start_channels(struct postcopy_dst *p)
{
	for (unsigned int k = 0; k < p->nr_others; k++) {
		int e = -pthread_create(&p->others[k]->thread, NULL, channel_thread, p->others[k]);
		p->others[k]->started = !e;
		if (e)
			return e;
	}
	return 0;
}

int postcopy_dst_run(struct postcopy_dst *p, const struct mig_chan *ch)
{
	p->ch = *ch;
	/* A descriptor of its own: the receiver closes its one as always. */
	p->ch.fd = fcntl(ch->fd, F_DUPFD_CLOEXEC, 0);
	if (p->ch.fd < 0)
		return -errno;
	p->rx = p->ch;
	/* Pages asked for queue behind what is buffered: little buffering, short waits. */
	int buf = POSTCOPY_SOCK_BUF;
	(void)setsockopt(p->ch.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	p->t_run_ns = now_ns();
	int e = start_channels(p);
	if (!e)
		e = -pthread_create(&p->page_thread, NULL, page_thread, p);
	p->page_started = !e;
	if (e)
		join_channels(p, true);
	return e;
}

int postcopy_dst_reply(struct postcopy_dst *p, bool ok, const char *msg)
{
	send_begin(p);
	return send_end(p, mig_send_reply(&p->ch, ok, msg));
}

void postcopy_dst_abort(struct postcopy_dst *p)
{
	if (p && p->page_started) {
		shutdown(p->ch.fd, SHUT_RDWR);
		for (unsigned int k = 0; k < p->nr_others; k++)
			shutdown(p->others[k]->rx.fd, SHUT_RDWR);
	}
}

void postcopy_dst_finish(struct postcopy_dst *p)
{
	if (!p)
		return;
	if (p->page_started)
		pthread_join(p->page_thread, NULL);
	if (p->fault_started) { /* the page thread never ran */
		uint64_t one = 1;
		if (write(p->stop_efd, &one, sizeof(one)) == sizeof(one))
			pthread_join(p->fault_thread, NULL);
	}
	uffd_fill_free(p->fill);
	if (p->stop_efd >= 0)
		close(p->stop_efd);
	if (p->ch.fd >= 0)
		close(p->ch.fd);
	for (unsigned int k = 0; k < p->nr_others; k++) {
		close(p->others[k]->rx.fd);
		free(p->others[k]);
	}
	pthread_mutex_destroy(&p->tx_lock);
	free(p);
}
