#ifndef PAGODA_VMM_RUN_H
#define PAGODA_VMM_RUN_H

/* `pagoda run`: returns the process exit code. */
int run_main(int argc, char **argv);
/* `pagoda restore DIR [options]`. */
int restore_main(int argc, char **argv);

#endif
