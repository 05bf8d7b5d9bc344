/* Snapshots on disk: DIR/state (the machine state stream, vmm/persist/machine_state.h) and
 * DIR/memory (guest RAM, regions back to back, zero pages left as holes). Both are
 * written under temporary names and renamed, so a failed snapshot never looks whole.
 * Restore either copies memory in, or maps the file privately (pages come in as the
 * guest touches them: the fast start). A diff snapshot holds only the pages dirtied
 * since its parent. */
#ifndef PAGODA_VMM_SNAPSHOT_H
#define PAGODA_VMM_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/machine.h"
#include "machine_state.h"

/* The machine must be paused. parent NULL: a full snapshot. Else a diff: DIR/memory holds
 * only the pages of the dirty log's last harvest (dirtied since the parent was taken),
 * DIR/pages their bitmap and DIR/parent the parent's directory; restore loads the chain. */
int snapshot_save(struct machine *m, const char *dir, const char *parent, char *err, size_t errlen);
/* Reads DIR/state into in (for restore) and its header. */
int snapshot_read_state(const char *dir, struct state_buf *in, struct state_header *h,
			char *err, size_t errlen);
/* Guest RAM from DIR/memory: copied, or mapped MAP_PRIVATE (anonymous backings only). */
int snapshot_load_memory(struct machine *m, const char *dir, bool map, char *err, size_t errlen);

/* The snapshot DIR and its parents, the full one first: each memory file open and
 * checked against the guest's RAM size, each diff's page map read. What lazy restore
 * reads from: page p (over the regions back to back) is in the newest layer whose map
 * has it, else in the first. */
#define SNAPSHOT_MAX_CHAIN 65
struct snapshot_layer {
	int fd;              /* DIR/memory */
	uint64_t *pages;     /* a diff's page map; NULL for the full snapshot */
};
int snapshot_open_chain(const char *dir, uint64_t ram_size, struct snapshot_layer *layers, unsigned int *n,
			char *err, size_t errlen);
void snapshot_close_chain(struct snapshot_layer *layers, unsigned int n);

#endif
