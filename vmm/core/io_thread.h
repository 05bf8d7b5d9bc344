/* The I/O thread: an event loop of its own serving the devices (ioeventfds, io_uring
 * completions, tap). Separate from the main loop so that `pagoda run`, the tests and the
 * tools (which have no main loop) get the same devices. Sources are added before
 * io_thread_start; their events may change at any time. */
#ifndef PAGODA_VMM_IO_THREAD_H
#define PAGODA_VMM_IO_THREAD_H

#include <pthread.h>
#include <stdbool.h>

#include "event_loop.h"

struct io_thread {
	struct event_loop loop;
	int stop_fd;
	pthread_t thread;
	bool inited, started;
};

int io_thread_init(struct io_thread *t);
int io_thread_start(struct io_thread *t);
/* Stops and joins the thread; sources stay registered until io_thread_destroy. */
void io_thread_stop(struct io_thread *t);
void io_thread_destroy(struct io_thread *t);
int io_thread_watch(struct io_thread *t, int fd, uint32_t events, event_fn fn, void *opaque);
int io_thread_rewatch(struct io_thread *t, int fd, uint32_t events);

#endif
