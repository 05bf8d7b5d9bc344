/* io_uring rings for devices, locked down before use: created disabled, their completion
 * eventfd registered, then restricted to the opcodes the device submits (and no SQE
 * flags, and no further io_uring_register) before they are enabled. io_uring work runs
 * in kernel threads that the VMM's seccomp filters do not cover, so the ring itself must
 * refuse anything else a compromised device thread could ask of it (opening files,
 * sockets...). */
#ifndef PAGODA_VIRTIO_URING_H
#define PAGODA_VIRTIO_URING_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>

/* 0, or -errno; on failure the ring is not set up. */
int uring_open_restricted(struct io_uring *ring, unsigned int entries, int eventfd,
			  const uint8_t *ops, size_t nr_ops);

#endif
