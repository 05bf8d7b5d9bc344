/* The destination's side of post-copy (postcopy.h). Two threads: the fault thread reads
 * userfaultfd and asks the source for each missing page touched; the page thread reads
 * the source's page records and installs them with UFFDIO_COPY (which wakes whoever waits
 * for them). A page's "arrived" bit is set only once it is in place, so a fault on an
 * arrived page that is not mapped can only be a zero page. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mig_log.h"
#include "mig_proto.h"
#include "postcopy.h"
#include "../../util/clock.h"
#include "../../util/err.h"
#include "../../util/json.h"

#define PENDING 1024           /* requests remembered for their latency */
#define HIST_BUCKETS 32        /* latency bucket k: [2^k, 2^(k+1)) microseconds */

struct pending_req {
	uint64_t gpa, t_ns;
};

struct postcopy_dst {
	struct machine *m;
	struct mig_chan ch;              /* handed over at the stream's end: the sending half */
	struct mig_chan rx;              /* the same connection's receiving half, the page
					  * thread's alone (its write buffer stays empty) */
	pthread_mutex_t tx_lock;         /* the fault thread's requests and the page thread's end */
	int uffd, stop_efd;
	bool shmem;                      /* a memfd backing */
	uint64_t **arrived;              /* per memslot, a bit per 4K page in place (atomic) */
	uint64_t **requested;
	uint64_t missing;                /* pages the source still owes */
	pthread_t fault_thread, page_thread;
	bool fault_started, page_started;
	int log_fd;
	uint64_t t0_ns, t_run_ns;
	pthread_mutex_t stats_lock;
	struct pending_req pending[PENDING];
	uint64_t faults, requests, pages_in, bytes, hist[HIST_BUCKETS];
	int result;                      /* 0 once all memory arrived, else -errno */
	char err[256];
	uint8_t bounce[MIG_BATCH * SZ_4K];
};

/* The two threads share the maps: every access is atomic. */
static bool bit(uint64_t *b, uint64_t i)
{
	return (__atomic_load_n(&b[i / 64], __ATOMIC_SEQ_CST) >> (i % 64)) & 1;
}

static void set_bit_to(uint64_t *b, uint64_t i, bool on)
{
	if (on)
		__atomic_fetch_or(&b[i / 64], 1ull << (i % 64), __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&b[i / 64], ~(1ull << (i % 64)), __ATOMIC_SEQ_CST);
}

/* The memslot index and page of a host address in guest RAM, or -1. */
static int locate_hva(const struct postcopy_dst *p, uint64_t hva, uint64_t *page)
{
	const struct memslot_table *t = &p->m->vm.mem.slots;
	for (uint32_t i = 0; i < t->nr; i++) {
		uint64_t base = (uint64_t)(uintptr_t)t->slots[i].hva;
		if (hva - base < t->slots[i].size) {
			*page = (hva - base) / SZ_4K;
			return (int)i;
		}
	}
	return -1;
}

static int send_locked(struct postcopy_dst *p, uint32_t type, const void *data, size_t len)
{
	pthread_mutex_lock(&p->tx_lock);
	int e = mig_send_rec(&p->ch, type, data, len);
	if (!e)
		e = mig_send_mac(&p->ch);
	pthread_mutex_unlock(&p->tx_lock);
	return e;
}

/* ---- the fault thread ---- */

static void note_request(struct postcopy_dst *p, uint64_t gpa)
{
	pthread_mutex_lock(&p->stats_lock);
	p->pending[p->requests % PENDING] = (struct pending_req){ gpa, now_ns() };
	p->requests++;
	pthread_mutex_unlock(&p->stats_lock);
}

