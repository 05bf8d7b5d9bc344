#include "io_thread.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

static void on_stop(void *opaque, uint32_t events)
{
	struct io_thread *t = opaque;
	(void)events;
	t->loop.stop = true;
}

int io_thread_init(struct io_thread *t)
{
	*t = (struct io_thread){ .stop_fd = -1 };
	int e = event_loop_init(&t->loop);
	if (e)
		return e;
	t->inited = true;
	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->stop_fd < 0)
		return -errno;
	return event_loop_add(&t->loop, t->stop_fd, EPOLLIN, on_stop, t);
}

static void *run(void *arg)
{
	struct io_thread *t = arg;
	int e = sandbox_enter(SANDBOX_IO);
	if (e)
		fprintf(stderr, "pagoda: I/O thread: installing its seccomp filter: %s: devices stop\n", strerror(-e));
	else
		event_loop_run(&t->loop);
	return NULL;
}

int io_thread_start(struct io_thread *t)
{
	t->loop.stop = false; /* it may have been stopped before (a snapshot's quiesce) */
	int e = pthread_create(&t->thread, NULL, run, t);
	if (e)
		return -e;
	t->started = true;
	return 0;
}

void io_thread_stop(struct io_thread *t)
{
	if (!t->started)
		return;
	uint64_t one = 1;
	if (write(t->stop_fd, &one, sizeof(one)) != sizeof(one))
		t->loop.stop = true; /* cannot fail on a fresh eventfd; belt and braces */
	pthread_join(t->thread, NULL);
	t->started = false;
}

void io_thread_destroy(struct io_thread *t)
{
	io_thread_stop(t);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	t->stop_fd = -1;
	if (t->inited)
		event_loop_destroy(&t->loop);
	t->inited = false;
}

int io_thread_watch(struct io_thread *t, int fd, uint32_t events, event_fn fn, void *opaque)
{
	return event_loop_add(&t->loop, fd, events, fn, opaque);
}

int io_thread_rewatch(struct io_thread *t, int fd, uint32_t events)
{
	return event_loop_modify(&t->loop, fd, events);
}
