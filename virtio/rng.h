/* virtio-rng: every buffer the guest offers is filled from getrandom(2). */
#ifndef PAGODA_VIRTIO_RNG_H
#define PAGODA_VIRTIO_RNG_H

#include "virtio_dev.h"

struct virtio_dev *virtio_rng_create(const struct virtio_host *h);
/* Bytes handed to the guest so far. */
uint64_t virtio_rng_bytes(struct virtio_dev *d);

#endif