static int on_fault(struct postcopy_dst *p, uint64_t addr)
{
	uint64_t page;
	int i = locate_hva(p, addr & ~(uint64_t)(SZ_4K - 1), &page);
	if (i < 0)
		return -EFAULT; /* registered ranges are guest RAM only */
	p->faults++;
	const struct memslot *sl = &p->m->vm.mem.slots.slots[i];
	uint64_t hva = (uint64_t)(uintptr_t)sl->hva + page * SZ_4K;
	if (bit(p->arrived[i], page)) {
		/* In place yet unmapped: a zero page. EEXIST: mapped meanwhile; wake anyway. */
		struct uffdio_zeropage z = { .range = { hva, SZ_4K } };
		if (ioctl(p->uffd, UFFDIO_ZEROPAGE, &z) && errno == EEXIST) {
			struct uffdio_range r = { hva, SZ_4K };
			ioctl(p->uffd, UFFDIO_WAKE, &r);
		}
		return 0;
	}
	if (__atomic_fetch_or(&p->requested[i][page / 64], 1ull << (page % 64), __ATOMIC_SEQ_CST) & (1ull << (page % 64)))
		return 0; /* asked already: its copy wakes every waiter */
	uint64_t gpa = sl->gpa + page * SZ_4K;
	note_request(p, gpa);
	return send_locked(p, MIG_PAGE_REQ, &gpa, sizeof(gpa));
}

static void *fault_thread(void *arg)
{
	struct postcopy_dst *p = arg;
	for (;;) {
		struct pollfd pf[2] = { { .fd = p->uffd, .events = POLLIN }, { .fd = p->stop_efd, .events = POLLIN } };
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		struct uffd_msg msg[16];
		ssize_t n = read(p->uffd, msg, sizeof(msg));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		for (ssize_t k = 0; k < n / (ssize_t)sizeof(msg[0]); k++)
			if (msg[k].event == UFFD_EVENT_PAGEFAULT && on_fault(p, msg[k].arg.pagefault.address))
				return NULL; /* the connection is gone: the page thread reports it */
	}
	return NULL;
}

/* ---- the page thread ---- */

static void note_arrival(struct postcopy_dst *p, uint64_t gpa)
{
	pthread_mutex_lock(&p->stats_lock);
	uint64_t first = p->requests > PENDING ? p->requests - PENDING : 0;
	for (uint64_t k = first; k < p->requests; k++) {
		struct pending_req *r = &p->pending[k % PENDING];
		if (r->gpa != gpa || !r->t_ns)
			continue;
		uint64_t us = (now_ns() - r->t_ns) / 1000;
		unsigned int b = 0;
		while (b + 1 < HIST_BUCKETS && us >= (2ull << b))
			b++;
		p->hist[b]++;
		r->t_ns = 0;
		break;
	}
	pthread_mutex_unlock(&p->stats_lock);
}

/* Pages [page, page + n) of slot i, all missing, into place in one call (data NULL:
 * zero pages). EEXIST: the fault thread mapped a zero page into one of them meanwhile
 * (it was asked for after the record left); that page and the rest are then done one by
 * one. */
static int install(struct postcopy_dst *p, uint32_t i, uint64_t page, uint32_t n, const uint8_t *data)
{
	const struct memslot *sl = &p->m->vm.mem.slots.slots[i];
	uint64_t hva = (uint64_t)(uintptr_t)sl->hva + page * SZ_4K, len = (uint64_t)n * SZ_4K;
	int r;
	if (data) {
		struct uffdio_copy c = { .dst = hva, .src = (uint64_t)(uintptr_t)data, .len = len };
		r = ioctl(p->uffd, UFFDIO_COPY, &c);
	} else {
		struct uffdio_zeropage z = { .range = { hva, len } };
		r = ioctl(p->uffd, UFFDIO_ZEROPAGE, &z);
	}
	if (r && errno != EEXIST)
		return -errno;
	if (r && n > 1) { /* some went in before the clash: copying them again is harmless */
		for (uint32_t k = 0; k < n; k++) {
			int e = install(p, i, page + k, 1, data ? data + (uint64_t)k * SZ_4K : NULL);
			if (e)
				return e;
		}
		return 0;
	}
	for (uint32_t k = 0; k < n; k++) {
		set_bit_to(p->arrived[i], page + k, true);
		if (bit(p->requested[i], page + k))
			note_arrival(p, sl->gpa + (page + k) * SZ_4K);
	}
	p->pages_in += n;
	return 0;
}

