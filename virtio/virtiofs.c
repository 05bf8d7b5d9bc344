#include "virtiofs.h"

#include <linux/fuse.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fuse_server.h"
#include "msg_dev.h"

struct virtio_fs {
	struct msg_dev m; /* first */
	struct virtio_fs_config config;
};

static size_t handle(void *srv, const uint8_t *req, size_t len, uint8_t *rep, size_t room)
{
	return fuse_server_handle(srv, req, len, rep, room);
}

static bool is_error(const uint8_t *rep, size_t n)
{
	return n >= sizeof(struct fuse_out_header) && ((const struct fuse_out_header *)rep)->error;
}

/* A driver that resets the device starts over with FUSE_INIT: its nodes are gone. */
static void reset(void *srv)
{
	fuse_server_reset(srv);
}

static void destroy(void *srv)
{
	fuse_server_destroy(srv);
}

static const struct msg_server_ops fuse_server_ops = {
	.msg_max = FUSE_SRV_MSG_MAX, .handle = handle, .is_error = is_error, .reset = reset, .destroy = destroy,
};

static void fs_print_stats(struct virtio_dev *d, FILE *out)
{
	struct virtiofs_stats f = virtio_fs_stats(d);
	fprintf(out, "stats: %s requests=%llu errors=%llu nodes=%u handles=%u\n", d->name,
		(unsigned long long)f.requests, (unsigned long long)f.errors, f.nodes, f.handles);
}

/* A request queue beside the high-priority queue (which carries FORGETs). */
static const struct virtio_dev_ops fs_ops = {
	.device_id = VIRTIO_ID_FS, .nr_queues = 2,
	.queue_notify = msg_dev_notify, .reset = msg_dev_reset, .destroy = msg_dev_destroy,
	.print_stats = fs_print_stats,
};

struct virtio_dev *virtio_fs_create(const struct virtio_host *h, const struct fs_options *o, char *err,
				    size_t errlen)
{
	size_t tl = strlen(o->tag);
	if (!tl || tl > VIRTIOFS_TAG_MAX) {
		snprintf(err, errlen, "--fs %s: tag '%s' must be 1 to %d bytes for virtio-fs", o->path, o->tag,
			 VIRTIOFS_TAG_MAX);
		return NULL;
	}
	char why[200];
	struct fuse_server *srv = fuse_server_create(o->path, o->read_only, why, sizeof(why));
	if (!srv) {
		snprintf(err, errlen, "--fs %s", why);
		return NULL;
	}
	struct virtio_fs *f = (struct virtio_fs *)msg_dev_new(sizeof(*f), &fuse_server_ops, srv);
	if (!f) {
		snprintf(err, errlen, "--fs %s: out of memory", o->path);
		return NULL;
	}
	memcpy(f->config.tag, o->tag, tl);
	f->config.num_request_queues = 1;
	char name[32];
	snprintf(name, sizeof(name), "virtio-fs %.20s", o->tag);
	virtio_dev_init(&f->m.dev, &fs_ops, h, name, 0, &f->config, sizeof(f->config));
	return &f->m.dev;
}

struct virtiofs_stats virtio_fs_stats(struct virtio_dev *d)
{
	struct msg_dev *m = (struct msg_dev *)d;
	pthread_mutex_lock(&d->lock);
	struct virtiofs_stats s = { m->requests, m->errors, fuse_server_nodes(m->srv), fuse_server_handles(m->srv) };
	pthread_mutex_unlock(&d->lock);
	return s;
}
