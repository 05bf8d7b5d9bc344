/* 9P2000.L on the wire (virtio/fs/p9_server.c): the message types, and the little-endian
 * fields of a guest's request and of its reply. Reading past the request's end marks it
 * bad and reads nothing; writing past the reply's room marks it full and writes nothing:
 * a handler checks once, after it has read or written everything. */
#ifndef PAGODA_VIRTIO_FS_P9_WIRE_H
#define PAGODA_VIRTIO_FS_P9_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "p9_server.h"

/* Message types (9P2000.L; a reply is its request + 1). */
enum {
	TLERROR = 6, TSTATFS = 8, TLOPEN = 12, TLCREATE = 14, TSYMLINK = 16, TMKNOD = 18,
	TRENAME = 20, TREADLINK = 22, TGETATTR = 24, TSETATTR = 26, TXATTRWALK = 30,
	TXATTRCREATE = 32, TREADDIR = 40, TFSYNC = 50, TLOCK = 52, TGETLOCK = 54, TLINK = 70,
	TMKDIR = 72, TRENAMEAT = 74, TUNLINKAT = 76, TVERSION = 100, TAUTH = 102, TATTACH = 104,
	TFLUSH = 108, TWALK = 110, TREAD = 116, TWRITE = 118, TCLUNK = 120, TREMOVE = 122,
};
#define NOFID 0xffffffffu
#define MAX_WALK 16
#define NAME_MAX_9P 255
#define QID_SIZE 13
#define RREAD_OVERHEAD (P9_HEADER + 4)

struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static inline const uint8_t *take(struct rd *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static inline uint64_t get(struct rd *r, size_t n)
{
	const uint8_t *p = take(r, n);
	uint64_t v = 0;
	for (size_t i = 0; p && i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline uint8_t get8(struct rd *r) { return (uint8_t)get(r, 1); }
static inline uint16_t get16(struct rd *r) { return (uint16_t)get(r, 2); }
static inline uint32_t get32(struct rd *r) { return (uint32_t)get(r, 4); }
static inline uint64_t get64(struct rd *r) { return get(r, 8); }

/* A string into out (NUL-terminated); too long for out, or holding a NUL: bad. */
static inline void get_str(struct rd *r, char *out, size_t max)
{
	uint16_t n = get16(r);
	const uint8_t *p = take(r, n);
	if (!p || n >= max || memchr(p, 0, n)) {
		r->bad = true;
		out[0] = 0;
		return;
	}
	memcpy(out, p, n);
	out[n] = 0;
}

struct wr {
	uint8_t *p;
	size_t room, off;
	bool full;
};

static inline void put(struct wr *w, uint64_t v, size_t n)
{
	if (w->full || n > w->room - w->off) {
		w->full = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		w->p[w->off++] = (uint8_t)(v >> (8 * i));
}

static inline void put8(struct wr *w, uint8_t v) { put(w, v, 1); }
static inline void put16(struct wr *w, uint16_t v) { put(w, v, 2); }
static inline void put32(struct wr *w, uint32_t v) { put(w, v, 4); }
static inline void put64(struct wr *w, uint64_t v) { put(w, v, 8); }

static inline void put_bytes(struct wr *w, const void *p, size_t n)
{
	if (w->full || n > w->room - w->off) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->off, p, n);
	w->off += n;
}

static inline void put_str(struct wr *w, const char *s)
{
	size_t n = strlen(s);
	put16(w, (uint16_t)n);
	put_bytes(w, s, n);
}

static inline uint8_t qid_type(mode_t m)
{
	return S_ISDIR(m) ? 0x80 : S_ISLNK(m) ? 0x02 : 0;
}

static inline void put_qid(struct wr *w, const struct stat *st)
{
	put8(w, qid_type(st->st_mode));
	put32(w, (uint32_t)st->st_mtim.tv_sec);
	put64(w, st->st_ino);
}

#endif
