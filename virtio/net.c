#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#define RX_Q 0
#define TX_Q 1
#define HDR_LEN sizeof(struct virtio_net_hdr_v1) /* 12 with VERSION_1 */
#define MAX_FRAME (65535 + 14)

struct virtio_net {
	struct virtio_dev dev;
	struct virtio_net_config cfg;
	int tap_fd;
	char ifname[IFNAMSIZ];
	bool rx_watching;
	struct virtq_chain chain;
	struct iovec iov[VIRTQ_MAX_SEGS + 1];
	struct net_stats st;
};

static void watch_tap(struct virtio_net *n, bool on)
{
	if (n->rx_watching == on)
		return;
	n->rx_watching = on;
	n->dev.host->rewatch(n->dev.host->ctx, n->tap_fd, on ? EPOLLIN : 0);
}

/* Packets from the tap into the guest's receive buffers, until either runs out. */
static void receive(struct virtio_net *n)
{
	struct virtio_dev *d = &n->dev;
	bool pushed = false;
	for (;;) {
		int r = virtio_dev_pop(d, RX_Q, &n->chain);
		if (r <= 0) {
			watch_tap(n, false); /* no buffers: the driver's next rx notify resumes */
			break;
		}
		if (n->chain.in_len < HDR_LEN) {
			virtio_dev_broken(d, "receive buffer smaller than the virtio-net header");
			return;
		}
		ssize_t k = readv(n->tap_fd, n->chain.in, (int)n->chain.nr_in);
		if (k < 0) {
			virtq_unpop(&d->vqs[RX_Q]);
			bool empty = errno == EAGAIN || errno == EINTR;
			if (!empty)
				fprintf(stderr, "pagoda: %s: reading tap %s: %s: receiving stops\n", d->name, n->ifname, strerror(errno));
			watch_tap(n, empty);
			break;
		}
		uint16_t one = 1; /* num_buffers: one buffer per packet without MRG_RXBUF */
		iov_from_buf(n->chain.in, n->chain.nr_in, offsetof(struct virtio_net_hdr_v1, num_buffers), &one, 2);
		virtq_push(&d->vqs[RX_Q], &n->chain, (uint32_t)k);
		n->st.rx_packets++;
		n->st.rx_bytes += (uint64_t)k - HDR_LEN;
		pushed = true;
	}
	if (pushed)
		virtio_dev_used(d, RX_Q);
}

static void transmit(struct virtio_net *n)
{
	struct virtio_dev *d = &n->dev;
	struct virtio_net_hdr_v1 hdr = { 0 };
	while (virtio_dev_pop(d, TX_Q, &n->chain) > 0) {
		uint64_t len = n->chain.out_len;
		if (len <= HDR_LEN || len - HDR_LEN > MAX_FRAME) {
			n->st.tx_dropped++;
		} else {
			n->iov[0] = (struct iovec){ &hdr, HDR_LEN };
			int cnt = 1 + (int)iov_slice(n->chain.out, n->chain.nr_out, HDR_LEN, SIZE_MAX, n->iov + 1);
			if (writev(n->tap_fd, n->iov, cnt) < 0) {
				n->st.tx_dropped++; /* the tap is down or full: a lost packet, as on a wire */
			} else {
				n->st.tx_packets++;
				n->st.tx_bytes += len - HDR_LEN;
			}
		}
		virtq_push(&d->vqs[TX_Q], &n->chain, 0);
	}
	virtio_dev_used(d, TX_Q);
}

static void net_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_net *n = (struct virtio_net *)d;
	if (q == TX_Q)
		transmit(n);
	else
		receive(n);
}

static void on_tap(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;
	(void)events;
	pthread_mutex_lock(&n->dev.lock);
	if (virtio_dev_live(&n->dev) && n->dev.vqs[RX_Q].ready)
		receive(n);
	else
		watch_tap(n, false); /* nobody to give packets to until DRIVER_OK */
	pthread_mutex_unlock(&n->dev.lock);
}

static void net_driver_ok(struct virtio_dev *d)
{
	watch_tap((struct virtio_net *)d, true);
}

static void net_reset(struct virtio_dev *d)
{
	watch_tap((struct virtio_net *)d, false);
}

/* Restored into a running driver: packets may flow at once. */
static void net_restored(struct virtio_dev *d)
{
	watch_tap((struct virtio_net *)d, virtio_dev_live(d));
}