static int take_pages(struct postcopy_dst *p, uint32_t len)
{
	struct mig_pages_hdr h;
	if (len < sizeof(h) || mig_recv(&p->rx, &h, sizeof(h)))
		return -EPROTO;
	uint64_t bytes = (uint64_t)h.count * SZ_4K;
	bool ok = h.count && h.count <= MIG_BATCH && h.gpa % SZ_4K == 0 && len == sizeof(h) + (h.zero ? 0 : bytes) &&
		  guest_mem_ptr(&p->m->vm.mem, h.gpa, bytes, GUEST_READ);
	if (!ok) {
		snprintf(p->err, sizeof(p->err), "bad page record (gpa 0x%" PRIx64 ", %u pages)", h.gpa, h.count);
		return -EPROTO;
	}
	int e = h.zero ? 0 : mig_recv(&p->rx, p->bounce, bytes);
	uint32_t hdr[2];
	/* With a key, nothing reaches the running guest before its MAC is checked. */
	if (!e && p->ch.keyed && !(e = mig_recv(&p->rx, hdr, sizeof(hdr))))
		e = hdr[0] == MIG_MAC ? mig_check_mac(&p->rx, hdr[1]) : -EPROTO;
	if (e == -EBADMSG)
		snprintf(p->err, sizeof(p->err), "a page record was altered on its way: its MAC does not match");
	p->bytes += 8 + len;
	const struct memslot *sl = memslot_find(&p->m->vm.mem.slots, h.gpa);
	uint32_t i = (uint32_t)(sl - p->m->vm.mem.slots.slots);
	uint64_t first = (h.gpa - sl->gpa) / SZ_4K;
	for (uint32_t k = 0; k < h.count && !e;) {
		uint32_t n = 0;
		while (k + n < h.count && !bit(p->arrived[i], first + k + n))
			n++;
		if (n)
			e = install(p, i, first + k, n, h.zero ? NULL : p->bounce + (uint64_t)k * SZ_4K);
		k += n ? n : 1;
	}
	return e;
}

/* The source's end: everything must be here. 1 when so. */
static int take_done(struct postcopy_dst *p, uint32_t len)
{
	uint32_t hdr[2];
	int e = len ? -EPROTO : 0;
	if (!e && p->ch.keyed && !(e = mig_recv(&p->rx, hdr, sizeof(hdr))))
		e = hdr[0] == MIG_MAC ? mig_check_mac(&p->rx, hdr[1]) : -EPROTO;
	if (!e && p->pages_in < p->missing) {
		snprintf(p->err, sizeof(p->err), "the source ended with %" PRIu64 " pages never sent",
			 p->missing - p->pages_in);
		e = -EPROTO;
	}
	return e ? e : send_locked(p, MIG_POSTCOPY_DONE, NULL, 0) ?: 1;
}

static int page_loop(struct postcopy_dst *p)
{
	for (;;) {
		uint32_t hdr[2];
		int e = mig_recv(&p->rx, hdr, sizeof(hdr));
		if (!e)
			e = hdr[0] == MIG_PAGES ? take_pages(p, hdr[1]) : hdr[0] == MIG_POSTCOPY_DONE ? take_done(p, hdr[1]) : -EPROTO;
		if (e)
			return e == 1 ? 0 : e;
	}
}

static uint64_t percentile_us(const uint64_t *hist, double q)
{
	uint64_t total = 0, seen = 0;
	for (unsigned int b = 0; b < HIST_BUCKETS; b++)
		total += hist[b];
	for (unsigned int b = 0; b < HIST_BUCKETS && total; b++) {
		seen += hist[b];
		if ((double)seen >= q * (double)total)
			return 2ull << b; /* the bucket's upper bound */
	}
	return 0;
}

