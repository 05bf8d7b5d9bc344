/* The records of a migration stream above the channel's framing (mig_channel.h): what a
 * page record and a reply carry, shared by the sender (migration.c) and the receiver
 * (mig_receive.c).
 *
 *   sender                                  receiver
 *   MIG_HELLO (state header)          ->
 *                                     <-    MIG_REPLY ok or why not
 *   MIG_HINT, MIG_PAGES..., MIG_PASS_END n -> (pages written in place; a hint names a
 *                                           range that will come with data: helpers
 *                                           fault it in ahead of the stream)
 *                                     <-    MIG_PASS_END n once all of pass n is in place
 *   ... more passes; the VM paused; the last pages and their MIG_PASS_END ...
 *   MIG_STATE, MIG_MAC, MIG_END       ->
 *                                     <-    MIG_REPLY restored or why not
 * The pass acknowledgement keeps the receiver's backlog out of the downtime: the source
 * stops its VM only when the destination holds everything sent so far.
 *
 * Several channels (--migration-channels N, mig_channels.h) spread pass 0 over N
 * connections to the same address:
 *   MIG_CHANNELS n, token             ->    (the receiver accepts n - 1 more connections)
 *     on each new connection, after its own greeting and proofs of the key:
 *     MIG_JOIN index, token [MIG_MAC] ->    (1 <= index < n, each once, the same token)
 *                                     <-    MIG_REPLY ok (all n connected) or why not
 *   pass 0: chunk c of each memslot (MIG_CHUNK_PAGES pages) only on channel c % n; each
 *   other channel ends it with MIG_PASS_END 0 and, with a key, its own MIG_MAC; the
 *   receiver acknowledges pass 0 on channel 0 once every channel has ended whole. Pure
 *   post-copy sends an empty pass 0 (just the ends) when it has several channels.
 *   Later passes and the stop go over channel 0 alone; pre-copy then closes the others.
 *   Post-copy pushes on the others (page records, each with its MAC, then
 *   MIG_POSTCOPY_DONE [MIG_MAC] on each) while channel 0 carries the requests, their
 *   answers and the last MIG_POSTCOPY_DONE, sent once every other channel's is.
 *
 * Post-copy (postcopy.h) continues differently once the VM is paused:
 *   MIG_POSTCOPY, MIG_DISCARD...      ->    (missing pages registered with userfaultfd;
 *                                           a discarded page is dropped: dirtied since)
 *   MIG_STATE, MIG_MAC, MIG_END       ->
 *                                     <-    MIG_REPLY; the destination's guest runs
 *   MIG_PAGES [MIG_MAC]...            ->    pushed in order, or asked for first:
 *                                     <-    MIG_PAGE_REQ gpa, pages (a vCPU or
 *                                           device waits; pages: a huge page's worth
 *                                           when the destination maps whole ones)
 *   MIG_POSTCOPY_DONE [MIG_MAC]       ->
 *                                     <-    MIG_POSTCOPY_DONE [MIG_MAC] all in place
 * With a key every page record is followed by the MAC of the stream so far and the
 * destination checks it before the pages reach the guest, which is already running.
 *
 * On the wire every record is its type and payload length (two little-endian u32) and
 * the payload; every field below is little-endian too, whatever the host's order, and
 * each record is encoded and decoded only here (mig_proto.c). The receiver's greeting
 * says which version of this protocol it speaks (MIG_PROTO_VERSION); a sender refuses
 * a receiver of another version, naming both. */
#ifndef PAGODA_VMM_MIG_PROTO_H
#define PAGODA_VMM_MIG_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 1: the streams of pagoda before the greeting said its version (a 36-byte greeting).
 * 2: the same records, said to be little-endian; the greeting carries the version.
 * 3: MIG_CHANNELS and MIG_JOIN (several connections). */
#define MIG_PROTO_VERSION 3

enum { MIG_HELLO = 0x1000, MIG_PAGES, MIG_PASS_END, MIG_STATE, MIG_END, MIG_REPLY,
       MIG_GREETING, MIG_AUTH, MIG_MAC, MIG_HINT,
       MIG_POSTCOPY, MIG_DISCARD, MIG_PAGE_REQ, MIG_POSTCOPY_DONE, MIG_CHANNELS, MIG_JOIN };

#define MIG_BATCH 256                 /* pages per record at most */
/* Pages of a memslot that a pass takes from the dirty log and reads together, and the
 * unit pass 0 is spread over channels in: 2 MiB, a THP or a 2M page whole. Records never
 * cross a chunk's edge in a pass. */
#define MIG_CHUNK_PAGES 512
/* Which part of pass 0 a channel carries: chunk c of each memslot when c % count == index
 * (count 0 or 1: all of it). */
struct mig_share {
	uint32_t index, count;
};
/* Whether pages [first, first + n) of a memslot lie in one chunk, and it is sh's. */
bool mig_share_holds(const struct mig_share *sh, uint64_t first, uint64_t n);
#define MIG_HINT_MAX (64ull << 20)    /* bytes a hint may name */

