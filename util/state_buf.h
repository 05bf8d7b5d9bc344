/* The record stream shared by snapshots and migration: records of (type, length,
 * payload), appended to a growing buffer or read back with every length checked against
 * what is left, so a truncated or corrupted stream is refused rather than overrun. */
#ifndef PAGODA_UTIL_STATE_BUF_H
#define PAGODA_UTIL_STATE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_buf {
	uint8_t *data;
	size_t len, cap;
	size_t pos;          /* reading */
	bool failed;         /* out of memory while writing */
};

struct state_rec {
	uint32_t type;
	uint32_t len;
	const uint8_t *payload;
};

void state_buf_init(struct state_buf *b);
void state_buf_free(struct state_buf *b);
/* Appends raw bytes, growing the buffer (failed set when memory runs out): the records'
 * writer, and any other writer of a byte stream built in memory (util/cpio.c). */
void state_buf_append(struct state_buf *b, const void *p, size_t l);
/* Appends a record; payload may be split over two parts (a header and a body). */
void state_put(struct state_buf *b, uint32_t type, const void *p1, size_t l1, const void *p2, size_t l2);
/* The next record: 1, 0 at the end, -EBADMSG when it runs past the end. */
int state_next(struct state_buf *b, struct state_rec *r);
uint32_t state_crc32(const uint8_t *p, size_t len, uint32_t crc);

#endif
