/* The terminal pagoda runs on: put in raw mode for the serial console and put back on
 * every way out, a normal exit (atexit) and a crash of any thread alike (fatal signals
 * here; seccomp violations and SIGBUS call terminal_restore from their own handlers).
 * Every handler stays within every thread's seccomp filter: write(2), the terminal's
 * ioctl, tgkill. */
#ifndef PAGODA_VMM_TERMINAL_H
#define PAGODA_VMM_TERMINAL_H

/* Saves fd's mode, arranges its restoration, and makes it raw. 0, or -errno. */
int terminal_make_raw(int fd);
/* Async-signal-safe: puts the saved mode back (nothing when none was saved). */
void terminal_restore(void);

#endif
