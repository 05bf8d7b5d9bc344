/* Each record of the migration stream, encoded and decoded once (mig_proto.h). A decoder
 * checks the length the record claims before it reads a byte of the payload; what the
 * values mean (an address inside RAM, a count within bounds) is checked by whoever acts
 * on them. */
#include "mig_proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mig_channel.h"
#include "../../util/le.h"

void mig_rec_encode(uint8_t out[MIG_REC_SIZE], uint32_t type, uint32_t len)
{
	put_le32(out, type);
	put_le32(out + 4, len);
}

struct mig_rec mig_rec_decode(const uint8_t in[MIG_REC_SIZE])
{
	return (struct mig_rec){ get_le32(in), get_le32(in + 4) };
}

int mig_recv_rec(struct mig_chan *ch, struct mig_rec *r)
{
	uint8_t b[MIG_REC_SIZE];
	int e = mig_recv(ch, b, sizeof(b));
	if (!e)
		*r = mig_rec_decode(b);
	return e;
}

/* A payload of exactly size bytes into b. */
static int recv_exact(struct mig_chan *ch, const struct mig_rec *r, uint8_t *b, uint32_t size)
{
	return r->len == size ? mig_recv(ch, b, size) : -EPROTO;
}

int mig_send_pages_hdr(struct mig_chan *ch, const struct mig_pages_hdr *h, uint64_t data_bytes)
{
	uint8_t b[MIG_REC_SIZE + MIG_PAGES_HDR_SIZE];
	mig_rec_encode(b, MIG_PAGES, (uint32_t)(MIG_PAGES_HDR_SIZE + data_bytes));
	put_le64(b + 8, h->gpa);
	put_le32(b + 16, h->count);
	put_le32(b + 20, h->zero);
	return mig_send(ch, b, sizeof(b));
}

int mig_recv_pages_hdr(struct mig_chan *ch, const struct mig_rec *r, struct mig_pages_hdr *h)
{
	uint8_t b[MIG_PAGES_HDR_SIZE];
	int e = r->len >= sizeof(b) ? mig_recv(ch, b, sizeof(b)) : -EPROTO;
	if (!e)
		*h = (struct mig_pages_hdr){ get_le64(b), get_le32(b + 8), get_le32(b + 12) };
	return e;
}

int mig_send_hint(struct mig_chan *ch, const struct mig_hint *h)
{
	uint8_t b[MIG_HINT_SIZE];
	put_le64(b, h->gpa);
	put_le64(b + 8, h->len);
	return mig_send_rec(ch, MIG_HINT, b, sizeof(b));
}

int mig_recv_hint(struct mig_chan *ch, const struct mig_rec *r, struct mig_hint *h)
{
	uint8_t b[MIG_HINT_SIZE];
	int e = recv_exact(ch, r, b, sizeof(b));
	if (!e)
		*h = (struct mig_hint){ get_le64(b), get_le64(b + 8) };
	return e;
}

bool mig_share_holds(const struct mig_share *sh, uint64_t first, uint64_t n)
{
	if (sh->count < 2)
		return true;
	uint64_t chunk = first / MIG_CHUNK_PAGES, last = (first + (n ? n - 1 : 0)) / MIG_CHUNK_PAGES;
	return chunk == last && chunk % sh->count == sh->index;
}

int mig_send_join(struct mig_chan *ch, uint32_t type, const struct mig_join *c)
{
	uint8_t b[MIG_CHANNELS_SIZE];
	put_le32(b, c->n);
	memcpy(b + 4, c->token, MIG_TOKEN_SIZE);
	return mig_send_rec(ch, type, b, sizeof(b));
}

int mig_recv_join(struct mig_chan *ch, const struct mig_rec *r, struct mig_join *c)
{
	uint8_t b[MIG_CHANNELS_SIZE];
	int e = recv_exact(ch, r, b, sizeof(b));
	if (!e) {
		c->n = get_le32(b);
		memcpy(c->token, b + 4, MIG_TOKEN_SIZE);
	}
	return e;
}