static void log_end(struct postcopy_dst *p)
{
	char hist[HIST_BUCKETS * 24] = "", error[512];
	size_t n = 0;
	for (unsigned int b = 0; b < HIST_BUCKETS && n < sizeof(hist); b++)
		if (p->hist[b])
			n += (size_t)snprintf(hist + n, sizeof(hist) - n, "%s\"%llu\": %" PRIu64, n ? ", " : "",
					      2ull << b, p->hist[b]);
	json_escape(p->result ? p->err : "", error, sizeof(error));
	double ms = (double)(now_ns() - p->t_run_ns) / 1e6;
	mig_log(p->log_fd, "faults", "destination", p->t0_ns,
		"\"faults\": %" PRIu64 ", \"requests\": %" PRIu64 ", \"p50_us\": %" PRIu64 ", \"p99_us\": %" PRIu64
		", \"hist_us\": {%s}", p->faults, p->requests, percentile_us(p->hist, 0.5), percentile_us(p->hist, 0.99), hist);
	mig_log(p->log_fd, "postcopy_end", "destination", p->t0_ns,
		"\"state\": \"%s\", \"error\": \"%s\", \"pages\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"ms\": %.3f",
		p->result ? "failed" : "done", error, p->pages_in, p->bytes, ms);
	fprintf(stderr, "pagoda: post-copy: %s: %" PRIu64 " pages in %.1f ms after the guest started, %" PRIu64
		" remote faults (p50 %" PRIu64 " us, p99 %" PRIu64 " us)%s%s\n", p->result ? "failed" : "all memory here",
		p->pages_in, ms, p->requests, percentile_us(p->hist, 0.5), percentile_us(p->hist, 0.99),
		p->result ? ": " : "", p->result ? p->err : "");
}

static void *page_thread(void *arg)
{
	struct postcopy_dst *p = arg;
	p->result = page_loop(p);
	if (p->result) {
		if (!p->err[0])
			snprintf(p->err, sizeof(p->err), "%s", p->result == -ECONNRESET ? "the source went away" :
				 p->result == -EPROTO ? "the stream is not a pagoda migration" : strerror(-p->result));
		/* The guest cannot go on without its memory. The vCPUs waiting for pages are
		 * let go only once the VM is stopping (closing userfaultfd maps zero pages). */
		vm_request_exit(&p->m->vm, EXIT_POSTCOPY_LOST, "post-copy: %s; the guest's memory is incomplete", p->err);
	}
	uint64_t one = 1;
	if (write(p->stop_efd, &one, sizeof(one)) < 0) {
		/* an eventfd's counter cannot overflow from one write */
	}
	pthread_join(p->fault_thread, NULL);
	p->fault_started = false;
	close(p->uffd);
	p->uffd = -1;
	log_end(p);
	return NULL;
}

/* ---- setup ---- */

/* Per-slot maps, all ones when every page counts as there already. */
static uint64_t **bitmaps(const struct memslot_table *t, bool all)
{
	uint64_t **b = memslot_bitmaps_alloc(t);
	for (uint32_t i = 0; b && all && i < t->nr; i++)
		memset(b[i], 0xff, memslot_bitmap_words(&t->slots[i]) * sizeof(uint64_t));
	return b;
}

static int open_uffd(struct postcopy_dst *p, char *err, size_t errlen)
{
	p->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	/* A memfd is shmem: its holes are missing pages too, filled the same way. */
	p->shmem = p->m->vm.mem.backend.cfg.kind == MEM_MEMFD;
	struct uffdio_api api = { .api = UFFD_API, .features = p->shmem ? UFFD_FEATURE_MISSING_SHMEM : 0 };
	if (p->uffd < 0 || ioctl(p->uffd, UFFDIO_API, &api))
		return err_set(err, errlen, -errno, "post-copy: userfaultfd: %s", strerror(errno));
	const struct memslot_table *t = &p->m->vm.mem.slots;
	for (uint32_t i = 0; i < t->nr; i++) {
		struct uffdio_register reg = { .range = { (uint64_t)(uintptr_t)t->slots[i].hva, t->slots[i].size },
					       .mode = UFFDIO_REGISTER_MODE_MISSING };
		if (ioctl(p->uffd, UFFDIO_REGISTER, &reg))
			return err_set(err, errlen, -errno, "post-copy: registering guest RAM with userfaultfd: %s",
				       strerror(errno));
	}
	return 0;
}

