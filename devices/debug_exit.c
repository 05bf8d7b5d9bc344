#include "debug_exit.h"

#include <stdio.h>
#include <string.h>

#include "power.h"

void debug_exit_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
	const struct power_sink *p = opaque;
	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	uint32_t v = 0;
	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	char why[64];
	if (offset == 1) {
		snprintf(why, sizeof(why), "guest reported status %u", v & 0xff);
		p->end(p->ctx, (int)(v & 0xff), why);
		return;
	}
	/* Exit codes are 8 bits; keep v's low 7 so (v << 1) | 1 stays what the guest meant
	 * for every v below 128. */
	int code = (int)(((v & 0x7f) << 1) | 1);
	snprintf(why, sizeof(why), "guest wrote %u to the debug-exit port", v);
	p->end(p->ctx, code, why);
}
