#include "console.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#define CTRL_A 0x01

static struct termios saved_termios;
static int saved_fd = -1;

void console_restore_terminal(void)
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
	console_restore_terminal();
	raise(sig);
}

static void install_restore_handlers(void)
{
	static const int fatal[] = { SIGSEGV, SIGILL, SIGFPE, SIGABRT }; /* SIGBUS: vmm/sigbus.c */
	struct sigaction sa = { .sa_handler = fatal_signal, .sa_flags = SA_RESETHAND | SA_NODEFER };
	sigemptyset(&sa.sa_mask);
	atexit(console_restore_terminal);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
}

static int make_raw(int fd)
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

/* Forwards buf to the guest, acting on Ctrl-a x (quit) and Ctrl-a Ctrl-a (a literal ^A). */
static size_t forward(struct console *c, const uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		uint8_t b = buf[done];
		if (c->is_tty && c->escape) {
			c->escape = false;
			if (b == 'x') {
				c->quit(c->quit_ctx);
				return len;
			}
			if (b != CTRL_A) {
				done++;
				continue;
			}
		} else if (c->is_tty && b == CTRL_A) {
			c->escape = true;
			done++;
			continue;
		}
		if (c->deliver(c->ctx, &b, 1) == 0)
			break;
		done++;
	}
	return done;
}

static void on_input(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	(void)events;
	size_t room = c->space(c->ctx);
	if (room == 0) {
		c->paused = true;
		event_loop_modify(c->loop, c->in_fd, 0);
		return;
	}
	uint8_t buf[256];
	ssize_t n = read(c->in_fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) { /* EOF or error: the guest simply gets no more input */
		event_loop_remove(c->loop, c->in_fd);
		return;
	}
	forward(c, buf, (size_t)n);
}

void console_resume(void *opaque)
{
	struct console *c = opaque;
	if (c->paused) {
		c->paused = false;
		event_loop_modify(c->loop, c->in_fd, EPOLLIN);
	}
}

int console_start(struct console *c, struct event_loop *loop, int in_fd)
{
	c->in_fd = in_fd;
	c->loop = loop;
	c->is_tty = isatty(in_fd);
	if (c->is_tty) {
		int r = make_raw(in_fd);
		if (r)
			return r;
	}
	int r = event_loop_add(loop, in_fd, EPOLLIN, on_input, c);
	/* A regular file or /dev/null cannot be polled: the guest gets no input then. */
	return r == -EPERM ? 0 : r;
}
