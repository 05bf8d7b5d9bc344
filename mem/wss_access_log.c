/* Working-set estimation through KVM_GET_ACCESS_LOG (pagoda's patched KVM, see
 * mem/kvm_access_log.h): once per window, every RAM slot's stage-2 accessed bits are read
 * and cleared into a bitmap, and each page's idle age (windows since it was last seen
 * accessed) advances. Exact per page, at the cost of one walk of KVM's page tables per
 * window, done on the thread that owns the event loop. */
#include "wss_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../util/clock.h"
#include "../util/err.h"
#include "kvm_access_log.h"

#define PAGE 4096u
#define AGE_NEVER 255

struct access_log {
	int vm_fd, timer_fd;
	double window_s;
	uint32_t nr;
	struct al_slot {
		uint32_t id;
		uint64_t gpa, pages;
		uint8_t *ages;
	} slot[WSS_MAX_SLOTS];
	uint64_t *bitmap;                 /* one call's worth: the largest slot, capped */
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

/* One slot's bitmap, in calls of at most KVM_ACCESS_LOG_MAX_PAGES pages. */
static int read_slot(struct access_log *a, const struct al_slot *s, uint64_t first, uint64_t n)
{
	struct kvm_access_log log = { .slot = s->id, .first_page = first, .num_pages = n,
				      .bitmap = (uint64_t)(uintptr_t)(a->bitmap + first / 64) };
	return ioctl(a->vm_fd, KVM_GET_ACCESS_LOG, &log) < 0 ? -errno : 0;
}

/* Reads and clears every slot's accessed bits. Returns the time spent in KVM. */
static int scan(struct access_log *a, struct wss_report *r)
{
	uint64_t t0 = now_ns();
	int e = 0;
	for (uint32_t i = 0; i < a->nr && !e; i++) {
		struct al_slot *s = &a->slot[i];
		for (uint64_t first = 0; first < s->pages && !e; first += KVM_ACCESS_LOG_MAX_PAGES) {
			uint64_t n = s->pages - first < KVM_ACCESS_LOG_MAX_PAGES ? s->pages - first : KVM_ACCESS_LOG_MAX_PAGES;
			e = read_slot(a, s, first, n);
		}
		if (e || !r)
			continue;
		r->scan_ms += (double)(now_ns() - t0) / 1e6;
		r->slot[i] = (struct wss_slot){ .gpa = s->gpa, .size = s->pages * PAGE };
		pthread_mutex_lock(&a->lock);
		wss_age_pages(&r->slot[i], s->ages, a->bitmap, s->pages);
		pthread_mutex_unlock(&a->lock);
		t0 = now_ns();
	}
	return e;
}

static int al_tick(void *state)
{
	struct access_log *a = state;
	uint64_t expirations;
	if (read(a->timer_fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return 0;
	pthread_mutex_lock(&a->lock);
	struct wss_report r = a->last;
	pthread_mutex_unlock(&a->lock);
	r.scan_ms = 0;
	r.windows++;
	int e = scan(a, &r);
	pthread_mutex_lock(&a->lock);
	if (!e)
		a->last = r;
	a->error = e;
	pthread_mutex_unlock(&a->lock);
	return e;
}

static int al_sample(void *state, struct wss_report *r, char *err, size_t errlen)
{
	struct access_log *a = state;
	pthread_mutex_lock(&a->lock);
	*r = a->last;
	int e = a->error;
	pthread_mutex_unlock(&a->lock);
	return e ? err_set(err, errlen, e, "working-set: KVM_GET_ACCESS_LOG failed: %s", strerror(-e)) : 0;
}

static int al_recent(void *state, uint32_t slot, uint64_t *bits, uint64_t pages, unsigned int windows)
{
	struct access_log *a = state;
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

static int al_fd(void *state)
{
	return ((struct access_log *)state)->timer_fd;
}

static void al_stop(void *state)
{
	struct access_log *a = state;
	if (a->timer_fd >= 0)
		close(a->timer_fd);
	for (uint32_t i = 0; i < a->nr; i++)
		free(a->slot[i].ages);
	free(a->bitmap);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static int setup(struct access_log *a, const struct guest_mem *mem, double window_s)
{
	uint64_t most = 0;
	a->nr = mem->slots.nr < WSS_MAX_SLOTS ? mem->slots.nr : WSS_MAX_SLOTS;
	for (uint32_t i = 0; i < a->nr; i++) {
		const struct memslot *m = &mem->slots.slots[i];
		a->slot[i] = (struct al_slot){ .id = m->id, .gpa = m->gpa, .pages = m->size / PAGE };
		if (!(a->slot[i].ages = malloc(a->slot[i].pages)))
			return -ENOMEM;
		memset(a->slot[i].ages, AGE_NEVER, a->slot[i].pages);
		most = a->slot[i].pages > most ? a->slot[i].pages : most;
	}
	if (!(a->bitmap = calloc((most + 63) / 64, sizeof(uint64_t))))
		return -ENOMEM;
	/* What was touched before the first window (loading the guest) is not its use. */
	int e = scan(a, NULL);
	if (e)
		return e;
	a->timer_fd = timer_open(window_s, true);
	return a->timer_fd < 0 ? a->timer_fd : 0;
}

static int al_start(void **state, const struct guest_mem *mem, double window_s, char *err, size_t errlen)
{
	int vm_fd = mem->slots.vm_fd;
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ACCESS_LOG) <= 0)
		return err_set(err, errlen, -ENOTSUP, "this KVM has no KVM_GET_ACCESS_LOG (pagoda's patched KVM, "
			       "kvm/patches)");
	struct access_log *a = calloc(1, sizeof(*a));
	if (!a)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	*a = (struct access_log){ .vm_fd = vm_fd, .timer_fd = -1, .window_s = window_s };
	a->last = (struct wss_report){ .method = "access-log", .window_s = window_s,
				       .blind = "a page used only through a TLB entry cached before the last clear; "
						"accessed bits the host's own reclaim cleared" };
	pthread_mutex_init(&a->lock, NULL);
	for (uint32_t i = 0; i < mem->slots.nr && i < WSS_MAX_SLOTS; i++)
		a->last.slot[a->last.nr_slots++] = (struct wss_slot){ .gpa = mem->slots.slots[i].gpa,
								       .size = mem->slots.slots[i].size };
	int e = setup(a, mem, window_s);
	if (e) {
		al_stop(a);
		return err_set(err, errlen, e, "starting KVM's access log: %s", strerror(-e));
	}
	*state = a;
	return 0;
}

const struct wss_backend wss_access_log = {
	.start = al_start, .sample = al_sample, .fd = al_fd, .tick = al_tick, .recent = al_recent, .stop = al_stop,
};
