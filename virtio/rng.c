#include "rng.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <sys/random.h>

struct virtio_rng {
	struct virtio_dev dev;
	struct virtq_chain chain;
	uint64_t bytes;
};

/* Fills what getrandom gives without blocking; a short fill is fine for virtio-rng. */
static uint32_t fill(const struct virtq_chain *c)
{
	uint32_t done = 0;
	for (unsigned int i = 0; i < c->nr_in; i++) {
		ssize_t k = getrandom(c->in[i].iov_base, c->in[i].iov_len, GRND_NONBLOCK);
		if (k <= 0)
			break;
		done += (uint32_t)k;
		if ((size_t)k < c->in[i].iov_len)
			break;
	}
	return done;
}

static void rng_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_rng *r = (struct virtio_rng *)d;
	while (virtio_dev_pop(d, q, &r->chain) > 0) {
		uint32_t n = fill(&r->chain);
		r->bytes += n;
		virtq_push(&d->vqs[q], &r->chain, n);
	}
	virtio_dev_used(d, q);
}

static void rng_destroy(struct virtio_dev *d)
{
	virtio_dev_destroy_common(d);
	free(d);
}

static void rng_print_stats(struct virtio_dev *d, FILE *out)
{
	fprintf(out, "stats: %s bytes=%llu\n", d->name, (unsigned long long)virtio_rng_bytes(d));
}

static const struct virtio_dev_ops rng_ops = {
	.device_id = VIRTIO_ID_RNG, .nr_queues = 1,
	.queue_notify = rng_notify, .destroy = rng_destroy, .print_stats = rng_print_stats,
};

struct virtio_dev *virtio_rng_create(const struct virtio_host *h)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	virtio_dev_init(&r->dev, &rng_ops, h, "virtio-rng", 0, NULL, 0);
	return &r->dev;
}

uint64_t virtio_rng_bytes(struct virtio_dev *d)
{
	pthread_mutex_lock(&d->lock);
	uint64_t n = ((struct virtio_rng *)d)->bytes;
	pthread_mutex_unlock(&d->lock);
	return n;
}
