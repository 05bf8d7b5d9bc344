/* A whole VM assembled from a run configuration: KVM, guest memory, vCPUs with their
 * CPU model and boot state, the loaded guest and the platform devices. `pagoda run` drives
 * one from its event loop; tests and tools build one in-process the same way (and may add
 * devices of their own to its buses before machine_start). */
#ifndef PAGODA_VMM_MACHINE_H
#define PAGODA_VMM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../../devices/power.h"
#include "../../devices/serial.h"
#include "../../mem/wss/working_set.h"
#include "../../util/clock.h"
#include "balloon_auto.h"
#include "event_loop.h"
#include "machine_config.h"
#include "image.h"
#include "machine_arch.h"
#include "virtio_devices.h"
#include "vm.h"

struct machine {
	struct machine_config cfg;
	struct vm vm;
	struct image kernel, initrd;
	struct serial serial;
	struct power_sink power;
	struct machine_arch arch;
	bool devices_inited;
	struct virtio_devices virtio;
	bool virtio_inited;
	struct dirty_log dirty;           /* set up when cfg.dirty_wanted; started by its user */
	bool dirty_inited;
	struct eager_split_state eager;
	struct working_set *wss;          /* --working-set or ctl working-set (mem/working_set.h) */
	struct event_loop *wss_loop;      /* the loop that ticks its windows */
	struct balloon_auto balloon_auto; /* --balloon auto */
	uint64_t t_start_ns, t_memory_ns; /* for --stats: how long setting up took */
	char *cmdline;
	int out_fd;
	char err[256];                    /* why machine_setup failed, for the user */
};

/* Builds everything but starts no vCPU; console output goes to out_fd. -errno with a
 * one-line message in m->err on failure (m is then safe to machine_destroy). */
int machine_setup(struct machine *m, const struct machine_config *cfg, int out_fd);
int machine_start(struct machine *m);
/* For tests and tools with no event loop: returns the exit code once the VM has ended. */
int machine_wait_exit(struct machine *m);
/* Stops the vCPUs (the VM keeps its state until machine_destroy). */
void machine_stop(struct machine *m);
void machine_destroy(struct machine *m);
/* Instead of machine_destroy, right before the process exits with the VM held by the
 * late-teardown helper: ends what has effects outside the VM (threads, devices, the eager
 * split setting) and leaves the VM, its memory and descriptors to the exit. */
void machine_leave_to_exit(struct machine *m);
void machine_print_stats(const struct machine *m, FILE *out);
/* Stops dirty logging; if KVM will not take the flag off the memslots, says so (the guest
 * stays correct, only slower). */
void machine_dirty_log_stop(struct machine *m);
/* Starts the working-set estimate (m->wss); a method that scans each window is ticked
 * by loop. -errno with the reason in err. */
int machine_working_set_start(struct machine *m, struct event_loop *loop, double window_s,
			      enum wss_method method, char *err, size_t errlen);

#endif
