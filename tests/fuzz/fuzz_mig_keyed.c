/* The keyed migration channel (--migration-key), both roles: the handshake with a peer
 * that sends anything, and, past a true handshake, MAC'd records of any type, length and
 * order, with good and bad MACs among them. The first byte picks the role and the peer:
 *   0: pagoda receives (migration_receive_fd, keyed), the peer holds the key
 *   1: pagoda receives, the peer sends raw bytes from the first one (the handshake)
 *   2: pagoda sends (mig_auth_sender, then the records a post-copy source reads, each
 *      acted on only after mig_recv_mac_after), the peer holds the key
 *   3: pagoda sends, the peer sends raw bytes
 * Nothing may crash, leak or hang; nothing but a MAC'd record may count. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../vmm/persist/mig_channel.h"
#include "../../vmm/persist/mig_proto.h"
#include "../../vmm/persist/postcopy.h"
#include "fuzz_machine.h"

static const struct mig_key key = { .bytes = "pagoda fuzz key, 32 bytes long.", .len = 32 };

struct peer {
	int fd, role;
	const uint8_t *data;
	size_t size;
};

static void send_raw(int fd, const uint8_t *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t k = send(fd, p + off, n - off, MSG_NOSIGNAL);
		if (k <= 0)
			return;
		off += (size_t)k;
	}
}

/* Ops over the rest of the input: a record (type, length, payload) MAC'd or not, a MAC
 * record, a flipped MAC, bytes with no framing. */
static void send_ops(struct mig_chan *ch, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i + 3 <= n;) {
		uint8_t op = d[i];
		size_t len = (size_t)(d[i + 1] | d[i + 2] << 8);
		i += 3;
		if (len > n - i)
			len = n - i;
		int e = 0;
		switch (op % 4) {
		case 0: e = mig_send_rec(ch, MIG_HELLO + (op >> 2) % 16, d + i, len); break;
		case 1: e = mig_send_mac(ch); len = 0; break;
		case 2: { /* a MAC record whose tag is not the stream's */
			uint8_t hdr[MIG_REC_SIZE], tag[32] = { op };
			mig_rec_encode(hdr, MIG_MAC, 32);
			e = mig_send(ch, hdr, sizeof(hdr));
			if (!e)
				e = mig_send(ch, tag, sizeof(tag));
			len = 0;
			break;
		}
		default: e = mig_send(ch, d + i, len); break;
		}
		if (e || mig_flush(ch))
			return;
		i += len;
	}
}

static struct mig_chan peer_ch;

static void *peer(void *arg)
{
	struct peer *p = arg;
	char err[256];
	if (p->role % 2) {
		send_raw(p->fd, p->data, p->size);
	} else {
		peer_ch = (struct mig_chan){ .fd = p->fd };
		int e = p->role == 0 ? mig_auth_sender(&peer_ch, &key, err, sizeof(err))
				     : mig_auth_receiver(&peer_ch, &key, err, sizeof(err));
		if (!e)
			send_ops(&peer_ch, p->data, p->size);
	}
	shutdown(p->fd, SHUT_WR);
	char sink[4096];
	while (recv(p->fd, sink, sizeof(sink), 0) > 0) {
		/* what pagoda answers */
	}
	return NULL;
}

/* What a keyed sender reads from its receiver (a post-copy source's loop): records whose
 * MAC must check before they count. Returns how many counted. */
static unsigned int sender_reads(int fd)
{
	static struct mig_chan ch;
	ch = (struct mig_chan){ .fd = fd };
	char err[256];
	if (mig_auth_sender(&ch, &key, err, sizeof(err)))
		return 0;
	static uint8_t body[1 << 16];
	unsigned int counted = 0;
	for (int n = 0; n < 4096; n++) {
		struct mig_rec r;
		if (mig_recv_rec(&ch, &r))
			break;
		int e = r.type == MIG_MAC ? mig_check_mac(&ch, r.len)
			: r.len <= sizeof(body) ? mig_recv(&ch, body, r.len) : -EPROTO;
		if (!e && r.type != MIG_MAC)
			e = mig_recv_mac_after(&ch);
		if (e)
			break;
		counted++;
	}
	return counted;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 0;
	struct machine *m = fake_machine();
	m->cfg.migration_keyed = true;
	m->cfg.migration_key = key;
	struct peer p = { sv[1], data[0] % 4, data + 1, size - 1 };
	pthread_t t;
	pthread_create(&t, NULL, peer, &p);
	if (p.role < 2) {
		char err[256];
		struct postcopy_dst *pc;
		migration_receive_fd(m, sv[0], -1, &pc, err, sizeof(err));
		postcopy_dst_abort(pc);
		postcopy_dst_finish(pc);
	} else {
		sender_reads(sv[0]);
	}
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
