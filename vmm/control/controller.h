/* What the control socket's commands do to a running machine: pause, resume, stop,
 * stats, balloon, dirty-rate, snapshot, migrate, migrate-status. Runs on the main event
 * loop; long work (a dirty-rate window, a migration) answers or reports later. */
#ifndef PAGODA_VMM_CONTROLLER_H
#define PAGODA_VMM_CONTROLLER_H

#include <stdint.h>

#include "api.h"
#include "../core/machine.h"
#include "../../mem/dirty_rate.h"

struct migration;

struct controller {
	struct machine *m;
	struct event_loop *loop;
	struct api api;
	bool api_open;
	int rate_fd;               /* a dirty-rate window in progress, or -1 */
	int rate_client;
	struct dirty_rate rate;
	struct migration *mig;     /* the outgoing migration, once one was asked */
	int mig_efd;               /* the migration thread's end */
	int mig_client;            /* waiting for the migration's end, or -1 */
	int mig_log_fd;            /* --migration-log, or -1 (the front end's, set after open) */
	char last_snapshot[4096];  /* the parent of the next diff snapshot */
	bool snap_tracking;        /* dirty logging runs for diff snapshots */
};

int controller_open(struct controller *c, struct machine *m, struct event_loop *loop,
		    const char *path, char *err, size_t errlen);
void controller_close(struct controller *c);

#endif
