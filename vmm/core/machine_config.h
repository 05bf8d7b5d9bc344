/* What a machine is made of: the guest, its CPUs and memory, dirty tracking, devices and
 * its migration policy. The core owns it: defaults and validation are here; the command
 * line (vmm/front/cli.c) only fills it in, and tests and tools fill it in directly. */
#ifndef PAGODA_VMM_MACHINE_CONFIG_H
#define PAGODA_VMM_MACHINE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../mem/backend.h"
#include "../../mem/dirty.h"
#include "../../mem/eager_split.h"
#include "../../virtio/blk.h"
#include "../../virtio/p9.h"

enum cpu_model {
	CPU_MODEL_AUTO,     /* baseline on a PVM host, host elsewhere */
	CPU_MODEL_HOST,
	CPU_MODEL_BASELINE,
};

#define MACHINE_DEFAULT_MEM (256ULL << 20)
/* x86: PCI, because distribution kernels build virtio_pci in and virtio_mmio as a module
 * (and virtio-mmio needs the devices on the command line). arm64: mmio, which its kernels
 * find in the device tree with nothing else; pci (MSI-X through the ITS) when asked. */
#if defined(__x86_64__)
#define VIRTIO_TRANSPORT_DEFAULT VIRTIO_TRANSPORT_PCI
#else
#define VIRTIO_TRANSPORT_DEFAULT VIRTIO_TRANSPORT_MMIO
#endif
#define MACHINE_MIN_MEM (2ULL << 20)
#define MACHINE_MAX_CPUS 4096
/* Limited by the free ISA interrupt lines (the devices use edge-triggered IRQs below 16). */
#define MACHINE_MAX_VIRTIO 8

/* A shared secret for migrations (--migration-key FILE): the file's bytes. */
#define MIG_KEY_MIN 16
#define MIG_KEY_MAX 256
struct mig_key {
	uint8_t bytes[MIG_KEY_MAX];
	size_t len;
};

struct machine_config {
	const char *kernel;   /* NULL: the built-in demo guest */
	const char *initrd;
	const char *params;   /* appended after pagoda's defaults */
	const char *name;
	const char *dump_dtb;  /* arm64: write the guest's device tree here too */
	bool from_state;      /* the guest comes from a snapshot or a migration: load none */
	uint64_t mem_size;
	unsigned int cpus;
	enum cpu_model cpu;
	struct mem_backend_config backend;
	uint64_t test_hva_skew;        /* tests only: mem/guest_mem.h's hva_skew */
	unsigned int prefault_threads; /* 0: no prefault */
	bool dirty_wanted;             /* dirty tracking set up (logging starts when asked) */
	bool dirty_implicit;           /* set up only for the control socket: choose quietly */
	enum dirty_mode dirty_mode;
	uint32_t dirty_ring_entries;
	uint64_t dirty_clear_chunk;
	enum eager_split eager_split;
	uint64_t eager_chunk;
	/* virtio devices, at most MACHINE_MAX_VIRTIO of them together */
	enum virtio_transport { VIRTIO_TRANSPORT_MMIO, VIRTIO_TRANSPORT_PCI } virtio_transport;
	struct blk_options disks[MACHINE_MAX_VIRTIO];
	unsigned int nr_disks;
	const char *net_tap;           /* a tap device's name */
	uint8_t net_mac[6];
	bool net_mac_set;
	bool rng;
	bool balloon;
	uint64_t balloon_size;         /* bytes the balloon inflates to at start */
	bool balloon_auto;             /* follow the working set (vmm/core/balloon_auto.h) */
	uint64_t balloon_auto_margin;  /* bytes beyond the working set; 0: max(64M, RAM/8) */
	double balloon_stats_s;        /* 0: no periodic statistics request */
	bool balloon_report;           /* offer free page reporting */
	struct fs_options fs[MACHINE_MAX_VIRTIO]; /* --fs: shared directories (virtio-9p) */
	unsigned int nr_fs;
	/* migration policy */
	double downtime_limit_ms;
	unsigned int max_passes;
	bool cancel_at_max_passes;
	bool precopy_address_order;      /* --precopy-order address (mig_order.h) */
	unsigned int migration_channels; /* connections for pass 0 (mig_channels.h) */
	bool migration_keyed;          /* migration_key holds the shared secret */
	struct mig_key migration_key;
};

void machine_config_defaults(struct machine_config *c);
/* How many virtio devices c asks for. */
unsigned int machine_config_devices(const struct machine_config *c);
/* Whether the pieces fit together: 0, or -EINVAL with a one-line message that names the
 * command-line option and the fix. */
int machine_config_check(const struct machine_config *c, char *err, size_t errlen);

#endif