static void net_destroy(struct virtio_dev *d)
{
	struct virtio_net *n = (struct virtio_net *)d;
	if (n->tap_fd >= 0)
		close(n->tap_fd);
	virtio_dev_destroy_common(d);
	free(n);
}

static void net_print_stats(struct virtio_dev *d, FILE *out)
{
	struct net_stats n = virtio_net_stats(d);
	char mac[24];
	virtio_net_mac_str(d, mac, sizeof(mac));
	fprintf(out, "stats: %s mac=%s rx_packets=%llu rx_bytes=%llu tx_packets=%llu tx_bytes=%llu tx_dropped=%llu\n",
		d->name, mac, (unsigned long long)n.rx_packets, (unsigned long long)n.rx_bytes,
		(unsigned long long)n.tx_packets, (unsigned long long)n.tx_bytes, (unsigned long long)n.tx_dropped);
}

static const struct virtio_dev_ops net_ops = {
	.device_id = VIRTIO_ID_NET, .nr_queues = 2,
	.queue_notify = net_notify, .reset = net_reset, .driver_ok = net_driver_ok, .restored = net_restored,
	.destroy = net_destroy, .print_stats = net_print_stats,
};

static int open_tap(struct virtio_net *n, const char *ifname, char *err, size_t errlen)
{
	n->tap_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->tap_fd < 0) {
		snprintf(err, errlen, "--net tap=%s: /dev/net/tun: %s (modprobe tun?)", ifname, strerror(errno));
		return -errno;
	}
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(n->tap_fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		snprintf(err, errlen, "--net tap=%s: %s%s", ifname, strerror(e),
			 e == EPERM ? ": needs CAP_NET_ADMIN, or a tap created for this user (ip tuntap add NAME mode tap user USER)"
			 : e == EINVAL ? ": an interface of that name exists and is not a tap: pick another NAME" : "");
		return -e;
	}
	snprintf(n->ifname, sizeof(n->ifname), "%s", ifr.ifr_name);
	int hdr_len = HDR_LEN;
	if (ioctl(n->tap_fd, TUNSETVNETHDRSZ, &hdr_len) < 0 || ioctl(n->tap_fd, TUNSETOFFLOAD, 0) < 0) {
		snprintf(err, errlen, "--net tap=%s: setting up the tap's virtio-net header: %s", ifname, strerror(errno));
		return -errno;
	}
	return 0;
}

struct virtio_dev *virtio_net_create(const struct virtio_host *h, const char *ifname,
				     const uint8_t *mac, char *err, size_t errlen)
{
	err[0] = 0;
	struct virtio_net *n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n->tap_fd = -1;
	if (mac) {
		memcpy(n->cfg.mac, mac, 6);
	} else { /* 52:54:00 is where QEMU and friends put guests; locally administered */
		uint8_t r[3] = { 0 };
		if (getrandom(r, sizeof(r), 0) != sizeof(r))
			r[2] = (uint8_t)getpid();
		memcpy(n->cfg.mac, (uint8_t[]){ 0x52, 0x54, 0x00, r[0], r[1], r[2] }, 6);
	}
	n->cfg.status = VIRTIO_NET_S_LINK_UP;
	n->cfg.max_virtqueue_pairs = 1;
	char name[40];
	snprintf(name, sizeof(name), "virtio-net %s", ifname);
	uint64_t features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS);
	virtio_dev_init(&n->dev, &net_ops, h, name, features, &n->cfg, sizeof(n->cfg));
	int e = open_tap(n, ifname, err, errlen);
	if (!e && h->watch)
		e = h->watch(h->ctx, n->tap_fd, 0, on_tap, n); /* events on at DRIVER_OK */
	if (e) {
		if (!err[0])
			snprintf(err, errlen, "--net tap=%s: %s", ifname, strerror(-e));
		net_destroy(&n->dev);
		return NULL;
	}
	return &n->dev;
}

struct net_stats virtio_net_stats(struct virtio_dev *d)
{
	pthread_mutex_lock(&d->lock);
	struct net_stats s = ((struct virtio_net *)d)->st;
	pthread_mutex_unlock(&d->lock);
	return s;
}

void virtio_net_mac_str(struct virtio_dev *d, char *buf, size_t len)
{
	const uint8_t *m = ((struct virtio_net *)d)->cfg.mac;
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}
