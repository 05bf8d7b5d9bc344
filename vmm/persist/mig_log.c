#include "mig_log.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migration.h"
#include "mig_policy.h"
#include "../../mem/wss/working_set.h"
#include "../../util/clock.h"
#include "../../util/json.h"
#include "../../util/page.h"

int mig_log_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
	struct stat st;
	int e = fd < 0 || fstat(fd, &st) ? -errno : 0;
	if (!e && !S_ISREG(st.st_mode))
		e = -EINVAL;
	if (e) {
		snprintf(err, errlen, "--migration-log %s: %s: give a file to append JSON lines to", path,
			 e == -EINVAL ? "not a regular file" : strerror(-e));
		if (fd >= 0)
			close(fd);
		return e;
	}
	return fd;
}

void mig_log(int fd, const char *event, const char *side, uint64_t t0_ns, const char *fmt, ...)
{
	if (fd < 0)
		return;
	char line[2048];
	int n = snprintf(line, sizeof(line), "{\"event\": \"%s\", \"side\": \"%s\", \"t_ms\": %.3f, ", event, side,
			 (double)(now_ns() - t0_ns) / 1e6);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n <= 0 || (size_t)n + 2 >= sizeof(line)) {
		fprintf(stderr, "pagoda: --migration-log: a %s record did not fit a line; left out\n", event);
		return;
	}
	line[n++] = '}';
	line[n++] = '\n';
	/* One write per record: with O_APPEND lines of two writers never interleave. */
	if (write(fd, line, (size_t)n) != n)
		fprintf(stderr, "pagoda: --migration-log: a %s record could not be written: %s\n", event,
			strerror(errno));
}

/* ---- the source's records and messages ---- */

/* The pass record; extra: the source's view of what was dirtied during it. */
void mig_log_pass(struct migration *mg, unsigned int pass, const struct mig_pass *p, bool stop,
		     const char *extra_fmt, ...)
{
	if (mg->log_fd < 0)
		return;
	char extra[512] = "";
	va_list ap;
	va_start(ap, extra_fmt);
	int n = vsnprintf(extra, sizeof(extra), extra_fmt, ap);
	va_end(ap);
	/* With the working set estimated (--working-set), what the guest used meanwhile. */
	struct wss_report w;
	char why[256];
	if (mg->m->wss && n >= 0 && (size_t)n < sizeof(extra) && !working_set_sample(mg->m->wss, &w, why, sizeof(why)))
		snprintf(extra + n, sizeof(extra) - (size_t)n, ", \"working_set\": %" PRIu64, wss_touched(&w));
	mig_log(mg->log_fd, "pass", "source", mg->t_start_ns,
		"\"pass\": %u, \"stop\": %s, \"ms\": %.3f, \"pages\": %" PRIu64 ", \"zero_pages\": %" PRIu64
		", \"hot_sent_last\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"mib_per_s\": %.1f%s",
		pass, stop ? "true" : "false", (double)p->ns / 1e6, p->pages, p->zero_pages, p->hot_pages, p->bytes,
		p->ns ? (double)p->bytes / (1 << 20) / ((double)p->ns / 1e9) : 0.0, extra);
}

void mig_report_pass(unsigned int pass, const struct mig_pass *p)
{
	fprintf(stderr, "pagoda: migrate: pass %u: %" PRIu64 " pages (%" PRIu64 " zero, %" PRIu64 " hot sent last), "
		"%.1f MiB in %.1f ms, %.0f MiB/s\n", pass, p->pages, p->zero_pages, p->hot_pages,
		(double)p->bytes / (1 << 20), (double)p->ns / 1e6,
		p->ns ? (double)p->bytes / (1 << 20) / ((double)p->ns / 1e9) : 0.0);
}

void mig_report_policy(struct migration *mg, const struct mig_policy_in *in, const struct mig_policy_out *out,
		       const struct mig_pass *last)
{
	if (out->throttle_pct != in->throttle_pct)
		fprintf(stderr, "pagoda: migrate: dirtying %.0f MiB/s against a %.0f MiB/s link: vCPUs throttled %u%%\n",
			out->dirty_pages_per_s * SZ_4K / (1 << 20), out->link_bps / (1 << 20), out->throttle_pct);
	fprintf(stderr, "pagoda: migrate: %" PRIu64 " pages dirty, estimated downtime %.1f ms (limit %.0f)\n",
		in->dirty_pages, out->est_downtime_ms, in->downtime_limit_ms);
	mig_log_pass(mg, in->pass - 1, last, false, ", \"dirty_pages\": %" PRIu64 ", \"dirty_pages_per_s\": %.0f"
		     ", \"throttle_pct\": %u, \"est_downtime_ms\": %.3f", in->dirty_pages, out->dirty_pages_per_s,
		     out->throttle_pct, out->est_downtime_ms);
}