int postcopy_dst_begin(struct postcopy_dst **out, struct machine *m, bool all, int log_fd, uint64_t t0_ns,
		       char *err, size_t errlen)
{
	enum mem_backend_kind kind = m->vm.mem.backend.cfg.kind;
	if (kind != MEM_ANON && kind != MEM_THP && kind != MEM_MEMFD)
		return err_set(err, errlen, -ENOTSUP, "post-copy needs --memory-backend anon, thp or memfd on the "
			       "receiver (hugetlb pages and files would need whole-huge-page or minor-fault filling, "
			       "which pagoda does not do)");
	struct postcopy_dst *p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(err, errlen, -ENOMEM, "post-copy: out of memory");
	/* calloc zeroed it (a compound literal would put its megabyte on the stack). */
	p->m = m;
	p->ch.fd = p->rx.fd = p->uffd = -1;
	p->log_fd = log_fd;
	p->t0_ns = t0_ns;
	pthread_mutex_init(&p->tx_lock, NULL);
	pthread_mutex_init(&p->stats_lock, NULL);
	*out = p;
	const struct memslot_table *t = &m->vm.mem.slots;
	p->arrived = bitmaps(t, !all);
	p->requested = bitmaps(t, false);
	for (uint32_t i = 0; all && i < t->nr; i++)
		p->missing += t->slots[i].size / SZ_4K;
	p->stop_efd = eventfd(0, EFD_CLOEXEC);
	int e = p->arrived && p->requested && p->stop_efd >= 0 ? open_uffd(p, err, errlen)
							      : err_set(err, errlen, -ENOMEM, "post-copy: out of memory");
	if (!e && (e = -pthread_create(&p->fault_thread, NULL, fault_thread, p)))
		err_set(err, errlen, e, "post-copy: fault thread: %s", strerror(-e));
	p->fault_started = !e;
	return e;
}

int postcopy_dst_discard(struct postcopy_dst *p, uint64_t gpa, uint64_t count)
{
	const struct memslot *sl = memslot_find(&p->m->vm.mem.slots, gpa);
	if (!sl || gpa % SZ_4K || !count || count > sl->size / SZ_4K || (gpa - sl->gpa) / SZ_4K > sl->size / SZ_4K - count)
		return -EPROTO;
	uint32_t i = (uint32_t)(sl - p->m->vm.mem.slots.slots);
	uint64_t first = (gpa - sl->gpa) / SZ_4K;
	/* Shared memory keeps its pages behind an unmapping: they must leave the file. */
	if (madvise(sl->hva + first * SZ_4K, count * SZ_4K, p->shmem ? MADV_REMOVE : MADV_DONTNEED))
		return -errno;
	for (uint64_t k = 0; k < count; k++) {
		if (bit(p->arrived[i], first + k))
			p->missing++;
		set_bit_to(p->arrived[i], first + k, false);
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
	int e = -pthread_create(&p->page_thread, NULL, page_thread, p);
	p->page_started = !e;
	return e;
}

int postcopy_dst_reply(struct postcopy_dst *p, const struct mig_reply *r)
{
	return send_locked(p, MIG_REPLY, r, sizeof(*r));
}

void postcopy_dst_abort(struct postcopy_dst *p)
{
	if (p && p->page_started)
		shutdown(p->ch.fd, SHUT_RDWR);
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
	if (p->uffd >= 0)
		close(p->uffd);
	if (p->stop_efd >= 0)
		close(p->stop_efd);
	if (p->ch.fd >= 0)
		close(p->ch.fd);
	const struct memslot_table *t = &p->m->vm.mem.slots;
	memslot_bitmaps_free(p->arrived, t->nr);
	memslot_bitmaps_free(p->requested, t->nr);
	pthread_mutex_destroy(&p->tx_lock);
	pthread_mutex_destroy(&p->stats_lock);
	free(p);
}
