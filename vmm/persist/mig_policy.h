/* When pre-copy stops and copies, and how hard it slows the guest down meanwhile: a pure
 * function of what the last pass saw, so every rule is a unit test away.
 *   converge   stop when the pages still dirty would cross the link within the downtime
 *              limit (the link's speed measured end to end by the passes; 1 GB/s until
 *              a pass was big enough to measure it)
 *   throttle   from pass 2 on, a guest dirtying faster than half the link gets 20 more
 *              points of throttle (vCPUs sleep that share of every 10 ms), 90 at most */
#ifndef PAGODA_VMM_MIG_POLICY_H
#define PAGODA_VMM_MIG_POLICY_H

#include <stdbool.h>
#include <stdint.h>

struct mig_policy_in {
	unsigned int pass;             /* the pass about to be sent */
	uint64_t dirty_pages;          /* the harvest that ended the last pass */
	double pass_s;                 /* how long that pass took */
	double link_bps;               /* measured; 0 when unknown */
	unsigned int throttle_pct;     /* the throttle now */
	double downtime_limit_ms;
};

struct mig_policy_out {
	double dirty_pages_per_s;
	double link_bps;               /* the one the estimate used */
	double est_downtime_ms;
	unsigned int throttle_pct;     /* the throttle from now on */
	bool stop;                     /* stop and copy now */
};

#define MIG_DEFAULT_LINK_BPS 1e9
#define MIG_THROTTLE_STEP 20
#define MIG_THROTTLE_MAX 90

struct mig_policy_out mig_policy_decide(const struct mig_policy_in *in);

#endif
