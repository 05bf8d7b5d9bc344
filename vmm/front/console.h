/* The terminal side of the serial console: raw mode while the VM runs (restored on every
 * way out, crashes included), stdin forwarded to the guest, and Ctrl-a x to end the VM. */
#ifndef PAGODA_VMM_CONSOLE_H
#define PAGODA_VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/event_loop.h"

struct console {
	int in_fd;
	bool is_tty;
	bool escape;           /* the previous byte was Ctrl-a */
	bool paused;           /* the guest's buffer is full: stdin not read */
	struct event_loop *loop;
	size_t (*deliver)(void *ctx, const uint8_t *buf, size_t len);
	size_t (*space)(void *ctx);
	void *ctx;
	void (*quit)(void *ctx);
	void *quit_ctx;
};

/* Puts a terminal in raw mode (vmm/core/terminal.h restores it) and forwards its input. */
int console_start(struct console *c, struct event_loop *loop, int in_fd);
/* The guest has room again (called from any thread). */
void console_resume(void *console);

#endif
