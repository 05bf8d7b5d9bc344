/* Post-copy migration over userfaultfd: the destination runs the guest as soon as its
 * state has arrived; a page it lacks is fetched when a vCPU or a device first touches it
 * (the fault thread asks the source, which sends that page ahead of everything else)
 * while the source pushes the rest in order: first the pages the working set saw touched
 * lately (access-log page by page, DAMON region by region), then the rest by address. The
 * hybrid mode sends pre-copy passes first and then only what was dirtied since.
 *
 * Memory is filled through mem/uffd_fill.h: anon, thp and 4K shared memory page by page,
 * hugetlb a whole huge page per fault (the request names all of its pages).
 *
 * Failure is not hidden: once the destination's guest ran, neither side holds the whole
 * VM. A destination that loses its source ends with EXIT_MEMORY_LOST; a source that
 * loses its destination keeps its VM paused (its memory and devices as they were at the
 * switch) and says so: resume it only if the destination is known dead. */
#ifndef PAGODA_VMM_POSTCOPY_H
#define PAGODA_VMM_POSTCOPY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mig_channel.h"
#include "mig_stream.h"
#include "../core/machine.h"

/* Socket buffers once post-copy runs: a requested page waits behind at most this much. */
#define POSTCOPY_SOCK_BUF (256 << 10)

/* ---- source ---- */

struct postcopy_src;
struct mig_channels;

/* With several channels, each other one pushes on a thread of its own. */
struct postcopy_pusher {
	struct postcopy_src *p;
	struct mig_stream st;         /* the first channel's stream, on this one */
	struct mig_pass count;
	pthread_t thread;
	bool started;
	int e;
};

struct postcopy_src {
	struct mig_chan *ch;
	struct mig_channels *chans;   /* NULL or one: the first channel pushes too */
	pthread_mutex_t lock;         /* to_send, left, the cursors and push counts */
	struct postcopy_pusher pushers[MIG_MAX_CHANNELS];
	atomic_uint pushers_done;
	struct machine *m;
	const struct guest_mem *mem;
	uint64_t **to_send;           /* per RAM region, a bit per 4K page still to send */
	uint64_t left;                /* pages still to send */
	uint32_t cursor_slot;
	uint64_t cursor;              /* the background push's next page in that region */
	uint64_t **hot;               /* per RAM region, pages touched lately: pushed first */
	uint32_t hot_slot;
	uint64_t hot_cursor, hot_pages;
	uint64_t pushed, pushed_hot, requested;
	struct mig_pass sent;         /* every page record, counted */
	struct mig_stream stream;
	bool started;                 /* the destination said its guest runs */
	uint64_t t_started_ns;
};

/* all: every page is missing (pure post-copy), else none until postcopy_src_discard.
 * chans: the migration's other channels (mig_channels.h): once the destination's guest
 * runs they push while ch answers its requests. */
int postcopy_src_init(struct postcopy_src *p, struct mig_chan *ch, struct mig_channels *chans, struct machine *m,
		      bool all);
/* The pages the working set saw touched within the last `windows` windows go first in
 * the push. 0, or -ENOTSUP when the working set's method does not know pages. */
int postcopy_src_hot_first(struct postcopy_src *p, struct working_set *w, unsigned int windows);
/* Sends MIG_POSTCOPY (the VM is paused, its devices quiet). */
int postcopy_src_switch(struct postcopy_src *p);
/* Hybrid: the pages set in the dirty log's bitmaps are stale at the destination. */
int postcopy_src_discard(struct postcopy_src *p, const struct dirty_log *d);
/* After MIG_END: serves requests and pushes the rest until the destination has it all.
 * 0 when done; -errno otherwise, with p->started telling whether the guest ran there;
 * the destination's refusal (the guest never ran) in err. */
int postcopy_src_serve(struct postcopy_src *p, char *err, size_t errlen);
void postcopy_src_free(struct postcopy_src *p);

/* ---- destination ---- */

struct postcopy_dst;

/* On MIG_POSTCOPY: registers guest RAM with userfaultfd (all of it missing when all) and
 * starts the fault thread, before the state is restored (restoring may touch memory). */
int postcopy_dst_begin(struct postcopy_dst **out, struct machine *m, bool all, int log_fd, uint64_t t0_ns,
		       char *err, size_t errlen);
/* MIG_DISCARD: those pages are dropped and fetched again. */
int postcopy_dst_discard(struct postcopy_dst *p, uint64_t gpa, uint64_t count);
/* Before postcopy_dst_run: another channel of the migration (mig_channels.h), on which
 * the source pushes pages; its page thread gets a descriptor of its own. */
int postcopy_dst_add_channel(struct postcopy_dst *p, const struct mig_chan *ch);
/* At the stream's end, before the state is restored: the page thread takes the
 * connection over (a duplicate of ch's descriptor); from here on the receiver's words go
 * through postcopy_dst_reply. */
int postcopy_dst_run(struct postcopy_dst *p, const struct mig_chan *ch);
int postcopy_dst_reply(struct postcopy_dst *p, bool ok, const char *msg);
/* Waits for the page thread (all memory in, or the source lost), writes the records, and
 * frees everything. Safe with NULL. */
void postcopy_dst_finish(struct postcopy_dst *p);
/* Ends the page thread early (the VM is ending). */
void postcopy_dst_abort(struct postcopy_dst *p);

#endif
