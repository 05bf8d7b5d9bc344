/* The other channels of pass 0 on the receiving side (mig_channels.h has the sender's):
 * after MIG_CHANNELS the receiver accepts the other connections on its listening socket,
 * each with the full handshake and a join record that names this migration's token, and
 * runs each on a thread of its own that takes only page and hint records of its own
 * chunks; pass 0 is acknowledged once all of them ended whole. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_receiver.h"

struct other_channel {
	struct receiver r;
	pthread_t thread;
	bool running;              /* its pass 0 thread, until joined */
	int first_fd;              /* the first channel's socket: cut when this one fails */
	int e;
	char err[256];
};

/* How long the receiver waits for each other channel the sender asked for. */
#define OTHER_CHANNEL_WAIT_S 30

/* An other channel's records: its share of pass 0, then MIG_PASS_END 0 and, with a key,
 * the MAC of all it carried. */
static void *other_channel_thread(void *arg)
{
	struct other_channel *o = arg;
	struct receiver *r = &o->r;
	struct mig_rec rec;
	int e;
	while (!(e = mig_recv_rec(&r->ch, &rec)) && rec.type != MIG_PASS_END)
		if ((e = rec.type == MIG_PAGES ? mig_rx_pages(r, &rec) : rec.type == MIG_HINT ? mig_rx_hint(r, &rec) : -EPROTO))
			break;
	uint32_t pass = 1;
	if (!e && !(e = mig_recv_u32(&r->ch, &rec, &pass)))
		e = pass ? -EPROTO : mig_recv_mac_after(&r->ch);
	if (e == -EBADMSG)
		snprintf(o->err, sizeof(o->err), "altered on its way: its MAC does not match the key's");
	/* The sender's send on this channel fails at once, and the first channel's reader
	 * wakes up to end the stream (mig_rx_close_others then gives this reason). */
	if (e) {
		shutdown(o->r.ch.fd, SHUT_RDWR);
		shutdown(o->first_fd, SHUT_RD);
	}
	o->e = e;
	return NULL;
}

/* Channel k's failure as the migration's reason, in r->err. */
static void say_failure(struct receiver *r, unsigned int k, const struct other_channel *o)
{
	snprintf(r->err, r->errlen, "channel %u of %u: %s", k + 1, r->share.count,
		 o->err[0] ? o->err : o->e == -EPROTO ? "not a pagoda migration" : strerror(-o->e));
}

int mig_rx_end_pass0(struct receiver *r)
{
	int e = 0;
	for (unsigned int k = 1; k < MIG_MAX_CHANNELS; k++) {
		struct other_channel *o = r->others[k];
		if (!o || !o->running)
			continue;
		pthread_join(o->thread, NULL);
		o->running = false;
		if (o->e && !e) {
			e = o->e;
			say_failure(r, k, o);
		}
		mig_pass_add(&r->pass, &o->r.pass);
	}
	r->share = (struct mig_share){ 0, 0 };
	return e;
}

struct mig_chan *mig_rx_other(struct receiver *r, unsigned int k)
{
	return k < MIG_MAX_CHANNELS && r->others[k] ? &r->others[k]->r.ch : NULL;
}

void mig_rx_close_others(struct receiver *r, bool failed)
{
	for (unsigned int k = 1; k < MIG_MAX_CHANNELS; k++)
		if (r->others[k] && r->others[k]->running)
			shutdown(r->others[k]->r.ch.fd, SHUT_RDWR);
	for (unsigned int k = 1; k < MIG_MAX_CHANNELS; k++) {
		struct other_channel *o = r->others[k];
		if (!o)
			continue;
		if (o->running)
			pthread_join(o->thread, NULL);
		if (failed && o->e && !r->err[0])
			say_failure(r, k, o);
		close(o->r.ch.fd);
		free(o);
		r->others[k] = NULL;
	}
	r->share = (struct mig_share){ 0, 0 };
}

/* A connected peer's first record: MIG_JOIN with the migration's token and an index not
 * yet taken; the index in *k. */
