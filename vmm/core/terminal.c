#include "terminal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_termios;
static int saved_fd = -1;

void terminal_restore(void)
{
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSANOW, &saved_termios);
}

static void put_err(const char *s)
{
	if (write(STDERR_FILENO, s, strlen(s)) < 0) {
		/* nothing left to tell it with */
	}
}

/* Async-signal-safe, and within every thread's seccomp filter (write, the terminal's
 * ioctl, tgkill): the handler was installed with SA_RESETHAND, so re-raising the signal
 * takes its default action without another sigaction. */
static void fatal_signal(int sig)
{
	const char *name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGILL ? "SIGILL" : sig == SIGFPE ? "SIGFPE" : "SIGABRT";
	put_err("pagoda: fatal signal ");
	put_err(name);
	put_err(" in the VMM (a pagoda bug: please report it): exiting\n");
	terminal_restore();
	raise(sig);
}

static void install_restore_handlers(void)
{
	static const int fatal[] = { SIGSEGV, SIGILL, SIGFPE, SIGABRT }; /* SIGBUS: vmm/core/sigbus.c */
	struct sigaction sa = { .sa_handler = fatal_signal, .sa_flags = SA_RESETHAND | SA_NODEFER };
	sigemptyset(&sa.sa_mask);
	atexit(terminal_restore);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
}

int terminal_make_raw(int fd)
{
	struct termios t;
	if (tcgetattr(fd, &t) < 0)
		return -errno;
	saved_termios = t;
	saved_fd = fd;
	install_restore_handlers();
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR; /* keep the host's newline handling for our own messages */
	return tcsetattr(fd, TCSANOW, &t) < 0 ? -errno : 0;
}

