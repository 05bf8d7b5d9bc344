#include "balloon.h"

#include <linux/virtio_balloon.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../mem/discard.h"
#include "../util/clock.h"

enum { Q_INFLATE, Q_DEFLATE, Q_STATS_OR_REPORTING, Q_REPORTING };
#define PAGE (1ULL << VIRTIO_BALLOON_PFN_SHIFT)
#define MAX_PFNS 256    /* per buffer: Linux sends VIRTIO_BALLOON_ARRAY_PFNS_MAX */

struct virtio_balloon {
	struct virtio_dev dev;
	struct virtio_balloon_config cfg;
	uint32_t target_pages;           /* num_pages as the host set it (the driver may not) */
	struct mem_discard discard;
	struct virtq_chain chain;
	struct virtq_chain stats_chain;  /* held until the host wants fresh statistics */
	bool stats_held;
	int timer_fd;
	struct balloon_stats st;
};

static void set_target(struct virtio_balloon *b, uint64_t bytes)
{
	b->target_pages = (uint32_t)(bytes / PAGE);
	b->cfg.num_pages = b->target_pages;
	b->st.target_bytes = (uint64_t)b->target_pages * PAGE;
}

/* Runs of consecutive pfns go to the host in one call each. */
static void move_pages(struct virtio_balloon *b, bool inflate)
{
	uint32_t pfns[MAX_PFNS];
	size_t n = iov_to_buf(b->chain.out, b->chain.nr_out, 0, pfns, sizeof(pfns)) / 4;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && pfns[j] == pfns[j - 1] + 1)
			j++;
		uint64_t gpa = (uint64_t)pfns[i] * PAGE, len = (j - i) * PAGE;
		if (inflate) {
			if (mem_discard_give(&b->discard, gpa, len))
				b->st.bad_pfns += j - i;
			else
				b->st.inflated_bytes += len;
		} else {
			mem_discard_take_back(&b->discard, gpa, len);
			b->st.deflated_bytes += len;
		}
		i = j;
	}
}

static void take_stats(struct virtio_balloon *b)
{
	struct __attribute__((packed)) { uint16_t tag; uint64_t val; } s[VIRTIO_BALLOON_S_NR];
	size_t n = iov_to_buf(b->stats_chain.out, b->stats_chain.nr_out, 0, s, sizeof(s)) / sizeof(s[0]);
	for (size_t i = 0; i < n; i++)
		if (s[i].tag < VIRTIO_BALLOON_S_NR)
			b->st.guest[s[i].tag] = s[i].val;
	b->st.guest_updates++;
}

static void report_free(struct virtio_balloon *b)
{
	for (unsigned int i = 0; i < b->chain.nr_in; i++) {
		uint64_t gpa = b->chain.in_gpa[i], len = b->chain.in[i].iov_len;
		if (mem_discard_range(&b->discard, gpa, len) == 0)
			b->st.reported_bytes += len;
	}
}

static void balloon_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_balloon *b = (struct virtio_balloon *)d;
	bool has_stats = virtio_dev_has(d, VIRTIO_BALLOON_F_STATS_VQ);
	if (q == Q_STATS_OR_REPORTING && has_stats) {
		if (b->stats_held && !virtq_chain_live(&d->vqs[q], &b->stats_chain))
			b->stats_held = false; /* the driver reset the queue: that buffer is gone */
		if (!b->stats_held && virtio_dev_pop(d, q, &b->stats_chain) > 0) {
			b->stats_held = true;
			take_stats(b);
		}
		return;
	}
	struct virtq_chain *c = &b->chain;
	while (virtio_dev_pop(d, q, c) > 0) {
		if (q == Q_INFLATE || q == Q_DEFLATE)
			move_pages(b, q == Q_INFLATE);
		else
			report_free(b);
		virtq_push(&d->vqs[q], c, 0);
	}
	virtio_dev_used(d, q);
}

