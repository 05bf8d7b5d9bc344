/* Pre-copy live migration over a unix or TCP socket. The sender (a thread of the
 * source VMM) sends all of RAM (zero pages as markers), then passes of the pages dirtied
 * meanwhile, until the estimated downtime is under the limit or the passes run out (then
 * force or cancel); auto-converge throttles vCPUs that dirty faster than the link
 * carries. Stop-and-copy pauses the VM, sends the last pages and the machine state, and
 * waits for the receiver's word: on any failure the source resumes, whole. The receiver
 * (`pagoda run --incoming URI`) checks the header before any memory comes, and starts
 * nothing until the whole VM has arrived. */
#ifndef PAGODA_VMM_MIGRATION_H
#define PAGODA_VMM_MIGRATION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/machine.h"
#include "mig_order.h"
#include "mig_proto.h"

#define MIG_MAX_PASSES_KEPT 64

enum mig_state { MIG_NONE, MIG_RUNNING, MIG_DONE, MIG_FAILED, MIG_CANCELLED };
/* Pre-copy; post-copy from the first byte; or pre-copy passes, then post-copy for what
 * was dirtied since (postcopy.h). */
enum mig_mode { MIG_PRECOPY, MIG_POSTCOPY_ONLY, MIG_HYBRID };

struct mig_pass {
	uint64_t pages, zero_pages, bytes, ns;
	uint64_t hot_pages;            /* of pages, those sent last as hot (mig_order.h) */
};

/* What another channel carried of a pass, added to the pass (its time is the pass's). */
static inline void mig_pass_add(struct mig_pass *to, const struct mig_pass *from)
{
	to->pages += from->pages;
	to->zero_pages += from->zero_pages;
	to->bytes += from->bytes;
	to->hot_pages += from->hot_pages;
}

/* Where the downtime went: stopping the vCPUs, finishing device I/O, the last dirty pages,
 * saving and sending the machine state, and the receiver's restore until its word. */
struct mig_stop {
	uint64_t pause_ns, quiesce_ns, pages_ns, state_ns, reply_ns;
	uint64_t state_bytes;
};

struct migration {
	struct machine *m;
	char uri[256];
	double downtime_limit_ms;
	unsigned int max_passes;
	bool cancel_at_max;
	enum mig_mode mode;
	unsigned int hybrid_passes;    /* MIG_HYBRID: pre-copy passes before the switch */
	enum precopy_order order;      /* mig_order.h */
	unsigned int channels;         /* connections for pass 0 (mig_channels.h), 1 to
					* MIG_MAX_CHANNELS */
	bool keep_paused;              /* post-copy broke after the destination ran the guest */
	uint64_t pc_pushed, pc_requested; /* post-copy: pages pushed in order, requests served */
	pthread_t thread;
	bool thread_started;
	int done_efd;                  /* written when the thread ends, whatever the outcome */
	int log_fd;                    /* --migration-log, or -1 */
	atomic_int fd;                 /* the connection while it is open, else -1 */
	atomic_int chan_fds[MIG_MAX_CHANNELS]; /* [1, channels): the others, the same way */
	pthread_mutex_t lock;          /* the fields below, read by migrate-status */
	enum mig_state state;          /* RUNNING until the thread has cleaned up */
	enum mig_state outcome;        /* the thread's: becomes the state at its end */
	char error[256];
	unsigned int pass;
	unsigned int nr_passes;        /* kept in passes[] */
	unsigned int passes_sent;
	struct mig_pass passes[MIG_MAX_PASSES_KEPT];
	uint64_t remaining_pages;      /* dirty at the last harvest */
	double dirty_rate_pps, link_bps;
	unsigned int throttle_pct;
	uint64_t t_start_ns, total_ns, downtime_ns, bytes_total;
	struct mig_stop stop;
};

/* Starts migrating m to uri (unix:PATH or tcp:HOST:PORT) on a thread of its own. */
int migration_start(struct migration *mg, struct machine *m, const char *uri, char *err, size_t errlen);
/* The VMM is ending: cut the connection so the thread stops at once (the receiver then
 * fails and starts nothing). */
/* Whether the migration thread is still at work (it owns pausing and resuming the VM
 * until it ends). */
bool migration_running(struct migration *mg);
/* The VM is ending mid-migration: the migration fails with why as its error (not the
 * broken connection that follows) and its thread stops at its next send. */
void migration_abort(struct migration *mg, const char *why);
/* Joins the thread (after it ended, or to wait for it). */
void migration_join(struct migration *mg);
/* One JSON object describing the migration, for migrate-status. */
void migration_status_json(struct migration *mg, char *out, size_t len);

/* The receiving side, before any vCPU runs: listens on uri, takes one migration into m.
 * timeout_s > 0 bounds the wait for the sender. 0, or -errno with a message. After a
 * post-copy switch *pc holds what still fetches memory (postcopy.h): its owner ends it
 * with postcopy_dst_abort/finish before the machine goes; else NULL. */
struct postcopy_dst;
int migration_receive(struct machine *m, const char *uri, double timeout_s, int log_fd, struct postcopy_dst **pc,
		      char *err, size_t errlen);
/* The same from a connected socket (the stream's parser; the fuzz target feeds it). */
int migration_receive_fd(struct machine *m, int fd, int log_fd, struct postcopy_dst **pc, char *err, size_t errlen);

#endif
