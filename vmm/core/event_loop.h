/* One epoll loop on the main thread: console input, the timeout, the VM's end, signals.
 * Callbacks run on the loop's thread. */
#ifndef PAGODA_VMM_EVENT_LOOP_H
#define PAGODA_VMM_EVENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef void (*event_fn)(void *opaque, uint32_t events);

#define EVENT_LOOP_MAX 64

struct event_loop {
	int epfd;
	bool stop;
	struct event_source {
		int fd;
		event_fn fn;
		void *opaque;
	} sources[EVENT_LOOP_MAX];
};

int event_loop_init(struct event_loop *l);
void event_loop_destroy(struct event_loop *l);
int event_loop_add(struct event_loop *l, int fd, uint32_t events, event_fn fn, void *opaque);
/* Changes which events wake fd (0: none, the fd stays registered). Any thread. */
int event_loop_modify(struct event_loop *l, int fd, uint32_t events);
int event_loop_remove(struct event_loop *l, int fd);
/* Runs until a callback sets l->stop. Returns 0 or -errno. */
int event_loop_run(struct event_loop *l);

#endif
