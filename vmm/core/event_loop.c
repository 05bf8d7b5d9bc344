#include "event_loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

int event_loop_init(struct event_loop *l)
{
	memset(l, 0, sizeof(*l));
	for (int i = 0; i < EVENT_LOOP_MAX; i++)
		l->sources[i].fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void event_loop_destroy(struct event_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int event_loop_add(struct event_loop *l, int fd, uint32_t events, event_fn fn, void *opaque)
{
	for (int i = 0; i < EVENT_LOOP_MAX; i++) {
		struct event_source *s = &l->sources[i];
		if (s->fd >= 0)
			continue;
		struct epoll_event ev = { .events = events, .data.ptr = s };
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
		*s = (struct event_source){ fd, fn, opaque };
		return 0;
	}
	return -ENOSPC;
}

static struct event_source *find(struct event_loop *l, int fd)
{
	for (int i = 0; i < EVENT_LOOP_MAX; i++)
		if (l->sources[i].fd == fd)
			return &l->sources[i];
	return NULL;
}

int event_loop_modify(struct event_loop *l, int fd, uint32_t events)
{
	struct event_source *s = find(l, fd);
	if (!s)
		return -ENOENT;
	struct epoll_event ev = { .events = events, .data.ptr = s };
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int event_loop_remove(struct event_loop *l, int fd)
{
	struct event_source *s = find(l, fd);
	if (!s)
		return -ENOENT;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	s->fd = -1;
	return 0;
}

int event_loop_run(struct event_loop *l)
{
	while (!l->stop) {
		struct epoll_event evs[EVENT_LOOP_MAX];
		int n = epoll_wait(l->epfd, evs, EVENT_LOOP_MAX, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->stop; i++) {
			struct event_source *s = evs[i].data.ptr;
			if (s->fd >= 0)
				s->fn(s->opaque, evs[i].events);
		}
	}
	return 0;
}
