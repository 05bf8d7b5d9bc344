#include "controller.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../mem/mem_stats.h"
#include "../../mem/wss/working_set.h"
#include "../../util/clock.h"
#include "../../util/sizes.h"
#include "../../virtio/balloon.h"
#include "controller_persist.h"
#include "../persist/migration.h"

#define OK "{\"ok\": true"

int controller_fail(char *reply, size_t len, const char *fmt, const char *arg)
{
	char msg[256], esc[300];
	snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
	json_escape(msg, esc, sizeof(esc));
	snprintf(reply, len, "{\"ok\": false, \"error\": \"%s\"}", esc);
	return 0;
}

static int cmd_pause(struct controller *c, char *reply, size_t len)
{
	if (c->m->vm.paused)
		return controller_fail(reply, len, "already paused", NULL);
	if (!vm_pause(&c->m->vm))
		return controller_fail(reply, len, "the VM is ending", NULL);
	snprintf(reply, len, OK ", \"state\": \"paused\"}");
	return 0;
}

static int cmd_resume(struct controller *c, char *reply, size_t len)
{
	if (!c->m->vm.paused)
		return controller_fail(reply, len, "not paused", NULL);
	vm_resume(&c->m->vm);
	snprintf(reply, len, OK ", \"state\": \"running\"}");
	return 0;
}

static int cmd_stop(struct controller *c, char *reply, size_t len)
{
	vm_request_exit(&c->m->vm, EXIT_GUEST_OFF, "stopped from the control socket");
	snprintf(reply, len, OK ", \"state\": \"stopping\"}");
	return 0;
}

static int cmd_stats(struct controller *c, char *reply, size_t len)
{
	struct machine *m = c->m;
	struct mem_usage u;
	mem_stats_collect(&m->vm.mem, m->vm.vm_fd, &u);
	const struct dirty_stats *d = m->dirty_inited ? &m->dirty.st : NULL;
	int n = snprintf(reply, len, OK ", \"state\": \"%s\", \"uptime_s\": %.3f, \"memory\": {\"size\": %" PRIu64
			 ", \"backend\": \"%s\", \"resident\": %" PRIu64 ", \"huge\": %" PRIu64 ", \"shared\": %" PRIu64
			 ", \"private\": %" PRIu64 ", \"pss\": %" PRIu64 ", \"kvm_pages_4k\": %" PRIu64
			 ", \"kvm_pages_2m\": %" PRIu64 ", \"kvm_pages_1g\": %" PRIu64 "}, \"dirty\": {\"mode\": \"%s\", \"active\": %s"
			 ", \"harvests\": %" PRIu64 ", \"last_pages\": %" PRIu64 ", \"ring_full_exits\": %" PRIu64 "}, \"vcpu_exits\": [",
			 m->vm.paused ? "paused" : "running", (double)(now_ns() - m->t_start_ns) / 1e9,
			 m->vm.mem.layout.ram_size, m->vm.mem.backend.desc, u.rss, u.huge, u.shared, u.private_, u.pss,
			 u.pages_4k, u.pages_2m, u.pages_1g,
			 d ? dirty_mode_name(m->dirty.mode) : "none", d && m->dirty.active ? "true" : "false",
			 d ? d->harvests : 0, d ? d->pages : 0, d ? d->ring_full_exits : 0);
	for (unsigned int i = 0; i < m->vm.nr_vcpus && n > 0 && (size_t)n < len; i++)
		n += snprintf(reply + n, len - (size_t)n, "%s%" PRIu64, i ? ", " : "",
			      __atomic_load_n(&m->vm.vcpus[i].nr_exits, __ATOMIC_RELAXED));
	if (n > 0 && (size_t)n < len)
		snprintf(reply + n, len - (size_t)n, "]}");
	return 0;
}

