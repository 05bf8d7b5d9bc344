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
 * destination checks it before the pages reach the guest, which is already running. */
#ifndef PAGODA_VMM_MIG_PROTO_H
#define PAGODA_VMM_MIG_PROTO_H

#include <stdint.h>

#define MIG_BATCH 256                 /* pages per record at most */
#define MIG_HINT_MAX (64ull << 20)    /* bytes a hint may name */

struct mig_pages_hdr {
	uint64_t gpa;
	uint32_t count;
	uint32_t zero;                /* 1: count zero pages, no data follows */
};

struct mig_hint {
	uint64_t gpa, len;
};

/* MIG_DISCARD: 1 to MIG_DISCARD_BATCH of these, each count pages from gpa that the
 * destination holds stale. */
#define MIG_DISCARD_BATCH 1024
struct mig_discard {
	uint64_t gpa;
	uint64_t count;
};

/* MIG_PAGE_REQ: the destination waits for a page in [gpa, gpa + pages * 4K): the source
 * sends those of them it still owes, first. */
#define MIG_REQ_MAX_PAGES (1u << 18)  /* a 1 GiB page */
struct mig_page_req {
	uint64_t gpa;
	uint32_t pages;
	uint32_t pad;
};

struct mig_reply {
	uint32_t ok;
	char msg[252];
};

#endif
