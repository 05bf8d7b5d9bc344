/* A paused machine's whole state but its memory, as one record stream: a versioned header
 * (layout, vCPUs, CPU model, host CPU), the VM (irqchips, PIT, clock), every vCPU, the
 * platform devices, and a CRC of it all. Snapshots write it to a file, migration sends it
 * last. Restoring checks the header against the machine it goes into and the CRC before
 * touching anything. */
#ifndef PAGODA_VMM_MACHINE_STATE_H
#define PAGODA_VMM_MACHINE_STATE_H

#include "../core/machine.h"
#include "../core/state_header.h"
#include "../../util/state_buf.h"
#include "../../util/state_records.h"

void machine_state_header(const struct machine *m, struct state_header *h);
/* Why h cannot go into m (a static message with the two values), or NULL when it can. */
const char *machine_state_mismatch(const struct machine *m, const struct state_header *h,
				   char *why, size_t len);
/* The header record alone: migration sends it first, before any memory. */
void machine_state_put_header(const struct machine *m, struct state_buf *out);
/* The vCPUs must be paused and the virtio devices quiesced (virtio_devices_quiesce). */
int machine_state_save(struct machine *m, struct state_buf *out, char *err, size_t errlen);
/* The header is read from the stream and checked; then everything is set. */
int machine_state_restore(struct machine *m, struct state_buf *in, char *err, size_t errlen);
/* The most bytes a state of a VM with nr_vcpus vCPUs can take (a reader refuses a
 * larger one before allocating it). */
size_t machine_state_max_len(unsigned int nr_vcpus);
/* The first record's header, checked for magic, version, and sizes and counts any
 * machine could have (the machine it goes into checks the rest). */
int machine_state_peek_header(const struct state_buf *in, struct state_header *h, char *err, size_t errlen);

#endif
