/* The control socket's transport: a unix socket (mode 0600) on the main event loop, one
 * JSON object per line each way. Bad JSON, an oversized line or a full house get an error
 * reply; what a command does is the handler's business (vmm/control/controller.c). */
#ifndef PAGODA_VMM_API_H
#define PAGODA_VMM_API_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/event_loop.h"
#include "../../util/json.h"

#define API_LINE_MAX 4096
#define API_MAX_CLIENTS 8
#define API_REPLY_MAX 8192

/* Fills reply (a JSON object, no newline) and returns 0, or returns 1 to answer later
 * through api_reply (a command that takes time). client names the connection, never
 * reused: a deferred answer cannot reach a client that took the slot of one that left. */
typedef int (*api_handler)(void *ctx, int client, const struct json_kv *kv, int n,
			   char *reply, size_t len);

struct api {
	int listen_fd;
	int spare_fd;         /* held for a connection that arrives with no descriptor free */
	int backoff_fd;       /* timerfd: the listening socket is watched again when it fires */
	char path[108];
	struct event_loop *loop;
	api_handler handler;
	void *ctx;
	int next_id;
	struct api_client {
		struct api *owner;
		int id;             /* the connection's number (> 0), unique for the API's life */
		int fd;
		size_t len;
		bool overflow;      /* in a line longer than API_LINE_MAX: dropped to its end */
		char buf[API_LINE_MAX];
	} c[API_MAX_CLIENTS];
};

int api_open(struct api *a, const char *path, struct event_loop *loop, api_handler h, void *ctx,
	     char *err, size_t errlen);
/* A deferred answer to connection client (ignored if it has gone). */
void api_reply(struct api *a, int client, const char *json);
void api_close(struct api *a);

#endif
