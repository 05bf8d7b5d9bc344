/* A virtio device whose queues carry requests to a message server (virtio-9p's 9P2000.L,
 * virtio-fs's FUSE): each chain's readable part is one request, its writable part takes
 * the reply, served in order on the thread that was notified. virtio/p9.c and
 * virtio/virtiofs.c are this plus their config space and their server. */
#ifndef PAGODA_VIRTIO_MSG_DEV_H
#define PAGODA_VIRTIO_MSG_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio_dev.h"

struct msg_server_ops {
	size_t msg_max; /* the longest request or reply */
	/* The reply's length (0: none, e.g. FUSE's FORGET), written to rep of room bytes. */
	size_t (*handle)(void *srv, const uint8_t *req, size_t len, uint8_t *rep, size_t room);
	bool (*is_error)(const uint8_t *rep, size_t n);
	void (*reset)(void *srv); /* a driver that resets the device starts over */
	void (*destroy)(void *srv);
};

struct msg_dev {
	struct virtio_dev dev; /* first: the device's ops get the msg_dev */
	const struct msg_server_ops *srv_ops;
	void *srv;
	struct virtq_chain chain;
	uint8_t *req, *rep;    /* one message each way, msg_max bytes */
	uint64_t requests, errors; /* under dev.lock */
};

/* A zeroed device of size bytes (a struct that starts with its msg_dev) serving srv,
 * which it takes; NULL when memory runs out (srv then destroyed). The caller fills its
 * config space and calls virtio_dev_init. */
struct msg_dev *msg_dev_new(size_t size, const struct msg_server_ops *so, void *srv);
/* What a msg_dev's virtio_dev_ops point at. */
void msg_dev_notify(struct virtio_dev *d, unsigned int q);
void msg_dev_reset(struct virtio_dev *d);
void msg_dev_destroy(struct virtio_dev *d);

#endif
