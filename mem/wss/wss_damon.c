/* Working-set estimation through DAMON's sysfs interface (working_set.h): one kdamond,
 * one context with the vaddr operations and this process as its target, one scheme whose
 * action is "stat" so that its tried regions list every region with its access count and
 * age. DAMON samples: regions are split and merged to follow the pattern, so boundaries
 * take a few windows to settle, and a page touched once between two samples can be
 * missed. hugetlb is seen (DAMON reads its PMD/PUD young bits). */
#include "wss_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../util/err.h"
#include "../../util/page.h"

#define DAMON "/sys/kernel/mm/damon/admin/kdamonds"
#define CTX DAMON "/0/contexts/0"
#define SCHEME CTX "/schemes/0"

struct damon {
	const struct guest_mem *mem;
	const char *method;        /* "damon-fvaddr" or "damon-vaddr" */
	double window_s;
	pthread_mutex_t lock;      /* one reader of DAMON's regions at a time */
};

static int put(const char *path, const char *fmt, ...)
{
	char v[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int e = write(fd, v, (size_t)n) == n ? 0 : -errno;
	close(fd);
	return e;
}

static int get(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static int get_u64(const char *path, uint64_t *v)
{
	char b[32];
	int e = get(path, b, sizeof(b));
	if (!e)
		*v = strtoull(b, NULL, 10);
	return e;
}

/* fvaddr: DAMON watches guest RAM's ranges only. With vaddr it watches the whole
 * process, starting from regions around its two largest gaps: an address space with
 * other huge mappings (ASan's shadow, terabytes) leaves guest RAM a sliver of a region
 * whose one sampled page is nearly never guest RAM, and the estimate swung between 0
 * and all of RAM (seen under --balloon auto with the ASan build). */
static int fixed_regions(const struct guest_mem *mem)
{
	char path[160];
	uint32_t nr = mem->slots.nr < WSS_MAX_SLOTS ? mem->slots.nr : WSS_MAX_SLOTS;
	int e = put(CTX "/targets/0/regions/nr_regions", "%u", nr);
	for (uint32_t i = 0; !e && i < nr; i++) {
		const struct memslot *sl = &mem->slots.slots[i];
		snprintf(path, sizeof(path), CTX "/targets/0/regions/%u/start", i);
		e = put(path, "%" PRIu64, (uint64_t)(uintptr_t)sl->hva);
		snprintf(path, sizeof(path), CTX "/targets/0/regions/%u/end", i);
		if (!e)
			e = put(path, "%" PRIu64, (uint64_t)(uintptr_t)sl->hva + sl->size);
	}
	return e;
}

/* The context: fvaddr over guest RAM (else vaddr on this process), windows of window_s,
 * regions between 10 and 1000 (DAMON's defaults), and a scheme that only counts every
 * region. */
static int configure(double window_s, const struct guest_mem *mem, bool fixed)
{
	uint64_t aggr = (uint64_t)(window_s * 1e6), sample = aggr / 20 > 1000 ? aggr / 20 : 1000;
	struct { const char *path; uint64_t v; } attrs[] = {
		{ CTX "/monitoring_attrs/intervals/sample_us", sample },
		{ CTX "/monitoring_attrs/intervals/aggr_us", aggr },
		{ CTX "/monitoring_attrs/intervals/update_us", aggr },
		{ CTX "/monitoring_attrs/nr_regions/min", 10 },
		{ CTX "/monitoring_attrs/nr_regions/max", 1000 },
		{ CTX "/targets/nr_targets", 1 },
		{ CTX "/targets/0/pid_target", (uint64_t)getpid() },
		{ CTX "/schemes/nr_schemes", 1 },
		{ SCHEME "/access_pattern/sz/min", 0 },
		{ SCHEME "/access_pattern/sz/max", UINT64_MAX },
		{ SCHEME "/access_pattern/nr_accesses/min", 0 },
		{ SCHEME "/access_pattern/nr_accesses/max", UINT32_MAX },
		{ SCHEME "/access_pattern/age/min", 0 },
		{ SCHEME "/access_pattern/age/max", UINT32_MAX },
	};
	int e = put(CTX "/operations", fixed ? "fvaddr" : "vaddr");
	for (size_t i = 0; !e && i < sizeof(attrs) / sizeof(attrs[0]); i++)
		e = put(attrs[i].path, "%" PRIu64, attrs[i].v);
	if (!e && fixed)
		e = fixed_regions(mem);
	if (!e)
		e = put(SCHEME "/action", "stat");
	return e ? e : put(DAMON "/0/state", "on");
}

static int damon_start(void **state, const struct guest_mem *mem, double window_s, char *err, size_t errlen)
{
	uint64_t n;
	char ops[128] = "";
	if (get_u64(DAMON "/nr_kdamonds", &n))
		return err_set(err, errlen, -ENOTSUP, "this kernel has no DAMON sysfs interface (CONFIG_DAMON_SYSFS)");
	if (n)
		return err_set(err, errlen, -EBUSY, "DAMON is in use here (%" PRIu64 " kdamond%s not "
			       "pagoda's): pagoda needs one of its own", n, n == 1 ? "" : "s");
	int e = put(DAMON "/nr_kdamonds", "1");
	if (!e)
		e = put(DAMON "/0/contexts/nr_contexts", "1");
	if (!e)
		e = get(CTX "/avail_operations", ops, sizeof(ops));
	if (!e && !strstr(ops, "vaddr"))
		e = -ENOTSUP;
	bool fixed = strstr(ops, "fvaddr") != NULL;
	if (!e)
		e = configure(window_s, mem, fixed);
	if (e) {
		put(DAMON "/nr_kdamonds", "0");
		return e == -ENOTSUP ? err_set(err, errlen, e, "this kernel's DAMON cannot monitor virtual addresses "
					       "(CONFIG_DAMON_VADDR; it offers: %.60s)", ops)
				     : err_set(err, errlen, e, "setting up DAMON: %s", strerror(-e));
	}
	struct damon *w = calloc(1, sizeof(*w));
	if (!w) {
		put(DAMON "/0/state", "off");
		put(DAMON "/nr_kdamonds", "0");
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	*w = (struct damon){ .mem = mem, .window_s = window_s, .method = fixed ? "damon-fvaddr" : "damon-vaddr" };
	pthread_mutex_init(&w->lock, NULL);
	*state = w;
	return 0;
}

void wss_account(struct wss_report *r, const struct guest_mem *mem, uint64_t start, uint64_t end,
		 uint32_t nr_accesses, uint32_t age)
{
	bool counted = false;
	uint64_t idle = nr_accesses ? 0 : (uint64_t)age + 1; /* windows since it was last touched */
	for (uint32_t i = 0; i < mem->slots.nr && i < sizeof(r->slot) / sizeof(r->slot[0]); i++) {
		const struct memslot *sl = &mem->slots.slots[i];
		uint64_t lo = (uint64_t)(uintptr_t)sl->hva, hi = lo + sl->size;
		uint64_t a = start > lo ? start : lo, b = end < hi ? end : hi;
		struct wss_slot *s = &r->slot[i];
		s->gpa = sl->gpa;
		s->size = sl->size;
		if (a >= b)
			continue;
		counted = true;
		s->touched += nr_accesses ? b - a : 0;
		for (unsigned int k = 0; k < WSS_BUCKETS; k++)
			s->within[k] += idle < (1ull << k) ? b - a : 0;
	}
	r->nr_slots = mem->slots.nr < 8 ? mem->slots.nr : 8;
	r->regions += counted;
}

static bool numeric(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

void wss_mark_recent(const struct memslot *sl, uint64_t *bits, uint64_t start, uint64_t end, uint32_t nr_accesses)
{
	uint64_t lo = (uint64_t)(uintptr_t)sl->hva, hi = lo + sl->size;
	uint64_t a = start > lo ? start : lo, b = end < hi ? end : hi;
	if (!nr_accesses || a >= b)
		return;
	/* Pages the region covers even in part: a region's edges are not page-aligned. */
	for (uint64_t p = (a - lo) / SZ_4K; p < (b - lo + SZ_4K - 1) / SZ_4K; p++)
		bits[p / 64] |= 1ull << (p % 64);
}

typedef void (*region_fn)(void *ctx, uint64_t start, uint64_t end, uint32_t nr_accesses, uint32_t age);

static int read_region(const char *name, region_fn fn, void *ctx)
{
	char path[256];
	uint64_t v[4];
	const char *fields[] = { "start", "end", "nr_accesses", "age" };
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), SCHEME "/tried_regions/%s/%s", name, fields[i]);
		int e = get_u64(path, &v[i]);
		if (e)
			return e;
	}
	fn(ctx, v[0], v[1], (uint32_t)v[2], (uint32_t)v[3]);
	return 0;
}

/* Every region DAMON has now, through fn. */
static int walk_regions(struct damon *w, region_fn fn, void *ctx)
{
	pthread_mutex_lock(&w->lock);
	int e = put(DAMON "/0/state", "update_schemes_tried_regions");
	DIR *d = e ? NULL : opendir(SCHEME "/tried_regions");
	if (!e && !d)
		e = -errno;
	for (struct dirent *de; d && !e && (de = readdir(d));)
		if (numeric(de->d_name))
			e = read_region(de->d_name, fn, ctx);
	if (d)
		closedir(d);
	pthread_mutex_unlock(&w->lock);
	return e;
}

struct sample_ctx {
	struct wss_report *r;
	const struct guest_mem *mem;
};

static void sample_region(void *ctx, uint64_t start, uint64_t end, uint32_t nr_accesses, uint32_t age)
{
	struct sample_ctx *c = ctx;
	wss_account(c->r, c->mem, start, end, nr_accesses, age);
}

static int damon_sample(void *state, struct wss_report *r, char *err, size_t errlen)
{
	struct damon *w = state;
	*r = (struct wss_report){ .method = w->method, .window_s = w->window_s,
				  .blind = "a page touched once between two samples; boundaries settle over a few windows" };
	int e = walk_regions(w, sample_region, &(struct sample_ctx){ r, w->mem });
	for (uint32_t i = 0; !r->nr_slots && i < w->mem->slots.nr && i < 8; i++) /* nothing seen yet */
		r->slot[r->nr_slots++] = (struct wss_slot){ .gpa = w->mem->slots.slots[i].gpa,
							     .size = w->mem->slots.slots[i].size };
	return e ? err_set(err, errlen, e, "working-set: reading DAMON's regions: %s", strerror(-e)) : 0;
}

struct recent_ctx {
	const struct memslot *sl;
	uint64_t *bits;
};

static void recent_region(void *ctx, uint64_t start, uint64_t end, uint32_t nr_accesses, uint32_t age)
{
	struct recent_ctx *c = ctx;
	(void)age;
	wss_mark_recent(c->sl, c->bits, start, end, nr_accesses);
}

/* Regions, not pages: a page counts as used lately when its region was, in the last
 * window whatever `windows` asks. A region's age starts over whenever DAMON splits or
 * merges it, so an idle one that was just reshaped looks freshly used: counting them
 * made the lab's 64 MiB window 101 MiB (the last window alone: within 5%). */
static int damon_recent(void *state, uint32_t slot, uint64_t *bits, uint64_t pages, unsigned int windows)
{
	struct damon *w = state;
	(void)windows;
	if (slot >= w->mem->slots.nr || pages != w->mem->slots.slots[slot].size / SZ_4K)
		return -EINVAL;
	return walk_regions(w, recent_region, &(struct recent_ctx){ &w->mem->slots.slots[slot], bits });
}

static void damon_stop(void *state)
{
	struct damon *w = state;
	put(DAMON "/0/state", "off");
	put(DAMON "/nr_kdamonds", "0");
	pthread_mutex_destroy(&w->lock);
	free(w);
}

const struct wss_backend wss_damon = {
	.start = damon_start, .sample = damon_sample, .recent = damon_recent, .stop = damon_stop,
};
