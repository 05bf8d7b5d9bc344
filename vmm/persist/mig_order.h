/* The order pre-copy sends a pass in: cold pages first, hot ones last. The sender takes
 * each piece of the dirty log right before it reads it (dirty_log_take), so only a write
 * after a page went out makes it dirty again; the later a page the guest keeps writing
 * goes, the fewer such writes land before the next harvest. Hot: what the working set saw
 * within the last MIG_HOT_WINDOWS windows (--working-set: page by page with the access
 * log, region by region with DAMON), and what was dirtied in the previous pass as well as
 * in this one (written over and over). Address order keeps every pass in guest-address order (for comparison). */
#ifndef PAGODA_VMM_MIG_ORDER_H
#define PAGODA_VMM_MIG_ORDER_H

#include <stdint.h>

struct guest_mem;
struct working_set;

enum precopy_order { PRECOPY_COLD_FIRST, PRECOPY_ADDRESS };

#define MIG_HOT_WINDOWS 4

struct mig_order {
	enum precopy_order order;
	struct working_set *wss;         /* or NULL */
	const struct guest_mem *mem;
	uint64_t **prev;                 /* per region: the pages the previous pass sent */
	uint64_t **hot;                  /* per region: this pass's hot pages */
};

/* "cold-first" or "address": 0, or -EINVAL. */
int precopy_order_parse(const char *s, enum precopy_order *o);
const char *precopy_order_name(enum precopy_order o);

/* -ENOMEM, else 0. wss may be NULL. */
int mig_order_init(struct mig_order *o, enum precopy_order order, const struct guest_mem *mem,
		   struct working_set *wss);
/* The hot pages among want (the pass's pages of RAM region i; NULL in the pass that sends all
 * of RAM) as a bitmap indexed from the region's start, their count in *n; NULL when none is
 * hot or the order is by address. */
const uint64_t *mig_order_hot(struct mig_order *o, uint32_t i, const uint64_t *want, uint64_t *n);
/* Pass 0's hot pages of every region, asked once before it starts: the channels that
 * send its parts (mig_channels.h) then only read them, with mig_order_pass0_hot. */
void mig_order_pass0(struct mig_order *o);
/* Region i's hot pages as mig_order_pass0 left them; NULL when none is hot. */
const uint64_t *mig_order_pass0_hot(const struct mig_order *o, uint32_t i);
/* Remembers want as what this pass sends of region i (call before taking any of it). */
void mig_order_sent(struct mig_order *o, uint32_t i, const uint64_t *want);
void mig_order_free(struct mig_order *o);

#endif