static int cmd_balloon(struct controller *c, const char *arg, char *reply, size_t len)
{
	struct virtio_dev *b = c->m->virtio_inited ? virtio_devices_find(&c->m->virtio, VDEV_BALLOON) : NULL;
	if (!b)
		return controller_fail(reply, len, "no balloon: start the VM with --balloon", NULL);
	uint64_t size;
	if (arg) {
		if (size_parse(arg, &size) || size % 4096 || size >= c->m->vm.mem.layout.ram_size)
			return controller_fail(reply, len, "balloon size '%s': give a multiple of 4K below the guest's memory, e.g. 64M", arg);
		balloon_auto_stop(&c->m->balloon_auto); /* the user takes over */
		virtio_balloon_set_target(b, size);
	}
	struct balloon_stats s = virtio_balloon_stats(b);
	char auto_json[256];
	if (balloon_auto_json(&c->m->balloon_auto, auto_json, sizeof(auto_json)))
		auto_json[0] = 0;
	snprintf(reply, len, OK ", \"target\": %" PRIu64 ", \"actual\": %" PRIu64 ", \"inflated\": %" PRIu64
		 ", \"deflated\": %" PRIu64 ", \"host_freed\": %" PRIu64 ", \"guest_free\": %" PRId64 ", %s}",
		 s.target_bytes, s.actual_bytes, s.inflated_bytes, s.deflated_bytes, s.freed_bytes,
		 s.guest_updates ? (int64_t)s.guest[4] : (int64_t)-1, auto_json);
	return 0;
}

