/* Lazy restore (lazy_restore.h): the fault thread reads what a fault waits for, the fill
 * thread reads everything else in order; both put pages through mem/uffd_fill, which
 * keeps a page from going in twice. */
#include "lazy_restore.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "snapshot.h"
#include "../../mem/ram.h"
#include "../../mem/uffd_fill.h"
#include "../../util/bitmap.h"
#include "../../util/clock.h"
#include "../../util/err.h"
#include "../../util/page.h"

#define CHUNK 256              /* pages read at once */
#define FAULT_AHEAD 16         /* a 4K fault also takes the pages after it */

struct lazy_restore {
	struct machine *m;
	struct uffd_fill *fill;
	struct snapshot_layer layers[SNAPSHOT_MAX_CHAIN];
	unsigned int nr_layers;
	int stop_efd;
	bool stop;                 /* atomic: the VM ends */
	pthread_t fault_thread, fill_thread;
	bool fault_started, fill_started;
	uint64_t t0_ns, bytes_read;
	char dir[200];
	uint8_t fault_buf[CHUNK * SZ_4K], fill_buf[CHUNK * SZ_4K];
};

/* ---- reading ---- */

/* n pages at file offset off, each from the newest layer that holds it. */
static int read_pages(struct lazy_restore *l, uint8_t *buf, uint64_t off, uint32_t n)
{
	if (pread(l->layers[0].fd, buf, (size_t)n * SZ_4K, (off_t)off) != (ssize_t)(n * SZ_4K))
		return -EIO;
	for (unsigned int k = 1; k < l->nr_layers; k++)
		for (uint32_t p = 0; p < n; p++)
			if (bitmap_test(l->layers[k].pages, off / SZ_4K + p) &&
			    pread(l->layers[k].fd, buf + (uint64_t)p * SZ_4K, SZ_4K, (off_t)(off + (uint64_t)p * SZ_4K)) != SZ_4K)
				return -EIO;
	__atomic_fetch_add(&l->bytes_read, (uint64_t)n * SZ_4K, __ATOMIC_RELAXED);
	return 0;
}

/* Zero pages go in as zero pages (no memory spent on them where the backing can help). */
static int put_pages(struct lazy_restore *l, uint64_t gpa, const uint8_t *buf, uint32_t n)
{
	for (uint32_t p = 0; p < n;) {
		bool zero = page_is_zero(buf + (uint64_t)p * SZ_4K);
		uint32_t q = p + 1;
		while (q < n && page_is_zero(buf + (uint64_t)q * SZ_4K) == zero)
			q++;
		int e = uffd_fill_put(l->fill, gpa + (uint64_t)p * SZ_4K, q - p, zero ? NULL : buf + (uint64_t)p * SZ_4K);
		if (e)
			return e;
		p = q;
	}
	return 0;
}

/* Whether no layer holds data for n pages at off: they are zero, nothing to read. */
static bool all_holes(const struct lazy_restore *l, uint64_t off, uint32_t n)
{
	off_t data = lseek(l->layers[0].fd, (off_t)off, SEEK_DATA);
	if (data >= 0 && (uint64_t)data < off + (uint64_t)n * SZ_4K)
		return false;
	for (unsigned int k = 1; k < l->nr_layers; k++)
		if (bitmap_count(l->layers[k].pages, off / SZ_4K, n))
			return false;
	return true;
}

/* Pages [page, page + n) of region r, in chunks through buf; in each, only the span from
 * its first to its last page still missing is read. */
static int bring(struct lazy_restore *l, uint8_t *buf, const struct ram_region *r, uint64_t page, uint64_t n)
{
	for (uint64_t p = page; p < page + n; p += CHUNK) {
		uint64_t a = p, b = page + n - p < CHUNK ? page + n : p + CHUNK;
		while (a < b && uffd_fill_here(l->fill, ram_page_gpa(r, a), 1))
			a++;
		while (b > a && uffd_fill_here(l->fill, ram_page_gpa(r, b - 1), 1))
			b--;
		if (a == b)
			continue;
		uint32_t c = (uint32_t)(b - a);
		uint64_t gpa = ram_page_gpa(r, a), off = r->file_offset + a * SZ_4K;
		bool holes = all_holes(l, off, c);
		int e = holes ? uffd_fill_put(l->fill, gpa, c, NULL) : read_pages(l, buf, off, c);
		if (!e && !holes)
			e = put_pages(l, gpa, buf, c);
		if (e)
			return e;
	}
	return 0;
}

/* The guest cannot go on without its memory. */
static void lost(struct lazy_restore *l, int e)
{
	vm_request_exit(&l->m->vm, EXIT_MEMORY_LOST, "restore: reading %s/memory: %s; the guest's memory is incomplete",
			l->dir, strerror(-e));
}

