#include "mig_channel.h"
#include "mig_proto.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define IO_TIMEOUT_S 60           /* a peer silent this long has gone */
#define NONCE MIG_NONCE_SIZE
#define TAG crypto_auth_hmacsha256_BYTES

/* ---- sockets ---- */

static int split_uri(const char *uri, char *host, size_t hlen, char *port, size_t plen)
{
	if (strncmp(uri, "tcp:", 4))
		return -1;
	const char *colon = strrchr(uri + 4, ':');
	if (!colon || colon == uri + 4 || !colon[1])
		return -1;
	snprintf(host, hlen, "%.*s", (int)(colon - (uri + 4)), uri + 4);
	snprintf(port, plen, "%s", colon + 1);
	return 0;
}

/* Timeouts; buffers big enough for a few page records in flight; and on TCP no Nagle:
 * the last small records of stop-and-copy would otherwise wait for an ACK inside the
 * downtime (measured: 30-40 ms on loopback). */
int mig_set_timeout(int fd, unsigned int seconds)
{
	struct timeval tv = { seconds ? seconds : IO_TIMEOUT_S, 0 };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno; /* without them a silent peer would hang the VMM */
	return 0;
}

int mig_tune_socket(int fd)
{
	int one = 1, buf = 4 << 20;
	int e = mig_set_timeout(fd, 0);
	if (e)
		return e;
	/* Only speed depends on these: a smaller buffer or Nagle (unix sockets have no
	 * TCP_NODELAY) still moves the VM. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* fd (or -1 when socket() failed) bound and listening, or connected, to sa. */
static int bind_or_connect(int fd, const struct sockaddr *sa, socklen_t len, bool listen_side,
			   const char *uri, char *err, size_t errlen)
{
	int r = fd < 0 ? -1 : listen_side ? (bind(fd, sa, len) || listen(fd, 1)) : connect(fd, sa, len);
	if (!r)
		return fd;
	int e = -errno;
	snprintf(err, errlen, "%s: %s", uri, strerror(errno));
	if (fd >= 0)
		close(fd);
	return e;
}

static int unix_socket(const char *uri, bool listen_side, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(uri + 5) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path too long", uri);
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uri + 5);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_side)
		unlink(sa.sun_path);
	return bind_or_connect(fd, (struct sockaddr *)&sa, sizeof(sa), listen_side, uri, err, errlen);
}

/* Binds exactly the address given (tcp:127.0.0.1:P listens on loopback only). */
int mig_socket(const char *uri, bool listen_side, char *err, size_t errlen)
{
	char host[200], port[32];
	if (!strncmp(uri, "unix:", 5) && uri[5])
		return unix_socket(uri, listen_side, err, errlen);
	if (split_uri(uri, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "'%s' is not a migration address: use unix:PATH or tcp:HOST:PORT", uri);
		return -EINVAL;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = listen_side ? AI_PASSIVE : 0 }, *ai;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g) {
		snprintf(err, errlen, "%s: %s", uri, gai_strerror(g));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol), one = 1;
	if (fd >= 0 && listen_side)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* a restart need not wait */
	fd = bind_or_connect(fd, ai->ai_addr, ai->ai_addrlen, listen_side, uri, err, errlen);
	freeaddrinfo(ai);
	return fd;
}

/* ---- framing ---- */

static int send_raw(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t k = send(fd, p, len, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EPIPE;
		p = (const uint8_t *)p + k;
		len -= (size_t)k;
	}
	return 0;
}

