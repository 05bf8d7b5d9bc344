#include "state_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void state_buf_init(struct state_buf *b)
{
	*b = (struct state_buf){ 0 };
}

void state_buf_free(struct state_buf *b)
{
	free(b->data);
	*b = (struct state_buf){ 0 };
}

void state_buf_append(struct state_buf *b, const void *p, size_t l)
{
	if (b->failed || !l)
		return;
	if (b->len + l > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + l)
			cap *= 2;
		uint8_t *d = realloc(b->data, cap);
		if (!d) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, l);
	b->len += l;
}

void state_put(struct state_buf *b, uint32_t type, const void *p1, size_t l1, const void *p2, size_t l2)
{
	uint32_t hdr[2] = { type, (uint32_t)(l1 + l2) };
	state_buf_append(b, hdr, sizeof(hdr));
	state_buf_append(b, p1, l1);
	state_buf_append(b, p2, l2);
}

int state_next(struct state_buf *b, struct state_rec *r)
{
	if (b->pos == b->len)
		return 0;
	uint32_t hdr[2];
	if (b->len - b->pos < sizeof(hdr))
		return -EBADMSG;
	memcpy(hdr, b->data + b->pos, sizeof(hdr));
	if (hdr[1] > b->len - b->pos - sizeof(hdr))
		return -EBADMSG;
	*r = (struct state_rec){ hdr[0], hdr[1], b->data + b->pos + sizeof(hdr) };
	b->pos += sizeof(hdr) + hdr[1];
	return 1;
}

uint32_t state_crc32(const uint8_t *p, size_t len, uint32_t crc)
{
	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}
