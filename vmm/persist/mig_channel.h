/* The migration connection: sockets (unix:PATH, tcp:HOST:PORT), the record framing, and
 * with a shared key (--migration-key) mutual authentication before any state moves plus
 * an HMAC-SHA256 over each direction of the stream.
 *
 * The receiver speaks first: a greeting with a fresh nonce and whether it demands the
 * key. A keyed sender answers with its nonce and a proof (the MAC of the sender-to-
 * receiver direction as keyed for these two nonces); the receiver checks it before it
 * reads anything else, and proves itself the same way for the other direction. From then
 * on every byte each side sends goes into that direction's running MAC; a MIG_MAC record
 * carries the MAC of everything its sender sent before it (the sender sends one before
 * the end, the receiver one after each reply), so the VM starts only from a stream no
 * one altered, and the source believes only a real receiver's "done". Without a key on
 * both sides nothing is authenticated; a key on one side only is refused by the other. */
#ifndef PAGODA_VMM_MIG_CHANNEL_H
#define PAGODA_VMM_MIG_CHANNEL_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/machine_config.h"

struct mig_chan {
	int fd;
	bool keyed;
	crypto_auth_hmacsha256_state tx, rx;  /* the two directions' running MACs */
	size_t wlen;
	uint8_t wbuf[64 << 10];               /* sends not yet written (mig_flush) */
};

/* The key this machine's migrations use, NULL without --migration-key. */
static inline const struct mig_key *mig_key_of(const struct machine_config *c)
{
	return c->migration_keyed ? &c->migration_key : NULL;
}

/* listen: a bound listening socket; else a connected one. -errno, message in err. */
int mig_socket(const char *uri, bool listen_side, char *err, size_t errlen);
/* Timeouts, buffer sizes and TCP_NODELAY for a connection. 0, or -errno. */
int mig_tune_socket(int fd);
/* How long a send or receive may wait on the peer (0: the stream's usual 60 s). */
int mig_set_timeout(int fd, unsigned int seconds);

/* Sends are buffered: a receive, a MAC record or mig_flush writes them out. */
int mig_send(struct mig_chan *ch, const void *p, size_t len);
int mig_flush(struct mig_chan *ch);
int mig_recv(struct mig_chan *ch, void *p, size_t len);
int mig_send_rec(struct mig_chan *ch, uint32_t type, const void *p, size_t len);
/* The MIG_MAC record of everything sent so far (without a key: only the flush that ends
 * a message), and the check of the one received (its record header already read). */
int mig_send_mac(struct mig_chan *ch);
int mig_check_mac(struct mig_chan *ch, uint32_t len);
/* With a key, the MIG_MAC record that must follow a record just read, checked: call it
 * before the record has any effect. 0 without a key. */
int mig_recv_mac_after(struct mig_chan *ch);

/* The handshake of each side; key may be NULL (no authentication). -EACCES with the
 * reason in err when the peers do not share the key. */
int mig_auth_sender(struct mig_chan *ch, const struct mig_key *key, char *err, size_t errlen);
int mig_auth_receiver(struct mig_chan *ch, const struct mig_key *key, char *err, size_t errlen);

#endif
