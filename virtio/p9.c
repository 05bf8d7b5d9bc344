#include "p9.h"

#include <errno.h>
#include <linux/virtio_9p.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/p9_server.h"

struct virtio_p9 {
	struct virtio_dev dev;
	struct p9_server *srv;
	struct virtq_chain chain;
	uint8_t *req, *rep;   /* one message each way, P9_MSIZE_MAX bytes */
	struct __attribute__((packed)) {
		uint16_t tag_len;
		char tag[P9_TAG_MAX];
	} config;
	uint64_t requests, errors;
};

#define RLERROR 7

/* One request: the chain's readable part is the T-message, its writable part takes the
 * R-message. A request longer than any message is cut at P9_MSIZE_MAX (the server then
 * finds it malformed and says so with an Rlerror). */
static uint32_t serve(struct virtio_p9 *p, const struct virtq_chain *c)
{
	size_t len = iov_to_buf(c->out, c->nr_out, 0, p->req, P9_MSIZE_MAX);
	size_t room = c->in_len < P9_MSIZE_MAX ? (size_t)c->in_len : P9_MSIZE_MAX;
	size_t n = p9_server_handle(p->srv, p->req, len, p->rep, room);
	p->requests++;
	if (n > 4 && p->rep[4] == RLERROR)
		p->errors++;
	return (uint32_t)iov_from_buf(c->in, c->nr_in, 0, p->rep, n);
}

static void p9_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_p9 *p = (struct virtio_p9 *)d;
	while (virtio_dev_pop(d, q, &p->chain) > 0)
		virtq_push(&d->vqs[q], &p->chain, serve(p, &p->chain));
	virtio_dev_used(d, q);
}

/* A driver that resets the device starts over: its fids are gone. */
static void p9_reset(struct virtio_dev *d)
{
	p9_server_reset(((struct virtio_p9 *)d)->srv);
}

static void p9_destroy(struct virtio_dev *d)
{
	struct virtio_p9 *p = (struct virtio_p9 *)d;
	p9_server_destroy(p->srv);
	free(p->req);
	free(p->rep);
	virtio_dev_destroy_common(d);
	free(p);
}

static const struct virtio_dev_ops p9_ops = {
	.device_id = VIRTIO_ID_9P, .nr_queues = 1,
	.queue_notify = p9_notify, .reset = p9_reset, .destroy = p9_destroy,
};

struct virtio_dev *virtio_p9_create(const struct virtio_host *h, const struct fs_options *o, char *err,
				    size_t errlen)
{
	size_t tl = strlen(o->tag);
	if (!tl || tl >= P9_TAG_MAX) {
		snprintf(err, errlen, "--fs %s: tag '%s' must be 1 to %d bytes", o->path, o->tag, P9_TAG_MAX - 1);
		return NULL;
	}
	struct virtio_p9 *p = calloc(1, sizeof(*p));
	if (p) {
		p->req = malloc(P9_MSIZE_MAX);
		p->rep = malloc(P9_MSIZE_MAX);
	}
	if (!p || !p->req || !p->rep) {
		if (p) {
			free(p->req);
			free(p->rep);
		}
		free(p);
		snprintf(err, errlen, "--fs %s: out of memory", o->path);
		return NULL;
	}
	char why[200];
	p->srv = p9_server_create(o->path, o->read_only, why, sizeof(why));
	if (!p->srv) {
		snprintf(err, errlen, "--fs %s", why);
		free(p->req);
		free(p->rep);
		free(p);
		return NULL;
	}
	p->config.tag_len = (uint16_t)tl;
	memcpy(p->config.tag, o->tag, tl);
	char name[32];
	snprintf(name, sizeof(name), "virtio-9p %.20s", o->tag);
	virtio_dev_init(&p->dev, &p9_ops, h, name, 1ULL << VIRTIO_9P_MOUNT_TAG, &p->config,
			(uint32_t)(2 + tl));
	return &p->dev;
}

struct p9_stats virtio_p9_stats(struct virtio_dev *d)
{
	struct virtio_p9 *p = (struct virtio_p9 *)d;
	pthread_mutex_lock(&d->lock);
	struct p9_stats s = { p->requests, p->errors, p9_server_fids(p->srv) };
	pthread_mutex_unlock(&d->lock);
	return s;
}
