/* The command line of `pagoda run`: parsing and validation only; nothing here touches
 * KVM, so every message is unit-tested. */
#ifndef PAGODA_VMM_CLI_H
#define PAGODA_VMM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../mem/backend.h"
#include "../mem/dirty.h"
#include "../mem/eager_split.h"
#include "../virtio/blk.h"
#include "sandbox.h"

enum cpu_model {
	CPU_MODEL_AUTO,     /* baseline on a PVM host, host elsewhere */
	CPU_MODEL_HOST,
	CPU_MODEL_BASELINE,
};

/* Limited by the free ISA interrupt lines (the devices use edge-triggered IRQs below 16). */
#define CLI_MAX_VIRTIO 8

/* A shared secret for migrations (--migration-key FILE): the file's bytes. */
#define MIG_KEY_MIN 16
#define MIG_KEY_MAX 256
struct mig_key {
	uint8_t bytes[MIG_KEY_MAX];
	size_t len;
};

struct run_config {
	const char *kernel;   /* NULL: the built-in demo guest */
	const char *initrd;
	const char *params;   /* appended after pagoda's defaults */
	const char *name;
	const char *dump_dtb;  /* arm64: write the guest's device tree here too */
	uint64_t mem_size;
	unsigned int cpus;
	double timeout_s;     /* 0: none */
	enum cpu_model cpu;
	struct mem_backend_config backend;
	unsigned int prefault_threads; /* 0: no prefault */
	bool dirty_wanted;             /* --dirty-log, --dirty-rate or --api-sock given */
	bool dirty_implicit;           /* only for --api-sock: choose quietly */
	enum dirty_mode dirty_mode;
	uint32_t dirty_ring_entries;
	uint64_t dirty_clear_chunk;
	double dirty_rate_s;           /* 0: no dirty-rate measurement */
	enum eager_split eager_split;
	uint64_t eager_chunk;
	bool stats;
	bool help;
	enum sandbox_mode seccomp;     /* default on */
	/* virtio devices, at most CLI_MAX_VIRTIO of them together */
	struct blk_options disks[CLI_MAX_VIRTIO];
	unsigned int nr_disks;
	const char *net_tap;           /* --net tap=NAME */
	uint8_t net_mac[6];
	bool net_mac_set;
	bool rng;
	bool balloon;
	uint64_t balloon_size;         /* bytes the balloon inflates to at start */
	double balloon_stats_s;        /* 0: no periodic statistics request */
	bool balloon_report;           /* offer free page reporting */
	/* control, snapshot, migration */
	const char *api_sock;
	const char *incoming;          /* unix:PATH or tcp:HOST:PORT */
	const char *restore_dir;       /* set by `pagoda restore DIR` */
	bool restore_map;              /* --restore-memory map */
	double downtime_limit_ms;
	unsigned int max_passes;
	bool cancel_at_max_passes;
	bool migration_keyed;          /* --migration-key given: migration_key holds it */
	struct mig_key migration_key;
};

#define RUN_DEFAULT_MEM (256ULL << 20)

/* Parses `run` options (argv[0] is "run"). On error returns -1 with a one-line message in
 * err that names the value and the fix. The values of --disk, --net and --balloon are
 * split in place: argv must be writable (main's is). */
int cli_parse_run(int argc, char **argv, struct run_config *cfg, char *err, size_t errlen);

/* "512M", "2G", "4096" (bytes), "1T". -1 on anything else or on overflow. */
int cli_parse_size(const char *s, uint64_t *out);

extern const char cli_run_usage[];

#endif
