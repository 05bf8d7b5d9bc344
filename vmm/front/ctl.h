/* `pagoda ctl PATH COMMAND [ARG]`: the control socket's client. Prints the reply; exits 0
 * when it says ok. `migrate` waits for the migration's end and prints its report. */
#ifndef PAGODA_VMM_CTL_H
#define PAGODA_VMM_CTL_H

int ctl_main(int argc, char **argv);

#endif