/* Hands the held stats buffer back: the guest refills it and sends it again. */
static void on_stats_timer(void *opaque, uint32_t events)
{
	struct virtio_balloon *b = opaque;
	uint64_t ticks;
	(void)events;
	if (read(b->timer_fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	pthread_mutex_lock(&b->dev.lock);
	if (b->stats_held && virtio_dev_live(&b->dev)) {
		virtq_push(&b->dev.vqs[Q_STATS_OR_REPORTING], &b->stats_chain, 0);
		b->stats_held = false;
		virtio_dev_used(&b->dev, Q_STATS_OR_REPORTING);
	}
	pthread_mutex_unlock(&b->dev.lock);
}

static void balloon_config_written(struct virtio_dev *d, uint32_t off, uint32_t len)
{
	struct virtio_balloon *b = (struct virtio_balloon *)d;
	(void)off;
	(void)len;
	b->cfg.num_pages = b->target_pages; /* only `actual` is the driver's to write */
	b->st.actual_bytes = (uint64_t)b->cfg.actual * PAGE;
}

static void balloon_reset(struct virtio_dev *d)
{
	struct virtio_balloon *b = (struct virtio_balloon *)d;
	b->stats_held = false;
	b->cfg.actual = 0;
	b->st.actual_bytes = 0;
	/* The guest forgets its balloon with a reset: its pages are its own again. */
	if (b->discard.given)
		memset(b->discard.given, 0, (b->discard.nr_pages + 63) / 64 * 8);
}

/* Before a snapshot: the stats buffer goes back (the guest refills and resends it), so
 * the device holds nothing of the guest's. */
static void balloon_quiesce(struct virtio_dev *d)
{
	struct virtio_balloon *b = (struct virtio_balloon *)d;
	if (!b->stats_held || !virtio_dev_live(d))
		return;
	virtq_push(&d->vqs[Q_STATS_OR_REPORTING], &b->stats_chain, 0);
	b->stats_held = false;
	virtio_dev_used(d, Q_STATS_OR_REPORTING);
}

/* The target is the host's: the one this VMM was given wins over the saved config. */
static void balloon_restored(struct virtio_dev *d)
{
	struct virtio_balloon *b = (struct virtio_balloon *)d;
	b->cfg.num_pages = b->target_pages;
	b->st.actual_bytes = (uint64_t)b->cfg.actual * PAGE;
}

static void balloon_destroy(struct virtio_dev *d)
{
	struct virtio_balloon *b = (struct virtio_balloon *)d;
	if (b->timer_fd >= 0)
		close(b->timer_fd);
	mem_discard_destroy(&b->discard);
	virtio_dev_destroy_common(d);
	free(b);
}

static void balloon_print_stats(struct virtio_dev *d, FILE *out)
{
	struct balloon_stats b = virtio_balloon_stats(d);
	fprintf(out, "stats: %s target=%lluM actual=%lluM inflated=%lluM deflated=%lluM reported=%lluM host_freed=%lluM bad_pfns=%llu\n",
		d->name, (unsigned long long)(b.target_bytes >> 20), (unsigned long long)(b.actual_bytes >> 20),
		(unsigned long long)(b.inflated_bytes >> 20), (unsigned long long)(b.deflated_bytes >> 20),
		(unsigned long long)(b.reported_bytes >> 20), (unsigned long long)(b.freed_bytes >> 20),
		(unsigned long long)b.bad_pfns);
	if (b.guest_updates)
		fprintf(out, "stats: %s guest: updates=%llu free=%lluM total=%lluM available=%lluM caches=%lluM\n",
			d->name, (unsigned long long)b.guest_updates, (unsigned long long)(b.guest[4] >> 20),
			(unsigned long long)(b.guest[5] >> 20), (unsigned long long)(b.guest[6] >> 20),
			(unsigned long long)(b.guest[7] >> 20));
}

static const struct virtio_dev_ops balloon_ops = {
	.device_id = VIRTIO_ID_BALLOON, .nr_queues = 4,
	.queue_notify = balloon_notify, .reset = balloon_reset,
	.config_written = balloon_config_written, .quiesce = balloon_quiesce, .restored = balloon_restored,
	.print_stats = balloon_print_stats, .destroy = balloon_destroy,
};

static int start_stats_timer(struct virtio_balloon *b, double s)
{
	const struct virtio_host *h = b->dev.host;
	b->timer_fd = timer_open(s, true);
	if (b->timer_fd < 0 || !h->watch)
		return -1;
	return h->watch(h->ctx, b->timer_fd, EPOLLIN, on_stats_timer, b);
}

struct virtio_dev *virtio_balloon_create(const struct virtio_host *h, uint64_t target,
					 double stats_interval_s, bool report)
{
	struct virtio_balloon *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->timer_fd = -1;
	set_target(b, target);
	memset(b->st.guest, 0xff, sizeof(b->st.guest));
	uint64_t features = (1ULL << VIRTIO_BALLOON_F_STATS_VQ) | (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
			    (report ? 1ULL << VIRTIO_BALLOON_F_REPORTING : 0);
	virtio_dev_init(&b->dev, &balloon_ops, h, "virtio-balloon", features, &b->cfg, sizeof(b->cfg));
	if (mem_discard_init(&b->discard, h->mem) ||
	    (stats_interval_s > 0 && start_stats_timer(b, stats_interval_s))) {
		balloon_destroy(&b->dev);
		return NULL;
	}
	return &b->dev;
}

void virtio_balloon_set_target(struct virtio_dev *d, uint64_t bytes)
{
	struct virtio_balloon *b = (struct virtio_balloon *)d;
	pthread_mutex_lock(&d->lock);
	set_target(b, bytes);
	virtio_dev_config_changed(d);
	pthread_mutex_unlock(&d->lock);
}

struct balloon_stats virtio_balloon_stats(struct virtio_dev *d)
{
	struct virtio_balloon *b = (struct virtio_balloon *)d;
	pthread_mutex_lock(&d->lock);
	struct balloon_stats s = b->st;
	s.freed_bytes = b->discard.freed_bytes;
	pthread_mutex_unlock(&d->lock);
	return s;
}