/* ---- threads ---- */

static int on_miss(void *ctx, uint64_t gpa, uint32_t pages)
{
	struct lazy_restore *l = ctx;
	struct ram_region r;
	uint64_t page, n = ram_fault_span(&l->m->vm.mem, gpa, pages, FAULT_AHEAD, &r, &page);
	if (!n)
		return -EFAULT; /* uffd_fill registers RAM only */
	int e = bring(l, l->fault_buf, &r, page, n);
	if (e)
		lost(l, e);
	return e;
}

static void *fault_thread(void *arg)
{
	struct lazy_restore *l = arg;
	uffd_fill_serve(l->fill, l->stop_efd, on_miss, l);
	return NULL;
}

static void report(struct lazy_restore *l, const char *how)
{
	struct uffd_fill_stats s;
	uffd_fill_stats(l->fill, &s);
	fprintf(stderr, "pagoda: restore: %s: %.1f MiB read in %.1f ms after the guest started, %" PRIu64
		" faults waited for the file (p50 %" PRIu64 " us, p99 %" PRIu64 " us)\n", how,
		(double)l->bytes_read / (1 << 20), (double)(now_ns() - l->t0_ns) / 1e6, s.misses,
		uffd_fill_percentile_us(&s, 0.5), uffd_fill_percentile_us(&s, 0.99));
}

/* Reads everything in order; once all is in place, ends the fault thread and lets go of
 * userfaultfd: from then on the guest's memory is ordinary memory. */
static void *fill_thread(void *arg)
{
	struct lazy_restore *l = arg;
	int e = 0;
	for (uint32_t i = 0; i < ram_nr_regions(&l->m->vm.mem) && !e; i++) {
		struct ram_region r = ram_region(&l->m->vm.mem, i);
		for (uint64_t p = 0; p < r.pages && !e; p += CHUNK) {
			if (__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST))
				return NULL;
			e = bring(l, l->fill_buf, &r, p, r.pages - p < CHUNK ? r.pages - p : CHUNK);
		}
	}
	if (e) {
		lost(l, e);
		return NULL;
	}
	uint64_t one = 1;
	if (write(l->stop_efd, &one, sizeof(one)) == sizeof(one))
		pthread_join(l->fault_thread, NULL);
	l->fault_started = false;
	uffd_fill_release(l->fill);
	report(l, "all memory in place");
	return NULL;
}

/* ---- setup ---- */

static int start_threads(struct lazy_restore *l, char *err, size_t errlen)
{
	l->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (l->stop_efd < 0)
		return err_set(err, errlen, -errno, "restore: eventfd: %s", strerror(errno));
	int e = -pthread_create(&l->fault_thread, NULL, fault_thread, l);
	l->fault_started = !e;
	if (!e && !(e = -pthread_create(&l->fill_thread, NULL, fill_thread, l)))
		l->fill_started = true;
	return e ? err_set(err, errlen, e, "restore: starting its threads: %s", strerror(-e)) : 0;
}

int lazy_restore_begin(struct lazy_restore **out, struct machine *m, const char *dir, char *err, size_t errlen)
{
	struct lazy_restore *l = calloc(1, sizeof(*l));
	*out = l;
	if (!l)
		return err_set(err, errlen, -ENOMEM, "restore: out of memory");
	l->m = m;
	l->stop_efd = -1;
	l->t0_ns = now_ns();
	snprintf(l->dir, sizeof(l->dir), "%s", dir);
	int e = snapshot_open_chain(dir, m->vm.mem.layout.ram_size, l->layers, &l->nr_layers, err, errlen);
	if (e)
		return e;
	char why[200];
	if ((e = uffd_fill_open(&l->fill, &m->vm.mem, true, why, sizeof(why))))
		return err_set(err, errlen, e, "--restore-memory lazy: %s", why);
	return start_threads(l, err, errlen);
}

void lazy_restore_finish(struct lazy_restore *l)
{
	if (!l)
		return;
	__atomic_store_n(&l->stop, true, __ATOMIC_SEQ_CST);
	if (l->fill_started)
		pthread_join(l->fill_thread, NULL);
	uint64_t one = 1;
	if (l->fault_started && write(l->stop_efd, &one, sizeof(one)) == sizeof(one))
		pthread_join(l->fault_thread, NULL);
	if (l->fill && uffd_fill_missing(l->fill))
		report(l, "stopped with memory still to read");
	uffd_fill_free(l->fill);
	if (l->stop_efd >= 0)
		close(l->stop_efd);
	snapshot_close_chain(l->layers, l->nr_layers);
	free(l);
}
