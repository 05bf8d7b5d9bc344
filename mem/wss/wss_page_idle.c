/* The page-idle method's reader (wss_pages.c), for kernels with neither pagoda's patched
 * KVM nor DAMON: the kernel's page idle tracking (Documentation/admin-guide/mm/
 * idle_page_tracking.rst). Each page of guest RAM is found by its PFN in
 * /proc/self/pagemap; a bit set in /sys/kernel/mm/page_idle/bitmap says the page was not
 * accessed since it was marked idle, and reading it also asks KVM (its MMU notifier's
 * clear_young) whether the stage-2 mapping was used. After reading, the pages are marked
 * idle again for the next window.
 *
 * What the kernel tracks is a folio, known by its head page: a tail page's bit always
 * reads 0, so a huge page's tail pages take their head's answer (/proc/kpageflags tells
 * heads from tails). Hugetlb folios and the shared zero page are not tracked at all: such
 * pages count as not accessed, and RAM on hugetlb is refused at the start. */
#include "wss_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kernel-page-flags.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../util/err.h"

#define PAGE 4096u
/* Pages per read: a slice's grain (the event loop waits for one read at most, ~60 ms of
 * 4K pages in the TCG lab), and no smaller than a PMD's worth, so that a huge page's
 * tails never fall in the read after its head's, which has marked the head idle again
 * (256 pages: a THP guest's estimate fell 11% short). Reads start 2 MiB aligned. */
#define CHUNK 512u
#define PM_PRESENT (1ull << 63)
#define PM_PFN_MASK ((1ull << 55) - 1)
#define MAX_FOLIO_ORDER 10                /* how far down a tail's head is looked for */
#define UNTRACKED (1ull << KPF_HUGE | 1ull << KPF_ZERO_PAGE)

struct idle_reader {
	int pagemap, kpageflags, bitmap;
	uint64_t pm[CHUNK];               /* pagemap entries of one read */
	uint64_t flags[CHUNK];            /* kpageflags of one run */
	uint64_t words[CHUNK / 64 + 2];   /* idle bitmap words of one run */
	/* The PFNs to mark idle when the read is done: its heads and small pages. Marked
	 * after every run is read, since runs of scattered PFNs share bitmap words. */
	uint64_t marks[2 * CHUNK];
	size_t nr_marks;
};

/* pread of a whole buffer; a short read (past the last PFN) leaves zeros. */
static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	memset(buf, 0, len);
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		done += (size_t)n;
	}
	return 0;
}

static bool idle_bit(const uint64_t *words, uint64_t w0, uint64_t pfn)
{
	return words[pfn / 64 - w0] >> (pfn % 64) & 1;
}

/* Whether the folio of the tail page at pfn was accessed, when its head lies outside the
 * run (a folio mapped in part): a folio is aligned to its size in PFNs, so the head is
 * the first of pfn's aligned ancestors that kpageflags calls a head; it is marked idle
 * again here. Not found: not accessed. A folio whose tails fall in two runs is read
 * twice in one window, the second time just after it was marked: its second part then
 * looks idle. Guest RAM's folios are mapped whole and aligned, so that does not happen
 * to them. */
static int head_accessed(struct idle_reader *r, uint64_t pfn, bool *accessed)
{
	*accessed = false;
	for (unsigned int order = 1; order <= MAX_FOLIO_ORDER; order++) {
		uint64_t head = pfn & ~((1ull << order) - 1), flags, word;
		int e = pread_all(r->kpageflags, &flags, 8, head * 8);
		if (e)
			return e;
		if (!(flags >> KPF_COMPOUND_HEAD & 1))
			continue;
		if (flags & UNTRACKED)
			return 0;
		if ((e = pread_all(r->bitmap, &word, 8, head / 64 * 8)))
			return e;
		*accessed = !(word >> (head % 64) & 1);
		r->marks[r->nr_marks++] = head;
		return 0;
	}
	return 0;
}

/* Pages [i, j) of this read, PFNs p0, p0 + 1, ...: their accessed bits into bits, then
 * marked idle again. */
