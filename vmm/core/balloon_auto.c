/* --balloon auto (balloon_auto.h). Runs on the main thread, from a timerfd of its own:
 * DAMON's windows tick nothing in pagoda, so the policy cannot ride on the working set's. */
#include "balloon_auto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../../util/clock.h"
#include "../../util/err.h"
#include "../../virtio/balloon.h"
#include "machine.h"

#define SETTLE_WINDOWS 4  /* the working set counts what was touched within 4 windows */
#define WSS_BUCKET 2      /* within[2]: touched within 2^2 = 4 windows */

uint64_t balloon_auto_want(uint64_t ram, uint64_t working_set, uint64_t margin)
{
	if (working_set >= ram || margin >= ram - working_set)
		return 0;
	return (ram - working_set - margin) & ~4095ull;
}

uint64_t balloon_auto_next(uint64_t current, uint64_t want, uint64_t step)
{
	if (want <= current)
		return want;
	return want - current > step ? current + step : want;
}

static void on_window(void *opaque, uint32_t events)
{
	(void)events;
	struct balloon_auto *a = opaque;
	uint64_t ticks;
	struct wss_report r;
	char why[256];
	if (read(a->timer_fd, &ticks, sizeof(ticks)) != sizeof(ticks) || !a->on || !a->m->wss)
		return;
	if (++a->windows < SETTLE_WINDOWS || working_set_sample(a->m->wss, &r, why, sizeof(why)))
		return; /* a failing estimate leaves the balloon where it is */
	a->working_set = 0;
	for (uint32_t i = 0; i < r.nr_slots; i++)
		a->working_set += r.slot[i].within[WSS_BUCKET];
	uint64_t want = balloon_auto_want(a->m->vm.mem.layout.ram_size, a->working_set, a->margin);
	uint64_t next = balloon_auto_next(a->target, want, a->step);
	if (next == a->target)
		return;
	a->deflations += next < a->target;
	a->inflations += next > a->target;
	a->target = next;
	virtio_balloon_set_target(a->balloon, next);
}

int balloon_auto_start(struct balloon_auto *a, struct machine *m, struct event_loop *loop, double window_s,
		       uint64_t margin, char *err, size_t errlen)
{
	struct virtio_dev *b = m->virtio_inited ? virtio_devices_find(&m->virtio, VDEV_BALLOON) : NULL;
	if (!b || !m->wss)
		return err_set(err, errlen, -EINVAL, "--balloon auto: needs the balloon and a working-set estimate");
	uint64_t ram = m->vm.mem.layout.ram_size;
	*a = (struct balloon_auto){ .m = m, .balloon = b, .loop = loop, .window_s = window_s,
				    .margin = margin ? margin : (ram / 8 > (64ull << 20) ? ram / 8 : 64ull << 20),
				    .step = ram / 16 > (16ull << 20) ? ram / 16 : 16ull << 20,
				    .target = virtio_balloon_stats(b).target_bytes };
	a->timer_fd = timer_open(window_s, true);
	int e = a->timer_fd < 0 ? a->timer_fd : 0;
	if (!e)
		e = event_loop_add(loop, a->timer_fd, EPOLLIN, on_window, a);
	if (e) {
		if (a->timer_fd >= 0)
			close(a->timer_fd);
		a->timer_fd = -1;
		return err_set(err, errlen, e, "--balloon auto: its window timer: %s", strerror(-e));
	}
	a->on = true;
	return 0;
}

int balloon_auto_json(const struct balloon_auto *a, char *out, size_t len)
{
	int n = snprintf(out, len, "\"auto\": %s, \"auto_working_set\": %" PRIu64 ", \"auto_margin\": %" PRIu64
			 ", \"auto_deflations\": %" PRIu64 ", \"auto_inflations\": %" PRIu64, a->on ? "true" : "false",
			 a->working_set, a->margin, a->deflations, a->inflations);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

void balloon_auto_stop(struct balloon_auto *a)
{
	if (a->loop && a->timer_fd >= 0) { /* started */
		event_loop_remove(a->loop, a->timer_fd);
		close(a->timer_fd);
	}
	a->timer_fd = -1;
	a->on = false;
}