static int recv_raw(int fd, void *p, size_t len)
{
	while (len) {
		ssize_t k = recv(fd, p, len, MSG_WAITALL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -ECONNRESET;
		p = (uint8_t *)p + k;
		len -= (size_t)k;
	}
	return 0;
}

int mig_flush(struct mig_chan *ch)
{
	int e = ch->wlen ? send_raw(ch->fd, ch->wbuf, ch->wlen) : 0;
	ch->wlen = 0;
	return e;
}

/* Into the write buffer (the MAC, when asked, over the buffered copy: the source's guest
 * runs during pre-copy and may change a page between its MAC and its send, and the MAC
 * must be of the bytes sent). Small records coalesce: a pass of scattered single pages
 * was three system calls a page. */
static int append(struct mig_chan *ch, const void *p, size_t len, bool mac)
{
	while (len) {
		if (ch->wlen == sizeof(ch->wbuf)) {
			int e = mig_flush(ch);
			if (e)
				return e;
		}
		size_t n = sizeof(ch->wbuf) - ch->wlen < len ? sizeof(ch->wbuf) - ch->wlen : len;
		memcpy(ch->wbuf + ch->wlen, p, n);
		if (mac && ch->keyed)
			crypto_auth_hmacsha256_update(&ch->tx, ch->wbuf + ch->wlen, n);
		ch->wlen += n;
		p = (const uint8_t *)p + n;
		len -= n;
	}
	return 0;
}

/* Sends this long skip the write buffer when nothing needs a stable copy. */
#define DIRECT_MIN (sizeof(((struct mig_chan *)0)->wbuf) / 2)

int mig_send(struct mig_chan *ch, const void *p, size_t len)
{
	if (!ch->keyed && len >= DIRECT_MIN) {
		int e = mig_flush(ch);
		return e ? e : send_raw(ch->fd, p, len);
	}
	return append(ch, p, len, true);
}

int mig_recv(struct mig_chan *ch, void *p, size_t len)
{
	/* The peer may be waiting for what is buffered before it answers. */
	int e = mig_flush(ch);
	if (!e)
		e = recv_raw(ch->fd, p, len);
	if (!e && ch->keyed)
		crypto_auth_hmacsha256_update(&ch->rx, p, len);
	return e;
}

int mig_send_rec(struct mig_chan *ch, uint32_t type, const void *p, size_t len)
{
	uint8_t hdr[MIG_REC_SIZE];
	mig_rec_encode(hdr, type, (uint32_t)len);
	int e = mig_send(ch, hdr, sizeof(hdr));
	return e ? e : mig_send(ch, p, len);
}

/* The MAC of a direction so far, leaving it running. */
static void tag_of(const crypto_auth_hmacsha256_state *st, uint8_t tag[TAG])
{
	crypto_auth_hmacsha256_state copy = *st;
	crypto_auth_hmacsha256_final(&copy, tag);
}

/* The tag covers everything before it, the MIG_MAC record header included. */
int mig_send_mac(struct mig_chan *ch)
{
	if (!ch->keyed)
		return mig_flush(ch); /* the end of a message all the same */
	uint8_t hdr[MIG_REC_SIZE], tag[TAG];
	mig_rec_encode(hdr, MIG_MAC, TAG);
	int e = mig_send(ch, hdr, sizeof(hdr));
	tag_of(&ch->tx, tag);
	if (!e)
		e = append(ch, tag, TAG, false);
	/* A MAC ends a message: the peer checks it before it answers. */
	return e ? e : mig_flush(ch);
}

int mig_check_mac(struct mig_chan *ch, uint32_t len)
{
	uint8_t want[TAG], got[TAG];
	if (!ch->keyed || len != TAG)
		return -EPROTO;
	tag_of(&ch->rx, want);
	int e = mig_flush(ch);
	if (!e)
		e = recv_raw(ch->fd, got, TAG);
	return e ? e : sodium_memcmp(want, got, TAG) ? -EBADMSG : 0;
}

int mig_recv_mac_after(struct mig_chan *ch)
{
	if (!ch->keyed)
		return 0;
	struct mig_rec r;
	int e = mig_recv_rec(ch, &r);
	return e ? e : r.type == MIG_MAC ? mig_check_mac(ch, r.len) : -EPROTO;
}

/* ---- authentication ---- */

/* Each direction's MAC starts keyed and bound to this session's two nonces. */
static void keyed_direction(crypto_auth_hmacsha256_state *st, const struct mig_key *key, const char *label,
			    const uint8_t *nonce_r, const uint8_t *nonce_s)
{
	crypto_auth_hmacsha256_init(st, key->bytes, key->len);
	crypto_auth_hmacsha256_update(st, (const uint8_t *)label, strlen(label));
	crypto_auth_hmacsha256_update(st, nonce_r, NONCE);
	crypto_auth_hmacsha256_update(st, nonce_s, NONCE);
}

static void start_session(struct mig_chan *ch, const struct mig_key *key, bool sender,
			  const uint8_t *nonce_r, const uint8_t *nonce_s)
{
	keyed_direction(sender ? &ch->tx : &ch->rx, key, "pagoda migration v1: sender to receiver", nonce_r, nonce_s);
	keyed_direction(sender ? &ch->rx : &ch->tx, key, "pagoda migration v1: receiver to sender", nonce_r, nonce_s);
	ch->keyed = true;
}

/* A record of the given type, outside any MAC, of len bytes (or of min_len to len bytes:
 * its length in *got). */
static int recv_outside(struct mig_chan *ch, uint32_t type, void *p, uint32_t min_len, uint32_t len, uint32_t *got)
{
	uint8_t hdr[MIG_REC_SIZE] = { 0 };
	int e = mig_flush(ch);
	if (!e)
		e = recv_raw(ch->fd, hdr, sizeof(hdr));
	struct mig_rec r = mig_rec_decode(hdr);
	if (!e && (r.type != type || r.len < min_len || r.len > len))
		e = -EPROTO;
	if (got)
		*got = r.len;
	return e ? e : recv_raw(ch->fd, p, r.len);
}

static int recv_fixed(struct mig_chan *ch, uint32_t type, void *p, uint32_t len)
{
	return recv_outside(ch, type, p, len, len, NULL);
}

static int send_fixed(struct mig_chan *ch, uint32_t type, const void *p, uint32_t len)
{
	uint8_t hdr[MIG_REC_SIZE];
	mig_rec_encode(hdr, type, len);
	int e = mig_flush(ch);
	if (!e)
		e = send_raw(ch->fd, hdr, sizeof(hdr));
	return e ? e : send_raw(ch->fd, p, len);
}

int mig_auth_sender(struct mig_chan *ch, const struct mig_key *key, char *err, size_t errlen)
{
	struct mig_greeting greet;
	uint8_t words[MIG_GREETING_SIZE];
	uint32_t len = 0;
	if (sodium_init() < 0) { /* once per process; later calls return at once */
		snprintf(err, errlen, "libsodium could not start");
		return -EIO;
	}
	int e = recv_outside(ch, MIG_GREETING, words, MIG_GREETING_V1_SIZE, MIG_GREETING_SIZE, &len);
	if (!e)
		e = mig_greeting_decode(words, len, &greet);
	if (e) {
		snprintf(err, errlen, "no greeting from the receiver (not a pagoda receiver, or an older one)");
		return e;
	}
	if (greet.version != MIG_PROTO_VERSION) {
		snprintf(err, errlen, "the receiver speaks migration protocol %u and this pagoda %u: run the same pagoda "
			 "release on both sides", greet.version, MIG_PROTO_VERSION);
		return -EPROTO;
	}
	bool wants = greet.flags & MIG_GREET_KEY_REQUIRED;
	if (wants != (key != NULL)) {
		snprintf(err, errlen, wants ? "the receiver demands the migration key: start this VM with --migration-key FILE"
				    : "the receiver has no migration key: refusing to send this VM's memory to an unauthenticated peer (give the receiver --migration-key)");
		return -EACCES;
	}
	if (!key)
		return 0;
	struct { uint8_t nonce[NONCE], proof[TAG]; } auth;
	randombytes_buf(auth.nonce, NONCE);
	start_session(ch, key, true, greet.nonce, auth.nonce);
	tag_of(&ch->tx, auth.proof);
	e = send_fixed(ch, MIG_AUTH, &auth, sizeof(auth));
	uint8_t proof[TAG], want[TAG];
	if (!e)
		e = recv_fixed(ch, MIG_AUTH, proof, TAG);
	tag_of(&ch->rx, want);
	if (e || sodium_memcmp(proof, want, TAG)) {
		snprintf(err, errlen, "the receiver did not prove it holds the migration key (another key, or not the receiver you meant)");
		return -EACCES;
	}
	return 0;
}

int mig_auth_receiver(struct mig_chan *ch, const struct mig_key *key, char *err, size_t errlen)
{
	struct mig_greeting greet = { .flags = key ? MIG_GREET_KEY_REQUIRED : 0, .version = MIG_PROTO_VERSION };
	uint8_t words[MIG_GREETING_SIZE];
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium could not start");
		return -EIO;
	}
	randombytes_buf(greet.nonce, NONCE);
	mig_greeting_encode(words, &greet);
	int e = send_fixed(ch, MIG_GREETING, words, sizeof(words));
	if (e || !key)
		return e;
	struct { uint8_t nonce[NONCE], proof[TAG]; } auth;
	uint8_t want[TAG];
	e = recv_fixed(ch, MIG_AUTH, &auth, sizeof(auth));
	if (!e) {
		start_session(ch, key, false, greet.nonce, auth.nonce);
		tag_of(&ch->rx, want);
	}
	if (e || sodium_memcmp(auth.proof, want, TAG)) {
		snprintf(err, errlen, "the sender did not prove it holds the migration key: refused before reading any state");
		return -EACCES;
	}
	tag_of(&ch->tx, want);
	return send_fixed(ch, MIG_AUTH, want, TAG);
}
