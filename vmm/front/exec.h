#ifndef PAGODA_VMM_EXEC_H
#define PAGODA_VMM_EXEC_H

/* `pagoda exec -k KERNEL [options] -- COMMAND [ARGS]`: returns COMMAND's exit status. */
int exec_main(int argc, char **argv);

#endif
