#include "dirty_rate.h"

#include <errno.h>
#include <stdlib.h>

#include "../util/clock.h"
#include "../util/page.h"

int dirty_rate_start(struct dirty_rate *r, struct dirty_log *d, struct guest_mem *mem)
{
	*r = (struct dirty_rate){ .log = d };
	if (d->nr_rings && !(r->vcpu_collected = calloc(d->nr_rings, sizeof(uint64_t))))
		return -ENOMEM;
	int e = dirty_log_start(d, mem);
	if (!e && (e = dirty_log_drain(d))) /* the first window counts real writes only */
		dirty_log_stop(d);
	for (unsigned int v = 0; !e && v < d->nr_rings; v++)
		r->vcpu_collected[v] = d->rings[v].collected;
	r->t0_ns = now_ns();
	return e;
}

int dirty_rate_window(struct dirty_rate *r, struct dirty_rate_window *w)
{
	int e = dirty_log_harvest(r->log);
	uint64_t now = now_ns();
	double secs = (double)(now - r->t0_ns) / 1e9;
	r->t0_ns = now;
	uint64_t pages = e ? 0 : r->log->st.pages;
	*w = (struct dirty_rate_window){ .seconds = secs, .pages = pages,
					 .pages_per_s = secs > 0 ? (double)pages / secs : 0,
					 .mib_per_s = secs > 0 ? (double)pages * SZ_4K / secs / (1 << 20) : 0 };
	return e;
}

double dirty_rate_vcpu(struct dirty_rate *r, unsigned int v, const struct dirty_rate_window *w)
{
	if (!r->vcpu_collected || v >= r->log->nr_rings)
		return 0;
	uint64_t c = r->log->rings[v].collected, before = r->vcpu_collected[v];
	r->vcpu_collected[v] = c;
	return w->seconds > 0 ? (double)(c - before) / w->seconds : 0;
}

void dirty_rate_free(struct dirty_rate *r)
{
	free(r->vcpu_collected);
	r->vcpu_collected = NULL;
}
