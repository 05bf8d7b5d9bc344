#include "console.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#include "../core/terminal.h"

#define CTRL_A 0x01

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
		int r = terminal_make_raw(in_fd);
		if (r)
			return r;
	}
	int r = event_loop_add(loop, in_fd, EPOLLIN, on_input, c);
	/* A regular file or /dev/null cannot be polled: the guest gets no input then. */
	return r == -EPERM ? 0 : r;
}
