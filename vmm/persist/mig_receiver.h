/* Inside the migration receiver: what its stream parser (mig_receive.c) and the other
 * channels of pass 0 (mig_receive_channels.c) share. Not for other callers: the
 * receiver's API is migration.h. */
#ifndef PAGODA_VMM_MIG_RECEIVER_H
#define PAGODA_VMM_MIG_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine_state.h"
#include "mig_channel.h"
#include "mig_proto.h"
#include "migration.h"

/* Peers that may fail the handshake (a port scanner's connect-and-close, a health check,
 * a peer without the key) before the receiver gives up; each is dropped and the receiver
 * listens on, within --timeout. */
#define HANDSHAKE_TRIES 8
#define HANDSHAKE_TIMEOUT_S 10
#define STR_(x) #x
#define STR(x) STR_(x)

/* Which pages of guest RAM may hold data, one bit per 4K page and memslot: those resident
 * when the stream began and those a page record filled since. A zero-page record then
 * clears only those: reading every page to see whether it is zero would fault in all of
 * RAM (an idle 4 GiB guest's first pass is a million zero pages), and the sender may stop
 * its VM while the receiver still chews on them. */
struct filled_map {
	const struct guest_mem *mem;
	uint64_t **bits;
};

struct receiver {
	struct machine *m;
	struct mig_chan ch;
	struct state_buf st;
	struct filled_map filled;  /* the first channel's; the others share its bitmaps */
	struct populate_ahead *ahead;
	int lfd;                   /* the listening socket other channels connect to, or -1 */
	/* While pass 0 comes over several channels: this channel's chunks (count 0: any),
	 * and on the first channel the others, each on a thread of its own. */
	struct mig_share share;
	struct other_channel *others[MIG_MAX_CHANNELS];
	struct postcopy_dst *pc;   /* the source switched to post-copy */
	bool mac_ok;       /* the last record was the sender's MAC, and it matched */
	int log_fd;        /* --migration-log, or -1 */
	uint64_t t0_ns, pass_t0_ns, restore_ns;
	struct mig_pass pass; /* the pass being received */
	uint64_t bytes, passes;
	unsigned int channels;     /* pass 0 came over this many (MIG_CHANNELS), else 1 */
	char *err;
	size_t errlen;
};

/* MIG_REPLY ok or why not, and the MAC of all sent so far. */
int mig_rx_reply(struct mig_chan *ch, bool ok, const char *msg);
/* A MIG_PAGES record: its pages into guest RAM, only within r's share of pass 0. */
int mig_rx_pages(struct receiver *r, const struct mig_rec *rec);
/* A MIG_HINT record: checked, then given to the populate-ahead helpers. */
int mig_rx_hint(struct receiver *r, const struct mig_rec *rec);
/* The first connection on lfd whose handshake succeeds within timeout_s (0: no limit),
 * in ch; peers that fail it are dropped and said, HANDSHAKE_TRIES of them end it. While
 * it waits, anything on watch_fd (>= 0: the first channel, silent until all others
 * joined) ends the wait: the sender is gone. 0, or -errno with the reason in err. */
int mig_rx_accept(struct machine *m, int lfd, int watch_fd, double timeout_s, struct mig_chan *ch, char *err,
		  size_t errlen);

/* MIG_CHANNELS (mig_receive_channels.c): the other channels accepted and running. */
int mig_rx_channels(struct receiver *r, const struct mig_rec *rec);
/* Ends pass 0's split: waits for the other channels' pass 0. 0 when all ended whole,
 * their pages counted in r's pass; else the first one's error, said in r->err. The
 * channels stay open: post-copy pushes on them. */
int mig_rx_end_pass0(struct receiver *r);
/* Other channel k's connection (with its MAC's state), or NULL. */
struct mig_chan *mig_rx_other(struct receiver *r, unsigned int k);
/* At the stream's end: cuts what still runs, closes every other channel; when the
 * stream failed and r->err is empty, a channel's failure is the reason given. */
void mig_rx_close_others(struct receiver *r, bool failed);

#endif
