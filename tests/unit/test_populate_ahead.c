/* Populating ahead (mem/populate_ahead.h): a hinted range is faulted in by the helpers,
 * widened to whole pages and nothing beyond; without helpers a hint is dropped and
 * counted; stopping with hints queued ends at once. */
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../../mem/populate_ahead.h"
#include "../../util/page.h"
#include "check.h"

#define AREA (8u << 20)

static uint64_t populated(struct populate_ahead *p)
{
	pthread_mutex_lock(&p->lock);
	uint64_t n = p->populated;
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* Whether page k of area is resident. */
static bool resident(uint8_t *area, uint64_t k)
{
	unsigned char v = 0;
	return mincore(area + k * SZ_4K, SZ_4K, &v) == 0 && (v & 1);
}

/* len bytes of anonymous memory, none of it touched; NULL (a failed check) when refused. */
static uint8_t *map_area(uint64_t len)
{
	uint8_t *area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(area != MAP_FAILED);
	return area == MAP_FAILED ? NULL : area;
}

static void fills_what_is_hinted(void)
{
	uint8_t *area = map_area(AREA);
	if (!area)
		return;
	madvise(area, AREA, MADV_NOHUGEPAGE); /* 4K pages: the edges are what is checked */
	struct populate_ahead p;
	populate_ahead_start(&p, 2, SZ_4K);
	CHECK_EQ(p.nr_threads, 2);
	/* [1 MiB + 100, 4 MiB + 100): whole pages from 1 MiB to 4 MiB + 4K */
	populate_ahead_hint(&p, area + (1 << 20) + 100, 3 << 20);
	uint64_t want = (3 << 20) + SZ_4K;
	for (int i = 0; i < 500 && populated(&p) < want; i++)
		usleep(10000);
	CHECK_EQ(populated(&p), want);
	populate_ahead_stop(&p);
	CHECK(!resident(area, 255) && resident(area, 256) && resident(area, 1024) && !resident(area, 1025));
	unsigned int in = 0;
	for (uint64_t k = 0; k < AREA / SZ_4K; k++)
		in += resident(area, k);
	CHECK_EQ(in, want / SZ_4K);
	CHECK_EQ(p.dropped, 0);
	munmap(area, AREA);
}

static void without_helpers(void)
{
	uint8_t *area = map_area(AREA);
	if (!area)
		return;
	struct populate_ahead p;
	populate_ahead_start(&p, 0, SZ_4K);
	populate_ahead_hint(&p, area, 1 << 20);
	populate_ahead_hint(&p, area + (2 << 20), 1 << 20);
	CHECK_EQ(p.dropped, 2 << 20);
	CHECK_EQ(p.populated, 0);
	CHECK(!resident(area, 0));
	populate_ahead_stop(&p);
	munmap(area, AREA);
}

/* Stopping with the queue full ends at once: what was queued is dropped, not filled. */
static void stops_with_a_full_queue(void)
{
	uint64_t len = (uint64_t)(POPULATE_AHEAD_QUEUE + 8) * (16u << 20);
	uint8_t *area = map_area(len);
	if (!area)
		return;
	struct populate_ahead p;
	populate_ahead_start(&p, 1, SZ_4K);
	for (unsigned int k = 0; k < POPULATE_AHEAD_QUEUE + 8; k++)
		populate_ahead_hint(&p, area + (uint64_t)k * (16u << 20), 16u << 20);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	populate_ahead_stop(&p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* The helper fills 16 MiB in milliseconds while the hints came in microseconds: the
	 * queue was full and then dropped by the stop, not filled (half of it would need the
	 * hinting loop stalled for hundreds of milliseconds). */
	CHECK(p.populated < (uint64_t)POPULATE_AHEAD_QUEUE / 2 * (16u << 20));
	CHECK((t1.tv_sec - t0.tv_sec) < 5);
	munmap(area, len);
}

int main(void)
{
	fills_what_is_hinted();
	without_helpers();
	stops_with_a_full_queue();
	return check_result("populate_ahead");
}
