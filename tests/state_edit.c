/* Crafts a hostile state file where there is no Python (the arm64 lab's busybox): changes
 * the first record of a type, then writes the END record's CRC again, as an attacker who
 * knows the format would, so the restore's own checks are what is tested.
 *
 *   state_edit FILE TYPE set OFFSET VALUE   the 8 bytes at payload OFFSET become VALUE
 *   state_edit FILE TYPE or OFFSET MASK     ... are ORed with MASK (one field of a register)
 *   state_edit FILE TYPE cut N              the payload loses its last N bytes
 *   state_edit FILE TYPE grow N             the payload gains N zero bytes (N < 4096)
 * TYPE, OFFSET, VALUE, N: numbers in C notation (0x281). Exit 0, or 1 with a message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/state_buf.h"
#include "../util/state_records.h"

static int fail(const char *what)
{
	fprintf(stderr, "state_edit: %s\n", what);
	return 1;
}

static int load(const char *path, struct state_buf *b)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	uint8_t chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		state_buf_append(b, chunk, n);
	fclose(f);
	return b->failed ? -ENOMEM : 0;
}

/* The records again, the one of `type` changed, and a new END with its CRC. */
static int rebuild(struct state_buf *in, struct state_buf *out, uint32_t type, const char *op, uint64_t a, uint64_t v)
{
	struct state_rec r;
	bool done = false;
	in->pos = 0;
	while (state_next(in, &r) > 0 && r.type != REC_END) {
		uint8_t *p = calloc(1, (size_t)r.len + 4096);
		if (!p)
			return fail("out of memory");
		memcpy(p, r.payload, r.len);
		uint32_t len = r.len;
		if (r.type == type && !done) {
			done = true;
			uint64_t old = 0;
			if (a + 8 <= r.len)
				memcpy(&old, p + a, 8);
			if (!strcmp(op, "set") && a + 8 <= r.len)
				memcpy(p + a, &v, 8);
			else if (!strcmp(op, "or") && a + 8 <= r.len)
				memcpy(p + a, &(uint64_t){ old | v }, 8);
			else if (!strcmp(op, "cut") && a <= r.len)
				len -= (uint32_t)a;
			else if (!strcmp(op, "grow") && a < 4096)
				len += (uint32_t)a;
			else
				done = false;
		}
		state_put(out, r.type, p, len, NULL, 0);
		free(p);
	}
	if (!done)
		return fail("no record of that type, or the change does not fit its payload");
	uint32_t crc = state_crc32(out->data, out->len, 0);
	state_put(out, REC_END, &crc, sizeof(crc), NULL, 0);
	return out->failed ? fail("out of memory") : 0;
}

int main(int argc, char **argv)
{
	bool set = argc == 6 && (!strcmp(argv[3], "set") || !strcmp(argv[3], "or"));
	bool cut = argc == 5 && (!strcmp(argv[3], "cut") || !strcmp(argv[3], "grow"));
	if (!set && !cut)
		return fail("usage: state_edit FILE TYPE set|or OFFSET VALUE | state_edit FILE TYPE cut|grow N");
	struct state_buf in, out;
	state_buf_init(&in);
	state_buf_init(&out);
	int e = load(argv[1], &in);
	if (e) {
		fprintf(stderr, "state_edit: %s: %s\n", argv[1], strerror(-e));
		return 1;
	}
	e = rebuild(&in, &out, (uint32_t)strtoul(argv[2], NULL, 0), argv[3], strtoull(argv[4], NULL, 0),
		    set ? strtoull(argv[5], NULL, 0) : 0);
	FILE *f = e ? NULL : fopen(argv[1], "wb");
	if (!e && !f)
		e = fail("cannot open the file for writing");
	if (f && (fwrite(out.data, 1, out.len, f) != out.len) + (fclose(f) != 0))
		e = fail("writing the file back failed");
	state_buf_free(&in);
	state_buf_free(&out);
	return e ? 1 : 0;
}
