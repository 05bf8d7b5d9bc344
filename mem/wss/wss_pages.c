/* The per-page methods (access-log, page-idle): once per window, a reader tests and
 * clears every RAM page's accessed state into a bitmap (wss_access_log.c: KVM's stage-2
 * bits; wss_page_idle.c: the kernel's page idle tracking), and each page's idle age
 * (windows since it was last seen accessed) advances. Exact per page, at the cost of
 * one scan per window, done on the thread that owns the event loop in slices, so that
 * its other work (the control socket, the console) never waits for a whole scan: page
 * idle tracking takes seconds per GiB of 4K pages. */
#include "wss_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../util/clock.h"
#include "../../util/err.h"

#define PAGE 4096u
#define AGE_NEVER 255
#define SLICE_NS 10000000ull              /* scanning per turn of the event loop, plus one read */

struct page_ages {
	const struct wss_page_reader *rd;
	void *reader;
	int timer_fd;
	double window_s;
	uint32_t nr;
	struct pages_slot {
		struct memslot m;         /* a copy: the table may move when slots come and go */
		uint64_t pages;
		uint8_t *ages;
	} slot[WSS_MAX_SLOTS];
	uint64_t *bitmap;                 /* the largest slot's */
	/* The scan in progress (none once at_slot is nr): where it is, and the report it is
	 * making. The first one only clears (what loading the guest touched is not its use). */
	bool discard;
	uint32_t at_slot;
	uint64_t at_page, started_ns;
	struct wss_report next;
	pthread_mutex_t lock;             /* guards what follows and the ages: read by other threads */
	struct wss_report last;
	int error;                        /* -errno of the last window's ioctl */
};

void wss_age_pages(struct wss_slot *s, uint8_t *ages, const uint64_t *bitmap, uint64_t pages)
{
	uint64_t last_seen[AGE_NEVER + 1] = { 0 };
	for (uint64_t i = 0; i < pages; i++) {
		bool accessed = bitmap[i / 64] >> (i % 64) & 1;
		ages[i] = accessed ? 0 : ages[i] == AGE_NEVER ? AGE_NEVER : (uint8_t)(ages[i] + 1);
		last_seen[ages[i]]++;
	}
	/* Never-seen pages stay out of every bucket; the largest bucket (128 windows) is
	 * below the saturated age, so a long-idle page cannot creep back in. */
	uint64_t within = 0;
	unsigned int age = 0;
	for (unsigned int k = 0; k < WSS_BUCKETS; k++) {
		for (; age < (1u << k); age++)
			within += last_seen[age];
		s->within[k] = within * PAGE;
	}
	s->touched = last_seen[0] * PAGE;
}

/* Reads and clears accessed bits from where the scan is, a reader's max_pages at a
 * time, for one slice of time; ages each slot's pages once its bitmap is whole. The
 * report's scan_ms is the reads' time (in KVM, or in page_idle). */
static int scan_slice(struct page_ages *a)
{
	uint64_t t0 = now_ns();
	int e = 0;
	while (a->at_slot < a->nr && !e && now_ns() - t0 < SLICE_NS) {
		struct pages_slot *s = &a->slot[a->at_slot];
		uint64_t n = s->pages - a->at_page < a->rd->max_pages ? s->pages - a->at_page : a->rd->max_pages;
		uint64_t t = now_ns();
		e = n ? a->rd->read(a->reader, &s->m, a->at_page, n, a->bitmap + a->at_page / 64) : 0;
		a->next.scan_ms += (double)(now_ns() - t) / 1e6; /* the reader's time, not the aging's */
		if (e)
			break;
		if ((a->at_page += n) < s->pages)
			continue;
		if (!a->discard) {
			struct wss_slot *r = &a->next.slot[a->at_slot];
			*r = (struct wss_slot){ .gpa = s->m.gpa, .size = s->m.size };
			pthread_mutex_lock(&a->lock);
			wss_age_pages(r, s->ages, a->bitmap, s->pages);
			pthread_mutex_unlock(&a->lock);
		}
		a->at_slot++;
		a->at_page = 0;
	}
	return e;
}

static void begin_scan(struct page_ages *a, bool discard)
{
	pthread_mutex_lock(&a->lock);
	a->next = a->last;
	pthread_mutex_unlock(&a->lock);
	a->next.scan_ms = 0;
	a->next.windows += !discard;
	a->discard = discard;
	a->at_slot = 0;
	a->at_page = 0;
	a->started_ns = now_ns();
}

/* A window's turn: a slice of its scan; when the scan is whole, its report is the last,
 * and the next window begins window_s after this one began (at once if the scan took
 * longer). */
