#include "mig_policy.h"

#include "../../util/page.h"

struct mig_policy_out mig_policy_decide(const struct mig_policy_in *in)
{
	struct mig_policy_out out = {
		.dirty_pages_per_s = in->pass_s > 0 ? (double)in->dirty_pages / in->pass_s : 0,
		.link_bps = in->link_bps > 0 ? in->link_bps : MIG_DEFAULT_LINK_BPS,
		.throttle_pct = in->throttle_pct,
	};
	out.est_downtime_ms = (double)in->dirty_pages * SZ_4K / out.link_bps * 1e3;
	/* Dirtying faster than half the link can carry: the passes would never catch up. */
	if (in->pass >= 2 && out.dirty_pages_per_s * SZ_4K > out.link_bps / 2 && out.throttle_pct < MIG_THROTTLE_MAX) {
		out.throttle_pct += MIG_THROTTLE_STEP;
		if (out.throttle_pct > MIG_THROTTLE_MAX)
			out.throttle_pct = MIG_THROTTLE_MAX;
	}
	out.stop = out.est_downtime_ms <= in->downtime_limit_ms;
	return out;
}
