#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../util/clock.h"

static void send_line(int fd, const char *json)
{
	size_t n = strlen(json);
	/* Replies are small; a client that does not read them loses them, never the VMM. */
	if (send(fd, json, n, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)n)
		send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void send_error(int fd, const char *why)
{
	char esc[256], line[320];
	json_escape(why, esc, sizeof(esc));
	snprintf(line, sizeof(line), "{\"ok\": false, \"error\": \"%s\"}", esc);
	send_line(fd, line);
}

static void drop_client(struct api *a, struct api_client *c)
{
	event_loop_remove(a->loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

static void handle_line(struct api *a, struct api_client *c, char *line)
{
	struct json_kv kv[JSON_MAX_KEYS];
	const char *why;
	int n = json_parse_object(line, kv, JSON_MAX_KEYS, &why);
	if (n < 0) {
		send_error(c->fd, why);
		return;
	}
	char reply[API_REPLY_MAX];
	if (a->handler(a->ctx, c->id, kv, n, reply, sizeof(reply)) == 0)
		send_line(c->fd, reply);
}

static void on_client(void *opaque, uint32_t events)
{
	struct api_client *c = opaque;
	struct api *a = c->owner;
	(void)events;
	char chunk[1024];
	ssize_t k = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
	if (k <= 0) {
		if (k == 0 || (errno != EAGAIN && errno != EINTR))
			drop_client(a, c);
		return;
	}
	for (ssize_t i = 0; i < k; i++) {
		if (chunk[i] != '\n') {
			if (c->len + 1 < sizeof(c->buf))
				c->buf[c->len++] = chunk[i];
			else
				c->overflow = true;
			continue;
		}
		c->buf[c->len] = 0;
		if (c->overflow)
			send_error(c->fd, "request line longer than 4096 bytes");
		else if (c->len)
			handle_line(a, c, c->buf);
		c->len = 0;
		c->overflow = false;
		if (c->fd < 0)
			return;
	}
}

#define ACCEPT_BACKOFF_S 0.1

static void on_accept(void *opaque, uint32_t events);

static void on_backoff_over(void *opaque, uint32_t events)
{
	struct api *a = opaque;
	(void)events;
	uint64_t n;
	if (read(a->backoff_fd, &n, sizeof(n)) == sizeof(n) &&
	    event_loop_add(a->loop, a->listen_fd, EPOLLIN, on_accept, a))
		timer_set(a->backoff_fd, ACCEPT_BACKOFF_S, false); /* no room to watch it yet */
}

/* With no descriptor free a connection would stay in the backlog and wake the loop again
 * at once, forever (the main thread spun at 100% CPU and ctl timed out): the spare
 * descriptor is given up to take it and tell it why; where that cannot help (no spare, or
 * its number above a lowered limit), the socket is not watched for ACCEPT_BACKOFF_S. */
static void refuse_without_descriptor(struct api *a)
{
	if (a->spare_fd >= 0) {
		close(a->spare_fd);
		int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			send_error(fd, "pagoda has no file descriptor free for another control connection");
			close(fd);
		}
		a->spare_fd = eventfd(0, EFD_CLOEXEC);
		if (fd >= 0)
			return;
	}
	if (a->backoff_fd >= 0 && !event_loop_remove(a->loop, a->listen_fd))
		timer_set(a->backoff_fd, ACCEPT_BACKOFF_S, false);
}

static void on_accept(void *opaque, uint32_t events)
{
	struct api *a = opaque;
	(void)events;
	int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			refuse_without_descriptor(a);
		return;
	}
	for (int i = 0; i < API_MAX_CLIENTS; i++) {
		struct api_client *c = &a->c[i];
		if (c->fd >= 0)
			continue;
		*c = (struct api_client){ .owner = a, .id = ++a->next_id, .fd = fd };
		if (event_loop_add(a->loop, fd, EPOLLIN, on_client, c) == 0)
			return;
		c->fd = -1;
		break;
	}
	send_error(fd, "too many control connections");
	close(fd);
}

/* A live socket at path is another VMM's: refuse. A dead one is left over: replace it. */
static int claim_path(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "--api-sock %s: exists and is not a socket: pick another path", path);
		return -EEXIST;
	}
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	bool live = s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (s >= 0)
		close(s);
	if (live) {
		snprintf(err, errlen, "--api-sock %s: another VMM is listening there", path);
		return -EADDRINUSE;
	}
	unlink(path);
	return 0;
}

int api_open(struct api *a, const char *path, struct event_loop *loop, api_handler h, void *ctx,
	     char *err, size_t errlen)
{
	*a = (struct api){ .listen_fd = -1, .spare_fd = eventfd(0, EFD_CLOEXEC), .backoff_fd = timer_open(-1, false),
			   .loop = loop, .handler = h, .ctx = ctx };
	if (a->backoff_fd >= 0) {
		if (event_loop_add(loop, a->backoff_fd, EPOLLIN, on_backoff_over, a)) {
			close(a->backoff_fd);
			a->backoff_fd = -1;
		}
	}
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		a->c[i].fd = -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "--api-sock %s: path longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	int e = claim_path(path, err, errlen);
	if (e)
		return e;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old = umask(0177); /* born 0600: nobody else may steer the VM */
	e = a->listen_fd < 0 || bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(a->listen_fd, 4) ? -errno : 0;
	umask(old);
	if (!e) {
		snprintf(a->path, sizeof(a->path), "%s", path);
		e = event_loop_add(loop, a->listen_fd, EPOLLIN, on_accept, a);
	}
	if (e)
		snprintf(err, errlen, "--api-sock %s: %s", path, strerror(-e));
	return e;
}

void api_reply(struct api *a, int client, const char *json)
{
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		if (a->c[i].fd >= 0 && a->c[i].id == client)
			send_line(a->c[i].fd, json);
}

void api_close(struct api *a)
{
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		if (a->c[i].fd >= 0)
			drop_client(a, &a->c[i]);
	if (a->listen_fd >= 0) {
		event_loop_remove(a->loop, a->listen_fd);
		close(a->listen_fd);
		unlink(a->path);
	}
	a->listen_fd = -1;
	if (a->spare_fd >= 0)
		close(a->spare_fd);
	a->spare_fd = -1;
	if (a->backoff_fd >= 0) {
		event_loop_remove(a->loop, a->backoff_fd);
		close(a->backoff_fd);
	}
	a->backoff_fd = -1;
}
