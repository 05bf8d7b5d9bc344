#include "p9.h"

#include <linux/virtio_9p.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/p9_server.h"
#include "msg_dev.h"

struct virtio_p9 {
	struct msg_dev m; /* first */
	struct __attribute__((packed)) {
		uint16_t tag_len;
		char tag[P9_TAG_MAX];
	} config;
};

#define RLERROR 7

static size_t handle(void *srv, const uint8_t *req, size_t len, uint8_t *rep, size_t room)
{
	return p9_server_handle(srv, req, len, rep, room);
}

static bool is_error(const uint8_t *rep, size_t n)
{
	return n > 4 && rep[4] == RLERROR;
}

/* A driver that resets the device starts over: its fids are gone. */
static void reset(void *srv)
{
	p9_server_reset(srv);
}

static void destroy(void *srv)
{
	p9_server_destroy(srv);
}

static const struct msg_server_ops p9_server_ops = {
	.msg_max = P9_MSIZE_MAX, .handle = handle, .is_error = is_error, .reset = reset, .destroy = destroy,
};

static void p9_print_stats(struct virtio_dev *d, FILE *out)
{
	struct p9_stats p = virtio_p9_stats(d);
	fprintf(out, "stats: %s requests=%llu errors=%llu fids=%u\n", d->name, (unsigned long long)p.requests,
		(unsigned long long)p.errors, p.fids);
}

static const struct virtio_dev_ops p9_ops = {
	.device_id = VIRTIO_ID_9P, .nr_queues = 1,
	.queue_notify = msg_dev_notify, .reset = msg_dev_reset, .destroy = msg_dev_destroy,
	.print_stats = p9_print_stats,
};

struct virtio_dev *virtio_p9_create(const struct virtio_host *h, const struct fs_options *o, char *err,
				    size_t errlen)
{
	size_t tl = strlen(o->tag);
	if (!tl || tl >= P9_TAG_MAX) {
		snprintf(err, errlen, "--fs %s: tag '%s' must be 1 to %d bytes", o->path, o->tag, P9_TAG_MAX - 1);
		return NULL;
	}
	char why[200];
	struct p9_server *srv = p9_server_create(o->path, o->read_only, why, sizeof(why));
	if (!srv) {
		snprintf(err, errlen, "--fs %s", why);
		return NULL;
	}
	struct virtio_p9 *p = (struct virtio_p9 *)msg_dev_new(sizeof(*p), &p9_server_ops, srv);
	if (!p) {
		snprintf(err, errlen, "--fs %s: out of memory", o->path);
		return NULL;
	}
	p->config.tag_len = (uint16_t)tl;
	memcpy(p->config.tag, o->tag, tl);
	char name[32];
	snprintf(name, sizeof(name), "virtio-9p %.20s", o->tag);
	virtio_dev_init(&p->m.dev, &p9_ops, h, name, 1ULL << VIRTIO_9P_MOUNT_TAG, &p->config, (uint32_t)(2 + tl));
	return &p->m.dev;
}

struct p9_stats virtio_p9_stats(struct virtio_dev *d)
{
	struct msg_dev *m = (struct msg_dev *)d;
	pthread_mutex_lock(&d->lock);
	struct p9_stats s = { m->requests, m->errors, p9_server_fids(m->srv) };
	pthread_mutex_unlock(&d->lock);
	return s;
}