struct mig_chan;

/* Every record begins with these. */
#define MIG_REC_SIZE 8
struct mig_rec {
	uint32_t type, len;           /* len: the payload's bytes */
};
void mig_rec_encode(uint8_t out[MIG_REC_SIZE], uint32_t type, uint32_t len);
struct mig_rec mig_rec_decode(const uint8_t in[MIG_REC_SIZE]);
/* The next record's header (mig_recv: inside the MAC). */
int mig_recv_rec(struct mig_chan *ch, struct mig_rec *r);

/* MIG_PAGES: this, then count pages of data unless zero. */
#define MIG_PAGES_HDR_SIZE 16
struct mig_pages_hdr {
	uint64_t gpa;
	uint32_t count;
	uint32_t zero;                /* 1: count zero pages, no data follows */
};
/* The record's header and the pages header; the data (data_bytes) is the caller's. */
int mig_send_pages_hdr(struct mig_chan *ch, const struct mig_pages_hdr *h, uint64_t data_bytes);
/* -EPROTO when the record cannot hold one. */
int mig_recv_pages_hdr(struct mig_chan *ch, const struct mig_rec *r, struct mig_pages_hdr *h);

/* MIG_HINT */
#define MIG_HINT_SIZE 16
struct mig_hint {
	uint64_t gpa, len;
};
int mig_send_hint(struct mig_chan *ch, const struct mig_hint *h);
int mig_recv_hint(struct mig_chan *ch, const struct mig_rec *r, struct mig_hint *h);

/* MIG_DISCARD: 1 to MIG_DISCARD_BATCH of these, each count pages from gpa that the
 * destination holds stale. */
#define MIG_DISCARD_BATCH 1024
#define MIG_DISCARD_SIZE 16
struct mig_discard {
	uint64_t gpa;
	uint64_t count;
};
int mig_send_discards(struct mig_chan *ch, const struct mig_discard *d, uint32_t n);
/* Into d (MIG_DISCARD_BATCH of them), their number in *n. */
int mig_recv_discards(struct mig_chan *ch, const struct mig_rec *r, struct mig_discard *d, uint32_t *n);

/* MIG_PAGE_REQ: the destination waits for a page in [gpa, gpa + pages * 4K): the source
 * sends those of them it still owes, first. */
#define MIG_REQ_MAX_PAGES (1u << 18)  /* a 1 GiB page */
#define MIG_PAGE_REQ_SIZE 16
struct mig_page_req {
	uint64_t gpa;
	uint32_t pages;
};
int mig_send_page_req(struct mig_chan *ch, const struct mig_page_req *q);
int mig_recv_page_req(struct mig_chan *ch, const struct mig_rec *r, struct mig_page_req *q);

/* MIG_REPLY: ok, and why not (a string, cut to fit). */
#define MIG_REPLY_SIZE 256
struct mig_reply {
	uint32_t ok;
	char msg[252];                /* always ends with a NUL once received */
};
int mig_send_reply(struct mig_chan *ch, bool ok, const char *msg);
int mig_recv_reply(struct mig_chan *ch, const struct mig_rec *r, struct mig_reply *reply);

/* A record whose payload is one u32: MIG_PASS_END (the pass), MIG_POSTCOPY (1: every
 * page is missing). */
int mig_send_u32(struct mig_chan *ch, uint32_t type, uint32_t v);
int mig_recv_u32(struct mig_chan *ch, const struct mig_rec *r, uint32_t *v);

/* MIG_CHANNELS (on channel 0) and MIG_JOIN (first on each other channel): how many
 * connections, which one this is, and the token that ties them to one migration. */
#define MIG_MAX_CHANNELS 8
#define MIG_TOKEN_SIZE 16
#define MIG_CHANNELS_SIZE 20
struct mig_join {
	uint32_t n;                   /* MIG_CHANNELS: the count; MIG_JOIN: this one's index */
	uint8_t token[MIG_TOKEN_SIZE];
};
int mig_send_join(struct mig_chan *ch, uint32_t type, const struct mig_join *c);
int mig_recv_join(struct mig_chan *ch, const struct mig_rec *r, struct mig_join *c);

/* MIG_GREETING, the receiver's first words, outside any MAC. Version 1's had no version
 * (MIG_GREETING_V1_SIZE bytes): told by its size. */
#define MIG_NONCE_SIZE 32
#define MIG_GREETING_SIZE 40
#define MIG_GREETING_V1_SIZE 36
#define MIG_GREET_KEY_REQUIRED 1u
struct mig_greeting {
	uint32_t flags;
	uint32_t version;
	uint8_t nonce[MIG_NONCE_SIZE];
};
void mig_greeting_encode(uint8_t out[MIG_GREETING_SIZE], const struct mig_greeting *g);
/* From len bytes (a version 1 greeting gives version 1). -EPROTO for any other size. */
int mig_greeting_decode(const uint8_t *in, uint32_t len, struct mig_greeting *g);

#endif