static void on_rate_window(void *opaque, uint32_t events)
{
	struct controller *c = opaque;
	uint64_t ticks;
	(void)events;
	if (read(c->rate_fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	char reply[512];
	struct dirty_rate_window w;
	if (dirty_rate_window(&c->rate, &w))
		controller_fail(reply, sizeof(reply), "harvesting dirty pages failed", NULL);
	else
		snprintf(reply, sizeof(reply), OK ", \"seconds\": %.3f, \"pages\": %" PRIu64 ", \"pages_per_s\": %.0f"
			 ", \"mib_per_s\": %.2f, \"mode\": \"%s\"}", w.seconds, w.pages, w.pages_per_s, w.mib_per_s,
			 dirty_mode_name(c->m->dirty.mode));
	dirty_rate_free(&c->rate);
	machine_dirty_log_stop(c->m);
	event_loop_remove(c->loop, c->rate_fd);
	close(c->rate_fd);
	c->rate_fd = -1;
	api_reply(&c->api, c->rate_client, reply);
}

static int cmd_dirty_rate(struct controller *c, int client, const char *arg, char *reply, size_t len)
{
	struct machine *m = c->m;
	double s = arg ? strtod(arg, NULL) : 1.0;
	if (!(s > 0 && s <= 60))
		return controller_fail(reply, len, "dirty-rate window '%s': give seconds from 0 to 60, e.g. 1", arg);
	if (!m->dirty_inited)
		return controller_fail(reply, len, "no dirty tracking in this VM", NULL);
	controller_stop_tracking(c);
	if (m->dirty.active || c->rate_fd >= 0)
		return controller_fail(reply, len, "dirty logging is busy (--dirty-rate, a migration or a measurement)", NULL);
	c->rate_fd = timer_open(s, false);
	bool logging = false;
	if (c->rate_fd < 0 || !(logging = !dirty_rate_start(&c->rate, &m->dirty, &m->vm.mem)) ||
	    event_loop_add(c->loop, c->rate_fd, EPOLLIN, on_rate_window, c)) {
		if (c->rate_fd >= 0)
			close(c->rate_fd);
		c->rate_fd = -1;
		if (logging)
			machine_dirty_log_stop(m);
		dirty_rate_free(&c->rate);
		return controller_fail(reply, len, "could not start the measurement", NULL);
	}
	c->rate_client = client;
	return 1;
}

/* The working set: the first ask starts the estimation (windows of arg seconds, default
 * 1, by the method mode names, default auto) and says so; later ones answer with the
 * last window. */
static int cmd_working_set(struct controller *c, const char *arg, const char *mode, char *reply, size_t len)
{
	struct machine *m = c->m;
	char why[768];
	struct wss_report rep;
	enum wss_method method = WSS_AUTO;
	double s = arg ? strtod(arg, NULL) : 1.0;
	if (!m->wss) {
		if (!(s >= 0.01 && s <= 60))
			return controller_fail(reply, len, "working-set window '%s': give seconds from 0.01 to 60, e.g. 1", arg);
		if (mode && wss_method_parse(mode, &method))
			return controller_fail(reply, len, "working-set method '%s': use auto, access-log, damon or page-idle", mode);
		if (machine_working_set_start(m, c->loop, s, method, why, sizeof(why)))
			return controller_fail(reply, len, "%s", why);
		snprintf(reply, len, OK ", \"started\": true, \"window_s\": %.3f, \"note\": \"ask again after a few "
			 "windows\"}", s);
		return 0;
	}
	if (working_set_sample(m->wss, &rep, why, sizeof(why)))
		return controller_fail(reply, len, "%s", why);
	int n = snprintf(reply, len, OK ", ");
	if (n < 0 || (size_t)n >= len || wss_report_json(&rep, reply + n, len - (size_t)n - 1))
		return controller_fail(reply, len, "working-set: the report does not fit the reply", NULL);
	strcat(reply, "}");
	return 0;
}

/* While a migration runs, its thread pauses the VM for stop-and-copy and resumes it if
 * the migration fails: a pause, resume or snapshot from here would let the guest run
 * while its last pages and state are sent, or be undone behind the user's back. */
static bool conflicts_with_migration(const char *cmd)
{
	return !strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "snapshot");
}

static int handle(void *ctx, int client, const struct json_kv *kv, int n, char *reply, size_t len)
{
	struct controller *c = ctx;
	const char *cmd = json_get(kv, n, "cmd"), *arg = json_get(kv, n, "arg");
	if (!cmd)
		return controller_fail(reply, len, "no \"cmd\": send {\"cmd\": \"stats\"}", NULL);
	if (c->mig && migration_running(c->mig) && conflicts_with_migration(cmd))
		return controller_fail(reply, len, "a migration is running: '%s' waits until it ends (migrate-status)", cmd);
	if (!strcmp(cmd, "pause"))
		return cmd_pause(c, reply, len);
	if (!strcmp(cmd, "resume"))
		return cmd_resume(c, reply, len);
	if (!strcmp(cmd, "stop"))
		return cmd_stop(c, reply, len);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(c, reply, len);
	if (!strcmp(cmd, "balloon"))
		return cmd_balloon(c, arg, reply, len);
	if (!strcmp(cmd, "dirty-rate"))
		return cmd_dirty_rate(c, client, arg, reply, len);
	if (!strcmp(cmd, "working-set"))
		return cmd_working_set(c, arg, json_get(kv, n, "mode"), reply, len);
	if (!strcmp(cmd, "snapshot"))
		return controller_snapshot(c, arg, json_get(kv, n, "mode"), reply, len);
	if (!strcmp(cmd, "migrate"))
		return controller_migrate(c, client, json_get(kv, n, "wait") && !strcmp(json_get(kv, n, "wait"), "true"),
					  arg, json_get(kv, n, "mode"), reply, len);
	if (!strcmp(cmd, "migrate-status"))
		return controller_migrate_status(c, reply, len);
	return controller_fail(reply, len, "unknown command '%s': pause, resume, stop, stats, balloon, dirty-rate, working-set, snapshot, migrate, migrate-status", cmd);
}

int controller_open(struct controller *c, struct machine *m, struct event_loop *loop,
		    const char *path, char *err, size_t errlen)
{
	*c = (struct controller){ .m = m, .loop = loop, .rate_fd = -1, .mig_client = -1, .mig_log_fd = -1 };
	c->mig_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->mig_efd < 0 || event_loop_add(loop, c->mig_efd, EPOLLIN, controller_on_migration_end, c)) {
		snprintf(err, errlen, "control socket: eventfd: %s", strerror(errno));
		return -EIO;
	}
	int e = api_open(&c->api, path, loop, handle, c, err, errlen);
	c->api_open = e == 0;
	return e;
}

void controller_close(struct controller *c)
{
	if (c->rate_fd >= 0) {
		event_loop_remove(c->loop, c->rate_fd);
		close(c->rate_fd);
		c->rate_fd = -1;
	}
	dirty_rate_free(&c->rate);
	if (c->mig) {
		if (atomic_load(&c->m->vm.exit_code) != EXIT_GUEST_OFF || migration_running(c->mig)) {
			/* The guest, a signal or an error ends the VM mid-migration. */
			char why[sizeof(c->m->vm.exit_reason) + 64];
			snprintf(why, sizeof(why), "the VM ended during the migration: %s", vm_exit_reason(&c->m->vm));
			migration_abort(c->mig, why);
		}
		migration_join(c->mig);
		controller_answer_migration(c); /* a migration that ended the VM still gets its answer */
		free(c->mig);
		c->mig = NULL;
	}
	if (c->mig_efd >= 0) {
		event_loop_remove(c->loop, c->mig_efd);
		close(c->mig_efd);
	}
	c->mig_efd = -1;
	if (c->api_open)
		api_close(&c->api);
	c->api_open = false;
}
