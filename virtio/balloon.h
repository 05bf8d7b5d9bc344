/* virtio-balloon: the host sets a target, the guest inflates (gives pages up) or deflates
 * (takes them back); given pages and free pages the guest reports are returned to the host
 * through mem/discard.h. The stats queue brings the guest's memory statistics. */
#ifndef PAGODA_VIRTIO_BALLOON_H
#define PAGODA_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_dev.h"

struct balloon_stats {
	uint64_t target_bytes, actual_bytes;     /* what the host asks, what the guest says */
	uint64_t inflated_bytes, deflated_bytes; /* pages moved, over the VM's life */
	uint64_t reported_bytes;                 /* free page reporting */
	uint64_t freed_bytes;                    /* host memory released (whole granules) */
	uint64_t bad_pfns;                       /* pfns outside RAM, ignored */
	/* The guest's latest statistics (VIRTIO_BALLOON_S_*), all-ones when never sent. */
	uint64_t guest[10];
	uint64_t guest_updates;
};

/* stats_interval_s > 0: ask the guest for statistics that often; report: offer free page
 * reporting (off by default, as in QEMU: the host's view of guest memory then changes
 * only when the balloon does). */
struct virtio_dev *virtio_balloon_create(const struct virtio_host *h, uint64_t target_bytes,
					 double stats_interval_s, bool report);
/* A new target (the control socket): the guest is told through a config interrupt. */
void virtio_balloon_set_target(struct virtio_dev *d, uint64_t bytes);
struct balloon_stats virtio_balloon_stats(struct virtio_dev *d);

#endif
