/* Pre-copy's decisions (vmm/persist/mig_policy.h): when to stop and copy, and how the
 * throttle grows against a guest that dirties memory faster than the link carries it. */
#include "../../vmm/persist/mig_policy.h"
#include "check.h"

#define MIB (1024.0 * 1024.0)

static struct mig_policy_out decide(unsigned int pass, uint64_t dirty, double pass_s, double link, unsigned int throttle,
				    double limit_ms)
{
	struct mig_policy_in in = { pass, dirty, pass_s, link, throttle, limit_ms };
	return mig_policy_decide(&in);
}

static void convergence(void)
{
	/* 25,600 pages (100 MiB) over a 1000 MiB/s link: 100 ms of downtime. */
	struct mig_policy_out o = decide(3, 25600, 1.0, 1000 * MIB, 0, 300);
	CHECK(o.est_downtime_ms > 99.99 && o.est_downtime_ms < 100.01);
	CHECK(o.stop);
	CHECK(!decide(3, 25600, 1.0, 1000 * MIB, 0, 99).stop);
	CHECK(decide(3, 25600, 1.0, 1000 * MIB, 0, 100).stop); /* at the limit counts */
	/* Nothing dirty stops at once, whatever the limit. */
	CHECK(decide(1, 0, 0.5, 0, 0, 0).stop);
	/* No link measured yet: 1 GB/s is assumed. */
	o = decide(1, 250000, 1.0, 0, 0, 300);
	CHECK(o.link_bps == MIG_DEFAULT_LINK_BPS);
	CHECK(o.est_downtime_ms > 1023.9 && o.est_downtime_ms < 1024.1);
	CHECK(!o.stop);
}

static void throttle(void)
{
	/* 51,200 pages in 0.5 s is 400 MiB/s, faster than half a 500 MiB/s link. */
	CHECK_EQ(decide(1, 51200, 0.5, 500 * MIB, 0, 1).throttle_pct, 0);   /* not before pass 2 */
	CHECK_EQ(decide(2, 51200, 0.5, 500 * MIB, 0, 1).throttle_pct, 20);
	CHECK_EQ(decide(5, 51200, 0.5, 500 * MIB, 60, 1).throttle_pct, 80);
	CHECK_EQ(decide(6, 51200, 0.5, 500 * MIB, 80, 1).throttle_pct, 90); /* capped */
	CHECK_EQ(decide(7, 51200, 0.5, 500 * MIB, 90, 1).throttle_pct, 90);
	/* Slower than half the link: left as it is, never lowered. */
	CHECK_EQ(decide(4, 51200, 0.5, 1000 * MIB, 40, 1).throttle_pct, 40);
	struct mig_policy_out o = decide(4, 51200, 0.5, 500 * MIB, 0, 1);
	CHECK(o.dirty_pages_per_s > 102399 && o.dirty_pages_per_s < 102401);
	/* A pass that took no time gives no rate, and no throttle. */
	CHECK_EQ(decide(4, 51200, 0, 500 * MIB, 0, 1).throttle_pct, 0);
}

int main(void)
{
	convergence();
	throttle();
	return check_result("mig_policy");
}