static int pages_tick(void *state)
{
	struct page_ages *a = state;
	uint64_t expirations;
	if (read(a->timer_fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return 0;
	if (a->at_slot >= a->nr)
		begin_scan(a, false);
	int e = scan_slice(a);
	if (!e && a->at_slot < a->nr)
		return timer_set(a->timer_fd, 0, false);
	a->at_slot = a->nr; /* a failed scan is not resumed: the next window starts over */
	pthread_mutex_lock(&a->lock);
	if (!e && !a->discard)
		a->last = a->next;
	a->error = e;
	pthread_mutex_unlock(&a->lock);
	int t = timer_set(a->timer_fd, a->window_s - (double)(now_ns() - a->started_ns) / 1e9, false);
	return e ? e : t;
}

static int pages_sample(void *state, struct wss_report *r, char *err, size_t errlen)
{
	struct page_ages *a = state;
	pthread_mutex_lock(&a->lock);
	*r = a->last;
	int e = a->error;
	pthread_mutex_unlock(&a->lock);
	return e ? err_set(err, errlen, e, "working-set: %s failed: %s", a->rd->what, strerror(-e)) : 0;
}

static int pages_recent(void *state, uint32_t slot, uint64_t *bits, uint64_t pages, unsigned int windows)
{
	struct page_ages *a = state;
	if (slot >= a->nr || pages != a->slot[slot].pages)
		return -EINVAL;
	const uint8_t *ages = a->slot[slot].ages;
	pthread_mutex_lock(&a->lock);
	for (uint64_t i = 0; i < pages; i++)
		if (ages[i] < windows)
			bits[i / 64] |= 1ull << (i % 64);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int pages_fd(void *state)
{
	return ((struct page_ages *)state)->timer_fd;
}

static void pages_stop(void *state)
{
	struct page_ages *a = state;
	if (a->timer_fd >= 0)
		close(a->timer_fd);
	for (uint32_t i = 0; i < a->nr; i++)
		free(a->slot[i].ages);
	free(a->bitmap);
	if (a->reader)
		a->rd->close(a->reader);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static int setup(struct page_ages *a, const struct guest_mem *mem)
{
	uint64_t most = 0;
	a->nr = mem->slots.nr < WSS_MAX_SLOTS ? mem->slots.nr : WSS_MAX_SLOTS;
	for (uint32_t i = 0; i < a->nr; i++) {
		const struct memslot *m = &mem->slots.slots[i];
		a->slot[i] = (struct pages_slot){ .m = *m, .pages = m->size / PAGE };
		a->last.slot[i] = (struct wss_slot){ .gpa = m->gpa, .size = m->size };
		if (!(a->slot[i].ages = malloc(a->slot[i].pages)))
			return -ENOMEM;
		memset(a->slot[i].ages, AGE_NEVER, a->slot[i].pages);
		most = a->slot[i].pages > most ? a->slot[i].pages : most;
	}
	a->last.nr_slots = a->nr;
	if (!(a->bitmap = calloc((most + 63) / 64, sizeof(uint64_t))))
		return -ENOMEM;
	/* The first scan only clears, at once. */
	begin_scan(a, true);
	a->timer_fd = timer_open(0, false);
	return a->timer_fd < 0 ? a->timer_fd : 0;
}

static int pages_start(void **state, const struct wss_page_reader *rd, const struct guest_mem *mem,
		       double window_s, char *err, size_t errlen)
{
	void *reader = NULL;
	int e = rd->open(&reader, mem, err, errlen);
	if (e)
		return e;
	struct page_ages *a = calloc(1, sizeof(*a));
	if (!a) {
		rd->close(reader);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	*a = (struct page_ages){ .rd = rd, .reader = reader, .timer_fd = -1, .window_s = window_s };
	a->last = (struct wss_report){ .method = rd->method, .window_s = window_s, .blind = rd->blind };
	pthread_mutex_init(&a->lock, NULL);
	if ((e = setup(a, mem))) {
		pages_stop(a);
		return err_set(err, errlen, e, "starting the working set's %s: %s", rd->what, strerror(-e));
	}
	*state = a;
	return 0;
}

static int access_log_start(void **state, const struct guest_mem *mem, double window_s, char *err, size_t errlen)
{
	return pages_start(state, &wss_reader_access_log, mem, window_s, err, errlen);
}

static int page_idle_start(void **state, const struct guest_mem *mem, double window_s, char *err, size_t errlen)
{
	return pages_start(state, &wss_reader_page_idle, mem, window_s, err, errlen);
}

const struct wss_backend wss_access_log = {
	.start = access_log_start, .sample = pages_sample, .fd = pages_fd, .tick = pages_tick, .recent = pages_recent,
	.stop = pages_stop,
};

const struct wss_backend wss_page_idle = {
	.start = page_idle_start, .sample = pages_sample, .fd = pages_fd, .tick = pages_tick, .recent = pages_recent,
	.stop = pages_stop,
};
