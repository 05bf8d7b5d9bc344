/* The control socket's snapshot and migration commands (vmm/control/controller.c dispatches),
 * and the dirty logging that diff snapshots keep running between snapshots. */
#include "controller_persist.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../persist/migration.h"
#include "../persist/snapshot.h"

#define OK "{\"ok\": true"

/* Dirty logging for diff snapshots gives way to a migration or a dirty-rate window. */
void controller_stop_tracking(struct controller *c)
{
	if (!c->snap_tracking)
		return;
	machine_dirty_log_stop(c->m);
	c->snap_tracking = false;
	c->last_snapshot[0] = 0;
}

/* After a snapshot: the next diff counts from here. */
static void track_from_here(struct controller *c, const char *dir)
{
	struct machine *m = c->m;
	if (!realpath(dir, c->last_snapshot))
		snprintf(c->last_snapshot, sizeof(c->last_snapshot), "%s", dir);
	if (!c->snap_tracking && m->dirty_inited && !m->dirty.active && !dirty_log_start(&m->dirty, &m->vm.mem))
		c->snap_tracking = true;
	if (c->snap_tracking && dirty_log_harvest(&m->dirty)) /* a clean slate, whatever the mode */
		controller_stop_tracking(c);
}

int controller_snapshot(struct controller *c, const char *arg, const char *mode, char *reply, size_t len)
{
	if (!arg || !*arg)
		return controller_fail(reply, len, "snapshot needs a directory: {\"cmd\": \"snapshot\", \"arg\": \"DIR\"}", NULL);
	if (c->m->cfg.nr_fs) /* its server's open files are host state */
		return controller_fail(reply, len, "a VM with a shared directory (--fs %s) cannot be saved or moved",
				       c->m->cfg.fs[0].path);
	if (!c->m->vm.paused)
		return controller_fail(reply, len, "the VM must be paused first (pause)", NULL);
	bool diff = mode && !strcmp(mode, "diff");
	if (mode && !diff && strcmp(mode, "full"))
		return controller_fail(reply, len, "snapshot mode '%s': full or diff", mode);
	if (diff && (!c->snap_tracking || !c->last_snapshot[0]))
		return controller_fail(reply, len, "a diff snapshot needs a full one taken before by this VM (and no migration or dirty-rate since)", NULL);
	char err[256];
	uint64_t t0 = now_ns();
	if (diff && dirty_log_harvest(&c->m->dirty))
		return controller_fail(reply, len, "harvesting dirty pages failed", NULL);
	virtio_devices_quiesce(&c->m->virtio);
	int e = snapshot_save(c->m, arg, diff ? c->last_snapshot : NULL, err, sizeof(err));
	virtio_devices_resume(&c->m->virtio);
	if (e)
		return controller_fail(reply, len, "%s", err);
	track_from_here(c, arg);
	char esc[300];
	json_escape(arg, esc, sizeof(esc));
	snprintf(reply, len, OK ", \"dir\": \"%s\", \"ms\": %.1f}", esc, (double)(now_ns() - t0) / 1e6);
	return 0;
}

/* The deferred answer of a migrate that waits: the final status. */
void controller_answer_migration(struct controller *c)
{
	if (c->mig_client < 0 || !c->mig)
		return;
	char reply[API_REPLY_MAX];
	migration_status_json(c->mig, reply, sizeof(reply));
	api_reply(&c->api, c->mig_client, reply);
	c->mig_client = -1;
}

void controller_on_migration_end(void *opaque, uint32_t events)
{
	struct controller *c = opaque;
	uint64_t n;
	(void)events;
	if (read(c->mig_efd, &n, sizeof(n)) != sizeof(n))
		return;
	migration_join(c->mig);
	controller_answer_migration(c);
}

/* The strategy named by migrate's mode; -1 when it names none. */
static int parse_mode(const char *mode, enum mig_mode *out, unsigned int *passes)
{
	static const char hybrid[] = "precopy-then-postcopy";
	*passes = 1;
	if (!mode || !strcmp(mode, "precopy"))
		*out = MIG_PRECOPY;
	else if (!strcmp(mode, "postcopy"))
		*out = MIG_POSTCOPY_ONLY;
	else if (!strncmp(mode, hybrid, sizeof(hybrid) - 1)) {
		const char *n = mode + sizeof(hybrid) - 1;
		char *end;
		unsigned long v = *n == '=' ? strtoul(n + 1, &end, 10) : 1;
		if ((*n && *n != '=') || (*n == '=' && (end == n + 1 || *end || v == 0 || v > 10000)))
			return -1;
		*out = MIG_HYBRID;
		*passes = (unsigned int)v;
	} else {
		return -1;
	}
	return 0;
}

int controller_migrate(struct controller *c, int client, bool wait, const char *arg, const char *mode, char *reply,
		       size_t len)
{
	if (!arg || !*arg)
		return controller_fail(reply, len, "migrate needs a destination: unix:PATH or tcp:HOST:PORT", NULL);
	enum mig_mode how;
	unsigned int passes;
	if (parse_mode(mode, &how, &passes))
		return controller_fail(reply, len, "migrate: '%s' is not a mode: use precopy, postcopy or "
				       "precopy-then-postcopy[=PASSES]", mode);
	if (c->mig && migration_running(c->mig))
		return controller_fail(reply, len, "a migration is already running", NULL);
	if (c->m->cfg.nr_fs) /* refused before any page moves, not at the last step */
		return controller_fail(reply, len, "a VM with a shared directory (--fs %s) cannot be saved or moved",
				       c->m->cfg.fs[0].path);
	if (c->m->vm.paused)
		return controller_fail(reply, len, "resume the VM first: migration pauses it itself at the end", NULL);
	if (c->mig) {
		migration_join(c->mig);
		free(c->mig);
	}
	controller_stop_tracking(c);
	c->mig = calloc(1, sizeof(*c->mig));
	if (!c->mig)
		return controller_fail(reply, len, "out of memory", NULL);
	c->mig->downtime_limit_ms = c->m->cfg.downtime_limit_ms;
	c->mig->max_passes = c->m->cfg.max_passes;
	c->mig->cancel_at_max = c->m->cfg.cancel_at_max_passes;
	c->mig->order = c->m->cfg.precopy_address_order ? PRECOPY_ADDRESS : PRECOPY_COLD_FIRST;
	c->mig->channels = c->m->cfg.migration_channels;
	c->mig->done_efd = c->mig_efd;
	c->mig->log_fd = c->mig_log_fd;
	c->mig->mode = how;
	c->mig->hybrid_passes = passes;
	char err[256];
	if (migration_start(c->mig, c->m, arg, err, sizeof(err)))
		return controller_fail(reply, len, "%s", err);
	if (wait) {
		c->mig_client = client;
		return 1;
	}
	snprintf(reply, len, OK ", \"state\": \"running\"}");
	return 0;
}

int controller_migrate_status(struct controller *c, char *reply, size_t len)
{
	if (!c->mig)
		return controller_fail(reply, len, "no migration was started", NULL);
	migration_status_json(c->mig, reply, len);
	return 0;
}
