/* The working set's front (working_set.h): picks a method, formats its reports. */
#include "working_set.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../util/err.h"
#include "wss_backend.h"

struct working_set {
	const struct wss_backend *b;
	void *state;
};

static const char *const method_names[] = {
	[WSS_AUTO] = "auto", [WSS_ACCESS_LOG] = "access-log", [WSS_DAMON] = "damon", [WSS_PAGE_IDLE] = "page-idle",
};
/* Auto's order: the exact and cheap first, then the sampled, then the slow exact. */
static const struct wss_backend *const backends[] = {
	[WSS_ACCESS_LOG] = &wss_access_log, [WSS_DAMON] = &wss_damon, [WSS_PAGE_IDLE] = &wss_page_idle,
};

int wss_method_parse(const char *s, enum wss_method *m)
{
	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
		if (!strcmp(s, method_names[i])) {
			*m = (enum wss_method)i;
			return 0;
		}
	return -EINVAL;
}

/* Auto: each method in turn until one starts; the first refusal that is not "the kernel
 * lacks it" (-ENOTSUP) is the one returned, with every method's reason in err. */
static int start_any(const struct wss_backend **b, void **state, const struct guest_mem *mem, double window_s,
		     char *err, size_t errlen)
{
	char why[WSS_PAGE_IDLE + 1][200] = { "" };
	int worst = -ENOTSUP;
	for (int m = WSS_ACCESS_LOG; m <= WSS_PAGE_IDLE; m++) {
		int e = backends[m]->start(state, mem, window_s, why[m], sizeof(why[m]));
		if (!e) {
			*b = backends[m];
			return 0;
		}
		if (worst == -ENOTSUP)
			worst = e;
	}
	return err_set(err, errlen, worst, "working-set: no method works here: %s; %s; %s", why[WSS_ACCESS_LOG],
		       why[WSS_DAMON], why[WSS_PAGE_IDLE]);
}

int working_set_start(struct working_set **out, const struct guest_mem *mem, double window_s,
		      enum wss_method method, char *err, size_t errlen)
{
	*out = NULL;
	const struct wss_backend *b = NULL;
	void *state = NULL;
	int e;
	if (method == WSS_AUTO)
		e = start_any(&b, &state, mem, window_s, err, errlen);
	else {
		char why[200] = "";
		b = backends[method];
		if ((e = b->start(&state, mem, window_s, why, sizeof(why))))
			err_set(err, errlen, e, "working-set: %s%s", why,
				e == -ENOTSUP ? " (method=auto takes what there is)" : "");
	}
	if (e)
		return e;
	struct working_set *w = malloc(sizeof(*w));
	if (!w) {
		b->stop(state);
		return err_set(err, errlen, -ENOMEM, "working-set: out of memory");
	}
	*w = (struct working_set){ .b = b, .state = state };
	*out = w;
	return 0;
}

int working_set_fd(const struct working_set *w)
{
	return w->b->fd ? w->b->fd(w->state) : -1;
}

int working_set_tick(struct working_set *w)
{
	return w->b->tick ? w->b->tick(w->state) : 0;
}

int working_set_recent(struct working_set *w, uint32_t slot, uint64_t *bits, uint64_t pages, unsigned int windows)
{
	return w->b->recent ? w->b->recent(w->state, slot, bits, pages, windows) : -ENOTSUP;
}

int working_set_sample(struct working_set *w, struct wss_report *r, char *err, size_t errlen)
{
	return w->b->sample(w->state, r, err, errlen);
}

void working_set_stop(struct working_set *w)
{
	if (!w)
		return;
	w->b->stop(w->state);
	free(w);
}

uint64_t wss_touched(const struct wss_report *r)
{
	uint64_t touched = 0;
	for (uint32_t i = 0; i < r->nr_slots; i++)
		touched += r->slot[i].touched;
	return touched;
}

int wss_report_json(const struct wss_report *r, char *out, size_t len)
{
	uint64_t touched = wss_touched(r), within[WSS_BUCKETS] = { 0 };
	size_t n = 0;
	for (uint32_t i = 0; i < r->nr_slots; i++)
		for (unsigned int k = 0; k < WSS_BUCKETS; k++)
			within[k] += r->slot[i].within[k];
#define OUT(...) (n += (size_t)snprintf(out + n, n < len ? len - n : 0, __VA_ARGS__))
	OUT("\"method\": \"%s\", \"window_s\": %.3f, \"regions\": %" PRIu64 ", \"windows\": %" PRIu64
	    ", \"scan_ms\": %.3f, \"touched\": %" PRIu64 ", \"within_windows\": {", r->method, r->window_s,
	    r->regions, r->windows, r->scan_ms, touched);
	for (unsigned int k = 0; k < WSS_BUCKETS; k++)
		OUT("%s\"%u\": %" PRIu64, k ? ", " : "", 1u << k, within[k]);
	OUT("}, \"slots\": [");
	for (uint32_t i = 0; i < r->nr_slots; i++)
		OUT("%s{\"gpa\": %" PRIu64 ", \"size\": %" PRIu64 ", \"touched\": %" PRIu64 "}", i ? ", " : "",
		    r->slot[i].gpa, r->slot[i].size, r->slot[i].touched);
	OUT("], \"blind\": \"%s\"", r->blind ? r->blind : "");
#undef OUT
	return n < len ? 0 : -ENOSPC;
}

void wss_report_table(const struct wss_report *r, FILE *out)
{
	if (r->regions)
		fprintf(out, "working set (%s, window %.2f s, %" PRIu64 " regions):\n", r->method, r->window_s, r->regions);
	else
		fprintf(out, "working set (%s, window %.2f s, %" PRIu64 " windows, last scan %.2f ms):\n", r->method,
			r->window_s, r->windows, r->scan_ms);
	for (uint32_t i = 0; i < r->nr_slots; i++) {
		const struct wss_slot *s = &r->slot[i];
		fprintf(out, "  gpa 0x%" PRIx64 " %" PRIu64 "M: touched %.1fM in the last window; within", s->gpa,
			s->size >> 20, (double)s->touched / (1 << 20));
		for (unsigned int k = 1; k < WSS_BUCKETS; k++)
			fprintf(out, " %u: %.1fM%s", 1u << k, (double)s->within[k] / (1 << 20), k + 1 < WSS_BUCKETS ? "," : "");
		fprintf(out, " windows\n");
	}
}

