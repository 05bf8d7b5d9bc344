/* Guest pages into a migration stream: MIG_PAGES records of up to MIG_BATCH pages, a run
 * of zero pages as a marker without data, every page sent counted. Pre-copy's passes go
 * through mig_stream_all_ram and mig_stream_dirty (a chunk at a time: taken from the
 * dirty log, then read; cold pages before hot ones, mig_order.h); post-copy's push and
 * answers through mig_stream_run. Nothing else writes page records. */
#ifndef PAGODA_VMM_MIG_STREAM_H
#define PAGODA_VMM_MIG_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "mig_channel.h"
#include "migration.h"
#include "../../mem/dirty.h"
#include "../../mem/ram.h"

struct mig_order;

struct mig_stream {
	struct mig_chan *ch;
	const struct guest_mem *mem;
	struct dirty_log *dirty;      /* pre-copy: pages are taken from it before they are read */
	struct mig_order *order;      /* pre-copy: which pages go last */
	struct mig_pass *count;       /* what was sent is added here */
	/* After each record (the sender's throttle kicks the vCPUs from here), or NULL. */
	void (*after_record)(void *ctx);
	void *ctx;
};

/* Whether every page of [page, page + n) of r is zero, read while the guest and the
 * devices may write them: by design, a page written meanwhile is dirty and goes again. */
bool mig_pages_zero(const struct guest_mem *mem, const struct ram_region *r, uint64_t page, uint64_t n);
/* One record: n pages of r from page, as zeros (no data) or as their bytes. */
int mig_stream_run(struct mig_stream *st, const struct ram_region *r, uint64_t page, uint32_t n, bool zero);
/* Pass 0: all of RAM (share NULL) or a channel's share of it, telling the receiver ahead
 * which chunks hold data (MIG_HINT); hot pages last, as mig_order_pass0 found them. */
int mig_stream_all_ram(struct mig_stream *st, const struct mig_share *share);
/* What the dirty log's last harvest holds. take: take each chunk from the log right
 * before reading it (false once the VM is paused for good: nothing can dirty it again,
 * and the pages go by address). */
int mig_stream_dirty(struct mig_stream *st, bool take);

#endif