void mig_report_done(const struct migration *mg)
{
	const struct mig_stop *t = &mg->stop;
	fprintf(stderr, "pagoda: migrate: done: %u passes, %.1f MiB in %.1f ms (%.0f MiB/s), downtime %.2f ms "
		"(pause %.2f, devices %.2f, last pages %.2f, state %.2f, receiver %.2f)\n",
		mg->passes_sent, (double)mg->bytes_total / (1 << 20), (double)mg->total_ns / 1e6,
		(double)mg->bytes_total / (1 << 20) / ((double)mg->total_ns / 1e9), (double)mg->downtime_ns / 1e6,
		(double)t->pause_ns / 1e6, (double)t->quiesce_ns / 1e6, (double)t->pages_ns / 1e6,
		(double)t->state_ns / 1e6, (double)t->reply_ns / 1e6);
	if (mg->mode != MIG_PRECOPY)
		fprintf(stderr, "pagoda: migrate: post-copy: %" PRIu64 " pages pushed in order, %" PRIu64
			" requests from the destination served first\n", mg->pc_pushed, mg->pc_requested);
}

static const char *mode_name(const struct migration *mg)
{
	static const char *names[] = { "precopy", "postcopy", "precopy-then-postcopy" };
	return names[mg->mode];
}

void mig_log_start(const struct migration *mg)
{
	char uri[sizeof(mg->uri) * 6];
	json_escape(mg->uri, uri, sizeof(uri));
	mig_log(mg->log_fd, "start", "source", mg->t_start_ns,
		"\"uri\": \"%s\", \"mode\": \"%s\", \"ram_mib\": %" PRIu64 ", \"vcpus\": %u, \"dirty_log\": \"%s\""
		", \"downtime_limit_ms\": %.3f, \"max_passes\": %u, \"precopy_order\": \"%s\", \"channels\": %u",
		uri, mode_name(mg), mg->m->cfg.mem_size >> 20, mg->m->vm.nr_vcpus, dirty_mode_name(mg->m->dirty.mode),
		mg->downtime_limit_ms, mg->max_passes, precopy_order_name(mg->order), mg->channels);
}

static const char *state_name(enum mig_state st)
{
	static const char *names[] = { "none", "running", "done", "failed", "cancelled" };
	return names[st];
}

void mig_log_end(const struct migration *mg)
{
	char error[sizeof(mg->error) * 6];
	json_escape(mg->error, error, sizeof(error));
	const struct mig_stop *t = &mg->stop;
	mig_log(mg->log_fd, "end", "source", mg->t_start_ns,
		"\"state\": \"%s\", \"error\": \"%s\", \"passes\": %u, \"bytes\": %" PRIu64 ", \"total_ms\": %.3f"
		", \"downtime_ms\": %.3f, \"pause_ms\": %.3f, \"devices_ms\": %.3f, \"last_pages_ms\": %.3f"
		", \"state_ms\": %.3f, \"state_bytes\": %" PRIu64 ", \"receiver_ms\": %.3f, \"mode\": \"%s\""
		", \"postcopy_pushed_pages\": %" PRIu64 ", \"postcopy_requests\": %" PRIu64,
		state_name(mg->outcome), error, mg->passes_sent, mg->bytes_total, (double)mg->total_ns / 1e6,
		(double)mg->downtime_ns / 1e6, (double)t->pause_ns / 1e6, (double)t->quiesce_ns / 1e6,
		(double)t->pages_ns / 1e6, (double)t->state_ns / 1e6, t->state_bytes, (double)t->reply_ns / 1e6,
		mode_name(mg), mg->pc_pushed, mg->pc_requested);
}

void migration_status_json(struct migration *mg, char *out, size_t len)
{
	pthread_mutex_lock(&mg->lock);
	/* The error may quote the receiver's words: escaped, a peer cannot add members. */
	char error[sizeof(mg->error) * 6];
	json_escape(mg->error, error, sizeof(error));
	uint64_t total = mg->total_ns ? mg->total_ns : now_ns() - mg->t_start_ns;
	int n = snprintf(out, len, "{\"ok\": true, \"state\": \"%s\", \"mode\": \"%s\", \"error\": \"%s\", \"pass\": %u, \"remaining_pages\": %" PRIu64
			 ", \"dirty_pages_per_s\": %.0f, \"link_mib_per_s\": %.1f, \"throttle_pct\": %u, \"total_ms\": %.1f"
			 ", \"downtime_ms\": %.2f, \"bytes\": %" PRIu64 ", \"passes\": [",
			 state_name(mg->state), mode_name(mg), error, mg->pass, mg->remaining_pages, mg->dirty_rate_pps,
			 mg->link_bps / (1 << 20), mg->throttle_pct, (double)total / 1e6, (double)mg->downtime_ns / 1e6,
			 mg->bytes_total);
	for (unsigned int i = 0; i < mg->nr_passes && n > 0 && (size_t)n < len; i++)
		n += snprintf(out + n, len - (size_t)n, "%s{\"pages\": %" PRIu64 ", \"zero\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"ms\": %.1f}",
			      i ? ", " : "", mg->passes[i].pages, mg->passes[i].zero_pages, mg->passes[i].bytes,
			      (double)mg->passes[i].ns / 1e6);
	if (n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, "]}");
	pthread_mutex_unlock(&mg->lock);
}
