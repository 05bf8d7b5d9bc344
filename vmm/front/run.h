#ifndef PAGODA_VMM_RUN_H
#define PAGODA_VMM_RUN_H

/* `pagoda run`: returns the process exit code. */
int run_main(int argc, char **argv);
/* `pagoda restore DIR [options]`. */
int restore_main(int argc, char **argv);
struct run_config;
/* Runs a VM from a configuration already parsed (pagoda exec); who names the command in
 * messages. Returns the exit code. */
int run_with_config(const struct run_config *cfg, const char *who);

#endif
