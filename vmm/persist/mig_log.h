/* Migration records (`--migration-log FILE`): one JSON object per line, appended, for
 * each side of every migration, so an experiment can be plotted straight from the file
 * (tools/migration-plot). Every line has "event", "side" and "t_ms" (milliseconds since
 * that migration began on that side):
 *   start  uri, ram_mib, vcpus; the source adds dirty_log, downtime_limit_ms, max_passes,
 *          precopy_order, channels
 *   pass   pass, ms, pages, zero_pages, bytes, mib_per_s; the source adds what was
 *          dirtied meanwhile (dirty_pages, dirty_pages_per_s), the throttle and the
 *          downtime it estimated from them; "stop": true on the pass sent paused
 *   end    state (done, failed, cancelled), error, passes, bytes, total_ms; the source
 *          adds downtime_ms and where it went (pause, devices, last pages, state,
 *          receiver); the destination restore_ms, populated_ahead_mib and the
 *          channels pass 0 came over
 * A record that cannot be written is lost with a warning: the migration goes on. */
#ifndef PAGODA_VMM_MIG_LOG_H
#define PAGODA_VMM_MIG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The file for appending, or -errno with a one-line message naming the option. */
int mig_log_open(const char *path, char *err, size_t errlen);
/* One record: the fields given (a JSON object's members, without braces) after event,
 * side and t_ms. fd < 0: nothing. */
void mig_log(int fd, const char *event, const char *side, uint64_t t0_ns, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The source's records (with --migration-log) and its lines on stderr; what
 * migration_status_json answers is written here too. */
struct migration;
struct mig_pass;
struct mig_policy_in;
struct mig_policy_out;
void mig_log_start(const struct migration *mg);
/* The pass record; extra: the source's view of what was dirtied during it. */
void mig_log_pass(struct migration *mg, unsigned int pass, const struct mig_pass *p, bool stop,
		  const char *extra_fmt, ...) __attribute__((format(printf, 5, 6)));
void mig_log_end(const struct migration *mg);
void mig_report_pass(unsigned int pass, const struct mig_pass *p);
/* What the policy saw and decided after a harvest, on stderr and as the pass record. */
void mig_report_policy(struct migration *mg, const struct mig_policy_in *in, const struct mig_policy_out *out,
		       const struct mig_pass *last);
void mig_report_done(const struct migration *mg);

#endif