int mig_send_discards(struct mig_chan *ch, const struct mig_discard *d, uint32_t n)
{
	uint8_t b[MIG_DISCARD_BATCH * MIG_DISCARD_SIZE];
	if (!n || n > MIG_DISCARD_BATCH)
		return -EINVAL;
	for (uint32_t k = 0; k < n; k++) {
		put_le64(b + k * MIG_DISCARD_SIZE, d[k].gpa);
		put_le64(b + k * MIG_DISCARD_SIZE + 8, d[k].count);
	}
	return mig_send_rec(ch, MIG_DISCARD, b, (size_t)n * MIG_DISCARD_SIZE);
}

int mig_recv_discards(struct mig_chan *ch, const struct mig_rec *r, struct mig_discard *d, uint32_t *n)
{
	uint8_t b[MIG_DISCARD_BATCH * MIG_DISCARD_SIZE];
	if (!r->len || r->len % MIG_DISCARD_SIZE || r->len > sizeof(b))
		return -EPROTO;
	int e = mig_recv(ch, b, r->len);
	*n = e ? 0 : r->len / MIG_DISCARD_SIZE;
	for (uint32_t k = 0; k < *n; k++)
		d[k] = (struct mig_discard){ get_le64(b + k * MIG_DISCARD_SIZE), get_le64(b + k * MIG_DISCARD_SIZE + 8) };
	return e;
}

int mig_send_page_req(struct mig_chan *ch, const struct mig_page_req *q)
{
	uint8_t b[MIG_PAGE_REQ_SIZE] = { 0 };
	put_le64(b, q->gpa);
	put_le32(b + 8, q->pages); /* and 4 bytes of padding, zero */
	return mig_send_rec(ch, MIG_PAGE_REQ, b, sizeof(b));
}

int mig_recv_page_req(struct mig_chan *ch, const struct mig_rec *r, struct mig_page_req *q)
{
	uint8_t b[MIG_PAGE_REQ_SIZE];
	int e = recv_exact(ch, r, b, sizeof(b));
	if (!e)
		*q = (struct mig_page_req){ get_le64(b), get_le32(b + 8) };
	return e;
}

int mig_send_reply(struct mig_chan *ch, bool ok, const char *msg)
{
	uint8_t b[MIG_REPLY_SIZE] = { 0 };
	put_le32(b, ok);
	snprintf((char *)b + 4, MIG_REPLY_SIZE - 4, "%s", msg ? msg : "");
	return mig_send_rec(ch, MIG_REPLY, b, sizeof(b));
}

int mig_recv_reply(struct mig_chan *ch, const struct mig_rec *r, struct mig_reply *reply)
{
	uint8_t b[MIG_REPLY_SIZE];
	int e = recv_exact(ch, r, b, sizeof(b));
	*reply = (struct mig_reply){ .ok = e ? 0 : get_le32(b) };
	if (!e)
		memcpy(reply->msg, b + 4, sizeof(reply->msg) - 1); /* the peer's words, ended here */
	return e;
}

int mig_send_u32(struct mig_chan *ch, uint32_t type, uint32_t v)
{
	uint8_t b[4];
	put_le32(b, v);
	return mig_send_rec(ch, type, b, sizeof(b));
}

int mig_recv_u32(struct mig_chan *ch, const struct mig_rec *r, uint32_t *v)
{
	uint8_t b[4];
	int e = recv_exact(ch, r, b, sizeof(b));
	*v = e ? 0 : get_le32(b);
	return e;
}

void mig_greeting_encode(uint8_t out[MIG_GREETING_SIZE], const struct mig_greeting *g)
{
	put_le32(out, g->flags);
	put_le32(out + 4, g->version);
	memcpy(out + 8, g->nonce, MIG_NONCE_SIZE);
}

int mig_greeting_decode(const uint8_t *in, uint32_t len, struct mig_greeting *g)
{
	if (len == MIG_GREETING_V1_SIZE) { /* flags, nonce */
		*g = (struct mig_greeting){ .flags = get_le32(in), .version = 1 };
		memcpy(g->nonce, in + 4, MIG_NONCE_SIZE);
		return 0;
	}
	if (len != MIG_GREETING_SIZE)
		return -EPROTO;
	*g = (struct mig_greeting){ .flags = get_le32(in), .version = get_le32(in + 4) };
	memcpy(g->nonce, in + 8, MIG_NONCE_SIZE);
	return 0;
}
