/* The migration stream's records (vmm/persist/mig_proto.h): each one's bytes on the wire
 * are the documented little-endian layout, what is sent is what is received, and a
 * record whose length does not fit its type is refused before its payload is read. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../vmm/persist/mig_channel.h"
#include "../../vmm/persist/mig_proto.h"
#include "check.h"

static struct mig_chan tx, rx;

static void open_pair(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	tx = (struct mig_chan){ .fd = sv[0] };
	rx = (struct mig_chan){ .fd = sv[1] };
}

static void close_pair(void)
{
	close(tx.fd);
	close(rx.fd);
}

/* What tx sent, raw, n bytes. */
static void wire(uint8_t *out, size_t n)
{
	CHECK_EQ(mig_flush(&tx), 0);
	CHECK_EQ(recv(rx.fd, out, n, MSG_WAITALL), (ssize_t)n);
}

static const uint8_t pages_bytes[] = {
	0x01, 0x10, 0, 0, 0x10, 0x20, 0, 0,               /* MIG_PAGES, 16 + 8192 bytes */
	0x00, 0x30, 0x20, 0x10, 0x08, 0x07, 0x06, 0x05,   /* gpa 0x0506070810203000 */
	0x02, 0, 0, 0, 0, 0, 0, 0,                        /* 2 pages, not zero */
};

static void layouts(void)
{
	open_pair();
	struct mig_pages_hdr h = { 0x0506070810203000ull, 2, 0 };
	CHECK_EQ(mig_send_pages_hdr(&tx, &h, 2 * 4096), 0);
	uint8_t b[64];
	wire(b, sizeof(pages_bytes));
	CHECK(!memcmp(b, pages_bytes, sizeof(pages_bytes)));

	CHECK_EQ(mig_send_u32(&tx, MIG_PASS_END, 0x01020304), 0);
	wire(b, 12);
	static const uint8_t pass_end[] = { 0x02, 0x10, 0, 0, 4, 0, 0, 0, 0x04, 0x03, 0x02, 0x01 };
	CHECK(!memcmp(b, pass_end, sizeof(pass_end)));

	struct mig_page_req q = { 0x1000, 7 };
	CHECK_EQ(mig_send_page_req(&tx, &q), 0);
	wire(b, 24);
	static const uint8_t req[] = { 0x0c, 0x10, 0, 0, 16, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0 };
	CHECK(!memcmp(b, req, sizeof(req)));
	close_pair();
}

static void round_trips(void)
{
	open_pair();
	struct mig_rec r;
	struct mig_hint h = { 0x200000, 0x400000 }, h2;
	CHECK_EQ(mig_send_hint(&tx, &h), 0);
	struct mig_discard d[3] = { { 0x1000, 1 }, { 0x5000, 9 }, { 0xfffff000, 1ull << 40 } }, d2[MIG_DISCARD_BATCH];
	CHECK_EQ(mig_send_discards(&tx, d, 3), 0);
	CHECK_EQ(mig_send_reply(&tx, false, "the sender's RAM is 256 MiB, this VM's 512 MiB"), 0);
	CHECK_EQ(mig_flush(&tx), 0);

	CHECK(!mig_recv_rec(&rx, &r) && r.type == MIG_HINT);
	CHECK(!mig_recv_hint(&rx, &r, &h2) && h2.gpa == h.gpa && h2.len == h.len);
	uint32_t n = 0;
	CHECK(!mig_recv_rec(&rx, &r) && r.type == MIG_DISCARD && r.len == 3 * MIG_DISCARD_SIZE);
	CHECK(!mig_recv_discards(&rx, &r, d2, &n) && n == 3);
	CHECK(d2[2].gpa == d[2].gpa && d2[2].count == d[2].count && d2[1].count == 9);
	struct mig_reply rep;
	CHECK(!mig_recv_rec(&rx, &r) && r.type == MIG_REPLY);
	CHECK(!mig_recv_reply(&rx, &r, &rep) && !rep.ok);
	CHECK(!strcmp(rep.msg, "the sender's RAM is 256 MiB, this VM's 512 MiB"));
	close_pair();
}

/* Lengths that do not fit the type: refused, nothing of the payload taken. */
static void refusals(void)
{
	open_pair();
	struct mig_hint h;
	struct mig_page_req q;
	struct mig_pages_hdr ph;
	struct mig_discard d[MIG_DISCARD_BATCH];
	struct mig_reply rep;
	uint32_t n, v;
	CHECK_EQ(mig_recv_hint(&rx, &(struct mig_rec){ MIG_HINT, 15 }, &h), -EPROTO);
	CHECK_EQ(mig_recv_page_req(&rx, &(struct mig_rec){ MIG_PAGE_REQ, 24 }, &q), -EPROTO);
	CHECK_EQ(mig_recv_pages_hdr(&rx, &(struct mig_rec){ MIG_PAGES, 8 }, &ph), -EPROTO);
	CHECK_EQ(mig_recv_discards(&rx, &(struct mig_rec){ MIG_DISCARD, 0 }, d, &n), -EPROTO);
	CHECK_EQ(mig_recv_discards(&rx, &(struct mig_rec){ MIG_DISCARD, 17 }, d, &n), -EPROTO);
	CHECK_EQ(mig_recv_discards(&rx, &(struct mig_rec){ MIG_DISCARD, (MIG_DISCARD_BATCH + 1) * 16 }, d, &n), -EPROTO);
	CHECK_EQ(mig_recv_reply(&rx, &(struct mig_rec){ MIG_REPLY, 4096 }, &rep), -EPROTO);
	CHECK_EQ(mig_recv_u32(&rx, &(struct mig_rec){ MIG_PASS_END, 8 }, &v), -EPROTO);
	CHECK_EQ(mig_send_discards(&tx, d, 0), -EINVAL);
	/* Nothing was read: the first bytes sent now are the first received. */
	CHECK_EQ(mig_send_u32(&tx, MIG_POSTCOPY, 1), 0);
	struct mig_rec r;
	CHECK(!mig_flush(&tx) && !mig_recv_rec(&rx, &r) && r.type == MIG_POSTCOPY && r.len == 4);
	close_pair();
}

