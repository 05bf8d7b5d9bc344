/* Several connections for one migration (--migration-channels N; the records in
 * mig_proto.h): pass 0, which moves all of RAM, goes over N connections to the same
 * address at once, each sending and the receiver filling its own chunks of each memslot,
 * so that reading, zero-testing, the kernel's socket copies and the first touch of fresh
 * memory run on as many CPUs as there are channels. Every channel has its own greeting,
 * proofs of the key and running MAC: a channel is trusted exactly as the first one. The
 * passes after pass 0 and the stop go over the first channel alone; post-copy pushes
 * over the others while the first answers the destination's requests.
 *
 * This is the sender's half; the receiver's is in mig_receive.c. */
#ifndef PAGODA_VMM_MIG_CHANNELS_H
#define PAGODA_VMM_MIG_CHANNELS_H

#include <stdatomic.h>

#include "mig_channel.h"
#include "mig_proto.h"
#include "mig_stream.h"

struct mig_channels {
	unsigned int n;                          /* channels in all; 1: only the first */
	bool keep;                               /* open after pass 0: post-copy pushes on them */
	int fd0;                                 /* the first one's socket */
	struct mig_chan *ch[MIG_MAX_CHANNELS];   /* [1, n): the others, while open */
	atomic_int *fds;                         /* [1, n): each open one's socket, published
						  * for migration_abort (-1: none) */
};

/* Asks the receiver for n channels on the first one (ch0, after its HELLO was accepted)
 * and opens the other n - 1 to uri, each authenticated with key (NULL: none) and joined
 * by the token; the receiver's reply on ch0 follows (the caller reads it). n == 1 does
 * nothing. 0, or -errno with the reason in err. */
int mig_channels_open(struct mig_channels *c, unsigned int n, struct mig_chan *ch0, const char *uri,
		      const struct mig_key *key, atomic_int fds[MIG_MAX_CHANNELS], char *err, size_t errlen);
/* Pass 0 over every channel: st (on the first channel, counting into st->count) sends
 * its share, a thread per other channel its own, each of which then ends with
 * MIG_PASS_END 0 and its MAC and is closed unless c->keep; what they sent is added to
 * st->count. The first error of any channel, the others cut at once. */
int mig_channels_pass0(struct mig_channels *c, struct mig_stream *st);
/* Pure post-copy has no pass 0 to send, yet the receiver waits for one on every
 * channel: each other channel ends an empty one (the first's is the caller's). */
int mig_channels_empty_pass0(struct mig_channels *c);
/* Closes what is still open (at the migration's end, or after a failure). */
void mig_channels_close(struct mig_channels *c);

#endif