static int recv_join(struct receiver *r, struct mig_chan *ch, const struct mig_join *want, unsigned int *k, char *why,
		     size_t len)
{
	struct mig_rec rec;
	struct mig_join j;
	int e = mig_recv_rec(ch, &rec);
	if (!e)
		e = rec.type == MIG_JOIN ? mig_recv_join(ch, &rec, &j) : -EPROTO;
	if (!e)
		e = mig_recv_mac_after(ch);
	if (e) {
		snprintf(why, len, "it sent no valid join record");
		return e;
	}
	if (sodium_memcmp(j.token, want->token, MIG_TOKEN_SIZE) || j.n < 1 || j.n >= want->n || r->others[j.n]) {
		snprintf(why, len, "it joined with another migration's token or a channel index taken or out of range (%u)",
			 j.n);
		return -EACCES;
	}
	*k = j.n;
	return 0;
}

/* The next other channel: a peer that passes the handshake and joins; peers that do not
 * are dropped (HANDSHAKE_TRIES of them end the migration). */
static int accept_other(struct receiver *r, const struct mig_join *want)
{
	for (unsigned int failed = 0; failed < HANDSHAKE_TRIES; failed++) {
		struct other_channel *o = calloc(1, sizeof(*o));
		char why[256] = "";
		int e = o ? mig_rx_accept(r->m, r->lfd, r->ch.fd, OTHER_CHANNEL_WAIT_S, &o->r.ch, why, sizeof(why)) : -ENOMEM;
		if (e) {
			free(o);
			snprintf(r->err, r->errlen, "waiting for the sender's other channels: %s", o ? why : strerror(-e));
			return e;
		}
		unsigned int k;
		if (!recv_join(r, &o->r.ch, want, &k, why, sizeof(why))) {
			struct receiver *x = &o->r;
			x->m = r->m;
			x->filled = r->filled; /* the same bitmaps: each channel sets its own chunks' words */
			x->ahead = r->ahead;
			x->lfd = x->log_fd = -1;
			x->share = (struct mig_share){ k, want->n };
			x->err = o->err;
			x->errlen = sizeof(o->err);
			o->first_fd = r->ch.fd;
			if ((e = -pthread_create(&o->thread, NULL, other_channel_thread, o))) {
				close(o->r.ch.fd);
				free(o);
				snprintf(r->err, r->errlen, "a thread for channel %u: %s", k + 1, strerror(-e));
				return e;
			}
			o->running = true;
			r->others[k] = o;
			return 0;
		}
		close(o->r.ch.fd);
		free(o);
		fprintf(stderr, "pagoda: incoming: a peer did not join this migration (%s): dropped\n", why);
	}
	snprintf(r->err, r->errlen, "%u peers in a row did not join this migration", HANDSHAKE_TRIES);
	return -EACCES;
}

/* MIG_CHANNELS: the sender spreads pass 0 over n connections; all must join before the
 * reply, and only before pass 0 began. */
int mig_rx_channels(struct receiver *r, const struct mig_rec *rec)
{
	struct mig_join want;
	int e = mig_recv_join(&r->ch, rec, &want);
	if (e)
		return e;
	const char *bad = r->lfd < 0 ? "this receiver takes one connection"
			  : r->share.count || r->passes || r->pass.bytes ? "asked for after pass 0 began"
			  : want.n < 2 || want.n > MIG_MAX_CHANNELS ? "give 2 to " STR(MIG_MAX_CHANNELS) : NULL;
	if (bad) {
		snprintf(r->err, r->errlen, "refused %u channels: %s", want.n, bad);
		mig_rx_reply(&r->ch, false, r->err);
		return -EPROTO;
	}
	r->share = (struct mig_share){ 0, want.n };
	r->channels = want.n;
	for (unsigned int joined = 1; joined < want.n && !e; joined++)
		e = accept_other(r, &want);
	if (e)
		mig_rx_reply(&r->ch, false, r->err);
	return e ? e : mig_rx_reply(&r->ch, true, NULL);
}
