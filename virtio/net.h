/* virtio-net on a tap device: no offloads (every packet whole and checksummed), one
 * receive and one transmit queue. The tap carries a virtio-net header of its own, so
 * packets move with one readv/writev each; the header sent to the host is pagoda's, never
 * the guest's (no guest-chosen offload metadata reaches the host kernel). */
#ifndef PAGODA_VIRTIO_NET_H
#define PAGODA_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "virtio_dev.h"

struct net_stats {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, tx_dropped;
};

/* Attaches to tap `ifname` (creating it if it does not exist). NULL with a one-line
 * message in err. mac NULL: a locally administered address of pagoda's choosing. */
struct virtio_dev *virtio_net_create(const struct virtio_host *h, const char *ifname,
				     const uint8_t *mac, char *err, size_t errlen);
struct net_stats virtio_net_stats(struct virtio_dev *d);
/* The MAC address the guest sees, "52:54:00:..." */
void virtio_net_mac_str(struct virtio_dev *d, char *buf, size_t len);

#endif