static int read_run(struct idle_reader *r, uint64_t i, uint64_t j, uint64_t p0, uint64_t *bits)
{
	uint64_t n = j - i, w0 = p0 / 64, nw = (p0 + n - 1) / 64 - w0 + 1;
	int e = pread_all(r->kpageflags, r->flags, n * 8, p0 * 8);
	if (!e)
		e = pread_all(r->bitmap, r->words, nw * 8, w0 * 8);
	int folio = -1; /* the current folio's answer, for its tail pages: -1 unknown */
	for (uint64_t k = 0; k < n && !e; k++) {
		uint64_t pfn = p0 + k, f = r->flags[k];
		bool accessed;
		if (f >> KPF_COMPOUND_TAIL & 1) {
			if (folio < 0 && !(e = head_accessed(r, pfn, &accessed)))
				folio = accessed;
			accessed = folio > 0;
		} else {
			accessed = !(f & UNTRACKED) && !idle_bit(r->words, w0, pfn);
			folio = f >> KPF_COMPOUND_HEAD & 1 ? accessed : -1;
		}
		if (accessed)
			bits[(i + k) / 64] |= 1ull << ((i + k) % 64);
	}
	for (uint64_t k = 0; k < n && !e; k++)
		if (!(r->flags[k] & (UNTRACKED | 1ull << KPF_COMPOUND_TAIL)))
			r->marks[r->nr_marks++] = p0 + k;
	return e;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int write_words(struct idle_reader *r, uint64_t w0, uint64_t nw)
{
	return nw && pwrite(r->bitmap, r->words, nw * 8, (off_t)(w0 * 8)) < 0 ? -errno : 0;
}

/* Marks the read's pages idle for the next window, one write per stretch of adjacent
 * bitmap words: a bit set marks its page, a clear one leaves its page alone. */
static int mark_idle(struct idle_reader *r)
{
	const uint64_t room = sizeof(r->words) / sizeof(r->words[0]);
	uint64_t w0 = 0, nw = 0;
	int e = 0;
	qsort(r->marks, r->nr_marks, sizeof(r->marks[0]), cmp_u64);
	for (size_t i = 0; i < r->nr_marks && !e; i++) {
		uint64_t w = r->marks[i] / 64;
		if (nw && w >= w0 + nw && (w > w0 + nw || nw == room)) {
			e = write_words(r, w0, nw);
			nw = 0;
		}
		if (!nw)
			w0 = w;
		if (w >= w0 + nw)
			r->words[nw++] = 0;
		r->words[w - w0] |= 1ull << (r->marks[i] % 64);
	}
	r->nr_marks = 0;
	return e ? e : write_words(r, w0, nw);
}

static int idle_read(void *reader, const struct memslot *slot, uint64_t first, uint64_t n, uint64_t *bits)
{
	struct idle_reader *r = reader;
	if (n > CHUNK)
		return -EINVAL;
	memset(bits, 0, (n + 63) / 64 * 8);
	int e = pread_all(r->pagemap, r->pm, n * 8, ((uintptr_t)slot->hva / PAGE + first) * 8);
	/* Runs of present pages with consecutive PFNs: one read of flags and bitmap each. */
	for (uint64_t i = 0, j; i < n && !e; i = j) {
		j = i + 1;
		if (!(r->pm[i] & PM_PRESENT))
			continue;
		uint64_t p0 = r->pm[i] & PM_PFN_MASK;
		while (j < n && (r->pm[j] & PM_PRESENT) && (r->pm[j] & PM_PFN_MASK) == p0 + (j - i))
			j++;
		e = read_run(r, i, j, p0, bits);
	}
	int m = mark_idle(r);
	return e ? e : m;
}

static void idle_close(void *reader)
{
	struct idle_reader *r = reader;
	int fds[] = { r->pagemap, r->kpageflags, r->bitmap };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(r);
}

int wss_page_idle_open_files(void **reader, const char *pagemap, const char *kpageflags, const char *bitmap,
			     char *err, size_t errlen)
{
	struct idle_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	int e = 0;
	if ((r->bitmap = open(bitmap, O_RDWR | O_CLOEXEC)) < 0)
		e = -errno;
	if ((r->pagemap = open(pagemap, O_RDONLY | O_CLOEXEC)) < 0 && !e)
		e = -errno;
	if ((r->kpageflags = open(kpageflags, O_RDONLY | O_CLOEXEC)) < 0 && !e)
		e = -errno;
	if (e) {
		bool untracked = r->bitmap < 0 && e == -ENOENT;
		idle_close(r);
		if (untracked)
			return err_set(err, errlen, -ENOTSUP, "this kernel has no page idle tracking (%s: "
				       "CONFIG_IDLE_PAGE_TRACKING)", bitmap);
		return err_set(err, errlen, e, "page idle tracking needs %s, %s and %s, which root can open: %s",
			       bitmap, pagemap, kpageflags, strerror(-e));
	}
	*reader = r;
	return 0;
}

/* Whether pagemap shows this process's PFNs: only to CAP_SYS_ADMIN, else they read 0. */
static bool pfns_visible(struct idle_reader *r)
{
	static volatile uint64_t probe = 1; /* written: present */
	uint64_t entry;
	probe++;
	return !pread_all(r->pagemap, &entry, 8, (uintptr_t)&probe / PAGE * 8) && (entry & PM_PFN_MASK);
}

static int idle_open(void **reader, const struct guest_mem *mem, char *err, size_t errlen)
{
	if (mem->backend.cfg.kind == MEM_HUGETLB || mem->backend.on_hugetlbfs)
		return err_set(err, errlen, -ENOTSUP, "page idle tracking cannot see hugetlb pages, and guest RAM is %s",
			       mem->backend.desc);
	int e = wss_page_idle_open_files(reader, "/proc/self/pagemap", "/proc/kpageflags",
					 "/sys/kernel/mm/page_idle/bitmap", err, errlen);
	if (!e && !pfns_visible(*reader)) {
		idle_close(*reader);
		return err_set(err, errlen, -EPERM, "page idle tracking needs CAP_SYS_ADMIN (/proc/self/pagemap "
			       "hides PFNs without it)");
	}
	return e;
}

const struct wss_page_reader wss_reader_page_idle = {
	.method = "page-idle", .what = "page idle tracking",
	.blind = "hugetlb pages and the shared zero page; a page used only through a TLB entry cached before "
		 "the last clear; accessed bits the host's own reclaim cleared",
	.max_pages = CHUNK, .open = idle_open, .read = idle_read, .close = idle_close,
};
