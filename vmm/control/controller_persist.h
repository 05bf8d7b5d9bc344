/* Shared between the control socket's command files. */
#ifndef PAGODA_VMM_CONTROLLER_PERSIST_H
#define PAGODA_VMM_CONTROLLER_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller.h"

/* An error reply (fmt takes one %s, arg); returns 0 (answered). */
int controller_fail(char *reply, size_t len, const char *fmt, const char *arg);
int controller_snapshot(struct controller *c, const char *arg, const char *mode, char *reply, size_t len);
/* mode: precopy (default), postcopy, or precopy-then-postcopy[=PASSES] (default 1). */
int controller_migrate(struct controller *c, int client, bool wait, const char *arg, const char *mode, char *reply,
		       size_t len);
int controller_migrate_status(struct controller *c, char *reply, size_t len);
/* Diff-snapshot dirty logging gives way to a migration or a dirty-rate window. */
void controller_stop_tracking(struct controller *c);
void controller_on_migration_end(void *opaque, uint32_t events);
void controller_answer_migration(struct controller *c);

#endif