/* A reply's text ends inside the record, whatever the peer filled it with. */
static void reply_text_bounded(void)
{
	open_pair();
	uint8_t b[MIG_REPLY_SIZE];
	memset(b, 'x', sizeof(b));
	CHECK_EQ(mig_send_rec(&tx, MIG_REPLY, b, sizeof(b)), 0);
	CHECK_EQ(mig_flush(&tx), 0);
	struct mig_rec r;
	struct mig_reply rep;
	CHECK(!mig_recv_rec(&rx, &r) && !mig_recv_reply(&rx, &r, &rep));
	CHECK_EQ(strlen(rep.msg), sizeof(rep.msg) - 1);
	close_pair();
}

static void greetings(void)
{
	struct mig_greeting g = { .flags = MIG_GREET_KEY_REQUIRED, .version = MIG_PROTO_VERSION }, g2;
	memset(g.nonce, 0xab, sizeof(g.nonce));
	uint8_t b[MIG_GREETING_SIZE];
	mig_greeting_encode(b, &g);
	CHECK(b[0] == 1 && b[4] == MIG_PROTO_VERSION && b[8] == 0xab);
	CHECK(!mig_greeting_decode(b, sizeof(b), &g2) && g2.version == MIG_PROTO_VERSION && g2.flags == 1);
	/* pagoda before versions greeted with flags and a nonce: version 1. */
	CHECK(!mig_greeting_decode(b, MIG_GREETING_V1_SIZE, &g2) && g2.version == 1 && g2.flags == 1);
	CHECK_EQ(mig_greeting_decode(b, 39, &g2), -EPROTO);
}

static void joins(void)
{
	open_pair();
	struct mig_join j = { .n = 3 }, j2;
	for (unsigned int k = 0; k < MIG_TOKEN_SIZE; k++)
		j.token[k] = (uint8_t)(0xf0 + k);
	CHECK_EQ(mig_send_join(&tx, MIG_JOIN, &j), 0);
	uint8_t b[MIG_REC_SIZE + MIG_CHANNELS_SIZE];
	wire(b, sizeof(b));
	static const uint8_t head[] = { 0x0f, 0x10, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 0xf0, 0xf1 };
	CHECK(!memcmp(b, head, sizeof(head)) && b[sizeof(b) - 1] == 0xff);
	CHECK_EQ(mig_send_join(&tx, MIG_CHANNELS, &j), 0);
	CHECK_EQ(mig_flush(&tx), 0);
	struct mig_rec r;
	CHECK(!mig_recv_rec(&rx, &r) && r.type == MIG_CHANNELS);
	CHECK(!mig_recv_join(&rx, &r, &j2) && j2.n == 3 && !memcmp(j2.token, j.token, MIG_TOKEN_SIZE));
	CHECK_EQ(mig_recv_join(&rx, &(struct mig_rec){ MIG_JOIN, 21 }, &j2), -EPROTO);
	close_pair();
}

/* Pass 0's split: every chunk of a memslot is exactly one channel's, a record inside a
 * chunk belongs where its chunk does, one across a chunk's edge nowhere. */
static void shares(void)
{
	for (uint32_t n = 2; n <= MIG_MAX_CHANNELS; n++)
		for (uint64_t chunk = 0; chunk < 20; chunk++) {
			unsigned int owners = 0;
			for (uint32_t k = 0; k < n; k++) {
				struct mig_share sh = { k, n };
				bool whole = mig_share_holds(&sh, chunk * MIG_CHUNK_PAGES, MIG_CHUNK_PAGES);
				owners += whole;
				CHECK_EQ(mig_share_holds(&sh, chunk * MIG_CHUNK_PAGES + 7, 1), whole);
				CHECK(!mig_share_holds(&sh, chunk * MIG_CHUNK_PAGES + 500, 13));
			}
			CHECK_EQ(owners, 1);
		}
	struct mig_share all = { 0, 1 }, second = { 1, 2 };
	CHECK(mig_share_holds(&all, 500, 13));
	CHECK(mig_share_holds(&second, MIG_CHUNK_PAGES, 0));
	CHECK(!mig_share_holds(&second, 0, 1));
}

int main(void)
{
	joins();
	shares();
	layouts();
	round_trips();
	refusals();
	reply_text_bounded();
	greetings();
	return check_result("mig_proto");
}
