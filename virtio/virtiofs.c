#include "virtiofs.h"

#include <errno.h>
#include <linux/fuse.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fuse_server.h"

struct virtio_fs {
	struct virtio_dev dev;
	struct fuse_server *srv;
	struct virtq_chain chain;
	uint8_t *req, *rep;   /* one message each way, FUSE_SRV_MSG_MAX bytes */
	struct virtio_fs_config config;
	uint64_t requests, errors;
};

/* One request: the chain's readable part is the FUSE request, its writable part takes
 * the reply. A request longer than any the server takes is cut (the server then finds
 * its stated length too long and answers with an error). */
static uint32_t serve(struct virtio_fs *f, const struct virtq_chain *c)
{
	size_t len = iov_to_buf(c->out, c->nr_out, 0, f->req, FUSE_SRV_MSG_MAX);
	size_t room = c->in_len < FUSE_SRV_MSG_MAX ? (size_t)c->in_len : FUSE_SRV_MSG_MAX;
	size_t n = fuse_server_handle(f->srv, f->req, len, f->rep, room);
	f->requests++;
	if (n >= sizeof(struct fuse_out_header) && ((struct fuse_out_header *)f->rep)->error)
		f->errors++;
	return (uint32_t)iov_from_buf(c->in, c->nr_in, 0, f->rep, n);
}

/* Both queues carry the same requests (FORGETs on the high-priority one): one server. */
static void fs_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_fs *f = (struct virtio_fs *)d;
	while (virtio_dev_pop(d, q, &f->chain) > 0)
		virtq_push(&d->vqs[q], &f->chain, serve(f, &f->chain));
	virtio_dev_used(d, q);
}

/* A driver that resets the device starts over with FUSE_INIT: its nodes are gone. */
static void fs_reset(struct virtio_dev *d)
{
	fuse_server_reset(((struct virtio_fs *)d)->srv);
}

static void fs_free(struct virtio_fs *f)
{
	fuse_server_destroy(f->srv);
	free(f->req);
	free(f->rep);
	free(f);
}

static void fs_destroy(struct virtio_dev *d)
{
	virtio_dev_destroy_common(d);
	fs_free((struct virtio_fs *)d);
}

static const struct virtio_dev_ops fs_ops = {
	.device_id = VIRTIO_ID_FS, .nr_queues = 2,
	.queue_notify = fs_notify, .reset = fs_reset, .destroy = fs_destroy,
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
	struct virtio_fs *f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "--fs %s: out of memory", o->path);
		return NULL;
	}
	f->req = malloc(FUSE_SRV_MSG_MAX);
	f->rep = malloc(FUSE_SRV_MSG_MAX);
	char why[200] = "out of memory";
	if (f->req && f->rep)
		f->srv = fuse_server_create(o->path, o->read_only, why, sizeof(why));
	if (!f->srv) {
		snprintf(err, errlen, "--fs %s", why);
		fs_free(f);
		return NULL;
	}
	memcpy(f->config.tag, o->tag, tl);
	f->config.num_request_queues = 1;
	char name[32];
	snprintf(name, sizeof(name), "virtio-fs %.20s", o->tag);
	virtio_dev_init(&f->dev, &fs_ops, h, name, 0, &f->config, sizeof(f->config));
	return &f->dev;
}

struct virtiofs_stats virtio_fs_stats(struct virtio_dev *d)
{
	struct virtio_fs *f = (struct virtio_fs *)d;
	pthread_mutex_lock(&d->lock);
	struct virtiofs_stats s = { f->requests, f->errors, fuse_server_nodes(f->srv), fuse_server_handles(f->srv) };
	pthread_mutex_unlock(&d->lock);
	return s;
}
