/* The command line of `pagoda run`: parsing into a run_config (the machine's part checked
 * by machine_config_check); nothing here touches KVM, so every message is unit-tested. */
#ifndef PAGODA_VMM_CLI_H
#define PAGODA_VMM_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/machine_config.h"
#include "../core/sandbox.h"
#include "../../mem/wss/working_set.h"

/* `pagoda run`: the machine, and what the front end does around it. */
enum restore_memory {
	RESTORE_COPY,   /* read it all in before the guest runs */
	RESTORE_MAP,    /* map the memory file privately */
	RESTORE_LAZY,   /* userfaultfd: on touch and in the background (vmm/persist/lazy_restore.h) */
};

struct run_config {
	struct machine_config m;
	bool help;
	double timeout_s;              /* 0: none */
	bool stats;
	bool sync_exit;                /* --sync-exit: no late-teardown helper */
	enum sandbox_mode seccomp;     /* default on */
	double dirty_rate_s;           /* 0: no dirty-rate measurement */
	double working_set_s;          /* --working-set window, 0: none */
	enum wss_method working_set_method;
	const char *api_sock;
	const char *incoming;          /* unix:PATH or tcp:HOST:PORT */
	const char *migration_log;     /* JSON lines of each migration, appended */
	const char *restore_dir;       /* set by `pagoda restore DIR` */
	enum restore_memory restore_memory; /* --restore-memory */
	FILE *junit;                   /* exec --junit: JUnit XML of the run, written at the end */
	const char *junit_name;        /* the command, as its test case is named */
};

/* Parses `run` options (argv[0] is "run"). On error returns -1 with a one-line message in
 * err that names the value and the fix. The values of --disk, --net and --balloon are
 * split in place: argv must be writable (main's is). */
int cli_parse_run(int argc, char **argv, struct run_config *cfg, char *err, size_t errlen);

/* SECONDS: a number greater than 0 (fractions allowed), at most 1e7. 0 or -1. */
int cli_parse_seconds(const char *s, double *out);

extern const char cli_run_usage[];

#endif
